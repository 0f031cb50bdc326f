//! The in-memory index: identities keyed for the CONNECT lookup, and how it is shared.
//!
//! This module is the mechanism only: find a `CLIENT` record, find a `USER` record, read a
//! record. Which record decides a CONNECT, and how its password is checked, is the decision's
//! ([`crate::decide`]); topic permissions hang beside it ([`crate::rules`]).
//!
//! # Layout
//!
//! A CONNECT at a million identities waits on memory, not on arithmetic, so the index is laid out
//! for few dependent cache misses:
//!
//! * **records**: one byte arena holding, per identity, its key bytes (username, client id)
//!   beside what checks its password (the `ORIGIN` secret, a `CLIENT`/`SIGNED` identity's
//!   expected password, or the number of a `USER`/`SIGNED` identity's keyed HMAC state). One
//!   record read compares the key and, in the same cache lines, finds the check.
//! * **two flat tables** of record offsets (`u32`, hashbrown's SwissTable): `CLIENT` identities by
//!   (username, client id), `USER` identities by username. A lookup is the table's control bytes,
//!   one 4-byte slot, one record: three misses, against four for rumqttd's
//!   `HashMap<String, String>` (control, slot, key, value).
//! * the `Identity` values themselves in a `Vec`, touched only to hand the matched one back.
//!
//! Keys are hashed with std's `RandomState` (SipHash-1-3 under a random per-index key): usernames
//! and client ids are chosen by whoever connects, and a hash they could predict would let them
//! pile keys into one probe sequence. SipHash costs ~20 ns of a ~1 µs decision at this size; a
//! faster keyed hash is not worth arguing its collision resistance for.
//!
//! The arena and the HMAC states hold secrets and secret-equivalent data: both are sized exactly
//! before they are filled (so no reallocation leaves a copy behind); the arena is zeroed on drop
//! (`Zeroizing`, capacity included) and each HMAC state overwritten ([`KeyedMac`]). Dropping an
//! index does both, wherever the last reference goes (`mqid_sync::retire` makes that the writer).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hashbrown::HashTable;
use zeroize::Zeroizing;

use crate::rules::Permissions;
use crate::signed::{KeyedMac, SIGNED_PASSWORD_LEN};
use crate::{Identity, IdentityKey, IdentityType, SignMode, MAX_SECRET_BYTES};

/// How one identity's password is checked, read from its record.
pub(crate) enum Check<'a> {
    /// Compare the password with the secret (stored in the record).
    Origin(&'a [u8]),
    /// `USER`/`SIGNED`: the HMAC-SHA1 state keyed with the secret. A CONNECT copies it and feeds
    /// it the client id, so no CONNECT derives the key pads again.
    SignedUser(&'a KeyedMac),
    /// `CLIENT`/`SIGNED`: the client id is fixed, so the expected password is too.
    SignedClient(&'a [u8]),
}

/// One identity's record, as read from the arena: the identity and how to check its password.
pub(crate) struct Record<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) check: Check<'a>,
}

/// Where a record stands in the arena: what [`Index::find_client`] and [`Index::find_user`]
/// return, for [`Index::record`] to read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found(u32);

/// A (username, client id) pair, hashed once for both tables (see [`Index::key`]).
pub(crate) struct Key<'a> {
    username: &'a str,
    client_id: &'a str,
    /// The `USER` table's hash: of the username.
    user_hash: u64,
    /// The `CLIENT` table's hash: of the pair.
    client_hash: u64,
}

/// Record header: identity number, check word, username length, client id length (`u32` LE each).
const HEADER: usize = 16;
/// Records start at multiples of this, so that a `u32` offset addresses 32 GiB of records.
const ALIGN: usize = 8;
/// The check word's top two bits say how the password is checked; the rest is the `ORIGIN`
/// secret's length (at most [`MAX_SECRET_BYTES`]) or the `USER`/`SIGNED` identity's HMAC state
/// number.
const TAG_SHIFT: u32 = 30;
const VALUE_MASK: u32 = (1 << TAG_SHIFT) - 1;
const TAG_ORIGIN: u32 = 0;
const TAG_SIGNED_CLIENT: u32 = 1;
const TAG_SIGNED_USER: u32 = 2;
const _: () = assert!(MAX_SECRET_BYTES <= VALUE_MASK as usize);

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u32_of(n: usize, what: &str) -> u32 {
    u32::try_from(n).unwrap_or_else(|_| panic!("{what} exceeds the index's 32-bit limit"))
}

