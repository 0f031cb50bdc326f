//! A small signing client for the emulator's tests: builds V3 or V1 requests with
//! `mqid_sync::openapi::sign`, lets a test spoil any part of them, and sends them with reqwest.
#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::time::{Duration, SystemTime};

use mqid_emulator::{Emulator, EmulatorConfig};
use mqid_sync::openapi::sign;
use serde_json::Value;

pub const AK_ID: &str = "LTAI5tEmulatorTestKey";
pub const AK_SECRET: &str = "emulator-test-secret";
pub const INSTANCE: &str = "mqtt-test-instance";

/// Seven identities of every kind, in no particular order.
pub const SEVEN: &str = r#"[
  {"Username":"user-ü","Secret":"s-ü","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"dev","Secret":"s-d1","IdentityType":"CLIENT","ClientId":"GID_x@@@1","SignMode":"SIGNED"},
  {"Username":"user-a","Secret":"s-a","IdentityType":"USER","SignMode":"SIGNED"},
  {"Username":"dev","Secret":"s-d3","IdentityType":"CLIENT","ClientId":"GID_x@@@3","SignMode":"ORIGIN"},
  {"Username":"dev","Secret":"s-d2","IdentityType":"CLIENT","ClientId":"GID_x@@@2","SignMode":"SIGNED"},
  {"Username":"spaced name+plus/slash","Secret":"s-sp","IdentityType":"USER","SignMode":"ORIGIN"},
  {"Username":"dev","Secret":"s-du","IdentityType":"USER","SignMode":"ORIGIN"}
]"#;

/// Six topic rules of every kind, in no particular order (two share one identity and type).
pub const RULES: &str = r#"[
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/+/up","PermitAction":"PUB","Effect":"ALLOW"},
  {"Identity":"GID_x@@@1","IdentityType":"CLIENT","Topic":"fleet/1/#","PermitAction":"PUB_SUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/secret","PermitAction":"SUB","Effect":"DENY"},
  {"Identity":"fleet","IdentityType":"CLIENT","Topic":"fleet/+/up","PermitAction":"SUB","Effect":"ALLOW"},
  {"Identity":"user-ü","IdentityType":"USER","Topic":"ü/ß","PermitAction":"PUB_SUB","Effect":"ALLOW"},
  {"Identity":"spaced name+plus/slash","IdentityType":"USER","Topic":"a b/+/c","PermitAction":"SUB","Effect":"ALLOW"}
]"#;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub emu: Emulator,
    pub cfg: EmulatorConfig,
}

impl Fixture {
    pub async fn start(identities: &str, blacklist: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ids = dir.path().join("identities.json");
        std::fs::write(&ids, identities).unwrap();
        let mut cfg = EmulatorConfig::new(&ids, AK_ID, AK_SECRET);
        cfg.instance_id = INSTANCE.to_owned();
        if let Some(b) = blacklist {
            let p = dir.path().join("blacklist.json");
            std::fs::write(&p, b).unwrap();
            cfg.blacklist = Some(p);
        }
        let rules = dir.path().join("permissions.json");
        std::fs::write(&rules, RULES).unwrap();
        cfg.permissions = Some(rules);
        let emu = Emulator::bind("127.0.0.1:0", cfg.clone()).await.unwrap();
        Fixture { dir, emu, cfg }
    }

    pub fn identities_path(&self) -> &Path {
        &self.cfg.identities
    }

    pub fn client(&self) -> Client {
        Client::new(&self.emu)
    }
}

/// An answer: status, headers, parsed JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["Code"].as_str().unwrap_or("")
    }
    pub fn results(&self) -> &Vec<Value> {
        self.json["Data"]["Results"]
            .as_array()
            .unwrap_or_else(|| panic!("no Data.Results in {self:?}"))
    }
    pub fn next_token(&self) -> Option<&str> {
        self.json["Data"]["NextToken"].as_str()
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.json["Code"], 200, "{self:?}");
        assert_eq!(self.json["Success"], true);
        assert_eq!(self.json["Message"], "operation success.");
        assert!(self.json["RequestId"]
            .as_str()
            .is_some_and(|r| r.len() == 36));
        self
    }
    /// Each result as the string values of `keys`, joined by `sep`.
    pub fn joined(&self, keys: &[&str], sep: &str) -> Vec<String> {
        self.results()
            .iter()
            .map(|r| {
                let values: Vec<&str> = keys.iter().map(|k| r[*k].as_str().unwrap()).collect();
                values.join(sep)
            })
            .collect()
    }
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer {self:?}"
        );
        for field in ["RequestId", "HostId", "Code", "Message"] {
            assert!(self.json[field].is_string(), "{field} missing in {self:?}");
        }
        self
    }
}

