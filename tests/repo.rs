//! The repository itself: what a user of a fresh clone relies on (ignored outputs, the README's
//! links, the minimum Rust version).

mod common;

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Issue 12, item 17: the files the README's examples write with secrets inside are git-ignored,
/// so a `git add .` in a working copy does not commit them.
#[test]
fn the_readmes_secret_outputs_are_ignored() {
    let ignore = read(".gitignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let readme = read("README.md");
    // every `--out FILE` of the README, and the snapshot's folder of the example config
    let mut outputs: Vec<String> = readme
        .split("--out ")
        .skip(1)
        .filter_map(|rest| rest.split([' ', '`', '\n']).next())
        .filter(|f| !f.is_empty() && !f.starts_with("FILE"))
        .map(str::to_owned)
        .collect();
    assert!(outputs.iter().any(|o| o == "pulled.json"), "{outputs:?}");
    let openapi = read("config/mqid-openapi.toml");
    let snapshot = openapi
        .lines()
        .find_map(|l| l.trim().strip_prefix("snapshot = \""))
        .and_then(|l| l.split('"').next())
        .expect("the example config has a snapshot");
    // relative to config/: "../state/…" is state/ under the repository root
    let first = snapshot
        .strip_prefix("../")
        .and_then(|p| p.split('/').next())
        .expect("the example snapshot is outside config/, in a folder of its own")
        .to_owned();
    outputs.push(first);
    for out in &outputs {
        assert!(
            patterns
                .iter()
                .any(|p| p.trim_start_matches('/').trim_end_matches('/') == out),
            "{out} (written by the README's examples, secrets inside) is not in .gitignore"
        );
    }
}

/// Issue 12, item 16: the docs a user reads stand on their own in a clone: every relative link of
/// README.md and docs/*.md points at a file of the repository, and nothing points outside it.
#[test]
fn the_docs_link_only_into_the_repository() {
    let root = root().canonicalize().unwrap();
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        assert!(
            !text.contains("../shared") && !text.contains("shared/docs"),
            "{} refers to the design docs outside the repository",
            page.display()
        );
        for link in text.split("](").skip(1) {
            let target = link.split([')', ' ']).next().unwrap();
            if target.contains("://") || target.starts_with('#') || target.is_empty() {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = page.parent().unwrap().join(path);
            let resolved = resolved
                .canonicalize()
                .unwrap_or_else(|e| panic!("{}: link {target}: {e}", page.display()));
            assert!(
                resolved.starts_with(&root),
                "{}: link {target} leaves the repository",
                page.display()
            );
        }
    }
}

/// `1.89` and `1.89.0` alike, as (major, minor, patch).
fn version(v: &str) -> [u64; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    out
}

/// Issue 12, item 15: the workspace's `rust-version` is not below the `rust-version` of any
/// dependency in the lock file (for the host platform, as `cargo metadata` reports them), and
/// the README states the same minimum.
#[test]
fn rust_version_is_not_below_any_dependencys() {
    let meta = common::cargo_metadata();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "mqid")
        .and_then(|p| p["rust_version"].as_str())
        .expect("mqid sets rust-version")
        .to_owned();
    let mut needed: Vec<([u64; 3], String)> = packages
        .iter()
        .filter(|p| !members.contains(&p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            let (name, v) = (p["name"].as_str()?, p["version"].as_str()?);
            Some((version(rv), format!("{name} {v} needs {rv}")))
        })
        .collect();
    needed.sort();
    let (highest, who) = needed
        .last()
        .expect("some dependency states a rust-version");
    assert!(
        version(&ours) >= *highest,
        "rust-version {ours} is below what the lock file needs: {who}"
    );
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("Rust toolchain ({ours} or newer")),
        "the README does not state the minimum Rust version {ours}"
    );
}

/// Issue 10, item 5: the test-support crate is never in the production binary's dependencies.
/// It is reached only through `mqid-bench`, behind the `dev-tools` feature (which the second
/// `cargo tree` turns on, so that this check sees the crate when it is there).
#[test]
fn the_release_binary_takes_no_test_support() {
    let tree = |features: &[&str]| {
        let args = ["tree", "-p", "mqid", "-e", "normal", "--prefix", "none"];
        common::cargo_offline(&[&args[..], features].concat())
    };
    let takes_it = |t: &str| t.lines().any(|l| l.starts_with("mqid-test-support "));
    let release = tree(&[]);
    assert!(
        release.lines().any(|l| l.starts_with("mqid-core ")),
        "{release}"
    );
    assert!(
        !takes_it(&release),
        "the release binary depends on it:\n{release}"
    );
    assert!(takes_it(&tree(&["--features", "dev-tools"])));
}
