//! Building the machine a booted kernel starts on, from the kernel file's bytes: the
//! Multiboot (version 1) header, the ELF's PT_LOAD segments copied to their physical
//! addresses, the boot information structure, the hand-off state and the devices.
//! `ringstep boot` (src/load/boot.rs) and lessons with `[machine] boot.example` both
//! start from here.
//!
//! A Multiboot (version 1) ELF kernel is loaded as a Multiboot boot loader (GRUB, QEMU's
//! `-kernel`) loads it, following the Multiboot Specification 0.6.96
//! (<https://www.gnu.org/software/grub/manual/multiboot/multiboot.html>):
//!
//! - 3.1.1 "The layout of Multiboot header": the header (magic 0x1BADB002, flags,
//!   checksum with magic + flags + checksum = 0 mod 2^32) lies 4-aligned within the
//!   first 8192 bytes of the file. Flags bits 0-15 are requirements the loader must meet
//!   or refuse the kernel (3.1.2): ringstep meets bit 0 (modules page-aligned: it loads
//!   none) and bit 1 (memory information), not bit 2 (video mode table) nor the unknown
//!   bits 3-15; bit 16 (the "a.out kludge" address fields) is refused: the ELF program
//!   headers say where the kernel goes.
//! - The PT_LOAD segments are copied to their physical addresses (p_paddr), paging off.
//! - 3.2 "Machine state": EAX = 0x2BADB002, EBX = the physical address of a Multiboot
//!   information structure (3.3) built in memory, CS a 32-bit flat read/execute code
//!   segment, DS/ES/FS/GS/SS 32-bit flat read/write data segments (offset 0, limit
//!   0xFFFFFFFF), A20 enabled, CR0.PG = 0 and CR0.PE = 1, EFLAGS.VM = 0 and IF = 0.
//!   The rest is undefined by the spec; ringstep's choices are in [`Handoff`].
//!
//! A kernel with a Multiboot2 header boots the same way, with the Multiboot2 magic and
//! boot information instead (src/scenario/boot/multiboot2.rs; [`Protocol`] says which applies).
//!
//! The machine: 128 MiB of RAM (640 KiB of low memory and 127 MiB from 1 MiB, as the
//! memory map says), the kernel's segments, the UART, isa-debug-exit, port 0x80, the
//! 8259A PICs and the 8254 timer as the BIOS leaves them (src/machine/dev.rs,
//! `Devices::bios`). Exceptions are delivered architecturally
//! (`Machine::architectural_faults`): a missing handler is #GP or #NP, then #DF, then a
//! triple fault, as on the real processor. A plain ELF without a Multiboot header boots the same way when
//! `--entry` says where to start, with EAX = 0 instead of the magic.

use super::image::{Image, Kind};
use super::{parse_number, LoadError};
use crate::machine::cpu::{CR0_ET, CR0_PE, RAX, RBX, RSP};
use crate::machine::{flags, Machine, Perm, Region, SegReg, Segment, TableReg};
use crate::scenario::Scenario;

/// The Multiboot header's magic number.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// What EAX holds at the kernel's entry.
pub const BOOT_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie within this many bytes at the start of the file.
pub const SEARCH: usize = 8192;

/// Low memory: 640 KiB from 0.
pub const LOW_END: u64 = 0xa_0000;
/// Upper memory: from 1 MiB to 128 MiB.
pub const HIGH_START: u64 = 0x10_0000;
pub const HIGH_END: u64 = 0x800_0000;

/// The state ringstep chooses where the spec leaves it undefined.
pub struct Handoff;

