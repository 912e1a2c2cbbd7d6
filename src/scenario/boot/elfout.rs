//! `ringstep asm FILE.S -o KERNEL.elf`: assemble a `.S` file with the project's
//! assembler and write the bytes as an ELF executable (the `object` crate's writer), so
//! that QEMU, gdb and objdump take the identical bytes ringstep runs.
//!
//! The assembler places one section of code at a base address (`--base`, default 1 MiB,
//! where Multiboot kernels are linked), so the file has one `.text` section and one
//! PT_LOAD segment (read, write, execute: the assembler has no separate data sections)
//! at that address, virtual = physical. Its labels become the symbol table (`_start`
//! and the entry symbol global, the rest local); a DWARF line table names the `.S`
//! line of each instruction (`elfdebug`). ELF32 (EM_386) when the source's first
//! `.code32`/`.code64` directive is `.code32` or absent, ELF64 (EM_X86_64) when it is
//! `.code64`.

use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Sym, Writer};
use object::Endianness;

use super::{elfdebug, parse_number, LoadError};
use crate::asm::{self, SourceSection};

/// The default load address of `ringstep asm`: 1 MiB, where Multiboot kernels go.
pub const DEFAULT_BASE: u64 = 0x10_0000;

/// Where the code starts in the file: a page, so that the file offset and the address
/// agree modulo the page size (as `ld` lays out an executable).
const TEXT_OFFSET: u64 = 0x1000;

/// What `ringstep asm` produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The ELF file.
    pub file: Vec<u8>,
    pub bits: u32,
    pub base: u64,
    pub size: u64,
    pub entry: u64,
    pub symbols: Vec<(String, u64)>,
}

/// 32 or 64: the mode of the source's first `.code32`/`.code64` (32 without one).
pub fn source_bits(text: &str) -> u32 {
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("");
        for stmt in code.split(';') {
            match stmt.split_whitespace().next() {
                Some(".code64") => return 64,
                Some(".code32") => return 32,
                _ => {}
            }
        }
    }
    32
}

/// The longest `--defsym` name.
const MAX_DEFSYM_NAME: usize = 64;

/// `--defsym NAME=VALUE` as GNU as reads it: NAME is a constant from the first line on.
/// The definitions go in front of line 1 (after `;`), so line numbers stay those of the
/// file.
pub fn with_defsyms(text: &str, defsyms: &[(String, u64)]) -> Result<String, LoadError> {
    let mut out = String::new();
    for (name, value) in defsyms {
        let ok = name.len() <= MAX_DEFSYM_NAME
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !ok {
            return Err(LoadError(format!(
                "--defsym {name}: not a symbol name (letters, digits, `_` and `.`, not starting with a digit, at most {MAX_DEFSYM_NAME} characters)"
            )));
        }
        out.push_str(&format!(".set {name}, {value:#x}; "));
    }
    out.push_str(text);
    Ok(out)
}

/// Parse `NAME=VALUE` (`NAME` alone means 1, as for a flag).
pub fn parse_defsym(arg: &str) -> Result<(String, u64), LoadError> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (arg.trim(), "1"),
    };
    let v = parse_number(value).ok_or_else(|| {
        LoadError(format!(
            "--defsym {arg}: `{value}` is not a number (hex as 0x10, or decimal)"
        ))
    })?;
    Ok((name.to_string(), v))
}

