//! Linear-address translation through page tables held in emulated memory, as the Intel
//! SDM Vol. 3A chapter 4 describes it: 32-bit paging (4 KiB pages, 4 MiB pages with
//! CR4.PSE), PAE paging (4 KiB and 2 MiB pages) and 4-level paging (4 KiB, 2 MiB and
//! 1 GiB pages), with the access rights of 4.6, the error codes of 4.7 and the
//! accessed and dirty flags of 4.8.
//!
//! `walk` only reads: the viewer and the debugger use it to show a translation, and the
//! engine applies the accessed/dirty updates it lists (`Walk::updates`) through its
//! journal, so that stepping back clears them again.

use super::cpu::{Cpu, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, CR4_SMAP, CR4_SMEP};
use super::memory::{Access, AccessKind, Memory, PageFault};
use super::msr::{EFER_LMA, EFER_NXE};

/// MAXPHYADDR of the CPU model (CPUID 80000008H, docs/cpu-model.md).
pub const PHYS_BITS: u32 = 46;
/// The physical address bits an entry can hold, as a mask (bits 51:12 below MAXPHYADDR).
pub const PHYS_MASK: u64 = ((1u64 << PHYS_BITS) - 1) & !0xfff;

pub const P: u64 = 1 << 0;
pub const RW: u64 = 1 << 1;
pub const US: u64 = 1 << 2;
pub const PWT: u64 = 1 << 3;
pub const PCD: u64 = 1 << 4;
pub const A: u64 = 1 << 5;
pub const D: u64 = 1 << 6;
pub const PS: u64 = 1 << 7;
pub const G: u64 = 1 << 8;
pub const XD: u64 = 1 << 63;

/// Which paging mode CR0.PG, CR4.PAE and EFER.LME/LMA select (SDM Vol. 3A, 4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingMode {
    /// CR0.PG = 0: linear addresses are physical addresses.
    Off,
    Bits32,
    Pae,
    Level4,
}

impl PagingMode {
    pub fn name(self) -> &'static str {
        match self {
            PagingMode::Off => "paging off",
            PagingMode::Bits32 => "32-bit paging",
            PagingMode::Pae => "PAE paging",
            PagingMode::Level4 => "4-level paging",
        }
    }
}

/// The registers a translation depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Controls {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

impl Controls {
    pub fn of(cpu: &Cpu) -> Controls {
        Controls {
            cr0: cpu.cr0,
            cr3: cpu.cr3,
            cr4: cpu.cr4,
            efer: cpu.efer(),
        }
    }

    pub fn mode(&self) -> PagingMode {
        if self.cr0 & CR0_PG == 0 {
            PagingMode::Off
        } else if self.efer & EFER_LMA != 0 {
            PagingMode::Level4
        } else if self.cr4 & CR4_PAE != 0 {
            PagingMode::Pae
        } else {
            PagingMode::Bits32
        }
    }

    /// Execute-disable is in force (EFER.NXE with PAE or 4-level paging).
    pub fn nx(&self) -> bool {
        self.efer & EFER_NXE != 0 && matches!(self.mode(), PagingMode::Pae | PagingMode::Level4)
    }
}

/// One paging-structure entry a walk read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// "PML4E", "PDPTE", "PDE" or "PTE".
    pub name: &'static str,
    /// Physical address of the table and of the entry in it.
    pub table: u64,
    pub index: u16,
    pub addr: u64,
    pub entry: u64,
    /// 4 or 8 bytes.
    pub size: u8,
    /// The entry maps a page (PTE, or a PDE/PDPTE with PS = 1).
    pub leaf: bool,
    /// This entry has an accessed flag the CPU sets (not a PAE PDPTE).
    pub has_accessed: bool,
}

/// Where a walk ended without a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// The last entry read has P = 0.
    NotPresent,
    /// The last entry read sets a reserved bit (the reason names it).
    Reserved(&'static str),
}

/// A page a walk found, with the rights the whole chain of entries gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// The physical address the linear address translates to.
    pub phys: u64,
    pub page_size: u64,
    /// U/S = 1 in every entry.
    pub user: bool,
    /// R/W = 1 in every entry.
    pub writable: bool,
    /// XD = 1 in some entry, with EFER.NXE.
    pub nx: bool,
    pub dirty: bool,
    pub global: bool,
}

