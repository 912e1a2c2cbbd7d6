//! Conformance tests for the system-level instructions added for issue 13: far JMP/CALL/RET
//! and the far-pointer loads, MOV to/from control and debug registers, CLTS, INVLPG,
//! SMSW/SLDT, CLAC/STAC, CPUID, RDTSC/RDTSCP/RDPID, XGETBV, the FS/GS base instructions,
//! VERR/VERW/LAR/LSL, IN/OUT/INS/OUTS with the I/O permission checks, INT1, the boot
//! MSRs, and TF single-step traps.
//!
//! The harness is tests/common/conformance.rs, shared with conformance_general.rs: one instruction per case (AT&T text
//! beside the bytes, re-checked with GNU `as` when installed), the whole machine compared
//! after the step (anything not listed must be unchanged), each completed step undone with
//! `step_back`, and each fault leaving the machine exactly as it was. Expected values come
//! from the Intel SDM Vol. 2 "Operation" sections and exception tables cited in each case
//! name or beside the table.
#![allow(dead_code)]

mod common;

use common::*;
use ringstep::engine::{Engine, Outcome, StepResult, StopReason};
use ringstep::machine::cpu::RSP;
use ringstep::machine::flags::{AC, ZF};
use ringstep::machine::{msr, Attr, Descriptor, Machine, SegReg};

use common::conformance::*;

const EDI: usize = 7;
const K64S: u64 = K64_STACK_TOP;
const U64S: u64 = U64_STACK_TOP;
/// A user-writable scratch area in the 64-bit machines (the user stack region).
const U64D: u64 = U64_STACK_TOP - 0x100;
const GP: u8 = 13;
const UDV: u8 = 6;
const NPV: u8 = 11;

fn attr(ty: u8, s: bool, dpl: u8, p: bool, db: bool, g: bool) -> Attr {
    Attr::from_fields(ty, s, dpl, p, false, false, db, g)
}

/// GDT 18 (0x90): conforming readable code, DPL 0. 19 (0x98): a non-present DPL 3 code
/// segment. 20 (0xa0): a 32-bit call gate, DPL 3. 21 (0xa8): DPL 3 code with a
/// byte-granular limit of 0xfff.
fn far_descriptors(m: &mut Machine) {
    set_gdt(
        m,
        18,
        Descriptor::encode(0, 0xfffff, attr(0xf, true, 0, true, true, true)),
    );
    set_gdt(
        m,
        19,
        Descriptor::encode(0, 0xfffff, attr(0xb, true, 3, false, true, true)),
    );
    set_gdt(
        m,
        20,
        Descriptor::encode(0, 0, attr(0xc, false, 3, true, false, false)),
    );
    set_gdt(
        m,
        21,
        Descriptor::encode(0, 0xfff, attr(0xb, true, 3, true, true, false)),
    );
}

/// A TSS limit of 0xe8 with the I/O bitmap at offset 0x68 (ports 0-0x3ff), port 0x61
/// denied.
fn io_bitmap(m: &mut Machine) {
    m.cpu.tr.limit = 0xe8;
    m.mem.poke_le(TSS + 0x66, 2, 0x68);
    m.mem.poke_le(TSS + 0x68 + 0x0c, 1, 0x02);
}

const FD: Set = Set::With(far_descriptors);
const FSGS: Set = Set::Cr(4, 0x1_0020);
const ZF0: Set = Set::F(0x202);
const BITMAP: Set = Set::With(io_bitmap);

fn fs_gs_bases(m: &mut Machine) {
    m.cpu.seg[SegReg::Fs as usize].base = 0x7f00_1234_5000;
    m.cpu.seg[SegReg::Gs as usize].base = 0x1_2345_6789;
}

// ---- far JMP, CALL, RET and the far-pointer loads --------------------------------------------

