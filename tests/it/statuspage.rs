//! The status page and badges end to end (SPEC §11): the page a tick writes, parsed with a
//! real HTML parser (scraper, html5ever's tree builder) and checked element by element;
//! when a tick rewrites it; `serve`'s `/status` and badges with their types, statuses and
//! the token; and the page rendered by a real headless Chromium at phone and desktop
//! widths, light and dark.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

use crate::support::history::{event, seed_history};
use crate::support::peers as p;
use crate::support::{stdout, Fixture, BASE_SETTINGS};

const EVIL_NAME: &str = "web <script>alert(1)</script>";

/// Two groups, a job without one, a job kept off the page, a passive job with no result
/// yet; "web" fails with markup in its name and in its message.
const JOBS: &str = r#"
[[job]]
name = "web <script>alert(1)</script>"
kind = "command"
command = ["./evil.sh"]
group = "Web"

[[job]]
name = "api"
kind = "command"
command = ["./ok.sh"]
group = "Web"

[[job]]
name = "db"
kind = "command"
command = ["./ok.sh"]
group = "Data"

[[job]]
name = "private"
kind = "command"
command = ["./ok.sh"]
public = false

[[job]]
name = "batch"
kind = "passive"
expect_every = "1d"
"#;

const EVIL_SCRIPT: &str = "#!/bin/sh\necho 'CRITICAL - <script>alert(2)</script> & more'\nexit 2\n";

fn page_settings(extra: &str) -> String {
    format!("{BASE_SETTINGS}\n[status_page]\npath = \"status.html\"\ntitle = \"Acme <status>\"\n{extra}")
}

/// The fixture above, with history: "api" failed for half an hour at 10:00 ten days ago,
/// and passed 40 and 89 days ago; "db" passed 3 days ago.
fn fixture(extra: &str) -> (Fixture, DateTime<Utc>) {
    let f = Fixture::with_settings(&page_settings(extra));
    f.jobs(JOBS);
    f.ok_script();
    f.script("jobs/evil.sh", EVIL_SCRIPT);
    let now = Utc::now();
    let at = |days: i64, h: u32, m: u32| {
        (now - Duration::days(days))
            .date_naive()
            .and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap())
            .and_utc()
    };
    seed_history(
        &f,
        &[
            event(at(89, 12, 0), "api", "result", Some(true), "200 OK"),
            event(at(40, 12, 0), "api", "result", Some(true), "200 OK"),
            event(at(10, 9, 30), "api", "result", Some(true), "200 OK"),
            event(
                at(10, 10, 0),
                "api",
                "result",
                Some(false),
                "HTTP 503 <b>bold</b>",
            ),
            event(at(10, 10, 30), "api", "result", Some(true), "200 OK"),
            event(at(3, 8, 0), "db", "result", Some(true), "connected"),
        ],
    );
    (f, now)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s}: {e:?}"))
}

fn text(e: ElementRef<'_>) -> String {
    e.text().collect::<String>()
}

fn all_text(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s)).map(text).collect()
}

fn one<'a>(doc: &'a Html, s: &str) -> ElementRef<'a> {
    let found: Vec<_> = doc.select(&sel(s)).collect();
    assert_eq!(found.len(), 1, "one {s}, found {}", found.len());
    found[0]
}

fn read_page(f: &Fixture) -> String {
    std::fs::read_to_string(f.path().join("status.html")).expect("the tick wrote status.html")
}

/// The job rows, by name.
fn job<'a>(doc: &'a Html, name: &str) -> ElementRef<'a> {
    doc.select(&sel("div.job"))
        .find(|j| {
            j.select(&sel(".name"))
                .next()
                .is_some_and(|n| text(n) == name)
        })
        .unwrap_or_else(|| panic!("no job row {name:?}"))
}

fn bar_titles(row: ElementRef<'_>) -> Vec<String> {
    row.select(&sel("svg.bars rect title")).map(text).collect()
}

fn day(now: DateTime<Utc>, back: i64) -> String {
    (now - Duration::days(back)).format("%Y-%m-%d").to_string()
}