/// The result of walking the tables for one linear address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub lin: u64,
    pub mode: PagingMode,
    levels: [Option<Level>; 4],
    pub result: Result<Mapped, Miss>,
}

impl Walk {
    /// The entries read, top level first.
    pub fn levels(&self) -> impl Iterator<Item = &Level> {
        self.levels.iter().flatten()
    }

    /// The physical pages holding the paging structures this walk read.
    pub fn tables(&self) -> impl Iterator<Item = u64> + '_ {
        self.levels().map(|l| l.table & !0xfff)
    }

    /// The accessed/dirty updates an access makes (SDM Vol. 3A, 4.8): the accessed flag
    /// of every non-leaf entry on the way (present and without reserved bits), and -
    /// only if the access is allowed - the leaf's accessed flag and, for a write, its
    /// dirty flag. Each is (entry address, entry size, new value).
    pub fn updates(&self, allowed: bool, write: bool) -> [Option<(u64, u8, u64)>; 4] {
        let mut out = [None; 4];
        let found = self.result.is_ok();
        let n = self.levels().count();
        for (i, l) in self.levels().enumerate() {
            let last = i + 1 == n;
            if !l.has_accessed || (last && !found) {
                continue;
            }
            let mut want = A;
            if l.leaf {
                if !allowed {
                    continue;
                }
                if write {
                    want |= D;
                }
            }
            if l.entry & want != want {
                out[i] = Some((l.addr, l.size, l.entry | want));
            }
        }
        out
    }
}

/// Read a paging-structure entry (physical memory, no checks).
fn entry(mem: &Memory, addr: u64, size: u8) -> u64 {
    mem.peek_phys_le(addr, size as usize)
}

struct Walker<'a> {
    mem: &'a Memory,
    nxe: bool,
    levels: [Option<Level>; 4],
    n: usize,
}

impl Walker<'_> {
    fn read(&mut self, name: &'static str, table: u64, index: u64, size: u8) -> u64 {
        self.read_entry(name, table, index, size, true)
    }

    fn read_entry(
        &mut self,
        name: &'static str,
        table: u64,
        index: u64,
        size: u8,
        has_accessed: bool,
    ) -> u64 {
        let addr = table + index * size as u64;
        let e = entry(self.mem, addr, size);
        self.levels[self.n] = Some(Level {
            name,
            table,
            index: index as u16,
            addr,
            entry: e,
            size,
            leaf: false,
            has_accessed,
        });
        self.n += 1;
        e
    }

    fn mark_leaf(&mut self) {
        if let Some(l) = self.levels[self.n - 1].as_mut() {
            l.leaf = true;
        }
    }

    /// Reserved bits of a PAE / 4-level entry: physical-address bits at or above
    /// MAXPHYADDR (51:M), and XD without EFER.NXE.
    fn reserved64(&self, e: u64) -> Option<&'static str> {
        if e & (((1u64 << 52) - 1) & !((1u64 << PHYS_BITS) - 1)) != 0 {
            return Some("a physical-address bit above MAXPHYADDR is set");
        }
        if !self.nxe && e & XD != 0 {
            return Some("XD is set while EFER.NXE = 0");
        }
        None
    }
}

/// Walk the page tables for `lin` (no side effects).
pub fn walk(mem: &Memory, c: &Controls, lin: u64) -> Walk {
    let mode = c.mode();
    let mut w = Walker {
        mem,
        nxe: c.efer & EFER_NXE != 0,
        levels: [None; 4],
        n: 0,
    };
    let result = match mode {
        PagingMode::Off => Ok(Mapped {
            phys: lin & 0xffff_ffff,
            page_size: 4096,
            user: true,
            writable: true,
            nx: false,
            dirty: true,
            global: false,
        }),
        PagingMode::Bits32 => walk32(&mut w, c, lin),
        PagingMode::Pae => walk_pae(&mut w, c, lin),
        PagingMode::Level4 => walk4(&mut w, c, lin),
    };
    Walk {
        lin,
        mode,
        levels: w.levels,
        result,
    }
}

