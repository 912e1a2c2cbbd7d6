//! The command-line options for loading code, shared by `ringstep run` and `ringstep trace`.

use std::path::PathBuf;

use clap::Args;

use super::{parse_number, Input, LoadError, MachineChoice, Setup};

/// What `--boot` holds when given without a KERNEL (to go with `--example`).
const BARE_BOOT: &str = "(--example)";

#[derive(Args, Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadArgs {
    /// Load an ELF file (32- or 64-bit executable or shared object, e.g. a vdso32.so) into
    /// the preset for its class and run it as if user code had called --entry: a return
    /// address on the user stack, the run ending when the code returns (docs/loading.md).
    #[arg(long, value_name = "FILE", help_heading = "Loading your own code")]
    pub elf: Option<PathBuf>,
    /// Boot a kernel: a 32-bit Multiboot ELF (or a plain ELF with --entry), in a machine
    /// of its own with RAM, a 16550 UART at 0x3f8, isa-debug-exit at 0xf4, the 8259A
    /// PICs and the 8254 timer (docs/loading.md, "Booting a kernel").
    /// `--boot` without KERNEL goes with --example.
    #[arg(
        long,
        value_name = "KERNEL",
        num_args = 0..=1,
        default_missing_value = BARE_BOOT,
        conflicts_with_all = ["elf", "asm"],
        help_heading = "Loading your own code"
    )]
    pub boot: Option<PathBuf>,
    /// Boot a shipped example kernel (assets/kernels/, assembled now): `--example 32`
    /// (implies --boot).
    #[arg(
        long,
        value_enum,
        value_name = "BITS",
        conflicts_with_all = ["elf", "asm"],
        help_heading = "Loading your own code"
    )]
    pub example: Option<super::examples::Example>,
    /// With --example: a broken variant of the kernel, for you to repair.
    #[arg(
        long,
        value_enum,
        requires = "example",
        help_heading = "Loading your own code"
    )]
    pub variant: Option<super::examples::Variant>,
    /// Assemble a .S file (the lesson assembler's GNU as syntax) and run it.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "elf",
        help_heading = "Loading your own code"
    )]
    pub asm: Option<PathBuf>,
    /// Where to start: a symbol of the loaded code or an address (default
    /// __kernel_vsyscall, else the ELF entry point; for --asm/--bytes their first byte).
    #[arg(
        long,
        value_name = "SYMBOL|ADDR",
        help_heading = "Loading your own code"
    )]
    pub entry: Option<String>,
    /// Where to place a shared object linked at 0, --asm or --bytes code (default: the
    /// machine's vDSO page, 0xffffe000 in linux-2.6-i386; 0x7ffff7fc1000 in linux-x86_64).
    #[arg(long, value_name = "ADDR", help_heading = "Loading your own code")]
    pub base: Option<String>,
    /// Apply alternative N of the file's .altinstructions, or every alternative for a CPU
    /// feature (e.g. SYSENTER32, SYSCALL32). Repeatable, applied in order.
    #[arg(
        long = "alt",
        value_name = "N|FEATURE",
        help_heading = "Loading your own code"
    )]
    pub alts: Vec<String>,
    /// Set a register before the run (e.g. --set eax=224, gettid on i386). Repeatable. By
    /// default the preset's registers, with EAX/RAX = getpid (20 on i386, 39 on x86-64).
    #[arg(
        long = "set",
        value_name = "REG=VALUE",
        help_heading = "Loading your own code"
    )]
    pub set: Vec<String>,
    /// Where the linux-2.6-i386 kernel's SYSEXIT returns (default: the symbol
    /// int80_landing_pad or SYSENTER_RETURN, else just after the entry's `int $0x80`).
    #[arg(
        long,
        value_name = "SYMBOL|ADDR",
        help_heading = "Loading your own code"
    )]
    pub landing: Option<String>,
    /// Load into this scenario file (TOML, docs/scenario-format.md) with its own kernel
    /// instead of a preset.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "preset",
        help_heading = "Loading your own code"
    )]
    pub machine: Option<PathBuf>,
}

