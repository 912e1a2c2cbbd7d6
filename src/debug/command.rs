//! The debugger: breakpoints, watchpoints and edits kept alongside an engine, and the
//! commands that move it (forward, backward, to a position) or look at it. It holds
//! no engine itself; every command runs against the engine passed in, so a viewer can
//! keep owning it.
//!
//! Positions are history positions: position N is the state after N steps. A long
//! `continue` leaves part of the history as an unrecorded span (`Engine::run_deferred`),
//! which the commands that need states inside it record first, by replaying it.

use std::collections::BTreeMap;
use std::fmt;

use iced_x86::{Decoder, DecoderOptions, Mnemonic};

use crate::engine::{Diverged, Engine, Outcome, StepResult, Stop, StopReason};
use crate::machine::{flags, Machine, SegReg};

use super::dump::{dump, Dump};
use super::pagetable::{self, Origin, PageWalk};
use super::points::{Point, Points, Watch, WatchHit};
use super::regs::Reg;
use super::search;
use super::spec::{self, Command, ParseError, Until, WatchTarget, HELP};
use super::timeline::{self, TimelineEvent};

/// Why a movement ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The requested steps were taken (`step`, `next`, `reverse-step`, `goto`).
    Done,
    Breakpoint(u32),
    Watch(WatchHit),
    /// `until cpl`: the CPL changed.
    CplChanged {
        from: u8,
        to: u8,
    },
    /// `until fault`: the last step raised an exception that was delivered to its
    /// handler.
    Exception {
        vector: u8,
        error_code: Option<u32>,
        reason: String,
    },
    /// The engine stopped: an end address, an exception without a handler, an
    /// unsupported instruction, or a halt with no interrupt coming. The machine is at
    /// the instruction that could not run.
    Stopped(Stop),
    /// The run limit (`Debugger::set_limit`) was reached.
    Limit,
    /// Reverse movement reached position 0.
    StartOfHistory,
}

/// Where a movement ended, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub from: u64,
    pub to: u64,
    /// RIP at the new position, and its symbolic name.
    pub ip: u64,
    pub label: Option<String>,
    pub why: Why,
}

/// A command's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Moved(Arrival),
    Added(Point),
    /// Deleted these points.
    Deleted(Vec<u32>),
    Points(Vec<Point>),
    Regs(Vec<(&'static str, u64)>),
    /// `set reg`: the register's old and new value at position `at`. Recorded steps
    /// after `at` no longer follow from the state and were discarded (a viewer that
    /// copied the run must copy it again).
    RegSet {
        reg: Reg,
        old: u64,
        new: u64,
        at: u64,
    },
    Dump(Dump),
    Timeline(Vec<TimelineEvent>),
    /// `walk`: the page-table inspector's text.
    Walk(PageWalk),
    /// `explain`: the last stop, if the run stopped on a fault (its `Stop::chain`).
    Explain(Option<Stop>),
    Help,
}

/// A command that could not be parsed or run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebugError {
    Parse(ParseError),
    /// The command is well formed but cannot be done (with the reason).
    Refused(String),
}

impl fmt::Display for DebugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugError::Parse(e) => e.fmt(f),
            DebugError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DebugError {}

impl From<Diverged> for DebugError {
    fn from(d: Diverged) -> DebugError {
        DebugError::Refused(d.to_string())
    }
}

impl From<ParseError> for DebugError {
    fn from(e: ParseError) -> DebugError {
        DebugError::Parse(e)
    }
}

/// What besides breakpoints and watchpoints ends a forward run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopper {
    None,
    /// The CPL differs from this one.
    Cpl(u8),
    Fault,
    /// RIP is the return address and the stack pointer is back at or above the
    /// value it had before the call.
    Return {
        ip: u64,
        sp: u64,
    },
}

/// The default limit on the steps one command runs.
pub const DEFAULT_LIMIT: u64 = 100_000_000;

