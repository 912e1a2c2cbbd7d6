//! The application state and its pure update function: every key, mouse event and clock
//! tick becomes a `Msg`, and `update` is the only thing that changes the `Model`.
//! Drawing (`view`) only reads it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::commands::DebugUi;
use super::keymap::{Action, Keymap};
use super::layout::{self, Panes};
use super::listing::{Listing, Row};
use super::snapshot::Snapshot;
use super::theme::ThemeKind;
use super::timeline::SceneRun;
use crate::debug::spec::Until;
use crate::debug::Command;
use crate::disasm::Syntax;
use crate::lesson::{self, expr::Value, Lang, Lesson, Text};

/// How long a step's changes flash, in milliseconds.
pub const ANIM_MS: u64 = 1000;
/// The longest typed answer.
const MAX_INPUT: usize = 48;

/// Start-up options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub lang: Lang,
    pub animation: bool,
    /// Seconds between automatic steps.
    pub autoplay: Option<f64>,
    pub theme: ThemeKind,
    /// False under NO_COLOR.
    pub color: bool,
    pub syntax: Syntax,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            lang: Lang::En,
            animation: true,
            autoplay: None,
            theme: ThemeKind::Normal,
            color: true,
            syntax: Syntax::Att,
        }
    }
}

/// A message to the update function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A key press, translated through the key map (or typed into an answer).
    Key(KeyEvent),
    /// An action directly (tests, mouse).
    Action(Action),
    /// The clock: milliseconds since start.
    Tick(u64),
    Resize(u16, u16),
    /// A left click at (column, row).
    Click(u16, u16),
    /// The wheel at (column, row): down or up.
    Scroll {
        col: u16,
        row: u16,
        down: bool,
    },
    /// Something from gdb's connection (`--gdb`, src/tui/gdblink.rs).
    Gdb(crate::gdb::listen::GdbInput),
    /// Run a chunk of gdb's `continue` (sent while one runs).
    GdbRun,
}