#[rustfmt::skip]
fn far32_cases() -> Vec<Case> {
    vec![
        c("ljmp ptr16:32 to the user code segment (JMP far, non-conforming, DPL = CPL)", m32, &[],
          "ea 00 81 04 08 73 00", "ljmp $0x73,$0x08048100", &[Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("ljmp to a data segment is #GP(selector)", m32, &[],
          "ea 00 81 04 08 7b 00", "ljmp $0x7b,$0x08048100", &[Fault(GP, Some(0x78))]),
        c("ljmp to a null selector is #GP(0)", m32, &[],
          "ea 00 81 04 08 00 00", "ljmp $0x0,$0x08048100", &[Fault(GP, Some(0))]),
        c("ljmp to a DPL 0 non-conforming segment from CPL 3 is #GP(selector)", m32, &[],
          "ea 00 81 04 08 60 00", "ljmp $0x60,$0x08048100", &[Fault(GP, Some(0x60))]),
        c("ljmp with RPL 3 > CPL 0 to a non-conforming segment is #GP(selector)", k32, &[],
          "ea 00 81 04 08 63 00", "ljmp $0x63,$0x08048100", &[Fault(GP, Some(0x60))]),
        c("ljmp to a conforming DPL 0 segment from CPL 3 keeps CPL 3 (CS.RPL <- CPL)", m32, &[FD],
          "ea 00 81 04 08 90 00", "ljmp $0x90,$0x08048100", &[Seg(SegReg::Cs, 0x93), Rip(0x0804_8100)]),
        c("ljmp to a non-present code segment is #NP(selector)", m32, &[FD],
          "ea 00 81 04 08 9b 00", "ljmp $0x9b,$0x08048100", &[Fault(NPV, Some(0x98))]),
        c("ljmp beyond the target segment's limit is #GP(0)", m32, &[FD],
          "ea 00 20 00 00 ab 00", "ljmp $0xab,$0x2000", &[Fault(GP, Some(0))]),
        c("ljmp through a call gate stops as unsupported", m32, &[FD],
          "ea 00 81 04 08 a3 00", "ljmp $0xa3,$0x08048100", &[Unsupported("call gate (not modelled)")]),
        c("ljmp through a selector beyond the GDT limit is #GP(selector)", m32, &[],
          "ea 00 81 04 08 03 01", "ljmp $0x103,$0x08048100", &[Fault(GP, Some(0x100))]),
        c("ljmp *m16:32", m32, &[S::R(EBX, UD), S::M(UD, 4, 0x0804_8100), S::M(UD + 4, 2, 0x73)],
          "ff 2b", "ljmp *(%ebx)", &[Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("ljmpw *m16:16 takes a 16-bit offset", m32, &[S::R(EBX, UD), S::M(UD, 4, 0x0804_8100), S::M(UD + 2, 2, 0x73)],
          "66 ff 2b", "ljmpw *(%ebx)", &[Seg(SegReg::Cs, 0x73), Rip(0x8100)]),
        c("lcall ptr16:32 pushes CS then EIP (CALL far, same privilege)", m32, &[],
          "9a 00 81 04 08 73 00", "lcall $0x73,$0x08048100",
          &[M(UST - 4, 4, 0x73), M(UST - 8, 4, USER_CODE + 7), R(ESP, UST - 8),
            Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("lcall *m16:32", m32, &[S::R(EBX, UD), S::M(UD, 4, 0x0804_8100), S::M(UD + 4, 2, 0x73)],
          "ff 1b", "lcall *(%ebx)",
          &[M(UST - 4, 4, 0x73), M(UST - 8, 4, USER_CODE + 2), R(ESP, UST - 8),
            Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("lcall whose second push faults (#PF) leaves nothing pushed", m32, &[S::R(ESP, UST - 0x4000 + 4)],
          "9a 00 81 04 08 73 00", "lcall $0x73,$0x08048100", &[Fault(14, Some(6))]),
        c("lret to the same level pops EIP and CS", m32,
          &[S::R(ESP, UST - 8), S::M(UST - 8, 4, 0x0804_8100), S::M(UST - 4, 4, 0x73)],
          "cb", "lret", &[R(ESP, UST), Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("lret $8 releases 8 more bytes", m32,
          &[S::R(ESP, UST - 16), S::M(UST - 16, 4, 0x0804_8100), S::M(UST - 12, 4, 0x73)],
          "ca 08 00", "lret $8", &[R(ESP, UST), Seg(SegReg::Cs, 0x73), Rip(0x0804_8100)]),
        c("lret to CPL 3 from CPL 0 pops SS:ESP and nulls DS holding a DPL 0 segment", k32,
          &[S::Seg(SegReg::Ds, 0x68), S::R(ESP, KST - 16), S::M(KST - 16, 4, 0x0804_8100),
            S::M(KST - 12, 4, 0x73), S::M(KST - 8, 4, UST - 0x20), S::M(KST - 4, 4, 0x7b)],
          "cb", "lret",
          &[Seg(SegReg::Cs, 0x73), Seg(SegReg::Ss, 0x7b), R(ESP, UST - 0x20), Rip(0x0804_8100),
            Null(SegReg::Ds, 0)]),
        c("lret $8 to an outer level adds 8 to the new ESP too", k32,
          &[S::R(ESP, KST - 24), S::M(KST - 24, 4, 0x0804_8100), S::M(KST - 20, 4, 0x73),
            S::M(KST - 8, 4, UST - 0x20), S::M(KST - 4, 4, 0x7b)],
          "ca 08 00", "lret $8",
          &[Seg(SegReg::Cs, 0x73), Seg(SegReg::Ss, 0x7b), R(ESP, UST - 0x18), Rip(0x0804_8100)]),
        c("lret to an outer level with SS.RPL != CS.RPL is #GP(SS selector)", k32,
          &[S::R(ESP, KST - 16), S::M(KST - 16, 4, 0x0804_8100),
            S::M(KST - 12, 4, 0x73), S::M(KST - 8, 4, UST - 0x20), S::M(KST - 4, 4, 0x78)],
          "cb", "lret", &[Fault(GP, Some(0x78))]),
        c("lret to a more privileged level is #GP(selector)", m32,
          &[S::R(ESP, UST - 8), S::M(UST - 8, 4, 0x0804_8100), S::M(UST - 4, 4, 0x60)],
          "cb", "lret", &[Fault(GP, Some(0x60))]),
        c("lret to a null CS is #GP(0)", m32,
          &[S::R(ESP, UST - 8), S::M(UST - 8, 4, 0x0804_8100), S::M(UST - 4, 4, 0)],
          "cb", "lret", &[Fault(GP, Some(0))]),
        c("lret to a non-present segment is #NP(selector)", m32,
          &[FD, S::R(ESP, UST - 8), S::M(UST - 8, 4, 0x0804_8100), S::M(UST - 4, 4, 0x9b)],
          "cb", "lret", &[Fault(NPV, Some(0x98))]),
        c("lss loads SS and ESP from m16:32", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0x7b)],
          "0f b2 23", "lss (%ebx),%esp", &[R(ESP, 0x1234), Seg(SegReg::Ss, 0x7b)]),
        c("lds loads DS and the register", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0x33)],
          "c5 03", "lds (%ebx),%eax", &[R(EAX, 0x1234), Seg(SegReg::Ds, 0x33)]),
        c("lfs with a null selector loads a null FS", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0)],
          "0f b4 03", "lfs (%ebx),%eax", &[R(EAX, 0x1234), Null(SegReg::Fs, 0)]),
        c("lgs with a readable code segment", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0x73)],
          "0f b5 03", "lgs (%ebx),%eax", &[R(EAX, 0x1234), Seg(SegReg::Gs, 0x73)]),
        c("lss with a null selector is #GP(0) and leaves ESP", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0)],
          "0f b2 23", "lss (%ebx),%esp", &[Fault(GP, Some(0))]),
        c("lds of a non-present segment is #NP(selector)", m32,
          &[S::R(EBX, UD), S::M(UD, 4, 0x1234), S::M(UD + 4, 2, 0x3b)],
          "c5 03", "lds (%ebx),%eax", &[Fault(NPV, Some(0x38))]),
    ]
}

