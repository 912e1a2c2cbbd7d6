//! Loading your own code: an ELF file (32- or 64-bit, executables and shared objects such
//! as a kernel's vdso32.so), a `.S` file for the lesson assembler, or raw bytes, put into a
//! preset machine (or a scenario file's) and started as if user code had called it.
//!
//! [`image`] reads the file into an [`Image`] (segments, executable sections, symbols,
//! kernel alternatives); [`alt`] reads and applies the `.altinstructions` table; [`place`]
//! maps the image into a machine, points the preset kernel's SYSENTER return at the
//! image's landing address and pushes a return address; [`scene`] wraps the result in a
//! narrative-less [`Lesson`] for the viewer and `trace`. The behaviour is documented in
//! docs/loading.md.

pub mod args;
pub mod boot;
pub mod place;
pub mod scene;

pub use crate::scenario::boot::{alt, elfout, examples, image, multiboot2};
pub use crate::scenario::boot::{parse_number, LoadError};

use std::path::{Path, PathBuf};

use iced_x86::{Decoder, DecoderOptions, Mnemonic};

pub use alt::{Alternative, Alternatives, Layout, Patch};
pub use args::LoadArgs;
pub use image::{Image, Kind, Segment};

use crate::asm::{self, SourceSection};
use crate::lesson::{Lesson, SourceLine};
use crate::machine::memory::PAGE_SIZE;
use crate::scenario::{self, Scenario};

/// What to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Elf(PathBuf),
    /// A `.S` file in the lesson assembler's syntax.
    Asm(PathBuf),
    /// Machine code as hex.
    Bytes(String),
    /// A kernel to boot (`--boot`): a Multiboot ELF, or a plain ELF with `--entry`, in a
    /// machine of its own (src/load/boot.rs, built in src/scenario/boot/multiboot.rs).
    Boot(PathBuf),
    /// A shipped example kernel (`--example`), possibly a broken variant, booted as
    /// `Boot` boots a file (src/scenario/boot/examples.rs).
    Example(examples::Example, Option<examples::Variant>),
}

/// The machine to load into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachineChoice {
    Preset(String),
    /// A scenario TOML file (docs/scenario-format.md), with its own kernel.
    File(PathBuf),
}

/// Everything `--elf`/`--asm`/`--bytes` and their options say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    pub input: Input,
    /// None: the preset that matches the code (linux-2.6-i386 for 32-bit, linux-x86_64
    /// for 64-bit).
    pub machine: Option<MachineChoice>,
    /// Symbol or address; default `__kernel_vsyscall`, else the ELF entry point.
    pub entry: Option<String>,
    pub base: Option<u64>,
    /// Where the preset kernel's SYSEXIT returns (symbol or address).
    pub landing: Option<String>,
    /// `--alt` values in order: numbers or feature names.
    pub alts: Vec<String>,
    /// `--set REG=VALUE`, in order.
    pub set: Vec<(String, u64)>,
}

/// The result: the image as placed (alternatives applied) and the lesson that runs it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub image: Image,
    pub lesson: Lesson,
}

/// The file name part of a path, for region names.
fn short_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn machine_scenario(choice: &MachineChoice) -> Result<Scenario, LoadError> {
    match choice {
        MachineChoice::Preset(name) => scenario::preset(name).map_err(|e| {
            if scenario::preset_text(name).is_none() {
                LoadError(format!("--preset: {}", e.message))
            } else {
                LoadError(e.to_string())
            }
        }),
        MachineChoice::File(path) => {
            scenario::load_file(path).map_err(|e| LoadError(e.to_string()))
        }
    }
}

fn machine_name(choice: &MachineChoice) -> String {
    match choice {
        MachineChoice::Preset(p) => format!("preset {p}"),
        MachineChoice::File(f) => format!("machine {}", f.display()),
    }
}

