//! Conformance tests for the system-instruction family: SYSENTER/SYSEXIT, SYSCALL/SYSRET,
//! SWAPGS, WRMSR/RDMSR, CLI/STI, HLT, INT n/INT3/INTO, exception delivery, IRET, LGDT/LIDT,
//! SGDT, LTR/STR and UD2.
//!
//! Each table case states the machine it starts from, the instruction (AT&T source beside
//! bytes produced with `as --32`/`as --64` and `objdump -d`), the Intel SDM rule it checks,
//! and either concrete state after one step or the exception the step must raise. Every
//! case is also stepped back, and the machine must then equal the one it started from.
//!
//! SDM references are to the Intel 64 and IA-32 Architectures Software Developer's Manual:
//! Vol. 2 instruction pages ("Operation" and the exception tables) and Vol. 3A chapter 6
//! (interrupt and exception handling) and chapter 8 (task management).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;
use ringstep::engine::{Engine, Event, Outcome, StepResult, StopReason};
use ringstep::machine::cpu::{Mode, CR0_PE, CR0_PG, RAX, RBX, RCX, RDX, RSP};
use ringstep::machine::msr;
use ringstep::machine::tables::{tss64, Gate};
use ringstep::machine::{Attr, Descriptor, Machine, SegReg, Segment};

const R11: usize = 11;

const GDT64: u64 = 0xffff_ffff_8200_0000;
const TSS64: u64 = 0xffff_ffff_8200_2000;

/// Descriptor-cache access rights (type | S | DPL | P | L | D/B | G, see `Attr`).
const ATTR_KCODE32: u32 = 0xc09b;
const ATTR_KDATA: u32 = 0xc093;
const ATTR_UCODE32: u32 = 0xc0fb;
const ATTR_UDATA: u32 = 0xc0f3;
const ATTR_KCODE64: u32 = 0xa09b;
const ATTR_UCODE64: u32 = 0xa0fb;

const FLAT: u32 = 0xffff_ffff;
const KS32: u64 = KERNEL_STACK_TOP;
const KS64: u64 = K64_STACK_TOP;

const GP: u8 = 13;
const UD: u8 = 6;
const NP: u8 = 11;
const DF: u8 = 8;
const PF: u8 = 14;

// ---- the table harness ------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Out {
    Executed,
    Halt,
    Exception(u8, Option<u32>),
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Priv(u8, u8),
    StackSwitch(&'static str),
    NoStackSwitch,
    Delivered(u8),
}

