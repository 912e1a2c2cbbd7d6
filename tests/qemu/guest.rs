//! Turn a protected-mode scenario's initial machine into a bare-metal multiboot guest for
//! qemu-system-i386: the scenario's pages (PAE page tables built from its regions' rights),
//! a stub that copies the page-directory-pointer table to every CR3 the scenario loads,
//! arms the local-APIC timer for a scheduled interrupt (`Timer`), writes the MSRs,
//! enables paging, loads GDTR/IDTR/TR/CR2 and the segment registers, then enters the
//! scenario's code at its CPL (`iret` to an outer ring, or `ljmp` at CPL 0) with every
//! general register as the scenario has it.

use std::fmt::Write as _;
use std::path::Path;

use ringstep::machine::{Machine, SegReg};

/// Where the linker puts the stub (and where it is identity-mapped after paging is on).
pub const STUB_BASE: u64 = 0x10_0000;
/// How much of the stub is identity-mapped (code, data and its stack).
pub const STUB_SIZE: u64 = 0x4000;
/// Physical address of the blob: page tables, then the scenario's page frames.
pub const BLOB_BASE: u64 = 0x20_0000;

const PAGE: u64 = 0x1000;
const EFER: u32 = 0xc000_0080;
const EFER_NXE: u64 = 1 << 11;

/// Local-APIC registers (xAPIC, at its reset base), written by the stub before paging is
/// on, so the APIC page needs no mapping and cannot meet the scenario's pages.
const APIC_BASE: u64 = 0xfee0_0000;
const APIC_SVR: u64 = 0xf0;
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_INITIAL_COUNT: u64 = 0x380;
const APIC_DIVIDE: u64 = 0x3e0;
/// Stands in for the timer's initial count until the stub is complete.
const TIMER_COUNT: &str = "@timer_count@";
/// The stub's label right after the write that starts the timer.
const TIMER_ARMED: &str = "timer_armed";

/// An external interrupt the guest raises with its local-APIC timer: `vector` becomes
/// pending once the scenario has executed `before_step` instructions.
///
/// QEMU runs the guest with `-icount shift=0`: its virtual clock advances 1 ns per
/// instruction, and the APIC timer (divide by 1) counts one tick per nanosecond; a
/// one-shot timer started with count K fires K + 1 ticks after the write
/// (`apic_next_timer`: load time + (initial count + 1) << count shift). Counting the
/// stub's instructions after the write gives the K that makes the interrupt pending
/// exactly before the scenario's step `before_step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub vector: u8,
    pub before_step: u64,
}

/// Stub code that programs the local-APIC timer for `timer` (before paging is on).
pub fn arm_timer(w: &mut String, timer: &Timer) {
    let reg = |r: u64| APIC_BASE + r;
    // Software-enable the APIC (spurious vector 0xff), divide by 1, one-shot timer with
    // the vector unmasked, then the initial count, which starts it.
    let _ = writeln!(w, "  movl $0x1ff, {:#x}", reg(APIC_SVR));
    let _ = writeln!(w, "  movl $0xb, {:#x}", reg(APIC_DIVIDE));
    let _ = writeln!(w, "  movl ${:#x}, {:#x}", timer.vector, reg(APIC_LVT_TIMER));
    let _ = writeln!(w, "  movl ${TIMER_COUNT}, {:#x}", reg(APIC_INITIAL_COUNT));
    let _ = writeln!(w, "{TIMER_ARMED}:");
}

/// Put the timer's initial count into a finished stub: the instructions from
/// `TIMER_ARMED` up to the entry into the scenario (the last instruction before the
/// stub's data) plus the scenario's steps before the interrupt.
pub fn set_timer_count(asm: &mut String, timer: &Timer) -> Result<(), String> {
    let Some(at) = asm.find(&format!("\n{TIMER_ARMED}:\n")) else {
        return Err("the stub does not arm the timer".into());
    };
    let after = asm[at..]
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("  ."))
        .filter(|l| l.starts_with("  ") && !l.trim_end().ends_with(':'))
        .count() as u64;
    // The virtual clock at the write already counts the write; `after` instructions of
    // the stub and `before_step` of the scenario later it must expire.
    let count = (after + timer.before_step)
        .checked_sub(TIMER_BIAS)
        .filter(|c| *c <= u32::MAX as u64)
        .ok_or("the scheduled step does not fit the APIC timer's count")?;
    *asm = asm.replace(TIMER_COUNT, &format!("{count:#x}"));
    Ok(())
}

