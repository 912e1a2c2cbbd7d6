//! Register names the debugger understands: general registers at every width, the
//! instruction pointer, the flags, segment selectors, control registers and the CPL;
//! how to read each from a machine and which of them `set reg` may change.

use crate::engine::Change;
use crate::machine::cpu::mask;
use crate::machine::flags;
use crate::machine::{Machine, SegReg};

/// A register as a debugger command names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// General register `index` (0 = rax .. 15 = r15), `bytes` wide, starting at bit 8
    /// when `high` (ah, ch, dh, bh).
    Gpr {
        index: u8,
        bytes: u8,
        high: bool,
    },
    Ip,
    Flags,
    /// The selector of a segment register.
    Seg(SegReg),
    /// Control register 0, 2, 3 or 4.
    Cr(u8),
    /// The current privilege level (CS.RPL): read-only.
    Cpl,
}

const GPR64: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const GPR32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d",
    "r13d", "r14d", "r15d",
];
const GPR16: [&str; 16] = [
    "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w",
    "r14w", "r15w",
];
const GPR8: [&str; 16] = [
    "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b",
    "r13b", "r14b", "r15b",
];
const GPR8_HIGH: [&str; 4] = ["ah", "ch", "dh", "bh"];
const SEGS: [(&str, SegReg); 6] = [
    ("cs", SegReg::Cs),
    ("ss", SegReg::Ss),
    ("ds", SegReg::Ds),
    ("es", SegReg::Es),
    ("fs", SegReg::Fs),
    ("gs", SegReg::Gs),
];
const OTHERS: [&str; 11] = [
    "rip", "eip", "ip", "rflags", "eflags", "flags", "cr0", "cr2", "cr3", "cr4", "cpl",
];

/// Every register name, for completion and suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    GPR64
        .iter()
        .chain(GPR32.iter())
        .chain(GPR16.iter())
        .chain(GPR8.iter())
        .chain(GPR8_HIGH.iter())
        .copied()
        .chain(SEGS.iter().map(|(n, _)| *n))
        .chain(OTHERS.iter().copied())
}

/// The register names `set reg` accepts on a machine running 64-bit code (`long`) or
/// not: the one list that completion offers and `Reg::edit` checks.
pub fn settable_names(long: bool) -> impl Iterator<Item = &'static str> {
    names().filter(move |n| Reg::parse(n).is_some_and(|r| r.settable(long)))
}

impl Reg {
    /// Whether the register exists on a machine running 64-bit code (`long`) or not:
    /// without it there are no r8..r15, no 64-bit halves and no spl, bpl, sil, dil.
    pub fn exists(&self, long: bool) -> bool {
        match *self {
            Reg::Gpr { index, bytes, high } => {
                long || (index < 8 && bytes != 8 && (high || bytes != 1 || index < 4))
            }
            _ => true,
        }
    }

    /// The register exists on machine `m`, or the error saying it does not.
    fn on(&self, m: &Machine) -> Result<(), String> {
        if self.exists(m.cpu.long_mode_active()) {
            return Ok(());
        }
        Err(format!(
            "`{}` exists only in 64-bit mode; this machine runs 32-bit code",
            self.name()
        ))
    }

    /// Whether `set reg` may change the register: a general register that exists on
    /// the machine, or the flags.
    pub fn settable(&self, long: bool) -> bool {
        self.exists(long) && matches!(self, Reg::Gpr { .. } | Reg::Flags)
    }

    /// Look a register up by name (case-insensitive; a leading `%` or `$` is allowed).
    pub fn parse(name: &str) -> Option<Reg> {
        let n = name
            .strip_prefix('%')
            .or_else(|| name.strip_prefix('$'))
            .unwrap_or(name)
            .to_ascii_lowercase();
        let find = |table: &[&str]| table.iter().position(|r| *r == n).map(|i| i as u8);
        if let Some(i) = find(&GPR64) {
            return Some(Reg::Gpr {
                index: i,
                bytes: 8,
                high: false,
            });
        }
        if let Some(i) = find(&GPR32) {
            return Some(Reg::Gpr {
                index: i,
                bytes: 4,
                high: false,
            });
        }
        if let Some(i) = find(&GPR16) {
            return Some(Reg::Gpr {
                index: i,
                bytes: 2,
                high: false,
            });
        }
        if let Some(i) = find(&GPR8) {
            return Some(Reg::Gpr {
                index: i,
                bytes: 1,
                high: false,
            });
        }
        if let Some(i) = find(&GPR8_HIGH) {
            return Some(Reg::Gpr {
                index: i,
                bytes: 1,
                high: true,
            });
        }
        if let Some((_, s)) = SEGS.iter().find(|(s, _)| *s == n) {
            return Some(Reg::Seg(*s));
        }
        Some(match n.as_str() {
            "rip" | "eip" | "ip" => Reg::Ip,
            "rflags" | "eflags" | "flags" => Reg::Flags,
            "cr0" => Reg::Cr(0),
            "cr2" => Reg::Cr(2),
            "cr3" => Reg::Cr(3),
            "cr4" => Reg::Cr(4),
            "cpl" => Reg::Cpl,
            _ => return None,
        })
    }

