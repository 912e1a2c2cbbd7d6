//! Command-line interface (clap): the options of every command and the commands that
//! only print (`trace`, `list`, `check`, `presets`, `completions`, `man`). The top of
//! the layers: nothing imports this module; the lesson a name stands for is found in
//! `lesson::find`, the language and syntax chosen in `lesson::choice`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::disasm::{parse_hex, Syntax};
use crate::lesson::find::{self, Named};
use crate::lesson::{self, check, choice, Lesson};
use crate::scenario::{self, Scenario, DEFAULT_PRESET};
use crate::trace::{self, Format};

pub use crate::lesson::choice::{LangArg, SyntaxArg};
pub use crate::usage::UsageError;

#[derive(Parser, Debug)]
#[command(
    name = "ringstep",
    version,
    about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time",
    long_about = "Watch an x86 CPU cross from user mode into the Linux kernel and back, one instruction at a time.\n\nWithout a subcommand, ringstep opens the interactive viewer (`ringstep run`) on the default lesson: a user program calling getpid() through __kernel_vsyscall, sysenter, the kernel's sysenter_entry and back out through sysexit. Every option of `run` works here too (`ringstep int80 --lang de`). `ringstep trace` prints the same run as text.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a subcommand: `ringstep run`'s options and lesson.
    #[command(flatten, next_help_heading = "Viewer options (as `ringstep run`)")]
    pub run: crate::tui::RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario headless and print one record per instruction.
    Trace(TraceArgs),
    /// Boot a kernel (a 32-bit Multiboot or Multiboot2 ELF, or a plain ELF with --entry) in
    /// the interactive viewer: RAM, a 16550 UART at 0x3f8, isa-debug-exit at 0xf4, the
    /// 8259A PICs and the 8254 timer (one tick per step).
    Boot(BootArgs),
    /// Assemble a .S file (GNU as syntax, docs/assembler.md) into an ELF executable that
    /// QEMU, gdb and objdump take as it is (e.g. a Multiboot kernel for `ringstep boot`).
    Asm(AsmArgs),
    /// Serve the machine `trace` would run to gdb over its remote protocol (docs/gdb.md).
    ///
    /// Registers (with fs_base, gs_base, k_gs_base, cr0-cr4, cr8 and efer), memory
    /// through the page tables, breakpoints, watchpoints, stepi, continue, Ctrl-C,
    /// reverse-stepi and reverse-continue, and `monitor` commands (msr, gdt, idt, tss,
    /// walk ADDR, explain, phys ADDR LEN, why). Listens on 127.0.0.1 only unless
    /// --listen says otherwise; one client at a time.
    Gdbserver(GdbserverArgs),
    /// List the machine presets shipped with ringstep.
    Presets,
    /// List the lessons shipped with ringstep, in curriculum order.
    List(LangArgs),
    /// Load, assemble and run lessons headless, verifying every checkpoint and
    /// question (all shipped lessons when none is named). Exit status 1 on failure.
    Check(CheckArgs),
    /// Compare what the three ways into the kernel cost the processor: descriptor,
    /// gate, TSS and MSR reads, privilege checks and memory accesses of `int $0x80`,
    /// `sysenter` and `syscall` (and their returns) in a getpid() round trip, counted
    /// by the engine as it runs the first scene of the int80, sysenter and syscall64
    /// lessons.
    Cost(LangArgs),
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

