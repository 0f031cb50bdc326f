//! The Python peers of the tests (paho-mqtt, Alibaba Cloud's SDKs) and their interpreter.

use std::path::{Path, PathBuf};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `tests/python/<name>` of the workspace.
pub fn script(name: &str) -> PathBuf {
    let p = workspace_root().join("tests/python").join(name);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// The Python interpreter of the test peers: `MQID_TEST_PYTHON`, which `./scripts/test` exports
/// for the virtual environment it creates, else that virtual environment (`target/test-venv`)
/// if a run of the script left one. Panics, saying what to do, when there is neither: the tests
/// that need it never pass without having run it.
pub fn test_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MQID_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "MQID_TEST_PYTHON is not set and {} does not exist: run ./scripts/test, which creates \
         that virtual environment with tests/python/requirements.txt (or set MQID_TEST_PYTHON to \
         a Python that has them)",
        venv.display()
    );
    venv
}
