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

/// Run ringstep with `args`; its exit code and output (stdout then stderr). Killed (and the test
/// failed) after 60 s, a generous backstop on a loaded machine.
fn ringstep(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringstep starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let text = [out.stdout, out.stderr].concat();
            return (status.code(), String::from_utf8_lossy(&text).into());
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringstep {args:?} still runs after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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
