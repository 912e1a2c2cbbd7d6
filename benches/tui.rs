//! TUI benchmarks: one full frame of the default lesson at 160x48 (target under 1 ms;
//! also with the memory view and the GDT and IDT inspectors open),
//! and start-up to the first frame (target under 30 ms): in process (load and assemble
//! the lesson, play the scene, build the view model, draw), and as a whole process
//! (`ringstep run --render-once`, which also starts the program and prints the frame).

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ringstep::tui::{self, update, Msg, RunArgs};

fn args() -> RunArgs {
    RunArgs {
        lesson: Some("sysenter".into()),
        lang: Some(ringstep::cli::LangArg::En),
        ..RunArgs::default()
    }
}

fn frame(c: &mut Criterion) {
    let mut model = tui::start(&args()).expect("the default lesson loads");
    update(&mut model, Msg::Resize(160, 48));
    // Inside sysenter_entry with pt_regs built: every pane full.
    model.goto(30);
    let mut terminal = match Terminal::new(TestBackend::new(160, 48)) {
        Ok(t) => t,
        Err(e) => match e {},
    };
    c.bench_function("tui: full frame 160x48", |b| {
        b.iter(|| {
            // A cleared buffer each time, so every cell is drawn and compared.
            terminal.clear().ok();
            terminal.draw(|f| tui::view(&model, f)).ok();
        })
    });
    // The same frame with each inspector open in place of the stacks and narrative.
    for (name, action, times) in [
        ("memory view", tui::Action::MemoryView, 1),
        ("GDT", tui::Action::TablesView, 1),
        ("IDT", tui::Action::TablesView, 2),
    ] {
        for _ in 0..times {
            update(&mut model, Msg::Action(action));
        }
        c.bench_function(&format!("tui: full frame 160x48 with the {name}"), |b| {
            b.iter(|| {
                terminal.clear().ok();
                terminal.draw(|f| tui::view(&model, f)).ok();
            })
        });
        update(&mut model, Msg::Action(tui::Action::Cancel));
    }
    c.bench_function("tui: step forward and back (view model)", |b| {
        b.iter(|| {
            update(&mut model, Msg::Action(tui::Action::StepForward));
            update(&mut model, Msg::Action(tui::Action::StepBack));
        })
    });
}

fn startup(c: &mut Criterion) {
    c.bench_function("tui: start-up to first frame (in process)", |b| {
        b.iter(|| {
            let mut model = tui::start(&args()).expect("loads");
            update(&mut model, Msg::Resize(160, 48));
            tui::render_buffer(&model, 160, 48)
        })
    });
    let bin = env!("CARGO_BIN_EXE_ringstep");
    c.bench_function(
        "tui: start-up to first frame (ringstep run --render-once)",
        |b| {
            b.iter(|| {
                let out = Command::new(bin)
                    .args([
                        "run",
                        "sysenter",
                        "--lang",
                        "en",
                        "--render-once",
                        "--size",
                        "160x48",
                    ])
                    .output()
                    .expect("ringstep runs");
                assert!(out.status.success());
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = frame, startup
}
criterion_main!(benches);
