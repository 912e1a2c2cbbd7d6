//! State expressions: what checkpoints and questions say about the machine
//! (`esp`, `cs.dpl`, `msr.IA32_SYSENTER_ESP`, `mem32[esp+4]`, `prev.edx`, `pid`, ...),
//! parsed once with every name resolved, then evaluated against machine states.

use std::collections::HashMap;

use crate::engine::Exception;
use crate::machine::cpu::{reg_by_name, RegName, GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::tables::{tss32, tss64};
use crate::machine::{flags, msr, Machine, SegReg, Selector};
use crate::scenario::{did_you_mean, TaskModel};

/// A field of a segment register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegField {
    Sel,
    Rpl,
    Index,
    Ti,
    Base,
    Limit,
    Dpl,
    Type,
    L,
    Db,
    Present,
}

/// A named piece of machine state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Atom {
    /// A general register: number, width in bytes, and AH-style high byte.
    Gpr {
        index: usize,
        bytes: usize,
        high: bool,
    },
    Ip,
    Flags,
    /// One flag: (mask, shift).
    Flag(u64, u32),
    Cpl,
    Seg(SegReg, SegField),
    Cr(u8),
    Efer,
    Msr(u32),
    GdtrBase,
    GdtrLimit,
    IdtrBase,
    IdtrLimit,
    Tr,
    /// A TSS field: offset and size in bytes.
    Tss(u64, usize),
    Pid,
    Task,
    PreemptCount,
    Comm,
    Context,
    FaultVector,
    FaultErrorCode,
    FaultCr2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Num(u64),
    Atom(Atom),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// Memory at an address: width in bytes.
    Mem(usize, Box<Expr>),
    /// The i-th stack word from the top.
    Stack(Box<Expr>),
    /// 1 if the current page tables map the address (CR3's address space), else 0.
    Mapped(Box<Expr>),
    Prev(Box<Expr>),
    Initial(Box<Expr>),
}

/// A value: a number with the width (in bits) of where it came from, or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(u64, u32),
    Text(String),
}

impl Value {
    /// Equal as the left side sees it: numbers compared at the left side's width.
    pub fn matches(&self, expected: &Value) -> bool {
        match (self, expected) {
            (Value::Int(a, bits), Value::Int(b, _)) => mask(*a, *bits) == mask(*b, *bits),
            (Value::Text(a), Value::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v, bits) => write!(f, "{:#x}", mask(*v, *bits)),
            Value::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

fn mask(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// What names mean while parsing.
pub struct Names<'a> {
    /// Labels, machine symbols and the code's constants.
    pub symbols: &'a HashMap<String, u64>,
    /// A 64-bit machine (for `rax` and the TSS layout).
    pub long: bool,
}

/// A parse error: byte offset into the expression text and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

/// The deepest nesting of parentheses, brackets, unary operators and `prev.`/`initial.`
/// in one expression (parsing and evaluating recurse).
pub const MAX_NESTING: usize = 256;
/// The most binary operators in one expression.
pub const MAX_OPERATORS: usize = 256;

pub fn parse(text: &str, names: &Names) -> Result<Expr, ExprError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        names,
        depth: 0,
        operators: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err(format!("unexpected `{}`", &text[p.pos..])));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    names: &'a Names<'a>,
    /// Open parentheses, brackets, unary operators and prefixes here.
    depth: usize,
    /// Binary operators so far.
    operators: usize,
}

const FLAG_NAMES: &[(&str, u64, u32)] = &[
    ("cf", flags::CF, 0),
    ("pf", flags::PF, 2),
    ("af", flags::AF, 4),
    ("zf", flags::ZF, 6),
    ("sf", flags::SF, 7),
    ("tf", flags::TF, 8),
    ("if", flags::IF, 9),
    ("df", flags::DF, 10),
    ("of", flags::OF, 11),
    ("iopl", flags::IOPL, 12),
    ("nt", flags::NT, 14),
    ("rf", flags::RF, 16),
    ("vm", flags::VM, 17),
    ("ac", flags::AC, 18),
    ("id", flags::ID, 21),
];

const SEG_FIELDS: &[(&str, SegField)] = &[
    ("sel", SegField::Sel),
    ("rpl", SegField::Rpl),
    ("index", SegField::Index),
    ("ti", SegField::Ti),
    ("base", SegField::Base),
    ("limit", SegField::Limit),
    ("dpl", SegField::Dpl),
    ("type", SegField::Type),
    ("l", SegField::L),
    ("db", SegField::Db),
    ("present", SegField::Present),
];

const SEGS: &[(&str, SegReg)] = &[
    ("cs", SegReg::Cs),
    ("ss", SegReg::Ss),
    ("ds", SegReg::Ds),
    ("es", SegReg::Es),
    ("fs", SegReg::Fs),
    ("gs", SegReg::Gs),
];

const SIMPLE: &[&str] = &[
    "eip",
    "rip",
    "eflags",
    "rflags",
    "cpl",
    "cr0",
    "cr2",
    "cr3",
    "cr4",
    "efer",
    "tr",
    "pid",
    "task",
    "comm",
    "context",
    "preempt_count",
];

impl<'a> Parser<'a> {
    fn err(&self, message: impl Into<String>) -> ExprError {
        ExprError {
            offset: self.pos,
            message: message.into(),
        }
    }

