//! The machine: processor state, memory and symbols, as plain data that tests can compare.
//! It knows nothing of how instructions execute (see `engine`) or of any user interface.

pub mod cpu;
pub mod flags;
pub mod memory;
pub mod msr;
pub mod segment;
pub mod symbols;
pub mod tables;

pub use cpu::{Cpu, Mode, TableReg};
pub use memory::{Access, AccessKind, Memory, PageFault, Perm, Region};
pub use segment::{Attr, Descriptor, SegReg, Segment, Selector};
pub use symbols::Symbols;

/// A whole machine. Two machines are equal when every architectural value is equal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    pub cpu: Cpu,
    pub mem: Memory,
    pub symbols: Symbols,
}

impl Machine {
    pub fn new() -> Machine {
        Machine::default()
    }

    /// The access rights an explicit data access at the current CPL uses.
    pub fn access(&self, kind: AccessKind) -> Access {
        Access {
            kind,
            user: self.cpu.cpl() == 3,
            wp: self.cpu.cr0 & cpu::CR0_WP != 0,
            nxe: self.cpu.efer() & msr::EFER_NXE != 0,
        }
    }

    /// An implicit supervisor access (descriptor tables, TSS), made whatever the CPL.
    pub fn system_access(&self, kind: AccessKind) -> Access {
        Access {
            user: false,
            ..self.access(kind)
        }
    }

    /// `symbol` or `symbol+0x10` for an address, using only a symbol at most 1 KiB below
    /// it in the same memory region (so an address is not named after an unrelated
    /// routine far below it).
    pub fn describe_addr(&self, addr: u64) -> Option<String> {
        let (name, off) = self.symbols.nearest(addr, 0x400)?;
        let region = self.mem.region_at(addr)?;
        if !region.contains(addr - off) {
            return None;
        }
        Some(if off == 0 {
            name.to_string()
        } else {
            format!("{name}+{off:#x}")
        })
    }

    /// Read a GDT descriptor by selector without faulting (for display). None if the
    /// selector is outside the GDT limit or refers to the LDT.
    pub fn gdt_entry(&self, selector: u16) -> Option<Descriptor> {
        let sel = Selector(selector);
        if sel.ti() || sel.index() as u32 * 8 + 7 > self.cpu.gdtr.limit as u32 {
            return None;
        }
        Some(Descriptor(
            self.mem
                .peek_le(self.cpu.gdtr.base + sel.index() as u64 * 8, 8),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_named_only_after_nearby_symbols_in_their_region() {
        let mut m = Machine::new();
        let perm = Perm {
            user: true,
            writable: false,
            exec: true,
        };
        for (name, base) in [("a", 0x1000), ("b", 0x2000)] {
            m.mem
                .add_region(Region {
                    name: name.into(),
                    base,
                    size: 0x1000,
                    perm,
                })
                .unwrap();
        }
        m.symbols.insert("start", 0x1ff0);
        assert_eq!(m.describe_addr(0x1ff4).as_deref(), Some("start+0x4"));
        assert_eq!(m.describe_addr(0x2004), None);
        m.symbols.insert("entry", 0x2000);
        assert_eq!(m.describe_addr(0x2500), None);
        assert_eq!(m.describe_addr(0x2010).as_deref(), Some("entry+0x10"));
    }
}
