//! Interrupt and exception delivery through the IDT (Intel SDM Vol. 3A, 6.12
//! "Exception and Interrupt Handling", 6.14 "Exception and Interrupt Handling in 64-bit
//! Mode", and the INT n pseudo-code in Vol. 2A), including the stack switch through the
//! TSS on a change to a more privileged level.

use super::ctx::Ctx;
use super::event::{Event, Source};
use super::fault::Exception;
use super::segload::{code_descriptor, load_from, read_descriptor, with_ext};
use crate::machine::cpu::{mask, RSP};
use crate::machine::flags::{IF, NT, RF, TF, VM};
use crate::machine::memory::AccessKind;
use crate::machine::tables::{tss32, tss64, Gate};
use crate::machine::{SegReg, Segment, Selector};

/// Why delivery could not reach a handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryError {
    /// The IDT has no present gate for the vector: nothing is installed to handle it.
    NoHandler(Exception),
    /// Delivery itself raised an exception (bad gate, bad TSS stack, page fault...).
    Fault(Exception),
    /// The gate is of a kind the model does not implement (task gate).
    Unsupported(&'static str),
}

impl From<Exception> for DeliveryError {
    fn from(e: Exception) -> Self {
        DeliveryError::Fault(e)
    }
}

/// Deliver `vector`. `return_ip` is the RIP pushed in the frame (the faulting instruction
/// for faults, the next instruction for traps and INT n). For software interrupts the gate
/// DPL is checked against CPL.
pub fn deliver(
    ctx: &mut Ctx,
    vector: u8,
    source: Source,
    error_code: Option<u32>,
    return_ip: u64,
) -> Result<(), DeliveryError> {
    if ctx.m.cpu.long_mode_active() {
        deliver64(ctx, vector, source, error_code, return_ip)
    } else {
        deliver32(ctx, vector, source, error_code, return_ip)
    }
}

fn ext_bit(source: Source) -> u32 {
    match source {
        Source::Software => 0,
        _ => 1,
    }
}

/// Error code naming an IDT entry: index << 3 | IDT bit (2) | EXT.
fn idt_code(vector: u8, ext: u32) -> u32 {
    (vector as u32) << 3 | 2 | ext
}

/// An IDT slot that names no handler: the run stops there on the lesson machines, but
/// on a machine with `architectural_faults` (a booted kernel) the exception is raised
/// as the processor raises it, to be escalated to #DF and a triple fault (SDM Vol. 3A
/// 6.15, Interrupt 8, Table 6-5).
fn no_handler(ctx: &Ctx, e: Exception) -> DeliveryError {
    if ctx.m.architectural_faults {
        DeliveryError::Fault(e)
    } else {
        DeliveryError::NoHandler(e)
    }
}

