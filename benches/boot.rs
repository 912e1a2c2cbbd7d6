//! Issue 14's performance target: a kernel that boots and makes its first system call
//! after ten million instructions gets there in under 0.2 s with recording on.
//!
//! The kernel is tests/fixtures/boot/busy.S, assembled by the project's assembler into
//! an ELF and booted as `ringstep boot` boots it: it loads its GDT, IDT and TSS, turns
//! on paging, fills and adds up a 1 MiB buffer five times (10,485,760 instructions,
//! half of them memory accesses), drops to ring 3 with `iret` and makes its first
//! system call with `int $0x80`. The debugger runs it with recording on (its default
//! mode: reversible, the run kept for replay) to the first change from ring 3 into
//! ring 0, in three ways: `continue` to a breakpoint on the handler (`break
//! syscall_entry`, by the ELF's symbol), `until cpl` twice (into ring 3, then back),
//! and every step recorded as it runs. Then the cost of the first `reverse-step` there
//! and the resident memory before and after it. After the criterion groups it prints
//! the CPU time per run of each way (wall time says little on a shared machine) and the
//! resident memory along one run (`RINGSTEP_BENCH_NO_MEMORY=1` leaves that out).

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringstep::debug::{Debugger, Output, Why};
use ringstep::engine::Engine;

/// Steps from the kernel's entry to the state after `int $0x80` (at syscall_entry).
const TO_SYSCALL: u64 = 10_490_959;

fn kernel() -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/boot/busy.S");
    let text = std::fs::read_to_string(src).expect("the fixture is readable");
    let w = ringstep::load::elfout::assemble_elf(&text, "busy.S", None, None, &[])
        .expect("busy.S assembles");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("busy.elf");
    std::fs::write(&path, &w.file).expect("the ELF is written");
    path
}

fn boot(path: &Path) -> (Engine, Debugger) {
    let setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(path.to_path_buf()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    let loaded = ringstep::load::load(&setup).expect("busy.elf boots");
    let scenario = &loaded.lesson.scenes[0].scenario;
    let e = ringstep::trace::engine_for(scenario);
    let mut d = Debugger::new(&e);
    d.set_limit(100_000_000);
    (e, d)
}

fn moved(out: Output) -> ringstep::debug::Arrival {
    match out {
        Output::Moved(a) => a,
        o => panic!("not a movement: {o}"),
    }
}

/// `break syscall_entry`, `continue`: the debugger's default, recording mode.
fn to_handler(e: &mut Engine, d: &mut Debugger) {
    d.run_line(e, "break syscall_entry")
        .expect("a symbol of the ELF");
    let a = moved(d.run_line(e, "continue").expect("runs"));
    assert_eq!((a.to, a.why), (TO_SYSCALL, Why::Breakpoint(1)));
}

/// `until cpl` twice: 0 -> 3 at the `iret`, 3 -> 0 at `int $0x80`.
fn until_ring0(e: &mut Engine, d: &mut Debugger) {
    let a = moved(d.run_line(e, "until cpl").expect("runs"));
    assert_eq!(a.why, Why::CplChanged { from: 0, to: 3 });
    let a = moved(d.run_line(e, "until cpl").expect("runs"));
    assert_eq!(a.why, Why::CplChanged { from: 3, to: 0 });
    assert_eq!(a.to, TO_SYSCALL);
}

fn first_syscall(c: &mut Criterion) {
    let path = kernel();
    let mut g = c.benchmark_group("boot");
    g.throughput(Throughput::Elements(TO_SYSCALL));
    g.sample_size(10);
    g.bench_function("continue_to_first_syscall_10M", |b| {
        b.iter_batched_ref(
            || boot(&path),
            |(e, d)| to_handler(e, d),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("until_cpl_to_first_syscall_10M", |b| {
        b.iter_batched_ref(
            || boot(&path),
            |(e, d)| until_ring0(e, d),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("continue_unrecorded_to_first_syscall_10M", |b| {
        b.iter_batched_ref(
            || {
                let (e, mut d) = boot(&path);
                d.set_recording(false);
                (e, d)
            },
            |(e, d)| to_handler(e, d),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("first_reverse_step_at_first_syscall", |b| {
        b.iter_batched_ref(
            || {
                let (mut e, mut d) = boot(&path);
                to_handler(&mut e, &mut d);
                (e, d)
            },
            |(e, d)| {
                let a = moved(d.run_line(e, "reverse-step").expect("recording is on"));
                assert_eq!(a.to, TO_SYSCALL - 1);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    if std::env::var_os("RINGSTEP_BENCH_NO_MEMORY").is_none() {
        memory(&path);
    }
}

/// Resident memory (VmRSS and its peak VmHWM, from /proc/self/status) along one run.
fn memory(path: &Path) {
    let rss = || {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |k: &str| {
            s.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        format!(
            "VmRSS {} KiB, VmHWM {} KiB",
            field("VmRSS:"),
            field("VmHWM:")
        )
    };
    cpu_times(path);
    let (mut e, mut d) = boot(path);
    eprintln!("boot memory: booted: {}", rss());
    to_handler(&mut e, &mut d);
    eprintln!("boot memory: at the first system call: {}", rss());
    moved(d.run_line(&mut e, "reverse-step").expect("recording is on"));
    eprintln!("boot memory: after one reverse-step: {}", rss());
    let t = cpu_seconds();
    moved(
        d.run_line(&mut e, "reverse-continue")
            .expect("recording is on"),
    );
    eprintln!(
        "boot cpu time: reverse-continue from there to position 0: {:.2} s",
        cpu_seconds() - t
    );
    eprintln!(
        "boot memory: after reverse-continue to position {}: {}",
        e.history_len(),
        rss()
    );
}

/// This process's CPU time (user + system) in seconds, from /proc/self/stat (clock
/// ticks of 10 ms): on a machine shared with other work, wall time says little.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

/// CPU time per run of the three ways to the first system call, 5 runs each.
fn cpu_times(path: &Path) {
    type Way = fn(&mut Engine, &mut Debugger);
    let ways: [(&str, Way); 2] = [
        ("continue to the handler", to_handler),
        ("until cpl, twice", until_ring0),
    ];
    for (name, way) in ways {
        let mut total = 0.0;
        for _ in 0..5 {
            let (mut e, mut d) = boot(path);
            let t = cpu_seconds();
            way(&mut e, &mut d);
            total += cpu_seconds() - t;
        }
        eprintln!("boot cpu time: {name}: {:.3} s per run", total / 5.0);
    }
}

criterion_group!(benches, first_syscall);
criterion_main!(benches);
