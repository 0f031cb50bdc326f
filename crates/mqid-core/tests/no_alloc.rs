//! `Index::decide` and the topic decisions (`SessionRules::resolve`, `refresh`, `may_publish`,
//! `may_deliver`, `may_subscribe`) make no heap allocation, whatever they decide: proved with a counting global
//! allocator that counts only on the test's own thread, and only while a decision runs.
//!
//! A correctness test, not a timed one (the timings are in `mqid bench auth`).

use std::hint::black_box;

use mqid_core::{
    parse_permission_list, signed_password, Connect, Decision, Identity, IdentityType, Index,
    NoMatch, Permissions, Refusal, Secret, SessionRules, SharedIndex, SignMode, TopicReason,
};
use mqid_test_support::alloc::{allocator_calls, CountingAlloc};

// Counts allocator calls (frees too: a decision that frees something allocated elsewhere is as
// suspect as one that allocates) on the armed thread only.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A decision, as owned data (a `Decision` borrows the index).
type Outcome = Result<(IdentityType, SignMode), Refusal>;

fn outcome(d: Decision<'_>) -> Outcome {
    match d {
        Decision::Admit(id) => Ok((id.identity_type, id.sign_mode)),
        Decision::Refuse(r) => Err(r),
    }
}

fn id(
    username: &str,
    secret: &str,
    t: IdentityType,
    client_id: Option<&str>,
    m: SignMode,
) -> Identity {
    Identity {
        username: username.into(),
        secret: Secret::new(secret),
        identity_type: t,
        client_id: client_id.map(Into::into),
        sign_mode: m,
    }
}

const S_UO: &str = "62a5916d71767185b48907d85c2efae2";
const S_US: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const S_CO: &str = "aaaabbbbccccddddeeeeffff00001111";
const S_CS: &str = "99998888777766665555444433332222";
const S_FLEET: &str = "fleet-user-secret-000000000000000";

fn index() -> Index {
    use IdentityType::{Client, User};
    use SignMode::{Origin, Signed};
    let mut ids = vec![
        id("u-origin", S_UO, User, None, Origin),
        id("u-signed", S_US, User, None, Signed),
        id("fleet", S_FLEET, User, None, Origin),
        id("fleet", S_CO, Client, Some("dev-origin"), Origin),
        id("fleet", S_CS, Client, Some("dev-signed"), Signed),
        id("clients-only", S_CO, Client, Some("only-dev"), Origin),
    ];
    // Enough other identities that the tables are not trivially small.
    for i in 0..5000 {
        let (t, m) = [
            (User, Origin),
            (Client, Origin),
            (User, Signed),
            (Client, Signed),
        ][i % 4];
        let cid = format!("GID_dev@@@{i:05}");
        let user = match t {
            User => format!("user-{i:05}"),
            Client => format!("fleet-{:04}", i / 16),
        };
        ids.push(id(
            &user,
            &format!("secret-{i:05}"),
            t,
            (t == Client).then_some(&*cid),
            m,
        ));
    }
    let (index, report) = Index::build(ids, ["banned".to_string(), "also-banned".to_string()]);
    assert!(report.duplicates.is_empty());
    index
}

