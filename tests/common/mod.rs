//! Small machines for engine tests, built in Rust so each test states exactly what it needs.
//! The layout follows Linux 2.6 i386 (selectors 0x60/0x68/0x73/0x7B, TSS at GDT 16) and
//! x86-64 (0x10/0x18/0x23/0x2B/0x33).
#![allow(dead_code)]

pub mod conformance;
pub mod gdb;
pub mod proc;
pub mod programs;
pub mod tmux;

use ringstep::engine::{Engine, StepResult, StopReason};
use ringstep::machine::cpu::{CR0_PE, CR0_PG, CR0_WP, CR4_PAE};
use ringstep::machine::msr;
use ringstep::machine::tables::{tss32, tss64, Gate};
use ringstep::machine::{Attr, Descriptor, Machine, Perm, Region, SegReg, TableReg};

pub const USER_CODE: u64 = 0x0804_8000;
pub const USER_DATA: u64 = 0x0804_9000;
pub const USER_STACK_TOP: u64 = 0xbfff_f000;
pub const KERNEL_CODE: u64 = 0xc010_0000;
pub const KERNEL_DATA: u64 = 0xc020_0000;
pub const GDT: u64 = 0xc030_0000;
pub const IDT: u64 = 0xc030_1000;
pub const TSS: u64 = 0xc030_2000;
pub const KERNEL_STACK_TOP: u64 = 0xc040_2000;

pub const KERNEL_CS: u16 = 0x60;
pub const KERNEL_DS: u16 = 0x68;
pub const USER_CS: u16 = 0x73;
pub const USER_DS: u16 = 0x7b;
pub const TSS_SEL: u16 = 0x80;

pub const K64_CS: u16 = 0x10;
pub const K64_DS: u16 = 0x18;
pub const U32_CS: u16 = 0x23;
pub const U64_DS: u16 = 0x2b;
pub const U64_CS: u16 = 0x33;
pub const TSS64_SEL: u16 = 0x40;
pub const K64_CODE: u64 = 0xffff_ffff_8100_0000;
pub const K64_STACK_TOP: u64 = 0xffff_c900_0000_4000;
pub const U64_CODE: u64 = 0x40_0000;
pub const U64_STACK_TOP: u64 = 0x7fff_ffff_e000;

fn region(
    m: &mut Machine,
    name: &str,
    base: u64,
    size: u64,
    user: bool,
    writable: bool,
    exec: bool,
) {
    m.mem
        .add_region(Region::new(
            name,
            base,
            size,
            Perm {
                user,
                writable,
                exec,
            },
        ))
        .expect("test regions do not overlap");
}

/// Page tables for the machine's regions (one address space, CR3 pointing at it).
pub fn page_tables(m: &mut Machine) {
    ringstep::machine::pagebuild::build_default(m).expect("test regions fit the tables");
}

fn code_attr(dpl: u8, long: bool) -> Attr {
    Attr::from_fields(0xb, true, dpl, true, false, long, !long, true)
}

fn data_attr(dpl: u8) -> Attr {
    Attr::from_fields(0x3, true, dpl, true, false, false, true, true)
}

pub fn set_gdt(m: &mut Machine, index: u64, d: Descriptor) {
    m.mem.poke_le(m.cpu.gdtr.base + index * 8, 8, d.0);
}

pub fn load_seg(m: &mut Machine, s: SegReg, sel: u16) {
    let d = m.gdt_entry(sel).expect("selector in GDT");
    m.cpu.seg[s as usize] = d.to_segment(sel);
}

pub fn set_gate32(m: &mut Machine, vector: u8, offset: u64, selector: u16, trap: bool, dpl: u8) {
    let g = Gate {
        offset,
        selector,
        ty: if trap { 0xf } else { 0xe },
        dpl,
        present: true,
        ist: 0,
    };
    m.mem
        .poke_le(m.cpu.idtr.base + vector as u64 * 8, 8, g.encode32());
}

pub fn set_gate64(m: &mut Machine, vector: u8, offset: u64, trap: bool, dpl: u8, ist: u8) {
    let g = Gate {
        offset,
        selector: K64_CS,
        ty: if trap { 0xf } else { 0xe },
        dpl,
        present: true,
        ist,
    };
    let (lo, hi) = g.encode64();
    m.mem.poke_le(m.cpu.idtr.base + vector as u64 * 16, 8, lo);
    m.mem
        .poke_le(m.cpu.idtr.base + vector as u64 * 16 + 8, 8, hi);
}

