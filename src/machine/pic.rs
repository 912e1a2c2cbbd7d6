//! The two Intel 8259A programmable interrupt controllers of a PC/AT: the master at
//! ports 0x20/0x21 (IRQ 0-7), the slave at 0xa0/0xa1 (IRQ 8-15), whose INT output is
//! wired to the master's IR2 (the cascade). The register semantics follow the 8259A
//! datasheet (Intel order no. 231468), "Programming the 8259A":
//!
//! - ICW1 (a write to the command port with bit 4 set) starts initialisation: IMR, ISR
//!   and IRR are cleared, the status read selects IRR, and the next writes to the data
//!   port are ICW2 (the vector base: bits 7-3 of the vector, the IRQ's number within
//!   the chip in bits 2-0), ICW3 unless ICW1 said "single" (bit 1), and ICW4 if ICW1
//!   asked for it (bit 0). ICW4 bit 1 selects automatic EOI. ICW1 bit 3 (level
//!   triggered) is recorded but the model stays edge triggered, as QEMU's i8259 does.
//! - OCW1 (any other data port write) is the interrupt mask register, read back at the
//!   data port.
//! - OCW2 (command port, bits 4-3 = 00): 0x20 non-specific EOI clears the highest
//!   priority in-service bit; 0x60 | n specific EOI clears bit n. The rotation
//!   commands are not modelled: priority is fixed, IRQ 0 highest (as after ICW1); a
//!   rotating EOI acts as the EOI it contains.
//! - OCW3 (command port, bits 4-3 = 01): bits 1-0 = 10 selects IRR, 11 ISR for reads of
//!   the command port. Poll mode and special mask mode are not modelled.
//!
//! A request is latched in IRR on a rising edge of its input (edge triggered) whatever
//! the mask; the chip asks the processor for an interrupt when an unmasked IRR bit has
//! a higher priority than every in-service bit. The processor's INTA cycle moves the
//! bit from IRR to ISR (not with automatic EOI) and gives the vector base + the IRQ's
//! number; through the cascade, the master's IR2 is in service and the slave's vector
//! is given. Spurious interrupts (IRQ 7/15 when the request went away before INTA)
//! cannot happen here: requests are never withdrawn.

/// The master's command and data ports.
pub const MASTER: u16 = 0x20;
/// The slave's command and data ports.
pub const SLAVE: u16 = 0xa0;
/// The master's input that the slave drives.
pub const CASCADE: u8 = 2;

/// One 8259A's state (all of it: two chips compare with `==`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pic {
    pub irr: u8,
    pub isr: u8,
    pub imr: u8,
    /// ICW2: the vector of IRQ 0 of this chip (bits 2-0 clear).
    pub base: u8,
    /// Which initialisation word the data port expects next: 0 none (OCW1), 2, 3 or 4.
    pub init: u8,
    /// `FLAG_*` bits: what ICW1/ICW4/OCW3 chose.
    pub flags: u8,
}

/// ICW1 bit 0: an ICW4 follows.
pub const FLAG_ICW4: u8 = 1;
/// ICW1 bit 1: single, no ICW3.
pub const FLAG_SINGLE: u8 = 2;
/// ICW1 bit 3: level triggered (recorded only).
pub const FLAG_LEVEL: u8 = 4;
/// ICW4 bit 1: automatic EOI.
pub const FLAG_AEOI: u8 = 8;
/// OCW3: reads of the command port give ISR (clear: IRR).
pub const FLAG_READ_ISR: u8 = 16;

/// A register of a chip, for journal entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PicReg {
    Irr,
    Isr,
    Imr,
    Base,
    Init,
    Flags,
}

impl PicReg {
    pub fn name(self) -> &'static str {
        match self {
            PicReg::Irr => "irr",
            PicReg::Isr => "isr",
            PicReg::Imr => "imr",
            PicReg::Base => "base",
            PicReg::Init => "init",
            PicReg::Flags => "flags",
        }
    }
}

