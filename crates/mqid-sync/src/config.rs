//! The `[auth]` table of `mqid.toml`: which source feeds the index, and how.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where identities come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A local JSON array of identity records, reloaded when it changes.
    File,
    /// ApsaraMQ for MQTT's OpenAPI (`QueryCustomAuthIdentity`).
    Openapi,
}

/// `[auth]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub source: SourceKind,
    /// With `source = "file"`: the JSON array of identity records.
    pub file: Option<PathBuf>,
    /// With `source = "file"`: how often the file is checked for changes, in milliseconds.
    #[serde(default = "default_watch_interval_ms")]
    pub watch_interval_ms: u64,
    /// With `source = "openapi"`: `[auth.openapi]`.
    pub openapi: Option<OpenApiConfig>,
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

/// A configuration value that cannot work, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("[auth] {key}: {problem}")]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: String,
}

fn bad(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        problem: problem.into(),
    }
}

impl AuthConfig {
    /// Checks the values that serde cannot, and resolves relative paths against `base` (the
    /// config file's folder).
    pub fn validate(&mut self, base: &Path) -> Result<(), ConfigError> {
        match self.source {
            SourceKind::File => {
                let file = self
                    .file
                    .as_mut()
                    .ok_or_else(|| bad("file", "required when source = \"file\""))?;
                *file = base.join(&*file);
                if self.watch_interval_ms == 0 {
                    return Err(bad("watch_interval_ms", "must be at least 1"));
                }
            }
            SourceKind::Openapi => {
                let api = self.openapi.as_mut().ok_or_else(|| {
                    bad(
                        "openapi",
                        "an [auth.openapi] table is required when source = \"openapi\"",
                    )
                })?;
                if !(1..=100).contains(&api.page_size) {
                    return Err(bad(
                        "openapi.page_size",
                        format!("{} is outside 1..=100", api.page_size),
                    ));
                }
                if api.refresh_secs == 0 {
                    return Err(bad("openapi.refresh_secs", "must be at least 1"));
                }
                if !(api.max_requests_per_sec > 0.0 && api.max_requests_per_sec <= 100.0) {
                    return Err(bad(
                        "openapi.max_requests_per_sec",
                        format!(
                            "{} is outside (0, 100]; the API blocks source IPs over 300 QPS",
                            api.max_requests_per_sec
                        ),
                    ));
                }
                if api.request_timeout_secs == 0 {
                    return Err(bad("openapi.request_timeout_secs", "must be at least 1"));
                }
                if api.region_id.is_empty() {
                    return Err(bad("openapi.region_id", "is empty"));
                }
                if api.instance_id.is_empty() {
                    return Err(bad("openapi.instance_id", "is empty"));
                }
                if let Some(s) = api.snapshot.as_mut() {
                    *s = base.join(&*s);
                }
            }
        }
        Ok(())
    }
}

impl OpenApiConfig {
    /// The endpoint URL, defaulted from the region.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://onsmqtt.{}.aliyuncs.com", self.region_id),
        }
    }
}
