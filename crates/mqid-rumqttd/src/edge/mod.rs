//! mqid's own MQTT listeners on rumqttd's router.
//!
//! rumqttd stays the engine (router, sessions, retained messages, QoS flows, shared
//! subscriptions); mqid owns the network edge, because rumqttd's listener cannot answer a
//! refusal with a CONNACK, cannot enforce topic permissions, cannot disconnect a revoked
//! identity, refuses keepalive 0, logs passwords of a second CONNECT, spins out of file
//! descriptors and sleeps after every accept.
//!
//! The pieces, each in its own file with its contract on top:
//!
//! * [`engine`]: the router mqid spawns, and links to it;
//! * [`listener`]: the accept loop of one `[v4.N]` / `[v5.N]` / `[ws.N]` listener;
//! * `transport`: TLS and websocket handshakes, in the connection's task;
//! * [`connection`]: one connection, CONNECT to close;
//! * [`codec`]: bytes ↔ packets (rumqttd's own v4/v5 codecs);
//! * [`codes`]: the CONNACK code per refusal and version;
//! * [`topics`]: topic permissions per session;
//! * [`will`]: wills, published by the edge;
//! * [`sessions`]: admitted sessions and their revocation;
//! * [`stats`]: counters and the throttled log.
//!
//! [`Edge::start`] checks the configuration (what the edge cannot honour is refused by name),
//! spawns the router, installs the Prometheus exporter if `[prometheus]` asks for it, binds
//! every listener (a bind failure names the address) and only then starts accepting.

mod acks;
pub mod codec;
pub mod codes;
pub mod connection;
pub mod engine;
pub mod listener;
pub mod sessions;
pub mod stats;
pub mod topics;
mod transport;
pub mod will;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use mqid_core::NoMatch;
use rumqttd::Config;

pub use codes::{connack_code, ConnectRefusal, Version};
pub use engine::Engine;
pub use stats::{Close, EdgeCounts};
pub use topics::DenyAction;

use crate::Authenticator;
use listener::ListenerContext;
use sessions::Sessions;
use stats::Throttle;
use will::Wills;

/// What the edge does beyond rumqttd's configuration (from mqid's `[auth]`).
#[derive(Clone, Copy, Debug)]
pub struct EdgeOptions {
    /// A topic no applicable rule matches (`[auth.permissions] no_match`).
    pub no_match: NoMatch,
    /// A refused PUBLISH (`[auth.permissions] deny_action`).
    pub deny_action: DenyAction,
    /// Revoked sessions disconnected per second at most.
    pub revoke_per_sec: u32,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        EdgeOptions {
            no_match: NoMatch::Deny,
            deny_action: DenyAction::Drop,
            revoke_per_sec: 100,
        }
    }
}

/// Why the edge did not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("the broker configuration has no [v4.*], [v5.*] or [ws.*] listener")]
    NoListeners,
    #[error(
        "listener [{0}] sets connections.auth, rumqttd's static password map; mqid decides every \
         CONNECT, so remove it to avoid a false sense of what is checked"
    )]
    StaticAuth(String),
    #[error("{0} is not supported by mqid's edge yet: {1}")]
    Unsupported(String, &'static str),
    #[error("listener [{listener}] cannot listen on {addr}: {error}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("[prometheus] cannot serve metrics on {addr}: {reason}")]
    Prometheus { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Tls(String),
    #[error("the router refused the edge's own will link")]
    WillLink,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) wills: Arc<Wills>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) counts: Arc<EdgeCounts>,
    pub(crate) options: EdgeOptions,
    pub(crate) throttle: Throttle,
    max_connections: usize,
    connected: Arc<AtomicUsize>,
    assigned: AtomicU64,
}

/// A place among `max_connections`; given back on drop.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Shared {
    /// A place for one more session, unless `max_connections` are connected (the edge's will
    /// link counts as one).
    pub(crate) fn take_slot(&self) -> Option<Slot> {
        let n = self.connected.fetch_add(1, Relaxed);
        let slot = Slot(self.connected.clone());
        (n < self.max_connections).then_some(slot)
    }

    /// A client id for a CONNECT with an empty one and clean session (as rumqttd assigns
    /// `rumqtt-<uuid>`).
    pub(crate) fn assign_client_id(&self) -> String {
        let n = self.assigned.fetch_add(1, Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("mqid-{nanos:x}-{n}")
    }
}

