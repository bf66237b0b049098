//! Keeping configured secrets out of everything checker stores, prints, logs or forwards.
//! A server may echo a password back ("535 Authentication failed for user:hunter2"), a
//! peer may echo its `Authorization` header: whatever produced a message, every secret of
//! the configuration in it becomes `***` on the way out.
//!
//! One process-wide redactor, installed when the configuration is loaded ([`install`],
//! given `Config::secrets`), applied where messages leave: the state file (saved and
//! read), history events, log lines, alerts handed to a channel, and the results and
//! delivery errors commands print.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a secret becomes.
pub const MASK: &str = "***";
/// Secrets shorter than this are not masked: replacing two or three characters
/// everywhere would garble ordinary words, and such a secret protects nothing anyway.
pub const MIN_LEN: usize = 4;

/// A set of secrets and the text that replaces them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
    /// Each secret as it appears inside a JSON string (quotes and backslashes escaped),
    /// for the cheap test of serialised data.
    escaped: Vec<String>,
}

impl Redactor {
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.chars().count() >= MIN_LEN && s != MASK)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let escaped = secrets
            .iter()
            .map(|s| {
                let quoted = serde_json::to_string(s).unwrap_or_default();
                quoted
                    .strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .unwrap_or(s)
                    .to_string()
            })
            .collect();
        Redactor { secrets, escaped }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `***`; borrowed when there was none.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }

    /// Whether serialised JSON may hold a secret. JSON escapes a string character by
    /// character, so a string that contains a secret contains its escaped form: when no
    /// escaped form occurs, nothing needs masking.
    fn may_hold(&self, json: &[u8]) -> bool {
        match std::str::from_utf8(json) {
            Ok(text) => self
                .escaped
                .iter()
                .any(|e| !e.is_empty() && text.contains(e.as_str())),
            Err(_) => self
                .escaped
                .iter()
                .any(|e| !e.is_empty() && json.windows(e.len()).any(|w| w == e.as_bytes())),
        }
    }

    /// Masks the strings in a JSON value (object keys are names, not messages). With
    /// `whole` false, a string that is exactly a secret is left alone: it is then a
    /// name or a tag of the data's own (a weak password that is also a status word),
    /// whose masking would make the data unreadable.
    fn walk(&self, v: &mut serde_json::Value, whole: bool) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if !whole && self.secrets.iter().any(|x| x == s) {
                    return;
                }
                if let Cow::Owned(masked) = self.text(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.walk(i, whole)),
            Value::Object(map) => map.values_mut().for_each(|i| self.walk(i, whole)),
            _ => {}
        }
    }

    /// `value` masked so that it still reads as a `T`: every string masked, or if that
    /// breaks it, every string but those that are exactly a secret; else unchanged.
    fn masked_as<T: DeserializeOwned>(&self, value: &serde_json::Value) -> Option<T> {
        [true, false].into_iter().find_map(|whole| {
            let mut v = value.clone();
            self.walk(&mut v, whole);
            serde_json::from_value(v).ok()
        })
    }

    /// Serialised JSON with every secret masked inside its strings, such that it still
    /// reads as a `T`. Bytes that are not JSON are returned unchanged (the reader
    /// reports them).
    pub fn json_bytes<T: Serialize + DeserializeOwned>(&self, bytes: Vec<u8>) -> Vec<u8> {
        if !self.may_hold(&bytes) {
            return bytes;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return bytes;
        };
        match self.masked_as::<T>(&value) {
            Some(t) => serde_json::to_vec(&t).unwrap_or(bytes),
            None => bytes,
        }
    }

    /// A value with every secret masked in every string it serialises to.
    pub fn value<T: Serialize + DeserializeOwned>(&self, v: T) -> T {
        if self.is_empty() {
            return v;
        }
        let Ok(bytes) = serde_json::to_vec(&v) else {
            return v;
        };
        if !self.may_hold(&bytes) {
            return v;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return v;
        };
        self.masked_as(&value).unwrap_or(v)
    }
}

static ACTIVE: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Installs the process-wide redactor with these secrets (replacing any before): the
/// configuration's, `Config::secrets`.
pub fn install<I, S>(secrets: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let r = Redactor::new(secrets);
    *ACTIVE.write().unwrap_or_else(PoisonError::into_inner) = (!r.is_empty()).then(|| Arc::new(r));
}

