//! The stepping engine: fetch, decode (iced-x86), execute by instruction family, deliver
//! exceptions and interrupts, and record every step so it can be reported and undone.
//! Long runs can go unrecorded (`run_raw`), or unrecorded for now but kept in the
//! history to be recorded later by replaying them (`run_deferred`, see `deferred`).
//! The engine knows nothing of any user interface.

pub mod alu;
mod arith;
mod atomic;
mod bits;
mod bytes;
mod check;
mod cond;
pub mod control;
pub mod cost;
mod cpuinfo;
pub mod ctx;
mod data;
pub mod decode;
mod deferred;
pub mod event;
mod far;
pub mod fast;
pub mod fault;
mod frame;
pub mod interrupt;
mod io;
mod iret;
pub mod journal;
mod misc;
pub mod operand;
mod privileged;
mod rotate;
mod segcheck;
pub mod segload;
mod stack;
mod string;
pub mod sysreg;
mod system;

use iced_x86::{Instruction, InstructionInfoFactory, Mnemonic};

use crate::machine::flags::{IF, TF};
use crate::machine::{AccessKind, Machine};
pub use cost::Cost;
use ctx::Ctx;
use decode::{DecodeCache, Fetched, NO_CODE};
pub use deferred::{Diverged, RECORD_CHUNK};
pub use event::{Event, Source};
pub use fault::{Exception, Link, LinkKind};
use interrupt::{deliver, DeliveryError};
pub use journal::Change;
use journal::Journal;

/// How an instruction's semantics ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Continue at the next instruction.
    Next,
    /// RIP was set by the instruction.
    Jumped,
    /// HLT.
    Halt,
    /// The mnemonic is decoded but not modelled.
    Unsupported,
    /// A feature of a modelled instruction that the model does not implement.
    UnsupportedFeature(&'static str),
}

/// What a recorded step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The instruction completed.
    Executed,
    /// No instruction ran: an external interrupt was delivered to its handler.
    Interrupt(u8),
    /// The instruction raised an exception, which was delivered to its handler.
    Exception(Box<Exception>),
    /// HLT: the processor now waits for an interrupt.
    Halt,
}

/// Why a run stopped. The machine is left as it was before the step that stopped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// RIP reached one of the scenario's end addresses.
    End,
    /// An exception for which no handler is installed (or a triple fault).
    Fault(Exception),
    /// An instruction or feature the engine does not model.
    Unsupported(String),
    /// The step limit was reached.
    Limit,
    /// The processor is halted and no interrupt is coming.
    Halt,
    /// The kernel wrote to isa-debug-exit (src/machine/dev.rs): the exit status QEMU
    /// would exit with, (value << 1) | 1.
    Exit(u32),
}

impl StopReason {
    pub fn name(&self) -> &'static str {
        match self {
            StopReason::End => "end",
            StopReason::Fault(_) => "fault",
            StopReason::Unsupported(_) => "unsupported",
            StopReason::Limit => "limit",
            StopReason::Halt => "halt",
            StopReason::Exit(_) => "exit",
        }
    }
}

/// A stop with the place it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub reason: StopReason,
    /// RIP of the instruction that could not run.
    pub ip: u64,
    pub instr: Option<Instruction>,
    /// For a fault stop: the events of the failing step that led to it, in order (the
    /// first exception, each fault during delivery, #DF, the shutdown or the missing
    /// handler). Empty for other stops.
    pub chain: fault::Chain,
}

impl Stop {
    /// The chain of events that led to a fault stop (empty for other stops).
    pub fn chain(&self) -> &[fault::Link] {
        self.chain.as_slice()
    }
}

/// The bytes of an executed instruction and the code size they were decoded with,
/// kept compactly; the instruction is decoded again when someone looks at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    bytes: [u8; decode::BYTES_LEN],
    len: u8,
    bitness: u8,
}

impl Code {
    fn of(f: &Fetched, bitness: u32) -> Code {
        // Only the instruction's own bytes, so equal instructions make equal codes.
        let mut bytes = [0; decode::BYTES_LEN];
        bytes[..f.len as usize].copy_from_slice(f.bytes());
        Code {
            bytes,
            len: f.len,
            bitness: bitness as u8,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Decode the instruction as it was at `ip`.
    pub fn decode(&self, ip: u64) -> Instruction {
        iced_x86::Decoder::with_ip(
            self.bitness as u32,
            self.bytes(),
            ip,
            iced_x86::DecoderOptions::NONE,
        )
        .decode()
    }
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepInfo {
    /// RIP before the step.
    pub ip: u64,
    /// RIP after the step.
    pub next_ip: u64,
    /// The instruction executed (None for an interrupt-delivery step or a fetch fault).
    pub code: Option<Code>,
    pub outcome: Outcome,
}

/// A recorded step as the history keeps it (16 bytes; `StepInfo` is rebuilt from it).
/// The step's RIP after is the next step's RIP before, or the current RIP for the last
/// step; outcomes other than `Executed` and event ranges are kept aside, since most
/// steps have neither.
#[derive(Clone, Copy, Debug)]
struct StepRec {
    ip: u64,
    /// Where this step's changes start in the history (they end where the next step's
    /// start).
    changes_start: u32,
    /// Index into the decode cache's code table, or NO_CODE.
    code: u32,
}

/// A recorded step with its changes and events.
#[derive(Clone, Debug)]
pub struct StepView<'a> {
    /// Step number, from 0.
    pub n: u64,
    pub info: StepInfo,
    /// Every write in order (uncoalesced).
    pub changes: &'a [Change],
    pub events: &'a [Event],
    /// The step's architectural work (zero for most register-only instructions).
    pub cost: Cost,
    /// Changes made by hand after the step (`Engine::edit`, e.g. a debugger's
    /// `set reg`): part of the state after the step, but not done by the instruction.
    pub edit: &'a [Change],
}

impl StepView<'_> {
    pub fn instr(&self) -> Option<Instruction> {
        self.info.code.map(|c| c.decode(self.info.ip))
    }
    pub fn bytes(&self) -> &[u8] {
        self.info.code.as_ref().map_or(&[], |c| c.bytes())
    }
}

/// An interrupt line raised before a given step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledInterrupt {
    pub before_step: u64,
    pub vector: u8,
}

