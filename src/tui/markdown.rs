//! Lesson Markdown on the terminal: paragraphs, **bold**, `code`, *emphasis*, links
//! (their address after the text), nested lists, quotes, code blocks and tables, read
//! by pulldown-cmark (src/tui/md_blocks.rs) and word-wrapped to a width with the
//! prefixes of lists and quotes. Tables get columns that fit the width; a cell that
//! does not fit wraps inside its column.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::md_blocks::{blocks, Block, Kind, Row, Word};

/// Styles used for the inline marks.
#[derive(Clone, Copy, Debug)]
pub struct MdStyle {
    pub text: Style,
    pub bold: Style,
    pub code: Style,
}

/// Words wrapped to lines of exactly at most `width` columns. Words without a space
/// between them stay together; a run longer than a line is cut.
fn wrap(words: &[Word], width: usize) -> Vec<Vec<Span<'static>>> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    let mut i = 0;
    while i < words.len() {
        // The glued run words[i..j].
        let mut j = i + 1;
        while j < words.len() && !words[j].space {
            j += 1;
        }
        let run: usize = words[i..j].iter().map(|w| w.text.width()).sum();
        let sep = usize::from(used > 0);
        if used > 0 && used + sep + run > width {
            out.push(std::mem::take(&mut line));
            used = 0;
        } else if sep == 1 {
            line.push(Span::raw(" "));
            used += 1;
        }
        for w in &words[i..j] {
            let mut text = w.text.clone();
            while used + text.width() > width && text.chars().count() > 1 {
                let n = width.saturating_sub(used).max(1);
                let head: String = text.chars().take(n).collect();
                text = text.chars().skip(n).collect();
                line.push(Span::styled(head, w.style));
                out.push(std::mem::take(&mut line));
                used = 0;
            }
            used += text.width();
            line.push(Span::styled(text, w.style));
        }
        i = j;
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

fn words_width(words: &[Word]) -> usize {
    let gaps = words.iter().skip(1).filter(|w| w.space).count();
    words.iter().map(|w| w.text.width()).sum::<usize>() + gaps
}

/// Column widths of a table that fit `avail` columns: the widest column gives way first.
fn column_widths(head: &Row, rows: &[Row], avail: usize) -> Vec<usize> {
    let n = std::iter::once(head)
        .chain(rows)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let mut w = vec![1usize; n];
    for row in std::iter::once(head).chain(rows) {
        for (i, cell) in row.iter().enumerate() {
            w[i] = w[i].max(words_width(cell));
        }
    }
    while w.iter().sum::<usize>() > avail {
        let Some((i, &max)) = w.iter().enumerate().max_by_key(|(_, v)| **v) else {
            break;
        };
        if max <= 3 {
            break;
        }
        w[i] = max - 1;
    }
    w
}

/// One table row: each cell wrapped in its column, the cells joined by bars.
fn table_row(row: &Row, widths: &[usize], bar: &str, st: &MdStyle) -> Vec<Vec<Span<'static>>> {
    let empty = Vec::new();
    let cells: Vec<_> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| wrap(row.get(i).unwrap_or(&empty), *w))
        .collect();
    let h = cells.iter().map(Vec::len).max().unwrap_or(1);
    (0..h)
        .map(|k| {
            let mut spans = Vec::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    spans.push(Span::styled(bar.to_string(), st.text));
                }
                let line = cell.get(k).cloned().unwrap_or_default();
                let used: usize = line.iter().map(|s| s.content.width()).sum();
                spans.extend(line);
                spans.push(Span::raw(" ".repeat(w.saturating_sub(used))));
            }
            spans
        })
        .collect()
}

fn table(head: &Row, rows: &[Row], width: usize, st: &MdStyle) -> Vec<Vec<Span<'static>>> {
    let n = std::iter::once(head)
        .chain(rows)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let avail = width.saturating_sub(3 * n.saturating_sub(1));
    let widths = column_widths(head, rows, avail);
    let mut out = Vec::new();
    if !head.is_empty() {
        out.extend(table_row(head, &widths, " │ ", st));
        let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
        out.push(vec![Span::styled(rule.join("─┼─"), st.text)]);
    }
    for row in rows {
        out.extend(table_row(row, &widths, " │ ", st));
    }
    out
}