fn read_gate(ctx: &mut Ctx, vector: u8, source: Source) -> Result<Gate, DeliveryError> {
    let ext = ext_bit(source);
    let long = ctx.m.cpu.long_mode_active();
    let entry = if long { 16 } else { 8 };
    let idtr = ctx.m.cpu.idtr;
    let code = idt_code(vector, ext);
    if vector as u64 * entry + entry - 1 > idtr.limit as u64 {
        return Err(no_handler(
            ctx,
            Exception::gp(
                code,
                format!(
                    "vector {vector:#x} is beyond the IDT limit {:#x}: no handler is installed \
                 (SDM Vol. 3A 6.10)",
                    idtr.limit
                ),
            ),
        ));
    }
    let addr = idtr.base.wrapping_add(vector as u64 * entry);
    let lo = ctx.read_system(addr, 8)?;
    let gate = if long {
        Gate::decode64(lo, ctx.read_system(addr + 8, 8)?)
    } else {
        Gate::decode32(lo)
    };
    ctx.cost.gate_reads += 1;
    let valid = if long {
        matches!(gate.ty, 0xe | 0xf)
    } else {
        matches!(gate.ty, 0x5 | 0x6 | 0x7 | 0xe | 0xf)
    };
    if !valid {
        let e =
            Exception::gp(
                code,
                format!(
                "IDT entry {vector:#x} is not an interrupt, trap or task gate (type {:#x}, {}; \
                 SDM Vol. 3A 6.11)",
                gate.ty,
                if gate.present { "present" } else { "not present" }
            ),
            );
        // The type is checked before P (SDM Vol. 2A, INT n operation), so an empty
        // (zeroed) IDT slot raises #GP, not #NP. A slot that is not present names no
        // handler at all: the run stops there instead of escalating to a triple fault.
        return Err(if gate.present {
            e.into()
        } else {
            no_handler(ctx, e)
        });
    }
    if source == Source::Software {
        // INT n: the gate's DPL against the CPL (SDM Vol. 3A 6.12.1.1).
        ctx.cost.checks(1);
    }
    if source == Source::Software && gate.dpl < ctx.cpl() {
        return Err(Exception::gp(
            code,
            format!(
                "INT {vector:#x} from CPL {} through a gate with DPL {} (SDM Vol. 3A 6.12.1.1)",
                ctx.cpl(),
                gate.dpl
            ),
        )
        .into());
    }
    if !gate.present {
        return Err(no_handler(
            ctx,
            Exception::np(
                code,
                format!(
                "IDT entry {vector:#x} is not present: no handler is installed (SDM Vol. 3A 6.11)"
            ),
            ),
        ));
    }
    if gate.ty == 0x5 {
        return Err(DeliveryError::Unsupported("task gate"));
    }
    Ok(gate)
}

fn finish(ctx: &mut Ctx, vector: u8, source: Source, gate: &Gate, handler: u64) {
    let mut f = ctx.flags() & !(TF | VM | RF | NT);
    if gate.is_interrupt_gate() {
        f &= !IF;
    }
    ctx.set_flags(f);
    ctx.set_rip(handler);
    ctx.event(Event::Delivered {
        vector,
        source,
        interrupt_gate: gate.is_interrupt_gate(),
        handler,
    });
}

