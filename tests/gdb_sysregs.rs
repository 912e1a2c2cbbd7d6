//! The system registers `ringstep gdbserver` describes to gdb (issue 16): cr0-cr4, efer,
//! fs_base, gs_base and k_gs_base as the real gdb prints them, compared with
//! `ringstep trace` at the same step, on the syscall64 lesson (SWAPGS exchanges gs_base
//! and k_gs_base, `mov %rsp,%cr3` switches CR3 under PTI), on the sysenter lesson
//! (i386) and on the booted 64-bit example kernel (EFER.LMA set once it enters long
//! mode); the `p` and `P` packets for single registers; and writes gdb may not make.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::gdb::{gdb_regs, packet, Server, BIN};
use common::proc::{self, Deadline};

const SYSREGS64: [&str; 7] = [
    "cr0",
    "cr3",
    "cr4",
    "efer",
    "fs_base",
    "gs_base",
    "k_gs_base",
];

/// The machine before the first and after every step of `ringstep trace ARGS
/// --max-steps STEPS --format json` (index: steps run): selectors, segment bases,
/// control registers, EFER and IA32_KERNEL_GS_BASE, under gdb's names.
fn trace_states(args: &[&str], steps: u64) -> Vec<BTreeMap<String, u64>> {
    let mut cmd = Command::new(BIN);
    cmd.arg("trace").args(args);
    cmd.args(["--max-steps", &steps.to_string(), "--format", "json"]);
    let out = proc::output_within(
        &mut cmd,
        &Deadline::generous("ringstep trace --format json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut state = BTreeMap::new();
    let mut states = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let rec: serde_json::Value = serde_json::from_str(line).expect("a JSON record");
        let kind = rec["kind"].as_str().unwrap_or("");
        if kind == "init" || kind == "step" {
            update(&mut state, &rec);
            states.push(state.clone());
        }
    }
    assert_eq!(states.len() as u64, steps + 1, "records of {args:?}");
    states
}

/// `state` after the trace record `rec` (init: the whole machine; step: the machine
/// after it, control registers as changes).
fn update(state: &mut BTreeMap<String, u64>, rec: &serde_json::Value) {
    for (name, seg) in rec["segs"].as_object().into_iter().flatten() {
        state.insert(name.clone(), seg["sel"].as_u64().expect("a selector"));
        if name == "fs" || name == "gs" {
            let base = seg["base"].as_u64().expect("a base");
            state.insert(format!("{name}_base"), base);
        }
    }
    let msrs = &rec["msrs"];
    for (index, name) in [("0xc0000080", "efer"), ("0xc0000102", "k_gs_base")] {
        state.insert(name.into(), msrs[index].as_u64().expect("an MSR"));
    }
    for (name, v) in rec["cr"].as_object().into_iter().flatten() {
        state.insert(name.clone(), v.as_u64().expect("a CR"));
    }
    for c in rec["changed"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or("");
        if name.starts_with("cr") {
            state.insert(name.into(), c["new"].as_u64().expect("a value"));
        }
    }
}

/// The machine after `steps` steps of the trace.
fn trace_state(args: &[&str], steps: u64) -> BTreeMap<String, u64> {
    trace_states(args, steps).pop().expect("a state")
}

/// gdb's values of `names` equal the trace's after `steps` steps.
fn same(gdb_out: &str, names: &[&str], args: &[&str], steps: u64) -> BTreeMap<String, u64> {
    let got = gdb_regs(gdb_out);
    let want = trace_state(args, steps);
    for r in names {
        assert!(got.contains_key(*r), "gdb printed no {r}:\n{gdb_out}");
        assert_eq!(
            got.get(*r),
            want.get(*r),
            "{r} after {steps} steps: gdb {:x?}, trace {:x?}\n{gdb_out}",
            got.get(*r),
            want.get(*r)
        );
    }
    got
}

fn info(names: &[&str]) -> String {
    format!("info registers {}", names.join(" "))
}

#[test]
fn syscall64_swapgs_and_the_pti_cr3_switch_as_gdb_sees_them() {
    if !common::require_tool("gdb") {
        return;
    }
    let lesson = ["syscall64"];
    let s = Server::start(&lesson);
    // After `syscall`, before `swapgs`; then after it: the two bases have traded places.
    let before = same(
        &s.gdb(&["stepi 2", &info(&SYSREGS64)]),
        &SYSREGS64,
        &lesson,
        2,
    );
    let out = s.gdb(&["x/i $pc", "stepi", &info(&SYSREGS64)]);
    assert!(out.contains("swapgs"), "{out}");
    let after = same(&out, &SYSREGS64, &lesson, 3);
    assert_eq!(after["gs_base"], before["k_gs_base"], "{out}");
    assert_eq!(after["k_gs_base"], before["gs_base"], "{out}");
    assert_ne!(after["gs_base"], after["k_gs_base"], "{out}");
    assert_ne!(after["efer"] & (1 << 10), 0, "EFER.LMA\n{out}");
    // Three steps on, `mov %rsp,%cr3` switches to the kernel page tables.
    let out = s.gdb(&["stepi 3", "x/i $pc", "p/x $cr3", "stepi", "p/x $cr3"]);
    assert!(out.contains("mov    %rsp,%cr3"), "{out}");
    let values: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix('$'))
        .filter_map(|l| l.split(" = ").nth(1))
        .collect();
    let want = trace_state(&lesson, 7)["cr3"];
    assert_eq!(values.len(), 2, "{out}");
    assert_eq!(values[1], format!("{want:#x}"), "{out}");
    assert_ne!(values[0], values[1], "CR3 did not change:\n{out}");
}

