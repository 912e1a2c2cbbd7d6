//! IRET/IRETD/IRETQ: return from an interrupt or exception handler (Intel SDM Vol. 2A,
//! IRET, protected-mode and IA-32e-mode operation). Task returns (NT = 1) and returns to
//! virtual-8086 mode are not modelled and stop the run as unsupported.

use iced_x86::{Instruction, Mnemonic};

use super::ctx::Ctx;
use super::fault::Exception;
use super::segload::{code_descriptor, load_from, read_descriptor};
use super::Flow;
use crate::machine::cpu::{mask, RSP};
use crate::machine::flags::{
    self, AC, AF, CF, DF, ID, IF, IOPL, NT, OF, PF, RF, SF, TF, VIF, VIP, VM, ZF,
};
use crate::machine::msr::is_canonical;
use crate::machine::{SegReg, Segment, Selector};

/// The EFLAGS an IRET produces from the popped image, given the CPL at which IRET runs.
pub fn iret_flags(current: u64, popped: u64, cpl: u8, size: usize) -> u64 {
    let mut bits = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
    if size >= 4 {
        bits |= RF | AC | ID;
    }
    if cpl <= flags::iopl(current) {
        bits |= IF;
    }
    if cpl == 0 {
        bits |= IOPL;
        if size >= 4 {
            bits |= VIF | VIP;
        }
    }
    (current & !bits) | (popped & bits)
}

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let size = match i.mnemonic() {
        Mnemonic::Iretq => 8,
        Mnemonic::Iretd => 4,
        _ => 2,
    };
    let long = ctx.m.cpu.long_mode_active();
    if ctx.flag(NT) {
        if long {
            return Err(Exception::gp(0, "IRET with EFLAGS.NT = 1 in IA-32e mode"));
        }
        return Ok(Flow::UnsupportedFeature("IRET task return (EFLAGS.NT = 1)"));
    }
    let cpl = ctx.cpl();
    let new_ip = ctx.peek_stack(0, size)?;
    let cs_sel = ctx.peek_stack(size as u64, size)? as u16;
    let popped_flags = ctx.peek_stack(2 * size as u64, size)?;
    if !long && popped_flags & VM != 0 && cpl == 0 && size == 4 {
        return Ok(Flow::UnsupportedFeature("IRET to virtual-8086 mode"));
    }
    let rpl = Selector(cs_sel).rpl();
    let code = (cs_sel & 0xfffc) as u32;
    let (cs_addr, cs_desc) = code_descriptor(ctx, cs_sel, 0)?;
    let a = cs_desc.attr();
    // RPL against CPL, then DPL against RPL (SDM Vol. 2A IRET, RETURN-TO-SAME/OUTER).
    ctx.cost.checks(2);
    if rpl < cpl {
        return Err(Exception::gp(
            code,
            "IRET to a more privileged level (CS.RPL < CPL)",
        ));
    }
    if a.conforming() && a.dpl() > rpl {
        return Err(Exception::gp(
            code,
            "IRET to a conforming segment whose DPL exceeds RPL",
        ));
    }
    if !a.conforming() && a.dpl() != rpl {
        return Err(Exception::gp(
            code,
            format!(
                "IRET to CS {cs_sel:#x}: its descriptor ({}) is a non-conforming code segment with DPL {}, but the selector's RPL (the level returned to) is {rpl}; the two must be equal (SDM Vol. 2A IRET; Vol. 3A 5.8.1)",
                super::interrupt::selector_place(cs_sel),
                a.dpl()
            ),
        ));
    }
    if !a.present() {
        return Err(Exception::np(
            code,
            "IRET to a code segment that is not present",
        ));
    }
    let to64 = long && a.l();
    if long && a.l() && a.db() {
        return Err(Exception::gp(
            code,
            "IRET to a code segment with both L and D set",
        ));
    }
    let in64 = ctx.is_long64();
    // The return level against the CPL: same or outer level.
    ctx.cost.checks(1);
    let outer = rpl > cpl;
    if to64 && !is_canonical(new_ip) {
        return Err(Exception::gp(0, "IRET to a non-canonical RIP"));
    }
    // Outside 64-bit mode the popped instruction pointer is checked against the CS
    // limit as popped: an IRETQ to compatibility mode with any of bits 63:32 set
    // is beyond every 32-bit limit and faults rather than being truncated (SDM
    // Vol. 2A IRET: "IF tempEIP is not within code segment limits THEN #GP(0)").
    if !to64 && new_ip > cs_desc.limit() as u64 {
        return Err(Exception::gp(
            0,
            if new_ip > u32::MAX as u64 {
                "IRET to compatibility mode with RIP bits 63:32 set: beyond the code segment limit"
            } else {
                "IRET target beyond the code segment limit"
            },
        ));
    }
    // CPL against IOPL (may IF change?) and CPL = 0 (may IOPL change?).
    ctx.cost.checks(2);
    let new_flags = iret_flags(ctx.flags(), popped_flags, cpl, size);
    let old_ss = ctx.seg(SegReg::Ss);
    let old_sp = ctx.gpr(RSP);

    if outer || in64 {
        // The frame also holds the stack to return to.
        let new_sp = ctx.peek_stack(3 * size as u64, size)?;
        let ss_sel = ctx.peek_stack(4 * size as u64, size)? as u16;
        let ss_code = (ss_sel & 0xfffc) as u32;
        let new_ss = if Selector(ss_sel).is_null() {
            if !(to64 && rpl != 3 && Selector(ss_sel).rpl() == rpl) {
                return Err(Exception::gp(0, "IRET with a null SS selector"));
            }
            Segment::null(ss_sel)
        } else {
            let (ss_addr, ss_desc) = read_descriptor(ctx, ss_sel)?;
            let sa = ss_desc.attr();
            // SS.RPL and SS.DPL against the return CS.RPL.
            ctx.cost.checks(2);
            if Selector(ss_sel).rpl() != rpl {
                return Err(Exception::gp(
                    ss_code,
                    "IRET: SS.RPL differs from the return CS.RPL",
                ));
            }
            if !sa.writable() || sa.dpl() != rpl {
                return Err(Exception::gp(
                    ss_code,
                    "IRET: SS is not a writable data segment at the return level",
                ));
            }
            if !sa.present() {
                return Err(Exception::ss(
                    ss_code,
                    "IRET: the stack segment is not present",
                ));
            }
            load_from(ctx, ss_addr, ss_desc, ss_sel)?
        };
        let cs = load_from(ctx, cs_addr, cs_desc, cs_sel)?;
        ctx.set_seg(SegReg::Cs, cs);
        ctx.set_seg(SegReg::Ss, new_ss);
        // RSP <- tempRSP for a 64-bit operand size, even to compatibility mode;
        // ESP <- tempESP (zero-extended) otherwise (SDM Vol. 2A, IRET).
        let sp = if size == 8 { new_sp } else { mask(new_sp, 4) };
        ctx.set_gpr(RSP, sp);
        ctx.set_flags(new_flags);
        ctx.set_rip(new_ip);
        if outer {
            null_data_segments(ctx, rpl);
            ctx.event(super::event::Event::StackSwitch {
                from_ss: old_ss.selector,
                from_sp: old_sp,
                to_ss: ss_sel,
                to_sp: sp,
                via: "the IRET frame",
            });
        }
    } else {
        let cs = load_from(ctx, cs_addr, cs_desc, cs_sel)?;
        ctx.set_seg(SegReg::Cs, cs);
        let w = ctx.m.cpu.stack_width();
        let sp = mask(old_sp.wrapping_add(3 * size as u64), w);
        ctx.set_sp(sp);
        ctx.set_flags(new_flags);
        ctx.set_rip(new_ip);
    }
    Ok(Flow::Jumped)
}

/// On a return to an outer level, data segment registers the new CPL may not use are
/// loaded with a null selector.
pub(super) fn null_data_segments(ctx: &mut Ctx, new_cpl: u8) {
    for s in [SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ds] {
        let seg = ctx.seg(s);
        let a = seg.attr;
        if a.unusable() {
            // IF (SegmentSelector == NULL) ... THEN SegmentSelector <- 0: a null
            // selector loses its RPL.
            if seg.selector != 0 {
                ctx.set_seg(s, Segment { selector: 0, ..seg });
            }
            continue;
        }
        if a.is_data() || (a.is_code() && !a.conforming()) {
            // The segment's DPL against the new CPL (SDM Vol. 2A IRET).
            ctx.cost.checks(1);
        }
        if (a.is_data() || (a.is_code() && !a.conforming())) && a.dpl() < new_cpl {
            let null = Segment {
                base: if ctx.is_long64() { seg.base } else { 0 },
                ..Segment::null(0)
            };
            ctx.set_seg(s, null);
        }
    }
}
