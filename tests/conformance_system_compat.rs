//! Conformance tests for IA-32e compatibility mode (a 32-bit code segment, L = 0 and
//! D = 1, under EFER.LMA = 1) and every transition between it and 64-bit mode: SYSENTER
//! in, SYSEXIT and SYSRETL out, IRETQ/IRETD out, far RET and far JMP both ways, SYSCALL
//! (#UD on Intel), and 32-bit code running with protected-mode segmentation.
//!
//! Whole-state comparisons (tests/common/conformance.rs): each case lists every change
//! the step makes; anything not listed must be unchanged, and the step is undone with
//! `step_back`. A fault leaves the machine exactly as it was. INT n from compatibility
//! mode is in tests/conformance_system.rs (int_n_64), whose harness copes with iced-x86
//! not listing the RSP write of INT n.
//!
//! SDM references are to the Intel 64 and IA-32 Architectures Software Developer's
//! Manual, Vol. 2 instruction pages (Operation and the 64-bit/compatibility-mode
//! exception tables) and Vol. 3A 5.8.8, 6.14.

mod common;

use common::conformance::*;
use common::*;
use ringstep::machine::cpu::{RAX, RBX, RCX, RDX, RSP};
use ringstep::machine::flags::IF;
use ringstep::machine::{msr, Machine, Perm, Region, SegReg, Segment};

const R11: usize = 11;
const GP: u8 = 13;
const UD: u8 = 6;

/// The top of a 32-bit user stack below 4 GiB.
const CSTACK: u64 = 0xffff_e000;
const KSP: u64 = K64_STACK_TOP;

/// A 32-bit process under a 64-bit kernel: CPL 3, CS = __USER32_CS (0x23, L = 0, D = 1),
/// SS/DS/ES = __USER_DS (0x2b), ESP on a stack below 4 GiB, code at U64_CODE; the
/// SYSENTER MSRs as Linux's syscall_init() sets them with IA32 emulation.
fn compat() -> Machine {
    let mut m = machine64();
    m.mem
        .add_region(Region {
            name: "compat stack".into(),
            base: CSTACK - 0x2000,
            size: 0x2000,
            perm: Perm {
                user: true,
                writable: true,
                exec: false,
            },
            phys: None,
        })
        .expect("free");
    common::page_tables(&mut m);
    load_seg(&mut m, SegReg::Cs, U32_CS);
    m.cpu.gpr[RSP] = CSTACK;
    m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
    m.cpu.set_msr(msr::SYSENTER_ESP, KSP);
    m.cpu.set_msr(msr::SYSENTER_EIP, K64_CODE + 0x400);
    m
}

/// The 64-bit kernel (CPL 0) of the same machine, with the SYSENTER MSRs set.
fn kernel() -> Machine {
    let mut m = kernel64();
    m.cpu.set_msr(msr::SYSENTER_CS, K64_CS as u64);
    m.cpu.set_msr(msr::SYSENTER_ESP, KSP);
    m.cpu.set_msr(msr::SYSENTER_EIP, K64_CODE + 0x400);
    m.cpu.rflags = 0x46;
    m
}

/// An IRET frame of `width`-byte words at the kernel stack top - 5 words.
fn iret_frame(width: usize, vals: [u64; 5]) -> Machine {
    let mut m = kernel();
    let at = KSP - 5 * width as u64;
    for (i, v) in vals.iter().enumerate() {
        m.mem.poke_le(at + (i * width) as u64, width, *v);
    }
    m.cpu.gpr[RSP] = at;
    m
}

fn iretq_to_compat() -> Machine {
    iret_frame(
        8,
        [0x40_0010, U32_CS as u64, 0x202, 0xffff_d000, U64_DS as u64],
    )
}

fn iretq_to_compat_high_rip() -> Machine {
    iret_frame(
        8,
        [
            0x1_0040_0010,
            U32_CS as u64,
            0x202,
            0xffff_d000,
            U64_DS as u64,
        ],
    )
}

fn iretq_to_compat_null_ss() -> Machine {
    iret_frame(8, [0x40_0010, U32_CS as u64, 0x202, 0xffff_d000, 0])
}

fn iretd_to_compat() -> Machine {
    iret_frame(
        4,
        [0x40_0010, U32_CS as u64, 0x202, 0xffff_d000, U64_DS as u64],
    )
}

/// 64-bit user code with a far-return frame (RIP, CS) of 8-byte words on its stack.
fn retfq_frame(rip: u64, cs: u16) -> Machine {
    let mut m = machine64();
    let sp = U64_STACK_TOP - 0x100;
    m.mem.poke_le(sp, 8, rip);
    m.mem.poke_le(sp + 8, 8, cs as u64);
    m.cpu.gpr[RSP] = sp;
    m
}

