//! The stacks pane: user and kernel stack side by side, high addresses on top, each
//! slot with address, value and meaning (the pt_regs field, who pushed it, the symbol
//! the value points at), ESP/EBP markers; the TSS fields that matter (esp0, ss0) and the
//! current task (PID, comm, context).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{fit, hex};
use crate::disasm::Syntax;
use crate::tui::i18n;
use crate::tui::snapshot::{Slot, StackView};
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

/// The width the task lines want when they are two lines.
pub fn task_width(ctx: &Ctx) -> usize {
    task_lines(ctx, 0)
        .iter()
        .map(|l| l.width())
        .max()
        .unwrap_or(0)
}

/// Hex digits of a stack word.
fn digits(ctx: &Ctx) -> usize {
    if ctx.model.snap.long {
        16
    } else {
        8
    }
}

/// Columns a slot's address, value and stack-pointer marker take: never cut.
pub fn fixed_width(long: bool) -> usize {
    let d = if long { 16 } else { 8 };
    // " ◀rsp"
    2 * d + 1 + 5
}

/// A label column narrower than this puts the two stacks one above the other.
const MIN_LABEL: usize = 14;

/// The ways to say what a slot is, longest first: field, who wrote it, the symbol its
/// value points at; then shorter forms (no offset, the register only, no symbol).
pub fn meanings(ctx: &Ctx, slot: &Slot) -> Vec<String> {
    let m = ctx.model;
    let att = m.syntax == Syntax::Att;
    let field = slot.field.clone();
    let short_field = field
        .as_ref()
        .map(|f| f.split(" (").next().unwrap_or(f).to_string());
    let writer = slot
        .writer
        .as_ref()
        .map(|w| i18n::writer(m.lang, w, att))
        .filter(|s| !s.is_empty());
    let short_writer = slot
        .writer
        .as_ref()
        .map(|w| i18n::writer_short(m.lang, w, att))
        .filter(|s| !s.is_empty());
    let sym = slot.value_symbol.as_ref().map(|s| format!("<{s}>"));
    let join = |parts: [&Option<String>; 3]| {
        let v: Vec<&str> = parts.iter().filter_map(|p| p.as_deref()).collect();
        v.join(" · ")
    };
    let none = None;
    let mut out = vec![
        join([&field, &writer, &sym]),
        join([&field, &short_writer, &sym]),
        join([&field, &none, &sym]),
        join([&short_field, &short_writer, &sym]),
        join([&short_field, &none, &sym]),
        join([&field, &writer, &none]),
        join([&field, &short_writer, &none]),
        join([&short_field, &short_writer, &none]),
        join([&short_field, &none, &none]),
    ];
    if field.is_none() {
        out.push(join([&none, &short_writer, &none]));
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The longest form of `meanings` that fits `room`, cut with an ellipsis as a last resort.
fn meaning_in(forms: &[String], room: usize) -> Option<String> {
    let fits = forms.iter().find(|s| s.width() <= room);
    match (fits, forms.last()) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(s)) if room > 3 => Some(fit(s, room)),
        _ => None,
    }
}

/// The widest label a slot of `v` would like.
pub fn label_width(ctx: &Ctx, v: &StackView) -> usize {
    v.slots
        .iter()
        .filter_map(|s| meanings(ctx, s).first().map(|m| m.width()))
        .max()
        .unwrap_or(0)
}

fn title_line(ctx: &Ctx, v: &StackView, kernel: bool) -> Line<'static> {
    let t = &ctx.theme;
    let words = ctx.words;
    let name = if kernel {
        words.kernel_stack
    } else {
        words.user_stack
    };
    let pane_hl = ctx.highlighted(if kernel { "stack.kernel" } else { "stack.user" });
    let side = if kernel { t.kernel } else { t.user };
    let title_style = if pane_hl { t.highlight } else { side };
    let sp = match (v.active, ctx.model.snap.long) {
        (false, _) => "",
        (true, true) => "  ◀ RSP",
        (true, false) => "  ◀ ESP",
    };
    Line::from(vec![
        Span::styled(
            name.to_string(),
            title_style.add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::styled(sp, side),
    ])
}

/// "RSP is not on this stack" and the value, on one line or, when narrow, on two.
fn elsewhere_lines(ctx: &Ctx, sp: u64, sym: &Option<String>, w: usize) -> Vec<Line<'static>> {
    let what = if ctx.model.snap.long {
        ctx.words.not_on_stack.replace("ESP", "RSP")
    } else {
        ctx.words.not_on_stack.to_string()
    };
    let value = hex(sp, digits(ctx));
    let sym = sym.as_ref().map(|s| format!(" <{s}>")).unwrap_or_default();
    let bold = ctx.theme.bold;
    let one = format!("{what} {value}{sym}");
    if one.width() <= w {
        return vec![Line::styled(one, bold)];
    }
    let room = w.saturating_sub(value.len());
    let tail = if sym.width() <= room {
        sym
    } else {
        fit(&sym, room)
    };
    vec![
        Line::styled(fit(&what, w), bold),
        Line::styled(format!("{value}{tail}"), bold),
    ]
}