impl Handoff {
    /// CS selector, the one QEMU's Multiboot loader uses (and 0x10 for the data
    /// segments). Only the hidden parts matter: GDTR is not valid (see `GDTR`).
    pub const CS: u16 = 0x08;
    pub const DS: u16 = 0x10;
    /// GDTR: base 0, limit 0 - the spec says it may be invalid and the kernel must load
    /// its own GDT before loading any segment register; a load before that is #GP.
    pub const GDTR: TableReg = TableReg { base: 0, limit: 0 };
    /// IDTR: the real-mode interrupt vector table the BIOS left (base 0, limit 0x3ff);
    /// the kernel must keep interrupts off until it loads its own IDT.
    pub const IDTR: TableReg = TableReg {
        base: 0,
        limit: 0x3ff,
    };
    /// ESP: 0x7c00, below where a BIOS loads a boot sector (the kernel must set up its
    /// own stack).
    pub const ESP: u64 = 0x7c00;
    /// CR0: PE and ET (the extension-type bit reads 1).
    pub const CR0: u64 = CR0_PE | CR0_ET;
    /// EFLAGS: only the reserved bit 1.
    pub const EFLAGS: u64 = flags::RESERVED1;
}

/// The Multiboot header found in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// File offset of the magic number.
    pub offset: usize,
    pub flags: u32,
}

/// How a kernel is booted: the Multiboot version whose header it carries, or plain.
/// A kernel with both headers boots as Multiboot2 (as GRUB's `multiboot2` command would
/// load it; its `multiboot` command would take the version 1 header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1(Header),
    V2(super::multiboot2::Header),
    /// No header: `--entry` says where to start, EAX = 0.
    Plain,
}

impl Protocol {
    /// Find the headers in `data`: a valid Multiboot2 header wins over a version 1 one.
    pub fn of(data: &[u8], origin: &str) -> Result<Protocol, LoadError> {
        if let Some(h) = super::multiboot2::find_header(data, origin)? {
            return Ok(Protocol::V2(h));
        }
        Ok(find_header(data, origin)?.map_or(Protocol::Plain, Protocol::V1))
    }

    /// EAX at entry.
    pub fn magic(&self) -> u32 {
        match self {
            Protocol::V1(_) => BOOT_MAGIC,
            Protocol::V2(_) => super::multiboot2::BOOT_MAGIC,
            Protocol::Plain => 0,
        }
    }
}

/// Flags bits ringstep can meet (0: page-aligned modules, 1: memory information).
const SUPPORTED_FLAGS: u32 = 0b11;
const AOUT_KLUDGE: u32 = 1 << 16;

/// Find the Multiboot header in the first 8192 bytes. Ok(None): no magic number at all.
pub fn find_header(data: &[u8], origin: &str) -> Result<Option<Header>, LoadError> {
    let end = data.len().min(SEARCH);
    let word = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let mut bad = None;
    let mut at = 0;
    while at + 12 <= end {
        if word(at) == HEADER_MAGIC {
            let flags = word(at + 4);
            let checksum = word(at + 8);
            if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) == 0 {
                return check_flags(Header { offset: at, flags }, origin).map(Some);
            }
            bad.get_or_insert((at, flags, checksum));
        }
        at += 4;
    }
    match bad {
        Some((at, flags, checksum)) => Err(LoadError::new(
            origin,
            format!(
                "the Multiboot header at file offset {at:#x} has a bad checksum: {checksum:#010x}, but magic + flags + checksum must be 0 (mod 2^32), so with flags {flags:#010x} it must be {:#010x} (Multiboot spec 3.1.1)",
                0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags)
            ),
        )),
        None => Ok(None),
    }
}

fn check_flags(h: Header, origin: &str) -> Result<Header, LoadError> {
    let at = h.offset;
    if h.flags & AOUT_KLUDGE != 0 {
        return Err(LoadError::new(
            origin,
            format!(
                "the Multiboot header at file offset {at:#x} sets flags bit 16 (the a.out kludge: load addresses in the header), which ringstep does not support; it loads ELF kernels by their program headers, so clear the bit"
            ),
        ));
    }
    let unmet = h.flags & 0xffff & !SUPPORTED_FLAGS;
    if unmet != 0 {
        let bit = unmet.trailing_zeros();
        let what = if bit == 2 {
            "bit 2: a video mode table, which ringstep cannot provide (it has no display)"
                .to_string()
        } else {
            format!("bit {bit}, a requirement the specification does not define")
        };
        return Err(LoadError::new(
            origin,
            format!(
                "the Multiboot header at file offset {at:#x} (flags {:#010x}) requires {what}; bits 0-15 are requirements a boot loader must meet or refuse the kernel (Multiboot spec 3.1.2)",
                h.flags
            ),
        ));
    }
    Ok(h)
}