    /// The register's name (the 32-bit spelling for `rip`/`rflags` is not kept: the
    /// 64-bit names stand for the whole register).
    pub fn name(&self) -> &'static str {
        match *self {
            Reg::Gpr { index, bytes, high } => {
                let i = index as usize & 15;
                match (bytes, high) {
                    (1, true) => GPR8_HIGH[i & 3],
                    (1, false) => GPR8[i],
                    (2, _) => GPR16[i],
                    (4, _) => GPR32[i],
                    _ => GPR64[i],
                }
            }
            Reg::Ip => "rip",
            Reg::Flags => "rflags",
            Reg::Seg(s) => SEGS.iter().find(|(_, r)| *r == s).map_or("cs", |(n, _)| n),
            Reg::Cr(0) => "cr0",
            Reg::Cr(2) => "cr2",
            Reg::Cr(3) => "cr3",
            Reg::Cr(_) => "cr4",
            Reg::Cpl => "cpl",
        }
    }

    /// Width in bytes of the value `read` returns.
    pub fn bytes(&self) -> usize {
        match *self {
            Reg::Gpr { bytes, .. } => bytes as usize,
            Reg::Seg(_) => 2,
            Reg::Cpl => 1,
            _ => 8,
        }
    }

    /// The register's value in `m`.
    pub fn read(&self, m: &Machine) -> u64 {
        let cpu = &m.cpu;
        match *self {
            Reg::Gpr { index, bytes, high } => {
                let v = cpu.gpr[index as usize & 15];
                mask(if high { v >> 8 } else { v }, bytes as usize)
            }
            Reg::Ip => cpu.rip,
            Reg::Flags => cpu.rflags,
            Reg::Seg(s) => cpu.seg(s).selector as u64,
            Reg::Cr(0) => cpu.cr0,
            Reg::Cr(2) => cpu.cr2,
            Reg::Cr(3) => cpu.cr3,
            Reg::Cr(_) => cpu.cr4,
            Reg::Cpl => cpu.cpl() as u64,
        }
    }

    /// The journal entry that sets this register to `value` in `m`, or why it cannot be
    /// set from the debugger.
    pub fn edit(&self, m: &Machine, value: u64) -> Result<Change, String> {
        self.on(m)?;
        match *self {
            Reg::Gpr { index, bytes, high } => {
                let bytes = bytes as usize;
                if bytes < 8 && value > mask(u64::MAX, bytes) {
                    return Err(format!(
                        "{value:#x} does not fit in `{}` ({} bits)",
                        self.name(),
                        bytes * 8
                    ));
                }
                let shift = if high { 8 } else { 0 };
                let field = mask(u64::MAX, bytes) << shift;
                let old = m.cpu.gpr[index as usize & 15];
                let new = (old & !field) | (value << shift);
                Ok(Change::Gpr { index, old, new })
            }
            Reg::Flags => {
                let defined = flags::NAMED_BITS.iter().fold(0, |a, (b, _)| a | b) | flags::IOPL;
                let reserved = value & !defined & !flags::RESERVED1;
                if reserved != 0 {
                    return Err(format!(
                        "{value:#x} sets reserved RFLAGS bits ({reserved:#x}); only the defined flags can be set"
                    ));
                }
                if value & flags::VM != 0 {
                    return Err("RFLAGS.VM (virtual-8086 mode) is not modelled".into());
                }
                Ok(Change::Rflags {
                    old: m.cpu.rflags,
                    // Bit 1 always reads as 1 (SDM Vol. 1, 3.4.3).
                    new: value | flags::RESERVED1,
                })
            }
            Reg::Ip => Err(
                "the instruction pointer cannot be set: use `goto N` or `break` to move to an instruction"
                    .into(),
            ),
            Reg::Seg(_) => Err(format!(
                "`{}` cannot be set: loading a segment register also loads its descriptor; only general registers and rflags can be set",
                self.name()
            )),
            Reg::Cr(_) => Err(format!(
                "`{}` cannot be set from the debugger; only general registers and rflags can be set",
                self.name()
            )),
            Reg::Cpl => Err("the CPL is CS.RPL and changes only with CS".into()),
        }
    }
}

impl std::fmt::Display for Reg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in names() {
            let r = Reg::parse(n).unwrap_or_else(|| panic!("{n} parses"));
            let canonical = r.name();
            assert_eq!(Reg::parse(canonical), Some(r), "{n}");
        }
        assert_eq!(Reg::parse("%EAX"), Reg::parse("eax"));
        assert_eq!(Reg::parse("eaz"), None);
    }

    #[test]
    fn partial_registers_read_and_write_their_bits() {
        let mut m = Machine::new();
        m.cpu.gpr[0] = 0x1122_3344_5566_7788;
        let ah = Reg::parse("ah").unwrap();
        assert_eq!(ah.read(&m), 0x77);
        assert_eq!(Reg::parse("ax").unwrap().read(&m), 0x7788);
        assert_eq!(Reg::parse("eax").unwrap().read(&m), 0x5566_7788);
        match ah.edit(&m, 0xab) {
            Ok(Change::Gpr { new, .. }) => assert_eq!(new, 0x1122_3344_5566_ab88),
            other => panic!("{other:?}"),
        }
        assert!(ah.edit(&m, 0x100).is_err());
        assert!(Reg::Ip.edit(&m, 0).is_err());
        assert!(Reg::Flags.edit(&m, 1 << 3).is_err());
        assert!(matches!(
            Reg::Flags.edit(&m, 0x200),
            Ok(Change::Rflags { new: 0x202, .. })
        ));
    }
}