/// The most unrecorded steps `record_all` (`info timeline`, `set reg`) records at once:
/// four of the engine's recording chunks (about 300 MB of history for memory-heavy
/// code).
pub const MAX_RECORD_ALL: usize = 4 * crate::engine::RECORD_CHUNK;

/// How many steps a `continue` records before it goes on on the fast path, leaving the
/// rest of its run to be recorded when a command needs it (`Debugger::set_defer_after`).
pub const DEFAULT_DEFER_AFTER: u64 = 1 << 16;

/// Breakpoints, watchpoints and edits for one engine.
#[derive(Clone, Debug)]
pub struct Debugger {
    points: Points,
    /// The engine's own stop addresses (the scenario's end addresses).
    ends: Vec<u64>,
    /// `set reg` edits by position, applied again whenever a run passes the position.
    edits: BTreeMap<u64, Vec<(Reg, u64)>>,
    limit: u64,
    recording: bool,
    defer_after: u64,
    /// The last fault stop a movement ended on, for `explain`.
    last_fault: Option<Stop>,
}

impl Debugger {
    /// A debugger for `engine`, keeping its stop addresses as the run's end addresses.
    pub fn new(engine: &Engine) -> Debugger {
        Debugger {
            points: Points::new(),
            ends: engine.stop_at().to_vec(),
            edits: BTreeMap::new(),
            limit: DEFAULT_LIMIT,
            recording: true,
            defer_after: DEFAULT_DEFER_AFTER,
            last_fault: None,
        }
    }

    pub fn points(&self) -> &Points {
        &self.points
    }

    pub fn points_mut(&mut self) -> &mut Points {
        &mut self.points
    }

    /// The most steps one command runs (forward or back) before stopping with `Limit`.
    pub fn set_limit(&mut self, steps: u64) {
        self.limit = steps;
    }

    /// With recording off, forward runs keep no history: `continue` to breakpoints runs
    /// on the engine's unrecorded fast path, and the reverse commands and `goto`
    /// backwards are refused. On by default; `continue` is then as fast, from its
    /// `defer_after`th step on (see `set_defer_after`).
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// With recording on, a `continue` to breakpoints records its first `steps` steps
    /// and runs the rest on the engine's fast path (`Engine::run_deferred`): the span it
    /// covers is recorded, by replaying it, only when a command needs a state or a step
    /// inside it (a reverse command, `goto` into it, `info timeline`, `set reg`).
    /// `u64::MAX` records every step as it runs; the default is `DEFAULT_DEFER_AFTER`.
    pub fn set_defer_after(&mut self, steps: u64) {
        self.defer_after = steps;
    }

    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Positions with `set reg` edits, with the registers and values set there.
    pub fn edits(&self) -> &BTreeMap<u64, Vec<(Reg, u64)>> {
        &self.edits
    }

    /// The current position.
    pub fn position(&self, e: &Engine) -> u64 {
        if self.recording {
            e.history_len() as u64
        } else {
            e.step_count()
        }
    }

    /// Parse and run one command line.
    pub fn run_line(&mut self, e: &mut Engine, line: &str) -> Result<Output, DebugError> {
        let cmd = spec::parse(line, &e.machine().symbols)?;
        self.execute(e, &cmd)
    }

    /// Run one command.
    pub fn execute(&mut self, e: &mut Engine, cmd: &Command) -> Result<Output, DebugError> {
        let out = self.execute_inner(e, cmd)?;
        if let Output::Moved(Arrival {
            why: Why::Stopped(s),
            ..
        }) = &out
        {
            if matches!(s.reason, StopReason::Fault(_)) {
                self.last_fault = Some(s.clone());
            }
        }
        Ok(out)
    }

    /// The last fault stop a movement ended on (what `explain` shows).
    pub fn last_fault(&self) -> Option<&Stop> {
        self.last_fault.as_ref()
    }