#[derive(Clone, Copy, Debug)]
enum C {
    Rip(u64),
    Gpr(usize, u64),
    Flags(u64),
    Cpl(u8),
    Mode(Mode),
    Sel(SegReg, u16),
    /// Selector, base, limit, access rights.
    Cache(SegReg, u16, u64, u32, u32),
    /// A null selector (0) with an unusable cache.
    Null(SegReg),
    Base(SegReg, u64),
    Mem(u64, usize, u64),
    Msr(u32, u64),
    Gdtr(u64, u16),
    Idtr(u64, u16),
    /// TR selector, base, limit, descriptor type.
    Tr(u16, u64, u32, u8),
    Cr2(u64),
    Halted(bool),
    Shadow(bool),
    /// Every GPR not listed keeps its value.
    OnlyGprs(&'static [usize]),
    /// No byte of memory changed.
    MemUnchanged,
    Outcome(Out),
    Event(Ev),
}

enum Expect {
    /// The step completes; the machine after it must satisfy every check.
    State(&'static [C]),
    /// The step raises this exception; no handler is installed for it, so the run stops
    /// and the machine is left exactly as it was.
    Fault(u8, Option<u32>),
}

struct Case {
    name: &'static str,
    /// The SDM rule the case checks.
    #[allow(dead_code)]
    sdm: &'static str,
    /// AT&T source of `bytes`.
    #[allow(dead_code)]
    asm: &'static str,
    bytes: &'static str,
    setup: fn() -> Machine,
    expect: Expect,
}

fn check(c: &C, m: &Machine, before: &Machine, e: &Engine) -> Result<(), String> {
    let cpu = &m.cpu;
    let fail = |what: String| Err(what);
    match *c {
        C::Rip(v) if cpu.rip != v => fail(format!("rip {:#x}, expected {v:#x}", cpu.rip)),
        C::Gpr(i, v) if cpu.gpr[i] != v => {
            fail(format!("gpr[{i}] {:#x}, expected {v:#x}", cpu.gpr[i]))
        }
        C::Flags(v) if cpu.rflags != v => {
            fail(format!("rflags {:#x}, expected {v:#x}", cpu.rflags))
        }
        C::Cpl(v) if cpu.cpl() != v => fail(format!("cpl {}, expected {v}", cpu.cpl())),
        C::Mode(v) if cpu.mode() != v => fail(format!("mode {:?}, expected {v:?}", cpu.mode())),
        C::Sel(s, v) if cpu.seg(s).selector != v => fail(format!(
            "{} selector {:#x}, expected {v:#x}",
            s.name(),
            cpu.seg(s).selector
        )),
        C::Cache(s, sel, base, limit, attr) => {
            let g = cpu.seg(s);
            let want = Segment {
                selector: sel,
                base,
                limit,
                attr: Attr(attr),
            };
            if *g != want {
                return fail(format!("{} is {g:x?}, expected {want:x?}", s.name()));
            }
            Ok(())
        }
        C::Null(s) => {
            let g = cpu.seg(s);
            if g.selector != 0 || !g.attr.unusable() {
                return fail(format!("{} is {g:x?}, expected a null selector", s.name()));
            }
            Ok(())
        }
        C::Base(s, v) if cpu.seg(s).base != v => fail(format!(
            "{} base {:#x}, expected {v:#x}",
            s.name(),
            cpu.seg(s).base
        )),
        C::Mem(a, len, v) => {
            let got = m.mem.peek_le(a, len);
            if got != v {
                return fail(format!("mem[{a:#x}; {len}] = {got:#x}, expected {v:#x}"));
            }
            Ok(())
        }
        C::Msr(i, v) => {
            let got = cpu.read_msr(i);
            if got != Some(v) {
                return fail(format!("msr {i:#x} = {got:x?}, expected {v:#x}"));
            }
            Ok(())
        }
        C::Gdtr(b, l) if (cpu.gdtr.base, cpu.gdtr.limit) != (b, l) => {
            fail(format!("gdtr {:x?}, expected {b:#x}/{l:#x}", cpu.gdtr))
        }
        C::Idtr(b, l) if (cpu.idtr.base, cpu.idtr.limit) != (b, l) => {
            fail(format!("idtr {:x?}, expected {b:#x}/{l:#x}", cpu.idtr))
        }
        C::Tr(sel, base, limit, ty) => {
            let t = cpu.tr;
            if (
                t.selector,
                t.base,
                t.limit,
                t.attr.ty(),
                t.attr.s(),
                t.attr.present(),
            ) != (sel, base, limit, ty, false, true)
            {
                return fail(format!(
                    "tr {t:x?}, expected {sel:#x} base {base:#x} limit {limit:#x} type {ty:#x}"
                ));
            }
            Ok(())
        }
        C::Cr2(v) if cpu.cr2 != v => fail(format!("cr2 {:#x}, expected {v:#x}", cpu.cr2)),
        C::Halted(v) if cpu.halted != v => fail(format!("halted {}, expected {v}", cpu.halted)),
        C::Shadow(v) if cpu.shadow != v => fail(format!("shadow {}, expected {v}", cpu.shadow)),
        C::OnlyGprs(allowed) => {
            for i in 0..16 {
                if !allowed.contains(&i) && cpu.gpr[i] != before.cpu.gpr[i] {
                    return fail(format!(
                        "gpr[{i}] changed {:#x} -> {:#x}",
                        before.cpu.gpr[i], cpu.gpr[i]
                    ));
                }
            }
            Ok(())
        }
        C::MemUnchanged if m.mem != before.mem => fail("memory changed".into()),
        C::Outcome(o) => {
            let got = e.last_step().map(|s| s.info.outcome.clone());
            let ok = match (o, &got) {
                (Out::Executed, Some(Outcome::Executed)) => true,
                (Out::Halt, Some(Outcome::Halt)) => true,
                (Out::Exception(v, code), Some(Outcome::Exception(x))) => {
                    x.vector == v && x.error_code == code
                }
                _ => false,
            };
            if !ok {
                return fail(format!("outcome {got:?}, expected {o:?}"));
            }
            Ok(())
        }
        C::Event(ev) => {
            let events = e.last_step().map(|s| s.events.to_vec()).unwrap_or_default();
            let found = match ev {
                Ev::Priv(f, t) => events.iter().any(
                    |x| matches!(x, Event::PrivilegeChange { from, to } if *from == f && *to == t),
                ),
                Ev::StackSwitch(v) => events
                    .iter()
                    .any(|x| matches!(x, Event::StackSwitch { via, .. } if *via == v)),
                Ev::NoStackSwitch => !events
                    .iter()
                    .any(|x| matches!(x, Event::StackSwitch { .. })),
                Ev::Delivered(v) => events
                    .iter()
                    .any(|x| matches!(x, Event::Delivered { vector, .. } if *vector == v)),
            };
            if !found {
                return fail(format!("event {ev:?} not satisfied by {events:?}"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// iced-x86's InstructionInfo does not list RSP among the registers INT n, INT3 and INTO
/// write, although every delivery pushes a frame and loads RSP (SDM Vol. 2A, INT n
/// Operation). The engine's debug cross-check would reject correct semantics, so it is
/// turned off for these opcodes only (reported; the check itself is left as it is).
fn iced_omits_stack_writes(bytes: &str) -> bool {
    matches!(hex(bytes).first(), Some(0xcc..=0xce))
}

fn run_case(c: &Case) -> Result<(), String> {
    let mut m = (c.setup)();
    let at = m.cpu.rip;
    m.mem.poke(at, &hex(c.bytes));
    let before = m.clone();
    let mut e = Engine::new(m);
    if iced_omits_stack_writes(c.bytes) {
        e.set_check_writes(false);
    }
    match (&c.expect, e.step()) {
        (Expect::State(checks), StepResult::Stepped) => {
            let mut errs = Vec::new();
            for ch in checks.iter() {
                if let Err(s) = check(ch, e.machine(), &before, &e) {
                    errs.push(s);
                }
            }
            if !checks.iter().any(|c| matches!(c, C::Outcome(_))) {
                if let Err(s) = check(&C::Outcome(Out::Executed), e.machine(), &before, &e) {
                    errs.push(s);
                }
            }
            assert!(e.step_back(), "a recorded step can be undone");
            if e.machine() != &before {
                errs.push("step_back did not restore the machine".into());
            }
            if errs.is_empty() {
                Ok(())
            } else {
                Err(errs.join("; "))
            }
        }
        (Expect::State(_), StepResult::Stopped(s)) => Err(format!("stopped: {s:?}")),
        (Expect::Fault(v, code), StepResult::Stopped(s)) => match s.reason {
            StopReason::Fault(x) => {
                if (x.vector, x.error_code) != (*v, *code) {
                    return Err(format!(
                        "fault {} {:x?} ({}), expected {v} {code:x?}",
                        x.vector, x.error_code, x.reason
                    ));
                }
                if e.machine() != &before {
                    return Err("a stopped step changed the machine".into());
                }
                Ok(())
            }
            other => Err(format!("stopped with {other:?}, expected a fault")),
        },
        (Expect::Fault(..), StepResult::Stepped) => Err(format!(
            "the step completed ({:?}), expected a fault",
            e.last_step().map(|s| s.info.outcome.clone())
        )),
    }
}

fn run_table(cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        match catch_unwind(AssertUnwindSafe(|| run_case(c))) {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => failures.push(format!("{}: {msg}", c.name)),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: panicked: {msg}", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

// ---- machine helpers --------------------------------------------------------------------

/// Write `vals` as `width`-byte words upwards from `at` and point RSP at them (an
/// interrupt frame as IRET pops it).
fn frame(m: &mut Machine, at: u64, width: usize, vals: &[u64]) {
    for (i, v) in vals.iter().enumerate() {
        m.mem.poke_le(at + (i * width) as u64, width, *v);
    }
    m.cpu.gpr[RSP] = at;
}

fn user_compat() -> Machine {
    let mut m = machine64();
    load_seg(&mut m, SegReg::Cs, U32_CS);
    m.cpu.gpr[RSP] = U64_STACK_TOP;
    m
}

fn raw_gate32(m: &mut Machine, vector: u8, g: Gate) {
    m.mem
        .poke_le(m.cpu.idtr.base + vector as u64 * 8, 8, g.encode32());
}

/// The 32-bit machine with a #GP handler (interrupt gate, DPL 0) at KERNEL_CODE + 0x200.
fn user32_gp_handler() -> Machine {
    let mut m = machine32();
    set_gate32(&mut m, GP, KERNEL_CODE + 0x200, KERNEL_CS, false, 0);
    m
}

fn set_tss_type(m: &mut Machine, index: u64, ty: u8) {
    let a = m.cpu.gdtr.base + index * 8 + 5;
    let old = m.mem.peek_le(a, 1);
    m.mem.poke_le(a, 1, (old & !0xf) | ty as u64);
}

// ---- SYSENTER ---------------------------------------------------------------------------

#[test]
fn sysenter() {
    run_table(&[
        Case {
            name: "sysenter from CPL 3 loads flat CPL 0 CS/SS and ESP/EIP from the MSRs",
            sdm: "Vol. 2B SYSENTER Operation: CS.Selector = SYSENTER_CS & FFFCH, flat, DPL 0, D=1; SS = CS+8; ESP/EIP = MSR[31:0]; IF=VM=0; nothing saved",
            asm: "sysenter",
            bytes: "0f 34",
            setup: machine32,
            expect: Expect::State(&[
                C::Rip(KERNEL_CODE),
                C::Gpr(RSP, TSS + 0x68),
                C::Cache(SegReg::Cs, 0x60, 0, FLAT, ATTR_KCODE32),
                C::Cache(SegReg::Ss, 0x68, 0, FLAT, ATTR_KDATA),
                C::Flags(0x046),
                C::Cpl(0),
                C::Mode(Mode::Protected),
                C::OnlyGprs(&[RSP]),
                C::MemUnchanged,
                C::Sel(SegReg::Ds, USER_DS),
                C::Event(Ev::Priv(3, 0)),
                C::Event(Ev::StackSwitch("IA32_SYSENTER_ESP")),
            ]),
        },
        Case {
            name: "sysenter forces the RPL of SYSENTER_CS to 0; SS = CS.Selector + 8",
            sdm: "Vol. 2B SYSENTER Operation: CS.Selector <- IA32_SYSENTER_CS[15:0] AND FFFCH; SS.Selector <- CS.Selector + 8",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.set_msr(msr::SYSENTER_CS, 0x63);
                m
            },
            expect: Expect::State(&[C::Sel(SegReg::Cs, 0x60), C::Sel(SegReg::Ss, 0x68), C::Cpl(0)]),
        },
        Case {
            name: "sysenter outside IA-32e mode loads only bits 31:0 of SYSENTER_ESP/EIP",
            sdm: "Vol. 2B SYSENTER Operation: ESP <- IA32_SYSENTER_ESP[31:0]; EIP <- IA32_SYSENTER_EIP[31:0]",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.set_msr(msr::SYSENTER_ESP, 0x1_0000_0000 | (TSS + 0x68));
                m.cpu.set_msr(msr::SYSENTER_EIP, 0x2_0000_0000 | KERNEL_CODE);
                m
            },
            expect: Expect::State(&[C::Rip(KERNEL_CODE), C::Gpr(RSP, TSS + 0x68)]),
        },
        Case {
            name: "sysenter clears IF and VM and keeps every other flag",
            sdm: "Vol. 2B SYSENTER Operation: RFLAGS.VM <- 0; RFLAGS.IF <- 0 (Flags Affected: VM, IF)",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.rflags = 0x2_0e43; // VM IF OF DF ZF CF
                m
            },
            expect: Expect::State(&[C::Flags(0x0c43)]),
        },
        Case {
            name: "sysenter with SYSENTER_CS[15:2] = 0 (MSR = 0) raises #GP(0)",
            sdm: "Vol. 2B SYSENTER Protected Mode Exceptions: #GP(0) if IA32_SYSENTER_CS[15:2] = 0",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.set_msr(msr::SYSENTER_CS, 0);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysenter with SYSENTER_CS = 3 still raises #GP(0): bits 15:2 are zero",
            sdm: "Vol. 2B SYSENTER Operation: IF CR0.PE = 0 OR IA32_SYSENTER_CS[15:2] = 0 THEN #GP(0)",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.set_msr(msr::SYSENTER_CS, 3);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysenter with SYSENTER_CS = 4 is allowed: only bits 15:2 are tested, no descriptor is read",
            sdm: "Vol. 2B SYSENTER: the descriptor caches are loaded with fixed values, not from the GDT/LDT",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.set_msr(msr::SYSENTER_CS, 4);
                m
            },
            expect: Expect::State(&[
                C::Cache(SegReg::Cs, 0x4, 0, FLAT, ATTR_KCODE32),
                C::Cache(SegReg::Ss, 0xc, 0, FLAT, ATTR_KDATA),
            ]),
        },
        Case {
            name: "sysenter in real mode (CR0.PE = 0) raises #GP(0)",
            sdm: "Vol. 2B SYSENTER Real-Address Mode Exceptions: #GP if protected mode is not enabled",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine32();
                m.cpu.cr0 &= !(CR0_PE | CR0_PG);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysenter in IA-32e compatibility mode enters 64-bit mode with the full 64-bit MSRs",
            sdm: "Vol. 2B SYSENTER Operation: IF in IA-32e mode THEN RSP <- IA32_SYSENTER_ESP; RIP <- IA32_SYSENTER_EIP; CS.L <- 1; CS.D <- 0",
            asm: "sysenter (.code32)",
            bytes: "0f 34",
            setup: || {
                let mut m = user_compat();
                m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
                m.cpu.set_msr(msr::SYSENTER_ESP, K64_STACK_TOP);
                m.cpu.set_msr(msr::SYSENTER_EIP, K64_CODE);
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(K64_CODE),
                C::Gpr(RSP, K64_STACK_TOP),
                C::Cache(SegReg::Cs, K64_CS, 0, FLAT, ATTR_KCODE64),
                C::Cache(SegReg::Ss, K64_DS, 0, FLAT, ATTR_KDATA),
                C::Flags(0x046),
                C::Cpl(0),
                C::OnlyGprs(&[RSP]),
            ]),
        },
        Case {
            name: "sysenter in 64-bit mode is valid on Intel and stays in 64-bit mode",
            sdm: "Vol. 2B SYSENTER opcode table: 64-bit mode Valid",
            asm: "sysenter",
            bytes: "0f 34",
            setup: || {
                let mut m = machine64();
                m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
                m.cpu.set_msr(msr::SYSENTER_ESP, K64_STACK_TOP);
                m.cpu.set_msr(msr::SYSENTER_EIP, K64_CODE);
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(K64_CODE),
                C::Gpr(RSP, K64_STACK_TOP),
                C::Sel(SegReg::Cs, K64_CS),
                C::Sel(SegReg::Ss, K64_DS),
            ]),
        },
    ]);
}

// ---- SYSEXIT ----------------------------------------------------------------------------

#[test]
fn sysexit() {
    run_table(&[
        Case {
            name: "sysexit returns to CPL 3 with CS = SYSENTER_CS+16|3, SS = +24|3, ESP = ECX, EIP = EDX",
            sdm: "Vol. 2B SYSEXIT Operation: CS.Selector <- IA32_SYSENTER_CS[15:0] + 16 OR 3; SS.Selector <- CS.Selector + 8; ESP <- ECX; EIP <- EDX",
            asm: "sysexit",
            bytes: "0f 35",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = USER_STACK_TOP - 12;
                m.cpu.gpr[RDX] = USER_CODE + 0x10;
                m.cpu.rflags = 0x0a97; // OF IF SF AF PF CF: not changed by SYSEXIT
                m
            },
            expect: Expect::State(&[
                C::Rip(USER_CODE + 0x10),
                C::Gpr(RSP, USER_STACK_TOP - 12),
                C::Cache(SegReg::Cs, 0x73, 0, FLAT, ATTR_UCODE32),
                C::Cache(SegReg::Ss, 0x7b, 0, FLAT, ATTR_UDATA),
                C::Flags(0x0a97),
                C::Cpl(3),
                C::OnlyGprs(&[RSP]),
                C::MemUnchanged,
                C::Event(Ev::Priv(0, 3)),
            ]),
        },
        Case {
            name: "sysexit at CPL 3 raises #GP(0)",
            sdm: "Vol. 2B SYSEXIT Protected Mode Exceptions: #GP(0) if CPL != 0",
            asm: "sysexit",
            bytes: "0f 35",
            setup: machine32,
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysexit with SYSENTER_CS = 0 raises #GP(0)",
            sdm: "Vol. 2B SYSEXIT Protected Mode Exceptions: #GP(0) if IA32_SYSENTER_CS[15:2] = 0",
            asm: "sysexit",
            bytes: "0f 35",
            setup: || {
                let mut m = kernel32();
                m.cpu.set_msr(msr::SYSENTER_CS, 0);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysexit with SYSENTER_CS = 3 raises #GP(0)",
            sdm: "Vol. 2B SYSEXIT Operation: IF IA32_SYSENTER_CS[15:2] = 0 OR CR0.PE = 0 OR CPL != 0 THEN #GP(0)",
            asm: "sysexit",
            bytes: "0f 35",
            setup: || {
                let mut m = kernel32();
                m.cpu.set_msr(msr::SYSENTER_CS, 3);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysexitq (REX.W) returns to 64-bit mode with CS = MSR+32|3, SS = CS+8, RSP = RCX, RIP = RDX",
            sdm: "Vol. 2B SYSEXIT Operation: IF operand size is 64-bit THEN CS.Selector <- IA32_SYSENTER_CS[15:0] + 32; CS.L <- 1; RSP <- RCX; RIP <- RDX",
            asm: "sysexitq",
            bytes: "48 0f 35",
            setup: || {
                let mut m = kernel64();
                m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
                m.cpu.gpr[RCX] = U64_STACK_TOP - 0x100;
                m.cpu.gpr[RDX] = U64_CODE + 0x10;
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(U64_CODE + 0x10),
                C::Gpr(RSP, U64_STACK_TOP - 0x100),
                C::Cache(SegReg::Cs, 0x33, 0, FLAT, ATTR_UCODE64),
                C::Cache(SegReg::Ss, 0x3b, 0, FLAT, ATTR_UDATA),
                C::Flags(0x246),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "sysexit without REX.W in 64-bit mode returns to compatibility mode with ESP = ECX, EIP = EDX",
            sdm: "Vol. 2B SYSEXIT Operation: ELSE RSP <- ECX; RIP <- EDX; CS.Selector <- MSR + 16 OR 3; CS.L <- 0; CS.D <- 1",
            asm: "sysexitl",
            bytes: "0f 35",
            setup: || {
                let mut m = kernel64();
                m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
                m.cpu.gpr[RCX] = 0x1234_5678_ffff_d000;
                m.cpu.gpr[RDX] = 0xdead_0000_0804_8000;
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Compat),
                C::Rip(0x0804_8000),
                C::Gpr(RSP, 0xffff_d000),
                C::Cache(SegReg::Cs, U32_CS, 0, FLAT, ATTR_UCODE32),
                C::Cache(SegReg::Ss, U64_DS, 0, FLAT, ATTR_UDATA),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "sysexitq to a non-canonical RDX raises #GP(0)",
            sdm: "Vol. 2B SYSEXIT 64-Bit Mode Exceptions: #GP(0) if RCX or RDX contains a non-canonical address",
            asm: "sysexitq",
            bytes: "48 0f 35",
            setup: || {
                let mut m = kernel64();
                m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
                m.cpu.gpr[RCX] = U64_STACK_TOP;
                m.cpu.gpr[RDX] = 0x0000_8000_0000_0000;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
    ]);
}

// ---- SYSCALL / SYSRET -------------------------------------------------------------------

#[test]
fn syscall_sysret() {
    run_table(&[
        Case {
            name: "syscall: RCX = next RIP, R11 = RFLAGS, RFLAGS &= ~FMASK, CS/SS from STAR[47:32], RIP = LSTAR",
            sdm: "Vol. 2B SYSCALL Operation",
            asm: "syscall",
            bytes: "0f 05",
            setup: || {
                let mut m = machine64();
                m.cpu.rflags = 0x4_0647; // AC DF IF ZF PF CF
                m
            },
            expect: Expect::State(&[
                C::Gpr(RCX, U64_CODE + 2),
                C::Gpr(R11, 0x4_0647),
                C::Flags(0x47),
                C::Rip(K64_CODE),
                C::Cache(SegReg::Cs, K64_CS, 0, FLAT, ATTR_KCODE64),
                C::Cache(SegReg::Ss, K64_DS, 0, FLAT, ATTR_KDATA),
                C::Gpr(RSP, U64_STACK_TOP),
                C::Cpl(0),
                C::OnlyGprs(&[RCX, R11]),
                C::MemUnchanged,
                C::Event(Ev::Priv(3, 0)),
            ]),
        },
        Case {
            name: "syscall forces CS.RPL to 0 but SS.Selector is STAR[47:32] + 8 unmasked",
            sdm: "Vol. 2B SYSCALL Operation: CS.Selector <- IA32_STAR[47:32] AND FFFCH; SS.Selector <- IA32_STAR[47:32] + 8",
            asm: "syscall",
            bytes: "0f 05",
            setup: || {
                let mut m = machine64();
                m.cpu.set_msr(msr::STAR, 0x0023_0013_0000_0000);
                m
            },
            expect: Expect::State(&[C::Sel(SegReg::Cs, 0x10), C::Sel(SegReg::Ss, 0x1b)]),
        },
        Case {
            name: "syscall with EFER.SCE = 0 raises #UD",
            sdm: "Vol. 2B SYSCALL Operation: IF ... (IA32_EFER.SCE != 1) THEN #UD",
            asm: "syscall",
            bytes: "0f 05",
            setup: || {
                let mut m = machine64();
                m.cpu
                    .set_msr(msr::EFER, msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE);
                m
            },
            expect: Expect::Fault(UD, None),
        },
        Case {
            name: "syscall in compatibility mode raises #UD (Intel)",
            sdm: "Vol. 2B SYSCALL Operation: IF (CS.L != 1) ... THEN #UD; opcode table Compat/Leg Mode Invalid",
            asm: "syscall (.code32)",
            bytes: "0f 05",
            setup: user_compat,
            expect: Expect::Fault(UD, None),
        },
        Case {
            name: "syscall in legacy protected mode raises #UD",
            sdm: "Vol. 2B SYSCALL Operation: IF ... (IA32_EFER.LMA != 1) THEN #UD",
            asm: "syscall",
            bytes: "0f 05",
            setup: machine32,
            expect: Expect::Fault(UD, None),
        },
        Case {
            name: "sysretq: RIP = RCX, RFLAGS = (R11 & 3C7FD7H) | 2, CS = STAR[63:48]+16|3, SS = STAR[63:48]+8|3",
            sdm: "Vol. 2B SYSRET Operation",
            asm: "sysretq",
            bytes: "48 0f 07",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = U64_CODE + 0x20;
                m.cpu.gpr[R11] = 0xffff_ffff_ffff_ffff;
                m
            },
            expect: Expect::State(&[
                C::Rip(U64_CODE + 0x20),
                C::Flags(0x3c_7fd7),
                C::Cache(SegReg::Cs, U64_CS, 0, FLAT, ATTR_UCODE64),
                C::Cache(SegReg::Ss, U64_DS, 0, FLAT, ATTR_UDATA),
                C::Mode(Mode::Long64),
                C::Cpl(3),
                C::Gpr(RSP, K64_STACK_TOP),
                C::OnlyGprs(&[]),
                C::Event(Ev::Priv(0, 3)),
            ]),
        },
        Case {
            name: "sysretq restores an ordinary user RFLAGS image unchanged",
            sdm: "Vol. 2B SYSRET Operation: RFLAGS <- (R11 & 3C7FD7H) | 2",
            asm: "sysretq",
            bytes: "48 0f 07",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = U64_CODE + 0x20;
                m.cpu.gpr[R11] = 0x246;
                m.cpu.rflags = 0x46;
                m
            },
            expect: Expect::State(&[C::Flags(0x246), C::Rip(U64_CODE + 0x20)]),
        },
        Case {
            name: "sysret (32-bit operand size) returns to compatibility mode: CS = STAR[63:48]|3, EIP = ECX",
            sdm: "Vol. 2B SYSRET Operation: ELSE RIP <- ECX; CS.Selector <- IA32_STAR[63:48]; CS.L <- 0; CS.D <- 1",
            asm: "sysretl",
            bytes: "0f 07",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = 0xffff_ffff_0804_8010;
                m.cpu.gpr[R11] = 0x202;
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Compat),
                C::Rip(0x0804_8010),
                C::Cache(SegReg::Cs, U32_CS, 0, FLAT, ATTR_UCODE32),
                C::Cache(SegReg::Ss, U64_DS, 0, FLAT, ATTR_UDATA),
                C::Flags(0x202),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "sysret at CPL 3 raises #GP(0)",
            sdm: "Vol. 2B SYSRET 64-Bit Mode Exceptions: #GP(0) if CPL != 0",
            asm: "sysretq",
            bytes: "48 0f 07",
            setup: || {
                let mut m = machine64();
                m.cpu.gpr[RCX] = U64_CODE;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysretq with a non-canonical RCX raises #GP(0)",
            sdm: "Vol. 2B SYSRET Operation: IF (RCX is not canonical) THEN #GP(0)",
            asm: "sysretq",
            bytes: "48 0f 07",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = 0x0000_8000_0000_0000;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sysret with EFER.SCE = 0 raises #UD",
            sdm: "Vol. 2B SYSRET Operation: IF ... (IA32_EFER.SCE != 1) THEN #UD",
            asm: "sysretq",
            bytes: "48 0f 07",
            setup: || {
                let mut m = kernel64();
                m.cpu
                    .set_msr(msr::EFER, msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE);
                m.cpu.gpr[RCX] = U64_CODE;
                m
            },
            expect: Expect::Fault(UD, None),
        },
        Case {
            name: "sysret in compatibility mode raises #UD before the CPL check",
            sdm: "Vol. 2B SYSRET Operation: the #UD test (CS.L != 1) precedes IF (CPL != 0) THEN #GP(0)",
            asm: "sysret (.code32)",
            bytes: "0f 07",
            setup: user_compat,
            expect: Expect::Fault(UD, None),
        },
    ]);
}

// ---- SWAPGS -----------------------------------------------------------------------------

#[test]
fn swapgs() {
    run_table(&[
        Case {
            name: "swapgs exchanges GS.base and IA32_KERNEL_GS_BASE; the selector is unchanged",
            sdm: "Vol. 2B SWAPGS Operation: tmp <- GS.base; GS.base <- IA32_KERNEL_GS_BASE; IA32_KERNEL_GS_BASE <- tmp",
            asm: "swapgs",
            bytes: "0f 01 f8",
            setup: || {
                let mut m = kernel64();
                m.cpu.seg[SegReg::Gs as usize].base = 0x7fff_f7fd_0000;
                m.cpu.set_msr(msr::KERNEL_GS_BASE, 0xffff_8880_0000_0000);
                m
            },
            expect: Expect::State(&[
                C::Base(SegReg::Gs, 0xffff_8880_0000_0000),
                C::Msr(msr::KERNEL_GS_BASE, 0x7fff_f7fd_0000),
                C::Msr(msr::GS_BASE, 0xffff_8880_0000_0000),
                C::Sel(SegReg::Gs, 0),
                C::OnlyGprs(&[]),
                C::Rip(K64_CODE + 3),
            ]),
        },
        Case {
            name: "swapgs at CPL 3 raises #GP(0)",
            sdm: "Vol. 2B SWAPGS 64-Bit Mode Exceptions: #GP(0) if CPL != 0",
            asm: "swapgs",
            bytes: "0f 01 f8",
            setup: machine64,
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "swapgs in legacy protected mode raises #UD",
            sdm: "Vol. 2B SWAPGS Protected Mode Exceptions: #UD if Mode != 64-bit",
            asm: ".byte 0x0f,0x01,0xf8",
            bytes: "0f 01 f8",
            setup: kernel32,
            expect: Expect::Fault(UD, None),
        },
        Case {
            name: "swapgs in compatibility mode raises #UD (before the CPL check)",
            sdm: "Vol. 2B SWAPGS Operation: IF CS.L != 1 THEN #UD; IF CPL != 0 THEN #GP(0)",
            asm: ".byte 0x0f,0x01,0xf8 (.code32)",
            bytes: "0f 01 f8",
            setup: user_compat,
            expect: Expect::Fault(UD, None),
        },
    ]);
}

// ---- WRMSR / RDMSR ----------------------------------------------------------------------

#[test]
fn wrmsr_rdmsr() {
    run_table(&[
        Case {
            name: "wrmsr writes EDX:EAX to the MSR in ECX (SYSENTER_EIP)",
            sdm: "Vol. 2B WRMSR Operation: MSR[ECX] <- EDX:EAX",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = msr::SYSENTER_EIP as u64;
                m.cpu.gpr[RDX] = 0;
                m.cpu.gpr[RAX] = 0xc010_0400;
                m
            },
            expect: Expect::State(&[
                C::Msr(msr::SYSENTER_EIP, 0xc010_0400),
                C::OnlyGprs(&[]),
                C::Rip(KERNEL_CODE + 2),
            ]),
        },
        Case {
            name: "wrmsr uses only EDX and EAX: the upper halves of RDX and RAX are ignored",
            sdm: "Vol. 2B WRMSR Operation: MSR[ECX] <- EDX:EAX (the high 32 bits of RAX/RDX are ignored)",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = 0xffff_ffff_0000_0000 | msr::LSTAR as u64;
                m.cpu.gpr[RDX] = 0x1234_5678_ffff_ffff;
                m.cpu.gpr[RAX] = 0xdead_beef_8160_0000;
                m
            },
            expect: Expect::State(&[C::Msr(msr::LSTAR, 0xffff_ffff_8160_0000)]),
        },
        Case {
            name: "rdmsr loads EDX:EAX and zero-extends into RDX and RAX",
            sdm: "Vol. 2B RDMSR Operation: EDX:EAX <- MSR[ECX] (64-bit mode: high 32 bits of RAX/RDX cleared)",
            asm: "rdmsr",
            bytes: "0f 32",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = msr::STAR as u64;
                m.cpu.gpr[RAX] = u64::MAX;
                m.cpu.gpr[RDX] = u64::MAX;
                m
            },
            expect: Expect::State(&[
                C::Gpr(RAX, 0),
                C::Gpr(RDX, 0x0023_0010),
                C::OnlyGprs(&[RAX, RDX]),
            ]),
        },
        Case {
            name: "rdmsr of IA32_FS_BASE reads the FS descriptor-cache base",
            sdm: "Vol. 3A 3.4.4 Segment Loading in IA-32e Mode: FS.base is mapped to IA32_FS_BASE",
            asm: "rdmsr",
            bytes: "0f 32",
            setup: || {
                let mut m = kernel64();
                m.cpu.seg[SegReg::Fs as usize].base = 0x7fff_1234_5000;
                m.cpu.gpr[RCX] = msr::FS_BASE as u64;
                m
            },
            expect: Expect::State(&[C::Gpr(RAX, 0x1234_5000), C::Gpr(RDX, 0x7fff)]),
        },
        Case {
            name: "wrmsr at CPL 3 raises #GP(0)",
            sdm: "Vol. 2B WRMSR Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RCX] = msr::SYSENTER_CS as u64;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "rdmsr at CPL 3 raises #GP(0)",
            sdm: "Vol. 2B RDMSR Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "rdmsr",
            bytes: "0f 32",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RCX] = msr::SYSENTER_CS as u64;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "wrmsr to an MSR the machine does not implement raises #GP(0)",
            sdm: "Vol. 2B WRMSR: #GP(0) if the value in ECX specifies a reserved or unimplemented MSR address",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = 0x1234;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "rdmsr of an MSR the machine does not implement raises #GP(0)",
            sdm: "Vol. 2B RDMSR: #GP(0) if the value in ECX specifies a reserved or unimplemented MSR address",
            asm: "rdmsr",
            bytes: "0f 32",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = 0x1234;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "wrmsr setting a reserved IA32_EFER bit raises #GP(0)",
            sdm: "Vol. 2B WRMSR: #GP(0) if a non-zero value is written to reserved bits; Vol. 4 table 2-2 IA32_EFER bits 7:1 reserved",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = msr::EFER as u64;
                m.cpu.gpr[RAX] = msr::EFER_NXE | 1 << 2;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "wrmsr of a non-canonical IA32_LSTAR raises #GP(0)",
            sdm: "Vol. 3A 5.8.8: any address written to IA32_LSTAR is first checked by WRMSR to ensure canonical form",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = msr::LSTAR as u64;
                m.cpu.gpr[RDX] = 0x0000_8000;
                m.cpu.gpr[RAX] = 0;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "wrmsr that changes IA32_EFER.LME while CR0.PG = 1 raises #GP(0)",
            sdm: "Vol. 3A 4.1.2: IA32_EFER.LME cannot be modified while paging is enabled; WRMSR causes #GP(0)",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RCX] = msr::EFER as u64;
                m.cpu.gpr[RAX] = msr::EFER_NXE | msr::EFER_LME;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "wrmsr to IA32_EFER ignores the read-only LMA bit and may clear SCE",
            sdm: "Vol. 4 table 2-2: IA32_EFER.LMA (R) is read-only",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = msr::EFER as u64;
                m.cpu.gpr[RAX] = msr::EFER_LME | msr::EFER_NXE;
                m
            },
            expect: Expect::State(&[C::Msr(
                msr::EFER,
                msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE,
            )]),
        },
        Case {
            name: "wrmsr to IA32_FS_BASE writes the FS base, not the selector",
            sdm: "Vol. 3A 3.4.4: WRMSR to IA32_FS_BASE loads the FS base address",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RCX] = msr::FS_BASE as u64;
                m.cpu.gpr[RDX] = 0x7fff;
                m.cpu.gpr[RAX] = 0xf7fd_0000;
                m
            },
            expect: Expect::State(&[
                C::Base(SegReg::Fs, 0x7fff_f7fd_0000),
                C::Sel(SegReg::Fs, 0),
                C::Msr(msr::FS_BASE, 0x7fff_f7fd_0000),
            ]),
        },
        Case {
            name: "wrmsr to IA32_GS_BASE writes the GS base and leaves KERNEL_GS_BASE",
            sdm: "Vol. 3A 3.4.4: WRMSR to IA32_GS_BASE loads the GS base address",
            asm: "wrmsr",
            bytes: "0f 30",
            setup: || {
                let mut m = kernel64();
                m.cpu.set_msr(msr::KERNEL_GS_BASE, 0x5000);
                m.cpu.gpr[RCX] = msr::GS_BASE as u64;
                m.cpu.gpr[RDX] = 0xffff_8880;
                m.cpu.gpr[RAX] = 0x7fc0_0000;
                m
            },
            expect: Expect::State(&[
                C::Base(SegReg::Gs, 0xffff_8880_7fc0_0000),
                C::Msr(msr::KERNEL_GS_BASE, 0x5000),
            ]),
        },
    ]);
}

