//! Deterministic synthetic identities and CONNECT probes.
//!
//! Identity `i` of an index of `n`:
//!
//! | `i % 4` | type   | mode   | username          | client id          |
//! |---------|--------|--------|-------------------|--------------------|
//! | 0       | USER   | ORIGIN | `user-{i:08}`     | -                  |
//! | 1       | CLIENT | ORIGIN | `fleet-{i/16:07}` | `GID_dev@@@{i:08}` |
//! | 2       | USER   | SIGNED | `user-{i:08}`     | -                  |
//! | 3       | CLIENT | SIGNED | `fleet-{i/16:07}` | `GID_dev@@@{i:08}` |
//!
//! Half are USER, half CLIENT, half ORIGIN, half SIGNED; CLIENT identities come eight to a
//! username (a fleet). Secrets are 32 hex characters, as ApsaraMQ issues them. Probes pick
//! identities spread over the whole index with a hash of their position, so a run touches many
//! keys and no single hot one.

use mqid_core::{signed_password, Connect, Identity, IdentityType, Secret, SignMode};

/// SplitMix64: a fast, well-mixed hash of a counter.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Type and mode of identity `i`.
pub fn kind(i: usize) -> (IdentityType, SignMode) {
    match i % 4 {
        0 => (IdentityType::User, SignMode::Origin),
        1 => (IdentityType::Client, SignMode::Origin),
        2 => (IdentityType::User, SignMode::Signed),
        _ => (IdentityType::Client, SignMode::Signed),
    }
}

pub fn username(i: usize) -> String {
    match kind(i).0 {
        IdentityType::User => format!("user-{i:08}"),
        IdentityType::Client => format!("fleet-{:07}", i / 16),
    }
}

/// The client id of a CLIENT identity.
pub fn client_id(i: usize) -> String {
    format!("GID_dev@@@{i:08}")
}

pub fn secret(i: usize) -> String {
    format!("{:016x}{:016x}", mix(2 * i as u64), mix(2 * i as u64 + 1))
}

pub fn identity(i: usize) -> Identity {
    let (identity_type, sign_mode) = kind(i);
    Identity {
        username: username(i),
        secret: Secret::new(secret(i)),
        identity_type,
        client_id: (identity_type == IdentityType::Client).then(|| client_id(i)),
        sign_mode,
    }
}

/// Identities `0..n`.
pub fn identities(n: usize) -> Vec<Identity> {
    (0..n).map(identity).collect()
}

/// The password that admits identity `i` when it connects with `client_id`.
pub fn password(i: usize, client_id: &str) -> String {
    match kind(i).1 {
        SignMode::Origin => secret(i),
        SignMode::Signed => signed_password(&secret(i), client_id),
    }
}

/// A password of the right length that does not admit identity `i`.
pub fn wrong_password(i: usize, client_id: &str) -> String {
    match kind(i).1 {
        SignMode::Origin => secret(i + 1),
        SignMode::Signed => signed_password("not-the-secret", client_id),
    }
}

/// One CONNECT workload of the hot-path bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Case {
    UserOrigin,
    UserSigned,
    ClientOrigin,
    ClientSigned,
    /// A username that no identity has.
    UnknownUser,
    /// An existing identity (all four kinds, in turn) with a wrong password of the right length.
    WrongPassword,
}

impl Case {
    pub const ALL: [Case; 6] = [
        Case::UserOrigin,
        Case::UserSigned,
        Case::ClientOrigin,
        Case::ClientSigned,
        Case::UnknownUser,
        Case::WrongPassword,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::UserOrigin => "USER/ORIGIN",
            Case::UserSigned => "USER/SIGNED",
            Case::ClientOrigin => "CLIENT/ORIGIN",
            Case::ClientSigned => "CLIENT/SIGNED",
            Case::UnknownUser => "unknown user",
            Case::WrongPassword => "wrong password",
        }
    }

    /// Whether every probe of this case is admitted.
    pub fn admits(self) -> bool {
        !matches!(self, Case::UnknownUser | Case::WrongPassword)
    }
}

