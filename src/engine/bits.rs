//! Bit test, scan and count: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT, POPCNT (Intel SDM
//! Vol. 2A, "BT", "BTS", "BTR", "BTC", "BSF", "BSR", "LZCNT", "POPCNT"; Vol. 2B "TZCNT").
//!
//! BT* with a memory operand and a register bit offset address the bit string beyond the
//! operand: the offset is a signed operand-size integer, the access is the operand-size
//! unit at EA + (size in bytes) * floor(offset / size in bits), wrapped to the address
//! size. With an immediate, or a register destination, the offset is taken modulo the
//! operand size.
//!
//! Model choices for flags the SDM leaves undefined: BT* and BSF/BSR leave OF, SF, AF,
//! PF (and BSF/BSR also CF) unchanged; TZCNT/LZCNT leave OF, SF, AF, PF unchanged. A BSF
//! or BSR of 0 leaves the destination register unchanged (all 64 bits), as AMD documents
//! and Intel processors do.
//!
//! TZCNT and LZCNT are modelled as executed by a CPU with BMI1 and LZCNT (CPUID.07H:
//! EBX.BMI1 and CPUID.80000001H:ECX.LZCNT set); iced-x86 decodes F3 0F BC/BD as them.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, sign_extend};
use crate::machine::flags::{AF, CF, OF, PF, SF, ZF};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Bt | M::Bts | M::Btr | M::Btc => bit_test(ctx, i)?,
        M::Bsf | M::Bsr => {
            let size = operand::size(i, 0);
            let src = mask(operand::read(ctx, i, 1)?, size);
            if src == 0 {
                ctx.update_flags(ZF, ZF);
            } else {
                let index = if i.mnemonic() == M::Bsf {
                    src.trailing_zeros()
                } else {
                    63 - src.leading_zeros()
                };
                operand::write(ctx, i, 0, index as u64)?;
                ctx.update_flags(ZF, 0);
            }
        }
        M::Tzcnt | M::Lzcnt => {
            let size = operand::size(i, 0);
            let src = mask(operand::read(ctx, i, 1)?, size);
            let n = if i.mnemonic() == M::Tzcnt {
                src.trailing_zeros().min(size as u32 * 8)
            } else {
                src.leading_zeros() - (64 - size as u32 * 8)
            };
            operand::write(ctx, i, 0, n as u64)?;
            let f = (if src == 0 { CF } else { 0 }) | (if n == 0 { ZF } else { 0 });
            ctx.update_flags(CF | ZF, f);
        }
        M::Popcnt => {
            let size = operand::size(i, 0);
            let src = mask(operand::read(ctx, i, 1)?, size);
            operand::write(ctx, i, 0, src.count_ones() as u64)?;
            let f = if src == 0 { ZF } else { 0 };
            ctx.update_flags(OF | SF | ZF | AF | CF | PF, f);
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// BT, BTS, BTR, BTC: CF = the selected bit, which BTS sets, BTR clears, BTC flips.
fn bit_test(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    let size = operand::size(i, 0);
    let nbits = size as u64 * 8;
    let raw = operand::read(ctx, i, 1)?;
    let (value, bit, at) = if i.op0_kind() == OpKind::Memory && i.op1_kind() == OpKind::Register {
        // The signed offset selects a unit below or above the operand.
        let offset = sign_extend(raw, size) as i64;
        let unit = offset.div_euclid(nbits as i64);
        let bit = offset.rem_euclid(nbits as i64) as u64;
        let ea = operand::effective_address(ctx, i).wrapping_add((unit * size as i64) as u64);
        let ea = mask(ea, operand::address_size(i));
        let seg = operand::segment(i);
        (ctx.read_mem(seg, ea, size)?, bit, Some((seg, ea)))
    } else {
        (operand::read(ctx, i, 0)?, raw % nbits, None)
    };
    let cf = (value >> bit) & 1 != 0;
    let new = match i.mnemonic() {
        Mnemonic::Bts => value | 1 << bit,
        Mnemonic::Btr => value & !(1 << bit),
        Mnemonic::Btc => value ^ 1 << bit,
        _ => {
            ctx.update_flags(CF, if cf { CF } else { 0 });
            return Ok(());
        }
    };
    match at {
        Some((seg, ea)) => ctx.write_mem(seg, ea, size, new)?,
        None => operand::write(ctx, i, 0, new)?,
    }
    ctx.update_flags(CF, if cf { CF } else { 0 });
    Ok(())
}
