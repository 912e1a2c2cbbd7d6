//! Command-line interface (clap): `ringstep trace ...`, `ringstep presets`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::disasm::{parse_hex, Syntax};
use crate::scenario::{self, Scenario};
use crate::trace::{self, Format};

/// The lesson a bare `ringstep` runs.
pub const DEFAULT_PRESET: &str = "linux-2.6-i386";

#[derive(Parser, Debug)]
#[command(
    name = "ringstep",
    version,
    about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time",
    long_about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time.\n\nWithout a subcommand, ringstep traces the default scenario: a user program calling getpid() through __kernel_vsyscall, sysenter, the kernel's sysenter_entry and back out through sysexit."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario headless and print one record per instruction.
    Trace(TraceArgs),
    /// List the machine presets shipped with ringstep.
    Presets,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SyntaxArg {
    Att,
    Intel,
}

#[derive(Args, Debug, Default)]
pub struct TraceArgs {
    /// A scenario (machine description) file in TOML.
    pub scenario: Option<PathBuf>,
    /// Start from a shipped preset instead of a file (see `ringstep presets`).
    #[arg(long, conflicts_with = "scenario")]
    pub preset: Option<String>,
    /// Machine code to run, as hex ("51 52 55 89 e5 0f 34"), placed at --at.
    #[arg(long, requires = "at")]
    pub bytes: Option<String>,
    /// Address for --bytes (hex with 0x, or decimal); execution starts there.
    #[arg(long, requires = "bytes")]
    pub at: Option<String>,
    /// Output format: readable text, or JSON Lines (schema ringstep-trace/1).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Option<FormatArg>,
    /// Stop after this many instructions (default: the scenario's max_steps, else 10000).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Disassembly syntax.
    #[arg(long, value_enum, default_value = "att")]
    pub syntax: Option<SyntaxArg>,
}

/// A user error: printed as `ringstep: message`, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_addr(text: &str) -> Result<u64, UsageError> {
    let t = text.trim().replace('_', "");
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    };
    parsed.map_err(|_| {
        UsageError(format!(
            "--at {text}: not an address (write hex as 0xffffe400, or decimal)"
        ))
    })
}

/// Build the scenario a trace runs.
pub fn scenario_for(args: &TraceArgs) -> Result<Scenario, UsageError> {
    let mut s = match (&args.scenario, &args.preset) {
        (Some(path), _) => scenario::load_file(path).map_err(|e| UsageError(e.to_string()))?,
        (None, Some(name)) => scenario::preset(name).map_err(|e| {
            // An unknown name is an error in the option, not in a file.
            if scenario::preset_text(name).is_none() {
                UsageError(format!("--preset: {}", e.message))
            } else {
                UsageError(e.to_string())
            }
        })?,
        (None, None) => scenario::preset(DEFAULT_PRESET).map_err(|e| UsageError(e.to_string()))?,
    };
    if let (Some(bytes), Some(at)) = (&args.bytes, &args.at) {
        let code = parse_hex(bytes).map_err(|e| UsageError(format!("--bytes: {e}")))?;
        if code.is_empty() {
            return Err(UsageError("--bytes: no bytes given".into()));
        }
        let addr = parse_addr(at)?;
        let end = addr.checked_add(code.len() as u64 - 1);
        let region = s.machine.mem.region_at(addr).cloned();
        match (region, end) {
            (Some(r), Some(last)) if r.contains(last) => {}
            (Some(r), _) => {
                return Err(UsageError(format!(
                    "--bytes: {} bytes at {addr:#x} run past the end of region `{}` ({:#x}..{:#x})",
                    code.len(),
                    r.name,
                    r.base,
                    r.end()
                )))
            }
            (None, _) => {
                let names: Vec<String> = s
                    .machine
                    .mem
                    .regions()
                    .iter()
                    .map(|r| format!("{} at {:#x}", r.name, r.base))
                    .collect();
                return Err(UsageError(format!(
                    "--at {addr:#x}: no memory region there; the machine has: {}",
                    names.join(", ")
                )));
            }
        }
        s.machine.mem.poke(addr, &code);
        s.machine.cpu.rip = addr;
    }
    Ok(s)
}

pub fn format_of(args: &TraceArgs) -> Format {
    match args.format {
        Some(FormatArg::Json) => Format::Json,
        _ => Format::Text,
    }
}

pub fn syntax_of(args: &TraceArgs) -> Syntax {
    match args.syntax {
        Some(SyntaxArg::Intel) => Syntax::Intel,
        _ => Syntax::Att,
    }
}

/// Run `trace` writing to `out`.
pub fn run_trace(args: &TraceArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let s = scenario_for(args)?;
    let max = args.max_steps.or(s.max_steps).unwrap_or(10_000);
    match trace::run(&s, format_of(args), max, syntax_of(args), out) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(UsageError(format!("writing the trace: {e}"))),
    }
}

/// `ringstep presets`.
pub fn list_presets(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for name in scenario::PRESETS {
        let description = scenario::preset(name)
            .map(|s| s.description)
            .unwrap_or_else(|e| format!("(does not load: {e})"));
        writeln!(out, "{name:<16} {description}")?;
    }
    Ok(())
}
