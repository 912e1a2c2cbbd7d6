//! `ringstep export --format cast`: the recording is asciicast v2 (a header object with
//! version 2, width and height, then `[time, "o", data]` events with times that only
//! grow), a terminal emulator replaying it shows exactly the frames `ringstep render`
//! draws, and the same inputs give the same bytes.

mod common;

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

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

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("export_cast");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join(name)
}

/// The header and the events of an asciicast v2 file, checked against the format.
fn parse_cast(text: &str) -> (serde_json::Map<String, Value>, Vec<(f64, String)>) {
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("a header line")).unwrap();
    let header = header
        .as_object()
        .expect("the header is a JSON object")
        .clone();
    assert_eq!(header.get("version"), Some(&Value::from(2)), "{header:?}");
    for key in ["width", "height"] {
        let v = header.get(key).and_then(Value::as_u64);
        assert!(v.is_some_and(|v| v > 0), "{key} in {header:?}");
    }
    assert!(
        !header.contains_key("timestamp"),
        "no time stamp: {header:?}"
    );
    let mut events = Vec::new();
    let mut last = 0.0;
    for (i, line) in lines.enumerate() {
        let e: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("event {i}: {e}"));
        let e = e.as_array().expect("an event is a JSON array");
        assert_eq!(e.len(), 3, "event {i}: {e:?}");
        let t = e[0].as_f64().expect("the event time is a number");
        assert!(t >= last, "event {i} at {t} s comes before {last} s");
        last = t;
        assert_eq!(e[1], "o", "event {i} is output");
        events.push((
            t,
            e[2].as_str().expect("output data is a string").to_string(),
        ));
    }
    (header, events)
}

fn screen_rows(p: &vt100::Parser, cols: u16) -> Vec<String> {
    p.screen()
        .rows(0, cols)
        .map(|r| r.trim_end().to_string())
        .collect()
}

#[test]
fn the_cast_is_asciicast_v2_and_replays_to_the_rendered_frames() {
    let path = tmp("sysenter.cast");
    let p = path.to_str().unwrap();
    ok(&[
        "export",
        "sysenter",
        "--format",
        "cast",
        "-o",
        p,
        "--size",
        "100x30",
        "--lang",
        "en",
        "--step-delay",
        "0.25",
    ]);
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, events) = parse_cast(&text);
    assert_eq!(header["width"], 100);
    assert_eq!(header["height"], 30);
    assert_eq!(header["title"], "ringstep: __kernel_vsyscall and sysenter");
    // One frame per state: the start and after each of the lesson's 57 instructions.
    assert_eq!(events.len(), 58);
    for (i, (t, _)) in events.iter().enumerate() {
        assert_eq!(*t, i as f64 * 0.25, "frame {i} time");
    }
    // Replayed by a terminal emulator, each frame shows what `render` draws.
    let mut term = vt100::Parser::new(30.try_into().unwrap(), 100.try_into().unwrap(), 0);
    for (i, (_, data)) in events.iter().enumerate() {
        term.process(data.as_bytes());
        if ![0, 1, 6, 7, 30, 57].contains(&i) {
            continue;
        }
        let step = i.to_string();
        let want = ok(&[
            "render", "sysenter", "--step", &step, "--size", "100x30", "--lang", "en",
        ]);
        let want: Vec<String> = String::from_utf8(want)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(screen_rows(&term, 100), want, "frame {i}");
    }
    assert!(term.screen().hide_cursor(), "the cursor stays hidden");
    // Attributes and colours survive: the header's " ringstep " badge is in reverse video
    // (not white on colour 8, which is the background of solarized-like palettes), the
    // CPL badge green.
    let badge = term.screen().cell(0, 1).unwrap();
    assert_eq!(badge.contents(), "r");
    assert!(badge.inverse());
    let cpl = (0..100)
        .find(|&x| {
            term.screen()
                .cell(0, x)
                .is_some_and(|c| c.contents() == "C")
        })
        .and_then(|x| term.screen().cell(0, x))
        .unwrap();
    assert_ne!(cpl.fgcolor(), vt100::Color::Default);
}

#[test]
fn the_same_inputs_give_the_same_cast() {
    let args = |out: &str, lang: &'static str| {
        vec![
            "export".to_string(),
            "int80".into(),
            "--format".into(),
            "cast".into(),
            "-o".into(),
            out.into(),
            "--lang".into(),
            lang.into(),
        ]
    };
    let (a, b, c) = (tmp("a.cast"), tmp("b.cast"), tmp("c.cast"));
    for (p, lang) in [(&a, "de"), (&b, "de"), (&c, "en")] {
        let args = args(p.to_str().unwrap(), lang);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args);
    }
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert_eq!(a, b, "two exports of the same lesson differ");
    assert_ne!(a, c, "--lang changes the cast");
    // `-o -` writes to standard output, the same bytes.
    let out = ok(&[
        "export", "int80", "--format", "cast", "-o", "-", "--lang", "de",
    ]);
    assert_eq!(out, a);
}

#[test]
fn bad_export_options_are_usage_errors() {
    for (args, message) in [
        (
            vec![
                "export",
                "sysenter",
                "--format",
                "cast",
                "-o",
                "-",
                "--step-delay",
                "0",
            ],
            "--step-delay 0: give the seconds between frames",
        ),
        (
            vec![
                "export", "sysenter", "--format", "cast", "-o", "-", "--size", "80",
            ],
            "--size 80: write it as WIDTHxHEIGHT",
        ),
        (
            vec!["export", "nosuch", "--format", "html", "-o", "-"],
            "no such lesson `nosuch` (see `ringstep list`)",
        ),
        (
            vec!["export", "sysenter", "--format", "svg", "-o", "-"],
            "give a directory with -o",
        ),
        (
            vec!["render", "sysenter", "--step", "58"],
            "--step 58: scene 1 of lesson `sysenter` has steps 0 to 57",
        ),
        (
            vec!["render", "sysenter", "--scene", "2"],
            "--scene 2: lesson `sysenter` has scenes 1 to 1",
        ),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let file = tmp("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = run(&[
        "export",
        "sysenter",
        "--format",
        "svg",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));
}
