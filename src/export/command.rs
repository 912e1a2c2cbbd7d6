//! `ringstep export` and `ringstep render`: their options and what they do.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{buffer_to_ansi, cast, frame_at, frame_file_name, frame_label, frames, html, svg};
use super::{Frame, Settings};
use crate::lesson::choice::{lang_of, syntax_of, LangArg, SyntaxArg};
use crate::lesson::find;
use crate::tui::theme::ThemeKind;
use crate::usage::UsageError;

/// The widest frame `export` and `render` draw, in columns. Every step's frame is kept
/// until the export is written (about 55 bytes per cell), so at 1000x1000 a lesson of 58
/// steps needed more than 3 GB; at 400x200 it takes about 250 MB.
pub const MAX_COLS: u16 = 400;
/// The tallest frame `export` and `render` draw, in rows.
pub const MAX_ROWS: u16 = 200;

/// Options every export shares: how frames are drawn.
#[derive(Args, Debug, Clone)]
pub struct DrawArgs {
    /// A lesson id (see `ringstep list`) or lesson file.
    pub lesson: String,
    /// Frame size in columns and rows, e.g. 160x48 (at most 400x200).
    #[arg(long, value_name = "WxH", default_value = "120x40")]
    pub size: String,
    /// Language of the lesson and the interface (default: from LC_ALL / LC_MESSAGES / LANG).
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,
    /// Disassembly syntax.
    #[arg(long, value_enum, default_value = "att")]
    pub syntax: SyntaxArg,
    /// The high-contrast theme.
    #[arg(long)]
    pub high_contrast: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    /// An asciicast v2 recording for asciinema (FILE).
    Cast,
    /// One SVG image per step (a directory).
    Svg,
    /// One self-contained HTML page with every step (FILE).
    Html,
}

/// `ringstep export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub draw: DrawArgs,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The file (cast, html) or directory (svg) to write; `-` writes a cast or page to
    /// standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Seconds between frames of a cast.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub step_delay: f64,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RenderFormat {
    /// Plain text.
    Text,
    /// Text with ANSI colour sequences.
    Ansi,
    /// An SVG image.
    Svg,
}

/// `ringstep render`.
#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    #[command(flatten)]
    pub draw: DrawArgs,
    /// The scene (from 1).
    #[arg(long, default_value_t = 1)]
    pub scene: usize,
    /// Instructions executed in the scene before the frame (0: its start).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub step: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: RenderFormat,
}

fn settings(d: &DrawArgs) -> Result<Settings, UsageError> {
    let size = crate::tui::parse_size(&d.size).map_err(UsageError)?;
    if size.0 > MAX_COLS || size.1 > MAX_ROWS {
        return Err(UsageError(format!(
            "--size {}: frames are at most {MAX_COLS}x{MAX_ROWS} (every step's frame is kept in memory)",
            d.size
        )));
    }
    Ok(Settings {
        lang: lang_of(d.lang),
        syntax: syntax_of(Some(d.syntax)),
        theme: if d.high_contrast {
            ThemeKind::HighContrast
        } else {
            ThemeKind::Normal
        },
        size,
    })
}

fn write_file(path: &Path, text: &str, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    if path == Path::new("-") {
        return match out.write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(UsageError(format!("writing to standard output: {e}")))
            }
            _ => Ok(()),
        };
    }
    std::fs::write(path, text).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

fn step_delay_ms(seconds: f64) -> Result<u64, UsageError> {
    if !(seconds.is_finite() && (0.001..=3600.0).contains(&seconds)) {
        return Err(UsageError(format!(
            "--step-delay {seconds}: give the seconds between frames, from 0.001 to 3600"
        )));
    }
    Ok((seconds * 1000.0).round() as u64)
}

fn write_svgs(dir: &Path, id: &str, frames: &[Frame]) -> Result<(), UsageError> {
    if dir == Path::new("-") {
        return Err(UsageError(
            "--format svg writes one file per step: give a directory with -o".into(),
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!(
            "{}: not a directory (--format svg writes one file per step into a directory)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| UsageError(format!("{}: {e}", dir.display())))?;
    for f in frames {
        let path = dir.join(frame_file_name(f));
        let image = svg::svg(&f.buffer, &format!("ringstep: {}", frame_label(id, f)));
        std::fs::write(&path, image).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `ringstep export`: a cast, SVG files or an HTML page of the whole lesson.
pub fn run_export(args: &ExportArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let s = settings(&args.draw)?;
    let delay = step_delay_ms(args.step_delay)?;
    let lesson = find::find(&args.draw.lesson).map_err(UsageError)?;
    let all = frames(lesson.clone(), &s).map_err(UsageError)?;
    match args.format {
        ExportFormat::Cast => {
            let title = format!("ringstep: {}", lesson.title.get(s.lang));
            let text = cast::cast(&all, &title, delay).map_err(UsageError)?;
            write_file(&args.output, &text, out)
        }
        ExportFormat::Svg => write_svgs(&args.output, &lesson.id, &all),
        ExportFormat::Html => write_file(&args.output, &html::html(&lesson, s.lang, &all), out),
    }
}

/// `ringstep render`: one frame on standard output.
pub fn run_render(args: &RenderArgs, out: &mut dyn std::io::Write) -> Result<(), UsageError> {
    let s = settings(&args.draw)?;
    let lesson = find::find(&args.draw.lesson).map_err(UsageError)?;
    let id = lesson.id.clone();
    let f = frame_at(lesson, &s, args.scene, args.step).map_err(UsageError)?;
    let text = match args.format {
        RenderFormat::Text => buffer_to_ansi::text(&f.buffer),
        RenderFormat::Ansi => buffer_to_ansi::ansi_lines(&f.buffer),
        RenderFormat::Svg => svg::svg(&f.buffer, &format!("ringstep: {}", frame_label(&id, &f))),
    };
    write_file(Path::new("-"), &text, out)
}
