//! Architectural layouts of IDT gates and the TSS as they sit in memory
//! (Intel SDM Vol. 3A, 6.11 "IDT Descriptors", 6.14.1 "64-Bit Mode IDT",
//! 8.2.1 "Task-State Segment", 8.7 "Task Management in 64-bit Mode").

/// An IDT gate, decoded. `offset` is the handler entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    pub offset: u64,
    pub selector: u16,
    /// System descriptor type: 0x5 task gate, 0x6/0x7 16-bit interrupt/trap gate,
    /// 0xE/0xF 32-bit (or 64-bit in IA-32e mode) interrupt/trap gate.
    pub ty: u8,
    pub dpl: u8,
    pub present: bool,
    /// Interrupt-stack-table index (64-bit gates only).
    pub ist: u8,
}

impl Gate {
    pub fn is_interrupt_gate(&self) -> bool {
        self.ty & 0x7 == 0x6
    }
    pub fn is_trap_gate(&self) -> bool {
        self.ty & 0x7 == 0x7
    }
    pub fn is_32bit(&self) -> bool {
        self.ty & 0x8 != 0
    }

    /// Decode a legacy 8-byte gate.
    pub fn decode32(raw: u64) -> Gate {
        Gate {
            offset: (raw & 0xffff) | ((raw >> 32) & 0xffff_0000),
            selector: (raw >> 16) as u16,
            ty: ((raw >> 40) & 0xf) as u8,
            dpl: ((raw >> 45) & 3) as u8,
            present: raw & (1 << 47) != 0,
            ist: 0,
        }
    }

    /// Decode a 16-byte IA-32e gate from its low and high quadwords.
    pub fn decode64(lo: u64, hi: u64) -> Gate {
        let g = Gate::decode32(lo);
        Gate {
            offset: g.offset | (hi & 0xffff_ffff) << 32,
            ist: ((lo >> 32) & 7) as u8,
            ..g
        }
    }

    /// Encode as a legacy 8-byte gate.
    pub fn encode32(&self) -> u64 {
        let o = self.offset & 0xffff_ffff;
        (o & 0xffff)
            | (self.selector as u64) << 16
            | (self.ty as u64 & 0xf) << 40
            | (self.dpl as u64 & 3) << 45
            | (self.present as u64) << 47
            | (o >> 16) << 48
    }

    /// Encode as a 16-byte IA-32e gate (low, high).
    pub fn encode64(&self) -> (u64, u64) {
        let lo = self.encode32() | (self.ist as u64 & 7) << 32;
        (lo, self.offset >> 32)
    }
}

/// The parameter count of a legacy call gate (bits 36:32): dwords the CPU copies to the
/// new stack on a call through it (SDM Vol. 3A, 5.8.3).
pub fn call_gate_params(raw: u64) -> u8 {
    ((raw >> 32) & 0x1f) as u8
}

/// Offsets of the fields the CPU reads from a 32-bit TSS.
pub mod tss32 {
    pub const ESP0: u64 = 4;
    pub const SS0: u64 = 8;
    pub const ESP1: u64 = 0x0c;
    pub const SS1: u64 = 0x10;
    pub const ESP2: u64 = 0x14;
    pub const SS2: u64 = 0x18;
    pub const IOMAP_BASE: u64 = 0x66;
    /// Smallest limit of a valid 32-bit TSS (SDM: 67H).
    pub const MIN_LIMIT: u32 = 0x67;

    /// Every field of the 32-bit TSS (SDM Vol. 3A figure 8-2): name, offset, bytes.
    /// `t` is the debug-trap flag (bit 0 of its word).
    pub const FIELDS: &[(&str, u64, u8)] = &[
        ("link", 0x00, 2),
        ("esp0", ESP0, 4),
        ("ss0", SS0, 2),
        ("esp1", ESP1, 4),
        ("ss1", SS1, 2),
        ("esp2", ESP2, 4),
        ("ss2", SS2, 2),
        ("cr3", 0x1c, 4),
        ("eip", 0x20, 4),
        ("eflags", 0x24, 4),
        ("eax", 0x28, 4),
        ("ecx", 0x2c, 4),
        ("edx", 0x30, 4),
        ("ebx", 0x34, 4),
        ("esp", 0x38, 4),
        ("ebp", 0x3c, 4),
        ("esi", 0x40, 4),
        ("edi", 0x44, 4),
        ("es", 0x48, 2),
        ("cs", 0x4c, 2),
        ("ss", 0x50, 2),
        ("ds", 0x54, 2),
        ("fs", 0x58, 2),
        ("gs", 0x5c, 2),
        ("ldt", 0x60, 2),
        ("t", 0x64, 2),
        ("iomap_base", IOMAP_BASE, 2),
    ];

