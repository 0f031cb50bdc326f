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
    parse_identity_list, Connect, Decision, Identity, IdentityKey, IdentityType, Index, Refusal,
    SignMode, MAX_ID_CHARS,
};
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

/// Asserts that `message` repeats none of the input's `Secret` values. Only secrets that cannot
/// be in the message for another reason are checked: at least 16 ASCII letters and digits, and
/// not part of any other string, key or number of the input.
pub fn assert_no_secret_quoted(input: &[u8], message: &str) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) else {
        return; // syntax errors quote nothing of the input
    };
    let mut secrets = Vec::new();
    let mut others = Vec::new();
    collect_strings(&value, &mut secrets, &mut others);
    for s in secrets {
        if s.len() < 16 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if others.iter().any(|o| o.contains(s.as_str())) {
            continue;
        }
        assert!(
            !message.contains(&s),
            "the message repeats a secret: {message}"
        );
    }
}

fn collect_strings(v: &serde_json::Value, secrets: &mut Vec<String>, others: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::String(s) => others.push(s.clone()),
        Value::Number(n) => others.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, secrets, others)),
        Value::Object(m) => {
            for (k, x) in m {
                others.push(k.clone());
                match x {
                    Value::String(s) if k == "Secret" => secrets.push(s.clone()),
                    _ => collect_strings(x, secrets, others),
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
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
