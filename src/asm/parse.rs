//! Reading the sections: statements, labels, directives, macros and instructions, into
//! items with their encodings chosen.

use std::collections::HashMap;
use std::rc::Rc;

use super::error::{did_you_mean, nearest, AsmError, Pos};
use super::expr::{describe, eval, parse_expr, EvalErr, Expr, Term};
use super::lexer::{clean_lines, split_statements, tokenize, Tok, Token};
use super::operand::{parse_operand, split_commas, Operand};
use super::select::{
    known_mnemonic, prefix_byte, select, unknown_mnemonic, Choice, Prefix, Request, Selected,
};
use super::symbols::{EarlyEnv, SetDef, SymDef, Symbols};
use super::SourceSection;

#[derive(Debug, Clone)]
pub enum ItemKind {
    Label(u32),
    /// Where a `.set` of this symbol was made (its `.`).
    SetPoint(u32),
    Insn(Choice),
    Relax {
        short: Choice,
        long: Choice,
        target: Expr,
    },
    Data {
        width: u8,
        vals: Vec<Expr>,
    },
    Bytes {
        bytes: Vec<u8>,
        code: bool,
    },
    Fill {
        count: Expr,
        size: u8,
        value: Expr,
    },
    Org {
        target: Expr,
        fill: Expr,
    },
    Align {
        align: u64,
        fill: Option<u8>,
        max: Option<u64>,
    },
}

#[derive(Debug, Clone)]
pub struct Item {
    pub kind: ItemKind,
    pub pos: Pos,
    pub seq: u32,
    pub bits: u32,
}

#[derive(Debug, Clone)]
pub struct Sec {
    pub base: u64,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub secs: Vec<Sec>,
    pub syms: Symbols,
    /// `.code32`/`.code64` given to `layout` (selects GNU as's NOP patterns).
    pub bits: u32,
}

struct Macro {
    params: Vec<Param>,
    body: Rc<Vec<Vec<char>>>,
    line: usize,
}

struct Param {
    name: String,
    default: Option<String>,
    required: bool,
    vararg: bool,
}

enum Collect {
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

/// An expansion being processed: where it was invoked and what it is.
struct Frame {
    what: String,
    pos: Pos,
}

struct Reader {
    prog: Program,
    sec: usize,
    bits: u32,
    seq: u32,
    frag: u32,
    off: u64,
    macros: HashMap<String, Macro>,
    collect: Option<Collect>,
    frames: Vec<Frame>,
    /// Current statement text inside an expansion, for messages.
    stmt_text: String,
    num_counts: HashMap<u64, u32>,
    forward: Vec<(u64, u32, String, Pos)>,
    expansions: u32,
    macro_count: u32,
    ended: bool,
}

const DIRECTIVES: [&str; 51] = [
    ".set",
    ".equ",
    ".equiv",
    ".byte",
    ".word",
    ".short",
    ".hword",
    ".value",
    ".2byte",
    ".long",
    ".int",
    ".4byte",
    ".quad",
    ".8byte",
    ".ascii",
    ".asciz",
    ".string",
    ".space",
    ".skip",
    ".zero",
    ".fill",
    ".align",
    ".balign",
    ".p2align",
    ".org",
    ".code32",
    ".code64",
    ".text",
    ".globl",
    ".global",
    ".type",
    ".size",
    ".section",
    ".file",
    ".ident",
    ".local",
    ".hidden",
    ".protected",
    ".internal",
    ".weak",
    ".att_syntax",
    ".end",
    ".macro",
    ".endm",
    ".rept",
    ".endr",
    ".purgem",
    ".exitm",
    ".data",
    ".bss",
    ".intel_syntax",
];

pub fn read(sections: &[SourceSection], bits: u32) -> Result<Program, AsmError> {
    if bits != 32 && bits != 64 {
        return Err(Pos {
            section: 0,
            line: 1,
            col: 1,
        }
        .error(format!("bits must be 32 or 64, not {bits}")));
    }
    let mut r = Reader {
        prog: Program {
            secs: Vec::new(),
            syms: Symbols::default(),
            bits,
        },
        sec: 0,
        bits,
        seq: 0,
        frag: 0,
        off: 0,
        macros: HashMap::new(),
        collect: None,
        frames: Vec::new(),
        stmt_text: String::new(),
        num_counts: HashMap::new(),
        forward: Vec::new(),
        expansions: 0,
        macro_count: 0,
        ended: false,
    };
    for (i, s) in sections.iter().enumerate() {
        r.prog.secs.push(Sec {
            base: s.base,
            items: Vec::new(),
        });
        r.section(i, s.text)?;
    }
    Ok(r.prog)
}

impl Reader {
    fn section(&mut self, sec: usize, text: &str) -> Result<(), AsmError> {
        self.sec = sec;
        self.frag += 1;
        self.off = 0;
        self.num_counts.clear();
        self.forward.clear();
        self.ended = false;
        self.collect = None;
        // Each section starts in the mode given to `layout`, like a separate as run.
        self.bits = self.prog.bits;
        let lines = clean_lines(text).map_err(|(line, col)| {
            Pos {
                section: sec,
                line,
                col,
            }
            .error("unterminated `/*` comment")
        })?;
        for l in &lines {
            for st in split_statements(&l.text) {
                if self.ended {
                    break;
                }
                let pos = Pos {
                    section: sec,
                    line: l.no,
                    col: st.col,
                };
                self.statement(&st.text, pos)?;
            }
        }
        if let Some(c) = &self.collect {
            let (what, pos) = match c {
                Collect::Macro { name, pos, .. } => (format!("`.macro {name}`"), *pos),
                Collect::Rept { pos, .. } => ("`.rept`".to_string(), *pos),
            };
            return Err(pos.error(format!("{what} is never closed (missing `.endm`/`.endr`)")));
        }
        if let Some((n, _, _, pos)) = self
            .forward
            .iter()
            .find(|(n, k, _, _)| self.num_counts.get(n).copied().unwrap_or(0) < *k)
        {
            return Err(pos.error(format!("no `{n}:` label after this `{n}f`")));
        }
        Ok(())
    }

