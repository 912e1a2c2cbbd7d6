//! Breakpoints and watchpoints: where they are, and whether a position or a step hits
//! one. A breakpoint hits at a position whose RIP is its address (before the instruction
//! there runs) and whose registers satisfy its condition. A watchpoint hits at the
//! position after a step that changed what it watches; whether a step changed it is
//! read from the step's recorded changes, not by comparing whole machines.

use std::fmt;

use crate::engine::journal::SegSlot;
use crate::engine::Change;
use crate::machine::{msr, Machine, SegReg};

use super::regs::Reg;
use super::spec::Cond;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breakpoint {
    pub id: u32,
    pub addr: u64,
    /// The location as it was written (`sysenter_entry+4`).
    pub text: String,
    /// The symbol at the address (`sysenter_entry`, `syscall_call+0x7`), if any.
    pub label: Option<String>,
    pub cond: Option<Cond>,
}

impl Breakpoint {
    /// True if the breakpoint stops the machine `m` (its RIP and condition).
    #[inline]
    pub fn hits(&self, m: &Machine) -> bool {
        m.cpu.rip == self.addr && self.cond.as_ref().is_none_or(|c| c.holds(m))
    }
}

/// What a watchpoint watches, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Mem { addr: u64, len: u64 },
    Reg(Reg),
    Msr(u32),
}

impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Watch::Mem { addr, len } => write!(f, "mem {addr:#x},{len}"),
            Watch::Reg(r) => write!(f, "{r}"),
            Watch::Msr(i) => match msr::name(*i) {
                Some(n) => write!(f, "msr {n} ({i:#x})"),
                None => write!(f, "msr {i:#x}"),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watchpoint {
    pub id: u32,
    pub watch: Watch,
}

/// How a watched location changed in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchValue {
    /// A register or MSR.
    Value { old: u64, new: u64 },
    /// Memory: the bytes from the first to the last one that changed, in address
    /// order; None for a byte in between that the step did not write.
    Bytes {
        addr: u64,
        old: Vec<Option<u8>>,
        new: Vec<Option<u8>>,
    },
}

