//! The registers pane: general registers, EIP/RIP and EFLAGS decoded to named bits;
//! values the last step changed highlighted (flashing while the step animates), and the
//! registers the next instruction reads (r) or writes (w), from iced-x86's
//! InstructionInfo.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::hex;
use crate::machine::flags;
use crate::tui::snapshot::RegRow;
use crate::tui::view::Ctx;

fn reg_spans(ctx: &Ctx, r: &RegRow) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let name_style = if ctx.highlighted(r.name) {
        t.highlight
    } else {
        t.label
    };
    let value_style = if r.changed { ctx.changed() } else { t.text };
    vec![
        Span::styled(format!("{:<4}", r.name), name_style),
        Span::styled(hex(r.value, r.digits), value_style),
        Span::raw(" "),
        Span::styled(if r.next.read { "r" } else { " " }, t.read),
        Span::styled(if r.next.write { "w" } else { " " }, t.write),
    ]
}

/// EFLAGS: the value, then every named bit (set ones bright, changed ones flashing).
fn flag_lines(ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let s = &ctx.model.snap;
    let name = if s.long { "rflags" } else { "eflags" };
    let name_style = if ctx.highlighted("eflags") || ctx.highlighted("rflags") {
        t.highlight
    } else {
        t.label
    };
    let value_style = if s.flags_changed != 0 {
        ctx.changed()
    } else {
        t.text
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{name:<7}"), name_style),
        Span::styled(hex(s.flags, 8), value_style),
        Span::styled(format!(" IOPL={}", flags::iopl(s.flags)), t.dim),
    ])];
    let shown = [
        (flags::OF, "OF"),
        (flags::DF, "DF"),
        (flags::IF, "IF"),
        (flags::TF, "TF"),
        (flags::SF, "SF"),
        (flags::ZF, "ZF"),
        (flags::AF, "AF"),
        (flags::PF, "PF"),
        (flags::CF, "CF"),
        (flags::VM, "VM"),
        (flags::AC, "AC"),
    ];
    let mut spans = Vec::new();
    let mut used = 0;
    for (bit, n) in shown {
        let set = s.flags & bit != 0;
        if !set && (bit == flags::VM || bit == flags::AC) && s.flags_changed & bit == 0 {
            continue;
        }
        let hl = ctx.highlighted(&format!("flags.{}", n.to_ascii_lowercase()));
        let style = if s.flags_changed & bit != 0 {
            ctx.changed()
        } else if s.flags_written & bit != 0 {
            t.write
        } else if s.flags_read & bit != 0 {
            t.read
        } else if hl {
            t.highlight
        } else if set {
            t.bold
        } else {
            t.dim
        };
        let text = if set {
            n.to_string()
        } else {
            n.to_ascii_lowercase()
        };
        if used + 3 > width && !spans.is_empty() {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        spans.push(Span::styled(text, style));
        spans.push(Span::raw(" "));
        used += 3;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect, compact: bool) {
    let s = &ctx.model.snap;
    let t = &ctx.theme;
    let mode = match (s.mode, ctx.model.lang) {
        ("protected", crate::lesson::Lang::De) => "geschützt",
        ("compat", crate::lesson::Lang::De) => "Kompatibilität",
        ("64-bit", crate::lesson::Lang::De) => "64-Bit",
        (m, _) => m,
    };
    let title = format!("{} · {}", ctx.words.registers, mode);
    let block = ctx.block_in(title, false, area);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let per_reg = 4 + s.ip.digits + 3;
    let two = compact || (inner.height as usize) < s.regs.len() + 5;
    let cols = if two && width > per_reg * 2 { 2 } else { 1 };
    let mut lines: Vec<Line> = Vec::new();
    for chunk in s.regs.chunks(cols) {
        let mut spans = Vec::new();
        for (k, r) in chunk.iter().enumerate() {
            if k > 0 {
                spans.push(Span::raw(" "));
            }
            spans.extend(reg_spans(ctx, r));
        }
        lines.push(Line::from(spans));
    }
    let mut tail = vec![Line::from(reg_spans(ctx, &s.ip))];
    tail.extend(flag_lines(ctx, width));
    let h = inner.height as usize;
    if lines.len() + tail.len() > h {
        // Too few rows: the instruction pointer and the flags first, then as many
        // registers as fit, and how many are not shown.
        let room = h.saturating_sub(tail.len());
        let hidden = lines.len().saturating_sub(room);
        if hidden > 0 && room > 0 {
            lines.truncate(room - 1);
            lines.push(Line::styled(format!("⋮ +{}", hidden + 1), t.dim));
        }
        tail.append(&mut lines);
        f.render_widget(Paragraph::new(tail), inner);
        return;
    }
    lines.append(&mut tail);
    if !compact && (inner.height as usize) > lines.len() + 1 {
        lines.push(Line::from(vec![
            Span::styled("r", t.read),
            Span::styled("/", t.dim),
            Span::styled("w", t.write),
            Span::styled(ctx.words.rw_legend, t.dim),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
