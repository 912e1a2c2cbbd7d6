//! Choosing the encoding of one instruction from iced-x86's opcode tables.
//!
//! Every `Code` a spelling can mean (see `mnemonic`) is matched against the operands by its
//! `OpCodeOperandKind`s; the survivors are encoded with iced's `Encoder` and the choice is
//! what GNU as makes:
//! - the shortest encoding; among equally long ones the one with the smaller immediate
//!   (`add $1,%ax` is `66 83 c0 01`, not `66 05 01 00`) and then the first in iced's
//!   opcode order, which puts `89 /r` before `8b /r` for `mov %reg,%reg`;
//! - an immediate or displacement whose value is not an absolute constant known at this
//!   point (a label, an external, a later `.set`) gets the full field of the operand size,
//!   never a sign-extended byte, since as emits a relocation there;
//! - without a size suffix or a sizing register, push/pop/call/jmp/ret/iret and friends take
//!   the mode's default operand size; anything else with a memory operand of several possible
//!   sizes is ambiguous;
//! - `jmp`/`jcc` to a direct target may be relaxed (short or near), decided in layout.

use iced_x86::{
    Code, MandatoryPrefix, Mnemonic, OpCodeInfo, OpCodeOperandKind as K, OpKind, Register,
};

use super::bind::{bind_code, Bound0, Ctx, Miss};
use super::diag::{ambiguous, encoder_message, no_form, op_list};
use super::expr::Expr;
use super::mnemonic::{self, is_far, op_bits};
use super::operand::{Mem, OpKind as Ok_, Operand};

pub(super) type PErr = (usize, String);

pub use super::diag::{fmt_val, known_mnemonic, unknown_mnemonic};
pub use super::emit::{build, encode_bytes};

/// A value: known when the instruction was read, or an expression for later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Known(i64),
    Expr(Expr),
}

/// An operand bound to an operand kind of the chosen code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Reg(Register),
    Imm {
        kind: K,
        val: Val,
    },
    Mem {
        seg: Register,
        base: Register,
        index: Register,
        scale: u32,
        disp: Val,
        /// iced's displ_size: 0 none, 1 byte if it fits, 2/4/8 full.
        displ_size: u32,
        /// 16, 32 or 64 (64 also for RIP-relative).
        addr_bits: u32,
    },
    /// `mov moffs`: an absolute address of 4 or 8 bytes.
    Moffs {
        seg: Register,
        addr: Val,
        size: u32,
    },
    Branch {
        kind: K,
        target: Expr,
    },
    Far {
        kind: K,
        sel: Val,
        off: Val,
    },
    /// A string-instruction operand (`%es:(%edi)`), by iced op kind.
    Str {
        kind: OpKind,
        seg: Register,
    },
}

/// A chosen encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub code: Code,
    pub ops: Vec<Bound>,
    /// Prefix bytes written as words (`lock`, `rep`, `data16`, `%gs` prefix words, ...).
    pub prefixes: Vec<u8>,
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Fixed(Choice),
    /// A direct jmp/jcc: rel8 if the target turns out to be close in the same section.
    Relax {
        short: Choice,
        long: Choice,
        target: Expr,
    },
}

/// A prefix written as its own word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    pub byte: u8,
    pub name: String,
    pub col: usize,
}

/// Prefix words GNU as accepts before an instruction.
pub fn prefix_byte(word: &str) -> Option<u8> {
    Some(match word {
        "lock" => 0xf0,
        "rep" | "repe" | "repz" => 0xf3,
        "repne" | "repnz" => 0xf2,
        "data16" | "data32" => 0x66,
        "addr16" | "addr32" => 0x67,
        "cs" => 0x2e,
        "ds" => 0x3e,
        "es" => 0x26,
        "fs" => 0x64,
        "gs" => 0x65,
        "ss" => 0x36,
        _ => return None,
    })
}

pub struct Request<'a> {
    /// Mnemonic as written, lower-cased.
    pub mnemonic: &'a str,
    pub col: usize,
    /// Operands in AT&T order.
    pub ops: &'a [Operand],
    pub prefixes: &'a [Prefix],
    pub bits: u32,
}

