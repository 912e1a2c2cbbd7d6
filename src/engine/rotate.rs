//! Rotates and double shifts: ROL ROR RCL RCR SHLD SHRD (Intel SDM Vol. 2B, "RCL/RCR/
//! ROL/ROR—Rotate" and "SHLD"/"SHRD", each page's "Operation" and "Flags Affected").
//!
//! The count is masked to 5 bits (6 with a 64-bit operand). A masked count of 0 changes
//! no flag; a 32-bit register destination is still written, clearing bits 63:32 in
//! 64-bit mode, as `arith` does for SHL/SHR/SAR.
//!
//! Model choices where the SDM leaves a flag undefined:
//! - OF for counts other than 1 keeps the count-1 formula: ROL/RCL `MSB(r) XOR CF`,
//!   ROR/RCR `MSB(r) XOR MSB-1(r)`, SHLD/SHRD "the sign changed" (as QEMU computes it).
//! - SHLD/SHRD clear AF. A 16-bit SHLD/SHRD with a count above 16 (destination and
//!   flags undefined) shifts through the 48-bit value dest:src:dest, as Intel processors
//!   are observed to do; CF is the last bit shifted out of that value.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::alu;
use super::ctx::Ctx;
use super::fault::Exception;
use super::operand;
use super::Flow;
use crate::machine::cpu::mask;
use crate::machine::flags::{AF, CF, OF, PF, SF, ZF};

pub fn exec(ctx: &mut Ctx, i: &Instruction) -> Result<Flow, Exception> {
    let size = operand::size(i, 0);
    let dst = operand::read(ctx, i, 0)?;
    let count_op = if matches!(i.mnemonic(), Mnemonic::Shld | Mnemonic::Shrd) {
        2
    } else {
        1
    };
    let raw = if i.op_count() > count_op {
        operand::read(ctx, i, count_op)?
    } else {
        1
    };
    let count = (raw as u32) & if size == 8 { 0x3f } else { 0x1f };
    if count == 0 {
        if size == 4 && i.op0_kind() == OpKind::Register && ctx.is_long64() {
            operand::write(ctx, i, 0, dst)?;
        }
        return Ok(Flow::Next);
    }
    let (result, flags, written) = match i.mnemonic() {
        Mnemonic::Rol => rol(dst, count, size),
        Mnemonic::Ror => ror(dst, count, size),
        Mnemonic::Rcl => rcl(dst, count, size, ctx.flag(CF)),
        Mnemonic::Rcr => rcr(dst, count, size, ctx.flag(CF)),
        Mnemonic::Shld => shld(dst, operand::read(ctx, i, 1)?, count, size),
        Mnemonic::Shrd => shrd(dst, operand::read(ctx, i, 1)?, count, size),
        _ => return Ok(Flow::Unsupported),
    };
    operand::write(ctx, i, 0, result)?;
    ctx.update_flags(written, flags);
    Ok(Flow::Next)
}

fn bits(size: usize) -> u32 {
    size as u32 * 8
}

fn msb(v: u64, size: usize) -> bool {
    (v >> (bits(size) - 1)) & 1 != 0
}

/// OF and CF as ROL/RCL define them (OF = MSB(result) XOR CF).
fn left_flags(r: u64, cf: bool, size: usize) -> u64 {
    (if cf { CF } else { 0 }) | (if msb(r, size) != cf { OF } else { 0 })
}

/// OF and CF as ROR/RCR define them (OF = the two most significant bits differ).
fn right_flags(r: u64, cf: bool, size: usize) -> u64 {
    let of = msb(r, size) != msb(r << 1, size);
    (if cf { CF } else { 0 }) | (if of { OF } else { 0 })
}

/// ROL: CF = LSB of the result (also for a count that is a multiple of the size).
pub fn rol(a: u64, count: u32, size: usize) -> (u64, u64, u64) {
    let n = bits(size);
    let a = mask(a, size);
    let c = count % n;
    let r = if c == 0 {
        a
    } else {
        mask(a << c | a >> (n - c), size)
    };
    (r, left_flags(r, r & 1 != 0, size), CF | OF)
}

/// ROR: CF = MSB of the result.
pub fn ror(a: u64, count: u32, size: usize) -> (u64, u64, u64) {
    let n = bits(size);
    let a = mask(a, size);
    let c = count % n;
    let r = if c == 0 {
        a
    } else {
        mask(a >> c | a << (n - c), size)
    };
    (r, right_flags(r, msb(r, size), size), CF | OF)
}

