//! The debugger's command language: `break`, `watch`, `goto`, `set reg`, `x/16x` and
//! the rest, parsed into `Command`s. Errors name the column (from 1) and what is wrong,
//! with a suggestion for a misspelt command, register, MSR or symbol.
//!
//! Symbols are looked up while parsing (a scenario's symbols do not change while it
//! runs); registers in a value are read when the command runs.

use std::fmt;

use crate::machine::{msr, Machine, Symbols};
use crate::scenario::did_you_mean;

use super::regs::{self, Reg};

/// What is wrong with a command line, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Column of the offending text, counting characters from 1.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One part of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Atom {
    Num(u64),
    /// A symbol, resolved when the command was parsed.
    Sym {
        name: String,
        addr: u64,
    },
    /// A register, read when the command runs.
    Reg(Reg),
}

/// A value: atoms added and subtracted (`sysenter_entry+0x10`, `esp+4`, `0xc0100000`),
/// with 64-bit wrap-around.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// (negated, atom), in order.
    pub terms: Vec<(bool, Atom)>,
    /// The value as it was written.
    pub text: String,
}

impl Expr {
    pub fn number(n: u64) -> Expr {
        Expr {
            terms: vec![(false, Atom::Num(n))],
            text: format!("{n:#x}"),
        }
    }

    pub fn eval(&self, m: &Machine) -> u64 {
        self.terms.iter().fold(0u64, |acc, (neg, atom)| {
            let v = match atom {
                Atom::Num(n) => *n,
                Atom::Sym { addr, .. } => *addr,
                Atom::Reg(r) => r.read(m),
            };
            if *neg {
                acc.wrapping_sub(v)
            } else {
                acc.wrapping_add(v)
            }
        })
    }

    /// True when the value does not depend on registers.
    pub fn is_constant(&self) -> bool {
        !self.terms.iter().any(|(_, a)| matches!(a, Atom::Reg(_)))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Compare as unsigned numbers.
    pub fn holds(self, a: u64, b: u64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// `REG OP VALUE`: a breakpoint's condition, compared unsigned at the register's width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub reg: Reg,
    pub op: CmpOp,
    pub value: Expr,
}

impl Cond {
    pub fn holds(&self, m: &Machine) -> bool {
        self.op.holds(self.reg.read(m), self.value.eval(m))
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.reg, self.op.symbol(), self.value)
    }
}

/// What a watchpoint watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchTarget {
    /// `len` bytes of memory from the value of `addr` (taken when the watch is set).
    Mem {
        addr: Expr,
        len: u64,
    },
    Reg(Reg),
    /// An MSR by index.
    Msr(u32),
}

/// `until cpl` / `until fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Until the CPL differs from the CPL where the run started.
    Cpl,
    /// Until an exception is raised (delivered to a handler, or stopping the run).
    Fault,
}

/// The unit of an `x` dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `x/Nx`: N bytes, hex and ASCII.
    Hex,
    /// `x/Nb`, `x/Nh`, `x/Nw`, `x/Ng`: N units of 1, 2, 4 or 8 bytes, little-endian.
    Byte,
    Half,
    Word,
    Giant,
}

impl Unit {
    pub fn size(self) -> u64 {
        match self {
            Unit::Hex | Unit::Byte => 1,
            Unit::Half => 2,
            Unit::Word => 4,
            Unit::Giant => 8,
        }
    }
    pub fn letter(self) -> char {
        match self {
            Unit::Hex => 'x',
            Unit::Byte => 'b',
            Unit::Half => 'h',
            Unit::Word => 'w',
            Unit::Giant => 'g',
        }
    }
}