/// The listeners the edge serves, as `(section.key, settings, version, websocket)`. Websocket
/// listeners speak MQTT 3.1.1, as rumqttd's do.
fn served(config: &Config) -> Vec<(String, &rumqttd::ServerSettings, Version, bool)> {
    let mut out = Vec::new();
    for (section, listeners, version, ws) in [
        ("v4", config.v4.as_ref(), Version::V4, false),
        ("v5", config.v5.as_ref(), Version::V5, false),
        ("ws", config.ws.as_ref(), Version::V4, true),
    ] {
        for (key, s) in listeners.into_iter().flatten() {
            out.push((format!("{section}.{key}"), s, version, ws));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Refuses, by name, what the edge cannot honour: rumqttd's static `connections.auth`,
/// `[console]`, `[bridge]`, `[metrics]`, `[cluster]`, and TLS settings it cannot serve (see
/// [`transport`]).
pub fn check(config: &Config) -> Result<(), EdgeError> {
    for (key, s, _, _) in served(config) {
        if let Some(tls) = &s.tls {
            let refused = match tls {
                rumqttd::TlsConfig::Rustls { capath, .. } => capath.is_some(),
                rumqttd::TlsConfig::NativeTls { .. } => true,
            };
            if refused {
                // Builds the acceptor only for its message (the paths are not read first).
                transport::acceptor(&key, tls)?;
            }
        }
        if s.connections.auth.is_some() {
            return Err(EdgeError::StaticAuth(key));
        }
    }
    for (present, what) in [
        (config.console.is_some(), "[broker.console]"),
        (config.bridge.is_some(), "[broker.bridge]"),
        (config.metrics.is_some(), "[broker.metrics]"),
        (config.cluster.is_some(), "[broker.cluster]"),
    ] {
        if present {
            return Err(EdgeError::Unsupported(
                what.to_string(),
                "rumqttd runs it only inside its own Broker, which mqid replaces; remove it",
            ));
        }
    }
    if served(config).is_empty() {
        return Err(EdgeError::NoListeners);
    }
    Ok(())
}

/// The edge, serving.
pub struct Edge {
    shared: Arc<Shared>,
    listeners: Vec<(String, String, SocketAddr)>,
}

impl Edge {
    /// Checks `config`, spawns the router, installs `[prometheus]`, binds every listener and
    /// starts accepting on the current tokio runtime. Returns once every listener is bound.
    pub async fn start(
        config: &Config,
        auth: Arc<Authenticator>,
        options: EdgeOptions,
    ) -> Result<Edge, EdgeError> {
        check(config)?;
        let engine = Engine::spawn(config.id, config.router.clone());
        if let Some(p) = &config.prometheus {
            install_prometheus(p, &engine)?;
        }
        let mut bound = Vec::new();
        for (key, s, version, websocket) in served(config) {
            let tls = s
                .tls
                .as_ref()
                .map(|t| transport::acceptor(&key, t))
                .transpose()?;
            let listener = tokio::net::TcpListener::bind(s.listen)
                .await
                .map_err(|error| EdgeError::Bind {
                    listener: key.clone(),
                    addr: s.listen,
                    error,
                })?;
            let addr = listener.local_addr().unwrap_or(s.listen);
            bound.push((key, s, version, listener, addr, tls, websocket));
        }
        let will_engine = engine.clone();
        let wills = tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Handle::current();
            let _guard = rt.enter();
            Wills::start(&will_engine)
        })
        .await
        .map_err(|_| EdgeError::WillLink)?
        .map_err(|_| EdgeError::WillLink)?;
        let counts = Arc::new(EdgeCounts::default());
        let sessions = Sessions::new();
        let shared = Arc::new(Shared {
            engine,
            auth: auth.clone(),
            wills,
            sessions: sessions.clone(),
            counts: counts.clone(),
            options,
            throttle: Throttle::default(),
            max_connections: config.router.max_connections,
            // The will link holds one of the router's places.
            connected: Arc::new(AtomicUsize::new(1)),
            assigned: AtomicU64::new(0),
        });
        tokio::spawn(sessions.sweep(auth, counts, options.revoke_per_sec));
        let mut listeners = Vec::new();
        for (key, s, version, listener, addr, tls, websocket) in bound {
            let l = Arc::new(ListenerContext {
                edge: shared.clone(),
                name: s.name.clone(),
                version,
                connection_timeout: Duration::from_millis(
                    s.connections.connection_timeout_ms.into(),
                ),
                max_payload_size: s.connections.max_payload_size,
                max_inflight_count: s.connections.max_inflight_count,
                dynamic_filters: s.connections.dynamic_filters,
                tls,
                websocket,
            });
            let delay = Duration::from_millis(s.next_connection_delay_ms);
            tokio::spawn(listener::run(listener, l, delay));
            listeners.push((key, s.name.clone(), addr));
        }
        Ok(Edge { shared, listeners })
    }

    /// The listeners, as `(section.key, name, bound address)`.
    pub fn listeners(&self) -> &[(String, String, SocketAddr)] {
        &self.listeners
    }

    /// The bound address of listener `key` (`"v4.1"`).
    pub fn addr(&self, key: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, a)| *a)
    }

    /// The edge's counters.
    pub fn counts(&self) -> &Arc<EdgeCounts> {
        &self.shared.counts
    }

    /// The router, e.g. to run rumqttd's stock listener on it for a comparison.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Sessions connected through the edge now.
    pub fn sessions(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Wills the edge has handed to the router.
    pub fn wills_published(&self) -> u64 {
        self.shared.wills.published()
    }
}