/// Result of `Engine::step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepResult {
    Stepped,
    Stopped(Stop),
}

/// The engine: a machine plus its recorded history.
pub struct Engine {
    machine: Machine,
    cache: DecodeCache,
    steps: Vec<StepRec>,
    /// (step, outcome) for the steps whose outcome is not `Executed`, in step order.
    outcomes: Vec<(u32, Outcome)>,
    /// (step, start in `events`) for the steps that have events, in step order.
    event_starts: Vec<(u32, u32)>,
    /// (step, cost) for the recorded steps whose cost is not zero, in step order.
    costs: Vec<(u32, Cost)>,
    /// The sum of `costs`: the work of the recorded history up to the current position.
    tally: Cost,
    /// The work of the step being executed.
    step_cost: Cost,
    /// (step, start in the change history) for the steps followed by an edit, in step
    /// order: the step's changes end where its edit starts.
    edits: Vec<(u32, u32)>,
    /// Every recorded change, then those of the step being executed.
    changes: Journal,
    events: Vec<Event>,
    scratch_events: Vec<Event>,
    stop_at: Vec<u64>,
    schedule: Vec<ScheduledInterrupt>,
    /// Steps executed by `run_raw` (not recorded).
    raw_steps: u64,
    /// Spans of history run by `run_deferred`, not recorded yet, in position order.
    spans: Vec<deferred::Span>,
    /// The steps in `spans`.
    unrecorded: usize,
    info: InstructionInfoFactory,
    check_writes: bool,
    /// The code id of the instruction the last `exec` ran, or NO_CODE.
    last_code: u32,
    /// Use the pre-analysed fast forms (off only to check them against the general path).
    fast: bool,
    /// `run`, `run_raw` and `run_deferred` end after a step that leaves the CPL
    /// different from this one (`set_stop_on_cpl`).
    stop_on_cpl: Option<u8>,
}

impl Engine {
    pub fn new(machine: Machine) -> Engine {
        Engine {
            machine,
            cache: DecodeCache::default(),
            steps: Vec::new(),
            outcomes: Vec::new(),
            event_starts: Vec::new(),
            costs: Vec::new(),
            tally: Cost::default(),
            step_cost: Cost::default(),
            edits: Vec::new(),
            changes: Journal::default(),
            events: Vec::new(),
            scratch_events: Vec::with_capacity(16),
            stop_at: Vec::new(),
            schedule: Vec::new(),
            raw_steps: 0,
            spans: Vec::new(),
            unrecorded: 0,
            info: InstructionInfoFactory::new(),
            check_writes: cfg!(debug_assertions),
            last_code: NO_CODE,
            fast: true,
            stop_on_cpl: None,
        }
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Change the machine directly (set-up, lessons, the `set reg` command). History is
    /// cleared, since recorded steps no longer lead to this state.
    pub fn machine_mut(&mut self) -> &mut Machine {
        self.keep_clock();
        self.clear_history();
        self.cache.clear();
        &mut self.machine
    }

    pub fn set_stop_at(&mut self, addrs: Vec<u64>) {
        self.stop_at = addrs;
    }

    pub fn stop_at(&self) -> &[u64] {
        &self.stop_at
    }

    /// With `Some(cpl)`, `run`, `run_raw` and `run_deferred` end (with reason `Limit`)
    /// right after a step that leaves the CPL other than `cpl`, as a debugger's `until
    /// cpl` needs; the caller tells that from the limit by the CPL. Only steps on the
    /// general path can change the CPL (the fast forms change GPRs, RFLAGS and RIP), so
    /// this costs the fast path nothing.
    pub fn set_stop_on_cpl(&mut self, cpl: Option<u8>) {
        self.stop_on_cpl = cpl;
    }

    /// True if `set_stop_on_cpl` asked to stop at this CPL.
    #[inline]
    fn cpl_left(&self) -> bool {
        self.stop_on_cpl
            .is_some_and(|c| self.machine.cpu.cpl() != c)
    }

    /// The interrupt lines to raise, by step number. Set it before running: an
    /// unrecorded span (`run_deferred`) is replayed with the schedule of the time of
    /// the replay, and one that changed would make the replay diverge (it is reported).
    pub fn set_schedule(&mut self, mut schedule: Vec<ScheduledInterrupt>) {
        schedule.sort_by_key(|s| s.before_step);
        self.schedule = schedule;
    }

    /// Turn the per-step check against iced-x86's InstructionInfo on or off
    /// (on by default in debug builds).
    pub fn set_check_writes(&mut self, on: bool) {
        self.check_writes = on;
    }

    /// Turn the pre-analysed fast forms of common register instructions on or off (on
    /// by default). Off, every instruction goes through the general path; results are
    /// the same either way, which is what turning them off lets tests check.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast = on;
    }

    /// Number of steps taken (recorded or not) since the engine was made or its
    /// machine last set by hand: the step number scheduled interrupts count by.
    pub fn step_count(&self) -> u64 {
        self.history_len() as u64 + self.raw_steps
    }

    /// The current position in history: the steps it holds, including those run by
    /// `run_deferred` and not recorded yet.
    pub fn history_len(&self) -> usize {
        self.steps.len() + self.unrecorded
    }

    /// Before the history is cleared (step numbers then count from `raw_steps` again):
    /// move the devices' clock skew so that their clock (step number + skew) goes on
    /// from where it is.
    fn keep_clock(&mut self) {
        let lost = self.history_len() as u64;
        let dev = &mut self.machine.dev;
        if dev.attached && lost > 0 {
            dev.skew = dev.skew.saturating_add(lost);
            dev.refresh();
        }
    }

    pub fn clear_history(&mut self) {
        self.steps.clear();
        self.outcomes.clear();
        self.event_starts.clear();
        self.costs.clear();
        self.tally = Cost::default();
        self.edits.clear();
        self.changes.truncate_history(0);
        self.events.clear();
        self.spans.clear();
        self.unrecorded = 0;
    }

    /// Steps run so far are kept only as a count: the history is emptied (so it can
    /// hold no more memory than the steps since), but step numbers go on counting.
    pub fn forget_history(&mut self) {
        self.raw_steps += self.history_len() as u64;
        self.clear_history();
    }