/// Counts of an index, by type and mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub user_origin: usize,
    pub user_signed: usize,
    pub client_origin: usize,
    pub client_signed: usize,
    pub blacklisted_client_ids: usize,
}

impl IndexStats {
    /// Number of identities.
    pub fn identities(&self) -> usize {
        self.user_origin + self.user_signed + self.client_origin + self.client_signed
    }

    fn count(&mut self, t: IdentityType, m: SignMode, delta: isize) {
        let slot = match (t, m) {
            (IdentityType::User, SignMode::Origin) => &mut self.user_origin,
            (IdentityType::User, SignMode::Signed) => &mut self.user_signed,
            (IdentityType::Client, SignMode::Origin) => &mut self.client_origin,
            (IdentityType::Client, SignMode::Signed) => &mut self.client_signed,
        };
        *slot = slot.wrapping_add_signed(delta);
    }
}

impl std::fmt::Display for IndexStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} identities (USER: {} ORIGIN, {} SIGNED; CLIENT: {} ORIGIN, {} SIGNED), {} blacklisted client ids",
            self.identities(),
            self.user_origin,
            self.user_signed,
            self.client_origin,
            self.client_signed,
            self.blacklisted_client_ids
        )
    }
}

/// A key that appeared more than once while building an index; the later record won.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub key: IdentityKey,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} appears more than once; the later record wins",
            self.key
        )
    }
}

/// What building an index noticed.
#[derive(Clone, Debug, Default)]
pub struct BuildReport {
    pub duplicates: Vec<Duplicate>,
}

/// An immutable index of identities and blacklisted client ids, ready for
/// [`decide`](fn@crate::decide). Build a new one to change anything; share it with [`SharedIndex`].
pub struct Index {
    /// `CLIENT` identities by (username, client id): offsets of their records, in `ALIGN` units.
    clients: HashTable<u32>,
    /// `USER` identities by username: offsets of their records.
    users: HashTable<u32>,
    /// The records (see the module's documentation). Zeroed on drop.
    records: Zeroizing<Vec<u8>>,
    /// `USER`/`SIGNED`: HMAC-SHA1 states keyed with the secret, numbered by their records.
    /// Each is overwritten when dropped ([`KeyedMac`]).
    macs: Vec<KeyedMac>,
    identities: Vec<Identity>,
    hasher: RandomState,
    blacklist: HashSet<Box<str>>,
    stats: IndexStats,
    /// The topic rules of this generation; `None` when the source carries none (nothing is
    /// enforced).
    permissions: Option<Arc<Permissions>>,
    /// Unique per index built in this process, increasing: a session's resolved rules carry it.
    generation: u64,
}

/// The generation counter of [`Index`]: every index built in this process gets the next number.
static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

impl Default for Index {
    fn default() -> Self {
        Index {
            clients: HashTable::new(),
            users: HashTable::new(),
            records: Zeroizing::new(Vec::new()),
            macs: Vec::new(),
            identities: Vec::new(),
            hasher: RandomState::new(),
            blacklist: HashSet::new(),
            stats: IndexStats::default(),
            permissions: None,
            generation: next_generation(),
        }
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("stats", &self.stats).finish()
    }
}

/// The client id an identity is keyed by: its own for `CLIENT`, none for `USER`.
fn key_client_id(identity: &Identity) -> &str {
    match identity.identity_type {
        IdentityType::User => "",
        IdentityType::Client => identity.client_id.as_deref().unwrap_or(""),
    }
}

/// The secret of an `ORIGIN` identity, stored in its record. Validation caps secrets at
/// [`MAX_SECRET_BYTES`], which the check word's length field holds.
fn origin_secret(identity: &Identity) -> &[u8] {
    let secret = identity.secret.expose().as_bytes();
    assert!(
        secret.len() <= MAX_SECRET_BYTES,
        "the secret of {} has {} bytes, more than the {MAX_SECRET_BYTES} validation allows",
        identity.key(),
        secret.len()
    );
    secret
}

