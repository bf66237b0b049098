//! Plugin performance data as series: `checker_perfdata{job,label,uom}` with the value in
//! the base unit its UOM names (seconds, bytes), and `checker_perfdata_warn`, `_crit`,
//! `_min` and `_max` where the plugin gave them, in the same unit. Labels come from
//! plugin output, which is untrusted: they are sanitised and bounded.

use std::collections::HashSet;

use super::{JobInfo, Num, Out, Type};
use crate::check::PerfDatum;
use crate::state::JobState;

/// The longest perfdata label or unit kept, in characters.
const LABEL_MAX: usize = 128;

/// A plugin's UOM as a base unit and the factor into it: `s`, `ms`, `us`, `ns` into
/// `seconds`; `B`, `KB`, `MB`, `GB`, `TB` (1024-based, as check_disk and check_swap
/// count; `KiB`... too) into `bytes`; `%` is `percent` (0 to 100, as the plugin's
/// thresholds are); `c` (a continuous counter) is `counter`; no UOM is ""; any other unit
/// is kept as written (sanitised), factor 1.
pub fn base_unit(uom: Option<&str>) -> (String, f64) {
    const K: f64 = 1024.0;
    let Some(u) = uom.map(str::trim).filter(|u| !u.is_empty()) else {
        return (String::new(), 1.0);
    };
    let (unit, factor) = match u {
        "s" => ("seconds", 1.0),
        "ms" => ("seconds", 1e-3),
        "us" | "µs" => ("seconds", 1e-6),
        "ns" => ("seconds", 1e-9),
        "B" => ("bytes", 1.0),
        "KB" | "KiB" | "kB" => ("bytes", K),
        "MB" | "MiB" => ("bytes", K * K),
        "GB" | "GiB" => ("bytes", K * K * K),
        "TB" | "TiB" => ("bytes", K * K * K * K),
        "%" => ("percent", 1.0),
        "c" => ("counter", 1.0),
        other => return (sanitise(other), 1.0),
    };
    (unit.to_string(), factor)
}

/// A label value from plugin output: control characters (line breaks, tabs, escape
/// sequences) become spaces, runs of spaces one, the ends trimmed, at most
/// [`LABEL_MAX`] characters.
pub fn sanitise(s: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    crate::text::truncate_chars(&out, LABEL_MAX)
}

/// The bounds a threshold range writes, in its own unit: (low, high). `N` is the high
/// bound (alert above N); `A:B` both; `A:` the low; `~:B` the high. A range with `@`
/// (alert inside it) has no bound to show, nor has one that does not parse.
pub fn bounds(range: &str) -> (Option<f64>, Option<f64>) {
    let r = range.trim();
    if r.starts_with('@') {
        return (None, None);
    }
    let num = |s: &str| {
        s.trim()
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    };
    match r.split_once(':') {
        None => (None, num(r)),
        Some((lo, hi)) => {
            let lo = match lo.trim() {
                "~" | "" => None,
                l => num(l),
            };
            (lo, num(hi))
        }
    }
}

/// The five families, for every job with performance data.
pub(super) fn families(out: &mut Out, jobs: &[(&JobInfo, &JobState)]) {
    let rows: Vec<(&JobInfo, Vec<Row>)> = jobs
        .iter()
        .filter(|(_, js)| !js.perfdata.is_empty())
        .map(|(job, js)| (*job, rows(&js.perfdata)))
        .collect();
    out.family(
        "checker_perfdata",
        Type::Gauge,
        "Performance data of the job's last result (monitoring-plugin output), in the base unit `uom` names.",
    );
    for (job, rows) in &rows {
        for r in rows {
            out.sample(
                "checker_perfdata",
                &[("job", &job.name), ("label", &r.label), ("uom", &r.uom)],
                Num::F(r.value),
            );
        }
    }
    for (suffix, what) in [("warn", "warning"), ("crit", "critical")] {
        let name = format!("checker_perfdata_{suffix}");
        out.family(
            &name,
            Type::Gauge,
            &format!("The {what} threshold the plugin gave for the value: its low and high bounds (a range with @ is left out)."),
        );
        for (job, rows) in &rows {
            for r in rows {
                let (lo, hi) = if suffix == "warn" { r.warn } else { r.crit };
                for (bound, v) in [("low", lo), ("high", hi)] {
                    if let Some(v) = v {
                        out.sample(
                            &name,
                            &[
                                ("job", &job.name),
                                ("label", &r.label),
                                ("uom", &r.uom),
                                ("bound", bound),
                            ],
                            Num::F(v),
                        );
                    }
                }
            }
        }
    }
    for (suffix, what) in [("min", "smallest"), ("max", "largest")] {
        let name = format!("checker_perfdata_{suffix}");
        out.family(
            &name,
            Type::Gauge,
            &format!("The {what} value the plugin says the measurement can take."),
        );
        for (job, rows) in &rows {
            for r in rows {
                let v = if suffix == "min" { r.min } else { r.max };
                if let Some(v) = v {
                    out.sample(
                        &name,
                        &[("job", &job.name), ("label", &r.label), ("uom", &r.uom)],
                        Num::F(v),
                    );
                }
            }
        }
    }
}