    /// RIP before recorded step `index` (the state at history position `index`); None
    /// past the history or inside a span not recorded yet.
    #[inline]
    pub fn step_ip(&self, index: usize) -> Option<u64> {
        self.steps.get(self.physical(index)?).map(|r| r.ip)
    }

    /// Change the machine by hand at the current history position, keeping the
    /// history: the changes are applied in order and recorded after the last step, so
    /// stepping back undoes them with it and `step_view` reports them as its `edit`.
    /// At position 0 there is no step to attach them to, and they become part of the
    /// starting state. Registers and memory may be edited this way; the decode cache
    /// revalidates itself on CS, CR0, EFER and memory writes. After `run_deferred` the
    /// changes are kept with the unrecorded span and recorded when it is.
    pub fn edit(&mut self, changes: &[Change]) {
        for c in changes {
            c.redo(&mut self.machine);
        }
        if self.tail_unrecorded() {
            if let Some(span) = self.spans.last_mut() {
                span.edit.extend_from_slice(changes);
            }
            return;
        }
        let Some(last) = self.steps.len().checked_sub(1) else {
            return;
        };
        let step = last as u32;
        if self.edits.last().map(|e| e.0) != Some(step) {
            self.edits.push((step, self.changes.history().len() as u32));
        }
        self.changes.clear();
        for c in changes {
            self.changes.push(*c);
        }
        self.changes.commit();
    }

