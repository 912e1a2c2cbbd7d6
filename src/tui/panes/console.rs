//! The console pane of a booted kernel: what its 16550 UART sent so far (the machine's
//! `dev.uart.out`, so stepping back takes characters away again), its last lines.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::view::Ctx;

/// Rows the pane takes, borders included.
pub const HEIGHT: u16 = 5;

/// The last `rows` lines of `out` as text, each cut to `width` characters; control
/// characters other than newline are shown as `·`, a trailing newline starts an empty
/// line (where the next character will go).
pub fn last_lines(out: &[u8], rows: usize, width: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            l.chars()
                .filter(|c| *c != '\r')
                .map(|c| if c.is_control() { '·' } else { c })
                .take(width)
                .collect()
        })
        .collect();
    let skip = lines.len().saturating_sub(rows);
    lines.into_iter().skip(skip).collect()
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let machine = ctx.model.run.played.engine.machine();
    let out = &machine.dev.uart.out;
    let bytes = match ctx.model.lang {
        crate::lesson::Lang::En => "bytes",
        crate::lesson::Lang::De => "Bytes",
    };
    let title = format!("{} (UART 0x3f8, {} {bytes})", ctx.words.console, out.len());
    let block = ctx.block_in(title, false, area);
    let inner = block.inner(area);
    let lines: Vec<Line> = last_lines(out, inner.height as usize, inner.width as usize)
        .into_iter()
        .map(Line::from)
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_are_shown_with_control_characters_visible() {
        assert_eq!(last_lines(b"a\nb\r\nc\x07\n", 2, 10), ["c·", ""]);
        assert_eq!(last_lines(b"hello", 3, 3), ["hel"]);
    }
}
