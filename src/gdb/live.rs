//! gdb's remote protocol inside another program's event loop (the viewer's `--gdb`):
//! the program owns the machine (an engine and its debugger) and lends it to `Live`
//! for each thing gdb sent (`Live::input`) and for each chunk of a `continue`
//! (`Live::chunk`, at most `LIVE_CHUNK` steps, so the program stays responsive between
//! chunks). gdbstub's state machine parses the packets; the target is the same
//! `GdbTarget` as `ringstep gdbserver`'s, which holds the lent engine and debugger only
//! while it works (they are swapped in and out: no copy, no lock).
//!
//! The program may move the machine itself between two of gdb's commands; gdb reads
//! the registers again after its next stop (or `maint flush register-cache`).

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use super::arch::{Amd64, I386};
use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{GdbStub, SingleThreadStopReason};

use crate::debug::Debugger;
use crate::engine::Engine;
use crate::machine::Machine;

use super::listen::GdbInput;
use super::run::{self, Stop};
use super::target::{GdbTarget, Resume, State, X86};

/// The most steps one `continue` from gdb runs in the viewer (each is kept for its
/// timeline), then gdb sees SIGTRAP and may `continue` again.
pub const MAX_LIVE_CONTINUE: u64 = 100_000;

/// Steps of a `continue` between two looks at the program's other work (the viewer
/// analyses and draws them between chunks).
pub const LIVE_CHUNK: u64 = 5_000;

/// Most unparsable packets in a row before a client is dropped.
const MAX_BAD_PACKETS: u32 = 1000;

/// The machine, lent by the program.
pub struct Lent<'a> {
    pub engine: &'a mut Engine,
    pub debugger: &'a mut Debugger,
}

/// Where the server stands, for the program to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Listening,
    /// A client is attached (its address), and whether its `continue` runs.
    Attached {
        peer: String,
        running: bool,
    },
}

/// What happened last to a client, for the program to tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Attached(String),
    /// The client and why it left.
    Left(String, String),
    /// A second client, refused.
    Refused(String),
    /// A client the session could not start for (its address, why).
    Failed(String, String),
}

/// What an input or chunk did that the program may want to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    /// gdb wrote registers or memory.
    pub wrote: bool,
    /// A movement ended (gdb was told where).
    pub stopped: bool,
    /// A client came, went or was refused.
    pub client: bool,
}

type Sm<A> = GdbStubStateMachine<'static, GdbTarget<A>, TcpStream>;

/// One client's session in architecture `A`.
struct Session<A: X86> {
    target: GdbTarget<A>,
    stub: Option<Sm<A>>,
    conn: Arc<TcpStream>,
    /// While a `continue` runs: the position it started at.
    run_start: Option<u64>,
    bad: u32,
    /// The last byte was a packet's `$`: the next names the packet.
    at_start: bool,
}

/// A stand-in machine the target holds while the real one is with the program.
fn stand_in() -> State {
    let engine = Engine::new(Machine::new());
    let debugger = Debugger::new(&engine);
    State { engine, debugger }
}

