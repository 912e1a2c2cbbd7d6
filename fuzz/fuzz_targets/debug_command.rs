//! The debugger's command language on arbitrary lines, as typed on the viewer's command
//! line: each line is completed (`debug::complete`) and run (`Debugger::run_line`) on
//! the shipped `sysenter` lesson's first scene, every command limited to a few thousand
//! steps so that one input stays fast.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringstep::debug::{self, Debugger};
use ringstep::lesson;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(Ok(l)) = lesson::load_shipped("sysenter") else {
        return;
    };
    let Some(scene) = l.scenes.first() else {
        return;
    };
    let mut e = lesson::run::engine_for(scene);
    let mut dbg = Debugger::new(&e);
    dbg.set_limit(5_000);
    for line in text.lines().take(32) {
        let _ = debug::complete(line, &e.machine().symbols);
        let _ = dbg.run_line(&mut e, line);
    }
});
