//! Kernel alternatives: the `.altinstructions` table of a kernel image or vDSO, and
//! patching one entry's replacement over the original instructions as the kernel does at
//! boot (Linux arch/x86/kernel/alternative.c, `apply_alternatives`).
//!
//! Each table entry is a packed `struct alt_instr` (arch/x86/include/asm/alternative.h)
//! whose layout changed over the years; the two offsets are relative to the field itself:
//!
//! | bytes | fields | kernels |
//! |---|---|---|
//! | 12 | s32 instr_offset, s32 repl_offset, u16 cpuid, u8 instrlen, u8 replacementlen | 3.x; later 5.x to 6.2 |
//! | 13 | the same plus u8 padlen | 4.x, early 5.x |
//! | 14 | s32, s32, u32 ft_flags (feature in bits 0-15, flags in 16-31), u8, u8 | later 6.x |
//!
//! The layout is found from the section: the one whose entry size divides the section size
//! and whose every entry points into loaded code and into `.altinstr_replacement`.

use iced_x86::{Decoder, DecoderOptions, Encoder, FlowControl};

use super::image::Image;
use super::LoadError;

/// A `struct alt_instr` layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// 12 bytes: u16 cpuid.
    Cpuid16,
    /// 13 bytes: u16 cpuid and u8 padlen.
    Padlen,
    /// 14 bytes: u32 ft_flags.
    FtFlags,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::Cpuid16, Layout::Padlen, Layout::FtFlags];

    pub fn entry_size(self) -> usize {
        match self {
            Layout::Cpuid16 => 12,
            Layout::Padlen => 13,
            Layout::FtFlags => 14,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Layout::Cpuid16 => "12-byte entries with a u16 feature (Linux 3.x; later 5.x to 6.2)",
            Layout::Padlen => {
                "13-byte entries with a u16 feature and padlen (Linux 4.x, early 5.x)"
            }
            Layout::FtFlags => "14-byte entries with u32 ft_flags (later Linux 6.x)",
        }
    }
}

/// Patching control flags in the upper half of ft_flags.
pub const ALT_FLAG_NOT: u16 = 1 << 0;
pub const ALT_FLAG_DIRECT_CALL: u16 = 1 << 1;

/// One table entry, with addresses resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alternative {
    /// 1-based, in table order (what `--alt N` and `list()` use).
    pub number: usize,
    /// The original instructions: address and length (padding included).
    pub instr: u64,
    pub instr_len: u8,
    /// The replacement in `.altinstr_replacement`.
    pub repl: u64,
    pub repl_len: u8,
    /// The CPU feature bit (word * 32 + bit of the kernel's cpufeatures.h).
    pub feature: u16,
    /// ALT_FLAG_* bits (only in the 14-byte layout).
    pub flags: u16,
}

impl Alternative {
    /// `X86_FEATURE_SYSENTER32 (3*32+15)`, or the word and bit for a feature not named here.
    pub fn feature_name(&self) -> String {
        let (w, b) = (self.feature / 32, self.feature % 32);
        match feature_name(self.feature) {
            Some(n) => format!("X86_FEATURE_{n} ({w}*32+{b})"),
            None => format!("feature {w}*32+{b}"),
        }
    }

    /// When the kernel applies it.
    pub fn condition(&self) -> String {
        let mut s = if self.flags & ALT_FLAG_NOT != 0 {
            format!("when the CPU lacks {}", self.feature_name())
        } else {
            format!("when the CPU has {}", self.feature_name())
        };
        if self.flags & ALT_FLAG_DIRECT_CALL != 0 {
            s.push_str(", a direct call");
        }
        s
    }
}

/// Features a vDSO's alternatives use (arch/x86/include/asm/cpufeatures.h).
const FEATURES: &[(u16, &str)] = &[
    (11, "SEP"),
    (32 + 11, "SYSCALL"),
    (3 * 32 + 14, "SYSCALL32"),
    (3 * 32 + 15, "SYSENTER32"),
];

pub fn feature_name(bit: u16) -> Option<&'static str> {
    FEATURES.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n)
}