    /// Run `f` one nesting level deeper.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(format!(
                "expression nested too deeply (at most {MAX_NESTING} levels of parentheses, brackets, unary operators and `prev.`)"
            )));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.text[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    // Precedence, loosest first: | ^ & << >> + - *
    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.binary(0)
    }

    /// Operators binding at least as tightly as `min` (precedence climbing: the
    /// recursion is one level per operator precedence, not per precedence level).
    fn binary(&mut self, min: usize) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while let Some((tok, op, level)) = self.operator(min) {
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err(self.err(format!(
                    "expression too long (at most {MAX_OPERATORS} operators)"
                )));
            }
            self.pos += tok.len();
            let right = self.binary(level + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// The operator next in the text if it binds at least as tightly as `min`.
    fn operator(&mut self, min: usize) -> Option<(&'static str, BinOp, usize)> {
        const LEVELS: &[&[(&str, BinOp)]] = &[
            &[("|", BinOp::Or)],
            &[("^", BinOp::Xor)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul)],
        ];
        self.ws();
        let rest = &self.text[self.pos..];
        LEVELS
            .iter()
            .enumerate()
            .skip(min)
            .find_map(|(level, ops)| {
                ops.iter()
                    .find(|(tok, _)| rest.starts_with(tok))
                    .map(|&(tok, op)| (tok, op, level))
            })
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.ws();
        let at = self.pos;
        if self.eat("-") {
            self.pos = at;
            let e = self.nested(|p| {
                p.pos += 1;
                p.unary()
            })?;
            return Ok(Expr::Neg(Box::new(e)));
        }
        if self.eat("~") {
            self.pos = at;
            let e = self.nested(|p| {
                p.pos += 1;
                p.unary()
            })?;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.primary()
    }

    fn word(&mut self) -> &'a str {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric()
                || self.s[self.pos] == b'_'
                || self.s[self.pos] == b'.'
                || self.s[self.pos] == b'$')
        {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        self.ws();
        if self.s.get(self.pos) == Some(&b'(') {
            return self.nested(|p| {
                p.pos += 1;
                let e = p.expr()?;
                if !p.eat(")") {
                    return Err(p.err("expected `)`"));
                }
                Ok(e)
            });
        }
        let start = self.pos;
        let c = self.s.get(self.pos).copied();
        match c {
            Some(b'0'..=b'9') => {
                let w = self.word();
                parse_number(w).map(Expr::Num).ok_or(ExprError {
                    offset: start,
                    message: format!("`{w}` is not a number"),
                })
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'.' => {
                let w = self.word();
                self.name(w, start)
            }
            Some(_) => Err(self.err(format!("unexpected `{}`", &self.text[self.pos..]))),
            None => Err(self.err("expression ends too early")),
        }
    }

    fn bracket(&mut self, what: &str) -> Result<Box<Expr>, ExprError> {
        if !self.eat("[") {
            return Err(self.err(format!(
                "`{what}` needs an address in brackets: {what}[esp+4]"
            )));
        }
        let e = self.nested(Self::expr)?;
        if !self.eat("]") {
            return Err(self.err("expected `]`"));
        }
        Ok(Box::new(e))
    }

    fn name(&mut self, w: &'a str, start: usize) -> Result<Expr, ExprError> {
        // A symbol wins (symbols may contain dots, like `pt_regs.eax`).
        if let Some(&v) = self.names.symbols.get(w) {
            return Ok(Expr::Num(v));
        }
        for (prefix, wrap) in [
            ("prev.", Expr::Prev as fn(Box<Expr>) -> Expr),
            ("initial.", Expr::Initial),
        ] {
            if let Some(rest) = w.strip_prefix(prefix) {
                let inner = self.nested(|p| match rest.is_empty() {
                    // `prev.(esp+4)` or `prev.mem32[...]`
                    true => p.primary(),
                    false => p.name(rest, start + prefix.len()),
                })?;
                return Ok(wrap(Box::new(inner)));
            }
        }
        for (m, width) in [("mem8", 1), ("mem16", 2), ("mem32", 4), ("mem64", 8)] {
            if w == m {
                return Ok(Expr::Mem(width, self.bracket(m)?));
            }
        }
        if w == "stack" {
            return Ok(Expr::Stack(self.bracket("stack")?));
        }
        if w == "mapped" {
            return Ok(Expr::Mapped(self.bracket("mapped")?));
        }
        self.atom(w).map(Expr::Atom).map_err(|message| ExprError {
            offset: start,
            message,
        })
    }

    fn atom(&self, w: &str) -> Result<Atom, String> {
        let lower = w.to_ascii_lowercase();
        let long = self.names.long;
        if let Some(rest) = lower.strip_prefix("flags.") {
            return FLAG_NAMES
                .iter()
                .find(|(n, ..)| *n == rest)
                .map(|&(_, m, s)| Atom::Flag(m, s))
                .ok_or_else(|| {
                    let hint = did_you_mean(rest, FLAG_NAMES.iter().map(|f| f.0));
                    format!("unknown flag `{rest}`{hint}")
                });
        }
        if let Some(rest) = w.strip_prefix("msr.") {
            return msr_index(rest).map(Atom::Msr).ok_or_else(|| {
                let names = msr::KNOWN
                    .iter()
                    .flat_map(|k| [k.1, k.1.strip_prefix("IA32_").unwrap_or(k.1)]);
                let hint = did_you_mean(rest, names);
                format!("unknown MSR `{rest}`{hint}")
            });
        }
        if let Some(rest) = lower.strip_prefix("tss.") {
            return tss_field(rest, long).ok_or_else(|| {
                let fields: &[&str] = if long {
                    &["rsp0", "rsp1", "rsp2", "ist1", "ist7", "io_map_base"]
                } else {
                    &["esp0", "ss0", "esp1", "ss1", "esp2", "ss2", "io_map_base"]
                };
                let hint = did_you_mean(rest, fields.iter().copied());
                format!("unknown TSS field `{rest}`{hint}")
            });
        }
        if let Some(rest) = lower.strip_prefix("fault.") {
            return match rest {
                "vector" => Ok(Atom::FaultVector),
                "error_code" => Ok(Atom::FaultErrorCode),
                "cr2" => Ok(Atom::FaultCr2),
                _ => Err(format!(
                    "unknown fault field `{rest}`{}",
                    did_you_mean(rest, ["vector", "error_code", "cr2"])
                )),
            };
        }
        match lower.as_str() {
            "gdtr.base" => return Ok(Atom::GdtrBase),
            "gdtr.limit" => return Ok(Atom::GdtrLimit),
            "idtr.base" => return Ok(Atom::IdtrBase),
            "idtr.limit" => return Ok(Atom::IdtrLimit),
            _ => {}
        }
        if let Some((seg, field)) = lower.split_once('.') {
            if let Some(&(_, s)) = SEGS.iter().find(|(n, _)| *n == seg) {
                return SEG_FIELDS
                    .iter()
                    .find(|(n, _)| *n == field)
                    .map(|&(_, f)| Atom::Seg(s, f))
                    .ok_or_else(|| {
                        let hint = did_you_mean(field, SEG_FIELDS.iter().map(|f| f.0));
                        format!("unknown field `{field}` of {seg}{hint}")
                    });
            }
        }
        if let Some(&(_, s)) = SEGS.iter().find(|(n, _)| *n == lower) {
            return Ok(Atom::Seg(s, SegField::Sel));
        }
        match lower.as_str() {
            "eip" | "rip" => return Ok(Atom::Ip),
            "eflags" | "rflags" => return Ok(Atom::Flags),
            "cpl" => return Ok(Atom::Cpl),
            "cr0" => return Ok(Atom::Cr(0)),
            "cr2" => return Ok(Atom::Cr(2)),
            "cr3" => return Ok(Atom::Cr(3)),
            "cr4" => return Ok(Atom::Cr(4)),
            "efer" => return Ok(Atom::Efer),
            "tr" => return Ok(Atom::Tr),
            "pid" => return Ok(Atom::Pid),
            "task" => return Ok(Atom::Task),
            "comm" => return Ok(Atom::Comm),
            "context" => return Ok(Atom::Context),
            "preempt_count" => return Ok(Atom::PreemptCount),
            _ => {}
        }
        if let Some(g) = gpr(&lower) {
            if let Atom::Gpr { index, bytes, .. } = g {
                if (bytes == 8 || index >= 8) && !long {
                    return Err(format!(
                        "`{w}` exists only in 64-bit mode; this machine is 32-bit"
                    ));
                }
            }
            return Ok(g);
        }
        let gprs: &[&str] = if long { &GPR_NAMES_64 } else { &GPR_NAMES_32 };
        let candidates = gprs
            .iter()
            .copied()
            .chain(SIMPLE.iter().copied())
            .chain(SEGS.iter().map(|s| s.0))
            .chain(self.names.symbols.keys().map(String::as_str));
        let hint = did_you_mean(w, candidates);
        Err(format!("unknown register or symbol `{w}`{hint}"))
    }
}

