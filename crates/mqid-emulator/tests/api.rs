//! The emulator over real HTTP: paging, tokens, parameters, signatures, replay, clock skew,
//! live files, faults, restart.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use mqid_emulator::{Emulator, Faults};
use serde_json::{json, Value};

fn all_results(pages: &[Answer]) -> Vec<Value> {
    pages.iter().flat_map(|p| p.results().clone()).collect()
}

#[tokio::test]
async fn pages_through_every_identity_with_size_2() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        let pages = c.pages(&Req::identities(sig, &[]), 2).await;
        let sizes: Vec<usize> = pages.iter().map(|p| p.results().len()).collect();
        assert_eq!(sizes, vec![2, 2, 2, 1], "{sig:?}");
        // NextToken only while more remain: absent from the last page.
        assert!(pages[..3].iter().all(|p| p.next_token().is_some()));
        assert!(pages[3].json["Data"].get("NextToken").is_none());
        assert_eq!(all_results(&pages), sorted_records(SEVEN), "{sig:?}");
    }
    // An exact multiple of Size: the last full page has no token.
    let pages = c.pages(&Req::identities(Sig::V3, &[]), 7).await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].next_token().is_none());
}

#[tokio::test]
async fn tokens_are_opaque_and_checked() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let first = c
        .call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", "")],
        ))
        .await;
    first.assert_ok();
    let token = first.next_token().unwrap().to_owned();
    assert!(token.parse::<u64>().is_err(), "a plain number: {token}");
    assert!(base64::engine::general_purpose::STANDARD
        .decode(&token)
        .is_ok());
    // Passed back unchanged, it goes on where the page ended.
    let second = c
        .call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", &token)],
        ))
        .await;
    second.assert_ok();
    assert_eq!(second.results()[0], sorted_records(SEVEN)[3]);

    for bad in ["3", "bm90IGEgdG9rZW4=", "%%%"] {
        c.call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", bad)],
        ))
        .await
        .assert_error(400, "InvalidParameter.NextToken");
    }
    // Another filter, or the other operation: refused.
    c.call(&Req::identities(
        Sig::V3,
        &[("Size", "3"), ("NextToken", &token), ("Username", "dev")],
    ))
    .await
    .assert_error(400, "InvalidParameter.NextToken");
    c.call(&Req::blacklist(
        Sig::V3,
        &[("Size", "3"), ("NextToken", &token)],
    ))
    .await
    .assert_error(400, "InvalidParameter.NextToken");
}

#[tokio::test]
async fn size_and_instance_are_required_and_checked() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for size in ["0", "101", "-1", "2.5", "ten", ""] {
        c.call(&Req::identities(Sig::V3, &[("Size", size)]))
            .await
            .assert_error(400, "InvalidParameter.Size");
    }
    c.call(&Req::identities(Sig::V3, &[]))
        .await
        .assert_error(400, "InvalidParameter.Size");
    for size in ["1", "100"] {
        c.call(&Req::identities(Sig::V1, &[("Size", size)]))
            .await
            .assert_ok();
    }
    c.call(&Req::new(
        Sig::V3,
        "QueryCustomAuthIdentity",
        &[("Size", "10")],
    ))
    .await
    .assert_error(400, "InvalidParameter.InstanceId");
    c.call(&Req::new(
        Sig::V1,
        "QueryCustomAuthIdentity",
        &[("Size", "10"), ("InstanceId", "post-cn-other")],
    ))
    .await
    .assert_error(404, "InstanceNotFound");
    c.call(&Req::identities(
        Sig::V3,
        &[("Size", "10"), ("IdentityType", "ADMIN")],
    ))
    .await
    .assert_error(400, "InvalidParameter.IdentityType");
}

/// (signature, filters besides Size = 100, what is served, as the test shows it)
type FilterCase<'a> = (Sig, &'a [(&'a str, &'a str)], &'a [&'a str]);

