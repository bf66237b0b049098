//! `checker wrap JOB -- COMMAND [ARGS...]`: runs COMMAND directly (no shell) with its
//! input and output passed through, keeps the last 4 KiB of each output stream, records
//! the outcome (exit status, duration, output tail) as JOB's result and exits with
//! COMMAND's status (128 + N when signal N killed it). SIGINT, SIGTERM and SIGHUP sent to
//! checker are passed on to COMMAND. COMMAND runs whatever the configuration says; what
//! cannot be recorded is told on stderr and in the log (else syslog).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, Job};
use crate::engine::{push, record, RunOptions};
use crate::error::AppError;
use crate::exit::Exit;
use crate::text::truncate;

/// How much of the end of each output stream the result keeps.
pub const TAIL_CAP: usize = 4 * 1024;
/// How long the output pipes may stay open once COMMAND has exited (something it started
/// in the background may hold them) before the result is recorded without waiting more.
const PIPE_GRACE: Duration = Duration::from_secs(1);
/// The longest line quoted in the first line of the message.
const LINE_CAP: usize = 200;

/// Runs COMMAND and records its outcome as JOB's result; returns COMMAND's status. The
/// command runs whatever `loaded` says (settings that do not load, an unknown job, an
/// unwritable state): a monitoring failure must never stop the job being monitored. When
/// the result cannot be recorded, that is said on stderr and in the log file (the one the
/// settings name, when they did not load), else in syslog, and the status is still
/// COMMAND's.
pub fn run(
    loaded: Result<Config, AppError>,
    settings: Option<&std::path::Path>,
    name: &str,
    command: &[String],
    nomail: bool,
) -> Result<Exit, AppError> {
    let Some((program, args)) = command.split_first() else {
        return Err(AppError::Usage(
            "wrap needs a command after `--`, e.g. `checker wrap backup -- /usr/local/bin/backup.sh`".into(),
        ));
    };
    let outcome = execute(program, args);
    let recorded = match &loaded {
        Err(e) => Err(e.to_string()),
        Ok(config) => record(config, name, &outcome, nomail),
    };
    if let Err(why) = recorded {
        let text = format!(
            "could not record the result of job {name:?} ({}): {}",
            outcome.message.lines().next().unwrap_or(""),
            why.trim_end()
        );
        // The command's output may echo a configured secret.
        let text = crate::redact::string(text);
        eprintln!("checker wrap: {text}");
        match &loaded {
            Ok(config) => match &config.logging.file {
                Some(_) => log::error!(target: crate::logging::FILE_ONLY, "wrap: {text}"),
                None => crate::last_resort::to_log_or_syslog(None, &format!("wrap: {text}")),
            },
            Err(_) => crate::last_resort::settings_failed(settings, &format!("wrap: {text}")),
        }
    }
    Ok(Exit::Wrapped(outcome.code))
}

/// How COMMAND went.
struct Outcome {
    ok: bool,
    /// The status `wrap` exits with.
    code: u8,
    message: String,
    elapsed: Duration,
}

