//! `monitor` commands: what gdb has no word for. `msr`, `gdt`, `idt` and `tss` print the
//! decoding the viewer's inspectors show (`debug::inspect`), `walk ADDR` the page-table
//! walk, `explain` the chain of events behind the last fault stop, `phys ADDR LEN`
//! physical memory, `info mem` the mapped ranges as QEMU's monitor prints them; any other line is run as a ringstep debugger command
//! (docs/debugging.md), e.g. `monitor info timeline` or `monitor goto 12`.

use crate::debug::inspect::{self, GdtKind};
use crate::debug::{Command, Debugger};
use crate::engine::Engine;
use crate::machine::{msr, Machine};

use super::memory;
use super::target::State;

/// The most bytes `monitor phys` prints.
pub const MAX_PHYS: u64 = 4096;

pub const HELP: &str = "ringstep monitor commands:
  msr            the MSRs the machine holds, with names
  gdt | idt | tss  the descriptor tables and the TSS, decoded
  walk ADDR      the page-table walk of a linear address
  explain        the chain of events behind the last fault stop
  phys ADDR LEN  physical memory (at most 4096 bytes)
  info mem       the mapped linear ranges, in QEMU's format (for GEF)
  position       the history position (steps executed)
  why            why gdb's last register write got an error reply
  anything else  a ringstep debugger command (docs/debugging.md)";

/// Run one monitor line and return its text.
pub fn run(st: &mut State, line: &str) -> String {
    let line = line.trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let m = st.engine.machine();
    match word {
        "" | "help" => HELP.to_string(),
        "msr" | "msrs" => msrs(m),
        "gdt" => gdt(m),
        "idt" => idt(m),
        "tss" => tss(m),
        "phys" => phys(m, rest),
        "info" if rest.trim() == "mem" => super::infomem::info_mem(m),
        "position" => format!("position {}", st.debugger.position(&st.engine)),
        "explain" => explain(&mut st.debugger, &mut st.engine),
        _ => debugger_line(&mut st.debugger, &mut st.engine, line),
    }
}

fn debugger_line(d: &mut Debugger, e: &mut Engine, line: &str) -> String {
    match d.run_line(e, line) {
        Ok(out) => out.to_string(),
        Err(err) => format!("error: {err}"),
    }
}

fn explain(d: &mut Debugger, e: &mut Engine) -> String {
    match d.execute(e, &Command::Explain) {
        Ok(out) => out.to_string(),
        Err(err) => format!("error: {err}"),
    }
}

fn msrs(m: &Machine) -> String {
    let mut indices: Vec<u32> = m.cpu.msr.iter().map(|(i, _)| i).collect();
    for i in [msr::FS_BASE, msr::GS_BASE] {
        if !indices.contains(&i) {
            indices.push(i);
        }
    }
    let mut lines = Vec::new();
    for index in indices {
        // FS_BASE and GS_BASE are the descriptor caches' bases (`Cpu::read_msr`).
        let value = m.cpu.read_msr(index).unwrap_or(0);
        let name = msr::name(index).unwrap_or("");
        let sym = inspect::symbol(m, value)
            .map(|s| format!(" <{s}>"))
            .unwrap_or_default();
        lines.push(format!("{index:#010x} {name:<22} {value:#018x}{sym}"));
    }
    lines.join("\n")
}

fn gdt(m: &Machine) -> String {
    let rows = inspect::gdt(m);
    if rows.is_empty() {
        return "GDT empty (GDTR.limit below 8)".to_string();
    }
    let mut out = vec![format!(
        "GDTR base {:#x} limit {:#x}",
        m.cpu.gdtr.base, m.cpu.gdtr.limit
    )];
    for r in rows {
        let what = match r.kind {
            GdtKind::Null => "null".to_string(),
            GdtKind::Segment {
                base,
                limit,
                type_name,
                dpl,
                present,
                long,
                db,
                ..
            } => format!(
                "{type_name} base {base:#x} limit {limit:#x} dpl {dpl}{}{}{}",
                if present { "" } else { " not-present" },
                if long { " L" } else { "" },
                if db { " D/B" } else { "" }
            ),
            GdtKind::System {
                base,
                limit,
                type_name,
                dpl,
                ..
            } => format!("{type_name} base {base:#x} limit {limit:#x} dpl {dpl}"),
            GdtKind::Gate {
                type_name,
                selector,
                offset,
                dpl,
                ..
            } => format!("{type_name} {selector:#06x}:{offset:#x} dpl {dpl}"),
            GdtKind::Upper { of } => format!("upper half of entry {of}"),
            GdtKind::Reserved { ty } => format!("reserved type {ty:#x}"),
        };
        let users = if r.used_by.is_empty() {
            String::new()
        } else {
            format!("  [{}]", r.used_by.join(" "))
        };
        out.push(format!(
            "{:>3} {:#06x} {:016x} {what}{users}",
            r.index, r.selector, r.raw
        ));
    }
    out.join("\n")
}

fn idt(m: &Machine) -> String {
    let mut out = vec![format!(
        "IDTR base {:#x} limit {:#x}",
        m.cpu.idtr.base, m.cpu.idtr.limit
    )];
    for r in inspect::idt(m).iter().filter(|r| r.gate.present) {
        let sym = r
            .symbol
            .as_deref()
            .map(|s| format!(" <{s}>"))
            .unwrap_or_default();
        out.push(format!(
            "{:#04x} {} {:#06x}:{:#x}{sym} dpl {}{}",
            r.vector,
            r.type_name,
            r.gate.selector,
            r.gate.offset,
            r.gate.dpl,
            if r.gate.ist != 0 {
                format!(" ist {}", r.gate.ist)
            } else {
                String::new()
            }
        ));
    }
    out.join("\n")
}

fn tss(m: &Machine) -> String {
    let Some(t) = inspect::tss(m) else {
        return "no TSS: TR holds a null selector".to_string();
    };
    let mut out = vec![format!(
        "TR {:#06x}: {} base {:#x} limit {:#x}",
        t.tr, t.type_name, t.base, t.limit
    )];
    for (name, off, len, value, sym) in &t.fields {
        let sym = sym
            .as_deref()
            .map(|s| format!(" <{s}>"))
            .unwrap_or_default();
        let width = *len as usize * 2;
        out.push(format!(
            "  +{off:#05x} {name:<10} {value:#0w$x}{sym}",
            w = width + 2
        ));
    }
    out.join("\n")
}

fn phys(m: &Machine, args: &str) -> String {
    let mut it = args.split_whitespace();
    let (Some(a), Some(l)) = (it.next(), it.next()) else {
        return "usage: monitor phys ADDR LEN".to_string();
    };
    let (Some(addr), Some(len)) = (crate::load::parse_number(a), crate::load::parse_number(l))
    else {
        return format!("monitor phys {args}: ADDR and LEN are numbers (0x... or decimal)");
    };
    if len > MAX_PHYS {
        return format!("monitor phys: at most {MAX_PHYS} bytes at a time");
    }
    let bytes = memory::read_phys(m, addr, len as usize);
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{:#014x}  {}",
                addr.wrapping_add(16 * i as u64),
                hex.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
