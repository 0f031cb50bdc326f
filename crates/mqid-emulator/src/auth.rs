//! Checks the signature of a request: V3 (`ACS3-HMAC-SHA256` in `Authorization`) or V1 (RPC,
//! `Signature` parameter, HMAC-SHA1), with the clock-skew and nonce rules of the gateway.
//!
//! The signatures are recomputed by [`crate::verify`], with the functions mqid's own client
//! signs with; the Python interop tests prove both against Alibaba's official SDKs.
//!
//! Checks, in order, and the answer to each failure:
//!
//! | check | answer |
//! |---|---|
//! | V3: `Authorization` parses; algorithm `ACS3-HMAC-SHA256` | `IncompleteSignature`; `InvalidSignatureMethod` for another `ACS3-*` |
//! | V1: `SignatureMethod`, `SignatureVersion`, `AccessKeyId`, `Timestamp`, `SignatureNonce`, `Signature` present | `MissingParameter` |
//! | V1: `SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0` | `InvalidSignatureMethod` / `IncompleteSignature` |
//! | the AccessKey id is the configured one | `InvalidAccessKeyId.NotFound` (404) |
//! | V3: `host`, `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256` present | `MissingParameter` |
//! | V3: `host`, every `x-acs-*` header received, and `content-type` when there is a body, are signed | `IncompleteSignature` |
//! | V3: `x-acs-content-sha256` is the SHA-256 of the body received | `SignatureDoesNotMatch` |
//! | timestamp is `YYYY-MM-DDThh:mm:ssZ` | `InvalidTimeStamp.Format` |
//! | timestamp within 15 minutes of the emulator's clock | `InvalidTimeStamp.Expired` |
//! | security token, when one is configured, sent and equal | `MissingSecurityToken` / `InvalidSecurityToken.MismatchWithAccessKey` |
//! | the signature matches | `SignatureDoesNotMatch` (with the server's string to sign) |
//! | the nonce was not used in the last 30 minutes | `SignatureNonceUsed` |
//!
//! The signature-coverage rule of V3 and the order are the emulator's choices (the gateway's
//! exact order is not documented). A nonce is remembered only once its request is authentic.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use mqid_core::Secret;
use mqid_sync::openapi::sign::{self, borrowed, V3Request};

use crate::verify::{self, AuthorizationError, V3Authorization};

use crate::error::ApiError;

/// Largest accepted difference between a request's timestamp and the emulator's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// How long a nonce is remembered: a timestamp may be up to `MAX_CLOCK_SKEW` early or late.
const NONCE_MEMORY: Duration = Duration::from_secs(2 * 15 * 60);

/// A bound on memory under a flood; the oldest nonces are forgotten first.
const MAX_NONCES: usize = 1_000_000;

/// Which signature a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    V3,
    V1,
}

/// A received request, decoded.
pub(crate) struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The URL query, decoded, in order.
    pub query: &'a [(String, String)],
    /// The form body of a POST, decoded, in order.
    pub form: &'a [(String, String)],
    /// Headers with lower-case names; values that are not UTF-8 are left out.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Received<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter from the query, else from the form body.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// V3 if the request has an `Authorization` header; else V1 if it has a V1 signature
    /// parameter; else V3 if it has an `x-acs-action` header (a V3 request without its
    /// `Authorization`); else V1. (The SDKs send `x-acs-action` with V1 requests too.)
    pub fn style(&self) -> Style {
        let v1 = ["Signature", "SignatureMethod", "AccessKeyId"]
            .iter()
            .any(|p| self.param(p).is_some());
        if self.header("authorization").is_some() {
            Style::V3
        } else if v1 || self.header("x-acs-action").is_none() {
            Style::V1
        } else {
            Style::V3
        }
    }
}

/// The one AccessKey the emulator knows.
pub(crate) struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

/// Nonces of authentic requests, remembered for `NONCE_MEMORY`.
#[derive(Default)]
pub(crate) struct Nonces(Mutex<NonceSet>);

#[derive(Default)]
struct NonceSet {
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Nonces {
    /// Records `nonce`; false if it was seen already.
    fn first_use(&self, nonce: &str, now: Instant) -> bool {
        let mut s = self.0.lock().expect("nonce lock poisoned");
        while let Some((at, _)) = s.order.front() {
            if now.duration_since(*at) < NONCE_MEMORY && s.order.len() < MAX_NONCES {
                break;
            }
            let (_, old) = s.order.pop_front().expect("front exists");
            s.seen.remove(&old);
        }
        if s.seen.contains(nonce) {
            return false;
        }
        s.seen.insert(nonce.to_owned());
        s.order.push_back((now, nonce.to_owned()));
        true
    }
}

/// Checks the request's signature and freshness; on success records its nonce.
pub(crate) fn authenticate(
    req: &Received,
    creds: &Credentials,
    nonces: &Nonces,
    now: SystemTime,
) -> Result<(), ApiError> {
    let nonce = match req.style() {
        Style::V3 => check_v3(req, creds, now)?,
        Style::V1 => check_v1(req, creds, now)?,
    };
    if !nonces.first_use(nonce, Instant::now()) {
        return Err(ApiError::nonce_used());
    }
    Ok(())
}

fn check_timestamp(value: &str, now: SystemTime) -> Result<(), ApiError> {
    let t = verify::parse_timestamp(value).ok_or_else(ApiError::timestamp_format)?;
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(ApiError::timestamp_expired());
    }
    Ok(())
}

fn check_token(sent: Option<&str>, creds: &Credentials) -> Result<(), ApiError> {
    let Some(expected) = &creds.security_token else {
        return Ok(()); // without a configured token, one that is sent is ignored
    };
    match sent {
        None | Some("") => Err(ApiError::missing_security_token()),
        Some(t) if verify::ct_eq(t, expected.expose()) => Ok(()),
        Some(_) => Err(ApiError::security_token_mismatch()),
    }
}

