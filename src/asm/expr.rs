//! Expressions with GNU as precedence, and their evaluation to linear forms
//! (a constant plus multiples of labels, externals and `.`).
//!
//! Precedence, highest first (binutils gas/expr.c): unary `- ~ ! +`; `* / % << >>`;
//! `| & ^ !` (`a ! b` is a | ~b); `+ -`; `== != <> < <= > >=` (true is -1); `&&`; `||`.
//! Arithmetic is 64-bit two's complement; `>>` is a logical shift, `/` and `%` truncate.
//!
//! An expression nests at most [`MAX_NESTING`] parentheses and unary operators and has at
//! most [`MAX_OPERATORS`] binary operators, so that parsing and evaluating it (both
//! recursive) stay far inside a thread's stack.

/// The deepest nesting of parentheses and unary operators in one expression.
pub const MAX_NESTING: usize = 256;
/// The most binary operators in one expression.
pub const MAX_OPERATORS: usize = 256;

use super::lexer::{Tok, Token};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
    LogNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    Or,
    OrNot,
    Xor,
    And,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogAnd,
    LogOr,
}

impl BinOp {
    fn from_punct(p: &str) -> Option<(BinOp, u8)> {
        Some(match p {
            "*" => (BinOp::Mul, 8),
            "/" => (BinOp::Div, 8),
            "%" => (BinOp::Mod, 8),
            "<<" => (BinOp::Shl, 8),
            ">>" => (BinOp::Shr, 8),
            "|" => (BinOp::Or, 7),
            "!" => (BinOp::OrNot, 7),
            "^" => (BinOp::Xor, 7),
            "&" => (BinOp::And, 7),
            "+" => (BinOp::Add, 5),
            "-" => (BinOp::Sub, 5),
            "==" => (BinOp::Eq, 4),
            "!=" | "<>" => (BinOp::Ne, 4),
            "<" => (BinOp::Lt, 4),
            "<=" => (BinOp::Le, 4),
            ">" => (BinOp::Gt, 4),
            ">=" => (BinOp::Ge, 4),
            "&&" => (BinOp::LogAnd, 3),
            "||" => (BinOp::LogOr, 2),
            _ => return None,
        })
    }
}

/// An expression. Symbol names are final: numeric local labels are already renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Num(i64),
    Sym {
        name: String,
        col: usize,
    },
    Dot {
        col: usize,
    },
    Unary {
        op: UnOp,
        e: Box<Expr>,
    },
    Binary {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
        col: usize,
    },
}

impl Expr {
    /// Levels of nesting: 1 for a number or symbol.
    pub fn height(&self) -> usize {
        match self {
            Expr::Num(_) | Expr::Sym { .. } | Expr::Dot { .. } => 1,
            Expr::Unary { e, .. } => 1 + e.height(),
            Expr::Binary { l, r, .. } => 1 + l.height().max(r.height()),
        }
    }

    /// Visit every symbol name with its column.
    pub fn symbols<'a>(&'a self, f: &mut dyn FnMut(&'a str, usize)) {
        match self {
            Expr::Sym { name, col } => f(name, *col),
            Expr::Unary { e, .. } => e.symbols(f),
            Expr::Binary { l, r, .. } => {
                l.symbols(f);
                r.symbols(f);
            }
            Expr::Num(_) | Expr::Dot { .. } => {}
        }
    }
}

/// Parse an expression from all of `toks`. `numref` names numeric label references.
pub fn parse_expr(
    toks: &[Token],
    end_col: usize,
    numref: &mut dyn FnMut(u64, bool, usize) -> Result<String, (usize, String)>,
) -> Result<Expr, (usize, String)> {
    if toks.is_empty() {
        return Err((end_col, "expected an expression".into()));
    }
    let mut p = Parser {
        toks,
        i: 0,
        end_col,
        numref,
        nesting: 0,
        operators: 0,
    };
    let e = p.binary(0)?;
    if let Some(t) = toks.get(p.i) {
        return Err((
            t.col,
            format!("unexpected {} in expression", describe(&t.tok)),
        ));
    }
    Ok(e)
}

