//! Many programs in one QEMU (issue 13): a session boots the guest of a first program
//! once, under the gdbstub, and then runs program after program in it, resetting the
//! machine between them, comparing the state after every instruction as `diff_setup`
//! does, with one process instead of two per program and no assembler or linker run.
//!
//! - Reset, through the gdbstub: a small routine linked into the guest's stub
//!   (`ringstep_reset`: the MSRs the scenarios use and the debug registers, back to the
//!   first program's values, CR4 the next program's, toggling PGE so that QEMU drops
//!   every translation) is run at CPL 0; then the physical pages QEMU may hold
//!   differently from the next program's initial machine (the frames and region pages
//!   the last program changed - page tables, accessed and dirty flags included - or
//!   whose initial contents differ) are written (`M` in `Qqemu.PhyMemMode:1`), and the
//!   registers are written in one `G` from the ones the boot left at the first program's start, with the
//!   program's general registers, RIP, RFLAGS and selectors (QEMU loads a selector's
//!   cache from the descriptor table, and the CPL from SS's DPL). The programs of one
//!   session share their memory layout, descriptor tables, TR and control registers
//!   but CR4 (the random programs of one `Host`); the initial state is compared with ringstep's
//!   like any other (`init`), so a reset that missed something shows as a difference.
//! - State after every step: the monitor's `info registers` through the gdbstub
//!   (`qRcmd`): the same dump as `-d cpu` (CPL, segment caches, TR, CR2-CR4). Memory:
//!   the bytes ringstep wrote, read after the step (`m`) and again at the end of the
//!   program; the accessed/dirty flags ringstep's walks set (`Change::PhysMem`), read
//!   from QEMU's physical memory after the step; every present paging-structure entry
//!   at the end (a flag QEMU alone set).
//! - Exceptions: the gdbstub shows no vectors; the vector QEMU delivered is the one
//!   whose IDT gate leads to the address QEMU stopped at (each fault vector of the
//!   random programs has its own handler), its error code the one QEMU pushed.
//! - Port input (IN, INS): ringstep models no devices (all ones); it adopts the value
//!   QEMU read, counted (`SceneDiff::ports_adopted`). Output is compared as the
//!   registers and faults it leaves (the I/O permission checks' #GP).
//!
//! What a session cannot run (an exception with no handler, where QEMU shuts down; a
//! scheduled interrupt, which needs the logged run's timer; a gdbstub failure) is
//! reported as `Err`, and the caller runs the program alone through `diff_setup`; a
//! broken session is booted again for the next program.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use iced_x86::Mnemonic;
use ringstep::engine::{Change, Event, Outcome, StepResult, StopReason};
use ringstep::machine::flags::ZF;
use ringstep::machine::{Machine, SegReg};

use super::gdb::Replay;
use super::run::{self, QState};
use super::{
    compare_state, divergence, guest, guest64, idt_error_code_64, mem_difference, tr_cached_busy,
    undefined_flags, Difference, SceneDiff, Setup,
};

const PAGE: u64 = 0x1000;

/// How long a step into a shutdown may take to come back.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Offsets in the register block of QEMU's x86-64 gdbstub (`g`, in bytes): 16 general
/// registers of 8 bytes, RIP, EFLAGS (4), then the six selectors (4 each: CS SS DS ES
/// FS GS).
const G_RIP: usize = 16 * 8;
const G_EFLAGS: usize = G_RIP + 8;
const G_SEGS: usize = G_EFLAGS + 4;

/// A guest built for sessions: its image, and the reset routine's addresses.
pub struct Built {
    pub elf: PathBuf,
    pub dir: PathBuf,
    reset: (u64, u64),
    memory_mib: u32,
    start: u64,
    long: bool,
}

/// One QEMU running program after program.
pub struct Session {
    replay: Replay,
    long: bool,
    /// `g` at the first program's start (bytes).
    regs0: Vec<u8>,
    /// The reset routine and the address it ends at (a `jmp .`).
    reset: (u64, u64),
    /// Kernel code and stack selectors the reset routine runs with.
    kernel_cs: u16,
    kernel_ss: u16,
    /// QEMU shut down (a triple fault): the session cannot run another program.
    spent: bool,
    /// Physical page contents QEMU is known to hold (written by the last reset and not
    /// written since); other frames are written at the next reset.
    known: HashMap<u64, Vec<u8>>,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex {s:?}")))
        .collect()
}

/// The reset routine for the guest's stub: the MSRs the scenarios use back to `m`'s
/// values, the debug registers to their reset values, then a `jmp .`.
fn reset_routine(m: &Machine, long: bool) -> String {
    let mut s = String::from("ringstep_reset:\n");
    for (index, value) in m.cpu.msrs() {
        let wanted = matches!(index, 0x174..=0x176)
            || (long && matches!(index, 0xc000_0081..=0xc000_0084 | 0xc000_0102));
        if wanted {
            s += &format!(
                "  mov ${index:#x}, %ecx\n  mov ${:#x}, %eax\n  mov ${:#x}, %edx\n  wrmsr\n",
                value & 0xffff_ffff,
                value >> 32
            );
        }
    }
    if long {
        // FS and GS bases (WRFSBASE/WRGSBASE, SWAPGS change them).
        for (index, seg) in [(0xc000_0100u32, SegReg::Fs), (0xc000_0101, SegReg::Gs)] {
            let value = m.cpu.seg(seg).base;
            s += &format!(
                "  mov ${index:#x}, %ecx\n  mov ${:#x}, %eax\n  mov ${:#x}, %edx\n  wrmsr\n",
                value & 0xffff_ffff,
                value >> 32
            );
        }
    }
    let r = if long { "rax" } else { "eax" };
    // The control registers as the stub set them (`guest::build`, `guest64::build`).
    let cpu = &m.cpu;
    let (cr0, cr3) = if long {
        ((cpu.cr0 | 0x8000_0001) & 0xffff_ffff, cpu.cr3 & 0xffff_ffff)
    } else {
        (cpu.cr0, cpu.cr3)
    };
    for (n, v) in [(3, cr3), (4, 0), (0, cr0), (2, cpu.cr2)] {
        if n == 4 {
            // The program's CR4 comes in EBX/RBX (`Session::reset`; SMEP and SMAP differ
            // between programs), first without PGE: every translation QEMU holds goes
            // (the page tables are written after the routine, accessed and dirty flags
            // cleared again).
            s += &format!(
                "  mov %{r}, %{b}\n  and $-129, %{b}\n  mov %{b}, %cr4\n  mov %{r}, %cr4\n",
                r = if long { "rbx" } else { "ebx" },
                b = if long { "rax" } else { "eax" }
            );
            continue;
        }
        s += &if long {
            format!("  movabs ${v:#x}, %rax\n  mov %rax, %cr{n}\n")
        } else {
            format!("  mov ${v:#x}, %eax\n  mov %eax, %cr{n}\n")
        };
    }
    if long {
        s += &format!("  mov ${:#x}, %eax\n  mov %rax, %cr8\n", cpu.cr8);
    }
    s += "  xor %eax, %eax\n  lldt %ax\n";
    for n in 0..4 {
        s += &format!("  mov %{r}, %dr{n}\n");
    }
    s += &format!(
        "  mov $0xffff0ff0, %eax\n  mov %{r}, %dr6\n  mov $0x400, %eax\n  mov %{r}, %dr7\n"
    );
    s += "ringstep_reset_done:\n  jmp ringstep_reset_done\n";
    s
}

