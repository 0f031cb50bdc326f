//! Request signatures of the Alibaba Cloud OpenAPI: V3 (`ACS3-HMAC-SHA256`) and V1 (RPC
//! HMAC-SHA1).
//!
//! Pure functions, no I/O: the client uses them to sign, and a server (the emulator's
//! `verify` module) uses the same functions to recompute the signature of a request it received.
//! Parameters and headers are [`Pairs`]: borrowed name/value pairs (see [`borrowed`] for owned
//! ones).
//!
//! ```
//! use mqid_sync::openapi::sign;
//!
//! // V3: sign the headers named in SignedHeaders, over an empty GET body.
//! let request = sign::V3Request {
//!     method: "GET",
//!     canonical_uri: "/",
//!     query: &[("InstanceId", "post-cn-0pp1ldu4k01"), ("NextToken", ""), ("Size", "100")],
//!     headers: &[
//!         ("host", "onsmqtt.cn-hangzhou.aliyuncs.com"),
//!         ("x-acs-action", "QueryCustomAuthIdentity"),
//!         ("x-acs-version", "2020-04-20"),
//!         ("x-acs-date", "2026-11-27T12:00:00Z"),
//!         ("x-acs-signature-nonce", "3a6f0b52-7c4e-4d7e-9a43-5a0f7f9e2b11"),
//!         ("x-acs-content-sha256", sign::EMPTY_SHA256_HEX),
//!     ],
//!     body_sha256_hex: sign::EMPTY_SHA256_HEX,
//! };
//! let auth = request.authorization("LTAI5tExampleKeyId", "ExampleAccessKeySecret123");
//! assert!(auth.ends_with("Signature=dbb10d77368f4d463168d04f031e708b963049718b4b87f6eae7743ef7da0176"));
//! ```
//!
//! The algorithms, as `shared/docs/apsaramq-custom-auth.md` states them:
//!
//! * `pct`: RFC 3986 percent-encoding of UTF-8 bytes; `A-Z a-z 0-9 - _ . ~` kept, every other
//!   byte as `%XX` (upper-case hex), so a space is `%20`, never `+`.
//! * Canonical query: pairs sorted by name, then by value (byte order of the raw strings), each
//!   `pct(name)=pct(value)` (an empty value gives `name=`), joined with `&`.
//! * V3: `CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//!   SignedHeaders \n HashedPayload`; `StringToSign = "ACS3-HMAC-SHA256\n" +
//!   hex(SHA256(CanonicalRequest))`; `Signature = hex(HMAC-SHA256(secret, StringToSign))`.
//! * V1: `StringToSign = Method + "&%2F&" + pct(CanonicalQuery)`; `Signature =
//!   Base64(HMAC-SHA1(secret + "&", StringToSign))`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Name/value pairs: query parameters, or headers. Order is kept where it matters (a header
/// named twice); the canonical forms sort.
pub type Pairs<'a> = [(&'a str, &'a str)];

/// Borrows owned pairs (a decoded query, received headers) as [`Pairs`].
pub fn borrowed(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The V3 algorithm name, first word of the `Authorization` header and of the string to sign.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// `hex(SHA-256(""))`: the `x-acs-content-sha256` of a request without a body (every GET).
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Every byte but RFC 3986's unreserved `A-Z a-z 0-9 - _ . ~` is encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` as the OpenAPI signatures require: unreserved `A-Z a-z 0-9 - _ . ~`
/// kept, every other UTF-8 byte as `%XX` with upper-case hex (a space is `%20`).
pub fn pct(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// The canonical query string: pairs sorted by name, then value, each `pct(name)=pct(value)`,
/// joined with `&`. This is also the query string the client sends, so what is signed is byte
/// for byte what goes on the wire.
pub fn canonical_query(params: &Pairs) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, NOT_UNRESERVED));
        out.push('=');
        out.extend(utf8_percent_encode(v, NOT_UNRESERVED));
    }
    out
}

/// `hex(SHA-256(body))`, the value of `x-acs-content-sha256` and the last line of the V3
/// canonical request.
pub fn sha256_hex(body: &[u8]) -> String {
    format!("{:x}", Sha256::digest(body))
}

