//! `ringstep gdbserver` driven by the real gdb (issue 16): gdb in batch mode against a
//! lesson, an assembled file and booted example kernels, its registers compared with
//! `ringstep trace` at the same step, after `stepi`, `reverse-stepi` and
//! `reverse-continue`; a watchpoint on the TSS's esp0 stopping where the trace says
//! it is written; `monitor` output; and, over a raw socket, Ctrl-C, a malformed packet
//! and a second client.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::gdb::{gdb_regs, packet, trace_regs, Server, BIN};
use common::proc::{self, Deadline};

const REGS32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", "cs", "ss", "ds",
    "es", "fs", "gs",
];

/// gdb's registers equal the trace's after `steps` steps.
fn same_regs(gdb_out: &str, trace_args: &[&str], steps: u64) {
    let got = gdb_regs(gdb_out);
    let want = trace_regs(trace_args, steps);
    for r in REGS32 {
        assert_eq!(
            got.get(r),
            want.get(r),
            "{r} after {steps} steps: gdb says {:x?}, trace says {:x?}\n{gdb_out}",
            got.get(r),
            want.get(r)
        );
    }
}

fn stepi(n: usize) -> Vec<&'static str> {
    vec!["stepi"; n]
}

fn cmds<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.concat()
}

#[test]
fn stepi_and_reverse_match_the_trace_on_a_lesson() {
    if !common::require_tool("gdb") {
        return;
    }
    let s = Server::start(&["sysenter"]);
    let out = s.gdb(&cmds(&[&stepi(7), &["info registers"]]));
    same_regs(&out, &["sysenter"], 7);
    // The client left; the machine is where it was.
    let out = s.gdb(&["info registers", "monitor position"]);
    same_regs(&out, &["sysenter"], 7);
    assert!(out.contains("position 7"), "{out}");
    let out = s.gdb(&cmds(&[
        &["reverse-stepi", "reverse-stepi", "reverse-stepi"],
        &["info registers"],
    ]));
    same_regs(&out, &["sysenter"], 4);
    // Forward to the end, then back to a breakpoint at __kernel_vsyscall (reached after
    // two steps), once for a software and once for a hardware breakpoint.
    for kind in ["break", "hbreak"] {
        let out = s.gdb(&[
            "continue",
            &format!("{kind} *0xffffe400"),
            "reverse-continue",
            "info registers",
            "monitor position",
        ]);
        same_regs(&out, &["sysenter"], 2);
        assert!(out.contains("position 2"), "{out}");
    }
}

#[test]
fn monitor_commands_print_the_machine() {
    if !common::require_tool("gdb") {
        return;
    }
    let s = Server::start(&["sysenter"]);
    let out = s.gdb(&[
        "monitor msr",
        "monitor gdt",
        "monitor idt",
        "monitor tss",
        "monitor walk 0xffffe400",
        "monitor phys 0 16",
        "monitor explain",
    ]);
    for want in [
        "0x00000174 IA32_SYSENTER_CS       0x0000000000000060",
        "0x00000176 IA32_SYSENTER_EIP      0x00000000c0102000 <sysenter_entry>",
        "GDTR base",
        "IDTR base",
        "esp0",
        "walk of 0xffffe400",
        "0x000000000000  00",
        "no fault stop yet",
    ] {
        assert!(out.contains(want), "`{want}` missing from:\n{out}");
    }
}

/// The address of TSS.esp0, from `monitor tss`.
fn esp0_addr(s: &Server) -> u64 {
    let out = s.gdb(&["monitor tss"]);
    let base = out
        .split(" base 0x")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| panic!("no TSS base in:\n{out}"));
    base + 4
}