/// For each case: asks `query` and compares what it serves, as `shown` shows it.
async fn assert_filters(
    c: &Client,
    query: fn(Sig, &[(&str, &str)]) -> Req,
    shown: impl Fn(&Answer) -> Vec<String>,
    cases: &[FilterCase<'_>],
) {
    for &(sig, filters, want) in cases {
        let params: Vec<_> = [("Size", "100")].iter().chain(filters).copied().collect();
        let a = c.call(&query(sig, &params)).await;
        assert_eq!(shown(&a), want, "{sig:?} {filters:?}");
    }
}

#[tokio::test]
async fn filters_select_records() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    // (signature, filters besides Size = 100, username/secret of what is served)
    let cases: [FilterCase; 4] = [
        (
            Sig::V3,
            &[("Username", "dev")],
            &["dev/s-d1", "dev/s-d2", "dev/s-d3", "dev/s-du"],
        ),
        (
            Sig::V1,
            &[("Username", "dev"), ("IdentityType", "USER")],
            &["dev/s-du"],
        ),
        (
            Sig::V3,
            &[("ClientId", "GID_x@@@2"), ("IdentityType", "CLIENT")],
            &["dev/s-d2"],
        ),
        (
            Sig::V3,
            &[("Username", "spaced name+plus/slash")],
            &["spaced name+plus/slash/s-sp"],
        ),
    ];
    let shown = |a: &Answer| a.joined(&["Username", "Secret"], "/");
    assert_filters(&c, Req::identities, shown, &cases).await;
    // Paging within a filter.
    let pages = c
        .pages(&Req::identities(Sig::V3, &[("Username", "dev")]), 3)
        .await;
    assert_eq!(all_results(&pages).len(), 4);
    assert_eq!(pages.len(), 2);
}

#[tokio::test]
async fn blacklist_serves_strings_and_objects() {
    let f = Fixture::start(
        SEVEN,
        Some(r#"["GID_bad@@@2", {"ClientId":"GID_bad@@@1","PermitAction":"CONNECT","Effect":"DENY"}, "GID_bad@@@3"]"#),
    )
    .await;
    let c = f.client();
    let pages = c.pages(&Req::blacklist(Sig::V3, &[]), 2).await;
    assert_eq!(
        Value::Array(all_results(&pages)),
        json!([
            {"ClientId":"GID_bad@@@1","PermitAction":"CONNECT","Effect":"DENY"},
            {"ClientId":"GID_bad@@@2","PermitAction":"CONNECT","Effect":"DENY"},
            {"ClientId":"GID_bad@@@3","PermitAction":"CONNECT","Effect":"DENY"},
        ])
    );
    let a = c
        .call(&Req::blacklist(
            Sig::V1,
            &[("Size", "10"), ("ClientId", "GID_bad@@@3")],
        ))
        .await;
    assert_eq!(a.results().len(), 1);

    // Without a blacklist file: an empty list.
    let f = Fixture::start(SEVEN, None).await;
    let a = f
        .client()
        .call(&Req::blacklist(Sig::V3, &[("Size", "10")]))
        .await;
    a.assert_ok();
    assert_eq!(a.json["Data"], json!({"Results": []}));
}

#[tokio::test]
async fn permissions_are_paged_filtered_and_signed() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        let pages = c.pages(&Req::permissions(sig, &[]), 4).await;
        let sizes: Vec<usize> = pages.iter().map(|p| p.results().len()).collect();
        assert_eq!(sizes, vec![4, 2], "{sig:?}");
        assert!(pages[0].next_token().is_some());
        assert!(pages[1].json["Data"].get("NextToken").is_none());
        assert_eq!(all_results(&pages), sorted_rules(RULES), "{sig:?}");
    }
    // (signature, filters besides Size = 100, identity, type and topic of what is served)
    let cases: [FilterCase; 4] = [
        // Identity alone: USER and CLIENT rules of that name.
        (
            Sig::V3,
            &[("Identity", "fleet")],
            &[
                "fleet CLIENT fleet/+/up",
                "fleet USER fleet/+/up",
                "fleet USER fleet/secret",
            ],
        ),
        (
            Sig::V1,
            &[
                ("Identity", "fleet"),
                ("IdentityType", "USER"),
                ("Topic", "fleet/+/up"),
            ],
            &["fleet USER fleet/+/up"],
        ),
        // Topic is an exact value (a filter string), not matched as MQTT.
        (Sig::V3, &[("Topic", "fleet/1/up")], &[]),
        (
            Sig::V3,
            &[("Topic", "a b/+/c")],
            &["spaced name+plus/slash USER a b/+/c"],
        ),
    ];
    let shown = |a: &Answer| a.joined(&["Identity", "IdentityType", "Topic"], " ");
    assert_filters(&c, Req::permissions, shown, &cases).await;
    c.call(&Req::permissions(
        Sig::V3,
        &[("Size", "10"), ("IdentityType", "GROUP")],
    ))
    .await
    .assert_error(400, "InvalidParameter.IdentityType");
    // A token of another operation, or of other filters, is refused.
    let first = c.call(&Req::permissions(Sig::V3, &[("Size", "2")])).await;
    let token = first.next_token().unwrap().to_owned();
    c.call(&Req::identities(
        Sig::V3,
        &[("Size", "2"), ("NextToken", &token)],
    ))
    .await
    .assert_error(400, "InvalidParameter.NextToken");
    c.call(&Req::permissions(
        Sig::V3,
        &[("Size", "2"), ("NextToken", &token), ("Identity", "fleet")],
    ))
    .await
    .assert_error(400, "InvalidParameter.NextToken");
    // A wrong signature is refused as for the other operations.
    let mut bad = Req::permissions(Sig::V3, &[("Size", "2")]);
    bad.secret = "not-the-secret".into();
    c.call(&bad)
        .await
        .assert_error(400, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn permissions_follow_the_file_and_default_to_empty() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let path = f.cfg.permissions.clone().unwrap();
    std::fs::write(
        &path,
        r#"[{"Identity":"n","IdentityType":"USER","Topic":"n/#","PermitAction":"PUB","Effect":"ALLOW"}]"#,
    )
    .unwrap();
    let a = c.call(&Req::permissions(Sig::V3, &[("Size", "10")])).await;
    assert_eq!(a.results().len(), 1);
    assert_eq!(a.results()[0]["Topic"], "n/#");
    std::fs::write(&path, "[{").unwrap();
    c.call(&Req::permissions(Sig::V3, &[("Size", "10")]))
        .await
        .assert_error(500, "InternalError");

    // Without a permissions file: an empty list.
    let mut cfg = f.cfg.clone();
    cfg.permissions = None;
    let emu = Emulator::bind("127.0.0.1:0", cfg).await.unwrap();
    let a = Client::new(&emu)
        .call(&Req::permissions(Sig::V1, &[("Size", "10")]))
        .await;
    a.assert_ok();
    assert_eq!(a.json["Data"], json!({"Results": []}));
}

