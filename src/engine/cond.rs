//! Conditional moves and sets: CMOVcc, SETcc (Intel SDM Vol. 2A "CMOVcc", Vol. 2B
//! "SETcc"). The condition is read from iced-x86's condition code and evaluated as Jcc
//! does (`control::condition`).
//!
//! CMOVcc always reads its source, so a memory source can fault when the condition is
//! false (the SDM allows it: "memory-related exceptions may be reported even if the
//! condition is false"), and always writes a 32-bit destination register: in 64-bit mode
//! bits 63:32 are cleared even when the condition is false.

use iced_x86::Instruction;

use super::control::condition;
use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let taken = condition(i.condition_code(), ctx.flags());
    if i.op_count() == 1 {
        // SETcc r/m8.
        operand::write(ctx, i, 0, taken as u64)?;
        return Ok(Flow::Next);
    }
    let src = operand::read(ctx, i, 1)?;
    let v = if taken {
        src
    } else {
        operand::read(ctx, i, 0)?
    };
    operand::write(ctx, i, 0, v)?;
    Ok(Flow::Next)
}
