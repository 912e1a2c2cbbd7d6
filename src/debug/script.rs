//! Scripted runs: `ringstep trace` with `--break`, `--watch` and `--until`. The trace is
//! written as usual, step by step, and ends with a stop record saying where and why the
//! run stopped: a breakpoint, a watchpoint, a CPL change or an exception, or (as in
//! every trace) the end, a fault without handler, an unsupported instruction or the
//! step limit. With `--quiet` only the last state and the stop record are written, and
//! the run goes on the engine's unrecorded fast path.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::engine::fault::vector_name;
use crate::engine::{Engine, Stop, StopReason};
use crate::machine::Machine;
use crate::scenario::Scenario;
use crate::trace::{self, state, Format, Options, Writer};

use super::command::{Debugger, Why};
use super::points::{Point, WatchValue};
use super::spec::{self, Command, Until};

/// The stop conditions of a scripted run, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct StopSpecs {
    pub breaks: Vec<String>,
    pub watches: Vec<String>,
    pub until: Option<Until>,
}

impl StopSpecs {
    pub fn is_empty(&self) -> bool {
        self.breaks.is_empty() && self.watches.is_empty() && self.until.is_none()
    }
}

/// Parse `--break`/`--watch` specs into the debugger's points. The error names the
/// option, the spec and the column in it.
pub fn add_points(d: &mut Debugger, e: &mut Engine, specs: &StopSpecs) -> Result<(), String> {
    for (option, word, list) in [
        ("--break", "break", &specs.breaks),
        ("--watch", "watch", &specs.watches),
    ] {
        for text in list {
            let line = format!("{word} {text}");
            let cmd = spec::parse(&line, &e.machine().symbols).map_err(|err| {
                let col = err.column.saturating_sub(word.len() + 1).max(1);
                format!("{option} `{text}`: column {col}: {}", err.message)
            })?;
            if !matches!(cmd, Command::Break { .. } | Command::Watch(_)) {
                return Err(format!("{option} `{text}`: not a {word} spec"));
            }
            d.execute(e, &cmd)
                .map_err(|err| format!("{option} `{text}`: {err}"))?;
        }
    }
    Ok(())
}

/// How a scripted run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A stop condition of the script.
    Hit(Why),
    /// The engine stopped, or the step limit.
    Stop(Stop),
}

/// Run `scenario` writing its trace (`ringstep trace`), stopping at the conditions in
/// `specs` (none: a plain trace). With `quiet`, only the machine's last state and the
/// stop record are written, and the run goes on the engine's fast path. Err is a spec
/// that does not parse.
pub fn run(
    scenario: &Scenario,
    specs: &StopSpecs,
    o: &Options,
    out: &mut dyn Write,
) -> Result<io::Result<Ended>, String> {
    run_console(scenario, specs, o, out, &mut Vec::new())
}

/// `run`, also giving what the machine's UART sent during the run (src/machine/dev.rs)
/// in `console`.
pub fn run_console(
    scenario: &Scenario,
    specs: &StopSpecs,
    o: &Options,
    out: &mut dyn Write,
    console: &mut Vec<u8>,
) -> Result<io::Result<Ended>, String> {
    if specs.is_empty() {
        return Ok(trace::run_console(scenario, o, out, console).map(Ended::Stop));
    }
    let mut e = trace::engine_for(scenario);
    let mut d = Debugger::new(&e);
    add_points(&mut d, &mut e, specs)?;
    let mut w = Writer::new(o.format, &scenario.machine.symbols, o.syntax, out)
        .with_lines(scenario.lines.clone());
    let ended = if o.quiet {
        quiet_run(&mut d, &mut e, specs.until, o.max_steps)
    } else {
        match write_run(scenario, &mut d, &mut e, specs.until, o.max_steps, &mut w) {
            Ok(ended) => ended,
            Err(err) => return Ok(Err(err)),
        }
    };
    let written = (|| {
        if o.quiet {
            state::write(&mut w, e.machine(), e.step_count())?;
        }
        write_end(&mut w, &d, &e, &ended)?;
        w.finish()
    })();
    console.clone_from(&e.machine().dev.uart.out);
    Ok(written.map(|_| ended))
}

/// Run to the first stop condition without recording: breakpoints alone run on the
/// engine's fast path between their addresses (`Engine::run_raw`), watchpoints and
/// `until` are checked after every unrecorded step.
fn quiet_run(d: &mut Debugger, e: &mut Engine, until: Option<Until>, max_steps: u64) -> Ended {
    d.set_recording(false);
    d.set_limit(max_steps);
    let arrival = match until {
        None => d.cont(e),
        Some(Until::Cpl) => d.until_cpl(e),
        Some(Until::Fault) => d.until_fault(e),
    };
    match arrival.why {
        Why::Stopped(s) => Ended::Stop(s),
        Why::Limit => Ended::Stop(Stop {
            reason: StopReason::Limit,
            ip: e.machine().cpu.rip,
            instr: None,
            chain: Default::default(),
        }),
        why => Ended::Hit(why),
    }
}

