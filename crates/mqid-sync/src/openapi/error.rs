//! What can go wrong with the OpenAPI source, each as a variant whose message says what to fix.
//!
//! No message ever holds the AccessKey secret, the security token or an identity's secret: the
//! service's own `Message` is scrubbed of the credentials before it is kept (a V1
//! `SignatureDoesNotMatch` echoes the string to sign, which holds the `SecurityToken`), and
//! transport errors are kept without their URL (a V1 URL holds the token and the signature).

use std::fmt;

use mqid_core::text::ellipsize;

/// Why [`Credentials`](super::Credentials) could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("environment variable {0} is not set; the OpenAPI source needs it")]
    Missing(&'static str),
    #[error("environment variable {0} is empty; the OpenAPI source needs it")]
    Empty(&'static str),
    #[error("environment variable {0} is not valid UTF-8")]
    NotUnicode(&'static str),
    #[error("environment variable {0} has characters that cannot go in an HTTP request (spaces, control characters or non-ASCII); check for a stray quote or newline")]
    BadCharacters(&'static str),
}

/// Why a [`Client`](super::Client) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("[auth.openapi] endpoint: {problem}")]
    Endpoint { problem: String },
    #[error("could not set up the HTTP client: {0}")]
    Http(String),
}

/// Why one refresh pass failed. The pass produced nothing; the index in force stays.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The API refused the request for a reason that retrying cannot fix: the configuration or
    /// the credentials are wrong. [`PassError::needs_operator`] is true.
    #[error("{}", display_rejected(.action, *.page, *.status, .code.as_deref(), .message.as_deref(), .request_id.as_deref(), .hint))]
    Rejected {
        action: &'static str,
        /// Page number within the action, from 1.
        page: u32,
        /// HTTP status.
        status: u16,
        /// The error body's `Code`, if the body had one.
        code: Option<String>,
        /// The error body's `Message`, scrubbed of credentials and clipped.
        message: Option<String>,
        request_id: Option<String>,
        /// What to fix.
        hint: &'static str,
    },
    /// Transient failures (throttling, 5xx, timeouts, broken connections) used up the pass's
    /// retry budget (`max_retries_per_pass`).
    #[error("{action} page {page}: gave up after {retries} retries in this pass ([auth.openapi] max_retries_per_pass); last failure: {last}")]
    RetriesExhausted {
        action: &'static str,
        page: u32,
        retries: u32,
        last: String,
    },
    /// The service answered, but the page cannot be trusted; the pass is abandoned rather than
    /// half-applied.
    #[error("{action} page {page}: {problem}")]
    BadPage {
        action: &'static str,
        page: u32,
        problem: PageProblem,
    },
    /// The request could not be built (a bug, or a credential that is not a valid header value).
    #[error("{action} page {page}: could not build the request: {detail}")]
    Request {
        action: &'static str,
        page: u32,
        detail: String,
    },
    /// The pass completed but its set was refused by the [`Guard`](crate::guard::Guard): it is
    /// empty, or would remove too much of the index in force. An operator must allow it.
    #[error("the pass completed but its identities were not applied: {0}")]
    Refused(crate::guard::Refused),
}

impl PassError {
    /// Whether an operator must change something (configuration, credentials, permissions,
    /// clock) before a later pass can succeed. False for failures a later pass may not meet
    /// (throttling, outages, a bad page).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            PassError::Rejected { .. } | PassError::Request { .. } | PassError::Refused(_)
        )
    }

    /// A short label for metrics: the service's error `Code` when it refused the request
    /// (`SignatureDoesNotMatch`, `InstanceNotFound`, …, or `http_<status>` without one), else
    /// `retries_exhausted`, `bad_page`, `request` or `set_refused`.
    pub fn code(&self) -> String {
        match self {
            PassError::Rejected {
                code: Some(code), ..
            } if !code.is_empty() => code.clone(),
            PassError::Rejected { status, .. } => format!("http_{status}"),
            PassError::RetriesExhausted { .. } => "retries_exhausted".into(),
            PassError::BadPage { .. } => "bad_page".into(),
            PassError::Request { .. } => "request".into(),
            PassError::Refused(_) => "set_refused".into(),
        }
    }

    /// The operation that failed.
    pub fn action(&self) -> &'static str {
        match self {
            PassError::Rejected { action, .. }
            | PassError::RetriesExhausted { action, .. }
            | PassError::BadPage { action, .. }
            | PassError::Request { action, .. } => action,
            PassError::Refused(_) => super::ACTION_IDENTITY,
        }
    }
}

