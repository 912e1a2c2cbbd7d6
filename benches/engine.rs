//! Engine throughput: raw execution of a register loop, recorded stepping (with history
//! for reverse stepping), and a full trace of the default scenario.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringstep::disasm::Syntax;
use ringstep::engine::{Engine, StepResult};
use ringstep::trace::{self, Format};

#[path = "../tests/common/mod.rs"]
mod common;

/// `loop: inc %eax; add %ebx,%edx; dec %ecx; jnz loop` at CPL 0, with ECX large enough
/// that the loop never ends during a measurement.
fn register_loop() -> Engine {
    let mut m = common::with_code(common::kernel32(), "40 01 da 49 75 fa");
    m.cpu.gpr[1] = u32::MAX as u64;
    let mut e = Engine::new(m);
    e.set_check_writes(false);
    e
}

fn raw(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("raw");
    g.throughput(Throughput::Elements(N));
    g.bench_function("register_loop_1M", |b| {
        b.iter_batched_ref(
            register_loop,
            |e| {
                let stop = e.run_raw(N);
                assert_eq!(stop.reason.name(), "limit");
            },
            BatchSize::LargeInput,
        )
    });
    // The same with stop addresses set (none of them reached): two in the loop's page,
    // the rest elsewhere, as breakpoints would be.
    g.bench_function("register_loop_1M_with_breakpoints", |b| {
        b.iter_batched_ref(
            || {
                let mut e = register_loop();
                let code = e.machine().cpu.rip;
                let mut stops = vec![code + 0x100, code + 0xff8];
                stops.extend((1..15).map(|k| code + k * 0x1_0000));
                e.set_stop_at(stops);
                e
            },
            |e| {
                let stop = e.run_raw(N);
                assert_eq!(stop.reason.name(), "limit");
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Run to a breakpoint after 10M instructions: the loop runs ECX = 2.5M times, then
    // reaches the stop address just after it.
    const M: u64 = 10_000_000;
    let mut g = c.benchmark_group("raw");
    g.throughput(Throughput::Elements(M));
    g.bench_function("run_to_breakpoint_10M", |b| {
        b.iter_batched_ref(
            || {
                let mut e = register_loop();
                let code = e.machine().cpu.rip;
                e.machine_mut().cpu.gpr[1] = M / 4;
                let mut stops = vec![code + 6];
                stops.extend((1..16).map(|k| code + k * 0x1_0000));
                e.set_stop_at(stops);
                e
            },
            |e| {
                let stop = e.run_raw(u64::MAX);
                assert_eq!(stop.reason.name(), "end");
                assert_eq!(e.step_count(), M);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn recorded(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("recorded");
    g.throughput(Throughput::Elements(N));
    g.bench_function("register_loop_1M_steps", |b| {
        b.iter_batched_ref(
            register_loop,
            |e| {
                for _ in 0..N {
                    if let StepResult::Stopped(s) = e.step() {
                        panic!("stopped: {s:?}");
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    // The same 1M recorded steps into history buffers that already hold their memory
    // (as after stepping back or restarting a lesson): no page faults from growing.
    g.bench_function("register_loop_1M_steps_warm", |b| {
        b.iter_batched_ref(
            || {
                let mut e = register_loop();
                for _ in 0..N {
                    e.step();
                }
                while e.step_back() {}
                e
            },
            |e| {
                for _ in 0..N {
                    if let StepResult::Stopped(s) = e.step() {
                        panic!("stopped: {s:?}");
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("reverse_1M_steps", |b| {
        b.iter_batched_ref(
            || {
                let mut e = register_loop();
                for _ in 0..N {
                    e.step();
                }
                e
            },
            |e| while e.step_back() {},
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn full_trace(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    for (name, format) in [("text", Format::Text), ("json", Format::Json)] {
        let s = ringstep::scenario::preset("linux-2.6-i386").expect("preset loads");
        g.bench_function(format!("default_scenario_{name}"), |b| {
            b.iter(|| {
                let mut out = std::io::sink();
                trace::run(&s, format, 10_000, Syntax::Att, &mut out).expect("trace runs")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = raw, recorded, full_trace
}
criterion_main!(benches);
