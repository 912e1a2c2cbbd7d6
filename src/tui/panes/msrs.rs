//! The MSR pane: the MSRs the lesson's entry instruction uses, with names, values and the
//! symbols they point at; marked when the last step read or wrote them (flashing) and
//! when the next instruction will.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use unicode_width::UnicodeWidthStr;

use super::{fit, hex};
use crate::tui::i18n::Words;
use crate::tui::snapshot::MsrRow;
use crate::tui::view::Ctx;

/// The access mark after an MSR's value: what the last step did to it, else what the
/// next instruction will do.
pub fn mark(r: &MsrRow, w: &Words) -> &'static str {
    let touched = r.last_read || r.last_write;
    match (r.next.read, r.next.write, touched) {
        (_, _, true) if r.last_write => w.written_mark,
        (_, _, true) => w.read_mark,
        (true, true, _) => " rw",
        (true, false, _) => " r",
        (false, true, _) => " w",
        _ => "",
    }
}

/// The widest MSR row, its symbol whole: names with their IA32_ prefix (`full`) or
/// without, padded to the longest, then the value, the mark and ` <symbol>`.
pub fn widest_row(rows: &[MsrRow], digits: usize, full: bool, w: &Words) -> usize {
    let name = |r: &MsrRow| {
        if full {
            r.name.len()
        } else {
            r.name.trim_start_matches("IA32_").len()
        }
    };
    let name_w = rows.iter().map(name).max().unwrap_or(0);
    rows.iter()
        .map(|r| {
            let sym = r.symbol.as_ref().map_or(0, |x| x.width() + 3);
            name_w + 1 + digits + mark(r, w).width().max(" rw".len()) + sym
        })
        .max()
        .unwrap_or(0)
}

/// Name, value and access mark of one MSR.
fn row_spans(ctx: &Ctx, r: &MsrRow, name: &str, name_w: usize, index: bool) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let digits = if ctx.model.snap.long { 16 } else { 8 };
    let named = ctx.highlighted(&format!("msr.{}", r.name))
        || ctx.highlighted(&format!("msr.{}", r.name.trim_start_matches("IA32_")));
    let touched = r.last_read || r.last_write;
    let name_style = if named { t.highlight } else { t.label };
    let value_style = if r.last_write {
        ctx.changed()
    } else if r.last_read {
        ctx.flash.unwrap_or(t.read)
    } else {
        t.text
    };
    let mut spans = Vec::new();
    if index {
        spans.push(Span::styled(format!("{:#x} ", r.index), t.dim));
    }
    spans.push(Span::styled(format!("{name:<name_w$} "), name_style));
    spans.push(Span::styled(hex(r.value, digits), value_style));
    let mark = mark(r, ctx.words);
    let mark_style = if touched {
        value_style
    } else if r.next.write {
        t.write
    } else {
        t.read
    };
    spans.push(Span::styled(mark, mark_style));
    spans
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let s = &ctx.model.snap;
    let t = &ctx.theme;
    let hl = ctx.highlighted("msrs");
    let block = ctx.block(ctx.words.msrs.to_string(), hl);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let digits = if s.long { 16 } else { 8 };
    // The IA32_ prefixes only where every row still fits whole with them.
    let short = w < widest_row(&s.msrs, digits, true, ctx.words);
    let shown_name = |n: &'static str| {
        if short {
            n.trim_start_matches("IA32_")
        } else {
            n
        }
    };
    let name_w = s
        .msrs
        .iter()
        .map(|r| shown_name(r.name).len())
        .max()
        .unwrap_or(0);
    let show_index = w >= name_w + digits + 30;
    let mut lines = Vec::new();
    let mut spare = (inner.height as usize).saturating_sub(s.msrs.len());
    for r in &s.msrs {
        let mut spans = row_spans(ctx, r, shown_name(r.name), name_w, show_index);
        let mut below = None;
        if let Some(sym) = &r.symbol {
            let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
            let room = w.saturating_sub(used + 3);
            if sym.chars().count() > room && spare > 0 {
                // A free row: the symbol whole on its own line, under the value.
                spare -= 1;
                let indent = w.saturating_sub(sym.chars().count() + 2).min(name_w + 1);
                let text = format!("{}<{}>", " ".repeat(indent), sym);
                below = Some(Line::styled(fit(&text, w), t.dim));
            } else if room > 4 {
                spans.push(Span::styled(format!(" <{}>", fit(sym, room)), t.dim));
            }
        }
        lines.push(Line::from(spans));
        lines.extend(below);
    }
    f.render_widget(Paragraph::new(lines), inner);
}
