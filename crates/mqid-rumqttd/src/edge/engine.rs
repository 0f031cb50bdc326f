//! rumqttd's router, spawned by mqid, and the ways to attach to it.
//!
//! # Contract
//!
//! [`Engine::spawn`] starts rumqttd's `Router` on its own OS thread (as `rumqttd::Broker`
//! does). The router's sender has a type rumqttd does not export (`router::Event`), so the
//! engine keeps it inside closures: [`Engine::link`] builds a link (blocking: call it from
//! `spawn_blocking`), [`Engine::meters`] attaches a meters link, and [`Engine::stock_listener`]
//! runs rumqttd's own listener on the same router (for comparisons only; `mqid serve` never
//! does).
//!
//! The router reads one bounded queue (1,000 events). rumqttd's `LinkTx::send` is `async` but
//! pushes with flume's *blocking* `send`, so on a full queue it parks the tokio worker that
//! calls it (with 2 workers, two such sends stall every connection). A [`Link`] therefore comes
//! with a [`RouterNotify`]: packets go into the link's buffer (`LinkTx::buffer`, as rumqttd's
//! own remote link does) and the router is told with flume's `send_async`, which waits for room
//! as a future and never blocks the thread. The event it sends (rumqttd's private
//! `Event::DeviceData`, the one `LinkTx::send` sends) is taken from a scratch `LinkTx` built
//! with rumqttd's public `LinkTx::new` on a channel of the edge's own.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flume::r#async::SendFut;
use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::meters::MetersLink;
use rumqttd::{ConnectionId, Notification, RouterConfig, ServerSettings};

use super::codes::Version;

/// What a link to the router is built with.
pub struct LinkSpec<'a> {
    pub client_id: &'a str,
    pub clean_session: bool,
    pub dynamic_filters: bool,
    pub topic_alias_max: u16,
}

/// The router did not accept a link (its `max_connections`, a client id it rejects, or it
/// stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRefused;

/// A new link: its two halves, the router's CONNACK, and the way to tell the router without
/// blocking that the link's buffer holds packets.
pub type Link = (LinkTx, LinkRx, Notification, RouterNotify);

/// Tells the router that a link's buffer (`LinkTx::buffer`) holds packets, waiting for room in
/// its queue as a future (never blocking the thread). One per link.
pub struct RouterNotify {
    id: ConnectionId,
    inner: Box<dyn PollNotify>,
}

impl RouterNotify {
    /// One `DeviceData` event for this link: the router takes everything in its buffer.
    /// `Err` when the router dropped the link (a takeover) or stopped. Cancel-safe: an event
    /// left waiting by a dropped call is sent before this call's own.
    pub async fn notify(&mut self) -> Result<(), LinkRefused> {
        std::future::poll_fn(|cx| self.inner.poll_pending(cx)).await?;
        self.inner.start(self.id)?;
        std::future::poll_fn(|cx| self.inner.poll_pending(cx)).await
    }

    /// No event is waiting for room: every event started has reached the router's queue.
    pub fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }
}

/// [`RouterNotify`] without the router's private event type in its signature.
trait PollNotify: Send {
    /// Sends one event now, or leaves it waiting for room (see `poll_pending`).
    fn start(&mut self, id: ConnectionId) -> Result<(), LinkRefused>;
    /// Ready once no event is waiting for room.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkRefused>>;
    /// No event is waiting for room.
    fn is_idle(&self) -> bool;
}

/// Makes rumqttd's `DeviceData` events: a `LinkTx` on a channel of the edge's own (capacity 1,
/// emptied at once, so its blocking send never waits) whose scratch buffer is emptied again.
struct EventSource<E> {
    tx: LinkTx,
    rx: flume::Receiver<(ConnectionId, E)>,
}

impl<E> EventSource<E> {
    fn device_data(&mut self) -> Option<E> {
        // `publish` pushes an empty QoS 0 PUBLISH into the scratch buffer and sends DeviceData.
        self.tx.publish(Bytes::new(), Bytes::new()).ok()?;
        self.tx.buffer().clear();
        self.rx.try_recv().ok().map(|(_, event)| event)
    }
}

struct Notifier<E: 'static> {
    router: flume::Sender<(ConnectionId, E)>,
    source: EventSource<E>,
    /// A send waiting for room in the router's queue.
    pending: Option<SendFut<'static, (ConnectionId, E)>>,
}

impl<E: Send + 'static> PollNotify for Notifier<E> {
    fn start(&mut self, id: ConnectionId) -> Result<(), LinkRefused> {
        let event = self.source.device_data().ok_or(LinkRefused)?;
        match self.router.try_send((id, event)) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Disconnected(_)) => Err(LinkRefused),
            Err(flume::TrySendError::Full(item)) => {
                self.pending = Some(self.router.clone().into_send_async(item));
                Ok(())
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LinkRefused>> {
        let Some(fut) = &mut self.pending else {
            return Poll::Ready(Ok(()));
        };
        let sent = std::task::ready!(Pin::new(fut).poll(cx));
        self.pending = None;
        Poll::Ready(sent.map_err(|_| LinkRefused))
    }
}

