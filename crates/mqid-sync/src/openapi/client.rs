//! The HTTP side: signing and sending one request, retrying transient failures, pacing, and the
//! pager that turns pages into one [`Loaded`] set.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mqid_core::{parse_identities, parse_permissions, RawIdentity, RawPermission};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use mqid_core::text::ellipsize;

use super::error::{classify, describe_reqwest, ClientError, PassError, RetryClass, Transient};
use super::page::{parse_page, ErrorBody, RawBlack};
use super::sign;
use crate::backoff::Backoff;

use super::{Credentials, ACTION_CONNECT_BLACK, ACTION_IDENTITY, ACTION_PERMISSION, API_VERSION};
use crate::{Loaded, OpenApiConfig, Origin, SignatureVersion};

/// The largest page body read: far above what 100 records take, far below what would hurt.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The most of an error body read; the rest is dropped.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Pages in a row with no results but a `NextToken` before the pass is abandoned.
const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 32;

/// Counts of one complete pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Pages received and accepted, both operations together.
    pub pages: u32,
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Retries spent (out of `max_retries_per_pass`).
    pub retries: u32,
    /// Valid identities loaded.
    pub identities: usize,
    /// Client ids refused at CONNECT.
    pub blacklisted: usize,
    /// Identity records skipped as invalid (in [`Loaded::skipped`]).
    pub skipped: usize,
    /// Blacklist records that refuse nothing (`Effect` `ALLOW`, or no `ClientId`).
    pub blacklist_ignored: usize,
    /// Valid topic rules loaded; `None` when the pass does not read them
    /// (`[auth.openapi] permissions = false`).
    pub permissions: Option<usize>,
    /// Permission records skipped as invalid (in [`Loaded::skipped_permissions`]).
    pub permissions_skipped: usize,
    /// Wall time of the pass, pacing and back-off included.
    pub duration: Duration,
}

impl fmt::Display for PassStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} identities, {} blacklisted, {} skipped, ",
            self.identities, self.blacklisted, self.skipped,
        )?;
        match self.permissions {
            Some(n) => write!(
                f,
                "{n} topic rules ({} skipped), ",
                self.permissions_skipped
            )?,
            None => f.write_str("topic rules not read, ")?,
        }
        write!(
            f,
            "{} pages, {} requests ({} retries) in {:.1?}",
            self.pages, self.requests, self.retries, self.duration
        )
    }
}

/// Requests, retries and accepted pages since the client was made, failed passes included; read
/// by the metrics publisher while passes run.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub pages: AtomicU64,
}

/// Spaces the starts of requests at least `1 / max_requests_per_sec` apart, across passes and
/// across concurrent callers. Never holds its lock across an await.
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(max_rps: f64) -> Self {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / max_rps),
            next: Mutex::new(None),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A client of the ApsaraMQ for MQTT OpenAPI that runs complete refresh passes.
