//! The `peer` check: asks another checker, or an original Python Checker, whether it is
//! running its jobs and can send mail — by `GET` on its status URL or by running a command
//! that prints the answer — and judges the word it answers (`True`, `MailProblem`,
//! `JobProblem`), saying plainly what was wrong when it is not `True`.

use std::time::Duration;

use super::command::{self, Finished};
use super::http::{human, read_body, request_error, Clients};
use super::Outcome;
use crate::config::{PeerSpec, PeerTarget};
use crate::duration::timed_out;
use crate::text::truncate;

/// The most of a peer's answer that is read: the words are short, anything longer is
/// already wrong.
const ANSWER_CAP: usize = 4 * 1024;
/// The longest piece of an unexpected answer quoted in a message.
const QUOTE_CAP: usize = 80;

/// What a peer answered, in a few words for tables ("True", "HTTP 500", "no answer"),
/// and the check's verdict on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub answer: String,
    pub outcome: Outcome,
}

pub async fn check(spec: &PeerSpec, timeout: Duration, clients: &Clients) -> Outcome {
    ask(spec, timeout, clients).await.outcome
}

/// Asks the peer once, within `timeout`.
pub async fn ask(spec: &PeerSpec, timeout: Duration, clients: &Clients) -> Answer {
    let started = tokio::time::Instant::now();
    let mut answer = match &spec.target {
        PeerTarget::Url(url) => ask_url(spec, url, timeout, clients).await,
        PeerTarget::Command(c) => match command::run(c, timeout).await {
            Ok(done) => from_command(&done),
            Err(why) => no_answer(&why.message, why.transient),
        },
    };
    if answer.outcome.ok {
        answer
            .outcome
            .message
            .push_str(&format!(" ({})", human(started.elapsed())));
    }
    // A peer may echo what it was sent (its `Authorization` header, say): no configured
    // secret is quoted on.
    answer.answer = crate::redact::string(answer.answer);
    answer.outcome.message = crate::redact::string(answer.outcome.message);
    answer
}

async fn ask_url(spec: &PeerSpec, url: &str, timeout: Duration, clients: &Clients) -> Answer {
    let exchange = async {
        // Redirects are followed, as the original's `requests.get` does.
        let client = clients
            .get(true, spec.accept_invalid_certs)
            .map_err(Outcome::fail)?;
        let mut request = client.get(url).timeout(timeout);
        if let Some(token) = &spec.token {
            request = request.bearer_auth(token.expose());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| request_error(&e, timeout))?;
        let status = response.status().as_u16();
        let body = read_body(&mut response, ANSWER_CAP)
            .await
            .map_err(|e| request_error(&e, timeout))?;
        Ok::<_, Outcome>((status, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => no_answer(&timed_out(timeout), true),
        Ok(Err(why)) => no_answer(&why.message, why.transient),
        Ok(Ok((200, body))) => judge(&String::from_utf8_lossy(&body)),
        Ok(Ok((status, _))) => {
            let hint = match status {
                401 | 403 => ": is its `token` right?",
                404 => ": is the URL its status page?",
                _ => "",
            };
            let message = format!("peer answered HTTP {status}{hint}");
            Answer {
                answer: format!("HTTP {status}"),
                outcome: if status >= 500 {
                    Outcome::transient(message)
                } else {
                    Outcome::fail(message)
                },
            }
        }
    }
}

fn no_answer(why: &str, transient: bool) -> Answer {
    let message = format!("no answer: {why}");
    Answer {
        answer: "no answer".into(),
        outcome: if transient {
            Outcome::transient(message)
        } else {
            Outcome::fail(message)
        },
    }
}

/// `checker peer-status` exits 1 when it is unwell, so the exit status does not decide:
/// the word on standard output does. Only a command that printed nothing is judged by
/// how it ended (an ssh that could not connect, a missing program on the far side).
fn from_command(done: &Finished) -> Answer {
    let stdout = String::from_utf8_lossy(&done.stdout);
    if !stdout.trim().is_empty() {
        return judge(&stdout);
    }
    let stderr = String::from_utf8_lossy(&done.stderr);
    let why = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {}", truncate(l, 200)));
    let ended = match done.status.code() {
        Some(0) => "printed nothing".to_string(),
        Some(code) => format!("exited with status {code} and printed nothing"),
        None => "was killed by a signal".to_string(),
    };
    // ssh says 255 when it could not reach the far side: worth a retry.
    let transient = done.status.code() == Some(255);
    no_answer(
        &format!("the command {ended}{}", why.unwrap_or_default()),
        transient,
    )
}

/// Judges a peer's answer. The original serves exactly the word; as SPEC §6 says, a body
/// that contains the word `True` (say, wrapped by a proxy's page) is healthy too, unless
/// it also carries a problem word.
fn judge(body: &str) -> Answer {
    let trimmed = body.trim();
    let has = |w: &str| contains_word(trimmed, w);
    let word = if has("MailProblem") {
        "MailProblem"
    } else if has("JobProblem") {
        "JobProblem"
    } else if has("True") {
        "True"
    } else {
        trimmed
    };
    let (answer, outcome) = match word {
        "True" => ("True".to_string(), Outcome::ok("peer says True")),
        "MailProblem" => ("MailProblem".into(), Outcome::fail("peer says MailProblem: it cannot send mail")),
        "JobProblem" => ("JobProblem".into(), Outcome::fail("peer says JobProblem: it is not running its jobs")),
        "" => ("(empty)".into(), Outcome::fail("empty answer (expected True, MailProblem or JobProblem)")),
        w if looks_like_status(w) => (
            w.to_string(),
            Outcome::fail(format!(
                "peer says {w:?}: not a status this checker knows (expected True, MailProblem or JobProblem)"
            )),
        ),
        other => {
            let quoted = quote(other);
            (format!("unexpected {quoted}"), Outcome::fail(format!("unexpected answer {quoted}")))
        }
    };
    Answer { answer, outcome }
}

/// `s` quoted as `{:?}` quotes it, cut (with `…`) where its escaped form would pass
/// [`QUOTE_CAP`] characters: a character like U+1A62 is quoted as eight.
fn quote(s: &str) -> String {
    let mut shown = 0;
    for (i, c) in s.char_indices() {
        shown += c.escape_debug().count();
        if shown > QUOTE_CAP {
            return format!("{:?}", format!("{}…", &s[..i]));
        }
    }
    format!("{s:?}")
}

/// Whether `word` stands in `text` on its own, not inside a longer word ("NotTrue").
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric()) && !after.is_some_and(|c| c.is_alphanumeric())
    })
}

