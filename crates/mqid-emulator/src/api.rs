//! One HTTP request → one API answer: faults, action resolution, signature, the three queries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::auth::{self, Credentials, Nonces, Received, Style};
use crate::body::AnswerBody;
use crate::error::ApiError;
use crate::faults::{AnswerFault, FaultControl, RequestFault, HUGE_BODY_BYTES, STALL};
use crate::store::{Kind, Records, ServedFile};
use crate::token;
use mqid_sync::openapi::API_VERSION;

/// Largest request body read (the queries have none; a form POST is small).
const MAX_BODY: usize = 1 << 20;

/// The actions the emulator implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Identity,
    ConnectBlack,
    Permission,
}

impl Action {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "QueryCustomAuthIdentity" => Some(Action::Identity),
            "QueryCustomAuthConnectBlack" => Some(Action::ConnectBlack),
            "QueryCustomAuthPermission" => Some(Action::Permission),
            _ => None,
        }
    }
}

/// Everything a request needs, shared by all connections of one emulator.
pub(crate) struct State {
    pub creds: Credentials,
    pub nonces: Nonces,
    pub instance_id: String,
    pub identities: Arc<ServedFile>,
    pub blacklist: Option<Arc<ServedFile>>,
    pub permissions: Option<Arc<ServedFile>>,
    pub faults: FaultControl,
}

/// A request whose connection the `drop_every` or `reset` fault closes without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// A request id in the API's format: an upper-case UUID (a random v4).
fn request_id() -> String {
    format!("{:X}", uuid::Uuid::new_v4().hyphenated())
}

fn json_response(status: StatusCode, request_id: &str, body: &Value) -> Response<AnswerBody> {
    let mut r = Response::new(AnswerBody::full(body.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-acs-request-id", v);
    }
    r
}

fn error_response(err: &ApiError, request_id: &str, host_id: &str) -> Response<AnswerBody> {
    let body = json!({
        "RequestId": request_id,
        "HostId": host_id,
        "Code": err.code,
        "Message": err.message,
    });
    let mut r = json_response(err.status, request_id, &body);
    if let Some(ms) = err.time_left_ms {
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("TimeLeft:{ms}")) {
            h.insert("x-ratelimit-user-api", v);
        }
        h.insert("x-acs-retry-after", HeaderValue::from(ms));
    }
    r
}

/// Serves one HTTP request. `reset` is set to have the connection reset rather than closed when
/// it ends.
pub(crate) async fn handle(
    state: Arc<State>,
    reset: Arc<AtomicBool>,
    req: Request<Incoming>,
) -> Result<Response<AnswerBody>, Dropped> {
    let (latency, verdict) = state.faults.on_request();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let rid = request_id();
    let host_id = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("onsmqtt.local")
        .to_owned();
    let injected = match verdict {
        RequestFault::Pass => None,
        RequestFault::Drop => {
            tracing::info!("fault injection: dropping the connection");
            return Err(Dropped);
        }
        RequestFault::Unavailable => Some(ApiError::service_unavailable()),
        RequestFault::Throttle {
            status,
            time_left_ms,
        } => Some(ApiError::throttled(status, time_left_ms)),
    };
    let has_next_token = crate::verify::parse_query(req.uri().query().unwrap_or(""))
        .iter()
        .any(|(k, v)| k == "NextToken" && !v.is_empty());
    let fault = state.faults.answer_fault(has_next_token);
    let injected = injected.or(match fault {
        AnswerFault::ClockSkew => Some(ApiError::timestamp_expired()),
        AnswerFault::AccessKeyNotFound => Some(ApiError::access_key_not_found()),
        AnswerFault::TokenExpired => Some(ApiError::security_token_expired()),
        _ => None,
    });
    if let Some(err) = injected {
        tracing::info!("fault injection: {} {}", err.status.as_u16(), err.code);
        return Ok(error_response(&err, &rid, &host_id));
    }
    if fault == AnswerFault::Reset {
        tracing::info!("fault injection: resetting the connection");
        reset.store(true, Ordering::Relaxed);
        return Err(Dropped);
    }
    let (label, outcome) = answer(&state, req, fault).await;
    Ok(match outcome {
        Ok(data) => {
            tracing::debug!(request_id = %rid, "{label}: 200");
            let body = json!({
                "RequestId": rid,
                "Code": 200,
                "Success": true,
                "Message": "operation success.",
                "Data": data,
            });
            let mut r = json_response(StatusCode::OK, &rid, &body);
            if let Some(faulty) = faulty_body(fault, &body) {
                tracing::info!("fault injection: answering with a {fault} body");
                if fault == AnswerFault::NotJson {
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
                }
                *r.body_mut() = faulty;
            }
            r
        }
        Err(err) => {
            if err.status.is_server_error() {
                tracing::warn!(request_id = %rid, "{label}: {} {}", err.status.as_u16(), err.code);
            } else {
                tracing::info!(
                    request_id = %rid,
                    "{label}: {} {}: {}",
                    err.status.as_u16(),
                    err.code,
                    err.message
                );
            }
            error_response(&err, &rid, &host_id)
        }
    })
}