/// Code lines, cut into pieces of the width (code is not re-flowed).
fn code(lines: &[String], width: usize, st: &MdStyle) -> Vec<Vec<Span<'static>>> {
    let width = width.max(1);
    let mut out = Vec::new();
    for l in lines {
        let chars: Vec<char> = l.replace('\t', "    ").chars().collect();
        if chars.is_empty() {
            out.push(Vec::new());
        }
        for piece in chars.chunks(width) {
            out.push(vec![Span::styled(
                piece.iter().collect::<String>(),
                st.code,
            )]);
        }
    }
    out
}

fn block_lines(b: &Block, width: usize, st: &MdStyle) -> Vec<Vec<Span<'static>>> {
    let inner = width.saturating_sub(b.rest.width()).max(8);
    match &b.kind {
        Kind::Text(words) => wrap(words, inner),
        Kind::Code(lines) => code(lines, inner.saturating_sub(2).max(1), st)
            .into_iter()
            .map(|mut l| {
                l.insert(0, Span::raw("  "));
                l
            })
            .collect(),
        Kind::Table { head, rows } => table(head, rows, inner, st),
        Kind::Rule => vec![vec![Span::styled("─".repeat(inner), st.text)]],
        Kind::Blank => vec![Vec::new()],
    }
}

/// Render Markdown `text` to lines `width` columns wide.
pub fn render(text: &str, width: usize, st: &MdStyle) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for b in blocks(text, st) {
        for (k, spans) in block_lines(&b, width, st).into_iter().enumerate() {
            let prefix = if k == 0 { &b.first } else { &b.rest };
            let mut line = Vec::new();
            if !prefix.is_empty() {
                line.push(Span::styled(prefix.clone(), st.bold));
            }
            line.extend(spans);
            out.push(Line::from(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

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

    #[test]
    fn tables_get_aligned_columns_and_a_header_rule() {
        let md = "Before:\n\n| address | word |\n|---|---|\n| ESP+16 | old SS (`0x7b`) |\n| ESP+0 | old EIP |\n\nAfter.";
        let lines = plain(&render(md, 60, &st()));
        assert_eq!(
            lines,
            vec![
                "Before:",
                "",
                "address │ word         ",
                "────────┼──────────────",
                "ESP+16  │ old SS (0x7b)",
                "ESP+0   │ old EIP      ",
                "",
                "After.",
            ]
        );
    }

    #[test]
    fn a_table_wider_than_the_pane_wraps_inside_its_columns() {
        let md = "| a | b |\n|---|---|\n| x | one two three four five six |";
        let lines = plain(&render(md, 16, &st()));
        for l in &lines {
            assert!(l.width() <= 16, "{l:?} in {lines:?}");
            assert!(l.contains('│') || l.contains('┼'), "{l:?}");
        }
        assert!(lines.len() > 3, "{lines:?}");
        let text: String = lines.join(" ");
        for w in ["one", "two", "three", "four", "five", "six"] {
            assert!(text.contains(w), "{w} lost: {lines:?}");
        }
    }

    #[test]
    fn code_blocks_keep_their_lines_and_links_show_the_address() {
        let md = "See [the SDM](https://intel.com/sdm) now.\n\n```\nmov %esp, %ebp\n  ret\n```\n\n> quoted";
        let lines = plain(&render(md, 60, &st()));
        assert_eq!(
            lines,
            vec![
                "See the SDM (https://intel.com/sdm) now.",
                "",
                "  mov %esp, %ebp",
                "    ret",
                "",
                "│ quoted",
            ]
        );
    }

    #[test]
    fn nested_lists_indent_under_their_item() {
        let md = "- outer\n  - inner one\n  - inner two\n- last";
        assert_eq!(
            plain(&render(md, 40, &st())),
            vec!["• outer", "  • inner one", "  • inner two", "• last"]
        );
    }
}
