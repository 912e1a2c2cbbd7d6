//! A scene played once, with what the user interface needs from its whole history kept
//! aside: every step's record, a summary of every state (CPL, stack pointer, PID), who
//! wrote each stack word, and the engine's answers to the scene's questions. The engine
//! itself only keeps the steps up to its current position, so this is gathered once,
//! while it stands at the end of the run.

use std::sync::atomic::AtomicU64;

use iced_x86::{Instruction, Mnemonic, OpKind};
use rustc_hash::FxHashMap;

use crate::debug::timeline::TimelineEvent;
use crate::debug::Debugger;
use crate::engine::{Change, Code, Event, Outcome, Stop, StopReason};
use crate::lesson::check::{evaluate_question, Answer};
use crate::lesson::run::{play_counting, Played};
use crate::lesson::Scene;
use crate::machine::tables::tss32;
use crate::machine::Machine;

/// One executed step, copied out of the engine's history.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub ip: u64,
    pub next_ip: u64,
    pub code: Option<Code>,
    pub outcome: Outcome,
    pub changes: Vec<Change>,
    pub events: Vec<Event>,
}

impl StepRecord {
    pub fn instr(&self) -> Option<Instruction> {
        self.code.map(|c| c.decode(self.ip))
    }
}

/// The few facts of every state that views across the timeline need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSummary {
    pub ip: u64,
    pub cpl: u8,
    pub sp: u64,
    /// The stack pointer is in a user-accessible region.
    pub sp_user: bool,
    pub pid: Option<u32>,
    /// TSS.esp0 (rsp0 in 64-bit mode), if a TSS is loaded.
    pub esp0: Option<u64>,
    /// The memory region the stack pointer points into (its last pushed byte).
    pub sp_region: Option<u16>,
}

/// Who wrote a memory word, in words the stack pane shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writer {
    /// `push %reg` (register name as the syntax writes it, without `%`).
    SavedReg(String),
    /// `push $imm`.
    PushedImm(u64),
    /// `pushf`.
    SavedFlags,
    /// `call`: the return address.
    ReturnAddress,
    /// The CPU's own frame on an interrupt or exception: which field.
    CpuFrame(FrameSlot),
    /// `mov %reg, mem`.
    StoredReg(String),
    /// Anything else: the mnemonic.
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSlot {
    ErrorCode,
    Ip,
    Cs,
    Flags,
    Sp,
    Ss,
}

/// A scene run to its end and analysed.
pub struct SceneRun {
    pub played: Played,
    pub steps: Vec<StepRecord>,
    /// States 0 ..= last.
    pub states: Vec<StateSummary>,
    /// Per narrative step of the scene: the engine's answer to its question.
    pub answers: Vec<Option<Result<Answer, String>>>,
    /// 4-byte-aligned address -> (step, writer) in step order.
    writes: FxHashMap<u64, Vec<(u32, u32)>>,
    writers: Vec<Writer>,
    /// Stack slot size in bytes (4, or 8 in 64-bit code).
    pub width: u64,
    /// The user stack's slot size: 4 for a 32-bit process (compatibility mode) on a
    /// 64-bit kernel, else `width`.
    pub user_width: u64,
    /// Kernel stack size (THREAD_SIZE), for telling whether ESP is on it.
    pub thread_size: u64,
    /// The region holding the TSS: a stack pointer there (SYSENTER's IA32_SYSENTER_ESP
    /// on Linux i386) is not on a stack.
    pub tss_region: Option<u16>,
    /// Breakpoints, watchpoints and `set reg` edits, kept with the engine they run on.
    pub dbg: Debugger,
    /// Privilege changes, exceptions, interrupts and edits along the run, in step order.
    pub events: Vec<TimelineEvent>,
}

fn reg_name(r: iced_x86::Register) -> String {
    format!("{r:?}").to_ascii_lowercase()
}

fn esp0_of(m: &Machine) -> Option<u64> {
    if m.cpu.tr.selector == 0 {
        return None;
    }
    let w = if m.cpu.long_mode_active() { 8 } else { 4 };
    Some(m.peek_lin_le(m.cpu.tr.base.wrapping_add(tss32::ESP0), w))
}

