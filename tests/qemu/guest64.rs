//! Turn a 64-bit (IA-32e) scenario's initial machine into a multiboot guest for
//! qemu-system-x86_64. The multiboot entry is 32-bit: the stub copies the 4-level page
//! tables (built from the regions' rights) to the scenario's CR3 page and to its PTI twin
//! (CR3 with bit 12 flipped, so a `SWITCH_TO_KERNEL_CR3` still finds the same mappings),
//! enables PAE, writes EFER (LME plus the scenario's SCE and NXE), turns paging on, enters
//! 64-bit mode through a temporary GDT, then loads the scenario's GDTR, IDTR, TR, CR2, the
//! data selectors, the MSRs (STAR, LSTAR, CSTAR, FMASK, SYSENTER_*, FS/GS base,
//! KERNEL_GS_BASE) and every general register, and enters the scenario's CS:RIP at its CPL
//! with `iretq`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ringstep::machine::{Machine, SegReg};

use super::guest::{arm_timer, set_timer_count, Guest, Timer, BLOB_BASE, STUB_BASE, STUB_SIZE};

const PAGE: u64 = 0x1000;
const EFER: u32 = 0xc000_0080;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
const FS_BASE: u32 = 0xc000_0100;
const GS_BASE: u32 = 0xc000_0101;
/// Guest RAM (MiB) for 64-bit guests: room for the scenario's CR3 page.
pub const MEMORY_MIB: u32 = 128;

/// The pages of the scenario, in region order (the frame order of the blob).
fn pages(m: &Machine) -> Result<Vec<(u64, bool, bool, bool)>, String> {
    let mut pages = Vec::new();
    for r in m.mem.regions() {
        if r.base % PAGE != 0 || r.size % PAGE != 0 {
            return Err(format!("region {} is not page aligned", r.name));
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
    Ok(pages)
}

/// Blob: PML4 first, then the other tables, then the scenario's page frames.
fn page_table_blob(m: &Machine, nxe: bool) -> Result<(Vec<u8>, u64), String> {
    let pages = pages(m)?;
    // Tables keyed by (level, the address bits above the level's span): level 3 = PML4.
    let mut tables: BTreeMap<(u8, u64), u64> = BTreeMap::new();
    tables.insert((3, 0), 0);
    let stub: Vec<u64> = (0..STUB_SIZE / PAGE)
        .map(|i| STUB_BASE + i * PAGE)
        .collect();
    let all: Vec<u64> = pages
        .iter()
        .map(|p| p.0)
        .chain(stub.iter().copied())
        .collect();
    for &va in &all {
        let va = va & 0xffff_ffff_ffff;
        for level in [2u8, 1, 0] {
            let key = (level, va >> (12 + 9 * (level as u32 + 1)));
            let n = tables.len() as u64;
            tables.entry(key).or_insert(n);
        }
    }
    let frames_start = PAGE * tables.len() as u64;
    let mut blob = vec![0u8; frames_start as usize];
    let put = |blob: &mut Vec<u8>, at: u64, v: u64| {
        blob[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    };
    let map = |blob: &mut Vec<u8>, va: u64, pte: u64| {
        let va = va & 0xffff_ffff_ffff;
        for level in [3u8, 2, 1, 0] {
            let table = tables[&(level, va >> (12 + 9 * (level as u32 + 1)))] * PAGE;
            let index = (va >> (12 + 9 * level as u32)) & 0x1ff;
            let value = if level == 0 {
                pte
            } else {
                // Upper entries are permissive; the page-table entries carry the rights.
                let next = tables[&(level - 1, va >> (12 + 9 * level as u32))] * PAGE;
                (BLOB_BASE + next) | 0x7
            };
            put(blob, table + index * 8, value);
        }
    };
    for &va in &stub {
        map(&mut blob, va, va | 3);
    }
    for (n, &(va, user, writable, exec)) in pages.iter().enumerate() {
        let frame = frames_start + n as u64 * PAGE;
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
        map(&mut blob, va, pte);
    }
    for &(va, ..) in &pages {
        let mut bytes = vec![0u8; PAGE as usize];
        m.mem.peek(va, &mut bytes);
        blob.extend_from_slice(&bytes);
    }
    Ok((blob, frames_start))
}

/// Build the guest for a machine in IA-32e mode.
pub fn build(m: &Machine, end: &[u64], timer: Option<&Timer>) -> Result<Guest, String> {
    let cpu = &m.cpu;
    if !cpu.long_mode_active() {
        return Err("not a 64-bit scenario".into());
    }
    let nxe = cpu.efer() & EFER_NXE != 0;
    let (mut blob, frames_start) = page_table_blob(m, nxe)?;
    let guest = Guest {
        asm: String::new(),
        blob: Vec::new(),
        frames_start,
        memory_mib: MEMORY_MIB,
    };
    for &e in end {
        if let Some(p) = guest.blob_offset(m, e) {
            blob[p as usize] = 0xeb;
            blob[p as usize + 1] = 0xfe;
        }
    }
    // LTR needs an available TSS descriptor; it sets the busy bit itself.
    let tr_sel = cpu.tr.selector as u64;
    if tr_sel & !7 != 0 {
        let type_byte = cpu.gdtr.base + (tr_sel & !7) + 5;
        let p = guest
            .blob_offset(m, type_byte)
            .ok_or("the GDT is not in memory")?;
        blob[p as usize] &= !0x02;
    }
    // The scenario's CR3 page and its PTI twin get copies of the PML4.
    let pgd = cpu.cr3 & 0x000f_ffff_ffff_e000;
    let blob_end = BLOB_BASE + blob.len() as u64;
    if pgd < blob_end && pgd + 2 * PAGE > STUB_BASE || pgd + 2 * PAGE > (MEMORY_MIB as u64) << 20 {
        return Err(format!(
            "CR3 {:#x} collides with the guest's stub or blob",
            cpu.cr3
        ));
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
    for half in [pgd, pgd + PAGE] {
        let _ = writeln!(
            w,
            "  cld\n  mov ${BLOB_BASE:#x}, %esi\n  mov ${half:#x}, %edi\n  mov $1024, %ecx\n  rep movsl"
        );
    }
    // After the copies (QEMU counts each REP iteration as an instruction), before paging.
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
        memory_mib: MEMORY_MIB,
    })
}
