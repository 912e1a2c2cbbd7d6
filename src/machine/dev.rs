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
//! - the two 8259A interrupt controllers at 0x20/0x21 and 0xa0/0xa1 (src/machine/pic.rs)
//!   and channel 0 of the 8254 timer at 0x40 and 0x43 (src/machine/pit.rs), whose output
//!   raises IRQ 0. The engine asks `Devices::irq` at each instruction boundary and
//!   acknowledges the request it delivers (`Devices::acknowledge`). A booted machine
//!   starts with them as the BIOS (SeaBIOS under QEMU) leaves them (`Devices::bios`).
//!
//! There is no local APIC or I/O APIC: the xAPIC's MMIO page at 0xfee00000 is not
//! modelled (it reads as open bus), and CPUID does not report an APIC as enabled in a way
//! a kernel could program; interrupts reach the processor only through the 8259As.
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

use super::pic::{self, Pic, PicReg};
use super::pit::{self, Pit, PitReg};

/// Which device answered a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dev {
    Uart,
    DebugExit,
    Post,
    /// An 8259A (master or slave).
    Pic,
    /// The 8254 timer.
    Pit,
}

impl Dev {
    pub fn name(self) -> &'static str {
        match self {
            Dev::Uart => "uart16550",
            Dev::DebugExit => "isa-debug-exit",
            Dev::Post => "post",
            Dev::Pic => "pic8259",
            Dev::Pit => "pit8254",
        }
    }
}

/// Which IRQ line a device drives, for events: "pit" for IRQ 0.
pub fn irq_source(irq: u8) -> &'static str {
    match irq {
        0 => "pit",
        _ => "unconnected",
    }
}

/// A time of the devices' clock, for `DevChange::Time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSlot {
    /// `Pit::start`.
    PitStart,
    /// `Pit::fired`.
    PitFired,
    /// `Devices::skew`.
    Skew,
}

impl TimeSlot {
    pub fn name(self) -> &'static str {
        match self {
            TimeSlot::PitStart => "pit_start",
            TimeSlot::PitFired => "pit_fired",
            TimeSlot::Skew => "clock_skew",
        }
    }
}

/// A clock value in a journal entry: 48 bits (2.8e14 ticks), so that the entry stays
/// small; larger values saturate.
fn pack48(v: u64) -> [u16; 3] {
    let v = v.min((1 << 48) - 1);
    [v as u16, (v >> 16) as u16, (v >> 32) as u16]
}

