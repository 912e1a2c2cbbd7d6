//! Carrying out gdb's movements and telling it where they ended. `continue` runs in
//! chunks of `CHUNK` steps, looking at the connection between chunks, so that gdb's
//! Ctrl-C (a 0x03 byte) stops the machine within a chunk's time; reverse movements are
//! the debugger's `reverse-step` and `reverse-continue` over the recorded history.

use std::marker::PhantomData;
use std::net::TcpStream;

use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::SingleThreadStopReason;
use gdbstub::target::ext::breakpoints::WatchKind;

use crate::debug::{Arrival, Why};
use crate::engine::StopReason;

use super::access;
use super::points::Kind;
use super::target::{GdbTarget, Resume, State, X86};

/// Steps run between two looks at the connection during `continue`.
pub const CHUNK: u64 = 20_000;

pub type Stop<A> = SingleThreadStopReason<<A as gdbstub::arch::Arch>::Usize>;

/// gdbstub's blocking event loop for a `GdbTarget<A>` on a TCP connection.
pub struct Loop<A>(PhantomData<A>);

impl<A: X86> BlockingEventLoop for Loop<A> {
    type Target = GdbTarget<A>;
    type Connection = TcpStream;
    type StopReason = Stop<A>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut GdbTarget<A>,
        conn: &mut TcpStream,
    ) -> Result<Event<Stop<A>>, WaitForStopReasonError<String, std::io::Error>> {
        match target.resume.take() {
            Some(Resume::Continue) => cont(target, conn),
            other => Ok(Event::TargetStopped(immediate(target, other))),
        }
    }

    fn on_interrupt(_target: &mut GdbTarget<A>) -> Result<Option<Stop<A>>, String> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

pub(super) fn usize_of<A: X86>(a: u64) -> A::Usize {
    num_traits::FromPrimitive::from_u64(a)
        .or_else(|| num_traits::FromPrimitive::from_u64(a & 0xffff_ffff))
        .unwrap_or_else(num_traits::Zero::zero)
}

/// A movement that ends at once: `stepi`, `reverse-stepi`, `reverse-continue` (bounded
/// by the recorded history), or none (SIGTRAP). `continue` runs in chunks (`chunk`) and
/// is taken here as one step.
pub fn immediate<A: X86>(target: &mut GdbTarget<A>, r: Option<Resume>) -> Stop<A> {
    match r {
        Some(Resume::Step) | Some(Resume::Continue) => step(target),
        Some(Resume::ReverseStep) => {
            let State { engine, debugger } = &mut target.st;
            let a = debugger.reverse_step(engine, 1);
            reverse_stop(target, a)
        }
        Some(Resume::ReverseContinue) if !target.points.access.is_empty() => {
            super::reverse::reverse_continue(target)
        }
        Some(Resume::ReverseContinue) => {
            let State { engine, debugger } = &mut target.st;
            let a = debugger.reverse_cont(engine);
            reverse_stop(target, a)
        }
        None => SingleThreadStopReason::Signal(Signal::SIGTRAP),
    }
}

/// `stepi`: one step, whatever breakpoints say.
fn step<A: X86>(t: &mut GdbTarget<A>) -> Stop<A> {
    let State { engine, debugger } = &mut t.st;
    let to = debugger.position(engine) + 1;
    match debugger.goto(engine, to) {
        Ok(Arrival {
            why: Why::Stopped(s),
            ..
        }) => engine_stop::<A>(&s.reason),
        _ => SingleThreadStopReason::DoneStep,
    }
}

/// The most steps one `continue` runs (every step is recorded, for the reverse
/// commands): as many as one debugger command in the viewer. gdb then sees SIGTRAP,
/// and `continue` goes on.
pub const MAX_CONTINUE: u64 = crate::debug::command::DEFAULT_LIMIT;

/// `continue`: chunk after chunk until something stops the run, gdb sends a byte, or
/// `MAX_CONTINUE` steps were run.
fn cont<A: X86>(
    t: &mut GdbTarget<A>,
    conn: &mut TcpStream,
) -> Result<Event<Stop<A>>, WaitForStopReasonError<String, std::io::Error>> {
    let start = t.st.debugger.position(&t.st.engine);
    loop {
        if let Some(stop) = chunk(t, start, MAX_CONTINUE, CHUNK) {
            return Ok(Event::TargetStopped(stop));
        }
        if conn.peek().map(|b| b.is_some()).unwrap_or(true) {
            let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
            return Ok(Event::IncomingData(byte));
        }
    }
}

