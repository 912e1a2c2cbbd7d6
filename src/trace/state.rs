//! The machine's state where a quiet trace (`ringstep trace --quiet`) stopped: a JSON
//! `state` record, or a few lines of registers, written just before the stop record.

use std::io;

use serde_json::{Map, Value};

use crate::machine::{flags, Machine, SegReg};

use super::json::{machine_fields, mode_name};
use super::{Format, Writer};

/// The `state` record: the registers after `steps` steps (the memory is left out).
pub fn record(m: &Machine, steps: u64) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), "state".into());
    out.insert("steps".into(), steps.into());
    machine_fields(&mut out, m);
    Value::Object(out)
}

/// The state as text: a heading, the general registers (eight a line), the
/// instruction pointer and flags, the segment selectors and the control registers.
pub fn lines(m: &Machine, steps: u64) -> String {
    let cpu = &m.cpu;
    let long = cpu.long_mode_active();
    let w = |v: u64| if long { v } else { v & 0xffff_ffff };
    let mut out = format!(
        "state after {steps} steps: {}, CPL {}\n",
        mode_name(m),
        cpu.cpl()
    );
    let gprs: Vec<String> = cpu
        .gpr_names()
        .iter()
        .zip(&cpu.gpr)
        .map(|(n, v)| format!("{n}={:#x}", w(*v)))
        .collect();
    for row in gprs.chunks(8) {
        out.push_str(&format!("  {}\n", row.join(" ")));
    }
    let (ip, fl) = if long {
        ("rip", "rflags")
    } else {
        ("eip", "eflags")
    };
    out.push_str(&format!(
        "  {ip}={:#x} {fl}={:#x} [{}]\n",
        w(cpu.rip),
        w(cpu.rflags),
        flags::set_names(cpu.rflags).join(" ")
    ));
    let sels: Vec<String> = SegReg::ALL
        .iter()
        .map(|s| format!("{}={:#06x}", s.name(), cpu.seg(*s).selector))
        .collect();
    out.push_str(&format!("  {}\n", sels.join(" ")));
    out.push_str(&format!(
        "  cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x}",
        cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4
    ));
    out
}

/// Write the state in the writer's format.
pub fn write(w: &mut Writer, m: &Machine, steps: u64) -> io::Result<()> {
    match w.format() {
        Format::Json => w.record(&record(m, steps)),
        Format::Text => w.line(&lines(m, steps)),
    }
}