/// A symbol's address in `elf` (`nm`).
fn symbol(elf: &Path, name: &str) -> Result<u64, String> {
    let out = crate::common::run_tool(std::process::Command::new("nm").arg(elf))?;
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            let (addr, _, sym) = (it.next()?, it.next()?, it.next()?);
            (sym == name).then(|| u64::from_str_radix(addr, 16).ok())?
        })
        .ok_or(format!("no symbol {name} in {}", elf.display()))
}

/// The handler address of every present gate in `m`'s IDT: (address, vector).
fn handlers(m: &Machine) -> Vec<(u64, u8)> {
    let long = m.cpu.long_mode_active();
    let size = if long { 16 } else { 8 };
    let idt = &m.cpu.idtr;
    let mut out = Vec::new();
    for v in 0..=255u64 {
        if (v + 1) * size - 1 > idt.limit as u64 {
            break;
        }
        let mut g = [0u8; 16];
        m.mem.peek(idt.base + v * size, &mut g[..size as usize]);
        if g[5] & 0x80 == 0 {
            continue;
        }
        let mut a = u16::from_le_bytes([g[0], g[1]]) as u64
            | (u16::from_le_bytes([g[6], g[7]]) as u64) << 16;
        if long {
            a |= (u32::from_le_bytes([g[8], g[9], g[10], g[11]]) as u64) << 32;
        }
        out.push((a, v as u8));
    }
    out
}

/// C6 or C7 (group 11) with a ModRM.reg other than 0 (MOV) and 7 (XABORT/XBEGIN):
/// reserved, #UD by the SDM's opcode map; QEMU 7.2 executes it as MOV.
fn group11_reserved(bytes: &[u8], long: bool) -> bool {
    let skip = bytes
        .iter()
        .take_while(|&&b| {
            matches!(
                b,
                0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf2 | 0xf3
            ) || (long && (0x40..0x50).contains(&b))
        })
        .count();
    match bytes.get(skip..skip + 2) {
        Some(&[0xc6 | 0xc7, modrm]) => !matches!((modrm >> 3) & 7, 0 | 7),
        _ => false,
    }
}

/// Whether the instruction at `bytes` has a LOCK prefix.
fn lock_prefixed(bytes: &[u8], long: bool) -> bool {
    bytes
        .iter()
        .take_while(|&&b| {
            matches!(
                b,
                0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3
            ) || (long && (0x40..0x50).contains(&b))
        })
        .any(|&b| b == 0xf0)
}

/// Vectors that push an error code.
fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10..=14 | 17 | 21)
}

/// The physical pages a program of `m`'s layout can reach: the allocated frames and
/// the regions' memory (the stub's left out), sorted.
fn pages_of(m: &Machine) -> Vec<u64> {
    let mut pages = m.mem.frame_addrs();
    for r in m.mem.regions() {
        if r.name == guest::STUB_REGION {
            continue;
        }
        pages.extend(r.phys_range().step_by(PAGE as usize));
    }
    pages.retain(|&a| !(guest::STUB_BASE..guest::STUB_BASE + guest::STUB_SIZE).contains(&a));
    pages.sort_unstable();
    pages.dedup();
    pages
}

/// The present entries of `m`'s paging structures (the tables its layout built and the
/// top-level tables), as (physical address, length) runs.
fn table_entries(m: &Machine) -> Vec<(u64, usize)> {
    let Some(plan) = &m.layout else {
        return Vec::new();
    };
    let long = m.cpu.long_mode_active();
    let pae = m.cpu.cr4 & 0x20 != 0;
    let size: u64 = if long || pae { 8 } else { 4 };
    let mut tables: Vec<(u64, u64)> = Vec::new();
    if let Some((start, end)) = plan.built {
        tables.extend((start..end).step_by(PAGE as usize).map(|t| (t, PAGE)));
    }
    for s in &plan.spaces {
        if pae && !long {
            tables.push((s.root & !0x1f, 32));
        } else {
            tables.push((s.root & !(PAGE - 1), PAGE));
        }
    }
    let mut addrs: Vec<u64> = Vec::new();
    for (t, len) in tables {
        for a in (t..t + len).step_by(size as usize) {
            if m.mem.peek_phys_le(a, size as usize) & 1 != 0 {
                addrs.extend(a..a + size);
            }
        }
    }
    addrs.sort_unstable();
    addrs.dedup();
    runs(&addrs)
}

