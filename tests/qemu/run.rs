//! Run a guest under qemu-system-i386 or qemu-system-x86_64 (TCG) with `-singlestep -d cpu,int,exec,nochain`
//! and read back the state before every instruction.
//!
//! Why the log and not the gdbstub: with `-singlestep` and `nochain` every translation
//! block is one instruction and QEMU prints the whole CPU state (including CPL and the
//! segment caches) before executing it, plus every exception and interrupt with its vector
//! and error code; one process, no protocol, deterministic. The gdbstub does not show the
//! CPL or the descriptor caches; it serves for memory only (`gdb`).

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::proc::{self, Deadline};

/// One segment register as QEMU prints it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QSeg {
    pub sel: u16,
    pub base: u64,
    pub limit: u32,
    pub flags: u32,
}

/// The CPU state QEMU printed before one instruction (its 32-bit layout outside IA-32e
/// mode, the 64-bit one with RAX..R15, RIP, RFL and 64-bit bases inside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QState {
    /// rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (only the low 8, 32 bits wide, outside
    /// long mode, where QEMU prints the 32-bit layout)
    pub gpr: [u64; 16],
    pub eip: u64,
    pub eflags: u32,
    pub cpl: u8,
    /// es cs ss ds fs gs (QEMU's order)
    pub seg: [QSeg; 6],
    pub tr: QSeg,
    pub cr0: u32,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    /// Exceptions and interrupts QEMU reported after this state: (vector, error code).
    pub exceptions: Vec<(u8, Option<u32>)>,
    /// QEMU printed the 64-bit layout (RAX..R15, 64-bit bases): in IA-32e mode with a
    /// 64-bit CS. In compatibility mode it prints the 32-bit layout, so R8-R15 and bits
    /// 63:32 of the registers and of segment bases are not in the log.
    pub wide: bool,
    /// The state is the register dump of an exception raised by an instruction fetch,
    /// standing in for the state before that fetch: QEMU sets CR2 before it prints
    /// the dump, so CR2 there is already the new one.
    pub from_exception: bool,
}

/// QEMU's run: the states from the first one at `start_eip` on, and whether QEMU reset.
pub struct QRun {
    pub states: Vec<QState>,
    pub log_bytes: usize,
    /// Physical memory ranges (address, bytes) at the end of the run (`pmemsave`), if QEMU
    /// was still there to save it.
    pub memory: Option<Vec<(u64, Vec<u8>)>>,
    /// Why the run ended before QEMU got where it should: it could not start, or the
    /// run's deadline passed (the message names it).
    pub failure: Option<String>,
}

impl QRun {
    fn failed(why: String) -> QRun {
        QRun {
            states: Vec::new(),
            log_bytes: 0,
            memory: None,
            failure: Some(why),
        }
    }
}

/// CR0.PG: the scenario runs with paging on, the stub starts without it.
const PG: u32 = 0x8000_0000;

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim(), 16).ok()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()
}

/// Parse the log into states; only states from the first one at `start_eip` (with
/// paging on: the scenario's, not the stub's) on are kept.
pub fn parse(log: &str, start_eip: u64) -> Vec<QState> {
    parse_with(log, &|st| st.eip == start_eip && st.cr0 & PG != 0)
}

/// Parse the log into states from the first one `start` accepts on.
pub fn parse_with(log: &str, start: &dyn Fn(&QState) -> bool) -> Vec<QState> {
    let mut out: Vec<QState> = Vec::new();
    let mut started = false;
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        // QEMU logged the block and then left it before executing it (an exit request);
        // the same instruction is logged again when it really runs.
        if line.starts_with("Stopped execution of TB chain") {
            if started && out.last().is_some_and(|s| s.exceptions.is_empty()) {
                out.pop();
            }
            continue;
        }
        if line.starts_with("Trace ") || line.contains(" v=") {
            let interrupt = !line.starts_with("Trace ");
            if interrupt {
                let v = field(line, "v=").and_then(hex).unwrap_or(0) as u8;
                let e = field(line, "e=").and_then(hex).map(|e| e as u32);
                let e = if matches!(v, 8 | 10..=14 | 17) {
                    e
                } else {
                    None
                };
                let software = field(line, "i=") == Some("1");
                // The register dump after an interrupt line: the state it was raised in.
                let mut st = QState::default();
                let mut got = false;
                while let Some(l) = lines.peek() {
                    if is_header(l) {
                        break;
                    }
                    let l = lines.next().unwrap_or_default();
                    parse_line(l, &mut st, &mut got);
                }
                // An interrupt delivered before the first instruction (scheduled
                // before step 0) starts the run with its register dump.
                if !started && !software && got && start(&st) {
                    started = true;
                }
                if started {
                    // An exception at an instruction QEMU never logged (a fetch fault),
                    // or an interrupt before it: its state is the one the instruction
                    // would have started in.
                    let new_place = out.last().is_none_or(|l| l.eip != st.eip);
                    if new_place && !software && got {
                        st.from_exception = true;
                        out.push(st);
                    }
                    if let Some(last) = out.last_mut() {
                        last.exceptions.push((v, e));
                    }
                }
                continue;
            }
            let mut st = QState::default();
            let mut got = false;
            while let Some(l) = lines.peek() {
                if is_header(l) {
                    break;
                }
                let l = lines.next().unwrap_or_default();
                parse_line(l, &mut st, &mut got);
            }
            if !got {
                continue;
            }
            if !started && start(&st) {
                started = true;
            }
            if started {
                out.push(st);
            }
        }
    }
    out
}

