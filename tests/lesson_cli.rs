//! `ringstep list`, `ringstep check` and `ringstep trace LESSON` end to end.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ringstep")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn list_shows_titles_in_the_chosen_language() {
    let en = run(&["list"]);
    assert!(
        stdout(&en).contains("The old way: int $0x80"),
        "{}",
        stdout(&en)
    );
    let de = run(&["list", "--lang", "de"]);
    assert!(
        stdout(&de).contains("Der alte Weg: int $0x80"),
        "{}",
        stdout(&de)
    );
    let from_locale = Command::new(BIN)
        .arg("list")
        .env("LANG", "de_DE.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    assert!(stdout(&from_locale).contains("Der alte Weg"));
}

#[test]
fn check_passes_a_sound_lesson_and_fails_a_false_claim() {
    let ok = run(&["check", "int80"]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    assert!(stdout(&ok).starts_with("ok   int80:"), "{}", stdout(&ok));

    let bad = run(&["check", "tests/fixtures/lessons/false-claim.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    assert!(text.starts_with("FAIL false-claim:"), "{text}");
    assert!(
        text.contains(
            "false-claim.toml:51:7: check `esp` fails: it is 0xbffff3f4, expected 0xbffff3f0"
        ),
        "{text}"
    );
}

#[test]
fn check_reports_a_lesson_that_does_not_exist() {
    let o = run(&["check", "int08"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("no such lesson `int08` (see `ringstep list`)"),
        "{text}"
    );
    assert!(text.contains("did you mean `int80`"), "{text}");
}

#[test]
fn check_reports_a_broken_lesson_with_its_position() {
    let o = run(&[
        "check",
        "tests/fixtures/lessons/broken/unknown-register.toml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(
            "unknown-register.toml:30:7: unknown register or symbol `exa`; did you mean `eax`?"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn trace_runs_a_lesson_scene() {
    let o = run(&["trace", "int80", "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let last = text.lines().last().unwrap();
    assert!(last.contains("\"kind\":\"stop\""), "{last}");
    assert!(last.contains("\"reason\":\"end\""), "{last}");
    assert!(
        text.contains("\"asm\":\"int $0x80\""),
        "no int $0x80 in the trace"
    );

    let second = run(&["trace", "int80", "--scene", "2"]);
    assert!(second.status.success());
    let none = run(&["trace", "int80", "--scene", "9"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr)
        .contains("--scene 9: lesson `int80` has scenes 1 to 2"));
}
