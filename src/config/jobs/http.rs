//! `kind = "http"`: a request and what its answer must show (status, text, JSON values,
//! response time).

use super::raw::{value, JobCx, RawJob, StatusList};
use crate::config::job::HttpSpec;

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> HttpSpec {
    let name = k.name;
    let url = value(&r.url).unwrap_or_default();
    let mut parsed_url = None;
    if url.is_empty() {
        k.missing(format!(
            "job {name:?}: kind \"http\" needs `url`, e.g. url = \"https://example.com/\""
        ));
    } else if let Some(at) = &r.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            k.at(
                at,
                format!("job {name:?}: `url` {url:?} must start with http:// or https://"),
            );
        } else {
            match http_url(&url) {
                Ok(u) => parsed_url = Some(u),
                Err(e) => k.at(
                    at,
                    format!("job {name:?}: `url` {url:?} is not a valid URL: {e}"),
                ),
            }
        }
    }
    if let Some(m) = &r.method {
        if !is_http_token(m.get_ref()) {
            k.at(
                m,
                format!("job {name:?}: `method` {:?} is not an HTTP method: use a single word such as \"GET\", \"HEAD\" or \"POST\"", m.get_ref()),
            );
        }
    }
    if let Some(h) = &r.headers {
        for (key, v) in h.get_ref() {
            if let Some(why) = header_problem(key, v) {
                k.at(h, format!("job {name:?}: `headers`: {why}"));
            }
        }
    }
    let expect_status = match r.expect_status.as_ref().map(|s| s.get_ref()) {
        None => vec![200],
        Some(StatusList::One(s)) => vec![*s],
        Some(StatusList::Many(v)) => v.clone(),
    };
    if expect_status.is_empty() || expect_status.iter().any(|s| !(100..=599).contains(s)) {
        if let Some(at) = &r.expect_status {
            k.at(
                at,
                format!("job {name:?}: `expect_status` takes HTTP status codes from 100 to 599"),
            );
        }
    }
    let accept_invalid_certs = value(&r.accept_invalid_certs).unwrap_or(false);
    if let (Some(ca), true) = (&r.ca_file, accept_invalid_certs) {
        k.at(ca, format!("job {name:?}: `ca_file` and `accept_invalid_certs = true` contradict each other: keep `ca_file` to trust that certificate or CA, or remove it to accept any certificate"));
    }
    HttpSpec {
        url,
        parsed_url,
        method: value(&r.method)
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase(),
        headers: value(&r.headers).unwrap_or_default().into_iter().collect(),
        body: value(&r.body),
        expect_status: expect_status
            .into_iter()
            .map(|s| s.clamp(100, 599) as u16)
            .collect(),
        contains: value(&r.contains),
        max_response_time: k.duration("max_response_time", &r.max_response_time),
        follow_redirects: value(&r.follow_redirects).unwrap_or(true),
        accept_invalid_certs,
        not_contains: value(&r.not_contains),
        json: match &r.json {
            Some(table) => json_assertions(k, table),
            None => Vec::new(),
        },
        ca_file: r.ca_file.as_ref().map(|f| k.path(f.get_ref())),
    }
}

/// Whether `s` is an HTTP token (RFC 9110): what a method name must be.
fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An absolute http(s) URL with a host, or why it is not.
fn http_url(url: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(u),
        Ok(_) => Err("it has no host".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// What is wrong with one request header, if anything: a name that is not a token (a
/// space, a colon), or a line break or control character that would split the request.
fn header_problem(name: &str, value: &str) -> Option<String> {
    if !is_http_token(name) {
        return Some(format!(
            "{name:?} is not a valid header name: use letters, digits and - (no spaces or line breaks)"
        ));
    }
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Some(format!(
            "the value of {name:?} holds a line break or a control character, which a header cannot carry"
        ));
    }
    None
}

/// An http job's `json` table: JSON pointers and the values expected there.
fn json_assertions(
    k: &mut JobCx<'_, '_>,
    table: &toml::Spanned<toml::Table>,
) -> Vec<(String, serde_json::Value)> {
    let name = k.name;
    let mut out = Vec::new();
    for (pointer, value) in table.get_ref() {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            k.at(
                table,
                format!("job {name:?}: `json` key {pointer:?} is not a JSON pointer: start it with /, e.g. \"/status\" or \"/items/0/name\""),
            );
            continue;
        }
        match toml_to_json(value) {
            Some(v) => out.push((pointer.clone(), v)),
            None => k.at(
                table,
                format!("job {name:?}: `json` {pointer:?}: the expected value must be finite"),
            ),
        }
    }
    out
}

/// A TOML value as the JSON value it stands for; dates become their text.
fn toml_to_json(v: &toml::Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => J::Number(serde_json::Number::from_f64(*f)?),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect::<Option<_>>()?),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Some((k.clone(), toml_to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::JobKind;
    use proptest::prelude::*;

    fn one_url(url: &str) -> String {
        format!("[[job]]\nname = \"web\"\nkind = \"http\"\nurl = {url:?}\n")
    }

    #[test]
    fn an_http_job_keeps_its_url_parsed_as_the_text_reads() {
        for url in [
            "http://127.0.0.1:8080/health?x=1",
            "https://user:p%40ss@Example.COM/a/../b/%7Efile#frag",
            "https://bücher.example/straße?q=ä",
            "http://[::1]:9000/",
        ] {
            let (_dir, config) = crate::engine::test_config(&one_url(url));
            let Some(JobKind::Http(spec)) = config.job("web").map(|j| &j.kind) else {
                panic!("{url}: no http job");
            };
            assert_eq!(spec.url, url);
            assert_eq!(
                spec.parsed_url.as_ref(),
                Some(&reqwest::Url::parse(url).expect("valid")),
                "{url}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        // The secrets found in the URLs parsed at load are those found by parsing the text.
        #[test]
        fn secrets_from_the_parsed_url_are_those_of_its_text(
            user in "[a-z]{0,6}",
            password in "[a-zA-Z0-9%@!]{0,12}",
            host in "(127\\.0\\.0\\.1|example\\.com|[a-z]{1,8}\\.test)",
            path in proptest::collection::vec("[a-zA-Z0-9_-]{0,24}", 0..4),
            query in proptest::collection::vec(("(token|key|page|x|api_key)", "[a-zA-Z0-9%]{0,24}"), 0..3),
        ) {
            let auth = if user.is_empty() && password.is_empty() {
                String::new()
            } else {
                format!("{user}:{password}@")
            };
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let url = format!("https://{auth}{host}/{}?{}", path.join("/"), query.join("&"));
            let (_dir, config) = crate::engine::test_config(&one_url(&url));
            let mut unparsed = config.clone();
            for job in &mut unparsed.jobs {
                if let JobKind::Http(spec) = &mut job.kind {
                    prop_assert!(spec.parsed_url.is_some(), "{}", url);
                    spec.parsed_url = None;
                }
            }
            prop_assert_eq!(config.secrets(), unparsed.secrets());
        }
    }
}
