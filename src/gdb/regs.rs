//! The registers gdb reads and writes, taken from and given to a `Machine` by the
//! register tables of `tdesc`. Reads cover every register of the description; x87 and
//! SSE registers, which ringstep does not model, read as zero and writes to them are
//! ignored. Writes to general registers and the flags are the debugger's `set reg`;
//! selectors and the instruction pointer are refused as `set reg` refuses them.
//! Control registers, EFER and the segment bases (fs_base, gs_base, k_gs_base) are
//! written as MOV to CRn and WRMSR would write them (`engine::sysreg`: CR0.PG with
//! EFER.LME also sets EFER.LMA), and refused where those instructions raise #GP (SDM
//! Vol. 3A 2.5, 4.1.2). Every write is a hand edit at the current position: stepping
//! back undoes it.

use crate::debug::regs::Reg;
use crate::engine::sysreg::{self, SysReg};
use crate::machine::cpu::mask;
use crate::machine::{msr, Machine, SegReg};

use super::arch::{Layout, Regs};
use super::tdesc::{RegDef, Src};

/// Why gdb may not write a register: an error reply (`E16`, EINVAL) for what the
/// debugger refuses, `E0d` (EACCES) for a system register write the CPU would fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Invalid(String),
    Fault(String),
}

impl Refusal {
    pub fn errno(&self) -> u8 {
        match self {
            Refusal::Invalid(_) => 22,
            Refusal::Fault(_) => 13,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Refusal::Invalid(t) | Refusal::Fault(t) => t,
        }
    }
}

/// A register write gdb asked for: a debugger `set reg`, or a system register written
/// as its instruction would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Reg(Reg, u64),
    System(SysReg, u64),
}

/// The value of register `def` in `m`, cut to the register's width.
pub fn read(def: &RegDef, m: &Machine) -> u64 {
    let cpu = &m.cpu;
    let v = match def.src {
        Src::Gpr(i) => cpu.gpr[i as usize & 15],
        Src::Ip => cpu.rip,
        Src::Flags => cpu.rflags,
        Src::Sel(s) => cpu.seg(s).selector as u64,
        Src::Base(s) => cpu.seg(s).base,
        Src::KernelGsBase => cpu.msr.get(msr::KERNEL_GS_BASE),
        Src::Cr(0) => cpu.cr0,
        Src::Cr(2) => cpu.cr2,
        Src::Cr(3) => cpu.cr3,
        Src::Cr(4) => cpu.cr4,
        Src::Cr(_) => cpu.cr8,
        Src::Efer => cpu.efer(),
        Src::Unmodelled => 0,
    };
    mask(v, def.bytes().min(8))
}

/// Every register of `L` in `m`.
pub fn load<L: Layout>(m: &Machine) -> Regs<L> {
    Regs::new(L::defs().iter().map(|d| read(d, m)).collect())
}

/// The system register behind `src`, if it is one.
fn system(src: Src) -> Option<SysReg> {
    Some(match src {
        Src::Base(SegReg::Gs) => SysReg::Msr(msr::GS_BASE),
        Src::Base(_) => SysReg::Msr(msr::FS_BASE),
        Src::KernelGsBase => SysReg::Msr(msr::KERNEL_GS_BASE),
        Src::Cr(n) => SysReg::Cr(n),
        Src::Efer => SysReg::Msr(msr::EFER),
        _ => return None,
    })
}

/// Check a system register write against `m` as its instruction would.
pub fn check_system(def_name: &str, m: &Machine, reg: SysReg, v: u64) -> Result<(), Refusal> {
    match sysreg::edit_changes(m, reg, v) {
        Ok(_) => Ok(()),
        Err(e) => Err(Refusal::Fault(format!(
            "`{def_name}` = {v:#x} refused: the CPU would raise #GP(0) ({})",
            e.reason
        ))),
    }
}

