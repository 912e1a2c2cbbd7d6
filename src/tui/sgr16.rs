//! A writer for terminals with only the 16 basic colours: crossterm writes every colour
//! as a 256-colour escape (`ESC[38;5;Nm`), which such terminals do not understand; this
//! adaptor rewrites those with N below 16 to the classic codes (30-37, 90-97, 40-47,
//! 100-107). The screen was already lowered to the 16 colours (src/tui/degrade.rs).

use std::io::{self, Write};

pub struct Sgr16<W: Write> {
    inner: W,
    on: bool,
    /// An escape sequence begun but not yet ended.
    pending: Vec<u8>,
}

impl<W: Write> Sgr16<W> {
    /// Rewrites when `on`, else passes everything through.
    pub fn new(inner: W, on: bool) -> Sgr16<W> {
        Sgr16 {
            inner,
            on,
            pending: Vec::new(),
        }
    }
}

/// The classic code for colour `n` (< 16) in the foreground or background.
fn classic(background: bool, n: u8) -> String {
    let base = match (background, n < 8) {
        (false, true) => 30,
        (false, false) => 90 - 8,
        (true, true) => 40,
        (true, false) => 100 - 8,
    };
    (base + n as u32).to_string()
}

/// A complete escape sequence with its 256-colour parameters rewritten.
fn rewrite(seq: &[u8]) -> Vec<u8> {
    let (Some(b'm'), Ok(text)) = (seq.last(), std::str::from_utf8(seq)) else {
        return seq.to_vec();
    };
    let params: Vec<&str> = text[2..text.len() - 1].split(';').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < params.len() {
        let p = params[i];
        let n = params.get(i + 2).and_then(|v| v.parse::<u8>().ok());
        match (p, params.get(i + 1), n) {
            ("38" | "48", Some(&"5"), Some(n)) if n < 16 => {
                out.push(classic(p == "48", n));
                i += 3;
            }
            _ => {
                out.push(p.to_string());
                i += 1;
            }
        }
    }
    format!("\x1b[{}m", out.join(";")).into_bytes()
}

impl<W: Write> Write for Sgr16<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.on {
            return self.inner.write(buf);
        }
        let mut out = Vec::with_capacity(buf.len() + 8);
        for &b in buf {
            if self.pending.is_empty() {
                if b == 0x1b {
                    self.pending.push(b);
                } else {
                    out.push(b);
                }
                continue;
            }
            self.pending.push(b);
            let n = self.pending.len();
            if n == 2 && b != b'[' {
                out.append(&mut self.pending);
            } else if n > 2 && (0x40..=0x7e).contains(&b) {
                out.extend(rewrite(&std::mem::take(&mut self.pending)));
            } else if n > 64 {
                out.append(&mut self.pending);
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(on: bool, parts: &[&str]) -> String {
        let mut w = Sgr16::new(Vec::new(), on);
        for p in parts {
            w.write_all(p.as_bytes()).unwrap();
        }
        String::from_utf8(w.inner).unwrap()
    }

    #[test]
    fn colour_escapes_become_the_classic_codes() {
        let s = through(
            true,
            &["a\x1b[38;5;1mb\x1b[48;5;12mc\x1b[1;38;5;15;48;5;0md"],
        );
        assert_eq!(s, "a\x1b[31mb\x1b[104mc\x1b[1;97;40md");
        // Split across writes, and other sequences untouched.
        let s = through(true, &["\x1b[38;", "5;3mx\x1b[2J\x1b[10;5H", "\x1b[39m"]);
        assert_eq!(s, "\x1b[33mx\x1b[2J\x1b[10;5H\x1b[39m");
        assert_eq!(through(false, &["\x1b[38;5;1m"]), "\x1b[38;5;1m");
    }
}
