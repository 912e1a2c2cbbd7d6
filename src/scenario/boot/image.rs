//! A loaded program image: the bytes of its loadable segments with their permissions, the
//! executable sections (for listings), its symbols and its kernel alternatives. Made from
//! an ELF file (`object` crate), from assembly text, or from raw bytes.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::Endianness;

use super::alt::Alternatives;
use super::lines::LineTable;
use super::LoadError;
use crate::scenario::SourceLine;

/// One loadable segment (PT_LOAD), its bytes `memsz` long (the part past `filesz` is zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub addr: u64,
    /// The physical address (p_paddr; `addr` for code made otherwise), where a boot
    /// loader puts it.
    pub phys: u64,
    pub bytes: Vec<u8>,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.addr + self.bytes.len() as u64
    }

    /// `r-x` style permissions.
    pub fn perm_text(&self) -> String {
        format!(
            "{}{}{}",
            if self.read { 'r' } else { '-' },
            if self.write { 'w' } else { '-' },
            if self.exec { 'x' } else { '-' }
        )
    }
}

/// An executable section (`.text`, `.altinstr_replacement`, ...), listed as code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRange {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

/// Assembly source for an image made by the lesson assembler: listings show its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmSource {
    pub text: String,
    pub lines: Vec<SourceLine>,
}

/// What the image was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ET_EXEC: fixed addresses.
    Executable,
    /// ET_DYN: a shared object (a vDSO), movable when it needs no relocations.
    Shared,
    /// `--asm` or `--bytes`: placed where asked.
    Code,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The file (or `--bytes`) it came from, for messages.
    pub origin: String,
    /// 32 or 64.
    pub bits: u32,
    pub kind: Kind,
    /// Dynamic relocations the file carries (SHT_REL/SHT_RELA sections that are loaded).
    pub relocations: u64,
    /// The ELF entry point (e_entry), if not 0.
    pub entry_point: Option<u64>,
    pub segments: Vec<Segment>,
    pub code: Vec<CodeRange>,
    /// Function, object and untyped symbols, from .symtab and .dynsym, in file order.
    pub symbols: Vec<(String, u64)>,
    pub alternatives: Alternatives,
    /// Numbers of the alternatives applied so far, in order.
    pub applied: Vec<usize>,
    pub source: Option<AsmSource>,
    /// Source lines from the file's DWARF line table (src/scenario/boot/lines.rs).
    pub lines: Option<std::sync::Arc<LineTable>>,
    /// Problems that did not stop the loading (a damaged line table), for the user.
    pub warnings: Vec<String>,
}

/// The most bytes the loadable segments of one file may take in memory, together (each
/// is held as a zero-filled buffer of its memory size).
const MAX_SEGMENT_BYTES: u64 = 1 << 30;

fn err(origin: &str, msg: impl AsRef<str>) -> LoadError {
    LoadError::new(origin, msg)
}

impl Image {
    /// Parse an ELF file. `origin` names it in messages.
    pub fn from_elf(data: &[u8], origin: &str) -> Result<Image, LoadError> {
        if data.len() < 4 || data[..4] != elf::ELFMAG {
            return Err(err(
                origin,
                if data.len() < 4 && elf::ELFMAG.starts_with(data) && !data.is_empty() {
                    "truncated: the file ends inside the ELF magic number".to_string()
                } else {
                    "not an ELF file (it does not start with the bytes 7f 45 4c 46, \"\\x7fELF\")"
                        .to_string()
                },
            ));
        }
        match data.get(4) {
            Some(&elf::ELFCLASS32) => parse::<elf::FileHeader32<Endianness>>(data, origin, 32),
            Some(&elf::ELFCLASS64) => parse::<elf::FileHeader64<Endianness>>(data, origin, 64),
            Some(c) => Err(err(
                origin,
                format!("unknown ELF class {c} (1 is 32-bit, 2 is 64-bit)"),
            )),
            None => Err(err(
                origin,
                "truncated: the file ends inside the ELF header",
            )),
        }
    }

    /// Raw machine code as one read+execute segment at `addr`.
    pub fn from_bytes(bytes: Vec<u8>, addr: u64, bits: u32, origin: &str) -> Image {
        let size = bytes.len() as u64;
        Image {
            origin: origin.to_string(),
            bits,
            kind: Kind::Code,
            relocations: 0,
            entry_point: Some(addr),
            segments: vec![Segment {
                addr,
                phys: addr,
                bytes,
                read: true,
                write: false,
                exec: true,
            }],
            code: vec![CodeRange {
                name: "code".into(),
                addr,
                size,
            }],
            symbols: Vec::new(),
            alternatives: Alternatives::default(),
            applied: Vec::new(),
            source: None,
            lines: None,
            warnings: Vec::new(),
        }
    }

    /// The lowest and highest address (exclusive) of the loaded segments.
    pub fn span(&self) -> (u64, u64) {
        let lo = self.segments.iter().map(|s| s.addr).min().unwrap_or(0);
        let hi = self.segments.iter().map(Segment::end).max().unwrap_or(0);
        (lo, hi)
    }

