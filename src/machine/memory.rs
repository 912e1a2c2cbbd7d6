//! Sparse, page-granular memory with named regions and page permissions.
//!
//! Frames (4 KiB) are allocated only when something is written to them; reads of a mapped
//! page that was never written return zeros. Permissions follow the paging rules of the
//! Intel SDM Vol. 3A, 4.6 "Access Rights" and a refused access is reported as the
//! page-fault error code of 4.7 "Page-Fault Exceptions".

use rustc_hash::FxHashMap;

pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;

/// Page permissions, as the U/S, R/W and XD bits of a page-table entry would give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub user: bool,
    pub writable: bool,
    pub exec: bool,
}

/// A named, page-aligned range of the linear address space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub base: u64,
    pub size: u64,
    pub perm: Perm,
}

impl Region {
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
/// supervisor access such as a GDT or TSS read), and the paging controls in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: AccessKind,
    pub user: bool,
    /// CR0.WP: supervisor writes to read-only pages fault.
    pub wp: bool,
    /// EFER.NXE: execute-disable is enforced and fetches report I/D in the error code.
    pub nxe: bool,
}

impl Access {
    /// True if a present page with permissions `p` refuses this access.
    pub fn denied_by(&self, p: Perm) -> bool {
        (self.user && !p.user)
            || (self.kind == AccessKind::Write && !p.writable && (self.user || self.wp))
            || (self.kind == AccessKind::Fetch && self.nxe && !p.exec)
    }

    /// The #PF error code this access gets on a present page it is denied.
    pub fn error_code(&self, present: bool) -> u32 {
        let mut code = present as u32;
        if self.kind == AccessKind::Write {
            code |= PageFault::WRITE;
        }
        if self.user {
            code |= PageFault::USER;
        }
        if self.kind == AccessKind::Fetch && self.nxe {
            code |= PageFault::FETCH;
        }
        code
    }

