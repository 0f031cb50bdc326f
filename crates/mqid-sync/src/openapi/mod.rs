//! The ApsaraMQ for MQTT OpenAPI source: complete refresh passes over `QueryCustomAuthIdentity`,
//! `QueryCustomAuthConnectBlack` and `QueryCustomAuthPermission`.
//!
//! # A pass
//!
//! [`Client::pass`] reads the whole set, or nothing. It is a small state machine, run once per
//! operation (identities first, then the connect blacklist, then the topic rules unless
//! `[auth.openapi] permissions = false`):
//!
//! ```text
//!            ┌──────────────────────────────────────────────────────────────┐
//!            ▼                                                              │
//!   ┌─ fetch page ──────┐   ┌─ validate ──────────────┐   ┌─ next token ─┐  │
//!   │ pace, sign, GET   │──▶│ JSON, Success≠false,    │──▶│ present and  │──┘ new token
//!   │ retry transient   │   │ Data, ≤ Size results;   │   │ never seen?  │
//!   │ failures (budget) │   │ records → identities /  │   └──────────────┘
//!   └───────────────────┘   │ skipped, blacklist      │          │ absent or empty
//!            │              └─────────────────────────┘          ▼
//!            │ permanent error, budget spent, bad page     complete pass
//!            ▼                                                   │
//!      the pass fails: no Loaded, the index in force stays      ▼
//!                                                        Loaded + PassStats
//! ```
//!
//! * **fetch page.** `GET /?InstanceId=…&NextToken=…&Size=page_size`, `NextToken` empty on the
//!   first page and then exactly the one the previous page returned. Signed with V3
//!   (`ACS3-HMAC-SHA256`, the default: headers `host`, `x-acs-action`, `x-acs-version:
//!   2020-04-20`, `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256`,
//!   `x-acs-security-token` with STS, and `Authorization`) or V1 (RPC HMAC-SHA1: the same in
//!   query parameters), see [`sign`]. Request starts are spaced at least `1 /
//!   max_requests_per_sec` apart, retries included, across passes.
//! * **retries.** Throttling (`Throttling*` at any status), `ServiceUnavailable`,
//!   `SystemOverFlow`, `InternalError`, any 5xx, timeouts and broken connections are retried
//!   after an exponential back-off with full jitter, never sooner than the service's
//!   `TimeLeft:<ms>` hint (`x-ratelimit-user-api` / `x-ratelimit-user`). One budget,
//!   `max_retries_per_pass`, covers the whole pass. Everything else (a refused signature, an
//!   unknown AccessKey, clock skew, a wrong instance, missing permissions, any other 4xx) fails
//!   the pass at once with [`PassError::Rejected`], whose message says what to fix.
//! * **validate.** A body over 16 MiB (read with a bound, never buffered whole), JSON that is not
//!   a page, `Success: false`, no `Data`, more results than `Size`, a `NextToken` already
//!   returned in this pass, or 32 empty pages in a row that still carry a `NextToken`: the pass
//!   fails with [`PassError::BadPage`] naming the operation, the page and the problem. An
//!   identity record that fails validation ([`mqid_core::parse_identities`]) does not fail the
//!   pass: it is left out and reported in [`Loaded::skipped`](crate::Loaded) with its position
//!   (counted from 0 across pages).
//! * **topic rules.** A `QueryCustomAuthPermission` record that fails validation
//!   ([`mqid_core::parse_permissions`]: unknown `IdentityType`, `PermitAction` or `Effect`, an
//!   empty or over-long `Identity`, a `Topic` that is not an MQTT topic filter) is left out and
//!   reported in [`Loaded::skipped_permissions`](crate::Loaded), like an invalid identity; the
//!   other rules apply.
//! * **blacklist.** A `QueryCustomAuthConnectBlack` record refuses its `ClientId` unless its
//!   `Effect` is `ALLOW`: `DENY`, absent or unknown effects all refuse (mqid's rule; a list of
//!   refusals fails closed).
//!
//! # Secrets
//!
//! The AccessKey secret, the security token and the identities' secrets never appear in an
//! error, a log line or `Debug` output: [`Credentials`] and [`mqid_core::Secret`] redact
//! themselves, the service's messages are scrubbed of the credentials, transport errors are
//! kept without their URL, and requests are logged (at `debug`) by operation, page and status
//! only.
//!
//! ```no_run
//! # async fn run(config: &mqid_sync::OpenApiConfig, shared: &mqid_core::SharedIndex) -> Result<(), Box<dyn std::error::Error>> {
//! use mqid_sync::openapi::{Client, Credentials};
//!
//! let client = Client::new(config, Credentials::from_env()?)?;
//! let (loaded, stats) = client.pass().await?;
//! tracing::info!("OpenAPI pass: {stats}");
//! mqid_sync::apply(shared, loaded);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod page;
pub mod sign;

