//! The conformance harness shared by tests/conformance_general.rs and
//! tests/conformance_privileged.rs: one instruction per case (its AT&T text beside the
//! bytes, re-checked with GNU `as` when installed), the whole machine compared after the
//! step (anything a case does not list must be unchanged), each completed step undone
//! with `step_back`, each fault leaving the machine exactly as it was, and the status
//! flags a completed step changed checked against those iced-x86 lists as modified.

use super::*;
use ringstep::engine::{Engine, Outcome, StepResult, StopReason};
use ringstep::machine::flags::{AF, CF, DF, OF, PF, SF, ZF};
use ringstep::machine::{msr, Attr, Descriptor, Machine, SegReg, Segment};

pub const EAX: usize = 0;
pub const ECX: usize = 1;
pub const EDX: usize = 2;
pub const EBX: usize = 3;
pub const ESP: usize = 4;
pub const EBP: usize = 5;
pub const ESI: usize = 6;
pub const R8: usize = 8;
pub const R12: usize = 12;
pub const R15: usize = 15;

/// All six status flags.
pub const ST: u64 = CF | PF | AF | ZF | SF | OF;

pub const UD: u64 = USER_DATA;
pub const KD: u64 = KERNEL_DATA;
pub const UST: u64 = USER_STACK_TOP;
pub const KST: u64 = KERNEL_STACK_TOP;
/// A user data segment with base UD + 0x100 in GDT entry 6 (selector 0x33), as Linux
/// uses a TLS entry for %gs.
pub const TLS_SEL: u16 = 0x33;
pub const TLS_BASE: u64 = UD + 0x100;
/// A 16-bit user data segment is not needed; entry 7 holds a non-present DPL 3 segment.
pub const NP_SEL: u16 = 0x3b;
/// #PF handler used by delivery cases.
pub const PF_HANDLER: u64 = KERNEL_CODE + 0x200;
pub const PF_HANDLER64: u64 = K64_CODE + 0x200;

/// An initial-state override, applied in order before the code is placed at RIP.
#[derive(Clone, Copy)]
pub enum Set {
    /// A whole 64-bit GPR.
    R(usize, u64),
    /// RFLAGS.
    F(u64),
    /// Little-endian memory, `len` bytes (no permission check).
    M(u64, usize, u64),
    /// Load a segment register from the GDT (no checks).
    Seg(SegReg, u16),
    Rip(u64),
    /// Clear EFER.NXE.
    NoNx,
    /// Install the 32-bit #PF interrupt gate (KERNEL_CS:PF_HANDLER, DPL 0).
    PfGate32,
    /// Install the 64-bit #PF interrupt gate (PF_HANDLER64, DPL 0, IST 0).
    PfGate64,
    /// Install the 32-bit #DE trap gate (KERNEL_CS:PF_HANDLER + 0x100, DPL 0).
    DeGate32,
    /// A control register (0, 2, 3, 4, 8) or, with 16 + n, debug register n.
    Cr(u8, u64),
    Msr(u32, u64),
    /// Anything else.
    With(fn(&mut Machine)),
}