/// The feature bit of a name such as `SYSENTER32` or `X86_FEATURE_SYSENTER32`.
pub fn feature_by_name(name: &str) -> Option<u16> {
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("X86_FEATURE_").unwrap_or(&n);
    FEATURES.iter().find(|(_, f)| *f == n).map(|(b, _)| *b)
}

/// The alternatives of an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alternatives {
    pub layout: Option<Layout>,
    entries: Vec<Alternative>,
    /// Why the table could not be read, when there is one and it could not.
    pub problem: Option<String>,
}

/// The patch one alternative makes: where, the bytes before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    pub addr: u64,
    pub before: Vec<u8>,
    pub after: Vec<u8>,
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0u64, |v, &x| (v << 8) | u64::from(x))
}

impl Alternatives {
    /// Read the `.altinstructions` bytes found at `addr`; `repl` is the address and size
    /// of `.altinstr_replacement`.
    pub fn parse(image: &Image, addr: u64, bytes: &[u8], repl: Option<(u64, u64)>) -> Alternatives {
        if bytes.is_empty() {
            return Alternatives::default();
        }
        let mut fits = Vec::new();
        for layout in Layout::ALL {
            if let Some(entries) = decode(image, addr, bytes, repl, layout) {
                fits.push((layout, entries));
            }
        }
        match fits.len() {
            1 => {
                let (layout, entries) = fits.remove(0);
                Alternatives {
                    layout: Some(layout),
                    entries,
                    problem: None,
                }
            }
            0 => Alternatives {
                problem: Some(format!(
                    ".altinstructions ({} bytes) matches no known struct alt_instr layout ({}): ringstep cannot apply its alternatives",
                    bytes.len(),
                    Layout::ALL.map(|l| l.describe()).join("; ")
                )),
                ..Alternatives::default()
            },
            _ => Alternatives {
                problem: Some(format!(
                    ".altinstructions ({} bytes) reads consistently as more than one struct alt_instr layout ({}): ringstep will not guess which",
                    bytes.len(),
                    fits.iter().map(|(l, _)| l.describe()).collect::<Vec<_>>().join("; ")
                )),
                ..Alternatives::default()
            },
        }
    }

    /// The entries, in table order.
    pub fn list(&self) -> &[Alternative] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn shift(&mut self, delta: u64) {
        for e in &mut self.entries {
            e.instr = e.instr.wrapping_add(delta);
            e.repl = e.repl.wrapping_add(delta);
        }
    }

    /// The numbers of the entries `spec` names: a number from `list()`, or a feature name
    /// (`SYSENTER32`, `X86_FEATURE_SYSCALL32`) for every entry with that feature.
    pub fn select(&self, spec: &str, origin: &str) -> Result<Vec<usize>, LoadError> {
        if let Some(p) = &self.problem {
            return Err(LoadError::new(origin, p.clone()));
        }
        if self.entries.is_empty() {
            return Err(LoadError::new(
                origin,
                format!("--alt {spec}: the file has no alternatives (no .altinstructions section)"),
            ));
        }
        if let Ok(n) = spec.trim().parse::<usize>() {
            return if (1..=self.entries.len()).contains(&n) {
                Ok(vec![n])
            } else {
                Err(LoadError::new(
                    origin,
                    format!(
                        "--alt {n}: the file has alternatives 1 to {}",
                        self.entries.len()
                    ),
                ))
            };
        }
        let names: Vec<String> = self.entries.iter().map(|e| e.feature_name()).collect();
        let chosen: Vec<usize> = match feature_by_name(spec) {
            Some(bit) => self
                .entries
                .iter()
                .filter(|e| e.feature == bit)
                .map(|e| e.number)
                .collect(),
            None => Vec::new(),
        };
        if chosen.is_empty() {
            return Err(LoadError::new(
                origin,
                format!(
                    "--alt {spec}: give an alternative's number (1 to {}) or the feature of one ({})",
                    self.entries.len(),
                    names.join(", ")
                ),
            ));
        }
        Ok(chosen)
    }

