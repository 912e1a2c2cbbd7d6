//! Command-line interface (clap): `ringstep trace ...`, `ringstep presets`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::disasm::{parse_hex, Syntax};
use crate::lesson::{self, check, library, Lang, Lesson};
use crate::scenario::{self, Scenario};
use crate::trace::{self, Format};

/// The lesson a bare `ringstep` runs.
pub const DEFAULT_PRESET: &str = "linux-2.6-i386";

#[derive(Parser, Debug)]
#[command(
    name = "ringstep",
    version,
    about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time",
    long_about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time.\n\nWithout a subcommand, ringstep opens the interactive viewer (`ringstep run`) on the default lesson: a user program calling getpid() through __kernel_vsyscall, sysenter, the kernel's sysenter_entry and back out through sysexit. `ringstep trace` prints the same run as text."
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
    /// List the lessons shipped with ringstep, in curriculum order.
    List(LangArgs),
    /// Load, assemble and run lessons headless, verifying every checkpoint and
    /// question (all shipped lessons when none is named). Exit status 1 on failure.
    Check(CheckArgs),
    /// Open a lesson in the interactive terminal viewer (the default without a
    /// subcommand: the sysenter lesson).
    Run(crate::tui::RunArgs),
    /// Export a lesson played step by step, drawn as the viewer draws it: an asciinema
    /// recording (asciicast v2), one SVG image per step, or one offline HTML page.
    Export(crate::export::command::ExportArgs),
    /// Draw one frame of a lesson on standard output (text, ANSI colours or SVG).
    Render(crate::export::command::RenderArgs),
    /// Print a shell completion script (e.g. `ringstep completions bash > ringstep.bash`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `ringstep man > ringstep.1`), or a
    /// subcommand's (`ringstep man export > ringstep-export.1`).
    Man {
        /// The subcommand whose page to print.
        subcommand: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    En,
    De,
}

#[derive(Args, Debug, Default)]
pub struct LangArgs {
    /// Language of the lesson texts (default: from LC_ALL / LC_MESSAGES / LANG).
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,
}

#[derive(Args, Debug, Default)]
pub struct CheckArgs {
    /// Lesson ids (see `ringstep list`) or lesson files.
    pub lessons: Vec<String>,
    #[command(flatten)]
    pub lang: LangArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum UntilArg {
    Cpl,
    Fault,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SyntaxArg {
    Att,
    Intel,
}

#[derive(Args, Debug, Default)]
pub struct TraceArgs {
    /// A scenario (machine description) file in TOML, or a lesson (id or file).
    pub scenario: Option<PathBuf>,
    /// For a lesson: which scene to run (from 1).
    #[arg(long, default_value_t = 1)]
    pub scene: usize,
    /// Start from a shipped preset instead of a file (see `ringstep presets`).
    #[arg(long, conflicts_with = "scenario")]
    pub preset: Option<String>,
    /// Machine code to run, as hex ("51 52 55 89 e5 0f 34"): written over the machine's
    /// memory at --at, or without --at loaded and called like --elf code.
    #[arg(long)]
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
    /// Stop before the instruction at ADDR|SYMBOL[+OFF], optionally only `if REG OP VALUE`
    /// (repeatable; see docs/debugging.md).
    #[arg(long = "break", value_name = "SPEC")]
    pub breaks: Vec<String>,
    /// Stop after a step that changes `mem ADDR[,LEN]`, a register, or `msr NAME`
    /// (repeatable).
    #[arg(long = "watch", value_name = "SPEC")]
    pub watches: Vec<String>,
    /// Stop when the CPL changes, or after the first exception.
    #[arg(long, value_enum)]
    pub until: Option<UntilArg>,
    /// Print only the machine's last state and the stop record, running at full speed
    /// (no per-step output or recording).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub load: crate::load::LoadArgs,
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

/// A lesson named on the command line: a shipped id, or a file holding a `[lesson]`.
fn lesson_arg(arg: &str) -> Option<Result<Lesson, UsageError>> {
    let path = std::path::Path::new(arg);
    if !path.exists() {
        return lesson::load_shipped(arg).map(|r| r.map_err(|e| UsageError(e.to_string())));
    }
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table
        .contains_key("lesson")
        .then(|| lesson::load_file(path).map_err(|e| UsageError(e.to_string())))
}

/// Load a lesson by id or path, with a helpful message when it is neither.
pub fn load_lesson(arg: &str) -> Result<Lesson, UsageError> {
    lesson_arg(arg).unwrap_or_else(|| {
        let ids: Vec<&str> = library::ids().collect();
        let hint = scenario::did_you_mean(arg, ids.iter().copied());
        Err(UsageError(format!(
            "`{arg}` is neither a lesson file nor a shipped lesson (lessons: {}){hint}",
            ids.join(", ")
        )))
    })
}

/// The scene of a lesson that `trace` runs.
fn lesson_scenario(l: &Lesson, scene: usize) -> Result<Scenario, UsageError> {
    let n = l.scenes.len();
    scene
        .checked_sub(1)
        .and_then(|i| l.scenes.get(i))
        .map(|s| s.scenario.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "--scene {scene}: lesson `{}` has scenes 1 to {n}",
                l.id
            ))
        })
}