    /// An error at a column of the current statement (or at the macro invocation).
    fn err(&self, pos: Pos, col: usize, msg: impl Into<String>) -> AsmError {
        let msg = msg.into();
        match self.frames.first() {
            None => pos.at_col(col).error(msg),
            Some(f) => {
                let chain: Vec<&str> = self.frames.iter().map(|f| f.what.as_str()).collect();
                f.pos.error(format!(
                    "{msg} (in `{}`, from {})",
                    self.stmt_text.trim(),
                    chain.join(" in ")
                ))
            }
        }
    }

    fn perr(&self, pos: Pos, e: (usize, String)) -> AsmError {
        self.err(pos, e.0, e.1)
    }

    /// Position recorded for items: the outermost macro invocation, if any.
    fn item_pos(&self, pos: Pos, col: usize) -> Pos {
        match self.frames.first() {
            Some(f) => f.pos,
            None => pos.at_col(col),
        }
    }

    fn statement(&mut self, text: &[char], pos: Pos) -> Result<(), AsmError> {
        if self.collect.is_some() {
            return self.collect_line(text, pos);
        }
        if !self.frames.is_empty() {
            self.stmt_text = text.iter().collect();
        }
        let toks = tokenize(text, pos.col).map_err(|e| self.perr(pos, e))?;
        let mut toks: &[Token] = &toks;
        // Labels.
        loop {
            match toks {
                [Token {
                    tok: Tok::Ident(name),
                    col,
                    ..
                }, Token {
                    tok: Tok::Punct(":"),
                    ..
                }, rest @ ..] => {
                    let name = name.clone();
                    self.label(&name, pos, *col)?;
                    toks = rest;
                }
                [Token {
                    tok: Tok::Num(n),
                    col,
                    ..
                }, Token {
                    tok: Tok::Punct(":"),
                    ..
                }, rest @ ..] => {
                    let k = self.num_counts.entry(*n).or_insert(0);
                    *k += 1;
                    let name = num_name(*n, self.sec, *k);
                    self.label(&name, pos, *col)?;
                    toks = rest;
                }
                _ => break,
            }
        }
        let Some(first) = toks.first() else {
            return Ok(());
        };
        self.seq += 1;
        match &first.tok {
            Tok::Ident(name) => {
                let name = name.clone();
                if let Some(Token {
                    tok: Tok::Punct("="),
                    ..
                }) = toks.get(1)
                {
                    return self.set(&name, first.col, &toks[2..], toks[1].end, pos, false);
                }
                if self.macros.contains_key(&name) {
                    return self.expand_macro(&name, text, first, pos);
                }
                if name.starts_with('.') {
                    return self.directive(&name.to_ascii_lowercase(), toks, text, pos);
                }
                self.instruction(toks, text, pos)
            }
            other => Err(self.err(
                pos,
                first.col,
                format!(
                    "expected an instruction, directive or label, found {}",
                    describe(other)
                ),
            )),
        }
    }