fn summary(m: &Machine, scene: &Scene) -> StateSummary {
    let sp = m.cpu.sp();
    StateSummary {
        ip: m.cpu.rip,
        cpl: m.cpu.cpl(),
        sp,
        sp_user: m
            .mem
            .region_at(sp.wrapping_sub(1))
            .is_some_and(|r| r.perm.user),
        pid: scene
            .scenario
            .task
            .as_ref()
            .and_then(|t| t.current(m))
            .map(|t| t.pid),
        esp0: esp0_of(m),
        sp_region: m
            .mem
            .regions()
            .iter()
            .position(|r| r.contains(sp.wrapping_sub(1)))
            .map(|i| i as u16),
    }
}

/// The writer of the word at `addr` written by `rec`, the step from `before` to `after`.
fn writer_of(rec: &StepRecord, addr: u64, after: &StateSummary, width: u64) -> Writer {
    let delivered = rec
        .events
        .iter()
        .any(|e| matches!(e, Event::Delivered { .. }));
    if delivered {
        let has_error = rec.events.iter().any(|e| {
            matches!(
                e,
                Event::Exception {
                    error_code: Some(_),
                    ..
                }
            )
        }) && !matches!(rec.outcome, Outcome::Interrupt(_));
        let mut k = addr.wrapping_sub(after.sp) / width;
        if has_error {
            if k == 0 {
                return Writer::CpuFrame(FrameSlot::ErrorCode);
            }
            k -= 1;
        }
        return Writer::CpuFrame(match k {
            0 => FrameSlot::Ip,
            1 => FrameSlot::Cs,
            2 => FrameSlot::Flags,
            3 => FrameSlot::Sp,
            _ => FrameSlot::Ss,
        });
    }
    let Some(i) = rec.instr() else {
        return Writer::Other(String::new());
    };
    match i.mnemonic() {
        Mnemonic::Push => match i.op0_kind() {
            OpKind::Register => Writer::SavedReg(reg_name(i.op0_register())),
            OpKind::Immediate8to32
            | OpKind::Immediate8to16
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
            | OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32 => Writer::PushedImm(i.immediate(0)),
            _ => Writer::Other("push".into()),
        },
        Mnemonic::Pushf | Mnemonic::Pushfd | Mnemonic::Pushfq => Writer::SavedFlags,
        Mnemonic::Call => Writer::ReturnAddress,
        Mnemonic::Mov if i.op1_kind() == OpKind::Register => {
            Writer::StoredReg(reg_name(i.op1_register()))
        }
        m => Writer::Other(format!("{m:?}").to_ascii_lowercase()),
    }
}

/// Step `i` of the engine's recorded history, copied out.
fn record_of(engine: &crate::engine::Engine, i: usize) -> Option<StepRecord> {
    let v = engine.step_view(i)?;
    Some(StepRecord {
        ip: v.info.ip,
        next_ip: v.info.next_ip,
        code: v.info.code,
        outcome: v.info.outcome.clone(),
        changes: v.changes.to_vec(),
        events: v.events.to_vec(),
    })
}

impl SceneRun {
    /// Play `scene` and analyse its history.
    pub fn new(scene: &Scene) -> SceneRun {
        SceneRun::counting(scene, &AtomicU64::new(0))
    }

