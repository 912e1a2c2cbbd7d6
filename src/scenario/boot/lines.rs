//! Source lines from DWARF: which file and line each address of an ELF file's code came
//! from, read once from the file's `.debug_line` (and `.debug_info` for the compilation
//! directories) with the `addr2line` crate, then kept as a plain sorted table.
//!
//! DWARF 5 (DWARF Debugging Information Format Version 5, section 6.2, "Line Number
//! Information") describes the line number program: a state machine whose rows map
//! address ranges to (file, line). A damaged or oversized table is never an error: the
//! image is loaded without source lines and the problem is kept as a warning.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use addr2line::fallible_iterator::FallibleIterator;
use addr2line::gimli;
use object::{Object, ObjectSection};

/// The most bytes the debug sections one table is read from may hold together.
pub const MAX_DEBUG_BYTES: u64 = 256 << 20;
/// The most address ranges a table keeps (about 16 bytes each).
pub const MAX_ROWS: usize = 1 << 22;
/// The most distinct source files a table names.
pub const MAX_FILES: usize = 1 << 16;

/// A source file the table names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as DWARF gives it, joined to its compilation directory.
    pub path: String,
    /// What listings and traces show: the path relative to its compilation directory
    /// when it lies below it, else the whole path.
    pub name: String,
}

/// One address range and the line it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
    file: u32,
    line: u32,
}

/// Where an address came from: a file of the table and a line (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place<'a> {
    pub file: &'a SourceFile,
    /// The file's index in the table (for caches of file contents).
    pub index: usize,
    pub line: u32,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.name, self.line)
    }
}

/// Address -> file:line for one image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineTable {
    files: Vec<SourceFile>,
    /// Sorted by start, not overlapping.
    ranges: Vec<Range>,
    /// The directory of the ELF file, where sources are looked for when their own
    /// paths do not exist.
    pub elf_dir: PathBuf,
    /// Source text that comes with the file rather than from disk (a shipped example
    /// kernel's), by the name the table shows.
    embedded: Vec<(String, Arc<str>)>,
}

/// What reading the debug sections gave: a table (if any lines), and a warning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub table: Option<LineTable>,
    pub warning: Option<String>,
}

type Slice<'a> = gimli::EndianSlice<'a, gimli::LittleEndian>;

impl LineTable {
    /// The table of the ELF file `data`, read from `origin` (a path: sources are also
    /// looked for in its directory). No debug sections: no table and no warning.
    pub fn from_elf(data: &[u8], origin: &str) -> Read {
        let elf_dir = Path::new(origin)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match read(data) {
            Ok((mut table, warning)) => {
                table.elf_dir = elf_dir;
                Read {
                    table: (!table.ranges.is_empty()).then_some(table),
                    warning: warning.map(|w| format!("{origin}: source lines (DWARF): {w}")),
                }
            }
            Err(e) => Read {
                table: None,
                warning: Some(format!(
                    "{origin}: no source lines: the DWARF debug information is unusable: {e}"
                )),
            },
        }
    }

    /// The place `addr` came from.
    pub fn find(&self, addr: u64) -> Option<Place<'_>> {
        let i = self.ranges.partition_point(|r| r.start <= addr);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (addr < r.end).then(|| Place {
            file: &self.files[r.file as usize],
            index: r.file as usize,
            line: r.line,
        })
    }

    /// Give the text of the file the table shows as `name` (not read from disk).
    pub fn embed(&mut self, name: &str, text: Arc<str>) {
        self.embedded.push((name.to_string(), text));
    }

    /// The embedded text of `file`, if any.
    pub fn embedded(&self, file: &SourceFile) -> Option<&Arc<str>> {
        self.embedded
            .iter()
            .find(|(n, _)| *n == file.name)
            .map(|(_, t)| t)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// How many address ranges the table holds.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Move every address by `delta` (an image placed elsewhere than it was linked).
    pub fn shift(&mut self, delta: u64) {
        for r in &mut self.ranges {
            r.start = r.start.wrapping_add(delta);
            r.end = r.end.wrapping_add(delta);
        }
        self.ranges.sort_by_key(|r| r.start);
    }
}

/// A debug section's bytes (empty when absent). Compressed sections are refused:
/// ringstep reads them as they lie in the file.
fn section<'d>(file: &object::File<'d>, name: &str) -> Result<&'d [u8], String> {
    let Some(s) = file.section_by_name(name) else {
        return Ok(&[]);
    };
    match s.uncompressed_data() {
        Ok(Cow::Borrowed(b)) => Ok(b),
        Ok(Cow::Owned(_)) | Err(_) => Err(format!(
            "section {name} is compressed or damaged (link without --compress-debug-sections)"
        )),
    }
}

