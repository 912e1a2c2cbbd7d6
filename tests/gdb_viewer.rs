//! The viewer with gdb attached (`ringstep run/boot ... --gdb PORT`, issue 16): the
//! viewer runs in a 120x40 tmux pane, Debian's gdb (batch mode) or a raw socket drives
//! its machine, and the screen shows the step and EIP gdb reports after `stepi`,
//! `break` + `continue` and `reverse-stepi`; a step taken in the viewer is what gdb
//! reads next; gdb's `continue` runs in chunks, stopped by Ctrl-C or by a viewer key;
//! a second client is refused; and quitting the viewer ends the connection and the
//! process.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::gdb::{packet, Client};
use common::proc::{self, Deadline};
use common::tmux::Session;

/// A port free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("its address").port()
}

/// `ringstep run ARGS --gdb PORT` in a 120x40 pane, listening.
fn viewer(tag: &str, args: &str) -> (Session, u16) {
    let port = free_port();
    let s = Session::start(tag, &format!("{args} --gdb {port}"), (120, 40));
    s.wait_for(&format!("gdb: listening 127.0.0.1:{port}"));
    (s, port)
}

fn gdb_cmd(port: u16, commands: &[&str]) -> Command {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-ex", "set pagination off"]);
    cmd.args(["-ex", &format!("target remote 127.0.0.1:{port}")]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd
}

/// gdb in batch mode: attach, run `commands`, detach; its whole output.
fn gdb(port: u16, commands: &[&str]) -> String {
    let out = proc::output_within(
        &mut gdb_cmd(port, commands),
        &Deadline::generous(format!("gdb {commands:?}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last `eip 0x...` gdb printed and the last `position N`.
fn eip_and_position(out: &str) -> (u64, u64) {
    let eip = out
        .lines()
        .rev()
        .find_map(|l| {
            let rest = l.strip_prefix("eip")?.trim_start().strip_prefix("0x")?;
            u64::from_str_radix(rest.split_whitespace().next()?, 16).ok()
        })
        .unwrap_or_else(|| panic!("no eip in gdb's output:\n{out}"));
    let pos = out
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("position ")?.parse().ok())
        .unwrap_or_else(|| panic!("no position in gdb's output:\n{out}"));
    (eip, pos)
}

/// The screen shows step `pos` in its header and `eip` in the registers pane.
fn shows(s: &Session, pos: u64, eip: u64) -> String {
    let screen = s.wait_for(&format!("step {pos}/"));
    assert!(
        screen.contains(&format!("eip {eip:08x}")),
        "the viewer shows eip {eip:08x} at step {pos}:\n{screen}"
    );
    screen
}

fn flag_file(s: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringstep-gdbview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let f = dir.join(s);
    let _ = std::fs::remove_file(&f);
    f
}

/// A gdb shell command that waits until `flag` exists.
fn wait_flag(flag: &Path) -> String {
    format!(
        "shell i=0; while [ ! -e {} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done",
        flag.display()
    )
}

/// gdb started in the background, killed if the test fails.
struct Bg(Child);

impl Bg {
    fn spawn(port: u16, commands: &[&str]) -> Bg {
        let mut cmd = gdb_cmd(port, commands);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Bg(cmd.spawn().expect("gdb starts"))
    }

    fn output(mut self) -> String {
        let deadline = Deadline::generous("gdb in the background");
        proc::wait_until(&mut self.0, &deadline).unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::new();
        if let Some(o) = self.0.stdout.as_mut() {
            let _ = o.read_to_string(&mut text);
        }
        if let Some(e) = self.0.stderr.as_mut() {
            let _ = e.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        proc::kill(&mut self.0);
    }
}

#[test]
fn the_viewer_follows_gdb_on_a_booted_kernel() {
    if !common::require_tool("tmux") || !common::require_tool("gdb") {
        return;
    }
    let (s, port) = viewer("gdbview-boot", "--example 32 --no-animation");
    // stepi five times: the viewer stands at step 5, at gdb's EIP.
    let out = gdb(
        port,
        &[
            "stepi",
            "stepi",
            "stepi",
            "stepi",
            "stepi",
            "info registers eip",
            "monitor position",
        ],
    );
    let (eip, pos) = eip_and_position(&out);
    assert_eq!(pos, 5, "{out}");
    shows(&s, 5, eip);
    // A breakpoint and continue (the client before left the machine at step 5).
    let out = gdb(
        port,
        &[
            "break *0x100046",
            "continue",
            "info registers eip",
            "monitor position",
        ],
    );
    let (eip, at_break) = eip_and_position(&out);
    assert_eq!(eip, 0x100046, "{out}");
    assert!(at_break > 5, "{out}");
    shows(&s, at_break, eip);
    // Back two steps.
    let out = gdb(
        port,
        &[
            "reverse-stepi",
            "reverse-stepi",
            "info registers eip",
            "monitor position",
        ],
    );
    let (eip, pos) = eip_and_position(&out);
    assert_eq!(pos, at_break - 2, "{out}");
    shows(&s, pos, eip);
    // A step in the viewer while gdb is attached: gdb reads the moved machine.
    let flag = flag_file("stepped");
    let bg = Bg::spawn(
        port,
        &[
            "monitor position",
            &wait_flag(&flag),
            "maint flush register-cache",
            "info registers eip",
            "monitor position",
        ],
    );
    s.wait_for("gdb: attached");
    s.keys(&["Space"]);
    let screen = s.wait_for(&format!("step {}/", pos + 1));
    std::fs::write(&flag, "").expect("write the flag");
    let out = bg.output();
    let (eip, moved) = eip_and_position(&out);
    assert_eq!(moved, pos + 1, "{out}");
    assert!(
        screen.contains(&format!("eip {eip:08x}")),
        "gdb reads eip {eip:08x} the viewer shows:\n{screen}\n{out}"
    );
    quit_while_attached(s, port);
}

/// Quit the viewer while gdb is attached: it ends at once, the terminal is put back,
/// and gdb sees the connection close.
fn quit_while_attached(s: Session, port: u16) {
    let flag = flag_file("quit");
    let bg = Bg::spawn(port, &[&wait_flag(&flag), "stepi", "info registers eip"]);
    s.wait_for("gdb: attached");
    let pid = s.pid();
    s.keys(&["q"]);
    s.assert_restored("0");
    std::fs::write(&flag, "").expect("write the flag");
    let out = bg.output();
    assert!(
        out.contains("Remote connection closed") || out.contains("not being run"),
        "gdb sees the viewer go:\n{out}"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("ringstep"),
        "ringstep {pid} still runs"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens any more"
    );
}

/// A packet: `$TEXT#checksum`.
fn is_sigint(stop: &str) -> bool {
    stop.starts_with("T02") || stop == "S02"
}

#[test]
fn gdbs_continue_stops_on_ctrl_c_or_a_viewer_key_and_one_client_at_a_time() {
    if !common::require_tool("tmux") {
        return;
    }
    let dir = flag_file("loop").with_file_name("asm");
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = dir.join("loop.S");
    std::fs::write(&file, "1:\tinc %eax\n\tadd $3, %ebx\n\tjmp 1b\n").expect("write loop.S");
    let (s, port) = viewer("gdbview-loop", &format!("--asm {}", file.display()));
    let mut c = Client::to_port(port);
    c.send(&packet("?"));
    assert!(c.reply().starts_with('T'));
    s.wait_for("gdb: attached");
    // A second client is refused, and the viewer says so.
    let mut second = Client::to_port(port);
    let refusal = second.reply();
    assert!(refusal.contains("one client at a time"), "{refusal}");
    s.wait_for("was refused");
    // Continue: the viewer shows it running (in chunks, redrawn between them), until
    // Ctrl-C; then it stands where gdb stopped.
    c.send(&packet("vCont;c"));
    s.wait_for("gdb: running");
    c.send(b"\x03");
    let stop = c.reply();
    assert!(is_sigint(&stop), "{stop}");
    let pos = c.position();
    assert!(pos > 0, "the run moved");
    s.wait_for("gdb: attached");
    s.wait_for(&format!("step {pos}/"));
    // Continue again, and press a key in the viewer: gdb's run stops (SIGINT) and the
    // key acts (one step back).
    c.send(&packet("vCont;c"));
    s.wait_for("gdb: running");
    s.keys(&["p"]);
    let stop = c.reply();
    assert!(is_sigint(&stop), "{stop}");
    let back = c.position();
    assert!(back > pos, "the second run moved on from {pos} (to {back})");
    s.wait_for(&format!("step {back}/"));
    // The client leaves: the machine stays, the viewer listens again.
    drop(c);
    let screen = s.wait_for("gdb: listening");
    assert!(screen.contains(&format!("step {back}/")), "{screen}");
    let mut again = Client::to_port(port);
    assert_eq!(again.position(), back);
    // SIGTERM while gdb's `continue` runs: the viewer ends at once, the terminal is
    // put back, and the client sees the connection close.
    again.send(&packet("vCont;c"));
    s.wait_for("gdb: running");
    s.signal("TERM");
    s.assert_restored("143");
    let read = again.read_to_close();
    assert!(read.is_ok(), "the connection closed: {read:?}");
}