/// Bytes of the record of `identity`, padding included.
fn record_len(identity: &Identity) -> usize {
    let check = match (identity.identity_type, identity.sign_mode) {
        (_, SignMode::Origin) => origin_secret(identity).len(),
        (IdentityType::Client, SignMode::Signed) => SIGNED_PASSWORD_LEN,
        (IdentityType::User, SignMode::Signed) => 0,
    };
    let len = HEADER + identity.username.len() + key_client_id(identity).len() + check;
    len.next_multiple_of(ALIGN)
}

impl Index {
    /// An index that admits nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// This index with the topic rules of the same generation (`None`: the source carries no
    /// rules, and nothing is enforced). Built before the index is shared, so identities and
    /// rules are swapped in together.
    pub fn with_permissions(mut self, permissions: Option<Permissions>) -> Self {
        self.permissions = permissions.map(Arc::new);
        self
    }

    /// The topic rules in force with this index, if the source carries any.
    pub fn permissions(&self) -> Option<&Arc<Permissions>> {
        self.permissions.as_ref()
    }

    /// This index's generation: unique in the process and larger for a later build.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The pair (username, client id) hashed for both tables, in one pass over the username.
    /// `str`'s `Hash` ends each string with a byte that UTF-8 never contains, so no two pairs
    /// feed the hasher the same bytes.
    #[inline]
    pub(crate) fn key<'k>(&self, username: &'k str, client_id: &'k str) -> Key<'k> {
        let mut h = self.hasher.build_hasher();
        username.hash(&mut h);
        let user_hash = h.clone().finish();
        client_id.hash(&mut h);
        Key {
            username,
            client_id,
            user_hash,
            client_hash: h.finish(),
        }
    }

    /// The bytes of the record at `offset`, from its start.
    #[inline]
    fn raw(&self, offset: u32) -> &[u8] {
        &self.records[offset as usize * ALIGN..]
    }

    /// The username and client id of the record at `offset`.
    #[inline]
    fn key_of(&self, offset: u32) -> (&[u8], &[u8]) {
        let r = self.raw(offset);
        let (u, c) = (read_u32(r, 8) as usize, read_u32(r, 12) as usize);
        (&r[HEADER..HEADER + u], &r[HEADER + u..HEADER + u + c])
    }

    /// The number of the identity whose record is at `offset`.
    #[inline]
    fn identity_number(&self, offset: u32) -> usize {
        read_u32(self.raw(offset), 0) as usize
    }

