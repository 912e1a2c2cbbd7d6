//! Macros (`.macro`/`.endm` with `\arg` substitution) and `.rept`/`.endr`.
//!
//! Expansions nest at most [`MAX_DEPTH`] deep, there are at most [`MAX_EXPANSIONS`] of
//! them, and together they produce at most [`MAX_EXPANDED_CHARS`] characters, so that
//! a macro calling itself or two macros doubling their argument stop with a message.

/// The deepest nesting of macro and `.rept` expansions.
pub const MAX_DEPTH: usize = 40;
/// The most macro and `.rept` expansions in one assembly.
pub const MAX_EXPANSIONS: u32 = 100_000;
/// The most characters all expansions of one assembly may produce together.
pub const MAX_EXPANDED_CHARS: usize = 4_000_000;

use std::rc::Rc;

use super::directives::DIRECTIVES;
use super::error::{AsmError, Pos};
use super::expr::describe;
use super::lexer::{split_statements, Tok, Token};
use super::parse::{Frame, Reader};

pub(super) struct Macro {
    pub(super) params: Vec<Param>,
    pub(super) body: Rc<Vec<Vec<char>>>,
    pub(super) line: usize,
}

pub(super) struct Param {
    pub(super) name: String,
    pub(super) default: Option<String>,
    pub(super) required: bool,
    pub(super) vararg: bool,
}

pub(super) enum Collect {
    Macro {
        name: String,
        params: Vec<Param>,
        body: Vec<Vec<char>>,
        depth: u32,
        pos: Pos,
    },
    Rept {
        count: u64,
        body: Vec<Vec<char>>,
        depth: u32,
        pos: Pos,
    },
}

impl Reader {
    pub(super) fn begin_macro(
        &mut self,
        toks: &[Token],
        _text: &[char],
        pos: Pos,
    ) -> Result<(), AsmError> {
        let d = &toks[0];
        let Some(Token {
            tok: Tok::Ident(name),
            col,
            ..
        }) = toks.get(1)
        else {
            return Err(self.err(pos, d.end, "`.macro` needs a name"));
        };
        if name.starts_with('.') && DIRECTIVES.contains(&name.as_str()) {
            return Err(self.err(
                pos,
                *col,
                format!("`{name}` is a directive and cannot be a macro name"),
            ));
        }
        let mut params = Vec::new();
        let mut i = 2;
        while i < toks.len() {
            match &toks[i].tok {
                Tok::Punct(",") => i += 1,
                Tok::Ident(p) => {
                    let mut prm = Param {
                        name: p.clone(),
                        default: None,
                        required: false,
                        vararg: false,
                    };
                    i += 1;
                    if let Some(Token {
                        tok: Tok::Punct(":"),
                        ..
                    }) = toks.get(i)
                    {
                        match toks.get(i + 1).map(|t| &t.tok) {
                            Some(Tok::Ident(q)) if q == "req" => prm.required = true,
                            Some(Tok::Ident(q)) if q == "vararg" => prm.vararg = true,
                            _ => {
                                return Err(self.err(
                                    pos,
                                    toks[i].col,
                                    "expected `:req` or `:vararg`",
                                ))
                            }
                        }
                        i += 2;
                    }
                    if let Some(Token {
                        tok: Tok::Punct("="),
                        end,
                        ..
                    }) = toks.get(i)
                    {
                        // Default: the raw text up to the next comma or parameter.
                        let start = *end;
                        let mut j = i + 1;
                        while j < toks.len() && !matches!(toks[j].tok, Tok::Punct(",")) {
                            j += 1;
                        }
                        let stop = if j < toks.len() {
                            toks[j].col
                        } else {
                            toks.last().map(|t| t.end).unwrap_or(start)
                        };
                        let s: String = _text
                            .get(start - pos.col..(stop - pos.col).min(_text.len()))
                            .map(|c| c.iter().collect())
                            .unwrap_or_default();
                        prm.default = Some(s.trim().to_string());
                        i = j;
                    }
                    if params.iter().any(|q: &Param| q.name == prm.name) {
                        return Err(self.err(
                            pos,
                            toks[i.min(toks.len() - 1)].col,
                            format!("parameter `{}` appears twice", prm.name),
                        ));
                    }
                    params.push(prm);
                }
                other => {
                    return Err(self.err(
                        pos,
                        toks[i].col,
                        format!("expected a parameter name, found {}", describe(other)),
                    ))
                }
            }
        }
        self.collect = Some(Collect::Macro {
            name: name.clone(),
            params,
            body: Vec::new(),
            depth: 0,
            pos: self.item_pos(pos, d.col),
        });
        Ok(())
    }