impl fmt::Display for WatchValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = |b: &[Option<u8>]| {
            b.iter()
                .map(|x| x.map_or("..".to_string(), |x| format!("{x:02x}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            WatchValue::Value { old, new } => write!(f, "{old:#x} -> {new:#x}"),
            WatchValue::Bytes { addr, old, new } => {
                write!(f, "at {addr:#x}: {} -> {}", hex(old), hex(new))
            }
        }
    }
}

/// A watchpoint that a step hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchHit {
    pub id: u32,
    pub watch: Watch,
    /// The step that made the change (the hit is at position `step + 1`).
    pub step: usize,
    pub value: WatchValue,
}

/// First old and last new value of the entries `pick` selects, if it selects any.
fn span(changes: &[Change], pick: impl Fn(&Change) -> Option<(u64, u64)>) -> Option<(u64, u64)> {
    let mut found: Option<(u64, u64)> = None;
    for c in changes {
        if let Some((o, n)) = pick(c) {
            found = Some(match found {
                Some((first, _)) => (first, n),
                None => (o, n),
            });
        }
    }
    found
}

impl Watch {
    /// How this step's `changes` changed the watched location, if they did.
    pub fn changed(&self, changes: &[Change]) -> Option<WatchValue> {
        let (old, new) = match *self {
            Watch::Mem { addr, len } => return mem_changed(addr, len, changes),
            Watch::Reg(Reg::Gpr { index, bytes, high }) => {
                let (o, n) = span(changes, |c| match *c {
                    Change::Gpr { index: i, old, new } if i == index => Some((old, new)),
                    _ => None,
                })?;
                let field = |v: u64| {
                    crate::machine::cpu::mask(if high { v >> 8 } else { v }, bytes as usize)
                };
                (field(o), field(n))
            }
            Watch::Reg(Reg::Flags) => span(changes, |c| match *c {
                Change::Rflags { old, new } => Some((old, new)),
                _ => None,
            })?,
            Watch::Reg(Reg::Seg(s)) => sel_span(changes, SegSlot::Seg(s))?,
            Watch::Reg(Reg::Cpl) => {
                let (o, n) = sel_span(changes, SegSlot::Seg(SegReg::Cs))?;
                (o & 3, n & 3)
            }
            Watch::Reg(Reg::Cr(n)) => span(changes, |c| match *c {
                Change::Cr { n: k, old, new } if k == n => Some((old, new)),
                _ => None,
            })?,
            // RIP changes on every step; the parser refuses to watch it.
            Watch::Reg(Reg::Ip) => return None,
            Watch::Msr(index) => {
                // FS_BASE and GS_BASE are the FS/GS descriptor-cache bases.
                let seg = match index {
                    msr::FS_BASE => Some(SegReg::Fs),
                    msr::GS_BASE => Some(SegReg::Gs),
                    _ => None,
                };
                match seg {
                    Some(s) => span(changes, |c| match *c {
                        Change::SegBase { slot, old, new } if slot == SegSlot::Seg(s) => {
                            Some((old, new))
                        }
                        _ => None,
                    })?,
                    None => span(changes, |c| match *c {
                        Change::Msr { index: i, old, new } if i == index => Some((old, new)),
                        _ => None,
                    })?,
                }
            }
        };
        (old != new).then_some(WatchValue::Value { old, new })
    }
}

fn sel_span(changes: &[Change], slot: SegSlot) -> Option<(u64, u64)> {
    span(changes, |c| match *c {
        Change::SegSel {
            slot: s, old, new, ..
        } if s == slot => Some((old as u64, new as u64)),
        _ => None,
    })
}

/// The bytes of `[addr, addr+len)` that `changes` left different, if any.
fn mem_changed(addr: u64, len: u64, changes: &[Change]) -> Option<WatchValue> {
    let overlaps = |a: u64, l: u64| {
        // Offsets relative to the watched range, so a range at the top of the address
        // space needs no special case.
        let start = a.wrapping_sub(addr);
        start < len || addr.wrapping_sub(a) < l
    };
    if !changes
        .iter()
        .any(|c| matches!(*c, Change::Mem { addr: a, len: l, .. } if overlaps(a, l as u64)))
    {
        return None;
    }
    // Per byte of the range: (old at the first write, new after the last write).
    let mut bytes: Vec<Option<(u8, u8)>> = vec![None; len as usize];
    for c in changes {
        if let Change::Mem {
            addr: a,
            len: l,
            old,
            new,
            ..
        } = *c
        {
            for k in 0..l as u64 {
                let off = a.wrapping_add(k).wrapping_sub(addr);
                if off < len {
                    let (o, n) = ((old >> (8 * k)) as u8, (new >> (8 * k)) as u8);
                    let slot = &mut bytes[off as usize];
                    *slot = Some(match *slot {
                        Some((first, _)) => (first, n),
                        None => (o, n),
                    });
                }
            }
        }
    }
    let differs = |b: &Option<(u8, u8)>| b.is_some_and(|(o, n)| o != n);
    let first = bytes.iter().position(differs)?;
    let last = bytes.iter().rposition(differs)?;
    let (old, new) = bytes[first..=last]
        .iter()
        .map(|b| (b.map(|(o, _)| o), b.map(|(_, n)| n)))
        .unzip();
    Some(WatchValue::Bytes {
        addr: addr.wrapping_add(first as u64),
        old,
        new,
    })
}

/// A breakpoint or a watchpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Point {
    Break(Breakpoint),
    Watch(Watchpoint),
}