    fn execute_inner(&mut self, e: &mut Engine, cmd: &Command) -> Result<Output, DebugError> {
        Ok(match cmd {
            Command::Break { at, cond } => {
                let addr = at.eval(e.machine());
                let label = e.machine().describe_addr(addr);
                let id = self
                    .points
                    .add_labelled_break(addr, at.text.clone(), label, cond.clone());
                self.added(id)
            }
            Command::Watch(target) => {
                let watch = self.resolve_watch(e.machine(), target);
                let id = self.points.add_watch(watch);
                self.added(id)
            }
            Command::Delete(Some(id)) => {
                if !self.points.delete(*id) {
                    return Err(DebugError::Refused(format!(
                        "no breakpoint or watchpoint {id} (`info break` lists them)"
                    )));
                }
                Output::Deleted(vec![*id])
            }
            Command::Delete(None) => {
                let ids = self.points.all().iter().map(Point::id).collect();
                self.points.clear();
                Output::Deleted(ids)
            }
            Command::Until(Until::Cpl) => Output::Moved(self.until_cpl(e)),
            Command::Until(Until::Fault) => Output::Moved(self.until_fault(e)),
            Command::Continue => Output::Moved(self.cont(e)),
            Command::ReverseContinue => Output::Moved(self.reverse_cont(e)?),
            Command::Step(n) => Output::Moved(self.step(e, *n)),
            Command::ReverseStep(n) => Output::Moved(self.reverse_step(e, *n)?),
            Command::Next => Output::Moved(self.next(e)),
            Command::Goto(n) => Output::Moved(self.goto(e, *n)?),
            Command::SetReg { reg, value } => {
                let v = value.eval(e.machine());
                self.set_reg(e, *reg, v)?
            }
            Command::Examine { count, unit, at } => {
                Output::Dump(dump(e.machine(), at.eval(e.machine()), *count, *unit))
            }
            Command::InfoBreak => Output::Points(self.points.all().to_vec()),
            Command::InfoRegs => Output::Regs(regs_of(e.machine())),
            Command::InfoTimeline => {
                self.record_all(e)?;
                Output::Timeline(timeline::collect(e))
            }
            Command::Walk(at) => {
                let m = e.machine();
                let (lin, origin) = match at {
                    Some(x) => (x.eval(m), Origin::Typed),
                    None => pagetable::default_addr(m, pagetable::after_page_fault(e, None)),
                };
                Output::Walk(PageWalk::new(m, lin, origin))
            }
            Command::Explain => Output::Explain(self.last_fault.clone()),
            Command::Help => Output::Help,
        })
    }

    fn added(&self, id: u32) -> Output {
        match self.points.all().iter().find(|p| p.id() == id) {
            Some(p) => Output::Added(p.clone()),
            None => Output::Points(self.points.all().to_vec()),
        }
    }

    /// A watch target with its address evaluated now.
    pub fn resolve_watch(&self, m: &Machine, target: &WatchTarget) -> Watch {
        match target {
            WatchTarget::Mem { addr, len } => Watch::Mem {
                addr: addr.eval(m),
                len: *len,
            },
            WatchTarget::Reg(r) => Watch::Reg(*r),
            WatchTarget::Msr(i) => Watch::Msr(*i),
        }
    }

    fn arrive(&self, e: &Engine, from: u64, why: Why) -> Arrival {
        let m = e.machine();
        Arrival {
            from,
            to: self.position(e),
            ip: m.cpu.rip,
            label: m.describe_addr(m.cpu.rip),
            why,
        }
    }

    fn need_history(&self, what: &str) -> Result<(), DebugError> {
        if self.recording {
            Ok(())
        } else {
            Err(DebugError::Refused(format!(
                "`{what}` needs the recorded history, and recording is off"
            )))
        }
    }

    /// Re-apply the edits made at the current position (after stepping onto it).
    fn apply_edits(&self, e: &mut Engine) {
        if !self.recording || self.edits.is_empty() {
            return;
        }
        let pos = e.history_len() as u64;
        if let Some(list) = self.edits.get(&pos) {
            for (reg, value) in list {
                if let Ok(c) = reg.edit(e.machine(), *value) {
                    e.edit(&[c]);
                }
            }
        }
    }

