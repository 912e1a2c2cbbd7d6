//! Lesson Markdown as HTML for the export page, read by pulldown-cmark: paragraphs,
//! headings, lists, quotes, `<pre><code>` blocks, real `<table>`s and `<a>` links.
//! Everything from the lesson is escaped: raw HTML in a lesson shows as text, and a link
//! whose address is not http(s), mailto or relative keeps its text but no link.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use quick_xml::escape::escape;

/// `url` may be linked: no `javascript:` or `data:` addresses.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _)) if !scheme.contains('/') => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

fn start(tag: &Tag, o: &mut String, links: &mut Vec<bool>, in_head: &mut bool) {
    match tag {
        Tag::Paragraph => o.push_str("<p>"),
        Tag::Heading { level, .. } => o.push_str(&format!("<{level}>")),
        Tag::BlockQuote(_) => o.push_str("<blockquote>"),
        Tag::CodeBlock(_) => o.push_str("<pre><code>"),
        Tag::List(Some(1)) => o.push_str("<ol>"),
        Tag::List(Some(n)) => o.push_str(&format!("<ol start=\"{n}\">")),
        Tag::List(None) => o.push_str("<ul>"),
        Tag::Item => o.push_str("<li>"),
        Tag::Table(_) => o.push_str("<table>"),
        Tag::TableHead => {
            *in_head = true;
            o.push_str("<thead><tr>");
        }
        Tag::TableRow => o.push_str("<tr>"),
        Tag::TableCell => o.push_str(if *in_head { "<th>" } else { "<td>" }),
        Tag::Emphasis => o.push_str("<em>"),
        Tag::Strong => o.push_str("<strong>"),
        Tag::Strikethrough => o.push_str("<del>"),
        Tag::Link { dest_url, .. } => {
            let ok = safe_url(dest_url);
            if ok {
                o.push_str(&format!("<a href=\"{}\">", escape(dest_url.as_ref())));
            }
            links.push(ok);
        }
        _ => {}
    }
}

fn end(tag: &TagEnd, o: &mut String, links: &mut Vec<bool>, in_head: &mut bool) {
    let s: String = match tag {
        TagEnd::Paragraph => "</p>\n".into(),
        TagEnd::Heading(level) => format!("</{level}>\n"),
        TagEnd::BlockQuote(_) => "</blockquote>\n".into(),
        TagEnd::CodeBlock => "</code></pre>\n".into(),
        TagEnd::List(true) => "</ol>\n".into(),
        TagEnd::List(false) => "</ul>\n".into(),
        TagEnd::Item => "</li>\n".into(),
        TagEnd::Table => "</tbody></table>\n".into(),
        TagEnd::TableHead => {
            *in_head = false;
            "</tr></thead><tbody>\n".into()
        }
        TagEnd::TableRow => "</tr>\n".into(),
        TagEnd::TableCell if *in_head => "</th>".into(),
        TagEnd::TableCell => "</td>".into(),
        TagEnd::Emphasis => "</em>".into(),
        TagEnd::Strong => "</strong>".into(),
        TagEnd::Strikethrough => "</del>".into(),
        TagEnd::Link if links.pop().unwrap_or(false) => "</a>".into(),
        _ => String::new(),
    };
    o.push_str(&s);
}

/// Markdown `text` as HTML.
pub fn markdown_html(text: &str) -> String {
    let mut o = String::new();
    let mut links = Vec::new();
    let mut in_head = false;
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for ev in Parser::new_ext(text, opts) {
        match ev {
            Event::Start(tag) => start(&tag, &mut o, &mut links, &mut in_head),
            Event::End(tag) => end(&tag, &mut o, &mut links, &mut in_head),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => o.push_str(&escape(&*t)),
            Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                o.push_str(&format!("<code>{}</code>", escape(&*t)))
            }
            Event::FootnoteReference(t) => o.push_str(&format!("[{}]", escape(&*t))),
            Event::SoftBreak => o.push('\n'),
            Event::HardBreak => o.push_str("<br>\n"),
            Event::Rule => o.push_str("<hr>\n"),
            Event::TaskListMarker(done) => o.push_str(if done { "[x] " } else { "[ ] " }),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_code_blocks_and_links_become_real_html() {
        let md = "Look:\n\n| a | b |\n|---|---|\n| `x` | y & z |\n\n```\nmov %esp,%ebp\n```\n\n[SDM](https://intel.com/sdm)";
        let h = markdown_html(md);
        assert!(
            h.contains("<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>"),
            "{h}"
        );
        assert!(
            h.contains("<tr><td><code>x</code></td><td>y &amp; z</td></tr>"),
            "{h}"
        );
        assert!(h.contains("<pre><code>mov %esp,%ebp\n</code></pre>"), "{h}");
        assert!(
            h.contains("<a href=\"https://intel.com/sdm\">SDM</a>"),
            "{h}"
        );
        assert!(!h.contains('|'), "{h}");
    }

    #[test]
    fn everything_from_the_lesson_is_escaped() {
        let md = "<script>alert(1)</script>\n\nhi <b onclick=\"x\">b</b> [x](javascript:alert(1)) [q](\"><img)";
        let h = markdown_html(md);
        assert!(
            !h.contains("<script") && !h.contains("<b ") && !h.contains("<img"),
            "{h}"
        );
        assert!(!h.contains("href=\"javascript"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
    }
}