/// The largest number of units `x` dumps.
pub const MAX_DUMP_UNITS: u64 = 4096;
/// The largest memory range a watchpoint covers.
pub const MAX_WATCH_LEN: u64 = 4096;
/// Bytes a `watch mem` covers when no length is given.
pub const DEFAULT_WATCH_LEN: u64 = 4;
/// Units `x` dumps when no count is given.
pub const DEFAULT_DUMP_UNITS: u64 = 16;

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Break {
        at: Expr,
        cond: Option<Cond>,
    },
    /// Delete one breakpoint or watchpoint, or all of them.
    Delete(Option<u32>),
    Watch(WatchTarget),
    Until(Until),
    Continue,
    ReverseContinue,
    Step(u64),
    ReverseStep(u64),
    /// Step, running over a `call` until it returns.
    Next,
    Goto(u64),
    SetReg {
        reg: Reg,
        value: Expr,
    },
    Examine {
        count: u64,
        unit: Unit,
        at: Expr,
    },
    InfoBreak,
    InfoRegs,
    InfoTimeline,
    /// The page-table walk of an address (None: CR2 after a #PF, else RIP), and what
    /// the current address space maps.
    Walk(Option<Expr>),
    /// The chain of events behind the last fault stop (issue 14).
    Explain,
    Help,
}

/// The command words, each with its short forms.
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("break", &["b", "br"]),
    ("delete", &["d"]),
    ("watch", &[]),
    ("until", &["u"]),
    ("continue", &["c"]),
    ("reverse-continue", &["rc"]),
    ("step", &["s", "si", "stepi"]),
    ("reverse-step", &["rs"]),
    ("next", &["n", "ni"]),
    ("goto", &[]),
    ("set", &[]),
    ("x", &[]),
    ("info", &["i"]),
    ("walk", &["pt"]),
    ("explain", &[]),
    ("help", &["h"]),
];

/// `info` subjects and their short forms.
pub const INFO_SUBJECTS: &[(&str, &[&str])] = &[
    ("break", &["b", "breakpoints", "watch", "watchpoints"]),
    ("regs", &["r", "registers"]),
    ("timeline", &["t"]),
];

/// A one-line summary of every command, for `help`.
pub const HELP: &[&str] = &[
    "break ADDR|SYMBOL[+OFF] [if REG OP VALUE]   stop before the instruction there (OP: == != < <= > >=)",
    "delete [N]                                  delete breakpoint/watchpoint N, or all",
    "watch mem ADDR[,LEN] | watch REG | watch msr NAME|0x174   stop after a step that changes it",
    "until cpl | until fault                     run until the CPL changes / an exception is raised",
    "continue | reverse-continue                 run forward / back to the next breakpoint or watch hit",
    "step [N] | reverse-step [N] | next          one instruction forward / back; next runs over calls",
    "goto N                                      go to position N (N instructions from the start)",
    "set reg REG VALUE                           change a register here; the run continues from the new state",
    "x/NF ADDR|REG|SYMBOL                        dump N units: x (hex+ASCII bytes), b, h, w, g",
    "info break | info regs | info timeline      list breakpoints, registers, privilege changes and faults",
    "walk [ADDR] (pt)                            page-table walk of ADDR (default: CR2 after a #PF, else RIP)",
    "explain                                     the chain of events behind the last fault stop (#DF, triple fault)",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Num(u64),
    Op(&'static str),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Character column from 1.
    col: usize,
    text: String,
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        column,
        message: message.into(),
    })
}

/// ` (did you mean `x`?)` or nothing.
fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let hint = did_you_mean(word, candidates);
    match hint.strip_prefix("; ") {
        Some(h) => format!(" ({h})"),
        None => String::new(),
    }
}

/// Parse a number: `0x` hex, `0b` binary or decimal, `_` separators allowed.
pub fn parse_number(text: &str) -> Option<u64> {
    number(text).ok()
}

/// A number, or what is wrong with it: too large for 64 bits, or not a number.
fn number(text: &str) -> Result<u64, String> {
    let t = text.replace('_', "");
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (2, b)
    } else {
        (10, t.as_str())
    };
    let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    match u64::from_str_radix(digits, radix) {
        Ok(n) if valid => Ok(n),
        _ if valid => Err(format!(
            "`{text}` is too large (at most 0xffffffffffffffff, 64 bits)"
        )),
        _ => Err(format!(
            "`{text}` is not a number (write hex as 0x1f, or decimal)"
        )),
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '.' | '%' | '$')
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '@')
}

