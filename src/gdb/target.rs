//! The gdbstub `Target`: ringstep's engine and debugger behind gdb's packets. The
//! machine and its history live in `State`, which outlives every connection; a
//! `GdbTarget` holds it for one connection, with that connection's breakpoints and the
//! movement gdb asked for last (carried out by `run::wait`).

use std::marker::PhantomData;

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::target::ext::base::reverse_exec::{
    ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};

use crate::debug::Debugger;
use crate::engine::sysreg;
use crate::engine::Engine;

use super::arch::{decode, encode, Layout, RegNum, Regs};
use super::points::{GdbPoints, Kind};
use super::regs;
use super::regs::{Edit, Refusal};
use super::{memory, monitor};

/// The machine gdb drives, kept between connections.
pub struct State {
    pub engine: Engine,
    pub debugger: Debugger,
}

/// The movement gdb asked for, done when gdbstub waits for the stop (`run::wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    Step,
    Continue,
    ReverseStep,
    ReverseContinue,
}

/// The architectures the server offers: ringstep's i386 and amd64 (`arch`).
pub trait X86:
    Arch<BreakpointKind = usize, Registers = Regs<Self>, RegId = RegNum<Self>> + Layout + Sized
{
}

impl X86 for super::arch::I386 {}

impl X86 for super::arch::Amd64 {}

/// One connection's view of the machine.
pub struct GdbTarget<A> {
    pub st: State,
    pub points: GdbPoints,
    pub resume: Option<Resume>,
    /// Why the last register write was refused (the server logs it).
    pub refused: Option<String>,
    arch: PhantomData<A>,
}

impl<A: X86> GdbTarget<A> {
    pub fn new(st: State) -> Self {
        GdbTarget {
            st,
            points: GdbPoints::default(),
            resume: None,
            refused: None,
            arch: PhantomData,
        }
    }

    /// The state back, without this connection's breakpoints and watchpoints.
    pub fn into_state(mut self) -> State {
        self.points.clear(&mut self.st.debugger);
        self.st
    }
}

impl<A: X86> GdbTarget<A> {
    /// Make the register writes gdb asked for, or answer with the refusal's error
    /// number (the reason is kept for `monitor why`).
    fn apply(&mut self, edits: Result<Vec<Edit>, Refusal>) -> TargetResult<(), Self> {
        let edits = edits.map_err(|r| self.refuse(r))?;
        for e in edits {
            self.apply_one(e).map_err(|r| self.refuse(r))?;
        }
        Ok(())
    }

    fn refuse(&mut self, r: Refusal) -> TargetError<String> {
        let errno = r.errno();
        self.refused = Some(r.text().to_string());
        TargetError::Errno(errno)
    }

    /// One write: a debugger `set reg`, or a system register written by hand as its
    /// instruction would write it (journaled at the current position, as memory
    /// writes are).
    fn apply_one(&mut self, e: Edit) -> Result<(), Refusal> {
        let State { engine, debugger } = &mut self.st;
        let invalid = |e: crate::debug::DebugError| Refusal::Invalid(e.to_string());
        match e {
            Edit::Reg(reg, v) => debugger
                .set_reg(engine, reg, v)
                .map(|_| ())
                .map_err(invalid),
            Edit::System(reg, v) => {
                debugger.record_all(engine).map_err(invalid)?;
                let changes = sysreg::edit_changes(engine.machine(), reg, v)
                    .map_err(|e| Refusal::Fault(e.reason.to_string()))?;
                engine.edit(&changes);
                Ok(())
            }
        }
    }
}

impl<A: X86> SingleRegisterAccess<()> for GdbTarget<A> {
    fn read_register(&mut self, _: (), n: RegNum<A>, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let def = A::defs().get(n.0).ok_or(TargetError::Errno(22))?;
        let value = regs::read(def, self.st.engine.machine());
        let mut len = 0;
        encode(def, value, |b| {
            if let Some(slot) = buf.get_mut(len) {
                *slot = b;
                len += 1;
            }
        });
        Ok(len)
    }

    fn write_register(&mut self, _: (), n: RegNum<A>, val: &[u8]) -> TargetResult<(), Self> {
        let def = A::defs().get(n.0).ok_or(TargetError::Errno(22))?;
        let value = decode(def, val).ok_or(TargetError::Errno(22))?;
        let edit = regs::edit(def, self.st.engine.machine(), value);
        self.apply(edit.map(|e| e.into_iter().collect()))
    }
}

fn addr<A: X86>(a: A::Usize) -> u64 {
    num_traits::ToPrimitive::to_u64(&a).unwrap_or(0)
}

impl<A: X86> Target for GdbTarget<A> {
    type Arch = A;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, A, String> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

impl<A: X86> SingleThreadBase for GdbTarget<A> {
    fn read_registers(&mut self, r: &mut Regs<A>) -> TargetResult<(), Self> {
        *r = regs::load(self.st.engine.machine());
        Ok(())
    }

