//! A session's topic permissions on the wire: resolved at CONNECT, re-resolved when a newer
//! index is in force, asked per PUBLISH, SUBSCRIBE filter and delivered message.
//!
//! # Contract
//!
//! * An index without permissions (`Index::permissions() == None`) enforces nothing: every
//!   question is allowed, `mqid_core::SessionRules` is not consulted.
//! * [`Topics::refresh`] costs one index load and one integer compare when nothing changed.
//! * The last topic name asked about for PUBLISH and the last for delivery are remembered with
//!   their answers (a device publishes to, and receives on, the same few topics): asking again
//!   costs one comparison of the names. The memory is dropped when a newer index is in force.
//!   Names over [`MEMO_MAX`] bytes are always asked afresh.
//! * No lock, no logging per question; no allocation beyond each memory's buffer growing to the
//!   longest name it has held.

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

/// Longest topic name whose answer is remembered.
pub(crate) const MEMO_MAX: usize = 256;

/// A session's rules, tagged with the index generation they came from.
pub(crate) struct Topics {
    generation: u64,
    rules: Option<SessionRules>,
    no_match: NoMatch,
    last_publish: LastTopic,
    last_delivery: LastTopic,
}

/// One topic name and the answer given for it under the session's current rules.
#[derive(Default)]
struct LastTopic {
    name: Vec<u8>,
    answer: Option<Result<(), TopicReason>>,
}

impl LastTopic {
    fn get(&self, topic: &[u8]) -> Option<Result<(), TopicReason>> {
        self.answer.filter(|_| self.name == topic)
    }

    fn put(&mut self, topic: &[u8], answer: Result<(), TopicReason>) {
        if topic.len() > MEMO_MAX {
            self.answer = None;
            return;
        }
        self.name.clear();
        self.name.extend_from_slice(topic);
        self.answer = Some(answer);
    }
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
            last_publish: LastTopic::default(),
            last_delivery: LastTopic::default(),
        }
    }

    /// Re-resolves when the shared index is of another generation.
    pub(crate) fn refresh(&mut self, shared: &SharedIndex, username: &str, client_id: &str) {
        let index = shared.load();
        if index.generation() == self.generation {
            return;
        }
        self.generation = index.generation();
        self.last_publish.answer = None;
        self.last_delivery.answer = None;
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
    pub(crate) fn may_publish(&mut self, topic: &[u8]) -> Result<(), TopicReason> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        remembered(
            &mut self.last_publish,
            rules,
            topic,
            SessionRules::may_publish,
        )
    }

    pub(crate) fn may_subscribe(&self, filter: &str) -> Result<(), TopicReason> {
        match &self.rules {
            None => Ok(()),
            Some(rules) => verdict(rules.may_subscribe(filter)),
        }
    }

    pub(crate) fn may_deliver(&mut self, topic: &[u8]) -> Result<(), TopicReason> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        remembered(
            &mut self.last_delivery,
            rules,
            topic,
            SessionRules::may_deliver,
        )
    }
}

/// `ask` about a topic name from the wire (a name that is not UTF-8 is refused), or the answer
/// `last` holds for it.
fn remembered(
    last: &mut LastTopic,
    rules: &SessionRules,
    topic: &[u8],
    ask: for<'r> fn(&'r SessionRules, &str) -> TopicDecision<'r>,
) -> Result<(), TopicReason> {
    if let Some(answer) = last.get(topic) {
        return answer;
    }
    let answer = match std::str::from_utf8(topic) {
        Ok(name) => verdict(ask(rules, name)),
        Err(_) => Err(TopicReason::InvalidTopic),
    };
    last.put(topic, answer);
    answer
}

fn verdict(d: TopicDecision<'_>) -> Result<(), TopicReason> {
    if d.allowed {
        Ok(())
    } else {
        Err(d.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqid_core::{parse_identity_list, parse_permission_list, Permissions};

    const IDS: &str =
        r#"[{"Username":"fleet","Secret":"s","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

    fn index(effect: &str) -> Index {
        let rules = format!(
            r#"[{{"Identity":"fleet","IdentityType":"USER","Topic":"fleet/#","PermitAction":"PUB_SUB","Effect":"{effect}"}}]"#
        );
        let list = parse_permission_list(rules.as_bytes()).unwrap();
        Index::build(parse_identity_list(IDS.as_bytes()).unwrap(), [])
            .0
            .with_permissions(Some(Permissions::build(list)))
    }

    #[test]
    fn a_remembered_answer_is_asked_again_under_newer_rules() {
        let shared = SharedIndex::new(index("DENY"));
        let mut t = Topics::resolve(&shared.load(), "fleet", "c1", NoMatch::Allow);
        // no rule matches: no_match = allow; a name that is not UTF-8 is refused
        assert_eq!(t.may_publish(b"other"), Ok(()));
        assert_eq!(t.may_publish(b"fleet/\xff"), Err(TopicReason::InvalidTopic));
        for _ in 0..2 {
            assert_eq!(t.may_publish(b"fleet/a"), Err(TopicReason::DenyRule));
            assert_eq!(t.may_deliver(b"fleet/a"), Err(TopicReason::DenyRule));
        }
        assert_eq!(
            t.last_publish.get(b"fleet/a"),
            Some(Err(TopicReason::DenyRule))
        );

        shared.replace(index("ALLOW"));
        t.refresh(&shared, "fleet", "c1");
        assert_eq!(t.may_publish(b"fleet/a"), Ok(()));
        assert_eq!(t.may_deliver(b"fleet/a"), Ok(()));
    }

    #[test]
    fn names_over_the_memo_limit_are_asked_each_time() {
        let mut t = Topics::resolve(&index("DENY"), "fleet", "c1", NoMatch::Allow);
        let long = format!("fleet/{}", "x".repeat(MEMO_MAX));
        assert_eq!(t.may_publish(long.as_bytes()), Err(TopicReason::DenyRule));
        assert!(t.last_publish.answer.is_none());
        let short = b"fleet/b";
        assert_eq!(t.may_publish(short), Err(TopicReason::DenyRule));
        assert_eq!(t.last_publish.get(short), Some(Err(TopicReason::DenyRule)));
        // a longer name after a shorter one is not taken for it
        assert_eq!(t.last_publish.get(b"fleet/bb"), None);
    }
}