/// A general register of any width by name.
fn gpr(name: &str) -> Option<Atom> {
    const W16: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
    const LOW8: [&str; 4] = ["al", "cl", "dl", "bl"];
    const HIGH8: [&str; 4] = ["ah", "ch", "dh", "bh"];
    if let Some(RegName::Gpr { index, bytes }) = reg_by_name(name) {
        return Some(Atom::Gpr {
            index,
            bytes,
            high: false,
        });
    }
    let find = |table: &[&str]| table.iter().position(|r| *r == name);
    if let Some(index) = find(&W16) {
        return Some(Atom::Gpr {
            index,
            bytes: 2,
            high: false,
        });
    }
    if let Some(index) = find(&LOW8) {
        return Some(Atom::Gpr {
            index,
            bytes: 1,
            high: false,
        });
    }
    find(&HIGH8).map(|index| Atom::Gpr {
        index,
        bytes: 1,
        high: true,
    })
}

/// A number as written in lessons: decimal, `0x` hex or `0b` binary, `_` separators.
pub fn parse_number(w: &str) -> Option<u64> {
    let w = w.replace('_', "");
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = w.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else {
        w.parse().ok()
    }
}

/// An MSR by name (with or without `IA32_`) or number.
pub fn msr_index(name: &str) -> Option<u32> {
    if let Some(n) = parse_number(name) {
        return u32::try_from(n).ok();
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("IA32_").unwrap_or(&upper);
    msr::KNOWN
        .iter()
        .find(|(_, n)| n.strip_prefix("IA32_").unwrap_or(n) == bare)
        .map(|&(i, _)| i)
}

fn tss_field(name: &str, long: bool) -> Option<Atom> {
    if long {
        return match name {
            "rsp0" => Some(Atom::Tss(tss64::RSP0, 8)),
            "rsp1" => Some(Atom::Tss(tss64::RSP0 + 8, 8)),
            "rsp2" => Some(Atom::Tss(tss64::RSP0 + 16, 8)),
            "io_map_base" => Some(Atom::Tss(tss64::IOMAP_BASE, 2)),
            _ => {
                let n: u64 = name.strip_prefix("ist")?.parse().ok()?;
                (1..=7)
                    .contains(&n)
                    .then(|| Atom::Tss(tss64::IST1 + (n - 1) * 8, 8))
            }
        };
    }
    match name {
        "esp0" => Some(Atom::Tss(tss32::ESP0, 4)),
        "ss0" => Some(Atom::Tss(tss32::SS0, 2)),
        "esp1" => Some(Atom::Tss(tss32::ESP1, 4)),
        "ss1" => Some(Atom::Tss(tss32::SS1, 2)),
        "esp2" => Some(Atom::Tss(tss32::ESP2, 4)),
        "ss2" => Some(Atom::Tss(tss32::SS2, 2)),
        "io_map_base" => Some(Atom::Tss(tss32::IOMAP_BASE, 2)),
        _ => None,
    }
}

/// The states an expression can look at.
pub struct States<'a> {
    pub now: &'a Machine,
    /// Before the previous instruction (None at the start of a scene).
    pub prev: Option<&'a Machine>,
    pub initial: &'a Machine,
    pub task: Option<&'a TaskModel>,
    /// The exception that ended the scene, when it ended with one.
    pub fault: Option<&'a Exception>,
}

