//! The small part of Markdown lessons use: paragraphs, `**bold**`, `` `code` ``,
//! `*emphasis*`, and lists (`-`, `*`, `1.`), word-wrapped to a width with hanging
//! indents for list items.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

/// One word with its style; `space` says a space came before it.
#[derive(Clone, Debug, PartialEq)]
struct Word {
    text: String,
    style: Style,
    space: bool,
}

/// Styles used for the inline marks.
#[derive(Clone, Copy, Debug)]
pub struct MdStyle {
    pub text: Style,
    pub bold: Style,
    pub code: Style,
}

fn inline(text: &str, st: &MdStyle) -> Vec<Word> {
    let mut words = Vec::new();
    let (mut bold, mut code, mut em) = (false, false, false);
    let mut cur = String::new();
    let mut cur_style = st.text;
    let mut space = false;
    let style_of = |bold: bool, code: bool, em: bool| {
        let mut s = if code {
            st.code
        } else if bold {
            st.bold
        } else {
            st.text
        };
        if em && !code {
            s = s.add_modifier(Modifier::ITALIC);
        }
        s
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let flush = |cur: &mut String, words: &mut Vec<Word>, style: Style, space: &mut bool| {
        if !cur.is_empty() {
            words.push(Word {
                text: std::mem::take(cur),
                style,
                space: *space,
            });
            *space = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            flush(&mut cur, &mut words, cur_style, &mut space);
            code = !code;
            cur_style = style_of(bold, code, em);
            i += 1;
            continue;
        }
        if !code && c == '*' && chars.get(i + 1) == Some(&'*') {
            flush(&mut cur, &mut words, cur_style, &mut space);
            bold = !bold;
            cur_style = style_of(bold, code, em);
            i += 2;
            continue;
        }
        if !code && (c == '*' || c == '_') {
            // Emphasis only at word edges, so snake_case names stay intact.
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let opens = !em
                && prev.is_none_or(|p| p.is_whitespace() || p == '(')
                && next.is_some_and(|n| !n.is_whitespace());
            let closes = em
                && prev.is_some_and(|p| !p.is_whitespace())
                && next.is_none_or(|n| !n.is_alphanumeric());
            if opens || closes {
                flush(&mut cur, &mut words, cur_style, &mut space);
                em = !em;
                cur_style = style_of(bold, code, em);
                i += 1;
                continue;
            }
        }
        if c.is_whitespace() {
            flush(&mut cur, &mut words, cur_style, &mut space);
            space = true;
            i += 1;
            continue;
        }
        cur.push(c);
        i += 1;
    }
    flush(&mut cur, &mut words, cur_style, &mut space);
    words
}

/// Wrap words into lines of `width` columns; continuation lines start with `indent`.
fn wrap(
    words: &[Word],
    first: Vec<Span<'static>>,
    indent: usize,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let width = width.max(indent + 8);
    let mut line: Vec<Span<'static>> = first;
    let mut used: usize = line.iter().map(|s| s.content.width()).sum();
    let mut has_word = false;
    let new_line = |line: &mut Vec<Span<'static>>, out: &mut Vec<Line<'static>>| {
        out.push(Line::from(std::mem::take(line)));
        if indent > 0 {
            line.push(Span::raw(" ".repeat(indent)));
        }
    };
    for w in words {
        let ww = w.text.width();
        let sep = usize::from(w.space && has_word);
        if has_word && used + sep + ww > width {
            new_line(&mut line, out);
            used = indent;
        } else if sep == 1 {
            line.push(Span::raw(" "));
            used += 1;
        }
        // A word longer than the line is cut.
        let mut text = w.text.clone();
        while used + text.width() > width && text.chars().count() > 1 {
            let n = width.saturating_sub(used).max(1);
            let head: String = text.chars().take(n).collect();
            let rest: String = text.chars().skip(n).collect();
            line.push(Span::styled(head, w.style));
            new_line(&mut line, out);
            used = indent;
            text = rest;
        }
        used += text.width();
        line.push(Span::styled(text, w.style));
        has_word = true;
    }
    if !line.is_empty() {
        out.push(Line::from(line));
    }
}

fn list_marker(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start();
    for m in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(m) {
            return Some(("• ".to_string(), rest));
        }
    }
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        if let Some(rest) = t[digits.len()..].strip_prefix(". ") {
            return Some((format!("{digits}. "), rest));
        }
    }
    None
}

/// Render Markdown `text` to lines `width` columns wide.
pub fn render(text: &str, width: usize, st: &MdStyle) -> Vec<Line<'static>> {
    // Blocks: paragraphs and list items, each a marker and its joined text.
    let mut blocks: Vec<(Option<String>, String)> = Vec::new();
    let mut open = false;
    for raw in text.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            if open {
                blocks.push((None, String::new()));
            }
            open = false;
            continue;
        }
        if let Some((marker, rest)) = list_marker(line) {
            blocks.push((Some(marker), rest.trim().to_string()));
            open = true;
            continue;
        }
        match blocks.last_mut() {
            Some((_, t)) if open => {
                t.push(' ');
                t.push_str(line.trim());
            }
            _ => {
                blocks.push((None, line.trim().to_string()));
                open = true;
            }
        }
    }
    let mut out: Vec<Line<'static>> = Vec::new();
    for (marker, t) in &blocks {
        if marker.is_none() && t.is_empty() {
            if !out.is_empty() {
                out.push(Line::default());
            }
            continue;
        }
        let words = inline(t, st);
        match marker {
            Some(m) => {
                let indent = m.width();
                wrap(
                    &words,
                    vec![Span::styled(m.clone(), st.bold)],
                    indent,
                    width,
                    &mut out,
                );
            }
            None => wrap(&words, Vec::new(), 0, width, &mut out),
        }
    }
    while out.last().is_some_and(|l| l.spans.is_empty()) {
        out.pop();
    }
    out
}

/// Plain inline rendering of a short text (choices, prompts) into spans.
pub fn spans(text: &str, st: &MdStyle) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    for w in inline(text, st) {
        if w.space && !out.is_empty() {
            out.push(Span::raw(" "));
        }
        out.push(Span::styled(w.text, w.style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st() -> MdStyle {
        MdStyle {
            text: Style::new(),
            bold: Style::new().add_modifier(Modifier::BOLD),
            code: Style::new().add_modifier(Modifier::UNDERLINED),
        }
    }

    fn plain(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn paragraphs_bold_code_and_lists() {
        let md = "The **CPU** runs `sysenter`\nnow.\n\n- first item that is long enough to wrap\n  around\n- second\n\n1. one";
        let lines = render(md, 24, &st());
        assert_eq!(
            plain(&lines),
            vec![
                "The CPU runs sysenter",
                "now.",
                "",
                "• first item that is",
                "  long enough to wrap",
                "  around",
                "• second",
                "",
                "1. one",
            ]
        );
        let bold = lines[0].spans.iter().find(|s| s.content == "CPU").unwrap();
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
        let code = lines[0]
            .spans
            .iter()
            .find(|s| s.content == "sysenter")
            .unwrap();
        assert!(code.style.add_modifier.contains(Modifier::UNDERLINED));
    }

    #[test]
    fn snake_case_is_not_emphasis() {
        let lines = render("see sys_call_table and *this*", 80, &st());
        assert_eq!(plain(&lines), vec!["see sys_call_table and this"]);
    }

    #[test]
    fn long_words_are_cut() {
        let lines = render("abcdefghijklmnopqrstuvwxyz", 10, &st());
        assert!(lines.len() >= 2);
        for l in plain(&lines) {
            assert!(l.width() <= 10, "{l}");
        }
    }
}