    /// Patch alternative `number` (1-based, as in `list()`) into `image`: its replacement
    /// is copied over the original instructions, relative jumps and calls (and RIP-relative
    /// operands) re-encoded for the new address, and the rest filled with NOPs.
    pub fn apply(&self, image: &mut Image, number: usize) -> Result<Patch, LoadError> {
        let origin = image.origin.clone();
        let a = number
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .ok_or_else(|| {
                LoadError::new(
                    &origin,
                    format!(
                        "alternative {number} does not exist (the file has {})",
                        self.entries.len()
                    ),
                )
            })?;
        let before = image
            .read(a.instr, a.instr_len as usize)
            .ok_or_else(|| {
                LoadError::new(
                    &origin,
                    format!(
                        "alternative {number}: its instructions at {:#x} are not loaded",
                        a.instr
                    ),
                )
            })?
            .to_vec();
        let repl = image
            .read(a.repl, a.repl_len as usize)
            .ok_or_else(|| {
                LoadError::new(
                    &origin,
                    format!(
                        "alternative {number}: its replacement at {:#x} is not loaded",
                        a.repl
                    ),
                )
            })?
            .to_vec();
        let mut after = relocate(&repl, a.repl, a.instr, image.bits)
            .map_err(|e| LoadError::new(&origin, format!("alternative {number}: {e}")))?;
        if after.len() > a.instr_len as usize {
            return Err(LoadError::new(
                &origin,
                format!(
                    "alternative {number}: the replacement needs {} bytes at its new address, but only {} are reserved",
                    after.len(),
                    a.instr_len
                ),
            ));
        }
        let pad = a.instr_len as usize - after.len();
        after.extend(nops(pad));
        if !image.write(a.instr, &after) {
            return Err(LoadError::new(
                &origin,
                format!("alternative {number}: cannot write at {:#x}", a.instr),
            ));
        }
        image.applied.push(number);
        Ok(Patch {
            addr: a.instr,
            before,
            after,
        })
    }
}

/// Decode the table with one layout; None if any entry does not make sense.
fn decode(
    image: &Image,
    addr: u64,
    bytes: &[u8],
    repl: Option<(u64, u64)>,
    layout: Layout,
) -> Option<Vec<Alternative>> {
    let size = layout.entry_size();
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    let mut out = Vec::new();
    for (i, e) in bytes.chunks_exact(size).enumerate() {
        let at = addr.wrapping_add((i * size) as u64);
        let rel = |off: usize| {
            let v = le(e, off, 4) as u32 as i32 as i64 as u64;
            at.wrapping_add(off as u64).wrapping_add(v)
        };
        let instr = rel(0);
        let repl_addr = rel(4);
        let (feature, flags, lens) = match layout {
            Layout::Cpuid16 | Layout::Padlen => (le(e, 8, 2) as u16, 0, 10),
            Layout::FtFlags => (le(e, 8, 2) as u16, le(e, 10, 2) as u16, 12),
        };
        let instr_len = e[lens];
        let repl_len = e[lens + 1];
        if layout == Layout::Padlen && e[12] > instr_len {
            return None;
        }
        // Sanity: feature words are few (NCAPINTS + bug words, well under 32 of them);
        // only the known flags; lengths as the kernel requires; addresses loaded.
        if feature >= 32 * 32
            || flags & !(ALT_FLAG_NOT | ALT_FLAG_DIRECT_CALL) != 0
            || instr_len == 0
            || repl_len > instr_len
            || !image.is_code(instr)
            || image.read(instr, instr_len as usize).is_none()
        {
            return None;
        }
        if repl_len > 0 {
            let (rb, rs) = repl?;
            if repl_addr < rb || repl_addr + u64::from(repl_len) > rb + rs {
                return None;
            }
        }
        out.push(Alternative {
            number: i + 1,
            instr,
            instr_len,
            repl: repl_addr,
            repl_len,
            feature,
            flags,
        });
    }
    Some(out)
}

