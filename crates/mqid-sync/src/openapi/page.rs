//! One page of a `QueryCustomAuth*` response, parsed and checked on its own (no I/O).
//!
//! A page is `{"RequestId", "Code": 200, "Success": true, "Message", "Data": {"Results": [...],
//! "NextToken": "..."}}`. Checked here: the body is JSON of that shape, `Success` is not
//! `false`, `Data` is present, `Results` holds at most `Size` records. What spans pages (a
//! repeated `NextToken`) is checked by the pager.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use mqid_core::text::ellipsize;

use super::error::PageProblem;

/// The part of a record of `QueryCustomAuthConnectBlack` that mqid reads (`PermitAction`, always
/// `CONNECT`, is not).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawBlack {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub effect: Option<String>,
}

impl RawBlack {
    /// The client id this record refuses at CONNECT, if it refuses one.
    ///
    /// mqid's rule: a record of the connect *black*list refuses its `ClientId` unless its
    /// `Effect` is `ALLOW` (any case). So `DENY`, an absent or empty `Effect`, and a value mqid
    /// does not know all refuse: an unknown entry in a list of refusals fails closed. A record without a `ClientId` refuses
    /// nothing.
    pub fn refused_client_id(&self) -> Option<&str> {
        let id = self.client_id.as_deref().filter(|c| !c.is_empty())?;
        match self.effect.as_deref() {
            Some(e) if e.trim().eq_ignore_ascii_case("ALLOW") => None,
            _ => Some(id),
        }
    }
}

/// A checked page.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub results: Vec<T>,
    /// `Data.NextToken`; `None` when absent, null or empty (the last page).
    pub next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope<T> {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default = "Option::default")]
    data: Option<Data<T>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Data<T> {
    #[serde(default = "Option::default")]
    results: Option<Vec<T>>,
    #[serde(default)]
    next_token: Option<String>,
}

/// The error body of a failed call: `{"RequestId","HostId","Code","Message"}`.
#[derive(Debug, Default)]
pub(crate) struct ErrorBody {
    pub request_id: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ErrorBody {
    /// Parses an error body leniently: a field that is missing or not a string is `None`, and
    /// anything that is not a JSON object (a proxy's HTML page, an empty body) gives all `None`.
    pub fn parse(body: &[u8]) -> ErrorBody {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
            return ErrorBody::default();
        };
        let field = |k: &str| match map.get(k) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        ErrorBody {
            request_id: field("RequestId"),
            code: field("Code"),
            message: field("Message"),
        }
    }
}

/// Parses and checks one page. `scrub` removes credentials from text the service sent back.
/// A missing `Results` is an empty page (some services leave it out on the last page); a
/// missing `Success` is not a failure.
pub(crate) fn parse_page<T: DeserializeOwned>(
    body: &[u8],
    size: u32,
    scrub: &dyn Fn(&str) -> String,
) -> Result<Page<T>, PageProblem> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let env: Envelope<T> = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = redact_quoted(&inner.to_string());
        // The path holds the body's own keys (`at Data.<key>…` for a syntax error inside an
        // unknown field): scrubbed and clipped like any text the service sent.
        PageProblem::Json(ellipsize(
            &scrub(&if path.is_empty() || path == "." {
                msg
            } else {
                format!("at {path}: {msg}")
            }),
            300,
        ))
    })?;
    if env.success == Some(false) {
        let text = |v: Option<serde_json::Value>| match v {
            None => String::new(),
            Some(serde_json::Value::String(s)) => ellipsize(&scrub(&s), 300),
            Some(other) => ellipsize(&scrub(&other.to_string()), 300),
        };
        return Err(PageProblem::NotSuccess {
            code: text(env.code),
            message: text(env.message),
        });
    }
    let data = env.data.ok_or(PageProblem::MissingData)?;
    let results = data.results.unwrap_or_default();
    if results.len() > size as usize {
        return Err(PageProblem::TooManyResults {
            got: results.len(),
            size,
        });
    }
    Ok(Page {
        results,
        next_token: data.next_token.filter(|t| !t.is_empty()),
    })
}

