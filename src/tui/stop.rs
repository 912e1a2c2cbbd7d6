//! Why the viewer must end although nobody pressed `q`: a signal (SIGINT, SIGTERM,
//! SIGHUP) or a terminal that went away (a closed tmux session or a dropped SSH
//! connection hangs the terminal up: it is then no terminal any more, and reading it
//! gives end of file). The event loop asks `Stopper::reason` between events, at least
//! every `POLL_MS`. A watchdog thread asks too: if the event loop has not ended
//! `GRACE_MS` after a reason appeared (it is busy computing), the watchdog puts the
//! terminal back (only if it is still there, and without waiting more than
//! `RESTORE_MS` for it) and ends the process, so ringstep never outlives its terminal
//! by more than a second, whatever it is doing.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// The longest the event loop waits before asking again.
pub const POLL_MS: u64 = 50;
/// How long the watchdog lets the event loop end by itself.
pub const GRACE_MS: u64 = 400;
/// How long the watchdog waits for the terminal to be restored before it exits anyway.
pub const RESTORE_MS: u64 = 200;

/// Why the viewer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A signal arrived (its number).
    Signal(usize),
    /// The terminal went away: nothing may be written to it.
    Hangup,
}

impl Reason {
    /// The exit status: 128 + the signal number (SIGHUP's for a terminal that went away).
    pub fn status(self) -> u8 {
        match self {
            Reason::Signal(s) => 128u8.wrapping_add(s as u8),
            Reason::Hangup => 128 + signal_hook::consts::SIGHUP as u8,
        }
    }

    /// The terminal can still be written to (and so restored).
    pub fn terminal_alive(self) -> bool {
        self != Reason::Hangup && terminal_alive()
    }
}

/// Standard input and output are still a terminal. A hung-up terminal is not: the
/// check (`isatty`) fails on it.
pub fn terminal_alive() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// The signal flag and the watchdog's "the event loop has ended" flag.
pub struct Stopper {
    signal: Arc<AtomicUsize>,
    hangup: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
}

impl Stopper {
    /// Catch SIGINT, SIGTERM and SIGHUP (they set a flag) and start the watchdog, which
    /// calls `restore` before it ends the process.
    pub fn install(restore: fn()) -> io::Result<Stopper> {
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        }
        let stopper = Stopper {
            signal,
            hangup: Arc::new(AtomicBool::new(false)),
            finished: Arc::new(AtomicBool::new(false)),
        };
        stopper.watch(restore);
        Ok(stopper)
    }

    /// Why the viewer must end now, if it must.
    pub fn reason(&self) -> Option<Reason> {
        reason_of(&self.signal, &self.hangup)
    }

    /// Record that the terminal went away (a read error or end of file on it).
    pub fn hung_up(&self) {
        self.hangup.store(true, Ordering::Relaxed);
    }

    fn watch(&self, restore: fn()) {
        let (signal, hangup) = (Arc::clone(&self.signal), Arc::clone(&self.hangup));
        let finished = Arc::clone(&self.finished);
        thread::spawn(move || {
            let mut since: Option<Instant> = None;
            while !finished.load(Ordering::Relaxed) {
                if let Some(r) = reason_of(&signal, &hangup) {
                    let first = *since.get_or_insert_with(Instant::now);
                    if first.elapsed() >= Duration::from_millis(GRACE_MS) {
                        force_exit(r, restore);
                    }
                }
                thread::sleep(Duration::from_millis(POLL_MS / 2));
            }
        });
    }
}

impl Drop for Stopper {
    /// The event loop has ended: the watchdog stops.
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Relaxed);
    }
}

fn reason_of(signal: &AtomicUsize, hangup: &AtomicBool) -> Option<Reason> {
    match signal.load(Ordering::Relaxed) {
        0 if hangup.load(Ordering::Relaxed) || !terminal_alive() => Some(Reason::Hangup),
        0 => None,
        s => Some(Reason::Signal(s)),
    }
}

/// Restore the terminal if it is still there (waiting for that at most `RESTORE_MS`:
/// a terminal nobody reads can block writes) and end the process.
fn force_exit(r: Reason, restore: fn()) -> ! {
    if r.terminal_alive() {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            restore();
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_millis(RESTORE_MS));
    }
    std::process::exit(i32::from(r.status()))
}
