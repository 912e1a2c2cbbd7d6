//! The `ringstep-trace/1` JSON Lines records (documented in docs/trace-format.md).

use serde_json::{json, Map, Value};

use crate::disasm::{hex, Disassembler};
use crate::engine::fault::vector_name;
use crate::engine::journal::{summarize, Changed};
use crate::engine::{Event, Outcome, StepView, Stop, StopReason};
use crate::machine::cpu::{GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::flags;
use crate::machine::msr;
use crate::machine::{Machine, SegReg, Segment};

pub const SCHEMA: &str = "ringstep-trace/1";

pub fn mode_name(m: &Machine) -> &'static str {
    if m.cpu.long_mode_active() {
        "long64"
    } else {
        "protected32"
    }
}

fn long(m: &Machine) -> bool {
    m.cpu.long_mode_active()
}

/// Register file: eax..edi, eip, eflags (protected mode) or rax..r15, rip, rflags.
pub fn regs(m: &Machine) -> Value {
    let mut o = Map::new();
    if long(m) {
        for (i, n) in GPR_NAMES_64.iter().enumerate() {
            o.insert((*n).into(), m.cpu.gpr[i].into());
        }
        o.insert("rip".into(), m.cpu.rip.into());
        o.insert("rflags".into(), m.cpu.rflags.into());
    } else {
        for (i, n) in GPR_NAMES_32.iter().enumerate() {
            o.insert((*n).into(), (m.cpu.gpr[i] & 0xffff_ffff).into());
        }
        o.insert("eip".into(), (m.cpu.rip & 0xffff_ffff).into());
        o.insert("eflags".into(), (m.cpu.rflags & 0xffff_ffff).into());
    }
    Value::Object(o)
}

pub fn segment(s: &Segment) -> Value {
    let a = s.attr;
    json!({
        "sel": s.selector,
        "base": s.base,
        "limit": s.limit,
        "dpl": a.dpl(),
        "type": a.ty(),
        "s": a.s(),
        "present": a.present(),
        "db": a.db(),
        "l": a.l(),
        "g": a.g(),
        "unusable": a.unusable(),
    })
}

pub fn segs(m: &Machine) -> Value {
    let mut o = Map::new();
    for s in SegReg::ALL {
        o.insert(s.name().into(), segment(m.cpu.seg(s)));
    }
    Value::Object(o)
}

pub fn msr_key(index: u32) -> String {
    format!("{index:#x}")
}

pub fn msrs(m: &Machine) -> Value {
    let mut o = Map::new();
    for (i, v) in m.cpu.msrs() {
        o.insert(msr_key(i), v.into());
    }
    Value::Object(o)
}

/// The first record: the whole machine.
pub fn init(m: &Machine, scenario: &str) -> Value {
    let memory: Vec<Value> = m
        .mem
        .regions()
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "base": r.base,
                "size": r.size,
                "user": r.perm.user,
                "writable": r.perm.writable,
                "exec": r.perm.exec,
                "bytes": hex(&m.mem.region_bytes(r)),
            })
        })
        .collect();
    let mut symbols = Map::new();
    for (n, a) in m.symbols.iter() {
        symbols.insert(n.into(), a.into());
    }
    json!({
        "kind": "init",
        "schema": SCHEMA,
        "scenario": scenario,
        "mode": mode_name(m),
        "regs": regs(m),
        "segs": segs(m),
        "cpl": m.cpu.cpl(),
        "msrs": msrs(m),
        "gdtr": {"base": m.cpu.gdtr.base, "limit": m.cpu.gdtr.limit},
        "idtr": {"base": m.cpu.idtr.base, "limit": m.cpu.idtr.limit},
        "tr": m.cpu.tr.selector,
        "cr": {"cr0": m.cpu.cr0, "cr2": m.cpu.cr2, "cr3": m.cpu.cr3, "cr4": m.cpu.cr4},
        "memory": memory,
        "symbols": symbols,
    })
}

fn gpr_name(m: &Machine, index: u8) -> &'static str {
    if long(m) {
        GPR_NAMES_64[index as usize]
    } else {
        GPR_NAMES_32.get(index as usize).copied().unwrap_or("?")
    }
}

/// One entry of `changed`.
pub fn change(m: &Machine, c: &Changed) -> Option<Value> {
    let l = long(m);
    let w = |v: u64| if l { v } else { v & 0xffff_ffff };
    Some(match *c {
        Changed::Gpr { index, old, new } => {
            json!({"name": gpr_name(m, index), "old": w(old), "new": w(new)})
        }
        Changed::Rflags { old, new } => {
            let bits = |x: u64| -> Vec<&str> {
                flags::NAMED_BITS
                    .iter()
                    .filter(|(b, _)| x & b != 0)
                    .map(|(_, n)| *n)
                    .collect()
            };
            json!({
                "name": if l { "rflags" } else { "eflags" },
                "old": w(old), "new": w(new),
                "set": bits(new & !old), "cleared": bits(old & !new),
            })
        }
        Changed::Seg { seg, old, new } => {
            json!({"name": seg.name(), "old": segment(&old), "new": segment(&new)})
        }
        Changed::Tr { old, new } => {
            json!({"name": "tr", "old": segment(&old), "new": segment(&new)})
        }
        Changed::Gdtr { old, new } => json!({"name": "gdtr",
            "old": {"base": old.base, "limit": old.limit}, "new": {"base": new.base, "limit": new.limit}}),
        Changed::Idtr { old, new } => json!({"name": "idtr",
            "old": {"base": old.base, "limit": old.limit}, "new": {"base": new.base, "limit": new.limit}}),
        Changed::Cr { n, old, new } => {
            json!({"name": crate::engine::journal::cr_name(n), "old": old, "new": new})
        }
        Changed::Msr { index, old, new } => json!({
            "name": msr::name(index).unwrap_or("msr"), "msr": msr_key(index), "old": old, "new": new}),
        Changed::Halted { old, new } => json!({"name": "halted", "old": old, "new": new}),
        Changed::Shadow { old, new } => json!({"name": "interrupt_shadow", "old": old, "new": new}),
        Changed::PendingIrq { old, new } => json!({"name": "pending_irq", "old": old, "new": new}),
        Changed::Mem { .. } => return None,
    })
}

