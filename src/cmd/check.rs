//! `mqid check`: decide one CONNECT against the configured source and say why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use mqid_core::{Connect, Decision, Index};

pub fn run(config: &Path, username: &str, client_id: &str, password: &str) -> Result<ExitCode> {
    let config = crate::config::load(config)?;
    let loaded = super::current_identities(&config.auth).context("cannot load the identities")?;
    let origin = loaded.origin.clone();
    let (index, _) = Index::build(loaded.identities, loaded.blacklist);
    let decision = index.decide(&Connect {
        client_id,
        username,
        password: password.as_bytes(),
    });
    match decision {
        Decision::Admit(id) => {
            println!(
                "admitted by {} ({}) from {origin}",
                id.key(),
                id.sign_mode.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Decision::Refuse(reason) => {
            println!(
                "refused: {reason} (username {username:?}, client id {client_id:?}, from {origin})"
            );
            Ok(ExitCode::from(1))
        }
    }
}