    fn label(&mut self, name: &str, pos: Pos, col: usize) -> Result<(), AsmError> {
        let id = self.prog.syms.id(name);
        let p = self.item_pos(pos, col);
        let shown = shown_name(name);
        match &self.prog.syms.sym(id).def {
            SymDef::None => {}
            SymDef::Label { pos: prev, .. } => {
                let where_ = if prev.section == pos.section {
                    format!("line {}", prev.line)
                } else {
                    format!("line {} of section {}", prev.line, prev.section)
                };
                return Err(self.err(
                    pos,
                    col,
                    format!("label `{shown}` is already defined at {where_}"),
                ));
            }
            SymDef::Set(d) => {
                let line = d.first().map(|d| d.pos.line).unwrap_or(0);
                return Err(self.err(
                    pos,
                    col,
                    format!("`{shown}` is already defined as a constant at line {line}"),
                ));
            }
        }
        self.push(ItemKind::Label(id), p);
        self.prog.syms.sym_mut(id).def = SymDef::Label {
            sec: self.sec,
            frag: self.frag,
            off: self.off,
            pos: p,
        };
        Ok(())
    }

    fn push(&mut self, kind: ItemKind, pos: Pos) -> usize {
        let items = &mut self.prog.secs[self.sec].items;
        items.push(Item {
            kind,
            pos,
            seq: self.seq,
            bits: self.bits,
        });
        items.len() - 1
    }

    /// Push an item of fixed size.
    fn push_sized(&mut self, kind: ItemKind, pos: Pos, size: u64) {
        self.push(kind, pos);
        self.off = self.off.wrapping_add(size);
    }

    /// Push an item whose size is known only in layout; a new frag starts after it.
    fn push_variable(&mut self, kind: ItemKind, pos: Pos) {
        self.push(kind, pos);
        self.frag += 1;
        self.off = 0;
    }

    fn early(&self) -> EarlyEnv<'_> {
        EarlyEnv {
            syms: &self.prog.syms,
            sec: self.sec,
            frag: self.frag,
            off: self.off,
        }
    }

    fn expr(&mut self, toks: &[Token], end: usize, pos: Pos) -> Result<Expr, AsmError> {
        let sec = self.sec;
        let counts = &self.num_counts;
        let mut fwd = Vec::new();
        let r = parse_expr(toks, end, &mut |n, f, c| {
            numref(counts, sec, n, f, c, &mut fwd)
        });
        let e = r.map_err(|e| self.perr(pos, e))?;
        self.note_forward(fwd, pos);
        let p = self.item_pos(pos, toks.first().map(|t| t.col).unwrap_or(end));
        self.prog.syms.note_uses(&e, p);
        Ok(e)
    }

    fn note_forward(&mut self, fwd: Vec<(u64, u32, String, usize)>, pos: Pos) {
        for (n, k, name, c) in fwd {
            let p = self.item_pos(pos, c);
            self.forward.push((n, k, name, p));
        }
    }

    fn const_expr(
        &mut self,
        toks: &[Token],
        end: usize,
        pos: Pos,
        what: &str,
    ) -> Result<i64, AsmError> {
        let e = self.expr(toks, end, pos)?;
        let col = toks.first().map(|t| t.col).unwrap_or(end);
        match self.early().value(&e).map_err(|e| self.perr(pos, e))? {
            Some(v) => Ok(v),
            None => Err(self.err(
                pos,
                col,
                format!("{what} must be a constant known at this point"),
            )),
        }
    }

