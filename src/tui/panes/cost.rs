//! The cost overlay (`:cost`): the architectural work the engine counted for the last
//! step and for the scene so far (src/engine/cost.rs), beside the getpid() round trips
//! through `int $0x80`, `sysenter` and `syscall` (`lesson::cost::compare`): for each,
//! the entry instruction, the return and the whole trip. Every number is the engine's.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::wrap_text;
use crate::engine::cost::FIELDS;
use crate::lesson::cost::{counter_label, Trip};
use crate::tui::app::Model;
use crate::tui::layout;
use crate::tui::view::Ctx;

/// A counter's three numbers for one path: `in/out/trip`.
fn triple(t: &Trip, read: fn(&crate::engine::Cost) -> u32) -> String {
    format!("{}/{}/{}", read(&t.entry), read(&t.exit), read(&t.round))
}

/// The table's lines (without the legend), for the model's language.
pub fn table(m: &Model) -> Vec<String> {
    let w = super::super::i18n::words(m.lang);
    let trips: &[(&str, Trip)] = match &m.trips {
        Some(Ok(t)) => t,
        _ => &[],
    };
    let label_w = FIELDS
        .iter()
        .map(|(n, _)| counter_label(n, m.lang).chars().count())
        .max()
        .unwrap_or(0);
    let cell_w = trips
        .iter()
        .flat_map(|(_, t)| {
            std::iter::once(t.entry_instr.chars().count())
                .chain(FIELDS.iter().map(|(_, r)| triple(t, *r).len()))
        })
        .max()
        .unwrap_or(0);
    let (s, c) = (&m.snap.step_cost, &m.snap.cost);
    let mut head = format!("{:label_w$} {:>7} {:>7} |", "", w.cost_step, w.cost_scene);
    for (_, t) in trips {
        head.push_str(&format!(" {:<cell_w$}", t.entry_instr));
    }
    let mut out = vec![head.trim_end().to_string()];
    for (name, read) in FIELDS {
        let mut row = format!(
            "{:label_w$} {:>7} {:>7} |",
            counter_label(name, m.lang),
            read(s),
            read(c)
        );
        for (_, t) in trips {
            row.push_str(&format!(" {:<cell_w$}", triple(t, *read)));
        }
        out.push(row.trim_end().to_string());
    }
    if let Some(Err(e)) = &m.trips {
        out.push(e.clone());
    }
    out
}

/// The overlay's rectangle for `lines` lines on a screen of `size`.
fn area(size: (u16, u16), width: usize, lines: usize) -> Rect {
    let full = Rect::new(0, 0, size.0, size.1);
    let w = (width as u16 + 4).min(size.0.saturating_sub(2));
    let h = (lines as u16 + 2).min(size.1);
    layout::centered(full, w, h)
}

pub fn draw(ctx: &Ctx, f: &mut Frame) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let rows = table(m);
    let width = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
    let mut legend = wrap_text(w.cost_legend, width.max(40));
    if m.snap.uncounted > 0 {
        let note = format!("{} {}", m.snap.uncounted, w.cost_uncounted);
        legend.extend(wrap_text(&note, width.max(40)));
    }
    let a = area(m.size, width.max(40), rows.len() + 1 + legend.len());
    let mut lines: Vec<Line> = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let style = if i == 0 { t.bold } else { t.text };
        lines.push(Line::styled(format!(" {r}"), style));
    }
    lines.push(Line::default());
    for l in legend {
        lines.push(Line::styled(format!(" {l}"), t.dim));
    }
    let block = ctx.block(format!("{} (esc)", w.cost_title), true);
    f.render_widget(Clear, a);
    f.render_widget(Paragraph::new(lines).block(block), a);
}