/// Early value of an expression: Some if an absolute constant known now.
pub type Early<'a> = dyn Fn(&Expr) -> Result<Option<i64>, PErr> + 'a;

/// Choose the encoding of an instruction.
pub fn select(req: &Request, early: &Early) -> Result<Selected, PErr> {
    let bits = req.bits;
    let name = req.mnemonic;
    let (lookup_name, far) = match name
        .strip_prefix("ljmp")
        .map(|s| ("jmp", s))
        .or_else(|| name.strip_prefix("lcall").map(|s| ("call", s)))
    {
        Some((base, sfx)) if sfx.is_empty() || sfx.len() == 1 => (format!("{base}{sfx}"), true),
        _ => (name.to_string(), false),
    };
    let (lookup_name, movabs) = match lookup_name.strip_prefix("movabs") {
        Some(sfx) if sfx.len() <= 1 => (format!("mov{sfx}"), true),
        _ => (lookup_name, false),
    };
    let all = mnemonic::lookup(&lookup_name);
    if all.is_empty() {
        return Err(unknown_mnemonic(name, req.col, bits, !req.ops.is_empty()));
    }
    let entries: Vec<_> = all
        .iter()
        .filter(|e| {
            let oc = e.code.op_code();
            oc.is_available_in_mode(bits)
                && (is_far(oc) == far || oc.mnemonic() == Mnemonic::Retf)
                && (!movabs
                    || oc
                        .op_kinds()
                        .iter()
                        .any(|&k| matches!(k, K::imm64 | K::mem_offs)))
        })
        .copied()
        .collect();
    if entries.is_empty() {
        let other = if bits == 64 { 32 } else { 64 };
        if all
            .iter()
            .any(|e| e.code.op_code().is_available_in_mode(other))
        {
            return Err((
                req.col,
                format!("`{name}` does not exist in {bits}-bit code (it is {other}-bit only)"),
            ));
        }
        return Err((
            req.col,
            format!("`{name}` has no form taking {}", op_list(req.ops)),
        ));
    }

    // Operands in Intel order. As in GNU as, two immediates (`enter`, `ljmp $sel,$off`)
    // and `bound` keep the order they are written in.
    let mut ops: Vec<&Operand> = req.ops.iter().collect();
    let two_imm = ops.len() == 2 && ops.iter().all(|o| matches!(o.kind, Ok_::Imm(_)));
    let keep_order = two_imm || name.starts_with("bound");
    if !keep_order {
        ops.reverse();
    }
    // imul $imm, %reg  ==  imul $imm, %reg, %reg
    let imul3;
    if entries
        .iter()
        .any(|e| e.code.op_code().mnemonic() == Mnemonic::Imul)
        && ops.len() == 2
        && matches!(ops[1].kind, Ok_::Imm(_))
    {
        imul3 = vec![ops[0], ops[0], ops[1]];
        ops = imul3.to_vec();
    }

    // Early values of immediates and displacements.
    let mut imm_early = Vec::with_capacity(ops.len());
    let mut disp_early = Vec::with_capacity(ops.len());
    for o in &ops {
        let (i, d) = match &o.kind {
            Ok_::Imm(e) => (early(e)?, None),
            Ok_::Mem(Mem { disp: Some(e), .. }) => (None, early(e)?),
            Ok_::Mem(Mem { disp: None, .. }) => (None, Some(0)),
            Ok_::Reg(_) => (None, None),
        };
        imm_early.push(i);
        disp_early.push(d);
    }

    // `int $3` is int3, as GNU as makes it.
    if entries.iter().any(|e| e.code == Code::Int_imm8)
        && imm_early.first() == Some(&Some(3))
        && ops.len() == 1
    {
        let c = trial(Code::Int3, Vec::new(), req.prefixes, bits).map_err(|m| (req.col, m))?;
        return Ok(Selected::Fixed(c));
    }

    let commutative = entries
        .iter()
        .any(|e| matches!(e.code.op_code().mnemonic(), Mnemonic::Xchg | Mnemonic::Test))
        && ops.len() == 2;
    let ctx = Ctx {
        bits,
        movabs,
        early: &imm_early,
        disp_early: &disp_early,
    };

    let mut survivors: Vec<(usize, bool, Bound0)> = Vec::new();
    let mut best_miss = Miss::Count;
    for (ei, e) in entries.iter().enumerate() {
        let orders: &[bool] = if commutative {
            &[false, true]
        } else {
            &[false]
        };
        for &swapped in orders {
            let mut order: Vec<usize> = (0..ops.len()).collect();
            if swapped {
                order.reverse();
            }
            match bind_code(e.code.op_code(), e.suffix, &ops, &order, &ctx, false) {
                Ok(b) => survivors.push((ei, swapped, b)),
                Err(m) => {
                    if m > best_miss {
                        best_miss = m;
                    }
                }
            }
        }
    }
    if survivors.is_empty() {
        return Err(no_form(req, &entries, &ops, &ctx, best_miss));
    }

    // xchg %eax,%eax is not the one-byte nop in 64-bit code (it zero-extends %rax).
    if bits == 64 {
        survivors.retain(|(ei, _, b)| {
            !(entries[*ei].code == Code::Xchg_r32_EAX
                && b.ops.first() == Some(&Bound::Reg(Register::EAX)))
        });
    }

    let suffixed = survivors
        .iter()
        .any(|(ei, _, _)| entries[*ei].suffix.is_some());
    let default_sized = survivors.iter().all(|(ei, _, _)| {
        let oc = entries[*ei].code.op_code();
        oc.is_stack_instruction() || matches!(oc.mnemonic(), Mnemonic::Jmp | Mnemonic::Call)
    });
    if !suffixed && !default_sized {
        let mut sizes: Vec<u32> = survivors
            .iter()
            .filter_map(|(_, _, b)| b.rm_mem_bytes)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.len() > 1 {
            return Err(ambiguous(req, &sizes));
        }
    }
    if !suffixed {
        let mut s: Vec<u32> = survivors
            .iter()
            .map(|(ei, _, _)| op_bits(entries[*ei].code.op_code()))
            .collect();
        s.sort_unstable();
        s.dedup();
        if s.len() > 1 {
            let keep: Vec<_> = survivors
                .iter()
                .filter(|(ei, _, _)| {
                    let oc = entries[*ei].code.op_code();
                    op_bits(oc) == default_bits(oc, bits)
                })
                .cloned()
                .collect();
            if !keep.is_empty() {
                survivors = keep;
            }
        }
    }

    // Encode every survivor and keep the best of each branch width.
    let mut best: Option<(Key, Choice)> = None;
    let mut best_short: Option<(Key, Choice)> = None;
    let mut last_err = String::new();
    for (ei, swapped, b) in survivors {
        let code = entries[ei].code;
        let oc = code.op_code();
        let imm_rank = oc
            .op_kinds()
            .iter()
            .map(|&k| imm_rank(k))
            .max()
            .unwrap_or(0);
        let short_branch = oc
            .op_kinds()
            .iter()
            .any(|&k| matches!(k, K::br16_1 | K::br32_1 | K::br64_1));
        match trial(code, b.ops, req.prefixes, bits) {
            Ok(c) => {
                let key = (c.len, imm_rank, swapped, code as u32);
                let slot = if short_branch && is_relaxable(oc) {
                    &mut best_short
                } else {
                    &mut best
                };
                if slot.as_ref().is_none_or(|(k, _)| key < *k) {
                    *slot = Some((key, c));
                }
            }
            Err(m) => last_err = m,
        }
    }
    if let Some(p) = req.prefixes.iter().find(|p| p.byte == 0xf0) {
        let lockable = best.as_ref().or(best_short.as_ref()).is_some_and(|(_, c)| {
            c.code.op_code().can_use_lock_prefix()
                && c.ops
                    .first()
                    .is_some_and(|o| matches!(o, Bound::Mem { .. }))
        });
        if !lockable {
            return Err((p.col, format!("`lock` cannot be used with `{name}` here (it needs an instruction that writes memory, like add, inc, xchg or cmpxchg with a memory destination)")));
        }
    }
    if let Some((_, c)) = best.as_ref().or(best_short.as_ref()) {
        check_prefixes(req.prefixes, c.code.op_code(), name, bits)?;
    }
    match (best, best_short) {
        (Some((_, long)), Some((_, short))) => {
            let target = match &short.ops[0] {
                Bound::Branch { target, .. } => target.clone(),
                _ => return Err((req.col, "internal error: branch without target".into())),
            };
            Ok(Selected::Relax {
                short,
                long,
                target,
            })
        }
        (Some((_, c)), None) | (None, Some((_, c))) => Ok(Selected::Fixed(c)),
        (None, None) => Err((req.col, encoder_message(name, &last_err))),
    }
}

