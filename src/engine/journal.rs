//! Every change an instruction makes to the machine, with old and new values.
//! The same records drive the step report, fault roll-back and reverse stepping.
//!
//! `Change` is the compact record kept in the history (every variant fits in 32 bytes
//! and is `Copy`, so a step history of millions of entries stays small and the hot path
//! stores it without copies). A segment-register load is recorded as three entries
//! (selector and attributes, base, limit); `summarize` folds a step's entries back into
//! `Changed` values with whole segments, for reports.

use crate::machine::dev::DevChange;
use crate::machine::{Attr, Machine, SegReg, Segment, TableReg};

/// A segment register or the task register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegSlot {
    Seg(SegReg),
    Tr,
}

/// `Change::Cr` numbers: 0, 2, 3, 4 and 8 are CRn; DR_BASE + i is DRi.
pub const DR_BASE: u8 = 16;
pub const DR_LAST: u8 = DR_BASE + 7;

/// The name of a `Change::Cr` register number (`cr3`, `dr6`).
pub fn cr_name(n: u8) -> String {
    if n >= DR_BASE {
        format!("dr{}", n - DR_BASE)
    } else {
        format!("cr{n}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Gpr {
        index: u8,
        old: u64,
        new: u64,
    },
    Rflags {
        old: u64,
        new: u64,
    },
    SegSel {
        slot: SegSlot,
        old: u16,
        new: u16,
        old_attr: u32,
        new_attr: u32,
    },
    SegBase {
        slot: SegSlot,
        old: u64,
        new: u64,
    },
    SegLimit {
        slot: SegSlot,
        old: u32,
        new: u32,
    },
    Gdtr {
        old_base: u64,
        new_base: u64,
        old_limit: u16,
        new_limit: u16,
    },
    Idtr {
        old_base: u64,
        new_base: u64,
        old_limit: u16,
        new_limit: u16,
    },
    /// Control register `n` (0, 2, 3 or 4).
    Cr {
        n: u8,
        old: u64,
        new: u64,
    },
    Msr {
        index: u32,
        old: u64,
        new: u64,
    },
    /// A memory write of `len` (1..=4) bytes, little-endian values, at linear address
    /// `addr` (physical address `phys`). Wider writes are recorded as several entries
    /// (`summarize` joins them again).
    Mem {
        addr: u64,
        len: u8,
        old: u32,
        new: u32,
        /// The physical page number, split so that the entry stays 24 bytes (use
        /// `Change::mem` and `Change::phys`).
        page_lo: u32,
        page_hi: u8,
    },
    /// A write of physical memory made by the CPU itself: the accessed and dirty flags
    /// of a paging-structure entry.
    PhysMem {
        addr: u64,
        len: u8,
        old: u32,
        new: u32,
    },
    Halted {
        old: bool,
        new: bool,
    },
    Shadow {
        old: bool,
        new: bool,
    },
    PendingIrq {
        old: Option<u8>,
        new: Option<u8>,
    },
    /// A device's state (src/machine/dev.rs): a UART byte sent, a UART register, the
    /// isa-debug-exit status.
    Device(DevChange),
}

/// The entries that record loading `new` into a segment slot that held `old`.
pub fn segment_changes(slot: SegSlot, old: &Segment, new: &Segment) -> [Change; 3] {
    [
        Change::SegSel {
            slot,
            old: old.selector,
            new: new.selector,
            old_attr: old.attr.0,
            new_attr: new.attr.0,
        },
        Change::SegBase {
            slot,
            old: old.base,
            new: new.base,
        },
        Change::SegLimit {
            slot,
            old: old.limit,
            new: new.limit,
        },
    ]
}

fn seg_mut(m: &mut Machine, slot: SegSlot) -> &mut Segment {
    match slot {
        SegSlot::Seg(s) => &mut m.cpu.seg[s as usize],
        SegSlot::Tr => &mut m.cpu.tr,
    }
}

impl Change {
    /// A memory write at linear `addr`, physical `phys` (which has the same offset in
    /// its page).
    pub fn mem(addr: u64, phys: u64, len: u8, old: u32, new: u32) -> Change {
        let page = phys >> 12;
        Change::Mem {
            addr,
            len,
            old,
            new,
            page_lo: page as u32,
            page_hi: (page >> 32) as u8,
        }
    }

    /// The physical address of a memory write.
    pub fn phys(&self) -> Option<u64> {
        match *self {
            Change::Mem {
                addr,
                page_lo,
                page_hi,
                ..
            } => Some(((page_hi as u64) << 44) | ((page_lo as u64) << 12) | (addr & 0xfff)),
            Change::PhysMem { addr, .. } => Some(addr),
            _ => None,
        }
    }

    /// Put back the value this change replaced.
    pub fn undo(&self, m: &mut Machine) {
        self.apply(m, true);
    }

    /// Apply the change again.
    pub fn redo(&self, m: &mut Machine) {
        self.apply(m, false);
    }

    fn apply(&self, m: &mut Machine, undo: bool) {
        let pick = |old: u64, new: u64| if undo { old } else { new };
        match *self {
            Change::Gpr { index, old, new } => m.cpu.gpr[index as usize] = pick(old, new),
            Change::Rflags { old, new } => m.cpu.rflags = pick(old, new),
            Change::SegSel {
                slot,
                old,
                new,
                old_attr,
                new_attr,
            } => {
                let s = seg_mut(m, slot);
                s.selector = pick(old as u64, new as u64) as u16;
                s.attr = Attr(pick(old_attr as u64, new_attr as u64) as u32);
            }
            Change::SegBase { slot, old, new } => seg_mut(m, slot).base = pick(old, new),
            Change::SegLimit { slot, old, new } => {
                seg_mut(m, slot).limit = pick(old as u64, new as u64) as u32
            }
            Change::Gdtr {
                old_base,
                new_base,
                old_limit,
                new_limit,
            } => {
                m.cpu.gdtr = TableReg {
                    base: pick(old_base, new_base),
                    limit: pick(old_limit as u64, new_limit as u64) as u16,
                }
            }
            Change::Idtr {
                old_base,
                new_base,
                old_limit,
                new_limit,
            } => {
                m.cpu.idtr = TableReg {
                    base: pick(old_base, new_base),
                    limit: pick(old_limit as u64, new_limit as u64) as u16,
                }
            }
            Change::Cr { n, old, new } => {
                let v = pick(old, new);
                match n {
                    0 => m.cpu.cr0 = v,
                    2 => m.cpu.cr2 = v,
                    3 => m.cpu.cr3 = v,
                    8 => m.cpu.cr8 = v,
                    DR_BASE..=DR_LAST => m.cpu.dr[(n - DR_BASE) as usize] = v,
                    _ => m.cpu.cr4 = v,
                }
            }
            Change::Msr { index, old, new } => {
                m.cpu.msr.set(index, pick(old, new));
            }
            Change::Mem { len, old, new, .. } => {
                let addr = self.phys().unwrap_or(0);
                m.mem
                    .poke_phys_le(addr, len as usize, pick(old as u64, new as u64));
            }
            Change::PhysMem {
                addr,
                len,
                old,
                new,
            } => {
                m.mem
                    .poke_phys_le(addr, len as usize, pick(old as u64, new as u64));
            }
            Change::Halted { old, new } => m.cpu.halted = if undo { old } else { new },
            Change::Shadow { old, new } => m.cpu.shadow = if undo { old } else { new },
            Change::PendingIrq { old, new } => m.cpu.pending_irq = if undo { old } else { new },
            Change::Device(d) => m.dev.apply(&d, undo),
        }
    }
}

/// The recorded changes: the history of committed steps, followed by the changes of the
/// step being executed, which a fault can still pop off one by one. A change is pushed
/// straight into the history's buffer; committing a step just moves the boundary.
#[derive(Default)]
pub struct Journal {
    entries: Vec<Change>,
    /// Where the current step's changes start.
    base: usize,
}

impl Journal {
    #[inline(always)]
    pub fn push(&mut self, c: Change) {
        self.entries.push(c);
    }

    /// Make room for `more` changes.
    pub fn reserve(&mut self, more: usize) {
        self.entries.reserve(more);
    }

    /// Number of changes of the current step.
    pub fn len(&self) -> usize {
        self.entries.len() - self.base
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop the current step's changes (without undoing them).
    pub fn clear(&mut self) {
        self.entries.truncate(self.base);
    }

    /// The current step's last change, removed.
    pub fn pop(&mut self) -> Option<Change> {
        if self.entries.len() > self.base {
            self.entries.pop()
        } else {
            None
        }
    }

    /// The current step's changes.
    pub fn as_slice(&self) -> &[Change] {
        &self.entries[self.base..]
    }

    /// Keep the current step's changes in the history; the next step starts empty.
    pub fn commit(&mut self) {
        self.base = self.entries.len();
    }

    /// The committed changes.
    pub fn history(&self) -> &[Change] {
        &self.entries[..self.base]
    }

    /// Keep only the first `len` committed changes (and no current step).
    pub fn truncate_history(&mut self, len: usize) {
        self.entries.truncate(len);
        self.base = self.entries.len();
    }
}

/// A change as reported: one location with its value before and after the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    Gpr {
        index: u8,
        old: u64,
        new: u64,
    },
    Rflags {
        old: u64,
        new: u64,
    },
    Seg {
        seg: SegReg,
        old: Segment,
        new: Segment,
    },
    Tr {
        old: Segment,
        new: Segment,
    },
    Gdtr {
        old: TableReg,
        new: TableReg,
    },
    Idtr {
        old: TableReg,
        new: TableReg,
    },
    Cr {
        n: u8,
        old: u64,
        new: u64,
    },
    Msr {
        index: u32,
        old: u64,
        new: u64,
    },
    Mem {
        addr: u64,
        len: u8,
        old: u64,
        new: u64,
    },
    /// A write the CPU made to a paging-structure entry (accessed/dirty flags), at a
    /// physical address.
    PhysMem {
        addr: u64,
        len: u8,
        old: u64,
        new: u64,
    },
    Halted {
        old: bool,
        new: bool,
    },
    Shadow {
        old: bool,
        new: bool,
    },
    PendingIrq {
        old: Option<u8>,
        new: Option<u8>,
    },
    Device(DevChange),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Location {
    Gpr(u8),
    Rflags,
    Seg(SegSlot),
    Gdtr,
    Idtr,
    Cr(u8),
    Msr(u32),
    Halted,
    Shadow,
    PendingIrq,
}

/// What changed in one step: each register once, with its value before the step and
/// after it (locations that ended where they started are left out). Memory writes are
/// listed in order, each separately, as the trace reports them.
pub fn summarize(changes: &[Change]) -> Vec<Changed> {
    let mut out: Vec<(Option<Location>, Changed)> = Vec::with_capacity(changes.len());
    let mut i = 0;
    while i < changes.len() {
        let (loc, entry, used) = report(&changes[i..]);
        i += used;
        // Pieces of one wide memory write follow each other at ascending addresses.
        if let Some((None, prev)) = out.last_mut() {
            if join_pieces(prev, &entry) {
                continue;
            }
        }
        match (
            loc,
            out.iter_mut().find(|(l, _)| loc.is_some() && *l == loc),
        ) {
            (Some(_), Some((_, prev))) => merge_new(prev, &entry),
            _ => out.push((loc, entry)),
        }
    }
    out.into_iter()
        .map(|(_, c)| c)
        .filter(|c| !is_noop(c))
        .collect()
}

/// The report entry for the change at the head of `rest`, and how many entries it used
/// (a segment load is three).
fn report(rest: &[Change]) -> (Option<Location>, Changed, usize) {
    match rest[0] {
        Change::Gpr { index, old, new } => (
            Some(Location::Gpr(index)),
            Changed::Gpr { index, old, new },
            1,
        ),
        Change::Rflags { old, new } => (Some(Location::Rflags), Changed::Rflags { old, new }, 1),
        Change::SegSel {
            slot,
            old,
            new,
            old_attr,
            new_attr,
        } => {
            let mut o = Segment {
                selector: old,
                attr: Attr(old_attr),
                ..Segment::default()
            };
            let mut n = Segment {
                selector: new,
                attr: Attr(new_attr),
                ..Segment::default()
            };
            let mut used = 1;
            for c in rest.iter().skip(1).take(2) {
                match *c {
                    Change::SegBase { slot: s, old, new } if s == slot => {
                        o.base = old;
                        n.base = new;
                        used += 1;
                    }
                    Change::SegLimit { slot: s, old, new } if s == slot => {
                        o.limit = old;
                        n.limit = new;
                        used += 1;
                    }
                    _ => break,
                }
            }
            let entry = match slot {
                SegSlot::Seg(seg) => Changed::Seg {
                    seg,
                    old: o,
                    new: n,
                },
                SegSlot::Tr => Changed::Tr { old: o, new: n },
            };
            (Some(Location::Seg(slot)), entry, used)
        }
        // A base or limit entry on its own: the engine always records whole segment
        // loads, so this only happens for a hand-made journal; report it as no change.
        Change::SegBase { .. } | Change::SegLimit { .. } => (
            None,
            Changed::Halted {
                old: false,
                new: false,
            },
            1,
        ),
        Change::Gdtr {
            old_base,
            new_base,
            old_limit,
            new_limit,
        } => (
            Some(Location::Gdtr),
            Changed::Gdtr {
                old: TableReg {
                    base: old_base,
                    limit: old_limit,
                },
                new: TableReg {
                    base: new_base,
                    limit: new_limit,
                },
            },
            1,
        ),
        Change::Idtr {
            old_base,
            new_base,
            old_limit,
            new_limit,
        } => (
            Some(Location::Idtr),
            Changed::Idtr {
                old: TableReg {
                    base: old_base,
                    limit: old_limit,
                },
                new: TableReg {
                    base: new_base,
                    limit: new_limit,
                },
            },
            1,
        ),
        Change::Cr { n, old, new } => (Some(Location::Cr(n)), Changed::Cr { n, old, new }, 1),
        Change::Msr { index, old, new } => (
            Some(Location::Msr(index)),
            Changed::Msr { index, old, new },
            1,
        ),
        Change::Mem {
            addr,
            len,
            old,
            new,
            ..
        } => (
            None,
            Changed::Mem {
                addr,
                len,
                old: old as u64,
                new: new as u64,
            },
            1,
        ),
        Change::PhysMem {
            addr,
            len,
            old,
            new,
        } => (
            None,
            Changed::PhysMem {
                addr,
                len,
                old: old as u64,
                new: new as u64,
            },
            1,
        ),
        Change::Halted { old, new } => (Some(Location::Halted), Changed::Halted { old, new }, 1),
        Change::Shadow { old, new } => (Some(Location::Shadow), Changed::Shadow { old, new }, 1),
        Change::PendingIrq { old, new } => (
            Some(Location::PendingIrq),
            Changed::PendingIrq { old, new },
            1,
        ),
        Change::Device(d) => (None, Changed::Device(d), 1),
    }
}

/// Keep `prev`'s old value and take `next`'s new one.
fn merge_new(prev: &mut Changed, next: &Changed) {
    use Changed::*;
    match (prev, next) {
        (Gpr { new, .. }, Gpr { new: n, .. }) => *new = *n,
        (Rflags { new, .. }, Rflags { new: n, .. }) => *new = *n,
        (Seg { new, .. }, Seg { new: n, .. }) => *new = *n,
        (Tr { new, .. }, Tr { new: n, .. }) => *new = *n,
        (Gdtr { new, .. }, Gdtr { new: n, .. }) => *new = *n,
        (Idtr { new, .. }, Idtr { new: n, .. }) => *new = *n,
        (Cr { new, .. }, Cr { new: n, .. }) => *new = *n,
        (Msr { new, .. }, Msr { new: n, .. }) => *new = *n,
        (Halted { new, .. }, Halted { new: n, .. }) => *new = *n,
        (Shadow { new, .. }, Shadow { new: n, .. }) => *new = *n,
        (PendingIrq { new, .. }, PendingIrq { new: n, .. }) => *new = *n,
        _ => {}
    }
}

fn is_noop(c: &Changed) -> bool {
    use Changed::*;
    match c {
        Gpr { old, new, .. } | Rflags { old, new } => old == new,
        Cr { old, new, .. } | Msr { old, new, .. } => old == new,
        Seg { old, new, .. } | Tr { old, new } => old == new,
        Gdtr { old, new } | Idtr { old, new } => old == new,
        Halted { old, new } | Shadow { old, new } => old == new,
        PendingIrq { old, new } => old == new,
        Mem { .. } | PhysMem { .. } | Device(_) => false,
    }
}

/// Join `next` to `prev` if both are pieces of one memory write (the same kind, at
/// consecutive addresses, at most 8 bytes together).
fn join_pieces(prev: &mut Changed, next: &Changed) -> bool {
    let (pa, pl, po, pn, a, l, o, n) = match (prev, next) {
        (
            Changed::Mem {
                addr: pa,
                len: pl,
                old: po,
                new: pn,
            },
            Changed::Mem {
                addr,
                len,
                old,
                new,
            },
        )
        | (
            Changed::PhysMem {
                addr: pa,
                len: pl,
                old: po,
                new: pn,
            },
            Changed::PhysMem {
                addr,
                len,
                old,
                new,
            },
        ) => (pa, pl, po, pn, *addr, *len, *old, *new),
        _ => return false,
    };
    if pa.wrapping_add(*pl as u64) != a || *pl + l > 8 {
        return false;
    }
    *po |= o << (*pl * 8);
    *pn |= n << (*pl * 8);
    *pl += l;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_stay_small() {
        assert!(std::mem::size_of::<Change>() <= 24);
        let c = Change::mem(0xffff_ffff_8100_0123, 0x3f_ffff_f123, 4, 1, 2);
        assert_eq!(c.phys(), Some(0x3f_ffff_f123));
    }

    #[test]
    fn segment_loads_fold_into_whole_segments() {
        let old = Segment::flat(0x73, 0xb, 3, true, false);
        let new = Segment {
            base: 0x1000,
            ..Segment::flat(0x60, 0xb, 0, true, false)
        };
        let mut m = Machine::new();
        m.cpu.seg[SegReg::Cs as usize] = new;
        let entries = segment_changes(SegSlot::Seg(SegReg::Cs), &old, &new);
        assert_eq!(
            summarize(&entries),
            vec![Changed::Seg {
                seg: SegReg::Cs,
                old,
                new
            }]
        );
        for e in entries.iter().rev() {
            e.undo(&mut m);
        }
        assert_eq!(m.cpu.seg[SegReg::Cs as usize], old);
    }

    #[test]
    fn a_register_written_twice_reports_first_old_and_last_new() {
        let c = [
            Change::Gpr {
                index: 0,
                old: 1,
                new: 2,
            },
            Change::Gpr {
                index: 0,
                old: 2,
                new: 3,
            },
            Change::Gpr {
                index: 1,
                old: 5,
                new: 5,
            },
        ];
        assert_eq!(
            summarize(&c),
            vec![Changed::Gpr {
                index: 0,
                old: 1,
                new: 3
            }]
        );
    }
}