use std::fmt;

use mqid_core::Secret;

pub use client::{ApiCounters, Client, PassStats, MAX_BODY_BYTES};
pub use error::{ClientError, CredentialsError, PageProblem, PassError};
#[doc(hidden)]
pub use page::{parse_blacklist_page, parse_identity_page, parse_permission_page};

/// The OnsMqtt API version of every call.
pub const API_VERSION: &str = "2020-04-20";
/// The operation that lists custom identities.
pub const ACTION_IDENTITY: &str = "QueryCustomAuthIdentity";
/// The operation that lists client ids refused at CONNECT.
pub const ACTION_CONNECT_BLACK: &str = "QueryCustomAuthConnectBlack";
/// The operation that lists topic permission rules.
pub const ACTION_PERMISSION: &str = "QueryCustomAuthPermission";

/// The environment variable of the AccessKey id (the name Alibaba's SDKs read).
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// The environment variable of the AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// The environment variable of the STS security token (optional).
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// An AccessKey pair, and an STS security token when the key is temporary. `Debug` shows the
/// AccessKey id only.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: Secret,
    security_token: Option<Secret>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    /// Credentials given directly. An empty `security_token` counts as none.
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: Secret,
        security_token: Option<Secret>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret,
            security_token: security_token.filter(|t| !t.is_empty()),
        }
    }

    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and, if set and
    /// not empty, `ALIBABA_CLOUD_SECURITY_TOKEN`. A missing or empty id or secret is an error
    /// naming the variable.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(()),
        })
    }

    /// [`Credentials::from_env`] with another source of variables: `lookup(name)` gives
    /// `Ok(Some(value))`, `Ok(None)` when unset, `Err(())` when not valid UTF-8.
    pub fn from_lookup(
        lookup: impl Fn(&'static str) -> Result<Option<String>, ()>,
    ) -> Result<Self, CredentialsError> {
        let get = |name: &'static str| -> Result<Option<String>, CredentialsError> {
            lookup(name).map_err(|()| CredentialsError::NotUnicode(name))
        };
        let required = |name: &'static str| -> Result<String, CredentialsError> {
            match get(name)? {
                None => Err(CredentialsError::Missing(name)),
                Some(v) if v.is_empty() => Err(CredentialsError::Empty(name)),
                Some(v) => Ok(v),
            }
        };
        let id = required(ENV_ACCESS_KEY_ID)?;
        check_header_safe(ENV_ACCESS_KEY_ID, &id)?;
        let secret = Secret::new(required(ENV_ACCESS_KEY_SECRET)?);
        let token = match get(ENV_SECURITY_TOKEN)? {
            Some(t) if !t.is_empty() => {
                check_header_safe(ENV_SECURITY_TOKEN, &t)?;
                Some(Secret::new(t))
            }
            _ => None,
        };
        Ok(Credentials::new(id, secret, token))
    }

    /// The AccessKey id (not a secret; it names the key in messages).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether an STS security token is sent.
    pub fn has_security_token(&self) -> bool {
        self.security_token.is_some()
    }

    /// `text` with every occurrence of the secret and the token, raw or percent-encoded once or
    /// twice (as a V1 string to sign holds them), replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in std::iter::once(&self.access_key_secret).chain(self.security_token.as_ref()) {
            let raw = s.expose();
            if raw.is_empty() {
                continue;
            }
            let once = sign::pct(raw);
            let twice = sign::pct(&once);
            // Longest first, so that an encoded form is not half-replaced by a shorter one.
            for form in [twice, once, raw.to_owned()] {
                if out.contains(&form) {
                    out = out.replace(&form, "<redacted>");
                }
            }
        }
        out
    }
}

/// An AccessKey id or token goes into a header or query verbatim: refuse what cannot.
fn check_header_safe(name: &'static str, value: &str) -> Result<(), CredentialsError> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(CredentialsError::BadCharacters(name))
    }
}

#[cfg(test)]
mod tests;
