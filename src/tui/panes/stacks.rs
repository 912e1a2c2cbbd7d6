//! The stacks pane: user and kernel stack side by side, high addresses on top, each
//! slot with address, value and meaning (the pt_regs field, who pushed it, the symbol
//! the value points at), ESP/EBP markers; the TSS fields that matter (esp0, ss0) and the
//! current task (PID, comm, context).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{fit, hex};
use crate::disasm::Syntax;
use crate::tui::i18n;
use crate::tui::snapshot::StackView;
use crate::tui::view::Ctx;

fn task_lines(ctx: &Ctx, w: usize) -> Vec<Line<'static>> {
    let m = ctx.model;
    let s = &m.snap;
    let t = &ctx.theme;
    let words = ctx.words;
    let hl = ctx.highlighted("task") || ctx.highlighted("context");
    let mut first = vec![Span::styled(
        format!("{}: ", words.task),
        if hl { t.highlight } else { t.label },
    )];
    match &s.task {
        Some(task) => {
            first.push(Span::styled(format!("PID {}", task.pid), t.bold));
            first.push(Span::styled(format!(" ({})", task.comm), t.text));
        }
        None => first.push(Span::styled(words.no_task, t.dim)),
    }
    if let Some(c) = s.context {
        first.push(Span::styled(format!(" · {}: ", words.context), t.label));
        let style = if c == crate::scenario::Context::User {
            t.user
        } else {
            t.kernel
        };
        first.push(Span::styled(i18n::context(m.lang, c), style));
    }
    let mut second = Vec::new();
    if let Some(esp0) = s.esp0 {
        let hl = ctx.highlighted("tss.esp0") || ctx.highlighted("tss.rsp0");
        let digits = if s.long { 16 } else { 8 };
        second.push(Span::styled(
            if s.long { "TSS.rsp0 " } else { "TSS.esp0 " },
            if hl { t.highlight } else { t.label },
        ));
        second.push(Span::styled(hex(esp0, digits), t.text));
        if let Some(ss0) = s.ss0 {
            second.push(Span::styled("  ss0 ", t.label));
            second.push(Span::styled(format!("{ss0:04x}"), t.text));
        }
    }
    let len = |v: &Vec<Span>| v.iter().map(|s| s.content.chars().count()).sum::<usize>();
    if !second.is_empty() && len(&first) + len(&second) + 3 <= w {
        first.push(Span::raw("   "));
        first.extend(second);
        vec![Line::from(first)]
    } else if second.is_empty() {
        vec![Line::from(first)]
    } else {
        vec![Line::from(first), Line::from(second)]
    }
}

fn column(ctx: &Ctx, v: &StackView, kernel: bool, w: usize, h: usize) -> Vec<Line<'static>> {
    let m = ctx.model;
    let t = &ctx.theme;
    let words = ctx.words;
    let digits = if m.snap.long { 16 } else { 8 };
    let name = if kernel {
        words.kernel_stack
    } else {
        words.user_stack
    };
    let pane_hl = ctx.highlighted(if kernel { "stack.kernel" } else { "stack.user" });
    let side = if kernel { t.kernel } else { t.user };
    let title_style = if pane_hl { t.highlight } else { side };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            name.to_string(),
            title_style.add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::styled(
            if !v.active {
                ""
            } else if m.snap.long {
                "  ◀ RSP"
            } else {
                "  ◀ ESP"
            },
            side,
        ),
    ])];
    if v.stale {
        lines.push(Line::styled(fit(words.stale, w), t.dim));
    }
    if let Some((sp, sym)) = &v.sp_elsewhere {
        let what = if m.snap.long {
            words.not_on_stack.replace("ESP", "RSP")
        } else {
            words.not_on_stack.to_string()
        };
        let text = match sym {
            Some(s) => format!("{what} {} <{s}>", hex(*sp, digits)),
            None => format!("{what} {}", hex(*sp, digits)),
        };
        lines.push(Line::styled(fit(&text, w), t.bold));
    }
    if v.slots.is_empty() {
        lines.push(Line::styled(words.empty, t.dim));
        return lines;
    }
    let room = h.saturating_sub(lines.len());
    let (skip, more) = if v.slots.len() > room {
        let skip = v.slots.len() - room.saturating_sub(1);
        (skip, true)
    } else {
        (0, false)
    };
    if more {
        lines.push(Line::styled(
            format!("⋮ {} {}", skip, words.more_above),
            t.dim,
        ));
    }
    let att = m.syntax == Syntax::Att;
    let slide = m.anim.is_some() && ctx.progress < 0.4;
    for slot in v.slots.iter().skip(skip) {
        let val_style = if slot.fresh && !v.stale {
            ctx.changed()
        } else if v.stale {
            t.dim
        } else {
            t.text
        };
        let mut spans = Vec::new();
        if slide && slot.fresh && slot.is_sp {
            let n = ((0.4 - ctx.progress) / 0.4 * 8.0).round() as usize;
            spans.push(Span::raw(" ".repeat(n)));
        }
        spans.push(Span::styled(format!("{} ", hex(slot.addr, digits)), t.dim));
        spans.push(Span::styled(hex(slot.value, digits), val_style));
        let (sp, bp) = if m.snap.long {
            ("rsp", "rbp")
        } else {
            ("esp", "ebp")
        };
        let marker = match (slot.is_sp && v.active, slot.is_bp) {
            (true, true) => format!(" ◀{sp},{bp}"),
            (true, false) => format!(" ◀{sp}"),
            (false, true) => format!(" ◀{bp}"),
            _ => String::new(),
        };
        spans.push(Span::styled(marker, t.bold));
        let mut meaning = Vec::new();
        if let Some(f) = &slot.field {
            meaning.push(f.clone());
        }
        if let Some(wr) = &slot.writer {
            let s = i18n::writer(m.lang, wr, att);
            if !s.is_empty() {
                meaning.push(s);
            }
        }
        if let Some(sym) = &slot.value_symbol {
            meaning.push(format!("<{sym}>"));
        }
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        let room = w.saturating_sub(used + 1);
        if room > 3 && !meaning.is_empty() {
            spans.push(Span::styled(
                format!(" {}", fit(&meaning.join(" · "), room)),
                if v.stale { t.dim } else { t.text },
            ));
        }
        lines.push(Line::from(spans));
    }
    lines
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let s = &ctx.model.snap;
    let hl = ctx.highlighted("stack.user") || ctx.highlighted("stack.kernel");
    let block = ctx.block(ctx.words.stacks.to_string(), hl);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let task = task_lines(ctx, inner.width as usize);
    let th = (task.len() as u16).min(inner.height);
    f.render_widget(
        Paragraph::new(task),
        Rect::new(inner.x, inner.y, inner.width, th),
    );
    let body = Rect::new(
        inner.x,
        inner.y + th,
        inner.width,
        inner.height.saturating_sub(th),
    );
    if body.height == 0 {
        return;
    }
    // Side by side when there is room, else user stack above kernel stack.
    let [u, k] = if body.width >= 56 {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(body)
    } else {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body)
    };
    for (area, stack, kernel) in [(u, &s.user_stack, false), (k, &s.kernel_stack, true)] {
        let lines = column(
            ctx,
            stack,
            kernel,
            area.width as usize,
            area.height as usize,
        );
        f.render_widget(Paragraph::new(lines), area);
    }
}