fn active() -> Option<Arc<Redactor>> {
    ACTIVE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Whether any secret is configured, so that something may need masking.
pub fn is_active() -> bool {
    ACTIVE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// `text` with every configured secret masked.
pub fn text(text: &str) -> Cow<'_, str> {
    match active() {
        Some(r) => Cow::Owned(r.text(text).into_owned()),
        None => Cow::Borrowed(text),
    }
}

/// An owned string with every configured secret masked.
pub fn string(s: String) -> String {
    match active() {
        Some(r) => match r.text(&s) {
            Cow::Borrowed(_) => s,
            Cow::Owned(masked) => masked,
        },
        None => s,
    }
}

/// Serialised JSON of a `T` with every configured secret masked inside its strings.
pub fn json_bytes<T: Serialize + DeserializeOwned>(bytes: Vec<u8>) -> Vec<u8> {
    match active() {
        Some(r) => r.json_bytes::<T>(bytes),
        None => bytes,
    }
}

/// A value with every configured secret masked in its strings.
pub fn value<T: Serialize + DeserializeOwned>(v: T) -> T {
    match active() {
        Some(r) => r.value(v),
        None => v,
    }
}

/// The credentials a URL carries: the password of its userinfo, and query values that
/// look like keys (by their name, or by being long random-looking strings), each raw and
/// percent-decoded. The URL as a whole is not one: its host and path are shown.
pub fn url_credentials(url: &str) -> Vec<String> {
    match reqwest::Url::parse(url) {
        Ok(u) => parsed_url_credentials(&u),
        Err(_) => Vec::new(),
    }
}

/// [`url_credentials`] of a URL already parsed (an http job's, parsed when it was loaded).
pub fn parsed_url_credentials(u: &reqwest::Url) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = u.password() {
        push_raw_and_decoded(&mut out, p);
    }
    if let Some(q) = u.query() {
        for pair in q.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or(("", pair));
            if sensitive_name(&decode(name)) || random_looking(value) {
                push_raw_and_decoded(&mut out, value);
            }
        }
    }
    for segment in u.path_segments().into_iter().flatten() {
        if random_looking(segment) {
            push_raw_and_decoded(&mut out, segment);
        }
    }
    out
}

fn push_raw_and_decoded(out: &mut Vec<String>, raw: &str) {
    out.push(raw.to_string());
    let decoded = decode(raw);
    if decoded != raw {
        out.push(decoded);
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A name under which credentials are usually passed: `token`, `api_key`, `password`,
/// `Authorization`, `X-Auth-Token`, `signature`...
pub fn sensitive_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "token",
        "key",
        "secret",
        "pass",
        "pwd",
        "auth",
        "sig",
        "credential",
        "session",
        "cookie",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

/// A long string of letters and digits, both: how generated keys look (and words and
/// numbers do not).
fn random_looking(s: &str) -> bool {
    s.len() >= 20
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%+/=".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_is_masked_longest_first_and_short_ones_are_left() {
        let r = Redactor::new(["hunter2", "hunter2-long", "abc"]);
        assert_eq!(
            r.text("535 failed for :user:hunter2-long and hunter2, abc"),
            "535 failed for :user:*** and ***, abc"
        );
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_that_is_also_a_word_of_the_data_does_not_make_it_unreadable() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Status {
            Pending,
            Failing,
        }
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        struct J {
            status: Status,
            message: String,
        }
        let r = Redactor::new(["pending"]);
        let j = r.value(J {
            status: Status::Pending,
            message: "login pending for user".into(),
        });
        assert_eq!(j.status, Status::Pending);
        assert_eq!(j.message, "login *** for user");
        let bytes = serde_json::to_vec(&J {
            status: Status::Failing,
            message: "pending".into(),
        })
        .unwrap();
        let back: J = serde_json::from_slice(&r.json_bytes::<J>(bytes)).unwrap();
        assert_eq!(back.message, "***");
    }

    #[test]
    fn json_is_masked_inside_strings_even_when_the_secret_needs_escaping() {
        let r = Redactor::new(["pa\"ss\\word"]);
        let v = serde_json::json!({"a": "x pa\"ss\\word y", "n": 1, "l": ["pa\"ss\\word"]});
        let out = r.json_bytes::<serde_json::Value>(serde_json::to_vec(&v).unwrap());
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"a": "x *** y", "n": 1, "l": ["***"]})
        );
        // A newline escape next to a secret's letters does not fool it into breaking JSON.
        let r = Redactor::new(["nabc"]);
        let bytes = serde_json::to_vec(&serde_json::json!({"m": "\nabc"})).unwrap();
        let out = r.json_bytes::<serde_json::Value>(bytes);
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["m"], "\nabc");
    }

    #[test]
    fn typed_values_come_back_masked() {
        #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
        struct M {
            message: String,
            n: u32,
        }
        let r = Redactor::new(["s3cr3t-token"]);
        let m = r.value(M {
            message: "echo: Bearer s3cr3t-token".into(),
            n: 3,
        });
        assert_eq!(
            m,
            M {
                message: "echo: Bearer ***".into(),
                n: 3
            }
        );
    }

    #[test]
    fn url_credentials_are_the_password_and_key_like_query_values() {
        let found = url_credentials(
            "https://me:pa%40ss@api.example.com/1/messages.json?token=abcd1234&page=2&x=Zq8v2LmN4pR7sT1uW3yB",
        );
        assert!(found.contains(&"pa%40ss".to_string()), "{found:?}");
        assert!(found.contains(&"pa@ss".to_string()), "{found:?}");
        assert!(found.contains(&"abcd1234".to_string()), "{found:?}");
        assert!(
            found.contains(&"Zq8v2LmN4pR7sT1uW3yB".to_string()),
            "{found:?}"
        );
        assert!(!found.iter().any(|s| s == "2"), "{found:?}");
        assert!(url_credentials("http://127.0.0.1:5000/").is_empty());
        let slack = url_credentials(
            "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnop12345678",
        );
        assert_eq!(slack, vec!["abcdefghijklmnop12345678".to_string()]);
    }
}