#[test]
fn a_watchpoint_on_esp0_stops_where_the_trace_writes_it() {
    if !common::require_tool("gdb") {
        return;
    }
    let lesson = ["mode-vs-context", "--scene", "2"];
    let s = Server::start(&lesson);
    let esp0 = esp0_addr(&s);
    let spec = format!("mem {esp0:#x},4");
    let steps = stop_steps(&lesson, &["--watch", &spec]);
    let out = s.gdb(&[
        &format!("watch *(unsigned int *){esp0:#x}"),
        "continue",
        "info registers",
        "monitor position",
    ]);
    assert!(out.contains("atchpoint 1: *(unsigned int *)"), "{out}");
    same_regs(&out, &lesson, steps);
    assert!(out.contains(&format!("position {steps}")), "{out}");
    // Back to the start, then a read watchpoint. Instructions read esp0 (the CPU's own
    // read when it delivers an interrupt is not an instruction's): the first is
    // sysenter_entry's `mov -0x21fc(%esp),%esp`, and gdb stops after it.
    let at_entry = stop_steps(&lesson, &["--break", "sysenter_entry"]);
    let out = s.gdb(&[
        "delete",
        "monitor goto 0",
        &format!("rwatch *(unsigned int *){esp0:#x}"),
        "continue",
        "info registers",
    ]);
    assert!(out.to_lowercase().contains("read watchpoint 1"), "{out}");
    same_regs(&out, &lesson, at_entry + 1);
    // reverse-continue with the read watchpoint, from ten steps further on: back to
    // the `mov` that read esp0 (gdb stands at that instruction), and from there, with
    // nothing earlier reading it, to the start of the history.
    let out = s.gdb(&[
        "delete",
        &format!("monitor goto {}", at_entry + 10),
        &format!("rwatch *(unsigned int *){esp0:#x}"),
        "reverse-continue",
        "monitor position",
        "info registers",
    ]);
    assert!(out.to_lowercase().contains("read watchpoint 1"), "{out}");
    assert!(out.contains(&format!("position {at_entry}\n")), "{out}");
    same_regs(&out, &lesson, at_entry);
    let out = s.gdb(&[
        &format!("rwatch *(unsigned int *){esp0:#x}"),
        "reverse-continue",
        "monitor position",
    ]);
    assert!(out.contains("No more reverse-execution history"), "{out}");
    assert!(out.contains("position 0\n"), "{out}");
}

