//! Data movement: MOV (general, to/from segment and control registers), MOVZX, MOVSX,
//! MOVSXD, LEA, XCHG, NOP, and the flag instructions CLD/STD/CLC/STC/CMC.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::segload;
use super::Flow;
use crate::machine::cpu::mask;
use crate::machine::flags::{CF, DF};
use crate::machine::SegReg;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Mov => mov(ctx, i)?,
        M::Movzx => {
            let v = operand::read(ctx, i, 1)?;
            operand::write(ctx, i, 0, v)?;
        }
        M::Movsx | M::Movsxd => {
            let v = operand::read_signed(ctx, i, 1)?;
            let size = operand::size(i, 0);
            operand::write(ctx, i, 0, mask(v, size))?;
        }
        M::Lea => {
            let ea = operand::effective_address(ctx, i);
            operand::write(ctx, i, 0, ea)?;
        }
        M::Xchg => {
            let a = operand::read(ctx, i, 0)?;
            let b = operand::read(ctx, i, 1)?;
            // Write the memory operand (if any) first so a fault leaves no register change.
            operand::write(ctx, i, 1, a)?;
            operand::write(ctx, i, 0, b)?;
        }
        M::Nop | M::Pause => {}
        M::Cld => ctx.update_flags(DF, 0),
        M::Std => ctx.update_flags(DF, DF),
        M::Clc => ctx.update_flags(CF, 0),
        M::Stc => ctx.update_flags(CF, CF),
        M::Cmc => {
            let f = ctx.flags() ^ CF;
            ctx.set_flags(f);
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

fn mov(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    let dst = i.op0_register();
    let src = if i.op1_kind() == OpKind::Register {
        i.op1_register()
    } else {
        Register::None
    };
    if let Some(seg) = SegReg::from_iced(dst) {
        if i.op0_kind() == OpKind::Register {
            if seg == SegReg::Cs {
                return Err(Exception::ud("MOV cannot load CS"));
            }
            let sel = operand::read(ctx, i, 1)? as u16;
            segload::load_data_or_stack(ctx, seg, sel)?;
            if seg == SegReg::Ss {
                ctx.shadow_next = true;
                ctx.ss_loaded = true;
            }
            return Ok(());
        }
    }
    if let Some(seg) = SegReg::from_iced(src) {
        // MOV r/m, Sreg: a memory destination is always 16 bits; a 32-bit register
        // destination receives the zero-extended selector.
        let sel = ctx.seg(seg).selector as u64;
        return operand::write(ctx, i, 0, sel);
    }
    let v = operand::read(ctx, i, 1)?;
    operand::write(ctx, i, 0, v)
}