pub fn unpack48(w: [u16; 3]) -> u64 {
    w[0] as u64 | (w[1] as u64) << 16 | (w[2] as u64) << 32
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices {
    /// The devices above answer at their ports (false: every port is unmodelled).
    pub attached: bool,
    pub uart: Uart,
    /// Set by a write to isa-debug-exit: the exit status; the run ends.
    pub exit: Option<u32>,
    /// The master (0) and slave (1) 8259A.
    pub pic: [Pic; 2],
    pub pit: Pit,
    /// The devices' clock is the engine's step number plus this: the ticks a halted
    /// processor skipped to the timer's next edge.
    pub skew: u64,
    /// The step number at which the timer's next edge is due (u64::MAX: none), kept
    /// from the state above by `refresh` (so it needs no journal of its own).
    pub due: u64,
}

impl Default for Devices {
    fn default() -> Devices {
        Devices {
            attached: false,
            uart: Uart::default(),
            exit: None,
            pic: [Pic::default(); 2],
            pit: Pit::default(),
            skew: 0,
            due: u64::MAX,
        }
    }
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
    /// A register of an 8259A (`chip` 0 master, 1 slave).
    Pic {
        chip: u8,
        reg: PicReg,
        old: u8,
        new: u8,
    },
    /// A register of the 8254's channel 0.
    Pit {
        reg: PitReg,
        old: u16,
        new: u16,
    },
    /// A clock value (see `unpack48`), one variant per `TimeSlot` (so that the entry
    /// stays within 16 bytes).
    PitStart {
        old: [u16; 3],
        new: [u16; 3],
    },
    PitFired {
        old: [u16; 3],
        new: [u16; 3],
    },
    Skew {
        old: [u16; 3],
        new: [u16; 3],
    },
}

impl DevChange {
    /// The changed register's name as the trace shows it (`pic0_imr`, `pit_count`) and
    /// its new value, for the changes other than the UART's and isa-debug-exit's.
    pub fn register(&self) -> Option<(String, u64, u64)> {
        match *self {
            DevChange::Pic {
                chip,
                reg,
                old,
                new,
            } => Some((format!("pic{chip}_{}", reg.name()), old as u64, new as u64)),
            DevChange::Pit { reg, old, new } => {
                Some((format!("pit_{}", reg.name()), old as u64, new as u64))
            }
            _ => {
                let (slot, old, new) = self.time_parts()?;
                Some((slot.name().to_string(), unpack48(old), unpack48(new)))
            }
        }
    }

    /// A clock change's slot and packed values.
    pub fn time_parts(&self) -> Option<(TimeSlot, [u16; 3], [u16; 3])> {
        match *self {
            DevChange::PitStart { old, new } => Some((TimeSlot::PitStart, old, new)),
            DevChange::PitFired { old, new } => Some((TimeSlot::PitFired, old, new)),
            DevChange::Skew { old, new } => Some((TimeSlot::Skew, old, new)),
            _ => None,
        }
    }

    fn time(slot: TimeSlot, old: u64, new: u64) -> Option<DevChange> {
        let (old, new) = (old != new).then(|| (pack48(old), pack48(new)))?;
        Some(match slot {
            TimeSlot::PitStart => DevChange::PitStart { old, new },
            TimeSlot::PitFired => DevChange::PitFired { old, new },
            TimeSlot::Skew => DevChange::Skew { old, new },
        })
    }
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
    /// The devices as a PC BIOS (SeaBIOS, under QEMU) leaves them when it hands over
    /// to a boot loader: the 8259As initialised with vector bases 0x08 and 0x70, IMRs
    /// 0xb8 and 0x8e (IRQ 0, 1, 2 and 6 unmasked on the master, as QEMU's `info pic`
    /// shows at a Multiboot kernel's entry), and the timer in mode 2 with count 0
    /// (65536 ticks, the BIOS's 18.2 Hz), started at clock 0.
    pub fn bios() -> Devices {
        let pic = |base: u8, imr: u8| Pic {
            base,
            imr,
            ..Pic::default()
        };
        let mut d = Devices {
            attached: true,
            pic: [pic(0x08, 0xb8), pic(0x70, 0x8e)],
            pit: Pit {
                ctrl: 0x34,
                flags: pit::FLAG_ARMED,
                ..Pit::default()
            },
            ..Devices::default()
        };
        d.refresh();
        d
    }

    /// The device at `port`, if one is attached there.
    pub fn at(&self, port: u16) -> Option<Dev> {
        if !self.attached {
            return None;
        }
        match port {
            UART_BASE..=0x3ff => Some(Dev::Uart),
            DEBUG_EXIT => Some(Dev::DebugExit),
            POST => Some(Dev::Post),
            0x20 | 0x21 | 0xa0 | 0xa1 => Some(Dev::Pic),
            pit::DATA | pit::CONTROL => Some(Dev::Pit),
            _ => None,
        }
    }

    /// The devices' clock at step `step` (see `pit`).
    pub fn clock(&self, step: u64) -> u64 {
        step.saturating_add(self.skew)
    }

    /// Recompute `due` from the timer's state.
    pub fn refresh(&mut self) {
        self.due = match self.pit.next_edge() {
            Some(c) if self.attached => c.saturating_sub(self.skew),
            _ => u64::MAX,
        };
    }

    /// A copy of the registers (not the UART's output) that port accesses work on.
    fn scratch(&self) -> Devices {
        Devices {
            uart: Uart {
                out: Vec::new(),
                ..self.uart
            },
            ..*self
        }
    }

    /// A read of `size` bytes (1, 2 or 4) at `port` during step `step`: the value (all
    /// ones for bytes no device answers), the changes the read makes (the timer's
    /// byte flip-flop and latch), and the device at the first port.
    pub fn read(&self, port: u16, size: usize, step: u64) -> (u64, Vec<DevChange>, Option<Dev>) {
        let mut v = 0u64;
        let mut scratch = self.scratch();
        let now = self.clock(step);
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = match scratch.at(p) {
                Some(Dev::Uart) => scratch.uart.read(p - UART_BASE),
                Some(Dev::Pic) => scratch.pic[(p >> 7) as usize].read(p & 1 != 0),
                Some(Dev::Pit) if p == pit::DATA => {
                    let (b, after) = scratch.pit.read(now);
                    scratch.pit = after;
                    b
                }
                _ => 0xff,
            };
            v |= (b as u64) << (8 * i);
        }
        (v, self.changes_to(&scratch), self.at(port))
    }

    /// The changes that make the registers of `self` those of `new` (not the UART's
    /// output or the exit status).
    fn changes_to(&self, new: &Devices) -> Vec<DevChange> {
        let mut out = Vec::new();
        for (reg, old, n) in self.uart_diff(&new.uart) {
            out.push(DevChange::Reg { reg, old, new: n });
        }
        for chip in 0..2 {
            for (reg, old, n) in self.pic[chip].diff(&new.pic[chip]) {
                out.push(DevChange::Pic {
                    chip: chip as u8,
                    reg,
                    old,
                    new: n,
                });
            }
        }
        for (reg, old, n) in self.pit.diff(&new.pit) {
            out.push(DevChange::Pit { reg, old, new: n });
        }
        let (o, n) = (&self.pit, &new.pit);
        out.extend(DevChange::time(TimeSlot::PitStart, o.start, n.start));
        out.extend(DevChange::time(TimeSlot::PitFired, o.fired, n.fired));
        out.extend(DevChange::time(TimeSlot::Skew, self.skew, new.skew));
        out
    }

    fn uart_diff(&self, new: &Uart) -> Vec<(UartReg, u8, u8)> {
        use UartReg as R;
        [R::Ier, R::Fcr, R::Lcr, R::Mcr, R::Scr, R::Dll, R::Dlm]
            .into_iter()
            .filter_map(|r| {
                let (o, n) = (self.uart.reg(r), new.reg(r));
                (o != n).then_some((r, o, n))
            })
            .collect()
    }

    /// The changes a write of `size` bytes of `value` at `port` during step `step`
    /// makes (each byte goes to its own port, as a wide OUT reaches consecutive 8-bit
    /// registers).
    pub fn write(
        &self,
        port: u16,
        size: usize,
        value: u64,
        step: u64,
    ) -> (Vec<DevChange>, Option<Dev>) {
        let mut changes = Vec::new();
        // Later bytes of a wide write see the registers the earlier ones set.
        let mut scratch = self.scratch();
        let now = self.clock(step);
        for i in 0..size {
            let p = port.wrapping_add(i as u16);
            let b = (value >> (8 * i)) as u8;
            let c = match scratch.at(p) {
                Some(Dev::Uart) => match scratch.uart.write(p - UART_BASE, b) {
                    Some(DevChange::Reg { reg, new, .. }) => {
                        *scratch.uart.reg_mut(reg) = new;
                        None
                    }
                    c => c,
                },
                // QEMU's device exits with (value << 1) | 1 of the whole access.
                Some(Dev::DebugExit) if i == 0 => {
                    let status = ((value as u32) << 1) | 1;
                    Some(DevChange::Exit {
                        old: scratch.exit,
                        new: Some(status),
                    })
                }
                Some(Dev::Pic) => {
                    let chip = (p >> 7) as usize;
                    scratch.pic[chip] = scratch.pic[chip].write(p & 1 != 0, b);
                    None
                }
                Some(Dev::Pit) => {
                    scratch.pit = scratch.pit.write(p == pit::CONTROL, b, now);
                    None
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
        changes.extend(self.changes_to(&scratch));
        (changes, self.at(port))
    }

    /// The timer's edges due by step `step` passed to the PIC: the changes (none if
    /// none is due).
    pub fn tick(&self, step: u64) -> Vec<DevChange> {
        if step < self.due {
            return Vec::new();
        }
        let mut after = self.scratch();
        after.pit = self.pit.fire(self.clock(step));
        after.pic[0].irr |= 1;
        self.changes_to(&after)
    }

    /// The IRQ (0-15) the 8259As ask the processor to take now, if any.
    #[inline]
    pub fn irq(&self) -> Option<u8> {
        if !self.attached {
            return None;
        }
        pic::pending(&self.pic)
    }

    /// The INTA cycle for the pending IRQ: the IRQ, its vector and the changes (IRR to
    /// ISR, on both chips for a slave's IRQ).
    pub fn acknowledge(&self) -> Option<(u8, u8, Vec<DevChange>)> {
        let irq = self.irq()?;
        let mut after = self.scratch();
        let vector = if irq >= 8 {
            after.pic[0] = self.pic[0].acknowledge(pic::CASCADE);
            after.pic[1] = self.pic[1].acknowledge(irq - 8);
            self.pic[1].base | (irq - 8)
        } else {
            after.pic[0] = self.pic[0].acknowledge(irq);
            self.pic[0].base | irq
        };
        Some((irq, vector, self.changes_to(&after)))
    }

    /// For a processor halted at step `step` with interrupts enabled: if the timer's
    /// next edge would be taken (IRQ 0 unmasked and not held off by an IRQ in
    /// service), the change that moves the clock forward to it, so that the edge is
    /// due at this step. None if nothing would wake the processor.
    pub fn skip_to_timer(&self, step: u64) -> Option<DevChange> {
        if self.due == u64::MAX || step >= self.due {
            return None;
        }
        let mut probe = self.pic;
        probe[0].irr |= 1;
        if pic::pending(&probe) != Some(0) {
            return None;
        }
        DevChange::time(
            TimeSlot::Skew,
            self.skew,
            self.skew.saturating_add(self.due - step),
        )
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
            DevChange::Pic {
                chip,
                reg,
                old,
                new,
            } => *self.pic[chip as usize & 1].reg_mut(reg) = if undo { old } else { new },
            DevChange::Pit { reg, old, new } => {
                self.pit.set_reg(reg, if undo { old } else { new });
                self.refresh();
            }
            DevChange::PitStart { .. } | DevChange::PitFired { .. } | DevChange::Skew { .. } => {
                if let Some((slot, old, new)) = c.time_parts() {
                    let v = unpack48(if undo { old } else { new });
                    match slot {
                        TimeSlot::PitStart => self.pit.start = v,
                        TimeSlot::PitFired => self.pit.fired = v,
                        TimeSlot::Skew => self.skew = v,
                    }
                    self.refresh();
                }
            }
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
        let regs: Vec<u64> = (0..8).map(|i| d.read(0x3f8 + i, 1, 0).0).collect();
        assert_eq!(regs, [0, 0, 1, 0, 0, 0x60, 0xb0, 0]);
        assert_eq!(d.read(0x64, 1, 0), (0xff, vec![], None));
        assert_eq!(Devices::default().read(0x3fd, 1, 0), (0xff, vec![], None));
    }

    #[test]
    fn thr_writes_append_and_undo_truncates() {
        let mut d = attached();
        for b in b"hi" {
            let (cs, dev) = d.write(0x3f8, 1, *b as u64, 0);
            assert_eq!(dev, Some(Dev::Uart));
            for c in &cs {
                d.apply(c, false);
            }
        }
        assert_eq!(d.uart.out, b"hi");
        let (cs, _) = d.write(0x3f8, 1, b'!' as u64, 0);
        d.apply(&cs[0], false);
        d.apply(&cs[0], true);
        assert_eq!(d.uart.out, b"hi");
    }

    #[test]
    fn dlab_selects_the_divisor_latch_and_debug_exit_records_the_status() {
        let mut d = attached();
        for (p, v) in [(0x3fb, 0x80), (0x3f8, 0x01), (0x3f9, 0x00), (0x3fb, 0x03)] {
            for c in d.write(p, 1, v, 0).0 {
                d.apply(&c, false);
            }
        }
        assert_eq!((d.uart.dll, d.uart.dlm, d.uart.lcr), (1, 0, 3));
        assert!(d.uart.out.is_empty());
        let (cs, dev) = d.write(0xf4, 1, 0x21, 0);
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

    fn run(d: &mut Devices, cs: Vec<DevChange>) {
        for c in cs {
            d.apply(&c, false);
        }
    }

    #[test]
    fn the_pic_and_pit_answer_at_their_ports_and_the_timer_raises_irq0() {
        let mut d = Devices::bios();
        assert_eq!(d.due, 0x10000);
        // Remap as Linux does; the init sequence clears IMR.
        for (p, v) in [
            (0x20, 0x11),
            (0x21, 0x20),
            (0x21, 4),
            (0x21, 1),
            (0x21, 0xfe),
        ] {
            let (cs, dev) = d.write(p, 1, v, 3);
            assert_eq!(dev, Some(Dev::Pic));
            run(&mut d, cs);
        }
        assert_eq!((d.pic[0].base, d.pic[0].imr), (0x20, 0xfe));
        // 100 ticks in mode 2 from step 10 (clock 10): edges at 110, 210...
        for (p, v) in [(0x43, 0x34), (0x40, 100), (0x40, 0)] {
            let (cs, dev) = d.write(p, 1, v, 10);
            assert_eq!(dev, Some(Dev::Pit));
            run(&mut d, cs);
        }
        assert_eq!(d.due, 110);
        assert!(d.tick(109).is_empty());
        assert_eq!(d.irq(), None);
        let cs = d.tick(110);
        let before = d.clone();
        run(&mut d, cs.clone());
        assert_eq!((d.irq(), d.due), (Some(0), 210));
        let (irq, vector, ack) = d.acknowledge().unwrap();
        assert_eq!((irq, vector), (0, 0x20));
        run(&mut d, ack.clone());
        assert_eq!((d.pic[0].irr, d.pic[0].isr, d.irq()), (0, 1, None));
        // Undone in reverse order, the state is the one before.
        for c in cs.iter().chain(ack.iter()).rev() {
            d.apply(c, true);
        }
        assert_eq!(d, before);
        // The counter read back after a latch command, at step 150 (40 ticks in).
        let latch = d.write(0x43, 1, 0x00, 150).0;
        run(&mut d, latch);
        let (lo, cs, _) = d.read(0x40, 1, 170);
        run(&mut d, cs);
        let (hi, cs, _) = d.read(0x40, 1, 171);
        run(&mut d, cs);
        assert_eq!((lo, hi), (60, 0));
        // A halted processor skips to the next edge.
        let skip = d.skip_to_timer(100).unwrap();
        run(&mut d, vec![skip]);
        assert_eq!((d.skew, d.due), (10, 100));
        assert_eq!(d.skip_to_timer(100), None);
        assert!(std::mem::size_of::<DevChange>() <= 16);
    }
}
