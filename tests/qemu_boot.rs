//! Random kernels against QEMU from their first instruction (issue 14): each kernel is a
//! Multiboot (version 1) ELF written by the project's assembler (`elfout`), with a boot
//! prologue (its own GDT and a far jump to reload CS, flat data segments, a stack, an IDT
//! whose 32 exception handlers send the vector to the UART and end the run through
//! isa-debug-exit with it), one of three modes (`Mode`: paging off; 32-bit paging with
//! 4-MiB pages; or the switch to IA-32e mode with 4-level paging, a 64-bit code segment
//! and a TSS, as a 64-bit Multiboot kernel does), the initial registers, and a random
//! register program from tests/common/programs.rs (its 64-bit forms in long mode) with
//! forward branches only, ended by `ud2` (so every run ends in the #UD handler, or an
//! earlier #DE). qemu-system-x86_64 boots it with `-kernel` and logs every instruction
//! (`-singlestep -d cpu,int,exec,nochain`, `tests/qemu/run.rs`'s parser); ringstep
//! boots the same file (`load::load` with `Input::Boot`), taking the registers the
//! Multiboot hand-off leaves undefined from QEMU's first state as `--set` would, and the
//! two are compared before every instruction: general registers, EIP, EFLAGS (but
//! flags the SDM leaves undefined, which ringstep then takes from QEMU), selectors and
//! segment caches, CPL, CR0, CR2, CR3, CR4, the vectors delivered, the UART output and
//! the exit status. Memory is not compared (the log has none). A difference fails the
//! test unless it is of a class in `ALLOWED`, which cites the SDM.

mod common;
#[allow(dead_code)]
mod qemu;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use common::proc::{self, Deadline};
use common::programs::{assemble, register_ins, Ins};
use proptest::strategy::{Just, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use qemu::run::{self, QState};
use ringstep::engine::{Engine, Event, StepResult};
use ringstep::machine::Machine;

/// Kernels per run; `RINGSTEP_BOOT_KERNELS` changes it, `RINGSTEP_BOOT_SEED` the seed.
const KERNELS: usize = 200;
const SEED: u64 = 0x6b65_726e_656c;
/// QEMU processes at once.
const THREADS: usize = 4;
/// Steps ringstep runs at most (the programs are straight-line and short).
const MAX_STEPS: usize = 2000;

/// Known QEMU-vs-SDM disagreements (the engine follows the SDM): the runs part ways
/// there, and the comparison ends at that step.
const ALLOWED: [(&str, &str); 1] = [(
    qemu::WRAP_4G,
    "Intel SDM Vol. 3A 5.3 (Limit Checking): with a segment limit of FFFFFFFFH, an access \
     that wraps past 4 GBytes may or may not raise the limit exception (implementation \
     specific). A random program can leave ESP below 12, so that the exception frame's \
     pushes wrap: ringstep raises #SS (then #DF and a triple fault), QEMU wraps and \
     delivers the exception.",
)];

/// How a kernel runs its program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// 32-bit protected mode, paging off.
    Flat,
    /// 32-bit paging (CR4.PSE, 4-MiB pages identity-mapping all 4 GiB).
    Paged,
    /// IA-32e mode: 4-level paging (2-MiB pages identity-mapping 4 GiB), a 64-bit code
    /// segment, a TSS whose IST1 stack every IDT gate uses (so that a random RSP does not
    /// break exception delivery).
    Long,
}

/// One random kernel.
#[derive(Clone, Debug)]
struct Kernel {
    ins: Vec<Ins>,
    /// Values for rax rcx rdx rbx rbp rsi rdi r8..r15 before the program (the first seven,
    /// cut to 32 bits, outside long mode).
    regs: [u64; 14],
    mode: Mode,
}

