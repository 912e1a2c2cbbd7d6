//! System instructions: CLI STI HLT INT n/INT3/INTO IRET SYSENTER SYSEXIT SYSCALL SYSRET
//! SWAPGS WRMSR RDMSR LGDT LIDT SGDT SIDT LTR STR UD2 (Intel SDM Vol. 2, each
//! instruction's "Operation" and "Protected Mode Exceptions").

use iced_x86::{Code, Instruction, Mnemonic};

use super::ctx::Ctx;
use super::event::{Event, Source};
use super::fault::{self, Exception};
use super::interrupt::{deliver, DeliveryError};
use super::iret;
use super::operand;
use super::segload::read_descriptor;
use super::Flow;
use crate::machine::cpu::{mask, Mode, CR0_PE, RAX, RCX, RDX, RSP};
use crate::machine::flags::{self, IF, OF, VM};
use crate::machine::msr::{self, is_canonical};
use crate::machine::{AccessKind, SegReg, Segment, TableReg};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::Cli | M::Sti => {
            let iopl = flags::iopl(ctx.flags());
            ctx.cost.checks(1);
            if iopl < ctx.cpl() {
                return Err(Exception::gp(
                    0,
                    format!(
                        "{} at CPL {} with IOPL {iopl}",
                        if i.mnemonic() == M::Cli { "CLI" } else { "STI" },
                        ctx.cpl()
                    ),
                ));
            }
            if i.mnemonic() == M::Cli {
                ctx.update_flags(IF, 0);
            } else {
                if !ctx.flag(IF) {
                    ctx.shadow_next = true;
                }
                ctx.update_flags(IF, IF);
            }
        }
        M::Hlt => {
            ctx.cost.checks(1);
            if ctx.cpl() != 0 {
                return Err(Exception::gp(0, "HLT requires CPL 0"));
            }
            ctx.set_halted(true);
            ctx.event(Event::Halt);
            return Ok(Flow::Halt);
        }
        M::Int | M::Int3 | M::Into => {
            let vector = match i.mnemonic() {
                M::Int => i.immediate8(),
                M::Int3 => fault::BP,
                _ => {
                    if !ctx.flag(OF) {
                        return Ok(Flow::Next);
                    }
                    fault::OF
                }
            };
            return software_interrupt(ctx, vector);
        }
        M::Int1 => {
            // INT1 (ICEBP, F1): #DB delivered as a trap-like exception with the next
            // instruction as return address, without the gate DPL check of INT n and
            // without changing DR6 (SDM Vol. 2A INT n/INTO/INT3/INT1; Vol. 3A 17.3.1.6).
            let ret = ctx.next_ip;
            return match deliver(ctx, fault::DB, Source::Exception, None, ret) {
                Ok(()) => Ok(Flow::Jumped),
                Err(DeliveryError::NoHandler(e)) | Err(DeliveryError::Fault(e)) => Err(e),
                Err(DeliveryError::Unsupported(what)) => Ok(Flow::UnsupportedFeature(what)),
            };
        }
        M::Iret | M::Iretd | M::Iretq => return iret::exec(ctx, i),
        M::Sysenter => {
            sysenter(ctx)?;
            return Ok(Flow::Jumped);
        }
        M::Sysexit | M::Sysexitq => {
            sysexit(ctx, i.mnemonic() == M::Sysexitq)?;
            return Ok(Flow::Jumped);
        }
        M::Syscall => {
            syscall(ctx)?;
            return Ok(Flow::Jumped);
        }
        M::Sysret | M::Sysretq => {
            sysret(ctx, i.mnemonic() == M::Sysretq)?;
            return Ok(Flow::Jumped);
        }
        M::Swapgs => {
            if ctx.mode() != Mode::Long64 {
                return Err(Exception::ud("SWAPGS outside 64-bit mode"));
            }
            require_cpl0(ctx, "SWAPGS")?;
            let gs = ctx.seg(SegReg::Gs);
            let kernel = ctx.msr(msr::KERNEL_GS_BASE);
            ctx.cost.msr_reads += 1;
            ctx.set_seg(SegReg::Gs, Segment { base: kernel, ..gs });
            ctx.set_msr(msr::KERNEL_GS_BASE, gs.base);
            ctx.event(Event::SwapGs {
                gs_base: kernel,
                kernel_gs_base: gs.base,
            });
            return Ok(Flow::Next);
        }
        M::Wrmsr => wrmsr(ctx)?,
        M::Rdmsr => rdmsr(ctx)?,
        M::Lgdt | M::Lidt => {
            require_cpl0(
                ctx,
                if i.mnemonic() == M::Lgdt {
                    "LGDT"
                } else {
                    "LIDT"
                },
            )?;
            let seg = operand::segment(i);
            let ea = operand::effective_address(ctx, i);
            let limit = ctx.read_mem(seg, ea, 2)? as u16;
            let base = if ctx.is_long64() {
                let b = ctx.read_mem(seg, ea.wrapping_add(2), 8)?;
                if !is_canonical(b) {
                    return Err(Exception::gp(0, "the table base is not canonical"));
                }
                b
            } else {
                let b = ctx.read_mem(seg, ea.wrapping_add(2), 4)?;
                // With a 16-bit operand size only 24 bits of base are loaded.
                if matches!(i.code(), Code::Lgdt_m1632_16 | Code::Lidt_m1632_16) {
                    b & 0xff_ffff
                } else {
                    b
                }
            };
            let t = TableReg { base, limit };
            if i.mnemonic() == M::Lgdt {
                ctx.set_gdtr(t);
            } else {
                ctx.set_idtr(t);
            }
        }
        M::Sgdt | M::Sidt => {
            let t = if i.mnemonic() == M::Sgdt {
                ctx.m.cpu.gdtr
            } else {
                ctx.m.cpu.idtr
            };
            let seg = operand::segment(i);
            let ea = operand::effective_address(ctx, i);
            let base_len = if ctx.is_long64() { 8 } else { 4 };
            ctx.linear(seg, ea, 2 + base_len, AccessKind::Write)?;
            ctx.write_mem(seg, ea, 2, t.limit as u64)?;
            ctx.write_mem(seg, ea.wrapping_add(2), base_len, t.base)?;
        }
        M::Ltr => ltr(ctx, i)?,
        M::Str => {
            let sel = ctx.m.cpu.tr.selector as u64;
            operand::write(ctx, i, 0, sel)?;
        }
        M::Ud2 | M::Ud0 | M::Ud1 => {
            return Err(Exception::ud(format!(
                "{} is defined to raise #UD (SDM Vol. 2B, UD)",
                format!("{:?}", i.mnemonic()).to_uppercase()
            )))
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

fn require_cpl0(ctx: &mut Ctx, what: &str) -> Result<(), Exception> {
    ctx.cost.checks(1);
    if ctx.cpl() != 0 {
        return Err(Exception::gp(
            0,
            format!("{what} at CPL {} (it requires CPL 0)", ctx.cpl()),
        ));
    }
    Ok(())
}

/// INT n / INT3 / INTO: deliver through the IDT with the gate DPL check; the pushed
/// return address is the next instruction.
fn software_interrupt(ctx: &mut Ctx, vector: u8) -> Result<Flow, Exception> {
    let ret = ctx.next_ip;
    match deliver(ctx, vector, Source::Software, None, ret) {
        Ok(()) => Ok(Flow::Jumped),
        Err(DeliveryError::NoHandler(e)) | Err(DeliveryError::Fault(e)) => {
            let reason = format!("delivering INT {vector:#x}: {}", e.reason);
            Err(Exception {
                reason: reason.into(),
                ..e
            })
        }
        Err(DeliveryError::Unsupported(what)) => Ok(Flow::UnsupportedFeature(what)),
    }
}

fn flat_code(selector: u16, dpl: u8, long: bool) -> Segment {
    Segment::flat(selector, 0xb, dpl, !long, long)
}

fn flat_stack(selector: u16, dpl: u8) -> Segment {
    Segment::flat(selector, 0x3, dpl, true, false)
}

/// SYSENTER (SDM Vol. 2B): CS, EIP, SS and ESP all come from MSRs; nothing is saved.
fn sysenter(ctx: &mut Ctx) -> Result<(), Exception> {
    let cs_msr = ctx.msr(msr::SYSENTER_CS);
    if ctx.m.cpu.cr0 & CR0_PE == 0 {
        return Err(Exception::gp(0, "SYSENTER in real mode"));
    }
    if cs_msr & 0xfffc == 0 {
        return Err(Exception::gp(
            0,
            "SYSENTER with IA32_SYSENTER_CS[15:2] = 0: the kernel never set up the MSR",
        ));
    }
    let long = ctx.m.cpu.long_mode_active();
    let old_ss = ctx.seg(SegReg::Ss);
    let old_sp = ctx.gpr(RSP);
    let f = ctx.flags() & !(VM | IF);
    ctx.set_flags(f);
    let esp = ctx.msr(msr::SYSENTER_ESP);
    let eip = ctx.msr(msr::SYSENTER_EIP);
    let (esp, eip) = if long {
        (esp, eip)
    } else {
        (mask(esp, 4), mask(eip, 4))
    };
    let cs_sel = (cs_msr as u16) & 0xfffc;
    ctx.set_seg(SegReg::Cs, flat_code(cs_sel, 0, long));
    ctx.set_seg(SegReg::Ss, flat_stack(cs_sel.wrapping_add(8), 0));
    ctx.set_gpr(RSP, esp);
    ctx.set_rip(eip);
    ctx.event(Event::MsrRead {
        index: msr::SYSENTER_CS,
        value: cs_msr,
    });
    ctx.event(Event::MsrRead {
        index: msr::SYSENTER_ESP,
        value: esp,
    });
    ctx.event(Event::MsrRead {
        index: msr::SYSENTER_EIP,
        value: eip,
    });
    ctx.event(Event::StackSwitch {
        from_ss: old_ss.selector,
        from_sp: old_sp,
        to_ss: cs_sel.wrapping_add(8),
        to_sp: esp,
        via: "IA32_SYSENTER_ESP",
    });
    Ok(())
}

/// SYSEXIT (SDM Vol. 2B): back to CPL 3 with CS = SYSENTER_CS+16|3 (+32 for 64-bit),
/// SS = CS+8, ESP = ECX, EIP = EDX. Flags are not changed.
fn sysexit(ctx: &mut Ctx, to64: bool) -> Result<(), Exception> {
    let cs_msr = ctx.msr(msr::SYSENTER_CS);
    if cs_msr & 0xfffc == 0 {
        return Err(Exception::gp(0, "SYSEXIT with IA32_SYSENTER_CS[15:2] = 0"));
    }
    if ctx.m.cpu.cr0 & CR0_PE == 0 {
        return Err(Exception::gp(0, "SYSEXIT in real mode"));
    }
    ctx.cost.checks(1);
    if ctx.cpl() != 0 {
        return Err(Exception::gp(
            0,
            format!("SYSEXIT at CPL {} (it requires CPL 0)", ctx.cpl()),
        ));
    }
    let (rsp, rip) = if to64 {
        let (c, d) = (ctx.gpr(RCX), ctx.gpr(RDX));
        if !is_canonical(c) || !is_canonical(d) {
            return Err(Exception::gp(0, "SYSEXIT to a non-canonical RIP or RSP"));
        }
        (c, d)
    } else {
        (mask(ctx.gpr(RCX), 4), mask(ctx.gpr(RDX), 4))
    };
    let base = cs_msr as u16;
    let cs_sel = base.wrapping_add(if to64 { 32 } else { 16 }) | 3;
    let ss_sel = cs_sel.wrapping_add(8) | 3;
    ctx.set_seg(SegReg::Cs, flat_code(cs_sel, 3, to64));
    ctx.set_seg(SegReg::Ss, flat_stack(ss_sel, 3));
    ctx.set_gpr(RSP, rsp);
    ctx.set_rip(rip);
    ctx.event(Event::MsrRead {
        index: msr::SYSENTER_CS,
        value: cs_msr,
    });
    Ok(())
}

fn require_syscall_mode(ctx: &Ctx, what: &str) -> Result<(), Exception> {
    if !ctx.m.cpu.long_mode_active() {
        return Err(Exception::ud(format!("{what} outside IA-32e mode")));
    }
    if ctx.mode() != Mode::Long64 {
        return Err(Exception::ud(format!(
            "{what} in compatibility mode (Intel processors allow it only in 64-bit mode)"
        )));
    }
    if ctx.m.cpu.efer() & msr::EFER_SCE == 0 {
        return Err(Exception::ud(format!("{what} with IA32_EFER.SCE = 0")));
    }
    Ok(())
}

/// SYSCALL (SDM Vol. 2B): RCX = return RIP, R11 = RFLAGS, RFLAGS &= ~FMASK,
/// RIP = LSTAR, CS = STAR[47:32] & ~3, SS = STAR[47:32] + 8. RSP is not changed.
fn syscall(ctx: &mut Ctx) -> Result<(), Exception> {
    require_syscall_mode(ctx, "SYSCALL")?;
    let star = ctx.msr(msr::STAR);
    let lstar = ctx.msr(msr::LSTAR);
    let fmask = ctx.msr(msr::FMASK);
    let next = ctx.next_ip;
    let f = ctx.flags();
    ctx.set_gpr(RCX, next);
    ctx.set_gpr(11, f);
    ctx.set_flags(f & !fmask);
    // CS.Selector <- STAR[47:32] AND FFFCH, but SS.Selector <- STAR[47:32] + 8: the SDM
    // forces the RPL of CS only.
    let star_cs = (star >> 32) as u16;
    ctx.set_seg(SegReg::Cs, flat_code(star_cs & 0xfffc, 0, true));
    ctx.set_seg(SegReg::Ss, flat_stack(star_cs.wrapping_add(8), 0));
    ctx.set_rip(lstar);
    ctx.event(Event::MsrRead {
        index: msr::STAR,
        value: star,
    });
    ctx.event(Event::MsrRead {
        index: msr::LSTAR,
        value: lstar,
    });
    ctx.event(Event::MsrRead {
        index: msr::FMASK,
        value: fmask,
    });
    Ok(())
}

/// SYSRET (SDM Vol. 2B): RIP = RCX (ECX for a return to compatibility mode),
/// RFLAGS = (R11 & 3C7FD7H) | 2, CS = STAR[63:48] + 16 (or + 0) | 3, SS = STAR[63:48] + 8 | 3.
fn sysret(ctx: &mut Ctx, to64: bool) -> Result<(), Exception> {
    require_syscall_mode(ctx, "SYSRET")?;
    require_cpl0(ctx, "SYSRET")?;
    let rcx = ctx.gpr(RCX);
    let rip = if to64 {
        if !is_canonical(rcx) {
            return Err(Exception::gp(0, "SYSRET to a non-canonical RCX"));
        }
        rcx
    } else {
        mask(rcx, 4)
    };
    let star = ctx.msr(msr::STAR);
    let base = (star >> 48) as u16;
    ctx.set_flags((ctx.gpr(11) & 0x3c_7fd7) | 2);
    let cs_sel = base.wrapping_add(if to64 { 16 } else { 0 }) | 3;
    let ss_sel = base.wrapping_add(8) | 3;
    ctx.set_seg(SegReg::Cs, flat_code(cs_sel, 3, to64));
    ctx.set_seg(SegReg::Ss, flat_stack(ss_sel, 3));
    ctx.set_rip(rip);
    ctx.event(Event::MsrRead {
        index: msr::STAR,
        value: star,
    });
    Ok(())
}

/// WRMSR (SDM Vol. 2B): MSR[ECX] = EDX:EAX, CPL 0 only.
fn wrmsr(ctx: &mut Ctx) -> Result<(), Exception> {
    require_cpl0(ctx, "WRMSR")?;
    let index = ctx.gpr(RCX) as u32;
    let value = (ctx.gpr(RDX) & 0xffff_ffff) << 32 | (ctx.gpr(RAX) & 0xffff_ffff);
    if let Some(r) = wrmsr_special(ctx, index, value) {
        return r;
    }
    let old = ctx.m.cpu.read_msr(index).unwrap_or(0);
    let new = super::sysreg::checked_msr(ctx.m, index, value)?;
    match index {
        msr::FS_BASE | msr::GS_BASE => {
            let s = if index == msr::FS_BASE {
                SegReg::Fs
            } else {
                SegReg::Gs
            };
            let seg = ctx.seg(s);
            ctx.set_seg(s, Segment { base: new, ..seg });
        }
        _ => ctx.set_msr(index, new),
    }
    ctx.event(Event::MsrWrite { index, old, new });
    Ok(())
}

/// WRMSR of the MSRs that are not stored as written: IA32_TIME_STAMP_COUNTER moves
/// IA32_TSC_ADJUST by the difference (SDM Vol. 3A 17.17.3), IA32_PRED_CMD is a command
/// (bit 0, IBPB; other bits reserved) with nothing to keep.
fn wrmsr_special(ctx: &mut Ctx, index: u32, value: u64) -> Option<Result<(), Exception>> {
    match index {
        msr::TSC => {
            let old = super::cpuinfo::tsc(ctx);
            let adj = ctx.msr(msr::TSC_ADJUST);
            ctx.set_msr(msr::TSC_ADJUST, adj.wrapping_add(value.wrapping_sub(old)));
            ctx.event(Event::MsrWrite {
                index,
                old,
                new: value,
            });
            Some(Ok(()))
        }
        msr::PRED_CMD if value & !1 != 0 => Some(Err(Exception::gp(
            0,
            "WRMSR to IA32_PRED_CMD (0x49) sets reserved bits",
        ))),
        msr::PRED_CMD => {
            ctx.event(Event::MsrWrite {
                index,
                old: 0,
                new: value,
            });
            Some(Ok(()))
        }
        _ => None,
    }
}

/// RDMSR (SDM Vol. 2B): EDX:EAX = MSR[ECX], CPL 0 only.
fn rdmsr(ctx: &mut Ctx) -> Result<(), Exception> {
    require_cpl0(ctx, "RDMSR")?;
    let index = ctx.gpr(RCX) as u32;
    let value = match index {
        msr::TSC => Some(super::cpuinfo::tsc(ctx)),
        msr::PRED_CMD => {
            return Err(Exception::gp(
                0,
                "RDMSR of IA32_PRED_CMD (0x49): the MSR is write-only",
            ))
        }
        _ => ctx.m.cpu.read_msr(index),
    };
    let Some(value) = value else {
        return Err(Exception::gp(
            0,
            format!("RDMSR of {index:#x}: the MSR index in ECX is not implemented"),
        ));
    };
    ctx.set_gpr_sized(RAX, 4, value & 0xffff_ffff);
    ctx.set_gpr_sized(RDX, 4, value >> 32);
    ctx.event(Event::MsrRead { index, value });
    Ok(())
}

/// LTR (SDM Vol. 2A): load TR from an available TSS descriptor and mark it busy.
fn ltr(ctx: &mut Ctx, i: &Instruction) -> Result<(), Exception> {
    require_cpl0(ctx, "LTR")?;
    let sel = operand::read(ctx, i, 0)? as u16;
    let code = (sel & 0xfffc) as u32;
    if sel & 0xfffc == 0 {
        return Err(Exception::gp(0, "LTR with a null selector"));
    }
    let (addr, d) = read_descriptor(ctx, sel)?;
    let a = d.attr();
    let long = ctx.m.cpu.long_mode_active();
    // In IA-32e mode the TSS descriptor is 16 bytes and must describe a 64-bit TSS
    // (SDM Vol. 2A, LTR, 64-bit and compatibility mode exceptions).
    if long && (sel & 0xfff8) as u64 + 15 > ctx.m.cpu.gdtr.limit as u64 {
        return Err(Exception::gp(
            code,
            "LTR: the 16-byte TSS descriptor extends beyond the GDT limit",
        ));
    }
    let allowed: &[u8] = if long { &[0x9] } else { &[0x1, 0x9] };
    if a.s() || !allowed.contains(&a.ty()) {
        return Err(Exception::gp(
            code,
            match (a.s(), a.ty()) {
                (false, 0x3 | 0xb) => "LTR: the TSS is already busy",
                (false, 0x1) => "LTR: a 16-bit TSS cannot be loaded in IA-32e mode",
                _ => "LTR: the descriptor is not an available TSS",
            },
        ));
    }
    let hi = if long {
        ctx.read_system(addr + 8, 8)?
    } else {
        0
    };
    if (hi >> 40) & 0x1f != 0 {
        return Err(Exception::gp(
            code,
            "LTR: the upper half of the 16-byte TSS descriptor has a non-zero type",
        ));
    }
    if !a.present() {
        return Err(Exception::np(
            code,
            "LTR: the TSS descriptor is not present",
        ));
    }
    let mut seg = d.to_segment(sel);
    if long {
        seg.base |= (hi & 0xffff_ffff) << 32;
    }
    // Mark the descriptor busy (type bit 1).
    let access = (d.0 >> 40) as u8 | 0x2;
    ctx.write_system(addr + 5, 1, access as u64)?;
    seg.attr = crate::machine::Attr(seg.attr.0 | 0x2);
    ctx.set_tr(seg);
    Ok(())
}
