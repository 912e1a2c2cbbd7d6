//! The panes, one module each, plus the header and status lines.

pub mod cmdline;
pub mod code;
pub mod memory;
pub mod msrs;
pub mod narrative;
pub mod overlay;
pub mod points;
pub mod privilege;
pub mod regs;
pub mod stacks;
pub mod tables;
pub mod timeline_strip;

use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::i18n;
use super::view::Ctx;
use crate::disasm::Syntax;
use crate::lesson::Lang;

/// `value` as hex with `digits` digits.
pub fn hex(value: u64, digits: usize) -> String {
    format!("{value:0digits$x}")
}

/// Cut `s` to `w` columns, with an ellipsis when cut.
pub fn fit(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + 2 > w {
            break;
        }
        out.push(c);
    }
    if w > 0 {
        out.push('…');
    }
    out
}

/// The top line: lesson, scene, position, CPL and the banner of the last transition.
pub fn header(ctx: &Ctx, f: &mut Frame, area: Rect, compact: bool) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let scenes = m.lesson.scenes.len();
    let scene_title = m.scene().map(|s| s.title.get(m.lang)).unwrap_or("");
    let mut left = vec![
        Span::styled(" ringstep ", t.status),
        Span::raw(" "),
        Span::styled(m.lesson.title.get(m.lang).to_string(), t.bold),
    ];
    if scenes > 1 || !compact {
        // A scene named like its lesson (loaded code, a bare preset) shows no title twice.
        let text = if scene_title.is_empty() || scene_title == m.lesson.title.get(m.lang) {
            format!(" · {} {}/{scenes}", w.scene, m.scene + 1)
        } else {
            format!(" · {} {}/{scenes}: {scene_title}", w.scene, m.scene + 1)
        };
        left.push(Span::styled(text, t.dim));
    }
    f.render_widget(Paragraph::new(Line::from(left)).style(t.text), area);
    let s = &m.snap;
    let ring = if s.cpl == 3 {
        Span::styled(format!(" CPL {} ", s.cpl), t.user)
    } else {
        Span::styled(format!(" CPL {} ", s.cpl), t.kernel)
    };
    let mut right = Vec::new();
    if let Some(b) = &s.banner {
        right.push(Span::styled(
            format!(" {} ", i18n::banner(m.lang, b)),
            t.banner,
        ));
        right.push(Span::raw(" "));
    }
    if s.fault {
        right.push(Span::styled(" FAULT ", t.fault));
        right.push(Span::raw(" "));
    }
    right.push(ring);
    right.push(Span::styled(
        format!(" {} {}/{} ", w.step, s.pos, s.last),
        t.dim,
    ));
    let syntax = match m.syntax {
        Syntax::Att => "AT&T",
        Syntax::Intel => "Intel",
    };
    let lang = match m.lang {
        Lang::En => "en",
        Lang::De => "de",
    };
    right.push(Span::styled(format!("{syntax} {lang} "), t.dim));
    let line = Line::from(right);
    let width = (line.width() as u16).min(area.width);
    let r = Rect::new(area.x + area.width - width, area.y, width, 1);
    f.render_widget(Paragraph::new(line).alignment(Alignment::Right), r);
}

/// The bottom line: typed input, a message, or key hints; and the autoplay countdown.
pub fn status(ctx: &Ctx, f: &mut Frame, area: Rect, compact: bool) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    if let Some(line) = &m.debug.cmdline {
        cmdline::render(ctx, f, area, line);
        return;
    }
    let left = if let Some(input) = &m.input {
        Line::from(vec![
            Span::styled(format!(" {}: ", w.typing), t.question),
            Span::styled(format!("{input}_"), t.bold),
            Span::styled("  (enter / esc)", t.dim),
        ])
    } else if let Some(msg) = &m.status {
        let style = if m.debug.error { t.fault } else { t.bold };
        Line::from(Span::styled(format!(" {msg}"), style))
    } else {
        let k = &m.keymap;
        let mut spans = Vec::new();
        // An action the key map leaves without a key gets no hint.
        let mut hint = |name: &str, what: &str| {
            if let Some(key) = k.first_key(name) {
                spans.push(Span::styled(format!(" {key}"), t.key));
                spans.push(Span::styled(format!(" {what} "), t.dim));
            }
        };
        let de = m.lang == Lang::De;
        hint("help", w.help_hint);
        hint("step_forward", if de { "vor" } else { "step" });
        hint("step_back", if de { "zurück" } else { "back" });
        hint("next_stop", if de { "Halt" } else { "stop" });
        hint("run", if de { "laufen" } else { "run" });
        hint("command_line", if de { "Befehl" } else { "command" });
        if !compact {
            hint("toggle_breakpoint", if de { "Haltepunkt" } else { "break" });
            hint("lesson_picker", if de { "Lektionen" } else { "lessons" });
        } else {
            hint("cycle_pane", if de { "Bereich" } else { "pane" });
        }
        hint("quit", if de { "Ende" } else { "quit" });
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(left).style(t.text), area);
    if let Some(a) = m.autoplay {
        let text = if a.paused {
            format!(" {} ", w.autoplay_paused)
        } else if m.waiting_for_answer() {
            format!(" {} ", w.autoplay_question)
        } else {
            let left = a.next_ms.saturating_sub(m.now_ms);
            format!(" {} {:.1} s ", w.autoplay, left as f64 / 1000.0)
        };
        let width = (text.width() as u16).min(area.width);
        let r = Rect::new(area.x + area.width - width, area.y, width, 1);
        f.render_widget(Paragraph::new(Span::styled(text, t.status)), r);
    }
}
