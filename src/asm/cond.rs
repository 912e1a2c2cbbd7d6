//! Conditional assembly: `.ifdef NAME`, `.ifndef NAME`, `.if EXPR`, `.else`, `.endif`,
//! as GNU as reads them (binutils `as` manual, "7.48 .if absolute expression").
//!
//! The conditions nest at most [`MAX_NESTING`] deep. `.ifdef` asks whether a label or a
//! constant is defined at this point of the source (GNU as's one pass reads it the same
//! way); a `--defsym NAME=VALUE` given to `ringstep asm` counts as defined from the first
//! line. `.if` takes an expression whose value is known where it stands; non-zero
//! assembles the following lines. Lines inside a branch not taken are skipped unread,
//! except that conditionals in them are counted so that `.endif` closes the right one.

use super::error::{AsmError, Pos};
use super::lexer::{Tok, Token};
use super::parse::Reader;
use super::symbols::SymDef;

/// The deepest nesting of `.if` blocks.
pub const MAX_NESTING: usize = 64;

/// One open `.if` block.
pub(super) struct Cond {
    /// Whether the enclosing block is assembling (else this whole block is skipped).
    outer: bool,
    /// Whether the current branch is assembling.
    on: bool,
    /// Whether `.else` was seen.
    in_else: bool,
    pos: Pos,
}

/// The conditional directives.
const CONDITIONALS: [&str; 5] = [".if", ".ifdef", ".ifndef", ".else", ".endif"];

impl Reader {
    /// Whether lines are being assembled (no enclosing branch is off).
    pub(super) fn assembling(&self) -> bool {
        self.conds.last().is_none_or(|c| c.on)
    }

    /// A conditional directive, or any statement while a branch is off: handle it and
    /// say true; false for an ordinary statement to assemble.
    pub(super) fn conditional(&mut self, toks: &[Token], pos: Pos) -> Result<bool, AsmError> {
        let name = match toks.first().map(|t| &t.tok) {
            Some(Tok::Ident(n)) => n.to_ascii_lowercase(),
            _ => return Ok(!self.assembling()),
        };
        if !CONDITIONALS.contains(&name.as_str()) {
            return Ok(!self.assembling());
        }
        let d = &toks[0];
        match name.as_str() {
            ".else" => {
                let Some(c) = self.conds.last_mut() else {
                    return Err(self.err(pos, d.col, "`.else` without `.if`"));
                };
                if c.in_else {
                    return Err(self.err(pos, d.col, "a second `.else` for the same `.if`"));
                }
                c.in_else = true;
                c.on = c.outer && !c.on;
            }
            ".endif" => {
                if self.conds.pop().is_none() {
                    return Err(self.err(pos, d.col, "`.endif` without `.if`"));
                }
            }
            _ => self.open_if(&name, toks, pos)?,
        }
        Ok(true)
    }

    fn open_if(&mut self, name: &str, toks: &[Token], pos: Pos) -> Result<(), AsmError> {
        let d = &toks[0];
        if self.conds.len() >= MAX_NESTING {
            return Err(self.err(
                pos,
                d.col,
                format!("conditionals nest more than {MAX_NESTING} deep"),
            ));
        }
        let outer = self.assembling();
        // In a skipped block the condition is not even read.
        let on = outer && self.holds(name, toks, pos)?;
        self.conds.push(Cond {
            outer,
            on,
            in_else: false,
            pos,
        });
        Ok(())
    }

    /// The truth of `.ifdef NAME`, `.ifndef NAME` or `.if EXPR`.
    fn holds(&mut self, name: &str, toks: &[Token], pos: Pos) -> Result<bool, AsmError> {
        let d = &toks[0];
        if name == ".if" {
            if toks.len() < 2 {
                return Err(self.err(pos, d.end, "`.if` needs an expression"));
            }
            return Ok(self.const_expr(&toks[1..], d.end, pos, "the `.if` condition")? != 0);
        }
        let sym = match &toks[1..] {
            [Token {
                tok: Tok::Ident(s), ..
            }] => s.clone(),
            _ => return Err(self.err(pos, d.end, format!("`{name}` needs one symbol name"))),
        };
        let defined = self
            .prog
            .syms
            .get(&sym)
            .is_some_and(|id| !matches!(self.prog.syms.sym(id).def, SymDef::None));
        Ok(defined == (name == ".ifdef"))
    }

    /// At the end of a section: every `.if` must be closed.
    pub(super) fn check_conds_closed(&mut self) -> Result<(), AsmError> {
        match self.conds.first() {
            Some(c) => {
                let pos = c.pos;
                self.conds.clear();
                Err(pos.error("`.if` is never closed (missing `.endif`)"))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::asm::{layout, SourceSection};

    fn bytes(text: &str) -> Result<Vec<u8>, String> {
        let s = SourceSection {
            name: "t",
            base: 0x1000,
            text,
        };
        let l = layout(&[s], 32).map_err(|e| e.to_string())?;
        let out = l.encode(&|_| None, &[]).map_err(|e| e.to_string())?;
        Ok(out.into_iter().next().map(|a| a.bytes).unwrap_or_default())
    }

    #[test]
    fn ifdef_ifndef_if_and_else_choose_the_branch() {
        let src = ".set A, 1\n.ifdef A\n.byte 1\n.else\n.byte 2\n.endif\n\
                   .ifndef B\n.byte 3\n.endif\n.ifdef B\n.byte 4\n.endif\n\
                   .if A - 1\n.byte 5\n.else\n.byte 6\n.endif\n";
        assert_eq!(bytes(src).unwrap(), [1, 3, 6]);
        // A label defined before counts; nested blocks inside a skipped one are skipped.
        let src = "l: nop\n.ifdef l\n.ifdef zz\n.byte 7\n.else\n.byte 8\n.endif\n.else\n\
                   .if 1\n.byte 9\n.endif\n.endif\n";
        assert_eq!(bytes(src).unwrap(), [0x90, 8]);
    }

    #[test]
    fn skipped_lines_are_not_read_and_unbalanced_blocks_are_errors() {
        assert_eq!(
            bytes(".ifdef X\n this is } not @ assembly\n.endif\n").unwrap(),
            Vec::<u8>::new()
        );
        let e = bytes(".ifdef X\nnop\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("never closed"), "{e}");
        assert!(bytes(".endif\n").unwrap_err().contains("without `.if`"));
        assert!(bytes(".else\n").unwrap_err().contains("without `.if`"));
        let e = bytes(".if 1\n.else\n.else\n.endif\n").unwrap_err();
        assert!(e.contains("second `.else`"), "{e}");
        assert!(bytes(".if later\n.endif\nlater: nop\n").is_err());
        assert!(bytes(".ifdef\n.endif\n")
            .unwrap_err()
            .contains("one symbol"));
        let deep = ".if 1\n".repeat(super::MAX_NESTING + 1);
        assert!(bytes(&deep).unwrap_err().contains("nest more than"));
    }
}
