//! The scenario loader on arbitrary text, as `--machine FILE.toml` reads a machine
//! (`scenario::load_str`). A scenario that loads is run for a bounded number of steps.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::engine::Engine;
use ringstep::scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = scenario::load_str(text, "fuzz.toml") else {
        return;
    };
    let mut e = Engine::new(s.machine);
    e.set_stop_at(s.stop_at);
    let _ = e.run(s.max_steps.unwrap_or(1000).min(2_000));
});
