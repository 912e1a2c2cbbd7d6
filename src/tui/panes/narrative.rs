//! The narrative pane: the lesson's Markdown for the current step, the current question
//! with feedback from the engine's actual result, and the step's sources.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::lesson::expr::Value;
use crate::tui::app::Answered;
use crate::tui::markdown::{self, MdStyle};
use crate::tui::view::Ctx;

fn value_text(v: &Value, ctx: &Ctx) -> String {
    match v {
        Value::Int(n, bits) => {
            let masked = if *bits >= 64 {
                *n
            } else {
                n & ((1u64 << bits) - 1)
            };
            let sym = crate::tui::snapshot::symbol(&ctx.model.run.played.initial, masked);
            match sym {
                Some(s) => format!("{masked:#x} <{s}>"),
                None => format!("{masked:#x}"),
            }
        }
        Value::Text(t) => t.clone(),
    }
}

/// `text` word-wrapped to `width` columns without any Markdown; a word longer than
/// the line is broken.
fn plain_lines(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            out.push(Line::styled(std::mem::take(&mut line), style));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        for c in word.chars() {
            // Only a word longer than the line gets here with a full line.
            if !line.is_empty() && line.width() + c.width().unwrap_or(0) > width {
                out.push(Line::styled(std::mem::take(&mut line), style));
            }
            line.push(c);
        }
    }
    if !line.is_empty() {
        out.push(Line::styled(line, style));
    }
    out
}

/// The lines of the question block of narrative step `step`.
fn question_lines(ctx: &Ctx, step: usize, width: usize, md: &MdStyle) -> Vec<Line<'static>> {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let Some(q) = m
        .scene()
        .and_then(|s| s.steps.get(step))
        .and_then(|s| s.question.as_ref())
    else {
        return Vec::new();
    };
    let asked_here = m.question_step() == Some(step);
    let answered = m.answers.get(&(m.scene, step));
    let engine = m.run.answers.get(step).and_then(|a| a.as_ref());
    let mut out = vec![Line::default()];
    let qmd = MdStyle {
        text: t.question,
        bold: t.question,
        code: t.code,
    };
    let mut prompt = markdown::render(
        &format!("{}: {}", w.question, q.prompt.get(m.lang)),
        width,
        &qmd,
    );
    out.append(&mut prompt);
    let correct: Vec<usize> = match engine {
        Some(Ok(a)) => a.correct.clone(),
        _ => Vec::new(),
    };
    let reveal = answered.is_some() || !asked_here;
    for (i, c) in q.choices.iter().enumerate() {
        let chosen = matches!(answered, Some(Answered::Choice { index, .. }) if *index == i);
        let mark = if reveal && correct.contains(&i) {
            "✓"
        } else if chosen {
            "✗"
        } else {
            " "
        };
        let head = vec![
            Span::styled(
                mark.to_string(),
                if correct.contains(&i) { t.good } else { t.bad },
            ),
            Span::styled(format!("{}) ", i + 1), t.key),
        ];
        let body = markdown::render(c.text.get(m.lang), width.saturating_sub(4).max(8), md);
        for (k, l) in body.into_iter().enumerate() {
            let mut spans = if k == 0 {
                head.clone()
            } else {
                vec![Span::raw("    ")]
            };
            spans.extend(l.spans);
            let mut line = Line::from(spans);
            if chosen {
                line = line.style(t.bold);
            }
            out.push(line);
        }
    }
    let engine_value = match engine {
        Some(Ok(a)) => Some(value_text(&a.value, ctx)),
        Some(Err(e)) => Some(format!("? ({e})")),
        None => None,
    };
    match answered {
        Some(a) => {
            let (mark, word, style) = if a.correct() {
                ("✓", w.correct, t.good)
            } else {
                ("✗", w.wrong, t.bad)
            };
            let mut text = format!("{mark} {word}");
            if let Some(v) = &engine_value {
                text.push_str(&format!(": {} {v}", w.engine_says));
            }
            if let Answered::Typed { text: typed, .. } = a {
                text.push_str(&format!(" ({}: {typed})", w.your_answer));
            }
            // Plain text: what the student typed is shown exactly as typed.
            out.extend(plain_lines(&text, width, style));
            if let Some(e) = &q.explain {
                let why = format!("**{}:** {}", w.why, e.get(m.lang));
                out.extend(markdown::render(&why, width, md));
            }
        }
        None if asked_here => {
            let hint = if q.choices.is_empty() {
                w.press_type
            } else {
                w.press_choice
            };
            out.push(Line::styled(format!("» {hint}"), t.dim));
        }
        None => {
            if let Some(v) = &engine_value {
                out.push(Line::styled(format!("{}: {v}", w.engine_says), t.dim));
            }
        }
    }
    out
}

