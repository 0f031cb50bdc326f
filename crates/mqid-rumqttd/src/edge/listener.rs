//! One listener: accepts TCP connections and spawns a connection task for each.
//!
//! # Contract
//!
//! * No sleep after an accept unless `next_connection_delay_ms` asks for one (rumqttd's stock
//!   loop yields to the timer after every accept, about 1,000 accepts/s per listener).
//! * An accept error that concerns one connection (reset, aborted) is skipped at once. Any
//!   other (out of file descriptors, out of memory) backs off, doubling from 5 ms up to 1 s,
//!   and is logged at most once per [`ERROR_LOG_EVERY`] with the count of the ones left out:
//!   the loop never spins and never floods the log.
//! * The listener was bound before this loop starts (see [`Edge::start`](super::Edge::start)).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::protocol::{v4::V4, v5::V5};
use tokio::net::TcpListener;

use super::codes::Version;
use super::connection;
use super::stats::Close;
use super::transport::MqttSubprotocol;
use super::Shared;

/// At most one accept-error line per this interval and listener.
pub const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// What every connection of one listener shares.
pub(crate) struct ListenerContext {
    pub(crate) edge: Arc<Shared>,
    pub(crate) name: String,
    pub(crate) version: Version,
    pub(crate) connection_timeout: Duration,
    pub(crate) max_payload_size: usize,
    pub(crate) max_inflight_count: usize,
    pub(crate) dynamic_filters: bool,
    /// `tls` of the listener.
    pub(crate) tls: Option<super::transport::ServerTls>,
    /// A `[ws.N]` listener.
    pub(crate) websocket: bool,
}

/// Accepts forever.
pub(crate) async fn run(listener: TcpListener, l: Arc<ListenerContext>, delay: Duration) {
    let mut backoff = Duration::from_millis(5);
    let mut last_log: Option<Instant> = None;
    let mut left_out = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                spawn_connection(stream, peer, l.clone());
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Err(e) => {
                l.edge.counts.accept_errors.fetch_add(1, Relaxed);
                if per_connection(&e) {
                    continue;
                }
                if last_log.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) {
                    tracing::warn!(
                        listener = %l.name,
                        error = %e,
                        left_out,
                        "cannot accept connections (backing off up to 1 s; logged at most every \
                         {} s)",
                        ERROR_LOG_EVERY.as_secs()
                    );
                    last_log = Some(Instant::now());
                    left_out = 0;
                } else {
                    left_out += 1;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn spawn_connection(stream: tokio::net::TcpStream, peer: SocketAddr, l: Arc<ListenerContext>) {
    if l.tls.is_none() && !l.websocket {
        match l.version {
            Version::V4 => tokio::spawn(connection::serve(stream, peer, l, V4)),
            Version::V5 => tokio::spawn(connection::serve(stream, peer, l, V5)),
        };
        return;
    }
    // Handshakes run here, in the connection's task, within the CONNECT timeout.
    tokio::spawn(async move {
        let deadline = l.connection_timeout;
        match &l.tls {
            Some(tls) => match tokio::time::timeout(deadline, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    // rustls sets resumption data only on a resumed session.
                    let resumed = stream.get_ref().1.received_resumption_data().is_some();
                    l.edge.counts.tls_handshake(resumed);
                    over(stream, peer, l).await
                }
                _ => l.closed_early(Close::Handshake, peer, None),
            },
            None => over(stream, peer, l).await,
        }
    });
}

/// Serves `stream` as MQTT, or as a websocket carrying MQTT on a `[ws.N]` listener.
async fn over<S>(stream: S, peer: SocketAddr, l: Arc<ListenerContext>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if !l.websocket {
        return match l.version {
            Version::V4 => connection::serve(stream, peer, l, V4).await,
            Version::V5 => connection::serve(stream, peer, l, V5).await,
        };
    }
    let handshake = async_tungstenite::tokio::accept_hdr_async(stream, MqttSubprotocol);
    match tokio::time::timeout(l.connection_timeout, handshake).await {
        Ok(Ok(ws)) => {
            let stream = ws_stream_tungstenite::WsStream::new(ws);
            connection::serve(stream, peer, l, V4).await
        }
        _ => l.closed_early(Close::Handshake, peer, None),
    }
}

/// Errors about the one connection being accepted, not about the listener.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
