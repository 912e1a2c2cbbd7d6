//! A second QEMU run of the same guest, driven through QEMU's gdbstub (GDB remote serial
//! protocol over a Unix socket), for memory after every instruction: the `-d` log of
//! `run` has registers but no memory values.
//!
//! The replay stops at the scenario's first instruction (a breakpoint at its address,
//! taken once paging is on), then single-steps it: QEMU ends a gdbstub step after one
//! instruction, or after delivering an exception or interrupt (at the handler's first
//! instruction, not executed), which is how ringstep counts steps; after every step the
//! replay's RIP must be ringstep's, or the replay ends with a difference. Memory is read
//! with `m`, at virtual addresses through the guest's paging as it is after the step.
//!
//! A guest with a scheduled interrupt (the local-APIC timer under `-icount`) is not
//! replayed: while the gdbstub holds the guest stopped between steps, QEMU counts the
//! vCPU as idle and moves the instruction-counted clock on to the timer's deadline
//! (also with `Qqemu.sstep=1`, which lets timers run while stepping), so the interrupt
//! arrives at the first step instead of the one the logged run shows.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::run::Qemu;
use crate::common::proc::{self, Deadline};

/// Register numbers in QEMU's x86-64 gdbstub: the 16 general registers, RIP (16),
/// EFLAGS, the six selectors, the FS, GS and kernel GS bases, then CR0 (27).
const REG_RIP: u32 = 16;
const REG_CR0: u32 = 27;
/// CR0.PG.
const PG: u64 = 0x8000_0000;

/// How long QEMU may take to answer one gdbstub request (a step, a read, a resume to
/// the scenario's start) before the replay gives up and names the request.
const ANSWER: Duration = crate::common::proc::GENEROUS;
/// How long QEMU may take to open its gdbstub socket.
const CONNECT: Duration = crate::common::proc::GENEROUS;
/// The socket's read timeout: a slice of the wait, after which the request's deadline is
/// checked and the read tried again.
const SLICE: Duration = Duration::from_secs(1);

/// A guest stopped under the gdbstub.
pub struct Replay {
    child: Child,
    link: Link<UnixStream>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        proc::kill(&mut self.child);
    }
}

fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex reply {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}

/// The GDB remote serial protocol over a stream: packets out, replies in. A read
/// interrupted by a signal is tried again, and so is one that ran into the stream's read
/// timeout (`SLICE`), until the request's deadline passes: then the error names the
/// request.
pub struct Link<S> {
    stream: S,
    buf: Vec<u8>,
    pos: usize,
}

impl<S: Read + Write> Link<S> {
    pub fn new(stream: S) -> Link<S> {
        Link {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    pub fn send(&mut self, body: &str) -> Result<(), String> {
        let pkt = format!("${body}#{:02x}", checksum(body.as_bytes()));
        self.write(pkt.as_bytes())
            .map_err(|e| format!("QEMU's gdbstub: send {body:?}: {e}"))
    }

    /// `write_all`, retried where a signal interrupted it.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        proc::retry(|| self.stream.write_all(bytes))?;
        proc::retry(|| self.stream.flush())
    }

    fn read_byte(&mut self, deadline: &Deadline) -> Result<u8, String> {
        while self.pos == self.buf.len() {
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(format!("{}: connection closed", deadline.what())),
                Ok(n) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.pos = 0;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    deadline.check()?
                }
                Err(e) => return Err(format!("{}: {e}", deadline.what())),
            }
        }
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    /// Send `body` and return the reply packet's body (acks skipped), waiting `limit` at
    /// most.
    pub fn request(&mut self, body: &str, limit: Duration) -> Result<String, String> {
        let deadline = Deadline::new(format!("QEMU's gdbstub: answer to {body:?}"), limit);
        self.send(body)?;
        self.reply(body, &deadline)
    }

    /// The next reply packet's body to `body` (a request sent before: the console
    /// output packets of `qRcmd` come one after another), acked.
    pub fn reply(&mut self, body: &str, deadline: &Deadline) -> Result<String, String> {
        loop {
            match self.read_byte(deadline)? {
                b'$' => break,
                b'-' => self.send(body)?,
                _ => {}
            }
        }
        let mut reply = Vec::new();
        loop {
            match self.read_byte(deadline)? {
                b'#' => break,
                b => reply.push(b),
            }
        }
        let sum = [self.read_byte(deadline)?, self.read_byte(deadline)?];
        let sum = std::str::from_utf8(&sum)
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok());
        if sum != Some(checksum(&reply)) {
            return Err(format!("QEMU's gdbstub: bad checksum in reply to {body:?}"));
        }
        self.write(b"+")
            .map_err(|e| format!("QEMU's gdbstub: ack: {e}"))?;
        String::from_utf8(reply).map_err(|_| format!("QEMU's gdbstub: non-text reply to {body:?}"))
    }
}

