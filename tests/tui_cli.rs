//! `ringstep run` on the command line: --render-once frames, option errors, key map
//! errors, and the message when there is no terminal.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .output()
        .expect("the ringstep binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn render_once_prints_a_frame_without_a_terminal() {
    let o = run(&["run", "--render-once", "--size", "160x48"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert_eq!(out.lines().count(), 48);
    assert!(out.lines().all(|l| l.chars().count() <= 160));
    assert!(out.contains("__kernel_vsyscall and sysenter"), "{out}");
    assert!(out.contains("IA32_SYSENTER_ESP"), "{out}");
    let o = run(&[
        "run",
        "sysenter",
        "--render-once",
        "--at-step",
        "7",
        "--lang",
        "de",
    ]);
    let out = text(&o.stdout);
    assert!(
        out.contains("Moduswechsel, Ring 3 -> Ring 0, PID unverändert"),
        "{out}"
    );
}

#[test]
fn the_other_lessons_and_presets_open() {
    for args in [
        vec!["run", "syscall64", "--render-once", "--at-step", "12"],
        vec!["run", "--preset", "linux-x86_64", "--render-once"],
        vec!["run", "faults", "--render-once", "--size", "80x24"],
        vec!["run", "int80", "--render-once", "--syntax", "intel"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains("CPL"), "{args:?}");
    }
}

#[test]
fn no_terminal_points_at_trace() {
    for args in [vec![], vec!["run"], vec!["run", "int80"]] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o.stderr);
        assert!(err.contains("needs a terminal"), "{err}");
        assert!(err.contains("ringstep trace"), "{err}");
    }
}

#[test]
fn bad_options_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "nosuch", "--render-once"],
            "no such lesson `nosuch`",
        ),
        (&["run", "--autoplay", "0", "--render-once"], "--autoplay 0"),
        (
            &["run", "--render-once", "--size", "80by24"],
            "--size 80by24",
        ),
        (&["run", "--preset", "nope", "--render-once"], "--preset"),
        (
            &["run", "--keymap", "/nonexistent/keys.toml", "--render-once"],
            "cannot read the key map",
        ),
    ];
    for (args, msg) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
}

#[test]
fn a_user_keymap_is_checked_and_used() {
    let dir = std::env::temp_dir().join(format!("ringstep-keymap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[step_forward]\nkeys = [\"space\"]\n\n[jump]\nkeys = [\"j\"]\n",
    )
    .unwrap();
    let o = run(&["run", "--keymap", bad.to_str().unwrap(), "--render-once"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("bad.toml:4:1: unknown action `jump`"), "{err}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "[help]\nkeys = [\"f2\"]\n").unwrap();
    let o = run(&["run", "--keymap", good.to_str().unwrap(), "--render-once"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("F2 help"), "{}", text(&o.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
