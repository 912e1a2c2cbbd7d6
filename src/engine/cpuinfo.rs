//! What the processor says about itself and its clock: CPUID, RDTSC, RDTSCP, RDPID,
//! RDPMC, XGETBV, and RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE (Intel SDM Vol. 2A/2B, each
//! instruction's "Operation" and exception tables). The CPU model CPUID describes is
//! documented in docs/cpu-model.md.
//!
//! The time-stamp counter is deterministic: TSC = the engine's step number (every
//! instruction or delivery counts one) + IA32_TSC_ADJUST, so stepping back and forward
//! reads the same values. No flags are affected by these instructions.

use iced_x86::{Instruction, Mnemonic};

use super::ctx::Ctx;
use super::fault::Exception;
use super::Flow;
use crate::machine::cpu::{mask, CR4_FSGSBASE, CR4_OSXSAVE, CR4_TSD, RAX, RBX, RCX, RDX};
use crate::machine::msr::{self, is_canonical};
use crate::machine::{SegReg, Segment};

/// The maximum basic and extended CPUID leaves of the model.
const MAX_BASIC: u32 = 7;
const MAX_EXT: u32 = 0x8000_0008;
/// "ringstep virtual CPU" padded with NULs: the brand string of leaves 80000002H-4H.
const BRAND: &[u8; 48] =
    b"ringstep virtual CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// CPUID leaf `leaf`, subleaf `sub`: (EAX, EBX, ECX, EDX).
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let leaf = if leaf > MAX_BASIC && !(0x8000_0000..=MAX_EXT).contains(&leaf) {
        // Intel: a leaf above the maximum returns the highest basic leaf's data.
        MAX_BASIC
    } else {
        leaf
    };
    match leaf {
        // "GenuineIntel" in EBX, EDX, ECX.
        0 => [MAX_BASIC, 0x756e_6547, 0x6c65_746e, 0x4965_6e69],
        // Family 6, model 0x5e (extended model 5, model 0xe), stepping 3; CLFLUSH line 8
        // (64 bytes), one logical processor, APIC ID 0.
        // ECX: CX16 (13), MOVBE (22), POPCNT (23).
        // EDX: DE (2) PSE (3) TSC (4) MSR (5) PAE (6) CX8 (8) APIC (9) SEP (11) MTRR (12)
        //      PGE (13) CMOV (15) PAT (16).
        1 => [
            0x0005_06e3,
            0x0001_0800,
            1 << 13 | 1 << 22 | 1 << 23,
            1 << 2
                | 1 << 3
                | 1 << 4
                | 1 << 5
                | 1 << 6
                | 1 << 8
                | 1 << 9
                | 1 << 11
                | 1 << 12
                | 1 << 13
                | 1 << 15
                | 1 << 16,
        ],
        // EBX: FSGSBASE (0), TSC_ADJUST (1), BMI1 (3), SMEP (7), SMAP (20);
        // ECX: RDPID (22); EDX: IBRS/IBPB (26, IA32_SPEC_CTRL and IA32_PRED_CMD).
        7 if sub == 0 => [0, 1 | 1 << 1 | 1 << 3 | 1 << 7 | 1 << 20, 1 << 22, 1 << 26],
        0x8000_0000 => [MAX_EXT, 0, 0, 0],
        // ECX: LAHF/SAHF (0), LZCNT (5); EDX: SYSCALL (11), NX (20), 1-GByte pages (26),
        // RDTSCP (27), LM (29).
        0x8000_0001 => [
            0,
            0,
            1 | 1 << 5,
            1 << 11 | 1 << 20 | 1 << 26 | 1 << 27 | 1 << 29,
        ],
        0x8000_0002..=0x8000_0004 => {
            let at = (leaf - 0x8000_0002) as usize * 16;
            let w = |k: usize| {
                let b = &BRAND[at + k * 4..at + k * 4 + 4];
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            };
            [w(0), w(1), w(2), w(3)]
        }
        // 46 physical and 48 linear address bits.
        0x8000_0008 => [0x302e, 0, 0, 0],
        _ => [0; 4],
    }
}

