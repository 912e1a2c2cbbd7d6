//! Sparse, page-granular memory with named regions and page permissions.
//!
//! Frames (4 KiB) are allocated only when something is written to them; reads of a mapped
//! page that was never written return zeros. Permissions follow the paging rules of the
//! Intel SDM Vol. 3A, 4.6 "Access Rights" and a refused access is reported as the
//! page-fault error code of 4.7 "Page-Fault Exceptions".

use std::cell::Cell;
use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use super::paging::{Mapped, Rules};

pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;

/// Page permissions, as the U/S, R/W and XD bits of a page-table entry would give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub user: bool,
    pub writable: bool,
    pub exec: bool,
}

/// A named, page-aligned range of the linear address space, backed by the physical
/// range at `phys`. Page tables the machine builder makes map it there with `perm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub base: u64,
    pub size: u64,
    pub perm: Perm,
    /// Physical address of the first byte. None asks `Memory::add_region` to choose:
    /// the same address below 4 GiB if that is free, else free memory above 4 GiB.
    pub phys: Option<u64>,
}

impl Region {
    pub fn new(name: &str, base: u64, size: u64, perm: Perm) -> Region {
        Region {
            name: name.into(),
            base,
            size,
            perm,
            phys: None,
        }
    }

    /// The physical address backing linear address `addr` of this region.
    pub fn phys_of(&self, addr: u64) -> u64 {
        self.phys
            .unwrap_or(self.base)
            .wrapping_add(addr - self.base)
    }

    /// The physical range backing the region.
    pub fn phys_range(&self) -> std::ops::Range<u64> {
        let p = self.phys.unwrap_or(self.base);
        p..p.saturating_add(self.size)
    }

    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr - self.base < self.size
    }
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// What kind of access is being made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
    Fetch,
}

/// An access: its kind, whether it is a user-mode access (CPL 3 and not an implicit
/// supervisor access such as a GDT or TSS read), and the paging rules in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: AccessKind,
    pub user: bool,
    pub rules: Rules,
}

impl Access {
    /// True if a page with the declared permissions `p` refuses this access (the rights
    /// a region asks for, before page tables exist).
    pub fn denied_by(&self, p: Perm) -> bool {
        let m = Mapped {
            phys: 0,
            page_size: PAGE_SIZE,
            user: p.user,
            writable: p.writable,
            nx: !p.exec,
            dirty: true,
            global: false,
        };
        super::paging::denied(&m, self).is_some()
    }

    /// A supervisor access with write protection, SMEP/SMAP off.
    pub fn supervisor(kind: AccessKind) -> Access {
        Access {
            kind,
            user: false,
            rules: Rules {
                wp: true,
                smep: false,
                smap: false,
                id: true,
            },
        }
    }
}

/// A refused access: the faulting linear address (CR2) and the #PF error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    pub addr: u64,
    pub error_code: u32,
}

impl PageFault {
    pub const PRESENT: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const USER: u32 = 1 << 2;
    pub const RSVD: u32 = 1 << 3;
    pub const FETCH: u32 = 1 << 4;

    /// A one-line explanation of the error code.
    pub fn explain(&self) -> String {
        let what = if self.error_code & Self::FETCH != 0 {
            "instruction fetch"
        } else if self.error_code & Self::WRITE != 0 {
            "write"
        } else {
            "read"
        };
        let who = if self.error_code & Self::USER != 0 {
            "user-mode"
        } else {
            "supervisor-mode"
        };
        let why = if self.error_code & Self::PRESENT == 0 {
            "the page is not mapped"
        } else if self.error_code & Self::RSVD != 0 {
            "a paging-structure entry sets a reserved bit"
        } else if self.error_code & Self::FETCH != 0 {
            "the page is not executable"
        } else if self.error_code & Self::USER != 0 && self.error_code & Self::WRITE == 0 {
            "the page is supervisor-only"
        } else if self.error_code & Self::WRITE != 0 {
            "the page is read-only or supervisor-only"
        } else {
            "the page is supervisor-only"
        };
        format!("{who} {what} at {:#x}: {why}", self.addr)
    }
}