/// Build the scenario a trace runs.
pub fn scenario_for(args: &TraceArgs) -> Result<Scenario, UsageError> {
    if let Some(s) = loaded_scenario(args)? {
        return Ok(s);
    }
    let lesson = args
        .scenario
        .as_ref()
        .and_then(|p| lesson_arg(&p.to_string_lossy()));
    let mut s = match (&args.scenario, &args.preset, lesson) {
        (_, _, Some(l)) => lesson_scenario(&l?, args.scene)?,
        (Some(path), _, None) if !path.exists() && path.extension().is_none() => {
            return Err(load_lesson(&path.to_string_lossy())
                .err()
                .unwrap_or_else(|| UsageError(format!("{}: no such file", path.display()))))
        }
        (Some(path), _, None) => {
            scenario::load_file(path).map_err(|e| UsageError(e.to_string()))?
        }
        (None, Some(name), None) => scenario::preset(name).map_err(|e| {
            // An unknown name is an error in the option, not in a file.
            if scenario::preset_text(name).is_none() {
                UsageError(format!("--preset: {}", e.message))
            } else {
                UsageError(e.to_string())
            }
        })?,
        (None, None, None) => {
            scenario::preset(DEFAULT_PRESET).map_err(|e| UsageError(e.to_string()))?
        }
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

/// The scenario of `--elf`/`--asm`/`--bytes` without `--at` (src/load), if given.
fn loaded_scenario(args: &TraceArgs) -> Result<Option<Scenario>, UsageError> {
    let bytes = args.bytes.as_deref().filter(|_| args.at.is_none());
    let setup = crate::load::LoadArgs::setup(&args.load, bytes, args.preset.as_deref())
        .map_err(|e| UsageError(e.0))?;
    let Some(setup) = setup else {
        return Ok(None);
    };
    if let Some(p) = &args.scenario {
        return Err(UsageError(format!(
            "{}: a scenario or lesson cannot be combined with loading code; load into a scenario file with --machine FILE",
            p.display()
        )));
    }
    let loaded = crate::load::load(&setup).map_err(|e| UsageError(e.0))?;
    Ok(loaded.lesson.scenes.into_iter().next().map(|s| s.scenario))
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
    let stops = crate::debug::script::StopSpecs {
        breaks: args.breaks.clone(),
        watches: args.watches.clone(),
        until: args.until.map(|u| match u {
            UntilArg::Cpl => crate::debug::spec::Until::Cpl,
            UntilArg::Fault => crate::debug::spec::Until::Fault,
        }),
    };
    let options = trace::Options {
        quiet: args.quiet,
        ..trace::Options::new(format_of(args), max, syntax_of(args))
    };
    let written = crate::debug::script::run(&s, &stops, &options, out).map_err(UsageError)?;
    match written {
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

/// The language: `--lang`, else the locale (LC_ALL, LC_MESSAGES, LANG), else English.
pub fn lang_of(args: &LangArgs) -> Lang {
    match args.lang {
        Some(LangArg::En) => Lang::En,
        Some(LangArg::De) => Lang::De,
        None => {
            let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                .find(|v| !v.is_empty());
            Lang::from_locale(locale.as_deref())
        }
    }
}

/// Every shipped lesson with its id, in curriculum order (order, then id); lessons
/// that do not load come first.
pub fn shipped_lessons() -> Vec<(String, Result<Lesson, UsageError>)> {
    let mut out: Vec<(String, Result<Lesson, UsageError>)> = library::ids()
        .map(|id| {
            let l = match lesson::load_shipped(id) {
                Some(r) => r.map_err(|e| UsageError(e.to_string())),
                None => Err(UsageError(format!("lesson `{id}` is missing"))),
            };
            (id.to_string(), l)
        })
        .collect();
    out.sort_by_key(|(id, r)| match r {
        Ok(l) => (l.order, id.clone()),
        Err(_) => (i64::MIN, id.clone()),
    });
    out
}

/// `ringstep list`.
pub fn list_lessons(args: &LangArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let lang = lang_of(args);
    let mut bad = Vec::new();
    for (_, l) in shipped_lessons() {
        match l {
            Ok(l) => writeln!(out, "{:<16} {}", l.id, l.title.get(lang))
                .map_err(|e| UsageError(format!("writing the list: {e}")))?,
            Err(e) => bad.push(e.0),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(UsageError(bad.join("\n")))
    }
}

/// `ringstep check`: true when every lesson loads and every claim holds.
pub fn check_lessons(args: &CheckArgs, out: &mut dyn std::io::Write) -> std::io::Result<bool> {
    let lessons: Vec<(String, Result<Lesson, UsageError>)> = if args.lessons.is_empty() {
        shipped_lessons()
    } else {
        args.lessons
            .iter()
            .map(|a| (a.clone(), load_lesson(a)))
            .collect()
    };
    let mut all_ok = true;
    for (name, l) in lessons {
        let l = match l {
            Ok(l) => l,
            Err(e) => {
                all_ok = false;
                writeln!(out, "FAIL {name}: does not load\n  {e}")?;
                continue;
            }
        };
        let report = check::check(&l);
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let summary = format!(
            "{}, {}, {}, {}",
            count(report.scenes.len(), "scene"),
            count(report.steps_run(), "step"),
            count(report.checks(), "check"),
            count(report.questions(), "question")
        );
        if report.ok() {
            writeln!(out, "ok   {}: {summary}", l.id)?;
        } else {
            all_ok = false;
            writeln!(out, "FAIL {}: {summary}", l.id)?;
            for f in report.failures() {
                writeln!(out, "  {f}")?;
            }
        }
    }
    Ok(all_ok)
}

/// `ringstep completions SHELL`: the completion script, generated from these definitions.
pub fn completions(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> Result<(), UsageError> {
    use clap::CommandFactory;
    // Generated into memory first: the generator gives up loudly on a write error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ringstep", &mut script);
    match out.write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(UsageError(format!("writing the completion script: {e}")))
        }
        _ => Ok(()),
    }
}

/// `ringstep man [SUBCOMMAND]`: a manual page in roff, generated from these definitions.
pub fn man_page(subcommand: Option<&str>, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let page = match subcommand {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            // The page other pages refer to as ringstep-NAME(1).
            Some(sub) => sub
                .clone()
                .display_name(format!("ringstep-{name}"))
                .bin_name(format!("ringstep {name}")),
            None => {
                let names: Vec<String> = cli
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                return Err(UsageError(format!(
                    "man {name}: no such subcommand (subcommands: {})",
                    names.join(", ")
                )));
            }
        },
    };
    let source = format!("ringstep {}", env!("CARGO_PKG_VERSION"));
    match clap_mangen::Man::new(page).source(source).render(out) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(UsageError(format!("writing the manual page: {e}")))
        }
        _ => Ok(()),
    }
}
