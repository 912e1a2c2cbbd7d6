//! The model-specific registers this machine implements (Intel SDM Vol. 4, table 2-2).
//! Any other index is an unknown MSR: RDMSR/WRMSR of it raise #GP(0), as the SDM says.
//! Besides the fast-system-call MSRs, the architectural MSRs an OS touches at boot are
//! modelled with their reset values (docs/cpu-model.md): IA32_APIC_BASE, IA32_PAT,
//! IA32_MISC_ENABLE, IA32_MTRRCAP (read-only), IA32_SPEC_CTRL, IA32_TSC_ADJUST,
//! IA32_TSC_AUX, and the write-only IA32_PRED_CMD and IA32_TIME_STAMP_COUNTER, which
//! RDMSR/WRMSR handle outside this file (the TSC counts steps, see the engine).
//!
//! IA32_SYSENTER_CS: SDM Vol. 4 table 2-2 (174H) defines bits 15:0 as the CS selector and
//! marks the rest "not used"; WRMSR does not check them (as real processors and QEMU),
//! and SYSENTER/SYSEXIT read only bits 15:0.

pub const SYSENTER_CS: u32 = 0x174;
pub const SYSENTER_ESP: u32 = 0x175;
pub const SYSENTER_EIP: u32 = 0x176;
pub const EFER: u32 = 0xc000_0080;
pub const STAR: u32 = 0xc000_0081;
pub const LSTAR: u32 = 0xc000_0082;
pub const CSTAR: u32 = 0xc000_0083;
pub const FMASK: u32 = 0xc000_0084;
pub const FS_BASE: u32 = 0xc000_0100;
pub const GS_BASE: u32 = 0xc000_0101;
pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
pub const TSC_AUX: u32 = 0xc000_0103;
pub const TSC: u32 = 0x10;
pub const APIC_BASE: u32 = 0x1b;
pub const TSC_ADJUST: u32 = 0x3b;
pub const SPEC_CTRL: u32 = 0x48;
pub const PRED_CMD: u32 = 0x49;
pub const MTRRCAP: u32 = 0xfe;
pub const MISC_ENABLE: u32 = 0x1a0;
pub const PAT: u32 = 0x277;

/// Reset values (SDM Vol. 3A 10.4.4 APIC base 0xfee00000, enabled, BSP; 11.12.4 PAT;
/// MISC_ENABLE with fast strings enabled; MTRRCAP: 8 variable ranges, fixed ranges, WC).
pub const APIC_BASE_RESET: u64 = 0xfee0_0900;
pub const PAT_RESET: u64 = 0x0007_0406_0007_0406;
pub const MISC_ENABLE_RESET: u64 = 0x1;
pub const MTRRCAP_VALUE: u64 = 0x508;

/// EFER bits.
pub const EFER_SCE: u64 = 1 << 0;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
pub const EFER_NXE: u64 = 1 << 11;

/// Index, architectural name, and the reason a write can be refused.
pub const KNOWN: &[(u32, &str)] = &[
    (SYSENTER_CS, "IA32_SYSENTER_CS"),
    (SYSENTER_ESP, "IA32_SYSENTER_ESP"),
    (SYSENTER_EIP, "IA32_SYSENTER_EIP"),
    (EFER, "IA32_EFER"),
    (STAR, "IA32_STAR"),
    (LSTAR, "IA32_LSTAR"),
    (CSTAR, "IA32_CSTAR"),
    (FMASK, "IA32_FMASK"),
    (FS_BASE, "IA32_FS_BASE"),
    (GS_BASE, "IA32_GS_BASE"),
    (KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE"),
    (TSC_AUX, "IA32_TSC_AUX"),
    (APIC_BASE, "IA32_APIC_BASE"),
    (TSC_ADJUST, "IA32_TSC_ADJUST"),
    (SPEC_CTRL, "IA32_SPEC_CTRL"),
    (MTRRCAP, "IA32_MTRRCAP"),
    (MISC_ENABLE, "IA32_MISC_ENABLE"),
    (PAT, "IA32_PAT"),
];

/// Architectural name of an MSR index, if the machine implements it.
pub fn name(index: u32) -> Option<&'static str> {
    KNOWN.iter().find(|(i, _)| *i == index).map(|(_, n)| *n)
}

