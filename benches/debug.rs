//! Debugger throughput: `continue` to a breakpoint 10M instructions ahead in the default
//! mode (fast path, the span kept for replay) and without recording, the first reverse
//! step after it (replaying the span), and reverse-continue over 1M recorded steps or
//! over a 1M-step span left by `continue`.

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

/// A debugger on the counting loop with a breakpoint on the final nop, `m` steps ahead.
fn to_breakpoint(m: u64) -> (Engine, Debugger) {
    let (e, code) = counting_loop(m / 4);
    let mut d = Debugger::new(&e);
    d.set_limit(u64::MAX);
    d.points_mut().add_break(code + 7, "end".into(), None);
    (e, d)
}

fn continue_to_breakpoint(c: &mut Criterion) {
    const M: u64 = 10_000_000;
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(M));
    g.sample_size(20);
    // The default mode: recording on, all but the first steps run on the fast path and
    // kept as an unrecorded span, so the reverse commands still work.
    g.bench_function("continue_to_breakpoint_10M", |b| {
        b.iter_batched_ref(
            || to_breakpoint(M),
            |(e, d)| {
                let a = d.cont(e);
                assert_eq!(a.why, Why::Breakpoint(1));
                assert_eq!(a.to, M + 1);
            },
            BatchSize::LargeInput,
        )
    });
    // Without recording: no history at all.
    g.bench_function("continue_to_breakpoint_10M_unrecorded", |b| {
        b.iter_batched_ref(
            || {
                let (e, mut d) = to_breakpoint(M);
                d.set_recording(false);
                (e, d)
            },
            |(e, d)| {
                let a = d.cont(e);
                assert_eq!(a.to, M + 1);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    // The cost of the first reverse command after the default-mode `continue`: the
    // 10M-step span is replayed and recorded, then one step is undone.
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(M));
    g.sample_size(10);
    g.bench_function("first_reverse_step_after_continue_10M", |b| {
        b.iter_batched_ref(
            || {
                let (mut e, mut d) = to_breakpoint(M);
                d.cont(&mut e);
                assert!(e.unrecorded_len() > 0);
                (e, d)
            },
            |(e, d)| {
                let a = d.reverse_step(e, 1).expect("recording is on");
                assert_eq!(a.to, M);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    // Every step recorded as it runs, 1M instructions.
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("debug");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("continue_recorded_to_breakpoint_1M", |b| {
        b.iter_batched_ref(
            || {
                let (e, mut d) = to_breakpoint(N);
                d.set_defer_after(u64::MAX);
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
    // After a default-mode `continue` 1M steps ahead: the span is replayed, then
    // searched.
    g.bench_function("reverse_continue_after_continue_1M", |b| {
        b.iter_batched_ref(
            || {
                let (mut e, mut d) = to_breakpoint(N);
                d.cont(&mut e);
                assert!(e.unrecorded_len() > 0);
                // The leading nop at position 0.
                let start = e.step_ip(0).unwrap_or_default();
                d.points_mut().add_break(start, "start".into(), None);
                (e, d)
            },
            |(e, d)| {
                let a = d.reverse_cont(e).expect("recording is on");
                assert_eq!((a.to, a.why.clone()), (0, Why::Breakpoint(2)));
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, continue_to_breakpoint, reverse_continue);
criterion_main!(benches);
