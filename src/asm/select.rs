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
    Code, Encoder, Instruction, InstructionInfoFactory, MandatoryPrefix, Mnemonic, OpAccess,
    OpCodeInfo, OpCodeOperandKind as K, OpKind, Register,
};

use super::error::{did_you_mean, nearest};
use super::expr::Expr;
use super::mnemonic::{self, int_mem_bytes, is_far, is_implicit_kind, is_string_kind, op_bits};
use super::operand::{Mem, OpKind as Ok_, Operand};
use super::regs;

type PErr = (usize, String);

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

/// Why a code did not fit the operands, most specific last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Miss {
    Count,
    Shape,
    Size,
    Range(String, usize),
}

struct Ctx<'a> {
    bits: u32,
    movabs: bool,
    early: &'a [Option<i64>],
    disp_early: &'a [Option<i64>],
}

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
        return Err(unknown_mnemonic(name, req.col, bits));
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

fn default_bits(oc: &OpCodeInfo, bits: u32) -> u32 {
    if bits == 64 && (oc.default_op_size64() || oc.force_op_size64()) {
        64
    } else {
        32
    }
}

fn imm_rank(k: K) -> u8 {
    match k {
        K::imm8 | K::imm8_const_1 | K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => 1,
        K::imm16 => 2,
        K::imm32 | K::imm32sex64 => 3,
        K::imm64 => 4,
        _ => 0,
    }
}

