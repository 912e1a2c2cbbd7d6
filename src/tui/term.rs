//! The terminal: raw mode and the alternate screen behind a guard, restored on quit, on
//! error, on panic (a panic hook) and on SIGINT/SIGTERM/SIGHUP (signal-hook flags the
//! event loop checks between events). The loop waits for input at most one frame while
//! something animates, so nothing blocks the UI thread longer than a frame.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind, MouseButton, MouseEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::app::{update, Model, Msg};
use super::sgr16::Sgr16;
use super::view::view;

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

fn enter(colors256: bool) -> io::Result<(Guard, Terminal<CrosstermBackend<Sgr16<Stdout>>>)> {
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)?;
    // Terminals without 256 colours get the classic colour codes (src/tui/sgr16.rs).
    let terminal = Terminal::new(CrosstermBackend::new(Sgr16::new(out, !colors256)))?;
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

/// Run the interactive UI until the user quits or a signal arrives. Returns the exit
/// status: 0, or 128 + the signal number.
pub fn run(mut model: Model) -> io::Result<u8> {
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
    }
    let (guard, mut terminal) = enter(model.caps.colors256)?;
    let start = Instant::now();
    let size = terminal.size()?;
    update(&mut model, Msg::Resize(size.width, size.height));
    let status = loop {
        terminal.draw(|f| view(&model, f))?;
        let sig = signal.load(Ordering::Relaxed);
        if sig != 0 {
            break 128 + sig as u8;
        }
        if model.quit {
            break 0;
        }
        let wait = Duration::from_millis(model.wakeup_ms());
        if event::poll(wait)? {
            update(&mut model, Msg::Tick(start.elapsed().as_millis() as u64));
            loop {
                if let Some(msg) = to_msg(event::read()?) {
                    update(&mut model, msg);
                }
                if model.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        update(&mut model, Msg::Tick(start.elapsed().as_millis() as u64));
    };
    drop(terminal);
    drop(guard);
    Ok(status)
}
