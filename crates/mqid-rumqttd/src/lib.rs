//! Installs mqid's CONNECT decision on every listener of a rumqttd broker.
//!
//! rumqttd calls an auth handler per listener with `(client_id, username, password)` and takes
//! a `bool`. [`install`] sets one [`Authenticator`] on every `v4.*`, `v5.*` and `ws.*` listener.
//! The handler decides inline: a decision is a lock-free index load, one or two hash lookups and
//! at most one HMAC-SHA1 over the client id, well under the cost of the CONNECT's own syscalls,
//! so it never needs a thread hop and never blocks the listener's single-threaded runtime.
//!
//! What rumqttd's hook cannot do (see the README): it sends no CONNACK on refusal (the socket is
//! closed), and it gives no peer address or protocol version.
#![forbid(unsafe_code)]

mod refusal_log;

use std::sync::Arc;

use mqid_core::{Connect, Decision, SharedIndex};
use rumqttd::{Config, ServerSettings};

pub use refusal_log::RefusalLog;

/// The CONNECT check that rumqttd's listeners call.
pub struct Authenticator {
    index: Arc<SharedIndex>,
    refusals: RefusalLog,
}

impl Authenticator {
    /// Decides against whatever index `index` holds at each CONNECT.
    pub fn new(index: Arc<SharedIndex>) -> Self {
        Authenticator {
            index,
            refusals: RefusalLog::default(),
        }
    }

    /// The index this authenticator reads.
    pub fn index(&self) -> &Arc<SharedIndex> {
        &self.index
    }

    /// Decides one CONNECT and logs a refusal (rate-limited). Never logs the password.
    pub fn authenticate(&self, client_id: &str, username: &str, password: &str) -> bool {
        let index = self.index.load();
        let connect = Connect {
            client_id,
            username,
            password: password.as_bytes(),
        };
        match index.decide(&connect) {
            Decision::Admit(identity) => {
                tracing::debug!(
                    username = ?refusal_log::clip(username),
                    client_id = ?refusal_log::clip(client_id),
                    identity_type = identity.identity_type.as_str(),
                    sign_mode = identity.sign_mode.as_str(),
                    "CONNECT admitted"
                );
                true
            }
            Decision::Refuse(reason) => {
                self.refusals.refused(username, client_id, reason);
                false
            }
        }
    }
}

/// Why the decision could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the broker configuration has no [v4.*], [v5.*] or [ws.*] listener")]
    NoListeners,
    #[error(
        "listener [{section}.{key}] sets connections.auth, rumqttd's static password map; mqid \
         replaces it on every listener, so remove it to avoid a false sense of what is checked"
    )]
    StaticAuth { section: &'static str, key: String },
}

/// Sets `auth` as the CONNECT check of every `v4`, `v5` and `ws` listener of `config`. Returns
/// the number of listeners it was set on.
pub fn install(config: &mut Config, auth: Arc<Authenticator>) -> Result<usize, InstallError> {
    let mut count = 0;
    for (section, listeners) in [
        ("v4", config.v4.as_mut()),
        ("v5", config.v5.as_mut()),
        ("ws", config.ws.as_mut()),
    ] {
        let Some(listeners) = listeners else { continue };
        for (key, server) in listeners.iter_mut() {
            if server.connections.auth.is_some() {
                return Err(InstallError::StaticAuth {
                    section,
                    key: key.clone(),
                });
            }
            set_handler(server, auth.clone());
            count += 1;
        }
    }
    if count == 0 {
        return Err(InstallError::NoListeners);
    }
    Ok(count)
}

fn set_handler(server: &mut ServerSettings, auth: Arc<Authenticator>) {
    server.set_auth_handler(
        move |client_id: String, username: String, password: String| {
            let admitted = auth.authenticate(&client_id, &username, &password);
            std::future::ready(admitted)
        },
    );
}

/// The listeners of `config`, as `(section.key, name, address)`, for the start-up log line.
pub fn listeners(config: &Config) -> Vec<(String, String, std::net::SocketAddr)> {
    let mut out = Vec::new();
    for (section, listeners) in [
        ("v4", config.v4.as_ref()),
        ("v5", config.v5.as_ref()),
        ("ws", config.ws.as_ref()),
    ] {
        for (key, s) in listeners.into_iter().flatten() {
            out.push((format!("{section}.{key}"), s.name.clone(), s.listen));
        }
    }
    out.sort();
    out
}
