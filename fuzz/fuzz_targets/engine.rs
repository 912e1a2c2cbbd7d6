//! The engine on arbitrary machine code: the bytes replace the user code of a preset
//! machine at its first instruction (the first byte picks the 32- or 64-bit preset) and
//! run for at most `STEPS` steps three ways: recorded (`Engine::run`), on the unrecorded
//! fast path (`run_raw`), and with the fast instruction forms off. All three must end in
//! the same machine with the same stop; stepping the recorded run back to its start must
//! give the initial machine again. (The presets are loaded once: loading one assembles
//! its kernel, which would dominate every run.)

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringstep::engine::Engine;
use ringstep::scenario::{self, Scenario};

const STEPS: u64 = 2_000;

fn preset(bits64: bool) -> Option<&'static Scenario> {
    static PRESETS: OnceLock<[Option<Scenario>; 2]> = OnceLock::new();
    let p = PRESETS.get_or_init(|| {
        [
            scenario::preset("linux-2.6-i386").ok(),
            scenario::preset("linux-x86_64").ok(),
        ]
    });
    p[bits64 as usize].as_ref()
}

fn engine(s: &Scenario, code: &[u8]) -> Engine {
    let mut m = s.machine.clone();
    let at = m.cpu.rip;
    m.mem.poke(at, code);
    let mut e = Engine::new(m);
    e.set_stop_at(s.stop_at.clone());
    e
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, code)) = data.split_first() else {
        return;
    };
    let Some(s) = preset(which & 1 == 1) else {
        return;
    };
    let code = &code[..code.len().min(4096)];
    let mut recorded = engine(s, code);
    let initial = recorded.machine().clone();
    let stop = recorded.run(STEPS);
    let mut raw = engine(s, code);
    let raw_stop = raw.run_raw(STEPS);
    let mut slow = engine(s, code);
    slow.set_fast_path(false);
    let slow_stop = slow.run(STEPS);
    assert_eq!(stop.reason, raw_stop.reason, "stop: recorded vs fast path");
    assert_eq!(stop.reason, slow_stop.reason, "stop: fast forms on vs off");
    assert!(
        recorded.machine() == raw.machine(),
        "machine: recorded vs fast path"
    );
    assert!(
        recorded.machine() == slow.machine(),
        "machine: fast forms on vs off"
    );
    while recorded.step_back() {}
    assert!(recorded.machine() == &initial, "stepping back to the start");
});
