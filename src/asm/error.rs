//! Assembler errors and did-you-mean suggestions.

use std::fmt;

/// An assembly error: where it is (section index into the slice given to `layout`,
/// 1-based line within that section's text, 1-based column in characters) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmError {
    pub section: usize,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.col, self.message
        )
    }
}

impl std::error::Error for AsmError {}

/// A position in the source: section, line, column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub section: usize,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn error(self, message: impl Into<String>) -> AsmError {
        AsmError {
            section: self.section,
            line: self.line,
            col: self.col.max(1),
            message: message.into(),
        }
    }

    pub fn at_col(self, col: usize) -> Pos {
        Pos { col, ..self }
    }
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), on chars.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// Names longer than this get no suggestions (comparing long names costs the product of
/// their lengths).
pub const MAX_SUGGESTED_LEN: usize = 64;

/// The closest candidates to `word` (at most `max`), nearest first; ties keep the order
/// in which the candidates were given, so callers list preferred names first.
pub fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<&'a str> {
    let len = word.chars().count();
    if len > MAX_SUGGESTED_LEN {
        return Vec::new();
    }
    let limit = match len {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    let lower = word.to_ascii_lowercase();
    let mut found: Vec<(usize, usize, &str)> = Vec::new();
    for (i, c) in candidates.into_iter().enumerate() {
        // The distance is at least the difference in length.
        if c == word || c.len().abs_diff(len) > limit * 4 || found.iter().any(|f| f.2 == c) {
            continue;
        }
        if c.chars().count().abs_diff(len) > limit {
            continue;
        }
        let d = distance(&lower, &c.to_ascii_lowercase());
        if d <= limit {
            found.push((d, i, c));
        }
    }
    found.sort();
    let best = found.first().map(|f| f.0).unwrap_or(0);
    found
        .into_iter()
        .filter(|f| f.0 == best)
        .take(max)
        .map(|f| f.2)
        .collect()
}

/// "; did you mean `a`?" / "; did you mean `a` or `b`?" or nothing.
pub fn did_you_mean(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [a] => format!("; did you mean `{a}`?"),
        [rest @ .., last] => {
            let head: Vec<String> = rest.iter().map(|n| format!("`{n}`")).collect();
            format!("; did you mean {} or `{last}`?", head.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("exa", "eax"), 1);
        assert_eq!(distance("movx", "movzx"), 1);
        assert_eq!(distance("movx", "movl"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(nearest("exa", ["eax", "ecx", "esp"], 3), vec!["eax"]);
        assert_eq!(did_you_mean(&["a"]), "; did you mean `a`?");
        assert_eq!(
            did_you_mean(&["a", "b", "c"]),
            "; did you mean `a`, `b` or `c`?"
        );
        assert!(nearest("completely", ["eax"], 3).is_empty());
        let long = "a".repeat(MAX_SUGGESTED_LEN + 1);
        assert!(nearest(&long, [&long[1..]], 3).is_empty());
        let ok = "a".repeat(MAX_SUGGESTED_LEN);
        assert_eq!(nearest(&ok, [&ok[1..]], 3), vec![&ok[1..]]);
    }

    #[test]
    fn display() {
        let e = Pos {
            section: 0,
            line: 3,
            col: 7,
        }
        .error("oops");
        assert_eq!(e.to_string(), "line 3, column 7: oops");
    }
}