/// Runs COMMAND with its input and output passed through, its signals forwarded.
fn execute(program: &str, args: &[String]) -> Outcome {
    // Before the child exists, so that no signal meant for it can be lost. Without it the
    // command still runs: only Ctrl-C and kill reach it less well.
    let forwarder = match forward::Forwarder::install() {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("checker wrap: cannot set up signal forwarding ({e}); running the command without it");
            None
        }
    };
    let start = Instant::now();
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            if let Some(f) = &forwarder {
                f.restore();
            }
            // The shell's conventions: 127 not found, 126 found but not runnable.
            let code = if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let message = format!("cannot run {program}: {e}");
            eprintln!("checker wrap: {message}");
            return Outcome {
                ok: false,
                code,
                message,
                elapsed: start.elapsed(),
            };
        }
    };
    if let Some(f) = &forwarder {
        f.watch(child.id());
    }

    let (done_tx, done_rx) = mpsc::channel();
    let out_tail = Arc::new(Mutex::new(Tail::default()));
    let err_tail = Arc::new(Mutex::new(Tail::default()));
    let mut pumps = 0;
    if let Some(out) = child.stdout.take() {
        pumps += 1;
        pump(out, io::stdout(), Arc::clone(&out_tail), done_tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        pumps += 1;
        pump(err, io::stderr(), Arc::clone(&err_tail), done_tx.clone());
    }
    drop(done_tx);

    let status = match &forwarder {
        Some(f) => f.wait(&mut child),
        None => child.wait(),
    };
    let elapsed = start.elapsed();
    if let Some(f) = &forwarder {
        f.restore();
    }
    let grace_end = Instant::now() + PIPE_GRACE;
    for _ in 0..pumps {
        if done_rx
            .recv_timeout(grace_end.saturating_duration_since(Instant::now()))
            .is_err()
        {
            break;
        }
    }
    let out = snapshot(&out_tail);
    let err = snapshot(&err_tail);

    let (ok, code, how) = match status {
        Ok(status) => judge(status),
        Err(e) => (false, 1, format!("cannot wait for {program}: {e}")),
    };
    let mut summary = format!("{how} after {}", crate::duration::format(elapsed));
    if let Some(line) = last_line(&err).or_else(|| last_line(&out)) {
        summary.push_str(": ");
        summary.push_str(&line);
    }
    Outcome {
        ok,
        code,
        message: compose(&summary, &[("stdout", &out), ("stderr", &err)]),
        elapsed,
    }
}

/// Records the outcome as JOB's result, or says why it could not be.
fn record(config: &Config, name: &str, outcome: &Outcome, nomail: bool) -> Result<(), String> {
    let job: &Job = super::report::find_job(config, name).map_err(|e| e.to_string())?;
    let result = record::result(
        job,
        outcome.ok,
        outcome.message.clone(),
        u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
        None,
    );
    let notifications =
        push::record(config, job, &result, RunOptions { nomail }).map_err(|e| e.to_string())?;
    for n in notifications.iter().filter(|n| !n.delivered) {
        log::warn!(
            "{} notification for {} via {} queued for retry",
            n.kind.as_str(),
            n.job,
            n.channel
        );
    }
    Ok(())
}

/// Success, exit status, and how it ended in words.
fn judge(status: ExitStatus) -> (bool, u8, String) {
    if let Some(code) = status.code() {
        return (
            code == 0,
            (code & 0xff) as u8,
            format!("exit status {code}"),
        );
    }
    if let Some(sig) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str())
            .unwrap_or("unknown signal");
        return (
            false,
            (128 + sig).clamp(0, 255) as u8,
            format!("killed by signal {sig} ({name})"),
        );
    }
    (false, 1, "ended without an exit status".to_string())
}

/// The end of one output stream: at most `TAIL_CAP` bytes, and how much there was.
#[derive(Default, Clone)]
struct Tail {
    buf: VecDeque<u8>,
    total: u64,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let data = &data[data.len().saturating_sub(TAIL_CAP)..];
        self.buf.extend(data);
        let excess = self.buf.len().saturating_sub(TAIL_CAP);
        self.buf.drain(..excess);
    }

    fn truncated(&self) -> bool {
        self.total > self.buf.len() as u64
    }

    fn text(&self) -> String {
        let bytes: Vec<u8> = self.buf.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // A cut through a multi-byte character leaves replacement marks at the start.
        if self.truncated() {
            text.trim_start_matches('\u{fffd}').to_string()
        } else {
            text
        }
    }
}

fn snapshot(tail: &Mutex<Tail>) -> Tail {
    match tail.lock() {
        Ok(t) => t.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Copies `from` to `to` as it comes, keeping the tail. When the reader of `to` has gone
/// (`wrap j -- yes | head -1`), the pipe from COMMAND is closed too, so COMMAND meets the
/// broken pipe it would have met without checker in between: SIGPIPE, which it has at its
/// default disposition. Any other failure of `to` (a closed terminal) stops the copying,
/// never the reading, so COMMAND cannot block on a full pipe.
fn pump(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    tail: Arc<Mutex<Tail>>,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        let mut passing = true;
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(mut t) = tail.lock() {
                        t.push(&buf[..n]);
                    }
                    if passing {
                        match to.write_all(&buf[..n]).and_then(|()| to.flush()) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
                            Err(_) => passing = false,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        // Closes COMMAND's end of the pipe (when the loop stopped early).
        drop(from);
        let _ = done.send(());
    });
}

/// The last line with something on it, shortened.
fn last_line(t: &Tail) -> Option<String> {
    let text = t.text();
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| truncate(l, LINE_CAP))
}