/// A 32-bit protected-mode machine at CPL 3 with Linux 2.6 selectors, a TSS whose esp0 is
/// KERNEL_STACK_TOP, SYSENTER MSRs pointing at KERNEL_CODE, and an empty IDT.
pub fn machine32() -> Machine {
    let mut m = Machine::new();
    region(&mut m, "user text", USER_CODE, 0x1000, true, false, true);
    region(&mut m, "user data", USER_DATA, 0x1000, true, true, false);
    region(
        &mut m,
        "user stack",
        USER_STACK_TOP - 0x4000,
        0x4000,
        true,
        true,
        false,
    );
    region(
        &mut m,
        "kernel text",
        KERNEL_CODE,
        0x2000,
        false,
        false,
        true,
    );
    region(
        &mut m,
        "kernel data",
        KERNEL_DATA,
        0x1000,
        false,
        true,
        false,
    );
    region(&mut m, "gdt", GDT, 0x1000, false, true, false);
    region(&mut m, "idt", IDT, 0x1000, false, true, false);
    region(&mut m, "tss", TSS, 0x1000, false, true, false);
    region(
        &mut m,
        "kernel stack",
        KERNEL_STACK_TOP - 0x2000,
        0x2000,
        false,
        true,
        false,
    );
    m.cpu.cr0 = CR0_PE | CR0_PG | CR0_WP;
    m.cpu.cr4 = CR4_PAE;
    m.cpu.set_msr(msr::EFER, msr::EFER_NXE);
    page_tables(&mut m);
    m.cpu.gdtr = TableReg {
        base: GDT,
        limit: 0xff,
    };
    m.cpu.idtr = TableReg {
        base: IDT,
        limit: 0x7ff,
    };
    set_gdt(
        &mut m,
        12,
        Descriptor::encode(0, 0xfffff, code_attr(0, false)),
    );
    set_gdt(&mut m, 13, Descriptor::encode(0, 0xfffff, data_attr(0)));
    set_gdt(
        &mut m,
        14,
        Descriptor::encode(0, 0xfffff, code_attr(3, false)),
    );
    set_gdt(&mut m, 15, Descriptor::encode(0, 0xfffff, data_attr(3)));
    let tss_attr = Attr::from_fields(0xb, false, 0, true, false, false, false, false);
    set_gdt(&mut m, 16, Descriptor::encode(TSS as u32, 0x67, tss_attr));
    m.cpu.tr = Descriptor::encode(TSS as u32, 0x67, tss_attr).to_segment(TSS_SEL);
    m.mem.poke_le(TSS + tss32::ESP0, 4, KERNEL_STACK_TOP);
    m.mem.poke_le(TSS + tss32::SS0, 2, KERNEL_DS as u64);
    for (s, sel) in [
        (SegReg::Cs, USER_CS),
        (SegReg::Ss, USER_DS),
        (SegReg::Ds, USER_DS),
        (SegReg::Es, USER_DS),
    ] {
        load_seg(&mut m, s, sel);
    }
    m.cpu.set_msr(msr::SYSENTER_CS, KERNEL_CS as u64);
    m.cpu.set_msr(msr::SYSENTER_ESP, TSS + 0x68);
    m.cpu.set_msr(msr::SYSENTER_EIP, KERNEL_CODE);
    m.cpu.rip = USER_CODE;
    m.cpu.gpr[4] = USER_STACK_TOP;
    m.cpu.rflags = 0x246;
    m
}

/// The same machine running at CPL 0 on the kernel stack, code at KERNEL_CODE.
pub fn kernel32() -> Machine {
    let mut m = machine32();
    load_seg(&mut m, SegReg::Cs, KERNEL_CS);
    load_seg(&mut m, SegReg::Ss, KERNEL_DS);
    m.cpu.rip = KERNEL_CODE;
    m.cpu.gpr[4] = KERNEL_STACK_TOP;
    m
}

