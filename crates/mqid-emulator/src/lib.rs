//! A local emulator of the ApsaraMQ for MQTT OpenAPI custom-auth queries, for tests and demos.
//!
//! It answers `QueryCustomAuthIdentity`, `QueryCustomAuthConnectBlack` and
//! `QueryCustomAuthPermission` (OnsMqtt `2020-04-20`, RPC style, `GET /` or `POST /` with a form
//! body) the way the real service does, from local JSON files, so that mqid's OpenAPI source, and Alibaba's own SDKs, can be run against it:
//!
//! * **Signatures** are checked as the gateway checks them: V3 `ACS3-HMAC-SHA256` (action in
//!   `x-acs-action`) or V1 RPC HMAC-SHA1 (action in the `Action` parameter), one configured
//!   AccessKey (and optionally an STS token), timestamps within 15 minutes, nonces never reused.
//!   `auth.rs` lists the checks and the error each failure gets.
//! * **Data** is the files' *current* content, checked on every request: a test can add and
//!   remove identities while a broker syncs. Records are served as they stand in the file
//!   (unvalidated), sorted by key; a file that does not parse is answered with `InternalError`
//!   (HTTP 500) and logged, never a crash. See `store.rs` for the formats.
//! * **Paging** follows the API: `Size` 1..=100 is required, `Data.NextToken` is present only
//!   while more results remain and is opaque (a Base64 cursor naming the last key served; see
//!   `token.rs`). Filters: `Username`, `IdentityType`, `ClientId` for identities, `ClientId`
//!   for the blacklist, `Identity`, `IdentityType`, `Topic` for permissions (exact values, as
//!   the API reference has them); an empty value is no filter.
//! * **Faults** ([`Faults`]): every Nth request throttled (`Throttling.User` with a `TimeLeft`
//!   hint), failed with 503 `ServiceUnavailable`, or cut without an answer, plus added latency;
//!   and an [`AnswerFault`] in every answer: a body that is not JSON, cut, truncated, huge or
//!   stalled, records of the wrong types, more records than `Size`, a `NextToken` that loops, a
//!   reset connection, or the errors of a skewed clock and of expired credentials. Adjustable at
//!   run time through [`FaultControl`].
//!
//! Successful answers are
//! `{"RequestId","Code":200,"Success":true,"Message":"operation success.","Data":{"Results":[…],"NextToken"?}}`,
//! errors `{"RequestId","HostId","Code","Message"}`; both are JSON whatever `Format` asks.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mqid_emulator::{Emulator, EmulatorConfig, Faults};
//!
//! let cfg = EmulatorConfig::new("identities.json", "LTAI-test", "test-secret");
//! let emu = Emulator::bind("127.0.0.1:0", cfg.clone()).await?;
//! let endpoint = emu.endpoint(); // http://127.0.0.1:<port>
//! emu.faults().set(&Faults { throttle_every: 3, ..Faults::none() });
//! let addr = emu.local_addr();
//! emu.shutdown().await; // connections cut, port closed
//! let emu = Emulator::bind(addr, cfg).await?; // back on the same port
//! # drop((endpoint, emu)); Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod api;
mod auth;
mod body;
mod error;
mod faults;
mod server;
mod store;
mod token;
pub mod verify;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mqid_core::Secret;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use auth::MAX_CLOCK_SKEW;
pub use faults::{AnswerFault, FaultControl, Faults, HUGE_BODY_BYTES, STALL};

/// The instance id served when none is configured.
pub const DEFAULT_INSTANCE_ID: &str = "mqtt-local";

/// What the emulator serves and whom it lets in. Each field is one flag of
/// `mqid openapi-emulator`.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// `--identities FILE`: JSON array of identity records (API field names: `Username`,
    /// `Secret`, `IdentityType`, `ClientId`, `SignMode`), the format mqid's file source reads.
    pub identities: PathBuf,
    /// `--blacklist FILE`: JSON array of `{"ClientId","PermitAction":"CONNECT","Effect":"DENY"}`
    /// records or of plain client-id strings. Without it the blacklist is empty.
    pub blacklist: Option<PathBuf>,
    /// `--permissions FILE`: JSON array of permission records (`Identity`, `IdentityType`,
    /// `Topic`, `PermitAction`, `Effect`), the format of mqid's rules file. Without it the list
    /// is empty.
    pub permissions: Option<PathBuf>,
    /// `--access-key-id ID`: the only AccessKey id accepted.
    pub access_key_id: String,
    /// `--access-key-secret SECRET`.
    pub access_key_secret: Secret,
    /// `--security-token TOKEN`: when set, every request must carry this STS token
    /// (`x-acs-security-token` for V3, `SecurityToken` for V1).
    pub security_token: Option<Secret>,
    /// `--instance-id ID` (default [`DEFAULT_INSTANCE_ID`]): the only `InstanceId` served;
    /// another gets `InstanceNotFound`.
    pub instance_id: String,
    /// Fault flags: `--throttle-every N`, `--throttle-status 400|429`,
    /// `--throttle-time-left-ms MS`, `--unavailable-every N`, `--drop-every N`, `--latency-ms MS`,
    /// `--answer-fault NAME`, `--answer-fault-later-pages`.
    pub faults: Faults,
}