#[rustfmt::skip]
fn far64_cases() -> Vec<Case> {
    vec![
        c("ljmp *m16:32 from 64-bit mode to the compatibility-mode code segment", m64,
          &[S::R(EBX, U64D), S::M(U64D, 4, 0x40_0100), S::M(U64D + 4, 2, 0x23)],
          "ff 2b", "ljmp *(%rbx)", &[Seg(SegReg::Cs, 0x23), Rip(0x40_0100)]),
        c("ljmp *m16:64 (REX.W) to a 64-bit code segment", m64,
          &[S::R(EBX, U64D), S::M(U64D, 8, 0x7f00_0000_1000), S::M(U64D + 8, 2, 0x33)],
          "48 ff 2b", "rex64 ljmp *(%rbx)", &[Seg(SegReg::Cs, 0x33), Rip(0x7f00_0000_1000)]),
        c("ljmp *m16:64 to a non-canonical offset is #GP(0)", m64,
          &[S::R(EBX, U64D), S::M(U64D, 8, 0x8000_0000_0000), S::M(U64D + 8, 2, 0x33)],
          "48 ff 2b", "rex64 ljmp *(%rbx)", &[Fault(GP, Some(0))]),
        c("lcall *m16:32 in 64-bit mode pushes 4-byte CS and EIP slots", k64,
          &[S::R(EBX, K64S - 0x100), S::M(K64S - 0x100, 4, 0x8100_0100), S::M(K64S - 0xfc, 2, 0x10)],
          "ff 1b", "lcall *(%rbx)",
          &[M(K64S - 4, 4, 0x10), M(K64S - 8, 4, (K64_CODE + 2) & 0xffff_ffff), R(ESP, K64S - 8),
            Seg(SegReg::Cs, 0x10), Rip(0x8100_0100)]),
        c("lretq from CPL 0 to 64-bit CPL 3 pops RIP, CS, RSP, SS", k64,
          &[S::R(ESP, K64S - 32), S::M(K64S - 32, 8, U64_CODE + 0x10), S::M(K64S - 24, 8, 0x33),
            S::M(K64S - 16, 8, U64S - 0x40), S::M(K64S - 8, 8, 0x2b)],
          "48 cb", "lretq",
          &[Seg(SegReg::Cs, 0x33), Seg(SegReg::Ss, 0x2b), R(ESP, U64S - 0x40), Rip(U64_CODE + 0x10)]),
        c("lretq to a non-canonical RIP is #GP(0)", k64,
          &[S::R(ESP, K64S - 32), S::M(K64S - 32, 8, 0x8000_0000_0000), S::M(K64S - 24, 8, 0x33),
            S::M(K64S - 16, 8, U64S - 0x40), S::M(K64S - 8, 8, 0x2b)],
          "48 cb", "lretq", &[Fault(GP, Some(0))]),
    ]
}

#[test]
fn far_transfers() {
    run_all(&far32_cases());
    run_all(&far64_cases());
}

// ---- control and debug registers, small privileged instructions ------------------------------

const CR0_INIT: u64 = 0x8001_0001;