// ---- CLI / STI / HLT --------------------------------------------------------------------

#[test]
fn cli_sti_hlt() {
    run_table(&[
        Case {
            name: "cli at CPL 3 with IOPL 0 raises #GP(0)",
            sdm: "Vol. 2A CLI Protected Mode Exceptions: #GP(0) if CPL > IOPL (and PVI = 0)",
            asm: "cli",
            bytes: "fa",
            setup: machine32,
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sti at CPL 3 with IOPL 0 raises #GP(0)",
            sdm: "Vol. 2B STI Protected Mode Exceptions: #GP(0) if CPL > IOPL (and PVI = 0)",
            asm: "sti",
            bytes: "fb",
            setup: || {
                let mut m = machine32();
                m.cpu.rflags = 0x46;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "cli at CPL 3 with IOPL 3 clears IF",
            sdm: "Vol. 2A CLI Operation: IF IOPL >= CPL THEN IF <- 0",
            asm: "cli",
            bytes: "fa",
            setup: || {
                let mut m = machine32();
                m.cpu.rflags = 0x3246;
                m
            },
            expect: Expect::State(&[C::Flags(0x3046), C::Rip(USER_CODE + 1)]),
        },
        Case {
            name: "cli at CPL 0 clears IF",
            sdm: "Vol. 2A CLI Operation",
            asm: "cli",
            bytes: "fa",
            setup: kernel32,
            expect: Expect::State(&[C::Flags(0x046), C::Shadow(false)]),
        },
        Case {
            name: "sti with IF = 0 sets IF and starts the one-instruction interrupt shadow",
            sdm: "Vol. 2B STI: if IF = 0, maskable interrupts stay inhibited until the end of the next instruction",
            asm: "sti",
            bytes: "fb",
            setup: || {
                let mut m = kernel32();
                m.cpu.rflags = 0x46;
                m
            },
            expect: Expect::State(&[C::Flags(0x246), C::Shadow(true)]),
        },
        Case {
            name: "sti with IF already 1 does not start a shadow",
            sdm: "Vol. 2B STI: the shadow applies only when STI sets IF from 0",
            asm: "sti",
            bytes: "fb",
            setup: kernel32,
            expect: Expect::State(&[C::Flags(0x246), C::Shadow(false)]),
        },
        Case {
            name: "hlt at CPL 3 raises #GP(0)",
            sdm: "Vol. 2A HLT Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "hlt",
            bytes: "f4",
            setup: machine32,
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "hlt at CPL 0 halts with EIP at the next instruction",
            sdm: "Vol. 2A HLT: the saved instruction pointer points to the instruction following HLT",
            asm: "hlt",
            bytes: "f4",
            setup: kernel32,
            expect: Expect::State(&[
                C::Outcome(Out::Halt),
                C::Halted(true),
                C::Rip(KERNEL_CODE + 1),
            ]),
        },
        Case {
            name: "ud2 raises #UD",
            sdm: "Vol. 2B UD: raises an invalid opcode exception in all operating modes",
            asm: "ud2",
            bytes: "0f 0b",
            setup: machine32,
            expect: Expect::Fault(UD, None),
        },
    ]);
}

// ---- INT n / INT3 / INTO ----------------------------------------------------------------

/// Linux 2.6: `set_system_gate(0x80, &system_call)`, a DPL 3 trap gate.
fn int80_trap() -> Machine {
    let mut m = machine32();
    set_gate32(&mut m, 0x80, KERNEL_CODE + 0x100, KERNEL_CS, true, 3);
    m
}

fn k64_int80(dpl: u8, ist: u8) -> Machine {
    let mut m = machine64();
    set_gate64(&mut m, 0x80, K64_CODE + 0x100, false, dpl, ist);
    m
}

#[test]
fn int_n_32() {
    run_table(&[
        Case {
            name: "int $0x80 through a DPL 3 trap gate from CPL 3 switches to TSS ss0:esp0 and pushes 5 dwords",
            sdm: "Vol. 2A INT n Operation INTER-PRIVILEGE-LEVEL-INTERRUPT: SS:ESP <- TSS(SS0:ESP0); Push(SS, ESP, EFLAGS, CS, EIP); trap gate leaves IF",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: int80_trap,
            expect: Expect::State(&[
                C::Rip(KERNEL_CODE + 0x100),
                C::Cache(SegReg::Cs, KERNEL_CS, 0, FLAT, ATTR_KCODE32),
                C::Cache(SegReg::Ss, KERNEL_DS, 0, FLAT, ATTR_KDATA),
                C::Gpr(RSP, KERNEL_STACK_TOP - 20),
                C::Mem(KERNEL_STACK_TOP - 4, 4, USER_DS as u64),
                C::Mem(KERNEL_STACK_TOP - 8, 4, USER_STACK_TOP),
                C::Mem(KERNEL_STACK_TOP - 12, 4, 0x246),
                C::Mem(KERNEL_STACK_TOP - 16, 4, USER_CS as u64),
                C::Mem(KERNEL_STACK_TOP - 20, 4, USER_CODE + 2),
                C::Flags(0x246),
                C::Cpl(0),
                C::OnlyGprs(&[RSP]),
                C::Sel(SegReg::Ds, USER_DS),
                C::Event(Ev::Priv(3, 0)),
                C::Event(Ev::StackSwitch("TSS.esp0")),
                C::Event(Ev::Delivered(0x80)),
            ]),
        },
        Case {
            name: "int $0x80 through an interrupt gate clears IF; TF and NT are cleared, the pushed image keeps them",
            sdm: "Vol. 2A INT n Operation: TF <- 0; VM <- 0; RF <- 0; NT <- 0; IF interrupt gate THEN IF <- 0",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 0x80, KERNEL_CODE + 0x100, KERNEL_CS, false, 3);
                m.cpu.rflags = 0x4346; // NT TF IF ZF PF
                m
            },
            expect: Expect::State(&[
                C::Flags(0x046),
                C::Mem(KERNEL_STACK_TOP - 12, 4, 0x4346),
                C::Gpr(RSP, KERNEL_STACK_TOP - 20),
            ]),
        },
        Case {
            name: "int $0x80 through a DPL 0 gate from CPL 3 raises #GP(0x80*8+2)",
            sdm: "Vol. 2A INT n Operation: IF software interrupt AND gate DPL < CPL THEN #GP(error_code(vector_number,1,0))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 0x80, KERNEL_CODE + 0x100, KERNEL_CS, true, 0);
                m
            },
            expect: Expect::Fault(GP, Some(0x402)),
        },
        Case {
            name: "int $0x81 through an empty (zeroed) IDT entry raises #GP(0x81*8+2): the type is checked before P",
            sdm: "Vol. 2A INT n Operation: IF descriptor is not an interrupt-, trap-, or task-gate type THEN #GP(error_code(vector_number,1,EXT)) precedes the present check",
            asm: "int $0x81",
            bytes: "cd 81",
            setup: int80_trap,
            expect: Expect::Fault(GP, Some(0x40a)),
        },
        Case {
            name: "int $0x81 through a DPL 3 trap gate with P = 0 raises #NP(0x81*8+2)",
            sdm: "Vol. 2A INT n Operation: IF gate not present THEN #NP(error_code(vector_number,1,EXT))",
            asm: "int $0x81",
            bytes: "cd 81",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    0x81,
                    Gate {
                        offset: KERNEL_CODE,
                        selector: KERNEL_CS,
                        ty: 0xf,
                        dpl: 3,
                        present: false,
                        ist: 0,
                    },
                );
                m
            },
            expect: Expect::Fault(NP, Some(0x40a)),
        },
        Case {
            name: "int $0x81 through a DPL 0 gate with P = 0 from CPL 3 raises #GP(0x40a): DPL is checked before P",
            sdm: "Vol. 2A INT n Operation: the gate DPL check precedes IF gate not present THEN #NP",
            asm: "int $0x81",
            bytes: "cd 81",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    0x81,
                    Gate {
                        offset: KERNEL_CODE,
                        selector: KERNEL_CS,
                        ty: 0xf,
                        dpl: 0,
                        present: false,
                        ist: 0,
                    },
                );
                m
            },
            expect: Expect::Fault(GP, Some(0x40a)),
        },
        Case {
            name: "int $0x80 beyond the IDT limit raises #GP(0x80*8+2)",
            sdm: "Vol. 2A INT n Operation: IF ((vector_number << 3) + 7) is not within IDT limits THEN #GP(error_code(vector_number,1,EXT))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = int80_trap();
                m.cpu.idtr.limit = 0x3ff;
                m
            },
            expect: Expect::Fault(GP, Some(0x402)),
        },
        Case {
            name: "int $0x80 through an IDT entry that is not a gate (a TSS descriptor) raises #GP(0x402)",
            sdm: "Vol. 2A INT n Operation: IF descriptor is not an interrupt-, trap-, or task-gate type THEN #GP(error_code(vector_number,1,EXT))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    0x80,
                    Gate {
                        offset: KERNEL_CODE,
                        selector: KERNEL_CS,
                        ty: 0x9,
                        dpl: 3,
                        present: true,
                        ist: 0,
                    },
                );
                m
            },
            expect: Expect::Fault(GP, Some(0x402)),
        },
        Case {
            name: "int $0x80 through a gate whose selector is beyond the GDT limit raises #GP(selector)",
            sdm: "Vol. 2A INT n Operation: IF new code-segment selector index is not within its descriptor table limits THEN #GP(error_code(new code-segment selector,0,EXT))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 0x80, KERNEL_CODE, 0x100, true, 3);
                m
            },
            expect: Expect::Fault(GP, Some(0x100)),
        },
        Case {
            name: "int $0x80 through a gate naming a data segment raises #GP(selector)",
            sdm: "Vol. 2A INT n Operation: IF descriptor does not indicate a code segment THEN #GP(error_code(new code-segment selector,0,EXT))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 0x80, KERNEL_CODE, KERNEL_DS, true, 3);
                m
            },
            expect: Expect::Fault(GP, Some(KERNEL_DS as u32)),
        },
        Case {
            name: "int3 through a DPL 3 gate pushes the address of the next instruction",
            sdm: "Vol. 3A 6.15 Interrupt 3: a trap; the saved EIP points to the instruction following INT3",
            asm: "int3",
            bytes: "cc",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 3, KERNEL_CODE + 0x300, KERNEL_CS, true, 3);
                m
            },
            expect: Expect::State(&[
                C::Rip(KERNEL_CODE + 0x300),
                C::Mem(KERNEL_STACK_TOP - 20, 4, USER_CODE + 1),
                C::Gpr(RSP, KERNEL_STACK_TOP - 20),
                C::Cpl(0),
            ]),
        },
        Case {
            name: "int3 through a DPL 0 gate raises #GP(3*8+2)",
            sdm: "Vol. 2A INT3: the gate DPL check applies to INT3 as to INT n",
            asm: "int3",
            bytes: "cc",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 3, KERNEL_CODE + 0x300, KERNEL_CS, true, 0);
                m
            },
            expect: Expect::Fault(GP, Some(0x1a)),
        },
        Case {
            name: "into with OF = 0 does nothing",
            sdm: "Vol. 2A INTO Operation: IF OF = 1 THEN interrupt 4",
            asm: "into",
            bytes: "ce",
            setup: machine32,
            expect: Expect::State(&[C::Rip(USER_CODE + 1), C::OnlyGprs(&[]), C::MemUnchanged]),
        },
        Case {
            name: "into with OF = 1 delivers #OF (vector 4) with the next EIP",
            sdm: "Vol. 2A INTO Operation; Vol. 3A 6.15 Interrupt 4: a trap",
            asm: "into",
            bytes: "ce",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, 4, KERNEL_CODE + 0x400, KERNEL_CS, true, 3);
                m.cpu.rflags |= 0x800;
                m
            },
            expect: Expect::State(&[
                C::Rip(KERNEL_CODE + 0x400),
                C::Mem(KERNEL_STACK_TOP - 20, 4, USER_CODE + 1),
                C::Mem(KERNEL_STACK_TOP - 12, 4, 0xa46),
            ]),
        },
        Case {
            name: "int from CPL 0 stays on the current stack and pushes EFLAGS, CS, EIP",
            sdm: "Vol. 2A INT n Operation INTRA-PRIVILEGE-LEVEL-INTERRUPT: Push(EFLAGS); Push(far pointer to return instruction)",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = int80_trap();
                load_seg(&mut m, SegReg::Cs, KERNEL_CS);
                load_seg(&mut m, SegReg::Ss, KERNEL_DS);
                m.cpu.rip = KERNEL_CODE;
                m.cpu.gpr[RSP] = KERNEL_STACK_TOP - 0x100;
                m
            },
            expect: Expect::State(&[
                C::Gpr(RSP, KS32 - 0x100 - 12),
                C::Mem(KS32 - 0x100 - 4, 4, 0x246),
                C::Mem(KS32 - 0x100 - 8, 4, KERNEL_CS as u64),
                C::Mem(KS32 - 0x100 - 12, 4, KERNEL_CODE + 2),
                C::Mem(KS32 - 4, 4, 0),
                C::Sel(SegReg::Ss, KERNEL_DS),
                C::Rip(KERNEL_CODE + 0x100),
                C::Event(Ev::NoStackSwitch),
            ]),
        },
        Case {
            name: "int from CPL 3 with a null TSS ss0 raises #TS(EXT=0)",
            sdm: "Vol. 2A INT n Operation: IF NewSS is NULL THEN #TS(EXT)",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = int80_trap();
                m.mem.poke_le(TSS + 8, 2, 0);
                m
            },
            expect: Expect::Fault(10, Some(0)),
        },
        Case {
            name: "int from CPL 3 with TSS ss0 naming a DPL 3 segment raises #TS(ss0)",
            sdm: "Vol. 2A INT n Operation: IF NewSS RPL != new code-segment DPL ... THEN #TS(error_code(NewSS,0,EXT))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = int80_trap();
                m.mem.poke_le(TSS + 8, 2, USER_DS as u64);
                m
            },
            expect: Expect::Fault(10, Some(0x78)),
        },
    ]);
}

