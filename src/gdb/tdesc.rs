//! The register tables of the i386 and amd64 targets and the target description XML
//! gdb reads from them (gdb manual, "Target Descriptions" and "Standard Target
//! Features", i386 features). The features and their register names are the ones gdb
//! knows: `org.gnu.gdb.i386.core`, `org.gnu.gdb.i386.sse`, `org.gnu.gdb.i386.segments`
//! (amd64 only); the control registers, EFER and k_gs_base (and the i386 bases) go into
//! a feature of ringstep's own (`org.ringstep.x86.system`), which gdb shows as plain
//! registers, as it shows QEMU's. Every register's `regnum` is its index in the table.

use std::fmt::Write;

use crate::machine::SegReg;

/// Where a register's value comes from in the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// `Cpu::gpr[i]`.
    Gpr(u8),
    Ip,
    Flags,
    /// A segment selector.
    Sel(SegReg),
    /// A segment base from the descriptor cache (IA32_FS_BASE / IA32_GS_BASE).
    Base(SegReg),
    /// IA32_KERNEL_GS_BASE, which SWAPGS exchanges with GS.base.
    KernelGsBase,
    /// CR0, CR2, CR3, CR4 or CR8.
    Cr(u8),
    /// IA32_EFER.
    Efer,
    /// x87 and SSE state, which ringstep does not model: always zero.
    Unmodelled,
}

/// One register of a target description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegDef {
    pub name: String,
    pub bits: u16,
    /// gdb's type name (builtin or defined in the XML).
    pub ty: &'static str,
    pub feature: &'static str,
    pub group: Option<&'static str>,
    pub src: Src,
}

impl RegDef {
    pub fn bytes(&self) -> usize {
        self.bits as usize / 8
    }
}

const CORE: &str = "org.gnu.gdb.i386.core";
const SSE: &str = "org.gnu.gdb.i386.sse";
const SEGMENTS: &str = "org.gnu.gdb.i386.segments";
const SYSTEM: &str = "org.ringstep.x86.system";

/// gdb's amd64 order of the general registers, as indices into `Cpu::gpr`: rax, rbx,
/// rcx, rdx, rsi, rdi, rbp, rsp, r8..r15.
const AMD64_GPR: [(u8, &str); 16] = [
    (0, "rax"),
    (3, "rbx"),
    (1, "rcx"),
    (2, "rdx"),
    (6, "rsi"),
    (7, "rdi"),
    (5, "rbp"),
    (4, "rsp"),
    (8, "r8"),
    (9, "r9"),
    (10, "r10"),
    (11, "r11"),
    (12, "r12"),
    (13, "r13"),
    (14, "r14"),
    (15, "r15"),
];
/// The i386 order is the encoding order.
const I386_GPR: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
/// gdb's order of the selectors.
const SELS: [(SegReg, &str); 6] = [
    (SegReg::Cs, "cs"),
    (SegReg::Ss, "ss"),
    (SegReg::Ds, "ds"),
    (SegReg::Es, "es"),
    (SegReg::Fs, "fs"),
    (SegReg::Gs, "gs"),
];
const FPU: [&str; 8] = [
    "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop",
];

struct Table {
    defs: Vec<RegDef>,
    feature: &'static str,
}

impl Table {
    fn add(&mut self, name: &str, bits: u16, ty: &'static str, src: Src) {
        self.defs.push(RegDef {
            name: name.to_string(),
            bits,
            ty,
            feature: self.feature,
            group: None,
            src,
        });
    }

    fn group(&mut self, g: &'static str) {
        if let Some(last) = self.defs.last_mut() {
            last.group = Some(g);
        }
    }
}

