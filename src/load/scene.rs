//! The lesson around loaded code: one scene over the machine, code sections for the
//! listing (the image's executable sections, disassembled, or its assembly source; the
//! re-assembled kernel), and one narrative step saying what was loaded and which
//! alternatives can be applied.

use iced_x86::{Decoder, DecoderOptions};

use super::alt::Patch;
use super::image::Image;
use super::Landing;
use crate::disasm::{hex_spaced, Disassembler, Syntax};
use crate::lesson::{CodeSection, Expect, Lesson, Loc, Scene, SourceLine, Step, StepAt, Text};
use crate::scenario::Scenario;

/// What the narrative reports.
#[derive(Clone, Debug)]
pub struct Info {
    pub file: String,
    pub machine: String,
    pub entry: u64,
    pub ret: u64,
    pub landing: Landing,
    /// Machine regions the image replaced.
    pub dropped: Vec<String>,
    /// Alternatives applied: number and patch.
    pub patches: Vec<(usize, Patch)>,
}

/// One source line per instruction of `bytes` at `addr` (undecodable bytes as data).
/// Decoding starts again at every address in `starts` (the symbols, sorted): bytes
/// before a symbol that do not decode up to it exactly (a Multiboot header in front of
/// `_start`, say) are data, so the code at the symbol is listed as it runs.
fn disassemble(bytes: &[u8], addr: u64, bits: u32, starts: &[u64]) -> Vec<SourceLine> {
    let mut lines = Vec::new();
    let end = addr + bytes.len() as u64;
    let mut d = Decoder::with_ip(bits, bytes, addr, DecoderOptions::NONE);
    while d.can_decode() {
        let at = d.ip();
        let off = (at - addr) as usize;
        let next = starts.partition_point(|&s| s <= at);
        let limit = starts.get(next).copied().unwrap_or(end).min(end);
        let i = d.decode();
        if i.is_invalid() || at + i.len() as u64 > limit {
            lines.push(data_byte(at, bytes[off], bits));
            let _ = d.set_position(off + 1);
            d.set_ip(at + 1);
            continue;
        }
        lines.push(SourceLine {
            addr: at,
            len: i.len() as u32,
            text: String::new(),
            is_code: true,
            bits,
        });
    }
    lines
}

fn data_byte(at: u64, byte: u8, bits: u32) -> SourceLine {
    SourceLine {
        addr: at,
        len: 1,
        text: format!(".byte {byte:#04x}"),
        is_code: false,
        bits,
    }
}

/// The code sections of the image for the listing.
pub(super) fn image_code(image: &Image, scenario: &Scenario) -> Vec<CodeSection> {
    let region_of = |a: u64| {
        scenario
            .machine
            .mem
            .region_at(a)
            .map_or_else(|| image.origin.clone(), |r| r.name.clone())
    };
    if let Some(src) = &image.source {
        let seg = &image.segments[0];
        return vec![CodeSection {
            region: region_of(seg.addr),
            base: seg.addr,
            bytes: seg.bytes.clone(),
            origin: image.origin.clone(),
            source: src.text.clone(),
            bits: image.bits,
            lines: src.lines.clone(),
        }];
    }
    let mut starts: Vec<u64> = image.symbols.iter().map(|(_, a)| *a).collect();
    starts.sort_unstable();
    starts.dedup();
    image
        .code
        .iter()
        .filter_map(|c| {
            let bytes = image.read(c.addr, c.size as usize)?.to_vec();
            Some(CodeSection {
                region: region_of(c.addr),
                base: c.addr,
                lines: disassemble(&bytes, c.addr, image.bits, &starts),
                bytes,
                origin: format!("{} {}", image.origin, c.name),
                source: String::new(),
                bits: image.bits,
            })
        })
        .collect()
}

fn hex(a: u64) -> String {
    format!("{a:#x}")
}

