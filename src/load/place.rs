//! Putting an image into a machine: its segments become memory regions (replacing the
//! machine's vDSO page), its symbols join the machine's, the preset's kernel is made to
//! return to the image's landing address, and the CPU is set up as if user code had just
//! called the entry point.

use crate::asm::{self, SourceSection};
use crate::lesson::{library, CodeSection, SourceLine};
use crate::machine::cpu::{reg_by_name, RegName};
use crate::machine::memory::{Region, PAGE_SIZE};
use crate::machine::{Machine, Perm, Symbols};
use crate::scenario::Scenario;

use super::image::{Image, Kind};
use super::LoadError;

/// Names of regions that hold a machine's vDSO (replaced by a loaded object).
pub const VDSO_REGIONS: &[&str] = &["vsyscall", "vdso"];

/// Where a 64-bit shared object linked at 0 goes when the machine has no vDSO region:
/// ringstep's choice, in the user half below the preset's user stack.
pub const DEFAULT_BASE_64: u64 = 0x7fff_f7fc_1000;

/// Where a 32-bit shared object linked at 0 goes in a 64-bit machine (a 32-bit process
/// on a 64-bit kernel): below 4 GiB, under the stack, where Linux maps a compat
/// process's vdso32 (ringstep's choice of page; the kernel randomises it).
pub const COMPAT_VDSO_BASE: u64 = 0xf7fc_5000;
/// A 32-bit process's stack on a 64-bit kernel: the pages below 0xffffe000 (the top of
/// a compat task's address space, IA32_PAGE_OFFSET - PAGE_SIZE, in Linux), and the ESP
/// it starts with.
pub const COMPAT_STACK: (u64, u64) = (0xffff_c000, 0x2000);
pub const COMPAT_ESP: u64 = 0xffff_d3c0;
/// The selectors of a 32-bit process under a 64-bit Linux kernel: __USER32_CS and
/// __USER_DS (arch/x86/include/asm/segment.h).
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;

/// The i386 preset's kernel source, re-assembled to return to the loaded object.
pub const I386_PRESET: &str = "linux-2.6-i386";
const I386_KERNEL_SOURCE: &str = "assets/presets/src/linux-2.6-i386-kernel.S";

/// __NR_getpid of each preset's system call table.
pub fn preset_getpid(preset: &str) -> Option<u64> {
    match preset {
        "linux-2.6-i386" => Some(20),
        "linux-x86_64" => Some(39),
        _ => None,
    }
}

/// The machine's vDSO region, if it has one.
pub fn vdso_region(m: &Machine) -> Option<&Region> {
    m.mem
        .regions()
        .iter()
        .find(|r| VDSO_REGIONS.contains(&r.name.as_str()))
}

/// The default base for a movable object in this machine.
pub fn default_base(m: &Machine) -> u64 {
    match vdso_region(m) {
        Some(r) => r.base,
        None if m.cpu.long_mode_active() => DEFAULT_BASE_64,
        None => 0xffff_e000,
    }
}

/// The default base for a movable object of `bits`-bit code: 32-bit code in a 64-bit
/// machine is a compat process's vdso32.
fn default_base_for(m: &Machine, bits: u32) -> u64 {
    if bits == 32 && m.cpu.long_mode_active() {
        match vdso_region(m) {
            Some(r) if r.end() <= 1 << 32 => r.base,
            _ => COMPAT_VDSO_BASE,
        }
    } else {
        default_base(m)
    }
}

/// Whether a 64-bit machine can run a 32-bit process: its GDT must hold a DPL 3 32-bit
/// code segment at __USER32_CS (0x23) and a DPL 3 writable data segment at __USER_DS
/// (0x2b), as a Linux kernel with IA32 emulation has.
pub fn check_compat(m: &Machine) -> Result<(), String> {
    let cs = m
        .gdt_entry(USER32_CS)
        .ok_or("its GDT has no entry for __USER32_CS (0x23)")?
        .attr();
    if !(cs.s() && cs.is_code() && cs.dpl() == 3 && cs.present() && !cs.l() && cs.db()) {
        return Err(
            "GDT entry 0x23 is not a present DPL 3 32-bit code segment (__USER32_CS)".into(),
        );
    }
    let ds = m
        .gdt_entry(USER_DS)
        .ok_or("its GDT has no entry for __USER_DS (0x2b)")?
        .attr();
    if !(ds.s() && ds.is_data() && ds.writable() && ds.dpl() == 3 && ds.present()) {
        return Err("GDT entry 0x2b is not a present DPL 3 writable data segment".into());
    }
    Ok(())
}

