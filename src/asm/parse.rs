//! Reading the sections: statements, labels, directives, macros and instructions, into
//! items with their encodings chosen.

use std::collections::{HashMap, HashSet};

use super::cond::Cond;
use super::error::{AsmError, Pos};
use super::expr::{describe, eval, parse_expr, EvalErr, Expr, Term};
use super::lexer::{clean_lines, split_statements, tokenize, Line, Tok, Token};
use super::macros::{Collect, Macro};
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

/// An expansion being processed: where it was invoked and what it is.
pub(super) struct Frame {
    pub(super) what: String,
    pub(super) pos: Pos,
}

pub(super) struct Reader {
    pub(super) prog: Program,
    pub(super) sec: usize,
    pub(super) bits: u32,
    pub(super) seq: u32,
    pub(super) frag: u32,
    pub(super) off: u64,
    pub(super) macros: HashMap<String, Macro>,
    /// Names local to the current section, as they are to one GNU as input file:
    /// `.set`/`.equ` constants and `.L` labels defined in it.
    pub(super) locals: HashSet<String>,
    pub(super) collect: Option<Collect>,
    pub(super) frames: Vec<Frame>,
    /// Current statement text inside an expansion, for messages.
    pub(super) stmt_text: String,
    pub(super) num_counts: HashMap<u64, u32>,
    pub(super) forward: Vec<(u64, u32, String, Pos)>,
    pub(super) expansions: u32,
    /// Characters produced by expansions so far (see `macros::MAX_EXPANDED_CHARS`).
    pub(super) expanded_chars: usize,
    pub(super) macro_count: u32,
    pub(super) ended: bool,
    /// The open `.if` blocks (src/asm/cond.rs).
    pub(super) conds: Vec<Cond>,
}

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
        locals: HashSet::new(),
        collect: None,
        frames: Vec::new(),
        stmt_text: String::new(),
        num_counts: HashMap::new(),
        forward: Vec::new(),
        expansions: 0,
        expanded_chars: 0,
        macro_count: 0,
        ended: false,
        conds: Vec::new(),
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
    pub(super) fn section(&mut self, sec: usize, text: &str) -> Result<(), AsmError> {
        self.sec = sec;
        self.frag += 1;
        self.off = 0;
        self.num_counts.clear();
        self.forward.clear();
        self.ended = false;
        self.collect = None;
        self.conds.clear();
        // Each section starts in the mode given to `layout`, like a separate as run,
        // with its own macros, constants and `.L` labels.
        self.bits = self.prog.bits;
        self.macros.clear();
        let lines = clean_lines(text).map_err(|(line, col)| {
            Pos {
                section: sec,
                line,
                col,
            }
            .error("unterminated `/*` comment")
        })?;
        self.locals = section_locals(&lines);
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
        self.check_conds_closed()?;
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
    pub(super) fn err(&self, pos: Pos, col: usize, msg: impl Into<String>) -> AsmError {
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

    pub(super) fn perr(&self, pos: Pos, e: (usize, String)) -> AsmError {
        self.err(pos, e.0, e.1)
    }

    /// Position recorded for items: the outermost macro invocation, if any.
    pub(super) fn item_pos(&self, pos: Pos, col: usize) -> Pos {
        match self.frames.first() {
            Some(f) => f.pos,
            None => pos.at_col(col),
        }
    }

    pub(super) fn statement(&mut self, text: &[char], pos: Pos) -> Result<(), AsmError> {
        if self.collect.is_some() {
            return self.collect_line(text, pos);
        }
        if !self.frames.is_empty() {
            self.stmt_text = text.iter().collect();
        }
        let mut toks = match tokenize(text, pos.col) {
            Ok(t) => t,
            // A skipped line is not read.
            Err(_) if !self.assembling() => return Ok(()),
            Err(e) => return Err(self.perr(pos, e)),
        };
        for t in &mut toks {
            if let Tok::Ident(w) = &mut t.tok {
                if self.locals.contains(w.as_str()) {
                    *w = local_name(w, self.sec);
                }
            }
        }
        if self.conditional(&toks, pos)? {
            return Ok(());
        }
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

    pub(super) fn label(&mut self, name: &str, pos: Pos, col: usize) -> Result<(), AsmError> {
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

    pub(super) fn push(&mut self, kind: ItemKind, pos: Pos) -> usize {
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
    pub(super) fn push_sized(&mut self, kind: ItemKind, pos: Pos, size: u64) {
        self.push(kind, pos);
        self.off = self.off.wrapping_add(size);
    }

    /// Push an item whose size is known only in layout; a new frag starts after it.
    pub(super) fn push_variable(&mut self, kind: ItemKind, pos: Pos) {
        self.push(kind, pos);
        self.frag += 1;
        self.off = 0;
    }

    pub(super) fn early(&self) -> EarlyEnv<'_> {
        EarlyEnv {
            syms: &self.prog.syms,
            sec: self.sec,
            frag: self.frag,
            off: self.off,
        }
    }

    pub(super) fn expr(&mut self, toks: &[Token], end: usize, pos: Pos) -> Result<Expr, AsmError> {
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

    pub(super) fn note_forward(&mut self, fwd: Vec<(u64, u32, String, usize)>, pos: Pos) {
        for (n, k, name, c) in fwd {
            let p = self.item_pos(pos, c);
            self.forward.push((n, k, name, p));
        }
    }

    pub(super) fn const_expr(
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

    pub(super) fn set(
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
            height: e.height(),
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

    pub(super) fn args<'t>(&self, toks: &'t [Token]) -> Vec<&'t [Token]> {
        if toks.len() <= 1 {
            return Vec::new();
        }
        split_commas(&toks[1..])
    }

    pub(super) fn instruction(
        &mut self,
        toks: &[Token],
        text: &[char],
        pos: Pos,
    ) -> Result<(), AsmError> {
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
            return Err(self.perr(pos, unknown_mnemonic(m, *mcol, self.bits, toks.len() > 1)));
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

pub(super) fn num_name(n: u64, sec: usize, k: u32) -> String {
    format!("{n}\u{2}{sec}\u{2}{k}")
}

/// How a name appears in messages (numeric local labels as `1`).
pub fn shown_name(name: &str) -> &str {
    name.split(['\u{2}', '\u{3}']).next().unwrap_or(name)
}

/// The internal name of a section-local symbol (shown without the suffix).
fn local_name(name: &str, sec: usize) -> String {
    format!("{name}\u{3}{sec}")
}

/// The constants and `.L` labels a section defines: local to it, as in one GNU as file.
fn section_locals(lines: &[Line]) -> HashSet<String> {
    let mut out = HashSet::new();
    for l in lines {
        for st in split_statements(&l.text) {
            let Ok(toks) = tokenize(&st.text, st.col) else {
                continue;
            };
            let mut rest: &[Token] = &toks;
            while let [Token {
                tok: Tok::Ident(n), ..
            }, Token {
                tok: Tok::Punct(":"),
                ..
            }, more @ ..] = rest
            {
                if n.starts_with(".L") {
                    out.insert(n.clone());
                }
                rest = more;
            }
            match rest {
                [Token {
                    tok: Tok::Ident(d), ..
                }, Token {
                    tok: Tok::Ident(n), ..
                }, ..]
                    if matches!(d.as_str(), ".set" | ".equ" | ".equiv" | ".eqv") =>
                {
                    out.insert(n.clone());
                }
                [Token {
                    tok: Tok::Ident(n), ..
                }, Token {
                    tok: Tok::Punct("="),
                    ..
                }, ..] => {
                    out.insert(n.clone());
                }
                _ => {}
            }
        }
    }
    out
}

pub(super) fn numref(
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
