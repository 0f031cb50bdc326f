//! `topic::matches`, `topic::covers`, `check_filter` and `check_name` against oracles written
//! apart from them, exhaustively over a small alphabet of levels: `a`, `b`, the empty level,
//! `$x`, `é`, `+` and `#`, at every position (so empty levels as in `a//b`, `/a`, `a/`,
//! `$`-topics and UTF-8 levels are all in).
//!
//! * matching: a regex built from MQTT's text (the fuzz harness's `OracleFilter`), and rumqttc's
//!   own `matches(topic, filter)`. rumqttc differs on purpose in one place: it matches **no**
//!   topic starting with `$`, even with a literal filter such as `$SYS/a`, where MQTT (and
//!   mqid) match literal filters normally and only keep wildcard first levels off `$` topics;
//!   rumqttc is consulted for the other topics only. rumqttc 0.25.1 also panics on a topic whose
//!   first character takes more than one byte (`topic[..1]`, e.g. `é/a`): those are left to the
//!   regex.
//! * coverage: brute force over the finite universe of `coverage_universe` (literal levels of the
//!   two filters plus fresh ones, to depth max + 1), which is exhaustive proof for that pair.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use harness::{
    coverage_universe, oracle_covers, oracle_valid_filter, oracle_valid_name, OracleFilter,
};
use mqid_core::topic::{self, TopicError};

const LEVELS: [&str; 7] = ["a", "b", "", "$x", "é", "+", "#"];

/// Every '/'-joined sequence of 1 to `depth` levels of `alphabet`.
fn strings(alphabet: &[&str], depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = vec![String::new()];
    for d in 1..=depth {
        let mut next = Vec::new();
        for prefix in &current {
            for l in alphabet {
                next.push(if d == 1 {
                    l.to_string()
                } else {
                    format!("{prefix}/{l}")
                });
            }
        }
        out.extend(next.iter().cloned());
        current = next;
    }
    out
}

#[test]
fn validation_agrees_with_the_oracle() {
    let all = strings(&LEVELS, 4);
    let mut filters = 0;
    for s in &all {
        assert_eq!(
            topic::check_filter(s).is_ok(),
            oracle_valid_filter(s),
            "check_filter({s:?})"
        );
        assert_eq!(
            topic::check_name(s).is_ok(),
            oracle_valid_name(s),
            "check_name({s:?})"
        );
        filters += usize::from(oracle_valid_filter(s));
    }
    assert!(
        filters > 1000,
        "the alphabet yields too few valid filters: {filters}"
    );
    // Odd characters inside a level, and the precise errors.
    type Verdict = Result<(), TopicError>;
    let cases: [(&str, Verdict, Verdict); 10] = [
        ("", Err(TopicError::Empty), Err(TopicError::Empty)),
        (
            "a+",
            Err(TopicError::MisplacedPlus),
            Err(TopicError::WildcardInName),
        ),
        (
            "a/#b",
            Err(TopicError::MisplacedHash),
            Err(TopicError::WildcardInName),
        ),
        (
            "#/a",
            Err(TopicError::MisplacedHash),
            Err(TopicError::WildcardInName),
        ),
        (
            "a/b#",
            Err(TopicError::MisplacedHash),
            Err(TopicError::WildcardInName),
        ),
        ("a\0b", Err(TopicError::Nul), Err(TopicError::Nul)),
        ("/", Ok(()), Ok(())),
        ("$share/g/a", Ok(()), Ok(())),
        ("a b/c d", Ok(()), Ok(())),
        ("+/+/#", Ok(()), Err(TopicError::WildcardInName)),
    ];
    for (s, filter, name) in cases {
        assert_eq!(topic::check_filter(s), filter, "check_filter({s:?})");
        assert_eq!(topic::check_name(s), name, "check_name({s:?})");
    }
    let long = "a".repeat(65_536);
    assert_eq!(topic::check_filter(&long), Err(TopicError::TooLong));
    assert_eq!(topic::check_name(&long), Err(TopicError::TooLong));
    assert_eq!(topic::check_name(&long[1..]), Ok(()));
}

#[test]
fn matches_agrees_with_a_regex_and_with_rumqttc() {
    let filters: Vec<String> = strings(&LEVELS, 3)
        .into_iter()
        .filter(|f| oracle_valid_filter(f))
        .collect();
    let names: Vec<String> = strings(&LEVELS, 4)
        .into_iter()
        .filter(|t| oracle_valid_name(t))
        .collect();
    let (mut matched, mut dollar_matched) = (0, 0);
    for f in &filters {
        let oracle = OracleFilter::new(f);
        for t in &names {
            let got = topic::matches(f, t);
            assert_eq!(got, oracle.matches(t), "matches({f:?}, {t:?}) vs regex");
            if t.starts_with('$') {
                dollar_matched += usize::from(got);
            } else if t.is_char_boundary(1) {
                assert_eq!(
                    got,
                    rumqttc::matches(t, f),
                    "matches({f:?}, {t:?}) vs rumqttc"
                );
            }
            matched += usize::from(got);
        }
    }
    // The comparison is not vacuous: both outcomes occur, on `$` topics too.
    let pairs = filters.len() * names.len();
    assert!(
        matched > pairs / 100 && matched < pairs / 2,
        "{matched} of {pairs} pairs match"
    );
    assert!(dollar_matched > 100, "{dollar_matched} `$` matches");
}

