//! Loading lessons: the example in lessons/FORMAT.md works and passes its checks, and
//! every broken fixture under tests/fixtures/lessons/broken fails with the message its
//! first line announces (`# expect: LINE:COL: message`), at that place.

use std::path::{Path, PathBuf};

use ringstep::lesson::{self, check, FileSource};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lessons")
}

/// The first ```toml block of lessons/FORMAT.md.
fn format_example() -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/FORMAT.md"))
            .unwrap();
    let start = doc.find("```toml\n").expect("FORMAT.md has a toml example") + 8;
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_string()
}

#[test]
fn the_format_example_loads_and_its_checks_hold() {
    let text = format_example();
    let l = lesson::load_str(&text, "FORMAT.md", "example", &FileSource::Shipped)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.scenes.len(), 1);
    assert_eq!(l.scenes[0].steps.len(), 2);
    let report = check::check(&l);
    let failures: Vec<String> = report.failures().map(|f| f.to_string()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.checks(), 5);
    assert_eq!(report.questions(), 1);
}

/// A checkpoint that is false is reported at its line, with both values.
#[test]
fn a_false_checkpoint_fails_the_check() {
    let text = format_example().replace(
        "check.esp = \"initial.esp - 8\"",
        "check.esp = \"initial.esp - 12\"",
    );
    let l = lesson::load_str(&text, "FORMAT.md", "example", &FileSource::Shipped).unwrap();
    let report = check::check(&l);
    let failures: Vec<String> = report.failures().map(|f| f.to_string()).collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("check `esp` fails: it is 0xbffff3f4, expected 0xbffff3f0"),
        "{}",
        failures[0]
    );
}

/// A question whose choices do not single out the engine's answer fails the check.
#[test]
fn a_question_without_one_right_choice_fails() {
    let text = format_example().replace("value = \"esp + 4\"", "value = \"esp - 4\"");
    let l = lesson::load_str(&text, "FORMAT.md", "example", &FileSource::Shipped).unwrap();
    let report = check::check(&l);
    let failures: Vec<String> = report.failures().map(|f| f.to_string()).collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("2 choices equal the answer"),
        "{}",
        failures[0]
    );
}

#[test]
fn broken_fixtures_fail_with_their_message() {
    let dir = fixtures().join("broken");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 15,
        "expected the broken fixtures in {}",
        dir.display()
    );
    let mut problems = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a `# expect:` line", path.display()));
        let (pos, message) = expect.split_at(expect.find(": ").unwrap());
        let message = &message[2..];
        match lesson::load_file(path) {
            Ok(_) => problems.push(format!("{}: loaded, expected an error", path.display())),
            Err(e) => {
                let file_name = path.file_name().unwrap().to_string_lossy().to_string();
                let got_pos = format!("{}:{}", e.line.unwrap_or(0), e.col.unwrap_or(0));
                let in_this_file = e.file.ends_with(&file_name);
                if got_pos != pos || !e.message.contains(message) || !in_this_file {
                    problems.push(format!(
                        "{file_name}: expected {pos}: {message}\n   got {e}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
