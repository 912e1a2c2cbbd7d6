//! ringstep: an x86 machine for watching system calls cross from user mode into the
//! kernel and back, one instruction at a time.
//!
//! `machine` holds state as plain data; `engine` executes instructions on it.
//!
//! Layers, each using only those below it (tests/layers.rs checks every `crate::`
//! path): `machine`, `usage` and `userfile`; `asm`, `disasm`; `engine`; `scenario`; `lesson`,
//! `trace`; `debug`, `load`; `gdb`; `tui`; `export`; and `cli` on top, which nothing imports
//! (only `main.rs`).

pub mod asm;
pub mod cli;
pub mod debug;
pub mod disasm;
pub mod engine;
pub mod export;
pub mod gdb;
pub mod lesson;
pub mod load;
pub mod machine;
pub mod scenario;
pub mod trace;
pub mod tui;
pub mod usage;
pub mod userfile;
