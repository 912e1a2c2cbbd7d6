//! Source text to statements to tokens.
//!
//! Comments (`#` to end of line, `/* ... */` across lines, and a `/` opening a line, as in
//! GNU as for x86 ELF) are blanked out so that columns stay those of the original text.
//! Lines split into statements at `;` outside strings and character constants.

/// One source line with its comments blanked out.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number.
    pub no: usize,
    pub text: Vec<char>,
}

/// A statement: its first column (1-based) and its characters.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub col: usize,
    pub text: Vec<char>,
}

/// Split source text into lines without comments. An unterminated `/*` is reported as
/// (line, column) of its start.
pub fn clean_lines(src: &str) -> Result<Vec<Line>, (usize, usize)> {
    let mut out = Vec::new();
    let mut in_block: Option<(usize, usize)> = None;
    for (i, raw) in src.split('\n').enumerate() {
        let no = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let chars: Vec<char> = raw.chars().collect();
        let mut text = Vec::with_capacity(chars.len());
        let mut j = 0;
        // A '/' opening a line (not "/*") makes the line a comment.
        if in_block.is_none() {
            let first = chars.iter().position(|c| !c.is_whitespace());
            if let Some(f) = first {
                if chars[f] == '/' && chars.get(f + 1) != Some(&'*') {
                    out.push(Line {
                        no,
                        text: Vec::new(),
                    });
                    continue;
                }
            }
        }
        while j < chars.len() {
            let c = chars[j];
            if in_block.is_some() {
                if c == '*' && chars.get(j + 1) == Some(&'/') {
                    in_block = None;
                    text.push(' ');
                    text.push(' ');
                    j += 2;
                } else {
                    text.push(' ');
                    j += 1;
                }
                continue;
            }
            match c {
                '"' => {
                    text.push(c);
                    j += 1;
                    while j < chars.len() {
                        let d = chars[j];
                        text.push(d);
                        j += 1;
                        if d == '\\' {
                            if let Some(&e) = chars.get(j) {
                                text.push(e);
                                j += 1;
                            }
                        } else if d == '"' {
                            break;
                        }
                    }
                }
                '\'' => {
                    let n = char_literal_len(&chars[j..]);
                    text.extend_from_slice(&chars[j..j + n]);
                    j += n;
                }
                '#' => break,
                '/' if chars.get(j + 1) == Some(&'*') => {
                    in_block = Some((no, j + 1));
                    text.push(' ');
                    text.push(' ');
                    j += 2;
                }
                _ => {
                    text.push(c);
                    j += 1;
                }
            }
        }
        out.push(Line { no, text });
    }
    match in_block {
        Some(p) => Err(p),
        None => Ok(out),
    }
}

/// Length in chars of a character constant starting at `s[0] == '\''`:
/// `'c`, `'c'`, `'\n'`, `'\012'`, `'\x41'`.
fn char_literal_len(s: &[char]) -> usize {
    let mut n = match s.get(1) {
        None => return 1,
        Some('\\') => 3.min(s.len()),
        Some(_) => 2,
    };
    if s.get(1) == Some(&'\\') {
        let digit: fn(&char) -> bool = match s.get(2) {
            Some('x') | Some('X') => |c| c.is_ascii_hexdigit(),
            Some(c) if c.is_digit(8) => |c| c.is_digit(8),
            _ => |_| false,
        };
        while n < s.len() && n < 5 && digit(&s[n]) {
            n += 1;
        }
    }
    if s.get(n) == Some(&'\'') {
        n += 1;
    }
    n
}

