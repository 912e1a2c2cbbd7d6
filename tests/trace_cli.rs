//! `ringstep trace` as a user runs it: the real binary, its exit status, its text and
//! `ringstep-trace/1` JSON Lines output (docs/trace-format.md), and its error messages.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");
const I386: &str = "linux-2.6-i386";
const X86_64: &str = "linux-x86_64";
/// `_start` of the i386 preset's user program (user_text).
const I386_USER_TEXT: &str = "0x08048000";
const X86_64_USER_TEXT: &str = "0x401000";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the ringstep binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Run, expect exit status 0, return stdout.
fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "ringstep {args:?} failed; stderr:\n{}",
        stderr(&o)
    );
    stdout(&o)
}

/// Run, expect exit status 2 and nothing on stdout; return stderr.
fn usage_error(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(2),
        "ringstep {args:?} should fail with status 2; stdout:\n{}",
        stdout(&o)
    );
    assert!(o.stdout.is_empty(), "no trace on a usage error");
    let err = stderr(&o);
    assert!(!err.trim().is_empty(), "a usage error says what is wrong");
    err
}

/// Run with `--format json`; every line must parse.
fn json(args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    ok(&all)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect()
}

/// The stop line: the last line, or for a fault the line above its indented chain.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.starts_with("  "))
        .expect("some output")
}

/// The indented chain lines under a fault's stop line.
fn chain_lines(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text
        .lines()
        .rev()
        .take_while(|l| l.starts_with("  "))
        .collect();
    v.reverse();
    v
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an unsigned integer, got {v}"))
}

fn steps(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["kind"] == "step").collect()
}

fn stop_record(records: &[Value]) -> &Value {
    let last = records.last().expect("some records");
    assert_eq!(last["kind"], "stop", "the last record is the stop");
    last
}

fn step_with_asm<'a>(records: &'a [Value], asm: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["kind"] == "step" && r["asm"] == asm)
        .unwrap_or_else(|| panic!("no step runs `{asm}`"))
}

fn has_event(step: &Value, kind: &str) -> bool {
    step["events"]
        .as_array()
        .expect("events is an array")
        .iter()
        .any(|e| e["kind"] == kind)
}

/// A 32-bit little-endian value from the machine's memory as the init record lists it.
fn init_read_u32(init: &Value, addr: u64) -> u32 {
    for r in init["memory"].as_array().expect("memory is an array") {
        let base = u(&r["base"]);
        let size = u(&r["size"]);
        if addr >= base && addr + 4 <= base + size {
            let hex = r["bytes"].as_str().expect("bytes is a hex string");
            let off = 2 * (addr - base) as usize;
            let byte = |i: usize| {
                u8::from_str_radix(&hex[off + 2 * i..off + 2 * i + 2], 16).expect("hex byte")
            };
            return u32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)]);
        }
    }
    panic!("{addr:#x} is in no region of the init record");
}

/// A scratch file for one test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("ringstep-trace-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write a temp file");
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Text traces of the presets
// ---------------------------------------------------------------------------

#[test]
fn trace_without_arguments_runs_the_i386_preset() {
    let out = ok(&["trace"]);
    assert!(last_line(&out).starts_with("stop: end after "), "{out}");
    assert_eq!(out, ok(&["trace", "--preset", I386]), "the i386 preset");
}

#[test]
fn bare_ringstep_without_a_terminal_points_at_trace() {
    // Bare `ringstep` opens the interactive viewer, which needs a terminal; `output()`
    // gives it none.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ringstep trace"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn i386_text_trace_goes_through_sysenter_and_sysexit() {
    let out = ok(&["trace", "--preset", I386]);
    let last = last_line(&out);
    assert!(
        last.starts_with("stop: end after ") && last.contains("(user_return)"),
        "{last}"
    );
    let sysenter = out
        .lines()
        .position(|l| l.contains(" sysenter "))
        .expect("a sysenter line");
    let sysexit = out
        .lines()
        .position(|l| l.contains(" sysexit "))
        .expect("a sysexit line");
    assert!(sysenter < sysexit);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[sysenter].contains("<ring 3 -> ring 0>"),
        "{}",
        lines[sysenter]
    );
    assert!(
        lines[sysexit].contains("<ring 0 -> ring 3>"),
        "{}",
        lines[sysexit]
    );
    // Every line but the last is a step, numbered from 0.
    for (i, l) in lines[..lines.len() - 1].iter().enumerate() {
        let n: usize = l
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("step line starts with its number: {l}"));
        assert_eq!(n, i);
    }
    assert!(last.contains(&format!("after {} steps", lines.len() - 1)));
}