/// The lesson's score, shown at its end (nothing for a lesson without questions).
fn score_lines(ctx: &Ctx, width: usize) -> Vec<Line<'static>> {
    let (right, answered, total) = ctx.model.score();
    if total == 0 {
        return Vec::new();
    }
    let w = ctx.words;
    let mut text = format!(
        "{}: {right} {} {total} {}",
        w.score, w.score_of, w.score_right
    );
    if answered < total {
        text.push_str(&format!(", {} {}", total - answered, w.score_unanswered));
    }
    let mut out = vec![Line::default()];
    out.extend(plain_lines(&text, width, ctx.theme.bold));
    out
}

/// The lines of the narrative pane before scrolling: the text (with sources), and the
/// question block, which stays pinned below it.
pub fn lines(ctx: &Ctx, width: usize) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let (body, question, _) = parts(ctx, width);
    (body, question)
}

/// `lines`, and how many of the body's lines are the prose (the sources follow them).
fn parts(ctx: &Ctx, width: usize) -> (Vec<Line<'static>>, Vec<Line<'static>>, usize) {
    let m = ctx.model;
    let t = &ctx.theme;
    let md = MdStyle {
        text: t.text,
        bold: t.bold,
        code: t.code,
    };
    let dim = MdStyle {
        text: t.dim,
        bold: t.dim,
        code: t.dim,
    };
    let mut out = Vec::new();
    let mut question = Vec::new();
    let prose;
    let step = m.current_step();
    match step.and_then(|s| m.scene().and_then(|sc| sc.steps.get(s)).map(|st| (s, st))) {
        Some((i, st)) => {
            out.extend(markdown::render(st.text.get(m.lang), width, &md));
            prose = out.len();
            if !st.sources.is_empty() {
                out.push(Line::default());
                let src = format!("{}: {}", ctx.words.sources, st.sources.join("; "));
                out.extend(markdown::render(&src, width, &dim));
            }
            question = question_lines(ctx, i, width, &md);
        }
        None => {
            out.extend(markdown::render(m.lesson.summary.get(m.lang), width, &md));
            prose = out.len();
            if !m.lesson.sources.is_empty() {
                out.push(Line::default());
                let src = format!("{}: {}", ctx.words.sources, m.lesson.sources.join("; "));
                out.extend(markdown::render(&src, width, &dim));
            }
        }
    }
    if m.at_lesson_end() {
        question.extend(score_lines(ctx, width));
    }
    (out, question, prose)
}

pub fn render(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let scene_title = m.scene().map(|s| s.title.get(m.lang)).unwrap_or("");
    let marks = m.run.played.marks.len();
    let title = match m.current_step() {
        Some(s) => {
            let k = m
                .run
                .played
                .marks
                .iter()
                .position(|x| x.step == s)
                .unwrap_or(0)
                + 1;
            // The counter first: a long scene title is what gets cut on narrow panes.
            format!("{} {k}/{marks} · {scene_title}", ctx.words.narrative)
        }
        None => format!("{} · {scene_title}", ctx.words.narrative),
    };
    let block = ctx.block_in(title, ctx.model.question_step().is_some(), area);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width.saturating_sub(1) as usize;
    let (body, mut question, prose) = parts(ctx, width.max(10));
    let h = inner.height as usize;
    // When the text does not fit, the blank line above the question goes first.
    if body.len() + question.len() > h && question.first().is_some_and(|l| l.spans.is_empty()) {
        question.remove(0);
    }
    let qh = question.len().min(h.saturating_sub(2).max(h / 2));
    let bh = h - qh;
    let max_scroll = body.len().saturating_sub(bh);
    let scroll = (m.narrative_scroll as usize).min(max_scroll);
    let mut shown: Vec<Line> = body.into_iter().skip(scroll).take(bh).collect();
    if scroll < max_scroll && bh > 0 && shown.len() == bh {
        shown.pop();
        // Only the sources go on below the marker: say so, the prose is all on screen.
        let marker = if scroll + bh > prose {
            format!(" ▼ {} (pgdn)", ctx.words.sources)
        } else {
            " ▼ (pgdn)".to_string()
        };
        shown.push(Line::styled(marker, ctx.theme.dim));
    }
    let x = inner.x + 1;
    let w = inner.width.saturating_sub(1);
    f.render_widget(Paragraph::new(shown), Rect::new(x, inner.y, w, bh as u16));
    if qh > 0 {
        let q: Vec<Line> = question.into_iter().take(qh).collect();
        f.render_widget(
            Paragraph::new(q),
            Rect::new(x, inner.y + bh as u16, w, qh as u16),
        );
    }
}