fn display_rejected(
    action: &str,
    page: u32,
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    request_id: Option<&str>,
    hint: &str,
) -> String {
    let mut s = format!(
        "{action} page {page}: refused by the API (HTTP {status}{}{}): {hint}",
        if code.is_some() { ", " } else { "" },
        code.unwrap_or("")
    );
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        s.push_str(&format!("; the service said: {m:?}"));
    }
    if let Some(r) = request_id.filter(|r| !r.is_empty()) {
        s.push_str(&format!(" (RequestId {r})"));
    }
    s
}

/// What is wrong with a page the service returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageProblem {
    #[error("the response is not the expected JSON: {0}")]
    Json(String),
    #[error("the response says Success=false (Code {code:?}, Message {message:?})")]
    NotSuccess { code: String, message: String },
    #[error("the response has no Data object")]
    MissingData,
    #[error("the response has {got} results, more than the {size} asked for (Size)")]
    TooManyResults { got: usize, size: u32 },
    #[error("the response's NextToken repeats the one page {first_page} returned: paging would loop; the pass was abandoned")]
    RepeatedNextToken { first_page: u32 },
    #[error("{count} pages in a row had no results but a NextToken: paging does not progress; the pass was abandoned")]
    NoProgress { count: u32 },
    #[error("the response body is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// What [`classify`] makes of an error response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Transient: back off and retry.
    Retry,
    /// Permanent: stop, with this hint for the operator.
    Fatal(&'static str),
}

const FIX_SECRET: &str = "the request signature was refused: check ALIBABA_CLOUD_ACCESS_KEY_SECRET (it must be the secret of ALIBABA_CLOUD_ACCESS_KEY_ID)";
const FIX_INCOMPLETE: &str = "the request signature was refused as incomplete: check ALIBABA_CLOUD_ACCESS_KEY_SECRET and that no proxy rewrites requests; [auth.openapi] signature = \"v1\" is an alternative";
const FIX_KEY_ID: &str = "check ALIBABA_CLOUD_ACCESS_KEY_ID: the service does not know this AccessKey id, or it is disabled";
const FIX_CLOCK: &str = "clock skew: this host's clock differs from the service's by more than 15 minutes; synchronise it (NTP)";
const FIX_TOKEN: &str = "check ALIBABA_CLOUD_SECURITY_TOKEN: the STS token is invalid or has expired (set a fresh one, or unset it for a long-term AccessKey)";
const FIX_PARAMETER: &str =
    "a request parameter was refused: check [auth.openapi] instance_id and page_size";
const FIX_PERMISSION: &str = "check [auth.openapi] instance_id, and that the RAM user of ALIBABA_CLOUD_ACCESS_KEY_ID may call mq:QueryCustomAuthIdentity and mq:QueryCustomAuthConnectBlack on it";
const FIX_INSTANCE: &str =
    "check [auth.openapi] instance_id and region_id: no such instance in the endpoint's region";
const FIX_API: &str = "check [auth.openapi] endpoint and region_id; custom authentication also needs a Professional or Platinum instance";
const FIX_RAM: &str = "the RAM user of ALIBABA_CLOUD_ACCESS_KEY_ID lacks permission: grant mq:QueryCustomAuthIdentity and mq:QueryCustomAuthConnectBlack";
const FIX_ENDPOINT: &str =
    "check [auth.openapi] endpoint: it did not answer as the ApsaraMQ OpenAPI does";
const FIX_OTHER: &str =
    "the request was refused: check the [auth.openapi] settings and the ALIBABA_CLOUD_* credentials";