/// Bound operands plus what the ambiguity check needs.
#[derive(Debug, Clone)]
struct Bound0 {
    ops: Vec<Bound>,
    /// Size of a memory operand bound to an r/m kind, if any.
    rm_mem_bytes: Option<u32>,
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

/// Encode an instruction at `ip` and put the prefix words in GNU as order:
/// segment, address size, operand size, rep, lock, then the rest.
pub fn encode_bytes(ins: &Instruction, user: &[u8], bits: u32, ip: u64) -> Result<Vec<u8>, String> {
    let mut enc = Encoder::new(bits);
    enc.encode(ins, ip).map_err(|e| e.to_string())?;
    let raw = enc.take_buffer();
    let mut seg = None;
    let mut p67 = false;
    let mut p66 = false;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => seg = Some(raw[i]),
            0x66 => p66 = true,
            0x67 => p67 = true,
            _ => break,
        }
        i += 1;
    }
    let mut rep = None;
    let mut lock = false;
    for &b in user {
        match b {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => {
                if seg.is_some_and(|s| s != b) {
                    return Err("two different segment prefixes".into());
                }
                seg = Some(b);
            }
            0x66 => p66 = true,
            0x67 => p67 = true,
            0xf2 | 0xf3 => {
                if rep.is_some_and(|r| r != b) {
                    return Err("both rep and repne".into());
                }
                rep = Some(b);
            }
            0xf0 => lock = true,
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(raw.len() + user.len());
    out.extend(seg);
    if p67 {
        out.push(0x67);
    }
    if p66 {
        out.push(0x66);
    }
    out.extend(rep);
    if lock {
        out.push(0xf0);
    }
    out.extend_from_slice(&raw[i..]);
    Ok(out)
}

/// Build the iced instruction for a choice; `val` gives the value of each operand value.
pub fn build(c: &Choice, val: &dyn Fn(&Val) -> Result<i64, String>) -> Result<Instruction, String> {
    let mut ins = Instruction::default();
    ins.set_code(c.code);
    let mut prev_imm = false;
    for (i, b) in c.ops.iter().enumerate() {
        let i = i as u32;
        match b {
            Bound::Reg(r) => {
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, *r);
                prev_imm = false;
            }
            Bound::Imm { kind, val: v } => {
                let v = val(v)?;
                let (ok, k) = match kind {
                    K::imm8 | K::imm8_const_1 => {
                        if prev_imm {
                            ins.set_immediate8_2nd(v as u8);
                            (true, OpKind::Immediate8_2nd)
                        } else {
                            ins.set_immediate8(v as u8);
                            (true, OpKind::Immediate8)
                        }
                    }
                    K::imm8sex16 => {
                        ins.set_immediate8to16(v as i8 as i16);
                        (true, OpKind::Immediate8to16)
                    }
                    K::imm8sex32 => {
                        ins.set_immediate8to32(v as i8 as i32);
                        (true, OpKind::Immediate8to32)
                    }
                    K::imm8sex64 => {
                        ins.set_immediate8to64(v as i8 as i64);
                        (true, OpKind::Immediate8to64)
                    }
                    K::imm16 => {
                        ins.set_immediate16(v as u16);
                        (true, OpKind::Immediate16)
                    }
                    K::imm32 => {
                        ins.set_immediate32(v as u32);
                        (true, OpKind::Immediate32)
                    }
                    K::imm32sex64 => {
                        ins.set_immediate32to64(v as i32 as i64);
                        (true, OpKind::Immediate32to64)
                    }
                    K::imm64 => {
                        ins.set_immediate64(v as u64);
                        (true, OpKind::Immediate64)
                    }
                    _ => (false, OpKind::Immediate8),
                };
                if !ok {
                    return Err(format!("internal error: immediate kind {kind:?}"));
                }
                ins.set_op_kind(i, k);
                prev_imm = true;
            }
            Bound::Mem {
                seg,
                base,
                index,
                scale,
                disp,
                displ_size,
                ..
            } => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(*base);
                ins.set_memory_index(*index);
                ins.set_memory_index_scale(*scale);
                ins.set_memory_displ_size(*displ_size);
                ins.set_memory_displacement64(val(disp)? as u64);
                ins.set_segment_prefix(*seg);
                prev_imm = false;
            }
            Bound::Moffs { seg, addr, size } => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_displ_size(*size);
                ins.set_memory_displacement64(val(addr)? as u64);
                ins.set_segment_prefix(*seg);
                prev_imm = false;
            }
            Bound::Branch { kind, target } => {
                let t = val(&Val::Expr(target.clone()))? as u64;
                match kind {
                    K::br16_1 | K::br16_2 => {
                        ins.set_op_kind(i, OpKind::NearBranch16);
                        ins.set_near_branch16(t as u16);
                    }
                    K::br32_1 | K::br32_4 => {
                        ins.set_op_kind(i, OpKind::NearBranch32);
                        ins.set_near_branch32(t as u32);
                    }
                    _ => {
                        ins.set_op_kind(i, OpKind::NearBranch64);
                        ins.set_near_branch64(t);
                    }
                }
                prev_imm = false;
            }
            Bound::Far { kind, sel, off } => {
                let s = val(sel)?;
                let o = val(off)?;
                ins.set_far_branch_selector(s as u16);
                if *kind == K::farbr2_2 {
                    ins.set_op_kind(i, OpKind::FarBranch16);
                    ins.set_far_branch16(o as u16);
                } else {
                    ins.set_op_kind(i, OpKind::FarBranch32);
                    ins.set_far_branch32(o as u32);
                }
                prev_imm = false;
            }
            Bound::Str { kind, seg } => {
                ins.set_op_kind(i, *kind);
                if *seg != Register::None {
                    ins.set_segment_prefix(*seg);
                }
                prev_imm = false;
            }
        }
    }
    Ok(ins)
}

