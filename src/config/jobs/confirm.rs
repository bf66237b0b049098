//! `confirm_with`, `confirm_min`, `confirm_job` and `confirm_unknown` (SPEC §12), keys
//! every kind that runs a check takes: what can be checked within the job's own table.
//! Whether each name is a configured peer is checked once the peers are read
//! (`config::load`).

use super::raw::{value, JobCx, RawJob};
use crate::config::context::quoted;
use crate::config::job::{Confirm, UnknownCounts};

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob, kind: &str) -> Option<Confirm> {
    let name = k.name;
    let Some(with_at) = &r.confirm_with else {
        let only_with = |key: &str| {
            format!("job {name:?}: `{key}` applies with `confirm_with` only: add `confirm_with = [\"peer name\", ...]` or remove it")
        };
        if let Some(v) = &r.confirm_min {
            k.at(v, only_with("confirm_min"));
        }
        if let Some(v) = &r.confirm_job {
            k.at(v, only_with("confirm_job"));
        }
        if let Some(v) = &r.confirm_unknown {
            k.at(v, only_with("confirm_unknown"));
        }
        return None;
    };
    let line = k.cx.line_of(with_at);
    if kind == "passive" {
        k.at(
            with_at,
            format!("job {name:?}: `confirm_with` needs a check this instance runs; a passive job's results are pushed to it alone"),
        );
    }
    let mut with: Vec<String> = Vec::new();
    for peer in with_at.get_ref() {
        let peer = peer.trim();
        if peer.is_empty() {
            k.at(
                with_at,
                format!("job {name:?}: `confirm_with` has an empty name: list `[[peers]]` names"),
            );
        } else if with.iter().any(|w| w == peer) {
            k.at(
                with_at,
                format!("job {name:?}: `confirm_with` names peer {peer:?} twice"),
            );
        } else {
            with.push(peer.to_string());
        }
    }
    if with_at.get_ref().is_empty() {
        k.at(
            with_at,
            format!("job {name:?}: `confirm_with` is empty: name the peers that must confirm a failure, or remove it"),
        );
    }
    let places = with.len().saturating_add(1);
    let min = match &r.confirm_min {
        None => Confirm::majority(places),
        Some(m) => {
            let n = *m.get_ref();
            if n < 1 {
                k.at(m, format!("job {name:?}: `confirm_min` must be 1 or more"));
                1
            } else if usize::try_from(n).map_or(true, |n| n > places) {
                k.at(
                    m,
                    format!(
                        "job {name:?}: `confirm_min` = {n} is more than the {places} places that can see a failure (this instance and {} peer(s) in `confirm_with`)",
                        with.len()
                    ),
                );
                1
            } else {
                u32::try_from(n).unwrap_or(u32::MAX)
            }
        }
    };
    let unknown = match &r.confirm_unknown {
        None => UnknownCounts::NotConfirming,
        Some(u) => UnknownCounts::parse(u.get_ref().trim()).unwrap_or_else(|| {
            k.at(
                u,
                format!(
                    "job {name:?}: `confirm_unknown` = {:?} is not valid: use one of {}",
                    u.get_ref(),
                    quoted(UnknownCounts::NAMES)
                ),
            );
            UnknownCounts::NotConfirming
        }),
    };
    let job = value(&r.confirm_job).map(|j| j.trim().to_string());
    if let (Some(at), Some("")) = (&r.confirm_job, job.as_deref()) {
        k.at(
            at,
            format!("job {name:?}: `confirm_job` is empty: give the job's name on the peers, or remove it"),
        );
    }
    Some(Confirm {
        with,
        min,
        job,
        unknown,
        line,
    })
}