    /// A recorded step by index (its history position); None past the history or
    /// inside a span not recorded yet.
    pub fn step_view(&self, index: usize) -> Option<StepView<'_>> {
        let p = self.physical(index)?;
        let rec = self.steps.get(p)?;
        let (mut next_ip, c_end) = match self.steps.get(p + 1) {
            Some(next) => (next.ip, next.changes_start as usize),
            None => (self.machine.cpu.rip, self.changes.history().len()),
        };
        // An unrecorded span right after the step starts from the state it left.
        if let Some(s) = self.spans.iter().find(|s| s.at == index + 1) {
            next_ip = s.start.cpu.rip;
        }
        let step = p as u32;
        let edit_start = match self.edits.binary_search_by_key(&step, |e| e.0) {
            Ok(i) => self.edits[i].1 as usize,
            Err(_) => c_end,
        };
        let outcome = match self.outcomes.binary_search_by_key(&step, |o| o.0) {
            Ok(i) => self.outcomes[i].1.clone(),
            Err(_) => Outcome::Executed,
        };
        let events = match self.event_starts.binary_search_by_key(&step, |e| e.0) {
            Ok(i) => {
                let end = self
                    .event_starts
                    .get(i + 1)
                    .map_or(self.events.len(), |e| e.1 as usize);
                &self.events[self.event_starts[i].1 as usize..end]
            }
            Err(_) => &[],
        };
        let cost = match self.costs.binary_search_by_key(&step, |c| c.0) {
            Ok(i) => self.costs[i].1,
            Err(_) => Cost::default(),
        };
        Some(StepView {
            n: self.raw_steps + index as u64,
            info: StepInfo {
                ip: rec.ip,
                next_ip,
                code: self.cache.code(rec.code),
                outcome,
            },
            changes: &self.changes.history()[rec.changes_start as usize..edit_start],
            events,
            cost,
            edit: &self.changes.history()[edit_start..c_end],
        })
    }

    pub fn last_step(&self) -> Option<StepView<'_>> {
        self.history_len()
            .checked_sub(1)
            .and_then(|i| self.step_view(i))
    }

    /// Execute one step and record it.
    pub fn step(&mut self) -> StepResult {
        if self.fast && self.step_fast() {
            return StepResult::Stepped;
        }
        self.step_general()
    }

    /// A recorded step of an instruction with a fast form when nothing else happens
    /// before it (no stop address, no interrupt line to raise or interrupt to deliver,
    /// not halted, no interrupt shadow to end): the same checks, journal and record as
    /// the general path, without its machinery. Returns false, having changed nothing,
    /// when the general path must take the step.
    #[inline]
    fn step_fast(&mut self) -> bool {
        let cpu = &self.machine.cpu;
        if cpu.halted
            || cpu.shadow
            || cpu.rflags & TF != 0
            || (cpu.pending_irq.is_some() && cpu.rflags & IF != 0)
        {
            return false;
        }
        if self.machine.dev.attached && self.devices_due(self.step_count()) {
            return false;
        }
        let ip = cpu.rip;
        if !self.schedule.is_empty() {
            let n = self.step_count();
            if self.schedule.iter().any(|s| s.before_step == n) {
                return false;
            }
        }
        if self.stop_at.contains(&ip) {
            return false;
        }
        let Ok(entry) = self.cache.fetch(&self.machine) else {
            return false;
        };
        if entry.op == fast::Op::Slow {
            return false;
        }
        let (op, next, code) = (entry.op, entry.next, entry.code);
        let changes_start = self.changes.history().len() as u32;
        let mut ctx = Ctx::new(
            &mut self.machine,
            &mut self.changes,
            &mut self.scratch_events,
            &mut self.step_cost,
        );
        ctx.next_ip = next;
        let Some(rip) = fast::exec(&mut ctx, &op, next) else {
            return false;
        };
        ctx.set_rip(rip);
        if self.check_writes {
            check_step(
                &mut self.info,
                self.cache.code(code),
                ip,
                self.changes.as_slice(),
                &self.scratch_events,
            );
        }
        self.changes.commit();
        self.steps.push(StepRec {
            ip,
            changes_start,
            code,
        });
        true
    }

    fn step_general(&mut self) -> StepResult {
        let mut changes = std::mem::take(&mut self.changes);
        let mut events = std::mem::take(&mut self.scratch_events);
        changes.clear();
        events.clear();
        let n = self.step_count();
        let ip0 = self.machine.cpu.rip;
        let r = self.exec(n, &mut changes, &mut events);
        let result = match r {
            Ok(outcome) => {
                let ip = ip0;
                let code = self.last_code;
                if self.check_writes && outcome == Outcome::Executed {
                    check_step(
                        &mut self.info,
                        self.cache.code(code),
                        ip,
                        changes.as_slice(),
                        &events,
                    );
                }
                let step = self.steps.len() as u32;
                let changes_start = changes.history().len() as u32;
                changes.commit();
                if !events.is_empty() {
                    self.event_starts.push((step, self.events.len() as u32));
                    self.events.append(&mut events);
                }
                if outcome != Outcome::Executed {
                    self.outcomes.push((step, outcome));
                }
                self.record_cost(step);
                self.steps.push(StepRec {
                    ip,
                    changes_start,
                    code,
                });
                StepResult::Stepped
            }
            Err(stop) => {
                changes.clear();
                StepResult::Stopped(stop)
            }
        };
        self.changes = changes;
        self.scratch_events = events;
        result
    }

    /// Keep the cost of the step just recorded as step `step`.
    fn record_cost(&mut self, step: u32) {
        let c = self.step_cost;
        if !c.is_zero() {
            self.costs.push((step, c));
            self.tally = self.tally.plus(&c);
        }
    }

    /// The architectural work (src/engine/cost.rs) of the recorded history: every
    /// recorded step from position 0 to the current one, added. Steps run by `run_raw`
    /// or in a span not recorded yet are not in it.
    pub fn cost(&self) -> Cost {
        self.tally
    }

    /// The steps before the current position that `cost` does not include: run by
    /// `run_raw` (or before `forget_history`), or in spans not recorded yet.
    pub fn uncounted_steps(&self) -> u64 {
        self.raw_steps + self.unrecorded as u64
    }

    /// Undo the last step. Returns false at the start of history (or if the last step
    /// is in an unrecorded span and recording it failed: see `record_tail`).
    pub fn step_back(&mut self) -> bool {
        if self.tail_unrecorded() && self.record_tail().is_err() {
            return false;
        }
        self.pop_step()
    }

    /// Undo the last recorded step.
    fn pop_step(&mut self) -> bool {
        let Some(rec) = self.steps.pop() else {
            return false;
        };
        let step = self.steps.len() as u32;
        let start = rec.changes_start as usize;
        for ch in self.changes.history()[start..].iter().rev() {
            ch.undo(&mut self.machine);
        }
        self.changes.truncate_history(start);
        if let Some(&(s, e0)) = self.event_starts.last() {
            if s == step {
                self.events.truncate(e0 as usize);
                self.event_starts.pop();
            }
        }
        if self.outcomes.last().is_some_and(|o| o.0 == step) {
            self.outcomes.pop();
        }
        if let Some(&(s, c)) = self.costs.last() {
            if s == step {
                self.tally = self.tally.minus(&c);
                self.costs.pop();
            }
        }
        if self.edits.last().is_some_and(|e| e.0 == step) {
            self.edits.pop();
        }
        self.machine.cpu.rip = rec.ip;
        true
    }

    /// Move to history position `n` (back with `rewind`, or forward while steps
    /// succeed). Returns the stop if running forward stopped first; going back, a
    /// span that could not be recorded is reported as an `Unsupported` stop.
    pub fn goto(&mut self, n: usize) -> Option<Stop> {
        if let Err(d) = self.rewind(n) {
            return Some(self.stop(StopReason::Unsupported(d.to_string()), None));
        }
        while self.history_len() < n {
            if let StepResult::Stopped(s) = self.step() {
                return Some(s);
            }
        }
        None
    }

    /// Run recorded steps until a stop or `max_steps` steps.
    pub fn run(&mut self, max_steps: u64) -> Stop {
        for _ in 0..max_steps {
            if let StepResult::Stopped(s) = self.step() {
                return s;
            }
            if self.cpl_left() {
                break;
            }
        }
        Stop {
            reason: StopReason::Limit,
            ip: self.machine.cpu.rip,
            instr: None,
            chain: Default::default(),
        }
    }

    /// Run without recording history (fast path for benchmarks and long runs). Steps run
    /// this way cannot be undone; recorded history is cleared.
    pub fn run_raw(&mut self, max_steps: u64) -> Stop {
        self.keep_clock();
        self.clear_history();
        let (stop, ran) = self.run_unrecorded(max_steps);
        self.raw_steps += ran;
        stop
    }

    /// Up to `max_steps` steps on the fast path, counting step numbers from
    /// `step_count()`, with nothing recorded (the committed history is left as it is).
    /// Returns the stop and the steps taken; the caller accounts for them.
    fn run_unrecorded(&mut self, max_steps: u64) -> (Stop, u64) {
        let base = self.step_count();
        let mut changes = std::mem::take(&mut self.changes);
        let mut events = std::mem::take(&mut self.scratch_events);
        let mut stop = None;
        let mut ran = 0u64;
        while ran < max_steps {
            let left = max_steps - ran;
            let budget = self.fast_budget(left, base + ran);
            if budget > 0 {
                ran += self
                    .cache
                    .run_fast(&mut self.machine, &self.stop_at, budget);
                if ran == max_steps {
                    break;
                }
            }
            changes.clear();
            events.clear();
            match self.exec(base + ran, &mut changes, &mut events) {
                Ok(_) => {
                    ran += 1;
                    if self.cpl_left() {
                        break;
                    }
                }
                Err(s) => {
                    stop = Some(s);
                    break;
                }
            }
        }
        changes.clear();
        self.changes = changes;
        self.scratch_events = events;
        let stop = stop.unwrap_or(Stop {
            reason: StopReason::Limit,
            ip: self.machine.cpu.rip,
            instr: None,
            chain: Default::default(),
        });
        (stop, ran)
    }

    /// How many instructions a raw run may execute with `DecodeCache::run_fast` from
    /// step number `n`: none while an interrupt could be delivered, the CPU is halted or
    /// in an interrupt shadow, and never past the next scheduled interrupt line.
    fn fast_budget(&self, left: u64, n: u64) -> u64 {
        let cpu = &self.machine.cpu;
        if !self.fast
            || cpu.halted
            || cpu.shadow
            || cpu.rflags & TF != 0
            || (cpu.pending_irq.is_some() && cpu.rflags & IF != 0)
        {
            return 0;
        }
        let dev = &self.machine.dev;
        let left = if dev.attached {
            if self.devices_due(n) {
                return 0;
            }
            left.min(dev.due - n)
        } else {
            left
        };
        self.schedule
            .iter()
            .map(|s| s.before_step)
            .filter(|&b| b >= n)
            .min()
            .map_or(left, |b| left.min(b - n))
    }

    /// With devices attached: whether step `n`, about to run, must look at them (the
    /// timer's edge is due, or the PICs have a request the processor would take).
    #[inline]
    fn devices_due(&self, n: u64) -> bool {
        let dev = &self.machine.dev;
        dev.due <= n
            || (self.machine.cpu.rflags & IF != 0
                && !self.machine.cpu.shadow
                && dev.irq().is_some())
    }

    fn stop(&self, reason: StopReason, instr: Option<Instruction>) -> Stop {
        Stop {
            reason,
            ip: self.machine.cpu.rip,
            instr,
            chain: Default::default(),
        }
    }

    /// One step. On a stop, everything the step changed has been rolled back.
    fn exec(
        &mut self,
        n: u64,
        changes: &mut Journal,
        events: &mut Vec<Event>,
    ) -> Result<Outcome, Stop> {
        self.last_code = NO_CODE;
        self.step_cost = Cost::default();
        let ip = self.machine.cpu.rip;
        if self.stop_at.contains(&ip) {
            return Err(self.stop(StopReason::End, None));
        }
        let cpu = &self.machine.cpu;
        if !self.schedule.is_empty()
            || cpu.pending_irq.is_some()
            || cpu.halted
            || (self.machine.dev.attached && self.devices_due(n))
        {
            if let Some(r) = self.interrupt_or_halt(n, ip, changes, events) {
                return r;
            }
        }
        let mut ctx = Ctx::new(&mut self.machine, changes, events, &mut self.step_cost);
        let fetched = match translate_fetch(&mut ctx) {
            Ok(()) => self.cache.fetch(ctx.m),
            Err(e) => Err(e),
        };
        let fetched = fetched.and_then(|entry| {
            translate_fetch_tail(&mut ctx, entry.len)?;
            Ok(entry)
        });
        let entry = match fetched {
            Ok(f) => f,
            Err(e) => {
                let mark = (ctx.journal.len(), ctx.events.len());
                return match Self::raise(&mut ctx, e, mark, ip) {
                    Ok(o) => Ok(o),
                    Err(reason) => {
                        Self::rollback(&mut ctx, (0, 0));
                        Err(Stop {
                            reason,
                            ip,
                            instr: None,
                            chain: std::mem::take(&mut ctx.chain).into(),
                        })
                    }
                };
            }
        };
        self.last_code = entry.code;
        let instr = &entry.instr;
        let mark = (ctx.journal.len(), ctx.events.len());
        let tf = ctx.flag(TF);
        ctx.step = n;
        ctx.ip = ip;
        ctx.next_ip = entry.next;
        let fast = if self.fast {
            fast::exec(&mut ctx, &entry.op, entry.next)
        } else {
            None
        };
        let flow = match fast {
            Some(rip) => {
                ctx.set_rip(rip);
                Ok(Flow::Jumped)
            }
            None => dispatch(&mut ctx, instr),
        };
        let outcome = match flow {
            Ok(Flow::Next) => {
                let next = ctx.next_ip;
                ctx.set_rip(next);
                Outcome::Executed
            }
            Ok(Flow::Jumped) => Outcome::Executed,
            Ok(Flow::Halt) => {
                let next = ctx.next_ip;
                ctx.set_rip(next);
                Outcome::Halt
            }
            Ok(Flow::Unsupported) | Ok(Flow::UnsupportedFeature(_)) => {
                Self::rollback(&mut ctx, (0, 0));
                let what = match flow {
                    Ok(Flow::UnsupportedFeature(w)) => w.to_string(),
                    _ => format!("{:?}", instr.mnemonic()).to_lowercase(),
                };
                return Err(Stop {
                    reason: StopReason::Unsupported(what),
                    ip,
                    instr: Some(*instr),
                    chain: Default::default(),
                });
            }
            Err(e) => match Self::raise(&mut ctx, e, mark, ip) {
                Ok(o) => o,
                Err(reason) => {
                    Self::rollback(&mut ctx, (0, 0));
                    return Err(Stop {
                        reason,
                        ip,
                        instr: Some(*instr),
                        chain: std::mem::take(&mut ctx.chain).into(),
                    });
                }
            },
        };
        let outcome = if tf && matches!(outcome, Outcome::Executed) && traps_after(&ctx, instr) {
            match Self::single_step(&mut ctx) {
                Ok(o) => o,
                Err(reason) => {
                    Self::rollback(&mut ctx, (0, 0));
                    return Err(Stop {
                        reason,
                        ip,
                        instr: Some(*instr),
                        chain: std::mem::take(&mut ctx.chain).into(),
                    });
                }
            }
        } else {
            outcome
        };
        // The interrupt shadow lasts for exactly one instruction.
        let new_shadow = ctx.shadow_next && matches!(outcome, Outcome::Executed);
        ctx.set_shadow(new_shadow);
        Ok(outcome)
    }

    /// Before fetching: raise scheduled interrupt lines, deliver a pending external
    /// interrupt (a step of its own), or stop a halted CPU. None means go on and fetch;
    /// anything raised but not delivered stays in the journal of this step.
    #[cold]
    #[inline(never)]
    fn interrupt_or_halt(
        &mut self,
        n: u64,
        ip: u64,
        changes: &mut Journal,
        events: &mut Vec<Event>,
    ) -> Option<Result<Outcome, Stop>> {
        // isa-debug-exit was written: the machine is gone.
        if let Some(status) = self.machine.dev.exit {
            return Some(Err(Stop {
                reason: StopReason::Exit(status),
                ip,
                instr: None,
                chain: Default::default(),
            }));
        }
        // Interrupt lines scheduled for this step; a halted CPU waits for the next one.
        let halted = self.machine.cpu.halted;
        let mut raise = None;
        for s in &self.schedule {
            if s.before_step == n
                || (halted
                    && s.before_step > n
                    && raise.is_none()
                    && self.machine.cpu.pending_irq.is_none())
            {
                raise = Some(s.vector);
                if s.before_step == n {
                    break;
                }
            }
        }
        let mut ctx = Ctx::new(&mut self.machine, changes, events, &mut self.step_cost);
        if let Some(v) = raise {
            if ctx.m.cpu.pending_irq.is_none() {
                ctx.set_pending_irq(Some(v));
                ctx.event(Event::IrqRaised { vector: v });
            }
        }
        let shadow = ctx.m.cpu.shadow;
        if let Some(v) = ctx.m.cpu.pending_irq {
            if ctx.flag(IF) && !shadow {
                ctx.set_pending_irq(None);
                ctx.set_halted(false);
                return Some(Self::external(&mut ctx, v, ip));
            }
        }
        if ctx.m.dev.attached {
            if let Some(r) = Self::device_interrupt(&mut ctx, n, ip) {
                return Some(r);
            }
        }
        if ctx.m.cpu.halted {
            Self::rollback(&mut ctx, (0, 0));
            return Some(Err(Stop {
                reason: StopReason::Halt,
                ip,
                instr: None,
                chain: Default::default(),
            }));
        }
        None
    }

    /// Deliver external interrupt `v` at the boundary before `ip` (a step of its own).
    fn external(ctx: &mut Ctx, v: u8, ip: u64) -> Result<Outcome, Stop> {
        let mark = (ctx.journal.len(), ctx.events.len());
        match deliver(ctx, v, Source::External, None, ip) {
            Ok(()) => Ok(Outcome::Interrupt(v)),
            Err(e) => {
                let r = Self::delivery_failed(ctx, e, mark, ip);
                if r.is_err() {
                    Self::rollback(ctx, (0, 0));
                }
                r.map_err(|reason| Stop {
                    reason,
                    ip,
                    instr: None,
                    chain: std::mem::take(&mut ctx.chain).into(),
                })
            }
        }
    }

    /// The devices at the boundary before step `n`: a halted processor with IF = 1
    /// skips ahead to the timer's next edge; an edge that is due sets IRQ 0 in the
    /// master PIC's IRR; then, with IF = 1 and no interrupt shadow (SDM Vol. 3A 6.8.3),
    /// the PICs' request is acknowledged (INTA) and its vector delivered as an
    /// external interrupt (SDM Vol. 3A 6.3.2, 6.12), waking a halted processor. Every
    /// change is journaled in this step. None: no interrupt was delivered.
    #[cold]
    #[inline(never)]
    fn device_interrupt(ctx: &mut Ctx, n: u64, ip: u64) -> Option<Result<Outcome, Stop>> {
        let can_take = ctx.flag(IF) && !ctx.m.cpu.shadow;
        if ctx.m.cpu.halted && can_take && ctx.m.dev.irq().is_none() {
            if let Some(c) = ctx.m.dev.skip_to_timer(n) {
                ctx.device(c);
            }
        }
        for c in ctx.m.dev.tick(n) {
            ctx.device(c);
        }
        if !can_take {
            return None;
        }
        let (irq, vector, ack) = ctx.m.dev.acknowledge()?;
        for c in ack {
            ctx.device(c);
        }
        ctx.set_halted(false);
        ctx.event(Event::Irq {
            irq,
            vector,
            device: crate::machine::dev::irq_source(irq),
        });
        Some(Self::external(ctx, vector, ip))
    }

    /// Undo the journal back to `mark` (entries, events) and put RIP back at the
    /// instruction that started the step.
    #[cold]
    #[inline(never)]
    fn rollback(ctx: &mut Ctx, mark: (usize, usize)) {
        while ctx.journal.len() > mark.0 {
            if let Some(ch) = ctx.journal.pop() {
                ch.undo(ctx.m);
            }
        }
        ctx.events.truncate(mark.1);
        ctx.m.cpu.rip = ctx.ip;
    }

    /// Undo a faulting instruction's (or delivery's) effects back to `mark`, but the
    /// accessed and dirty flags its page walks set: the processor wrote them to memory
    /// before the fault (SDM Vol. 3A 4.8), and a fault does not take them back (QEMU
    /// keeps them too). They stay in this step's journal, so stepping back clears them.
    fn undo_for_fault(ctx: &mut Ctx, mark: (usize, usize)) {
        let mut kept = Vec::new();
        while ctx.journal.len() > mark.0 {
            match ctx.journal.pop() {
                Some(ch @ journal::Change::PhysMem { .. }) => kept.push(ch),
                Some(ch) => ch.undo(ctx.m),
                None => break,
            }
        }
        for ch in kept.into_iter().rev() {
            ctx.journal.push(ch);
        }
        ctx.events.truncate(mark.1);
        ctx.m.cpu.rip = ctx.ip;
    }

    /// An instruction raised `e`: undo its partial effects and deliver the exception.
    /// Returns the stop reason when no handler is installed or delivery shuts down.
    #[cold]
    #[inline(never)]
    fn raise(
        ctx: &mut Ctx,
        e: Exception,
        mark: (usize, usize),
        ip: u64,
    ) -> Result<Outcome, StopReason> {
        Self::undo_for_fault(ctx, mark);
        let mut current = e.clone();
        // The chain of this step, kept for the stop (Stop::chain) if it comes to one.
        ctx.chain.clear();
        ctx.chain
            .push(Link::raised(&current, current.reason.to_string()));
        // The last page-fault address CR2 received on the way (a triple fault keeps it).
        let mut last_cr2 = None;
        for _ in 0..3 {
            ctx.event(Event::Exception {
                vector: current.vector,
                error_code: current.error_code,
                ip,
                reason: current.reason.clone(),
            });
            if let Some(addr) = current.cr2 {
                ctx.set_cr(2, addr);
                last_cr2 = Some(addr);
            }
            let inner = (ctx.journal.len(), ctx.events.len());
            match deliver(
                ctx,
                current.vector,
                Source::Exception,
                current.error_code,
                ip,
            ) {
                Ok(()) => return Ok(Outcome::Exception(Box::new(current))),
                Err(DeliveryError::NoHandler(x)) => {
                    ctx.chain.push(Link {
                        kind: LinkKind::NoHandler,
                        vector: current.vector,
                        error_code: None,
                        cr2: None,
                        reason: if x.reason.contains("SDM") {
                            x.reason.to_string()
                        } else {
                            format!("{} (SDM Vol. 3A 6.12.1)", x.reason)
                        },
                    });
                    return Err(StopReason::Fault(Exception {
                        reason: format!(
                            "{} (no handler is installed for {})",
                            current.reason,
                            fault::vector_name(current.vector)
                        )
                        .into(),
                        ..current
                    }));
                }
                Err(DeliveryError::Unsupported(w)) => {
                    return Err(StopReason::Unsupported(w.to_string()))
                }
                Err(DeliveryError::Fault(second)) => {
                    Self::undo_for_fault(ctx, inner);
                    let second = interrupt::nested(second);
                    // A page fault loads CR2 when it is detected (SDM Vol. 3A 6.15,
                    // Interrupt 14), also one that delivering the first exception raised
                    // and that then becomes a double fault (Table 6-5).
                    if let Some(addr) = second.cr2 {
                        ctx.set_cr(2, addr);
                        last_cr2 = Some(addr);
                    }
                    let first = fault::vector_name(current.vector);
                    let how = if current.vector == fault::DF {
                        "a fault while delivering #DF: shutdown".to_string()
                    } else {
                        fault::combination(current.vector, second.vector).to_string()
                    };
                    ctx.chain.push(Link::raised(
                        &second,
                        format!(
                            "{}, while delivering {first} ({how}, SDM Vol. 3A Table 6-5)",
                            second.reason
                        ),
                    ));
                    let name = fault::vector_name(second.vector);
                    current = match escalate(&current, second) {
                        Some(next) => {
                            if next.vector == fault::DF {
                                ctx.chain.push(Link::raised(
                                    &next,
                                    format!(
                                        "double fault: a {name} while delivering {first} \
                                         (SDM Vol. 3A 6.15, Interrupt 8)"
                                    ),
                                ));
                            }
                            next
                        }
                        None => {
                            let mut shutdown = Exception::new(
                                fault::DF,
                                Some(0),
                                format!(
                                    "triple fault: delivering {} failed, the processor shuts down",
                                    fault::vector_name(current.vector)
                                ),
                            );
                            shutdown.cr2 = last_cr2;
                            ctx.chain.push(Link {
                                kind: LinkKind::Shutdown,
                                vector: fault::DF,
                                error_code: None,
                                cr2: last_cr2,
                                reason: format!(
                                    "delivering {first} failed: the processor shuts down \
                                     (SDM Vol. 3A 6.15, Interrupt 8)"
                                ),
                            });
                            return Err(StopReason::Fault(shutdown));
                        }
                    };
                }
            }
        }
        Err(StopReason::Fault(current))
    }

    /// The single-step trap (SDM Vol. 3A 17.3.1.4): the instruction ran with TF = 1, so
    /// #DB is delivered after it, in the same step, with DR6.BS set and the address of
    /// the next instruction (RIP after the step) as the return address.
    #[cold]
    #[inline(never)]
    fn single_step(ctx: &mut Ctx) -> Result<Outcome, StopReason> {
        let dr6 = ctx.m.cpu.dr[6];
        ctx.set_cr(journal::DR_BASE + 6, dr6 | crate::machine::cpu::DR6_BS);
        let mark = (ctx.journal.len(), ctx.events.len());
        let next = ctx.m.cpu.rip;
        let e = Exception::new(
            fault::DB,
            None,
            "single-step trap: the instruction ran with EFLAGS.TF = 1 (DR6.BS set)",
        );
        Self::raise(ctx, e, mark, next)
    }

    #[cold]
    #[inline(never)]
    fn delivery_failed(
        ctx: &mut Ctx,
        e: DeliveryError,
        mark: (usize, usize),
        ip: u64,
    ) -> Result<Outcome, StopReason> {
        match e {
            DeliveryError::NoHandler(x) => {
                ctx.chain.clear();
                ctx.chain.push(Link::raised(&x, x.reason.to_string()));
                Err(StopReason::Fault(x))
            }
            DeliveryError::Unsupported(w) => Err(StopReason::Unsupported(w.to_string())),
            DeliveryError::Fault(x) => Self::raise(ctx, interrupt::nested(x), mark, ip),
        }
    }
}

