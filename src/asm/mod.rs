//! A GNU-as-compatible assembler for AT&T syntax x86 code, encoding with iced-x86.
//!
//! Lessons carry their code as `.S`-style text; [`layout`] reads all of it (labels are
//! shared between sections) and fixes every size and address, [`Layout::encode`] produces
//! the bytes once the values of symbols defined elsewhere are known. The encodings are
//! chosen from iced-x86's opcode tables to be the ones GNU as picks; see docs/assembler.md.

mod bind;
mod cond;
mod diag;
mod directives;
mod emit;
mod encode;
mod error;
mod expr;
mod layout;
mod lexer;
mod macros;
mod mnemonic;
mod nops;
mod operand;
mod parse;
mod regs;
mod select;
mod symbols;

pub use error::AsmError;
pub use expr::{MAX_NESTING as MAX_EXPR_NESTING, MAX_OPERATORS as MAX_EXPR_OPERATORS};
pub use macros::{
    MAX_DEPTH as MAX_MACRO_DEPTH, MAX_EXPANDED_CHARS as MAX_MACRO_EXPANDED_CHARS,
    MAX_EXPANSIONS as MAX_MACRO_EXPANSIONS,
};
pub use symbols::MAX_SET_LEVELS;

use expr::Term;
use parse::{ItemKind, Program};
use symbols::{Externals, SetStack, SymDef};

/// One piece of source text and the address its code is placed at.
#[derive(Debug, Clone, Copy)]
pub struct SourceSection<'a> {
    pub name: &'a str,
    pub base: u64,
    pub text: &'a str,
}

/// Sizes and addresses of assembled sections, ready to be encoded.
#[derive(Debug, Clone)]
pub struct Layout {
    prog: Program,
    placed: layout::Placed,
    labels: Vec<(String, u64)>,
    constants: Vec<(String, i64)>,
    externals: Vec<String>,
}

/// The bytes of one section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub base: u64,
    pub bytes: Vec<u8>,
    /// One per instruction or data directive (or alignment padding), in address order.
    pub lines: Vec<LineInfo>,
}

/// Where a statement's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub addr: u64,
    pub len: u32,
    /// 1-based line within the section text (for macro expansions: the invocation).
    pub line: usize,
    pub is_code: bool,
    /// The code size the statement was assembled for (32 or 64: `.code32`/`.code64`).
    pub bits: u32,
}

/// Assemble all sections together: labels are shared across sections (a label in one
/// section may be used in another). `bits` is 32 or 64 (the initial .code).
pub fn layout(sections: &[SourceSection], bits: u32) -> Result<Layout, AsmError> {
    let prog = parse::read(sections, bits)?;
    let placed = layout::place(&prog)?;
    let mut labels = Vec::new();
    let mut set_order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for sec in &prog.secs {
        for item in &sec.items {
            match item.kind {
                ItemKind::Label(id) => {
                    let s = prog.syms.sym(id);
                    if !s.hidden {
                        labels.push((
                            parse::shown_name(&s.name).to_string(),
                            placed.label_addr[id as usize],
                        ));
                    }
                }
                ItemKind::SetPoint(id) if seen.insert(id) => set_order.push(id),
                _ => {}
            }
        }
    }
    let depth = SetStack::default();
    let mut constants = Vec::new();
    for id in set_order {
        let s = prog.syms.sym(id);
        let SymDef::Set(defs) = &s.def else {
            continue;
        };
        let Some(d) = defs.last() else {
            continue;
        };
        let dot = placed.addr_of(d.sec, d.item);
        let env = layout::late(&prog, &placed, dot, d.seq, &Externals::Keep, &depth);
        let Ok(lin) = env.lin(&d.expr) else {
            continue;
        };
        // Absolute: no externals, and labels (and `.`) cancel within each section.
        let mut per_sec: Vec<(usize, i64)> = Vec::new();
        let mut absolute = true;
        for &(t, c) in &lin.terms {
            let sec = match t {
                Term::Dot => d.sec,
                Term::Label(l) => match prog.syms.sym(l).def {
                    SymDef::Label { sec, .. } => sec,
                    _ => {
                        absolute = false;
                        break;
                    }
                },
                Term::Ext(_) => {
                    absolute = false;
                    break;
                }
            };
            match per_sec.iter_mut().find(|x| x.0 == sec) {
                Some(x) => x.1 = x.1.wrapping_add(c),
                None => per_sec.push((sec, c)),
            }
        }
        if !absolute || per_sec.iter().any(|x| x.1 != 0) {
            continue;
        }
        if let Ok(v) = env.value(&d.expr) {
            constants.push((parse::shown_name(&s.name).to_string(), v));
        }
    }
    let externals = prog
        .syms
        .uses
        .iter()
        .filter(|(id, _)| matches!(prog.syms.sym(*id).def, SymDef::None))
        .map(|(id, _)| prog.syms.sym(*id).name.clone())
        .collect();
    Ok(Layout {
        prog,
        placed,
        labels,
        constants,
        externals,
    })
}