#[derive(Clone, Debug)]
struct Frame {
    data: Box<[u8; PAGE_SIZE as usize]>,
    /// Bumped on every write, so decoded-instruction caches can tell the page changed.
    generation: u32,
    /// A page walk read a paging structure from this frame: writing it changes
    /// translations (see `table_epoch`).
    table: bool,
    /// An instruction was decoded from this frame (`note_code`): writing it bumps
    /// `epoch`. Set through a shared reference by the decode cache, which only reads
    /// memory; not part of the machine's state (`Memory`'s equality ignores it).
    code: Cell<bool>,
}

/// Physical memory (the frames that hold data, keyed by physical page number) and the
/// named regions of the linear address space that scenarios declare.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    regions: Vec<Region>,
    frames: FxHashMap<u64, Frame>,
    /// Bumped on every write to a frame that holds a paging structure or that an
    /// instruction was decoded from, when a frame is allocated, and when regions go:
    /// lets the decode cache skip its per-page checks while none of that happened
    /// (writes to data pages do not disturb it).
    epoch: u64,
    /// Bumped on every write to a frame that holds a paging structure.
    table_epoch: u64,
    /// The physical ranges of the regions (start -> end), to place new regions.
    phys_taken: std::collections::BTreeMap<u64, u64>,
    /// Physical memory outside every region's range that was never written reads as
    /// all ones, as an unbacked address on a PC bus does (a booted kernel's machine);
    /// false: as zeros (the presets, whose regions are linear ranges).
    open_bus: bool,
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        if self.regions != other.regions || self.open_bus != other.open_bus {
            return false;
        }
        // Two memories are equal when every byte reads the same: a frame of zeros
        // equals a page that was never allocated.
        let zero = [0u8; PAGE_SIZE as usize];
        let same = |a: &Memory, b: &Memory| {
            a.frames.iter().all(|(page, f)| match b.frames.get(page) {
                Some(g) => f.data[..] == g.data[..],
                None => f.data[..] == zero[..],
            })
        };
        same(self, other) && same(other, self)
    }
}

impl Eq for Memory {}

/// Error from adding a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionError {
    Unaligned { name: String },
    Empty { name: String },
    Overlap { name: String, other: String },
    OutsideAddressSpace { name: String },
}

impl std::fmt::Display for RegionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegionError::Unaligned { name } => {
                write!(
                    f,
                    "region `{name}`: base and size must be multiples of 4096"
                )
            }
            RegionError::Empty { name } => write!(f, "region `{name}` has size 0"),
            RegionError::Overlap { name, other } => {
                write!(f, "region `{name}` overlaps region `{other}`")
            }
            RegionError::OutsideAddressSpace { name } => {
                write!(f, "region `{name}` wraps past the end of the address space")
            }
        }
    }
}

impl std::error::Error for RegionError {}

/// A region's own faults: empty, not page-aligned, or past the end of the address space.
fn check_shape(region: &Region) -> Result<(), RegionError> {
    let name = || region.name.clone();
    if region.size == 0 {
        return Err(RegionError::Empty { name: name() });
    }
    if !region.base.is_multiple_of(PAGE_SIZE) || !region.size.is_multiple_of(PAGE_SIZE) {
        return Err(RegionError::Unaligned { name: name() });
    }
    if region.base.checked_add(region.size).is_none() {
        return Err(RegionError::OutsideAddressSpace { name: name() });
    }
    Ok(())
}

impl Memory {
    pub fn new() -> Memory {
        Memory::default()
    }

    pub fn add_region(&mut self, mut region: Region) -> Result<(), RegionError> {
        check_shape(&region)?;
        let at = self.regions.partition_point(|r| r.base < region.base);
        // The regions are sorted and disjoint: only the neighbours can overlap.
        let near = [at.checked_sub(1), Some(at)];
        if let Some(other) = near
            .into_iter()
            .flatten()
            .filter_map(|i| self.regions.get(i))
            .find(|r| region.base < r.end() && r.base < region.end())
        {
            return Err(RegionError::Overlap {
                name: region.name,
                other: other.name.clone(),
            });
        }
        self.place(&mut region);
        self.regions.insert(at, region);
        Ok(())
    }

