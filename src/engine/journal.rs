//! Every change an instruction makes to the machine, with old and new values.
//! The same records drive the step report, fault roll-back and reverse stepping.

use crate::machine::{Machine, SegReg, Segment, TableReg};

/// Large, rare variants (segment and table registers) are boxed so the common ones stay
/// small: a step history holds millions of these.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    Seg {
        seg: SegReg,
        old: Box<Segment>,
        new: Box<Segment>,
    },
    Tr {
        old: Box<Segment>,
        new: Box<Segment>,
    },
    Gdtr {
        old: Box<TableReg>,
        new: Box<TableReg>,
    },
    Idtr {
        old: Box<TableReg>,
        new: Box<TableReg>,
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
    /// A memory write of `len` (1..=8) bytes, little-endian values.
    Mem {
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
}

impl Change {
    /// Put back the value this change replaced.
    pub fn undo(&self, m: &mut Machine) {
        self.apply(m, true);
    }

    /// Apply the change again.
    pub fn redo(&self, m: &mut Machine) {
        self.apply(m, false);
    }

    fn apply(&self, m: &mut Machine, undo: bool) {
        macro_rules! pick {
            ($old:expr, $new:expr) => {
                if undo {
                    $old.clone()
                } else {
                    $new.clone()
                }
            };
        }
        let c = &mut m.cpu;
        match self {
            Change::Gpr { index, old, new } => c.gpr[*index as usize] = pick!(*old, *new),
            Change::Rflags { old, new } => c.rflags = pick!(*old, *new),
            Change::Seg { seg, old, new } => c.seg[*seg as usize] = pick!(**old, **new),
            Change::Tr { old, new } => c.tr = pick!(**old, **new),
            Change::Gdtr { old, new } => c.gdtr = pick!(**old, **new),
            Change::Idtr { old, new } => c.idtr = pick!(**old, **new),
            Change::Cr { n, old, new } => {
                let v = pick!(*old, *new);
                match *n {
                    0 => c.cr0 = v,
                    2 => c.cr2 = v,
                    3 => c.cr3 = v,
                    _ => c.cr4 = v,
                }
            }
            Change::Msr { index, old, new } => {
                c.msr.set(*index, pick!(*old, *new));
            }
            Change::Mem {
                addr,
                len,
                old,
                new,
            } => {
                m.mem.poke_le(*addr, *len as usize, pick!(*old, *new));
            }
            Change::Halted { old, new } => c.halted = pick!(*old, *new),
            Change::Shadow { old, new } => c.shadow = pick!(*old, *new),
            Change::PendingIrq { old, new } => c.pending_irq = pick!(*old, *new),
        }
    }
}

/// What changed in one step, coalesced: each location once, with its first old value
/// and last new value. Memory writes stay separate (in order) as the trace reports them.
pub fn coalesce(changes: &[Change]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for ch in changes {
        if matches!(ch, Change::Mem { .. }) {
            out.push(ch.clone());
            continue;
        }
        let slot = out.iter_mut().find(|o| same_location(o, ch));
        match slot {
            Some(prev) => merge(prev, ch),
            None => out.push(ch.clone()),
        }
    }
    out.retain(|c| !is_noop(c));
    out
}

fn same_location(a: &Change, b: &Change) -> bool {
    use Change::*;
    match (a, b) {
        (Gpr { index: x, .. }, Gpr { index: y, .. }) => x == y,
        (Seg { seg: x, .. }, Seg { seg: y, .. }) => x == y,
        (Cr { n: x, .. }, Cr { n: y, .. }) => x == y,
        (Msr { index: x, .. }, Msr { index: y, .. }) => x == y,
        (Rflags { .. }, Rflags { .. })
        | (Tr { .. }, Tr { .. })
        | (Gdtr { .. }, Gdtr { .. })
        | (Idtr { .. }, Idtr { .. })
        | (Halted { .. }, Halted { .. })
        | (Shadow { .. }, Shadow { .. })
        | (PendingIrq { .. }, PendingIrq { .. }) => true,
        _ => false,
    }
}

fn merge(prev: &mut Change, next: &Change) {
    use Change::*;
    match (prev, next) {
        (Gpr { new, .. }, Gpr { new: n, .. }) => *new = *n,
        (Rflags { new, .. }, Rflags { new: n, .. }) => *new = *n,
        (Seg { new, .. }, Seg { new: n, .. }) => *new = n.clone(),
        (Tr { new, .. }, Tr { new: n, .. }) => *new = n.clone(),
        (Gdtr { new, .. }, Gdtr { new: n, .. }) => *new = n.clone(),
        (Idtr { new, .. }, Idtr { new: n, .. }) => *new = n.clone(),
        (Cr { new, .. }, Cr { new: n, .. }) => *new = *n,
        (Msr { new, .. }, Msr { new: n, .. }) => *new = *n,
        (Halted { new, .. }, Halted { new: n, .. }) => *new = *n,
        (Shadow { new, .. }, Shadow { new: n, .. }) => *new = *n,
        (PendingIrq { new, .. }, PendingIrq { new: n, .. }) => *new = *n,
        _ => {}
    }
}

fn is_noop(c: &Change) -> bool {
    use Change::*;
    match c {
        Gpr { old, new, .. } | Rflags { old, new } => old == new,
        Cr { old, new, .. } | Msr { old, new, .. } => old == new,
        Seg { old, new, .. } | Tr { old, new } => old == new,
        Gdtr { old, new } | Idtr { old, new } => old == new,
        Halted { old, new } | Shadow { old, new } => old == new,
        PendingIrq { old, new } => old == new,
        Mem { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_stay_small() {
        assert!(std::mem::size_of::<Change>() <= 32);
    }
}
