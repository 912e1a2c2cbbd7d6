//! The human-readable trace: one line per step (number, address, bytes, AT&T
//! disassembly, what changed), then a line saying why the run stopped.

use crate::disasm::{hex_spaced, Disassembler};
use crate::engine::fault::vector_name;
use crate::engine::journal::{summarize, Changed};
use crate::engine::{Event, StepView, Stop, StopReason};
use crate::machine::cpu::{GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::{flags, msr, Machine};

fn num(m: &Machine, v: u64) -> String {
    if m.cpu.long_mode_active() {
        format!("{v:#x}")
    } else {
        format!("{:#x}", v & 0xffff_ffff)
    }
}

fn describe_change(m: &Machine, c: &Changed) -> Option<String> {
    let long = m.cpu.long_mode_active();
    Some(match *c {
        Changed::Gpr { index, new, .. } => {
            let name = if long {
                GPR_NAMES_64[index as usize]
            } else {
                GPR_NAMES_32.get(index as usize).copied().unwrap_or("?")
            };
            format!("{name}={}", num(m, new))
        }
        Changed::Rflags { old, new } => {
            let mut parts = Vec::new();
            for (bit, name) in flags::NAMED_BITS {
                if new & bit != 0 && old & bit == 0 {
                    parts.push(format!("+{name}"));
                } else if old & bit != 0 && new & bit == 0 {
                    parts.push(format!("-{name}"));
                }
            }
            format!("flags[{}]", parts.join(" "))
        }
        // SWAPGS and WRMSR to IA32_GS_BASE change a base without touching the selector.
        Changed::Seg { seg, old, new } if old.selector == new.selector && old.base != new.base => {
            format!("{}.base={}", seg.name(), num(m, new.base))
        }
        Changed::Seg { seg, new, .. } => format!("{}={:#06x}", seg.name(), new.selector),
        Changed::Tr { new, .. } => format!("tr={:#06x}", new.selector),
        Changed::Gdtr { new, .. } => format!("gdtr={:#x}/{:#x}", new.base, new.limit),
        Changed::Idtr { new, .. } => format!("idtr={:#x}/{:#x}", new.base, new.limit),
        Changed::Cr { n, new, .. } => format!("{}={new:#x}", crate::engine::journal::cr_name(n)),
        Changed::Msr { index, new, .. } => {
            format!("{}={new:#x}", msr::name(index).unwrap_or("msr"))
        }
        Changed::Mem { addr, len, new, .. } => {
            let bytes = new.to_le_bytes();
            let v = match len {
                1 => bytes[0] as u64,
                2 => u16::from_le_bytes([bytes[0], bytes[1]]) as u64,
                4 => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64,
                _ => new,
            };
            format!("[{}]={v:#x}", num(m, addr))
        }
        Changed::Halted { new, .. } => if new { "halted" } else { "running" }.to_string(),
        Changed::Shadow { .. } | Changed::PendingIrq { .. } => return None,
    })
}

fn describe_event(e: &Event) -> Option<String> {
    Some(match e {
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
        _ => return None,
    })
}

/// One line for a step.
pub fn step_line(m: &Machine, dis: &mut Disassembler, s: &StepView) -> String {
    let asm = super::json::step_asm(dis, s);
    let mut what: Vec<String> = s.events.iter().filter_map(describe_event).collect();
    what.extend(
        summarize(s.changes)
            .iter()
            .filter_map(|c| describe_change(m, c)),
    );
    if let Some(sym) = m.describe_addr(s.info.ip) {
        what.push(format!("<{sym}>"));
    }
    // Protected mode: 8-digit addresses, room for 7 code bytes; 64-bit mode: 16 digits
    // and 9 bytes (REX and displacement make longer instructions common there).
    let (width, code) = if m.cpu.long_mode_active() {
        (16, 26)
    } else {
        (8, 20)
    };
    format!(
        "{:>5}  {:<width$}  {:<code$}  {:<34} {}",
        s.n,
        num(m, s.info.ip).trim_start_matches("0x"),
        hex_spaced(s.bytes()),
        asm,
        what.join(" "),
    )
    .trim_end()
    .to_string()
}

/// The final line.
pub fn stop_line(m: &Machine, stop: &Stop, steps: u64) -> String {
    let at = match m.describe_addr(stop.ip) {
        Some(s) => format!("{} ({s})", num(m, stop.ip)),
        None => num(m, stop.ip),
    };
    match &stop.reason {
        StopReason::End => format!("stop: end after {steps} steps, at {at}"),
        StopReason::Limit => format!("stop: step limit reached after {steps} steps, at {at}"),
        StopReason::Halt => format!("stop: halted after {steps} steps, at {at}"),
        StopReason::Fault(e) => format!("stop: fault at {at} after {steps} steps: {}", e.summary()),
        StopReason::Unsupported(what) => {
            format!(
                "stop: unsupported at {at} after {steps} steps: ringstep does not model `{what}`"
            )
        }
    }
}