#[derive(Args, Debug)]
pub struct BootArgs {
    /// The kernel: an ELF file with a Multiboot or Multiboot2 header (e.g. made by
    /// `ringstep asm`).
    #[arg(required_unless_present = "example", conflicts_with = "example")]
    pub kernel: Option<PathBuf>,
    /// Boot a shipped example kernel instead (assets/kernels/, assembled now).
    #[arg(long, value_enum, value_name = "BITS")]
    pub example: Option<crate::load::examples::Example>,
    /// With --example: a broken variant of the kernel, for you to repair.
    #[arg(long, value_enum, requires = "example")]
    pub variant: Option<crate::load::examples::Variant>,
    /// Where to start: a symbol or an address (default: the ELF entry point; required
    /// for an ELF without a Multiboot header).
    #[arg(long, value_name = "SYMBOL|ADDR")]
    pub entry: Option<String>,
    /// Set a register at entry (e.g. --set esp=0x9fc00). Repeatable.
    #[arg(long = "set", value_name = "REG=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub lang: LangArgs,
    /// Disassembly syntax.
    #[arg(long, value_enum)]
    pub syntax: Option<SyntaxArg>,
    /// Do not animate steps.
    #[arg(long)]
    pub no_animation: bool,
    /// Draw one frame as text on standard output and exit (no terminal needed).
    #[arg(long)]
    pub render_once: bool,
    /// Frame size for --render-once, e.g. 160x48.
    #[arg(long, value_name = "WxH", default_value = "120x40")]
    pub size: String,
    /// For --render-once: the history position (steps executed) to draw.
    #[arg(long, value_name = "N")]
    pub at_step: Option<usize>,
    /// Serve the booted machine to gdb on 127.0.0.1:PORT while the viewer runs; the
    /// viewer follows every step gdb takes (docs/gdb.md).
    #[arg(long, value_name = "PORT", conflicts_with = "render_once")]
    pub gdb: Option<u16>,
    /// As --gdb, listening on ADDR:PORT instead of loopback (gdb's protocol has no
    /// authentication: anyone who reaches the port controls the machine).
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["gdb", "render_once"])]
    pub listen: Option<String>,
}

#[derive(Args, Debug)]
pub struct AsmArgs {
    /// The assembly source.
    #[arg(required_unless_present = "example", conflicts_with = "example")]
    pub source: Option<PathBuf>,
    /// Assemble a shipped example kernel instead (the bytes `ringstep boot --example`
    /// boots, for QEMU, gdb or objdump).
    #[arg(long, value_enum, value_name = "BITS")]
    pub example: Option<crate::load::examples::Example>,
    /// With --example: a broken variant (the same as --defsym with its symbol).
    #[arg(long, value_enum, requires = "example")]
    pub variant: Option<crate::load::examples::Variant>,
    /// Define a constant before the first line, as GNU as's --defsym does (for
    /// `.ifdef NAME`); VALUE defaults to 1. Repeatable.
    #[arg(long = "defsym", value_name = "NAME[=VALUE]")]
    pub defsyms: Vec<String>,
    /// The ELF file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The address of the first byte (a multiple of 4096; default 0x100000, 1 MiB).
    #[arg(long, value_name = "ADDR")]
    pub base: Option<String>,
    /// The entry point: a label or an address (default: the label _start, else the
    /// first byte).
    #[arg(long, value_name = "SYMBOL|ADDR")]
    pub entry: Option<String>,
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

/// The machine `trace` runs and `gdbserver` serves: a scenario or lesson scene, a
/// preset, bytes, or loaded code (one set of options for both commands).
#[derive(Args, Debug, Default, Clone)]
pub struct MachineArgs {
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
    #[command(flatten)]
    pub load: crate::load::LoadArgs,
}

#[derive(Args, Debug, Default)]
pub struct TraceArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Output format: readable text, or JSON Lines (schema ringstep-trace/1).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Option<FormatArg>,
    /// Stop after this many instructions (default: the scenario's max_steps, else 10000;
    /// 100000 for --boot, 100000000 for --boot --quiet).
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
    /// Write what a booted kernel sent on its UART to FILE instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub console: Option<PathBuf>,
}

#[derive(Args, Debug, Default)]
pub struct GdbserverArgs {
    /// Listen on 127.0.0.1:PORT (0: a free port, named on standard error).
    #[arg(long, default_value_t = 1234, conflicts_with = "listen")]
    pub port: u16,
    /// Listen on ADDR:PORT instead of loopback (gdb's protocol has no authentication:
    /// anyone who reaches the port controls the machine).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub machine: MachineArgs,
}

/// `ringstep gdbserver`: the machine `trace` would run with the same arguments, served
/// until the process is ended; events are written to `log`.
pub fn run_gdbserver(args: &GdbserverArgs, log: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let s = machine_scenario(&args.machine)?;
    let addr = match &args.listen {
        Some(a) => a.clone(),
        None => format!("127.0.0.1:{}", args.port),
    };
    crate::gdb::serve(&s, &addr, log).map_err(UsageError)
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
    machine_scenario(&args.machine)
}

