//! The engine on arbitrary machine code: the bytes are loaded the way `--bytes HEX` loads
//! them (`load::load`) into a preset (the first byte picks 32- or 64-bit) and run for at
//! most `STEPS` steps three ways: recorded (`Engine::run`), on the unrecorded fast path
//! (`run_raw`), and with the fast instruction forms off. All three must end in the same
//! machine with the same stop; stepping the recorded run back to its start must give the
//! initial machine again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::engine::Engine;
use ringstep::lesson;
use ringstep::load::{self, Input, MachineChoice, Setup};

const STEPS: u64 = 2_000;

fuzz_target!(|data: &[u8]| {
    let Some((&which, code)) = data.split_first() else {
        return;
    };
    if code.is_empty() {
        return;
    }
    let preset = if which & 1 == 0 {
        "linux-2.6-i386"
    } else {
        "linux-x86_64"
    };
    let hex: String = code.iter().map(|b| format!("{b:02x}")).collect();
    let setup = Setup {
        input: Input::Bytes(hex),
        machine: Some(MachineChoice::Preset(preset.to_string())),
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    let Ok(loaded) = load::load(&setup) else {
        return;
    };
    let Some(scene) = loaded.lesson.scenes.first() else {
        return;
    };
    let mut recorded = lesson::run::engine_for(scene);
    let initial = recorded.machine().clone();
    let stop = recorded.run(STEPS);
    let mut raw = lesson::run::engine_for(scene);
    let raw_stop = raw.run_raw(STEPS);
    let mut slow: Engine = lesson::run::engine_for(scene);
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
