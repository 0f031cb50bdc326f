//! A session's topic permissions on the wire: resolved at CONNECT, re-resolved when a newer
//! index is in force, asked per PUBLISH, SUBSCRIBE filter and delivered message.
//!
//! # Contract
//!
//! * An index without permissions (`Index::permissions() == None`) enforces nothing: every
//!   question is allowed, `mqid_core::SessionRules` is not consulted.
//! * [`Topics::refresh`] costs one index load and one integer compare when nothing changed.
//! * No allocation, no lock, no logging per question.

use mqid_core::{Index, NoMatch, SessionRules, SharedIndex, TopicDecision, TopicReason};

/// What a refused PUBLISH gets (`[auth.permissions] deny_action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DenyAction {
    /// Dropped; QoS 1/2 still acknowledged (3.1.1) or acknowledged with 0x87 (5).
    #[default]
    Drop,
    /// The connection is closed (MQTT 5: DISCONNECT 0x87 first).
    Disconnect,
}

/// A session's rules, tagged with the index generation they came from.
pub(crate) struct Topics {
    generation: u64,
    rules: Option<SessionRules>,
    no_match: NoMatch,
}

impl Topics {
    pub(crate) fn resolve(
        index: &Index,
        username: &str,
        client_id: &str,
        no_match: NoMatch,
    ) -> Self {
        Topics {
            generation: index.generation(),
            rules: index
                .permissions()
                .map(|_| SessionRules::resolve(index, username, client_id, no_match)),
            no_match,
        }
    }

    /// Re-resolves when the shared index is of another generation.
    pub(crate) fn refresh(&mut self, shared: &SharedIndex, username: &str, client_id: &str) {
        let index = shared.load();
        if index.generation() == self.generation {
            return;
        }
        self.generation = index.generation();
        match (&mut self.rules, index.permissions()) {
            (_, None) => self.rules = None,
            (Some(rules), Some(_)) => {
                rules.refresh(&index, username, client_id);
            }
            (None, Some(_)) => {
                self.rules = Some(SessionRules::resolve(
                    &index,
                    username,
                    client_id,
                    self.no_match,
                ))
            }
        }
    }

    /// May the session publish to `topic`? `Err` carries why not.
    pub(crate) fn may_publish(&self, topic: &[u8]) -> Result<(), TopicReason> {
        self.on_topic(topic, SessionRules::may_publish)
    }

    pub(crate) fn may_subscribe(&self, filter: &str) -> Result<(), TopicReason> {
        match &self.rules {
            None => Ok(()),
            Some(rules) => verdict(rules.may_subscribe(filter)),
        }
    }

    pub(crate) fn may_deliver(&self, topic: &[u8]) -> Result<(), TopicReason> {
        self.on_topic(topic, SessionRules::may_deliver)
    }

    /// `ask` about a topic name from the wire (a name that is not UTF-8 is refused).
    fn on_topic(
        &self,
        topic: &[u8],
        ask: for<'r> fn(&'r SessionRules, &str) -> TopicDecision<'r>,
    ) -> Result<(), TopicReason> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        let Ok(topic) = std::str::from_utf8(topic) else {
            return Err(TopicReason::InvalidTopic);
        };
        verdict(ask(rules, topic))
    }
}

fn verdict(d: TopicDecision<'_>) -> Result<(), TopicReason> {
    if d.allowed {
        Ok(())
    } else {
        Err(d.reason)
    }
}