impl BinOp {
    fn apply(self, x: u64, y: u64) -> u64 {
        match self {
            BinOp::Add => x.wrapping_add(y),
            BinOp::Sub => x.wrapping_sub(y),
            BinOp::Mul => x.wrapping_mul(y),
            BinOp::And => x & y,
            BinOp::Or => x | y,
            BinOp::Xor => x ^ y,
            BinOp::Shl => u32::try_from(y)
                .ok()
                .and_then(|s| x.checked_shl(s))
                .unwrap_or(0),
            BinOp::Shr => u32::try_from(y)
                .ok()
                .and_then(|s| x.checked_shr(s))
                .unwrap_or(0),
        }
    }
}

impl Expr {
    /// The value when the expression names no machine state (labels, numbers).
    pub fn constant(&self) -> Option<u64> {
        match self {
            Expr::Num(v) => Some(*v),
            Expr::Neg(e) => Some(e.constant()?.wrapping_neg()),
            Expr::Not(e) => Some(!e.constant()?),
            Expr::Bin(op, a, b) => Some(op.apply(a.constant()?, b.constant()?)),
            _ => None,
        }
    }

    /// Whether evaluating needs the previous state.
    pub fn uses_prev(&self) -> bool {
        match self {
            Expr::Prev(_) => true,
            Expr::Num(_) | Expr::Atom(_) => false,
            Expr::Neg(e)
            | Expr::Not(e)
            | Expr::Mem(_, e)
            | Expr::Stack(e)
            | Expr::Mapped(e)
            | Expr::Initial(e) => e.uses_prev(),
            Expr::Bin(_, a, b) => a.uses_prev() || b.uses_prev(),
        }
    }

