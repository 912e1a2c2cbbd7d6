//! String instructions: MOVS, STOS, LODS, CMPS, SCAS, alone and with REP/REPE/REPNE, in
//! 16-, 32- and 64-bit address sizes (Intel SDM Vol. 2B "MOVS", "STOS", "LODS", "CMPS",
//! "SCAS", and "REP/REPE/REPZ/REPNE/REPNZ—Repeat String Operation Prefix").
//!
//! The source is seg:rSI (DS unless overridden), the destination ES:rDI (never
//! overridden); rSI/rDI move by the element size, down when DF = 1. The address size
//! chooses SI/ESI/RSI, DI/EDI/RDI and CX/ECX/RCX; a 32-bit address-size update clears bits
//! 63:32 as any 32-bit register write does, a 16-bit one keeps bits 63:16.
//!
//! Repeats: a real processor checks for interrupts between iterations, leaving RIP at the
//! instruction with the registers updated so far. The model runs iterations within one
//! step up to `MAX_ITERATIONS`; if more remain, the step ends with RIP still at the
//! instruction (as an interrupt window would) and the next step carries on. When an
//! iteration faults after others in the same step have completed, the step ends
//! before it, keeping the completed iterations; the next step then raises the fault with
//! rCX/rSI/rDI at the faulting iteration and RIP at the instruction, the state a real
//! processor reports. Each iteration either completes or changes nothing.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::alu;
use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, RAX, RCX, RDI, RSI};
use crate::machine::flags::{DF, STATUS, TF, ZF};
use crate::machine::SegReg;

/// Iterations of a repeated string instruction run in one step.
pub const MAX_ITERATIONS: u64 = 4096;

/// What one execution of the instruction does.
struct Str {
    op: Mnemonic,
    /// Element size in bytes.
    size: usize,
    /// Address size in bytes.
    asize: usize,
    /// Source segment (DS or the override).
    seg: SegReg,
    /// +size or -size.
    delta: u64,
}

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let op = i.mnemonic();
    if !i.is_string_instruction() {
        // MOVSD/CMPSD are also SSE2 mnemonics; dispatch sends only the 20 string ones.
        return Ok(Flow::Unsupported);
    }
    let size = i.memory_size().size();
    let s = Str {
        op: family(op),
        size,
        asize: address_size(i),
        seg: operand::segment(i),
        delta: if ctx.flag(DF) {
            (size as u64).wrapping_neg()
        } else {
            size as u64
        },
    };
    let rep = i.has_rep_prefix() || i.has_repe_prefix() || i.has_repne_prefix();
    if !rep {
        once(ctx, &s)?;
        return Ok(Flow::Next);
    }
    repeat(ctx, i, &s)
}

/// The REP loop of the SDM: while rCX != 0, run once, decrement rCX, and (CMPS/SCAS)
/// stop when ZF says so.
fn repeat(ctx: &mut Ctx, i: &Instruction, s: &Str) -> Result<Flow, Exception> {
    let compares = matches!(s.op, Mnemonic::Cmpsb | Mnemonic::Scasb);
    // With TF = 1 a real processor takes the single-step trap after every iteration
    // (SDM Vol. 3A 17.3.1.4): one iteration per step, so the trap follows each.
    let limit = if ctx.flag(TF) { 1 } else { MAX_ITERATIONS };
    let mut done = 0u64;
    loop {
        let count = mask(ctx.gpr(RCX), s.asize);
        if count == 0 {
            return Ok(Flow::Next);
        }
        if done == limit {
            ctx.set_rip(ctx.ip);
            return Ok(Flow::Jumped);
        }
        if let Err(e) = once(ctx, s) {
            if done == 0 {
                return Err(e);
            }
            // Keep the completed iterations; the next step raises the fault.
            ctx.set_rip(ctx.ip);
            return Ok(Flow::Jumped);
        }
        done += 1;
        ctx.set_gpr_sized(RCX, s.asize, count - 1);
        if count == 1 {
            return Ok(Flow::Next);
        }
        if compares && (ctx.flag(ZF) == i.has_repne_prefix()) {
            return Ok(Flow::Next);
        }
    }
}

/// One iteration: reads, then writes, then the index registers, so a fault changes
/// nothing.
fn once(ctx: &mut Ctx, s: &Str) -> Result<(), Exception> {
    let si = mask(ctx.gpr(RSI), s.asize);
    let di = mask(ctx.gpr(RDI), s.asize);
    let acc = mask(ctx.gpr(RAX), s.size);
    match s.op {
        Mnemonic::Movsb => {
            let v = ctx.read_mem(s.seg, si, s.size)?;
            ctx.write_mem(SegReg::Es, di, s.size, v)?;
        }
        Mnemonic::Stosb => ctx.write_mem(SegReg::Es, di, s.size, acc)?,
        Mnemonic::Lodsb => {
            let v = ctx.read_mem(s.seg, si, s.size)?;
            ctx.set_gpr_sized(RAX, s.size, v);
        }
        Mnemonic::Cmpsb => {
            let a = ctx.read_mem(s.seg, si, s.size)?;
            let b = ctx.read_mem(SegReg::Es, di, s.size)?;
            ctx.update_flags(STATUS, alu::sub(a, b, false, s.size).flags);
        }
        _ => {
            let b = ctx.read_mem(SegReg::Es, di, s.size)?;
            ctx.update_flags(STATUS, alu::sub(acc, b, false, s.size).flags);
        }
    }
    if matches!(s.op, Mnemonic::Movsb | Mnemonic::Lodsb | Mnemonic::Cmpsb) {
        ctx.set_gpr_sized(RSI, s.asize, si.wrapping_add(s.delta));
    }
    if s.op != Mnemonic::Lodsb {
        ctx.set_gpr_sized(RDI, s.asize, di.wrapping_add(s.delta));
    }
    Ok(())
}

/// The byte form's mnemonic stands for the family.
fn family(m: Mnemonic) -> Mnemonic {
    use Mnemonic as M;
    match m {
        M::Movsb | M::Movsw | M::Movsd | M::Movsq => M::Movsb,
        M::Stosb | M::Stosw | M::Stosd | M::Stosq => M::Stosb,
        M::Lodsb | M::Lodsw | M::Lodsd | M::Lodsq => M::Lodsb,
        M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Cmpsq => M::Cmpsb,
        _ => M::Scasb,
    }
}

/// The address size, from iced's string operand kinds (SI/ESI/RSI, DI/EDI/RDI).
fn address_size(i: &Instruction) -> usize {
    for n in 0..i.op_count() {
        match i.op_kind(n) {
            OpKind::MemorySegSI | OpKind::MemoryESDI => return 2,
            OpKind::MemorySegESI | OpKind::MemoryESEDI => return 4,
            OpKind::MemorySegRSI | OpKind::MemoryESRDI => return 8,
            _ => {}
        }
    }
    8
}
