//! The code listing pane: address, bytes, instruction, labels, source lines (DWARF);
//! the next instruction marked, breakpoints marked, and the crossing between user and
//! kernel sections.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{fit, hex};
use crate::tui::listing::Row;
use crate::tui::view::Ctx;

/// `user vsyscall -> kernel kernel_text` when the last step moved between regions.
pub fn crossing(ctx: &Ctx) -> Option<(String, bool)> {
    let m = ctx.model;
    let last = m.snap.last_step.as_ref()?;
    let mem = &m.run.played.initial.mem;
    let from = mem.region_at(last.ip)?;
    let to = mem.region_at(m.snap.ip.value)?;
    if from.name == to.name {
        return None;
    }
    let side = |user: bool| {
        if user {
            ctx.words.user_side
        } else {
            ctx.words.kernel_side
        }
    };
    Some((
        format!(
            "{} {} -> {} {}",
            side(from.perm.user),
            from.name,
            side(to.perm.user),
            to.name
        ),
        from.perm.user != to.perm.user,
    ))
}

/// An instruction in `w` columns: cut only between operands, with an ellipsis, so that
/// a number is shown whole or not at all.
pub fn fit_instruction(text: &str, w: usize) -> String {
    if text.width() <= w {
        return text.to_string();
    }
    let mut best = None;
    for (i, c) in text.char_indices() {
        if (c == ' ' || c == ',') && text[..i].width() < w {
            best = Some(i);
        }
    }
    match best {
        Some(i) => format!("{}…", text[..i].trim_end()),
        None => fit(text, w),
    }
}