/// Fit the operands to one code. `order` maps Intel operand slots to `ops` indices.
fn bind_code(
    oc: &OpCodeInfo,
    suffix: Option<u32>,
    ops: &[&Operand],
    order: &[usize],
    ctx: &Ctx,
    loose: bool,
) -> Result<Bound0, Miss> {
    let kinds = oc.op_kinds();
    let n = kinds.len();
    let given = ops.len();
    // Which slots take written operands.
    let implicit_all = given == 0
        && n > 0
        && kinds.iter().all(|&k| is_implicit_kind(k))
        && kinds.iter().any(|&k| is_string_kind(k));
    let const1_omitted = given + 1 == n && kinds[n - 1] == K::imm8_const_1;
    // ljmp $sel, $offset: two written operands for one far-pointer operand.
    if n == 1 && given == 2 && matches!(kinds[0], K::farbr2_2 | K::farbr4_2) {
        if loose {
            return Ok(Bound0 {
                ops: vec![Bound::Reg(Register::None)],
                rm_mem_bytes: None,
            });
        }
        let val = |i: usize| -> Result<Val, Miss> {
            match (&ops[i].kind, ctx.early[i]) {
                (Ok_::Imm(_), Some(v)) => Ok(Val::Known(v)),
                (Ok_::Imm(e), None) => Ok(Val::Expr(e.clone())),
                _ => Err(Miss::Shape),
            }
        };
        let sel = val(0)?;
        let off = val(1)?;
        if let Val::Known(v) = sel {
            if !(0..=0xffff).contains(&v) {
                return Err(Miss::Range(
                    format!("selector {} does not fit in 16 bits", fmt_val(v)),
                    0,
                ));
            }
        }
        if let Val::Known(v) = off {
            let hi = if kinds[0] == K::farbr2_2 {
                0xffff
            } else {
                0xffff_ffff
            };
            if !(0..=hi).contains(&v) {
                return Err(Miss::Range(
                    format!("offset {} is out of range", fmt_val(v)),
                    0,
                ));
            }
        }
        return Ok(Bound0 {
            ops: vec![Bound::Far {
                kind: kinds[0],
                sel,
                off,
            }],
            rm_mem_bytes: None,
        });
    }
    if !(given == n || implicit_all || const1_omitted) {
        return Err(Miss::Count);
    }
    let branchy = matches!(oc.mnemonic(), Mnemonic::Jmp | Mnemonic::Call);
    let op_size = op_bits(oc);
    let mut out = Vec::with_capacity(n);
    let mut rm_mem_bytes = None;
    for (slot, &k) in kinds.iter().enumerate() {
        if implicit_all || (const1_omitted && slot == n - 1) {
            out.push(implicit(k, ctx.bits).ok_or(Miss::Count)?);
            continue;
        }
        let oi = order[slot];
        let op = ops[oi];
        let branch_kind = matches!(
            k,
            K::br16_1 | K::br32_1 | K::br64_1 | K::br16_2 | K::br32_4 | K::br64_4
        );
        if op.star && (!branchy || branch_kind) {
            return Err(Miss::Shape);
        }
        let b = bind_one(oc, slot, k, op, ctx, oi, loose).map_err(|m| match m {
            Miss::Range(s, _) => Miss::Range(s, op.col),
            other => other,
        })?;
        if let Bound::Mem { .. } = &b {
            if matches!(
                k,
                K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem
            ) {
                rm_mem_bytes = int_mem_bytes(oc.memory_size());
            }
            if let Some(s) = suffix {
                if !loose
                    && s != op_size
                    && int_mem_bytes(oc.memory_size()).map(|b| b * 8) != Some(s)
                {
                    return Err(Miss::Size);
                }
            }
        } else if let (Some(s), true) = (suffix, matches!(k, K::r32_or_mem | K::r64_or_mem)) {
            // A `w` suffix on an r32m16 form names the memory operand, or a 16-bit
            // register that is only read (`movw %ax, %es`).
            let written = match op.kind {
                Ok_::Reg(r) => (r.size() * 8) as u32,
                _ => op_size,
            };
            if !loose && s != op_size && s != written {
                return Err(Miss::Size);
            }
        }
        out.push(b);
    }
    Ok(Bound0 {
        ops: out,
        rm_mem_bytes,
    })
}

/// The bound form of an omitted operand.
fn implicit(k: K, bits: u32) -> Option<Bound> {
    let (si, di, seg_di) = match bits {
        64 => (
            OpKind::MemorySegRSI,
            OpKind::MemoryESRDI,
            OpKind::MemorySegRDI,
        ),
        _ => (
            OpKind::MemorySegESI,
            OpKind::MemoryESEDI,
            OpKind::MemorySegEDI,
        ),
    };
    Some(match k {
        K::seg_rSI => Bound::Str {
            kind: si,
            seg: Register::None,
        },
        K::es_rDI => Bound::Str {
            kind: di,
            seg: Register::None,
        },
        K::seg_rDI => Bound::Str {
            kind: seg_di,
            seg: Register::None,
        },
        K::seg_rBX_al => {
            return Some(Bound::Mem {
                seg: Register::None,
                base: if bits == 64 {
                    Register::RBX
                } else {
                    Register::EBX
                },
                index: Register::AL,
                scale: 1,
                disp: Val::Known(0),
                displ_size: 0,
                addr_bits: bits,
            })
        }
        K::imm8_const_1 => Bound::Imm {
            kind: k,
            val: Val::Known(1),
        },
        _ => Bound::Reg(fixed_reg(k)?),
    })
}

