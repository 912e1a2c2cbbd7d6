//! The machine: processor state, memory and symbols, as plain data that tests can compare.
//! It knows nothing of how instructions execute (see `engine`) or of any user interface.

pub mod cpu;
pub mod dev;
pub mod flags;
pub mod memory;
pub mod msr;
pub mod pagebuild;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod segment;
pub mod symbols;
pub mod tables;
pub mod tlb;

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
    /// The translation cache (not part of the machine's state: see `tlb::Tlb`).
    pub tlb: tlb::Tlb,
    /// How the page tables were made from the regions, so that they can be made again
    /// when a loader adds regions (None: the machine's own tables, or paging off).
    pub layout: Option<pagebuild::Plan>,
    /// The devices at the I/O ports (none unless attached: see `dev`).
    pub dev: dev::Devices,
    /// Exception delivery as the processor does it, always (`ringstep boot` sets it):
    /// a vector beyond the IDT limit or an IDT slot that is not present raises #GP or
    /// #NP, which can become #DF and a triple fault (SDM Vol. 3A 6.15, Table 6-5).
    /// Off (the lesson machines), the run stops there instead, as "no handler is
    /// installed", which is what a lesson about the missing handler wants to show.
    pub architectural_faults: bool,
}

impl Machine {
    pub fn new() -> Machine {
        Machine::default()
    }

    /// The access rights an explicit data access at the current CPL uses.
    pub fn access(&self, kind: AccessKind) -> Access {
        let ac = self.cpu.rflags & flags::AC != 0;
        Access {
            kind,
            user: self.cpu.cpl() == 3,
            rules: paging::Rules::new(&paging::Controls::of(&self.cpu), ac, false),
        }
    }

    /// An implicit supervisor access (descriptor tables, TSS), made whatever the CPL.
    pub fn system_access(&self, kind: AccessKind) -> Access {
        Access {
            kind,
            user: false,
            rules: paging::Rules::new(&paging::Controls::of(&self.cpu), false, true),
        }
    }

    /// The page-table walk for `lin` under the current CR3 (no side effects).
    pub fn walk(&self, lin: u64) -> paging::Walk {
        paging::walk(&self.mem, &paging::Controls::of(&self.cpu), lin)
    }

    /// The page that `lin` maps to, as the CPU would find it now (None: not mapped).
    pub fn mapping(&self, lin: u64) -> Option<paging::Mapped> {
        self.walk(lin).result.ok()
    }

    /// Read linear addresses as the CPU sees them now, without checks or side effects;
    /// unmapped bytes read as zero. For the viewer, the debugger and lessons.
    pub fn peek_lin(&self, lin: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let a = lin.wrapping_add(done as u64);
            let n = (4096 - (a & 0xfff) as usize).min(buf.len() - done);
            match self.mapping(a) {
                Some(m) => self.mem.peek_phys(m.phys, &mut buf[done..done + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Little-endian value of 1 to 8 bytes at a linear address (see `peek_lin`).
    pub fn peek_lin_le(&self, lin: u64, len: usize) -> u64 {
        let mut b = [0u8; 8];
        self.peek_lin(lin, &mut b[..len.min(8)]);
        u64::from_le_bytes(b)
    }

    /// True if the CPU sees memory at `lin` now: a page the current tables map, or with
    /// paging off an address inside a declared region. Views show other addresses as
    /// not mapped rather than as zeros.
    pub fn lin_mapped(&self, lin: u64) -> bool {
        if self.cpu.cr0 & cpu::CR0_PG == 0 {
            self.mem.region_at(lin).is_some()
        } else {
            self.mapping(lin).is_some()
        }
    }

    /// `len` bytes from `lin` as the CPU sees them now, None for each byte that is not
    /// mapped (see `lin_mapped`); one walk a page.
    pub fn read_lin(&self, lin: u64, len: usize) -> Vec<Option<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut done = 0;
        while done < len {
            let a = lin.wrapping_add(done as u64);
            let n = (4096 - (a & 0xfff) as usize).min(len - done);
            if self.lin_mapped(a) {
                let mut buf = vec![0u8; n];
                self.peek_lin(a, &mut buf);
                out.extend(buf.into_iter().map(Some));
            } else {
                out.extend(std::iter::repeat_n(None, n));
            }
            done += n;
        }
        out
    }

    /// The little-endian value of `len` (1 to 8) bytes at `lin` as the CPU sees it, or
    /// None if a byte of it is not mapped.
    pub fn read_lin_le(&self, lin: u64, len: usize) -> Option<u64> {
        let bytes = self.read_lin(lin, len.min(8));
        let mut b = [0u8; 8];
        for (i, x) in bytes.into_iter().enumerate() {
            b[i] = x?;
        }
        Some(u64::from_le_bytes(b))
    }

    /// The physical address of `lin` now, for a write from outside (the debugger's
    /// `set mem`); None if it is not mapped.
    pub fn phys_of(&self, lin: u64) -> Option<u64> {
        self.mapping(lin).map(|m| m.phys)
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
            self.peek_lin_le(self.cpu.gdtr.base + sel.index() as u64 * 8, 8),
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
                .add_region(Region::new(name, base, 0x1000, perm))
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
