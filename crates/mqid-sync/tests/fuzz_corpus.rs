//! Replays the fuzz corpus (`fuzz/corpus/<target>/`: seeds and the inputs fuzzing found worth
//! keeping) through the same checks as the fuzz targets, so that `cargo test` covers them on the
//! stable toolchain. To fuzz for real: `scripts/fuzz`.

#[path = "../fuzz/src/lib.rs"]
mod harness;

/// Feeds every file of `fuzz/corpus/<target>/` to `check`; a panic names the file.
fn replay(target: &str, check: fn(&[u8])) {
    mqid_test_support::corpus::replay(env!("CARGO_MANIFEST_DIR"), target, check);
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