/// An IA-32e machine at CPL 3 in 64-bit mode, STAR/LSTAR/FMASK as Linux sets them, a
/// 64-bit TSS with rsp0 = K64_STACK_TOP, an empty IDT.
pub fn machine64() -> Machine {
    let mut m = Machine::new();
    region(&mut m, "user text", U64_CODE, 0x1000, true, false, true);
    region(
        &mut m,
        "user stack",
        U64_STACK_TOP - 0x4000,
        0x4000,
        true,
        true,
        false,
    );
    region(&mut m, "kernel text", K64_CODE, 0x2000, false, false, true);
    region(
        &mut m,
        "gdt",
        0xffff_ffff_8200_0000,
        0x1000,
        false,
        true,
        false,
    );
    region(
        &mut m,
        "idt",
        0xffff_ffff_8200_1000,
        0x1000,
        false,
        true,
        false,
    );
    region(
        &mut m,
        "tss",
        0xffff_ffff_8200_2000,
        0x1000,
        false,
        true,
        false,
    );
    region(
        &mut m,
        "kernel stack",
        K64_STACK_TOP - 0x4000,
        0x4000,
        false,
        true,
        false,
    );
    m.cpu.cr0 = CR0_PE | CR0_PG | CR0_WP;
    m.cpu.cr4 = CR4_PAE;
    m.cpu.set_msr(
        msr::EFER,
        msr::EFER_SCE | msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE,
    );
    page_tables(&mut m);
    m.cpu.gdtr = TableReg {
        base: 0xffff_ffff_8200_0000,
        limit: 0x7f,
    };
    m.cpu.idtr = TableReg {
        base: 0xffff_ffff_8200_1000,
        limit: 0xfff,
    };
    set_gdt(
        &mut m,
        2,
        Descriptor::encode(0, 0xfffff, code_attr(0, true)),
    );
    set_gdt(&mut m, 3, Descriptor::encode(0, 0xfffff, data_attr(0)));
    set_gdt(
        &mut m,
        4,
        Descriptor::encode(0, 0xfffff, code_attr(3, false)),
    );
    set_gdt(&mut m, 5, Descriptor::encode(0, 0xfffff, data_attr(3)));
    set_gdt(
        &mut m,
        6,
        Descriptor::encode(0, 0xfffff, code_attr(3, true)),
    );
    let tss = 0xffff_ffff_8200_2000u64;
    let tss_attr = Attr::from_fields(0xb, false, 0, true, false, false, false, false);
    set_gdt(&mut m, 8, Descriptor::encode(tss as u32, 0x67, tss_attr));
    set_gdt(&mut m, 9, Descriptor(tss >> 32));
    let mut tr = Descriptor::encode(tss as u32, 0x67, tss_attr).to_segment(TSS64_SEL);
    tr.base = tss;
    m.cpu.tr = tr;
    m.mem.poke_le(tss + tss64::RSP0, 8, K64_STACK_TOP);
    for (s, sel) in [
        (SegReg::Cs, U64_CS),
        (SegReg::Ss, U64_DS),
        (SegReg::Ds, U64_DS),
        (SegReg::Es, U64_DS),
    ] {
        load_seg(&mut m, s, sel);
    }
    m.cpu.set_msr(msr::STAR, 0x0023_0010_0000_0000);
    m.cpu.set_msr(msr::LSTAR, K64_CODE);
    m.cpu.set_msr(msr::FMASK, 0x0004_7700);
    m.cpu.rip = U64_CODE;
    m.cpu.gpr[4] = U64_STACK_TOP;
    m.cpu.rflags = 0x246;
    m
}

/// The 64-bit machine at CPL 0 on the kernel stack, code at K64_CODE.
pub fn kernel64() -> Machine {
    let mut m = machine64();
    load_seg(&mut m, SegReg::Cs, K64_CS);
    load_seg(&mut m, SegReg::Ss, K64_DS);
    m.cpu.rip = K64_CODE;
    m.cpu.gpr[4] = K64_STACK_TOP;
    m
}

/// Parse hex like "0f 34" or "0f34".
pub fn hex(s: &str) -> Vec<u8> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("test hex"))
        .collect()
}

/// Place code at the current RIP (page permissions are not checked).
pub fn with_code(mut m: Machine, code: &str) -> Machine {
    let at = m.cpu.rip;
    m.mem.poke(at, &hex(code));
    m
}

