//! The memory view: hex and ASCII of any region at the current history position, the
//! stack pointer's bytes marked, bytes the last step wrote in the change colour, symbols
//! named where they start, and each page's region and the U/S, W and X rights the CPU's
//! current page tables give it (or that they do not map it). Bytes are read as the CPU
//! sees them (`Machine::read_lin`); bytes not mapped show as `??`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fit;
use crate::engine::Change;
use crate::tui::commands::mem_per_line;
use crate::tui::inspect::{self, rights_at, rights_text};
use crate::tui::view::Ctx;

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let machine = m.run.played.engine.machine();
    let long = m.snap.long;
    let digits = if long { 16 } else { 8 };
    let sp = machine.cpu.sp();
    let sp_name = if long { "RSP" } else { "ESP" };
    let top = m.mem_top();
    let name = machine
        .mem
        .region_at(top)
        .map(|r| format!("{} ", r.name))
        .unwrap_or_default();
    let here = format!(
        " · {name}[{}]",
        rights_text(rights_at(machine, top), w.not_mapped)
    );
    let mode = if m.debug.follow_sp {
        format!("{} {sp_name} {sp:#x}", w.following)
    } else {
        w.fixed.to_string()
    };
    let block = ctx.block(
        format!(
            "{} {top:#x}{here} · {mode} · {}",
            w.memory, w.inspector_keys
        ),
        false,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let per = mem_per_line(inner.width, long);
    let rows = inspect::memory(machine, top, inner.height as usize, per);
    // Bytes the last step wrote.
    let fresh: Vec<(u64, u64)> = m
        .pos
        .checked_sub(1)
        .and_then(|p| m.run.steps.get(p))
        .map(|rec| {
            rec.changes
                .iter()
                .filter_map(|c| match *c {
                    Change::Mem { addr, len, .. } => Some((addr, len as u64)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let sp_width = m.run.width;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        let a = row.line.addr;
        let mut spans = vec![Span::styled(
            format!("{:0digits$x}  ", a),
            if a <= sp && sp < a.wrapping_add(per) {
                t.bold
            } else {
                t.dim
            },
        )];
        for (k, b) in row.line.bytes.iter().enumerate() {
            let addr = a.wrapping_add(k as u64);
            let on_sp = addr.wrapping_sub(sp) < sp_width;
            let written = fresh.iter().any(|(fa, fl)| addr.wrapping_sub(*fa) < *fl);
            let style = if written {
                ctx.changed()
            } else if on_sp {
                t.current
            } else if b.is_none() {
                t.dim
            } else {
                t.text
            };
            let text = b.map_or("??".to_string(), |v| format!("{v:02x}"));
            spans.push(Span::styled(text, style));
            spans.push(Span::raw(if k + 1 == per as usize / 2 {
                "  "
            } else {
                " "
            }));
        }
        spans.push(Span::styled(format!(" |{}|", row.line.ascii()), t.dim));
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        let room = (inner.width as usize).saturating_sub(used + 1);
        let mut notes = Vec::new();
        if let Some(p) = row.region.as_ref().filter(|_| a != top) {
            let name = p
                .region
                .as_ref()
                .map(|n| format!("{n} "))
                .unwrap_or_default();
            notes.push(format!("[{name}{}]", rights_text(p.rights, w.not_mapped)));
        }
        for (off, name) in &row.symbols {
            notes.push(format!("+{off:x} {name}"));
        }
        if a <= sp && sp < a.wrapping_add(per) {
            notes.insert(0, format!("← {sp_name}"));
        }
        if room > 3 && !notes.is_empty() {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(fit(&notes.join(" "), room), t.label));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
