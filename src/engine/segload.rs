//! Loading segment registers from the GDT with the checks of SDM Vol. 2B, "MOV—Move"
//! and "POP" (protected-mode segment loads), and the TSS/LDT descriptor reads.

use super::ctx::Ctx;
use super::fault::Exception;
use crate::machine::cpu::Mode;
use crate::machine::{Descriptor, SegReg, Segment, Selector};

/// Read the 8-byte descriptor for `sel` from the GDT. Errors use the selector's
/// index (RPL cleared) as error code, as #GP(selector) does.
pub fn read_descriptor(ctx: &mut Ctx, sel: u16) -> Result<(u64, Descriptor), Exception> {
    let s = Selector(sel);
    let code = (sel & 0xfffc) as u32;
    if s.ti() {
        return Err(Exception::gp(
            code,
            "the selector refers to the LDT, and LDTR holds a null selector",
        ));
    }
    let gdtr = ctx.m.cpu.gdtr;
    let offset = s.index() as u64 * 8;
    if offset + 7 > gdtr.limit as u64 {
        return Err(Exception::gp(
            code,
            "the selector's index is beyond the GDT limit",
        ));
    }
    let addr = gdtr.base.wrapping_add(offset);
    let raw = ctx.read_system(addr, 8)?;
    ctx.cost.descriptor_reads += 1;
    Ok((addr, Descriptor(raw)))
}

/// Set the accessed bit of a code/data descriptor in memory, as the processor does when
/// it loads the descriptor into a segment register (SDM Vol. 3A, 3.4.5.1).
pub fn mark_accessed(ctx: &mut Ctx, addr: u64, d: Descriptor) -> Result<(), Exception> {
    if d.attr().s() && !d.attr().accessed() {
        ctx.write_system(addr + 5, 1, (d.with_accessed().0 >> 40) & 0xff)?;
    }
    Ok(())
}

/// MOV/POP to DS, ES, FS, GS or SS.
pub fn load_data_or_stack(ctx: &mut Ctx, seg: SegReg, sel: u16) -> Result<(), Exception> {
    let s = Selector(sel);
    let cpl = ctx.cpl();
    let code = (sel & 0xfffc) as u32;
    if seg == SegReg::Ss {
        if s.is_null() {
            // 64-bit mode lets a kernel (CPL < 3) hold a null SS whose RPL equals CPL.
            if ctx.mode() == Mode::Long64 && cpl != 3 && s.rpl() == cpl {
                ctx.set_seg(seg, Segment::null(sel));
                return Ok(());
            }
            return Err(Exception::gp(0, "loading a null selector into SS"));
        }
        let (addr, d) = read_descriptor(ctx, sel)?;
        let a = d.attr();
        ctx.cost.checks(1);
        if s.rpl() != cpl {
            return Err(Exception::gp(code, "SS selector RPL differs from CPL"));
        }
        if !a.writable() {
            return Err(Exception::gp(code, "SS must be a writable data segment"));
        }
        ctx.cost.checks(1);
        if a.dpl() != cpl {
            return Err(Exception::gp(code, "SS descriptor DPL differs from CPL"));
        }
        if !a.present() {
            return Err(Exception::ss(code, "the stack segment is not present"));
        }
        let loaded = load_from(ctx, addr, d, sel)?;
        ctx.set_seg(seg, loaded);
        return Ok(());
    }
    if s.is_null() {
        ctx.set_seg(seg, Segment::null(sel));
        return Ok(());
    }
    let (addr, d) = read_descriptor(ctx, sel)?;
    let a = d.attr();
    if !(a.is_data() || (a.is_code() && a.readable())) {
        return Err(Exception::gp(
            code,
            "the descriptor is not a data or readable code segment",
        ));
    }
    // Two comparisons: RPL against DPL and CPL against DPL (SDM Vol. 3A 5.7).
    if a.is_data() || !a.conforming() {
        ctx.cost.checks(2);
    }
    if (a.is_data() || !a.conforming()) && (s.rpl() > a.dpl() || cpl > a.dpl()) {
        return Err(Exception::gp(
            code,
            "the segment's DPL is less than both RPL and CPL allow",
        ));
    }
    if !a.present() {
        return Err(Exception::np(code, "the segment is not present"));
    }
    let loaded = load_from(ctx, addr, d, sel)?;
    ctx.set_seg(seg, loaded);
    Ok(())
}

/// The checks shared by every load of CS for a far transfer to `sel` (IRET, interrupt
/// gates): a present code segment. Returns the descriptor and its address.
pub fn code_descriptor(ctx: &mut Ctx, sel: u16, ext: u32) -> Result<(u64, Descriptor), Exception> {
    let code = (sel as u32 & 0xfffc) | ext;
    if Selector(sel).is_null() {
        return Err(Exception::gp(ext, "the code segment selector is null"));
    }
    let (addr, d) = read_descriptor(ctx, sel).map_err(|e| with_ext(e, ext))?;
    if !d.attr().is_code() {
        return Err(Exception::gp(
            code,
            "the selector does not name a code segment",
        ));
    }
    Ok((addr, d))
}

/// Add the EXT bit to an exception's error code.
pub fn with_ext(mut e: Exception, ext: u32) -> Exception {
    if let Some(c) = e.error_code.as_mut() {
        if e.vector != super::fault::PF {
            *c |= ext;
        }
    }
    e
}

/// A code or stack segment cache from a descriptor after setting its accessed bit.
pub fn load_from(ctx: &mut Ctx, addr: u64, d: Descriptor, sel: u16) -> Result<Segment, Exception> {
    mark_accessed(ctx, addr, d)?;
    let d = if d.attr().s() { d.with_accessed() } else { d };
    Ok(d.to_segment(sel))
}
