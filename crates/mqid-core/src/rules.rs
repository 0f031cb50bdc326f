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
//! * The rule reported as deciding ([`TopicDecision::rule`]) is, for a refusal, the first
//!   matching `DENY` rule and, for an allowance, the first matching `ALLOW` rule, in the order the
//!   source listed them, the `USER` rules before the `CLIENT` rules.
//! * An invalid topic name or filter (or a malformed `$share/...`) is refused
//!   ([`TopicReason::InvalidTopic`]); when the source carries no rules at all, everything is
//!   allowed without looking ([`TopicReason::NotEnforced`]).
//!
//! # Cost
//!
//! [`Permissions`] is built once per generation with the index. [`SessionRules::resolve`] is two
//! hash lookups and two `Arc` clones: no allocation. [`SessionRules::may_publish`],
//! [`may_deliver`](SessionRules::may_deliver) and [`may_subscribe`](SessionRules::may_subscribe)
//! allocate nothing and take no lock.
//!
//! A front end without a session (`mqid check`, an HTTP authorizer) resolves per question:
//! `SessionRules::resolve(&index, u, c, no_match).may_publish(t)` costs the two lookups more.
//!
//! # Layout
//!
//! One [`RuleSet`] per identity, shared by `Arc` between the generation and the sessions. A rule's
//! filter has a **shape**: its number of levels before any `#`, which of them are `+`, and whether
//! it ends in `#`. Filters of one shape differ only in their literal levels, so a set keeps one
//! hash table of its filters, keyed by (shape, hash of the literal levels):
//!
//! * a question splits the topic once, validating it and hashing each level (a keyed
//!   multiply-fold hash, word at a time), for the levels any shape of the session looks at;
//! * then, per shape the topic's level count fits (exactly, or at least, for a `#` shape),
//!   it combines the hashes of the shape's literal positions and probes the table once; a hit
//!   is confirmed with [`topic::matches`] (so a hash collision costs time, never a wrong answer).
//!
//! A literal rule is the shape with no `+` and no `#`: one probe. The cost is one pass over the
//! topic plus one probe per shape, whatever the number of rules; sets have few shapes (a fleet's
//! rules are written from a handful of patterns), and at worst as many as rules. Filters deeper
//! than [`MAX_LEVELS`] levels are matched one by one with [`topic::matches`]. Subscriptions are
//! rare: a SUBSCRIBE scans the set's rules with [`topic::covers`].
//!
//! The table's keys are the administrator's filters, not a device's topics: a device chooses
//! what it asks, never what the table holds, so it cannot lengthen a probe.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::topic;
use crate::{Effect, IdentityType, Index, Permission};

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

/// Filters with more levels than this (before any `#`) are matched one by one, not through the
/// shape table (whose questions keep one hash per level on the stack).
pub const MAX_LEVELS: usize = 32;

/// "No rule" in a rule number.
const NONE: u32 = u32::MAX;

/// Slots of [`Marks`]: `dir + 0` is the first `ALLOW` rule, `dir + 1` the first `DENY` rule.
const PUB: usize = 0;
const SUB: usize = 2;

/// Per (direction, effect), the number of the first rule (in its [`RuleSet`]) that applies.
#[derive(Clone, Copy, Debug)]
struct Marks([u32; 4]);

impl Marks {
    const EMPTY: Marks = Marks([NONE; 4]);

    fn mark(&mut self, rule: u32, p: &Permission) {
        let deny = usize::from(p.effect == Effect::Deny);
        for (dir, on) in [
            (PUB, p.permit_action.covers_pub()),
            (SUB, p.permit_action.covers_sub()),
        ] {
            let slot = &mut self.0[dir + deny];
            if on && rule < *slot {
                *slot = rule;
            }
        }
    }
}

/// What matched in one direction: the first `ALLOW` and the first `DENY` rule (lowest numbers).
#[derive(Clone, Copy)]
struct Found {
    allow: u32,
    deny: u32,
}

impl Found {
    const NOTHING: Found = Found {
        allow: NONE,
        deny: NONE,
    };

    /// Keeps the lowest rule numbers: the rule that decides is the first in the source's order,
    /// whatever the path that found it.
    #[inline]
    fn add(&mut self, marks: &Marks, dir: usize) {
        self.allow = self.allow.min(marks.0[dir]);
        self.deny = self.deny.min(marks.0[dir + 1]);
    }
}

/// `a * b` folded to 64 bits: the mixing step of [`TopicHasher`].
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// 1 to 7 bytes as a word without a copy loop: every byte lands in the word, so two tails of
/// the same length (which the hash mixes in) give different words when they differ.
#[inline]
fn tail(r: &[u8]) -> u64 {
    let n = r.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
        let hi = u32::from_le_bytes([r[n - 4], r[n - 3], r[n - 2], r[n - 1]]);
        u64::from(lo) | u64::from(hi) << 32
    } else {
        u64::from(r[0]) | u64::from(r[n / 2]) << 8 | u64::from(r[n - 1]) << 16
    }
}

/// The hash of topic levels: a multiply-fold over 8-byte words under two random keys of the
/// generation. Fast (a few ns per level) rather than collision-resistant against whoever picks
/// the keys of the table, which is the administrator (see the module's documentation).
#[derive(Clone, Copy, Debug)]
struct TopicHasher {
    k0: u64,
    k1: u64,
}

impl TopicHasher {
    fn new() -> Self {
        let s = RandomState::new();
        TopicHasher {
            k0: s.hash_one(0u64) | 1,
            k1: s.hash_one(1u64) | 1,
        }
    }

