//! The CONNECT decision: the hot path.
//!
//! Contract of [`Index::decide`]: no heap allocation, no lock, no I/O, no HMAC key schedule;
//! password comparison is constant-time in the password's content. It returns the matched
//! identity so that later checks (topic permissions) can hang off it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::index::{Check, Record};
use crate::{Identity, Index};

/// Length of a `SIGNED` password: Base64 of a 20-byte HMAC-SHA1, padded.
pub const SIGNED_PASSWORD_LEN: usize = 28;

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
/// [`Index::decide`] returns the first three and `ClientIdTooLong`; `RateLimited` and `Stale`
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

/// Finishes a pre-keyed HMAC over `client_id` and writes its Base64 into `out`, on the stack.
pub(crate) fn sign_into(mut mac: Hmac<Sha1>, client_id: &str, out: &mut [u8; SIGNED_PASSWORD_LEN]) {
    mac.update(client_id.as_bytes());
    let tag = mac.finalize().into_bytes();
    let n = STANDARD
        .encode_slice(tag, out)
        .expect("28 bytes hold the Base64 of 20");
    debug_assert_eq!(n, SIGNED_PASSWORD_LEN);
}

/// The `SIGNED` password of `client_id` under `secret`: `Base64(HMAC-SHA1(secret, client_id))`.
/// For provisioning and tools; the CONNECT path uses pre-keyed state instead.
pub fn signed_password(secret: &str, client_id: &str) -> String {
    let mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    let mut out = [0u8; SIGNED_PASSWORD_LEN];
    sign_into(mac, client_id, &mut out);
    String::from_utf8(out.to_vec()).expect("Base64 is ASCII")
}

/// Whether `a == b`, in a time that depends on the lengths only. Word-wise: `subtle`'s slice
/// compare goes a byte at a time behind an optimisation barrier (~45 ns for 32 bytes).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes"));
    let mut diff = 0u64;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        diff |= word(x) ^ word(y);
    }
    let tail = a.len() - a.len() % 8;
    for (x, y) in a[tail..].iter().zip(&b[tail..]) {
        diff |= u64::from(x ^ y);
    }
    bool::from(diff.ct_eq(&0))
}

/// Whether `client_id` has more than [`MAX_ID_CHARS`](crate::MAX_ID_CHARS) characters. No
/// allocation; counts characters only when the byte length could exceed the limit.
fn client_id_too_long(client_id: &str) -> bool {
    client_id.len() > crate::MAX_ID_CHARS && client_id.chars().count() > crate::MAX_ID_CHARS
}

impl Index {
    fn verify(&self, record: &Record<'_>, client_id: &str, password: &[u8]) -> bool {
        match record.check {
            Check::Origin(secret) => ct_eq(password, secret),
            Check::SignedClient(expected) => ct_eq(password, expected),
            Check::SignedUser(keyed) => {
                if password.len() != SIGNED_PASSWORD_LEN {
                    return false;
                }
                let mut expected = [0u8; SIGNED_PASSWORD_LEN];
                sign_into(keyed.clone(), client_id, &mut expected);
                ct_eq(password, &expected)
            }
            Check::OriginFar => {
                let secret = self.identity(record.identity).secret.expose();
                ct_eq(password, secret.as_bytes())
            }
        }
    }

