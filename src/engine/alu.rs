//! Result and status-flag computation for the integer ALU (Intel SDM Vol. 1, appendix A
//! "EFLAGS Cross-Reference", and each instruction's "Flags Affected" section).
//!
//! Where the SDM leaves a flag undefined, the model picks one fixed rule (documented per
//! function) so runs are reproducible; the rules match QEMU's so the two can be compared.

use crate::machine::flags::{AF, CF, OF, PF, SF, ZF};

/// A result and the full set of six status flags it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alu {
    pub result: u64,
    pub flags: u64,
}

#[inline(always)]
fn bits(size: usize) -> u32 {
    (size * 8) as u32
}

#[inline(always)]
fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << bits(size)) - 1
    }
}

#[inline(always)]
fn msb(v: u64, size: usize) -> bool {
    (v >> (bits(size) - 1)) & 1 != 0
}

/// PF for every low byte: set when the byte has an even number of 1 bits.
const PARITY: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).count_ones().is_multiple_of(2);
        i += 1;
    }
    t
};

#[inline(always)]
fn parity(v: u64) -> bool {
    PARITY[(v & 0xff) as usize]
}

/// SF, ZF and PF of a result.
#[inline(always)]
pub fn szp(r: u64, size: usize) -> u64 {
    let r = r & mask(size);
    let mut f = 0;
    if msb(r, size) {
        f |= SF;
    }
    if r == 0 {
        f |= ZF;
    }
    if parity(r) {
        f |= PF;
    }
    f
}

/// ADD / ADC.
#[inline(always)]
pub fn add(a: u64, b: u64, carry: bool, size: usize) -> Alu {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let (r, carry_out) = if size >= 8 {
        let (s1, c1) = a.overflowing_add(b);
        let (s2, c2) = s1.overflowing_add(carry as u64);
        (s2, c1 || c2)
    } else {
        let wide = a + b + carry as u64;
        (wide & m, wide > m)
    };
    let mut f = szp(r, size);
    if carry_out {
        f |= CF;
    }
    if msb((a ^ r) & (b ^ r), size) {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    Alu {
        result: r,
        flags: f,
    }
}

/// SUB / SBB / CMP.
#[inline(always)]
pub fn sub(a: u64, b: u64, borrow: bool, size: usize) -> Alu {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b).wrapping_sub(borrow as u64) & m;
    let mut f = szp(r, size);
    if a < b || (borrow && a == b) {
        f |= CF;
    }
    if msb((a ^ b) & (a ^ r), size) {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    Alu {
        result: r,
        flags: f,
    }
}

/// AND / OR / XOR / TEST: CF and OF cleared; AF (undefined) cleared.
#[inline(always)]
pub fn logic(r: u64, size: usize) -> Alu {
    let r = r & mask(size);
    Alu {
        result: r,
        flags: szp(r, size),
    }
}

/// NEG: CF set unless the operand is 0; other flags as 0 - a.
pub fn neg(a: u64, size: usize) -> Alu {
    sub(0, a, false, size)
}

/// Which shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Shl,
    Shr,
    Sar,
}

/// SHL/SAL, SHR, SAR with an already-masked, non-zero count. OF is defined by the SDM
/// for a count of 1; for larger counts the model keeps the same formula (SHL: MSB(r) XOR
/// CF; SHR/SAR: MSB of the last two intermediate values differing). AF (undefined) is 0.
pub fn shift(kind: Shift, a: u64, count: u32, size: usize) -> Alu {
    let m = mask(size);
    let n = bits(size);
    let a = a & m;
    let (r, last) = match kind {
        Shift::Shl => {
            let wide = (a as u128) << count;
            let r = wide as u64 & m;
            let cf = (wide >> n) & 1 != 0;
            (r, cf)
        }
        Shift::Shr => {
            let r = if count >= 64 { 0 } else { a >> count };
            let cf = if count > 64 {
                false
            } else {
                (a >> (count - 1)) & 1 != 0
            };
            (r, cf)
        }
        Shift::Sar => {
            let signed = crate::machine::cpu::sign_extend(a, size) as i64;
            let r = (signed >> count.min(63)) as u64 & m;
            let cf = (signed >> (count - 1).min(63)) & 1 != 0;
            (r, cf)
        }
    };
    let mut f = szp(r, size);
    if last {
        f |= CF;
    }
    let of = match kind {
        Shift::Shl => msb(r, size) != last,
        Shift::Shr => {
            let before = if count > 64 { 0 } else { a >> (count - 1) };
            msb(before ^ r, size)
        }
        Shift::Sar => false,
    };
    if of {
        f |= OF;
    }
    Alu {
        result: r,
        flags: f,
    }
}

