//! The terminal user interface (ratatui + crossterm): a lesson's code, registers,
//! privilege state, MSRs, stacks and narrative, stepped forward and back.
//!
//! Structure (the Elm architecture): `app::Model` holds the state, `app::update` is the
//! only thing that changes it (one `Msg` at a time: keys, mouse, clock ticks, resizes),
//! `view::view` draws it and only reads. The engine is read through a view model
//! (`snapshot::Snapshot`) computed when the position changes. `term` owns the real
//! terminal and restores it whatever happens; input is read on its own thread
//! (`input`), the first run is computed behind a progress line (`starting`), and `stop`
//! ends the viewer within a second of a signal or of the terminal going away.
//!
//! The debugger: `timeline::SceneRun` keeps a `debug::Debugger` with the scene's engine
//! (breakpoints, watchpoints, `set reg` edits); `commands` wires the `:` command line
//! (`cmdline`) and the debugger keys to it; `inspect` reads the memory, GDT, IDT and TSS
//! views from the machine at the current position, drawn by `panes::memory`,
//! `panes::tables`, `panes::points` and `panes::timeline_strip`.

pub mod app;
pub mod cmdline;
pub mod commands;
pub mod degrade;
pub mod gdblink;
pub mod i18n;
pub mod input;
pub mod inspect;
pub mod keymap;
mod keymap_file;
pub mod layout;
pub mod listing;
pub mod markdown;
pub mod md_blocks;
pub mod needs;
pub mod panes;
pub mod sgr16;
pub mod snapshot;
pub mod starting;
pub mod stop;
pub mod term;
pub mod theme;
pub mod timeline;
pub mod view;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

pub use app::{update, Model, Msg, Options};
pub use keymap::{Action, Keymap};
pub use view::view;

use crate::lesson::choice::{self, LangArg, SyntaxArg};
use crate::lesson::find;
use crate::lesson::{library, Expect, Lesson, Loc, Scene, Text};
use theme::ThemeKind;

/// `ringstep run`: the interactive lesson viewer.
#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// A lesson id (see `ringstep list`) or lesson file; default: the sysenter lesson.
    pub lesson: Option<String>,
    /// Open a machine preset without a lesson (see `ringstep presets`).
    #[arg(long, conflicts_with = "lesson")]
    pub preset: Option<String>,
    /// Language of the lesson and the interface (default: from LC_ALL / LC_MESSAGES / LANG).
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,
    /// Do not animate steps (no flashing, sliding or moving).
    #[arg(long)]
    pub no_animation: bool,
    /// Step automatically every SECONDS, pausing at questions (classroom mode).
    #[arg(long, value_name = "SECONDS")]
    pub autoplay: Option<f64>,
    /// A high-contrast theme for projectors.
    #[arg(long)]
    pub high_contrast: bool,
    /// Disassembly syntax.
    #[arg(long, value_enum)]
    pub syntax: Option<SyntaxArg>,
    /// A key map file laid over the shipped one (default:
    /// $XDG_CONFIG_HOME/ringstep/keymap.toml or ~/.config/ringstep/keymap.toml, if present).
    #[arg(long, value_name = "FILE")]
    pub keymap: Option<PathBuf>,
    /// Draw one frame as text on standard output and exit (no terminal needed).
    #[arg(long)]
    pub render_once: bool,
    /// Frame size for --render-once, e.g. 160x48.
    #[arg(
        long,
        value_name = "WxH",
        default_value = "120x40",
        requires = "render_once"
    )]
    pub size: String,
    /// For --render-once: the history position (steps executed) to draw.
    #[arg(long, value_name = "N", requires = "render_once")]
    pub at_step: Option<usize>,
    /// Machine code to load and run, as hex ("51 52 55 89 e5 0f 34 cd 80 5d 5a 59 c3"),
    /// placed like --asm code.
    #[arg(long, value_name = "HEX", help_heading = "Loading your own code")]
    pub bytes: Option<String>,
    /// Serve the viewer's machine to gdb on 127.0.0.1:PORT while the viewer runs; the
    /// viewer follows every step gdb takes (docs/gdb.md).
    #[arg(
        long,
        value_name = "PORT",
        help_heading = "Debugging with gdb",
        conflicts_with = "render_once"
    )]
    pub gdb: Option<u16>,
    /// As --gdb, listening on ADDR:PORT instead of loopback (gdb's protocol has no
    /// authentication: anyone who reaches the port controls the machine).
    #[arg(long, value_name = "ADDR:PORT", help_heading = "Debugging with gdb", conflicts_with_all = ["gdb", "render_once"])]
    pub listen: Option<String>,
    #[command(flatten)]
    pub load: crate::load::LoadArgs,
}

