//! Inputs that once made ringstep abort, hang or grow without limit (issue 12): each now
//! ends quickly with a located message. Library tests run on a thread with the default
//! 2 MiB test stack, so a recursion that only a bigger stack survives fails here too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringstep::lesson::{self, FileSource};
use ringstep::tui::keymap::Keymap;

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringstep-bounded-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Run `f` on a thread with a 2 MiB stack (the default for test threads).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("the thread finished without overflowing its stack")
}

/// Run ringstep with `args`; its exit code and output (stdout then stderr). Killed (and
/// the test failed) after 60 s, a generous backstop on a loaded machine.
fn ringstep(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringstep starts");
    // Read both pipes while waiting, so that a full pipe cannot stall the child.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringstep {args:?} still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = [
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ]
    .concat();
    (status.code(), String::from_utf8_lossy(&text).into())
}

/// Make a FIFO at `path`; false (after a notice) when `mkfifo` is missing outside CI.
fn mkfifo(path: &Path) -> bool {
    match Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => true,
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "mkfifo failed in CI: {other:?}"
            );
            eprintln!("notice: mkfifo unavailable ({other:?}); FIFO case skipped");
            false
        }
    }
}

/// The first ```toml block of lessons/FORMAT.md, a small complete lesson.
fn format_example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/FORMAT.md");
    let doc = std::fs::read_to_string(path).expect("FORMAT.md");
    let start = doc.find("```toml\n").expect("toml example") + 8;
    let len = doc[start..].find("```").expect("end of example");
    doc[start..start + len].to_string()
}

/// The example lesson with its code read from `file` instead.
fn lesson_with_code_file(file: &str) -> String {
    let ex = format_example();
    let start = ex.find("text = '''").expect("code text");
    let end = start + ex[start..].find("'''\n\n").expect("end of code") + 4;
    format!("{}file = \"{file}\"\n{}", &ex[..start], &ex[end..])
}

// ---------------------------------------------------------------------------------
// Files that are not regular files

#[test]
fn a_lesson_including_dev_zero_or_a_fifo_is_refused() {
    let dir = temp_dir("lesson-special");
    let fifo = dir.join("code.fifo");
    let mut cases = vec![("/dev/zero".to_string(), "a character device")];
    if mkfifo(&fifo) {
        cases.push((fifo.display().to_string(), "a FIFO"));
    }
    for (file, what) in cases {
        let text = lesson_with_code_file(&file);
        let files = FileSource::Disk(dir.clone());
        let err =
            on_small_stack(move || lesson::load_str(&text, "x.toml", "x", &files).map(|_| ()))
                .expect_err("special file refused");
        let msg = err.to_string();
        assert!(
            msg.contains(what) && msg.contains("not a regular file"),
            "{msg}"
        );
        assert!(msg.starts_with("x.toml:"), "located in the lesson: {msg}");
    }
}

