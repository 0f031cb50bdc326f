//! The server side of the OpenAPI request signatures: decoding a received query, parsing a V3
//! `Authorization` header, recomputing a V3 or V1 signature and comparing it in constant time,
//! and reading a request's timestamp.
//!
//! The signatures themselves are computed with `mqid_sync::openapi::sign`, the functions mqid's
//! own client signs with; the Python interop tests prove both against Alibaba's official SDKs.
//!
//! ```
//! use mqid_emulator::verify::V3Authorization;
//!
//! let parsed = V3Authorization::parse(
//!     "ACS3-HMAC-SHA256 Credential=LTAI5tExampleKeyId,SignedHeaders=host;x-acs-date,Signature=ab",
//! )
//! .unwrap();
//! assert_eq!(parsed.credential, "LTAI5tExampleKeyId");
//! assert_eq!(parsed.signed_headers, ["host", "x-acs-date"]);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// What [`V3Authorization::verify`] checks (re-exported for callers that build it).
pub use mqid_sync::openapi::sign::V3Request;
use mqid_sync::openapi::sign::{self, Pairs, V3_ALGORITHM};

/// Splits a raw URL query string or form body (`a=1&b=x%20y`, without the `?`) into decoded
/// pairs, in order: `%XX` escapes and `+` (a space) decoded, a `%` without two hex digits kept
/// as it is, bytes that are not UTF-8 replaced with U+FFFD. A pair without `=` has an empty
/// value; empty segments are dropped.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Parses `YYYY-MM-DDThh:mm:ssZ` (as [`sign::format_timestamp`] writes it), for checking the
/// clock skew of a request. `None` if the text is not exactly that form or is before 1970.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    // The format's `[year]` would also take a sign or more digits; the API's form has neither.
    if s.len() != 20 || !s.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let t = time::PrimitiveDateTime::parse(s, sign::TIMESTAMP_FORMAT)
        .ok()?
        .assume_utc();
    let t = SystemTime::from(t);
    (t >= UNIX_EPOCH).then_some(t)
}

/// Constant-time equality of two signatures or tokens (their lengths are not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Recomputes the V1 signature of the received `params` (which may include `Signature`; it is
/// left out of the computation) and compares it with the received `Signature` in constant
/// time. `false` when `Signature` is absent.
pub fn v1_verify(access_key_secret: &str, method: &str, params: &Pairs) -> bool {
    let mut received = None;
    let mut rest: Vec<(&str, &str)> = Vec::with_capacity(params.len());
    for &(k, v) in params {
        if k == "Signature" {
            received = Some(v);
        } else {
            rest.push((k, v));
        }
    }
    match received {
        Some(sig) => ct_eq(&sign::v1_signature(access_key_secret, method, &rest), sig),
        None => false,
    }
}

/// A V3 `Authorization` header, taken apart. To verify: look the secret up by `credential`,
/// then [`V3Authorization::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Authorization {
    /// The AccessKey id.
    pub credential: String,
    /// Lower-case header names, in the order given (`;`-separated in the header).
    pub signed_headers: Vec<String>,
    /// The hex signature as received.
    pub signature: String,
}

/// Why an `Authorization` header is not a well-formed V3 one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("Authorization does not start with \"{V3_ALGORITHM} \"")]
    Algorithm,
    #[error("Authorization lacks {0}")]
    Missing(&'static str),
    #[error("Authorization has an unknown or repeated part")]
    Malformed,
}

