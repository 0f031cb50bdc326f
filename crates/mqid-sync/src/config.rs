//! The `[auth]` table of `mqid.toml`: which source feeds the index, and how.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mqid_core::limit::{InvalidSetting, LimitsConfig};
use serde::Deserialize;

/// `source = ...`: which source the table's other keys are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SourceKind {
    File,
    Openapi,
    Follower,
}

/// `[auth]` as written in `mqid.toml`: `source` and the keys of every source side by side.
/// [`AuthTable::validate`] checks it and makes it an [`AuthConfig`], where only the chosen
/// source's settings exist.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthTable {
    source: SourceKind,
    /// With `source = "file"`: the JSON array of identity records.
    file: Option<PathBuf>,
    /// With `source = "file"`: how often the file is checked for changes, in milliseconds.
    #[serde(default = "default_watch_interval_ms")]
    watch_interval_ms: u64,
    /// With `source = "openapi"`: `[auth.openapi]`.
    openapi: Option<OpenApiConfig>,
    /// With `source = "follower"`: `[auth.follower]`.
    follower: Option<FollowerConfig>,
    /// `[auth.limits]`: failed-auth limiting, on by default.
    #[serde(default)]
    limits: LimitsConfig,
    /// Topic permissions: `permissions = "rules.json"` (the file source's rules file, short for
    /// `[auth.permissions] file = "rules.json"`) or the `[auth.permissions]` table.
    #[serde(default)]
    permissions: PermissionsTable,
    /// Whether a set with no identity may replace the index (see [`crate::guard`]).
    #[serde(default)]
    allow_empty: bool,
    /// The largest share of the identities in force, in percent, that one new set may remove;
    /// 100 = any (see [`crate::guard`]).
    #[serde(default = "default_max_removal_percent")]
    max_removal_percent: u32,
}

fn default_max_removal_percent() -> u32 {
    crate::guard::Guard::default().max_removal_percent
}

/// `[auth]`, checked, with relative paths resolved: the source and its settings, and what
/// every source shares.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub source: SourceConfig,
    /// `[auth.limits]`: failed-auth limiting.
    pub limits: LimitsConfig,
    /// What the topic rules do where none matches, and to a refused PUBLISH.
    pub permissions: PermissionsConfig,
    /// `allow_empty` and `max_removal_percent`: what a new set may not do to the index.
    pub guard: crate::guard::Guard,
}

/// The source that feeds the index, with its own settings.
#[derive(Clone, Debug)]
pub enum SourceConfig {
    /// `source = "file"`: local JSON files, reloaded when they change.
    File(FileSource),
    /// `source = "openapi"`: ApsaraMQ for MQTT's OpenAPI (`QueryCustomAuth*`).
    Openapi(OpenApiConfig),
    /// `source = "follower"`: another mqid (the leader, which syncs) serving its last-good
    /// snapshot over HTTP.
    Follower(FollowerConfig),
}

/// `source = "file"`: the files (absolute paths) and how often they are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSource {
    /// `file` and `[auth] permissions` (or `[auth.permissions] file`).
    pub files: crate::file::Files,
    /// `watch_interval_ms`, at least 1 ms.
    pub watch_interval: Duration,
}

/// What a refused PUBLISH does to the session (read by the broker's edge).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    /// The PUBLISH is dropped (MQTT 5 answers PUBACK/PUBREC with 0x87 Not authorized); the
    /// session stays.
    #[default]
    Ignore,
    /// The session is disconnected.
    Disconnect,
}

/// What the topic rules do where none matches, and to a refused PUBLISH (`[auth.permissions]`
/// `no_match`, `deny_action`; the file source's rules file is in [`FileSource`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PermissionsConfig {
    /// A topic that no applicable rule matches: `"deny"` (default, as in the cloud) or
    /// `"allow"` (for brokers that use identities only).
    pub no_match: mqid_core::NoMatch,
    /// What a refused PUBLISH does: `"ignore"` (default) or `"disconnect"`.
    pub deny_action: DenyAction,
}