/// The table and a warning (a table cut short), or why there is none.
fn read(data: &[u8]) -> Result<(LineTable, Option<String>), String> {
    // A file `object` cannot read has no debug sections to speak of (the image's own
    // parser reports what is wrong with it).
    let Ok(file) = object::File::parse(data) else {
        return Ok((LineTable::default(), None));
    };
    if file.section_by_name(".debug_line").is_none() {
        return Ok((LineTable::default(), None));
    }
    let mut total = 0u64;
    let dwarf = gimli::Dwarf::load(|id| -> Result<Slice<'_>, String> {
        let b = section(&file, id.name())?;
        total = total.saturating_add(b.len() as u64);
        Ok(gimli::EndianSlice::new(b, gimli::LittleEndian))
    })?;
    if total > MAX_DEBUG_BYTES {
        return Err(format!(
            "the debug sections hold {total} bytes, more than {MAX_DEBUG_BYTES}"
        ));
    }
    let (dirs, problem) = comp_dirs(&dwarf);
    let ctx = addr2line::Context::from_dwarf(dwarf).map_err(|e| e.to_string())?;
    let (table, warning) = collect(&ctx, &dirs)?;
    let warning = match (problem, warning) {
        (Some(p), Some(w)) => Some(format!("{p}; {w}")),
        (p, w) => p.or(w),
    };
    Ok((table, warning))
}

/// The compilation directories of the units (at most `MAX_FILES`), and what went wrong
/// reading a unit (the first problem): `addr2line` leaves such a unit out silently,
/// its lines with it.
fn comp_dirs(dwarf: &gimli::Dwarf<Slice<'_>>) -> (Vec<String>, Option<String>) {
    let mut dirs = Vec::new();
    let mut problem = None;
    let mut units = dwarf.units();
    for _ in 0..MAX_FILES {
        let header = match units.next() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                problem.get_or_insert(format!("the unit list in .debug_info is damaged: {e}"));
                break;
            }
        };
        match dwarf.unit(header) {
            Ok(unit) => {
                if let Some(d) = unit.comp_dir {
                    let d = d.to_string_lossy().into_owned();
                    if !d.is_empty() && !dirs.contains(&d) {
                        dirs.push(d);
                    }
                }
            }
            Err(e) => {
                problem.get_or_insert(format!(
                    "a compilation unit (or its line program) is damaged and left out: {e}"
                ));
            }
        }
    }
    (dirs, problem)
}

/// `path` relative to the longest compilation directory it lies below.
fn display_name(path: &str, dirs: &[String]) -> String {
    dirs.iter()
        .filter_map(|d| {
            let rest = path.strip_prefix(d.trim_end_matches('/'))?;
            let rest = rest.strip_prefix('/')?;
            (!rest.is_empty()).then_some((d.len(), rest))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| path.to_string(), |(_, rest)| rest.to_string())
}

/// Every range of every line program, into a sorted table.
fn collect(
    ctx: &addr2line::Context<Slice<'_>>,
    dirs: &[String],
) -> Result<(LineTable, Option<String>), String> {
    let mut table = LineTable::default();
    let mut index: rustc_hash::FxHashMap<String, u32> = Default::default();
    let mut warning = None;
    let mut iter = ctx
        .find_location_range(0, u64::MAX)
        .map_err(|e| e.to_string())?;
    loop {
        let (start, len, loc) = match FallibleIterator::next(&mut iter) {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                warning = Some(format!(
                    "the line table is damaged, read up to the damage: {e}"
                ));
                break;
            }
        };
        let (Some(path), Some(line)) = (loc.file, loc.line) else {
            continue;
        };
        if line == 0 || len == 0 {
            continue;
        }
        if table.ranges.len() >= MAX_ROWS {
            warning = Some(format!(
                "the line table has more than {MAX_ROWS} ranges; the rest are left out"
            ));
            break;
        }
        let file = match index.get(path) {
            Some(&i) => i,
            None if table.files.len() >= MAX_FILES => continue,
            None => {
                table.files.push(SourceFile {
                    path: path.to_string(),
                    name: display_name(path, dirs),
                });
                let i = (table.files.len() - 1) as u32;
                index.insert(path.to_string(), i);
                i
            }
        };
        table.ranges.push(Range {
            start,
            end: start.saturating_add(len),
            file,
            line,
        });
    }
    table.ranges.sort_by_key(|r| r.start);
    table.ranges.dedup_by(|b, a| b.start < a.end);
    Ok((table, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_to_the_deepest_comp_dir() {
        let dirs = vec!["/src".to_string(), "/src/kernel/".to_string()];
        assert_eq!(display_name("/src/kernel/main.c", &dirs), "main.c");
        assert_eq!(display_name("/src/boot.S", &dirs), "boot.S");
        assert_eq!(display_name("/usr/include/x.h", &dirs), "/usr/include/x.h");
        assert_eq!(display_name("/srcx/a.c", &dirs), "/srcx/a.c");
    }

    #[test]
    fn not_an_elf_or_no_debug_info_gives_no_table() {
        let r = LineTable::from_elf(b"\x7fELF", "x");
        assert_eq!(r, Read::default());
    }
}