// ---------------------------------------------------------------------------------------------
// V1: RPC HMAC-SHA1
// ---------------------------------------------------------------------------------------------

/// The V1 string to sign: `method + "&%2F&" + pct(canonical_query(params))`. `params` are all
/// the query parameters except `Signature` (a verifier must leave it out).
pub fn v1_string_to_sign(method: &str, params: &Pairs) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct("/"),
        pct(&canonical_query(params))
    )
}

/// The V1 `Signature` parameter: `Base64(HMAC-SHA1(access_key_secret + "&", StringToSign))`.
/// `params` are all query parameters except `Signature` itself (see [`v1_string_to_sign`]).
pub fn v1_signature(access_key_secret: &str, method: &str, params: &Pairs) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(&[access_key_secret.as_bytes(), b"&"].concat())
        .expect("HMAC takes any key length");
    mac.update(v1_string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// V3: ACS3-HMAC-SHA256
// ---------------------------------------------------------------------------------------------

/// Canonical headers and signed-header list of V3: names lower-cased, values trimmed, sorted by
/// name; a name given twice has its values joined with `,` in the order given. Returns
/// (`"name:value\n"` lines concatenated, `;`-joined names).
pub fn v3_canonical_headers(headers: &Pairs) -> (String, String) {
    let mut hs: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        let name = k.trim().to_ascii_lowercase();
        let value = v.trim();
        match hs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => hs.push((name, value.to_owned())),
        }
    }
    hs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical = String::new();
    let mut signed = String::new();
    for (i, (n, v)) in hs.iter().enumerate() {
        canonical.push_str(n);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
        if i > 0 {
            signed.push(';');
        }
        signed.push_str(n);
    }
    (canonical, signed)
}

/// One V3 request, as far as its signature goes.
#[derive(Clone, Copy, Debug)]
pub struct V3Request<'a> {
    pub method: &'a str,
    /// The path; empty is `/`.
    pub canonical_uri: &'a str,
    /// The query parameters, decoded.
    pub query: &'a Pairs<'a>,
    /// Exactly the headers to sign (the client signs `host` and every `x-acs-*` header it
    /// sends); lower-cased, trimmed and sorted here.
    pub headers: &'a Pairs<'a>,
    /// `x-acs-content-sha256`: the hex SHA-256 of the body.
    pub body_sha256_hex: &'a str,
}

impl V3Request<'_> {
    /// The canonical request:
    /// `Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload`
    /// (the canonical headers end with their own `\n`).
    pub fn canonical(&self) -> String {
        let (canonical_headers, signed_headers) = v3_canonical_headers(self.headers);
        let uri = if self.canonical_uri.is_empty() {
            "/"
        } else {
            self.canonical_uri
        };
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            uri,
            canonical_query(self.query),
            canonical_headers,
            signed_headers,
            self.body_sha256_hex
        )
    }

    /// `hex(HMAC-SHA256(access_key_secret, string_to_sign(canonical request)))`.
    pub fn signature(&self, access_key_secret: &str) -> String {
        v3_signature(access_key_secret, &v3_string_to_sign(&self.canonical()))
    }

    /// The complete `Authorization` header value:
    /// `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`.
    pub fn authorization(&self, access_key_id: &str, access_key_secret: &str) -> String {
        let signature = self.signature(access_key_secret);
        let (_, signed_headers) = v3_canonical_headers(self.headers);
        format!("{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
    }
}