/// Read the input into an image (for assembly and bytes: at `base` in `s`).
fn read_input(setup: &Setup, s: Option<&Scenario>) -> Result<Image, LoadError> {
    match &setup.input {
        Input::Elf(path) => {
            let origin = path.display().to_string();
            let data = crate::userfile::read_bytes(path, crate::userfile::MAX_BINARY_BYTES)
                .map_err(|e| LoadError::new(&origin, format!("cannot read file: {e}")))?;
            Image::from_elf(&data, &origin)
        }
        Input::Asm(path) => {
            let origin = path.display().to_string();
            let Some(s) = s else {
                return Err(LoadError::new(&origin, "no machine"));
            };
            let text = crate::userfile::read_text(path)
                .map_err(|e| LoadError::new(&origin, format!("cannot read file: {e}")))?;
            assemble(&text, &origin, setup.base, s)
        }
        Input::Boot(_) | Input::Example(..) => Err(LoadError(
            "a kernel is booted, not loaded into a machine".to_string(),
        )),
        Input::Bytes(hex) => {
            let Some(s) = s else {
                return Err(LoadError::new("--bytes", "no machine"));
            };
            let code = crate::disasm::parse_hex(hex).map_err(|e| LoadError::new("--bytes", e))?;
            if code.is_empty() {
                return Err(LoadError::new("--bytes", "no bytes given"));
            }
            let base = setup
                .base
                .unwrap_or_else(|| place::default_base(&s.machine));
            Ok(Image::from_bytes(code, base, bits_of(s), "--bytes"))
        }
    }
}

fn bits_of(s: &Scenario) -> u32 {
    if s.machine.cpu.long_mode_active() {
        64
    } else {
        32
    }
}

/// Assemble a `.S` file at `base` (default: the machine's vDSO address).
fn assemble(text: &str, origin: &str, base: Option<u64>, s: &Scenario) -> Result<Image, LoadError> {
    let base = base.unwrap_or_else(|| place::default_base(&s.machine));
    let bits = bits_of(s);
    let at = |e: &asm::AsmError| LoadError(format!("{origin}:{}:{}: {}", e.line, e.col, e.message));
    let sections = [SourceSection {
        name: origin,
        base,
        text,
    }];
    let layout = asm::layout(&sections, bits).map_err(|e| at(&e))?;
    let known: Vec<&str> = s.machine.symbols.names().collect();
    let syms = &s.machine.symbols;
    let resolve = |n: &str| syms.get(n);
    let assembled = layout.encode(&resolve, &known).map_err(|e| at(&e))?;
    let Some(a) = assembled.into_iter().next().filter(|a| !a.bytes.is_empty()) else {
        return Err(LoadError::new(
            origin,
            "no code: the file assembles to no bytes",
        ));
    };
    let mut image = Image::from_bytes(a.bytes.clone(), a.base, bits, origin);
    image.symbols = layout
        .labels()
        .iter()
        .filter(|(n, _)| !n.starts_with(".L"))
        .cloned()
        .collect();
    image.source = Some(image::AsmSource {
        text: text.to_string(),
        lines: SourceLine::from_assembly(&a.lines, text),
    });
    Ok(image)
}

/// A symbol (of the image, then of the machine) or a number.
fn resolve(name: &str, image: &Image, s: &Scenario, what: &str) -> Result<u64, LoadError> {
    if let Some(a) = image.symbol(name).or_else(|| s.machine.symbols.get(name)) {
        return Ok(a);
    }
    if let Some(n) = parse_number(name) {
        return Ok(n);
    }
    let names: Vec<&str> = image.symbols.iter().map(|(n, _)| n.as_str()).collect();
    let hint = scenario::did_you_mean(name, names.iter().copied());
    Err(LoadError::new(
        &image.origin,
        format!(
            "{what} {name}: no such symbol{} (and not a number){hint}",
            if names.is_empty() {
                " (the file has no symbols)".to_string()
            } else {
                format!("; the file's symbols: {}", names.join(", "))
            }
        ),
    ))
}

