//! Headless traces of a run: JSON Lines (`ringstep-trace/1`) or readable text.

pub mod json;
pub mod text;

use std::io::{self, Write};

use crate::disasm::{Disassembler, Syntax};
use crate::engine::{Engine, StepResult, Stop, StopReason};
use crate::scenario::Scenario;

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

/// Run a scenario and write its trace. Returns how the run stopped.
pub fn run(
    scenario: &Scenario,
    format: Format,
    max_steps: u64,
    syntax: Syntax,
    out: &mut dyn Write,
) -> io::Result<Stop> {
    let mut engine = engine_for(scenario);
    let mut dis = Disassembler::new(&scenario.machine.symbols, syntax);
    if format == Format::Json {
        writeln!(out, "{}", json::init(engine.machine(), &scenario.name))?;
    }
    let mut stop = None;
    for _ in 0..max_steps {
        match engine.step() {
            StepResult::Stepped => {
                if let Some(s) = engine.last_step() {
                    let m = engine.machine();
                    match format {
                        Format::Json => writeln!(out, "{}", json::step(m, &mut dis, &s))?,
                        Format::Text => writeln!(out, "{}", text::step_line(m, &mut dis, &s))?,
                    }
                }
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
    });
    let steps = engine.history_len() as u64;
    match format {
        Format::Json => writeln!(out, "{}", json::stop(&stop, steps, &mut dis))?,
        Format::Text => writeln!(out, "{}", text::stop_line(engine.machine(), &stop, steps))?,
    }
    Ok(stop)
}
