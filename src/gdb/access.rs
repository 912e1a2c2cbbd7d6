//! Read and access watchpoints (gdb's Z3 and Z4). ringstep's journal records what a
//! step wrote, not what it read, so the memory operands of the instruction about to run
//! are worked out before it runs, with iced-x86's InstructionInfo: every explicit and
//! implicit memory access (stack pushes and pops, string operands), its linear address
//! from the current registers and segment bases, and whether it reads, writes or both.

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};

use crate::machine::{Machine, SegReg};

/// A read or access watchpoint: `[addr, addr + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessWatch {
    pub addr: u64,
    pub len: u64,
    /// True for an access watchpoint (reads and writes), false for reads only.
    pub writes_too: bool,
}

/// A memory access of the next instruction: its linear address, size, and whether it
/// reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub addr: u64,
    pub len: u64,
    pub reads: bool,
    pub writes: bool,
}

/// The value iced-x86 asks for when it computes an operand's address.
fn reg_value(m: &Machine, r: Register, next_ip: u64) -> Option<u64> {
    let seg = |s: SegReg| Some(m.cpu.seg(s).base);
    match r {
        Register::ES => seg(SegReg::Es),
        Register::CS => seg(SegReg::Cs),
        Register::SS => seg(SegReg::Ss),
        Register::DS => seg(SegReg::Ds),
        Register::FS => seg(SegReg::Fs),
        Register::GS => seg(SegReg::Gs),
        Register::RIP | Register::EIP => Some(next_ip),
        r if r.is_gpr() => {
            let v = m.cpu.gpr[r.full_register().number()];
            Some(crate::machine::cpu::mask(v, r.size()))
        }
        _ => None,
    }
}

/// The memory accesses of the instruction at CS:RIP (none if it does not decode).
pub fn next_accesses(m: &Machine) -> Vec<Access> {
    let cs = m.cpu.seg(SegReg::Cs).base;
    let mut bytes = [0u8; 15];
    m.peek_lin(cs.wrapping_add(m.cpu.rip), &mut bytes);
    let mut d = Decoder::with_ip(m.cpu.bitness(), &bytes, m.cpu.rip, DecoderOptions::NONE);
    let instr = d.decode();
    if instr.is_invalid() {
        return Vec::new();
    }
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(&instr);
    let next_ip = instr.next_ip();
    info.used_memory()
        .iter()
        .filter_map(|u| {
            let addr = u.virtual_address(0, |r, _, _| reg_value(m, r, next_ip))?;
            let (reads, writes) = match u.access() {
                OpAccess::Read | OpAccess::CondRead => (true, false),
                OpAccess::Write | OpAccess::CondWrite => (false, true),
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => (true, true),
                _ => (false, false),
            };
            Some(Access {
                addr,
                len: u.memory_size().size().max(1) as u64,
                reads,
                writes,
            })
        })
        .collect()
}

/// The first watch the accesses hit, with the address of the access.
pub fn hit(watches: &[AccessWatch], accesses: &[Access]) -> Option<(AccessWatch, u64)> {
    for w in watches {
        for a in accesses {
            let counts = a.reads || (w.writes_too && a.writes);
            let overlaps =
                a.addr.wrapping_sub(w.addr) < w.len || w.addr.wrapping_sub(a.addr) < a.len;
            if counts && overlaps {
                return Some((*w, a.addr));
            }
        }
    }
    None
}