#[test]
fn the_cli_refuses_special_files_for_every_input_option() {
    let dir = temp_dir("cli-special");
    let fifo = dir.join("in.fifo");
    let have_fifo = mkfifo(&fifo);
    let asm = dir.join("ok.S");
    std::fs::write(&asm, "nop\n").expect("write");
    let lesson = dir.join("lesson.toml");
    std::fs::write(&lesson, lesson_with_code_file("/dev/zero")).expect("write");
    let (fifo, asm, lesson) = (
        fifo.display().to_string(),
        asm.display().to_string(),
        lesson.display().to_string(),
    );
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["trace", "--asm", "/dev/zero"],
        vec!["trace", "--elf", "/dev/zero"],
        vec!["trace", "--machine", "/dev/zero", "--asm", &asm],
        vec!["trace", "/dev/zero"],
        vec!["check", &lesson],
    ];
    if have_fifo {
        cases.push(vec!["trace", "--asm", &fifo]);
        cases.push(vec!["trace", "--elf", &fifo]);
    }
    for args in cases {
        let (code, err) = ringstep(&args);
        assert_ne!(code, Some(0), "{args:?}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

#[test]
fn a_keymap_that_is_a_device_is_refused() {
    let err = Keymap::load(Some(Path::new("/dev/zero")), true).expect_err("refused");
    assert!(
        err.contains("/dev/zero") && err.contains("a character device"),
        "{err}"
    );
}

#[test]
fn files_over_the_size_limit_are_refused() {
    let dir = temp_dir("too-large");
    let big = dir.join("big.S");
    let file = std::fs::File::create(&big).expect("create");
    // Sparse: no disk space is used.
    file.set_len(ringstep::userfile::MAX_TEXT_BYTES + 1)
        .expect("set_len");
    let (code, err) = ringstep(&["trace", "--asm", &big.display().to_string()]);
    assert_ne!(code, Some(0));
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

// ---------------------------------------------------------------------------------
// Assembler expressions and `.set` chains

/// Assemble `text` as 32-bit code on a 2 MiB stack: its bytes, or the error shown.
fn assemble(text: String) -> Result<Vec<u8>, String> {
    on_small_stack(move || {
        let sec = ringstep::asm::SourceSection {
            name: "t.S",
            base: 0x1000,
            text: &text,
        };
        let layout = ringstep::asm::layout(&[sec], 32).map_err(|e| e.to_string())?;
        let out = layout.encode(&|_| None, &[]).map_err(|e| e.to_string())?;
        Ok(out.into_iter().flat_map(|a| a.bytes).collect())
    })
}

#[test]
fn deeply_nested_assembler_expressions_are_refused_at_their_column() {
    let n = ringstep::asm::MAX_EXPR_NESTING;
    let parens = |k: usize| format!(".long {}1{}\n", "(".repeat(k), ")".repeat(k));
    let negs = |k: usize| format!(".long {}1\n", "-".repeat(k));
    assert_eq!(assemble(parens(n)), Ok(vec![1, 0, 0, 0]));
    let minus_one = |k: usize| {
        if k % 2 == 1 {
            vec![0xff; 4]
        } else {
            vec![1, 0, 0, 0]
        }
    };
    assert_eq!(assemble(negs(n)), Ok(minus_one(n)));
    assert_eq!(assemble(negs(n - 1)), Ok(minus_one(n - 1)));
    let msg = format!(
        "line 1, column {}: expression nested too deeply (at most {n} levels of parentheses and unary operators)",
        7 + n
    );
    for text in [parens(n + 1), negs(n + 1), parens(100_000), negs(100_000)] {
        assert_eq!(assemble(text), Err(msg.clone()));
    }
}

#[test]
fn assembler_expressions_with_too_many_operators_are_refused() {
    let n = ringstep::asm::MAX_EXPR_OPERATORS;
    let chain = |k: usize| format!(".long 1{}\n", "+1".repeat(k));
    assert_eq!(
        assemble(chain(n)),
        Ok(((n + 1) as u32).to_le_bytes().to_vec())
    );
    let msg = format!(
        "line 1, column {}: expression too long (at most {n} operators)",
        8 + 2 * n
    );
    for k in [n + 1, 100_000] {
        assert_eq!(assemble(chain(k)), Err(msg.clone()));
    }
}

#[test]
fn a_set_cycle_is_named_once_in_user_terms() {
    let err = assemble(".set a, b\n.set b, a\nmovl $a, %eax\n".into()).expect_err("cycle");
    assert_eq!(
        err,
        "line 3, column 7: `a` is defined in terms of itself through `b` (its definition is on line 1)"
    );
    let err = assemble(".long c\n.set c, c + 1\n".into()).expect_err("cycle");
    assert_eq!(
        err,
        "line 1, column 7: `c` is defined in terms of itself (its definition is on line 2)"
    );
}

/// Forward `.set` chains are evaluated recursively: long ones work, the depth is bounded.
#[test]
fn set_chains_are_bounded_and_never_overflow_the_stack() {
    let chain = |k: usize| {
        let mut t = String::from(".long s0\n");
        for i in 0..k {
            t += &format!(".set s{i}, s{} + 1\n", i + 1);
        }
        t + &format!(".set s{k}, 0\n")
    };
    assert_eq!(assemble(chain(150)), Ok(150u32.to_le_bytes().to_vec()));
    let err = assemble(chain(10_000)).expect_err("too deep");
    assert!(
        err.starts_with("line 1, column 7: the value of `s0` nests too deeply"),
        "{err}"
    );
    // Every expression as deep as allowed: as many symbols as the limit holds work.
    let ops = ringstep::asm::MAX_EXPR_OPERATORS;
    let deep = |k: usize| {
        let mut t = format!(".long d0{}\n", "+1".repeat(ops));
        for i in 0..k {
            t += &format!(".set d{i}, d{}{}\n", i + 1, "+1".repeat(ops));
        }
        t + &format!(
            ".set d{k}, {}\n",
            "-".repeat(ringstep::asm::MAX_EXPR_NESTING - 1) + "0"
        )
    };
    let fit = ringstep::asm::MAX_SET_LEVELS / (ops + 2) - 1;
    let sum = ((fit + 1) * ops) as u32;
    assert_eq!(assemble(deep(fit)), Ok(sum.to_le_bytes().to_vec()));
    assert!(assemble(deep(fit + 2)).is_err_and(|e| e.contains("nests too deeply")));
}

#[test]
fn the_cli_reports_a_deep_expression_instead_of_aborting() {
    let dir = temp_dir("cli-deep-asm");
    let path = dir.join("deep.S");
    std::fs::write(&path, format!("movl ${}1, %eax\n", "(".repeat(100_000))).expect("write");
    let (code, out) = ringstep(&["trace", "--asm", &path.display().to_string()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("deep.S:1:263: expression nested too deeply"),
        "{out}"
    );
}

/// A 100,000-character name once took 10 to over 60 s (suggestions compared it with
/// every known name at quadratic cost); names this long now get no suggestion.
#[test]
fn a_huge_token_is_reported_without_a_quadratic_search() {
    let long = "x".repeat(100_000);
    let cases = [
        (format!("movl ${long}, %eax\n"), "undefined symbol `x"),
        (format!("{long} %eax\n"), "unknown instruction `x"),
        (format!("movl %{long}, %eax\n"), "unknown register `%x"),
        (format!(".{long}\n"), "unknown directive `.x"),
    ];
    for (text, what) in cases {
        let start = Instant::now();
        let err = assemble(text).expect_err("refused");
        assert!(
            err.contains(what) && !err.contains("did you mean"),
            "{}",
            &err[..80]
        );
        // A backstop only: the limit itself is tested in asm::error.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            start.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------
// Macros

#[test]
fn a_recursive_macro_is_reported_once_at_its_first_call() {
    let err = assemble("nop\n.macro m x\nm \\x\n.endm\nm 1\n".into()).expect_err("recursive");
    let depth = ringstep::asm::MAX_MACRO_DEPTH;
    assert_eq!(
        err,
        format!("line 5, column 1: macro `m` expands itself recursively (depth limit {depth})")
    );
}

/// Two macros doubling their argument once grew to 3.9 GB and aborted.
#[test]
fn doubling_macros_stop_at_the_expansion_limit() {
    let text = ".macro m1 x\nm2 \\x\\x\n.endm\n.macro m2 x\nm1 \\x\\x\n.endm\nm1 ab\n";
    let err = assemble(text.into()).expect_err("too large");
    let limit = ringstep::asm::MAX_MACRO_EXPANDED_CHARS;
    assert!(
        err.starts_with(&format!(
            "line 7, column 1: macro expansions produce more than {limit} characters"
        )),
        "{err}"
    );
    // A line using the argument many times is refused before it is built.
    let text = format!(
        ".macro w x\n.long {}\n.endm\nw {}\n",
        "\\x+".repeat(2000) + "0",
        "a".repeat(5000)
    );
    let err = assemble(text).expect_err("too large");
    assert!(
        err.contains("more than") && err.contains("(reached in macro `w`)"),
        "{err}"
    );
    // Many small expansions count too.
    let err = assemble(".rept 1000\n.rept 1000\nnop\n.endr\n.endr\n".into()).expect_err("too many");
    assert!(
        err.contains("more than 100000 macro and `.rept` expansions"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------
// Scenario values, symbols and regions

/// Load a scenario (on the preset) on a 2 MiB stack: Ok, or the error shown.
fn scenario(body: String) -> Result<ringstep::scenario::Scenario, String> {
    let text = format!("preset = \"linux-2.6-i386\"\n{body}");
    on_small_stack(move || ringstep::scenario::load_str(&text, "s.toml").map_err(|e| e.to_string()))
}

fn symbol(s: &ringstep::scenario::Scenario, name: &str) -> Option<u64> {
    s.machine.symbols.get(name)
}

#[test]
fn deeply_nested_scenario_values_are_refused_at_the_value() {
    let n = ringstep::scenario::MAX_VALUE_NESTING;
    let parens = |k: usize| format!("[symbols]\na = \"{}7{}\"\n", "(".repeat(k), ")".repeat(k));
    let negs = |k: usize| format!("[symbols]\na = \"{}7\"\n", "-".repeat(k));
    assert_eq!(scenario(parens(n)).map(|s| symbol(&s, "a")), Ok(Some(7)));
    assert_eq!(scenario(negs(n)).map(|s| symbol(&s, "a")), Ok(Some(7)));
    let msg = format!(
        "s.toml:3:5: expression nested too deeply (at most {n} levels of parentheses and minus signs)"
    );
    for body in [parens(n + 1), negs(n + 1), parens(100_000), negs(100_000)] {
        let err = scenario(body).expect_err("too deep");
        assert!(err.starts_with(&msg), "{err}");
    }
}

#[test]
fn a_scenario_value_with_unicode_spaces_is_not_a_panic() {
    let s = scenario("[symbols]\na = \"1\u{3000}+\u{3000}2\"\n".into()).expect("loads");
    assert_eq!(symbol(&s, "a"), Some(3));
}

#[test]
fn a_symbol_cycle_is_reported_as_a_cycle() {
    let err = scenario("[symbols]\na = \"b\"\nb = \"a\"\n".into()).expect_err("cycle");
    assert!(
        err.starts_with("s.toml:3:5: symbol `a` refers to itself through `b`"),
        "{err}"
    );
    let err = scenario("[symbols]\nc = \"c + 4\"\n".into()).expect_err("cycle");
    assert_eq!(err, "s.toml:3:5: symbol `c` refers to itself");
    let err =
        scenario("[symbols]\nx = \"y + 1\"\ny = \"z\"\nz = \"x - 1\"\n".into()).expect_err("cycle");
    assert!(
        err.starts_with("s.toml:3:5: symbol `x` refers to itself through `y`, `z`"),
        "{err}"
    );
    // A name defined nowhere is still an unknown symbol.
    let err = scenario("[symbols]\na = \"b\"\n".into()).expect_err("unknown");
    assert!(err.starts_with("s.toml:3:5: unknown symbol `b`"), "{err}");
}

/// 10,000 symbols each defined by the next took minutes (one pass per symbol); the
/// definitions are now ordered once (see scenario::order for the linear algorithm).
#[test]
fn a_long_chain_of_symbols_loads() {
    let n = 10_000;
    let mut body = String::from("[symbols]\n");
    for i in 0..n {
        body += &format!("s{i} = \"s{} + 1\"\n", i + 1);
    }
    body += &format!("s{n} = 5\n");
    let start = Instant::now();
    let s = scenario(body).expect("loads");
    assert_eq!(symbol(&s, "s0"), Some(5 + n as u64));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// Regions given in descending order once cost quadratic time to add.
#[test]
fn many_regions_load_in_any_order() {
    let n = 50_000u64;
    let mut body = String::new();
    for i in (0..n).rev() {
        body += &format!(
            "[[regions]]\nname = \"r{i}\"\nbase = {}\nsize = 0x1000\n",
            0x1000_0000 + i * 0x1000
        );
    }
    body += "[[regions]]\nname = \"late\"\nbase = 0x10001000\nsize = 0x1000\n";
    let start = Instant::now();
    let err = scenario(body).expect_err("overlap");
    assert!(err.contains("region `late` overlaps region `r1`"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// Lesson checkpoint expressions

/// The example lesson with its first checkpoint replaced by `check.eax = "{expr}"`;
/// loaded on a 2 MiB stack.
fn lesson_with_check(expr: &str) -> Result<(), String> {
    let text = format_example().replacen(
        "check.esp = \"initial.esp\"",
        &format!("check.eax = \"{expr}\""),
        1,
    );
    on_small_stack(move || {
        lesson::load_str(&text, "x.toml", "x", &FileSource::Shipped)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn deeply_nested_checkpoints_are_refused() {
    let n = ringstep::lesson::expr::MAX_NESTING;
    let line = format_example()
        .lines()
        .position(|l| l.starts_with("check.esp = \"initial.esp\""))
        .expect("checkpoint line")
        + 1;
    let deep =
        |open: &str, close: &str, k: usize| format!("{}eax{}", open.repeat(k), close.repeat(k));
    let msg = "expression nested too deeply (at most 256 levels";
    for (open, close) in [
        ("(", ")"),
        ("-", ""),
        ("~", ""),
        ("mem32[", "]"),
        ("prev.", ""),
    ] {
        // At the limit: fine (the value may be wrong: the check is not run here).
        let at_limit = lesson_with_check(&deep(open, close, n));
        assert!(
            at_limit
                .as_ref()
                .map_or_else(|e| !e.contains(msg), |_| true),
            "{open}: {at_limit:?}"
        );
        for k in [n + 1, 100_000] {
            let err = lesson_with_check(&deep(open, close, k)).expect_err("too deep");
            assert!(err.contains(msg), "{open}: {}", &err[..err.len().min(300)]);
            assert!(
                err.starts_with(&format!("x.toml:{line}:")),
                "{}",
                &err[..80]
            );
        }
    }
    let ops = ringstep::lesson::expr::MAX_OPERATORS;
    assert_eq!(
        lesson_with_check(&format!("eax{}", "+0".repeat(ops))),
        Ok(())
    );
    for k in [ops + 1, 100_000] {
        let err = lesson_with_check(&format!("eax{}", "+0".repeat(k))).expect_err("too long");
        assert!(
            err.contains("expression too long (at most 256 operators)"),
            "{}",
            &err[..200]
        );
    }
}

// ---------------------------------------------------------------------------------
// TOML nesting: the toml crate stops at its own recursion limit; this keeps it so.

#[test]
fn deeply_nested_toml_is_an_error_not_an_overflow() {
    let k = 100_000;
    let values = [
        format!("x = {}{}\n", "[".repeat(k), "]".repeat(k)),
        format!("x = {}1{}\n", "{a=".repeat(k), "}".repeat(k)),
        format!("{} = 1\n", vec!["a"; k].join(".")),
        format!("[{}]\n", vec!["a"; k].join(".")),
    ];
    for v in values {
        let text = format!("preset = \"linux-2.6-i386\"\n{v}");
        let err = on_small_stack(move || ringstep::scenario::load_str(&text, "s.toml").map(|_| ()))
            .expect_err("refused");
        assert!(err.to_string().starts_with("s.toml:"), "{err}");
        let text = format!("[lesson]\n{v}");
        let err = on_small_stack(move || {
            lesson::load_str(&text, "l.toml", "l", &FileSource::Shipped).map(|_| ())
        })
        .expect_err("refused");
        assert!(err.to_string().starts_with("l.toml:"), "{err}");
    }
}

// ---------------------------------------------------------------------------------
// Export size

/// `export --size 1000x1000` once ran out of memory (every frame is kept).
#[test]
fn export_sizes_are_capped() {
    let dir = temp_dir("export-size");
    let out = dir.join("x.cast").display().to_string();
    let max = format!(
        "{}x{}",
        ringstep::export::command::MAX_COLS,
        ringstep::export::command::MAX_ROWS
    );
    for size in ["1000x1000", "401x40", "120x201"] {
        let (code, text) = ringstep(&[
            "export", "sysenter", "--format", "cast", "--size", size, "-o", &out,
        ]);
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains(&format!("--size {size}: frames are at most {max}")),
            "{text}"
        );
        assert!(!Path::new(&out).exists());
    }
    let (code, text) = ringstep(&["render", "sysenter", "--size", &max]);
    assert_eq!(code, Some(0), "{text}");
}

/// The same limits through the command line: a message, not an abort (exit 134).
#[test]
fn the_cli_reports_deep_scenario_values_and_checkpoints() {
    let dir = temp_dir("cli-deep-values");
    let scen = dir.join("deep.toml");
    let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    std::fs::write(
        &scen,
        format!("preset = \"linux-2.6-i386\"\n[symbols]\na = \"{deep}\"\n"),
    )
    .expect("write");
    let (code, out) = ringstep(&["trace", &scen.display().to_string(), "--max-steps", "1"]);
    assert_eq!(code, Some(2), "{}", &out[..out.len().min(300)]);
    assert!(
        out.contains("deep.toml:3:5: expression nested too deeply"),
        "{}",
        &out[..300]
    );
    let lesson = dir.join("deep-check.toml");
    let text = format_example().replacen(
        "check.esp = \"initial.esp\"",
        &format!("check.eax = \"{}eax\"", "-".repeat(100_000)),
        1,
    );
    std::fs::write(&lesson, text).expect("write");
    let (code, out) = ringstep(&["check", &lesson.display().to_string()]);
    assert_eq!(code, Some(1), "{}", &out[..out.len().min(300)]);
    assert!(
        out.contains("expression nested too deeply"),
        "{}",
        &out[..300]
    );
}
