//! Interop with Alibaba Cloud's official Python SDKs: starts the emulator in-process and runs
//! `tests/python/test_sdk_interop.py` against it (tea-openapi V3 and V1, aliyun-python-sdk-core
//! V1 GET and POST; identities, blacklist and topic permissions; paging, filters, wrong secret).
//!
//! Needs Python 3 with the SDKs: `./scripts/test` installs tests/python/requirements.txt into
//! a virtual environment (target/test-venv) and exports its interpreter as `MQID_TEST_PYTHON`.
//! Without them this test FAILS, in CI and outside it: it never passes without having run the
//! SDKs.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mqid_test_support::python::{test_python, workspace_root};

const INSTALL_HINT: &str =
    "./scripts/test (it creates target/test-venv with tests/python/requirements.txt)";

/// Four blacklist entries, as strings and as records.
const BLACKLIST: &str = r#"[
  "GID_bad@@@2",
  {"ClientId":"GID_bad@@@1","PermitAction":"CONNECT","Effect":"DENY"},
  "GID_bad@@@4",
  {"ClientId":"GID_bad@@@3","PermitAction":"CONNECT","Effect":"DENY"}
]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdks_page_through_the_emulator() {
    let f = Fixture::start(SEVEN, Some(BLACKLIST)).await;
    let blacklist = f.dir.path().join("blacklist.json");
    let out_path = f.dir.path().join("python.out");
    let err_path = f.dir.path().join("python.err");
    let root = workspace_root();
    let script = root.join("tests/python/test_sdk_interop.py");
    assert!(script.is_file(), "{} is missing", script.display());
    // MQID_TEST_PYTHON (exported by ./scripts/test), else the virtual environment it leaves.
    let python = test_python();

    let mut child = match Command::new(&python)
        .arg(&script)
        .args(["--endpoint", &f.emu.local_addr().to_string()])
        .args(["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET])
        .args(["--instance-id", INSTANCE, "--size", "3"])
        .arg("--identities")
        .arg(f.identities_path())
        .arg("--blacklist")
        .arg(&blacklist)
        .arg("--permissions")
        .arg(
            f.cfg
                .permissions
                .as_ref()
                .expect("the fixture serves rules"),
        )
        .current_dir(&root)
        // Loopback only: no proxy from the environment may intercept it.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot run {python:?} ({e}): the SDK interop test needs Python 3 with Alibaba's SDKs; \
             run {INSTALL_HINT} (or set MQID_TEST_PYTHON to choose the interpreter)"
        ),
    };

    // Wait without blocking the runtime that serves the emulator.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SDK interop script ran over 5 minutes\nstdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "Alibaba's Python SDKs are not installed for {python:?}: run {INSTALL_HINT}\n{stderr}"
        ),
        _ => {
            panic!("the SDK interop script failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }
    }
    println!("{stdout}");
    for check in [
        "tea_v3_identities: 7 records in 3 pages",
        "tea_v1_identities: 7 records in 3 pages",
        "tea_v3_filters: 4 usernames",
        "tea_v3_form_post: 7 records in 3 pages",
        "tea_v3_wrong_secret: SignatureDoesNotMatch (400)",
        "tea_v1_wrong_secret: SignatureDoesNotMatch (400)",
        "core_v1_identities_get: 7 records in 3 pages",
        "core_v1_identities_post: 7 records in 3 pages",
        "core_v1_filters: 4 usernames",
        "core_v1_wrong_secret: SignatureDoesNotMatch (400)",
        "tea_v3_blacklist: 4 records in 2 pages",
        "core_v1_blacklist: 4 records in 2 pages",
        "tea_v3_permissions: 6 records in 2 pages",
        "tea_v1_permissions: 6 records in 2 pages",
        "tea_v3_permission_filters: 6 rules, 4 identities",
        "core_v1_permissions: 6 records in 2 pages",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok   {check}"))),
            "no `ok   {check}` in the script's output:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(stdout.contains("interop: 16 passed, 0 failed"), "{stdout}");
    // The SDKs really went through the emulator.
    assert!(f.emu.requests() >= 30, "only {} requests", f.emu.requests());
}
