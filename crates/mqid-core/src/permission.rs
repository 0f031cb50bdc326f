//! The topic-permission record of `QueryCustomAuthPermission`, and its validation.
//!
//! A rule grants (`ALLOW`) or refuses (`DENY`) publishing (`PUB`), subscribing (`SUB`) or both
//! (`PUB_SUB`) on an MQTT topic filter, to a `USER` identity (its `Identity` is a username) or a
//! `CLIENT` identity (its `Identity` is a client id). How rules combine is [`crate::rules`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::{self, clip, ApiRecord, ListFailure};
use crate::topic::{self, TopicError};
use crate::{IdentityType, MAX_ID_CHARS};

/// What a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PermitAction {
    #[serde(rename = "PUB")]
    Pub,
    #[serde(rename = "SUB")]
    Sub,
    #[serde(rename = "PUB_SUB")]
    PubSub,
}

impl PermitAction {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PermitAction::Pub => "PUB",
            PermitAction::Sub => "SUB",
            PermitAction::PubSub => "PUB_SUB",
        }
    }

    /// Whether the rule governs publishing.
    pub fn covers_pub(self) -> bool {
        matches!(self, PermitAction::Pub | PermitAction::PubSub)
    }

    /// Whether the rule governs subscribing (and so delivery).
    pub fn covers_sub(self) -> bool {
        matches!(self, PermitAction::Sub | PermitAction::PubSub)
    }
}

/// Whether a rule grants or refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    #[serde(rename = "ALLOW")]
    Allow,
    #[serde(rename = "DENY")]
    Deny,
}

impl Effect {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "ALLOW",
            Effect::Deny => "DENY",
        }
    }
}

/// A validated permission rule, as `QueryCustomAuthPermission` returns it. Serialises with the
/// API's field names (the file source's format).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    /// A username when `identity_type` is `USER`, a client id when it is `CLIENT`.
    pub identity: String,
    pub identity_type: IdentityType,
    /// A valid MQTT topic filter (`+` and `#` allowed as MQTT allows them).
    pub topic: String,
    pub permit_action: PermitAction,
    pub effect: Effect,
}

impl fmt::Display for Permission {
    /// One line fit for a log: `ALLOW PUB on "a/#" for USER "fleet"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {:?} for {} {:?}",
            self.effect.as_str(),
            self.permit_action.as_str(),
            clip(&self.topic),
            self.identity_type.as_str(),
            clip(&self.identity)
        )
    }
}

/// One rule as it comes off the wire, before validation. Only a JSON object is a record; unknown
/// fields are ignored (the API may add some); wrong JSON types are errors of the list that holds
/// the record.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", remote = "Self")]
pub struct RawPermission {
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub identity_type: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub permit_action: Option<String>,
    #[serde(default)]
    pub effect: Option<String>,
}

crate::record::object_only!(
    RawPermission,
    "a permission record: a JSON object with the API's field names"
);

/// Why a record is not a valid permission rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("Identity has {0} characters, more than the {MAX_ID_CHARS} allowed")]
    IdentityTooLong(usize),
    #[error("IdentityType {0:?} is not USER or CLIENT")]
    UnknownIdentityType(String),
    #[error("PermitAction {0:?} is not PUB, SUB or PUB_SUB")]
    UnknownPermitAction(String),
    #[error("Effect {0:?} is not ALLOW or DENY")]
    UnknownEffect(String),
    #[error("Topic {topic:?} is not a valid MQTT topic filter: {error}")]
    BadTopic { topic: String, error: TopicError },
}

/// A record that failed validation, with where it stood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("permission record #{position}{}: {error}", identity.as_ref().map(|u| format!(" (Identity {u:?})")).unwrap_or_default())]
pub struct InvalidPermission {
    /// Position in its list, counting from 0.
    pub position: usize,
    /// The record's identity when it had one, to help find it (clipped).
    pub identity: Option<String>,
    pub error: PermissionError,
}

impl TryFrom<RawPermission> for Permission {
    type Error = PermissionError;

    fn try_from(raw: RawPermission) -> Result<Self, PermissionError> {
        let identity = raw.identity.ok_or(PermissionError::Missing("Identity"))?;
        if identity.is_empty() {
            return Err(PermissionError::Empty("Identity"));
        }
        let chars = identity.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(PermissionError::IdentityTooLong(chars));
        }
        let identity_type = match raw.identity_type.as_deref() {
            None => return Err(PermissionError::Missing("IdentityType")),
            Some("USER") => IdentityType::User,
            Some("CLIENT") => IdentityType::Client,
            Some(other) => return Err(PermissionError::UnknownIdentityType(clip(other))),
        };
        let topic = raw.topic.ok_or(PermissionError::Missing("Topic"))?;
        if topic.is_empty() {
            return Err(PermissionError::Empty("Topic"));
        }
        if let Err(error) = topic::check_filter(&topic) {
            return Err(PermissionError::BadTopic {
                topic: clip(&topic),
                error,
            });
        }
        let permit_action = match raw.permit_action.as_deref() {
            None => return Err(PermissionError::Missing("PermitAction")),
            Some("PUB") => PermitAction::Pub,
            Some("SUB") => PermitAction::Sub,
            Some("PUB_SUB") => PermitAction::PubSub,
            Some(other) => return Err(PermissionError::UnknownPermitAction(clip(other))),
        };
        let effect = match raw.effect.as_deref() {
            None => return Err(PermissionError::Missing("Effect")),
            Some("ALLOW") => Effect::Allow,
            Some("DENY") => Effect::Deny,
            Some(other) => return Err(PermissionError::UnknownEffect(clip(other))),
        };
        Ok(Permission {
            identity,
            identity_type,
            topic,
            permit_action,
            effect,
        })
    }
}

impl ApiRecord for Permission {
    type Raw = RawPermission;
    type Invalid = InvalidPermission;

    fn validate(raw: RawPermission, position: usize) -> Result<Self, InvalidPermission> {
        let identity = raw.identity.as_deref().filter(|u| !u.is_empty()).map(clip);
        Permission::try_from(raw).map_err(|error| InvalidPermission {
            position,
            identity,
            error,
        })
    }
}

/// Validates raw records, keeping the valid ones and reporting the others with their position
/// (`first_position` is the position of `raws[0]`, for records from a later page).
pub fn parse_permissions(
    raws: Vec<RawPermission>,
    first_position: usize,
) -> (Vec<Permission>, Vec<InvalidPermission>) {
    record::validate_all(raws, first_position)
}

/// Why a JSON list of permission rules was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PermissionListError {
    #[error("not a JSON array of permission records: {0}")]
    Json(String),
    #[error("{} invalid permission record(s), first: {}", .0.len(), .0[0])]
    Invalid(Vec<InvalidPermission>),
}

/// Parses a JSON array of permission records (the file source's format, and `Data.Results` of
/// `QueryCustomAuthPermission`) strictly: one invalid record refuses the whole list.
pub fn parse_permission_list(json: &[u8]) -> Result<Vec<Permission>, PermissionListError> {
    record::parse_list(json).map_err(|failure| match failure {
        ListFailure::Json(e) => PermissionListError::Json(e),
        ListFailure::Invalid(bad) => PermissionListError::Invalid(bad),
    })
}