type Key = (u32, u8, bool, u32);

/// jmp and jcc have both rel8 and rel32 forms; loop and jecxz only rel8.
fn is_relaxable(oc: &OpCodeInfo) -> bool {
    matches!(
        oc.mnemonic(),
        Mnemonic::Jmp
            | Mnemonic::Jo
            | Mnemonic::Jno
            | Mnemonic::Jb
            | Mnemonic::Jae
            | Mnemonic::Je
            | Mnemonic::Jne
            | Mnemonic::Jbe
            | Mnemonic::Ja
            | Mnemonic::Js
            | Mnemonic::Jns
            | Mnemonic::Jp
            | Mnemonic::Jnp
            | Mnemonic::Jl
            | Mnemonic::Jge
            | Mnemonic::Jle
            | Mnemonic::Jg
    )
}

pub(super) fn default_bits(oc: &OpCodeInfo, bits: u32) -> u32 {
    if bits == 64 && (oc.default_op_size64() || oc.force_op_size64()) {
        64
    } else {
        32
    }
}

pub(super) fn imm_rank(k: K) -> u8 {
    match k {
        K::imm8 | K::imm8_const_1 | K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => 1,
        K::imm16 => 2,
        K::imm32 | K::imm32sex64 => 3,
        K::imm64 => 4,
        _ => 0,
    }
}

