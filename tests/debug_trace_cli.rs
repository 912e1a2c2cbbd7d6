//! `ringstep trace --break/--watch/--until`: where and why a scripted run stops, in
//! text and JSON, and usage errors for bad specs.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("trace")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {BIN}: {e}"))
}

/// The stop line: the last line, or for a fault the line above its indented chain.
fn last_line(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .rev()
        .find(|l| !l.starts_with("  "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_breakpoint_stops_the_trace_before_the_instruction() {
    let o = run(&["sysenter", "--break", "sysenter_entry", "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let stop = lines.last().expect("a stop record");
    assert_eq!(stop["kind"], "stop");
    assert_eq!(stop["reason"], "breakpoint");
    assert_eq!(stop["id"], 1);
    assert_eq!(stop["spec"], "sysenter_entry");
    assert_eq!(stop["at"], "sysenter_entry");
    // init, the steps, stop: the steps count matches and the last step is the sysenter.
    let steps = stop["steps"].as_u64().unwrap_or(0) as usize;
    assert_eq!(lines.len(), steps + 2);
    assert_eq!(lines[steps]["asm"], "sysenter");
}

#[test]
fn watch_until_and_conditional_break_in_text() {
    let o = run(&["boot-msrs", "--watch", "msr IA32_SYSENTER_CS"]);
    assert!(o.status.success());
    assert_eq!(
        last_line(&o),
        "stop: watchpoint 1 (msr IA32_SYSENTER_CS (0x174)) changed by step 7: 0x0 -> 0x60; at 0xc0400022 (load_esp_msr) after 8 steps"
    );
    let o = run(&["sysenter", "--until", "cpl"]);
    assert_eq!(
        last_line(&o),
        "stop: CPL changed from 3 to 0 at 0xc0102000 (sysenter_entry) after 7 steps"
    );
    // The condition is false at the only visit: the trace runs to the scene's end.
    let o = run(&["sysenter", "--break", "sysenter_entry if eax != 20"]);
    assert!(
        last_line(&o).starts_with("stop: end after"),
        "{}",
        last_line(&o)
    );
    let o = run(&[
        "sysenter",
        "--break",
        "sysenter_entry if eax == 20",
        "--watch",
        "ebp",
    ]);
    let l = last_line(&o);
    assert!(l.starts_with("stop: watchpoint 2 (ebp)"), "{l}");
    let o = run(&["faults", "--until", "fault"]);
    assert!(
        last_line(&o).starts_with("stop: fault at"),
        "{}",
        last_line(&o)
    );
}

#[test]
fn bad_specs_are_usage_errors() {
    for (args, msg) in [
        (
            vec!["sysenter", "--watch", "eaz"],
            "ringstep: --watch `eaz`: column 1: unknown register `eaz` (did you mean `eax`?)",
        ),
        (
            vec!["sysenter", "--break", "sysenter_entry if eax = 1"],
            "ringstep: --break `sysenter_entry if eax = 1`: column 23: `=` is not a comparison; write `==`",
        ),
        (
            vec!["sysenter", "--watch", "msr 0x999"],
            "ringstep: --watch `msr 0x999`: column 5: unknown MSR `0x999`",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with(msg), "{args:?}: {err}");
    }
}