/// Find an MSR by name: the full name (`IA32_SYSENTER_CS`), the name without the
/// `IA32_` prefix, or a number (`0x174`).
pub fn by_name(text: &str) -> Option<u32> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16)
            .ok()
            .filter(|i| name(*i).is_some());
    }
    KNOWN
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(t) || n[5..].eq_ignore_ascii_case(t))
        .map(|(i, _)| *i)
}

/// Position of an MSR in `KNOWN` (a match, because EFER is looked up on every step).
fn slot(index: u32) -> Option<usize> {
    Some(match index {
        SYSENTER_CS => 0,
        SYSENTER_ESP => 1,
        SYSENTER_EIP => 2,
        EFER => 3,
        STAR => 4,
        LSTAR => 5,
        CSTAR => 6,
        FMASK => 7,
        FS_BASE => 8,
        GS_BASE => 9,
        KERNEL_GS_BASE => 10,
        TSC_AUX => 11,
        APIC_BASE => 12,
        TSC_ADJUST => 13,
        SPEC_CTRL => 14,
        MTRRCAP => 15,
        MISC_ENABLE => 16,
        PAT => 17,
        _ => return None,
    })
}

/// Why a WRMSR is refused with #GP(0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrError {
    Unknown,
    ReservedBits,
    NonCanonical,
    ReadOnly,
}

impl MsrError {
    pub fn reason(self) -> &'static str {
        match self {
            MsrError::Unknown => "the MSR index in ECX is not implemented",
            MsrError::ReservedBits => "the value sets reserved bits of the MSR",
            MsrError::NonCanonical => "the value is not a canonical address",
            MsrError::ReadOnly => "the MSR is read-only",
        }
    }
}

/// True if `addr` is canonical for 48-bit linear addresses.
pub fn is_canonical(addr: u64) -> bool {
    let top = (addr as i64) >> 47;
    top == 0 || top == -1
}

/// The MSR file: one 64-bit value per implemented MSR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsrFile {
    values: [u64; KNOWN.len()],
}

impl Default for MsrFile {
    fn default() -> MsrFile {
        let mut m = MsrFile {
            values: [0; KNOWN.len()],
        };
        m.set(APIC_BASE, APIC_BASE_RESET);
        m.set(PAT, PAT_RESET);
        m.set(MISC_ENABLE, MISC_ENABLE_RESET);
        m.set(MTRRCAP, MTRRCAP_VALUE);
        m
    }
}

/// Every byte of IA32_PAT must name a memory type: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-
/// (SDM Vol. 3A 11.12.2); 2, 3 and 8-255 are reserved.
fn pat_ok(v: u64) -> bool {
    (0..8).all(|i| matches!((v >> (i * 8)) & 0xff, 0 | 1 | 4 | 5 | 6 | 7))
}

impl MsrFile {
    pub fn read(&self, index: u32) -> Option<u64> {
        slot(index).map(|s| self.values[s])
    }

    /// The value of an MSR the machine is known to implement (0 for others).
    pub fn get(&self, index: u32) -> u64 {
        self.read(index).unwrap_or(0)
    }

