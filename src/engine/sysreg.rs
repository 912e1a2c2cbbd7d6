//! Writes to the control registers and the system MSRs, with the checks the CPU makes:
//! MOV to CRn (SDM Vol. 2B "MOV—Move to/from Control Registers", Vol. 3A 2.5) and WRMSR
//! (Vol. 2B "WRMSR", Vol. 3A 2.2.1, 4.1.2), and IA-32e mode following CR0.PG (Vol. 3A
//! 10.8.5). The instructions use these checks; a debugger (gdb's `set $cr3 = ...`)
//! uses `edit_changes` to make the same write by hand, refused where the CPU would
//! raise #GP.

use super::fault::Exception;
use super::journal::{Change, SegSlot};
use super::privileged::{CR0_DEFINED, MAXPHYADDR};
use crate::machine::cpu::{Mode, CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CR4_PAE, CR4_SUPPORTED};
use crate::machine::msr::{self, EFER_LMA, EFER_LME};
use crate::machine::{Machine, SegReg};

/// The value a write of `v` to CRn stores in `m`, or the #GP(0) it raises (SDM Vol. 2B
/// MOV CRn "Protected Mode Exceptions" and "64-Bit Mode Exceptions"; Vol. 3A 2.5).
pub fn checked_cr(m: &Machine, n: u8, v: u64) -> Result<u64, Exception> {
    let gp = |why: &'static str| Err(Exception::gp(0, why));
    let long = m.cpu.long_mode_active();
    match n {
        0 => {
            if v >> 32 != 0 {
                return gp("MOV to CR0 sets reserved bits 63:32");
            }
            if v & CR0_PG != 0 && v & CR0_PE == 0 {
                return gp("MOV to CR0 with PG = 1 and PE = 0");
            }
            if v & CR0_NW != 0 && v & CR0_CD == 0 {
                return gp("MOV to CR0 with NW = 1 and CD = 0");
            }
            if m.cpu.mode() == Mode::Long64 && v & CR0_PG == 0 {
                return gp("MOV to CR0 clears PG in 64-bit mode");
            }
            if m.cpu.efer() & EFER_LME != 0 && v & CR0_PG != 0 && m.cpu.cr4 & CR4_PAE == 0 {
                return gp("MOV to CR0 sets PG with EFER.LME = 1 and CR4.PAE = 0");
            }
            Ok((v & CR0_DEFINED) | CR0_ET)
        }
        2 => Ok(v),
        3 => {
            if long && v >> MAXPHYADDR != 0 {
                return gp("MOV to CR3 sets bits above MAXPHYADDR (46)");
            }
            Ok(v)
        }
        4 => {
            if v & !CR4_SUPPORTED != 0 {
                return gp("MOV to CR4 sets a reserved bit or one the CPU model does not support");
            }
            if long && v & CR4_PAE == 0 {
                return gp("MOV to CR4 clears PAE while IA-32e mode is active");
            }
            Ok(v)
        }
        _ => {
            if v >> 4 != 0 {
                return gp("MOV to CR8 sets reserved bits 63:4");
            }
            Ok(v)
        }
    }
}

/// EFER after CRn of `m` takes the (checked) value `v`, if it changes: EFER.LMA follows
/// CR0.PG when EFER.LME is set. Paging turned on activates IA-32e mode (a 32-bit code
/// segment then runs in compatibility mode until a far jump to a 64-bit one), paging
/// turned off deactivates it (SDM Vol. 3A 10.8.5, 10.8.5.4).
pub fn efer_after_cr0(m: &Machine, n: u8, v: u64) -> Option<u64> {
    let efer = m.cpu.efer();
    let was = m.cpu.cr0 & CR0_PG != 0;
    let now = v & CR0_PG != 0;
    if n != 0 || was == now {
        return None;
    }
    if now && efer & EFER_LME != 0 {
        Some(efer | EFER_LMA)
    } else if !now && efer & EFER_LMA != 0 {
        Some(efer & !EFER_LMA)
    } else {
        None
    }
}

