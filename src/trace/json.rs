//! The `ringstep-trace/1` JSON Lines records (documented in docs/trace-format.md).

use serde_json::{json, Map, Value};

use crate::disasm::{hex, Disassembler};
use crate::engine::fault::vector_name;
use crate::engine::{Outcome, Stop, StopReason};
use crate::machine::cpu::{GPR_NAMES_32, GPR_NAMES_64};
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
                "phys": r.phys_range().start,
                "bytes": hex(&m.mem.region_bytes(r)),
            })
        })
        .collect();
    let mut symbols = Map::new();
    for (n, a) in m.symbols.iter() {
        symbols.insert(n.into(), a.into());
    }
    let mut out = Map::new();
    out.insert("kind".into(), "init".into());
    out.insert("schema".into(), SCHEMA.into());
    out.insert("scenario".into(), scenario.into());
    machine_fields(&mut out, m);
    out.insert("memory".into(), memory.into());
    out.insert("paging".into(), paging(m));
    out.insert("symbols".into(), symbols.into());
    Value::Object(out)
}

/// The paging mode, EFER, and where the page tables are: each address space's
/// top-level table (the first is the one CR3 starts with, unless the scenario set CR3
/// to another) and the pool of lower tables the machine builder made.
fn paging(m: &Machine) -> Value {
    let c = crate::machine::paging::Controls::of(&m.cpu);
    let mut o = Map::new();
    o.insert("mode".into(), c.mode().name().into());
    o.insert("efer".into(), c.efer.into());
    if let Some(plan) = &m.layout {
        let roots: Vec<Value> = plan.spaces.iter().map(|s| s.root.into()).collect();
        o.insert("roots".into(), roots.into());
        if let Some((start, end)) = plan.built {
            o.insert("tables".into(), json!({"phys": start, "size": end - start}));
        }
    }
    Value::Object(o)
}

/// The registers' part of the `init` and `state` records, in the order the schema gives:
/// mode, regs, segs, cpl, msrs, gdtr, idtr, tr, cr.
pub fn machine_fields(out: &mut Map<String, Value>, m: &Machine) {
    let c = &m.cpu;
    let fields = [
        ("mode", mode_name(m).into()),
        ("regs", regs(m)),
        ("segs", segs(m)),
        ("cpl", c.cpl().into()),
        ("msrs", msrs(m)),
        ("gdtr", json!({"base": c.gdtr.base, "limit": c.gdtr.limit})),
        ("idtr", json!({"base": c.idtr.base, "limit": c.idtr.limit})),
        ("tr", c.tr.selector.into()),
        (
            "cr",
            json!({"cr0": c.cr0, "cr2": c.cr2, "cr3": c.cr3, "cr4": c.cr4}),
        ),
    ];
    for (k, v) in fields {
        out.insert(k.into(), v);
    }
}

pub fn outcome_name(o: &Outcome) -> &'static str {
    match o {
        Outcome::Executed => "executed",
        Outcome::Interrupt(_) => "interrupt",
        Outcome::Exception(_) => "exception",
        Outcome::Halt => "halt",
    }
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
                let chain: Vec<Value> = stop
                    .chain()
                    .iter()
                    .map(|l| {
                        json!({
                            "vector": l.vector,
                            "name": l.name(),
                            "error_code": l.error_code,
                            "cr2": l.cr2,
                            "reason": l.reason,
                        })
                    })
                    .collect();
                o.insert("chain".into(), chain.into());
            }
            StopReason::Exit(status) => {
                o.insert("exit_status".into(), (*status).into());
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