#[test]
fn int_n_64() {
    run_table(&[
        Case {
            name: "64-bit int $0x80 from CPL 3: rsp0 aligned to 16, SS:RSP always pushed, SS = null with RPL 0",
            sdm: "Vol. 3A 6.14.2-6.14.4: the new RSP is aligned on 16 bytes; SS:RSP is pushed unconditionally; SS is loaded with a null selector whose RPL is the new CPL",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(3, 0);
                m.mem.poke_le(TSS64 + tss64::RSP0, 8, K64_STACK_TOP - 8);
                m
            },
            expect: Expect::State(&[
                C::Rip(K64_CODE + 0x100),
                C::Gpr(RSP, KS64 - 16 - 40),
                C::Mem(KS64 - 16 - 8, 8, U64_DS as u64),
                C::Mem(KS64 - 16 - 16, 8, U64_STACK_TOP),
                C::Mem(KS64 - 16 - 24, 8, 0x246),
                C::Mem(KS64 - 16 - 32, 8, U64_CS as u64),
                C::Mem(KS64 - 16 - 40, 8, U64_CODE + 2),
                C::Cache(SegReg::Cs, K64_CS, 0, FLAT, ATTR_KCODE64),
                C::Null(SegReg::Ss),
                C::Flags(0x046),
                C::Cpl(0),
                C::Mode(Mode::Long64),
                C::OnlyGprs(&[RSP]),
                C::Event(Ev::StackSwitch("TSS.rsp0")),
            ]),
        },
        Case {
            name: "64-bit int from CPL 0 aligns the current RSP and still pushes SS:RSP",
            sdm: "Vol. 3A 6.14.2: in IA-32e mode the processor aligns RSP and pushes SS:RSP even without a privilege change",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(0, 0);
                load_seg(&mut m, SegReg::Cs, K64_CS);
                load_seg(&mut m, SegReg::Ss, K64_DS);
                m.cpu.rip = K64_CODE;
                m.cpu.gpr[RSP] = K64_STACK_TOP - 0x108;
                m
            },
            expect: Expect::State(&[
                C::Gpr(RSP, KS64 - 0x110 - 40),
                C::Mem(KS64 - 0x110 - 8, 8, K64_DS as u64),
                C::Mem(KS64 - 0x110 - 16, 8, KS64 - 0x108),
                C::Mem(KS64 - 0x110 - 24, 8, 0x246),
                C::Mem(KS64 - 0x110 - 32, 8, K64_CS as u64),
                C::Mem(KS64 - 0x110 - 40, 8, K64_CODE + 2),
                C::Sel(SegReg::Ss, K64_DS),
                C::Event(Ev::NoStackSwitch),
            ]),
        },
        Case {
            name: "64-bit int through a gate with IST 1 takes the stack from TSS.ist1",
            sdm: "Vol. 3A 6.14.5 Interrupt Stack Table: a non-zero IST field selects ISTn from the TSS as the new RSP",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(3, 1);
                m.mem
                    .poke_le(TSS64 + tss64::ist(1), 8, K64_STACK_TOP - 0x1000 + 8);
                m
            },
            expect: Expect::State(&[
                C::Gpr(RSP, KS64 - 0x1000 - 40),
                C::Mem(KS64 - 0x1000 - 40, 8, U64_CODE + 2),
                C::Mem(KS64 - 0x1000 - 8, 8, U64_DS as u64),
                C::Null(SegReg::Ss),
                C::Event(Ev::StackSwitch("TSS.ist")),
            ]),
        },
        Case {
            name: "64-bit int through an IST gate at CPL 0 switches RSP to TSS.ist1 and loads a null SS",
            sdm: "Vol. 3A 6.14.5 (Interrupt Stack Table): when an interrupt occurs through an IST gate, the new SS selector is forced to NULL with RPL = the new CPL, also without a change of CPL (as QEMU does)",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = kernel64();
                set_gate64(&mut m, 0x80, K64_CODE + 0x100, false, 0, 1);
                m.mem
                    .poke_le(TSS64 + tss64::ist(1), 8, K64_STACK_TOP - 0x1000 + 8);
                m
            },
            expect: Expect::State(&[
                C::Gpr(RSP, KS64 - 0x1000 - 40),
                C::Mem(KS64 - 0x1000 - 40, 8, K64_CODE + 2),
                C::Mem(KS64 - 0x1000 - 8, 8, K64_DS as u64),
                C::Mem(KS64 - 0x1000 - 16, 8, KS64),
                C::Null(SegReg::Ss),
                C::Cpl(0),
                C::Event(Ev::StackSwitch("TSS.ist")),
            ]),
        },
        Case {
            name: "64-bit int $0x80 through a DPL 0 gate from CPL 3 raises #GP(0x402)",
            sdm: "Vol. 2A INT n IA-32e-MODE: IF software interrupt AND gate DPL < CPL THEN #GP(error_code(vector_number,1,0))",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || k64_int80(0, 0),
            expect: Expect::Fault(GP, Some(0x402)),
        },
        Case {
            name: "int $0x80 from compatibility mode goes through the 16-byte gate to 64-bit mode",
            sdm: "Vol. 3A 6.14.1: in IA-32e mode all gates are 64-bit and handlers run in 64-bit mode",
            asm: "int $0x80 (.code32)",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(3, 0);
                load_seg(&mut m, SegReg::Cs, U32_CS);
                m.cpu.gpr[RSP] = 0xffff_d000;
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(K64_CODE + 0x100),
                C::Gpr(RSP, KS64 - 40),
                C::Mem(KS64 - 8, 8, U64_DS as u64),
                C::Mem(KS64 - 16, 8, 0xffff_d000),
                C::Mem(KS64 - 24, 8, 0x246),
                C::Mem(KS64 - 32, 8, U32_CS as u64),
                C::Mem(KS64 - 40, 8, U64_CODE + 2),
                C::Null(SegReg::Ss),
                C::Cpl(0),
            ]),
        },
        Case {
            name: "int $0x80 from compatibility mode: an interrupt gate clears IF; only RSP changes among the GPRs; the stack comes from TSS.rsp0",
            sdm: "Vol. 3A 6.14.2-6.14.4: SS:RSP, RFLAGS, CS, RIP pushed as 8-byte words on TSS.RSP0 aligned to 16; Vol. 2A INT n: IF cleared for an interrupt gate",
            asm: "int $0x80 (.code32)",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(3, 0);
                load_seg(&mut m, SegReg::Cs, U32_CS);
                m.cpu.gpr[RSP] = 0xffff_d004;
                m.cpu.rflags = 0x4_0a47; // AC OF IF ZF PF CF
                m
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(K64_CODE + 0x100),
                C::Flags(0x4_0847),
                C::Mem(KS64 - 16, 8, 0xffff_d004),
                C::Mem(KS64 - 24, 8, 0x4_0a47),
                C::Cache(SegReg::Cs, K64_CS, 0, FLAT, ATTR_KCODE64),
                C::OnlyGprs(&[RSP]),
                C::Event(Ev::Priv(3, 0)),
                C::Event(Ev::StackSwitch("TSS.rsp0")),
            ]),
        },
        Case {
            name: "int $0x80 from compatibility mode through a DPL 0 gate raises #GP(0x402)",
            sdm: "Vol. 2A INT n IA-32e-MODE: IF software interrupt AND gate DPL < CPL THEN #GP(error_code(vector_number,1,0))",
            asm: "int $0x80 (.code32)",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(0, 0);
                load_seg(&mut m, SegReg::Cs, U32_CS);
                m
            },
            expect: Expect::Fault(GP, Some(0x402)),
        },
        Case {
            name: "int $0x80 from compatibility mode to a gate whose CS is a 32-bit code segment raises #GP(selector)",
            sdm: "Vol. 2A INT n IA-32e-MODE: IF new code segment is not a 64-bit code segment (L = 0 or D = 1) THEN #GP(selector)",
            asm: "int $0x80 (.code32)",
            bytes: "cd 80",
            setup: || {
                let mut m = k64_int80(3, 0);
                load_seg(&mut m, SegReg::Cs, U32_CS);
                let a = Attr::from_fields(0xb, true, 0, true, false, false, true, true);
                set_gdt(&mut m, 2, Descriptor::encode(0, 0xfffff, a));
                m
            },
            expect: Expect::Fault(GP, Some(K64_CS as u32)),
        },
    ]);
}

