//! What the inspector panes show, read from the machine at the current history position:
//! a memory dump with symbols, regions and permissions, and the GDT, IDT and TSS decoded
//! entry by entry. Pure functions of a `Machine`; the descriptor layouts themselves are
//! decoded by `machine::segment` and `machine::tables`.

use super::dump::{dump, DumpLine};
use super::spec::Unit;
use crate::machine::segment::{system_type_name, type_name};
use crate::machine::tables::{call_gate_params, tss32, tss64, Gate};
use crate::machine::{Descriptor, Machine, Perm, SegReg, Selector};

/// Which inspector the bottom of the screen shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inspector {
    Memory,
    Gdt,
    Idt,
    Tss,
    /// The page-table walk of an address and the mapped ranges.
    PageTables,
    /// Breakpoints, watchpoints and edits.
    Points,
    /// The text a command printed.
    Output,
}

/// `U W X` style permissions: user or supervisor, writable, executable.
pub fn perm_text(p: Perm) -> String {
    format!(
        "{} {} {}",
        if p.user { 'U' } else { 'S' },
        if p.writable { 'W' } else { '-' },
        if p.exec { 'X' } else { '-' }
    )
}

/// The rights the CPU's current page tables give the page holding `lin` (with paging
/// off: every right inside a declared region); None if it is not mapped.
pub fn rights_at(m: &Machine, lin: u64) -> Option<Perm> {
    if !m.lin_mapped(lin) {
        return None;
    }
    let p = m.mapping(lin)?;
    Some(Perm {
        user: p.user,
        writable: p.writable,
        exec: !p.nx,
    })
}

/// `U W X`, or the words for a page that is not mapped.
pub fn rights_text(p: Option<Perm>, not_mapped: &str) -> String {
    p.map_or_else(|| not_mapped.to_string(), perm_text)
}

/// The page a line of the memory dump starts in: the region declared there (if any)
/// and the rights the current page tables give it (None: not mapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageMark {
    pub region: Option<String>,
    pub rights: Option<Perm>,
}

/// One line of the memory dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemLine {
    pub line: DumpLine,
    /// Symbols at addresses inside the line: (byte offset, name).
    pub symbols: Vec<(usize, String)>,
    /// The page the line starts in, when its region or rights differ from the line
    /// above (or for the first line).
    pub region: Option<PageMark>,
}

/// A memory dump of `lines` lines of `per_line` bytes from `top`.
pub fn memory(m: &Machine, top: u64, lines: usize, per_line: u64) -> Vec<MemLine> {
    let per_line = per_line.clamp(1, 16);
    let mut out: Vec<MemLine> = Vec::with_capacity(lines);
    let mut prev: Option<PageMark> = None;
    for i in 0..lines as u64 {
        let addr = top.wrapping_add(i * per_line);
        let d = dump(m, addr, per_line, Unit::Hex);
        let Some(line) = d.lines.into_iter().next() else {
            break;
        };
        let symbols = (0..per_line)
            .filter_map(|k| {
                let name = m.symbols.name_at(addr.wrapping_add(k))?;
                Some((k as usize, name.to_string()))
            })
            .collect();
        let here = PageMark {
            region: m.mem.region_at(addr).map(|r| r.name.clone()),
            rights: rights_at(m, addr),
        };
        let region = (prev.as_ref() != Some(&here)).then(|| here.clone());
        prev = Some(here);
        out.push(MemLine {
            line,
            symbols,
            region,
        });
    }
    out
}

/// The first line shown when following the stack pointer: the line holding it, with
/// one line below it (the next pushes) above.
pub fn follow_top(sp: u64, per_line: u64) -> u64 {
    (sp - sp % per_line.max(1)).wrapping_sub(per_line)
}

/// One GDT slot, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GdtRow {
    pub index: u16,
    pub selector: u16,
    pub raw: u64,
    pub kind: GdtKind,
    /// Segment registers (and TR) whose selector indexes this slot.
    pub used_by: Vec<&'static str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GdtKind {
    /// Slot 0 (never used for a segment).
    Null,
    /// A code or data segment (S = 1).
    Segment {
        base: u64,
        /// In bytes, after granularity.
        limit: u32,
        raw_limit: u32,
        type_name: &'static str,
        code: bool,
        dpl: u8,
        present: bool,
        /// D/B: default operation size 32 bits (code), big (data).
        db: bool,
        /// L: 64-bit code.
        long: bool,
        /// G: limit in 4 KiB units.
        granular: bool,
        avl: bool,
        accessed: bool,
    },
    /// An LDT or TSS descriptor.
    System {
        base: u64,
        limit: u32,
        type_name: &'static str,
        dpl: u8,
        present: bool,
        granular: bool,
        /// For a TSS: the busy bit.
        busy: Option<bool>,
    },
    /// A call or task gate.
    Gate {
        type_name: &'static str,
        selector: u16,
        offset: u64,
        dpl: u8,
        present: bool,
        /// Call gates: dwords copied to the new stack.
        params: u8,
    },
    /// Bits 63:32 of the 16-byte system descriptor in the slot before (IA-32e mode).
    Upper { of: u16 },
    /// A system descriptor with a reserved type.
    Reserved { ty: u8 },
}

fn users(m: &Machine, index: u16) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SegReg::ALL
        .iter()
        .filter(|&&s| {
            let sel = m.cpu.seg(s).sel();
            !sel.ti() && !sel.is_null() && sel.index() == index
        })
        .map(|s| s.name())
        .collect();
    let tr = Selector(m.cpu.tr.selector);
    if !tr.is_null() && !tr.ti() && tr.index() == index {
        v.push("tr");
    }
    v
}

