//! An edge on rumqttd's router, in process, on free loopback ports (port 0), and rumqttc
//! clients for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mqid_core::{parse_identity_list, Index, SharedIndex};
use mqid_rumqttd::edge::{Edge, EdgeOptions};
use mqid_rumqttd::Authenticator;
pub use mqid_test_support::config::broker_toml;
#[allow(unused_imports)] // each test binary uses a different part
pub use mqid_test_support::mqtt::{packet, RawConnect};

pub const IDS: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"gw","Secret":"gw-secret","IdentityType":"CLIENT","ClientId":"gw-1","SignMode":"ORIGIN"}
]"#;

pub fn index(json: &str, blacklist: &[&str]) -> Index {
    Index::build(
        parse_identity_list(json.as_bytes()).unwrap(),
        blacklist.iter().map(|s| s.to_string()),
    )
    .0
}

/// rumqttd's config: the e2e tests' `[broker]` table (mqid-test-support's), both listeners on
/// port 0, with room for `max_connections`, a 2 s CONNECT timeout, and dynamic filters on both.
pub fn config(max_connections: usize) -> rumqttd::Config {
    let toml = broker_toml("127.0.0.1:0", "127.0.0.1:0");
    let mut table: toml::Table = toml::from_str(&toml).unwrap();
    let mut config: rumqttd::Config = table.remove("broker").unwrap().try_into().unwrap();
    config.router.max_connections = max_connections;
    for listener in [&mut config.v4, &mut config.v5]
        .into_iter()
        .flat_map(|l| l.iter_mut().flat_map(|l| l.values_mut()))
    {
        listener.connections.connection_timeout_ms = 2000;
        listener.connections.dynamic_filters = true;
    }
    config
}

pub struct TestEdge {
    pub edge: Edge,
    pub index: Arc<SharedIndex>,
    pub v4: SocketAddr,
    pub v5: SocketAddr,
}

pub async fn start(ids: &str, blacklist: &[&str]) -> TestEdge {
    start_with(ids, blacklist, config(1000), EdgeOptions::default()).await
}

pub async fn start_with(
    ids: &str,
    blacklist: &[&str],
    config: rumqttd::Config,
    options: EdgeOptions,
) -> TestEdge {
    let shared = Arc::new(SharedIndex::new(index(ids, blacklist)));
    let auth = Arc::new(Authenticator::new(shared.clone()));
    let edge = Edge::start(&config, auth, options).await.unwrap();
    let v4 = edge.addr("v4.1").unwrap();
    let v5 = edge.addr("v5.1").unwrap();
    TestEdge {
        edge,
        index: shared,
        v4,
        v5,
    }
}

pub const WAIT: Duration = Duration::from_secs(10);

/// Writes `bytes`, returns what came back before the peer closed (or `wait` passed) and
/// whether it closed.
pub async fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || mqid_test_support::mqtt::exchange(addr, &bytes, wait))
        .await
        .unwrap()
}
