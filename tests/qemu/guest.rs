//! Turn a protected-mode scenario's initial machine into a bare-metal multiboot guest for
//! qemu-system-x86_64 whose physical memory is the machine's (`fit`, `memory_image`:
//! every allocated frame, page tables included, at its physical address), and a stub
//! (identity-mapped by those very tables) that arms the local-APIC timer for a scheduled interrupt (`Timer`), writes the MSRs,
//! enables paging with the machine's CR3, CR4 and CR0, loads GDTR/IDTR/TR/CR2 and the segment registers, then enters the
//! scenario's code at its CPL (`iret` to an outer ring, or `ljmp` at CPL 0) with every
//! general register as the scenario has it.

use std::fmt::Write as _;
use std::path::Path;

use ringstep::machine::{Machine, SegReg};

/// Where the linker puts the stub (and where it is identity-mapped after paging is on).
pub const STUB_BASE: u64 = 0x10_0000;
/// How much of the stub is identity-mapped (code, data and its stack).
pub const STUB_SIZE: u64 = 0x4000;
/// A physical address in the guest's free RAM (the 32-bit random programs' CR3).
pub const BLOB_BASE: u64 = 0x20_0000;

const PAGE: u64 = 0x1000;
const EFER: u32 = 0xc000_0080;

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

/// A guest ready to link: assembly text and the machine's physical memory.
pub struct Guest {
    pub asm: String,
    /// Runs of adjacent allocated frames: (physical address, bytes), each linked at its
    /// physical address (one section and program header each).
    pub segments: Vec<(u64, Vec<u8>)>,
    /// Guest RAM QEMU needs (MiB).
    pub memory_mib: u32,
}

/// Guest RAM for every guest (MiB).
pub const RAM_MIB: u32 = 128;
/// The end of the physical memory a machine's frames may use: the RAM below the top
/// 4 MiB (where the BIOS keeps its tables).
const PHYS_END: u64 = ((RAM_MIB as u64) << 20) - (4 << 20);
/// The region `fit` adds for the stub, so that ringstep's tables map it as QEMU's do.
pub const STUB_REGION: &str = "qemu guest stub";

/// Make `m` a machine QEMU's PC can hold as it is (issue 13: the guest's physical
/// memory is ringstep's, page tables included): regions whose physical memory lies
/// where the guest has no free RAM (below the end of the stub, in the BIOS's top of
/// RAM, the PCI hole, above 4 GiB) move to free low RAM (`Memory::relocate`), the stub
/// becomes an identity-mapped supervisor region of every address space, and the page
/// tables are made again (`pagebuild::rebuild`). Frames of the old tables are freed.
/// Does nothing to a machine it already fitted.
pub fn fit(m: &mut Machine) -> Result<(), String> {
    use ringstep::machine::{pagebuild, Perm, Region};
    if m.mem.region_named(STUB_REGION).is_some() {
        return Ok(());
    }
    let Some(mut plan) = m.layout.clone() else {
        return Err("a machine with page tables of its own (no layout to rebuild)".into());
    };
    let stub_end = STUB_BASE + STUB_SIZE;
    for s in &plan.spaces {
        let root = s.root & !(PAGE - 1);
        if root < stub_end || root + PAGE > PHYS_END {
            return Err(format!(
                "a top-level page table at {:#x}, outside the guest's free RAM",
                s.root
            ));
        }
    }
    let roots: Vec<u64> = plan.spaces.iter().map(|s| s.root & !(PAGE - 1)).collect();
    // The old tables: freed (the build makes new ones).
    if let Some((start, end)) = plan.built.take() {
        m.mem.release_phys(start, end);
        let live: Vec<std::ops::Range<u64>> =
            m.mem.regions().iter().map(|r| r.phys_range()).collect();
        m.mem.retain_frames(|a| {
            !(start..end).contains(&a) || roots.contains(&a) || live.iter().any(|r| r.contains(&a))
        });
    }
    if matches!(plan.pool, Some(p) if p < stub_end || p >= PHYS_END) {
        plan.pool = None;
    }
    m.mem.reserve_phys(0, stub_end);
    let regions: Vec<Region> = m.mem.regions().to_vec();
    for r in &regions {
        let p = r.phys_range();
        if p.start < stub_end || p.end > PHYS_END {
            let to = m.mem.free_phys(stub_end, r.size, PAGE);
            if to + r.size > PHYS_END {
                return Err(format!("no room in the guest's RAM for region {}", r.name));
            }
            m.mem.relocate(&r.name, to)?;
        }
    }
    m.mem.retain_frames(|a| a >= stub_end);
    let mut stub = Region::new(
        STUB_REGION,
        STUB_BASE,
        STUB_SIZE,
        Perm {
            user: false,
            writable: true,
            exec: true,
        },
    );
    stub.phys = Some(STUB_BASE);
    m.mem
        .add_region(stub)
        .map_err(|e| format!("the guest's stub: {e}"))?;
    for s in &mut plan.spaces {
        s.regions.push(STUB_REGION.into());
    }
    m.layout = Some(plan);
    pagebuild::rebuild(m, &[], &[])?;
    match m
        .mem
        .frame_addrs()
        .into_iter()
        .find(|&a| a < stub_end || a + PAGE > PHYS_END)
    {
        Some(a) => Err(format!("a frame at {a:#x} outside the guest's free RAM")),
        None => Ok(()),
    }
}