/// Assemble `text` (named `origin` in messages) at `base` and write it as an ELF
/// executable whose entry is `entry` (a label or an address), else `_start`, else the
/// first byte.
pub fn assemble_elf(
    text: &str,
    origin: &str,
    base: Option<u64>,
    entry: Option<&str>,
    defsyms: &[(String, u64)],
) -> Result<Written, LoadError> {
    let defined = with_defsyms(text, defsyms)?;
    let text = defined.as_str();
    let base = base.unwrap_or(DEFAULT_BASE);
    if !base.is_multiple_of(4096) {
        return Err(LoadError(format!(
            "--base {base:#x}: not a multiple of 4096 (the segment starts on a page)"
        )));
    }
    let bits = source_bits(text);
    let at = |e: &asm::AsmError| LoadError(format!("{origin}:{}:{}: {}", e.line, e.col, e.message));
    let sections = [SourceSection {
        name: origin,
        base,
        text,
    }];
    let layout = asm::layout(&sections, bits).map_err(|e| at(&e))?;
    let assembled = layout.encode(&|_| None, &[]).map_err(|e| at(&e))?;
    let (bytes, lines) = assembled
        .into_iter()
        .next()
        .map(|a| (a.bytes, a.lines))
        .filter(|(b, _)| !b.is_empty())
        .ok_or_else(|| LoadError::new(origin, "no code: the file assembles to no bytes"))?;
    let symbols: Vec<(String, u64)> = layout
        .labels()
        .iter()
        .filter(|(n, _)| !n.starts_with(".L"))
        .cloned()
        .collect();
    let size = bytes.len() as u64;
    let limit = if bits == 32 { 1u64 << 32 } else { u64::MAX };
    if base.checked_add(size).is_none_or(|e| e > limit) {
        return Err(LoadError::new(
            origin,
            format!("{size:#x} bytes at {base:#x} do not fit in the {bits}-bit address space"),
        ));
    }
    let find = |name: &str| symbols.iter().find(|(n, _)| n == name).map(|(_, a)| *a);
    let entry_addr = match entry {
        Some(e) => find(e).or_else(|| parse_number(e)).ok_or_else(|| {
            let names: Vec<&str> = symbols.iter().map(|(n, _)| n.as_str()).collect();
            let hint = crate::scenario::did_you_mean(e, names.iter().copied());
            LoadError::new(
                origin,
                format!("--entry {e}: no such label (and not a number){hint}"),
            )
        })?,
        None => find("_start").unwrap_or(base),
    };
    let entry_name = entry.filter(|e| find(e).is_some()).unwrap_or("_start");
    // The line table; a problem writing it leaves it out (the code is what matters).
    let comp_dir = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unit = elfdebug::Unit {
        file: origin,
        comp_dir: &comp_dir,
        base,
        size,
        bits,
    };
    let debug = elfdebug::line_sections(&unit, &lines).unwrap_or_default();
    let code = Code {
        bits,
        base,
        bytes: &bytes,
        entry: entry_addr,
    };
    let file = write_elf(&code, &symbols, entry_name, &debug);
    Ok(Written {
        file,
        bits,
        base,
        size,
        entry: entry_addr,
        symbols,
    })
}

/// The code an ELF file is written for.
struct Code<'a> {
    bits: u32,
    base: u64,
    bytes: &'a [u8],
    entry: u64,
}

