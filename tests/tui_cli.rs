//! `ringstep run` on the command line: --render-once frames, option errors, key map
//! errors, and the message when there is no terminal.

mod common;

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
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
        "--size",
        "160x48",
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
    assert!(err.contains("bad.toml:4:2: unknown action `jump`"), "{err}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "[help]\nkeys = [\"f2\"]\n").unwrap();
    let o = run(&["run", "--keymap", good.to_str().unwrap(), "--render-once"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("F2 help"), "{}", text(&o.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_with_config(args: &[&str], home: &std::path::Path, xdg: Option<&std::path::Path>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null());
    if let Some(x) = xdg {
        c.env("XDG_CONFIG_HOME", x);
    }
    c.output().expect("the ringstep binary runs")
}

#[test]
fn an_unreachable_default_keymap_is_absent_but_a_broken_one_is_an_error() {
    let dir = std::env::temp_dir().join(format!("ringstep-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let once = ["run", "--render-once"];
    // $HOME is a file: ~/.config/ringstep cannot exist, so there is no user key map.
    let home_file = dir.join("home-is-a-file");
    std::fs::write(&home_file, "").unwrap();
    let o = run_with_config(&once, &home_file, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A missing $HOME, or a missing config folder.
    let o = run_with_config(&once, &dir.join("no-such-home"), None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A key map that is there but is a folder, or invalid: an error naming it.
    let xdg = dir.join("xdg");
    let path = xdg.join("ringstep").join("keymap.toml");
    std::fs::create_dir_all(&path).unwrap();
    let o = run_with_config(&once, &dir, Some(&xdg));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("{}: cannot read the key map", path.display())),
        "{err}"
    );
    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, "[quit]\nkeys = []\n").unwrap();
    let o = run_with_config(&once, &dir, Some(&xdg));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:1:2: [quit] needs at least one key",
            path.display()
        )),
        "{err}"
    );
    // A config folder that cannot be searched counts as absent (not testable as root,
    // who may search any folder).
    std::fs::write(&path, "[quit]\nkeys = [\"x\"]\n").unwrap();
    let locked = xdg.join("ringstep");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::metadata(&path).is_ok() {
        eprintln!("notice: running with privileges, the unsearchable folder case is skipped");
    } else {
        let o = run_with_config(&once, &dir, Some(&xdg));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