/// The message: the summary line, then each stream's tail under a header.
fn compose(summary: &str, streams: &[(&str, &Tail)]) -> String {
    let mut m = summary.to_string();
    for (name, t) in streams {
        if t.total == 0 {
            continue;
        }
        if t.truncated() {
            m.push_str(&format!(
                "\n--- {name} (last {} of {} bytes) ---\n",
                t.buf.len(),
                t.total
            ));
        } else {
            m.push_str(&format!("\n--- {name} ---\n"));
        }
        m.push_str(t.text().trim_end_matches('\n'));
    }
    m
}

/// Passing SIGINT, SIGTERM and SIGHUP on to the child. signal-hook's handler records the
/// signal with its origin; a thread reads it and signals the child. A signal the terminal
/// sent (Ctrl-C, hang-up) came from the kernel and went to the whole foreground process
/// group, the child included, so it is not sent a second time. Signals that were ignored
/// when checker started (`nohup`) stay ignored, for checker and the child.
mod forward {
    use std::os::raw::c_int;
    use std::process::{Child, ExitStatus};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    use nix::unistd::Pid;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::iterator::{Handle, SignalsInfo};
    use signal_hook::low_level::siginfo::Cause;

    const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

    #[derive(Default)]
    struct Shared {
        child: Option<Pid>,
        exited: bool,
        /// Signals that came before the child existed.
        pending: Vec<Signal>,
    }

    pub struct Forwarder {
        shared: Arc<Mutex<Shared>>,
        /// Stops the forwarding thread, which then unregisters its handlers.
        handle: Handle,
        /// Once set, a forwarded signal does what it does by default (ends checker).
        restored: Arc<AtomicBool>,
    }

    impl Forwarder {
        pub fn install() -> std::io::Result<Forwarder> {
            let ignored = super::ignored_signals();
            let wanted: Vec<c_int> = FORWARDED
                .iter()
                .map(|&s| s as c_int)
                .filter(|&s| !ignored.contains(&s))
                .collect();
            let mut signals = SignalsInfo::<WithOrigin>::new(&wanted)?;
            let handle = signals.handle();
            let restored = Arc::new(AtomicBool::new(false));
            for &sig in &wanted {
                if let Err(e) =
                    signal_hook::flag::register_conditional_default(sig, Arc::clone(&restored))
                {
                    // Signals end checker as usual again; none is forwarded.
                    restored.store(true, Ordering::SeqCst);
                    handle.close();
                    return Err(e);
                }
            }
            let shared = Arc::new(Mutex::new(Shared::default()));
            let reader = Arc::clone(&shared);
            std::thread::spawn(move || {
                for origin in signals.forever() {
                    if origin.cause == Cause::Kernel {
                        continue;
                    }
                    let Ok(sig) = Signal::try_from(origin.signal) else {
                        continue;
                    };
                    let Ok(mut s) = reader.lock() else { break };
                    match (s.child, s.exited) {
                        (_, true) => {}
                        (Some(pid), false) => {
                            let _ = kill(pid, sig);
                        }
                        (None, false) => s.pending.push(sig),
                    }
                }
            });
            Ok(Forwarder {
                shared,
                handle,
                restored,
            })
        }

        /// From now on signals go to `pid`, starting with any that came before.
        pub fn watch(&self, pid: u32) {
            let Ok(pid) = i32::try_from(pid) else { return };
            let pid = Pid::from_raw(pid);
            if let Ok(mut s) = self.shared.lock() {
                s.child = Some(pid);
                for sig in std::mem::take(&mut s.pending) {
                    let _ = kill(pid, sig);
                }
            }
        }

