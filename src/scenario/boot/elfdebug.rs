//! DWARF for `ringstep asm`: a compilation unit and its line number program (DWARF 4,
//! section 6.2), written with gimli's writer, so that gdb, `addr2line` and ringstep's
//! own code pane name the `.S` line each instruction came from, as for `as -g`.
//!
//! One unit covers the code (DW_AT_low_pc/DW_AT_high_pc), names the source file as it
//! was given (DW_AT_name) and the directory it was assembled in (DW_AT_comp_dir); its
//! line program has one row per instruction, in address order.

use gimli::write::{
    Address, AttributeValue, DwarfUnit, EndianVec, LineProgram, LineString, Sections,
};
use gimli::{Encoding, Format, LineEncoding, LittleEndian};

use crate::asm::LineInfo;

/// A debug section to put in the ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugSection {
    pub name: &'static str,
    pub data: Vec<u8>,
}

/// What the unit says about the code: `file` as given on the command line, assembled
/// in `comp_dir`, `size` bytes at `base`, `bits` 32 or 64.
pub struct Unit<'a> {
    pub file: &'a str,
    pub comp_dir: &'a str,
    pub base: u64,
    pub size: u64,
    pub bits: u32,
}

/// A string DWARF can hold: no NUL bytes, never empty.
fn dwarf_string(s: &str, empty: &str) -> Vec<u8> {
    let v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
    if v.is_empty() {
        empty.as_bytes().to_vec()
    } else {
        v
    }
}

/// The line program: one row per statement of `lines` that made an instruction, in
/// address order, all in one sequence over the code.
fn program(
    unit: &Unit,
    encoding: Encoding,
    file: &[u8],
    dir: &[u8],
    lines: &[LineInfo],
) -> LineProgram {
    let mut program = LineProgram::new(
        encoding,
        LineEncoding::default(),
        LineString::String(dir.to_vec()),
        None,
        LineString::String(file.to_vec()),
        None,
    );
    let file_id = program.add_file(
        LineString::String(file.to_vec()),
        program.default_directory(),
        None,
    );
    let mut rows: Vec<&LineInfo> = lines
        .iter()
        .filter(|l| l.is_code && l.len > 0 && l.line > 0)
        .filter(|l| l.addr >= unit.base && l.addr - unit.base < unit.size)
        .collect();
    rows.sort_by_key(|l| l.addr);
    program.begin_sequence(Some(Address::Constant(unit.base)));
    for l in rows {
        let row = program.row();
        row.address_offset = l.addr - unit.base;
        row.file = file_id;
        row.line = l.line as u64;
        row.is_statement = true;
        program.generate_row();
    }
    program.end_sequence(unit.size);
    program
}

/// The sections (`.debug_info`, `.debug_abbrev`, `.debug_line`, ...) for `lines`, the
/// assembler's statements.
pub fn line_sections(unit: &Unit, lines: &[LineInfo]) -> Result<Vec<DebugSection>, String> {
    let encoding = Encoding {
        format: Format::Dwarf32,
        version: 4,
        address_size: if unit.bits == 64 { 8 } else { 4 },
    };
    let file = dwarf_string(unit.file, "source.S");
    let dir = dwarf_string(unit.comp_dir, ".");
    let mut dwarf = DwarfUnit::new(encoding);
    dwarf.unit.line_program = program(unit, encoding, &file, &dir, lines);
    let root = dwarf.unit.root();
    let entry = dwarf.unit.get_mut(root);
    let producer = b"ringstep asm".to_vec();
    let base = Address::Constant(unit.base);
    entry.set(gimli::DW_AT_name, AttributeValue::String(file));
    entry.set(gimli::DW_AT_comp_dir, AttributeValue::String(dir));
    entry.set(gimli::DW_AT_producer, AttributeValue::String(producer));
    let language = AttributeValue::Language(gimli::DW_LANG_Mips_Assembler);
    entry.set(gimli::DW_AT_language, language);
    entry.set(gimli::DW_AT_low_pc, AttributeValue::Address(base));
    entry.set(gimli::DW_AT_high_pc, AttributeValue::Udata(unit.size));
    let mut sections = Sections::new(EndianVec::new(LittleEndian));
    dwarf.write(&mut sections).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    sections
        .for_each(|id, data| -> Result<(), String> {
            if !data.slice().is_empty() {
                out.push(DebugSection {
                    name: id.name(),
                    data: data.slice().to_vec(),
                });
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    Ok(out)
}