const REGS: [&str; 14] = [
    "ax", "cx", "dx", "bx", "bp", "si", "di", "8", "9", "10", "11", "12", "13", "14",
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `n` kernels of `seed`, the same on every run.
fn kernels(seed: u64, n: usize) -> Vec<Kernel> {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = proptest::sample::select(vec![Mode::Flat, Mode::Paged, Mode::Long])
        .prop_flat_map(|mode| {
            (
                Just(mode),
                proptest::collection::vec(register_ins(mode == Mode::Long), 4..24),
                proptest::array::uniform14(proptest::num::u64::ANY),
            )
        });
    (0..n)
        .map(|_| {
            let (mode, ins, regs) = strategy.new_tree(&mut runner).expect("a kernel").current();
            Kernel {
                ins: forward(ins),
                regs,
                mode,
            }
        })
        .collect()
}

/// Branches made forward (to a later instruction or the final `ud2`), so that every
/// program ends.
fn forward(mut ins: Vec<Ins>) -> Vec<Ins> {
    let n = ins.len();
    for (k, i) in ins.iter_mut().enumerate() {
        if let Ins::Branch { to, .. } = i {
            *to = k + 1 + *to % (n - k);
        }
    }
    ins
}

/// The Multiboot header and the 32-bit start: GDT, CS reloaded by a far jump, flat data
/// segments, the stack.
const START: &str = ".code32\n.long 0x1BADB002, 3, 0x100000000 - (0x1BADB002 + 3)\n\
    _start:\n lgdt gdtr\n ljmp $0x08, $flat\nflat:\n movw $0x10, %ax\n\
    movw %ax, %ds\n movw %ax, %es\n movw %ax, %fs\n movw %ax, %gs\n movw %ax, %ss\n\
    movl $stack_top, %esp\n";

/// The IDT, then 32-bit paging with 4-MiB pages.
const PAGED: &str =
    " lidt idtr\n movl $pd, %eax\n movl %eax, %cr3\n movl %cr4, %eax\n orl $0x10, %eax\n\
    movl %eax, %cr4\n movl %cr0, %eax\n orl $0x80000000, %eax\n movl %eax, %cr0\n";

/// PAE, EFER.LME, CR0.PG, then a far jump to 64-bit code, its IDT and its TSS.
const LONG: &str = " movl $pml4, %eax\n movl %eax, %cr3\n movl %cr4, %eax\n orl $0x20, %eax\n\
    movl %eax, %cr4\n movl $0xc0000080, %ecx\n rdmsr\n orl $0x100, %eax\n wrmsr\n\
    movl %cr0, %eax\n orl $0x80000000, %eax\n movl %eax, %cr0\n ljmp $0x18, $long\n\
    .code64\nlong:\n lidt idtr\n movw $0x20, %ax\n ltr %ax\n";

/// The kernel's source: header, prologue, program, handlers, tables.
fn source(k: &Kernel) -> String {
    let mut s = String::from(START);
    let long = k.mode == Mode::Long;
    s.push_str(match k.mode {
        Mode::Flat => " lidt idtr\n",
        Mode::Paged => PAGED,
        Mode::Long => LONG,
    });
    for (i, (r, v)) in REGS.iter().zip(k.regs).enumerate() {
        let _ = if long {
            writeln!(s, " movabs ${v:#x}, %r{r}")
        } else if i < 7 {
            writeln!(s, " movl ${:#x}, %e{r}", v as u32)
        } else {
            Ok(())
        };
    }
    let (code, _) = assemble(&k.ins, false);
    s.push_str("program:\n");
    for chunk in code.chunks(16) {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:#04x}")).collect();
        let _ = writeln!(s, " .byte {}", bytes.join(", "));
    }
    handlers(&mut s, k.mode == Mode::Long);
    tables(&mut s, k.mode);
    s
}

/// One handler per exception vector: the vector to the UART and to isa-debug-exit.
fn handlers(s: &mut String, long: bool) {
    for v in 0..32 {
        let _ = writeln!(s, "h{v}:\n movb ${v}, %al\n jmp report");
    }
    s.push_str("report:\n movw $0x3f8, %dx\n outb %al, %dx\n outb %al, $0xf4\n hlt\n");
    // The IDT: interrupt gates to CS 0x08 (32-bit) or 0x18 (64-bit, IST 1).
    s.push_str(".balign 16\nidt:\n");
    for v in 0..32 {
        let _ = if long {
            writeln!(
                s,
                " .long (h{v} & 0xffff) | 0x180000, (h{v} & 0xffff0000) | 0x8e01, 0, 0"
            )
        } else {
            writeln!(
                s,
                " .long (h{v} & 0xffff) | 0x80000, (h{v} & 0xffff0000) | 0x8e00"
            )
        };
    }
    let size = if long { 32 * 16 - 1 } else { 32 * 8 - 1 };
    let _ = writeln!(s, "idtr:\n .word {size}\n .long idt, 0");
}

/// GDT (null, 32-bit code 0x08, data 0x10, 64-bit code 0x18, 64-bit TSS 0x20), the TSS,
/// the stacks and the page tables.
fn tables(s: &mut String, mode: Mode) {
    s.push_str(
        ".balign 8\ngdt:\n .quad 0, 0x00cf9a000000ffff, 0x00cf92000000ffff, 0x00af9a000000ffff\n\
         .long 0x67 | ((tss & 0xffff) << 16), ((tss >> 16) & 0xff) | 0x8900 | (tss & 0xff000000), 0, 0\n\
         gdtr:\n .word 47\n .long gdt\n\
         .balign 16\ntss:\n .space 0x24\n .quad ist_top\n .space 0x3c\n\
         .balign 16\n .space 512\nstack_top:\n .space 512\nist_top:\n",
    );
    match mode {
        Mode::Flat => {}
        Mode::Paged => {
            s.push_str(".balign 4096\npd:\n");
            for i in 0..1024u64 {
                let _ = writeln!(s, " .long {:#x}", (i << 22) | 0x83);
            }
        }
        Mode::Long => {
            s.push_str(".balign 4096\npml4:\n .quad pdpt + 3\n .space 4088\npdpt:\n");
            for i in 0..4 {
                let _ = writeln!(s, " .quad pd{i} + 3");
            }
            s.push_str(" .space 4064\n");
            for i in 0..4u64 {
                let _ = writeln!(s, "pd{i}:");
                for j in 0..512u64 {
                    let _ = writeln!(s, " .quad {:#x}", ((i << 30) | (j << 21)) | 0x83);
                }
            }
        }
    }
}

/// What QEMU did with a kernel: its states from the entry on, its UART output and its
/// exit status.
struct QemuRun {
    states: Vec<QState>,
    serial: Vec<u8>,
    status: Option<i32>,
}

/// Boot `elf` in qemu-system-x86_64 (`-kernel`), logging every instruction in
/// `range` (the kernel), until it exits (isa-debug-exit, or `-no-reboot` after a
/// triple fault).
fn qemu_run(elf: &Path, dir: &Path, range: (u64, u64), entry: u64) -> Result<QemuRun, String> {
    let log = dir.join("qemu.log");
    let serial = dir.join("serial.txt");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create the log: {e}"))?;
    let mut cmd = Command::new("qemu-system-x86_64");
    if let Some(bios) = run::fast_bios() {
        cmd.arg("-bios").arg(bios);
    }
    cmd.args(["-M", "pc", "-cpu", "max", "-m", "128", "-nodefaults"])
        .args(["-display", "none", "-monitor", "none", "-no-reboot"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(["-singlestep", "-d", "cpu,int,exec,nochain", "-dfilter"])
        .arg(format!("{:#x}..{:#x}", range.0, range.1 - 1))
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let mut child = cmd.spawn().map_err(|e| format!("start QEMU: {e}"))?;
    let deadline = Deadline::generous(format!("QEMU booting {}", elf.display()));
    let status = proc::wait_until(&mut child, &deadline).inspect_err(|_| proc::kill(&mut child))?;
    let text = proc::retry(|| std::fs::read(&log)).map_err(|e| format!("read the log: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    Ok(QemuRun {
        states: run::parse_with(&text, &|st| st.eip == entry),
        serial: proc::retry(|| std::fs::read(&serial)).unwrap_or_default(),
        status: status.code(),
    })
}

/// The outcome of one kernel: states compared, and the differences.
struct Outcome {
    compared: usize,
    differences: Vec<String>,
    /// The class in `ALLOWED` at which the comparison ended, if any.
    allowed: Option<&'static str>,
}

/// A fault stop at a stack push that wraps past 4 GiB (ESP below the frame's 12 bytes,
/// a limit fault in the chain) where QEMU delivered the first exception.
fn wrap_4g(stop: &ringstep::engine::Stop, esp: u64, qs: &QState) -> bool {
    let chain = stop.chain();
    let limit = chain.iter().any(|l| l.reason.contains("segment limit"));
    let first = chain.first().map(|l| l.vector);
    limit && esp & 0xffff_ffff < 12 && first.is_some_and(|v| qs.exceptions.iter().any(|e| e.0 == v))
}

/// Registers the Multiboot hand-off leaves undefined (3.2), by `--set` name, with
/// QEMU's index in `QState::gpr` (EAX is the magic; EBX is QEMU's information address).
const UNDEFINED: [(&str, usize); 7] = [
    ("ecx", 1),
    ("edx", 2),
    ("ebx", 3),
    ("esp", 4),
    ("ebp", 5),
    ("esi", 6),
    ("edi", 7),
];

/// Boot `elf` in ringstep with QEMU's values for what Multiboot leaves undefined.
fn ringstep_boot(elf: &Path, q0: &QState) -> Result<ringstep::scenario::Scenario, String> {
    let mut set: Vec<(String, u64)> = UNDEFINED
        .iter()
        .map(|(n, i)| (n.to_string(), q0.gpr[*i] & 0xffff_ffff))
        .collect();
    set.push(("eflags".into(), q0.eflags as u64));
    let setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(elf.to_path_buf()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set,
    };
    let loaded = ringstep::load::load(&setup).map_err(|e| e.0)?;
    loaded
        .lesson
        .scenes
        .into_iter()
        .next()
        .map(|s| s.scenario)
        .ok_or_else(|| "no scene".to_string())
}

/// The state before step `k` against QEMU's: `compare_state`, and CR0, which it leaves
/// out (its guests share ringstep's CR0 by construction; a booted kernel writes its own).
fn compare_before(m: &Machine, qs: &QState, k: usize, diffs: &mut Vec<qemu::Difference>) {
    let step = if k == 0 {
        "init".to_string()
    } else {
        k.to_string()
    };
    qemu::compare_state(m, qs, &step, "", diffs);
    if m.cpu.cr0 != qs.cr0 as u64 {
        diffs.push(qemu::Difference {
            step,
            instr: String::new(),
            field: "cr0".into(),
            ringstep: format!("{:#x}", m.cpu.cr0),
            qemu: format!("{:#x}", qs.cr0),
            kind: None,
        });
    }
}

/// The vectors ringstep delivered in step `k` (at `ip`) against the last one QEMU
/// raised there (when delivering one raised another, only the last was delivered).
fn compare_vectors(e: &Engine, qs: &QState, k: usize, ip: u64, diffs: &mut Vec<qemu::Difference>) {
    let Some(view) = e.last_step() else { return };
    let want: Vec<u8> = view
        .events
        .iter()
        .filter_map(|ev| match ev {
            Event::Delivered { vector, .. } => Some(*vector),
            _ => None,
        })
        .collect();
    let got: Vec<u8> = qs.exceptions.last().map(|(v, _)| *v).into_iter().collect();
    if want != got {
        diffs.push(qemu::Difference {
            step: k.to_string(),
            instr: format!("{ip:#x}"),
            field: "vectors delivered".into(),
            ringstep: format!("{want:x?}"),
            qemu: qemu::vectors(qs),
            kind: None,
        });
    }
}

/// Flags the SDM leaves undefined after the last instruction (`cl`: ECX before it, for
/// shift counts): QEMU's values (`next`, its next state) from here on.
fn adopt_undefined(e: &mut Engine, cl: u64, next: Option<&QState>) {
    let instr = e.last_step().and_then(|v| v.instr());
    if let (Some(i), Some(next)) = (instr, next) {
        let undefined = qemu::undefined_flags(&i, cl);
        let flags = e.machine().cpu.rflags;
        e.machine_mut().cpu.rflags = (flags & !undefined) | (next.eflags as u64 & undefined);
    }
}

/// At the end of an equal run: as many states as QEMU logged, the same exit status and
/// UART output.
fn compare_end(m: &Machine, q: &QemuRun, compared: usize, stop: &str) -> Vec<String> {
    let mut out = Vec::new();
    if compared != q.states.len() {
        out.push(format!(
            "ringstep stopped ({stop}) after {compared} states, QEMU logged {}",
            q.states.len()
        ));
    }
    let ours = m.dev.exit.map(|v| v as i32);
    if ours != q.status {
        out.push(format!(
            "exit status: ringstep {ours:?}, QEMU {:?}",
            q.status
        ));
    }
    if m.dev.uart.out != q.serial {
        out.push(format!(
            "UART: ringstep {:x?}, QEMU {:x?}",
            m.dev.uart.out, q.serial
        ));
    }
    out
}

/// Step ringstep alongside QEMU's states, up to the first difference.
fn compare(s: &ringstep::scenario::Scenario, q: &QemuRun) -> Outcome {
    let mut e = ringstep::trace::engine_for(s);
    let mut diffs = Vec::new();
    let mut k = 0;
    let stop = loop {
        let Some(qs) = q.states.get(k) else {
            break "QEMU's last state".to_string();
        };
        compare_before(e.machine(), qs, k, &mut diffs);
        if !diffs.is_empty() || k >= MAX_STEPS {
            break format!("difference or step limit at {k}");
        }
        let (ip, cl, esp) = {
            let c = &e.machine().cpu;
            (c.rip, c.gpr[1], c.gpr[4])
        };
        match e.step() {
            StepResult::Stopped(st) if wrap_4g(&st, esp, qs) => {
                return Outcome {
                    compared: k + 1,
                    differences: Vec::new(),
                    allowed: Some(qemu::WRAP_4G),
                };
            }
            StepResult::Stopped(st) => break st.reason.name().to_string(),
            StepResult::Stepped => {}
        }
        compare_vectors(&e, qs, k, ip, &mut diffs);
        adopt_undefined(&mut e, cl, q.states.get(k + 1));
        k += 1;
    };
    let compared = (k + 1).min(q.states.len());
    let mut out: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
    if out.is_empty() {
        out = compare_end(e.machine(), q, compared, &stop);
    }
    Outcome {
        compared,
        differences: out,
        allowed: None,
    }
}

/// Write, boot and compare kernel `n`.
fn check_kernel(n: usize, k: &Kernel, root: &Path) -> Result<Outcome, String> {
    let dir = root.join(format!("k{n}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let src = source(k);
    let name = format!("k{n}.S");
    // Kept with the ELF file and QEMU's log when the kernel differs.
    std::fs::write(dir.join(&name), &src).map_err(|e| e.to_string())?;
    let written = ringstep::load::elfout::assemble_elf(&src, &name, None, None, &[])
        .map_err(|e| format!("assemble: {}", e.0))?;
    let elf = dir.join(format!("k{n}.elf"));
    std::fs::write(&elf, &written.file).map_err(|e| e.to_string())?;
    let range = (written.base, written.base + written.size);
    let q = qemu_run(&elf, &dir, range, written.entry)?;
    let q0 = q
        .states
        .first()
        .ok_or_else(|| "QEMU logged no state at the entry".to_string())?;
    let s = ringstep_boot(&elf, q0)?;
    let mut out = compare(&s, &q);
    // The prologue did what the mode says (else the test would compare less).
    let last = q.states.last().unwrap_or(q0);
    let reached = match k.mode {
        Mode::Flat => last.cr0 & 0x8000_0000 == 0,
        Mode::Paged => last.cr0 & 0x8000_0000 != 0 && !last.wide,
        Mode::Long => last.wide,
    };
    if !reached {
        out.differences
            .push(format!("QEMU's last state is not in {:?} mode", k.mode));
    }
    if out.differences.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

fn scratch() -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("qemu-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a scratch directory");
    d
}

/// What a run over many kernels found.
#[derive(Default)]
struct Totals {
    compared: usize,
    failures: Vec<String>,
    /// (kernel, allowed class) for the runs that ended at an allowed difference.
    allowed: Vec<(usize, &'static str)>,
}

/// Check every kernel, `THREADS` at a time.
fn check_all(all: &[Kernel], root: &Path, seed: u64) -> Totals {
    let next = AtomicUsize::new(0);
    let totals = Mutex::new(Totals::default());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(k) = all.get(i) else { break };
                let result = check_kernel(i, k, root);
                let mut t = totals.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(o) => {
                        t.compared += o.compared;
                        t.allowed.extend(o.allowed.map(|kind| (i, kind)));
                        if !o.differences.is_empty() {
                            let d = o.differences.join("\n  ");
                            let dir = root.join(format!("k{i}"));
                            t.failures.push(format!(
                                "kernel {i} ({:?}, seed {seed:#x}; source, ELF and QEMU log in {}):\n  {d}",
                                k.mode,
                                dir.display()
                            ));
                        }
                    }
                    Err(e) => t.failures.push(format!("kernel {i}: {e}")),
                }
            });
        }
    });
    totals.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn random_kernels_step_as_in_qemu_from_their_first_instruction() {
    if !common::require_tool("qemu-system-x86_64") {
        return;
    }
    let start = Instant::now();
    let n = env_number("RINGSTEP_BOOT_KERNELS", KERNELS as u64) as usize;
    let seed = env_number("RINGSTEP_BOOT_SEED", SEED);
    let all = kernels(seed, n);
    let root = scratch();
    let t = check_all(&all, &root, seed);
    for (kind, why) in ALLOWED {
        let which: Vec<String> = t
            .allowed
            .iter()
            .filter(|a| a.1 == kind)
            .map(|a| a.0.to_string())
            .collect();
        println!("allowed {kind} ({why}): kernels [{}]", which.join(", "));
    }
    println!(
        "{n} kernels ({} with 32-bit paging, {} in long mode), {} states compared, {} differing, {} ended at an allowed difference, in {:.1} s",
        all.iter().filter(|k| k.mode == Mode::Paged).count(),
        all.iter().filter(|k| k.mode == Mode::Long).count(),
        t.compared,
        t.failures.len(),
        t.allowed.len(),
        start.elapsed().as_secs_f64()
    );
    if t.failures.is_empty() {
        let _ = std::fs::remove_dir_all(&root);
    }
    assert!(t.failures.is_empty(), "{}", t.failures.join("\n\n"));
    assert!(
        n < KERNELS || t.compared >= n * 20,
        "too few states compared: {}",
        t.compared
    );
}