fn fail<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl<A: X86> Session<A> {
    fn new(conn: Arc<TcpStream>) -> Result<Self, String> {
        let mut target = GdbTarget::new(stand_in());
        let stub = GdbStub::new(conn.try_clone().map_err(fail)?)
            .run_state_machine(&mut target)
            .map_err(fail)?;
        Ok(Session {
            target,
            stub: Some(stub),
            conn,
            run_start: None,
            bad: 0,
            at_start: false,
        })
    }

    /// Run `f` with the lent machine in the target.
    fn lend<R>(&mut self, m: &mut Lent, f: impl FnOnce(&mut Self) -> R) -> R {
        std::mem::swap(&mut self.target.st.engine, m.engine);
        std::mem::swap(&mut self.target.st.debugger, m.debugger);
        let r = f(self);
        std::mem::swap(&mut self.target.st.engine, m.engine);
        std::mem::swap(&mut self.target.st.debugger, m.debugger);
        r
    }

    /// One byte from gdb. Err: the client is gone (why).
    fn byte(&mut self, b: u8, effect: &mut Effect) -> Result<(), String> {
        if self.at_start && matches!(b, b'M' | b'X' | b'G' | b'P') {
            effect.wrote = true;
        }
        self.at_start = b == b'$';
        let next = match self.stub.take() {
            Some(GdbStubStateMachine::Idle(s)) => s.incoming_data(&mut self.target, b),
            Some(GdbStubStateMachine::Running(s)) => s.incoming_data(&mut self.target, b),
            Some(GdbStubStateMachine::CtrlCInterrupt(s)) => {
                s.interrupt_handled(&mut self.target, Some(Stop::<A>::Signal(Signal::SIGINT)))
            }
            Some(GdbStubStateMachine::Disconnected(s)) => {
                return Err(super::disconnect_text(s.get_reason()))
            }
            None => return Err("the session ended".to_string()),
        };
        match next {
            Ok(sm) => {
                self.bad = 0;
                self.stub = Some(sm);
                self.settle(effect)
            }
            Err(e) if e.is_connection_error() => Err(format!("connection lost: {e}")),
            Err(_) => self.bad_packet(),
        }
    }

    /// A packet gdbstub could not take: an error reply, and a new stub on the same
    /// connection.
    fn bad_packet(&mut self) -> Result<(), String> {
        use std::io::Write;
        self.bad += 1;
        let mut c: &TcpStream = &self.conn;
        if self.bad > MAX_BAD_PACKETS || c.write_all(super::ERROR_REPLY).is_err() {
            return Err("too many bad packets".to_string());
        }
        self.run_start = None;
        let conn = self.conn.try_clone().map_err(fail)?;
        let stub = GdbStub::new(conn)
            .run_state_machine(&mut self.target)
            .map_err(fail)?;
        self.stub = Some(stub);
        Ok(())
    }

    /// Carry out what the stub now waits for: an interrupt, a movement that ends at
    /// once, or the start of a `continue` (run later in chunks).
    fn settle(&mut self, effect: &mut Effect) -> Result<(), String> {
        loop {
            let next = match self.stub.take() {
                Some(GdbStubStateMachine::CtrlCInterrupt(s)) => {
                    self.run_start = None;
                    effect.stopped = true;
                    let stop = Stop::<A>::Signal(Signal::SIGINT);
                    s.interrupt_handled(&mut self.target, Some(stop))
                }
                Some(GdbStubStateMachine::Running(s)) if self.run_start.is_none() => {
                    let resume = self.target.resume.take();
                    if resume == Some(Resume::Continue) {
                        let st = &self.target.st;
                        self.run_start = Some(st.debugger.position(&st.engine));
                        self.stub = Some(GdbStubStateMachine::Running(s));
                        return Ok(());
                    }
                    effect.stopped = true;
                    let stop = run::immediate(&mut self.target, resume);
                    s.report_stop(&mut self.target, stop)
                }
                Some(GdbStubStateMachine::Disconnected(s)) => {
                    return Err(super::disconnect_text(s.get_reason()))
                }
                other => {
                    self.stub = other;
                    return Ok(());
                }
            };
            self.stub = Some(next.map_err(fail)?);
        }
    }

    /// Report `stop` for the `continue` that runs.
    fn report(&mut self, stop: Stop<A>) -> Result<(), String> {
        self.run_start = None;
        match self.stub.take() {
            Some(GdbStubStateMachine::Running(s)) => {
                self.stub = Some(s.report_stop(&mut self.target, stop).map_err(fail)?);
                Ok(())
            }
            other => {
                self.stub = other;
                Ok(())
            }
        }
    }
}

/// The session of either architecture, for `Live`.
trait Serve {
    fn feed(&mut self, m: &mut Lent, bytes: &[u8]) -> Result<Effect, String>;
    fn chunk(&mut self, m: &mut Lent) -> Result<Effect, String>;
    fn interrupt(&mut self, m: &mut Lent) -> Result<(), String>;
    fn running(&self) -> bool;
    /// The client left: its breakpoints and watchpoints go.
    fn leave(&mut self, m: &mut Lent);
}

impl<A: X86> Serve for Session<A> {
    fn feed(&mut self, m: &mut Lent, bytes: &[u8]) -> Result<Effect, String> {
        self.lend(m, |s| {
            let mut effect = Effect::default();
            for &b in bytes {
                s.byte(b, &mut effect)?;
            }
            Ok(effect)
        })
    }

    fn chunk(&mut self, m: &mut Lent) -> Result<Effect, String> {
        let Some(start) = self.run_start else {
            return Ok(Effect::default());
        };
        self.lend(m, |s| {
            match run::chunk(&mut s.target, start, MAX_LIVE_CONTINUE, LIVE_CHUNK) {
                Some(stop) => s.report(stop).map(|_| Effect {
                    stopped: true,
                    ..Effect::default()
                }),
                None => Ok(Effect::default()),
            }
        })
    }