/// A line that starts a new record (not part of a register dump).
fn is_header(l: &str) -> bool {
    l.starts_with("Trace ") || l.contains(" v=") || l.starts_with("Stopped execution")
}

pub fn parse_line(l: &str, st: &mut QState, got: &mut bool) {
    let names = [
        ["EAX=", "RAX="],
        ["ECX=", "RCX="],
        ["EDX=", "RDX="],
        ["EBX=", "RBX="],
        ["ESP=", "RSP="],
        ["EBP=", "RBP="],
        ["ESI=", "RSI="],
        ["EDI=", "RDI="],
        ["R8 =", "R8 ="],
        ["R9 =", "R9 ="],
        ["R10=", "R10="],
        ["R11=", "R11="],
        ["R12=", "R12="],
        ["R13=", "R13="],
        ["R14=", "R14="],
        ["R15=", "R15="],
    ];
    for (i, ns) in names.iter().enumerate() {
        for n in ns {
            if let Some(v) = field(l, n).and_then(hex) {
                st.gpr[i] = v;
            }
        }
    }
    if field(l, "RAX=").is_some() {
        st.wide = true;
    }
    for n in ["EIP=", "RIP="] {
        if let Some(v) = field(l, n).and_then(hex) {
            st.eip = v;
            *got = true;
        }
    }
    for n in ["EFL=", "RFL="] {
        if let Some(v) = field(l, n).and_then(hex) {
            st.eflags = v as u32;
        }
    }
    if let Some(v) = field(l, "CPL=") {
        st.cpl = v.parse().unwrap_or(0);
    }
    if let Some(v) = field(l, "CR0=").and_then(hex) {
        st.cr0 = v as u32;
    }
    if let Some(v) = field(l, "CR3=").and_then(hex) {
        st.cr3 = v;
    }
    if let Some(v) = field(l, "CR4=").and_then(hex) {
        st.cr4 = v;
    }
    if let Some(v) = field(l, "CR2=").and_then(hex) {
        st.cr2 = v;
    }
    let segs = ["ES =", "CS =", "SS =", "DS =", "FS =", "GS =", "TR ="];
    for (i, n) in segs.iter().enumerate() {
        if let Some(rest) = l.strip_prefix(n) {
            let mut it = rest.split_whitespace();
            let mut next = || it.next().and_then(hex).unwrap_or(0);
            let seg = QSeg {
                sel: next() as u16,
                base: next(),
                limit: next() as u32,
                flags: next() as u32,
            };
            if i == 6 {
                st.tr = seg;
            } else {
                st.seg[i] = seg;
            }
        }
    }
}

/// QEMU's minimal firmware (qboot), if this installation has it: it reaches the
/// multiboot kernel in a few thousand instructions where SeaBIOS runs a few hundred
/// thousand, which under `-singlestep` is most of a run's time (0.06 s against 0.5 s).
/// Without it QEMU's default BIOS is used; the guest does not depend on either.
pub fn fast_bios() -> Option<&'static str> {
    [
        "/usr/share/qemu/qboot.rom",
        "/usr/local/share/qemu/qboot.rom",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
}

/// Which QEMU runs a guest, with how much memory (MiB).
#[derive(Clone, Copy, Debug)]
pub struct Qemu {
    pub binary: &'static str,
    pub memory_mib: u32,
    /// Run with `-icount shift=0,sleep=off`: the virtual clock advances 1 ns per
    /// instruction, so a guest timer fires after a fixed number of instructions.
    pub icount: bool,
}

/// How long QEMU's log may stay the same before the run is taken as ended: `QUIET_DONE`
/// once it holds the states the comparison needs (QEMU halted, or runs where the log
/// filter hides it), `QUIET_STUCK` before (QEMU went elsewhere: the comparison reports
/// the missing states). Measured in time, not in polls, so that a QEMU starved of CPU
/// on a loaded machine is not taken for one that stopped. (Of 82 QEMU runs measured,
/// every one ended on its state count or a shutdown, none on quiet.)
const QUIET_DONE: Duration = Duration::from_millis(500);
const QUIET_STUCK: Duration = Duration::from_secs(30);

