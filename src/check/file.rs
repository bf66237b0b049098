//! The `file` check: a file exists, was modified within `max_age` and holds at least
//! `min_size` bytes. Every message gives the age and size found, so an alert says how
//! stale or how small the backup is.
use std::io;
use std::time::{Duration, SystemTime};

use super::Outcome;
use crate::config::FileSpec;

pub async fn check(spec: &FileSpec) -> Outcome {
    // Metadata of a file on a hung network mount can block: keep it off the runtime's
    // worker threads (the runner's timeout still bounds the wait).
    let path = spec.path.clone();
    match tokio::task::spawn_blocking(move || std::fs::metadata(path)).await {
        Ok(Ok(meta)) => judge(spec, &meta, SystemTime::now()),
        Ok(Err(e)) => missing(spec, &e),
        Err(e) => Outcome::fail(format!("cannot read file {}: {e}", spec.path.display())),
    }
}

fn missing(spec: &FileSpec, e: &io::Error) -> Outcome {
    let path = spec.path.display();
    match e.kind() {
        io::ErrorKind::NotFound => Outcome::fail(format!("file {path} does not exist")),
        io::ErrorKind::PermissionDenied => {
            Outcome::fail(format!("cannot read file {path}: permission denied"))
        }
        _ => Outcome::fail(format!("cannot read file {path}: {e}")),
    }
}

/// The verdict on what `metadata` found at `now`.
pub fn judge(spec: &FileSpec, meta: &std::fs::Metadata, now: SystemTime) -> Outcome {
    let path = spec.path.display();
    if meta.is_dir() {
        return Outcome::fail(format!("{path} is a directory, not a file"));
    }
    let size = meta.len();
    let modified = meta.modified().ok();
    let age = modified.map(|m| now.duration_since(m).map_err(|e| e.duration()));
    let age_text = match age {
        Some(Ok(age)) => format!("modified {} ago", human_age(age)),
        Some(Err(ahead)) => format!("modified {} in the future", human_age(ahead)),
        None => "modification time unknown".to_string(),
    };
    let facts = format!("{}, {age_text}", human_size(size));
    if let Some(max) = spec.max_age {
        match age {
            Some(Ok(age)) if age > max => {
                return Outcome::fail(format!(
                    "file {path} is too old: {age_text} (max_age {}); {}",
                    crate::duration::format(max),
                    human_size(size)
                ))
            }
            None => return Outcome::fail(format!("file {path}: cannot tell its age ({facts})")),
            _ => {}
        }
    }
    if let Some(min) = spec.min_size {
        if size < min {
            return Outcome::fail(format!(
                "file {path} is too small: {} (min_size {}); {age_text}",
                human_size(size),
                human_size(min)
            ));
        }
    }
    Outcome::ok(format!("file {path}: {facts}"))
}

/// "42s", "3m 20s", "2h 5m", "4d 1h".
fn human_age(d: Duration) -> String {
    crate::duration::humanize(crate::saturating::delta(d))
}

/// "512 B", "1.5 KiB (1536 B)", "2.0 MiB (2097152 B)".
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} B)", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units_with_the_exact_count() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB (1536 B)");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB (3145728 B)");
    }

    #[test]
    fn ages_read_in_at_most_two_units() {
        assert_eq!(human_age(Duration::from_secs(42)), "42s");
        assert_eq!(
            human_age(Duration::from_secs(2 * 3600 + 5 * 60 + 7)),
            "2h 5m"
        );
        // A modification time at the far end of what a file system stores.
        assert!(
            human_age(Duration::MAX).ends_with('h'),
            "{}",
            human_age(Duration::MAX)
        );
    }
}
