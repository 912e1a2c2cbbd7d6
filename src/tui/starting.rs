//! The first scene's run, computed on a worker thread while the terminal shows how far
//! it is (a scene may run up to `scenario::MAX_STEPS` steps, seconds on a slow
//! machine). The quit key, Ctrl-C, a signal or a terminal that goes away end the wait;
//! the worker is left behind and ends with the process.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::app::Model;
use super::input::{quits, Input, Reader};
use super::keymap::Keymap;
use super::stop::{terminal_alive, Reason, Stopper, POLL_MS};
use crate::lesson::Lang;

/// Builds the model, storing how many steps it has played in the counter.
pub type Build = Box<dyn FnOnce(&AtomicU64) -> Result<Model, String> + Send>;

/// Draws one frame with the painter it is given.
pub type Draw<'a> = dyn FnMut(&dyn Fn(&mut Frame)) -> io::Result<()> + 'a;

/// What to compute and how to talk about it.
pub struct Start {
    pub build: Build,
    /// For the quit key.
    pub keymap: Keymap,
    pub lang: Lang,
    /// The first scene's step limit.
    pub max_steps: u64,
    /// What the terminal can show (ASCII only, 16 colours): the progress line is
    /// lowered to it like every other frame.
    pub caps: super::degrade::Caps,
    /// `--gdb`: the bound listener, served once the model is ready.
    pub gdb: Option<std::net::TcpListener>,
}

/// How the wait ended.
pub enum Waited {
    Ready(Box<Model>),
    /// The model could not be built: the message.
    Failed(String),
    /// The user quit.
    Quit,
    Stopped(Reason),
}

/// The progress line: how many steps of at most how many.
pub fn progress_text(lang: Lang, done: u64, max: u64) -> String {
    match lang {
        Lang::En => format!("Computing the run: {done} of at most {max} steps.  q quits."),
        Lang::De => {
            format!("Der Lauf wird berechnet: {done} von höchstens {max} Schritten.  q beendet.")
        }
    }
}

fn draw_progress(f: &mut Frame, text: &str, caps: super::degrade::Caps) {
    let [_, line, _] = Layout::vertical([
        Constraint::Percentage(45),
        Constraint::Length(2),
        Constraint::Fill(1),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(text.to_string())
            .centered()
            .wrap(Wrap { trim: true }),
        line,
    );
    super::degrade::lower(f.buffer_mut(), caps);
}

/// Compute the model on a worker thread; meanwhile draw the progress with `draw` and
/// watch the keys, the signals and the terminal.
pub fn wait(
    start: Start,
    stopper: &Stopper,
    reader: &Reader,
    draw: &mut Draw,
) -> io::Result<Waited> {
    let progress = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let counter = Arc::clone(&progress);
    let build = start.build;
    thread::spawn(move || {
        let _ = tx.send(build(&counter));
    });
    loop {
        if let Some(r) = stopper.reason() {
            return Ok(Waited::Stopped(r));
        }
        match rx.recv_timeout(Duration::from_millis(POLL_MS)) {
            Ok(Ok(m)) => return Ok(Waited::Ready(Box::new(m))),
            Ok(Err(e)) => return Ok(Waited::Failed(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok(Waited::Failed("computing the run failed".into()))
            }
        }
        while let Some(i) = reader.ready() {
            match i {
                Input::Event(e) if quits(&start.keymap, &e) => return Ok(Waited::Quit),
                Input::Event(_) | Input::Gdb(_) => {}
                Input::Failed(_) if !terminal_alive() => {
                    return Ok(Waited::Stopped(Reason::Hangup))
                }
                Input::Failed(e) => return Err(e),
            }
        }
        let text = progress_text(
            start.lang,
            progress.load(Ordering::Relaxed),
            start.max_steps,
        );
        let caps = start.caps;
        draw(&|f: &mut Frame| draw_progress(f, &text, caps))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// Under TERM=dumb or a non-UTF-8 locale the German progress line is ASCII too.
    #[test]
    fn the_progress_line_is_lowered_to_ascii() {
        let mut t = Terminal::new(TestBackend::new(80, 10)).expect("test terminal");
        let text = progress_text(Lang::De, 3, 1000);
        let caps = super::super::degrade::Caps {
            unicode: false,
            colors256: false,
        };
        t.draw(|f| draw_progress(f, &text, caps)).expect("draw");
        let shown: String = t
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(shown.is_ascii(), "{shown}");
        assert!(shown.contains("hochstens"), "{shown}");
    }
}
