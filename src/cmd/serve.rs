//! `mqid serve`: rumqttd's router behind mqid's own listeners (the edge), and the index kept
//! current.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mqid_core::{Index, SharedIndex, StaleGate};
use mqid_rumqttd::edge::{DenyAction, Edge, EdgeCounts, EdgeOptions};
use mqid_rumqttd::Authenticator;
use mqid_sync::health::SyncHealth;
use mqid_sync::refresh::{load_snapshot_for, Refresher};
use mqid_sync::{apply, file, AuthConfig, Loaded, Origin, SourceConfig};

pub fn run(config_path: &Path) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    super::shutdown::install()?;
    let broker_config = match (config.broker, &config.http) {
        (Some(broker), _) => broker,
        (None, Some(http)) => return super::http::run_alone(config.auth, http.clone()),
        (None, None) => bail!("nothing to serve: neither [broker] nor [http]"),
    };
    // What the edge cannot honour is refused before anything is loaded or bound.
    mqid_rumqttd::edge::check(&broker_config).context("the broker was not started")?;
    let shared = Arc::new(SharedIndex::new(Index::empty()));
    let gate = Arc::new(StaleGate::new());

    // Load the index before any listener opens, and prepare what keeps it current.
    let source =
        start_source(&config.auth, &shared, &gate).context("the broker was not started")?;
    if let Some(http) = &config.http {
        let health = super::http::HealthCell::default();
        if let Some(h) = &source.health {
            let _ = health.set(h.clone());
        }
        super::http::start(http, &config.auth, &shared, &gate, health)
            .context("the broker was not started")?
            .set_ready();
    }

    let mut authenticator = Authenticator::new(shared.clone()).with_stale_gate(gate);
    if let Some(limits) = config.auth.limits.limits() {
        authenticator = authenticator.with_limiter(limits);
    }
    let authenticator = Arc::new(authenticator);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mqid-edge")
        .build()
        .context("cannot start the edge's runtime")?;
    // Every listener is bound (and [prometheus] installed) before anything else starts.
    let edge = rt
        .block_on(Edge::start(
            &broker_config,
            authenticator.clone(),
            EdgeOptions {
                no_match: config.auth.permissions.no_match,
                deny_action: match config.auth.permissions.deny_action {
                    mqid_sync::DenyAction::Ignore => DenyAction::Drop,
                    mqid_sync::DenyAction::Disconnect => DenyAction::Disconnect,
                },
                revoke_per_sec: config.edge.revoke_per_sec,
            },
        ))
        .context("the broker was not started")?;

    // The refresher runs on its own thread and runtime, away from the edge's.
    std::thread::Builder::new()
        .name("mqid-sync".into())
        .spawn(source.refresher)
        .context("cannot start the refresher thread")?;
    // Staleness and metrics: once a second, on a thread of their own, so that neither a long
    // pass nor a connection can hold them up.
    let housekeeping = Housekeeping {
        health: source.health.clone(),
        shared: shared.clone(),
        authenticator,
        edge: edge.counts().clone(),
        publish: broker_config.prometheus.is_some(),
    };
    std::thread::Builder::new()
        .name("mqid-watch".into())
        .spawn(move || housekeeping.run())
        .context("cannot start the staleness and metrics thread")?;

    for (key, name, addr) in edge.listeners() {
        tracing::info!(listener = %key, %name, %addr, "listening");
    }
    let n = edge.listeners().len();
    let stats = shared.load().stats();
    let age = source.health.as_ref().and_then(|h| h.age(Instant::now()));
    let synced = match age {
        Some(age) => format!(", last synced {} s ago", age.as_secs()),
        None => String::new(),
    };
    tracing::info!(
        listeners = n,
        origin = %source.origin,
        identities = stats.identities(),
        index_age_secs = age.map(|a| a.as_secs()),
        limiter = config.auth.limits.enabled,
        "mqid ready: index loaded from {}{synced} ({stats}); serving CONNECTs on {n} listeners",
        source.origin
    );
    // Serves until SIGTERM or SIGINT, which `shutdown` turns into a clean exit; this thread only
    // keeps the edge's runtime alive.
    loop {
        std::thread::park();
    }
}

