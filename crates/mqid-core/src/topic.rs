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

/// Checks that `filter` is a valid MQTT topic filter.
pub fn check_filter(filter: &str) -> Result<(), TopicError> {
    let _ = filter;
    todo!("topic::check_filter")
}

/// Checks that `topic` is a valid MQTT topic name (what a PUBLISH carries).
pub fn check_name(topic: &str) -> Result<(), TopicError> {
    let _ = topic;
    todo!("topic::check_name")
}

/// Whether `filter` (valid) matches the topic name `topic` (valid).
pub fn matches(filter: &str, topic: &str) -> bool {
    let _ = (filter, topic);
    todo!("topic::matches")
}

/// Whether `wide` covers `narrow` (both valid filters): every topic name that `narrow` matches,
/// `wide` matches too.
pub fn covers(wide: &str, narrow: &str) -> bool {
    let _ = (wide, narrow);
    todo!("topic::covers")
}

/// The filter a subscription applies: `F` for `$share/G/F`, the filter itself otherwise.
/// Refuses a malformed `$share/...`.
pub fn strip_share(filter: &str) -> Result<&str, TopicError> {
    let _ = filter;
    todo!("topic::strip_share")
}
