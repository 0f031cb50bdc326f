//! The checks of mqid-core's fuzz targets, one function per target.
//!
//! Each function takes the fuzzer's bytes and panics when mqid-core misbehaves on them. The fuzz
//! targets (`fuzz_targets/`) call them under libFuzzer; mqid-core's `tests/fuzz_corpus.rs`
//! includes this file and calls them on every file of `corpus/<target>/`, so that a plain
//! `cargo test` replays the corpus on the stable toolchain.
//!
//! The oracles are written apart from the code under test: the decision is checked against a
//! plain lookup table and an HMAC computed here, not against the index's own prepared state.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use mqid_core::{
    parse_identity_list, parse_permission_list, topic, Connect, Decision, Effect, Identity,
    IdentityKey, IdentityType, Index, NoMatch, Permission, Permissions, RawPermission, Refusal,
    SessionRules, SignMode, TopicDecision, TopicReason, MAX_ID_CHARS,
};
use mqid_test_support::assert_no_secret_quoted;
use sha1::Sha1;

/// The password that admits `id` for a CONNECT from `client_id`, computed without mqid-core.
pub fn expected_password(id: &Identity, client_id: &str) -> Vec<u8> {
    match id.sign_mode {
        SignMode::Origin => id.secret.expose().as_bytes().to_vec(),
        SignMode::Signed => {
            let mut mac = Hmac::<Sha1>::new_from_slice(id.secret.expose().as_bytes()).unwrap();
            mac.update(client_id.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes()).into_bytes()
        }
    }
}

fn valid_id(field: &str, value: &str) {
    assert!(!value.is_empty(), "accepted an empty {field}");
    assert!(
        value.chars().count() <= MAX_ID_CHARS,
        "accepted a {field} longer than {MAX_ID_CHARS} characters"
    );
}

/// Target `identity_list`: a file of the file source (a JSON array of identity records), or the
/// `Data.Results` of a page, through [`parse_identity_list`].
///
/// * accepted: every identity is valid; the list serialises back to JSON that parses to the same
///   list; built into an index, each identity not overridden by a later duplicate is found under
///   its key, admits its own password and refuses that password with one bit changed;
/// * refused: the message never repeats a secret of the input.
pub fn identity_list(data: &[u8]) {
    match parse_identity_list(data) {
        Ok(ids) => accepted_list(&ids),
        Err(e) => assert_no_secret_quoted(data, &e.to_string()),
    }
}

fn accepted_list(ids: &[Identity]) {
    for id in ids {
        valid_id("Username", &id.username);
        assert!(!id.secret.is_empty(), "accepted an empty Secret");
        match (id.identity_type, id.client_id.as_deref()) {
            (IdentityType::Client, None) => panic!("accepted a CLIENT identity without ClientId"),
            (_, Some(c)) => valid_id("ClientId", c),
            (IdentityType::User, None) => {}
        }
    }
    let json = serde_json::to_vec(ids).expect("identities serialise");
    let again = parse_identity_list(&json).expect("a serialised list parses again");
    assert_eq!(again, ids, "serialising and parsing again changed the list");

    let (index, report) = Index::build(ids.iter().cloned(), []);
    assert_eq!(index.len() + report.duplicates.len(), ids.len());
    for id in ids {
        let stored = index
            .get(&id.key())
            .expect("an accepted identity is indexed");
        if stored != id {
            continue; // a later record with the same key won
        }
        let client_id = match id.identity_type {
            IdentityType::Client => id.client_id.clone().unwrap(),
            // a client id that has no CLIENT identity of its own under this username
            IdentityType::User => (0..)
                .map(|n| format!("fuzz-client-{n}"))
                .find(|c| {
                    index
                        .get(&IdentityKey::Client {
                            username: id.username.clone(),
                            client_id: c.clone(),
                        })
                        .is_none()
                })
                .unwrap(),
        };
        let mut password = expected_password(id, &client_id);
        let connect = |password: &[u8]| {
            index
                .decide(&Connect {
                    client_id: &client_id,
                    username: &id.username,
                    password,
                })
                .is_admit()
        };
        assert!(connect(&password), "{id:?} refuses its own password");
        *password.last_mut().unwrap() ^= 1;
        assert!(!connect(&password), "{id:?} admits a wrong password");
    }
}

