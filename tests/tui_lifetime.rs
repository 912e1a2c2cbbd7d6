//! The viewer never outlives its terminal: a closed tmux session (the terminal hangs
//! up), SIGTERM or SIGHUP end `ringstep run` within 2 seconds, whatever it is doing
//! (idle, computing a long run, after a long `:continue`, replaying after `set reg`,
//! autoplaying), and a signal restores the terminal. `q` quits while a run is computed.
//! Needs tmux: under CI a missing tmux fails the test, elsewhere it is skipped.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::tmux::Session;

/// A scene that runs to the step limit (100000 steps).
const LOOP: &str = "tests/fixtures/long/loop.toml";
/// The requirement: gone within this after the terminal or the signal went.
const BOUND: Duration = Duration::from_secs(2);

/// `ringstep run ARGS` in a 120x40 tmux session.
fn start(tag: &str, args: &str) -> Session {
    Session::start(&format!("life-{tag}"), args, (120, 40))
}

/// What only these tests need of a session.
trait Lifetime {
    fn wait_until_alternate_screen(&self);
    fn assert_gone(&mut self, what: &str);
}

impl Lifetime for Session {
    fn wait_until_alternate_screen(&self) {
        let start = Instant::now();
        loop {
            if self.display("#{alternate_on}") == "1" {
                return;
            }
            assert!(start.elapsed() < common::tmux::WAIT, "no alternate screen");
            sleep(Duration::from_millis(10));
        }
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
}

#[test]
fn closing_the_terminal_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = start("close", "--lang en");
    s.wait_for("CPL 3");
    s.kill_session();
    s.assert_gone("the tmux session was killed");
}

#[test]
fn closing_the_terminal_with_the_help_overlay_open_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = start("close-help", "--lang en");
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
    let mut s = start("term-computing", &format!("--lang en {LOOP}"));
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
    let mut s = start("close-computing", &format!("--lang en {LOOP}"));
    s.kill_session();
    s.assert_gone("the tmux session was killed while the run was computed");
}

#[test]
fn closing_the_terminal_during_autoplay_ends_the_viewer() {
    if !common::require_tool("tmux") {
        return;
    }
    let mut s = start(
        "close-autoplay",
        &format!("--lang en --autoplay 0.1 {LOOP}"),
    );
    // Any step of the run: autoplay is on from the start (waiting for one exact step
    // could miss it on a loaded machine, where screens are captured seldom).
    s.wait_for("/100000");
    s.kill_session();
    s.assert_gone("the tmux session was killed during autoplay");
}

/// `:continue` to the end of the 100000-step run, then `sig` right away.
fn signal_during_continue(sig: &str, status: &str) {
    let mut s = start(&format!("cont-{sig}"), &format!("--lang en {LOOP}"));
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
    let mut s = start(
        &format!("auto-{sig}"),
        &format!("--lang en --autoplay 0.1 {LOOP}"),
    );
    // Any step of the run: autoplay is on from the start (waiting for one exact step
    // could miss it on a loaded machine, where screens are captured seldom).
    s.wait_for("/100000");
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
    let mut s = start("close-replay", &format!("--lang en {LOOP}"));
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
    let mut s = start("quit-computing", &format!("--lang en {LOOP}"));
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
    let mut s = start("quit-replay", &format!("--lang en {LOOP}"));
    s.wait_for("step 0/100000");
    s.keys(&[":", "set reg eax 5", "Enter", "q"]);
    s.assert_gone("q during a replay");
    s.assert_restored("0");
}