/// The body that a body fault puts in place of a successful answer's `body`, if `fault` is one.
fn faulty_body(fault: AnswerFault, body: &Value) -> Option<AnswerBody> {
    let json = body.to_string().into_bytes();
    Some(match fault {
        AnswerFault::NotJson => AnswerBody::full(
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        AnswerFault::CutJson => AnswerBody::full(json[..json.len() / 2].to_vec()),
        // a moment before the cut, so that the headers and the first half are on the wire
        AnswerFault::Truncated => AnswerBody::broken(&json, Some(Duration::from_millis(50))),
        AnswerFault::Stall => AnswerBody::broken(&json, Some(STALL)),
        // whitespace after the opening brace: still a valid page, only far too large
        AnswerFault::Huge => AnswerBody::padded(&json, 1, HUGE_BODY_BYTES),
        _ => return None,
    })
}

/// The `Data` of a successful answer, or the error; with a label for the log line.
async fn answer(
    state: &State,
    req: Request<Incoming>,
    fault: AnswerFault,
) -> (String, Result<Value, ApiError>) {
    let (parts, body) = req.into_parts();
    let label = format!("{} {}", parts.method, parts.uri.path());
    if !matches!(parts.method, Method::GET | Method::POST) || parts.uri.path() != "/" {
        return (label, Err(ApiError::action_not_found()));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return (
                label,
                Err(ApiError::invalid_parameter(
                    "Body",
                    "the request body is unreadable or larger than 1 MiB",
                )),
            )
        }
    };
    let query = crate::verify::parse_query(parts.uri.query().unwrap_or(""));
    let is_form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form = if parts.method == Method::POST && is_form {
        crate::verify::parse_query(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let received = Received {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        form: &form,
        headers: &headers,
        body: &body,
    };
    let style = received.style();
    let (action_name, version) = match style {
        Style::V3 => (
            received.header("x-acs-action"),
            received.header("x-acs-version"),
        ),
        Style::V1 => (received.param("Action"), received.param("Version")),
    };
    let label = format!("{label} {} {style:?}", action_name.unwrap_or("-"));
    let result = async {
        let action_name = action_name.ok_or_else(|| ApiError::missing_parameter("Action"))?;
        let version = version.ok_or_else(|| ApiError::missing_parameter("Version"))?;
        if version != API_VERSION {
            return Err(ApiError::invalid_version());
        }
        let action = Action::from_name(action_name).ok_or_else(ApiError::api_not_support)?;
        auth::authenticate(&received, &state.creds, &state.nonces, SystemTime::now())?;
        query_action(state, action, &received, fault).await
    }
    .await;
    (label, result)
}

/// A business parameter; an empty value counts as absent (the SDKs send empty strings).
fn opt<'a>(req: &'a Received, name: &str) -> Option<&'a str> {
    req.param(name).filter(|v| !v.is_empty())
}

