//! Errors from loading a scenario, reported as `FILE:LINE:COL: message`.

use std::fmt;
use std::ops::Range;

/// A scenario that could not be loaded. `line` and `col` are 1-based; they are absent
/// only when the file itself could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl ScenarioError {
    /// An error about the bytes `span` of `text`, which was read from `file`.
    pub fn at(file: &str, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, col) = line_col(text, span.start);
        ScenarioError {
            file: file.to_string(),
            line: Some(line),
            col: Some(col),
            message: message.into(),
        }
    }

    /// An error with no position (the file could not be read at all).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: None,
            col: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(line), Some(col)) => {
                write!(f, "{}:{}:{}: {}", self.file, line, col, self.message)
            }
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (in characters) of byte offset `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Edit distance between two short strings (case-insensitive), counting insertions,
/// deletions, substitutions and swaps of neighbouring characters as one edit each.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// Names longer than this get no suggestion (comparing long names costs the product of
/// their lengths).
pub const MAX_SUGGESTED_LEN: usize = 64;

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    if len > MAX_SUGGESTED_LEN {
        return None;
    }
    let limit = (len / 3).max(2);
    candidates
        .into_iter()
        // The distance is at least the difference in length.
        .filter(|c| c.len().abs_diff(len) <= limit * 4 && c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"` or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match nearest(word, candidates) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 4));
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("eax", "ebx"), 1);
        assert_eq!(nearest("exa", ["eax", "esp", "rip"]), Some("eax"));
        assert_eq!(nearest("completely_else", ["eax"]), None);
        let long = "a".repeat(MAX_SUGGESTED_LEN + 1);
        assert_eq!(nearest(&long, [&long[1..]]), None);
        assert_eq!(
            did_you_mean("sysenter_entyr", ["sysenter_entry"]),
            "; did you mean `sysenter_entry`?"
        );
    }
}
