//! Checks that an error message does not repeat a secret of the input it is about.

use serde_json::Value;

/// Asserts that `message` repeats none of the `Secret` values of `input` (JSON; anything else
/// quotes nothing and passes). Only secrets that cannot be in the message for another reason
/// are checked: at least 16 ASCII letters and digits, and not part of any other string, key or
/// number of the input.
pub fn assert_no_secret_quoted(input: &[u8], message: &str) {
    let Ok(value) = serde_json::from_slice::<Value>(input) else {
        return; // syntax errors quote nothing of the input
    };
    let (mut secrets, mut others) = (Vec::new(), Vec::new());
    collect_strings(&value, &mut secrets, &mut others);
    for s in secrets {
        if s.len() < 16 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if others.iter().any(|o| o.contains(s.as_str())) {
            continue;
        }
        assert!(
            !message.contains(&s),
            "the message repeats a secret: {message}"
        );
    }
}

/// The values of `Secret` keys into `secrets`; every other string, key and number into `others`.
fn collect_strings(v: &Value, secrets: &mut Vec<String>, others: &mut Vec<String>) {
    match v {
        Value::String(s) => others.push(s.clone()),
        Value::Number(n) => others.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, secrets, others)),
        Value::Object(m) => {
            for (k, x) in m {
                others.push(k.clone());
                match x {
                    Value::String(s) if k == "Secret" => secrets.push(s.clone()),
                    _ => collect_strings(x, secrets, others),
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &[u8] =
        br#"[{"Username":"u","Secret":"Abcdefghijklmnop1234"},{"Username":"v","Secret":"short"}]"#;

    #[test]
    fn a_quoted_secret_fails() {
        let r = std::panic::catch_unwind(|| {
            assert_no_secret_quoted(INPUT, "bad record: Abcdefghijklmnop1234")
        });
        assert!(r.is_err());
    }

    #[test]
    fn what_is_not_a_checkable_secret_passes() {
        assert_no_secret_quoted(INPUT, "record 1 (u): bad");
        // too short to tell from other text
        assert_no_secret_quoted(INPUT, "short");
        // not JSON: nothing to quote
        assert_no_secret_quoted(b"{not json Abcdefghijklmnop1234", "Abcdefghijklmnop1234");
        // the secret is also a username: the message may name the username
        assert_no_secret_quoted(
            br#"[{"Username":"Abcdefghijklmnop1234","Secret":"Abcdefghijklmnop1234"}]"#,
            "unknown Abcdefghijklmnop1234",
        );
    }
}
