//! Request signatures of the Alibaba Cloud OpenAPI: V3 (`ACS3-HMAC-SHA256`) and V1 (RPC
//! HMAC-SHA1).
//!
//! Pure functions, no I/O: the client uses them to sign, and a server (the emulator) uses the
//! same functions to recompute the signature of a request it received and compare. Every
//! function that takes parameters or headers is generic over `AsRef<str>` pairs, so it accepts
//! both `&[(&str, &str)]` and the owned `&[(String, String)]` that [`parse_query`] returns.
//!
//! ```
//! use mqid_sync::openapi::sign;
//!
//! // V3: sign the headers named in SignedHeaders, over an empty GET body.
//! let auth = sign::v3_authorization(
//!     "LTAI5tExampleKeyId",
//!     "ExampleAccessKeySecret123",
//!     "GET",
//!     "/",
//!     &[("InstanceId", "post-cn-0pp1ldu4k01"), ("NextToken", ""), ("Size", "100")],
//!     &[
//!         ("host", "onsmqtt.cn-hangzhou.aliyuncs.com"),
//!         ("x-acs-action", "QueryCustomAuthIdentity"),
//!         ("x-acs-version", "2020-04-20"),
//!         ("x-acs-date", "2026-11-27T12:00:00Z"),
//!         ("x-acs-signature-nonce", "3a6f0b52-7c4e-4d7e-9a43-5a0f7f9e2b11"),
//!         ("x-acs-content-sha256", sign::EMPTY_SHA256_HEX),
//!     ],
//!     sign::EMPTY_SHA256_HEX,
//! );
//! assert!(auth.ends_with("Signature=dbb10d77368f4d463168d04f031e708b963049718b4b87f6eae7743ef7da0176"));
//!
//! // A verifier parses what it received and recomputes.
//! let parsed = sign::V3Authorization::parse(&auth).unwrap();
//! assert_eq!(parsed.credential, "LTAI5tExampleKeyId");
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

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The V3 algorithm name, first word of the `Authorization` header and of the string to sign.
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// `hex(SHA-256(""))`: the `x-acs-content-sha256` of a request without a body (every GET).
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Percent-encodes `s` as the OpenAPI signatures require: unreserved `A-Z a-z 0-9 - _ . ~`
/// kept, every other UTF-8 byte as `%XX` with upper-case hex (a space is `%20`).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes (and, as in form encoding, `+` as a space). A `%` not followed by two
/// hex digits is kept as it is. Bytes that do not form UTF-8 are replaced with U+FFFD.
pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a raw URL query string (`a=1&b=x%20y`, without the `?`) into decoded pairs, in order.
/// A pair without `=` has an empty value; empty segments are dropped. For a verifier: feed the
/// result to [`canonical_query`], [`v1_signature`] or [`v3_canonical_request`].
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| match seg.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(seg), String::new()),
        })
        .collect()
}

/// The canonical query string: pairs sorted by name, then value, each `pct(name)=pct(value)`,
/// joined with `&`. This is also the query string the client sends, so what is signed is byte
/// for byte what goes on the wire.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    sorted.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&pct(k));
        out.push('=');
        out.push_str(&pct(v));
    }
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `hex(SHA-256(body))`, the value of `x-acs-content-sha256` and the last line of the V3
/// canonical request.
pub fn sha256_hex(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

// ---------------------------------------------------------------------------------------------
// V1: RPC HMAC-SHA1
// ---------------------------------------------------------------------------------------------

/// The V1 string to sign: `method + "&%2F&" + pct(canonical_query(params))`. `params` are all
/// the query parameters except `Signature` (a verifier must leave it out).
pub fn v1_string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct("/"),
        pct(&canonical_query(params))
    )
}

