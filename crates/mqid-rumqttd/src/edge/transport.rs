//! TLS and websocket under the MQTT connection, with rumqttd's own config keys.
//!
//! # Contract
//!
//! * `tls = { certpath, keypath }` (rumqttd's `TlsConfig::Rustls`) on a `[v4.N]`, `[v5.N]` or
//!   `[ws.N]` listener: the certificate chain and key are read at start-up (a bad file stops
//!   start-up naming it) and each handshake runs in its connection's task, never in the accept
//!   loop, within `connection_timeout_ms`.
//! * Sessions resume with stateless TLS 1.3 tickets (one per connection, sealed with a key of
//!   the process that rotates every 6 hours), so a fleet of any size resumes; rustls' default
//!   (which rumqttd's own listener keeps) is a cache of 256 sessions. A restart forgets the key:
//!   devices then make full handshakes.
//! * `capath` (client certificates) and `pkcs12path` (native TLS) are refused at start-up:
//!   rumqttd's default build ignores `capath` with a warning, which would let a deployment
//!   believe clients are verified.
//! * `[ws.N]`: the websocket handshake (answering `Sec-WebSocket-Protocol: mqtt`, as rumqttd
//!   does) also runs in the connection's task within `connection_timeout_ms`; MQTT 3.1.1 runs
//!   over it, as on rumqttd's websocket listeners.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::HeaderValue;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::EdgeError;

/// The TLS acceptor for `tls` on listener `key`.
pub(crate) fn acceptor(key: &str, tls: &rumqttd::TlsConfig) -> Result<TlsAcceptor, EdgeError> {
    let bad = |what: String| EdgeError::Tls(format!("[broker.{key}] tls: {what}"));
    let (certpath, keypath) = match tls {
        rumqttd::TlsConfig::Rustls {
            capath: Some(_), ..
        } => {
            return Err(bad(
                "capath (client certificate verification) is not supported by mqid's edge; \
                 remove it (clients authenticate with their MQTT credentials)"
                    .into(),
            ))
        }
        rumqttd::TlsConfig::Rustls {
            certpath, keypath, ..
        } => (certpath, keypath),
        rumqttd::TlsConfig::NativeTls { .. } => {
            return Err(bad(
                "pkcs12path (native TLS) is not supported; use certpath and keypath (PEM)".into(),
            ))
        }
    };
    let open = |path: &str| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|e| bad(format!("cannot read {path}: {e}")))
    };
    let certs = rustls_pemfile::certs(&mut open(certpath)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{certpath} is not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(bad(format!("{certpath} holds no certificate")));
    }
    let key = rustls_pemfile::private_key(&mut open(keypath)?)
        .map_err(|e| bad(format!("{keypath}: {e}")))?
        .ok_or_else(|| bad(format!("{keypath} holds no private key")))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("{certpath} / {keypath}: {e}")))?;
    // Sessions resume across the whole fleet: stateless tickets (sealed with a key of this
    // process that rotates every 6 hours) instead of rustls' default cache of 256 sessions,
    // which a fleet larger than that evicts before its devices come back. One ticket per
    // connection: an MQTT device holds one connection and resumes it once.
    config.ticketer = tokio_rustls::rustls::crypto::ring::Ticketer::new()
        .map_err(|e| bad(format!("session tickets: {e}")))?;
    config.send_tls13_tickets = 1;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Answers the websocket handshake with `Sec-WebSocket-Protocol: mqtt`.
pub(crate) struct MqttSubprotocol;

impl Callback for MqttSubprotocol {
    fn on_request(self, _: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        response
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    }
}
