//! The register file gdb sees, in gdbstub_arch's layouts: the i386 core set (eax..edi,
//! eip, eflags, the six selectors) for 32-bit machines and the amd64 one (rax..r15, rip,
//! eflags, selectors) for machines in IA-32e mode. ringstep does not model the x87 and
//! SSE state, so those registers read as zero and writes to them are ignored.

use gdbstub_arch::x86::reg::{X86CoreRegs, X86SegmentRegs, X86_64CoreRegs};

use crate::debug::regs::Reg;
use crate::machine::{Machine, SegReg};

/// gdb's order of the segment registers in its register packets.
const SEGS: [SegReg; 6] = [
    SegReg::Cs,
    SegReg::Ss,
    SegReg::Ds,
    SegReg::Es,
    SegReg::Fs,
    SegReg::Gs,
];

/// amd64 register numbers in gdb's order, as indices into `Cpu::gpr` (rax, rcx, rdx,
/// rbx, rsp, rbp, rsi, rdi, r8..r15).
const AMD64_GPR: [u8; 16] = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];

/// A register set gdbstub sends and receives, read from and written to a `Machine`.
pub trait MachineRegs: Sized {
    /// The registers of `m`.
    fn load(m: &Machine) -> Self;
    /// The registers of `self` that differ from `m`'s, with their new values.
    fn changes(&self, m: &Machine) -> Vec<(Reg, u64)>;
}

fn segments(m: &Machine) -> X86SegmentRegs {
    let s = |r| m.cpu.seg(r).selector as u32;
    X86SegmentRegs {
        cs: s(SegReg::Cs),
        ss: s(SegReg::Ss),
        ds: s(SegReg::Ds),
        es: s(SegReg::Es),
        fs: s(SegReg::Fs),
        gs: s(SegReg::Gs),
    }
}

fn segment_changes(segs: &X86SegmentRegs, m: &Machine, out: &mut Vec<(Reg, u64)>) {
    let given = [segs.cs, segs.ss, segs.ds, segs.es, segs.fs, segs.gs];
    for (s, v) in SEGS.iter().zip(given) {
        if v as u64 != m.cpu.seg(*s).selector as u64 {
            out.push((Reg::Seg(*s), v as u64));
        }
    }
}

fn gpr(index: u8, bytes: u8) -> Reg {
    Reg::Gpr {
        index,
        bytes,
        high: false,
    }
}

impl MachineRegs for X86CoreRegs {
    fn load(m: &Machine) -> Self {
        let g = |i: usize| m.cpu.gpr[i] as u32;
        X86CoreRegs {
            eax: g(0),
            ecx: g(1),
            edx: g(2),
            ebx: g(3),
            esp: g(4),
            ebp: g(5),
            esi: g(6),
            edi: g(7),
            eip: m.cpu.rip as u32,
            eflags: m.cpu.rflags as u32,
            segments: segments(m),
            ..Default::default()
        }
    }

    fn changes(&self, m: &Machine) -> Vec<(Reg, u64)> {
        let mut out = Vec::new();
        let given = [
            self.eax, self.ecx, self.edx, self.ebx, self.esp, self.ebp, self.esi, self.edi,
        ];
        for (i, v) in given.iter().enumerate() {
            if *v as u64 != m.cpu.gpr[i] & 0xffff_ffff {
                out.push((gpr(i as u8, 4), *v as u64));
            }
        }
        if self.eip as u64 != m.cpu.rip {
            out.push((Reg::Ip, self.eip as u64));
        }
        if self.eflags as u64 != m.cpu.rflags {
            out.push((Reg::Flags, self.eflags as u64));
        }
        segment_changes(&self.segments, m, &mut out);
        out
    }
}

impl MachineRegs for X86_64CoreRegs {
    fn load(m: &Machine) -> Self {
        let mut regs = [0u64; 16];
        for (slot, i) in regs.iter_mut().zip(AMD64_GPR) {
            *slot = m.cpu.gpr[i as usize];
        }
        X86_64CoreRegs {
            regs,
            eflags: m.cpu.rflags as u32,
            rip: m.cpu.rip,
            segments: segments(m),
            ..Default::default()
        }
    }

    fn changes(&self, m: &Machine) -> Vec<(Reg, u64)> {
        let mut out = Vec::new();
        for (v, i) in self.regs.iter().zip(AMD64_GPR) {
            if *v != m.cpu.gpr[i as usize] {
                out.push((gpr(i, 8), *v));
            }
        }
        if self.rip != m.cpu.rip {
            out.push((Reg::Ip, self.rip));
        }
        if self.eflags as u64 != m.cpu.rflags {
            out.push((Reg::Flags, self.eflags as u64));
        }
        segment_changes(&self.segments, m, &mut out);
        out
    }
}
