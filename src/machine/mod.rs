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
