//! `mqid bench http`: mqid's HTTP decisions under load on loopback, beside a trivial HTTP
//! handler (hyper 1, same runtime shape, answers a fixed `allow`) measured in the same run.
//!
//! Both servers run on a two-worker runtime of their own; the load comes from `connections`
//! keep-alive HTTP/1.1 connections (reqwest) on another two-worker runtime, each sending one
//! request at a time. The mix, per connection in turn: an EMQX authentication (JSON), an EMQX
//! publish authorization (JSON) and an rmqtt authentication (form), all over identities spread
//! across the index (half SIGNED: an HMAC-SHA1 per CONNECT). Rounds alternate baseline and mqid.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mqid_core::{Index, NoMatch, SharedIndex};
use mqid_http::{Decider, HttpConfig, Leader, State};

use crate::stats::{Histogram, Latency};
use crate::{machine, ratio, synth};

pub struct HttpOpts {
    pub identities: usize,
    pub connections: usize,
    pub per_round: Duration,
    pub rounds: usize,
}

impl crate::Preset for HttpOpts {
    fn standard() -> Self {
        HttpOpts {
            identities: 100_000,
            connections: 16,
            per_round: Duration::from_secs(3),
            rounds: 2,
        }
    }

    fn quick() -> Self {
        HttpOpts {
            identities: 10_000,
            connections: 8,
            per_round: Duration::from_millis(500),
            rounds: 1,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Side {
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Round-trip latency seen by the client, µs.
    pub latency_us: Latency,
    /// Answers that were not the expected ones: not 200 (both), not the expected `allow`
    /// (mqid: every probe is admitted or allowed). Must be 0.
    pub unexpected: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct HttpReport {
    pub machine: String,
    pub identities: usize,
    pub connections: usize,
    pub baseline: Side,
    pub mqid: Side,
    /// mqid's throughput over the baseline's.
    pub throughput_ratio: f64,
    /// mqid's p99 over the baseline's.
    pub p99_ratio: f64,
}

impl fmt::Display for HttpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mqid bench http: {} identities, {} keep-alive connections, loopback ({})",
            self.identities, self.connections, self.machine
        )?;
        writeln!(
            f,
            "{:<22} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
            "server", "requests", "req/s", "p50 µs", "p99 µs", "max µs", "unexpected"
        )?;
        for (name, s) in [
            ("trivial handler", &self.baseline),
            ("mqid decisions", &self.mqid),
        ] {
            writeln!(
                f,
                "{:<22} {:>10} {:>12.0} {:>10.1} {:>10.1} {:>10.1} {:>10}",
                name,
                s.requests,
                s.requests_per_sec,
                s.latency_us.p50,
                s.latency_us.p99,
                s.latency_us.max,
                s.unexpected
            )?;
        }
        writeln!(
            f,
            "mqid / trivial: throughput {:.2}x, p99 {:.2}x",
            self.throughput_ratio, self.p99_ratio
        )
    }
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The trivial handler: reads the body, answers `allow`.
fn baseline_server() -> Result<(u16, tokio::runtime::Runtime), String> {
    let rt = runtime("bench-trivial")?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "text/plain")
                            .body(Full::new(Bytes::from_static(b"allow")))
                            .expect("valid response"),
                    )
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok((port, rt))
}