#[test]
fn a_tick_writes_a_self_contained_page_with_every_element_and_escapes_names_and_messages() {
    let (f, now) = fixture("");
    f.tick("minute");
    let html = read_page(&f);
    let doc = Html::parse_document(&html);

    // Self-contained: no script, nothing loaded from anywhere.
    assert!(!html.contains("<script>"), "markup from a job escaped");
    assert_eq!(
        doc.select(&sel("script, link, img, iframe, object"))
            .count(),
        0
    );
    assert_eq!(doc.select(&sel("[src], [href]")).count(), 0);
    let css = text(one(&doc, "head style"));
    assert!(css.contains("prefers-color-scheme:dark"), "dark mode");
    assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
    assert!(one(&doc, "meta[name=viewport]")
        .value()
        .attr("content")
        .unwrap()
        .contains("width=device-width"));
    assert_eq!(text(one(&doc, "head > title")), "Acme <status>");
    assert_eq!(text(one(&doc, "h1")), "Acme <status>");

    // The banner: one of three jobs with a result fails.
    let banner = one(&doc, "#overall");
    assert!(
        banner.value().classes().any(|c| c == "degraded"),
        "{}",
        banner.html()
    );
    assert_eq!(text(banner), "Degraded1 of 3 jobs failing.");

    // Jobs by group, in configuration order, the ungrouped under "Other"; not "private".
    assert_eq!(all_text(&doc, "section.group h2"), ["Web", "Data", "Other"]);
    assert_eq!(
        all_text(&doc, "section.group .name"),
        [EVIL_NAME, "api", "db", "batch"]
    );
    assert_eq!(
        all_text(&doc, "section.group .state"),
        ["Failing", "Operational", "Operational", "No data yet"]
    );
    assert!(
        !html.contains("private"),
        "a job with public = false is left out"
    );

    // 90 daily bars per job, each with its date, uptime and incidents.
    let api = job(&doc, "api");
    let bars = bar_titles(api);
    assert_eq!(bars.len(), 90);
    assert!(
        bars[0].starts_with(&format!("{}: ", day(now, 89))),
        "{}",
        bars[0]
    );
    assert_eq!(bars[0], format!("{}: 100% up, 0 incidents", day(now, 89)));
    assert_eq!(bars[1], format!("{}: no data", day(now, 88)));
    assert_eq!(
        bars[79],
        format!("{}: 66.66% up, 1 incident, 30m down", day(now, 10))
    );
    assert!(
        bars[89].starts_with(&format!("{}: 100% up", day(now, 0))),
        "{}",
        bars[89]
    );
    let classes: Vec<String> = api
        .select(&sel("svg.bars rect"))
        .map(|r| r.value().attr("class").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        (
            classes[0].as_str(),
            classes[1].as_str(),
            classes[79].as_str()
        ),
        ("g", "n", "r")
    );

    // Uptime over 24 h, 7, 30 and 90 days: today's pass; day 10's 2 of 3; days 40, 89.
    assert_eq!(
        all_text(&doc, "#group-0 div.job:nth-child(2) dt"),
        ["24 h", "7 d", "30 d", "90 d"]
    );
    let figures: Vec<String> = api.select(&sel("dl.uptime dd")).map(text).collect();
    assert_eq!(figures, ["100%", "100%", "75.00%", "83.33%"]);
    let web = job(&doc, EVIL_NAME);
    let figures: Vec<String> = web.select(&sel("dl.uptime dd")).map(text).collect();
    assert_eq!(figures, ["0.00%", "0.00%", "0.00%", "0.00%"]);
    let batch = job(&doc, "batch");
    let figures: Vec<String> = batch.select(&sel("dl.uptime dd")).map(text).collect();
    assert_eq!(figures, ["–", "–", "–", "–"], "no results, no figures");

    // The 24-hour response-time sparkline: a line with a tooltip; none without timings.
    let spark = api.select(&sel(".spark svg")).next().expect("a sparkline");
    assert_eq!(spark.select(&sel("polyline")).count(), 1);
    assert!(text(spark.select(&sel("title")).next().unwrap())
        .starts_with("Response time, last 24 hours: mean "));
    assert_eq!(
        text(batch.select(&sel(".spark")).next().unwrap()),
        "no response times"
    );

    // The open incident: since when, and the message, as text.
    let open: Vec<_> = doc.select(&sel("#open-incidents li")).collect();
    assert_eq!(open.len(), 1);
    assert_eq!(
        text(open[0].select(&sel("strong")).next().unwrap()),
        EVIL_NAME
    );
    let since = open[0].select(&sel("time")).next().expect("since when");
    let since: DateTime<Utc> = since.value().attr("datetime").unwrap().parse().unwrap();
    assert!((now - since).num_minutes().abs() < 5, "{since}");
    assert_eq!(
        text(open[0].select(&sel(".msg")).next().unwrap()),
        "CRITICAL - <script>alert(2)</script> & more"
    );

    // The last 14 days of incidents, today first; api's of ten days ago with its message.
    let days: Vec<_> = doc.select(&sel("#past-incidents .day")).collect();
    assert_eq!(days.len(), 14);
    assert_eq!(
        text(days[0].select(&sel("h3")).next().unwrap()),
        now.format("%a %-d %b %Y").to_string()
    );
    assert!(
        text(days[0]).contains(EVIL_NAME),
        "today's failure: {}",
        days[0].html()
    );
    let ten = days[10];
    assert_eq!(text(ten.select(&sel("li strong")).next().unwrap()), "api");
    assert!(
        text(ten).contains("1 incident, 30m down, 1 failed check"),
        "{}",
        ten.html()
    );
    assert!(
        text(ten).contains("last failure 10:00 UTC: HTTP 503 <b>bold</b>"),
        "{}",
        ten.html()
    );
    assert_eq!(
        ten.select(&sel("b")).count(),
        0,
        "a message is text, not markup"
    );
    assert_eq!(
        text(days[1].select(&sel(".none")).next().unwrap()),
        "No incidents."
    );
    // No silence or maintenance exists: no such section.
    assert_eq!(doc.select(&sel("#quiet")).count(), 0);
}

