//! `mqid serve`: rumqttd with mqid's CONNECT check on every listener, and the index kept current.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mqid_core::{Index, SharedIndex};
use mqid_rumqttd::{install, listeners, Authenticator};
use mqid_sync::SourceKind;

pub fn run(config_path: &Path) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mut broker_config = config.broker;
    let auth = config.auth;

    let shared = Arc::new(SharedIndex::new(Index::empty()));
    let loaded = super::initial_load(&auth).context("the broker was not started")?;
    mqid_sync::apply(&shared, loaded);

    let authenticator = Arc::new(Authenticator::new(shared.clone()));
    let n = install(&mut broker_config, authenticator).context("the broker was not started")?;

    // The refresher runs on its own small runtime, away from rumqttd's listener threads.
    let sync_shared = shared.clone();
    let sync_auth = auth.clone();
    std::thread::Builder::new()
        .name("mqid-sync".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime for the refresher");
            rt.block_on(async move {
                match sync_auth.source {
                    SourceKind::File => {
                        let file = sync_auth.file.clone().expect("validated");
                        let every = Duration::from_millis(sync_auth.watch_interval_ms);
                        mqid_sync::file::watch(file, sync_shared, every).await
                    }
                    SourceKind::Openapi => unreachable!("refused at initial load"),
                }
            })
        })
        .context("cannot start the refresher thread")?;

    for (key, name, addr) in listeners(&broker_config) {
        tracing::info!(listener = %key, %name, %addr, "mqid check installed");
    }
    tracing::info!(
        listeners = n,
        identities = shared.load().len(),
        "mqid ready: serving CONNECTs"
    );
    let mut broker = rumqttd::Broker::new(broker_config);
    broker.start().context("rumqttd stopped")?;
    Ok(ExitCode::SUCCESS)
}