/// Tell the kernel where the loaded vdso32 is: current->mm->context.vdso (this preset's
/// `task.mm_context_vdso`) and vdso_image_32.sym_int80_landing_pad (`vdso_image_32`),
/// from which do_fast_syscall_32 computes the EIP that SYSENTER and SYSCALL return to.
/// A machine without these symbols is left as it is.
pub fn compat_vdso(m: &mut Machine, vdso: u64, landing: u64) -> Result<(), String> {
    let (Some(task), Some(image)) = (
        m.symbols.get("task.mm_context_vdso"),
        m.symbols.get("vdso_image_32"),
    ) else {
        return Ok(());
    };
    for a in [task, image] {
        if m.mem.region_at(a).is_none() {
            return Err(format!(
                "the kernel's vDSO bookkeeping at {a:#x} is outside memory"
            ));
        }
    }
    m.mem.poke_le(task, 8, vdso);
    m.mem.poke_le(image, 8, landing.wrapping_sub(vdso));
    Ok(())
}

/// Make the machine's user process a 32-bit one, as the kernel's ELF loader does for an
/// i386 binary: CS = __USER32_CS (compatibility mode), SS = DS = ES = __USER_DS, FS and
/// GS null, and a stack below 4 GiB (the region `user32_stack`).
pub fn compat_process(m: &mut Machine) -> Result<(), String> {
    let (base, size) = COMPAT_STACK;
    let free = !m
        .mem
        .regions()
        .iter()
        .any(|r| r.base < base + size && base < r.end());
    if free {
        m.mem
            .add_region(Region {
                name: "user32_stack".into(),
                base,
                size,
                perm: Perm {
                    user: true,
                    writable: true,
                    exec: false,
                },
                phys: None,
            })
            .map_err(|e| e.to_string())?;
        crate::machine::pagebuild::rebuild(m, &[], &["user32_stack".to_string()])?;
    }
    let seg = |m: &Machine, sel: u16| -> Result<crate::machine::Segment, String> {
        let d = m
            .gdt_entry(sel)
            .ok_or(format!("no GDT entry for {sel:#x}"))?;
        Ok(d.to_segment(sel))
    };
    use crate::machine::{SegReg, Segment};
    m.cpu.seg[SegReg::Cs as usize] = seg(m, USER32_CS)?;
    for s in [SegReg::Ss, SegReg::Ds, SegReg::Es] {
        m.cpu.seg[s as usize] = seg(m, USER_DS)?;
    }
    for s in [SegReg::Fs, SegReg::Gs] {
        m.cpu.seg[s as usize] = Segment::null(0);
    }
    m.cpu.gpr[crate::machine::cpu::RSP] = COMPAT_ESP;
    Ok(())
}

