//! SVG and text frames: `ringstep render` and `ringstep export --format svg` write XML
//! that parses, holds the frame's text on the exact cell grid, escapes what XML needs,
//! handles wide characters, and is the same for the same inputs; text and ANSI frames
//! agree with the viewer's own `--render-once`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use quick_xml::events::Event;
use quick_xml::Reader;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ringstep::export::svg::{svg, CELL_H, CELL_W};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn run(args: &[&str]) -> Output {
    let config = tmp("no-config");
    std::fs::create_dir_all(&config).unwrap();
    Command::new(BIN)
        .args(args)
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("NO_COLOR")
        .env("XDG_CONFIG_HOME", &config)
        .stdin(Stdio::null())
        .output()
        .expect("the ringstep binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("export_svg");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join(name)
}

/// One `<tspan>`: its attributes and its text.
#[derive(Debug)]
struct Span {
    x: u32,
    text_length: u32,
    text: String,
}

/// Parse an SVG document: the root's width and height and every text span, by row.
fn parse(svg: &str) -> (u32, u32, Vec<(u32, Vec<Span>)>) {
    let mut r = Reader::from_str(svg);
    let (mut w, mut h) = (0, 0);
    let mut rows: Vec<(u32, Vec<Span>)> = Vec::new();
    let mut in_span = false;
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> Option<u32> {
        e.attributes()
            .map(|a| a.expect("a well-formed attribute"))
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.value.parse::<u32>().expect("a number"))
    };
    loop {
        match r.read_event().expect("the SVG is well-formed XML") {
            Event::Start(e) if e.name().as_ref() == "svg" => {
                w = attr(&e, "width").unwrap();
                h = attr(&e, "height").unwrap();
            }
            Event::Start(e) if e.name().as_ref() == "text" => {
                rows.push((attr(&e, "y").unwrap(), Vec::new()));
            }
            Event::Start(e) if e.name().as_ref() == "tspan" => {
                let span = Span {
                    x: attr(&e, "x").unwrap(),
                    text_length: attr(&e, "textLength").unwrap(),
                    text: String::new(),
                };
                rows.last_mut().expect("tspan inside text").1.push(span);
                in_span = true;
            }
            Event::End(e) if e.name().as_ref() == "tspan" => in_span = false,
            Event::Text(t) if in_span => push(&mut rows, &t),
            Event::GeneralRef(g) if in_span => {
                let c = match &*g {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity &{other};"),
                };
                push(&mut rows, c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (w, h, rows)
}

fn push(rows: &mut [(u32, Vec<Span>)], text: &str) {
    if let Some(s) = rows.last_mut().and_then(|r| r.1.last_mut()) {
        s.text.push_str(text);
    }
}

/// The text of a parsed row laid back on the grid: every span at its column.
fn row_text(spans: &[Span]) -> String {
    let mut line = String::new();
    for s in spans {
        let col = (s.x / CELL_W) as usize;
        while line.chars().count() < col {
            line.push(' ');
        }
        line.push_str(&s.text);
    }
    line
}

#[test]
fn a_rendered_svg_frame_parses_and_holds_the_frames_text_on_the_grid() {
    let svg_text = ok(&[
        "render", "sysenter", "--step", "7", "--lang", "en", "--format", "svg",
    ]);
    let (w, h, rows) = parse(&svg_text);
    assert_eq!((w, h), (120 * CELL_W, 40 * CELL_H));
    let text = ok(&["render", "sysenter", "--step", "7", "--lang", "en"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 40);
    // Every row with text is in the SVG, each span at its cell; the grid is exact.
    let mut seen = 0;
    for (y, spans) in &rows {
        let row = ((y - 14) / CELL_H) as usize;
        assert_eq!((y - 14) % CELL_H, 0, "baseline of row {row}");
        for s in spans {
            assert_eq!(s.x % CELL_W, 0, "{s:?}");
            assert_eq!(
                s.text_length,
                s.text.chars().count() as u32 * CELL_W,
                "{s:?}"
            );
        }
        // Spaces between spans are left to the background; the words are all there.
        let want: Vec<&str> = lines[row].split_whitespace().collect();
        let got = row_text(spans);
        assert_eq!(
            got.split_whitespace().collect::<Vec<_>>(),
            want,
            "row {row}"
        );
        assert_eq!(got.trim_end(), lines[row].trim_end(), "row {row}");
        seen += 1;
    }
    assert_eq!(seen, lines.iter().filter(|l| !l.trim().is_empty()).count());
    assert!(text.contains("mode transition, ring 3 -> ring 0"), "{text}");
    assert!(text.contains("<sysente"), "the frame has a `<` to escape");
    assert!(svg_text.contains("-&gt; ring 0") && svg_text.contains("&lt;sysente"));
    // Colours: the banner's magenta background, the kernel's red CPL.
    assert!(svg_text.contains(r##"fill="#bc3fbc""##), "magenta banner");
    assert!(svg_text.contains(r##"fill="#cd3131">CPL 0</tspan>"##));
}

#[test]
fn wide_characters_and_xml_specials_in_a_buffer() {
    let mut b = Buffer::empty(Rect::new(0, 0, 12, 2));
    b.set_string(0, 0, "a<b&\"c'", Style::new().fg(Color::Red));
    b.set_string(0, 1, "日本 x", Style::new().bg(Color::Blue));
    let s = svg(&b, "a <title> & more");
    let (_, _, rows) = parse(&s);
    assert_eq!(rows[0].1[0].text, "a<b&\"c'");
    assert_eq!(rows[0].1[0].text_length, 7 * CELL_W);
    // Two wide characters cover four cells; the space and x follow at column 5.
    let wide = &rows[1].1;
    assert_eq!(wide[0].text, "日本 x");
    assert_eq!(wide[0].x, 0);
    assert_eq!(wide[0].text_length, 6 * CELL_W);
    assert!(s.contains("<title>a &lt;title&gt; &amp; more</title>"));
    assert!(s.contains(&format!(
        r##"<rect x="0" y="{CELL_H}" width="{}" height="{CELL_H}" fill="#2472c8"/>"##,
        6 * CELL_W
    )));
}

#[test]
fn text_and_ansi_frames_match_the_viewers_render_once() {
    for (lesson, step, size) in [("sysenter", "7", "120x40"), ("faults", "3", "80x24")] {
        let viewer = ok(&[
            "run",
            lesson,
            "--render-once",
            "--at-step",
            step,
            "--size",
            size,
            "--lang",
            "de",
        ]);
        let text = ok(&[
            "render", lesson, "--step", step, "--size", size, "--lang", "de",
        ]);
        assert_eq!(text, viewer, "{lesson} step {step}");
        let ansi = ok(&[
            "render", lesson, "--step", step, "--size", size, "--lang", "de", "--format", "ansi",
        ]);
        assert!(ansi.contains("\x1b[38;5;"), "colour sequences");
        assert!(
            !ansi.contains("\x1b[H") && !ansi.contains(";1H"),
            "no cursor moves"
        );
        let plain: String = strip_sgr(&ansi);
        let plain: Vec<&str> = plain.lines().map(str::trim_end).collect();
        assert_eq!(plain, text.lines().collect::<Vec<_>>());
    }
}

fn strip_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            assert_eq!(chars.next(), Some('['));
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
                assert!(d.is_ascii_digit() || d == ';', "only SGR sequences: {d:?}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_svg_export_writes_one_file_per_step_and_the_same_bytes_twice() {
    let (a, b) = (tmp("a"), tmp("b"));
    for dir in [&a, &b] {
        let _ = std::fs::remove_dir_all(dir);
        ok(&[
            "export",
            "boot-msrs",
            "--format",
            "svg",
            "-o",
            dir.to_str().unwrap(),
            "--lang",
            "en",
            "--size",
            "100x30",
        ]);
    }
    let names = |d: &PathBuf| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let files = names(&a);
    assert_eq!(files, names(&b));
    assert_eq!(
        files.first().map(String::as_str),
        Some("scene-1-step-000.svg")
    );
    // One file per frame of the cast (the same walk through the lesson).
    let cast = ok(&[
        "export",
        "boot-msrs",
        "--format",
        "cast",
        "-o",
        "-",
        "--lang",
        "en",
        "--size",
        "100x30",
    ]);
    assert_eq!(files.len(), cast.lines().count() - 1);
    for f in &files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert_eq!(x, y, "{f} differs between two exports");
        let (w, h, _) = parse(std::str::from_utf8(&x).unwrap());
        assert_eq!((w, h), (100 * CELL_W, 30 * CELL_H), "{f}");
    }
    // The file of a state holds that state: the render of the same step, as SVG.
    let last = files.last().unwrap();
    let step: String = last
        .trim_end_matches(".svg")
        .rsplit('-')
        .next()
        .unwrap()
        .trim_start_matches('0')
        .to_string();
    let scene = last.split('-').nth(1).unwrap();
    let step = if step.is_empty() { "0".into() } else { step };
    let rendered = ok(&[
        "render",
        "boot-msrs",
        "--scene",
        scene,
        "--step",
        &step,
        "--lang",
        "en",
        "--size",
        "100x30",
        "--format",
        "svg",
    ]);
    assert_eq!(std::fs::read_to_string(a.join(last)).unwrap(), rendered);
}
