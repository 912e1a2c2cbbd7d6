//! Channel 0 of the Intel 8254 programmable interval timer (ports 0x40-0x43), whose
//! output drives IRQ 0 on the master 8259A, after the 8254 datasheet (Intel order no.
//! 231164), "Operational Description":
//!
//! - The control word (port 0x43) selects the channel (bits 7-6; only channel 0 is
//!   modelled, control words for 1, 2 and the read-back command are ignored), the
//!   access (bits 5-4: 00 counter latch command, 01 low byte, 10 high byte, 11 low then
//!   high byte), the mode (bits 3-1) and BCD counting (bit 0; recorded, but the count
//!   is always binary). Writing it stops the count until a new count is written.
//! - The count (port 0x40) is written as the access says; 0 means 65536. It takes
//!   effect when complete (after the high byte in low/high access).
//! - Reads of port 0x40 give the counter (or the latched value, once, after a counter
//!   latch command) a byte at a time as the access says.
//! - Modes: 0 (interrupt on terminal count: OUT rises once, `count` ticks after the
//!   count is written), 2 (rate generator) and 3 (square wave): OUT rises every `count`
//!   ticks, first `count` ticks after the count is written; the counter reads
//!   count - (elapsed mod count) in mode 2 and decrements by two in mode 3 (exact for
//!   even counts), as QEMU's i8254 computes it. Modes 1 and 5 need a gate edge that
//!   channel 0 never gets (they never fire); mode 4 behaves as mode 0 here.
//!
//! Time is deterministic: the PIT's input clock ticks once per step of the engine (an
//! instruction, or the delivery of an external interrupt), plus the ticks a halted
//! processor skips while it waits for the timer (see `Devices::skew`). The times below
//! are those clock values; `start` is when the count was written and `fired` the last
//! rising edge passed to the PIC, so the state is plain data and every change to it is
//! journaled.

/// Channel 0's data port.
pub const DATA: u16 = 0x40;
/// The control word port.
pub const CONTROL: u16 = 0x43;

/// Channel 0 (all of its state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pit {
    /// The last control word for channel 0 (bits 5-0: access, mode, BCD).
    pub ctrl: u8,
    /// The count written (0 = 65536).
    pub count: u16,
    /// `FLAG_*` bits: the byte flip-flops, whether a count is counting.
    pub flags: u8,
    /// The low byte of a count being written in low/high access.
    pub low: u8,
    /// The value latched by a counter latch command (valid with FLAG_LATCHED).
    pub latch: u16,
    /// The clock when the count was written.
    pub start: u64,
    /// The clock of the last rising edge of OUT passed to the PIC (or `start`).
    pub fired: u64,
}

/// A count is loaded and counting.
pub const FLAG_ARMED: u8 = 1;
/// The next data write is the high byte (low/high access).
pub const FLAG_WRITE_HI: u8 = 2;
/// The next data read is the high byte (low/high access).
pub const FLAG_READ_HI: u8 = 4;
/// A latched value waits to be read.
pub const FLAG_LATCHED: u8 = 8;
/// Mode 0's single edge has been passed on.
pub const FLAG_DONE: u8 = 16;

/// A register of the channel, for journal entries (times are journaled apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PitReg {
    Ctrl,
    Count,
    Flags,
    Low,
    Latch,
}

impl PitReg {
    pub fn name(self) -> &'static str {
        match self {
            PitReg::Ctrl => "ctrl",
            PitReg::Count => "count",
            PitReg::Flags => "flags",
            PitReg::Low => "low",
            PitReg::Latch => "latch",
        }
    }
}

impl Pit {
    pub fn reg(&self, r: PitReg) -> u16 {
        match r {
            PitReg::Ctrl => self.ctrl as u16,
            PitReg::Count => self.count,
            PitReg::Flags => self.flags as u16,
            PitReg::Low => self.low as u16,
            PitReg::Latch => self.latch,
        }
    }

    pub fn set_reg(&mut self, r: PitReg, v: u16) {
        match r {
            PitReg::Ctrl => self.ctrl = v as u8,
            PitReg::Count => self.count = v,
            PitReg::Flags => self.flags = v as u8,
            PitReg::Low => self.low = v as u8,
            PitReg::Latch => self.latch = v,
        }
    }

    pub fn mode(&self) -> u8 {
        match (self.ctrl >> 1) & 7 {
            6 => 2,
            7 => 3,
            m => m,
        }
    }

    fn access(&self) -> u8 {
        (self.ctrl >> 4) & 3
    }

    /// The count as a number of ticks (0 is 65536).
    pub fn period(&self) -> u64 {
        if self.count == 0 {
            0x1_0000
        } else {
            self.count as u64
        }
    }

    /// The counter at clock `now`.
    pub fn counter(&self, now: u64) -> u16 {
        if self.flags & FLAG_ARMED == 0 {
            return self.count;
        }
        let n = self.period();
        let d = now.saturating_sub(self.start);
        let v = match self.mode() {
            2 => n - d % n,
            3 => n - (2 * d) % n,
            _ => n.wrapping_sub(d),
        };
        v as u16
    }

    /// The clock of the next rising edge of OUT after `fired`, if one is coming.
    pub fn next_edge(&self) -> Option<u64> {
        if self.flags & FLAG_ARMED == 0 {
            return None;
        }
        let n = self.period();
        match self.mode() {
            2 | 3 => Some(self.fired.saturating_add(n)),
            0 | 4 if self.flags & FLAG_DONE == 0 => Some(self.start.saturating_add(n)),
            _ => None,
        }
    }

