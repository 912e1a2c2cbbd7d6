//! Machines built from a kernel file: what a boot loader does before a kernel's first
//! instruction. Reading an ELF image (`image`, with its kernel alternatives in `alt`),
//! the Multiboot and Multiboot2 hand-off (`multiboot`, `multiboot2`), and the example
//! kernels shipped in assets/kernels/ with the assembler-to-ELF path that builds them
//! (`examples`, `elfout`). In the scenario layer so that a lesson's `[machine]` can say
//! `boot.example = "32"`; src/load re-exports all of it under its old paths.

pub mod alt;
pub mod elfdebug;
pub mod elfout;
pub mod examples;
pub mod image;
pub mod lines;
pub mod multiboot;
pub mod multiboot2;
pub mod sources;

pub use image::Image;

/// A loading problem, already naming the file (or option) at fault. Exit status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

impl LoadError {
    /// `FILE: message`.
    pub fn new(file: &str, message: impl AsRef<str>) -> LoadError {
        LoadError(format!("{file}: {}", message.as_ref()))
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// A number: 0x hex or decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim().replace('_', "");
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse::<u64>().ok(),
    }
}
