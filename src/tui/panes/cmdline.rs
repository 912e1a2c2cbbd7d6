//! The `:` command line in the status row: the text, a block cursor, and where the
//! terminal's own cursor goes.

use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::cmdline::CmdLine;
use crate::tui::view::Ctx;

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect, line: &CmdLine) {
    let t = &ctx.theme;
    let width = area.width as usize;
    let chars: Vec<char> = line.text.chars().collect();
    // Keep the cursor on screen: scroll the text left when it is long.
    let room = width.saturating_sub(3).max(1);
    let start = line.cursor.saturating_sub(room - 1);
    let visible: String = chars.iter().skip(start).take(room).collect();
    let at = line.cursor - start;
    let (before, rest): (String, String) = (
        visible.chars().take(at).collect(),
        visible.chars().skip(at).collect(),
    );
    let mut rest_chars = rest.chars();
    let under = rest_chars.next().map_or(" ".to_string(), |c| c.to_string());
    let after: String = rest_chars.collect();
    let spans = vec![
        Span::styled(":", t.key),
        Span::styled(before.clone(), t.bold),
        Span::styled(under, t.current),
        Span::styled(after, t.bold),
    ];
    f.render_widget(Paragraph::new(Line::from(spans)).style(t.text), area);
    let x = area.x + 1 + before.chars().count() as u16;
    if x < area.x + area.width {
        f.set_cursor_position(Position::new(x, area.y));
    }
}
