//! What the API's record types (identities, permission rules) share: a record is a JSON object
//! with the API's field names; a list is validated record by record, keeping the valid ones and
//! reporting each other one with its position; values quoted in errors are clipped.

use serde::de::DeserializeOwned;

/// Shortens a value quoted in an error so that a hostile input cannot make the message huge.
pub(crate) fn clip(s: &str) -> String {
    crate::text::ellipsize(s, 40)
}

/// Implements `Deserialize` for a record type whose derive is `#[serde(remote = "Self")]`,
/// accepting a JSON object only. (A derived struct also accepts a JSON array of its fields in
/// order, `["u","s","USER",null,"ORIGIN"]`; the API only ever sends objects with its field
/// names, so anything else is a mistake to report, not a record.)
macro_rules! object_only {
    ($ty:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ObjectOnly;
                impl<'de> serde::de::Visitor<'de> for ObjectOnly {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        <$ty>::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(ObjectOnly)
            }
        }
    };
}
pub(crate) use object_only;

/// A record type of the API, validated from its raw (wire) form.
pub(crate) trait ApiRecord: Sized {
    /// The record as it comes off the wire.
    type Raw: DeserializeOwned;
    /// A record that failed validation, with where it stood.
    type Invalid;
    /// Validates `raw`, the record at `position` of its list.
    fn validate(raw: Self::Raw, position: usize) -> Result<Self, Self::Invalid>;
}

/// Validates raw records, keeping the valid ones and reporting the others with their position
/// (`first_position` is the position of `raws[0]`, for records from a later page).
pub(crate) fn validate_all<T: ApiRecord>(
    raws: Vec<T::Raw>,
    first_position: usize,
) -> (Vec<T>, Vec<T::Invalid>) {
    let mut good = Vec::with_capacity(raws.len());
    let mut bad = Vec::new();
    for (i, raw) in raws.into_iter().enumerate() {
        match T::validate(raw, first_position + i) {
            Ok(record) => good.push(record),
            Err(invalid) => bad.push(invalid),
        }
    }
    (good, bad)
}

/// Why a JSON list of records was refused as a whole.
pub(crate) enum ListFailure<I> {
    /// Not a JSON array of records: where and why.
    Json(String),
    /// Every invalid record, in order (at least one).
    Invalid(Vec<I>),
}

/// Parses a JSON array of records strictly: one invalid record refuses the whole list.
pub(crate) fn parse_list<T: ApiRecord>(json: &[u8]) -> Result<Vec<T>, ListFailure<T::Invalid>> {
    let de = &mut serde_json::Deserializer::from_slice(json);
    let raws: Vec<T::Raw> = serde_path_to_error::deserialize(de)
        .map_err(|e| ListFailure::Json(format!("at {}: {}", e.path(), e.inner())))?;
    let (good, bad) = validate_all(raws, 0);
    if bad.is_empty() {
        Ok(good)
    } else {
        Err(ListFailure::Invalid(bad))
    }
}
