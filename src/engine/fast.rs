//! Pre-analysed forms of the most common register-only instructions (ALU, MOV, LEA,
//! INC/DEC, shifts, Jcc, JMP, LOOP...), built once when an instruction is decoded into
//! the cache, so that executing them does not dispatch on iced-x86's `Instruction`
//! fields again.
//!
//! Each form is a transcription of what the general path (`data`, `arith`, `control`)
//! does for that instruction, through the same `alu` helpers, writing the same
//! registers in the same order: executed on a `Ctx` it journals exactly the changes the
//! general path journals. Anything that could fault, touch memory or need more of the
//! machine than the GPRs and RFLAGS stays `Op::Slow` and goes through the general path;
//! a branch whose target would fault declines (`exec` returns None before changing
//! anything) and the general path raises the fault.

use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind, Register};

use super::alu::{self, Alu, Shift};
use super::control::condition;
use crate::machine::cpu::{mask, sign_extend, RCX};
use crate::machine::flags::{CF, STATUS, ZF};

/// Two-operand ALU operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu2 {
    Add,
    Adc,
    Sub,
    Sbb,
    Cmp,
    And,
    Or,
    Xor,
    Test,
}

/// LOOP, LOOPE, LOOPNE, JrCXZ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopKind {
    Loop,
    Loope,
    Loopne,
    Jcxz,
}

/// No base or index register in `Op::Lea`.
const NO_REG: u8 = 0xff;

/// A pre-analysed instruction. Registers are GPR numbers (0..16) with an operand size
/// in bytes; AH, CH, DH and BH never appear (those forms stay `Slow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Executed by the general path only.
    Slow,
    Nop,
    AluRR {
        op: Alu2,
        size: u8,
        dst: u8,
        src: u8,
    },
    AluRI {
        op: Alu2,
        size: u8,
        dst: u8,
        imm: u64,
    },
    Inc {
        size: u8,
        reg: u8,
    },
    Dec {
        size: u8,
        reg: u8,
    },
    Neg {
        size: u8,
        reg: u8,
    },
    Not {
        size: u8,
        reg: u8,
    },
    /// Shift by an immediate count (as encoded, before masking).
    ShiftI {
        kind: Shift,
        size: u8,
        reg: u8,
        count: u8,
        /// A count of 0 still writes the register (32-bit operand in 64-bit mode).
        zero_writes: bool,
    },
    ShiftCl {
        kind: Shift,
        size: u8,
        reg: u8,
        zero_writes: bool,
    },
    ImulRR {
        size: u8,
        dst: u8,
        src: u8,
    },
    ImulRRI {
        size: u8,
        dst: u8,
        src: u8,
        imm: u64,
    },
    MovRR {
        size: u8,
        dst: u8,
        src: u8,
    },
    MovRI {
        size: u8,
        dst: u8,
        imm: u64,
    },
    /// MOVZX / MOVSX / MOVSXD between registers.
    MovxRR {
        signed: bool,
        size: u8,
        dst: u8,
        src_size: u8,
        src: u8,
    },
    XchgRR {
        size: u8,
        a: u8,
        b: u8,
    },
    /// `dst = (disp + base + index * scale) mod 2^(8 * asize)`.
    Lea {
        size: u8,
        dst: u8,
        base: u8,
        index: u8,
        scale: u8,
        asize: u8,
        disp: u64,
    },
    Jcc {
        cc: ConditionCode,
        target: u64,
    },
    Jmp {
        target: u64,
    },
    Loop {
        kind: LoopKind,
        count: u8,
        target: u64,
    },
}

/// A GPR operand the fast forms handle: (number, size in bytes).
fn reg(r: Register) -> Option<(u8, u8)> {
    if !r.is_gpr() || matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) {
        return None;
    }
    Some((r.full_register().number() as u8, r.size() as u8))
}

fn reg_op(i: &Instruction, n: u32) -> Option<(u8, u8)> {
    if i.op_kind(n) != OpKind::Register {
        return None;
    }
    reg(i.op_register(n))
}

