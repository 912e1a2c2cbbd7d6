//! The page-table inspector: the walk of one linear address through the CPU's current
//! tables (CR3), level by level with every bit of each entry decoded, the page it ends
//! at with the rights the whole chain gives it, or where and why it stopped; and an
//! overview of what the address space maps, found by walking the tables themselves
//! (present entries only, so a space that maps terabytes costs what its tables hold).
//!
//! The text comes in two forms per line: a full one with labels, and a short one that
//! keeps every value but fewer words, for narrow screens. The words are given by the
//! caller (`PtWords`), so that the viewer can show them in its language; `EN` is what
//! the debugger's `walk` command prints.

use crate::engine::{Engine, Outcome, StopReason};
use crate::machine::paging::{
    Controls, Level, Miss, PagingMode, A, D, G, P, PCD, PHYS_MASK, PS, PWT, RW, US, XD,
};
use crate::machine::{Machine, SegReg};

/// The words of the inspector.
#[derive(Clone, Copy, Debug)]
pub struct PtWords {
    pub walk_of: &'static str,
    pub at_rip: &'static str,
    pub at_cr2: &'static str,
    pub typed: &'static str,
    pub table: &'static str,
    pub index: &'static str,
    pub entry_at: &'static str,
    pub next_table: &'static str,
    pub page_frame: &'static str,
    pub physical: &'static str,
    pub page: &'static str,
    pub stopped_at: &'static str,
    pub not_present: &'static str,
    pub reserved: &'static str,
    pub paging_off: &'static str,
    /// The paging modes' names: off, 32-bit, PAE, 4-level.
    pub modes: [&'static str; 4],
    pub user_half: &'static str,
    pub kernel_half: &'static str,
    pub nothing_mapped: &'static str,
    pub more_ranges: &'static str,
    pub budget: &'static str,
    pub ranges: &'static str,
    pub present: &'static str,
    pub absent: &'static str,
    pub user: &'static str,
    pub supervisor: &'static str,
    pub writable: &'static str,
    pub read_only: &'static str,
    pub executable: &'static str,
    pub not_executable: &'static str,
    pub accessed: &'static str,
    pub dirty: &'static str,
    pub global: &'static str,
    pub large_page: &'static str,
    pub write_through: &'static str,
    pub cache_disabled: &'static str,
    /// A finding of the machine's walk (a reserved bit), in the inspector's language.
    pub finding: fn(&str) -> String,
}

pub const EN: PtWords = PtWords {
    walk_of: "walk of",
    at_rip: "RIP",
    at_cr2: "CR2, the #PF address",
    typed: "typed",
    table: "table",
    index: "index",
    entry_at: "entry at",
    next_table: "next table",
    page_frame: "page frame",
    physical: "physical",
    page: "page",
    stopped_at: "stopped at",
    not_present: "not present (P = 0)",
    reserved: "reserved bit set",
    paging_off: "paging is off: the linear address is the physical address",
    modes: [
        "paging off",
        "32-bit paging",
        "PAE paging",
        "4-level paging",
    ],
    user_half: "user half",
    kernel_half: "kernel half",
    nothing_mapped: "nothing mapped",
    more_ranges: "more ranges",
    budget: "the overview stopped after reading this many entries:",
    ranges: "ranges",
    present: "present",
    absent: "not present",
    user: "user",
    supervisor: "supervisor",
    writable: "writable",
    read_only: "read-only",
    executable: "executable",
    not_executable: "not executable",
    accessed: "accessed",
    dirty: "dirty",
    global: "global",
    large_page: "large page",
    write_through: "write-through",
    cache_disabled: "cache disabled",
    finding: str::to_string,
};

/// Where the default address comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// CS.base + RIP.
    Rip,
    /// CR2 after a page fault.
    Cr2,
    /// Given by the user.
    Typed,
}

/// How a line is meant to be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Head,
    Entry,
    Bits,
    Note,
    Found,
    Stopped,
    Section,
    Range,
}

/// One line, with a full and a short form (the short one keeps every value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtLine {
    pub kind: Kind,
    pub full: String,
    pub short: String,
}

impl PtLine {
    fn new(kind: Kind, full: String, short: String) -> PtLine {
        PtLine { kind, full, short }
    }
    fn same(kind: Kind, text: String) -> PtLine {
        PtLine {
            kind,
            short: text.clone(),
            full: text,
        }
    }