/// Returns the nonce of an authentic V3 request.
fn check_v3<'r>(
    req: &'r Received,
    creds: &Credentials,
    now: SystemTime,
) -> Result<&'r str, ApiError> {
    let header = req
        .header("authorization")
        .ok_or_else(|| ApiError::incomplete_signature("The Authorization header is missing."))?;
    let auth = V3Authorization::parse(header).map_err(|e| match e {
        AuthorizationError::Algorithm if header.trim_start().starts_with("ACS3-") => {
            ApiError::invalid_signature_method()
        }
        e => ApiError::incomplete_signature(e),
    })?;
    if auth.credential != creds.access_key_id {
        return Err(ApiError::access_key_not_found());
    }
    for name in [
        "host",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        if req.header(name).is_none() {
            return Err(ApiError::missing_parameter(name));
        }
    }
    let must_sign = req.headers.iter().map(|(k, _)| k.as_str()).filter(|k| {
        *k == "host" || k.starts_with("x-acs-") || (*k == "content-type" && !req.body.is_empty())
    });
    for name in must_sign {
        if !auth.signed_headers.iter().any(|s| s == name) {
            return Err(ApiError::incomplete_signature(format_args!(
                "The header {name} must be signed (listed in SignedHeaders)."
            )));
        }
    }
    let body_hash = sign::sha256_hex(req.body);
    let claimed = req.header("x-acs-content-sha256").unwrap_or_default();
    if !claimed.eq_ignore_ascii_case(&body_hash) {
        return Err(ApiError::signature_mismatch_because(format_args!(
            "x-acs-content-sha256 {claimed} is not the SHA-256 of the body, {body_hash}."
        )));
    }
    check_timestamp(req.header("x-acs-date").unwrap_or_default(), now)?;
    check_token(req.header("x-acs-security-token"), creds)?;
    let (query, headers) = (borrowed(req.query), borrowed(req.headers));
    let received = V3Request {
        method: req.method,
        canonical_uri: req.path,
        query: &query,
        headers: &headers,
        body_sha256_hex: claimed,
    };
    if !auth.verify(creds.access_key_secret.expose(), &received) {
        let picked: Vec<(&str, &str)> = auth
            .signed_headers
            .iter()
            .filter_map(|n| req.header(n).map(|v| (n.as_str(), v)))
            .collect();
        let signed = V3Request {
            headers: &picked,
            ..received
        };
        return Err(ApiError::signature_mismatch(&sign::v3_string_to_sign(
            &signed.canonical(),
        )));
    }
    Ok(req.header("x-acs-signature-nonce").unwrap_or_default())
}

/// Returns the nonce of an authentic V1 request.
fn check_v1<'r>(
    req: &'r Received,
    creds: &Credentials,
    now: SystemTime,
) -> Result<&'r str, ApiError> {
    let need = |name: &str| {
        req.param(name)
            .ok_or_else(|| ApiError::missing_parameter(name))
    };
    let method = need("SignatureMethod")?;
    if method != "HMAC-SHA1" {
        return Err(ApiError::invalid_signature_method());
    }
    let version = need("SignatureVersion")?;
    if version != "1.0" {
        return Err(ApiError::incomplete_signature(format_args!(
            "SignatureVersion {version:?} is not 1.0."
        )));
    }
    let key_id = need("AccessKeyId")?;
    if key_id != creds.access_key_id {
        return Err(ApiError::access_key_not_found());
    }
    let timestamp = need("Timestamp")?;
    let nonce = need("SignatureNonce")?;
    need("Signature")?;
    check_timestamp(timestamp, now)?;
    check_token(req.param("SecurityToken"), creds)?;
    // Every parameter is signed, the form body's too.
    let params: Vec<(&str, &str)> = req
        .query
        .iter()
        .chain(req.form)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !verify::v1_verify(creds.access_key_secret.expose(), req.method, &params) {
        let unsigned: Vec<(&str, &str)> = params
            .iter()
            .copied()
            .filter(|(k, _)| *k != "Signature")
            .collect();
        return Err(ApiError::signature_mismatch(&sign::v1_string_to_sign(
            req.method, &unsigned,
        )));
    }
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "testid".into(),
            access_key_secret: Secret::new("testsecret"),
            security_token: None,
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Alibaba's documented V1 example, checked at its own timestamp.
    #[test]
    fn v1_known_answer_verifies() {
        let query = owned(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
            ("Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="),
        ]);
        let req = Received {
            method: "GET",
            path: "/",
            query: &query,
            form: &[],
            headers: &[],
            body: b"",
        };
        let at = verify::parse_timestamp("2016-02-23T12:50:00Z").unwrap();
        let nonces = Nonces::default();
        assert_eq!(authenticate(&req, &creds(), &nonces, at), Ok(()));
        assert_eq!(
            authenticate(&req, &creds(), &nonces, at).unwrap_err().code,
            "SignatureNonceUsed"
        );
        let late = verify::parse_timestamp("2016-02-23T13:02:00Z").unwrap();
        assert_eq!(
            authenticate(&req, &creds(), &Nonces::default(), late)
                .unwrap_err()
                .code,
            "InvalidTimeStamp.Expired"
        );
    }

    #[test]
    fn nonces_expire() {
        let n = Nonces::default();
        let t0 = Instant::now();
        assert!(n.first_use("a", t0));
        assert!(!n.first_use("a", t0 + Duration::from_secs(60)));
        assert!(n.first_use("a", t0 + NONCE_MEMORY + Duration::from_secs(1)));
    }
}