/// `[auth.permissions]`, or the short form `[auth] permissions = "FILE"`.
///
/// `[auth] permissions` and `[auth.permissions]` are one TOML key, so a file together with the
/// other settings is written as the table: `[auth.permissions]` `file = "permissions.json"`,
/// `no_match = "allow"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PermissionsTable {
    /// With `source = "file"`: the JSON array of permission records (the API's format),
    /// reloaded with the identities file. Without it the file source enforces no topic rules.
    file: Option<PathBuf>,
    rules: PermissionsConfig,
}

/// The keys of the table form.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PermissionsKeys {
    file: Option<PathBuf>,
    no_match: mqid_core::NoMatch,
    deny_action: DenyAction,
}

impl<'de> Deserialize<'de> for PermissionsTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PermissionsTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a rules file path, or a table of file, no_match and deny_action")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PermissionsTable {
                    file: Some(PathBuf::from(v)),
                    rules: PermissionsConfig::default(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let t = PermissionsKeys::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(PermissionsTable {
                    file: t.file,
                    rules: PermissionsConfig {
                        no_match: t.no_match,
                        deny_action: t.deny_action,
                    },
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// What to do when no pass has succeeded for `max_staleness_secs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStale {
    /// Keep serving the last good index, and warn.
    #[default]
    Serve,
    /// Refuse every CONNECT (`stale`) until a pass succeeds.
    Refuse,
}

fn default_watch_interval_ms() -> u64 {
    1000
}

/// Which request signature the OpenAPI client sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    /// ACS3-HMAC-SHA256, what the current official SDKs send.
    #[default]
    V3,
    /// RPC HMAC-SHA1.
    V1,
}

/// `[auth.openapi]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// Default `https://onsmqtt.<region_id>.aliyuncs.com`.
    pub endpoint: Option<String>,
    pub region_id: String,
    pub instance_id: String,
    /// Records per page, 1..=100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds between the starts of two passes (jittered by up to 10%).
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    #[serde(default)]
    pub signature: SignatureVersion,
    /// Pacing of requests, far below the 300 QPS per source IP at which the API blocks.
    #[serde(default = "default_max_rps")]
    pub max_requests_per_sec: f64,
    /// Last-good snapshot, written after every complete pass, loaded first at start-up.
    pub snapshot: Option<PathBuf>,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Retries allowed in one pass before it is abandoned.
    #[serde(default = "default_retry_budget")]
    pub max_retries_per_pass: u32,
    /// The index is *stale* when no pass has succeeded for this long (seconds; the snapshot's
    /// own age counts at start-up); 0 = never. Unset: follows `refresh_secs`, see
    /// [`OpenApiConfig::max_staleness`].
    #[serde(default)]
    pub max_staleness_secs: Option<u64>,
    /// What a stale index means for CONNECTs.
    #[serde(default)]
    pub on_stale: OnStale,
    /// Page `QueryCustomAuthPermission` in every pass and enforce its rules (default `true`, as
    /// the cloud enforces them); `false`: no topic rules are read or enforced.
    #[serde(default = "default_true")]
    pub permissions: bool,
}

fn default_true() -> bool {
    true
}

fn default_page_size() -> u32 {
    100
}
fn default_refresh_secs() -> u64 {
    60
}
fn default_max_rps() -> f64 {
    20.0
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_retry_budget() -> u32 {
    20
}
/// Unset `max_staleness_secs` is this many `refresh_secs`, ...
pub const STALE_AFTER_PASSES: u64 = 3;
/// ... and at least this many seconds (an hour: short refresh periods are not stale after a
/// few minutes of API trouble).
pub const MIN_DEFAULT_STALENESS_SECS: u64 = 3600;

/// `[auth.follower]`: take the set from a leader mqid's `/snapshot` instead of the OpenAPI.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowerConfig {
    /// The leader's `[http]` base URL, e.g. `http://10.0.0.5:8088`.
    pub leader: String,
    /// Seconds between two polls of the leader.
    #[serde(default = "default_follow_secs")]
    pub interval_secs: u64,
    /// This follower's own last-good copy, written after every change, loaded first at start-up.
    pub snapshot: PathBuf,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout_secs")]
    pub request_timeout_secs: u64,
    /// A file holding the leader's bearer token; without it, `MQID_HTTP_TOKEN`.
    pub token_file: Option<PathBuf>,
}

