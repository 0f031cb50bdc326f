//! A request's parameters, wherever the broker put them: the query string, a form body or a JSON
//! object body. Values that are JSON numbers or booleans are kept as their text (`"acc": 2`).

use std::fmt;

use serde_json::Value;
use zeroize::Zeroize;

/// Named parameters. The password is wiped on drop and never shown by `Debug`.
#[derive(Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// The JSON body, when it was one (VerneMQ's `topics` array lives there).
    pub json: Option<Value>,
}

/// Why a body could not be read.
#[derive(Debug)]
pub struct BadBody(pub String);

impl Params {
    /// The query string of `uri` and the body, JSON when it starts with `{`, else a form.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Result<Params, BadBody> {
        let mut p = Params::default();
        if let Some(q) = query {
            p.add_form(q.as_bytes());
        }
        let trimmed = body.trim_ascii_start();
        if trimmed.first() == Some(&b'{') {
            let value: Value = serde_json::from_slice(trimmed)
                .map_err(|e| BadBody(format!("the body is not valid JSON ({e})")))?;
            let Value::Object(map) = &value else {
                unreachable!("starts with {{")
            };
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                p.pairs.push((k.clone(), text));
            }
            p.json = Some(value);
        } else if !trimmed.is_empty() {
            p.add_form(body);
        }
        Ok(p)
    }

    fn add_form(&mut self, bytes: &[u8]) {
        for (k, v) in form_urlencoded::parse(bytes) {
            self.pairs.push((k.into_owned(), v.into_owned()));
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or the error that names it.
    pub fn require(&self, name: &'static str) -> Result<&str, Missing> {
        self.get(name).ok_or(Missing(name))
    }
}

impl Drop for Params {
    fn drop(&mut self) {
        for (k, v) in &mut self.pairs {
            if k == "password" {
                v.zeroize();
            }
        }
        if let Some(Value::Object(map)) = &mut self.json {
            if let Some(Value::String(s)) = map.get_mut("password") {
                s.zeroize();
            }
        }
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.pairs {
            if k == "password" {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// A required parameter that is missing.
#[derive(Debug, Clone, Copy)]
pub struct Missing(pub &'static str);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing parameter {:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_and_query() {
        let p = Params::parse(
            Some("x=1"),
            br#"{"username":"u","acc":2,"password":"pw","topics":[]}"#,
        )
        .unwrap();
        assert_eq!(
            (p.get("x"), p.get("username"), p.get("acc")),
            (Some("1"), Some("u"), Some("2"))
        );
        assert!(!format!("{p:?}").contains("pw"), "{p:?}");
        let p = Params::parse(None, b"clientid=c%2F1&password=p+w").unwrap();
        assert_eq!(
            (p.get("clientid"), p.get("password")),
            (Some("c/1"), Some("p w"))
        );
        let e = Params::parse(None, b"{\"a\":").unwrap_err();
        assert!(e.0.contains("not valid JSON"), "{}", e.0);
        assert_eq!(
            p.require("topic").unwrap_err().to_string(),
            "missing parameter \"topic\""
        );
    }
}
