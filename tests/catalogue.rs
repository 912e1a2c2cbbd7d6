//! The German catalogue (src/debug/catalogue*.rs) covers every English line the engine,
//! the machine and the debugger can show in the viewer. Checked by reading the sources:
//! every string literal in src/engine and src/machine that reads as prose (a reason, a
//! page-walk finding, a descriptor type), and every literal in the arguments of the
//! debugger's error constructors, must have its template in the catalogue, unless it
//! is listed below as never shown in the German viewer. A new English reason without
//! German fails here.

use std::path::{Path, PathBuf};

use ringstep::debug::catalogue::{entries, in_lang};
use ringstep::lesson::Lang;

/// Prose literals of src/engine and src/machine that the viewer never shows as they
/// are, each with where it goes instead.
const NOT_SHOWN: &[(&str, &str)] = &[
    // Composed in German by debug::lang (summary, link_line) from their parts.
    ("vector {}", "vector_name of an unnamed vector"),
    ("{}({}): {}", "Exception::summary"),
    (" [CR2={}]", "Link::line"),
    ("page fault", "a class inside fault::combination"),
    // Internal checks: a failed assertion, not a message.
    ("{} writes {} which iced-x86 does not list as written", "check.rs assertion"),
    ("engine/iced disagreement: {}", "mod.rs assertion"),
    ("ringstep virtual CPU", "the CPUID brand string"),
    // Scenario files that do not load: the CLI reports them before any viewer starts.
    ("region `{}`: base and size must be multiples of 4096", "scenario error"),
    ("region `{}` has size 0", "scenario error"),
    ("region `{}` overlaps region `{}`", "scenario error"),
    ("region `{}` wraps past the end of the address space", "scenario error"),
    ("no region named `{}`", "scenario error"),
    ("{} is not page-aligned", "scenario error"),
    ("two regions share the large page at {}", "scenario error"),
    ("region `{}`: physical address {} is beyond what this paging mode reaches", "scenario error"),
    ("the top-level page table at {} would overwrite the memory of region `{}` (physical {}..{})", "scenario error"),
    ("no room for {} page tables below {}: give the tables an address", "scenario error"),
];

/// The calls whose string arguments are debugger errors a user can provoke.
const ERROR_CALLS: &[&str] = &[
    "err(", "message:", "Refused(", "Err(", ".expr(", ".word(", ".number(", ".reg(", ".atom(",
    ".expect(", "fail(",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The non-test part of a source file.
fn source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Every string literal of `src` with its byte offset, comments skipped, as the
/// program sees it (escapes and line continuations resolved).
fn literals(src: &str) -> Vec<(usize, String)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' => {
                // A char literal ('"', '\'', 'x') or a lifetime.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 2;
                }
                i += 1;
            }
            b'"' => {
                let start = i;
                let mut s = String::new();
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                        match b.get(i) {
                            Some(b'\n') => {
                                while i + 1 < b.len() && b[i + 1].is_ascii_whitespace() {
                                    i += 1;
                                }
                            }
                            Some(b'n') => s.push('\n'),
                            Some(b'0') => s.push('\0'),
                            Some(&c) => s.push(c as char),
                            None => {}
                        }
                        i += 1;
                        continue;
                    }
                    let ch = src[i..].chars().next().unwrap_or(' ');
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push((start, s));
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// `{x:#x}` and `{}` become `{}`; `{{` and `}}` are braces.
fn template(lit: &str) -> String {
    let mut out = String::new();
    let mut chars = lit.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                }
                out.push_str("{}");
            }
            c => out.push(c),
        }
    }
    out.trim_end_matches('\0').to_string()
}

/// Reads as prose: a space and a word of two lower-case letters.
fn prose(t: &str) -> bool {
    t.contains(' ')
        && t.as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_lowercase())
}

fn known(t: &str) -> bool {
    entries().any(|(en, _)| en.eq_ignore_ascii_case(t))
}

fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("the directory is readable")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_engine_and_machine_reason_has_german() {
    let mut missing = Vec::new();
    let mut seen = 0;
    for path in rust_files("src/engine")
        .into_iter()
        .chain(rust_files("src/machine"))
    {
        for (_, lit) in literals(&source(&path)) {
            let t = template(&lit);
            if !prose(&t) || NOT_SHOWN.iter().any(|(n, _)| *n == t) {
                continue;
            }
            seen += 1;
            if !known(&t) {
                missing.push(format!("{}: {t:?}", path.display()));
            }
        }
    }
    assert!(seen > 150, "the scan found only {seen} reasons");
    assert!(
        missing.is_empty(),
        "no German in src/debug/catalogue_engine.rs for:\n{}",
        missing.join("\n")
    );
}

