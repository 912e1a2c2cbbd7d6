//! Writing trace records straight into a byte buffer: decimal and hex numbers, JSON
//! strings escaped exactly as serde_json escapes them, byte strings as hex. The step
//! records are written with these instead of building `serde_json::Value` maps.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The decimal digits of `v`, at the end of `buf`; returns where they start.
#[inline]
fn digits(buf: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    i
}

/// `v` in decimal.
#[inline]
pub fn dec(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let i = digits(&mut buf, v);
    out.extend_from_slice(&buf[i..]);
}

/// `v` in decimal, right-aligned in `width` columns (`format!("{v:>width$}")`).
pub fn dec_right(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [0u8; 20];
    let i = digits(&mut buf, v);
    out.resize(out.len() + width.saturating_sub(buf.len() - i), b' ');
    out.extend_from_slice(&buf[i..]);
}

/// `v` in lowercase hex without a prefix, at least `min` digits (zero-padded).
#[inline]
pub fn hex_digits(out: &mut Vec<u8>, v: u64, min: usize) {
    let digits = (16 - (v.leading_zeros() as usize) / 4).max(1).max(min);
    for k in (0..digits).rev() {
        let nibble = if k < 16 { (v >> (4 * k)) & 0xf } else { 0 };
        out.push(HEX[nibble as usize]);
    }
}

/// `v` as `format!("{v:#x}")` writes it: `0x` and lowercase hex.
#[inline]
pub fn hex0x(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(b"0x");
    hex_digits(out, v, 1);
}

/// Bytes as lowercase hex without separators ("0f34").
#[inline]
pub fn hex_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
}

/// Bytes as lowercase hex pairs separated by spaces ("0f 34").
pub fn hex_bytes_spaced(out: &mut Vec<u8>, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
}

/// A JSON string: quoted, with `"`, `\` and control characters escaped as serde_json
/// does (`\b \f \n \r \t`, others `\u00XX`); everything else, including non-ASCII text,
/// as it is.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A JSON boolean.
#[inline]
pub fn json_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `"key":` (the key must need no escaping).
#[inline]
pub fn key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `"key":` preceded by a comma.
#[inline]
pub fn next_key(out: &mut Vec<u8>, k: &str) {
    out.push(b',');
    key(out, k);
}

/// `s` left-aligned in `width` characters, as `format!("{s:<width$}")` does.
pub fn pad_right(out: &mut Vec<u8>, s: &str, width: usize) {
    out.extend_from_slice(s.as_bytes());
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    out.resize(out.len() + width.saturating_sub(n), b' ');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn numbers_match_format() {
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            255,
            4096,
            0xffff_ffff,
            u64::MAX,
            1 << 63,
        ] {
            assert_eq!(with(|o| dec(o, v)), v.to_string());
            assert_eq!(with(|o| dec_right(o, v, 5)), format!("{v:>5}"));
            assert_eq!(with(|o| hex0x(o, v)), format!("{v:#x}"));
            assert_eq!(with(|o| hex_digits(o, v, 4)), format!("{v:04x}"));
        }
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        let all: String = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain("é→`x`\u{2028}".chars())
            .collect();
        for s in [all.as_str(), "", "plain", "a\"b\\c", "\u{7f}\u{1f}"] {
            let expected = serde_json::to_string(s).unwrap_or_default();
            assert_eq!(with(|o| json_str(o, s)), expected, "{s:?}");
        }
    }

    #[test]
    fn padding_counts_characters() {
        for s in ["", "mov %eax,%ebx", "é→x", "a string longer than the width"] {
            assert_eq!(with(|o| pad_right(o, s, 12)), format!("{s:<12}"));
        }
    }
}
