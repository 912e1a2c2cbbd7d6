//! The shipped example kernels (assets/kernels/) and their broken variants (issue 14):
//! the project's assembler makes the bytes GNU as makes, and booted in ringstep they
//! step exactly as in QEMU (`qemu-system-i386 -kernel`, single-stepped under gdb) from
//! their first instruction: registers, flags, selectors, CR0/CR2/CR3/CR4, the vectors
//! delivered (QEMU's `-d int` log), the triple fault, the UART output and the exit status.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ringstep::engine::event::Event;
use ringstep::engine::fault::LinkKind;
use ringstep::engine::{StepResult, StopReason};
use ringstep::load::examples::{Example, Variant};

const VARIANTS: [Option<Variant>; 4] = [
    None,
    Some(Variant::BadEsp0),
    Some(Variant::NoSysenterCs),
    Some(Variant::UserDpl0),
];

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringstep-examples-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The kernel's bytes as ringstep's assembler makes them, and the ELF file written.
fn ours(k: Example, v: Option<Variant>, dir: &Path) -> (Vec<u8>, PathBuf) {
    let w = k.assemble(v).expect("the example assembles");
    let path = dir.join(k.elf_name(v));
    std::fs::write(&path, &w.file).unwrap();
    let image = ringstep::load::Image::from_elf(&w.file, "k").unwrap();
    (image.segments[0].bytes.clone(), path)
}

