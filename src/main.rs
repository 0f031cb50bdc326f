//! `mqid`: ApsaraMQ for MQTT custom identities on a self-hosted rumqttd broker.

mod cmd;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mqid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run rumqttd with mqid's CONNECT check on every listener.
    Serve {
        #[arg(long, default_value = "config/mqid.toml")]
        config: PathBuf,
    },
    /// Print the SIGNED password of a client id: Base64(HMAC-SHA1(secret, client id)).
    Sign {
        /// The identity's secret (or set MQID_SECRET, which keeps it out of `ps` and history).
        #[arg(long, env = "MQID_SECRET", hide_env_values = true)]
        secret: String,
        #[arg(long)]
        client_id: String,
    },
    /// Decide one CONNECT against the configured source, without starting a broker.
    /// Exits 0 when admitted, 1 when refused.
    Check {
        #[arg(long, default_value = "config/mqid.toml")]
        config: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        client_id: String,
        /// The CONNECT password (or set MQID_PASSWORD).
        #[arg(long, env = "MQID_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Run one pass over the OpenAPI and write the identities: to FILE in the file source's
    /// format, or without --out to the configured snapshot. Exits non-zero on failure.
    Sync {
        #[arg(long, default_value = "config/mqid.toml")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Serve QueryCustomAuthIdentity and QueryCustomAuthConnectBlack locally, from files, as the
    /// ApsaraMQ OpenAPI does (signatures, paging, errors), for tests and demos.
    #[cfg(feature = "dev-tools")]
    OpenapiEmulator(cmd::emulator::Args),
    /// Benchmarks of the CONNECT hot path, the index at scale and the CONNECT rate
    /// (docs/performance.md). Build with --release.
    #[cfg(feature = "dev-tools")]
    Bench {
        #[command(subcommand)]
        what: cmd::bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    let result = match cli.command {
        Command::Serve { config } => cmd::serve::run(&config),
        Command::Sign { secret, client_id } => cmd::sign::run(&secret, &client_id),
        Command::Check {
            config,
            username,
            client_id,
            password,
        } => cmd::check::run(&config, &username, &client_id, &password),
        Command::Sync { config, out } => cmd::sync::run(&config, out.as_deref()),
        #[cfg(feature = "dev-tools")]
        Command::OpenapiEmulator(args) => cmd::emulator::run(args),
        #[cfg(feature = "dev-tools")]
        Command::Bench { what } => cmd::bench::run(what),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mqid: {e:#}");
            ExitCode::from(2)
        }
    }
}