impl Msg {
    /// A key, click or wheel: the person at the viewer acts.
    fn is_user_input(&self) -> bool {
        matches!(
            self,
            Msg::Key(_) | Msg::Action(_) | Msg::Click(..) | Msg::Scroll { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Glossary(super::panes::glossary::Shown),
    /// `:cost`: the work of this step and scene beside the three ways into the kernel.
    Cost,
    Picker {
        selected: usize,
    },
}

/// The student's answer to a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answered {
    Choice { index: usize, correct: bool },
    Typed { text: String, correct: bool },
}

impl Answered {
    pub fn correct(&self) -> bool {
        match self {
            Answered::Choice { correct, .. } | Answered::Typed { correct, .. } => *correct,
        }
    }
}

/// A running animation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anim {
    pub start_ms: u64,
    /// A CPL change: the CPU moves across the rings.
    pub cpl: Option<(u8, u8)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Autoplay {
    pub period_ms: u64,
    /// When the next automatic step happens.
    pub next_ms: u64,
    pub paused: bool,
}

/// A lesson in the picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonEntry {
    pub id: String,
    pub title: Text,
    pub summary: Text,
    pub order: i64,
}

pub struct Model {
    pub lesson: Lesson,
    pub scene: usize,
    pub run: SceneRun,
    pub listing: Listing,
    /// History position in the scene (0 = its start).
    pub pos: usize,
    pub snap: Snapshot,
    pub lang: Lang,
    pub syntax: Syntax,
    pub theme: ThemeKind,
    pub color: bool,
    /// What the terminal can show (ASCII only, 16 colours); the screen is lowered to it.
    pub caps: super::degrade::Caps,
    pub animation: bool,
    /// The debugger's command line, inspectors and history (breakpoints and watchpoints
    /// are `run.dbg`'s).
    pub debug: DebugUi,
    /// The selected listing row.
    pub selected: Option<usize>,
    /// First listing row shown, when the user scrolled; None follows the CPU.
    pub code_top: Option<usize>,
    pub narrative_scroll: u16,
    /// Which hidden pane the compact layout shows.
    pub aux: usize,
    pub overlay: Overlay,
    /// The first row shown of a help or glossary that scrolls.
    pub help_top: usize,
    /// The terms the glossary overlay explains (lessons/glossary.toml).
    pub glossary: crate::lesson::glossary::Glossary,
    /// The round trips the cost overlay compares (`lesson::cost::compare`), computed
    /// when it is first opened.
    pub trips: Option<Result<Vec<(&'static str, crate::lesson::cost::Trip)>, String>>,
    /// Answers by (scene, narrative step).
    pub answers: HashMap<(usize, usize), Answered>,
    /// A typed answer being entered.
    pub input: Option<String>,
    pub autoplay: Option<Autoplay>,
    pub anim: Option<Anim>,
    pub now_ms: u64,
    pub size: (u16, u16),
    /// A one-line message in the status bar.
    pub status: Option<String>,
    pub keymap: Keymap,
    pub lessons: Vec<LessonEntry>,
    pub quit: bool,
    /// The gdb server listening inside the viewer (`--gdb PORT`).
    pub gdb: Option<super::gdblink::GdbLink>,
}

/// The shipped lessons' titles and summaries, read from their `[lesson]` tables only.
pub fn lesson_entries() -> Vec<LessonEntry> {
    let mut out: Vec<LessonEntry> = lesson::library::ids()
        .filter_map(|id| {
            let text = lesson::library::lesson_text(id)?;
            let table: toml::Table = toml::from_str(text).ok()?;
            let l = table.get("lesson")?.as_table()?;
            let pair = |key: &str| {
                let t = l.get(key).and_then(|v| v.as_table());
                let get = |lang: &str| {
                    t.and_then(|t| t.get(lang))
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                Text {
                    en: get("en"),
                    de: get("de"),
                }
            };
            Some(LessonEntry {
                id: id.to_string(),
                title: pair("title"),
                summary: pair("summary"),
                order: l.get("order").and_then(|v| v.as_integer()).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
    out
}

impl Model {
    /// A model at the start of `lesson`'s first scene. Fails for a lesson without scenes.
    pub fn new(lesson: Lesson, opts: &Options, keymap: Keymap) -> Result<Model, String> {
        Model::counting(lesson, opts, keymap, &AtomicU64::new(0))
    }

    /// `new`, telling in `progress` how many steps of the first scene have been played
    /// so far (the viewer shows it while a long run is computed).
    pub fn counting(
        lesson: Lesson,
        opts: &Options,
        keymap: Keymap,
        progress: &AtomicU64,
    ) -> Result<Model, String> {
        let scene = 0;
        let Some(first) = lesson.scenes.first() else {
            return Err(format!("lesson `{}` has no scene", lesson.id));
        };
        let mut run = SceneRun::counting(first, progress);
        let listing = Listing::build(
            &lesson.code,
            &run,
            opts.syntax,
            first.scenario.lines.as_ref(),
        );
        let task = lesson.scenes.first().and_then(|s| s.scenario.task);
        let snap = Snapshot::build(&mut run, 0, opts.syntax, opts.lang, task.as_ref());
        let autoplay = opts.autoplay.map(|s| {
            let period_ms = (s.max(0.1) * 1000.0) as u64;
            Autoplay {
                period_ms,
                next_ms: period_ms,
                paused: false,
            }
        });
        Ok(Model {
            lesson,
            scene,
            run,
            listing,
            pos: 0,
            snap,
            lang: opts.lang,
            syntax: opts.syntax,
            theme: opts.theme,
            color: opts.color,
            caps: super::degrade::Caps::default(),
            animation: opts.animation,
            debug: DebugUi::default(),
            selected: None,
            code_top: None,
            narrative_scroll: 0,
            aux: 0,
            overlay: Overlay::None,
            help_top: 0,
            glossary: crate::lesson::glossary::Glossary::shipped().map_err(|e| e.to_string())?,
            trips: None,
            answers: HashMap::new(),
            input: None,
            autoplay,
            anim: None,
            now_ms: 0,
            size: (120, 40),
            status: None,
            keymap,
            lessons: Vec::new(),
            quit: false,
            gdb: None,
        })
    }

    pub fn scene(&self) -> Option<&lesson::Scene> {
        self.lesson.scenes.get(self.scene)
    }

    /// The narrative step shown now: the last one placed at or before this state.
    pub fn current_step(&self) -> Option<usize> {
        self.run
            .played
            .marks
            .iter()
            .filter(|m| m.state <= self.pos)
            .max_by_key(|m| (m.state, m.step))
            .map(|m| m.step)
    }

    /// The narrative step whose question is asked at this exact state.
    pub fn question_step(&self) -> Option<usize> {
        let scene = self.scene()?;
        self.run
            .played
            .marks
            .iter()
            .filter(|m| m.state == self.pos)
            .map(|m| m.step)
            .find(|&s| scene.steps.get(s).is_some_and(|st| st.question.is_some()))
    }

    /// A question is asked here and not answered yet.
    pub fn waiting_for_answer(&self) -> bool {
        self.question_step()
            .is_some_and(|s| !self.answers.contains_key(&(self.scene, s)))
    }

    /// The listing row of the next instruction.
    pub fn current_row(&self) -> Option<usize> {
        self.listing.row_of(self.snap.ip.value)
    }

    pub fn panes(&self) -> Panes {
        super::needs::panes(self)
    }

    /// First listing row shown in a code pane `height` rows high.
    pub fn code_window(&self, height: usize) -> usize {
        let len = self.listing.len();
        let max_top = len.saturating_sub(height);
        match self.code_top {
            Some(t) => t.min(max_top),
            None => {
                let anchor = self.current_row().unwrap_or(0);
                anchor.saturating_sub(height / 3).min(max_top)
            }
        }
    }

    /// The terminal is smaller than the layout needs: only a message is shown, and
    /// only the quit key acts.
    pub fn too_small(&self) -> bool {
        self.panes().too_small
    }

    fn code_height(&self) -> usize {
        self.panes()
            .code
            .map_or(10, |r| r.height.saturating_sub(2) as usize)
    }

    /// Recompute the view model after a move.
    pub(crate) fn refresh(&mut self) {
        let task = self.scene().and_then(|s| s.scenario.task);
        self.snap = Snapshot::build(
            &mut self.run,
            self.pos,
            self.syntax,
            self.lang,
            task.as_ref(),
        );
    }

    fn load_scene(&mut self, scene: usize) {
        if let Some(s) = self.lesson.scenes.get(scene) {
            // Breakpoints and watchpoints stay; `set reg` edits belong to the old run.
            let points = self.run.dbg.points().clone();
            self.run = SceneRun::new(s);
            *self.run.dbg.points_mut() = points;
            self.scene = scene;
            self.listing = Listing::build(
                &self.lesson.code,
                &self.run,
                self.syntax,
                s.scenario.lines.as_ref(),
            );
            self.selected = None;
        }
    }

    /// Go to `pos` in scene `scene`; forward moves animate.
    pub(crate) fn go(&mut self, scene: usize, pos: usize) {
        if scene != self.scene {
            self.load_scene(scene);
        }
        let forward = pos > self.pos || scene > self.scene;
        let pos = pos.min(self.run.last_state());
        let moved = pos != self.pos;
        self.pos = pos;
        self.code_top = None;
        if moved {
            self.narrative_scroll = 0;
        }
        self.refresh();
        self.anim = (self.animation && forward && moved && pos > 0).then(|| Anim {
            start_ms: self.now_ms,
            cpl: self
                .snap
                .prev_cpl
                .filter(|&c| c != self.snap.cpl)
                .map(|c| (c, self.snap.cpl)),
        });
        if !moved || !forward {
            self.anim = None;
        }
        if let Some(a) = &mut self.autoplay {
            a.next_ms = self.now_ms + a.period_ms;
        }
    }

    /// Jump to history position `pos` of the current scene, without animation.
    pub fn goto(&mut self, pos: usize) {
        self.go(self.scene, pos);
        self.anim = None;
    }

    /// The lesson's score so far: (answered right, answered, questions in the lesson).
    pub fn score(&self) -> (usize, usize, usize) {
        let total = self
            .lesson
            .scenes
            .iter()
            .map(|s| s.steps.iter().filter(|st| st.question.is_some()).count())
            .sum();
        let right = self.answers.values().filter(|a| a.correct()).count();
        (right, self.answers.len(), total)
    }

    pub(crate) fn at_lesson_end(&self) -> bool {
        self.pos >= self.run.last_state() && self.scene + 1 >= self.lesson.scenes.len()
    }

    pub(crate) fn step_forward(&mut self) {
        if self.pos < self.run.last_state() {
            self.go(self.scene, self.pos + 1);
        } else if self.scene + 1 < self.lesson.scenes.len() {
            self.scene_start(self.scene + 1);
        } else {
            self.status = Some(super::i18n::words(self.lang).end_of_lesson.to_string());
        }
    }

    fn scene_start(&mut self, scene: usize) {
        self.load_scene(scene);
        self.pos = usize::MAX;
        self.go(scene, 0);
        self.anim = None;
    }

    fn step_back(&mut self) {
        if self.pos > 0 {
            self.go(self.scene, self.pos - 1);
        } else if self.scene > 0 {
            self.load_scene(self.scene - 1);
            let last = self.run.last_state();
            self.pos = 0;
            self.go(self.scene, last);
            self.anim = None;
        }
    }

    fn next_stop(&mut self) {
        let next = self
            .run
            .played
            .marks
            .iter()
            .map(|m| m.state)
            .filter(|&s| s > self.pos)
            .min();
        match next {
            Some(s) => self.go(self.scene, s),
            None if self.pos < self.run.last_state() => self.go(self.scene, self.run.last_state()),
            None => self.step_forward(),
        }
    }

    fn prev_stop(&mut self) {
        let prev = self
            .run
            .played
            .marks
            .iter()
            .map(|m| m.state)
            .filter(|&s| s < self.pos)
            .max();
        match prev {
            Some(s) => self.go(self.scene, s),
            None if self.pos > 0 => self.go(self.scene, 0),
            None => self.step_back(),
        }
    }

    fn restart(&mut self) {
        self.answers.clear();
        self.input = None;
        self.status = None;
        if self.scene != 0 {
            self.load_scene(0);
        }
        self.pos = usize::MAX;
        self.go(0, 0);
        self.anim = None;
    }

    fn toggle_breakpoint(&mut self) {
        let row = self.selected.or_else(|| self.current_row());
        let addr = row
            .and_then(|r| self.listing.rows.get(r))
            .and_then(|r| match r {
                Row::Instr { addr, .. } => Some(*addr),
                _ => None,
            });
        let w = super::i18n::words(self.lang);
        match addr {
            Some(a) => {
                let msg = if self.toggle_break_at(a) {
                    w.breakpoint_set
                } else {
                    w.breakpoint_cleared
                };
                self.status = Some(format!("{msg} {a:#x}"));
            }
            None => self.status = Some(w.no_line.to_string()),
        }
    }

    fn select(&mut self, delta: isize) {
        if let Overlay::Picker { selected } = &mut self.overlay {
            let n = self.lessons.len().max(1) as isize;
            *selected = (*selected as isize + delta).rem_euclid(n) as usize;
            return;
        }
        let len = self.listing.len();
        if len == 0 {
            return;
        }
        let start = self.selected.or_else(|| self.current_row()).unwrap_or(0) as isize;
        let mut r = start;
        // Move to the next line with an address (skip headers and labels).
        loop {
            r += delta;
            if r < 0 || r >= len as isize {
                r = start;
                break;
            }
            if self.listing.rows[r as usize].addr().is_some() {
                break;
            }
        }
        let r = r as usize;
        self.selected = Some(r);
        // Keep the selection visible.
        let h = self.code_height().max(1);
        let top = self.code_window(h);
        if r < top {
            self.code_top = Some(r);
        } else if r >= top + h {
            self.code_top = Some(r + 1 - h);
        } else {
            self.code_top = Some(top);
        }
    }

    fn open_picker(&mut self) {
        if self.lessons.is_empty() {
            self.lessons = lesson_entries();
        }
        let selected = self
            .lessons
            .iter()
            .position(|e| e.id == self.lesson.id)
            .unwrap_or(0);
        self.overlay = Overlay::Picker { selected };
    }

    fn pick(&mut self, selected: usize) {
        let Some(entry) = self.lessons.get(selected).cloned() else {
            return;
        };
        match lesson::load_shipped(&entry.id) {
            Some(Ok(l)) => {
                self.set_lesson(l);
                self.overlay = Overlay::None;
            }
            Some(Err(e)) => self.status = Some(format!("{}: {e}", entry.id)),
            None => self.status = Some(format!("{}: not found", entry.id)),
        }
    }

    /// Replace the lesson (the picker), keeping the settings. Breakpoints and
    /// watchpoints belong to a lesson's code: they are cleared (the scenes of one lesson
    /// share them).
    pub fn set_lesson(&mut self, l: Lesson) {
        if l.scenes.is_empty() {
            self.status = Some(format!("lesson `{}` has no scene", l.id));
            return;
        }
        self.lesson = l;
        self.answers.clear();
        self.input = None;
        self.status = None;
        self.scene = usize::MAX;
        let had_points = !self.run.dbg.points().is_empty();
        self.load_scene(0);
        *self.run.dbg.points_mut() = Default::default();
        self.pos = usize::MAX;
        self.go(0, 0);
        self.anim = None;
        if had_points {
            self.status = Some(super::i18n::words(self.lang).points_cleared.to_string());
        }
    }

    fn answer_choice(&mut self, n: u8) {
        let w = super::i18n::words(self.lang);
        let Some(step) = self.question_step() else {
            self.status = Some(w.no_question.to_string());
            return;
        };
        let Some(q) = self
            .scene()
            .and_then(|s| s.steps.get(step))
            .and_then(|s| s.question.as_ref())
        else {
            return;
        };
        if q.choices.is_empty() {
            // A digit starts a typed answer.
            self.input = Some(n.to_string());
            return;
        }
        let index = n as usize - 1;
        if index >= q.choices.len() {
            return;
        }
        let correct = match self.run.answers.get(step) {
            Some(Some(Ok(a))) => a.correct.contains(&index),
            _ => false,
        };
        self.answers
            .insert((self.scene, step), Answered::Choice { index, correct });
        self.status = None;
    }

    fn start_typing(&mut self) {
        let w = super::i18n::words(self.lang);
        match self.question_step() {
            Some(_) => self.input = Some(String::new()),
            None => self.status = Some(w.no_question.to_string()),
        }
    }

    /// Parse a typed value: a symbol (compared exactly), hex with 0x, decimal, a
    /// negative number (digits may be separated by `_`), or text.
    pub fn parse_typed(&self, text: &str) -> Option<Value> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if let Some(v) = self.run.played.initial.symbols.get(t) {
            return Some(Value::Int(v, 64));
        }
        if let Some(v) = typed_number(t) {
            return Some(Value::Int(v, 64));
        }
        Some(Value::Text(t.to_string()))
    }

    fn submit_typed(&mut self) {
        let Some(text) = self.input.take() else {
            return;
        };
        let Some(step) = self.question_step() else {
            return;
        };
        let w = super::i18n::words(self.lang);
        let Some(value) = self.parse_typed(&text) else {
            self.status = Some(w.not_a_value.to_string());
            self.input = Some(text);
            return;
        };
        // A typed value is compared with the engine's answer, also at a choice question.
        let correct = match self.run.answers.get(step) {
            Some(Some(Ok(a))) => a.value.matches(&value),
            _ => false,
        };
        self.answers.insert(
            (self.scene, step),
            Answered::Typed {
                text: text.trim().to_string(),
                correct,
            },
        );
        self.status = None;
    }

    fn tick(&mut self, now: u64) {
        self.now_ms = now;
        if let Some(a) = self.anim {
            if now.saturating_sub(a.start_ms) >= ANIM_MS {
                self.anim = None;
            }
        }
        let Some(a) = self.autoplay else {
            return;
        };
        if a.paused
            || self.gdb_running()
            || self.too_small()
            || self.overlay != Overlay::None
            || self.input.is_some()
            || self.debug.cmdline.is_some()
        {
            if let Some(a) = &mut self.autoplay {
                a.next_ms = now + a.period_ms;
            }
            return;
        }
        if self.waiting_for_answer() {
            if let Some(a) = &mut self.autoplay {
                a.next_ms = now + a.period_ms;
            }
            return;
        }
        if now >= a.next_ms {
            if self.at_lesson_end() {
                if let Some(a) = &mut self.autoplay {
                    a.paused = true;
                }
                self.status = Some(super::i18n::words(self.lang).end_of_lesson.to_string());
                return;
            }
            self.step_forward();
            if let Some(a) = &mut self.autoplay {
                a.next_ms = now + a.period_ms;
            }
        }
    }

    /// How long the event loop may wait for input before the model needs a tick.
    pub fn wakeup_ms(&self) -> u64 {
        if self.anim.is_some() {
            return 33;
        }
        match self.autoplay {
            Some(a) if !a.paused => a.next_ms.saturating_sub(self.now_ms).clamp(10, 100),
            _ => 250,
        }
    }

    /// A terminal sends Alt+key as Esc followed by the key, so an Esc and a key read
    /// together arrive as one Alt+key event. When no binding takes that Alt+key, it is
    /// the two keys the user pressed: the key without Alt, to be handled after an Esc.
    fn escape_prefixed(&self, e: &KeyEvent) -> Option<KeyEvent> {
        let alt_only = e.modifiers == KeyModifiers::ALT;
        if !alt_only || !matches!(e.code, KeyCode::Char(_)) || self.keymap.action(e).is_some() {
            return None;
        }
        Some(KeyEvent::new(e.code, KeyModifiers::NONE))
    }

    fn key(&mut self, e: KeyEvent) {
        if e.kind == KeyEventKind::Release {
            return;
        }
        if let Some(plain) = self.escape_prefixed(&e) {
            self.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            self.key(plain);
            return;
        }
        let ctrl_c = e.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(e.code, KeyCode::Char('c') | KeyCode::Char('C'));
        if self.too_small() {
            // Only the "too small" message is shown: nothing may change unseen.
            if ctrl_c || self.keymap.action(&e) == Some(Action::Quit) {
                self.quit = true;
            }
            return;
        }
        if self.debug.cmdline.is_some() {
            self.cmdline_key(&e);
            return;
        }
        if let Some(input) = &mut self.input {
            match e.code {
                _ if ctrl_c => self.quit = true,
                KeyCode::Enter => self.submit_typed(),
                KeyCode::Esc => self.input = None,
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c)
                    if !e.modifiers.contains(KeyModifiers::CONTROL)
                        && input.chars().count() < MAX_INPUT =>
                {
                    input.push(c)
                }
                _ => {}
            }
            return;
        }
        let action = self.keymap.action(&e);
        if matches!(
            self.overlay,
            Overlay::Help | Overlay::Glossary(_) | Overlay::Cost
        ) {
            self.help_key(action);
            return;
        }
        if ctrl_c && action.is_none() {
            self.quit = true;
            return;
        }
        if let Some(a) = action {
            self.action(a);
        }
    }

    fn action(&mut self, a: Action) {
        if !matches!(a, Action::ToggleBreakpoint) {
            self.status = None;
            self.debug.error = false;
        }
        if let Overlay::Picker { selected } = self.overlay {
            match a {
                Action::SelectUp => self.select(-1),
                Action::SelectDown => self.select(1),
                Action::Confirm => self.pick(selected),
                Action::Cancel | Action::LessonPicker => self.overlay = Overlay::None,
                Action::Quit => self.quit = true,
                Action::Help => self.open_help(),
                Action::AnswerChoice(n) if (n as usize) <= self.lessons.len() => {
                    self.overlay = Overlay::Picker {
                        selected: n as usize - 1,
                    }
                }
                _ => {}
            }
            return;
        }
        match a {
            Action::StepForward => self.step_forward(),
            Action::StepBack => self.step_back(),
            Action::NextStop => self.next_stop(),
            Action::PrevStop => self.prev_stop(),
            Action::Run => self.debug_move(Command::Continue),
            Action::ReverseRun => self.debug_move(Command::ReverseContinue),
            Action::UntilCpl => self.debug_move(Command::Until(Until::Cpl)),
            Action::StepOver => self.debug_move(Command::Next),
            Action::CommandLine => self.open_cmdline(),
            Action::MemoryView => self.toggle_memory(),
            Action::TablesView => self.cycle_tables(),
            Action::PageTablesView => self.toggle_page_tables(),
            Action::PointsView => self.toggle_points(),
            Action::Glossary => self.open_glossary(super::panes::glossary::Shown::Step),
            Action::FollowSp => self.toggle_follow(),
            Action::NextEvent => self.jump_event(true),
            Action::PrevEvent => self.jump_event(false),
            Action::Restart => self.restart(),
            Action::ToggleBreakpoint => self.toggle_breakpoint(),
            Action::SelectUp => self.select(-1),
            Action::SelectDown => self.select(1),
            Action::ToggleSyntax => {
                self.syntax = match self.syntax {
                    Syntax::Att => Syntax::Intel,
                    Syntax::Intel => Syntax::Att,
                };
                let lines = self.scene().and_then(|s| s.scenario.lines.clone());
                self.listing =
                    Listing::build(&self.lesson.code, &self.run, self.syntax, lines.as_ref());
                self.refresh();
            }
            Action::ToggleLang => {
                self.lang = match self.lang {
                    Lang::En => Lang::De,
                    Lang::De => Lang::En,
                };
                self.refresh();
            }
            Action::LessonPicker => self.open_picker(),
            Action::AnswerChoice(n) => self.answer_choice(n),
            Action::AnswerType => self.start_typing(),
            Action::CyclePane => self.aux = (self.aux + 1) % layout::AUX_PANES,
            Action::ScrollDown if self.debug.inspector.is_some() => {
                self.scroll_inspector(self.inspector_page() as isize)
            }
            Action::ScrollUp if self.debug.inspector.is_some() => {
                self.scroll_inspector(-(self.inspector_page() as isize))
            }
            Action::ScrollDown => self.narrative_scroll = self.narrative_scroll.saturating_add(3),
            Action::ScrollUp => self.narrative_scroll = self.narrative_scroll.saturating_sub(3),
            Action::ToggleAutoplay => match &mut self.autoplay {
                Some(a) => {
                    a.paused = !a.paused;
                    a.next_ms = self.now_ms + a.period_ms;
                }
                None => {
                    self.autoplay = Some(Autoplay {
                        period_ms: 3000,
                        next_ms: self.now_ms + 3000,
                        paused: false,
                    })
                }
            },
            Action::ToggleContrast => {
                self.theme = match self.theme {
                    ThemeKind::Normal => ThemeKind::HighContrast,
                    ThemeKind::HighContrast => ThemeKind::Normal,
                }
            }
            Action::Confirm => {
                if self.waiting_for_answer() {
                    self.start_typing();
                }
            }
            Action::Cancel => {
                if self.overlay == Overlay::None && self.selected.is_none() {
                    self.debug.inspector = None;
                }
                self.overlay = Overlay::None;
                self.selected = None;
                self.code_top = None;
            }
            Action::Help => self.open_help(),
            Action::Quit => self.quit = true,
        }
    }

    fn open_help(&mut self) {
        self.overlay = Overlay::Help;
        self.help_top = 0;
    }

    /// Open the cost overlay, playing the compared scenes the first time.
    pub fn open_cost(&mut self) {
        if self.trips.is_none() {
            self.trips = Some(crate::lesson::cost::compare());
        }
        self.overlay = Overlay::Cost;
    }

    /// Open the glossary at `shown` (`d`: the current step's terms).
    pub fn open_glossary(&mut self, shown: super::panes::glossary::Shown) {
        self.overlay = Overlay::Glossary(shown);
        self.help_top = 0;
    }

    /// A key while the help is shown: quit quits; where the help scrolls, the
    /// line and page keys move it; any other key closes it.
    fn help_key(&mut self, action: Option<Action>) {
        let scroll = match self.overlay {
            Overlay::Glossary(shown) => {
                let (total, rows) = crate::tui::panes::glossary::scroll(self, shown);
                (total > rows).then_some((total, rows))
            }
            _ => crate::tui::panes::overlay::help_scroll(self),
        };
        let (max_top, page) = match scroll {
            Some((total, shown)) => (total.saturating_sub(shown), shown.saturating_sub(1).max(1)),
            None => (0, 1),
        };
        match action {
            Some(Action::Quit) => self.quit = true,
            Some(Action::SelectDown) if scroll.is_some() => self.help_top += 1,
            Some(Action::SelectUp) if scroll.is_some() => {
                self.help_top = self.help_top.saturating_sub(1)
            }
            Some(Action::ScrollDown) if scroll.is_some() => self.help_top += page,
            Some(Action::ScrollUp) if scroll.is_some() => {
                self.help_top = self.help_top.saturating_sub(page)
            }
            _ => self.overlay = Overlay::None,
        }
        self.help_top = self.help_top.min(max_top);
    }

    fn click(&mut self, col: u16, row: u16) {
        let panes = self.panes();
        if let Overlay::Picker { .. } = self.overlay {
            if let Some(i) = layout::picker_row(self.size, self.lessons.len(), col, row) {
                self.overlay = Overlay::Picker { selected: i };
            }
            return;
        }
        if matches!(
            self.overlay,
            Overlay::Help | Overlay::Glossary(_) | Overlay::Cost
        ) {
            self.overlay = Overlay::None;
            return;
        }
        if let Some(r) = panes.code {
            if layout::inside(r, col, row) && row > r.y && row < r.y + r.height - 1 {
                let h = r.height.saturating_sub(2) as usize;
                let top = self.code_window(h);
                let i = top + (row - r.y - 1) as usize;
                if i < self.listing.len() {
                    self.selected = Some(i);
                    self.code_top = Some(top);
                }
            }
        }
    }

    fn scroll(&mut self, col: u16, row: u16, down: bool) {
        let panes = self.panes();
        if let Some(r) = panes.code.filter(|r| layout::inside(*r, col, row)) {
            let h = r.height.saturating_sub(2) as usize;
            let top = self.code_window(h);
            let max = self.listing.len().saturating_sub(h);
            self.code_top = Some(if down {
                (top + 3).min(max)
            } else {
                top.saturating_sub(3)
            });
        } else if panes.inspector.is_some_and(|r| layout::inside(r, col, row)) {
            self.scroll_inspector(if down { 3 } else { -3 });
        } else if panes.narrative.is_some_and(|r| layout::inside(r, col, row)) {
            self.narrative_scroll = if down {
                self.narrative_scroll.saturating_add(3)
            } else {
                self.narrative_scroll.saturating_sub(3)
            };
        }
    }
}

/// The update function: apply one message to the model.
pub fn update(model: &mut Model, msg: Msg) {
    if msg.is_user_input() && model.gdb_running() {
        // The viewer acts on the machine: gdb's `continue` stops first.
        model.gdb_interrupt();
    }
    match msg {
        Msg::Key(e) => model.key(e),
        Msg::Action(a) => model.action(a),
        Msg::Tick(now) => model.tick(now),
        Msg::Resize(w, h) => model.size = (w, h),
        Msg::Click(..) | Msg::Scroll { .. } if model.too_small() => {}
        Msg::Click(c, r) => model.click(c, r),
        Msg::Scroll { col, row, down } => model.scroll(col, row, down),
        Msg::Gdb(input) => model.gdb_input(input),
        Msg::GdbRun => model.gdb_chunk(),
    }
}

/// A typed number: hex with 0x, decimal or a negative decimal; `_` may separate
/// digits but not start them, so `_1` or `__start` stay names.
fn typed_number(t: &str) -> Option<u64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let (radix, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => (16, h),
        None => (10, body),
    };
    if !digits.chars().next().is_some_and(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}
