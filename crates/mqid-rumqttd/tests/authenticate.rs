//! The `Authenticator` as rumqttd calls it: the stale gate, the limiter and the counters around
//! the decision.

use std::sync::Arc;

use mqid_core::{parse_identity_list, Index, Limits, Refusal, SharedIndex, StaleGate};
use mqid_rumqttd::Authenticator;

const FLEET: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"gw","Secret":"gw-secret","IdentityType":"CLIENT","ClientId":"gw-1","SignMode":"ORIGIN"}
]"#;

fn index(json: &str) -> Index {
    Index::build(parse_identity_list(json.as_bytes()).unwrap(), []).0
}

fn auth(limits: Limits) -> Authenticator {
    Authenticator::new(Arc::new(SharedIndex::new(index(FLEET)))).with_limiter(limits)
}

#[test]
fn a_pair_cools_down_after_max_failures_and_the_rest_of_the_fleet_does_not() {
    let a = auth(Limits {
        max_failures: 5,
        ..Limits::default()
    });
    for _ in 0..5 {
        assert!(!a.authenticate("dev-1", "fleet", "guess"));
    }
    assert_eq!(a.counts().refused(Refusal::BadPassword), 5);
    // the right password is refused during the cool-down, without a password check
    assert!(!a.authenticate("dev-1", "fleet", "fleet-secret"));
    assert_eq!(a.counts().refused(Refusal::RateLimited), 1);
    assert_eq!(a.counts().refused(Refusal::BadPassword), 5);
    // the shared USER username from every other client id is still admitted
    for i in 0..100 {
        assert!(a.authenticate(&format!("dev-{}", i + 2), "fleet", "fleet-secret"));
    }
    // a CLIENT identity is limited the same way
    for _ in 0..5 {
        assert!(!a.authenticate("gw-1", "gw", "guess"));
    }
    assert!(!a.authenticate("gw-1", "gw", "gw-secret"));
    assert_eq!(a.counts().refused(Refusal::RateLimited), 2);
    assert_eq!(a.counts().admitted(), 100);
    assert_eq!(a.limiter().unwrap().cooldowns(), 2);
}

#[test]
fn unknown_identities_are_not_counted() {
    let a = auth(Limits {
        max_failures: 2,
        ..Limits::default()
    });
    for _ in 0..20 {
        assert!(!a.authenticate("new-1", "newcomer", "new-secret"));
    }
    assert_eq!(a.counts().refused(Refusal::UnknownIdentity), 20);
    // the identity appears: nothing was held against the pair
    a.index().replace(index(
        r#"[{"Username":"newcomer","Secret":"new-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#,
    ));
    assert!(a.authenticate("new-1", "newcomer", "new-secret"));
    assert_eq!(a.limiter().unwrap().cooldowns(), 0);
}

#[test]
fn username_alert_counts_bad_passwords_across_client_ids_without_refusing() {
    let a = auth(Limits {
        max_failures: 3,
        username_alert_failures: 50,
        ..Limits::default()
    });
    for i in 0..60 {
        assert!(!a.authenticate(&format!("rotating-{i}"), "fleet", "guess"));
    }
    let limiter = a.limiter().unwrap();
    assert_eq!(limiter.username_alerts(), 1);
    assert_eq!(limiter.cooldowns(), 0);
    assert!(a.authenticate("dev-ok", "fleet", "fleet-secret"));
}

#[test]
fn the_stale_gate_refuses_everything_while_closed() {
    let gate = Arc::new(StaleGate::new());
    let a =
        Authenticator::new(Arc::new(SharedIndex::new(index(FLEET)))).with_stale_gate(gate.clone());
    assert!(a.authenticate("dev-1", "fleet", "fleet-secret"));
    gate.set_refusing(true);
    assert!(!a.authenticate("dev-1", "fleet", "fleet-secret"));
    assert!(!a.authenticate("gw-1", "gw", "gw-secret"));
    assert_eq!(a.counts().refused(Refusal::Stale), 2);
    gate.set_refusing(false);
    assert!(a.authenticate("gw-1", "gw", "gw-secret"));
    assert_eq!(a.counts().admitted(), 2);
}

#[test]
fn without_a_limiter_nothing_is_limited() {
    let a = Authenticator::new(Arc::new(SharedIndex::new(index(FLEET))));
    for _ in 0..50 {
        assert!(!a.authenticate("dev-1", "fleet", "guess"));
    }
    assert!(a.authenticate("dev-1", "fleet", "fleet-secret"));
    assert!(a.limiter().is_none());
}