pub fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Num(n) => format!("number {n}"),
        Tok::NumRef(n, f) => format!("`{n}{}`", if *f { 'f' } else { 'b' }),
        Tok::Str(_) => "string".into(),
        Tok::Reg(r) => format!("register `%{r}`"),
        Tok::Punct(p) => format!("`{p}`"),
    }
}

struct Parser<'a, 'b> {
    toks: &'a [Token],
    i: usize,
    end_col: usize,
    numref: &'b mut dyn FnMut(u64, bool, usize) -> Result<String, (usize, String)>,
    /// Open parentheses and unary operators around the current position.
    nesting: usize,
    /// Binary operators so far.
    operators: usize,
}

impl Parser<'_, '_> {
    /// Enter a parenthesis or unary operator at `col`.
    fn nest(&mut self, col: usize) -> Result<(), (usize, String)> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err((
                col,
                format!(
                    "expression nested too deeply (at most {MAX_NESTING} levels of parentheses and unary operators)"
                ),
            ));
        }
        Ok(())
    }

    fn binary(&mut self, min_rank: u8) -> Result<Expr, (usize, String)> {
        let mut lhs = self.unary()?;
        while let Some(Token {
            tok: Tok::Punct(p),
            col,
            ..
        }) = self.toks.get(self.i)
        {
            let Some((op, rank)) = BinOp::from_punct(p) else {
                break;
            };
            if rank <= min_rank {
                break;
            }
            let col = *col;
            self.operators += 1;
            if self.operators > MAX_OPERATORS {
                return Err((
                    col,
                    format!("expression too long (at most {MAX_OPERATORS} operators)"),
                ));
            }
            self.i += 1;
            let rhs = self.binary(rank)?;
            lhs = Expr::Binary {
                op,
                l: Box::new(lhs),
                r: Box::new(rhs),
                col,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, (usize, String)> {
        let Some(t) = self.toks.get(self.i) else {
            let col = self.toks.last().map(|t| t.end).unwrap_or(self.end_col);
            return Err((col, "expression ends too early".into()));
        };
        self.i += 1;
        match &t.tok {
            Tok::Num(n) => Ok(Expr::Num(*n as i64)),
            Tok::NumRef(n, fwd) => Ok(Expr::Sym {
                name: (self.numref)(*n, *fwd, t.col)?,
                col: t.col,
            }),
            Tok::Ident(s) if s == "." => Ok(Expr::Dot { col: t.col }),
            Tok::Ident(s) => Ok(Expr::Sym {
                name: s.clone(),
                col: t.col,
            }),
            Tok::Punct("(") => {
                self.nest(t.col)?;
                let e = self.binary(0)?;
                self.nesting -= 1;
                match self.toks.get(self.i) {
                    Some(Token {
                        tok: Tok::Punct(")"),
                        ..
                    }) => {
                        self.i += 1;
                        Ok(e)
                    }
                    Some(o) => Err((o.col, format!("expected `)`, found {}", describe(&o.tok)))),
                    None => Err((t.col, "`(` is never closed".into())),
                }
            }
            Tok::Punct(p @ ("-" | "~" | "!" | "+")) => {
                self.nest(t.col)?;
                let e = self.unary()?;
                self.nesting -= 1;
                Ok(match *p {
                    "+" => e,
                    "-" => Expr::Unary {
                        op: UnOp::Neg,
                        e: Box::new(e),
                    },
                    "~" => Expr::Unary {
                        op: UnOp::Not,
                        e: Box::new(e),
                    },
                    _ => Expr::Unary {
                        op: UnOp::LogNot,
                        e: Box::new(e),
                    },
                })
            }
            Tok::Reg(r) => Err((
                t.col,
                format!("register `%{r}` cannot be used inside an expression"),
            )),
            Tok::Str(_) => Err((t.col, "a string cannot be used as a number".into())),
            other => Err((
                t.col,
                format!("unexpected {} in expression", describe(other)),
            )),
        }
    }
}

/// A term of a linear form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// A label, by symbol id.
    Label(u32),
    /// A symbol defined nowhere, by symbol id.
    Ext(u32),
    /// The location counter where the expression is evaluated.
    Dot,
}

/// k + sum(coef * term).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lin {
    pub k: i64,
    pub terms: Vec<(Term, i64)>,
}

