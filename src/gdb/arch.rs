//! ringstep's own gdbstub architectures, `I386` and `Amd64`: gdb's core register set
//! (general registers, instruction pointer, flags, the six selectors, the x87 block),
//! its SSE set, the segment bases fs_base and gs_base, and the system registers
//! (k_gs_base and cr8 on amd64 only; cr0, cr2, cr3, cr4, efer). gdbstub_arch's x86
//! architectures stop at the SSE set.
//! One table per architecture (`tdesc::layout`) gives every register its number, width
//! and source; the register packets (`g`/`G`), the single-register packets (`p`/`P`)
//! and the target description XML all come from it, so their numbering cannot differ.

use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use gdbstub::arch::{Arch, RegId, Registers};

use super::tdesc::{self, RegDef};

/// An architecture's register table and target description.
pub trait Layout: 'static {
    /// The width of addresses and the program counter.
    type Word: num_traits::PrimInt + num_traits::Unsigned;
    /// The registers in gdb's numbering (the index is the register number).
    fn defs() -> &'static [RegDef];
    /// The target description XML gdb reads with `qXfer:features:read`.
    fn xml() -> &'static str;
    /// The number of the instruction pointer.
    const PC: usize;
    /// `v` as an address of this width (truncated).
    fn usize(v: u64) -> Self::Word;
}

/// IA-32: eax..edi, eip, eflags, selectors, x87, xmm0-7, mxcsr, fs_base, gs_base, cr0,
/// cr2, cr3, cr4, efer (32 bits wide each, as gdb's i386 descriptions have them).
pub enum I386 {}

/// amd64: rax..r15, rip, eflags, selectors, x87, xmm0-15, mxcsr, fs_base, gs_base,
/// k_gs_base, cr0, cr2, cr3, cr4, cr8, efer.
pub enum Amd64 {}

static DEFS32: OnceLock<Vec<RegDef>> = OnceLock::new();
static DEFS64: OnceLock<Vec<RegDef>> = OnceLock::new();
static XML32: OnceLock<String> = OnceLock::new();
static XML64: OnceLock<String> = OnceLock::new();

impl Layout for I386 {
    type Word = u32;
    const PC: usize = 8;
    fn defs() -> &'static [RegDef] {
        DEFS32.get_or_init(|| tdesc::layout(false))
    }
    fn xml() -> &'static str {
        XML32.get_or_init(|| tdesc::xml(false, Self::defs()))
    }
    fn usize(v: u64) -> u32 {
        v as u32
    }
}

impl Layout for Amd64 {
    type Word = u64;
    const PC: usize = 16;
    fn defs() -> &'static [RegDef] {
        DEFS64.get_or_init(|| tdesc::layout(true))
    }
    fn xml() -> &'static str {
        XML64.get_or_init(|| tdesc::xml(true, Self::defs()))
    }
    fn usize(v: u64) -> u64 {
        v
    }
}

/// The whole register file in `L`'s numbering: one value per register (x87 and xmm
/// registers, which ringstep does not model, are zero and sent zero-extended).
pub struct Regs<L> {
    pub vals: Vec<u64>,
    layout: PhantomData<L>,
}

impl<L: Layout> Regs<L> {
    pub fn new(vals: Vec<u64>) -> Self {
        Regs {
            vals,
            layout: PhantomData,
        }
    }
}

impl<L: Layout> Default for Regs<L> {
    fn default() -> Self {
        Regs::new(vec![0; L::defs().len()])
    }
}

impl<L> Clone for Regs<L> {
    fn clone(&self) -> Self {
        Regs {
            vals: self.vals.clone(),
            layout: PhantomData,
        }
    }
}

impl<L> PartialEq for Regs<L> {
    fn eq(&self, other: &Self) -> bool {
        self.vals == other.vals
    }
}

impl<L> fmt::Debug for Regs<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.vals.iter()).finish()
    }
}

/// `value`'s bytes as register `def` carries them: little-endian, `def.bytes()` long
/// (wider than 64 bits: zero-extended).
pub fn encode(def: &RegDef, value: u64, mut out: impl FnMut(u8)) {
    let bytes = value.to_le_bytes();
    for i in 0..def.bytes() {
        out(bytes.get(i).copied().unwrap_or(0));
    }
}

/// The value of register `def` in `bytes` (its low 64 bits; None if too short).
pub fn decode(def: &RegDef, bytes: &[u8]) -> Option<u64> {
    let raw = bytes.get(..def.bytes())?;
    let mut v = [0u8; 8];
    for (d, s) in v.iter_mut().zip(raw) {
        *d = *s;
    }
    Some(u64::from_le_bytes(v))
}

impl<L: Layout> Registers for Regs<L> {
    type ProgramCounter = L::Word;

    fn pc(&self) -> L::Word {
        L::usize(self.vals.get(L::PC).copied().unwrap_or(0))
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for (def, v) in L::defs().iter().zip(&self.vals) {
            encode(def, *v, |b| write_byte(Some(b)));
        }
    }

    fn gdb_deserialize(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        let defs = L::defs();
        let mut vals = Vec::with_capacity(defs.len());
        for def in defs {
            vals.push(decode(def, bytes).ok_or(())?);
            bytes = &bytes[def.bytes()..];
        }
        self.vals = vals;
        Ok(())
    }
}

/// A register number of `L` (the `p`/`P` packets' numbering, the XML's `regnum`).
pub struct RegNum<L>(pub usize, PhantomData<L>);

impl<L> fmt::Debug for RegNum<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegNum({})", self.0)
    }
}

impl<L: Layout> RegId for RegNum<L> {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let def = L::defs().get(id)?;
        Some((RegNum(id, PhantomData), NonZeroUsize::new(def.bytes())))
    }
}

macro_rules! arch {
    ($t:ty) => {
        impl Arch for $t {
            type Usize = <$t as Layout>::Word;
            type Registers = Regs<$t>;
            type RegId = RegNum<$t>;
            type BreakpointKind = usize;

            fn target_description_xml() -> Option<&'static str> {
                Some(<$t as Layout>::xml())
            }
        }
    };
}

arch!(I386);
arch!(Amd64);
