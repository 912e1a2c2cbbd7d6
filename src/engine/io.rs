//! Port I/O: IN, OUT, INS(B/W/D), OUTS(B/W/D) with REP (Intel SDM Vol. 2A IN/INS,
//! Vol. 2B OUT/OUTS; the protection rules of Vol. 1 19.5 "I/O Privilege Level" and 19.5.2
//! "I/O Permission Bit Map").
//!
//! At CPL <= IOPL every port is allowed; above it the TSS's I/O permission bitmap is
//! consulted (a 32/64-bit TSS, the bitmap offset at TSS+66H, a clear bit for each byte
//! of the access, both bitmap bytes within the TSS limit), and a denied access is
//! #GP(0). The machine's devices (src/machine/dev.rs: a 16550 UART at 0x3f8,
//! isa-debug-exit at 0xf4, port 0x80, the 8259A PICs at 0x20/0x21 and 0xa0/0xa1, the
//! 8254 timer at 0x40/0x43, attached in a booted kernel's machine) answer at
//! their ports, their state changes journaled; any other port reads all ones (0xff per
//! byte) and writes go nowhere. Every access is reported as a `Port` event naming the
//! device (none: unmodelled). A write to isa-debug-exit also halts the processor: the
//! run then stops with the exit status. A REP INS/OUTS does one element
//! per step and stays on the instruction until the count runs out, as a real processor
//! may between iterations (so TF single-step traps after each element). No flags are
//! affected.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};

use super::ctx::Ctx;
use super::event::Event;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::{mask, Mode, RCX, RDI, RSI};
use crate::machine::dev::{Dev, DevChange};
use crate::machine::flags::{self, DF, VM};
use crate::machine::SegReg;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    match i.mnemonic() {
        M::In => {
            let port = port_of(ctx, i, 1);
            let r = i.op0_register();
            check_port(ctx, port, r.size())?;
            let v = port_read(ctx, port, r.size());
            let device = ctx.m.dev.at(port);
            ctx.write_reg(r, v);
            ctx.event(port_event(port, r.size(), v, false, device));
            Ok(Flow::Next)
        }
        M::Out => {
            let port = port_of(ctx, i, 0);
            let r = i.op1_register();
            check_port(ctx, port, r.size())?;
            let v = ctx.read_reg(r);
            let device = port_write(ctx, port, r.size(), v);
            ctx.event(port_event(port, r.size(), v, true, device));
            Ok(Flow::Next)
        }
        M::Insb | M::Insw | M::Insd | M::Outsb | M::Outsw | M::Outsd => string(ctx, i),
        _ => Ok(Flow::Unsupported),
    }
}

fn port_event(port: u16, size: usize, value: u64, write: bool, device: Option<Dev>) -> Event {
    Event::Port {
        port,
        size: size as u8,
        value: value as u32,
        write,
        device,
    }
}

/// A write reaching the devices: their changes, journaled; isa-debug-exit halts the
/// processor (the run stops with its status).
fn port_write(ctx: &mut Ctx, port: u16, size: usize, value: u64) -> Option<Dev> {
    if !ctx.m.dev.attached {
        return None;
    }
    let (changes, device) = ctx.m.dev.write(port, size, value, ctx.step);
    for c in changes {
        if matches!(c, DevChange::Exit { .. }) {
            ctx.set_halted(true);
        }
        ctx.device(c);
    }
    device
}

/// A read reaching the devices: the value, the changes it makes (the timer's byte
/// flip-flop and latch) journaled.
fn port_read(ctx: &mut Ctx, port: u16, size: usize) -> u64 {
    let (v, changes, _) = ctx.m.dev.read(port, size, ctx.step);
    for c in changes {
        ctx.device(c);
    }
    v
}

/// The port of operand `n`: an imm8 or DX.
fn port_of(ctx: &Ctx, i: &Instruction, n: u32) -> u16 {
    match i.op_kind(n) {
        OpKind::Register => ctx.read_reg(Register::DX) as u16,
        _ => i.immediate(n) as u16,
    }
}

