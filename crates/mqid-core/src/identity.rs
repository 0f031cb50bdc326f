//! The identity record of `QueryCustomAuthIdentity`, and its validation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::{self, clip, ApiRecord, ListFailure};
use crate::Secret;

/// The longest `Username` or `ClientId` ApsaraMQ accepts, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// The longest `Secret` mqid accepts, in bytes (mqid's rule): 65,535, the longest password an
/// MQTT CONNECT can carry (a two-byte length in MQTT 3.1.1 and 5.0). An `ORIGIN` secret longer
/// than that could never be presented; ApsaraMQ's secrets are far shorter (its examples show 32
/// hex characters). The cap also lets an index record hold any `ORIGIN` secret.
pub const MAX_SECRET_BYTES: usize = u16::MAX as usize;

/// How an identity is keyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityType {
    /// Identified by `Username` alone; any client id may use it.
    #[serde(rename = "USER")]
    User,
    /// Identified by `Username` and `ClientId`; dedicated to that one client.
    #[serde(rename = "CLIENT")]
    Client,
}

/// How the CONNECT password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignMode {
    /// The password equals the secret.
    #[serde(rename = "ORIGIN")]
    Origin,
    /// The password equals `Base64(HMAC-SHA1(secret, client id))`.
    #[serde(rename = "SIGNED")]
    Signed,
}

impl IdentityType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityType::User => "USER",
            IdentityType::Client => "CLIENT",
        }
    }
}

impl SignMode {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SignMode::Origin => "ORIGIN",
            SignMode::Signed => "SIGNED",
        }
    }
}

/// A validated identity, as `QueryCustomAuthIdentity` returns it. Serialises with the API's field
/// names. `Debug` never shows the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    pub username: String,
    pub secret: Secret,
    pub identity_type: IdentityType,
    /// Required for `CLIENT`; kept but not used for `USER` (the API may return one there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub sign_mode: SignMode,
}

/// The key under which an identity is indexed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdentityKey {
    User { username: String },
    Client { username: String, client_id: String },
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityKey::User { username } => write!(f, "USER {username:?}"),
            IdentityKey::Client {
                username,
                client_id,
            } => write!(f, "CLIENT {username:?} / {client_id:?}"),
        }
    }
}

impl Identity {
    /// The key of this identity in an index.
    pub fn key(&self) -> IdentityKey {
        match self.identity_type {
            IdentityType::User => IdentityKey::User {
                username: self.username.clone(),
            },
            IdentityType::Client => IdentityKey::Client {
                username: self.username.clone(),
                client_id: self.client_id.clone().unwrap_or_default(),
            },
        }
    }
}

/// One record as it comes off the wire, before validation. Only a JSON object is a record;
/// unknown fields are ignored (the API may add some); wrong JSON types are errors of the list
/// that holds the record.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", remote = "Self")]
pub struct RawIdentity {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub identity_type: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub sign_mode: Option<String>,
}

crate::record::object_only!(
    RawIdentity,
    "an identity record: a JSON object with the API's field names"
);

/// Why a record is not a valid identity. Never contains the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{field} has {chars} characters, more than the {MAX_ID_CHARS} allowed")]
    TooLong { field: &'static str, chars: usize },
    #[error("IdentityType {0:?} is not USER or CLIENT")]
    UnknownIdentityType(String),
    #[error("SignMode {0:?} is not ORIGIN or SIGNED")]
    UnknownSignMode(String),
    #[error("ClientId is required when IdentityType is CLIENT")]
    ClientWithoutClientId,
    #[error("Secret has {0} bytes, more than the {MAX_SECRET_BYTES} allowed (the longest MQTT password)")]
    SecretTooLong(usize),
}

/// A record that failed validation, with where it stood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record #{position}{}: {error}", username.as_ref().map(|u| format!(" (Username {u:?})")).unwrap_or_default())]
pub struct InvalidRecord {
    /// Position in its list, counting from 0.
    pub position: usize,
    /// The record's username when it had a usable one, to help find it.
    pub username: Option<String>,
    pub error: IdentityError,
}

fn check_id(field: &'static str, value: &str) -> Result<(), IdentityError> {
    if value.is_empty() {
        return Err(IdentityError::Empty(field));
    }
    let chars = value.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(IdentityError::TooLong { field, chars });
    }
    Ok(())
}

impl TryFrom<RawIdentity> for Identity {
    type Error = IdentityError;