    /// One step, recorded or not. Returns the stop if the engine stopped.
    #[inline]
    fn one(&self, e: &mut Engine) -> Option<Stop> {
        if let StepResult::Stopped(s) = e.step() {
            return Some(s);
        }
        self.apply_edits(e);
        None
    }

    /// Take up to `max` steps forward, stopping at breakpoints and watchpoints when
    /// `points`, and at what `stopper` names.
    fn forward(&self, e: &mut Engine, max: u64, points: bool, stopper: Stopper) -> Why {
        let checks_points = points && !self.points.is_empty();
        // Without watchpoints, a run to breakpoints and/or a CPL change goes on the
        // engine's fast path, stopping only at the breakpoints' addresses and after
        // steps that change the CPL.
        let cpl = match stopper {
            Stopper::Cpl(c) => Some(c),
            _ => None,
        };
        let fast = match stopper {
            Stopper::None => checks_points,
            Stopper::Cpl(_) => true,
            _ => false,
        };
        if fast && max > 1 {
            let addrs = if checks_points {
                self.points.break_addrs()
            } else {
                Some(Vec::new())
            };
            if let Some(addrs) = addrs {
                e.set_stop_on_cpl(cpl);
                let why = self.forward_to_addrs(e, max, &addrs, cpl);
                e.set_stop_on_cpl(None);
                return why;
            }
        }
        let watches = checks_points && !self.points.watches().is_empty();
        let needs_view = watches || stopper == Stopper::Fault;
        for _ in 0..max {
            if let Some(s) = self.one(e) {
                return Why::Stopped(s);
            }
            let why = self.check_after_step(e, checks_points, needs_view, stopper);
            if !self.recording {
                e.forget_history();
            }
            if let Some(why) = why {
                return why;
            }
        }
        Why::Limit
    }

    /// What, if anything, stops a forward run after the step just taken.
    fn check_after_step(
        &self,
        e: &Engine,
        points: bool,
        needs_view: bool,
        stopper: Stopper,
    ) -> Option<Why> {
        if needs_view {
            let last = e.history_len().checked_sub(1)?;
            let v = e.step_view(last)?;
            if points {
                if let Some(hit) = self.points.watch_hit(v.n as usize, v.changes) {
                    return Some(Why::Watch(hit));
                }
            }
            if stopper == Stopper::Fault {
                if let Outcome::Exception(x) = &v.info.outcome {
                    return Some(Why::Exception {
                        vector: x.vector,
                        error_code: x.error_code,
                        reason: x.reason.to_string(),
                    });
                }
            }
        }
        let m = e.machine();
        if points {
            if let Some(id) = self.points.break_hit(m) {
                return Some(Why::Breakpoint(id));
            }
        }
        match stopper {
            Stopper::Cpl(c) if m.cpu.cpl() != c => Some(Why::CplChanged {
                from: c,
                to: m.cpu.cpl(),
            }),
            Stopper::Return { ip, sp } if m.cpu.rip == ip && m.cpu.sp() >= sp => Some(Why::Done),
            _ => None,
        }
    }