/// Which signature to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    V3,
    V1,
}

/// One request, with every part a test may want to change.
#[derive(Clone, Debug)]
pub struct Req {
    pub sig: Sig,
    pub method: &'static str,
    /// Parameters in the URL query (V1: besides the common ones added at signing).
    pub params: Vec<(String, String)>,
    /// With `method = "POST"`: parameters sent as a form body instead.
    pub form: Vec<(String, String)>,
    pub action: String,
    pub version: String,
    pub access_key_id: String,
    pub secret: String,
    pub date: String,
    pub nonce: String,
    pub security_token: Option<String>,
    pub path: String,
}

impl Req {
    pub fn new(sig: Sig, action: &str, params: &[(&str, &str)]) -> Self {
        Req {
            sig,
            method: "GET",
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            form: Vec::new(),
            action: action.to_owned(),
            version: "2020-04-20".to_owned(),
            access_key_id: AK_ID.to_owned(),
            secret: AK_SECRET.to_owned(),
            date: sign::format_timestamp(SystemTime::now()),
            nonce: sign::new_nonce(),
            security_token: None,
            path: "/".to_owned(),
        }
    }

    pub fn identities(sig: Sig, params: &[(&str, &str)]) -> Self {
        let mut all = vec![("InstanceId", INSTANCE)];
        all.extend_from_slice(params);
        Self::new(sig, "QueryCustomAuthIdentity", &all)
    }

    pub fn blacklist(sig: Sig, params: &[(&str, &str)]) -> Self {
        let mut all = vec![("InstanceId", INSTANCE)];
        all.extend_from_slice(params);
        Self::new(sig, "QueryCustomAuthConnectBlack", &all)
    }

    pub fn permissions(sig: Sig, params: &[(&str, &str)]) -> Self {
        let mut all = vec![("InstanceId", INSTANCE)];
        all.extend_from_slice(params);
        Self::new(sig, "QueryCustomAuthPermission", &all)
    }

    pub fn skewed(mut self, by: Duration, late: bool) -> Self {
        let t = if late {
            SystemTime::now() - by
        } else {
            SystemTime::now() + by
        };
        self.date = sign::format_timestamp(t);
        self
    }

    /// Moves the parameters into a form body and makes it a POST.
    pub fn into_form_post(mut self) -> Self {
        self.method = "POST";
        self.form = std::mem::take(&mut self.params);
        self
    }
}

/// The signed request, ready to send (or to spoil further).
#[derive(Clone, Debug)]
pub struct Signed {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct Client {
    http: reqwest::Client,
    addr: String,
}

impl Client {
    pub fn new(emu: &Emulator) -> Self {
        Client {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            addr: emu.local_addr().to_string(),
        }
    }

