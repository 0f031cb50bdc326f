//! The identity model, the in-memory index and the CONNECT decision of mqid.
//!
//! mqid admits the devices that ApsaraMQ for MQTT's *custom identities* admit. An [`Identity`] is
//! one record of the `QueryCustomAuthIdentity` API (same field names, so an API page and a local
//! file share one format). An [`Index`] is an immutable, pre-computed view of a set of identities
//! plus the connect blacklist, built once per refresh. [`decide`](fn@decide) is the CONNECT decision:
//! a pure function of (index, CONNECT) that returns the matched identity or why it refused.
//!
//! # The hot path
//!
//! [`decide`](fn@decide) never allocates, never takes a lock and never derives HMAC key pads:
//! `SIGNED` identities of type `USER` keep a pre-keyed HMAC-SHA1 state that is copied on the
//! stack per CONNECT, and `SIGNED` identities of type `CLIENT` keep their expected password,
//! computed when the index is built. Every secret-dependent comparison is constant-time in the
//! content of the password (lengths are not secret: a password of the wrong length is refused at
//! once).
//!
//! # Sharing the index
//!
//! [`SharedIndex`] holds the current [`Index`] behind an [`arc_swap::ArcSwap`]: readers load it
//! without waiting on anything, a refresh builds a complete new index on the side and publishes it
//! with one atomic swap. A reader sees the old index or the new one, never a half-built state.
//!
//! # Guarding the decision
//!
//! Two pieces for a front end to consult before deciding, both lock-free and allocation-free:
//! [`Limiter`] refuses a (username, client id) pair that sent too many bad passwords, before
//! any HMAC work (see [its module](limit) for the choice of key and what it does not protect
//! against); [`StaleGate`] refuses everything while the index is known to be too old.
//!
//! # Topic permissions
//!
//! A [`Permission`] is one record of `QueryCustomAuthPermission`. The index carries the
//! [`Permissions`] of its generation (built and swapped with the identities); a session resolves
//! its applicable rules once at CONNECT into [`SessionRules`] and asks it, per PUBLISH, SUBSCRIBE
//! and delivered message, without allocating or locking. See [`rules`] for the contract.
//!
//! This crate does no I/O.
#![forbid(unsafe_code)]

mod decide;
mod gate;
mod identity;
mod index;
pub mod limit;
mod permission;
mod record;
pub mod rules;
mod secret;
mod signed;
pub mod text;
pub mod topic;

pub use decide::{decide, Connect, Decision, Refusal};
pub use gate::StaleGate;
pub use identity::{
    parse_identities, parse_identity_list, Identity, IdentityError, IdentityKey, IdentityType,
    InvalidRecord, ListError, RawIdentity, SignMode, MAX_ID_CHARS, MAX_SECRET_BYTES,
};
pub use index::{BuildReport, Duplicate, Index, IndexStats, SharedIndex};
pub use limit::{LimitKey, Limiter, Limits};
pub use permission::{
    parse_permission_list, parse_permissions, Effect, InvalidPermission, Permission,
    PermissionError, PermissionListError, PermitAction, RawPermission,
};
pub use rules::{NoMatch, Permissions, SessionRules, TopicDecision, TopicReason};
pub use secret::Secret;
pub use signed::{signed_password, SIGNED_PASSWORD_LEN};
