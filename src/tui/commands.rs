//! The debugger inside the viewer: the `:` command line and the keys that move by
//! breakpoints, watchpoints and timeline events, run through `debug::Debugger` on the
//! scene's engine (`SceneRun::command`); and the inspectors (memory, GDT, IDT, TSS,
//! breakpoint list, command output) the bottom of the screen shows. The command language,
//! its completion and its searches are the debugger's; this module only wires them to
//! the model.

use crossterm::event::KeyEvent;

use super::app::Model;
use super::cmdline::{self, CmdLine, Edit};
use super::inspect::{self, Inspector};
use crate::debug::command::Why;
use crate::debug::dump::dump;
use crate::debug::lang;
use crate::debug::spec::Unit;
use crate::debug::{Command, Output};
use crate::machine::Machine;

/// The viewer's own commands, after the debugger's in `:help`.
const VIEWER_HELP: &[&str] = &[
    "glossary [TERM] (gl)                        explain a term (CPL, TSS ...); all terms without one; key d: this step's",
    "cost                                        the work of this step and scene (descriptor, gate, TSS, MSR reads...) beside int $0x80, sysenter, syscall",
    "alt [NAME]                                  list or choose the alternatives of loaded code (run --elf/--asm/--bytes)",
];

const VIEWER_HELP_DE: &[&str] = &[
    "glossary [BEGRIFF] (gl)                     einen Begriff erklären (CPL, TSS ...); ohne: alle; Taste d: die dieses Schritts",
    "cost                                        die Arbeit dieses Schritts und der Szene (Deskriptoren, Gates, TSS, MSRs...) neben int $0x80, sysenter, syscall",
    "alt [NAME]                                  Alternativen geladenen Codes zeigen oder wählen (run --elf/--asm/--bytes)",
];

/// The debugger's part of the model.
#[derive(Clone, Debug, Default)]
pub struct DebugUi {
    /// The command line, while it is open.
    pub cmdline: Option<CmdLine>,
    /// Lines entered, oldest first.
    pub history: Vec<String>,
    /// What the bottom of the screen shows instead of the stacks and narrative.
    pub inspector: Option<Inspector>,
    /// First address of the memory view when it does not follow the stack pointer.
    pub mem_addr: u64,
    /// The memory view follows ESP/RSP.
    pub follow_sp: bool,
    /// The address the page-table inspector walks (None: CR2 after a #PF, else RIP).
    pub pt_addr: Option<u64>,
    /// First row shown in the table, breakpoint and output inspectors.
    pub scroll: usize,
    /// What the last command printed (info regs, help, info timeline).
    pub output: Vec<String>,
    /// The status line holds an error.
    pub error: bool,
    /// How loaded code was set up (`run --elf/--asm/--bytes`), for `:alt`.
    pub setup: Option<crate::load::Setup>,
    /// The alternatives of the loaded image, one line each.
    pub alternatives: Vec<String>,
}

/// Bytes per line of the memory view for an inspector `width` columns wide.
pub fn mem_per_line(width: u16, long: bool) -> u64 {
    let addr = if long { 16 } else { 8 };
    // address, two spaces, 3 columns a byte, two spaces, an ASCII column a byte, border
    if (addr + 2 + 16 * 4 + 4) as u16 <= width {
        16
    } else {
        8
    }
}

impl Model {
    fn machine(&self) -> &Machine {
        self.run.played.engine.machine()
    }

    /// Rows the inspector shows (inside its border).
    pub fn inspector_rows(&self) -> usize {
        self.panes()
            .inspector
            .map_or(8, |r| r.height.saturating_sub(2) as usize)
    }

    /// Rows one page of scrolling moves: the inspector's rows less the fixed lines at
    /// its top (the page-table inspector keeps CR3 and the address walked in view).
    pub fn inspector_page(&self) -> usize {
        let head = match self.debug.inspector {
            Some(Inspector::PageTables) => 2,
            _ => 0,
        };
        self.inspector_rows().saturating_sub(head).max(1)
    }