#[test]
fn matches_known_cases() {
    // MQTT 5 §4.7 examples and the corners the README names.
    let cases = [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking",
            true,
        ),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon",
            true,
        ),
        ("sport/#", "sport", true),
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/monitor/Clients", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("a/+/$b", "a/x/$b", true),
        ("a//b", "a//b", true),
        ("a//b", "a/b", false),
        ("é/+", "é/ü", true),
    ];
    for (f, t, want) in cases {
        assert_eq!(topic::matches(f, t), want, "matches({f:?}, {t:?})");
        assert_eq!(
            OracleFilter::new(f).matches(t),
            want,
            "oracle({f:?}, {t:?})"
        );
    }
}

/// Coverage of every pair of valid filters of the alphabet, by brute force: each filter's
/// matches over one universe built for all of them (their literal levels plus fresh ones, to
/// depth max + 1: a superset of each pair's own universe, so still a proof), then subset tests.
fn covers_exhaustively(alphabet: &[&str], depth: usize) -> (usize, usize) {
    let filters: Vec<String> = strings(alphabet, depth)
        .into_iter()
        .filter(|f| oracle_valid_filter(f))
        .collect();
    let refs: Vec<&str> = filters.iter().map(String::as_str).collect();
    let universe = coverage_universe(&refs, usize::MAX).unwrap();
    let matched: Vec<Vec<bool>> = filters
        .iter()
        .map(|f| {
            let oracle = OracleFilter::new(f);
            universe.iter().map(|t| oracle.matches(t)).collect()
        })
        .collect();
    let (mut pairs, mut covered) = (0, 0);
    for (wide, w) in filters.iter().zip(&matched) {
        for (narrow, n) in filters.iter().zip(&matched) {
            let want = n.iter().zip(w).all(|(&n, &w)| !n || w);
            assert_eq!(
                topic::covers(wide, narrow),
                want,
                "covers({wide:?}, {narrow:?})"
            );
            pairs += 1;
            covered += usize::from(want);
        }
    }
    (pairs, covered)
}

#[test]
fn covers_agrees_with_brute_force() {
    // Every pair of valid filters of up to three levels of the whole alphabet.
    let (pairs, covered) = covers_exhaustively(&LEVELS, 3);
    assert!(pairs > 50_000, "{pairs} pairs");
    assert!(
        covered > pairs / 100 && covered < pairs / 2,
        "{covered} of {pairs}"
    );
}

#[test]
fn covers_known_cases() {
    let cases = [
        ("#", "a/secret", true),
        ("#", "#", true),
        ("+/#", "#", true),
        ("#", "+/#", true),
        ("+", "#", false),
        ("a/#", "a", true),
        ("a/#", "a/#", true),
        ("a/+/#", "a/#", false),
        ("a/+", "a/#", false),
        ("#", "$SYS/#", false),
        ("+/#", "$SYS/a", false),
        ("$SYS/#", "$SYS/+/x", true),
        ("a/+", "a/", true),
        ("a/+", "a", false),
        ("+/+", "/+", true),
        ("a/b", "a/+", false),
        // `/#` matches no more valid topics than `/+/#`: its parent would be the empty topic.
        ("/+/#", "/#", true),
        ("+/+/#", "/#", true),
        ("a/+/#", "/#", false),
        ("/+", "/#", false),
    ];
    for (wide, narrow, want) in cases {
        assert_eq!(
            topic::covers(wide, narrow),
            want,
            "covers({wide:?}, {narrow:?})"
        );
        assert_eq!(
            oracle_covers(wide, narrow, usize::MAX),
            Some(want),
            "oracle({wide:?}, {narrow:?})"
        );
    }
}

#[test]
fn strip_share() {
    assert_eq!(topic::strip_share("$share/g/a/+"), Ok("a/+"));
    assert_eq!(topic::strip_share("$share/g/#"), Ok("#"));
    assert_eq!(topic::strip_share("$share/é/$x/#"), Ok("$x/#"));
    assert_eq!(topic::strip_share("a/#"), Ok("a/#"));
    // Only `$share/` opens a shared subscription; `$share` alone is an ordinary level.
    assert_eq!(topic::strip_share("$share"), Ok("$share"));
    assert_eq!(topic::strip_share("$shared/g/a"), Ok("$shared/g/a"));
    for bad in [
        "$share/g",
        "$share//a",
        "$share/+/a",
        "$share/g#/a",
        "$share/g/",
    ] {
        assert_eq!(
            topic::strip_share(bad),
            Err(TopicError::BadShare),
            "{bad:?}"
        );
    }
    assert_eq!(
        topic::strip_share("$share/g/a/#/b"),
        Err(TopicError::MisplacedHash)
    );
    assert_eq!(topic::strip_share("a+"), Err(TopicError::MisplacedPlus));
    assert_eq!(topic::strip_share(""), Err(TopicError::Empty));
}

