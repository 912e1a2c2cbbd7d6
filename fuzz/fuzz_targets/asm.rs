//! The lesson assembler on arbitrary text, the way `--asm FILE.S` assembles a file
//! (`asm::layout`, then `Layout::encode` against a preset machine's symbols, at the
//! preset's vDSO address), once for each preset (32- and 64-bit; loaded once).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringstep::asm::{self, SourceSection};
use ringstep::load::place;
use ringstep::scenario::{self, Scenario};

fn presets() -> &'static [(Option<Scenario>, u32); 2] {
    static PRESETS: OnceLock<[(Option<Scenario>, u32); 2]> = OnceLock::new();
    PRESETS.get_or_init(|| {
        [
            (scenario::preset("linux-2.6-i386").ok(), 32),
            (scenario::preset("linux-x86_64").ok(), 64),
        ]
    })
}

fn assemble(text: &str, s: &Scenario, bits: u32) {
    let sections = [SourceSection {
        name: "fuzz.S",
        base: place::default_base(&s.machine),
        text,
    }];
    let Ok(layout) = asm::layout(&sections, bits) else {
        return;
    };
    let known: Vec<&str> = s.machine.symbols.names().collect();
    let resolve = |n: &str| s.machine.symbols.get(n);
    let _ = layout.encode(&resolve, &known);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (s, bits) in presets() {
        if let Some(s) = s {
            assemble(text, s, *bits);
        }
    }
});