/// The fixed index of the `decide` target, and the same identities as a plain table.
struct Fixture {
    index: Index,
    table: Vec<Identity>,
    blacklist: Vec<&'static str>,
}

const FIXTURE: &str = r#"[
 {"Username":"u-origin","Secret":"origin-secret","IdentityType":"USER","SignMode":"ORIGIN"},
 {"Username":"u-signed","Secret":"62a5916d71767185b48907d85c2efae2","IdentityType":"USER","SignMode":"SIGNED"},
 {"Username":"u-signed","Secret":"client-origin","IdentityType":"CLIENT","ClientId":"dev-1","SignMode":"ORIGIN"},
 {"Username":"u-client","Secret":"client-signed-secret","IdentityType":"CLIENT","ClientId":"dev-2","SignMode":"SIGNED"},
 {"Username":"u-client","Secret":"x","IdentityType":"CLIENT","ClientId":"GID_ICP@@@4d378084","SignMode":"ORIGIN"},
 {"Username":"ü-user","Secret":"é","IdentityType":"USER","SignMode":"ORIGIN"},
 {"Username":"both","Secret":"both-user","IdentityType":"USER","ClientId":"dev-1","SignMode":"SIGNED"},
 {"Username":"both","Secret":"both-client","IdentityType":"CLIENT","ClientId":"banned","SignMode":"ORIGIN"}
]"#;

const USERNAMES: [&str; 6] = [
    "u-origin", "u-signed", "u-client", "ü-user", "both", "nobody",
];
const CLIENT_IDS: [&str; 6] = ["dev-1", "dev-2", "GID_ICP@@@4d378084", "banned", "", "x"];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let table = parse_identity_list(FIXTURE.as_bytes()).expect("fixture parses");
        let blacklist = vec!["banned"];
        let (index, report) = Index::build(
            table.iter().cloned(),
            blacklist.iter().map(|s| s.to_string()),
        );
        assert!(report.duplicates.is_empty());
        Fixture {
            index,
            table,
            blacklist,
        }
    })
}

/// The decision by the rules of the README, from the plain table: a client id over 64
/// characters, the blacklist, then the CLIENT identity of (username, client id), then the USER
/// identity of the username.
fn model<'a>(f: &'a Fixture, username: &str, client_id: &str) -> Result<&'a Identity, Refusal> {
    if client_id.chars().count() > 64 {
        return Err(Refusal::ClientIdTooLong);
    }
    if f.blacklist.contains(&client_id) {
        return Err(Refusal::Blacklisted);
    }
    let of_user = |t: IdentityType| {
        f.table
            .iter()
            .filter(move |i| i.username == username && i.identity_type == t)
    };
    of_user(IdentityType::Client)
        .find(|i| i.client_id.as_deref() == Some(client_id))
        .or_else(|| of_user(IdentityType::User).next())
        .ok_or(Refusal::UnknownIdentity)
}