/// One chunk (at most `steps` steps) of a `continue` that started at position `start`:
/// the stop, if something stopped the run or `max` steps have been run since `start`.
pub fn chunk<A: X86>(t: &mut GdbTarget<A>, start: u64, max: u64, steps: u64) -> Option<Stop<A>> {
    if t.st.debugger.position(&t.st.engine).saturating_sub(start) >= max {
        return Some(SingleThreadStopReason::Signal(Signal::SIGTRAP));
    }
    let left = max - t.st.debugger.position(&t.st.engine).saturating_sub(start);
    let why = if t.points.access.is_empty() {
        let State { engine, debugger } = &mut t.st;
        debugger.set_limit(steps.min(left));
        let a = debugger.cont(engine);
        debugger.set_limit(crate::debug::command::DEFAULT_LIMIT);
        Ok(a.why)
    } else {
        access_chunk(t, steps.min(left))
    };
    match why {
        Ok(Why::Limit) => None,
        Ok(why) => Some(forward_stop(t, &why)),
        Err(stop) => Some(stop),
    }
}

/// A chunk of single steps, looking at each instruction's memory operands first for
/// the read and access watchpoints. Err is such a hit, reported after the step.
fn access_chunk<A: X86>(t: &mut GdbTarget<A>, steps: u64) -> Result<Why, Stop<A>> {
    let State { engine, debugger } = &mut t.st;
    for _ in 0..steps {
        let accesses = access::next_accesses(engine.machine());
        let hit = access::hit(&t.points.access, &accesses);
        let a = debugger.step(engine, 1);
        if a.why != Why::Done {
            return Ok(a.why);
        }
        if let Some((w, at)) = hit {
            let kind = if w.writes_too {
                WatchKind::ReadWrite
            } else {
                WatchKind::Read
            };
            return Err(SingleThreadStopReason::Watch {
                tid: (),
                kind,
                addr: usize_of::<A>(at),
            });
        }
    }
    Ok(Why::Limit)
}

/// The stop reply for the end of a forward movement.
fn forward_stop<A: X86>(t: &GdbTarget<A>, why: &Why) -> Stop<A> {
    match why {
        Why::Breakpoint(id) => match t.points.kind_of(*id) {
            Some(Kind::Hard) => SingleThreadStopReason::HwBreak(()),
            _ => SingleThreadStopReason::SwBreak(()),
        },
        Why::Watch(h) => match h.watch {
            crate::debug::points::Watch::Mem { addr, .. } => SingleThreadStopReason::Watch {
                tid: (),
                kind: WatchKind::Write,
                addr: usize_of::<A>(addr),
            },
            _ => SingleThreadStopReason::Signal(Signal::SIGTRAP),
        },
        Why::Stopped(s) => engine_stop::<A>(&s.reason),
        _ => SingleThreadStopReason::Signal(Signal::SIGTRAP),
    }
}

/// The stop reply for a reverse movement: the breakpoint or watchpoint it came back
/// to, done, or the beginning of the recorded history.
pub(super) fn reverse_stop<A: X86>(
    t: &GdbTarget<A>,
    a: Result<Arrival, crate::debug::DebugError>,
) -> Stop<A> {
    use gdbstub::target::ext::base::reverse_exec::ReplayLogPosition;
    match a {
        Ok(Arrival {
            why: Why::StartOfHistory,
            ..
        }) => SingleThreadStopReason::ReplayLog {
            tid: None,
            pos: ReplayLogPosition::Begin,
        },
        Ok(Arrival { why: Why::Done, .. }) => SingleThreadStopReason::DoneStep,
        Ok(a) => forward_stop(t, &a.why),
        Err(_) => SingleThreadStopReason::Signal(Signal::SIGTRAP),
    }
}

/// What gdb is told when the engine stops: a fault without a handler is SIGSEGV, an
/// instruction ringstep does not model SIGILL, the end of the scenario, a halt or
/// isa-debug-exit SIGTRAP (the machine stays there, and gdb can still go back).
fn engine_stop<A: X86>(r: &StopReason) -> Stop<A> {
    let signal = match r {
        StopReason::Fault(_) => Signal::SIGSEGV,
        StopReason::Unsupported(_) => Signal::SIGILL,
        _ => Signal::SIGTRAP,
    };
    SingleThreadStopReason::Signal(signal)
}