    /// The first address the memory view shows now.
    pub fn mem_top(&self) -> u64 {
        let long = self.snap.long;
        let per = mem_per_line(
            self.panes()
                .inspector
                .map_or(80, |r| r.width.saturating_sub(2)),
            long,
        );
        if self.debug.follow_sp {
            let rows = self.inspector_rows() as u64;
            let m = self.machine();
            let sp = m.cpu.sp();
            let top = inspect::follow_top(sp, per);
            // Near the top of the stack's region, show the region's end at the bottom
            // rather than memory beyond it.
            match m.mem.region_at(sp.wrapping_sub(1)) {
                Some(r) if top.saturating_add(rows * per) > r.end() && r.end() >= rows * per => {
                    top.min(r.end() - rows * per).max(r.base)
                }
                _ => top,
            }
        } else {
            self.debug.mem_addr
        }
    }

    fn say(&mut self, text: String) {
        self.status = Some(text);
        self.debug.error = false;
    }

    fn fail(&mut self, text: String) {
        self.status = Some(crate::debug::catalogue::in_lang(&text, self.lang));
        self.debug.error = true;
    }

    pub fn open_cmdline(&mut self) {
        self.debug.cmdline = Some(CmdLine::new());
        self.status = None;
        self.debug.error = false;
    }

    /// A key while the command line is open.
    pub fn cmdline_key(&mut self, e: &KeyEvent) {
        let Some(line) = &mut self.debug.cmdline else {
            return;
        };
        match line.key(e, &self.debug.history) {
            Edit::None => {}
            Edit::Cancel => self.debug.cmdline = None,
            Edit::Submit(text) => {
                self.debug.cmdline = None;
                self.run_line(&text);
            }
            Edit::Complete => self.complete_cmdline(),
        }
    }

    fn complete_cmdline(&mut self) {
        let has_alt = self.debug.setup.is_some();
        let long = self.run.played.engine.machine().cpu.long_mode_active();
        let Some(line) = &mut self.debug.cmdline else {
            return;
        };
        let before = line.before_cursor().to_string();
        let mut c = crate::debug::completion(&before, &self.run.played.initial.symbols, long);
        // `alt` is the viewer's own command (loaded code only).
        if has_alt && !before.contains(char::is_whitespace) && "alt".starts_with(&before) {
            c.words.push("alt".into());
            c.words.sort();
        }
        // So is `glossary`, and its argument is a term's name.
        if !before.contains(char::is_whitespace) && "glossary".starts_with(&before) {
            c.words.push("glossary".into());
            c.words.sort();
        } else if let Some(arg) = before.strip_prefix("glossary ") {
            c = crate::debug::Completion {
                start: before.len() - arg.len(),
                words: self
                    .glossary
                    .terms
                    .iter()
                    .map(|t| t.name.clone())
                    .filter(|n| n.to_lowercase().starts_with(&arg.to_lowercase()))
                    .collect(),
            };
            c.words.sort();
        }
        line.complete(&c);
    }