    fn interrupt(&mut self, m: &mut Lent) -> Result<(), String> {
        if self.run_start.is_none() {
            return Ok(());
        }
        self.lend(m, |s| {
            s.report(SingleThreadStopReason::Signal(Signal::SIGINT))
        })
    }

    fn running(&self) -> bool {
        self.run_start.is_some()
    }

    fn leave(&mut self, m: &mut Lent) {
        self.lend(m, |s| s.target.points.clear(&mut s.target.st.debugger));
        let _ = self.conn.shutdown(Shutdown::Both);
    }
}

struct Client {
    id: u64,
    peer: String,
    serve: Box<dyn Serve + Send>,
}

/// The server's side in the program: at most one client, answered over the lent
/// machine.
#[derive(Default)]
pub struct Live {
    client: Option<Client>,
    /// What happened last to a client, for the program to show.
    pub last_event: Option<ClientEvent>,
    /// Serve amd64 even while the machine runs 32-bit code (it enters long mode early
    /// in its run: `gdb::enters_long_mode`), as `gdbserver` does.
    pub wide: bool,
}

impl Live {
    /// No client yet; `wide` as the field says.
    pub fn new(wide: bool) -> Live {
        Live {
            wide,
            ..Live::default()
        }
    }

    pub fn status(&self) -> Status {
        match &self.client {
            None => Status::Listening,
            Some(c) => Status::Attached {
                peer: c.peer.clone(),
                running: c.serve.running(),
            },
        }
    }

    /// A `continue` from gdb is running: the program should call `chunk` soon.
    pub fn running(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.serve.running())
    }

    /// Take what the network threads sent.
    pub fn input(&mut self, m: &mut Lent, input: GdbInput) -> Effect {
        let client = Effect {
            client: true,
            ..Effect::default()
        };
        match input {
            GdbInput::Attached { id, conn, peer } => {
                self.drop_client(m, "replaced");
                // amd64 for a machine in or soon in long mode, i386 otherwise (as
                // `gdbserver`).
                let serve: Result<Box<dyn Serve + Send>, String> =
                    if self.wide || m.engine.machine().cpu.long_mode_active() {
                        Session::<Amd64>::new(conn.0).map(|s| Box::new(s) as Box<dyn Serve + Send>)
                    } else {
                        Session::<I386>::new(conn.0).map(|s| Box::new(s) as Box<dyn Serve + Send>)
                    };
                match serve {
                    Ok(serve) => {
                        self.last_event = Some(ClientEvent::Attached(peer.clone()));
                        self.client = Some(Client { id, peer, serve });
                    }
                    Err(e) => self.last_event = Some(ClientEvent::Failed(peer, e)),
                }
                client
            }
            GdbInput::Data { id, bytes } => self.with_client(m, id, |s, m| s.feed(m, &bytes)),
            GdbInput::Closed { id } => {
                if self.client.as_ref().is_some_and(|c| c.id == id) {
                    self.drop_client(m, "detached");
                }
                client
            }
            GdbInput::Refused { peer } => {
                self.last_event = Some(ClientEvent::Refused(peer));
                client
            }
        }
    }

    /// One chunk of the `continue` that runs, if one does.
    pub fn chunk(&mut self, m: &mut Lent) -> Effect {
        let Some(id) = self.client.as_ref().map(|c| c.id) else {
            return Effect::default();
        };
        self.with_client(m, id, |s, m| s.chunk(m))
    }

    /// Stop the `continue` that runs (gdb sees SIGINT), before the program moves the
    /// machine itself.
    pub fn interrupt(&mut self, m: &mut Lent) {
        if let Some(c) = &mut self.client {
            if let Err(e) = c.serve.interrupt(m) {
                self.drop_client(m, &e);
            }
        }
    }

    fn with_client(
        &mut self,
        m: &mut Lent,
        id: u64,
        f: impl FnOnce(&mut dyn Serve, &mut Lent) -> Result<Effect, String>,
    ) -> Effect {
        let Some(c) = self.client.as_mut().filter(|c| c.id == id) else {
            return Effect::default();
        };
        match f(c.serve.as_mut(), m) {
            Ok(e) => e,
            Err(why) => {
                self.drop_client(m, &why);
                Effect {
                    client: true,
                    stopped: true,
                    ..Effect::default()
                }
            }
        }
    }

    /// The client is gone: the machine stays where it is.
    fn drop_client(&mut self, m: &mut Lent, why: &str) {
        if let Some(mut c) = self.client.take() {
            c.serve.leave(m);
            self.last_event = Some(ClientEvent::Left(c.peer, why.to_string()));
        }
    }
}
