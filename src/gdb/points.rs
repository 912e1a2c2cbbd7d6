//! gdb's breakpoints and watchpoints, kept as ringstep's own: Z0 (software) and Z1
//! (hardware) breakpoints are debugger breakpoints, so nothing is written into guest
//! memory; Z2 (write) watchpoints are debugger memory watchpoints, which stop after a
//! step that changed the watched bytes; Z3 (read) and Z4 (access) are checked against
//! the memory operands of each instruction before it runs (`access`).

use gdbstub::target::ext::breakpoints::WatchKind;

use crate::debug::points::Watch;
use crate::debug::Debugger;

use super::access::AccessWatch;

/// What gdb asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Soft,
    Hard,
    Write,
}

/// One of gdb's points that is a debugger point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    addr: u64,
    len: u64,
    id: u32,
}

/// gdb's points of one connection.
#[derive(Clone, Debug, Default)]
pub struct GdbPoints {
    entries: Vec<Entry>,
    pub access: Vec<AccessWatch>,
}

/// At most this many points (gdb sets one packet per point).
pub const MAX_POINTS: usize = 4096;

impl GdbPoints {
    fn full(&self) -> bool {
        self.entries.len() + self.access.len() >= MAX_POINTS
    }

    /// A breakpoint (`Soft` or `Hard`) or a write watchpoint; false when full.
    pub fn add(&mut self, d: &mut Debugger, kind: Kind, addr: u64, len: u64) -> bool {
        if self.full() {
            return false;
        }
        let id = match kind {
            Kind::Write => d.points_mut().add_watch(Watch::Mem { addr, len }),
            _ => d.points_mut().add_break(addr, format!("{addr:#x}"), None),
        };
        self.entries.push(Entry {
            kind,
            addr,
            len,
            id,
        });
        true
    }

    /// Remove what `add` added; false if there was none.
    pub fn remove(&mut self, d: &mut Debugger, kind: Kind, addr: u64, len: u64) -> bool {
        let found = self.entries.iter().position(|e| {
            e.kind == kind && e.addr == addr && (kind != Kind::Write || e.len == len)
        });
        match found {
            Some(i) => {
                let e = self.entries.remove(i);
                d.points_mut().delete(e.id)
            }
            None => false,
        }
    }

    /// A read (Z3) or access (Z4) watchpoint; false when full or not such a kind.
    pub fn add_access(&mut self, kind: WatchKind, addr: u64, len: u64) -> bool {
        let writes_too = match kind {
            WatchKind::Read => false,
            WatchKind::ReadWrite => true,
            WatchKind::Write => return false,
        };
        if self.full() {
            return false;
        }
        self.access.push(AccessWatch {
            addr,
            len,
            writes_too,
        });
        true
    }

    pub fn remove_access(&mut self, kind: WatchKind, addr: u64, len: u64) -> bool {
        let writes_too = kind == WatchKind::ReadWrite;
        let w = AccessWatch {
            addr,
            len,
            writes_too,
        };
        match self.access.iter().position(|a| *a == w) {
            Some(i) => {
                self.access.remove(i);
                true
            }
            None => false,
        }
    }

    /// The kind of gdb point behind debugger point `id`.
    pub fn kind_of(&self, id: u32) -> Option<Kind> {
        self.entries.iter().find(|e| e.id == id).map(|e| e.kind)
    }

    /// Delete every point of this connection from the debugger (at disconnect).
    pub fn clear(&mut self, d: &mut Debugger) {
        for e in self.entries.drain(..) {
            d.points_mut().delete(e.id);
        }
        self.access.clear();
    }
}
