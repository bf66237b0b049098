//! `checker manpages DIR` (hidden): writes the manual pages generated from the clap
//! definition — checker(1) and one checker-COMMAND(1) per subcommand — for the Debian
//! package (scripts/build-deb.sh). checker.toml(5) is written by hand in packaging/.

use std::path::Path;

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::Cli;
use crate::error::AppError;
use crate::exit::Exit;

/// Writes every page into `dir` (created when missing) and prints each file's path.
pub fn run(dir: &Path) -> Result<Exit, AppError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        AppError::Other(anyhow::anyhow!(
            "cannot create the man page folder {}: {e}",
            dir.display()
        ))
    })?;
    for (name, text) in pages() {
        let path = dir.join(&name);
        std::fs::write(&path, text).map_err(|e| {
            AppError::Other(anyhow::anyhow!("cannot write {}: {e}", path.display()))
        })?;
        println!("{}", path.display());
    }
    Ok(Exit::Success)
}

/// Every page as (file name, roff text): checker.1 first, then the subcommands' pages in
/// the order of `checker --help`. Hidden commands (this one) get no page.
pub fn pages() -> Vec<(String, String)> {
    let mut root =
        crate::cli::hide_globals_in_completions(Cli::command().disable_help_subcommand(true));
    root.build();
    let subcommands: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let sub_names: Vec<String> = subcommands
        .iter()
        .map(|s| display_name(s).to_string())
        .collect();

    let mut pages = Vec::with_capacity(subcommands.len() + 1);
    let mut see_also = vec!["checker.toml(5)".to_string()];
    see_also.extend(sub_names.iter().map(|n| format!("{n}(1)")));
    pages.push(page(root, &root_sections(), &see_also));
    for sub in subcommands {
        pages.push(page(
            sub,
            "",
            &["checker(1)".to_string(), "checker.toml(5)".to_string()],
        ));
    }
    pages
}

fn display_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// One page: clap_mangen's sections, then `extra` (roff), then SEE ALSO.
fn page(cmd: clap::Command, extra: &str, see_also: &[String]) -> (String, String) {
    let title = display_name(&cmd).to_uppercase();
    // No date: the pages are generated at build time and must not change with the day.
    let man = Man::new(cmd)
        .title(title)
        .source(format!("checker {}", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    // Rendering into a Vec cannot fail: the writer never errors.
    let _ = man.render(&mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push_str(extra);
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    let last = see_also.len().saturating_sub(1);
    for (i, reference) in see_also.iter().enumerate() {
        let (name, section) = reference.split_once('(').unwrap_or((reference, ""));
        let sep = if i == last { "" } else { "," };
        roff.text([bold(name), roman(format!("({section}{sep}"))]);
    }
    text.push_str(&roff.to_roff());
    (man.get_filename(), text)
}

/// The root page's own sections: how cron drives it, exit status, files.
fn root_sections() -> String {
    let mut roff = Roff::new();
    roff.control("SH", ["CRON AND SYSTEMD"])
        .text([roman(
            "Each run of checker -c TICK is one cron tick: minute, hour, day or day_noon. \
             The package ships the four cron lines, commented out, in /etc/cron.d/checker, \
             and systemd timers checker-minute.timer, checker-hour.timer, checker-day.timer \
             and checker-day_noon.timer, which run checker@TICK.service. Use one or the \
             other, not both. checker-serve.service runs checker serve for peers.",
        )])
        .control("SH", ["EXIT STATUS"])
        .control("TP", [])
        .text([bold("0")])
        .text([roman(
            "success; a cron tick that completed, whatever the checks found",
        )])
        .control("TP", [])
        .text([bold("1")])
        .text([roman(
            "a check failed (run-once), unhealthy (peer-status), the wrapped command's \
             status (wrap), or an unexpected error",
        )])
        .control("TP", [])
        .text([bold("2")])
        .text([roman("usage or configuration error")])
        .control("TP", [])
        .text([bold("3")])
        .text([roman(
            "state error: lock timeout, unreadable state, history folder",
        )])
        .control("SH", ["ENVIRONMENT"])
        .control("TP", [])
        .text([bold("CHECKER_CONFIG")])
        .text([roman("the settings file when -f is not given")])
        .control("TP", [])
        .text([bold("NO_COLOR")])
        .text([roman("no colour in status, even on a terminal")])
        .control("SH", ["FILES"])
        .control("TP", [])
        .text([bold("/etc/checker/settings.toml")])
        .text([roman(
            "the settings, read when neither -f nor CHECKER_CONFIG is given and there is \
             no ./settings.toml; see checker.toml(5)",
        )])
        .control("TP", [])
        .text([bold("/etc/checker/jobs/")])
        .text([roman("job files of the package: every *.toml in it")])
        .control("TP", [])
        .text([bold("/var/lib/checker/")])
        .text([roman(
            "state, history and log of the package, owned by the checker user",
        )]);
    roff.to_roff()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_subcommand_gets_its_own_page_and_the_root_page_lists_them() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "checker.1");
        for expected in ["checker-status.1", "checker-run-once.1", "checker-serve.1"] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("manpages") || n.contains("help")),
            "hidden commands get no page: {names:?}"
        );
        let root = &pages[0].1;
        assert!(root.contains(".TH CHECKER 1"), "{root}");
        assert!(root.contains("checker\\-status"), "{root}");
        assert!(root.contains(".SH \"EXIT STATUS\""), "{root}");
        assert!(root.contains("checker.toml"), "{root}");
    }
}