/// Check a step's register writes against iced-x86's InstructionInfo for the
/// instruction it executed (`code`, decoded at `ip`).
/// Translate the address of the next instruction fetch through the page tables (setting
/// accessed flags), so that the decode cache finds the translation cached.
fn translate_fetch(ctx: &mut Ctx) -> Result<(), Exception> {
    if let Some(lin) = decode::fetch_linear(ctx.m) {
        let access = ctx.m.access(AccessKind::Fetch);
        ctx.translate(lin, &access)?;
    }
    Ok(())
}

/// For an instruction of `len` bytes that runs into the next page, translate that page
/// as well (its fetch sets its accessed flag).
fn translate_fetch_tail(ctx: &mut Ctx, len: u8) -> Result<(), Exception> {
    if let Some(lin) = decode::fetch_linear(ctx.m) {
        if (lin & 0xfff) + len as u64 > 0x1000 {
            let next = (lin | 0xfff).wrapping_add(1);
            let next = if ctx.is_long64() {
                next
            } else {
                next & 0xffff_ffff
            };
            let access = ctx.m.access(AccessKind::Fetch);
            ctx.translate(next, &access)?;
        }
    }
    Ok(())
}

fn check_step(
    info: &mut InstructionInfoFactory,
    code: Option<Code>,
    ip: u64,
    changes: &[Change],
    events: &[Event],
) {
    if let Some(code) = code {
        let instr = code.decode(ip);
        let delivered = events.iter().any(|e| matches!(e, Event::Delivered { .. }));
        let bad = check::undeclared_writes(info, &instr, changes, delivered);
        assert!(bad.is_empty(), "engine/iced disagreement: {bad:?}");
    }
}

