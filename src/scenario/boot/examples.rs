//! The example kernels shipped in assets/kernels/ (`ringstep boot --example 32`), and
//! their broken variants: compiled into the program as source and assembled at run time
//! by the project's assembler, as lessons are, so no toolchain is needed.
//!
//! A variant is the same source with one symbol defined (as `as --defsym NAME=1` would):
//! the source's `.ifdef NAME` blocks leave out or change one step of the set-up.

use clap::ValueEnum;

use super::elfout::{self, Written};
use super::LoadError;

/// The 32-bit example kernel's source.
pub const KERNEL32: &str = include_str!("../../../assets/kernels/kernel32.S");
/// The 64-bit example kernel's source (a Multiboot ELF32 that switches to long mode).
pub const KERNEL64: &str = include_str!("../../../assets/kernels/kernel64.S");

/// Which example kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Example {
    /// assets/kernels/kernel32.S: 32-bit protected mode, paging, int $0x80 and sysenter.
    #[value(name = "32")]
    K32,
    /// assets/kernels/kernel64.S: long mode, 4-level paging, int $0x80 and syscall.
    #[value(name = "64")]
    K64,
}

/// A broken variant of an example kernel, for the student to repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Variant {
    /// TSS.ESP0 never written: int $0x80 from ring 3 faults pushing its frame (#PF, #DF,
    /// triple fault).
    BadEsp0,
    /// IA32_SYSENTER_CS (MSR 0x174) left 0: sysenter raises #GP(0).
    NoSysenterCs,
    /// The user code descriptor has DPL 0: iret to ring 3 raises #GP(0x18).
    UserDpl0,
}

impl Variant {
    /// The symbol the source tests with `.ifdef`.
    pub fn symbol(self) -> &'static str {
        match self {
            Variant::BadEsp0 => "BAD_ESP0",
            Variant::NoSysenterCs => "NO_SYSENTER_CS",
            Variant::UserDpl0 => "USER_DPL0",
        }
    }

    /// The name on the command line (`--variant bad-esp0`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

impl Example {
    pub fn source(self) -> &'static str {
        match self {
            Example::K32 => KERNEL32,
            Example::K64 => KERNEL64,
        }
    }

    /// The file name the source is shipped as (used in messages and region names).
    pub fn file_name(self) -> &'static str {
        match self {
            Example::K32 => "kernel32.S",
            Example::K64 => "kernel64.S",
        }
    }

    /// The name of the kernel as booted: `kernel32.elf`, `kernel32-bad-esp0.elf`.
    pub fn elf_name(self, variant: Option<Variant>) -> String {
        let stem = self.file_name().trim_end_matches(".S");
        match variant {
            Some(v) => format!("{stem}-{}.elf", v.name()),
            None => format!("{stem}.elf"),
        }
    }

    /// The `--defsym` definitions that select `variant`.
    pub fn defsyms(variant: Option<Variant>) -> Vec<(String, u64)> {
        variant
            .map(|v| vec![(v.symbol().to_string(), 1)])
            .unwrap_or_default()
    }

    /// The example assembled as `ringstep asm` assembles it: an ELF at 1 MiB. The broken
    /// variants are those of the 32-bit kernel.
    pub fn assemble(self, variant: Option<Variant>) -> Result<Written, LoadError> {
        if let (Example::K64, Some(v)) = (self, variant) {
            return Err(LoadError(format!(
                "--variant {}: the broken variants are of the 32-bit kernel (--example 32)",
                v.name()
            )));
        }
        elfout::assemble_elf(
            self.source(),
            self.file_name(),
            None,
            None,
            &Self::defsyms(variant),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_and_variant_assembles_to_a_multiboot_elf() {
        for v in [
            None,
            Some(Variant::BadEsp0),
            Some(Variant::NoSysenterCs),
            Some(Variant::UserDpl0),
        ] {
            let w = Example::K32.assemble(v).unwrap();
            assert_eq!(w.bits, 32);
            let h = super::super::multiboot::find_header(&w.file, "k").unwrap();
            assert!(h.is_some(), "{v:?}");
        }
        // The variants differ from the kernel (each leaves something out or changes it).
        let base = Example::K32.assemble(None).unwrap().file;
        for v in [Variant::BadEsp0, Variant::NoSysenterCs, Variant::UserDpl0] {
            assert_ne!(Example::K32.assemble(Some(v)).unwrap().file, base, "{v:?}");
        }
        assert_eq!(
            Example::K32.elf_name(Some(Variant::UserDpl0)),
            "kernel32-user-dpl0.elf"
        );
    }
}