#[tokio::test]
async fn form_posts_are_answered_like_gets() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        let a = c
            .call(
                &Req::identities(sig, &[("Size", "100"), ("Username", "user-a")]).into_form_post(),
            )
            .await;
        a.assert_ok();
        assert_eq!(a.results().len(), 1, "{sig:?}");
    }
}

#[tokio::test]
async fn wrong_credentials_and_tampering_are_refused() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        let mut r = Req::identities(sig, &[("Size", "10")]);
        r.secret = "not-the-secret".into();
        let a = c.call(&r).await;
        a.assert_error(400, "SignatureDoesNotMatch");
        assert!(
            a.json["Message"]
                .as_str()
                .unwrap()
                .contains("server string to sign is:"),
            "{a:?}"
        );

        let mut r = Req::identities(sig, &[("Size", "10")]);
        r.access_key_id = "LTAI-somebody-else".into();
        c.call(&r)
            .await
            .assert_error(404, "InvalidAccessKeyId.NotFound");

        // A parameter changed after signing.
        let mut s = c.sign(&Req::identities(sig, &[("Size", "10")]));
        s.query.iter_mut().find(|(k, _)| k == "Size").unwrap().1 = "11".into();
        c.send(&s)
            .await
            .unwrap()
            .assert_error(400, "SignatureDoesNotMatch");
    }
    // V3: a signed header changed after signing; an unsigned x-acs header; a body that does not
    // match its hash.
    let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]));
    s.headers
        .iter_mut()
        .find(|(k, _)| k == "x-acs-signature-nonce")
        .unwrap()
        .1 = "another-nonce".into();
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "SignatureDoesNotMatch");
    let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]));
    s.headers.push(("x-acs-extra".into(), "1".into()));
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "IncompleteSignature");
    let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]).into_form_post());
    s.body = b"InstanceId=other&Size=10".to_vec();
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn missing_signature_pieces_are_named() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    // V3 without Authorization.
    let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]));
    s.headers.retain(|(k, _)| k != "authorization");
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "IncompleteSignature");
    // V3 with a malformed Authorization, and with another algorithm.
    for (auth, code) in [
        ("ACS3-HMAC-SHA256 Credential=x", "IncompleteSignature"),
        ("Bearer abc", "IncompleteSignature"),
        (
            "ACS3-HMAC-SM3 Credential=x,SignedHeaders=host,Signature=00",
            "InvalidSignatureMethod",
        ),
    ] {
        let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]));
        s.headers
            .iter_mut()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1 = auth.into();
        c.send(&s).await.unwrap().assert_error(400, code);
    }
    // V3 without x-acs-date.
    let mut s = c.sign(&Req::identities(Sig::V3, &[("Size", "10")]));
    s.headers.retain(|(k, _)| k != "x-acs-date");
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "MissingParameter");
    // V1 without each common parameter.
    for name in [
        "Signature",
        "SignatureNonce",
        "Timestamp",
        "AccessKeyId",
        "SignatureMethod",
    ] {
        let mut s = c.sign(&Req::identities(Sig::V1, &[("Size", "10")]));
        s.query.retain(|(k, _)| k != name);
        let a = c.send(&s).await.unwrap();
        a.assert_error(400, "MissingParameter");
        assert!(a.json["Message"].as_str().unwrap().contains(name), "{a:?}");
    }
    let mut s = c.sign(&Req::identities(Sig::V1, &[("Size", "10")]));
    s.query
        .iter_mut()
        .find(|(k, _)| k == "SignatureMethod")
        .unwrap()
        .1 = "HMAC-SHA256".into();
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "InvalidSignatureMethod");
    // Nothing at all.
    let s = Signed {
        method: "GET",
        path: "/".into(),
        query: vec![],
        headers: vec![],
        body: vec![],
    };
    c.send(&s)
        .await
        .unwrap()
        .assert_error(400, "MissingParameter");
}

