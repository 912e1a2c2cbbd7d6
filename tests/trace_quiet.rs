//! `ringstep trace --quiet`: only the machine's last state and the stop record, from a
//! run on the engine's fast path; it stops where the full trace stops, in the same
//! state, with the same stop record (docs/trace-format.md).

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("trace")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {BIN}: {e}"))
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "trace {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8")
}

fn records(args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The runs compared quietly and in full: every way a trace stops.
const RUNS: &[&[&str]] = &[
    &["sysenter"],
    &["sysenter", "--max-steps", "9"],
    &["--preset", "linux-x86_64"],
    &["int80", "--scene", "2"],
    &["mode-vs-context", "--scene", "2"],
    &["faults", "--scene", "3"],
    &["--bytes", "0f 30", "--at", "0x08048000"],
    &["sysenter", "--break", "sysenter_entry"],
    &["sysenter", "--break", "sysenter_entry if eax != 20"],
    &[
        "sysenter",
        "--break",
        "sysenter_entry if eax == 20",
        "--watch",
        "ebp",
    ],
    &["sysenter", "--watch", "mem 0xbffff3f4,4"],
    &["boot-msrs", "--watch", "msr IA32_SYSENTER_CS"],
    &["sysenter", "--until", "cpl"],
    &["faults", "--until", "fault"],
    &[
        "--bytes",
        "40 eb fd",
        "--at",
        "0x08048000",
        "--break",
        "0x08048000 if eax == 500",
    ],
];

#[test]
fn quiet_json_is_a_state_record_then_the_stop_record() {
    let r = records(&["sysenter", "--break", "sysenter_entry", "--quiet"]);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0]["kind"], "state");
    assert_eq!(r[0]["steps"], 7);
    assert_eq!(r[0]["mode"], "protected32");
    assert_eq!(r[0]["cpl"], 0);
    for k in ["regs", "segs", "msrs", "gdtr", "idtr", "tr", "cr"] {
        assert!(!r[0][k].is_null(), "state has {k}");
    }
    assert!(r[0].get("memory").is_none(), "memory is left out");
    assert_eq!(r[1]["kind"], "stop");
    assert_eq!(r[1]["reason"], "breakpoint");
    assert_eq!(r[1]["at"], "sysenter_entry");
    assert_eq!(r[1]["steps"], 7);
}

#[test]
fn quiet_text_is_the_registers_then_the_stop_line() {
    let out = ok(&["sysenter", "--break", "sysenter_entry", "--quiet"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "state after 7 steps: protected32, CPL 0");
    assert!(lines[1].starts_with("  eax=0x"), "{out}");
    assert!(lines[2].starts_with("  eip=0xc0102000 eflags="), "{out}");
    assert!(lines[3].starts_with("  cs=0x0060 ss=0x0068"), "{out}");
    assert!(lines[4].starts_with("  cr0=0x"), "{out}");
    assert_eq!(
        lines[5],
        "stop: breakpoint 1 (`sysenter_entry`) at 0xc0102000 (sysenter_entry) after 7 steps"
    );
    assert_eq!(lines.len(), 6, "{out}");
}

/// The state a full JSON trace ends in: its last step record, or the init record.
fn last_state(full: &[Value]) -> &Value {
    full.iter()
        .rev()
        .find(|r| r["kind"] == "step" || r["kind"] == "init")
        .expect("an init record")
}

#[test]
fn quiet_runs_stop_where_full_traces_stop_in_the_same_state() {
    for args in RUNS {
        let full = records(args);
        let mut q = args.to_vec();
        q.push("--quiet");
        let quiet = records(&q);
        assert_eq!(quiet.len(), 2, "{args:?}");
        assert_eq!(
            quiet[1],
            full[full.len() - 1],
            "{args:?}: the same stop record"
        );
        let end = last_state(&full);
        for k in ["regs", "segs", "cpl", "msrs"] {
            assert_eq!(quiet[0][k], end[k], "{args:?}: {k}");
        }
        assert_eq!(quiet[0]["steps"], quiet[1]["steps"], "{args:?}");
        // The text stop line is the same too.
        let text_full = ok(args);
        let text_quiet = ok(&q);
        assert_eq!(
            text_quiet.lines().last(),
            text_full.lines().last(),
            "{args:?}"
        );
    }
}

#[test]
fn a_quiet_run_goes_far_to_a_breakpoint() {
    // `inc %eax; jmp .-3` at user_text: a million turns before the condition holds.
    let r = records(&[
        "--bytes",
        "40 eb fd",
        "--at",
        "0x08048000",
        "--break",
        "0x08048000 if eax == 1000000",
        "--max-steps",
        "5000000",
        "--quiet",
    ]);
    assert_eq!(r[1]["reason"], "breakpoint", "{:?}", r[1]);
    assert_eq!(r[1]["steps"], 2_000_000);
    assert_eq!(r[0]["regs"]["eax"], 1_000_000);
    // Without conditions: the step limit, every step run.
    let r = records(&[
        "--bytes",
        "40 eb fd",
        "--at",
        "0x08048000",
        "--max-steps",
        "3000001",
        "--quiet",
    ]);
    assert_eq!(r[1]["reason"], "limit");
    assert_eq!(r[1]["steps"], 3_000_001);
    assert_eq!(r[0]["regs"]["eax"], 1_500_001);
}