type BuildLink = dyn Fn(LinkSpec<'_>) -> Result<Link, LinkRefused> + Send + Sync;
type BuildMeters = dyn Fn() -> Option<MetersLink> + Send + Sync;
type StockListener = dyn Fn(ServerSettings, Version, rumqttd::LinkType) -> Pin<Box<dyn Future<Output = ()> + Send>>
    + Send
    + Sync;

/// A running router.
#[derive(Clone)]
pub struct Engine {
    link: Arc<BuildLink>,
    meters: Arc<BuildMeters>,
    stock: Arc<StockListener>,
}

impl Engine {
    /// Starts rumqttd's router (`id`, `[broker.router]`) on a thread of its own.
    pub fn spawn(id: usize, config: RouterConfig) -> Engine {
        let tx = rumqttd::Router::new(id, config).spawn();
        let link_tx = tx.clone();
        let meters_tx = tx.clone();
        Engine {
            link: Arc::new(move |spec: LinkSpec<'_>| {
                let (tx, rx, connack) = LinkBuilder::new(spec.client_id, link_tx.clone())
                    .clean_session(spec.clean_session)
                    .dynamic_filters(spec.dynamic_filters)
                    .topic_alias_max(spec.topic_alias_max)
                    .build()
                    .map_err(|_| LinkRefused)?;
                let (scratch_tx, scratch_rx) = flume::bounded(1);
                let scratch = Arc::new(parking_lot::Mutex::new(VecDeque::new()));
                let notify = RouterNotify {
                    id: rx.id(),
                    inner: Box::new(Notifier {
                        router: link_tx.clone(),
                        source: EventSource {
                            tx: LinkTx::new(rx.id(), scratch_tx, scratch),
                            rx: scratch_rx,
                        },
                        pending: None,
                    }),
                };
                Ok((tx, rx, connack, notify))
            }),
            meters: Arc::new(move || MetersLink::new(meters_tx.clone()).ok()),
            stock: Arc::new(move |settings: ServerSettings, version: Version, kind| {
                let tx = tx.clone();
                Box::pin(async move {
                    let result = match version {
                        Version::V4 => {
                            rumqttd::Server::new(settings, tx, rumqttd::protocol::v4::V4)
                                .start(kind)
                                .await
                        }
                        Version::V5 => {
                            rumqttd::Server::new(settings, tx, rumqttd::protocol::v5::V5)
                                .start(kind)
                                .await
                        }
                    };
                    if let Err(e) = result {
                        tracing::error!(error = %e, "rumqttd's stock listener stopped");
                    }
                })
            }),
        }
    }

    /// Registers a link with the router and waits for its answer. Blocks the calling thread.
    pub fn link(&self, spec: LinkSpec<'_>) -> Result<Link, LinkRefused> {
        (self.link)(spec)
    }

    /// A meters link (rumqttd's router metrics), if the router takes one.
    pub fn meters(&self) -> Option<MetersLink> {
        (self.meters)()
    }

    /// rumqttd's own listener for `settings` on this router, as a future to spawn.
    pub fn stock_listener(
        &self,
        settings: ServerSettings,
        version: Version,
    ) -> impl Future<Output = ()> + Send + 'static {
        (self.stock)(settings, version, rumqttd::LinkType::Remote)
    }

    /// rumqttd's own websocket listener (MQTT 3.1.1) for `settings` on this router, as a
    /// future to spawn (for comparisons only).
    pub fn stock_websocket_listener(
        &self,
        settings: ServerSettings,
    ) -> impl Future<Output = ()> + Send + 'static {
        (self.stock)(settings, Version::V4, rumqttd::LinkType::Websocket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A [`RouterNotify`] on a queue of the test's own, of rumqttd's event type, with room for
    /// one event (rumqttd's router queue holds 1,000).
    fn on_queue(id: ConnectionId) -> (RouterNotify, impl Fn() -> Vec<ConnectionId>, impl FnOnce()) {
        let (router_tx, router_rx) = flume::bounded(1);
        let (scratch_tx, scratch_rx) = flume::bounded(1);
        let source = EventSource {
            tx: LinkTx::new(
                id,
                scratch_tx,
                Arc::new(parking_lot::Mutex::new(VecDeque::new())),
            ),
            rx: scratch_rx,
        };
        let notify = RouterNotify {
            id,
            inner: Box::new(Notifier {
                router: router_tx,
                source,
                pending: None,
            }),
        };
        // The router's end of the queue, shared by `drain` and `stop` (which drops it).
        let rx = std::rc::Rc::new(std::cell::RefCell::new(Some(router_rx)));
        let drain_rx = rx.clone();
        let drain = move || {
            let rx = drain_rx.borrow();
            let rx = rx.as_ref().expect("not stopped");
            rx.try_iter().map(|(id, _)| id).collect()
        };
        let stop = move || drop(rx.borrow_mut().take());
        (notify, drain, stop)
    }

    #[test]
    fn a_full_router_queue_makes_notify_wait_without_blocking_the_thread() {
        // One thread: had `notify` blocked on the full queue, nothing below would run.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut notify, drain, stop) = on_queue(7);
            notify.notify().await.unwrap();
            // The queue is full: the next event waits (the timeout fires on this thread).
            let waited = tokio::time::timeout(Duration::from_millis(50), notify.notify()).await;
            assert!(
                waited.is_err(),
                "notify returned although the queue was full"
            );
            // The event of the dropped call is not lost: it enters the queue once there is room.
            assert_eq!(drain(), vec![7, 7]);
            notify.notify().await.unwrap();
            assert_eq!(drain(), vec![7]);
            // A router that is gone is an error, not a hang.
            stop();
            assert_eq!(notify.notify().await, Err(LinkRefused));
        });
    }
}
