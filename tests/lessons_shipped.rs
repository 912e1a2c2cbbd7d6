//! Every shipped lesson: listed in the library, loads in both languages, passes
//! `ringstep check`, and its code assembles to exactly the bytes GNU as makes of it.

use std::path::Path;
use std::process::Command;

use ringstep::lesson::{self, check, library};

mod common;

fn lesson_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            // The glossary (lessons/glossary.toml) lives beside the lessons.
            (p.extension()? == "toml" && stem != "glossary").then_some(stem)
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn every_lesson_file_is_shipped_and_the_default_exists() {
    let mut shipped: Vec<String> = library::ids().map(String::from).collect();
    shipped.sort();
    assert_eq!(
        shipped,
        lesson_files(),
        "src/lesson/library.rs must list every lessons/*.toml"
    );
    assert!(library::lesson_text(library::DEFAULT_LESSON).is_some());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/src");
    for e in std::fs::read_dir(src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let path = format!("lessons/src/{name}");
        assert!(
            library::file(&path).is_some(),
            "src/lesson/library.rs must ship {path}"
        );
    }
    for p in library::file_paths() {
        let on_disk = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(Some(on_disk.as_str()), library::file(p));
    }
}

#[test]
fn every_shipped_lesson_passes_its_checks() {
    let mut problems = Vec::new();
    for id in library::ids() {
        let l = match lesson::load_shipped(id).unwrap() {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("{id}: does not load: {e}"));
                continue;
            }
        };
        let report = check::check(&l);
        problems.extend(report.failures().map(|f| format!("{id}: {f}")));
        assert!(report.checks() > 0, "{id} has no checkpoints");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What GNU as and ld make of one code section, linked at its address, with the
/// symbols it takes from elsewhere defined as the lesson's machine defines them.
fn gnu_bytes(
    section: &lesson::CodeSection,
    symbols: &ringstep::machine::Symbols,
    dir: &Path,
) -> Result<Vec<u8>, String> {
    let src = dir.join("code.S");
    let obj = dir.join("code.o");
    let elf = dir.join("code.elf");
    let bin = dir.join("code.bin");
    std::fs::write(&src, &section.source).map_err(|e| e.to_string())?;
    let (as_flag, emul) = if section.bits == 64 {
        ("--64", "elf_x86_64")
    } else {
        ("--32", "elf_i386")
    };
    common::run_tool(
        Command::new("as")
            .arg(as_flag)
            .arg("-o")
            .arg(&obj)
            .arg(&src),
    )?;
    let undefined = common::run_tool(Command::new("nm").arg("-u").arg(&obj))?;
    let mut ld = Command::new("ld");
    ld.args([
        "-m",
        emul,
        "-e",
        "0",
        &format!("-Ttext={:#x}", section.base),
    ]);
    for line in String::from_utf8_lossy(&undefined).lines() {
        let name = line.split_whitespace().last().unwrap_or("");
        let addr = symbols.get(name).ok_or_else(|| {
            format!("as leaves `{name}` undefined and the machine has no such symbol")
        })?;
        ld.arg("--defsym").arg(format!("{name}={addr:#x}"));
    }
    common::run_tool(ld.arg("-o").arg(&elf).arg(&obj))?;
    common::run_tool(
        Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&elf)
            .arg(&bin),
    )?;
    std::fs::read(&bin).map_err(|e| e.to_string())
}

#[test]
fn lesson_code_assembles_as_gnu_as_does() {
    if !["as", "ld", "objcopy", "nm"]
        .iter()
        .all(|t| common::require_tool(t))
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ringstep-lesson-as-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut problems = Vec::new();
    let mut compared = 0;
    for id in library::ids() {
        let Ok(l) = lesson::load_shipped(id).unwrap() else {
            continue; // reported by every_shipped_lesson_passes_its_checks
        };
        let symbols = &l.scenes[0].scenario.machine.symbols;
        for (i, section) in l.code.iter().enumerate() {
            match gnu_bytes(section, symbols, &dir) {
                Ok(bytes) if bytes == section.bytes => compared += bytes.len(),
                Ok(bytes) => {
                    let at = bytes
                        .iter()
                        .zip(&section.bytes)
                        .position(|(a, b)| a != b)
                        .unwrap_or(bytes.len().min(section.bytes.len()));
                    problems.push(format!(
                        "{id} [[code]] #{} ({}): differs from GNU as at {:#x} (as: {} bytes, ringstep: {} bytes)",
                        i + 1,
                        section.region,
                        section.base + at as u64,
                        bytes.len(),
                        section.bytes.len()
                    ));
                }
                Err(e) => problems.push(format!("{id} [[code]] #{}: {e}", i + 1)),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("compared {compared} bytes of lesson code with GNU as");
}

/// Every question of a shipped lesson explains its answer (shown once answered), and at
/// least a third of each lesson's questions are typed values the engine checks.
#[test]
fn questions_explain_themselves_and_a_third_are_typed() {
    for id in library::ids() {
        let l = lesson::load_shipped(id)
            .expect("shipped")
            .unwrap_or_else(|e| panic!("{e}"));
        let questions: Vec<_> = l
            .scenes
            .iter()
            .flat_map(|s| &s.steps)
            .filter_map(|st| st.question.as_ref())
            .collect();
        for q in &questions {
            assert!(
                q.explain.is_some(),
                "{id}: a question without explain at {}",
                q.loc
            );
        }
        let typed = questions.iter().filter(|q| q.choices.is_empty()).count();
        assert!(
            3 * typed >= questions.len(),
            "{id}: {typed} of {} questions are typed",
            questions.len()
        );
    }
}