    /// Move every address by `delta` (wrapping, as addresses do).
    pub fn shift(&mut self, delta: u64) {
        for s in &mut self.segments {
            s.addr = s.addr.wrapping_add(delta);
            s.phys = s.phys.wrapping_add(delta);
        }
        for c in &mut self.code {
            c.addr = c.addr.wrapping_add(delta);
        }
        for (_, a) in &mut self.symbols {
            *a = a.wrapping_add(delta);
        }
        if let Some(e) = &mut self.entry_point {
            *e = e.wrapping_add(delta);
        }
        if let Some(src) = &mut self.source {
            for l in &mut src.lines {
                l.addr = l.addr.wrapping_add(delta);
            }
        }
        if let Some(t) = &mut self.lines {
            std::sync::Arc::make_mut(t).shift(delta);
        }
        self.alternatives.shift(delta);
    }

    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// The first symbol at exactly `addr`.
    pub fn symbol_at(&self, addr: u64) -> Option<&str> {
        self.symbols
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| n.as_str())
    }

    /// `len` bytes at `addr`, if a segment holds all of them.
    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.segments.iter().find_map(|s| {
            let off = addr.checked_sub(s.addr)? as usize;
            s.bytes.get(off..off.checked_add(len)?)
        })
    }

    /// Overwrite bytes at `addr`; false if no segment holds all of them.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> bool {
        for s in &mut self.segments {
            let Some(off) = addr.checked_sub(s.addr) else {
                continue;
            };
            let off = off as usize;
            if let Some(dst) = off
                .checked_add(bytes.len())
                .and_then(|end| s.bytes.get_mut(off..end))
            {
                dst.copy_from_slice(bytes);
                return true;
            }
        }
        false
    }

    /// Whether `addr` lies in an executable segment.
    pub fn is_code(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| s.exec && addr >= s.addr && addr < s.end())
    }
}