/// Build the scenario `trace` runs and `gdbserver` serves.
pub fn machine_scenario(args: &MachineArgs) -> Result<Scenario, UsageError> {
    if let Some(s) = loaded_scenario(args)? {
        return Ok(s);
    }
    let mut s = match (&args.scenario, &args.preset) {
        (Some(path), _) => named_scenario(path, args.scene)?,
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
        poke_bytes(&mut s, bytes, at)?;
    }
    Ok(s)
}

/// `--bytes HEX --at ADDR`: the code written over the machine's memory, run from there.
fn poke_bytes(s: &mut Scenario, bytes: &str, at: &str) -> Result<(), UsageError> {
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
    Ok(())
}

/// The scenario `trace ARG` runs: a scene of a lesson (shipped, or a file holding a
/// `[lesson]`), else a scenario file.
fn named_scenario(path: &Path, scene: usize) -> Result<Scenario, UsageError> {
    let named = match path.to_str() {
        Some(arg) => find::classify(arg),
        None => Named::File(path),
    };
    let lesson = match named {
        Named::Shipped(id) => find::find(id),
        Named::File(p) if find::is_lesson_file(p) => {
            lesson::load_file(p).map_err(|e| e.to_string())
        }
        Named::Unknown if path.extension().is_none() => {
            return Err(UsageError(find::no_such_lesson(&path.to_string_lossy())))
        }
        Named::File(_) | Named::Unknown => {
            return scenario::load_file(path).map_err(|e| UsageError(e.to_string()))
        }
    };
    lesson_scenario(&lesson.map_err(UsageError)?, scene)
}

/// The scenario of `--elf`/`--asm`/`--bytes` without `--at` (src/load), if given.
fn loaded_scenario(args: &MachineArgs) -> Result<Option<Scenario>, UsageError> {
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
    for w in &loaded.image.warnings {
        eprintln!("ringstep: warning: {w}");
    }
    Ok(loaded.lesson.scenes.into_iter().next().map(|s| s.scenario))
}

pub fn format_of(args: &TraceArgs) -> Format {
    match args.format {
        Some(FormatArg::Json) => Format::Json,
        _ => Format::Text,
    }
}

pub fn syntax_of(args: &TraceArgs) -> Syntax {
    choice::syntax_of(args.syntax)
}

/// Run `trace` writing to `out`.
pub fn run_trace(args: &TraceArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    if args.console.is_some() && !args.machine.load.boots() {
        return Err(UsageError(
            "--console is for a booted kernel (--boot KERNEL or --example)".to_string(),
        ));
    }
    let s = scenario_for(args)?;
    // A booted kernel run with --quiet goes on the fast path: a generous bound, as
    // the debugger's (a kernel usually ends the run itself: isa-debug-exit, a fault).
    let default = if args.machine.load.boot.is_some() && args.quiet {
        crate::debug::command::DEFAULT_LIMIT
    } else {
        s.max_steps.unwrap_or(10_000)
    };
    let max = args.max_steps.unwrap_or(default);
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
    let mut console = Vec::new();
    let written = crate::debug::script::run_console(&s, &stops, &options, out, &mut console)
        .map_err(UsageError)?;
    if args.machine.load.boots() {
        write_console(args.console.as_deref(), &console)?;
    }
    match written {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(UsageError(format!("writing the trace: {e}"))),
    }
}

/// `ringstep asm FILE.S -o FILE.elf`: prints what was written.
pub fn assemble(args: &AsmArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let (origin, text) = asm_source(args)?;
    let base = match &args.base {
        Some(b) => Some(crate::load::parse_number(b).ok_or_else(|| {
            UsageError(format!(
                "--base {b}: not an address (write hex as 0x100000, or decimal)"
            ))
        })?),
        None => None,
    };
    let mut defsyms = crate::load::examples::Example::defsyms(args.variant);
    for d in &args.defsyms {
        defsyms.push(crate::load::elfout::parse_defsym(d).map_err(|e| UsageError(e.0))?);
    }
    let w =
        crate::load::elfout::assemble_elf(&text, &origin, base, args.entry.as_deref(), &defsyms)
            .map_err(|e| UsageError(e.0))?;
    std::fs::write(&args.output, &w.file)
        .map_err(|e| UsageError(format!("{}: cannot write: {e}", args.output.display())))?;
    writeln!(
        out,
        "{}: ELF{} executable, {:#x} bytes of code at {:#x}..{:#x}, entry {:#x}, {} symbols",
        args.output.display(),
        w.bits,
        w.size,
        w.base,
        w.base + w.size,
        w.entry,
        w.symbols.len()
    )
    .map_err(|e| UsageError(format!("writing the summary: {e}")))
}