#[rustfmt::skip]
fn cr_cases() -> Vec<Case> {
    vec![
        c("mov cr0 at CPL 3 is #GP(0)", m32, &[], "0f 20 c0", "mov %cr0,%eax", &[Fault(GP, Some(0))]),
        c("mov from cr0", k32, &[], "0f 20 c0", "mov %cr0,%eax", &[R(EAX, CR0_INIT)]),
        c("mov to cr0 drops reserved bit 6 and reads ET as 1", k32, &[S::R(EAX, CR0_INIT | 0x40)],
          "0f 22 c0", "mov %eax,%cr0", &[Cr(0, CR0_INIT | 0x10)]),
        c("mov to cr0 with PG = 1 and PE = 0 is #GP(0)", k32, &[S::R(EAX, 0x8000_0000)],
          "0f 22 c0", "mov %eax,%cr0", &[Fault(GP, Some(0))]),
        c("mov to cr0 with NW = 1 and CD = 0 is #GP(0)", k32, &[S::R(EAX, 0x2000_0001)],
          "0f 22 c0", "mov %eax,%cr0", &[Fault(GP, Some(0))]),
        c("mov to cr4 sets PAE, FSGSBASE, SMEP, SMAP", k32, &[S::R(EAX, 0x31_0020)],
          "0f 22 e0", "mov %eax,%cr4", &[Cr(4, 0x31_0020)]),
        c("mov to cr4 with PCIDE (not supported) is #GP(0)", k32, &[S::R(EAX, 0x2_0020)],
          "0f 22 e0", "mov %eax,%cr4", &[Fault(GP, Some(0))]),
        c("mov to cr4 with OSXSAVE (no XSAVE in the model) is #GP(0)", k32, &[S::R(EAX, 0x4_0020)],
          "0f 22 e0", "mov %eax,%cr4", &[Fault(GP, Some(0))]),
        c("mov to cr8 in 64-bit mode", k64, &[S::R(EAX, 5)],
          "44 0f 22 c0", "mov %rax,%cr8", &[Cr(8, 5)]),
        c("mov to cr8 with bits 63:4 set is #GP(0)", k64, &[S::R(EAX, 0x10)],
          "44 0f 22 c0", "mov %rax,%cr8", &[Fault(GP, Some(0))]),
        c("mov from cr8", k64, &[S::Cr(8, 3)], "44 0f 20 c0", "mov %cr8,%rax", &[R(EAX, 3)]),
        c("mov to cr3 above MAXPHYADDR in IA-32e mode is #GP(0)", k64, &[S::R(EAX, 1 << 50)],
          "0f 22 d8", "mov %rax,%cr3", &[Fault(GP, Some(0))]),
        c("mov to cr4 clearing PAE in IA-32e mode is #GP(0)", k64, &[S::R(EAX, 0)],
          "0f 22 e0", "mov %rax,%cr4", &[Fault(GP, Some(0))]),
        c("mov to dr7 keeps bit 10 set", k32, &[S::R(EAX, 1)], "0f 23 f8", "mov %eax,%db7", &[Cr(23, 0x401)]),
        c("mov to dr6 reads the fixed bits as 1", k32, &[S::R(EAX, 0)], "0f 23 f0", "mov %eax,%db6", &[Cr(22, 0xffff_0ff0)]),
        c("mov from dr6 after reset", k32, &[], "0f 21 f0", "mov %db6,%eax", &[R(EAX, 0xffff_0ff0)]),
        c("dr4 aliases dr6 with CR4.DE = 0", k32, &[], "0f 21 e0", "mov %db4,%eax", &[R(EAX, 0xffff_0ff0)]),
        c("dr4 with CR4.DE = 1 is #UD", k32, &[S::Cr(4, 0x28)], "0f 21 e0", "mov %db4,%eax", &[Fault(UDV, None)]),
        c("mov to dr0 at CPL 3 is #GP(0)", m32, &[], "0f 23 c0", "mov %eax,%db0", &[Fault(GP, Some(0))]),
        c("mov to dr7 with bits 63:32 set is #GP(0)", k64, &[S::R(EAX, 1 << 32)],
          "0f 23 f8", "mov %rax,%db7", &[Fault(GP, Some(0))]),
        c("mov to dr0 in 64-bit mode takes 64 bits", k64, &[S::R(EAX, 0xffff_8000_0000_1000)],
          "0f 23 c0", "mov %rax,%db0", &[Cr(16, 0xffff_8000_0000_1000)]),
        c("clts clears CR0.TS", k32, &[S::Cr(0, CR0_INIT | 8)], "0f 06", "clts", &[Cr(0, CR0_INIT)]),
        c("clts at CPL 3 is #GP(0)", m32, &[], "0f 06", "clts", &[Fault(GP, Some(0))]),
        c("invlpg at CPL 0 changes nothing (no TLB is modelled)", k32, &[S::R(EBX, KD)],
          "0f 01 3b", "invlpg (%ebx)", &[]),
        c("invlpg at CPL 3 is #GP(0)", m32, &[S::R(EBX, UD)], "0f 01 3b", "invlpg (%ebx)", &[Fault(GP, Some(0))]),
        c("wbinvd at CPL 3 is #GP(0)", m32, &[], "0f 09", "wbinvd", &[Fault(GP, Some(0))]),
        c("wbinvd at CPL 0 has nothing to write back", k32, &[], "0f 09", "wbinvd", &[]),
        c("lmsw sets TS and cannot clear PE", k32, &[S::R(EAX, 0x8)], "0f 01 f0", "lmsw %ax", &[Cr(0, CR0_INIT | 8)]),
        c("lmsw at CPL 3 is #GP(0)", m32, &[], "0f 01 f0", "lmsw %ax", &[Fault(GP, Some(0))]),
        c("smsw r32 at CPL 3 (no UMIP)", m32, &[], "0f 01 e0", "smsw %eax", &[R(EAX, CR0_INIT)]),
        c("smsw m16 stores 16 bits", m32, &[S::R(EBX, UD), S::M(UD, 4, 0xaaaa_aaaa)],
          "0f 01 23", "smsw (%ebx)", &[M(UD, 4, 0xaaaa_0001)]),
        c("sldt r32 stores the null LDTR selector zero-extended", m32, &[S::R(EAX, u32::MAX as u64)],
          "0f 00 c0", "sldt %eax", &[R(EAX, 0)]),
        c("lldt of a null selector at CPL 0 keeps the null LDTR", k32, &[S::R(EAX, 0)], "0f 00 d0", "lldt %ax", &[]),
        c("lldt at CPL 3 is #GP(0)", m32, &[S::R(EAX, 0)], "0f 00 d0", "lldt %ax", &[Fault(GP, Some(0))]),
        c("lldt of a non-null selector stops as unsupported (no LDT is modelled)", k32, &[S::R(EAX, 0x60)],
          "0f 00 d0", "lldt %ax", &[Unsupported("LLDT of a non-null selector (no LDT is modelled)")]),
        c("stac sets AC at CPL 0", k32, &[], "0f 01 cb", "stac", &[F(AC, AC)]),
        c("clac clears AC", k32, &[S::F(0x246 | AC)], "0f 01 ca", "clac", &[F(AC, 0)]),
        c("stac at CPL 3 is #UD", m32, &[], "0f 01 cb", "stac", &[Fault(UDV, None)]),
    ]
}

#[test]
fn control_and_debug_registers() {
    run_all(&cr_cases());
}

// ---- CPUID, the time-stamp counter, XGETBV, FS/GS base ---------------------------------------

