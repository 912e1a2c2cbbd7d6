//! A cache of translations, so that the engine walks the page tables only when they or
//! the registers that select them change.
//!
//! Unlike a real TLB it is never stale: it is emptied whenever CR0, CR3, CR4 or EFER
//! change, on INVLPG, and whenever a frame that holds a paging structure is written
//! (`Memory::table_epoch`). What ringstep shows is therefore always what the page tables
//! in memory say; docs/paging.md lists where a real CPU's TLB would differ.

use super::paging::{Controls, Mapped};

const SLOTS: usize = 256;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Linear page number + 1 (0: empty).
    tag: u64,
    /// Physical address of the 4 KiB page.
    phys: u64,
    user: bool,
    writable: bool,
    nx: bool,
    dirty: bool,
}

/// The translation cache. Two machines compare equal whatever their caches hold, and a
/// cloned machine starts with an empty one.
#[derive(Debug)]
pub struct Tlb {
    key: (Controls, u64),
    slots: Box<[Slot; SLOTS]>,
}

impl Default for Tlb {
    fn default() -> Tlb {
        Tlb {
            key: (Controls::default(), u64::MAX),
            slots: Box::new([Slot::default(); SLOTS]),
        }
    }
}

impl Clone for Tlb {
    fn clone(&self) -> Tlb {
        Tlb::default()
    }
}

impl PartialEq for Tlb {
    fn eq(&self, _: &Tlb) -> bool {
        true
    }
}

impl Eq for Tlb {}

impl Tlb {
    /// The cached translation of the page of `lin`, if the controls and the page tables
    /// are those it was made under.
    #[inline(always)]
    pub fn lookup(&self, c: &Controls, table_epoch: u64, lin: u64) -> Option<Mapped> {
        let page = lin >> 12;
        let s = &self.slots[page as usize % SLOTS];
        if s.tag != page.wrapping_add(1) || self.key != (*c, table_epoch) {
            return None;
        }
        Some(Mapped {
            phys: s.phys | (lin & 0xfff),
            page_size: 4096,
            user: s.user,
            writable: s.writable,
            nx: s.nx,
            dirty: s.dirty,
            global: false,
        })
    }

    /// Remember the translation of the page of `lin`.
    pub fn insert(&mut self, c: &Controls, table_epoch: u64, lin: u64, m: &Mapped) {
        if self.key != (*c, table_epoch) {
            self.flush();
            self.key = (*c, table_epoch);
        }
        let page = lin >> 12;
        self.slots[page as usize % SLOTS] = Slot {
            tag: page.wrapping_add(1),
            phys: m.phys & !0xfff,
            user: m.user,
            writable: m.writable,
            nx: m.nx,
            dirty: m.dirty,
        };
    }

    pub fn flush(&mut self) {
        self.slots.fill(Slot::default());
    }
}