    /// Forward to breakpoints using the engine's stop addresses: no per-step check
    /// here, only at the breakpoints' addresses, where a condition is checked and, if it
    /// does not hold, the run steps off and goes on. The first `defer_after` steps are
    /// recorded with `Engine::run`, the rest run on the fast path and are kept as an
    /// unrecorded span (`Engine::run_deferred`); with recording off everything runs
    /// with `Engine::run_raw`. With `cpl`, the run also ends when the CPL differs from
    /// it (the engine was told to stop there: `Engine::set_stop_on_cpl`), a breakpoint
    /// at the same position winning, as in `check_after_step`.
    fn forward_to_addrs(&self, e: &mut Engine, max: u64, addrs: &[u64], cpl: Option<u8>) -> Why {
        let left_cpl = |e: &Engine| {
            let now = e.machine().cpu.cpl();
            cpl.filter(|&c| c != now)
                .map(|from| Why::CplChanged { from, to: now })
        };
        let mut stops = self.ends.clone();
        stops.extend_from_slice(addrs);
        let mut left = max;
        let mut record = if self.recording { self.defer_after } else { 0 };
        // The first step leaves the current instruction even when a breakpoint is on it.
        let mut step_off = true;
        while left > 0 {
            let deferred = self.recording && record == 0;
            if step_off {
                step_off = false;
                if deferred {
                    // Kept in the unrecorded span (a recorded step here would split it).
                    let s = e.run_deferred(1);
                    if s.reason != StopReason::Limit {
                        return Why::Stopped(s);
                    }
                    self.apply_edits(e);
                } else {
                    if let Some(s) = self.one(e) {
                        return Why::Stopped(s);
                    }
                    if !self.recording {
                        e.forget_history();
                    }
                }
                left -= 1;
                record = record.saturating_sub(1);
                if let Some(id) = self.points.break_hit(e.machine()) {
                    return Why::Breakpoint(id);
                }
                if let Some(why) = left_cpl(e) {
                    return why;
                }
                continue;
            }
            // Run in pieces that end at positions with edits, to apply them there.
            let pos = self.position(e);
            let mut chunk = match self.edits.range(pos + 1..).next() {
                Some((&p, _)) if self.recording => left.min(p - pos),
                _ => left,
            };
            if self.recording && !deferred {
                chunk = chunk.min(record);
            }
            e.set_stop_at(stops.clone());
            let before = e.step_count();
            let stop = if !self.recording {
                e.run_raw(chunk)
            } else if deferred {
                e.run_deferred(chunk)
            } else {
                e.run(chunk)
            };
            e.set_stop_at(self.ends.clone());
            let ran = e.step_count() - before;
            left -= ran;
            record = record.saturating_sub(ran);
            match stop.reason {
                StopReason::End if !self.ends.contains(&stop.ip) => {
                    if let Some(id) = self.points.break_hit(e.machine()) {
                        return Why::Breakpoint(id);
                    }
                    if !self.points.break_at(stop.ip) {
                        return Why::Stopped(stop);
                    }
                    // A breakpoint whose condition does not hold here.
                    step_off = true;
                }
                StopReason::Limit => {
                    self.apply_edits(e);
                    // The last step allowed ended on a breakpoint: it counts, as it
                    // does when every step is checked (`forward`); so does a breakpoint
                    // where the CPL changed.
                    let changed = left_cpl(e);
                    if left == 0 || changed.is_some() {
                        if let Some(id) = self.points.break_hit(e.machine()) {
                            return Why::Breakpoint(id);
                        }
                    }
                    if let Some(why) = changed {
                        return why;
                    }
                }
                _ => return Why::Stopped(stop),
            }
        }
        Why::Limit
    }

    /// Record every unrecorded span of the history, staying at the current position:
    /// back to the first span's start (its machine is put back), then forward again
    /// recorded, making the `set reg` edits again on the way. The machine must come
    /// out as it was.
    pub fn record_all(&mut self, e: &mut Engine) -> Result<(), DebugError> {
        let Some(first) = e.unrecorded().next() else {
            return Ok(());
        };
        if e.unrecorded_len() > MAX_RECORD_ALL {
            return Err(DebugError::Refused(format!(
                "this needs every step of the run recorded, and {} steps were run on the \
                 fast path without recording (at most {MAX_RECORD_ALL} are recorded at once, \
                 to keep memory bounded); go back closer to them first (`goto`, \
                 `reverse-continue`)",
                e.unrecorded_len()
            )));
        }
        let here = self.position(e);
        let reached = e.machine().clone();
        e.rewind(first.start)?;
        let why = self.forward(e, here - first.start as u64, false, Stopper::None);
        if self.position(e) != here || e.machine() != &reached {
            return Err(DebugError::Refused(format!(
                "recording steps {} to {here} again did not come back to the same state \
                 ({why}); the engine is not deterministic there, please report it",
                first.start
            )));
        }
        Ok(())
    }

