//! `mqid serve`: rumqttd with mqid's CONNECT check on every listener, and the index kept current.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use mqid_core::{Index, SharedIndex};
use mqid_rumqttd::{install, listeners, Authenticator};
use mqid_sync::refresh::{load_snapshot, Refresher};
use mqid_sync::{apply, file, AuthConfig, SourceKind};

pub fn run(config_path: &Path) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mut broker_config = config.broker;
    let shared = Arc::new(SharedIndex::new(Index::empty()));

    // Load the index before any listener opens, and prepare what keeps it current.
    let refresher = start_source(&config.auth, &shared).context("the broker was not started")?;

    let authenticator = Arc::new(Authenticator::new(shared.clone()));
    let n = install(&mut broker_config, authenticator).context("the broker was not started")?;

    // The refresher runs on its own thread and runtime, away from rumqttd's listener threads.
    std::thread::Builder::new()
        .name("mqid-sync".into())
        .spawn(refresher)
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

type Background = Box<dyn FnOnce() + Send>;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the refresher's runtime")
}

/// Loads the initial index into `shared` and returns the refresher to run in the background.
fn start_source(auth: &AuthConfig, shared: &Arc<SharedIndex>) -> Result<Background> {
    let rt = runtime()?;
    match auth.source {
        SourceKind::File => {
            let path = auth.file.clone().expect("validated: file is set");
            let watcher = file::Watcher::new(path.clone());
            apply(shared, file::load(&path)?);
            let every = Duration::from_millis(auth.watch_interval_ms);
            let shared = shared.clone();
            Ok(Box::new(move || rt.block_on(watcher.run(shared, every))))
        }
        SourceKind::Openapi => {
            let api = auth
                .openapi
                .as_ref()
                .expect("validated: [auth.openapi] is set");
            let refresher = Refresher {
                client: super::openapi_client(api)?,
                shared: shared.clone(),
                snapshot: api.snapshot.clone(),
                every: Duration::from_secs(api.refresh_secs),
            };
            let from_snapshot = api.snapshot.as_deref().and_then(load_snapshot);
            let first_after = match from_snapshot {
                Some(loaded) => {
                    // Serve from the snapshot at once; the first pass brings it up to date.
                    apply(shared, loaded);
                    Duration::ZERO
                }
                None => {
                    tracing::info!(
                        endpoint = refresher.client.endpoint(),
                        "no snapshot to start from: waiting for the first complete pass"
                    );
                    let stats = rt
                        .block_on(refresher.first_pass())
                        .context("the first pass over the OpenAPI failed")?;
                    tracing::info!(%stats, "first pass complete");
                    refresher.every
                }
            };
            Ok(Box::new(move || rt.block_on(refresher.run(first_after))))
        }
    }
}
