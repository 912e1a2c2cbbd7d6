//! Why the viewer must end although nobody pressed `q`: a signal (SIGINT, SIGTERM,
//! SIGHUP) or a terminal that went away (a closed tmux session or a dropped SSH
//! connection hangs the terminal up: it is then no terminal any more, and reading it
//! gives end of file). The event loop asks `Stopper::reason` between events, at least
//! every `POLL_MS`. A watchdog thread asks too: if the event loop has not ended
//! `GRACE_MS` after a reason appeared (it is busy computing), the watchdog puts the
//! terminal back (only if it is still there, and without waiting more than
//! `RESTORE_MS` for it) and ends the process, so ringstep never outlives its terminal
//! by more than a second, whatever it is doing. The quit key read while the event loop
//! has been busy for `BUSY_MS` (computing a run after a scene change or `set reg`) ends
//! the process the same way, at once.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// The longest the event loop waits before asking again.
pub const POLL_MS: u64 = 50;
/// How long the watchdog lets the event loop end by itself.
pub const GRACE_MS: u64 = 400;
/// How long the watchdog waits for the terminal to be restored before it exits anyway.
pub const RESTORE_MS: u64 = 200;

/// How long the event loop must have been busy (computing a run) before a quit key read
/// meanwhile ends the process instead of waiting its turn.
pub const BUSY_MS: u64 = 150;

/// Why the viewer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A signal arrived (its number).
    Signal(usize),
    /// The terminal went away: nothing may be written to it.
    Hangup,
    /// The quit key while the event loop was busy computing.
    Quit,
}

impl Reason {
    /// The exit status: 128 + the signal number (SIGHUP's for a terminal that went
    /// away), 0 for the quit key.
    pub fn status(self) -> u8 {
        match self {
            Reason::Signal(s) => 128u8.wrapping_add(s as u8),
            Reason::Hangup => 128 + signal_hook::consts::SIGHUP as u8,
            Reason::Quit => 0,
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

/// The flags the event loop, the input thread and the watchdog share.
#[derive(Default)]
struct Flags {
    hangup: AtomicBool,
    /// 1 + the millisecond (since `base`) a quit key was read; 0 for none.
    quit_key_at: AtomicU64,
    /// The event loop has ended: the watchdog stops.
    finished: AtomicBool,
    /// 1 + the millisecond (since `base`) the event loop became busy; 0 when it waits.
    busy_since: AtomicU64,
}

/// The signal flag and the other shared flags, and the watchdog reading them.
pub struct Stopper {
    signal: Arc<AtomicUsize>,
    flags: Arc<Flags>,
    base: Instant,
}

/// What the input thread needs to end a busy viewer on the quit key.
#[derive(Clone)]
pub struct QuitWhileBusy {
    flags: Arc<Flags>,
    base: Instant,
}

impl QuitWhileBusy {
    /// A quit key was read (the event loop sees it when it next waits for input).
    pub fn quit_key(&self) {
        let now = self.base.elapsed().as_millis() as u64 + 1;
        self.flags.quit_key_at.store(now, Ordering::Relaxed);
    }
}

/// The watchdog's rule for the quit key (times are 1 + milliseconds, 0 for none): end
/// now if the key came while the event loop was busy and it has been busy for
/// `BUSY_MS`. A key read before the loop became busy, or with the loop waiting, is the
/// loop's to handle.
pub fn quit_now(busy_since: u64, quit_key_at: u64, now: u64) -> bool {
    busy_since != 0 && quit_key_at >= busy_since && now.saturating_sub(busy_since) >= BUSY_MS
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
            flags: Arc::new(Flags::default()),
            base: Instant::now(),
        };
        stopper.watch(restore);
        Ok(stopper)
    }

    /// Why the viewer must end now, if it must.
    pub fn reason(&self) -> Option<Reason> {
        reason_of(&self.signal, &self.flags)
    }

    /// Record that the terminal went away (a read error or end of file on it).
    pub fn hung_up(&self) {
        self.flags.hangup.store(true, Ordering::Relaxed);
    }

    /// The event loop starts (true) or stops (false) handling messages, which may
    /// compute a run. When it stops, the quit keys read meanwhile are its own to handle.
    pub fn busy(&self, busy: bool) {
        let v = if busy {
            self.base.elapsed().as_millis() as u64 + 1
        } else {
            self.flags.quit_key_at.store(0, Ordering::Relaxed);
            0
        };
        self.flags.busy_since.store(v, Ordering::Relaxed);
    }

    /// For the input thread.
    pub fn quit_while_busy(&self) -> QuitWhileBusy {
        QuitWhileBusy {
            flags: Arc::clone(&self.flags),
            base: self.base,
        }
    }

    fn watch(&self, restore: fn()) {
        let (signal, flags) = (Arc::clone(&self.signal), Arc::clone(&self.flags));
        let base = self.base;
        thread::spawn(move || {
            let mut since: Option<Instant> = None;
            while !flags.finished.load(Ordering::Relaxed) {
                if let Some(r) = reason_of(&signal, &flags) {
                    let first = *since.get_or_insert_with(Instant::now);
                    if first.elapsed() >= Duration::from_millis(GRACE_MS) {
                        force_exit(r, restore);
                    }
                }
                let busy_since = flags.busy_since.load(Ordering::Relaxed);
                let key_at = flags.quit_key_at.load(Ordering::Relaxed);
                if quit_now(busy_since, key_at, base.elapsed().as_millis() as u64 + 1) {
                    force_exit(Reason::Quit, restore);
                }
                thread::sleep(Duration::from_millis(POLL_MS / 2));
            }
        });
    }
}

impl Drop for Stopper {
    /// The event loop has ended: the watchdog stops.
    fn drop(&mut self) {
        self.flags.finished.store(true, Ordering::Relaxed);
    }
}

fn reason_of(signal: &AtomicUsize, flags: &Flags) -> Option<Reason> {
    match signal.load(Ordering::Relaxed) {
        0 if flags.hangup.load(Ordering::Relaxed) || !terminal_alive() => Some(Reason::Hangup),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quit_key_ends_a_loop_busy_for_busy_ms() {
        // Busy since 1000, q at 1050: the watchdog acts from 1000 + BUSY_MS on.
        assert!(!quit_now(1000, 1050, 1100));
        assert!(quit_now(1000, 1050, 1000 + BUSY_MS));
        // q read before the loop became busy, no q, or a loop waiting for input: the
        // loop handles it.
        assert!(!quit_now(1000, 900, 5000));
        assert!(!quit_now(1000, 0, 5000));
        assert!(!quit_now(0, 1050, 5000));
    }

    #[test]
    fn statuses() {
        assert_eq!(Reason::Signal(15).status(), 143);
        assert_eq!(Reason::Signal(1).status(), 129);
        assert_eq!(Reason::Hangup.status(), 129);
        assert_eq!(Reason::Quit.status(), 0);
    }
}
