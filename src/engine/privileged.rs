//! Control and debug registers and the small privileged instructions: MOV to/from
//! CR0/CR2/CR3/CR4/CR8 and DR0-DR7, CLTS, INVLPG, SMSW, SLDT, CLAC/STAC (Intel SDM
//! Vol. 2A/2B, each instruction's "Operation" and exception tables; control-register
//! bits as SDM Vol. 3A 2.5 gives them).
//!
//! Model choices: CR0's reserved bits 6-15, 17 and 19-28 read as 0 whatever is written
//! and CR0.ET reads as 1 (hard-wired on every processor since the Pentium 4, SDM Vol. 3A
//! 2.5). Setting a CR4 bit the CPU model does not support (`cpu::CR4_SUPPORTED`,
//! docs/cpu-model.md) is #GP(0), as for a reserved bit. Setting CR0.PG with EFER.LME = 1
//! activates IA-32e mode (EFER.LMA = 1) and clearing it from compatibility mode
//! deactivates it (SDM Vol. 3A 10.8.5, 10.8.5.4); these checks live in `sysreg`, which
//! a debugger's writes share. DR7.GD
//! (general-detect) is not modelled and stops the run as unsupported.

use iced_x86::{Instruction, Mnemonic, Register};

use super::ctx::Ctx;
use super::fault::Exception;
use super::journal::DR_BASE;
use super::operand;
use super::sysreg;
use super::Flow;
use crate::machine::cpu::{mask, CR0_PE, CR0_TS, CR4_DE, DR6_INIT, DR7_INIT};
use crate::machine::flags::AC;