/// The narrative: what was loaded, where, and the alternatives.
fn narrative(image: &Image, scenario: &Scenario, info: &Info) -> Text {
    let m = &scenario.machine;
    let name = |a: u64| m.symbols.describe(a).unwrap_or_else(|| hex(a));
    let (lo, hi) = image.span();
    let kind = match image.kind {
        super::Kind::Executable => "an executable (ET_EXEC)",
        super::Kind::Shared => "a shared object (ET_DYN)",
        super::Kind::Code => "machine code",
    };
    let mut en = format!(
        "**Loaded** `{}`: {kind}, {}-bit, at {}..{} in the {}, {} symbols.\n\n",
        image.origin,
        image.bits,
        hex(lo),
        hex(hi),
        info.machine,
        image.symbols.len()
    );
    let mut de = format!(
        "**Geladen** `{}`: {}, {} Bit, bei {}..{} in der Maschine ({}), {} Symbole.\n\n",
        image.origin,
        match image.kind {
            super::Kind::Executable => "ein Programm (ET_EXEC)",
            super::Kind::Shared => "ein Shared Object (ET_DYN)",
            super::Kind::Code => "Maschinencode",
        },
        image.bits,
        hex(lo),
        hex(hi),
        info.machine,
        image.symbols.len()
    );
    for s in &image.segments {
        en.push_str(&format!(
            "- segment {}..{} {}\n",
            hex(s.addr),
            hex(s.end()),
            s.perm_text()
        ));
        de.push_str(&format!(
            "- Segment {}..{} {}\n",
            hex(s.addr),
            hex(s.end()),
            s.perm_text()
        ));
    }
    if !info.dropped.is_empty() {
        en.push_str(&format!(
            "\nIt replaces the machine's region `{}`.\n",
            info.dropped.join("`, `")
        ));
        de.push_str(&format!(
            "\nEs ersetzt die Region `{}` der Maschine.\n",
            info.dropped.join("`, `")
        ));
    }
    let sp = m.cpu.sp();
    en.push_str(&format!(
        "\nThe run starts at **{}** as if user code had called it: the return address {} ({}) is on the user stack at {}. It ends when control gets back there.\n",
        name(info.entry),
        hex(info.ret),
        name(info.ret),
        hex(sp)
    ));
    de.push_str(&format!(
        "\nDer Lauf beginnt bei **{}**, als hätte Benutzercode es aufgerufen: die Rücksprungadresse {} ({}) liegt auf dem User-Stack bei {}. Er endet, wenn die Ausführung dorthin zurückkehrt.\n",
        name(info.entry),
        hex(info.ret),
        name(info.ret),
        hex(sp)
    ));
    match &info.landing {
        Landing::Patched { addr, how } => {
            en.push_str(&format!(
                "\nThe preset kernel's sysenter_entry pushes SYSENTER_RETURN as the user EIP that SYSEXIT returns to; it was re-assembled with SYSENTER_RETURN = {} ({how}).\n",
                hex(*addr)
            ));
            de.push_str(&format!(
                "\nsysenter_entry im Kernel der Vorgabe legt SYSENTER_RETURN als Benutzer-EIP ab, zu dem SYSEXIT zurückkehrt; er wurde mit SYSENTER_RETURN = {} neu assembliert ({how}).\n",
                hex(*addr)
            ));
        }
        Landing::Vdso32 { vdso, addr, how } => {
            en.push_str(&format!(
                "\nA 32-bit process on a 64-bit kernel: CS = __USER32_CS (0x23, compatibility mode), SS = DS = ES = __USER_DS (0x2b), a stack below 4 GiB. The kernel's do_fast_syscall_32 returns from SYSENTER (and 32-bit SYSCALL) to current->mm->context.vdso + vdso_image_32.sym_int80_landing_pad; they were set to {} and {} ({how}), the landing pad at {}.\n",
                hex(*vdso),
                hex(addr.wrapping_sub(*vdso)),
                hex(*addr)
            ));
            de.push_str(&format!(
                "\nEin 32-Bit-Prozess auf einem 64-Bit-Kernel: CS = __USER32_CS (0x23, Kompatibilitätsmodus), SS = DS = ES = __USER_DS (0x2b), ein Stack unter 4 GiB. do_fast_syscall_32 im Kernel kehrt von SYSENTER (und 32-Bit-SYSCALL) zu current->mm->context.vdso + vdso_image_32.sym_int80_landing_pad zurück; diese wurden auf {} und {} gesetzt ({how}), die Landeadresse ist {}.\n",
                hex(*vdso),
                hex(addr.wrapping_sub(*vdso)),
                hex(*addr)
            ));
        }
        Landing::Unknown => {
            en.push_str("\nNo landing address was found (no int80_landing_pad or SYSENTER_RETURN symbol, no `int $0x80` after the entry): the preset kernel returns from SYSENTER to its own SYSENTER_RETURN. Name one with --landing.\n");
            de.push_str("\nKeine Landeadresse gefunden (kein Symbol int80_landing_pad oder SYSENTER_RETURN, kein `int $0x80` nach dem Einstieg): der Kernel der Vorgabe kehrt von SYSENTER zu seinem eigenen SYSENTER_RETURN zurück. Mit --landing angeben.\n");
        }
        Landing::NotApplicable => {}
    }
    let alts = &image.alternatives;
    if let Some(p) = &alts.problem {
        en.push_str(&format!("\n**Alternatives:** {p}.\n"));
        de.push_str(&format!("\n**Alternativen:** {p}.\n"));
    } else if !alts.is_empty() {
        let layout = alts.layout.map(|l| l.describe()).unwrap_or_default();
        en.push_str(&format!(
            "\n**Alternatives** ({} in .altinstructions, {layout}). The file holds the unpatched code; the kernel patches one in at boot by CPU feature. Apply one with `--alt N` (repeatable) or `--alt FEATURE` (e.g. `--alt SYSENTER32`):\n",
            alts.list().len()
        ));
        de.push_str(&format!(
            "\n**Alternativen** ({} in .altinstructions, {layout}). Die Datei enthält den ungepatchten Code; der Kernel patcht beim Booten je nach CPU-Merkmal. Anwenden mit `--alt N` (mehrfach möglich) oder `--alt MERKMAL` (z. B. `--alt SYSENTER32`):\n",
            alts.list().len()
        ));
        let mut dis = Disassembler::new(&m.symbols, Syntax::Att);
        for a in alts.list() {
            let text = image
                .read(a.repl, a.repl_len as usize)
                .map(|b| {
                    let mut d = Decoder::with_ip(image.bits, b, a.repl, DecoderOptions::NONE);
                    let mut parts = Vec::new();
                    while d.can_decode() {
                        let i = d.decode();
                        if i.is_invalid() {
                            break;
                        }
                        parts.push(dis.format(&i));
                    }
                    if parts.is_empty() {
                        "(nothing: NOPs only)".to_string()
                    } else {
                        parts.join("; ")
                    }
                })
                .unwrap_or_default();
            let applied = image.applied.contains(&a.number);
            let line = format!(
                "{}. at {} ({} bytes): `{}`, {}{}\n",
                a.number,
                name(a.instr),
                a.instr_len,
                text,
                a.condition(),
                if applied { " — **applied**" } else { "" }
            );
            en.push_str(&line);
            let bedingung = if a.flags & super::alt::ALT_FLAG_NOT != 0 {
                format!("wenn der CPU {} fehlt", a.feature_name())
            } else {
                format!("wenn die CPU {} hat", a.feature_name())
            };
            de.push_str(&format!(
                "{}. bei {} ({} Bytes): `{}`, {}{}\n",
                a.number,
                name(a.instr),
                a.instr_len,
                text,
                bedingung,
                if applied { " — **angewandt**" } else { "" }
            ));
        }
    }
    for (n, p) in &info.patches {
        en.push_str(&format!(
            "\nAlternative {n} patched {}: `{}` became `{}`.\n",
            hex(p.addr),
            hex_spaced(&p.before),
            hex_spaced(&p.after)
        ));
        de.push_str(&format!(
            "\nAlternative {n} hat {} gepatcht: aus `{}` wurde `{}`.\n",
            hex(p.addr),
            hex_spaced(&p.before),
            hex_spaced(&p.after)
        ));
    }
    Text { en, de }
}