    fn try_from(raw: RawIdentity) -> Result<Self, IdentityError> {
        let username = raw.username.ok_or(IdentityError::Missing("Username"))?;
        check_id("Username", &username)?;
        let secret = raw.secret.ok_or(IdentityError::Missing("Secret"))?;
        if secret.is_empty() {
            return Err(IdentityError::Empty("Secret"));
        }
        if secret.expose().len() > MAX_SECRET_BYTES {
            return Err(IdentityError::SecretTooLong(secret.expose().len()));
        }
        let identity_type = match raw.identity_type.as_deref() {
            None => return Err(IdentityError::Missing("IdentityType")),
            Some("USER") => IdentityType::User,
            Some("CLIENT") => IdentityType::Client,
            Some(other) => return Err(IdentityError::UnknownIdentityType(clip(other))),
        };
        let sign_mode = match raw.sign_mode.as_deref() {
            None => return Err(IdentityError::Missing("SignMode")),
            Some("ORIGIN") => SignMode::Origin,
            Some("SIGNED") => SignMode::Signed,
            Some(other) => return Err(IdentityError::UnknownSignMode(clip(other))),
        };
        let client_id = match (identity_type, raw.client_id) {
            (IdentityType::Client, None) => return Err(IdentityError::ClientWithoutClientId),
            (IdentityType::Client, Some(c)) if c.is_empty() => {
                return Err(IdentityError::ClientWithoutClientId)
            }
            (_, Some(c)) if !c.is_empty() => {
                check_id("ClientId", &c)?;
                Some(c)
            }
            _ => None,
        };
        Ok(Identity {
            username,
            secret,
            identity_type,
            client_id,
            sign_mode,
        })
    }
}

impl ApiRecord for Identity {
    type Raw = RawIdentity;
    type Invalid = InvalidRecord;

    fn validate(raw: RawIdentity, position: usize) -> Result<Self, InvalidRecord> {
        let username = raw.username.as_deref().filter(|u| !u.is_empty()).map(clip);
        Identity::try_from(raw).map_err(|error| InvalidRecord {
            position,
            username,
            error,
        })
    }
}

/// Validates raw records, keeping the valid ones and reporting the others with their position
/// (`first_position` is the position of `raws[0]`, for records from a later page).
pub fn parse_identities(
    raws: Vec<RawIdentity>,
    first_position: usize,
) -> (Vec<Identity>, Vec<InvalidRecord>) {
    record::validate_all(raws, first_position)
}

/// Why a JSON list of identities was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("not a JSON array of identity records: {0}")]
    Json(String),
    #[error("{} invalid record(s), first: {}", .0.len(), .0[0])]
    Invalid(Vec<InvalidRecord>),
}