fn deliver32(
    ctx: &mut Ctx,
    vector: u8,
    source: Source,
    error_code: Option<u32>,
    return_ip: u64,
) -> Result<(), DeliveryError> {
    let ext = ext_bit(source);
    let gate = read_gate(ctx, vector, source)?;
    let (cs_addr, cs_desc) = code_descriptor(ctx, gate.selector, ext)?;
    let a = cs_desc.attr();
    let cpl = ctx.cpl();
    let sel_code = (gate.selector as u32 & 0xfffc) | ext;
    ctx.cost.checks(1);
    if a.dpl() > cpl {
        return Err(Exception::gp(
            sel_code,
            format!(
                "the handler's code segment ({}) has DPL {} greater than CPL {cpl} \
                 (SDM Vol. 3A 6.12.1.1)",
                selector_place(gate.selector),
                a.dpl()
            ),
        )
        .into());
    }
    if !a.present() {
        return Err(Exception::np(
            sel_code,
            format!(
                "the handler's code segment ({}) is not present (SDM Vol. 3A 6.12.1)",
                selector_place(gate.selector)
            ),
        )
        .into());
    }
    let size: usize = if gate.is_32bit() { 4 } else { 2 };
    let handler = if gate.is_32bit() {
        gate.offset
    } else {
        gate.offset & 0xffff
    };
    if handler > cs_desc.limit() as u64 {
        return Err(Exception::gp(
            ext,
            format!(
                "the handler offset {handler:#x} is beyond the limit {:#x} of its code \
                     segment ({}) (SDM Vol. 3A 6.12.1)",
                cs_desc.limit(),
                selector_place(gate.selector)
            ),
        )
        .into());
    }
    let old_cs = ctx.seg(SegReg::Cs);
    let old_ss = ctx.seg(SegReg::Ss);
    let old_sp = ctx.gpr(RSP);
    let eflags = ctx.flags();
    let new_cpl = if a.conforming() { cpl } else { a.dpl() };
    // Inter- or intra-privilege: the new CPL against the CPL.
    ctx.cost.checks(1);
    if new_cpl < cpl {
        // Inter-privilege: the new stack comes from the TSS (SDM 6.12.1, 8.2.1).
        let (ss_sel, esp) = tss_stack32(ctx, new_cpl, ext)?;
        let (ss_addr, ss_desc) =
            read_descriptor(ctx, ss_sel).map_err(|e| ts_from(e, ss_sel, ext))?;
        let sa = ss_desc.attr();
        let ss_code = (ss_sel as u32 & 0xfffc) | ext;
        // SS.RPL and SS.DPL against the new CPL (SDM Vol. 3A 6.12.1).
        ctx.cost.checks(2);
        if Selector(ss_sel).rpl() != new_cpl || sa.dpl() != new_cpl || !sa.writable() {
            return Err(Exception::ts(
                ss_code,
                format!(
                    "the TSS stack segment SS{new_cpl} ({}) does not match the new privilege \
                     level {new_cpl} (SDM Vol. 3A 6.12.1)",
                    selector_place(ss_sel)
                ),
            )
            .into());
        }
        if !sa.present() {
            return Err(Exception::ss(
                ss_code,
                format!(
                    "the TSS stack segment SS{new_cpl} ({}) is not present (SDM Vol. 3A 6.12.1)",
                    selector_place(ss_sel)
                ),
            )
            .into());
        }
        let new_ss = load_from(ctx, ss_addr, ss_desc, ss_sel)?;
        let mut frame = vec![
            old_ss.selector as u64,
            mask(old_sp, 4),
            eflags,
            old_cs.selector as u64,
            return_ip,
        ];
        if let Some(code) = error_code {
            frame.push(code as u64);
        }
        let width = if new_ss.attr.db() { 4 } else { 2 };
        let mut sp = mask(esp, width);
        for v in &frame {
            sp = mask(sp.wrapping_sub(size as u64), width);
            write_stack(ctx, &new_ss, sp, size, *v, ss_code).map_err(|e| {
                let reason = format!(
                    "pushing the interrupt frame on the ring-{new_cpl} stack taken from the TSS (SS{new_cpl}:ESP{new_cpl} = {ss_sel:#x}:{esp:#x}, SDM Vol. 3A 6.12.1): {}",
                    e.reason
                );
                Exception {
                    reason: reason.into(),
                    ..e
                }
            })?;
        }
        let cs = load_from(
            ctx,
            cs_addr,
            cs_desc,
            (gate.selector & 0xfffc) | new_cpl as u16,
        )?;
        ctx.set_seg(SegReg::Ss, new_ss);
        ctx.set_seg(SegReg::Cs, cs);
        ctx.set_gpr(RSP, sp);
        ctx.event(Event::StackSwitch {
            from_ss: old_ss.selector,
            from_sp: old_sp,
            to_ss: ss_sel,
            to_sp: esp,
            via: if new_cpl == 0 {
                "TSS.esp0"
            } else if new_cpl == 1 {
                "TSS.esp1"
            } else {
                "TSS.esp2"
            },
        });
    } else if a.conforming() || a.dpl() == cpl {
        ctx.cost.checks(1);
        let mut frame = vec![eflags, old_cs.selector as u64, return_ip];
        if let Some(code) = error_code {
            frame.push(code as u64);
        }
        let width = ctx.m.cpu.stack_width();
        let mut sp = mask(old_sp, width);
        for v in &frame {
            sp = mask(sp.wrapping_sub(size as u64), width);
            ctx.write_mem(SegReg::Ss, sp, size, *v)?;
        }
        let cs = load_from(ctx, cs_addr, cs_desc, (gate.selector & 0xfffc) | cpl as u16)?;
        ctx.set_seg(SegReg::Cs, cs);
        ctx.set_sp(sp);
    } else {
        return Err(Exception::gp(
            sel_code,
            "the handler's code segment cannot be entered from this CPL",
        )
        .into());
    }
    finish(ctx, vector, source, &gate, handler);
    Ok(())
}