/// Step once; panic with the stop if the engine stopped.
pub fn step(e: &mut Engine) {
    if let StepResult::Stopped(s) = e.step() {
        panic!("engine stopped: {s:?}");
    }
}

/// Run one step expecting a stop with a fault; return (vector, error code).
pub fn step_fault(e: &mut Engine) -> (u8, Option<u32>, String) {
    match e.step() {
        StepResult::Stopped(s) => match s.reason {
            StopReason::Fault(x) => (x.vector, x.error_code, x.reason.to_string()),
            other => panic!("expected a fault, got {other:?}"),
        },
        StepResult::Stepped => panic!(
            "expected a fault, the step completed: {:?}",
            e.last_step().map(|s| s.info.outcome.clone())
        ),
    }
}

/// `as` is needed: fail under CI, skip (with a notice) elsewhere.
pub fn require_tool(tool: &str) -> bool {
    let found = proc::output_within(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}")),
        &proc::Deadline::generous(format!("look for {tool}")),
    )
    .map(|o| o.status.success())
    .unwrap_or(false);
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is required under CI but is not installed");
        }
        eprintln!("notice: {tool} not found; skipping this test");
    }
    found
}

/// Run an external tool (as, ld, objcopy, nm, ...) and return its standard output, or
/// a message naming the command and what it printed on failure (or that it did not end
/// within `proc::GENEROUS`).
pub fn run_tool(cmd: &mut std::process::Command) -> Result<Vec<u8>, String> {
    let deadline = proc::Deadline::generous(format!("{cmd:?}"));
    let out = proc::output_within(cmd, &deadline)?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// `ringstep ARGS` with English messages (LANG=C, no LC_ALL/LC_MESSAGES), no standard
/// input and a generous deadline; its exit status and output.
/// The vdso-like test object (tests/fixtures/load/vdso32.S) with its kernel alternatives
/// laid out in `alt_bytes` bytes, assembled with `as --32` and linked by `ld` at 0 into
/// one read+execute and one read+write page, in `dir`. Callers check for the tools first.
#[allow(dead_code)]
pub fn vdso32(dir: &std::path::Path, alt_bytes: u32) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/load/vdso32.S");
    let obj = dir.join(format!("vdso{alt_bytes}.so.o"));
    let so = dir.join(format!("vdso{alt_bytes}.so"));
    run_tool(
        std::process::Command::new("as")
            .args(["--32", "--defsym", &format!("ALT_BYTES={alt_bytes}"), "-o"])
            .arg(&obj)
            .arg(&src),
    )
    .expect("as");
    let ld_args = [
        "-m",
        "elf_i386",
        "-shared",
        "-z",
        "noseparate-code",
        "-z",
        "norelro",
    ];
    run_tool(
        std::process::Command::new("ld")
            .args(ld_args)
            .args(["--hash-style=sysv", "-o"])
            .arg(&so)
            .arg(&obj),
    )
    .expect("ld");
    so
}

pub fn run_ringstep(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringstep"));
    cmd.args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    let what = format!("ringstep {}", args.join(" "));
    proc::output_within(&mut cmd, &proc::Deadline::generous(what)).unwrap_or_else(|e| panic!("{e}"))
}

/// Bytes a program printed, as text.
#[allow(dead_code)]
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory `ringstep-TAG-PID-NAME` under the system's temporary directory.
#[allow(dead_code)]
pub fn scratch(tag: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringstep-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}

/// `ringstep asm SRC -o OUT MORE...`, expecting success; what it printed.
#[allow(dead_code)]
pub fn asm_to(src: &std::path::Path, out: &std::path::Path, more: &[&str]) -> String {
    let (src, out) = (src.to_string_lossy(), out.to_string_lossy());
    let mut args = vec!["asm", &src, "-o", &out];
    args.extend_from_slice(more);
    let o = run_ringstep(&args);
    assert_eq!(o.status.code(), Some(0), "asm failed: {}", text(&o.stderr));
    text(&o.stdout)
}

/// `ringstep asm SRC -o DIR/NAME.elf`, expecting success; the ELF's path.
#[allow(dead_code)]
pub fn asm_elf(src: &std::path::Path, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.elf"));
    asm_to(src, &out, &[]);
    out
}
