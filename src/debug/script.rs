//! Scripted runs: `ringstep trace` with `--break`, `--watch` and `--until`. The trace is
//! written as usual, step by step, and ends with a stop record saying where and why the
//! run stopped: a breakpoint, a watchpoint, a CPL change or an exception, or (as in
//! every trace) the end, a fault without handler, an unsupported instruction or the
//! step limit.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::disasm::{Disassembler, Syntax};
use crate::engine::fault::vector_name;
use crate::engine::{Engine, Stop, StopReason};
use crate::machine::Machine;
use crate::scenario::Scenario;
use crate::trace::{self, json as tjson, text, Format};

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

/// Run `scenario` writing its trace, stopping at the conditions in `specs`.
pub fn run(
    scenario: &Scenario,
    specs: &StopSpecs,
    format: Format,
    max_steps: u64,
    syntax: Syntax,
    out: &mut dyn Write,
) -> Result<io::Result<Ended>, String> {
    let mut e = trace::engine_for(scenario);
    let mut d = Debugger::new(&e);
    add_points(&mut d, &mut e, specs)?;
    Ok(write_run(
        scenario,
        &mut d,
        &mut e,
        specs.until,
        format,
        max_steps,
        syntax,
        out,
    ))
}

#[allow(clippy::too_many_arguments)]
fn write_run(
    scenario: &Scenario,
    d: &mut Debugger,
    e: &mut Engine,
    until: Option<Until>,
    format: Format,
    max_steps: u64,
    syntax: Syntax,
    out: &mut dyn Write,
) -> io::Result<Ended> {
    let mut dis = Disassembler::new(&scenario.machine.symbols, syntax);
    if format == Format::Json {
        writeln!(out, "{}", tjson::init(e.machine(), &scenario.name))?;
    }
    let start_cpl = e.machine().cpu.cpl();
    let mut ended = None;
    for _ in 0..max_steps {
        let r = d.step_checked(e, until, start_cpl);
        if let Err(s) = r {
            ended = Some(Ended::Stop(s));
            break;
        }
        if let Some(s) = e.last_step() {
            let m = e.machine();
            match format {
                Format::Json => writeln!(out, "{}", tjson::step(m, &mut dis, &s))?,
                Format::Text => writeln!(out, "{}", text::step_line(m, &mut dis, &s))?,
            }
        }
        // Every step is written as it is taken (so none can be left to the fast path),
        // and nothing goes back: keep only the step count, not a growing history.
        e.forget_history();
        if let Ok(Some(why)) = r {
            ended = Some(Ended::Hit(why));
            break;
        }
    }
    let ended = ended.unwrap_or_else(|| {
        Ended::Stop(Stop {
            reason: StopReason::Limit,
            ip: e.machine().cpu.rip,
            instr: None,
        })
    });
    let steps = e.step_count();
    match (&ended, format) {
        (Ended::Stop(s), Format::Json) => writeln!(out, "{}", tjson::stop(s, steps, &mut dis))?,
        (Ended::Stop(s), Format::Text) => {
            writeln!(out, "{}", text::stop_line(e.machine(), s, steps))?
        }
        (Ended::Hit(why), Format::Json) => {
            writeln!(out, "{}", hit_json(e.machine(), d, why, steps))?
        }
        (Ended::Hit(why), Format::Text) => {
            writeln!(out, "{}", hit_line(e.machine(), d, why, steps))?
        }
    }
    Ok(ended)
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