type Background = Box<dyn FnOnce() + Send>;

/// What [`start_source`] loaded and what keeps it current.
pub(super) struct StartedSource {
    /// Where the index in force at start-up came from.
    pub(super) origin: Origin,
    /// Runs the refresher or the file watcher; never returns.
    pub(super) refresher: Background,
    /// The OpenAPI source's health (staleness, pass metrics); `None` for the file source.
    pub(super) health: Option<Arc<SyncHealth>>,
}

/// Once a second: checks staleness and publishes metrics.
struct Housekeeping {
    health: Option<Arc<SyncHealth>>,
    shared: Arc<SharedIndex>,
    authenticator: Arc<Authenticator>,
    edge: Arc<EdgeCounts>,
    /// Whether rumqttd exports metrics (`[broker.prometheus]`).
    publish: bool,
}

impl Housekeeping {
    fn run(self) {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if let Some(h) = &self.health {
                h.watch(Instant::now());
            }
            if self.publish {
                crate::metrics::publish(&self.authenticator, &self.shared, self.health.as_deref());
                self.edge.publish();
            }
        }
    }
}

/// A saved set to start from (a snapshot, a follower's own copy), if the guard lets it replace
/// the index in force; a refused one is logged and left out.
pub(super) fn start_from(
    saved: Option<Loaded>,
    auth: &AuthConfig,
    shared: &SharedIndex,
) -> Option<Loaded> {
    saved.filter(|loaded| {
        let refused = auth.guard.check(&shared.load_full(), &loaded.identities);
        if let Err(e) = &refused {
            tracing::error!("{}: {e}; starting without it", loaded.origin);
        }
        refused.is_ok()
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the refresher's runtime")
}

/// Loads the initial index into `shared` and returns what keeps it current. With the OpenAPI
/// source, `gate` is closed while the index is stale and `on_stale = "refuse"`.
pub(super) fn start_source(
    auth: &AuthConfig,
    shared: &Arc<SharedIndex>,
    gate: &Arc<StaleGate>,
) -> Result<StartedSource> {
    let rt = runtime()?;
    match &auth.source {
        SourceConfig::File(f) => {
            let files = file::Files::from_config(f);
            let watcher = file::Watcher::for_files(files.clone()).with_guard(auth.guard);
            let loaded = files.load_guarded(&auth.guard, &shared.load_full())?;
            let origin = loaded.origin.clone();
            apply(shared, loaded);
            let every = f.watch_interval;
            let shared = shared.clone();
            Ok(StartedSource {
                origin,
                refresher: Box::new(move || rt.block_on(watcher.run(shared, every))),
                health: None,
            })
        }
        SourceConfig::Follower(f) => super::http::follower_source(f, auth, shared, rt),
        SourceConfig::Openapi(api) => {
            let client = super::openapi_client(api)?;
            let health = Arc::new(SyncHealth::new(api, client.counters(), gate.clone()));
            let refresher = Refresher {
                client,
                shared: shared.clone(),
                snapshot: api.snapshot.clone(),
                every: Duration::from_secs(api.refresh_secs),
                health: health.clone(),
                guard: auth.guard,
            };
            let from_snapshot = start_from(load_snapshot_for(api), auth, shared);
            let (origin, first_after) = match from_snapshot {
                Some(loaded) => {
                    // Serve from the snapshot at once; the first pass brings it up to date. Its
                    // age counts towards staleness (an old snapshot under on_stale = "refuse"
                    // refuses until that pass succeeds).
                    let origin = loaded.origin.clone();
                    let synced_at = loaded.synced_at;
                    apply(shared, loaded);
                    if let Some(at) = synced_at {
                        health.loaded_from(at);
                    }
                    (origin, Duration::ZERO)
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
                    let origin = Origin::Api {
                        endpoint: refresher.client.endpoint().to_owned(),
                    };
                    (origin, refresher.every)
                }
            };
            Ok(StartedSource {
                origin,
                refresher: Box::new(move || rt.block_on(refresher.run(first_after))),
                health: Some(health),
            })
        }
    }
}