/// A delivered page fault's kind, from its error code and the page CR2 names in `m`
/// (the machine after the step): who, what, and why ("kernel read SMAP").
fn pf_kind(m: &Machine, code: u32) -> String {
    let who = if code & 4 != 0 { "user" } else { "kernel" };
    let what = if code & 16 != 0 {
        "fetch"
    } else if code & 2 != 0 {
        "write"
    } else {
        "read"
    };
    let page = m.mapping(m.cpu.cr2);
    let why = match page {
        _ if code & 1 == 0 => "not-present",
        _ if code & 8 != 0 => "reserved-bit",
        Some(p) if code & 4 == 0 && p.user && code & 16 != 0 => "SMEP",
        Some(p) if code & 4 == 0 && p.user => "SMAP",
        Some(p) if code & 4 != 0 && !p.user => "supervisor-only",
        Some(p) if code & 16 != 0 && p.nx => "no-execute",
        Some(p) if code & 2 != 0 && !p.writable => "read-only",
        _ => "other",
    };
    format!("{who} {what} {why}")
}

/// Run-length groups of sorted addresses: (start, length).
fn runs(addrs: &[u64]) -> Vec<(u64, usize)> {
    addrs
        .chunk_by(|a, b| b - a == 1)
        .map(|r| (r[0], r.len()))
        .collect()
}

impl Session {
    /// Build the guest of `setup`'s machine in `dir` (once per host: every boot of a
    /// session of the host uses it).
    pub fn build(setup: &Setup, dir: &Path) -> Result<Built, String> {
        if !setup.schedule.is_empty() {
            return Err("a session runs no scheduled interrupts".into());
        }
        let m = &setup.machine;
        let long = m.cpu.long_mode_active();
        let mut g = if long {
            guest64::build(m, &[], None)?
        } else {
            guest::build(m, &[], None)?
        };
        let at = g
            .asm
            .find("\n  .balign 8\n")
            .ok_or("no data section in the guest's stub")?;
        g.asm.insert_str(at + 1, &reset_routine(m, long));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let elf = guest::link(&g, dir, if long { 64 } else { 32 })?;
        let reset = (
            symbol(&elf, "ringstep_reset")?,
            symbol(&elf, "ringstep_reset_done")?,
        );
        Ok(Built {
            elf,
            dir: dir.to_path_buf(),
            reset,
            memory_mib: g.memory_mib,
            start: m.cpu.rip,
            long,
        })
    }

    /// Boot `built` in QEMU under the gdbstub, stopped at its first instruction. The
    /// programs run must share the layout of the machine it was built from (see the
    /// module docs).
    pub fn boot(built: &Built) -> Result<Session, String> {
        let long = built.long;
        let qemu = run::Qemu {
            binary: "qemu-system-x86_64",
            memory_mib: built.memory_mib,
            icount: false,
        };
        let mut replay = Replay::start(qemu, &built.elf, &built.dir, built.start)?;
        let regs0 = from_hex(&replay.read_registers()?)?;
        if regs0.len() < G_SEGS + 24 {
            return Err(format!("a register block of {} bytes", regs0.len()));
        }
        let (kernel_cs, kernel_ss) = if long {
            (crate::common::K64_CS, crate::common::K64_DS)
        } else {
            (crate::common::KERNEL_CS, crate::common::KERNEL_DS)
        };
        Ok(Session {
            replay,
            long,
            regs0,
            reset: built.reset,
            kernel_cs,
            kernel_ss,
            spent: false,
            known: HashMap::new(),
        })
    }

    /// Whether QEMU shut down and the session is over.
    pub fn spent(&self) -> bool {
        self.spent
    }