    /// The hash of one level.
    #[inline]
    fn level(&self, bytes: &[u8]) -> u64 {
        let mut h = self.k0 ^ (bytes.len() as u64).wrapping_mul(MIX);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = fold(h ^ w, self.k1);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            h = fold(h ^ tail(rest), self.k1 ^ MIX);
        }
        h
    }

    /// The starting value of shape `shape`'s hashes.
    #[inline]
    fn seed(&self, shape: usize) -> u64 {
        fold(self.k0 ^ (shape as u64 + 1).wrapping_mul(MIX), self.k1)
    }

    /// Adds the hash of the level at `position` to a shape's hash.
    #[inline]
    fn combine(&self, h: u64, position: usize, level: u64) -> u64 {
        fold(
            h ^ level,
            self.k1 ^ (position as u64 + 1).wrapping_mul(MIX).rotate_left(17),
        )
    }
}

/// The shape of a filter (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Shape {
    /// Levels before any `#`.
    levels: u8,
    /// Bit `i`: level `i` is `+`.
    plus: u32,
    /// Ends in `#` (then matches topics of `levels` levels or more).
    hash: bool,
}

impl Shape {
    /// The shape of `filter` (valid), unless it is deeper than [`MAX_LEVELS`].
    fn of(filter: &str) -> Option<Shape> {
        let mut shape = Shape {
            levels: 0,
            plus: 0,
            hash: false,
        };
        for (i, level) in filter.split('/').enumerate() {
            if level == "#" {
                shape.hash = true;
                break;
            }
            if i >= MAX_LEVELS {
                return None;
            }
            if level == "+" {
                shape.plus |= 1 << i;
            }
            shape.levels += 1;
        }
        Some(shape)
    }

    /// Whether the first level is a wildcard (so no `$` topic matches).
    fn wild_first(self) -> bool {
        self.plus & 1 == 1 || (self.hash && self.levels == 0)
    }

    /// Whether a topic of `count` levels can match.
    #[inline]
    fn fits(self, count: usize) -> bool {
        let levels = usize::from(self.levels);
        if self.hash {
            count >= levels
        } else {
            count == levels
        }
    }

    /// The hash of the literal levels, from the hashes of each level.
    #[inline]
    fn hash(self, number: usize, hasher: &TopicHasher, levels: &[u64]) -> u64 {
        let mut h = hasher.seed(number);
        for (i, &l) in levels.iter().enumerate().take(usize::from(self.levels)) {
            if self.plus & (1 << i) == 0 {
                h = hasher.combine(h, i, l);
            }
        }
        h
    }
}

/// One filter of a set: the number of a rule with that filter (whose topic is the key), its
/// shape's number, and the marks of all of the set's rules with that filter.
struct Entry {
    rule: u32,
    shape: u32,
    marks: Marks,
}

/// A topic name split for a question: validity, level count, and the hash of each level the
/// session's shapes look at.
struct Split<'t> {
    topic: &'t str,
    dollar: bool,
    count: usize,
    hashes: [u64; MAX_LEVELS],
}

/// Bytes of a word equal to `b` (high bit of each such byte set; a byte just above a match may
/// be flagged falsely, the lowest flag never is).
#[inline]
fn bytes_equal(w: u64, b: u8) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

impl<'t> Split<'t> {
    /// An empty split of `topic`, to [`fill`](Split::fill).
    #[inline]
    fn of(topic: &'t str) -> Self {
        Split {
            topic,
            dollar: topic.starts_with('$'),
            count: 0,
            hashes: [0; MAX_LEVELS],
        }
    }

    /// Validates the topic name (non-empty, not too long, no NUL, `+` or `#`) and splits it in
    /// one pass, eight bytes at a time, hashing its first `need` levels. `false` when it is not
    /// a valid topic name.
    #[inline]
    fn fill(&mut self, hasher: &TopicHasher, need: usize) -> bool {
        let bytes = self.topic.as_bytes();
        if bytes.is_empty() || bytes.len() > topic::MAX_TOPIC_BYTES {
            return false;
        }
        let mut start = 0;
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let w = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
            // A flag for any of these means at least one is really there.
            if bytes_equal(w, 0) | bytes_equal(w, b'+') | bytes_equal(w, b'#') != 0 {
                return false;
            }
            let mut slashes = bytes_equal(w, b'/');
            while slashes != 0 {
                let i = at + (slashes.trailing_zeros() / 8) as usize;
                slashes &= slashes - 1;
                if bytes[i] == b'/' {
                    self.level_ends(hasher, need, start, i);
                    start = i + 1;
                }
            }
            at += 8;
        }
        for (i, &b) in bytes.iter().enumerate().skip(at) {
            match b {
                b'/' => {
                    self.level_ends(hasher, need, start, i);
                    start = i + 1;
                }
                0 | b'+' | b'#' => return false,
                _ => {}
            }
        }
        self.level_ends(hasher, need, start, bytes.len());
        true
    }

    /// Level `self.count` is `topic[start..end]`.
    #[inline]
    fn level_ends(&mut self, hasher: &TopicHasher, need: usize, start: usize, end: usize) {
        if self.count < need {
            self.hashes[self.count] = hasher.level(&self.topic.as_bytes()[start..end]);
        }
        self.count += 1;
    }
}

