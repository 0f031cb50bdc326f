//! `mqid sign`: the SIGNED password of a client id, for provisioning devices.

use std::process::ExitCode;

use anyhow::{ensure, Result};

pub fn run(secret: &str, client_id: &str) -> Result<ExitCode> {
    ensure!(!secret.is_empty(), "--secret is empty");
    println!("{}", mqid_core::signed_password(secret, client_id));
    Ok(ExitCode::SUCCESS)
}
