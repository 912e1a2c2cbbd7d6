//! The lesson assembler on arbitrary text, the way `--asm FILE.S` assembles a file
//! (`asm::layout`, then `Layout::encode` against a preset machine's symbols, at the
//! preset's vDSO address), once for each preset (32- and 64-bit).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::asm::{self, SourceSection};
use ringstep::load::place;
use ringstep::scenario::{self, Scenario};

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
    for (preset, bits) in [("linux-2.6-i386", 32), ("linux-x86_64", 64)] {
        if let Ok(s) = scenario::preset(preset) {
            assemble(text, &s, bits);
        }
    }
});
