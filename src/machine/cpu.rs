//! The architectural register state of one logical processor.

use super::flags;
use super::msr::{self, MsrFile};
use super::segment::{SegReg, Segment};

/// General-purpose register numbers, in the CPU's encoding order.
pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

pub const GPR_NAMES_64: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
pub const GPR_NAMES_32: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// Control register bits used by the model.
pub const CR0_PE: u64 = 1 << 0;
pub const CR0_WP: u64 = 1 << 16;
pub const CR0_PG: u64 = 1 << 31;
pub const CR0_MP: u64 = 1 << 1;
pub const CR0_EM: u64 = 1 << 2;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_NE: u64 = 1 << 5;
pub const CR0_AM: u64 = 1 << 18;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR4_TSD: u64 = 1 << 2;
pub const CR4_DE: u64 = 1 << 3;
pub const CR4_PSE: u64 = 1 << 4;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_OSFXSR: u64 = 1 << 9;
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub const CR4_FSGSBASE: u64 = 1 << 16;
pub const CR4_OSXSAVE: u64 = 1 << 18;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;
/// The CR4 bits the CPU model supports (docs/cpu-model.md); setting any other is #GP(0).
pub const CR4_SUPPORTED: u64 = 1 << 0 // VME
    | 1 << 1 // PVI
    | CR4_TSD
    | CR4_DE
    | CR4_PSE
    | CR4_PAE
    | 1 << 6 // MCE
    | CR4_PGE
    | 1 << 8 // PCE
    | CR4_OSFXSR
    | CR4_OSXMMEXCPT
    | CR4_FSGSBASE
    | CR4_SMEP
    | CR4_SMAP;

/// Debug registers: DR6's value at reset and its single-step bit, DR7's reset value.
pub const DR6_INIT: u64 = 0xffff_0ff0;
pub const DR6_BS: u64 = 1 << 14;
pub const DR7_INIT: u64 = 0x400;

/// The operating mode, derived from CR0.PE, EFER.LMA and CS.L as the CPU derives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// CR0.PE = 0. The model does not execute real-mode code.
    Real,
    /// Legacy protected mode (32- or 16-bit code segment).
    Protected,
    /// IA-32e mode with a 32/16-bit code segment (e.g. `__USER32_CS`).
    Compat,
    /// IA-32e mode with a 64-bit code segment.
    Long64,
}

/// GDTR / IDTR: base and limit of a descriptor table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableReg {
    pub base: u64,
    pub limit: u16,
}

/// The register state of the processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
    /// Indexed by `SegReg as usize` (ES, CS, SS, DS, FS, GS).
    pub seg: [Segment; 6],
    pub gdtr: TableReg,
    pub idtr: TableReg,
    /// Task register: selector plus the cached TSS descriptor (base, limit, type).
    pub tr: Segment,
    /// Local descriptor table register. The model keeps it null: a selector with TI=1
    /// then faults exactly as it does on a CPU whose LDTR holds a null selector.
    pub ldtr: Segment,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    /// CR8, the task-priority register (64-bit mode only). No APIC consults it.
    pub cr8: u64,
    /// DR0-DR7 (DR4/DR5 alias DR6/DR7 and are never stored). Breakpoints in DR0-3/DR7
    /// are held but not acted on; DR6 reports single-step traps (BS).
    pub dr: [u64; 8],
    pub msr: MsrFile,
    /// HLT executed; the processor waits for an interrupt.
    pub halted: bool,
    /// Interrupt shadow after STI (when IF was 0) or MOV/POP SS: external interrupts are
    /// held off until the next instruction completes.
    pub shadow: bool,
    /// An external interrupt line that is raised and waiting for delivery.
    pub pending_irq: Option<u8>,
}

impl Default for Cpu {
    fn default() -> Cpu {
        Cpu {
            gpr: [0; 16],
            rip: 0,
            rflags: flags::RESERVED1,
            seg: [Segment::null(0); 6],
            gdtr: TableReg::default(),
            idtr: TableReg::default(),
            tr: Segment::null(0),
            ldtr: Segment::null(0),
            cr0: CR0_PE,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            dr: [0, 0, 0, 0, 0, 0, DR6_INIT, DR7_INIT],
            msr: MsrFile::default(),
            halted: false,
            shadow: false,
            pending_irq: None,
        }
    }
}

impl Cpu {
    pub fn seg(&self, s: SegReg) -> &Segment {
        &self.seg[s as usize]
    }

    /// The current privilege level: the RPL field of CS, which the CPU keeps equal to CPL.
    pub fn cpl(&self) -> u8 {
        (self.seg[SegReg::Cs as usize].selector & 3) as u8
    }

    pub fn efer(&self) -> u64 {
        self.msr.get(msr::EFER)
    }

    pub fn long_mode_active(&self) -> bool {
        self.efer() & msr::EFER_LMA != 0
    }

    pub fn mode(&self) -> Mode {
        if self.cr0 & CR0_PE == 0 {
            Mode::Real
        } else if self.long_mode_active() {
            if self.seg(SegReg::Cs).attr.l() {
                Mode::Long64
            } else {
                Mode::Compat
            }
        } else {
            Mode::Protected
        }
    }