/// The V3 string to sign: `"ACS3-HMAC-SHA256\n" + hex(SHA256(canonical_request))`.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The V3 signature: `hex(HMAC-SHA256(access_key_secret, string_to_sign))`.
pub fn v3_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    format!("{:x}", mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------------------------
// Timestamps and nonces
// ---------------------------------------------------------------------------------------------

/// The form of `x-acs-date` and of V1 `Timestamp`: UTC `YYYY-MM-DDThh:mm:ssZ` (ISO 8601, whole
/// seconds).
pub const TIMESTAMP_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats `t` as the OpenAPI wants `x-acs-date` and V1 `Timestamp` ([`TIMESTAMP_FORMAT`]).
/// Times before 1970 format as the epoch.
pub fn format_timestamp(t: SystemTime) -> String {
    time::OffsetDateTime::from(t.max(UNIX_EPOCH))
        .format(TIMESTAMP_FORMAT)
        .expect("a UTC time of year 1970..=9999 formats")
}

/// A fresh `x-acs-signature-nonce` / `SignatureNonce`: a random UUID v4 in its usual text form
/// (lower-case hex).
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::time::Duration;

    /// Known answers computed outside this project; see the file's `note`. (The emulator's
    /// `verify` tests check the server side against the same file.)
    const VECTORS: &str = include_str!("../../tests/data/signature-vectors.json");

    #[derive(Deserialize)]
    struct Vectors {
        v1: Vec<V1Vector>,
        v3: Vec<V3Vector>,
    }
    #[derive(Deserialize)]
    struct V1Vector {
        access_key_secret: String,
        method: String,
        params: Vec<(String, String)>,
        signature: String,
    }
    #[derive(Deserialize)]
    struct V3Vector {
        access_key_id: String,
        access_key_secret: String,
        method: String,
        canonical_uri: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body_sha256_hex: String,
        signature: String,
        authorization: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(VECTORS).expect("signature-vectors.json parses")
    }

    #[test]
    fn v1_known_answers() {
        let vs = vectors();
        assert!(!vs.v1.is_empty());
        for v in vs.v1 {
            let params = borrowed(&v.params);
            assert_eq!(
                v1_signature(&v.access_key_secret, &v.method, &params),
                v.signature
            );
            // Order of the input does not matter.
            let mut reversed = params.clone();
            reversed.reverse();
            assert_eq!(
                v1_signature(&v.access_key_secret, &v.method, &reversed),
                v.signature
            );
        }
    }

    #[test]
    fn v3_known_answers() {
        let vs = vectors();
        assert!(!vs.v3.is_empty());
        for v in vs.v3 {
            let (query, headers) = (borrowed(&v.query), borrowed(&v.headers));
            let request = V3Request {
                method: &v.method,
                canonical_uri: &v.canonical_uri,
                query: &query,
                headers: &headers,
                body_sha256_hex: &v.body_sha256_hex,
            };
            assert_eq!(
                v3_signature(
                    &v.access_key_secret,
                    &v3_string_to_sign(&request.canonical())
                ),
                v.signature
            );
            assert_eq!(request.signature(&v.access_key_secret), v.signature);
            let auth = request.authorization(&v.access_key_id, &v.access_key_secret);
            assert_eq!(auth, v.authorization);
            // Header case, padding and order do not matter.
            let messy: Vec<(String, String)> = v
                .headers
                .iter()
                .rev()
                .map(|(k, val)| (k.to_ascii_uppercase(), format!("  {val} ")))
                .collect();
            let messy = borrowed(&messy);
            let again = V3Request {
                headers: &messy,
                ..request
            };
            assert_eq!(again.canonical(), request.canonical());
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(pct("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(pct("a b+c*d/e:f=g&h%"), "a%20b%2Bc%2Ad%2Fe%3Af%3Dg%26h%25");
        assert_eq!(pct("é"), "%C3%A9");
    }

    #[test]
    fn canonical_query_sorts_by_name_then_value() {
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "z"), ("a", "y"), ("NextToken", "")]),
            "NextToken=&a=y&a=z&b=2"
        );
        assert_eq!(canonical_query(&[("a b", "x/y")]), "a%20b=x%2Fy");
    }

    #[test]
    fn timestamps() {
        // Seconds since the epoch from Python's calendar.timegm.
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(format_timestamp(at(1_795_780_800)), "2026-11-27T12:00:00Z");
        assert_eq!(format_timestamp(at(1_709_251_199)), "2024-02-29T23:59:59Z");
        assert_eq!(format_timestamp(at(1_709_251_200)), "2024-03-01T00:00:00Z");
        // Sub-second parts are cut, not rounded.
        assert_eq!(
            format_timestamp(at(1_795_780_800) + Duration::from_millis(999)),
            "2026-11-27T12:00:00Z"
        );
    }

    #[test]
    fn nonces_are_uuid_v4_and_distinct() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a
            .bytes()
            .all(|c| c == b'-' || matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256_HEX);
    }
}