/// CR0 bits that exist (PE MP EM TS ET NE WP AM NW CD PG); the others read as 0.
pub(super) const CR0_DEFINED: u64 = 0xe005_003f;
/// The physical-address width of the CPU model (CPUID 80000008H): CR3 bits above it are
/// reserved in IA-32e mode.
pub const MAXPHYADDR: u32 = 46;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Mov => return mov(ctx, i),
        M::Clts => {
            require_cpl0(ctx, "CLTS")?;
            let cr0 = ctx.m.cpu.cr0;
            if cr0 & CR0_TS != 0 {
                ctx.set_cr(0, cr0 & !CR0_TS);
            }
        }
        // No TLB is modelled (and no page-table walk yet), so there is nothing to
        // invalidate: INVLPG is a no-op after its privilege check.
        M::Invlpg => require_cpl0(ctx, "INVLPG")?,
        // No caches are modelled: WBINVD and INVD have nothing to write back or drop.
        M::Wbinvd | M::Invd => require_cpl0(ctx, "WBINVD/INVD")?,
        M::Lmsw => {
            // LMSW loads CR0 bits 3:0 (PE MP EM TS) and cannot clear PE (SDM Vol. 2A LMSW).
            require_cpl0(ctx, "LMSW")?;
            let v = operand::read(ctx, i, 0)? & 0xf;
            let cr0 = ctx.m.cpu.cr0;
            let new = (cr0 & !0xe) | (v & 0xe) | (cr0 & CR0_PE) | (v & CR0_PE);
            if new != cr0 {
                ctx.set_cr(0, new);
            }
        }
        M::Lldt => {
            require_cpl0(ctx, "LLDT")?;
            let sel = operand::read(ctx, i, 0)? as u16;
            if sel & 0xfffc != 0 {
                return Ok(Flow::UnsupportedFeature(
                    "LLDT of a non-null selector (no LDT is modelled)",
                ));
            }
            let old = ctx.m.cpu.ldtr;
            if old.selector != sel {
                return Ok(Flow::UnsupportedFeature("LLDT (the LDTR is not journaled)"));
            }
        }
        M::Smsw => {
            // CR4.UMIP is not supported, so SMSW works at any CPL. A register operand
            // receives CR0 masked to the operand size (the SDM leaves the bits above 15
            // undefined for a 32-bit register; this is QEMU's choice); memory gets 16 bits.
            let cr0 = ctx.m.cpu.cr0;
            operand::write(ctx, i, 0, cr0)?;
        }
        M::Sldt => {
            let sel = ctx.m.cpu.ldtr.selector as u64;
            operand::write(ctx, i, 0, sel)?;
        }
        M::Clac | M::Stac => {
            // CPUID.(EAX=7,ECX=0):EBX.SMAP = 1 in the CPU model; #UD at CPL > 0.
            if ctx.cpl() != 0 {
                return Err(Exception::ud(
                    format!(
                        "{:?} at CPL {} (#UD unless CPL = 0)",
                        i.mnemonic(),
                        ctx.cpl()
                    )
                    .to_uppercase(),
                ));
            }
            let v = if i.mnemonic() == M::Stac { AC } else { 0 };
            ctx.update_flags(AC, v);
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

pub fn require_cpl0(ctx: &mut Ctx, what: &str) -> Result<(), Exception> {
    ctx.cost.checks(1);
    if ctx.cpl() != 0 {
        return Err(Exception::gp(
            0,
            format!("{what} at CPL {} (it requires CPL 0)", ctx.cpl()),
        ));
    }
    Ok(())
}

/// MOV with a control or debug register operand.
pub fn is_control_mov(i: &Instruction) -> bool {
    let r = |r: Register| r.is_cr() || r.is_dr();
    r(i.op0_register()) || r(i.op1_register())
}

fn cr_number(r: Register) -> Option<u8> {
    Some(match r {
        Register::CR0 => 0,
        Register::CR2 => 2,
        Register::CR3 => 3,
        Register::CR4 => 4,
        Register::CR8 => 8,
        _ => return None,
    })
}

/// MOV to/from a control or debug register (operand size 64 in 64-bit mode, else 32).
fn mov(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let (dst, src) = (i.op0_register(), i.op1_register());
    let is_ctl = |r: Register| r.is_cr() || r.is_dr();
    if !is_ctl(dst) && !is_ctl(src) {
        return Ok(Flow::Unsupported);
    }
    ctx.cost.checks(1);
    if ctx.cpl() != 0 {
        return Err(Exception::gp(
            0,
            "MOV to or from a control or debug register requires CPL 0",
        ));
    }
    let size = if ctx.is_long64() { 8 } else { 4 };
    if src.is_dr() || dst.is_dr() {
        return mov_dr(ctx, dst, src, size);
    }
    let reg = if src.is_cr() { src } else { dst };
    let n = match cr_number(reg) {
        Some(8) if !ctx.is_long64() => None,
        n => n,
    };
    let Some(n) = n else {
        return Err(Exception::ud(format!(
            "{reg:?} does not exist{}",
            if reg == Register::CR8 {
                " outside 64-bit mode"
            } else {
                ""
            }
        )));
    };
    if src.is_cr() {
        let v = read_cr(ctx, n);
        ctx.write_reg(dst, mask(v, size));
        return Ok(Flow::Next);
    }
    let v = mask(ctx.read_reg(src), size);
    let v = sysreg::checked_cr(ctx.m, n, v)?;
    let efer = sysreg::efer_after_cr0(ctx.m, n, v);
    ctx.set_cr(n, v);
    if let Some(efer) = efer {
        ctx.set_msr(crate::machine::msr::EFER, efer);
    }
    Ok(Flow::Next)
}

fn read_cr(ctx: &Ctx, n: u8) -> u64 {
    let c = &ctx.m.cpu;
    match n {
        0 => c.cr0,
        2 => c.cr2,
        3 => c.cr3,
        8 => c.cr8,
        _ => c.cr4,
    }
}

/// MOV to/from DR0-DR7 (SDM Vol. 2B, "MOV—Move to/from Debug Registers"; DR6/DR7
/// layout in Vol. 3A 17.2). With CR4.DE = 0, DR4 and DR5 alias DR6 and DR7; with
/// CR4.DE = 1 they are #UD.
fn mov_dr(ctx: &mut Ctx, dst: Register, src: Register, size: usize) -> Result<Flow, Exception> {
    let reg = if src.is_dr() { src } else { dst };
    let mut n = (reg as u32 - Register::DR0 as u32) as usize;
    if n > 7 {
        return Err(Exception::ud(format!("{reg:?} does not exist")));
    }
    if n == 4 || n == 5 {
        if ctx.m.cpu.cr4 & CR4_DE != 0 {
            return Err(Exception::ud("DR4/DR5 referenced with CR4.DE = 1"));
        }
        n += 2;
    }
    if ctx.m.cpu.dr[7] & (1 << 13) != 0 {
        return Ok(Flow::UnsupportedFeature(
            "DR7.GD (debug-register access detection)",
        ));
    }
    if src.is_dr() {
        let v = mask(ctx.m.cpu.dr[n], size);
        ctx.write_reg(dst, v);
        return Ok(Flow::Next);
    }
    let v = mask(ctx.read_reg(src), size);
    let v = match n {
        6 | 7 if v >> 32 != 0 => {
            return Err(Exception::gp(0, "MOV to DR6/DR7 sets reserved bits 63:32"))
        }
        // B0-B3, BD, BS, BT are writable; bits 4-11 and 16-31 read as 1, bit 12 as 0.
        6 => (v & 0xe00f) | DR6_INIT,
        // Bits 11, 12, 14 and 15 read as 0, bit 10 as 1.
        7 => (v & !0xd800) | DR7_INIT,
        _ => v,
    };
    ctx.set_cr(DR_BASE + n as u8, v);
    Ok(Flow::Next)
}