// ---- exception delivery -----------------------------------------------------------------

#[test]
fn exception_delivery() {
    run_table(&[
        Case {
            name: "#GP from cli at CPL 3 is delivered with error code 0 and the faulting EIP",
            sdm: "Vol. 3A 6.13 Error Code and 6.15 Interrupt 13: a fault; the saved EIP points to the faulting instruction, an error code is pushed",
            asm: "cli",
            bytes: "fa",
            setup: user32_gp_handler,
            expect: Expect::State(&[
                C::Outcome(Out::Exception(GP, Some(0))),
                C::Rip(KERNEL_CODE + 0x200),
                C::Gpr(RSP, KS32 - 24),
                C::Mem(KS32 - 4, 4, USER_DS as u64),
                C::Mem(KS32 - 8, 4, USER_STACK_TOP),
                C::Mem(KS32 - 12, 4, 0x246),
                C::Mem(KS32 - 16, 4, USER_CS as u64),
                C::Mem(KS32 - 20, 4, USER_CODE),
                C::Mem(KS32 - 24, 4, 0),
                C::Flags(0x046),
                C::Cpl(0),
            ]),
        },
        Case {
            name: "#GP(0x402) from int $0x80 through a DPL 0 gate is delivered with that error code and the EIP of the int",
            sdm: "Vol. 2A INT n: #GP(error_code(vector_number,1,0)); Vol. 3A 6.13",
            asm: "int $0x80",
            bytes: "cd 80",
            setup: || {
                let mut m = user32_gp_handler();
                set_gate32(&mut m, 0x80, KERNEL_CODE + 0x100, KERNEL_CS, true, 0);
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(GP, Some(0x402))),
                C::Rip(KERNEL_CODE + 0x200),
                C::Mem(KS32 - 20, 4, USER_CODE),
                C::Mem(KS32 - 24, 4, 0x402),
            ]),
        },
        Case {
            name: "#PF from a user read of an unmapped page: CR2 = address, error code U/S=1 W=0 P=0",
            sdm: "Vol. 3A 4.7 Page-Fault Exceptions and 6.15 Interrupt 14: CR2 holds the linear address; error code bits P, W/R, U/S",
            asm: "mov 0x1234,%eax",
            bytes: "a1 34 12 00 00",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, PF, KERNEL_CODE + 0x500, KERNEL_CS, false, 0);
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(PF, Some(4))),
                C::Cr2(0x1234),
                C::Rip(KERNEL_CODE + 0x500),
                C::Mem(KS32 - 20, 4, USER_CODE),
                C::Mem(KS32 - 24, 4, 4),
                C::Gpr(RAX, 0),
            ]),
        },
        Case {
            name: "#PF from a user write to a supervisor page: error code P=1 W=1 U=1",
            sdm: "Vol. 3A 4.7: error code 7 = protection violation, write, user mode",
            asm: "movl $0x11223344,(%ebx)",
            bytes: "c7 03 44 33 22 11",
            setup: || {
                let mut m = machine32();
                set_gate32(&mut m, PF, KERNEL_CODE + 0x500, KERNEL_CS, false, 0);
                m.cpu.gpr[RBX] = KERNEL_DATA + 0x10;
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(PF, Some(7))),
                C::Cr2(KERNEL_DATA + 0x10),
                C::Mem(KS32 - 24, 4, 7),
                C::Mem(KERNEL_DATA + 0x10, 4, 0),
            ]),
        },
        Case {
            name: "a #GP while delivering #GP (bad gate type for vector 13) becomes #DF(0)",
            sdm: "Vol. 3A 6.15 Interrupt 8, table 6-5: contributory then contributory -> double fault, error code 0",
            asm: "cli",
            bytes: "fa",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    GP,
                    Gate {
                        offset: KERNEL_CODE + 0x200,
                        selector: KERNEL_CS,
                        ty: 0xc,
                        dpl: 0,
                        present: true,
                        ist: 0,
                    },
                );
                set_gate32(&mut m, DF, KERNEL_CODE + 0x800, KERNEL_CS, false, 0);
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(DF, Some(0))),
                C::Rip(KERNEL_CODE + 0x800),
                C::Mem(KS32 - 20, 4, USER_CODE),
                C::Mem(KS32 - 24, 4, 0),
                C::Gpr(RSP, KS32 - 24),
            ]),
        },
        Case {
            name: "the double fault itself has no handler: the run stops with #DF(0)",
            sdm: "Vol. 3A 6.15 Interrupt 8",
            asm: "cli",
            bytes: "fa",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    GP,
                    Gate {
                        offset: KERNEL_CODE + 0x200,
                        selector: KERNEL_CS,
                        ty: 0xc,
                        dpl: 0,
                        present: true,
                        ist: 0,
                    },
                );
                m
            },
            expect: Expect::Fault(DF, Some(0)),
        },
        Case {
            name: "a #GP while delivering #UD (a benign exception) is delivered as #GP with EXT = 1",
            sdm: "Vol. 3A 6.13: EXT is set when the exception occurred during delivery of an earlier exception; table 6-5 benign then contributory -> handle serially",
            asm: "ud2",
            bytes: "0f 0b",
            setup: || {
                let mut m = user32_gp_handler();
                set_gate32(&mut m, UD, KERNEL_CODE + 0x600, 0x100, false, 0);
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(GP, Some(0x101))),
                C::Rip(KERNEL_CODE + 0x200),
                C::Mem(KS32 - 24, 4, 0x101),
                C::Mem(KS32 - 20, 4, USER_CODE),
            ]),
        },
        Case {
            name: "an external interrupt through a bad IDT entry raises #GP(vector*8+2+EXT)",
            sdm: "Vol. 3A 6.13: error code IDT bit = 1, EXT = 1 for an external event",
            asm: "nop",
            bytes: "90",
            setup: || {
                let mut m = user32_gp_handler();
                raw_gate32(
                    &mut m,
                    0x20,
                    Gate {
                        offset: KERNEL_CODE,
                        selector: KERNEL_CS,
                        ty: 0x1,
                        dpl: 0,
                        present: true,
                        ist: 0,
                    },
                );
                m.cpu.pending_irq = Some(0x20);
                m
            },
            expect: Expect::State(&[
                C::Outcome(Out::Exception(GP, Some(0x103))),
                C::Mem(KS32 - 24, 4, 0x103),
                C::Mem(KS32 - 20, 4, USER_CODE),
                C::Rip(KERNEL_CODE + 0x200),
            ]),
        },
        Case {
            name: "an external interrupt through an empty IDT entry stops the run with #GP(vector*8+2+EXT)",
            sdm: "Vol. 2A INT n Operation: IF descriptor is not an interrupt-, trap-, or task-gate type THEN #GP(error_code(vector_number,1,EXT))",
            asm: "nop",
            bytes: "90",
            setup: || {
                let mut m = machine32();
                m.cpu.pending_irq = Some(0x20);
                m
            },
            expect: Expect::Fault(GP, Some(0x103)),
        },
        Case {
            name: "an external interrupt through a gate with P = 0 stops the run with #NP(vector*8+2+EXT)",
            sdm: "Vol. 2A INT n Operation: IF gate not present THEN #NP(error_code(vector_number,1,EXT))",
            asm: "nop",
            bytes: "90",
            setup: || {
                let mut m = machine32();
                raw_gate32(
                    &mut m,
                    0x20,
                    Gate {
                        offset: KERNEL_CODE,
                        selector: KERNEL_CS,
                        ty: 0xe,
                        dpl: 0,
                        present: false,
                        ist: 0,
                    },
                );
                m.cpu.pending_irq = Some(0x20);
                m
            },
            expect: Expect::Fault(NP, Some(0x103)),
        },
    ]);
}

