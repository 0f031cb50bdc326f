//! `mqid openapi-emulator`: the local OpenAPI emulator as a command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use mqid_emulator::{AnswerFault, EmulatorConfig, Faults, DEFAULT_INSTANCE_ID};

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (loopback unless you mean it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// JSON array of identity records (the file source's format), re-read when it changes.
    #[arg(long)]
    identities: PathBuf,
    /// JSON array of {"ClientId","PermitAction":"CONNECT","Effect":"DENY"} records or of
    /// client-id strings, re-read when it changes.
    #[arg(long)]
    blacklist: Option<PathBuf>,
    /// JSON array of permission records {"Identity","IdentityType","Topic","PermitAction",
    /// "Effect"} (the rules file's format), served by QueryCustomAuthPermission, re-read when it
    /// changes. Without it the list is empty.
    #[arg(long)]
    permissions: Option<PathBuf>,
    /// The one AccessKey id accepted.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Its secret.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: String,
    /// Require this STS token as well.
    #[arg(long, env = "ALIBABA_CLOUD_SECURITY_TOKEN", hide_env_values = true)]
    security_token: Option<String>,
    #[arg(long, default_value = DEFAULT_INSTANCE_ID)]
    instance_id: String,
    /// Fault injection: answer every Nth request with Throttling.User (0: never).
    #[arg(long, default_value_t = 0)]
    throttle_every: u32,
    /// HTTP status of a throttling answer.
    #[arg(long, default_value_t = 400)]
    throttle_status: u16,
    /// The TimeLeft retry hint of a throttling answer, in ms.
    #[arg(long, default_value_t = 1000)]
    throttle_time_left_ms: u64,
    /// Fault injection: answer every Nth request with 503 ServiceUnavailable (0: never).
    #[arg(long, default_value_t = 0)]
    unavailable_every: u32,
    /// Fault injection: close every Nth connection without an answer (0: never).
    #[arg(long, default_value_t = 0)]
    drop_every: u32,
    /// Fault injection: added latency per request, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fault injection in every answer: not-json, cut-json, truncated, wrong-types,
    /// oversized-page, looping-token, huge (a 50 MiB body), stall, reset, clock-skew
    /// (InvalidTimeStamp.Expired), access-key-not-found, token-expired (InvalidSecurityToken.Expired).
    #[arg(long, default_value = "none", value_parser = clap::value_parser!(AnswerFault))]
    answer_fault: AnswerFault,
    /// Spare the first page of each listing from --answer-fault (requests without a NextToken).
    #[arg(long)]
    answer_fault_later_pages: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let mut cfg = EmulatorConfig::new(a.identities, a.access_key_id, a.access_key_secret);
    cfg.blacklist = a.blacklist;
    cfg.permissions = a.permissions;
    cfg.security_token = a.security_token.map(mqid_core::Secret::new);
    cfg.instance_id = a.instance_id;
    cfg.faults = Faults {
        throttle_every: a.throttle_every,
        throttle_status: a.throttle_status,
        throttle_time_left_ms: a.throttle_time_left_ms,
        unavailable_every: a.unavailable_every,
        drop_every: a.drop_every,
        latency: Duration::from_millis(a.latency_ms),
        answer: a.answer_fault,
        answer_later_pages_only: a.answer_fault_later_pages,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        mqid_emulator::serve_until(listener, cfg, ctrl_c).await?;
        Ok(ExitCode::SUCCESS)
    })
}
