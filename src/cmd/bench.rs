//! `mqid bench`: the performance benchmarks. Figures are ratios against baselines measured in the
//! same run; targets are reported (pass/MISS), never enforced. See docs/performance.md.
//!
//! The workloads live in the `mqid-bench` crate, shared with the criterion benches (`benches/`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use mqid_bench::Preset;
use mqid_bench::{auth, connect, edge, http, logging, permissions, procs, refresh, scale};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// ns per CONNECT decision over 1M identities, beside rumqttd's static-map check and
    /// HMAC-SHA1 alone, and 1 vs 2 threads.
    Auth {
        /// A shorter run (about 0.3 s per workload instead of 2 s).
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1_000_000)]
        identities: usize,
        /// Seconds spent on each workload.
        #[arg(long)]
        seconds: Option<f64>,
        /// Also write a bar chart of ns/op per workload to this SVG file.
        #[arg(long, value_name = "FILE")]
        svg: Option<std::path::PathBuf>,
    },
    /// Build time and heap per identity at 100k and 1M identities, and decision latency while
    /// full index replacements run beside it.
    Scale {
        /// Fewer idle/replacing cycles.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Also build 5M identities (about 2.5 GB of memory at its peak).
        #[arg(long)]
        large: bool,
    },
    /// One OpenAPI pass over N identities from the emulator (a separate process) on loopback:
    /// identities/s, client CPU per page, beside the file source's cost and the API's ceiling.
    Refresh {
        /// 20k identities instead of 200k.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        identities: Option<usize>,
        #[arg(long, default_value_t = 100)]
        page_size: u32,
    },
    /// Topic permissions: ns per PUBLISH check and per delivery check at 1, 10, 100 and 1,000
    /// rules (literal, wildcard, mixed), beside rumqttd routing one QoS 0 PUBLISH in the same run;
    /// and building the rules of a fleet (1M identities, 1M rules by default).
    Permissions {
        /// Shorter measurements, 50k routed PUBLISHes, a fleet of 100k identities and rules.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Rule counts of the measured sessions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        rule_counts: Option<Vec<usize>>,
        /// QoS 0 PUBLISHes routed through rumqttd for the baseline.
        #[arg(long)]
        publishes: Option<usize>,
        /// Seconds spent on each check.
        #[arg(long)]
        seconds: Option<f64>,
        /// Rules of the fleet whose build is measured.
        #[arg(long)]
        rules: Option<usize>,
        /// Identities of that fleet.
        #[arg(long)]
        identities: Option<usize>,
    },
    /// CONNECTs/s and CONNACK latency of real MQTT clients against in-process rumqttd, without
    /// authentication and with mqid installed, over 1 and several listeners.
    Connect {
        /// Fewer CONNECTs and one round.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// CONNECTs per run (default 2000, 500 with --quick).
        #[arg(long)]
        connects: Option<usize>,
        /// Clients connecting at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Listener counts to compare, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4])]
        listeners: Vec<usize>,
        /// Rounds (default 2, 1 with --quick).
        #[arg(long)]
        rounds: Option<usize>,
        /// Every Nth CONNECT has invalid credentials (0: all valid).
        #[arg(long, default_value_t = 4)]
        invalid_every: usize,
        /// Every listener serves TLS (an ECDSA certificate made in the run with openssl); every
        /// handshake a full one.
        #[arg(long)]
        tls: bool,
        /// With --tls: each device first connects once (not measured), then comes back offering
        /// the TLS session it was given.
        #[arg(long, requires = "tls")]
        resume: bool,
    },
    /// mqid's HTTP decisions (EMQX authn/authz, rmqtt auth) under load on loopback: throughput
    /// and p99 beside a trivial HTTP handler measured in the same run.
    Http {
        /// Fewer identities, shorter rounds, one round.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Keep-alive connections, each sending one request at a time.
        #[arg(long)]
        connections: Option<usize>,
        #[arg(long)]
        identities: Option<usize>,
        /// Seconds per round and server.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Messages/s through `mqid serve` (1 publisher -> 1 subscriber, QoS 0, 64-byte messages)
    /// with the default logging, with RUST_LOG=off and with the default's level set by hand, in
    /// the same run: what logging costs on the message path.
    Logging {
        /// One round of 2 s runs instead of three of 5 s.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Rounds (each runs both configurations).
        #[arg(long)]
        rounds: Option<usize>,
    },
    /// PUBLISH through mqid's edge (`mqid serve`, 100 topic rules on the identity) against
    /// rumqttd's stock listener without auth, each broker its own process: messages/s at QoS 0
    /// and 1, broker CPU per message, end-to-end latency p50/p99.
    Publish {
        /// One round of 1 s runs and 300 latency messages.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Rounds (each runs both brokers at both QoS).
        #[arg(long)]
        rounds: Option<usize>,
        /// Topic rules on the identity (the published topic matches the last).
        #[arg(long)]
        rules: Option<usize>,
        /// Measured seconds per throughput run.
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Resident memory per idle connection: N connections on mqid's edge (`mqid serve`) against
    /// rumqttd's stock listener, each broker its own process.
    Idle {
        /// 2,000 connections, one round.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Idle connections per broker (default 10,000).
        #[arg(long)]
        connections: Option<usize>,
        #[arg(long)]
        rounds: Option<usize>,
    },
    /// The time N connected devices take to be connected again after the broker is killed and
    /// restarted: mqid's edge (`mqid serve`) against rumqttd's stock listener.
    Reconnect {
        /// 2,000 devices.
        #[arg(long)]
        quick: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Devices (default 50,000).
        #[arg(long)]
        devices: Option<usize>,
        #[arg(long)]
        rounds: Option<usize>,
        /// A device's longest random wait before its first reconnect attempt, seconds.
        #[arg(long)]
        spread: Option<f64>,
    },
    /// rumqttd's stock listener without authentication, from a rumqttd configuration file: the
    /// baseline broker process of `publish`, `idle` and `reconnect`. Runs until killed.
    #[command(hide = true)]
    StockBroker {
        #[arg(long)]
        config: std::path::PathBuf,
    },
}

fn progress(msg: &str) {
    eprintln!("mqid bench: {msg}");
}

fn print<T: serde::Serialize + std::fmt::Display>(report: &T, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// This executable, which the benches start as `mqid serve` and `mqid bench stock-broker`.
fn mqid_exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("cannot find the mqid executable")
}

pub fn run(what: BenchCommand) -> Result<ExitCode> {
    if cfg!(debug_assertions) && !matches!(what, BenchCommand::StockBroker { .. }) {
        progress("warning: this is a debug build; build with --release for meaningful figures");
    }
    match what {
        BenchCommand::Auth {
            quick,
            json,
            identities,
            seconds,
            svg,
        } => {
            let mut opts = auth::AuthOpts::preset(quick);
            opts.identities = identities.max(4);
            if let Some(s) = seconds {
                opts.per_case = Duration::from_secs_f64(s.max(0.01));
            }
            let report = auth::run(&opts, &mut progress).map_err(|e| anyhow!(e))?;
            if let Some(path) = svg {
                std::fs::write(&path, report.svg())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                progress(&format!("chart written to {}", path.display()));
            }
            print(&report, json)?;
        }
        BenchCommand::Scale { quick, json, large } => {
            let mut opts = scale::ScaleOpts::preset(quick);
            if large {
                opts.sizes.push(5_000_000);
            }
            let report = scale::run(&opts, &mut progress);
            print(&report, json)?;
        }
        BenchCommand::Refresh {
            quick,
            json,
            identities,
            page_size,
        } => {
            let mut opts = refresh::RefreshOpts::preset(quick);
            at_least_one(&mut opts.identities, identities);
            opts.page_size = page_size.clamp(1, 100);
            let report =
                refresh::run(&opts, &mqid_exe()?, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Permissions {
            quick,
            json,
            rule_counts,
            publishes,
            seconds,
            rules,
            identities,
        } => {
            let mut opts = permissions::PermissionsOpts::preset(quick);
            if let Some(counts) = rule_counts {
                opts.rule_counts = counts.into_iter().map(|n| n.max(1)).collect();
            }
            at_least_one(&mut opts.publishes, publishes);
            if let Some(s) = seconds {
                opts.per_case = Duration::from_secs_f64(s.max(0.01));
                opts.sample = opts.sample.min(opts.per_case / 3);
            }
            if let Some(n) = rules {
                opts.build_rules = n;
            }
            at_least_one(&mut opts.build_identities, identities);
            let report = permissions::run(&opts, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Connect {
            quick,
            json,
            connects,
            concurrency,
            listeners,
            rounds,
            invalid_every,
            tls,
            resume,
        } => {
            if std::env::var_os("RUST_LOG").is_none() {
                progress(
                    "hint: RUST_LOG=off keeps rumqttd's per-connection log lines out of the run",
                );
            }
            let mut opts = connect::ConnectOpts::preset(quick);
            at_least_one(&mut opts.connects, connects);
            at_least_one(&mut opts.rounds, rounds);
            opts.concurrency = concurrency.max(1);
            opts.listeners = listeners.into_iter().map(|l| l.max(1)).collect();
            opts.invalid_every = invalid_every;
            opts.tls = tls;
            opts.resume = resume;
            let report = connect::run(&opts, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Http {
            quick,
            json,
            connections,
            identities,
            seconds,
        } => {
            let mut opts = http::HttpOpts::preset(quick);
            at_least_one(&mut opts.connections, connections);
            if let Some(n) = identities {
                opts.identities = n.max(4);
            }
            if let Some(s) = seconds {
                opts.per_round = Duration::from_secs_f64(s.max(0.05));
            }
            let report = http::run(&opts, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Logging {
            quick,
            json,
            rounds,
        } => {
            let mut opts = logging::LoggingOpts::preset(quick);
            at_least_one(&mut opts.rounds, rounds);
            let report =
                logging::run(&opts, &mqid_exe()?, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Publish {
            quick,
            json,
            rounds,
            rules,
            seconds,
        } => {
            let mut opts = edge::PublishOpts::preset(quick);
            at_least_one(&mut opts.rounds, rounds);
            at_least_one(&mut opts.rules, rules);
            if let Some(s) = seconds {
                opts.measure = Duration::from_secs_f64(s.max(0.1));
            }
            let report =
                edge::publish(&opts, &mqid_exe()?, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Idle {
            quick,
            json,
            connections,
            rounds,
        } => {
            let mut opts = edge::IdleOpts::preset(quick);
            at_least_one(&mut opts.connections, connections);
            at_least_one(&mut opts.rounds, rounds);
            let report = edge::idle(&opts, &mqid_exe()?, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::Reconnect {
            quick,
            json,
            devices,
            rounds,
            spread,
        } => {
            let mut opts = edge::ReconnectOpts::preset(quick);
            at_least_one(&mut opts.devices, devices);
            at_least_one(&mut opts.rounds, rounds);
            if let Some(s) = spread {
                opts.spread = Duration::from_secs_f64(s.max(0.0));
            }
            let report =
                edge::reconnect(&opts, &mqid_exe()?, &mut progress).map_err(|e| anyhow!(e))?;
            print(&report, json)?;
        }
        BenchCommand::StockBroker { config } => {
            procs::stock_broker(&config).map_err(|e| anyhow!(e))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Overrides a preset's count with the one given on the command line, at least 1.
fn at_least_one<T: Ord + From<u8>>(slot: &mut T, given: Option<T>) {
    if let Some(v) = given {
        *slot = v.max(T::from(1));
    }
}