/// The compiled rules of one identity (one `USER` username or one `CLIENT` client id).
pub struct RuleSet {
    /// The identity's rules, duplicates removed, in the order they came.
    rules: Vec<Permission>,
    /// The shapes of the filters in `table`.
    shapes: Vec<Shape>,
    /// Most levels any shape looks at.
    need: usize,
    /// One entry per distinct filter, by (shape, hash of its literal levels).
    table: HashTable<Entry>,
    /// Filters deeper than [`MAX_LEVELS`].
    deep: Vec<u32>,
}

impl RuleSet {
    /// Compiles one identity's rules; `hasher` is the generation's.
    fn build(mut rules: Vec<Permission>, hasher: &TopicHasher) -> Self {
        if rules.len() > 1 {
            let mut seen = HashSet::with_capacity(rules.len());
            let keep: Vec<bool> = rules
                .iter()
                .map(|p| seen.insert((p.topic.as_str(), p.permit_action, p.effect)))
                .collect();
            drop(seen);
            let mut keep = keep.into_iter();
            rules.retain(|_| keep.next().unwrap_or(true));
        }
        rules.shrink_to_fit();
        assert!(
            rules.len() < NONE as usize,
            "one identity has more than 2^32-1 topic rules"
        );

        let mut shapes: Vec<Shape> = Vec::new();
        let mut table: HashTable<Entry> = HashTable::new();
        let mut deep = Vec::new();
        let mut levels = [0u64; MAX_LEVELS];
        let key = |rules: &[Permission], e: &Entry, shapes: &[Shape], levels: &mut [u64]| {
            let shape = shapes[e.shape as usize];
            Self::filter_hash(
                &rules[e.rule as usize].topic,
                shape,
                e.shape,
                hasher,
                levels,
            )
        };
        for (n, p) in rules.iter().enumerate() {
            let n = n as u32;
            let Some(shape) = Shape::of(&p.topic) else {
                deep.push(n);
                continue;
            };
            let number = match shapes.iter().position(|s| *s == shape) {
                Some(k) => k,
                None => {
                    shapes.push(shape);
                    shapes.len() - 1
                }
            };
            let hash = Self::filter_hash(&p.topic, shape, number as u32, hasher, &mut levels);
            let found = table.find_mut(hash, |e| {
                e.shape == number as u32 && rules[e.rule as usize].topic == p.topic
            });
            match found {
                Some(e) => e.marks.mark(n, p),
                None => {
                    let mut marks = Marks::EMPTY;
                    marks.mark(n, p);
                    let entry = Entry {
                        rule: n,
                        shape: number as u32,
                        marks,
                    };
                    table.insert_unique(hash, entry, |e| {
                        key(&rules, e, &shapes, &mut [0u64; MAX_LEVELS])
                    });
                }
            }
        }
        table.shrink_to_fit(|e| key(&rules, e, &shapes, &mut [0u64; MAX_LEVELS]));
        shapes.shrink_to_fit();
        deep.shrink_to_fit();
        let need = shapes
            .iter()
            .map(|s| usize::from(s.levels))
            .max()
            .unwrap_or(0);
        RuleSet {
            rules,
            shapes,
            need,
            table,
            deep,
        }
    }

    /// The table hash of `filter` (of shape `shape`, numbered `number`), as a topic that it
    /// matches hashes under the same shape.
    fn filter_hash(
        filter: &str,
        shape: Shape,
        number: u32,
        hasher: &TopicHasher,
        levels: &mut [u64],
    ) -> u64 {
        for (i, level) in filter
            .split('/')
            .enumerate()
            .take(usize::from(shape.levels))
        {
            levels[i] = hasher.level(level.as_bytes());
        }
        shape.hash(number as usize, hasher, levels)
    }

    /// The identity's rules (duplicates removed), in the order they came.
    pub fn rules(&self) -> &[Permission] {
        &self.rules
    }

    /// The rules of direction `dir` that match the split topic.
    #[inline]
    fn matching(&self, topic: &Split<'_>, hasher: &TopicHasher, dir: usize) -> Found {
        let mut found = Found::NOTHING;
        for (number, &shape) in self.shapes.iter().enumerate() {
            if !shape.fits(topic.count) || (topic.dollar && shape.wild_first()) {
                continue;
            }
            let hash = shape.hash(number, hasher, &topic.hashes);
            let rules = &self.rules;
            if let Some(e) = self.table.find(hash, |e| {
                e.shape == number as u32
                    && topic::matches(&rules[e.rule as usize].topic, topic.topic)
            }) {
                found.add(&e.marks, dir);
            }
        }
        for &n in &self.deep {
            let p = &self.rules[n as usize];
            if topic::matches(&p.topic, topic.topic) {
                let mut marks = Marks::EMPTY;
                marks.mark(n, p);
                found.add(&marks, dir);
            }
        }
        found
    }

    /// The rules of direction `SUB` that cover filter `filter` (valid, `$share` stripped).
    fn covering(&self, filter: &str) -> Found {
        let mut found = Found::NOTHING;
        for (n, p) in self.rules.iter().enumerate() {
            if p.permit_action.covers_sub() && topic::covers(&p.topic, filter) {
                let mut marks = Marks::EMPTY;
                marks.mark(n as u32, p);
                found.add(&marks, SUB);
                if found.deny != NONE {
                    // Rules are scanned in order: this is the first deny rule.
                    break;
                }
            }
        }
        found
    }
}

/// The compiled rules of one generation, keyed by identity. Immutable; shared by the index and
/// by the sessions that resolved from it.
pub struct Permissions {
    users: HashMap<Box<str>, Arc<RuleSet>>,
    clients: HashMap<Box<str>, Arc<RuleSet>>,
    /// Keys every set's table, so that a topic is split and hashed once per question.
    hasher: TopicHasher,
    len: usize,
}