    /// Whether the value is text (`comm`, `context`).
    pub fn is_text(&self) -> bool {
        match self {
            Expr::Atom(Atom::Comm | Atom::Context) => true,
            Expr::Prev(e) | Expr::Initial(e) => e.is_text(),
            _ => false,
        }
    }

    pub fn eval(&self, st: &States) -> Result<Value, String> {
        self.eval_in(st.now, st)
    }

    fn eval_in(&self, m: &Machine, st: &States) -> Result<Value, String> {
        let int = |e: &Expr| -> Result<(u64, u32), String> {
            match e.eval_in(m, st)? {
                Value::Int(v, b) => Ok((v, b)),
                Value::Text(t) => Err(format!("\"{t}\" is text, not a number")),
            }
        };
        Ok(match self {
            Expr::Num(v) => Value::Int(*v, 64),
            Expr::Atom(a) => atom_value(a, m, st)?,
            Expr::Neg(e) => {
                let (v, b) = int(e)?;
                Value::Int(v.wrapping_neg(), b)
            }
            Expr::Not(e) => {
                let (v, b) = int(e)?;
                Value::Int(!v, b)
            }
            Expr::Bin(op, a, b) => {
                let (x, bx) = int(a)?;
                let (y, by) = int(b)?;
                let v = op.apply(x, y);
                // Arithmetic keeps the narrower machine width (esp - 4 is 32-bit).
                Value::Int(v, bx.min(by))
            }
            Expr::Mem(width, e) => {
                let (addr, _) = int(e)?;
                Value::Int(read_mapped(m, addr, *width)?, 8 * *width as u32)
            }
            Expr::Mapped(e) => {
                let (addr, _) = int(e)?;
                Value::Int(m.mapping(addr).is_some() as u64, 1)
            }
            Expr::Stack(e) => {
                let (i, _) = int(e)?;
                let w = m.cpu.stack_width();
                let addr = m
                    .cpu
                    .sp()
                    .wrapping_add(m.cpu.seg(SegReg::Ss).base)
                    .wrapping_add(i.wrapping_mul(w as u64));
                Value::Int(read_mapped(m, addr, w)?, 8 * w as u32)
            }
            Expr::Prev(e) => match st.prev {
                Some(p) => e.eval_in(p, st)?,
                None => return Err("`prev.` has no previous state at the start of a scene".into()),
            },
            Expr::Initial(e) => e.eval_in(st.initial, st)?,
        })
    }
}