fn parse<E: FileHeader<Endian = Endianness>>(
    data: &[u8],
    origin: &str,
    bits: u32,
) -> Result<Image, LoadError> {
    let bad = |what: &str, e: object::read::Error| {
        err(
            origin,
            format!("truncated or damaged ELF file: {what}: {e}"),
        )
    };
    let hdr = E::parse(data).map_err(|e| bad("ELF header", e))?;
    let endian = hdr.endian().map_err(|e| bad("byte order", e))?;
    if endian != Endianness::Little {
        return Err(err(
            origin,
            "wrong architecture: a big-endian ELF file (x86 code is little-endian)",
        ));
    }
    let machine = hdr.e_machine(endian);
    let want = if bits == 32 {
        elf::EM_386
    } else {
        elf::EM_X86_64
    };
    if machine != want {
        let what = match machine {
            elf::EM_X86_64 => {
                "x86-64 code in a 32-bit ELF file (the x32 ABI), which ringstep does not run"
                    .to_string()
            }
            elf::EM_386 => "i386 code in a 64-bit ELF file".to_string(),
            elf::EM_ARM => "ARM (EM_ARM, 40)".to_string(),
            elf::EM_AARCH64 => "AArch64 (EM_AARCH64, 183)".to_string(),
            elf::EM_RISCV => "RISC-V (EM_RISCV, 243)".to_string(),
            other => format!("e_machine {other}"),
        };
        return Err(err(
            origin,
            format!(
                "wrong architecture: {what}; ringstep runs x86 code (EM_386 for 32-bit, EM_X86_64 for 64-bit)"
            ),
        ));
    }
    let kind = match hdr.e_type(endian) {
        elf::ET_EXEC => Kind::Executable,
        elf::ET_DYN => Kind::Shared,
        elf::ET_REL => {
            return Err(err(
                origin,
                "a relocatable object file (ET_REL, an `as` output): link it first, e.g. `ld -shared` or `ld -Ttext=ADDR`",
            ))
        }
        elf::ET_CORE => return Err(err(origin, "a core dump, not a program")),
        other => return Err(err(origin, format!("unknown ELF file type {other}"))),
    };

    let phdrs = hdr
        .program_headers(endian, data)
        .map_err(|e| bad("program headers", e))?;
    // Checked before anything is allocated: each segment is held zero-filled.
    let total = phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .fold(0u64, |sum, ph| {
            sum.saturating_add(ph.p_memsz(endian).into())
        });
    if total > MAX_SEGMENT_BYTES {
        return Err(err(
            origin,
            format!("the loadable segments (PT_LOAD) add up to {total:#x} bytes in memory, more than 1 GiB"),
        ));
    }
    let mut segments = Vec::new();
    for (i, ph) in phdrs.iter().enumerate() {
        if ph.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let addr: u64 = ph.p_vaddr(endian).into();
        let memsz: u64 = ph.p_memsz(endian).into();
        let filesz: u64 = ph.p_filesz(endian).into();
        if memsz == 0 {
            continue;
        }
        if filesz > memsz {
            return Err(err(
                origin,
                format!("program header {i}: file size {filesz:#x} is larger than memory size {memsz:#x}"),
            ));
        }
        let limit = if bits == 32 { 1u64 << 32 } else { u64::MAX };
        if memsz > MAX_SEGMENT_BYTES || addr.checked_add(memsz).is_none_or(|end| end > limit) {
            return Err(err(
                origin,
                format!("program header {i}: segment at {addr:#x} of {memsz:#x} bytes is larger than 1 GiB or does not fit in the {bits}-bit address space"),
            ));
        }
        let file = ph.data(endian, data).map_err(|()| {
            err(
                origin,
                format!("truncated: segment {i}'s bytes lie past the end of the file"),
            )
        })?;
        let mut bytes = file.to_vec();
        bytes.resize(memsz as usize, 0);
        let flags = ph.p_flags(endian);
        segments.push(Segment {
            addr,
            phys: ph.p_paddr(endian).into(),
            bytes,
            read: flags & elf::PF_R != 0,
            write: flags & elf::PF_W != 0,
            exec: flags & elf::PF_X != 0,
        });
    }
    if segments.is_empty() {
        return Err(err(
            origin,
            "no loadable segment (PT_LOAD): nothing to put in memory",
        ));
    }
    segments.sort_by_key(|s| s.addr);
    for w in segments.windows(2) {
        if w[1].addr < w[0].end() {
            return Err(err(
                origin,
                format!(
                    "overlapping segments: {:#x}..{:#x} ({}) and {:#x}..{:#x} ({})",
                    w[0].addr,
                    w[0].end(),
                    w[0].perm_text(),
                    w[1].addr,
                    w[1].end(),
                    w[1].perm_text()
                ),
            ));
        }
    }

    let sections = hdr
        .sections(endian, data)
        .map_err(|e| bad("section headers", e))?;
    let mut code = Vec::new();
    let mut relocations = 0;
    let mut alt_instr = None;
    let mut alt_repl = None;
    for s in sections.iter() {
        let name = sections
            .section_name(endian, s)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let flags: u64 = s.sh_flags(endian).into();
        let addr: u64 = s.sh_addr(endian).into();
        let size: u64 = s.sh_size(endian).into();
        let alloc = flags & u64::from(elf::SHF_ALLOC) != 0;
        let sh_type = s.sh_type(endian);
        if alloc
            && flags & u64::from(elf::SHF_EXECINSTR) != 0
            && sh_type == elf::SHT_PROGBITS
            && size > 0
        {
            code.push(CodeRange {
                name: name.clone(),
                addr,
                size,
            });
        }
        if alloc && (sh_type == elf::SHT_REL || sh_type == elf::SHT_RELA) {
            let entsize: u64 = s.sh_entsize(endian).into();
            relocations += size.checked_div(entsize).unwrap_or(0);
        }
        match name.as_str() {
            ".altinstructions" => {
                let bytes = s
                    .data(endian, data)
                    .map_err(|e| bad("section .altinstructions", e))?;
                alt_instr = Some((addr, bytes.to_vec()));
            }
            ".altinstr_replacement" => alt_repl = Some((addr, size)),
            _ => {}
        }
    }
    // Without section headers, list the executable segments as code.
    if code.is_empty() {
        code = segments
            .iter()
            .filter(|s| s.exec)
            .map(|s| CodeRange {
                name: "code".into(),
                addr: s.addr,
                size: s.bytes.len() as u64,
            })
            .collect();
    }
    code.sort_by_key(|c| c.addr);

    let mut symbols: Vec<(String, u64)> = Vec::new();
    let mut seen = rustc_hash::FxHashSet::default();
    for table in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let syms = sections
            .symbols(endian, data, table)
            .map_err(|e| bad("symbol table", e))?;
        for sym in syms.iter() {
            let ty = sym.st_type();
            if !matches!(ty, elf::STT_FUNC | elf::STT_OBJECT | elf::STT_NOTYPE)
                || sym.st_shndx(endian) == elf::SHN_UNDEF
                || sym.st_shndx(endian) == elf::SHN_ABS
            {
                continue;
            }
            let Ok(name) = sym.name(endian, syms.strings()) else {
                continue;
            };
            let name = String::from_utf8_lossy(name).into_owned();
            if name.is_empty() || name.starts_with(".L") || name.starts_with('$') {
                continue;
            }
            let value: u64 = sym.st_value(endian).into();
            // The first definition of a name counts (a set: a kernel has 100k symbols).
            if seen.insert(name.clone()) {
                symbols.push((name, value));
            }
        }
    }

    let entry: u64 = hdr.e_entry(endian).into();
    let mut image = Image {
        origin: origin.to_string(),
        bits,
        kind,
        relocations,
        entry_point: (entry != 0).then_some(entry),
        segments,
        code,
        symbols,
        alternatives: Alternatives::default(),
        applied: Vec::new(),
        source: None,
        lines: None,
        warnings: Vec::new(),
    };
    let read = LineTable::from_elf(data, origin);
    image.lines = read.table.map(std::sync::Arc::new);
    image.warnings.extend(read.warning);
    if let Some((addr, bytes)) = alt_instr {
        image.alternatives = Alternatives::parse(&image, addr, &bytes, alt_repl);
    }
    Ok(image)
}