    /// Offset of ESPn for privilege level n (0..=2).
    pub fn esp(n: u8) -> u64 {
        ESP0 + 8 * n as u64
    }
    pub fn ss(n: u8) -> u64 {
        SS0 + 8 * n as u64
    }
}

/// Offsets of the fields the CPU reads from a 64-bit TSS.
pub mod tss64 {
    pub const RSP0: u64 = 4;
    pub const IST1: u64 = 0x24;
    pub const IOMAP_BASE: u64 = 0x66;
    pub const MIN_LIMIT: u32 = 0x67;

    /// Every field of the 64-bit TSS (SDM Vol. 3A figure 8-11): name, offset, bytes.
    pub const FIELDS: &[(&str, u64, u8)] = &[
        ("rsp0", RSP0, 8),
        ("rsp1", RSP0 + 8, 8),
        ("rsp2", RSP0 + 16, 8),
        ("ist1", IST1, 8),
        ("ist2", IST1 + 8, 8),
        ("ist3", IST1 + 16, 8),
        ("ist4", IST1 + 24, 8),
        ("ist5", IST1 + 32, 8),
        ("ist6", IST1 + 40, 8),
        ("ist7", IST1 + 48, 8),
        ("iomap_base", IOMAP_BASE, 2),
    ];

    pub fn rsp(n: u8) -> u64 {
        RSP0 + 8 * n as u64
    }
    /// IST1..IST7 (n = 1..=7).
    pub fn ist(n: u8) -> u64 {
        IST1 + 8 * (n as u64 - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_round_trip_32() {
        let g = Gate {
            offset: 0xc010_3a40,
            selector: 0x60,
            ty: 0xf,
            dpl: 3,
            present: true,
            ist: 0,
        };
        let raw = g.encode32();
        assert_eq!(raw, 0xc010_ef00_0060_3a40);
        assert_eq!(Gate::decode32(raw), g);
        assert!(g.is_trap_gate() && g.is_32bit());
    }

    #[test]
    fn gate_round_trip_64() {
        let g = Gate {
            offset: 0xffff_ffff_8160_0000,
            selector: 0x10,
            ty: 0xe,
            dpl: 0,
            present: true,
            ist: 2,
        };
        let (lo, hi) = g.encode64();
        assert_eq!(Gate::decode64(lo, hi), g);
    }

    #[test]
    fn tss_field_tables_agree_with_the_offsets() {
        let at = |f: &[(&str, u64, u8)], n: &str| f.iter().find(|x| x.0 == n).map(|x| x.1);
        for n in 0..3u8 {
            assert_eq!(at(tss32::FIELDS, &format!("esp{n}")), Some(tss32::esp(n)));
            assert_eq!(at(tss32::FIELDS, &format!("ss{n}")), Some(tss32::ss(n)));
            assert_eq!(at(tss64::FIELDS, &format!("rsp{n}")), Some(tss64::rsp(n)));
        }
        for n in 1..=7u8 {
            assert_eq!(at(tss64::FIELDS, &format!("ist{n}")), Some(tss64::ist(n)));
        }
        assert_eq!(at(tss64::FIELDS, "ist7"), Some(0x54));
        // The 32-bit fields tile the 0x68-byte TSS without overlap.
        let mut end = 0;
        for (name, off, len) in tss32::FIELDS {
            assert!(*off >= end, "{name} overlaps");
            end = off + *len as u64;
        }
        assert_eq!(end, tss32::MIN_LIMIT as u64 + 1);
    }

    #[test]
    fn call_gate_parameter_count() {
        // A 32-bit call gate to 0x0060:0xc0101234 copying 3 parameters.
        let raw = 0xc010_ec03_0060_1234u64;
        let g = Gate::decode32(raw);
        assert_eq!(
            (g.selector, g.offset, g.ty, g.dpl),
            (0x60, 0xc010_1234, 0xc, 3)
        );
        assert_eq!(call_gate_params(raw), 3);
    }
}
