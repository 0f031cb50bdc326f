//! SIGNED passwords against answers computed outside mqid (tests/data/signed-passwords.json).

use mqid_core::{
    parse_identity_list, signed_password, Connect, Decision, Index, Refusal, SIGNED_PASSWORD_LEN,
};
use serde_json::Value;

fn vectors() -> Vec<(String, String, String)> {
    let data: Value =
        serde_json::from_str(include_str!("data/signed-passwords.json")).expect("vector file");
    data["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            (
                v["secret"].as_str().unwrap().to_owned(),
                v["client_id"].as_str().unwrap().to_owned(),
                v["password"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn signed_password_matches_python_hmac() {
    let v = vectors();
    assert_eq!(v.len(), 5);
    for (secret, client_id, password) in v {
        assert_eq!(password.len(), SIGNED_PASSWORD_LEN);
        assert_eq!(
            signed_password(&secret, &client_id),
            password,
            "{client_id}"
        );
    }
}

fn index_of(json: String) -> Index {
    Index::build(parse_identity_list(json.as_bytes()).unwrap(), []).0
}

#[test]
fn user_and_client_signed_identities_admit_the_known_passwords() {
    for (secret, client_id, password) in vectors() {
        if client_id.is_empty() {
            continue; // a CLIENT identity needs a client id
        }
        let secret_json = serde_json::to_string(&secret).unwrap();
        let cid_json = serde_json::to_string(&client_id).unwrap();
        let user = index_of(format!(
            r#"[{{"Username":"u","Secret":{secret_json},"IdentityType":"USER","SignMode":"SIGNED"}}]"#
        ));
        let client = index_of(format!(
            r#"[{{"Username":"u","Secret":{secret_json},"IdentityType":"CLIENT","ClientId":{cid_json},"SignMode":"SIGNED"}}]"#
        ));
        for ix in [&user, &client] {
            let ok = mqid_core::decide(
                ix,
                &Connect {
                    client_id: &client_id,
                    username: "u",
                    password: password.as_bytes(),
                },
            );
            assert!(matches!(ok, Decision::Admit(_)), "{client_id}: {ok:?}");
            // flip one character of the password
            let mut bad = password.clone().into_bytes();
            bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
            let refused = mqid_core::decide(
                ix,
                &Connect {
                    client_id: &client_id,
                    username: "u",
                    password: &bad,
                },
            );
            assert_eq!(refused, Decision::Refuse(Refusal::BadPassword));
        }
    }
}

#[test]
fn user_signed_with_empty_client_id_uses_the_empty_string() {
    let (secret, client_id, password) = vectors().pop().unwrap();
    assert!(client_id.is_empty());
    let ix = index_of(format!(
        r#"[{{"Username":"u","Secret":"{secret}","IdentityType":"USER","SignMode":"SIGNED"}}]"#
    ));
    let d = mqid_core::decide(
        &ix,
        &Connect {
            client_id: "",
            username: "u",
            password: password.as_bytes(),
        },
    );
    assert!(matches!(d, Decision::Admit(_)));
}
