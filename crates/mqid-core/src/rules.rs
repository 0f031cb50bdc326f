//! Topic permissions: the rules of one generation, a session's resolved rules, and the
//! PUBLISH / SUBSCRIBE / delivery / will decisions.
//!
//! # The contract (mqid's rules; README "Topic permissions")
//!
//! * A session admitted with username U and client id C is governed by the `USER` rules whose
//!   `Identity` is U together with the `CLIENT` rules whose `Identity` is C, whichever identity
//!   admitted it.
//! * PUBLISH to T: allowed when some applicable `ALLOW` rule with `PUB`/`PUB_SUB` matches T and no
//!   applicable `DENY` rule with `PUB`/`PUB_SUB` matches T. The will is checked the same way.
//! * SUBSCRIBE to F (for `$share/G/F`, F): allowed when some applicable `ALLOW` rule with
//!   `SUB`/`PUB_SUB` covers F and no applicable `DENY` rule with `SUB`/`PUB_SUB` covers F.
//! * Delivery of a message on T: refused when an applicable `DENY` rule with `SUB`/`PUB_SUB`
//!   matches T; otherwise allowed when an applicable `ALLOW` rule with `SUB`/`PUB_SUB` matches T
//!   (so a rule withdrawn while connected stops delivery too).
//! * Nothing matches: [`NoMatch`] decides (deny by default).
//!
//! # Cost
//!
//! [`Permissions`] is built once per generation with the index. [`SessionRules::resolve`] is two
//! hash lookups and two `Arc` clones: no allocation. [`SessionRules::may_publish`],
//! [`may_deliver`](SessionRules::may_deliver) and [`may_subscribe`](SessionRules::may_subscribe)
//! allocate nothing and take no lock.

use std::sync::Arc;

use crate::{Index, Permission};

/// What happens to a topic no applicable rule matches.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum NoMatch {
    /// Refused (the default, as in the cloud).
    #[default]
    Deny,
    /// Allowed (for deployments that use identities only).
    Allow,
}

/// The compiled rules of one generation, keyed by identity. Immutable; shared by the index and
/// by the sessions that resolved from it.
pub struct Permissions {
    _private: (),
}

/// The compiled rules of one identity (one `USER` username or one `CLIENT` client id).
pub struct RuleSet {
    _private: (),
}

impl Permissions {
    /// Compiles `rules` (already validated). Later duplicates of an identical rule are dropped.
    pub fn build(rules: impl IntoIterator<Item = Permission>) -> Self {
        let _ = rules.into_iter();
        todo!("Permissions::build")
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        todo!("Permissions::len")
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every rule, in no particular order (for the snapshot and `mqid sync --permissions-out`).
    pub fn rules(&self) -> impl Iterator<Item = &Permission> {
        std::iter::empty()
    }
}

/// Why a topic decision came out as it did. Nothing secret; fit for log fields and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicReason {
    /// The source carries no permissions (file source without `permissions`): everything allowed.
    NotEnforced,
    /// An applicable `ALLOW` rule matched (or covered) and no `DENY` rule did.
    AllowRule,
    /// An applicable `DENY` rule matched (or covered).
    DenyRule,
    /// No applicable rule matched; `no_match = "deny"`.
    NoMatchDeny,
    /// No applicable rule matched; `no_match = "allow"`.
    NoMatchAllow,
    /// The topic or filter is not valid MQTT (or a malformed `$share`).
    InvalidTopic,
}

impl TopicReason {
    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicReason::NotEnforced => "not_enforced",
            TopicReason::AllowRule => "allow_rule",
            TopicReason::DenyRule => "deny_rule",
            TopicReason::NoMatchDeny => "no_matching_rule",
            TopicReason::NoMatchAllow => "no_match_allow",
            TopicReason::InvalidTopic => "invalid_topic",
        }
    }
}

/// The outcome of one topic question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicDecision<'a> {
    pub allowed: bool,
    pub reason: TopicReason,
    /// The rule that decided, when one did.
    pub rule: Option<&'a Permission>,
}

/// A session's applicable rules, resolved once at CONNECT and kept by the session. Tagged with
/// the index generation it came from: [`refresh`](SessionRules::refresh) re-resolves when a
/// newer index is in force, so permission changes apply to the next packet without a reconnect.
#[derive(Clone)]
pub struct SessionRules {
    _private: (),
}

impl SessionRules {
    /// The rules that govern (username, client id) under `index`. No allocation.
    pub fn resolve(index: &Index, username: &str, client_id: &str, no_match: NoMatch) -> Self {
        let _ = (index, username, client_id, no_match);
        todo!("SessionRules::resolve")
    }

    /// The generation of the index these rules came from.
    pub fn generation(&self) -> u64 {
        todo!()
    }

    /// Re-resolves from `index` when it is of another generation; returns whether it did.
    pub fn refresh(&mut self, index: &Index, username: &str, client_id: &str) -> bool {
        let _ = (index, username, client_id);
        todo!()
    }

    /// May this session publish to topic name `topic`? (Also the will check.)
    pub fn may_publish(&self, topic: &str) -> TopicDecision<'_> {
        let _ = topic;
        todo!()
    }

    /// May this session subscribe to `filter` (a `$share/G/F` filter is judged on F)?
    pub fn may_subscribe(&self, filter: &str) -> TopicDecision<'_> {
        let _ = filter;
        todo!()
    }

    /// May a message on topic name `topic` be delivered to this session?
    pub fn may_deliver(&self, topic: &str) -> TopicDecision<'_> {
        let _ = topic;
        todo!()
    }
}

#[allow(dead_code)]
fn _keep(_: Option<Arc<RuleSet>>) {}