    /// One recorded step, then what (if anything) stops a run after it: a watchpoint
    /// the step hit, a breakpoint at the new position, or `until` (a CPL other than
    /// `start_cpl`, or an exception). Err is the engine's stop, the step not taken.
    /// This is what a scripted run (`ringstep trace --break`) calls for each step.
    pub fn step_checked(
        &mut self,
        e: &mut Engine,
        until: Option<Until>,
        start_cpl: u8,
    ) -> Result<Option<Why>, Stop> {
        if let Some(s) = self.one(e) {
            return Err(s);
        }
        let stopper = match until {
            None => Stopper::None,
            Some(Until::Cpl) => Stopper::Cpl(start_cpl),
            Some(Until::Fault) => Stopper::Fault,
        };
        let points = !self.points.is_empty();
        let needs_view = !self.points.watches().is_empty() || stopper == Stopper::Fault;
        Ok(self.check_after_step(e, points, needs_view, stopper))
    }

    /// `continue`: forward to the next breakpoint or watchpoint hit.
    pub fn cont(&mut self, e: &mut Engine) -> Arrival {
        let from = self.position(e);
        let why = self.forward(e, self.limit, true, Stopper::None);
        self.arrive(e, from, why)
    }

    /// `step N`: N steps forward (stopping early at a breakpoint or watchpoint hit).
    pub fn step(&mut self, e: &mut Engine, n: u64) -> Arrival {
        let from = self.position(e);
        let why = match self.forward(e, n, true, Stopper::None) {
            Why::Limit => Why::Done,
            w => w,
        };
        self.arrive(e, from, why)
    }

    /// `next`: a step, except that a `call` runs until it returns (or something stops
    /// the run inside it).
    pub fn next(&mut self, e: &mut Engine) -> Arrival {
        let m = e.machine();
        let Some(ret) = call_return(m) else {
            return self.step(e, 1);
        };
        let from = self.position(e);
        let sp = m.cpu.sp();
        let why = self.forward(e, self.limit, true, Stopper::Return { ip: ret, sp });
        self.arrive(e, from, why)
    }

    /// `until cpl`: forward until the CPL differs from the current one.
    pub fn until_cpl(&mut self, e: &mut Engine) -> Arrival {
        let from = self.position(e);
        let cpl = e.machine().cpu.cpl();
        let why = self.forward(e, self.limit, true, Stopper::Cpl(cpl));
        self.arrive(e, from, why)
    }

    /// `until fault`: forward until a step raises an exception (delivered, or stopping
    /// the run for want of a handler).
    pub fn until_fault(&mut self, e: &mut Engine) -> Arrival {
        let from = self.position(e);
        let why = self.forward(e, self.limit, true, Stopper::Fault);
        self.arrive(e, from, why)
    }

    /// `reverse-step N`.
    pub fn reverse_step(&mut self, e: &mut Engine, n: u64) -> Result<Arrival, DebugError> {
        self.need_history("reverse-step")?;
        let from = self.position(e);
        e.rewind(from.saturating_sub(n) as usize)?;
        let why = if n > from {
            Why::StartOfHistory
        } else {
            Why::Done
        };
        Ok(self.arrive(e, from, why))
    }

    /// `reverse-continue`: back to the latest position before this one where a
    /// breakpoint or watchpoint hits, as a forward `continue` would have stopped there;
    /// position 0 if there is none.
    pub fn reverse_cont(&mut self, e: &mut Engine) -> Result<Arrival, DebugError> {
        self.need_history("reverse-continue")?;
        let from = self.position(e);
        let why = match search::prev_hit(e, &self.points)? {
            Some((_, hit)) => hit,
            None => {
                e.rewind(0)?;
                Why::StartOfHistory
            }
        };
        Ok(self.arrive(e, from, why))
    }