/// The double-fault rules of SDM Vol. 3A, table 6-5: which exception to deliver when
/// `second` occurs while delivering `first`. None means a triple fault.
fn escalate(first: &Exception, second: Exception) -> Option<Exception> {
    if first.vector == fault::DF {
        return None;
    }
    let serious = |v: u8| fault::is_contributory(v) || v == fault::PF;
    let double = (fault::is_contributory(first.vector) && fault::is_contributory(second.vector))
        || (first.vector == fault::PF && serious(second.vector));
    if double {
        Some(Exception::new(
            fault::DF,
            Some(0),
            format!(
                "double fault: {} while delivering {}",
                fault::vector_name(second.vector),
                fault::vector_name(first.vector)
            ),
        ))
    } else {
        Some(second)
    }
}

/// Whether a TF single-step trap follows an instruction that ran with TF = 1: not
/// after MOV SS/POP SS (held off to the next boundary, SDM Vol. 3A 6.8.3), nor after
/// INT n/INT3/INTO/INT1, whose delivery clears TF before the handler's first
/// instruction (SDM Vol. 3A 17.3.1.4 and 6.12.1.3), nor after HLT (the trap comes when
/// an interrupt ends the halt; the model stops a halted run instead).
fn traps_after(ctx: &Ctx, i: &Instruction) -> bool {
    use Mnemonic as M;
    match i.mnemonic() {
        _ if ctx.ss_loaded => false,
        M::Int | M::Int3 | M::Int1 | M::Hlt => false,
        // INTO with OF = 0 delivers nothing and goes on to the next instruction.
        M::Into => ctx.m.cpu.rip == ctx.next_ip,
        _ => true,
    }
}