/// The replacement's bytes as they must read at `to`.
fn relocate(bytes: &[u8], from: u64, to: u64, bits: u32) -> Result<Vec<u8>, String> {
    if from == to || bytes.is_empty() {
        return Ok(bytes.to_vec());
    }
    let end = from + bytes.len() as u64;
    let mut d = Decoder::with_ip(bits, bytes, from, DecoderOptions::NONE);
    let mut out = Vec::new();
    let mut enc = Encoder::new(bits);
    while d.can_decode() {
        let mut ins = d.decode();
        if ins.is_invalid() {
            return Err(format!(
                "the replacement does not decode at {:#x}",
                ins.ip()
            ));
        }
        let new_ip = to + (ins.ip() - from);
        let branch = matches!(
            ins.flow_control(),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch | FlowControl::Call
        ) && ins.near_branch_target() != 0;
        if branch {
            let t = ins.near_branch_target();
            // A jump inside the replacement moves with it.
            if (from..end).contains(&t) {
                ins.set_near_branch64(t - from + to);
            }
        }
        enc.encode(&ins, new_ip)
            .map_err(|e| format!("cannot re-encode `{ins}` for {new_ip:#x}: {e}"))?;
        out.extend(enc.take_buffer());
    }
    Ok(out)
}

/// `n` bytes of NOPs, longest first (the P6 long NOPs, 0f 1f /0, at most 8 bytes each).
pub fn nops(n: usize) -> Vec<u8> {
    const NOPS: [&[u8]; 8] = [
        &[0x90],
        &[0x66, 0x90],
        &[0x0f, 0x1f, 0x00],
        &[0x0f, 0x1f, 0x40, 0x00],
        &[0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
        &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    ];
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    while left > 0 {
        let k = left.min(8);
        out.extend_from_slice(NOPS[k - 1]);
        left -= k;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nop_fill_uses_the_longest_nops_first() {
        assert_eq!(nops(0), Vec::<u8>::new());
        assert_eq!(nops(1), [0x90]);
        assert_eq!(nops(3), [0x0f, 0x1f, 0x00]);
        let ten = nops(10);
        assert_eq!(ten.len(), 10);
        assert_eq!(&ten[..8], [0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0]);
        assert_eq!(&ten[8..], [0x66, 0x90]);
        // Each piece decodes as one NOP of its length.
        for n in 1..=8 {
            let b = nops(n);
            let mut d = Decoder::with_ip(32, &b, 0, DecoderOptions::NONE);
            let i = d.decode();
            assert_eq!(i.mnemonic(), iced_x86::Mnemonic::Nop, "{n}");
            assert_eq!(i.len(), n);
        }
    }

    #[test]
    fn feature_names() {
        assert_eq!(feature_by_name("sysenter32"), Some(3 * 32 + 15));
        assert_eq!(feature_by_name("X86_FEATURE_SYSCALL32"), Some(3 * 32 + 14));
        assert_eq!(feature_by_name("SEP"), Some(11));
        assert_eq!(feature_by_name("rdtscp"), None);
        let a = Alternative {
            number: 1,
            instr: 0,
            instr_len: 4,
            repl: 0,
            repl_len: 4,
            feature: 7 * 32 + 3,
            flags: ALT_FLAG_NOT,
        };
        assert_eq!(a.feature_name(), "feature 7*32+3");
        assert_eq!(a.condition(), "when the CPU lacks feature 7*32+3");
    }

    #[test]
    fn relative_calls_and_jumps_keep_their_targets_when_moved() {
        // call 0x2000 and jmp 0x2000, encoded at 0x1000 (e8 rel32; e9 rel32).
        let mut bytes = vec![0xe8];
        bytes.extend_from_slice(&(0x2000u32 - 0x1005).to_le_bytes());
        bytes.push(0xe9);
        bytes.extend_from_slice(&(0x2000u32 - 0x100a).to_le_bytes());
        let moved = relocate(&bytes, 0x1000, 0x1800, 32).unwrap();
        let mut d = Decoder::with_ip(32, &moved, 0x1800, DecoderOptions::NONE);
        assert_eq!(d.decode().near_branch_target(), 0x2000);
        assert_eq!(d.decode().near_branch_target(), 0x2000);
        // A jump inside the replacement moves with it: jmp +0 to the next instruction.
        let inner = [0xeb, 0x00, 0x90];
        let moved = relocate(&inner, 0x1000, 0x1800, 32).unwrap();
        let mut d = Decoder::with_ip(32, &moved, 0x1800, DecoderOptions::NONE);
        assert_eq!(d.decode().near_branch_target(), 0x1802);
        // Unchanged when not moved.
        assert_eq!(relocate(&bytes, 0x1000, 0x1000, 32).unwrap(), bytes);
    }
}
