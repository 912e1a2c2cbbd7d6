//! AT&T operands: `%reg`, `$expr`, `seg:disp(base,index,scale)`, `expr`, with `*` for
//! indirect jumps and calls.

use iced_x86::Register;

use super::expr::{describe, parse_expr, Expr};
use super::lexer::{Tok, Token};
use super::regs;

/// A memory reference (or, for branches, a plain target expression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mem {
    pub seg: Option<Register>,
    pub disp: Option<Expr>,
    pub base: Option<Register>,
    pub index: Option<Register>,
    pub scale: u32,
}

impl Mem {
    /// No base or index register: an absolute address or a branch target.
    pub fn is_absolute(&self) -> bool {
        self.base.is_none() && self.index.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    Reg(Register),
    Imm(Expr),
    Mem(Mem),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    pub kind: OpKind,
    /// Written with `*` (indirect jump/call).
    pub star: bool,
    pub col: usize,
    /// The operand as written, for messages.
    pub text: String,
}

pub type NumRef<'a> = dyn FnMut(u64, bool, usize) -> Result<String, (usize, String)> + 'a;
type PErr = (usize, String);

/// Split tokens at top-level commas.
pub fn split_commas(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::Punct("(") => depth += 1,
            Tok::Punct(")") => depth -= 1,
            Tok::Punct(",") if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&toks[start..]);
    out
}

/// Parse one operand. `line` is the statement text (for the operand's source text),
/// `col0` the column of its first char; `bits` the current code size.
pub fn parse_operand(
    toks: &[Token],
    line: &[char],
    col0: usize,
    bits: u32,
    numref: &mut NumRef,
    konst: &dyn Fn(&Expr) -> Option<i64>,
) -> Result<Operand, PErr> {
    let first = toks.first().ok_or((col0, "missing operand".to_string()))?;
    let last_end = toks.last().map(|t| t.end).unwrap_or(first.col);
    let text: String = line
        .get(first.col - col0..(last_end - col0).min(line.len()))
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    let col = first.col;
    let mut rest = toks;
    let star = matches!(first.tok, Tok::Punct("*"));
    if star {
        rest = &toks[1..];
        if rest.is_empty() {
            return Err((
                col,
                "`*` must be followed by a register or memory operand".into(),
            ));
        }
    }
    let kind = match &rest[0].tok {
        Tok::Punct("$") => {
            if star {
                return Err((col, "`*` cannot be applied to an immediate".into()));
            }
            OpKind::Imm(parse_expr(&rest[1..], rest[0].end, numref)?)
        }
        Tok::Reg(name) if rest.len() == 1 || name == "st" && !is_seg_colon(rest) => {
            OpKind::Reg(register(name, rest, bits)?)
        }
        Tok::Reg(name) if !is_seg_colon(rest) => {
            return Err((
                rest[1].col,
                format!("unexpected {} after `%{name}`", describe(&rest[1].tok)),
            ))
        }
        _ => OpKind::Mem(memory(rest, bits, numref, konst)?),
    };
    Ok(Operand {
        kind,
        star,
        col,
        text,
    })
}

fn is_seg_colon(toks: &[Token]) -> bool {
    matches!(toks.get(1).map(|t| &t.tok), Some(Tok::Punct(":")))
}

/// A register operand; `%st`, `%st(i)` are x87 stack registers.
fn register(name: &str, toks: &[Token], bits: u32) -> Result<Register, PErr> {
    let col = toks[0].col;
    if name == "st" {
        let r = match toks {
            [_] => Register::ST0,
            [_, Token {
                tok: Tok::Punct("("),
                ..
            }, Token {
                tok: Tok::Num(n), ..
            }, Token {
                tok: Tok::Punct(")"),
                ..
            }] if *n < 8 => Register::values()
                .nth(Register::ST0 as usize + *n as usize)
                .unwrap_or(Register::ST0),
            _ => return Err((col, "expected `%st` or `%st(0)` ... `%st(7)`".into())),
        };
        return Ok(r);
    }
    let r = regs::lookup(name).ok_or_else(|| unknown_register(name, col, bits))?;
    if bits != 64 && regs::needs_64(r) {
        return Err((
            col,
            format!("register `%{name}` exists only in 64-bit code (this is .code{bits})"),
        ));
    }
    Ok(r)
}

