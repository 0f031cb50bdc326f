//! MQTT topic names and filters: validation, matching, coverage and shared subscriptions.
//!
//! The rules are MQTT's (3.1.1 §4.7, 5.0 §4.7): levels are separated by `/` and may be empty;
//! `+` matches exactly one level, `#` matches the parent level and any number of levels below
//! and stands only as the last level; each wildcard fills a whole level. A filter whose first
//! level is a wildcard never matches a topic whose first level starts with `$`.
//!
//! Every function here is allocation-free.

/// Why a string is not a valid topic filter or topic name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("it is empty")]
    Empty,
    #[error("'#' is allowed only as the whole last level")]
    MisplacedHash,
    #[error("'+' is allowed only as a whole level")]
    MisplacedPlus,
    #[error("a topic name may not contain '+' or '#'")]
    WildcardInName,
    #[error("it contains the NUL character")]
    Nul,
    #[error("it is longer than 65535 bytes")]
    TooLong,
    #[error(
        "a shared subscription is $share/<group>/<filter> with a non-empty group without wildcards"
    )]
    BadShare,
}

/// MQTT's limit on the length of a topic, in bytes (a UTF-8 string with a 16-bit length).
pub const MAX_TOPIC_BYTES: usize = 65_535;

/// The prefix of a shared subscription (MQTT 5 §4.8.2).
const SHARE: &str = "$share/";

/// What every topic name and filter must be: non-empty, at most 65535 bytes, no NUL.
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        Err(TopicError::Empty)
    } else if s.len() > MAX_TOPIC_BYTES {
        Err(TopicError::TooLong)
    } else if s.as_bytes().contains(&0) {
        Err(TopicError::Nul)
    } else {
        Ok(())
    }
}

/// Checks that `filter` is a valid MQTT topic filter. (A `$share/G/F` filter is a valid filter
/// here when it is one syntactically; [`strip_share`] checks its structure.)
pub fn check_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedHash);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedPlus);
        }
    }
    Ok(())
}

/// Checks that `topic` is a valid MQTT topic name (what a PUBLISH carries).
pub fn check_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Whether the first level of `filter` is a wildcard, so that it never matches a `$` topic.
#[inline]
fn starts_wild(filter: &str) -> bool {
    matches!(filter.as_bytes().first(), Some(b'+' | b'#'))
}

/// Whether `filter` (valid) matches the topic name `topic` (valid).
///
/// `#` matches its parent level too (`a/#` matches `a`); a filter whose first level is `+` or
/// `#` matches no topic whose first level starts with `$`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && starts_wild(filter) {
        return false;
    }
    // Byte by byte, both at the start of a level at the top of the loop. In a valid filter `+`
    // and `#` are whole levels, so one byte says which kind of level this is.
    let (f, t) = (filter.as_bytes(), topic.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        match f.get(i) {
            Some(b'#') => return true,
            Some(b'+') => {
                i += 1;
                while j < t.len() && t[j] != b'/' {
                    j += 1;
                }
            }
            _ => {
                while i < f.len() && f[i] != b'/' {
                    if t.get(j) != Some(&f[i]) {
                        return false;
                    }
                    i += 1;
                    j += 1;
                }
                if j < t.len() && t[j] != b'/' {
                    return false;
                }
            }
        }
        // Both at the end of a level.
        match (i == f.len(), j == t.len()) {
            (true, true) => return true,
            (false, false) => {
                i += 1;
                j += 1;
            }
            // The topic ended: only a last `#` (matching its parent) is left to match.
            (false, true) => return &f[i..] == b"/#",
            (true, false) => return false,
        }
    }
}

/// Whether `wide` covers `narrow` (both valid filters): every topic name that `narrow` matches,
/// `wide` matches too.
///
/// Decided level by level: `#` in `wide` covers whatever is left of `narrow`; `+` covers one
/// level of `narrow` that is not `#`; a literal covers only the same literal. Two corners:
///
/// * a `#` in `narrow` also matches its parent topic, unless that parent would be the empty
///   topic name, which is not a valid topic: `#` matches exactly what `+/#` matches, and `/#`
///   exactly what `/+/#` matches, so there the `#` counts as `+/#`;
/// * the `$` rule: a `wide` starting with a wildcard matches no topic whose first level starts
///   with `$`, and a `narrow` starting with such a literal matches only those.
pub fn covers(wide: &str, narrow: &str) -> bool {
    if starts_wild(wide) && narrow.starts_with('$') {
        return false;
    }
    let (mut w, mut n) = (wide.split('/'), narrow.split('/'));
    // Whether the levels of `narrow` walked so far join to "" (none yet, or one empty level).
    let mut empty_parent = true;
    let mut first = true;
    loop {
        let (wl, nl) = (w.next(), n.next());
        match (wl, nl) {
            (Some("#"), _) => return true,
            (Some("+"), Some("#")) if empty_parent => return w.next() == Some("#"),
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(wl), Some(nl)) if wl == nl && nl != "+" => {}
            (None, None) => return true,
            _ => return false,
        }
        empty_parent = first && nl == Some("");
        first = false;
    }
}

/// The filter a subscription applies: `F` for `$share/G/F`, the filter itself otherwise.
/// Refuses a malformed `$share/...` (no `/` after the group, an empty group, a group with a
/// wildcard, an empty F) with [`TopicError::BadShare`], and an F (or plain filter) that is not a
/// valid filter with its own error.
pub fn strip_share(filter: &str) -> Result<&str, TopicError> {
    check_common(filter)?;
    let Some(rest) = filter.strip_prefix(SHARE) else {
        check_filter(filter)?;
        return Ok(filter);
    };
    let (group, inner) = rest.split_once('/').ok_or(TopicError::BadShare)?;
    if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
        return Err(TopicError::BadShare);
    }
    check_filter(inner)?;
    Ok(inner)
}