/// A lesson without narrative over a preset machine, for `ringstep run --preset`.
pub fn preset_lesson(name: &str) -> Result<Lesson, String> {
    let scenario = crate::scenario::preset(name).map_err(|e| {
        if crate::scenario::preset_text(name).is_none() {
            format!("--preset: {}", e.message)
        } else {
            e.to_string()
        }
    })?;
    let title = Text {
        en: scenario.description.clone(),
        de: scenario.description.clone(),
    };
    Ok(Lesson {
        id: name.to_string(),
        origin: crate::scenario::preset_origin(name),
        title: Text {
            en: name.to_string(),
            de: name.to_string(),
        },
        summary: title.clone(),
        order: 0,
        sources: Vec::new(),
        code: Vec::new(),
        constants: Vec::new(),
        scenes: vec![Scene {
            title,
            scenario,
            expect: Expect::End,
            steps: Vec::new(),
            loc: Loc {
                file: crate::scenario::preset_origin(name),
                line: 1,
                col: 1,
            },
        }],
    })
}

/// Draw one frame of `model` into a buffer of `w` x `h` cells.
pub fn render_buffer(model: &Model, w: u16, h: u16) -> Buffer {
    let mut terminal = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => match e {},
    };
    let _ = terminal.draw(|f| view(model, f));
    terminal.backend().buffer().clone()
}

/// A buffer as plain text, one line per row (trailing spaces removed).
pub fn buffer_text(b: &Buffer) -> String {
    let area = b.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            if let Some(c) = b.cell((x, y)) {
                line.push_str(c.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A frame size written `WxH` (e.g. 160x48), each from 1 to 1000.
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("--size {s}: write it as WIDTHxHEIGHT, e.g. 160x48"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| format!("--size {s}: `{v}` is not a size from 1 to 1000"))
    };
    Ok((n(w)?, n(h)?))
}

/// Options and key map from the command line.
pub fn options(args: &RunArgs) -> Result<(Options, Keymap), String> {
    let lang = choice::lang_of(args.lang);
    let autoplay = match args.autoplay {
        Some(s) if !(s.is_finite() && s > 0.0 && s <= 3600.0) => {
            return Err(format!(
                "--autoplay {s}: give the seconds between steps, more than 0 and at most 3600"
            ))
        }
        a => a,
    };
    let opts = Options {
        lang,
        animation: !args.no_animation,
        autoplay,
        theme: if args.high_contrast {
            ThemeKind::HighContrast
        } else {
            ThemeKind::Normal
        },
        color: theme::color_allowed(std::env::var_os("NO_COLOR").as_deref()),
        syntax: choice::syntax_of(args.syntax),
    };
    let keymap = match &args.keymap {
        Some(p) => Keymap::load(Some(p), true)?,
        None => Keymap::load(keymap::user_keymap_path().as_deref(), false)?,
    };
    Ok((opts, keymap))
}

/// The lesson `run` opens.
pub fn lesson_of(args: &RunArgs) -> Result<Lesson, String> {
    lesson_and_setup(args).map(|(l, _)| l)
}

/// How loaded code was set up, and the image's alternatives (one line each).
type LoadedSetup = (crate::load::Setup, Vec<String>);

/// The lesson `run` opens and, for loaded code (--elf/--asm/--bytes), how it was set up
/// and the image's alternatives (for the command line's `alt`).
fn lesson_and_setup(args: &RunArgs) -> Result<(Lesson, Option<LoadedSetup>), String> {
    // --elf / --asm / --bytes (src/load): a lesson around the loaded code.
    let setup = args
        .load
        .setup(args.bytes.as_deref(), args.preset.as_deref())
        .map_err(|e| e.0)?;
    if let Some(setup) = setup {
        if let Some(l) = &args.lesson {
            return Err(format!(
                "{l}: a lesson cannot be combined with loading code; load into a scenario file with --machine FILE"
            ));
        }
        let loaded = crate::load::load(&setup).map_err(|e| e.0)?;
        let alts = commands::alternative_lines(&loaded.image);
        return Ok((loaded.lesson, Some((setup, alts))));
    }
    let lesson = match (&args.preset, &args.lesson) {
        (Some(p), _) => preset_lesson(p),
        (None, Some(l)) => find::find(l),
        (None, None) => find::find(library::DEFAULT_LESSON),
    }?;
    Ok((lesson, None))
}

/// Everything `run` starts from, read and checked before anything is run.
pub struct Prepared {
    pub opts: Options,
    pub keymap: Keymap,
    pub lesson: Lesson,
    setup: Option<LoadedSetup>,
    /// `--gdb` / `--listen`: the bound listener.
    gdb: Option<std::net::TcpListener>,
}

/// Where `--gdb PORT` or `--listen ADDR:PORT` asks the viewer to serve gdb.
pub fn gdb_addr(args: &RunArgs) -> Option<String> {
    match (&args.listen, args.gdb) {
        (Some(a), _) => Some(a.clone()),
        (None, Some(port)) => Some(format!("127.0.0.1:{port}")),
        (None, None) => None,
    }
}

/// Read the options, the key map and the lesson (or the code to load).
pub fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    let (opts, keymap) = options(args)?;
    let (lesson, setup) = lesson_and_setup(args)?;
    if lesson.scenes.is_empty() {
        return Err(format!("lesson `{}` has no scene", lesson.id));
    }
    let gdb = match gdb_addr(args) {
        Some(a) => Some(crate::gdb::listen::bind(&a)?),
        None => None,
    };
    Ok(Prepared {
        opts,
        keymap,
        lesson,
        setup,
        gdb,
    })
}

