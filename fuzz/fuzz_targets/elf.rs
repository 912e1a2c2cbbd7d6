//! The ELF loader on arbitrary bytes, the way `--elf FILE` loads a file: read it into an
//! image (`Image::from_elf`), place it in the preset of its class (`place::place`),
//! apply every kernel alternative it lists (as `--alt all` would, one by one), and map it
//! into the machine (`place::map`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::load::{place, Image};
use ringstep::scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(mut image) = Image::from_elf(data, "fuzz.elf") else {
        return;
    };
    let preset = if image.bits == 64 {
        "linux-x86_64"
    } else {
        "linux-2.6-i386"
    };
    let Ok(mut s) = scenario::preset(preset) else {
        return;
    };
    if place::place(&mut image, None, &s).is_err() {
        return;
    }
    let alts = image.alternatives.clone();
    for n in 0..alts.list().len().min(64) {
        let _ = alts.apply(&mut image, n);
    }
    let _ = image.alternatives.select("all", "fuzz.elf");
    let _ = place::map(&mut s.machine, &image, "fuzz.elf");
});