    /// Reads the record `found`: its identity and how to check its password.
    #[inline]
    pub(crate) fn record(&self, found: Found) -> Record<'_> {
        let r = self.raw(found.0);
        let word = read_u32(r, 4);
        let value = (word & VALUE_MASK) as usize;
        let rest = HEADER + read_u32(r, 8) as usize + read_u32(r, 12) as usize;
        let check = match word >> TAG_SHIFT {
            TAG_ORIGIN => Check::Origin(&r[rest..rest + value]),
            TAG_SIGNED_CLIENT => Check::SignedClient(&r[rest..rest + SIGNED_PASSWORD_LEN]),
            TAG_SIGNED_USER => Check::SignedUser(&self.macs[value]),
            tag => unreachable!("no record is written with check tag {tag}"),
        };
        Record {
            identity: &self.identities[read_u32(r, 0) as usize],
            check,
        }
    }

    /// The record of the `CLIENT` identity (username, client id) of `key`, if there is one.
    #[inline]
    pub(crate) fn find_client(&self, key: &Key<'_>) -> Option<Found> {
        let want = (key.username.as_bytes(), key.client_id.as_bytes());
        self.clients
            .find(key.client_hash, |&o| self.key_of(o) == want)
            .map(|&o| Found(o))
    }

    /// The record of the `USER` identity of `key`'s username, if there is one.
    #[inline]
    pub(crate) fn find_user(&self, key: &Key<'_>) -> Option<Found> {
        self.users
            .find(key.user_hash, |&o| {
                self.key_of(o).0 == key.username.as_bytes()
            })
            .map(|&o| Found(o))
    }

    /// Whether `client_id` is on the connect blacklist.
    #[inline]
    pub(crate) fn is_blacklisted(&self, client_id: &str) -> bool {
        !self.blacklist.is_empty() && self.blacklist.contains(client_id)
    }

    /// The table that keys identities of type `t`.
    fn table(&mut self, t: IdentityType) -> &mut HashTable<u32> {
        match t {
            IdentityType::User => &mut self.users,
            IdentityType::Client => &mut self.clients,
        }
    }

    /// Appends the record of `self.identities[n]` and returns its offset.
    fn push_record(&mut self, n: usize) -> u32 {
        let identity = &self.identities[n];
        let start = self.records.len();
        debug_assert_eq!(start % ALIGN, 0);
        let client_id = key_client_id(identity);
        // A CLIENT/SIGNED identity's expected password: secret-equivalent for its client id.
        let mut signed = Zeroizing::new([0u8; SIGNED_PASSWORD_LEN]);
        let (word, check): (u32, &[u8]) = match (identity.identity_type, identity.sign_mode) {
            (_, SignMode::Origin) => {
                let secret = origin_secret(identity);
                (TAG_ORIGIN << TAG_SHIFT | secret.len() as u32, secret)
            }
            (IdentityType::Client, SignMode::Signed) => {
                KeyedMac::new(identity.secret.expose()).sign_into(client_id, &mut signed);
                (TAG_SIGNED_CLIENT << TAG_SHIFT, &signed[..])
            }
            (IdentityType::User, SignMode::Signed) => {
                let number = self.macs.len();
                assert!(
                    number <= VALUE_MASK as usize,
                    "too many USER/SIGNED identities"
                );
                self.macs.push(KeyedMac::new(identity.secret.expose()));
                (TAG_SIGNED_USER << TAG_SHIFT | number as u32, &[])
            }
        };
        let records = &mut *self.records;
        records.extend_from_slice(&u32_of(n, "the number of identities").to_le_bytes());
        records.extend_from_slice(&word.to_le_bytes());
        for s in [identity.username.as_str(), client_id] {
            records.extend_from_slice(&u32_of(s.len(), "a username or client id").to_le_bytes());
        }
        records.extend_from_slice(identity.username.as_bytes());
        records.extend_from_slice(client_id.as_bytes());
        records.extend_from_slice(check);
        records.resize(start + record_len(identity), 0);
        u32_of(start / ALIGN, "the size of the index")
    }

    /// Builds an index. When two identities share a key the later one wins, and the report says
    /// so. `blacklist` holds client ids that are refused whatever their credentials.
    ///
    /// # Panics
    ///
    /// If an `ORIGIN` identity's secret is longer than [`MAX_SECRET_BYTES`]: validation
    /// ([`Identity::try_from`]) refuses such a record, so only an `Identity` built field by
    /// field can carry one.
    pub fn build(
        identities: impl IntoIterator<Item = Identity>,
        blacklist: impl IntoIterator<Item = String>,
    ) -> (Self, BuildReport) {
        let mut index = Index {
            identities: identities.into_iter().collect(),
            ..Index::default()
        };
        let mut report = BuildReport::default();
        // Size everything exactly first: the tables never rehash, and the arena and the HMAC
        // states (secret-equivalent) are never moved, so no copy of them is left behind.
        let (mut users, mut macs, mut bytes) = (0, 0, 0);
        for identity in &index.identities {
            users += usize::from(identity.identity_type == IdentityType::User);
            macs += usize::from(
                (identity.identity_type, identity.sign_mode)
                    == (IdentityType::User, SignMode::Signed),
            );
            bytes += record_len(identity);
        }
        index.records.reserve_exact(bytes);
        index.macs.reserve_exact(macs);
        index
            .users
            .reserve(users, |_| unreachable!("reserving an empty table"));
        index.clients.reserve(index.identities.len() - users, |_| {
            unreachable!("reserving an empty table")
        });

        let mut replaced = Vec::new();
        for n in 0..index.identities.len() {
            let identity = &index.identities[n];
            let (t, m) = (identity.identity_type, identity.sign_mode);
            let key = index.key(&identity.username, key_client_id(identity));
            let (existing, hash) = match t {
                IdentityType::User => (index.find_user(&key), key.user_hash),
                IdentityType::Client => (index.find_client(&key), key.client_hash),
            };
            let offset = index.push_record(n);
            index.stats.count(t, m, 1);
            let Some(Found(old_offset)) = existing else {
                let table = index.table(t);
                table.insert_unique(hash, offset, |_| unreachable!("the table was reserved"));
                continue;
            };
            let old = index.identity_number(old_offset);
            let old_identity = &index.identities[old];
            index
                .stats
                .count(old_identity.identity_type, old_identity.sign_mode, -1);
            report.duplicates.push(Duplicate {
                key: old_identity.key(),
            });
            replaced.push(old);
            *index
                .table(t)
                .find_mut(hash, |&o| o == old_offset)
                .expect("found above") = offset;
        }
        if !replaced.is_empty() {
            index.drop_replaced(replaced);
        }
        index.blacklist = blacklist.into_iter().map(String::into_boxed_str).collect();
        index.stats.blacklisted_client_ids = index.blacklist.len();
        (index, report)
    }

    /// Removes the identities that a later duplicate replaced, and renumbers the records of the
    /// others. (Their old records stay in the arena, unreferenced, until the index is dropped.)
    fn drop_replaced(&mut self, mut replaced: Vec<usize>) {
        replaced.sort_unstable();
        let mut renumber = Vec::with_capacity(self.identities.len());
        let mut gone = replaced.iter().peekable();
        let mut kept = 0u32;
        for n in 0..self.identities.len() {
            if gone.next_if_eq(&&n).is_some() {
                renumber.push(u32::MAX);
            } else {
                renumber.push(kept);
                kept += 1;
            }
        }
        let mut n = 0;
        self.identities.retain(|_| {
            n += 1;
            renumber[n - 1] != u32::MAX
        });
        let offsets: Vec<u32> = self
            .users
            .iter()
            .chain(self.clients.iter())
            .copied()
            .collect();
        for o in offsets {
            let at = o as usize * ALIGN;
            let new = renumber[read_u32(&self.records, at) as usize];
            self.records[at..at + 4].copy_from_slice(&new.to_le_bytes());
        }
    }

    /// Counts by type and mode.
    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// Number of identities.
    pub fn len(&self) -> usize {
        self.stats.identities()
    }

    /// Whether the index holds no identity.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The identity stored under `key`, if any.
    pub fn get(&self, key: &IdentityKey) -> Option<&Identity> {
        let found = match key {
            IdentityKey::User { username } => self.find_user(&self.key(username, "")),
            IdentityKey::Client {
                username,
                client_id,
            } => self.find_client(&self.key(username, client_id)),
        }?;
        Some(self.record(found).identity)
    }

    /// All identities, in no particular order.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.identities.iter()
    }

    /// The blacklisted client ids, in no particular order.
    pub fn blacklist(&self) -> impl Iterator<Item = &str> {
        self.blacklist.iter().map(|c| &**c)
    }
}