/// Route an instruction to its family by mnemonic.
fn dispatch(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Mov if privileged::is_control_mov(i) => privileged::exec(ctx, i),
        M::Clts
        | M::Invlpg
        | M::Smsw
        | M::Sldt
        | M::Clac
        | M::Stac
        | M::Lmsw
        | M::Lldt
        | M::Wbinvd
        | M::Invd => privileged::exec(ctx, i),
        M::Cpuid
        | M::Rdtsc
        | M::Rdtscp
        | M::Rdpid
        | M::Xgetbv
        | M::Rdpmc
        | M::Rdfsbase
        | M::Rdgsbase
        | M::Wrfsbase
        | M::Wrgsbase => cpuinfo::exec(ctx, i),
        M::Verr | M::Verw | M::Lar | M::Lsl => segcheck::exec(ctx, i),
        M::In | M::Out | M::Insb | M::Insw | M::Insd | M::Outsb | M::Outsw | M::Outsd => {
            io::exec(ctx, i)
        }
        M::Int1 => system::exec(ctx, i),
        M::Mov
        | M::Movzx
        | M::Movsx
        | M::Movsxd
        | M::Lea
        | M::Xchg
        | M::Nop
        | M::Pause
        | M::Cld
        | M::Std
        | M::Clc
        | M::Stc
        | M::Cmc => data::exec(ctx, i),
        M::Add
        | M::Adc
        | M::Sub
        | M::Sbb
        | M::Cmp
        | M::And
        | M::Or
        | M::Xor
        | M::Test
        | M::Inc
        | M::Dec
        | M::Neg
        | M::Not
        | M::Shl
        | M::Sal
        | M::Shr
        | M::Sar
        | M::Imul
        | M::Mul
        | M::Div
        | M::Idiv
        | M::Cwde
        | M::Cbw
        | M::Cdqe
        | M::Cdq
        | M::Cwd
        | M::Cqo => arith::exec(ctx, i),
        M::Push
        | M::Pop
        | M::Pushf
        | M::Pushfd
        | M::Pushfq
        | M::Popf
        | M::Popfd
        | M::Popfq
        | M::Leave => stack::exec(ctx, i),
        M::Jmp | M::Call if far::is_far(i) => far::exec(ctx, i),
        M::Retf | M::Lss | M::Lds | M::Les | M::Lfs | M::Lgs => far::exec(ctx, i),
        M::Jmp
        | M::Call
        | M::Ret
        | M::Loop
        | M::Loope
        | M::Loopne
        | M::Jcxz
        | M::Jecxz
        | M::Jrcxz => control::exec(ctx, i),
        _ if i.is_jcc_short_or_near() => control::exec(ctx, i),
        M::Cli
        | M::Sti
        | M::Hlt
        | M::Int
        | M::Int3
        | M::Into
        | M::Iret
        | M::Iretd
        | M::Iretq
        | M::Sysenter
        | M::Sysexit
        | M::Sysexitq
        | M::Syscall
        | M::Sysret
        | M::Sysretq
        | M::Swapgs
        | M::Wrmsr
        | M::Rdmsr
        | M::Lgdt
        | M::Lidt
        | M::Sgdt
        | M::Sidt
        | M::Ltr
        | M::Str
        | M::Ud0
        | M::Ud1
        | M::Ud2 => system::exec(ctx, i),
        M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd => rotate::exec(ctx, i),
        M::Bt | M::Bts | M::Btr | M::Btc | M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt | M::Popcnt => {
            bits::exec(ctx, i)
        }
        M::Cmova
        | M::Cmovae
        | M::Cmovb
        | M::Cmovbe
        | M::Cmove
        | M::Cmovg
        | M::Cmovge
        | M::Cmovl
        | M::Cmovle
        | M::Cmovne
        | M::Cmovno
        | M::Cmovnp
        | M::Cmovns
        | M::Cmovo
        | M::Cmovp
        | M::Cmovs
        | M::Seta
        | M::Setae
        | M::Setb
        | M::Setbe
        | M::Sete
        | M::Setg
        | M::Setge
        | M::Setl
        | M::Setle
        | M::Setne
        | M::Setno
        | M::Setnp
        | M::Setns
        | M::Seto
        | M::Setp
        | M::Sets => cond::exec(ctx, i),
        M::Xadd | M::Cmpxchg | M::Cmpxchg8b | M::Cmpxchg16b => atomic::exec(ctx, i),
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Movsq
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Stosq
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Lodsq
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Cmpsq
        | M::Scasb
        | M::Scasw
        | M::Scasd
        | M::Scasq => string::exec(ctx, i),
        M::Bswap | M::Movbe => bytes::exec(ctx, i),
        M::Enter | M::Pusha | M::Pushad | M::Popa | M::Popad => frame::exec(ctx, i),
        M::Lahf
        | M::Sahf
        | M::Endbr32
        | M::Endbr64
        | M::Lfence
        | M::Mfence
        | M::Sfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Prefetchw
        | M::Reservednop => misc::exec(ctx, i),
        _ => Ok(Flow::Unsupported),
    }
}