/// (what, client id, username, password, expected outcome)
fn cases() -> Vec<(&'static str, String, String, String, Outcome)> {
    use IdentityType::{Client, User};
    use Refusal::{BadPassword, Blacklisted, UnknownIdentity};
    use SignMode::{Origin, Signed};
    let s = |x: &str| x.to_string();
    let sign = |secret: &str, cid: &str| signed_password(secret, cid);
    vec![
        (
            "admit USER/ORIGIN",
            s("any-1"),
            s("u-origin"),
            s(S_UO),
            Ok((User, Origin)),
        ),
        (
            "admit USER/SIGNED",
            s("any-2"),
            s("u-signed"),
            sign(S_US, "any-2"),
            Ok((User, Signed)),
        ),
        (
            "admit CLIENT/ORIGIN",
            s("dev-origin"),
            s("fleet"),
            s(S_CO),
            Ok((Client, Origin)),
        ),
        (
            "admit CLIENT/SIGNED",
            s("dev-signed"),
            s("fleet"),
            sign(S_CS, "dev-signed"),
            Ok((Client, Signed)),
        ),
        (
            "admit USER behind CLIENTs (fallback)",
            s("dev-other"),
            s("fleet"),
            s(S_FLEET),
            Ok((User, Origin)),
        ),
        (
            "admit USER/SIGNED, empty client id",
            s(""),
            s("u-signed"),
            sign(S_US, ""),
            Ok((User, Signed)),
        ),
        (
            "refuse USER/ORIGIN wrong password",
            s("any-1"),
            s("u-origin"),
            s(S_US),
            Err(BadPassword),
        ),
        (
            "refuse USER/ORIGIN short password",
            s("any-1"),
            s("u-origin"),
            s("short"),
            Err(BadPassword),
        ),
        (
            "refuse USER/ORIGIN empty password",
            s("any-1"),
            s("u-origin"),
            s(""),
            Err(BadPassword),
        ),
        (
            "refuse USER/SIGNED wrong password",
            s("any-2"),
            s("u-signed"),
            sign(S_UO, "any-2"),
            Err(BadPassword),
        ),
        (
            "refuse USER/SIGNED signed for another client",
            s("any-3"),
            s("u-signed"),
            sign(S_US, "any-2"),
            Err(BadPassword),
        ),
        (
            "refuse USER/SIGNED wrong length",
            s("any-2"),
            s("u-signed"),
            s(S_US),
            Err(BadPassword),
        ),
        (
            "refuse CLIENT/ORIGIN wrong password",
            s("dev-origin"),
            s("fleet"),
            s(S_CS),
            Err(BadPassword),
        ),
        (
            "refuse CLIENT/ORIGIN with the USER's secret",
            s("dev-origin"),
            s("fleet"),
            s(S_FLEET),
            Err(BadPassword),
        ),
        (
            "refuse CLIENT/SIGNED wrong password",
            s("dev-signed"),
            s("fleet"),
            sign(S_CO, "dev-signed"),
            Err(BadPassword),
        ),
        (
            "refuse CLIENT/SIGNED wrong length",
            s("dev-signed"),
            s("fleet"),
            s(S_CS),
            Err(BadPassword),
        ),
        (
            "refuse unknown username",
            s("any-4"),
            s("nobody"),
            s(S_UO),
            Err(UnknownIdentity),
        ),
        (
            "refuse empty username",
            s("any-4"),
            s(""),
            s(S_UO),
            Err(UnknownIdentity),
        ),
        (
            "refuse unknown client id, no USER identity",
            s("other-dev"),
            s("clients-only"),
            s(S_CO),
            Err(UnknownIdentity),
        ),
        (
            "refuse blacklisted, valid credentials",
            s("banned"),
            s("u-origin"),
            s(S_UO),
            Err(Blacklisted),
        ),
        (
            "refuse blacklisted CLIENT",
            s("also-banned"),
            s("fleet"),
            s(S_FLEET),
            Err(Blacklisted),
        ),
    ]
}

#[test]
fn the_counter_counts() {
    let (v, calls) = allocator_calls(|| black_box(vec![1u8; 64]));
    drop(v);
    assert!(
        calls >= 1,
        "the counting allocator saw no allocation: the proof below would be void"
    );
    let (_, calls) = allocator_calls(|| black_box(1 + 1));
    assert_eq!(calls, 0);
}