#[rustfmt::skip]
fn cpuinfo_cases() -> Vec<Case> {
    vec![
        c("cpuid 0: max leaf 7 and GenuineIntel", m32, &[S::R(EAX, 0)], "0f a2", "cpuid",
          &[R(EAX, 7), R(EBX, 0x756e_6547), R(EDX, 0x4965_6e69), R(ECX, 0x6c65_746e)]),
        c("cpuid 1: family 6 model 0x5e; SEP PAE PGE PSE CX8 APIC TSC MSR; CX16 MOVBE POPCNT", m32, &[S::R(EAX, 1)],
          "0f a2", "cpuid", &[R(EAX, 0x5_06e3), R(EBX, 0x1_0800), R(ECX, 0xc0_2000), R(EDX, 0x1_bb7c)]),
        c("cpuid 7.0: FSGSBASE TSC_ADJUST BMI1 SMEP SMAP; RDPID; IBRS/IBPB", m32, &[S::R(EAX, 7), S::R(ECX, 0)],
          "0f a2", "cpuid", &[R(EAX, 0), R(EBX, 0x10_008b), R(ECX, 0x40_0000), R(EDX, 0x400_0000)]),
        c("cpuid 80000001H: LAHF LZCNT; SYSCALL NX RDTSCP LM", m32, &[S::R(EAX, 0x8000_0001)],
          "0f a2", "cpuid", &[R(EAX, 0), R(EBX, 0), R(ECX, 0x21), R(EDX, 0x2c10_0800)]),
        c("cpuid above the maximum leaf returns the highest basic leaf", m32, &[S::R(EAX, 0x20)],
          "0f a2", "cpuid", &[R(EAX, 0), R(EBX, 0x10_008b), R(ECX, 0x40_0000), R(EDX, 0x400_0000)]),
        c("cpuid in 64-bit mode zero-extends into RAX", m64, &[S::R(EAX, 0xffff_ffff_0000_0000)],
          "0f a2", "cpuid", &[R(EAX, 7), R(EBX, 0x756e_6547), R(EDX, 0x4965_6e69), R(ECX, 0x6c65_746e)]),
        c("rdtsc = step number (0) + IA32_TSC_ADJUST", m32, &[S::Msr(msr::TSC_ADJUST, 0x1_0000_0005)],
          "0f 31", "rdtsc", &[R(EAX, 5), R(EDX, 1)]),
        c("rdtsc at CPL 3 with CR4.TSD = 1 is #GP(0)", m32, &[S::Cr(4, 0x24)], "0f 31", "rdtsc", &[Fault(GP, Some(0))]),
        c("rdtsc at CPL 0 with CR4.TSD = 1", k32, &[S::Cr(4, 0x24), S::Msr(msr::TSC_ADJUST, 9)],
          "0f 31", "rdtsc", &[R(EAX, 9), R(EDX, 0)]),
        c("rdtscp also loads ECX with IA32_TSC_AUX", m32, &[S::Msr(msr::TSC_AUX, 0x42), S::R(ECX, 7)],
          "0f 01 f9", "rdtscp", &[R(EAX, 0), R(EDX, 0), R(ECX, 0x42)]),
        c("rdpid r64 reads IA32_TSC_AUX at any CPL", m64, &[S::Msr(msr::TSC_AUX, 0x42), S::R(EAX, u64::MAX)],
          "f3 0f c7 f8", "rdpid %rax", &[R(EAX, 0x42)]),
        c("rdpmc at CPL 3 with CR4.PCE = 0 is #GP(0)", m32, &[S::R(ECX, 0)], "0f 33", "rdpmc", &[Fault(GP, Some(0))]),
        c("rdpmc at CPL 0 names no counter of the model: #GP(0)", k32, &[S::R(ECX, 0)], "0f 33", "rdpmc", &[Fault(GP, Some(0))]),
        c("xgetbv with CR4.OSXSAVE = 0 is #UD", k32, &[], "0f 01 d0", "xgetbv", &[Fault(UDV, None)]),
        c("rdfsbase with CR4.FSGSBASE", m64, &[FSGS, S::With(fs_gs_bases)],
          "f3 48 0f ae c0", "rdfsbase %rax", &[R(EAX, 0x7f00_1234_5000)]),
        c("rdgsbase r32 reads the low half", m64, &[FSGS, S::With(fs_gs_bases), S::R(EAX, u64::MAX)],
          "f3 0f ae c8", "rdgsbase %eax", &[R(EAX, 0x2345_6789)]),
        c("wrfsbase writes FS.base", m64, &[FSGS, S::R(EAX, 0x7f00_0000_1000)],
          "f3 48 0f ae d0", "wrfsbase %rax", &[Base(SegReg::Fs, 0x7f00_0000_1000)]),
        c("wrgsbase with a non-canonical base is #GP(0)", m64, &[FSGS, S::R(EAX, 0x8000_0000_0000)],
          "f3 48 0f ae d8", "wrgsbase %rax", &[Fault(GP, Some(0))]),
        c("rdfsbase with CR4.FSGSBASE = 0 is #UD", m64, &[], "f3 48 0f ae c0", "rdfsbase %rax", &[Fault(UDV, None)]),
    ]
}

#[test]
fn cpuid_tsc_and_bases() {
    run_all(&cpuinfo_cases());
}

// ---- MSRs an OS touches at boot --------------------------------------------------------------

#[rustfmt::skip]
fn msr_cases() -> Vec<Case> {
    vec![
        c("rdmsr IA32_APIC_BASE: 0xfee00000, enabled, BSP", k32, &[S::R(ECX, 0x1b)],
          "0f 32", "rdmsr", &[R(EAX, 0xfee0_0900), R(EDX, 0)]),
        c("rdmsr IA32_PAT reset value", k32, &[S::R(ECX, 0x277)],
          "0f 32", "rdmsr", &[R(EAX, 0x0007_0406), R(EDX, 0x0007_0406)]),
        c("rdmsr IA32_MISC_ENABLE (fast strings)", k32, &[S::R(ECX, 0x1a0)], "0f 32", "rdmsr", &[R(EAX, 1), R(EDX, 0)]),
        c("rdmsr IA32_MTRRCAP", k32, &[S::R(ECX, 0xfe)], "0f 32", "rdmsr", &[R(EAX, 0x508), R(EDX, 0)]),
        c("wrmsr IA32_MTRRCAP (read-only) is #GP(0)", k32, &[S::R(ECX, 0xfe)], "0f 30", "wrmsr", &[Fault(GP, Some(0))]),
        c("rdmsr IA32_TIME_STAMP_COUNTER = step + TSC_ADJUST", k32, &[S::R(ECX, 0x10), S::Msr(msr::TSC_ADJUST, 7)],
          "0f 32", "rdmsr", &[R(EAX, 7), R(EDX, 0)]),
        c("wrmsr IA32_TIME_STAMP_COUNTER moves TSC_ADJUST", k32, &[S::R(ECX, 0x10), S::R(EAX, 100), S::R(EDX, 1)],
          "0f 30", "wrmsr", &[Msr(msr::TSC_ADJUST, 0x1_0000_0064)]),
        c("rdmsr IA32_PRED_CMD (write-only) is #GP(0)", k32, &[S::R(ECX, 0x49)], "0f 32", "rdmsr", &[Fault(GP, Some(0))]),
        c("wrmsr IA32_PRED_CMD IBPB keeps no state", k32, &[S::R(ECX, 0x49), S::R(EAX, 1)], "0f 30", "wrmsr", &[]),
        c("wrmsr IA32_PRED_CMD reserved bit is #GP(0)", k32, &[S::R(ECX, 0x49), S::R(EAX, 2)], "0f 30", "wrmsr", &[Fault(GP, Some(0))]),
        c("wrmsr IA32_SPEC_CTRL.IBRS", k32, &[S::R(ECX, 0x48), S::R(EAX, 1)], "0f 30", "wrmsr", &[Msr(msr::SPEC_CTRL, 1)]),
        c("wrmsr IA32_SPEC_CTRL.STIBP (not advertised) is #GP(0)", k32, &[S::R(ECX, 0x48), S::R(EAX, 2)],
          "0f 30", "wrmsr", &[Fault(GP, Some(0))]),
        c("wrmsr IA32_PAT with a reserved memory type (2) is #GP(0)", k32, &[S::R(ECX, 0x277), S::R(EAX, 2)],
          "0f 30", "wrmsr", &[Fault(GP, Some(0))]),
        c("wrmsr IA32_SYSENTER_CS with EDX != 0: bits 63:16 are not used and not checked", k32,
          &[S::R(ECX, 0x174), S::R(EAX, 0x60), S::R(EDX, 1)],
          "0f 30", "wrmsr", &[Msr(msr::SYSENTER_CS, 0x1_0000_0060)]),
    ]
}