impl Permissions {
    /// Compiles `rules` (already validated). Later duplicates of an identical rule are dropped.
    pub fn build(rules: impl IntoIterator<Item = Permission>) -> Self {
        let mut all: Vec<Permission> = rules.into_iter().collect();
        // Stable: each identity's rules keep their order.
        all.sort_by(|a, b| {
            let key = |p: &Permission| (p.identity_type == IdentityType::Client, p.identity.len());
            key(a)
                .cmp(&key(b))
                .then_with(|| a.identity.cmp(&b.identity))
        });
        let hasher = TopicHasher::new();
        let (mut users, mut clients) = (HashMap::new(), HashMap::new());
        let mut len = 0;
        let mut it = all.into_iter().peekable();
        while let Some(first) = it.next() {
            let t = first.identity_type;
            let mut group = vec![first];
            while let Some(p) =
                it.next_if(|p| p.identity_type == t && p.identity == group[0].identity)
            {
                group.push(p);
            }
            let set = RuleSet::build(group, &hasher);
            len += set.rules.len();
            let key: Box<str> = set.rules[0].identity.as_str().into();
            let map = match t {
                IdentityType::User => &mut users,
                IdentityType::Client => &mut clients,
            };
            map.insert(key, Arc::new(set));
        }
        users.shrink_to_fit();
        clients.shrink_to_fit();
        Permissions {
            users,
            clients,
            hasher,
            len,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every rule, in no particular order (for the snapshot and `mqid sync --permissions-out`).
    pub fn rules(&self) -> impl Iterator<Item = &Permission> {
        self.users
            .values()
            .chain(self.clients.values())
            .flat_map(|set| set.rules.iter())
    }

    /// The rules of one identity: `USER` rules are keyed by username, `CLIENT` rules by client id.
    pub fn rule_set(&self, identity_type: IdentityType, identity: &str) -> Option<&Arc<RuleSet>> {
        match identity_type {
            IdentityType::User => self.users.get(identity),
            IdentityType::Client => self.clients.get(identity),
        }
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permissions")
            .field("rules", &self.len)
            .field("users", &self.users.len())
            .field("clients", &self.clients.len())
            .finish()
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

impl fmt::Display for TopicDecision<'_> {
    /// One line fit for a log or `mqid check`: what was decided and which rule decided.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "refused" };
        match (self.reason, self.rule) {
            (_, Some(rule)) => write!(f, "{verdict} by rule: {rule}"),
            (TopicReason::NotEnforced, None) => write!(
                f,
                "{verdict}: the source carries no topic permissions (nothing is enforced)"
            ),
            (TopicReason::NoMatchDeny, None) => {
                write!(
                    f,
                    "{verdict}: no applicable rule matches (no_match = \"deny\")"
                )
            }
            (TopicReason::NoMatchAllow, None) => {
                write!(
                    f,
                    "{verdict}: no applicable rule matches (no_match = \"allow\")"
                )
            }
            (TopicReason::InvalidTopic, None) => {
                write!(f, "{verdict}: not a valid MQTT topic name or filter")
            }
            (reason, None) => write!(f, "{verdict} ({})", reason.as_str()),
        }
    }
}

/// A session's applicable rules, resolved once at CONNECT and kept by the session. Tagged with
/// the index generation it came from: [`refresh`](SessionRules::refresh) re-resolves when a
/// newer index is in force, so permission changes apply to the next packet without a reconnect.
#[derive(Clone)]
pub struct SessionRules {
    generation: u64,
    no_match: NoMatch,
    /// Whether the index carries rules at all.
    enforced: bool,
    /// The generation's topic hasher.
    hasher: TopicHasher,
    /// Most levels the sets' shapes look at.
    need: usize,
    user: Option<Arc<RuleSet>>,
    client: Option<Arc<RuleSet>>,
}

/// Up to the first `ALLOW` and the first `DENY` rule that matched, across the session's sets.
#[derive(Default)]
struct Matched<'a> {
    allow: Option<&'a Permission>,
    deny: Option<&'a Permission>,
}

impl<'a> Matched<'a> {
    fn add(&mut self, set: &'a RuleSet, found: Found) {
        let rule = |n: u32| (n != NONE).then(|| &set.rules[n as usize]);
        self.allow = self.allow.or_else(|| rule(found.allow));
        self.deny = self.deny.or_else(|| rule(found.deny));
    }
}

impl SessionRules {
    /// The rules that govern (username, client id) under `index`: the `USER` rules of
    /// `username` and the `CLIENT` rules of `client_id`. No allocation.
    pub fn resolve(index: &Index, username: &str, client_id: &str, no_match: NoMatch) -> Self {
        let Some(permissions) = index.permissions() else {
            return SessionRules {
                generation: index.generation(),
                no_match,
                enforced: false,
                hasher: TopicHasher { k0: 0, k1: 0 },
                need: 0,
                user: None,
                client: None,
            };
        };
        let user = permissions.users.get(username).cloned();
        let client = permissions.clients.get(client_id).cloned();
        let need = [&user, &client]
            .into_iter()
            .flatten()
            .map(|s| s.need)
            .max()
            .unwrap_or(0);
        SessionRules {
            generation: index.generation(),
            no_match,
            enforced: true,
            hasher: permissions.hasher,
            need,
            user,
            client,
        }
    }

    /// The generation of the index these rules came from.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether rules are enforced at all (the index carries permissions).
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// What decides a topic no applicable rule matches.
    pub fn no_match(&self) -> NoMatch {
        self.no_match
    }

