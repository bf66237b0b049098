//! Running another program the way `command` checks and `[[commands]]` channels do: no
//! shell, in a process group of its own (so a timeout, or a caller that gives up, kills
//! everything it started), its input given or closed, its output read to the end and
//! capped so that it never blocks on a full pipe and never costs more than the cap.
//! `wrap` runs its command in the foreground with its output passed through, which is
//! another job: it does not come here.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

/// What is kept of each output stream; the rest is read and thrown away.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// How long the output pipes may stay open once the program itself has exited (a
/// background child of its own may still hold them) before its group is killed.
const EXIT_GRACE: Duration = Duration::from_millis(250);
/// How long to wait for a killed program to be reaped before leaving it to tokio.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// A program that ran to its end: its exit status and its output, each capped.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a program did not run to its end.
#[derive(Debug)]
pub enum Failure {
    /// It could not be started (not found, not executable...).
    Spawn(io::Error),
    /// It was still running at the timeout: its process group was killed.
    TimedOut,
    /// Waiting for it failed.
    Wait(io::Error),
}

/// Runs `command` (its program, arguments, environment and folder set by the caller)
/// with `stdin` as its input (none: `/dev/null`), under `timeout`. Dropping the future
/// before it ends kills the process group too.
pub async fn run(
    command: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Finished, Failure> {
    run_capped(command, stdin, timeout, OUTPUT_CAP).await
}

/// [`run`], keeping up to `cap` bytes of standard output instead of [`OUTPUT_CAP`] (a
/// peer's `jobs-json` is longer than a plugin's output); error output keeps the usual cap.
pub async fn run_capped(
    mut command: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    cap: usize,
) -> Result<Finished, Failure> {
    let deadline = crate::saturating::instant_in(timeout);
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout can kill everything the program started.
        .process_group(0);
    let mut child = command.spawn().map_err(Failure::Spawn)?;
    let mut group = GroupGuard::new(child.id());

    // Written beside the reading, so a program that answers before reading all its input
    // cannot block on a full pipe. One that does not read it at all is fine (EPIPE).
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        })),
        _ => None,
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut status = None;
    let mut wait_error = None;
    let pipes_open;
    {
        let read_out = read_capped(stdout, &mut out, cap);
        let read_err = read_capped(stderr, &mut err, OUTPUT_CAP);
        tokio::pin!(read_out, read_err);
        let mut out_done = false;
        let mut err_done = false;
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut read_out, if !out_done => out_done = true,
                () = &mut read_err, if !err_done => err_done = true,
                result = child.wait(), if status.is_none() && wait_error.is_none() => {
                    match result {
                        Ok(s) => status = Some(s),
                        Err(e) => wait_error = Some(e),
                    }
                    // Exited: its pipes should close now; give a straggler a moment.
                    let grace = (Instant::now() + EXIT_GRACE).min(deadline);
                    sleep.as_mut().reset(grace);
                }
                () = &mut sleep => break,
            }
            let exited = status.is_some() || wait_error.is_some();
            if exited && out_done && err_done {
                break;
            }
        }
        pipes_open = !(out_done && err_done);
    }
    if let Some(w) = writer {
        w.abort();
    }

    if status.is_none() && wait_error.is_none() {
        // Still running at the timeout. Kill before reaping: an unreaped child keeps its
        // pid, so the group id cannot have been reused by anything else.
        group.kill();
        let _ = tokio::time::timeout(REAP_WAIT, child.wait()).await;
        return Err(Failure::TimedOut);
    }
    if pipes_open {
        // The program exited but something it started still holds its output open.
        group.kill();
    } else {
        // Exited and reaped with nothing left holding its output: the group id may be
        // free for reuse, so it must not be signalled any more.
        group.disarm();
    }
    match (status, wait_error) {
        (Some(status), _) => Ok(Finished {
            status,
            stdout: out,
            stderr: err,
        }),
        (None, Some(e)) => Err(Failure::Wait(e)),
        (None, None) => Err(Failure::Wait(io::Error::other("ended without a status"))),
    }
}

/// Kills the child's process group when dropped, unless disarmed: a program abandoned
/// (at the tick deadline, by a delivery's hard limit) must not be left running.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        let pgid = pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|&p| p > 0)
            .map(Pid::from_raw);
        GroupGuard { pgid }
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (everything already gone) is the outcome we wanted anyway.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a pipe to its end, keeping the first `cap` bytes and discarding the rest, so the
/// child never blocks on a full pipe and never costs more than the cap.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>, kept: &mut Vec<u8>, cap: usize) {
    let Some(mut pipe) = pipe else { return };
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) => return,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[tokio::test]
    async fn the_input_is_given_and_the_output_comes_back_capped() {
        let done = run(
            sh("cat; head -c 200000 /dev/zero >&2; exit 4"),
            Some(b"hello".to_vec()),
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!(done.status.code(), Some(4));
        assert_eq!(done.stdout, b"hello");
        assert_eq!(done.stderr.len(), OUTPUT_CAP);
    }

    #[tokio::test]
    async fn without_input_the_program_reads_end_of_file() {
        let done = run(sh("cat; echo done"), None, Duration::from_secs(10))
            .await
            .expect("runs");
        assert_eq!(done.stdout, b"done\n");
    }

    #[tokio::test]
    async fn a_program_still_running_at_the_timeout_is_killed_and_said_so() {
        let started = std::time::Instant::now();
        let r = run(sh("sleep 30"), None, Duration::from_millis(300)).await;
        assert!(matches!(r, Err(Failure::TimedOut)), "{:?}", r.err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_program_left_holding_the_output_open_does_not_hold_the_caller() {
        // The program exits at once; its background child keeps stdout open.
        let started = std::time::Instant::now();
        let done = run(sh("sleep 30 & echo started"), None, Duration::from_secs(20))
            .await
            .expect("runs");
        assert!(done.status.success());
        assert_eq!(done.stdout, b"started\n");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_missing_program_cannot_be_spawned() {
        let r = run(
            Command::new("/nonexistent/plugin"),
            None,
            Duration::from_secs(5),
        )
        .await;
        assert!(
            matches!(&r, Err(Failure::Spawn(e)) if e.kind() == io::ErrorKind::NotFound),
            "{:?}",
            r.err()
        );
    }
}
