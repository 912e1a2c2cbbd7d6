//! A drawn buffer as an SVG image on an exact monospace grid: every cell is `CELL_W` by
//! `CELL_H` pixels, background colours are rectangles, and each run of cells in one style
//! is one `<tspan>` stretched (`textLength`) to exactly its cells' width, so the layout
//! holds whatever monospace font the viewer has. Colours follow a fixed dark terminal
//! palette; bold, italic, underline, dim, reverse and hidden are kept.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};

use super::buffer_to_ansi::row;

/// Cell width in pixels (0.6 em of the font size, the advance of common monospace fonts).
pub const CELL_W: u32 = 9;
/// Cell height in pixels.
pub const CELL_H: u32 = 18;
/// Font size in pixels.
pub const FONT_PX: u32 = 15;
/// From a row's top to the text baseline.
const BASELINE: u32 = 14;

/// The terminal's own foreground and background (ratatui's `Color::Reset`).
pub const DEFAULT_FG: &str = "#d4d4d4";
pub const DEFAULT_BG: &str = "#1e1e1e";

/// The sixteen named colours, in ANSI order (black, red, ..., white, then the bright ones).
pub const ANSI16: [&str; 16] = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
];

/// A colour as `#rrggbb`; `Reset` is `default`.
pub fn hex(c: Color, default: &str) -> String {
    let named = |i: usize| ANSI16[i].to_string();
    match c {
        Color::Reset => default.to_string(),
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => named(8),
        Color::LightRed => named(9),
        Color::LightGreen => named(10),
        Color::LightYellow => named(11),
        Color::LightBlue => named(12),
        Color::LightMagenta => named(13),
        Color::LightCyan => named(14),
        Color::White => named(15),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) if i < 16 => named(i as usize),
        Color::Indexed(i) if i < 232 => {
            // The 6x6x6 colour cube of the 256-colour palette.
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            let i = i - 16;
            format!(
                "#{:02x}{:02x}{:02x}",
                level(i / 36),
                level((i / 6) % 6),
                level(i % 6)
            )
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

/// What a cell looks like: foreground, background and the attributes SVG can show.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Look {
    fg: String,
    bg: String,
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    dim: bool,
    hidden: bool,
}

fn look(c: &Cell) -> Look {
    let m = c.modifier;
    let (mut fg, mut bg) = (hex(c.fg, DEFAULT_FG), hex(c.bg, DEFAULT_BG));
    if m.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look {
        fg,
        bg,
        bold: m.contains(Modifier::BOLD),
        italic: m.contains(Modifier::ITALIC),
        underline: m.contains(Modifier::UNDERLINED),
        strike: m.contains(Modifier::CROSSED_OUT),
        dim: m.contains(Modifier::DIM),
        hidden: m.contains(Modifier::HIDDEN),
    }
}

/// A symbol's characters that XML 1.0 allows (control characters become spaces).
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A run of cells in one look.
struct Run {
    x: u16,
    /// Each symbol with the cells it covers.
    glyphs: Vec<(String, u16)>,
    look: Look,
}

/// The pieces of a run that carry text, as (column, cells, text): words, joined where
/// one space separates them. Wider gaps and the spaces at either end are left to the
/// background, since a renderer may collapse them when it stretches text to
/// `textLength`.
fn segments(r: &Run) -> Vec<(u16, u16, String)> {
    let mut out: Vec<(u16, u16, String)> = Vec::new();
    let mut x = r.x;
    let mut word: Option<(u16, u16, String)> = None;
    let mut flush = |word: &mut Option<(u16, u16, String)>| {
        let Some((wx, wn, wt)) = word.take() else {
            return;
        };
        match out.last_mut() {
            Some((px, pn, pt)) if *px + *pn + 1 == wx => {
                pt.push(' ');
                pt.push_str(&wt);
                *pn += 1 + wn;
            }
            _ => out.push((wx, wn, wt)),
        }
    };
    for (sym, w) in &r.glyphs {
        if sym.trim().is_empty() {
            flush(&mut word);
        } else {
            let (_, n, t) = word.get_or_insert((x, 0, String::new()));
            *n += w;
            t.push_str(sym);
        }
        x += w;
    }
    flush(&mut word);
    out
}

fn runs(buf: &Buffer, y: u16) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for g in row(buf, y) {
        let l = look(g.cell);
        let sym = xml_chars(g.cell.symbol());
        match out.last_mut() {
            Some(r) if r.look == l => r.glyphs.push((sym, g.width)),
            _ => out.push(Run {
                x: g.x,
                glyphs: vec![(sym, g.width)],
                look: l,
            }),
        }
    }
    out
}