/// RCL: rotate the (size + 1)-bit value CF:dest left by count MOD (size + 1).
pub fn rcl(a: u64, count: u32, size: usize, cf: bool) -> (u64, u64, u64) {
    let (r, cf) = through_carry(a, count, size, cf, true);
    (r, left_flags(r, cf, size), CF | OF)
}

/// RCR: rotate the (size + 1)-bit value CF:dest right by count MOD (size + 1).
pub fn rcr(a: u64, count: u32, size: usize, cf: bool) -> (u64, u64, u64) {
    let (r, cf) = through_carry(a, count, size, cf, false);
    (r, right_flags(r, cf, size), CF | OF)
}

/// The rotation of CF:dest shared by RCL and RCR: the new destination and CF.
fn through_carry(a: u64, count: u32, size: usize, cf: bool, left: bool) -> (u64, bool) {
    let n = bits(size) + 1;
    let wide = (cf as u128) << (n - 1) | mask(a, size) as u128;
    let c = count % n;
    let all = (1u128 << n) - 1;
    let rot = match (c, left) {
        (0, _) => wide,
        (_, true) => (wide << c | wide >> (n - c)) & all,
        (_, false) => (wide >> c | wide << (n - c)) & all,
    };
    (rot as u64 & mask(u64::MAX, size), (rot >> (n - 1)) & 1 != 0)
}

/// SF, ZF, PF of the result, CF, OF = the sign changed, AF cleared.
fn double_flags(a: u64, r: u64, cf: bool, size: usize) -> (u64, u64, u64) {
    let mut f = alu::szp(r, size);
    if cf {
        f |= CF;
    }
    if msb(a ^ r, size) {
        f |= OF;
    }
    (r, f, CF | OF | SF | ZF | PF | AF)
}

/// SHLD: dest shifted left, filled from the high bits of src.
pub fn shld(a: u64, b: u64, count: u32, size: usize) -> (u64, u64, u64) {
    let (a, b) = (mask(a, size), mask(b, size));
    let n = bits(size);
    // dest:src (and dest again for a 16-bit count above 16), most significant first.
    let (wide, width) = if size == 2 {
        ((a as u128) << 32 | (b as u128) << 16 | a as u128, 48)
    } else {
        ((a as u128) << n | b as u128, 2 * n)
    };
    let r = mask((wide >> (width - n - count)) as u64, size);
    let cf = (wide >> (width - count)) & 1 != 0;
    double_flags(a, r, cf, size)
}

