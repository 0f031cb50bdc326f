//! Secret hygiene end to end: a broker syncing from the emulator with an STS token, good and bad
//! CONNECTs, failing API calls and failing commands, all at `trace` log level; no secret and no
//! password may appear anywhere in what mqid prints.

mod common;

use common::*;
use mqid_emulator::{Emulator, EmulatorConfig, Faults};

const AK_ID: &str = "LTAI5tHygieneKeyId";
const AK_SECRET: &str = "hygiene-AK-secret-9f8e7d";
const TOKEN: &str = "hygiene-STS-token-1a2b3c";
const ID_SECRET: &str = "identity-secret-5u5u5u";
const SIGNED_SECRET: &str = "62a5916d71767185b48907d85c2efae2";
const SIGNED_PW: &str = "P+SmVoTf3AU9RoxclbU9WOcbmyM="; // shared/docs known answer, GID_ICP@@@4d378084
const BAD_PW: &str = "wrong-password-7q7q7q";

fn everything_secret() -> [&'static str; 6] {
    [
        AK_SECRET,
        TOKEN,
        ID_SECRET,
        SIGNED_SECRET,
        SIGNED_PW,
        BAD_PW,
    ]
}

fn assert_clean(what: &str, text: &str) {
    for s in everything_secret() {
        assert!(!text.contains(s), "{what} shows {s:?}:\n{text}");
    }
}

#[test]
fn no_secret_or_password_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cloud.json"),
        format!(
            r#"[{{"Username":"u1","Secret":"{ID_SECRET}","IdentityType":"USER","SignMode":"ORIGIN"}},
                {{"Username":"u2","Secret":"{SIGNED_SECRET}","IdentityType":"USER","SignMode":"SIGNED"}},
                {{"Username":"bad","Secret":"{ID_SECRET}","IdentityType":"NOPE","SignMode":"ORIGIN"}}]"#
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = EmulatorConfig::new(dir.path().join("cloud.json"), AK_ID, AK_SECRET);
    cfg.security_token = Some(mqid_core::Secret::new(TOKEN));
    cfg.faults = Faults {
        throttle_every: 3,
        throttle_time_left_ms: 20,
        unavailable_every: 5,
        ..Faults::none()
    };
    let emu = rt.block_on(Emulator::bind("127.0.0.1:0", cfg)).unwrap();
    let endpoint = emu.endpoint();

    for signature in ["v3", "v1"] {
        let auth = openapi_auth_toml(
            &endpoint,
            &format!(
                r#"page_size = 1
refresh_secs = 1
signature = "{signature}"
max_requests_per_sec = 100
max_retries_per_pass = 40
snapshot = "snap.json""#
            ),
        );
        let d = tempfile::tempdir().unwrap();
        let env = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
            ("RUST_LOG", "trace"),
        ];
        let broker = Broker::start_with(d, &auth, &env);
        for (c, u, p, ok) in [
            ("c1", "u1", ID_SECRET, true),
            ("GID_ICP@@@4d378084", "u2", SIGNED_PW, true),
            ("c1", "u1", BAD_PW, false),
            ("GID_other", "u2", SIGNED_PW, false),
            ("c1", "ghost", BAD_PW, false),
        ] {
            for proto in [Proto::V4, Proto::V5] {
                let got = connect(broker.port(proto), proto, c, Some((u, p)));
                assert_eq!(
                    got.admitted(),
                    ok,
                    "{signature} {proto:?} {c} {u}: {got:?}\n{}",
                    broker
                        .log()
                        .lines()
                        .filter(|l| !l.contains("TRACE") && !l.contains("DEBUG"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
        // let a few refresh passes run through the injected faults
        eventually(20, "retries happened", || broker.log().contains("retry"));
        let config = broker.dir.path().join("mqid.toml");

        // a command with the wrong secret: fails, and says so without the secrets
        let out = mqid()
            .args(["sync", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(broker.dir.path().join("out.json"))
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", BAD_PW)
            .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
        assert_clean(&format!("mqid sync ({signature}, wrong secret)"), &text);

        // mqid check, refused and admitted, at trace level
        for (p, code) in [(BAD_PW, 1), (ID_SECRET, 0)] {
            let out = mqid()
                .args(["check", "--config"])
                .arg(&config)
                .args(["--username", "u1", "--client-id", "c1"])
                .env("MQID_PASSWORD", p)
                .env("RUST_LOG", "trace")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(code));
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_clean("mqid check", &text);
        }

        let log = broker.log();
        assert!(
            log.contains("skipped invalid"),
            "the bad record is reported: {log}"
        );
        assert!(log.contains("CONNECT refused"), "{log}");
        assert_clean(&format!("mqid serve ({signature}) log"), &log);
    }
    drop(emu);
}