    /// The full form if it fits in `width` columns, else the short one.
    pub fn fit(&self, width: usize) -> &str {
        if self.full.chars().count() <= width {
            &self.full
        } else {
            &self.short
        }
    }
}

/// The address the inspector walks when none is typed: CR2 if the step that led here
/// raised a page fault (or the run stopped at one), else the linear address of RIP.
pub fn default_addr(m: &Machine, page_fault: bool) -> (u64, Origin) {
    if page_fault {
        (m.cpu.cr2, Origin::Cr2)
    } else {
        let cs = m.cpu.seg(SegReg::Cs).base;
        (cs.wrapping_add(m.cpu.rip), Origin::Rip)
    }
}

/// True when the last step of `e` raised a #PF, or the run stopped at one.
pub fn after_page_fault(e: &Engine, stop: Option<&StopReason>) -> bool {
    if let Some(StopReason::Fault(x)) = stop {
        if x.vector == crate::engine::fault::PF {
            return true;
        }
    }
    let Some(last) = e.history_len().checked_sub(1) else {
        return false;
    };
    e.step_view(last).is_some_and(
        |v| matches!(&v.info.outcome, Outcome::Exception(x) if x.vector == crate::engine::fault::PF),
    )
}

/// A byte count as `4 KiB`, `2 MiB`, `1 GiB`, `512 GiB`, `128 TiB`.
pub fn size_text(bytes: u64) -> String {
    let units = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, name) in units {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{} {name}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}

/// `U W X` / `S - -`: user or supervisor, writable, executable.
pub fn rights_short(user: bool, writable: bool, exec: bool) -> String {
    format!(
        "{} {} {}",
        if user { 'U' } else { 'S' },
        if writable { 'W' } else { '-' },
        if exec { 'X' } else { '-' }
    )
}

fn rights_words(w: &PtWords, user: bool, writable: bool, exec: bool) -> String {
    format!(
        "{}, {}, {}",
        if user { w.user } else { w.supervisor },
        if writable { w.writable } else { w.read_only },
        if exec { w.executable } else { w.not_executable }
    )
}

/// The bits an entry of this level has, in the order shown.
fn bit_names(mode: PagingMode, l: &Level) -> Vec<(&'static str, u64)> {
    if mode == PagingMode::Pae && l.name == "PDPTE" {
        return vec![("P", P), ("PWT", PWT), ("PCD", PCD)];
    }
    let mut v = vec![
        ("P", P),
        ("R/W", RW),
        ("U/S", US),
        ("PWT", PWT),
        ("PCD", PCD),
        ("A", A),
        ("D", D),
        // Bit 7 of a PTE is PAT (a memory-type bit), elsewhere PS.
        (if l.name == "PTE" { "PAT" } else { "PS" }, PS),
        ("G", G),
    ];
    if l.size == 8 {
        v.push(("XD", XD));
    }
    v
}

/// The physical address an entry holds: the next table, or the page frame of a leaf.
fn address_field(l: &Level, page_size: Option<u64>) -> u64 {
    let e = l.entry;
    if l.size == 4 {
        if l.leaf && page_size == Some(4 << 20) {
            return (e & 0xffc0_0000) | ((e >> 13) & 0xff) << 32;
        }
        return e & 0xffff_f000;
    }
    let mask = match (l.leaf, page_size) {
        (true, Some(s)) => !(s - 1),
        _ => !0,
    };
    e & PHYS_MASK & mask
}

/// What the set bits of an entry mean, in words.
fn meaning(w: &PtWords, mode: PagingMode, l: &Level) -> String {
    let e = l.entry;
    if e & P == 0 {
        return w.absent.to_string();
    }
    let mut out = vec![w.present];
    let pae_pdpte = mode == PagingMode::Pae && l.name == "PDPTE";
    if !pae_pdpte {
        out.push(if e & RW != 0 { w.writable } else { w.read_only });
        out.push(if e & US != 0 { w.user } else { w.supervisor });
    }
    if e & PWT != 0 {
        out.push(w.write_through);
    }
    if e & PCD != 0 {
        out.push(w.cache_disabled);
    }
    if !pae_pdpte {
        if e & A != 0 {
            out.push(w.accessed);
        }
        if l.leaf && e & D != 0 {
            out.push(w.dirty);
        }
        if l.leaf && l.name != "PTE" {
            out.push(w.large_page);
        }
        if l.leaf && e & G != 0 {
            out.push(w.global);
        }
        if l.size == 8 && e & XD != 0 {
            out.push(w.not_executable);
        }
    }
    out.join(", ")
}