fn default_follow_secs() -> u64 {
    10
}

/// An `[auth]` value that cannot work, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("[auth] {0}")]
pub struct ConfigError(#[from] pub InvalidSetting);

fn bad(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError(InvalidSetting::new(key, problem))
}

impl AuthTable {
    /// Checks the values that serde cannot, resolves relative paths against `base` (the config
    /// file's folder), and keeps the chosen source's settings.
    pub fn validate(self, base: &Path) -> Result<AuthConfig, ConfigError> {
        let source = match self.source {
            SourceKind::File => {
                let file = self
                    .file
                    .ok_or_else(|| bad("file", "required when source = \"file\""))?;
                let files = crate::file::Files {
                    identities: base.join(file),
                    permissions: self.permissions.file.map(|p| base.join(p)),
                };
                if self.watch_interval_ms == 0 {
                    return Err(bad("watch_interval_ms", "must be at least 1"));
                }
                SourceConfig::File(FileSource {
                    files,
                    watch_interval: Duration::from_millis(self.watch_interval_ms),
                })
            }
            SourceKind::Openapi => {
                let mut api = self.openapi.ok_or_else(|| {
                    bad(
                        "openapi",
                        "an [auth.openapi] table is required when source = \"openapi\"",
                    )
                })?;
                api.check()?;
                if self.permissions.file.is_some() {
                    return Err(bad(
                        "permissions.file",
                        "is for source = \"file\"; the OpenAPI source reads the rules from \
                         QueryCustomAuthPermission (see [auth.openapi] permissions)",
                    ));
                }
                if let Some(s) = api.snapshot.as_mut() {
                    *s = base.join(&*s);
                }
                api.check_staleness()?;
                SourceConfig::Openapi(api)
            }
            SourceKind::Follower => {
                let mut f = self.follower.ok_or_else(|| {
                    bad(
                        "follower",
                        "an [auth.follower] table is required when source = \"follower\"",
                    )
                })?;
                f.check()?;
                if self.permissions.file.is_some() {
                    return Err(bad(
                        "permissions.file",
                        "is for source = \"file\"; a follower takes the rules from its leader",
                    ));
                }
                f.snapshot = base.join(&f.snapshot);
                if let Some(t) = f.token_file.as_mut() {
                    *t = base.join(&*t);
                }
                SourceConfig::Follower(f)
            }
        };
        self.limits.validate().map_err(|e| bad(e.key, e.problem))?;
        if self.max_removal_percent > 100 {
            return Err(bad(
                "max_removal_percent",
                format!("{} is outside 0..=100", self.max_removal_percent),
            ));
        }
        Ok(AuthConfig {
            source,
            limits: self.limits,
            permissions: self.permissions.rules,
            guard: crate::guard::Guard {
                allow_empty: self.allow_empty,
                max_removal_percent: self.max_removal_percent,
            },
        })
    }
}

impl FollowerConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if !(self.leader.starts_with("http://") || self.leader.starts_with("https://")) {
            return Err(bad(
                "follower.leader",
                format!("{:?} is not an http:// or https:// URL", self.leader),
            ));
        }
        if self.interval_secs == 0 {
            return Err(bad("follower.interval_secs", "must be at least 1"));
        }
        if self.request_timeout_secs == 0 {
            return Err(bad("follower.request_timeout_secs", "must be at least 1"));
        }
        Ok(())
    }
}

