//! The `SIGNED` arithmetic: `Base64(HMAC-SHA1(key = secret, data = client id))`, and the
//! pre-keyed HMAC state that lets a CONNECT skip the key schedule.
//!
//! A leaf: it knows nothing of identities, the index or the decision.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Length of a `SIGNED` password: Base64 of a 20-byte HMAC-SHA1, padded.
pub const SIGNED_PASSWORD_LEN: usize = 28;

/// An HMAC-SHA1 state keyed with a secret: the key pads absorbed, nothing else fed. It is
/// secret-equivalent (it signs any client id), so it is overwritten when dropped.
///
/// `hmac`'s state has private fields and no `Zeroize`; the wipe is the one the `zeroize` crate
/// documents for such third-party types: assign a value that holds nothing secret (the state of
/// the empty key), then [`zeroize::optimization_barrier`], so the stores are not optimised away.
/// Copies made by moves before it reached its place (and the one [`KeyedMac::sign_into`] makes
/// on the stack per call) are not reached, as `zeroize` itself warns.
pub(crate) struct KeyedMac(Hmac<Sha1>);

/// The state of the empty key: what a dropped [`KeyedMac`] is overwritten with.
static BLANK: LazyLock<Hmac<Sha1>> = LazyLock::new(|| keyed(b""));

fn keyed(secret: &[u8]) -> Hmac<Sha1> {
    Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length")
}

impl KeyedMac {
    /// Runs the key schedule of `secret` (the costly part, done once per index build).
    pub(crate) fn new(secret: &str) -> Self {
        KeyedMac(keyed(secret.as_bytes()))
    }

    /// Writes the `SIGNED` password of `client_id` into `out`: a copy of the state fed the client
    /// id and finished, then Base64. No allocation, no key schedule.
    pub(crate) fn sign_into(&self, client_id: &str, out: &mut [u8; SIGNED_PASSWORD_LEN]) {
        let mut mac = self.0.clone();
        mac.update(client_id.as_bytes());
        let n = STANDARD
            .encode_slice(mac.finalize().into_bytes(), out)
            .expect("28 bytes hold the Base64 of 20");
        debug_assert_eq!(n, SIGNED_PASSWORD_LEN);
    }

    /// Overwrites the state with the empty key's (see the type's documentation).
    fn wipe(&mut self) {
        self.0.clone_from(&BLANK);
        zeroize::optimization_barrier(&self.0);
    }
}

impl Drop for KeyedMac {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl ZeroizeOnDrop for KeyedMac {}

/// The `SIGNED` password of `client_id` under `secret`: `Base64(HMAC-SHA1(secret, client_id))`.
/// For provisioning and tools; the CONNECT path uses a pre-keyed state built with the index.
pub fn signed_password(secret: &str, client_id: &str) -> String {
    let mut out = Zeroizing::new([0u8; SIGNED_PASSWORD_LEN]);
    KeyedMac::new(secret).sign_into(client_id, &mut out);
    String::from_utf8(out.to_vec()).expect("Base64 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wiped_state_signs_as_the_empty_key() {
        // What `Drop` does, observed on a live state: afterwards it signs as the empty key does
        // (the answer is Python's `hmac.new(b"", b"GID_test@@@test", sha1)`), so nothing of the
        // secret is left in it.
        let mut mac = KeyedMac::new("62a5916d71767185b48907d85c2efae2");
        let mut out = [0u8; SIGNED_PASSWORD_LEN];
        mac.sign_into("GID_test@@@test", &mut out);
        assert_eq!(&out, b"8R9v0rSDYq15E0Raz/GJmgxtPLk=");
        mac.wipe();
        mac.sign_into("GID_test@@@test", &mut out);
        assert_eq!(&out, b"YBw9c+pwLqpJT6uWdlKsYCo6JK8=");
    }
}
