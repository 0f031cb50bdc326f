//! The error answers of the emulated API: `{"RequestId","HostId","Code","Message"}` with the
//! HTTP status, code and message the real gateway or ApsaraMQ uses.
//!
//! Codes and messages are those of Alibaba Cloud's OpenAPI gateway (signature, timestamp, nonce,
//! version) and of ApsaraMQ for MQTT's error-code page (`InvalidParameter.%s`, `ApiNotSupport`,
//! `InternalError`). Where neither says, the choice is the emulator's and is marked so.

use std::borrow::Cow;

use hyper::StatusCode;

/// One error answer, before it gets its `RequestId` and `HostId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// For `Throttling.User`: the `TimeLeft` hint in milliseconds.
    pub time_left_ms: Option<u64>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            time_left_ms: None,
        }
    }

    /// A required parameter (or, for V3, header) was not sent.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        )
    }

    /// `InvalidParameter.<Name>`, ApsaraMQ's code for a missing or bad business parameter. The
    /// stock message is followed by what exactly is wrong (the emulator's addition).
    pub fn invalid_parameter(name: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("InvalidParameter.{name}"),
            format!("An error occurred while validating the parameter. The parameter may be missing or invalid. {name}: {detail}"),
        )
    }

    pub fn invalid_version() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        )
    }

    /// An action of the product that the emulator does not implement. (The real gateway answers
    /// `InvalidAction.NotFound` for a name that no API has; the emulator does not tell the two
    /// apart and uses the code ApsaraMQ documents for this operation.)
    pub fn api_not_support() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ApiNotSupport",
            "The specified API is not supported.",
        )
    }

    /// A path other than `/`, or a method other than GET and POST.
    pub fn action_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    }

    pub fn access_key_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    }

    pub fn incomplete_signature(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards. {detail}"),
        )
    }

    pub fn invalid_signature_method() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSignatureMethod",
            "Specified signature method is not supported.",
        )
    }

    /// The gateway's answer, which ends with the string to sign the server computed (it holds no
    /// secret), so that a client can find where its canonicalisation differs.
    pub fn signature_mismatch(server_string_to_sign: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server string to sign is:{server_string_to_sign}"),
        )
    }

    /// `SignatureDoesNotMatch` for a reason other than the signature itself.
    pub fn signature_mismatch_because(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. {detail}"),
        )
    }

    pub fn timestamp_format() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    }

    pub fn timestamp_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        )
    }

    pub fn nonce_used() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        )
    }

    pub fn missing_security_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingSecurityToken",
            "SecurityToken is mandatory for this action.",
        )
    }

    pub fn security_token_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    }

    /// An STS token past its expiry (the answer the `token-expired` fault gives).
    pub fn security_token_expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        )
    }

    /// The emulator's choice: ApsaraMQ's pages name the code but not its status.
    pub fn instance_not_found(instance_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InstanceNotFound",
            format!("The instance {instance_id:?} does not exist."),
        )
    }

    pub fn throttled(status: StatusCode, time_left_ms: u64) -> Self {
        ApiError {
            time_left_ms: Some(time_left_ms),
            ..Self::new(
                status,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
        }
    }

    pub fn service_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )
    }

    /// ApsaraMQ's `InternalError`; the reason is logged, not sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An error occurred while processing your request. Try again later.",
        )
    }
}
