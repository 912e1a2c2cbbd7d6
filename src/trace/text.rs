//! The human-readable trace: one line per step (number, address, bytes, AT&T
//! disassembly, what changed, the source line), then a line saying why the run stopped.

use crate::engine::fault::vector_name;
use crate::engine::journal::{summarize, Changed};
use crate::engine::{Event, StepView, Stop, StopReason};
use crate::machine::cpu::{GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::{flags, msr, Machine};

use super::asm_cache::Described;
use super::out::{dec, dec_right, hex0x, hex_bytes_spaced, hex_digits, pad_right};

fn num(m: &Machine, v: u64) -> String {
    if m.cpu.long_mode_active() {
        format!("{v:#x}")
    } else {
        format!("{:#x}", v & 0xffff_ffff)
    }
}

/// `num` written into `out`.
fn push_num(out: &mut Vec<u8>, m: &Machine, v: u64) {
    if m.cpu.long_mode_active() {
        hex0x(out, v);
    } else {
        hex0x(out, v & 0xffff_ffff);
    }
}

/// A device change: `uart_out=0x68`, `uart_lcr=0x80`, `debug_exit=0x43`.
fn device_change(out: &mut Vec<u8>, d: &crate::machine::dev::DevChange) {
    use crate::machine::dev::DevChange;
    match *d {
        DevChange::Out { byte, .. } => {
            out.extend_from_slice(b"uart_out=");
            hex0x(out, byte as u64);
        }
        DevChange::Reg { reg, new, .. } => {
            out.extend_from_slice(b"uart_");
            out.extend_from_slice(reg.name().as_bytes());
            out.push(b'=');
            hex0x(out, new as u64);
        }
        DevChange::Exit { new, .. } => {
            out.extend_from_slice(b"debug_exit=");
            match new {
                Some(v) => hex0x(out, v as u64),
                None => out.extend_from_slice(b"none"),
            }
        }
        _ => {
            if let Some((name, _, new)) = d.register() {
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                hex0x(out, new);
            }
        }
    }
}

/// One change as the text trace shows it; false (nothing written) for changes it
/// leaves out.
fn describe_change(out: &mut Vec<u8>, m: &Machine, c: &Changed) -> bool {
    let long = m.cpu.long_mode_active();
    let word = |out: &mut Vec<u8>, name: &str, v: u64| {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        hex0x(out, v);
    };
    match *c {
        Changed::Gpr { index, new, .. } => {
            let names: &[&str] = if long { &GPR_NAMES_64 } else { &GPR_NAMES_32 };
            out.extend_from_slice(names.get(index as usize).copied().unwrap_or("?").as_bytes());
            out.push(b'=');
            push_num(out, m, new);
        }
        Changed::Rflags { old, new } => flag_changes(out, old, new),
        // SWAPGS and WRMSR to IA32_GS_BASE change a base without touching the selector.
        Changed::Seg { seg, old, new } if old.selector == new.selector && old.base != new.base => {
            out.extend_from_slice(seg.name().as_bytes());
            out.extend_from_slice(b".base=");
            push_num(out, m, new.base);
        }
        Changed::Seg { seg, new, .. } => selector(out, seg.name(), new.selector),
        Changed::Tr { new, .. } => selector(out, "tr", new.selector),
        Changed::Gdtr { new, .. } => table(out, "gdtr", new.base, new.limit),
        Changed::Idtr { new, .. } => table(out, "idtr", new.base, new.limit),
        Changed::Cr { n, new, .. } => {
            out.extend_from_slice(b"cr");
            dec(out, n as u64);
            out.push(b'=');
            hex0x(out, new);
        }
        Changed::Msr { index, new, .. } => word(out, msr::name(index).unwrap_or("msr"), new),
        Changed::Mem { addr, len, new, .. } => mem_change(out, m, addr, len, new),
        Changed::PhysMem { addr, len, new, .. } => {
            out.extend_from_slice(b"phys");
            out.push(b'[');
            hex0x(out, addr);
            out.extend_from_slice(b"]=");
            hex0x(out, mask_len(new, len));
        }
        Changed::Halted { new, .. } => {
            out.extend_from_slice(if new { b"halted" as &[u8] } else { b"running" })
        }
        Changed::Device(d) => device_change(out, &d),
        Changed::Shadow { .. } | Changed::PendingIrq { .. } => return false,
    }
    true
}

/// `flags[+IF -ZF]`: the named flags set and cleared.
fn flag_changes(out: &mut Vec<u8>, old: u64, new: u64) {
    out.extend_from_slice(b"flags[");
    let mut first = true;
    for (bit, name) in flags::NAMED_BITS {
        let sign = match (old & bit != 0, new & bit != 0) {
            (false, true) => b'+',
            (true, false) => b'-',
            _ => continue,
        };
        if !first {
            out.push(b' ');
        }
        first = false;
        out.push(sign);
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b']');
}

/// `[ADDR]=VALUE`, the value as wide as the write.
fn mask_len(v: u64, len: u8) -> u64 {
    match len {
        1 => v & 0xff,
        2 => v & 0xffff,
        4 => v & 0xffff_ffff,
        _ => v,
    }
}

fn mem_change(out: &mut Vec<u8>, m: &Machine, addr: u64, len: u8, new: u64) {
    let v = mask_len(new, len);
    out.push(b'[');
    push_num(out, m, addr);
    out.extend_from_slice(b"]=");
    hex0x(out, v);
}

/// `name=0x0060`: a selector with at least four hex digits.
fn selector(out: &mut Vec<u8>, name: &str, sel: u16) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=0x");
    hex_digits(out, sel as u64, 4);
}