fn fixed_reg(k: K) -> Option<Register> {
    Some(match k {
        K::al => Register::AL,
        K::cl => Register::CL,
        K::ax => Register::AX,
        K::dx => Register::DX,
        K::eax => Register::EAX,
        K::rax => Register::RAX,
        K::es => Register::ES,
        K::cs => Register::CS,
        K::ss => Register::SS,
        K::ds => Register::DS,
        K::fs => Register::FS,
        K::gs => Register::GS,
        K::st0 => Register::ST0,
        _ => return None,
    })
}

/// GPR size in bytes a kind takes, if it is a GPR kind.
fn gpr_kind_size(k: K) -> Option<usize> {
    Some(match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode => 1,
        K::r16_or_mem | K::r16_reg | K::r16_reg_mem | K::r16_rm | K::r16_opcode => 2,
        K::r32_or_mem
        | K::r32_or_mem_mpx
        | K::r32_reg
        | K::r32_reg_mem
        | K::r32_rm
        | K::r32_opcode => 4,
        K::r64_or_mem
        | K::r64_or_mem_mpx
        | K::r64_reg
        | K::r64_reg_mem
        | K::r64_rm
        | K::r64_opcode => 8,
        _ => return None,
    })
}

fn takes_mem(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r32_or_mem_mpx
            | K::r64_or_mem
            | K::r64_or_mem_mpx
            | K::mm_or_mem
            | K::xmm_or_mem
            | K::mem
            | K::mem_mpx
            | K::mem_mib
            | K::sibmem
            | K::bnd_or_mem_mpx
    )
}