/// The write that gives register `def` the value `v` in `m`: None if the value is the
/// current one or the register is not modelled.
pub fn edit(def: &RegDef, m: &Machine, v: u64) -> Result<Option<Edit>, Refusal> {
    if v == read(def, m) {
        return Ok(None);
    }
    if let Some(reg) = system(def.src) {
        check_system(&def.name, m, reg, v)?;
        return Ok(Some(Edit::System(reg, v)));
    }
    let reg = match def.src {
        // amd64 served for a machine still in 32-bit code (it enters long mode later):
        // its 64-bit registers are written as their 32-bit halves.
        Src::Gpr(index) => Reg::Gpr {
            index,
            bytes: if m.cpu.long_mode_active() {
                def.bytes().min(8) as u8
            } else {
                4
            },
            high: false,
        },
        Src::Flags => Reg::Flags,
        Src::Ip => Reg::Ip,
        Src::Sel(s) => Reg::Seg(s),
        _ => return Ok(None),
    };
    reg.edit(m, v).map_err(Refusal::Invalid)?;
    Ok(Some(Edit::Reg(reg, v)))
}

/// The writes that make `m`'s registers those of `regs` (gdb's `G` packet), or the
/// first refusal (then nothing is changed).
pub fn changes<L: Layout>(regs: &Regs<L>, m: &Machine) -> Result<Vec<Edit>, Refusal> {
    let mut out = Vec::new();
    for (def, v) in L::defs().iter().zip(&regs.vals) {
        if let Some(e) = edit(def, m, *v)? {
            out.push(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdb::arch::{Amd64, I386};
    use crate::machine::SegReg;

    fn def<L: Layout>(name: &str) -> &'static RegDef {
        let found = L::defs().iter().find(|d| d.name == name);
        found.unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn registers_read_from_their_sources() {
        let mut m = Machine::new();
        m.cpu.gpr[3] = 0x1122_3344_5566_7788;
        m.cpu.cr3 = 0x1_2345_6000;
        m.cpu.seg[SegReg::Gs as usize].base = 0xffff_8880_0000_1000;
        m.cpu.msr.set(msr::KERNEL_GS_BASE, 0x42);
        assert_eq!(read(def::<Amd64>("rbx"), &m), 0x1122_3344_5566_7788);
        assert_eq!(read(def::<I386>("ebx"), &m), 0x5566_7788);
        assert_eq!(read(def::<Amd64>("cr3"), &m), 0x1_2345_6000);
        assert_eq!(read(def::<Amd64>("gs_base"), &m), 0xffff_8880_0000_1000);
        assert_eq!(read(def::<Amd64>("k_gs_base"), &m), 0x42);
        assert_eq!(read(def::<I386>("cr0"), &m), m.cpu.cr0);
    }

    #[test]
    fn writes_go_to_general_registers_and_system_ones_by_the_cpus_rules() {
        let m = Machine::new();
        let rbx = def::<Amd64>("rbx");
        let ebx = Reg::Gpr {
            index: 3,
            bytes: 4,
            high: false,
        };
        // The machine runs 32-bit code: rbx is written as ebx, and must fit.
        assert_eq!(edit(rbx, &m, 7), Ok(Some(Edit::Reg(ebx, 7))));
        assert!(matches!(edit(rbx, &m, 1 << 40), Err(Refusal::Invalid(_))));
        assert!(edit(def::<Amd64>("r9"), &m, 1).is_err());
        assert_eq!(edit(def::<Amd64>("xmm3"), &m, 7), Ok(None));
        assert_eq!(edit(def::<Amd64>("cr0"), &m, m.cpu.cr0), Ok(None));
        let cr3 = edit(def::<I386>("cr3"), &m, 0x5000);
        assert_eq!(cr3, Ok(Some(Edit::System(SysReg::Cr(3), 0x5000))));
        let fs = edit(def::<Amd64>("fs_base"), &m, 0x7000);
        assert_eq!(
            fs,
            Ok(Some(Edit::System(SysReg::Msr(msr::FS_BASE), 0x7000)))
        );
        // #GP(0) for MOV to CR0 with PG = 1 and PE = 0, a CR4 bit not supported, a
        // non-canonical base, a reserved EFER bit.
        for (name, v) in [
            ("cr0", 1u64 << 31),
            ("cr4", 1 << 30),
            ("k_gs_base", 1 << 63),
            ("efer", 1 << 20),
        ] {
            let r = edit(def::<Amd64>(name), &m, v);
            assert!(matches!(r, Err(Refusal::Fault(_))), "{name}: {r:?}");
        }
        let cs = edit(def::<I386>("cs"), &m, 0x23);
        assert!(matches!(cs, Err(Refusal::Invalid(_))), "{cs:?}");
    }
}