/// The time-stamp counter at this step.
pub fn tsc(ctx: &Ctx) -> u64 {
    ctx.step.wrapping_add(ctx.msr(msr::TSC_ADJUST))
}

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Cpuid => {
            let r = cpuid(ctx.gpr(RAX) as u32, ctx.gpr(RCX) as u32);
            for (reg, v) in [RAX, RBX, RCX, RDX].into_iter().zip(r) {
                ctx.set_gpr(reg, v as u64);
            }
        }
        M::Rdtsc | M::Rdtscp => {
            if ctx.m.cpu.cr4 & CR4_TSD != 0 && ctx.cpl() != 0 {
                return Err(Exception::gp(
                    0,
                    format!("{:?} at CPL {} with CR4.TSD = 1", i.mnemonic(), ctx.cpl())
                        .to_uppercase(),
                ));
            }
            let t = tsc(ctx);
            ctx.set_gpr(RAX, t & 0xffff_ffff);
            ctx.set_gpr(RDX, t >> 32);
            if i.mnemonic() == M::Rdtscp {
                let aux = ctx.msr(msr::TSC_AUX) & 0xffff_ffff;
                ctx.set_gpr(RCX, aux);
            }
        }
        M::Rdpid => {
            // RDPID r32 outside 64-bit mode, r64 in it: IA32_TSC_AUX zero-extended.
            let aux = ctx.msr(msr::TSC_AUX) & 0xffff_ffff;
            ctx.write_reg(i.op0_register(), aux);
        }
        M::Xgetbv => {
            // The CPU model has no XSAVE (CPUID.1:ECX.XSAVE = 0), so CR4.OSXSAVE cannot be
            // set and XGETBV is always #UD.
            if ctx.m.cpu.cr4 & CR4_OSXSAVE == 0 {
                return Err(Exception::ud("XGETBV with CR4.OSXSAVE = 0"));
            }
            return Ok(Flow::UnsupportedFeature("XGETBV (XSAVE is not modelled)"));
        }
        M::Rdpmc => {
            // The model has no performance counters (CPUID leaf 0AH is absent): every
            // counter index in ECX is invalid, #GP(0); at CPL > 0 with CR4.PCE = 0 the
            // privilege check fails first (SDM Vol. 2B RDPMC).
            let pce = ctx.m.cpu.cr4 & (1 << 8) != 0;
            let why = if ctx.cpl() != 0 && !pce {
                "RDPMC at CPL > 0 with CR4.PCE = 0"
            } else {
                "RDPMC: the CPU model has no performance counters (ECX names none)"
            };
            return Err(Exception::gp(0, why));
        }
        M::Rdfsbase | M::Rdgsbase | M::Wrfsbase | M::Wrgsbase => fsgsbase(ctx, i)?,
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE: 64-bit mode only, #UD unless CR4.FSGSBASE = 1;
/// a write of a non-canonical base is #GP(0). The 32-bit forms read the low half and
/// write a zero-extended base.
fn fsgsbase(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    use Mnemonic as M;
    let m = i.mnemonic();
    if !ctx.is_long64() {
        return Err(Exception::ud(
            format!("{m:?} outside 64-bit mode").to_uppercase(),
        ));
    }
    if ctx.m.cpu.cr4 & CR4_FSGSBASE == 0 {
        return Err(Exception::ud(
            format!("{m:?} with CR4.FSGSBASE = 0").to_uppercase(),
        ));
    }
    let s = if matches!(m, M::Rdfsbase | M::Wrfsbase) {
        SegReg::Fs
    } else {
        SegReg::Gs
    };
    let r = i.op0_register();
    let size = r.size();
    if matches!(m, M::Rdfsbase | M::Rdgsbase) {
        let base = ctx.seg(s).base;
        ctx.write_reg(r, mask(base, size));
        return Ok(());
    }
    let base = mask(ctx.read_reg(r), size);
    if !is_canonical(base) {
        return Err(Exception::gp(
            0,
            format!("{m:?} with a non-canonical base").to_uppercase(),
        ));
    }
    let seg = ctx.seg(s);
    ctx.set_seg(s, Segment { base, ..seg });
    Ok(())
}