#[test]
fn x86_64_text_trace_goes_through_syscall_and_sysretq() {
    let out = ok(&["trace", "--preset", X86_64]);
    let last = last_line(&out);
    assert!(last.starts_with("stop: end after "), "{last}");
    let syscall = out
        .lines()
        .position(|l| l.contains(" syscall "))
        .expect("a syscall line");
    let sysret = out
        .lines()
        .position(|l| l.contains(" sysretq "))
        .expect("a sysretq line");
    assert!(syscall < sysret);
    assert!(out.contains("swapgs"));
}

// ---------------------------------------------------------------------------
// JSON Lines
// ---------------------------------------------------------------------------

const STEP_FIELDS: &[&str] = &[
    "kind",
    "n",
    "ip",
    "bytes",
    "asm",
    "outcome",
    "regs",
    "segs",
    "cpl",
    "msrs",
    "changed",
    "mem_writes",
    "events",
];

fn check_shape(records: &[Value], mode: &str) {
    assert!(records.len() >= 2);
    let init = &records[0];
    assert_eq!(init["kind"], "init");
    assert_eq!(init["schema"], "ringstep-trace/1");
    assert_eq!(init["mode"], mode);
    for f in [
        "scenario", "regs", "segs", "cpl", "msrs", "gdtr", "idtr", "tr", "cr", "memory", "symbols",
    ] {
        assert!(init.get(f).is_some(), "init has `{f}`");
    }
    let stop = stop_record(records);
    let body = &records[1..records.len() - 1];
    for (i, s) in body.iter().enumerate() {
        assert_eq!(s["kind"], "step", "records between init and stop are steps");
        let o = s.as_object().expect("a step is an object");
        for f in STEP_FIELDS {
            assert!(o.contains_key(*f), "step {i} has `{f}`: {s}");
        }
        assert_eq!(u(&s["n"]), i as u64, "n counts from 0");
        assert!(s["bytes"].as_str().is_some());
        assert!(s["asm"].as_str().is_some_and(|a| !a.is_empty()));
        assert_eq!(s["outcome"], "executed");
        assert!(s["cpl"].as_u64().is_some_and(|c| c <= 3));
        for c in s["changed"].as_array().expect("changed is an array") {
            assert!(c["name"].is_string() && c.get("old").is_some() && c.get("new").is_some());
        }
        for w in s["mem_writes"].as_array().expect("mem_writes is an array") {
            assert!(w["addr"].is_u64());
            let (old, new) = (w["old"].as_str().unwrap(), w["new"].as_str().unwrap());
            assert_eq!(old.len(), new.len());
            assert!(matches!(new.len(), 2 | 4 | 8 | 16), "{w}");
        }
        for e in s["events"].as_array().expect("events is an array") {
            assert!(e["kind"].is_string());
        }
    }
    assert_eq!(u(&stop["steps"]), body.len() as u64);
}