#[test]
fn decide_never_allocates() {
    let index = index();
    for (what, client_id, username, password, want) in cases() {
        let connect = Connect {
            client_id: &client_id,
            username: &username,
            password: password.as_bytes(),
        };
        for _ in 0..3 {
            let (got, calls) = allocator_calls(|| outcome(index.decide(black_box(&connect))));
            assert_eq!(got, want, "{what}: wrong decision");
            assert_eq!(
                calls, 0,
                "{what}: Index::decide made {calls} allocator call(s)"
            );
        }
    }
}

#[test]
fn load_and_decide_never_allocate() {
    let shared = SharedIndex::new(index());
    // arc_swap gives a thread its reader slot on the first load and keeps it: warm it up, as
    // every listener thread has done after its first CONNECT.
    drop(black_box(shared.load()));
    for (what, client_id, username, password, want) in cases() {
        let connect = Connect {
            client_id: &client_id,
            username: &username,
            password: password.as_bytes(),
        };
        for _ in 0..3 {
            let (got, calls) = allocator_calls(|| {
                let index = shared.load();
                outcome(index.decide(black_box(&connect)))
            });
            assert_eq!(got, want, "{what}: wrong decision");
            assert_eq!(
                calls, 0,
                "{what}: SharedIndex::load + Index::decide made {calls} allocator call(s)"
            );
        }
    }
}

#[test]
fn load_and_decide_never_allocate_after_a_replacement() {
    let shared = SharedIndex::new(index());
    drop(black_box(shared.load()));
    let old = shared.replace(index());
    drop(old);
    let (client_id, username, password) =
        ("dev-signed", "fleet", signed_password(S_CS, "dev-signed"));
    let connect = Connect {
        client_id,
        username,
        password: password.as_bytes(),
    };
    let (got, calls) = allocator_calls(|| outcome(shared.load().decide(black_box(&connect))));
    assert_eq!(got, Ok((IdentityType::Client, SignMode::Signed)));
    assert_eq!(
        calls, 0,
        "load + decide after a replacement made {calls} allocator call(s)"
    );
}

/// 100 rules for the session (USER `fleet` + CLIENT `dev-7`), literal and wildcard, allow and
/// deny, plus rules of other identities, in the API's JSON format.
fn permissions() -> Permissions {
    let mut records = Vec::new();
    let mut push = |t: &str, id: &str, topic: String, action: &str, effect: &str| {
        records.push(format!(
            r#"{{"Identity":"{id}","IdentityType":"{t}","Topic":"{topic}","PermitAction":"{action}","Effect":"{effect}"}}"#
        ))
    };
    for k in 0..25 {
        push("USER", "fleet", format!("fleet/{k}/status"), "PUB", "ALLOW");
        push("USER", "fleet", format!("fleet/{k}/+/cmd"), "SUB", "ALLOW");
        push(
            "CLIENT",
            "dev-7",
            format!("dev/7/{k}/#"),
            "PUB_SUB",
            "ALLOW",
        );
        push(
            "CLIENT",
            "dev-7",
            format!("dev/7/{k}/secret"),
            "PUB_SUB",
            "DENY",
        );
    }
    for k in 0..500 {
        push(
            "USER",
            &format!("other-{k}"),
            "#".into(),
            "PUB_SUB",
            "ALLOW",
        );
    }
    let list = parse_permission_list(format!("[{}]", records.join(",")).as_bytes()).unwrap();
    Permissions::build(list)
}

/// (what, question, topic, allowed, reason)
type TopicCase = (
    &'static str,
    fn(&SessionRules, &str) -> (bool, TopicReason),
    &'static str,
    bool,
    TopicReason,
);