impl LoadArgs {
    /// Whether any option that needs --elf/--asm/--bytes was given.
    fn option_given(&self) -> Option<&'static str> {
        [
            (self.entry.is_some(), "--entry"),
            (self.base.is_some(), "--base"),
            (!self.alts.is_empty(), "--alt"),
            (!self.set.is_empty(), "--set"),
            (self.landing.is_some(), "--landing"),
            (self.machine.is_some(), "--machine"),
        ]
        .iter()
        .find(|(given, _)| *given)
        .map(|(_, name)| *name)
    }

    /// The setup these options describe, with `bytes` (`--bytes`) and `preset`
    /// (`--preset`) from the command. None when nothing is to be loaded.
    /// Whether a kernel is booted (`--boot`, `--example`).
    pub fn boots(&self) -> bool {
        self.boot.is_some() || self.example.is_some()
    }

    /// The kernel to boot: `--boot KERNEL`, or `--example` (with or without a bare
    /// `--boot`).
    fn boot_input(&self) -> Result<Option<PathBuf>, LoadError> {
        match (&self.boot, self.example) {
            (Some(k), Some(_)) if k.as_os_str() != BARE_BOOT => Err(LoadError(format!(
                "give --boot {} or --example, not both",
                k.display()
            ))),
            (Some(k), None) if k.as_os_str() == BARE_BOOT => Err(LoadError(
                "--boot needs a KERNEL file (or --example 32 for the shipped one)".to_string(),
            )),
            (Some(k), None) => Ok(Some(k.clone())),
            _ => Ok(None),
        }
    }

    pub fn setup(
        &self,
        bytes: Option<&str>,
        preset: Option<&str>,
    ) -> Result<Option<Setup>, LoadError> {
        if let Some(k) = self.example {
            self.boot_input()?;
            return self.finish(Input::Example(k, self.variant), bytes, preset);
        }
        let boot = self.boot_input()?;
        let input = match (&self.elf, &self.asm, bytes, &boot) {
            (Some(e), None, None, None) => Input::Elf(e.clone()),
            (None, Some(a), None, None) => Input::Asm(a.clone()),
            (None, None, Some(b), None) => Input::Bytes(b.to_string()),
            (None, None, None, Some(k)) => Input::Boot(k.clone()),
            (None, None, None, None) => {
                return match self.option_given() {
                    Some(opt) => Err(LoadError(format!(
                        "{opt} needs code to load: --elf FILE, --asm FILE, --bytes HEX or --boot KERNEL"
                    ))),
                    None => Ok(None),
                }
            }
            _ => {
                return Err(LoadError(
                    "give only one of --elf, --asm, --bytes and --boot".to_string(),
                ))
            }
        };
        self.finish(input, bytes, preset)
    }

    /// The setup for `input` with the other options.
    fn finish(
        &self,
        input: Input,
        bytes: Option<&str>,
        preset: Option<&str>,
    ) -> Result<Option<Setup>, LoadError> {
        if bytes.is_some() && !matches!(input, Input::Bytes(_)) {
            return Err(LoadError(
                "give only one of --elf, --asm, --bytes and --boot".to_string(),
            ));
        }
        let base = match &self.base {
            Some(b) => Some(parse_number(b).ok_or_else(|| {
                LoadError(format!(
                    "--base {b}: not an address (write hex as 0xffffe000, or decimal)"
                ))
            })?),
            None => None,
        };
        let mut set = Vec::new();
        for s in &self.set {
            let (reg, val) = s.split_once('=').ok_or_else(|| {
                LoadError(format!(
                    "--set {s}: write it as REG=VALUE, e.g. --set eax=20"
                ))
            })?;
            let v = parse_number(val).ok_or_else(|| {
                LoadError(format!(
                    "--set {s}: `{val}` is not a number (hex as 0x14, or decimal)"
                ))
            })?;
            set.push((reg.trim().to_string(), v));
        }
        let machine = match (&self.machine, preset) {
            (Some(m), _) => Some(MachineChoice::File(m.clone())),
            (None, Some(p)) => Some(MachineChoice::Preset(p.to_string())),
            (None, None) => None,
        };
        Ok(Some(Setup {
            input,
            machine,
            entry: self.entry.clone(),
            base,
            landing: self.landing.clone(),
            alts: self.alts.clone(),
            set,
        }))
    }
}
