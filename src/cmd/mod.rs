//! One module per subcommand.

#[cfg(feature = "dev-tools")]
pub mod bench;
pub mod check;
#[cfg(feature = "dev-tools")]
pub mod emulator;
pub mod http;
pub mod serve;
pub mod shutdown;
pub mod sign;
pub mod sync;

use std::path::Path;

use anyhow::{Context, Result};
use mqid_sync::openapi::{Client, Credentials};
use mqid_sync::{AuthConfig, Loaded, OpenApiConfig, SourceConfig};

/// The log level when `RUST_LOG` is not set. rumqttd logs every accepted connection at `info`,
/// which a CONNECT flood would turn into a log flood; its warnings and errors stay.
pub const DEFAULT_LOG: &str = "info,rumqttd=warn";

/// Logs to stderr; the level comes from `RUST_LOG` (default [`DEFAULT_LOG`]). With the default,
/// rumqttd's router spans are off as well (see [`RouterSpansOff`]).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let spans_off = from_env.is_none().then_some(RouterSpansOff);
    let filter = from_env.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(RefusalEcho);
    tracing_subscriber::registry()
        .with(spans_off)
        .with(filter)
        .with(fmt)
        .init();
}

/// Turns off, for good (`Interest::never`, decided once per callsite), the spans of rumqttd's
/// router. It opens `error`-level spans per event and per PUBLISH (`[>] incoming`,
/// `incoming_payload`, `publish` with the topic formatted into it), which `rumqttd=warn` keeps
/// enabled: creating and formatting them cost about a third of the broker's message rate. The
/// router's warnings and errors stay, without that span prefix; the per-connection span
/// (`remote_link`, with the client id) stays. Used with the default log level only: a `RUST_LOG`
/// set by hand is followed as written.
pub struct RouterSpansOff;

impl RouterSpansOff {
    fn off(meta: &tracing::Metadata<'_>) -> bool {
        meta.is_span() && meta.target().starts_with("rumqttd::router")
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RouterSpansOff {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::off(meta) {
            tracing::subscriber::Interest::never()
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !Self::off(meta)
    }
}

/// Drops rumqttd's own error line for each refused CONNECT (`error=InvalidAuth`): mqid logs the
/// same refusal with its reason, rate-limited, and rumqttd's line, one per refusal at `error`,
/// would let a flood of bad CONNECTs flood the log.
struct RefusalEcho;

impl RefusalEcho {
    /// Only rumqttd's events can be the echo; everything else passes without a look.
    fn may_echo(meta: &tracing::Metadata<'_>) -> bool {
        meta.is_event() && meta.target().starts_with("rumqttd")
    }
}

impl<S> tracing_subscriber::layer::Filter<S> for RefusalEcho {
    fn enabled(
        &self,
        _: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        true
    }

    /// Decided once per callsite: always, except for rumqttd's events, whose fields are looked
    /// at (the default, `sometimes`, would ask again at every span and event).
    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::may_echo(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        struct IsInvalidAuth(bool);
        impl tracing::field::Visit for IsInvalidAuth {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "error" && format!("{value:?}") == "InvalidAuth" {
                    self.0 = true;
                }
            }
        }
        if !Self::may_echo(event.metadata()) {
            return true;
        }
        let mut v = IsInvalidAuth(false);
        event.record(&mut v);
        !v.0
    }
}

/// The OpenAPI client for `[auth.openapi]`, with credentials from the environment.
pub fn openapi_client(api: &OpenApiConfig) -> Result<Client> {
    let credentials = Credentials::from_env()?;
    Ok(Client::new(api, credentials)?)
}

/// The identities and topic rules the configured source holds right now, for commands that do
/// not serve: the files; for the OpenAPI source the snapshot when there is a usable one, else one
/// pass.
pub fn current_set(auth: &AuthConfig) -> Result<Loaded> {
    match &auth.source {
        SourceConfig::File(f) => Ok(mqid_sync::file::Files::from_config(f).load()?),
        SourceConfig::Follower(f) => http::follower_current_set(f, auth),
        SourceConfig::Openapi(api) => {
            if let Some(loaded) = mqid_sync::refresh::load_snapshot_for(api) {
                return Ok(loaded);
            }
            let client = openapi_client(api)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (loaded, _) = rt.block_on(client.pass())?;
            Ok(loaded)
        }
    }
}

/// Reads the config and says where it came from on error.
pub fn load_config(path: &Path) -> Result<crate::config::MqidConfig> {
    crate::config::load(path).with_context(|| "the broker was not started".to_string())
}
