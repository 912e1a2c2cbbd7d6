//! The devices a booted kernel finds at its I/O ports, as plain data (so whole machines
//! still compare with `==`) with the port semantics of the real hardware:
//!
//! - a 16550 UART at 0x3f8-0x3ff (COM1): a byte written to the transmitter holding
//!   register goes out on the line at once, so it is appended to the console output and
//!   LSR (0x3fd) always reports THR empty and transmitter empty (0x60); no byte is ever
//!   received (RBR reads 0, LSR.DR = 0). The other registers read as a 16550 at reset
//!   (IER 0, IIR 0x01 "no interrupt pending", LCR 0, MCR 0, MSR 0xb0 (CTS, DSR, DCD as
//!   QEMU's serial device reports them), SCR 0, divisor 0x000c (9600 baud)) and keep
//!   what is written to them; DLAB (LCR bit 7) switches 0x3f8/0x3f9 to the divisor
//!   latch. In loopback mode (MCR bit 4) written bytes do not reach the line. The UART
//!   raises no interrupts.
//! - QEMU's `isa-debug-exit` at 0xf4: a write of value V ends the run with exit status
//!   (V << 1) | 1, as QEMU exits with it; a read gives all ones.
//! - port 0x80 (the POST diagnostic port, used for I/O delays): writes do nothing, reads
//!   give all ones.
//!
//! Every other port is unmodelled: reads give all ones, writes go nowhere (the engine
//! reports both as events). Nothing is attached unless `Devices::attached` is set (the
//! machine `ringstep boot` makes); the preset machines have no devices.
//!
//! State changes are described as [`DevChange`] values, which the engine journals so
//! that stepping back undoes them (a UART byte is undone by truncating the output to
//! its previous length).

/// COM1's first port.
pub const UART_BASE: u16 = 0x3f8;
/// QEMU's isa-debug-exit port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT: u16 = 0xf4;
/// The POST code port.
pub const POST: u16 = 0x80;

/// LSR: THR empty (bit 5) and transmitter empty (bit 6).
pub const LSR_IDLE: u8 = 0x60;
/// MSR at reset: CTS, DSR and DCD asserted.
pub const MSR_RESET: u8 = 0xb0;

/// Which device answered a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dev {
    Uart,
    DebugExit,
    Post,
}

impl Dev {
    pub fn name(self) -> &'static str {
        match self {
            Dev::Uart => "uart16550",
            Dev::DebugExit => "isa-debug-exit",
            Dev::Post => "post",
        }
    }
}

/// The UART's registers (those software can write) and what went out on its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Every byte transmitted so far.
    pub out: Vec<u8>,
    pub ier: u8,
    /// FCR bit 0 (FIFOs enabled), which shows in IIR bits 7:6.
    pub fcr: u8,
    pub lcr: u8,
    pub mcr: u8,
    pub scr: u8,
    pub dll: u8,
    pub dlm: u8,
}

impl Default for Uart {
    fn default() -> Uart {
        Uart {
            out: Vec::new(),
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            scr: 0,
            dll: 0x0c,
            dlm: 0,
        }
    }
}

/// A UART register, for `DevChange::Reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartReg {
    Ier,
    Fcr,
    Lcr,
    Mcr,
    Scr,
    Dll,
    Dlm,
}

impl UartReg {
    pub fn name(self) -> &'static str {
        match self {
            UartReg::Ier => "ier",
            UartReg::Fcr => "fcr",
            UartReg::Lcr => "lcr",
            UartReg::Mcr => "mcr",
            UartReg::Scr => "scr",
            UartReg::Dll => "dll",
            UartReg::Dlm => "dlm",
        }
    }
}

/// The machine's devices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    /// The devices above answer at their ports (false: every port is unmodelled).
    pub attached: bool,
    pub uart: Uart,
    /// Set by a write to isa-debug-exit: the exit status; the run ends.
    pub exit: Option<u32>,
}