    /// `new`, telling in `progress` how many steps have been played so far.
    pub fn counting(scene: &Scene, progress: &AtomicU64) -> SceneRun {
        let played = play_counting(scene, progress);
        let long = played.initial.cpu.long_mode_active();
        let width = if long { 8 } else { 4 };
        let user_width = if played.initial.cpu.mode() == crate::machine::Mode::Compat {
            4
        } else {
            width
        };
        let thread_size = match scene.scenario.task.map(|t| t.current) {
            Some(crate::scenario::task::CurrentRule::ThreadInfo { thread_size, .. }) => thread_size,
            _ => {
                if long {
                    0x4000
                } else {
                    0x2000
                }
            }
        };
        let tr_base = played.initial.cpu.tr.base;
        let tss_region = (played.initial.cpu.tr.selector != 0)
            .then(|| {
                played
                    .initial
                    .mem
                    .regions()
                    .iter()
                    .position(|r| r.contains(tr_base))
            })
            .flatten()
            .map(|i| i as u16);
        let dbg = Debugger::new(&played.engine);
        let mut run = SceneRun {
            played,
            tss_region,
            steps: Vec::new(),
            states: Vec::new(),
            answers: Vec::new(),
            writes: FxHashMap::default(),
            writers: Vec::new(),
            width,
            user_width,
            thread_size,
            dbg,
            events: Vec::new(),
        };
        run.analyse(scene);
        run.answers = scene
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let q = s.question.as_ref()?;
                let mark = run.played.mark_of(i)?;
                Some(evaluate_question(scene, q, &mut run.played, mark))
            })
            .collect();
        run.played.engine.goto(0);
        run
    }

    /// Gather the step records, state summaries, stack writers and timeline events of
    /// the engine's recorded history; the engine stands at the end of the run and is
    /// left at position 0.
    fn analyse(&mut self, scene: &Scene) {
        let engine = &mut self.played.engine;
        let last = engine.history_len();
        let mut steps = Vec::with_capacity(last);
        for i in 0..last {
            steps.extend(record_of(engine, i));
        }
        self.events = crate::debug::timeline::collect(engine);
        // Walk back to the start, summarising each state.
        let mut states = vec![summary(engine.machine(), scene)];
        while engine.step_back() {
            states.push(summary(engine.machine(), scene));
        }
        states.reverse();
        self.steps = steps;
        self.states = states;
        self.writes = FxHashMap::default();
        self.writers = Vec::new();
        self.index_writes(0);
    }

    /// Note who wrote each memory word in the steps from `from` on.
    fn index_writes(&mut self, from: usize) {
        let width = self.width;
        for (n, rec) in self.steps.iter().enumerate().skip(from) {
            let Some(after) = self.states.get(n + 1) else {
                break;
            };
            for ch in &rec.changes {
                if let Change::Mem { addr, .. } = ch {
                    let word = addr & !3;
                    let slot = addr & !(width - 1);
                    let w = writer_of(rec, slot, after, width);
                    let id = match self.writers.iter().position(|x| *x == w) {
                        Some(p) => p,
                        None => {
                            self.writers.push(w);
                            self.writers.len() - 1
                        }
                    };
                    let list = self.writes.entry(word).or_default();
                    if list.last().map(|l| l.0) != Some(n as u32) {
                        list.push((n as u32, id as u32));
                    }
                }
            }
        }
    }

    /// Analyse the steps the engine ran past the recorded run's end (gdb's `continue`
    /// or `stepi` under `--gdb`), keeping what was gathered before: the new states are
    /// summarised walking back to the old end, then the engine runs forward again.
    fn extend(&mut self, scene: &Scene) {
        let last = self.last_state();
        let engine = &mut self.played.engine;
        let here = engine.history_len();
        for i in last..here {
            self.steps.extend(record_of(engine, i));
        }
        self.events = crate::debug::timeline::collect(engine);
        let mut states = vec![summary(engine.machine(), scene)];
        while engine.history_len() > last + 1 && engine.step_back() {
            states.push(summary(engine.machine(), scene));
        }
        states.reverse();
        self.states.extend(states);
        let _ = self.dbg.goto(engine, here as u64);
        self.played.stop = Stop {
            reason: StopReason::Limit,
            ip: engine.machine().cpu.rip,
            instr: None,
            chain: Default::default(),
        };
        self.index_writes(last);
    }

    /// Run a debugger command line against the engine at `pos`. Movements are kept
    /// inside the recorded run (they stop at its last state); `set reg` plays the scene
    /// again from the edited state and analyses the new history. Returns the output and
    /// the position the engine is at afterwards.
    pub fn command(
        &mut self,
        scene: &Scene,
        pos: usize,
        cmd: &crate::debug::Command,
    ) -> Result<(crate::debug::Output, usize), crate::debug::DebugError> {
        use crate::debug::{Command, DebugError, Output};
        let last = self.last_state();
        if let Command::Goto(n) = cmd {
            if *n as usize > last {
                return Err(DebugError::Refused(format!(
                    "position {n} is past the end of the recorded run (it ends at {last})"
                )));
            }
        }
        self.machine_at(pos);
        // Forward movements stop at the run's end, where the scene stopped.
        self.dbg.set_limit(last.saturating_sub(pos) as u64);
        let out = self.dbg.execute(&mut self.played.engine, cmd);
        self.dbg.set_limit(crate::debug::command::DEFAULT_LIMIT);
        let out = out?;
        if let Output::RegSet { .. } = out {
            self.replay(scene);
        }
        let here = self.played.engine.history_len().min(self.last_state());
        Ok((out, here))
    }

    /// After an edit: run on from the edited position to the scene's end (its stop
    /// addresses, a stop, or its step limit), keep how it ended, analyse the new
    /// history, and come back to the edited position.
    fn replay(&mut self, scene: &Scene) {
        let here = self.played.engine.history_len();
        let max = scene.scenario.max_steps.unwrap_or(1000);
        let e = &mut self.played.engine;
        let stop = match self.dbg.goto(e, max.max(here as u64)) {
            Ok(a) => match a.why {
                crate::debug::Why::Stopped(s) => s,
                _ => Stop {
                    reason: StopReason::Limit,
                    ip: e.machine().cpu.rip,
                    instr: None,
                    chain: Default::default(),
                },
            },
            Err(_) => return,
        };
        self.played.stop = stop;
        self.analyse(scene);
        self.machine_at(here);
    }

    /// After gdb moved or edited the engine (`--gdb`, src/tui/gdblink.rs): when it went
    /// past the recorded run's end or set a register, play on and analyse the history
    /// again, as after `set reg`. The engine stays where gdb left it.
    pub fn follow(&mut self, scene: &Scene, edited: bool) {
        let here = self.played.engine.history_len();
        let _ = self.dbg.record_all(&mut self.played.engine);
        if edited {
            self.replay(scene);
        } else if here > self.last_state() {
            self.extend(scene);
        }
    }

    pub fn last_state(&self) -> usize {
        self.states.len().saturating_sub(1)
    }

    /// Move the engine to `pos` (clamped) and return the machine there. Forward moves go
    /// through the debugger, so `set reg` edits are made again where they were made.
    pub fn machine_at(&mut self, pos: usize) -> &Machine {
        let pos = pos.min(self.last_state());
        if self.played.engine.history_len() != pos {
            let _ = self.dbg.goto(&mut self.played.engine, pos as u64);
        }
        self.played.engine.machine()
    }

    /// Who last wrote the word at `addr` before state `pos`.
    pub fn writer(&self, addr: u64, pos: usize) -> Option<&Writer> {
        let list = self.writes.get(&(addr & !3))?;
        let i = list.partition_point(|(step, _)| (*step as usize) < pos);
        let (_, w) = list.get(i.checked_sub(1)?)?;
        self.writers.get(*w as usize)
    }

    /// The step that last wrote the word at `addr` before state `pos`.
    pub fn written_at(&self, addr: u64, pos: usize) -> Option<usize> {
        let list = self.writes.get(&(addr & !3))?;
        let i = list.partition_point(|(step, _)| (*step as usize) < pos);
        list.get(i.checked_sub(1)?).map(|(s, _)| *s as usize)
    }

    /// How the run ended.
    pub fn stop_reason(&self) -> &StopReason {
        &self.played.stop.reason
    }

    /// The stack pointer of `s` is on a kernel stack (a supervisor region other than the
    /// TSS's).
    pub fn on_kernel_stack(&self, s: &StateSummary) -> bool {
        !s.sp_user && s.sp_region.is_some() && s.sp_region != self.tss_region
    }

    /// The first state after `pos` at which RIP is one of `addrs`.
    pub fn next_at(&self, pos: usize, addrs: &std::collections::BTreeSet<u64>) -> Option<usize> {
        (pos + 1..self.states.len()).find(|&s| addrs.contains(&self.states[s].ip))
    }
}