#[test]
fn i386_json_trace() {
    let r = json(&["trace", "--preset", I386]);
    check_shape(&r, "protected32");
    let init = &r[0];
    assert_eq!(init["scenario"], I386);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "end");
    assert_eq!(u(&stop["ip"]), u(&init["symbols"]["user_return"]));

    // CPL: 3 at the start, 0 inside, 3 at the end; exactly two transitions.
    let mut cpls = vec![u(&init["cpl"])];
    cpls.extend(steps(&r).iter().map(|s| u(&s["cpl"])));
    cpls.dedup();
    assert_eq!(cpls, [3, 0, 3]);

    let sysenter = step_with_asm(&r, "sysenter");
    assert_eq!(u(&sysenter["segs"]["cs"]["sel"]), 0x60);
    assert_eq!(u(&sysenter["segs"]["ss"]["sel"]), 0x68);
    assert_eq!(u(&sysenter["cpl"]), 0);
    let sysenter_esp = u(&sysenter["msrs"]["0x175"]);
    assert_eq!(u(&sysenter["regs"]["esp"]), sysenter_esp);
    assert_eq!(u(&sysenter["regs"]["eip"]), u(&sysenter["msrs"]["0x176"]));
    assert_eq!(
        u(&sysenter["regs"]["eip"]),
        u(&init["symbols"]["sysenter_entry"])
    );
    assert!(has_event(sysenter, "privilege_change"));
    let pc = sysenter["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "privilege_change")
        .unwrap();
    assert_eq!((u(&pc["from"]), u(&pc["to"])), (3, 0));
    let switch = sysenter["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stack_switch")
        .expect("sysenter switches stacks");
    assert_eq!(switch["via"], "IA32_SYSENTER_ESP");
    assert_eq!(u(&switch["to_sp"]), sysenter_esp);
    // `changed` starts with eip, and IF is cleared.
    let changed = sysenter["changed"].as_array().unwrap();
    assert_eq!(changed[0]["name"], "eip");
    let eflags = changed
        .iter()
        .find(|c| c["name"] == "eflags")
        .expect("sysenter changes eflags");
    assert_eq!(eflags["cleared"], serde_json::json!(["IF"]));
    assert_eq!(eflags["set"], serde_json::json!([]));
    let cs = changed.iter().find(|c| c["name"] == "cs").unwrap();
    assert_eq!(u(&cs["old"]["sel"]), 0x73);
    assert_eq!(u(&cs["new"]["sel"]), 0x60);
    assert_eq!(u(&cs["new"]["dpl"]), 0);

    let sysexit = step_with_asm(&r, "sysexit");
    assert!(has_event(sysexit, "privilege_change"));
    assert_eq!(u(&sysexit["cpl"]), 3);
    assert_eq!(u(&sysexit["segs"]["cs"]["sel"]), 0x73);
    assert_eq!(u(&sysexit["segs"]["ss"]["sel"]), 0x7b);

    // getpid's result is the pid the preset gives the task (task_struct offset 8).
    let task = u(&init["symbols"]["a_out_task"]);
    let pid = init_read_u32(init, task + 8);
    assert_eq!(pid, 1234);
    let last = steps(&r).last().copied().unwrap();
    assert_eq!(u(&last["regs"]["eax"]), pid as u64);
    // The kernel stored it in pt_regs.eax: a 4-byte memory write of the pid.
    let pid_hex: String = pid
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(steps(&r).iter().any(|s| s["mem_writes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["new"] == pid_hex.as_str())));
}

#[test]
fn x86_64_json_trace() {
    let r = json(&["trace", "--preset", X86_64]);
    check_shape(&r, "long64");
    let init = &r[0];
    assert!(init["regs"].get("rax").is_some() && init["regs"].get("rip").is_some());
    assert_eq!(stop_record(&r)["reason"], "end");
    let mut cpls = vec![u(&init["cpl"])];
    cpls.extend(steps(&r).iter().map(|s| u(&s["cpl"])));
    cpls.dedup();
    assert_eq!(cpls, [3, 0, 3]);
    let syscall = step_with_asm(&r, "syscall");
    assert!(has_event(syscall, "privilege_change"));
    assert_eq!(
        u(&syscall["regs"]["rip"]),
        u(&syscall["msrs"]["0xc0000082"])
    );
    let swapgs = step_with_asm(&r, "swapgs");
    assert!(has_event(swapgs, "swapgs"));
    let sysret = step_with_asm(&r, "sysretq");
    assert!(has_event(sysret, "privilege_change"));
    assert_eq!(u(&sysret["segs"]["cs"]["sel"]), 0x33);
    // getpid: the pid the preset gives the task (task_struct offset 0x14 is tgid).
    let task = u(&init["symbols"]["a_out_task"]);
    let tgid = init_read_u32(init, task + 0x14);
    let last = steps(&r).last().copied().unwrap();
    assert_eq!(u(&last["regs"]["rax"]), tgid as u64);
    assert_eq!(tgid, 4321);
}

#[test]
fn json_and_text_traces_agree() {
    let text = ok(&["trace", "--preset", I386]);
    let r = json(&["trace", "--preset", I386]);
    let text_steps = text.lines().count() - 1;
    assert_eq!(steps(&r).len(), text_steps);
    for (line, s) in text.lines().zip(steps(&r)) {
        assert!(line.contains(s["asm"].as_str().unwrap()), "{line} vs {s}");
    }
}

// ---------------------------------------------------------------------------
// --bytes / --at, stops
// ---------------------------------------------------------------------------

#[test]
fn bytes_at_kernel_vsyscall_enter_the_kernel() {
    let args = [
        "trace",
        "--preset",
        I386,
        "--bytes",
        "51 52 55 89 e5 0f 34",
        "--at",
        "0xffffe400",
    ];
    let r = json(&args);
    let s = steps(&r);
    assert_eq!(u(&s[0]["ip"]), 0xffffe400);
    assert_eq!(s[0]["bytes"], "51");
    assert_eq!(s[4]["bytes"], "0f34");
    assert_eq!(s[4]["asm"], "sysenter");
    assert_eq!(u(&s[4]["cpl"]), 0);
    assert_eq!(u(&s[5]["ip"]), u(&r[0]["symbols"]["sysenter_entry"]));
    let text = ok(&args);
    assert!(text.lines().nth(4).unwrap().contains("<ring 3 -> ring 0>"));
    // The placed bytes are in the init record's memory.
    let vsyscall = r[0]["memory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| u(&m["base"]) == 0xffffe000)
        .unwrap();
    assert_eq!(
        &vsyscall["bytes"].as_str().unwrap()[0x800..0x80e],
        "51525589e50f34"
    );
}

#[test]
fn wrmsr_at_cpl3_stops_with_gp0() {
    let r = json(&["trace", "--bytes", "0f 30", "--at", I386_USER_TEXT]);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "fault");
    assert_eq!(u(&stop["steps"]), 0);
    assert_eq!(u(&stop["ip"]), 0x0804_8000);
    assert_eq!(stop["asm"], "wrmsr");
    assert_eq!(u(&stop["vector"]), 13);
    assert_eq!(stop["name"], "#GP");
    assert_eq!(u(&stop["error_code"]), 0);
    let why = stop["explanation"].as_str().unwrap();
    assert!(why.contains("CPL"), "{why}");
    let text = ok(&["trace", "--bytes", "0f 30", "--at", I386_USER_TEXT]);
    assert!(
        last_line(&text).starts_with("stop: fault at 0x8048000"),
        "{text}"
    );
    assert!(text.contains("#GP(0x0)"));
    // Under the stop line, the chain: the #GP, then the missing #GP handler.
    let chain = chain_lines(&text);
    assert_eq!(chain.len(), 2, "{text}");
    assert!(chain[0].starts_with("  1. #GP(0x0): "), "{text}");
    assert!(chain[1].starts_with("  2. no handler for #GP: "), "{text}");
    let links = stop["chain"].as_array().expect("a chain");
    assert_eq!(links.len(), 2, "{stop}");
    assert_eq!(u(&links[0]["vector"]), 13);
    assert_eq!(links[0]["name"], "#GP");
    assert_eq!(u(&links[0]["error_code"]), 0);
    assert!(links[0]["cr2"].is_null());
    assert_eq!(links[1]["name"], "no handler for #GP");
    assert!(links[1]["error_code"].is_null());
    assert!(links[1]["reason"].as_str().unwrap().contains("SDM Vol. 3A"));
    // The same in 64-bit mode.
    let r = json(&[
        "trace",
        "--preset",
        X86_64,
        "--bytes",
        "0f30",
        "--at",
        X86_64_USER_TEXT,
    ]);
    assert_eq!(u(&stop_record(&r)["vector"]), 13);
}

#[test]
fn swapgs_outside_64_bit_mode_is_ud() {
    let r = json(&["trace", "--bytes", "0f 01 f8", "--at", I386_USER_TEXT]);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "fault");
    assert_eq!(u(&stop["vector"]), 6);
    assert_eq!(stop["name"], "#UD");
    assert!(stop["error_code"].is_null(), "#UD has no error code");
    assert!(stop["explanation"].is_string());
    assert!(stop.get("cr2").is_none());
}

#[test]
fn an_x87_instruction_is_unsupported() {
    let r = json(&["trace", "--bytes", "db e3", "--at", I386_USER_TEXT]);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "unsupported");
    assert_eq!(stop["unsupported"], "fninit");
    assert_eq!(stop["asm"], "fninit");
    let text = ok(&["trace", "--bytes", "db e3", "--at", I386_USER_TEXT]);
    assert!(
        last_line(&text).contains("unsupported") && last_line(&text).contains("fninit"),
        "{text}"
    );
}

#[test]
fn returning_to_address_zero_is_a_page_fault_with_cr2() {
    // __kernel_vsyscall entered by a jump rather than a call: its final ret pops 0.
    let r = json(&[
        "trace",
        "--bytes",
        "51 52 55 89 e5 0f 34",
        "--at",
        "0xffffe400",
    ]);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "fault");
    assert_eq!(u(&stop["vector"]), 14);
    assert_eq!(u(&stop["cr2"]), 0);
    assert_eq!(u(&stop["ip"]), 0);
    // user-mode instruction fetch from a not-present page: U/S | I/D
    assert_eq!(u(&stop["error_code"]), 0x14);
}

