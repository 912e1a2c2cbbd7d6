//! `x/Nf ADDR`: memory as hex units with an ASCII column, 16 bytes a line. Memory is
//! read as the CPU sees it through its current page tables (CR3), without permission
//! checks; bytes those tables do not map (with paging off: outside every memory region)
//! show as `??`.

use std::fmt;

use crate::machine::Machine;

use super::spec::Unit;

/// One line: up to 16 bytes from `addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpLine {
    pub addr: u64,
    /// None for a byte the current page tables do not map.
    pub bytes: Vec<Option<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    pub addr: u64,
    pub unit: Unit,
    pub lines: Vec<DumpLine>,
    /// The symbol at or shortly before `addr`, if any.
    pub label: Option<String>,
}

pub const LINE_BYTES: u64 = 16;

/// Read `count` units of `unit` from `addr`.
pub fn dump(m: &Machine, addr: u64, count: u64, unit: Unit) -> Dump {
    let total = count.saturating_mul(unit.size());
    let mut lines = Vec::new();
    let mut off = 0;
    while off < total {
        let n = LINE_BYTES.min(total - off);
        let a = addr.wrapping_add(off);
        let bytes = m.read_lin(a, n as usize);
        lines.push(DumpLine { addr: a, bytes });
        off += n;
    }
    Dump {
        addr,
        unit,
        lines,
        label: m.describe_addr(addr),
    }
}

impl DumpLine {
    /// The units of the line as text: `b8 14 00` or `0x00000014`, `??` where a byte is
    /// outside memory.
    pub fn units(&self, unit: Unit) -> Vec<String> {
        let size = unit.size() as usize;
        self.bytes
            .chunks(size)
            .map(|c| {
                if c.iter().any(Option::is_none) {
                    return if size == 1 {
                        "??".into()
                    } else {
                        format!("0x{}", "?".repeat(size * 2))
                    };
                }
                let v = c
                    .iter()
                    .rev()
                    .fold(0u64, |acc, b| (acc << 8) | b.unwrap_or(0) as u64);
                if size == 1 {
                    format!("{v:02x}")
                } else {
                    format!("0x{v:0width$x}", width = size * 2)
                }
            })
            .collect()
    }

    /// The bytes as ASCII: printable characters, `.` for the others, ` ` outside memory.
    pub fn ascii(&self) -> String {
        self.bytes
            .iter()
            .map(|b| match b {
                Some(c) if c.is_ascii_graphic() || *c == b' ' => *c as char,
                Some(_) => '.',
                None => ' ',
            })
            .collect()
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.label {
            writeln!(f, "<{l}>:")?;
        }
        let per_line = (LINE_BYTES / self.unit.size()) as usize;
        let width = match self.unit.size() {
            1 => per_line * 3 - 1,
            s => per_line * (2 + 2 * s as usize + 1) - 1,
        };
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let units = line.units(self.unit).join(" ");
            write!(
                f,
                "{:#010x}  {units:<width$}  |{}|",
                line.addr,
                line.ascii()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Perm, Region};

    #[test]
    fn bytes_words_and_unmapped_memory() {
        let mut m = Machine::new();
        let perm = Perm {
            user: true,
            writable: true,
            exec: false,
        };
        m.mem
            .add_region(Region::new("data", 0x1000, 0x1000, perm))
            .unwrap_or_else(|e| panic!("{e}"));
        m.mem.poke(0x1ff8, b"getpid\0\x01");
        let d = dump(&m, 0x1ff8, 12, Unit::Hex);
        assert_eq!(
            d.to_string(),
            "0x00001ff8  67 65 74 70 69 64 00 01 ?? ?? ?? ??              |getpid..    |"
        );
        let w = dump(&m, 0x1ff8, 3, Unit::Word);
        assert_eq!(
            w.lines[0].units(Unit::Word),
            vec!["0x70746567", "0x01006469", "0x????????"]
        );
        let g = dump(&m, 0x1ff8, 1, Unit::Giant);
        assert_eq!(g.lines[0].units(Unit::Giant), vec!["0x0100646970746567"]);
    }
}