/// QEMU's one-shot timer expires `count + 1` ticks after the write (`apic_next_timer`);
/// the count is that much less than the instructions to wait. Checked by
/// `scheduled_interrupts_arrive_at_ringsteps_step_in_qemu` (0 here fails it).
const TIMER_BIAS: u64 = 1;

/// A guest ready to link: assembly text and the blob it includes.
pub struct Guest {
    pub asm: String,
    pub blob: Vec<u8>,
    /// Offset of the first scenario page frame in the blob.
    pub frames_start: u64,
    /// Guest RAM QEMU needs (MiB).
    pub memory_mib: u32,
}

impl Guest {
    /// Offset in the blob (as QEMU's memory holds it at BLOB_BASE) of virtual `va`.
    pub fn blob_offset(&self, m: &Machine, va: u64) -> Option<u64> {
        phys_in_blob(m, self.frames_start, va)
    }
}

fn page_table_blob(m: &Machine, nxe: bool) -> Result<(Vec<u8>, u64), String> {
    // The scenario's pages: (virtual page, user, writable, exec), frames in region order.
    let mut pages: Vec<(u64, bool, bool, bool)> = Vec::new();
    for r in m.mem.regions() {
        if r.base % PAGE != 0 || r.size % PAGE != 0 {
            return Err(format!("region {} is not page aligned", r.name));
        }
        if r.end() > 0x1_0000_0000 {
            return Err(format!("region {} lies above 4 GiB", r.name));
        }
        if r.base < STUB_BASE + STUB_SIZE && r.end() > STUB_BASE {
            return Err(format!("region {} overlaps the guest stub", r.name));
        }
        let mut va = r.base;
        while va < r.end() {
            pages.push((va, r.perm.user, r.perm.writable, r.perm.exec));
            va += PAGE;
        }
    }
    // Layout: PDPT (one page), 4 page directories, then page tables as needed, then frames.
    let pdpt = 0u64;
    let pd = |i: u64| PAGE * (1 + i);
    let mut tables: Vec<u64> = Vec::new(); // directory-entry index (0..2048) of each table
    for &(va, ..) in &pages {
        let idx = va >> 21;
        if !tables.contains(&idx) {
            tables.push(idx);
        }
    }
    let stub_dir = STUB_BASE >> 21;
    if !tables.contains(&stub_dir) {
        tables.push(stub_dir);
    }
    let frames_start = PAGE * (5 + tables.len() as u64);
    let mut blob = vec![0u8; frames_start as usize];
    let put = |blob: &mut Vec<u8>, at: u64, v: u64| {
        blob[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    };
    for i in 0..4 {
        put(&mut blob, pdpt + i * 8, (BLOB_BASE + pd(i)) | 1);
    }
    for (t, &idx) in tables.iter().enumerate() {
        let table = PAGE * (5 + t as u64);
        // Directory entries are permissive; the page-table entries carry the rights.
        put(&mut blob, pd(0) + idx * 8, (BLOB_BASE + table) | 0x7);
    }
    // The stub is identity-mapped (supervisor, writable, executable).
    let stub_table = PAGE * (5 + tables.iter().position(|&i| i == stub_dir).unwrap() as u64);
    let mut va = STUB_BASE;
    while va < STUB_BASE + STUB_SIZE {
        put(&mut blob, stub_table + ((va >> 12) & 0x1ff) * 8, va | 3);
        va += PAGE;
    }
    for (n, &(va, user, writable, exec)) in pages.iter().enumerate() {
        let frame = frames_start + n as u64 * PAGE;
        let t = tables.iter().position(|&i| i == va >> 21).unwrap() as u64;
        let table = PAGE * (5 + t);
        let mut pte = (BLOB_BASE + frame) | 1;
        if writable {
            pte |= 2;
        }
        if user {
            pte |= 4;
        }
        if !exec && nxe {
            pte |= 1 << 63;
        }
        put(&mut blob, table + ((va >> 12) & 0x1ff) * 8, pte);
        let mut bytes = vec![0u8; PAGE as usize];
        m.mem.peek(va, &mut bytes);
        blob.extend_from_slice(&bytes);
    }
    Ok((blob, frames_start))
}

/// Physical address of virtual `va` in the guest (scenario pages only).
fn phys_in_blob(m: &Machine, frames_start: u64, va: u64) -> Option<u64> {
    let mut n = 0u64;
    for r in m.mem.regions() {
        if r.contains(va) {
            return Some(frames_start + (n + (va - r.base) / PAGE) * PAGE + va % PAGE);
        }
        n += r.size / PAGE;
    }
    None
}

/// Build the guest for a protected-mode machine (PAE paging as the scenario's CR4 says).
/// `end` addresses get a `jmp .` so QEMU idles there once the scenario is done.
///
/// `cr3_loads` are the CR3 values the scenario loads as it runs: ringstep has one set of
/// mappings, so each gets a copy of the guest's page-directory-pointer table (at the
/// physical address CR3 names) and the switch changes nothing in QEMU either.
pub fn build(
    m: &Machine,
    end: &[u64],
    timer: Option<&Timer>,
    cr3_loads: &[u64],
) -> Result<Guest, String> {
    let cpu = &m.cpu;
    if cpu.long_mode_active() {
        return Err("64-bit scenarios are built by guest64".into());
    }
    if cpu.cr4 & 0x20 == 0 || cpu.cr0 & 0x8000_0000 == 0 {
        return Err("only PAE-paged protected-mode scenarios are built".into());
    }
    let nxe = cpu.efer() & EFER_NXE != 0;
    let (mut blob, frames_start) = page_table_blob(m, nxe)?;
    for &e in end {
        if let Some(p) = phys_in_blob(m, frames_start, e) {
            blob[p as usize] = 0xeb;
            blob[p as usize + 1] = 0xfe;
        }
    }
    // LTR needs an available TSS descriptor; it sets the busy bit itself.
    let tr_sel = cpu.tr.selector as u64;
    if tr_sel & !7 != 0 {
        let type_byte = cpu.gdtr.base + (tr_sel & !7) + 5;
        let p = phys_in_blob(m, frames_start, type_byte).ok_or("the GDT is not in memory")?;
        blob[p as usize] &= !0x02;
    }

    let blob_end = BLOB_BASE + blob.len() as u64;
    let mut memory_mib = 32;
    let mut pdpt_copies = Vec::new();
    for &c in cr3_loads {
        let at = c & 0xffff_ffe0;
        if at == BLOB_BASE || pdpt_copies.contains(&at) {
            continue;
        }
        if at < blob_end && at + 32 > STUB_BASE {
            return Err(format!("CR3 {c:#x} collides with the guest's stub or blob"));
        }
        memory_mib = memory_mib.max(((at + 32) >> 20) as u32 + 1);
        pdpt_copies.push(at);
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
    // No interrupts from the PIC: mask both.
    let _ = writeln!(w, "  mov $0xff, %al\n  out %al, $0x21\n  out %al, $0xa1");
    for at in &pdpt_copies {
        let _ = writeln!(
            w,
            "  cld\n  mov ${BLOB_BASE:#x}, %esi\n  mov ${at:#x}, %edi\n  mov $8, %ecx\n  rep movsl"
        );
    }
    // After the copies (QEMU counts each REP iteration as an instruction).
    if let Some(t) = timer {
        arm_timer(w, t);
    }
    for (index, value) in cpu.msrs() {
        let wanted = matches!(index, 0x174..=0x176) || index == EFER;
        if !wanted {
            continue;
        }
        let _ = writeln!(
            w,
            "  mov ${index:#x}, %ecx\n  mov ${:#x}, %eax\n  mov ${:#x}, %edx\n  wrmsr",
            value & 0xffff_ffff,
            value >> 32
        );
    }
    let _ = writeln!(w, "  mov ${:#x}, %eax\n  mov %eax, %cr3", BLOB_BASE);
    let _ = writeln!(w, "  mov ${:#x}, %eax\n  mov %eax, %cr4", cpu.cr4);
    let _ = writeln!(
        w,
        "  mov ${:#x}, %eax\n  mov %eax, %cr0\n  jmp 1f\n1:",
        cpu.cr0
    );
    // LDTR null (QEMU starts with the reset cache: base 0, limit FFFFH, usable).
    let _ = writeln!(
        w,
        "  lgdt gdtr_value\n  lidt idtr_value\n  xor %eax, %eax\n  lldt %ax"
    );
    if tr_sel & !7 != 0 {
        let _ = writeln!(w, "  mov ${tr_sel:#x}, %ax\n  ltr %ax");
    }
    let _ = writeln!(w, "  mov ${:#x}, %eax\n  mov %eax, %cr2", cpu.cr2);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        let _ = writeln!(
            w,
            "  mov ${:#x}, %ax\n  mov %ax, %{}",
            cpu.seg(s).selector,
            s.name()
        );
    }
    let gpr = |i: usize| cpu.gpr[i] & 0xffff_ffff;
    let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
    let load_gprs = |w: &mut String| {
        for (i, n) in names.iter().enumerate() {
            if i != 4 {
                let _ = writeln!(w, "  mov ${:#x}, %{n}", gpr(i));
            }
        }
    };
    let cs = cpu.seg(SegReg::Cs).selector;
    let ss = cpu.seg(SegReg::Ss).selector;
    let eflags = cpu.rflags & 0xffff_ffff;
    if cpu.cpl() == 0 {
        let _ = writeln!(w, "  pushl ${eflags:#x}\n  popfl");
        let _ = writeln!(w, "  mov ${ss:#x}, %ax\n  mov %ax, %ss");
        let _ = writeln!(w, "  mov ${:#x}, %esp", gpr(4));
        load_gprs(w);
        let _ = writeln!(w, "  ljmp ${cs:#x}, ${:#x}", cpu.rip);
    } else {
        for v in [ss as u64, gpr(4), eflags, cs as u64, cpu.rip] {
            let _ = writeln!(w, "  pushl ${v:#x}");
        }
        load_gprs(w);
        let _ = writeln!(w, "  iret");
    }
    let _ = writeln!(
        w,
        "  .balign 8\n  .word 0\ngdtr_value:\n  .word {:#x}\n  .long {:#x}\n  .word 0\nidtr_value:\n  .word {:#x}\n  .long {:#x}",
        cpu.gdtr.limit, cpu.gdtr.base, cpu.idtr.limit, cpu.idtr.base
    );
    let _ = writeln!(
        w,
        "  .balign 16\n  .space 1024\nstack_top:\n.section .blob, \"a\"\n  .incbin \"blob.bin\""
    );
    if let Some(t) = timer {
        set_timer_count(&mut s, t)?;
    }
    Ok(Guest {
        asm: s,
        blob,
        frames_start,
        memory_mib,
    })
}

/// Assemble and link the guest in `dir` for 32- or 64-bit code; returns the path of a
/// 32-bit ELF image (a 64-bit one is converted: multiboot loaders refuse ELF64).
pub fn link(guest: &Guest, dir: &Path, bits: u32) -> Result<std::path::PathBuf, String> {
    use crate::common::run_tool;
    use std::process::Command;
    std::fs::write(dir.join("guest.S"), &guest.asm).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("blob.bin"), &guest.blob).map_err(|e| e.to_string())?;
    let (as_flag, emulation, linked) = if bits == 64 {
        ("--64", "elf_x86_64", "guest64.elf")
    } else {
        ("--32", "elf_i386", "guest.elf")
    };
    run_tool(
        Command::new("as")
            .current_dir(dir)
            .args([as_flag, "-o", "guest.o", "guest.S"]),
    )?;
    run_tool(Command::new("ld").current_dir(dir).args([
        "-m",
        emulation,
        "-nostdlib",
        &format!("-Ttext={STUB_BASE:#x}"),
        &format!("--section-start=.blob={BLOB_BASE:#x}"),
        "-o",
        linked,
        "guest.o",
    ]))?;
    if bits == 64 {
        run_tool(Command::new("objcopy").current_dir(dir).args([
            "-O",
            "elf32-i386",
            linked,
            "guest.elf",
        ]))?;
    }
    Ok(dir.join("guest.elf"))
}