/// The head of a column: title, stale note, where the stack pointer is instead.
fn head_lines(ctx: &Ctx, v: &StackView, kernel: bool, w: usize) -> Vec<Line<'static>> {
    let mut lines = vec![title_line(ctx, v, kernel)];
    if v.stale {
        lines.push(Line::styled(fit(ctx.words.stale, w), ctx.theme.dim));
    }
    if let Some((sp, sym)) = &v.sp_elsewhere {
        lines.extend(elsewhere_lines(ctx, *sp, sym, w));
    }
    lines
}

/// Rows a column would like: its head and every slot (or "(empty)").
fn wanted_rows(ctx: &Ctx, v: &StackView, kernel: bool, w: usize) -> usize {
    head_lines(ctx, v, kernel, w).len() + v.slots.len().max(1)
}

fn slot_line(ctx: &Ctx, v: &StackView, slot: &Slot, w: usize) -> Line<'static> {
    let m = ctx.model;
    let t = &ctx.theme;
    let d = digits(ctx);
    let val_style = if slot.fresh && !v.stale {
        ctx.changed()
    } else if v.stale {
        t.dim
    } else {
        t.text
    };
    let mut spans = Vec::new();
    let slide = m.anim.is_some() && ctx.progress < 0.4;
    if slide && slot.fresh && slot.is_sp {
        // The slide never pushes the value out of the column.
        let n = ((0.4 - ctx.progress) / 0.4 * 8.0).round() as usize;
        let n = n.min(w.saturating_sub(fixed_width(m.snap.long)));
        spans.push(Span::raw(" ".repeat(n)));
    }
    spans.push(Span::styled(format!("{} ", hex(slot.addr, d)), t.address));
    if slot.mapped {
        spans.push(Span::styled(hex(slot.value, d), val_style));
    } else {
        // Not mapped by the current page tables: no value to show.
        spans.push(Span::styled("-".repeat(d), t.dim));
    }
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
    let used: usize = spans.iter().map(|s| s.content.width()).sum();
    let room = w.saturating_sub(used + 1);
    if let Some(text) = meaning_in(&meanings(ctx, slot), room) {
        spans.push(Span::styled(
            format!(" {text}"),
            if v.stale { t.dim } else { t.text },
        ));
    }
    Line::from(spans)
}

fn column(ctx: &Ctx, v: &StackView, kernel: bool, w: usize, h: usize) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let mut lines = head_lines(ctx, v, kernel, w);
    if v.slots.is_empty() {
        lines.push(Line::styled(ctx.words.empty, t.dim));
        return lines;
    }
    let room = h.saturating_sub(lines.len());
    let skip = if v.slots.len() > room {
        v.slots.len() - room.saturating_sub(1)
    } else {
        0
    };
    if skip > 0 {
        lines.push(Line::styled(
            format!("⋮ {} {}", skip, ctx.words.more_above),
            t.dim,
        ));
    }
    for slot in v.slots.iter().skip(skip) {
        lines.push(slot_line(ctx, v, slot, w));
    }
    lines
}

/// Side by side when each column keeps its values and every label whole, or when one
/// above the other would not show every slot and the columns keep a label column of
/// MIN_LABEL; else one above the other, the stack the CPU uses getting its rows first.
fn split(ctx: &Ctx, body: Rect) -> [Rect; 2] {
    let s = &ctx.model.snap;
    let w = body.width as usize;
    let h = body.height as usize;
    let u = wanted_rows(ctx, &s.user_stack, false, w);
    let k = wanted_rows(ctx, &s.kernel_stack, true, w);
    let half = w.saturating_sub(1) / 2;
    let fixed = fixed_width(s.long);
    let label = label_width(ctx, &s.user_stack).max(label_width(ctx, &s.kernel_stack));
    if half > fixed + label || (half >= fixed + MIN_LABEL && u + k > h) {
        return Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(body);
    }
    let user_rows = if u + k <= h {
        u
    } else if s.kernel_stack.active {
        u.min((h / 3).max(2))
    } else if s.user_stack.active {
        h.saturating_sub(k.min((h / 3).max(2)))
    } else {
        h * u / (u + k)
    };
    let user_rows = user_rows.min(h) as u16;
    let [a, b] = Layout::vertical([Constraint::Length(user_rows), Constraint::Min(0)]).areas(body);
    [a, b]
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
    let [u, k] = split(ctx, body);
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
