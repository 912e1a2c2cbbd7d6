//! The model-specific registers this machine implements (Intel SDM Vol. 4, table 2-2).
//! Any other index is an unknown MSR: RDMSR/WRMSR of it raise #GP(0), as the SDM says.

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
        _ => return None,
    })
}

/// Why a WRMSR is refused with #GP(0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrError {
    Unknown,
    ReservedBits,
    NonCanonical,
}

impl MsrError {
    pub fn reason(self) -> &'static str {
        match self {
            MsrError::Unknown => "the MSR index in ECX is not implemented",
            MsrError::ReservedBits => "the value sets reserved bits of the MSR",
            MsrError::NonCanonical => "the value is not a canonical address",
        }
    }
}

/// True if `addr` is canonical for 48-bit linear addresses.
pub fn is_canonical(addr: u64) -> bool {
    let top = (addr as i64) >> 47;
    top == 0 || top == -1
}

/// The MSR file: one 64-bit value per implemented MSR.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MsrFile {
    values: [u64; KNOWN.len()],
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
            FMASK | SYSENTER_CS if value >> 32 != 0 => Err(MsrError::ReservedBits),
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
    }
}