    /// Run one command line.
    pub fn run_line(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        cmdline::remember(&mut self.debug.history, text);
        let mut words = text.split_whitespace();
        match words.next() {
            Some("alt") => {
                let rest: Vec<&str> = words.collect();
                self.alt(&rest);
                return;
            }
            Some("cost") => {
                self.open_cost();
                return;
            }
            Some("glossary" | "gl") => {
                let rest: Vec<&str> = words.collect();
                self.glossary_command(&rest.join(" "));
                return;
            }
            _ => {}
        }
        let cmd = match crate::debug::parse(text, &self.run.played.initial.symbols) {
            Ok(c) => c,
            Err(e) => return self.fail(e.to_string()),
        };
        // `x/NF ADDR` prints N units of F; a plain `x ADDR` opens the memory view there.
        let formatted = text
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('/'));
        if let (true, Command::Examine { count, unit, at }) = (formatted, &cmd) {
            let addr = at.eval(self.machine());
            self.examine(addr, *count, *unit);
            return;
        }
        self.execute(&cmd);
    }

    /// `:glossary [TERM]`: one term, or all of them.
    fn glossary_command(&mut self, term: &str) {
        use super::panes::glossary::Shown;
        if term.trim().is_empty() {
            return self.open_glossary(Shown::All);
        }
        match self.glossary.find(term) {
            Some(i) => self.open_glossary(Shown::Term(i)),
            None => {
                let names: Vec<&str> = self
                    .glossary
                    .terms
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                let msg = format!(
                    "{} `{}` ({})",
                    self.words().glossary_unknown,
                    term.trim(),
                    names.join(", ")
                );
                self.fail(msg)
            }
        }
    }

    /// `x/NF`: `count` units of `unit` from `addr`, as `ringstep debug` prints them, in
    /// the output inspector.
    fn examine(&mut self, addr: u64, count: u64, unit: Unit) {
        let d = dump(self.machine(), addr, count, unit);
        self.debug.output = d.to_string().lines().map(String::from).collect();
        self.open_inspector(Inspector::Output);
        let label = d.label.map(|l| format!(" <{l}>")).unwrap_or_default();
        let what = format!("x/{count}{}", unit.letter());
        self.say(format!(
            "{what}: {} {addr:#x}{label}",
            self.words().memory_at
        ));
    }

    /// Run a parsed command.
    pub fn execute(&mut self, cmd: &Command) {
        match cmd {
            Command::Examine { at, .. } => {
                let addr = at.eval(self.machine());
                self.show_memory_at(addr);
                return;
            }
            Command::InfoBreak => {
                self.open_inspector(Inspector::Points);
                return;
            }
            Command::Walk(at) => {
                let addr = at.as_ref().map(|x| x.eval(self.machine()));
                self.show_page_tables(addr);
                return;
            }
            Command::Explain => {
                // The viewer's run ends with its stop: explain that one.
                let stop = &self.run.played.stop;
                let out = Output::Explain(
                    matches!(stop.reason, crate::engine::StopReason::Fault(_))
                        .then(|| stop.clone()),
                );
                self.debug.output = lang::output(&out, self.lang)
                    .lines()
                    .map(String::from)
                    .collect();
                self.open_inspector(Inspector::Output);
                return;
            }
            _ => {}
        }
        let Some(scene) = self.lesson.scenes.get(self.scene) else {
            return;
        };
        let last = self.run.last_state();
        match self.run.command(scene, self.pos, cmd) {
            Err(e) => self.fail(e.to_string()),
            Ok((out, here)) => match out {
                Output::Moved(a) => {
                    self.go(self.scene, here);
                    let text = match a.why {
                        // The recorded run ends here: say how the scene ended.
                        Why::Limit if here >= last => format!(
                            "{} {here}: {}",
                            self.words().position,
                            match self.run.stop_reason() {
                                crate::engine::StopReason::Limit => {
                                    self.words().end_of_run.to_string()
                                }
                                _ => super::snapshot::describe_stop(&self.run, self.lang),
                            }
                        ),
                        _ => lang::arrival(&a, self.lang),
                    };
                    self.say(text);
                }
                Output::RegSet { .. } => {
                    self.refresh_all(here);
                    self.say(lang::output(&out, self.lang));
                }
                Output::Added(_) | Output::Deleted(_) => self.say(lang::output(&out, self.lang)),
                Output::Regs(_)
                | Output::Timeline(_)
                | Output::Help
                | Output::Points(_)
                | Output::Explain(_) => {
                    self.debug.output = lang::output(&out, self.lang)
                        .lines()
                        .map(String::from)
                        .collect();
                    if out == Output::Help {
                        let own = match self.lang {
                            crate::lesson::Lang::En => VIEWER_HELP,
                            crate::lesson::Lang::De => VIEWER_HELP_DE,
                        };
                        self.debug.output.extend(own.iter().map(|l| l.to_string()));
                    }
                    self.open_inspector(Inspector::Output);
                }
                Output::Dump(d) => self.show_memory_at(d.addr),
                Output::Walk(w) => self.show_page_tables(Some(w.lin)),
            },
        }
    }

    fn words(&self) -> &'static super::i18n::Words {
        super::i18n::words(self.lang)
    }

    /// After the run's history changed (`set reg`): view model and position again.
    fn refresh_all(&mut self, pos: usize) {
        self.goto(pos);
    }

    /// Open the memory view at `addr` (not following the stack pointer).
    pub fn show_memory_at(&mut self, addr: u64) {
        self.debug.follow_sp = false;
        self.debug.mem_addr = addr;
        self.debug.inspector = Some(Inspector::Memory);
        let label = self
            .machine()
            .describe_addr(addr)
            .map(|l| format!(" <{l}>"))
            .unwrap_or_default();
        self.say(format!("{} {addr:#x}{label}", self.words().memory_at));
    }

    pub fn open_inspector(&mut self, which: Inspector) {
        if self.debug.inspector != Some(which) {
            self.debug.scroll = 0;
        }
        if which == Inspector::Memory && self.debug.inspector != Some(Inspector::Memory) {
            // Open where the stack pointer is, following it.
            self.debug.follow_sp = true;
        }
        self.debug.inspector = Some(which);
    }

    /// `m`: open or close the memory view.
    pub fn toggle_memory(&mut self) {
        if self.debug.inspector == Some(Inspector::Memory) {
            self.debug.inspector = None;
        } else {
            self.open_inspector(Inspector::Memory);
        }
    }

    /// `g`: GDT, then IDT, then TSS, then closed.
    pub fn cycle_tables(&mut self) {
        let next = match self.debug.inspector {
            Some(Inspector::Gdt) => Some(Inspector::Idt),
            Some(Inspector::Idt) => Some(Inspector::Tss),
            Some(Inspector::Tss) => None,
            _ => Some(Inspector::Gdt),
        };
        match next {
            Some(i) => self.open_inspector(i),
            None => self.debug.inspector = None,
        }
    }

    /// `t`: the page-table inspector at the default address, or closed.
    pub fn toggle_page_tables(&mut self) {
        if self.debug.inspector == Some(Inspector::PageTables) {
            self.debug.inspector = None;
        } else {
            self.debug.pt_addr = None;
            self.open_inspector(Inspector::PageTables);
        }
    }

    /// `:walk [ADDR]`: the page-table inspector at `addr` (None: the default address).
    pub fn show_page_tables(&mut self, addr: Option<u64>) {
        self.debug.pt_addr = addr;
        self.debug.scroll = 0;
        self.debug.inspector = Some(Inspector::PageTables);
        let (lin, _) = self.pt_target();
        let label = self
            .machine()
            .describe_addr(lin)
            .map(|l| format!(" <{l}>"))
            .unwrap_or_default();
        self.say(format!("{} {lin:#x}{label}", self.words().pt_walk_of));
    }

    /// The address the page-table inspector walks now, and where it comes from.
    pub fn pt_target(&self) -> (u64, crate::debug::pagetable::Origin) {
        use crate::debug::pagetable::{default_addr, Origin};
        if let Some(a) = self.debug.pt_addr {
            return (a, Origin::Typed);
        }
        default_addr(self.machine(), self.after_page_fault())
    }

    /// The step that led to this position raised a #PF, or the run stopped at one here.
    pub fn after_page_fault(&self) -> bool {
        use crate::engine::{fault::PF, Outcome, StopReason};
        let stepped = self
            .pos
            .checked_sub(1)
            .and_then(|p| self.run.steps.get(p))
            .is_some_and(|r| matches!(&r.outcome, Outcome::Exception(x) if x.vector == PF));
        let stopped = self.pos >= self.run.last_state()
            && matches!(&self.run.played.stop.reason, StopReason::Fault(x) if x.vector == PF);
        stepped || stopped
    }

    /// `w`: the breakpoint and watchpoint list.
    pub fn toggle_points(&mut self) {
        if self.debug.inspector == Some(Inspector::Points) {
            self.debug.inspector = None;
        } else {
            self.open_inspector(Inspector::Points);
        }
    }

    /// `f`: follow the stack pointer in the memory view, or stay where it is.
    pub fn toggle_follow(&mut self) {
        if self.debug.inspector != Some(Inspector::Memory) {
            self.open_inspector(Inspector::Memory);
            return;
        }
        if self.debug.follow_sp {
            self.debug.mem_addr = self.mem_top();
        }
        self.debug.follow_sp = !self.debug.follow_sp;
    }

    /// Scroll the open inspector by `rows` (negative: up). The memory view moves its
    /// address and stops following the stack pointer.
    pub fn scroll_inspector(&mut self, rows: isize) {
        match self.debug.inspector {
            None => {}
            Some(Inspector::Memory) => {
                let per = mem_per_line(
                    self.panes()
                        .inspector
                        .map_or(80, |r| r.width.saturating_sub(2)),
                    self.snap.long,
                );
                let top = self.mem_top();
                self.debug.follow_sp = false;
                self.debug.mem_addr = top.wrapping_add((rows as i64 * per as i64) as u64);
            }
            Some(_) => {
                let s = self.debug.scroll as isize + rows;
                self.debug.scroll = s.max(0) as usize;
            }
        }
    }

    /// A movement through the debugger from a key.
    pub fn debug_move(&mut self, cmd: Command) {
        if matches!(cmd, Command::Continue) && self.pos >= self.run.last_state() {
            // At the end of the run: on to the next scene, as stepping does.
            self.step_forward();
            return;
        }
        self.execute(&cmd);
    }

    /// `b`: a breakpoint at `addr` on or off (the debugger's breakpoints).
    pub fn toggle_break_at(&mut self, addr: u64) -> bool {
        let label = self.run.played.initial.describe_addr(addr);
        let points = self.run.dbg.points_mut();
        let ids: Vec<u32> = points
            .breaks()
            .iter()
            .filter(|b| b.addr == addr)
            .map(|b| b.id)
            .collect();
        if ids.is_empty() {
            points.add_labelled_break(addr, format!("{addr:#x}"), label, None);
            true
        } else {
            for id in ids {
                points.delete(id);
            }
            false
        }
    }

    /// True if a breakpoint is at `addr`.
    pub fn has_break(&self, addr: u64) -> bool {
        self.run.dbg.points().break_at(addr)
    }

    /// The state just after timeline event `i` (where its change can be seen).
    fn event_state(&self, i: usize) -> usize {
        self.run.events.get(i).map_or(0, |e| e.step + 1)
    }

    /// `>` / `<`: the next or previous privilege change, exception or interrupt.
    pub fn jump_event(&mut self, forward: bool) {
        let n = self.run.events.len();
        let target = if forward {
            (0..n).map(|i| self.event_state(i)).find(|&s| s > self.pos)
        } else {
            (0..n)
                .rev()
                .map(|i| self.event_state(i))
                .find(|&s| s < self.pos)
        };
        match target {
            Some(s) => {
                self.go(self.scene, s);
                let what: Vec<String> = self
                    .run
                    .events
                    .iter()
                    .filter(|e| e.step + 1 == s)
                    .map(|e| super::panes::timeline_strip::mark_text(&e.mark))
                    .collect();
                self.say(format!(
                    "{} {s}: {}",
                    self.words().position,
                    what.join(", ")
                ));
            }
            None => self.say(self.words().no_more_events.to_string()),
        }
    }

    /// `:alt`, `:alt N` / `:alt FEATURE`, `:alt none`: list the loaded image's kernel
    /// alternatives, or load it again with one applied (or none).
    fn alt(&mut self, args: &[&str]) {
        let Some(setup) = self.debug.setup.clone() else {
            return self.fail(self.words().alt_needs_load.to_string());
        };
        match args {
            [] => {
                self.debug.output = if self.debug.alternatives.is_empty() {
                    vec![self.words().no_alternatives.to_string()]
                } else {
                    self.debug.alternatives.clone()
                };
                self.open_inspector(Inspector::Output);
            }
            [spec] => {
                let mut s = setup;
                s.alts = if spec.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    vec![spec.to_string()]
                };
                match crate::load::load(&s) {
                    Ok(loaded) => {
                        let points = self.run.dbg.points().clone();
                        self.set_lesson(loaded.lesson);
                        *self.run.dbg.points_mut() = points;
                        self.debug.alternatives = alternative_lines(&loaded.image);
                        self.debug.setup = Some(s);
                        let msg = if spec.eq_ignore_ascii_case("none") {
                            self.words().alt_none.to_string()
                        } else {
                            format!("{} {spec}", self.words().alt_applied)
                        };
                        self.say(msg);
                    }
                    Err(e) => self.fail(e.to_string()),
                }
            }
            _ => self.fail("alt: give one alternative (a number or a feature), or none".into()),
        }
    }
}

/// The loaded image's alternatives, one line each.
pub fn alternative_lines(image: &crate::load::Image) -> Vec<String> {
    image
        .alternatives
        .list()
        .iter()
        .map(|a| {
            format!(
                "{:>2}  {:#x} ({} bytes) <- {:#x} ({} bytes)  {}",
                a.number,
                a.instr,
                a.instr_len,
                a.repl,
                a.repl_len,
                a.condition()
            )
        })
        .collect()
}
