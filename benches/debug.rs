//! Debugger throughput: `continue` to a plain breakpoint 10M instructions ahead (the
//! engine's stop-address fast path), and reverse-continue over 1M recorded steps.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringstep::debug::points::Watch;
use ringstep::debug::{Debugger, Why};
use ringstep::engine::Engine;

#[path = "../tests/common/mod.rs"]
mod common;

/// `nop; loop: inc %eax; add %ebx,%edx; dec %ecx; jnz loop; nop` at CPL 0: the first
/// nop runs once, at position 0; the loop runs ECX times.
fn counting_loop(iterations: u64) -> (Engine, u64) {
    let mut m = common::with_code(common::kernel32(), "90 40 01 da 49 75 fa 90");
    m.cpu.gpr[1] = iterations;
    let code = m.cpu.rip;
    let mut e = Engine::new(m);
    e.set_check_writes(false);
    (e, code)
}

fn continue_to_breakpoint(c: &mut Criterion) {
    const M: u64 = 10_000_000;
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(M));
    g.sample_size(20);
    // Without recording: `continue` hands the breakpoints to the engine's raw run.
    g.bench_function("continue_to_breakpoint_10M", |b| {
        b.iter_batched_ref(
            || {
                let (e, code) = counting_loop(M / 4);
                let mut d = Debugger::new(&e);
                d.set_recording(false);
                d.set_limit(u64::MAX);
                d.points_mut().add_break(code + 7, "end".into(), None);
                (e, d)
            },
            |(e, d)| {
                let a = d.cont(e);
                assert_eq!(a.why, Why::Breakpoint(1));
                assert_eq!(a.to, M + 1);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    // Recorded (history kept for reverse), 1M instructions.
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("continue_recorded_to_breakpoint_1M", |b| {
        b.iter_batched_ref(
            || {
                let (e, code) = counting_loop(N / 4);
                let mut d = Debugger::new(&e);
                d.points_mut().add_break(code + 7, "end".into(), None);
                (e, d)
            },
            |(e, d)| {
                let a = d.cont(e);
                assert_eq!(a.to, N + 1);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn reverse_continue(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    let recorded = |watch: bool| {
        let (mut e, code) = counting_loop(N);
        let mut d = Debugger::new(&e);
        for _ in 0..N {
            e.step();
        }
        if watch {
            // Memory no step writes: every step's changes are looked at.
            d.points_mut().add_watch(Watch::Mem {
                addr: common::KERNEL_DATA,
                len: 4,
            });
        }
        // The leading nop: the only hit is at position 0.
        d.points_mut().add_break(code, "start".into(), None);
        (e, d)
    };
    g.bench_function("reverse_continue_1M_breakpoint", |b| {
        b.iter_batched_ref(
            || recorded(false),
            |(e, d)| {
                let a = d.reverse_cont(e).expect("recording is on");
                assert_eq!((a.to, a.why.clone()), (0, Why::Breakpoint(1)));
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("reverse_continue_1M_breakpoint_and_watch", |b| {
        b.iter_batched_ref(
            || recorded(true),
            |(e, d)| {
                let a = d.reverse_cont(e).expect("recording is on");
                assert_eq!(a.to, 0);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, continue_to_breakpoint, reverse_continue);
criterion_main!(benches);