/// One change to device state (kept small: it is a journal entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevChange {
    /// A byte transmitted by the UART; the output was `old_len` bytes long before.
    Out {
        byte: u8,
        old_len: u32,
    },
    Reg {
        reg: UartReg,
        old: u8,
        new: u8,
    },
    Exit {
        old: Option<u32>,
        new: Option<u32>,
    },
}

impl Uart {
    fn reg_mut(&mut self, r: UartReg) -> &mut u8 {
        match r {
            UartReg::Ier => &mut self.ier,
            UartReg::Fcr => &mut self.fcr,
            UartReg::Lcr => &mut self.lcr,
            UartReg::Mcr => &mut self.mcr,
            UartReg::Scr => &mut self.scr,
            UartReg::Dll => &mut self.dll,
            UartReg::Dlm => &mut self.dlm,
        }
    }

    fn reg(&self, r: UartReg) -> u8 {
        match r {
            UartReg::Ier => self.ier,
            UartReg::Fcr => self.fcr,
            UartReg::Lcr => self.lcr,
            UartReg::Mcr => self.mcr,
            UartReg::Scr => self.scr,
            UartReg::Dll => self.dll,
            UartReg::Dlm => self.dlm,
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & 0x80 != 0
    }

    /// The value a read of UART register `off` (0-7) gives.
    pub fn read(&self, off: u16) -> u8 {
        match off {
            0 if self.dlab() => self.dll,
            0 => 0,
            1 if self.dlab() => self.dlm,
            1 => self.ier,
            2 => 0x01 | if self.fcr & 1 != 0 { 0xc0 } else { 0 },
            3 => self.lcr,
            4 => self.mcr,
            5 => LSR_IDLE,
            6 => MSR_RESET,
            _ => self.scr,
        }
    }

    /// The change a write of `v` to register `off` (0-7) makes, if any.
    pub fn write(&self, off: u16, v: u8) -> Option<DevChange> {
        let reg = |reg: UartReg, new: u8| {
            let old = self.reg(reg);
            (old != new).then_some(DevChange::Reg { reg, old, new })
        };
        match off {
            0 if self.dlab() => reg(UartReg::Dll, v),
            0 if self.mcr & 0x10 != 0 => None,
            0 => Some(DevChange::Out {
                byte: v,
                old_len: self.out.len() as u32,
            }),
            1 if self.dlab() => reg(UartReg::Dlm, v),
            1 => reg(UartReg::Ier, v & 0x0f),
            2 => reg(UartReg::Fcr, v & 1),
            3 => reg(UartReg::Lcr, v),
            4 => reg(UartReg::Mcr, v & 0x1f),
            // LSR and MSR are read-only (writes are for factory tests).
            5 | 6 => None,
            _ => reg(UartReg::Scr, v),
        }
    }
}

impl Devices {
    /// The device at `port`, if one is attached there.
    pub fn at(&self, port: u16) -> Option<Dev> {
        if !self.attached {
            return None;
        }
        match port {
            UART_BASE..=0x3ff => Some(Dev::Uart),
            DEBUG_EXIT => Some(Dev::DebugExit),
            POST => Some(Dev::Post),
            _ => None,
        }
    }

    /// A read of `size` bytes (1, 2 or 4) at `port`: the value (all ones for bytes no
    /// device answers) and the device at the first port.
    pub fn read(&self, port: u16, size: usize) -> (u64, Option<Dev>) {
        let mut v = 0u64;
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = match self.at(p) {
                Some(Dev::Uart) => self.uart.read(p - UART_BASE),
                _ => 0xff,
            };
            v |= (b as u64) << (8 * i);
        }
        (v, self.at(port))
    }

