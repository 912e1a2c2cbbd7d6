//! Booting a kernel: `ringstep boot KERNEL` and `ringstep trace --boot KERNEL`.
//!
//! The machine is built in the scenario layer (src/scenario/boot/multiboot.rs: the
//! Multiboot hand-off, the boot information, the devices), where lessons can build it
//! too; this adds what the command line asks for (`--set`) and the one-step lesson the
//! viewer opens on it.

use std::path::Path;

use super::image::Image;
use super::{scene, LoadError, Loaded, Setup};
use crate::lesson::{Expect, Lesson, Loc, Scene, Step, StepAt, Text};
use crate::scenario::Scenario;

pub use crate::scenario::boot::multiboot::*;

/// Boot `setup`'s kernel (`Input::Boot`).
pub fn boot(setup: &Setup, path: &Path) -> Result<Loaded, LoadError> {
    check_options(setup)?;
    boot_path(setup, path)
}

/// The options that do not apply to a booted kernel.
fn check_options(setup: &Setup) -> Result<(), LoadError> {
    for (given, opt) in [
        (setup.machine.is_some(), "--preset/--machine"),
        (setup.base.is_some(), "--base"),
        (setup.landing.is_some(), "--landing"),
        (!setup.alts.is_empty(), "--alt"),
    ] {
        if given {
            return Err(LoadError(format!(
                "{opt} does not apply to --boot: a booted kernel gets a machine of its own and is loaded where its program headers say"
            )));
        }
    }
    Ok(())
}

fn boot_path(setup: &Setup, path: &Path) -> Result<Loaded, LoadError> {
    let origin = path.display().to_string();
    let data = crate::userfile::read_bytes(path, crate::userfile::MAX_BINARY_BYTES)
        .map_err(|e| LoadError::new(&origin, format!("cannot read file: {e}")))?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| origin.clone());
    let source = path
        .extension()
        .is_some_and(|x| x == "S" || x == "s" || x == "asm");
    boot_data(setup, &data, (&origin, &file), source, None)
}

/// Boot a shipped example kernel (`--example`, `--variant`), assembled now.
pub fn boot_example(
    setup: &Setup,
    kernel: super::examples::Example,
    variant: Option<super::examples::Variant>,
) -> Result<Loaded, LoadError> {
    check_options(setup)?;
    let written = kernel.assemble(variant)?;
    let name = kernel.elf_name(variant);
    let text = (kernel.file_name(), kernel.source());
    boot_data(setup, &written.file, (&name, &name), false, Some(text))
}

/// Boot the kernel image `data` (read from `origin`, shown as `file`; `source`: the
/// file's name says it is assembly source; `embed`: the source text of a shipped
/// example, by the name its line table gives it).
fn boot_data(
    setup: &Setup,
    data: &[u8],
    (origin, file): (&str, &str),
    source: bool,
    embed: Option<(&str, &str)>,
) -> Result<Loaded, LoadError> {
    let Booted {
        mut image,
        mut scenario,
        protocol,
        entry,
        info,
    } = build(data, origin, file, source, setup.entry.as_deref())?;
    if let (Some((name, text)), Some(lines)) = (embed, &mut image.lines) {
        std::sync::Arc::make_mut(lines).embed(name, text.into());
        scenario.lines = image.lines.clone();
    }
    for (reg, v) in &setup.set {
        super::place::set_register(&mut scenario.machine, reg, *v).map_err(LoadError)?;
    }
    let description = scenario.description.clone();
    let lesson = lesson(&image, scenario, file, entry, info, &protocol, &description);
    Ok(Loaded { image, lesson })
}

