//! The lesson loader on arbitrary text, as `ringstep check/run FILE.toml` reads a lesson
//! (`lesson::load_str`; `file = "..."` resolves among the shipped files, nothing is read
//! from disk). A lesson that loads is checked (`lesson::check`, as `ringstep check`
//! does) when its scenes' step limits are small, so one input stays fast.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::lesson::{self, FileSource};

/// Lessons whose scenes may run longer than this many steps are loaded but not played.
const MAX_PLAYED_STEPS: u64 = 20_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lesson) = lesson::load_str(text, "fuzz.toml", "fuzz", &FileSource::Shipped) else {
        return;
    };
    let short = lesson
        .scenes
        .iter()
        .all(|s| s.scenario.max_steps.unwrap_or(1000) <= MAX_PLAYED_STEPS);
    if short {
        let _ = lesson::check::check(&lesson);
    }
});