/// Where the Multiboot information goes: the first of these pages the kernel leaves
/// free (all in low memory).
const INFO_PAGES: [u64; 4] = [0x9000, 0x8000, 0x1000, 0x9f000];

/// The information structure's parts, at offsets in its page.
const MMAP_OFF: u64 = 0x100;
const NAME_OFF: u64 = 0x200;
const CMDLINE_OFF: u64 = 0x300;

/// The name in `boot_loader_name`.
pub fn loader_name() -> String {
    format!("ringstep {}", env!("CARGO_PKG_VERSION"))
}

/// The memory map: (base, length, type), type 1 available, 2 reserved.
pub const MEMORY_MAP: [(u64, u64, u32); 3] = [
    (0, LOW_END, 1),
    (0xf_0000, 0x1_0000, 2),
    (HIGH_START, HIGH_END - HIGH_START, 1),
];

/// Build the Multiboot information structure (spec 3.3) in the page at `page`: flags
/// 0x245 (mem_lower/mem_upper, cmdline, mmap, boot_loader_name).
fn write_info(m: &mut Machine, page: u64, cmdline: &str) {
    let mut info = [0u8; 116];
    let put = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut info, 0, 0x245);
    put(&mut info, 4, (LOW_END / 1024) as u32);
    put(&mut info, 8, ((HIGH_END - HIGH_START) / 1024) as u32);
    put(&mut info, 16, (page + CMDLINE_OFF) as u32);
    let mut mmap = Vec::new();
    for (base, len, ty) in MEMORY_MAP {
        mmap.extend_from_slice(&20u32.to_le_bytes());
        mmap.extend_from_slice(&base.to_le_bytes());
        mmap.extend_from_slice(&len.to_le_bytes());
        mmap.extend_from_slice(&ty.to_le_bytes());
    }
    put(&mut info, 44, mmap.len() as u32);
    put(&mut info, 48, (page + MMAP_OFF) as u32);
    put(&mut info, 64, (page + NAME_OFF) as u32);
    m.mem.poke(page, &info);
    m.mem.poke(page + MMAP_OFF, &mmap);
    let mut name = loader_name().into_bytes();
    name.push(0);
    m.mem.poke(page + NAME_OFF, &name);
    let room = (0x1000 - CMDLINE_OFF - 1) as usize;
    let mut cmd: Vec<u8> = cmdline.bytes().take(room).collect();
    cmd.push(0);
    m.mem.poke(page + CMDLINE_OFF, &cmd);
    for (name, off) in [
        ("multiboot_info", 0),
        ("multiboot_mmap", MMAP_OFF),
        ("multiboot_loader_name", NAME_OFF),
        ("multiboot_cmdline", CMDLINE_OFF),
    ] {
        m.symbols.insert(name, page + off);
    }
}

/// Build the Multiboot2 boot information (Multiboot2 spec 3.6) at the start of the page
/// at `page` (8-aligned): the same memory, command line and loader name as version 1.
fn write_info2(m: &mut Machine, page: u64, cmdline: &str) {
    let map: Vec<(u64, u64, u32)> = MEMORY_MAP.to_vec();
    let mem = (
        (LOW_END / 1024) as u32,
        ((HIGH_END - HIGH_START) / 1024) as u32,
    );
    let info = super::multiboot2::build_info(cmdline, &loader_name(), mem, &map, 0x1000);
    m.mem.poke(page, &info);
    m.symbols.insert("multiboot_info", page);
}

/// "; optional and not honoured: ..." for the optional tags of a Multiboot2 header
/// that ringstep passes over (empty when there are none).
fn ignored(h: &super::multiboot2::Header) -> String {
    let names: Vec<String> = h
        .ignored
        .iter()
        .map(|(n, at)| format!("{n} at {at:#x}"))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; optional and not honoured: {}", names.join(", "))
    }
}