    /// The register block for `m`'s registers (the rest as at the boot).
    fn registers(&self, m: &Machine) -> Vec<u8> {
        let mut g = self.regs0.clone();
        let n = if self.long { 16 } else { 8 };
        let mask = if self.long { u64::MAX } else { 0xffff_ffff };
        // GDB's order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
        let order = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];
        for (slot, &i) in order.iter().enumerate() {
            let v = if i < n { m.cpu.gpr[i] & mask } else { 0 };
            g[slot * 8..slot * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        g[G_RIP..G_RIP + 8].copy_from_slice(&(m.cpu.rip & mask).to_le_bytes());
        g[G_EFLAGS..G_EFLAGS + 4].copy_from_slice(&(m.cpu.rflags as u32).to_le_bytes());
        let order = [
            SegReg::Cs,
            SegReg::Ss,
            SegReg::Ds,
            SegReg::Es,
            SegReg::Fs,
            SegReg::Gs,
        ];
        for (k, s) in order.iter().enumerate() {
            let at = G_SEGS + 4 * k;
            g[at..at + 4].copy_from_slice(&(m.cpu.seg(*s).selector as u32).to_le_bytes());
        }
        // Up to the selectors: QEMU writes the registers of a short `G` in order and
        // leaves the rest (the control registers: the reset routine's).
        g.truncate(G_SEGS + 24);
        g
    }

    /// Put QEMU in `m0`'s state.
    fn reset(&mut self, m0: &Machine) -> Result<(), String> {
        // The reset routine, at CPL 0 with interrupts off.
        let mut g = self.regs0[..G_SEGS + 24].to_vec();
        g[G_RIP..G_RIP + 8].copy_from_slice(&self.reset.0.to_le_bytes());
        g[G_EFLAGS..G_EFLAGS + 4].copy_from_slice(&2u32.to_le_bytes());
        g[G_SEGS..G_SEGS + 4].copy_from_slice(&(self.kernel_cs as u32).to_le_bytes());
        g[G_SEGS + 4..G_SEGS + 8].copy_from_slice(&(self.kernel_ss as u32).to_le_bytes());
        // The program's CR4 in RBX (GDB's second register) for the routine.
        let cr4 = if self.long {
            (m0.cpu.cr4 | 0x20) & !(1 << 17)
        } else {
            m0.cpu.cr4
        };
        g[8..16].copy_from_slice(&cr4.to_le_bytes());
        self.replay.write_registers(&to_hex(&g))?;
        self.replay.continue_to(self.reset.1)?;
        // Physical memory (the machine's frames, page tables included), then the
        // registers (selectors load their caches from the GDT).
        for a in pages_of(m0) {
            let mut page = vec![0u8; PAGE as usize];
            m0.mem.peek_phys(a, &mut page);
            if self.known.get(&a) != Some(&page) {
                self.replay.write_phys(a, &page)?;
                self.known.insert(a, page);
            }
        }
        let g = self.registers(m0);
        self.replay.write_registers(&to_hex(&g))
    }

    /// QEMU's state now (`info registers`).
    fn state(&mut self) -> Result<QState, String> {
        let text = self.replay.monitor("info registers")?;
        let mut st = QState::default();
        let mut got = false;
        for l in text.lines() {
            run::parse_line(l, &mut st, &mut got);
        }
        if !got {
            return Err(format!("no registers in {text:?}"));
        }
        Ok(st)
    }

    /// Compare the present entries of `m0`'s paging structures in `m` with QEMU's
    /// physical memory (differences named `step`, `instr`); the bytes compared.
    fn scan_tables(
        &mut self,
        m0: &Machine,
        m: &Machine,
        step: &str,
        instr: &str,
        differences: &mut Vec<Difference>,
        explained: &[(u64, &'static str)],
    ) -> Result<usize, String> {
        let entries = table_entries(m0);
        let theirs = self.replay.read_phys(&entries)?;
        // PAE's page-directory-pointer tables (32 bytes at each root).
        let pdpts: Vec<u64> = match &m0.layout {
            Some(plan) if !m0.cpu.long_mode_active() && m0.cpu.cr4 & 0x20 != 0 => {
                plan.spaces.iter().map(|s| s.root & !0x1f).collect()
            }
            _ => Vec::new(),
        };
        let mut at = 0;
        for &(start, len) in &entries {
            let mut ours = vec![0u8; len];
            m.mem.peek_phys(start, &mut ours);
            for (i, &r) in ours.iter().enumerate() {
                let qv = theirs[at + i];
                let a = start + i as u64;
                if r != qv {
                    // Written at the next reset.
                    self.known.remove(&(a & !(PAGE - 1)));
                    let pdpte =
                        pdpts.iter().any(|&p| (p..p + 32).contains(&a)) && a.is_multiple_of(8);
                    differences.push(Difference {
                        step: step.into(),
                        instr: instr.into(),
                        field: format!("phys[{a:#x}] (paging entry, accessed/dirty)"),
                        ringstep: format!("{r:#04x}"),
                        qemu: format!("{qv:#04x}"),
                        kind: (pdpte && qv == r | 0x20)
                            .then_some(super::PAE_PDPTE_ACCESSED)
                            .or(explained.iter().find(|x| x.0 == a).map(|x| x.1)),
                    });
                }
            }
            at += len;
        }
        Ok(at)
    }

    /// Bytes at sorted addresses `addrs`, one read per run of adjacent ones.
    fn read_bytes(&mut self, addrs: &[u64]) -> Result<Vec<u8>, String> {
        let mut got = Vec::with_capacity(addrs.len());
        for (at, len) in runs(addrs) {
            got.extend(self.replay.read(at, len)?);
        }
        Ok(got)
    }

    /// Run `setup` in ringstep and in this QEMU and compare them after every step.
    /// `Err`: the program cannot be run in a session (or the session broke); run it
    /// alone (`diff_setup`). The session should not be used after an `Err`.
    pub fn run(&mut self, setup: &Setup) -> Result<SceneDiff, String> {
        if !setup.schedule.is_empty() {
            return Err("a scheduled interrupt".into());
        }
        let m0 = &setup.machine;
        if m0.cpu.long_mode_active() != self.long {
            return Err("another mode than the session's".into());
        }
        let r = self.run_program(setup);
        if !matches!(&r, Ok(d) if d.differences.iter().all(|d| d.kind.is_some())) {
            // QEMU's memory may hold anything now.
            self.known.clear();
        }
        r
    }

    fn run_program(&mut self, setup: &Setup) -> Result<SceneDiff, String> {
        let m0 = &setup.machine;
        self.reset(m0)?;
        let gates = handlers(m0);
        let handler_of = |v: u8| gates.iter().find(|g| g.1 == v).map(|g| g.0);
        let long = self.long;
        let mut e = setup.engine();
        let mut differences = Vec::new();
        let q0 = self.state()?;
        compare_state(e.machine(), &q0, "init", "", &mut differences);
        let mut tr_busy_seen = false;
        if let Some(d) = tr_cached_busy(e.machine(), &q0, "init", "") {
            tr_busy_seen = true;
            differences.push(d);
        }
        let mut compared = 1;
        let mut adopted = 0;
        let mut ports_adopted = 0;
        let mut values_adopted = 0;
        let mut step_memory_bytes = 0;
        let mut ad_bytes = 0;
        let mut table_bytes = 0;
        // Paging-entry bytes whose accessed/dirty flags differ for an allowed reason.
        let mut ad_explained: Vec<(u64, &'static str)> = Vec::new();
        let mut page_faults: Vec<String> = Vec::new();
        let mut written: Vec<u64> = Vec::new();
        let mut explained: Vec<(u64, Difference)> = Vec::new();
        let mut k = 0u64;
        let mut final_memory = true;
        // Error-code bytes found to differ in an allowed way (`IRET_PF_USER`).
        let mut quirks: Vec<u64> = Vec::new();
        let rip_mask = if long { u64::MAX } else { 0xffff_ffff };
        let stop = loop {
            if k >= setup.max_steps {
                break "step limit".to_string();
            }
            let ip = e.machine().cpu.rip;
            let cl = e.machine().cpu.gpr[1];
            let cpl_before = e.machine().cpu.cpl();
            // The step starts in compatibility mode (a 32-bit code segment, IA-32e).
            let compat_before = long && !e.machine().cpu.seg(SegReg::Cs).attr.l();
            let mut bytes_at_ip = [0u8; 16];
            e.machine().mem.peek(ip, &mut bytes_at_ip);
            match e.step() {
                StepResult::Stepped => {}
                StepResult::Stopped(s) => {
                    if let StopReason::Fault(x) = &s.reason {
                        // ringstep found no way to deliver it: QEMU, given the same
                        // instruction, must shut down (a triple fault); the session
                        // boots the guest again for the next program.
                        let _ = self.replay.step_within(SHUTDOWN_WAIT);
                        let sp = e.machine().cpu.gpr[4];
                        let wrapped =
                            !long && (sp & 0xffff_ffff < 0x40 || sp & 0xffff_ffff > 0xffff_ffc0);
                        if !self.replay.shut_down()? && wrapped {
                            // A stack at the 4-GiB wrap: ringstep's limit faults
                            // (`WRAP_4G`) ended in a triple fault, QEMU wrapped.
                            differences.push(Difference {
                                step: format!("stop at {:#x}", s.ip),
                                instr: String::new(),
                                field: "fault".into(),
                                ringstep: format!("triple fault at esp {sp:#x}"),
                                qemu: "running".into(),
                                kind: Some(super::WRAP_4G),
                            });
                        } else if !self.replay.shut_down()? {
                            differences.push(Difference {
                                step: format!("stop at {:#x}", s.ip),
                                instr: String::new(),
                                field: "fault".into(),
                                ringstep: format!(
                                    "{:#x}({:x?}) not delivered: shutdown ({})",
                                    x.vector, x.error_code, x.reason
                                ),
                                qemu: "running".into(),
                                kind: None,
                            });
                        }
                        self.spent = true;
                        final_memory = false;
                    }
                    break format!("{} at {:#x}", s.reason.name(), s.ip);
                }
            }
            let view = e.last_step().expect("the step just recorded");
            if matches!(view.info.outcome, Outcome::Halt) {
                // QEMU would wait for an interrupt that never comes: not stepped.
                break "halted".into();
            }
            let instr = match view.instr() {
                Some(i) => format!("{ip:#x} {i}"),
                None => format!("{ip:#x} <no instruction>"),
            };
            let step = k.to_string();
            let mnemonic = view.instr().map(|i| i.mnemonic());

            let want: Vec<u8> = view
                .events
                .iter()
                .filter_map(|ev| match ev {
                    Event::Delivered { vector, .. } => Some(*vector),
                    _ => None,
                })
                .collect();
            let reasons: Vec<String> = view
                .events
                .iter()
                .filter_map(|ev| match ev {
                    Event::Exception { reason, .. } => Some(reason.to_string()),
                    _ => None,
                })
                .collect();
            let pf_code = view.events.iter().find_map(|ev| match ev {
                Event::Exception {
                    vector: 14,
                    error_code,
                    ..
                } => *error_code,
                _ => None,
            });
            let port_read = view
                .events
                .iter()
                .any(|ev| matches!(ev, Event::Port { write: false, .. }));
            let mut this_step: Vec<u64> = Vec::new();
            // Accessed and dirty flags the step set (physical addresses).
            let mut this_phys: Vec<u64> = Vec::new();
            for c in view.changes {
                match c {
                    Change::Mem { addr, len, .. } => {
                        this_step.extend((0..*len as u64).map(|i| addr + i))
                    }
                    Change::PhysMem { addr, len, .. } => {
                        this_phys.extend((0..*len as u64).map(|i| addr + i))
                    }
                    _ => {}
                }
            }
            this_step.sort_unstable();
            this_step.dedup();
            this_phys.sort_unstable();
            this_phys.dedup();
            let undefined = match (view.instr(), &view.info.outcome) {
                (Some(i), Outcome::Executed) => undefined_flags(&i, cl),
                _ => 0,
            };
            let in_size = view.instr().map_or(4, |i| i.op0_register().size());
            // A far CALL through an m16:32 pointer in 64-bit mode (4-byte pushes).
            let far_call32 = long
                && view
                    .instr()
                    .is_some_and(|i| i.is_call_far_indirect() && i.stack_pointer_increment() == -8);
            // A far CALL (QEMU pushes its frame with supervisor accesses, as IRET and RETF
            // pop theirs: `IRET_PF_USER`).
            let far_call = view
                .instr()
                .is_some_and(|i| i.is_call_far() || i.is_call_far_indirect());
            // CMPXCHG r/m32 with a register destination (64-bit mode): its index.
            let cmpxchg_r32 = view.instr().and_then(|i| {
                (long
                    && i.mnemonic() == Mnemonic::Cmpxchg
                    && i.op0_kind() == iced_x86::OpKind::Register
                    && i.op0_register().size() == 4)
                    .then(|| {
                        i.op0_register().full_register() as usize - iced_x86::Register::RAX as usize
                    })
            });
            // BSF/BSR: the destination register (undefined when the source is 0).
            let bsf_dest = view.instr().and_then(|i| {
                (matches!(i.mnemonic(), Mnemonic::Bsf | Mnemonic::Bsr)
                    && i.op0_kind() == iced_x86::OpKind::Register)
                    .then(|| {
                        i.op0_register().full_register() as usize - iced_x86::Register::RAX as usize
                    })
            });
            let rep_string = view.instr().is_some_and(|i| {
                i.is_string_instruction() && (i.has_rep_prefix() || i.has_repne_prefix())
            });
            // Slots where a selector is stored with a 16-bit move (PUSH sreg, the CS of
            // a far CALL), their size.
            let sreg_slot = view.instr().and_then(|i| {
                let inc = -i.stack_pointer_increment();
                if i.mnemonic() == Mnemonic::Push
                    && i.op0_kind() == iced_x86::OpKind::Register
                    && i.op0_register().is_segment_register()
                    && inc > 2
                {
                    Some(inc as usize)
                } else if (i.is_call_far() || i.is_call_far_indirect()) && inc > 4 {
                    Some(inc as usize / 2)
                } else {
                    None
                }
            });
            let ours = e.machine().cpu.rip & rip_mask;
            // QEMU's step.
            let mut shut_down = false;
            if mnemonic == Some(Mnemonic::Pause) {
                self.replay.run_to(ours)?;
            } else if sreg_slot.is_some() && want.is_empty() {
                // A 4-byte push where ringstep moves 2 (`PUSH_SREG`) may fault in QEMU
                // alone, and end in a shutdown there.
                if self.replay.step_within(SHUTDOWN_WAIT).is_err() || self.replay.shut_down()? {
                    shut_down = true;
                }
            } else if rep_string && ours != ip & rip_mask {
                // QEMU ends a gdbstub step after each iteration; ringstep's step is the
                // whole instruction (or up to its fault).
                let mut n = 0;
                while self.replay.step()? & rip_mask == ip & rip_mask && n < 100_000 {
                    n += 1;
                }
            } else {
                self.replay.step()?;
            }
            if shut_down {
                self.spent = true;
                differences.push(Difference {
                    step,
                    instr,
                    field: "exception".into(),
                    ringstep: "none".into(),
                    qemu: "shutdown".into(),
                    kind: Some(super::PUSH_SREG),
                });
                written.clear();
                final_memory = false;
                self.known.clear();
                break format!("{} at {ip:#x}", super::PUSH_SREG);
            }
            let mut qn = self.state()?;
            // The vector QEMU delivered: the one whose handler it stopped at.
            let theirs = qn.eip & rip_mask;
            let got: Option<u8> = match want.last() {
                Some(&v) if handler_of(v) == Some(theirs) => Some(v),
                _ if theirs == ours => None,
                _ => gates.iter().find(|g| g.0 == theirs).map(|g| g.1),
            };
            if let Some(v) = got {
                let code = if has_error_code(v) {
                    let b = self.replay.read(qn.gpr[4] & rip_mask, 4)?;
                    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                } else {
                    None
                };
                qn.exceptions.push((v, code));
            }
            if let (Some(code), true) = (pf_code, want.last() == Some(&14)) {
                page_faults.push(pf_kind(e.machine(), code));
            }
            let reasons_ref: Vec<&str> = reasons.iter().map(|s| s.as_str()).collect();
            let kind = divergence(mnemonic, &want, &reasons_ref, &qn.exceptions).or_else(|| {
                (want == [6] && got != Some(6) && group11_reserved(&bytes_at_ip, long))
                    .then_some(super::GROUP11_UD)
            });
            let kind = kind.or_else(|| {
                (sreg_slot.is_some() && want.is_empty() && got.is_some())
                    .then_some(super::PUSH_SREG)
            });
            let kind = kind.or_else(|| {
                (want == [6] && got != Some(6) && lock_prefixed(&bytes_at_ip, long))
                    .then_some(super::LOCK_UD)
            });
            let kind = kind.or_else(|| {
                (mnemonic == Some(Mnemonic::Int1) && want == [1] && got == Some(6))
                    .then_some(super::INT1_UD)
            });
            // IRET/RETF/far CALL at CPL 3 under CR4.SMAP: QEMU pops or pushes the frame with supervisor
            // accesses (`IRET_PF_USER`), which SMAP refuses on the user stack.
            let kind = kind.or_else(|| {
                let smap_pf = got == Some(14)
                    && qn
                        .exceptions
                        .last()
                        .is_some_and(|&(_, c)| c.is_some_and(|c| c & 4 == 0));
                ((far_call
                    || matches!(
                        mnemonic,
                        Some(Mnemonic::Iret | Mnemonic::Iretd | Mnemonic::Iretq | Mnemonic::Retf)
                    ))
                    && cpl_before == 3
                    && m0.cpu.cr4 & super::programs::CR4_SMAP != 0
                    && smap_pf
                    && (want != [14] || e.machine().cpu.cr2 != qn.cr2))
                    .then_some(super::IRET_PF_USER)
            });
            let kind = kind.or_else(|| {
                (far_call32 && got == Some(14) && want.last() != Some(&14))
                    .then_some(super::FAR_CALL32_STACK)
            });
            if let Some(kind) = kind {
                differences.push(Difference {
                    step,
                    instr,
                    field: "exception".into(),
                    ringstep: format!("{want:x?} ({})", reasons.join("; ")),
                    qemu: super::vectors(&qn),
                    kind: Some(kind),
                });
                // The runs part here: ringstep's memory after this step is not QEMU's.
                written.clear();
                final_memory = false;
                self.known.clear();
                break format!("{kind} at {ip:#x}");
            }
            let got: Vec<u8> = got.into_iter().collect();
            if want != got {
                differences.push(Difference {
                    step: step.clone(),
                    instr: instr.clone(),
                    field: "vectors delivered".into(),
                    ringstep: format!("{want:x?}"),
                    qemu: super::vectors(&qn),
                    kind: None,
                });
            }
            if long {
                if let Some(d) = idt_error_code_64(&qn, e.machine()) {
                    explained.push(d);
                }
            }
            // IRET/RETF's #PF: QEMU's error code without U/S (`IRET_PF_USER`).
            let pf_user = (far_call
                || matches!(
                    mnemonic,
                    Some(Mnemonic::Iret | Mnemonic::Iretd | Mnemonic::Iretq | Mnemonic::Retf)
                ))
                && want == [14]
                && matches!(
                    (qn.exceptions.last(), pf_code),
                    (Some(&(14, Some(q))), Some(r)) if r == q | 4 && q & 4 == 0
                );
            // Memory this step wrote.
            let bytes = self.read_bytes(&this_step)?;
            if port_read
                && mnemonic
                    .is_some_and(|m| matches!(m, Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd))
            {
                // INS: the bytes QEMU's device gave.
                let m = e.machine_mut();
                for (&a, &b) in this_step.iter().zip(&bytes) {
                    m.mem.poke(a, &[b]);
                }
                ports_adopted += 1;
            }
            {
                let m = e.machine();
                let code_at = m.cpu.gpr[4] & rip_mask;
                for (&a, &qv) in this_step.iter().zip(&bytes) {
                    if let Some(d) = mem_difference(m, m0, &explained, a, Some(qv)) {
                        let kind = d
                            .kind
                            .or((pf_user && a == code_at).then_some(super::IRET_PF_USER));
                        differences.push(Difference {
                            step: step.clone(),
                            instr: instr.clone(),
                            kind,
                            ..d
                        });
                    }
                }
                if pf_user {
                    quirks.push(code_at);
                }
            }
            step_memory_bytes += this_step.len();
            written.extend_from_slice(&this_step);
            // RETF with a 32-bit operand size in 64-bit mode: QEMU pops at the stack
            // address cut to 32 bits (`FAR_CALL32_STACK`), so its walk is another one.
            let retf_truncated = long
                && mnemonic == Some(Mnemonic::Retf)
                && want == [14]
                && e.machine().cpu.cr2 != qn.cr2
                && e.machine().cpu.cr2 & 0xffff_ffff == qn.cr2;
            if !this_phys.is_empty() {
                // The accessed/dirty flags, in QEMU's physical memory (the same tables).
                let theirs = self.replay.read_phys(&runs(&this_phys))?;
                let m = e.machine();
                for (&a, &qv) in this_phys.iter().zip(&theirs) {
                    let mut r = [0u8];
                    m.mem.peek_phys(a, &mut r);
                    if r[0] != qv {
                        let kind = retf_truncated.then_some(super::FAR_CALL32_STACK);
                        if let Some(k) = kind {
                            ad_explained.push((a, k));
                        }
                        differences.push(Difference {
                            step: step.clone(),
                            instr: instr.clone(),
                            field: format!("phys[{a:#x}] (paging entry, accessed/dirty)"),
                            ringstep: format!("{:#04x}", r[0]),
                            qemu: format!("{qv:#04x}"),
                            kind,
                        });
                    }
                }
                ad_bytes += this_phys.len();
            }
            if let Some(size) = sreg_slot {
                let sp = e.machine().cpu.gpr[4] & rip_mask;
                let slots: Vec<u64> = this_step
                    .iter()
                    .copied()
                    .filter(|&a| {
                        a.wrapping_sub(sp) % size as u64 == 0
                            && this_step.contains(&(a + 1))
                            && !this_step.contains(&(a + 2))
                    })
                    .collect();
                for low in slots {
                    // ringstep moves the selector's 16 bits and leaves the rest of the
                    // slot; QEMU zero-extends it (both allowed: `PUSH_SREG`). Ringstep
                    // takes QEMU's bytes, so that a later POP reads the same value.
                    let upper = self.replay.read(low + 2, size - 2)?;
                    let mut ours = vec![0u8; size - 2];
                    e.machine().mem.peek(low + 2, &mut ours);
                    if upper != ours {
                        differences.push(Difference {
                            step: step.clone(),
                            instr: instr.clone(),
                            field: format!("mem[{:#x}..{:#x}]", low + 2, low + size as u64),
                            ringstep: format!("{ours:02x?} (kept)"),
                            qemu: format!("{upper:02x?}"),
                            kind: Some(super::PUSH_SREG),
                        });
                        e.machine_mut().mem.poke(low + 2, &upper);
                        written.extend((2..size as u64).map(|i| low + i));
                    }
                }
            }
            if want.is_empty()
                && matches!(
                    mnemonic,
                    Some(
                        Mnemonic::Rdtsc
                            | Mnemonic::Rdtscp
                            | Mnemonic::Cpuid
                            | Mnemonic::Rdpid
                            | Mnemonic::Xgetbv
                    )
                )
            {
                // Values ringstep's model defines otherwise (docs/cpu-model.md: the TSC
                // is the step number; its CPUID leaves, TSC_AUX, XCR0): QEMU's, counted.
                let cpu = &mut e.machine_mut().cpu;
                for r in [0usize, 1, 2, 3] {
                    let q = if long {
                        qn.gpr[r]
                    } else {
                        qn.gpr[r] & 0xffff_ffff
                    };
                    if cpu.gpr[r] != q {
                        cpu.gpr[r] = q;
                        values_adopted += 1;
                    }
                }
            }
            if port_read && mnemonic == Some(Mnemonic::In) {
                // IN: the value QEMU's device gave, in AL, AX or EAX.
                let size = in_size;
                let mask = (1u64 << (size * 8)) - 1;
                let cpu = &mut e.machine_mut().cpu;
                let v = if size == 4 {
                    qn.gpr[0] & mask
                } else {
                    (cpu.gpr[0] & !mask) | (qn.gpr[0] & mask)
                };
                if v != cpu.gpr[0] {
                    ports_adopted += 1;
                }
                cpu.gpr[0] = v;
            }
            k += 1;
            if super::follow_flags(
                &mut e,
                mnemonic,
                qn.eflags as u64,
                undefined,
                (&step, &instr),
                &mut differences,
            ) {
                adopted += 1;
            }
            if let Some(r) = bsf_dest.filter(|&r| r < 16) {
                // Source 0: the SDM leaves the destination undefined; QEMU's value.
                let mask = if long { u64::MAX } else { 0xffff_ffff };
                if want.is_empty()
                    && e.machine().cpu.rflags & ZF != 0
                    && e.machine().cpu.gpr[r] & mask != qn.gpr[r] & mask
                {
                    e.machine_mut().cpu.gpr[r] = qn.gpr[r] & mask;
                    adopted += 1;
                }
            }
            if let Some(r) = cmpxchg_r32.filter(|&r| r < 16) {
                let ours = e.machine().cpu.gpr[r];
                let zf = e.machine().cpu.rflags & ZF != 0;
                if !zf && ours != qn.gpr[r] && ours == qn.gpr[r] & 0xffff_ffff {
                    differences.push(Difference {
                        step: step.clone(),
                        instr: instr.clone(),
                        field: "cmpxchg destination".into(),
                        ringstep: format!("{ours:#x}"),
                        qemu: format!("{:#x}", qn.gpr[r]),
                        kind: Some(super::CMPXCHG_R32),
                    });
                    e.machine_mut().cpu.gpr[r] = qn.gpr[r];
                }
            }
            if matches!(
                mnemonic,
                Some(Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsd | Mnemonic::Cmpsq)
            ) && want == [14]
                && !got.is_empty()
                && e.machine().cpu.cr2 != qn.cr2
            {
                // Both operands' pages fault; which read comes first is the
                // implementation's (`CMPS_ORDER`). The run goes on with QEMU's CR2.
                differences.push(Difference {
                    step: step.clone(),
                    instr: instr.clone(),
                    field: "cr2".into(),
                    ringstep: format!("{:#x}", e.machine().cpu.cr2),
                    qemu: format!("{:#x}", qn.cr2),
                    kind: Some(super::CMPS_ORDER),
                });
                e.machine_mut().cpu.cr2 = qn.cr2;
            }
            if matches!(mnemonic, Some(Mnemonic::Pusha | Mnemonic::Pushad))
                && want == [14]
                && got == [14]
                && e.machine().cpu.cr2 != qn.cr2
                && (e.machine().cpu.cr2 ^ qn.cr2) & !0xfff == 0
            {
                // Every slot's page faults; which store comes first is the
                // implementation's (`PUSHA_ORDER`). The run goes on with QEMU's CR2.
                differences.push(Difference {
                    step: step.clone(),
                    instr: instr.clone(),
                    field: "cr2".into(),
                    ringstep: format!("{:#x}", e.machine().cpu.cr2),
                    qemu: format!("{:#x}", qn.cr2),
                    kind: Some(super::PUSHA_ORDER),
                });
                e.machine_mut().cpu.cr2 = qn.cr2;
            }
            if long
                && mnemonic == Some(Mnemonic::Retf)
                && want == [14]
                && e.machine().cpu.cr2 != qn.cr2
                && e.machine().cpu.cr2 & 0xffff_ffff == qn.cr2
            {
                // RETF with a 32-bit operand size in 64-bit mode: QEMU's stack address
                // cut to 32 bits (`FAR_CALL32_STACK`); both fault.
                differences.push(Difference {
                    step: step.clone(),
                    instr: instr.clone(),
                    field: "cr2".into(),
                    ringstep: format!("{:#x}", e.machine().cpu.cr2),
                    qemu: format!("{:#x}", qn.cr2),
                    kind: Some(super::FAR_CALL32_STACK),
                });
                e.machine_mut().cpu.cr2 = qn.cr2;
            }
            if compat_before && qn.wide {
                // Back in 64-bit mode after compatibility-mode code: bits 63:32 of the
                // registers it used are undefined (`COMPAT_UPPER`); QEMU's are taken.
                let names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"];
                for (r, name) in names.iter().enumerate() {
                    let ours = e.machine().cpu.gpr[r];
                    if ours != qn.gpr[r] && (ours ^ qn.gpr[r]) & 0xffff_ffff == 0 {
                        differences.push(Difference {
                            step: step.clone(),
                            instr: instr.clone(),
                            field: format!("{name}[63:32]"),
                            ringstep: format!("{ours:#x}"),
                            qemu: format!("{:#x}", qn.gpr[r]),
                            kind: Some(super::COMPAT_UPPER),
                        });
                        e.machine_mut().cpu.gpr[r] = qn.gpr[r];
                    }
                }
            }
            if matches!(mnemonic, Some(Mnemonic::Popa | Mnemonic::Popad))
                && want == [14]
                && got == [14]
            {
                // POPA whose later reads fault: QEMU has already written the registers
                // it popped before the fault (`POPA_PARTIAL`); the run goes on with them.
                let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
                for (r, name) in names.iter().enumerate() {
                    let ours = e.machine().cpu.gpr[r] & 0xffff_ffff;
                    if r != 4 && ours != qn.gpr[r] & 0xffff_ffff {
                        differences.push(Difference {
                            step: step.clone(),
                            instr: instr.clone(),
                            field: name.to_string(),
                            ringstep: format!("{ours:#x} (kept)"),
                            qemu: format!("{:#x}", qn.gpr[r]),
                            kind: Some(super::POPA_PARTIAL),
                        });
                        e.machine_mut().cpu.gpr[r] = qn.gpr[r] & 0xffff_ffff;
                    }
                }
            }
            compare_state(e.machine(), &qn, &step, &instr, &mut differences);
            if std::env::var_os("RINGSTEP_QEMU_SCAN_EACH").is_some() {
                // Debugging: every paging-structure entry after every step.
                table_bytes += self.scan_tables(
                    m0,
                    e.machine(),
                    &step,
                    &instr,
                    &mut differences,
                    &ad_explained,
                )?;
            }
            if !tr_busy_seen {
                if let Some(d) = tr_cached_busy(e.machine(), &qn, &step, &instr) {
                    tr_busy_seen = true;
                    differences.push(d);
                }
            }
            compared += 1;
            if differences.iter().any(|d| d.kind.is_none()) && differences.len() > 64 {
                break "too many differences".into();
            }
        };
        // Memory: every byte ringstep wrote, as it is at the end (QEMU stopped where
        // ringstep did).
        written.sort_unstable();
        written.dedup();
        if final_memory {
            let bytes = self.read_bytes(&written)?;
            let m = e.machine();
            for (&a, &qv) in written.iter().zip(&bytes) {
                if let Some(mut d) = mem_difference(m, m0, &explained, a, Some(qv)) {
                    if d.kind.is_none() && quirks.contains(&a) {
                        d.kind = Some(super::IRET_PF_USER);
                    }
                    differences.push(d);
                }
            }
        }
        if final_memory {
            // Every paging-structure entry, as it is at the end: an accessed or dirty
            // flag QEMU alone set shows here.
            table_bytes +=
                self.scan_tables(m0, e.machine(), "end", "", &mut differences, &ad_explained)?;
        }
        // Pages this program changed are written again at the next reset.
        let end = e.machine();
        for a in pages_of(end) {
            let mut page = vec![0u8; PAGE as usize];
            end.mem.peek_phys(a, &mut page);
            if self.known.get(&a) != Some(&page) {
                self.known.remove(&a);
            }
        }
        differences.extend(explained.into_iter().map(|(_, d)| d));
        Ok(SceneDiff {
            compared,
            memory_bytes: written.len(),
            step_memory_bytes,
            adopted,
            ports_adopted: ports_adopted + values_adopted,
            differences,
            skipped: None,
            stop,
            ad_bytes,
            table_bytes,
            page_faults,
        })
    }
}