    pub(super) fn collect_line(&mut self, text: &[char], pos: Pos) -> Result<(), AsmError> {
        let word: String = {
            let s: String = text.iter().collect();
            let t = s.trim_start();
            // Skip labels before a directive: "x: .endm" is unusual; take the first word.
            t.split(|c: char| c.is_whitespace() || c == ',')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let Some(c) = self.collect.as_mut() else {
            return Ok(());
        };
        let (opens, closes, depth, body) = match c {
            Collect::Macro { depth, body, .. } => (".macro", ".endm", depth, body),
            Collect::Rept { depth, body, .. } => (".rept", ".endr", depth, body),
        };
        let is_open = word == opens || (opens == ".rept" && (word == ".irp" || word == ".irpc"));
        if is_open {
            *depth += 1;
        } else if word == closes {
            if *depth == 0 {
                let c = self.collect.take();
                return self.finish_collect(c, pos);
            }
            *depth -= 1;
        }
        body.push(text.to_vec());
        Ok(())
    }

    pub(super) fn finish_collect(&mut self, c: Option<Collect>, pos: Pos) -> Result<(), AsmError> {
        match c {
            Some(Collect::Macro {
                name,
                params,
                body,
                pos: at,
                ..
            }) => {
                if let Some(m) = self.macros.get(&name) {
                    return Err(at.error(format!(
                        "macro `{name}` is already defined at line {} (use `.purgem {name}` first)",
                        m.line
                    )));
                }
                self.macros.insert(
                    name,
                    Macro {
                        line: at.line,
                        params,
                        body: Rc::new(body),
                    },
                );
                Ok(())
            }
            Some(Collect::Rept {
                count,
                body,
                pos: at,
                ..
            }) => {
                let body = Rc::new(body);
                let size: usize = body.iter().map(Vec::len).sum();
                for _ in 0..count {
                    self.charge(size, "`.rept`", pos)?;
                    self.run_body(&body, "`.rept`".into(), at, pos)?;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) fn run_body(
        &mut self,
        body: &Rc<Vec<Vec<char>>>,
        what: String,
        at: Pos,
        pos: Pos,
    ) -> Result<(), AsmError> {
        if self.frames.len() >= MAX_DEPTH {
            let msg = if what.starts_with("macro") && self.frames.iter().any(|f| f.what == what) {
                format!("{what} expands itself recursively (depth limit {MAX_DEPTH})")
            } else {
                format!("macros and `.rept` nested more than {MAX_DEPTH} deep (innermost: {what})")
            };
            return Err(self.first_call(pos).error(msg));
        }
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS {
            return Err(self.first_call(pos).error(format!(
                "more than {MAX_EXPANSIONS} macro and `.rept` expansions"
            )));
        }
        self.frames.push(Frame { what, pos: at });
        let saved = std::mem::take(&mut self.stmt_text);
        let mut r = Ok(());
        for line in body.iter() {
            for st in split_statements(line) {
                let p = Pos { col: st.col, ..pos };
                r = self.statement(&st.text, p);
                if r.is_err() || self.ended {
                    break;
                }
            }
            if r.is_err() || self.ended {
                break;
            }
        }
        self.frames.pop();
        self.stmt_text = saved;
        r?;
        if self.collect.is_some() {
            return Err(self.err(
                pos,
                pos.col,
                "a `.macro` or `.rept` inside an expansion is never closed",
            ));
        }
        Ok(())
    }

    /// Where the outermost expansion was called (else `pos`).
    fn first_call(&self, pos: Pos) -> Pos {
        self.frames.first().map_or(pos, |f| f.pos)
    }

    /// Count `n` more expanded characters, refusing to pass [`MAX_EXPANDED_CHARS`].
    fn charge(&mut self, n: usize, what: &str, pos: Pos) -> Result<(), AsmError> {
        self.expanded_chars = self.expanded_chars.saturating_add(n);
        if self.expanded_chars > MAX_EXPANDED_CHARS {
            return Err(self.too_much(what, pos));
        }
        Ok(())
    }

    fn too_much(&self, what: &str, pos: Pos) -> AsmError {
        self.first_call(pos).error(format!(
            "macro expansions produce more than {MAX_EXPANDED_CHARS} characters (reached in {what})"
        ))
    }

    pub(super) fn expand_macro(
        &mut self,
        name: &str,
        text: &[char],
        first: &Token,
        pos: Pos,
    ) -> Result<(), AsmError> {
        let (params, body) = match self.macros.get(name) {
            Some(m) => (
                m.params
                    .iter()
                    .map(|p| (p.name.clone(), p.default.clone(), p.required, p.vararg))
                    .collect::<Vec<_>>(),
                Rc::clone(&m.body),
            ),
            None => return Ok(()),
        };
        let start = first.end - pos.col;
        let rest: Vec<char> = text.get(start..).map(|s| s.to_vec()).unwrap_or_default();
        let mut args = split_args(&rest, params.len());
        let mut values: Vec<Option<String>> = vec![None; params.len()];
        let mut positional = 0;
        let mut extra: Vec<String> = Vec::new();
        for a in args.drain(..) {
            let t = a.trim();
            if let Some((k, v)) = t.split_once('=') {
                let k = k.trim();
                if let Some(i) = params.iter().position(|p| p.0 == k) {
                    values[i] = Some(v.trim().to_string());
                    continue;
                }
            }
            if positional < params.len() {
                if params[positional].3 {
                    extra.push(t.to_string());
                    continue;
                }
                values[positional] = Some(t.to_string());
                positional += 1;
            } else if params.last().is_some_and(|p| p.3) {
                extra.push(t.to_string());
            } else if !t.is_empty() {
                return Err(self.err(
                    pos,
                    first.col,
                    format!(
                        "macro `{name}` takes {} argument{}, got more",
                        params.len(),
                        if params.len() == 1 { "" } else { "s" }
                    ),
                ));
            }
        }
        if let Some(i) = params.iter().position(|p| p.3) {
            if !extra.is_empty() {
                let mut all: Vec<String> = values[i].take().into_iter().collect();
                all.extend(extra);
                values[i] = Some(all.join(", "));
            }
        }
        for (i, p) in params.iter().enumerate() {
            if values[i].as_deref().is_none_or(|v| v.is_empty()) {
                if p.2 {
                    return Err(self.err(
                        pos,
                        first.col,
                        format!("macro `{name}` needs a value for `{}`", p.0),
                    ));
                }
                values[i] = Some(p.1.clone().unwrap_or_default());
            }
        }
        // `\@`: the number of macro expansions so far (not counting `.rept`), as in GNU as.
        let n = self.macro_count;
        self.macro_count += 1;
        let what = format!("macro `{name}`");
        let mut expanded: Vec<Vec<char>> = Vec::with_capacity(body.len());
        for line in body.iter() {
            let room = MAX_EXPANDED_CHARS.saturating_sub(self.expanded_chars);
            let Some(line) = substitute(line, &params, &values, n, room) else {
                return Err(self.too_much(&what, pos));
            };
            self.charge(line.len(), &what, pos)?;
            expanded.push(line);
        }
        let at = self.item_pos(pos, first.col);
        self.run_body(&Rc::new(expanded), what, at, pos)
    }
}

/// Split macro arguments at top-level commas; a single argument with spaces is split at
/// spaces when the macro takes several parameters (as GNU as does).
fn split_args(s: &[char], nparams: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quote = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if quote {
            cur.push(c);
            if c == '\\' && i + 1 < s.len() {
                cur.push(s[i + 1]);
                i += 1;
            } else if c == '"' {
                quote = false;
            }
        } else {
            match c {
                '"' => {
                    quote = true;
                    cur.push(c);
                }
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        i += 1;
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur);
    }
    if out.len() == 1 && nparams > 1 {
        let parts: Vec<String> = out[0].split_whitespace().map(|s| s.to_string()).collect();
        if parts.len() > 1 {
            return parts;
        }
    }
    out
}

/// Replace `\param`, `\()` and `\@` in a macro body line; None if the result would be
/// longer than `room` characters.
fn substitute(
    line: &[char],
    params: &[(String, Option<String>, bool, bool)],
    values: &[Option<String>],
    n: u32,
    room: usize,
) -> Option<Vec<char>> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == '\\' {
            if line.get(i + 1) == Some(&'@') {
                out.extend(n.to_string().chars());
                i += 2;
                continue;
            }
            if line.get(i + 1) == Some(&'(') && line.get(i + 2) == Some(&')') {
                i += 3;
                continue;
            }
            let mut j = i + 1;
            while j < line.len()
                && (line[j].is_ascii_alphanumeric()
                    || line[j] == '_'
                    || line[j] == '.'
                    || line[j] == '$')
            {
                j += 1;
            }
            let word: String = line[i + 1..j].iter().collect();
            if let Some(k) = params.iter().position(|p| p.0 == word) {
                let value = values[k].as_deref().unwrap_or("");
                if out.len() + value.len() > room {
                    return None;
                }
                out.extend(value.chars());
                i = j;
                continue;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    (out.len() <= room).then_some(out)
}