// ---- IRET -------------------------------------------------------------------------------

fn kernel32_iret_frame(flags: u64) -> Machine {
    let mut m = kernel32();
    m.cpu.rflags = 0x46;
    frame(
        &mut m,
        KERNEL_STACK_TOP - 20,
        4,
        &[
            USER_CODE + 0x10,
            USER_CS as u64,
            flags,
            USER_STACK_TOP - 0x40,
            USER_DS as u64,
        ],
    );
    m
}

fn kernel64_iretq(frame_vals: [u64; 5]) -> Machine {
    let mut m = kernel64();
    m.cpu.rflags = 0x46;
    frame(&mut m, K64_STACK_TOP - 40, 8, &frame_vals);
    m
}

#[test]
fn iret() {
    run_table(&[
        Case {
            name: "iret to CPL 3 pops EIP, CS, EFLAGS, ESP, SS and restores IF",
            sdm: "Vol. 2A IRET RETURN-TO-OUTER-PRIVILEGE-LEVEL",
            asm: "iret",
            bytes: "cf",
            setup: || kernel32_iret_frame(0x283),
            expect: Expect::State(&[
                C::Rip(USER_CODE + 0x10),
                C::Cache(SegReg::Cs, USER_CS, 0, FLAT, ATTR_UCODE32),
                C::Cache(SegReg::Ss, USER_DS, 0, FLAT, ATTR_UDATA),
                C::Gpr(RSP, USER_STACK_TOP - 0x40),
                C::Flags(0x283),
                C::Cpl(3),
                C::Sel(SegReg::Ds, USER_DS),
                C::Sel(SegReg::Es, USER_DS),
                C::OnlyGprs(&[RSP]),
                C::Event(Ev::Priv(0, 3)),
            ]),
        },
        Case {
            name: "iret from CPL 0 may set IOPL in the returned EFLAGS",
            sdm: "Vol. 2A IRET: IF CPL = 0 THEN EFLAGS(IOPL) <- tempEFLAGS (CPL before the return)",
            asm: "iret",
            bytes: "cf",
            setup: || kernel32_iret_frame(0x3202),
            expect: Expect::State(&[C::Flags(0x3202), C::Cpl(3)]),
        },
        Case {
            name: "iret to CPL 3 nulls DS/ES/FS loaded with DPL 0 segments and keeps a DPL 3 GS",
            sdm: "Vol. 2A IRET: FOR each SegReg in (ES, FS, GS, DS): IF tempDesc(DPL) < CPL AND type is data or non-conforming code THEN SegmentSelector <- 0",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                load_seg(&mut m, SegReg::Ds, KERNEL_DS);
                load_seg(&mut m, SegReg::Es, KERNEL_DS);
                load_seg(&mut m, SegReg::Fs, KERNEL_CS);
                load_seg(&mut m, SegReg::Gs, USER_DS);
                m
            },
            expect: Expect::State(&[
                C::Null(SegReg::Ds),
                C::Null(SegReg::Es),
                C::Null(SegReg::Fs),
                C::Sel(SegReg::Gs, USER_DS),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "iret to CPL 3 turns a null data selector with RPL 3 into selector 0",
            sdm: "Vol. 2A IRET: IF (SegmentSelector == NULL) OR ... THEN SegmentSelector <- 0",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                m.cpu.seg[SegReg::Fs as usize] = Segment::null(3);
                m
            },
            expect: Expect::State(&[C::Null(SegReg::Fs), C::Cpl(3)]),
        },
        Case {
            name: "iret at CPL 3 (same privilege) cannot change IOPL or IF (CPL > IOPL)",
            sdm: "Vol. 2A IRET RETURN-TO-SAME-PRIVILEGE-LEVEL: IF CPL <= IOPL THEN EFLAGS(IF) <- tempEFLAGS; IF CPL = 0 THEN EFLAGS(IOPL) <- tempEFLAGS",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = machine32();
                frame(
                    &mut m,
                    USER_STACK_TOP - 12,
                    4,
                    &[USER_CODE + 0x10, USER_CS as u64, 0x3097],
                );
                m
            },
            expect: Expect::State(&[
                C::Flags(0x0297),
                C::Rip(USER_CODE + 0x10),
                C::Gpr(RSP, USER_STACK_TOP),
                C::Sel(SegReg::Ss, USER_DS),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "iret at CPL 0 to CPL 0 pops only EIP, CS, EFLAGS and may load IOPL",
            sdm: "Vol. 2A IRET RETURN-TO-SAME-PRIVILEGE-LEVEL",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32();
                frame(
                    &mut m,
                    KERNEL_STACK_TOP - 0x20,
                    4,
                    &[KERNEL_CODE + 0x10, KERNEL_CS as u64, 0x3002],
                );
                m
            },
            expect: Expect::State(&[
                C::Flags(0x3002),
                C::Rip(KERNEL_CODE + 0x10),
                C::Gpr(RSP, KERNEL_STACK_TOP - 0x20 + 12),
                C::Sel(SegReg::Ss, KERNEL_DS),
                C::Cpl(0),
            ]),
        },
        Case {
            name: "iret at CPL 3 to a CPL 0 CS raises #GP(selector)",
            sdm: "Vol. 2A IRET: IF return code segment selector RPL < CPL THEN #GP(selector)",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = machine32();
                frame(
                    &mut m,
                    USER_STACK_TOP - 12,
                    4,
                    &[KERNEL_CODE, KERNEL_CS as u64, 0x202],
                );
                m
            },
            expect: Expect::Fault(GP, Some(KERNEL_CS as u32)),
        },
        Case {
            name: "iret to RPL 3 with a DPL 0 non-conforming CS raises #GP(selector)",
            sdm: "Vol. 2A IRET Protected Mode Exceptions: #GP(selector) if the DPL of a non-conforming code segment != RPL",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                m.mem.poke_le(KERNEL_STACK_TOP - 16, 4, 0x63);
                m
            },
            expect: Expect::Fault(GP, Some(0x60)),
        },
        Case {
            name: "iret to CPL 3 with an SS of RPL 3 but DPL 0 raises #GP(SS selector)",
            sdm: "Vol. 2A IRET: IF stack segment DPL != RPL of the return code segment selector THEN #GP(SS selector)",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                m.mem.poke_le(KERNEL_STACK_TOP - 4, 4, 0x6b);
                m
            },
            expect: Expect::Fault(GP, Some(0x68)),
        },
        Case {
            name: "iret to CPL 3 with a null SS raises #GP(0)",
            sdm: "Vol. 2A IRET: IF stack segment selector is NULL THEN #GP(0)",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                m.mem.poke_le(KERNEL_STACK_TOP - 4, 4, 3);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "iret with a null CS raises #GP(0)",
            sdm: "Vol. 2A IRET: IF return code segment selector is NULL THEN #GP(0)",
            asm: "iret",
            bytes: "cf",
            setup: || {
                let mut m = kernel32_iret_frame(0x202);
                m.mem.poke_le(KERNEL_STACK_TOP - 16, 4, 0);
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "iretq to a compatibility-mode CS (0x23) with SS 0x2b",
            sdm: "Vol. 2A IRET IA-32e-MODE: return to outer privilege level; CS.L = 0 selects compatibility mode",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([0x0804_8010, U32_CS as u64, 0x202, 0xffff_d000, U64_DS as u64])
            },
            expect: Expect::State(&[
                C::Mode(Mode::Compat),
                C::Rip(0x0804_8010),
                C::Cache(SegReg::Cs, U32_CS, 0, FLAT, ATTR_UCODE32),
                C::Cache(SegReg::Ss, U64_DS, 0, FLAT, ATTR_UDATA),
                C::Gpr(RSP, 0xffff_d000),
                C::Flags(0x202),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "iretq to compatibility mode loads all 64 bits of the popped RSP",
            sdm: "Vol. 2A IRET RETURN-TO-OUTER-PRIVILEGE-LEVEL: IF OperandSize = 64 THEN RSP <- tempRSP",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([0x0804_8010, U32_CS as u64, 0x202, 0x1_ffff_d000, U64_DS as u64])
            },
            expect: Expect::State(&[C::Mode(Mode::Compat), C::Gpr(RSP, 0x1_ffff_d000)]),
        },
        Case {
            name: "iretq to a 64-bit CS (0x33)",
            sdm: "Vol. 2A IRET IA-32e-MODE",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([
                    U64_CODE + 0x10,
                    U64_CS as u64,
                    0x246,
                    U64_STACK_TOP - 0x80,
                    U64_DS as u64,
                ])
            },
            expect: Expect::State(&[
                C::Mode(Mode::Long64),
                C::Rip(U64_CODE + 0x10),
                C::Cache(SegReg::Cs, U64_CS, 0, FLAT, ATTR_UCODE64),
                C::Sel(SegReg::Ss, U64_DS),
                C::Gpr(RSP, U64_STACK_TOP - 0x80),
                C::Flags(0x246),
                C::Cpl(3),
            ]),
        },
        Case {
            name: "iretq at CPL 0 to CPL 0 in 64-bit mode also pops SS:RSP",
            sdm: "Vol. 2A IRET IA-32e-MODE: IF instruction began in 64-bit mode THEN RSP <- Pop(); SS <- Pop()",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([
                    K64_CODE + 0x10,
                    K64_CS as u64,
                    0x246,
                    K64_STACK_TOP - 0x200,
                    K64_DS as u64,
                ])
            },
            expect: Expect::State(&[
                C::Rip(K64_CODE + 0x10),
                C::Gpr(RSP, K64_STACK_TOP - 0x200),
                C::Sel(SegReg::Ss, K64_DS),
                C::Flags(0x246),
                C::Cpl(0),
            ]),
        },
        Case {
            name: "iretq to CPL 0 64-bit mode accepts a null SS with RPL 0",
            sdm: "Vol. 2A IRET IA-32e-MODE-RETURN: a null SS is allowed going back to non-CPL3 64-bit mode when RPL = CPL",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([K64_CODE + 0x10, K64_CS as u64, 0x46, K64_STACK_TOP - 0x200, 0])
            },
            expect: Expect::State(&[C::Null(SegReg::Ss), C::Gpr(RSP, K64_STACK_TOP - 0x200)]),
        },
        Case {
            name: "iretq to CPL 3 64-bit mode with a null SS raises #GP(0)",
            sdm: "Vol. 2A IRET IA-32e-MODE-RETURN: IF SS selector is NULL going back to CPL3 64-bit mode THEN #GP(0)",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([U64_CODE, U64_CS as u64, 0x246, U64_STACK_TOP, 3])
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "iretq to a non-canonical RIP raises #GP(0)",
            sdm: "Vol. 2A IRET: IF tempRIP is non-canonical THEN #GP(0)",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                kernel64_iretq([
                    0x0000_8000_0000_0000,
                    U64_CS as u64,
                    0x246,
                    U64_STACK_TOP,
                    U64_DS as u64,
                ])
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "iretq with EFLAGS.NT = 1 in IA-32e mode raises #GP(0)",
            sdm: "Vol. 2A IRET IA-32e-MODE: IF NT = 1 THEN #GP(0)",
            asm: "iretq",
            bytes: "48 cf",
            setup: || {
                let mut m = kernel64_iretq([
                    U64_CODE,
                    U64_CS as u64,
                    0x246,
                    U64_STACK_TOP,
                    U64_DS as u64,
                ]);
                m.cpu.rflags |= 0x4000;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
    ]);
}