    fn set(
        &mut self,
        name: &str,
        col: usize,
        rest: &[Token],
        end: usize,
        pos: Pos,
        equiv: bool,
    ) -> Result<(), AsmError> {
        if name == "." {
            return Err(self.err(pos, col, "use `.org` to move the location counter"));
        }
        let e = self.expr(rest, end, pos)?;
        let id = self.prog.syms.id(name);
        let shown = shown_name(name);
        match &self.prog.syms.sym(id).def {
            SymDef::Label { pos: prev, .. } => {
                return Err(self.err(
                    pos,
                    col,
                    format!("`{shown}` is already a label (line {})", prev.line),
                ))
            }
            SymDef::Set(_) if equiv => {
                return Err(self.err(
                    pos,
                    col,
                    format!("`{shown}` is already defined (.equiv does not redefine)"),
                ))
            }
            _ => {}
        }
        let early = match eval(&e, &self.early()) {
            Ok(l) => Some(l),
            Err(EvalErr::Unknown) => None,
            Err(EvalErr::Error(c, m)) => return Err(self.err(pos, c, m)),
        };
        // `.` in a definition means this place: pin it with a hidden label.
        let early = match early {
            Some(mut l) if l.terms.iter().any(|t| t.0 == Term::Dot) => {
                let hidden = format!("\u{2}dot{}", self.seq);
                let p = self.item_pos(pos, col);
                let hid = self.prog.syms.id(&hidden);
                self.push(ItemKind::Label(hid), p);
                self.prog.syms.sym_mut(hid).def = SymDef::Label {
                    sec: self.sec,
                    frag: self.frag,
                    off: self.off,
                    pos: p,
                };
                for t in &mut l.terms {
                    if t.0 == Term::Dot {
                        t.0 = Term::Label(hid);
                    }
                }
                Some(l)
            }
            other => other,
        };
        let p = self.item_pos(pos, col);
        let item = self.push(ItemKind::SetPoint(id), p);
        let def = SetDef {
            seq: self.seq,
            expr: e,
            early,
            sec: self.sec,
            item,
            pos: p,
        };
        match &mut self.prog.syms.sym_mut(id).def {
            SymDef::Set(v) => v.push(def),
            d => *d = SymDef::Set(vec![def]),
        }
        Ok(())
    }

