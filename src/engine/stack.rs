//! Stack instructions: PUSH/POP (register, immediate, memory, segment register),
//! PUSHF/POPF, LEAVE (Intel SDM Vol. 2B, PUSH, POP, PUSHF, POPF, LEAVE).

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::segload;
use super::Flow;
use crate::machine::cpu::{mask, sign_extend, RBP, RSP};
use crate::machine::flags::{self, AC, CF, DF, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VM, ZF};
use crate::machine::SegReg;

/// Flags POPF (and IRET at CPL 0) may change.
pub const POPF_MODIFIABLE: u64 =
    CF | PF | flags::AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | AC | ID;

/// The operand size of a stack instruction in bytes (from iced's stack-pointer increment).
fn stack_size(i: &Instruction) -> usize {
    i.stack_pointer_increment().unsigned_abs() as usize
}

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Push => {
            let size = stack_size(i);
            if let Some(seg) = (i.op0_kind() == OpKind::Register)
                .then(|| SegReg::from_iced(i.op0_register()))
                .flatten()
            {
                let sel = ctx.seg(seg).selector;
                if size == 8 {
                    // "If the source operand is a segment register (16 bits) and the
                    // operand size is 64-bits, a zero-extended value is pushed on the
                    // stack" (SDM Vol. 2B, PUSH).
                    ctx.push(sel as u64, 8)?;
                } else {
                    ctx.push_segment_selector(sel, size)?;
                }
            } else {
                let v = operand::read(ctx, i, 0)?;
                let v = if matches!(i.op0_kind(), OpKind::Register | OpKind::Memory) {
                    v
                } else {
                    sign_extend(v, operand::size(i, 0))
                };
                ctx.push(mask(v, size), size)?;
            }
        }
        M::Pop => {
            let size = stack_size(i);
            if let Some(seg) = (i.op0_kind() == OpKind::Register)
                .then(|| SegReg::from_iced(i.op0_register()))
                .flatten()
            {
                let v = ctx.peek_stack(0, size)?;
                segload::load_data_or_stack(ctx, seg, v as u16)?;
                ctx.pop(size)?;
                if seg == SegReg::Ss {
                    ctx.shadow_next = true;
                    ctx.ss_loaded = true;
                }
            } else {
                let v = ctx.pop(size)?;
                // A memory destination addressed through ESP uses the incremented ESP.
                operand::write(ctx, i, 0, v)?;
            }
        }
        M::Pushf | M::Pushfd | M::Pushfq => {
            let size = stack_size(i);
            let image = ctx.flags() & !(VM | RF);
            ctx.push(mask(image, size), size)?;
        }
        M::Popf | M::Popfd | M::Popfq => {
            let size = stack_size(i);
            let v = ctx.pop(size)?;
            let cpl = ctx.cpl();
            let iopl = flags::iopl(ctx.flags());
            let mut modifiable = POPF_MODIFIABLE;
            if cpl > 0 {
                modifiable &= !IOPL;
                if cpl > iopl {
                    modifiable &= !IF;
                }
            }
            if size == 2 {
                modifiable &= 0xffff;
            }
            let f = (ctx.flags() & !modifiable & !RF) | (v & modifiable);
            ctx.set_flags(f);
        }
        M::Leave => {
            let w = ctx.m.cpu.stack_width();
            // iced reports no fixed stack-pointer increment for LEAVE (ESP comes from
            // EBP), so the operand size comes from the instruction's code.
            let size = match i.code() {
                Code::Leavew => 2,
                Code::Leaved => 4,
                _ => 8,
            };
            let bp = mask(ctx.gpr(RBP), w);
            let v = ctx.read_mem(SegReg::Ss, bp, size)?;
            ctx.set_sp(mask(bp.wrapping_add(size as u64), w));
            ctx.set_gpr_sized(RBP, size, v);
            let _ = RSP;
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}