impl Layout {
    /// Every label (incl. .L and the lesson's own names; not numeric 1: labels) with its
    /// address, in definition order.
    pub fn labels(&self) -> &[(String, u64)] {
        &self.labels
    }

    /// `.set`/`.equ`/`=` constants that evaluated to absolute numbers.
    pub fn constants(&self) -> &[(String, i64)] {
        &self.constants
    }

    /// Symbols used but defined in no section, in first-use order (callers resolve them).
    pub fn externals(&self) -> &[String] {
        &self.externals
    }

    /// Final bytes. `resolve` gives the value of external symbols; an unresolved one is an
    /// AsmError at its first use, with a did-you-mean among labels/constants/`known` names.
    pub fn encode(
        &self,
        resolve: &dyn Fn(&str) -> Option<u64>,
        known: &[&str],
    ) -> Result<Vec<Assembled>, AsmError> {
        // Report unresolved externals at their first use, in order.
        for (id, pos) in &self.prog.syms.uses {
            let s = self.prog.syms.sym(*id);
            if matches!(s.def, SymDef::None) && resolve(&s.name).is_none() {
                let mut names = self.prog.syms.defined_names();
                names.extend(known.iter().copied());
                let near = error::nearest(&s.name, names, 3);
                return Err(pos.error(format!(
                    "undefined symbol `{}`{}",
                    s.name,
                    error::did_you_mean(&near)
                )));
            }
        }
        encode::encode(&self.prog, &self.placed, resolve, known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm(text: &str, bits: u32) -> Vec<u8> {
        let s = SourceSection {
            name: "t",
            base: 0x1000,
            text,
        };
        let l = layout(&[s], bits).unwrap_or_else(|e| panic!("{text}: {e}"));
        let out = l
            .encode(&|_| Some(0x2000), &[])
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        out.into_iter().next().map(|a| a.bytes).unwrap_or_default()
    }

    fn hex(text: &str, bits: u32) -> String {
        asm(text, bits)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The choices GNU as makes (checked against `as` by tests/asm_gas_parity.rs; here so
    /// they are tested without binutils too).
    #[test]
    fn gnu_as_choices() {
        let cases: &[(&str, u32, &str)] = &[
            ("mov %esp,%ebp", 32, "89 e5"),
            ("add $1,%eax", 32, "83 c0 01"),
            ("add $0x1000,%eax", 32, "05 00 10 00 00"),
            ("add $1,%ax", 32, "66 83 c0 01"),
            ("add $1,%al", 32, "04 01"),
            ("push $0x7b", 32, "6a 7b"),
            ("push $0x1234", 32, "68 34 12 00 00"),
            ("mov $5,%ecx", 32, "b9 05 00 00 00"),
            ("inc %eax", 32, "40"),
            ("inc %eax", 64, "ff c0"),
            ("shl %eax", 32, "d1 e0"),
            ("shl $1,%eax", 32, "d1 e0"),
            ("movl 4(%eax),%ebx", 32, "8b 58 04"),
            ("movl 0x100(%eax),%ebx", 32, "8b 98 00 01 00 00"),
            ("movl (%ebp),%ebx", 32, "8b 5d 00"),
            ("movl (%esp),%ebx", 32, "8b 1c 24"),
            ("call *%gs:0x10", 32, "65 ff 15 10 00 00 00"),
            ("call *0xc0302000(,%eax,4)", 32, "ff 14 85 00 20 30 c0"),
            ("int $3", 32, "cc"),
            ("int $0x80", 32, "cd 80"),
            ("movl %ds:(%eax),%ebx", 32, "8b 18"),
            ("movl %ss:(%eax),%ebx", 32, "36 8b 18"),
            ("mov %ax,%ds", 32, "8e d8"),
            ("mov %ds,%ax", 32, "66 8c d8"),
            ("lock incw (%eax)", 32, "66 f0 ff 00"),
            ("rep movsl", 32, "f3 a5"),
            ("sysretq", 64, "48 0f 07"),
            ("sysret", 64, "0f 07"),
            ("iret", 64, "cf"),
            ("pushf", 64, "9c"),
            ("mov $1,%rax", 64, "48 c7 c0 01 00 00 00"),
            ("mov $0x80000000,%rax", 64, "48 b8 00 00 00 80 00 00 00 00"),
            ("xchg %eax,%eax", 64, "87 c0"),
            ("xchg %eax,%eax", 32, "90"),
            ("movq 8(%rip),%rax", 64, "48 8b 05 08 00 00 00"),
            ("addl $ext,%eax", 32, "05 00 20 00 00"),
            ("pushl $ext", 32, "68 00 20 00 00"),
            ("movl ext(%eax),%ebx", 32, "8b 98 00 20 00 00"),
        ];
        for (text, bits, want) in cases {
            assert_eq!(hex(text, *bits), *want, "{text} ({bits}-bit)");
        }
    }

    #[test]
    fn jumps_relax_like_gnu_as() {
        assert_eq!(hex("1: jmp 1b", 32), "eb fe");
        assert_eq!(hex("jmp 1f\n.space 127\n1:", 32).len(), (2 + 127) * 3 - 1);
        assert_eq!(
            &asm("jmp 1f\n.space 128\n1:", 32)[..5],
            &[0xe9, 0x80, 0, 0, 0]
        );
        assert_eq!(&asm("jne 1f\n.space 128\n1:", 32)[..2], &[0x0f, 0x85]);
        // Not in this section: always rel32.
        assert_eq!(&asm("jmp ext", 32)[..1], &[0xe9]);
        // A constant defined before use is sized by value, a later one is not.
        assert_eq!(hex(".equ K, 1\naddl $K, %eax", 32), "83 c0 01");
        assert_eq!(hex("addl $K, %eax\n.equ K, 1", 32), "05 01 00 00 00");
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;

    /// Inputs at the edges of arithmetic and sizes give errors or bytes, never a panic.
    #[test]
    fn edge_values_do_not_panic() {
        let texts = [
            "x: .long x*0x7fffffffffffffff + x*0x7fffffffffffffff - x",
            "x: y: movl $(x*0x7fffffffffffffff - y*0x7fffffffffffffff), %eax",
            ".space 0xffffffffffffffff",
            ".space -1",
            ".fill 0x7fffffffffffffff, 8, 1",
            ".align 0x40000000",
            ".p2align 63",
            ".org 0xffffffffffffffff",
            "x: .space x",
            ".quad -0x8000000000000000 / -1, -0x8000000000000000 % -1",
            ".long 1 << 64, 1 << -1, 1 >> 99",
            "movl 0xffffffffffffffff(%eax), %ebx",
            "jmp 0xffffffffffffffff",
            ".set a, b\n.set b, a\nmovl $a, %eax",
            ".rept 100000\n.rept 100000\nnop\n.endr\n.endr",
            ".macro m\nm\n.endm\nm",
            "movl $'\\777', %eax",
            "\"",
            "'",
            "%",
            "movl %st(9), %eax",
        ];
        for bits in [32, 64] {
            for t in texts {
                let s = SourceSection {
                    name: "t",
                    base: 0xffff_ffff_ffff_f000,
                    text: t,
                };
                if let Ok(l) = layout(&[s], bits) {
                    let _ = l.encode(&|_| Some(u64::MAX), &[]);
                }
            }
        }
    }
}