#[test]
fn boot_msrs() {
    run_all(&msr_cases());
}

// ---- VERR, VERW, LAR, LSL --------------------------------------------------------------------

#[rustfmt::skip]
fn segcheck_cases() -> Vec<Case> {
    vec![
        c("verr of the user code segment (readable) sets ZF", m32, &[ZF0, S::R(EAX, 0x73)],
          "0f 00 e0", "verr %ax", &[F(ZF, ZF)]),
        c("verw of a code segment clears ZF", m32, &[S::R(EAX, 0x73)], "0f 00 e8", "verw %ax", &[F(ZF, 0)]),
        c("verw of the user data segment sets ZF", m32, &[ZF0, S::R(EAX, 0x7b)], "0f 00 e8", "verw %ax", &[F(ZF, ZF)]),
        c("verw of a DPL 0 data segment at CPL 3 clears ZF", m32, &[S::R(EAX, 0x68)], "0f 00 e8", "verw %ax", &[F(ZF, 0)]),
        c("verr of a conforming DPL 0 segment at CPL 3 sets ZF", m32, &[ZF0, S::With(far_descriptors), S::R(EAX, 0x93)],
          "0f 00 e0", "verr %ax", &[F(ZF, ZF)]),
        c("verr of a null selector clears ZF", m32, &[S::R(EAX, 0)], "0f 00 e0", "verr %ax", &[F(ZF, 0)]),
        c("lar of the user data segment: access rights AND 00F0FF00H", m32, &[ZF0, S::R(EBX, 0x7b)],
          "0f 02 c3", "lar %bx,%eax", &[R(EAX, 0x00c0_f300), F(ZF, ZF)]),
        c("lar of a null selector clears ZF and leaves the destination", m32, &[S::R(EBX, 0), S::R(EAX, 0x5555)],
          "0f 02 c3", "lar %bx,%eax", &[F(ZF, 0)]),
        c("lar beyond the GDT limit clears ZF", m32, &[S::R(EBX, 0x100)], "0f 02 c3", "lar %bx,%eax", &[F(ZF, 0)]),
        c("lar of the TSS at CPL 0", k32, &[ZF0, S::R(EBX, 0x80)], "0f 02 c3", "lar %bx,%eax", &[R(EAX, 0x8b00), F(ZF, ZF)]),
        c("lsl of the user data segment gives the scaled limit", m32, &[ZF0, S::R(EBX, 0x7b)],
          "0f 03 c3", "lsl %bx,%eax", &[R(EAX, 0xffff_ffff), F(ZF, ZF)]),
        c("lsl of the DPL 0 TSS at CPL 3 clears ZF", m32, &[S::R(EBX, 0x80)], "0f 03 c3", "lsl %bx,%eax", &[F(ZF, 0)]),
        c("lsl of the TSS at CPL 0", k32, &[ZF0, S::R(EBX, 0x80)], "0f 03 c3", "lsl %bx,%eax", &[R(EAX, 0x67), F(ZF, ZF)]),
        c("lsl of a call gate clears ZF (LAR accepts it, LSL does not)", m32, &[S::With(far_descriptors), S::R(EBX, 0xa3)],
          "0f 03 c3", "lsl %bx,%eax", &[F(ZF, 0)]),
    ]
}

#[test]
fn segment_checks() {
    run_all(&segcheck_cases());
}

// ---- IN, OUT, INS, OUTS ----------------------------------------------------------------------