impl Lin {
    pub fn constant(k: i64) -> Lin {
        Lin {
            k,
            terms: Vec::new(),
        }
    }

    pub fn term(t: Term) -> Lin {
        Lin {
            k: 0,
            terms: vec![(t, 1)],
        }
    }

    pub fn as_const(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.k)
    }

    fn add(mut self, other: Lin, sign: i64) -> Lin {
        self.k = self.k.wrapping_add(other.k.wrapping_mul(sign));
        for (t, c) in other.terms {
            match self.terms.iter_mut().find(|(u, _)| *u == t) {
                Some(e) => e.1 = e.1.wrapping_add(c.wrapping_mul(sign)),
                None => self.terms.push((t, c.wrapping_mul(sign))),
            }
        }
        self.terms.retain(|(_, c)| *c != 0);
        self
    }

    fn scale(mut self, f: i64) -> Lin {
        self.k = self.k.wrapping_mul(f);
        for t in &mut self.terms {
            t.1 = t.1.wrapping_mul(f);
        }
        self.terms.retain(|(_, c)| *c != 0);
        self
    }
}

/// Why an expression has no value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalErr {
    /// Not known at this point (early evaluation only).
    Unknown,
    /// A real error at a column.
    Error(usize, String),
}

/// Symbol lookup for evaluation.
pub trait Env {
    /// The linear form of a symbol.
    fn symbol(&self, name: &str, col: usize) -> Result<Lin, EvalErr>;
    /// Collapse a form with terms into a number (for non-linear operators), if possible.
    fn fold(&self, lin: &Lin, col: usize) -> Result<i64, EvalErr>;
}

pub fn eval(e: &Expr, env: &dyn Env) -> Result<Lin, EvalErr> {
    // Kept small (the work is in other functions): this recurses as deep as the
    // expression nests.
    match e {
        Expr::Num(n) => Ok(Lin::constant(*n)),
        Expr::Sym { name, col } => env.symbol(name, *col),
        Expr::Dot { .. } => Ok(Lin::term(Term::Dot)),
        Expr::Unary { op, e } => unary(*op, eval(e, env)?, env),
        Expr::Binary { op, l, r, col } => binary(*op, eval(l, env)?, eval(r, env)?, *col, env),
    }
}

fn unary(op: UnOp, v: Lin, env: &dyn Env) -> Result<Lin, EvalErr> {
    match op {
        UnOp::Neg => Ok(v.scale(-1)),
        UnOp::Not => Ok(Lin::constant(!konst(v, env, 0)?)),
        UnOp::LogNot => Ok(Lin::constant(i64::from(konst(v, env, 0)? == 0))),
    }
}

/// `a op b`: linear where it can be, else on numbers.
fn binary(op: BinOp, a: Lin, b: Lin, col: usize, env: &dyn Env) -> Result<Lin, EvalErr> {
    match op {
        BinOp::Add => return Ok(a.add(b, 1)),
        BinOp::Sub => return Ok(a.add(b, -1)),
        BinOp::Mul => {
            if let Some(k) = b.as_const() {
                return Ok(a.scale(k));
            }
            if let Some(k) = a.as_const() {
                return Ok(b.scale(k));
            }
        }
        _ => {}
    }
    let x = konst(a, env, col)?;
    let y = konst(b, env, col)?;
    apply(op, x, y)
        .map(Lin::constant)
        .ok_or_else(|| EvalErr::Error(col, "division by zero".into()))
}