fn mode_name(mode: PagingMode, w: &PtWords) -> &'static str {
    w.modes[match mode {
        PagingMode::Off => 0,
        PagingMode::Bits32 => 1,
        PagingMode::Pae => 2,
        PagingMode::Level4 => 3,
    }]
}

/// The inspector's walk of `lin`: the head, each level, and the result.
pub fn walk_lines(m: &Machine, lin: u64, origin: Origin, w: &PtWords) -> Vec<PtLine> {
    let c = Controls::of(&m.cpu);
    let mode = c.mode();
    let mut out = Vec::new();
    out.push(PtLine::new(
        Kind::Head,
        format!("CR3 {:#018x} · {}", c.cr3, mode_name(mode, w)),
        format!("CR3 {:#x} · {}", c.cr3, mode_name(mode, w)),
    ));
    let why = match origin {
        Origin::Rip => w.at_rip,
        Origin::Cr2 => w.at_cr2,
        Origin::Typed => w.typed,
    };
    let sym = m
        .describe_addr(lin)
        .map(|s| format!(" <{s}>"))
        .unwrap_or_default();
    out.push(PtLine::new(
        Kind::Head,
        format!("{} {lin:#x}{sym} ({why})", w.walk_of),
        format!("{} {lin:#x}{sym}", w.walk_of),
    ));
    let walk = m.walk(lin);
    if mode == PagingMode::Off {
        out.push(PtLine::same(Kind::Note, w.paging_off.to_string()));
    }
    let page_size = walk.result.ok().map(|r| r.page_size);
    for l in walk.levels() {
        let digits = l.size as usize * 2;
        out.push(PtLine::new(
            Kind::Entry,
            format!(
                "{:<5}  {} {:#x}  {} {}  {} {:#x} = {:#0d$x}",
                l.name,
                w.table,
                l.table,
                w.index,
                l.index,
                w.entry_at,
                l.addr,
                l.entry,
                d = digits + 2
            ),
            format!(
                "{:<5} {:#x}[{}] @{:#x} = {:#0d$x}",
                l.name,
                l.table,
                l.index,
                l.addr,
                l.entry,
                d = digits + 2
            ),
        ));
        let bits: Vec<String> = bit_names(mode, l)
            .into_iter()
            .map(|(n, b)| format!("{n}={}", u8::from(l.entry & b != 0)))
            .collect();
        let addr = address_field(l, page_size);
        let to = if l.leaf { w.page_frame } else { w.next_table };
        let bits = bits.join(" ");
        out.push(PtLine::new(
            Kind::Bits,
            format!("  {bits}  {to} {addr:#x}"),
            format!("  {bits}  → {addr:#x}"),
        ));
        out.push(PtLine::same(
            Kind::Note,
            format!("  {}", meaning(w, mode, l)),
        ));
    }
    match walk.result {
        Ok(r) => {
            let exec = !r.nx;
            out.push(PtLine::new(
                Kind::Found,
                format!(
                    "→ {} {:#x} · {} {} · {}",
                    w.physical,
                    r.phys,
                    size_text(r.page_size),
                    w.page,
                    rights_words(w, r.user, r.writable, exec)
                ),
                format!(
                    "→ {:#x} · {} · {}",
                    r.phys,
                    size_text(r.page_size),
                    rights_short(r.user, r.writable, exec)
                ),
            ));
        }
        Err(miss) => {
            let at = walk.levels().last().map_or("CR3", |l| l.name);
            let what = match miss {
                Miss::NotPresent => w.not_present,
                Miss::Reserved(_) => w.reserved,
            };
            out.push(PtLine::same(
                Kind::Stopped,
                format!("✗ {} {at}: {what}", w.stopped_at),
            ));
            if let Miss::Reserved(reason) = miss {
                out.push(PtLine::same(
                    Kind::Stopped,
                    format!("  {}", (w.finding)(reason)),
                ));
            }
        }
    }
    out
}

/// A run of mapped linear addresses with the same rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    /// The last byte (inclusive, so that a range may end at the top of the space).
    pub last: u64,
    pub user: bool,
    pub writable: bool,
    pub exec: bool,
}

