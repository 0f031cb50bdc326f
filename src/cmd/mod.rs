//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod emulator;
pub mod http;
pub mod serve;
pub mod sign;
pub mod sync;

use std::path::Path;

use anyhow::{Context, Result};
use mqid_sync::openapi::{Client, Credentials};
use mqid_sync::{AuthConfig, Loaded, OpenApiConfig, SourceKind};

/// The log level when `RUST_LOG` is not set. rumqttd logs every accepted connection at `info`,
/// which a CONNECT flood would turn into a log flood; its warnings and errors stay.
pub const DEFAULT_LOG: &str = "info,rumqttd=warn";

/// Logs to stderr; the level comes from `RUST_LOG` (default [`DEFAULT_LOG`]).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(RefusalEcho);
    tracing_subscriber::registry().with(filter).with(fmt).init();
}

/// Drops rumqttd's own error line for each refused CONNECT (`error=InvalidAuth`): mqid logs the
/// same refusal with its reason, rate-limited, and rumqttd's line, one per refusal at `error`,
/// would let a flood of bad CONNECTs flood the log.
struct RefusalEcho;

impl<S> tracing_subscriber::layer::Filter<S> for RefusalEcho {
    fn enabled(
        &self,
        _: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        true
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
        if !event.metadata().target().starts_with("rumqttd") {
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
    match auth.source {
        SourceKind::File => Ok(mqid_sync::file::Files::from_config(auth).load()?),
        SourceKind::Follower => http::follower_current_set(auth),
        SourceKind::Openapi => {
            let api = auth
                .openapi
                .as_ref()
                .expect("validated: [auth.openapi] is set");
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
