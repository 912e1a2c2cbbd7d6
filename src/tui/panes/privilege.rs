//! The privilege pane: the rings 3..0 with the CPU's position (it moves across them
//! while a CPL change animates), the banner of the last transition, and the segment
//! registers with their selectors decoded and their hidden descriptor caches.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{fit, hex};
use crate::tui::i18n;
use crate::tui::view::Ctx;

/// Column of ring `r` (3 leftmost) in the ring picture, for a fractional ring.
fn ring_col(r: f64) -> usize {
    2 + ((3.0 - r) * 6.0).round().max(0.0) as usize
}

/// The CPU's position in rings, part-way through an animated CPL change.
pub fn cpu_ring(ctx: &Ctx) -> f64 {
    let s = &ctx.model.snap;
    match ctx.model.anim.and_then(|a| a.cpl) {
        Some((from, to)) => {
            let p = (ctx.progress * 1.6).min(1.0);
            let eased = p * p * (3.0 - 2.0 * p);
            from as f64 + (to as f64 - from as f64) * eased
        }
        None => s.cpl as f64,
    }
}

pub fn rings(ctx: &Ctx) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let s = &ctx.model.snap;
    let mut spans = vec![Span::raw(" ")];
    for r in (0..4u8).rev() {
        let style = if r == s.cpl {
            if r == 3 { t.user } else { t.kernel }
                .add_modifier(ratatui::style::Modifier::BOLD | ratatui::style::Modifier::REVERSED)
        } else {
            t.dim
        };
        spans.push(Span::styled(format!("[{r}]"), style));
        if r > 0 {
            spans.push(Span::styled("───", t.dim));
        }
    }
    let pos = cpu_ring(ctx);
    let col = ring_col(pos);
    let side = if s.cpl == 3 {
        ctx.words.user_side
    } else {
        ctx.words.kernel_side
    };
    let moving = ctx.model.anim.and_then(|a| a.cpl).is_some() && ctx.progress < 0.62;
    let cpu_style = if s.cpl == 3 { t.user } else { t.kernel };
    let label = if moving {
        "CPU".to_string()
    } else {
        format!("CPU, CPL {} ({side})", s.cpl)
    };
    let bold = cpu_style.add_modifier(ratatui::style::Modifier::BOLD);
    let width = ctx
        .model
        .panes()
        .privilege
        .map_or(40, |r| r.width.saturating_sub(2)) as usize;
    let marker = if col + 2 + label.chars().count() > width && col > label.chars().count() {
        // Not enough room to the right: the label goes left of the marker.
        Line::from(vec![
            Span::raw(" ".repeat(col - label.chars().count() - 1)),
            Span::styled(label, cpu_style),
            Span::raw(" "),
            Span::styled("▲", bold),
        ])
    } else {
        Line::from(vec![
            Span::raw(" ".repeat(col)),
            Span::styled("▲", bold),
            Span::styled(format!(" {label}"), cpu_style),
        ])
    };
    vec![Line::from(spans), marker]
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let s = &m.snap;
    let t = &ctx.theme;
    let hl = ctx.highlighted("segments") || ctx.highlighted("cpl");
    let block = ctx.block(ctx.words.privilege.to_string(), hl);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines = rings(ctx);
    if let Some(b) = &s.banner {
        let style = ctx.flash.map_or(t.banner, |_| t.banner);
        // Wrapped, not cut: "PID unchanged" / "PID 1234 -> 5678" is the point of it.
        for part in super::wrap_text(&i18n::banner(m.lang, b), w) {
            lines.push(Line::styled(part, style));
        }
    } else {
        lines.push(Line::default());
    }
    let wide = w >= 52;
    let narrow = w < 40;
    let de = ctx.model.lang == crate::lesson::Lang::De;
    let head = match (narrow, wide, de) {
        (true, _, false) => "    sel  i/t/r base     limit    dpl",
        (true, _, true) => "    Sel  i/t/r Basis    Limit    dpl",
        (false, true, false) => "    sel  idx TI RPL base     limit    DPL type",
        (false, true, true) => "    Sel  idx TI RPL Basis    Limit    DPL Typ",
        (false, false, false) => "    sel  idx TI RPL base     limit    DPL",
        (false, false, true) => "    Sel  idx TI RPL Basis    Limit    DPL",
    };
    lines.push(Line::styled(fit(head, w), t.dim));
    for r in &s.segs {
        let name_style = if ctx.highlighted(r.reg.name()) {
            t.highlight
        } else {
            t.label
        };
        let val = if r.changed { ctx.changed() } else { t.text };
        let base_digits = if r.base > u32::MAX as u64 { 16 } else { 8 };
        let mark = format!(
            "{}{}",
            if r.next.read { "r" } else { " " },
            if r.next.write { "w" } else { " " }
        );
        let mut spans = vec![
            Span::styled(format!("{:<3}", r.reg.name()), name_style),
            Span::styled(format!(" {:04x}", r.selector), val),
        ];
        if narrow {
            spans.push(Span::styled(
                format!(" {:>2}/{}/{}", r.index, u8::from(r.ti), r.rpl),
                t.text,
            ));
        } else {
            spans.push(Span::styled(
                format!("  {:>2}  {}  {} ", r.index, u8::from(r.ti), r.rpl),
                t.text,
            ));
        }
        if r.unusable && r.selector & !3 == 0 {
            spans.push(Span::styled(ctx.words.null_unusable, t.dim));
        } else {
            spans.push(Span::styled(
                format!(
                    " {} {}  {}",
                    hex(r.base, base_digits),
                    hex(r.limit as u64, 8),
                    r.dpl
                ),
                val,
            ));
            if wide {
                spans.push(Span::styled(
                    format!(
                        "  {}",
                        crate::debug::catalogue::in_lang(r.type_name, ctx.model.lang)
                    ),
                    t.dim,
                ));
            }
        }
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        if used + 3 <= w {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(mark[..1].to_string(), t.read));
            spans.push(Span::styled(mark[1..].to_string(), t.write));
        }
        lines.push(Line::from(spans));
    }
    if (inner.height as usize) > lines.len() {
        if let Some(base) = s.tss_base {
            lines.push(Line::styled(
                fit(
                    &format!(
                        "tr  {:04x}  {} {}",
                        s.tr,
                        ctx.words.tss_at,
                        hex(base, if s.long { 16 } else { 8 })
                    ),
                    w,
                ),
                t.dim,
            ));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}
