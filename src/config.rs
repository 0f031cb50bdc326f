//! `mqid.toml`: the broker's own configuration under `[broker]`, mqid's under `[auth]`, and the
//! HTTP decisions for other brokers under `[http]` (`[broker]`, `[http]` or both).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mqid_sync::{AuthConfig, AuthTable};
use serde::Deserialize;

/// The whole file, checked. `[broker]` is rumqttd's `Config`, key for key as in `rumqttd.toml`.
#[derive(Debug)]
pub struct MqidConfig {
    pub broker: Option<rumqttd::Config>,
    pub auth: AuthConfig,
    /// `[http]`: mqid's decisions over HTTP for clustered brokers (README "Clustered brokers").
    pub http: Option<mqid_http::HttpConfig>,
    /// mqid's listeners beyond rumqttd's keys (`[edge]`, optional).
    pub edge: EdgeConfig,
}

/// The whole file as written; [`load`] checks it into a [`MqidConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MqidFile {
    broker: Option<rumqttd::Config>,
    auth: AuthTable,
    http: Option<mqid_http::HttpConfig>,
    #[serde(default)]
    edge: EdgeConfig,
}

/// `[edge]`: what mqid's listeners do beyond rumqttd's own listener keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// Sessions disconnected per second at most after the index revokes them (identity removed,
    /// re-keyed or blacklisted), so that a re-keyed fleet does not reconnect all at once.
    pub revoke_per_sec: u32,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            revoke_per_sec: 100,
        }
    }
}

/// Reads, checks and resolves `path`. `[auth]` is strict: an unknown key there is an error that
/// names it. `[broker]` is as lenient as rumqttd itself (every file rumqttd accepts is accepted):
/// an unknown key there is logged as a warning that names it. When the file cannot be read as a
/// configuration (a required key missing, say), the unknown keys are named with the error, since
/// one of them is probably the misspelt key. Relative paths resolve against the file's folder.
pub fn load(path: &Path) -> Result<MqidConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let mut unknown = Vec::new();
    let parsed: Result<MqidFile, _> =
        serde_ignored::deserialize(toml::Deserializer::new(&text), |key| {
            // serde_ignored marks an Option level with `?` (`broker.v4.?.1`): not a key a user
            // writes.
            unknown.push(key.to_string().replace(".?", ""))
        });
    let file = match parsed {
        Ok(c) => c,
        Err(e) if unknown.is_empty() => bail!("config {}: {e}", path.display()),
        Err(e) => bail!(
            "config {}: {e}\nalso found {}: a misspelling of what is missing?",
            path.display(),
            unknown_keys(&unknown)
        ),
    };
    let (broker_only, strict): (Vec<String>, Vec<String>) =
        unknown.into_iter().partition(|k| k.starts_with("broker."));
    if !strict.is_empty() {
        bail!("config {}: {}", path.display(), unknown_keys(&strict));
    }
    if !broker_only.is_empty() {
        tracing::warn!(
            "config {}: {} ignored, as rumqttd ignores them (a misspelling?)",
            path.display(),
            unknown_keys(&broker_only)
        );
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let auth = file
        .auth
        .validate(&base)
        .with_context(|| format!("config {}", path.display()))?;
    let mut config = MqidConfig {
        broker: file.broker,
        auth,
        http: file.http,
        edge: file.edge,
    };
    if config.edge.revoke_per_sec == 0 {
        bail!(
            "config {}: [edge] revoke_per_sec must be at least 1",
            path.display()
        );
    }
    match (&mut config.broker, &mut config.http) {
        (None, None) => bail!(
            "config {}: nothing to serve: add [broker] (mqid's own MQTT broker), [http] (decisions \
             for other brokers over HTTP) or both",
            path.display()
        ),
        (broker, http) => {
            if let Some(broker) = broker {
                resolve_tls_paths(broker, &base);
            }
            if let Some(token) = http.as_mut().and_then(|h| h.token_file.as_mut()) {
                *token = base.join(&*token);
            }
        }
    }
    Ok(config)
}

fn unknown_keys(keys: &[String]) -> String {
    format!(
        "unknown key{} {}",
        if keys.len() > 1 { "s" } else { "" },
        keys.join(", ")
    )
}