/// The current [`Index`], shared between the CONNECT path and the refresher.
///
/// # Contract
///
/// * [`load`](SharedIndex::load) never blocks, never waits on a writer and does not allocate in
///   the common case (it borrows one of `arc_swap`'s per-thread slots).
/// * [`replace`](SharedIndex::replace) publishes a complete index with one atomic pointer swap:
///   a reader sees either the old index or the new one, never a mixture or a half-built state.
/// * The old index is returned to the writer so that the writer, not a CONNECT, pays for freeing
///   it (see `mqid_sync::retire`).
///
/// ```
/// use mqid_core::{Connect, Decision, Index, SharedIndex};
/// let shared = SharedIndex::new(Index::empty());
/// let connect = Connect { client_id: "c1", username: "u", password: b"p" };
/// assert!(matches!(mqid_core::decide(&shared.load(), &connect), Decision::Refuse(_)));
/// ```
pub struct SharedIndex {
    current: ArcSwap<Index>,
}

impl SharedIndex {
    /// Shares `index`.
    pub fn new(index: Index) -> Self {
        SharedIndex {
            current: ArcSwap::from_pointee(index),
        }
    }

    /// The current index, for a short read such as one decision. Never blocks.
    pub fn load(&self) -> Guard<Arc<Index>> {
        self.current.load()
    }