fn bind_one(
    oc: &OpCodeInfo,
    slot: usize,
    k: K,
    op: &Operand,
    ctx: &Ctx,
    oi: usize,
    loose: bool,
) -> Result<Bound, Miss> {
    match &op.kind {
        Ok_::Reg(r) => {
            let r = *r;
            if let Some(size) = gpr_kind_size(k) {
                if !r.is_gpr() {
                    return Err(Miss::Shape);
                }
                if r.size() == size || loose {
                    return Ok(Bound::Reg(r));
                }
                // r32m16 operands that are only read take a 16-bit register as is
                // (`mov %ax,%ds`, `ltr %ax` have no operand-size prefix).
                if size == 4 && int_mem_bytes(oc.memory_size()) == Some(2) {
                    if r.size() == 2 && !writes_op(oc.code(), slot) {
                        return regs::gpr_of_size(r, 4).map(Bound::Reg).ok_or(Miss::Size);
                    }
                    // GNU as writes mov to/from a segment register, str and sldt with a
                    // 64-bit register without REX.W (NoRex64 in its opcode table).
                    if r.size() == 8
                        && matches!(
                            oc.mnemonic(),
                            Mnemonic::Mov | Mnemonic::Str | Mnemonic::Sldt
                        )
                    {
                        return regs::gpr_of_size(r, 4).map(Bound::Reg).ok_or(Miss::Size);
                    }
                }
                return Err(Miss::Size);
            }
            let ok = match k {
                K::seg_reg => r.is_segment_register(),
                K::cr_reg => r.is_cr(),
                K::dr_reg => r.is_dr(),
                K::tr_reg => r.is_tr(),
                K::mm_reg | K::mm_rm | K::mm_or_mem => r.is_mm(),
                K::xmm_reg | K::xmm_rm | K::xmm_or_mem => r.is_xmm(),
                K::bnd_reg | K::bnd_or_mem_mpx => r.is_bnd(),
                K::sti_opcode => r.is_st(),
                _ => match fixed_reg(k) {
                    Some(f) => {
                        let same_gpr = f.is_gpr() && r.is_gpr() && f.number() == r.number();
                        if f == r || (loose && same_gpr) {
                            true
                        } else if same_gpr {
                            return Err(Miss::Size);
                        } else {
                            false
                        }
                    }
                    None => false,
                },
            };
            if ok {
                Ok(Bound::Reg(r))
            } else {
                Err(Miss::Shape)
            }
        }
        Ok_::Imm(_) => {
            let v = ctx.early[oi];
            let size = op_bits(oc);
            if loose {
                return if imm_rank(k) > 0 || matches!(k, K::farbr2_2 | K::farbr4_2) {
                    Ok(Bound::Imm {
                        kind: k,
                        val: Val::Known(0),
                    })
                } else {
                    Err(Miss::Shape)
                };
            }
            let expr = match &op.kind {
                Ok_::Imm(e) => e.clone(),
                _ => return Err(Miss::Shape),
            };
            let val = match v {
                Some(v) => Val::Known(v),
                None => Val::Expr(expr),
            };
            let in_range = |lo: i64, hi: i64| v.is_none_or(|v| lo <= v && v <= hi);
            let range_miss = |bits: u32| {
                Miss::Range(
                    format!(
                        "value {} is out of range for {} {bits}-bit immediate",
                        fmt_val(v.unwrap_or(0)),
                        if bits == 8 { "an" } else { "a" }
                    ),
                    0,
                )
            };
            match k {
                K::imm8_const_1 => {
                    if v == Some(1) {
                        Ok(Bound::Imm { kind: k, val })
                    } else {
                        Err(Miss::Range(String::new(), 0))
                    }
                }
                K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => {
                    let Some(v) = v else {
                        return Err(Miss::Range(String::new(), 0));
                    };
                    let w = match size {
                        16 => v as i16 as i64,
                        32 => v as i32 as i64,
                        _ => v,
                    };
                    let full_ok = match size {
                        16 => (-0x8000..=0xffff).contains(&v),
                        32 => (-0x8000_0000..=0xffff_ffff).contains(&v),
                        _ => true,
                    };
                    if full_ok && (-128..=127).contains(&w) {
                        Ok(Bound::Imm {
                            kind: k,
                            val: Val::Known(w),
                        })
                    } else {
                        Err(Miss::Range(String::new(), 0))
                    }
                }
                K::imm8 => {
                    if in_range(-128, 255) {
                        Ok(Bound::Imm { kind: k, val })
                    } else {
                        Err(range_miss(8))
                    }
                }
                K::imm16 => {
                    if in_range(-0x8000, 0xffff) {
                        Ok(Bound::Imm { kind: k, val })
                    } else {
                        Err(range_miss(16))
                    }
                }
                K::imm32 => {
                    if in_range(-0x8000_0000, 0xffff_ffff) {
                        Ok(Bound::Imm { kind: k, val })
                    } else {
                        Err(range_miss(32))
                    }
                }
                K::imm32sex64 => {
                    if in_range(-0x8000_0000, 0x7fff_ffff) {
                        Ok(Bound::Imm { kind: k, val })
                    } else {
                        Err(Miss::Range(
                            format!(
                                "value {} does not fit in a sign-extended 32-bit immediate",
                                fmt_val(v.unwrap_or(0))
                            ),
                            0,
                        ))
                    }
                }
                K::imm64 => Ok(Bound::Imm { kind: k, val }),
                _ => Err(Miss::Shape),
            }
        }
        Ok_::Mem(m) => bind_mem(oc, k, m, op, ctx, oi, loose),
    }
}