// ---- descriptor tables and the task register --------------------------------------------

fn kernel32_tr_null() -> Machine {
    let mut m = kernel32();
    m.cpu.tr = Segment::null(0);
    set_tss_type(&mut m, 16, 0x9);
    m.cpu.gpr[RAX] = TSS_SEL as u64;
    m
}

#[test]
fn tables_and_task_register() {
    run_table(&[
        Case {
            name: "lgdt at CPL 0 loads a 6-byte limit/base",
            sdm: "Vol. 2A LGDT/LIDT Operation: GDTR(Limit) <- SRC[0:15]; GDTR(Base) <- SRC[16:47]",
            asm: "lgdtl (%eax)",
            bytes: "0f 01 10",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RAX] = KERNEL_DATA;
                m.mem.poke_le(KERNEL_DATA, 2, 0x1ff);
                m.mem.poke_le(KERNEL_DATA + 2, 4, GDT + 0x800);
                m
            },
            expect: Expect::State(&[C::Gdtr(GDT + 0x800, 0x1ff), C::Idtr(IDT, 0x7ff)]),
        },
        Case {
            name: "lidt at CPL 0 loads a 6-byte limit/base",
            sdm: "Vol. 2A LGDT/LIDT Operation",
            asm: "lidtl (%eax)",
            bytes: "0f 01 18",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RAX] = KERNEL_DATA;
                m.mem.poke_le(KERNEL_DATA, 2, 0xff);
                m.mem.poke_le(KERNEL_DATA + 2, 4, IDT + 0x100);
                m
            },
            expect: Expect::State(&[C::Idtr(IDT + 0x100, 0xff), C::Gdtr(GDT, 0xff)]),
        },
        Case {
            name: "lgdt in 64-bit mode loads a 10-byte limit/base",
            sdm: "Vol. 2A LGDT/LIDT Operation: IF 64-bit mode THEN GDTR(Base) <- SRC[16:79]",
            asm: "lgdt (%rax)",
            bytes: "0f 01 10",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RAX] = K64_STACK_TOP - 0x100;
                m.mem.poke_le(K64_STACK_TOP - 0x100, 2, 0x7f);
                m.mem.poke_le(K64_STACK_TOP - 0xfe, 8, GDT64 + 0x40);
                m
            },
            expect: Expect::State(&[C::Gdtr(GDT64 + 0x40, 0x7f)]),
        },
        Case {
            name: "lgdt at CPL 3 raises #GP(0)",
            sdm: "Vol. 2A LGDT/LIDT Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "lgdtl (%eax)",
            bytes: "0f 01 10",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = USER_DATA;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "lidt at CPL 3 raises #GP(0)",
            sdm: "Vol. 2A LGDT/LIDT Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "lidtl (%eax)",
            bytes: "0f 01 18",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = USER_DATA;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "sgdt at CPL 3 stores the 2-byte limit and 4-byte base (not privileged without UMIP)",
            sdm: "Vol. 2B SGDT Operation: DEST[0:15] <- GDTR(Limit); DEST[16:47] <- GDTR(Base)",
            asm: "sgdtl (%eax)",
            bytes: "0f 01 00",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = USER_DATA;
                m.mem.poke_le(USER_DATA + 6, 2, 0xaaaa);
                m
            },
            expect: Expect::State(&[
                C::Mem(USER_DATA, 2, 0xff),
                C::Mem(USER_DATA + 2, 4, GDT),
                C::Mem(USER_DATA + 6, 2, 0xaaaa),
            ]),
        },
        Case {
            name: "sidt stores the IDTR",
            sdm: "Vol. 2B SIDT Operation",
            asm: "sidtl (%eax)",
            bytes: "0f 01 08",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = USER_DATA;
                m
            },
            expect: Expect::State(&[C::Mem(USER_DATA, 2, 0x7ff), C::Mem(USER_DATA + 2, 4, IDT)]),
        },
        Case {
            name: "sgdt in 64-bit mode stores a 10-byte image",
            sdm: "Vol. 2B SGDT Operation: IF 64-bit mode THEN DEST[16:79] <- GDTR(Base)",
            asm: "sgdt (%rax)",
            bytes: "0f 01 00",
            setup: || {
                let mut m = kernel64();
                m.cpu.gpr[RAX] = K64_STACK_TOP - 0x100;
                m
            },
            expect: Expect::State(&[
                C::Mem(K64_STACK_TOP - 0x100, 2, 0x7f),
                C::Mem(K64_STACK_TOP - 0xfe, 8, GDT64),
            ]),
        },
        Case {
            name: "ltr loads TR from an available TSS and marks the GDT descriptor busy",
            sdm: "Vol. 2A LTR Operation: TSSsegmentDescriptor(busy) <- 1; TaskRegister <- SRC and its descriptor",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: kernel32_tr_null,
            expect: Expect::State(&[
                C::Tr(TSS_SEL, TSS, 0x67, 0xb),
                C::Mem(GDT + 16 * 8 + 5, 1, 0x8b),
                C::Rip(KERNEL_CODE + 3),
            ]),
        },
        Case {
            name: "ltr of a busy TSS raises #GP(selector)",
            sdm: "Vol. 2A LTR Protected Mode Exceptions: #GP(selector) if the source selector points to a TSS that is already busy",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel32();
                m.cpu.gpr[RAX] = TSS_SEL as u64;
                m
            },
            expect: Expect::Fault(GP, Some(TSS_SEL as u32)),
        },
        Case {
            name: "ltr of a code segment raises #GP(selector)",
            sdm: "Vol. 2A LTR: #GP(selector) if the source selector points to a segment that is not a TSS",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel32_tr_null();
                m.cpu.gpr[RAX] = KERNEL_CS as u64;
                m
            },
            expect: Expect::Fault(GP, Some(KERNEL_CS as u32)),
        },
        Case {
            name: "ltr of a null selector raises #GP(0)",
            sdm: "Vol. 2A LTR Operation: IF SRC is a NULL selector THEN #GP(0)",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel32_tr_null();
                m.cpu.gpr[RAX] = 3;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "ltr with a selector beyond the GDT limit raises #GP(selector)",
            sdm: "Vol. 2A LTR Operation: IF SRC(Offset) > descriptor table limit THEN #GP(segment selector)",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel32_tr_null();
                m.cpu.gpr[RAX] = 0x100;
                m
            },
            expect: Expect::Fault(GP, Some(0x100)),
        },
        Case {
            name: "ltr of a not-present TSS raises #NP(selector)",
            sdm: "Vol. 2A LTR Operation: IF segment descriptor is not present THEN #NP(segment selector)",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel32_tr_null();
                let a = GDT + 16 * 8 + 5;
                let b = m.mem.peek_le(a, 1);
                m.mem.poke_le(a, 1, b & !0x80);
                m
            },
            expect: Expect::Fault(NP, Some(TSS_SEL as u32)),
        },
        Case {
            name: "ltr at CPL 3 raises #GP(0)",
            sdm: "Vol. 2A LTR Protected Mode Exceptions: #GP(0) if the current privilege level is not 0",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = machine32();
                m.cpu.tr = Segment::null(0);
                set_tss_type(&mut m, 16, 0x9);
                m.cpu.gpr[RAX] = TSS_SEL as u64;
                m
            },
            expect: Expect::Fault(GP, Some(0)),
        },
        Case {
            name: "ltr in 64-bit mode reads the 16-byte TSS descriptor for the 64-bit base",
            sdm: "Vol. 2A LTR: in 64-bit mode the instruction references a 16-byte descriptor to load the 64-bit base",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel64();
                m.cpu.tr = Segment::null(0);
                set_tss_type(&mut m, 8, 0x9);
                m.cpu.gpr[RAX] = TSS64_SEL as u64;
                m
            },
            expect: Expect::State(&[
                C::Tr(TSS64_SEL, TSS64, 0x67, 0xb),
                C::Mem(GDT64 + 8 * 8 + 5, 1, 0x8b),
            ]),
        },
        Case {
            name: "ltr of a 16-bit TSS in IA-32e mode raises #GP(selector)",
            sdm: "Vol. 2A LTR 64-Bit/Compatibility Mode Exceptions: #GP(selector) if the source selector points to a 16-bit TSS",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel64();
                m.cpu.tr = Segment::null(0);
                set_tss_type(&mut m, 8, 0x1);
                m.cpu.gpr[RAX] = TSS64_SEL as u64;
                m
            },
            expect: Expect::Fault(GP, Some(TSS64_SEL as u32)),
        },
        Case {
            name: "ltr in IA-32e mode with a non-zero type in the upper descriptor half raises #GP(selector)",
            sdm: "Vol. 2A LTR 64-Bit Mode Exceptions: #GP(selector) if the descriptor type of the upper 8 bytes of the 16-byte descriptor is non-zero",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel64();
                m.cpu.tr = Segment::null(0);
                set_tss_type(&mut m, 8, 0x9);
                set_tss_type(&mut m, 9, 0x9);
                m.cpu.gpr[RAX] = TSS64_SEL as u64;
                m
            },
            expect: Expect::Fault(GP, Some(TSS64_SEL as u32)),
        },
        Case {
            name: "ltr in IA-32e mode whose 16-byte descriptor crosses the GDT limit raises #GP(selector)",
            sdm: "Vol. 2A LTR: #GP(selector) if the selector is beyond the GDT limit (the whole 16-byte descriptor in IA-32e mode)",
            asm: "ltr %ax",
            bytes: "0f 00 d8",
            setup: || {
                let mut m = kernel64();
                m.cpu.tr = Segment::null(0);
                set_tss_type(&mut m, 8, 0x9);
                m.cpu.gdtr.limit = 0x47;
                m.cpu.gpr[RAX] = TSS64_SEL as u64;
                m
            },
            expect: Expect::Fault(GP, Some(TSS64_SEL as u32)),
        },
        Case {
            name: "str into a 32-bit register zero-extends the selector",
            sdm: "Vol. 2B STR: with a 32-bit register destination the upper 16 bits are cleared",
            asm: "str %eax",
            bytes: "0f 00 c8",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = 0xffff_ffff;
                m
            },
            expect: Expect::State(&[C::Gpr(RAX, TSS_SEL as u64), C::OnlyGprs(&[RAX])]),
        },
        Case {
            name: "str into a 16-bit register writes only AX",
            sdm: "Vol. 2B STR: with a 16-bit destination the selector is stored in the 16-bit operand",
            asm: "str %ax",
            bytes: "66 0f 00 c8",
            setup: || {
                let mut m = machine32();
                m.cpu.gpr[RAX] = 0xffff_ffff;
                m
            },
            expect: Expect::State(&[C::Gpr(RAX, 0xffff_0000 | TSS_SEL as u64)]),
        },
    ]);
    // The descriptor table layout the cases rely on.
    let m = kernel64();
    assert_eq!(
        Descriptor(m.mem.peek_le(GDT64 + 8 * 8, 8)).attr().ty(),
        0xb,
        "machine64 marks its TSS busy"
    );
}