/// The address just after the first `int $0x80` at or after `entry` (up to the first
/// `ret`): where a modern kernel's int80_landing_pad is.
fn after_int80(image: &Image, entry: u64) -> Option<u64> {
    let seg = image
        .segments
        .iter()
        .find(|s| entry >= s.addr && entry < s.end())?;
    let off = (entry - seg.addr) as usize;
    let mut d = Decoder::with_ip(image.bits, &seg.bytes[off..], entry, DecoderOptions::NONE);
    for _ in 0..64 {
        if !d.can_decode() {
            return None;
        }
        let i = d.decode();
        if i.is_invalid() || i.mnemonic() == Mnemonic::Ret {
            return None;
        }
        if i.mnemonic() == Mnemonic::Int && i.immediate8() == 0x80 {
            return Some(i.next_ip());
        }
    }
    None
}

/// How the landing address was found, for the narrative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// The preset kernel was re-assembled to return here.
    Patched { addr: u64, how: String },
    /// Not the i386 preset: its kernel decides.
    NotApplicable,
    /// A 32-bit process on a 64-bit kernel: the kernel finds the landing pad through
    /// current->mm->context.vdso + vdso_image_32.sym_int80_landing_pad, set to these.
    Vdso32 { vdso: u64, addr: u64, how: String },
    /// The i386 preset (or a 32-bit process), but no landing address could be found.
    Unknown,
}

