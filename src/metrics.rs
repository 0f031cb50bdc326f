//! Every metric mqid exports besides the edge's own (`mqid_rumqttd::edge::EdgeCounts`): names,
//! descriptions and publishing, in one place.
//!
//! The numbers are plain counters where they are counted (a CONNECT adds one to an `AtomicU64`:
//! no lock, no allocation; see `mqid_rumqttd`); [`publish`], called about once a second off the
//! listener threads, sets the `metrics` recorder's values to them. Totals are set with
//! `absolute`, so nothing counted before rumqttd installs its recorder is lost, and an exported
//! counter lags by at most one period. Pass durations also feed a histogram, whose samples from
//! before the recorder exists are dropped.

use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use mqid_core::{Limiter, Refusal, SharedIndex};
use mqid_rumqttd::{Authenticator, ConnectCounts};
use mqid_sync::health::SyncHealth;

/// Sets every metric below from the current numbers. Cheap, but it takes the recorder's locks
/// and may allocate: never call it on a listener thread.
pub fn publish(authenticator: &Authenticator, shared: &SharedIndex, health: Option<&SyncHealth>) {
    connects(authenticator.counts());
    if let Some(limiter) = authenticator.limiter() {
        limiter_metrics(limiter);
    }
    index(shared);
    if let Some(h) = health {
        openapi(h);
    }
}

/// `mqid_connect_total{result,reason}`.
fn connects(counts: &ConnectCounts) {
    describe_counter!(
        "mqid_connect_total",
        "CONNECTs decided by mqid, by result (admitted, refused) and reason (ok, blacklisted, \
         unknown_identity, bad_password, rate_limited, stale)"
    );
    counter!("mqid_connect_total", "result" => "admitted", "reason" => "ok")
        .absolute(counts.admitted());
    for r in Refusal::ALL {
        counter!("mqid_connect_total", "result" => "refused", "reason" => r.as_str())
            .absolute(counts.refused(r));
    }
}

/// `mqid_limiter_*`.
fn limiter_metrics(limiter: &Limiter) {
    describe_counter!(
        "mqid_limiter_cooldowns_total",
        "(username, client id) pairs that reached [auth.limits] max_failures and started a cool-down"
    );
    describe_counter!(
        "mqid_limiter_evictions_total",
        "live limiter entries dropped to make room for new keys (the table of max_tracked_keys was full)"
    );
    describe_counter!(
        "mqid_limiter_username_alerts_total",
        "usernames that reached [auth.limits] username_alert_failures bad passwords in a window"
    );
    describe_gauge!(
        "mqid_limiter_tracked_keys",
        "limiter entries (pairs and usernames) with a live count or cool-down"
    );
    counter!("mqid_limiter_cooldowns_total").absolute(limiter.cooldowns());
    counter!("mqid_limiter_evictions_total").absolute(limiter.evictions());
    counter!("mqid_limiter_username_alerts_total").absolute(limiter.username_alerts());
    gauge!("mqid_limiter_tracked_keys").set(limiter.tracked_keys(Instant::now()) as f64);
}

/// `mqid_index_identities{type,mode}`, `mqid_index_blacklisted_client_ids` and
/// `mqid_index_topic_rules`, from the index in force.
fn index(shared: &SharedIndex) {
    describe_gauge!(
        "mqid_index_identities",
        "identities in the index in force, by type (user, client) and mode (origin, signed)"
    );
    describe_gauge!(
        "mqid_index_blacklisted_client_ids",
        "client ids on the connect blacklist in force"
    );
    describe_gauge!(
        "mqid_index_topic_rules",
        "topic permission rules in force; -1 when topic permissions are not enforced"
    );
    let index = shared.load();
    gauge!("mqid_index_topic_rules").set(index.permissions().map_or(-1.0, |p| p.len() as f64));
    let s = index.stats();
    for (t, m, n) in [
        ("user", "origin", s.user_origin),
        ("user", "signed", s.user_signed),
        ("client", "origin", s.client_origin),
        ("client", "signed", s.client_signed),
    ] {
        gauge!("mqid_index_identities", "type" => t, "mode" => m).set(n as f64);
    }
    gauge!("mqid_index_blacklisted_client_ids").set(s.blacklisted_client_ids as f64);
}

/// `mqid_openapi_*`: the OpenAPI source's passes and staleness.
fn openapi(health: &SyncHealth) {
    describe_counter!(
        "mqid_openapi_passes_total",
        "OpenAPI refresh passes, by result (ok, failed)"
    );
    describe_counter!(
        "mqid_openapi_pass_errors_total",
        "failed OpenAPI passes by error code (the service's Code, or retries_exhausted, bad_page, request, http_<status>)"
    );
    describe_counter!(
        "mqid_openapi_requests_total",
        "OpenAPI requests sent, retries included"
    );
    describe_counter!(
        "mqid_openapi_retries_total",
        "OpenAPI requests retried after a transient failure"
    );
    describe_counter!(
        "mqid_openapi_pages_total",
        "OpenAPI pages received and accepted"
    );
    describe_histogram!(
        "mqid_openapi_pass_duration_seconds",
        metrics::Unit::Seconds,
        "wall time of OpenAPI passes, failed ones included"
    );
    describe_gauge!(
        "mqid_openapi_last_pass_duration_seconds",
        metrics::Unit::Seconds,
        "wall time of the latest OpenAPI pass"
    );
    describe_gauge!(
        "mqid_openapi_last_good_pass_age_seconds",
        metrics::Unit::Seconds,
        "seconds since the last complete OpenAPI pass (at start-up, since the pass that wrote the snapshot)"
    );
    describe_gauge!(
        "mqid_openapi_stale",
        "1 while the index is older than max_staleness_secs, else 0"
    );
    let f = health.figures(Instant::now());
    counter!("mqid_openapi_passes_total", "result" => "ok").absolute(f.passes_ok);
    counter!("mqid_openapi_passes_total", "result" => "failed").absolute(f.passes_failed);
    counter!("mqid_openapi_requests_total").absolute(f.requests);
    counter!("mqid_openapi_retries_total").absolute(f.retries);
    counter!("mqid_openapi_pages_total").absolute(f.pages);
    for (code, n) in f.failed_by_code {
        counter!("mqid_openapi_pass_errors_total", "code" => code).absolute(n);
    }
    let h = histogram!("mqid_openapi_pass_duration_seconds");
    for d in f.new_durations {
        h.record(d);
    }
    if let Some(d) = f.last_duration {
        gauge!("mqid_openapi_last_pass_duration_seconds").set(d.as_secs_f64());
    }
    if let Some(age) = f.last_good_age {
        gauge!("mqid_openapi_last_good_pass_age_seconds").set(age.as_secs_f64().floor());
    }
    gauge!("mqid_openapi_stale").set(if f.stale { 1.0 } else { 0.0 });
}
