//! Child processes and their I/O in tests, made robust for a loaded CI machine (2 cores
//! shared with builds): every blocking call interrupted by a signal (`EINTR`,
//! `ErrorKind::Interrupted`) is retried, and every interaction with an external program
//! (QEMU, tmux, chromium, as/ld) has a generous deadline; when one is really exceeded
//! the error names the interaction, not just the system call that gave up.

use std::io::{self, Read as _};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one interaction with an external program may take before the test gives up:
/// far beyond what any of them needs on an idle machine (well under a second), so that
/// only a real hang fails.
pub const GENEROUS: Duration = Duration::from_secs(120);

/// A deadline for one named interaction ("QEMU's gdbstub: answer to `s`").
#[derive(Clone, Debug)]
pub struct Deadline {
    what: String,
    start: Instant,
    limit: Duration,
}

impl Deadline {
    pub fn new(what: impl Into<String>, limit: Duration) -> Deadline {
        Deadline {
            what: what.into(),
            start: Instant::now(),
            limit,
        }
    }

    /// A deadline of `GENEROUS`.
    pub fn generous(what: impl Into<String>) -> Deadline {
        Deadline::new(what, GENEROUS)
    }

    /// The interaction, as named to `new`.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Time left (zero once passed).
    pub fn left(&self) -> Duration {
        self.limit.saturating_sub(self.start.elapsed())
    }

    pub fn passed(&self) -> bool {
        self.start.elapsed() >= self.limit
    }

    /// The message for a deadline that passed, naming the interaction.
    pub fn error(&self) -> String {
        format!(
            "{}: no result within {} s (deadline exceeded)",
            self.what,
            self.limit.as_secs()
        )
    }

    /// `Err(self.error())` once the deadline has passed.
    pub fn check(&self) -> Result<(), String> {
        if self.passed() {
            Err(self.error())
        } else {
            Ok(())
        }
    }
}

/// Run `f` again while it fails with `ErrorKind::Interrupted` (a signal arrived during a
/// blocking call; nothing was transferred, the call can simply be repeated).
pub fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// The child's exit status if it has exited (an error counts as still running: the
/// caller's deadline ends the wait).
pub fn exited(child: &mut Child) -> Option<ExitStatus> {
    retry(|| child.try_wait()).ok().flatten()
}

/// Kill and reap `child` (ignoring a child that already exited).
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = retry(|| child.wait());
}

/// Wait for `child` to exit before `deadline`; past it, kill the child and report the
/// deadline's error.
pub fn wait_until(child: &mut Child, deadline: &Deadline) -> Result<ExitStatus, String> {
    loop {
        if let Some(status) = exited(child) {
            return Ok(status);
        }
        if deadline.passed() {
            kill(child);
            return Err(deadline.error());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `cmd.output()` with a deadline: standard input from /dev/null, standard output and
/// error captured; the child is killed when the deadline passes.
pub fn output_within(cmd: &mut Command, deadline: &Deadline) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    // Read both pipes on threads (`read_to_end` retries EINTR itself), so that a
    // child filling one pipe never blocks on the other.
    let (tx, rx) = mpsc::channel();
    for (n, pipe) in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn io::Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send((n, buf));
        });
    }
    let status = wait_until(&mut child, deadline)?;
    let mut out = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        // A grandchild that keeps a pipe open must not hang the test either.
        let (n, buf) = rx
            .recv_timeout(deadline.left().max(Duration::from_secs(1)))
            .map_err(|_| format!("{} (its output never ended)", deadline.error()))?;
        out[n] = buf;
    }
    let [stdout, stderr] = out;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `cmd.status()` with a deadline (standard streams inherited, standard input from
/// /dev/null); the child is killed when the deadline passes.
pub fn status_within(cmd: &mut Command, deadline: &Deadline) -> Result<ExitStatus, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    wait_until(&mut child, deadline)
}
