//! Machine descriptions: TOML scenario files and the presets shipped with ringstep.
//!
//! A scenario describes a whole machine (memory regions and their contents, descriptor
//! tables, TSS, MSRs, control and general registers, symbols) plus how a run should go
//! (interrupts to raise, where to stop). `load_file`/`load_str` turn one into a
//! `Scenario` whose `machine` is ready to execute. The format is documented in
//! `docs/scenario-format.md`.

pub mod boot;
mod build;
mod error;
mod order;
pub(crate) mod raw;
pub mod task;

use std::path::Path;

pub use build::MAX_NESTING as MAX_VALUE_NESTING;
pub(crate) use build::{declared, load_layers, region_bounds, toml_error, Extra, LayerSource};
pub use error::{did_you_mean, line_col, ScenarioError};
pub use task::{Context, TaskModel, TaskView};

/// A machine set up and ready to run, plus what the run should do.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub machine: crate::machine::Machine,
    /// External interrupts to raise, in the order given.
    pub interrupts: Vec<ScheduledInterrupt>,
    /// The run ends (reason "end") when RIP reaches one of these addresses.
    pub stop_at: Vec<u64>,
    /// At most `MAX_STEPS`.
    pub max_steps: Option<u64>,
    /// Where the kernel keeps `current` (`[task]`), if the scenario says.
    pub task: Option<TaskModel>,
    /// Source lines of the code loaded into the machine (an ELF file's DWARF line
    /// table), for listings and traces.
    pub lines: Option<std::sync::Arc<boot::lines::LineTable>>,
}

/// The most steps a scenario's `[run] max_steps` or a lesson scene's `max_steps` may
/// ask for. The viewer, `check` and `export` record every step of a run (about 400
/// bytes a step in the viewer), so this bounds their time and memory; a larger value
/// is refused with its location. `ringstep trace --max-steps`, which streams, is not
/// bound by it.
pub const MAX_STEPS: u64 = 100_000;

/// Raise external interrupt `vector` just before step number `before_step` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledInterrupt {
    pub before_step: u64,
    pub vector: u8,
}

/// Names of the presets compiled into the program.
pub const PRESETS: &[&str] = &["linux-2.6-i386", "linux-x86_64"];

/// The preset a machine is built from when none is named (`trace` without a scenario,
/// code loaded with --asm/--elf/--bytes for 32 bits).
pub const DEFAULT_PRESET: &str = "linux-2.6-i386";

/// The TOML text of a shipped preset.
pub fn preset_text(name: &str) -> Option<&'static str> {
    match name {
        "linux-2.6-i386" => Some(include_str!("../../assets/presets/linux-2.6-i386.toml")),
        "linux-x86_64" => Some(include_str!("../../assets/presets/linux-x86_64.toml")),
        _ => None,
    }
}

/// The file name a preset's errors are reported against.
pub fn preset_origin(name: &str) -> String {
    format!("assets/presets/{name}.toml")
}

/// Load a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let origin = path.display().to_string();
    let text = crate::userfile::read_text(path)
        .map_err(|e| ScenarioError::whole_file(&origin, format!("cannot read file: {e}")))?;
    load_str(&text, &origin)
}

/// Load a scenario from text; `origin` names it in error messages.
pub fn load_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    build::load(text, origin)
}

/// Load a shipped preset by name.
pub fn preset(name: &str) -> Result<Scenario, ScenarioError> {
    match preset_text(name) {
        Some(text) => load_str(text, &preset_origin(name)),
        None => Err(ScenarioError::whole_file(
            "preset",
            unknown_preset_message(name),
        )),
    }
}

fn unknown_preset_message(name: &str) -> String {
    let hint = error::did_you_mean(name, PRESETS.iter().copied());
    format!(
        "unknown preset `{name}` (presets: {}){hint}",
        PRESETS.join(", ")
    )
}

/// One assembled line of code (a lesson's or a shipped kernel's), for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub addr: u64,
    pub len: u32,
    /// The source text of the line (without its comment-free processing).
    pub text: String,
    pub is_code: bool,
    /// 32 or 64: how the line's bytes decode (`.code32`/`.code64` in the source).
    pub bits: u32,
}

impl SourceLine {
    /// The listing lines of one assembled section whose source is `text`.
    pub fn from_assembly(lines: &[crate::asm::LineInfo], text: &str) -> Vec<SourceLine> {
        let src: Vec<&str> = text.lines().collect();
        lines
            .iter()
            .map(|l| SourceLine {
                addr: l.addr,
                len: l.len,
                text: src
                    .get(l.line.saturating_sub(1))
                    .map(|t| t.trim().to_string())
                    .unwrap_or_default(),
                is_code: l.is_code,
                bits: l.bits,
            })
            .collect()
    }
}
