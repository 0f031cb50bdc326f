//! End to end: topic permissions from the file source and from the OpenAPI source (the local
//! emulator, a real HTTP server), asked with `mqid check --publish/--subscribe` run as a real
//! process, and written by `mqid sync --permissions-out`. The expected answers are the contract's
//! rules (README "Topic permissions") applied by hand to the rules below.

mod common;

use std::path::Path;
use std::process::Output;

use common::cloud::Cloud;
use common::*;

const AK_ID: &str = "LTAI5tPermE2eKeyId";
const AK_SECRET: &str = "perm-e2e-access-key-secret";

const IDENTITIES: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"fleet","Secret":"dev9-secret","IdentityType":"CLIENT","ClientId":"dev-9","SignMode":"ORIGIN"}
]"#;

/// USER rules for username "fleet", CLIENT rules for client id "dev-9".
const RULES: &str = r##"[
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/+/up","PermitAction":"PUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/7/up","PermitAction":"PUB","Effect":"DENY"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"#","PermitAction":"SUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/secret","PermitAction":"SUB","Effect":"DENY"},
  {"Identity":"dev-9","IdentityType":"CLIENT","Topic":"dev/9/#","PermitAction":"PUB_SUB","Effect":"ALLOW"}
]"##;

/// What `mqid check` must answer for [`RULES`] with `no_match = "deny"`: (username, client id,
/// --publish or --subscribe, topic, exit code, text the line must hold).
const CASES: &[(&str, &str, &str, &str, i32, &str)] = &[
    (
        "fleet",
        "dev-1",
        "--publish",
        "fleet/1/up",
        0,
        r#"ALLOW PUB on "fleet/+/up" for USER "fleet""#,
    ),
    (
        "fleet",
        "dev-1",
        "--publish",
        "fleet/7/up",
        1,
        r#"DENY PUB on "fleet/7/up" for USER "fleet""#,
    ),
    // The CLIENT rules of dev-9 do not apply to dev-1 ...
    (
        "fleet",
        "dev-1",
        "--publish",
        "dev/9/x",
        1,
        "no applicable rule matches it",
    ),
    // ... they apply to dev-9 together with the USER rules of its username ...
    (
        "fleet",
        "dev-9",
        "--publish",
        "dev/9/x",
        0,
        r#"ALLOW PUB_SUB on "dev/9/#" for CLIENT "dev-9""#,
    ),
    (
        "fleet",
        "dev-9",
        "--publish",
        "fleet/2/up",
        0,
        r#"for USER "fleet""#,
    ),
    // ... and whatever the username (no identity needs to admit it for a topic question).
    (
        "other",
        "dev-9",
        "--subscribe",
        "dev/9/+",
        0,
        r#"for CLIENT "dev-9""#,
    ),
    (
        "other",
        "dev-1",
        "--subscribe",
        "dev/9/+",
        1,
        "no applicable rule covers it",
    ),
    // SUBSCRIBE: an ALLOW rule must cover the filter; a DENY rule covering it refuses.
    (
        "fleet",
        "dev-1",
        "--subscribe",
        "#",
        0,
        r##"ALLOW SUB on "#" for USER "fleet""##,
    ),
    (
        "fleet",
        "dev-1",
        "--subscribe",
        "fleet/secret",
        1,
        r#"DENY SUB on "fleet/secret""#,
    ),
    (
        "fleet",
        "dev-1",
        "--subscribe",
        "$share/g/fleet/secret",
        1,
        r#"DENY SUB on "fleet/secret""#,
    ),
    (
        "fleet",
        "dev-1",
        "--subscribe",
        "$share/g/fleet/+",
        0,
        r##"ALLOW SUB on "#""##,
    ),
    // A filter starting with a wildcard never matches a `$` topic.
    (
        "fleet",
        "dev-1",
        "--subscribe",
        "$SYS/#",
        1,
        "no applicable rule covers it",
    ),
    // Not a topic name.
    (
        "fleet",
        "dev-1",
        "--publish",
        "fleet/+/up",
        1,
        "not a valid MQTT topic name",
    ),
];

/// `mqid check` as a process, without a password anywhere (not even in the environment).
fn check(config: &Path, user: &str, client: &str, flag: &str, topic: &str) -> Output {
    mqid()
        .arg("check")
        .arg("--config")
        .arg(config)
        .args(["--username", user, "--client-id", client, flag, topic])
        .env_remove("MQID_PASSWORD")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET)
        .output()
        .unwrap()
}

/// Runs every case of [`CASES`] against `config`; `origin` is part of every line.
fn assert_cases(config: &Path, origin: &str) {
    for &(user, client, flag, topic, code, text) in CASES {
        let o = check(config, user, client, flag, topic);
        let line = stdout(&o);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{user}/{client} {flag} {topic}: {line}{}",
            stderr(&o)
        );
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        let verdict = if code == 0 { "allowed: " } else { "refused: " };
        assert!(line.starts_with(verdict), "{flag} {topic}: {line}");
        assert!(
            line.contains(text),
            "{flag} {topic}: want {text:?} in {line}"
        );
        assert!(line.contains(origin), "{line}");
    }
}