/// What the current address space maps, in two halves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overview {
    /// The first address of the kernel half.
    pub split: u64,
    pub user: Vec<Range>,
    pub kernel: Vec<Range>,
    /// Ranges found but not kept (beyond `max` per half).
    pub more_user: usize,
    pub more_kernel: usize,
    /// The walk stopped after reading this many entries.
    pub cut_after: Option<u64>,
}

/// The most ranges kept per half.
pub const MAX_RANGES: usize = 64;
/// The most entries the overview reads.
pub const MAX_ENTRIES: u64 = 1 << 18;

struct Spec {
    shift: u32,
    count: u64,
    size: u8,
    /// Entries of this level may map a page (PS = 1).
    large: bool,
    /// Entries of this level take part in the rights (not a PAE PDPTE).
    rights: bool,
}

struct Gather<'a> {
    m: &'a Machine,
    specs: Vec<Spec>,
    nxe: bool,
    pse36: bool,
    sign_extend: bool,
    ov: Overview,
    read: u64,
    max: usize,
}

impl Gather<'_> {
    fn reserved(&self, e: u64, size: u8) -> bool {
        size == 8
            && (e & (((1u64 << 52) - 1) & !((1u64 << crate::machine::paging::PHYS_BITS) - 1)) != 0
                || (!self.nxe && e & XD != 0))
    }

    fn visit(&mut self, table: u64, depth: usize, base: u64, rights: (bool, bool, bool)) {
        let spec = &self.specs[depth];
        let (shift, count, size, large, takes) =
            (spec.shift, spec.count, spec.size, spec.large, spec.rights);
        let last_level = depth + 1 == self.specs.len();
        for i in 0..count {
            if self.read >= MAX_ENTRIES {
                self.ov.cut_after = Some(self.read);
                return;
            }
            self.read += 1;
            let e = self
                .m
                .mem
                .peek_phys_le(table + i * size as u64, size as usize);
            if e & P == 0 || self.reserved(e, size) {
                continue;
            }
            let mut lin = base | (i << shift);
            if depth == 0 && self.sign_extend && lin & (1 << 47) != 0 {
                lin |= 0xffff_0000_0000_0000;
            }
            let r = if takes {
                (
                    rights.0 && e & US != 0,
                    rights.1 && e & RW != 0,
                    rights.2 && !(self.nxe && size == 8 && e & XD != 0),
                )
            } else {
                rights
            };
            let leaf = last_level || (large && e & PS != 0 && (size == 8 || self.pse36));
            if leaf {
                self.add(lin, 1u64 << shift, r);
            } else {
                let next = if size == 4 {
                    e & 0xffff_f000
                } else {
                    e & PHYS_MASK
                };
                self.visit(next, depth + 1, lin, r);
            }
        }
    }

    fn add(&mut self, start: u64, size: u64, r: (bool, bool, bool)) {
        let kernel = start >= self.ov.split;
        let max = self.max;
        let (list, more) = if kernel {
            (&mut self.ov.kernel, &mut self.ov.more_kernel)
        } else {
            (&mut self.ov.user, &mut self.ov.more_user)
        };
        let last = start.wrapping_add(size - 1);
        if *more == 0 {
            if let Some(prev) = list.last_mut() {
                if prev.last.wrapping_add(1) == start && (prev.user, prev.writable, prev.exec) == r
                {
                    prev.last = last;
                    return;
                }
            }
        }
        if list.len() < max {
            list.push(Range {
                start,
                last,
                user: r.0,
                writable: r.1,
                exec: r.2,
            });
        } else {
            *more += 1;
        }
    }
}

/// The address space of the current CR3, walked through its present entries. Empty
/// with paging off.
pub fn overview(m: &Machine, max: usize) -> Overview {
    let c = Controls::of(&m.cpu);
    let mode = c.mode();
    let spec = |shift, count, size, large, rights| Spec {
        shift,
        count,
        size,
        large,
        rights,
    };
    let (specs, root, split) = match mode {
        PagingMode::Off => return Overview::default(),
        PagingMode::Bits32 => (
            vec![
                spec(22, 1024, 4, true, true),
                spec(12, 1024, 4, false, true),
            ],
            c.cr3 & 0xffff_f000,
            0xc000_0000,
        ),
        PagingMode::Pae => (
            vec![
                spec(30, 4, 8, false, false),
                spec(21, 512, 8, true, true),
                spec(12, 512, 8, false, true),
            ],
            c.cr3 & 0xffff_ffe0,
            0xc000_0000,
        ),
        PagingMode::Level4 => (
            vec![
                spec(39, 512, 8, false, true),
                spec(30, 512, 8, true, true),
                spec(21, 512, 8, true, true),
                spec(12, 512, 8, false, true),
            ],
            c.cr3 & PHYS_MASK,
            0xffff_8000_0000_0000,
        ),
    };
    let mut g = Gather {
        m,
        specs,
        nxe: c.nx(),
        pse36: c.cr4 & crate::machine::cpu::CR4_PSE != 0,
        sign_extend: mode == PagingMode::Level4,
        ov: Overview {
            split,
            ..Overview::default()
        },
        read: 0,
        max,
    };
    g.visit(root, 0, 0, (true, true, true));
    g.ov
}

