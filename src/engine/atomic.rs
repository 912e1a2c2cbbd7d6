//! Read-modify-write exchanges: XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B (Intel SDM Vol. 2A
//! "CMPXCHG", "CMPXCHG8B/CMPXCHG16B", Vol. 2C "XADD").
//!
//! The machine has one processor, so a LOCK prefix changes nothing in what these do. Where
//! LOCK is not allowed (a register destination, an instruction that is not a
//! read-modify-write of memory) iced-x86 decodes the bytes as invalid and the fetch
//! raises #UD (SDM Vol. 2A, "LOCK—Assert LOCK# Signal Prefix").
//!
//! As the SDM's Operation says, CMPXCHG and CMPXCHG8B/16B write the destination back
//! even when the comparison fails ("DEST ← TEMP"), so a read-only destination faults
//! either way, and a 32-bit register destination is zero-extended in 64-bit mode.
//! A 32-bit accumulator (EAX, or EDX:EAX) is only written when the comparison fails.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::alu;
use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, RAX, RBX, RCX, RDX};
use crate::machine::flags::{STATUS, ZF};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    match i.mnemonic() {
        Mnemonic::Xadd => xadd(ctx, i)?,
        Mnemonic::Cmpxchg => cmpxchg(ctx, i)?,
        Mnemonic::Cmpxchg8b => cmpxchg_pair(ctx, i, 4)?,
        Mnemonic::Cmpxchg16b => cmpxchg_pair(ctx, i, 8)?,
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// XADD: TEMP ← SRC + DEST; SRC ← DEST; DEST ← TEMP; flags as ADD.
fn xadd(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    let size = operand::size(i, 0);
    let dest = operand::read(ctx, i, 0)?;
    let src = operand::read(ctx, i, 1)?;
    let r = alu::add(dest, src, false, size);
    if i.op0_kind() == OpKind::Memory {
        // The memory write first, so a fault leaves the register as it was.
        operand::write(ctx, i, 0, r.result)?;
        operand::write(ctx, i, 1, dest)?;
    } else {
        // The SDM's order: with one register as both operands, DEST wins.
        operand::write(ctx, i, 1, dest)?;
        operand::write(ctx, i, 0, r.result)?;
    }
    ctx.update_flags(STATUS, r.flags);
    Ok(())
}

/// CMPXCHG: compare the accumulator with DEST; flags as CMP accumulator, DEST.
fn cmpxchg(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    let size = operand::size(i, 0);
    let dest = operand::read(ctx, i, 0)?;
    let src = operand::read(ctx, i, 1)?;
    let acc = mask(ctx.gpr(RAX), size);
    let r = alu::sub(acc, dest, false, size);
    if acc == dest {
        operand::write(ctx, i, 0, src)?;
    } else {
        operand::write(ctx, i, 0, dest)?;
        ctx.set_gpr_sized(RAX, size, dest);
    }
    ctx.update_flags(STATUS, r.flags);
    Ok(())
}

/// CMPXCHG8B (`half` = 4) and CMPXCHG16B (`half` = 8): compare rDX:rAX with the memory
/// operand; equal: store rCX:rBX, ZF = 1; else load it into rDX:rAX, ZF = 0.
fn cmpxchg_pair(ctx: &mut Ctx, i: &Instruction, half: usize) -> Result<(), Exception> {
    let seg = operand::segment(i);
    let ea = operand::effective_address(ctx, i);
    if half == 8 && ea & 15 != 0 {
        return Err(Exception::gp(
            0,
            "the CMPXCHG16B operand is not aligned on a 16-byte boundary",
        ));
    }
    let hi_ea = mask(ea.wrapping_add(half as u64), operand::address_size(i));
    let lo = ctx.read_mem(seg, ea, half)?;
    let hi = ctx.read_mem(seg, hi_ea, half)?;
    let (eax, edx) = (mask(ctx.gpr(RAX), half), mask(ctx.gpr(RDX), half));
    let equal = lo == eax && hi == edx;
    let (new_lo, new_hi) = if equal {
        (mask(ctx.gpr(RBX), half), mask(ctx.gpr(RCX), half))
    } else {
        (lo, hi)
    };
    // Both halves are checked for writing before either is written.
    ctx.linear(seg, ea, 2 * half, crate::machine::AccessKind::Write)?;
    ctx.write_mem(seg, hi_ea, half, new_hi)?;
    ctx.write_mem(seg, ea, half, new_lo)?;
    if !equal {
        ctx.set_gpr_sized(RAX, half, lo);
        ctx.set_gpr_sized(RDX, half, hi);
    }
    ctx.update_flags(ZF, if equal { ZF } else { 0 });
    Ok(())
}
