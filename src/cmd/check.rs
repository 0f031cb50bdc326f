//! `mqid check`: decide one CONNECT, or one topic question, against the configured source and
//! say why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mqid_core::{Connect, Decision, Index, SessionRules, TopicReason};

/// What `mqid check` is asked.
pub enum Question<'a> {
    /// May (username, client id, password) CONNECT?
    Connect { password: &'a str },
    /// May the session (username, client id) publish to this topic name?
    Publish(&'a str),
    /// May the session (username, client id) subscribe to this filter (`$share/G/F` too)?
    Subscribe(&'a str),
}

pub fn run(
    config: &Path,
    username: &str,
    client_id: &str,
    question: Question<'_>,
) -> Result<ExitCode> {
    let config = crate::config::load(config)?;
    let loaded = super::current_set(&config.auth).context("cannot load the identities")?;
    let origin = loaded.origin.clone();
    let password = match question {
        Question::Connect { password } => password,
        Question::Publish(topic) => {
            return topic_answer(
                loaded,
                &config.auth,
                username,
                client_id,
                "publish to",
                topic,
            )
        }
        Question::Subscribe(filter) => {
            return topic_answer(
                loaded,
                &config.auth,
                username,
                client_id,
                "subscribe to",
                filter,
            )
        }
    };
    let (index, _) = Index::build(loaded.identities, loaded.blacklist);
    let decision = index.decide(&Connect {
        client_id,
        username,
        password: password.as_bytes(),
    });
    match decision {
        Decision::Admit(id) => {
            println!(
                "admitted by {} ({}) from {origin}",
                id.key(),
                id.sign_mode.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Decision::Refuse(reason) => {
            println!(
                "refused: {reason} (username {username:?}, client id {client_id:?}, from {origin})"
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Decides a PUBLISH (`what` = "publish to") or a SUBSCRIBE ("subscribe to") of the session
/// (username, client id) as the broker would, and prints one line: allowed or refused, and the
/// rule that decided (or that none matched, or that rules are not enforced).
fn topic_answer(
    loaded: mqid_sync::Loaded,
    auth: &mqid_sync::AuthConfig,
    username: &str,
    client_id: &str,
    what: &str,
    topic: &str,
) -> Result<ExitCode> {
    let origin = loaded.origin.clone();
    let (index, _) = mqid_sync::build(loaded);
    let no_match = auth.permissions.no_match;
    let session = SessionRules::resolve(&index, username, client_id, no_match);
    let decision = if what == "publish to" {
        session.may_publish(topic)
    } else {
        session.may_subscribe(topic)
    };
    let verdict = if decision.allowed {
        "allowed"
    } else {
        "refused"
    };
    let why = match (decision.reason, decision.rule) {
        (TopicReason::NotEnforced, _) => {
            format!("topic permissions are not enforced ({origin} carries no rules)")
        }
        (TopicReason::AllowRule | TopicReason::DenyRule, Some(rule)) => format!("by {rule}"),
        (TopicReason::NoMatchDeny | TopicReason::NoMatchAllow, _) => {
            let none = if what == "publish to" {
                "no applicable rule matches it"
            } else {
                "no applicable rule covers it"
            };
            let setting = if decision.allowed { "allow" } else { "deny" };
            format!("{none} (no_match = \"{setting}\")")
        }
        (TopicReason::InvalidTopic, _) => {
            if what == "publish to" {
                "not a valid MQTT topic name".to_owned()
            } else {
                "not a valid MQTT topic filter".to_owned()
            }
        }
        (reason, None) => bail!("a decision of {} named no rule", reason.as_str()),
    };
    println!(
        "{verdict}: {what} {topic:?}: {why} (username {username:?}, client id {client_id:?}, from {origin})"
    );
    Ok(if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