/// One capitalised word, as the original's status words are: a status from some other
/// version, rather than a page that is not a status page at all.
fn looks_like_status(w: &str) -> bool {
    w.len() <= 40
        && w.starts_with(|c: char| c.is_ascii_uppercase())
        && w.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_true_is_healthy_and_every_other_answer_says_what_it_was() {
        let cases = [
            ("True", true, "True", "peer says True"),
            ("  True\r\n", true, "True", "peer says True"),
            (
                "MailProblem",
                false,
                "MailProblem",
                "peer says MailProblem: it cannot send mail",
            ),
            (
                "JobProblem\n",
                false,
                "JobProblem",
                "peer says JobProblem: it is not running its jobs",
            ),
            (
                "Maintenance",
                false,
                "Maintenance",
                "peer says \"Maintenance\": not a status this checker knows",
            ),
            (
                "hello",
                false,
                "unexpected \"hello\"",
                "unexpected answer \"hello\"",
            ),
            ("<html>True</html>", true, "True", "peer says True"),
            (
                "status: MailProblem",
                false,
                "MailProblem",
                "peer says MailProblem",
            ),
            ("NotTrue", false, "NotTrue", "peer says \"NotTrue\""),
            ("", false, "(empty)", "empty answer"),
        ];
        for (body, ok, answer, message) in cases {
            let a = judge(body);
            assert_eq!(a.outcome.ok, ok, "{body:?}");
            assert_eq!(a.answer, answer, "{body:?}");
            assert!(
                a.outcome.message.starts_with(message),
                "{body:?}: {}",
                a.outcome.message
            );
        }
    }

    #[test]
    fn an_answer_of_characters_quoted_as_escapes_is_quoted_short_all_the_same() {
        // Each U+1A62 is quoted as `\u{1a62}`: 80 bytes of them were some 210 characters.
        let a = judge(&"\u{1a62}".repeat(40));
        assert!(a.answer.chars().count() <= QUOTE_CAP + 20, "{}", a.answer);
        assert!(a.answer.ends_with("…\""), "{}", a.answer);
    }

    #[test]
    fn a_long_unexpected_answer_is_quoted_shortened() {
        let page = "x".repeat(5000);
        let a = judge(&page);
        assert!(a.outcome.message.len() < 200, "{}", a.outcome.message);
    }
}

#[cfg(test)]
mod properties {
    //! A peer can answer anything: judging it never panics, only an answer with the word
    //! `True` (and no problem word) is healthy, and what is quoted from it stays short.
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::process::ExitStatusExt;

    fn bounded(a: &Answer) -> bool {
        a.answer.chars().count() <= QUOTE_CAP + 20 && a.outcome.message.len() <= 600
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_body_is_judged_without_panicking(body in any::<String>()) {
            let a = judge(&body);
            prop_assert!(bounded(&a), "{a:?}");
            if a.outcome.ok {
                prop_assert!(contains_word(body.trim(), "True"));
            }
        }

        #[test]
        fn status_words_in_any_surroundings_are_judged_without_panicking(
            before in "[ -~\n]{0,20}",
            word in "(True|MailProblem|JobProblem|Maintenance|true|TRUE|)",
            after in "[ -~\n]{0,20}",
        ) {
            let body = format!("{before}{word}{after}");
            let a = judge(&body);
            prop_assert!(bounded(&a), "{a:?}");
            let problem = contains_word(body.trim(), "MailProblem")
                || contains_word(body.trim(), "JobProblem");
            prop_assert_eq!(a.outcome.ok, contains_word(body.trim(), "True") && !problem);
        }

        #[test]
        fn any_command_output_is_judged_without_panicking(
            stdout in proptest::collection::vec(any::<u8>(), 0..300),
            stderr in proptest::collection::vec(any::<u8>(), 0..300),
            raw_status in any::<i32>(),
        ) {
            let done = Finished {
                status: std::process::ExitStatus::from_raw(raw_status),
                stdout,
                stderr,
            };
            let a = from_command(&done);
            prop_assert!(a.outcome.message.len() <= 600, "{a:?}");
        }
    }
}