/// CONNECT probes stored in one buffer (no allocation per probe, sequential in memory).
#[derive(Default)]
pub struct Probes {
    buf: String,
    items: Vec<[u32; 6]>,
}

impl Probes {
    pub fn with_capacity(count: usize) -> Self {
        Probes {
            buf: String::with_capacity(count * 80),
            items: Vec::with_capacity(count),
        }
    }

    pub fn push(&mut self, client_id: &str, username: &str, password: &str) {
        let mut item = [0u32; 6];
        for (k, s) in [client_id, username, password].into_iter().enumerate() {
            item[2 * k] = self.buf.len() as u32;
            item[2 * k + 1] = s.len() as u32;
            self.buf.push_str(s);
        }
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Probe `k` (modulo the number of probes: a mask when that is a power of two, so that the
    /// timed loops pay no division).
    #[inline]
    pub fn get(&self, k: usize) -> Connect<'_> {
        let n = self.items.len();
        let k = if n.is_power_of_two() {
            k & (n - 1)
        } else {
            k % n
        };
        let it = &self.items[k];
        let s = |a: u32, l: u32| &self.buf[a as usize..(a + l) as usize];
        Connect {
            client_id: s(it[0], it[1]),
            username: s(it[2], it[3]),
            password: s(it[4], it[5]).as_bytes(),
        }
    }
}

/// Identity `i` (of `n`) of kind number `kind4` (`i % 4`), drawn from hash `h`.
fn pick(n: usize, kind4: usize, h: u64) -> usize {
    let groups = n / 4;
    assert!(groups > 0, "an index of at least 4 identities");
    (h % groups as u64) as usize * 4 + kind4
}

/// A client id for USER identities (any client id may use them): like the CLIENT ones.
fn any_client_id(h: u64) -> String {
    format!("GID_any@@@{:08}", h % 100_000_000)
}

/// `count` probes of `case` over an index of identities `0..n`, drawn with `seed`.
pub fn probes(case: Case, n: usize, count: usize, seed: u64) -> Probes {
    let mut p = Probes::with_capacity(count);
    for k in 0..count as u64 {
        let h = mix(seed ^ mix(k));
        let h2 = mix(h);
        let (kind4, wrong) = match case {
            Case::UserOrigin => (0, false),
            Case::ClientOrigin => (1, false),
            Case::UserSigned => (2, false),
            Case::ClientSigned => (3, false),
            Case::WrongPassword => ((k % 4) as usize, true),
            Case::UnknownUser => {
                let cid = any_client_id(h2);
                p.push(&cid, &format!("nobody-{:08}", h % 100_000_000), &secret(0));
                continue;
            }
        };
        let i = pick(n, kind4, h);
        let cid = match kind(i).0 {
            IdentityType::User => any_client_id(h2),
            IdentityType::Client => client_id(i),
        };
        let pass = if wrong {
            wrong_password(i, &cid)
        } else {
            password(i, &cid)
        };
        p.push(&cid, &username(i), &pass);
    }
    p
}

/// The six cases' probes interleaved (probe `k` is of case `k % 6`), for mixed workloads.
pub fn mixed_probes(n: usize, count: usize, seed: u64) -> Probes {
    let per = count.div_ceil(Case::ALL.len());
    let sets: Vec<Probes> = Case::ALL
        .iter()
        .enumerate()
        .map(|(j, &c)| probes(c, n, per, seed ^ (j as u64 + 1)))
        .collect();
    let mut out = Probes::with_capacity(per * sets.len());
    for k in 0..per {
        for s in &sets {
            let c = s.get(k);
            out.push(
                c.client_id,
                c.username,
                std::str::from_utf8(c.password).expect("probes are UTF-8"),
            );
        }
    }
    out
}
