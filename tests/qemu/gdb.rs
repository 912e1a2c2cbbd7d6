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

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run::Qemu;

/// Register numbers in QEMU's x86-64 gdbstub: the 16 general registers, RIP (16),
/// EFLAGS, the six selectors, the FS, GS and kernel GS bases, then CR0 (27).
const REG_RIP: u32 = 16;
const REG_CR0: u32 = 27;
/// CR0.PG.
const PG: u64 = 0x8000_0000;

/// A guest stopped under the gdbstub.
pub struct Replay {
    child: Child,
    sock: UnixStream,
}

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

impl Replay {
    /// Start `elf` under QEMU stopped before its first instruction, and run it to the
    /// scenario's first instruction at `start` (with paging on). Not for a guest with a
    /// timer (`Qemu::icount`): see the module docs.
    pub fn start(qemu: Qemu, elf: &Path, dir: &Path, start: u64) -> Result<Replay, String> {
        let sock_path = dir.join("gdb.sock");
        let _ = std::fs::remove_file(&sock_path);
        let mut cmd = Command::new(qemu.binary);
        if let Some(bios) = super::run::fast_bios() {
            cmd.arg("-bios").arg(bios);
        }
        let child = cmd
            .args([
                "-M",
                "pc",
                "-cpu",
                "max",
                "-m",
                &qemu.memory_mib.to_string(),
                "-no-reboot",
                "-no-shutdown",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "none",
                "-parallel",
                "none",
                "-nodefaults",
                "-singlestep",
                "-S",
                "-chardev",
                &format!(
                    "socket,id=gdb0,path={},server=on,wait=off",
                    sock_path.display()
                ),
                "-gdb",
                "chardev:gdb0",
                "-kernel",
            ])
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", qemu.binary))?;
        let waited = Instant::now();
        let mut child = child;
        let sock = loop {
            match UnixStream::connect(&sock_path) {
                Ok(s) => break s,
                Err(e) => {
                    if waited.elapsed() > Duration::from_secs(5)
                        || child.try_wait().ok().flatten().is_some()
                    {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("connect to QEMU's gdbstub: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        let mut r = Replay { child, sock };
        r.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        // QEMU answers `p` (one register) only to a client that has read its target
        // description.
        let xml = r.request("qXfer:features:read:target.xml:0,ffb")?;
        if !xml.starts_with(['l', 'm']) {
            return Err(format!("gdbstub: no target description ({xml:?})"));
        }
        r.expect_ok(&format!("Z0,{start:x},1"))?;
        // The address may come up before the scenario starts (the firmware, the stub,
        // before paging): go on until it is reached with paging on.
        for _ in 0..16 {
            r.stop_reply("c")?;
            if r.reg(REG_CR0)? & PG != 0 && r.reg(REG_RIP)? == start {
                r.expect_ok(&format!("z0,{start:x},1"))?;
                return Ok(r);
            }
        }
        Err(format!(
            "the replay never reached {start:#x} with paging on"
        ))
    }

    fn send(&mut self, body: &str) -> Result<(), String> {
        let pkt = format!("${body}#{:02x}", checksum(body.as_bytes()));
        self.sock
            .write_all(pkt.as_bytes())
            .map_err(|e| format!("gdbstub: send {body:?}: {e}"))
    }

    fn read_byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8];
        match self.sock.read(&mut b) {
            Ok(1) => Ok(b[0]),
            Ok(_) => Err("gdbstub: connection closed".into()),
            Err(e) => Err(format!("gdbstub: no answer ({e})")),
        }
    }

    /// Send `body` and return the reply packet's body (acks skipped).
    fn request(&mut self, body: &str) -> Result<String, String> {
        self.send(body)?;
        loop {
            match self.read_byte()? {
                b'$' => break,
                b'-' => self.send(body)?,
                _ => {}
            }
        }
        let mut reply = Vec::new();
        loop {
            match self.read_byte()? {
                b'#' => break,
                b => reply.push(b),
            }
        }
        let sum = [self.read_byte()?, self.read_byte()?];
        let sum = std::str::from_utf8(&sum)
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok());
        if sum != Some(checksum(&reply)) {
            return Err(format!("gdbstub: bad checksum in reply to {body:?}"));
        }
        self.sock.write_all(b"+").map_err(|e| e.to_string())?;
        String::from_utf8(reply).map_err(|_| format!("gdbstub: non-text reply to {body:?}"))
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
