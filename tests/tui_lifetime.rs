//! The viewer never outlives its terminal: a closed tmux session (the terminal hangs
//! up), SIGTERM or SIGHUP end `ringstep run` within 2 seconds, whatever it is doing
//! (idle, computing a long run, after a long `:continue`, replaying after `set reg`,
//! autoplaying), and a signal restores the terminal. `q` quits while a run is computed.
//! Needs tmux: under CI a missing tmux fails the test, elsewhere it is skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");
/// A scene that runs to the step limit (100000 steps).
const LOOP: &str = "tests/fixtures/long/loop.toml";
/// The requirement: gone within this after the terminal or the signal went.
const BOUND: Duration = Duration::from_secs(2);

struct Session {
    name: String,
    dir: PathBuf,
    pid: Option<u32>,
}

impl Session {
    /// `ringstep run ARGS` in a new tmux session; the shell around it reports the
    /// terminal mode and the exit status afterwards.
    fn start(tag: &str, args: &str) -> Session {
        let name = format!("ringstep-life-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::create_dir_all(&dir);
        let pidfile = dir.join("pid");
        let inner = format!("echo $$ > {}; exec {BIN} run {args}", pidfile.display());
        let script = format!(
            "sh -c '{inner}'; rc=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; echo EXITED:$rc; sleep 60"
        );
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .args(["env", "LANG=C", "TERM=xterm-256color", "sh", "-c", &script])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "tmux new-session failed");
        let mut s = Session {
            name,
            dir,
            pid: None,
        };
        s.pid = Some(s.read_pid());
        s
    }

    fn read_pid(&self) -> u32 {
        let start = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(self.dir.join("pid")) {
                if let Ok(n) = p.trim().parse() {
                    return n;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no pid file");
            sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.pid.unwrap_or(0)
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen contains `what` (20 s at most); return the screen.
    fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "`{what}` never appeared; the screen:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "send-keys {k}");
        }
    }

    fn wait_until_alternate_screen(&self) {
        let start = Instant::now();
        loop {
            let out = Command::new("tmux")
                .args(["display-message", "-p", "-t", &self.name, "#{alternate_on}"])
                .output()
                .expect("tmux display-message");
            if String::from_utf8_lossy(&out.stdout).trim() == "1" {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no alternate screen"
            );
            sleep(Duration::from_millis(10));
        }
    }

    fn kill_session(&self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Assert that the process ends within `BOUND` (a zombie has ended: it only waits
    /// for tmux to collect its status).
    fn assert_gone(&mut self, what: &str) {
        let start = Instant::now();
        let stat = format!("/proc/{}/stat", self.pid());
        loop {
            let ended = match std::fs::read_to_string(&stat) {
                Err(_) => true,
                Ok(s) => s
                    .rsplit(')')
                    .next()
                    .map(str::trim_start)
                    .is_some_and(|r| r.starts_with('Z')),
            };
            if ended {
                self.pid = None;
                return;
            }
            assert!(
                start.elapsed() < BOUND,
                "ringstep still runs {BOUND:?} after {what}"
            );
            sleep(Duration::from_millis(10));
        }
    }

    /// The exit status was `status` and the terminal was put back.
    fn assert_restored(&self, status: &str) {
        let screen = self.wait_for(&format!("EXITED:{status}"));
        assert!(
            screen.lines().any(|l| l.trim() == "icanon"),
            "the terminal is back in canonical mode:\n{screen}"
        );
        assert!(
            !screen.contains("Registers"),
            "the alternate screen was left:\n{screen}"
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill_session();
        if let Some(pid) = self.pid {
            // A test failed with ringstep still running: do not leave it behind.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn closing_the_terminal_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("close", "--lang en");
    s.wait_for("CPL 3");
    s.kill_session();
    s.assert_gone("the tmux session was killed");
}

#[test]
fn closing_the_terminal_with_the_help_overlay_open_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("close-help", "--lang en");
    s.wait_for("CPL 3");
    s.keys(&["?"]);
    s.wait_for("step forward one instruction");
    s.kill_session();
    s.assert_gone("the tmux session was killed with the help open");
}

#[test]
fn sigterm_while_a_run_is_computed_ends_and_restores() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("term-computing", &format!("--lang en {LOOP}"));
    s.wait_until_alternate_screen();
    s.signal("TERM");
    s.assert_gone("SIGTERM while the run was computed");
    s.assert_restored("143");
}

#[test]
fn closing_the_terminal_while_a_run_is_computed_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("close-computing", &format!("--lang en {LOOP}"));
    s.kill_session();
    s.assert_gone("the tmux session was killed while the run was computed");
}

#[test]
fn closing_the_terminal_during_autoplay_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start(
        "close-autoplay",
        &format!("--lang en --autoplay 0.1 {LOOP}"),
    );
    s.wait_for("step 3/100000");
    s.kill_session();
    s.assert_gone("the tmux session was killed during autoplay");
}

/// `:continue` to the end of the 100000-step run, then `sig` right away.
fn signal_during_continue(sig: &str, status: &str) {
    let mut s = Session::start(&format!("cont-{sig}"), &format!("--lang en {LOOP}"));
    s.wait_for("step 0/100000");
    s.keys(&[":", "continue", "Enter"]);
    s.signal(sig);
    s.assert_gone(&format!("SIG{sig} during :continue"));
    s.assert_restored(status);
}

#[test]
fn sigterm_during_a_long_continue_ends_and_restores() {
    if !common::require_tool("tmux") {
        return;
    }
    signal_during_continue("TERM", "143");
}

#[test]
fn sighup_during_a_long_continue_ends_and_restores() {
    if !common::require_tool("tmux") {
        return;
    }
    signal_during_continue("HUP", "129");
}

/// Autoplay stepping every 0.1 s, then `sig`.
fn signal_during_autoplay(sig: &str, status: &str) {
    let mut s = Session::start(
        &format!("auto-{sig}"),
        &format!("--lang en --autoplay 0.1 {LOOP}"),
    );
    s.wait_for("step 3/100000");
    s.signal(sig);
    s.assert_gone(&format!("SIG{sig} during autoplay"));
    s.assert_restored(status);
}

#[test]
fn sigterm_during_autoplay_ends_and_restores() {
    if !common::require_tool("tmux") {
        return;
    }
    signal_during_autoplay("TERM", "143");
}

#[test]
fn sighup_during_autoplay_ends_and_restores() {
    if !common::require_tool("tmux") {
        return;
    }
    signal_during_autoplay("HUP", "129");
}

#[test]
fn closing_the_terminal_during_a_replay_after_set_reg_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("close-replay", &format!("--lang en {LOOP}"));
    s.wait_for("step 0/100000");
    // `set reg` runs the scene again from the edited state: the whole 100000 steps.
    s.keys(&[":", "set reg eax 5", "Enter"]);
    s.kill_session();
    s.assert_gone("the tmux session was killed during a replay");
}

#[test]
fn q_quits_while_a_run_is_computed() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("quit-computing", &format!("--lang en {LOOP}"));
    // Once the terminal is in raw mode (the alternate screen is on), the run is still
    // being computed or has just been.
    s.wait_until_alternate_screen();
    s.keys(&["q"]);
    s.assert_gone("q while the run was computed");
    s.assert_restored("0");
}

#[test]
fn q_quits_during_a_replay_after_set_reg() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = Session::start("quit-replay", &format!("--lang en {LOOP}"));
    s.wait_for("step 0/100000");
    s.keys(&[":", "set reg eax 5", "Enter", "q"]);
    s.assert_gone("q during a replay");
    s.assert_restored("0");
}
