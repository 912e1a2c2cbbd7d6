//! The real binary in a real terminal: tmux runs `ringstep run`, the test steps through
//! the default lesson with send-keys and reads the screen with capture-pane (CPL 3 -> 0
//! -> 3, MSR names, the narrative), quits, and checks that the terminal was restored
//! (alternate screen left, canonical mode back). SIGTERM restores it too.
//! Needs tmux: under CI a missing tmux fails the test, elsewhere it is skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

/// How long the screen may take to show what a test waits for: generous, for a loaded
/// CI machine (2 cores shared with builds); a passing run waits well under a second.
const WAIT: Duration = Duration::from_secs(60);

/// Run one tmux command (it must end within `proc::GENEROUS`, standard output captured).
fn tmux(cmd: &mut Command) -> std::process::Output {
    let what = format!("{cmd:?}");
    common::proc::output_within(cmd, &common::proc::Deadline::generous(what))
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Session {
    name: String,
    dir: PathBuf,
}

impl Session {
    fn start(tag: &str, args: &str) -> Session {
        let name = format!("ringstep-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::create_dir_all(&dir);
        let pidfile = dir.join("pid");
        // The inner shell writes its PID and becomes ringstep; the outer one reports
        // the terminal mode afterwards, then the exit status (last, so that waiting for
        // it also waits for the mode).
        let inner = format!("echo $$ > {}; exec {BIN} run {args}", pidfile.display());
        let script = format!(
            "sh -c '{inner}'; rc=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; echo EXITED:$rc; sleep 60"
        );
        let out = tmux(
            Command::new("tmux")
                .args(["new-session", "-d", "-s", &name, "-x", "160", "-y", "48"])
                .args(["env", "LANG=C", "TERM=xterm-256color", "sh", "-c", &script]),
        );
        assert!(out.status.success(), "tmux new-session failed");
        Session { name, dir }
    }

    fn capture(&self) -> String {
        let out = tmux(Command::new("tmux").args(["capture-pane", "-p", "-t", &self.name]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out =
            tmux(Command::new("tmux").args(["display-message", "-p", "-t", &self.name, format]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = tmux(Command::new("tmux").args(["send-keys", "-t", &self.name, k]));
            assert!(out.status.success(), "send-keys {k}");
        }
    }

    /// Wait until the screen contains `what` (`WAIT` at most) and the frame is complete
    /// (two captures alike); return the screen.
    fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(what) {
                return self.settled(screen);
            }
            if start.elapsed() > WAIT {
                panic!(
                    "`{what}` did not appear within {} s; the screen:\n{screen}",
                    WAIT.as_secs()
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The screen once a capture equals the one before (2 s at most).
    fn settled(&self, mut screen: String) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            sleep(Duration::from_millis(30));
            let again = self.capture();
            if again == screen {
                break;
            }
            screen = again;
        }
        screen
    }

    fn pid(&self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(self.dir.join("pid")) {
                if !p.trim().is_empty() {
                    return p.trim().to_string();
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "ringstep wrote no pid file within {} s",
                WAIT.as_secs()
            );
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = common::proc::output_within(
            Command::new("tmux").args(["kill-session", "-t", &self.name]),
            &common::proc::Deadline::generous("tmux kill-session"),
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn restored(s: &Session, status: &str) {
    let screen = s.wait_for(&format!("EXITED:{status}"));
    assert!(
        !screen.contains("Registers"),
        "the alternate screen was left:\n{screen}"
    );
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "the terminal is back in canonical mode:\n{screen}"
    );
    assert_eq!(s.display("#{alternate_on}"), "0");
}

#[test]
fn stepping_through_the_default_lesson_in_tmux() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("steps", "--no-animation --lang en");
    let screen = s.wait_for("CPL 3");
    assert!(
        screen.contains("__kernel_vsyscall and sysenter"),
        "{screen}"
    );
    assert!(screen.contains("IA32_SYSENTER_CS"), "{screen}");
    assert!(screen.contains("IA32_SYSENTER_EIP"), "{screen}");
    assert!(screen.contains("The same request as before"), "{screen}");
    assert_eq!(s.display("#{alternate_on}"), "1");
    // Seven steps: mov, call, three pushes, mov %esp,%ebp, sysenter.
    s.keys(&["n", "Space", "Right", "n", "n", "n", "n"]);
    let screen = s.wait_for("CPL 0");
    assert!(
        screen.contains("mode transition, ring 3 -> ring 0, PID unchanged"),
        "{screen}"
    );
    assert!(screen.contains("sysenter_entry"), "{screen}");
    assert!(screen.contains("Ring 0, at sysenter_entry"), "{screen}");
    // One back and forward again; then run to the end.
    s.keys(&["p"]);
    s.wait_for("CPL 3");
    s.keys(&["n"]);
    s.wait_for("CPL 0");
    s.keys(&["c"]);
    let screen = s.wait_for("end of scene");
    assert!(screen.contains("CPL 3"), "{screen}");
    assert!(screen.contains("returned 1234"), "{screen}");
    // Help overlay, then quit.
    s.keys(&["?"]);
    s.wait_for("step forward one instruction");
    s.keys(&["Escape", "q"]);
    restored(&s, "0");
}

#[test]
fn sigterm_restores_the_terminal() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("term", "--lang en");
    s.wait_for("CPL 3");
    let pid = s.pid();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(ok, "kill -TERM {pid}");
    restored(&s, "143");
}

#[test]
fn the_command_line_sets_a_breakpoint_and_continue_reaches_ring_0() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("cmdline", "--no-animation --lang en");
    s.wait_for("CPL 3");
    // Type the command with a completed symbol: `:break sysenter_e<Tab>` then Enter.
    s.keys(&[":"]);
    s.keys(&["break sysenter_e"]);
    s.keys(&["Tab"]);
    let screen = s.wait_for(":break sysenter_entry");
    assert!(screen.contains("CPL 3"), "{screen}");
    s.keys(&["Enter"]);
    s.wait_for("break 0xc0102000 <sysenter_entry>");
    s.keys(&["c"]);
    let screen = s.wait_for("breakpoint 1");
    assert!(screen.contains("CPL 0"), "{screen}");
    assert!(screen.contains("<sysenter_entry>"), "{screen}");
    // The memory view follows ESP; the GDT shows __KERNEL_CS.
    s.keys(&["m"]);
    s.wait_for("follows ESP");
    s.keys(&["g"]);
    s.wait_for("0x0060 00000000 ffffffff code x/r");
    s.keys(&["Escape", "q"]);
    restored(&s, "0");
}