/// A source row: `file:line` whole (a value), then the line's text in what is left,
/// cut first.
fn source_line<'a>(ctx: &Ctx, place: &str, text: Option<&str>, w: usize) -> Line<'a> {
    let t = &ctx.theme;
    let head = format!("  {place}");
    let mut spans = vec![Span::styled(fit(&head, w), t.label)];
    let room = w.saturating_sub(head.width() + 2);
    if let Some(text) = text.filter(|s| !s.is_empty() && room > 3) {
        spans.push(Span::styled(format!("  {}", fit(text, room)), t.text));
    }
    Line::from(spans)
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let mut title = ctx.words.code.to_string();
    let cross = crossing(ctx);
    if let Some((c, _)) = &cross {
        title = format!("{title} · {c}");
    }
    let mut block = ctx.block_in(title, ctx.highlighted("code"), area);
    if let Some((_, true)) = cross {
        block = block.border_style(t.border_hl);
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    if h == 0 || w == 0 {
        return;
    }
    let mut chain: Vec<String> = Vec::new();
    if m.snap.stop.is_some() {
        // Under the stop line, the fault chain, wrapped, never cut: as many rows as the
        // pane has but one for the listing; what does not fit is behind `:explain`.
        if !m.snap.chain.is_empty() && h >= 3 {
            chain.push(format!(" {}", ctx.words.fault_chain));
            for link in &m.snap.chain {
                for (i, row) in super::wrap_text(link, w.saturating_sub(5).max(1))
                    .into_iter()
                    .enumerate()
                {
                    let indent = if i == 0 { "  " } else { "     " };
                    chain.push(format!("{indent}{row}"));
                }
            }
            let room = h - 2;
            if chain.len() > room {
                chain.truncate(room.saturating_sub(1));
                chain.push(format!(" {}", ctx.words.fault_chain_more));
            }
        }
    }
    // The listing's rows: all of them, or what the stop line and the chain leave.
    let list_h = if chain.is_empty() {
        h
    } else {
        h - 1 - chain.len()
    };
    let top = m.code_window(list_h);
    let ip = m.snap.ip.value;
    let digits = if m.snap.long { 16 } else { 8 };
    let show_bytes = w >= 50 + digits;
    let at_end = m.snap.next_instr.is_none();
    let mut lines = Vec::with_capacity(h);
    for (i, row) in m.listing.rows.iter().enumerate().skip(top).take(list_h) {
        let selected = m.selected == Some(i);
        let line = match row {
            Row::Header { region, kernel } => {
                let side = if *kernel {
                    ctx.words.kernel_side
                } else {
                    ctx.words.user_side
                };
                let style = if *kernel {
                    t.header_kernel
                } else {
                    t.header_user
                };
                let text = format!("── {region} ({side}) ");
                let fill = w.saturating_sub(text.chars().count());
                Line::from(vec![
                    Span::styled(text, style),
                    Span::styled("─".repeat(fill), style),
                ])
            }
            Row::Label(name) => Line::from(vec![
                Span::raw("  "),
                Span::styled(fit(&format!("{name}:"), w.saturating_sub(2)), t.label),
            ]),
            Row::Source { place, text } => source_line(ctx, place, text.as_deref(), w),
            Row::Instr {
                addr,
                bytes,
                text,
                source,
            } => {
                let current = *addr == ip && !at_end;
                let bp = m.has_break(*addr);
                // Grey on the current line's background would be hard to read.
                let dim = if current { t.current } else { t.dim };
                let mut spans = vec![
                    Span::styled(if bp { "●" } else { " " }, t.breakpoint),
                    Span::styled(if current { "▶" } else { " " }, t.bold),
                    Span::styled(format!("{} ", hex(*addr, digits)), dim),
                ];
                if show_bytes {
                    let mut b = crate::disasm::hex_spaced(bytes);
                    if b.len() > 20 {
                        b.truncate(19);
                        b.push('…');
                    }
                    spans.push(Span::styled(format!("{b:<21}"), dim));
                }
                let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
                let room = w.saturating_sub(used);
                let ins = fit_instruction(text, room);
                let ins_len = ins.chars().count();
                let whole = ins == *text;
                spans.push(Span::styled(ins, t.text));
                // A cut instruction leaves no room for its comment.
                if let Some(src) = source.as_ref().filter(|_| whole) {
                    let room = room.saturating_sub(ins_len + "  # ".len());
                    if room > 6 {
                        spans.push(Span::styled(format!("  # {}", fit(src, room)), dim));
                    }
                }
                if current {
                    // The whole line in the current line's colours (a span's own
                    // background, as in the high-contrast theme, would break the bar).
                    for s in &mut spans[2..] {
                        s.style = t.current;
                    }
                    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
                    spans.push(Span::styled(" ".repeat(w.saturating_sub(used)), t.current));
                }
                let mut line = Line::from(spans);
                if current {
                    line = line.style(t.current);
                } else if selected {
                    line = line.style(t.selected);
                }
                line
            }
            Row::Data {
                addr,
                bytes,
                source,
            } => {
                let mut b = crate::disasm::hex_spaced(&bytes[..bytes.len().min(8)]);
                if bytes.len() > 8 {
                    b.push_str(&format!(" … ({} bytes)", bytes.len()));
                }
                let line = Line::from(vec![
                    Span::raw("  "),
                    Span::styled(format!("{} ", hex(*addr, digits)), t.dim),
                    Span::styled(
                        fit(&format!("{b}  {source}"), w.saturating_sub(digits + 3)),
                        t.dim,
                    ),
                ]);
                if selected {
                    line.style(t.selected)
                } else {
                    line
                }
            }
        };
        lines.push(line);
    }
    if let Some(stop) = &m.snap.stop {
        let style = if m.snap.fault { t.fault } else { t.bold };
        let keep = h.saturating_sub(1 + chain.len());
        lines.truncate(keep);
        lines.push(Line::styled(fit(&format!(" ■ {stop}"), w), style));
        for row in chain {
            lines.push(Line::styled(fit(&row, w), style));
        }
    }
    f.render_widget(Paragraph::new(lines).style(Style::default()), inner);
}

#[cfg(test)]
mod tests {
    use super::fit_instruction;

    #[test]
    fn instructions_are_cut_between_operands() {
        assert_eq!(
            fit_instruction("push $0xffffffffffffffda", 30),
            "push $0xffffffffffffffda"
        );
        assert_eq!(fit_instruction("push $0xffffffffffffffda", 20), "push…");
        assert_eq!(
            fit_instruction("and $0xffffffffffffe7ff,%rsp", 27),
            "and $0xffffffffffffe7ff…"
        );
        assert_eq!(fit_instruction("swapgs_restore_regs", 10), "swapgs_re…");
    }
}
