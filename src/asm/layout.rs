//! Addresses: every section from its base, with jmp/jcc relaxed like GNU as (start short,
//! grow to rel32 when the target is not a label of the same section or is out of reach,
//! never shrink), alignment padding, and `.space`/`.org` sizes known only now.

use super::error::AsmError;
use super::expr::{Lin, Term};
use super::parse::{ItemKind, Program};
use super::symbols::{Externals, LateEnv, SetStack, SymDef, Symbols};

/// Largest size one `.space`/`.fill`/`.org` may produce.
pub const MAX_FILL: u64 = 16 << 20;
/// Largest section.
pub const MAX_SECTION: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct Placed {
    pub item_addr: Vec<Vec<u64>>,
    pub item_size: Vec<Vec<u64>>,
    /// Relaxable jumps that ended up rel32.
    pub long: Vec<Vec<bool>>,
    /// Address of each label, by symbol id.
    pub label_addr: Vec<u64>,
}

impl Placed {
    pub fn addr_of(&self, sec: usize, item: usize) -> u64 {
        self.item_addr
            .get(sec)
            .and_then(|v| v.get(item))
            .copied()
            .unwrap_or(0)
    }
}

pub fn place(prog: &Program) -> Result<Placed, AsmError> {
    let nsec = prog.secs.len();
    let mut p = Placed {
        item_addr: prog
            .secs
            .iter()
            .map(|s| vec![s.base; s.items.len()])
            .collect(),
        item_size: prog
            .secs
            .iter()
            .map(|s| vec![u64::MAX; s.items.len()])
            .collect(),
        long: prog
            .secs
            .iter()
            .map(|s| vec![false; s.items.len()])
            .collect(),
        label_addr: vec![0; prog.syms.list.len()],
    };
    let depth = SetStack::default();
    for _ in 0..1000 {
        let mut changed = false;
        // Size errors that may be an artefact of a pass with stale addresses; reported only
        // if the layout has settled.
        let mut pending: Option<AsmError> = None;
        for si in 0..nsec {
            let sec = &prog.secs[si];
            let mut addr = sec.base;
            for (ii, item) in sec.items.iter().enumerate() {
                p.item_addr[si][ii] = addr;
                let size = match &item.kind {
                    ItemKind::Label(id) => {
                        p.label_addr[*id as usize] = addr;
                        0
                    }
                    ItemKind::SetPoint(_) => 0,
                    ItemKind::Insn(c) => c.len as u64,
                    ItemKind::Relax { short, long, .. } => {
                        if p.long[si][ii] {
                            long.len as u64
                        } else {
                            short.len as u64
                        }
                    }
                    ItemKind::Data { width, vals } => *width as u64 * vals.len() as u64,
                    ItemKind::Bytes { bytes, .. } => bytes.len() as u64,
                    ItemKind::Fill { count, size, .. } => {
                        let env = late(prog, &p, addr, item.seq, &Externals::Forbidden, &depth);
                        let n = env
                            .value(count)
                            .map_err(|e| item.pos.at_col(col_or(e.0, item.pos.col)).error(e.1))?;
                        let total = (n.max(0) as u64).saturating_mul(*size as u64);
                        if n < 0 {
                            pending.get_or_insert(
                                item.pos.error(format!("`.space` count is negative ({n})")),
                            );
                            0
                        } else if total > MAX_FILL {
                            pending.get_or_insert(
                                item.pos
                                    .error(format!("`.space` of {total} bytes is too large")),
                            );
                            0
                        } else {
                            total
                        }
                    }
                    ItemKind::Org { target, .. } => {
                        let env = late(prog, &p, addr, item.seq, &Externals::Forbidden, &depth);
                        let lin = env
                            .lin(target)
                            .map_err(|e| item.pos.at_col(col_or(e.0, item.pos.col)).error(e.1))?;
                        let absolute = lin.terms.is_empty();
                        let v = env
                            .value(target)
                            .map_err(|e| item.pos.at_col(col_or(e.0, item.pos.col)).error(e.1))?;
                        let to = if absolute {
                            sec.base.wrapping_add(v as u64)
                        } else {
                            v as u64
                        };
                        if to < addr {
                            pending.get_or_insert(item.pos.error(format!(
                                "`.org` would move backwards (from {addr:#x} to {to:#x})"
                            )));
                            0
                        } else if to - addr > MAX_FILL {
                            pending.get_or_insert(
                                item.pos
                                    .error(format!("`.org` would skip {} bytes", to - addr)),
                            );
                            0
                        } else {
                            to - addr
                        }
                    }
                    ItemKind::Align { align, max, .. } => {
                        let pad = (align - addr % align) % align;
                        if max.is_some_and(|m| pad > m) {
                            0
                        } else {
                            pad
                        }
                    }
                };
                if p.item_size[si][ii] != size {
                    p.item_size[si][ii] = size;
                    changed = true;
                }
                addr = addr.wrapping_add(size);
                if addr.wrapping_sub(sec.base) > MAX_SECTION {
                    return Err(item.pos.error(format!(
                        "the code grows past {} MiB here; that is more than a lesson can hold",
                        MAX_SECTION >> 20
                    )));
                }
            }
        }
        for si in 0..nsec {
            for (ii, item) in prog.secs[si].items.iter().enumerate() {
                let ItemKind::Relax { short, target, .. } = &item.kind else {
                    continue;
                };
                if p.long[si][ii] {
                    continue;
                }
                let addr = p.item_addr[si][ii];
                let env = late(prog, &p, addr, item.seq, &Externals::Keep, &depth);
                let lin = env
                    .lin(target)
                    .map_err(|e| item.pos.at_col(col_or(e.0, item.pos.col)).error(e.1))?;
                let fits = match same_section_target(&lin, si, &prog.syms, &p.label_addr, addr) {
                    Some(t) => {
                        let d = t.wrapping_sub(addr.wrapping_add(short.len as u64)) as i64;
                        (-128..=127).contains(&d)
                    }
                    None => false,
                };
                if !fits {
                    p.long[si][ii] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            return match pending {
                Some(e) => Err(e),
                None => Ok(p),
            };
        }
    }
    Err(AsmError {
        section: 0,
        line: 1,
        col: 1,
        message: "the layout does not settle (sizes keep changing; check `.org`/`.space` expressions that depend on later labels)".into(),
    })
}

fn col_or(c: usize, d: usize) -> usize {
    if c == 0 {
        d
    } else {
        c
    }
}

/// The target address if it is one label (plus a constant) of section `sec`, or `.`.
fn same_section_target(
    lin: &Lin,
    sec: usize,
    syms: &Symbols,
    label_addr: &[u64],
    dot: u64,
) -> Option<u64> {
    match lin.terms.as_slice() {
        [(Term::Dot, 1)] => Some(dot.wrapping_add(lin.k as u64)),
        [(Term::Label(id), 1)] => {
            let s = syms.sym(*id);
            match s.def {
                SymDef::Label { sec: ls, .. } if ls == sec && !s.weak => {
                    Some(label_addr[*id as usize].wrapping_add(lin.k as u64))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

pub fn late<'a>(
    prog: &'a Program,
    p: &'a Placed,
    dot: u64,
    seq: u32,
    ext: &'a Externals<'a>,
    depth: &'a SetStack,
) -> LateEnv<'a> {
    LateEnv {
        syms: &prog.syms,
        label_addr: &p.label_addr,
        item_addr: &p.item_addr,
        dot,
        seq,
        ext,
        depth,
        known: &[],
    }
}
