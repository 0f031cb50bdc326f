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
fn identity_list_corpus() {
    replay("identity_list", harness::identity_list);
}

#[test]
fn decide_corpus() {
    replay("decide", harness::decide);
}

#[test]
fn permission_list_corpus() {
    replay("permission_list", harness::permission_list);
}

#[test]
fn topic_rules_corpus() {
    replay("topic_rules", harness::topic_rules);
}