/// Memory as the CPU sees it through its current page tables.
fn read_mapped(m: &Machine, addr: u64, width: usize) -> Result<u64, String> {
    for a in [addr, addr.wrapping_add(width as u64 - 1)] {
        if !m.lin_mapped(a) {
            return Err(if m.cpu.cr0 & crate::machine::cpu::CR0_PG == 0 {
                format!("address {a:#x} is not in any memory region")
            } else {
                format!("address {a:#x} is not mapped by the current page tables (CR3)")
            });
        }
    }
    Ok(m.peek_lin_le(addr, width))
}

fn atom_value(a: &Atom, m: &Machine, st: &States) -> Result<Value, String> {
    let cpu = &m.cpu;
    let word = if cpu.long_mode_active() { 64 } else { 32 };
    let need_task = || {
        st.task
            .ok_or("this machine has no [task] model, so no current task")
    };
    Ok(match a {
        Atom::Gpr { index, bytes, high } => {
            let v = cpu.gpr[*index];
            let v = if *high { v >> 8 } else { v };
            Value::Int(v, 8 * *bytes as u32)
        }
        Atom::Ip => Value::Int(cpu.rip, word),
        Atom::Flags => Value::Int(cpu.rflags, word),
        Atom::Flag(mask, shift) => Value::Int((cpu.rflags & mask) >> shift, 64),
        Atom::Cpl => Value::Int(cpu.cpl() as u64, 64),
        Atom::Seg(s, f) => {
            let seg = cpu.seg(*s);
            let sel = Selector(seg.selector);
            let v = match f {
                SegField::Sel => seg.selector as u64,
                SegField::Rpl => sel.rpl() as u64,
                SegField::Index => sel.index() as u64,
                SegField::Ti => sel.ti() as u64,
                SegField::Base => seg.base,
                SegField::Limit => seg.limit as u64,
                SegField::Dpl => seg.attr.dpl() as u64,
                SegField::Type => seg.attr.ty() as u64,
                SegField::L => seg.attr.l() as u64,
                SegField::Db => seg.attr.db() as u64,
                SegField::Present => seg.attr.present() as u64,
            };
            let bits = match f {
                SegField::Sel => 16,
                SegField::Base => word,
                SegField::Limit => 32,
                _ => 64,
            };
            Value::Int(v, bits)
        }
        Atom::Cr(n) => Value::Int(
            match n {
                0 => cpu.cr0,
                2 => cpu.cr2,
                3 => cpu.cr3,
                _ => cpu.cr4,
            },
            word,
        ),
        Atom::Efer => Value::Int(cpu.efer(), 64),
        Atom::Msr(i) => match cpu.read_msr(*i) {
            Some(v) => Value::Int(v, 64),
            None => return Err(format!("MSR {i:#x} is not implemented")),
        },
        Atom::GdtrBase => Value::Int(cpu.gdtr.base, word),
        Atom::GdtrLimit => Value::Int(cpu.gdtr.limit as u64, 16),
        Atom::IdtrBase => Value::Int(cpu.idtr.base, word),
        Atom::IdtrLimit => Value::Int(cpu.idtr.limit as u64, 16),
        Atom::Tr => Value::Int(cpu.tr.selector as u64, 16),
        Atom::Tss(off, size) => {
            if cpu.tr.selector == 0 {
                return Err("TR holds no TSS".into());
            }
            let v = read_mapped(m, cpu.tr.base.wrapping_add(*off), *size)?;
            Value::Int(v, 8 * *size as u32)
        }
        Atom::Pid => {
            let t = need_task()?
                .current(m)
                .ok_or("the current-task pointer leads nowhere")?;
            Value::Int(t.pid as u64, 32)
        }
        Atom::Task => {
            let t = need_task()?
                .current(m)
                .ok_or("the current-task pointer leads nowhere")?;
            Value::Int(t.addr, word)
        }
        Atom::Comm => {
            let t = need_task()?
                .current(m)
                .ok_or("the current-task pointer leads nowhere")?;
            Value::Text(t.comm)
        }
        Atom::Context => Value::Text(need_task()?.context(m).name().to_string()),
        Atom::PreemptCount => {
            let c = need_task()?
                .preempt_count(m)
                .ok_or("the task model gives no preempt counter")?;
            Value::Int(c, 32)
        }
        Atom::FaultVector | Atom::FaultErrorCode | Atom::FaultCr2 => {
            let f = st
                .fault
                .ok_or("`fault.` is only known in a step shown after a fault")?;
            match a {
                Atom::FaultVector => Value::Int(f.vector as u64, 8),
                Atom::FaultErrorCode => Value::Int(
                    f.error_code.ok_or("this exception pushes no error code")? as u64,
                    32,
                ),
                _ => Value::Int(f.cr2.ok_or("only a page fault sets CR2")?, word),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> HashMap<String, u64> {
        let mut h = HashMap::new();
        h.insert("sysenter_entry".to_string(), 0xc010_2000);
        h.insert("pt_regs.eax".to_string(), 0x1018);
        h
    }

    fn p(s: &str) -> Result<Expr, ExprError> {
        let syms = names();
        parse(
            s,
            &Names {
                symbols: &syms,
                long: false,
            },
        )
    }

    #[test]
    fn parses_names_and_precedence() {
        assert_eq!(p("sysenter_entry+4").unwrap(), {
            Expr::Bin(
                BinOp::Add,
                Box::new(Expr::Num(0xc010_2000)),
                Box::new(Expr::Num(4)),
            )
        });
        assert_eq!(p("pt_regs.eax").unwrap(), Expr::Num(0x1018));
        assert_eq!(
            p("msr.IA32_SYSENTER_CS & 0xfffc").unwrap(),
            Expr::Bin(
                BinOp::And,
                Box::new(Expr::Atom(Atom::Msr(0x174))),
                Box::new(Expr::Num(0xfffc))
            )
        );
        assert_eq!(p("msr.SYSENTER_EIP").unwrap(), Expr::Atom(Atom::Msr(0x176)));
        assert_eq!(p("msr.0x175").unwrap(), Expr::Atom(Atom::Msr(0x175)));
        assert!(matches!(p("1+2*3").unwrap(), Expr::Bin(BinOp::Add, _, _)));
        assert!(matches!(p("prev.edx").unwrap(), Expr::Prev(_)));
        assert!(matches!(p("mem32[esp+4]").unwrap(), Expr::Mem(4, _)));
        assert!(matches!(
            p("cs.dpl").unwrap(),
            Expr::Atom(Atom::Seg(SegReg::Cs, SegField::Dpl))
        ));
        assert!(p("context").unwrap().is_text());
    }

    #[test]
    fn errors_name_the_problem() {
        let e = p("exa").unwrap_err();
        assert!(e.message.contains("did you mean `eax`"), "{}", e.message);
        let e = p("rax").unwrap_err();
        assert!(e.message.contains("64-bit"), "{}", e.message);
        let e = p("msr.SYSENTER_CX").unwrap_err();
        assert!(e.message.contains("SYSENTER_CS"), "{}", e.message);
        let e = p("cs.dlp").unwrap_err();
        assert!(e.message.contains("dpl"), "{}", e.message);
        let e = p("esp +").unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(p("mem32 esp").is_err());
        assert!(p("(esp").is_err());
    }
}

#[cfg(test)]
mod cpu_view_tests {
    use super::*;
    use crate::machine::cpu::{CR0_PE, CR0_PG, CR4_PAE};
    use crate::machine::msr::{EFER, EFER_LMA, EFER_LME};
    use crate::machine::paging::{P, RW};

    /// `mem32[...]` reads through the CPU's current page tables: a page they map to
    /// other physical memory than the region declares reads what the CPU reads, and an
    /// address they do not map is an error saying so.
    #[test]
    fn mem_reads_through_the_current_page_tables() {
        let mut m = Machine::new();
        m.cpu.cr0 = CR0_PE | CR0_PG;
        m.cpu.cr4 = CR4_PAE;
        m.cpu.cr3 = 0x1000;
        m.cpu.set_msr(EFER, EFER_LME | EFER_LMA);
        for (at, v) in [(0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x4000)] {
            m.mem.poke_phys_le(at, 8, v | P | RW);
        }
        // Linear 0x5000 -> physical 0x9000.
        m.mem.poke_phys_le(0x4000 + 5 * 8, 8, 0x9000 | P | RW);
        m.mem.poke_phys_le(0x9004, 4, 0x1234_5678);
        let names = HashMap::new();
        let n = Names {
            symbols: &names,
            long: true,
        };
        let st = States {
            now: &m,
            prev: None,
            initial: &m,
            task: None,
            fault: None,
        };
        let read = parse("mem32[0x5004]", &n).unwrap().eval(&st).unwrap();
        assert_eq!(read, Value::Int(0x1234_5678, 32));
        let e = parse("mem32[0x6000]", &n).unwrap().eval(&st).unwrap_err();
        assert_eq!(
            e,
            "address 0x6000 is not mapped by the current page tables (CR3)"
        );
    }
}