    /// The changes a write of `size` bytes of `value` at `port` makes (each byte goes to
    /// its own port, as a wide OUT reaches consecutive 8-bit registers).
    pub fn write(&self, port: u16, size: usize, value: u64) -> (Vec<DevChange>, Option<Dev>) {
        let mut changes = Vec::new();
        // Later bytes of a wide write see the registers the earlier ones set.
        let mut scratch = Devices {
            attached: self.attached,
            uart: Uart {
                out: Vec::new(),
                ier: self.uart.ier,
                fcr: self.uart.fcr,
                lcr: self.uart.lcr,
                mcr: self.uart.mcr,
                scr: self.uart.scr,
                dll: self.uart.dll,
                dlm: self.uart.dlm,
            },
            exit: self.exit,
        };
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = (value >> (8 * i)) as u8;
            let c = match scratch.at(p) {
                Some(Dev::Uart) => scratch.uart.write(p - UART_BASE, b),
                // QEMU's device exits with (value << 1) | 1 of the whole access.
                Some(Dev::DebugExit) if i == 0 => {
                    let status = ((value as u32) << 1) | 1;
                    Some(DevChange::Exit {
                        old: scratch.exit,
                        new: Some(status),
                    })
                }
                _ => None,
            };
            if let Some(c) = c {
                scratch.apply(&c, false);
                // The scratch copy's output starts empty.
                changes.push(match c {
                    DevChange::Out { byte, old_len } => DevChange::Out {
                        byte,
                        old_len: old_len + self.uart.out.len() as u32,
                    },
                    c => c,
                });
            }
        }
        (changes, self.at(port))
    }

    /// Apply a change, or undo it.
    pub fn apply(&mut self, c: &DevChange, undo: bool) {
        match *c {
            DevChange::Out { byte, old_len } => {
                self.uart.out.truncate(old_len as usize);
                if !undo {
                    self.uart.out.push(byte);
                }
            }
            DevChange::Reg { reg, old, new } => {
                *self.uart.reg_mut(reg) = if undo { old } else { new };
            }
            DevChange::Exit { old, new } => self.exit = if undo { old } else { new },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attached() -> Devices {
        Devices {
            attached: true,
            ..Devices::default()
        }
    }

    #[test]
    fn the_uart_reads_as_a_16550_at_reset() {
        let d = attached();
        let regs: Vec<u64> = (0..8).map(|i| d.read(0x3f8 + i, 1).0).collect();
        assert_eq!(regs, [0, 0, 1, 0, 0, 0x60, 0xb0, 0]);
        assert_eq!(d.read(0x64, 1), (0xff, None));
        assert_eq!(Devices::default().read(0x3fd, 1), (0xff, None));
    }

    #[test]
    fn thr_writes_append_and_undo_truncates() {
        let mut d = attached();
        for b in b"hi" {
            let (cs, dev) = d.write(0x3f8, 1, *b as u64);
            assert_eq!(dev, Some(Dev::Uart));
            for c in &cs {
                d.apply(c, false);
            }
        }
        assert_eq!(d.uart.out, b"hi");
        let (cs, _) = d.write(0x3f8, 1, b'!' as u64);
        d.apply(&cs[0], false);
        d.apply(&cs[0], true);
        assert_eq!(d.uart.out, b"hi");
    }

    #[test]
    fn dlab_selects_the_divisor_latch_and_debug_exit_records_the_status() {
        let mut d = attached();
        for (p, v) in [(0x3fb, 0x80), (0x3f8, 0x01), (0x3f9, 0x00), (0x3fb, 0x03)] {
            for c in d.write(p, 1, v).0 {
                d.apply(&c, false);
            }
        }
        assert_eq!((d.uart.dll, d.uart.dlm, d.uart.lcr), (1, 0, 3));
        assert!(d.uart.out.is_empty());
        let (cs, dev) = d.write(0xf4, 1, 0x21);
        assert_eq!(dev, Some(Dev::DebugExit));
        assert_eq!(
            cs,
            [DevChange::Exit {
                old: None,
                new: Some(0x43)
            }]
        );
        assert!(std::mem::size_of::<DevChange>() <= 16);
    }
}