    /// Add many regions at once, in time O(n log n) whatever their order (one by one,
    /// each insertion moves the regions above it). The checks and the error are those
    /// of adding them one by one, with the index of the refused region; on an error
    /// nothing is added.
    pub fn add_regions(&mut self, mut new: Vec<Region>) -> Result<(), (usize, RegionError)> {
        let mut taken: std::collections::BTreeMap<u64, (u64, &str)> = self
            .regions
            .iter()
            .map(|r| (r.base, (r.end(), r.name.as_str())))
            .collect();
        for (i, region) in new.iter().enumerate() {
            check_shape(region).map_err(|e| (i, e))?;
            let below = taken.range(..region.base).next_back();
            let above = taken.range(region.base..).next();
            if let Some((_, (_, other))) = [below, above]
                .into_iter()
                .flatten()
                .find(|(b, (e, _))| region.base < *e && **b < region.end())
            {
                let e = RegionError::Overlap {
                    name: region.name.clone(),
                    other: other.to_string(),
                };
                return Err((i, e));
            }
            taken.insert(region.base, (region.end(), &region.name));
        }
        for r in &mut new {
            self.place(r);
        }
        self.regions.extend(new);
        self.regions.sort_by_key(|r| r.base);
        Ok(())
    }

    /// Choose the physical range of a region that has none (see `Region::phys`) and
    /// note the range as used.
    fn place(&mut self, r: &mut Region) {
        let phys = match r.phys {
            Some(p) => p,
            None if r.end() <= 1 << 32 && !self.phys_used(r.base, r.size) => r.base,
            None => {
                let align: u64 = if r.size >= 1 << 30 { 1 << 30 } else { 2 << 20 };
                self.free_phys(1 << 32, r.size, align)
            }
        };
        r.phys = Some(phys);
        let end = phys.saturating_add(r.size);
        let e = self.phys_taken.entry(phys).or_insert(end);
        *e = (*e).max(end);
    }

    /// Note `[start, end)` of physical memory as used (page tables), so that regions
    /// placed later keep clear of it.
    pub fn reserve_phys(&mut self, start: u64, end: u64) {
        if end > start {
            let e = self.phys_taken.entry(start).or_insert(end);
            *e = (*e).max(end);
        }
    }

    /// Undo `reserve_phys(start, end)`.
    pub fn release_phys(&mut self, start: u64, end: u64) {
        if self.phys_taken.get(&start) == Some(&end) {
            self.phys_taken.remove(&start);
        }
    }

    /// True if some region's physical range overlaps `[at, at + size)`.
    pub fn phys_used(&self, at: u64, size: u64) -> bool {
        let end = at.saturating_add(size);
        self.phys_taken
            .range(..end)
            .next_back()
            .is_some_and(|(_, e)| *e > at)
    }

    /// The lowest physical range of `size` bytes at or above `from`, aligned to `align`
    /// (a power of two), that no region uses.
    pub fn free_phys(&self, from: u64, size: u64, align: u64) -> u64 {
        let up = |a: u64| a.saturating_add(align - 1) & !(align - 1);
        let mut at = up(from);
        for (&s, &e) in self.phys_taken.range(..) {
            if e <= at {
                continue;
            }
            if s >= at.saturating_add(size) {
                break;
            }
            at = up(e);
        }
        at
    }

    /// Remove the region named `name` and the memory behind it (unless another region
    /// shares that physical memory).
    pub fn remove_region(&mut self, name: &str) -> Option<Region> {
        let i = self.regions.iter().position(|r| r.name == name)?;
        let r = self.regions.remove(i);
        let range = r.phys_range();
        let shared = self.regions.iter().any(|o| {
            let p = o.phys_range();
            p.start < range.end && range.start < p.end
        });
        if !shared {
            if self.phys_taken.get(&range.start) == Some(&range.end) {
                self.phys_taken.remove(&range.start);
            }
            self.frames
                .retain(|page, _| !range.contains(&(page << PAGE_SHIFT)));
            self.epoch = self.epoch.wrapping_add(1);
        }
        Some(r)
    }