#[tokio::test]
async fn actions_versions_and_paths() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        c.call(&Req::new(
            sig,
            "AddCustomAuthPermission",
            &[("InstanceId", INSTANCE), ("Size", "1")],
        ))
        .await
        .assert_error(404, "ApiNotSupport");
        let mut r = Req::identities(sig, &[("Size", "1")]);
        r.version = "2019-02-14".into();
        c.call(&r).await.assert_error(400, "InvalidVersion");
    }
    let mut r = Req::identities(Sig::V3, &[("Size", "1")]);
    r.path = "/other".into();
    c.call(&r).await.assert_error(404, "InvalidAction.NotFound");
}

#[tokio::test]
async fn replayed_nonces_are_refused() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    for sig in [Sig::V3, Sig::V1] {
        let s = c.sign(&Req::identities(sig, &[("Size", "1")]));
        c.send(&s).await.unwrap().assert_ok();
        c.send(&s)
            .await
            .unwrap()
            .assert_error(400, "SignatureNonceUsed");
        // A new request reusing only the nonce: refused too.
        let mut r = Req::identities(sig, &[("Size", "2")]);
        r.nonce = match sig {
            Sig::V3 => s.headers.iter().find(|(k, _)| k == "x-acs-signature-nonce"),
            Sig::V1 => s.query.iter().find(|(k, _)| k == "SignatureNonce"),
        }
        .unwrap()
        .1
        .clone();
        c.call(&r).await.assert_error(400, "SignatureNonceUsed");
    }
    // A request whose signature fails does not burn its nonce.
    let mut r = Req::identities(Sig::V3, &[("Size", "1")]);
    r.secret = "wrong".into();
    c.call(&r).await.assert_error(400, "SignatureDoesNotMatch");
    r.secret = AK_SECRET.into();
    c.call(&r).await.assert_ok();
}

#[tokio::test]
async fn timestamps_must_be_within_15_minutes() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let min = |m: u64| Duration::from_secs(m * 60);
    for sig in [Sig::V3, Sig::V1] {
        for late in [true, false] {
            c.call(&Req::identities(sig, &[("Size", "1")]).skewed(min(16), late))
                .await
                .assert_error(400, "InvalidTimeStamp.Expired");
            c.call(&Req::identities(sig, &[("Size", "1")]).skewed(min(14), late))
                .await
                .assert_ok();
        }
        let mut r = Req::identities(sig, &[("Size", "1")]);
        r.date = "2026-11-27 12:00:00".into();
        c.call(&r)
            .await
            .assert_error(400, "InvalidTimeStamp.Format");
    }
}