fn bind_mem(
    _oc: &OpCodeInfo,
    k: K,
    m: &Mem,
    op: &Operand,
    ctx: &Ctx,
    oi: usize,
    loose: bool,
) -> Result<Bound, Miss> {
    let bits = ctx.bits;
    // A segment override naming the default segment is dropped, as GNU as does.
    let default_seg = match m.base {
        Some(Register::EBP | Register::ESP | Register::BP | Register::RBP | Register::RSP) => {
            Register::SS
        }
        _ => Register::DS,
    };
    let seg = match m.seg {
        Some(s) if s != default_seg => s,
        _ => Register::None,
    };
    match k {
        K::br16_1 | K::br32_1 | K::br64_1 | K::br16_2 | K::br32_4 | K::br64_4 => {
            if op.star || !m.is_absolute() || m.seg.is_some() {
                return Err(Miss::Shape);
            }
            let target = m.disp.clone().unwrap_or(Expr::Num(0));
            return Ok(Bound::Branch { kind: k, target });
        }
        K::dx => {
            // (%dx) for in/out
            return if m.base == Some(Register::DX)
                && m.index.is_none()
                && m.disp.is_none()
                && m.seg.is_none()
            {
                Ok(Bound::Reg(Register::DX))
            } else {
                Err(Miss::Shape)
            };
        }
        K::seg_rSI | K::es_rDI | K::seg_rDI => {
            let Some(base) = m.base else {
                return Err(Miss::Shape);
            };
            if m.index.is_some() || m.disp.is_some() {
                return Err(Miss::Shape);
            }
            let want_si = k == K::seg_rSI;
            let n = base.number();
            if !base.is_gpr() || base.is_gpr8() || n != if want_si { 6 } else { 7 } {
                return Err(Miss::Shape);
            }
            if k == K::es_rDI && m.seg.is_some_and(|s| s != Register::ES) {
                return Err(Miss::Shape);
            }
            let kind = match (k, base.size()) {
                (K::seg_rSI, 2) => OpKind::MemorySegSI,
                (K::seg_rSI, 4) => OpKind::MemorySegESI,
                (K::seg_rSI, _) => OpKind::MemorySegRSI,
                (K::es_rDI, 2) => OpKind::MemoryESDI,
                (K::es_rDI, 4) => OpKind::MemoryESEDI,
                (K::es_rDI, _) => OpKind::MemoryESRDI,
                (_, 2) => OpKind::MemorySegDI,
                (_, 4) => OpKind::MemorySegEDI,
                _ => OpKind::MemorySegRDI,
            };
            let seg = if k == K::es_rDI { Register::None } else { seg };
            return Ok(Bound::Str { kind, seg });
        }
        K::mem_offs => {
            if !m.is_absolute() || !(bits == 32 || ctx.movabs) {
                return Err(Miss::Shape);
            }
            let size = if bits == 64 { 8 } else { 4 };
            let addr = match ctx.disp_early[oi] {
                Some(v) => {
                    if bits == 32 && !(-0x8000_0000..=0xffff_ffff).contains(&v) && !loose {
                        return Err(Miss::Range(
                            format!("address {} does not fit in 32 bits", fmt_val(v)),
                            0,
                        ));
                    }
                    Val::Known(if bits == 32 { v as u32 as i64 } else { v })
                }
                None => Val::Expr(m.disp.clone().unwrap_or(Expr::Num(0))),
            };
            return Ok(Bound::Moffs { seg, addr, size });
        }
        _ => {}
    }
    if !takes_mem(k) {
        return Err(Miss::Shape);
    }
    if ctx.movabs {
        return Err(Miss::Shape);
    }
    let reg = m.base.or(m.index);
    let addr_bits = match reg {
        Some(Register::RIP) | Some(Register::EIP) => 64,
        Some(r) => (r.size() * 8) as u32,
        None => bits,
    };
    if m.base == Some(Register::EIP) || (addr_bits == 16 && bits == 64) {
        return Err(Miss::Shape);
    }
    let disp_val = ctx.disp_early[oi];
    let (disp, displ_size) = match disp_val {
        Some(v) => {
            let v =
                match addr_bits {
                    16 => {
                        if !(-0x8000..=0xffff).contains(&v) && !loose {
                            return Err(Miss::Range(
                                format!("displacement {} does not fit in 16 bits", fmt_val(v)),
                                0,
                            ));
                        }
                        v as i16 as i64
                    }
                    32 => {
                        if !(-0x8000_0000..=0xffff_ffff).contains(&v) && !loose {
                            return Err(Miss::Range(
                                format!("displacement {} does not fit in 32 bits", fmt_val(v)),
                                0,
                            ));
                        }
                        v as i32 as i64
                    }
                    _ => {
                        if m.base != Some(Register::RIP)
                            && !(-0x8000_0000..=0x7fff_ffff).contains(&v)
                            && !loose
                        {
                            return Err(Miss::Range(
                                format!(
                            "displacement {} does not fit in a sign-extended 32-bit field{}",
                            fmt_val(v),
                            if m.is_absolute() { " (use movabs for a 64-bit address)" } else { "" }
                        ),
                                0,
                            ));
                        }
                        v
                    }
                };
            if m.base == Some(Register::RIP) {
                (Val::Known(v), 8)
            } else if v == 0 {
                (Val::Known(0), 0)
            } else if (-128..=127).contains(&v) {
                (Val::Known(v), 1)
            } else {
                (Val::Known(v), addr_bits / 8)
            }
        }
        None => (
            Val::Expr(m.disp.clone().unwrap_or(Expr::Num(0))),
            if addr_bits == 64 { 8 } else { addr_bits / 8 },
        ),
    };
    Ok(Bound::Mem {
        seg,
        base: m.base.unwrap_or(Register::None),
        index: m.index.unwrap_or(Register::None),
        scale: m.scale,
        disp,
        displ_size,
        addr_bits,
    })
}