/// Split the arguments (after the command word) into tokens. `start` is the column of
/// `chars[0]`.
fn lex(chars: &[char], start: usize) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = start + i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_word_start(c) {
            let j = (i + 1..chars.len())
                .find(|&j| !is_word_char(chars[j]))
                .unwrap_or(chars.len());
            let text: String = chars[i..j].iter().collect();
            out.push(Token {
                tok: Tok::Word(text.clone()),
                col,
                text,
            });
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let j = (i + 1..chars.len())
                .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_'))
                .unwrap_or(chars.len());
            let text: String = chars[i..j].iter().collect();
            let n = match number(&text) {
                Ok(n) => n,
                Err(message) => return err(col, message),
            };
            out.push(Token {
                tok: Tok::Num(n),
                col,
                text,
            });
            i = j;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = ["==", "!=", "<=", ">="]
            .into_iter()
            .find(|o| *o == two)
            .or_else(|| {
                ["<", ">", "+", "-", ",", "="]
                    .into_iter()
                    .find(|o| o.starts_with(c))
            });
        match op {
            Some(o) => {
                out.push(Token {
                    tok: Tok::Op(o),
                    col,
                    text: o.to_string(),
                });
                i += o.len();
            }
            None => return err(col, format!("unexpected character `{c}`")),
        }
    }
    Ok(out)
}

/// Tokens after the command word, with the column just past the end of the line.
struct Args<'a> {
    toks: Vec<Token>,
    pos: usize,
    end_col: usize,
    symbols: &'a Symbols,
    command: &'a str,
}

impl<'a> Args<'a> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    /// The next token, or an error saying what was expected.
    fn expect(&mut self, what: &str) -> Result<Token, ParseError> {
        match self.next() {
            Some(t) => Ok(t),
            None => err(self.end_col, format!("`{}` needs {what}", self.command)),
        }
    }

    fn word(&mut self, what: &str) -> Result<(String, usize), ParseError> {
        let t = self.expect(what)?;
        match t.tok {
            Tok::Word(w) => Ok((w, t.col)),
            _ => err(t.col, format!("expected {what}, found `{}`", t.text)),
        }
    }

    fn end(&self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => err(
                t.col,
                format!(
                    "unexpected `{}` after the `{}` command",
                    t.text, self.command
                ),
            ),
        }
    }

    fn accept_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Op(o), .. }) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A plain number (a count or a position).
    fn number(&mut self, what: &str) -> Result<u64, ParseError> {
        let t = self.expect(what)?;
        match t.tok {
            Tok::Num(n) => Ok(n),
            _ => err(t.col, format!("expected {what}, found `{}`", t.text)),
        }
    }

    /// A register name.
    fn reg(&mut self, what: &str) -> Result<Reg, ParseError> {
        let (w, col) = self.word(what)?;
        Reg::parse(&w).ok_or_else(|| ParseError {
            column: col,
            message: format!(
                "unknown register `{w}`{}",
                suggestion(w.trim_start_matches(['%', '$']), regs::names())
            ),
        })
    }

    /// One atom of a value.
    fn atom(&mut self, what: &str) -> Result<Atom, ParseError> {
        let t = self.expect(what)?;
        match t.tok {
            Tok::Num(n) => Ok(Atom::Num(n)),
            Tok::Word(w) => {
                let forced_reg = w.starts_with('%') || w.starts_with('$');
                if let Some(r) = Reg::parse(&w) {
                    return Ok(Atom::Reg(r));
                }
                if forced_reg {
                    return err(
                        t.col,
                        format!(
                            "unknown register `{w}`{}",
                            suggestion(&w[1..], regs::names())
                        ),
                    );
                }
                if let Some(addr) = self.symbols.get(&w) {
                    return Ok(Atom::Sym { name: w, addr });
                }
                let mut names: Vec<&str> = self.symbols.names().collect();
                for n in regs::names() {
                    names.push(n);
                }
                err(
                    t.col,
                    format!(
                        "unknown symbol or register `{w}`{}",
                        suggestion(&w, names.iter().copied())
                    ),
                )
            }
            Tok::Op(_) => err(t.col, format!("expected {what}, found `{}`", t.text)),
        }
    }

    /// A value: atoms joined by `+` and `-`.
    fn expr(&mut self, what: &str) -> Result<Expr, ParseError> {
        let first = self.pos;
        let mut terms = Vec::new();
        let neg = self.accept_op("-");
        terms.push((neg, self.atom(what)?));
        loop {
            let neg = if self.accept_op("+") {
                false
            } else if self.accept_op("-") {
                true
            } else {
                break;
            };
            terms.push((neg, self.atom("a value after the sign")?));
        }
        let text = self.toks[first..self.pos]
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join("");
        Ok(Expr { terms, text })
    }

    fn cmp_op(&mut self) -> Result<CmpOp, ParseError> {
        let t = self.expect("a comparison (== != < <= > >=)")?;
        Ok(match t.tok {
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("=") => {
                return err(t.col, "`=` is not a comparison; write `==`");
            }
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            _ => {
                return err(
                    t.col,
                    format!(
                        "expected a comparison (== != < <= > >=), found `{}`",
                        t.text
                    ),
                )
            }
        })
    }
}

