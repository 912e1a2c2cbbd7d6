//! A `ringstep gdbserver` child for tests that drive it with the real gdb (or raw
//! packets), and the register values gdb printed or `ringstep trace` reports, to
//! compare them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use super::proc::{self, Deadline};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

/// A `ringstep gdbserver` child on a free port, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("gdbserver")
            .args(args)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ringstep gdbserver starts");
        let stderr = child.stderr.take().expect("a piped standard error");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The first line names the port; the rest is read so the pipe never fills.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = match rx.recv_timeout(proc::GENEROUS) {
            Ok(l) => l,
            Err(_) => {
                proc::kill(&mut child);
                panic!("gdbserver {args:?} said nothing within the deadline");
            }
        };
        let port = first
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{first}`"));
        Server { child, port }
    }

    /// gdb in batch mode: attach, run `commands`, detach. Its whole output.
    pub fn gdb(&self, commands: &[&str]) -> String {
        let mut cmd = Command::new("gdb");
        cmd.args(["-batch", "-nx", "-ex", "set pagination off"]);
        cmd.args(["-ex", &format!("target remote 127.0.0.1:{}", self.port)]);
        for c in commands {
            cmd.args(["-ex", c]);
        }
        let out = proc::output_within(&mut cmd, &Deadline::generous(format!("gdb {commands:?}")))
            .unwrap_or_else(|e| panic!("{e}"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn connect(&self) -> Client {
        Client::to_port(self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        proc::kill(&mut self.child);
    }
}

/// The registers gdb's `info registers` printed last for each name.
pub fn gdb_regs(out: &str) -> BTreeMap<String, u64> {
    let mut regs = BTreeMap::new();
    for line in out.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(v)) = (words.next(), words.next()) {
            if let Some(hex) = v.strip_prefix("0x") {
                if let Ok(v) = u64::from_str_radix(hex, 16) {
                    regs.insert(name.to_string(), v);
                }
            }
        }
    }
    regs
}

/// The registers of `ringstep trace ARGS --max-steps N --quiet` (its last state).
pub fn trace_regs(args: &[&str], steps: u64) -> BTreeMap<String, u64> {
    let mut cmd = Command::new(BIN);
    cmd.arg("trace").args(args);
    cmd.args(["--max-steps", &steps.to_string(), "--quiet"]);
    let out = proc::output_within(&mut cmd, &Deadline::generous("ringstep trace"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut regs = BTreeMap::new();
    for word in text.split_whitespace() {
        if let Some((name, v)) = word.split_once("=0x") {
            if let Ok(v) = u64::from_str_radix(v, 16) {
                regs.insert(name.to_string(), v);
            }
        }
    }
    assert!(
        regs.contains_key("eip") || regs.contains_key("rip"),
        "{text}"
    );
    regs
}

/// A packet: `$TEXT#checksum`.
pub fn packet(text: &str) -> Vec<u8> {
    let sum = text.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${text}#{sum:02x}").into_bytes()
}

/// A raw connection and what it received but did not take yet.
pub struct Client {
    s: TcpStream,
    got: Vec<u8>,
}

/// Take the first whole packet (`$TEXT#xx`) out of `got`: its text.
pub fn take_packet(got: &mut Vec<u8>) -> Option<String> {
    let start = got.iter().position(|&b| b == b'$')?;
    let end = start + got[start..].iter().position(|&b| b == b'#')?;
    if got.len() < end + 3 {
        return None;
    }
    let text = String::from_utf8_lossy(&got[start + 1..end]).into_owned();
    got.drain(..end + 3);
    Some(text)
}

impl Client {
    /// A connection to a server on loopback at `port`.
    pub fn to_port(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        s.set_read_timeout(Some(proc::GENEROUS)).expect("a timeout");
        Client { s, got: Vec::new() }
    }

    /// The next whole reply packet's text (`$TEXT#xx`), reading until one arrived.
    pub fn reply(&mut self) -> String {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(text) = take_packet(&mut self.got) {
                return text;
            }
            let n = proc::retry(|| self.s.read(&mut buf)).expect("a reply within the deadline");
            assert!(
                n > 0,
                "the server closed the connection after {:?}",
                self.got
            );
            self.got.extend_from_slice(&buf[..n]);
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("send to the server");
    }

    /// `monitor position` (console output `O` + hex, then `OK`): the history position.
    pub fn position(&mut self) -> u64 {
        self.send(&packet("qRcmd,706f736974696f6e"));
        let mut text = String::new();
        for _ in 0..4 {
            let r = self.reply();
            if r == "OK" {
                break;
            }
            let hex = r.strip_prefix('O').unwrap_or("");
            for i in (0..hex.len() / 2).map(|k| 2 * k) {
                if let Ok(b) = u8::from_str_radix(&hex[i..i + 2], 16) {
                    text.push(b as char);
                }
            }
        }
        text.trim()
            .strip_prefix("position ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a position: {text:?}"))
    }

    /// Read until the server closes the connection (Err if it stays open past the
    /// deadline).
    pub fn read_to_close(&mut self) -> std::io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        proc::retry(|| self.s.read_to_end(&mut rest))?;
        Ok(rest)
    }
}
