//! Things that happen during a step, beyond plain register and memory changes.

use std::borrow::Cow;

/// How an interrupt or exception came to be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `INT n`, `INT3` or `INTO`: the gate's DPL is checked against the CPL.
    Software,
    /// An exception raised by the processor.
    Exception,
    /// An external interrupt line (e.g. the timer).
    External,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Software => "software",
            Source::Exception => "exception",
            Source::External => "external",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The CPL changed.
    PrivilegeChange {
        from: u8,
        to: u8,
    },
    /// The stack pointer was loaded from somewhere other than the current stack.
    StackSwitch {
        from_ss: u16,
        from_sp: u64,
        to_ss: u16,
        to_sp: u64,
        /// Where the new stack pointer came from, e.g. `TSS.esp0` or `IA32_SYSENTER_ESP`.
        via: &'static str,
    },
    MsrRead {
        index: u32,
        value: u64,
    },
    MsrWrite {
        index: u32,
        old: u64,
        new: u64,
    },
    /// The processor raised an exception at `ip`.
    Exception {
        vector: u8,
        error_code: Option<u32>,
        ip: u64,
        reason: Cow<'static, str>,
    },
    /// An interrupt or exception was delivered through the IDT to its handler.
    Delivered {
        vector: u8,
        source: Source,
        /// True for an interrupt gate (IF cleared), false for a trap gate.
        interrupt_gate: bool,
        handler: u64,
    },
    /// A scheduled external interrupt line was raised.
    IrqRaised {
        vector: u8,
    },
    /// The 8259A PICs (src/machine/pic.rs) had IRQ `irq` pending and unmasked: the
    /// processor acknowledged it (INTA), which gave `vector`, delivered next. `device`
    /// names what drives the line ("pit" for IRQ 0).
    Irq {
        irq: u8,
        vector: u8,
        device: &'static str,
    },
    /// SWAPGS exchanged GS.base and IA32_KERNEL_GS_BASE.
    SwapGs {
        gs_base: u64,
        kernel_gs_base: u64,
    },
    /// HLT: the processor stops until an interrupt arrives.
    Halt,
    /// IN/OUT/INS/OUTS reached an I/O port: a device of the machine's (src/machine/dev.rs)
    /// or, with `device` None, an unmodelled port (reads give all ones, writes go
    /// nowhere).
    Port {
        port: u16,
        size: u8,
        value: u32,
        write: bool,
        device: Option<crate::machine::dev::Dev>,
    },
}

impl Event {
    /// The event's kind as the trace names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PrivilegeChange { .. } => "privilege_change",
            Event::StackSwitch { .. } => "stack_switch",
            Event::MsrRead { .. } => "msr_read",
            Event::MsrWrite { .. } => "msr_write",
            Event::Exception { .. } => "exception",
            Event::Delivered { .. } => "delivered",
            Event::IrqRaised { .. } => "irq_raised",
            Event::Irq { .. } => "irq",
            Event::SwapGs { .. } => "swapgs",
            Event::Halt => "halt",
            Event::Port { write: true, .. } => "port_write",
            Event::Port { .. } => "port_read",
        }
    }
}