/// What the pager takes from one `QueryCustomAuthIdentity` page: the valid identities, the
/// skipped records and the `NextToken`.
#[doc(hidden)]
pub type IdentityPage = RecordsPage<mqid_core::Identity, mqid_core::InvalidRecord>;

/// One page of validated records: the valid ones, the skipped ones and the `NextToken`.
#[doc(hidden)]
pub type RecordsPage<T, E> = (Vec<T>, Vec<E>, Option<String>);

/// One `QueryCustomAuthIdentity` page body as the pager reads it. For the fuzz targets and their
/// corpus tests; not a stable API.
#[doc(hidden)]
pub fn parse_identity_page(
    body: &[u8],
    size: u32,
    credentials: &super::Credentials,
) -> Result<IdentityPage, PageProblem> {
    records_page(body, size, credentials, mqid_core::parse_identities)
}

/// One `QueryCustomAuthConnectBlack` page body as the pager reads it: per record, the client id
/// it refuses (if any), and the `NextToken`. For the fuzz targets and their corpus tests; not a
/// stable API.
#[doc(hidden)]
pub fn parse_blacklist_page(
    body: &[u8],
    size: u32,
    credentials: &super::Credentials,
) -> Result<(Vec<Option<String>>, Option<String>), PageProblem> {
    let page = parse_page::<RawBlack>(body, size, &|s| credentials.scrub(s))?;
    let refused = page
        .results
        .iter()
        .map(|r| r.refused_client_id().map(str::to_owned))
        .collect();
    Ok((refused, page.next_token))
}

/// What the pager takes from one `QueryCustomAuthPermission` page: the valid rules, the skipped
/// records and the `NextToken`.
#[doc(hidden)]
pub type PermissionPage = RecordsPage<mqid_core::Permission, mqid_core::InvalidPermission>;

/// One `QueryCustomAuthPermission` page body as the pager reads it. For tests and fuzz targets;
/// not a stable API.
#[doc(hidden)]
pub fn parse_permission_page(
    body: &[u8],
    size: u32,
    credentials: &super::Credentials,
) -> Result<PermissionPage, PageProblem> {
    records_page(body, size, credentials, mqid_core::parse_permissions)
}

/// One page of records validated by `parse`, as the pager takes it: valid, skipped, NextToken.
fn records_page<R: serde::de::DeserializeOwned, T, E>(
    body: &[u8],
    size: u32,
    credentials: &super::Credentials,
    parse: impl Fn(Vec<R>, usize) -> (Vec<T>, Vec<E>),
) -> Result<RecordsPage<T, E>, PageProblem> {
    let page = parse_page::<R>(body, size, &|s| credentials.scrub(s))?;
    let (good, bad) = parse(page.results, 0);
    Ok((good, bad, page.next_token))
}