/// Set the accessed flag of every paging-structure entry on the stub's walks (and the
/// dirty flag of its pages), so that the stub's own accesses in QEMU (booting, the
/// session's reset routine) leave the tables as ringstep's machine has them.
pub fn preset_stub_accessed(m: &mut Machine) {
    let mut va = STUB_BASE;
    while va < STUB_BASE + STUB_SIZE {
        let w = m.walk(va);
        for l in w.levels() {
            if l.has_accessed {
                let flags = if l.leaf { 0x60 } else { 0x20 };
                m.mem.poke_phys_le(l.addr, l.size as usize, l.entry | flags);
            }
        }
        va += PAGE;
    }
}

/// The machine's allocated frames as runs of adjacent pages (the stub's pages left
/// out: the linker puts the stub there).
pub fn frame_segments(m: &Machine) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for a in m.mem.frame_addrs() {
        if (STUB_BASE..STUB_BASE + STUB_SIZE).contains(&a) {
            continue;
        }
        let mut page = vec![0u8; PAGE as usize];
        m.mem.peek_phys(a, &mut page);
        match out.last_mut() {
            Some((at, bytes)) if *at + bytes.len() as u64 == a => bytes.extend(page),
            _ => out.push((a, page)),
        }
    }
    out
}

/// Write `bytes` at physical `phys` in `segments` (false if no segment holds it).
fn patch(segments: &mut [(u64, Vec<u8>)], phys: u64, bytes: &[u8]) -> bool {
    for (at, data) in segments.iter_mut() {
        if phys >= *at && phys + bytes.len() as u64 <= *at + data.len() as u64 {
            let o = (phys - *at) as usize;
            data[o..o + bytes.len()].copy_from_slice(bytes);
            return true;
        }
    }
    false
}

/// The guest's physical memory for `m`: its frames, with `jmp .` at the `end` addresses
/// and the TSS descriptor available (LTR needs one; it sets the busy bit itself).
pub fn memory_image(m: &Machine, end: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut segments = frame_segments(m);
    for &e in end {
        if let Some(p) = m.phys_of(e) {
            patch(&mut segments, p, &[0xeb, 0xfe]);
        }
    }
    let cpu = &m.cpu;
    let tr_sel = cpu.tr.selector as u64;
    if tr_sel & !7 != 0 {
        let type_byte = cpu.gdtr.base + (tr_sel & !7) + 5;
        let p = m.phys_of(type_byte).ok_or("the GDT is not mapped")?;
        let mut b = [0u8];
        m.mem.peek_phys(p, &mut b);
        patch(&mut segments, p, &[b[0] & !0x02]);
    }
    Ok(segments)
}

/// Build the guest for a protected-mode machine (PAE paging as the scenario's CR4 says).
/// `end` addresses get a `jmp .` so QEMU idles there once the scenario is done. The
/// machine must be fitted (`fit`): the guest's physical memory is its frames, page
/// tables included, and CR3 is its CR3, so every address space it has is QEMU's too.
pub fn build(m: &Machine, end: &[u64], timer: Option<&Timer>) -> Result<Guest, String> {
    let cpu = &m.cpu;
    if cpu.long_mode_active() {
        return Err("64-bit scenarios are built by guest64".into());
    }
    if cpu.cr4 & 0x20 == 0 || cpu.cr0 & 0x8000_0000 == 0 {
        return Err("only PAE-paged protected-mode scenarios are built".into());
    }
    if m.mem.region_named(STUB_REGION).is_none() {
        return Err("the machine is not fitted for QEMU (`guest::fit`)".into());
    }
    let segments = memory_image(m, end)?;
    let tr_sel = cpu.tr.selector as u64;
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
    let _ = writeln!(
        w,
        "  mov ${:#x}, %eax\n  mov %eax, %cr3",
        cpu.cr3 & 0xffff_ffff
    );
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

/// Assemble and link the guest in `dir` for 32- or 64-bit code; returns the path of a
/// 32-bit ELF image (a 64-bit one is converted: multiboot loaders refuse ELF64).
pub fn link(guest: &Guest, dir: &Path, bits: u32) -> Result<std::path::PathBuf, String> {
    use crate::common::run_tool;
    use std::process::Command;
    let mut asm = guest.asm.clone();
    let mut sections = Vec::new();
    for (n, (at, bytes)) in guest.segments.iter().enumerate() {
        let file = format!("frames{n}.bin");
        std::fs::write(dir.join(&file), bytes).map_err(|e| e.to_string())?;
        asm += &format!(".section .frames{n}, \"a\"\n  .incbin \"{file}\"\n");
        sections.push(format!("--section-start=.frames{n}={at:#x}"));
    }
    std::fs::write(dir.join("guest.S"), &asm).map_err(|e| e.to_string())?;
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
    run_tool(
        Command::new("ld")
            .current_dir(dir)
            .args([
                "-m",
                emulation,
                "-nostdlib",
                &format!("-Ttext={STUB_BASE:#x}"),
            ])
            .args(&sections)
            .args(["-o", linked, "guest.o"]),
    )?;
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