        /// Waits for the child to end. It is marked as ended before it is reaped, so the
        /// forwarding thread can never signal a reused process id.
        pub fn wait(&self, child: &mut Child) -> std::io::Result<ExitStatus> {
            if let Ok(pid) = i32::try_from(child.id()) {
                while let Err(nix::errno::Errno::EINTR) = waitid(
                    Id::Pid(Pid::from_raw(pid)),
                    WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
                ) {}
            }
            if let Ok(mut s) = self.shared.lock() {
                s.exited = true;
            }
            child.wait()
        }

        /// Stops forwarding: from now on a signal during the recording and delivery that
        /// follow stops checker as usual.
        pub fn restore(&self) {
            self.restored.store(true, Ordering::SeqCst);
            self.handle.close();
        }
    }
}

/// The signals this process ignores (`SigIgn` in /proc/self/status): those `nohup` or a
/// service manager set to be ignored, inherited across exec. None where it cannot be read.
fn ignored_signals() -> Vec<i32> {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| parse_sig_ign(&s))
        .unwrap_or_default()
}

/// The signal numbers set in the `SigIgn:` mask (bit N-1 is signal N).
fn parse_sig_ign(status: &str) -> Vec<i32> {
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return Vec::new();
    };
    (1..=64).filter(|n| mask & (1u64 << (n - 1)) != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_and_counts_them_all() {
        let mut t = Tail::default();
        t.push(b"first line\n");
        assert!(!t.truncated());
        for i in 0..1000 {
            t.push(format!("line {i}\n").as_bytes());
        }
        assert!(t.truncated());
        assert_eq!(t.buf.len(), TAIL_CAP);
        let text = t.text();
        assert!(text.ends_with("line 999\n"));
        assert!(!text.contains("first line"));
        // One push bigger than the cap.
        let mut big = Tail::default();
        big.push(&vec![b'x'; 3 * TAIL_CAP]);
        assert_eq!((big.buf.len(), big.total), (TAIL_CAP, 3 * TAIL_CAP as u64));
    }

    #[test]
    fn a_cut_through_a_character_does_not_show_as_garbage() {
        let mut t = Tail::default();
        t.push("é".repeat(TAIL_CAP).as_bytes());
        t.push(b"x");
        assert!(t.text().starts_with('é'));
    }

    #[test]
    fn the_message_has_a_summary_line_then_each_non_empty_stream() {
        let mut out = Tail::default();
        out.push(b"copied 3 files\n");
        let err = Tail::default();
        let m = compose(
            "exit status 0 after 2s: copied 3 files",
            &[("stdout", &out), ("stderr", &err)],
        );
        assert_eq!(
            m,
            "exit status 0 after 2s: copied 3 files\n--- stdout ---\ncopied 3 files"
        );
        assert_eq!(last_line(&out).as_deref(), Some("copied 3 files"));
        assert_eq!(last_line(&err), None);
    }

    #[test]
    fn ignored_signals_are_read_from_the_sigign_mask() {
        let status = "Name:\tchecker\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\nSigCgt:\t0000000000000000\n";
        // Bit 0 is SIGHUP (1), bit 12 SIGPIPE (13).
        assert_eq!(parse_sig_ign(status), vec![1, 13]);
        assert_eq!(parse_sig_ign("SigIgn:\tnot hex\n"), Vec::<i32>::new());
        assert_eq!(parse_sig_ign(""), Vec::<i32>::new());
        assert_eq!(parse_sig_ign("SigIgn:\tffffffffffffffff\n").len(), 64);
    }

    #[test]
    fn exit_statuses_and_signals_map_to_the_shells_numbers() {
        let code = |raw: i32| judge(ExitStatus::from_raw(raw));
        assert_eq!(code(0), (true, 0, "exit status 0".to_string()));
        assert_eq!(code(3 << 8), (false, 3, "exit status 3".to_string()));
        assert_eq!(
            code(15),
            (false, 143, "killed by signal 15 (SIGTERM)".to_string())
        );
        assert_eq!(
            code(9),
            (false, 137, "killed by signal 9 (SIGKILL)".to_string())
        );
    }
}