#[test]
fn a_tick_rewrites_the_page_only_when_something_it_shows_changed() {
    let f = Fixture::with_settings(&page_settings(""));
    f.ok_script();
    f.jobs(
        "[[job]]\nname = \"hourly\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\nevery = \"1h\"\n\n\
         [[job]]\nname = \"backup\"\nkind = \"passive\"\nexpect_every = \"1d\"\n",
    );
    // The page changes on the hour: keep this test's ticks within one.
    let now = Utc::now();
    if now.format("%M:%S").to_string().as_str() >= "59:30" {
        std::thread::sleep(StdDuration::from_secs(31));
    }
    let ino = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(f.path().join("status.html"))
            .expect("status.html")
            .ino()
    };
    f.tick("minute");
    let first = ino();
    // Nothing due, nothing recorded: the page stays as it was (a rewrite is a rename).
    f.tick("minute");
    assert_eq!(ino(), first, "an idle tick leaves the page alone");
    // A pushed result changes what the page shows: the next tick, idle as it is, writes.
    f.run_ok(
        &["report", "backup", "--ok", "--message", "nightly done"],
        0,
    );
    f.tick("minute");
    let second = ino();
    assert_ne!(second, first, "the pushed result is on the page");
    let doc = Html::parse_document(&read_page(&f));
    assert_eq!(
        text(job(&doc, "backup").select(&sel(".state")).next().unwrap()),
        "Operational"
    );
    f.tick("minute");
    assert_eq!(ino(), second);
    // A page deleted by someone is written again.
    std::fs::remove_file(f.path().join("status.html")).unwrap();
    f.tick("minute");
    assert!(f.path().join("status.html").exists());
}

#[test]
fn a_page_that_cannot_be_written_is_logged_and_the_tick_still_records_its_results() {
    let f = Fixture::with_settings(&format!(
        "{BASE_SETTINGS}\n[status_page]\npath = \"no-such-folder/status.html\"\n"
    ));
    f.ok_script();
    f.jobs("[[job]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n");
    f.tick("minute");
    assert_eq!(f.job_state("web")["status"], "ok");
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains("cannot write the status page") && log.contains("no-such-folder"),
        "{log}"
    );
}

#[test]
fn run_once_writes_the_page_with_what_it_found_as_a_tick_does() {
    let f = Fixture::with_settings(&page_settings(""));
    f.ok_script();
    f.jobs("[[job]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n");
    let page = f.path().join("status.html");
    assert!(!page.exists());
    f.run_ok(&["run-once", "web"], 0);
    let html = std::fs::read_to_string(&page).expect("run-once wrote the status page");
    let doc = Html::parse_document(&html);
    assert_eq!(all_text(&doc, "section.group .state"), ["Operational"]);
}