    /// Check a WRMSR value as the CPU does, without storing it.
    pub fn check_write(&self, index: u32, value: u64) -> Result<u64, MsrError> {
        slot(index).ok_or(MsrError::Unknown)?;
        match index {
            EFER => {
                if value & !(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE) != 0 {
                    return Err(MsrError::ReservedBits);
                }
                // LMA is read-only: software writes to it are ignored.
                Ok((value & !EFER_LMA) | (self.get(EFER) & EFER_LMA))
            }
            FMASK | TSC_AUX if value >> 32 != 0 => Err(MsrError::ReservedBits),
            MTRRCAP => Err(MsrError::ReadOnly),
            PAT if !pat_ok(value) => Err(MsrError::ReservedBits),
            // Bits 7:0, 9 and 10 (x2APIC, not supported) and those above MAXPHYADDR (46)
            // are reserved; BSP (bit 8) is read-only.
            APIC_BASE if value & !0x3fff_ffff_f800 & !0x100 != 0 => Err(MsrError::ReservedBits),
            APIC_BASE => Ok((value & !0x100) | (self.get(APIC_BASE) & 0x100)),
            // CPUID advertises IBRS/IBPB (7.0:EDX[26]) only: bit 0 (IBRS) is the one bit.
            SPEC_CTRL if value & !1 != 0 => Err(MsrError::ReservedBits),
            LSTAR | CSTAR | SYSENTER_ESP | SYSENTER_EIP | FS_BASE | GS_BASE | KERNEL_GS_BASE
                if !is_canonical(value) =>
            {
                Err(MsrError::NonCanonical)
            }
            _ => Ok(value),
        }
    }

    /// Store a value without architectural checks (machine set-up, reverse stepping).
    /// Returns false for an MSR the machine does not implement.
    pub fn set(&mut self, index: u32, value: u64) -> bool {
        match slot(index) {
            Some(s) => {
                self.values[s] = value;
                true
            }
            None => false,
        }
    }

    /// All MSRs as (index, value) in table order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        KNOWN
            .iter()
            .zip(self.values.iter())
            .map(|((i, _), v)| (*i, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_table() {
        for (n, (index, _)) in KNOWN.iter().enumerate() {
            assert_eq!(slot(*index), Some(n));
        }
    }

    #[test]
    fn names_and_lookup() {
        assert_eq!(name(0x176), Some("IA32_SYSENTER_EIP"));
        assert_eq!(by_name("sysenter_cs"), Some(0x174));
        assert_eq!(by_name("IA32_LSTAR"), Some(LSTAR));
        assert_eq!(by_name("0x175"), Some(0x175));
        assert_eq!(by_name("0x10"), None);
        assert_eq!(by_name("apic_base"), Some(APIC_BASE));
    }

    #[test]
    fn write_checks() {
        let m = MsrFile::default();
        assert_eq!(m.check_write(0x10, 0), Err(MsrError::Unknown));
        assert_eq!(m.check_write(EFER, 1 << 2), Err(MsrError::ReservedBits));
        assert_eq!(
            m.check_write(LSTAR, 0x8000_0000_0000),
            Err(MsrError::NonCanonical)
        );
        assert_eq!(
            m.check_write(LSTAR, 0xffff_ffff_8100_0000),
            Ok(0xffff_ffff_8100_0000)
        );
        assert_eq!(m.check_write(EFER, EFER_SCE | EFER_LMA), Ok(EFER_SCE));
        assert_eq!(m.check_write(SYSENTER_CS, 0x1_0000_0060), Ok(0x1_0000_0060));
        assert_eq!(m.check_write(MTRRCAP, 0), Err(MsrError::ReadOnly));
        assert_eq!(m.check_write(PAT, 0x0202), Err(MsrError::ReservedBits));
        assert_eq!(m.check_write(PAT, 0x0106), Ok(0x0106));
        assert_eq!(m.check_write(SPEC_CTRL, 2), Err(MsrError::ReservedBits));
        assert_eq!(
            m.check_write(APIC_BASE, 0xfee0_0400),
            Err(MsrError::ReservedBits)
        );
        assert_eq!(m.check_write(APIC_BASE, 0xfed0_0800), Ok(0xfed0_0900));
        assert_eq!(m.get(PAT), PAT_RESET);
    }
}