fn topic_cases() -> Vec<TopicCase> {
    fn publish(s: &SessionRules, t: &str) -> (bool, TopicReason) {
        let d = s.may_publish(t);
        (d.allowed, d.reason)
    }
    fn deliver(s: &SessionRules, t: &str) -> (bool, TopicReason) {
        let d = s.may_deliver(t);
        (d.allowed, d.reason)
    }
    fn subscribe(s: &SessionRules, t: &str) -> (bool, TopicReason) {
        let d = s.may_subscribe(t);
        (d.allowed, d.reason)
    }
    use TopicReason::{AllowRule, DenyRule, InvalidTopic, NoMatchDeny};
    vec![
        (
            "publish, literal allow",
            publish,
            "fleet/3/status",
            true,
            AllowRule,
        ),
        (
            "publish, wildcard allow",
            publish,
            "dev/7/3/a/b",
            true,
            AllowRule,
        ),
        (
            "publish, literal deny",
            publish,
            "dev/7/3/secret",
            false,
            DenyRule,
        ),
        (
            "publish, no match",
            publish,
            "fleet/3/other",
            false,
            NoMatchDeny,
        ),
        ("publish, invalid", publish, "fleet/+", false, InvalidTopic),
        (
            "deliver, wildcard allow",
            deliver,
            "fleet/9/x/cmd",
            true,
            AllowRule,
        ),
        ("deliver, deny", deliver, "dev/7/24/secret", false, DenyRule),
        ("deliver, no match", deliver, "$SYS/x", false, NoMatchDeny),
        (
            "subscribe, covered",
            subscribe,
            "dev/7/2/+/x",
            true,
            AllowRule,
        ),
        (
            "subscribe, shared",
            subscribe,
            "$share/g/fleet/1/+/cmd",
            true,
            AllowRule,
        ),
        (
            "subscribe, denied",
            subscribe,
            "dev/7/2/secret",
            false,
            DenyRule,
        ),
        (
            "subscribe, not covered",
            subscribe,
            "dev/7/#",
            false,
            NoMatchDeny,
        ),
        (
            "subscribe, bad share",
            subscribe,
            "$share//a",
            false,
            InvalidTopic,
        ),
    ]
}

#[test]
fn topic_decisions_never_allocate() {
    let index = index().with_permissions(Some(permissions()));
    let (session, calls) = allocator_calls(|| {
        SessionRules::resolve(black_box(&index), "fleet", "dev-7", NoMatch::Deny)
    });
    assert_eq!(
        calls, 0,
        "SessionRules::resolve made {calls} allocator call(s)"
    );
    assert_eq!(session.rules().count(), 100);
    for (what, question, topic, allowed, reason) in topic_cases() {
        for _ in 0..3 {
            let (got, calls) = allocator_calls(|| question(black_box(&session), black_box(topic)));
            assert_eq!(got, (allowed, reason), "{what}: wrong decision");
            assert_eq!(calls, 0, "{what}: made {calls} allocator call(s)");
        }
    }
    // A session without rules, and one under an index without permissions.
    let (d, calls) = allocator_calls(|| {
        let s = SessionRules::resolve(&index, "nobody", "none", NoMatch::Allow);
        s.may_publish("a/b").allowed
    });
    assert!(d);
    assert_eq!(calls, 0);
}

#[test]
fn refresh_never_allocates() {
    let old = index().with_permissions(Some(permissions()));
    let new = index().with_permissions(Some(permissions()));
    let mut session = SessionRules::resolve(&old, "fleet", "dev-7", NoMatch::Deny);
    let (did, calls) = allocator_calls(|| session.refresh(black_box(&old), "fleet", "dev-7"));
    assert!(!did);
    assert_eq!(
        calls, 0,
        "refresh with the same generation made {calls} allocator call(s)"
    );
    // The old generation is still alive (as it is while the refresher retires it): moving to
    // the new one frees nothing and allocates nothing.
    let (did, calls) = allocator_calls(|| session.refresh(black_box(&new), "fleet", "dev-7"));
    assert!(did);
    assert_eq!(session.generation(), new.generation());
    assert_eq!(
        calls, 0,
        "refresh to a new generation made {calls} allocator call(s)"
    );
    let (d, calls) = allocator_calls(|| session.may_deliver("dev/7/1/x").allowed);
    assert!(d);
    assert_eq!(calls, 0);
}