#[test]
fn file_source_answers_topic_questions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).unwrap();
    std::fs::write(dir.path().join("rules.json"), RULES).unwrap();
    let config = write_config(
        dir.path(),
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\npermissions = \"rules.json\"\n",
    );
    assert_cases(&config, "identities.json");

    // The password check is still there, and a topic question needs no password.
    let o = mqid()
        .args(["check", "--config"])
        .arg(&config)
        .args(["--username", "fleet", "--client-id", "dev-1"])
        .env_remove("MQID_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("--password"), "{}", stderr(&o));
    let o = mqid()
        .args(["check", "--config"])
        .arg(&config)
        .args(["--username", "fleet", "--client-id", "dev-1"])
        .env("MQID_PASSWORD", "fleet-secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("admitted by USER \"fleet\""));

    // no_match = "allow": a topic no rule matches is allowed, and the line says why.
    let config = write_config(
        dir.path(),
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n\
         [auth.permissions]\nfile = \"rules.json\"\nno_match = \"allow\"\n",
    );
    let o = check(&config, "fleet", "dev-1", "--publish", "dev/9/x");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("(no_match = \"allow\")"),
        "{}",
        stdout(&o)
    );
    // A DENY rule still refuses.
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/7/up");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn file_source_without_rules_enforces_nothing_and_a_bad_rules_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).unwrap();
    let config = write_config(
        dir.path(),
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\n",
    );
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/7/up");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("not enforced"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("topic permissions are not enforced"),
        "the start-up line: {}",
        stderr(&o)
    );

    // One invalid record refuses the rules file whole, with the file, the record and the problem.
    std::fs::write(
        dir.path().join("rules.json"),
        RULES.replace(r#""Topic":"fleet/7/up""#, r#""Topic":"fleet/#/up""#),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\npermissions = \"rules.json\"\n",
    );
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/1/up");
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("rules.json") && err.contains("record #1") && err.contains("fleet/#/up"),
        "{err}"
    );
}

fn openapi_auth(endpoint: &str, extra: &str) -> String {
    openapi_auth_toml(
        endpoint,
        &format!(
            r#"page_size = 2
max_requests_per_sec = 50
request_timeout_secs = 5
{extra}"#
        ),
    )
}

fn write_cloud(dir: &Path, rules: &str) {
    std::fs::write(dir.join("cloud-identities.json"), IDENTITIES).unwrap();
    std::fs::write(dir.join("cloud-blacklist.json"), "[]").unwrap();
    std::fs::write(dir.join("cloud-permissions.json"), rules).unwrap();
}

/// `mqid sync --out ids_out --permissions-out rules_out`.
fn sync_out(config: &Path, ids_out: &Path, rules_out: &Path) -> Output {
    let args = [("--out", ids_out), ("--permissions-out", rules_out)];
    sync_command(config, &args, (AK_ID, AK_SECRET))
}

#[test]
fn openapi_source_pages_the_rules_and_sync_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    // The cloud's rules, plus one that is not a valid filter: skipped, the others apply.
    let with_invalid = RULES.replace(
        "\n]",
        r#",
  {"Identity":"fleet","IdentityType":"USER","Topic":"bad/#/x","PermitAction":"PUB","Effect":"ALLOW"}
]"#,
    );
    write_cloud(dir.path(), &with_invalid);
    let cloud = Cloud::start(dir.path(), AK_ID, AK_SECRET);

    // No snapshot: each check runs one pass over the emulator (three operations, paged by 2).
    let config = write_config(dir.path(), &openapi_auth(&cloud.endpoint(), ""));
    let before = cloud.requests();
    assert_cases(&config, "OpenAPI http://127.0.0.1");
    assert!(
        cloud.requests() > before,
        "the checks did not page the emulator"
    );
    let o = check(&config, "fleet", "dev-1", "--publish", "bad/1/x");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("skipped invalid") && stderr(&o).contains("bad/#/x"),
        "{}",
        stderr(&o)
    );

    // sync --out --permissions-out: both files in the file source's format, private.
    let ids_out = dir.path().join("out/ids.json");
    let rules_out = dir.path().join("out/rules.json");
    let o = sync_out(&config, &ids_out, &rules_out);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("5 topic rules (1 skipped)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("wrote 5 topic rules to"),
        "{}",
        stdout(&o)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rules_out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let written: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&rules_out).unwrap()).unwrap();
    let mut want: Vec<serde_json::Value> = serde_json::from_str(RULES).unwrap();
    let key = |v: &serde_json::Value| v.to_string();
    want.sort_by_key(key);
    let mut got = written.clone();
    got.sort_by_key(key);
    assert_eq!(got, want);
    // ... which the file source reads back to the same answers.
    let file_config = write_config(
        dir.path(),
        "[auth]\nsource = \"file\"\nfile = \"out/ids.json\"\npermissions = \"out/rules.json\"\n",
    );
    assert_cases(&file_config, "ids.json");

    // The snapshot holds the rules: with it, check answers from it without a pass, even after
    // the cloud's rules changed.
    let config = write_config(
        dir.path(),
        &openapi_auth(&cloud.endpoint(), "snapshot = \"state/snapshot.json\"\n"),
    );
    let o = sync_command(&config, &[], (AK_ID, AK_SECRET));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    std::fs::write(dir.path().join("cloud-permissions.json"), "[]").unwrap();
    let before = cloud.requests();
    assert_cases(&config, "snapshot");
    assert_eq!(
        cloud.requests(),
        before,
        "check paged the API despite the snapshot"
    );

    // A snapshot of the previous format (no rules): loads; nothing enforced until a pass.
    let snap = dir.path().join("state/snapshot.json");
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("permissions");
    std::fs::write(&snap, old.to_string()).unwrap();
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/7/up");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("not enforced"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("not enforced until the first complete pass"),
        "{}",
        stderr(&o)
    );
    // The next pass brings the cloud's rules, now none at all: everything is refused.
    let o = sync_command(&config, &[], (AK_ID, AK_SECRET));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/1/up");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("no applicable rule"), "{}", stdout(&o));
}

