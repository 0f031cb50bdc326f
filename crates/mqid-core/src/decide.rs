//! The CONNECT decision: the hot path.
//!
//! Contract of [`decide`]: no heap allocation, no lock, no I/O, no HMAC key schedule; password
//! comparison is constant-time in the password's content. It returns the matched identity so
//! that later checks (topic permissions, [`crate::rules`]) can hang off it.
//!
//! The index only finds and reads records; the rule that picks one is here, in [`decide`].

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::index::Check;
use crate::signed::SIGNED_PASSWORD_LEN;
use crate::{Identity, Index};

/// What a CONNECT presents. The client id is the raw one from the packet (it may be empty).
#[derive(Clone, Copy)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    pub username: &'a str,
    pub password: &'a [u8],
}

impl std::fmt::Debug for Connect<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a CONNECT was refused. Carries nothing secret; fit for logs and metric labels.
///
/// [`decide`] returns the first three and `ClientIdTooLong`; `RateLimited` and `Stale`
/// are a front end's refusals made without deciding (see [`Limiter`](crate::Limiter) and
/// [`StaleGate`](crate::StaleGate)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The client id is on the connect blacklist.
    Blacklisted,
    /// No `CLIENT` identity for (username, client id) and no `USER` identity for the username.
    UnknownIdentity,
    /// The identity exists but the password does not match it.
    BadPassword,
    /// The (username, client id) pair is cooling down after too many bad passwords; refused
    /// before any password check, whatever the password.
    RateLimited,
    /// The index in force is older than the staleness limit and the policy is to refuse.
    Stale,
    /// The client id has more than [`MAX_ID_CHARS`](crate::MAX_ID_CHARS) characters, which
    /// ApsaraMQ refuses at CONNECT whatever the credentials.
    ClientIdTooLong,
}

impl Refusal {
    /// A short stable name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Blacklisted => "blacklisted",
            Refusal::UnknownIdentity => "unknown_identity",
            Refusal::BadPassword => "bad_password",
            Refusal::RateLimited => "rate_limited",
            Refusal::Stale => "stale",
            Refusal::ClientIdTooLong => "client_id_too_long",
        }
    }

    /// Every refusal, in a fixed order (for metric handles indexed by reason).
    pub const ALL: [Refusal; 6] = [
        Refusal::Blacklisted,
        Refusal::UnknownIdentity,
        Refusal::BadPassword,
        Refusal::RateLimited,
        Refusal::Stale,
        Refusal::ClientIdTooLong,
    ];
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Admitted by this identity.
    Admit(&'a Identity),
    /// Refused, and why.
    Refuse(Refusal),
}

impl Decision<'_> {
    /// Whether the CONNECT is admitted.
    pub fn is_admit(&self) -> bool {
        matches!(self, Decision::Admit(_))
    }
}

/// Whether `a == b`, in a time that depends on the lengths only. Every comparison is `subtle`'s
/// (`u64::ct_eq` a word at a time, `[u8]::ct_eq` on the tail bytes) and the results are combined
/// as `Choice`s; the loop has no exit that depends on the content. What it relies on is what
/// `subtle` relies on: each `Choice` passes its optimisation barrier, so the compiler cannot see
/// an early mismatch and branch on it (best-effort, as `subtle` documents). Its byte-slice
/// compare alone does one barrier per byte (~45 ns for 32 bytes); a word at a time, one per 8.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes"));
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut same = a8.remainder().ct_eq(b8.remainder());
    for (x, y) in a8.zip(b8) {
        same &= word(x).ct_eq(&word(y));
    }
    bool::from(same)
}

/// Whether `client_id` has more than [`MAX_ID_CHARS`](crate::MAX_ID_CHARS) characters. No
/// allocation; counts characters only when the byte length could exceed the limit.
fn client_id_too_long(client_id: &str) -> bool {
    client_id.len() > crate::MAX_ID_CHARS && client_id.chars().count() > crate::MAX_ID_CHARS
}

