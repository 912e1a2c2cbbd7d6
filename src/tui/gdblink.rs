//! The viewer with gdb attached (`--gdb PORT`): the viewer owns the one machine (its
//! scene's engine and debugger) and lends it to the gdb server (`gdb::live`) for every
//! message from gdb's connection (`Msg::Gdb`) and every chunk of gdb's `continue`
//! (`Msg::GdbRun`, sent by the event loop while one runs). After each, the viewer
//! follows: where gdb left the machine becomes the viewer's position (the recorded run
//! is played on and analysed again when gdb went past its end or set a register, as
//! after `set reg`).
//!
//! The viewer's own keys keep working: a key, click or wheel while gdb's `continue`
//! runs first stops it (gdb sees SIGINT), then acts. A move made in the viewer is the
//! machine gdb sees at its next command; gdb's cached registers are read again after
//! its next stop (or `maint flush register-cache`).

use std::collections::BTreeMap;

use crate::debug::regs::Reg;
use crate::gdb::listen::GdbInput;
use crate::gdb::live::{ClientEvent, Effect, Lent, Live, Status};
use crate::lesson::Lang;

use super::app::Model;

/// The gdb server inside the viewer.
pub struct GdbLink {
    pub live: Live,
    /// Where it listens.
    pub addr: String,
    /// Something gdb did changed what the screen shows.
    redraw: bool,
}

impl GdbLink {
    /// `wide`: serve amd64 from the start (the scene's machine enters long mode).
    pub fn new(addr: String, wide: bool) -> GdbLink {
        GdbLink {
            live: Live::new(wide),
            addr,
            redraw: false,
        }
    }
}

type Edits = BTreeMap<u64, Vec<(Reg, u64)>>;

impl Model {
    /// gdb's `continue` runs: the event loop sends `Msg::GdbRun` without waiting.
    pub fn gdb_running(&self) -> bool {
        self.gdb.as_ref().is_some_and(|g| g.live.running())
    }

    /// The screen needs drawing after gdb's input (cleared by asking).
    pub fn gdb_redraw(&mut self) -> bool {
        self.gdb
            .as_mut()
            .is_some_and(|g| std::mem::take(&mut g.redraw))
    }

    /// Lend the machine to the server for `f`.
    fn lend<R>(&mut self, f: impl FnOnce(&mut Live, &mut Lent) -> R) -> Option<R> {
        let link = self.gdb.as_mut()?;
        let mut m = Lent {
            engine: &mut self.run.played.engine,
            debugger: &mut self.run.dbg,
        };
        Some(f(&mut link.live, &mut m))
    }

    fn mark(&self) -> (usize, Edits) {
        (
            self.run.played.engine.history_len(),
            self.run.dbg.edits().clone(),
        )
    }

    /// Something from gdb's connection.
    pub(crate) fn gdb_input(&mut self, input: GdbInput) {
        let before = self.mark();
        if let Some(e) = self.lend(|live, m| live.input(m, input)) {
            self.gdb_follow(e, before);
        }
    }

    /// One chunk of gdb's `continue`.
    pub(crate) fn gdb_chunk(&mut self) {
        let before = self.mark();
        if let Some(e) = self.lend(|live, m| live.chunk(m)) {
            self.gdb_follow(e, before);
        }
    }

    /// Stop gdb's `continue` before the viewer acts on the machine.
    pub(crate) fn gdb_interrupt(&mut self) {
        let before = self.mark();
        if self.lend(|live, m| live.interrupt(m)).is_some() {
            let stopped = Effect {
                stopped: true,
                ..Effect::default()
            };
            self.gdb_follow(stopped, before);
        }
    }

    /// Show where gdb left the machine (after each chunk of a `continue` too).
    fn gdb_follow(&mut self, e: Effect, (pos, edits): (usize, Edits)) {
        if e.client {
            self.status = self.gdb_event_text();
            self.set_gdb_redraw();
        }
        let here = self.run.played.engine.history_len();
        let edited = *self.run.dbg.edits() != edits;
        if here == pos && !edited && !e.wrote && !e.stopped {
            return;
        }
        if let Some(scene) = self.lesson.scenes.get(self.scene) {
            self.run.follow(scene, edited);
        }
        let here = self.run.played.engine.history_len();
        self.go(self.scene, here);
        self.set_gdb_redraw();
    }

    fn set_gdb_redraw(&mut self) {
        if let Some(g) = &mut self.gdb {
            g.redraw = true;
        }
    }

    /// The status line's message for a client that came, went or was refused.
    fn gdb_event_text(&self) -> Option<String> {
        let ev = self.gdb.as_ref()?.live.last_event.as_ref()?;
        let de = self.lang == Lang::De;
        Some(match (ev, de) {
            (ClientEvent::Attached(p), false) => format!("gdb attached from {p}"),
            (ClientEvent::Attached(p), true) => format!("gdb verbunden von {p}"),
            (ClientEvent::Left(p, _), false) => format!("gdb at {p} left; the machine stays here"),
            (ClientEvent::Left(p, _), true) => {
                format!("gdb von {p} getrennt; die Maschine bleibt hier")
            }
            (ClientEvent::Refused(p), false) => {
                format!("a second gdb ({p}) was refused: one client at a time")
            }
            (ClientEvent::Refused(p), true) => {
                format!("ein zweiter gdb ({p}) wurde abgewiesen: nur einer zugleich")
            }
            (ClientEvent::Failed(p, why), false) => format!("gdb at {p}: {why}"),
            (ClientEvent::Failed(p, why), true) => format!("gdb von {p}: {why}"),
        })
    }

    /// The short state shown at the right of the status line; `addr`: with the
    /// address it listens on.
    pub fn gdb_status(&self, addr: bool) -> Option<String> {
        let g = self.gdb.as_ref()?;
        let de = self.lang == Lang::De;
        let at = if addr {
            format!(" {}", g.addr)
        } else {
            String::new()
        };
        Some(match (g.live.status(), de) {
            (Status::Listening, false) => format!("gdb: listening{at}"),
            (Status::Listening, true) if addr => format!("gdb: wartet an{at}"),
            (Status::Listening, true) => "gdb: wartet".to_string(),
            (Status::Attached { running: true, .. }, false) => "gdb: running".to_string(),
            (Status::Attached { running: true, .. }, true) => "gdb: läuft".to_string(),
            (Status::Attached { .. }, false) => "gdb: attached".to_string(),
            (Status::Attached { .. }, true) => "gdb: verbunden".to_string(),
        })
    }
}