/// mqid's server over `n` synthetic identities, no limiter, no rules (topics not enforced).
fn mqid_server(n: usize) -> Result<u16, String> {
    let (index, _) = Index::build(synth::identities(n), Vec::<String>::new());
    let decider = Decider::new(Arc::new(SharedIndex::new(index)), NoMatch::Deny);
    decider.set_ready();
    let config: HttpConfig =
        serde_json::from_str(r#"{"listen":"127.0.0.1:0"}"#).map_err(|e| e.to_string())?;
    let listener = mqid_http::bind(&config, None).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let state = Arc::new(State {
        decider: Arc::new(decider),
        config,
        token: None,
        tls: None,
        leader: Leader::new(std::time::SystemTime::now),
    });
    mqid_http::spawn(listener, state).map_err(|e| e.to_string())?;
    Ok(port)
}

/// One probe: (path, content type, body, expected body fragment).
fn probe(n: usize, k: u64) -> (&'static str, &'static str, String, &'static str) {
    let i = (synth::mix(k) % n as u64) as usize;
    let client_id = match synth::kind(i).0 {
        mqid_core::IdentityType::Client => synth::client_id(i),
        mqid_core::IdentityType::User => format!("dev-{k}"),
    };
    let username = synth::username(i);
    let password = synth::password(i, &client_id);
    match k % 3 {
        0 => (
            "/emqx/authn",
            "application/json",
            serde_json::json!({"clientid": client_id, "username": username, "password": password})
                .to_string(),
            "\"allow\"",
        ),
        1 => (
            "/emqx/authz",
            "application/json",
            serde_json::json!({"clientid": client_id, "username": username,
                               "topic": format!("fleet/{k}/up"), "action": "publish"})
            .to_string(),
            "\"allow\"",
        ),
        _ => (
            "/rmqtt/auth",
            "application/x-www-form-urlencoded",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("clientid", &client_id)
                .append_pair("username", &username)
                .append_pair("password", &password)
                .finish(),
            "allow",
        ),
    }
}

/// Drives `port` for `d` with `connections` clients; returns (latencies ns, requests,
/// unexpected answers).
fn load(
    rt: &tokio::runtime::Runtime,
    port: u16,
    opts: &HttpOpts,
    round: u64,
    check_body: bool,
) -> (Histogram, u64, u64) {
    let n = opts.identities;
    let d = opts.per_round;
    let mut tasks = Vec::new();
    for c in 0..opts.connections as u64 {
        tasks.push(rt.spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut h = Histogram::new();
            let (mut count, mut unexpected) = (0u64, 0u64);
            let end = Instant::now() + d;
            let mut k = (round << 48) | (c << 32);
            while Instant::now() < end {
                let (path, ct, body, want) = probe(n, k);
                k += 1;
                let t = Instant::now();
                let ok = match client
                    .post(format!("http://127.0.0.1:{port}{path}"))
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => {
                        r.status() == 200
                            && r.text()
                                .await
                                .is_ok_and(|b| !check_body || b.contains(want))
                    }
                    Err(_) => false,
                };
                h.record(t.elapsed().as_nanos() as u64);
                count += 1;
                unexpected += u64::from(!ok);
            }
            (h, count, unexpected)
        }));
    }
    let mut all = Histogram::new();
    let (mut count, mut unexpected) = (0, 0);
    for t in tasks {
        let (h, c, u) = rt.block_on(t).expect("load task");
        all.merge(&h);
        count += c;
        unexpected += u;
    }
    (all, count, unexpected)
}

fn side(h: &Histogram, requests: u64, unexpected: u64, elapsed: Duration) -> Side {
    let ns = Latency::of_histogram(h);
    Side {
        requests,
        requests_per_sec: requests as f64 / elapsed.as_secs_f64(),
        latency_us: Latency {
            count: ns.count,
            p50: ns.p50 / 1e3,
            p99: ns.p99 / 1e3,
            max: ns.max / 1e3,
        },
        unexpected,
    }
}

pub fn run(opts: &HttpOpts, progress: &mut dyn FnMut(&str)) -> Result<HttpReport, String> {
    progress(&format!("building {} identities", opts.identities));
    let mqid_port = mqid_server(opts.identities)?;
    let (base_port, _base_rt) = baseline_server()?;
    let client_rt = runtime("bench-client")?;
    let (mut hb, mut hm) = (Histogram::new(), Histogram::new());
    let (mut nb, mut nm, mut ub, mut um) = (0, 0, 0, 0);
    let mut elapsed = Duration::ZERO;
    for round in 0..opts.rounds as u64 {
        progress(&format!("round {}: trivial handler", round + 1));
        let (h, n, u) = load(&client_rt, base_port, opts, round, false);
        hb.merge(&h);
        nb += n;
        ub += u;
        progress(&format!("round {}: mqid", round + 1));
        let (h, n, u) = load(&client_rt, mqid_port, opts, round, true);
        hm.merge(&h);
        nm += n;
        um += u;
        elapsed += opts.per_round;
    }
    let baseline = side(&hb, nb, ub, elapsed);
    let mqid = side(&hm, nm, um, elapsed);
    Ok(HttpReport {
        machine: machine(),
        identities: opts.identities,
        connections: opts.connections,
        throughput_ratio: ratio(mqid.requests_per_sec, baseline.requests_per_sec),
        p99_ratio: ratio(mqid.latency_us.p99, baseline.latency_us.p99),
        baseline,
        mqid,
    })
}
