//! Fitting written operands to the operand kinds of one iced-x86 `Code`.

use iced_x86::{
    Code, Encoder, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpCodeInfo,
    OpCodeOperandKind as K, OpKind, Register,
};

use super::diag::fmt_val;
use super::expr::Expr;
use super::mnemonic::{int_mem_bytes, is_implicit_kind, is_string_kind, op_bits};
use super::operand::{Mem, OpKind as Ok_, Operand};
use super::regs;
use super::select::{imm_rank, Bound, Val};

/// Why a code did not fit the operands, most specific last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Miss {
    Count,
    Shape,
    Size,
    Range(String, usize),
}

pub(super) struct Ctx<'a> {
    pub(super) bits: u32,
    pub(super) movabs: bool,
    pub(super) early: &'a [Option<i64>],
    pub(super) disp_early: &'a [Option<i64>],
}

/// Bound operands plus what the ambiguity check needs.
#[derive(Debug, Clone)]
pub(super) struct Bound0 {
    pub(super) ops: Vec<Bound>,
    /// Size of a memory operand bound to an r/m kind, if any.
    pub(super) rm_mem_bytes: Option<u32>,
}

/// Fit the operands to one code. `order` maps Intel operand slots to `ops` indices.
pub(super) fn bind_code(
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
                return if imm_rank(k) > 0 {
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