fn resolve_tls_paths(broker: &mut rumqttd::Config, base: &Path) {
    let join = |p: &mut String| {
        if Path::new(p.as_str()).is_relative() {
            *p = base.join(&*p).to_string_lossy().into_owned();
        }
    };
    for listeners in [&mut broker.v4, &mut broker.v5, &mut broker.ws]
        .into_iter()
        .flatten()
    {
        for server in listeners.values_mut() {
            match server.tls.as_mut() {
                Some(rumqttd::TlsConfig::Rustls {
                    capath,
                    certpath,
                    keypath,
                }) => {
                    capath.iter_mut().for_each(join);
                    join(certpath);
                    join(keypath);
                }
                Some(rumqttd::TlsConfig::NativeTls { pkcs12path, .. }) => join(pkcs12path),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKER: &str = r#"
[broker]
id = 0
[broker.router]
max_connections = 100
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[broker.v4.1]
name = "v4-1"
listen = "127.0.0.1:1883"
next_connection_delay_ms = 1
[broker.v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = 20480
max_inflight_count = 100
"#;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("mqid.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn relative_file_resolves_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            &format!("{BROKER}\n[auth]\nsource = \"file\"\nfile = \"ids.json\"\n"),
        );
        let c = load(&p).unwrap();
        let mqid_sync::SourceConfig::File(f) = c.auth.source else {
            panic!("not the file source: {:?}", c.auth.source);
        };
        assert_eq!(f.files.identities, dir.path().join("ids.json"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        // [broker] is as lenient as rumqttd: an unknown key there is a warning, not an error
        let p = write(
            dir.path(),
            &format!("{BROKER}max_fun = 3\n[auth]\nsource = \"file\"\nfile = \"x\"\n"),
        );
        assert!(load(&p).is_ok());
        let p = write(
            dir.path(),
            &format!("{BROKER}\n[auth]\nsource = \"file\"\nfile = \"x\"\n[brokr]\nid = 1\n"),
        );
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("brokr"), "{e}");

        let p = write(
            dir.path(),
            &format!("{BROKER}\n[auth]\nsource = \"file\"\nfile = \"x\"\nfiel = \"y\"\n"),
        );
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("fiel"), "{e}");
    }

    /// Issue 12, item 4: a misspelt required key is named next to the missing one.
    #[test]
    fn a_misspelt_required_broker_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let auth = "\n[auth]\nsource = \"file\"\nfile = \"x\"\n";
        let text = BROKER.replace("max_inflight_count", "max_inflight_cout");
        let e = format!(
            "{:#}",
            load(&write(dir.path(), &format!("{text}{auth}"))).unwrap_err()
        );
        assert!(e.contains("missing field `max_inflight_count`"), "{e}");
        assert!(
            e.contains("unknown key broker.v4.1.connections.max_inflight_cout"),
            "{e}"
        );
        let text = BROKER.replace("[broker.router]", "[broker.routr]");
        let e = format!(
            "{:#}",
            load(&write(dir.path(), &format!("{text}{auth}"))).unwrap_err()
        );
        assert!(e.contains("missing field `router`"), "{e}");
        assert!(e.contains("unknown key broker.routr"), "{e}");
    }

    #[test]
    fn limits_table_parses_and_its_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            &format!(
                "{BROKER}\n[auth]\nsource = \"file\"\nfile = \"x\"\n\
                 [auth.limits]\nmax_failures = 3\ncooldown_secs = 30\n"
            ),
        );
        let limits = load(&p).unwrap().auth.limits;
        assert!(limits.enabled);
        assert_eq!((limits.max_failures, limits.cooldown_secs), (3, 30));
        assert_eq!(limits.window_secs, 60);

        let p = write(
            dir.path(),
            &format!(
                "{BROKER}\n[auth]\nsource = \"file\"\nfile = \"x\"\n\
                 [auth.limits]\nmax_failure = 3\n"
            ),
        );
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("max_failure"), "{e}");

        let p = write(
            dir.path(),
            &format!(
                "{BROKER}\n[auth]\nsource = \"file\"\nfile = \"x\"\n\
                 [auth.limits]\nmax_failures = 0\n"
            ),
        );
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("[auth] limits.max_failures"), "{e}");
    }

    #[test]
    fn http_alone_is_a_config_and_nothing_to_serve_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let auth = "[auth]\nsource = \"file\"\nfile = \"x\"\n";
        let p = write(
            dir.path(),
            &format!("[http]\nlisten = \"127.0.0.1:9\"\ntoken_file = \"t\"\n{auth}"),
        );
        let c = load(&p).unwrap();
        assert!(c.broker.is_none());
        let http = c.http.unwrap();
        assert_eq!(http.listen.port(), 9);
        assert_eq!(http.token_file.unwrap(), dir.path().join("t"));

        let p = write(dir.path(), auth);
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("[broker]") && e.contains("[http]"), "{e}");

        let p = write(dir.path(), &format!("[http]\nlisen = \"x\"\n{auth}"));
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("lisen"), "{e}");
    }

    #[test]
    fn missing_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            &format!("{BROKER}\n[auth]\nsource = \"file\"\n"),
        );
        let e = format!("{:#}", load(&p).unwrap_err());
        assert!(e.contains("[auth] file"), "{e}");
    }
}
