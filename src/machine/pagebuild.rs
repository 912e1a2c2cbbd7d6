//! Page tables for the declared regions: the machine builder (scenarios, tests) turns
//! each region into paging-structure entries in the machine's memory, for the paging
//! mode its control registers select, so that the CPU finds every region through real
//! tables (SDM Vol. 3A, 4.3 - 4.5).

use super::cpu::{CR4_PAE, CR4_PGE, CR4_PSE};
use super::memory::{Memory, Region, PAGE_SIZE};
use super::msr::{EFER_LMA, EFER_LME, EFER_NXE};
use super::paging::{A, D, G, P, PHYS_MASK, PS, RW, US, XD};
use super::Machine;

/// One address space: the physical address of its top-level table (what CR3 holds for
/// it) and the regions it maps, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Space {
    pub root: u64,
    pub regions: Vec<String>,
}

/// What to build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Physical address for the tables below the top level (None: the lowest free
    /// memory at or above 1 MiB).
    pub pool: Option<u64>,
    /// The pool the last build used (start, end), released when building again.
    pub built: Option<(u64, u64)>,
    pub spaces: Vec<Space>,
    /// Leave the accessed and dirty flags of the pages clear, for the CPU to set. By
    /// default they are set, as Linux maps kernel memory.
    pub clear_accessed: bool,
}

/// What was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// Physical range of the tables below the top level.
    pub pool: std::ops::Range<u64>,
    pub tables: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Bits32 { pse: bool },
    Pae,
    Level4,
}

impl Form {
    fn of(m: &Machine) -> Form {
        if m.cpu.efer() & (EFER_LME | EFER_LMA) != 0 {
            Form::Level4
        } else if m.cpu.cr4 & CR4_PAE != 0 {
            Form::Pae
        } else {
            Form::Bits32 {
                pse: m.cpu.cr4 & CR4_PSE != 0,
            }
        }
    }

    /// (shift, index bits) of each level, top first.
    fn levels(self) -> &'static [(u32, u32)] {
        match self {
            Form::Bits32 { .. } => &[(22, 10), (12, 10)],
            Form::Pae => &[(30, 2), (21, 9), (12, 9)],
            Form::Level4 => &[(39, 9), (30, 9), (21, 9), (12, 9)],
        }
    }

    fn entry_size(self) -> u64 {
        if matches!(self, Form::Bits32 { .. }) {
            4
        } else {
            8
        }
    }

    /// May level `i` (0 = top) map a page directly?
    fn large_at(self, i: usize) -> bool {
        match self {
            Form::Bits32 { pse } => pse && i == 0,
            Form::Pae => i == 1,
            Form::Level4 => i == 1 || i == 2,
        }
    }

    fn max_phys(self) -> u64 {
        match self {
            Form::Bits32 { .. } => 1 << 32,
            _ => 1 << super::paging::PHYS_BITS,
        }
    }
}

struct Builder<'a> {
    mem: &'a mut Memory,
    form: Form,
    next: u64,
    tables: u64,
    nxe: bool,
    pge: bool,
    clear: bool,
}

