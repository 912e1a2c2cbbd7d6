//! TUI benchmarks: one full frame at 160x48, and start-up to the first frame.

use criterion::{criterion_group, criterion_main, Criterion};

fn frame(c: &mut Criterion) {
    let _ = c;
}

criterion_group!(benches, frame);
criterion_main!(benches);
