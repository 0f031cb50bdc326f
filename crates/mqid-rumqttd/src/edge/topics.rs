//! A session's topic permissions on the wire: resolved at CONNECT, re-resolved when a newer
//! index is in force, asked per PUBLISH, SUBSCRIBE filter and delivered message.
//!
//! # Contract
//!
//! * An index without permissions (`Index::permissions() == None`) enforces nothing: every
//!   question is allowed, `mqid_core::SessionRules` is not consulted.
//! * [`Topics::refresh`] costs one index load and one integer compare when nothing changed.
//! * No allocation, no lock, no logging per question.

use mqid_core::{Index, NoMatch, SessionRules, SharedIndex, TopicReason};

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
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        let Ok(topic) = std::str::from_utf8(topic) else {
            return Err(TopicReason::InvalidTopic);
        };
        let d = rules.may_publish(topic);
        if d.allowed {
            Ok(())
        } else {
            Err(d.reason)
        }
    }

    pub(crate) fn may_subscribe(&self, filter: &str) -> Result<(), TopicReason> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        let d = rules.may_subscribe(filter);
        if d.allowed {
            Ok(())
        } else {
            Err(d.reason)
        }
    }

    pub(crate) fn may_deliver(&self, topic: &[u8]) -> Result<(), TopicReason> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        let Ok(topic) = std::str::from_utf8(topic) else {
            return Err(TopicReason::InvalidTopic);
        };
        let d = rules.may_deliver(topic);
        if d.allowed {
            Ok(())
        } else {
            Err(d.reason)
        }
    }
}
