//! Terminal input on its own thread: crossterm events are read there and sent over a
//! channel, so the event loop waits on the channel with a timeout and never sits inside
//! crossterm (whose poll keeps returning on a terminal that went away). A read error,
//! or a terminal that is no terminal any more, is sent once and ends the thread.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::keymap::{Action, Keymap};
use super::stop::{terminal_alive, QuitWhileBusy};

/// How long the reader waits in one poll before it checks whether it should stop.
const READ_POLL_MS: u64 = 50;

/// What the reader thread sends.
#[derive(Debug)]
pub enum Input {
    Event(Event),
    /// From the gdb server's network threads (`--gdb`).
    Gdb(crate::gdb::listen::GdbInput),
    /// Reading failed or the terminal went away; nothing more comes.
    Failed(io::Error),
}

/// The reader thread and its channel.
pub struct Reader {
    rx: Receiver<Input>,
    /// For other threads that wake the event loop (the gdb server's).
    tx: Sender<Input>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Start reading the terminal. The quit keys (`keymap`'s, Ctrl-C) are also told to
    /// `quit` as they are read.
    pub fn spawn(keymap: Keymap, quit: QuitWhileBusy) -> Reader {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let sender = tx.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let next = match event::poll(Duration::from_millis(READ_POLL_MS)) {
                    Ok(true) => event::read().map(Some),
                    Ok(false) if !terminal_alive() => Err(gone()),
                    Ok(false) => Ok(None),
                    Err(e) => Err(e),
                };
                let sent = match next {
                    Ok(Some(e)) => {
                        if quits(&keymap, &e) {
                            quit.quit_key();
                        }
                        tx.send(Input::Event(e))
                    }
                    Ok(None) => Ok(()),
                    Err(e) => {
                        let _ = tx.send(Input::Failed(e));
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Reader {
            rx,
            tx: sender,
            stop,
            thread: Some(thread),
        }
    }

    /// The next input, waiting at most `wait`. None on a timeout; a reader that ended
    /// without a word counts as a failed terminal.
    pub fn next(&self, wait: Duration) -> Option<Input> {
        match self.rx.recv_timeout(wait) {
            Ok(i) => Some(i),
            // The channel has other senders (`sender`): a reader gone without a word
            // is seen by its thread's end.
            Err(RecvTimeoutError::Timeout)
                if self.thread.as_ref().is_some_and(|t| t.is_finished()) =>
            {
                Some(Input::Failed(gone()))
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Input::Failed(gone())),
        }
    }

    /// A sender into the event loop's channel, for another thread's input.
    pub fn sender(&self) -> Sender<Input> {
        self.tx.clone()
    }

    /// An input already waiting, if any.
    pub fn ready(&self) -> Option<Input> {
        self.rx.try_recv().ok()
    }

    /// Stop the reader and wait for it (it polls in short slices), so that it does not
    /// take keys typed into the shell afterwards. Only for a terminal that is still
    /// there: on one that went away the thread may be stuck in crossterm.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(t) = self.thread.take() else {
            return;
        };
        // It polls in slices of READ_POLL_MS; do not wait much longer than one.
        for _ in 0..READ_POLL_MS / 5 * 3 {
            if t.is_finished() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The event is a quit key: the key map's, or Ctrl-C.
pub fn quits(keymap: &Keymap, e: &Event) -> bool {
    let Event::Key(k) = e else {
        return false;
    };
    let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('C'));
    k.kind != KeyEventKind::Release && (ctrl_c || keymap.action(k) == Some(Action::Quit))
}

fn gone() -> io::Error {
    io::Error::other("the terminal went away")
}
