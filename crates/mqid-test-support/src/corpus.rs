//! Replays a fuzz corpus through the fuzz target's check, so that `cargo test` covers every
//! kept input on the stable toolchain, without a fuzzer.

use std::path::Path;

/// Feeds every file of `<crate_dir>/fuzz/corpus/<target>/` to `check`, in name order. Panics
/// when the folder is missing or empty, and when `check` panics on a file, naming that file.
pub fn replay(crate_dir: &str, target: &str, check: fn(&[u8])) {
    let dir = Path::new(crate_dir).join("fuzz/corpus").join(target);
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