    /// The current index as an owned `Arc`, for a long read.
    pub fn load_full(&self) -> Arc<Index> {
        self.current.load_full()
    }

    /// Publishes `index` atomically and returns the one it replaced.
    pub fn replace(&self, index: Index) -> Arc<Index> {
        self.current.swap(Arc::new(index))
    }
}

impl std::fmt::Debug for SharedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedIndex").field(&*self.load()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connect, Decision, Refusal, Secret};

    fn id(u: &str, c: Option<&str>, s: &str, m: SignMode) -> Identity {
        Identity {
            username: u.into(),
            secret: Secret::new(s),
            identity_type: if c.is_some() {
                IdentityType::Client
            } else {
                IdentityType::User
            },
            client_id: c.map(Into::into),
            sign_mode: m,
        }
    }

    #[test]
    fn duplicates_renumber_the_survivors() {
        let mut ids = Vec::new();
        for k in 0..50 {
            let m = if k % 2 == 0 {
                SignMode::Origin
            } else {
                SignMode::Signed
            };
            ids.push(id(&format!("u{}", k % 7), None, &format!("s{k}"), m));
            let c = format!("c{}", k % 5);
            ids.push(id(&format!("f{}", k % 3), Some(&c), &format!("t{k}"), m));
        }
        let (ix, report) = Index::build(ids.clone(), []);
        // 7 USER keys and 15 CLIENT keys survive; everything else was replaced.
        assert_eq!(ix.len(), 22);
        assert_eq!(ix.identities().count(), 22);
        assert_eq!(report.duplicates.len(), 100 - 22);
        for want in ids.iter().rev() {
            let got = ix.get(&want.key()).unwrap();
            // The last record of each key wins.
            let last = ids.iter().rev().find(|i| i.key() == want.key()).unwrap();
            assert_eq!(got, last);
        }
        for survivor in ix.identities() {
            let client_id = survivor.client_id.as_deref().unwrap_or("any");
            let password = match survivor.sign_mode {
                SignMode::Origin => survivor.secret.expose().to_string(),
                SignMode::Signed => crate::signed_password(survivor.secret.expose(), client_id),
            };
            let connect = Connect {
                client_id,
                username: &survivor.username,
                password: password.as_bytes(),
            };
            assert_eq!(crate::decide(&ix, &connect), Decision::Admit(survivor));
        }
        let stats = ix.stats();
        assert_eq!(stats.identities(), 22);
        assert_eq!(
            crate::decide(
                &ix,
                &Connect {
                    client_id: "c1",
                    username: "f0",
                    password: b"s0",
                }
            ),
            Decision::Refuse(Refusal::BadPassword)
        );
    }

    #[test]
    fn a_secret_at_the_cap_is_stored_and_checked_whole() {
        let secret = "s".repeat(MAX_SECRET_BYTES);
        let (ix, _) = Index::build([id("u", None, &secret, SignMode::Origin)], []);
        let mut password = secret.clone().into_bytes();
        let connect = |password: &[u8]| {
            crate::decide(
                &ix,
                &Connect {
                    client_id: "c",
                    username: "u",
                    password,
                },
            )
            .is_admit()
        };
        assert!(connect(&password));
        *password.last_mut().unwrap() = b't';
        assert!(!connect(&password));
    }

    #[test]
    #[should_panic(expected = "the secret of USER \"u\" has 65536 bytes, more than the 65535")]
    fn an_unvalidated_secret_over_the_cap_is_refused_by_build() {
        let secret = "s".repeat(MAX_SECRET_BYTES + 1);
        Index::build([id("u", None, &secret, SignMode::Origin)], []);
    }
}