/// Split a cleaned line into statements at `;`.
pub fn split_statements(line: &[char]) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut j = 0;
    while j < line.len() {
        match line[j] {
            '"' => {
                j += 1;
                while j < line.len() && line[j] != '"' {
                    if line[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                j += 1;
            }
            '\'' => j += char_literal_len(&line[j..]),
            ';' => {
                out.push(Stmt {
                    col: start + 1,
                    text: line[start..j].to_vec(),
                });
                j += 1;
                start = j;
            }
            _ => j += 1,
        }
    }
    out.push(Stmt {
        col: start + 1,
        text: line[start.min(line.len())..].to_vec(),
    });
    out
}

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A symbol, directive or mnemonic name.
    Ident(String),
    Num(u64),
    /// `1b` / `1f`: numeric local label reference (number, forward).
    NumRef(u64, bool),
    Str(Vec<u8>),
    /// `%name`, name lower-cased.
    Reg(String),
    /// One- or two-character punctuation/operator.
    Punct(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    /// 1-based column in the line.
    pub col: usize,
    /// Column just past the token.
    pub end: usize,
}

pub fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

const PUNCT2: [&str; 9] = ["<<", ">>", "<=", ">=", "==", "!=", "<>", "&&", "||"];
const PUNCT1: [&str; 19] = [
    "(", ")", ",", "$", "*", ":", "+", "-", "~", "!", "/", "%", "&", "|", "^", "<", ">", "=", "@",
];

/// Tokenize statement text whose first char is at column `col0`.
pub fn tokenize(s: &[char], col0: usize) -> Result<Vec<Token>, (usize, String)> {
    let mut out = Vec::new();
    let mut j = 0;
    while j < s.len() {
        let c = s[j];
        let col = col0 + j;
        if c.is_whitespace() {
            j += 1;
            continue;
        }
        let start = j;
        let tok = if is_ident_start(c) {
            while j < s.len() && is_ident_char(s[j]) {
                j += 1;
            }
            Tok::Ident(s[start..j].iter().collect())
        } else if c.is_ascii_digit() {
            let (t, n) = number(&s[j..]).map_err(|m| (col, m))?;
            j += n;
            t
        } else if c == '%' && s.get(j + 1).is_some_and(|&d| is_ident_start(d)) {
            j += 1;
            while j < s.len() && is_ident_char(s[j]) {
                j += 1;
            }
            Tok::Reg(
                s[start + 1..j]
                    .iter()
                    .collect::<String>()
                    .to_ascii_lowercase(),
            )
        } else if c == '"' {
            let (bytes, n) = string(&s[j..]).map_err(|(o, m)| (col + o, m))?;
            j += n;
            Tok::Str(bytes)
        } else if c == '\'' {
            let n = char_literal_len(&s[j..]);
            let body: &[char] = &s[j + 1..j + n];
            let body = body.strip_suffix(&['\'']).unwrap_or(body);
            let v = match body {
                [] => return Err((col, "empty character constant".into())),
                ['\\', rest @ ..] => escape(rest).map(|(v, _)| v).unwrap_or(b'\\'),
                [ch, ..] => {
                    let v = *ch as u32;
                    if v > 0xff {
                        return Err((col, format!("character `{ch}` is not a single byte")));
                    }
                    v as u8
                }
            };
            j += n;
            Tok::Num(v as u64)
        } else {
            let rest: String = s[j..(j + 2).min(s.len())].iter().collect();
            if let Some(p) = PUNCT2.iter().find(|p| rest.starts_with(**p)) {
                j += 2;
                Tok::Punct(p)
            } else if let Some(p) = PUNCT1.iter().find(|p| rest.starts_with(**p)) {
                j += 1;
                Tok::Punct(p)
            } else if c == '\\' {
                return Err((
                    col,
                    "`\\` outside a macro body (macro arguments are written `\\name` inside .macro)"
                        .into(),
                ));
            } else {
                return Err((col, format!("unexpected character `{c}`")));
            }
        };
        out.push(Token {
            tok,
            col,
            end: col0 + j,
        });
    }
    Ok(out)
}

/// A number or numeric label reference at the start of `s`; returns it and its length.
fn number(s: &[char]) -> Result<(Tok, usize), String> {
    let mut n = 0;
    while n < s.len() && is_ident_char(s[n]) && s[n] != '.' {
        n += 1;
    }
    let word: String = s[..n].iter().collect();
    let lower = word.to_ascii_lowercase();
    let bad = || format!("bad number `{word}`");
    let parse = |digits: &str, radix: u32| -> Result<u64, String> {
        if digits.is_empty() {
            return Err(bad());
        }
        u64::from_str_radix(digits, radix).map_err(|e| {
            if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) {
                format!("number `{word}` does not fit in 64 bits")
            } else {
                bad()
            }
        })
    };
    if let Some(h) = lower.strip_prefix("0x") {
        return Ok((Tok::Num(parse(h, 16)?), n));
    }
    if let Some(b) = lower.strip_prefix("0b") {
        if !b.is_empty() {
            return Ok((Tok::Num(parse(b, 2)?), n));
        }
    }
    if let Some(d) = lower.strip_suffix('b').or_else(|| lower.strip_suffix('f')) {
        if !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()) {
            let fwd = lower.ends_with('f');
            return Ok((Tok::NumRef(parse(d, 10)?, fwd), n));
        }
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return Ok((Tok::Num(parse(&lower[1..], 8)?), n));
    }
    Ok((Tok::Num(parse(&lower, 10)?), n))
}

