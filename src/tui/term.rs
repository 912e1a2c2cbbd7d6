//! The terminal: raw mode and the alternate screen behind a guard, restored on quit, on
//! error, on panic (a panic hook) and on SIGINT/SIGTERM/SIGHUP (`stop`: signal flags
//! the event loop checks at least every `stop::POLL_MS`, and a watchdog that ends the
//! process if the loop is busy). A terminal that went away (hung up) ends the viewer
//! too, without writing to it. Input is read on its own thread (`input`); the loop
//! waits on it at most one frame while something animates.

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Once;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind, MouseButton, MouseEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::app::{update, Model, Msg};
use super::input::{Input, Reader};
use super::sgr16::Sgr16;
use super::starting::{self, Start, Waited};
use super::stop::{terminal_alive, Reason, Stopper, POLL_MS};
use super::view::view;

/// Frames go through one large buffer, flushed once per frame, so the terminal gets a
/// frame in one write rather than in the 1 KB pieces of standard output's own buffer
/// (a reader of the screen would otherwise see half-drawn frames).
type Term = Terminal<CrosstermBackend<Sgr16<BufWriter<Stdout>>>>;

/// Room for a whole frame of a large terminal with colours.
const FRAME_BUFFER: usize = 1 << 18;

/// Put the terminal back as it was. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
}

/// Restores the terminal when dropped (quit, error, unwinding panic).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

static HOOK: Once = Once::new();

/// Restore the terminal before the panic message is printed.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

fn enter(colors256: bool) -> io::Result<(Guard, Term)> {
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)?;
    // Terminals without 256 colours get the classic colour codes (src/tui/sgr16.rs).
    let terminal = Terminal::new(CrosstermBackend::new(Sgr16::new(
        BufWriter::with_capacity(FRAME_BUFFER, out),
        !colors256,
    )))?;
    Ok((guard, terminal))
}