fn walk32(w: &mut Walker, c: &Controls, lin: u64) -> Result<Mapped, Miss> {
    let lin = lin & 0xffff_ffff;
    let pde = w.read("PDE", c.cr3 & 0xffff_f000, lin >> 22, 4);
    if pde & P == 0 {
        return Err(Miss::NotPresent);
    }
    if pde & PS != 0 && c.cr4 & CR4_PSE != 0 {
        // A 4 MiB page; bits 20:13 hold physical-address bits 39:32 (PSE-36), bit 21
        // is reserved (SDM Vol. 3A, Table 4-4).
        if pde & (1 << 21) != 0 {
            return Err(Miss::Reserved("bit 21 of a 4-MByte PDE is set"));
        }
        w.mark_leaf();
        let base = (pde & 0xffc0_0000) | ((pde >> 13) & 0xff) << 32;
        return Ok(mapped(base | (lin & 0x3f_ffff), 4 << 20, &[pde], false));
    }
    let pte = w.read("PTE", pde & 0xffff_f000, (lin >> 12) & 0x3ff, 4);
    if pte & P == 0 {
        return Err(Miss::NotPresent);
    }
    w.mark_leaf();
    Ok(mapped(
        (pte & 0xffff_f000) | (lin & 0xfff),
        4096,
        &[pde, pte],
        false,
    ))
}

/// The rights of a chain of entries (the last one maps the page).
fn mapped(phys: u64, page_size: u64, chain: &[u64], nxe: bool) -> Mapped {
    let all = |bit: u64| chain.iter().all(|e| e & bit != 0);
    let leaf = chain[chain.len() - 1];
    Mapped {
        phys,
        page_size,
        user: all(US),
        writable: all(RW),
        nx: nxe && chain.iter().any(|e| e & XD != 0),
        dirty: leaf & D != 0,
        global: leaf & G != 0,
    }
}

fn walk_pae(w: &mut Walker, c: &Controls, lin: u64) -> Result<Mapped, Miss> {
    let lin = lin & 0xffff_ffff;
    // The four PDPTEs: a real CPU loads them when CR3 is written (SDM Vol. 3A, 4.4.1);
    // ringstep reads them at every walk (docs/paging.md).
    let pdpte = w.read_entry("PDPTE", c.cr3 & 0xffff_ffe0, lin >> 30, 8, false);
    if pdpte & P == 0 {
        return Err(Miss::NotPresent);
    }
    if pdpte & 0x1e6 != 0 || pdpte & XD != 0 || w.reserved64(pdpte).is_some() {
        return Err(Miss::Reserved("a reserved bit of a PAE PDPTE is set"));
    }
    let nxe = w.nxe;
    lower_levels(w, pdpte & PHYS_MASK, lin, &[], nxe)
}

/// The PDE and PTE levels, shared by PAE and 4-level paging. `upper` holds the entries
/// above that take part in the rights (none for PAE).
fn lower_levels(
    w: &mut Walker,
    pd: u64,
    lin: u64,
    upper: &[u64],
    nxe: bool,
) -> Result<Mapped, Miss> {
    let pde = w.read("PDE", pd, (lin >> 21) & 0x1ff, 8);
    check_entry(w, pde)?;
    let mut chain = [0u64; 4];
    chain[..upper.len()].copy_from_slice(upper);
    chain[upper.len()] = pde;
    if pde & PS != 0 {
        if pde & 0x1f_e000 != 0 {
            return Err(Miss::Reserved(
                "a reserved bit (20:13) of a 2-MByte PDE is set",
            ));
        }
        w.mark_leaf();
        let base = pde & PHYS_MASK & !0x1f_ffff;
        let chain = &chain[..upper.len() + 1];
        return Ok(mapped(base | (lin & 0x1f_ffff), 2 << 20, chain, nxe));
    }
    let pte = w.read("PTE", pde & PHYS_MASK, (lin >> 12) & 0x1ff, 8);
    check_entry(w, pte)?;
    w.mark_leaf();
    chain[upper.len() + 1] = pte;
    let chain = &chain[..upper.len() + 2];
    Ok(mapped((pte & PHYS_MASK) | (lin & 0xfff), 4096, chain, nxe))
}

fn check_entry(w: &Walker, e: u64) -> Result<(), Miss> {
    if e & P == 0 {
        return Err(Miss::NotPresent);
    }
    match w.reserved64(e) {
        Some(why) => Err(Miss::Reserved(why)),
        None => Ok(()),
    }
}

