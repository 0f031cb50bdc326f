//! `Authenticator::authenticate`, what rumqttd runs per CONNECT (stale gate, limiter, decision,
//! counters, refusal log), makes no heap allocation: proved with a counting global allocator
//! that counts only on the test's own thread while a CONNECT is handled. No tracing subscriber
//! is installed, as in the common case where a refusal line is not written (the log quota is
//! spent, or the level is off). A correctness test, not a timed one.

use std::sync::Arc;

use mqid_core::{
    parse_identity_list, signed_password, Index, Limits, Refusal, SharedIndex, StaleGate,
};
use mqid_rumqttd::Authenticator;
use mqid_test_support::alloc::{allocator_calls, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const IDS: &str = r#"[
  {"Username":"fleet","Secret":"fleet-secret","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"signed","Secret":"signed-secret","IdentityType":"USER","SignMode":"SIGNED"},
  {"Username":"gw","Secret":"gw-secret","IdentityType":"CLIENT","ClientId":"gw-1","SignMode":"SIGNED"}
]"#;

#[test]
fn authenticate_never_allocates() {
    let (_, calls) = allocator_calls(|| std::hint::black_box(vec![1u8; 4]));
    assert!(calls >= 1, "the counting allocator counts");
    let ids = parse_identity_list(IDS.as_bytes()).unwrap();
    let (index, _) = Index::build(ids, ["banned".to_string()]);
    let gate = Arc::new(StaleGate::new());
    let auth = Authenticator::new(Arc::new(SharedIndex::new(index)))
        .with_limiter(Limits {
            max_failures: 3,
            max_tracked_keys: 64,
            username_alert_failures: 5,
            ..Limits::default()
        })
        .with_stale_gate(gate.clone());
    let signed_ok = signed_password("signed-secret", "dev-7");
    let gw_ok = signed_password("gw-secret", "gw-1");
    // Warm up: arc_swap's per-thread slot, the clock.
    auth.authenticate("warm", "fleet", "fleet-secret");

    let cases: Vec<(String, &str, &str, Result<(), Refusal>)> = {
        let mut v = vec![
            ("dev-1".to_string(), "fleet", "fleet-secret", Ok(())),
            ("dev-7".to_string(), "signed", signed_ok.as_str(), Ok(())),
            ("gw-1".to_string(), "gw", gw_ok.as_str(), Ok(())),
            (
                "banned".to_string(),
                "fleet",
                "fleet-secret",
                Err(Refusal::Blacklisted),
            ),
            (
                "dev-1".to_string(),
                "nobody",
                "x",
                Err(Refusal::UnknownIdentity),
            ),
        ];
        // bad passwords into a cool-down, then the right one refused
        for _ in 0..3 {
            v.push((
                "dev-2".to_string(),
                "signed",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                Err(Refusal::BadPassword),
            ));
        }
        v.push((
            "dev-2".to_string(),
            "signed",
            "fleet-secret",
            Err(Refusal::RateLimited),
        ));
        // a flood of random client ids, past the table's size (evictions) and the username alert
        for i in 0..500 {
            v.push((
                format!("rnd-{i}"),
                "fleet",
                "nope",
                Err(Refusal::BadPassword),
            ));
        }
        v
    };
    for (client_id, user, pass, want) in &cases {
        let (got, calls) = allocator_calls(|| auth.authenticate(client_id, user, pass));
        assert_eq!(got, want.is_ok(), "{client_id} {user}: {want:?}");
        assert_eq!(
            calls, 0,
            "{client_id} {user} ({want:?}) allocated {calls} times"
        );
    }
    gate.set_refusing(true);
    let (got, calls) = allocator_calls(|| auth.authenticate("dev-1", "fleet", "fleet-secret"));
    assert!(!got);
    assert_eq!(calls, 0, "a stale refusal allocated");
    assert_eq!(auth.counts().refused(Refusal::Stale), 1);
    assert_eq!(auth.counts().refused(Refusal::RateLimited), 1);
    assert!(auth.limiter().unwrap().evictions() > 0);
    assert!(auth.limiter().unwrap().username_alerts() > 0);
}
