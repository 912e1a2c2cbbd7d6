//! Byte order: BSWAP, MOVBE (Intel SDM Vol. 2A "BSWAP", Vol. 2B "MOVBE").
//!
//! BSWAP with a 16-bit operand is undefined by the SDM; the model clears the low 16 bits
//! of the register (the result Intel and AMD processors give, and QEMU's). MOVBE is
//! modelled as on a CPU with CPUID.01H:ECX.MOVBE set; it only has memory forms.

use iced_x86::Instruction;

use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    match i.mnemonic() {
        iced_x86::Mnemonic::Bswap => {
            let size = operand::size(i, 0);
            let v = operand::read(ctx, i, 0)?;
            let r = if size == 2 { 0 } else { swap(v, size) };
            operand::write(ctx, i, 0, r)?;
        }
        iced_x86::Mnemonic::Movbe => {
            let size = operand::size(i, 0);
            let v = operand::read(ctx, i, 1)?;
            operand::write(ctx, i, 0, swap(v, size))?;
        }
        _ => return Ok(Flow::Unsupported),
    }
    Ok(Flow::Next)
}

/// The low `size` bytes of `v` in reverse order.
fn swap(v: u64, size: usize) -> u64 {
    match size {
        8 => v.swap_bytes(),
        4 => (v as u32).swap_bytes() as u64,
        2 => (v as u16).swap_bytes() as u64,
        _ => v & 0xff,
    }
}