    /// Decides a CONNECT: the `CLIENT` identity for (username, client id) if there is one,
    /// otherwise the `USER` identity for the username, otherwise refused. The more specific
    /// identity wins; when it exists and its password fails, the `USER` one is not tried.
    /// A client id over [`MAX_ID_CHARS`](crate::MAX_ID_CHARS) characters is refused first, as
    /// ApsaraMQ refuses it; then a blacklisted client id, whatever its credentials.
    pub fn decide<'a>(&'a self, connect: &Connect<'_>) -> Decision<'a> {
        if client_id_too_long(connect.client_id) {
            return Decision::Refuse(Refusal::ClientIdTooLong);
        }
        if !self.blacklist.is_empty() && self.blacklist.contains(connect.client_id) {
            return Decision::Refuse(Refusal::Blacklisted);
        }
        let Some(record) = self.lookup(connect.username, connect.client_id) else {
            return Decision::Refuse(Refusal::UnknownIdentity);
        };
        if self.verify(&record, connect.client_id, connect.password) {
            Decision::Admit(self.identity(record.identity))
        } else {
            Decision::Refuse(Refusal::BadPassword)
        }
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

    fn decide<'a>(ix: &'a Index, c: &str, u: &str, p: &str) -> Decision<'a> {
        ix.decide(&Connect {
            client_id: c,
            username: u,
            password: p.as_bytes(),
        })
    }

    const S: &str = "62a5916d71767185b48907d85c2efae2";

    #[test]
    fn precedence_specific_wins_and_general_is_not_tried() {
        let (ix, report) = Index::build(
            [
                id(
                    "fleet",
                    "user-secret",
                    IdentityType::User,
                    None,
                    SignMode::Origin,
                ),
                id(
                    "fleet",
                    "client-secret",
                    IdentityType::Client,
                    Some("dev-1"),
                    SignMode::Origin,
                ),
            ],
            [],
        );
        assert!(report.duplicates.is_empty());
        // dev-1 has its own identity: only its secret works.
        match decide(&ix, "dev-1", "fleet", "client-secret") {
            Decision::Admit(i) => assert_eq!(i.identity_type, IdentityType::Client),
            d => panic!("{d:?}"),
        }
        assert_eq!(
            decide(&ix, "dev-1", "fleet", "user-secret"),
            Decision::Refuse(Refusal::BadPassword)
        );
        // any other client id falls to the USER identity.
        match decide(&ix, "dev-2", "fleet", "user-secret") {
            Decision::Admit(i) => assert_eq!(i.identity_type, IdentityType::User),
            d => panic!("{d:?}"),
        }
        assert_eq!(
            decide(&ix, "dev-2", "fleet", "client-secret"),
            Decision::Refuse(Refusal::BadPassword)
        );
        assert_eq!(
            decide(&ix, "dev-1", "nobody", "client-secret"),
            Decision::Refuse(Refusal::UnknownIdentity)
        );
    }

    #[test]
    fn client_identity_alone_does_not_admit_other_client_ids() {
        let (ix, _) = Index::build(
            [id(
                "u",
                S,
                IdentityType::Client,
                Some("GID_ICP@@@4d378084"),
                SignMode::Signed,
            )],
            [],
        );
        assert!(decide(
            &ix,
            "GID_ICP@@@4d378084",
            "u",
            "P+SmVoTf3AU9RoxclbU9WOcbmyM="
        )
        .is_admit());
        assert_eq!(
            decide(&ix, "GID_test@@@test", "u", "8R9v0rSDYq15E0Raz/GJmgxtPLk="),
            Decision::Refuse(Refusal::UnknownIdentity)
        );
    }

    #[test]
    fn user_signed_checks_the_client_id_sent() {
        let (ix, _) = Index::build([id("u", S, IdentityType::User, None, SignMode::Signed)], []);
        assert!(decide(
            &ix,
            "GID_ICP@@@4d378084",
            "u",
            "P+SmVoTf3AU9RoxclbU9WOcbmyM="
        )
        .is_admit());
        assert!(decide(&ix, "GID_test@@@test", "u", "8R9v0rSDYq15E0Raz/GJmgxtPLk=").is_admit());
        // signed for another client id
        assert_eq!(
            decide(&ix, "GID_test@@@test", "u", "P+SmVoTf3AU9RoxclbU9WOcbmyM="),
            Decision::Refuse(Refusal::BadPassword)
        );
        // the secret itself is not a SIGNED password
        assert_eq!(
            decide(&ix, "GID_test@@@test", "u", S),
            Decision::Refuse(Refusal::BadPassword)
        );
        assert_eq!(
            decide(&ix, "GID_test@@@test", "u", ""),
            Decision::Refuse(Refusal::BadPassword)
        );
    }

    #[test]
    fn origin_compares_whole_secret() {
        let (ix, _) = Index::build(
            [id("u", "abc", IdentityType::User, None, SignMode::Origin)],
            [],
        );
        assert!(decide(&ix, "x", "u", "abc").is_admit());
        for wrong in ["", "ab", "abcd", "ABC", "abd"] {
            assert_eq!(
                decide(&ix, "x", "u", wrong),
                Decision::Refuse(Refusal::BadPassword),
                "{wrong}"
            );
        }
    }

    #[test]
    fn blacklist_refuses_whatever_the_credentials() {
        let (ix, _) = Index::build(
            [id("u", "abc", IdentityType::User, None, SignMode::Origin)],
            ["banned".to_string()],
        );
        assert_eq!(
            decide(&ix, "banned", "u", "abc"),
            Decision::Refuse(Refusal::Blacklisted)
        );
        assert!(decide(&ix, "fine", "u", "abc").is_admit());
        assert_eq!(ix.stats().blacklisted_client_ids, 1);
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