impl Point {
    pub fn id(&self) -> u32 {
        match self {
            Point::Break(b) => b.id,
            Point::Watch(w) => w.id,
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // One form wherever a breakpoint is listed: number, address, symbol, what
            // was written when it says more, condition.
            Point::Break(b) => {
                write!(f, "{:<3} break {:#x}", b.id, b.addr)?;
                if let Some(l) = &b.label {
                    write!(f, " <{l}>")?;
                }
                let said = b.text.is_empty()
                    || b.text == format!("{:#x}", b.addr)
                    || Some(&b.text) == b.label.as_ref();
                if !said {
                    write!(f, " ({})", b.text)?;
                }
                if let Some(c) = &b.cond {
                    write!(f, " if {c}")?;
                }
                Ok(())
            }
            Point::Watch(w) => write!(f, "{:<3} watch {}", w.id, w.watch),
        }
    }
}

/// The breakpoints and watchpoints, numbered from 1 in the order they were set.
#[derive(Clone, Debug, Default)]
pub struct Points {
    list: Vec<Point>,
    next_id: u32,
    /// Derived: the breakpoints and the watchpoints, for the hot loops.
    breaks: Vec<Breakpoint>,
    watches: Vec<Watchpoint>,
}

impl Points {
    pub fn new() -> Points {
        Points::default()
    }

    fn add(&mut self, make: impl FnOnce(u32) -> Point) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        self.list.push(make(id));
        self.rebuild();
        id
    }

    pub fn add_break(&mut self, addr: u64, text: String, cond: Option<Cond>) -> u32 {
        self.add_labelled_break(addr, text, None, cond)
    }

    /// A breakpoint that lists with the symbol `label` at its address.
    pub fn add_labelled_break(
        &mut self,
        addr: u64,
        text: String,
        label: Option<String>,
        cond: Option<Cond>,
    ) -> u32 {
        self.add(|id| {
            Point::Break(Breakpoint {
                id,
                addr,
                text,
                label,
                cond,
            })
        })
    }

    pub fn add_watch(&mut self, watch: Watch) -> u32 {
        self.add(|id| Point::Watch(Watchpoint { id, watch }))
    }

    /// Delete point `id`; false if there is none.
    pub fn delete(&mut self, id: u32) -> bool {
        let before = self.list.len();
        self.list.retain(|p| p.id() != id);
        self.rebuild();
        self.list.len() != before
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.rebuild();
    }

    fn rebuild(&mut self) {
        self.breaks = self
            .list
            .iter()
            .filter_map(|p| match p {
                Point::Break(b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        self.watches = self
            .list
            .iter()
            .filter_map(|p| match p {
                Point::Watch(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
    }

    pub fn all(&self) -> &[Point] {
        &self.list
    }

    pub fn breaks(&self) -> &[Breakpoint] {
        &self.breaks
    }

    pub fn watches(&self) -> &[Watchpoint] {
        &self.watches
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The breakpoints' addresses (whatever their conditions) when there is no
    /// watchpoint, so that a run can stop at those addresses only and check the
    /// conditions there; None otherwise.
    pub fn break_addrs(&self) -> Option<Vec<u64>> {
        if !self.watches.is_empty() {
            return None;
        }
        let mut addrs: Vec<u64> = self.breaks.iter().map(|b| b.addr).collect();
        addrs.sort_unstable();
        addrs.dedup();
        Some(addrs)
    }

    /// True if some breakpoint is at `addr` (whatever its condition).
    #[inline]
    pub fn break_at(&self, addr: u64) -> bool {
        self.breaks.iter().any(|b| b.addr == addr)
    }

    /// The first breakpoint that stops machine `m`.
    #[inline]
    pub fn break_hit(&self, m: &Machine) -> Option<u32> {
        self.breaks.iter().find(|b| b.hits(m)).map(|b| b.id)
    }

    /// The first watchpoint that step `step`'s `changes` hit.
    #[inline]
    pub fn watch_hit(&self, step: usize, changes: &[Change]) -> Option<WatchHit> {
        self.watches.iter().find_map(|w| {
            w.watch.changed(changes).map(|value| WatchHit {
                id: w.id,
                watch: w.watch,
                step,
                value,
            })
        })
    }
}
