//! A debugger over the engine, without any user interface: breakpoints (on addresses or
//! symbols, with a register condition), watchpoints (memory, registers, MSRs), runs
//! until the CPL changes or an exception is raised, stepping over calls, and time
//! travel through the engine's recorded history (reverse step and continue, goto, and
//! editing a register at a position). Commands are written in a small language
//! (`spec`), run by `Debugger` (`command`), and completed by `complete`. The viewer
//! draws what these return; docs/debugging.md is the reference.

pub mod catalogue;
mod catalogue_debug;
mod catalogue_engine;
pub mod command;
pub mod complete;
pub mod dump;
pub mod inspect;
pub mod lang;
pub mod pagetable;
pub mod points;
pub mod regs;
pub mod script;
pub mod search;
pub mod spec;
pub mod timeline;

pub use command::{Arrival, DebugError, Debugger, Output, Why};
pub use complete::{complete, completion, Completion};
pub use spec::{parse, Command, ParseError};