/// The physical pages the kernel's segments take, merged where they share a page:
/// (start, end, perm, description).
fn kernel_spans(image: &Image) -> Vec<(u64, u64, Perm, String)> {
    let mut spans: Vec<(u64, u64, Perm, String)> = Vec::new();
    for s in &image.segments {
        let lo = s.phys & !0xfff;
        let hi = (s.phys + s.bytes.len() as u64 + 0xfff) & !0xfff;
        let perm = Perm {
            user: false,
            writable: s.write,
            exec: s.exec,
        };
        match spans.last_mut() {
            Some(last) if lo < last.1 => {
                last.1 = last.1.max(hi);
                last.2.writable |= perm.writable;
                last.2.exec |= perm.exec;
                last.3.push_str(&format!("+{}", s.perm_text()));
            }
            _ => spans.push((lo, hi, perm, s.perm_text())),
        }
    }
    spans
}

/// Regions covering `[lo, hi)` except the `taken` ranges, named `name`, `name 2`, ...
fn carve(name: &str, lo: u64, hi: u64, taken: &[(u64, u64)], out: &mut Vec<Region>) {
    let perm = Perm {
        user: false,
        writable: true,
        exec: true,
    };
    let mut at = lo;
    let mut n = 0;
    let mut push = |a: u64, b: u64, out: &mut Vec<Region>| {
        if b > a {
            n += 1;
            let label = if n == 1 {
                name.to_string()
            } else {
                format!("{name} {n}")
            };
            let mut r = Region::new(&label, a, b - a, perm);
            r.phys = Some(a);
            out.push(r);
        }
    };
    for &(s, e) in taken {
        if e <= at || s >= hi {
            continue;
        }
        push(at, s.max(at), out);
        at = e;
    }
    push(at, hi, out);
}

/// Where the kernel starts: `--entry` (a symbol or an address), else a Multiboot2
/// header's entry address tag, else the ELF entry point.
fn entry_point(
    entry: Option<&str>,
    image: &Image,
    protocol: &Protocol,
    origin: &str,
) -> Result<u64, LoadError> {
    match entry {
        Some(e) => image.symbol(e).or_else(|| parse_number(e)).ok_or_else(|| {
            let names: Vec<&str> = image.symbols.iter().map(|(n, _)| n.as_str()).collect();
            let hint = crate::scenario::did_you_mean(e, names.iter().copied());
            LoadError::new(
                origin,
                format!("--entry {e}: no such symbol (and not a number){hint}"),
            )
        }),
        None => match protocol {
            Protocol::V2(h) if h.entry.is_some() => h.entry,
            _ => image.entry_point,
        }
        .ok_or_else(|| {
            LoadError::new(
                origin,
                "the ELF entry point (e_entry) is 0: say where to start with --entry",
            )
        }),
    }
}

/// A kernel booted: the machine ready at its entry, and what the hand-off put where.
pub struct Booted {
    pub image: Image,
    pub scenario: Scenario,
    pub protocol: Protocol,
    pub entry: u64,
    /// The physical address of the boot information structure (EBX).
    pub info: u64,
}

/// Boot the kernel image `data` (read from `origin`, shown as `file`; `source`: the
/// file's name says it is assembly source; `entry_arg`: `--entry`, a symbol or address).
pub fn build(
    data: &[u8],
    origin: &str,
    file: &str,
    source: bool,
    entry_arg: Option<&str>,
) -> Result<Booted, LoadError> {
    let (protocol, image) = read_kernel(data, origin, source, entry_arg)?;
    let (mut m, taken) = lay_out(&image, file, origin)?;
    let info = INFO_PAGES
        .into_iter()
        .find(|p| !taken.iter().any(|&(s, e)| *p < e && s < p + 0x1000))
        .ok_or_else(|| {
            LoadError::new(
                origin,
                "the kernel takes all of low memory: no room for the Multiboot information",
            )
        })?;
    match &protocol {
        Protocol::V2(_) => write_info2(&mut m, info, origin),
        _ => write_info(&mut m, info, origin),
    }
    let entry = entry_point(entry_arg, &image, &protocol, origin)?;
    if m.mem.region_at(entry).is_none() || entry > u32::MAX as u64 {
        return Err(LoadError::new(
            origin,
            format!("the entry point {entry:#x} is outside RAM"),
        ));
    }
    hand_off(&mut m, &protocol, info, entry);
    let scenario = Scenario {
        name: file.to_string(),
        description: describe(file, &protocol, entry),
        machine: m,
        interrupts: Vec::new(),
        stop_at: Vec::new(),
        // The viewer records the whole run: the most a scene may record.
        max_steps: Some(crate::scenario::MAX_STEPS),
        task: None,
        lines: image.lines.clone(),
    };
    Ok(Booted {
        image,
        scenario,
        protocol,
        entry,
        info,
    })
}

