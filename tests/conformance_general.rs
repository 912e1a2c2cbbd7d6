//! Conformance tests for the general instruction families (data movement, stack, integer
//! arithmetic, control transfer) and for page faults raised by ordinary instructions.
//!
//! Each case is one instruction: an initial machine (a builder from `common` plus
//! overrides), the instruction bytes (assembled with GNU `as --32`/`--64` and read back
//! with `objdump -d`; the AT&T text is kept beside them), and the expected state after
//! one step, derived from the Intel SDM Vol. 2 "Operation" and "Flags Affected"
//! sections. The whole machine is compared: anything a case does not list must be left
//! as it was (RIP defaults to the next instruction). Every completed step is then undone
//! with `step_back`, which must restore the initial machine exactly.
//!
//! Flags the SDM leaves undefined are either listed with `Undef` (not compared) or
//! asserted with the model's documented choice (src/engine/alu.rs).

mod common;

use common::*;
use ringstep::engine::{Engine, Outcome};
use ringstep::machine::flags::{AC, AF, CF, DF, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VM, ZF};
use ringstep::machine::{Machine, SegReg, Segment};

use common::conformance::*;

// ---- MOV ------------------------------------------------------------------------------

#[rustfmt::skip]
fn mov32_cases() -> Vec<Case> {
    vec![
        c("mov r32 to r/m32", m32, &[S::R(EAX, 0x1234_5678), S::R(EBX, 0xffff_ffff)],
          "89 c3", "mov %eax,%ebx", &[R(EBX, 0x1234_5678)]),
        c("mov r/m32 to r32 (8b)", m32, &[S::R(EBX, 0xcafe_f00d)],
          "8b c3", "{load} mov %ebx,%eax", &[R(EAX, 0xcafe_f00d)]),
        c("mov imm32 to r32", m32, &[],
          "b9 ef cd ab 89", "mov $0x89abcdef,%ecx", &[R(ECX, 0x89ab_cdef)]),
        c("mov imm32 to m32", m32, &[S::R(EBX, UD)],
          "c7 43 10 44 33 22 11", "movl $0x11223344,0x10(%ebx)", &[M(UD + 0x10, 4, 0x1122_3344)]),
        c("mov moffs32 to eax", m32, &[S::M(UD + 0x10, 4, 0xdead_beef)],
          "a1 10 90 04 08", "mov 0x8049010,%eax", &[R(EAX, 0xdead_beef)]),
        c("mov al to moffs8 writes one byte", m32, &[S::R(EAX, 0x1234_5678), S::M(UD + 0x20, 4, 0xaaaa_aaaa)],
          "a2 20 90 04 08", "mov %al,0x8049020", &[M(UD + 0x20, 4, 0xaaaa_aa78)]),
        c("mov ax to moffs16 writes two bytes", m32, &[S::R(EAX, 0x1234_5678), S::M(UD + 0x20, 4, 0xaaaa_aaaa)],
          "66 a3 20 90 04 08", "mov %ax,0x8049020", &[M(UD + 0x20, 4, 0xaaaa_5678)]),
        c("mov m16 to r16 merges (base+index*2+disp8)", m32, &[S::R(EBX, UD), S::R(ECX, 8), S::M(UD + 0x14, 2, 0xbeef), S::R(EDX, 0x1111_2222)],
          "66 8b 54 4b 04", "mov 0x4(%ebx,%ecx,2),%dx", &[R(EDX, 0x1111_beef)]),
        c("mov imm8 to ah", m32, &[S::R(EAX, 0x1122_3344)],
          "b4 7f", "mov $0x7f,%ah", &[R(EAX, 0x1122_7f44)]),
        c("mov bh to cl", m32, &[S::R(EBX, 0xab00), S::R(ECX, 0x1234_5678)],
          "88 f9", "mov %bh,%cl", &[R(ECX, 0x1234_56ab)]),
        c("mov ds to r32 zero-extends", m32, &[S::R(EAX, 0xffff_ffff)],
          "8c d8", "mov %ds,%eax", &[R(EAX, USER_DS as u64)]),
        c("mov ds to r16 merges", m32, &[S::R(EAX, 0xffff_ffff)],
          "66 8c d8", "mov %ds,%ax", &[R(EAX, 0xffff_007b)]),
        c("mov ds to m16 writes two bytes", m32, &[S::M(UD, 4, 0xffff_ffff)],
          "8c 1d 00 90 04 08", "mov %ds,0x8049000", &[M(UD, 4, 0xffff_007b)]),
        c("mov null selector to es", m32, &[S::R(ECX, 0)],
          "8e c1", "mov %ecx,%es", &[Null(SegReg::Es, 0)]),
        c("mov null selector with RPL 3 to es", m32, &[S::R(ECX, 3)],
          "8e c1", "mov %ecx,%es", &[Null(SegReg::Es, 3)]),
        c("mov user data selector to fs", m32, &[S::R(ECX, USER_DS as u64)],
          "8e e1", "mov %ecx,%fs", &[Seg(SegReg::Fs, USER_DS)]),
        c("mov selector uses only the low 16 bits", m32, &[S::R(ECX, 0xffff_0000 | TLS_SEL as u64)],
          "8e e1", "mov %ecx,%fs", &[Seg(SegReg::Fs, TLS_SEL)]),
        c("mov readable code selector to ds", m32, &[S::R(ECX, USER_CS as u64)],
          "8e d9", "mov %ecx,%ds", &[Seg(SegReg::Ds, USER_CS)]),
        c("mov to ss sets the interrupt shadow", m32, &[S::R(ECX, USER_DS as u64)],
          "8e d1", "mov %ecx,%ss", &[Seg(SegReg::Ss, USER_DS), Shadow(true)]),
        c("mov m16 to ss", m32, &[S::M(UD, 2, USER_DS as u64)],
          "8e 15 00 90 04 08", "mov 0x8049000,%ss", &[Seg(SegReg::Ss, USER_DS), Shadow(true)]),
        c("mov to ss with RPL != CPL", m32, &[S::R(ECX, 0x78)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0x78))]),
        c("mov to ss with DPL != CPL", m32, &[S::R(ECX, 0x6b)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0x68))]),
        c("mov code selector to ss", m32, &[S::R(ECX, USER_CS as u64)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0x70))]),
        c("mov null selector to ss", m32, &[S::R(ECX, 0)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0))]),
        c("mov null selector with RPL 3 to ss", m32, &[S::R(ECX, 3)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0))]),
        c("mov DPL 0 data selector to ds at CPL 3", m32, &[S::R(ECX, KERNEL_DS as u64)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0x68))]),
        c("mov DPL 0 data selector with RPL 3 to ds at CPL 3", m32, &[S::R(ECX, 0x6b)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0x68))]),
        c("mov selector beyond the GDT limit", m32, &[S::R(ECX, 0x103)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0x100))]),
        c("mov selector of the last (empty) GDT entry", m32, &[S::R(ECX, 0xfb)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0xf8))]),
        c("mov LDT selector (TI=1, LDTR null)", m32, &[S::R(ECX, 0x7f)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0x7c))]),
        c("mov TSS selector to ds", m32, &[S::R(ECX, TSS_SEL as u64)],
          "8e d9", "mov %ecx,%ds", &[Fault(13, Some(0x80))]),
        c("mov non-present segment to ds", m32, &[S::R(ECX, NP_SEL as u64)],
          "8e d9", "mov %ecx,%ds", &[Fault(11, Some(0x38))]),
        c("mov to cs is invalid", m32, &[S::R(EAX, USER_CS as u64)],
          "8e c8", ".byte 0x8e,0xc8 (mov %eax,%cs)", &[Fault(6, None)]),
        c("mov to cr3 at CPL 3", m32, &[S::R(EAX, 0x1000)],
          "0f 22 d8", "mov %eax,%cr3", &[Fault(13, Some(0))]),
        c("mov from cr0 at CPL 3", m32, &[],
          "0f 20 c0", "mov %cr0,%eax", &[Fault(13, Some(0))]),
        c("mov to cr3 at CPL 0", k32, &[S::R(EAX, 0x0012_3000)],
          "0f 22 d8", "mov %eax,%cr3", &[Cr(3, 0x0012_3000)]),
        c("mov from cr0 at CPL 0", k32, &[S::R(EAX, 0xffff_ffff)],
          "0f 20 c0", "mov %cr0,%eax", &[R(EAX, 0x8001_0001)]),
        c("mov DPL 0 data selector to ds at CPL 0", k32, &[S::R(ECX, KERNEL_DS as u64)],
          "8e d9", "mov %ecx,%ds", &[Seg(SegReg::Ds, KERNEL_DS)]),
        c("mov DPL 3 data selector to ds at CPL 0", k32, &[S::R(ECX, USER_DS as u64), S::Seg(SegReg::Ds, KERNEL_DS)],
          "8e d9", "mov %ecx,%ds", &[Seg(SegReg::Ds, USER_DS)]),
        c("mov DPL 3 selector to ss at CPL 0", k32, &[S::R(ECX, USER_DS as u64)],
          "8e d1", "mov %ecx,%ss", &[Fault(13, Some(0x78))]),
        c("mov kernel selector to ss at CPL 0", k32, &[S::R(ECX, KERNEL_DS as u64)],
          "8e d1", "mov %ecx,%ss", &[Seg(SegReg::Ss, KERNEL_DS), Shadow(true)]),
    ]
}

#[test]
fn mov_32() {
    run_all(&mov32_cases());
}

#[rustfmt::skip]
fn mov64_cases() -> Vec<Case> {
    const DATA: u64 = U64_STACK_TOP - 0x1000;
    vec![
        c("32-bit mov zero-extends", m64, &[S::R(EAX, u64::MAX), S::R(EBX, 0xaaaa_aaaa_1234_5678)],
          "89 d8", "mov %ebx,%eax", &[R(EAX, 0x1234_5678)]),
        c("16-bit mov merges", m64, &[S::R(EAX, u64::MAX)],
          "66 b8 01 00", "mov $1,%ax", &[R(EAX, 0xffff_ffff_ffff_0001)]),
        c("8-bit mov merges", m64, &[S::R(EAX, u64::MAX)],
          "b0 01", "mov $1,%al", &[R(EAX, 0xffff_ffff_ffff_ff01)]),
        c("mov imm64", m64, &[],
          "48 b8 f0 de bc 9a 78 56 34 12", "mov $0x123456789abcdef0,%rax", &[R(EAX, 0x1234_5678_9abc_def0)]),
        c("mov eax to moffs64 writes four bytes", m64, &[S::R(EAX, 0x1122_3344_5566_7788), S::M(DATA, 8, 0xaaaa_aaaa_aaaa_aaaa)],
          "a3 00 d0 ff ff ff 7f 00 00", "movabs %eax,0x7fffffffd000", &[M(DATA, 8, 0xaaaa_aaaa_5566_7788)]),
        c("mov moffs64 to rax", m64, &[S::M(DATA, 8, 0x0102_0304_0506_0708)],
          "48 a1 00 d0 ff ff ff 7f 00 00", "movabs 0x7fffffffd000,%rax", &[R(EAX, 0x0102_0304_0506_0708)]),
        c("mov gs:disp32 uses the GS base", m64, &[S::With(|m| m.cpu.seg[SegReg::Gs as usize].base = U64_STACK_TOP - 0x1000), S::M(DATA + 0x10, 8, 0xfeed_face_cafe_beef)],
          "65 48 8b 04 25 10 00 00 00", "mov %gs:0x10,%rax", &[R(EAX, 0xfeed_face_cafe_beef)]),
        c("mov from a sign-extended disp32 address", k64, &[S::M(K64_CODE + 0x100, 8, 0x1122_3344_5566_7788)],
          "48 8b 04 25 00 01 00 81", "mov 0xffffffff81000100,%rax", &[R(EAX, 0x1122_3344_5566_7788)]),
        c("non-canonical data address", m64, &[S::R(EAX, 0x0000_8000_0000_0000)],
          "48 8b 18", "mov (%rax),%rbx", &[Fault(13, Some(0))]),
        c("non-canonical stack address", m64, &[S::R(ESP, 0x0000_8000_0000_0000)],
          "48 8b 04 24", "mov (%rsp),%rax", &[Fault(12, Some(0))]),
        c("mov spl (REX) is not ah", m64, &[S::R(EAX, 0xffff), S::R(ESP, U64_STACK_TOP - 0x100 + 0x42)],
          "40 88 e0", "mov %spl,%al", &[R(EAX, 0xff42)]),
        c("mov ah to al (no REX)", m64, &[S::R(EAX, 0xabcd)],
          "88 e0", "mov %ah,%al", &[R(EAX, 0xabab)]),
        c("mov ds to r32 in 64-bit mode zero-extends", m64, &[S::R(EAX, u64::MAX)],
          "8c d8", "mov %ds,%eax", &[R(EAX, U64_DS as u64)]),
        c("mov null selector to ss at CPL 0 in 64-bit mode", k64, &[S::R(EAX, 0)],
          "8e d0", "mov %eax,%ss", &[Null(SegReg::Ss, 0), Shadow(true)]),
        c("mov null selector to ss at CPL 3 in 64-bit mode", m64, &[S::R(EAX, 0)],
          "8e d0", "mov %eax,%ss", &[Fault(13, Some(0))]),
        c("mov user selector to ss in 64-bit mode", m64, &[S::R(EAX, U64_DS as u64)],
          "8e d0", "mov %eax,%ss", &[Seg(SegReg::Ss, U64_DS), Shadow(true)]),
        c("mov rax to cr3 at CPL 3", m64, &[],
          "0f 22 d8", "mov %rax,%cr3", &[Fault(13, Some(0))]),
        c("mov rax to cr3 at CPL 0", k64, &[S::R(EAX, 0x1_2345_6000)],
          "0f 22 d8", "mov %rax,%cr3", &[Cr(3, 0x1_2345_6000)]),
    ]
}

#[test]
fn mov_64() {
    run_all(&mov64_cases());
}

// ---- MOVZX, MOVSX, MOVSXD, LEA, XCHG ------------------------------------------------------

#[rustfmt::skip]
fn ext32_cases() -> Vec<Case> {
    vec![
        c("movzx r/m8", m32, &[S::R(EAX, 0x1234_5680), S::R(EBX, u64::MAX)],
          "0f b6 d8", "movzbl %al,%ebx", &[R(EBX, 0x80)]),
        c("movzx m16", m32, &[S::M(UD, 4, 0x1234_fedc), S::R(ECX, 0xffff_ffff)],
          "0f b7 0d 00 90 04 08", "movzwl 0x8049000,%ecx", &[R(ECX, 0xfedc)]),
        c("movzx ah to r16 merges", m32, &[S::R(EAX, 0xab00), S::R(EDX, 0x1111_2222)],
          "66 0f b6 d4", "movzbw %ah,%dx", &[R(EDX, 0x1111_00ab)]),
        c("movzx bh", m32, &[S::R(EBX, 0x9900), S::R(EAX, 0xffff_ffff)],
          "0f b6 c7", "movzbl %bh,%eax", &[R(EAX, 0x99)]),
        c("movsx negative byte", m32, &[S::R(EAX, 0x80)],
          "0f be d8", "movsbl %al,%ebx", &[R(EBX, 0xffff_ff80)]),
        c("movsx positive byte", m32, &[S::R(EAX, 0x7f), S::R(EBX, 0xffff_ffff)],
          "0f be d8", "movsbl %al,%ebx", &[R(EBX, 0x7f)]),
        c("movsx m16", m32, &[S::R(ESI, UD), S::M(UD, 4, 0x1111_8001)],
          "0f bf 06", "movswl (%esi),%eax", &[R(EAX, 0xffff_8001)]),
        c("movsx to r16 merges", m32, &[S::R(ECX, 0xfe), S::R(EAX, 0x1234_5678)],
          "66 0f be c1", "movsbw %cl,%ax", &[R(EAX, 0x1234_fffe)]),
        c("lea base+index*4+disp8", m32, &[S::R(EBX, 0x1000), S::R(ECX, 0x20)],
          "8d 44 8b 10", "lea 0x10(%ebx,%ecx,4),%eax", &[R(EAX, 0x1090)]),
        c("lea wraps at 32 bits", m32, &[S::R(EBX, 0xffff_fff0), S::R(ECX, 0x4000_0001)],
          "8d 44 8b 10", "lea 0x10(%ebx,%ecx,4),%eax", &[R(EAX, 4)]),
        c("lea -1 from 0", m32, &[S::R(EBX, 0)],
          "8d 43 ff", "lea -1(%ebx),%eax", &[R(EAX, 0xffff_ffff)]),
        c("lea to r16 truncates", m32, &[S::R(EBX, 0x1234_fff8), S::R(EAX, 0xaaaa_aaaa)],
          "66 8d 43 10", "lea 0x10(%ebx),%ax", &[R(EAX, 0xaaaa_0008)]),
        c("lea with 16-bit address size wraps at 64K", m32, &[S::R(EBX, 0x1234_fff8), S::R(EAX, 0xaaaa_aaaa)],
          "67 8d 47 10", "addr16 lea 0x10(%bx),%eax", &[R(EAX, 0x8)]),
        c("xchg eax,ebx", m32, &[S::R(EAX, 1), S::R(EBX, 2)],
          "93", "xchg %eax,%ebx", &[R(EAX, 2), R(EBX, 1)]),
        c("xchg r32 with memory", m32, &[S::R(ESI, UD), S::M(UD, 4, 0xaabb_ccdd), S::R(ECX, 0x1122_3344)],
          "87 0e", "xchg %ecx,(%esi)", &[R(ECX, 0xaabb_ccdd), M(UD, 4, 0x1122_3344)]),
        c("xchg al,ah", m32, &[S::R(EAX, 0xffff_1234)],
          "86 c4", "xchg %al,%ah", &[R(EAX, 0xffff_3412)]),
        c("xchg with a read-only page faults, register unchanged", m32, &[S::R(ESI, USER_CODE + 0x100), S::R(ECX, 0x1122_3344)],
          "87 0e", "xchg %ecx,(%esi)", &[Fault(14, Some(7)), StopCr2(USER_CODE + 0x100)]),
    ]
}