impl Prepared {
    /// Run the first scene and build the model, telling in `progress` how many steps
    /// have been played so far.
    pub fn build(self, progress: &std::sync::atomic::AtomicU64) -> Result<Model, String> {
        let mut model = Model::counting(self.lesson, &self.opts, self.keymap, progress)?;
        if let Some((setup, alts)) = self.setup {
            model.debug.setup = Some(setup);
            model.debug.alternatives = alts;
        }
        Ok(model)
    }

    /// What the terminal needs to compute the model on a worker thread.
    pub fn into_start(mut self) -> starting::Start {
        let gdb = self.gdb.take();
        let max_steps = self
            .lesson
            .scenes
            .first()
            .and_then(|s| s.scenario.max_steps)
            .unwrap_or(1000);
        starting::Start {
            keymap: self.keymap.clone(),
            lang: self.opts.lang,
            max_steps,
            caps: degrade::caps_from_env(),
            gdb,
            build: Box::new(move |progress| self.build(progress)),
        }
    }
}

/// Build the model `run` starts with.
pub fn start(args: &RunArgs) -> Result<Model, String> {
    prepare(args)?.build(&std::sync::atomic::AtomicU64::new(0))
}

/// The message for a standard input or output that is not a terminal.
pub const NOT_A_TERMINAL: &str = "the interactive lesson viewer needs a terminal, but standard input or output is not one.\n  For a headless run use `ringstep trace` (e.g. `ringstep trace sysenter`, or `--format json`),\n  or `ringstep check` to verify lessons; `ringstep run --render-once` prints a single frame.";

/// `ringstep run` (and bare `ringstep`): the exit status.
pub fn main(args: &RunArgs) -> u8 {
    if args.render_once {
        let size = match parse_size(&args.size) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ringstep: {e}");
                return 2;
            }
        };
        return match start(args) {
            Ok(mut model) => {
                update(&mut model, Msg::Resize(size.0, size.1));
                if let Some(n) = args.at_step {
                    model.goto(n);
                }
                let text = buffer_text(&render_buffer(&model, size.0, size.1));
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                0
            }
            Err(e) => {
                eprintln!("ringstep: {e}");
                2
            }
        };
    }
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!("ringstep: {NOT_A_TERMINAL}");
        return 2;
    }
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringstep: {e}");
            return 2;
        }
    };
    match term::run(prepared.into_start()) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            eprintln!("ringstep: {e}");
            2
        }
        Err(e) => {
            eprintln!("ringstep: terminal error: {e}");
            1
        }
    }
}
