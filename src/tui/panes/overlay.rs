//! Overlays: the help generated from the key map, and the lesson picker.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::fit;
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
    let mouse = match m.lang {
        Lang::En => {
            "mouse: click a code line to select it; the wheel scrolls the code and the narrative"
        }
        Lang::De => "Maus: Klick auf eine Codezeile wählt sie; das Rad rollt Code und Erzählung",
    };
    lines.push(Line::default());
    lines.push(Line::styled(format!(" {mouse}"), t.dim));
    lines
}

pub fn help(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let lines = help_lines(ctx);
    let close = match ctx.model.keymap.first_key("help") {
        Some(k) => format!("{k} / esc"),
        None => "esc".to_string(),
    };
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
    // Too tall for the terminal: two columns, each line cut to fit.
    let b = area;
    f.render_widget(Clear, b);
    let inner = block.inner(b);
    f.render_widget(block, b);
    let half = lines.len().div_ceil(2);
    let col_w = inner.width / 2;
    for (k, chunk) in lines.chunks(half.max(1)).enumerate() {
        let cut: Vec<Line> = chunk
            .iter()
            .map(|l| {
                let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
                let style = l.spans.get(1).map(|s| s.style).unwrap_or_default();
                let key_w = l
                    .spans
                    .first()
                    .map(|s| s.content.chars().count())
                    .unwrap_or(0);
                let (keys, rest): (String, String) = (
                    text.chars().take(key_w).collect(),
                    text.chars().skip(key_w).collect(),
                );
                Line::from(vec![
                    Span::styled(keys, ctx.theme.key),
                    Span::styled(
                        fit(&rest, (col_w as usize).saturating_sub(key_w + 1)),
                        style,
                    ),
                ])
            })
            .collect();
        let r = Rect::new(inner.x + col_w * k as u16, inner.y, col_w, inner.height);
        f.render_widget(Paragraph::new(cut), r);
    }
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