#[test]
fn movzx_movsx_lea_xchg_32() {
    run_all(&ext32_cases());
}

#[rustfmt::skip]
fn ext64_cases() -> Vec<Case> {
    vec![
        c("movsxd r32 to r64", m64, &[S::R(EAX, 0x8000_0000)],
          "48 63 d8", "movslq %eax,%rbx", &[R(EBX, 0xffff_ffff_8000_0000)]),
        c("movsxd without REX.W is a 32-bit move", m64, &[S::R(EAX, 0xffff_ffff_8000_0000), S::R(EBX, u64::MAX)],
          "63 d8", ".byte 0x63,0xd8 (movsxd %eax,%ebx)", &[R(EBX, 0x8000_0000)]),
        c("movsx r8 to r64", m64, &[S::R(EAX, 0x1234_0000_0000_0080)],
          "48 0f be c0", "movsbq %al,%rax", &[R(EAX, 0xffff_ffff_ffff_ff80)]),
        c("movzx to r32 zero-extends to 64", m64, &[S::R(EAX, 0xffff_ffff_ffff_ff80)],
          "0f b6 c0", "movzbl %al,%eax", &[R(EAX, 0x80)]),
        c("lea to r32 truncates and zero-extends", m64, &[S::R(EBX, 0x1_ffff_fff8), S::R(EAX, u64::MAX)],
          "8d 43 10", "lea 0x10(%rbx),%eax", &[R(EAX, 8)]),
        c("lea with 32-bit address size", m64, &[S::R(EBX, 0xffff_ffff_0000_0004)],
          "67 48 8d 43 f8", "lea -8(%ebx),%rax", &[R(EAX, 0xffff_fffc)]),
        c("lea rip-relative", m64, &[],
          "48 8d 05 00 01 00 00", "lea 0x100(%rip),%rax", &[R(EAX, U64_CODE + 7 + 0x100)]),
        c("xchg eax,eax (87) zero-extends", m64, &[S::R(EAX, 0xffff_ffff_1234_5678)],
          "87 c0", "xchg %eax,%eax", &[R(EAX, 0x1234_5678)]),
        c("nop (90) does not zero-extend", m64, &[S::R(EAX, 0xffff_ffff_1234_5678)],
          "90", "nop", &[]),
        c("xchg r8d,eax (41 90) is not a nop", m64, &[S::R(EAX, 0xaaaa_aaaa_1111_1111), S::R(R8, 0xbbbb_bbbb_2222_2222)],
          "41 90", "xchg %r8d,%eax", &[R(EAX, 0x2222_2222), R(R8, 0x1111_1111)]),
    ]
}

#[test]
fn movzx_movsx_lea_xchg_64() {
    run_all(&ext64_cases());
}

// ---- PUSH, POP, PUSHF, POPF --------------------------------------------------------------

#[rustfmt::skip]
fn stack32_cases() -> Vec<Case> {
    const PRE: Set = S::M(UST - 4, 4, 0xdead_beef);
    vec![
        c("push r32", m32, &[S::R(EBX, 0xdead_beef)],
          "53", "push %ebx", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_beef)]),
        c("push imm8 is sign-extended", m32, &[],
          "6a ff", "push $-1", &[R(ESP, UST - 4), M(UST - 4, 4, 0xffff_ffff)]),
        c("push imm32", m32, &[],
          "68 78 56 34 12", "push $0x12345678", &[R(ESP, UST - 4), M(UST - 4, 4, 0x1234_5678)]),
        c("push imm16 with operand-size prefix", m32, &[],
          "66 68 34 12", "pushw $0x1234", &[R(ESP, UST - 2), M(UST - 2, 2, 0x1234)]),
        c("push m32", m32, &[S::M(UD, 4, 0xcafe_babe)],
          "ff 35 00 90 04 08", "pushl 0x8049000", &[R(ESP, UST - 4), M(UST - 4, 4, 0xcafe_babe)]),
        c("push m32 addressed by esp uses the old esp", m32, &[S::R(ESP, UST - 0x10), S::M(UST - 0xc, 4, 0x5566_7788)],
          "ff 74 24 04", "pushl 4(%esp)", &[R(ESP, UST - 0x14), M(UST - 0x14, 4, 0x5566_7788)]),
        c("push esp pushes the old value", m32, &[],
          "54", "push %esp", &[R(ESP, UST - 4), M(UST - 4, 4, UST)]),
        c("push ds writes 16 bits, moves esp by 4", m32, &[PRE],
          "1e", "push %ds", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_007b)]),
        c("push cs", m32, &[PRE],
          "0e", "push %cs", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_0073)]),
        c("push ss", m32, &[PRE],
          "16", "push %ss", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_007b)]),
        c("push fs (null)", m32, &[PRE],
          "0f a0", "push %fs", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_0000)]),
        c("push gs", m32, &[PRE],
          "0f a8", "push %gs", &[R(ESP, UST - 4), M(UST - 4, 4, 0xdead_0033)]),
        c("push ds with 16-bit operand size", m32, &[PRE],
          "66 1e", "pushw %ds", &[R(ESP, UST - 2), M(UST - 4, 4, 0x007b_beef)]),
        c("push to an unmapped stack faults, no partial change", m32, &[S::R(ESP, UST - 0x4000), S::R(EBX, 1)],
          "53", "push %ebx", &[Fault(14, Some(6)), StopCr2(UST - 0x4004)]),
        c("push ds to an unmapped stack faults", m32, &[S::R(ESP, UST - 0x4000)],
          "1e", "push %ds", &[Fault(14, Some(6)), StopCr2(UST - 0x4004)]),
        c("pop r32", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0x1234_5678)],
          "58", "pop %eax", &[R(ESP, UST), R(EAX, 0x1234_5678)]),
        c("pop r16 merges", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0x1234_5678), S::R(EAX, u64::MAX >> 32)],
          "66 58", "pop %ax", &[R(ESP, UST - 2), R(EAX, 0xffff_5678)]),
        c("pop esp loads the popped value", m32, &[S::R(ESP, UST - 8), S::M(UST - 8, 4, 0x1111_1111)],
          "5c", "pop %esp", &[R(ESP, 0x1111_1111)]),
        c("pop m32 addressed by esp uses the incremented esp", m32, &[S::R(ESP, UST - 0x10), S::M(UST - 0x10, 4, 0xabcd_ef01)],
          "8f 44 24 04", "popl 4(%esp)", &[R(ESP, UST - 0xc), M(UST - 8, 4, 0xabcd_ef01)]),
        c("pop from an unmapped stack faults", m32, &[],
          "58", "pop %eax", &[Fault(14, Some(4)), StopCr2(UST)]),
        c("pop ds", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, TLS_SEL as u64)],
          "1f", "pop %ds", &[R(ESP, UST), Seg(SegReg::Ds, TLS_SEL)]),
        c("pop ds uses the low 16 bits of the slot", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0xffff_0033)],
          "1f", "pop %ds", &[R(ESP, UST), Seg(SegReg::Ds, TLS_SEL)]),
        c("pop ds with a DPL 0 selector at CPL 3", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, KERNEL_DS as u64)],
          "1f", "pop %ds", &[Fault(13, Some(0x68))]),
        c("pop es with a null selector", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0)],
          "07", "pop %es", &[R(ESP, UST), Null(SegReg::Es, 0)]),
        c("pop ss sets the interrupt shadow", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, USER_DS as u64)],
          "17", "pop %ss", &[R(ESP, UST), Seg(SegReg::Ss, USER_DS), Shadow(true)]),
        c("pop ss with a null selector", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0)],
          "17", "pop %ss", &[Fault(13, Some(0))]),
        c("pushf clears VM and RF in the image", m32, &[S::F(VM | RF | AC | ID | OF | DF | IF | SF | ZF | PF | CF | 2)],
          "9c", "pushf", &[R(ESP, UST - 4), M(UST - 4, 4, AC | ID | OF | DF | IF | SF | ZF | PF | CF | 2), Undef(RF)]),
        c("popf at CPL 3 cannot change IF or IOPL", m32, &[S::F(0x202), S::R(ESP, UST - 4), S::M(UST - 4, 4, 0x3cd5)],
          "9d", "popf", &[R(ESP, UST), F(u64::MAX, 0xed7)]),
        c("popf at CPL 3 with IOPL 3 can change IF, not IOPL", m32, &[S::F(0x3202), S::R(ESP, UST - 4), S::M(UST - 4, 4, 0)],
          "9d", "popf", &[R(ESP, UST), F(u64::MAX, 0x3002)]),
        c("popf at CPL 3 cannot set VM", m32, &[S::F(0x202), S::R(ESP, UST - 4), S::M(UST - 4, 4, VM | CF)],
          "9d", "popf", &[R(ESP, UST), F(u64::MAX, 0x203)]),
        c("popf at CPL 0 with IOPL 0 changes IF and IOPL", k32, &[S::F(0x202), S::R(ESP, KST - 4), S::M(KST - 4, 4, 0x3cd5)],
          "9d", "popf", &[R(ESP, KST), F(u64::MAX, 0x3cd7)]),
        c("popf at CPL 0 sets every modifiable flag, clears RF", k32, &[S::F(0x202 | RF), S::R(ESP, KST - 4), S::M(KST - 4, 4, 0xffff_ffff)],
          "9d", "popf", &[R(ESP, KST), F(u64::MAX, CF | 2 | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | AC | ID,),
            ],
        ),
        c("popf with 16-bit operand size keeps the upper flags", k32, &[S::F(AC | ID | IF | 2), S::R(ESP, KST - 2), S::M(KST - 2, 2, 0x0001)],
          "66 9d", "popfw", &[R(ESP, KST), F(u64::MAX, AC | ID | CF | 2)]),
    ]
}

#[test]
fn push_pop_32() {
    run_all(&stack32_cases());
}

#[rustfmt::skip]
fn stack64_cases() -> Vec<Case> {
    const T: u64 = U64_STACK_TOP;
    vec![
        c("push r64", m64, &[S::R(EBX, 0x1122_3344_5566_7788)],
          "53", "push %rbx", &[R(ESP, T - 8), M(T - 8, 8, 0x1122_3344_5566_7788)]),
        c("push imm8 sign-extends to 64", m64, &[],
          "6a ff", "push $-1", &[R(ESP, T - 8), M(T - 8, 8, u64::MAX)]),
        c("push r12", m64, &[S::R(R12, 0xabcd)],
          "41 54", "push %r12", &[R(ESP, T - 8), M(T - 8, 8, 0xabcd)]),
        c("push imm32 sign-extends to 64", m64, &[],
          "68 00 00 00 80", "pushq $-0x80000000", &[R(ESP, T - 8), M(T - 8, 8, 0xffff_ffff_8000_0000)]),
        c("push imm16", m64, &[],
          "66 68 34 12", "pushw $0x1234", &[R(ESP, T - 2), M(T - 2, 2, 0x1234)]),
        c("push m64", m64, &[S::R(EAX, T - 0x1000), S::M(T - 0x1000, 8, 0x0102_0304_0506_0708)],
          "ff 30", "pushq (%rax)", &[R(ESP, T - 8), M(T - 8, 8, 0x0102_0304_0506_0708)]),
        c("push fs with 64-bit operand size pushes the zero-extended selector", m64, &[S::M(T - 8, 8, 0xdead_beef_dead_beef), S::With(|m| m.cpu.seg[SegReg::Fs as usize].selector = 0x2b)],
          "0f a0", "push %fs", &[R(ESP, T - 8), M(T - 8, 8, 0x2b)]),
        c("pop r64", m64, &[S::R(ESP, T - 8), S::M(T - 8, 8, 0x8877_6655_4433_2211)],
          "58", "pop %rax", &[R(ESP, T), R(EAX, 0x8877_6655_4433_2211)]),
        c("pop r15", m64, &[S::R(ESP, T - 8), S::M(T - 8, 8, 7)],
          "41 5f", "pop %r15", &[R(ESP, T), R(R15, 7)]),
        c("pushfq", m64, &[S::F(RF | AC | IF | CF | 2)],
          "9c", "pushf", &[R(ESP, T - 8), M(T - 8, 8, AC | IF | CF | 2), Undef(RF)]),
        c("popfq at CPL 3", m64, &[S::F(0x202), S::R(ESP, T - 8), S::M(T - 8, 8, 0x3cd5)],
          "9d", "popf", &[R(ESP, T), F(u64::MAX, 0xed7)]),
        c("push with a non-canonical stack pointer", m64, &[S::R(ESP, 0x0000_8000_0000_0008)],
          "53", "push %rbx", &[Fault(12, Some(0))]),
        c("push ss is invalid in 64-bit mode", m64, &[],
          "16", ".byte 0x16 (push %ss)", &[Fault(6, None)]),
        c("pop ss is invalid in 64-bit mode", m64, &[],
          "17", ".byte 0x17 (pop %ss)", &[Fault(6, None)]),
        c("push cs is invalid in 64-bit mode", m64, &[],
          "0e", ".byte 0x0e (push %cs)", &[Fault(6, None)]),
    ]
}

#[test]
fn push_pop_64() {
    run_all(&stack64_cases());
}

// ---- ADD ADC SUB SBB AND OR XOR CMP TEST INC DEC NEG NOT ------------------------------------

