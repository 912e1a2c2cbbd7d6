//! `ringstep trace` output is byte-for-byte what it was before the trace writer was
//! rewritten for speed: tests/golden/trace.txt holds the output of the old
//! implementation (serde_json maps, one `format!` per line) for every shipped lesson
//! scene, both presets, both syntaxes, `--bytes` faults and every kind of stop
//! condition, in both formats. Short lines are kept as they are; lines longer than
//! `HASHED_OVER` characters (JSON `init` and `step` records) as their length and FNV-1a
//! hash, so the file stays small while still pinning every byte.
//!
//! To regenerate after an intended change of output: `RINGSTEP_BLESS_TRACE=1 cargo
//! test --test trace_golden` (and say why in the commit).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");
const GOLDEN: &str = "tests/golden/trace.txt";
const HASHED_OVER: usize = 300;
/// Starts the header line of each run in the golden file.
const HEADER: &str = "=== run: ";

const LESSON_SCENES: &[(&str, usize)] = &[
    ("boot-msrs", 3),
    ("faults", 5),
    ("int80", 2),
    ("mode-vs-context", 2),
    ("restart", 3),
    ("syscall-basics", 1),
    ("syscall64", 1),
    ("sysenter", 1),
];

/// Runs that are not a plain lesson scene; each runs in both formats.
const EXTRA: &[&[&str]] = &[
    &[],
    &["--preset", "linux-x86_64"],
    &["--syntax", "intel"],
    &["--preset", "linux-x86_64", "--syntax", "intel"],
    &["--max-steps", "0"],
    &["--max-steps", "3"],
    &["restart", "--scene", "2", "--max-steps", "100000"],
    &[
        "--bytes",
        "51 52 55 89 e5 0f 34",
        "--at",
        "0xffffe400",
        "--max-steps",
        "6",
    ],
    &["--bytes", "0f 30", "--at", "0x08048000"],
    &["--bytes", "0f a2", "--at", "0x08048000"],
    &["sysenter", "--break", "sysenter_entry"],
    &["sysenter", "--break", "sysenter_entry if eax != 20"],
    &[
        "sysenter",
        "--break",
        "sysenter_entry if eax == 20",
        "--watch",
        "ebp",
    ],
    &["sysenter", "--watch", "mem 0xbffff3f4,4"],
    &["sysenter", "--watch", "eax"],
    &["boot-msrs", "--watch", "msr IA32_SYSENTER_CS"],
    &["sysenter", "--until", "cpl"],
    &["--preset", "linux-x86_64", "--until", "cpl"],
    &["faults", "--until", "fault"],
    &["faults", "--scene", "2", "--until", "fault"],
    &["mode-vs-context", "--scene", "2", "--until", "cpl"],
];

fn cases() -> Vec<Vec<String>> {
    let mut runs: Vec<Vec<String>> = Vec::new();
    for (lesson, scenes) in LESSON_SCENES {
        for scene in 1..=*scenes {
            runs.push(vec![
                lesson.to_string(),
                "--scene".into(),
                scene.to_string(),
            ]);
        }
    }
    runs.extend(
        EXTRA
            .iter()
            .map(|a| a.iter().map(|s| s.to_string()).collect()),
    );
    let mut out = Vec::new();
    for run in runs {
        for format in ["text", "json"] {
            let mut args = vec!["trace".to_string()];
            args.extend(run.iter().cloned());
            args.extend(["--format".to_string(), format.to_string()]);
            out.push(args);
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn golden_line(line: &str) -> String {
    if line.len() > HASHED_OVER {
        format!("#{:016x} {}", fnv1a(line.as_bytes()), line.len())
    } else {
        line.to_string()
    }
}

/// The golden text of one run: a header line, then one line per output line.
fn render(args: &[String]) -> String {
    let o = Command::new(BIN)
        .args(args)
        .output()
        .expect("the ringstep binary runs");
    let stdout = String::from_utf8(o.stdout).expect("stdout is UTF-8");
    assert_eq!(
        o.status.code(),
        Some(0),
        "ringstep {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.ends_with('\n'),
        "{args:?}: output ends with a newline"
    );
    let mut s = format!("{HEADER}{}\n", args.join(" | "));
    for l in stdout.lines() {
        s.push_str(&golden_line(l));
        s.push('\n');
    }
    s
}

#[test]
fn trace_output_is_byte_identical_to_the_golden_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let now: Vec<String> = cases().iter().map(|a| render(a)).collect();
    if std::env::var_os("RINGSTEP_BLESS_TRACE").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("mkdir");
        std::fs::write(&path, now.concat()).expect("write the golden file");
        return;
    }
    let golden = std::fs::read_to_string(&path).expect("tests/golden/trace.txt exists");
    let mut expected: Vec<String> = Vec::new();
    for l in golden.lines() {
        if l.starts_with(HEADER) || expected.is_empty() {
            expected.push(String::new());
        }
        if let Some(last) = expected.last_mut() {
            last.push_str(l);
            last.push('\n');
        }
    }
    assert_eq!(expected.len(), now.len(), "number of runs in {GOLDEN}");
    for (case, exp) in now.iter().zip(&expected) {
        if case == exp {
            continue;
        }
        let first = case
            .lines()
            .zip(exp.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!(
            "{}: output differs from {GOLDEN}; first differing line (index, now, golden): \
             {first:?} (lines now {}, golden {})",
            case.lines().next().unwrap_or(""),
            case.lines().count(),
            exp.lines().count()
        );
    }
}
