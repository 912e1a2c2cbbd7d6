//! The screenshot and the recording in assets/ (shown at the top of README.md) are what
//! the current code generates with the commands the README gives, so they cannot go
//! stale; and the shell completions and manual page come out of the clap definitions.

mod common;

use std::process::Output;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

fn ok(args: &[&str]) -> Vec<u8> {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// The screenshot: written to standard output.
const SCREENSHOT: [&str; 11] = [
    "render",
    "sysenter",
    "--step",
    "7",
    "--size",
    "120x40",
    "--lang",
    "en",
    "--format",
    "svg",
    "> assets/screenshot.svg",
];

/// The recording: written by -o.
const CAST: [&str; 13] = [
    "export",
    "sysenter",
    "--format",
    "cast",
    "--size",
    "120x40",
    "--lang",
    "en",
    "--step-delay",
    "1.5",
    "-o",
    "-",
    "> assets/sysenter.cast",
];

#[test]
fn the_committed_assets_are_what_the_code_generates() {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).unwrap();
    for (cmd, file) in [
        (&SCREENSHOT[..], "assets/screenshot.svg"),
        (&CAST[..], "assets/sysenter.cast"),
    ] {
        let line = format!("cargo run --release -- {}", cmd.join(" "));
        assert!(
            readme.contains(&line),
            "README.md should give the command that makes {file}: {line}"
        );
        let generated = ok(&cmd[..cmd.len() - 1]);
        let committed = std::fs::read(format!("{ROOT}/{file}")).unwrap();
        assert!(
            generated == committed,
            "{file} is stale: regenerate it with `{line}`"
        );
    }
    assert!(
        readme.contains("](assets/screenshot.svg)"),
        "README shows it"
    );
    assert!(readme.contains("(assets/sysenter.cast)"), "README links it");
}

#[test]
fn completions_and_the_manual_page_come_from_the_cli_definitions() {
    let bash = String::from_utf8(ok(&["completions", "bash"])).unwrap();
    assert!(bash.contains("_ringstep()"), "{bash}");
    for word in ["export", "render", "--step-delay", "completions", "trace"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let zsh = String::from_utf8(ok(&["completions", "zsh"])).unwrap();
    assert!(zsh.starts_with("#compdef ringstep"), "{zsh}");
    let fish = String::from_utf8(ok(&["completions", "fish"])).unwrap();
    assert!(fish.contains("complete -c ringstep"), "{fish}");
    let o = run(&["completions", "tcsh"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let man = String::from_utf8(ok(&["man"])).unwrap();
    assert!(
        man.starts_with(".ie"),
        "roff: {}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains(".TH ringstep 1"), "{man}");
    assert!(
        man.contains("Watch an x86 CPU cross from user mode"),
        "{man}"
    );
    // The main page refers to ringstep-export(1); `ringstep man export` is that page.
    assert!(man.contains("ringstep\\-export(1)"), "{man}");
    let export = String::from_utf8(ok(&["man", "export"])).unwrap();
    assert!(export.contains(".TH ringstep-export 1"), "{export}");
    assert!(export.contains("\\-\\-step\\-delay"), "{export}");
    let o = run(&["man", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("man nosuch: no such subcommand"));
}
