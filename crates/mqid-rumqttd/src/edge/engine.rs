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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::meters::MetersLink;
use rumqttd::{Notification, RouterConfig, ServerSettings};

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

/// A new link: its two halves and the router's CONNACK.
pub type Link = (LinkTx, LinkRx, Notification);

type BuildLink = dyn Fn(LinkSpec<'_>) -> Result<Link, LinkRefused> + Send + Sync;
type BuildMeters = dyn Fn() -> Option<MetersLink> + Send + Sync;
type StockListener =
    dyn Fn(ServerSettings, Version) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

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
                LinkBuilder::new(spec.client_id, link_tx.clone())
                    .clean_session(spec.clean_session)
                    .dynamic_filters(spec.dynamic_filters)
                    .topic_alias_max(spec.topic_alias_max)
                    .build()
                    .map_err(|_| LinkRefused)
            }),
            meters: Arc::new(move || MetersLink::new(meters_tx.clone()).ok()),
            stock: Arc::new(move |settings: ServerSettings, version: Version| {
                let tx = tx.clone();
                Box::pin(async move {
                    let result = match version {
                        Version::V4 => {
                            rumqttd::Server::new(settings, tx, rumqttd::protocol::v4::V4)
                                .start(rumqttd::LinkType::Remote)
                                .await
                        }
                        Version::V5 => {
                            rumqttd::Server::new(settings, tx, rumqttd::protocol::v5::V5)
                                .start(rumqttd::LinkType::Remote)
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
        (self.stock)(settings, version)
    }
}