/// A reply without gdb's run-length encoding (`X*N`: N - 29 more copies of X).
fn unrle(reply: &str) -> String {
    let mut out = String::new();
    let mut chars = reply.chars();
    while let Some(c) = chars.next() {
        match (c, out.chars().last()) {
            ('*', Some(last)) => {
                let n = chars.next().map_or(0, |n| n as usize - 29);
                out.extend(std::iter::repeat_n(last, n));
            }
            _ => out.push(c),
        }
    }
    out
}

/// A register's value from a `p` reply (little-endian hex).
fn from_p_reply(reply: &str) -> u64 {
    let hex = unrle(reply);
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    bytes.iter().rev().fold(0, |a, b| (a << 8) | *b as u64)
}

#[test]
fn single_register_packets_use_the_descriptions_numbers() {
    let lesson = ["syscall64"];
    let s = Server::start(&lesson);
    let mut c = s.connect();
    // The description numbers amd64's registers 0..=65: rip is 16, fs_base 57,
    // k_gs_base 59, cr3 62, efer 65 (the unit tests of src/gdb/tdesc.rs hold the table).
    let want = trace_state(&lesson, 1);
    c.send(&packet("?"));
    let stop = c.reply();
    assert!(stop.starts_with('T') || stop.starts_with('S'), "{stop}");
    c.send(&packet("s"));
    let stop = c.reply();
    assert!(stop.starts_with('T') || stop.starts_with('S'), "{stop}");
    for (n, name, len) in [
        (57, "fs_base", 16),
        (59, "k_gs_base", 16),
        (60, "cr0", 16),
        (62, "cr3", 16),
        (65, "efer", 16),
        (18, "cs", 8),
    ] {
        c.send(&packet(&format!("p{n:x}")));
        let reply = c.reply();
        assert_eq!(unrle(&reply).len(), len, "p{n:x} ({name}): {reply}");
        assert_eq!(from_p_reply(&reply), want[name], "p{n:x} ({name}): {reply}");
    }
    // There is no register 66: gdbstub's empty reply.
    c.send(&packet("p42"));
    assert_eq!(c.reply(), "");
    // P: rax and cr3 take a value; a non-canonical fs_base and a CR0 without PG in
    // 64-bit mode are what the CPU refuses with #GP(0), and so does the server.
    c.send(&packet("P0=3412000000000000"));
    assert_eq!(c.reply(), "OK");
    c.send(&packet("p0"));
    assert_eq!(from_p_reply(&c.reply()), 0x1234);
    c.send(&packet("P3e=00a0a00300000000"));
    assert_eq!(c.reply(), "OK");
    c.send(&packet("p3e"));
    assert_eq!(from_p_reply(&c.reply()), 0x3a0_a000);
    for (n, value) in [(57, "0000000000000080"), (60, "3300050000000000")] {
        c.send(&packet(&format!("P{n:x}={value}")));
        assert_eq!(c.reply(), "E0d", "P{n:x}");
    }
    c.send(&packet("p39"));
    assert_eq!(from_p_reply(&c.reply()), want["fs_base"]);
}

/// The `$N = VALUE` lines gdb printed, by N.
fn printed(out: &str) -> BTreeMap<u32, String> {
    out.lines()
        .filter_map(|l| l.strip_prefix('$')?.split_once(" = "))
        .filter_map(|(n, v)| Some((n.parse().ok()?, v.to_string())))
        .collect()
}

