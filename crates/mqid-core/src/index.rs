//! The in-memory index: identities keyed for the CONNECT lookup, and how it is shared.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::decide::{sign_into, SIGNED_PASSWORD_LEN};
use crate::{Identity, IdentityKey, IdentityType, SignMode};

/// How one identity's password is checked, prepared when the index is built.
pub(crate) enum Check {
    /// Compare the password with the secret.
    Origin,
    /// `USER`/`SIGNED`: the HMAC-SHA1 state keyed with the secret. A CONNECT copies it and feeds
    /// it the client id, so no CONNECT derives the key pads again. Boxed: it is ~140 bytes and
    /// most identities do not need it.
    SignedUser(Box<Hmac<Sha1>>),
    /// `CLIENT`/`SIGNED`: the client id is fixed, so the expected password is too.
    SignedClient([u8; SIGNED_PASSWORD_LEN]),
}

pub(crate) struct Entry {
    pub(crate) identity: Identity,
    pub(crate) check: Check,
}

/// Everything known under one username: its `USER` identity and its `CLIENT` identities.
#[derive(Default)]
pub(crate) struct Node {
    pub(crate) user: Option<Entry>,
    pub(crate) clients: HashMap<Box<str>, Entry>,
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
/// [`decide`](Index::decide). Build a new one to change anything; share it with [`SharedIndex`].
#[derive(Default)]
pub struct Index {
    pub(crate) users: HashMap<Box<str>, Node>,
    pub(crate) blacklist: HashSet<Box<str>>,
    stats: IndexStats,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("stats", &self.stats).finish()
    }
}

fn prepare(identity: Identity) -> Entry {
    let check = match (identity.identity_type, identity.sign_mode) {
        (_, SignMode::Origin) => Check::Origin,
        (IdentityType::User, SignMode::Signed) => Check::SignedUser(Box::new(
            Hmac::<Sha1>::new_from_slice(identity.secret.expose().as_bytes())
                .expect("HMAC takes a key of any length"),
        )),
        (IdentityType::Client, SignMode::Signed) => {
            let mac = Hmac::<Sha1>::new_from_slice(identity.secret.expose().as_bytes())
                .expect("HMAC takes a key of any length");
            let mut expected = [0u8; SIGNED_PASSWORD_LEN];
            let client_id = identity.client_id.as_deref().unwrap_or_default();
            sign_into(mac, client_id, &mut expected);
            Check::SignedClient(expected)
        }
    };
    Entry { identity, check }
}

impl Index {
    /// An index that admits nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds an index. When two identities share a key the later one wins, and the report says
    /// so. `blacklist` holds client ids that are refused whatever their credentials.
    pub fn build(
        identities: impl IntoIterator<Item = Identity>,
        blacklist: impl IntoIterator<Item = String>,
    ) -> (Self, BuildReport) {
        let mut index = Index::default();
        let mut report = BuildReport::default();
        for identity in identities {
            let (t, m) = (identity.identity_type, identity.sign_mode);
            let node = index
                .users
                .entry(identity.username.as_str().into())
                .or_default();
            let old = match t {
                IdentityType::User => node.user.replace(prepare(identity)),
                IdentityType::Client => {
                    let client_id: Box<str> = identity.client_id.as_deref().unwrap_or("").into();
                    node.clients.insert(client_id, prepare(identity))
                }
            };
            index.stats.count(t, m, 1);
            if let Some(old) = old {
                index
                    .stats
                    .count(old.identity.identity_type, old.identity.sign_mode, -1);
                report.duplicates.push(Duplicate {
                    key: old.identity.key(),
                });
            }
        }
        index.blacklist = blacklist.into_iter().map(String::into_boxed_str).collect();
        index.stats.blacklisted_client_ids = index.blacklist.len();
        (index, report)
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
        match key {
            IdentityKey::User { username } => self.users.get(username.as_str())?.user.as_ref(),
            IdentityKey::Client {
                username,
                client_id,
            } => self
                .users
                .get(username.as_str())?
                .clients
                .get(client_id.as_str()),
        }
        .map(|e| &e.identity)
    }

    /// All identities, in no particular order.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.users
            .values()
            .flat_map(|n| n.user.iter().chain(n.clients.values()).map(|e| &e.identity))
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
/// assert!(matches!(shared.load().decide(&connect), Decision::Refuse(_)));
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
