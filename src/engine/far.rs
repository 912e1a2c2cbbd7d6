//! Far control transfers and far-pointer loads: JMP ptr16:16/32 and m16:16/32/64, CALL
//! far (the same forms), RETF (with and without imm16), and LSS/LDS/LES/LFS/LGS (Intel
//! SDM Vol. 2A JMP, CALL, RET "Protected Mode" and "IA-32e Mode" operation; Vol. 2A
//! LDS/LES/LFS/LGS/LSS).
//!
//! Transfers to a code segment are modelled with every check the SDM lists (null
//! selector, descriptor type, conforming/non-conforming DPL against CPL and RPL,
//! presence, L and D both set, the offset against the limit or canonical form). A far
//! JMP/CALL through a call gate stops the run as "call gate (not modelled)"; through a
//! task gate or TSS as "task switch (not modelled)". The model has no LDT: a selector
//! with TI = 1 faults as with a null LDTR. Flags are not affected.

use iced_x86::{Code, Instruction, MemorySize, Mnemonic, OpKind};

use super::ctx::Ctx;
use super::fault::Exception;
use super::iret::null_data_segments;
use super::operand;
use super::segload::{load_data_or_stack, load_from, read_descriptor};
use super::Flow;
use crate::machine::cpu::{mask, RSP};
use crate::machine::msr::is_canonical;
use crate::machine::{Descriptor, SegReg, Segment, Selector};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Jmp | M::Call => {
            let (sel, off, size) = far_pointer(ctx, i)?;
            transfer(ctx, sel, off, size, i.mnemonic() == M::Call)
        }
        M::Retf => retf(ctx, i),
        M::Lss | M::Lds | M::Les | M::Lfs | M::Lgs => {
            let (sel, off, size) = far_pointer(ctx, i)?;
            let seg = match i.mnemonic() {
                M::Lss => SegReg::Ss,
                M::Lds => SegReg::Ds,
                M::Les => SegReg::Es,
                M::Lfs => SegReg::Fs,
                _ => SegReg::Gs,
            };
            load_data_or_stack(ctx, seg, sel)?;
            ctx.set_gpr_sized(i.op0_register().full_register().number(), size, off);
            Ok(Flow::Next)
        }
        _ => Ok(Flow::Unsupported),
    }
}

/// Is this a far JMP/CALL (direct or through memory)?
pub fn is_far(i: &Instruction) -> bool {
    matches!(i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32)
        || i.is_jmp_far_indirect()
        || i.is_call_far_indirect()
}

/// The selector, offset and offset size of a direct far pointer or of the m16:16/32/64
/// memory operand (offset first, then the selector).
fn far_pointer(ctx: &mut Ctx, i: &Instruction) -> Result<(u16, u64, usize), Exception> {
    match i.op0_kind() {
        OpKind::FarBranch16 => {
            return Ok((i.far_branch_selector(), i.far_branch16() as u64, 2));
        }
        OpKind::FarBranch32 => {
            return Ok((i.far_branch_selector(), i.far_branch32() as u64, 4));
        }
        _ => {}
    }
    let size = match i.memory_size() {
        MemorySize::SegPtr16 => 2,
        MemorySize::SegPtr64 => 8,
        _ => 4,
    };
    let seg = operand::segment(i);
    let ea = operand::effective_address(ctx, i);
    let off = ctx.read_mem(seg, ea, size)?;
    let sel = ctx.read_mem(seg, ea.wrapping_add(size as u64), 2)? as u16;
    Ok((sel, off, size))
}

