//! EFLAGS/RFLAGS bits with their architectural names (Intel SDM Vol. 1, 3.4.3).

pub const CF: u64 = 1 << 0;
/// Bit 1 is reserved and always reads as 1.
pub const RESERVED1: u64 = 1 << 1;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub const TF: u64 = 1 << 8;
pub const IF: u64 = 1 << 9;
pub const DF: u64 = 1 << 10;
pub const OF: u64 = 1 << 11;
pub const IOPL: u64 = 3 << 12;
pub const NT: u64 = 1 << 14;
pub const RF: u64 = 1 << 16;
pub const VM: u64 = 1 << 17;
pub const AC: u64 = 1 << 18;
pub const VIF: u64 = 1 << 19;
pub const VIP: u64 = 1 << 20;
pub const ID: u64 = 1 << 21;

/// The six arithmetic status flags.
pub const STATUS: u64 = CF | PF | AF | ZF | SF | OF;

/// Every defined flag bit, in display order (most significant first), with its name.
pub const NAMED_BITS: &[(u64, &str)] = &[
    (ID, "ID"),
    (VIP, "VIP"),
    (VIF, "VIF"),
    (AC, "AC"),
    (VM, "VM"),
    (RF, "RF"),
    (NT, "NT"),
    (OF, "OF"),
    (DF, "DF"),
    (IF, "IF"),
    (TF, "TF"),
    (SF, "SF"),
    (ZF, "ZF"),
    (AF, "AF"),
    (PF, "PF"),
    (CF, "CF"),
];

/// The I/O privilege level field.
pub fn iopl(flags: u64) -> u8 {
    ((flags & IOPL) >> 12) as u8
}

/// The names of the set bits, e.g. `["IF", "ZF"]`, plus `IOPL=n` when it is not zero.
pub fn set_names(flags: u64) -> Vec<String> {
    let mut names: Vec<String> = NAMED_BITS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| (*name).to_string())
        .collect();
    let level = iopl(flags);
    if level != 0 {
        names.push(format!("IOPL={level}"));
    }
    names
}

/// Look a flag up by name (case-insensitive), e.g. for lesson checkpoints.
pub fn by_name(name: &str) -> Option<u64> {
    NAMED_BITS
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(bit, _)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_typical_user_flags_value() {
        assert_eq!(set_names(0x246), vec!["IF", "ZF", "PF"]);
        assert_eq!(set_names(0x3002), vec!["IOPL=3"]);
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(by_name("if"), Some(IF));
        assert_eq!(by_name("XX"), None);
    }
}