/// `gdtr=BASE/LIMIT`.
fn table(out: &mut Vec<u8>, name: &str, base: u64, limit: u16) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    hex0x(out, base);
    out.push(b'/');
    hex0x(out, limit as u64);
}

/// One event as the text trace shows it; false (nothing written) for events it
/// leaves out.
fn describe_event(out: &mut Vec<u8>, e: &Event) -> bool {
    let text = match e {
        Event::PrivilegeChange { from, to } => format!("<ring {from} -> ring {to}>"),
        Event::StackSwitch { to_sp, via, .. } => format!("<stack {to_sp:#x} via {via}>"),
        Event::Exception {
            vector, error_code, ..
        } => match error_code {
            Some(c) => format!("<{}({c:#x})>", vector_name(*vector)),
            None => format!("<{}>", vector_name(*vector)),
        },
        Event::Delivered {
            vector, handler, ..
        } => {
            format!("<vector {vector:#x} -> {handler:#x}>")
        }
        Event::IrqRaised { vector } => format!("<irq {vector:#x} raised>"),
        Event::Irq {
            irq,
            vector,
            device,
        } => format!("<irq {irq} -> vector {vector:#x} ({device})>"),
        Event::Port {
            port,
            write,
            device: None,
            ..
        } => match write {
            true => format!("<out to unmodelled port {port:#x}>"),
            false => format!("<in from unmodelled port {port:#x}>"),
        },
        _ => return false,
    };
    out.extend_from_slice(text.as_bytes());
    true
}

/// One line for a step (without the newline): number, address, bytes, disassembly,
/// then what happened; trailing spaces trimmed.
pub fn write_step(out: &mut Vec<u8>, m: &Machine, d: &Described, s: &StepView) {
    let start = out.len();
    // Protected mode: 8-digit addresses, room for 7 code bytes; 64-bit mode: 16 digits
    // and 9 bytes (REX and displacement make longer instructions common there).
    let (width, code) = if m.cpu.long_mode_active() {
        (16, 26)
    } else {
        (8, 20)
    };
    dec_right(out, s.n, 5);
    out.extend_from_slice(b"  ");
    let col = out.len();
    let ip = if m.cpu.long_mode_active() {
        s.info.ip
    } else {
        s.info.ip & 0xffff_ffff
    };
    hex_digits(out, ip, 1);
    out.resize(col + width.max(out.len() - col), b' ');
    out.extend_from_slice(b"  ");
    let col = out.len();
    hex_bytes_spaced(out, s.bytes());
    out.resize(col + code.max(out.len() - col), b' ');
    out.extend_from_slice(b"  ");
    pad_right(out, &d.asm, 34);
    out.push(b' ');
    // Items separated by one space: the events, the changes, the symbol.
    let mut any = false;
    let mut item = |out: &mut Vec<u8>, write: &mut dyn FnMut(&mut Vec<u8>) -> bool| {
        let at = out.len();
        if any {
            out.push(b' ');
        }
        if write(out) {
            any = true;
        } else {
            out.truncate(at);
        }
    };
    for e in s.events {
        item(out, &mut |o| describe_event(o, e));
    }
    for c in summarize(s.changes).iter() {
        item(out, &mut |o| describe_change(o, m, c));
    }
    if let Some(place) = &d.place {
        item(out, &mut |o| {
            o.push(b'<');
            o.extend_from_slice(place.as_bytes());
            o.push(b'>');
            true
        });
    }
    // Last, the source line the instruction came from (a DWARF line table).
    if let Some(line) = &d.line {
        trim_end(out, start);
        out.extend_from_slice(b"  ; ");
        out.extend_from_slice(line.as_bytes());
    }
    trim_end(out, start);
}

/// Remove trailing whitespace from the line that starts at `start`.
fn trim_end(out: &mut Vec<u8>, start: usize) {
    let keep = match std::str::from_utf8(&out[start..]) {
        Ok(line) => line.trim_end().len(),
        Err(_) => out.len() - start,
    };
    out.truncate(start + keep);
}

/// The final line.
pub fn stop_line(m: &Machine, stop: &Stop, steps: u64) -> String {
    let at = match m.describe_addr(stop.ip) {
        Some(s) => format!("{} ({s})", num(m, stop.ip)),
        None => num(m, stop.ip),
    };
    let mut line = match &stop.reason {
        StopReason::End => format!("stop: end after {steps} steps, at {at}"),
        StopReason::Limit => format!("stop: step limit reached after {steps} steps, at {at}"),
        StopReason::Halt => format!("stop: halted after {steps} steps, at {at}"),
        StopReason::Exit(status) => {
            format!("stop: exit status {status} (isa-debug-exit) after {steps} steps, at {at}")
        }
        StopReason::Fault(e) => format!("stop: fault at {at} after {steps} steps: {}", e.summary()),
        StopReason::Unsupported(what) => {
            format!(
                "stop: unsupported at {at} after {steps} steps: ringstep does not model `{what}`"
            )
        }
    };
    // The chain that led to a fault, one indented line per event.
    for (n, link) in stop.chain().iter().enumerate() {
        line.push_str(&format!("\n  {}. {}", n + 1, link.line()));
    }
    line
}