/// Parses a JSON array of identity records (the file source format, and `Data.Results` of the
/// API) strictly: one invalid record refuses the whole list.
pub fn parse_identity_list(json: &[u8]) -> Result<Vec<Identity>, ListError> {
    record::parse_list(json).map_err(|failure| match failure {
        ListFailure::Json(e) => ListError::Json(e),
        ListFailure::Invalid(bad) => ListError::Invalid(bad),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(u: &str, s: &str, t: &str, c: Option<&str>, m: &str) -> RawIdentity {
        RawIdentity {
            username: Some(u.into()),
            secret: Some(Secret::new(s)),
            identity_type: Some(t.into()),
            client_id: c.map(Into::into),
            sign_mode: Some(m.into()),
        }
    }

    #[test]
    fn api_sample_record_parses() {
        // The sample success response of the API reference page.
        let json = br#"[{"Username":"test","Secret":"62a5916d71767185b48907d85c2efae2",
            "IdentityType":"USER","ClientId":"GID_ICP@@@4d378084","SignMode":"SIGNED"}]"#;
        let ids = parse_identity_list(json).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].username, "test");
        assert_eq!(ids[0].identity_type, IdentityType::User);
        assert_eq!(ids[0].sign_mode, SignMode::Signed);
        assert_eq!(ids[0].secret.expose(), "62a5916d71767185b48907d85c2efae2");
    }

    #[test]
    fn round_trips_with_api_field_names() {
        let id = Identity::try_from(raw("u", "s", "CLIENT", Some("c"), "ORIGIN")).unwrap();
        let json = serde_json::to_string(&[&id]).unwrap();
        assert_eq!(
            json,
            r#"[{"Username":"u","Secret":"s","IdentityType":"CLIENT","ClientId":"c","SignMode":"ORIGIN"}]"#
        );
        assert_eq!(parse_identity_list(json.as_bytes()).unwrap(), vec![id]);
    }

    #[test]
    fn validation_errors_are_precise() {
        let cases = [
            (
                raw("u", "s", "ADMIN", None, "ORIGIN"),
                IdentityError::UnknownIdentityType("ADMIN".into()),
            ),
            (
                raw("u", "s", "USER", None, "PLAIN"),
                IdentityError::UnknownSignMode("PLAIN".into()),
            ),
            (
                raw("u", "s", "CLIENT", None, "ORIGIN"),
                IdentityError::ClientWithoutClientId,
            ),
            (
                raw("u", "s", "CLIENT", Some(""), "ORIGIN"),
                IdentityError::ClientWithoutClientId,
            ),
            (
                raw("", "s", "USER", None, "ORIGIN"),
                IdentityError::Empty("Username"),
            ),
            (
                raw("u", "", "USER", None, "ORIGIN"),
                IdentityError::Empty("Secret"),
            ),
            (
                raw(&"x".repeat(65), "s", "USER", None, "ORIGIN"),
                IdentityError::TooLong {
                    field: "Username",
                    chars: 65,
                },
            ),
            (
                raw("u", "s", "CLIENT", Some(&"é".repeat(65)), "ORIGIN"),
                IdentityError::TooLong {
                    field: "ClientId",
                    chars: 65,
                },
            ),
        ];
        for (r, want) in cases {
            assert_eq!(Identity::try_from(r).unwrap_err(), want);
        }
        // 64 characters of 2 bytes each is within the limit: the limit counts characters.
        assert!(Identity::try_from(raw(&"é".repeat(64), "s", "USER", None, "ORIGIN")).is_ok());
        // Secrets are capped in bytes, at the longest MQTT password.
        let at_cap = "é".repeat(MAX_SECRET_BYTES / 2) + "x";
        assert_eq!(at_cap.len(), 65_535);
        assert!(Identity::try_from(raw("u", &at_cap, "USER", None, "ORIGIN")).is_ok());
        assert_eq!(
            Identity::try_from(raw("u", &(at_cap + "x"), "USER", None, "SIGNED")).unwrap_err(),
            IdentityError::SecretTooLong(65_536)
        );
        let missing = RawIdentity {
            username: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(
            Identity::try_from(missing).unwrap_err(),
            IdentityError::Missing("Secret")
        );
    }

    #[test]
    fn list_errors_name_the_record_and_never_the_secret() {
        let json = br#"[{"Username":"a","Secret":"topsecret1","IdentityType":"USER","SignMode":"ORIGIN"},
                        {"Username":"b","Secret":"topsecret2","IdentityType":"CLIENT","SignMode":"ORIGIN"}]"#;
        let err = parse_identity_list(json).unwrap_err().to_string();
        assert!(err.contains("record #1"), "{err}");
        assert!(err.contains("\"b\""), "{err}");
        assert!(err.contains("ClientId is required"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");

        let json =
            br#"[{"Username":"a","Secret":123456789,"IdentityType":"USER","SignMode":"ORIGIN"}]"#;
        let err = parse_identity_list(json).unwrap_err().to_string();
        assert!(err.contains("[0].Secret"), "{err}");
        assert!(!err.contains("123456789"), "{err}");

        // A record is an object with the API's field names, never an array of its fields.
        let err = parse_identity_list(br#"[["u","s","USER",null,"ORIGIN"]]"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[0]") && err.contains("expected an identity record"),
            "{err}"
        );

        // An over-long secret: the error names the record, its username and the limit, and
        // quotes nothing of the secret.
        let long = "k".repeat(70_000);
        let json = format!(
            r#"[{{"Username":"fine","Secret":"s","IdentityType":"USER","SignMode":"ORIGIN"}},
                {{"Username":"big","Secret":"{long}","IdentityType":"CLIENT","ClientId":"c","SignMode":"SIGNED"}}]"#
        );
        let err = parse_identity_list(json.as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "1 invalid record(s), first: record #1 (Username \"big\"): Secret has 70000 bytes, \
             more than the 65535 allowed (the longest MQTT password)"
        );

        let err = parse_identity_list(b"{\"Username\":1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a JSON array"), "{err}");
    }
}