pub fn unknown_register(name: &str, col: usize, bits: u32) -> PErr {
    let names = regs::names_for(bits);
    let near = super::error::nearest(name, names.iter().copied(), 3);
    let near: Vec<String> = near.iter().map(|n| format!("%{n}")).collect();
    let near: Vec<&str> = near.iter().map(|s| s.as_str()).collect();
    (
        col,
        format!(
            "unknown register `%{name}`{}",
            super::error::did_you_mean(&near)
        ),
    )
}

fn memory(
    toks: &[Token],
    bits: u32,
    numref: &mut NumRef,
    konst: &dyn Fn(&Expr) -> Option<i64>,
) -> Result<Mem, PErr> {
    let mut depth = 0i32;
    for t in toks {
        match t.tok {
            Tok::Punct("(") => depth += 1,
            Tok::Punct(")") => {
                depth -= 1;
                if depth < 0 {
                    return Err((t.col, "`)` without a matching `(`".into()));
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        let open = toks
            .iter()
            .rev()
            .find(|t| t.tok == Tok::Punct("("))
            .map(|t| t.col);
        return Err((open.unwrap_or(toks[0].col), "`(` is never closed".into()));
    }
    let mut toks = toks;
    let mut seg = None;
    if let [Token {
        tok: Tok::Reg(name),
        col,
        ..
    }, Token {
        tok: Tok::Punct(":"),
        end,
        ..
    }, rest @ ..] = toks
    {
        let r = register(name, &toks[..1], bits)?;
        if !r.is_segment_register() {
            return Err((
                *col,
                format!("`%{name}:` is not a segment override; use %cs, %ds, %es, %fs, %gs or %ss"),
            ));
        }
        if rest.is_empty() {
            return Err((
                *end,
                "expected an address after the segment override".into(),
            ));
        }
        seg = Some(r);
        toks = rest;
    }
    if let Some(Token {
        tok: Tok::Reg(name),
        col,
        ..
    }) = toks.first()
    {
        if toks.len() > 1 {
            return Err((
                *col,
                format!("unexpected register `%{name}` here; a memory operand is written disp(base,index,scale)"),
            ));
        }
    }
    // A trailing parenthesised group that starts with a register or comma (or is empty) is
    // the base/index part; otherwise the parentheses belong to the displacement.
    let mut disp_toks = toks;
    let mut base = None;
    let mut index = None;
    let mut scale = 1;
    if let Some(Token {
        tok: Tok::Punct(")"),
        ..
    }) = toks.last()
    {
        let mut depth = 0;
        let mut open = None;
        for i in (0..toks.len()).rev() {
            match toks[i].tok {
                Tok::Punct(")") => depth += 1,
                Tok::Punct("(") => {
                    depth -= 1;
                    if depth == 0 {
                        open = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let open = open.ok_or((toks[toks.len() - 1].col, "unbalanced `)`".to_string()))?;
        let inner = &toks[open + 1..toks.len() - 1];
        let is_regs = matches!(
            inner.first().map(|t| &t.tok),
            None | Some(Tok::Reg(_)) | Some(Tok::Punct(","))
        );
        if is_regs {
            disp_toks = &toks[..open];
            let parts = split_commas(inner);
            if parts.len() > 3 {
                return Err((
                    inner[0].col,
                    "too many commas in a memory operand; expected (base,index,scale)".into(),
                ));
            }
            base = addr_reg(parts[0], toks[open].end, bits, "base")?;
            if let Some(p) = parts.get(1) {
                index = addr_reg(p, toks[open].end, bits, "index")?;
                if index.is_none() && parts.len() == 2 {
                    return Err((toks[open].col, "missing index register after `,`".into()));
                }
            }
            if let Some(p) = parts.get(2) {
                let c = p.first().map(|t| t.col).unwrap_or(toks[toks.len() - 1].col);
                if index.is_none() {
                    return Err((c, "a scale needs an index register".into()));
                }
                if !p.is_empty() {
                    let e = parse_expr(p, c, numref)?;
                    scale = match konst(&e) {
                        Some(v @ (1 | 2 | 4 | 8)) => v as u32,
                        Some(v) => return Err((c, format!("scale must be 1, 2, 4 or 8, not {v}"))),
                        None => return Err((c, "scale must be a constant 1, 2, 4 or 8".into())),
                    };
                }
            }
            if let (Some(b), Some(i)) = (base, index) {
                if b.size() != i.size() && b != Register::RIP && b != Register::EIP {
                    return Err((
                        toks[open].col,
                        format!(
                            "base {} and index {} have different sizes",
                            regs::gas_name(b),
                            regs::gas_name(i)
                        ),
                    ));
                }
            }
            if matches!(base, Some(Register::RIP | Register::EIP)) && index.is_some() {
                return Err((
                    toks[open].col,
                    "%rip-relative addresses cannot have an index".into(),
                ));
            }
        }
    }
    let disp = if disp_toks.is_empty() {
        None
    } else {
        Some(parse_expr(disp_toks, disp_toks[0].col, numref)?)
    };
    if disp.is_none() && base.is_none() && index.is_none() {
        return Err((
            toks.first().map(|t| t.col).unwrap_or(1),
            "empty memory operand".into(),
        ));
    }
    Ok(Mem {
        seg,
        disp,
        base,
        index,
        scale,
    })
}

fn addr_reg(part: &[Token], col: usize, bits: u32, what: &str) -> Result<Option<Register>, PErr> {
    match part {
        [] => Ok(None),
        [Token {
            tok: Tok::Reg(name),
            col,
            ..
        }] => {
            let r = if name == "rip" || name == "eip" {
                if bits != 64 {
                    return Err((
                        *col,
                        format!("`%{name}`-relative addressing exists only in 64-bit code"),
                    ));
                }
                if what == "index" {
                    return Err((*col, format!("`%{name}` cannot be an index register")));
                }
                if name == "rip" {
                    Register::RIP
                } else {
                    Register::EIP
                }
            } else {
                register(name, part, bits)?
            };
            let ok = r.is_gpr32()
                || r.is_gpr64()
                || r == Register::RIP
                || r == Register::EIP
                || (r.is_gpr16() && (bits != 64 || (r == Register::DX && what == "base")));
            if !ok {
                return Err((
                    *col,
                    format!("`%{name}` cannot be used as a {what} register"),
                ));
            }
            if what == "index" && (r == Register::ESP || r == Register::RSP) {
                return Err((*col, format!("`%{name}` cannot be an index register")));
            }
            Ok(Some(r))
        }
        [t, ..] => Err((
            if part.is_empty() { col } else { t.col },
            format!("expected a {what} register, found {}", describe(&t.tok)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn op(s: &str, bits: u32) -> Result<Operand, PErr> {
        let chars: Vec<char> = s.chars().collect();
        let t = tokenize(&chars, 1).expect("tokens");
        parse_operand(
            &t,
            &chars,
            1,
            bits,
            &mut |n, f, _| Ok(format!("{n}{f}")),
            &|e| {
                if let Expr::Num(n) = e {
                    Some(*n)
                } else {
                    None
                }
            },
        )
    }

    #[test]
    fn forms() {
        assert_eq!(
            op("%eax", 32).expect("reg").kind,
            OpKind::Reg(Register::EAX)
        );
        let m = op("%gs:0x10", 32).expect("mem");
        assert!(matches!(
            m.kind,
            OpKind::Mem(Mem {
                seg: Some(Register::GS),
                base: None,
                ..
            })
        ));
        let m = op("*sys_call_table(,%eax,4)", 32).expect("mem");
        assert!(m.star);
        assert!(matches!(
            m.kind,
            OpKind::Mem(Mem {
                index: Some(Register::EAX),
                scale: 4,
                base: None,
                ..
            })
        ));
        let m = op("(4+4)(%ebp)", 32).expect("mem");
        assert!(matches!(
            m.kind,
            OpKind::Mem(Mem {
                base: Some(Register::EBP),
                disp: Some(_),
                ..
            })
        ));
        let m = op("(x+4)", 32).expect("mem");
        assert!(matches!(
            m.kind,
            OpKind::Mem(Mem {
                base: None,
                disp: Some(_),
                ..
            })
        ));
        assert_eq!(m.text, "(x+4)");
        assert!(matches!(op("$-1", 32).expect("imm").kind, OpKind::Imm(_)));
        assert_eq!(
            op("%st(3)", 32).expect("st").kind,
            OpKind::Reg(Register::ST3)
        );
    }

    #[test]
    fn errors() {
        assert!(op("%exa", 32)
            .unwrap_err()
            .1
            .contains("did you mean `%eax`"));
        assert!(op("%rax", 32).unwrap_err().1.contains("64-bit"));
        assert!(op("(%eax,%esp)", 32).unwrap_err().1.contains("index"));
        assert!(op("(%eax,%ebx,3)", 32).unwrap_err().1.contains("scale"));
        assert!(op("%eax:4", 32).unwrap_err().1.contains("segment"));
    }
}