/// An ELF executable: the header, one PT_LOAD program header, the code at file offset
/// 0x1000, the debug sections, then `.symtab`, `.strtab`, `.shstrtab` and the section
/// headers.
fn write_elf(
    c: &Code,
    symbols: &[(String, u64)],
    global: &str,
    debug: &[elfdebug::DebugSection],
) -> Vec<u8> {
    let (bits, base, code, entry) = (c.bits, c.base, c.bytes, c.entry);
    let mut out = Vec::new();
    let mut w = Writer::new(Endianness::Little, bits == 64, &mut out);
    // Local symbols first (ELF requires it), then the global ones.
    let mut ordered: Vec<(&str, u64, bool)> = symbols
        .iter()
        .map(|(n, a)| (n.as_str(), *a, n == global))
        .collect();
    ordered.sort_by_key(|s| s.2);
    let num_local = 1 + ordered.iter().filter(|s| !s.2).count() as u32;

    w.reserve_file_header();
    w.reserve_program_headers(1);
    w.reserve_until(TEXT_OFFSET as usize);
    let text_offset = w.reserve(code.len(), 1);
    let _ = w.reserve_null_section_index();
    let text_name = w.add_section_name(b".text");
    let text_index = w.reserve_section_index();
    let debug_at: Vec<_> = debug
        .iter()
        .map(|d| {
            let name = w.add_section_name(d.name.as_bytes());
            w.reserve_section_index();
            (name, w.reserve(d.data.len(), 1))
        })
        .collect();
    let names: Vec<_> = ordered
        .iter()
        .map(|(n, _, _)| w.add_string(n.as_bytes()))
        .collect();
    w.reserve_null_symbol_index();
    for _ in &ordered {
        w.reserve_symbol_index(Some(text_index));
    }
    w.reserve_symtab_section_index();
    w.reserve_strtab_section_index();
    w.reserve_shstrtab_section_index();
    w.reserve_symtab();
    w.reserve_strtab();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_SYSV,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: if bits == 64 {
            elf::EM_X86_64
        } else {
            elf::EM_386
        },
        e_entry: entry,
        e_flags: 0,
    })
    .expect("a valid ELF header");
    w.write_align_program_headers();
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_LOAD,
        p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
        p_offset: text_offset as u64,
        p_vaddr: base,
        p_paddr: base,
        p_filesz: code.len() as u64,
        p_memsz: code.len() as u64,
        p_align: 0x1000,
    });
    w.pad_until(text_offset);
    w.write(code);
    for d in debug {
        w.write(&d.data);
    }
    w.write_null_symbol();
    for ((_, addr, global), name) in ordered.iter().zip(&names) {
        let bind = if *global {
            elf::STB_GLOBAL
        } else {
            elf::STB_LOCAL
        };
        w.write_symbol(&Sym {
            name: Some(*name),
            section: Some(text_index),
            st_info: (bind << 4) | elf::STT_NOTYPE,
            st_other: elf::STV_DEFAULT,
            st_shndx: 0,
            st_value: *addr,
            st_size: 0,
        });
    }
    w.write_strtab();
    w.write_shstrtab();
    w.write_null_section_header();
    w.write_section_header(&SectionHeader {
        name: Some(text_name),
        sh_type: elf::SHT_PROGBITS,
        sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR | elf::SHF_WRITE),
        sh_addr: base,
        sh_offset: text_offset as u64,
        sh_size: code.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 16,
        sh_entsize: 0,
    });
    for (d, (name, offset)) in debug.iter().zip(&debug_at) {
        w.write_section_header(&SectionHeader {
            name: Some(*name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: 0,
            sh_addr: 0,
            sh_offset: *offset as u64,
            sh_size: d.data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 1,
            sh_entsize: 0,
        });
    }
    w.write_symtab_section_header(num_local);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    debug_assert_eq!(w.reserved_len(), w.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_code_directive_decides_the_class() {
        assert_eq!(source_bits("nop\n"), 32);
        assert_eq!(source_bits("# .code64\n  .code64 ; nop\n.code32\n"), 64);
        assert_eq!(source_bits(".code32\n.code64\n"), 32);
    }

    #[test]
    fn the_written_file_loads_back_with_its_bytes_symbols_and_entry() {
        let src = "_start:\n  mov $1, %eax\nloop: jmp loop\n";
        let w = assemble_elf(src, "k.S", None, None, &[]).unwrap();
        let image = super::super::Image::from_elf(&w.file, "k.elf").unwrap();
        assert_eq!(image.bits, 32);
        assert_eq!(image.entry_point, Some(DEFAULT_BASE));
        assert_eq!(image.segments.len(), 1);
        assert_eq!(image.segments[0].addr, DEFAULT_BASE);
        assert_eq!(image.segments[0].bytes, [0xb8, 1, 0, 0, 0, 0xeb, 0xfe]);
        assert_eq!(image.symbol("loop"), Some(DEFAULT_BASE + 5));
        assert_eq!(image.symbol("_start"), Some(DEFAULT_BASE));
        let w64 = assemble_elf(
            ".code64\nnop\nhere: ret\n",
            "k.S",
            Some(0x20_0000),
            Some("here"),
            &[],
        )
        .unwrap();
        let image = super::super::Image::from_elf(&w64.file, "k.elf").unwrap();
        assert_eq!((image.bits, image.entry_point), (64, Some(0x20_0001)));
    }

    #[test]
    fn defsyms_are_constants_from_the_first_line_and_keep_line_numbers() {
        let src = ".ifdef BAD\n.byte 1\n.else\n.byte 2\n.endif\n.byte N\n";
        let defs = [("BAD".to_string(), 1), ("N".to_string(), 9)];
        let w = assemble_elf(src, "k.S", None, None, &defs).unwrap();
        let image = super::super::Image::from_elf(&w.file, "k.elf").unwrap();
        assert_eq!(image.segments[0].bytes, [1, 9]);
        let e = assemble_elf("nop\n bad %eax\n", "k.S", None, None, &defs).unwrap_err();
        assert!(e.0.starts_with("k.S:2:"), "{}", e.0);
        assert!(with_defsyms("", &[("1x".into(), 1)]).is_err());
        assert!(with_defsyms("", &[("a;b".into(), 1)]).is_err());
        assert_eq!(parse_defsym("A").unwrap(), ("A".to_string(), 1));
        assert_eq!(parse_defsym("A=0x10").unwrap(), ("A".to_string(), 16));
        assert!(parse_defsym("A=x").is_err());
    }
}