/// The kernel's headers and ELF image, refused unless a Multiboot loader could boot it.
fn read_kernel(
    data: &[u8],
    origin: &str,
    source: bool,
    entry_arg: Option<&str>,
) -> Result<(Protocol, Image), LoadError> {
    let protocol = Protocol::of(data, origin)?;
    let image = Image::from_elf(data, origin).map_err(|e| {
        if source && !data.starts_with(b"\x7fELF") {
            LoadError(format!(
                "{}; to boot assembly source, assemble it first: ringstep asm {origin} -o KERNEL.elf",
                e.0
            ))
        } else {
            e
        }
    })?;
    if image.bits != 32 {
        return Err(LoadError::new(
            origin,
            "a 64-bit ELF file: ringstep boots 32-bit ELF kernels (ELFCLASS32, EM_386), which a Multiboot boot loader starts in 32-bit protected mode; a 64-bit kernel starts with 32-bit code that switches to long mode itself",
        ));
    }
    if image.kind != Kind::Executable {
        return Err(LoadError::new(
            origin,
            "a shared object (ET_DYN): a kernel is an executable (ET_EXEC) linked at its load address",
        ));
    }
    if protocol == Protocol::Plain && entry_arg.is_none() {
        return Err(LoadError::new(
            origin,
            format!("no Multiboot header (the magic number {HEADER_MAGIC:#x}, 4-byte aligned, in the first {SEARCH} bytes, Multiboot spec 3.1.1; nor a Multiboot2 header, {:#x}, 8-byte aligned, in the first {} bytes): not a Multiboot kernel; to start a plain ELF the same way (without the Multiboot magic in EAX) say where with --entry SYMBOL|ADDR", super::multiboot2::HEADER_MAGIC, super::multiboot2::SEARCH),
        ));
    }
    // The segments must lie in RAM.
    for s in &image.segments {
        let end = s.phys + s.bytes.len() as u64;
        let inside = |lo: u64, hi: u64| s.phys >= lo && end <= hi;
        if !inside(0, LOW_END) && !inside(HIGH_START, HIGH_END) {
            return Err(LoadError::new(
                origin,
                format!(
                    "the segment at physical address {:#x}..{end:#x} ({}) lies outside RAM: the machine has 640 KiB at 0..{LOW_END:#x} and 127 MiB at {HIGH_START:#x}..{HIGH_END:#x}",
                    s.phys,
                    s.perm_text()
                ),
            ));
        }
    }
    Ok((protocol, image))
}

/// A machine with RAM and the kernel's segments copied to their physical addresses,
/// its symbols known; and the physical ranges the kernel takes.
fn lay_out(
    image: &Image,
    file: &str,
    origin: &str,
) -> Result<(Machine, Vec<(u64, u64)>), LoadError> {
    let mut m = Machine::new();
    let spans = kernel_spans(image);
    let taken: Vec<(u64, u64)> = spans.iter().map(|s| (s.0, s.1)).collect();
    let mut regions = Vec::new();
    for (i, (lo, hi, perm, what)) in spans.iter().enumerate() {
        let name = if spans.len() == 1 {
            file.to_string()
        } else {
            format!("{file} #{} {what}", i + 1)
        };
        let mut r = Region::new(&name, *lo, hi - lo, *perm);
        r.phys = Some(*lo);
        regions.push(r);
    }
    carve("low memory", 0, LOW_END, &taken, &mut regions);
    carve("RAM", HIGH_START, HIGH_END, &taken, &mut regions);
    m.mem
        .add_regions(regions)
        .map_err(|(_, e)| LoadError::new(origin, e.to_string()))?;
    for s in &image.segments {
        m.mem.poke_phys(s.phys, &s.bytes);
    }
    for (name, addr) in &image.symbols {
        m.symbols.insert(name, *addr);
    }
    Ok((m, taken))
}