/// The register table of the amd64 (`wide`) or i386 target.
pub fn layout(wide: bool) -> Vec<RegDef> {
    let mut t = Table {
        defs: Vec::new(),
        feature: CORE,
    };
    core(&mut t, wide);
    t.feature = SSE;
    for i in 0..if wide { 16 } else { 8 } {
        t.add(&format!("xmm{i}"), 128, "vec128", Src::Unmodelled);
    }
    t.add("mxcsr", 32, "i386_mxcsr", Src::Unmodelled);
    t.group("vector");
    let w = if wide { 64 } else { 32 };
    // gdb's i386 target takes `org.gnu.gdb.i386.segments` only with its Linux ABI (it
    // fails an internal check otherwise): the 32-bit bases go with the system registers.
    t.feature = if wide { SEGMENTS } else { SYSTEM };
    t.add("fs_base", w, "data_ptr", Src::Base(SegReg::Fs));
    t.add("gs_base", w, "data_ptr", Src::Base(SegReg::Gs));
    t.feature = SYSTEM;
    if wide {
        t.add("k_gs_base", 64, "data_ptr", Src::KernelGsBase);
    }
    t.add("cr0", w, "x86_cr0", Src::Cr(0));
    t.add("cr2", w, "data_ptr", Src::Cr(2));
    t.add("cr3", w, if wide { "uint64" } else { "uint32" }, Src::Cr(3));
    t.add("cr4", w, "x86_cr4", Src::Cr(4));
    if wide {
        t.add("cr8", 64, "uint64", Src::Cr(8));
    }
    t.add("efer", w, "x86_efer", Src::Efer);
    t.defs
}

/// `org.gnu.gdb.i386.core`: general registers, instruction pointer, flags, selectors
/// and the x87 registers, in gdb's order.
fn core(t: &mut Table, wide: bool) {
    if wide {
        for (i, name) in AMD64_GPR {
            let ty = if i == 4 || i == 5 {
                "data_ptr"
            } else {
                "int64"
            };
            t.add(name, 64, ty, Src::Gpr(i));
        }
        t.add("rip", 64, "code_ptr", Src::Ip);
    } else {
        for (i, name) in I386_GPR.iter().enumerate() {
            let ty = if i == 4 || i == 5 {
                "data_ptr"
            } else {
                "int32"
            };
            t.add(name, 32, ty, Src::Gpr(i as u8));
        }
        t.add("eip", 32, "code_ptr", Src::Ip);
    }
    t.add("eflags", 32, "i386_eflags", Src::Flags);
    for (s, name) in SELS {
        t.add(name, 32, "int32", Src::Sel(s));
    }
    for i in 0..8 {
        t.add(&format!("st{i}"), 80, "i387_ext", Src::Unmodelled);
    }
    for name in FPU {
        t.add(name, 32, "int", Src::Unmodelled);
        t.group("float");
    }
}

/// Flag types: (id, size in bytes, [(bit, name)]). Bit positions from the SDM: EFLAGS
/// Vol. 1 3.4.3, CR0 and CR4 Vol. 3A 2.5, EFER Vol. 3A 2.2.1, MXCSR Vol. 1 10.2.3.
const FLAGS: [(&str, &[(u8, &str)]); 4] = [
    (
        "i386_eflags",
        &[
            (0, "CF"),
            (2, "PF"),
            (4, "AF"),
            (6, "ZF"),
            (7, "SF"),
            (8, "TF"),
            (9, "IF"),
            (10, "DF"),
            (11, "OF"),
            (14, "NT"),
            (16, "RF"),
            (17, "VM"),
            (18, "AC"),
            (19, "VIF"),
            (20, "VIP"),
            (21, "ID"),
        ],
    ),
    (
        "x86_cr0",
        &[
            (0, "PE"),
            (1, "MP"),
            (2, "EM"),
            (3, "TS"),
            (4, "ET"),
            (5, "NE"),
            (16, "WP"),
            (18, "AM"),
            (29, "NW"),
            (30, "CD"),
            (31, "PG"),
        ],
    ),
    (
        "x86_cr4",
        &[
            (0, "VME"),
            (1, "PVI"),
            (2, "TSD"),
            (3, "DE"),
            (4, "PSE"),
            (5, "PAE"),
            (6, "MCE"),
            (7, "PGE"),
            (8, "PCE"),
            (9, "OSFXSR"),
            (10, "OSXMMEXCPT"),
            (11, "UMIP"),
            (12, "LA57"),
            (16, "FSGSBASE"),
            (17, "PCIDE"),
            (18, "OSXSAVE"),
            (20, "SMEP"),
            (21, "SMAP"),
            (22, "PKE"),
        ],
    ),
    (
        "x86_efer",
        &[(0, "SCE"), (8, "LME"), (10, "LMA"), (11, "NXE")],
    ),
];

const MXCSR: [(u8, &str); 14] = [
    (0, "IE"),
    (1, "DE"),
    (2, "ZE"),
    (3, "OE"),
    (4, "UE"),
    (5, "PE"),
    (6, "DAZ"),
    (7, "IM"),
    (8, "DM"),
    (9, "ZM"),
    (10, "OM"),
    (11, "UM"),
    (12, "PM"),
    (15, "FZ"),
];