/// The I/O protection check: IOPL, then the TSS I/O permission bitmap.
fn check_port(ctx: &mut Ctx, port: u16, size: usize) -> Result<(), Exception> {
    let mode = ctx.mode();
    if mode == Mode::Real {
        return Ok(());
    }
    let iopl = flags::iopl(ctx.flags());
    ctx.cost.checks(1);
    if ctx.cpl() <= iopl && ctx.flags() & VM == 0 {
        return Ok(());
    }
    let deny = |why: String| Err(Exception::gp(0, why));
    let tr = ctx.m.cpu.tr;
    if tr.attr.unusable() || !matches!(tr.attr.ty(), 0x9 | 0xb) || tr.limit < 0x67 {
        return deny(format!(
            "port {port:#x} at CPL {} > IOPL {iopl}, and no 32/64-bit TSS holds an I/O bitmap",
            ctx.cpl()
        ));
    }
    let map = ctx.read_system(tr.base.wrapping_add(0x66), 2)?;
    ctx.cost.tss_reads += 1;
    let at = map + port as u64 / 8;
    if at + 1 > tr.limit as u64 {
        return deny(format!(
            "port {port:#x} at CPL {} > IOPL {iopl}: its I/O bitmap bits lie beyond the TSS limit",
            ctx.cpl()
        ));
    }
    let bits = ctx.read_system(tr.base.wrapping_add(at), 2)?;
    let want = ((1u64 << size) - 1) << (port & 7);
    if bits & want != 0 {
        return deny(format!(
            "port {port:#x} at CPL {} > IOPL {iopl} is denied by the TSS I/O bitmap",
            ctx.cpl()
        ));
    }
    Ok(())
}

/// The address size of INS/OUTS from iced's string operand kind.
fn addr_size(i: &Instruction) -> usize {
    let k = if matches!(i.op0_kind(), OpKind::Register) {
        i.op1_kind()
    } else {
        i.op0_kind()
    };
    match k {
        OpKind::MemoryESRDI | OpKind::MemorySegRSI => 8,
        OpKind::MemoryESEDI | OpKind::MemorySegESI => 4,
        _ => 2,
    }
}

/// One element of INS/OUTS (and the REP count): ES:[rDI] <- port, or port <- seg:[rSI].
fn string(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    use Mnemonic as M;
    let a = addr_size(i);
    let rep = i.has_rep_prefix() || i.has_repne_prefix();
    let count = mask(ctx.gpr(RCX), a);
    if rep && count == 0 {
        return Ok(Flow::Next);
    }
    let ins = matches!(i.mnemonic(), M::Insb | M::Insw | M::Insd);
    let size = match i.mnemonic() {
        M::Insb | M::Outsb => 1,
        M::Insw | M::Outsw => 2,
        _ => 4,
    };
    let port = ctx.read_reg(Register::DX) as u16;
    check_port(ctx, port, size)?;
    let reg = if ins { RDI } else { RSI };
    let at = mask(ctx.gpr(reg), a);
    if ins {
        let v = port_read(ctx, port, size);
        let device = ctx.m.dev.at(port);
        ctx.write_mem(SegReg::Es, at, size, v)?;
        ctx.event(port_event(port, size, v, false, device));
    } else {
        let v = ctx.read_mem(operand::segment(i), at, size)?;
        let device = port_write(ctx, port, size, v);
        ctx.event(port_event(port, size, v, true, device));
    }
    let step = if ctx.flag(DF) {
        (size as u64).wrapping_neg()
    } else {
        size as u64
    };
    ctx.set_gpr_sized(reg, a, at.wrapping_add(step));
    if !rep {
        return Ok(Flow::Next);
    }
    ctx.set_gpr_sized(RCX, a, count - 1);
    if count - 1 == 0 {
        return Ok(Flow::Next);
    }
    let here = ctx.ip;
    ctx.set_rip(here);
    Ok(Flow::Jumped)
}
