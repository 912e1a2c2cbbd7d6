//! The timeline strip: the whole recorded run in one row, each cell a stretch of
//! positions coloured (and drawn heavier in the kernel) by the CPL there, with privilege changes (▼ into the kernel,
//! ▲ back out), exceptions (!, also a run's end at an exception without a handler),
//! interrupts (i), hand edits (*) and breakpoint hits (●) marked, and the current
//! position shown. `<` and `>` jump between the events.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fit;
use crate::debug::timeline::Mark;
use crate::engine::fault::vector_name;
use crate::tui::view::Ctx;

/// An event in a few words (also the status line after `<` / `>`).
pub fn mark_text(mark: &Mark) -> String {
    match mark {
        Mark::Cpl { from, to } => format!("CPL {from} -> {to}"),
        Mark::Exception {
            vector, error_code, ..
        } => match error_code {
            Some(c) => format!("{}({c:#x})", vector_name(*vector)),
            None => vector_name(*vector).into_owned(),
        },
        Mark::Interrupt { vector, .. } => format!("interrupt {vector:#x}"),
        Mark::Edit => "set reg".to_string(),
    }
}

/// The glyph of an event; the more telling one wins in a shared cell.
fn glyph(mark: &Mark) -> (char, u8) {
    match mark {
        Mark::Exception { .. } => ('!', 4),
        Mark::Cpl { to, .. } if *to < 3 => ('▼', 3),
        Mark::Cpl { .. } => ('▲', 3),
        Mark::Interrupt { .. } => ('i', 2),
        Mark::Edit => ('*', 1),
    }
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    // While the command line offers completions, this row lists them.
    if let Some(line) = &m.debug.cmdline {
        if !line.candidates.is_empty() {
            let text = format!(" {}: {}", w.candidates, line.candidates.join("  "));
            f.render_widget(
                Paragraph::new(Span::styled(fit(&text, area.width as usize), t.label)),
                area,
            );
            return;
        }
    }
    let last = m.run.last_state();
    let label = format!(" {} ", w.timeline);
    let right = format!(" {}/{last} ", m.pos);
    let used = label.chars().count() + right.chars().count() + 2;
    let cells = (area.width as usize).saturating_sub(used);
    if cells < 4 {
        return;
    }
    let states = last + 1;
    // Cell c covers positions [c*states/cells, (c+1)*states/cells).
    let cell_of = |pos: usize| (pos * cells / states.max(1)).min(cells - 1);
    let n_cells = cells.min(states);
    let cell_of = |pos: usize| {
        if states <= cells {
            pos
        } else {
            cell_of(pos)
        }
    };
    let mut kernel = vec![false; n_cells];
    let mut bp = vec![false; n_cells];
    for (p, s) in m.run.states.iter().enumerate() {
        let c = cell_of(p);
        if s.cpl < 3 {
            kernel[c] = true;
        }
        if p > 0 && m.has_break(s.ip) {
            bp[c] = true;
        }
    }
    let mut marks: Vec<Option<(char, u8)>> = vec![None; n_cells];
    for e in &m.run.events {
        let c = cell_of((e.step + 1).min(last));
        let g = glyph(&e.mark);
        if marks[c].is_none_or(|(_, rank)| rank < g.1) {
            marks[c] = Some(g);
        }
    }
    // A run that ended in an exception without a handler: its last state.
    if matches!(m.run.stop_reason(), crate::engine::StopReason::Fault(_)) {
        marks[cell_of(last)] = Some(('!', 4));
    }
    let here = cell_of(m.pos.min(last));
    let mut spans = vec![Span::styled(label, t.dim), Span::raw("▕")];
    for c in 0..n_cells {
        let ch = match (marks[c], bp[c]) {
            (Some((g, _)), _) => g,
            (None, true) => '●',
            (None, false) if kernel[c] => '━',
            (None, false) => '─',
        };
        let mut style = if kernel[c] { t.kernel } else { t.user };
        if c == here {
            style = t.current;
        }
        spans.push(Span::styled(
            if c == here && (ch == '─' || ch == '━') {
                "┃".to_string()
            } else {
                ch.to_string()
            },
            style,
        ));
    }
    spans.push(Span::raw("▏"));
    spans.push(Span::styled(right, t.dim));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