#[tokio::test]
async fn security_token_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.json");
    std::fs::write(&ids, SEVEN).unwrap();
    let mut cfg = mqid_emulator::EmulatorConfig::new(&ids, AK_ID, AK_SECRET);
    cfg.instance_id = INSTANCE.into();
    cfg.security_token = Some(mqid_core::Secret::new("sts-token-1"));
    let emu = Emulator::bind("127.0.0.1:0", cfg).await.unwrap();
    let c = Client::new(&emu);
    for sig in [Sig::V3, Sig::V1] {
        let mut r = Req::identities(sig, &[("Size", "1")]);
        c.call(&r).await.assert_error(400, "MissingSecurityToken");
        r.nonce = mqid_sync::openapi::sign::new_nonce();
        r.security_token = Some("sts-token-2".into());
        c.call(&r)
            .await
            .assert_error(400, "InvalidSecurityToken.MismatchWithAccessKey");
        r.nonce = mqid_sync::openapi::sign::new_nonce();
        r.security_token = Some("sts-token-1".into());
        c.call(&r).await.assert_ok();
    }
}

#[tokio::test]
async fn serves_the_current_file() {
    let f = Fixture::start(
        r#"[{"Username":"a","Secret":"1","IdentityType":"USER","SignMode":"ORIGIN"}]"#,
        None,
    )
    .await;
    let c = f.client();
    let usernames = |a: &Answer| a.joined(&["Username"], "");
    let q = || Req::identities(Sig::V3, &[("Size", "100")]);
    assert_eq!(usernames(&c.call(&q()).await), ["a"]);
    // Added (same length, same second: the content check catches it).
    std::fs::write(
        f.identities_path(),
        r#"[{"Username":"b","Secret":"1","IdentityType":"USER","SignMode":"ORIGIN"}]"#,
    )
    .unwrap();
    assert_eq!(usernames(&c.call(&q()).await), ["b"]);
    // Replaced by rename, as editors and atomic writers do.
    let tmp = f.dir.path().join("new.json");
    std::fs::write(
        &tmp,
        r#"[{"Username":"c","Secret":"1","IdentityType":"USER","SignMode":"ORIGIN"},
            {"Username":"b","Secret":"1","IdentityType":"USER","SignMode":"ORIGIN"}]"#,
    )
    .unwrap();
    std::fs::rename(&tmp, f.identities_path()).unwrap();
    assert_eq!(usernames(&c.call(&q()).await), ["b", "c"]);
    // Unparsable: InternalError, and the emulator lives on.
    std::fs::write(f.identities_path(), "[{").unwrap();
    c.call(&q()).await.assert_error(500, "InternalError");
    std::fs::write(f.identities_path(), r#"[1, 2]"#).unwrap();
    c.call(&q()).await.assert_error(500, "InternalError");
    // Gone: the same.
    std::fs::remove_file(f.identities_path()).unwrap();
    c.call(&q()).await.assert_error(500, "InternalError");
    std::fs::write(f.identities_path(), "[]").unwrap();
    let a = c.call(&q()).await;
    a.assert_ok();
    assert!(a.results().is_empty());
}

#[tokio::test]
async fn records_are_served_unvalidated() {
    // An invalid record (the API source must skip it) is served as it stands.
    let ids = r#"[{"Username":"ok","Secret":"1","IdentityType":"USER","SignMode":"ORIGIN"},
                  {"Username":"weird","Secret":"1","IdentityType":"USER","SignMode":"MD5","Extra":[1]}]"#;
    let f = Fixture::start(ids, None).await;
    let a = f
        .client()
        .call(&Req::identities(Sig::V3, &[("Size", "10")]))
        .await;
    assert_eq!(
        Value::Array(a.results().clone()),
        serde_json::from_str::<Value>(ids).unwrap()
    );
}

