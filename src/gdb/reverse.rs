//! `reverse-continue` with read or access watchpoints (gdb's Z3/Z4). The history
//! records what each step wrote, not what it read; so, as `run::access_chunk` does
//! going forward, the instruction of each step is decoded again at the state before it
//! (`access::next_accesses`), here walking back one step at a time. The walk goes no
//! further back than where the debugger's own reverse-continue stops (a breakpoint, a
//! write watchpoint, or the start of the history).

use gdbstub::stub::SingleThreadStopReason;
use gdbstub::target::ext::breakpoints::WatchKind;

use super::access;
use super::run::{reverse_stop, usize_of, Stop};
use super::target::{GdbTarget, State, X86};

/// Back to the latest step that read (or, for an access watchpoint, wrote) watched
/// memory, or to where breakpoints and write watchpoints stop, whichever is later.
pub fn reverse_continue<A: X86>(t: &mut GdbTarget<A>) -> Stop<A> {
    let State { engine, debugger } = &mut t.st;
    let from = debugger.position(engine);
    // Where the debugger stops; then forward again (the run is deterministic: the
    // same steps are played again, register edits included) and back step by step.
    let floor_arrival = debugger.reverse_cont(engine);
    let floor = debugger.position(engine);
    if floor >= from || debugger.goto(engine, from).is_err() {
        return reverse_stop(t, floor_arrival);
    }
    for pos in (floor..from).rev() {
        if debugger.goto(engine, pos).is_err() {
            break;
        }
        let accesses = access::next_accesses(engine.machine());
        if let Some((w, at)) = access::hit(&t.points.access, &accesses) {
            let kind = if w.writes_too {
                WatchKind::ReadWrite
            } else {
                WatchKind::Read
            };
            return SingleThreadStopReason::Watch {
                tid: (),
                kind,
                addr: usize_of::<A>(at),
            };
        }
    }
    let _ = debugger.goto(engine, floor);
    reverse_stop(t, floor_arrival)
}
