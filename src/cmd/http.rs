//! `mqid serve` with `[http]`: mqid's decisions over HTTP for clustered brokers (EMQX, rmqtt,
//! VerneMQ, mosquitto-go-auth), alone or beside the MQTT broker of `[broker]`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use mqid_core::{Index, SharedIndex, StaleGate};
use mqid_http::{Decider, HttpConfig, Leader, State, Tls, Token};
use mqid_sync::follower::Follower;
use mqid_sync::health::SyncHealth;
use mqid_sync::{apply, AuthConfig, FollowerConfig, Loaded, Origin};

use super::serve::StartedSource;

/// The OpenAPI source's health, once known: the leader's `/snapshot` stamps its set with the
/// time of the last good pass.
pub type HealthCell = Arc<OnceLock<Arc<SyncHealth>>>;

/// Binds `[http] listen` and starts serving on a thread of its own. The decider answers
/// "not ready" (and `/healthz` 503) until the caller marks it ready.
pub fn start(
    http: &HttpConfig,
    auth: &AuthConfig,
    shared: &Arc<SharedIndex>,
    gate: &Arc<StaleGate>,
    health: HealthCell,
) -> Result<Arc<Decider>> {
    let token = Token::from_config(http, Path::new("."))?;
    let tls = Tls::from_config(http, Path::new("."))?;
    let listener = mqid_http::bind(http, token.as_ref())?;
    let addr = listener.local_addr().context("[http] listen")?;
    let mut decider =
        Decider::new(shared.clone(), auth.permissions.no_match).with_stale_gate(gate.clone());
    if let Some(limits) = auth.limits.limits() {
        decider = decider.with_limiter(limits);
    }
    let decider = Arc::new(decider);
    tracing::info!(
        %addr,
        bearer_token = token.is_some(),
        https = tls.is_some(),
        client_certificates = http.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        "HTTP decisions on {}",
        mqid_http::PATHS.join(", ")
    );
    let state = Arc::new(State {
        decider: decider.clone(),
        config: http.clone(),
        token,
        tls,
        leader: Leader::new(move || {
            let now = SystemTime::now();
            match health.get().and_then(|h| h.age(Instant::now())) {
                Some(age) => now.checked_sub(age).unwrap_or(now),
                None => now,
            }
        }),
    });
    mqid_http::spawn(listener, state).context("cannot start the HTTP server thread")?;
    Ok(decider)
}

/// `mqid serve` with `[http]` and no `[broker]`: serves HTTP at once (`/healthz` 503), loads the
/// index, then decides; keeps the index current; never returns.
pub fn run_alone(auth: AuthConfig, http: HttpConfig) -> Result<ExitCode> {
    let shared = Arc::new(SharedIndex::new(Index::empty()));
    let gate = Arc::new(StaleGate::new());
    let health = HealthCell::default();
    let decider =
        start(&http, &auth, &shared, &gate, health.clone()).context("mqid was not started")?;
    let source =
        super::serve::start_source(&auth, &shared, &gate).context("mqid was not started")?;
    if let Some(h) = &source.health {
        let _ = health.set(h.clone());
    }
    decider.set_ready();
    std::thread::Builder::new()
        .name("mqid-sync".into())
        .spawn(source.refresher)
        .context("cannot start the refresher thread")?;
    let stats = shared.load().stats();
    tracing::info!(
        origin = %source.origin,
        identities = stats.identities(),
        limiter = auth.limits.enabled,
        "mqid ready: index loaded from {} ({stats}); deciding over HTTP",
        source.origin
    );
    // Staleness, once a second (the OpenAPI source).
    loop {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(h) = &source.health {
            h.watch(Instant::now());
        }
    }
}

fn follower(config: &FollowerConfig, auth: &AuthConfig) -> Result<Follower> {
    let token = match &config.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("[auth.follower] token_file {}", p.display()))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var(mqid_http::TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned()),
    };
    Ok(Follower::new(config, token)?.with_guard(auth.guard))
}

/// `[auth] source = "follower"`: the own last-good copy if there is one (then a poll at once),
/// else one successful poll of the leader before anything is served.
pub(super) fn follower_source(
    config: &FollowerConfig,
    auth: &AuthConfig,
    shared: &Arc<SharedIndex>,
    rt: tokio::runtime::Runtime,
) -> Result<StartedSource> {
    let mut follower = follower(config, auth)?;
    let own = super::serve::start_from(follower.load_own(), auth, shared);
    let (origin, first_after) = match own {
        Some(loaded) => {
            let origin = loaded.origin.clone();
            apply(shared, loaded);
            (origin, Duration::ZERO)
        }
        None => {
            tracing::info!(
                leader = follower.url(),
                "no own snapshot to start from: waiting for the leader's set"
            );
            let loaded = rt
                .block_on(follower.fetch(&shared.load_full()))
                .context("the first poll of the leader failed")?
                .expect("the first poll sends no If-None-Match");
            apply(shared, loaded);
            (
                Origin::Leader {
                    url: follower.url().to_owned(),
                },
                follower.every,
            )
        }
    };
    let shared = shared.clone();
    Ok(StartedSource {
        origin,
        refresher: Box::new(move || rt.block_on(follower.run(shared, first_after))),
        health: None,
    })
}

/// What a follower holds now, for commands that do not serve: its own copy, else one poll.
pub fn follower_current_set(config: &FollowerConfig, auth: &AuthConfig) -> Result<Loaded> {
    let mut follower = follower(config, auth)?;
    if let Some(loaded) = follower.load_own() {
        return Ok(loaded);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt
        .block_on(follower.fetch(&Index::empty()))?
        .expect("the first poll sends no If-None-Match"))
}