pub fn mem_write(c: &Changed) -> Option<Value> {
    match *c {
        Changed::Mem {
            addr,
            len,
            old,
            new,
        } => {
            let n = len as usize;
            Some(json!({
                "addr": addr,
                "old": hex(&old.to_le_bytes()[..n]),
                "new": hex(&new.to_le_bytes()[..n]),
            }))
        }
        _ => None,
    }
}

pub fn event(e: &Event) -> Value {
    let mut v = match e {
        Event::PrivilegeChange { from, to } => json!({"from": from, "to": to}),
        Event::StackSwitch {
            from_ss,
            from_sp,
            to_ss,
            to_sp,
            via,
        } => json!({
            "from_ss": from_ss, "from_sp": from_sp, "to_ss": to_ss, "to_sp": to_sp, "via": via}),
        Event::MsrRead { index, value } => json!({
            "msr": msr_key(*index), "name": msr::name(*index), "value": value}),
        Event::MsrWrite { index, old, new } => json!({
            "msr": msr_key(*index), "name": msr::name(*index), "old": old, "new": new}),
        Event::Exception {
            vector,
            error_code,
            ip,
            reason,
        } => json!({
            "vector": vector, "name": vector_name(*vector), "error_code": error_code,
            "ip": ip, "reason": reason}),
        Event::Delivered {
            vector,
            source,
            interrupt_gate,
            handler,
        } => json!({
            "vector": vector, "source": source.name(),
            "gate": if *interrupt_gate { "interrupt" } else { "trap" }, "handler": handler}),
        Event::IrqRaised { vector } => json!({"vector": vector}),
        Event::SwapGs {
            gs_base,
            kernel_gs_base,
        } => json!({
            "gs_base": gs_base, "kernel_gs_base": kernel_gs_base}),
        Event::Halt => json!({}),
        Event::Port {
            port, size, value, ..
        } => json!({"port": port, "size": size, "value": value}),
    };
    let mut out = Map::new();
    out.insert("kind".into(), e.kind().into());
    if let Value::Object(o) = v.take() {
        out.extend(o);
    }
    Value::Object(out)
}

pub fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Executed => "executed",
        Outcome::Interrupt(_) => "interrupt",
        Outcome::Exception(_) => "exception",
        Outcome::Halt => "halt",
    }
}

/// Disassembly of a step, or a description of an interrupt delivery.
pub fn step_asm(dis: &mut Disassembler, s: &StepView) -> String {
    match (s.instr(), &s.info.outcome) {
        (_, Outcome::Interrupt(v)) => format!("<external interrupt {v:#x}>"),
        (Some(i), _) => dis.format(&i),
        (None, Outcome::Exception(e)) => format!("<fetch fault {}>", vector_name(e.vector)),
        (None, _) => String::new(),
    }
}

/// One step record, with the full register file after the step.
pub fn step(m: &Machine, dis: &mut Disassembler, s: &StepView) -> Value {
    let coalesced = summarize(s.changes);
    let mut changed: Vec<Value> = coalesced.iter().filter_map(|c| change(m, c)).collect();
    if s.info.next_ip != s.info.ip {
        let l = long(m);
        let w = |v: u64| if l { v } else { v & 0xffff_ffff };
        changed.insert(
            0,
            json!({"name": if l { "rip" } else { "eip" }, "old": w(s.info.ip), "new": w(s.info.next_ip)}),
        );
    }
    let writes: Vec<Value> = coalesced.iter().filter_map(mem_write).collect();
    let events: Vec<Value> = s.events.iter().map(event).collect();
    json!({
        "kind": "step",
        "n": s.n,
        "ip": s.info.ip,
        "bytes": hex(s.bytes()),
        "asm": step_asm(dis, s),
        "outcome": outcome_name(&s.info.outcome),
        "regs": regs(m),
        "segs": segs(m),
        "cpl": m.cpu.cpl(),
        "msrs": msrs(m),
        "changed": changed,
        "mem_writes": writes,
        "events": events,
    })
}

/// The last record.
pub fn stop(stop: &Stop, steps: u64, dis: &mut Disassembler) -> Value {
    let mut v = json!({
        "kind": "stop",
        "reason": stop.reason.name(),
        "steps": steps,
        "ip": stop.ip,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(i) = &stop.instr {
            o.insert("asm".into(), dis.format(i).into());
        }
        match &stop.reason {
            StopReason::Fault(e) => {
                o.insert("vector".into(), e.vector.into());
                o.insert("name".into(), vector_name(e.vector).into());
                o.insert("error_code".into(), json!(e.error_code));
                if let Some(cr2) = e.cr2 {
                    o.insert("cr2".into(), cr2.into());
                }
                o.insert("explanation".into(), e.reason.to_string().into());
            }
            StopReason::Unsupported(what) => {
                o.insert("unsupported".into(), what.clone().into());
                o.insert(
                    "explanation".into(),
                    format!("ringstep does not model `{what}`").into(),
                );
            }
            _ => {}
        }
    }
    v
}