/// The overview as lines: each half with its ranges.
pub fn overview_lines(m: &Machine, ov: &Overview, w: &PtWords) -> Vec<PtLine> {
    let mut out = Vec::new();
    if Controls::of(&m.cpu).mode() == PagingMode::Off {
        return out;
    }
    let long = ov.split > 0xffff_ffff;
    let d = if long { 18 } else { 10 };
    // The 4-level user half ends where the canonical lower half does.
    let user_end = if long {
        0x0000_7fff_ffff_ffff
    } else {
        ov.split - 1
    };
    let halves = [
        (w.user_half, &ov.user, ov.more_user, 0, user_end),
        (
            w.kernel_half,
            &ov.kernel,
            ov.more_kernel,
            ov.split,
            u64::MAX,
        ),
    ];
    let top = if long { u64::MAX } else { 0xffff_ffff };
    for (name, list, more, from, to) in halves {
        let to = to.min(top);
        let n = list.len() + more;
        out.push(PtLine::new(
            Kind::Section,
            format!(
                "{name} {from:#0d$x}-{to:#0d$x}: {n} {}",
                if n == 0 { w.nothing_mapped } else { w.ranges }
            ),
            format!("{name} {from:#x}-{to:#x}: {n}"),
        ));
        for r in list.iter() {
            let size = r.last.wrapping_sub(r.start).wrapping_add(1);
            let size = if size == 0 {
                "16 EiB".to_string()
            } else {
                size_text(size)
            };
            let region = m
                .mem
                .region_at(r.start)
                .map(|g| format!("  {}", g.name))
                .unwrap_or_default();
            let base = format!(
                "  {:#0d$x}-{:#0d$x} {size:>8}  {}",
                r.start,
                r.last,
                rights_short(r.user, r.writable, r.exec)
            );
            out.push(PtLine::new(Kind::Range, format!("{base}{region}"), base));
        }
        if more > 0 {
            out.push(PtLine::same(
                Kind::Note,
                format!("  … {more} {}", w.more_ranges),
            ));
        }
    }
    if let Some(n) = ov.cut_after {
        out.push(PtLine::same(Kind::Note, format!("{} {n}", w.budget)));
    }
    out
}

/// The whole inspector: the walk, then the overview.
pub fn inspector_lines(m: &Machine, lin: u64, origin: Origin, w: &PtWords) -> Vec<PtLine> {
    let mut out = walk_lines(m, lin, origin, w);
    let ov = overview(m, MAX_RANGES);
    out.extend(overview_lines(m, &ov, w));
    out
}

/// The debugger's `walk` result: the inspector's lines in their full form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageWalk {
    pub lin: u64,
    pub lines: Vec<String>,
}

impl PageWalk {
    pub fn new(m: &Machine, lin: u64, origin: Origin) -> PageWalk {
        PageWalk {
            lin,
            lines: inspector_lines(m, lin, origin, &EN)
                .into_iter()
                .map(|l| l.full)
                .collect(),
        }
    }
}