/// One datum ready for the exposition.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    label: String,
    uom: String,
    value: f64,
    warn: (Option<f64>, Option<f64>),
    crit: (Option<f64>, Option<f64>),
    min: Option<f64>,
    max: Option<f64>,
}

/// A job's data in base units; a label met again after sanitising is left out (one
/// series per label: a repeat would be a duplicate series).
fn rows(data: &[PerfDatum]) -> Vec<Row> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for d in data {
        let label = sanitise(&d.label);
        if label.is_empty() || !seen.insert(label.clone()) {
            continue;
        }
        let (uom, k) = base_unit(d.uom.as_deref());
        let scale = |(lo, hi): (Option<f64>, Option<f64>)| (lo.map(|v| v * k), hi.map(|v| v * k));
        out.push(Row {
            label,
            uom,
            value: d.value * k,
            warn: d.warn.as_deref().map_or((None, None), |r| scale(bounds(r))),
            crit: d.crit.as_deref().map_or((None, None), |r| scale(bounds(r))),
            min: d.min.map(|v| v * k),
            max: d.max.map(|v| v * k),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_become_base_units_with_their_factor() {
        assert_eq!(base_unit(Some("ms")), ("seconds".to_string(), 1e-3));
        assert_eq!(base_unit(Some("s")), ("seconds".to_string(), 1.0));
        assert_eq!(base_unit(Some("us")), ("seconds".to_string(), 1e-6));
        assert_eq!(base_unit(Some("KB")), ("bytes".to_string(), 1024.0));
        assert_eq!(
            base_unit(Some("GB")),
            ("bytes".to_string(), 1024f64.powi(3))
        );
        assert_eq!(base_unit(Some("%")), ("percent".to_string(), 1.0));
        assert_eq!(base_unit(Some("c")), ("counter".to_string(), 1.0));
        assert_eq!(base_unit(None), (String::new(), 1.0));
        assert_eq!(base_unit(Some("dBm")), ("dBm".to_string(), 1.0));
    }

    #[test]
    fn labels_from_plugins_lose_control_characters_and_are_bounded() {
        assert_eq!(sanitise("  disk\n/var\t\u{1b}[31m "), "disk /var [31m");
        assert_eq!(sanitise("naïve \"q\" \\"), "naïve \"q\" \\");
        assert_eq!(sanitise(&"x".repeat(1000)).chars().count(), LABEL_MAX);
        assert_eq!(sanitise("\n\r"), "");
    }

    #[test]
    fn thresholds_give_the_bounds_they_write() {
        assert_eq!(bounds("10"), (None, Some(10.0)));
        assert_eq!(bounds("10:20"), (Some(10.0), Some(20.0)));
        assert_eq!(bounds("10:"), (Some(10.0), None));
        assert_eq!(bounds("~:5"), (None, Some(5.0)));
        assert_eq!(bounds("@10:20"), (None, None));
        assert_eq!(bounds("2,5"), (None, Some(2.5)));
        assert_eq!(bounds("x:y"), (None, None));
    }

    #[test]
    fn data_are_scaled_and_a_repeated_label_kept_once() {
        let d = |label: &str, value: f64, uom: Option<&str>| PerfDatum {
            label: label.into(),
            value,
            uom: uom.map(String::from),
            warn: Some("200".into()),
            crit: Some("100:500".into()),
            min: Some(0.0),
            max: None,
        };
        let got = rows(&[
            d("time", 250.0, Some("ms")),
            d("time", 1.0, Some("s")),
            d("\n", 1.0, None),
        ]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].uom, "seconds");
        assert_eq!(got[0].value, 0.25);
        assert_eq!(got[0].warn, (None, Some(0.2)));
        assert_eq!(got[0].crit, (Some(0.1), Some(0.5)));
        assert_eq!(got[0].min, Some(0.0));
    }
}