fn is_imm(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// The near-branch target of operand 0, masked to the branch operand size (as
/// `control::target` computes it for a direct branch).
fn near_target(i: &Instruction) -> Option<u64> {
    let size = match i.op0_kind() {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        _ => return None,
    };
    Some(mask(i.near_branch_target(), size))
}

/// The counter width of LOOPcc / JrCXZ (see `control::counter_size`).
fn counter_size(i: &Instruction) -> u8 {
    match i.mnemonic() {
        Mnemonic::Jcxz => 2,
        Mnemonic::Jecxz => 4,
        Mnemonic::Jrcxz => 8,
        _ => {
            let name = format!("{:?}", i.code());
            if name.ends_with("_RCX") {
                8
            } else if name.ends_with("_ECX") {
                4
            } else {
                2
            }
        }
    }
}

/// The fast form of `i`, decoded as `bitness`-bit code, or `Op::Slow`.
pub fn analyse(i: &Instruction, bitness: u32) -> Op {
    analyse_inner(i, bitness).unwrap_or(Op::Slow)
}

fn analyse_inner(i: &Instruction, bitness: u32) -> Option<Op> {
    use Mnemonic as M;
    let m = i.mnemonic();
    let alu2 = match m {
        M::Add => Some(Alu2::Add),
        M::Adc => Some(Alu2::Adc),
        M::Sub => Some(Alu2::Sub),
        M::Sbb => Some(Alu2::Sbb),
        M::Cmp => Some(Alu2::Cmp),
        M::And => Some(Alu2::And),
        M::Or => Some(Alu2::Or),
        M::Xor => Some(Alu2::Xor),
        M::Test => Some(Alu2::Test),
        _ => None,
    };
    if let Some(op) = alu2 {
        if i.op_count() != 2 {
            return None;
        }
        let (dst, size) = reg_op(i, 0)?;
        if let Some((src, _)) = reg_op(i, 1) {
            return Some(Op::AluRR { op, size, dst, src });
        }
        if is_imm(i.op1_kind()) {
            return Some(Op::AluRI {
                op,
                size,
                dst,
                imm: i.immediate(1),
            });
        }
        return None;
    }
    match m {
        M::Nop | M::Pause => Some(Op::Nop),
        M::Inc | M::Dec | M::Neg | M::Not => {
            if i.op_count() != 1 {
                return None;
            }
            let (reg, size) = reg_op(i, 0)?;
            Some(match m {
                M::Inc => Op::Inc { size, reg },
                M::Dec => Op::Dec { size, reg },
                M::Neg => Op::Neg { size, reg },
                _ => Op::Not { size, reg },
            })
        }
        M::Shl | M::Sal | M::Shr | M::Sar => {
            let (reg, size) = reg_op(i, 0)?;
            let kind = match m {
                M::Shl | M::Sal => Shift::Shl,
                M::Shr => Shift::Shr,
                _ => Shift::Sar,
            };
            let zero_writes = size == 4 && bitness == 64;
            if i.op_count() == 1 {
                return Some(Op::ShiftI {
                    kind,
                    size,
                    reg,
                    count: 1,
                    zero_writes,
                });
            }
            if i.op_count() != 2 {
                return None;
            }
            if is_imm(i.op1_kind()) {
                return Some(Op::ShiftI {
                    kind,
                    size,
                    reg,
                    count: i.immediate(1) as u8,
                    zero_writes,
                });
            }
            if i.op1_kind() == OpKind::Register && i.op1_register() == Register::CL {
                return Some(Op::ShiftCl {
                    kind,
                    size,
                    reg,
                    zero_writes,
                });
            }
            None
        }
        M::Imul if i.op_count() == 2 => {
            let (dst, size) = reg_op(i, 0)?;
            let (src, _) = reg_op(i, 1)?;
            Some(Op::ImulRR { size, dst, src })
        }
        M::Imul if i.op_count() == 3 => {
            let (dst, size) = reg_op(i, 0)?;
            let (src, _) = reg_op(i, 1)?;
            if !is_imm(i.op2_kind()) {
                return None;
            }
            Some(Op::ImulRRI {
                size,
                dst,
                src,
                imm: i.immediate(2),
            })
        }
        M::Mov => {
            if i.op_count() != 2 {
                return None;
            }
            let (dst, size) = reg_op(i, 0)?;
            if let Some((src, _)) = reg_op(i, 1) {
                return Some(Op::MovRR { size, dst, src });
            }
            if is_imm(i.op1_kind()) {
                return Some(Op::MovRI {
                    size,
                    dst,
                    imm: i.immediate(1),
                });
            }
            None
        }
        M::Movzx | M::Movsx | M::Movsxd => {
            let (dst, size) = reg_op(i, 0)?;
            let (src, src_size) = reg_op(i, 1)?;
            Some(Op::MovxRR {
                signed: m != M::Movzx,
                size,
                dst,
                src_size,
                src,
            })
        }
        M::Xchg => {
            let (a, size) = reg_op(i, 0)?;
            let (b, _) = reg_op(i, 1)?;
            Some(Op::XchgRR { size, a, b })
        }
        M::Lea => {
            let (dst, size) = reg_op(i, 0)?;
            if i.op1_kind() != OpKind::Memory {
                return None;
            }
            let asize = super::operand::address_size(i) as u8;
            let base = match i.memory_base() {
                Register::None | Register::RIP | Register::EIP => NO_REG,
                r => reg(r)?.0,
            };
            let index = match i.memory_index() {
                Register::None => NO_REG,
                r => reg(r)?.0,
            };
            Some(Op::Lea {
                size,
                dst,
                base,
                index,
                scale: i.memory_index_scale() as u8,
                asize,
                disp: i.memory_displacement64(),
            })
        }
        M::Jmp => Some(Op::Jmp {
            target: near_target(i)?,
        }),
        M::Loop | M::Loope | M::Loopne | M::Jcxz | M::Jecxz | M::Jrcxz => Some(Op::Loop {
            kind: match m {
                M::Loop => LoopKind::Loop,
                M::Loope => LoopKind::Loope,
                M::Loopne => LoopKind::Loopne,
                _ => LoopKind::Jcxz,
            },
            count: counter_size(i),
            target: near_target(i)?,
        }),
        _ if i.is_jcc_short_or_near() => Some(Op::Jcc {
            cc: i.condition_code(),
            target: near_target(i)?,
        }),
        _ => None,
    }
}

/// The register file the fast forms work on: the CPU directly (raw runs) or a `Ctx`
/// (recorded steps, every write journaled).
pub trait Regs {
    fn gpr(&self, index: usize) -> u64;
    /// Write a whole 64-bit GPR.
    fn set_gpr(&mut self, index: usize, value: u64);
    fn rflags(&self) -> u64;
    /// Replace the RFLAGS bits in `mask` with those of `value`.
    fn update_flags(&mut self, mask: u64, value: u64);
    /// Would a near branch to `target` be allowed (CS limit, canonical address)?
    fn branch_ok(&self, target: u64) -> bool;
}

#[inline(always)]
fn get<R: Regs>(r: &R, index: u8, size: u8) -> u64 {
    mask(r.gpr(index as usize), size as usize)
}

/// Write a GPR operand of `size` bytes: 32-bit writes zero-extend, 8- and 16-bit
/// writes merge (as `Ctx::write_reg`).
#[inline(always)]
fn put<R: Regs>(r: &mut R, index: u8, size: u8, value: u64) {
    let i = index as usize;
    let new = match size {
        8 => value,
        4 => value & 0xffff_ffff,
        2 => (r.gpr(i) & !0xffff) | (value & 0xffff),
        _ => (r.gpr(i) & !0xff) | (value & 0xff),
    };
    r.set_gpr(i, new);
}

#[inline(always)]
fn alu2<R: Regs, const S: usize>(r: &mut R, op: Alu2, dst: u8, a: u64, b: u64) {
    let cf = r.rflags() & CF != 0;
    let res = match op {
        Alu2::Add => alu::add(a, b, false, S),
        Alu2::Adc => alu::add(a, b, cf, S),
        Alu2::Sub | Alu2::Cmp => alu::sub(a, b, false, S),
        Alu2::Sbb => alu::sub(a, b, cf, S),
        Alu2::And | Alu2::Test => alu::logic(a & b, S),
        Alu2::Or => alu::logic(a | b, S),
        Alu2::Xor => alu::logic(a ^ b, S),
    };
    if !matches!(op, Alu2::Cmp | Alu2::Test) {
        put(r, dst, S as u8, res.result);
    }
    r.update_flags(STATUS, res.flags);
}

#[inline(always)]
fn alu2_sized<R: Regs>(r: &mut R, op: Alu2, size: u8, dst: u8, a: u64, b: u64) {
    match size {
        4 => alu2::<R, 4>(r, op, dst, a, b),
        8 => alu2::<R, 8>(r, op, dst, a, b),
        2 => alu2::<R, 2>(r, op, dst, a, b),
        _ => alu2::<R, 1>(r, op, dst, a, b),
    }
}

#[inline(always)]
fn inc_dec<R: Regs, const S: usize>(r: &mut R, reg: u8, dec: bool) {
    let a = get(r, reg, S as u8);
    let res = if dec {
        alu::sub(a, 1, false, S)
    } else {
        alu::add(a, 1, false, S)
    };
    put(r, reg, S as u8, res.result);
    r.update_flags(STATUS & !CF, res.flags);
}

#[inline(always)]
fn inc_dec_sized<R: Regs>(r: &mut R, size: u8, reg: u8, dec: bool) {
    match size {
        4 => inc_dec::<R, 4>(r, reg, dec),
        8 => inc_dec::<R, 8>(r, reg, dec),
        2 => inc_dec::<R, 2>(r, reg, dec),
        _ => inc_dec::<R, 1>(r, reg, dec),
    }
}

fn shift<R: Regs>(r: &mut R, kind: Shift, size: u8, reg: u8, raw: u64, zero_writes: bool) {
    let a = get(r, reg, size);
    let count = (raw as u32) & if size == 8 { 0x3f } else { 0x1f };
    if count != 0 {
        let res = alu::shift(kind, a, count, size as usize);
        put(r, reg, size, res.result);
        r.update_flags(STATUS, res.flags);
    } else if zero_writes {
        put(r, reg, size, a);
    }
}

#[inline(always)]
fn set(r: &impl Regs, bit: u64) -> bool {
    r.rflags() & bit != 0
}

/// A taken branch: the new RIP, or None when the target would fault.
#[inline(always)]
fn branch<R: Regs>(r: &R, target: u64) -> Option<u64> {
    if r.branch_ok(target) {
        Some(target)
    } else {
        None
    }
}

/// Execute a fast form. Returns the new RIP (`next` is the address of the following
/// instruction), or None, having changed nothing, when the general path must run it.
#[inline(always)]
pub fn exec<R: Regs>(r: &mut R, op: &Op, next: u64) -> Option<u64> {
    match *op {
        Op::Slow => return None,
        Op::Nop => {}
        Op::AluRR { op, size, dst, src } => {
            let a = get(r, dst, size);
            let b = get(r, src, size);
            alu2_sized(r, op, size, dst, a, b);
        }
        Op::AluRI { op, size, dst, imm } => {
            let a = get(r, dst, size);
            alu2_sized(r, op, size, dst, a, imm);
        }
        Op::Inc { size, reg } => inc_dec_sized(r, size, reg, false),
        Op::Dec { size, reg } => inc_dec_sized(r, size, reg, true),
        Op::Neg { size, reg } => {
            let res = alu::neg(get(r, reg, size), size as usize);
            put(r, reg, size, res.result);
            r.update_flags(STATUS, res.flags);
        }
        Op::Not { size, reg } => {
            let v = get(r, reg, size);
            put(r, reg, size, mask(!v, size as usize));
        }
        Op::ShiftI {
            kind,
            size,
            reg,
            count,
            zero_writes,
        } => shift(r, kind, size, reg, count as u64, zero_writes),
        Op::ShiftCl {
            kind,
            size,
            reg,
            zero_writes,
        } => {
            let cl = get(r, RCX as u8, 1);
            shift(r, kind, size, reg, cl, zero_writes)
        }
        Op::ImulRR { size, dst, src } => {
            let a = get(r, dst, size);
            let b = get(r, src, size);
            imul(r, size, dst, a, b);
        }
        Op::ImulRRI {
            size,
            dst,
            src,
            imm,
        } => {
            let a = get(r, src, size);
            imul(r, size, dst, a, imm);
        }
        Op::MovRR { size, dst, src } => {
            let v = get(r, src, size);
            put(r, dst, size, v);
        }
        Op::MovRI { size, dst, imm } => put(r, dst, size, imm),
        Op::MovxRR {
            signed,
            size,
            dst,
            src_size,
            src,
        } => {
            let v = get(r, src, src_size);
            let v = if signed {
                mask(sign_extend(v, src_size as usize), size as usize)
            } else {
                v
            };
            put(r, dst, size, v);
        }
        Op::XchgRR { size, a, b } => {
            let va = get(r, a, size);
            let vb = get(r, b, size);
            put(r, b, size, va);
            put(r, a, size, vb);
        }
        Op::Lea {
            size,
            dst,
            base,
            index,
            scale,
            asize,
            disp,
        } => {
            let mut ea = disp;
            if base != NO_REG {
                ea = ea.wrapping_add(r.gpr(base as usize));
            }
            if index != NO_REG {
                ea = ea.wrapping_add(r.gpr(index as usize).wrapping_mul(scale as u64));
            }
            put(r, dst, size, mask(ea, asize as usize));
        }
        Op::Jcc { cc, target } => {
            if condition(cc, r.rflags()) {
                return branch(r, target);
            }
        }
        Op::Jmp { target } => return branch(r, target),
        Op::Loop {
            kind,
            count,
            target,
        } => {
            let rcx = r.gpr(RCX);
            let (take, write) = match kind {
                LoopKind::Jcxz => (mask(rcx, count as usize) == 0, None),
                _ => {
                    let c = mask(rcx.wrapping_sub(1), count as usize);
                    let take = c != 0
                        && match kind {
                            LoopKind::Loope => set(r, ZF),
                            LoopKind::Loopne => !set(r, ZF),
                            _ => true,
                        };
                    (take, Some(c))
                }
            };
            if take && !r.branch_ok(target) {
                return None;
            }
            if let Some(c) = write {
                put(r, RCX as u8, count, c);
            }
            if take {
                return Some(target);
            }
        }
    }
    Some(next)
}

fn imul<R: Regs>(r: &mut R, size: u8, dst: u8, a: u64, b: u64) {
    let (res, _): (Alu, u64) = alu::imul(a, b, size as usize);
    put(r, dst, size, res.result);
    r.update_flags(STATUS, res.flags);
}
