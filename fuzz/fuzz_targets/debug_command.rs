//! The debugger's command language on arbitrary lines, as typed on the viewer's command
//! line: each line is completed (`debug::complete`) and run (`Debugger::run_line`) on
//! the shipped `sysenter` lesson's first scene (loaded once), every command limited to a
//! few thousand steps so that one input stays fast.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringstep::debug::{self, Debugger};
use ringstep::lesson::{self, Scene};

fn scene() -> Option<&'static Scene> {
    static SCENE: OnceLock<Option<Scene>> = OnceLock::new();
    SCENE
        .get_or_init(|| {
            let l = lesson::load_shipped("sysenter")?.ok()?;
            l.scenes.into_iter().next()
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(scene) = scene() else {
        return;
    };
    let mut e = lesson::run::engine_for(scene);
    let mut dbg = Debugger::new(&e);
    dbg.set_limit(5_000);
    for line in text.lines().take(32) {
        let long = e.machine().cpu.long_mode_active();
        let _ = debug::complete(line, &e.machine().symbols, long);
        let _ = dbg.run_line(&mut e, line);
    }
});
