//! `mqid`: ApsaraMQ for MQTT custom identities on a self-hosted rumqttd broker.

mod cmd;
mod config;
mod metrics;

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
    /// Run rumqttd with mqid's CONNECT check on every listener ([broker]), and/or serve mqid's
    /// decisions over HTTP for clustered brokers ([http]).
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
    /// Decide one CONNECT, or whether a session may publish or subscribe to a topic, against the
    /// configured source, without starting a broker. Exits 0 when admitted or allowed, 1 when
    /// refused; prints one line saying why (for a topic: the rule that decided).
    Check {
        #[arg(long, default_value = "config/mqid.toml")]
        config: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        client_id: String,
        /// The CONNECT password (or set MQID_PASSWORD); not needed (and not checked) with
        /// --publish or --subscribe.
        #[arg(
            long,
            env = "MQID_PASSWORD",
            hide_env_values = true,
            required_unless_present_any = ["publish", "subscribe"]
        )]
        password: Option<String>,
        /// May the session publish to this topic name?
        #[arg(long, value_name = "TOPIC", conflicts_with = "subscribe")]
        publish: Option<String>,
        /// May the session subscribe to this topic filter ($share/GROUP/FILTER too)?
        #[arg(long, value_name = "FILTER")]
        subscribe: Option<String>,
    },
    /// Run one pass over the OpenAPI and write the identities: to FILE in the file source's
    /// format, or without --out to the configured snapshot. Exits non-zero on failure.
    Sync {
        #[arg(long, default_value = "config/mqid.toml")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also write the topic rules to FILE, in the rules file's format (the API's records).
        #[arg(long, value_name = "FILE")]
        permissions_out: Option<PathBuf>,
    },
    /// Serve QueryCustomAuthIdentity, QueryCustomAuthConnectBlack and QueryCustomAuthPermission
    /// locally, from files, as the ApsaraMQ OpenAPI does (signatures, paging, errors), for tests
    /// and demos.
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
            publish,
            subscribe,
        } => {
            let question = match (&publish, &subscribe, &password) {
                (Some(topic), _, _) => cmd::check::Question::Publish(topic),
                (_, Some(filter), _) => cmd::check::Question::Subscribe(filter),
                (None, None, Some(password)) => cmd::check::Question::Connect { password },
                (None, None, None) => unreachable!("clap requires --password"),
            };
            cmd::check::run(&config, &username, &client_id, question)
        }
        Command::Sync {
            config,
            out,
            permissions_out,
        } => cmd::sync::run(&config, out.as_deref(), permissions_out.as_deref()),
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