fn lesson(
    image: &Image,
    scenario: Scenario,
    file: &str,
    entry: u64,
    info: u64,
    protocol: &Protocol,
    description: &str,
) -> Lesson {
    let code = scene::image_code(image, &scenario);
    let magic = match protocol {
        Protocol::V1(_) => format!("EAX = {BOOT_MAGIC:#x} (the Multiboot magic)"),
        Protocol::V2(_) => format!(
            "EAX = {:#x} (the Multiboot2 magic; the Multiboot2 specification 2.0, section 3.3, defines the same state)",
            super::multiboot2::BOOT_MAGIC
        ),
        Protocol::Plain => "EAX = 0 (no Multiboot header: a plain ELF)".to_string(),
    };
    let en = format!(
        "**{description}.**\n\nThe machine state at entry is what the Multiboot specification 0.6.96, section 3.2, defines: {magic}, EBX = {info:#x} (the Multiboot information structure: memory 640 KiB low + 127 MiB from 1 MiB, a memory map, the command line and the boot loader's name), CS a flat 32-bit code segment, DS/ES/FS/GS/SS flat data segments, paging off (CR0 = {:#x}), interrupts off. GDTR is not valid (load your own GDT before any segment register), IDTR is the BIOS's real-mode table, ESP = {:#x}.\n\nDevices: a 16550 UART at 0x3f8 (what the kernel sends is the console output), isa-debug-exit at 0xf4 (a write ends the run with status (value << 1) | 1), port 0x80, the 8259A PICs at 0x20/0xa0 (vector bases 0x08 and 0x70 as the BIOS left them: remap them before `sti`) and the 8254 timer at 0x40/0x43 (mode 2, count 65536; its clock ticks once per step); other ports read 0xff.\n",
        Handoff::CR0,
        Handoff::ESP
    );
    let de = format!(
        "**{description}.**\n\nDer Maschinenzustand beim Einstieg ist der der Multiboot-Spezifikation 0.6.96, Abschnitt 3.2: {magic}, EBX = {info:#x} (die Multiboot-Informationsstruktur: 640 KiB unterer Speicher + 127 MiB ab 1 MiB, eine Speicherkarte, die Kommandozeile und der Name des Bootloaders), CS ein flaches 32-Bit-Codesegment, DS/ES/FS/GS/SS flache Datensegmente, Paging aus (CR0 = {:#x}), Interrupts aus. GDTR ist nicht gültig (erst eine eigene GDT laden, dann Segmentregister), IDTR ist die Real-Mode-Tabelle des BIOS, ESP = {:#x}.\n\nGeräte: ein 16550-UART bei 0x3f8 (was der Kernel sendet, ist die Konsolenausgabe), isa-debug-exit bei 0xf4 (ein Schreibzugriff beendet den Lauf mit Status (Wert << 1) | 1), Port 0x80, die 8259A-PICs bei 0x20/0xa0 (Vektorbasen 0x08 und 0x70, wie das BIOS sie hinterlässt: vor `sti` umlegen) und der 8254-Timer bei 0x40/0x43 (Modus 2, Zählwert 65536; sein Takt tickt einmal pro Schritt); andere Ports lesen 0xff.\n",
        Handoff::CR0,
        Handoff::ESP
    );
    let note = scene::lines_note(image);
    let (en, de) = (en + &note.en, de + &note.de);
    let loc = Loc {
        file: image.origin.clone(),
        line: 1,
        col: 1,
    };
    let title = Text {
        en: format!("{file}: boot"),
        de: format!("{file}: Start"),
    };
    Lesson {
        id: file.to_string(),
        origin: image.origin.clone(),
        title: title.clone(),
        summary: title.clone(),
        order: 0,
        sources: Vec::new(),
        code,
        constants: Vec::new(),
        scenes: vec![Scene {
            title,
            scenario,
            expect: Expect::End,
            steps: vec![Step {
                at: StepAt::Addr {
                    addr: entry,
                    occurrence: 1,
                },
                text: Text { en, de },
                highlight: Vec::new(),
                sources: Vec::new(),
                checks: Vec::new(),
                question: None,
                loc: loc.clone(),
            }],
            loc,
        }],
    }
}