    /// The channel once the edges up to clock `now` have been passed on (call when
    /// `next_edge() <= now`): several missed periods make one edge, as the PIC's IRR
    /// holds one request per line.
    pub fn fire(&self, now: u64) -> Pit {
        let mut p = *self;
        match self.mode() {
            2 | 3 => {
                let n = self.period();
                p.fired = self.start + (now.saturating_sub(self.start) / n) * n;
            }
            _ => {
                p.flags |= FLAG_DONE;
                p.fired = now;
            }
        }
        p
    }

    /// The channel after a write of `v` to the control port (`control`) or to channel
    /// 0's data port, at clock `now`.
    pub fn write(&self, control: bool, v: u8, now: u64) -> Pit {
        let mut p = *self;
        if control {
            if v >> 6 != 0 {
                return p;
            }
            if v & 0x30 == 0 {
                // Counter latch command: the first one holds until read.
                if self.flags & FLAG_LATCHED == 0 {
                    p.latch = self.counter(now);
                    p.flags |= FLAG_LATCHED;
                    p.flags &= !FLAG_READ_HI;
                }
                return p;
            }
            p.ctrl = v & 0x3f;
            p.flags = 0;
            return p;
        }
        let full = match self.access() {
            1 => Some(v as u16),
            2 => Some((v as u16) << 8),
            _ if self.flags & FLAG_WRITE_HI == 0 => {
                p.low = v;
                p.flags |= FLAG_WRITE_HI;
                None
            }
            _ => {
                p.flags &= !FLAG_WRITE_HI;
                Some((v as u16) << 8 | self.low as u16)
            }
        };
        if let Some(c) = full {
            p.count = c;
            p.start = now;
            p.fired = now;
            p.flags = (p.flags | FLAG_ARMED) & !FLAG_DONE;
        }
        p
    }

    /// A read of channel 0's data port at clock `now`: the byte and the channel after.
    pub fn read(&self, now: u64) -> (u8, Pit) {
        let mut p = *self;
        let latched = self.flags & FLAG_LATCHED != 0;
        let value = if latched {
            self.latch
        } else {
            self.counter(now)
        };
        let hi = match self.access() {
            2 => true,
            3 => self.flags & FLAG_READ_HI != 0,
            _ => false,
        };
        let last = match self.access() {
            3 => {
                p.flags ^= FLAG_READ_HI;
                hi
            }
            _ => true,
        };
        if latched && last {
            p.flags &= !FLAG_LATCHED;
        }
        let byte = if hi { value >> 8 } else { value };
        (byte as u8, p)
    }

    /// The registers that differ between `self` and `new`, as (register, old, new).
    pub fn diff(&self, new: &Pit) -> impl Iterator<Item = (PitReg, u16, u16)> + '_ {
        let new = *new;
        [
            PitReg::Ctrl,
            PitReg::Count,
            PitReg::Flags,
            PitReg::Low,
            PitReg::Latch,
        ]
        .into_iter()
        .filter_map(move |r| {
            let (o, n) = (self.reg(r), new.reg(r));
            (o != n).then_some((r, o, n))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(ctrl: u8, count: u16, now: u64) -> Pit {
        Pit::default()
            .write(true, ctrl, now)
            .write(false, count as u8, now)
            .write(false, (count >> 8) as u8, now)
    }

    #[test]
    fn mode_2_fires_every_count_ticks_and_counts_down() {
        let p = program(0x34, 1000, 50);
        assert_eq!((p.mode(), p.count, p.start), (2, 1000, 50));
        assert_eq!(p.next_edge(), Some(1050));
        assert_eq!(p.counter(50), 1000);
        assert_eq!(p.counter(51), 999);
        assert_eq!(p.counter(1049), 1);
        assert_eq!(p.counter(1050), 1000);
        let q = p.fire(1050);
        assert_eq!(q.next_edge(), Some(2050));
        // Missed periods make one edge.
        assert_eq!(p.fire(3070).next_edge(), Some(4050));
    }

    #[test]
    fn mode_0_fires_once_and_mode_3_counts_by_two() {
        let p = program(0x30, 10, 0);
        assert_eq!(p.next_edge(), Some(10));
        assert_eq!(p.fire(10).next_edge(), None);
        assert_eq!(p.counter(12), 0xfffe);
        let sq = program(0x36, 100, 0);
        assert_eq!(sq.mode(), 3);
        assert_eq!(
            (sq.counter(1), sq.counter(49), sq.counter(50)),
            (98, 2, 100)
        );
        assert_eq!(sq.next_edge(), Some(100));
        // A control word alone stops the count.
        assert_eq!(sq.write(true, 0x36, 5).next_edge(), None);
    }

    #[test]
    fn the_latch_holds_the_count_until_both_bytes_are_read() {
        let p = program(0x34, 0x1234, 0).write(true, 0x00, 0x34);
        assert_eq!(p.latch, 0x1200);
        let (lo, p) = p.read(0x100);
        let (hi, p) = p.read(0x101);
        assert_eq!((lo, hi), (0x00, 0x12));
        let (lo, p) = p.read(0x134);
        let (hi, _) = p.read(0x134);
        assert_eq!((lo, hi), (0x00, 0x11), "the live count, 0x1234 - 0x134");
        // Low byte only access, count 0 = 65536.
        let lo_only = Pit::default().write(true, 0x14, 0).write(false, 0, 0);
        assert_eq!(lo_only.period(), 0x10000);
        assert_eq!(lo_only.read(1).0, 0xff);
    }
}