/// A small deterministic generator (SplitMix64), so that the rule sets below are the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

/// The session's three decisions against the plain model of the README's rules (first DENY,
/// then first ALLOW, then no_match; USER rules of `u` then CLIENT rules of `c`), over random
/// sets of rules from the alphabet's filters, for every topic name and filter of the alphabet.
/// This exercises the compiled layout (literal table, trie, branching at `+`, `#` parents, the
/// `$` rule at the root) against a linear scan with the regex oracle.
#[test]
fn decisions_agree_with_the_model() {
    use mqid_core::{
        Identity, IdentityType, Index, NoMatch, Permission, Permissions, RawPermission, Secret,
        SessionRules, SignMode,
    };
    let filters: Vec<String> = strings(&LEVELS, 3)
        .into_iter()
        .filter(|f| oracle_valid_filter(f))
        .collect();
    let names: Vec<String> = strings(&LEVELS, 3)
        .into_iter()
        .filter(|t| oracle_valid_name(t))
        .collect();
    let questions: Vec<String> = strings(&LEVELS, 2)
        .into_iter()
        .filter(|f| oracle_valid_filter(f))
        .collect();
    let oracles: std::collections::HashMap<&str, OracleFilter> = filters
        .iter()
        .map(|f| (f.as_str(), OracleFilter::new(f)))
        .collect();
    // Coverage by brute force, as in `covers_exhaustively`: each filter's matches over one
    // universe for all of them.
    let refs: Vec<&str> = filters.iter().map(String::as_str).collect();
    let universe = coverage_universe(&refs, usize::MAX).unwrap();
    let over_universe: std::collections::HashMap<&str, Vec<bool>> = filters
        .iter()
        .map(|f| {
            (
                f.as_str(),
                universe
                    .iter()
                    .map(|t| oracles[f.as_str()].matches(t))
                    .collect(),
            )
        })
        .collect();
    let oracle_covers = |wide: &str, narrow: &str| {
        let (w, n) = (&over_universe[wide], &over_universe[narrow]);
        n.iter().zip(w).all(|(&n, &w)| !n || w)
    };
    let mut rng = Rng(0x5eed);
    let (mut allowed, mut by_rule) = (0usize, 0usize);
    for round in 0..60 {
        let count = 1 + rng.next() % 12;
        let rules: Vec<Permission> = (0..count)
            .map(|_| {
                let (t, id) = *rng.pick(&[
                    ("USER", "u"),
                    ("CLIENT", "c"),
                    ("USER", "c"),
                    ("CLIENT", "x"),
                ]);
                Permission::try_from(RawPermission {
                    identity: Some(id.into()),
                    identity_type: Some(t.into()),
                    topic: Some(rng.pick(&filters).clone()),
                    permit_action: Some((*rng.pick(&["PUB", "SUB", "PUB_SUB"])).into()),
                    effect: Some((*rng.pick(&["ALLOW", "ALLOW", "DENY"])).into()),
                })
                .unwrap()
            })
            .collect();
        let no_match_allows = round % 3 == 0;
        let no_match = if no_match_allows {
            NoMatch::Allow
        } else {
            NoMatch::Deny
        };
        let user = Identity {
            username: "u".into(),
            secret: Secret::new("s"),
            identity_type: IdentityType::User,
            client_id: None,
            sign_mode: SignMode::Origin,
        };
        let index = Index::build([user], [])
            .0
            .with_permissions(Some(Permissions::build(rules.clone())));
        let session = SessionRules::resolve(&index, "u", "c", no_match);
        let got = |d: mqid_core::TopicDecision<'_>| (d.allowed, d.rule.cloned());
        for t in &names {
            for (sub, d) in [
                (false, session.may_publish(t)),
                (true, session.may_deliver(t)),
            ] {
                let (ok, rule) =
                    harness::model_decide(&rules, "u", "c", sub, no_match_allows, |r| {
                        oracles[r.topic.as_str()].matches(t)
                    });
                assert_eq!(
                    got(d),
                    (ok, rule.cloned()),
                    "topic {t:?}, sub {sub}, rules {rules:#?}"
                );
                allowed += usize::from(ok);
                by_rule += usize::from(rule.is_some());
            }
        }
        for f in &questions {
            let (ok, rule) = harness::model_decide(&rules, "u", "c", true, no_match_allows, |r| {
                oracle_covers(&r.topic, f)
            });
            assert_eq!(
                got(session.may_subscribe(f)),
                (ok, rule.cloned()),
                "subscribe {f:?}, rules {rules:#?}"
            );
        }
    }
    assert!(
        allowed > 1000 && by_rule > 1000,
        "allowed {allowed}, by a rule {by_rule}"
    );
}