#[rustfmt::skip]
fn alu32_cases() -> Vec<Case> {
    vec![
        c("add carry out", m32, &[S::R(EAX, 0xffff_ffff), S::R(EBX, 1)],
          "01 d8", "add %ebx,%eax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("add signed overflow", m32, &[S::R(EAX, 0x7fff_ffff), S::R(EBX, 1)],
          "01 d8", "add %ebx,%eax", &[R(EAX, 0x8000_0000), F(ST, OF | SF | AF | PF)]),
        c("add no flags", m32, &[S::R(EAX, 0x12), S::R(EBX, 0x34)],
          "01 d8", "add %ebx,%eax", &[R(EAX, 0x46), F(ST, 0)]),
        c("add imm8 to al", m32, &[S::R(EAX, 0x1234_567f)],
          "04 01", "add $0x1,%al", &[R(EAX, 0x1234_5680), F(ST, OF | SF | AF)]),
        c("add sign-extended imm8 to m32", m32, &[S::M(UD, 4, 1)],
          "83 05 00 90 04 08 ff", "addl $-1,0x8049000", &[M(UD, 4, 0), F(ST, CF | ZF | PF | AF)]),
        c("add ah to bl", m32, &[S::R(EAX, 0xff00), S::R(EBX, 0x1234_5601)],
          "00 e3", "add %ah,%bl", &[R(EBX, 0x1234_5600), F(ST, CF | ZF | PF | AF)]),
        c("add ah to bh", m32, &[S::R(EAX, 0x1200), S::R(EBX, 0x3400)],
          "00 e7", "add %ah,%bh", &[R(EBX, 0x4600), F(ST, 0)]),
        c("add ah to bh carries", m32, &[S::R(EAX, 0xff00), S::R(EBX, 0xabcd_0100)],
          "00 e7", "add %ah,%bh", &[R(EBX, 0xabcd_0000), F(ST, CF | ZF | PF | AF)]),
        c("adc with CF=1 carries out", m32, &[S::F(0x247), S::R(EAX, 0xffff_ffff), S::R(EBX, 0)],
          "11 d8", "adc %ebx,%eax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("adc with CF=1 overflows", m32, &[S::F(0x247), S::R(EAX, 0x7fff_ffff), S::R(EBX, 0)],
          "11 d8", "adc %ebx,%eax", &[R(EAX, 0x8000_0000), F(ST, OF | SF | AF | PF)]),
        c("adc with CF=0", m32, &[S::R(EAX, 1), S::R(EBX, 1)],
          "11 d8", "adc %ebx,%eax", &[R(EAX, 2), F(ST, 0)]),
        c("sub borrow", m32, &[S::R(EAX, 0), S::R(EBX, 1)],
          "29 d8", "sub %ebx,%eax", &[R(EAX, 0xffff_ffff), F(ST, CF | SF | PF | AF)]),
        c("sub signed overflow", m32, &[S::R(EAX, 0x8000_0000), S::R(EBX, 1)],
          "29 d8", "sub %ebx,%eax", &[R(EAX, 0x7fff_ffff), F(ST, OF | AF | PF)]),
        c("sub equal", m32, &[S::F(0x2c3), S::R(EAX, 5), S::R(EBX, 5)],
          "29 d8", "sub %ebx,%eax", &[R(EAX, 0), F(ST, ZF | PF)]),
        c("sbb imm with CF=1", m32, &[S::F(0x247), S::R(EAX, 0)],
          "83 d8 00", "sbb $0,%eax", &[R(EAX, 0xffff_ffff), F(ST, CF | SF | PF | AF)]),
        c("sbb 0 - 0xffffffff - 1 borrows", m32, &[S::F(0x247), S::R(EAX, 0), S::R(EBX, 0xffff_ffff)],
          "19 d8", "sbb %ebx,%eax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("sbb with CF=0", m32, &[S::R(EAX, 10), S::R(EBX, 3)],
          "19 d8", "sbb %ebx,%eax", &[R(EAX, 7), F(ST, 0)]),
        c("and clears CF and OF", m32, &[S::F(0x247 | OF), S::R(EAX, 0xf0f0_f0f0), S::R(EBX, 0x0ff0_0ff0)],
          "21 d8", "and %ebx,%eax", &[R(EAX, 0x00f0_00f0), F(ST, PF)]),
        c("or imm8 to al", m32, &[S::R(EAX, 0x1234_5601)],
          "0c 80", "or $0x80,%al", &[R(EAX, 0x1234_5681), F(ST, SF | PF)]),
        c("xor eax,eax", m32, &[S::F(0x8d7 | 0x200), S::R(EAX, 0xdead_beef)],
          "31 c0", "xor %eax,%eax", &[R(EAX, 0), F(ST, ZF | PF)]),
        c("test imm8 with al", m32, &[S::R(EAX, 0x80)],
          "a8 80", "test $0x80,%al", &[F(ST, SF)]),
        c("test r32 zero result", m32, &[S::F(0x2c3 | OF), S::R(EAX, 0xf0), S::R(EBX, 0x0f)],
          "85 d8", "test %ebx,%eax", &[F(ST, ZF | PF)]),
        c("cmp below", m32, &[S::R(EAX, 3)],
          "83 f8 05", "cmp $5,%eax", &[F(ST, CF | SF | AF)]),
        c("cmp signed overflow", m32, &[S::R(EAX, 0x8000_0000)],
          "83 f8 05", "cmp $5,%eax", &[F(ST, OF | AF)]),
        c("cmp m8 with imm8", m32, &[S::M(UD, 1, 0x7f)],
          "80 3d 00 90 04 08 80", "cmpb $0x80,0x8049000", &[F(ST, CF | OF | SF | PF)]),
        c("inc preserves CF=1", m32, &[S::F(0x247), S::R(EAX, 0xffff_ffff)],
          "40", "inc %eax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("inc signed overflow, CF stays 0", m32, &[S::R(EAX, 0x7fff_ffff)],
          "40", "inc %eax", &[R(EAX, 0x8000_0000), F(ST, OF | SF | AF | PF)]),
        c("dec signed overflow", m32, &[S::R(EAX, 0x8000_0000)],
          "48", "dec %eax", &[R(EAX, 0x7fff_ffff), F(ST, OF | AF | PF)]),
        c("dec to zero preserves CF=1", m32, &[S::F(0x247), S::R(EAX, 1)],
          "48", "dec %eax", &[R(EAX, 0), F(ST, CF | ZF | PF)]),
        c("inc m8", m32, &[S::M(UD, 2, 0x11ff)],
          "fe 05 00 90 04 08", "incb 0x8049000", &[M(UD, 2, 0x1100), F(ST, ZF | PF | AF)]),
        c("inc ah", m32, &[S::R(EAX, 0x1234_7f56)],
          "fe c4", "inc %ah", &[R(EAX, 0x1234_8056), F(ST, OF | SF | AF)]),
        c("neg 0 clears CF", m32, &[S::F(0x247), S::R(EAX, 0)],
          "f7 d8", "neg %eax", &[R(EAX, 0), F(ST, ZF | PF)]),
        c("neg 5", m32, &[S::R(EAX, 5)],
          "f7 d8", "neg %eax", &[R(EAX, 0xffff_fffb), F(ST, CF | SF | AF)]),
        c("neg most negative", m32, &[S::R(EAX, 0x8000_0000)],
          "f7 d8", "neg %eax", &[R(EAX, 0x8000_0000), F(ST, CF | OF | SF | PF)]),
        c("not leaves flags", m32, &[S::F(0x8d7 | 0x200), S::R(EAX, 0xf0f0_f0f0)],
          "f7 d0", "not %eax", &[R(EAX, 0x0f0f_0f0f)]),
        c("not m32", m32, &[S::M(UD, 4, 0x1234_5678)],
          "f7 15 00 90 04 08", "notl 0x8049000", &[M(UD, 4, 0xedcb_a987)]),
        c("add to a read-only page faults", m32, &[S::R(EAX, 1)],
          "01 05 00 80 04 08", "add %eax,0x8048000", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
    ]
}

#[test]
fn alu_32() {
    run_all(&alu32_cases());
}

// ---- SHL SHR SAR -----------------------------------------------------------------------------

#[rustfmt::skip]
fn shift_cases() -> Vec<Case> {
    vec![
        c("shl by 1: CF out, OF = MSB xor CF", m32, &[S::R(EAX, 0x8000_0001)],
          "d1 e0", "shl %eax", &[R(EAX, 2), F(ST, CF | OF)]),
        c("shl by 4 (OF as documented: MSB xor CF)", m32, &[S::R(EAX, 0x1234_5678)],
          "c1 e0 04", "shl $4,%eax", &[R(EAX, 0x2345_6780), F(ST, CF | OF)]),
        c("shl by cl=0 leaves flags and register", m32, &[S::F(0xad7), S::R(EAX, 0x1234_5678), S::R(ECX, 0)],
          "d3 e0", "shl %cl,%eax", &[]),
        c("shl by cl=32 is masked to 0", m32, &[S::F(0xad7), S::R(EAX, 0x1234_5678), S::R(ECX, 0x20)],
          "d3 e0", "shl %cl,%eax", &[]),
        c("shl by cl=33 is masked to 1", m32, &[S::R(EAX, 0x4000_0000), S::R(ECX, 0x21)],
          "d3 e0", "shl %cl,%eax", &[R(EAX, 0x8000_0000), F(ST, OF | SF | PF)]),
        c("shl al by 3", m32, &[S::R(EAX, 0x1234_5621), S::R(ECX, 3)],
          "d2 e0", "shl %cl,%al", &[R(EAX, 0x1234_5608), F(ST, CF | OF)]),
        c("shl al by 8 (count >= size: CF, OF undefined)", m32, &[S::R(EAX, 0x1234_5681), S::R(ECX, 8)],
          "d2 e0", "shl %cl,%al", &[R(EAX, 0x1234_5600), F(SF | ZF | PF | AF, ZF | PF), Undef(CF | OF)]),
        c("shr by 1: OF = original MSB", m32, &[S::R(EAX, 0x8000_0001)],
          "d1 e8", "shr %eax", &[R(EAX, 0x4000_0000), F(ST, CF | OF | PF)]),
        c("shr by 4", m32, &[S::R(EAX, 0x1234_567f)],
          "c1 e8 04", "shr $4,%eax", &[R(EAX, 0x0123_4567), F(ST, CF)]),
        c("shr m8 by 1", m32, &[S::M(UD, 1, 0x81)],
          "d0 2d 00 90 04 08", "shrb 0x8049000", &[M(UD, 1, 0x40), F(ST, CF | OF)]),
        c("sar by 1: OF = 0", m32, &[S::R(EAX, 0x8000_0001)],
          "d1 f8", "sar %eax", &[R(EAX, 0xc000_0000), F(ST, CF | SF | PF)]),
        c("sar by 31", m32, &[S::R(EAX, 0x8000_0000)],
          "c1 f8 1f", "sar $31,%eax", &[R(EAX, 0xffff_ffff), F(ST, SF | PF)]),
        c("sar by cl=63 is masked to 31", m32, &[S::R(EAX, 0x4000_0000), S::R(ECX, 0x3f)],
          "d3 f8", "sar %cl,%eax", &[R(EAX, 0), F(ST, CF | ZF | PF)]),
        c("64-bit shl by cl=0x41 is masked to 1", m64, &[S::R(EAX, 0x8000_0000_0000_0001), S::R(ECX, 0x41)],
          "48 d3 e0", "shl %cl,%rax", &[R(EAX, 2), F(ST, CF | OF)]),
        c("64-bit shl by cl=0x40 is masked to 0", m64, &[S::F(0xad7), S::R(EAX, 0x8000_0000_0000_0001), S::R(ECX, 0x40)],
          "48 d3 e0", "shl %cl,%rax", &[]),
        c("64-bit shl by 33", m64, &[S::R(EAX, 0x1_8000_0001)],
          "48 c1 e0 21", "shl $33,%rax", &[R(EAX, 0x2_0000_0000), F(ST, CF | PF | OF)]),
        c("32-bit shl by cl=0x20 in 64-bit mode: count 0, flags kept, upper half cleared", m64, &[S::F(0xad7), S::R(EAX, 0xffff_ffff_1234_5678), S::R(ECX, 0x20)],
          "d3 e0", "shl %cl,%eax", &[R(EAX, 0x1234_5678)]),
        c("64-bit sar by 63", m64, &[S::R(EAX, 0x8000_0000_0000_0000), S::R(ECX, 63)],
          "48 d3 f8", "sar %cl,%rax", &[R(EAX, u64::MAX), F(ST, SF | PF)]),
    ]
}

#[test]
fn shifts() {
    run_all(&shift_cases());
}

// ---- the table's bytes are what GNU as produces ----------------------------------------------

#[test]
fn tables_match_gnu_as() {
    let mut c32 = Vec::new();
    let mut c64 = Vec::new();
    for cases in all_cases() {
        for case in cases {
            let long = (case.build)().cpu.long_mode_active();
            if long {
                c64.push(case);
            } else {
                c32.push(case);
            }
        }
    }
    check_assembly(&c32, 32);
    check_assembly(&c64, 64);
}

fn all_cases() -> Vec<Vec<Case>> {
    vec![
        mov32_cases(),
        mov64_cases(),
        ext32_cases(),
        ext64_cases(),
        stack32_cases(),
        stack64_cases(),
        alu32_cases(),
        shift_cases(),
        muldiv_cases(),
        alu64_cases(),
        jcc_cases(),
        branch_cases(),
        branch64_cases(),
        nop_flag_cases(),
        page_fault_cases(),
        misc_cases(),
        rotate_cases(),
        bit_cases(),
        cond_cases(),
        atomic_cases(),
        byte_misc_cases(),
        frame_cases(),
        string_cases(),
    ]
}

// ---- IMUL MUL DIV IDIV CDQ CWDE --------------------------------------------------------------

/// SF, ZF, AF and PF are undefined after MUL and IMUL.
const MUL_UNDEF: Exp = Undef(SF | ZF | AF | PF);
/// Every status flag is undefined after DIV and IDIV.
const DIV_UNDEF: Exp = Undef(ST);

#[rustfmt::skip]
fn muldiv_cases() -> Vec<Case> {
    vec![
        c("imul r32 one operand, fits", m32, &[S::R(EAX, 0xffff_fffe), S::R(EBX, 3), S::R(EDX, 0x1234)],
          "f7 eb", "imul %ebx", &[R(EAX, 0xffff_fffa), R(EDX, 0xffff_ffff), F(CF | OF, 0), MUL_UNDEF]),
        c("imul r32 one operand, overflows", m32, &[S::R(EAX, 0x4000_0000), S::R(EBX, 4)],
          "f7 eb", "imul %ebx", &[R(EAX, 0), R(EDX, 1), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul most negative by -1", m32, &[S::R(EAX, 0x8000_0000), S::R(EBX, 0xffff_ffff)],
          "f7 eb", "imul %ebx", &[R(EAX, 0x8000_0000), R(EDX, 0), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul r8: -128 * -1 does not fit AL", m32, &[S::R(EAX, 0x1234_5680), S::R(EBX, 0xff), S::R(EDX, 0x77)],
          "f6 eb", "imul %bl", &[R(EAX, 0x1234_0080), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul r8: -2 * 3 fits AL", m32, &[S::R(EAX, 0xfe), S::R(EBX, 3)],
          "f6 eb", "imul %bl", &[R(EAX, 0xfffa), F(CF | OF, 0), MUL_UNDEF]),
        c("imul two operands overflow", m32, &[S::R(EAX, 0x10000), S::R(EBX, 0x10000), S::R(EDX, 0x55)],
          "0f af c3", "imul %ebx,%eax", &[R(EAX, 0), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul two operands -1 * -1", m32, &[S::F(0xad7), S::R(EAX, 0xffff_ffff), S::R(EBX, 0xffff_ffff)],
          "0f af c3", "imul %ebx,%eax", &[R(EAX, 1), F(CF | OF, 0), MUL_UNDEF]),
        c("imul three operands imm8", m32, &[S::R(EBX, 5), S::R(EAX, 0x1234)],
          "6b c3 fd", "imul $-3,%ebx,%eax", &[R(EAX, 0xffff_fff1), F(CF | OF, 0), MUL_UNDEF]),
        c("imul three operands imm32 overflow", m32, &[S::R(EBX, 0x8000)],
          "69 c3 00 00 01 00", "imul $0x10000,%ebx,%eax", &[R(EAX, 0x8000_0000), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul r16 two operands merges", m32, &[S::R(EAX, 0xaaaa_0100), S::R(EBX, 0x0100)],
          "66 0f af c3", "imul %bx,%ax", &[R(EAX, 0xaaaa_0000), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("mul r32 max * max", m32, &[S::R(EAX, 0xffff_ffff), S::R(EBX, 0xffff_ffff)],
          "f7 e3", "mul %ebx", &[R(EAX, 1), R(EDX, 0xffff_fffe), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("mul r32 small clears edx", m32, &[S::F(0x247 | OF), S::R(EAX, 2), S::R(EBX, 3), S::R(EDX, 0x55)],
          "f7 e3", "mul %ebx", &[R(EAX, 6), R(EDX, 0), F(CF | OF, 0), MUL_UNDEF]),
        c("mul r8 writes AX only", m32, &[S::R(EAX, 0x1234_5610), S::R(EBX, 0x10), S::R(EDX, 0x99)],
          "f6 e3", "mul %bl", &[R(EAX, 0x1234_0100), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("mul r16 writes DX:AX", m32, &[S::R(EAX, 0x1111_ffff), S::R(EBX, 0xffff), S::R(EDX, 0x2222_0000)],
          "66 f7 e3", "mul %bx", &[R(EAX, 0x1111_0001), R(EDX, 0x2222_fffe), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("div r32", m32, &[S::R(EDX, 1), S::R(EAX, 5), S::R(EBX, 0x10)],
          "f7 f3", "div %ebx", &[R(EAX, 0x1000_0000), R(EDX, 5), DIV_UNDEF]),
        c("div r32 largest quotient", m32, &[S::R(EDX, 0xf), S::R(EAX, 0xffff_ffff), S::R(EBX, 0x10)],
          "f7 f3", "div %ebx", &[R(EAX, 0xffff_ffff), R(EDX, 0xf), DIV_UNDEF]),
        c("div by zero", m32, &[S::R(EDX, 0), S::R(EAX, 5), S::R(EBX, 0)],
          "f7 f3", "div %ebx", &[Fault(0, None)]),
        c("div quotient overflow", m32, &[S::R(EDX, 0x10), S::R(EAX, 0), S::R(EBX, 0x10)],
          "f7 f3", "div %ebx", &[Fault(0, None)]),
        c("div r8", m32, &[S::R(EAX, 0x1234_0105), S::R(EBX, 0x10), S::R(EDX, 0x77)],
          "f6 f3", "div %bl", &[R(EAX, 0x1234_0510), DIV_UNDEF]),
        c("div r8 quotient overflow", m32, &[S::R(EAX, 0x1000), S::R(EBX, 0x10)],
          "f6 f3", "div %bl", &[Fault(0, None)]),
        c("div m32", m32, &[S::M(UD, 4, 7), S::R(EDX, 0), S::R(EAX, 100)],
          "f7 35 00 90 04 08", "divl 0x8049000", &[R(EAX, 14), R(EDX, 2), DIV_UNDEF]),
        c("div m32 by zero", m32, &[S::M(UD, 4, 0), S::R(EAX, 100)],
          "f7 35 00 90 04 08", "divl 0x8049000", &[Fault(0, None)]),
        c("idiv -7 / 2", m32, &[S::R(EDX, 0xffff_ffff), S::R(EAX, 0xffff_fff9), S::R(EBX, 2)],
          "f7 fb", "idiv %ebx", &[R(EAX, 0xffff_fffd), R(EDX, 0xffff_ffff), DIV_UNDEF]),
        c("idiv -7 / -2", m32, &[S::R(EDX, 0xffff_ffff), S::R(EAX, 0xffff_fff9), S::R(EBX, 0xffff_fffe)],
          "f7 fb", "idiv %ebx", &[R(EAX, 3), R(EDX, 0xffff_ffff), DIV_UNDEF]),
        c("idiv 7 / -2", m32, &[S::R(EDX, 0), S::R(EAX, 7), S::R(EBX, 0xffff_fffe)],
          "f7 fb", "idiv %ebx", &[R(EAX, 0xffff_fffd), R(EDX, 1), DIV_UNDEF]),
        c("idiv quotient -2^31 fits", m32, &[S::R(EDX, 0xffff_ffff), S::R(EAX, 0), S::R(EBX, 2)],
          "f7 fb", "idiv %ebx", &[R(EAX, 0x8000_0000), R(EDX, 0), DIV_UNDEF]),
        c("idiv -2^31 / -1 overflows", m32, &[S::R(EDX, 0xffff_ffff), S::R(EAX, 0x8000_0000), S::R(EBX, 0xffff_ffff)],
          "f7 fb", "idiv %ebx", &[Fault(0, None)]),
        c("idiv 2^31 / 1 overflows", m32, &[S::R(EDX, 0), S::R(EAX, 0x8000_0000), S::R(EBX, 1)],
          "f7 fb", "idiv %ebx", &[Fault(0, None)]),
        c("idiv by zero", m32, &[S::R(EBX, 0)],
          "f7 fb", "idiv %ebx", &[Fault(0, None)]),
        c("idiv r8 -128 / -1 overflows", m32, &[S::R(EAX, 0xff80), S::R(EBX, 0xff)],
          "f6 fb", "idiv %bl", &[Fault(0, None)]),
        c("idiv r8 -128 / 2", m32, &[S::R(EAX, 0xff80), S::R(EBX, 2)],
          "f6 fb", "idiv %bl", &[R(EAX, 0x00c0), DIV_UNDEF]),
        c("#DE delivered through a trap gate with a stack switch", m32,
          &[S::DeGate32, S::R(EBX, 0)],
          "f7 f3", "div %ebx",
          &[Delivered(0, None), Rip(PF_HANDLER + 0x100), Seg(SegReg::Cs, KERNEL_CS), Seg(SegReg::Ss, KERNEL_DS),
            R(ESP, KST - 20), M(KST - 4, 4, USER_DS as u64), M(KST - 8, 4, UST), M(KST - 12, 4, 0x246),
            M(KST - 16, 4, USER_CS as u64), M(KST - 20, 4, USER_CODE)]),
        c("cdq negative", m32, &[S::R(EAX, 0x8000_0000), S::R(EDX, 0x1234)],
          "99", "cltd", &[R(EDX, 0xffff_ffff)]),
        c("cdq positive", m32, &[S::R(EAX, 0x7fff_ffff), S::R(EDX, 0xffff_ffff)],
          "99", "cltd", &[R(EDX, 0)]),
        c("cwde", m32, &[S::R(EAX, 0x1234_8000)],
          "98", "cwtl", &[R(EAX, 0xffff_8000)]),
        c("cbw merges", m32, &[S::R(EAX, 0x1234_5680)],
          "66 98", "cbtw", &[R(EAX, 0x1234_ff80)]),
        c("cwd merges", m32, &[S::R(EAX, 0x8000), S::R(EDX, 0x1234_5678)],
          "66 99", "cwtd", &[R(EDX, 0x1234_ffff)]),
        c("imul r64 two operands", m64, &[S::R(EAX, 0x1_0000_0000), S::R(EBX, 0x1_0000_0000)],
          "48 0f af c3", "imul %rbx,%rax", &[R(EAX, 0), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul r32 three operands zero-extends", m64, &[S::R(EBX, 0xffff_ffff_4000_0000), S::R(EAX, u64::MAX)],
          "6b c3 02", "imul $2,%ebx,%eax", &[R(EAX, 0x8000_0000), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("mul r64", m64, &[S::R(EAX, u64::MAX), S::R(EBX, 2)],
          "48 f7 e3", "mul %rbx", &[R(EAX, u64::MAX - 1), R(EDX, 1), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("div r64", m64, &[S::R(EDX, 1), S::R(EAX, 0), S::R(EBX, 0x10)],
          "48 f7 f3", "div %rbx", &[R(EAX, 0x1000_0000_0000_0000), R(EDX, 0), DIV_UNDEF]),
        c("idiv r64 overflow", m64, &[S::R(EDX, u64::MAX), S::R(EAX, 1 << 63), S::R(EBX, u64::MAX)],
          "48 f7 fb", "idiv %rbx", &[Fault(0, None)]),
        c("cdqe", m64, &[S::R(EAX, 0x1234_5678_8000_0000)],
          "48 98", "cltq", &[R(EAX, 0xffff_ffff_8000_0000)]),
        c("cqo", m64, &[S::R(EAX, 1 << 63), S::R(EDX, 5)],
          "48 99", "cqto", &[R(EDX, u64::MAX)]),
        c("imul r64 one operand: rdx:rax", m64, &[S::R(EAX, (-2i64) as u64), S::R(EBX, 3), S::R(EDX, 5)],
          "48 f7 eb", "imul %rbx", &[R(EAX, (-6i64) as u64), R(EDX, u64::MAX), F(CF | OF, 0), MUL_UNDEF]),
        c("imul r16 one operand: dx:ax, high words kept", m32, &[S::R(EAX, 0xaaaa_0100), S::R(EBX, 0x0100), S::R(EDX, 0xbbbb_0000)],
          "66 f7 eb", "imul %bx", &[R(EAX, 0xaaaa_0000), R(EDX, 0xbbbb_0001), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("imul m32 two operands", m32, &[S::M(UD, 4, 0xffff_fffd), S::R(EAX, 7)],
          "0f af 05 00 90 04 08", "imul 0x8049000,%eax", &[R(EAX, (-21i32) as u32 as u64), F(CF | OF, 0), MUL_UNDEF]),
        c("imul r16 three operands imm16 from memory", m32, &[S::M(UD, 2, 0x0100), S::R(EAX, 0x5555_0000)],
          "66 69 05 00 90 04 08 00 01", "imul $0x100,0x8049000,%ax", &[R(EAX, 0x5555_0000), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("mul r32 in 64-bit mode zero-extends rax and rdx", m64,
          &[S::R(EAX, 0xffff_ffff_0000_0002), S::R(EBX, 3), S::R(EDX, u64::MAX)],
          "f7 e3", "mul %ebx", &[R(EAX, 6), R(EDX, 0), F(CF | OF, 0), MUL_UNDEF]),
        c("mul m8 from a read-only page is fine", m32, &[S::M(USER_CODE + 0x10, 1, 0x10), S::R(EAX, 0x20)],
          "f6 25 10 80 04 08", "mulb 0x8048010", &[R(EAX, 0x200), F(CF | OF, CF | OF), MUL_UNDEF]),
        c("div r16: dx:ax", m32, &[S::R(EDX, 0xaaaa_0001), S::R(EAX, 0xbbbb_0005), S::R(EBX, 0x10)],
          "66 f7 f3", "div %bx", &[R(EAX, 0xbbbb_1000), R(EDX, 0xaaaa_0005), DIV_UNDEF]),
        c("div r16 quotient overflow", m32, &[S::R(EDX, 0x10), S::R(EAX, 0), S::R(EBX, 0x10)],
          "66 f7 f3", "div %bx", &[Fault(0, None)]),
        c("div r64 quotient overflow", m64, &[S::R(EDX, 1), S::R(EAX, 0), S::R(EBX, 1)],
          "48 f7 f3", "div %rbx", &[Fault(0, None)]),
        c("div r32 in 64-bit mode zero-extends", m64,
          &[S::R(EDX, 0xffff_ffff_0000_0000), S::R(EAX, 0xffff_ffff_0000_0007), S::R(EBX, 2)],
          "f7 f3", "div %ebx", &[R(EAX, 3), R(EDX, 1), DIV_UNDEF]),
        c("idiv r16: the remainder has the dividend's sign", m32, &[S::R(EDX, 0xffff), S::R(EAX, 0xfff9), S::R(EBX, 2)],
          "66 f7 fb", "idiv %bx", &[R(EAX, 0xfffd), R(EDX, 0xffff), DIV_UNDEF]),
        c("idiv r64 by -1", m64, &[S::R(EDX, 0), S::R(EAX, 5), S::R(EBX, u64::MAX)],
          "48 f7 fb", "idiv %rbx", &[R(EAX, (-5i64) as u64), R(EDX, 0), DIV_UNDEF]),
        c("idiv m8 by zero", m32, &[S::M(UD, 1, 0)],
          "f6 3d 00 90 04 08", "idivb 0x8049000", &[Fault(0, None)]),
        c("cbw in 64-bit mode", m64, &[S::R(EAX, 0xffff_ffff_ffff_0080)],
          "66 98", "cbtw", &[R(EAX, 0xffff_ffff_ffff_ff80)]),
        c("cqo positive", m64, &[S::R(EAX, 1), S::R(EDX, u64::MAX)],
          "48 99", "cqto", &[R(EDX, 0)]),
        c("cwde zero-extends into rax", m64, &[S::R(EAX, 0xffff_ffff_0000_8000)],
          "98", "cwtl", &[R(EAX, 0xffff_8000)]),
        c("cdq zero-extends into rdx", m64, &[S::R(EAX, 0x8000_0000), S::R(EDX, 0x1234_5678_0000_0000)],
          "99", "cltd", &[R(EDX, 0xffff_ffff)]),
    ]
}

#[test]
fn multiply_divide_convert() {
    run_all(&muldiv_cases());
}

// ---- 64-bit ALU: 32-bit results zero-extend ---------------------------------------------------

#[rustfmt::skip]
fn alu64_cases() -> Vec<Case> {
    vec![
        c("add r32 zero-extends", m64, &[S::R(EAX, 0xffff_ffff_ffff_ffff)],
          "83 c0 01", "add $1,%eax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("xor r32 zero-extends", m64, &[S::R(EAX, 0xdead_beef_dead_beef)],
          "31 c0", "xor %eax,%eax", &[R(EAX, 0), F(ST, ZF | PF)]),
        c("inc r32 zero-extends", m64, &[S::R(EAX, 0xffff_ffff_0000_0001)],
          "ff c0", "inc %eax", &[R(EAX, 2), F(ST & !CF, 0)]),
        c("not r32 zero-extends", m64, &[S::R(EAX, 0xffff_ffff_0000_ffff)],
          "f7 d0", "not %eax", &[R(EAX, 0xffff_0000)]),
        c("add r64 carry", m64, &[S::R(EAX, u64::MAX), S::R(EBX, 1)],
          "48 01 d8", "add %rbx,%rax", &[R(EAX, 0), F(ST, CF | ZF | PF | AF)]),
        c("add r64 overflow", m64, &[S::R(EAX, i64::MAX as u64), S::R(EBX, 1)],
          "48 01 d8", "add %rbx,%rax", &[R(EAX, 1 << 63), F(ST, OF | SF | PF | AF)]),
    ]
}

#[test]
fn alu_64() {
    run_all(&alu64_cases());
}

// ---- JMP, Jcc, CALL, RET ---------------------------------------------------------------------

/// Jcc rel8 (`jcc .+0x10`, opcode 0x70 + cc): (cc, mnemonic, flags, taken), from the SDM's
/// Jcc table ("Jump if ...").
const JCC: &[(u8, &str, u64, bool)] = &[
    (0x0, "jo", OF, true),
    (0x0, "jo", 0, false),
    (0x1, "jno", 0, true),
    (0x1, "jno", OF, false),
    (0x2, "jb", CF, true),
    (0x2, "jb", ZF | SF | OF | PF, false),
    (0x3, "jae", ZF, true),
    (0x3, "jae", CF, false),
    (0x4, "je", ZF, true),
    (0x4, "je", CF | SF | OF | PF, false),
    (0x5, "jne", CF, true),
    (0x5, "jne", ZF, false),
    (0x6, "jbe", CF, true),
    (0x6, "jbe", ZF, true),
    (0x6, "jbe", SF | OF | PF, false),
    (0x7, "ja", SF | OF | PF, true),
    (0x7, "ja", CF, false),
    (0x7, "ja", ZF, false),
    (0x8, "js", SF, true),
    (0x8, "js", CF | ZF | OF | PF, false),
    (0x9, "jns", OF, true),
    (0x9, "jns", SF, false),
    (0xa, "jp", PF, true),
    (0xa, "jp", CF | ZF | SF | OF, false),
    (0xb, "jnp", ZF, true),
    (0xb, "jnp", PF, false),
    (0xc, "jl", SF, true),
    (0xc, "jl", OF, true),
    (0xc, "jl", SF | OF, false),
    (0xc, "jl", ZF, false),
    (0xd, "jge", SF | OF, true),
    (0xd, "jge", 0, true),
    (0xd, "jge", SF, false),
    (0xd, "jge", OF, false),
    (0xe, "jle", ZF, true),
    (0xe, "jle", SF, true),
    (0xe, "jle", ZF | SF | OF, true),
    (0xe, "jle", SF | OF, false),
    (0xe, "jle", CF | PF, false),
    (0xf, "jg", 0, true),
    (0xf, "jg", SF | OF, true),
    (0xf, "jg", ZF, false),
    (0xf, "jg", OF, false),
];

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn jcc_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for &(cc, name, flags, taken) in JCC {
        let hex: &'static str = Box::leak(format!("{:02x} 0e", 0x70 + cc).into_boxed_str());
        let asm: &'static str = Box::leak(format!("{name} .+0x10").into_boxed_str());
        let title: &'static str = Box::leak(
            format!(
                "{name} with {:?}: {}",
                ringstep::machine::flags::set_names(flags),
                if taken { "taken" } else { "not taken" }
            )
            .into_boxed_str(),
        );
        let exp = if taken {
            leak(vec![Rip(USER_CODE + 0x10)])
        } else {
            leak(vec![])
        };
        out.push(c(
            title,
            m32,
            leak(vec![S::F(flags | IF | 2)]),
            hex,
            asm,
            exp,
        ));
        // The same condition in the near form 0f 80+cc rel32 (`jcc .+0x100`).
        let hex: &'static str =
            Box::leak(format!("0f {:02x} fa 00 00 00", 0x80 + cc).into_boxed_str());
        let asm: &'static str = Box::leak(format!("{name} .+0x100").into_boxed_str());
        let exp = if taken {
            leak(vec![Rip(USER_CODE + 0x100)])
        } else {
            leak(vec![])
        };
        out.push(c(
            title,
            m32,
            leak(vec![S::F(flags | IF | 2)]),
            hex,
            asm,
            exp,
        ));
    }
    out
}

#[test]
fn jcc_all_conditions() {
    let cases = jcc_cases();
    assert_eq!(cases.len(), 2 * JCC.len());
    for cc in 0..16u8 {
        assert!(JCC.iter().any(|j| j.0 == cc && j.3) && JCC.iter().any(|j| j.0 == cc && !j.3));
    }
    run_all(&cases);
}

fn cs_limit_256m(m: &mut Machine) {
    m.cpu.seg[SegReg::Cs as usize].limit = 0x0fff_ffff;
}

fn gs_null(m: &mut Machine) {
    m.cpu.seg[SegReg::Gs as usize] = Segment::null(0);
}

#[rustfmt::skip]
fn branch_cases() -> Vec<Case> {
    const UC: u64 = USER_CODE;
    vec![
        c("jmp rel8 forward", m32, &[],
          "eb 0e", "jmp .+0x10", &[Rip(UC + 0x10)]),
        c("jmp rel8 backward", m32, &[],
          "eb ee", "jmp .-0x10", &[Rip(UC - 0x10)]),
        c("jmp rel32", m32, &[],
          "e9 fb 0f 00 00", "jmp .+0x1000", &[Rip(UC + 0x1000)]),
        c("jmp r32", m32, &[S::R(EAX, UC + 0x123)],
          "ff e0", "jmp *%eax", &[Rip(UC + 0x123)]),
        c("jmp m32", m32, &[S::R(EBX, UD), S::M(UD + 0x10, 4, UC + 0x456)],
          "ff 63 10", "jmp *0x10(%ebx)", &[Rip(UC + 0x456)]),
        c("jmp r16 truncates EIP to 16 bits", m32, &[S::R(EAX, 0x1234_5678)],
          "66 ff e0", "jmpw *%ax", &[Rip(0x5678)]),
        c("jcc rel8 with operand-size prefix truncates EIP to 16 bits", m32, &[S::F(ZF | 2)],
          "66 74 0e", ".byte 0x66; je .+0x11", &[Rip(0x8011)]),
        c("jmp beyond the CS limit", m32, &[S::With(cs_limit_256m), S::R(EAX, 0x1000_0000)],
          "ff e0", "jmp *%eax", &[Fault(13, Some(0))]),
        c("jmp to the CS limit", m32, &[S::With(cs_limit_256m), S::R(EAX, 0x0fff_ffff)],
          "ff e0", "jmp *%eax", &[Rip(0x0fff_ffff)]),
        c("call rel32", m32, &[],
          "e8 1b 00 00 00", "call .+0x20", &[Rip(UC + 0x20), R(ESP, UST - 4), M(UST - 4, 4, UC + 5)]),
        c("call r32", m32, &[S::R(EAX, UC + 0x800)],
          "ff d0", "call *%eax", &[Rip(UC + 0x800), R(ESP, UST - 4), M(UST - 4, 4, UC + 2)]),
        c("call m32", m32, &[S::R(EBX, UD), S::M(UD + 0x10, 4, UC + 0x900)],
          "ff 53 10", "call *0x10(%ebx)", &[Rip(UC + 0x900), R(ESP, UST - 4), M(UST - 4, 4, UC + 3)]),
        c("call through gs with a nonzero base", m32, &[S::M(TLS_BASE + 0x10, 4, UC + 0xa00)],
          "65 ff 15 10 00 00 00", "call *%gs:0x10", &[Rip(UC + 0xa00), R(ESP, UST - 4), M(UST - 4, 4, UC + 7)]),
        c("call through a null gs", m32, &[S::With(gs_null)],
          "65 ff 15 10 00 00 00", "call *%gs:0x10", &[Fault(13, Some(0))]),
        c("call *sys_call_table(,%eax,4) at CPL 0", k32, &[S::R(EAX, 3), S::M(KD + 12, 4, KERNEL_CODE + 0x100)],
          "ff 14 85 00 00 20 c0", "call *0xc0200000(,%eax,4)",
          &[Rip(KERNEL_CODE + 0x100), R(ESP, KST - 4), M(KST - 4, 4, KERNEL_CODE + 7)]),
        c("call *sys_call_table(,%eax,4) at CPL 3: supervisor page", m32, &[S::R(EAX, 3)],
          "ff 14 85 00 00 20 c0", "call *0xc0200000(,%eax,4)", &[Fault(14, Some(5)), StopCr2(KD + 12)]),
        c("call with an unmapped stack", m32, &[S::R(ESP, UST - 0x4000)],
          "e8 1b 00 00 00", "call .+0x20", &[Fault(14, Some(6)), StopCr2(UST - 0x4004)]),
        c("call beyond the CS limit", m32, &[S::With(cs_limit_256m), S::R(EAX, 0x1000_0000)],
          "ff d0", "call *%eax", &[Fault(13, Some(0))]),
        c("ret", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, UC + 0x777)],
          "c3", "ret", &[Rip(UC + 0x777), R(ESP, UST)]),
        c("ret imm16 releases the arguments", m32, &[S::R(ESP, UST - 12), S::M(UST - 12, 4, UC + 0x777)],
          "c2 08 00", "ret $8", &[Rip(UC + 0x777), R(ESP, UST)]),
        c("ret imm16 of 0", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, UC + 0x777)],
          "c2 00 00", "ret $0", &[Rip(UC + 0x777), R(ESP, UST)]),
        c("ret with 16-bit operand size", m32, &[S::R(ESP, UST - 4), S::M(UST - 4, 4, 0x1234_5678)],
          "66 c3", "retw", &[Rip(0x5678), R(ESP, UST - 2)]),
        c("ret beyond the CS limit", m32, &[S::With(cs_limit_256m), S::R(ESP, UST - 4), S::M(UST - 4, 4, 0x1000_0000)],
          "c3", "ret", &[Fault(13, Some(0))]),
        c("ret from an unmapped stack", m32, &[],
          "c3", "ret", &[Fault(14, Some(4)), StopCr2(UST)]),
    ]
}

#[test]
fn jmp_call_ret_32() {
    run_all(&branch_cases());
}

#[rustfmt::skip]
fn branch64_cases() -> Vec<Case> {
    const T: u64 = U64_STACK_TOP;
    const UC: u64 = U64_CODE;
    const TABLE: u64 = 0xffff_ffff_8200_0800;
    vec![
        c("call rel32 pushes 8 bytes", m64, &[],
          "e8 1b 00 00 00", "call .+0x20", &[Rip(UC + 0x20), R(ESP, T - 8), M(T - 8, 8, UC + 5)]),
        c("call r64", m64, &[S::R(EAX, UC + 0x800)],
          "ff d0", "call *%rax", &[Rip(UC + 0x800), R(ESP, T - 8), M(T - 8, 8, UC + 2)]),
        c("call *sys_call_table(,%rax,8) (sign-extended disp32)", k64,
          &[S::R(EAX, 2), S::M(TABLE + 16, 8, K64_CODE + 0x300)],
          "ff 14 c5 00 08 00 82", "call *-0x7dfff800(,%rax,8)",
          &[Rip(K64_CODE + 0x300), R(ESP, K64_STACK_TOP - 8), M(K64_STACK_TOP - 8, 8, K64_CODE + 7)]),
        c("ret", m64, &[S::R(ESP, T - 8), S::M(T - 8, 8, UC + 0x40)],
          "c3", "ret", &[Rip(UC + 0x40), R(ESP, T)]),
        c("ret imm16", m64, &[S::R(ESP, T - 0x18), S::M(T - 0x18, 8, UC + 0x40)],
          "c2 10 00", "ret $0x10", &[Rip(UC + 0x40), R(ESP, T)]),
        c("ret to a non-canonical address", m64, &[S::R(ESP, T - 8), S::M(T - 8, 8, 0x0000_8000_0000_0000)],
          "c3", "ret", &[Fault(13, Some(0))]),
        c("jmp r64", m64, &[S::R(EAX, 0x7fff_0000_1234)],
          "ff e0", "jmp *%rax", &[Rip(0x7fff_0000_1234)]),
        c("jmp to a non-canonical address", m64, &[S::R(EAX, 0xffff_7fff_ffff_0000)],
          "ff e0", "jmp *%rax", &[Fault(13, Some(0))]),
        c("jne taken", m64, &[S::F(2)],
          "75 0e", "jne .+0x10", &[Rip(UC + 0x10)]),
        c("jne not taken", m64, &[S::F(ZF | 2)],
          "75 0e", "jne .+0x10", &[]),
    ]
}

#[test]
fn jmp_call_ret_64() {
    run_all(&branch64_cases());
}

// ---- NOP forms, CLD/STD/CLC/STC/CMC ------------------------------------------------------------

#[rustfmt::skip]
fn nop_flag_cases() -> Vec<Case> {
    // EAX points at unmapped memory: a NOP with a memory operand must not access it.
    const A: Set = S::R(EAX, 0x10);
    vec![
        c("nop", m32, &[A], "90", "nop", &[]),
        c("2-byte nop", m32, &[A], "66 90", "xchg %ax,%ax", &[]),
        c("3-byte nop", m32, &[A], "0f 1f 00", "nopl (%eax)", &[]),
        c("4-byte nop", m32, &[A], "0f 1f 40 00", "{disp8} nopl 0(%eax)", &[]),
        c("5-byte nop", m32, &[A], "0f 1f 44 00 00", "{disp8} nopl 0(%eax,%eax,1)", &[]),
        c("6-byte nop", m32, &[A], "66 0f 1f 44 00 00", "{disp8} nopw 0(%eax,%eax,1)", &[]),
        c("7-byte nop", m32, &[A], "0f 1f 80 00 00 00 00", "{disp32} nopl 0(%eax)", &[]),
        c("8-byte nop", m32, &[A], "0f 1f 84 00 00 00 00 00", "{disp32} nopl 0(%eax,%eax,1)", &[]),
        c("9-byte nop", m32, &[A], "66 0f 1f 84 00 00 00 00 00", "{disp32} nopw 0(%eax,%eax,1)", &[]),
        c("10-byte nop", m32, &[A], "66 66 0f 1f 84 00 00 00 00 00",
          ".byte 0x66; {disp32} nopw 0(%eax,%eax,1)", &[]),
        c("11-byte nop", m32, &[A], "66 66 66 0f 1f 84 00 00 00 00 00",
          ".byte 0x66,0x66; {disp32} nopw 0(%eax,%eax,1)", &[]),
        c("10-byte nop with cs override", m32, &[A], "2e 66 0f 1f 84 00 00 00 00 00",
          "{disp32} nopw %cs:0(%eax,%eax,1)", &[]),
        c("64-bit nopw cs", m64, &[A], "2e 66 0f 1f 84 00 00 00 00 00",
          "{disp32} nopw %cs:0(%rax,%rax,1)", &[]),
        c("pause", m32, &[], "f3 90", "pause", &[]),
        c("cld", m32, &[S::F(0x646)], "fc", "cld", &[F(DF, 0)]),
        c("std", m32, &[], "fd", "std", &[F(DF, DF)]),
        c("clc", m32, &[S::F(0x247)], "f8", "clc", &[F(CF, 0)]),
        c("stc", m32, &[], "f9", "stc", &[F(CF, CF)]),
        c("cmc", m32, &[S::F(0x247)], "f5", "cmc", &[F(CF, 0)]),
    ]
}

#[test]
fn nops_and_flag_instructions() {
    run_all(&nop_flag_cases());
}

// ---- page faults from ordinary instructions -------------------------------------------------

fn clear_wp(m: &mut Machine) {
    m.cpu.cr0 &= !ringstep::machine::cpu::CR0_WP;
}

#[rustfmt::skip]
fn page_fault_cases() -> Vec<Case> {
    vec![
        c("user write to a read-only page, no handler: stop, nothing changes (CR2 too)", m32,
          &[S::R(EAX, USER_CODE + 0x800)],
          "c7 00 01 00 00 00", "movl $1,(%eax)", &[Fault(14, Some(7)), StopCr2(USER_CODE + 0x800)]),
        c("user write to a read-only page delivered through the #PF gate", m32,
          &[S::PfGate32, S::R(EAX, USER_CODE + 0x800), S::F(0x246 | DF)],
          "c7 00 01 00 00 00", "movl $1,(%eax)",
          &[Delivered(14, Some(7)), Cr(2, USER_CODE + 0x800), Rip(PF_HANDLER),
            Seg(SegReg::Cs, KERNEL_CS), Seg(SegReg::Ss, KERNEL_DS), R(ESP, KST - 24), F(IF, 0),
            M(KST - 4, 4, USER_DS as u64), M(KST - 8, 4, UST), M(KST - 12, 4, 0x646),
            M(KST - 16, 4, USER_CS as u64), M(KST - 20, 4, USER_CODE), M(KST - 24, 4, 7)]),
        c("user read of a supervisor page", m32, &[],
          "a1 00 00 20 c0", "mov 0xc0200000,%eax", &[Fault(14, Some(5)), StopCr2(KD)]),
        c("user read of a supervisor page, delivered", m32, &[S::PfGate32],
          "a1 00 00 20 c0", "mov 0xc0200000,%eax",
          &[Delivered(14, Some(5)), Cr(2, KD), Rip(PF_HANDLER),
            Seg(SegReg::Cs, KERNEL_CS), Seg(SegReg::Ss, KERNEL_DS), R(ESP, KST - 24), F(IF, 0),
            M(KST - 4, 4, USER_DS as u64), M(KST - 8, 4, UST), M(KST - 12, 4, 0x246),
            M(KST - 16, 4, USER_CS as u64), M(KST - 20, 4, USER_CODE), M(KST - 24, 4, 5)]),
        c("supervisor write to a read-only page with CR0.WP", k32, &[S::R(EAX, KERNEL_CODE + 0x800)],
          "c7 00 01 00 00 00", "movl $1,(%eax)", &[Fault(14, Some(3)), StopCr2(KERNEL_CODE + 0x800)]),
        c("supervisor write to a read-only page without CR0.WP", k32,
          &[S::R(EAX, KERNEL_CODE + 0x800), S::With(clear_wp)],
          "c7 00 01 00 00 00", "movl $1,(%eax)", &[M(KERNEL_CODE + 0x800, 4, 1)]),
        c("supervisor read of an unmapped page", k32, &[S::R(EAX, 0x1000)],
          "8b 00", "mov (%eax),%eax", &[Fault(14, Some(0)), StopCr2(0x1000)]),
        c("supervisor #PF delivered on the same stack", k32, &[S::PfGate32, S::R(EAX, 0x1000)],
          "8b 00", "mov (%eax),%eax",
          &[Delivered(14, Some(0)), Cr(2, 0x1000), Rip(PF_HANDLER), R(ESP, KST - 16), F(IF, 0),
            M(KST - 4, 4, 0x246), M(KST - 8, 4, KERNEL_CS as u64), M(KST - 12, 4, KERNEL_CODE),
            M(KST - 16, 4, 0)]),
        c("fetch from a non-executable page (EFER.NXE)", m32, &[S::Rip(UD)],
          "90", "nop", &[Fault(14, Some(0x15)), StopCr2(UD)]),
        c("fetch from an unmapped page with EFER.NXE reports I/D", m32, &[S::Rip(0x1000_0000)],
          "90", "nop", &[Fault(14, Some(0x14)), StopCr2(0x1000_0000)]),
        c("fetch from an unmapped page without EFER.NXE", m32, &[S::NoNx, S::Rip(0x1000_0000)],
          "90", "nop", &[Fault(14, Some(4)), StopCr2(0x1000_0000)]),
        c("fetch from a non-executable page without EFER.NXE is allowed", m32, &[S::NoNx, S::Rip(UD)],
          "90", "nop", &[]),
        c("fetch crossing into a non-executable page faults at the boundary", m32, &[S::Rip(USER_CODE + 0xfff)],
          "89 c3", "mov %eax,%ebx", &[Fault(14, Some(0x15)), StopCr2(UD)]),
        c("supervisor fetch crossing into an unmapped page", k32, &[S::Rip(KERNEL_CODE + 0x1fff)],
          "89 c3", "mov %eax,%ebx", &[Fault(14, Some(0x10)), StopCr2(KERNEL_CODE + 0x2000)]),
        c("user fetch from a supervisor page", m32, &[S::Rip(KERNEL_CODE)],
          "90", "nop", &[Fault(14, Some(0x15)), StopCr2(KERNEL_CODE)]),
        c("read crossing into an unmapped page faults at the boundary", m32, &[S::R(EAX, UD + 0xffe)],
          "8b 00", "mov (%eax),%eax", &[Fault(14, Some(4)), StopCr2(UD + 0x1000)]),
        c("write crossing into an unmapped page: no partial write", m32, &[S::M(UST - 2, 2, 0xaaaa)],
          "c7 05 fe ef ff bf 00 00 00 00", "movl $0,0xbfffeffe", &[Fault(14, Some(6)), StopCr2(UST)]),
        c("64-bit user write to a read-only page, delivered", m64,
          &[S::PfGate64, S::R(EAX, U64_CODE + 0x800), S::R(ESP, U64_STACK_TOP - 8)],
          "c7 00 01 00 00 00", "movl $1,(%rax)",
          &[Delivered(14, Some(7)), Cr(2, U64_CODE + 0x800), Rip(PF_HANDLER64),
            Seg(SegReg::Cs, K64_CS), Null(SegReg::Ss, 0), R(ESP, K64_STACK_TOP - 48), F(IF, 0),
            M(K64_STACK_TOP - 8, 8, U64_DS as u64), M(K64_STACK_TOP - 16, 8, U64_STACK_TOP - 8),
            M(K64_STACK_TOP - 24, 8, 0x246), M(K64_STACK_TOP - 32, 8, U64_CS as u64),
            M(K64_STACK_TOP - 40, 8, U64_CODE), M(K64_STACK_TOP - 48, 8, 7)]),
    ]
}

#[test]
fn page_faults() {
    run_all(&page_fault_cases());
}

// ---- more forms: byte and word moves, read-modify-write faults, LEAVE, 16-bit CALL ----------

#[rustfmt::skip]
fn misc_cases() -> Vec<Case> {
    vec![
        c("mov imm8 to m8", m32, &[S::M(UD, 4, 0x4433_2211)],
          "c6 05 01 90 04 08 5a", "movb $0x5a,0x8049001", &[M(UD, 4, 0x4433_5a11)]),
        c("mov r8 to m8", m32, &[S::M(UD, 4, 0x4433_2211), S::R(ECX, 0x99)],
          "88 0d 02 90 04 08", "mov %cl,0x8049002", &[M(UD, 4, 0x4499_2211)]),
        c("mov m8 to ch", m32, &[S::M(UD, 4, 0x4433_2211), S::R(ECX, 0xaaaa_aaaa)],
          "8a 2d 03 90 04 08", "mov 0x8049003,%ch", &[R(ECX, 0xaaaa_44aa)]),
        c("mov imm16 to m16", m32, &[S::R(EBX, UD), S::M(UD, 4, 0x4433_2211)],
          "66 c7 03 ef be", "movw $0xbeef,(%ebx)", &[M(UD, 4, 0x4433_beef)]),
        c("mov dh to ch", m32, &[S::R(EDX, 0x1234_5678), S::R(ECX, 0x9abc_def0)],
          "88 f5", "mov %dh,%ch", &[R(ECX, 0x9abc_56f0)]),
        c("cmp reads a read-only page without faulting", m32, &[S::M(USER_CODE + 0x10, 4, 0)],
          "83 3d 10 80 04 08 00", "cmpl $0,0x8048010", &[F(ST, ZF | PF)]),
        c("neg of a read-only page faults", m32, &[],
          "f7 1d 00 80 04 08", "negl 0x8048000", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("inc of a read-only page faults", m32, &[],
          "ff 05 00 80 04 08", "incl 0x8048000", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("pop to a read-only page faults, esp unchanged", m32, &[S::R(ESP, UST - 4)],
          "8f 05 00 80 04 08", "popl 0x8048000", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("leave", m32, &[S::R(EBP, UST - 8), S::M(UST - 8, 4, 0x1234), S::R(ESP, UST - 0x20)],
          "c9", "leave", &[R(ESP, UST - 4), R(EBP, 0x1234)]),
        c("leave with 16-bit operand size", m32,
          &[S::R(EBP, UST - 8), S::M(UST - 8, 4, 0x5555_1234), S::R(ESP, UST - 0x20)],
          "66 c9", "leavew", &[R(ESP, UST - 6), R(EBP, (UST - 8) & !0xffff | 0x1234)]),
        c("leave 64", m64, &[S::R(EBP, U64_STACK_TOP - 16), S::M(U64_STACK_TOP - 16, 8, 0x1_0000_1234)],
          "c9", "leave", &[R(ESP, U64_STACK_TOP - 8), R(EBP, 0x1_0000_1234)]),
        c("call rel16 with operand-size prefix", m32, &[S::M(UST - 4, 4, 0xdead_beef)],
          "66 e8 1c 00", ".byte 0x66,0xe8,0x1c,0x00 (callw .+0x20)",
          &[Rip(0x8020), R(ESP, UST - 2), M(UST - 4, 4, 0x8004_beef)]),
    ]
}

#[test]
fn misc_forms() {
    run_all(&misc_cases());
}

// ---- the interrupt shadow of MOV SS / POP SS, over several steps ------------------------------

fn shadow_run(code: &str, set: fn(&mut Machine)) {
    use ringstep::engine::ScheduledInterrupt;
    let mut m = kernel32();
    set_gate32(&mut m, 0x30, KERNEL_CODE + 0x400, KERNEL_CS, false, 0);
    m.cpu.gpr[ECX] = KERNEL_DS as u64;
    m.cpu.gpr[ESP] = KST - 4;
    m.mem.poke_le(KST - 4, 4, KERNEL_DS as u64);
    set(&mut m);
    // The SS load, then two NOPs; the interrupt line rises before step 1.
    let m = with_code(m, &format!("{code} 90 90"));
    let mut e = Engine::new(m);
    e.set_schedule(vec![ScheduledInterrupt {
        before_step: 1,
        vector: 0x30,
    }]);
    step(&mut e);
    assert!(e.machine().cpu.shadow, "{code}: the shadow is set");
    step(&mut e);
    assert_eq!(
        e.last_step().unwrap().info.outcome,
        Outcome::Executed,
        "{code}: the instruction after the SS load runs before the interrupt"
    );
    assert!(
        !e.machine().cpu.shadow,
        "{code}: the shadow lasts one instruction"
    );
    step(&mut e);
    assert_eq!(
        e.last_step().unwrap().info.outcome,
        Outcome::Interrupt(0x30)
    );
    assert_eq!(e.machine().cpu.rip, KERNEL_CODE + 0x400);
}

#[test]
fn ss_load_holds_off_interrupts_for_one_instruction() {
    shadow_run("8e d1", |_| {}); // mov %ecx,%ss
    shadow_run("17", |_| {}); // pop %ss
}

#[test]
fn without_ss_load_the_interrupt_comes_first() {
    use ringstep::engine::ScheduledInterrupt;
    let mut m = kernel32();
    set_gate32(&mut m, 0x30, KERNEL_CODE + 0x400, KERNEL_CS, false, 0);
    m.cpu.gpr[ECX] = KERNEL_DS as u64;
    let m = with_code(m, "8e d9 90 90"); // mov %ecx,%ds; nop; nop
    let mut e = Engine::new(m);
    e.set_schedule(vec![ScheduledInterrupt {
        before_step: 1,
        vector: 0x30,
    }]);
    step(&mut e);
    assert!(!e.machine().cpu.shadow);
    step(&mut e);
    assert_eq!(
        e.last_step().unwrap().info.outcome,
        Outcome::Interrupt(0x30)
    );
}

// ---- ROL ROR RCL RCR SHLD SHRD (src/engine/rotate.rs) ------------------------------------------

const EDI: usize = 7;
/// Scratch data for 64-bit cases: a page of the user stack.
const D64: u64 = U64_STACK_TOP - 0x1000;

#[rustfmt::skip]
fn rotate_cases() -> Vec<Case> {
    vec![
        c("rol by 1: CF = new LSB, OF = MSB xor CF", m32, &[S::R(EAX, 0x8000_0001)],
          "d1 c0", "rol %eax", &[R(EAX, 3), F(CF | OF, CF | OF)]),
        c("rol by 3 (OF: the count-1 formula, model choice)", m32, &[S::R(EBX, 0xe000_0000)],
          "c1 c3 03", "rol $3,%ebx", &[R(EBX, 7), F(CF | OF, CF | OF)]),
        c("rol r8 by 8: value unchanged, CF = LSB still set", m32, &[S::R(EDX, 0x81), S::R(ECX, 8), S::F(0x246 | OF)],
          "d2 c2", "rol %cl,%dl", &[F(CF | OF, CF)]),
        c("rol by cl = 32: masked count 0, flags untouched", m32, &[S::R(EDX, 0x81), S::R(ECX, 32), S::F(0x246 | OF)],
          "d2 c2", "rol %cl,%dl", &[]),
        c("ror r16 by 1: CF = new MSB, OF = two top bits differ", m32, &[S::R(EAX, 0x1234_0001)],
          "66 d1 c8", "ror $1,%ax", &[R(EAX, 0x1234_8000), F(CF | OF, CF | OF)]),
        c("rcl r8 by 1 through CF = 0", m32, &[S::R(EAX, 0x80)],
          "d0 d0", "rcl $1,%al", &[R(EAX, 0), F(CF | OF, CF | OF)]),
        c("rcr r32 by 2 through CF = 1", m32, &[S::R(EBX, 1), S::R(ECX, 2), S::F(0x246 | CF)],
          "d3 db", "rcr %cl,%ebx", &[R(EBX, 0xc000_0000), F(CF | OF, 0)]),
        c("rcl r8 by 9 = a full 9-bit turn: value and CF kept", m32, &[S::R(EAX, 0x5a), S::R(ECX, 9), S::F(0x246 | CF)],
          "d2 d0", "rcl %cl,%al", &[F(CF | OF, CF | OF)]),
        c("roll m32 by 5", m32, &[S::M(UD, 4, 0x8000_0001)],
          "c1 05 00 90 04 08 05", "roll $5,0x8049000", &[M(UD, 4, 0x30), F(CF | OF, 0)]),
        c("roll of a read-only page faults", m32, &[],
          "c1 05 00 80 04 08 05", "roll $5,0x8048000", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("rcl r64 by 1", m64, &[S::R(EAX, 1 << 63), S::F(0x246 | CF)],
          "48 d1 d0", "rcl $1,%rax", &[R(EAX, 1), F(CF | OF, CF | OF)]),
        c("rol r64 by 63 (6-bit count)", m64, &[S::R(EAX, 2)],
          "48 c1 c0 3f", "rol $63,%rax", &[R(EAX, 1), F(CF | OF, CF | OF)]),
        c("rol r32 by 0 still zero-extends", m64, &[S::R(EAX, 0xffff_ffff_1234_5678), S::R(ECX, 0)],
          "d3 c0", "rol %cl,%eax", &[R(EAX, 0x1234_5678)]),
        c("ror r32 by 1 zero-extends", m64, &[S::R(EAX, 0xffff_ffff_0000_0002)],
          "d1 c8", "ror %eax", &[R(EAX, 1), F(CF | OF, 0)]),
        c("shld by 4", m32, &[S::R(EAX, 0x1234_5678), S::R(EBX, 0x9abc_def0)],
          "0f a4 d8 04", "shld $4,%ebx,%eax", &[R(EAX, 0x2345_6789), F(ST, CF)]),
        c("shrd r16 by cl = 4", m32, &[S::R(EAX, 0x1234), S::R(EBX, 0x5678), S::R(ECX, 4)],
          "66 0f ad d8", "shrd %cl,%bx,%ax", &[R(EAX, 0x8123), F(ST, SF | OF)]),
        c("shld m32 by 1: sign change sets OF", m32, &[S::M(UD, 4, 0x8000_0000), S::R(EBX, 0xffff_ffff), S::R(ECX, 1)],
          "0f a5 1d 00 90 04 08", "shld %cl,%ebx,0x8049000", &[M(UD, 4, 1), F(ST, CF | OF)]),
        c("shrd r16 by 20 goes through dest:src:dest (model choice)", m32, &[S::R(EAX, 0x1234), S::R(EBX, 0xabcd), S::R(ECX, 20)],
          "66 0f ad d8", "shrd %cl,%bx,%ax", &[R(EAX, 0x4abc), F(ST, CF)]),
        c("shld by cl = 0: nothing", m32, &[S::R(EAX, 0x1234), S::R(EBX, 0xabcd), S::R(ECX, 0x20), S::F(0x246 | CF)],
          "0f a5 d8", "shld %cl,%ebx,%eax", &[]),
        c("shrd r64 by 63", m64, &[S::R(EAX, 1 << 63), S::R(EBX, 3)],
          "48 0f ac d8 3f", "shrd $63,%rbx,%rax", &[R(EAX, 7), F(ST, OF)]),
    ]
}

#[test]
fn rotates_and_double_shifts() {
    run_all(&rotate_cases());
}

// ---- BT BTS BTR BTC BSF BSR TZCNT LZCNT POPCNT (src/engine/bits.rs) ---------------------------

#[rustfmt::skip]
fn bit_cases() -> Vec<Case> {
    vec![
        c("bt m32 with register offset 35 reads the next dword", m32, &[S::R(EAX, 35), S::M(UD + 4, 4, 8)],
          "0f a3 05 00 90 04 08", "bt %eax,0x8049000", &[F(CF, CF)]),
        c("bt m32 with offset -1 reads the dword below", m32, &[S::R(EAX, 0xffff_ffff), S::M(UD - 4, 4, 0x8000_0000)],
          "0f a3 05 00 90 04 08", "bt %eax,0x8049000", &[F(CF, CF)]),
        c("bts m32 with immediate 33 uses 33 mod 32", m32, &[S::M(UD, 4, 0), S::F(0x246 | CF)],
          "0f ba 2d 00 90 04 08 21", "btsl $33,0x8049000", &[M(UD, 4, 2), F(CF, 0)]),
        c("btr r32 offset mod 32", m32, &[S::R(EAX, 0xff), S::R(ECX, 36)],
          "0f b3 c8", "btr %ecx,%eax", &[R(EAX, 0xef), F(CF, CF)]),
        c("btc r16 immediate", m32, &[S::R(EAX, 0xffff_0000), S::F(0x246 | CF)],
          "66 0f ba f8 03", "btc $3,%ax", &[R(EAX, 0xffff_0008), F(CF, 0)]),
        c("bts (%ebx) with offset -33 sets bit 31 two dwords down", m32, &[S::R(EAX, 0xffff_ffdf), S::R(EBX, UD + 8)],
          "0f ab 03", "bts %eax,(%ebx)", &[M(UD, 4, 0x8000_0000), F(CF, 0)]),
        c("bts on a read-only page faults", m32, &[S::R(EAX, 0), S::R(EBX, USER_CODE + 0x100)],
          "0f ab 03", "bts %eax,(%ebx)", &[Fault(14, Some(7)), StopCr2(USER_CODE + 0x100)]),
        c("btc m64 with register offset 197: the qword 3 up", m64, &[S::R(EAX, 197), S::R(EBX, D64), S::M(D64 + 24, 8, 0)],
          "48 0f bb 03", "btc %rax,(%rbx)", &[M(D64 + 24, 8, 1 << 5), F(CF, 0)]),
        c("bsf", m32, &[S::R(EBX, 0x0001_0100)],
          "0f bc c3", "bsf %ebx,%eax", &[R(EAX, 8), F(ZF, 0)]),
        c("bsf of 0: ZF, destination unchanged", m32, &[S::R(EBX, 0), S::R(EAX, 0x1234), S::F(0x202)],
          "0f bc c3", "bsf %ebx,%eax", &[F(ZF, ZF)]),
        c("bsr", m32, &[S::R(EBX, 0x0001_0100)],
          "0f bd c3", "bsr %ebx,%eax", &[R(EAX, 16), F(ZF, 0)]),
        c("bsr r32 of 0 in 64-bit mode leaves all of rax", m64, &[S::R(EBX, 0), S::R(EAX, 0xffff_ffff_1234_5678)],
          "0f bd c3", "bsr %ebx,%eax", &[F(ZF, ZF)]),
        c("bsr r64", m64, &[S::R(EBX, 1 << 40)],
          "48 0f bd c3", "bsr %rbx,%rax", &[R(EAX, 40), F(ZF, 0)]),
        c("tzcnt of 0 = operand size, CF", m32, &[S::R(EBX, 0)],
          "f3 0f bc c3", "tzcnt %ebx,%eax", &[R(EAX, 32), F(CF | ZF, CF)]),
        c("tzcnt", m32, &[S::R(EBX, 8)],
          "f3 0f bc c3", "tzcnt %ebx,%eax", &[R(EAX, 3), F(CF | ZF, 0)]),
        c("tzcnt of an odd value is 0: ZF", m32, &[S::R(EBX, 1), S::R(EAX, 9), S::F(0x202)],
          "f3 0f bc c3", "tzcnt %ebx,%eax", &[R(EAX, 0), F(CF | ZF, ZF)]),
        c("lzcnt", m32, &[S::R(EBX, 1)],
          "f3 0f bd c3", "lzcnt %ebx,%eax", &[R(EAX, 31), F(CF | ZF, 0)]),
        c("lzcnt of the top bit is 0: ZF", m32, &[S::R(EBX, 0x8000_0000), S::F(0x202)],
          "f3 0f bd c3", "lzcnt %ebx,%eax", &[R(EAX, 0), F(CF | ZF, ZF)]),
        c("lzcnt r16 of 0 = 16, CF", m32, &[S::R(EBX, 0xffff_0000), S::R(EAX, 0xaaaa_aaaa)],
          "66 f3 0f bd c3", "lzcnt %bx,%ax", &[R(EAX, 0xaaaa_0010), F(CF | ZF, CF)]),
        c("lzcnt r64", m64, &[S::R(EBX, 1 << 40)],
          "f3 48 0f bd c3", "lzcnt %rbx,%rax", &[R(EAX, 23), F(CF | ZF, 0)]),
        c("popcnt: all other status flags cleared", m32, &[S::R(EBX, 0xf0f0), S::F(0x202 | ST)],
          "f3 0f b8 c3", "popcnt %ebx,%eax", &[R(EAX, 8), F(ST, 0)]),
        c("popcnt of 0: ZF", m32, &[S::R(EBX, 0), S::R(EAX, 5)],
          "f3 0f b8 c3", "popcnt %ebx,%eax", &[R(EAX, 0), F(ST, ZF)]),
        c("popcnt m64", m64, &[S::R(EBX, D64), S::M(D64, 8, u64::MAX)],
          "f3 48 0f b8 03", "popcnt (%rbx),%rax", &[R(EAX, 64), F(ST, 0)]),
    ]
}

#[test]
fn bit_test_scan_count() {
    run_all(&bit_cases());
}

// ---- CMOVcc SETcc (src/engine/cond.rs) ---------------------------------------------------------

#[rustfmt::skip]
fn cond_cases() -> Vec<Case> {
    vec![
        c("cmove taken", m32, &[S::R(EAX, 1), S::R(EBX, 2)],
          "0f 44 c3", "cmove %ebx,%eax", &[R(EAX, 2)]),
        c("cmove not taken", m32, &[S::R(EAX, 1), S::R(EBX, 2), S::F(0x202)],
          "0f 44 c3", "cmove %ebx,%eax", &[]),
        c("cmovne from memory", m32, &[S::M(UD, 4, 0x55), S::F(0x202)],
          "0f 45 05 00 90 04 08", "cmovne 0x8049000,%eax", &[R(EAX, 0x55)]),
        c("cmovne not taken still reads memory, and faults", m32, &[S::R(EBX, 0x1000)],
          "0f 45 03", "cmovne (%ebx),%eax", &[Fault(14, Some(4)), StopCr2(0x1000)]),
        c("cmovl r16 taken (SF != OF)", m32, &[S::R(EAX, 0x1111_2222), S::R(EBX, 0x3333), S::F(0x202 | SF)],
          "66 0f 4c c3", "cmovl %bx,%ax", &[R(EAX, 0x1111_3333)]),
        c("cmove r32 not taken still zero-extends", m64, &[S::R(EAX, 0xffff_ffff_1234_5678), S::F(0x202)],
          "0f 44 c3", "cmove %ebx,%eax", &[R(EAX, 0x1234_5678)]),
        c("cmova r64 taken", m64, &[S::R(EBX, u64::MAX), S::F(0x202)],
          "48 0f 47 c3", "cmova %rbx,%rax", &[R(EAX, u64::MAX)]),
        c("sete", m32, &[S::R(EAX, 0x1234_5678)],
          "0f 94 c0", "sete %al", &[R(EAX, 0x1234_5601)]),
        c("setl to memory", m32, &[S::M(UD, 4, 0xffff_ffff), S::F(0x202 | OF)],
          "0f 9c 05 00 90 04 08", "setl 0x8049000", &[M(UD, 4, 0xffff_ff01)]),
        c("setb %ah clears it", m32, &[S::R(EAX, 0xff00)],
          "0f 92 c4", "setb %ah", &[R(EAX, 0)]),
        c("setg to a read-only page faults", m32, &[S::R(EBX, USER_CODE)],
          "0f 9f 03", "setg (%ebx)", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
    ]
}

#[test]
fn cmovcc_setcc() {
    run_all(&cond_cases());
}

// ---- XADD CMPXCHG CMPXCHG8B CMPXCHG16B, LOCK (src/engine/atomic.rs) --------------------------

#[rustfmt::skip]
fn atomic_cases() -> Vec<Case> {
    vec![
        c("xadd r32", m32, &[S::R(EAX, 1), S::R(EBX, 2)],
          "0f c1 d8", "xadd %ebx,%eax", &[R(EAX, 3), R(EBX, 1), F(ST, PF)]),
        c("xadd with one register as both operands: the sum", m32, &[S::R(EAX, 5)],
          "0f c1 c0", "xadd %eax,%eax", &[R(EAX, 10), F(ST, PF)]),
        c("lock xadd m32 wraps to 0", m32, &[S::M(UD, 4, 0xffff_ffff), S::R(EBX, 1)],
          "f0 0f c1 1d 00 90 04 08", "lock xadd %ebx,0x8049000", &[M(UD, 4, 0), R(EBX, 0xffff_ffff), F(ST, CF | ZF | PF | AF)]),
        c("xadd to a read-only page faults, the register unchanged", m32, &[S::R(EBX, 1), S::R(ECX, USER_CODE)],
          "0f c1 19", "xadd %ebx,(%ecx)", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("cmpxchg r32 equal: dest = src", m32, &[S::R(EAX, 5), S::R(ECX, 5), S::R(EBX, 7)],
          "0f b1 d9", "cmpxchg %ebx,%ecx", &[R(ECX, 7), F(ST, ZF | PF)]),
        c("cmpxchg r32 not equal: accumulator = dest", m32, &[S::R(EAX, 4), S::R(ECX, 5), S::R(EBX, 7)],
          "0f b1 d9", "cmpxchg %ebx,%ecx", &[R(EAX, 5), F(ST, CF | SF | AF | PF)]),
        c("lock cmpxchg m32 equal", m32, &[S::R(EAX, 9), S::M(UD, 4, 9), S::R(EBX, 0x77)],
          "f0 0f b1 1d 00 90 04 08", "lock cmpxchg %ebx,0x8049000", &[M(UD, 4, 0x77), F(ST, ZF | PF)]),
        c("cmpxchg r8 not equal", m32, &[S::R(EAX, 0x1234_5601), S::R(ECX, 0x02), S::R(EBX, 0x03)],
          "0f b0 d9", "cmpxchg %bl,%cl", &[R(EAX, 0x1234_5602), F(ST, CF | SF | AF | PF)]),
        c("cmpxchg not equal still writes a read-only destination back: #PF", m32,
          &[S::R(EAX, 1), S::R(ECX, USER_CODE + 0x100), S::R(EBX, 7)],
          "0f b1 19", "cmpxchg %ebx,(%ecx)", &[Fault(14, Some(7)), StopCr2(USER_CODE + 0x100)]),
        c("cmpxchg r32 equal in 64-bit mode: rax kept, rcx zero-extended", m64,
          &[S::R(EAX, 0xffff_ffff_0000_0005), S::R(ECX, 0xaaaa_aaaa_0000_0005), S::R(EBX, 7)],
          "0f b1 d9", "cmpxchg %ebx,%ecx", &[R(ECX, 7), F(ST, ZF | PF)]),
        c("cmpxchg r32 not equal in 64-bit mode: eax zero-extended", m64,
          &[S::R(EAX, 0xffff_ffff_0000_0004), S::R(ECX, 5), S::R(EBX, 7)],
          "0f b1 d9", "cmpxchg %ebx,%ecx", &[R(EAX, 5), F(ST, CF | SF | AF | PF)]),
        c("cmpxchg8b equal: m64 = ecx:ebx, ZF", m32,
          &[S::M(UD, 8, 0x1111_2222_3333_4444), S::R(EDX, 0x1111_2222), S::R(EAX, 0x3333_4444),
            S::R(ECX, 0xaaaa_bbbb), S::R(EBX, 0xcccc_dddd), S::F(0x202)],
          "f0 0f c7 0d 00 90 04 08", "lock cmpxchg8b 0x8049000", &[M(UD, 8, 0xaaaa_bbbb_cccc_dddd), F(ZF, ZF)]),
        c("cmpxchg8b not equal: edx:eax = m64", m32,
          &[S::M(UD, 8, 0x1111_2222_3333_4444), S::R(ESI, UD)],
          "0f c7 0e", "cmpxchg8b (%esi)", &[R(EDX, 0x1111_2222), R(EAX, 0x3333_4444), F(ZF, 0)]),
        c("cmpxchg16b equal", m64,
          &[S::R(ESI, D64), S::M(D64, 8, 1), S::M(D64 + 8, 8, 2), S::R(EAX, 1), S::R(EDX, 2),
            S::R(EBX, 3), S::R(ECX, 4), S::F(0x202)],
          "48 0f c7 0e", "cmpxchg16b (%rsi)", &[M(D64, 8, 3), M(D64 + 8, 8, 4), F(ZF, ZF)]),
        c("cmpxchg16b not equal", m64,
          &[S::R(ESI, D64), S::M(D64, 8, 1), S::M(D64 + 8, 8, 2), S::R(EAX, 1), S::R(EDX, 5)],
          "48 0f c7 0e", "cmpxchg16b (%rsi)", &[R(EAX, 1), R(EDX, 2), F(ZF, 0)]),
        c("cmpxchg16b on an 8-byte aligned operand: #GP(0)", m64, &[S::R(ESI, D64 + 8)],
          "48 0f c7 0e", "cmpxchg16b (%rsi)", &[Fault(13, Some(0))]),
        c("cmpxchg16b with a register operand: #UD", m64, &[],
          "48 0f c7 c8", ".byte 0x48,0x0f,0xc7,0xc8 (cmpxchg16b %rax)", &[Fault(6, None)]),
        c("lock with a register destination: #UD", m32, &[],
          "f0 01 d8", ".byte 0xf0,0x01,0xd8 (lock add %ebx,%eax)", &[Fault(6, None)]),
        c("lock on a non-lockable instruction: #UD", m32, &[],
          "f0 89 05 00 90 04 08", ".byte 0xf0 (lock mov %eax,0x8049000)", &[Fault(6, None)]),
        c("lock add to memory", m32, &[S::M(UD, 4, 1)],
          "f0 83 05 00 90 04 08 01", "lock addl $1,0x8049000", &[M(UD, 4, 2), F(ST, 0)]),
        c("lock bts to memory", m32, &[S::M(UD, 4, 1), S::R(EAX, 0)],
          "f0 0f ab 05 00 90 04 08", "lock bts %eax,0x8049000", &[F(CF, CF)]),
    ]
}

#[test]
fn exchange_and_lock() {
    run_all(&atomic_cases());
}

// ---- BSWAP MOVBE, LAHF SAHF, NOPs and fences (src/engine/bytes.rs, misc.rs) -------------------

#[rustfmt::skip]
fn byte_misc_cases() -> Vec<Case> {
    vec![
        c("bswap r32", m32, &[S::R(EAX, 0x1234_5678)],
          "0f c8", "bswap %eax", &[R(EAX, 0x7856_3412)]),
        c("bswap r64", m64, &[S::R(EBX, 0x0102_0304_0506_0708)],
          "48 0f cb", "bswap %rbx", &[R(EBX, 0x0807_0605_0403_0201)]),
        c("bswap r32 zero-extends", m64, &[S::R(EAX, 0xffff_ffff_1234_5678)],
          "0f c8", "bswap %eax", &[R(EAX, 0x7856_3412)]),
        c("bswap r16 (undefined): low word cleared (model choice)", m32, &[S::R(EAX, 0x1234_5678)],
          "66 0f c8", ".byte 0x66,0x0f,0xc8 (bswap %ax)", &[R(EAX, 0x1234_0000)]),
        c("movbe load", m32, &[S::M(UD, 4, 0x1234_5678)],
          "0f 38 f0 05 00 90 04 08", "movbe 0x8049000,%eax", &[R(EAX, 0x7856_3412)]),
        c("movbe store r16", m32, &[S::M(UD, 4, 0xaaaa_aaaa), S::R(EAX, 0x1234)],
          "66 0f 38 f1 05 00 90 04 08", "movbe %ax,0x8049000", &[M(UD, 4, 0xaaaa_3412)]),
        c("movbe store r64", m64, &[S::R(EAX, 0x0102_0304_0506_0708), S::R(EBX, D64)],
          "48 0f 38 f1 03", "movbe %rax,(%rbx)", &[M(D64, 8, 0x0807_0605_0403_0201)]),
        c("lahf", m32, &[S::F(0x246 | CF), S::R(EAX, 0x1234_5678)],
          "9f", "lahf", &[R(EAX, 0x1234_4778)]),
        c("lahf in 64-bit mode", m64, &[S::F(0x202 | SF | AF), S::R(EAX, u64::MAX)],
          "9f", "lahf", &[R(EAX, 0xffff_ffff_ffff_92ff)]),
        c("sahf loads SF ZF AF PF CF, not OF", m32, &[S::R(EAX, 0xff00), S::F(0x202 | OF)],
          "9e", "sahf", &[F(ST, ST)]),
        c("sahf clears them", m32, &[S::R(EAX, 0), S::F(0x202 | ST)],
          "9e", "sahf", &[F(ST, OF)]),
        c("nopl with a memory operand reads nothing", m32, &[S::R(EAX, 0x1000)],
          "0f 1f 04 00", "nopl (%eax,%eax,1)", &[]),
        c("nopw with a displacement", m64, &[],
          "66 0f 1f 04 00", "nopw 0x0(%rax,%rax,1)", &[]),
        c("66 90", m32, &[], "66 90", "xchg %ax,%ax", &[]),
        c("pause", m32, &[], "f3 90", "pause", &[]),
        c("endbr32", m32, &[], "f3 0f 1e fb", "endbr32", &[]),
        c("endbr64", m64, &[], "f3 0f 1e fa", "endbr64", &[]),
        c("lfence", m32, &[], "0f ae e8", "lfence", &[]),
        c("mfence", m64, &[], "0f ae f0", "mfence", &[]),
        c("sfence", m64, &[], "0f ae f8", "sfence", &[]),
        c("prefetcht0 of an unmapped address does not fault", m32, &[S::R(EAX, 0x1000)],
          "0f 18 08", "prefetcht0 (%eax)", &[]),
        c("prefetchw", m64, &[S::R(EAX, 0)], "0f 0d 08", "prefetchw (%rax)", &[]),
        c("prefetchnta", m64, &[], "0f 18 44 24 10", "prefetchnta 0x10(%rsp)", &[]),
        c("reserved nop 0f 1e /1 (not endbr)", m32, &[], "0f 1e c8", ".byte 0x0f,0x1e,0xc8 (nop %eax)", &[]),
    ]
}

#[test]
fn byte_order_flag_byte_and_hints() {
    run_all(&byte_misc_cases());
}

// ---- ENTER PUSHA POPA (src/engine/frame.rs) -------------------------------------------------

#[rustfmt::skip]
fn frame_cases() -> Vec<Case> {
    vec![
        c("enter level 0", m32, &[S::R(ESP, UST - 0x20), S::R(EBP, 0x1234)],
          "c8 10 00 00", "enter $0x10,$0",
          &[M(UST - 0x24, 4, 0x1234), R(EBP, UST - 0x24), R(ESP, UST - 0x34)]),
        c("enter level 2 copies one frame pointer", m32,
          &[S::R(ESP, UST - 0x20), S::R(EBP, UST - 0x10), S::M(UST - 0x14, 4, 0xaaaa)],
          "c8 08 00 02", "enter $8,$2",
          &[M(UST - 0x24, 4, UST - 0x10), M(UST - 0x28, 4, 0xaaaa), M(UST - 0x2c, 4, UST - 0x24),
            R(EBP, UST - 0x24), R(ESP, UST - 0x34)]),
        c("enter level 33 is level 1 (MOD 32)", m32, &[S::R(ESP, UST - 0x20), S::R(EBP, 0x1234)],
          "c8 00 00 21", "enter $0,$33",
          &[M(UST - 0x24, 4, 0x1234), M(UST - 0x28, 4, UST - 0x24), R(EBP, UST - 0x24), R(ESP, UST - 0x28)]),
        c("enterw level 1", m32, &[S::R(ESP, UST - 0x20), S::R(EBP, 0x5555_1234)],
          "66 c8 04 00 01", "enterw $4,$1",
          &[M(UST - 0x22, 2, 0x1234), M(UST - 0x24, 2, (UST - 0x22) & 0xffff),
            R(EBP, 0x5555_0000 | ((UST - 0x22) & 0xffff)), R(ESP, UST - 0x28)]),
        c("enter 64", m64, &[S::R(ESP, D64 + 0x100), S::R(EBP, 0x1_2345_6789)],
          "c8 10 00 00", "enter $0x10,$0",
          &[M(D64 + 0xf8, 8, 0x1_2345_6789), R(EBP, D64 + 0xf8), R(ESP, D64 + 0xe8)]),
        c("enter: the final stack pointer is probed for writing (#PF)", m32, &[S::R(ESP, UST - 0x20)],
          "c8 00 80 00", "enter $0x8000,$0", &[Fault(14, Some(6)), StopCr2(UST - 0x8024)]),
        c("enter: the push faults first", m32, &[S::R(ESP, 0x1000)],
          "c8 00 00 00", "enter $0,$0", &[Fault(14, Some(6)), StopCr2(0xffc)]),
        c("pusha", m32,
          &[S::R(EAX, 1), S::R(ECX, 2), S::R(EDX, 3), S::R(EBX, 4), S::R(ESP, UST - 0x20),
            S::R(EBP, 6), S::R(ESI, 7), S::R(EDI, 8)],
          "60", "pusha",
          &[M(UST - 0x24, 4, 1), M(UST - 0x28, 4, 2), M(UST - 0x2c, 4, 3), M(UST - 0x30, 4, 4),
            M(UST - 0x34, 4, UST - 0x20), M(UST - 0x38, 4, 6), M(UST - 0x3c, 4, 7), M(UST - 0x40, 4, 8),
            R(ESP, UST - 0x40)]),
        c("popa skips esp", m32,
          &[S::R(ESP, UST - 0x40), S::M(UST - 0x24, 4, 1), S::M(UST - 0x28, 4, 2), S::M(UST - 0x2c, 4, 3),
            S::M(UST - 0x30, 4, 4), S::M(UST - 0x34, 4, 0x9999), S::M(UST - 0x38, 4, 6),
            S::M(UST - 0x3c, 4, 7), S::M(UST - 0x40, 4, 8)],
          "61", "popa",
          &[R(EAX, 1), R(ECX, 2), R(EDX, 3), R(EBX, 4), R(ESP, UST - 0x20), R(EBP, 6), R(ESI, 7), R(EDI, 8)]),
        c("pushaw", m32, &[S::R(EAX, 0x1_0001), S::R(ESP, UST - 0x20), S::R(EDI, 0x8_0008)],
          "66 60", "pushaw",
          &[M(UST - 0x22, 2, 1), M(UST - 0x2a, 2, (UST - 0x20) & 0xffff), M(UST - 0x30, 2, 8), R(ESP, UST - 0x30)]),
        c("popaw merges the low words", m32, &[S::R(ESP, UST - 0x30), S::R(EAX, 0xaaaa_0000), S::M(UST - 0x22, 2, 0x1234)],
          "66 61", "popaw", &[R(EAX, 0xaaaa_1234), R(ESP, UST - 0x20)]),
        c("popa from the top of the stack: #PF, nothing popped", m32, &[S::R(ESP, UST - 0x10)],
          "61", "popa", &[Fault(14, Some(4)), StopCr2(UST)]),
        c("leave from an unmapped frame: #PF, esp and ebp unchanged", m32, &[S::R(EBP, 0x1000)],
          "c9", "leave", &[Fault(14, Some(4)), StopCr2(0x1000)]),
        c("leave 64 with a 16-bit operand size", m64,
          &[S::R(EBP, D64), S::M(D64, 8, 0x1111_2222_3333_4444), S::R(ESP, D64 - 0x40), S::R(EBP, D64)],
          "66 c9", "leavew", &[R(ESP, D64 + 2), R(EBP, (D64 & !0xffff) | 0x4444)]),
        c("enter in the kernel, level 1", k64, &[S::R(EBP, 0x77)],
          "c8 20 00 01", "enter $0x20,$1",
          &[M(K64_STACK_TOP - 8, 8, 0x77), M(K64_STACK_TOP - 16, 8, K64_STACK_TOP - 8),
            R(EBP, K64_STACK_TOP - 8), R(ESP, K64_STACK_TOP - 0x30)]),
        c("pusha in 64-bit mode: #UD", m64, &[], "60", ".byte 0x60 (pusha)", &[Fault(6, None)]),
        c("popa in 64-bit mode: #UD", m64, &[], "61", ".byte 0x61 (popa)", &[Fault(6, None)]),
    ]
}

#[test]
fn enter_pusha_popa() {
    run_all(&frame_cases());
}

// ---- MOVS STOS LODS CMPS SCAS with REP/REPE/REPNE (src/engine/string.rs) ----------------------

/// A user data page below 4 GiB for 64-bit cases with a 32-bit address size.
const LOW64: u64 = 0x60_0000;

fn low_data64(m: &mut Machine) {
    m.mem
        .add_region(ringstep::machine::Region {
            name: "low data".into(),
            base: LOW64,
            size: 0x1000,
            perm: ringstep::machine::Perm {
                user: true,
                writable: true,
                exec: false,
            },
            phys: None,
        })
        .expect("a free range");
    common::page_tables(m);
}

fn null_es(m: &mut Machine) {
    m.cpu.seg[SegReg::Es as usize] = Segment::null(0);
}

#[rustfmt::skip]
fn string_cases() -> Vec<Case> {
    vec![
        c("rep movsb copies ecx bytes", m32,
          &[S::R(ECX, 3), S::R(ESI, UD), S::R(EDI, UD + 0x100), S::M(UD, 4, 0x4433_2211)],
          "f3 a4", "rep movsb",
          &[M(UD + 0x100, 4, 0x33_2211), R(ECX, 0), R(ESI, UD + 3), R(EDI, UD + 0x103)]),
        c("rep movsl with DF = 1 copies downwards", m32,
          &[S::R(ECX, 2), S::R(ESI, UD + 4), S::R(EDI, UD + 0x104), S::M(UD, 8, 0x2222_2222_1111_1111), S::F(0x246 | DF)],
          "f3 a5", "rep movsl",
          &[M(UD + 0x100, 8, 0x2222_2222_1111_1111), R(ECX, 0), R(ESI, UD - 4), R(EDI, UD + 0xfc)]),
        c("movsw without rep leaves ecx", m32,
          &[S::R(ECX, 9), S::R(ESI, UD), S::R(EDI, UD + 0x10), S::M(UD, 4, 0x4433_2211)],
          "66 a5", "movsw", &[M(UD + 0x10, 4, 0x2211), R(ESI, UD + 2), R(EDI, UD + 0x12)]),
        c("movsb from %gs (override of the source segment)", m32,
          &[S::R(ESI, 0), S::R(EDI, UD), S::M(TLS_BASE, 1, 0x5a)],
          "65 a4", "movsb %gs:(%esi),%es:(%edi)", &[M(UD, 1, 0x5a), R(ESI, 1), R(EDI, UD + 1)]),
        c("rep stosl with ecx = 0 does nothing", m32, &[S::R(ECX, 0), S::R(EDI, 0x1000)],
          "f3 ab", "rep stos %eax,%es:(%edi)", &[]),
        c("stosb", m32, &[S::R(EAX, 0x5a), S::R(EDI, UD)],
          "aa", "stos %al,%es:(%edi)", &[M(UD, 1, 0x5a), R(EDI, UD + 1)]),
        c("rep stosw fills", m32, &[S::R(EAX, 0xbeef), S::R(EDI, UD), S::R(ECX, 3)],
          "66 f3 ab", "rep stos %ax,%es:(%edi)",
          &[M(UD, 4, 0xbeef_beef), M(UD + 4, 2, 0xbeef), R(EDI, UD + 6), R(ECX, 0)]),
        c("lodsl", m32, &[S::R(ESI, UD), S::M(UD, 4, 0x1234)],
          "ad", "lods %ds:(%esi),%eax", &[R(EAX, 0x1234), R(ESI, UD + 4)]),
        c("repe cmpsb stops at the first difference", m32,
          &[S::R(ECX, 4), S::R(ESI, UD), S::R(EDI, UD + 0x10), S::M(UD, 4, 0x0063_6261), S::M(UD + 0x10, 4, 0x0064_6261)],
          "f3 a6", "repz cmpsb %es:(%edi),%ds:(%esi)",
          &[R(ECX, 1), R(ESI, UD + 3), R(EDI, UD + 0x13), F(ST, CF | SF | AF | PF)]),
        c("repe cmpsb runs out of ecx with ZF = 1", m32,
          &[S::R(ECX, 2), S::R(ESI, UD), S::R(EDI, UD + 0x10), S::M(UD, 4, 0x0063_6261), S::M(UD + 0x10, 4, 0x0064_6261), S::F(0x202)],
          "f3 a6", "repz cmpsb %es:(%edi),%ds:(%esi)",
          &[R(ECX, 0), R(ESI, UD + 2), R(EDI, UD + 0x12), F(ST, ZF | PF)]),
        c("repne scasb finds the NUL", m32,
          &[S::R(EAX, 0), S::R(ECX, 0xffff_ffff), S::R(EDI, UD), S::M(UD, 4, 0x0033_2211)],
          "f2 ae", "repnz scas %es:(%edi),%al",
          &[R(ECX, 0xffff_fffb), R(EDI, UD + 4), F(ST, ZF | PF)]),
        c("scasw", m32, &[S::R(EAX, 0x1234), S::R(EDI, UD), S::M(UD, 2, 0x1234), S::F(0x202)],
          "66 af", "scas %es:(%edi),%ax", &[R(EDI, UD + 2), F(ST, ZF | PF)]),
        c("cmpsl with DF = 1", m32,
          &[S::R(ESI, UD), S::R(EDI, UD + 8), S::M(UD, 4, 2), S::M(UD + 8, 4, 1), S::F(0x202 | DF)],
          "a7", "cmpsl %es:(%edi),%ds:(%esi)", &[R(ESI, UD - 4), R(EDI, UD + 4), F(ST, 0)]),
        c("lodsb with a 16-bit address: SI wraps, ESI's high word kept", m32,
          &[S::R(ESI, 0xabcd_0000), S::M(TLS_BASE, 1, 0x77), S::F(0x246 | DF)],
          "65 67 ac", "addr16 lods %gs:(%si),%al", &[R(EAX, 0x77), R(ESI, 0xabcd_ffff)]),
        c("rep movsb: the first iteration faults, nothing changes", m32,
          &[S::R(ECX, 3), S::R(ESI, 0x1000), S::R(EDI, UD)],
          "f3 a4", "rep movsb", &[Fault(14, Some(4)), StopCr2(0x1000)]),
        c("stosb to a read-only page", m32, &[S::R(EDI, USER_CODE)],
          "aa", "stos %al,%es:(%edi)", &[Fault(14, Some(7)), StopCr2(USER_CODE)]),
        c("rep movsq", m64,
          &[S::R(ECX, 2), S::R(ESI, D64), S::R(EDI, D64 + 0x100), S::M(D64, 8, 1), S::M(D64 + 8, 8, 2)],
          "f3 48 a5", "rep movsq",
          &[M(D64 + 0x100, 8, 1), M(D64 + 0x108, 8, 2), R(ECX, 0), R(ESI, D64 + 16), R(EDI, D64 + 0x110)]),
        c("rep stosq with a 32-bit address size uses edi and ecx", m64,
          &[S::With(low_data64), S::R(EAX, u64::MAX), S::R(EDI, 0xffff_ffff_0000_0000 | LOW64),
            S::R(ECX, 0x1_0000_0001)],
          "67 f3 48 ab", "addr32 rep stos %rax,%es:(%edi)",
          &[M(LOW64, 8, u64::MAX), R(EDI, LOW64 + 8), R(ECX, 0)]),
        c("rep stosb with a 16-bit address: CX counts, DI moves, high words kept", m32,
          &[S::Seg(SegReg::Es, TLS_SEL), S::R(EAX, 0x66), S::R(ECX, 0xffff_0002), S::R(EDI, 0xabcd_0000)],
          "67 f3 aa", "addr16 rep stos %al,%es:(%di)",
          &[M(TLS_BASE, 2, 0x6666), R(ECX, 0xffff_0000), R(EDI, 0xabcd_0002)]),
        c("stosb through a null ES: #GP(0)", m32, &[S::With(null_es), S::R(EDI, UD)],
          "aa", "stos %al,%es:(%edi)", &[Fault(13, Some(0))]),
        c("rep movsq in the kernel", k64,
          &[S::R(ECX, 1), S::R(ESI, K64_STACK_TOP - 0x100), S::R(EDI, K64_STACK_TOP - 0x80),
            S::M(K64_STACK_TOP - 0x100, 8, 0x1234_5678_9abc_def0)],
          "f3 48 a5", "rep movsq",
          &[M(K64_STACK_TOP - 0x80, 8, 0x1234_5678_9abc_def0), R(ECX, 0), R(ESI, K64_STACK_TOP - 0xf8),
            R(EDI, K64_STACK_TOP - 0x78)]),
        c("user movsb from a kernel page: #PF(5)", m64, &[S::R(ESI, K64_STACK_TOP - 0x100), S::R(EDI, D64)],
          "a4", "movsb", &[Fault(14, Some(5)), StopCr2(K64_STACK_TOP - 0x100)]),
        c("movsb from a non-canonical address: #GP(0)", m64, &[S::R(ESI, 0x8000_0000_0000_0000), S::R(EDI, D64)],
          "a4", "movsb", &[Fault(13, Some(0))]),
        c("lodsq", m64, &[S::R(ESI, D64), S::M(D64, 8, 0x1_0000_0002)],
          "48 ad", "lods %ds:(%rsi),%rax", &[R(EAX, 0x1_0000_0002), R(ESI, D64 + 8)]),
        c("scasl zero-extends nothing it does not write", m64,
          &[S::R(EAX, 0xffff_ffff_0000_0001), S::R(EDI, D64), S::M(D64, 4, 1), S::F(0x202)],
          "af", "scas %es:(%rdi),%eax", &[R(EDI, D64 + 4), F(ST, ZF | PF)]),
    ]
}

#[test]
fn string_instructions() {
    run_all(&string_cases());
}

/// `rep stosb` (f3 aa) with more iterations than one step runs: the first step ends with
/// RIP at the instruction and rCX/rDI advanced by the per-step limit, as after an
/// interrupt window; the next step finishes. Both steps undo exactly.
#[test]
fn long_rep_continues_over_steps() {
    let limit = 4096u64;
    let mut m = machine32();
    let start = UST - 0x4000;
    m.cpu.gpr[ECX] = limit + 10;
    m.cpu.gpr[EDI] = start;
    m.cpu.gpr[EAX] = 0xab;
    let m = with_code(m, "f3 aa 90"); // rep stos %al,%es:(%edi); nop
    let before = m.clone();
    let mut e = Engine::new(m);
    step(&mut e);
    let mid = e.machine().clone();
    assert_eq!(mid.cpu.rip, USER_CODE, "RIP stays at the instruction");
    assert_eq!(mid.cpu.gpr[ECX], 10);
    assert_eq!(mid.cpu.gpr[EDI], start + limit);
    assert_eq!(mid.mem.peek_le(start + limit - 1, 1), 0xab);
    assert_eq!(mid.mem.peek_le(start + limit, 1), 0);
    step(&mut e);
    let end = e.machine();
    assert_eq!(end.cpu.rip, USER_CODE + 2);
    assert_eq!(end.cpu.gpr[ECX], 0);
    assert_eq!(end.cpu.gpr[EDI], start + limit + 10);
    assert_eq!(end.mem.peek_le(start + limit + 9, 1), 0xab);
    assert!(e.step_back());
    assert!(
        diff(&mid, e.machine()).is_empty(),
        "{:?}",
        diff(&mid, e.machine())
    );
    assert!(e.step_back());
    assert!(
        diff(&before, e.machine()).is_empty(),
        "{:?}",
        diff(&before, e.machine())
    );
}

/// A fault in the middle of `rep movsb` (f3 a4): the completed iterations stay, and the
/// fault is raised with rCX/rSI/rDI at the faulting iteration and RIP at the instruction.
#[test]
fn rep_fault_midway_keeps_completed_iterations() {
    let mut m = machine32();
    m.cpu.gpr[ECX] = 4;
    m.cpu.gpr[ESI] = UD + 0xffe;
    m.cpu.gpr[EDI] = UD + 0x10;
    m.mem.poke_le(UD + 0xffe, 2, 0x2211);
    let m = with_code(m, "f3 a4");
    let mut e = Engine::new(m);
    step(&mut e);
    let mid = e.machine().clone();
    assert_eq!(mid.cpu.rip, USER_CODE);
    assert_eq!(
        (mid.cpu.gpr[ECX], mid.cpu.gpr[ESI], mid.cpu.gpr[EDI]),
        (2, UD + 0x1000, UD + 0x12)
    );
    assert_eq!(mid.mem.peek_le(UD + 0x10, 2), 0x2211);
    let (v, code, _) = step_fault(&mut e);
    assert_eq!((v, code), (14, Some(4)));
    assert!(
        diff(&mid, e.machine()).is_empty(),
        "the faulting step changes nothing"
    );
    // With a #PF handler the saved EIP is the instruction's.
    let mut m = mid.clone();
    set_gate32(&mut m, 14, PF_HANDLER, KERNEL_CS, false, 0);
    let mut e = Engine::new(m);
    step(&mut e);
    let got = e.machine();
    assert_eq!(got.cpu.rip, PF_HANDLER);
    assert_eq!(got.cpu.cr2, UD + 0x1000);
    assert_eq!(got.mem.peek_le(KST - 20, 4), USER_CODE, "saved EIP");
}

/// A LOCK prefix where the SDM does not allow it is #UD, and the reason says why.
#[test]
fn lock_ud_names_the_prefix() {
    for code in ["f0 01 d8", "f0 89 05 00 90 04 08", "f0 90"] {
        let mut e = Engine::new(with_code(machine32(), code));
        let (v, _, why) = step_fault(&mut e);
        assert_eq!(v, 6, "{code}");
        assert!(why.contains("LOCK prefix"), "{code}: {why}");
    }
    let mut e = Engine::new(with_code(machine32(), "0f 0b"));
    let (v, _, why) = step_fault(&mut e);
    assert_eq!(v, 6);
    assert!(!why.contains("LOCK"), "ud2: {why}");
}
