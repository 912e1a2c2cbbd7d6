//! The command line as a new user meets it: a lesson that does not load is reported
//! with its own error at file:line:col by every command that takes a lesson; a name
//! that is no lesson gets a did-you-mean; every `run` option works without `run`, and
//! a lesson id where a command is expected opens that lesson.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a command reports: standard error, and for `check` its report (stdout).
fn report(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("ringstep-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    Scratch(dir)
}

/// A small lesson that loads (tests/fixtures/lessons/false-claim.toml's shape).
const GOOD: &str = r#"[lesson]
title.en = "Fixture"
title.de = "Fixture"
summary.en = "A lesson."
summary.de = "Eine Lektion."

[machine]
preset = "linux-2.6-i386"

[[code]]
region = "user_text"
text = '''
main:
	pushl %ecx
done:
	nop
'''

[[scene]]
title.en = "Scene"
title.de = "Szene"
start = "main"
stop_at = ["done"]

[[scene.step]]
at = "main"
text.en = "Before the push."
text.de = "Vor dem Push."
"#;

/// Each command that takes a lesson, with the lesson in place of `{}`.
fn commands(lesson: &str) -> Vec<Vec<String>> {
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.replace("{}", lesson))
            .collect::<Vec<_>>()
    };
    vec![
        with(&["check", "{}"]),
        with(&["run", "{}", "--render-once"]),
        with(&["{}", "--render-once"]),
        with(&["export", "{}", "--format", "html", "-o", "-"]),
        with(&["render", "{}"]),
        with(&["trace", "{}"]),
    ]
}

/// Every command reports `expected` for `lesson`, and fails.
fn all_report(lesson: &Path, expected: &str) {
    let name = lesson.to_string_lossy();
    for args in commands(&name) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let r = report(&o);
        assert!(
            r.contains(expected),
            "{args:?}: expected `{expected}`, got\n{r}"
        );
        assert!(!r.contains("neither"), "{args:?}: {r}");
    }
}

#[test]
fn the_good_lesson_loads_everywhere() {
    let dir = scratch("good");
    let path = dir.join("good.toml");
    std::fs::write(&path, GOOD).unwrap();
    let name = path.to_string_lossy();
    for args in commands(&name) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert!(o.status.success(), "{args:?}: {}", report(&o));
    }
}

#[test]
fn a_toml_syntax_error_is_reported_at_its_place() {
    let dir = scratch("syntax");
    let path = dir.join("syntax.toml");
    std::fs::write(&path, GOOD.replace("[[scene]]", "[[scene]")).unwrap();
    all_report(
        &path,
        &format!("{}:19:9: unclosed array table", path.display()),
    );
}

#[test]
fn an_integer_too_large_is_reported_at_its_place() {
    let dir = scratch("integer");
    let path = dir.join("integer.toml");
    let text = GOOD.replace("[[scene]]", "[[scene]]\nmax_steps = 99999999999999999999");
    std::fs::write(&path, text).unwrap();
    all_report(
        &path,
        &format!(
            "{}:20:13: `99999999999999999999` does not fit in 64 bits",
            path.display()
        ),
    );
}

#[test]
fn invalid_utf8_is_reported_at_its_place() {
    let dir = scratch("utf8");
    let path = dir.join("utf8.toml");
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("Before").unwrap();
    bytes[at] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    all_report(
        &path,
        &format!("{}:27:12: not UTF-8 text (byte 0xff)", path.display()),
    );
}

#[test]
fn a_file_that_cannot_be_read_is_reported_with_the_reason() {
    // A directory cannot be read as a file, even by root.
    let dir = scratch("unreadable");
    let path = dir.join("lesson.toml");
    std::fs::create_dir_all(&path).unwrap();
    all_report(&path, &format!("{}: ", path.display()));
    let missing = dir.join("missing.toml");
    all_report(&missing, &format!("{}: ", missing.display()));
}

#[test]
fn an_unknown_name_gets_a_did_you_mean() {
    for args in commands("int08") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(if args[0] == "check" { 1 } else { 2 })
        );
        let r = report(&o);
        assert!(
            r.contains("no such lesson `int08` (see `ringstep list`); did you mean `int80`?"),
            "{args:?}: {r}"
        );
    }
}

#[test]
fn a_shipped_id_wins_over_a_file_of_that_name() {
    // A lab directory with a compiled `int80` program in it.
    let dir = scratch("shadow");
    std::fs::write(dir.join("int80"), [0x7f, b'E', b'L', b'F', 0xff]).unwrap();
    let o = Command::new(BIN)
        .args(["check", "int80"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(text(&o.stdout).starts_with("ok   int80:"), "{}", report(&o));
    let o = Command::new(BIN)
        .args(["check", "./int80"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(
        report(&o).contains("./int80:1:5: not UTF-8"),
        "{}",
        report(&o)
    );
}

fn frame(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn every_run_option_works_without_run() {
    let cases: &[&[&str]] = &[
        &["--lang", "de"],
        &["--no-animation"],
        &["--autoplay", "3"],
        &["--high-contrast"],
        &["--syntax", "intel"],
        &["int80"],
        &["int80", "--lang", "de", "--at-step", "3"],
        &["--preset", "linux-x86_64"],
        &["--bytes", "90 90 c3"],
    ];
    for extra in cases {
        let mut top = extra.to_vec();
        top.push("--render-once");
        let mut sub = vec!["run"];
        sub.extend_from_slice(&top);
        assert_eq!(frame(&top), frame(&sub), "{extra:?}");
    }
    assert!(frame(&["--lang", "de", "--render-once"]).contains("Szene 1/1"));
    assert!(frame(&["int80", "--render-once"]).contains("int $0x80"));
}

#[test]
fn misplaced_words_get_a_hint() {
    let o = run(&["chek"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("no such lesson or command `chek`"), "{err}");
    assert!(err.contains("did you mean `check`?"), "{err}");

    let o = run(&["--lang", "de", "run"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("`run` is a command: write options after it"),
        "{err}"
    );
}

#[test]
fn the_top_level_help_lists_the_viewer_options() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = text(&o.stdout);
    assert!(
        help.contains("Usage: ringstep [OPTIONS] [LESSON]"),
        "{help}"
    );
    assert!(
        help.contains("Viewer options (as `ringstep run`):"),
        "{help}"
    );
    assert!(help.contains("--no-animation"), "{help}");
    let man = text(&run(&["man"]).stdout);
    assert!(man.contains("\\-\\-autoplay"), "{man}");
    let fish = text(&run(&["completions", "fish"]).stdout);
    assert!(
        fish.contains("complete -c ringstep -n \"__fish_use_subcommand\" -l autoplay")
            || fish.contains("-l autoplay"),
        "{fish}"
    );
}