/// Whether operand `slot` of `code` is written (for the r32m16 rule), asked of iced's
/// instruction info on a decoded sample.
fn writes_op(code: Code, slot: usize) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<(Code, usize), bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(c) = cache.lock() {
        if let Some(v) = c.get(&(code, slot)) {
            return *v;
        }
    }
    let v = writes_op_uncached(code, slot);
    if let Ok(mut c) = cache.lock() {
        c.insert((code, slot), v);
    }
    v
}

fn writes_op_uncached(code: Code, slot: usize) -> bool {
    let oc = code.op_code();
    let bits = if oc.mode32() { 32 } else { 64 };
    let mut ins = Instruction::default();
    ins.set_code(code);
    for (i, &k) in oc.op_kinds().iter().enumerate() {
        let r = match k {
            K::seg_reg => Register::DS,
            _ => match gpr_kind_size(k) {
                Some(4) => Register::EAX,
                Some(8) => Register::RAX,
                Some(2) => Register::AX,
                Some(1) => Register::AL,
                _ => return slot == 0,
            },
        };
        ins.set_op_kind(i as u32, OpKind::Register);
        ins.set_op_register(i as u32, r);
    }
    let mut enc = Encoder::new(bits);
    if enc.encode(&ins, 0).is_err() {
        return slot == 0;
    }
    let bytes = enc.take_buffer();
    let mut dec = iced_x86::Decoder::new(bits, &bytes, iced_x86::DecoderOptions::NONE);
    let d = dec.decode();
    let mut f = InstructionInfoFactory::new();
    let info = f.info(&d);
    let acc = match slot {
        0 => info.op0_access(),
        1 => info.op1_access(),
        _ => info.op2_access(),
    };
    matches!(
        acc,
        OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
    )
}

/// A value for messages: decimal, with hex for larger ones (`300 (0x12c)`).
pub fn fmt_val(v: i64) -> String {
    if (-9..=9).contains(&v) {
        v.to_string()
    } else if v.unsigned_abs() > 0xffff {
        if v < 0 {
            format!("-{:#x}", v.unsigned_abs())
        } else {
            format!("{v:#x}")
        }
    } else if v < 0 {
        format!("{v} (-{:#x})", v.unsigned_abs())
    } else {
        format!("{v} ({v:#x})")
    }
}

