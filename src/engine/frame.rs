//! Stack frames and all-register pushes: ENTER, PUSHA/PUSHAD, POPA/POPAD (Intel SDM
//! Vol. 2A "ENTER", Vol. 2B "POPA/POPAD", "PUSHA/PUSHAD").
//!
//! ENTER with a nesting level above 0 copies level - 1 frame pointers from the old frame
//! (read through SS at rBP - n * size, rBP with the stack address size) and pushes the
//! new frame pointer. As the SDM's "#SS(0) If the new value of the SP or ESP register is
//! outside the stack segment limit" says, the final stack pointer is checked: the model
//! probes a write of one operand-size unit there (as Bochs does), without writing.
//! PUSHA/POPA do not exist in 64-bit mode: iced-x86 decodes 60/61 there as invalid and
//! the fetch raises #UD.

use iced_x86::{Code, Instruction, Mnemonic};

use super::ctx::Ctx;
use super::fault::Exception;
use super::Flow;
use crate::machine::cpu::{mask, RBP, RSP};
use crate::machine::{AccessKind, SegReg};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    match i.mnemonic() {
        Mnemonic::Enter => enter(ctx, i)?,
        Mnemonic::Pusha | Mnemonic::Pushad => {
            let size = if i.mnemonic() == Mnemonic::Pusha {
                2
            } else {
                4
            };
            let sp = ctx.gpr(RSP);
            for r in 0..8 {
                let v = if r == RSP { sp } else { ctx.gpr(r) };
                ctx.push(mask(v, size), size)?;
            }
        }
        Mnemonic::Popa | Mnemonic::Popad => {
            let size = if i.mnemonic() == Mnemonic::Popa { 2 } else { 4 };
            for r in (0..8).rev() {
                let v = ctx.pop(size)?;
                if r != RSP {
                    ctx.set_gpr_sized(r, size, v);
                }
            }
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// ENTER imm16, imm8 (SDM Operation, with the nesting level taken MOD 32).
fn enter(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    let size = match i.code() {
        Code::Enterw_imm16_imm8 => 2,
        Code::Enterd_imm16_imm8 => 4,
        _ => 8,
    };
    let alloc = i.immediate16() as u64;
    let level = i.immediate8_2nd() as u64 % 32;
    let w = ctx.m.cpu.stack_width();
    ctx.push(mask(ctx.gpr(RBP), size), size)?;
    let frame = mask(ctx.gpr(RSP), w);
    if level > 0 {
        let bp = mask(ctx.gpr(RBP), w);
        for n in 1..level {
            let at = mask(bp.wrapping_sub(n * size as u64), w);
            let v = ctx.read_mem(SegReg::Ss, at, size)?;
            ctx.push(v, size)?;
        }
        ctx.push(mask(frame, size), size)?;
    }
    let sp = mask(ctx.gpr(RSP).wrapping_sub(alloc), w);
    let lin = ctx.linear(SegReg::Ss, sp, size, AccessKind::Write)?;
    let access = ctx.m.access(AccessKind::Write);
    ctx.probe(lin, size, access)?;
    if w == 8 {
        // "IF 64-Bit Mode (StackSize = 64) THEN RBP ← FrameTemp".
        ctx.set_gpr(RBP, frame);
    } else {
        ctx.set_gpr_sized(RBP, size, frame);
    }
    ctx.set_sp(sp);
    Ok(())
}