    /// The applicable rules: the `USER` rules of the username, then the `CLIENT` rules of the
    /// client id.
    pub fn rules(&self) -> impl Iterator<Item = &Permission> {
        self.sets().flat_map(|s| s.rules.iter())
    }

    /// Re-resolves from `index` when it is of another generation; returns whether it did.
    /// No allocation; dropping the last reference to an older generation's rule sets frees
    /// them here.
    pub fn refresh(&mut self, index: &Index, username: &str, client_id: &str) -> bool {
        if index.generation() == self.generation {
            return false;
        }
        *self = SessionRules::resolve(index, username, client_id, self.no_match);
        true
    }

    /// May this session publish to topic name `topic`? (Also the will check.)
    pub fn may_publish(&self, topic: &str) -> TopicDecision<'_> {
        self.on_topic(topic, PUB)
    }

    /// May this session subscribe to `filter` (a `$share/G/F` filter is judged on F)?
    pub fn may_subscribe(&self, filter: &str) -> TopicDecision<'_> {
        if !self.enforced {
            return Self::not_enforced();
        }
        let Ok(filter) = topic::strip_share(filter) else {
            return Self::invalid();
        };
        let mut verdict = Matched::default();
        for set in self.sets() {
            verdict.add(set, set.covering(filter));
            if verdict.deny.is_some() {
                break;
            }
        }
        self.conclude(verdict)
    }

    /// May a message on topic name `topic` be delivered to this session?
    pub fn may_deliver(&self, topic: &str) -> TopicDecision<'_> {
        self.on_topic(topic, SUB)
    }

    fn sets(&self) -> impl Iterator<Item = &RuleSet> {
        [&self.user, &self.client]
            .into_iter()
            .flatten()
            .map(|s| &**s)
    }

    fn on_topic(&self, topic: &str, dir: usize) -> TopicDecision<'_> {
        if !self.enforced {
            return Self::not_enforced();
        }
        let mut split = Split::of(topic);
        if !split.fill(&self.hasher, self.need) {
            return Self::invalid();
        }
        let mut verdict = Matched::default();
        for set in self.sets() {
            verdict.add(set, set.matching(&split, &self.hasher, dir));
            if verdict.deny.is_some() {
                break;
            }
        }
        self.conclude(verdict)
    }

    fn conclude<'a>(&self, verdict: Matched<'a>) -> TopicDecision<'a> {
        match verdict {
            Matched {
                deny: Some(rule), ..
            } => TopicDecision {
                allowed: false,
                reason: TopicReason::DenyRule,
                rule: Some(rule),
            },
            Matched {
                allow: Some(rule), ..
            } => TopicDecision {
                allowed: true,
                reason: TopicReason::AllowRule,
                rule: Some(rule),
            },
            _ => match self.no_match {
                NoMatch::Deny => TopicDecision {
                    allowed: false,
                    reason: TopicReason::NoMatchDeny,
                    rule: None,
                },
                NoMatch::Allow => TopicDecision {
                    allowed: true,
                    reason: TopicReason::NoMatchAllow,
                    rule: None,
                },
            },
        }
    }

    fn not_enforced() -> TopicDecision<'static> {
        TopicDecision {
            allowed: true,
            reason: TopicReason::NotEnforced,
            rule: None,
        }
    }

    fn invalid() -> TopicDecision<'static> {
        TopicDecision {
            allowed: false,
            reason: TopicReason::InvalidTopic,
            rule: None,
        }
    }
}