/// The checks of a far JMP/CALL to `sel` (SDM Vol. 2A JMP/CALL, protected mode): a code
/// segment the current level may enter, or a gate the model does not follow.
fn target_code(ctx: &mut Ctx, sel: u16) -> Result<Result<(u64, Descriptor), Flow>, Exception> {
    let code = (sel & 0xfffc) as u32;
    if Selector(sel).is_null() {
        return Err(Exception::gp(0, "far transfer to a null selector"));
    }
    let (addr, d) = read_descriptor(ctx, sel)?;
    let a = d.attr();
    let cpl = ctx.cpl();
    let long = ctx.m.cpu.long_mode_active();
    if !a.s() {
        return match (a.ty(), long) {
            (0xc, _) | (0x4, false) => {
                Ok(Err(Flow::UnsupportedFeature("call gate (not modelled)")))
            }
            (0x5 | 0x1 | 0x9, false) => {
                Ok(Err(Flow::UnsupportedFeature("task switch (not modelled)")))
            }
            _ => Err(Exception::gp(
                code,
                "far transfer to a system descriptor that is not a gate it may use",
            )),
        };
    }
    if !a.is_code() {
        return Err(Exception::gp(code, "far transfer to a data segment"));
    }
    // Conforming: DPL against CPL; non-conforming: RPL and DPL against CPL (SDM Vol.
    // 3A 5.8.1).
    ctx.cost.checks(if a.conforming() { 1 } else { 2 });
    if a.conforming() && a.dpl() > cpl {
        return Err(Exception::gp(
            code,
            "far transfer to a conforming segment with DPL > CPL",
        ));
    }
    if !a.conforming() && (Selector(sel).rpl() > cpl || a.dpl() != cpl) {
        return Err(Exception::gp(
            code,
            "far transfer to a non-conforming segment needs RPL <= CPL and DPL = CPL",
        ));
    }
    if !a.present() {
        return Err(Exception::np(code, "the code segment is not present"));
    }
    if long && a.l() && a.db() {
        return Err(Exception::gp(code, "the code segment has both L and D set"));
    }
    Ok(Ok((addr, d)))
}

/// Check a new RIP for the code segment `d`: canonical for a 64-bit segment in IA-32e
/// mode, else within the limit. The offset is checked as given (16, 32 or 64 bits): a
/// 64-bit offset with bits 63:32 set, to a compatibility-mode segment, is beyond its
/// limit and faults instead of being truncated.
fn checked_ip(ctx: &Ctx, d: Descriptor, ip: u64) -> Result<u64, Exception> {
    if ctx.m.cpu.long_mode_active() && d.attr().l() {
        if !is_canonical(ip) {
            return Err(Exception::gp(0, "the far target is not canonical"));
        }
        return Ok(ip);
    }
    if ip > d.limit() as u64 {
        return Err(Exception::gp(
            0,
            "the far target is beyond the code segment limit",
        ));
    }
    Ok(ip)
}

/// Far JMP or CALL to a code segment at the current privilege level.
fn transfer(ctx: &mut Ctx, sel: u16, off: u64, size: usize, call: bool) -> Result<Flow, Exception> {
    let (addr, d) = match target_code(ctx, sel)? {
        Ok(t) => t,
        Err(flow) => return Ok(flow),
    };
    let ip = checked_ip(ctx, d, off)?;
    if call {
        let cs = ctx.seg(SegReg::Cs).selector;
        let ret = mask(ctx.next_ip, size);
        // Both slots must be writable before either is written (#SS(0) otherwise).
        let w = ctx.m.cpu.stack_width();
        let low = mask(ctx.gpr(RSP).wrapping_sub(2 * size as u64), w);
        ctx.linear(SegReg::Ss, low, 2 * size, crate::machine::AccessKind::Write)?;
        ctx.push_segment_selector(cs, size)?;
        ctx.push(ret, size)?;
    }
    let cpl = ctx.cpl() as u16;
    let seg = load_from(ctx, addr, d, (sel & 0xfffc) | cpl)?;
    ctx.set_seg(SegReg::Cs, seg);
    ctx.set_rip(ip);
    Ok(Flow::Jumped)
}

/// RETF's operand size from its code.
fn retf_size(i: &Instruction) -> usize {
    match i.code() {
        Code::Retfw | Code::Retfw_imm16 => 2,
        Code::Retfq | Code::Retfq_imm16 => 8,
        _ => 4,
    }
}