/// The value WRMSR stores in MSR `index` of `m` for `value`, or its #GP(0): the MSR's
/// own rules (`MsrFile::check_write`) and IA32_EFER.LME, which cannot change while
/// paging is enabled (SDM Vol. 3A 4.1.2).
pub fn checked_msr(m: &Machine, index: u32, value: u64) -> Result<u64, Exception> {
    let new = m
        .cpu
        .msr
        .check_write(index, value)
        .map_err(|e| Exception::gp(0, format!("WRMSR to {index:#x}: {}", e.reason())))?;
    let old = m.cpu.read_msr(index).unwrap_or(0);
    if index == msr::EFER && (new ^ old) & EFER_LME != 0 && m.cpu.cr0 & CR0_PG != 0 {
        return Err(Exception::gp(
            0,
            "WRMSR would change IA32_EFER.LME while paging is enabled (CR0.PG = 1)",
        ));
    }
    Ok(new)
}

/// A system register a debugger may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysReg {
    /// CR0, CR2, CR3, CR4 or CR8, as MOV to CRn writes them.
    Cr(u8),
    /// An MSR, as WRMSR writes it (IA32_FS_BASE and IA32_GS_BASE: the segment bases).
    Msr(u32),
}

/// The journal changes that write `value` to `reg` of `m` by hand, as the instruction
/// would (with CR0's effect on EFER.LMA), or the #GP(0) the instruction would raise.
pub fn edit_changes(m: &Machine, reg: SysReg, value: u64) -> Result<Vec<Change>, Exception> {
    match reg {
        SysReg::Cr(n) => {
            let new = checked_cr(m, n, value)?;
            let old = match n {
                0 => m.cpu.cr0,
                2 => m.cpu.cr2,
                3 => m.cpu.cr3,
                8 => m.cpu.cr8,
                _ => m.cpu.cr4,
            };
            let mut out = vec![Change::Cr { n, old, new }];
            if let Some(efer) = efer_after_cr0(m, n, new) {
                let (index, old) = (msr::EFER, m.cpu.efer());
                out.push(Change::Msr {
                    index,
                    old,
                    new: efer,
                });
            }
            Ok(out)
        }
        SysReg::Msr(index) => {
            let new = checked_msr(m, index, value)?;
            let base = |s: SegReg| Change::SegBase {
                slot: SegSlot::Seg(s),
                old: m.cpu.seg(s).base,
                new,
            };
            Ok(vec![match index {
                msr::FS_BASE => base(SegReg::Fs),
                msr::GS_BASE => base(SegReg::Gs),
                _ => Change::Msr {
                    index,
                    old: m.cpu.msr.get(index),
                    new,
                },
            }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::CR0_PE;

    #[test]
    fn paging_on_with_lme_activates_ia32e_mode_and_faults_follow_the_sdm() {
        let mut m = Machine::new();
        m.cpu.cr0 = CR0_PE;
        m.cpu.msr.set(msr::EFER, EFER_LME);
        // PG with LME = 1 and PAE = 0: #GP.
        assert!(edit_changes(&m, SysReg::Cr(0), CR0_PE | CR0_PG).is_err());
        m.cpu.cr4 = CR4_PAE;
        let changes = edit_changes(&m, SysReg::Cr(0), CR0_PE | CR0_PG);
        let efer = Change::Msr {
            index: msr::EFER,
            old: EFER_LME,
            new: EFER_LME | EFER_LMA,
        };
        assert_eq!(changes.ok().and_then(|c| c.last().copied()), Some(efer));
        // LME cannot change while paging is on; the bases must be canonical.
        m.cpu.cr0 |= CR0_PG;
        assert!(edit_changes(&m, SysReg::Msr(msr::EFER), 0).is_err());
        assert!(edit_changes(&m, SysReg::Msr(msr::GS_BASE), 1 << 63).is_err());
        let gs = edit_changes(&m, SysReg::Msr(msr::GS_BASE), 0x1000);
        assert!(matches!(
            gs.as_deref(),
            Ok([Change::SegBase { new: 0x1000, .. }])
        ));
    }
}