#[rustfmt::skip]
fn io_cases() -> Vec<Case> {
    vec![
        c("in at CPL 3 > IOPL 0 with the I/O bitmap offset beyond the TSS limit is #GP(0)", m32,
          &[S::M(TSS + 0x66, 2, 0x68)], "e4 60", "in $0x60,%al", &[Fault(GP, Some(0))]),
        c("in at CPL 0 reads all ones (no device)", k32, &[], "e4 60", "in $0x60,%al", &[R(EAX, 0xff), Port(0x60, 0xff, false)]),
        c("out at CPL 3 with IOPL 3", m32, &[S::F(0x3246), S::R(EAX, 0x12)], "e6 80", "out %al,$0x80", &[Port(0x80, 0x12, true)]),
        c("in at CPL 3 through a clear I/O bitmap bit", m32, &[BITMAP], "e4 60", "in $0x60,%al", &[R(EAX, 0xff), Port(0x60, 0xff, false)]),
        c("in at CPL 3 of a port whose bitmap bit is set is #GP(0)", m32, &[BITMAP], "e4 61", "in $0x61,%al", &[Fault(GP, Some(0))]),
        c("a 2-byte in checks the bit of every byte it touches", m32, &[BITMAP], "66 e5 60", "in $0x60,%ax", &[Fault(GP, Some(0))]),
        c("a port whose bitmap bits lie beyond the TSS limit is #GP(0)", m32, &[BITMAP, S::R(EDX, 0x400)],
          "ec", "in (%dx),%al", &[Fault(GP, Some(0))]),
        c("in eax from dx", k32, &[S::R(EDX, 0x3f8)], "ed", "in (%dx),%eax", &[R(EAX, 0xffff_ffff), Port(0x3f8, 0xffff_ffff, false)]),
        c("in eax in 64-bit mode zero-extends RAX", k64, &[S::R(EAX, 0xffff_ffff_0000_0000)], "e5 60", "in $0x60,%eax",
          &[R(EAX, 0xffff_ffff)]),
        c("insb stores the port byte at ES:EDI and advances EDI", k32, &[S::R(EDX, 0x3f8), S::R(EDI, KD)],
          "6c", "insb (%dx),%es:(%edi)", &[M(KD, 1, 0xff), R(EDI, KD + 1)]),
        c("rep outsb does one element per step and stays on the instruction", k32,
          &[S::R(EDX, 0x3f8), S::R(ESI, KD), S::R(ECX, 2), S::M(KD, 1, 0x41)],
          "f3 6e", "rep outsb %ds:(%esi),(%dx)", &[R(ECX, 1), R(ESI, KD + 1), Rip(KERNEL_CODE), Port(0x3f8, 0x41, true)]),
        c("rep outsb with ECX = 0 does nothing", k32, &[S::R(EDX, 0x3f8), S::R(ESI, KD), S::R(ECX, 0)],
          "f3 6e", "rep outsb %ds:(%esi),(%dx)", &[]),
        c("outsb at CPL 3 without I/O permission is #GP(0)", m32, &[S::R(EDX, 0x3f8), S::R(ESI, UD)],
          "6e", "outsb %ds:(%esi),(%dx)", &[Fault(GP, Some(0))]),
    ]
}

#[test]
fn port_io() {
    run_all(&io_cases());
}

#[test]
fn tables_match_gnu_as() {
    let mut c32 = Vec::new();
    let mut c64 = Vec::new();
    for cases in [
        far32_cases(),
        far64_cases(),
        cr_cases(),
        cpuinfo_cases(),
        msr_cases(),
        segcheck_cases(),
        io_cases(),
    ] {
        for case in cases {
            if (case.build)().cpu.long_mode_active() {
                c64.push(case);
            } else {
                c32.push(case);
            }
        }
    }
    check_assembly(&c32, 32);
    check_assembly(&c64, 64);
}

// ---- TF single-step traps and INT1 -----------------------------------------------------------

const DB_HANDLER: u64 = KERNEL_CODE + 0x300;
const TF: u64 = ringstep::machine::flags::TF;

/// The 32-bit user machine with a #DB interrupt gate (DPL 0), `code` at USER_CODE and
/// the given EFLAGS.
fn db_machine(code: &str, flags: u64) -> Machine {
    let mut m = machine32();
    set_gate32(&mut m, 1, DB_HANDLER, KERNEL_CS, false, 0);
    m.cpu.rflags = flags;
    m.mem.poke(USER_CODE, &hex(code));
    m
}

fn outcome_vector(e: &Engine) -> Option<u8> {
    match e.last_step().map(|s| s.info.outcome.clone()) {
        Some(Outcome::Exception(x)) => Some(x.vector),
        _ => None,
    }
}

/// Step once; the step must deliver #DB as a trap whose saved EIP is `ret` and saved
/// EFLAGS `saved`, with DR6.BS set; then step back to the machine before.
fn expect_db_trap(e: &mut Engine, ret: u64, saved: u64) {
    let before = e.machine().clone();
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(outcome_vector(e), Some(1), "a #DB follows the instruction");
    let m = e.machine();
    assert_eq!(m.cpu.rip, DB_HANDLER);
    assert_eq!(
        m.mem.peek_le(KST - 20, 4),
        ret,
        "saved EIP: the next instruction"
    );
    assert_eq!(m.mem.peek_le(KST - 12, 4), saved, "saved EFLAGS");
    assert_eq!(m.cpu.dr[6], 0xffff_4ff0, "DR6.BS is set");
    assert_eq!(m.cpu.rflags & TF, 0, "delivery clears TF");
    assert!(e.step_back());
    assert_eq!(
        e.machine(),
        &before,
        "step_back undoes the instruction and the trap"
    );
    assert_eq!(e.step(), StepResult::Stepped);
}

#[test]
fn tf_traps_after_the_instruction_that_ran_with_tf() {
    // SDM Vol. 3A 17.3.1.4: a trap-class #DB after each instruction that starts with TF = 1.
    let mut e = Engine::new(db_machine("90", 0x346));
    expect_db_trap(&mut e, USER_CODE + 1, 0x346);
    // The fast path (a register ADD has a pre-analysed form) must not skip the trap.
    let mut e = Engine::new(db_machine("01 c0", 0x346));
    expect_db_trap(&mut e, USER_CODE + 2, 0x346);
}

#[test]
fn tf_traps_after_each_iteration_of_a_repeated_string_instruction() {
    // SDM Vol. 3A 17.3.1.4: with TF = 1, REP string instructions trap after each
    // iteration, EIP still at the instruction while rCX is not yet 0.
    let mut m = db_machine("f3 aa", 0x346); // rep stos %al,%es:(%edi)
    const EDI: usize = 7;
    m.cpu.gpr[ECX] = 3;
    m.cpu.gpr[EDI] = UD;
    let mut e = Engine::new(m);
    expect_db_trap(&mut e, USER_CODE, 0x346);
    assert_eq!(e.machine().cpu.gpr[ECX], 2, "one iteration before the trap");
    assert_eq!(e.machine().cpu.gpr[EDI], UD + 1);
}