fn op_list(ops: &[Operand]) -> String {
    if ops.is_empty() {
        return "no operands".into();
    }
    ops.iter()
        .map(|o| o.text.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `name` is an instruction spelling at all (checked before its operands).
pub fn known_mnemonic(name: &str) -> bool {
    let base = name
        .strip_prefix("movabs")
        .map(|s| format!("mov{s}"))
        .or_else(|| name.strip_prefix("ljmp").map(|s| format!("jmp{s}")))
        .or_else(|| name.strip_prefix("lcall").map(|s| format!("call{s}")))
        .unwrap_or_else(|| name.to_string());
    !mnemonic::lookup(&base).is_empty()
}

pub fn unknown_mnemonic(name: &str, col: usize, bits: u32) -> PErr {
    let names = mnemonic::names_for(bits);
    let near = nearest(name, names.iter().copied(), 3);
    let mut msg = format!("unknown instruction `{name}`{}", did_you_mean(&near));
    if near.is_empty() && mnemonic::lookup(name).is_empty() && name.starts_with('.') {
        msg = format!("unknown directive `{name}`");
    }
    (col, msg)
}

fn ambiguous(req: &Request, sizes: &[u32]) -> PErr {
    let name = req.mnemonic;
    let sfx: Vec<String> = sizes
        .iter()
        .filter_map(|b| mnemonic_suffix(b * 8).map(|c| format!("`{name}{c}`")))
        .collect();
    (
        req.col,
        format!(
            "operand size of `{name}` is ambiguous: no register says how wide {} is; add a suffix ({})",
            req.ops
                .iter()
                .find(|o| matches!(o.kind, Ok_::Mem(_)))
                .map(|o| format!("`{}`", o.text))
                .unwrap_or_else(|| "the operand".into()),
            sfx.join(", ")
        ),
    )
}

fn mnemonic_suffix(bits: u32) -> Option<char> {
    match bits {
        8 => Some('b'),
        16 => Some('w'),
        32 => Some('l'),
        64 => Some('q'),
        _ => None,
    }
}

/// Explain why no code fits.
fn no_form(
    req: &Request,
    entries: &[mnemonic::Entry],
    ops: &[&Operand],
    ctx: &Ctx,
    best: Miss,
) -> PErr {
    let name = req.mnemonic;
    let head = format!("`{name}` has no form taking {}", op_list(req.ops));
    let col = req.col;
    let order: Vec<usize> = (0..ops.len()).collect();
    match best {
        Miss::Count => {
            let mut counts: Vec<usize> = entries
                .iter()
                .map(|e| e.code.op_code().op_count() as usize)
                .collect();
            counts.sort_unstable();
            counts.dedup();
            let n = ops.len();
            let want = counts
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            (
                col,
                format!(
                    "`{name}` takes {want} operand{}, not {n}",
                    if want == "1" { "" } else { "s" }
                ),
            )
        }
        Miss::Range(m, c) if !m.is_empty() => (if c > 0 { c } else { col }, format!("{head}: {m}")),
        Miss::Range(_, c) => (
            if c > 0 { c } else { col },
            format!("{head}: an immediate is out of range"),
        ),
        Miss::Size | Miss::Shape => {
            let branchy = entries
                .iter()
                .any(|e| matches!(e.code.op_code().mnemonic(), Mnemonic::Jmp | Mnemonic::Call));
            if let Some(o) = ops.iter().find(|o| o.star) {
                if !branchy {
                    return (
                        o.col,
                        format!("`*` marks the target of an indirect jmp or call; `{name}` does not take it"),
                    );
                }
            }
            // Does the shape fit if sizes are ignored?
            let shape_ok = entries
                .iter()
                .any(|e| bind_code(e.code.op_code(), e.suffix, ops, &order, ctx, true).is_ok());
            let gprs: Vec<Register> = req
                .ops
                .iter()
                .filter_map(|o| match o.kind {
                    Ok_::Reg(r) if r.is_gpr() => Some(r),
                    _ => None,
                })
                .collect();
            let suffix = entries.iter().find_map(|e| e.suffix);
            if shape_ok || best == Miss::Size {
                if let Some(s) = suffix {
                    if let Some(r) = gprs.iter().find(|r| (r.size() * 8) as u32 != s) {
                        return (
                            col,
                            format!(
                                "{head}: the suffix of `{name}` means {s}-bit operands but {} is {}-bit",
                                regs::gas_name(*r),
                                r.size() * 8
                            ),
                        );
                    }
                }
                if gprs.windows(2).any(|w| w[0].size() != w[1].size()) {
                    return (col, format!("{head}: operand sizes differ"));
                }
                return (col, format!("{head}: operand size mismatch"));
            }
            (col, head)
        }
    }
}

fn encoder_message(name: &str, iced: &str) -> String {
    if iced.contains("REX") || iced.contains("AH, CH, DH") || iced.contains("AH/CH/DH/BH") {
        return format!("`{name}`: %ah, %bh, %ch and %dh cannot be used in an instruction that needs a REX prefix");
    }
    format!("`{name}` cannot be encoded with these operands ({iced})")
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