#[test]
fn openapi_permissions_off_reads_and_enforces_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    write_cloud(dir.path(), RULES);
    let cloud = Cloud::start(dir.path(), AK_ID, AK_SECRET);
    let config = write_config(
        dir.path(),
        &openapi_auth(&cloud.endpoint(), "permissions = false\n"),
    );
    let o = check(&config, "fleet", "dev-1", "--publish", "fleet/7/up");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("not enforced"), "{}", stdout(&o));
    let rules_out = dir.path().join("rules.json");
    let o = sync_out(&config, &dir.path().join("ids.json"), &rules_out);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("permissions = false"), "{}", stderr(&o));
    assert!(!rules_out.exists());
}

/// `mqid openapi-emulator --permissions` as a process, paged by `mqid sync --permissions-out`
/// with V1 signatures.
#[test]
fn emulator_command_serves_the_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    write_cloud(dir.path(), RULES);
    let (mut emu, endpoint) = emulator_process(
        dir.path(),
        (AK_ID, AK_SECRET),
        &[("--permissions", "cloud-permissions.json")],
    );
    let config = write_config(dir.path(), &openapi_auth(&endpoint, "signature = \"v1\"\n"));
    let rules_out = dir.path().join("rules.json");
    let o = sync_out(&config, &dir.path().join("ids.json"), &rules_out);
    let _ = emu.kill();
    let _ = emu.wait();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("wrote 5 topic rules"), "{}", stdout(&o));
    let got: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&rules_out).unwrap()).unwrap();
    assert_eq!(got.len(), 5);
    assert!(
        std::fs::read_to_string(dir.path().join("emulator.log"))
            .unwrap()
            .contains("cloud-permissions.json"),
        "the emulator names the rules file it serves"
    );
}

/// `mqid serve` on the file source reloads the rules file while running: a valid new version is
/// in force (the log line counts its rules), a broken one is refused naming the file and changes
/// nothing. (Refusing packets on the wire comes with the edge; the count is what is observable.)
#[test]
fn serve_reloads_the_rules_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identities.json"), IDENTITIES).unwrap();
    let rules = dir.path().join("rules.json");
    std::fs::write(&rules, RULES).unwrap();
    let broker = Broker::start_with(
        dir,
        "[auth]\nsource = \"file\"\nfile = \"identities.json\"\npermissions = \"rules.json\"\n\
         watch_interval_ms = 50\n",
        &[],
    );
    eventually(10, "the first set in force", || {
        broker.log().contains("5 topic rule(s)")
    });
    let two = r#"[
      {"Identity":"fleet","IdentityType":"USER","Topic":"a/+","PermitAction":"PUB","Effect":"ALLOW"},
      {"Identity":"fleet","IdentityType":"USER","Topic":"b/#","PermitAction":"SUB","Effect":"ALLOW"}
    ]"#;
    std::fs::write(&rules, two).unwrap();
    eventually(10, "the new rules in force", || {
        broker.log().contains("2 topic rule(s)")
    });
    std::fs::write(&rules, two.replace("\"a/+\"", "\"a/#/b\"")).unwrap();
    eventually(10, "the broken rules file refused", || {
        let log = broker.log();
        log.contains("reload refused") && log.contains("rules.json") && log.contains("a/#/b")
    });
    let in_force = broker.log().matches("index in force").count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        broker.log().matches("index in force").count(),
        in_force,
        "a broken rules file replaced the index"
    );
    assert!(connect(
        broker.v4,
        Proto::V4,
        "dev-1",
        Some(("fleet", "fleet-secret"))
    )
    .admitted());
}
