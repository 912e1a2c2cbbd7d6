//! A drawn buffer as terminal output: plain text, ANSI-coloured lines, and the escape
//! sequences that take a terminal from one frame to the next. The last are written by
//! ratatui's own crossterm backend from `Buffer::diff`, so a recording replays exactly
//! what the viewer sends to a real terminal.

use std::fmt::Write as _;

use ratatui::backend::{Backend, CrosstermBackend, IntoCrossterm};
use ratatui::buffer::{Buffer, Cell};
use ratatui::crossterm::style::{Attribute, Colors, SetAttribute, SetColors};
use ratatui::crossterm::Command;
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

/// One visible symbol of a row: a cell, and the cells it covers (2 for a wide character).
#[derive(Clone, Copy, Debug)]
pub struct Glyph<'a> {
    pub x: u16,
    pub width: u16,
    pub cell: &'a Cell,
}

/// The symbols of row `y`, left to right; the cells hidden under a wide character are
/// covered by it and not listed.
pub fn row(buf: &Buffer, y: u16) -> Vec<Glyph<'_>> {
    let area = buf.area;
    let mut out = Vec::new();
    let mut x = area.x;
    while x < area.right() {
        let Some(cell) = buf.cell((x, area.y + y)) else {
            break;
        };
        let width = (cell.symbol().width() as u16)
            .clamp(1, 2)
            .min(area.right() - x);
        out.push(Glyph { x, width, cell });
        x += width;
    }
    out
}

/// The buffer as plain text, one line per row, trailing spaces removed.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = row(buf, y).iter().map(|g| g.cell.symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// True for a blank cell with the terminal's own colours and no attributes.
fn plain_blank(c: &Cell) -> bool {
    c.symbol() == " " && c.fg == Color::Reset && c.bg == Color::Reset && c.modifier.is_empty()
}

/// The SGR sequence that sets a cell's style from scratch (attributes reset first).
pub fn sgr(c: &Cell) -> String {
    let mut out = String::new();
    let mut put = |cmd: &dyn Fn(&mut String) -> std::fmt::Result| {
        let _ = cmd(&mut out);
    };
    put(&|s| SetAttribute(Attribute::Reset).write_ansi(s));
    let attrs = [
        (Modifier::BOLD, Attribute::Bold),
        (Modifier::DIM, Attribute::Dim),
        (Modifier::ITALIC, Attribute::Italic),
        (Modifier::UNDERLINED, Attribute::Underlined),
        (Modifier::SLOW_BLINK, Attribute::SlowBlink),
        (Modifier::RAPID_BLINK, Attribute::RapidBlink),
        (Modifier::REVERSED, Attribute::Reverse),
        (Modifier::HIDDEN, Attribute::Hidden),
        (Modifier::CROSSED_OUT, Attribute::CrossedOut),
    ];
    for (m, a) in attrs {
        if c.modifier.contains(m) {
            put(&|s| SetAttribute(a).write_ansi(s));
        }
    }
    if c.fg != Color::Reset || c.bg != Color::Reset {
        let colors = Colors::new(c.fg.into_crossterm(), c.bg.into_crossterm());
        put(&|s| SetColors(colors).write_ansi(s));
    }
    out
}

/// The buffer as lines of text with SGR colour sequences, for a terminal or `less -R`:
/// no cursor movement, every line ends with the attributes reset.
pub fn ansi_lines(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let glyphs = row(buf, y);
        let keep = glyphs
            .iter()
            .rposition(|g| !plain_blank(g.cell))
            .map_or(0, |i| i + 1);
        let mut style = None;
        for g in &glyphs[..keep] {
            let s = (g.cell.fg, g.cell.bg, g.cell.modifier);
            if style != Some(s) {
                out.push_str(&sgr(g.cell));
                style = Some(s);
            }
            out.push_str(g.cell.symbol());
        }
        if style.is_some() {
            let _ = write!(out, "\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// The output that takes a terminal showing `prev` to showing `next` (both the same
/// size), as ratatui's crossterm backend writes it. Without `prev`: hide the cursor,
/// clear the screen and draw `next` whole.
pub fn redraw(prev: Option<&Buffer>, next: &Buffer) -> Result<String, String> {
    let mut bytes: Vec<u8> = Vec::new();
    let blank;
    let fresh = prev.is_none();
    let prev = match prev {
        Some(p) if p.area == next.area => p,
        Some(p) => {
            return Err(format!(
                "frames of different sizes ({}x{} and {}x{})",
                p.area.width, p.area.height, next.area.width, next.area.height
            ))
        }
        None => {
            blank = Buffer::empty(next.area);
            &blank
        }
    };
    {
        let mut backend = CrosstermBackend::new(&mut bytes);
        let io = |e: std::io::Error| format!("writing terminal output: {e}");
        if fresh {
            backend.hide_cursor().map_err(io)?;
            backend.clear().map_err(io)?;
        }
        let changes = prev.diff(next);
        backend.draw(changes.into_iter()).map_err(io)?;
        backend.flush().map_err(io)?;
    }
    String::from_utf8(bytes).map_err(|e| format!("terminal output is not UTF-8: {e}"))
}