/// SHRD: dest shifted right, filled from the low bits of src.
pub fn shrd(a: u64, b: u64, count: u32, size: usize) -> (u64, u64, u64) {
    let (a, b) = (mask(a, size), mask(b, size));
    let n = bits(size);
    // src:dest (dest again above src for a 16-bit count above 16), least significant dest.
    let wide = if size == 2 {
        (a as u128) << 32 | (b as u128) << 16 | a as u128
    } else {
        (b as u128) << n | a as u128
    };
    let r = mask((wide >> count) as u64, size);
    let cf = (wide >> (count - 1)) & 1 != 0;
    double_flags(a, r, cf, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_one() {
        assert_eq!(rol(0x80, 1, 1), (0x01, CF | OF, CF | OF));
        assert_eq!(rol(0x40, 1, 1), (0x80, OF, CF | OF));
        assert_eq!(ror(0x01, 1, 1), (0x80, CF | OF, CF | OF));
        assert_eq!(rcl(0x80, 1, 1, false), (0x00, CF | OF, CF | OF));
        assert_eq!(rcr(0x01, 1, 1, true), (0x80, CF | OF, CF | OF));
        assert_eq!(rcr(0x01, 1, 1, false), (0x00, CF, CF | OF));
    }

    #[test]
    fn rcl_through_carry_is_a_size_plus_one_rotate() {
        // 9 bits: rotating by 9 gives the value back.
        assert_eq!(rcl(0x5a, 9, 1, true).0, 0x5a);
        assert_eq!(rcr(0x5a, 9, 1, true).0, 0x5a);
        // 17 bits for words; 0x8000 with CF=0 rotated left 1 -> 0, CF=1.
        assert_eq!(rcl(0x8000, 1, 2, false).0, 0);
        // 64-bit: rotate by 63 through carry.
        let (r, f, _) = rcl(1, 63, 8, false);
        assert_eq!((r, f & CF), (1 << 63, 0));
    }

    /// The SDM's Operation sections, bit by bit: (result, CF) of each rotate.
    fn sdm_rotate(kind: u8, a: u64, count: u32, size: usize, cf: bool) -> (u64, bool) {
        let n = bits(size);
        let temp = match (kind, size) {
            (2 | 3, 1) => count % 9,
            (2 | 3, 2) => count % 17,
            (0 | 1, _) => count % n,
            _ => count,
        };
        let (mut d, mut c) = (mask(a, size), cf);
        for _ in 0..temp {
            match kind {
                0 => d = mask(d << 1, size) | d >> (n - 1),
                1 => d = d >> 1 | (d & 1) << (n - 1),
                2 => {
                    let t = msb(d, size);
                    d = mask(d << 1, size) | c as u64;
                    c = t;
                }
                _ => {
                    let t = d & 1 != 0;
                    d = d >> 1 | (c as u64) << (n - 1);
                    c = t;
                }
            }
        }
        match kind {
            0 => (d, d & 1 != 0),
            1 => (d, msb(d, size)),
            _ => (d, c),
        }
    }

    proptest::proptest! {
        #[test]
        fn rotates_match_the_sdm_loops(a: u64, raw in 1u32..64, cf: bool, kind in 0u8..4,
                                       size in proptest::sample::select(vec![1usize, 2, 4, 8])) {
            let count = raw & if size == 8 { 0x3f } else { 0x1f };
            proptest::prop_assume!(count != 0);
            let (r, f, _) = match kind {
                0 => rol(a, count, size),
                1 => ror(a, count, size),
                2 => rcl(a, count, size, cf),
                _ => rcr(a, count, size, cf),
            };
            let (want, want_cf) = sdm_rotate(kind, a, count, size, cf);
            proptest::prop_assert_eq!((r, f & CF != 0), (want, want_cf));
            if count == 1 {
                // The SDM defines OF for a count of 1 only; RCR computes it before rotating.
                let of = match kind {
                    0 | 2 => msb(want, size) != want_cf,
                    1 => msb(want, size) != msb(want << 1, size),
                    _ => msb(a, size) != cf,
                };
                proptest::prop_assert_eq!(f & OF != 0, of);
            }
        }

        /// SHLD/SHRD against the SDM's bit loops, for counts up to the operand size.
        #[test]
        fn double_shifts_match_the_sdm_loops(a: u64, b: u64, raw in 1u32..64,
                                             size in proptest::sample::select(vec![2usize, 4, 8])) {
            let n = bits(size);
            let count = raw % n + 1;
            proptest::prop_assume!(count < n);
            let (a, b) = (mask(a, size), mask(b, size));
            let bit = |v: u64, i: u32| (v >> i) & 1;
            let (mut l, mut r) = (0u64, 0u64);
            for i in (count..n).rev() {
                l |= bit(a, i - count) << i;
            }
            for i in (0..count).rev() {
                l |= bit(b, i + n - count) << i;
            }
            for i in 0..n - count {
                r |= bit(a, i + count) << i;
            }
            for i in n - count..n {
                r |= bit(b, i + count - n) << i;
            }
            let (got_l, fl, _) = shld(a, b, count, size);
            let (got_r, fr, _) = shrd(a, b, count, size);
            proptest::prop_assert_eq!((got_l, fl & CF), (l, bit(a, n - count)));
            proptest::prop_assert_eq!((got_r, fr & CF), (r, bit(a, count - 1)));
        }
    }

    #[test]
    fn double_shifts() {
        let (r, f, _) = shld(0x1234_5678, 0x9abc_def0, 8, 4);
        assert_eq!((r, f & CF), (0x3456_789a, 0));
        let (r, f, _) = shrd(0x1234_5678, 0x9abc_def0, 8, 4);
        assert_eq!((r, f & CF), (0xf012_3456, 0));
        let (r, f, _) = shrd(0x1, 0x0, 1, 8);
        assert_eq!((r, f & (CF | ZF)), (0, CF | ZF));
        // 16 bits, count 20: through dest:src:dest.
        let (r, _, _) = shld(0x1234, 0xabcd, 20, 2);
        assert_eq!(r, 0xbcd1);
        let (r, _, _) = shrd(0x1234, 0xabcd, 20, 2);
        assert_eq!(r, 0x4abc);
    }
}