/// One expected difference from the initial machine after the step.
#[derive(Clone, Copy)]
pub enum Exp {
    /// A whole 64-bit GPR.
    R(usize, u64),
    /// The flags in the mask have these values.
    F(u64, u64),
    /// Flags not compared (undefined by the SDM, no documented model choice).
    Undef(u64),
    M(u64, usize, u64),
    Rip(u64),
    /// The segment register holds the GDT descriptor for this selector.
    Seg(SegReg, u16),
    /// The segment register holds a null selector.
    Null(SegReg, u16),
    Shadow(bool),
    Cr(u8, u64),
    /// A segment register's base.
    Base(SegReg, u64),
    /// The step stops with this fault (no handler): the machine is left unchanged.
    Fault(u8, Option<u32>),
    /// The stop's exception carries this CR2 value (the machine's CR2 is unchanged).
    StopCr2(u64),
    /// The step delivered this exception to its handler (the rest is listed).
    Delivered(u8, Option<u32>),
    Msr(u32, u64),
    /// A port event: port, value, write.
    Port(u16, u32, bool),
    /// The stop is "unsupported" with this text.
    Unsupported(&'static str),
}

/// The register behind a `Cr` number: CR0/2/3/4/8, or DR(n - 16).
pub fn cr_slot(m: &mut Machine, n: u8) -> &mut u64 {
    let c = &mut m.cpu;
    match n {
        0 => &mut c.cr0,
        2 => &mut c.cr2,
        3 => &mut c.cr3,
        4 => &mut c.cr4,
        8 => &mut c.cr8,
        _ => &mut c.dr[(n - 16) as usize],
    }
}

pub struct Case {
    pub name: &'static str,
    pub build: fn() -> Machine,
    pub set: &'static [Set],
    pub hex: &'static str,
    pub asm: &'static str,
    pub exp: &'static [Exp],
}

pub use Exp::*;
#[allow(unused_imports)]
pub use Set as S;

pub fn c(
    name: &'static str,
    build: fn() -> Machine,
    set: &'static [Set],
    hex: &'static str,
    asm: &'static str,
    exp: &'static [Exp],
) -> Case {
    Case {
        name,
        build,
        set,
        hex,
        asm,
        exp,
    }
}

pub fn tls_machine(m: &mut Machine) {
    let attr = Attr::from_fields(0x3, true, 3, true, false, false, true, true);
    set_gdt(m, 6, Descriptor::encode(TLS_BASE as u32, 0xfffff, attr));
    load_seg(m, SegReg::Gs, TLS_SEL);
    let np = Attr::from_fields(0x3, true, 3, false, false, false, true, true);
    set_gdt(m, 7, Descriptor::encode(0, 0xfffff, np));
}

pub fn initial(case: &Case) -> Machine {
    let mut m = (case.build)();
    // GDT entries 6 and 7 of the 64-bit machines hold __USER_CS and the TSS.
    if !m.cpu.long_mode_active() {
        tls_machine(&mut m);
    }
    for s in case.set {
        match *s {
            Set::R(r, v) => m.cpu.gpr[r] = v,
            Set::F(f) => m.cpu.rflags = f,
            Set::M(a, len, v) => m.mem.poke_le(a, len, v),
            Set::Seg(s, sel) => load_seg(&mut m, s, sel),
            Set::Rip(v) => m.cpu.rip = v,
            Set::NoNx => {
                // XD is a reserved bit without NXE: the tables are made again without it.
                let e = m.cpu.efer() & !msr::EFER_NXE;
                m.cpu.set_msr(msr::EFER, e);
                super::page_tables(&mut m);
            }
            Set::PfGate32 => set_gate32(&mut m, 14, PF_HANDLER, KERNEL_CS, false, 0),
            Set::PfGate64 => set_gate64(&mut m, 14, PF_HANDLER64, false, 0, 0),
            Set::DeGate32 => set_gate32(&mut m, 0, PF_HANDLER + 0x100, KERNEL_CS, true, 0),
            Set::Cr(n, v) => *cr_slot(&mut m, n) = v,
            Set::Msr(i, v) => {
                m.cpu.set_msr(i, v);
            }
            Set::With(f) => f(&mut m),
        }
    }
    let at = m.cpu.rip;
    m.mem.poke(at, &hex(case.hex));
    m
}

pub fn seg_from_gdt(m: &Machine, sel: u16) -> Segment {
    let d = m.gdt_entry(sel).expect("selector in the GDT");
    d.with_accessed().to_segment(sel)
}

/// Differences between two machines, one line each.
pub fn diff(want: &Machine, got: &Machine) -> Vec<String> {
    let mut out = Vec::new();
    let (w, g) = (&want.cpu, &got.cpu);
    for i in 0..16 {
        if w.gpr[i] != g.gpr[i] {
            out.push(format!(
                "{}: want {:#x}, got {:#x}",
                ringstep::machine::cpu::GPR_NAMES_64[i],
                w.gpr[i],
                g.gpr[i]
            ));
        }
    }
    if w.rip != g.rip {
        out.push(format!("rip: want {:#x}, got {:#x}", w.rip, g.rip));
    }
    if w.rflags != g.rflags {
        out.push(format!(
            "rflags: want {:#x} {:?}, got {:#x} {:?}",
            w.rflags,
            ringstep::machine::flags::set_names(w.rflags),
            g.rflags,
            ringstep::machine::flags::set_names(g.rflags)
        ));
    }
    for s in SegReg::ALL {
        if w.seg(s) != g.seg(s) {
            out.push(format!(
                "{}: want {:x?}, got {:x?}",
                s.name(),
                w.seg(s),
                g.seg(s)
            ));
        }
    }
    let pairs: [(&str, u64, u64); 5] = [
        ("cr0", w.cr0, g.cr0),
        ("cr2", w.cr2, g.cr2),
        ("cr3", w.cr3, g.cr3),
        ("cr4", w.cr4, g.cr4),
        ("cr8", w.cr8, g.cr8),
    ];
    if w.dr != g.dr {
        out.push(format!("dr: want {:x?}, got {:x?}", w.dr, g.dr));
    }
    for (n, a, b) in pairs {
        if a != b {
            out.push(format!("{n}: want {a:#x}, got {b:#x}"));
        }
    }
    if (w.gdtr, w.idtr, w.tr, w.ldtr) != (g.gdtr, g.idtr, g.tr, g.ldtr) {
        out.push("descriptor-table or task register changed".into());
    }
    if w.msr != g.msr {
        out.push("an MSR changed".into());
    }
    if (w.halted, w.shadow, w.pending_irq) != (g.halted, g.shadow, g.pending_irq) {
        out.push(format!(
            "halted/shadow/pending: want {:?}, got {:?}",
            (w.halted, w.shadow, w.pending_irq),
            (g.halted, g.shadow, g.pending_irq)
        ));
    }
    if want.mem != got.mem {
        for r in got.mem.regions() {
            let mut a = vec![0u8; r.size as usize];
            let mut b = vec![0u8; r.size as usize];
            want.mem.peek(r.base, &mut a);
            got.mem.peek(r.base, &mut b);
            if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                out.push(format!(
                    "memory at {:#x} ({}): want {:02x}, got {:02x}",
                    r.base + i as u64,
                    r.name,
                    a[i],
                    b[i]
                ));
            }
        }
        if !out.iter().any(|l| l.starts_with("memory")) {
            out.push("memory differs outside the regions".into());
        }
    }
    out
}