/// Target `decide`: arbitrary username, client id and password over a small fixed index.
///
/// Input: byte 0 picks the username (one of the fixture's, or the raw one), byte 1 the client
/// id, byte 2 the password (raw, the right one, the right one with a byte changed, cut or
/// lengthened, or another identity's), byte 3 which byte to change; the rest is the raw
/// username, client id and password separated by `0xFF` (invalid UTF-8 is replaced, as the
/// broker only passes strings). The decision must be the model's: admitted exactly when the
/// password is the right one for the identity that decides, with that identity.
pub fn decide(data: &[u8]) {
    let f = fixture();
    let (head, rest) = data.split_at(data.len().min(4));
    let byte = |i: usize| head.get(i).copied().unwrap_or(0);
    let mut raw = rest.split(|&b| b == 0xFF);
    let raw_user = String::from_utf8_lossy(raw.next().unwrap_or_default()).into_owned();
    let raw_client = String::from_utf8_lossy(raw.next().unwrap_or_default()).into_owned();
    let raw_password = raw.next().unwrap_or_default().to_vec();

    let pick = |b: u8, names: &[&'static str], raw: &str| -> String {
        names
            .get(b as usize % (names.len() + 2))
            .map_or_else(|| raw.to_owned(), |s| (*s).to_owned())
    };
    let username = pick(byte(0), &USERNAMES, &raw_user);
    let client_id = pick(byte(1), &CLIENT_IDS, &raw_client);
    let expected = model(f, &username, &client_id);
    let right = expected
        .ok()
        .map(|id| expected_password(id, &client_id))
        .unwrap_or_default();
    let password = match byte(2) % 6 {
        0 => raw_password,
        1 => right.clone(),
        2 => {
            let mut p = right.clone();
            if !p.is_empty() {
                let i = byte(3) as usize % p.len();
                p[i] = p[i].wrapping_add(1 + byte(3) % 255);
            }
            p
        }
        3 => right[..right.len() / 2].to_vec(),
        4 => [right.as_slice(), &raw_password, b"x"].concat(),
        _ => {
            let other = &f.table[byte(3) as usize % f.table.len()];
            expected_password(other, &client_id)
        }
    };

    let got = f.index.decide(&Connect {
        client_id: &client_id,
        username: &username,
        password: &password,
    });
    let want = match expected {
        Err(refusal) => Decision::Refuse(refusal),
        Ok(id) if password == right => Decision::Admit(id),
        Ok(_) => Decision::Refuse(Refusal::BadPassword),
    };
    assert_eq!(
        got, want,
        "username {username:?}, client id {client_id:?}, password {password:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Topic permissions: oracles written apart from `mqid_core::topic` and `mqid_core::rules`.
// ---------------------------------------------------------------------------------------------

/// A topic filter compiled to a regular expression: the oracle for `topic::matches`. Written
/// from MQTT's text, not from mqid-core's level walk: `+` is `[^/]*`, a last-level `#` is "the
/// separator and anything, or nothing" (so `a/#` matches `a`), and a wildcard first level may
/// not start with `$` (MQTT 5 §4.7.2).
pub struct OracleFilter(regex::Regex);

impl OracleFilter {
    /// `filter` must be a valid MQTT topic filter.
    pub fn new(filter: &str) -> Self {
        let mut pattern = String::from("(?s)^");
        for (i, level) in filter.split('/').enumerate() {
            match (i, level) {
                (0, "#") => pattern.push_str("(?:[^$].*)?"),
                (_, "#") => pattern.push_str("(?:/.*)?"),
                (0, "+") => pattern.push_str("(?:[^/$][^/]*)?"),
                (_, "+") => pattern.push_str("/[^/]*"),
                (0, literal) => pattern.push_str(&regex::escape(literal)),
                (_, literal) => {
                    pattern.push('/');
                    pattern.push_str(&regex::escape(literal));
                }
            }
        }
        pattern.push('$');
        OracleFilter(regex::Regex::new(&pattern).expect("oracle pattern compiles"))
    }

    /// Whether the filter matches the topic name `topic` (valid).
    pub fn matches(&self, topic: &str) -> bool {
        self.0.is_match(topic)
    }
}

/// Whether a string is a valid MQTT topic filter, by MQTT's text, written apart from mqid-core.
pub fn oracle_valid_filter(s: &str) -> bool {
    let levels: Vec<&str> = s.split('/').collect();
    !s.is_empty()
        && s.len() <= 65_535
        && !s.contains('\0')
        && levels.iter().enumerate().all(|(i, l)| {
            (!l.contains('#') || (*l == "#" && i == levels.len() - 1))
                && (!l.contains('+') || *l == "+")
        })
}

/// Whether a string is a valid MQTT topic name.
pub fn oracle_valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 65_535 && !s.contains(['\0', '+', '#'])
}

/// The finite universe that decides whether one filter covers another: every topic name of 1 to
/// (most levels of either filter + 1) levels, each level one of the filters' literal levels or
/// a fresh level (`f…`, and `$f…` for the `$` rule). Exhaustive over it is a proof: matching a
/// valid filter depends on a level only through its equality with the filter's literals and,
/// for the first level, whether it starts with `$`, so any topic that separates the two filters
/// maps to one of the universe (levels renamed, depth cut at max + 1). `None` when the universe
/// would exceed `limit` topics.
pub fn coverage_universe(filters: &[&str], limit: usize) -> Option<Vec<String>> {
    let mut levels: Vec<String> = Vec::new();
    let mut depth = 0;
    for f in filters {
        depth = depth.max(f.split('/').count());
        for l in f.split('/') {
            if l != "+" && l != "#" && !levels.iter().any(|k| k == l) {
                levels.push(l.to_string());
            }
        }
    }
    let mut fresh = String::from("f");
    while levels
        .iter()
        .any(|l| l == &fresh || l == &format!("${fresh}"))
    {
        fresh.push('f');
    }
    levels.push(format!("${fresh}"));
    levels.push(fresh);
    depth += 1;
    let mut total = 0usize;
    for d in 1..=depth {
        total = total.saturating_add(levels.len().saturating_pow(d as u32));
    }
    if total > limit {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    let mut current: Vec<String> = vec![String::new()];
    for d in 1..=depth {
        let mut next = Vec::with_capacity(current.len() * levels.len());
        for prefix in &current {
            for l in &levels {
                next.push(if d == 1 {
                    l.clone()
                } else {
                    format!("{prefix}/{l}")
                });
            }
        }
        out.extend(next.iter().filter(|t| !t.is_empty()).cloned());
        current = next;
    }
    Some(out)
}

/// Whether `wide` covers `narrow`, by brute force over [`coverage_universe`] with the regex
/// oracle; `None` when the universe would be larger than `limit`.
pub fn oracle_covers(wide: &str, narrow: &str, limit: usize) -> Option<bool> {
    let universe = coverage_universe(&[wide, narrow], limit)?;
    let (w, n) = (OracleFilter::new(wide), OracleFilter::new(narrow));
    Some(universe.iter().all(|t| !n.matches(t) || w.matches(t)))
}

/// The decision by the README's rules, from a plain list: the applicable rules are the `USER`
/// rules of `username` then the `CLIENT` rules of `client_id`, in list order; a `DENY` of the
/// direction that applies decides first, then an `ALLOW`, then `no_match`. `applies(rule)` says
/// whether a rule's filter matches (publish, delivery) or covers (subscribe) the question.
/// Returns (allowed, the deciding rule).
pub fn model_decide<'a>(
    rules: &'a [Permission],
    username: &str,
    client_id: &str,
    subscribe_side: bool,
    no_match_allows: bool,
    applies: impl Fn(&Permission) -> bool,
) -> (bool, Option<&'a Permission>) {
    let applicable: Vec<&Permission> = rules
        .iter()
        .filter(|r| r.identity_type == IdentityType::User && r.identity == username)
        .chain(
            rules
                .iter()
                .filter(|r| r.identity_type == IdentityType::Client && r.identity == client_id),
        )
        .filter(|r| {
            if subscribe_side {
                r.permit_action.covers_sub()
            } else {
                r.permit_action.covers_pub()
            }
        })
        .collect();
    let first = |effect: Effect| {
        applicable
            .iter()
            .find(|r| r.effect == effect && applies(r))
            .copied()
    };
    match (first(Effect::Deny), first(Effect::Allow)) {
        (Some(deny), _) => (false, Some(deny)),
        (None, Some(allow)) => (true, Some(allow)),
        (None, None) => (no_match_allows, None),
    }
}

/// Target `permission_list`: a permissions file (a JSON array of permission records), or the
/// `Data.Results` of a `QueryCustomAuthPermission` page, through [`parse_permission_list`].
///
/// * accepted: every rule is valid by the oracle (non-empty identity of at most 64 characters, a
///   valid MQTT filter); the list serialises to JSON that parses to the same list; compiled,
///   it holds exactly the distinct rules, and each identity's set holds its rules in order;
/// * refused: the message is not empty.
pub fn permission_list(data: &[u8]) {
    let rules = match parse_permission_list(data) {
        Ok(rules) => rules,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    for r in &rules {
        valid_id("Identity", &r.identity);
        assert!(
            oracle_valid_filter(&r.topic),
            "accepted an invalid filter {:?}",
            r.topic
        );
    }
    let json = serde_json::to_vec(&rules).expect("rules serialise");
    let again = parse_permission_list(&json).expect("a serialised list parses again");
    assert_eq!(
        again, rules,
        "serialising and parsing again changed the list"
    );

    let compiled = Permissions::build(rules.iter().cloned());
    let mut distinct: Vec<&Permission> = Vec::new();
    for r in &rules {
        if !distinct.contains(&r) {
            distinct.push(r);
        }
    }
    assert_eq!(compiled.len(), distinct.len());
    let mut got: Vec<&Permission> = compiled.rules().collect();
    got.sort_by_key(|r| distinct.iter().position(|d| d == r));
    assert_eq!(
        got, distinct,
        "the compiled rules are not the distinct input rules"
    );
    for r in &distinct {
        let set = compiled
            .rule_set(r.identity_type, &r.identity)
            .expect("every identity has its set");
        let own: Vec<&Permission> = distinct
            .iter()
            .copied()
            .filter(|d| d.identity_type == r.identity_type && d.identity == r.identity)
            .collect();
        assert_eq!(set.rules().iter().collect::<Vec<_>>(), own);
    }
}

/// Rule filters (and questions) the `topic_rules` target picks from by number, so that short
/// inputs reach the interesting corners.
const FILTERS: [&str; 16] = [
    "#", "+", "a/#", "a/+", "+/b", "a/b", "$x/#", "$x/+", "+/#", "/", "a//b", "/a", "a/", "é/+",
    "+/+", "a/+/#",
];

/// Target `topic_rules`: a topic name, a filter and a handful of rules; checks validation,
/// `matches` against the regex oracle, `covers` against brute force over the finite universe,
/// and the session's three decisions against [`model_decide`].
///
/// Input: parts separated by `0xFF`. Part 0 is the topic name and part 1 the filter (a part of
/// one byte `n` below 16 stands for `FILTERS[n]`); every further part is a rule: its first byte
/// packs effect (bit 0), action (bits 1-2: `PUB`, `SUB`, else `PUB_SUB`), identity (bits 3-4:
/// USER `u`, CLIENT `c`, USER `x`, CLIENT `u`), `no_match = allow` when bit 7 of the first
/// rule's byte is set; the rest is its filter (or one byte picking from `FILTERS`).
pub fn topic_rules(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0xFF);
    let text = |part: &[u8]| -> String {
        match part {
            [n] if (*n as usize) < FILTERS.len() => FILTERS[*n as usize].to_string(),
            _ => String::from_utf8_lossy(part).into_owned(),
        }
    };
    let topic = text(parts.next().unwrap_or_default());
    let filter = text(parts.next().unwrap_or_default());

    let name_ok = topic::check_name(&topic).is_ok();
    let filter_ok = topic::check_filter(&filter).is_ok();
    assert_eq!(name_ok, oracle_valid_name(&topic), "check_name({topic:?})");
    assert_eq!(
        filter_ok,
        oracle_valid_filter(&filter),
        "check_filter({filter:?})"
    );
    // A name is also a filter (one without wildcards).
    if name_ok {
        assert!(topic::check_filter(&topic).is_ok());
    }
    if name_ok && filter_ok {
        assert_eq!(
            topic::matches(&filter, &topic),
            OracleFilter::new(&filter).matches(&topic),
            "matches({filter:?}, {topic:?})"
        );
    }
    let topic_as_filter_ok = topic::check_filter(&topic).is_ok();
    if filter_ok && topic_as_filter_ok {
        for (wide, narrow) in [(&filter, &topic), (&topic, &filter)] {
            if let Some(want) = oracle_covers(wide, narrow, 20_000) {
                assert_eq!(
                    topic::covers(wide, narrow),
                    want,
                    "covers({wide:?}, {narrow:?})"
                );
            }
        }
    }

    let mut rules = Vec::new();
    let mut no_match_allows = false;
    for (k, part) in parts.enumerate() {
        let Some((&flags, rest)) = part.split_first() else {
            continue;
        };
        if k == 0 {
            no_match_allows = flags & 0x80 != 0;
        }
        let (identity_type, identity) = [
            ("USER", "u"),
            ("CLIENT", "c"),
            ("USER", "x"),
            ("CLIENT", "u"),
        ][usize::from(flags >> 3 & 3)];
        let raw = RawPermission {
            identity: Some(identity.into()),
            identity_type: Some(identity_type.into()),
            topic: Some(text(rest)),
            permit_action: Some(
                ["PUB", "SUB", "PUB_SUB", "PUB_SUB"][usize::from(flags >> 1 & 3)].into(),
            ),
            effect: Some(if flags & 1 == 0 { "ALLOW" } else { "DENY" }.into()),
        };
        if let Ok(rule) = Permission::try_from(raw) {
            rules.push(rule);
        }
    }
    let index = Index::empty().with_permissions(Some(Permissions::build(rules.iter().cloned())));
    let no_match = if no_match_allows {
        NoMatch::Allow
    } else {
        NoMatch::Deny
    };
    let session = SessionRules::resolve(&index, "u", "c", no_match);
    let got = |d: TopicDecision<'_>| (d.allowed, d.rule.cloned());
    let owned = |(allowed, rule): (bool, Option<&Permission>)| (allowed, rule.cloned());

    if name_ok {
        for (subscribe_side, decision) in [
            (false, session.may_publish(&topic)),
            (true, session.may_deliver(&topic)),
        ] {
            let want = model_decide(&rules, "u", "c", subscribe_side, no_match_allows, |r| {
                OracleFilter::new(&r.topic).matches(&topic)
            });
            assert_eq!(
                got(decision),
                owned(want),
                "topic {topic:?}, rules {rules:?}"
            );
        }
    } else {
        assert_eq!(
            session.may_publish(&topic).reason,
            TopicReason::InvalidTopic
        );
        assert_eq!(
            session.may_deliver(&topic).reason,
            TopicReason::InvalidTopic
        );
    }

    let decision = session.may_subscribe(&filter);
    if filter_ok && !filter.starts_with("$share/") {
        let verdicts: Option<Vec<bool>> = rules
            .iter()
            .map(|r| oracle_covers(&r.topic, &filter, 20_000))
            .collect();
        if let Some(verdicts) = verdicts {
            let want = model_decide(&rules, "u", "c", true, no_match_allows, |r| {
                let at = rules.iter().position(|x| x == r).unwrap();
                verdicts[at]
            });
            assert_eq!(
                got(decision),
                owned(want),
                "filter {filter:?}, rules {rules:?}"
            );
        }
    } else if !filter_ok {
        assert_eq!(decision.reason, TopicReason::InvalidTopic);
    }
}