impl Builder<'_> {
    fn alloc(&mut self) -> u64 {
        let t = self.next;
        self.next += PAGE_SIZE;
        self.tables += 1;
        self.mem.poke_phys(t, &[0; PAGE_SIZE as usize]);
        t
    }

    /// The table that entry `index` of `table` points to, made if absent.
    fn child(&mut self, table: u64, index: u64, user: bool, top_pae: bool) -> Result<u64, String> {
        let size = self.form.entry_size();
        let at = table + index * size;
        let e = self.mem.peek_phys_le(at, size as usize);
        if e & P == 0 {
            let t = self.alloc();
            let flags = if top_pae {
                P
            } else {
                P | RW | if user { US } else { 0 } | if self.clear { 0 } else { A }
            };
            self.mem.poke_phys_le(at, size as usize, t | flags);
            return Ok(t);
        }
        if e & PS != 0 && !top_pae {
            return Err(format!("two regions share the large page at {at:#x}"));
        }
        if user && e & US == 0 && !top_pae {
            self.mem.poke_phys_le(at, size as usize, e | US);
        }
        Ok(e & PHYS_MASK)
    }

    fn leaf_flags(&self, r: &Region, large: bool) -> u64 {
        let mut f = P;
        if r.perm.writable {
            f |= RW;
        }
        if r.perm.user {
            f |= US;
        } else if self.pge {
            f |= G;
        }
        if !self.clear {
            f |= A | D;
        }
        if large {
            f |= PS;
        }
        if !r.perm.exec && self.nxe && !matches!(self.form, Form::Bits32 { .. }) {
            f |= XD;
        }
        f
    }

    fn map_region(&mut self, root: u64, r: &Region) -> Result<(), String> {
        let levels = self.form.levels();
        let phys0 = r.phys_of(r.base);
        if phys0.saturating_add(r.size) > self.form.max_phys() {
            return Err(format!(
                "region `{}`: physical address {phys0:#x} is beyond what this paging mode reaches",
                r.name
            ));
        }
        let mut off = 0;
        while off < r.size {
            let lin = r.base + off;
            let phys = phys0 + off;
            let left = r.size - off;
            // The highest level that can map an aligned piece of what is left.
            let level = (0..levels.len())
                .find(|&i| {
                    let s = 1u64 << levels[i].0;
                    (i + 1 == levels.len() || self.form.large_at(i))
                        && lin.is_multiple_of(s)
                        && phys.is_multiple_of(s)
                        && left >= s
                })
                .unwrap_or(levels.len() - 1);
            let mut table = root;
            for (i, &(shift, bits)) in levels[..level].iter().enumerate() {
                let index = (lin >> shift) & ((1 << bits) - 1);
                let top_pae = self.form == Form::Pae && i == 0;
                table = self.child(table, index, r.perm.user, top_pae)?;
            }
            let (shift, bits) = levels[level];
            let index = (lin >> shift) & ((1 << bits) - 1);
            let size = self.form.entry_size();
            let large = level + 1 != levels.len();
            let e = (phys & PHYS_MASK) | self.leaf_flags(r, large);
            self.mem
                .poke_phys_le(table + index * size, size as usize, e);
            off += 1 << shift;
        }
        Ok(())
    }
}

/// Build the tables of every space of `plan`, after the regions are all declared. The
/// top-level tables are cleared first; the lower ones go to a pool of fresh pages.
pub fn build(m: &mut Machine, plan: &Plan) -> Result<Built, String> {
    let form = Form::of(m);
    let nxe = m.cpu.efer() & EFER_NXE != 0;
    let pge = m.cpu.cr4 & CR4_PGE != 0;
    let spaces = resolve(m, plan)?;
    for s in &plan.spaces {
        if let Some(r) = m
            .mem
            .regions()
            .iter()
            .find(|r| r.phys_range().contains(&s.root))
        {
            return Err(format!(
                "the top-level page table at {:#x} would overwrite the memory of region `{}` (physical {:#x}..{:#x})",
                s.root,
                r.name,
                r.phys_range().start,
                r.phys_range().end
            ));
        }
    }
    // A dry run on empty memory counts the tables, to find room for them.
    let mut scratch = Memory::new();
    let mut dry = Builder {
        mem: &mut scratch,
        form,
        next: 0x1000,
        tables: 0,
        nxe,
        pge,
        clear: plan.clear_accessed,
    };
    dry.spaces(&spaces)?;
    let count = dry.tables;
    let size = count * PAGE_SIZE;
    let pool = match plan.pool {
        Some(p) => p & !(PAGE_SIZE - 1),
        None => free_pool(m, plan, size),
    };
    if pool.saturating_add(size) > form.max_phys() {
        return Err(format!(
            "no room for {count} page tables below {:#x}: give the tables an address",
            form.max_phys()
        ));
    }
    let mut b = Builder {
        mem: &mut m.mem,
        form,
        next: pool,
        tables: 0,
        nxe,
        pge,
        clear: plan.clear_accessed,
    };
    b.spaces(&spaces)?;
    let tables = b.tables;
    m.mem.reserve_phys(pool, pool + tables * PAGE_SIZE);
    for s in &plan.spaces {
        let page = s.root & !(PAGE_SIZE - 1);
        m.mem.reserve_phys(page, page + PAGE_SIZE);
    }
    Ok(Built {
        pool: pool..pool + tables * PAGE_SIZE,
        tables,
    })
}