    /// `goto N`: back, or forward (re-running, with edits applied) to position N.
    pub fn goto(&mut self, e: &mut Engine, n: u64) -> Result<Arrival, DebugError> {
        let from = self.position(e);
        if n < from {
            self.need_history("goto")?;
            e.rewind(n as usize)?;
            return Ok(self.arrive(e, from, Why::Done));
        }
        let why = match self.forward(e, n - from, false, Stopper::None) {
            Why::Limit => Why::Done,
            w => w,
        };
        Ok(self.arrive(e, from, why))
    }

    /// `set reg`: change a register at the current position. The history before it
    /// stays (stepping back undoes the edit); edits recorded for later positions are
    /// dropped, and runs forward start from the edited state. The history is recorded
    /// in full first (`record_all`), so that a viewer copying it gets every step.
    pub fn set_reg(&mut self, e: &mut Engine, reg: Reg, value: u64) -> Result<Output, DebugError> {
        reg.edit(e.machine(), value).map_err(DebugError::Refused)?;
        self.record_all(e)?;
        let change = reg.edit(e.machine(), value).map_err(DebugError::Refused)?;
        let old = reg.read(e.machine());
        let at = self.position(e);
        if self.recording {
            self.edits.split_off(&(at + 1));
            if at > 0 {
                self.edits.entry(at).or_default().push((reg, value));
            }
        }
        e.edit(&[change]);
        Ok(Output::RegSet {
            reg,
            old,
            new: reg.read(e.machine()),
            at,
        })
    }

    /// Every timeline mark of the whole run from position 0 to where it ends (an end
    /// address, a stop, or the limit), found by running forward from here and coming
    /// back. Returns the marks and the last position.
    pub fn full_timeline(
        &mut self,
        e: &mut Engine,
    ) -> Result<(Vec<TimelineEvent>, u64), DebugError> {
        self.record_all(e)?;
        let here = e.history_len();
        if self.recording {
            self.forward(e, self.limit, false, Stopper::None);
        }
        let marks = timeline::collect(e);
        let end = e.history_len() as u64;
        e.rewind(here)?;
        Ok((marks, end))
    }
}

/// If the instruction at RIP is a `call`, its return address.
fn call_return(m: &Machine) -> Option<u64> {
    let cs = m.cpu.seg(SegReg::Cs).base;
    let lin = cs.wrapping_add(m.cpu.rip);
    let mut bytes = [0u8; 15];
    m.peek_lin(lin, &mut bytes);
    let mut d = Decoder::with_ip(m.cpu.bitness(), &bytes, m.cpu.rip, DecoderOptions::NONE);
    let i = d.decode();
    (!i.is_invalid() && i.mnemonic() == Mnemonic::Call).then(|| i.next_ip())
}