fn retfq_to_compat() -> Machine {
    retfq_frame(0x40_0100, U32_CS)
}

fn retfq_to_compat_high() -> Machine {
    retfq_frame(0x1_0040_0100, U32_CS)
}

fn compat_null_ds() -> Machine {
    let mut m = compat();
    m.cpu.seg[SegReg::Ds as usize] = Segment::null(0);
    m
}

#[test]
fn into_64_bit_mode() {
    let cases = [
        c(
            "sysenter from compatibility mode: 64-bit CS (L = 1) and SS from SYSENTER_CS, full 64-bit RSP/RIP from the MSRs, IF cleared",
            compat,
            &[],
            "0f 34",
            "sysenter",
            &[
                Rip(K64_CODE + 0x400),
                R(RSP, KSP),
                Seg(SegReg::Cs, K64_CS),
                Seg(SegReg::Ss, K64_DS),
                F(IF, 0),
            ],
        ),
        c(
            "sysenter from compatibility mode clears only IF (and VM) of RFLAGS",
            compat,
            &[S::F(0x4_0ed7)],
            "0f 34",
            "sysenter",
            &[
                Rip(K64_CODE + 0x400),
                R(RSP, KSP),
                Seg(SegReg::Cs, K64_CS),
                Seg(SegReg::Ss, K64_DS),
                F(IF, 0),
            ],
        ),
        c(
            "sysenter from compatibility mode with SYSENTER_CS = 0 (a kernel without IA32 emulation) raises #GP(0)",
            compat,
            &[S::Msr(msr::SYSENTER_CS, 0)],
            "0f 34",
            "sysenter",
            &[Fault(GP, Some(0))],
        ),
        c(
            "syscall in compatibility mode raises #UD on Intel processors",
            compat,
            &[],
            "0f 05",
            "syscall",
            &[Fault(UD, None)],
        ),
        c(
            "syscall in compatibility mode is #UD even with CSTAR programmed",
            compat,
            &[S::Msr(msr::CSTAR, K64_CODE + 0x500)],
            "0f 05",
            "syscall",
            &[Fault(UD, None)],
        ),
        c(
            "ljmp from compatibility mode to a 64-bit code segment (0x33) enters 64-bit mode",
            compat,
            &[],
            "ea 00 01 40 00 33 00",
            "ljmp $0x33,$0x400100",
            &[Rip(0x40_0100), Seg(SegReg::Cs, U64_CS)],
        ),
    ];
    run_all(&cases);
    check_assembly(&cases, 32);
}