    /// Move the physical memory behind region `name` to `phys` (contents and all), e.g.
    /// to fit a machine into the RAM of an emulator that has less. The page tables must
    /// be made again afterwards (`pagebuild::rebuild`).
    pub fn relocate(&mut self, name: &str, phys: u64) -> Result<(), String> {
        let i = self
            .regions
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| format!("no region named `{name}`"))?;
        let old = self.regions[i].clone();
        if !phys.is_multiple_of(PAGE_SIZE) {
            return Err(format!("{phys:#x} is not page-aligned"));
        }
        let mut moved = Vec::new();
        let range = old.phys_range();
        for (&page, f) in &self.frames {
            let at = page << PAGE_SHIFT;
            if range.contains(&at) {
                moved.push((at - range.start, f.data.clone()));
            }
        }
        self.remove_region(name);
        self.add_region(Region {
            phys: Some(phys),
            ..old
        })
        .map_err(|e| e.to_string())?;
        for (off, data) in moved {
            self.poke_phys(phys + off, &data[..]);
        }
        Ok(())
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    pub fn region_at(&self, addr: u64) -> Option<&Region> {
        let i = self.regions.partition_point(|r| r.base <= addr);
        i.checked_sub(1)
            .map(|i| &self.regions[i])
            .filter(|r| r.contains(addr))
    }

    pub fn region_named(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Number of 4 KiB frames actually allocated.
    pub fn allocated_frames(&self) -> usize {
        self.frames.len()
    }

    /// Physical addresses of the allocated frames, in ascending order (e.g. to give
    /// an emulator the same physical memory).
    pub fn frame_addrs(&self) -> Vec<u64> {
        let mut pages: Vec<u64> = self.frames.keys().map(|p| p << PAGE_SHIFT).collect();
        pages.sort_unstable();
        pages
    }

    /// Free the allocated frames whose physical address `keep` refuses (they read as
    /// zero again), e.g. page tables left behind by an earlier build.
    pub fn retain_frames(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.frames.retain(|page, _| keep(page << PAGE_SHIFT));
        self.epoch = self.epoch.wrapping_add(1);
        self.table_epoch = self.table_epoch.wrapping_add(1);
    }

    /// Counter of the writes that can change decoded instructions or translations
    /// (see the field; `generation` counts every write to one page).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Counter of writes to frames that hold paging structures.
    pub fn table_epoch(&self) -> u64 {
        self.table_epoch
    }

    /// Note that an instruction was decoded from the frame at physical address `phys`:
    /// from now on a write to it bumps `epoch`. A page without a frame needs no note
    /// (allocating its frame bumps `epoch`).
    pub fn note_code(&self, phys: u64) {
        if let Some(f) = self.frames.get(&(phys >> PAGE_SHIFT)) {
            f.code.set(true);
        }
    }

    /// Note that the frame at physical address `phys` holds a paging structure.
    pub fn mark_table(&mut self, phys: u64) {
        if let Some(f) = self.frames.get_mut(&(phys >> PAGE_SHIFT)) {
            f.table = true;
        }
    }

    /// Write-generation of the physical page holding `phys` (0 if never written).
    pub fn generation(&self, phys: u64) -> u32 {
        self.frames
            .get(&(phys >> PAGE_SHIFT))
            .map_or(0, |f| f.generation)
    }

    /// The physical address a linear address has under the declared regions (the
    /// mapping the machine builder's page tables give it); outside every region, the
    /// same address (as with paging off).
    pub fn declared_phys(&self, lin: u64) -> u64 {
        match self.region_at(lin) {
            Some(r) => r.phys_of(lin),
            None => lin,
        }
    }

    /// Make never-written physical memory outside the regions read as all ones (see
    /// `open_bus`).
    pub fn set_open_bus(&mut self, on: bool) {
        self.open_bus = on;
    }

    /// What a never-written byte at physical `addr` reads as: zero, or all ones outside
    /// the regions with an open bus.
    #[cold]
    fn unwritten(&self, addr: u64) -> u8 {
        if self.open_bus && !self.phys_used(addr, 1) {
            0xff
        } else {
            0
        }
    }

    /// Read physical memory (bytes never written read as zero, or as all ones outside
    /// the regions with an open bus).
    pub fn peek_phys(&self, addr: u64, buf: &mut [u8]) {
        let mut a = addr;
        let mut done = 0;
        while done < buf.len() {
            let off = (a & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            match self.frames.get(&(a >> PAGE_SHIFT)) {
                Some(f) => buf[done..done + n].copy_from_slice(&f.data[off..off + n]),
                None => buf[done..done + n].fill(self.unwritten(a)),
            }
            done += n;
            a = a.wrapping_add(n as u64);
        }
    }

    /// Little-endian value of 1 to 8 bytes of physical memory.
    #[inline]
    pub fn peek_phys_le(&self, addr: u64, len: usize) -> u64 {
        let off = (addr & (PAGE_SIZE - 1)) as usize;
        if off + len <= PAGE_SIZE as usize {
            if let Some(f) = self.frames.get(&(addr >> PAGE_SHIFT)) {
                let mut b = [0u8; 8];
                b[..len].copy_from_slice(&f.data[off..off + len]);
                return u64::from_le_bytes(b);
            }
            if self.open_bus {
                let mut b = [0u8; 8];
                self.peek_phys(addr, &mut b[..len]);
                return u64::from_le_bytes(b);
            }
            return 0;
        }
        let mut b = [0u8; 8];
        self.peek_phys(addr, &mut b[..len]);
        u64::from_le_bytes(b)
    }

    /// Write physical memory (allocates frames as needed).
    pub fn poke_phys(&mut self, addr: u64, bytes: &[u8]) {
        let mut a = addr;
        let mut done = 0;
        while done < bytes.len() {
            let off = (a & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - off).min(bytes.len() - done);
            let frame = match self.frames.entry(a >> PAGE_SHIFT) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => {
                    // A page read before as zeros (or open bus) now has a frame.
                    self.epoch = self.epoch.wrapping_add(1);
                    v.insert(Frame {
                        data: Box::new([0; PAGE_SIZE as usize]),
                        generation: 0,
                        table: false,
                        code: Cell::new(false),
                    })
                }
            };
            frame.data[off..off + n].copy_from_slice(&bytes[done..done + n]);
            frame.generation = frame.generation.wrapping_add(1);
            if frame.table {
                self.table_epoch = self.table_epoch.wrapping_add(1);
            }
            if frame.table || frame.code.get() {
                self.epoch = self.epoch.wrapping_add(1);
            }
            done += n;
            a = a.wrapping_add(n as u64);
        }
    }

    pub fn poke_phys_le(&mut self, addr: u64, len: usize, value: u64) {
        self.poke_phys(addr, &value.to_le_bytes()[..len]);
    }

    /// Apply `f` to each piece of `[lin, lin + len)` that lies in one page, with its
    /// declared physical address and its offset in the whole range.
    fn declared_pieces(&self, lin: u64, len: usize, mut f: impl FnMut(u64, usize, usize)) {
        let mut done = 0;
        while done < len {
            let a = lin.wrapping_add(done as u64);
            let n = (PAGE_SIZE as usize - (a & (PAGE_SIZE - 1)) as usize).min(len - done);
            f(self.declared_phys(a), done, n);
            done += n;
        }
    }

    /// Read linear addresses through the declared regions (see `declared_phys`); for
    /// what the CPU sees through its page tables use `Machine::peek_lin`.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) {
        let mut pieces = Vec::new();
        self.declared_pieces(addr, buf.len(), |p, at, n| pieces.push((p, at, n)));
        for (p, at, n) in pieces {
            self.peek_phys(p, &mut buf[at..at + n]);
        }
    }