/// The V1 `Signature` parameter: `Base64(HMAC-SHA1(access_key_secret + "&", StringToSign))`.
/// `params` are all query parameters except `Signature` itself (see [`v1_string_to_sign`]).
pub fn v1_signature<K: AsRef<str>, V: AsRef<str>>(
    access_key_secret: &str,
    method: &str,
    params: &[(K, V)],
) -> String {
    let mut key = String::with_capacity(access_key_secret.len() + 1);
    key.push_str(access_key_secret);
    key.push('&');
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(v1_string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// For a verifier: recomputes the V1 signature of the received `params` (which may include
/// `Signature`; it is left out of the computation) and compares it with the received
/// `Signature` in constant time. `false` when `Signature` is absent.
pub fn v1_verify<K: AsRef<str>, V: AsRef<str>>(
    access_key_secret: &str,
    method: &str,
    params: &[(K, V)],
) -> bool {
    let mut received = None;
    let mut rest: Vec<(&str, &str)> = Vec::with_capacity(params.len());
    for (k, v) in params {
        if k.as_ref() == "Signature" {
            received = Some(v.as_ref());
        } else {
            rest.push((k.as_ref(), v.as_ref()));
        }
    }
    match received {
        Some(sig) => ct_eq(&v1_signature(access_key_secret, method, &rest), sig),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// V3: ACS3-HMAC-SHA256
// ---------------------------------------------------------------------------------------------

/// Canonical headers and signed-header list of V3: names lower-cased, values trimmed, sorted by
/// name; a name given twice has its values joined with `,` in the order given. Returns
/// (`"name:value\n"` lines concatenated, `;`-joined names).
pub fn v3_canonical_headers<K: AsRef<str>, V: AsRef<str>>(headers: &[(K, V)]) -> (String, String) {
    let mut hs: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        let name = k.as_ref().trim().to_ascii_lowercase();
        let value = v.as_ref().trim();
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

/// The V3 canonical request:
/// `Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload`
/// (the canonical headers end with their own `\n`). `headers` are exactly the headers to sign.
pub fn v3_canonical_request<Q1, Q2, H1, H2>(
    method: &str,
    canonical_uri: &str,
    query: &[(Q1, Q2)],
    headers: &[(H1, H2)],
    body_sha256_hex: &str,
) -> String
where
    Q1: AsRef<str>,
    Q2: AsRef<str>,
    H1: AsRef<str>,
    H2: AsRef<str>,
{
    let (canonical_headers, signed_headers) = v3_canonical_headers(headers);
    let uri = if canonical_uri.is_empty() {
        "/"
    } else {
        canonical_uri
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        uri,
        canonical_query(query),
        canonical_headers,
        signed_headers,
        body_sha256_hex
    )
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
    hex(&mac.finalize().into_bytes())
}

/// The complete V3 `Authorization` header value:
/// `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<names>,Signature=<hex>`.
///
/// `headers` are the headers to sign, given explicitly (the client signs `host` and every
/// `x-acs-*` header it sends); they are lower-cased, trimmed and sorted here.
pub fn v3_authorization<Q1, Q2, H1, H2>(
    access_key_id: &str,
    access_key_secret: &str,
    method: &str,
    canonical_uri: &str,
    query: &[(Q1, Q2)],
    headers: &[(H1, H2)],
    body_sha256_hex: &str,
) -> String
where
    Q1: AsRef<str>,
    Q2: AsRef<str>,
    H1: AsRef<str>,
    H2: AsRef<str>,
{
    let request = v3_canonical_request(method, canonical_uri, query, headers, body_sha256_hex);
    let signature = v3_signature(access_key_secret, &v3_string_to_sign(&request));
    let (_, signed_headers) = v3_canonical_headers(headers);
    format!("{V3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
}

/// A V3 `Authorization` header, taken apart. For a verifier: look the secret up by
/// `credential`, pick the received headers named in `signed_headers`, recompute with
/// [`v3_canonical_request`] / [`v3_string_to_sign`] / [`v3_signature`] and compare with
/// [`ct_eq`] (or use [`V3Authorization::verify`]).
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
        let credential = credential
            .filter(|c| !c.is_empty())
            .ok_or(AuthorizationError::Missing("Credential"))?;
        let signed = signed
            .filter(|s| !s.is_empty())
            .ok_or(AuthorizationError::Missing("SignedHeaders"))?;
        let signature = signature
            .filter(|s| !s.is_empty())
            .ok_or(AuthorizationError::Missing("Signature"))?;
        Ok(V3Authorization {
            credential,
            signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
            signature,
        })
    }

    /// Recomputes the signature from a received request and compares it in constant time.
    /// `all_headers` are every header received (any case); those named in `signed_headers` are
    /// signed (a named header that was not received makes the check fail). `query` is the
    /// decoded query ([`parse_query`]).
    pub fn verify<Q1, Q2, H1, H2>(
        &self,
        access_key_secret: &str,
        method: &str,
        canonical_uri: &str,
        query: &[(Q1, Q2)],
        all_headers: &[(H1, H2)],
        body_sha256_hex: &str,
    ) -> bool
    where
        Q1: AsRef<str>,
        Q2: AsRef<str>,
        H1: AsRef<str>,
        H2: AsRef<str>,
    {
        let mut picked: Vec<(&str, &str)> = Vec::with_capacity(self.signed_headers.len());
        for name in &self.signed_headers {
            let before = picked.len();
            for (k, v) in all_headers {
                if k.as_ref().trim().eq_ignore_ascii_case(name) {
                    picked.push((name.as_str(), v.as_ref()));
                }
            }
            if picked.len() == before {
                return false;
            }
        }
        let request = v3_canonical_request(method, canonical_uri, query, &picked, body_sha256_hex);
        ct_eq(
            &v3_signature(access_key_secret, &v3_string_to_sign(&request)),
            &self.signature,
        )
    }
}

/// Constant-time equality of two signatures (their lengths are not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Timestamps and nonces
// ---------------------------------------------------------------------------------------------

/// Formats `t` as the OpenAPI wants `x-acs-date` and V1 `Timestamp`: UTC
/// `YYYY-MM-DDThh:mm:ssZ` (ISO 8601, whole seconds). Times before 1970 format as the epoch.
pub fn format_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDThh:mm:ssZ` (as [`format_timestamp`] writes it). For a verifier that
/// checks the clock skew of a request. `None` if the text is not exactly that form.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y as i64, mo as u32) as u64
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32) as u64;
    Some(UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + mi * 60 + se))
}

/// A fresh `x-acs-signature-nonce` / `SignatureNonce`: a random UUID v4 in its usual text form.
pub fn new_nonce() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Known answers computed outside this project; see the file's `note`.
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
            assert_eq!(
                v1_signature(&v.access_key_secret, &v.method, &v.params),
                v.signature
            );
            // Order of the input does not matter.
            let mut reversed = v.params.clone();
            reversed.reverse();
            assert_eq!(
                v1_signature(&v.access_key_secret, &v.method, &reversed),
                v.signature
            );
            // A verifier given the full received query accepts it, and refuses a wrong secret.
            let mut received = v.params.clone();
            received.push(("Signature".into(), v.signature.clone()));
            assert!(v1_verify(&v.access_key_secret, &v.method, &received));
            assert!(!v1_verify("not-the-secret", &v.method, &received));
            // And so does one that parses the raw query string off the wire.
            let wire = format!(
                "{}&Signature={}",
                canonical_query(&v.params),
                pct(&v.signature)
            );
            assert!(v1_verify(
                &v.access_key_secret,
                &v.method,
                &parse_query(&wire)
            ));
        }
    }

    #[test]
    fn v3_known_answers() {
        let vs = vectors();
        assert!(!vs.v3.is_empty());
        for v in vs.v3 {
            let request = v3_canonical_request(
                &v.method,
                &v.canonical_uri,
                &v.query,
                &v.headers,
                &v.body_sha256_hex,
            );
            assert_eq!(
                v3_signature(&v.access_key_secret, &v3_string_to_sign(&request)),
                v.signature
            );
            let auth = v3_authorization(
                &v.access_key_id,
                &v.access_key_secret,
                &v.method,
                &v.canonical_uri,
                &v.query,
                &v.headers,
                &v.body_sha256_hex,
            );
            assert_eq!(auth, v.authorization);

            // Header case, padding and order do not matter.
            let mut messy: Vec<(String, String)> = v
                .headers
                .iter()
                .rev()
                .map(|(k, val)| (k.to_ascii_uppercase(), format!("  {val} ")))
                .collect();
            messy.push(("Accept".into(), "application/json".into())); // received, not signed
            let parsed = V3Authorization::parse(&v.authorization).unwrap();
            assert_eq!(parsed.credential, v.access_key_id);
            assert_eq!(parsed.signature, v.signature);
            assert!(parsed.verify(
                &v.access_key_secret,
                &v.method,
                &v.canonical_uri,
                &v.query,
                &messy,
                &v.body_sha256_hex
            ));
            assert!(!parsed.verify(
                "wrong",
                &v.method,
                &v.canonical_uri,
                &v.query,
                &messy,
                &v.body_sha256_hex
            ));
            // A signed header that was not received fails the check.
            let missing: Vec<_> = v.headers.iter().skip(1).cloned().collect();
            assert!(!parsed.verify(
                &v.access_key_secret,
                &v.method,
                &v.canonical_uri,
                &v.query,
                &missing,
                &v.body_sha256_hex
            ));
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(pct("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(pct("a b+c*d/e:f=g&h%"), "a%20b%2Bc%2Ad%2Fe%3Af%3Dg%26h%25");
        assert_eq!(pct("é"), "%C3%A9");
        assert_eq!(pct_decode("a%20b%2Bc+d%zz%4"), "a b+c d%zz%4");
        assert_eq!(pct_decode(&pct("x y/é~")), "x y/é~");
        assert_eq!(
            parse_query("b=2&a=&c&&d=x%3Dy"),
            vec![
                ("b".into(), "2".into()),
                ("a".into(), String::new()),
                ("c".into(), String::new()),
                ("d".into(), "x=y".into())
            ]
        );
    }

    #[test]
    fn canonical_query_sorts_by_name_then_value() {
        assert_eq!(
            canonical_query(&[("b", "2"), ("a", "z"), ("a", "y"), ("NextToken", "")]),
            "NextToken=&a=y&a=z&b=2"
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
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = parse_timestamp("2026-11-27T12:00:00Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-11-27T12:00:00Z");
        let leap = parse_timestamp("2024-02-29T23:59:59Z").unwrap();
        assert_eq!(format_timestamp(leap), "2024-02-29T23:59:59Z");
        assert_eq!(
            format_timestamp(leap + Duration::from_secs(1)),
            "2024-03-01T00:00:00Z"
        );
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_795_780_800
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-27 12:00:00Z",
            "2026-11-27T12:00:00",
            "2026-13-01T00:00:00Z",
            "+026-11-27T12:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_uuid_shaped_and_distinct() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn empty_body_hash() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256_HEX);
    }
}