fn to_msg(e: Event) -> Option<Msg> {
    match e {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Msg::Click(m.column, m.row)),
            MouseEventKind::ScrollDown => Some(Msg::Scroll {
                col: m.column,
                row: m.row,
                down: true,
            }),
            MouseEventKind::ScrollUp => Some(Msg::Scroll {
                col: m.column,
                row: m.row,
                down: false,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// How the viewer ended.
enum End {
    Quit,
    Stopped(Reason),
}

/// Run the interactive UI until the user quits, a signal arrives or the terminal goes
/// away: the first scene's run is computed while a progress line is shown
/// (`starting`), then the event loop runs. Returns the exit status (0, or 128 + the
/// signal number; SIGHUP's for a terminal that went away), or the message of a model
/// that could not be built (printed by the caller once the terminal is restored).
pub fn run(mut start: Start) -> io::Result<Result<u8, String>> {
    let gdb = start.gdb.take();
    let stopper = Stopper::install(restore)?;
    // The live terminal gets what it can show (ASCII, 16 colours); frames printed by
    // --render-once and `render` stay the same everywhere.
    let caps = super::degrade::caps_from_env();
    let (guard, mut terminal) = enter(caps.colors256)?;
    let clock = Instant::now();
    let reader = Reader::spawn(start.keymap.clone(), stopper.quit_while_busy());
    let waited = starting::wait(start, &stopper, &reader, &mut |paint| {
        terminal.draw(|f| paint(f)).map(|_| ())
    });
    let end = match waited {
        Ok(Waited::Ready(mut model)) => {
            model.caps = caps;
            if let Some(listener) = gdb {
                serve_gdb(&mut model, listener, &reader);
            }
            events(&mut model, &stopper, &reader, &mut terminal, clock)
        }
        Ok(Waited::Failed(e)) => {
            leave(End::Quit, guard, terminal, reader);
            return Ok(Err(e));
        }
        Ok(Waited::Quit) => Ok(End::Quit),
        Ok(Waited::Stopped(r)) => Ok(End::Stopped(r)),
        Err(e) => Err(e),
    };
    let end = match end {
        Ok(end) => end,
        Err(_) if !terminal_alive() => End::Stopped(Reason::Hangup),
        Err(e) => return Err(e),
    };
    Ok(Ok(leave(end, guard, terminal, reader)))
}

/// `--gdb`: accept gdb's clients from now on; what they send wakes the event loop
/// (`Input::Gdb`). The network threads hold no terminal and end with the process.
fn serve_gdb(model: &mut Model, listener: std::net::TcpListener, reader: &Reader) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let wide = (model.lesson.scenes.get(model.scene))
        .is_some_and(|s| crate::gdb::enters_long_mode(&s.scenario));
    model.gdb = Some(super::gdblink::GdbLink::new(addr, wide));
    let tx = std::sync::Mutex::new(reader.sender());
    let notify: crate::gdb::listen::Notify = std::sync::Arc::new(move |g| {
        tx.lock()
            .map(|t| t.send(Input::Gdb(g)).is_ok())
            .unwrap_or(false)
    });
    crate::gdb::listen::spawn(listener, notify);
}

/// Put the terminal back (unless it went away: then nothing is written to it) and
/// return the exit status.
fn leave(end: End, guard: Guard, terminal: Term, reader: Reader) -> u8 {
    match end {
        End::Stopped(r) if !r.terminal_alive() => {
            // Writing to a terminal that went away fails or blocks: leave it alone.
            std::mem::forget(terminal);
            std::mem::forget(guard);
            r.status()
        }
        end => {
            drop(terminal);
            drop(guard);
            reader.finish();
            match end {
                End::Quit => 0,
                End::Stopped(r) => r.status(),
            }
        }
    }
}

/// Apply `first` and every input already waiting; true when the screen needs drawing.
fn take_inputs(
    model: &mut Model,
    first: Input,
    stopper: &Stopper,
    reader: &Reader,
) -> io::Result<bool> {
    let mut input = Some(first);
    let mut redraw = false;
    while let Some(i) = input.take() {
        match i {
            Input::Event(e) => {
                if let Some(msg) = to_msg(e) {
                    update(model, msg);
                }
                redraw = true;
            }
            Input::Gdb(g) => {
                update(model, Msg::Gdb(g));
                redraw |= model.gdb_redraw();
            }
            Input::Failed(_) if !terminal_alive() => stopper.hung_up(),
            Input::Failed(e) => return Err(e),
        }
        if !model.quit {
            input = reader.ready();
        }
    }
    Ok(redraw)
}

/// The event loop: draw when something changed (or the model asks for a frame), wait
/// for input at most `POLL_MS`, and ask the stopper between events.
fn events(
    model: &mut Model,
    stopper: &Stopper,
    reader: &Reader,
    terminal: &mut Term,
    clock: Instant,
) -> io::Result<End> {
    let size = terminal.size()?;
    update(model, Msg::Resize(size.width, size.height));
    let now = || clock.elapsed().as_millis() as u64;
    let mut drawn: Option<u64> = None;
    loop {
        if let Some(r) = stopper.reason() {
            return Ok(End::Stopped(r));
        }
        if model.quit {
            return Ok(End::Quit);
        }
        if drawn.is_none_or(|t| now().saturating_sub(t) >= model.wakeup_ms()) {
            terminal.draw(|f| view(model, f))?;
            drawn = Some(now());
        }
        // While gdb's `continue` runs, its chunks go between inputs without waiting.
        let wait = if model.gdb_running() {
            Duration::ZERO
        } else {
            Duration::from_millis(model.wakeup_ms().min(POLL_MS))
        };
        let next = reader.next(wait);
        stopper.busy(true);
        if let Some(first) = next {
            update(model, Msg::Tick(now()));
            if take_inputs(model, first, stopper, reader)? {
                drawn = None;
            }
        }
        if model.gdb_running() {
            update(model, Msg::GdbRun);
            if model.gdb_redraw() {
                drawn = None;
            }
        }
        update(model, Msg::Tick(now()));
        stopper.busy(false);
    }
}