/// What the narrative says about source lines: how many the DWARF line table gave,
/// and any warning about it (empty without debug information).
pub(super) fn lines_note(image: &Image) -> Text {
    let mut en = String::new();
    let mut de = String::new();
    if let Some(t) = &image.lines {
        en.push_str(&format!(
            "\n**Source lines** from the DWARF line table: {} address ranges in {} files. The code pane shows each `file:line` and its text above the instructions it became (sources are looked for where DWARF says, then beside the ELF file).\n",
            t.len(),
            t.files().len()
        ));
        de.push_str(&format!(
            "\n**Quellzeilen** aus der DWARF-Zeilentabelle: {} Adressbereiche in {} Dateien. Das Code-Fenster zeigt jede `Datei:Zeile` mit ihrem Text über den Instruktionen, die daraus wurden (Quelltexte werden dort gesucht, wo DWARF sie angibt, dann neben der ELF-Datei).\n",
            t.len(),
            t.files().len()
        ));
    }
    for w in &image.warnings {
        en.push_str(&format!("\n**Warning:** {w}.\n"));
        de.push_str(&format!("\n**Warnung:** {w}.\n"));
    }
    Text { en, de }
}

/// The lesson that runs the loaded code.
pub fn lesson(
    image: &Image,
    scenario: Scenario,
    kernel: Option<CodeSection>,
    info: &Info,
) -> Lesson {
    let mut code = image_code(image, &scenario);
    code.extend(kernel);
    let mut text = narrative(image, &scenario, info);
    let note = lines_note(image);
    text.en.push_str(&note.en);
    text.de.push_str(&note.de);
    let loc = Loc {
        file: image.origin.clone(),
        line: 1,
        col: 1,
    };
    let title = Text {
        en: format!("{} at {}", info.file, hex(image.span().0)),
        de: format!("{} bei {}", info.file, hex(image.span().0)),
    };
    let step = Step {
        at: StepAt::Addr {
            addr: info.entry,
            occurrence: 1,
        },
        text,
        highlight: Vec::new(),
        sources: Vec::new(),
        checks: Vec::new(),
        question: None,
        loc: loc.clone(),
    };
    Lesson {
        id: info.file.clone(),
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
            steps: vec![step],
            loc,
        }],
    }
}