#[test]
fn max_steps_stops_with_limit() {
    let r = json(&["trace", "--max-steps", "3"]);
    assert_eq!(steps(&r).len(), 3);
    let stop = stop_record(&r);
    assert_eq!(stop["reason"], "limit");
    assert_eq!(u(&stop["steps"]), 3);
    let text = ok(&["trace", "--max-steps", "3"]);
    assert_eq!(text.lines().count(), 4);
    assert!(last_line(&text).starts_with("stop: step limit reached after 3 steps"));
    let r = json(&["trace", "--max-steps", "0"]);
    assert_eq!(r.len(), 2);
    assert_eq!(stop_record(&r)["reason"], "limit");
}

#[test]
fn scenario_file_runs_with_its_interrupts() {
    let f = TempFile::new(
        "irq.toml",
        "preset = \"linux-2.6-i386\"\n\n[[interrupts]]\nbefore_step = 12\nvector = 0x20\n",
    );
    let r = json(&["trace", f.path()]);
    assert_eq!(r[0]["scenario"], I386);
    let s = steps(&r);
    let irq = s[12];
    assert_eq!(irq["outcome"], "interrupt");
    assert_eq!(irq["bytes"], "");
    assert!(irq["asm"].as_str().unwrap().contains("interrupt 0x20"));
    assert!(has_event(irq, "irq_raised"));
    let delivered = irq["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivered")
        .unwrap();
    assert_eq!(delivered["source"], "external");
    assert_eq!(delivered["gate"], "interrupt");
    assert_eq!(u(&delivered["vector"]), 0x20);
    assert_eq!(u(&delivered["handler"]), u(&r[0]["symbols"]["irq0_entry"]));
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn unknown_preset_suggests_the_nearest() {
    let err = usage_error(&["trace", "--preset", "linux-2.6-i368"]);
    assert!(err.starts_with("ringstep: "), "{err}");
    assert!(err.contains("unknown preset `linux-2.6-i368`"), "{err}");
    assert!(err.contains("did you mean `linux-2.6-i386`?"), "{err}");
}

#[test]
fn bad_bytes() {
    let err = usage_error(&["trace", "--bytes", "0f 3", "--at", I386_USER_TEXT]);
    assert!(
        err.contains("--bytes") && err.contains("odd number"),
        "{err}"
    );
    let err = usage_error(&["trace", "--bytes", "0f zz", "--at", I386_USER_TEXT]);
    assert!(
        err.contains("--bytes") && err.contains("not a hex digit"),
        "{err}"
    );
    let err = usage_error(&["trace", "--bytes", "", "--at", I386_USER_TEXT]);
    assert!(err.contains("no bytes"), "{err}");
}

#[test]
fn bad_at() {
    let err = usage_error(&["trace", "--bytes", "90", "--at", "0x1000"]);
    assert!(
        err.contains("--at 0x1000") && err.contains("no memory region"),
        "{err}"
    );
    assert!(
        err.contains("user_text at 0x8048000"),
        "lists the regions: {err}"
    );
    let err = usage_error(&["trace", "--bytes", "90", "--at", "nowhere"]);
    assert!(err.contains("not an address"), "{err}");
    let err = usage_error(&["trace", "--bytes", "90 90 90", "--at", "0x08048ffe"]);
    assert!(
        err.contains("run past the end of region `user_text`"),
        "{err}"
    );
    // --at needs --bytes; --bytes alone is loaded and called (docs/loading.md).
    usage_error(&["trace", "--at", I386_USER_TEXT]);
    let err = usage_error(&["trace", "--bytes", "zz"]);
    assert!(err.contains("--bytes"), "{err}");
}

#[test]
fn scenario_errors_point_at_file_line_col() {
    let f = TempFile::new(
        "bad-register.toml",
        "preset = \"linux-2.6-i386\"\n\n[regs]\nexa = 5\n",
    );
    let err = usage_error(&["trace", f.path()]);
    assert!(
        err.contains(&format!("{}:4:1: unknown register `exa`", f.path())),
        "{err}"
    );
    assert!(err.contains("did you mean `eax`?"), "{err}");
    let f = TempFile::new("bad-syntax.toml", "preset = \"linux-2.6-i386\"\n[regs\n");
    let err = usage_error(&["trace", f.path()]);
    assert!(err.contains(&format!("{}:2:", f.path())), "{err}");
}

#[test]
fn missing_scenario_file() {
    let err = usage_error(&["trace", "/nonexistent/ringstep/lesson.toml"]);
    assert!(
        err.contains("/nonexistent/ringstep/lesson.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn bad_options() {
    usage_error(&["trace", "--format", "xml"]);
    usage_error(&["trace", "--syntax", "nasm"]);
    usage_error(&["trace", "--max-steps", "-1"]);
    usage_error(&["trace", "--preset", I386, "lesson.toml"]);
    usage_error(&["trace", "--no-such-option"]);
}

// ---------------------------------------------------------------------------
// Syntax, determinism
// ---------------------------------------------------------------------------

#[test]
fn intel_syntax() {
    let att = ok(&["trace"]);
    let intel = ok(&["trace", "--syntax", "intel"]);
    assert!(att.contains("mov %esp,%ebp"));
    assert!(intel.contains("mov ebp,esp"));
    assert!(!intel.contains("%esp"));
    let r = json(&["trace", "--syntax", "intel"]);
    assert_eq!(steps(&r)[5]["asm"], "mov ebp,esp");
    // Only the disassembly differs.
    assert_eq!(att.lines().count(), intel.lines().count());
    assert_eq!(last_line(&att), last_line(&intel));
}

#[test]
fn traces_are_deterministic() {
    for args in [
        vec!["trace"],
        vec!["trace", "--format", "json"],
        vec!["trace", "--preset", X86_64, "--format", "json"],
        vec!["trace", "--bytes", "0f 30", "--at", I386_USER_TEXT],
    ] {
        let a = run(&args);
        let b = run(&args);
        assert_eq!(a.stdout, b.stdout, "{args:?}");
        assert_eq!(a.status.code(), b.status.code());
    }
}

#[test]
fn presets_subcommand_lists_both() {
    let out = ok(&["presets"]);
    assert!(out.lines().any(|l| l.starts_with(I386)));
    assert!(out.lines().any(|l| l.starts_with(X86_64)));
}