/// serde's messages quote the offending value (`invalid type: string "…", expected …`); that
/// value came off the wire and could be anything, so it is left out.
fn redact_quoted(msg: &str) -> String {
    match (msg.find('"'), msg.rfind('"')) {
        (Some(a), Some(b)) if b > a => format!("{}\"…\"{}", &msg[..a], &msg[b + 1..]),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqid_core::RawIdentity;

    fn none(s: &str) -> String {
        s.to_owned()
    }

    fn parse(body: &str, size: u32) -> Result<Page<RawIdentity>, PageProblem> {
        parse_page(body.as_bytes(), size, &none)
    }

    #[test]
    fn api_sample_page() {
        let body = r#"{"RequestId":"11568B5B","Code":200,"Success":true,"Message":"operation success.",
            "Data":{"Results":[{"Username":"test","Secret":"62a5916d71767185b48907d85c2efae2",
            "IdentityType":"USER","ClientId":"GID_ICP@@@4d378084","SignMode":"SIGNED"}],
            "NextToken":"AAAAAXA+GzVqTutYpgkFjBrchKzuvSbpuTqtt6OF9tsC9QnJ"}}"#;
        let p = parse(body, 100).unwrap();
        assert_eq!(p.results.len(), 1);
        assert_eq!(
            p.next_token.as_deref(),
            Some("AAAAAXA+GzVqTutYpgkFjBrchKzuvSbpuTqtt6OF9tsC9QnJ")
        );
    }

    #[test]
    fn last_page_forms() {
        for body in [
            r#"{"Success":true,"Data":{"Results":[]}}"#,
            r#"{"Success":true,"Data":{"Results":[],"NextToken":""}}"#,
            r#"{"Success":true,"Data":{"Results":[],"NextToken":null}}"#,
            r#"{"Data":{}}"#,
        ] {
            let p = parse(body, 10).unwrap();
            assert!(p.results.is_empty() && p.next_token.is_none(), "{body}");
        }
    }

    #[test]
    fn bad_pages() {
        assert!(matches!(parse("not json", 10), Err(PageProblem::Json(_))));
        assert!(matches!(parse("", 10), Err(PageProblem::Json(_))));
        assert_eq!(
            parse(r#"{"Success":true}"#, 10).unwrap_err(),
            PageProblem::MissingData
        );
        assert_eq!(
            parse(r#"{"Success":true,"Data":null}"#, 10).unwrap_err(),
            PageProblem::MissingData
        );
        assert_eq!(
            parse(
                r#"{"Success":false,"Code":"X.Y","Message":"no","Data":{}}"#,
                10
            )
            .unwrap_err(),
            PageProblem::NotSuccess {
                code: "X.Y".into(),
                message: "no".into()
            }
        );
        assert_eq!(
            parse(r#"{"Data":{"Results":[{},{},{}]}}"#, 2).unwrap_err(),
            PageProblem::TooManyResults { got: 3, size: 2 }
        );
        // A wrong JSON type names where, and does not repeat the value.
        let e = parse(r#"{"Data":{"Results":"hunter2-secret"}}"#, 2).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("Data.Results"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
        let e = parse(r#"{"Data":{"Results":[{"Username":7}]}}"#, 2).unwrap_err();
        assert!(e.to_string().contains("Data.Results[0].Username"), "{e}");
    }

    #[test]
    fn json_problem_is_scrubbed_and_clipped() {
        // found by the openapi_page fuzz target: a key of the body is part of the error's path
        let scrub = |s: &str| s.replace("TOKEN123", "<redacted>");
        let body = format!(r#"{{"Data":{{"x{}TOKEN123":[1,}}}}"#, "k".repeat(5000));
        let e = parse_page::<RawIdentity>(body.as_bytes(), 10, &scrub).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, PageProblem::Json(_)), "{s}");
        assert!(
            s.starts_with("the response is not the expected JSON: at Data.xkkk"),
            "{s}"
        );
        assert!(!s.contains("TOKEN123"), "{s}");
        assert!(s.chars().count() < 400, "{s}");
    }

    #[test]
    fn not_success_message_is_scrubbed() {
        let scrub = |s: &str| s.replace("TOKEN123", "<redacted>");
        let e = parse_page::<RawIdentity>(
            br#"{"Success":false,"Code":"E","Message":"string to sign: a=TOKEN123"}"#,
            10,
            &scrub,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("TOKEN123"), "{e}");
    }

    #[test]
    fn blacklist_rule() {
        let r = |c: Option<&str>, e: Option<&str>| RawBlack {
            client_id: c.map(Into::into),
            effect: e.map(Into::into),
        };
        assert_eq!(r(Some("a"), Some("DENY")).refused_client_id(), Some("a"));
        assert_eq!(r(Some("a"), None).refused_client_id(), Some("a"));
        assert_eq!(r(Some("a"), Some("")).refused_client_id(), Some("a"));
        assert_eq!(
            r(Some("a"), Some("WHATEVER")).refused_client_id(),
            Some("a")
        );
        assert_eq!(r(Some("a"), Some("ALLOW")).refused_client_id(), None);
        assert_eq!(r(Some("a"), Some("allow")).refused_client_id(), None);
        assert_eq!(r(Some(""), Some("DENY")).refused_client_id(), None);
        assert_eq!(r(None, Some("DENY")).refused_client_id(), None);
    }

    #[test]
    fn error_body() {
        let b = ErrorBody::parse(
            br#"{"RequestId":"R","HostId":"h","Code":"Throttling.User","Message":"slow down"}"#,
        );
        assert_eq!(b.code.as_deref(), Some("Throttling.User"));
        assert_eq!(b.request_id.as_deref(), Some("R"));
        assert!(ErrorBody::parse(b"<html>").code.is_none());
    }
}