    fn args<'t>(&self, toks: &'t [Token]) -> Vec<&'t [Token]> {
        if toks.len() <= 1 {
            return Vec::new();
        }
        split_commas(&toks[1..])
    }

    fn directive(
        &mut self,
        name: &str,
        toks: &[Token],
        text: &[char],
        pos: Pos,
    ) -> Result<(), AsmError> {
        let d = &toks[0];
        let args = self.args(toks);
        let p = self.item_pos(pos, d.col);
        let need = |this: &Self, n: usize, what: &str| -> Result<(), AsmError> {
            if args.len() < n || args.iter().take(n).any(|a| a.is_empty()) {
                Err(this.err(pos, d.end, format!("`{name}` needs {what}")))
            } else {
                Ok(())
            }
        };
        match name {
            ".set" | ".equ" | ".equiv" => {
                need(self, 2, "a name and a value: `.set NAME, value`")?;
                let (sym, col) = match args[0] {
                    [Token {
                        tok: Tok::Ident(s),
                        col,
                        ..
                    }] => (s.clone(), *col),
                    a => return Err(self.err(pos, a[0].col, format!("`{name}` needs a symbol name first"))),
                };
                let rest = &toks[1 + args[0].len() + 1..];
                self.set(&sym, col, rest, d.end, pos, name == ".equiv")
            }
            ".byte" | ".word" | ".short" | ".hword" | ".value" | ".2byte" | ".long" | ".int"
            | ".4byte" | ".quad" | ".8byte" => {
                let width: u8 = match name {
                    ".byte" => 1,
                    ".word" | ".short" | ".hword" | ".value" | ".2byte" => 2,
                    ".long" | ".int" | ".4byte" => 4,
                    _ => 8,
                };
                let mut vals = Vec::new();
                for a in &args {
                    if a.is_empty() {
                        return Err(self.err(pos, d.end, format!("empty value in `{name}`")));
                    }
                    let e = self.expr(a, d.end, pos)?;
                    if let Some(v) = self.early().value(&e).map_err(|e| self.perr(pos, e))? {
                        if let Some(m) = data_range(width, v) {
                            return Err(self.err(pos, a[0].col, m));
                        }
                    }
                    vals.push(e);
                }
                let n = vals.len() as u64;
                self.push_sized(ItemKind::Data { width, vals }, p, n * width as u64);
                Ok(())
            }
            ".ascii" | ".asciz" | ".string" => {
                let mut bytes = Vec::new();
                for a in &args {
                    match a {
                        [Token {
                            tok: Tok::Str(s), ..
                        }] => {
                            bytes.extend_from_slice(s);
                            if name != ".ascii" {
                                bytes.push(0);
                            }
                        }
                        [] => return Err(self.err(pos, d.end, format!("`{name}` needs a string"))),
                        a => return Err(self.err(pos, a[0].col, format!("`{name}` takes strings in double quotes"))),
                    }
                }
                if args.is_empty() {
                    return Err(self.err(pos, d.end, format!("`{name}` needs a string")));
                }
                let n = bytes.len() as u64;
                self.push_sized(ItemKind::Bytes { bytes, code: false }, p, n);
                Ok(())
            }
            ".space" | ".skip" | ".zero" | ".fill" => {
                need(self, 1, "a count")?;
                let count = self.expr(args[0], d.end, pos)?;
                let (size, value) = if name == ".fill" {
                    let size = match args.get(1) {
                        Some(a) if !a.is_empty() => self.const_expr(a, d.end, pos, "the size of `.fill`")?,
                        _ => 1,
                    };
                    if !(0..=8).contains(&size) {
                        return Err(self.err(pos, args[1][0].col, "the size of `.fill` must be 0 to 8 bytes"));
                    }
                    let value = match args.get(2) {
                        Some(a) if !a.is_empty() => self.expr(a, d.end, pos)?,
                        _ => Expr::Num(0),
                    };
                    (size as u8, value)
                } else {
                    if name == ".zero" && args.len() > 1 {
                        return Err(self.err(pos, args[1].first().map(|t| t.col).unwrap_or(d.end), "`.zero` takes only a count"));
                    }
                    let value = match args.get(1) {
                        Some(a) if !a.is_empty() => self.expr(a, d.end, pos)?,
                        _ => Expr::Num(0),
                    };
                    (1, value)
                };
                let env = self.early();
                let n = env.value(&count).map_err(|e| self.perr(pos, e))?;
                let v = env.value(&value).map_err(|e| self.perr(pos, e))?;
                if let Some(n) = n {
                    if n < 0 {
                        return Err(self.err(pos, args[0][0].col, format!("`{name}` count is negative ({n})")));
                    }
                }
                if let Some(v) = v {
                    if size == 1 {
                        if let Some(m) = data_range(1, v) {
                            return Err(self.err(pos, args[1][0].col, m));
                        }
                    }
                }
                let kind = ItemKind::Fill { count, size, value };
                match n {
                    Some(n) => {
                        let total = (n as u64).saturating_mul(size as u64);
                        if total > super::layout::MAX_FILL {
                            return Err(self.err(pos, args[0][0].col, format!("`{name}` of {total} bytes is too large")));
                        }
                        self.push_sized(kind, p, total)
                    }
                    None => self.push_variable(kind, p),
                }
                Ok(())
            }
            ".org" => {
                need(self, 1, "an offset")?;
                let target = self.expr(args[0], d.end, pos)?;
                let fill = match args.get(1) {
                    Some(a) if !a.is_empty() => self.expr(a, d.end, pos)?,
                    _ => Expr::Num(0),
                };
                self.push_variable(ItemKind::Org { target, fill }, p);
                Ok(())
            }
            ".align" | ".balign" | ".p2align" => {
                need(self, 1, "an alignment")?;
                let a = self.const_expr(args[0], d.end, pos, "the alignment")?;
                let col = args[0][0].col;
                let align = if name == ".p2align" {
                    if !(0..=30).contains(&a) {
                        return Err(self.err(pos, col, format!("alignment 2^{a} is too large")));
                    }
                    1u64 << a
                } else {
                    if !(0..=1 << 30).contains(&a) {
                        return Err(self.err(pos, col, format!("alignment {a} is out of range")));
                    }
                    if a != 0 && (a & (a - 1)) != 0 {
                        return Err(self.err(pos, col, format!("alignment {a} is not a power of 2")));
                    }
                    a.max(1) as u64
                };
                let fill = match args.get(1) {
                    Some(f) if !f.is_empty() => {
                        let v = self.const_expr(f, d.end, pos, "the fill byte")?;
                        if let Some(m) = data_range(1, v) {
                            return Err(self.err(pos, f[0].col, m));
                        }
                        Some(v as u8)
                    }
                    _ => None,
                };
                let max = match args.get(2) {
                    Some(m) if !m.is_empty() => {
                        let v = self.const_expr(m, d.end, pos, "the maximum skip")?;
                        if v < 0 {
                            return Err(self.err(pos, m[0].col, "the maximum skip must not be negative"));
                        }
                        Some(v as u64)
                    }
                    _ => None,
                };
                if args.len() > 3 {
                    return Err(self.err(pos, args[3].first().map(|t| t.col).unwrap_or(d.end), format!("`{name}` takes at most 3 arguments")));
                }
                self.push_variable(ItemKind::Align { align, fill, max }, p);
                Ok(())
            }
            ".code32" => {
                self.bits = 32;
                Ok(())
            }
            ".code64" => {
                self.bits = 64;
                Ok(())
            }
            ".code16" => Err(self.err(pos, d.col, "16-bit code (`.code16`) is not supported; use .code32 or .code64")),
            ".intel_syntax" => Err(self.err(
                pos,
                d.col,
                "`.intel_syntax` is not supported: lessons are written in AT&T syntax (`movl %esp, %ebp`), as in the Linux kernel's .S files",
            )),
            ".att_syntax" => {
                if let Some([Token {
                    tok: Tok::Ident(w),
                    col,
                    ..
                }]) = args.first()
                {
                    if w == "noprefix" {
                        return Err(self.err(
                            pos,
                            *col,
                            "`.att_syntax noprefix` is not supported; registers need their `%`",
                        ));
                    }
                }
                Ok(())
            }
            ".text" | ".file" | ".ident" | ".type" | ".size" | ".local" | ".hidden" | ".protected"
            | ".internal" | ".globl" | ".global" => Ok(()),
            ".weak" => {
                for a in &args {
                    if let [Token { tok: Tok::Ident(s), .. }] = a {
                        let id = self.prog.syms.id(s);
                        self.prog.syms.sym_mut(id).weak = true;
                    }
                }
                Ok(())
            }
            ".section" => {
                let sec_name: String = match args.first() {
                    Some(a) if !a.is_empty() => {
                        let first = a[0].col - pos.col;
                        let last = a[a.len() - 1].end - pos.col;
                        text.get(first..last.min(text.len())).map(|s| s.iter().collect()).unwrap_or_default()
                    }
                    _ => return Err(self.err(pos, d.end, "`.section` needs a name")),
                };
                let sec_name = sec_name.trim().trim_matches('"').to_string();
                if sec_name == ".text" || sec_name.starts_with(".text.") || sec_name.ends_with(".text") {
                    Ok(())
                } else {
                    Err(self.err(pos, args[0][0].col, format!(
                        "only code sections (.text) are supported here, not `{sec_name}`; the lesson places each code block at its own address"
                    )))
                }
            }
            ".data" | ".bss" => Err(self.err(pos, d.col, format!(
                "`{name}` is not supported: only code sections (.text) are assembled here"
            ))),
            d2 if d2.starts_with(".cfi_") => Ok(()),
            ".end" => {
                self.ended = true;
                Ok(())
            }
            ".macro" => self.begin_macro(toks, text, pos),
            ".endm" | ".endr" => Err(self.err(pos, d.col, format!("`{name}` without a matching `{}`", if name == ".endm" { ".macro" } else { ".rept" }))),
            ".exitm" => Err(self.err(pos, d.col, "`.exitm` is not supported")),
            ".purgem" => {
                match args.first() {
                    Some([Token { tok: Tok::Ident(m), col, .. }]) => {
                        if self.macros.remove(m).is_none() {
                            return Err(self.err(pos, *col, format!("no macro `{m}` to purge")));
                        }
                        Ok(())
                    }
                    _ => Err(self.err(pos, d.end, "`.purgem` needs a macro name")),
                }
            }
            ".rept" => {
                need(self, 1, "a count")?;
                let n = self.const_expr(args[0], d.end, pos, "the `.rept` count")?;
                if !(0..=100_000).contains(&n) {
                    return Err(self.err(pos, args[0][0].col, format!("`.rept` count {n} is out of range")));
                }
                self.collect = Some(Collect::Rept {
                    count: n as u64,
                    body: Vec::new(),
                    depth: 0,
                    pos: self.item_pos(pos, d.col),
                });
                Ok(())
            }
            _ => {
                let near = nearest(name, DIRECTIVES.iter().copied().filter(|d| *d != ".intel_syntax"), 3);
                Err(self.err(pos, d.col, format!("unknown directive `{name}`{}", did_you_mean(&near))))
            }
        }
    }

    fn begin_macro(&mut self, toks: &[Token], _text: &[char], pos: Pos) -> Result<(), AsmError> {
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

    fn collect_line(&mut self, text: &[char], pos: Pos) -> Result<(), AsmError> {
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

    fn finish_collect(&mut self, c: Option<Collect>, pos: Pos) -> Result<(), AsmError> {
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
                for _ in 0..count {
                    self.run_body(&body, "`.rept`".into(), at, pos)?;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn run_body(
        &mut self,
        body: &Rc<Vec<Vec<char>>>,
        what: String,
        at: Pos,
        pos: Pos,
    ) -> Result<(), AsmError> {
        if self.frames.len() > 40 {
            return Err(self.err(
                pos,
                pos.col,
                "macros nested too deeply (a macro that invokes itself?)",
            ));
        }
        self.expansions += 1;
        if self.expansions > 100_000 {
            return Err(self.err(pos, pos.col, "too many macro expansions"));
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

    fn expand_macro(
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
        let expanded: Vec<Vec<char>> = body
            .iter()
            .map(|line| substitute(line, &params, &values, n))
            .collect();
        let at = self.item_pos(pos, first.col);
        self.run_body(&Rc::new(expanded), format!("macro `{name}`"), at, pos)
    }

    fn instruction(&mut self, toks: &[Token], text: &[char], pos: Pos) -> Result<(), AsmError> {
        let mut toks = toks;
        let mut prefixes = Vec::new();
        while let Some(Token {
            tok: Tok::Ident(w),
            col,
            ..
        }) = toks.first()
        {
            let lw = w.to_ascii_lowercase();
            let Some(b) = prefix_byte(&lw) else {
                break;
            };
            let next_is_word = matches!(toks.get(1).map(|t| &t.tok), Some(Tok::Ident(_)));
            if toks.len() == 1 || !next_is_word {
                if toks.len() > 1 {
                    break;
                }
                // A prefix on its own line: just the byte (`rep; movsb`).
                prefixes.push(Prefix {
                    byte: b,
                    name: lw,
                    col: *col,
                });
                toks = &toks[1..];
                break;
            }
            prefixes.push(Prefix {
                byte: b,
                name: lw,
                col: *col,
            });
            toks = &toks[1..];
        }
        let p0 = self.item_pos(
            pos,
            prefixes
                .first()
                .map(|p| p.col)
                .or(toks.first().map(|t| t.col))
                .unwrap_or(pos.col),
        );
        if toks.is_empty() {
            let bytes: Vec<u8> = prefixes.iter().map(|p| p.byte).collect();
            let n = bytes.len() as u64;
            self.push_sized(ItemKind::Bytes { bytes, code: true }, p0, n);
            return Ok(());
        }
        let Token {
            tok: Tok::Ident(m),
            col: mcol,
            end: mend,
        } = &toks[0]
        else {
            return Err(self.err(pos, toks[0].col, "expected an instruction"));
        };
        let mnemonic = m.to_ascii_lowercase();
        if !known_mnemonic(&mnemonic) {
            return Err(self.perr(pos, unknown_mnemonic(m, *mcol, self.bits)));
        }
        let mut ops: Vec<Operand> = Vec::new();
        if toks.len() > 1 {
            let mut after = *mend;
            for part in split_commas(&toks[1..]) {
                if part.is_empty() {
                    return Err(self.err(pos, after, format!("missing operand in `{mnemonic}`")));
                }
                after = part[part.len() - 1].end + 1;
                let sec = self.sec;
                let counts = &self.num_counts;
                let mut fwd = Vec::new();
                let env = EarlyEnv {
                    syms: &self.prog.syms,
                    sec,
                    frag: self.frag,
                    off: self.off,
                };
                let konst = |e: &Expr| env.value(e).ok().flatten();
                let r = parse_operand(
                    part,
                    text,
                    pos.col,
                    self.bits,
                    &mut |n, f, c| numref(counts, sec, n, f, c, &mut fwd),
                    &konst,
                );
                let op = r.map_err(|e| self.perr(pos, e))?;
                self.note_forward(fwd, pos);
                let up = self.item_pos(pos, op.col);
                match &op.kind {
                    super::operand::OpKind::Imm(e) => self.prog.syms.note_uses(e, up),
                    super::operand::OpKind::Mem(m) => {
                        if let Some(e) = &m.disp {
                            self.prog.syms.note_uses(e, up);
                        }
                    }
                    super::operand::OpKind::Reg(_) => {}
                }
                ops.push(op);
            }
        }
        let req = Request {
            mnemonic: &mnemonic,
            col: *mcol,
            ops: &ops,
            prefixes: &prefixes,
            bits: self.bits,
        };
        let env = self.early();
        let early = |e: &Expr| env.value(e);
        let sel = select(&req, &early).map_err(|e| self.perr(pos, e))?;
        match sel {
            Selected::Fixed(c) => {
                let n = c.len as u64;
                self.push_sized(ItemKind::Insn(c), p0, n);
            }
            Selected::Relax {
                short,
                long,
                target,
            } => {
                self.push_variable(
                    ItemKind::Relax {
                        short,
                        long,
                        target,
                    },
                    p0,
                );
            }
        }
        Ok(())
    }
}

fn num_name(n: u64, sec: usize, k: u32) -> String {
    format!("{n}\u{2}{sec}\u{2}{k}")
}

/// How a name appears in messages (numeric local labels as `1`).
pub fn shown_name(name: &str) -> &str {
    name.split('\u{2}').next().unwrap_or(name)
}

fn numref(
    counts: &HashMap<u64, u32>,
    sec: usize,
    n: u64,
    fwd: bool,
    col: usize,
    pending: &mut Vec<(u64, u32, String, usize)>,
) -> Result<String, (usize, String)> {
    let k = counts.get(&n).copied().unwrap_or(0);
    if fwd {
        let name = num_name(n, sec, k + 1);
        pending.push((n, k + 1, name.clone(), col));
        Ok(name)
    } else if k == 0 {
        Err((col, format!("no `{n}:` label before this `{n}b`")))
    } else {
        Ok(num_name(n, sec, k))
    }
}

/// Range of a data value of `width` bytes: either signed or unsigned.
pub fn data_range(width: u8, v: i64) -> Option<String> {
    if width >= 8 {
        return None;
    }
    let bits = width as u32 * 8;
    let lo = -(1i64 << (bits - 1));
    let hi = (1i64 << bits) - 1;
    if v < lo || v > hi {
        Some(format!(
            "value {} does not fit in {width} byte{}",
            super::select::fmt_val(v),
            if width == 1 { "" } else { "s" }
        ))
    } else {
        None
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

/// Replace `\param`, `\()` and `\@` in a macro body line.
fn substitute(
    line: &[char],
    params: &[(String, Option<String>, bool, bool)],
    values: &[Option<String>],
    n: u32,
) -> Vec<char> {
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
                out.extend(values[k].as_deref().unwrap_or("").chars());
                i = j;
                continue;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    out
}