    /// Little-endian value of 1 to 8 bytes at a linear address, through the regions.
    pub fn peek_le(&self, addr: u64, len: usize) -> u64 {
        let mut b = [0u8; 8];
        self.peek(addr, &mut b[..len]);
        u64::from_le_bytes(b)
    }

    /// Write linear addresses through the declared regions (set-up: scenarios, loaders).
    pub fn poke(&mut self, addr: u64, bytes: &[u8]) {
        let mut pieces = Vec::new();
        self.declared_pieces(addr, bytes.len(), |p, at, n| pieces.push((p, at, n)));
        for (p, at, n) in pieces {
            self.poke_phys(p, &bytes[at..at + n]);
        }
    }

    pub fn poke_le(&mut self, addr: u64, len: usize, value: u64) {
        self.poke(addr, &value.to_le_bytes()[..len]);
    }

    /// Bytes of the allocated frames inside `region`, trimmed of trailing zeros; used
    /// to describe memory contents compactly (e.g. in a trace's init record).
    pub fn region_bytes(&self, region: &Region) -> Vec<u8> {
        let range = region.phys_range();
        let mut pages: Vec<u64> = self
            .frames
            .keys()
            .copied()
            .filter(|p| range.contains(&(p << PAGE_SHIFT)))
            .collect();
        pages.sort_unstable();
        let Some(last) = pages.last() else {
            return Vec::new();
        };
        let end = ((last + 1) << PAGE_SHIFT) - range.start;
        let mut out = vec![0u8; end as usize];
        self.peek_phys(range.start, &mut out);
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_rw() -> Perm {
        Perm {
            user: true,
            writable: true,
            exec: false,
        }
    }

    #[test]
    fn a_four_gib_region_allocates_nothing_until_written() {
        let mut m = Memory::new();
        m.add_region(Region {
            name: "huge".into(),
            base: 0,
            size: 1 << 32,
            perm: user_rw(),
            phys: None,
        })
        .unwrap();
        assert_eq!(m.allocated_frames(), 0);
        assert_eq!(m.peek_le(0x1234_5678, 4), 0);
        m.poke_le(0xffff_fffe, 2, 0xbeef);
        assert_eq!(m.allocated_frames(), 1);
        assert_eq!(m.peek_le(0xffff_fffe, 2), 0xbeef);
    }

    #[test]
    fn overlapping_regions_are_refused() {
        let mut m = Memory::new();
        let r = |name: &str, base| Region {
            name: name.into(),
            base,
            size: 0x2000,
            perm: user_rw(),
            phys: None,
        };
        m.add_region(r("a", 0x1000)).unwrap();
        assert!(matches!(
            m.add_region(r("b", 0x2000)),
            Err(RegionError::Overlap { .. })
        ));
        assert_eq!(m.region_at(0x2fff).map(|r| r.name.as_str()), Some("a"));
        assert!(m.region_at(0x3000).is_none());
    }

    /// Adding many regions at once checks exactly what adding them one by one does.
    #[test]
    fn add_regions_matches_add_region() {
        let r = |name: String, base: u64, size: u64| Region {
            name,
            base,
            size,
            perm: user_rw(),
            phys: None,
        };
        // Pseudo-random bases and sizes (some overlapping, some malformed).
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for case in 0..200 {
            let list: Vec<Region> = (0..8)
                .map(|i| {
                    let size = if next() % 17 == 0 {
                        0x800
                    } else {
                        (next() % 3) * 0x1000 + 0x1000
                    };
                    r(format!("r{case}.{i}"), (next() % 40) * 0x1000, size)
                })
                .collect();
            let mut one = Memory::new();
            let mut first_err = None;
            for (i, reg) in list.iter().enumerate() {
                if let Err(e) = one.add_region(reg.clone()) {
                    first_err = Some((i, e));
                    break;
                }
            }
            let mut all = Memory::new();
            let got = all.add_regions(list.clone());
            assert_eq!(got.err(), first_err, "case {case}");
            if first_err.is_none() {
                assert_eq!(all.regions(), one.regions());
            }
        }
    }

    /// 200,000 regions in descending order: sorted once, not moved 200,000 times.
    #[test]
    fn many_regions_at_once() {
        let n = 200_000u64;
        let list: Vec<Region> = (0..n)
            .rev()
            .map(|i| Region {
                name: format!("r{i}"),
                base: i * 0x1000,
                size: 0x1000,
                perm: user_rw(),
                phys: None,
            })
            .collect();
        let mut m = Memory::new();
        m.add_regions(list).expect("disjoint");
        assert_eq!(m.regions().len(), n as usize);
        assert_eq!(m.region_at(0x5_0fff).map(|r| r.name.as_str()), Some("r80"));
    }

    #[test]
    fn a_relocated_region_keeps_its_bytes() {
        let mut m = Memory::new();
        m.add_region(Region::new("r", 0x5000, 0x2000, user_rw()))
            .unwrap();
        m.poke(0x6ffc, b"abcd");
        m.relocate("r", 0x40_0000).unwrap();
        assert_eq!(m.region_named("r").and_then(|r| r.phys), Some(0x40_0000));
        assert_eq!(
            m.peek_phys_le(0x40_1ffc, 4),
            u32::from_le_bytes(*b"abcd") as u64
        );
        assert_eq!(m.peek_le(0x6ffc, 4), u32::from_le_bytes(*b"abcd") as u64);
        assert_eq!(m.peek_phys_le(0x6ffc, 4), 0, "the old frames are gone");
    }

    #[test]
    fn zero_frame_equals_unallocated() {
        let mut a = Memory::new();
        let b = Memory::new();
        a.poke(0x1000, &[0, 0]);
        assert_eq!(a, b);
        a.poke(0x1000, &[1]);
        assert_ne!(a, b);
    }
}