/// Encode once with placeholder values to learn the length.
fn trial(code: Code, ops: Vec<Bound>, prefixes: &[Prefix], bits: u32) -> Result<Choice, String> {
    let mut c = Choice {
        code,
        ops,
        prefixes: prefixes.iter().map(|p| p.byte).collect(),
        len: 0,
    };
    let ins = build(&c, &|v| match v {
        Val::Known(k) => Ok(*k),
        Val::Expr(_) => Ok(0),
    })?;
    let bytes = encode_bytes(&ins, &c.prefixes, bits, 0)?;
    c.len = bytes.len() as u32;
    Ok(c)
}

/// Prefix words GNU as refuses with this instruction or in this mode.
fn check_prefixes(prefixes: &[Prefix], oc: &OpCodeInfo, name: &str, bits: u32) -> Result<(), PErr> {
    for p in prefixes {
        let w = p.name.as_str();
        match w {
            "data32" | "addr32" if bits == 32 => {
                return Err((
                    p.col,
                    format!("redundant `{w}` prefix: 32 bits is already the default in .code32"),
                ));
            }
            "data32" if bits == 64 => {
                return Err((p.col, "`data32` is not supported in 64-bit code".into()));
            }
            "addr16" if bits == 64 => {
                return Err((p.col, "`addr16` is not supported in 64-bit code".into()));
            }
            "data16"
                if oc.operand_size() == 16 || oc.mandatory_prefix() == MandatoryPrefix::P66 =>
            {
                return Err((
                    p.col,
                    format!("`data16` used twice: `{name}` already has a 16-bit operand size"),
                ));
            }
            "rep" | "repe" | "repz" | "repne" | "repnz" => {
                let ok = oc.can_use_rep_prefix()
                    || oc.can_use_repne_prefix()
                    || matches!(oc.mnemonic(), Mnemonic::Ret | Mnemonic::Nop);
                if !ok {
                    return Err((p.col, format!("`{w}` cannot be used with `{name}` (only with string instructions such as movs, stos, lods, cmps and scas)")));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