/// The log so far (a read interrupted by a signal is tried again; a log not yet created
/// reads as empty).
fn read_log(path: &Path) -> String {
    proc::retry(|| std::fs::read(path))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Run `elf` under `qemu.binary` until more than `want` states from `start_eip` on are
/// logged, QEMU exits or shuts down (a triple fault), or the log stays the same for a
/// while (`QUIET_DONE` after at least `need` states, else `QUIET_STUCK`); the whole run
/// has `proc::GENEROUS`, and a run that exceeds it says so (`QRun::failure`).
/// After the run, QEMU's monitor saves the physical memory of `memory_ranges`
/// (address, length). `dfilter` limits the instruction log to the scenario's memory (not the BIOS or the stub).
pub fn run(
    qemu: Qemu,
    elf: &Path,
    dir: &Path,
    start_eip: u64,
    (need, want): (usize, usize),
    dfilter: &str,
    memory_ranges: &[(u64, u64)],
) -> QRun {
    let log_path = dir.join("qemu.log");
    let mut child = match spawn_logged(qemu, elf, &log_path, dfilter) {
        Ok(c) => c,
        Err(e) => return QRun::failed(e),
    };
    let deadline = Deadline::generous(format!("QEMU's logged run of {}", elf.display()));
    let mut last_len = 0;
    let mut changed = Instant::now();
    let exited = loop {
        let exited = proc::exited(&mut child).is_some();
        let text = read_log(&log_path);
        if text.len() != last_len {
            last_len = text.len();
            changed = Instant::now();
        }
        let states = parse(&text, start_eip).len();
        // Done: QEMU went past the end (it idles in a `jmp .` there), or it stopped
        // logging after a fault it could not deliver (-no-shutdown pauses it).
        // A fault while delivering a double fault shuts the processor down: QEMU pauses
        // (-no-shutdown) and logs nothing more.
        let shut_down = text.contains("check_exception old: 0x8 new");
        let quiet = changed.elapsed();
        let done = states > want
            || shut_down
            || (states >= need && quiet >= QUIET_DONE)
            || quiet >= QUIET_STUCK;
        if exited || done || deadline.passed() {
            break exited;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let failure = deadline.passed().then(|| deadline.error());
    let memory = if exited {
        None
    } else {
        save_and_quit(&mut child, dir, memory_ranges)
    };
    proc::kill(&mut child);
    let text = read_log(&log_path);
    QRun {
        states: parse(&text, start_eip),
        log_bytes: text.len(),
        memory,
        failure,
    }
}

/// QEMU single-stepping `elf`, its log (on standard error) in `log`, its monitor on
/// standard input.
fn spawn_logged(qemu: Qemu, elf: &Path, log: &Path, dfilter: &str) -> Result<Child, String> {
    let log = std::fs::File::create(log).map_err(|e| format!("create the QEMU log: {e}"))?;
    let mut cmd = Command::new(qemu.binary);
    if let Some(bios) = fast_bios() {
        cmd.arg("-bios").arg(bios);
    }
    if qemu.icount {
        cmd.args(["-icount", "shift=0,sleep=off"]);
    }
    cmd.args([
        "-M",
        "pc",
        "-cpu",
        "max",
        "-m",
        &qemu.memory_mib.to_string(),
    ])
    .args(["-no-reboot", "-monitor", "stdio", "-display", "none"])
    .args(["-no-shutdown", "-serial", "none", "-parallel", "none"])
    .args(["-nodefaults", "-singlestep", "-d", "cpu,int,exec,nochain"])
    .args(["-dfilter", dfilter, "-kernel"])
    .arg(elf)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(log)
    .spawn()
    .map_err(|e| format!("start {}: {e}", qemu.binary))
}

/// Stop the guest, save its memory through the monitor, quit, and wait for QEMU to
/// exit (so that the file is complete); the memory, if QEMU saved it in time.
fn save_and_quit(
    child: &mut Child,
    dir: &Path,
    ranges: &[(u64, u64)],
) -> Option<Vec<(u64, Vec<u8>)>> {
    let path = |n: usize| dir.join(format!("memory{n}.bin"));
    let mut commands = String::from("stop\n");
    for (n, (base, len)) in ranges.iter().enumerate() {
        let _ = std::fs::remove_file(path(n));
        commands += &format!("pmemsave {base:#x} {len:#x} \"{}\"\n", path(n).display());
    }
    commands += "quit\n";
    if let Some(stdin) = child.stdin.as_mut() {
        // `write_all` goes on after an interrupted write; retried as a whole if the
        // signal came before anything was written.
        let _ = proc::retry(|| stdin.write_all(commands.as_bytes()));
        let _ = proc::retry(|| stdin.flush());
    }
    let deadline = Deadline::generous("QEMU's monitor: pmemsave and quit");
    if let Err(e) = proc::wait_until(child, &deadline) {
        eprintln!("{e}");
        return None;
    }
    ranges
        .iter()
        .enumerate()
        .map(|(n, &(base, len))| {
            proc::retry(|| std::fs::read(path(n)))
                .ok()
                .filter(|m| m.len() as u64 == len)
                .map(|m| (base, m))
        })
        .collect()
}
