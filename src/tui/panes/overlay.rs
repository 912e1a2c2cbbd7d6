//! Overlays: the help generated from the key map, and the lesson picker.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{fit, wrap_text};
use crate::lesson::Lang;
use crate::tui::layout;
use crate::tui::view::Ctx;

/// The help lines: one per binding, from the key map.
pub fn help_lines(ctx: &Ctx) -> Vec<Line<'static>> {
    let m = ctx.model;
    let t = &ctx.theme;
    let key_w = m
        .keymap
        .bindings
        .iter()
        .map(|b| b.keys_label().chars().count())
        .max()
        .unwrap_or(8)
        .min(24);
    let mut lines: Vec<Line> = m
        .keymap
        .bindings
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<key_w$}  ", fit(&b.keys_label(), key_w)), t.key),
                Span::styled(b.description(m.lang).to_string(), t.text),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(format!(" {}", mouse_text(m.lang)), t.dim));
    lines
}

/// The last line of the help: what the mouse does.
fn mouse_text(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "mouse: click a code line to select it; the wheel scrolls the code and the narrative"
        }
        Lang::De => "Maus: Klick auf eine Codezeile wählt sie; das Rad rollt Code und Erläuterung",
    }
}

pub fn help(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let mut lines = help_lines(ctx);
    // Short of one row: the blank line above the mouse line goes first.
    if lines.len() as u16 + 2 == area.height.saturating_sub(1) {
        lines.retain(|l| l.width() > 0);
    }
    let km = &ctx.model.keymap;
    let mut close = match km.first_key("help") {
        Some(k) => format!("{k} / esc"),
        None => "esc".to_string(),
    };
    if help_scroll(ctx.model).is_some() {
        let moves: Vec<String> = ["select_down", "select_up", "scroll_down", "scroll_up"]
            .iter()
            .filter_map(|a| km.first_key(a))
            .map(|k| k.to_string())
            .collect();
        close = format!("{} · {close}", moves.join(" "));
    }
    let block = ctx.block(format!("{} ({close})", ctx.words.help_title), true);
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16 + 4;
    if (lines.len() as u16) + 2 <= area.height.saturating_sub(2) {
        let b = layout::centered(area, width, lines.len() as u16 + 2);
        f.render_widget(Clear, b);
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            b,
        );
        return;
    }
    two_columns(ctx, f, area, block);
}

/// One help column: its own key width; descriptions wrap while `rows` allow (those
/// needing fewest extra rows first, so that most are shown whole), the rest are cut
/// with an ellipsis.
fn help_column(
    ctx: &Ctx,
    entries: &[(String, String)],
    w: usize,
    rows: usize,
) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let key_w = entries.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let desc_w = w.saturating_sub(key_w + 3).max(4);
    let wrapped: Vec<Vec<String>> = entries.iter().map(|(_, d)| wrap_text(d, desc_w)).collect();
    // Every entry gets one row; spare rows go to the entries that need most.
    let mut given = vec![1usize; entries.len()];
    let mut spare = rows.saturating_sub(entries.len());
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| wrapped[i].len());
    for i in order {
        let more = wrapped[i].len() - 1;
        if more <= spare {
            given[i] += more;
            spare -= more;
        }
    }
    let mut lines = Vec::new();
    for (i, (keys, desc)) in entries.iter().enumerate() {
        let parts: Vec<String> = if given[i] >= wrapped[i].len() {
            wrapped[i].clone()
        } else {
            vec![fit(desc, desc_w)]
        };
        for (k, part) in parts.into_iter().enumerate() {
            let head = if k == 0 { keys.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!(" {head:<key_w$}  "), t.key),
                Span::styled(part, t.text),
            ]));
        }
    }
    lines
}

/// The help's bindings as (keys, description).
fn help_entries(m: &crate::tui::app::Model) -> Vec<(String, String)> {
    m.keymap
        .bindings
        .iter()
        .map(|b| (b.keys_label(), b.description(m.lang).to_string()))
        .collect()
}

/// The two columns' geometry inside the frame, as `two_columns` lays them out:
/// (column width, rows for the bindings above a blank row and the mouse line).
fn help_geometry(size: (u16, u16), lang: Lang) -> (usize, usize) {
    let inner_w = size.0.saturating_sub(2).max(1) as usize;
    let mouse_rows = (mouse_text(lang).width() + 1).div_ceil(inner_w).max(1);
    let rows = (size.1.saturating_sub(2) as usize).saturating_sub(mouse_rows + 1);
    (inner_w / 2, rows)
}