/// The highest-priority (lowest-numbered) set bit, if any.
fn highest(bits: u8) -> Option<u8> {
    (bits != 0).then(|| bits.trailing_zeros() as u8)
}

impl Pic {
    pub fn reg(&self, r: PicReg) -> u8 {
        match r {
            PicReg::Irr => self.irr,
            PicReg::Isr => self.isr,
            PicReg::Imr => self.imr,
            PicReg::Base => self.base,
            PicReg::Init => self.init,
            PicReg::Flags => self.flags,
        }
    }

    pub fn reg_mut(&mut self, r: PicReg) -> &mut u8 {
        match r {
            PicReg::Irr => &mut self.irr,
            PicReg::Isr => &mut self.isr,
            PicReg::Imr => &mut self.imr,
            PicReg::Base => &mut self.base,
            PicReg::Init => &mut self.init,
            PicReg::Flags => &mut self.flags,
        }
    }

    /// The IRQ (0-7) this chip would raise INT for now: the highest-priority unmasked
    /// request above every in-service level (fully nested mode).
    pub fn request(&self) -> Option<u8> {
        let irq = highest(self.irr & !self.imr)?;
        match highest(self.isr) {
            Some(s) if s <= irq => None,
            _ => Some(irq),
        }
    }

    /// A read of the command port (`data` false: IRR or ISR as OCW3 chose) or of the
    /// data port (the IMR).
    pub fn read(&self, data: bool) -> u8 {
        if data {
            self.imr
        } else if self.flags & FLAG_READ_ISR != 0 {
            self.isr
        } else {
            self.irr
        }
    }

    /// The chip after a write of `v` to its command port (`data` false) or data port.
    pub fn write(&self, data: bool, v: u8) -> Pic {
        let mut p = *self;
        if !data {
            if v & 0x10 != 0 {
                // ICW1: initialisation starts.
                let mut flags = 0;
                for (bit, f) in [(1, FLAG_ICW4), (2, FLAG_SINGLE), (8, FLAG_LEVEL)] {
                    if v & bit != 0 {
                        flags |= f;
                    }
                }
                return Pic {
                    irr: 0,
                    isr: 0,
                    imr: 0,
                    base: self.base,
                    init: 2,
                    flags,
                };
            }
            if v & 0x18 == 0x08 {
                // OCW3: bit 1 set chooses the register (bit 0) that reads give.
                if v & 2 != 0 {
                    p.flags =
                        (p.flags & !FLAG_READ_ISR) | if v & 1 != 0 { FLAG_READ_ISR } else { 0 };
                }
                return p;
            }
            // OCW2: bits 7-5 R, SL, EOI.
            match v >> 5 {
                // Non-specific EOI (and rotate on non-specific EOI).
                0b001 | 0b101 => {
                    if let Some(s) = highest(self.isr) {
                        p.isr &= !(1 << s);
                    }
                }
                // Specific EOI (and rotate on specific EOI).
                0b011 | 0b111 => p.isr &= !(1 << (v & 7)),
                _ => {}
            }
            return p;
        }
        match self.init {
            2 => {
                p.base = v & 0xf8;
                p.init = if self.flags & FLAG_SINGLE == 0 {
                    3
                } else if self.flags & FLAG_ICW4 != 0 {
                    4
                } else {
                    0
                };
            }
            // ICW3: the cascade wiring, fixed on a PC.
            3 => p.init = if self.flags & FLAG_ICW4 != 0 { 4 } else { 0 },
            4 => {
                p.flags = (p.flags & !FLAG_AEOI) | if v & 2 != 0 { FLAG_AEOI } else { 0 };
                p.init = 0;
            }
            _ => p.imr = v,
        }
        p
    }