#[test]
fn the_examples_assemble_to_the_bytes_gnu_as_makes() {
    if !["as", "ld", "objcopy"]
        .iter()
        .all(|t| common::require_tool(t))
    {
        return;
    }
    let dir = scratch("gas");
    let runs = VARIANTS
        .iter()
        .map(|&v| (Example::K32, v))
        .chain([(Example::K64, None)]);
    for (k, v) in runs {
        let src = dir.join(k.file_name());
        std::fs::write(&src, k.source()).unwrap();
        let (bytes, _) = ours(k, v, &dir);
        let (obj, elf, bin) = (dir.join("k.o"), dir.join("k.elf"), dir.join("k.bin"));
        let mut gas = Command::new("as");
        gas.arg("--32");
        if let Some(v) = v {
            gas.arg("--defsym").arg(format!("{}=1", v.symbol()));
        }
        common::run_tool(gas.arg("-o").arg(&obj).arg(&src)).expect("as");
        common::run_tool(
            Command::new("ld")
                .args(["-m", "elf_i386", "-Ttext=0x100000", "-e", "_start"])
                .args(["-z", "noexecstack", "-o"])
                .arg(&elf)
                .arg(&obj),
        )
        .expect("ld");
        common::run_tool(
            Command::new("objcopy")
                .args(["-O", "binary", "-j", ".text"])
                .arg(&elf)
                .arg(&bin),
        )
        .expect("objcopy");
        let theirs = std::fs::read(&bin).unwrap();
        let first = (0..bytes.len().max(theirs.len())).find(|&i| bytes.get(i) != theirs.get(i));
        assert_eq!(
            first,
            None,
            "{}: first difference at offset {first:x?}",
            k.elf_name(v)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What QEMU did with a kernel.
struct Qemu {
    /// Before each instruction: EIP, EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, EFLAGS, CS,
    /// DS, SS, ES, FS, GS, CR0, CR2, CR3, CR4.
    states: Vec<Vec<u64>>,
    /// Vectors delivered (and error codes), from the `-d int` log.
    delivered: Vec<(u8, u32)>,
    triple_fault: bool,
    serial: Vec<u8>,
    /// QEMU's exit status (isa-debug-exit: (value << 1) | 1; 0 after a triple fault
    /// with -no-reboot).
    status: Option<i32>,
}

const QEMU_ARGS: &str = "-device isa-debug-exit,iobase=0xf4,iosize=0x04 -display none -monitor none -nodefaults -no-reboot";

/// At most this many instructions are single-stepped (the kernels take under 2000).
const MAX_STEPS: usize = 2500;

fn qemu(elf: &Path, dir: &Path, bits: u32) -> Result<Qemu, String> {
    let (binary, arch) = if bits == 64 {
        ("qemu-system-x86_64", "i386:x86-64")
    } else {
        ("qemu-system-i386", "i386")
    };
    // 1. Free-running, with the interrupt log and the exit status.
    let (serial, log) = (dir.join("serial.txt"), dir.join("int.log"));
    let out = common::proc::output_within(
        Command::new(binary)
            .arg("-kernel")
            .arg(elf)
            .args(QEMU_ARGS.split(' '))
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .args(["-d", "int,cpu_reset", "-D"])
            .arg(&log),
        &common::proc::Deadline::generous(binary),
    )?;
    let log = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let delivered = log
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(": v=")?.1;
            let (v, rest) = rest.split_once(" e=")?;
            let e = rest.split_whitespace().next()?;
            Some((
                u8::from_str_radix(v, 16).ok()?,
                u32::from_str_radix(e, 16).ok()?,
            ))
        })
        .collect();
    let serial_out = std::fs::read(&serial).unwrap_or_default();
    // 2. Under gdb, one instruction at a time from the entry.
    let script = dir.join("steps.gdb");
    let names = names(bits);
    let regs: Vec<String> = names.iter().map(|n| format!("${n}")).collect();
    let print = format!(
        "printf \"S{}\\n\", {}",
        " %lx".repeat(names.len()),
        regs.join(", ")
    );
    std::fs::write(
        &script,
        format!(
            "set architecture {arch}\nset pagination off\n\
             target remote | exec {binary} -gdb stdio -S -kernel {} {QEMU_ARGS} -serial file:{}\n\
             hbreak *0x10000c\ncontinue\nset $i = 0\nwhile $i < {MAX_STEPS}\n  {print}\n  stepi\n  set $i = $i + 1\nend\nkill\n",
            elf.display(),
            dir.join("serial-gdb.txt").display()
        ),
    )
    .unwrap();
    // gdb ends with an error status when QEMU exits under it: its output is what counts.
    let g = common::proc::output_within(
        Command::new("gdb")
            .args(["-batch", "-nx", "-x"])
            .arg(&script),
        &common::proc::Deadline::generous("gdb"),
    )?;
    // A stepi that QEMU cut short (it happens, rarely, on a loaded machine) repeats the
    // state; every instruction of these kernels changes EIP, so a repeat is dropped.
    let mut states: Vec<Vec<u64>> = text(&g.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("S "))
        .map(|l| {
            l.split_whitespace()
                .map(|v| u64::from_str_radix(v, 16).unwrap_or(u64::MAX))
                // gdb's %lx sign-extends a 32-bit register.
                .map(|v| if bits == 32 { v & 0xffff_ffff } else { v })
                .collect()
        })
        .collect();
    states.dedup();
    Ok(Qemu {
        states,
        delivered,
        triple_fault: log.contains("Triple fault"),
        serial: serial_out,
        status: out.status.code(),
    })
}

/// What ringstep did with the same kernel, compared with QEMU state by state.
struct Ours {
    delivered: Vec<(u8, u32)>,
    triple_fault: bool,
    serial: Vec<u8>,
    status: Option<i32>,
    chain: Vec<String>,
    /// Why each exception was raised, as ringstep explains it.
    reasons: Vec<String>,
}

fn cpu_state(m: &ringstep::machine::Machine, bits: u32) -> Vec<u64> {
    use ringstep::machine::cpu::{RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP};
    use ringstep::machine::SegReg::*;
    let c = &m.cpu;
    let mut s = vec![c.rip];
    s.extend([RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI].map(|r| c.gpr[r]));
    s.push(c.rflags);
    s.extend([Cs, Ds, Ss, Es, Fs, Gs].map(|r| u64::from(c.seg(r).selector)));
    s.extend([c.cr0, c.cr2, c.cr3, c.cr4]);
    if bits == 64 {
        s.extend((8..16).map(|r| c.gpr[r]));
    }
    s
}

/// The registers compared, as gdb names them.
fn names(bits: u32) -> Vec<&'static str> {
    let mut n = vec![
        "eip", "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eflags", "cs", "ds", "ss",
        "es", "fs", "gs", "cr0", "cr2", "cr3", "cr4",
    ];
    if bits == 64 {
        for (i, r) in [
            "rip", "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        ]
        .iter()
        .enumerate()
        {
            n[i] = r;
        }
        n.extend(["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]);
    }
    n
}

/// Flags the kernels' instructions leave undefined (AF after logic, shifts and BT).
const UNDEFINED_FLAGS: u64 = 1 << 4;

fn ringstep_run(elf: &Path, q: &Qemu, what: &str, bits: u32) -> Ours {
    let names32 = names(32);
    let names = names(bits);
    let first = q.states.first().expect("QEMU reached the entry");
    assert_eq!(
        (first[0], first[1]),
        (0x10000c, 0x2badb002),
        "{what}: QEMU's entry"
    );
    let mut setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(elf.to_path_buf()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    // What the Multiboot hand-off leaves undefined: QEMU's values.
    // (By their 32-bit names: the machine starts in 32-bit mode.)
    for (i, name) in names32.iter().enumerate().take(10).skip(2) {
        setup.set.push((name.to_string(), first[i]));
    }
    let loaded = ringstep::load::load(&setup).expect("boots");
    let mut e = ringstep::trace::engine_for(&loaded.lesson.scenes[0].scenario);
    let mut stop = None;
    for (n, want) in q.states.iter().enumerate() {
        let mut got = cpu_state(e.machine(), bits);
        let mut want = want.clone();
        got[9] &= !UNDEFINED_FLAGS;
        want[9] &= !UNDEFINED_FLAGS;
        if got != want {
            let diff: Vec<String> = (0..names.len())
                .filter(|&i| got.get(i) != want.get(i))
                .map(|i| {
                    format!(
                        "{}: ours {:x?}, QEMU {:x?}",
                        names[i],
                        got.get(i),
                        want.get(i)
                    )
                })
                .collect();
            panic!("{what}: state before step {n} differs: {}", diff.join(", "));
        }
        match e.step() {
            StepResult::Stepped => {}
            StepResult::Stopped(s) => {
                assert_eq!(
                    n + 1,
                    q.states.len(),
                    "{what}: ringstep stopped at step {n}: {:?}",
                    s.reason
                );
                stop = Some(s);
                break;
            }
        }
    }
    // QEMU is gone once the write to isa-debug-exit ran; ringstep stops on the step after.
    let stop = match stop {
        Some(s) => s,
        None => match e.step() {
            StepResult::Stopped(s) => s,
            StepResult::Stepped => panic!("{what}: ringstep went on after QEMU ended"),
        },
    };
    let mut delivered = Vec::new();
    let mut reasons = Vec::new();
    for i in 0..e.history_len() {
        let Some(view) = e.step_view(i) else { continue };
        for ev in view.events {
            if let Event::Exception { reason, .. } = ev {
                reasons.push(reason.to_string());
            }
            if let Event::Delivered { vector, .. } = ev {
                let code = view.events.iter().find_map(|x| match x {
                    Event::Exception {
                        vector: v,
                        error_code,
                        ..
                    } if v == vector => *error_code,
                    _ => None,
                });
                delivered.push((*vector, code.unwrap_or(0)));
            }
        }
    }
    // The failing step: an INT n, then each exception whose delivery was attempted (not
    // the one that became #DF, nor the one raised while delivering #DF).
    let chain = stop.chain();
    if !chain.is_empty() {
        let m = e.machine();
        if m.mem.peek_le(stop.ip, 1) == 0xcd {
            delivered.push((m.mem.peek_le(stop.ip + 1, 1) as u8, 0));
        }
        for (i, l) in chain.iter().enumerate() {
            let next = chain.get(i + 1);
            let attempted = l.kind == LinkKind::Raised
                && next.is_some_and(|n| n.kind == LinkKind::Raised && n.vector != 8);
            if attempted {
                delivered.push((l.vector, l.error_code.unwrap_or(0)));
            }
        }
    }
    Ours {
        delivered,
        triple_fault: chain.iter().any(|l| l.kind == LinkKind::Shutdown),
        serial: e.machine().dev.uart.out.clone(),
        status: match stop.reason {
            StopReason::Exit(s) => Some(s as i32),
            _ => None,
        },
        chain: chain.iter().map(|l| l.line()).collect(),
        reasons,
    }
}

#[test]
fn the_examples_and_their_broken_variants_step_as_in_qemu() {
    if !["qemu-system-i386", "qemu-system-x86_64", "gdb"]
        .iter()
        .all(|t| common::require_tool(t))
    {
        return;
    }
    let dir = scratch("qemu");
    // The four QEMU runs in parallel (each mostly waits for gdb's round trips).
    let runs: Vec<_> = VARIANTS
        .iter()
        .map(|&v| (Example::K32, v))
        .chain([(Example::K64, None)])
        .map(|(k, v)| {
            let d = dir.join(k.elf_name(v).replace(".elf", ""));
            std::fs::create_dir_all(&d).unwrap();
            let (_, elf) = ours(k, v, &d);
            let bits = if k == Example::K64 { 64 } else { 32 };
            let handle = std::thread::spawn({
                let (elf, d) = (elf.clone(), d.clone());
                move || qemu(&elf, &d, bits)
            });
            (k, v, bits, elf, handle)
        })
        .collect();
    for (k, v, bits, elf, handle) in runs {
        let what = k.elf_name(v);
        let q = handle
            .join()
            .expect("the QEMU thread")
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let ours = ringstep_run(&elf, &q, &what, bits);
        assert_eq!(text(&ours.serial), text(&q.serial), "{what}: UART output");
        assert_eq!(
            ours.delivered, q.delivered,
            "{what}: vectors delivered (ours, QEMU's -d int)"
        );
        assert_eq!(
            ours.triple_fault, q.triple_fault,
            "{what}: triple fault; chain {:#?}",
            ours.chain
        );
        if !q.triple_fault {
            assert_eq!(ours.status, q.status, "{what}: exit status");
        }
        // What each kernel is meant to do.
        let expect: (&str, Option<i32>) = match v {
            None if bits == 64 => ("ring 3: syscall\n", Some(33)),
            None => ("ring 3: sysenter\n", Some(33)),
            Some(Variant::BadEsp0) => ("kernel32: ring 0\n", None),
            Some(Variant::NoSysenterCs) => ("exception 0000000d error 00000000\n", Some(155)),
            Some(Variant::UserDpl0) => ("exception 0000000d error 00000018\n", Some(155)),
        };
        assert!(
            text(&ours.serial).ends_with(expect.0),
            "{what}: {}",
            text(&ours.serial)
        );
        assert_eq!(ours.status, expect.1, "{what}");
        // The explanation names the field, descriptor or MSR at fault and the SDM.
        let explained = ours
            .chain
            .iter()
            .chain(&ours.reasons)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        let words: &[&str] = match v {
            None => &[],
            Some(Variant::BadEsp0) => {
                &["SS0:ESP0 = 0x10:0x0", "SDM Vol. 3A 6.12.1", "triple fault"]
            }
            Some(Variant::NoSysenterCs) => &["IA32_SYSENTER_CS"],
            Some(Variant::UserDpl0) => &["GDT entry 3", "DPL 0", "RPL", "SDM Vol. 2A IRET"],
        };
        for w in words {
            assert!(
                explained.contains(w),
                "{what}: `{w}` not in the explanation:\n{explained}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn ringstep(args: &[&str]) -> std::process::Output {
    common::run_ringstep(args)
}

#[test]
fn boot_trace_and_asm_take_the_example_and_its_variants() {
    let o = ringstep(&["trace", "--boot", "--example", "32", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "kernel32: ring 0\nring 3: int $0x80\nring 3: sysenter\n"
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("stop: exit status 33 (isa-debug-exit)"),
        "{out}"
    );
    let o = ringstep(&[
        "trace",
        "--example",
        "32",
        "--variant",
        "user-dpl0",
        "--quiet",
    ]);
    assert!(
        text(&o.stdout).contains("exit status 155"),
        "{}",
        text(&o.stdout)
    );
    assert!(text(&o.stderr).ends_with("exception 0000000d error 00000018\n"));
    // `ringstep asm --example` writes the bytes `boot --example` boots; a variant is the
    // source with its symbol defined.
    let dir = scratch("cli");
    let (a, b, src) = (dir.join("a.elf"), dir.join("b.elf"), dir.join("kernel32.S"));
    std::fs::write(&src, Example::K32.source()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let o = ringstep(&["asm", "--example", "32", "-o", &s(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&a).unwrap(),
        Example::K32.assemble(None).unwrap().file
    );
    let o = ringstep(&[
        "asm",
        "--example",
        "32",
        "--variant",
        "bad-esp0",
        "-o",
        &s(&a),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = ringstep(&["asm", &s(&src), "--defsym", "BAD_ESP0=1", "-o", &s(&b)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // The same code and symbols; the DWARF line tables name the source as given
    // (`kernel32.S`, or the path of the copy).
    let load = |p: &Path| {
        let i = ringstep::load::Image::from_elf(&std::fs::read(p).unwrap(), "k").unwrap();
        (i.segments, i.symbols, i.entry_point)
    };
    assert_eq!(load(&a), load(&b));
    // The viewer opens on it.
    let o = ringstep(&[
        "boot",
        "--example",
        "32",
        "--variant",
        "no-sysenter-cs",
        "--render-once",
        "--at-step",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("kernel32-no-sysenter-cs.elf"),
        "{}",
        text(&o.stdout)
    );
    let o = ringstep(&["trace", "--example", "64", "--quiet"]);
    assert_eq!(
        text(&o.stderr),
        "kernel64: ring 0, long mode\nring 3: int $0x80\nring 3: syscall\n"
    );
    assert!(
        text(&o.stdout).contains("exit status 33"),
        "{}",
        text(&o.stdout)
    );
    // Mistakes.
    let o = ringstep(&["trace", "--example", "64", "--variant", "bad-esp0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--example 32"),
        "{}",
        text(&o.stderr)
    );
    let o = ringstep(&["trace", "--boot", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--example 32"),
        "{}",
        text(&o.stderr)
    );
    let o = ringstep(&["trace", "--example", "32", "--variant", "bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("bad-esp0, no-sysenter-cs, user-dpl0"));
    let o = ringstep(&["boot", "--variant", "bad-esp0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = ringstep(&["asm", &s(&src), "--defsym", "1x=2", "-o", &s(&b)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--defsym 1x"),
        "{}",
        text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