#[test]
fn status_page_writes_the_page_now_or_prints_it_and_needs_somewhere_to_write() {
    let f = Fixture::new();
    f.ok_script();
    f.jobs("[[job]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n");
    f.test()
        .args(["status-page"])
        .status(2)
        .stderr_contains("no [status_page] path")
        .run();
    let out = f.run_ok(&["status-page", "--output", "-"], 0);
    let doc = Html::parse_document(&stdout(&out));
    assert_eq!(all_text(&doc, "section.group .state"), ["No data yet"]);
    f.tick("minute");
    let dest = f.path().join("page.html");
    f.test()
        .args(["status-page", "-o"])
        .arg(&dest)
        .status(0)
        .stdout_contains(format!("status page written to {}", dest.display()))
        .run();
    let doc = Html::parse_document(&std::fs::read_to_string(&dest).unwrap());
    assert_eq!(all_text(&doc, "section.group .state"), ["Operational"]);
    assert!(one(&doc, "#overall")
        .value()
        .classes()
        .any(|c| c == "operational"));
}

#[test]
fn a_bad_group_title_or_pattern_is_a_validation_problem_at_its_line() {
    let f = Fixture::with_settings(&format!(
        "{BASE_SETTINGS}\n[status_page]\ntitle = \"\"\npublic_jobs = [\"web*\", \"a\\tb\"]\n"
    ));
    f.jobs("[[job]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"true\"]\ngroup = \"   \"\n");
    let out = f.run(&["validate"]);
    let err = crate::support::stderr(&out) + &stdout(&out);
    assert!(err.contains("[status_page] `title` is empty"), "{err}");
    assert!(
        err.contains("a `public_jobs` pattern contains a control character"),
        "{err}"
    );
    assert!(err.contains(":5: job \"web\": `group` is empty"), "{err}");
}

#[test]
fn validate_warns_about_a_public_jobs_pattern_that_matches_no_job_and_not_about_one_that_does() {
    let f = Fixture::with_settings(&format!(
        "{BASE_SETTINGS}\n[status_page]\npublic_jobs = [\"web*\", \"wbe*\", \"db\", \"dbb\"]\n"
    ));
    f.jobs(
        "[[job]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"true\"]\n\n\
         [[job]]\nname = \"db\"\nkind = \"command\"\ncommand = [\"true\"]\n",
    );
    let out = f.run(&["validate"]);
    assert!(out.status.success(), "a warning is not an error: {out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("warning: ")
            && text.contains("`public_jobs` pattern \"wbe*\" matches no job"),
        "{text}"
    );
    assert!(text.contains("pattern \"dbb\" matches no job"), "{text}");
    assert!(!text.contains("pattern \"web*\""), "{text}");
    assert!(!text.contains("pattern \"db\""), "{text}");
}

/// One HTTP exchange: status, head and body.
fn fetch(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(StdDuration::from_secs(20)))
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The message of a badge (its `<title>` is "label: message").
fn badge(body: &str) -> String {
    let doc = Html::parse_fragment(body);
    text(one_frag(&doc, "svg > title"))
}

fn one_frag<'a>(doc: &'a Html, s: &str) -> ElementRef<'a> {
    doc.select(&sel(s))
        .next()
        .unwrap_or_else(|| panic!("no {s} in {}", doc.html()))
}