/// The full name of a command word or short form.
pub fn command_name(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|(name, short)| *name == w || short.contains(&w.as_str()))
        .map(|(name, _)| *name)
}

fn all_command_words() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .flat_map(|(n, s)| std::iter::once(*n).chain(s.iter().copied()))
}

/// Parse `x`, `x/16`, `x/16x`, `x/4w`, `x/g` (the part after `x`).
fn examine_format(spec: &str, col: usize) -> Result<(u64, Unit), ParseError> {
    let Some(rest) = spec.strip_prefix('/') else {
        return match spec {
            "" => Ok((DEFAULT_DUMP_UNITS, Unit::Hex)),
            _ => err(
                col,
                format!("unknown command `x{spec}`; write `x/16x ADDR`"),
            ),
        };
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let letters = &rest[digits.len()..];
    let count = if digits.is_empty() {
        DEFAULT_DUMP_UNITS
    } else {
        match digits.parse::<u64>() {
            Ok(n) if (1..=MAX_DUMP_UNITS).contains(&n) => n,
            _ => {
                return err(
                    col + 2,
                    format!("count `{digits}` must be between 1 and {MAX_DUMP_UNITS}"),
                )
            }
        }
    };
    let unit = match letters {
        "" | "x" => Unit::Hex,
        "b" => Unit::Byte,
        "h" => Unit::Half,
        "w" => Unit::Word,
        "g" => Unit::Giant,
        _ => {
            return err(
                col + 2 + digits.len(),
                format!(
                    "unknown unit `{letters}`: use x (bytes with ASCII), b (bytes), h (16-bit), w (32-bit) or g (64-bit)"
                ),
            )
        }
    };
    Ok((count, unit))
}

/// Parse one command line. Symbols are resolved against `symbols`.
pub fn parse(line: &str, symbols: &Symbols) -> Result<Command, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let Some(start) = chars.iter().position(|c| !c.is_whitespace()) else {
        return err(1, "empty command; type `help` for the list");
    };
    let word_end = (start..chars.len())
        .find(|&i| chars[i].is_whitespace())
        .unwrap_or(chars.len());
    let word: String = chars[start..word_end].iter().collect();
    let col = start + 1;
    let rest = &chars[word_end..];
    let toks = lex(rest, word_end + 1)?;
    let lower = word.to_ascii_lowercase();
    // `x/16x` carries its format in the command word.
    if lower == "x" || lower.starts_with("x/") {
        let (count, unit) = examine_format(&lower[1..], col)?;
        let mut a = Args {
            toks,
            pos: 0,
            end_col: chars.len() + 1,
            symbols,
            command: "x",
        };
        let at = a.expr("an address, register or symbol")?;
        a.end()?;
        return Ok(Command::Examine { count, unit, at });
    }
    let Some(name) = command_name(&lower) else {
        return err(
            col,
            format!(
                "unknown command `{word}`{}; type `help` for the list",
                suggestion(&lower, all_command_words())
            ),
        );
    };
    let mut a = Args {
        toks,
        pos: 0,
        end_col: chars.len() + 1,
        symbols,
        command: name,
    };
    let cmd = match name {
        "break" => {
            let at = a.expr("an address or symbol")?;
            let cond = match a.peek() {
                Some(Token {
                    tok: Tok::Word(w), ..
                }) if w.eq_ignore_ascii_case("if") => {
                    a.next();
                    let reg = a.reg("a register after `if`")?;
                    let op = a.cmp_op()?;
                    let value = a.expr("a value to compare with")?;
                    Some(Cond { reg, op, value })
                }
                Some(t) => {
                    return err(
                        t.col,
                        format!(
                            "expected `if` or the end of the command, found `{}`",
                            t.text
                        ),
                    )
                }
                None => None,
            };
            Command::Break { at, cond }
        }
        "delete" => match a.peek() {
            None => Command::Delete(None),
            Some(_) => {
                let col = a.col();
                let n = a.number("a breakpoint number")?;
                let n = u32::try_from(n).map_err(|_| ParseError {
                    column: col,
                    message: format!("no breakpoint or watchpoint {n}"),
                })?;
                Command::Delete(Some(n))
            }
        },
        "watch" => parse_watch(&mut a)?,
        "until" => {
            let (w, col) = a.word("`cpl` or `fault`")?;
            match w.to_ascii_lowercase().as_str() {
                "cpl" => Command::Until(Until::Cpl),
                "fault" => Command::Until(Until::Fault),
                _ => {
                    return err(
                        col,
                        format!(
                            "`until {w}`: expected `cpl` or `fault`{}",
                            suggestion(&w, ["cpl", "fault"])
                        ),
                    )
                }
            }
        }
        "continue" => Command::Continue,
        "reverse-continue" => Command::ReverseContinue,
        "step" | "reverse-step" => {
            let n = match a.peek() {
                None => 1,
                Some(_) => {
                    let col = a.col();
                    let n = a.number("a count")?;
                    if n == 0 {
                        return err(col, "the count must be at least 1");
                    }
                    n
                }
            };
            if name == "step" {
                Command::Step(n)
            } else {
                Command::ReverseStep(n)
            }
        }
        "next" => Command::Next,
        "explain" => Command::Explain,
        "walk" => match a.peek() {
            None => Command::Walk(None),
            Some(_) => Command::Walk(Some(a.expr("an address, register or symbol")?)),
        },
        "goto" => Command::Goto(a.number("a position (a step number)")?),
        "set" => {
            let (w, col) = a.word("`reg`")?;
            if !matches!(w.to_ascii_lowercase().as_str(), "reg" | "register" | "r") {
                let hint = if Reg::parse(&w).is_some() {
                    format!(" (write `set reg {w} VALUE`)")
                } else {
                    suggestion(&w, ["reg"])
                };
                return err(
                    col,
                    format!("`set {w}`: expected `set reg REG VALUE`{hint}"),
                );
            }
            let reg = a.reg("a register")?;
            a.accept_op("=");
            let value = a.expr("a value")?;
            Command::SetReg { reg, value }
        }
        "info" => {
            let (w, col) = a.word("`break`, `regs` or `timeline`")?;
            let lw = w.to_ascii_lowercase();
            let subject = INFO_SUBJECTS
                .iter()
                .find(|(n, s)| *n == lw || s.contains(&lw.as_str()))
                .map(|(n, _)| *n);
            match subject {
                Some("break") => Command::InfoBreak,
                Some("regs") => Command::InfoRegs,
                Some("timeline") => Command::InfoTimeline,
                _ => {
                    let words = INFO_SUBJECTS
                        .iter()
                        .flat_map(|(n, s)| std::iter::once(*n).chain(s.iter().copied()));
                    return err(
                        col,
                        format!(
                            "`info {w}`: expected `break`, `regs` or `timeline`{}",
                            suggestion(&lw, words)
                        ),
                    );
                }
            }
        }
        _ => Command::Help,
    };
    a.end()?;
    Ok(cmd)
}

