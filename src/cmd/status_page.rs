//! `checker status-page [--output FILE]`: writes the status page now, whatever changed:
//! to FILE (`-`: stdout), else to `[status_page] path`. Ticks write it on their own when
//! something shown changed; this is for a first look, another schedule, or a test.

use std::path::Path;

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::state::Store;

pub fn run(config: &Config, output: Option<&Path>) -> Result<Exit, AppError> {
    let Some(dest) = output.or(config.status_page.path.as_deref()) else {
        return Err(AppError::Usage(
            "no [status_page] path in the settings: give --output FILE (or --output - to print the page)".into(),
        ));
    };
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read()?;
    let history = crate::history::History::reader(&config.general);
    let page = crate::statuspage::render(config, &state, &history, Utc::now());
    if dest == Path::new("-") {
        use std::io::Write;
        std::io::stdout()
            .write_all(page.as_bytes())
            .map_err(|e| AppError::Other(e.into()))?;
        return Ok(Exit::Success);
    }
    crate::statuspage::write_atomically(dest, page.as_bytes())
        .map_err(|e| AppError::Other(e.into()))?;
    println!(
        "status page written to {} ({} bytes)",
        dest.display(),
        page.len()
    );
    Ok(Exit::Success)
}
