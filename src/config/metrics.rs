//! `[metrics]`: where the Prometheus metrics are also written as a file for
//! node_exporter's textfile collector (`textfile_dir`), at the end of every tick.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::context::{resolve_path, FileCtx, S};

/// `[metrics]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub textfile_dir: Option<S<String>>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// node_exporter's `--collector.textfile.directory`: every tick writes
    /// `checker.prom` there. `None`: no file.
    pub textfile_dir: Option<PathBuf>,
}

pub(super) fn resolve(cx: &mut FileCtx<'_>, base: &Path, raw: Option<&RawMetrics>) -> Metrics {
    let Some(r) = raw else {
        return Metrics::default();
    };
    let textfile_dir = match &r.textfile_dir {
        Some(d) if d.get_ref().trim().is_empty() => {
            cx.at(
                d.span().start,
                "[metrics] `textfile_dir` is empty: give node_exporter's textfile folder, e.g. \"/var/lib/prometheus/node-exporter\", or leave the key out",
            );
            None
        }
        Some(d) => Some(resolve_path(base, d.get_ref())),
        None => None,
    };
    Metrics { textfile_dir }
}