impl EmulatorConfig {
    /// A configuration with no blacklist, no permissions, no STS token, the default instance id and no faults.
    pub fn new(
        identities: impl Into<PathBuf>,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
    ) -> Self {
        EmulatorConfig {
            identities: identities.into(),
            blacklist: None,
            permissions: None,
            access_key_id: access_key_id.into(),
            access_key_secret: Secret::new(access_key_secret),
            security_token: None,
            instance_id: DEFAULT_INSTANCE_ID.to_owned(),
            faults: Faults::none(),
        }
    }
}

fn state(cfg: EmulatorConfig, faults: FaultControl) -> Arc<api::State> {
    Arc::new(api::State {
        creds: auth::Credentials {
            access_key_id: cfg.access_key_id,
            access_key_secret: cfg.access_key_secret,
            security_token: cfg.security_token,
        },
        nonces: auth::Nonces::default(),
        instance_id: cfg.instance_id,
        identities: Arc::new(store::ServedFile::new(
            cfg.identities,
            store::Kind::Identities,
        )),
        blacklist: cfg
            .blacklist
            .map(|p| Arc::new(store::ServedFile::new(p, store::Kind::Blacklist))),
        permissions: cfg
            .permissions
            .map(|p| Arc::new(store::ServedFile::new(p, store::Kind::Permissions))),
        faults,
    })
}

/// Serves on `listener` until the task is dropped. (For a CLI that stops on a signal, see
/// [`serve_until`].)
pub async fn serve(listener: TcpListener, cfg: EmulatorConfig) -> std::io::Result<()> {
    serve_until(listener, cfg, std::future::pending()).await
}

/// Serves on `listener` until `shutdown` completes, then closes the listener and cuts every
/// connection.
pub async fn serve_until(
    listener: TcpListener,
    cfg: EmulatorConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let faults = FaultControl::new(&cfg.faults);
    log_start(&listener, &cfg);
    server::run(listener, state(cfg, faults), shutdown).await
}

fn log_start(listener: &TcpListener, cfg: &EmulatorConfig) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            "OpenAPI emulator on http://{addr}: instance {:?}, identities {}, blacklist {}, permissions {}",
            cfg.instance_id,
            cfg.identities.display(),
            cfg.blacklist
                .as_ref()
                .map_or("(none)".to_owned(), |p| p.display().to_string()),
            cfg.permissions
                .as_ref()
                .map_or("(none)".to_owned(), |p| p.display().to_string())
        );
    }
}

/// A running emulator, for tests: knows its address, adjusts faults, stops. Dropping it stops
/// the emulator too (without waiting).
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    faults: FaultControl,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Emulator {
    /// Binds `addr` (e.g. `127.0.0.1:0`, or the address of an emulator stopped earlier) and
    /// starts serving on the current tokio runtime.
    pub async fn bind(addr: impl ToSocketAddrs, cfg: EmulatorConfig) -> std::io::Result<Self> {
        Self::start(TcpListener::bind(addr).await?, cfg)
    }

    /// Starts serving on `listener`, on the current tokio runtime.
    pub fn start(listener: TcpListener, cfg: EmulatorConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let faults = FaultControl::new(&cfg.faults);
        log_start(&listener, &cfg);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, state(cfg, faults.clone()), async {
            let _ = stopped.await; // a dropped sender stops it as well
        }));
        Ok(Emulator {
            addr,
            faults,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the endpoint to give a client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The faults in force; changes apply from the next request.
    pub fn faults(&self) -> &FaultControl {
        &self.faults
    }

    /// How many HTTP requests it has received.
    pub fn requests(&self) -> u64 {
        self.faults.requests()
    }

    /// Stops: closes the listener, cuts every connection, and returns once the port is free to
    /// bind again.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("emulator stopped with an error: {e}"),
                Err(e) => tracing::warn!("emulator task failed: {e}"),
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
