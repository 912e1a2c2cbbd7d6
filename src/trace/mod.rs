//! Headless traces of a run: JSON Lines (`ringstep-trace/1`) or readable text.

mod asm_cache;
pub mod json;
mod json_step;
mod out;
pub mod state;
pub mod text;
pub mod writer;

use std::io::{self, Write};

use crate::disasm::Syntax;
use crate::engine::{Engine, StepResult, Stop, StopReason};
use crate::scenario::Scenario;
pub use writer::Writer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// An engine set up from a scenario: the machine, its interrupts and end addresses.
pub fn engine_for(s: &Scenario) -> Engine {
    let mut e = Engine::new(s.machine.clone());
    e.set_stop_at(s.stop_at.clone());
    e.set_schedule(
        s.interrupts
            .iter()
            .map(|i| crate::engine::ScheduledInterrupt {
                before_step: i.before_step,
                vector: i.vector,
            })
            .collect(),
    );
    e
}

/// How a trace is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub format: Format,
    /// The most steps to run.
    pub max_steps: u64,
    pub syntax: Syntax,
    /// Write only the machine's last state and the stop record, running on the
    /// engine's fast path instead of recording and writing every step.
    pub quiet: bool,
}

impl Options {
    pub fn new(format: Format, max_steps: u64, syntax: Syntax) -> Options {
        Options {
            format,
            max_steps,
            syntax,
            quiet: false,
        }
    }
}

/// Run a scenario and write its trace. Returns how the run stopped.
pub fn run(
    scenario: &Scenario,
    format: Format,
    max_steps: u64,
    syntax: Syntax,
    out: &mut dyn Write,
) -> io::Result<Stop> {
    run_with(scenario, &Options::new(format, max_steps, syntax), out)
}

/// Run a scenario and write its trace, or with `quiet` only its last state and stop.
pub fn run_with(scenario: &Scenario, o: &Options, out: &mut dyn Write) -> io::Result<Stop> {
    run_console(scenario, o, out, &mut Vec::new())
}

/// `run_with`, also giving what the machine's UART sent in `console`.
pub fn run_console(
    scenario: &Scenario,
    o: &Options,
    out: &mut dyn Write,
    console: &mut Vec<u8>,
) -> io::Result<Stop> {
    let mut engine = engine_for(scenario);
    let mut w = Writer::new(o.format, &scenario.machine.symbols, o.syntax, out)
        .with_lines(scenario.lines.clone());
    let stop = if o.quiet {
        let stop = engine.run_raw(o.max_steps);
        state::write(&mut w, engine.machine(), engine.step_count())?;
        write_stop(&mut w, &engine, &stop)?;
        w.finish()?;
        stop
    } else {
        run_engine(&mut engine, &scenario.name, &mut w, o.max_steps)?
    };
    console.clone_from(&engine.machine().dev.uart.out);
    Ok(stop)
}

/// Trace `engine` for up to `max_steps` steps: every step is written as it is taken
/// and then forgotten, so the engine keeps no history however long the run (its step
/// count goes on). Ends with the stop record and flushes the writer.
pub fn run_engine(
    engine: &mut Engine,
    scenario: &str,
    w: &mut Writer,
    max_steps: u64,
) -> io::Result<Stop> {
    w.init(engine.machine(), scenario)?;
    let mut stop = None;
    for _ in 0..max_steps {
        match engine.step() {
            StepResult::Stepped => {
                if let Some(s) = engine.last_step() {
                    w.step(engine.machine(), &s)?;
                }
                engine.forget_history();
            }
            StepResult::Stopped(s) => {
                stop = Some(s);
                break;
            }
        }
    }
    let stop = stop.unwrap_or(Stop {
        reason: StopReason::Limit,
        ip: engine.machine().cpu.rip,
        instr: None,
        chain: Default::default(),
    });
    write_stop(w, engine, &stop)?;
    w.finish()?;
    Ok(stop)
}

/// The stop record or line of a run that the engine (or the step limit) stopped.
pub fn write_stop(w: &mut Writer, engine: &Engine, stop: &Stop) -> io::Result<()> {
    let steps = engine.step_count();
    match w.format() {
        Format::Json => {
            let v = json::stop(stop, steps, w.disassembler());
            w.record(&v)
        }
        Format::Text => w.line(&text::stop_line(engine.machine(), stop, steps)),
    }
}