/// Signed multiply truncated to `size`: CF = OF = the product did not fit. SF, ZF and PF
/// (undefined) follow the truncated result; AF (undefined) is 0.
pub fn imul(a: u64, b: u64, size: usize) -> (Alu, u64) {
    let sa = crate::machine::cpu::sign_extend(a, size) as i64 as i128;
    let sb = crate::machine::cpu::sign_extend(b, size) as i64 as i128;
    let p = sa * sb;
    let m = mask(size);
    let low = p as u64 & m;
    let high = (p >> bits(size)) as u64 & m;
    let fits = crate::machine::cpu::sign_extend(low, size) as i64 as i128 == p;
    let mut f = szp(low, size);
    if !fits {
        f |= CF | OF;
    }
    (
        Alu {
            result: low,
            flags: f,
        },
        high,
    )
}

/// Unsigned multiply: CF = OF = the high half is not zero.
pub fn mul(a: u64, b: u64, size: usize) -> (Alu, u64) {
    let m = mask(size);
    let p = (a & m) as u128 * (b & m) as u128;
    let low = p as u64 & m;
    let high = (p >> bits(size)) as u64 & m;
    let mut f = szp(low, size);
    if high != 0 {
        f |= CF | OF;
    }
    (
        Alu {
            result: low,
            flags: f,
        },
        high,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags() {
        let r = add(0xffff_ffff, 1, false, 4);
        assert_eq!(r.result, 0);
        assert_eq!(r.flags, CF | ZF | PF | AF);
        let r = add(0x7f, 1, false, 1);
        assert_eq!(r.result, 0x80);
        assert_eq!(r.flags, OF | SF | AF);
    }

    #[test]
    fn sub_flags() {
        let r = sub(0, 1, false, 4);
        assert_eq!(r.result, 0xffff_ffff);
        assert_eq!(r.flags, CF | SF | PF | AF);
        let r = sub(0x8000_0000, 1, false, 4);
        assert_eq!(r.flags & OF, OF);
        let r = sub(5, 5, false, 2);
        assert_eq!(r.flags, ZF | PF);
    }

    #[test]
    fn shifts() {
        let r = shift(Shift::Shl, 0x80, 1, 1);
        assert_eq!((r.result, r.flags & (CF | OF | ZF)), (0, CF | OF | ZF));
        let r = shift(Shift::Shr, 0x81, 1, 1);
        assert_eq!((r.result, r.flags & (CF | OF)), (0x40, CF | OF));
        let r = shift(Shift::Sar, 0x80, 7, 1);
        assert_eq!((r.result, r.flags & (CF | OF)), (0xff, 0));
        let r = shift(Shift::Sar, 0x8000_0000, 31, 4);
        assert_eq!(r.result, 0xffff_ffff);
    }

    proptest::proptest! {
        /// The carry and overflow rules against arithmetic done in 128 bits.
        #[test]
        fn add_and_sub_match_wide_arithmetic(a: u64, b: u64, c: bool, size in proptest::sample::select(vec![1usize, 2, 4, 8])) {
            let m = mask(size) as u128;
            let bits = size as u32 * 8;
            let (wa, wb) = (a as u128 & m, b as u128 & m);
            let signed = |v: u128| ((v << (128 - bits)) as i128) >> (128 - bits);
            let r = add(a, b, c, size);
            let sum = wa + wb + c as u128;
            proptest::prop_assert_eq!(r.result as u128, sum & m);
            proptest::prop_assert_eq!(r.flags & CF != 0, sum > m);
            let ssum = signed(wa) + signed(wb) + c as i128;
            proptest::prop_assert_eq!(r.flags & OF != 0, ssum != signed(sum & m));
            let r = sub(a, b, c, size);
            let diff = wa.wrapping_sub(wb).wrapping_sub(c as u128) & m;
            proptest::prop_assert_eq!(r.result as u128, diff);
            proptest::prop_assert_eq!(r.flags & CF != 0, wa < wb + c as u128);
            let sdiff = signed(wa) - signed(wb) - c as i128;
            proptest::prop_assert_eq!(r.flags & OF != 0, sdiff != signed(diff));
        }
    }

    #[test]
    fn multiply() {
        let (r, hi) = imul(0xffff_ffff, 2, 4);
        assert_eq!(
            (r.result, hi, r.flags & (CF | OF)),
            (0xffff_fffe, 0xffff_ffff, 0)
        );
        let (r, _) = imul(0x4000_0000, 4, 4);
        assert_eq!(r.flags & (CF | OF), CF | OF);
        let (r, hi) = mul(0xffff_ffff, 2, 4);
        assert_eq!((r.result, hi, r.flags & CF), (0xffff_fffe, 1, CF));
    }
}
