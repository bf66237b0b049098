//! `kind = "passive"`: no check of its own; results are pushed (`report`, `wrap`), with a
//! deadline when `expect_every` is set.

use std::time::Duration;

use super::raw::{JobCx, RawJob};
use crate::config::job::PassiveSpec;

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> PassiveSpec {
    let name = k.name;
    // Without `expect_every` the job has no deadline: results arrive when they do
    // (downloaders with no fixed rhythm) and the rules judge them.
    let expect_every = k.duration("expect_every", &r.expect_every);
    if let (Some(at), true) = (
        &r.expect_every,
        expect_every.is_some_and(|e| e < Duration::from_secs(1)),
    ) {
        k.at(
            at,
            format!("job {name:?}: `expect_every` must be at least 1s"),
        );
    }
    if let (Some(at), None) = (&r.grace, &r.expect_every) {
        k.at(at, format!("job {name:?}: `grace` extends the `expect_every` deadline, and there is none: add `expect_every` or remove `grace`"));
    }
    let grace = match expect_every {
        Some(every) => k
            .duration("grace", &r.grace)
            .unwrap_or_else(|| PassiveSpec::default_grace(every)),
        None => Duration::ZERO,
    };
    PassiveSpec {
        expect_every,
        grace,
    }
}
