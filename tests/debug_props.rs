//! Property: reverse-continue lands on the same hit a forward scan finds (the latest
//! position before the start where a breakpoint or watchpoint hits), and `Engine::edit`
//! is undone by stepping back.

use proptest::prelude::*;
use ringstep::debug::points::Points;
use ringstep::debug::spec::{CmpOp, Cond, Expr};
use ringstep::debug::{points::Watch, regs::Reg, Debugger, Why};
use ringstep::engine::{Change, Engine};

mod common;

/// `loop: inc %eax; add %ebx,%edx; mov %edx,(%esi); dec %ecx; jnz loop` at CPL 0:
/// 9 bytes, ESI pointing at kernel data.
fn program(iterations: u64, ebx: u64) -> Engine {
    let mut m = common::with_code(common::kernel32(), "40 01 da 89 16 49 75 f8 90");
    m.cpu.gpr[1] = iterations;
    m.cpu.gpr[3] = ebx;
    m.cpu.gpr[6] = common::KERNEL_DATA;
    let end = m.cpu.rip + 8;
    let mut e = Engine::new(m);
    e.set_stop_at(vec![end]);
    e
}

const OFFSETS: [u64; 5] = [0, 1, 3, 5, 6];

fn ops() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ]
}

/// The first hit at position q by the forward rules (watch changed by step q-1,
/// else a breakpoint at RIP whose condition holds).
fn hit_at(e: &mut Engine, points: &Points, q: usize) -> Option<Why> {
    e.goto(q);
    if q >= 1 {
        let v = e.step_view(q - 1)?;
        if let Some(h) = points.watch_hit(v.n as usize, v.changes) {
            return Some(Why::Watch(h));
        }
    }
    points.break_hit(e.machine()).map(Why::Breakpoint)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reverse_continue_matches_a_forward_scan(
        iterations in 1u64..40,
        ebx in 0u64..3,
        breaks in proptest::collection::vec((0usize..5, proptest::option::of((ops(), 0u64..20))), 0..3),
        watch_edx in any::<bool>(),
        watch_mem in any::<bool>(),
        start_frac in 0.0f64..1.0,
    ) {
        let mut e = program(iterations, ebx);
        let code = e.machine().cpu.rip;
        let mut d = Debugger::new(&e);
        for (k, cond) in &breaks {
            let cond = cond.map(|(op, v)| Cond {
                reg: Reg::parse("eax").unwrap_or(Reg::Cpl),
                op,
                value: Expr::number(v),
            });
            d.points_mut().add_break(code + OFFSETS[*k], String::new(), cond);
        }
        if watch_edx {
            d.points_mut().add_watch(Watch::Reg(Reg::parse("dl").unwrap_or(Reg::Cpl)));
        }
        if watch_mem {
            d.points_mut().add_watch(Watch::Mem { addr: common::KERNEL_DATA + 1, len: 2 });
        }
        let total = e.run(10_000);
        prop_assert_eq!(total.reason.name(), "end");
        let n = e.history_len();
        let start = ((n as f64) * start_frac) as usize;
        let points = d.points().clone();
        let expected = (0..start).rev().find_map(|q| hit_at(&mut e, &points, q).map(|w| (q as u64, w)));
        e.goto(start);
        let a = d.reverse_cont(&mut e).map_err(|err| TestCaseError::fail(err.to_string()))?;
        match expected {
            Some((q, why)) => {
                prop_assert_eq!(a.to, q);
                prop_assert_eq!(a.why, why);
            }
            None => {
                prop_assert_eq!(a.to, 0);
                prop_assert_eq!(a.why, Why::StartOfHistory);
            }
        }
        prop_assert_eq!(e.history_len() as u64, a.to);
        // Continuing forward from the hit finds the next hit by the same rules.
        let from = a.to as usize;
        let next = (from + 1..=n).find_map(|q| hit_at(&mut e, &points, q).map(|w| (q as u64, w)));
        e.goto(from);
        let b = d.cont(&mut e);
        if let Some((q, why)) = next {
            prop_assert_eq!(b.to, q);
            prop_assert_eq!(b.why, why);
        } else {
            prop_assert_eq!(b.to, n as u64);
        }
    }
}

#[test]
fn an_edit_is_undone_with_its_step_and_reported_apart() {
    let mut e = program(5, 1);
    common::step(&mut e);
    common::step(&mut e);
    let eax = e.machine().cpu.gpr[0];
    e.edit(&[Change::Gpr {
        index: 0,
        old: eax,
        new: 0x55,
    }]);
    assert_eq!(e.machine().cpu.gpr[0], 0x55);
    let v = e.step_view(1).expect("step 1");
    assert_eq!(
        v.edit,
        &[Change::Gpr {
            index: 0,
            old: eax,
            new: 0x55
        }]
    );
    assert!(!v
        .changes
        .iter()
        .any(|c| matches!(c, Change::Gpr { new: 0x55, .. })));
    common::step(&mut e);
    assert!(e.step_view(2).expect("step 2").edit.is_empty());
    assert!(e.step_back());
    assert_eq!(e.machine().cpu.gpr[0], 0x55);
    assert!(e.step_back());
    assert_eq!(e.history_len(), 1);
    assert_eq!(
        e.machine().cpu.gpr[0],
        1,
        "the inc of step 0, without the edit"
    );
    // At position 0 an edit becomes part of the starting state.
    e.goto(0);
    e.edit(&[Change::Gpr {
        index: 3,
        old: 1,
        new: 9,
    }]);
    assert_eq!(e.history_len(), 0);
    common::step(&mut e);
    assert!(e.step_back());
    assert_eq!(e.machine().cpu.gpr[3], 9);
}