/// RETF (SDM Vol. 2A RET, "Protected mode" far return): to the same level, or to an
/// outer level popping SS:ESP as well (and then nulling data segments the new CPL may
/// not use).
fn retf(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let size = retf_size(i);
    let imm = if i.op_count() > 0 { i.immediate(0) } else { 0 };
    let ip = ctx.peek_stack(0, size)?;
    let sel = ctx.peek_stack(size as u64, size)? as u16;
    let code = (sel & 0xfffc) as u32;
    if Selector(sel).is_null() {
        return Err(Exception::gp(0, "RETF to a null code selector"));
    }
    let (addr, d) = read_descriptor(ctx, sel)?;
    let a = d.attr();
    let cpl = ctx.cpl();
    let rpl = Selector(sel).rpl();
    if !a.is_code() {
        return Err(Exception::gp(
            code,
            "RETF to a selector that is not a code segment",
        ));
    }
    // RPL against CPL, DPL against RPL, then same or outer level (SDM Vol. 2A RET).
    ctx.cost.checks(3);
    if rpl < cpl {
        return Err(Exception::gp(
            code,
            "RETF to a more privileged level (RPL < CPL)",
        ));
    }
    if a.conforming() && a.dpl() > rpl {
        return Err(Exception::gp(
            code,
            "RETF to a conforming segment with DPL > RPL",
        ));
    }
    if !a.conforming() && a.dpl() != rpl {
        return Err(Exception::gp(
            code,
            "RETF to a non-conforming segment with DPL != RPL",
        ));
    }
    if !a.present() {
        return Err(Exception::np(
            code,
            "RETF to a code segment that is not present",
        ));
    }
    if ctx.m.cpu.long_mode_active() && a.l() && a.db() {
        return Err(Exception::gp(
            code,
            "RETF to a code segment with both L and D set",
        ));
    }
    let ip = checked_ip(ctx, d, ip)?;
    if rpl == cpl {
        // The pops belong to the mode RETF runs in: RSP moves with that mode's stack
        // size before CS changes (a 64-bit LRETQ to compatibility mode keeps all of
        // RSP, not ESP).
        let w = ctx.m.cpu.stack_width();
        let sp = mask(ctx.gpr(RSP).wrapping_add(2 * size as u64 + imm), w);
        ctx.set_sp(sp);
        let seg = load_from(ctx, addr, d, sel)?;
        ctx.set_seg(SegReg::Cs, seg);
        ctx.set_rip(ip);
        return Ok(Flow::Jumped);
    }
    retf_outer(ctx, (addr, d, sel), ip, size, imm)
}

/// The rest of a RETF to an outer level: SS:ESP are popped after the immediate's bytes.
fn retf_outer(
    ctx: &mut Ctx,
    (addr, d, sel): (u64, Descriptor, u16),
    ip: u64,
    size: usize,
    imm: u64,
) -> Result<Flow, Exception> {
    let rpl = Selector(sel).rpl();
    let at = 2 * size as u64 + imm;
    let new_sp = ctx.peek_stack(at, size)?;
    let ss_sel = ctx.peek_stack(at + size as u64, size)? as u16;
    let ss_code = (ss_sel & 0xfffc) as u32;
    let to64 = ctx.m.cpu.long_mode_active() && d.attr().l();
    let new_ss = if Selector(ss_sel).is_null() {
        if !(to64 && rpl != 3) {
            return Err(Exception::gp(0, "RETF to an outer level with a null SS"));
        }
        Segment::null(ss_sel)
    } else {
        let (ss_addr, ss_desc) = read_descriptor(ctx, ss_sel)?;
        let sa = ss_desc.attr();
        ctx.cost.checks(2);
        if Selector(ss_sel).rpl() != rpl {
            return Err(Exception::gp(ss_code, "RETF: SS.RPL differs from CS.RPL"));
        }
        if !sa.writable() || sa.dpl() != rpl {
            return Err(Exception::gp(
                ss_code,
                "RETF: SS is not a writable data segment at the return level",
            ));
        }
        if !sa.present() {
            return Err(Exception::ss(
                ss_code,
                "RETF: the stack segment is not present",
            ));
        }
        load_from(ctx, ss_addr, ss_desc, ss_sel)?
    };
    let (old_ss, old_sp) = (ctx.seg(SegReg::Ss).selector, ctx.gpr(RSP));
    let cs = load_from(ctx, addr, d, sel)?;
    ctx.set_seg(SegReg::Cs, cs);
    ctx.set_seg(SegReg::Ss, new_ss);
    // ESP <- tempESP, then ESP <- ESP + SRC, in the new stack's address size.
    ctx.set_sp(new_sp.wrapping_add(imm));
    let sp = ctx.gpr(RSP);
    ctx.set_rip(ip);
    null_data_segments(ctx, rpl);
    ctx.event(super::event::Event::StackSwitch {
        from_ss: old_ss,
        from_sp: old_sp,
        to_ss: ss_sel,
        to_sp: sp,
        via: "the RETF frame",
    });
    Ok(Flow::Jumped)
}
