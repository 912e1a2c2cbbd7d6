//! The ELF loader on arbitrary bytes, the way `--elf FILE` loads a file: read it into an
//! image (`Image::from_elf`), place it in the preset of its class (`place::place`; the
//! presets are loaded once), apply every kernel alternative it lists (as `--alt` would,
//! one by one), and map it into the machine (`place::map`).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringstep::load::{place, Image};
use ringstep::scenario::{self, Scenario};

fn preset(bits: u32) -> Option<&'static Scenario> {
    static PRESETS: OnceLock<[Option<Scenario>; 2]> = OnceLock::new();
    let p = PRESETS.get_or_init(|| {
        [
            scenario::preset("linux-2.6-i386").ok(),
            scenario::preset("linux-x86_64").ok(),
        ]
    });
    p[(bits == 64) as usize].as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut image) = Image::from_elf(data, "fuzz.elf") else {
        return;
    };
    let Some(s) = preset(image.bits) else {
        return;
    };
    if place::place(&mut image, None, s).is_err() {
        return;
    }
    let alts = image.alternatives.clone();
    for n in 0..alts.list().len().min(64) {
        let _ = alts.apply(&mut image, n);
    }
    let _ = image.alternatives.select("all", "fuzz.elf");
    let mut m = s.machine.clone();
    let _ = place::map(&mut m, &image, "fuzz.elf");
});