/// Write one word of an interrupt frame to the new stack, with the stack segment's limit
/// check and a supervisor page access.
fn write_stack(
    ctx: &mut Ctx,
    ss: &Segment,
    sp: u64,
    size: usize,
    v: u64,
    ss_code: u32,
) -> Result<(), Exception> {
    let limit_ok = if ss.attr.expand_down() {
        sp > ss.limit as u64
    } else {
        sp + size as u64 - 1 <= ss.limit as u64
    };
    if !limit_ok {
        return Err(Exception::ss(
            ss_code,
            format!(
                "the interrupt frame does not fit in the stack segment (SS = {:#x}, ESP = \
                 {sp:#x}, limit {:#x}) (SDM Vol. 3A 6.12.1)",
                ss.selector, ss.limit
            ),
        ));
    }
    let lin = ss.base.wrapping_add(sp) & 0xffff_ffff;
    let access = ctx.m.system_access(AccessKind::Write);
    ctx.write_lin(lin, size, v, access)
}

/// `selector 0x88 (GDT entry 17)`, for reasons.
pub(super) fn selector_place(sel: u16) -> String {
    let table = if sel & 4 != 0 { "LDT" } else { "GDT" };
    format!("selector {sel:#x}, {table} entry {}", sel >> 3)
}

fn ts_from(e: Exception, sel: u16, ext: u32) -> Exception {
    Exception::ts((sel as u32 & 0xfffc) | ext, e.reason)
}

/// SSn:ESPn from the current 32-bit TSS.
fn tss_stack32(ctx: &mut Ctx, level: u8, ext: u32) -> Result<(u16, u64), Exception> {
    let tr = ctx.m.cpu.tr;
    let code = (tr.selector as u32 & 0xfffc) | ext;
    if tr.attr.unusable() || tr.selector & 0xfffc == 0 {
        return Err(Exception::ts(
            code,
            "no TSS is loaded (TR is null) (SDM Vol. 3A 6.12.1)",
        ));
    }
    let ss_off = tss32::ss(level);
    if ss_off + 1 > tr.limit as u64 || tss32::esp(level) + 3 > tr.limit as u64 {
        return Err(Exception::ts(
            code,
            format!(
                "the TSS limit {:#x} is too small for the fields SS{level}/ESP{level} \
                 (SDM Vol. 3A 6.12.1)",
                tr.limit
            ),
        ));
    }
    let esp = ctx.read_system(tr.base.wrapping_add(tss32::esp(level)), 4)?;
    let ss = ctx.read_system(tr.base.wrapping_add(ss_off), 2)? as u16;
    ctx.cost.tss_reads += 2;
    if Selector(ss).is_null() {
        return Err(Exception::ts(
            ext,
            format!("TSS.SS{level} is a null selector (SDM Vol. 3A 6.12.1)"),
        ));
    }
    Ok((ss, esp))
}