/// The source `ringstep asm` assembles: (name, text).
fn asm_source(args: &AsmArgs) -> Result<(String, String), UsageError> {
    match (&args.source, args.example) {
        (_, Some(k)) => Ok((k.file_name().to_string(), k.source().to_string())),
        (Some(path), None) => {
            let origin = path.display().to_string();
            let text = crate::userfile::read_text(path)
                .map_err(|e| UsageError(format!("{origin}: cannot read file: {e}")))?;
            Ok((origin, text))
        }
        (None, None) => Err(UsageError("asm: give a FILE.S or --example".to_string())),
    }
}

/// What a booted kernel sent on its UART: to `file`, else to standard error.
fn write_console(file: Option<&Path>, console: &[u8]) -> Result<(), UsageError> {
    match file {
        Some(f) => std::fs::write(f, console)
            .map_err(|e| UsageError(format!("--console {}: cannot write: {e}", f.display()))),
        None => {
            use std::io::Write;
            let mut err = std::io::stderr().lock();
            // Best effort: standard error may be closed.
            let _ = err.write_all(console);
            let _ = err.flush();
            Ok(())
        }
    }
}

/// `ringstep boot KERNEL`: the viewer's options for a booted kernel.
pub fn boot_run_args(args: &BootArgs) -> crate::tui::RunArgs {
    crate::tui::RunArgs {
        lang: args.lang.lang,
        no_animation: args.no_animation,
        syntax: args.syntax,
        render_once: args.render_once,
        size: args.size.clone(),
        at_step: args.at_step,
        gdb: args.gdb,
        listen: args.listen.clone(),
        load: crate::load::LoadArgs {
            boot: args.kernel.clone(),
            example: args.example,
            variant: args.variant,
            entry: args.entry.clone(),
            set: args.set.clone(),
            ..Default::default()
        },
        ..Default::default()
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

/// `ringstep cost`: the table of `lesson::cost`.
pub fn print_cost(args: &LangArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let lang = choice::lang_of(args.lang);
    let trips = lesson::cost::compare().map_err(UsageError)?;
    out.write_all(lesson::cost::table(&trips, lang).as_bytes())
        .map_err(|e| UsageError(format!("writing the table: {e}")))
}

/// `ringstep list`.
pub fn list_lessons(args: &LangArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let lang = choice::lang_of(args.lang);
    let mut bad = Vec::new();
    for (_, l) in find::shipped_in_order() {
        match l {
            Ok(l) => writeln!(out, "{:<16} {}", l.id, l.title.get(lang))
                .map_err(|e| UsageError(format!("writing the list: {e}")))?,
            Err(e) => bad.push(e),
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
    let lessons: Vec<(String, Result<Lesson, String>)> = if args.lessons.is_empty() {
        find::shipped_in_order()
    } else {
        args.lessons
            .iter()
            .map(|a| (a.clone(), find::find(a)))
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

/// Bare `ringstep NAME` where NAME is no lesson but close to a command's name: say so
/// (`ringstep chek`), rather than only that there is no such lesson.
pub fn check_bare_lesson(args: &crate::tui::RunArgs) -> Result<(), UsageError> {
    use clap::CommandFactory;
    let Some(name) = args.lesson.as_deref() else {
        return Ok(());
    };
    if find::classify(name) != Named::Unknown
        || !scenario::did_you_mean(name, lesson::library::ids()).is_empty()
    {
        return Ok(());
    }
    let cli = Cli::command();
    if cli.find_subcommand(name).is_some() {
        // `ringstep --lang de run`: the options came before the command.
        return Err(UsageError(format!(
            "`{name}` is a command: write options after it (`ringstep {name} [OPTIONS]`), or leave `{name}` out for the viewer"
        )));
    }
    let hint = scenario::did_you_mean(name, cli.get_subcommands().map(|c| c.get_name()));
    if hint.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "no such lesson or command `{name}` (see `ringstep list` and `ringstep --help`){hint}"
    )))
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
