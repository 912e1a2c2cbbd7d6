//! The panes, one module each, plus the header and status lines.

pub mod cmdline;
pub mod code;
pub mod console;
pub mod cost;
pub mod glossary;
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

/// Words of `text` wrapped to lines of `w` columns (a word longer than a line is cut).
pub fn wrap_text(text: &str, w: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.width() + 1 + word.width() > w {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&fit(word, w));
    }
    out.push(line);
    out
}

/// The right part of the top line: the banner (when `banner`), FAULT, CPL, position,
/// syntax and language.
fn header_right(ctx: &Ctx, banner: bool) -> Line<'static> {
    let m = ctx.model;
    let t = &ctx.theme;
    let s = &m.snap;
    let mut right = Vec::new();
    if let Some(b) = s.banner.as_ref().filter(|_| banner) {
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
    let ring = if s.cpl == 3 { t.user } else { t.kernel };
    right.push(Span::styled(format!(" CPL {} ", s.cpl), ring));
    right.push(Span::styled(
        format!(" {} {}/{} ", ctx.words.step, s.pos, s.last),
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
    Line::from(right)
}

/// The left part of the top line in `room` columns: lesson and scene titles, cut with
/// an ellipsis (the scene title first) so that they never run into the right part.
fn header_left(ctx: &Ctx, room: usize, compact: bool) -> Line<'static> {
    let m = ctx.model;
    let t = &ctx.theme;
    let scenes = m.lesson.scenes.len();
    let title = m.lesson.title.get(m.lang).to_string();
    let scene_title = m.scene().map(|s| s.title.get(m.lang)).unwrap_or("");
    let mut scene = String::new();
    if scenes > 1 || !compact {
        // A scene named like its lesson (loaded code, a bare preset) shows no title twice.
        scene = format!(" · {} {}/{scenes}", ctx.words.scene, m.scene + 1);
        if !scene_title.is_empty() && scene_title != title {
            scene.push_str(&format!(": {scene_title}"));
        }
    }
    let badge = if room >= 30 { " ringstep  " } else { "" };
    let left = room.saturating_sub(badge.width());
    let (title, scene) = if title.width() + scene.width() <= left {
        (title, scene)
    } else if title.width() + 12 <= left {
        let r = left - title.width();
        (title, fit(&scene, r))
    } else {
        (fit(&title, left), String::new())
    };
    let mut spans = Vec::new();
    if !badge.is_empty() {
        spans.push(Span::styled(" ringstep ", t.status));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(title, t.bold));
    if !scene.is_empty() {
        spans.push(Span::styled(scene, t.dim));
    }
    Line::from(spans)
}

/// The top line: lesson, scene, position, CPL and the banner of the last transition
/// (left out when the lesson title would not fit whole beside it; the privilege pane
/// shows it too).
pub fn header(ctx: &Ctx, f: &mut Frame, area: Rect, compact: bool) {
    let aw = area.width as usize;
    let mut right = header_right(ctx, true);
    // The banner gives way to the lesson title (and the badge before it), shown whole.
    let title = ctx.model.lesson.title.get(ctx.model.lang).width() + " ringstep  ".len();
    if right.width() + title.max(24) + 1 > aw {
        right = header_right(ctx, false);
    }
    let rw = right.width().min(aw);
    let left = header_left(ctx, aw.saturating_sub(rw + 1), compact);
    f.render_widget(Paragraph::new(left).style(ctx.theme.text), area);
    let r = Rect::new(area.x + area.width - rw as u16, area.y, rw as u16, 1);
    f.render_widget(Paragraph::new(right).alignment(Alignment::Right), r);
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
    // `--gdb`: whether gdb is listening, attached or running, at the right; a message
    // or typed answer keeps its room (the address goes first, then the whole state).
    let used = left.width() + 1;
    let hints = m.input.is_none() && m.status.is_none();
    let fits = |t: &String| hints || used + t.width() + 2 <= area.width as usize;
    let gdb = m
        .gdb_status(true)
        .filter(fits)
        .or_else(|| m.gdb_status(false).filter(fits));
    f.render_widget(Paragraph::new(left).style(t.text), area);
    let mut area = area;
    if let Some(text) = gdb {
        let text = format!(" {text} ");
        let width = (text.width() as u16).min(area.width);
        let r = Rect::new(area.x + area.width - width, area.y, width, 1);
        f.render_widget(Paragraph::new(Span::styled(text, t.status)), r);
        area.width -= width;
    }
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