    pub fn sign(&self, r: &Req) -> Signed {
        let body = if r.form.is_empty() {
            Vec::new()
        } else {
            sign::canonical_query(&r.form).into_bytes()
        };
        match r.sig {
            Sig::V3 => {
                let mut headers = vec![
                    ("host".to_owned(), self.addr.clone()),
                    ("x-acs-action".to_owned(), r.action.clone()),
                    ("x-acs-version".to_owned(), r.version.clone()),
                    ("x-acs-date".to_owned(), r.date.clone()),
                    ("x-acs-signature-nonce".to_owned(), r.nonce.clone()),
                    ("x-acs-content-sha256".to_owned(), sign::sha256_hex(&body)),
                ];
                if !body.is_empty() {
                    headers.push((
                        "content-type".to_owned(),
                        "application/x-www-form-urlencoded".to_owned(),
                    ));
                }
                if let Some(t) = &r.security_token {
                    headers.push(("x-acs-security-token".to_owned(), t.clone()));
                }
                let auth = sign::v3_authorization(
                    &r.access_key_id,
                    &r.secret,
                    r.method,
                    &r.path,
                    &r.params,
                    &headers,
                    &sign::sha256_hex(&body),
                );
                headers.push(("authorization".to_owned(), auth));
                Signed {
                    method: r.method,
                    path: r.path.clone(),
                    query: r.params.clone(),
                    headers,
                    body,
                }
            }
            Sig::V1 => {
                let mut query = r.params.clone();
                for (k, v) in [
                    ("Action", r.action.as_str()),
                    ("Version", r.version.as_str()),
                    ("Format", "JSON"),
                    ("AccessKeyId", r.access_key_id.as_str()),
                    ("SignatureMethod", "HMAC-SHA1"),
                    ("SignatureVersion", "1.0"),
                    ("SignatureNonce", r.nonce.as_str()),
                    ("Timestamp", r.date.as_str()),
                ] {
                    query.push((k.to_owned(), v.to_owned()));
                }
                if let Some(t) = &r.security_token {
                    query.push(("SecurityToken".to_owned(), t.clone()));
                }
                let mut all = query.clone();
                all.extend(r.form.iter().cloned());
                let signature = sign::v1_signature(&r.secret, r.method, &all);
                query.push(("Signature".to_owned(), signature));
                let mut headers = Vec::new();
                if !body.is_empty() {
                    headers.push((
                        "content-type".to_owned(),
                        "application/x-www-form-urlencoded".to_owned(),
                    ));
                }
                Signed {
                    method: r.method,
                    path: r.path.clone(),
                    query,
                    headers,
                    body,
                }
            }
        }
    }

    pub async fn send(&self, s: &Signed) -> Result<Answer, reqwest::Error> {
        let mut url = format!("http://{}{}", self.addr, s.path);
        if !s.query.is_empty() {
            url.push('?');
            url.push_str(&sign::canonical_query(&s.query));
        }
        let method = reqwest::Method::from_bytes(s.method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, url);
        for (k, v) in &s.headers {
            if k != "host" {
                rb = rb.header(k, v);
            }
        }
        let resp = rb.body(s.body.clone()).send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {status} {text:?}"));
        Ok(Answer {
            status,
            headers,
            json,
        })
    }

    /// Signs and sends `r`, panicking on a transport error.
    pub async fn call(&self, r: &Req) -> Answer {
        self.send(&self.sign(r)).await.expect("transport error")
    }

    /// Pages through a query with `size`, returning every page's answer.
    pub async fn pages(&self, base: &Req, size: u32) -> Vec<Answer> {
        let mut pages = Vec::new();
        let mut token = String::new();
        loop {
            let mut r = base.clone();
            r.nonce = sign::new_nonce();
            r.params.push(("Size".into(), size.to_string()));
            r.params.push(("NextToken".into(), token.clone()));
            let a = self.call(&r).await;
            a.assert_ok();
            let next = a.next_token().map(str::to_owned);
            pages.push(a);
            match next {
                Some(t) if !t.is_empty() => token = t,
                _ => return pages,
            }
            assert!(pages.len() < 1000, "paging does not end");
        }
    }
}

/// The rules of a JSON file, sorted the way the emulator serves them.
pub fn sorted_rules(json: &str) -> Vec<Value> {
    sorted_by(json, ["Identity", "IdentityType", "Topic"])
}

/// The records of a JSON file, sorted the way the emulator serves them.
pub fn sorted_records(json: &str) -> Vec<Value> {
    sorted_by(json, ["Username", "IdentityType", "ClientId"])
}

/// The objects of a JSON array, sorted by the string values of `keys` (an absent one as "").
fn sorted_by(json: &str, keys: [&str; 3]) -> Vec<Value> {
    let mut v: Vec<Value> = serde_json::from_str(json).unwrap();
    v.sort_by_key(|r| keys.map(|k| r[k].as_str().unwrap_or("").to_owned()));
    v
}