impl V3Authorization {
    /// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` (parts in any order,
    /// spaces after commas tolerated).
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let rest = header
            .trim()
            .strip_prefix(V3_ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(AuthorizationError::Algorithm)?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or(AuthorizationError::Malformed)?;
            let slot = match k {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(AuthorizationError::Malformed),
            };
            if slot.replace(v.to_owned()).is_some() {
                return Err(AuthorizationError::Malformed);
            }
        }
        let present = |v: Option<String>, name| {
            v.filter(|s| !s.is_empty())
                .ok_or(AuthorizationError::Missing(name))
        };
        let credential = present(credential, "Credential")?;
        let signed = present(signed, "SignedHeaders")?;
        let signature = present(signature, "Signature")?;
        Ok(V3Authorization {
            credential,
            signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
            signature,
        })
    }

    /// The received headers (any case) named in `signed_headers`, each under its signed name;
    /// `None` when a named header was not received.
    pub fn pick<'a>(&'a self, all_headers: &Pairs<'a>) -> Option<Vec<(&'a str, &'a str)>> {
        let mut picked = Vec::with_capacity(self.signed_headers.len());
        for name in &self.signed_headers {
            let before = picked.len();
            for &(k, v) in all_headers {
                if k.trim().eq_ignore_ascii_case(name) {
                    picked.push((name.as_str(), v));
                }
            }
            if picked.len() == before {
                return None;
            }
        }
        Some(picked)
    }

    /// Recomputes the signature of a received request and compares it in constant time.
    /// `received.headers` are every header received (any case); those named in
    /// `signed_headers` are signed (a named header that was not received makes the check
    /// fail). `received.query` is the decoded query ([`parse_query`]).
    pub fn verify(&self, access_key_secret: &str, received: &V3Request) -> bool {
        let Some(picked) = self.pick(received.headers) else {
            return false;
        };
        let signed = V3Request {
            headers: &picked,
            ..*received
        };
        ct_eq(&signed.signature(access_key_secret), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqid_sync::openapi::sign::{borrowed, canonical_query, pct};
    use serde_json::Value;

    /// Known answers computed outside this project (see the file's `note`).
    const VECTORS: &str = include_str!("../../mqid-sync/tests/data/signature-vectors.json");

    fn pairs(v: &Value) -> Vec<(String, String)> {
        serde_json::from_value(v.clone()).expect("pairs")
    }

    fn text(v: &Value, key: &str) -> String {
        v[key].as_str().expect(key).to_owned()
    }

    #[test]
    fn v1_known_answers_verify() {
        let vs: Value = serde_json::from_str(VECTORS).unwrap();
        let v1 = vs["v1"].as_array().unwrap();
        assert!(!v1.is_empty());
        for v in v1 {
            let (secret, method) = (text(v, "access_key_secret"), text(v, "method"));
            let signature = text(v, "signature");
            let mut received = pairs(&v["params"]);
            let unsigned = received.clone();
            received.push(("Signature".into(), signature.clone()));
            assert!(v1_verify(&secret, &method, &borrowed(&received)));
            assert!(!v1_verify("not-the-secret", &method, &borrowed(&received)));
            assert!(!v1_verify(&secret, &method, &borrowed(&unsigned)));
            // And so does one that parses the raw query string off the wire.
            let wire = format!(
                "{}&Signature={}",
                canonical_query(&borrowed(&unsigned)),
                pct(&signature)
            );
            assert!(v1_verify(&secret, &method, &borrowed(&parse_query(&wire))));
        }
    }

    #[test]
    fn v3_known_answers_verify() {
        let vs: Value = serde_json::from_str(VECTORS).unwrap();
        let v3 = vs["v3"].as_array().unwrap();
        assert!(!v3.is_empty());
        for v in v3 {
            let (secret, method) = (text(v, "access_key_secret"), text(v, "method"));
            let (uri, body) = (text(v, "canonical_uri"), text(v, "body_sha256_hex"));
            let query = pairs(&v["query"]);
            let query = borrowed(&query);
            let headers = pairs(&v["headers"]);
            // Header case, padding and order do not matter.
            let mut messy: Vec<(String, String)> = headers
                .iter()
                .rev()
                .map(|(k, val)| (k.to_ascii_uppercase(), format!("  {val} ")))
                .collect();
            messy.push(("Accept".into(), "application/json".into())); // received, not signed
            let parsed = V3Authorization::parse(&text(v, "authorization")).unwrap();
            assert_eq!(parsed.credential, text(v, "access_key_id"));
            assert_eq!(parsed.signature, text(v, "signature"));
            let messy = borrowed(&messy);
            let received = V3Request {
                method: &method,
                canonical_uri: &uri,
                query: &query,
                headers: &messy,
                body_sha256_hex: &body,
            };
            assert!(parsed.verify(&secret, &received));
            assert!(!parsed.verify("wrong", &received));
            // A signed header that was not received fails the check.
            let missing = borrowed(&headers[1..]);
            let received = V3Request {
                headers: &missing,
                ..received
            };
            assert!(!parsed.verify(&secret, &received));
        }
    }

    #[test]
    fn query_decoding() {
        let q = |raw: &str| parse_query(raw);
        assert_eq!(q("a=a%20b%2Bc+d%zz%4")[0].1, "a b+c d%zz%4");
        assert_eq!(q(&format!("k={}", pct("x y/é~")))[0].1, "x y/é~");
        assert_eq!(
            q("b=2&a=&c&&d=x%3Dy"),
            vec![
                ("b".into(), "2".into()),
                ("a".into(), String::new()),
                ("c".into(), String::new()),
                ("d".into(), "x=y".into())
            ]
        );
    }

    #[test]
    fn authorization_parse_errors() {
        assert_eq!(
            V3Authorization::parse("HMAC Credential=a"),
            Err(AuthorizationError::Algorithm)
        );
        assert_eq!(
            V3Authorization::parse("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host"),
            Err(AuthorizationError::Missing("Signature"))
        );
        assert_eq!(
            V3Authorization::parse("ACS3-HMAC-SHA256 Credential=a,Credential=b"),
            Err(AuthorizationError::Malformed)
        );
        let ok = V3Authorization::parse(
            "ACS3-HMAC-SHA256 Credential=id, SignedHeaders=Host;x-acs-date, Signature=ab",
        )
        .unwrap();
        assert_eq!(ok.signed_headers, vec!["host", "x-acs-date"]);
    }

    #[test]
    fn timestamps() {
        use std::time::Duration;
        // Seconds since the epoch from Python's calendar.timegm.
        let secs = |s: &str| {
            parse_timestamp(s)
                .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs())
                .unwrap_or_else(|| panic!("{s} parses"))
        };
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("2026-11-27T12:00:00Z"), 1_795_780_800);
        assert_eq!(secs("2024-02-29T23:59:59Z"), 1_709_251_199);
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(parse_timestamp(&sign::format_timestamp(t)), Some(t));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-27 12:00:00Z",
            "2026-11-27T12:00:00",
            "2026-11-27T12:00:00+00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T12:60:00Z",
            "2026-1-27T12:00:00Z ",
            "+026-11-27T12:00:00Z",
            "-026-11-27T12:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-27t12:00:00Z",
            "2026-11-27T12:00:00z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