/// The registers `info regs` lists, in order.
pub fn regs_of(m: &Machine) -> Vec<(&'static str, u64)> {
    let cpu = &m.cpu;
    let mut out: Vec<(&'static str, u64)> = Vec::new();
    let long = cpu.long_mode_active();
    for (i, name) in cpu.gpr_names().iter().enumerate() {
        let v = if long {
            cpu.gpr[i]
        } else {
            cpu.gpr[i] & 0xffff_ffff
        };
        out.push((name, v));
    }
    out.push((if long { "rip" } else { "eip" }, cpu.rip));
    out.push((if long { "rflags" } else { "eflags" }, cpu.rflags));
    for (name, s) in [
        ("cs", SegReg::Cs),
        ("ss", SegReg::Ss),
        ("ds", SegReg::Ds),
        ("es", SegReg::Es),
        ("fs", SegReg::Fs),
        ("gs", SegReg::Gs),
    ] {
        out.push((name, cpu.seg(s).selector as u64));
    }
    out.push(("cpl", cpu.cpl() as u64));
    for (name, v) in [
        ("cr0", cpu.cr0),
        ("cr2", cpu.cr2),
        ("cr3", cpu.cr3),
        ("cr4", cpu.cr4),
    ] {
        out.push((name, v));
    }
    out
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Done => f.write_str("done"),
            Why::Breakpoint(id) => write!(f, "breakpoint {id}"),
            Why::Watch(h) => write!(
                f,
                "watchpoint {} ({}) changed in step {}: {}",
                h.id, h.watch, h.step, h.value
            ),
            Why::CplChanged { from, to } => write!(f, "CPL changed from {from} to {to}"),
            Why::Exception {
                vector,
                error_code,
                reason,
            } => {
                write!(f, "{}", crate::engine::fault::vector_name(*vector))?;
                if let Some(c) = error_code {
                    write!(f, " error code {c:#x}")?;
                }
                write!(f, " delivered: {reason}")
            }
            Why::Stopped(s) => match &s.reason {
                crate::engine::StopReason::Fault(x) => write!(f, "stopped: {}", x.summary()),
                crate::engine::StopReason::Unsupported(w) => {
                    write!(f, "stopped: ringstep does not model `{w}`")
                }
                r => write!(f, "stopped: {}", r.name()),
            },
            Why::Limit => f.write_str("step limit reached"),
            Why::StartOfHistory => f.write_str("start of history"),
        }
    }
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {} at {:#x}", self.to, self.ip)?;
        if let Some(l) = &self.label {
            write!(f, " <{l}>")?;
        }
        write!(f, ": {}", self.why)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Moved(a) => a.fmt(f),
            Output::Added(p) => write!(f, "{p}"),
            Output::Deleted(ids) if ids.is_empty() => f.write_str("nothing to delete"),
            Output::Deleted(ids) => {
                let list: Vec<String> = ids.iter().map(u32::to_string).collect();
                write!(f, "deleted {}", list.join(", "))
            }
            Output::Points(ps) if ps.is_empty() => f.write_str("no breakpoints or watchpoints"),
            Output::Points(ps) => {
                let lines: Vec<String> = ps.iter().map(Point::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            Output::Regs(rs) => {
                let lines: Vec<String> = rs
                    .iter()
                    .map(|(n, v)| {
                        if n.ends_with("flags") {
                            format!("{n:<7}{v:#x} [{}]", flags::set_names(*v).join(" "))
                        } else {
                            format!("{n:<7}{v:#x}")
                        }
                    })
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            Output::RegSet { reg, old, new, at } => {
                write!(f, "{reg} = {new:#x} (was {old:#x}) at position {at}")
            }
            Output::Dump(d) => d.fmt(f),
            Output::Timeline(ev) if ev.is_empty() => {
                f.write_str("no privilege changes, exceptions or interrupts yet")
            }
            Output::Timeline(ev) => {
                let lines: Vec<String> = ev.iter().map(timeline_line).collect();
                f.write_str(&lines.join("\n"))
            }
            Output::Walk(w) => w.fmt(f),
            Output::Explain(None) => f.write_str(
                "no fault stop yet: `explain` shows the chain of events behind the last \
                 fault stop",
            ),
            Output::Explain(Some(s)) => {
                write!(f, "fault stop at {:#x}", s.ip)?;
                if let StopReason::Fault(x) = &s.reason {
                    write!(f, ": {}", x.summary())?;
                }
                for (n, link) in s.chain().iter().enumerate() {
                    write!(f, "\n  {}. {}", n + 1, link.line())?;
                }
                Ok(())
            }
            Output::Help => f.write_str(&HELP.join("\n")),
        }
    }
}

fn timeline_line(t: &TimelineEvent) -> String {
    use super::timeline::Mark;
    let what = match &t.mark {
        Mark::Cpl { from, to } => format!("CPL {from} -> {to}"),
        Mark::Exception {
            vector, error_code, ..
        } => match error_code {
            Some(c) => format!(
                "exception {} error code {c:#x}",
                crate::engine::fault::vector_name(*vector)
            ),
            None => format!("exception {}", crate::engine::fault::vector_name(*vector)),
        },
        Mark::Interrupt { vector, source } => {
            format!("interrupt {vector:#x} ({})", source.name())
        }
        Mark::Edit => "edited by hand".to_string(),
    };
    format!("step {:<6} {:#x}  {what}", t.step, t.ip)
}
