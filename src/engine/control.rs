//! Near control transfers: JMP, Jcc, CALL, RET, LOOP, JCXZ (Intel SDM Vol. 2A/2B).
//! Far transfers are in `far`.

use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, RCX};
use crate::machine::flags::{CF, OF, PF, SF, ZF};
use crate::machine::msr::is_canonical;
use crate::machine::SegReg;

/// Is the condition true for these flags?
pub fn condition(cc: ConditionCode, f: u64) -> bool {
    let set = |b: u64| f & b != 0;
    match cc {
        ConditionCode::o => set(OF),
        ConditionCode::no => !set(OF),
        ConditionCode::b => set(CF),
        ConditionCode::ae => !set(CF),
        ConditionCode::e => set(ZF),
        ConditionCode::ne => !set(ZF),
        ConditionCode::be => set(CF) || set(ZF),
        ConditionCode::a => !set(CF) && !set(ZF),
        ConditionCode::s => set(SF),
        ConditionCode::ns => !set(SF),
        ConditionCode::p => set(PF),
        ConditionCode::np => !set(PF),
        ConditionCode::l => set(SF) != set(OF),
        ConditionCode::ge => set(SF) == set(OF),
        ConditionCode::le => set(ZF) || set(SF) != set(OF),
        ConditionCode::g => !set(ZF) && set(SF) == set(OF),
        ConditionCode::None => true,
    }
}

/// Operand size of a near branch in bytes.
fn branch_size(ctx: &Ctx, i: &Instruction) -> usize {
    match i.op0_kind() {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        OpKind::Register | OpKind::Memory => operand::size(i, 0),
        _ => ctx.m.cpu.bitness() as usize / 8,
    }
}

/// The branch target of operand 0, masked to the operand size.
fn target(ctx: &mut Ctx, i: &Instruction) -> Result<u64, Exception> {
    let size = branch_size(ctx, i);
    let t = match i.op0_kind() {
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
            i.near_branch_target()
        }
        _ => operand::read(ctx, i, 0)?,
    };
    Ok(mask(t, size))
}

/// Load RIP with a near target after the checks the SDM gives: the CS limit outside
/// 64-bit mode, a canonical address in 64-bit mode.
pub fn jump_near(ctx: &mut Ctx, t: u64) -> Result<(), Exception> {
    if ctx.is_long64() {
        if !is_canonical(t) {
            return Err(Exception::gp(0, "the branch target is not canonical"));
        }
    } else if t > ctx.seg(SegReg::Cs).limit as u64 {
        return Err(Exception::gp(0, "the branch target is beyond the CS limit"));
    }
    ctx.set_rip(t);
    Ok(())
}

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    let m = i.mnemonic();
    match m {
        M::Jmp => {
            if super::far::is_far(i) {
                return super::far::exec(ctx, i);
            }
            let t = target(ctx, i)?;
            jump_near(ctx, t)?;
            Ok(Flow::Jumped)
        }
        M::Call => {
            if super::far::is_far(i) {
                return super::far::exec(ctx, i);
            }
            let t = target(ctx, i)?;
            let size = branch_size(ctx, i);
            ctx.push(mask(ctx.next_ip, size), size)?;
            jump_near(ctx, t)?;
            Ok(Flow::Jumped)
        }
        M::Ret => {
            let size = i.stack_pointer_increment().unsigned_abs() as usize;
            let imm = if i.op_count() > 0 { i.immediate(0) } else { 0 };
            let size = if imm != 0 { size - imm as usize } else { size };
            let t = ctx.pop(size)?;
            if imm != 0 {
                let w = ctx.m.cpu.stack_width();
                let sp = mask(ctx.m.cpu.gpr[crate::machine::cpu::RSP].wrapping_add(imm), w);
                ctx.set_sp(sp);
            }
            jump_near(ctx, t)?;
            Ok(Flow::Jumped)
        }
        M::Loop | M::Loope | M::Loopne | M::Jcxz | M::Jecxz | M::Jrcxz => {
            let count_size = counter_size(i);
            let mut take;
            if matches!(m, M::Jcxz | M::Jecxz | M::Jrcxz) {
                take = mask(ctx.gpr(RCX), count_size) == 0;
            } else {
                let c = mask(ctx.gpr(RCX).wrapping_sub(1), count_size);
                ctx.set_gpr_sized(RCX, count_size, c);
                take = c != 0;
            }
            match m {
                M::Loope => take &= ctx.flag(ZF),
                M::Loopne => take &= !ctx.flag(ZF),
                _ => {}
            }
            if take {
                let t = target(ctx, i)?;
                jump_near(ctx, t)?;
                Ok(Flow::Jumped)
            } else {
                Ok(Flow::Next)
            }
        }
        _ if i.is_jcc_short_or_near() => {
            if condition(i.condition_code(), ctx.flags()) {
                let t = target(ctx, i)?;
                jump_near(ctx, t)?;
                Ok(Flow::Jumped)
            } else {
                Ok(Flow::Next)
            }
        }
        _ => Ok(Flow::Unsupported),
    }
}

/// The counter register width of LOOPcc/JrCXZ: the address size, which iced encodes in
/// the instruction's code name (`..._CX`, `..._ECX`, `..._RCX`).
fn counter_size(i: &Instruction) -> usize {
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