fn page_down(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// The regions the image's segments need: (name, base, size, perm, segment index).
fn image_regions(image: &Image, file: &str) -> Result<Vec<Region>, LoadError> {
    let mut out: Vec<Region> = Vec::new();
    for (i, s) in image.segments.iter().enumerate() {
        let base = page_down(s.addr);
        let end = page_up(s.end()).ok_or_else(|| {
            LoadError::new(
                &image.origin,
                format!(
                    "segment at {:#x} runs past the end of the address space",
                    s.addr
                ),
            )
        })?;
        let perm = Perm {
            user: true,
            writable: s.write,
            exec: s.exec,
        };
        if let Some(prev) = out.last() {
            if base < prev.end() {
                return Err(LoadError::new(
                    &image.origin,
                    format!(
                        "segments {} and {} share the page at {:#x}; ringstep maps whole 4 KiB pages, so segments must not share one",
                        i,
                        i + 1,
                        base
                    ),
                ));
            }
        }
        let name = if image.segments.len() == 1 {
            file.to_string()
        } else {
            format!("{file} {}", s.perm_text())
        };
        out.push(Region {
            name,
            base,
            size: end - base,
            perm,
            phys: None,
        });
    }
    Ok(out)
}

/// Put the image's segments into the machine's memory, dropping the vDSO region it
/// replaces (and the names in it). Other overlaps are errors.
pub fn map(m: &mut Machine, image: &Image, file: &str) -> Result<Vec<Region>, LoadError> {
    let new = image_regions(image, file)?;
    let mut dropped: Vec<Region> = Vec::new();
    for r in m.mem.regions() {
        let hit = new.iter().find(|n| n.base < r.end() && r.base < n.end());
        if let Some(n) = hit {
            if VDSO_REGIONS.contains(&r.name.as_str()) {
                dropped.push(r.clone());
            } else {
                return Err(LoadError::new(
                    &image.origin,
                    format!(
                        "its memory {:#x}..{:#x} overlaps the machine's region `{}` ({:#x}..{:#x}); place it elsewhere with --base",
                        n.base,
                        n.end(),
                        r.name,
                        r.base,
                        r.end()
                    ),
                ));
            }
        }
    }
    for r in &dropped {
        m.mem.remove_region(&r.name);
    }
    for r in &new {
        m.mem
            .add_region(r.clone())
            .map_err(|e| LoadError::new(&image.origin, e.to_string()))?;
    }
    for s in &image.segments {
        m.mem.poke(s.addr, &s.bytes);
    }
    let names = |rs: &[Region]| rs.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    crate::machine::pagebuild::rebuild(m, &names(&dropped), &names(&new))
        .map_err(|e| LoadError::new(&image.origin, e))?;

    // Names: the machine's, less those inside dropped regions, then the image's.
    let in_dropped = |a: u64| dropped.iter().any(|r| r.contains(a));
    let mut syms = Symbols::new();
    let old: Vec<(String, u64)> = m.symbols.iter().map(|(n, a)| (n.to_string(), a)).collect();
    // The first name at an address is the one listings show: keep it first.
    for (n, a) in &old {
        if !in_dropped(*a) && m.symbols.name_at(*a) == Some(n.as_str()) {
            syms.insert(n, *a);
        }
    }
    for (n, a) in &old {
        if !in_dropped(*a) && m.symbols.name_at(*a) != Some(n.as_str()) {
            syms.insert(n, *a);
        }
    }
    for (n, a) in &image.symbols {
        syms.insert(n, *a);
    }
    m.symbols = syms;
    Ok(dropped)
}

/// Re-assemble the i386 preset's kernel text with SYSENTER_RETURN at `landing`, so that
/// its sysenter_entry returns into the loaded object. Returns the code section (with the
/// kernel source lines) for the listing.
pub fn i386_kernel(m: &mut Machine, landing: u64) -> Result<CodeSection, LoadError> {
    let origin = I386_KERNEL_SOURCE;
    let text = library::file(origin)
        .ok_or_else(|| LoadError::new(origin, "the preset's kernel source is missing"))?;
    let region = m
        .mem
        .region_named("kernel_text")
        .cloned()
        .ok_or_else(|| LoadError::new(origin, "the machine has no region `kernel_text`"))?;
    let sections = [SourceSection {
        name: "kernel_text",
        base: region.base,
        text,
    }];
    let layout = asm::layout(&sections, 32).map_err(|e| LoadError::new(origin, e.to_string()))?;
    let known: Vec<&str> = m.symbols.names().collect();
    let symbols = m.symbols.clone();
    let resolve = |name: &str| {
        if name == "SYSENTER_RETURN" {
            Some(landing)
        } else {
            symbols.get(name)
        }
    };
    let assembled = layout
        .encode(&resolve, &known)
        .map_err(|e| LoadError::new(origin, e.to_string()))?;
    let Some(a) = assembled.into_iter().next() else {
        return Err(LoadError::new(origin, "assembled to nothing"));
    };
    if a.bytes.len() as u64 > region.size {
        return Err(LoadError::new(origin, "does not fit in kernel_text"));
    }
    m.mem.poke(a.base, &a.bytes);
    for (n, addr) in layout.labels() {
        if !n.starts_with(".L") && m.symbols.get(n).is_none() {
            m.symbols.insert(n, *addr);
        }
    }
    if m.symbols.name_at(landing).is_none() {
        m.symbols.insert("SYSENTER_RETURN", landing);
    }
    Ok(CodeSection {
        region: region.name.clone(),
        base: a.base,
        bytes: a.bytes.clone(),
        origin: origin.to_string(),
        source: text.to_string(),
        bits: 32,
        lines: SourceLine::from_assembly(&a.lines, text),
    })
}

/// Set a register by name (`--set eax=20`).
pub fn set_register(m: &mut Machine, name: &str, value: u64) -> Result<(), String> {
    let long = m.cpu.long_mode_active();
    match reg_by_name(name) {
        Some(RegName::Gpr { index, bytes }) => {
            if (index >= 8 || bytes == 8) && !long {
                return Err(format!(
                    "--set {name}: a 64-bit register, but the machine runs 32-bit code"
                ));
            }
            if !long && value > u64::from(u32::MAX) {
                return Err(format!("--set {name}={value:#x}: does not fit in 32 bits"));
            }
            if bytes == 4 && value > u64::from(u32::MAX) {
                return Err(format!("--set {name}={value:#x}: does not fit in 32 bits"));
            }
            // Writing a 32-bit register in 64-bit mode zero-extends it (SDM Vol. 1, 3.4.1.1).
            m.cpu.gpr[index] = value;
            Ok(())
        }
        Some(RegName::Flags) => {
            // Bit 1 always reads 1; the model keeps the rest as given.
            m.cpu.rflags = value | crate::machine::flags::RESERVED1;
            Ok(())
        }
        Some(RegName::Ip) => Err(format!(
            "--set {name}: the start address is chosen with --entry"
        )),
        None => Err(format!(
            "--set {name}: unknown register (general registers such as eax, ebx, esp, rdi, r8, or eflags)"
        )),
    }
}

/// Start at `entry` as if called: push `ret` on the user stack (8 bytes in 64-bit
/// mode, 4 in 32-bit code).
pub fn call(m: &mut Machine, entry: u64, ret: u64) -> Result<(), String> {
    let width = m.cpu.stack_width() as u64;
    let sp = m.cpu.sp().wrapping_sub(width);
    let sp = if width == 4 { sp & 0xffff_ffff } else { sp };
    match m.mem.region_at(sp) {
        Some(r) if r.perm.writable && r.contains(sp + width - 1) => {}
        _ => {
            return Err(format!(
                "the stack pointer {:#x} is not in writable memory, so the return address cannot be pushed (set it with --set esp=ADDR)",
                m.cpu.sp()
            ))
        }
    }
    m.mem.poke_le(sp, width as usize, ret);
    m.cpu.gpr[crate::machine::cpu::RSP] = sp;
    m.cpu.rip = entry;
    Ok(())
}

/// The end of the linear address space `bits`-bit code sees (4 GiB outside 64-bit mode).
fn address_limit(s: &Scenario, bits: u32) -> u64 {
    if s.machine.cpu.long_mode_active() && bits == 64 {
        u64::MAX
    } else {
        1 << 32
    }
}

/// Whether the image may be moved to another base.
pub fn movable(image: &Image) -> bool {
    image.kind != Kind::Executable
}

/// Decide the image's place: `base` if given, else the machine's vDSO address for an
/// object linked at 0. Moves the image there.
pub fn place(image: &mut Image, base: Option<u64>, s: &Scenario) -> Result<(), LoadError> {
    let (lo, _) = image.span();
    let link = page_down(lo);
    let target = match (base, image.kind) {
        (Some(_), Kind::Executable) => {
            return Err(LoadError::new(
                &image.origin,
                "--base: an executable (ET_EXEC) has fixed addresses; only a shared object can be moved",
            ))
        }
        (Some(b), _) => {
            if b % PAGE_SIZE != 0 {
                return Err(LoadError::new(
                    &image.origin,
                    format!("--base {b:#x}: must be a multiple of 4096 (a page)"),
                ));
            }
            b
        }
        (None, Kind::Shared) if link == 0 => {
            // The vDSO page is the last one below 4 GiB on i386; an object larger than a
            // page (plain `ld -shared` output pads code into pages of its own) is placed so
            // that it ends where the address space ends instead of running past it.
            let base = default_base_for(&s.machine, image.bits);
            let size = page_up(image.span().1.wrapping_sub(link)).unwrap_or(u64::MAX);
            let top = address_limit(s, image.bits);
            if base.checked_add(size).is_none_or(|end| end > top) && size <= top {
                top - size
            } else {
                base
            }
        }
        (None, _) => link,
    };
    if target != link {
        if image.relocations > 0 {
            return Err(LoadError::new(
                &image.origin,
                format!(
                    "has {} dynamic relocations; ringstep does not apply relocations, so it can only be loaded at its link address {link:#x} (a vDSO has none)",
                    image.relocations
                ),
            ));
        }
        image.shift(target.wrapping_sub(link));
    }
    let (lo, hi) = image.span();
    let limit = address_limit(s, image.bits);
    if hi < lo || hi > limit {
        return Err(LoadError::new(
            &image.origin,
            format!(
                "placed at {:#x} its {:#x} bytes would run past the end of the address space; choose a lower --base",
                page_down(lo),
                hi.wrapping_sub(page_down(lo))
            ),
        ));
    }
    Ok(())
}