/// Connect to QEMU's gdbstub socket once QEMU has created it.
fn connect(child: &mut Child, path: &Path) -> Result<UnixStream, String> {
    let deadline = Deadline::new("connect to QEMU's gdbstub", CONNECT);
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if let Some(status) = proc::exited(child) {
                    return Err(format!("connect to QEMU's gdbstub: QEMU exited ({status})"));
                }
                if deadline.passed() {
                    return Err(format!("{} (last error: {e})", deadline.error()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Replay {
    /// Start `elf` under QEMU stopped before its first instruction, and run it to the
    /// scenario's first instruction at `start` (with paging on). Not for a guest with a
    /// timer (`Qemu::icount`): see the module docs.
    pub fn start(qemu: Qemu, elf: &Path, dir: &Path, start: u64) -> Result<Replay, String> {
        let sock_path = dir.join("gdb.sock");
        let _ = std::fs::remove_file(&sock_path);
        let mut child = spawn(qemu, elf, &sock_path)?;
        let sock = match connect(&mut child, &sock_path) {
            Ok(s) => s,
            Err(e) => {
                proc::kill(&mut child);
                return Err(e);
            }
        };
        sock.set_read_timeout(Some(SLICE))
            .map_err(|e| e.to_string())?;
        let mut r = Replay {
            child,
            link: Link::new(sock),
        };
        // QEMU answers `p` (one register) only to a client that has read its target
        // description.
        let xml = r.request("qXfer:features:read:target.xml:0,ffb")?;
        if !xml.starts_with(['l', 'm']) {
            return Err(format!("gdbstub: no target description ({xml:?})"));
        }
        r.run_to_start(start)?;
        Ok(r)
    }

    /// Whether QEMU stopped the machine for a shutdown (a triple fault, `-no-shutdown`).
    pub fn shut_down(&mut self) -> Result<bool, String> {
        Ok(self.monitor("info status")?.contains("shutdown"))
    }

    /// One step, waiting `limit` at most (a step into a shutdown may not end).
    pub fn step_within(&mut self, limit: Duration) -> Result<(), String> {
        let r = self.link.request("s", limit)?;
        if r.starts_with('T') || r.starts_with('S') {
            Ok(())
        } else {
            Err(format!("gdbstub: \"s\" answered {r:?}"))
        }
    }

    fn run_to_start(&mut self, start: u64) -> Result<(), String> {
        let r = self;
        r.expect_ok(&format!("Z0,{start:x},1"))?;
        // The address may come up before the scenario starts (the firmware, the stub,
        // before paging): go on until it is reached with paging on.
        for _ in 0..16 {
            r.stop_reply("c")?;
            if r.reg(REG_CR0)? & PG != 0 && r.reg(REG_RIP)? == start {
                r.expect_ok(&format!("z0,{start:x},1"))?;
                return Ok(());
            }
        }
        Err(format!(
            "the replay never reached {start:#x} with paging on"
        ))
    }

    fn request(&mut self, body: &str) -> Result<String, String> {
        self.link.request(body, ANSWER)
    }

    fn expect_ok(&mut self, body: &str) -> Result<(), String> {
        match self.request(body)?.as_str() {
            "OK" => Ok(()),
            r => Err(format!("gdbstub: {body:?} answered {r:?}")),
        }
    }

    /// Resume (`c`) or step (`s`) and wait for the stop.
    fn stop_reply(&mut self, body: &str) -> Result<(), String> {
        let r = self.request(body)?;
        if r.starts_with('T') || r.starts_with('S') {
            Ok(())
        } else {
            Err(format!("gdbstub: {body:?} answered {r:?}"))
        }
    }

    fn reg(&mut self, n: u32) -> Result<u64, String> {
        let r = self.request(&format!("p{n:x}"))?;
        let bytes = unhex(&r).map_err(|e| format!("register {n}: {e}"))?;
        Ok(bytes
            .iter()
            .take(8)
            .rev()
            .fold(0u64, |v, b| (v << 8) | *b as u64))
    }

    /// Execute one step; the instruction pointer after it.
    pub fn step(&mut self) -> Result<u64, String> {
        self.stop_reply("s")?;
        self.reg(REG_RIP)
    }

    /// Run on to `addr` (a breakpoint there, then continue); the instruction pointer
    /// where the guest stopped. For PAUSE: QEMU leaves the execution loop after it
    /// without ending a gdbstub step, so `s` runs past it to a later stop.
    pub fn run_to(&mut self, addr: u64) -> Result<u64, String> {
        self.expect_ok(&format!("Z0,{addr:x},1"))?;
        self.stop_reply("c")?;
        self.expect_ok(&format!("z0,{addr:x},1"))?;
        self.reg(REG_RIP)
    }

    /// A monitor command through the gdbstub (`qRcmd`): its console output.
    pub fn monitor(&mut self, cmd: &str) -> Result<String, String> {
        let hex: String = cmd.bytes().map(|b| format!("{b:02x}")).collect();
        let body = format!("qRcmd,{hex}");
        let deadline = Deadline::new(format!("QEMU's gdbstub: answer to {cmd:?}"), ANSWER);
        self.link.send(&body)?;
        let mut out = Vec::new();
        loop {
            let r = self.link.reply(&body, &deadline)?;
            match r.strip_prefix('O') {
                Some(text) if r != "OK" => out.extend(unhex(text)?),
                _ if r == "OK" => break,
                _ => return Err(format!("gdbstub: {cmd:?} answered {r:?}")),
            }
        }
        String::from_utf8(out).map_err(|_| format!("gdbstub: non-text output of {cmd:?}"))
    }

    /// Every register as `g` gives them (hex, the target's layout).
    pub fn read_registers(&mut self) -> Result<String, String> {
        let r = self.request("g")?;
        if r.starts_with('E') || r.is_empty() {
            return Err(format!("gdbstub: \"g\" answered {r:?}"));
        }
        Ok(r)
    }

    /// Write registers from `hex` in `g`'s layout (`G`; QEMU writes them in order).
    pub fn write_registers(&mut self, hex: &str) -> Result<(), String> {
        self.expect_ok(&format!("G{hex}"))
    }

    /// Write `bytes` at virtual `addr` (through the guest's paging, past its rights).
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), String> {
        // QEMU's packets hold 4096 characters at most.
        for (n, chunk) in bytes.chunks(1024).enumerate() {
            let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let at = addr + n as u64 * 1024;
            self.expect_ok(&format!("M{at:x},{:x}:{hex}", chunk.len()))?;
        }
        Ok(())
    }

    /// Resume until the guest reaches `addr` (a breakpoint there); for code run
    /// between programs.
    pub fn continue_to(&mut self, addr: u64) -> Result<(), String> {
        self.run_to(addr).and_then(|at| {
            if at == addr {
                Ok(())
            } else {
                Err(format!("stopped at {at:#x}, not at {addr:#x}"))
            }
        })
    }

    /// Switch `m`/`M` packets to physical addresses (QEMU's `Qqemu.PhyMemMode`) or back
    /// to virtual ones.
    pub fn phys_mode(&mut self, on: bool) -> Result<(), String> {
        self.expect_ok(&format!("Qqemu.PhyMemMode:{}", u8::from(on)))
    }

    /// `len` bytes at physical `addr`, one request per run in `addrs`-style ranges:
    /// the bytes of every (address, length) in `ranges`, concatenated.
    pub fn read_phys(&mut self, ranges: &[(u64, usize)]) -> Result<Vec<u8>, String> {
        self.phys_mode(true)?;
        let mut out = Vec::new();
        let mut r = Ok(());
        for &(at, len) in ranges {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(2000);
                match self.read(at + done as u64, n) {
                    Ok(b) => out.extend(b),
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
                done += n;
            }
            if r.is_err() {
                break;
            }
        }
        let back = self.phys_mode(false);
        r.and(back).map(|_| out)
    }

    /// Write `bytes` at physical `addr`.
    pub fn write_phys(&mut self, addr: u64, bytes: &[u8]) -> Result<(), String> {
        self.phys_mode(true)?;
        let r = self.write(addr, bytes);
        let back = self.phys_mode(false);
        r.and(back)
    }

    /// `len` bytes at virtual `addr` (through the guest's current paging).
    pub fn read(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, String> {
        let r = self.request(&format!("m{addr:x},{len:x}"))?;
        if r.starts_with('E') {
            return Err(format!(
                "gdbstub: cannot read {len} bytes at {addr:#x} ({r})"
            ));
        }
        let bytes = unhex(&r)?;
        if bytes.len() != len {
            return Err(format!(
                "gdbstub: {} of {len} bytes at {addr:#x}",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

/// QEMU stopped before the guest's first instruction, its gdbstub on `sock`.
fn spawn(qemu: Qemu, elf: &Path, sock: &Path) -> Result<Child, String> {
    let mut cmd = Command::new(qemu.binary);
    if let Some(bios) = super::run::fast_bios() {
        cmd.arg("-bios").arg(bios);
    }
    cmd.args([
        "-M",
        "pc",
        "-cpu",
        "max",
        "-m",
        &qemu.memory_mib.to_string(),
    ])
    .args(["-no-reboot", "-no-shutdown", "-display", "none"])
    .args(["-monitor", "none", "-serial", "none", "-parallel", "none"])
    .args(["-nodefaults", "-singlestep", "-S", "-chardev"])
    .arg(format!(
        "socket,id=gdb0,path={},server=on,wait=off",
        sock.display()
    ))
    .args(["-gdb", "chardev:gdb0", "-kernel"])
    .arg(elf)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .map_err(|e| format!("start {}: {e}", qemu.binary))
}