    /// Code size in bits for decoding: 64, 32 or 16.
    pub fn bitness(&self) -> u32 {
        match self.mode() {
            Mode::Long64 => 64,
            Mode::Real => 16,
            _ => {
                if self.seg(SegReg::Cs).attr.db() {
                    32
                } else {
                    16
                }
            }
        }
    }

    /// Stack address size in bytes: 8 in 64-bit mode, else from SS.B.
    pub fn stack_width(&self) -> usize {
        match self.mode() {
            Mode::Long64 => 8,
            _ => {
                if self.seg(SegReg::Ss).attr.db() {
                    4
                } else {
                    2
                }
            }
        }
    }

    /// The stack pointer masked to the stack address size.
    pub fn sp(&self) -> u64 {
        mask(self.gpr[RSP], self.stack_width())
    }

    /// RDMSR's view of an MSR: FS_BASE and GS_BASE are the FS/GS descriptor-cache bases.
    pub fn read_msr(&self, index: u32) -> Option<u64> {
        match index {
            msr::FS_BASE => Some(self.seg(SegReg::Fs).base),
            msr::GS_BASE => Some(self.seg(SegReg::Gs).base),
            _ => self.msr.read(index),
        }
    }

    /// Store an MSR value without checks (machine set-up). FS_BASE/GS_BASE go to the
    /// segment caches. Returns false for an MSR the machine does not implement.
    pub fn set_msr(&mut self, index: u32, value: u64) -> bool {
        match index {
            msr::FS_BASE => self.seg[SegReg::Fs as usize].base = value,
            msr::GS_BASE => self.seg[SegReg::Gs as usize].base = value,
            _ => return self.msr.set(index, value),
        }
        true
    }

    /// Every implemented MSR with its current value, in table order.
    pub fn msrs(&self) -> Vec<(u32, u64)> {
        msr::KNOWN
            .iter()
            .map(|(i, _)| (*i, self.read_msr(*i).unwrap_or(0)))
            .collect()
    }

    /// Register file names for this machine: 64-bit names in IA-32e mode.
    pub fn gpr_names(&self) -> &'static [&'static str] {
        if self.long_mode_active() {
            &GPR_NAMES_64
        } else {
            &GPR_NAMES_32
        }
    }
}

/// Keep the low `bytes` bytes of a value.
pub fn mask(value: u64, bytes: usize) -> u64 {
    if bytes >= 8 {
        value
    } else {
        value & ((1u64 << (bytes * 8)) - 1)
    }
}

/// Sign-extend the low `bytes` bytes of a value to 64 bits.
pub fn sign_extend(value: u64, bytes: usize) -> u64 {
    match bytes {
        1 => value as u8 as i8 as i64 as u64,
        2 => value as u16 as i16 as i64 as u64,
        4 => value as u32 as i32 as i64 as u64,
        _ => value,
    }
}

/// Look up a register by name (`eax`, `RSP`, `r8`, `eip`, `rflags`...): returns the
/// full-width register number, or a special register, for lessons and scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegName {
    Gpr { index: usize, bytes: usize },
    Ip,
    Flags,
}

pub fn reg_by_name(name: &str) -> Option<RegName> {
    let n = name.trim().to_ascii_lowercase();
    match n.as_str() {
        "eip" | "rip" | "ip" => return Some(RegName::Ip),
        "eflags" | "rflags" | "flags" => return Some(RegName::Flags),
        _ => {}
    }
    if let Some(i) = GPR_NAMES_64.iter().position(|r| *r == n) {
        return Some(RegName::Gpr { index: i, bytes: 8 });
    }
    if let Some(i) = GPR_NAMES_32.iter().position(|r| *r == n) {
        return Some(RegName::Gpr { index: i, bytes: 4 });
    }
    if let Some(rest) = n.strip_prefix('r') {
        let (num, bytes) = match rest.strip_suffix('d') {
            Some(num) => (num, 4),
            None => (rest, 8),
        };
        if let Ok(i) = num.parse::<usize>() {
            if (8..16).contains(&i) {
                return Some(RegName::Gpr { index: i, bytes });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_names() {
        assert_eq!(
            reg_by_name("EAX"),
            Some(RegName::Gpr { index: 0, bytes: 4 })
        );
        assert_eq!(
            reg_by_name("r11"),
            Some(RegName::Gpr {
                index: 11,
                bytes: 8
            })
        );
        assert_eq!(
            reg_by_name("r9d"),
            Some(RegName::Gpr { index: 9, bytes: 4 })
        );
        assert_eq!(reg_by_name("eip"), Some(RegName::Ip));
        assert_eq!(reg_by_name("exx"), None);
        assert_eq!(reg_by_name("r16"), None);
    }

    #[test]
    fn masks_and_sign_extension() {
        assert_eq!(mask(0x1234_5678_9abc, 2), 0x9abc);
        assert_eq!(sign_extend(0x80, 1), 0xffff_ffff_ffff_ff80);
        assert_eq!(sign_extend(0x7fff, 2), 0x7fff);
    }
}
