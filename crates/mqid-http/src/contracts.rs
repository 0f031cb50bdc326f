//! One function per broker contract: reads the broker's request, asks the [`Decider`], writes
//! the broker's answer. Every contract's shape is as its broker's own documentation states it
//! (sources cited per function; README "Clustered brokers").
//!
//! Rules common to all of them, each on the safe side:
//! * a request mqid cannot read (missing parameter, bad body, unknown action) and a request
//!   without the configured bearer token get the contract's **deny**, never its "ignore" or an
//!   error status a broker reads as "ignore" (EMQX and rmqtt read 4xx/5xx as "ignore" and go on
//!   down their chain, which may end in "allow");
//! * the reason goes in the `X-Mqid-Reason` header, which no broker reads, never in the body;
//! * mqid answers "ignore"/"next" only for an unknown identity, and only when
//!   `[http] unknown_identity = "ignore"`;
//! * no superuser is ever granted.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::decide::{ConnectOutcome, Decider, TopicOutcome};
use crate::params::Params;
use crate::{GoAuthResponse, HttpConfig, UnknownIdentity};

pub type Resp = Response<Full<Bytes>>;

/// What a contract answers, before it is put in the broker's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    Ignore,
}

/// The answer and the reason for the `X-Mqid-Reason` header.
#[derive(Clone, Debug)]
pub struct Answer {
    pub verdict: Verdict,
    pub reason: String,
}

impl Answer {
    pub fn deny(reason: impl Into<String>) -> Answer {
        Answer {
            verdict: Verdict::Deny,
            reason: reason.into(),
        }
    }
}

fn connect_answer(config: &HttpConfig, outcome: ConnectOutcome) -> Answer {
    let verdict = match outcome {
        ConnectOutcome::Admit => Verdict::Allow,
        ConnectOutcome::Refuse(mqid_core::Refusal::UnknownIdentity)
            if config.unknown_identity == UnknownIdentity::Ignore =>
        {
            Verdict::Ignore
        }
        _ => Verdict::Deny,
    };
    Answer {
        verdict,
        reason: outcome.as_str().to_owned(),
    }
}

fn topic_answer(t: TopicOutcome) -> Answer {
    Answer {
        verdict: if t.allowed {
            Verdict::Allow
        } else {
            Verdict::Deny
        },
        reason: t.reason.to_owned(),
    }
}

fn connect(d: &Decider, config: &HttpConfig, p: &Params, client_id_key: &str) -> Answer {
    let Some(client_id) = p.get(client_id_key) else {
        return Answer::deny(format!("missing parameter {client_id_key:?}"));
    };
    // MQTT allows a CONNECT without username or password: an absent one is empty.
    let username = p.get("username").unwrap_or("");
    let password = p.get("password").unwrap_or("");
    connect_answer(config, d.connect(client_id, username, password.as_bytes()))
}

pub fn response(status: StatusCode, content_type: &str, reason: &str, body: String) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-mqid-reason", reason)
        .body(Full::new(Bytes::from(body)))
        .expect("valid response parts")
}

