//! One module per subcommand.

pub mod check;
pub mod serve;
pub mod sign;

use std::path::Path;

use anyhow::{Context, Result};
use mqid_sync::{AuthConfig, Loaded, SourceKind};

/// Logs to stderr; the level comes from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Loads the identities the configured source holds right now, for start-up and `mqid check`.
pub fn initial_load(auth: &AuthConfig) -> Result<Loaded> {
    match auth.source {
        SourceKind::File => {
            let file = auth.file.as_deref().expect("validated: file is set");
            Ok(mqid_sync::file::load(file)?)
        }
        SourceKind::Openapi => anyhow::bail!("source \"openapi\" is not available in this build"),
    }
}

/// Reads the config and says where it came from on error.
pub fn load_config(path: &Path) -> Result<crate::config::MqidConfig> {
    crate::config::load(path).with_context(|| "the broker was not started".to_string())
}