fn parse_watch(a: &mut Args) -> Result<Command, ParseError> {
    let t = a.expect("`mem ADDR[,LEN]`, a register or `msr NAME`")?;
    let word = match &t.tok {
        Tok::Word(w) => w.clone(),
        _ => {
            return err(
                t.col,
                format!(
                    "expected `mem`, a register or `msr`, found `{}` (to watch memory write `watch mem {}`)",
                    t.text, t.text
                ),
            )
        }
    };
    match word.to_ascii_lowercase().as_str() {
        "mem" | "memory" => {
            let addr = a.expr("an address")?;
            let len = if a.accept_op(",") {
                let col = a.col();
                let len = a.number("a length in bytes")?;
                if !(1..=MAX_WATCH_LEN).contains(&len) {
                    return err(
                        col,
                        format!("the length must be between 1 and {MAX_WATCH_LEN} bytes"),
                    );
                }
                len
            } else {
                DEFAULT_WATCH_LEN
            };
            Ok(Command::Watch(WatchTarget::Mem { addr, len }))
        }
        "msr" => {
            let t = a.expect("an MSR name or number")?;
            let index = match &t.tok {
                Tok::Word(w) => msr::by_name(w),
                Tok::Num(n) => u32::try_from(*n).ok().filter(|i| msr::name(*i).is_some()),
                Tok::Op(_) => None,
            };
            match index {
                Some(i) => Ok(Command::Watch(WatchTarget::Msr(i))),
                None => {
                    let names = msr::KNOWN.iter().flat_map(|(_, n)| [*n, &n[5..]]);
                    let known: Vec<String> = msr::KNOWN
                        .iter()
                        .map(|(i, n)| format!("{n} ({i:#x})"))
                        .collect();
                    err(
                        t.col,
                        format!(
                            "unknown MSR `{}`{}; the machine has {}",
                            t.text,
                            suggestion(&t.text, names),
                            known.join(", ")
                        ),
                    )
                }
            }
        }
        _ => match Reg::parse(&word) {
            Some(Reg::Ip) => err(
                t.col,
                "the instruction pointer changes on every step; use `break` to stop at an address",
            ),
            Some(r) => Ok(Command::Watch(WatchTarget::Reg(r))),
            None if a.symbols.get(&word).is_some() => err(
                t.col,
                format!("`{word}` is a symbol; to watch the memory there write `watch mem {word}`"),
            ),
            None => err(
                t.col,
                format!(
                    "unknown register `{word}`{}",
                    suggestion(
                        word.trim_start_matches(['%', '$']),
                        regs::names().chain(["mem", "msr"])
                    )
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Symbols {
        let mut s = Symbols::new();
        s.insert("sysenter_entry", 0xc010_0000);
        s.insert("_start", 0x0804_8000);
        s
    }

    fn p(line: &str) -> Result<Command, ParseError> {
        parse(line, &syms())
    }

    #[test]
    fn breakpoints_with_symbols_offsets_and_conditions() {
        let m = Machine::new();
        match p("break sysenter_entry+0x10 if eax == 20") {
            Ok(Command::Break { at, cond: Some(c) }) => {
                assert_eq!(at.eval(&m), 0xc010_0010);
                assert_eq!(at.text, "sysenter_entry+0x10");
                assert_eq!(c.reg, Reg::parse("eax").unwrap_or(Reg::Ip));
                assert_eq!(c.op, CmpOp::Eq);
                assert_eq!(c.value.eval(&m), 20);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p("b 0x8048000"),
            Ok(Command::Break { cond: None, .. })
        ));
        for (line, op) in [
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            match p(&format!("break _start if cpl {line} 3")) {
                Ok(Command::Break { cond: Some(c), .. }) => assert_eq!(c.op, op),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn errors_name_the_column_and_suggest() {
        let e = p("watch eaz").unwrap_err();
        assert_eq!(e.column, 7);
        assert_eq!(e.message, "unknown register `eaz` (did you mean `eax`?)");
        let e = p("break sysenter_entyr").unwrap_err();
        assert_eq!(e.column, 7);
        assert!(
            e.message.contains("did you mean `sysenter_entry`?"),
            "{}",
            e.message
        );
        let e = p("  brek 1").unwrap_err();
        assert_eq!(e.column, 3);
        assert!(e.message.contains("did you mean `break`?"), "{}", e.message);
        let e = p("break _start if eax = 1").unwrap_err();
        assert_eq!(e.column, 21);
        assert!(e.message.contains("write `==`"));
        let e = p("goto").unwrap_err();
        assert_eq!(e.column, 5);
        let e = p("x/16q esp").unwrap_err();
        assert_eq!(e.column, 5);
        let e = p("watch msr IA32_SYSENTER_CX").unwrap_err();
        assert!(
            e.message.contains("did you mean `IA32_SYSENTER_CS`?"),
            "{}",
            e.message
        );
        let e = p("step 1 2").unwrap_err();
        assert_eq!(e.column, 8);
        let e = p("goto 12z").unwrap_err();
        assert_eq!(e.column, 6);
        assert_eq!(p("").unwrap_err().column, 1);
    }

    #[test]
    fn the_other_commands() {
        assert_eq!(p("c"), Ok(Command::Continue));
        assert_eq!(p("reverse-continue"), Ok(Command::ReverseContinue));
        assert_eq!(p("step 3"), Ok(Command::Step(3)));
        assert_eq!(p("rs"), Ok(Command::ReverseStep(1)));
        assert_eq!(p("goto 17"), Ok(Command::Goto(17)));
        assert_eq!(p("until cpl"), Ok(Command::Until(Until::Cpl)));
        assert_eq!(p("until fault"), Ok(Command::Until(Until::Fault)));
        assert_eq!(p("delete 2"), Ok(Command::Delete(Some(2))));
        assert_eq!(p("delete"), Ok(Command::Delete(None)));
        assert_eq!(p("info regs"), Ok(Command::InfoRegs));
        assert_eq!(
            p("watch msr 0x174"),
            Ok(Command::Watch(WatchTarget::Msr(msr::SYSENTER_CS)))
        );
        assert_eq!(
            p("watch msr sysenter_eip"),
            Ok(Command::Watch(WatchTarget::Msr(msr::SYSENTER_EIP)))
        );
        match p("watch mem esp-4,8") {
            Ok(Command::Watch(WatchTarget::Mem { addr, len })) => {
                assert_eq!(len, 8);
                assert!(!addr.is_constant());
            }
            other => panic!("{other:?}"),
        }
        match p("x/8w %esp") {
            Ok(Command::Examine {
                count: 8,
                unit: Unit::Word,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        match p("x sysenter_entry") {
            Ok(Command::Examine {
                count: 16,
                unit: Unit::Hex,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        match p("set reg eax 0x14") {
            Ok(Command::SetReg { value, .. }) => assert_eq!(value.eval(&Machine::new()), 20),
            other => panic!("{other:?}"),
        }
    }
}