    fn write_registers(&mut self, r: &Regs<A>) -> TargetResult<(), Self> {
        let edits = regs::changes(r, self.st.engine.machine());
        self.apply(edits)
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, (), Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: A::Usize, data: &mut [u8]) -> TargetResult<usize, Self> {
        let n = memory::read(self.st.engine.machine(), addr::<A>(start), data);
        if n == 0 && !data.is_empty() {
            return Err(TargetError::Errno(14));
        }
        Ok(n)
    }

    fn write_addrs(&mut self, start: A::Usize, data: &[u8]) -> TargetResult<(), Self> {
        let State { engine, debugger } = &mut self.st;
        debugger
            .record_all(engine)
            .map_err(|_| TargetError::Errno(5))?;
        memory::write(engine, addr::<A>(start), data).map_err(|_| TargetError::Errno(14))
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

/// gdb may pass a signal on resuming; the machine has no signals to deliver.
fn no_signal(signal: Option<Signal>) -> Result<(), String> {
    match signal {
        None => Ok(()),
        Some(s) => Err(format!("cannot deliver signal {s} to a machine")),
    }
}

impl<A: X86> SingleThreadResume for GdbTarget<A> {
    fn resume(&mut self, signal: Option<Signal>) -> Result<(), String> {
        no_signal(signal)?;
        self.resume = Some(Resume::Continue);
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, (), Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, (), Self>> {
        Some(self)
    }
}

impl<A: X86> SingleThreadSingleStep for GdbTarget<A> {
    fn step(&mut self, signal: Option<Signal>) -> Result<(), String> {
        no_signal(signal)?;
        self.resume = Some(Resume::Step);
        Ok(())
    }
}

impl<A: X86> ReverseStep<()> for GdbTarget<A> {
    fn reverse_step(&mut self, _tid: ()) -> Result<(), String> {
        self.resume = Some(Resume::ReverseStep);
        Ok(())
    }
}

impl<A: X86> ReverseCont<()> for GdbTarget<A> {
    fn reverse_cont(&mut self) -> Result<(), String> {
        self.resume = Some(Resume::ReverseContinue);
        Ok(())
    }
}

impl<A: X86> Breakpoints for GdbTarget<A> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl<A: X86> SwBreakpoint for GdbTarget<A> {
    fn add_sw_breakpoint(&mut self, at: A::Usize, _k: usize) -> TargetResult<bool, Self> {
        Ok(self
            .points
            .add(&mut self.st.debugger, Kind::Soft, addr::<A>(at), 1))
    }

    fn remove_sw_breakpoint(&mut self, at: A::Usize, _k: usize) -> TargetResult<bool, Self> {
        Ok(self
            .points
            .remove(&mut self.st.debugger, Kind::Soft, addr::<A>(at), 1))
    }
}

impl<A: X86> HwBreakpoint for GdbTarget<A> {
    fn add_hw_breakpoint(&mut self, at: A::Usize, _k: usize) -> TargetResult<bool, Self> {
        Ok(self
            .points
            .add(&mut self.st.debugger, Kind::Hard, addr::<A>(at), 1))
    }

    fn remove_hw_breakpoint(&mut self, at: A::Usize, _k: usize) -> TargetResult<bool, Self> {
        Ok(self
            .points
            .remove(&mut self.st.debugger, Kind::Hard, addr::<A>(at), 1))
    }
}

/// The longest range one watchpoint may cover.
const MAX_WATCH_LEN: u64 = 4096;

impl<A: X86> HwWatchpoint for GdbTarget<A> {
    fn add_hw_watchpoint(
        &mut self,
        at: A::Usize,
        len: A::Usize,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let (at, len) = (addr::<A>(at), addr::<A>(len));
        if len == 0 || len > MAX_WATCH_LEN {
            return Ok(false);
        }
        Ok(match kind {
            WatchKind::Write => self.points.add(&mut self.st.debugger, Kind::Write, at, len),
            k => self.points.add_access(k, at, len),
        })
    }

    fn remove_hw_watchpoint(
        &mut self,
        at: A::Usize,
        len: A::Usize,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let (at, len) = (addr::<A>(at), addr::<A>(len));
        Ok(match kind {
            WatchKind::Write => self
                .points
                .remove(&mut self.st.debugger, Kind::Write, at, len),
            k => self.points.remove_access(k, at, len),
        })
    }
}

impl<A: X86> MonitorCmd for GdbTarget<A> {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), String> {
        let line = String::from_utf8_lossy(cmd);
        let text = if line.trim() == "why" {
            // Why gdb's last register write got an error reply.
            let why = self.refused.as_deref();
            why.unwrap_or("no register write was refused").to_string()
        } else {
            monitor::run(&mut self.st, &line)
        };
        for line in text.lines() {
            out.write_raw(line.as_bytes());
            out.write_raw(b"\n");
        }
        Ok(())
    }
}