/// Run one case; Err with a description of every mismatch.
pub fn run(case: &Case) -> Result<(), String> {
    let before = initial(case);
    let mut e = Engine::new(before.clone());
    let len = hex(case.hex).len() as u64;
    let fault = case.exp.iter().find_map(|x| match x {
        Fault(v, code) => Some((*v, *code)),
        _ => None,
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.step())).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("the engine panicked: {msg}")
    })?;
    let mut errs = Vec::new();
    let unsupported = case.exp.iter().find_map(|x| match x {
        Unsupported(w) => Some(*w),
        _ => None,
    });
    if let Some(w) = unsupported {
        match &r {
            StepResult::Stopped(stop) if stop.reason == StopReason::Unsupported(w.into()) => {}
            other => errs.push(format!("want unsupported {w:?}, got {other:?}")),
        }
        errs.extend(diff(&before, e.machine()));
    } else if let Some((v, code)) = fault {
        match &r {
            StepResult::Stopped(stop) => match &stop.reason {
                StopReason::Fault(x) => {
                    if (x.vector, x.error_code) != (v, code) {
                        errs.push(format!(
                            "fault: want vector {v} code {code:x?}, got {} ({})",
                            x.summary(),
                            x.vector
                        ));
                    }
                    for ex in case.exp {
                        if let StopCr2(a) = ex {
                            if x.cr2 != Some(*a) {
                                errs.push(format!("fault cr2: want {a:#x}, got {:x?}", x.cr2));
                            }
                        }
                    }
                }
                other => errs.push(format!("want a fault, got stop {other:?}")),
            },
            StepResult::Stepped => errs.push(format!(
                "want fault {v} {code:x?}, the step completed ({:?})",
                e.last_step().map(|s| s.info.outcome.clone())
            )),
        }
        errs.extend(diff(&before, e.machine()));
        if e.history_len() != 0 {
            errs.push("a stopped step was recorded".into());
        }
    } else {
        if let StepResult::Stopped(stop) = &r {
            return Err(format!("the engine stopped: {stop:?}"));
        }
        let outcome = e.last_step().expect("a recorded step").info.outcome.clone();
        let delivered = case.exp.iter().find_map(|x| match x {
            Delivered(v, code) => Some((*v, *code)),
            _ => None,
        });
        match (delivered, &outcome) {
            (None, Outcome::Executed) => {}
            (Some((v, code)), Outcome::Exception(x)) if x.vector == v && x.error_code == code => {}
            (want, got) => errs.push(format!("outcome: want {want:x?}, got {got:?}")),
        }
        let got = e.machine();
        let mut want = before.clone();
        want.cpu.rip = before.cpu.rip + len;
        let mut undef = 0;
        for x in case.exp {
            match *x {
                R(r, v) => want.cpu.gpr[r] = v,
                F(mask, v) => {
                    assert_eq!(v & !mask, 0, "{}: flag value outside its mask", case.name);
                    want.cpu.rflags = (want.cpu.rflags & !mask) | v;
                }
                Undef(mask) => undef |= mask,
                M(a, l, v) => {
                    want.mem.poke_le(a, l, v);
                    let g = got.mem.peek_le(a, l);
                    if g != v {
                        errs.push(format!("mem[{a:#x}; {l}]: want {v:#x}, got {g:#x}"));
                    }
                }
                Rip(v) => want.cpu.rip = v,
                Seg(s, sel) => want.cpu.seg[s as usize] = seg_from_gdt(&want, sel),
                Null(s, sel) => want.cpu.seg[s as usize] = Segment::null(sel),
                Shadow(b) => want.cpu.shadow = b,
                Cr(n, v) => *cr_slot(&mut want, n) = v,
                Msr(i, v) => {
                    want.cpu.set_msr(i, v);
                }
                Base(s, v) => want.cpu.seg[s as usize].base = v,
                Port(port, value, write) => {
                    let evs = e.last_step().map(|s| s.events.to_vec()).unwrap_or_default();
                    let hit = evs.iter().any(|x| {
                        matches!(x, ringstep::engine::Event::Port { port: p, value: v, write: w, .. }
                            if *p == port && *v == value && *w == write)
                    });
                    if !hit {
                        errs.push(format!(
                            "no port event {port:#x} {value:#x} {write}: {evs:?}"
                        ));
                    }
                }
                Fault(..) | StopCr2(_) | Delivered(..) | Unsupported(_) => {}
            }
        }
        want.cpu.rflags = (want.cpu.rflags & !undef) | (got.cpu.rflags & undef);
        errs.extend(diff(&want, got));
        if outcome == Outcome::Executed {
            errs.extend(flags_beyond_iced(case, &before, got));
        }
        if e.step_back() {
            for d in diff(&before, e.machine()) {
                errs.push(format!("after step_back: {d}"));
            }
        } else {
            errs.push("step_back refused".into());
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n    "))
    }
}

