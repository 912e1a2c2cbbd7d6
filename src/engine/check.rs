//! Cross-check the engine against iced-x86's own instruction tables: every general
//! register an instruction writes must be one that InstructionInfo says it may write.

use iced_x86::{Instruction, InstructionInfoFactory, OpAccess};

use super::journal::Change;

/// Registers written by `changes` that iced does not list as written by `instr`.
/// When the step delivered an interrupt (INT n, INT3, INTO), the frame push through the
/// IDT moves RSP, which iced does not count as the instruction's own write.
pub fn undeclared_writes(
    factory: &mut InstructionInfoFactory,
    instr: &Instruction,
    changes: &[Change],
    delivered: bool,
) -> Vec<String> {
    let info = factory.info(instr);
    let mut allowed = [false; 16];
    for u in info.used_registers() {
        let writes = matches!(
            u.access(),
            OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
        );
        let r = u.register();
        if writes && r.is_gpr() {
            allowed[r.full_register().number()] = true;
        }
    }
    if delivered {
        allowed[crate::machine::cpu::RSP] = true;
    }
    let mut out = Vec::new();
    for ch in changes {
        if let Change::Gpr { index, old, new } = ch {
            if old != new && !allowed[*index as usize] {
                out.push(format!(
                    "{:?} writes {} which iced-x86 does not list as written",
                    instr.mnemonic(),
                    crate::machine::cpu::GPR_NAMES_64
                        .get(*index as usize)
                        .copied()
                        .unwrap_or("?")
                ));
            }
        }
    }
    out
}