/// The rows every description takes wrapped whole in a column of width `w`.
fn wrapped_rows(entries: &[(String, String)], w: usize) -> usize {
    let key_w = entries.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
    let desc_w = w.saturating_sub(key_w + 3).max(4);
    entries
        .iter()
        .map(|(_, d)| wrap_text(d, desc_w).len().max(1))
        .sum()
}

/// When two columns cannot show every description whole, the help becomes one
/// scrolling column: (its rows, the rows shown). `None` when it needs no scrolling.
pub fn help_scroll(m: &crate::tui::app::Model) -> Option<(usize, usize)> {
    let entries = help_entries(m);
    if entries.len() + 3 <= m.size.1.saturating_sub(2) as usize {
        return None;
    }
    let (col_w, rows) = help_geometry(m.size, m.lang);
    let half = entries.len().div_ceil(2).max(1);
    let (a, b) = entries.split_at(half.min(entries.len()));
    let w = col_w.saturating_sub(1);
    if wrapped_rows(a, w) <= rows && wrapped_rows(b, w) <= rows {
        return None;
    }
    let w = m.size.0.saturating_sub(3) as usize;
    let mouse = wrap_text(mouse_text(m.lang), w.saturating_sub(1)).len();
    let total = wrapped_rows(&entries, w) + 1 + mouse;
    // The bindings and the mouse line share the rows between the borders.
    Some((total, m.size.1.saturating_sub(2).max(1) as usize))
}

/// The help when one column is too tall: two columns, each with its own key width,
/// split where the taller of the two is shortest; or, when even two columns would cut
/// descriptions, one scrolling column (up/down and page keys move it).
fn two_columns(ctx: &Ctx, f: &mut Frame, area: Rect, block: ratatui::widgets::Block<'static>) {
    let m = ctx.model;
    let entries = help_entries(m);
    f.render_widget(Clear, area);
    if let Some((total, shown)) = help_scroll(m) {
        let top = m.help_top.min(total.saturating_sub(shown));
        let end = (top + shown).min(total);
        let more = if end < total { " ▼" } else { "" };
        let block = block.title_bottom(format!(" {}-{end}/{total}{more} ", top + 1));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let w = inner.width.saturating_sub(1) as usize;
        let mut lines = help_column(ctx, &entries, w, usize::MAX);
        lines.push(Line::default());
        let dim = ctx.theme.dim;
        let mouse_lines = wrap_text(mouse_text(m.lang), w.saturating_sub(1));
        lines.extend(
            mouse_lines
                .into_iter()
                .map(|l| Line::styled(format!(" {l}"), dim)),
        );
        let lines: Vec<Line> = lines.into_iter().skip(top).take(shown).collect();
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let mouse = help_lines(ctx).pop().unwrap_or_default();
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mouse_rows = (mouse.width() as u16).div_ceil(inner.width.max(1)).max(1);
    let rows = inner.height.saturating_sub(mouse_rows + 1) as usize;
    let col_w = (inner.width / 2) as usize;
    let half = entries.len().div_ceil(2).max(1);
    let (a, b) = entries.split_at(half.min(entries.len()));
    for (k, chunk) in [a, b].into_iter().enumerate() {
        let lines = help_column(ctx, chunk, col_w.saturating_sub(1), rows);
        let r = Rect::new(
            inner.x + (col_w * k) as u16,
            inner.y,
            col_w as u16,
            rows as u16,
        );
        f.render_widget(Paragraph::new(lines), r);
    }
    let y = inner.y + inner.height.saturating_sub(mouse_rows);
    f.render_widget(
        Paragraph::new(mouse).wrap(Wrap { trim: true }),
        Rect::new(inner.x, y, inner.width, mouse_rows.min(inner.height)),
    );
}

pub fn picker(ctx: &Ctx, f: &mut Frame, area: Rect, selected: usize) {
    let m = ctx.model;
    let t = &ctx.theme;
    let b = layout::picker_box((area.width, area.height), m.lessons.len());
    let inner_w = b.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = m
        .lessons
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let current = e.id == m.lesson.id;
            let text = format!(
                "{} {}. {:<16} {}",
                if current { "•" } else { " " },
                i + 1,
                e.id,
                e.title.get(m.lang)
            );
            let line = Line::raw(fit(&text, inner_w));
            if i == selected {
                line.style(t.current)
            } else {
                line
            }
        })
        .collect();
    lines.push(Line::default());
    if let Some(e) = m.lessons.get(selected) {
        lines.push(Line::styled(e.summary.get(m.lang).to_string(), t.dim));
    }
    let block = ctx.block(format!("{} (↑/↓ enter, esc)", ctx.words.picker_title), true);
    f.render_widget(Clear, b);
    // No trimming: the blank in front of the rows that are not the current lesson
    // keeps them in line with the one marked `•`.
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        b,
    );
}