fn json_response(answer: &Answer, body: Value) -> Resp {
    response(
        StatusCode::OK,
        "application/json",
        &answer.reason,
        body.to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// EMQX 5. Authentication: https://docs.emqx.com/en/emqx/latest/access-control/authn/http.html
// ("content-type must be application/json", `result` allow | deny | ignore, `is_superuser`,
// status 200 or 204; 4xx/5xx read as ignore). Authorization:
// https://docs.emqx.com/en/emqx/latest/access-control/authz/http.html (placeholders
// ${clientid} ${username} ${topic} ${action} = publish | subscribe; 200 with `result`, 204 =
// allow, anything else = ignore).
// ---------------------------------------------------------------------------------------------

fn emqx_result(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::Ignore => "ignore",
    }
}

/// `/emqx/authn`: `{"result": ..., "is_superuser": false}`.
pub fn emqx_authn(d: &Decider, c: &HttpConfig, p: Option<&Params>) -> Resp {
    let a = match p {
        Some(p) => connect(d, c, p, "clientid"),
        None => Answer::deny("unreadable request"),
    };
    emqx_authn_answer(&a)
}

pub fn emqx_authn_answer(a: &Answer) -> Resp {
    json_response(
        a,
        json!({"result": emqx_result(a.verdict), "is_superuser": false}),
    )
}

/// `/emqx/authz`: `{"result": "allow" | "deny"}`. A subscription is judged strictly (EMQX never
/// asks about deliveries).
pub fn emqx_authz(d: &Decider, p: Option<&Params>) -> Resp {
    let a = p.map_or_else(
        || Answer::deny("unreadable request"),
        |p| emqx_authz_decide(d, p),
    );
    emqx_authz_answer(&a)
}

fn emqx_authz_decide(d: &Decider, p: &Params) -> Answer {
    let (Some(client_id), Some(topic), Some(action)) =
        (p.get("clientid"), p.get("topic"), p.get("action"))
    else {
        return Answer::deny("missing parameter: clientid, topic and action are required");
    };
    let username = p.get("username").unwrap_or("");
    match action {
        "publish" => topic_answer(d.publish(username, client_id, topic)),
        "subscribe" => topic_answer(d.subscribe(username, client_id, topic, true)),
        _ => Answer::deny("action is neither publish nor subscribe"),
    }
}

pub fn emqx_authz_answer(a: &Answer) -> Resp {
    json_response(a, json!({"result": emqx_result(a.verdict)}))
}

// ---------------------------------------------------------------------------------------------
// rmqtt `rmqtt-auth-http`: https://github.com/rmqtt/rmqtt/blob/master/docs/en_US/auth-http.md
// and rmqtt-plugins/rmqtt-auth-http/src/lib.rs. Parameters as a form (default), JSON or a query
// string (`clientid`, `username`, `password`; for ACL `access` 1 = subscribe, 2 = publish, and
// `topic`). A 2xx body of `allow`, `deny` or `ignore`; 4xx/5xx = ignore; any other 2xx body is
// read as ALLOW by the plugin's source, so mqid always answers one of the three words. The
// `X-Superuser` header grants a superuser by its mere presence: mqid never sends it, nor
// `X-Cache` (a cached answer would outlive a refresh).
// ---------------------------------------------------------------------------------------------

fn rmqtt_text(a: &Answer) -> Resp {
    let word = match a.verdict {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::Ignore => "ignore",
    };
    response(StatusCode::OK, "text/plain", &a.reason, word.to_owned())
}

/// `/rmqtt/auth`.
pub fn rmqtt_auth(d: &Decider, c: &HttpConfig, p: Option<&Params>) -> Resp {
    let a = match p {
        Some(p) => connect(d, c, p, "clientid"),
        None => Answer::deny("unreadable request"),
    };
    rmqtt_text(&a)
}

/// `/rmqtt/acl`. A subscription is judged strictly (rmqtt asks nothing at delivery).
pub fn rmqtt_acl(d: &Decider, p: Option<&Params>) -> Resp {
    let a = match p {
        Some(p) => rmqtt_acl_decide(d, p),
        None => Answer::deny("unreadable request"),
    };
    rmqtt_text(&a)
}

fn rmqtt_acl_decide(d: &Decider, p: &Params) -> Answer {
    let (Some(client_id), Some(topic), Some(access)) =
        (p.get("clientid"), p.get("topic"), p.get("access"))
    else {
        return Answer::deny("missing parameter: clientid, topic and access are required");
    };
    let username = p.get("username").unwrap_or("");
    match access {
        "1" => topic_answer(d.subscribe(username, client_id, topic, true)),
        "2" => topic_answer(d.publish(username, client_id, topic)),
        _ => Answer::deny("access is neither 1 (subscribe) nor 2 (publish)"),
    }
}

pub fn rmqtt_deny(reason: &str) -> Resp {
    rmqtt_text(&Answer::deny(reason))
}

// ---------------------------------------------------------------------------------------------
// VerneMQ webhooks: https://docs.vernemq.com/plugin-development/webhookplugins (vmq-docs
// plugindevelopment/webhookplugins.md). POST, the `vernemq-hook` header names the hook, JSON
// body (`client_id`, `username`, `password`, `topic`, `topics: [{topic, qos}]`), answered with
// 200 and `{"result": "ok"}`, `{"result": "next"}` or `{"result": {"error": "not_allowed"}}`.
// A refused filter of a subscription is answered in the topics list with qos 128 (v3) or 135
// "Not authorized" under `modifiers` (`_m5`); the others keep their requested qos.
// ---------------------------------------------------------------------------------------------

/// The hooks mqid answers.
pub const VERNEMQ_HOOKS: [&str; 6] = [
    "auth_on_register",
    "auth_on_register_m5",
    "auth_on_publish",
    "auth_on_publish_m5",
    "auth_on_subscribe",
    "auth_on_subscribe_m5",
];

fn verne_simple(a: &Answer) -> Resp {
    let body = match a.verdict {
        Verdict::Allow => json!({"result": "ok"}),
        Verdict::Ignore => json!({"result": "next"}),
        Verdict::Deny => json!({"result": {"error": "not_allowed"}}),
    };
    json_response(a, body)
}

/// `/vernemq` with the hook `hook` (already checked against [`VERNEMQ_HOOKS`]).
pub fn vernemq(d: &Decider, c: &HttpConfig, hook: &str, p: Option<&Params>) -> Resp {
    let Some(p) = p else {
        return verne_simple(&Answer::deny("unreadable request"));
    };
    let username = p.get("username").unwrap_or("");
    match hook {
        "auth_on_register" | "auth_on_register_m5" => verne_simple(&connect(d, c, p, "client_id")),
        "auth_on_publish" | "auth_on_publish_m5" => {
            let (Some(client_id), Some(topic)) = (p.get("client_id"), p.get("topic")) else {
                return verne_simple(&Answer::deny(
                    "missing parameter: client_id and topic are required",
                ));
            };
            verne_simple(&topic_answer(d.publish(username, client_id, topic)))
        }
        _ => verne_subscribe(d, hook.ends_with("_m5"), username, p),
    }
}

fn verne_subscribe(d: &Decider, m5: bool, username: &str, p: &Params) -> Resp {
    let client_id = p.get("client_id");
    let topics = p
        .json
        .as_ref()
        .and_then(|j| j.get("topics"))
        .and_then(Value::as_array);
    let (Some(client_id), Some(topics)) = (client_id, topics) else {
        return verne_simple(&Answer::deny(
            "missing parameter: client_id and a topics array are required",
        ));
    };
    let mut out = Vec::with_capacity(topics.len());
    let mut refused = 0usize;
    let mut reason = "allow_rule";
    for t in topics {
        let (Some(filter), Some(qos)) = (
            t.get("topic").and_then(Value::as_str),
            t.get("qos").and_then(Value::as_u64),
        ) else {
            return verne_simple(&Answer::deny(
                "each entry of topics needs a string topic and a numeric qos",
            ));
        };
        let o = d.subscribe(username, client_id, filter, true);
        let qos = if o.allowed {
            qos
        } else {
            refused += 1;
            reason = o.reason;
            if m5 {
                135
            } else {
                128
            }
        };
        out.push(json!({"topic": filter, "qos": qos}));
    }
    let a = Answer {
        verdict: Verdict::Allow,
        reason: if refused == 0 {
            reason.to_owned()
        } else {
            format!("{refused} of {} refused: {reason}", topics.len())
        },
    };
    let body = match (refused, m5) {
        (0, _) => json!({"result": "ok"}),
        (_, false) => json!({"result": "ok", "topics": out}),
        (_, true) => json!({"result": "ok", "modifiers": {"topics": out}}),
    };
    json_response(&a, body)
}

pub fn vernemq_deny(reason: &str) -> Resp {
    verne_simple(&Answer::deny(reason))
}

// ---------------------------------------------------------------------------------------------
// mosquitto-go-auth, HTTP backend: https://github.com/iegomez/mosquitto-go-auth README "HTTP"
// (`http_params_mode` json | form; `http_response_mode` status | json | text: anything but 200
// is a refusal; json `{"Ok": bool, "Error": string}`; text "ok"). User check: `username`,
// `password`, `clientid`; superuser: `username`; ACL: `username`, `clientid`, `topic`, `acc`
// (mosquitto's MOSQ_ACL_READ 1, checked per delivered message; WRITE 2; READ|WRITE 3;
// SUBSCRIBE 4).
// ---------------------------------------------------------------------------------------------

fn go_auth(c: &HttpConfig, a: &Answer) -> Resp {
    let ok = a.verdict == Verdict::Allow;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    match c.go_auth_response {
        GoAuthResponse::Json | GoAuthResponse::Status => {
            let error = if ok { String::new() } else { a.reason.clone() };
            response(
                status,
                "application/json",
                &a.reason,
                json!({"Ok": ok, "Error": error}).to_string(),
            )
        }
        GoAuthResponse::Text => response(
            status,
            "text/plain",
            &a.reason,
            if ok { "ok".into() } else { a.reason.clone() },
        ),
    }
}

/// `/go-auth/user`. go-auth has no "ignore": an unknown identity is refused.
pub fn go_auth_user(d: &Decider, c: &HttpConfig, p: Option<&Params>) -> Resp {
    let mut a = match p {
        Some(p) => connect(d, c, p, "clientid"),
        None => Answer::deny("unreadable request"),
    };
    if a.verdict == Verdict::Ignore {
        a.verdict = Verdict::Deny;
    }
    go_auth(c, &a)
}

/// `/go-auth/superuser`: always refused (mqid has no superusers; every session is governed by
/// its rules).
pub fn go_auth_superuser(c: &HttpConfig) -> Resp {
    go_auth(c, &Answer::deny("no_superusers"))
}

/// `/go-auth/acl`. Deliveries are asked (acc 1), so a subscription is judged as on mqid's edge.
pub fn go_auth_acl(d: &Decider, c: &HttpConfig, p: Option<&Params>) -> Resp {
    let a = match p {
        Some(p) => go_auth_acl_decide(d, p),
        None => Answer::deny("unreadable request"),
    };
    go_auth(c, &a)
}

fn go_auth_acl_decide(d: &Decider, p: &Params) -> Answer {
    let (Some(client_id), Some(topic), Some(acc)) =
        (p.get("clientid"), p.get("topic"), p.get("acc"))
    else {
        return Answer::deny("missing parameter: clientid, topic and acc are required");
    };
    let username = p.get("username").unwrap_or("");
    match acc {
        "1" => topic_answer(d.deliver(username, client_id, topic)),
        "2" => topic_answer(d.publish(username, client_id, topic)),
        "3" => {
            let w = d.publish(username, client_id, topic);
            if !w.allowed {
                return topic_answer(w);
            }
            topic_answer(d.deliver(username, client_id, topic))
        }
        "4" => topic_answer(d.subscribe(username, client_id, topic, false)),
        _ => Answer::deny("acc is not 1, 2, 3 or 4"),
    }
}

pub fn go_auth_deny(c: &HttpConfig, reason: &str) -> Resp {
    go_auth(c, &Answer::deny(reason))
}