fn deliver64(
    ctx: &mut Ctx,
    vector: u8,
    source: Source,
    error_code: Option<u32>,
    return_ip: u64,
) -> Result<(), DeliveryError> {
    let ext = ext_bit(source);
    let gate = read_gate(ctx, vector, source)?;
    let (cs_addr, cs_desc) = code_descriptor(ctx, gate.selector, ext)?;
    let a = cs_desc.attr();
    let cpl = ctx.cpl();
    let sel_code = (gate.selector as u32 & 0xfffc) | ext;
    if !a.l() || a.db() {
        return Err(Exception::gp(
            sel_code,
            "an IA-32e gate must lead to a 64-bit code segment",
        )
        .into());
    }
    ctx.cost.checks(1);
    if a.dpl() > cpl {
        return Err(Exception::gp(
            sel_code,
            format!(
                "the handler's code segment ({}) has DPL {} greater than CPL {cpl} \
                 (SDM Vol. 3A 6.12.1.1)",
                selector_place(gate.selector),
                a.dpl()
            ),
        )
        .into());
    }
    if !a.present() {
        return Err(Exception::np(
            sel_code,
            format!(
                "the handler's code segment ({}) is not present (SDM Vol. 3A 6.12.1)",
                selector_place(gate.selector)
            ),
        )
        .into());
    }
    if !crate::machine::msr::is_canonical(gate.offset) {
        return Err(Exception::gp(ext, "the handler address is not canonical").into());
    }
    let new_cpl = if a.conforming() { cpl } else { a.dpl() };
    let old_cs = ctx.seg(SegReg::Cs);
    let old_ss = ctx.seg(SegReg::Ss);
    let old_sp = ctx.gpr(RSP);
    let rflags = ctx.flags();
    // The new CPL against the CPL (SDM Vol. 3A 6.14.2).
    ctx.cost.checks(1);
    let (mut sp, via) = if gate.ist != 0 {
        (tss_stack64(ctx, tss64::ist(gate.ist), ext)?, "TSS.ist")
    } else if new_cpl < cpl {
        (tss_stack64(ctx, tss64::rsp(new_cpl), ext)?, "TSS.rsp0")
    } else {
        (old_sp, "")
    };
    let switched = new_cpl < cpl || gate.ist != 0;
    sp &= !0xf;
    let new_sp_top = sp;
    let mut frame = vec![
        old_ss.selector as u64,
        old_sp,
        rflags,
        old_cs.selector as u64,
        return_ip,
    ];
    if let Some(code) = error_code {
        frame.push(code as u64);
    }
    let access = ctx.m.system_access(AccessKind::Write);
    for v in &frame {
        sp = sp.wrapping_sub(8);
        if !crate::machine::msr::is_canonical(sp) {
            return Err(Exception::ss(ext, "the interrupt stack is not canonical").into());
        }
        ctx.write_lin(sp, 8, *v, access)?;
    }
    let cs = load_from(
        ctx,
        cs_addr,
        cs_desc,
        (gate.selector & 0xfffc) | new_cpl as u16,
    )?;
    ctx.set_seg(SegReg::Cs, cs);
    if switched {
        // The new SS is a null selector whose RPL is the new CPL: on a change of CPL
        // (SDM Vol. 3A 6.14.4) and whenever an IST gate switches the stack, also at the
        // same CPL (6.14.5: "the new SS selector is forced to NULL").
        ctx.set_seg(SegReg::Ss, Segment::null(new_cpl as u16));
    }
    ctx.set_gpr(RSP, sp);
    if switched {
        ctx.event(Event::StackSwitch {
            from_ss: old_ss.selector,
            from_sp: old_sp,
            to_ss: ctx.seg(SegReg::Ss).selector,
            to_sp: new_sp_top,
            via,
        });
    }
    finish(ctx, vector, source, &gate, gate.offset);
    Ok(())
}

fn tss_stack64(ctx: &mut Ctx, offset: u64, ext: u32) -> Result<u64, Exception> {
    let tr = ctx.m.cpu.tr;
    let code = (tr.selector as u32 & 0xfffc) | ext;
    if tr.attr.unusable() || tr.selector & 0xfffc == 0 {
        return Err(Exception::ts(code, "no TSS is loaded (TR is null)"));
    }
    if offset + 7 > tr.limit as u64 {
        return Err(Exception::ts(
            code,
            "the TSS limit is too small for the stack field",
        ));
    }
    let sp = ctx.read_system(tr.base.wrapping_add(offset), 8)?;
    ctx.cost.tss_reads += 1;
    if !crate::machine::msr::is_canonical(sp) {
        return Err(Exception::ss(ext, "the TSS stack pointer is not canonical"));
    }
    Ok(sp)
}

/// Delivery errors raised while delivering an exception carry the EXT bit.
pub fn nested(e: Exception) -> Exception {
    with_ext(e, 1)
}