#[tokio::test]
async fn a_pass_survives_changes_to_other_records() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let first = c
        .call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", "")],
        ))
        .await;
    let token = first.next_token().unwrap().to_owned();
    // Remove a record already served and add one before the cursor and one after it.
    let mut records = sorted_records(SEVEN);
    let served: Vec<Value> = first.results().clone();
    records.retain(|r| r != &served[0]);
    records.push(json!({"Username":"aaa","Secret":"x","IdentityType":"USER","SignMode":"ORIGIN"}));
    records.push(json!({"Username":"zzz","Secret":"x","IdentityType":"USER","SignMode":"ORIGIN"}));
    std::fs::write(f.identities_path(), Value::Array(records).to_string()).unwrap();
    let mut rest = Vec::new();
    let mut token = Some(token);
    while let Some(t) = token {
        let a = c
            .call(&Req::identities(
                Sig::V3,
                &[("Size", "3"), ("NextToken", &t)],
            ))
            .await;
        a.assert_ok();
        rest.extend(a.results().clone());
        token = a.next_token().map(str::to_owned);
    }
    let usernames: Vec<&str> = rest
        .iter()
        .map(|r| r["Username"].as_str().unwrap())
        .collect();
    // Every record that stayed is served once; "aaa" sorts before the cursor, "zzz" after it.
    assert_eq!(
        usernames,
        ["dev", "spaced name+plus/slash", "user-a", "user-ü", "zzz"]
    );
}

#[tokio::test]
async fn faults_can_be_injected_and_cleared() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let q = || Req::identities(Sig::V3, &[("Size", "1")]);

    f.emu.faults().set(&Faults {
        throttle_every: 2,
        ..Faults::none()
    });
    let before = f.emu.requests();
    // Find the phase: requests count from 1 over the emulator's life.
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(c.call(&q()).await);
    }
    assert_eq!(f.emu.requests(), before + 4);
    let throttled: Vec<&Answer> = codes.iter().filter(|a| a.status != 200).collect();
    assert_eq!(throttled.len(), 2);
    let t = throttled[0];
    t.assert_error(400, "Throttling.User");
    assert_eq!(t.headers["x-ratelimit-user-api"], "TimeLeft:1000");
    assert_eq!(t.headers["x-acs-retry-after"], "1000");

    f.emu.faults().set(&Faults {
        throttle_every: 1,
        throttle_status: 429,
        throttle_time_left_ms: 250,
        ..Faults::none()
    });
    let a = c.call(&q()).await;
    a.assert_error(429, "Throttling.User");
    assert_eq!(a.headers["x-ratelimit-user-api"], "TimeLeft:250");

    f.emu.faults().set(&Faults {
        unavailable_every: 1,
        ..Faults::none()
    });
    c.call(&q()).await.assert_error(503, "ServiceUnavailable");

    f.emu.faults().set(&Faults {
        drop_every: 1,
        ..Faults::none()
    });
    let e = c.send(&c.sign(&q())).await.unwrap_err();
    assert!(e.is_request() || e.is_connect(), "{e:?}");

    f.emu.faults().set(&Faults {
        latency: Duration::from_millis(300),
        ..Faults::none()
    });
    let t0 = Instant::now();
    c.call(&q()).await.assert_ok();
    assert!(t0.elapsed() >= Duration::from_millis(300));

    f.emu.faults().clear();
    for _ in 0..5 {
        c.call(&q()).await.assert_ok();
    }
}

#[tokio::test]
async fn stops_and_restarts_on_the_same_port() {
    let f = Fixture::start(SEVEN, None).await;
    let c = f.client();
    let first = c
        .call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", "")],
        ))
        .await;
    let token = first.next_token().unwrap().to_owned();
    let addr = f.emu.local_addr();
    let Fixture { dir, emu, cfg } = f;
    emu.shutdown().await;
    let e = c
        .send(&c.sign(&Req::identities(Sig::V3, &[("Size", "3")])))
        .await
        .unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e:?}");

    let emu = Emulator::bind(addr, cfg).await.unwrap();
    assert_eq!(emu.local_addr(), addr);
    // The token from before the restart still works.
    let a = c
        .call(&Req::identities(
            Sig::V3,
            &[("Size", "3"), ("NextToken", &token)],
        ))
        .await;
    a.assert_ok();
    assert_eq!(a.results()[0], sorted_records(SEVEN)[3]);
    drop(emu);
    drop(dir);
}
