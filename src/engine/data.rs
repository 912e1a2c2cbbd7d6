//! Data movement: MOV (general, to/from segment and control registers), MOVZX, MOVSX,
//! MOVSXD, LEA, XCHG, NOP, and the flag instructions CLD/STD/CLC/STC/CMC.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::segload;
use super::Flow;
use crate::machine::cpu::{mask, Mode};
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
    if dst.is_cr() || src.is_cr() {
        return mov_cr(ctx, dst, src);
    }
    if let Some(seg) = SegReg::from_iced(dst) {
        if i.op0_kind() == OpKind::Register {
            if seg == SegReg::Cs {
                return Err(Exception::ud("MOV cannot load CS"));
            }
            let sel = operand::read(ctx, i, 1)? as u16;
            segload::load_data_or_stack(ctx, seg, sel)?;
            if seg == SegReg::Ss {
                ctx.shadow_next = true;
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

/// MOV to/from CR0, CR2, CR3, CR4 (SDM Vol. 2B, "MOV—Move to/from Control Registers").
fn mov_cr(ctx: &mut Ctx, dst: Register, src: Register) -> Result<(), Exception> {
    if ctx.cpl() != 0 {
        return Err(Exception::gp(
            0,
            "MOV to or from a control register requires CPL 0",
        ));
    }
    let n = |r: Register| match r {
        Register::CR0 => Some(0u8),
        Register::CR2 => Some(2),
        Register::CR3 => Some(3),
        Register::CR4 => Some(4),
        _ => None,
    };
    if src.is_cr() {
        let Some(_) = n(src) else {
            return Err(Exception::ud("the control register does not exist"));
        };
        let v = ctx.read_reg(src);
        ctx.write_reg(dst, v);
        return Ok(());
    }
    let Some(cr) = n(dst) else {
        return Err(Exception::ud("the control register does not exist"));
    };
    let v = ctx.read_reg(src);
    let long = ctx.mode() == Mode::Long64;
    if long && v >> 32 != 0 && cr != 3 && cr != 2 {
        return Err(Exception::gp(
            0,
            "reserved upper bits of the control register set",
        ));
    }
    if cr == 0 && long && v & crate::machine::cpu::CR0_PG == 0 {
        return Err(Exception::gp(0, "clearing CR0.PG in 64-bit mode"));
    }
    if cr == 4 && long && v & crate::machine::cpu::CR4_PAE == 0 {
        return Err(Exception::gp(
            0,
            "clearing CR4.PAE while IA-32e mode is active",
        ));
    }
    let v = if long { v } else { mask(v, 4) };
    ctx.set_cr(cr, v);
    Ok(())
}