/// The image of `buf`, with `title` as its accessible name.
pub fn svg(buf: &Buffer, title: &str) -> String {
    let (w, h) = (buf.area.width as u32, buf.area.height as u32);
    let (pw, ph) = (w * CELL_W, h * CELL_H);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{pw}" height="{ph}" viewBox="0 0 {pw} {ph}" role="img">"#
    );
    let _ = writeln!(o, "<title>{}</title>", escape(title));
    let _ = writeln!(
        o,
        r#"<rect width="{pw}" height="{ph}" fill="{DEFAULT_BG}"/>"#
    );
    let rows: Vec<Vec<Run>> = (0..buf.area.height).map(|y| runs(buf, y)).collect();
    o.push_str("<g shape-rendering=\"crispEdges\">\n");
    for (y, runs) in rows.iter().enumerate() {
        // Neighbouring runs with one background share a rectangle.
        let mut spans: Vec<(u16, u16, &str)> = Vec::new();
        for r in runs.iter().filter(|r| r.look.bg != DEFAULT_BG) {
            let cells: u16 = r.glyphs.iter().map(|g| g.1).sum();
            match spans.last_mut() {
                Some((x, n, bg)) if *bg == r.look.bg && *x + *n == r.x => *n += cells,
                _ => spans.push((r.x, cells, &r.look.bg)),
            }
        }
        for (x, n, bg) in spans {
            let _ = writeln!(
                o,
                r#"<rect x="{}" y="{}" width="{}" height="{CELL_H}" fill="{bg}"/>"#,
                x as u32 * CELL_W,
                y as u32 * CELL_H,
                n as u32 * CELL_W,
            );
        }
    }
    o.push_str("</g>\n");
    let _ = writeln!(
        o,
        r#"<g font-family="'DejaVu Sans Mono','Cascadia Mono','Menlo','Consolas',monospace" font-size="{FONT_PX}" fill="{DEFAULT_FG}" xml:space="preserve" style="white-space:pre">"#
    );
    for (y, runs) in rows.iter().enumerate() {
        let shown: Vec<(u16, u16, String, &Look)> = runs
            .iter()
            .filter(|r| !r.look.hidden)
            .flat_map(|r| {
                segments(r)
                    .into_iter()
                    .map(move |(x, n, t)| (x, n, t, &r.look))
            })
            .collect();
        if shown.is_empty() {
            continue;
        }
        let _ = write!(o, r#"<text y="{}">"#, y as u32 * CELL_H + BASELINE);
        for (x, cells, text, l) in shown {
            let _ = write!(
                o,
                r#"<tspan x="{}" textLength="{}" lengthAdjust="spacingAndGlyphs""#,
                x as u32 * CELL_W,
                cells as u32 * CELL_W
            );
            if l.fg != DEFAULT_FG {
                let _ = write!(o, r#" fill="{}""#, l.fg);
            }
            if l.bold {
                o.push_str(r#" font-weight="bold""#);
            }
            if l.italic {
                o.push_str(r#" font-style="italic""#);
            }
            match (l.underline, l.strike) {
                (true, true) => o.push_str(r#" text-decoration="underline line-through""#),
                (true, false) => o.push_str(r#" text-decoration="underline""#),
                (false, true) => o.push_str(r#" text-decoration="line-through""#),
                (false, false) => {}
            }
            if l.dim {
                o.push_str(r#" fill-opacity="0.6""#);
            }
            let _ = write!(o, ">{}</tspan>", escape(text.as_str()));
        }
        o.push_str("</text>\n");
    }
    o.push_str("</g>\n</svg>\n");
    o
}