    pub fn supervisor(kind: AccessKind) -> Access {
        Access {
            kind,
            user: false,
            wp: true,
            nxe: true,
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
}

/// The address space: regions plus the frames that hold data.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    regions: Vec<Region>,
    frames: FxHashMap<u64, Frame>,
    /// Bumped on every write anywhere: lets caches skip per-page checks while nothing
    /// has been written.
    epoch: u64,
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        if self.regions != other.regions {
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

    pub fn add_region(&mut self, region: Region) -> Result<(), RegionError> {
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
        self.regions.insert(at, region);
        Ok(())
    }

    /// Add many regions at once, in time O(n log n) whatever their order (one by one,
    /// each insertion moves the regions above it). The checks and the error are those
    /// of adding them one by one, with the index of the refused region; on an error
    /// nothing is added.
    pub fn add_regions(&mut self, new: Vec<Region>) -> Result<(), (usize, RegionError)> {
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
        self.regions.extend(new);
        self.regions.sort_by_key(|r| r.base);
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

    /// Counter of all writes so far (see `generation` for one page).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The permissions of the page holding `addr`, if it is mapped.
    pub fn perm_at(&self, addr: u64) -> Option<Perm> {
        self.region_at(addr).map(|r| r.perm)
    }

    /// Write-generation of the page holding `addr` (0 if never written).
    pub fn generation(&self, addr: u64) -> u32 {
        self.frames
            .get(&(addr >> PAGE_SHIFT))
            .map_or(0, |f| f.generation)
    }

    /// Check one access against the page permissions. Returns the #PF it would raise.
    pub fn check(&self, addr: u64, len: usize, access: Access) -> Result<(), PageFault> {
        let last = addr.wrapping_add(len.max(1) as u64 - 1);
        let mut page = addr >> PAGE_SHIFT;
        loop {
            let at = if page == addr >> PAGE_SHIFT {
                addr
            } else {
                page << PAGE_SHIFT
            };
            self.check_page(at, access)?;
            if page == last >> PAGE_SHIFT {
                return Ok(());
            }
            page = page.wrapping_add(1);
        }
    }

    fn check_page(&self, addr: u64, access: Access) -> Result<(), PageFault> {
        let present = match self.region_at(addr) {
            None => false,
            Some(region) if access.denied_by(region.perm) => true,
            Some(_) => return Ok(()),
        };
        Err(PageFault {
            addr,
            error_code: access.error_code(present),
        })
    }

    /// Read without permission checks (unmapped bytes read as zero).
    pub fn peek(&self, addr: u64, buf: &mut [u8]) {
        let mut a = addr;
        let mut done = 0;
        while done < buf.len() {
            let off = (a & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            match self.frames.get(&(a >> PAGE_SHIFT)) {
                Some(f) => buf[done..done + n].copy_from_slice(&f.data[off..off + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
            a = a.wrapping_add(n as u64);
        }
    }

    /// Little-endian value of 1 to 8 bytes, without permission checks.
    pub fn peek_le(&self, addr: u64, len: usize) -> u64 {
        let off = (addr & (PAGE_SIZE - 1)) as usize;
        if off + len <= PAGE_SIZE as usize {
            if let Some(f) = self.frames.get(&(addr >> PAGE_SHIFT)) {
                let mut b = [0u8; 8];
                b[..len].copy_from_slice(&f.data[off..off + len]);
                return u64::from_le_bytes(b);
            }
            return 0;
        }
        let mut b = [0u8; 8];
        self.peek(addr, &mut b[..len]);
        u64::from_le_bytes(b)
    }

    /// Write without permission checks (allocates frames as needed).
    pub fn poke(&mut self, addr: u64, bytes: &[u8]) {
        let mut a = addr;
        let mut done = 0;
        while done < bytes.len() {
            let off = (a & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - off).min(bytes.len() - done);
            let frame = self.frames.entry(a >> PAGE_SHIFT).or_insert_with(|| Frame {
                data: Box::new([0; PAGE_SIZE as usize]),
                generation: 0,
            });
            frame.data[off..off + n].copy_from_slice(&bytes[done..done + n]);
            frame.generation = frame.generation.wrapping_add(1);
            self.epoch = self.epoch.wrapping_add(1);
            done += n;
            a = a.wrapping_add(n as u64);
        }
    }

    pub fn poke_le(&mut self, addr: u64, len: usize, value: u64) {
        self.poke(addr, &value.to_le_bytes()[..len]);
    }

    /// Checked read of 1 to 8 bytes.
    pub fn read(&self, addr: u64, len: usize, access: Access) -> Result<u64, PageFault> {
        self.check(addr, len, access)?;
        Ok(self.peek_le(addr, len))
    }

    /// Bytes of the allocated frames inside `region`, trimmed of trailing zeros; used
    /// to describe memory contents compactly (e.g. in a trace's init record).
    pub fn region_bytes(&self, region: &Region) -> Vec<u8> {
        let mut pages: Vec<u64> = self
            .frames
            .keys()
            .copied()
            .filter(|p| region.contains(p << PAGE_SHIFT))
            .collect();
        pages.sort_unstable();
        let Some(last) = pages.last() else {
            return Vec::new();
        };
        let end = ((last + 1) << PAGE_SHIFT) - region.base;
        let mut out = vec![0u8; end as usize];
        self.peek(region.base, &mut out);
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

    fn access(kind: AccessKind, user: bool) -> Access {
        Access {
            kind,
            user,
            wp: true,
            nxe: true,
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
        })
        .unwrap();
        assert_eq!(m.allocated_frames(), 0);
        assert_eq!(
            m.read(0x1234_5678, 4, access(AccessKind::Read, true)),
            Ok(0)
        );
        m.poke_le(0xffff_fffe, 2, 0xbeef);
        assert_eq!(m.allocated_frames(), 1);
        assert_eq!(m.peek_le(0xffff_fffe, 2), 0xbeef);
    }

    #[test]
    fn page_fault_error_codes() {
        let mut m = Memory::new();
        m.add_region(Region {
            name: "kernel".into(),
            base: 0xc000_0000,
            size: 0x1000,
            perm: Perm {
                user: false,
                writable: false,
                exec: true,
            },
        })
        .unwrap();
        m.add_region(Region {
            name: "stack".into(),
            base: 0x1000,
            size: 0x1000,
            perm: user_rw(),
        })
        .unwrap();
        let e = |a: u64, k, u| m.check(a, 4, access(k, u)).unwrap_err().error_code;
        // Not present, user read.
        assert_eq!(e(0x5000, AccessKind::Read, true), 0b100);
        // User read of a supervisor page.
        assert_eq!(e(0xc000_0000, AccessKind::Read, true), 0b101);
        // Supervisor write to a read-only page with CR0.WP.
        assert_eq!(e(0xc000_0000, AccessKind::Write, false), 0b011);
        // User fetch from a non-executable page.
        assert_eq!(e(0x1000, AccessKind::Fetch, true), 0b10101);
        // A read crossing into an unmapped page faults at the first byte of that page.
        let pf = m
            .check(0x1ffe, 4, access(AccessKind::Read, true))
            .unwrap_err();
        assert_eq!(pf.addr, 0x2000);
        assert!(m.check(0x1000, 4, access(AccessKind::Write, true)).is_ok());
    }

    #[test]
    fn overlapping_regions_are_refused() {
        let mut m = Memory::new();
        let r = |name: &str, base| Region {
            name: name.into(),
            base,
            size: 0x2000,
            perm: user_rw(),
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
            })
            .collect();
        let mut m = Memory::new();
        m.add_regions(list).expect("disjoint");
        assert_eq!(m.regions().len(), n as usize);
        assert_eq!(m.region_at(0x5_0fff).map(|r| r.name.as_str()), Some("r80"));
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