/// See the [module documentation](super) for the pass.
pub struct Client {
    http: reqwest::Client,
    /// The configured endpoint, for [`Origin::Api`] and messages.
    endpoint: String,
    /// The endpoint URL; requests go to its path with a fresh query.
    base: reqwest::Url,
    /// The `Host` header sent and signed.
    host: String,
    instance_id: String,
    page_size: u32,
    signature: SignatureVersion,
    credentials: Credentials,
    /// Whether a pass pages `QueryCustomAuthPermission`.
    permissions: bool,
    max_retries: u32,
    pacer: Pacer,
    backoff: Backoff,
    max_body: usize,
    counters: Arc<ApiCounters>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("instance_id", &self.instance_id)
            .field("page_size", &self.page_size)
            .field("signature", &self.signature)
            .field("credentials", &self.credentials)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// One request that failed: retry it, or give up.
enum Failure {
    Transient(Transient, Option<Duration>),
    Fatal(PassError),
}

impl Client {
    /// A client for the `[auth.openapi]` settings (validated: see
    /// [`AuthTable::validate`](crate::AuthTable::validate)). The endpoint may be `https://…`
    /// (rustls with the bundled Mozilla roots) or `http://…` (for a local emulator).
    pub fn new(config: &OpenApiConfig, credentials: Credentials) -> Result<Self, ClientError> {
        let endpoint = config.endpoint_url();
        let bad = |problem: &str| ClientError::Endpoint {
            problem: problem.to_owned(),
        };
        // A URL with user:password@ is refused without quoting it.
        if endpoint.contains('@') {
            return Err(bad("must not contain user information (user:password@)"));
        }
        let base = reqwest::Url::parse(&endpoint)
            .map_err(|e| bad(&format!("{endpoint:?} is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "{endpoint:?} must start with https:// or http://"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad(&format!(
                "{endpoint:?} must not have a query or fragment"
            )));
        }
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(bad(&format!("{endpoint:?} has no host"))),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(
                config.request_timeout_secs.clamp(1, 10),
            ))
            // A redirect would carry the signed request elsewhere; it is an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mqid/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http(describe_reqwest(e)))?;
        Ok(Client {
            http,
            endpoint,
            base,
            host,
            instance_id: config.instance_id.clone(),
            page_size: config.page_size.clamp(1, 100),
            signature: config.signature,
            credentials,
            permissions: config.permissions,
            max_retries: config.max_retries_per_pass,
            pacer: Pacer::new(if config.max_requests_per_sec > 0.0 {
                config.max_requests_per_sec
            } else {
                1.0
            }),
            backoff: Backoff {
                base: Duration::from_millis(250),
                cap: Duration::from_secs(15),
                max_hint: Duration::from_secs(60),
            },
            max_body: MAX_BODY_BYTES,
            counters: Arc::default(),
        })
    }

    /// Changes the back-off between retries (default: base 250 ms, cap 15 s). Tests use a few
    /// milliseconds.
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff.base = base;
        self.backoff.cap = cap.max(base);
        self
    }

    #[cfg(test)]
    pub(crate) fn with_max_body(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Requests, retries and pages so far, failed passes included.
    pub fn counters(&self) -> Arc<ApiCounters> {
        self.counters.clone()
    }

    /// The endpoint URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs one complete refresh pass: every page of `QueryCustomAuthIdentity`, then every page
    /// of `QueryCustomAuthConnectBlack`, then (unless `[auth.openapi] permissions = false`) every
    /// page of `QueryCustomAuthPermission`. Either every page arrived and was accepted, and the
    /// result is the complete set, or the pass failed and returns nothing.
    pub async fn pass(&self) -> Result<(Loaded, PassStats), PassError> {
        let started = Instant::now();
        let mut stats = PassStats::default();

        let (identities, skipped) = self
            .page_records::<RawIdentity, _, _>(ACTION_IDENTITY, &mut stats, parse_identities)
            .await?;

        let mut blacklist = Vec::new();
        let mut ignored = 0usize;
        self.page_all::<RawBlack>(ACTION_CONNECT_BLACK, &mut stats, |records| {
            for r in records {
                match r.refused_client_id() {
                    Some(id) => blacklist.push(id.to_owned()),
                    None => ignored += 1,
                }
            }
        })
        .await?;

        let (permissions, skipped_permissions) = if self.permissions {
            let (rules, skipped) = self
                .page_records::<RawPermission, _, _>(
                    ACTION_PERMISSION,
                    &mut stats,
                    parse_permissions,
                )
                .await?;
            (Some(rules), skipped)
        } else {
            (None, Vec::new())
        };

        stats.identities = identities.len();
        stats.blacklisted = blacklist.len();
        stats.skipped = skipped.len();
        stats.blacklist_ignored = ignored;
        stats.permissions = permissions.as_ref().map(Vec::len);
        stats.permissions_skipped = skipped_permissions.len();
        stats.duration = started.elapsed();
        tracing::debug!(endpoint = %self.endpoint, "OpenAPI pass complete: {stats}");
        Ok((
            Loaded {
                identities,
                blacklist,
                permissions,
                skipped,
                skipped_permissions,
                origin: Origin::Api {
                    endpoint: self.endpoint.clone(),
                },
                synced_at: Some(SystemTime::now()),
            },
            stats,
        ))
    }

    /// Pages through `action` and validates every record with `parse` (given the records and the
    /// position of the first in the whole listing): the valid ones and the skipped ones.
    async fn page_records<R: DeserializeOwned, T, E>(
        &self,
        action: &'static str,
        stats: &mut PassStats,
        parse: impl Fn(Vec<R>, usize) -> (Vec<T>, Vec<E>),
    ) -> Result<(Vec<T>, Vec<E>), PassError> {
        let (mut valid, mut skipped) = (Vec::new(), Vec::new());
        let mut position = 0usize;
        self.page_all::<R>(action, stats, |raws| {
            let n = raws.len();
            let (good, bad) = parse(raws, position);
            position += n;
            valid.extend(good);
            skipped.extend(bad);
        })
        .await?;
        Ok((valid, skipped))
    }

    /// Pages through `action` from the first page to the last, handing each page's records to
    /// `each`. Fails on the first page that cannot be had or trusted.
    async fn page_all<T: DeserializeOwned>(
        &self,
        action: &'static str,
        stats: &mut PassStats,
        mut each: impl FnMut(Vec<T>),
    ) -> Result<(), PassError> {
        let size = self.page_size.to_string();
        let scrub = |s: &str| self.credentials.scrub(s);
        // Every token returned in this pass, with the page that returned it.
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut token = String::new();
        let mut empty_run = 0u32;
        let mut page = 0u32;
        loop {
            page += 1;
            let params = [
                ("InstanceId", self.instance_id.as_str()),
                ("NextToken", token.as_str()),
                ("Size", size.as_str()),
            ];
            let body = self.call(action, page, &params, stats).await?;
            let parsed = parse_page::<T>(&body, self.page_size, &scrub).map_err(|problem| {
                PassError::BadPage {
                    action,
                    page,
                    problem,
                }
            })?;
            drop(body);
            stats.pages += 1;
            self.counters.pages.fetch_add(1, Relaxed);
            let n = parsed.results.len();
            tracing::debug!(
                action,
                page,
                results = n,
                last = parsed.next_token.is_none(),
                "page accepted"
            );
            each(parsed.results);
            let Some(next) = parsed.next_token else {
                return Ok(());
            };
            if let Some(&first_page) = seen.get(&next) {
                return Err(PassError::BadPage {
                    action,
                    page,
                    problem: super::PageProblem::RepeatedNextToken { first_page },
                });
            }
            empty_run = if n == 0 { empty_run + 1 } else { 0 };
            if empty_run >= MAX_EMPTY_PAGES_IN_A_ROW {
                return Err(PassError::BadPage {
                    action,
                    page,
                    problem: super::PageProblem::NoProgress { count: empty_run },
                });
            }
            seen.insert(next.clone(), page);
            token = next;
        }
    }

    /// Sends one page request until it succeeds, fails permanently, or the pass's retry budget
    /// is spent. Returns the body of a 2xx response.
    async fn call(
        &self,
        action: &'static str,
        page: u32,
        params: &[(&str, &str)],
        stats: &mut PassStats,
    ) -> Result<Vec<u8>, PassError> {
        let mut attempt = 0u32;
        loop {
            self.pacer.wait().await;
            stats.requests += 1;
            self.counters.requests.fetch_add(1, Relaxed);
            match self.send_once(action, page, params).await {
                Ok(body) => return Ok(body),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Transient(what, hint)) => {
                    if stats.retries >= self.max_retries {
                        return Err(PassError::RetriesExhausted {
                            action,
                            page,
                            retries: stats.retries,
                            last: what.0,
                        });
                    }
                    stats.retries += 1;
                    self.counters.retries.fetch_add(1, Relaxed);
                    attempt += 1;
                    let delay = self.backoff.delay(attempt, hint);
                    tracing::warn!(
                        action,
                        page,
                        attempt,
                        "retrying in {delay:.2?} ({} of {} retries this pass): {what}",
                        stats.retries,
                        self.max_retries
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn send_once(
        &self,
        action: &'static str,
        page: u32,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, Failure> {
        let (url, headers) = self.signed(action, params).map_err(|detail| {
            Failure::Fatal(PassError::Request {
                action,
                page,
                detail,
            })
        })?;
        let resp = match self.http.get(url).headers(headers).send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(Failure::Fatal(PassError::Request {
                    action,
                    page,
                    detail: describe_reqwest(e),
                }))
            }
            Err(e) => {
                let what = describe_reqwest(e);
                tracing::debug!(action, page, "OpenAPI request failed: {what}");
                return Err(Failure::Transient(Transient(what), None));
            }
        };
        let status = resp.status().as_u16();
        tracing::debug!(action, page, status, "OpenAPI response");
        if resp.status().is_success() {
            return match read_bounded(resp, self.max_body).await {
                Ok(Some(body)) => Ok(body),
                Ok(None) => Err(Failure::Fatal(PassError::BadPage {
                    action,
                    page,
                    problem: super::PageProblem::TooLarge {
                        limit: self.max_body,
                    },
                })),
                Err(e) => Err(Failure::Transient(Transient(describe_reqwest(e)), None)),
            };
        }
        let hint = time_left(resp.headers());
        let body = match read_bounded(resp, MAX_ERROR_BODY_BYTES).await {
            Ok(Some(b)) => b,
            _ => Vec::new(),
        };
        let err = ErrorBody::parse(&body);
        let message = err
            .message
            .as_deref()
            .map(|m| ellipsize(&self.credentials.scrub(m), 300));
        match classify(status, err.code.as_deref()) {
            RetryClass::Retry => {
                let mut what = format!("HTTP {status}");
                if let Some(c) = &err.code {
                    what.push_str(&format!(" {}", ellipsize(c, 80)));
                }
                if let Some(m) = &message {
                    what.push_str(&format!(": {m:?}"));
                }
                Err(Failure::Transient(Transient(what), hint))
            }
            RetryClass::Fatal(hint) => Err(Failure::Fatal(PassError::Rejected {
                action,
                page,
                status,
                code: err.code.as_deref().map(|c| ellipsize(c, 80)),
                message,
                request_id: err.request_id.as_deref().map(|r| ellipsize(r, 80)),
                hint,
            })),
        }
    }

    /// The URL and headers of one signed GET. `Err` names a credential that is not a valid
    /// header value (never quoting it).
    fn signed(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<(reqwest::Url, HeaderMap), String> {
        let now = sign::format_timestamp(SystemTime::now());
        let nonce = sign::new_nonce();
        let creds = &self.credentials;
        let mut url = self.base.clone();
        let mut headers = HeaderMap::new();
        let header = |v: &str, what: &str| {
            HeaderValue::from_str(v).map_err(|_| format!("{what} is not a valid HTTP header value"))
        };
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        match self.signature {
            SignatureVersion::V3 => {
                let mut signed: Vec<(&str, &str)> = vec![
                    ("host", &self.host),
                    ("x-acs-action", action),
                    ("x-acs-version", API_VERSION),
                    ("x-acs-date", &now),
                    ("x-acs-signature-nonce", &nonce),
                    ("x-acs-content-sha256", sign::EMPTY_SHA256_HEX),
                ];
                if let Some(token) = &creds.security_token {
                    signed.push(("x-acs-security-token", token.expose()));
                }
                let authorization = sign::V3Request {
                    method: "GET",
                    canonical_uri: url.path(),
                    query: params,
                    headers: &signed,
                    body_sha256_hex: sign::EMPTY_SHA256_HEX,
                }
                .authorization(&creds.access_key_id, creds.access_key_secret.expose());
                for (name, value) in &signed {
                    let what = if *name == "x-acs-security-token" {
                        "ALIBABA_CLOUD_SECURITY_TOKEN"
                    } else {
                        name
                    };
                    headers.insert(HeaderName::from_static(name), header(value, what)?);
                }
                headers.insert(
                    reqwest::header::AUTHORIZATION,
                    header(&authorization, "ALIBABA_CLOUD_ACCESS_KEY_ID")?,
                );
                url.set_query(Some(&sign::canonical_query(params)));
            }
            SignatureVersion::V1 => {
                headers.insert(reqwest::header::HOST, header(&self.host, "host")?);
                let mut all: Vec<(&str, &str)> = params.to_vec();
                all.extend([
                    ("Format", "JSON"),
                    ("Version", API_VERSION),
                    ("AccessKeyId", creds.access_key_id.as_str()),
                    ("SignatureMethod", "HMAC-SHA1"),
                    ("SignatureVersion", "1.0"),
                    ("SignatureNonce", nonce.as_str()),
                    ("Timestamp", now.as_str()),
                    ("Action", action),
                ]);
                if let Some(token) = &creds.security_token {
                    all.push(("SecurityToken", token.expose()));
                }
                let signature = sign::v1_signature(creds.access_key_secret.expose(), "GET", &all);
                url.set_query(Some(&format!(
                    "{}&Signature={}",
                    sign::canonical_query(&all),
                    sign::pct(&signature)
                )));
            }
        }
        Ok((url, headers))
    }
}

/// Reads a body of at most `max` bytes without buffering more: `Ok(None)` as soon as it is
/// longer (by `Content-Length` or by what arrives).
async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0).min(max as u64) as usize);
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > max {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The service's retry hint: `TimeLeft:<ms>` in `x-ratelimit-user-api` or `x-ratelimit-user`
/// (e.g. `Limit:100,Remain:0,TimeLeft:850,Reset:1700000000`). The longer one if both.
fn time_left(headers: &HeaderMap) -> Option<Duration> {
    ["x-ratelimit-user-api", "x-ratelimit-user"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .filter_map(|v| {
            v.split([',', ';']).find_map(|part| {
                let (k, ms) = part.split_once(':')?;
                if k.trim().eq_ignore_ascii_case("TimeLeft") {
                    ms.trim().parse::<u64>().ok().map(Duration::from_millis)
                } else {
                    None
                }
            })
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_hint() {
        let mut h = HeaderMap::new();
        assert_eq!(time_left(&h), None);
        h.insert(
            "x-ratelimit-user-api",
            HeaderValue::from_static("Limit:100,Remain:0,TimeLeft:850,Reset:1700000000"),
        );
        assert_eq!(time_left(&h), Some(Duration::from_millis(850)));
        h.insert(
            "x-ratelimit-user",
            HeaderValue::from_static("TimeLeft: 1200"),
        );
        assert_eq!(time_left(&h), Some(Duration::from_millis(1200)));
    }
}
