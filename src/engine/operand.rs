//! Generic operand access driven by iced-x86's operand kinds, so each instruction's
//! semantics are written once for every form (register, memory, immediate).

use iced_x86::{CodeSize, Instruction, OpKind, Register};

use super::ctx::Ctx;
use super::fault::Exception;
use crate::machine::cpu::{mask, sign_extend};
use crate::machine::{AccessKind, SegReg};

/// Size in bytes of operand `i`.
#[inline]
pub fn size(instr: &Instruction, i: u32) -> usize {
    match instr.op_kind(i) {
        OpKind::Register => instr.op_register(i).size(),
        OpKind::Memory => instr.memory_size().size(),
        OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
        OpKind::Immediate16 => 2,
        OpKind::Immediate32 => 4,
        OpKind::Immediate64 => 8,
        // Sign-extended immediates: iced names the size they extend to.
        OpKind::Immediate8to16 => 2,
        OpKind::Immediate8to32 => 4,
        OpKind::Immediate8to64 | OpKind::Immediate32to64 => 8,
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        _ => 0,
    }
}

/// Address size in bytes of the memory operand (base/index register width, else the
/// displacement size, else the code size), as the CPU applies it.
pub fn address_size(instr: &Instruction) -> usize {
    let base = instr.memory_base();
    let index = instr.memory_index();
    for r in [base, index] {
        if r != Register::None && r != Register::RIP && r != Register::EIP {
            return r.size();
        }
    }
    match base {
        Register::RIP => return 8,
        Register::EIP => return 4,
        _ => {}
    }
    let displ = instr.memory_displ_size() as usize;
    if displ >= 2 {
        return displ;
    }
    match instr.code_size() {
        CodeSize::Code64 => 8,
        CodeSize::Code16 => 2,
        _ => 4,
    }
}

/// The effective address (offset within the segment) of the memory operand.
#[inline]
pub fn effective_address(ctx: &Ctx, instr: &Instruction) -> u64 {
    let mut ea = instr.memory_displacement64();
    let base = instr.memory_base();
    if base != Register::None && base != Register::RIP && base != Register::EIP {
        ea = ea.wrapping_add(ctx.read_reg(base));
    }
    let index = instr.memory_index();
    if index != Register::None {
        ea = ea.wrapping_add(
            ctx.read_reg(index)
                .wrapping_mul(instr.memory_index_scale() as u64),
        );
    }
    mask(ea, address_size(instr))
}

/// The segment register the memory operand uses (default or override).
#[inline]
pub fn segment(instr: &Instruction) -> SegReg {
    SegReg::from_iced(instr.memory_segment()).unwrap_or(SegReg::Ds)
}

/// Linear address of the memory operand, after segment checks.
pub fn linear(
    ctx: &Ctx,
    instr: &Instruction,
    len: usize,
    kind: AccessKind,
) -> Result<u64, Exception> {
    ctx.linear(segment(instr), effective_address(ctx, instr), len, kind)
}

/// Read operand `i` (zero-extended to 64 bits; immediates as iced sign-extends them).
#[inline]
pub fn read(ctx: &mut Ctx, instr: &Instruction, i: u32) -> Result<u64, Exception> {
    Ok(match instr.op_kind(i) {
        OpKind::Register => ctx.read_reg(instr.op_register(i)),
        OpKind::Memory => {
            let len = instr.memory_size().size();
            let ea = effective_address(ctx, instr);
            ctx.read_mem(segment(instr), ea, len)?
        }
        _ => instr.immediate(i),
    })
}

/// Read operand `i` and sign-extend it from its own size.
pub fn read_signed(ctx: &mut Ctx, instr: &Instruction, i: u32) -> Result<u64, Exception> {
    let v = read(ctx, instr, i)?;
    Ok(sign_extend(v, size(instr, i)))
}

/// Write operand `i` (a register or memory operand).
#[inline]
pub fn write(ctx: &mut Ctx, instr: &Instruction, i: u32, value: u64) -> Result<(), Exception> {
    match instr.op_kind(i) {
        OpKind::Register => {
            ctx.write_reg(instr.op_register(i), value);
            Ok(())
        }
        OpKind::Memory => {
            let len = instr.memory_size().size();
            let ea = effective_address(ctx, instr);
            ctx.write_mem(segment(instr), ea, len, value)
        }
        _ => Err(Exception::ud("the destination operand is not writable")),
    }
}
