//! A GDB Remote Serial Protocol server (`ringstep gdbserver`) over the machine
//! `ringstep trace` would run, built on the gdbstub crate: gdb (or any client of its
//! protocol) reads and writes registers and memory, sets breakpoints and watchpoints,
//! steps, continues, interrupts with Ctrl-C, and goes back with `reverse-stepi` and
//! `reverse-continue`, answered from ringstep's recorded history (src/debug). docs/gdb.md
//! is the user's reference.
//!
//! One client at a time: a second one is told so and closed. A client that leaves
//! leaves the machine where it was, and the server waits for the next. A packet
//! gdbstub cannot parse gets an error reply and the connection goes on.

pub mod access;
pub mod arch;
pub mod infomem;
pub mod listen;
pub mod live;
pub mod memory;
pub mod monitor;
pub mod points;
pub mod regs;
pub mod reverse;
pub mod run;
pub mod target;
pub mod tdesc;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use gdbstub::stub::{DisconnectReason, GdbStub};

use crate::debug::Debugger;
use crate::scenario::Scenario;

use arch::{Amd64, I386};
use target::{GdbTarget, State, X86};

/// The reply to a packet gdbstub could not parse (`E01`, checksum included).
pub const ERROR_REPLY: &[u8] = b"$E01#a6";

/// What a second client is sent before its connection is closed: an error reply with
/// a message (gdb prints the text after `E.`).
pub const BUSY_TEXT: &str = "E.ringstep gdbserver: another gdb is attached; one client at a time";

/// Most packets in a row gdbstub may fail to parse before the connection is closed.
const MAX_BAD_PACKETS: u32 = 1000;

/// The machine of `scenario` with a debugger, as `trace` would start it.
pub fn state_for(scenario: &Scenario) -> State {
    let engine = crate::trace::engine_for(scenario);
    let debugger = Debugger::new(&engine);
    State { engine, debugger }
}

/// A packet: `$TEXT#checksum`.
pub fn packet(text: &str) -> Vec<u8> {
    let sum = text.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${text}#{sum:02x}").into_bytes()
}

/// Listen on `addr` (e.g. 127.0.0.1:1234) and serve `scenario`'s machine to one gdb
/// after another, for ever. `log` gets a line per event (standard error for the CLI).
pub fn serve(scenario: &Scenario, addr: &str, log: &mut dyn Write) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    serve_on(listener, scenario, log)
}

/// `serve` on a listener already bound (a benchmark or test binds port 0 itself).
pub fn serve_on(
    listener: TcpListener,
    scenario: &Scenario,
    log: &mut dyn Write,
) -> Result<(), String> {
    let addr = "the listener";
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let _ = writeln!(
        log,
        "ringstep gdbserver: listening on {local} (gdb -ex 'target remote {local}')"
    );
    let busy = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = Arc::clone(&busy);
    std::thread::spawn(move || accept_loop(listener, flag, tx));
    let mut state = state_for(scenario);
    let wide = enters_long_mode(scenario);
    for stream in rx {
        state = session(state, wide, stream, log);
        busy.store(false, Ordering::SeqCst);
    }
    Err("the listener stopped".to_string())
}

/// Accept clients: the first while none is attached goes to the session loop, any
/// other is refused.
fn accept_loop(listener: TcpListener, busy: Arc<AtomicBool>, tx: mpsc::Sender<TcpStream>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if busy.swap(true, Ordering::SeqCst) {
            let _ = stream.write_all(&packet(BUSY_TEXT));
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            continue;
        }
        if tx.send(stream).is_err() {
            return;
        }
    }
}

/// Steps `enters_long_mode` runs at most.
pub const PROBE_STEPS: u64 = 200_000;

/// Whether `scenario`'s machine is in IA-32e mode or enters it within its first
/// `PROBE_STEPS` steps (a 64-bit kernel booted from 32-bit code): such a machine is
/// served as amd64 from the start, as QEMU's x86-64 target always is.
pub fn enters_long_mode(scenario: &Scenario) -> bool {
    let mut engine = crate::trace::engine_for(scenario);
    let mut ran = 0;
    while !engine.machine().cpu.long_mode_active() {
        if ran >= PROBE_STEPS {
            return false;
        }
        let stop = engine.run_raw(1000);
        if stop.reason != crate::engine::StopReason::Limit {
            return engine.machine().cpu.long_mode_active();
        }
        ran += 1000;
    }
    true
}

/// Serve one client: as amd64 if the machine is in IA-32e mode or `wide` (it enters
/// long mode early in its run), i386 otherwise.
fn session(state: State, wide: bool, stream: TcpStream, log: &mut dyn Write) -> State {
    let peer = stream
        .peer_addr()
        .map_or("a client".to_string(), |a| a.to_string());
    let _ = writeln!(log, "ringstep gdbserver: {peer} attached");
    let state = if wide || state.engine.machine().cpu.long_mode_active() {
        serve_client::<Amd64>(state, &stream, log)
    } else {
        serve_client::<I386>(state, &stream, log)
    };
    let _ = writeln!(
        log,
        "ringstep gdbserver: {peer} detached at position {}; listening",
        state.debugger.position(&state.engine)
    );
    state
}

fn serve_client<A: X86>(state: State, stream: &TcpStream, log: &mut dyn Write) -> State {
    let mut target = GdbTarget::<A>::new(state);
    for _ in 0..MAX_BAD_PACKETS {
        let Ok(conn) = stream.try_clone() else { break };
        match GdbStub::new(conn).run_blocking::<run::Loop<A>>(&mut target) {
            Ok(reason) => {
                let _ = writeln!(log, "ringstep gdbserver: {}", disconnect_text(reason));
                break;
            }
            Err(e) if e.is_connection_error() => {
                let _ = writeln!(log, "ringstep gdbserver: connection lost: {e}");
                break;
            }
            Err(e) => {
                // A packet gdbstub could not take: say so and go on with a new stub on
                // the same connection.
                let _ = writeln!(log, "ringstep gdbserver: bad packet: {e}");
                let mut s = stream;
                if s.write_all(ERROR_REPLY).and_then(|_| s.flush()).is_err() {
                    break;
                }
            }
        }
    }
    target.into_state()
}

fn disconnect_text(r: DisconnectReason) -> String {
    match r {
        DisconnectReason::Disconnect => "client detached".to_string(),
        DisconnectReason::Kill => "client sent kill (the machine stays as it is)".to_string(),
        DisconnectReason::TargetExited(c) => format!("target exited with {c}"),
        DisconnectReason::TargetTerminated(s) => format!("target terminated by {s}"),
    }
}
