//! The page as one self-contained HTML file: inline CSS (light and dark through
//! `prefers-color-scheme`, one column on a phone), inline SVG for bars and sparklines,
//! no script, no font or file from elsewhere. Every text that comes from a job, a check or
//! the settings goes through `esc`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::model::{Group, Health, JobView, Overall, Page, PastDay, DAYS};
use crate::history::DayFigures;

/// Escapes text for HTML content and quoted attribute values (SVG `<title>` too).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A percentage as the page shows it: two decimals, never rounded up to 100%.
pub fn pct(p: f64) -> String {
    if p >= 100.0 {
        "100%".into()
    } else {
        format!("{:.2}%", (p * 100.0).floor() / 100.0)
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn date(day: i64) -> String {
    DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "?".into())
}

fn long_date(day: i64) -> String {
    DateTime::from_timestamp(day.saturating_mul(86_400), 0)
        .map(|t| t.format("%a %-d %b %Y").to_string())
        .unwrap_or_else(|| "?".into())
}

fn span(ms: u64) -> String {
    crate::duration::humanize(chrono::Duration::milliseconds(
        i64::try_from(ms).unwrap_or(i64::MAX),
    ))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A response time: milliseconds below a second, then seconds, then minutes and more.
fn millis(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        span(ms as u64)
    }
}

/// A message as shown: its first 300 characters.
fn message(m: &str) -> String {
    esc(&crate::text::truncate_chars(m.trim(), 300))
}

const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1b1f24;--muted:#57606a;--card:#fff;--line:#d0d7de;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--none:#c9ced6;--pend:#6e7781;--okbg:#dafbe1;--warnbg:#fff8c5;--badbg:#ffebe9}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--card:#161b22;--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--none:#30363d;--pend:#8b949e;--okbg:#12261e;--warnbg:#272115;--badbg:#2d1517}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:960px;margin:0 auto;padding:16px}
h1{font-size:1.6em;margin:.4em 0 .6em;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:1.6em 0 .5em;overflow-wrap:anywhere}
h3{font-size:1em;margin:.9em 0 .3em}
.banner{border-radius:8px;padding:14px 16px;font-size:1.15em;border:1px solid var(--line);background:var(--card)}
.banner strong{display:block}
.banner span{font-size:.8em;color:var(--muted)}
.banner.operational{background:var(--okbg);border-color:var(--ok)}
.banner.degraded{background:var(--warnbg);border-color:var(--warn)}
.banner.outage{background:var(--badbg);border-color:var(--bad)}
.stale{color:var(--warn);font-weight:600}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
.job{padding:12px 16px;border-top:1px solid var(--line)}
.job:first-child{border-top:0}
.row{display:flex;flex-wrap:wrap;align-items:center;gap:6px 16px}
.name{font-weight:600;flex:1 1 12em;min-width:0;overflow-wrap:anywhere}
.state{font-size:.9em;font-weight:600;white-space:nowrap}
.state::before{content:"";display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.4em;background:var(--pend)}
.s-operational .state{color:var(--ok)}.s-operational .state::before{background:var(--ok)}
.s-failing .state{color:var(--bad)}.s-failing .state::before{background:var(--bad)}
.s-pending .state{color:var(--pend)}
.quiet{font-size:.8em;color:var(--muted)}
dl.uptime{display:flex;gap:4px 14px;margin:6px 0 0;flex-wrap:wrap;font-size:.85em}
dl.uptime div{display:flex;gap:4px}
dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
.spark{display:flex;align-items:center;gap:6px;font-size:.8em;color:var(--muted);margin-left:auto}
.spark svg{width:96px;height:24px;flex:none}
.spark polyline{fill:none;stroke:var(--ok);stroke-width:1.5;vector-effect:non-scaling-stroke}
svg.bars{display:block;width:100%;height:26px;margin-top:8px}
.bars .g{fill:var(--ok)}.bars .a{fill:var(--warn)}.bars .r{fill:var(--bad)}.bars .n{fill:var(--none)}
.axis{display:flex;justify-content:space-between;font-size:.75em;color:var(--muted)}
ul.list{list-style:none;margin:0;padding:0}
ul.list li{padding:10px 16px;border-top:1px solid var(--line);overflow-wrap:anywhere}
ul.list li:first-child{border-top:0}
.msg{display:block;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.85em;color:var(--muted)}
.more,.none{color:var(--muted);font-size:.9em;padding:10px 16px;margin:0}
footer{margin:2em 0 1em;font-size:.8em;color:var(--muted)}
@media (max-width:600px){main{padding:10px}.spark{margin-left:0}h1{font-size:1.35em}}
"#;

/// The whole page. `fingerprint` goes into a `<meta>` so that the next tick can tell
/// whether anything shown changed.
pub fn render(page: &Page, fingerprint: &str) -> String {
    let jobs: usize = page.groups.iter().map(|g| g.jobs.len()).sum();
    let mut o = String::with_capacity(4096 + jobs * if page.bars_per_job { 6000 } else { 700 });
    let title = esc(&page.title);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"checker {}\">\n\
         <meta name=\"checker-fingerprint\" content=\"{}\">\n<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n",
        env!("CARGO_PKG_VERSION"),
        esc(fingerprint)
    );
    banner(&mut o, page);
    if !page.open.is_empty() {
        o.push_str("<section id=\"open-incidents\">\n<h2>Open incidents</h2>\n<div class=\"card\"><ul class=\"list\">\n");
        for i in &page.open {
            let _ = write!(o, "<li><strong>{}</strong> failing", esc(&i.job));
            if let Some(since) = i.since {
                let _ = write!(
                    o,
                    " since <time datetime=\"{}\">{}</time> ({})",
                    since.to_rfc3339(),
                    when(since),
                    span(u64::try_from((page.now - since).num_milliseconds().max(0)).unwrap_or(0))
                );
            }
            if let Some(m) = &i.message {
                let _ = write!(o, "<span class=\"msg\">{}</span>", message(m));
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ul></div>\n</section>\n");
    }
    if !page.quiet.is_empty() {
        o.push_str("<section id=\"quiet\">\n<h2>Silences and maintenance</h2>\n<div class=\"card\"><ul class=\"list\">\n");
        for q in &page.quiet {
            let jobs = match &q.jobs {
                None => "all jobs".to_string(),
                Some(js) => js.join(", "),
            };
            let _ = write!(o, "<li><strong>{}</strong>: {}", esc(&q.what), esc(&jobs));
            if let Some(u) = q.until {
                let _ = write!(
                    o,
                    ", until <time datetime=\"{}\">{}</time>",
                    u.to_rfc3339(),
                    when(u)
                );
            }
            o.push_str("</li>\n");
        }
        o.push_str("</ul></div>\n</section>\n");
    }
    let named = page.groups.iter().any(|g| g.name.is_some());
    for (n, g) in page.groups.iter().enumerate() {
        group(&mut o, page, g, n, named);
    }
    past(&mut o, page);
    let _ = write!(
        o,
        "<footer>Updated <time datetime=\"{}\">{}</time> by checker. Days are UTC days; uptime is the share of checks that passed.</footer>\n</main>\n</body>\n</html>\n",
        page.now.to_rfc3339(),
        when(page.now)
    );
    o
}

fn banner(o: &mut String, page: &Page) {
    let (class, head, detail) = match page.overall {
        Overall::NoData => (
            "nodata",
            "No data yet".to_string(),
            "No job has been checked yet.".to_string(),
        ),
        Overall::Operational => (
            "operational",
            "All systems operational".to_string(),
            "Every job passed its last check.".to_string(),
        ),
        Overall::Degraded { failing, of } => (
            "degraded",
            "Degraded".to_string(),
            format!("{failing} of {of} jobs failing."),
        ),
        Overall::Outage { failing, of } => (
            "outage",
            "Outage".to_string(),
            format!("{failing} of {of} jobs failing."),
        ),
    };
    let _ = writeln!(
        o,
        "<section id=\"overall\" class=\"banner {class}\" role=\"status\"><strong>{head}</strong><span>{detail}</span></section>"
    );
    if let Some(age) = page.stale {
        let _ = writeln!(
            o,
            "<p class=\"stale\">checker's last run finished {} ago: what this page shows may be out of date.</p>",
            span(u64::try_from(age.num_milliseconds().max(0)).unwrap_or(0))
        );
    }
}

fn group(o: &mut String, page: &Page, g: &Group, n: usize, named: bool) {
    let raw = match (&g.name, named) {
        (Some(name), _) => name.as_str(),
        (None, true) => "Other",
        (None, false) => "Jobs",
    };
    let _ = write!(
        o,
        "<section class=\"group\" id=\"group-{n}\">\n<h2>{}</h2>\n<div class=\"card\">\n",
        esc(raw)
    );
    if !g.bars.is_empty() {
        let _ = write!(
            o,
            "<div class=\"job group-bars\"><div class=\"row\"><span class=\"name\">All {} jobs, day by day</span></div>",
            g.jobs.len()
        );
        let label = format!("{raw}: all {} jobs", g.jobs.len());
        bars(o, page, &g.bars, &label, Some(g.jobs.len()));
        o.push_str("</div>\n");
    }
    for j in &g.jobs {
        job(o, page, j);
    }
    o.push_str("</div>\n</section>\n");
}

fn job(o: &mut String, page: &Page, j: &JobView) {
    let (class, word) = match j.state {
        Health::Operational => ("operational", j.state.word()),
        Health::Failing => ("failing", j.state.word()),
        Health::Pending => ("pending", j.state.word()),
    };
    let name = esc(&j.name);
    let _ = write!(
        o,
        "<div class=\"job s-{class}\">\n<div class=\"row\"><span class=\"name\">{name}</span><span class=\"state\">{word}</span>"
    );
    if let Some(q) = &j.quiet {
        let _ = write!(o, "<span class=\"quiet\">{}</span>", esc(q));
    }
    o.push_str("</div>\n<div class=\"row\"><dl class=\"uptime\">");
    for (label, u) in ["24 h", "7 d", "30 d", "90 d"].iter().zip(j.uptime) {
        let _ = write!(
            o,
            "<div><dt>{label}</dt><dd>{}</dd></div>",
            u.map(pct).unwrap_or_else(|| "–".into())
        );
    }
    o.push_str("</dl>");
    sparkline(o, &j.spark);
    o.push_str("</div>\n");
    if !j.bars.is_empty() {
        bars(o, page, &j.bars, &j.name, None);
    }
    o.push_str("</div>\n");
}

fn sparkline(o: &mut String, spark: &[Option<f64>]) {
    let known: Vec<f64> = spark.iter().flatten().copied().collect();
    if known.is_empty() {
        o.push_str("<span class=\"spark\">no response times</span>");
        return;
    }
    let max = known.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    let _ = write!(
        o,
        "<span class=\"spark\">24 h<svg viewBox=\"0 0 960 240\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Response time over the last 24 hours\"><title>Response time, last 24 hours: mean {}, slowest hour {}</title>",
        millis(mean),
        millis(max)
    );
    // One line per stretch of hours with timings, in whole units of a 960 x 240 box.
    let flush = |points: &mut Vec<(i64, i64)>, o: &mut String| {
        // A lone hour is drawn as a short dash, so that it shows.
        if let [(x, y)] = points.as_slice() {
            let (x, y) = (*x, *y);
            points.clear();
            points.extend([(x - 15, y), (x + 15, y)]);
        }
        if !points.is_empty() {
            o.push_str("<polyline points=\"");
            for (i, (x, y)) in points.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let _ = write!(o, "{sep}{x},{y}");
            }
            o.push_str("\"/>");
            points.clear();
        }
    };
    let mut points: Vec<(i64, i64)> = Vec::with_capacity(24);
    for (h, v) in spark.iter().enumerate() {
        match v {
            Some(v) => points.push((h as i64 * 40 + 20, 220 - (v / max * 200.0).round() as i64)),
            None => flush(&mut points, o),
        }
    }
    flush(&mut points, o);
    let _ = write!(o, "</svg>{}</span>", millis(mean));
}

fn bars(o: &mut String, page: &Page, days: &[DayFigures], label: &str, jobs: Option<usize>) {
    let width = DAYS * 5;
    let mut total = DayFigures::default();
    for a in days {
        total.add(a);
    }
    let summary = match total.percent() {
        Some(p) => format!("{} up over {DAYS} days", pct(p)),
        None => format!("no results in {DAYS} days"),
    };
    let _ = write!(
        o,
        "<svg class=\"bars\" viewBox=\"0 0 {width} 20\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}: daily uptime, {summary}\">",
        esc(label)
    );
    for (i, (a, day)) in days.iter().zip(&page.days).enumerate() {
        let (class, text) = match a.percent() {
            None => ("n", "no data".to_string()),
            Some(p) => {
                let class = if p >= 99.9 {
                    "g"
                } else if p >= 99.0 {
                    "a"
                } else {
                    "r"
                };
                let mut t = format!("{} up", pct(p));
                if jobs.is_some() {
                    let _ = write!(t, " ({} checks)", a.attempts);
                }
                let _ = write!(t, ", {}", plural(a.incidents, "incident", "incidents"));
                if a.down_ms > 0 {
                    let _ = write!(t, ", {} down", span(a.down_ms));
                }
                (class, t)
            }
        };
        let _ = write!(
            o,
            "<rect x=\"{}\" width=\"4\" height=\"20\" class=\"{class}\"><title>{}: {text}</title></rect>",
            i * 5,
            date(*day)
        );
    }
    let _ = writeln!(
        o,
        "</svg>\n<div class=\"axis\"><span>{DAYS} days ago</span><span>{summary}</span><span>Today</span></div>"
    );
}

fn past(o: &mut String, page: &Page) {
    o.push_str("<section id=\"past-incidents\">\n<h2>Past incidents</h2>\n");
    for d in &page.past {
        past_day(o, d);
    }
    o.push_str("</section>\n");
}

fn past_day(o: &mut String, d: &PastDay) {
    let _ = write!(
        o,
        "<div class=\"day\"><h3>{}</h3><div class=\"card\">",
        long_date(d.day)
    );
    if d.entries.is_empty() {
        o.push_str("<p class=\"none\">No incidents.</p></div></div>\n");
        return;
    }
    o.push_str("<ul class=\"list\">");
    for e in &d.entries {
        let _ = write!(o, "<li><strong>{}</strong>: ", esc(&e.job));
        let mut parts = Vec::new();
        if e.incidents > 0 {
            parts.push(plural(e.incidents, "incident", "incidents"));
        }
        if e.down_ms > 0 {
            parts.push(format!("{} down", span(e.down_ms)));
        }
        parts.push(plural(e.failures, "failed check", "failed checks"));
        o.push_str(&parts.join(", "));
        if let Some(n) = &e.note {
            let _ = write!(
                o,
                "<span class=\"msg\">last failure <time datetime=\"{}\">{}</time>",
                n.at.to_rfc3339(),
                n.at.format("%H:%M UTC")
            );
            if let Some(m) = &n.message {
                let _ = write!(o, ": {}", message(m));
            }
            o.push_str("</span>");
        }
        o.push_str("</li>");
    }
    o.push_str("</ul>");
    if d.more > 0 {
        let _ = write!(
            o,
            "<p class=\"more\">and {} more (see <code>checker history</code>)</p>",
            plural(d.more as u64, "job", "jobs")
        );
    }
    o.push_str("</div></div>\n");
}
