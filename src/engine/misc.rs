//! Flag-byte transfers and hints: LAHF, SAHF (Intel SDM Vol. 2A "LAHF", Vol. 2B "SAHF"),
//! ENDBR32/ENDBR64 (CET is not enabled, so they execute as NOPs), LFENCE, MFENCE,
//! SFENCE (one in-order processor: nothing to order), and the hints PREFETCHh/PREFETCHW
//! and the reserved-NOP opcodes 0F 19..0F 1E (no cache is modelled; a prefetch never
//! faults, SDM Vol. 2B "PREFETCHh": "does not generate exceptions" beyond #UD for LOCK).
//!
//! LAHF/SAHF in 64-bit mode need CPUID.80000001H:ECX.LAHF-SAHF[bit 0]; the modelled CPU
//! has it, so they never raise #UD.

use iced_x86::{Instruction, Mnemonic};

use super::ctx::Ctx;
use super::fault::Exception;
use super::Flow;
use crate::machine::cpu::RAX;
use crate::machine::flags::{AF, CF, PF, SF, ZF};

/// The flags LAHF copies and SAHF loads (bit 1 reads as 1, bits 3 and 5 as 0).
const AH_FLAGS: u64 = SF | ZF | AF | PF | CF;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    match i.mnemonic() {
        Mnemonic::Lahf => {
            let ah = (ctx.flags() & AH_FLAGS) | 2;
            let rax = ctx.gpr(RAX);
            ctx.set_gpr(RAX, (rax & !0xff00) | ah << 8);
        }
        Mnemonic::Sahf => {
            let ah = (ctx.gpr(RAX) >> 8) & 0xff;
            ctx.update_flags(AH_FLAGS, ah);
        }
        Mnemonic::Endbr32 | Mnemonic::Endbr64 => {}
        Mnemonic::Lfence | Mnemonic::Mfence | Mnemonic::Sfence => {}
        Mnemonic::Prefetchnta
        | Mnemonic::Prefetcht0
        | Mnemonic::Prefetcht1
        | Mnemonic::Prefetcht2
        | Mnemonic::Prefetchw
        | Mnemonic::Reservednop => {}
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}
