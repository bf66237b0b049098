//! `kind = "file"`: a file that must exist, and be recent or large enough.

use super::raw::{value, JobCx, RawJob};
use crate::config::job::FileSpec;

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> FileSpec {
    let name = k.name;
    let path = value(&r.path).unwrap_or_default();
    if path.is_empty() {
        k.missing(format!(
            "job {name:?}: kind \"file\" needs `path`, e.g. path = \"/var/backups/db.dump\""
        ));
    }
    let min_size = match &r.min_size {
        Some(n) if *n.get_ref() < 0 => {
            k.at(
                n,
                format!(
                    "job {name:?}: `min_size` = {}: use a size in bytes, 0 or more",
                    n.get_ref()
                ),
            );
            None
        }
        other => other.as_ref().map(|n| *n.get_ref() as u64),
    };
    FileSpec {
        path: k.path(&path),
        max_age: k.duration("max_age", &r.max_age),
        min_size,
    }
}