#[test]
fn popf_setting_tf_traps_after_the_next_instruction() {
    // SDM Vol. 3A 17.3.1.4: no trap after the POPF that sets TF; one after the next.
    let mut m = db_machine("9d 90", 0x246);
    m.cpu.gpr[RSP] = UST - 4;
    m.mem.poke_le(UST - 4, 4, 0x346);
    let mut e = Engine::new(m);
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(
        outcome_vector(&e),
        None,
        "no #DB after the POPF that set TF"
    );
    assert_eq!(e.machine().cpu.rflags & TF, TF);
    expect_db_trap(&mut e, USER_CODE + 2, 0x346);
}

#[test]
fn popf_clearing_tf_still_traps() {
    // TF was set when the POPF started: the trap follows it, with TF clear in the image.
    let mut m = db_machine("9d", 0x346);
    m.cpu.gpr[RSP] = UST - 4;
    m.mem.poke_le(UST - 4, 4, 0x246);
    let mut e = Engine::new(m);
    expect_db_trap(&mut e, USER_CODE + 1, 0x246);
}

#[test]
fn mov_ss_holds_the_trap_off_for_one_instruction() {
    // SDM Vol. 3A 6.8.3: debug traps are inhibited after MOV SS until the next boundary.
    let mut m = db_machine("8e d0 90", 0x346);
    m.cpu.gpr[EAX] = USER_DS as u64;
    let mut e = Engine::new(m);
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(outcome_vector(&e), None, "no #DB right after MOV SS");
    expect_db_trap(&mut e, USER_CODE + 3, 0x346);
}

#[test]
fn sti_does_not_hold_the_trap_off() {
    // STI's shadow blocks maskable interrupts only (SDM Vol. 3A 6.8.3).
    let mut m = db_machine("fb", 0x146);
    m.cpu.rflags = 0x3146; // IOPL 3 so STI is allowed at CPL 3
    let mut e = Engine::new(m);
    expect_db_trap(&mut e, USER_CODE + 1, 0x3346);
}

#[test]
fn tf_trap_without_a_handler_stops_and_changes_nothing() {
    let mut m = machine32();
    m.cpu.rflags = 0x346;
    m.mem.poke(USER_CODE, &hex("90"));
    let before = m.clone();
    let mut e = Engine::new(m);
    match e.step() {
        StepResult::Stopped(s) => match s.reason {
            StopReason::Fault(x) => assert_eq!(x.vector, 1),
            other => panic!("stopped with {other:?}"),
        },
        StepResult::Stepped => panic!("the trap needs a handler"),
    }
    assert_eq!(e.machine(), &before);
}

#[test]
fn into_with_of_clear_is_followed_by_the_trap() {
    // INTO with OF = 0 does nothing, so the single-step trap follows it as any instruction.
    let mut e = Engine::new(db_machine("ce", 0x346));
    expect_db_trap(&mut e, USER_CODE + 1, 0x346);
}

#[test]
fn int1_delivers_db_without_the_gate_dpl_check() {
    // SDM Vol. 2A INT1: #DB through a DPL 0 gate from CPL 3, returning after F1; DR6 as is.
    for flags in [0x246, 0x346] {
        let mut e = Engine::new(db_machine("f1", flags));
        let before = e.machine().clone();
        assert_eq!(e.step(), StepResult::Stepped);
        let m = e.machine();
        assert_eq!(m.cpu.rip, DB_HANDLER);
        assert_eq!(m.mem.peek_le(KST - 20, 4), USER_CODE + 1);
        assert_eq!(m.cpu.dr[6], 0xffff_0ff0, "INT1 leaves DR6 alone");
        assert_eq!(
            outcome_vector(&e),
            None,
            "one delivery, no single-step trap on top"
        );
        assert!(e.step_back());
        assert_eq!(e.machine(), &before);
    }
}

#[test]
fn the_time_stamp_counter_counts_steps() {
    // docs/cpu-model.md: TSC = step number + IA32_TSC_ADJUST, the same again after a step back.
    let mut m = machine32();
    m.mem.poke(USER_CODE, &hex("0f 31 0f 31"));
    let mut e = Engine::new(m);
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(e.machine().cpu.gpr[EAX], 0);
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(e.machine().cpu.gpr[EAX], 1);
    assert!(e.step_back());
    assert_eq!(e.step(), StepResult::Stepped);
    assert_eq!(e.machine().cpu.gpr[EAX], 1);
}

/// A #PF while delivering a #PF is a double fault (SDM Vol. 3A §6.15, Interrupt 8,
/// Table 6-5), and CR2 holds the linear address of the second page fault: the processor
/// loads CR2 when it detects a page fault (Interrupt 14). `pop %rbp` at RSP 0x2000 faults
/// at 0x2000; pushing the #PF frame faults at 0x1ff8; the #DF goes through IST 1.
/// Found by the differential check against QEMU (tests/qemu_diff.rs, Kernel64).
#[test]
fn a_page_fault_while_delivering_a_page_fault_leaves_the_second_address_in_cr2() {
    let mut m = with_code(kernel64(), "5d"); // pop %rbp
    set_gate64(&mut m, 14, K64_CODE + 0x100, false, 0, 0);
    set_gate64(&mut m, 8, K64_CODE + 0x108, false, 0, 1);
    let tss = m.cpu.tr.base;
    m.mem.poke_le(tss + 0x24, 8, K64S);
    m.cpu.gpr[RSP] = 0x2000;
    let mut e = Engine::new(m);
    step(&mut e);
    let c = &e.machine().cpu;
    assert_eq!(c.rip, K64_CODE + 0x108, "delivered to the #DF handler");
    assert_eq!(c.cr2, 0x1ff8);
    assert_eq!(c.gpr[RSP], K64S - 0x30, "the #DF frame on the IST 1 stack");
}
