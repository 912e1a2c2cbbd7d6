//! `ringstep trace` throughput: a 10^6-step loop traced to `io::sink()` in both formats
//! (every step written, as `ringstep trace` does), and the same run with `--quiet`
//! (unrecorded, only the last state and the stop record written).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringstep::disasm::Syntax;
use ringstep::engine::{Engine, StopReason};
use ringstep::trace::{self, state, Format, Writer};

#[path = "../tests/common/mod.rs"]
mod common;

const N: u64 = 1_000_000;

/// `loop: inc %eax; add %ebx,%edx; dec %ecx; jnz loop` (registers only), or
/// `loop: push %eax; pop %ebx; dec %ecx; jnz loop` (a memory write every fourth step),
/// at CPL 0 with ECX large enough that the loop runs past N steps.
fn looping(code: &str) -> Engine {
    let mut m = common::with_code(common::kernel32(), code);
    m.cpu.gpr[1] = u32::MAX as u64;
    let mut e = Engine::new(m);
    e.set_check_writes(false);
    e
}

const LOOPS: [(&str, &str); 2] = [
    ("register_loop", "40 01 da 49 75 fa"),
    ("push_pop_loop", "50 5b 49 75 fb"),
];

fn traced(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    for (name, code) in LOOPS {
        for (fname, format) in [("text", Format::Text), ("json", Format::Json)] {
            g.bench_function(format!("{name}_1M_{fname}"), |b| {
                b.iter_batched_ref(
                    || looping(code),
                    |e| {
                        let symbols = e.machine().symbols.clone();
                        let mut sink = std::io::sink();
                        let mut w = Writer::new(format, &symbols, Syntax::Att, &mut sink);
                        let stop = trace::run_engine(e, "loop", &mut w, N).expect("sink");
                        assert_eq!(stop.reason, StopReason::Limit);
                        assert_eq!(e.history_len(), 0);
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    // --quiet: the engine's fast path, then the state and the stop record.
    g.bench_function("register_loop_1M_quiet_json", |b| {
        b.iter_batched_ref(
            || looping(LOOPS[0].1),
            |e| {
                let symbols = e.machine().symbols.clone();
                let mut sink = std::io::sink();
                let mut w = Writer::new(Format::Json, &symbols, Syntax::Att, &mut sink);
                let stop = e.run_raw(N);
                state::write(&mut w, e.machine(), e.step_count()).expect("sink");
                trace::write_stop(&mut w, e, &stop).expect("sink");
                w.finish().expect("sink");
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(5));
    targets = traced
}
criterion_main!(benches);