/// Load everything `setup` says and build the lesson.
pub fn load(setup: &Setup) -> Result<Loaded, LoadError> {
    match &setup.input {
        Input::Boot(path) => return boot::boot(setup, path),
        Input::Example(k, v) => return boot::boot_example(setup, *k, *v),
        _ => {}
    }
    // The machine: named, or chosen from the ELF class.
    let elf = match &setup.input {
        Input::Elf(_) => Some(read_input(setup, None)?),
        _ => None,
    };
    let choice = setup.machine.clone().unwrap_or_else(|| {
        MachineChoice::Preset(match &elf {
            Some(i) if i.bits == 64 => "linux-x86_64".to_string(),
            _ => crate::scenario::DEFAULT_PRESET.to_string(),
        })
    });
    let mut s = machine_scenario(&choice)?;
    let mut image = match elf {
        Some(i) => i,
        None => read_input(setup, Some(&s))?,
    };
    let bits = bits_of(&s);
    // 32-bit code on a 64-bit machine runs as a 32-bit process in compatibility mode,
    // when the machine's kernel has a 32-bit user code segment (IA32 emulation).
    let compat = image.bits == 32 && bits == 64;
    if compat {
        place::check_compat(&s.machine).map_err(|e| {
            LoadError::new(
                &image.origin,
                format!(
                    "32-bit code, but the {} cannot run a 32-bit process: {e}",
                    machine_name(&choice)
                ),
            )
        })?;
    } else if image.bits != bits {
        return Err(LoadError::new(
            &image.origin,
            format!(
                "wrong architecture for the machine: {}-bit code, but the {} runs {}-bit code (use --preset linux-x86_64)",
                image.bits,
                machine_name(&choice),
                bits,
            ),
        ));
    }
    if setup.landing.is_some()
        && !compat
        && choice != MachineChoice::Preset(place::I386_PRESET.into())
    {
        return Err(LoadError(format!(
            "--landing: only the {} preset's kernel is re-assembled to return to the loaded code, and a 32-bit process on a 64-bit kernel has its landing pad in the vDSO; the {} returns where its own kernel says",
            place::I386_PRESET,
            machine_name(&choice)
        )));
    }

    place::place(&mut image, setup.base, &s)?;
    let mut numbers = Vec::new();
    for spec in &setup.alts {
        numbers.extend(image.alternatives.select(spec, &image.origin)?);
    }
    let alts = image.alternatives.clone();
    let mut patches = Vec::new();
    for n in numbers {
        patches.push((n, alts.apply(&mut image, n)?));
    }

    let file = match &setup.input {
        Input::Elf(p) | Input::Asm(p) | Input::Boot(p) => short_name(p),
        Input::Bytes(_) => "--bytes".to_string(),
        Input::Example(k, v) => k.elf_name(*v),
    };
    let dropped = place::map(&mut s.machine, &image, &file)?;

    let entry = match &setup.entry {
        Some(e) => resolve(e, &image, &s, "--entry")?,
        None => image
            .symbol("__kernel_vsyscall")
            .or(image.entry_point)
            .ok_or_else(|| {
                LoadError::new(
                    &image.origin,
                    "no __kernel_vsyscall and no ELF entry point: say where to start with --entry SYMBOL or --entry ADDR",
                )
            })?,
    };
    match s.machine.mem.region_at(entry) {
        Some(r) if r.perm.exec && r.perm.user => {}
        Some(r) => {
            return Err(LoadError::new(
                &image.origin,
                format!(
                    "--entry {entry:#x} is in region `{}`, which user code cannot execute",
                    r.name
                ),
            ))
        }
        None => {
            return Err(LoadError::new(
                &image.origin,
                format!("--entry {entry:#x} is outside every memory region"),
            ))
        }
    }

    // The preset kernel's return address.
    let mut kernel = None;
    let i386 = choice == MachineChoice::Preset(place::I386_PRESET.into());
    let landing = if i386 || compat {
        let found = match &setup.landing {
            Some(l) => Some((
                resolve(l, &image, &s, "--landing")?,
                format!("--landing {l}"),
            )),
            None => ["int80_landing_pad", "SYSENTER_RETURN"]
                .iter()
                .find_map(|n| image.symbol(n).map(|a| (a, format!("the symbol {n}"))))
                .or_else(|| {
                    after_int80(&image, entry)
                        .map(|a| (a, "the address after the entry's `int $0x80`".to_string()))
                }),
        };
        match found {
            Some((addr, how)) if compat => {
                let vdso = image.span().0 & !(PAGE_SIZE - 1);
                place::compat_vdso(&mut s.machine, vdso, addr).map_err(LoadError)?;
                Landing::Vdso32 { vdso, addr, how }
            }
            Some((addr, how)) => {
                kernel = Some(place::i386_kernel(&mut s.machine, addr)?);
                Landing::Patched { addr, how }
            }
            None => Landing::Unknown,
        }
    } else {
        Landing::NotApplicable
    };

    // Registers: the preset's (a 32-bit process's on a 64-bit kernel), getpid in the
    // accumulator (the i386 number for a 32-bit process), then --set.
    if compat {
        place::compat_process(&mut s.machine).map_err(LoadError)?;
    }
    if let MachineChoice::Preset(p) = &choice {
        let table = if compat { place::I386_PRESET } else { p };
        if let Some(nr) = place::preset_getpid(table) {
            s.machine.cpu.gpr[crate::machine::cpu::RAX] = nr;
        }
    }
    for (reg, v) in &setup.set {
        place::set_register(&mut s.machine, reg, *v).map_err(LoadError)?;
    }
    let ret = *s.stop_at.first().ok_or_else(|| {
        LoadError(format!(
            "the {} has no [run] stop_at address for the loaded code to return to",
            machine_name(&choice)
        ))
    })?;
    place::call(&mut s.machine, entry, ret).map_err(LoadError)?;
    s.stop_at = vec![ret];
    s.max_steps = Some(s.max_steps.unwrap_or(1000));

    s.lines = image.lines.clone();
    let info = scene::Info {
        file,
        machine: machine_name(&choice),
        entry,
        ret,
        landing,
        dropped: dropped.iter().map(|r| r.name.clone()).collect(),
        patches,
    };
    let lesson = scene::lesson(&image, s, kernel, &info);
    Ok(Loaded { image, lesson })
}