/// An escape after a backslash: returns the byte and the number of chars used.
fn escape(s: &[char]) -> Option<(u8, usize)> {
    let c = *s.first()?;
    Some(match c {
        'n' => (b'\n', 1),
        't' => (b'\t', 1),
        'r' => (b'\r', 1),
        'b' => (8, 1),
        'f' => (12, 1),
        'v' => (11, 1),
        'a' => (7, 1),
        'e' => (27, 1),
        'x' | 'X' => {
            let mut v: u32 = 0;
            let mut k = 1;
            while k < s.len() && s[k].is_ascii_hexdigit() {
                v = (v * 16 + s[k].to_digit(16).unwrap_or(0)) & 0xff;
                k += 1;
            }
            (v as u8, k)
        }
        '0'..='7' => {
            let mut v: u32 = 0;
            let mut k = 0;
            while k < s.len() && k < 3 && s[k].is_digit(8) {
                v = v * 8 + s[k].to_digit(8).unwrap_or(0);
                k += 1;
            }
            ((v & 0xff) as u8, k)
        }
        other => {
            let v = other as u32;
            (if v > 0xff { b'?' } else { v as u8 }, 1)
        }
    })
}

/// A string constant at `s[0] == '"'`: its bytes and length in chars.
fn string(s: &[char]) -> Result<(Vec<u8>, usize), (usize, String)> {
    let mut out = Vec::new();
    let mut j = 1;
    loop {
        match s.get(j) {
            None => return Err((0, "unterminated string".into())),
            Some('"') => return Ok((out, j + 1)),
            Some('\\') => match escape(&s[j + 1..]) {
                Some((b, n)) => {
                    out.push(b);
                    j += 1 + n;
                }
                None => return Err((0, "unterminated string".into())),
            },
            Some(&c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let v: Vec<char> = s.chars().collect();
        tokenize(&v, 1)
            .expect("tokens")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn comments_keep_columns() {
        let l = clean_lines("movl %eax, %ebx # c\n/* a\n b */ nop /* x */ ret\n/ c\n").expect("ok");
        let s: String = l[0].text.iter().collect();
        assert_eq!(s, "movl %eax, %ebx ");
        let s: String = l[2].text.iter().collect();
        assert_eq!(s, "      nop         ret");
        assert!(l[3].text.is_empty());
        assert_eq!(clean_lines("nop /* open\n").unwrap_err(), (1, 5));
    }

    #[test]
    fn statements() {
        let line: Vec<char> = "rep; movsb ; .ascii \";\" ; movb $';', %al"
            .chars()
            .collect();
        let st = split_statements(&line);
        assert_eq!(st.len(), 4);
        assert_eq!(st[1].col, 5);
        let s: String = st[3].text.iter().collect();
        assert_eq!(s, " movb $';', %al");
    }

    #[test]
    fn numbers() {
        assert_eq!(
            toks("0x1F 010 0b101 12"),
            vec![Tok::Num(31), Tok::Num(8), Tok::Num(5), Tok::Num(12)]
        );
        assert_eq!(
            toks("1f 2b 0b"),
            vec![
                Tok::NumRef(1, true),
                Tok::NumRef(2, false),
                Tok::NumRef(0, false)
            ]
        );
        assert_eq!(
            toks("'a' 'b '\\n'"),
            vec![Tok::Num(97), Tok::Num(98), Tok::Num(10)]
        );
        assert_eq!(
            toks("%EAX a<<b"),
            vec![
                Tok::Reg("eax".into()),
                Tok::Ident("a".into()),
                Tok::Punct("<<"),
                Tok::Ident("b".into())
            ]
        );
        let v: Vec<char> = "08".chars().collect();
        assert!(tokenize(&v, 1).is_err());
        let v: Vec<char> = "\"abc".chars().collect();
        assert_eq!(tokenize(&v, 3).unwrap_err().0, 3);
    }
}
