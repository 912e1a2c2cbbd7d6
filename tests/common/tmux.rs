//! `ringstep run` in a real terminal: a tmux session whose shell writes ringstep's PID,
//! runs it, then prints the terminal mode (`icanon` or `-icanon`) and `EXITED:<status>`.
//! Every tmux command runs through `proc` (interrupted calls retried, a generous named
//! deadline); a session left behind by a failed test is killed, and its ringstep too.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::proc::{output_within, Deadline};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

/// How long the screen may take to show what a test waits for: generous, for a loaded
/// CI machine (2 cores shared with builds); a passing run waits well under a second.
pub const WAIT: Duration = Duration::from_secs(60);

/// Run one tmux command (it must end within the generous deadline).
pub fn tmux(args: &[&str]) -> Output {
    let mut cmd = Command::new("tmux");
    cmd.args(args);
    let what = format!("{cmd:?}");
    output_within(&mut cmd, &Deadline::generous(what)).unwrap_or_else(|e| panic!("{e}"))
}

/// `tmux new-session ARGS` (ARGS from `-d` on). A tmux server exits when its last
/// session ends, and a new session asked for at that moment fails ("server exited
/// unexpectedly"): it is asked for again, a few times.
pub fn new_session(args: &[&str]) {
    let args: Vec<&str> = std::iter::once("new-session")
        .chain(args.iter().copied())
        .collect();
    let mut out = tmux(&args);
    for _ in 0..5 {
        if out.status.success() {
            return;
        }
        sleep(Duration::from_millis(300));
        out = tmux(&args);
    }
    assert!(
        out.status.success(),
        "tmux new-session failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Session {
    pub name: String,
    dir: PathBuf,
    /// ringstep's PID while it may still run.
    pub pid: Option<u32>,
}

impl Session {
    /// `ringstep run ARGS` in a new `cols` x `rows` tmux session named after `tag`.
    pub fn start(tag: &str, args: &str, (cols, rows): (u16, u16)) -> Session {
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
        let (x, y) = (cols.to_string(), rows.to_string());
        let args = [
            "-d",
            "-s",
            &name,
            "-x",
            &x,
            "-y",
            &y,
            "env",
            "LANG=C",
            "TERM=xterm-256color",
            "sh",
            "-c",
            &script,
        ];
        new_session(&args);
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
            assert!(
                start.elapsed() < WAIT,
                "ringstep wrote no pid file within {WAIT:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// ringstep's PID (0 once it has ended).
    pub fn pid(&self) -> u32 {
        self.pid.unwrap_or(0)
    }

    pub fn capture(&self) -> String {
        let out = tmux(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format for the session's pane, e.g. `#{alternate_on}`.
    pub fn display(&self, format: &str) -> String {
        let out = tmux(&["display-message", "-p", "-t", &self.name, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = tmux(&["send-keys", "-t", &self.name, k]);
            assert!(out.status.success(), "send-keys {k}");
        }
    }

    /// Wait until the screen contains `what` (`WAIT` at most) and the frame is complete
    /// (two captures alike); return the screen.
    pub fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if screen.contains(what) {
                return self.settled(screen);
            }
            assert!(
                start.elapsed() < WAIT,
                "`{what}` did not appear within {WAIT:?}; the screen:\n{screen}"
            );
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

    /// Send `sig` (a name such as TERM) to ringstep.
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let mut cmd = Command::new("kill");
        cmd.args([&format!("-{sig}"), &pid]);
        let out = output_within(&mut cmd, &Deadline::generous(format!("kill -{sig}")));
        assert!(out.is_ok_and(|o| o.status.success()), "kill -{sig} {pid}");
    }

    /// ringstep exited with `status` and the terminal was put back: canonical mode, the
    /// alternate screen left.
    pub fn assert_restored(&self, status: &str) {
        let screen = self.wait_for(&format!("EXITED:{status}"));
        assert!(
            screen.lines().any(|l| l.trim() == "icanon"),
            "the terminal is back in canonical mode:\n{screen}"
        );
        assert!(
            !screen.contains("Registers"),
            "the alternate screen was left:\n{screen}"
        );
        assert_eq!(self.display("#{alternate_on}"), "0");
    }

    pub fn kill_session(&self) {
        let mut cmd = Command::new("tmux");
        cmd.args(["kill-session", "-t", &self.name]);
        let _ = output_within(&mut cmd, &Deadline::generous("tmux kill-session"));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill_session();
        if let Some(pid) = self.pid {
            // A test failed with ringstep still running: do not leave it behind (only
            // if the PID still names ringstep).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("ringstep") {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
