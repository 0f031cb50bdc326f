//! The answer faults over real HTTP, as a client sees them on the wire.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mqid_emulator::{AnswerFault, Faults, HUGE_BODY_BYTES};
use mqid_sync::openapi::sign::{self, borrowed};
use serde_json::Value;

/// A raw answer: status, headers and body bytes, or the transport error.
struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Result<Vec<u8>, reqwest::Error>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(self.body.as_ref().expect("a body")).expect("JSON")
    }
}

/// Signs `r` and sends it with `timeout`, returning what came back without interpreting it.
async fn raw(f: &Fixture, r: &Req, timeout: Duration) -> Result<Raw, reqwest::Error> {
    let s = f.client().sign(r);
    let url = format!(
        "http://{}{}?{}",
        f.emu.local_addr(),
        s.path,
        sign::canonical_query(&borrowed(&s.query))
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap();
    let mut rb = http.get(url);
    for (k, v) in &s.headers {
        if k != "host" {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map(|b| b.to_vec());
    Ok(Raw {
        status,
        headers,
        body,
    })
}

fn page(size: &str, token: &str) -> Req {
    Req::identities(Sig::V3, &[("Size", size), ("NextToken", token)])
}

fn set(f: &Fixture, fault: AnswerFault) {
    f.emu.faults().set(&Faults {
        answer: fault,
        ..Faults::none()
    });
}

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn body_faults() {
    let f = Fixture::start(SEVEN, None).await;

    set(&f, AnswerFault::NotJson);
    let a = raw(&f, &page("2", ""), T).await.unwrap();
    assert_eq!(a.status, 200);
    assert!(a.body.unwrap().starts_with(b"<html>"));

    set(&f, AnswerFault::CutJson);
    let a = raw(&f, &page("2", ""), T).await.unwrap();
    assert_eq!(a.status, 200);
    let body = a.body.unwrap();
    assert!(body.starts_with(b"{"), "the start of the page");
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "cut");

    set(&f, AnswerFault::Truncated);
    let a = raw(&f, &page("2", ""), T).await.unwrap();
    assert_eq!(a.status, 200);
    let e = a.body.unwrap_err();
    assert!(e.is_body() || e.is_decode() || e.is_request(), "{e:?}");

    set(&f, AnswerFault::Huge);
    let a = raw(&f, &page("2", ""), T).await.unwrap();
    assert_eq!(a.status, 200);
    assert!(a.headers.get("content-length").is_none(), "streamed");
    let body = a.body.unwrap();
    assert_eq!(body.len() as u64, HUGE_BODY_BYTES);
    // only padded: still the page, read whole
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["Data"]["Results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    set(&f, AnswerFault::Stall);
    let t0 = Instant::now();
    let e = match raw(&f, &page("2", ""), Duration::from_millis(500)).await {
        Ok(a) => a.body.unwrap_err(),
        Err(e) => e,
    };
    assert!(e.is_timeout(), "{e:?}");
    assert!(t0.elapsed() >= Duration::from_millis(500));

    set(&f, AnswerFault::Reset);
    let e = raw(&f, &page("2", ""), T).await.err().expect("no answer");
    let chain = format!("{e:?}");
    assert!(
        chain.contains("reset") || chain.contains("Reset"),
        "{chain}"
    );

    f.emu.faults().clear();
    let a = raw(&f, &page("2", ""), T).await.unwrap();
    assert_eq!(a.json()["Data"]["Results"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn page_and_error_faults() {
    let f = Fixture::start(SEVEN, Some(r#"["b1","b2","b3"]"#)).await;
    let c = f.client();

    set(&f, AnswerFault::WrongTypes);
    let a = c.call(&page("2", "")).await;
    a.assert_ok();
    assert_eq!(a.results()[0]["Username"], 12345);
    let a = c.call(&Req::blacklist(Sig::V3, &[("Size", "2")])).await;
    assert_eq!(a.results()[0]["ClientId"], 12345);

    set(&f, AnswerFault::OversizedPage);
    assert_eq!(c.call(&page("2", "")).await.results().len(), 3);
    // fewer records than Size + 1: padded
    assert_eq!(c.call(&page("100", "")).await.results().len(), 101);

    set(&f, AnswerFault::LoopingToken);
    let first = c.call(&page("2", "")).await;
    let token = first.next_token().unwrap().to_owned();
    let second = c.call(&page("2", &token)).await;
    second.assert_ok();
    assert_eq!(second.next_token(), Some(token.as_str()), "the token loops");

    for (fault, status, code) in [
        (AnswerFault::ClockSkew, 400, "InvalidTimeStamp.Expired"),
        (
            AnswerFault::AccessKeyNotFound,
            404,
            "InvalidAccessKeyId.NotFound",
        ),
        (
            AnswerFault::TokenExpired,
            400,
            "InvalidSecurityToken.Expired",
        ),
    ] {
        set(&f, fault);
        c.call(&page("2", "")).await.assert_error(status, code);
    }

    // later pages only: the first page is served, the next one is not
    f.emu.faults().set(&Faults {
        answer: AnswerFault::NotJson,
        answer_later_pages_only: true,
        ..Faults::none()
    });
    let first = c.call(&page("2", "")).await;
    first.assert_ok();
    let a = raw(&f, &page("2", first.next_token().unwrap()), T)
        .await
        .unwrap();
    assert!(a.body.unwrap().starts_with(b"<html>"));
}