impl fmt::Debug for SessionRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRules")
            .field("generation", &self.generation)
            .field("enforced", &self.enforced)
            .field("no_match", &self.no_match)
            .field("rules", &self.rules().count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_permission_list, Identity, PermitAction, Secret, SignMode};

    /// Rules in the API's JSON format (the file source's), parsed as the sources parse them.
    fn rules(json: &str) -> Vec<Permission> {
        parse_permission_list(json.as_bytes()).expect("test rules parse")
    }

    fn rule(
        identity_type: &str,
        identity: &str,
        topic: &str,
        action: &str,
        effect: &str,
    ) -> String {
        format!(
            r#"{{"Identity":"{identity}","IdentityType":"{identity_type}","Topic":"{topic}","PermitAction":"{action}","Effect":"{effect}"}}"#
        )
    }

    fn index_with(rules_json: &[String]) -> Index {
        let list = rules(&format!("[{}]", rules_json.join(",")));
        let id = Identity {
            username: "u".into(),
            secret: Secret::new("s"),
            identity_type: IdentityType::User,
            client_id: None,
            sign_mode: SignMode::Origin,
        };
        Index::build([id], [])
            .0
            .with_permissions(Some(Permissions::build(list)))
    }

    fn session(index: &Index, no_match: NoMatch) -> SessionRules {
        SessionRules::resolve(index, "u", "c", no_match)
    }

    /// (allowed, reason, the deciding rule's topic and effect)
    fn outcome(d: TopicDecision<'_>) -> (bool, TopicReason, Option<(String, Effect)>) {
        (
            d.allowed,
            d.reason,
            d.rule.map(|r| (r.topic.clone(), r.effect)),
        )
    }

    fn by(
        allowed: bool,
        topic: &str,
        effect: Effect,
    ) -> (bool, TopicReason, Option<(String, Effect)>) {
        let reason = match effect {
            Effect::Allow => TopicReason::AllowRule,
            Effect::Deny => TopicReason::DenyRule,
        };
        (allowed, reason, Some((topic.to_string(), effect)))
    }

    fn none(reason: TopicReason) -> (bool, TopicReason, Option<(String, Effect)>) {
        let allowed = matches!(reason, TopicReason::NoMatchAllow | TopicReason::NotEnforced);
        (allowed, reason, None)
    }

    #[test]
    fn hash_allowed_secret_denied_subscribe_ok_delivery_refused() {
        let ix = index_with(&[
            rule("USER", "u", "#", "SUB", "ALLOW"),
            rule("USER", "u", "a/secret", "SUB", "DENY"),
        ]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(outcome(s.may_subscribe("#")), by(true, "#", Effect::Allow));
        assert_eq!(
            outcome(s.may_deliver("a/secret")),
            by(false, "a/secret", Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_deliver("a/public")),
            by(true, "#", Effect::Allow)
        );
        // Subscribing to the denied topic itself, or to a filter inside it, is refused.
        assert_eq!(
            outcome(s.may_subscribe("a/secret")),
            by(false, "a/secret", Effect::Deny)
        );
        // `a/+` is not covered by the deny rule: allowed, and delivery filters `a/secret`.
        assert_eq!(
            outcome(s.may_subscribe("a/+")),
            by(true, "#", Effect::Allow)
        );
        // SUB rules say nothing about publishing.
        assert_eq!(
            outcome(s.may_publish("a/public")),
            none(TopicReason::NoMatchDeny)
        );
    }

    #[test]
    fn user_and_client_rules_are_united() {
        let ix = index_with(&[
            rule("USER", "fleet", "fleet/+/status", "PUB", "ALLOW"),
            rule("CLIENT", "dev-1", "dev/dev-1/#", "PUB_SUB", "ALLOW"),
            rule("CLIENT", "dev-1", "fleet/dev-2/status", "PUB", "DENY"),
            rule("CLIENT", "dev-2", "dev/dev-2/#", "PUB_SUB", "ALLOW"),
            rule("USER", "other", "#", "PUB_SUB", "ALLOW"),
        ]);
        let s = SessionRules::resolve(&ix, "fleet", "dev-1", NoMatch::Deny);
        assert_eq!(s.rules().count(), 3);
        assert_eq!(
            outcome(s.may_publish("fleet/dev-1/status")),
            by(true, "fleet/+/status", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_publish("dev/dev-1/x/y")),
            by(true, "dev/dev-1/#", Effect::Allow)
        );
        // The CLIENT deny rule overrides the USER allow rule.
        assert_eq!(
            outcome(s.may_publish("fleet/dev-2/status")),
            by(false, "fleet/dev-2/status", Effect::Deny)
        );
        // dev-2's rules and user "other"'s rules do not apply to this session.
        assert_eq!(
            outcome(s.may_publish("dev/dev-2/x")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_subscribe("other")),
            none(TopicReason::NoMatchDeny)
        );
        // Same client id with another username: only the CLIENT rules.
        let s = SessionRules::resolve(&ix, "nobody", "dev-1", NoMatch::Deny);
        assert_eq!(s.rules().count(), 2);
        assert_eq!(
            outcome(s.may_publish("fleet/dev-1/status")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_deliver("dev/dev-1")),
            by(true, "dev/dev-1/#", Effect::Allow)
        );
    }

    #[test]
    fn no_match_allow_and_deny() {
        let ix = index_with(&[rule("USER", "u", "a/#", "PUB", "DENY")]);
        let deny = session(&ix, NoMatch::Deny);
        let allow = session(&ix, NoMatch::Allow);
        assert_eq!(
            outcome(deny.may_publish("b")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(allow.may_publish("b")),
            none(TopicReason::NoMatchAllow)
        );
        assert_eq!(
            outcome(allow.may_subscribe("b/#")),
            none(TopicReason::NoMatchAllow)
        );
        assert_eq!(
            outcome(allow.may_deliver("a/x")),
            none(TopicReason::NoMatchAllow)
        );
        // A deny rule decides whatever no_match says.
        assert_eq!(
            outcome(allow.may_publish("a")),
            by(false, "a/#", Effect::Deny)
        );
        // A session with no rule at all.
        let stranger = SessionRules::resolve(&ix, "x", "y", NoMatch::Deny);
        assert_eq!(stranger.rules().count(), 0);
        assert_eq!(
            outcome(stranger.may_publish("a")),
            none(TopicReason::NoMatchDeny)
        );
    }

    #[test]
    fn no_permissions_means_not_enforced() {
        let ix = Index::empty();
        let s = SessionRules::resolve(&ix, "u", "c", NoMatch::Deny);
        assert!(!s.enforced());
        for d in [
            s.may_publish("a"),
            s.may_subscribe("#"),
            s.may_deliver("$SYS/x"),
        ] {
            assert_eq!(outcome(d), none(TopicReason::NotEnforced));
        }
        // An empty rule list is enforced: nothing matches.
        let ix = Index::empty().with_permissions(Some(Permissions::build([])));
        let s = SessionRules::resolve(&ix, "u", "c", NoMatch::Deny);
        assert!(s.enforced());
        assert_eq!(outcome(s.may_publish("a")), none(TopicReason::NoMatchDeny));
    }

    #[test]
    fn shared_subscriptions_are_judged_on_their_filter() {
        let ix = index_with(&[
            rule("USER", "u", "jobs/#", "SUB", "ALLOW"),
            rule("USER", "u", "jobs/admin/#", "SUB", "DENY"),
        ]);
        let s = session(&ix, NoMatch::Allow);
        assert_eq!(
            outcome(s.may_subscribe("$share/workers/jobs/+")),
            by(true, "jobs/#", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_subscribe("$share/workers/jobs/admin/x")),
            by(false, "jobs/admin/#", Effect::Deny)
        );
        for bad in [
            "$share/workers",
            "$share//jobs/a",
            "$share/w+/jobs",
            "$share/w#/jobs",
            "$share/workers/",
            "$share/g/a/#/b",
            "a/#/b",
            "a+",
            "",
        ] {
            assert_eq!(
                outcome(s.may_subscribe(bad)),
                none(TopicReason::InvalidTopic),
                "{bad:?}"
            );
            assert!(!s.may_subscribe(bad).allowed);
        }
        for bad in ["a/+", "#", "", "a\0b"] {
            assert_eq!(
                outcome(s.may_publish(bad)),
                none(TopicReason::InvalidTopic),
                "{bad:?}"
            );
            assert_eq!(
                outcome(s.may_deliver(bad)),
                none(TopicReason::InvalidTopic),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_will_is_a_publish_check() {
        // A front end checks the will with may_publish: PUB rules decide it, SUB rules do not.
        let ix = index_with(&[
            rule("CLIENT", "c", "will/c", "PUB", "ALLOW"),
            rule("CLIENT", "c", "will/other", "SUB", "ALLOW"),
        ]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(
            outcome(s.may_publish("will/c")),
            by(true, "will/c", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_publish("will/other")),
            none(TopicReason::NoMatchDeny)
        );
    }

    #[test]
    fn pub_sub_and_pub_sub_govern_their_own_directions() {
        let ix = index_with(&[
            rule("USER", "u", "p", "PUB", "ALLOW"),
            rule("USER", "u", "s", "SUB", "ALLOW"),
            rule("USER", "u", "ps/+", "PUB_SUB", "ALLOW"),
            rule("USER", "u", "ps/no", "PUB", "DENY"),
            rule("USER", "u", "ps/nosub", "SUB", "DENY"),
        ]);
        let s = session(&ix, NoMatch::Deny);
        let cases = [
            // topic, publish, subscribe, deliver
            ("p", true, false, false),
            ("s", false, true, true),
            ("ps/x", true, true, true),
            ("ps/no", false, true, true),
            ("ps/nosub", true, false, false),
        ];
        for (topic, publish, subscribe, deliver) in cases {
            assert_eq!(s.may_publish(topic).allowed, publish, "publish {topic}");
            assert_eq!(
                s.may_subscribe(topic).allowed,
                subscribe,
                "subscribe {topic}"
            );
            assert_eq!(s.may_deliver(topic).allowed, deliver, "deliver {topic}");
        }
        // An ALLOW for SUB covers a filter only when it covers all of it.
        assert!(s.may_subscribe("ps/+").allowed);
        assert!(!s.may_subscribe("ps/#").allowed);
        assert!(!s.may_subscribe("+").allowed);
    }

    #[test]
    fn dollar_topics_need_their_own_rules() {
        let ix = index_with(&[
            rule("USER", "u", "#", "PUB_SUB", "ALLOW"),
            rule("USER", "u", "+/status", "PUB_SUB", "ALLOW"),
            rule("USER", "u", "$SYS/broker/+", "SUB", "ALLOW"),
        ]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(
            outcome(s.may_publish("$app/x")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_deliver("$x/status")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_subscribe("$SYS/#")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_subscribe("$SYS/broker/load")),
            by(true, "$SYS/broker/+", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_deliver("$SYS/broker/load")),
            by(true, "$SYS/broker/+", Effect::Allow)
        );
        // Below the first level, `$` is an ordinary character.
        assert_eq!(outcome(s.may_deliver("a/$x")), by(true, "#", Effect::Allow));
    }

    #[test]
    fn rules_changing_between_generations_apply_after_refresh() {
        let old = index_with(&[rule("USER", "u", "a/#", "PUB_SUB", "ALLOW")]);
        let mut s = session(&old, NoMatch::Deny);
        assert_eq!(s.generation(), old.generation());
        assert!(s.may_deliver("a/b").allowed);
        assert!(!s.refresh(&old, "u", "c"), "same generation: nothing to do");

        // The rule is withdrawn and a deny added: delivery stops without a reconnect.
        let new = index_with(&[
            rule("USER", "u", "b/#", "PUB_SUB", "ALLOW"),
            rule("CLIENT", "c", "a/b", "SUB", "DENY"),
        ]);
        assert!(new.generation() > old.generation());
        assert!(s.refresh(&new, "u", "c"));
        assert_eq!(s.generation(), new.generation());
        assert_eq!(
            outcome(s.may_deliver("a/b")),
            by(false, "a/b", Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_deliver("a/c")),
            none(TopicReason::NoMatchDeny)
        );
        assert_eq!(
            outcome(s.may_publish("b/x")),
            by(true, "b/#", Effect::Allow)
        );
        // no_match is the session's and survives a refresh.
        let mut s = session(&old, NoMatch::Allow);
        assert!(s.refresh(&new, "u", "c"));
        assert_eq!(
            outcome(s.may_deliver("a/c")),
            none(TopicReason::NoMatchAllow)
        );
        // Rules withdrawn entirely (source no longer carries any): not enforced.
        let bare = Index::empty();
        assert!(s.refresh(&bare, "u", "c"));
        assert_eq!(
            outcome(s.may_deliver("a/b")),
            none(TopicReason::NotEnforced)
        );
    }

    #[test]
    fn duplicates_are_dropped_and_the_first_rule_decides() {
        let list = rules(&format!(
            "[{}]",
            [
                rule("USER", "u", "a/+", "PUB", "ALLOW"),
                rule("USER", "u", "a/+", "PUB", "ALLOW"),
                rule("USER", "u", "a/#", "PUB", "ALLOW"),
                rule("USER", "u", "a/+", "PUB_SUB", "ALLOW"),
                rule("CLIENT", "u", "a/+", "PUB", "ALLOW"),
            ]
            .join(",")
        ));
        let p = Permissions::build(list.clone());
        assert_eq!(p.len(), 4);
        assert_eq!(p.rules().count(), 4);
        let users = p.rule_set(IdentityType::User, "u").unwrap();
        assert_eq!(
            users.rules(),
            &[list[0].clone(), list[2].clone(), list[3].clone()]
        );
        let ix = Index::empty().with_permissions(Some(p));
        let s = SessionRules::resolve(&ix, "u", "zz", NoMatch::Deny);
        let d = s.may_publish("a/x");
        assert_eq!(d.rule, Some(&list[0]));
        assert_eq!(d.rule.unwrap().permit_action, PermitAction::Pub);
    }

    #[test]
    fn literal_and_wildcard_rules_with_the_same_levels() {
        // Literal rules live in a hash table, wildcard rules in the trie: both must be seen.
        let ix = index_with(&[
            rule("USER", "u", "a/b/c", "PUB", "ALLOW"),
            rule("USER", "u", "a/+/c", "PUB", "DENY"),
            rule("USER", "u", "x/+/z", "PUB", "ALLOW"),
            rule("USER", "u", "x/y/z", "PUB", "DENY"),
            rule("USER", "u", "x/+/+", "PUB", "ALLOW"),
            rule("USER", "u", "x/y/#", "PUB", "ALLOW"),
            rule("USER", "u", "", "PUB", "ALLOW").replace(r#""Topic":"""#, r#""Topic":"/""#),
        ]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(
            outcome(s.may_publish("a/b/c")),
            by(false, "a/+/c", Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_publish("x/y/z")),
            by(false, "x/y/z", Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_publish("x/q/z")),
            by(true, "x/+/z", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_publish("x/y")),
            by(true, "x/y/#", Effect::Allow)
        );
        assert_eq!(
            outcome(s.may_publish("x/q/w")),
            by(true, "x/+/+", Effect::Allow)
        );
        assert_eq!(outcome(s.may_publish("/")), by(true, "/", Effect::Allow));
        assert_eq!(
            outcome(s.may_publish("x/q/w/v")),
            none(TopicReason::NoMatchDeny)
        );
    }

    #[test]
    fn filters_deeper_than_the_shape_table_still_match() {
        let deep: Vec<&str> = (0..MAX_LEVELS + 3)
            .map(|i| if i % 5 == 1 { "+" } else { "l" })
            .collect();
        let filter = format!("{}/#", deep.join("/"));
        let topic = format!("{}/tail", deep.join("/").replace('+', "x"));
        let ix = index_with(&[
            rule("USER", "u", &filter, "PUB", "ALLOW"),
            rule(
                "CLIENT",
                "c",
                &deep.join("/").replace('+', "x"),
                "PUB",
                "DENY",
            ),
        ]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(
            outcome(s.may_publish(&topic)),
            by(true, &filter, Effect::Allow)
        );
        let exact = deep.join("/").replace('+', "x");
        assert_eq!(
            outcome(s.may_publish(&exact)),
            by(false, &exact, Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_publish(&topic.replacen('l', "m", 1))),
            none(TopicReason::NoMatchDeny)
        );
    }

    #[test]
    fn long_topics_are_validated_and_split_at_every_position() {
        // The split reads eight bytes at a time: put the interesting byte at every offset.
        let ix = index_with(&[
            rule("USER", "u", "+/+/+", "PUB", "ALLOW"),
            rule("USER", "u", "abcdefgh/./#", "PUB", "DENY"),
        ]);
        let s = session(&ix, NoMatch::Deny);
        let base = "abcdefghijklmnopqrstuvwxyz0123456789";
        for at in 0..base.len() {
            for bad in ['+', '#', '\0'] {
                let mut t = base.to_string();
                t.insert(at, bad);
                assert_eq!(
                    outcome(s.may_publish(&t)),
                    none(TopicReason::InvalidTopic),
                    "{t:?}"
                );
            }
            for (i, j) in [(at, at + 1), (at, at + 7), (at, at + 9)] {
                if j >= base.len() {
                    continue;
                }
                // '.' right after '/' is what the word test may flag falsely.
                let t = format!("{}/./{}", &base[..i], &base[j..]);
                let want = crate::topic::matches("+/+/+", &t) && !t.starts_with("abcdefgh/./");
                assert_eq!(s.may_publish(&t).allowed, want, "{t:?}");
            }
        }
        assert_eq!(
            outcome(s.may_publish("abcdefgh/./x/y")),
            by(false, "abcdefgh/./#", Effect::Deny)
        );
        assert_eq!(
            outcome(s.may_publish("abcdefghijk/./x")),
            by(true, "+/+/+", Effect::Allow)
        );
    }

    #[test]
    fn decisions_print_the_deciding_rule() {
        let ix = index_with(&[rule("USER", "u", "a/#", "PUB", "ALLOW")]);
        let s = session(&ix, NoMatch::Deny);
        assert_eq!(
            s.may_publish("a/b").to_string(),
            r#"allowed by rule: ALLOW PUB on "a/#" for USER "u""#
        );
        assert_eq!(
            s.may_publish("b").to_string(),
            r#"refused: no applicable rule matches (no_match = "deny")"#
        );
    }
}
