//! Code padding as GNU as writes it (binutils gas/config/tc-i386.c, i386_generate_nops):
//! for `as --32` the i386 patterns (`lea` forms, at most 7 bytes, at most two of them before
//! jumping over the padding); for `as --64` the `nopw`/`nopl` patterns of up to 11 bytes,
//! at most seven before a jump.

const F32: [&[u8]; 7] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x8d, 0x76, 0x00],
    &[0x8d, 0x74, 0x26, 0x00],
    &[],
    &[0x8d, 0xb6, 0x00, 0x00, 0x00, 0x00],
    &[0x8d, 0xb4, 0x26, 0x00, 0x00, 0x00, 0x00],
];

const ALT: [&[u8]; 11] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[
        0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
];

/// `count` bytes of padding; `wide` selects the `as --64` patterns.
pub fn padding(count: usize, wide: bool) -> Vec<u8> {
    let patt: &[&[u8]] = if wide { &ALT } else { &F32 };
    let max_single = patt.len();
    let max_number = if wide { 7 } else { 2 };
    let mut out = Vec::with_capacity(count);
    let mut count = count;
    if count / max_single > max_number {
        let disp = count - 2;
        if disp <= 0x7f {
            out.extend_from_slice(&[0xeb, disp as u8]);
            count = disp;
        } else {
            count -= 5;
            out.push(0xe9);
            out.extend_from_slice(&(count as u32).to_le_bytes());
        }
    }
    let mut single = max_single;
    if patt[single - 1].is_empty() {
        single -= 1;
    }
    let last = count % single;
    for _ in 0..(count - last) / single {
        out.extend_from_slice(patt[single - 1]);
    }
    if last > 0 {
        if patt[last - 1].is_empty() {
            out.extend_from_slice(patt[last - 2]);
            out.push(0x90);
        } else {
            out.extend_from_slice(patt[last - 1]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: &[u8]) -> String {
        v.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_gnu_as() {
        assert_eq!(hex(&padding(5, false)), "8d74260090");
        assert_eq!(hex(&padding(12, false)), "8db426000000008d74260090");
        assert_eq!(hex(&padding(16, false)), "8db426000000008db426000000006690");
        assert_eq!(
            hex(&padding(30, false)),
            "eb1c8db426000000008db426000000008db426000000008db42600000000"
        );
        assert_eq!(hex(&padding(6, true)), "660f1f440000");
        assert_eq!(hex(&padding(16, true)), "66662e0f1f8400000000000f1f440000");
        assert_eq!(padding(63, true).len(), 63);
        assert_eq!(&padding(63, true)[..2], &[0x66, 0x66]);
        assert_eq!(&padding(300, true)[..1], &[0xe9]);
        assert_eq!(padding(300, true).len(), 300);
        assert_eq!(padding(0, true).len(), 0);
    }
}