/// The machine state at the kernel's entry (Multiboot spec 3.2), and the devices.
fn hand_off(m: &mut Machine, protocol: &Protocol, info: u64, entry: u64) {
    let cpu = &mut m.cpu;
    cpu.cr0 = Handoff::CR0;
    cpu.rflags = Handoff::EFLAGS;
    let code = Segment::flat(Handoff::CS, 0xb, 0, true, false);
    let data_seg = Segment::flat(Handoff::DS, 0x3, 0, true, false);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
        cpu.seg[s as usize] = data_seg;
    }
    cpu.seg[SegReg::Cs as usize] = code;
    cpu.gdtr = Handoff::GDTR;
    cpu.idtr = Handoff::IDTR;
    cpu.gpr[RAX] = protocol.magic() as u64;
    cpu.gpr[RBX] = info;
    cpu.gpr[RSP] = Handoff::ESP;
    cpu.rip = entry;
    m.dev = crate::machine::dev::Devices::bios();
    m.architectural_faults = true;
    m.mem.set_open_bus(true);
}

/// "FILE booted as a Multiboot kernel (...)".
fn describe(file: &str, protocol: &Protocol, entry: u64) -> String {
    match protocol {
        Protocol::V1(h) => format!(
            "{file} booted as a Multiboot kernel (header at file offset {:#x}, flags {:#x})",
            h.offset, h.flags
        ),
        Protocol::V2(h) => format!(
            "{file} booted as a Multiboot2 kernel (header at file offset {:#x}, {} bytes{})",
            h.offset,
            h.length,
            ignored(h)
        ),
        Protocol::Plain => format!("{file} booted as a plain ELF at {entry:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u32, checksum: u32, at: usize) -> Vec<u8> {
        let mut d = vec![0u8; at + 12];
        d[at..at + 4].copy_from_slice(&HEADER_MAGIC.to_le_bytes());
        d[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
        d[at + 8..at + 12].copy_from_slice(&checksum.to_le_bytes());
        d
    }

    #[test]
    fn the_header_is_found_checked_and_its_flags_met() {
        let ok = header(3, 0u32.wrapping_sub(HEADER_MAGIC + 3), 0x40);
        assert_eq!(
            find_header(&ok, "k").unwrap(),
            Some(Header {
                offset: 0x40,
                flags: 3
            })
        );
        // Beyond 8192 bytes, or not 4-aligned: not found.
        let far = header(3, 0u32.wrapping_sub(HEADER_MAGIC + 3), 8192);
        assert_eq!(find_header(&far, "k").unwrap(), None);
        let odd = header(3, 0u32.wrapping_sub(HEADER_MAGIC + 3), 0x42);
        assert_eq!(find_header(&odd, "k").unwrap(), None);
        let bad = find_header(&header(3, 0, 0), "k").unwrap_err().0;
        assert!(
            bad.contains("bad checksum") && bad.contains("0xe4524ffb"),
            "{bad}"
        );
        let aout = 1 << 16;
        let e = find_header(
            &header(aout, 0u32.wrapping_sub(HEADER_MAGIC + aout), 0),
            "k",
        )
        .unwrap_err()
        .0;
        assert!(e.contains("a.out kludge"), "{e}");
        let e = find_header(&header(4, 0u32.wrapping_sub(HEADER_MAGIC + 4), 0), "k")
            .unwrap_err()
            .0;
        assert!(e.contains("video mode"), "{e}");
    }
}
