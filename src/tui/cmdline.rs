//! The `:` command line: the text being edited, its cursor, the history of lines
//! entered, and the candidates of the last Tab. Only editing lives here; what a line
//! does is `commands`, and what Tab offers is the debugger's `debug::completion`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::debug::Completion;

/// The longest command line.
pub const MAX_LEN: usize = 200;
/// Lines kept in the history.
pub const MAX_HISTORY: usize = 100;

/// The line being edited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdLine {
    pub text: String,
    /// Cursor position in characters (0 ..= text length).
    pub cursor: usize,
    /// The history entry shown, counted from the newest (None: the line being typed).
    browsing: Option<usize>,
    /// The line being typed while browsing the history.
    draft: String,
    /// Candidates of the last Tab press when there was more than one.
    pub candidates: Vec<String>,
}

/// What a key press asks of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing beyond the edit itself.
    None,
    /// Enter: run this line.
    Submit(String),
    /// Esc or ctrl-c: close the line.
    Cancel,
    /// Tab: complete the word before the cursor.
    Complete,
}

fn byte_at(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

impl CmdLine {
    pub fn new() -> CmdLine {
        CmdLine::default()
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// The text before the cursor (what completion looks at).
    pub fn before_cursor(&self) -> &str {
        &self.text[..byte_at(&self.text, self.cursor)]
    }

    pub fn insert(&mut self, c: char) {
        if self.len() >= MAX_LEN || c.is_control() {
            return;
        }
        let at = byte_at(&self.text, self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    fn set(&mut self, text: String) {
        self.cursor = text.chars().count();
        self.text = text;
    }

    fn delete_range(&mut self, from: usize, to: usize) {
        let (a, b) = (byte_at(&self.text, from), byte_at(&self.text, to));
        self.text.replace_range(a..b, "");
        self.cursor = from;
    }

    /// Start of the word before the cursor (ctrl-w).
    fn word_start(&self) -> usize {
        let chars: Vec<char> = self.text.chars().take(self.cursor).collect();
        let mut i = chars.len();
        while i > 0 && chars[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !chars[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// Older (`back`) or newer history entries; `history` is oldest first.
    fn browse(&mut self, history: &[String], back: bool) {
        let n = history.len();
        let next = match (self.browsing, back) {
            (None, true) if n > 0 => Some(0),
            (None, _) => return,
            (Some(i), true) => Some((i + 1).min(n.saturating_sub(1))),
            (Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
        };
        if self.browsing.is_none() {
            self.draft = self.text.clone();
        }
        self.browsing = next;
        let text = match next {
            Some(i) => history[n - 1 - i].clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.set(text);
        self.candidates.clear();
    }

    /// Apply a key press. `history` is the lines entered so far, oldest first.
    pub fn key(&mut self, e: &KeyEvent, history: &[String]) -> Edit {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        if !matches!(e.code, KeyCode::Tab) {
            self.candidates.clear();
        }
        match e.code {
            KeyCode::Enter => return Edit::Submit(self.text.clone()),
            KeyCode::Esc => return Edit::Cancel,
            KeyCode::Char('c') | KeyCode::Char('g') if ctrl => return Edit::Cancel,
            KeyCode::Tab => return Edit::Complete,
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.len(),
            KeyCode::Char('b') if ctrl => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Char('f') if ctrl => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Char('u') if ctrl => self.delete_range(0, self.cursor),
            KeyCode::Char('k') if ctrl => {
                let end = self.len();
                let c = self.cursor;
                self.delete_range(c, end);
            }
            KeyCode::Char('w') if ctrl => {
                let from = self.word_start();
                let c = self.cursor;
                self.delete_range(from, c);
            }
            KeyCode::Char('p') if ctrl => self.browse(history, true),
            KeyCode::Char('n') if ctrl => self.browse(history, false),
            KeyCode::Char(_) if ctrl => {}
            KeyCode::Char(c) => self.insert(c),
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            KeyCode::Backspace if self.cursor > 0 => {
                let c = self.cursor;
                self.delete_range(c - 1, c);
            }
            KeyCode::Delete if self.cursor < self.len() => {
                let c = self.cursor;
                self.delete_range(c, c + 1);
            }
            KeyCode::Up => self.browse(history, true),
            KeyCode::Down => self.browse(history, false),
            _ => {}
        }
        Edit::None
    }

    /// Apply a completion of the text before the cursor: a single candidate replaces
    /// the word (and a space follows it); several insert what they share and are kept
    /// in `candidates` for the screen to list.
    pub fn complete(&mut self, c: &Completion) {
        let before = self.before_cursor().to_string();
        let after = self.text[before.len()..].to_string();
        if c.start > before.len() {
            return;
        }
        let (insert, list) = match c.words.as_slice() {
            [] => {
                self.candidates.clear();
                return;
            }
            [one] => (format!("{one} "), Vec::new()),
            many => {
                let common = c.common_prefix();
                let typed = &before[c.start..];
                // Keep what was typed when the candidates share less (case differs).
                let insert = if common.len() >= typed.len() {
                    common
                } else {
                    typed.to_string()
                };
                (insert, many.to_vec())
            }
        };
        let head = format!("{}{insert}", &before[..c.start]);
        if head.chars().count() + after.chars().count() > MAX_LEN {
            return;
        }
        self.cursor = head.chars().count();
        self.text = format!("{head}{after}");
        self.candidates = list;
    }
}

/// Lines entered, oldest first; a line equal to the newest one is not added again.
pub fn remember(history: &mut Vec<String>, line: &str) {
    let line = line.trim();
    if line.is_empty() || history.last().is_some_and(|l| l == line) {
        return;
    }
    history.push(line.to_string());
    if history.len() > MAX_HISTORY {
        history.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(s: &str) -> CmdLine {
        let mut l = CmdLine::new();
        for c in s.chars() {
            l.key(&k(KeyCode::Char(c)), &[]);
        }
        l
    }

    #[test]
    fn editing_with_the_cursor() {
        let mut l = typed("brek main");
        for _ in 0..5 {
            l.key(&k(KeyCode::Left), &[]);
        }
        l.key(&k(KeyCode::Backspace), &[]);
        l.key(&k(KeyCode::Char('a')), &[]);
        l.key(&k(KeyCode::Char('k')), &[]);
        assert_eq!(l.text, "break main");
        assert_eq!(l.cursor, 5);
        l.key(&ctrl('e'), &[]);
        l.key(&ctrl('w'), &[]);
        assert_eq!(l.text, "break ");
        l.key(&k(KeyCode::Home), &[]);
        l.key(&k(KeyCode::Delete), &[]);
        assert_eq!((l.text.as_str(), l.cursor), ("reak ", 0));
        l.key(&ctrl('k'), &[]);
        assert_eq!(l.text, "");
        assert_eq!(l.key(&k(KeyCode::Enter), &[]), Edit::Submit(String::new()));
        assert_eq!(l.key(&k(KeyCode::Esc), &[]), Edit::Cancel);
        assert_eq!(l.key(&k(KeyCode::Tab), &[]), Edit::Complete);
    }

    #[test]
    fn history_browsing_keeps_the_draft() {
        let mut h = Vec::new();
        remember(&mut h, "break sysenter_entry");
        remember(&mut h, "continue");
        remember(&mut h, "continue");
        remember(&mut h, "  ");
        assert_eq!(h, ["break sysenter_entry", "continue"]);
        let mut l = typed("x/4");
        l.key(&k(KeyCode::Up), &h);
        assert_eq!(l.text, "continue");
        l.key(&k(KeyCode::Up), &h);
        l.key(&k(KeyCode::Up), &h);
        assert_eq!(l.text, "break sysenter_entry");
        l.key(&k(KeyCode::Down), &h);
        assert_eq!(l.text, "continue");
        l.key(&k(KeyCode::Down), &h);
        assert_eq!((l.text.as_str(), l.cursor), ("x/4", 3));
    }

    #[test]
    fn completion_of_one_or_many() {
        let mut l = typed("break sys");
        l.complete(&Completion {
            start: 6,
            words: vec!["sysenter_entry".into(), "sysenter_past_esp".into()],
        });
        assert_eq!(l.text, "break sysenter_");
        assert_eq!(l.candidates.len(), 2);
        l.key(&k(KeyCode::Char('e')), &[]);
        assert!(l.candidates.is_empty());
        l.complete(&Completion {
            start: 6,
            words: vec!["sysenter_entry".into()],
        });
        assert_eq!(l.text, "break sysenter_entry ");
        assert_eq!(l.cursor, l.text.chars().count());
    }

    #[test]
    fn the_line_has_a_limit() {
        let l = typed(&"a".repeat(MAX_LEN + 10));
        assert_eq!(l.text.len(), MAX_LEN);
    }
}
