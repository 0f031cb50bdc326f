//! One rmqtt node for the cluster tests: an rmqtt 0.24 broker with the `rmqtt-cluster-raft` and
//! `rmqtt-auth-http` plugins, configured from the plugin files the test writes
//! (`PLUGINS_DIR/rmqtt-cluster-raft.toml`, `PLUGINS_DIR/rmqtt-auth-http.toml`), as rmqtt's own
//! `rmqttd` reads them.
//!
//! usage: rmqtt-node --id N --mqtt ADDR --grpc ADDR --plugins PLUGINS_DIR
//!
//! Logs to stderr (`RUST_LOG`, default `info`). The MQTT listener is bound only once both
//! plugins have started (the raft plugin's start waits for the cluster), so a test knows the
//! node is part of the cluster when its MQTT port accepts.

use std::net::SocketAddr;
use std::process::ExitCode;

use rmqtt::context::ServerContext;
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;

struct Args {
    id: u64,
    mqtt: SocketAddr,
    grpc: SocketAddr,
    plugins: String,
}

const USAGE: &str = "usage: rmqtt-node --id N --mqtt ADDR --grpc ADDR --plugins PLUGINS_DIR";

fn args() -> Result<Args, String> {
    let (mut id, mut mqtt, mut grpc, mut plugins) = (None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let addr = |v: &str| {
            v.parse::<SocketAddr>()
                .map_err(|e| format!("{flag} {v:?}: {e}"))
        };
        match flag.as_str() {
            "--id" => id = Some(value.parse().map_err(|e| format!("--id {value:?}: {e}"))?),
            "--mqtt" => mqtt = Some(addr(&value)?),
            "--grpc" => grpc = Some(addr(&value)?),
            "--plugins" => plugins = Some(value),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    match (id, mqtt, grpc, plugins) {
        (Some(id), Some(mqtt), Some(grpc), Some(plugins)) => Ok(Args {
            id,
            mqtt,
            grpc,
            plugins,
        }),
        _ => Err("--id, --mqtt, --grpc and --plugins are all required".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rmqtt-node: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmqtt-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> rmqtt::Result<()> {
    let scx = ServerContext::new()
        .node_id(args.id)
        // rmqtt refuses CONNECTs while the host's load is high; the tests share small machines.
        .busy_check_enable(false)
        .plugins_config_dir(args.plugins.as_str())
        .build()
        .await;
    // Other nodes forward messages and sessions over gRPC; the raft plugin needs it up first.
    scx.node
        .start_grpc_server(scx.clone(), args.grpc, true, false);
    // (default_startup = true: initialised and started here; immutable = true: no runtime reload)
    rmqtt_auth_http::register(&scx, true, true).await?;
    rmqtt_cluster_raft::register(&scx, true, true).await?;
    log::info!("rmqtt-node {}: cluster joined", args.id);
    MqttServer::new(scx)
        .listener(
            Builder::new()
                .name("external/tcp")
                .laddr(args.mqtt)
                .allow_anonymous(false)
                .bind()?
                .tcp()?,
        )
        .build()
        .run()
        .await
}