/// The status flags and DF a completed step changed must be ones iced-x86's instruction
/// tables say the instruction modifies (written, set, cleared or left undefined).
pub fn flags_beyond_iced(case: &Case, before: &Machine, got: &Machine) -> Option<String> {
    use iced_x86::RflagsBits as B;
    // The code size the step decoded with: 32 in compatibility mode.
    let bits = before.cpu.bitness();
    let code = hex(case.hex);
    let i = iced_x86::Decoder::new(bits, &code, iced_x86::DecoderOptions::NONE).decode();
    let m = i.rflags_modified();
    let map = [
        (B::OF, OF),
        (B::SF, SF),
        (B::ZF, ZF),
        (B::AF, AF),
        (B::CF, CF),
        (B::PF, PF),
        (B::DF, DF),
    ];
    let allowed = map
        .iter()
        .filter(|(b, _)| m & b != 0)
        .fold(0, |a, (_, f)| a | f);
    let changed = (before.cpu.rflags ^ got.cpu.rflags) & (ST | DF);
    (changed & !allowed != 0).then(|| {
        format!(
            "flags {:?} changed, iced-x86 lists only {:?} as modified",
            ringstep::machine::flags::set_names(changed),
            ringstep::machine::flags::set_names(allowed)
        )
    })
}

pub fn run_all(cases: &[Case]) {
    let mut failed = Vec::new();
    for case in cases {
        if let Err(msg) = run(case) {
            failed.push(format!(
                "{} [{}  {}]:\n    {msg}",
                case.name, case.hex, case.asm
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// The assembler texts must match the bytes: re-assemble every case with GNU as when it is
/// installed and compare. Cases whose text is not plain assembly (".byte") are skipped.
pub fn check_assembly(cases: &[Case], bits: u32) {
    if !require_tool("as") || !require_tool("objdump") {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "ringstep-conformance-{}-{bits}-{}",
        std::process::id(),
        cases.first().map_or("", |c| c.name)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bad = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        if case.asm.starts_with('.') || case.asm.contains(".byte") {
            continue;
        }
        let src = dir.join(format!("c{n}.s"));
        let obj = dir.join(format!("c{n}.o"));
        std::fs::write(&src, format!(".text\n{}\n", case.asm.replace(';', "\n"))).unwrap();
        let assembled = super::run_tool(
            std::process::Command::new("as")
                .arg(format!("--{bits}"))
                .arg("-o")
                .arg(&obj)
                .arg(&src),
        );
        if assembled.is_err() {
            bad.push(format!("{}: `{}` does not assemble", case.name, case.asm));
            continue;
        }
        let out = std::process::Command::new("objdump")
            .arg("-d")
            .arg(&obj)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut bytes = Vec::new();
        for line in text.lines() {
            let mut parts = line.split('\t');
            let (Some(addr), Some(b)) = (parts.next(), parts.next()) else {
                continue;
            };
            if !addr.trim_end().ends_with(':') {
                continue;
            }
            bytes.extend(
                b.split_whitespace()
                    .map(|h| u8::from_str_radix(h, 16).unwrap()),
            );
        }
        if bytes != hex(case.hex) {
            bad.push(format!(
                "{}: `{}` assembles to {:02x?}, the table has {}",
                case.name, case.asm, bytes, case.hex
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

pub fn m32() -> Machine {
    machine32()
}
pub fn k32() -> Machine {
    kernel32()
}
pub fn m64() -> Machine {
    machine64()
}
pub fn k64() -> Machine {
    kernel64()
}