/// Every step written as it is taken, to the first stop condition.
fn write_run(
    scenario: &Scenario,
    d: &mut Debugger,
    e: &mut Engine,
    until: Option<Until>,
    max_steps: u64,
    w: &mut Writer,
) -> io::Result<Ended> {
    w.init(e.machine(), &scenario.name)?;
    let start_cpl = e.machine().cpu.cpl();
    for _ in 0..max_steps {
        let r = d.step_checked(e, until, start_cpl);
        if let Err(s) = r {
            return Ok(Ended::Stop(s));
        }
        if let Some(s) = e.last_step() {
            w.step(e.machine(), &s)?;
        }
        // Every step is written as it is taken (so none can be left to the fast path),
        // and nothing goes back: keep only the step count, not a growing history.
        e.forget_history();
        if let Ok(Some(why)) = r {
            return Ok(Ended::Hit(why));
        }
    }
    Ok(Ended::Stop(Stop {
        reason: StopReason::Limit,
        ip: e.machine().cpu.rip,
        chain: Default::default(),
        instr: None,
    }))
}

/// The stop record or line.
fn write_end(w: &mut Writer, d: &Debugger, e: &Engine, ended: &Ended) -> io::Result<()> {
    let steps = e.step_count();
    match (ended, w.format()) {
        (Ended::Stop(s), _) => trace::write_stop(w, e, s),
        (Ended::Hit(why), Format::Json) => w.record(&hit_json(e.machine(), d, why, steps)),
        (Ended::Hit(why), Format::Text) => w.line(&hit_line(e.machine(), d, why, steps)),
    }
}

fn point_text(d: &Debugger, id: u32) -> String {
    d.points()
        .all()
        .iter()
        .find(|p| p.id() == id)
        .map(|p| match p {
            Point::Break(b) => {
                let mut t = b.text.clone();
                if let Some(c) = &b.cond {
                    t.push_str(&format!(" if {c}"));
                }
                t
            }
            Point::Watch(w) => w.watch.to_string(),
        })
        .unwrap_or_default()
}

fn at(m: &Machine) -> String {
    let ip = m.cpu.rip;
    match m.describe_addr(ip) {
        Some(s) => format!("{ip:#x} ({s})"),
        None => format!("{ip:#x}"),
    }
}

/// The text stop line for a hit.
pub fn hit_line(m: &Machine, d: &Debugger, why: &Why, steps: u64) -> String {
    let place = at(m);
    match why {
        Why::Breakpoint(id) => format!(
            "stop: breakpoint {id} (`{}`) at {place} after {steps} steps",
            point_text(d, *id)
        ),
        Why::Watch(h) => format!(
            "stop: watchpoint {} ({}) changed by step {}: {}; at {place} after {steps} steps",
            h.id, h.watch, h.step, h.value
        ),
        Why::CplChanged { from, to } => {
            format!("stop: CPL changed from {from} to {to} at {place} after {steps} steps")
        }
        Why::Exception {
            vector,
            error_code,
            reason,
        } => {
            let code = error_code.map_or(String::new(), |c| format!(" error code {c:#x}"));
            format!(
                "stop: exception {}{code} delivered, at the handler {place} after {steps} steps: {reason}",
                vector_name(*vector)
            )
        }
        other => format!("stop: {other} at {place} after {steps} steps"),
    }
}

/// The JSON stop record for a hit.
pub fn hit_json(m: &Machine, d: &Debugger, why: &Why, steps: u64) -> Value {
    let ip = m.cpu.rip;
    let mut v = json!({
        "kind": "stop",
        "reason": reason_name(why),
        "steps": steps,
        "ip": ip,
    });
    if let Some(o) = v.as_object_mut() {
        match why {
            Why::Breakpoint(id) => {
                o.insert("id".into(), (*id).into());
                o.insert("spec".into(), point_text(d, *id).into());
            }
            Why::Watch(h) => {
                o.insert("id".into(), h.id.into());
                o.insert("spec".into(), h.watch.to_string().into());
                o.insert("step".into(), h.step.into());
                match &h.value {
                    WatchValue::Value { old, new } => {
                        o.insert("old".into(), (*old).into());
                        o.insert("new".into(), (*new).into());
                    }
                    WatchValue::Bytes { addr, old, new } => {
                        let hex = |b: &[Option<u8>]| {
                            b.iter()
                                .map(|x| x.map_or("..".to_string(), |x| format!("{x:02x}")))
                                .collect::<String>()
                        };
                        o.insert("addr".into(), (*addr).into());
                        o.insert("old".into(), hex(old).into());
                        o.insert("new".into(), hex(new).into());
                    }
                }
            }
            Why::CplChanged { from, to } => {
                o.insert("from".into(), (*from).into());
                o.insert("to".into(), (*to).into());
            }
            Why::Exception {
                vector,
                error_code,
                reason,
            } => {
                o.insert("vector".into(), (*vector).into());
                o.insert("name".into(), vector_name(*vector).into());
                o.insert("error_code".into(), json!(error_code));
                o.insert("explanation".into(), reason.clone().into());
            }
            _ => {}
        }
        if let Some(l) = m.describe_addr(ip) {
            o.insert("at".into(), l.into());
        }
    }
    v
}

/// The `reason` of a hit's stop record.
pub fn reason_name(why: &Why) -> &'static str {
    match why {
        Why::Breakpoint(_) => "breakpoint",
        Why::Watch(_) => "watch",
        Why::CplChanged { .. } => "cpl",
        Why::Exception { .. } => "exception",
        Why::Done => "done",
        Why::Stopped(s) => s.reason.name(),
        Why::Limit => "limit",
        Why::StartOfHistory => "start",
    }
}
