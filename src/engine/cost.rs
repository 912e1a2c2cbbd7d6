//! What a step costs the processor in architectural work: the tables, MSRs and memory it
//! reads and writes and the privilege comparisons it makes, counted where the engine
//! does each of them. The counts say how much protection machinery an instruction
//! invokes; they are not cycles (the engine has no timing model), but the work counted
//! here is what made `int $0x80` and `iret` slow on the Pentium 4 and SYSENTER/SYSCALL
//! fast (see lessons/cost.toml).
//!
//! Only the general path counts: the fast forms (src/engine/fast.rs) touch nothing but
//! GPRs, RFLAGS and RIP, so every counter of theirs is zero. Instruction fetches and
//! page walks are not counted.

/// The architectural work of one step, or of several added together. Every counter
/// counts events of one kind, as the SDM's pseudo-code (Vol. 2A/2B) and protection
/// rules (Vol. 3A) make them:
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cost {
    /// Segment descriptors read from the GDT or LDT (8 bytes each; 16 for a 64-bit
    /// system descriptor): to load a segment register (SDM Vol. 3A 3.4.3, 5.4-5.8), to
    /// check the stack segment named by the TSS (6.12.1), by LTR, LAR, LSL, VERR/VERW.
    pub descriptor_reads: u32,
    /// Writes of a segment register (CS, SS, DS, ES, FS, GS): a new selector and hidden
    /// part, whether from a descriptor or, as SYSENTER/SYSEXIT/SYSCALL/SYSRET do, from
    /// fixed values and an MSR (SDM Vol. 2B, their Operation sections); SWAPGS, which
    /// exchanges GS.base only, counts as one.
    pub segment_loads: u32,
    /// IDT gate descriptors read to deliver an interrupt or exception (SDM Vol. 3A
    /// 6.10-6.12; one per delivery, 8 bytes, or 16 in IA-32e mode).
    pub gate_reads: u32,
    /// Fields read from the TSS: SSn and ESPn for a stack switch in protected mode
    /// (SDM Vol. 3A 6.12.1, 7.2.1), RSPn or ISTn in IA-32e mode (7.7), the I/O map base.
    pub tss_reads: u32,
    /// MSRs an instruction takes a value from (SDM Vol. 2B): SYSENTER reads
    /// IA32_SYSENTER_CS/ESP/EIP, SYSEXIT IA32_SYSENTER_CS, SYSCALL IA32_STAR/LSTAR/FMASK,
    /// SYSRET IA32_STAR, RDMSR and SWAPGS one each. The mode checks on IA32_EFER bits
    /// are not counted.
    pub msr_reads: u32,
    /// Comparisons of privilege levels (CPL, RPL, DPL, IOPL, or CPL against 0) the
    /// pseudo-code makes on the way to success (SDM Vol. 3A 5.5-5.9, 6.12.1.1; Vol. 2A
    /// INT n and IRET; Vol. 2B SYSEXIT, SYSRET): a check that fails ends the step in
    /// an exception, counted up to that point.
    pub privilege_checks: u32,
    /// Memory reads made (one per access, whatever its size), and their bytes.
    pub mem_reads: u32,
    pub read_bytes: u32,
    /// Memory writes made (one per access), and their bytes.
    pub mem_writes: u32,
    pub write_bytes: u32,
    /// Of those reads and writes, the implicit supervisor accesses to system structures
    /// (GDT, LDT, IDT, TSS; the accessed bit of a descriptor): the rest are data and
    /// stack accesses, including the frame an interrupt pushes.
    pub system_reads: u32,
    pub system_writes: u32,
}

/// Reads one counter.
pub type Counter = fn(&Cost) -> u32;

/// The counters by name, in the order tables show them: `(name, read)`.
pub const FIELDS: &[(&str, Counter)] = &[
    ("descriptor_reads", |c| c.descriptor_reads),
    ("segment_loads", |c| c.segment_loads),
    ("gate_reads", |c| c.gate_reads),
    ("tss_reads", |c| c.tss_reads),
    ("msr_reads", |c| c.msr_reads),
    ("privilege_checks", |c| c.privilege_checks),
    ("mem_reads", |c| c.mem_reads),
    ("mem_writes", |c| c.mem_writes),
    ("read_bytes", |c| c.read_bytes),
    ("write_bytes", |c| c.write_bytes),
    ("system_reads", |c| c.system_reads),
    ("system_writes", |c| c.system_writes),
];

impl Cost {
    /// The counter called `name` (one of `FIELDS`).
    pub fn get(&self, name: &str) -> Option<u32> {
        FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f(self))
    }

    pub fn is_zero(&self) -> bool {
        *self == Cost::default()
    }

    /// Every counter of `self` and `other` added (saturating).
    pub fn plus(&self, o: &Cost) -> Cost {
        self.zip(o, u32::saturating_add)
    }

    /// Every counter of `other` taken from `self` (saturating at 0).
    pub fn minus(&self, o: &Cost) -> Cost {
        self.zip(o, u32::saturating_sub)
    }

    fn zip(&self, o: &Cost, f: fn(u32, u32) -> u32) -> Cost {
        Cost {
            descriptor_reads: f(self.descriptor_reads, o.descriptor_reads),
            segment_loads: f(self.segment_loads, o.segment_loads),
            gate_reads: f(self.gate_reads, o.gate_reads),
            tss_reads: f(self.tss_reads, o.tss_reads),
            msr_reads: f(self.msr_reads, o.msr_reads),
            privilege_checks: f(self.privilege_checks, o.privilege_checks),
            mem_reads: f(self.mem_reads, o.mem_reads),
            read_bytes: f(self.read_bytes, o.read_bytes),
            mem_writes: f(self.mem_writes, o.mem_writes),
            write_bytes: f(self.write_bytes, o.write_bytes),
            system_reads: f(self.system_reads, o.system_reads),
            system_writes: f(self.system_writes, o.system_writes),
        }
    }

    /// Count `n` privilege-level comparisons.
    #[inline]
    pub fn checks(&mut self, n: u32) {
        self.privilege_checks = self.privilege_checks.saturating_add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_their_counters_and_sums_undo() {
        let a = Cost {
            gate_reads: 1,
            mem_writes: 5,
            ..Cost::default()
        };
        assert_eq!(a.get("gate_reads"), Some(1));
        assert_eq!(a.get("mem_writes"), Some(5));
        assert_eq!(a.get("cycles"), None);
        let b = a.plus(&a);
        assert_eq!(b.get("mem_writes"), Some(10));
        assert_eq!(b.minus(&a), a);
        assert!(a.minus(&b).is_zero());
        assert_eq!(FIELDS.len(), 12);
    }
}
