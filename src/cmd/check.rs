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
                Op::Publish,
                topic,
            )
        }
        Question::Subscribe(filter) => {
            return topic_answer(
                loaded,
                &config.auth,
                username,
                client_id,
                Op::Subscribe,
                filter,
            )
        }
    };
    let (index, _) = Index::build(loaded.identities, loaded.blacklist);
    let decision = mqid_core::decide(
        &index,
        &Connect {
            client_id,
            username,
            password: password.as_bytes(),
        },
    );
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Publish,
    Subscribe,
}

/// Decides a PUBLISH to a topic name or a SUBSCRIBE to a filter of the session (username,
/// client id) as the broker would, and prints one line: allowed or refused, and the rule that
/// decided (or that none matched, or that rules are not enforced).
fn topic_answer(
    loaded: mqid_sync::Loaded,
    auth: &mqid_sync::AuthConfig,
    username: &str,
    client_id: &str,
    op: Op,
    topic: &str,
) -> Result<ExitCode> {
    let origin = loaded.origin.clone();
    let (index, _) = mqid_sync::build(loaded);
    let session = SessionRules::resolve(&index, username, client_id, auth.permissions.no_match);
    let (decision, what, none, invalid) = match op {
        Op::Publish => (
            session.may_publish(topic),
            "publish to",
            "no applicable rule matches it",
            "not a valid MQTT topic name",
        ),
        Op::Subscribe => (
            session.may_subscribe(topic),
            "subscribe to",
            "no applicable rule covers it",
            "not a valid MQTT topic filter",
        ),
    };
    let why = match (decision.reason, decision.rule) {
        (TopicReason::NotEnforced, _) => {
            format!("topic permissions are not enforced ({origin} carries no rules)")
        }
        (TopicReason::AllowRule | TopicReason::DenyRule, Some(rule)) => format!("by {rule}"),
        (TopicReason::NoMatchDeny, _) => format!("{none} (no_match = \"deny\")"),
        (TopicReason::NoMatchAllow, _) => format!("{none} (no_match = \"allow\")"),
        (TopicReason::InvalidTopic, _) => invalid.to_owned(),
        (reason, None) => bail!("a decision of {} named no rule", reason.as_str()),
    };
    let verdict = if decision.allowed {
        "allowed"
    } else {
        "refused"
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