/// Decides whether an error response is worth retrying, from its HTTP status and the `Code` of
/// its body.
///
/// Throttling and transient service codes are retried at any status; the codes that mean the
/// configuration is wrong are not, at any status; then any 5xx is retried and anything else
/// (4xx, an unexpected 3xx or 1xx) is not.
pub(crate) fn classify(status: u16, code: Option<&str>) -> RetryClass {
    if let Some(code) = code {
        if code.starts_with("Throttling")
            || matches!(
                code,
                "ServiceUnavailable"
                    | "SystemOverFlow"
                    | "InternalError"
                    | "InternalServerError"
                    | "ServiceBusy"
                    | "SignatureNonceUsed"
            )
        {
            return RetryClass::Retry;
        }
        let fatal = match code {
            "SignatureDoesNotMatch" => Some(FIX_SECRET),
            "IncompleteSignature" => Some(FIX_INCOMPLETE),
            c if c.starts_with("InvalidAccessKeyId") => Some(FIX_KEY_ID),
            c if c.starts_with("InvalidTimeStamp") => Some(FIX_CLOCK),
            c if c.starts_with("InvalidSecurityToken") || c == "SecurityTokenExpired" => {
                Some(FIX_TOKEN)
            }
            c if c.starts_with("InvalidParameter") || c.starts_with("MissingParameter") => {
                Some(FIX_PARAMETER)
            }
            "InstancePermissionCheckFailed" => Some(FIX_PERMISSION),
            "InstanceNotFound" => Some(FIX_INSTANCE),
            "ApiNotSupport" | "InvalidAction" | "InvalidAction.NotFound" => Some(FIX_API),
            c if c.starts_with("Forbidden") || c == "NoPermission" => Some(FIX_RAM),
            _ => None,
        };
        if let Some(hint) = fatal {
            return RetryClass::Fatal(hint);
        }
    }
    if status >= 500 {
        RetryClass::Retry
    } else if code.is_none() && status != 400 && status != 403 {
        RetryClass::Fatal(FIX_ENDPOINT)
    } else {
        RetryClass::Fatal(FIX_OTHER)
    }
}

/// A transient failure, described for the log and for [`PassError::RetriesExhausted`].
#[derive(Clone, Debug)]
pub(crate) struct Transient(pub String);

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Describes a transport error without its URL, walking its sources.
pub(crate) fn describe_reqwest(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body broke off"
    } else {
        "the request failed"
    };
    let e = e.without_url();
    let mut s = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    ellipsize(&s, 400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for code in [
            "Throttling",
            "Throttling.User",
            "Throttling.Api",
            "ServiceUnavailable",
            "SystemOverFlow",
            "InternalError",
        ] {
            assert_eq!(classify(400, Some(code)), RetryClass::Retry, "{code}");
            assert_eq!(classify(429, Some(code)), RetryClass::Retry, "{code}");
            assert_eq!(classify(503, Some(code)), RetryClass::Retry, "{code}");
        }
        assert_eq!(classify(502, None), RetryClass::Retry);
        assert_eq!(classify(500, Some("Whatever")), RetryClass::Retry);
        assert_eq!(
            classify(400, Some("SignatureDoesNotMatch")),
            RetryClass::Fatal(FIX_SECRET)
        );
        assert_eq!(
            classify(500, Some("SignatureDoesNotMatch")),
            RetryClass::Fatal(FIX_SECRET)
        );
        assert_eq!(
            classify(404, Some("InvalidAccessKeyId.NotFound")),
            RetryClass::Fatal(FIX_KEY_ID)
        );
        assert_eq!(
            classify(400, Some("InvalidTimeStamp.Expired")),
            RetryClass::Fatal(FIX_CLOCK)
        );
        assert_eq!(
            classify(400, Some("InvalidParameter.Size")),
            RetryClass::Fatal(FIX_PARAMETER)
        );
        assert_eq!(
            classify(400, Some("InstancePermissionCheckFailed")),
            RetryClass::Fatal(FIX_PERMISSION)
        );
        assert_eq!(
            classify(404, Some("InstanceNotFound")),
            RetryClass::Fatal(FIX_INSTANCE)
        );
        assert_eq!(
            classify(404, Some("ApiNotSupport")),
            RetryClass::Fatal(FIX_API)
        );
        assert_eq!(
            classify(400, Some("SomethingNew")),
            RetryClass::Fatal(FIX_OTHER)
        );
        assert_eq!(classify(404, None), RetryClass::Fatal(FIX_ENDPOINT));
        assert_eq!(classify(302, None), RetryClass::Fatal(FIX_ENDPOINT));
    }

    #[test]
    fn rejected_message_names_the_fix() {
        let e = PassError::Rejected {
            action: "QueryCustomAuthIdentity",
            page: 1,
            status: 400,
            code: Some("SignatureDoesNotMatch".into()),
            message: Some("Specified signature is not matched".into()),
            request_id: Some("R-1".into()),
            hint: FIX_SECRET,
        };
        let s = e.to_string();
        assert!(s.contains("QueryCustomAuthIdentity page 1"), "{s}");
        assert!(s.contains("HTTP 400, SignatureDoesNotMatch"), "{s}");
        assert!(s.contains("check ALIBABA_CLOUD_ACCESS_KEY_SECRET"), "{s}");
        assert!(s.contains("RequestId R-1"), "{s}");
        assert!(e.needs_operator());
    }
}
