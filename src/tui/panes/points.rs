//! Two list inspectors: the breakpoints and watchpoints (with the `set reg` edits made
//! by hand), and the text the last command printed.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fit;
use crate::tui::view::Ctx;

fn list(ctx: &Ctx, f: &mut Frame, area: Rect, title: String, lines: Vec<Line<'static>>) {
    let block = ctx.block(title, false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let top = ctx.model.debug.scroll.min(lines.len().saturating_sub(h));
    let w = inner.width as usize;
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(top)
        .take(h)
        .map(|l| {
            let style = l.style;
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::styled(fit(&text, w), style)
        })
        .collect();
    f.render_widget(Paragraph::new(shown), inner);
}

pub fn points(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let all = m.run.dbg.points().all();
    let mut lines: Vec<Line> = all
        .iter()
        // The same form as `info break` prints.
        .map(|p| Line::styled(format!(" {p}"), t.text))
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(format!(" {}", w.no_points), t.dim));
    }
    for (pos, edits) in m.run.dbg.edits() {
        for (reg, value) in edits {
            lines.push(Line::styled(
                format!(" {} {pos}: {reg} = {value:#x} ({})", w.position, w.edits),
                t.label,
            ));
        }
    }
    list(
        ctx,
        f,
        area,
        format!("{} · w · {}", w.points, w.inspector_keys),
        lines,
    );
}

pub fn output(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let t = &ctx.theme;
    let lines = ctx
        .model
        .debug
        .output
        .iter()
        .map(|l| Line::styled(format!(" {l}"), t.text))
        .collect();
    list(
        ctx,
        f,
        area,
        format!("{} · {}", ctx.words.output, ctx.words.inspector_keys),
        lines,
    );
}