async fn query_action(
    state: &State,
    action: Action,
    req: &Received<'_>,
    fault: AnswerFault,
) -> Result<Value, ApiError> {
    let instance = opt(req, "InstanceId")
        .ok_or_else(|| ApiError::invalid_parameter("InstanceId", "is required"))?;
    if instance != state.instance_id {
        return Err(ApiError::instance_not_found(instance));
    }
    let size = match opt(req, "Size") {
        None => return Err(ApiError::invalid_parameter("Size", "is required")),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_parameter(
                    "Size",
                    format_args!("must be an integer from 1 to 100, not {s:?}"),
                ))
            }
        },
    };
    let client_id = opt(req, "ClientId");
    let identity_type = opt(req, "IdentityType");
    if let Some(t) = identity_type {
        if matches!(action, Action::Identity | Action::Permission) && t != "USER" && t != "CLIENT" {
            return Err(ApiError::invalid_parameter(
                "IdentityType",
                format_args!("must be USER or CLIENT, not {t:?}"),
            ));
        }
    }
    let (kind, source, filters) = match action {
        Action::Identity => {
            let username = opt(req, "Username");
            let filters = [
                ("Username", username),
                ("IdentityType", identity_type),
                ("ClientId", client_id),
            ];
            (Kind::Identities, Some(&state.identities), filters)
        }
        Action::ConnectBlack => (
            Kind::Blacklist,
            state.blacklist.as_ref(),
            [("ClientId", client_id), ("", None), ("", None)],
        ),
        Action::Permission => (
            Kind::Permissions,
            state.permissions.as_ref(),
            [
                ("Identity", opt(req, "Identity")),
                ("IdentityType", identity_type),
                ("Topic", opt(req, "Topic")),
            ],
        ),
    };
    let hash = token::filter_hash(&filters.map(|(_, v)| v));
    let after = match opt(req, "NextToken") {
        None => None,
        Some(t) => Some(
            token::decode(t, kind, hash)
                .map_err(|why| ApiError::invalid_parameter("NextToken", why))?,
        ),
    };
    let records = match source {
        None => Arc::new(Records::default()), // no blacklist or permissions file: an empty list
        Some(src) => {
            let src = src.clone();
            match tokio::task::spawn_blocking(move || src.current()).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => return Err(ApiError::internal()), // logged by the store
                Err(e) => {
                    tracing::error!("file read task failed: {e}");
                    return Err(ApiError::internal());
                }
            }
        }
    };
    let start = after.as_ref().map_or(0, |k| records.after(k));
    let mut matching = records.items[start..].iter().filter(|r| {
        filters
            .iter()
            .all(|(field, want)| want.is_none_or(|w| r.str_field(field) == Some(w)))
    });
    let page: Vec<_> = matching.by_ref().take(size).collect();
    let mut results: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(r.value.clone()))
        .collect();
    let mut next_token = (page.len() == size && matching.next().is_some())
        .then(|| token::encode(kind, hash, &page[page.len() - 1].key));
    let id_field = match kind {
        Kind::Identities => "Username",
        Kind::Blacklist => "ClientId",
        Kind::Permissions => "Identity",
    };
    match fault {
        AnswerFault::OversizedPage => {
            while results.len() <= size {
                let n = results.len();
                results.push(match kind {
                    Kind::Identities => json!({"Username": format!("oversize-padding-{n}"),
                        "Secret": "padding", "IdentityType": "USER", "SignMode": "ORIGIN"}),
                    Kind::Blacklist => json!({"ClientId": format!("oversize-padding-{n}"),
                        "PermitAction": "CONNECT", "Effect": "DENY"}),
                    Kind::Permissions => json!({"Identity": format!("oversize-padding-{n}"),
                        "IdentityType": "USER", "Topic": "padding", "PermitAction": "PUB",
                        "Effect": "ALLOW"}),
                });
            }
        }
        AnswerFault::WrongTypes => {
            if results.is_empty() {
                results.push(json!({}));
            }
            for r in &mut results {
                r[id_field] = json!(12345);
            }
        }
        AnswerFault::LoopingToken => {
            if let Some(t) = opt(req, "NextToken") {
                next_token = Some(t.to_owned());
            }
        }
        _ => {}
    }
    let mut data = serde_json::Map::new();
    data.insert("Results".into(), Value::Array(results));
    if let Some(t) = next_token {
        data.insert("NextToken".into(), Value::String(t));
    }
    Ok(Value::Object(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_the_apis() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    }
}
