//! `mqid serve` with `[http]`: mqid's decisions over HTTP for clustered brokers (EMQX, rmqtt,
//! VerneMQ, mosquitto-go-auth), alone or beside the MQTT broker of `[broker]`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mqid_core::{Index, SharedIndex, StaleGate};
use mqid_http::{Decider, HttpConfig, State, Token};
use mqid_sync::AuthConfig;

/// Binds `[http] listen` and starts serving on a thread of its own. The decider answers
/// "not ready" (and `/healthz` 503) until the caller marks it ready.
pub fn start(
    http: &HttpConfig,
    auth: &AuthConfig,
    shared: &Arc<SharedIndex>,
    gate: &Arc<StaleGate>,
) -> Result<Arc<Decider>> {
    let token = Token::from_config(http, Path::new("."))?;
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
        "HTTP decisions on {}",
        mqid_http::PATHS.join(", ")
    );
    let state = Arc::new(State {
        decider: decider.clone(),
        config: http.clone(),
        token,
    });
    mqid_http::spawn(listener, state).context("cannot start the HTTP server thread")?;
    Ok(decider)
}

/// `mqid serve` with `[http]` and no `[broker]`: serves HTTP at once (`/healthz` 503), loads the
/// index, then decides; keeps the index current; never returns.
pub fn run_alone(auth: AuthConfig, http: HttpConfig) -> Result<ExitCode> {
    let shared = Arc::new(SharedIndex::new(Index::empty()));
    let gate = Arc::new(StaleGate::new());
    let decider = start(&http, &auth, &shared, &gate).context("mqid was not started")?;
    let source =
        super::serve::start_source(&auth, &shared, &gate).context("mqid was not started")?;
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