/// A `<flags>` type of `bytes` bytes with one-bit fields (and `extra` fields as XML).
fn flags(out: &mut String, id: &str, bytes: u16, bits: &[(u8, &str)], extra: &str) {
    let _ = writeln!(out, "<flags id=\"{id}\" size=\"{bytes}\">");
    for (bit, name) in bits {
        let _ = writeln!(
            out,
            "<field name=\"{name}\" start=\"{bit}\" end=\"{bit}\" type=\"bool\"/>"
        );
    }
    out.push_str(extra);
    out.push_str("</flags>\n");
}

/// The types a feature's registers use.
fn types(out: &mut String, feature: &str, wide: bool) {
    let size = if wide { 8 } else { 4 };
    match feature {
        CORE => {
            // IOPL is a two-bit field (bits 13:12).
            let iopl = "<field name=\"IOPL\" start=\"12\" end=\"13\" type=\"uint32\"/>\n";
            flags(out, FLAGS[0].0, 4, FLAGS[0].1, iopl);
        }
        SSE => {
            for (id, ty, n) in [
                ("v4f", "ieee_single", 4),
                ("v2d", "ieee_double", 2),
                ("v16i8", "int8", 16),
                ("v8i16", "int16", 8),
                ("v4i32", "int32", 4),
                ("v2i64", "int64", 2),
            ] {
                let _ = writeln!(out, "<vector id=\"{id}\" type=\"{ty}\" count=\"{n}\"/>");
            }
            out.push_str("<union id=\"vec128\">\n");
            for (name, ty) in [
                ("v4_float", "v4f"),
                ("v2_double", "v2d"),
                ("v16_int8", "v16i8"),
                ("v8_int16", "v8i16"),
                ("v4_int32", "v4i32"),
                ("v2_int64", "v2i64"),
                ("uint128", "uint128"),
            ] {
                let _ = writeln!(out, "<field name=\"{name}\" type=\"{ty}\"/>");
            }
            out.push_str("</union>\n");
            flags(out, "i386_mxcsr", 4, &MXCSR, "");
        }
        SYSTEM => {
            for (id, bits) in &FLAGS[1..] {
                flags(out, id, size, bits, "");
            }
        }
        _ => {}
    }
}

/// The target description of the amd64 (`wide`) or i386 target with registers `defs`.
pub fn xml(wide: bool, defs: &[RegDef]) -> String {
    let arch = if wide { "i386:x86-64" } else { "i386" };
    let mut out = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
    let _ = writeln!(out, "<architecture>{arch}</architecture>");
    let mut feature = "";
    for (n, d) in defs.iter().enumerate() {
        if d.feature != feature {
            if !feature.is_empty() {
                out.push_str("</feature>\n");
            }
            feature = d.feature;
            let _ = writeln!(out, "<feature name=\"{feature}\">");
            types(&mut out, feature, wide);
        }
        let group = d
            .group
            .map(|g| format!(" group=\"{g}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{n}\"{group}/>",
            d.name, d.bits, d.ty
        );
    }
    out.push_str("</feature>\n</target>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xml_numbers_every_register_by_its_place_in_the_table() {
        for wide in [false, true] {
            let defs = layout(wide);
            let text = xml(wide, &defs);
            let regs: Vec<&str> = text.lines().filter(|l| l.starts_with("<reg ")).collect();
            assert_eq!(regs.len(), defs.len());
            for (n, (line, d)) in regs.iter().zip(&defs).enumerate() {
                assert!(line.contains(&format!("name=\"{}\"", d.name)), "{line}");
                assert!(line.contains(&format!("regnum=\"{n}\"")), "{line}");
            }
        }
        let defs = layout(true);
        let at = |name: &str| defs.iter().position(|d| d.name == name);
        // gdb's amd64 core and SSE numbering, then the bases and system registers.
        assert_eq!(at("rip"), Some(16));
        assert_eq!(at("mxcsr"), Some(56));
        assert_eq!(at("fs_base"), Some(57));
        assert_eq!(at("cr3"), Some(62));
        assert_eq!(at("efer"), Some(65));
        let defs = layout(false);
        let at = |name: &str| defs.iter().position(|d| d.name == name);
        assert_eq!(at("eip"), Some(8));
        assert_eq!(at("mxcsr"), Some(40));
        assert_eq!(at("cr0"), Some(43));
        assert_eq!(at("k_gs_base"), None);
    }
}