/// `x op y` on numbers; None on division by zero.
fn apply(op: BinOp, x: i64, y: i64) -> Option<i64> {
    let t = |c: bool| if c { -1 } else { 0 };
    Some(match op {
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div => x
            .checked_div(y)
            .or_else(|| (y != 0).then(|| x.wrapping_div(y)))?,
        BinOp::Mod => x
            .checked_rem(y)
            .or_else(|| (y != 0).then(|| x.wrapping_rem(y)))?,
        BinOp::Shl if (0..64).contains(&y) => x.wrapping_shl(y as u32),
        BinOp::Shr if (0..64).contains(&y) => ((x as u64) >> y) as i64,
        BinOp::Shl | BinOp::Shr => 0,
        BinOp::Or => x | y,
        BinOp::OrNot => x | !y,
        BinOp::Xor => x ^ y,
        BinOp::And => x & y,
        BinOp::Eq => t(x == y),
        BinOp::Ne => t(x != y),
        BinOp::Lt => t(x < y),
        BinOp::Le => t(x <= y),
        BinOp::Gt => t(x > y),
        BinOp::Ge => t(x >= y),
        BinOp::LogAnd => i64::from(x != 0 && y != 0),
        BinOp::LogOr => i64::from(x != 0 || y != 0),
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
    })
}

fn konst(v: Lin, env: &dyn Env, col: usize) -> Result<i64, EvalErr> {
    match v.as_const() {
        Some(k) => Ok(k),
        None => env.fold(&v, col),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    struct NoSyms;
    impl Env for NoSyms {
        fn symbol(&self, name: &str, col: usize) -> Result<Lin, EvalErr> {
            match name {
                "a" => Ok(Lin::term(Term::Label(0))),
                "b" => Ok(Lin::term(Term::Label(1))),
                _ => Err(EvalErr::Error(col, format!("no {name}"))),
            }
        }
        fn fold(&self, _: &Lin, _: usize) -> Result<i64, EvalErr> {
            Err(EvalErr::Unknown)
        }
    }

    fn val(s: &str) -> Result<Lin, EvalErr> {
        let chars: Vec<char> = s.chars().collect();
        let t = tokenize(&chars, 1).expect("tokens");
        let e = parse_expr(&t, 1, &mut |n, f, _| Ok(format!("{n}{f}"))).expect("parse");
        eval(&e, &NoSyms)
    }

    fn k(s: &str) -> i64 {
        val(s).expect("value").as_const().expect("constant")
    }

    #[test]
    fn gnu_precedence() {
        assert_eq!(k("2 + 3 & 1"), 3);
        assert_eq!(k("1 + 2 == 3"), -1);
        assert_eq!(k("1 < 2"), -1);
        assert_eq!(k("3 && 4"), 1);
        assert_eq!(k("0 || 4"), 1);
        assert_eq!(k("!0"), 1);
        assert_eq!(k("1 ! 2"), 1 | !2);
        assert_eq!(k("-16 >> 2"), 0x3fff_ffff_ffff_fffc);
        assert_eq!(k("8 / -3"), -2);
        assert_eq!(k("-7 % 3"), -1);
        assert_eq!(k("1 + 2 << 3"), 17);
        assert_eq!(k("6 - 2 - 1"), 3);
        assert_eq!(k("(0x0000FFFF & ~0x100)"), 0xfeff);
        assert_eq!(k("4 - 0x2200"), -0x21fc);
        assert_eq!(k("1 <> 2"), -1);
    }

    #[test]
    fn linear_forms() {
        assert_eq!(val("b - a + 4 - b + a").expect("v").as_const(), Some(4));
        let v = val("a + 4").expect("v");
        assert_eq!(v.terms, vec![(Term::Label(0), 1)]);
        assert_eq!(val("a * 2").expect("v").terms, vec![(Term::Label(0), 2)]);
        assert_eq!(val("a & 2"), Err(EvalErr::Unknown));
        assert!(matches!(val("1 / 0"), Err(EvalErr::Error(3, _))));
    }
}
