//! Turn a 64-bit (IA-32e) scenario's initial machine into a multiboot guest for
//! qemu-system-x86_64 whose physical memory is the machine's, its 4-level page tables
//! included (`guest::fit`, `guest::memory_image`). The multiboot entry is 32-bit: the
//! stub enables PAE, writes EFER (LME plus the scenario's SCE and NXE), turns paging on, enters
//! 64-bit mode through a temporary GDT, then loads the scenario's GDTR, IDTR, TR, CR2, the
//! data selectors, the MSRs (STAR, LSTAR, CSTAR, FMASK, SYSENTER_*, FS/GS base,
//! KERNEL_GS_BASE) and every general register, and enters the scenario's CS:RIP at its CPL
//! with `iretq`.

use std::fmt::Write as _;

use ringstep::machine::{Machine, SegReg};

use super::guest::{arm_timer, memory_image, set_timer_count, Guest, Timer, RAM_MIB, STUB_REGION};

const EFER: u32 = 0xc000_0080;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const FS_BASE: u32 = 0xc000_0100;
const GS_BASE: u32 = 0xc000_0101;

/// Build the guest for a machine in IA-32e mode.
pub fn build(m: &Machine, end: &[u64], timer: Option<&Timer>) -> Result<Guest, String> {
    let cpu = &m.cpu;
    if !cpu.long_mode_active() {
        return Err("not a 64-bit scenario".into());
    }
    if m.mem.region_named(STUB_REGION).is_none() {
        return Err("the machine is not fitted for QEMU (`guest::fit`)".into());
    }
    let segments = memory_image(m, end)?;
    let tr_sel = cpu.tr.selector as u64;
    if cpu.cr3 >= 1 << 32 {
        return Err(format!("CR3 {:#x} above 4 GiB", cpu.cr3));
    }

    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        ".code32\n.text\n.globl _start\n_start:\n  jmp entry\n  .balign 4"
    );
    let _ = writeln!(
        w,
        "  .long 0x1badb002, 0, -(0x1badb002)\nentry:\n  cli\n  mov $stack_top, %esp"
    );
    let _ = writeln!(w, "  mov $0xff, %al\n  out %al, $0x21\n  out %al, $0xa1");
    // Before paging.
    if let Some(t) = timer {
        arm_timer(w, t);
    }
    // CR4 without PCIDE (it may only be set in IA-32e mode, and CR3 has no PCID here).
    let cr4 = (cpu.cr4 | 0x20) & !(1 << 17);
    let _ = writeln!(w, "  mov ${cr4:#x}, %eax\n  mov %eax, %cr4");
    let _ = writeln!(
        w,
        "  mov ${:#x}, %eax\n  mov %eax, %cr3",
        cpu.cr3 & 0xffff_ffff
    );
    let efer = (cpu.efer() | EFER_LME) & !EFER_LMA;
    let _ = writeln!(
        w,
        "  mov ${EFER:#x}, %ecx\n  mov ${:#x}, %eax\n  mov ${:#x}, %edx\n  wrmsr",
        efer & 0xffff_ffff,
        efer >> 32
    );
    let _ = writeln!(
        w,
        "  mov ${:#x}, %eax\n  mov %eax, %cr0",
        (cpu.cr0 | 0x8000_0001) & 0xffff_ffff
    );
    let _ = writeln!(
        w,
        "  lgdt tmp_gdtr\n  ljmp $0x08, $long64\n.code64\nlong64:"
    );
    // LDTR null (QEMU starts with the reset cache: base 0, limit FFFFH, usable).
    let _ = writeln!(
        w,
        "  lgdt gdtr_value\n  lidt idtr_value\n  xor %eax, %eax\n  lldt %ax"
    );
    if tr_sel & !7 != 0 {
        let _ = writeln!(w, "  mov ${tr_sel:#x}, %ax\n  ltr %ax");
    }
    let _ = writeln!(w, "  movabs ${:#x}, %rax\n  mov %rax, %cr2", cpu.cr2);
    for sr in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        let _ = writeln!(
            w,
            "  mov ${:#x}, %ax\n  mov %ax, %{}",
            cpu.seg(sr).selector,
            sr.name()
        );
    }
    let mut msrs: Vec<(u32, u64)> = cpu
        .msrs()
        .into_iter()
        .filter(|(i, _)| matches!(i, 0x174..=0x176 | 0xc000_0081..=0xc000_0084 | 0xc000_0102))
        .collect();
    msrs.push((FS_BASE, cpu.seg(SegReg::Fs).base));
    msrs.push((GS_BASE, cpu.seg(SegReg::Gs).base));
    for (index, value) in msrs {
        let _ = writeln!(
            w,
            "  mov ${index:#x}, %ecx\n  mov ${:#x}, %eax\n  mov ${:#x}, %edx\n  wrmsr",
            value & 0xffff_ffff,
            value >> 32
        );
    }
    let cs = cpu.seg(SegReg::Cs).selector as u64;
    let ss = cpu.seg(SegReg::Ss).selector as u64;
    for v in [ss, cpu.gpr[4], cpu.rflags, cs, cpu.rip] {
        let _ = writeln!(w, "  movabs ${v:#x}, %rax\n  push %rax");
    }
    let names = [
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15",
    ];
    for (i, n) in names.iter().enumerate() {
        if i != 4 {
            let _ = writeln!(w, "  movabs ${:#x}, %{n}", cpu.gpr[i]);
        }
    }
    let _ = writeln!(w, "  iretq");
    let _ = writeln!(
        w,
        "  .balign 8\ntmp_gdt:\n  .quad 0, 0x00af9a000000ffff\n  .word 0\ntmp_gdtr:\n  .word 15\n  .long tmp_gdt"
    );
    let _ = writeln!(
        w,
        "  .balign 8\n  .word 0, 0, 0\ngdtr_value:\n  .word {:#x}\n  .quad {:#x}\n  .word 0, 0, 0\nidtr_value:\n  .word {:#x}\n  .quad {:#x}",
        cpu.gdtr.limit, cpu.gdtr.base, cpu.idtr.limit, cpu.idtr.base
    );
    let _ = writeln!(w, "  .balign 16\n  .space 1024\nstack_top:");
    if let Some(t) = timer {
        set_timer_count(&mut s, t)?;
    }
    Ok(Guest {
        asm: s,
        segments,
        memory_mib: RAM_MIB,
    })
}
