//! Replays the fuzz corpus (`fuzz/corpus/<target>/`: seeds and the inputs fuzzing found worth
//! keeping) through the same checks as the fuzz targets, so that `cargo test` covers them on the
//! stable toolchain. To fuzz for real: `scripts/fuzz`.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

/// Feeds every file of `fuzz/corpus/<target>/` to `check`; a panic names the file.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz check {target} fails on {}", file.display());
        }
    }
}

#[test]
fn openapi_page_corpus() {
    replay("openapi_page", harness::openapi_page);
}

#[test]
fn auth_config_corpus() {
    replay("auth_config", harness::auth_config);
}

#[test]
fn snapshot_corpus() {
    replay("snapshot", harness::snapshot);
}

#[test]
fn snapshot_values_corpus() {
    replay("snapshot_values", harness::snapshot_values);
}
