//! Runs are bounded: a scene's or a scenario's `max_steps` above `scenario::MAX_STEPS` is
//! refused with its location, `check` on a scene at the limit ends, and `export` refuses
//! a lesson with more states than it draws frames before drawing any.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ringstep::lesson::{self, FileSource};
use ringstep::scenario::{self, MAX_STEPS};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");
const LOOP: &str = "tests/fixtures/long/loop.toml";

/// The loop lesson with `max_steps = n`.
fn loop_lesson(n: &str) -> String {
    let text = std::fs::read_to_string(LOOP).expect("the loop fixture");
    text.replace("max_steps = 100000", &format!("max_steps = {n}"))
}

/// Run the binary; kill it after `limit` (a test failure).
fn run_bounded(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringstep");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringstep {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_scene_max_steps_above_the_limit_is_refused_with_its_location() {
    let text = loop_lesson("1000000000000");
    let Err(e) = lesson::load_str(&text, "big.toml", "big", &FileSource::Disk(".".into())) else {
        panic!("max_steps 10^12 was accepted");
    };
    assert_eq!(
        e.to_string(),
        "big.toml:29:13: max_steps 1000000000000 is more than the 100000 steps a scene may run"
    );
    let at_limit = loop_lesson(&MAX_STEPS.to_string());
    assert!(lesson::load_str(&at_limit, "l.toml", "l", &FileSource::Disk(".".into())).is_ok());
}

#[test]
fn a_scenario_max_steps_above_the_limit_is_refused_with_its_location() {
    let text = "preset = \"linux-2.6-i386\"\n\n[run]\nmax_steps = 100001\n";
    let Err(e) = scenario::load_str(text, "big.toml") else {
        panic!("max_steps 100001 was accepted");
    };
    assert_eq!(
        e.to_string(),
        "big.toml:4:13: max_steps 100001 is more than the 100000 steps a run may record \
         (for a longer trace, leave it out and give `ringstep trace --max-steps N`)"
    );
    let ok = text.replace("100001", "100000");
    assert_eq!(
        scenario::load_str(&ok, "ok.toml").map(|s| s.max_steps).ok(),
        Some(Some(MAX_STEPS))
    );
}

#[test]
fn check_on_a_huge_max_steps_ends_with_the_location() {
    let dir = std::env::temp_dir().join(format!("ringstep-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("big.toml");
    std::fs::write(&path, loop_lesson("1000000000000")).expect("write");
    let p = path.display().to_string();
    let out = run_bounded(&["check", &p], Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&dir);
    let err =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("big.toml:29:13: max_steps 1000000000000 is more than the 100000 steps"),
        "{err}"
    );
}

#[test]
fn check_on_a_scene_at_the_limit_ends() {
    let out = run_bounded(&["check", LOOP], Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("after 100000 steps"), "{text}");
}

#[test]
fn export_refuses_more_states_than_frames_before_drawing() {
    let out = run_bounded(
        &["export", LOOP, "--format", "cast", "-o", "-"],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "an export draws one frame per step, at most 1000, but scene 1 runs 100000 steps"
        ),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing is written");
    assert!(Path::new(LOOP).exists());
}