fn walk4(w: &mut Walker, c: &Controls, lin: u64) -> Result<Mapped, Miss> {
    let nxe = w.nxe;
    let pml4e = w.read("PML4E", c.cr3 & PHYS_MASK, (lin >> 39) & 0x1ff, 8);
    check_entry(w, pml4e)?;
    if pml4e & PS != 0 {
        return Err(Miss::Reserved("PS (bit 7) is reserved in a PML4E"));
    }
    let pdpte = w.read("PDPTE", pml4e & PHYS_MASK, (lin >> 30) & 0x1ff, 8);
    check_entry(w, pdpte)?;
    if pdpte & PS != 0 {
        if pdpte & 0x3fff_e000 != 0 {
            return Err(Miss::Reserved(
                "a reserved bit (29:13) of a 1-GByte PDPTE is set",
            ));
        }
        w.mark_leaf();
        let base = pdpte & PHYS_MASK & !0x3fff_ffff;
        let m = mapped(base | (lin & 0x3fff_ffff), 1 << 30, &[pml4e, pdpte], nxe);
        return Ok(m);
    }
    lower_levels(w, pdpte & PHYS_MASK, lin, &[pml4e, pdpte], nxe)
}

/// The paging controls an access is checked under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub wp: bool,
    pub smep: bool,
    /// SMAP applies to this (supervisor) access: CR4.SMAP and either an implicit access
    /// or EFLAGS.AC = 0.
    pub smap: bool,
    /// Fetches report I/D in the error code (CR4.SMEP, or NXE with PAE/4-level paging).
    pub id: bool,
}

impl Rules {
    pub fn new(c: &Controls, ac: bool, implicit: bool) -> Rules {
        Rules {
            wp: c.cr0 & CR0_WP != 0,
            smep: c.cr4 & CR4_SMEP != 0,
            smap: c.cr4 & CR4_SMAP != 0 && (implicit || !ac),
            id: c.cr4 & CR4_SMEP != 0 || c.nx(),
        }
    }
}

/// Why a mapped page refuses an access (SDM Vol. 3A, 4.6), or None.
pub fn denied(m: &Mapped, a: &Access) -> Option<&'static str> {
    let kind = a.kind;
    if a.user {
        if !m.user {
            return Some("the page is supervisor-only (U/S = 0)");
        }
        if kind == AccessKind::Write && !m.writable {
            return Some("the page is read-only (R/W = 0)");
        }
    } else if m.user {
        if kind == AccessKind::Fetch && a.rules.smep {
            return Some("SMEP: supervisor fetch from a user page");
        }
        if kind != AccessKind::Fetch && a.rules.smap {
            return Some("SMAP: supervisor data access to a user page");
        }
    }
    if kind == AccessKind::Write && !a.user && !m.writable && a.rules.wp {
        return Some("the page is read-only (R/W = 0) and CR0.WP = 1");
    }
    if kind == AccessKind::Fetch && m.nx {
        return Some("the page is not executable (XD = 1)");
    }
    None
}

/// The #PF for an access that `walk` could not complete or `denied` refused.
pub fn fault(lin: u64, a: &Access, miss: Option<Miss>) -> PageFault {
    let mut code = 0;
    match miss {
        None => code |= PageFault::PRESENT,
        Some(Miss::Reserved(_)) => code |= PageFault::PRESENT | PageFault::RSVD,
        Some(Miss::NotPresent) => {}
    }
    if a.kind == AccessKind::Write {
        code |= PageFault::WRITE;
    }
    if a.user {
        code |= PageFault::USER;
    }
    if a.kind == AccessKind::Fetch && a.rules.id {
        code |= PageFault::FETCH;
    }
    PageFault {
        addr: lin,
        error_code: code,
    }
}

/// Translate `lin` for `a` without side effects: the physical address, or the #PF.
pub fn translate(mem: &Memory, c: &Controls, lin: u64, a: &Access) -> Result<u64, PageFault> {
    let w = walk(mem, c, lin);
    match w.result {
        Err(miss) => Err(fault(lin, a, Some(miss))),
        Ok(m) if denied(&m, a).is_some() => Err(fault(lin, a, None)),
        Ok(m) => Ok(m.phys),
    }
}
