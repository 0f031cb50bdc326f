//! Text that came from a device or a server, shortened before it goes into a log line or an
//! error message, so that a hostile input cannot make either huge. Two shapes, one each:
//! [`log_field`] borrows a cut for a log field (quoted with `?`, so the cut shows as the closing
//! quote); [`ellipsize`] makes an owned copy that says it was cut, for error messages.

/// How many characters of a device-chosen string a log field keeps (a valid client id has at
/// most 64; usernames are longer in practice).
pub const LOG_FIELD_CHARS: usize = 128;

/// At most [`LOG_FIELD_CHARS`] characters of `s`, cut at a character boundary. No allocation.
pub fn log_field(s: &str) -> &str {
    match s.char_indices().nth(LOG_FIELD_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The first `max_chars` characters of `s`, followed by `…` when that is not all of it.
pub fn ellipsize(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_field_keeps_char_boundaries_and_short_text() {
        let long = "é".repeat(200);
        let c = log_field(&long);
        assert_eq!(c.chars().count(), LOG_FIELD_CHARS);
        assert!(c.chars().all(|ch| ch == 'é'));
        assert_eq!(log_field("short"), "short");
        let exact = "x".repeat(LOG_FIELD_CHARS);
        assert_eq!(log_field(&exact), exact);
    }

    #[test]
    fn ellipsize_marks_a_cut_only() {
        assert_eq!(ellipsize("abc", 3), "abc");
        assert_eq!(ellipsize("abcd", 3), "abc…");
        assert_eq!(ellipsize("ééé", 2), "éé…");
        assert_eq!(ellipsize("", 0), "");
    }
}