#[test]
fn serve_answers_the_page_and_shields_style_badges_with_their_types() {
    let (f, _) = fixture("");
    f.tick("minute");
    let s = p::serve(&f);

    let (code, head, body) = fetch(s.port, "/status", &[]);
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    let doc = Html::parse_document(&body);
    assert_eq!(all_text(&doc, "section.group h2"), ["Web", "Data", "Other"]);
    assert_eq!(
        one(&doc, "#overall").value().attr("class"),
        Some("banner degraded")
    );
    // "/" stays the peer word (a failing job is its alerts' business, not a peer's).
    assert_eq!(fetch(s.port, "/", &[]).2, "True");

    let (code, head, body) = fetch(s.port, "/badge/api.svg", &[]);
    assert_eq!(code, 200);
    assert!(head.contains("content-type: image/svg+xml"), "{head}");
    assert!(head.contains("cache-control: public, max-age=60"), "{head}");
    assert_eq!(badge(&body), "api: up");
    assert!(body.contains("fill=\"#4c1\""), "green: {body}");
    let evil = "/badge/web%20%3Cscript%3Ealert(1)%3C%2Fscript%3E.svg";
    let (code, _, body) = fetch(s.port, evil, &[]);
    assert_eq!(code, 200);
    assert_eq!(badge(&body), format!("{EVIL_NAME}: down"));
    assert!(!body.contains("<script>"), "{body}");
    assert_eq!(
        badge(&fetch(s.port, "/badge/batch.svg", &[]).2),
        "batch: pending"
    );

    let (code, head, body) = fetch(s.port, "/badge/api/uptime.svg?days=30", &[]);
    assert_eq!(code, 200);
    assert!(head.contains("content-type: image/svg+xml"), "{head}");
    assert_eq!(badge(&body), "uptime 30d: 75.00%");
    assert_eq!(
        badge(&fetch(s.port, "/badge/api/uptime.svg", &[]).2),
        "uptime 30d: 75.00%"
    );
    assert_eq!(
        badge(&fetch(s.port, "/badge/api/uptime.svg?days=7", &[]).2),
        "uptime 7d: 100%"
    );
    assert_eq!(
        badge(&fetch(s.port, "/badge/batch/uptime.svg", &[]).2),
        "uptime 30d: no data"
    );

    for bad in ["days=0", "days=1831", "days=many"] {
        let (code, head, body) = fetch(s.port, &format!("/badge/api/uptime.svg?{bad}"), &[]);
        assert_eq!(code, 400, "{bad}");
        assert!(head.contains("content-type: image/svg+xml"), "{head}");
        assert_eq!(badge(&body), "uptime: days must be 1 to 1830");
    }
    for unknown in [
        "/badge/nope.svg",
        "/badge/private.svg",
        "/badge/nope/uptime.svg",
    ] {
        let (code, head, body) = fetch(s.port, unknown, &[]);
        assert_eq!(code, 404, "{unknown}");
        assert!(head.contains("content-type: image/svg+xml"), "{head}");
        assert!(badge(&body).ends_with(": unknown job"), "{body}");
    }
}

#[test]
fn the_page_and_badges_need_the_serve_token_unless_the_status_page_is_public() {
    let token = "s3cret-token-for-the-page";
    for public in [false, true] {
        let extra = format!("public = {public}\n\n[serve]\ntoken = \"{token}\"\n");
        let (f, _) = fixture(&extra);
        f.tick("minute");
        let s = p::serve(&f);
        let auth = format!("Bearer {token}");
        let with = [("Authorization", auth.as_str())];
        for path in ["/status", "/badge/api.svg", "/badge/api/uptime.svg"] {
            let (code, _, _) = fetch(s.port, path, &[]);
            assert_eq!(
                code,
                if public { 200 } else { 401 },
                "{path} public = {public}"
            );
            assert_eq!(fetch(s.port, path, &with).0, 200, "{path} with the token");
        }
        let (_, head, _) = fetch(s.port, "/badge/api.svg", &with);
        let cache = if public { "public" } else { "private" };
        assert!(
            head.contains(&format!("cache-control: {cache}, max-age=60")),
            "{head}"
        );
        // The rest stays behind the token whatever the page's setting.
        assert_eq!(fetch(s.port, "/status.json", &[]).0, 401);
        assert_eq!(fetch(s.port, "/", &[]).0, 401);
        let (_, _, page) = fetch(s.port, "/status", &with);
        assert!(!page.contains(token), "the token is never on the page");
    }
}

// ---------------------------------------------------------------------------------------
// Rendered by a real browser.

/// Measures the page as Chromium lays it out. Headless Chromium lays a window out at
/// least 500 px wide, so the page is shown in an iframe of exactly the width asked for
/// (its own viewport: media queries see that width), from `srcdoc` so that the probe
/// below, in the outer document, may read it: the viewport, any element reaching past its
/// right edge, and its colours, as JSON in the outer DOM. The page itself has no script
/// (and loads nothing: the parsing test checks there is nothing it could load).
const PROBE: &str = r#"<script>
window.addEventListener('load', function () {
  var win = document.getElementById('page').contentWindow, doc = win.document;
  var w = win.innerWidth, over = [];
  doc.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5) over.push(e.tagName + ' ' + (e.getAttribute('class') || '') + ' ' + Math.round(r.right));
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    width: w,
    scroll: doc.documentElement.scrollWidth,
    over: over.slice(0, 20),
    background: win.getComputedStyle(doc.body).backgroundColor,
    rects: doc.querySelectorAll('svg.bars rect').length
  });
  document.body.appendChild(out);
});
</script>"#;

struct Rendered {
    probe: Value,
    /// Console messages Chromium logged.
    console: Vec<String>,
}

fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;")
}