    /// The chip after the processor's INTA for `irq`: IRR to ISR (not with automatic
    /// EOI).
    pub fn acknowledge(&self, irq: u8) -> Pic {
        let mut p = *self;
        p.irr &= !(1 << irq);
        if self.flags & FLAG_AEOI == 0 {
            p.isr |= 1 << irq;
        }
        p
    }

    /// The registers that differ between `self` and `new`, as (register, old, new).
    pub fn diff(&self, new: &Pic) -> impl Iterator<Item = (PicReg, u8, u8)> + '_ {
        let new = *new;
        [
            PicReg::Irr,
            PicReg::Isr,
            PicReg::Imr,
            PicReg::Base,
            PicReg::Init,
            PicReg::Flags,
        ]
        .into_iter()
        .filter_map(move |r| {
            let (o, n) = (self.reg(r), new.reg(r));
            (o != n).then_some((r, o, n))
        })
    }
}

/// Which IRQ (0-15) the pair would deliver now, if any: the master's request, or
/// through its IR2 the slave's.
pub fn pending(chips: &[Pic; 2]) -> Option<u8> {
    let mut master = chips[0];
    if chips[1].request().is_some() {
        master.irr |= 1 << CASCADE;
    }
    match master.request()? {
        CASCADE => chips[1].request().map(|i| i + 8).or(Some(CASCADE)),
        irq => Some(irq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(base: u8) -> Pic {
        [(false, 0x11), (true, base), (true, 4), (true, 1)]
            .into_iter()
            .fold(Pic::default(), |p, (d, v)| p.write(d, v))
    }

    #[test]
    fn the_init_sequence_sets_the_base_and_clears_the_mask() {
        let mut p = Pic {
            imr: 0xff,
            irr: 1,
            ..Pic::default()
        };
        p = p.write(false, 0x11);
        assert_eq!((p.init, p.imr, p.irr), (2, 0, 0));
        p = p.write(true, 0x20);
        assert_eq!((p.init, p.base), (3, 0x20));
        p = p.write(true, 0x04).write(true, 0x01);
        assert_eq!(p.init, 0);
        p = p.write(true, 0xfe);
        assert_eq!((p.imr, p.read(true)), (0xfe, 0xfe));
        // Single, no ICW4: ICW2 ends it.
        let s = Pic::default().write(false, 0x12).write(true, 0x70);
        assert_eq!((s.init, s.base), (0, 0x70));
    }

    #[test]
    fn priority_in_service_and_eoi() {
        let mut p = init(0x20);
        p.irr = 0b1001_0010;
        assert_eq!(p.request(), Some(1));
        p = p.acknowledge(1);
        assert_eq!((p.irr, p.isr), (0b1001_0000, 0b10));
        // IRQ 4 and 7 wait behind IRQ 1 in service; IRQ 0 would not.
        assert_eq!(p.request(), None);
        p.irr |= 1;
        assert_eq!(p.request(), Some(0));
        p.irr &= !1;
        // OCW3: read ISR, then IRR.
        assert_eq!(p.write(false, 0x0b).read(false), 0b10);
        assert_eq!(p.write(false, 0x0a).read(false), 0b1001_0000);
        p = p.write(false, 0x20);
        assert_eq!((p.isr, p.request()), (0, Some(4)));
        // A masked request stays in IRR.
        p.imr = 0x10;
        assert_eq!(p.request(), Some(7));
        p = p.acknowledge(7).write(false, 0x67);
        assert_eq!(p.isr, 0);
    }

    #[test]
    fn the_slave_goes_through_the_masters_ir2() {
        let mut chips = [init(0x20), init(0x28)];
        chips[1].irr = 1 << 4;
        assert_eq!(pending(&chips), Some(12));
        chips[0].imr = 1 << CASCADE;
        assert_eq!(pending(&chips), None);
        chips[0].imr = 0;
        chips[0].isr = 1;
        assert_eq!(pending(&chips), None, "IRQ 0 in service blocks the cascade");
    }
}
