//! Lesson Markdown (CommonMark with tables, read by pulldown-cmark) turned into blocks the
//! terminal draws: wrapped text with the prefixes of its lists and quotes, code blocks,
//! tables and rules. Inline marks become styles; a link keeps its address after its text.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use unicode_width::UnicodeWidthStr;

use super::markdown::MdStyle;

/// One word with its style; `space` says a space came before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub style: Style,
    pub space: bool,
}

/// The cells of a table row, each a run of words.
pub type Row = Vec<Vec<Word>>;

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Text(Vec<Word>),
    Code(Vec<String>),
    Table { head: Row, rows: Vec<Row> },
    Rule,
    Blank,
}

/// A block and the prefixes of its first and following lines (list markers, quote bars).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub first: String,
    pub rest: String,
    pub kind: Kind,
}

enum Container {
    Quote,
    List(Option<u64>),
    Item { marker: String, used: bool },
}

#[derive(Default)]
struct TableAcc {
    head: Row,
    rows: Vec<Row>,
    row: Row,
}

struct Reader<'s> {
    st: &'s MdStyle,
    out: Vec<Block>,
    words: Vec<Word>,
    space: bool,
    strong: u32,
    em: u32,
    /// Index into `words` where each open link's text starts, and its address.
    links: Vec<(usize, String)>,
    containers: Vec<Container>,
    code: Option<Vec<String>>,
    table: Option<TableAcc>,
}

/// The blocks of Markdown `text`.
pub fn blocks(text: &str, st: &MdStyle) -> Vec<Block> {
    let mut r = Reader {
        st,
        out: Vec::new(),
        words: Vec::new(),
        space: false,
        strong: 0,
        em: 0,
        links: Vec::new(),
        containers: Vec::new(),
        code: None,
        table: None,
    };
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for ev in Parser::new_ext(text, opts) {
        r.event(ev);
    }
    r.flush();
    while r.out.last().is_some_and(|b| b.kind == Kind::Blank) {
        r.out.pop();
    }
    r.out
}