/// Build one space that maps every region, with its top-level table at CR3 (or, if CR3
/// is 0, at the start of the pool, and CR3 set to it). Does nothing with paging off.
pub fn build_default(m: &mut Machine) -> Result<Built, String> {
    if m.cpu.cr0 & super::cpu::CR0_PG == 0 {
        return Ok(Built {
            pool: 0..0,
            tables: 0,
        });
    }
    let regions = m.mem.regions().iter().map(|r| r.name.clone()).collect();
    let mut root = m.cpu.cr3 & PHYS_MASK;
    if root == 0 {
        root = m.mem.free_phys(0x10_0000, PAGE_SIZE, PAGE_SIZE);
        m.mem.poke_phys(root, &[0; PAGE_SIZE as usize]);
        m.cpu.cr3 = root;
    }
    let plan = Plan {
        pool: None,
        built: None,
        spaces: vec![Space { root, regions }],
        clear_accessed: false,
    };
    let built = build(m, &plan)?;
    m.layout = Some(Plan {
        built: Some((built.pool.start, built.pool.end)),
        ..plan
    });
    Ok(built)
}

/// Make the tables again after regions were replaced: each space that mapped a region
/// of `dropped` maps the `added` ones instead (the first space, if none did). Does
/// nothing for a machine without a layout (its own tables, or paging off).
pub fn rebuild(m: &mut Machine, dropped: &[String], added: &[String]) -> Result<(), String> {
    let Some(mut plan) = m.layout.clone() else {
        return Ok(());
    };
    let mut placed = false;
    for s in &mut plan.spaces {
        let before = s.regions.len();
        s.regions.retain(|n| !dropped.contains(n));
        if s.regions.len() != before {
            s.regions.extend(added.iter().cloned());
            placed = true;
        }
    }
    if !placed {
        if let Some(s) = plan.spaces.first_mut() {
            s.regions.extend(added.iter().cloned());
        }
    }
    // The old pool may be too small now: free it and let the build choose again
    // (unless the scenario placed it).
    if let Some((start, end)) = plan.built.take() {
        m.mem.release_phys(start, end);
    }
    let built = build(m, &plan)?;
    plan.built = Some((built.pool.start, built.pool.end));
    m.layout = Some(plan);
    Ok(())
}

/// The regions of each space, looked up by name.
fn resolve(m: &Machine, plan: &Plan) -> Result<Vec<(u64, Vec<Region>)>, String> {
    plan.spaces
        .iter()
        .map(|s| {
            let regions = s
                .regions
                .iter()
                .map(|n| {
                    m.mem
                        .region_named(n)
                        .cloned()
                        .ok_or_else(|| format!("no region named `{n}`"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((s.root, regions))
        })
        .collect()
}

impl Builder<'_> {
    fn spaces(&mut self, spaces: &[(u64, Vec<Region>)]) -> Result<(), String> {
        for (root, regions) in spaces {
            let root_len = if self.form == Form::Pae {
                32
            } else {
                PAGE_SIZE
            };
            let root = if self.form == Form::Pae {
                root & 0xffff_ffe0
            } else {
                root & PHYS_MASK
            };
            self.mem.poke_phys(root, &vec![0; root_len as usize]);
            for r in regions {
                self.map_region(root, r)?;
            }
        }
        Ok(())
    }
}

fn free_pool(m: &Machine, plan: &Plan, size: u64) -> u64 {
    let mut at = 0x10_0000;
    loop {
        at = m.mem.free_phys(at, size, PAGE_SIZE);
        let end = at + size;
        match plan
            .spaces
            .iter()
            .find(|s| s.root < end && s.root + PAGE_SIZE > at)
        {
            Some(s) => at = (s.root & !(PAGE_SIZE - 1)) + PAGE_SIZE,
            None => return at,
        }
    }
}
