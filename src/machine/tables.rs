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
}