/// The step count of `ringstep trace ARGS MORE --quiet`'s stop line.
fn stop_steps(args: &[&str], more: &[&str]) -> u64 {
    let mut cmd = Command::new(BIN);
    cmd.arg("trace").args(args).args(more).arg("--quiet");
    let out = proc::output_within(&mut cmd, &Deadline::generous("ringstep trace --quiet"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split(" after ")
        .last()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step count in:\n{text}"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringstep-gdb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}

/// A loop that never ends, in a file for `--asm`.
fn endless_loop() -> PathBuf {
    let dir = scratch("loop");
    let file = dir.join("loop.S");
    std::fs::write(&file, "1:\tinc %eax\n\tadd $3, %ebx\n\tjmp 1b\n").expect("write loop.S");
    file
}

#[test]
fn ctrl_c_malformed_packets_and_a_second_client() {
    let file = endless_loop();
    let path = file.to_str().expect("a UTF-8 path");
    let s = Server::start(&["--asm", path]);
    let mut c = s.connect();
    c.send(&packet("?"));
    assert!(c.reply().starts_with('T'));
    // Malformed: an error reply, and the connection still answers.
    c.send(&packet("m zz,4"));
    assert_eq!(c.reply(), "E01");
    c.send(b"$g#00");
    assert_eq!(c.reply(), "E01");
    c.send(&packet("g"));
    let regs = c.reply();
    assert!(!regs.is_empty() && !regs.starts_with('E'), "{regs}");
    // A second client is refused while this one is attached.
    let mut second = s.connect();
    let refusal = second.reply();
    assert!(refusal.contains("one client at a time"), "{refusal}");
    // Continue for ever, then Ctrl-C: a SIGINT stop (S02, or T02 with the thread), and
    // the machine moved.
    c.send(&packet("vCont;c"));
    std::thread::sleep(Duration::from_millis(300));
    c.send(b"\x03");
    let stop = c.reply();
    assert!(stop.starts_with("T02") || stop == "S02", "{stop}");
    let moved = c.position();
    assert!(moved > 1000, "the run went only to position {moved}");
}

#[test]
fn stepi_matches_the_trace_on_an_asm_file() {
    if !common::require_tool("gdb") {
        return;
    }
    let file = endless_loop();
    let path = file.to_str().expect("a UTF-8 path");
    let s = Server::start(&["--asm", path]);
    let out = s.gdb(&cmds(&[&stepi(10), &["info registers"]]));
    same_regs(&out, &["--asm", path], 10);
}

#[test]
fn stepi_matches_the_trace_on_a_booted_example_kernel() {
    if !common::require_tool("gdb") {
        return;
    }
    let dir = scratch("kernel");
    let elf = dir.join("k.elf");
    let elf = elf.to_str().expect("a UTF-8 path");
    let mut asm = Command::new(BIN);
    asm.args(["asm", "--example", "32", "-o", elf]);
    common::run_tool(&mut asm).unwrap_or_else(|e| panic!("{e}"));
    let s = Server::start(&["--boot", elf]);
    let out = s.gdb(&cmds(&[&stepi(40), &["info registers"]]));
    same_regs(&out, &["--boot", elf], 40);
    // With the ELF's symbols, gdb sets a breakpoint by name.
    let out = s.gdb(&[
        &format!("file {elf}"),
        "break sysenter_entry",
        "continue",
        "info registers",
        "monitor position",
    ]);
    let pos: u64 = out
        .split("position ")
        .last()
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no position in:\n{out}"));
    same_regs(&out, &["--boot", elf], pos);
    assert!(out.contains("sysenter_entry"), "{out}");
}

#[test]
fn a_64_bit_machine_is_served_as_amd64() {
    if !common::require_tool("gdb") {
        return;
    }
    let preset = ["--preset", "linux-x86_64"];
    let s = Server::start(&preset);
    let out = s.gdb(&["stepi 5", "info registers"]);
    let got = gdb_regs(&out);
    let want = trace_regs(&preset, 5);
    for r in [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r11", "r15", "rip", "cs",
        "ss", "ds", "es", "fs", "gs",
    ] {
        assert_eq!(got.get(r), want.get(r), "{r}\n{out}");
    }
    assert_eq!(got.get("eflags"), want.get("rflags"), "{out}");
}

/// The lines of `monitor info mem` in a gdb transcript (QEMU's format).
fn info_mem_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.len() > 40 && l.as_bytes().get(16) == Some(&b'-'))
        .map(str::to_string)
        .collect()
}

#[test]
fn monitor_info_mem_prints_what_qemus_monitor_prints() {
    let tools = ["gdb", "qemu-system-i386", "qemu-system-x86_64"];
    if !tools.iter().all(|t| common::require_tool(t)) {
        return;
    }
    let dir = scratch("infomem");
    for (bits, qemu) in [("32", "qemu-system-i386"), ("64", "qemu-system-x86_64")] {
        let elf = dir.join(format!("k{bits}.elf"));
        let elf = elf.to_str().expect("a UTF-8 path");
        let mut asm = Command::new(BIN);
        asm.args(["asm", "--example", bits, "-o", elf]);
        common::run_tool(&mut asm).unwrap_or_else(|e| panic!("{e}"));
        let at_int80 = [
            "monitor info mem",
            &format!("symbol-file {elf}") as &str,
            "break int80_entry",
            "continue",
            "monitor info mem",
        ];
        let s = Server::start(&["--boot", elf]);
        let ours = s.gdb(&at_int80);
        let mut cmd = Command::new("gdb");
        cmd.args(["-batch", "-nx", "-ex", "set pagination off", "-ex"]);
        cmd.arg(format!(
            "target remote | exec {qemu} -gdb stdio -S -kernel {elf} -display none \
             -monitor none -nodefaults -no-reboot"
        ));
        for c in at_int80 {
            cmd.args(["-ex", c]);
        }
        cmd.args(["-ex", "kill"]);
        let out = proc::output_within(&mut cmd, &Deadline::generous(qemu))
            .unwrap_or_else(|e| panic!("{e}"));
        let theirs = common::text(&out.stdout) + &common::text(&out.stderr);
        // Before the kernel turns paging on, both say so.
        assert!(ours.contains("PG disabled"), "{ours}");
        assert!(theirs.contains("PG disabled"), "{theirs}");
        let want = info_mem_lines(&theirs);
        assert!(want.len() >= 3, "QEMU's monitor said:\n{theirs}");
        assert_eq!(
            info_mem_lines(&ours),
            want,
            "ringstep:\n{ours}\nQEMU:\n{theirs}"
        );
    }
}
