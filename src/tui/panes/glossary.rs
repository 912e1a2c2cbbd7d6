//! The glossary overlay (`d`, `:glossary TERM`): the terms the current narrative step
//! uses - or one term, or all of them - each with its full name, two or three sentences
//! and its sources, wrapped to the overlay and scrolled with the help's keys.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::wrap_text;
use crate::tui::app::Model;
use crate::tui::layout;
use crate::tui::view::Ctx;

/// What the glossary overlay shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// The terms the current step's text uses (all terms when it uses none).
    Step,
    /// One term, by its index in the glossary.
    Term(usize),
    All,
}

/// A line of the overlay, before styling.
enum Row {
    Head(String),
    Text(String),
    Source(String),
    Blank,
}

/// The glossary terms `shown` stands for at the model's current step.
pub fn terms(m: &Model, shown: Shown) -> Vec<usize> {
    let all = || (0..m.glossary.terms.len()).collect();
    match shown {
        Shown::Term(i) if i < m.glossary.terms.len() => vec![i],
        Shown::Term(_) | Shown::All => all(),
        Shown::Step => {
            let used = m
                .current_step()
                .and_then(|i| m.scene().and_then(|s| s.steps.get(i)))
                .map(|st| m.glossary.used_in(st.text.get(m.lang)))
                .unwrap_or_default();
            if used.is_empty() {
                all()
            } else {
                used
            }
        }
    }
}

/// The overlay's rectangle on a screen of `size`.
pub fn area(size: (u16, u16)) -> Rect {
    let full = Rect::new(0, 0, size.0, size.1);
    layout::centered(full, size.0.saturating_sub(4).min(100), size.1)
}

fn rows(m: &Model, shown: Shown, width: usize) -> Vec<Row> {
    let mut out = Vec::new();
    for i in terms(m, shown) {
        let t = &m.glossary.terms[i];
        let head = format!("{} - {}", t.name, t.title.get(m.lang));
        out.extend(wrap_text(&head, width).into_iter().map(Row::Head));
        // The text's `code` marks are Markdown; the overlay shows plain text.
        out.extend(
            wrap_text(&t.text.get(m.lang).replace('`', ""), width)
                .into_iter()
                .map(Row::Text),
        );
        let src = t.sources.join("; ");
        out.extend(wrap_text(&src, width).into_iter().map(Row::Source));
        out.push(Row::Blank);
    }
    out.pop();
    out
}

/// (rows in all, rows shown) of the overlay for the model's screen.
pub fn scroll(m: &Model, shown: Shown) -> (usize, usize) {
    let a = area(m.size);
    let inner_w = a.width.saturating_sub(4) as usize;
    let shown_rows = a.height.saturating_sub(2) as usize;
    (rows(m, shown, inner_w.max(8)).len(), shown_rows.max(1))
}

pub fn draw(ctx: &Ctx, f: &mut Frame, shown: Shown) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let a = area(m.size);
    let (total, rows_shown) = scroll(m, shown);
    let top = m.help_top.min(total.saturating_sub(rows_shown));
    let title = match shown {
        Shown::Step if has_step_terms(m) => format!("{} · {}", w.glossary, w.glossary_step),
        Shown::Term(_) => w.glossary.to_string(),
        _ => format!("{} · {}", w.glossary, w.glossary_all),
    };
    let mut block = ctx.block(format!("{title} (esc)"), true);
    if total > rows_shown {
        let end = (top + rows_shown).min(total);
        let more = if end < total { " ▼" } else { "" };
        block = block.title_bottom(format!(" {}-{end}/{total}{more} ", top + 1));
    }
    let inner_w = a.width.saturating_sub(4) as usize;
    let lines: Vec<Line> = rows(m, shown, inner_w.max(8))
        .into_iter()
        .skip(top)
        .take(rows_shown)
        .map(|r| match r {
            Row::Head(s) => Line::styled(format!(" {s}"), t.bold),
            Row::Text(s) => Line::styled(format!(" {s}"), t.text),
            Row::Source(s) => Line::styled(format!(" {s}"), t.dim),
            Row::Blank => Line::default(),
        })
        .collect();
    f.render_widget(Clear, a);
    f.render_widget(Paragraph::new(lines).block(block), a);
}

/// The current step uses at least one glossary term.
fn has_step_terms(m: &Model) -> bool {
    m.current_step()
        .and_then(|i| m.scene().and_then(|s| s.steps.get(i)))
        .is_some_and(|st| !m.glossary.used_in(st.text.get(m.lang)).is_empty())
}