impl OpenApiConfig {
    /// The checks of `[auth.openapi]` on its own values, but for `max_staleness_secs`.
    fn check(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.page_size) {
            return Err(bad(
                "openapi.page_size",
                format!("{} is outside 1..=100", self.page_size),
            ));
        }
        if self.refresh_secs == 0 {
            return Err(bad("openapi.refresh_secs", "must be at least 1"));
        }
        if !(self.max_requests_per_sec > 0.0 && self.max_requests_per_sec <= 100.0) {
            return Err(bad(
                "openapi.max_requests_per_sec",
                format!(
                    "{} is outside (0, 100]; the API blocks source IPs over 300 QPS",
                    self.max_requests_per_sec
                ),
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(bad("openapi.request_timeout_secs", "must be at least 1"));
        }
        if self.region_id.is_empty() {
            return Err(bad("openapi.region_id", "is empty"));
        }
        if self.instance_id.is_empty() {
            return Err(bad("openapi.instance_id", "is empty"));
        }
        Ok(())
    }

    /// Only a value the operator set can contradict `refresh_secs`; the default follows it.
    fn check_staleness(&self) -> Result<(), ConfigError> {
        match self.max_staleness_secs {
            Some(max) if max != 0 && max <= self.refresh_secs => Err(bad(
                "openapi.max_staleness_secs",
                format!(
                    "{max} must be more than refresh_secs ({}), or 0 for no limit \
                     (unset, it is {} x refresh_secs and at least {} s)",
                    self.refresh_secs, STALE_AFTER_PASSES, MIN_DEFAULT_STALENESS_SECS
                ),
            )),
            _ => Ok(()),
        }
    }

    /// How long without a good pass makes the index stale: `max_staleness_secs` when set (`None`
    /// for 0, never stale), else [`STALE_AFTER_PASSES`] × `refresh_secs` and at least
    /// [`MIN_DEFAULT_STALENESS_SECS`].
    pub fn max_staleness(&self) -> Option<Duration> {
        let secs = self.max_staleness_secs.unwrap_or_else(|| {
            self.refresh_secs
                .saturating_mul(STALE_AFTER_PASSES)
                .max(MIN_DEFAULT_STALENESS_SECS)
        });
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    /// The endpoint URL, defaulted from the region.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://onsmqtt.{}.aliyuncs.com", self.region_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AuthConfig, String> {
        let t: AuthTable = serde_json::from_str(json).map_err(|e| e.to_string())?;
        t.validate(Path::new("/etc/mqid"))
            .map_err(|e| e.to_string())
    }

    fn api(c: AuthConfig) -> OpenApiConfig {
        match c.source {
            SourceConfig::Openapi(api) => api,
            other => panic!("not the OpenAPI source: {other:?}"),
        }
    }

    fn files(c: &AuthConfig) -> &crate::file::Files {
        match &c.source {
            SourceConfig::File(f) => &f.files,
            other => panic!("not the file source: {other:?}"),
        }
    }

    const OPENAPI: &str = r#""source":"openapi","openapi":{"region_id":"r","instance_id":"i""#;

    #[test]
    fn limits_are_on_by_default_and_validated() {
        let c = parse(r#"{"source":"file","file":"ids.json"}"#).unwrap();
        assert_eq!(c.limits, LimitsConfig::default());
        let l = c.limits.limits().unwrap();
        assert_eq!(
            (l.max_failures, l.window.as_secs(), l.cooldown.as_secs()),
            (10, 60, 300)
        );
        assert_eq!(l.max_tracked_keys, 100_000);
        let off = parse(r#"{"source":"file","file":"x","limits":{"enabled":false}}"#).unwrap();
        assert!(off.limits.limits().is_none());
        for (bad, key) in [
            (r#"{"max_failures":0}"#, "limits.max_failures"),
            (r#"{"max_failures":1001}"#, "limits.max_failures"),
            (r#"{"window_secs":0}"#, "limits.window_secs"),
            (r#"{"cooldown_secs":86401}"#, "limits.cooldown_secs"),
            (r#"{"max_tracked_keys":10}"#, "limits.max_tracked_keys"),
            (
                r#"{"username_alert_failures":5000}"#,
                "limits.username_alert_failures",
            ),
        ] {
            let e =
                parse(&format!(r#"{{"source":"file","file":"x","limits":{bad}}}"#)).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        let e = parse(r#"{"source":"file","file":"x","limits":{"max_failure":3}}"#).unwrap_err();
        assert!(e.contains("max_failure"), "{e}");
    }

    #[test]
    fn staleness_defaults_to_an_hour_and_serve() {
        let c = parse(&format!("{{{OPENAPI}}}}}")).unwrap();
        let a = api(c);
        assert_eq!(
            (a.max_staleness(), a.on_stale),
            (Some(Duration::from_secs(3600)), OnStale::Serve)
        );
        // An hourly refresh, staleness unset: the default follows refresh_secs (issue 12, 2).
        let c = parse(&format!(r#"{{{OPENAPI},"refresh_secs":3600}}}}"#)).unwrap();
        assert_eq!(api(c).max_staleness(), Some(Duration::from_secs(3 * 3600)));
        let c = parse(&format!(r#"{{{OPENAPI},"max_staleness_secs":0}}}}"#)).unwrap();
        assert_eq!(api(c).max_staleness(), None);
        // only an explicit contradiction is an error
        let e = parse(&format!(
            r#"{{{OPENAPI},"refresh_secs":3600,"max_staleness_secs":3600}}}}"#
        ))
        .unwrap_err();
        assert!(e.contains("max_staleness_secs: 3600 must be more"), "{e}");
        let c = parse(&format!(
            r#"{{{OPENAPI},"max_staleness_secs":0,"on_stale":"refuse"}}}}"#
        ))
        .unwrap();
        assert_eq!(api(c).on_stale, OnStale::Refuse);
        let e = parse(&format!(
            r#"{{{OPENAPI},"refresh_secs":60,"max_staleness_secs":60}}}}"#
        ))
        .unwrap_err();
        assert!(
            e.contains("max_staleness_secs") && e.contains("refresh_secs"),
            "{e}"
        );
        let e = parse(&format!(r#"{{{OPENAPI},"on_stale":"panic"}}}}"#)).unwrap_err();
        assert!(e.contains("panic"), "{e}");
    }

    fn parse_toml(text: &str) -> Result<AuthConfig, String> {
        #[derive(Deserialize)]
        struct File {
            auth: AuthTable,
        }
        toml::from_str::<File>(text)
            .map_err(|e| e.to_string())?
            .auth
            .validate(Path::new("/etc/mqid"))
            .map_err(|e| e.to_string())
    }

    const FILE: &str = "[auth]\nsource = \"file\"\nfile = \"ids.json\"\n";

    #[test]
    fn permissions_default_to_deny_ignore_and_no_file() {
        let c = parse_toml(FILE).unwrap();
        assert_eq!(c.permissions, PermissionsConfig::default());
        assert_eq!(files(&c).permissions, None);
        assert_eq!(c.permissions.no_match, mqid_core::NoMatch::Deny);
        assert_eq!(c.permissions.deny_action, DenyAction::Ignore);
        let c = parse_toml(OPENAPI_TOML).unwrap();
        assert!(
            api(c).permissions,
            "the OpenAPI source reads rules by default"
        );
    }

    #[test]
    fn permissions_file_short_form_and_table_resolve_against_the_config_folder() {
        let c = parse_toml(&format!("{FILE}permissions = \"rules/p.json\"\n")).unwrap();
        assert_eq!(
            files(&c).permissions.as_deref(),
            Some(Path::new("/etc/mqid/rules/p.json"))
        );
        assert_eq!(files(&c).identities, Path::new("/etc/mqid/ids.json"));
        let c = parse_toml(&format!(
            "{FILE}[auth.permissions]\nfile = \"p.json\"\nno_match = \"allow\"\n\
             deny_action = \"disconnect\"\n"
        ))
        .unwrap();
        assert_eq!(
            files(&c).permissions.as_deref(),
            Some(Path::new("/etc/mqid/p.json"))
        );
        assert_eq!(
            c.permissions,
            PermissionsConfig {
                no_match: mqid_core::NoMatch::Allow,
                deny_action: DenyAction::Disconnect,
            }
        );
    }

    #[test]
    fn permissions_mistakes_are_named() {
        for (extra, names) in [
            (
                "[auth.permissions]\nno_match = \"maybe\"\n",
                &["maybe", "deny", "allow"][..],
            ),
            (
                "[auth.permissions]\ndeny_action = \"kick\"\n",
                &["kick", "ignore", "disconnect"],
            ),
            (
                "[auth.permissions]\nnomatch = \"deny\"\n",
                &["nomatch", "no_match"],
            ),
            ("permissions = 3\n", &["permissions", "rules file path"]),
        ] {
            let e = parse_toml(&format!("{FILE}{extra}")).unwrap_err();
            for n in names {
                assert!(e.contains(n), "{extra}: {e}");
            }
        }
        // A rules file with the OpenAPI source is a mistake, not silently ignored.
        let e = parse_toml(&format!(
            "{OPENAPI_TOML}[auth.permissions]\nfile = \"p.json\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("[auth] permissions.file") && e.contains("source"),
            "{e}"
        );
        let c = parse_toml(&format!("{OPENAPI_TOML}permissions = false\n")).unwrap();
        assert!(!api(c).permissions);
        let e = parse_toml(&format!("{OPENAPI_TOML}permissions = \"yes\"\n")).unwrap_err();
        assert!(e.contains("permissions"), "{e}");
    }

    #[test]
    fn each_source_keeps_its_own_settings_resolved() {
        let c = parse_toml(&format!("{FILE}watch_interval_ms = 250\n")).unwrap();
        let SourceConfig::File(f) = &c.source else {
            panic!("{c:?}");
        };
        assert_eq!(f.watch_interval, Duration::from_millis(250));
        assert_eq!(f.files.identities, Path::new("/etc/mqid/ids.json"));
        let c = parse_toml(&format!("{OPENAPI_TOML}snapshot = \"state/snap.json\"\n")).unwrap();
        assert_eq!(
            api(c).snapshot.as_deref(),
            Some(Path::new("/etc/mqid/state/snap.json"))
        );
        let c = parse_toml(FOLLOWER_TOML).unwrap();
        let SourceConfig::Follower(f) = &c.source else {
            panic!("{c:?}");
        };
        assert_eq!(f.snapshot, Path::new("/etc/mqid/own.json"));
        assert_eq!(f.token_file.as_deref(), Some(Path::new("/etc/mqid/token")));
        // The shared settings are the same whatever the source.
        let c = parse_toml(&format!(
            "[auth]\nsource = \"follower\"\nallow_empty = true\nmax_removal_percent = 7\n\
             permissions = {{ no_match = \"allow\" }}\n{}",
            FOLLOWER_TOML.trim_start_matches("[auth]\nsource = \"follower\"\n")
        ))
        .unwrap();
        assert_eq!(
            c.guard,
            crate::guard::Guard {
                allow_empty: true,
                max_removal_percent: 7
            }
        );
        assert_eq!(c.permissions.no_match, mqid_core::NoMatch::Allow);
    }

    #[test]
    fn a_source_without_its_settings_is_named() {
        for (text, expected) in [
            (
                "[auth]\nsource = \"file\"\n",
                "[auth] file: required when source = \"file\"",
            ),
            (
                "[auth]\nsource = \"openapi\"\nfile = \"ids.json\"\n",
                "[auth] openapi: an [auth.openapi] table is required when source = \"openapi\"",
            ),
            (
                "[auth]\nsource = \"follower\"\n[auth.openapi]\nregion_id = \"r\"\n\
                 instance_id = \"i\"\n",
                "[auth] follower: an [auth.follower] table is required when source = \"follower\"",
            ),
            (
                "[auth]\nsource = \"file\"\nfile = \"x\"\nwatch_interval_ms = 0\n",
                "[auth] watch_interval_ms: must be at least 1",
            ),
        ] {
            assert_eq!(parse_toml(text).unwrap_err(), expected, "{text}");
        }
        let e = parse_toml(&format!(
            "{FOLLOWER_TOML}[auth.permissions]\nfile = \"p.json\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("[auth] permissions.file") && e.contains("follower"),
            "{e}"
        );
        let e = parse_toml("[auth]\nsource = \"ftp\"\n").unwrap_err();
        for n in ["ftp", "file", "openapi", "follower"] {
            assert!(e.contains(n), "{e}");
        }
        let e = parse_toml(&FOLLOWER_TOML.replace("http://", "ftp://")).unwrap_err();
        assert!(e.contains("[auth] follower.leader"), "{e}");
    }

    const FOLLOWER_TOML: &str = "[auth]\nsource = \"follower\"\n[auth.follower]\n\
        leader = \"http://10.0.0.5:8088\"\nsnapshot = \"own.json\"\ntoken_file = \"token\"\n";

    const OPENAPI_TOML: &str =
        "[auth]\nsource = \"openapi\"\n[auth.openapi]\nregion_id = \"r\"\ninstance_id = \"i\"\n";
}