impl Reader<'_> {
    fn style(&self, code: bool) -> Style {
        let mut s = if code {
            self.st.code
        } else if self.strong > 0 {
            self.st.bold
        } else {
            self.st.text
        };
        if self.em > 0 && !code {
            s = s.add_modifier(Modifier::ITALIC);
        }
        if !self.links.is_empty() {
            s = s.add_modifier(Modifier::UNDERLINED);
        }
        s
    }

    fn push_text(&mut self, s: &str, code: bool) {
        if let Some(lines) = &mut self.code {
            let mut parts = s.split('\n');
            if let (Some(last), Some(p)) = (lines.last_mut(), parts.next()) {
                last.push_str(p);
            }
            lines.extend(parts.map(str::to_string));
            return;
        }
        if s.is_empty() {
            return;
        }
        let style = self.style(code);
        if s.starts_with(char::is_whitespace) {
            self.space = true;
        }
        for w in s.split_whitespace() {
            self.words.push(Word {
                text: w.to_string(),
                style,
                space: self.space,
            });
            self.space = true;
        }
        self.space = s.ends_with(char::is_whitespace);
    }

    fn prefixes(&mut self) -> (String, String) {
        let (mut first, mut rest) = (String::new(), String::new());
        for c in &mut self.containers {
            match c {
                Container::Quote => {
                    first.push_str("│ ");
                    rest.push_str("│ ");
                }
                Container::List(_) => {}
                Container::Item { marker, used } => {
                    let pad = " ".repeat(marker.width());
                    first.push_str(if *used { &pad } else { marker });
                    rest.push_str(&pad);
                    *used = true;
                }
            }
        }
        (first, rest)
    }

    fn emit(&mut self, kind: Kind) {
        let (first, rest) = self.prefixes();
        self.out.push(Block { first, rest, kind });
    }

    /// The words read so far, as a text block.
    fn flush(&mut self) {
        if !self.words.is_empty() {
            let words = std::mem::take(&mut self.words);
            self.emit(Kind::Text(words));
        }
        self.space = false;
    }

    /// A blank line before a new block, except at the start and at an item's start.
    fn open_block(&mut self) {
        self.flush();
        let fresh_item = matches!(
            self.containers.last(),
            Some(Container::Item { used: false, .. })
        );
        let last_blank = self.out.last().is_none_or(|b| b.kind == Kind::Blank);
        if !fresh_item && !last_blank {
            let rest = self.prefixes().1;
            let bar = rest.trim_end().to_string();
            self.out.push(Block {
                first: bar.clone(),
                rest: bar,
                kind: Kind::Blank,
            });
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.push_text(&t, false),
            Event::Code(t) => self.push_text(&t, true),
            Event::Html(t) | Event::InlineHtml(t) => self.push_text(&t, false),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.push_text(&t, true),
            Event::FootnoteReference(t) => self.push_text(&format!("[{t}]"), false),
            Event::SoftBreak => self.space = true,
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.open_block();
                self.emit(Kind::Rule);
            }
            Event::TaskListMarker(done) => {
                self.push_text(if done { "[x] " } else { "[ ] " }, false)
            }
        }
    }

    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Paragraph | Tag::Heading { .. } | Tag::HtmlBlock => {
                self.open_block();
                if matches!(tag, Tag::Heading { .. }) {
                    self.strong += 1;
                }
            }
            Tag::CodeBlock(_) => {
                self.open_block();
                self.code = Some(vec![String::new()]);
            }
            Tag::BlockQuote(_) => {
                self.open_block();
                self.containers.push(Container::Quote);
            }
            Tag::List(first) => {
                if !self
                    .containers
                    .iter()
                    .any(|c| matches!(c, Container::Item { .. }))
                {
                    self.open_block();
                }
                self.flush();
                self.containers.push(Container::List(first));
            }
            Tag::Item => {
                self.flush();
                let marker = match self.containers.last_mut() {
                    Some(Container::List(Some(n))) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "• ".to_string(),
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Table(_) => {
                self.open_block();
                self.table = Some(TableAcc::default());
            }
            Tag::TableHead => self.strong += 1,
            Tag::Emphasis => self.em += 1,
            Tag::Strong => self.strong += 1,
            Tag::Link { dest_url, .. } => self.links.push((self.words.len(), dest_url.to_string())),
            Tag::Image { .. } => self.push_text("[", false),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.strong = self.strong.saturating_sub(1);
            }
            TagEnd::CodeBlock => {
                let mut lines = self.code.take().unwrap_or_default();
                while lines.last().is_some_and(|l| l.is_empty()) {
                    lines.pop();
                }
                self.emit(Kind::Code(lines));
            }
            TagEnd::BlockQuote(_) | TagEnd::List(_) | TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.words);
                self.space = false;
                if let Some(t) = &mut self.table {
                    t.row.push(cell);
                }
            }
            TagEnd::TableHead => {
                self.strong = self.strong.saturating_sub(1);
                if let Some(t) = &mut self.table {
                    t.head = std::mem::take(&mut t.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(t) = self.table.take() {
                    self.emit(Kind::Table {
                        head: t.head,
                        rows: t.rows,
                    });
                }
            }
            TagEnd::Emphasis => self.em = self.em.saturating_sub(1),
            TagEnd::Strong => self.strong = self.strong.saturating_sub(1),
            TagEnd::Link => self.end_link(),
            TagEnd::Image => self.push_text("]", false),
            _ => {}
        }
    }

    /// A link's address after its text, unless the text is the address.
    fn end_link(&mut self) {
        let Some((start, url)) = self.links.pop() else {
            return;
        };
        let text: Vec<&str> = self.words[start.min(self.words.len())..]
            .iter()
            .map(|w| w.text.as_str())
            .collect();
        if !url.is_empty() && text.join(" ") != url {
            self.words.push(Word {
                text: format!("({url})"),
                style: self.st.text,
                space: true,
            });
            self.space = false;
        }
    }
}
