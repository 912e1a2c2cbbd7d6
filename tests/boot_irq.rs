//! Interrupt hardware and fault escalation of a booted kernel (issue 14): the 8259A PICs
//! and 8254 channel 0 deliver IRQ 0 at steps that depend only on the kernel, stepping
//! back across an interrupt restores the whole machine, and a kernel without handlers
//! triple-faults as QEMU's `-d int` log says (docs/loading.md, "Interrupts and timer").

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringstep::engine::{Engine, LinkKind, Outcome, StepResult, StopReason};

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

use common::text;

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    common::scratch("irq", name)
}

use common::asm_elf as asm;

fn asm_text(dir: &Path, name: &str, src: &str) -> PathBuf {
    let s = dir.join(format!("{name}.S"));
    std::fs::write(&s, src).unwrap();
    asm(&s, dir, name)
}

fn ticks_kernel(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boot/ticks.S");
    asm(&src, dir, "ticks")
}

fn engine(kernel: &Path) -> Engine {
    let setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(kernel.to_path_buf()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    let loaded = ringstep::load::load(&setup).expect("boots");
    ringstep::trace::engine_for(&loaded.lesson.scenes[0].scenario)
}

fn symbol(e: &Engine, name: &str) -> u64 {
    e.machine().symbols.get(name).expect("symbol")
}

#[test]
fn timer_interrupts_arrive_at_the_same_steps_every_run_and_hlt_skips_to_them() {
    let dir = scratch("ticks");
    let k = ticks_kernel(&dir);
    let mut e = engine(&k);
    let armed = symbol(&e, "pit_armed");
    let mut irqs = Vec::new();
    let mut armed_at = None;
    let stop = loop {
        let n = e.step_count();
        let ip = e.machine().cpu.rip;
        match e.step() {
            StepResult::Stopped(s) => break s,
            StepResult::Stepped => {}
        }
        if ip == armed {
            armed_at = Some(n);
        }
        let last = e.last_step().unwrap();
        if let Outcome::Interrupt(v) = last.info.outcome {
            assert_eq!(v, 0x20);
            irqs.push((n, e.machine().dev.clock(n)));
        }
        assert!(n < 10_000, "no end");
    };
    assert_eq!(stop.reason, StopReason::Exit(11), "{stop:?}");
    assert_eq!(e.machine().dev.uart.out, b"ticks 5\n");
    // The count (1000) is complete at step 37: edges at clock 1037, 2037, ... The
    // first two arrive in the busy loop (clock = step), the next three each right after
    // a HLT, which moved the clock forward to the edge.
    let w = armed_at.expect("the PIT was programmed");
    assert_eq!(w, 37);
    let clocks: Vec<u64> = irqs.iter().map(|i| i.1).collect();
    assert_eq!(clocks, [1, 2, 3, 4, 5].map(|k| w + k * 1000));
    let steps: Vec<u64> = irqs.iter().map(|i| i.0).collect();
    assert_eq!(steps, [1037, 2037, 2050, 2063, 2076]);
    // The counter read back after the latch: the latch's clock is 5037 + (its step -
    // 2076), in the 6th period.
    let m = e.machine();
    let counter = m.peek_lin_le(symbol(&e, "counter"), 2);
    let latched = (0..e.history_len())
        .filter_map(|i| e.step_view(i))
        .find(|s| s.n > 2076 && s.bytes() == [0xe6, 0x43])
        .expect("the latch command")
        .n;
    let clock = latched + m.dev.skew;
    assert_eq!(counter, 1000 - (clock - w) % 1000);
    assert_eq!(m.peek_lin_le(symbol(&e, "kbd_status"), 1), 0xff);
    // A second run: the very same steps.
    let mut again = engine(&k);
    assert_eq!(again.run(10_000).reason, StopReason::Exit(11));
    assert_eq!(again.machine(), e.machine());
}

#[test]
fn stepping_back_across_an_irq_restores_the_pics_the_timer_and_the_cpu() {
    let dir = scratch("back");
    let k = ticks_kernel(&dir);
    let mut e = engine(&k);
    let start = e.machine().clone();
    // 1037: in the busy loop; 2050: out of a HLT, with the clock moved forward.
    for at in [1037usize, 2050] {
        assert!(e.goto(at).is_none());
        let before = e.machine().clone();
        assert_eq!(e.step(), StepResult::Stepped);
        assert!(matches!(
            e.last_step().unwrap().info.outcome,
            Outcome::Interrupt(0x20)
        ));
        let after = e.machine().clone();
        assert_ne!(before.dev, after.dev);
        assert!(e.step_back());
        assert_eq!(e.machine(), &before, "stepping back over step {at}");
        assert_eq!(e.step(), StepResult::Stepped);
        assert_eq!(e.machine(), &after, "stepping forward again");
    }
    let stop = e.run(10_000);
    assert_eq!(stop.reason, StopReason::Exit(11));
    let end = e.machine().clone();
    assert!(e.goto(0).is_none());
    assert_eq!(e.machine(), &start);
    assert_eq!(e.run(10_000).reason, StopReason::Exit(11));
    assert_eq!(e.machine(), &end);
    // The unrecorded fast path reaches the same state.
    let mut raw = engine(&k);
    assert_eq!(raw.run_deferred(10_000).reason, StopReason::Exit(11));
    assert_eq!(raw.machine(), &end);
    assert!(raw.step_back(), "the deferred span is recorded on demand");
}

#[test]
fn the_trace_shows_the_irq_and_names_the_pic_and_pit_at_their_ports() {
    let dir = scratch("trace");
    let k = ticks_kernel(&dir);
    let o = run(&["trace", "--boot", k.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert_eq!(text(&o.stderr), "ticks 5\n");
    assert_eq!(
        out.matches("<irq 0 -> vector 0x20 (pit)>").count(),
        5,
        "{out}"
    );
    assert!(
        out.contains("<in from unmodelled port 0x64> eax=0xff"),
        "{out}"
    );
    assert!(out.contains("pic0_isr=0x1"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("stop: exit status 11 (isa-debug-exit) after 2159 steps"),
        "{out}"
    );
    let o = run(&["trace", "--boot", k.to_str().unwrap(), "--format", "json"]);
    let json = text(&o.stdout);
    assert_eq!(
        json.matches(r#"{"kind":"irq","irq":0,"vector":32,"device":"pit"}"#)
            .count(),
        5
    );
    for dev in ["pic8259", "pit8254"] {
        assert!(json.contains(&format!(r#""device":"{dev}""#)), "{dev}");
    }
    assert!(json.contains(r#""port":100,"size":1,"value":255,"device":null"#));
    assert!(json.contains(r#""name":"pit_count","old":0,"new":1000"#));
}

const MB: &str = ".long 0x1BADB002, 0, -0x1BADB002\n";

/// Kernels that fault with no handler: (name, source).
fn faulting() -> [(&'static str, String); 3] {
    let null_idt = "lidt idtp\n";
    let tail = "idtp: .word 0\n .long 0\n";
    [
        ("int3", format!("{MB}_start: {null_idt} int3\n{tail}")),
        ("ud2", format!("{MB}_start: {null_idt} ud2\n{tail}")),
        (
            "div0",
            format!("{MB}_start: {null_idt} xorl %ecx, %ecx\n divl %ecx\n{tail}"),
        ),
    ]
}

/// The chain as QEMU's `check_exception old: O new N` lines would show it: the vector
/// being delivered when each exception came (-1: none; QEMU remembers only
/// contributory exceptions, #PF and #DF) and the new one; and whether it ended in a
/// triple fault.
fn as_qemu_pairs(chain: &[ringstep::engine::Link]) -> (Vec<(i64, i64)>, bool) {
    let mut old = -1i64;
    let mut pairs = Vec::new();
    let mut triple = false;
    for l in chain {
        match l.kind {
            LinkKind::Raised if l.vector == 8 && l.reason.starts_with("double fault") => old = 8,
            LinkKind::Raised => {
                pairs.push((old, l.vector as i64));
                if matches!(l.vector, 0 | 10..=14) {
                    old = l.vector as i64;
                }
            }
            LinkKind::Shutdown => triple = true,
            LinkKind::NoHandler => panic!("a booted kernel escalates: {chain:?}"),
        }
    }
    (pairs, triple)
}

#[test]
fn a_kernel_without_an_idt_triple_faults_and_the_chain_says_why() {
    let dir = scratch("triple");
    // No LIDT at all: the BIOS's real-mode table (zeros here) holds no gates.
    let k = asm_text(&dir, "noidt", &format!("{MB}_start: int3\n"));
    let mut e = engine(&k);
    let stop = e.run(10);
    assert!(matches!(stop.reason, StopReason::Fault(_)), "{stop:?}");
    let kinds: Vec<LinkKind> = stop.chain().iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            LinkKind::Raised,
            LinkKind::Raised,
            LinkKind::Raised,
            LinkKind::Raised,
            LinkKind::Shutdown
        ]
    );
    assert!(stop
        .chain()
        .iter()
        .all(|l| l.reason.contains("SDM Vol. 3A")));
    let o = run(&["trace", "--boot", k.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(out.contains("triple fault"), "{out}");
    assert!(out.contains("3. #DF(0x0): double fault"), "{out}");
    for (name, src) in faulting() {
        let k = asm_text(&dir, name, &src);
        let stop = engine(&k).run(10);
        let (pairs, triple) = as_qemu_pairs(stop.chain());
        assert!(triple, "{name}: {stop:?}");
        assert_eq!(pairs.last(), Some(&(8, 0xd)), "{name}");
    }
}

/// `check_exception old: O new N` pairs and the triple fault from QEMU's `-d int`
/// log of `kernel`.
fn qemu_chain(kernel: &Path, dir: &Path) -> Result<(Vec<(i64, i64)>, bool), String> {
    let log = dir.join("int.log");
    let _ = std::fs::remove_file(&log);
    common::run_tool(
        Command::new("qemu-system-i386")
            .arg("-kernel")
            .arg(kernel)
            .args(["-d", "int,cpu_reset", "-D"])
            .arg(&log)
            .args(["-no-reboot", "-display", "none", "-monitor", "none"])
            .args(["-nodefaults", "-serial", "none"]),
    )?;
    let log = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
    let hex = |s: &str| i64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(-2);
    let pairs = log
        .lines()
        .filter_map(|l| l.strip_prefix("check_exception old: "))
        .map(|l| {
            let (old, new) = l.split_once(" new ").unwrap_or((l, "?"));
            let old = if old == "0xffffffff" { -1 } else { hex(old) };
            (old, hex(new.trim()))
        })
        .collect();
    Ok((pairs, log.contains("Triple fault")))
}

#[test]
fn the_fault_chains_match_qemus_int_log() {
    if !common::require_tool("qemu-system-i386") {
        return;
    }
    let dir = scratch("qemu");
    for (name, src) in faulting() {
        let k = asm_text(&dir, name, &src);
        let stop = engine(&k).run(10);
        let ours = as_qemu_pairs(stop.chain());
        let qemu = qemu_chain(&k, &dir).expect("QEMU runs");
        assert_eq!(ours, qemu, "{name}: ringstep {:#?}", stop.chain());
    }
}

#[test]
fn the_timer_kernel_counts_five_ticks_in_qemu_too() {
    if !common::require_tool("qemu-system-i386") {
        return;
    }
    let dir = scratch("qemu-ticks");
    let k = ticks_kernel(&dir);
    let serial = dir.join("serial.txt");
    let o = common::proc::output_within(
        Command::new("qemu-system-i386")
            .arg("-kernel")
            .arg(&k)
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .args(["-display", "none", "-monitor", "none", "-nodefaults"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display())),
        &common::proc::Deadline::generous("qemu ticks"),
    )
    .expect("QEMU runs");
    assert_eq!(o.status.code(), Some(11), "QEMU's exit status");
    assert_eq!(std::fs::read(&serial).unwrap(), b"ticks 5\n");
}