/// Chromium renders `page` at `width` px, dark or light, and reports.
fn chromium(dir: &Path, page: &str, width: u32, dark: bool) -> Rendered {
    let file = dir.join(format!("probe-{width}-{dark}.html"));
    let outer = format!(
        "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"page\" style=\"border:0;display:block;width:{width}px;height:900px\" srcdoc=\"{}\"></iframe>{PROBE}</body></html>",
        attr_escape(page)
    );
    std::fs::write(&file, outer).unwrap();
    let profile = dir.join(format!("profile-{width}-{dark}"));
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        &format!("--user-data-dir={}", profile.display()),
        &format!("--window-size={width},900"),
        &format!(
            "--blink-settings=preferredColorScheme={}",
            if dark { 0 } else { 1 }
        ),
        "--dump-dom",
        &format!("file://{}", file.display()),
    ]);
    let out = crate::support::output_within(cmd, 120);
    assert!(
        out.status.success(),
        "chromium failed (scripts/install-test-deps.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = Html::parse_document(&String::from_utf8_lossy(&out.stdout));
    let probe = dom
        .select(&sel("#probe"))
        .next()
        .map(text)
        .unwrap_or_else(|| {
            panic!(
                "no probe in the DOM: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Rendered {
        probe: serde_json::from_str(&probe).expect("probe JSON"),
        console,
    }
}

#[test]
fn chromium_renders_the_page_at_phone_and_desktop_widths_light_and_dark_cleanly() {
    let (f, _) = fixture("");
    f.tick("minute");
    let page = read_page(&f);
    let dir = tempfile::tempdir().unwrap();

    // The probe sees what it is meant to: a console error, and an element too wide.
    let broken = "<!DOCTYPE html><html><body><div style=\"width:900px\">wide</div>\
                  <script>console.error('broken on purpose')</script></body></html>";
    let r = chromium(dir.path(), broken, 375, false);
    assert!(
        r.console.iter().any(|l| l.contains("broken on purpose")),
        "{:?}",
        r.console
    );
    assert!(
        !r.probe["over"].as_array().unwrap().is_empty(),
        "{}",
        r.probe
    );

    let mut backgrounds = Vec::new();
    for width in [1280, 375] {
        for dark in [false, true] {
            let r = chromium(dir.path(), &page, width, dark);
            let what = format!("{width} px, dark {dark}: {}", r.probe);
            assert!(r.console.is_empty(), "{what}: console: {:?}", r.console);
            assert_eq!(r.probe["width"], width, "{what}");
            assert_eq!(r.probe["scroll"], width, "no horizontal scrolling: {what}");
            assert_eq!(
                r.probe["over"],
                serde_json::json!([]),
                "nothing past the edge: {what}"
            );
            assert_eq!(r.probe["rects"], 4 * 90, "{what}");
            backgrounds.push((dark, r.probe["background"].as_str().unwrap().to_string()));
        }
    }
    for (dark, bg) in &backgrounds {
        let want = if *dark {
            "rgb(13, 17, 23)"
        } else {
            "rgb(246, 247, 249)"
        };
        assert_eq!(bg, want, "dark {dark}: {backgrounds:?}");
    }
}

#[test]
fn silences_and_maintenance_in_force_are_on_the_page_without_the_silences_reason() {
    let (f, _) = fixture("");
    // A window open all day, every day, for the Data group's job.
    let settings = std::fs::read_to_string(f.settings_path()).unwrap();
    f.settings(&format!(
        "{settings}\n[[maintenance]]\nname = \"db upgrade\"\njobs = [\"db\"]\nstart = \"00:00\"\nduration = \"1439m\"\n"
    ));
    f.run_ok(
        &[
            "silence",
            "api",
            "--for",
            "2h",
            "--reason",
            "internal: vendor ticket 4711",
        ],
        0,
    );
    f.tick("minute");
    let html = read_page(&f);
    let doc = Html::parse_document(&html);
    let items = all_text(&doc, "#quiet li");
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].starts_with("Silenced: api, until "), "{items:?}");
    assert!(
        items[1].starts_with("Maintenance: db upgrade: db, until "),
        "{items:?}"
    );
    assert!(
        !html.contains("vendor ticket"),
        "a silence's reason stays off the page"
    );
    assert_eq!(
        text(job(&doc, "api").select(&sel(".quiet")).next().unwrap()),
        "Silenced"
    );
    assert_eq!(
        text(job(&doc, "db").select(&sel(".quiet")).next().unwrap()),
        "Maintenance: db upgrade"
    );
    assert_eq!(job(&doc, "batch").select(&sel(".quiet")).count(), 0);
}