/// rumqttd's `[prometheus]`: the same exporter rumqttd installs, and the router's gauges.
fn install_prometheus(p: &rumqttd::PrometheusSetting, engine: &Engine) -> Result<(), EdgeError> {
    // rumqttd keeps the settings' fields private; their serialised form is public.
    let v = serde_json::to_value(p).unwrap_or_default();
    let port = v
        .get("port")
        .and_then(|p| p.as_u64())
        .and_then(|p| u16::try_from(p).ok());
    let listen = v
        .get("listen")
        .and_then(|l| l.as_str())
        .and_then(|l| l.parse::<SocketAddr>().ok());
    let interval = v.get("interval").and_then(|i| i.as_u64()).unwrap_or(1);
    // As rumqttd: `port` (deprecated) wins over `listen`; the default is 127.0.0.1:9042.
    let addr = match port {
        Some(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        None => listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9042))),
    };
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| EdgeError::Prometheus {
            addr,
            reason: e.to_string(),
        })?;
    let Some(meters) = engine.meters() else {
        return Ok(());
    };
    let every = Duration::from_secs(interval.max(1));
    let spawned = std::thread::Builder::new()
        .name("mqid-meters".into())
        .spawn(move || {
            let connections = metrics::gauge!("metrics.router.total_connections");
            let publishes = metrics::gauge!("metrics.router.total_publishes");
            let failed = metrics::gauge!("metrics.router.failed_publishes");
            loop {
                while let Ok(batch) = meters.recv() {
                    for m in batch {
                        if let rumqttd::Meter::Router(_, r) = m {
                            connections.set(r.total_connections as f64);
                            publishes.set(r.total_publishes as f64);
                            failed.set(r.failed_publishes as f64);
                        }
                    }
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "router gauges are not exported");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra_v4: &str, extra_top: &str) -> Config {
        let json = format!(
            r#"{{"id":0,"router":{{"max_connections":10,"max_outgoing_packet_count":10,
               "max_segment_size":1024,"max_segment_count":1}},
               "v4":{{"1":{{"name":"l1","listen":"127.0.0.1:1","next_connection_delay_ms":0,
                 "connections":{{"connection_timeout_ms":1000,"max_payload_size":1024,
                 "max_inflight_count":10{extra_v4}}}}}}}{extra_top}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn check_refuses_by_name_what_the_edge_does_not_serve() {
        assert!(check(&config("", "")).is_ok());
        let e = check(&config(r#","auth":{"u":"p"}"#, ""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[v4.1]") && e.contains("connections.auth"),
            "{e}"
        );
        let ws = r#","ws":{"1":{"name":"w","listen":"127.0.0.1:2","next_connection_delay_ms":0,
            "connections":{"connection_timeout_ms":1,"max_payload_size":1,"max_inflight_count":1}}}"#;
        assert!(
            check(&config("", ws)).is_ok(),
            "websocket listeners are served"
        );
        let mut tls = config("", "");
        tls.v4.as_mut().unwrap().get_mut("1").unwrap().tls = Some(rumqttd::TlsConfig::Rustls {
            capath: Some("ca.pem".into()),
            certpath: "c.pem".into(),
            keypath: "k.pem".into(),
        });
        let e = check(&tls).unwrap_err().to_string();
        assert!(
            e.contains("[broker.v4.1] tls") && e.contains("capath"),
            "{e}"
        );
        let console = r#","console":{"listen":"127.0.0.1:3"}"#;
        let e = check(&config("", console)).unwrap_err().to_string();
        assert!(e.contains("[broker.console]"), "{e}");
        let e = check(&Config::default()).unwrap_err();
        assert!(matches!(e, EdgeError::NoListeners), "{e}");
    }
}
