//! The text of the source files a line table names, read when a line is first asked
//! for, each file once, within bounds. A file is looked for where DWARF says it is (its
//! path joined to its compilation directory), then beside the ELF file (its path below
//! the compilation directory, then its bare name): a kernel built elsewhere still shows
//! its sources when they are copied next to it. A shipped example kernel's source comes
//! with the table (`LineTable::embed`). A file that is missing, too large or
//! over the total gives no text; its `file:line` is still shown.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::lines::{LineTable, Place, SourceFile};

/// The most bytes one source file may hold to be shown.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The most bytes all the source files read for one table may hold together.
pub const MAX_TOTAL_BYTES: u64 = 32 << 20;

/// Source text for the places of one line table.
#[derive(Debug)]
pub struct SourceFiles {
    table: Arc<LineTable>,
    /// File index -> its lines (None: not found or not read).
    read: FxHashMap<usize, Option<Vec<String>>>,
    total: u64,
}

impl SourceFiles {
    pub fn new(table: Arc<LineTable>) -> SourceFiles {
        SourceFiles {
            table,
            read: FxHashMap::default(),
            total: 0,
        }
    }

    pub fn table(&self) -> &LineTable {
        &self.table
    }

    pub fn table_arc(&self) -> &Arc<LineTable> {
        &self.table
    }

    /// The text of `place`'s line, leading and trailing blanks removed and tabs made
    /// spaces; None when the file cannot be read or has no such line.
    pub fn line(&mut self, place: &Place<'_>) -> Option<&str> {
        if !self.read.contains_key(&place.index) {
            let lines = self.load(place.file);
            self.read.insert(place.index, lines);
        }
        let lines = self.read.get(&place.index)?.as_ref()?;
        let text = lines.get((place.line as usize).checked_sub(1)?)?;
        Some(text.as_str())
    }

    /// The file's lines, from the first place it is found that can be read.
    fn load(&mut self, file: &SourceFile) -> Option<Vec<String>> {
        if let Some(text) = self.table.embedded(file) {
            return Some(text.lines().map(clean).collect());
        }
        let room = MAX_TOTAL_BYTES.saturating_sub(self.total);
        let limit = room.min(MAX_FILE_BYTES);
        for path in candidates(file, &self.table.elf_dir) {
            if let Ok(bytes) = crate::userfile::read_bytes(&path, limit) {
                self.total += bytes.len() as u64;
                let text = String::from_utf8_lossy(&bytes);
                return Some(text.lines().map(clean).collect());
            }
        }
        None
    }
}

/// A line as listings show it: trimmed, tabs as spaces, no control characters.
fn clean(line: &str) -> String {
    line.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Where `file` may be, in order.
pub fn candidates(file: &SourceFile, elf_dir: &Path) -> Vec<PathBuf> {
    let path = Path::new(&file.path);
    let mut out = Vec::new();
    if path.is_absolute() {
        out.push(path.to_path_buf());
    }
    let name = Path::new(&file.name);
    if name.is_relative() {
        out.push(elf_dir.join(name));
    }
    if let Some(base) = path.file_name() {
        out.push(elf_dir.join(base));
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_looked_for_where_dwarf_says_then_beside_the_elf() {
        let f = SourceFile {
            path: "/build/src/kernel/main.c".into(),
            name: "kernel/main.c".into(),
        };
        let c = candidates(&f, Path::new("/home/me/k"));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/build/src/kernel/main.c"),
                PathBuf::from("/home/me/k/kernel/main.c"),
                PathBuf::from("/home/me/k/main.c"),
            ]
        );
        // A relative compilation directory (-fdebug-prefix-map=/build=.).
        let rel = SourceFile {
            path: "./src/boot.S".into(),
            name: "./src/boot.S".into(),
        };
        assert_eq!(
            candidates(&rel, Path::new("k")),
            vec![PathBuf::from("k/src/boot.S"), PathBuf::from("k/boot.S")]
        );
    }

    #[test]
    fn lines_are_trimmed_and_tabs_become_spaces() {
        assert_eq!(clean("\tmovl\t$1, %eax  "), "movl $1, %eax");
    }
}
