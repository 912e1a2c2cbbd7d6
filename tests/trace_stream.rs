//! A trace streams: however many steps it writes, the engine keeps no history (only a
//! step count) and the writer's cache holds only the instructions the run went through,
//! so memory stays flat in the number of steps.

use ringstep::disasm::Syntax;
use ringstep::engine::{Engine, StopReason};
use ringstep::trace::{self, Format, Writer};

mod common;

fn trace_loop(format: Format, steps: u64) -> (Engine, usize) {
    // `loop: push %eax; pop %ebx; dec %ecx; jnz loop` at CPL 0: a memory write every
    // fourth step.
    let mut m = common::with_code(common::kernel32(), "50 5b 49 75 fb");
    m.cpu.gpr[1] = u32::MAX as u64;
    let symbols = m.symbols.clone();
    let mut e = Engine::new(m);
    let mut sink = std::io::sink();
    let mut w = Writer::new(format, &symbols, Syntax::Att, &mut sink);
    let stop = trace::run_engine(&mut e, "loop", &mut w, steps).expect("a sink takes it all");
    assert_eq!(stop.reason, StopReason::Limit);
    let cached = w.cached_instructions();
    (e, cached)
}

#[test]
fn a_long_trace_keeps_no_history() {
    for format in [Format::Text, Format::Json] {
        for steps in [1_000, 100_000] {
            let (e, cached) = trace_loop(format, steps);
            assert_eq!(e.step_count(), steps, "{format:?}");
            assert_eq!(
                e.history_len(),
                0,
                "{format:?}: no history after {steps} steps"
            );
            assert_eq!(cached, 4, "{format:?}: the loop's four instructions");
        }
    }
}

#[test]
fn step_numbers_go_on_counting_without_history() {
    let mut m = common::with_code(common::kernel32(), "40 01 da 49 75 fa");
    m.cpu.gpr[1] = 1000;
    let symbols = m.symbols.clone();
    let mut e = Engine::new(m);
    let mut out = Vec::new();
    let mut w = Writer::new(Format::Text, &symbols, Syntax::Att, &mut out);
    trace::run_engine(&mut e, "loop", &mut w, 10).expect("writes to a Vec");
    let text = String::from_utf8(out).expect("UTF-8");
    let numbers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        numbers,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "stop:"]
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("stop: step limit reached after 10 steps, at 0xc0100003"),
        "{last}"
    );
}

/// Port accesses at CPL 0 appear as `port_read` / `port_write` events with their port,
/// size and value, in both formats (`in $0x40,%al; out %al,$0x80`).
#[test]
fn port_accesses_are_trace_events() {
    let m = common::with_code(common::kernel32(), "e4 40 e6 80");
    let symbols = m.symbols.clone();
    let mut e = Engine::new(m);
    let mut out = Vec::new();
    let mut w = Writer::new(Format::Json, &symbols, Syntax::Att, &mut out);
    trace::run_engine(&mut e, "ports", &mut w, 2).expect("writes to a Vec");
    drop(w);
    let text = String::from_utf8(out).expect("UTF-8");
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "step")
        .flat_map(|v| v["events"].as_array().cloned().unwrap_or_default())
        .collect();
    // No device in this machine: `device` is null (unmodelled).
    let read = serde_json::json!({"kind": "port_read", "port": 0x40, "size": 1, "value": 0xff, "device": null});
    let write = serde_json::json!({"kind": "port_write", "port": 0x80, "size": 1, "value": 0xff, "device": null});
    assert_eq!(events, [read, write], "{text}");
}