#[test]
fn out_of_64_bit_mode() {
    let cases = [
        c(
            "sysexit (32-bit) from 64-bit mode: CS = SYSENTER_CS + 16 | 3 (L = 0, D = 1), SS = + 24 | 3, ESP = ECX and EIP = EDX zero-extended, flags unchanged",
            kernel,
            &[S::R(RCX, 0xdead_0000_ffff_d000), S::R(RDX, 0xbeef_0000_0040_0010)],
            "0f 35",
            "sysexit",
            &[
                Rip(0x40_0010),
                R(RSP, 0xffff_d000),
                Seg(SegReg::Cs, U32_CS),
                Seg(SegReg::Ss, U64_DS),
            ],
        ),
        c(
            "sysexit at CPL 3 in compatibility mode raises #GP(0)",
            compat,
            &[],
            "0f 35",
            "sysexit",
            &[Fault(GP, Some(0))],
        ),
        c(
            "sysretl: EIP = ECX, RFLAGS = (R11 & 3C7FD7H) | 2 (RF, VM dropped), CS = STAR[63:48] | 3 in compatibility mode, SS = STAR[63:48] + 8 | 3",
            kernel,
            &[S::R(RCX, 0xffff_ffff_0040_0010), S::R(R11, 0x3_0a57)],
            "0f 07",
            "sysretl",
            &[
                Rip(0x40_0010),
                F(u64::MAX, 0x0a57),
                Seg(SegReg::Cs, U32_CS),
                Seg(SegReg::Ss, U64_DS),
            ],
        ),
        c(
            "sysretl keeps RSP: the kernel must have restored the user stack itself",
            kernel,
            &[S::R(RCX, 0x40_0010), S::R(R11, 0x202), S::R(RSP, 0xffff_d000)],
            "0f 07",
            "sysretl",
            &[
                Rip(0x40_0010),
                F(u64::MAX, 0x202),
                Seg(SegReg::Cs, U32_CS),
                Seg(SegReg::Ss, U64_DS),
            ],
        ),
        c(
            "sysretl at CPL 3 (64-bit user mode) raises #GP(0)",
            machine64,
            &[S::R(RCX, 0x40_0010)],
            "0f 07",
            "sysretl",
            &[Fault(GP, Some(0))],
        ),
        c(
            "iretq to compatibility mode: pops RIP, CS 0x23, RFLAGS, RSP, SS 0x2b",
            iretq_to_compat,
            &[],
            "48 cf",
            "iretq",
            &[
                Rip(0x40_0010),
                R(RSP, 0xffff_d000),
                F(u64::MAX, 0x202),
                Seg(SegReg::Cs, U32_CS),
                Seg(SegReg::Ss, U64_DS),
            ],
        ),
        c(
            "iretq to compatibility mode with RIP bits 63:32 set raises #GP(0): beyond the 32-bit CS limit, not truncated",
            iretq_to_compat_high_rip,
            &[],
            "48 cf",
            "iretq",
            &[Fault(GP, Some(0))],
        ),
        c(
            "iretq to compatibility mode with a null SS raises #GP(0)",
            iretq_to_compat_null_ss,
            &[],
            "48 cf",
            "iretq",
            &[Fault(GP, Some(0))],
        ),
        c(
            "iretd (32-bit operand size) in 64-bit mode pops 4-byte EIP, CS, EFLAGS, ESP, SS and enters compatibility mode",
            iretd_to_compat,
            &[],
            "cf",
            "iret",
            &[
                Rip(0x40_0010),
                R(RSP, 0xffff_d000),
                F(u64::MAX, 0x202),
                Seg(SegReg::Cs, U32_CS),
                Seg(SegReg::Ss, U64_DS),
            ],
        ),
        c(
            "lretq from 64-bit user code to __USER32_CS (same privilege) enters compatibility mode",
            retfq_to_compat,
            &[],
            "48 cb",
            "lretq",
            &[
                Rip(0x40_0100),
                R(RSP, U64_STACK_TOP - 0xf0),
                Seg(SegReg::Cs, U32_CS),
            ],
        ),
        c(
            "lretq to compatibility mode with RIP bits 63:32 set raises #GP(0)",
            retfq_to_compat_high,
            &[],
            "48 cb",
            "lretq",
            &[Fault(GP, Some(0))],
        ),
    ];
    run_all(&cases);
    check_assembly(&cases, 64);
}

#[test]
fn thirty_two_bit_code_in_compatibility_mode() {
    let cases = [
        c(
            "0x48 is DEC EAX in compatibility mode, not a REX prefix",
            compat,
            &[S::R(RAX, 5)],
            "48",
            "dec %eax",
            &[R(RAX, 4), F(ST & !ringstep::machine::flags::CF, 0)],
        ),
        c(
            "a 32-bit register write in compatibility mode clears bits 63:32 (ringstep's choice where the SDM leaves them undefined; QEMU does the same)",
            compat,
            &[S::R(RAX, 0xffff_ffff_0000_0005)],
            "b8 01 00 00 00",
            "mov $1,%eax",
            &[R(RAX, 1)],
        ),
        c(
            "push %eax in compatibility mode: 4 bytes at ESP - 4 (SS.B = 1)",
            compat,
            &[S::R(RAX, 0x1_2345_6789)],
            "50",
            "push %eax",
            &[R(RSP, CSTACK - 4), M(CSTACK - 4, 4, 0x2345_6789)],
        ),
        c(
            "a data access through a null DS in compatibility mode raises #GP(0) (it would not in 64-bit mode)",
            compat_null_ds,
            &[S::R(RAX, CSTACK - 0x10)],
            "8b 18",
            "mov (%eax),%ebx",
            &[Fault(GP, Some(0))],
        ),
        c(
            "a 4-byte access at offset 0xfffffffe crosses the 4 GiB segment limit: #GP(0)",
            compat,
            &[S::R(RAX, 0xffff_fffe)],
            "8b 18",
            "mov (%eax),%ebx",
            &[Fault(GP, Some(0))],
        ),
        c(
            "a stack access beyond SS's limit in compatibility mode raises #SS(0)",
            compat,
            &[S::R(RSP, 2)],
            "50",
            "push %eax",
            &[Fault(12, Some(0))],
        ),
        c(
            "32-bit loads in compatibility mode read 4 bytes at a 32-bit effective address",
            compat,
            &[
                S::R(RAX, 0xffff_ffff_0000_0000 | (CSTACK - 0x10)),
                S::M(CSTACK - 0x10, 8, 0x1122_3344_5566_7788),
                S::R(RBX, 0),
            ],
            "8b 18",
            "mov (%eax),%ebx",
            &[R(RBX, 0x5566_7788)],
        ),
    ];
    run_all(&cases);
    check_assembly(&cases, 32);
}
