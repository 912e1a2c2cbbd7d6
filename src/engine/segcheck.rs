//! Segment checks without a segment load: VERR, VERW, LAR, LSL (Intel SDM Vol. 2A LAR,
//! Vol. 2A LSL, Vol. 2B VERR/VERW). Each reports in ZF whether the selector passed and
//! changes no other flag; a selector that fails (null, TI = 1 with the model's null
//! LDTR, beyond the GDT limit, a type the instruction does not accept, or a privilege
//! check) clears ZF and leaves the destination as it was.

use iced_x86::{Instruction, Mnemonic};

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::flags::ZF;
use crate::machine::{Descriptor, Selector};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    let m = i.mnemonic();
    let src = if matches!(m, M::Verr | M::Verw) { 0 } else { 1 };
    let sel = operand::read(ctx, i, src)? as u16;
    let d = descriptor(ctx, sel)?;
    let result = d.and_then(|d| match m {
        M::Verr => verify(ctx, sel, d, false).then_some(0),
        M::Verw => verify(ctx, sel, d, true).then_some(0),
        M::Lar => lar(ctx, sel, d, operand::size(i, 0)),
        M::Lsl => lsl(ctx, sel, d, operand::size(i, 0)),
        _ => None,
    });
    match result {
        Some(v) => {
            if matches!(m, M::Lar | M::Lsl) {
                operand::write(ctx, i, 0, v)?;
            }
            ctx.update_flags(ZF, ZF);
        }
        None => ctx.update_flags(ZF, 0),
    }
    Ok(Flow::Next)
}

/// The descriptor `sel` names, or None when the selector cannot name one (these
/// instructions clear ZF instead of faulting). A 16-byte IA-32e system descriptor must
/// fit in the GDT as a whole.
fn descriptor(ctx: &mut Ctx, sel: u16) -> Result<Option<Descriptor>, Exception> {
    let s = Selector(sel);
    if s.is_null() || s.ti() {
        return Ok(None);
    }
    let gdtr = ctx.m.cpu.gdtr;
    let offset = s.index() as u64 * 8;
    if offset + 7 > gdtr.limit as u64 {
        return Ok(None);
    }
    let d = Descriptor(ctx.read_system(gdtr.base.wrapping_add(offset), 8)?);
    ctx.cost.descriptor_reads += 1;
    if !d.attr().s() && ctx.m.cpu.long_mode_active() && offset + 15 > gdtr.limit as u64 {
        return Ok(None);
    }
    Ok(Some(d))
}

/// The privilege rule LAR, LSL and VERR/VERW share: a conforming code segment passes at
/// any level, anything else needs DPL >= CPL and DPL >= RPL.
fn visible(ctx: &mut Ctx, sel: u16, d: Descriptor) -> bool {
    let a = d.attr();
    (a.is_code() && a.conforming()) || (a.dpl() >= ctx.cpl() && a.dpl() >= Selector(sel).rpl())
}

/// VERR: a readable code or data segment; VERW: a writable data segment.
fn verify(ctx: &mut Ctx, sel: u16, d: Descriptor, write: bool) -> bool {
    let a = d.attr();
    if !a.s() {
        return false;
    }
    let ok_type = if write {
        a.is_data() && a.writable()
    } else {
        a.is_data() || a.readable()
    };
    // VERW checks privilege for every data segment; VERR exempts conforming code.
    ok_type && visible(ctx, sel, d)
}

/// System descriptor types LAR (`lar`) or LSL accept (SDM LAR/LSL, tables 3-x): in
/// IA-32e mode only LDT, 64-bit TSS (available/busy) and, for LAR, 64-bit call gates.
fn system_ok(ctx: &mut Ctx, ty: u8, lar: bool) -> bool {
    if ctx.m.cpu.long_mode_active() {
        matches!(ty, 0x2 | 0x9 | 0xb) || (lar && ty == 0xc)
    } else {
        matches!(ty, 0x1 | 0x2 | 0x3 | 0x9 | 0xb) || (lar && matches!(ty, 0x4 | 0x5 | 0xc))
    }
}

/// LAR: the access rights (descriptor bits 63:32 AND 00F0FF00H; 16-bit: AND FF00H).
fn lar(ctx: &mut Ctx, sel: u16, d: Descriptor, size: usize) -> Option<u64> {
    let a = d.attr();
    if !a.s() && !system_ok(ctx, a.ty(), true) {
        return None;
    }
    if !visible(ctx, sel, d) {
        return None;
    }
    let hi = d.0 >> 32;
    Some(if size == 2 {
        hi & 0xff00
    } else {
        hi & 0x00f0_ff00
    })
}

/// LSL: the byte-granular segment limit (the 16-bit form keeps its low 16 bits).
fn lsl(ctx: &mut Ctx, sel: u16, d: Descriptor, size: usize) -> Option<u64> {
    let a = d.attr();
    if !a.s() && !system_ok(ctx, a.ty(), false) {
        return None;
    }
    if !visible(ctx, sel, d) {
        return None;
    }
    let limit = d.limit() as u64;
    Some(if size == 2 { limit & 0xffff } else { limit })
}
