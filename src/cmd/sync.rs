//! `mqid sync`: one pass over the OpenAPI, written to a file or to the configured snapshot, and
//! the topic rules to a rules file when asked.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mqid_core::{Index, Permissions};
use mqid_sync::{snapshot, SourceConfig};

pub fn run(
    config_path: &Path,
    out: Option<&Path>,
    permissions_out: Option<&Path>,
) -> Result<ExitCode> {
    let config = crate::config::load(config_path)?;
    let SourceConfig::Openapi(api) = &config.auth.source else {
        bail!(
            "config {}: [auth] source is not \"openapi\"; `mqid sync` pages the OpenAPI",
            config_path.display()
        );
    };
    let target = match (out, api.snapshot.as_deref()) {
        (Some(out), _) => out,
        (None, Some(snap)) => snap,
        (None, None) => bail!("nowhere to write: give --out FILE or set [auth.openapi] snapshot"),
    };
    if permissions_out.is_some() && !api.permissions {
        bail!(
            "config {}: [auth.openapi] permissions = false, so no topic rules are read; \
             --permissions-out has nothing to write",
            config_path.display()
        );
    }
    let client = super::openapi_client(api)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (loaded, stats) = rt.block_on(client.pass()).context("the pass failed")?;
    for s in &loaded.skipped {
        eprintln!("mqid: skipped invalid {s}");
    }
    for s in &loaded.skipped_permissions {
        eprintln!("mqid: skipped invalid {s}");
    }
    let (index, report) = Index::build(loaded.identities, loaded.blacklist);
    let index = index.with_permissions(loaded.permissions.map(Permissions::build));
    for d in &report.duplicates {
        eprintln!("mqid: {d}");
    }
    if out.is_some() {
        snapshot::write_identities_file(target, &index)?;
    } else {
        snapshot::write(target, &index)?;
    }
    let rules_written = match permissions_out {
        Some(path) => snapshot::write_permissions_file(path, &index)?.map(|n| (n, path)),
        None => None,
    };
    println!("{stats}");
    println!(
        "wrote {} to {}{}",
        index.stats(),
        target.display(),
        if out.is_some() && index.stats().blacklisted_client_ids > 0 {
            " (the blacklist is not part of the identities file format; it is in the snapshot)"
        } else {
            ""
        }
    );
    if let Some((n, path)) = rules_written {
        println!("wrote {n} topic rules to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
