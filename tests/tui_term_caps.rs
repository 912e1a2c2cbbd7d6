//! The real binary in tmux under what the terminal says it can show: with `LANG=C` or
//! `TERM=dumb` the screen is ASCII (borders `+-|`) and the bytes written (recorded by
//! `script`) hold no 256-colour escape; with a UTF-8 locale and `TERM=xterm-256color` it
//! draws box lines. ringstep is killed by PID.
//! Needs tmux and script: under CI a missing tool fails the test, elsewhere it is skipped.

mod common;

use common::tmux::{tmux, WAIT};

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

struct Session {
    name: String,
    dir: PathBuf,
}

impl Session {
    fn start(tag: &str, env: &[&str]) -> Session {
        let name = format!("ringstep-caps-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::create_dir_all(&dir);
        let pidfile = dir.join("pid");
        let inner = format!(
            "echo $$ > {}; exec {BIN} run syscall64 --lang de --no-animation",
            pidfile.display()
        );
        let log = dir.join("log").display().to_string();
        let mut args = vec!["-d", "-s", &name, "-x", "120", "-y", "40"];
        args.extend(["env", "-u", "LC_ALL", "-u", "LC_CTYPE", "-u", "COLORTERM"]);
        args.extend(env);
        args.extend(["script", "-q", "-f", "-c", &inner, &log]);
        common::tmux::new_session(&args);
        Session { name, dir }
    }

    /// The bytes ringstep wrote to its terminal.
    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("log")).unwrap_or_default())
            .into_owned()
    }

    /// The screen with its colours as escapes, once it shows `what` (`WAIT` at most).
    fn wait_for(&self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let out = tmux(&["capture-pane", "-p", "-e", "-t", &self.name]);
            let screen = String::from_utf8_lossy(&out.stdout).into_owned();
            if screen.contains(what) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("`{what}` did not appear within {WAIT:?}; the screen:\n{screen}");
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn kill(&self) {
        let start = Instant::now();
        let pid = loop {
            match std::fs::read_to_string(self.dir.join("pid")) {
                Ok(p) if !p.trim().is_empty() => break p.trim().to_string(),
                _ => {}
            }
            assert!(start.elapsed() < WAIT, "no pid file within {WAIT:?}");
            sleep(Duration::from_millis(50));
        };
        let _ = Command::new("kill").args(["-9", &pid]).status();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
        let mut cmd = Command::new("tmux");
        cmd.args(["kill-session", "-t", &self.name]);
        let _ = common::proc::output_within(&mut cmd, &common::proc::Deadline::generous("tmux"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `screen` without its escape sequences.
fn plain(screen: &str) -> String {
    let mut out = String::new();
    let mut chars = screen.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn lang_c_and_term_dumb_get_ascii_and_16_colours() {
    if !common::require_tool("tmux") || !common::require_tool("script") {
        return;
    }
    for (tag, env) in [
        ("c", ["LANG=C", "TERM=xterm"]),
        ("dumb", ["LANG=de_DE.UTF-8", "TERM=dumb"]),
    ] {
        let s = Session::start(tag, &env);
        let screen = s.wait_for("CPL 3");
        let text = plain(&screen);
        assert!(text.contains("+ Code -"), "{tag}: ASCII borders:\n{text}");
        assert!(text.is_ascii(), "{tag}: not ASCII:\n{text}");
        let log = s.log();
        assert!(log.contains("\x1b[3"), "{tag}: colours:\n{log:?}");
        assert!(
            !log.contains("38;5;"),
            "{tag}: a 256-colour escape:\n{log:?}"
        );
        assert!(
            !log.contains("48;5;"),
            "{tag}: a 256-colour escape:\n{log:?}"
        );
    }
    let s = Session::start("utf8", &["LANG=en_US.UTF-8", "TERM=xterm-256color"]);
    let screen = s.wait_for("CPL 3");
    assert!(
        plain(&screen).contains("┌ Code ─"),
        "box drawing with UTF-8:\n{screen}"
    );
    assert!(
        s.log().contains("38;5;"),
        "256 colours where the terminal has them"
    );
}