/// Whether `password` passes `check` for a CONNECT from `client_id`.
fn password_matches(check: &Check<'_>, client_id: &str, password: &[u8]) -> bool {
    match check {
        Check::Origin(secret) => ct_eq(password, secret),
        Check::SignedClient(expected) => ct_eq(password, expected),
        Check::SignedUser(keyed) => {
            if password.len() != SIGNED_PASSWORD_LEN {
                return false;
            }
            // The expected password is secret-equivalent for this client id: wiped after use.
            let mut expected = Zeroizing::new([0u8; SIGNED_PASSWORD_LEN]);
            keyed.sign_into(client_id, &mut expected);
            ct_eq(password, &expected[..])
        }
    }
}

/// Decides a CONNECT against `index`.
///
/// 1. A client id over [`MAX_ID_CHARS`](crate::MAX_ID_CHARS) characters is refused, as
///    ApsaraMQ refuses it; then a blacklisted client id, whatever its credentials.
/// 2. The `CLIENT` identity of (username, client id), if there is one, decides alone: when its
///    password fails the `USER` identity is not tried.
/// 3. Otherwise the `USER` identity of the username decides; with neither, the identity is
///    unknown.
pub fn decide<'a>(index: &'a Index, connect: &Connect<'_>) -> Decision<'a> {
    let Connect {
        client_id,
        username,
        password,
    } = *connect;
    if client_id_too_long(client_id) {
        return Decision::Refuse(Refusal::ClientIdTooLong);
    }
    if index.is_blacklisted(client_id) {
        return Decision::Refuse(Refusal::Blacklisted);
    }
    let key = index.key(username, client_id);
    let Some(found) = index.find_client(&key).or_else(|| index.find_user(&key)) else {
        return Decision::Refuse(Refusal::UnknownIdentity);
    };
    let record = index.record(found);
    if password_matches(&record.check, client_id, password) {
        Decision::Admit(record.identity)
    } else {
        Decision::Refuse(Refusal::BadPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IdentityType, RawIdentity, Secret, SignMode};

    fn id(u: &str, s: &str, t: IdentityType, c: Option<&str>, m: SignMode) -> Identity {
        Identity::try_from(RawIdentity {
            username: Some(u.into()),
            secret: Some(Secret::new(s)),
            identity_type: Some(t.as_str().into()),
            client_id: c.map(Into::into),
            sign_mode: Some(m.as_str().into()),
        })
        .unwrap()
    }

    /// The type of the identity that admits (client id, username, password), or the refusal.
    fn outcome(ix: &Index, c: &str, u: &str, p: &str) -> Result<IdentityType, Refusal> {
        let connect = Connect {
            client_id: c,
            username: u,
            password: p.as_bytes(),
        };
        match decide(ix, &connect) {
            Decision::Admit(i) => Ok(i.identity_type),
            Decision::Refuse(r) => Err(r),
        }
    }

    /// Asserts each (client id, username, password) case's outcome.
    fn check(ix: &Index, cases: &[(&str, &str, &str, Result<IdentityType, Refusal>)]) {
        for &(c, u, p, want) in cases {
            assert_eq!(outcome(ix, c, u, p), want, "{c:?} {u:?} {p:?}");
        }
    }

    const S: &str = "62a5916d71767185b48907d85c2efae2";
    const ICP: &str = "GID_ICP@@@4d378084";
    const TEST: &str = "GID_test@@@test";
    // docs/identities.md, computed with Python's hmac: S signed for ICP and for TEST.
    const ICP_PW: &str = "P+SmVoTf3AU9RoxclbU9WOcbmyM=";
    const TEST_PW: &str = "8R9v0rSDYq15E0Raz/GJmgxtPLk=";

    use IdentityType::{Client, User};
    use Refusal::{BadPassword, Blacklisted, UnknownIdentity};

    #[test]
    fn precedence_specific_wins_and_general_is_not_tried() {
        let (ix, report) = Index::build(
            [
                id("fleet", "user-secret", User, None, SignMode::Origin),
                id(
                    "fleet",
                    "client-secret",
                    Client,
                    Some("dev-1"),
                    SignMode::Origin,
                ),
            ],
            [],
        );
        assert!(report.duplicates.is_empty());
        check(
            &ix,
            &[
                // dev-1 has its own identity: only its secret works.
                ("dev-1", "fleet", "client-secret", Ok(Client)),
                ("dev-1", "fleet", "user-secret", Err(BadPassword)),
                // any other client id falls to the USER identity.
                ("dev-2", "fleet", "user-secret", Ok(User)),
                ("dev-2", "fleet", "client-secret", Err(BadPassword)),
                ("dev-1", "nobody", "client-secret", Err(UnknownIdentity)),
            ],
        );
    }

    #[test]
    fn client_identity_alone_does_not_admit_other_client_ids() {
        let (ix, _) = Index::build([id("u", S, Client, Some(ICP), SignMode::Signed)], []);
        check(
            &ix,
            &[
                (ICP, "u", ICP_PW, Ok(Client)),
                (TEST, "u", TEST_PW, Err(UnknownIdentity)),
            ],
        );
    }

    #[test]
    fn user_signed_checks_the_client_id_sent() {
        let (ix, _) = Index::build([id("u", S, User, None, SignMode::Signed)], []);
        check(
            &ix,
            &[
                (ICP, "u", ICP_PW, Ok(User)),
                (TEST, "u", TEST_PW, Ok(User)),
                // signed for another client id
                (TEST, "u", ICP_PW, Err(BadPassword)),
                // the secret itself is not a SIGNED password
                (TEST, "u", S, Err(BadPassword)),
                (TEST, "u", "", Err(BadPassword)),
            ],
        );
    }

    #[test]
    fn origin_compares_whole_secret() {
        let (ix, _) = Index::build([id("u", "abc", User, None, SignMode::Origin)], []);
        check(&ix, &[("x", "u", "abc", Ok(User))]);
        for wrong in ["", "ab", "abcd", "ABC", "abd"] {
            check(&ix, &[("x", "u", wrong, Err(BadPassword))]);
        }
    }

    #[test]
    fn blacklist_refuses_whatever_the_credentials() {
        let (ix, _) = Index::build(
            [id("u", "abc", User, None, SignMode::Origin)],
            ["banned".to_string()],
        );
        check(
            &ix,
            &[
                ("banned", "u", "abc", Err(Blacklisted)),
                ("fine", "u", "abc", Ok(User)),
            ],
        );
        assert_eq!(ix.stats().blacklisted_client_ids, 1);
    }

    #[test]
    fn ct_eq_agrees_with_slice_equality_across_word_boundaries() {
        // Lengths around the 8-byte words, a difference at every position, and unequal lengths.
        let base: Vec<u8> = (0u8..40).collect();
        for len in 0..=base.len() {
            let a = &base[..len];
            assert!(ct_eq(a, a), "{len}");
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x80;
                assert!(!ct_eq(a, &b), "{len} {at}");
            }
            if len > 0 {
                assert!(!ct_eq(a, &base[..len - 1]), "{len}");
            }
        }
    }

    #[test]
    fn duplicates_are_reported_and_the_later_wins() {
        let (ix, report) = Index::build(
            [
                id("u", "old", IdentityType::User, None, SignMode::Origin),
                id("u", "new", IdentityType::User, None, SignMode::Signed),
            ],
            [],
        );
        assert_eq!(report.duplicates.len(), 1);
        let msg = report.duplicates[0].to_string();
        assert!(msg.contains("USER \"u\"") && msg.contains("later"), "{msg}");
        assert!(!msg.contains("old") && !msg.contains("new"), "{msg}");
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.stats().user_signed, 1);
        assert_eq!(ix.stats().user_origin, 0);
    }

    #[test]
    fn debug_of_connect_hides_password() {
        let c = Connect {
            client_id: "c",
            username: "u",
            password: b"pa55word",
        };
        assert!(!format!("{c:?}").contains("pa55word"));
    }
}
