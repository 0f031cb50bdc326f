//! The repository itself: what a user of a fresh clone relies on (ignored outputs, the README's
//! links, the minimum Rust version).

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
    // relative to config/: its first component under the repository root
    let from_root = Path::new("config").join(snapshot);
    let first = from_root
        .components()
        .skip_while(|c| matches!(c, std::path::Component::Normal(n) if *n == "config"))
        .skip_while(|c| matches!(c, std::path::Component::ParentDir))
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
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
