//! Directives: data, filler, alignment, constants, modes, sections.

use super::error::{did_you_mean, nearest, AsmError, Pos};
use super::expr::Expr;
use super::lexer::{Tok, Token};
use super::macros::Collect;
use super::parse::{data_range, ItemKind, Reader};

pub(super) const DIRECTIVES: [&str; 56] = [
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
    ".if",
    ".ifdef",
    ".ifndef",
    ".else",
    ".endif",
];

impl Reader {
    pub(super) fn directive(
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
}