impl std::fmt::Display for PageWalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::{CR0_PE, CR0_PG, CR4_PAE, CR4_PSE};
    use crate::machine::msr::{EFER, EFER_LMA, EFER_LME, EFER_NXE};

    /// 4-level tables by hand: PML4 at 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000.
    /// PT[1] and PT[2]: user read-only no-execute 4 KiB pages; PD[1]: a supervisor
    /// 2 MiB page; PDPT[1]: a 1 GiB page; PD[2]: a reserved bit set.
    fn level4(pte: u64) -> Machine {
        let mut m = Machine::new();
        m.cpu.cr0 = CR0_PE | CR0_PG;
        m.cpu.cr4 = CR4_PAE;
        m.cpu.cr3 = 0x1000;
        m.cpu.set_msr(EFER, EFER_LME | EFER_LMA | EFER_NXE);
        let e = |m: &mut Machine, at: u64, v: u64| m.mem.poke_phys_le(at, 8, v);
        e(&mut m, 0x1000, 0x2000 | P | RW | US);
        e(&mut m, 0x2000, 0x3000 | P | RW | US);
        e(&mut m, 0x2008, 0x4000_0000 | P | RW | PS);
        e(&mut m, 0x3000, 0x4000 | P | RW | US | A);
        e(&mut m, 0x3008, 0x20_0000 | P | RW | PS | A | D);
        e(&mut m, 0x3010, 1 << 50 | 0x5000 | P | RW);
        e(&mut m, 0x4008, pte);
        e(&mut m, 0x4010, 0x6000 | P | US | XD);
        m
    }

    fn text(m: &Machine, lin: u64) -> Vec<String> {
        walk_lines(m, lin, Origin::Typed, &EN)
            .into_iter()
            .map(|l| l.full)
            .collect()
    }

    fn bits_of(lines: &[String], level: &str) -> String {
        let i = lines
            .iter()
            .position(|l| l.starts_with(level))
            .unwrap_or_else(|| panic!("{level} in {lines:#?}"));
        lines[i + 1].clone()
    }

    #[test]
    fn every_bit_of_an_entry_is_decoded() {
        let bits = [
            ("R/W", RW),
            ("U/S", US),
            ("PWT", PWT),
            ("PCD", PCD),
            ("A", A),
            ("D", D),
            ("PAT", PS),
            ("G", G),
            ("XD", XD),
        ];
        for (name, bit) in bits {
            let m = level4(0x5000 | P | bit);
            let lines = text(&m, 0x1234);
            let pte = bits_of(&lines, "PTE");
            for (other, _) in bits {
                let want = format!(" {other}={}", u8::from(other == name));
                assert!(pte.contains(&want), "{name}: {want} in {pte}");
            }
            assert!(pte.starts_with("  P=1 "), "{pte}");
            assert!(pte.ends_with("page frame 0x5000"), "{pte}");
        }
        let m = level4(0x5000 | P | US | A | D | G | XD);
        let lines = text(&m, 0x1234);
        assert_eq!(
            lines[2],
            "PML4E  table 0x1000  index 0  entry at 0x1000 = 0x0000000000002007"
        );
        assert!(
            lines.contains(
                &"  present, read-only, user, accessed, dirty, global, not executable".to_string()
            ),
            "{lines:#?}"
        );
        assert_eq!(
            lines.last().unwrap(),
            "→ physical 0x5234 · 4 KiB page · user, read-only, not executable"
        );
        // The PDE above says writable, user; the chain is read-only because the PTE is.
        assert_eq!(
            bits_of(&lines, "PDE"),
            "  P=1 R/W=1 U/S=1 PWT=0 PCD=0 A=1 D=0 PS=0 G=0 XD=0  next table 0x4000"
        );
    }

    #[test]
    fn a_walk_that_finds_no_page_says_where_and_why() {
        let m = level4(0);
        let lines = text(&m, 0x1234);
        assert_eq!(
            lines.last().unwrap(),
            "✗ stopped at PTE: not present (P = 0)"
        );
        assert!(lines.iter().any(|l| l == "  not present"), "{lines:#?}");
        let lines = text(&m, 0x80_0000_0000);
        assert!(
            lines[2].starts_with("PML4E  table 0x1000  index 1"),
            "{lines:#?}"
        );
        assert_eq!(
            lines.last().unwrap(),
            "✗ stopped at PML4E: not present (P = 0)"
        );
        let lines = text(&m, 0x40_0000);
        let n = lines.len();
        assert_eq!(lines[n - 2], "✗ stopped at PDE: reserved bit set");
        assert_eq!(
            lines[n - 1],
            "  a physical-address bit above MAXPHYADDR is set"
        );
    }

    #[test]
    fn large_pages_end_the_walk_early() {
        let m = level4(0);
        let lines = text(&m, 0x20_0123);
        assert!(!lines.iter().any(|l| l.starts_with("PTE")), "{lines:#?}");
        assert_eq!(
            bits_of(&lines, "PDE"),
            "  P=1 R/W=1 U/S=0 PWT=0 PCD=0 A=1 D=1 PS=1 G=0 XD=0  page frame 0x200000"
        );
        assert!(lines.iter().any(|l| l.contains("large page")), "{lines:#?}");
        assert_eq!(
            lines.last().unwrap(),
            "→ physical 0x200123 · 2 MiB page · supervisor, writable, executable"
        );
        let lines = text(&m, 0x4123_4567);
        assert_eq!(
            lines.last().unwrap(),
            "→ physical 0x41234567 · 1 GiB page · supervisor, writable, executable"
        );
        // 32-bit paging with CR4.PSE: a 4 MiB page in the PDE.
        let mut m = Machine::new();
        m.cpu.cr0 = CR0_PE | CR0_PG;
        m.cpu.cr4 = CR4_PSE;
        m.cpu.cr3 = 0x1000;
        m.mem
            .poke_phys_le(0x1000 + 0x300 * 4, 4, 0x0080_0000 | P | RW | PS);
        let lines = text(&m, 0xc012_3456);
        assert_eq!(lines[0], "CR3 0x0000000000001000 · 32-bit paging");
        assert_eq!(
            bits_of(&lines, "PDE"),
            "  P=1 R/W=1 U/S=0 PWT=0 PCD=0 A=0 D=0 PS=1 G=0  page frame 0x800000"
        );
        assert_eq!(
            lines.last().unwrap(),
            "→ physical 0x923456 · 4 MiB page · supervisor, writable, executable"
        );
        let ov = overview(&m, MAX_RANGES);
        assert_eq!(ov.user, vec![]);
        assert_eq!(ov.kernel.len(), 1);
        assert_eq!(
            (ov.kernel[0].start, ov.kernel[0].last),
            (0xc000_0000, 0xc03f_ffff)
        );
    }

    #[test]
    fn the_overview_walks_present_entries_and_joins_equal_neighbours() {
        let m = level4(0x5000 | P | US | XD);
        let ov = overview(&m, MAX_RANGES);
        let r = |start: u64, last: u64, user, writable, exec| Range {
            start,
            last,
            user,
            writable,
            exec,
        };
        assert_eq!(
            ov.user,
            vec![
                // PT[1] and PT[2]: the same rights, one range.
                r(0x1000, 0x2fff, true, false, false),
                r(0x20_0000, 0x3f_ffff, false, true, true),
                r(0x4000_0000, 0x7fff_ffff, false, true, true),
            ]
        );
        assert!(ov.kernel.is_empty());
        let lines: Vec<String> = overview_lines(&m, &ov, &EN)
            .into_iter()
            .map(|l| l.full)
            .collect();
        assert_eq!(
            lines,
            vec![
                "user half 0x0000000000000000-0x00007fffffffffff: 3 ranges",
                "  0x0000000000001000-0x0000000000002fff    8 KiB  U - -",
                "  0x0000000000200000-0x00000000003fffff    2 MiB  S W X",
                "  0x0000000040000000-0x000000007fffffff    1 GiB  S W X",
                "kernel half 0xffff800000000000-0xffffffffffffffff: 0 nothing mapped",
            ]
        );
        // Bounded: one range kept, the others counted.
        let ov = overview(&m, 1);
        assert_eq!((ov.user.len(), ov.more_user), (1, 2));
    }

    #[test]
    fn short_lines_keep_every_value_in_78_columns() {
        let m = level4(0x5000 | P | US | XD);
        for lin in [0x1234, 0x20_0123, 0x40_0000, 0xffff_ffff_8000_0000] {
            for l in inspector_lines(&m, lin, Origin::Cr2, &EN) {
                if matches!(l.kind, Kind::Note) {
                    continue;
                }
                assert!(l.short.chars().count() <= 78, "{}", l.short);
            }
        }
    }

    #[test]
    fn paging_off_says_so() {
        let m = Machine::new();
        let lines = text(&m, 0x1234);
        assert_eq!(lines[0], "CR3 0x0000000000000000 · paging off");
        assert!(lines.contains(&EN.paging_off.to_string()));
        assert_eq!(
            lines.last().unwrap(),
            "→ physical 0x1234 · 4 KiB page · user, writable, executable"
        );
        assert!(overview_lines(&m, &overview(&m, 8), &EN).is_empty());
    }
}