/// Every GDT slot up to GDTR.limit.
pub fn gdt(m: &Machine) -> Vec<GdtRow> {
    let ia32e = m.cpu.long_mode_active();
    let count = (m.cpu.gdtr.limit as usize + 1) / 8;
    let raw_at = |i: usize| m.peek_lin_le(m.cpu.gdtr.base.wrapping_add(i as u64 * 8), 8);
    let mut rows = Vec::with_capacity(count);
    let mut upper_of: Option<u16> = None;
    for i in 0..count {
        let raw = raw_at(i);
        let index = i as u16;
        let d = Descriptor(raw);
        let a = d.attr();
        let kind = if let Some(of) = upper_of.take() {
            GdtKind::Upper { of }
        } else if i == 0 {
            GdtKind::Null
        } else if a.s() {
            GdtKind::Segment {
                base: d.base(),
                limit: d.limit(),
                raw_limit: d.raw_limit(),
                type_name: type_name(a),
                code: a.is_code(),
                dpl: a.dpl(),
                present: a.present(),
                db: a.db(),
                long: a.l(),
                granular: a.g(),
                avl: a.avl(),
                accessed: a.accessed(),
            }
        } else {
            let ty = a.ty();
            let name = system_type_name(ty, ia32e);
            let wide = ia32e && d.is_wide_in_ia32e();
            if wide && i + 1 < count {
                upper_of = Some(index);
            }
            let upper = if wide && i + 1 < count {
                raw_at(i + 1)
            } else {
                0
            };
            match ty {
                _ if name == "reserved" => GdtKind::Reserved { ty },
                0x2 | 0x1 | 0x3 | 0x9 | 0xb => GdtKind::System {
                    base: if wide { d.base64(upper) } else { d.base() },
                    limit: d.limit(),
                    type_name: name,
                    dpl: a.dpl(),
                    present: a.present(),
                    granular: a.g(),
                    busy: (ty != 0x2).then_some(ty & 2 != 0),
                },
                _ => {
                    let g = if wide {
                        Gate::decode64(raw, upper)
                    } else {
                        Gate::decode32(raw)
                    };
                    GdtKind::Gate {
                        type_name: name,
                        selector: g.selector,
                        offset: if ty == 0x5 { 0 } else { g.offset },
                        dpl: g.dpl,
                        present: g.present,
                        params: if ia32e { 0 } else { call_gate_params(raw) },
                    }
                }
            }
        };
        rows.push(GdtRow {
            index,
            selector: index << 3,
            raw,
            kind,
            used_by: users(m, index),
        });
    }
    rows
}

/// One IDT vector, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdtRow {
    pub vector: u8,
    pub gate: Gate,
    pub type_name: &'static str,
    /// The handler's symbol.
    pub symbol: Option<String>,
}

/// Every IDT gate up to IDTR.limit (8-byte gates, or 16-byte gates in IA-32e mode).
pub fn idt(m: &Machine) -> Vec<IdtRow> {
    let ia32e = m.cpu.long_mode_active();
    let size: u64 = if ia32e { 16 } else { 8 };
    let count = ((m.cpu.idtr.limit as u64 + 1) / size).min(256);
    (0..count)
        .map(|v| {
            let at = m.cpu.idtr.base.wrapping_add(v * size);
            let lo = m.peek_lin_le(at, 8);
            let gate = if ia32e {
                Gate::decode64(lo, m.peek_lin_le(at.wrapping_add(8), 8))
            } else {
                Gate::decode32(lo)
            };
            let symbol = (gate.present && gate.ty != 0x5)
                .then(|| m.describe_addr(gate.offset))
                .flatten();
            IdtRow {
                vector: v as u8,
                gate,
                type_name: system_type_name(gate.ty, ia32e),
                symbol,
            }
        })
        .collect()
}

/// The TSS the task register points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TssView {
    pub tr: u16,
    pub base: u64,
    pub limit: u32,
    pub type_name: &'static str,
    pub long: bool,
    /// (name, offset, bytes, value, symbol of the value).
    pub fields: Vec<(&'static str, u64, u8, u64, Option<String>)>,
    pub iomap_base: u64,
}

impl TssView {
    pub fn field(&self, name: &str) -> Option<u64> {
        self.fields.iter().find(|f| f.0 == name).map(|f| f.3)
    }

    /// Bytes of I/O permission bitmap inside the segment limit; 0 when the map base
    /// lies at or beyond the limit (no bitmap: every port access above IOPL faults).
    pub fn iomap_bytes(&self) -> u64 {
        (self.limit as u64 + 1).saturating_sub(self.iomap_base)
    }
}

/// The TSS, or None when TR holds a null selector.
pub fn tss(m: &Machine) -> Option<TssView> {
    let tr = m.cpu.tr;
    if Selector(tr.selector).is_null() {
        return None;
    }
    let long = m.cpu.long_mode_active();
    let table = if long { tss64::FIELDS } else { tss32::FIELDS };
    let fields = table
        .iter()
        .map(|&(name, off, len)| {
            let v = m.peek_lin_le(tr.base.wrapping_add(off), len as usize);
            let pointer = len >= 4 && name != "eflags" && name != "cr3";
            let sym = pointer.then(|| symbol(m, v)).flatten();
            (name, off, len, v, sym)
        })
        .collect::<Vec<_>>();
    let iomap_base = fields
        .iter()
        .find(|f| f.0 == "iomap_base")
        .map_or(0, |f| f.3);
    Some(TssView {
        tr: tr.selector,
        base: tr.base,
        limit: tr.limit,
        type_name: system_type_name(tr.attr.ty(), long),
        long,
        fields,
        iomap_base,
    })
}

/// The symbol naming a pointer-sized value, if it is an address (not a small number).
pub fn symbol(m: &Machine, addr: u64) -> Option<String> {
    if addr < 0x1000 {
        return None;
    }
    m.describe_addr(addr)
}
