//! Integer arithmetic and logic: ADD ADC SUB SBB CMP AND OR XOR TEST INC DEC NEG NOT
//! SHL/SAL SHR SAR IMUL MUL DIV IDIV CDQ/CWDE family (Intel SDM Vol. 2, each page's
//! "Operation" and "Flags Affected").

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::alu::{self, Shift};
use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, sign_extend, RAX, RDX};
use crate::machine::flags::{CF, STATUS};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    let m = i.mnemonic();
    match m {
        M::Add | M::Adc | M::Sub | M::Sbb | M::Cmp | M::And | M::Or | M::Xor | M::Test => {
            let size = operand::size(i, 0);
            let a = operand::read(ctx, i, 0)?;
            let b = operand::read(ctx, i, 1)?;
            let cf = ctx.flag(CF);
            let r = match m {
                M::Add => alu::add(a, b, false, size),
                M::Adc => alu::add(a, b, cf, size),
                M::Sub | M::Cmp => alu::sub(a, b, false, size),
                M::Sbb => alu::sub(a, b, cf, size),
                M::And | M::Test => alu::logic(a & b, size),
                M::Or => alu::logic(a | b, size),
                _ => alu::logic(a ^ b, size),
            };
            if !matches!(m, M::Cmp | M::Test) {
                operand::write(ctx, i, 0, r.result)?;
            }
            ctx.update_flags(STATUS, r.flags);
        }
        M::Inc | M::Dec => {
            let size = operand::size(i, 0);
            let a = operand::read(ctx, i, 0)?;
            let r = if m == M::Inc {
                alu::add(a, 1, false, size)
            } else {
                alu::sub(a, 1, false, size)
            };
            operand::write(ctx, i, 0, r.result)?;
            ctx.update_flags(STATUS & !CF, r.flags);
        }
        M::Neg => {
            let size = operand::size(i, 0);
            let r = alu::neg(operand::read(ctx, i, 0)?, size);
            operand::write(ctx, i, 0, r.result)?;
            ctx.update_flags(STATUS, r.flags);
        }
        M::Not => {
            let size = operand::size(i, 0);
            let v = operand::read(ctx, i, 0)?;
            operand::write(ctx, i, 0, mask(!v, size))?;
        }
        M::Shl | M::Sal | M::Shr | M::Sar => {
            let size = operand::size(i, 0);
            let a = operand::read(ctx, i, 0)?;
            let raw = if i.op_count() > 1 {
                operand::read(ctx, i, 1)?
            } else {
                1
            };
            let count = (raw as u32) & if size == 8 { 0x3f } else { 0x1f };
            if count != 0 {
                let kind = match m {
                    M::Shl | M::Sal => Shift::Shl,
                    M::Shr => Shift::Shr,
                    _ => Shift::Sar,
                };
                let r = alu::shift(kind, a, count, size);
                operand::write(ctx, i, 0, r.result)?;
                ctx.update_flags(STATUS, r.flags);
            } else if size == 4 && i.op0_kind() == OpKind::Register && ctx.is_long64() {
                // A count of 0 leaves the flags, but the 32-bit destination register is
                // still written, which clears bits 63:32 (as Bochs and QEMU model it).
                operand::write(ctx, i, 0, a)?;
            }
        }
        M::Imul | M::Mul if i.op_count() == 1 => {
            let size = operand::size(i, 0);
            let src = operand::read(ctx, i, 0)?;
            let acc = mask(ctx.gpr(RAX), size);
            let (r, high) = if m == M::Imul {
                alu::imul(acc, src, size)
            } else {
                alu::mul(acc, src, size)
            };
            if size == 1 {
                ctx.set_gpr_sized(RAX, 2, high << 8 | r.result);
            } else {
                ctx.set_gpr_sized(RAX, size, r.result);
                ctx.set_gpr_sized(RDX, size, high);
            }
            ctx.update_flags(STATUS, r.flags);
        }
        M::Imul => {
            let size = operand::size(i, 0);
            let (a, b) = if i.op_count() == 3 {
                (operand::read(ctx, i, 1)?, operand::read(ctx, i, 2)?)
            } else {
                (operand::read(ctx, i, 0)?, operand::read(ctx, i, 1)?)
            };
            let (r, _) = alu::imul(a, b, size);
            operand::write(ctx, i, 0, r.result)?;
            ctx.update_flags(STATUS, r.flags);
        }
        M::Div | M::Idiv => divide(ctx, i, m == M::Idiv)?,
        M::Cwde | M::Cbw | M::Cdqe => {
            // No explicit operands: the destination size comes from the mnemonic.
            let size = match m {
                M::Cbw => 2,
                M::Cwde => 4,
                _ => 8,
            };
            let half = size / 2;
            let v = sign_extend(ctx.gpr(RAX), half);
            ctx.set_gpr_sized(RAX, size, v);
        }
        M::Cdq | M::Cwd | M::Cqo => {
            let size = match m {
                M::Cwd => 2,
                M::Cdq => 4,
                _ => 8,
            };
            let negative = (sign_extend(ctx.gpr(RAX), size) as i64) < 0;
            ctx.set_gpr_sized(RDX, size, if negative { u64::MAX } else { 0 });
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// DIV / IDIV: #DE on a zero divisor or a quotient that does not fit. Flags are
/// undefined by the SDM; the model leaves them unchanged.
fn divide(ctx: &mut Ctx, i: &Instruction, signed: bool) -> Result<(), Exception> {
    let size = operand::size(i, 0);
    let divisor = operand::read(ctx, i, 0)?;
    if divisor == 0 {
        return Err(Exception::de("division by zero"));
    }
    let bits = size as u32 * 8;
    let (lo, hi) = if size == 1 {
        (ctx.gpr(RAX) & 0xff, (ctx.gpr(RAX) >> 8) & 0xff)
    } else {
        (mask(ctx.gpr(RAX), size), mask(ctx.gpr(RDX), size))
    };
    let dividend = (hi as u128) << bits | lo as u128;
    let (q, r) = if signed {
        let shift = 128 - 2 * bits;
        let n = ((dividend << shift) as i128) >> shift;
        let d = sign_extend(divisor, size) as i64 as i128;
        let q = n / d;
        let min = -(1i128 << (bits - 1));
        let max = (1i128 << (bits - 1)) - 1;
        if q < min || q > max {
            return Err(Exception::de(
                "the signed quotient does not fit the destination",
            ));
        }
        (q as u64, (n % d) as u64)
    } else {
        let q = dividend / divisor as u128;
        if q >> bits != 0 {
            return Err(Exception::de("the quotient does not fit the destination"));
        }
        (q as u64, (dividend % divisor as u128) as u64)
    };
    if size == 1 {
        ctx.set_gpr_sized(RAX, 2, (mask(r, 1) << 8) | mask(q, 1));
    } else {
        ctx.set_gpr_sized(RAX, size, mask(q, size));
        ctx.set_gpr_sized(RDX, size, mask(r, size));
    }
    Ok(())
}