/// The literals inside the parentheses (or braces) that follow each `call` in `src`.
fn call_literals(src: &str, call: &str) -> Vec<String> {
    let lits = literals(src);
    let mut out = Vec::new();
    for (at, _) in src.match_indices(call) {
        let mut depth = 0i32;
        let mut end = at + call.len();
        let opened = call.ends_with('(');
        if opened {
            depth = 1;
        }
        let mut in_str = false;
        let b = src.as_bytes();
        while end < b.len() {
            match b[end] {
                b'\\' if in_str => end += 1,
                b'"' => in_str = !in_str,
                b'(' | b'{' | b'[' if !in_str => depth += 1,
                b')' | b'}' | b']' if !in_str => {
                    depth -= 1;
                    if depth <= 0 {
                        break;
                    }
                }
                b',' | b';' if !in_str && depth == 0 && !opened => break,
                _ => {}
            }
            end += 1;
        }
        out.extend(
            lits.iter()
                .filter(|(p, _)| *p > at && *p < end)
                .map(|(_, l)| template(l)),
        );
    }
    out
}

#[test]
fn every_debugger_error_has_german() {
    let files = [
        "src/debug/spec.rs",
        "src/debug/command.rs",
        "src/debug/regs.rs",
        "src/tui/timeline.rs",
        "src/tui/commands.rs",
    ];
    let mut missing = Vec::new();
    let mut seen = 0;
    for f in files {
        let src = source(&root().join(f));
        for call in ERROR_CALLS {
            for t in call_literals(&src, call) {
                // Command words and operators are typed as they are.
                if !prose(&t) {
                    continue;
                }
                seen += 1;
                if !known(&t) {
                    missing.push(format!("{f}: {t:?}"));
                }
            }
        }
    }
    assert!(seen > 30, "the scan found only {seen} errors");
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "no German in src/debug/catalogue_debug.rs for:\n{}",
        missing.join("\n")
    );
}

#[test]
fn lines_as_the_engine_writes_them_come_out_german() {
    let cases = [
        (
            "INT 0x80 from CPL 3 through a gate with DPL 0 (SDM Vol. 3A 6.12.1.1)",
            "INT 0x80 auf CPL 3 durch ein Gate mit DPL 0 (SDM Vol. 3A 6.12.1.1)",
        ),
        (
            "user-mode write at 0x8: the page is not mapped",
            "Schreibzugriff im User-Mode bei 0x8: die Seite ist nicht abgebildet",
        ),
        (
            "RDFSBASE OUTSIDE 64-BIT MODE",
            "RDFSBASE außerhalb des 64-Bit-Modus",
        ),
        (
            "column 1: unknown command `brk` (did you mean `break`?); type `help` for the list",
            "Spalte 1: unbekannter Befehl `brk` (meinten Sie `break`?); `help` zeigt die Liste",
        ),
        (
            "column 7: unknown register `eaz`",
            "Spalte 7: unbekanntes Register `eaz`",
        ),
        ("CR9 does not exist", "CR9 existiert nicht"),
        (
            "column 1: unknown command `write`; type `help` for the list",
            "Spalte 1: unbekannter Befehl `write`; `help` zeigt die Liste",
        ),
        (
            "column 7: `until write`: expected `cpl` or `fault`",
            "Spalte 7: `until write`: erwartet wird `cpl` oder `fault`",
        ),
        (
            "CR8 does not exist outside 64-bit mode",
            "CR8 existiert nicht außerhalb des 64-Bit-Modus",
        ),
        (
            "WRMSR to 0xc0000080: the value sets reserved bits of the MSR",
            "WRMSR auf 0xc0000080: der Wert setzt reservierte Bits des MSR",
        ),
        (
            "the code segment is not present, while delivering #NP \
             (contributory + contributory, SDM Vol. 3A Table 6-5)",
            "das Codesegment ist nicht vorhanden, während #NP zugestellt wurde \
             (contributory + contributory, SDM Vol. 3A Table 6-5)",
        ),
        (
            "IDT entry 0xd is not an interrupt, trap or task gate (type 0x9, \
             32-bit TSS (available); SDM Vol. 3A 6.11)",
            "IDT-Eintrag 0xd ist kein Interrupt-, Trap- oder Task-Gate (Typ 0x9, \
             32-Bit-TSS (verfügbar); SDM Vol. 3A 6.11)",
        ),
        (
            "supervisor-mode instruction fetch at 0x0: the page is not mapped",
            "Befehlsholen im Supervisor-Mode bei 0x0: die Seite ist nicht abgebildet",
        ),
    ];
    for (en, de) in cases {
        assert_eq!(in_lang(en, Lang::De), de);
        assert_eq!(in_lang(en, Lang::En), en);
    }
}