#[test]
fn gdb_writes_system_registers_as_the_cpu_would_and_stepping_back_undoes_them() {
    if !common::require_tool("gdb") {
        return;
    }
    let lesson = ["syscall64"];
    let s = Server::start(&lesson);
    let out = s.gdb(&[
        "stepi",
        "set $cr3 = 0x3a0a000",
        "set $efer = 0x501ul",
        "set $fs_base = 0x1000",
        "set $rbx = 0x1234",
        "p/x $cr3",
        "p/x $efer",
        "p/x $fs_base",
        "p/x $rbx",
        // Clearing CR4.PAE in IA-32e mode is #GP(0): refused, and `monitor why` says so.
        "set $cr4 = 0x6d0ul",
        "monitor why",
        "p/x $cr4",
    ]);
    let p = printed(&out);
    let want: Vec<String> = ["0x3a0a000", "0x501", "0x1000", "0x1234"]
        .map(String::from)
        .into();
    assert_eq!(
        p.values().take(4).cloned().collect::<Vec<_>>(),
        want,
        "{out}"
    );
    assert!(out.contains("Could not write register \"cr4\""), "{out}");
    assert!(
        out.contains("clears PAE while IA-32e mode is active"),
        "{out}"
    );
    let at1 = trace_state(&lesson, 1);
    assert_eq!(p.get(&5), Some(&format!("{:#x}", at1["cr4"])), "{out}");
    // The writes were hand edits at position 1: back over the step and forward again,
    // the machine is the trace's.
    let out = s.gdb(&["reverse-stepi", "stepi", &info(&SYSREGS64)]);
    same(&out, &SYSREGS64, &lesson, 1);
}

#[test]
fn sysenter_is_served_as_i386_with_its_control_registers() {
    if !common::require_tool("gdb") {
        return;
    }
    let lesson = ["sysenter"];
    let s = Server::start(&lesson);
    let names = [
        "cr0", "cr2", "cr3", "cr4", "efer", "cs", "ss", "ds", "es", "fs", "gs", "fs_base",
        "gs_base",
    ];
    let out = s.gdb(&[
        "stepi 5",
        &info(&names),
        "info registers k_gs_base",
        "p $eip",
    ]);
    let got = same(&out, &names, &lesson, 5);
    assert!(out.contains("Invalid register `k_gs_base'"), "{out}");
    // The flags types: gdb names CR0's and CR4's bits.
    assert!(
        out.contains("PE") && out.contains("PG") && out.contains("PAE"),
        "{out}"
    );
    assert_eq!(got["cs"] & 3, 3, "CPL 3 before sysenter\n{out}");
    // A 32-bit description: eip, not rip.
    assert!(out.contains("(void (*)()) 0x"), "{out}");
}

#[test]
fn a_booted_64_bit_kernel_is_amd64_from_the_start_and_sets_efer_lma() {
    if !common::require_tool("gdb") {
        return;
    }
    let dir = common::scratch("gdb-sysregs", "k64");
    let elf = dir.join("k64.elf");
    let elf = elf.to_str().expect("a UTF-8 path");
    let mut asm = Command::new(BIN);
    asm.args(["asm", "--example", "64", "-o", elf]);
    common::run_tool(&mut asm).unwrap_or_else(|e| panic!("{e}"));
    let boot = ["--boot", elf];
    // The step after which EFER.LMA is set (the `mov %eax,%cr0` that enables paging).
    let states = trace_states(&boot, 1000);
    let hi = states
        .iter()
        .position(|st| st["efer"] & (1 << 10) != 0)
        .expect("the example kernel enters long mode within 1000 steps") as u64;
    let lo = hi - 1;
    let names = ["cr0", "cr3", "cr4", "efer", "cs"];
    let s = Server::start(&boot);
    let out = s.gdb(&[&format!("stepi {lo}"), &info(&names), "p $rip"]);
    let got = same(&out, &names, &boot, lo);
    assert_eq!(got["efer"] & (1 << 10), 0, "{out}");
    // rip is a register (a code pointer), not an unset convenience variable.
    assert!(
        out.contains("(void (*)()) 0x"),
        "not amd64 in 32-bit code:\n{out}"
    );
    let out = s.gdb(&["stepi", &info(&names)]);
    let got = same(&out, &names, &boot, hi);
    assert_eq!(got["efer"] & 0x500, 0x500, "EFER.LME and LMA\n{out}");
    assert_ne!(got["cr0"] & (1 << 31), 0, "CR0.PG\n{out}");
}
