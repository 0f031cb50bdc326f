//! A record is a JSON object with the API's field names: an array of the same values in field
//! order is refused (serde's derive would take it), for identities and permission rules alike.

#[test]
fn an_identity_written_as_an_array_is_refused() {
    let err = mqid_core::parse_identity_list(br#"[["u","s","USER",null,"ORIGIN"]]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[0]"), "{err}");
    assert!(err.contains("expected an identity record"), "{err}");
    // the object with the same values is a record
    let ok = mqid_core::parse_identity_list(
        br#"[{"Username":"u","Secret":"s","IdentityType":"USER","SignMode":"ORIGIN"}]"#,
    )
    .unwrap();
    assert_eq!(ok.len(), 1);
}

#[test]
fn a_permission_written_as_an_array_is_refused() {
    let err = mqid_core::parse_permission_list(br#"[["fleet","USER","a/#","PUB","ALLOW"]]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[0]"), "{err}");
    assert!(err.contains("expected a permission record"), "{err}");
    let raw: Vec<mqid_core::RawPermission> = serde_json::from_str(
        r#"[{"Identity":"fleet","IdentityType":"USER","Topic":"a/#","PermitAction":"PUB","Effect":"ALLOW"}]"#,
    )
    .unwrap();
    assert_eq!(raw[0].identity.as_deref(), Some("fleet"));
    assert_eq!(raw[0].topic.as_deref(), Some("a/#"));
}
