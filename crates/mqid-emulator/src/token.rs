//! `NextToken`: an opaque cursor, standard Base64 of a small binary record.
//!
//! A token names the key of the last record served (not an offset), the list it pages (identities,
//! blacklist or permissions) and a hash of the filters of the query. The next page starts at the first record
//! whose key is greater, in the file as it is *then*: a record that stays in the file for a whole
//! pass is served exactly once, even if other records are added or removed meanwhile (records
//! added behind the cursor are not seen until the next pass), the way a cursor over a sorted
//! table behaves. A token does not depend on the emulator process, so it stays valid across a
//! restart. A token that does not decode, or that comes from another list or other filters, is
//! refused with `InvalidParameter.NextToken`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::store::{Key, Kind};

const MAGIC: u8 = b'Q';
const VERSION: u8 = 1;

/// The 32-bit FNV-1a hash of the filter values, each followed by a separator.
pub(crate) fn filter_hash(filters: &[Option<&str>]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |b: u8| {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    };
    for f in filters {
        match f {
            None => eat(0),
            Some(s) => {
                eat(1);
                s.bytes().for_each(&mut eat);
            }
        }
        eat(0xff);
    }
    h
}

fn kind_byte(kind: Kind) -> u8 {
    match kind {
        Kind::Identities => 1,
        Kind::Blacklist => 2,
        Kind::Permissions => 3,
    }
}

pub(crate) fn encode(kind: Kind, filters: u32, last: &Key) -> String {
    let mut b = vec![MAGIC, VERSION, kind_byte(kind)];
    b.extend_from_slice(&filters.to_be_bytes());
    for f in &last.fields {
        // Field lengths come from a JSON file; clip absurd ones rather than panic (such a key then
        // resumes slightly early, which only repeats records).
        let bytes = &f.as_bytes()[..f.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        b.extend_from_slice(bytes);
    }
    b.extend_from_slice(&last.position.to_be_bytes());
    STANDARD.encode(b)
}

/// Why a token was refused (for the `InvalidParameter.NextToken` message).
pub(crate) fn decode(token: &str, kind: Kind, filters: u32) -> Result<Key, &'static str> {
    let b = STANDARD
        .decode(token)
        .map_err(|_| "is not a token this API issued")?;
    let mut r = Reader(&b);
    if r.take(3)? != [MAGIC, VERSION, kind_byte(kind)] {
        return Err("is not a token of this operation");
    }
    if r.u32()? != filters {
        return Err("was issued for other filters");
    }
    let mut fields: [String; 3] = Default::default();
    for f in &mut fields {
        let len = r.u16()? as usize;
        *f = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| "is corrupt")?;
    }
    let position = r.u32()?;
    if !r.0.is_empty() {
        return Err("is corrupt");
    }
    Ok(Key { fields, position })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("is truncated");
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            fields: ["user é".into(), "CLIENT".into(), "GID_x@@@1".into()],
            position: 7,
        }
    }

    #[test]
    fn round_trip() {
        let h = filter_hash(&[Some("u"), None, None]);
        let t = encode(Kind::Identities, h, &key());
        assert!(t.parse::<u64>().is_err());
        assert_eq!(decode(&t, Kind::Identities, h), Ok(key()));
    }

    #[test]
    fn refuses_other_lists_filters_and_garbage() {
        let h = filter_hash(&[None, None, None]);
        let t = encode(Kind::Identities, h, &key());
        assert!(decode(&t, Kind::Blacklist, h).is_err());
        assert!(decode(&t, Kind::Permissions, h).is_err());
        assert!(decode(&t, Kind::Identities, filter_hash(&[Some(""), None, None])).is_err());
        assert!(decode("2", Kind::Identities, h).is_err());
        assert!(decode("!!!", Kind::Identities, h).is_err());
        let mut b = STANDARD.decode(&t).unwrap();
        b.pop();
        assert!(decode(&STANDARD.encode(&b), Kind::Identities, h).is_err());
        b.extend_from_slice(&[0, 0]);
        assert!(decode(&STANDARD.encode(&b), Kind::Identities, h).is_err());
    }

    #[test]
    fn filter_hash_separates_fields() {
        assert_ne!(
            filter_hash(&[Some("ab"), Some("c")]),
            filter_hash(&[Some("a"), Some("bc")])
        );
        assert_ne!(filter_hash(&[None]), filter_hash(&[Some("")]));
    }
}
