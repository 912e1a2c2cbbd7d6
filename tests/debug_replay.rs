//! Deferred recording (`Engine::run_deferred`, `continue` in the default mode): a run
//! whose steps were taken on the unrecorded fast path and recorded later by replaying
//! them must be indistinguishable from a run recorded step by step. Checked on random
//! programs (register instructions, stack and memory writes, CLI/STI, `int $0x80`,
//! scheduled interrupt lines, stop addresses, hand edits), on debugger command
//! sequences (continue, reverse-continue, reverse-step, goto, step, set reg, with
//! conditional breakpoints), and on every shipped lesson, including the scene with a
//! scheduled timer interrupt. Machines are compared whole (registers and memory).

mod common;

use common::programs::{assemble, register_ins, Ins};
use proptest::prelude::*;
use ringstep::debug::spec::{CmpOp, Command, Cond, Expr};
use ringstep::debug::timeline::Mark;
use ringstep::debug::{regs::Reg, Debugger, Output, Why};
use ringstep::engine::{Change, Engine, ScheduledInterrupt, Source, StepResult, StopReason};
use ringstep::lesson;
use ringstep::machine::{Machine, SegReg};
use ringstep::scenario;

#[derive(Clone, Copy, Debug)]
enum Host {
    User32,
    Kernel32,
    Kernel64,
    /// The linux-2.6-i386 preset's user text, with its kernel, handlers and an
    /// optional timer interrupt.
    Preset,
}

fn extra_ins(host: Host) -> BoxedStrategy<Ins> {
    let mut fixed: Vec<Vec<u8>> = vec![
        vec![0x9c],                   // pushf
        vec![0x9d],                   // popf
        vec![0xf9],                   // stc
        vec![0x89, 0x44, 0x24, 0xf8], // mov %eax,-8(%esp)
        vec![0x8b, 0x5c, 0x24, 0xf8], // mov -8(%esp),%ebx
        vec![0x01, 0x4c, 0x24, 0xf8], // add %ecx,-8(%esp)
        vec![0x88, 0xe0],             // mov %ah,%al
        // General-path instructions: rotates, bit instructions, cmov/set, exchanges.
        vec![0xd1, 0xc0],             // rol %eax
        vec![0xd3, 0xcb],             // ror %cl,%ebx
        vec![0xd0, 0xd1],             // rcl %cl
        vec![0xd3, 0xda],             // rcr %cl,%edx
        vec![0x0f, 0xa4, 0xd8, 0x04], // shld $4,%ebx,%eax
        vec![0x0f, 0xad, 0xd8],       // shrd %cl,%ebx,%eax
        vec![0x0f, 0xab, 0xd8],       // bts %ebx,%eax
        vec![0x0f, 0xbd, 0xc3],       // bsr %ebx,%eax
        vec![0xf3, 0x0f, 0xbc, 0xc3], // tzcnt %ebx,%eax
        vec![0xf3, 0x0f, 0xb8, 0xc3], // popcnt %ebx,%eax
        vec![0x0f, 0x44, 0xc3],       // cmove %ebx,%eax
        vec![0x0f, 0x9c, 0xc0],       // setl %al
        vec![0x0f, 0xc1, 0xd8],       // xadd %ebx,%eax
        vec![0x0f, 0xb1, 0xd9],       // cmpxchg %ebx,%ecx
        vec![0x0f, 0xc8],             // bswap %eax
        vec![0x9f],                   // lahf
        vec![0x9e],                   // sahf
    ];
    if matches!(host, Host::Kernel32 | Host::Kernel64) {
        fixed.push(vec![0xfa]); // cli
        fixed.push(vec![0xfb]); // sti
    }
    if matches!(host, Host::Preset) {
        fixed.push(vec![0xcd, 0x80]); // int $0x80
        fixed.push(vec![0xfb]); // sti (a user STI faults: #GP, delivered)
    }
    prop_oneof![
        2 => (0u8..8).prop_map(|r| Ins::Bytes(vec![0x50 + r])),
        2 => prop::sample::select(vec![0u8, 1, 2, 3, 6, 7]).prop_map(|r| Ins::Bytes(vec![0x58 + r])),
        3 => prop::sample::select(fixed).prop_map(Ins::Bytes),
    ]
    .boxed()
}

fn long(host: Host) -> bool {
    matches!(host, Host::Kernel64)
}

fn program(host: Host) -> BoxedStrategy<Vec<Ins>> {
    prop::collection::vec(
        prop_oneof![6 => register_ins(long(host)), 1 => extra_ins(host)],
        1..30,
    )
    .boxed()
}

fn machine(host: Host, code: &[u8], regs: &[u64; 8]) -> Machine {
    let mut m = match host {
        Host::User32 => common::machine32(),
        Host::Kernel32 => common::kernel32(),
        Host::Kernel64 => common::kernel64(),
        Host::Preset => {
            scenario::preset("linux-2.6-i386")
                .expect("preset loads")
                .machine
        }
    };
    let lin = m.cpu.seg[SegReg::Cs as usize].base + m.cpu.rip;
    m.mem.poke(lin, code);
    for (i, v) in regs.iter().enumerate() {
        if i != 4 {
            m.cpu.gpr[i] = if long(host) { *v } else { *v & 0xffff_ffff };
        }
    }
    m
}

#[derive(Clone, Debug)]
struct Setup {
    host: Host,
    code: Vec<u8>,
    offsets: Vec<usize>,
    regs: [u64; 8],
    irqs: Vec<u64>,
    stops: Vec<usize>,
}

fn setup(host: Host) -> impl Strategy<Value = Setup> {
    (
        program(host),
        prop::array::uniform8(prop_oneof![Just(0u64), Just(1), 0u64..5, any::<u64>()]),
        prop::collection::vec(0u64..300, 0..3),
        prop::collection::vec(any::<prop::sample::Index>(), 0..2),
    )
        .prop_map(move |(ins, regs, irqs, stops)| {
            let (code, offsets) = assemble(&ins, true);
            Setup {
                host,
                stops: stops.iter().map(|i| *i.get(&offsets)).collect(),
                code,
                offsets,
                regs,
                irqs: if matches!(host, Host::Kernel32 | Host::Preset) {
                    irqs
                } else {
                    Vec::new()
                },
            }
        })
}

fn engine(s: &Setup) -> Engine {
    let m = machine(s.host, &s.code, &s.regs);
    let at = m.cpu.rip;
    let mut e = Engine::new(m);
    e.set_stop_at(s.stops.iter().map(|o| at + *o as u64).collect());
    e.set_schedule(
        s.irqs
            .iter()
            .map(|&before_step| ScheduledInterrupt {
                before_step,
                vector: 0x20,
            })
            .collect(),
    );
    e
}

/// One piece of a run: `steps` steps, deferred or recorded, then maybe an edit of EAX.
#[derive(Clone, Debug)]
struct Piece {
    deferred: bool,
    steps: u64,
    edit: Option<u64>,
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    prop::collection::vec(
        (
            any::<bool>(),
            0u64..120,
            prop::option::weighted(0.2, any::<u32>()),
        )
            .prop_map(|(deferred, steps, edit)| Piece {
                deferred,
                steps,
                edit: edit.map(u64::from),
            }),
        1..6,
    )
}

fn eax_edit(e: &Engine, value: u64) -> Change {
    Change::Gpr {
        index: 0,
        old: e.machine().cpu.gpr[0],
        new: value,
    }
}

/// Engine level: the pieces run deferred or recorded (`b`) against every step recorded
/// (`a`); then back through both, comparing machines and recorded steps.
fn check_engine(s: &Setup, plan: &[Piece], back_to: f64) -> Result<(), TestCaseError> {
    let ctx = || format!("{:?} code {:02x?} plan {plan:?}", s.host, s.code);
    let (mut a, mut b) = (engine(s), engine(s));
    for p in plan {
        let before = b.history_len();
        let stop = if p.deferred {
            b.run_deferred(p.steps)
        } else {
            b.run(p.steps)
        };
        let ran = b.history_len() - before;
        let mut a_stop = None;
        for _ in 0..p.steps {
            if let StepResult::Stopped(st) = a.step() {
                a_stop = Some(st);
                break;
            }
        }
        prop_assert_eq!(a.history_len(), b.history_len(), "{}", ctx());
        prop_assert_eq!(a.step_count(), b.step_count());
        match a_stop {
            Some(st) => prop_assert_eq!(&st, &stop, "{}", ctx()),
            None => prop_assert_eq!(&stop.reason, &StopReason::Limit, "{}", ctx()),
        }
        if p.deferred && ran > 1 {
            prop_assert!(b.unrecorded_len() > 0);
        }
        prop_assert!(a.machine() == b.machine(), "{}", ctx());
        if let Some(v) = p.edit {
            let (ca, cb) = (eax_edit(&a, v), eax_edit(&b, v));
            a.edit(&[ca]);
            b.edit(&[cb]);
        }
        if stop.reason != StopReason::Limit {
            break;
        }
    }
    // Back to a position somewhere in the run (a span after it is dropped or replayed).
    let n = a.history_len();
    let q = ((n as f64) * back_to) as usize;
    a.rewind(q)
        .map_err(|d| TestCaseError::fail(d.to_string()))?;
    b.rewind(q)
        .map_err(|d| TestCaseError::fail(d.to_string()))?;
    prop_assert_eq!(b.history_len(), q);
    prop_assert!(a.machine() == b.machine(), "rewind to {}: {}", q, ctx());
    // Then step by step to the start: each step as recorded by replaying is the step
    // recorded as it ran.
    while a.history_len() > 0 {
        let i = a.history_len() - 1;
        b.record_tail()
            .map_err(|d| TestCaseError::fail(d.to_string()))?;
        let (va, vb) = (
            a.step_view(i).expect("recorded"),
            b.step_view(i).expect("recorded after record_tail"),
        );
        prop_assert_eq!(&va.info, &vb.info, "step {}: {}", i, ctx());
        prop_assert_eq!(va.changes, vb.changes, "step {}: {}", i, ctx());
        prop_assert_eq!(va.events, vb.events, "step {}: {}", i, ctx());
        prop_assert_eq!(va.edit, vb.edit, "step {}: {}", i, ctx());
        prop_assert_eq!(va.n, vb.n);
        prop_assert!(a.step_back() && b.step_back());
        prop_assert!(a.machine() == b.machine(), "position {}: {}", i, ctx());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn deferred_runs_replay_as_recorded_user32(s in setup(Host::User32), plan in pieces(), back in 0.0f64..1.0) {
        check_engine(&s, &plan, back)?;
    }

    #[test]
    fn deferred_runs_replay_as_recorded_kernel32(s in setup(Host::Kernel32), plan in pieces(), back in 0.0f64..1.0) {
        check_engine(&s, &plan, back)?;
    }

    #[test]
    fn deferred_runs_replay_as_recorded_kernel64(s in setup(Host::Kernel64), plan in pieces(), back in 0.0f64..1.0) {
        check_engine(&s, &plan, back)?;
    }

    #[test]
    fn deferred_runs_replay_as_recorded_in_the_preset(s in setup(Host::Preset), plan in pieces(), back in 0.0f64..1.0) {
        check_engine(&s, &plan, back)?;
    }
}

/// A debugger command for the command-sequence property.
#[derive(Clone, Debug)]
enum Act {
    Continue,
    ReverseContinue,
    ReverseStep(u64),
    /// Goto a fraction of the current position (back), or past it (forward).
    Goto(f64),
    Step(u64),
    SetEax(u64),
    Timeline,
}

fn acts() -> impl Strategy<Value = Vec<Act>> {
    prop::collection::vec(
        prop_oneof![
            6 => Just(Act::Continue),
            3 => Just(Act::ReverseContinue),
            2 => (1u64..30).prop_map(Act::ReverseStep),
            2 => (0.0f64..1.5).prop_map(Act::Goto),
            1 => (1u64..10).prop_map(Act::Step),
            1 => (0u64..4).prop_map(Act::SetEax),
            1 => Just(Act::Timeline),
        ],
        1..14,
    )
}

fn command(act: &Act, pos: u64) -> Command {
    match act {
        Act::Continue => Command::Continue,
        Act::ReverseContinue => Command::ReverseContinue,
        Act::ReverseStep(n) => Command::ReverseStep(*n),
        Act::Goto(f) => Command::Goto(((pos as f64) * f) as u64),
        Act::Step(n) => Command::Step(*n),
        Act::SetEax(v) => Command::SetReg {
            reg: Reg::parse("eax").expect("eax"),
            value: Expr::number(*v),
        },
        Act::Timeline => Command::InfoTimeline,
    }
}

fn op(i: u8) -> CmpOp {
    [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Ge][i as usize % 4]
}

/// A debugger with fully recorded runs and one that defers after `defer` steps, fed the
/// same commands: every output and every machine must agree.
fn check_debugger(
    s: &Setup,
    breaks: &[(prop::sample::Index, Option<(u8, u64)>)],
    defer: u64,
    acts: &[Act],
) -> Result<(), TestCaseError> {
    let ctx = || format!("{:?} code {:02x?} acts {acts:?}", s.host, s.code);
    let (mut ea, mut eb) = (engine(s), engine(s));
    let (mut da, mut db) = (Debugger::new(&ea), Debugger::new(&eb));
    da.set_defer_after(u64::MAX);
    db.set_defer_after(defer);
    for d in [&mut da, &mut db] {
        d.set_limit(3000);
        for (i, cond) in breaks {
            let addr = ea.machine().cpu.rip + *i.get(&s.offsets) as u64;
            let cond = cond.map(|(o, v)| Cond {
                reg: Reg::parse(if o & 4 == 0 { "eax" } else { "ecx" }).expect("reg"),
                op: op(o),
                value: Expr::number(v),
            });
            d.points_mut().add_break(addr, String::new(), cond);
        }
    }
    for act in acts {
        let cmd = command(act, da.position(&ea));
        let oa = da.execute(&mut ea, &cmd);
        let ob = db.execute(&mut eb, &cmd);
        prop_assert_eq!(&oa, &ob, "{:?}: {}", act, ctx());
        prop_assert_eq!(ea.history_len(), eb.history_len());
        prop_assert!(ea.machine() == eb.machine(), "after {:?}: {}", act, ctx());
    }
    // Everything recorded: the same history step for step.
    db.record_all(&mut eb)
        .map_err(|err| TestCaseError::fail(err.to_string()))?;
    prop_assert_eq!(eb.unrecorded_len(), 0);
    for i in 0..ea.history_len() {
        let (va, vb) = (ea.step_view(i), eb.step_view(i));
        let (va, vb) = (va.expect("a step"), vb.expect("b step"));
        prop_assert_eq!(&va.info, &vb.info, "step {}: {}", i, ctx());
        prop_assert_eq!(va.changes, vb.changes);
        prop_assert_eq!(va.edit, vb.edit);
    }
    prop_assert!(ea.machine() == eb.machine());
    Ok(())
}

fn breaks() -> impl Strategy<Value = Vec<(prop::sample::Index, Option<(u8, u64)>)>> {
    prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::option::weighted(0.4, (0u8..8, 0u64..6)),
        ),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn debugger_commands_agree_with_full_recording_kernel32(
        s in setup(Host::Kernel32), b in breaks(), defer in 0u64..40, a in acts()
    ) {
        check_debugger(&s, &b, defer, &a)?;
    }

    #[test]
    fn debugger_commands_agree_with_full_recording_in_the_preset(
        s in setup(Host::Preset), b in breaks(), defer in 0u64..40, a in acts()
    ) {
        check_debugger(&s, &b, defer, &a)?;
    }

    #[test]
    fn debugger_commands_agree_with_full_recording_kernel64(
        s in setup(Host::Kernel64), b in breaks(), defer in 0u64..40, a in acts()
    ) {
        check_debugger(&s, &b, defer, &a)?;
    }
}

fn moved(o: Result<Output, ringstep::debug::DebugError>) -> (u64, Why) {
    match o {
        Ok(Output::Moved(a)) => (a.to, a.why),
        other => panic!("not a movement: {other:?}"),
    }
}

/// Every scene of every shipped lesson: breakpoints on every third distinct address
/// the scene runs through; continue to each hit, then reverse-continue back to the
/// start, then goto and reverse-step around, with everything deferred (`defer 0`)
/// against everything recorded.
#[test]
fn shipped_lessons_replay_as_recorded() {
    let mut scenes = 0;
    for id in lesson::library::ids() {
        let l = match lesson::load_shipped(id) {
            Some(Ok(l)) => l,
            other => panic!("lesson {id}: {:?}", other.map(|r| r.err())),
        };
        for (k, scene) in l.scenes.iter().enumerate() {
            scenes += 1;
            let ctx = format!("{id} scene {}", k + 1);
            // The addresses the scene runs through.
            let mut probe = lesson::run::engine_for(scene);
            probe.run(100_000);
            let mut ips: Vec<u64> = (0..probe.history_len())
                .filter_map(|i| probe.step_ip(i))
                .collect();
            ips.sort_unstable();
            ips.dedup();
            let (mut ea, mut eb) = (
                lesson::run::engine_for(scene),
                lesson::run::engine_for(scene),
            );
            let (mut da, mut db) = (Debugger::new(&ea), Debugger::new(&eb));
            da.set_defer_after(u64::MAX);
            db.set_defer_after(0);
            for d in [&mut da, &mut db] {
                d.set_limit(100_000);
                for ip in ips.iter().skip(1).step_by(3) {
                    d.points_mut().add_break(*ip, String::new(), None);
                }
            }
            let mut hits = Vec::new();
            loop {
                let a = moved(da.execute(&mut ea, &Command::Continue));
                let b = moved(db.execute(&mut eb, &Command::Continue));
                assert_eq!(a, b, "{ctx}: continue");
                assert!(ea.machine() == eb.machine(), "{ctx}: continue to {}", a.0);
                hits.push(a.0);
                if !matches!(a.1, Why::Breakpoint(_)) {
                    break;
                }
            }
            let end = ea.history_len();
            if end > 1 && ips.len() > 1 {
                assert!(eb.unrecorded_len() > 0, "{ctx}: nothing deferred");
            }
            loop {
                let a = moved(da.execute(&mut ea, &Command::ReverseContinue));
                let b = moved(db.execute(&mut eb, &Command::ReverseContinue));
                assert_eq!(a, b, "{ctx}: reverse-continue");
                assert!(ea.machine() == eb.machine(), "{ctx}: back to {}", a.0);
                if a.1 == Why::StartOfHistory {
                    break;
                }
            }
            // Forward again deferred, then into the spans with goto and reverse-step.
            for act in [
                Act::Continue,
                Act::Continue,
                Act::Goto(0.5),
                Act::ReverseStep(1),
                Act::Continue,
                Act::ReverseStep(3),
                Act::Continue,
                Act::Continue,
                Act::Goto(0.3),
                Act::Goto(1.4),
            ] {
                let cmd = command(&act, da.position(&ea));
                let a = moved(da.execute(&mut ea, &cmd));
                let b = moved(db.execute(&mut eb, &cmd));
                assert_eq!(a, b, "{ctx}: {cmd:?}");
                assert!(ea.machine() == eb.machine(), "{ctx}: {cmd:?}");
            }
        }
    }
    assert!(scenes >= 8);
}

/// The scene of mode-vs-context with a timer interrupt raised before step 1: a
/// `continue` run on the fast path from position 0 passes the interrupt; replayed, the
/// span shows the interrupt delivered at the same step, with the same marks as a
/// recorded run.
#[test]
fn a_scheduled_interrupt_inside_a_deferred_span() {
    let l = match lesson::load_shipped("mode-vs-context") {
        Some(Ok(l)) => l,
        other => panic!("{:?}", other.map(|r| r.err())),
    };
    let scene = l
        .scenes
        .iter()
        .find(|s| !s.scenario.interrupts.is_empty())
        .expect("a scene with a scheduled interrupt");
    let mut recorded = lesson::run::engine_for(scene);
    recorded.run(100_000);
    let total = recorded.history_len();
    let marks = ringstep::debug::timeline::collect(&recorded);
    let irq = marks
        .iter()
        .find(|t| {
            matches!(
                t.mark,
                Mark::Interrupt {
                    source: Source::External,
                    ..
                }
            )
        })
        .expect("the timer interrupt is delivered")
        .step;
    // A breakpoint at the run's last address, well after the interrupt.
    let last_ip = recorded.machine().cpu.rip;
    let mut e = lesson::run::engine_for(scene);
    let mut d = Debugger::new(&e);
    d.set_defer_after(0);
    d.set_limit(100_000);
    d.points_mut().add_break(last_ip, String::new(), None);
    let a = moved(d.execute(&mut e, &Command::Continue));
    assert!(a.0 as usize > irq + 1, "the run passes the interrupt");
    assert!(
        e.unrecorded().any(|r| r.contains(&irq)),
        "the interrupt step is in a deferred span: {:?}",
        e.unrecorded().collect::<Vec<_>>()
    );
    // `info timeline` records the span and lists the same marks up to here.
    let out = d.execute(&mut e, &Command::InfoTimeline).expect("timeline");
    assert_eq!(e.unrecorded_len(), 0);
    let here = e.history_len();
    let expected: Vec<_> = marks.into_iter().filter(|t| t.step < here).collect();
    assert_eq!(out, Output::Timeline(expected));
    // Back to just before the interrupt and forward over it again.
    recorded.goto(irq);
    let b = moved(d.execute(&mut e, &Command::Goto(irq as u64)));
    assert_eq!(b.0 as usize, irq);
    assert!(recorded.machine() == e.machine());
    assert!(total >= here);
}

/// `continue` 10000 steps ahead on the fast path, the first reverse-step (which replays
/// the span), `set reg` there, and runs forward and back from the edit: as recorded.
#[test]
fn set_reg_after_a_replayed_span() {
    // loop: inc %eax; add %ebx,%edx; dec %ecx; jnz loop; nop; nop (end at +7)
    let make = |defer: u64| {
        let mut m = common::with_code(common::kernel32(), "40 01 da 49 75 fa 90 90");
        m.cpu.gpr[1] = 5000;
        m.cpu.gpr[3] = 3;
        let code = m.cpu.rip;
        let mut e = Engine::new(m);
        e.set_stop_at(vec![code + 7]);
        let mut d = Debugger::new(&e);
        d.set_defer_after(defer);
        d.points_mut().add_break(code + 6, "after".into(), None);
        // A conditional breakpoint at the loop head: an address stop, the condition
        // checked there.
        d.points_mut().add_break(
            code,
            "head".into(),
            Some(Cond {
                reg: Reg::parse("eax").expect("eax"),
                op: CmpOp::Eq,
                value: Expr::number(7000),
            }),
        );
        (e, d)
    };
    let (mut ea, mut da) = make(u64::MAX);
    let (mut eb, mut db) = make(0);
    let script = [
        "continue",
        "reverse-step",
        "goto 4000",
        "set reg eax 6990",
        "continue",
        "continue",
        "reverse-continue",
        "reverse-continue",
        "goto 12345",
        "continue",
        "reverse-step 7",
        "continue",
        "reverse-continue",
        "goto 3",
        "set reg ecx 2",
        "continue",
        "reverse-step 2",
    ];
    let mut outputs = Vec::new();
    for line in script {
        let deferred_before = eb.unrecorded_len();
        let a = da.run_line(&mut ea, line);
        let b = db.run_line(&mut eb, line);
        assert_eq!(a, b, "`{line}`");
        assert!(ea.machine() == eb.machine(), "`{line}`");
        if let Ok(Output::Moved(m)) = &b {
            if line == "continue" && deferred_before == 0 && m.to > m.from + 100 {
                assert!(eb.unrecorded_len() > 0, "`{line}` ran deferred");
            }
            outputs.push((m.to, m.why.clone()));
        }
    }
    // From the edit at 4000 (EAX 6990), the loop head's condition EAX == 7000 holds
    // 10 iterations later; reverse-continue finds it again across the deferred span.
    assert_eq!(outputs[3], (4040, Why::Breakpoint(2)));
    assert_eq!(outputs[4], (20000, Why::Breakpoint(1)));
    assert_eq!(outputs[5], (4040, Why::Breakpoint(2)));
    assert_eq!(outputs[6], (0, Why::StartOfHistory));
    // The first continue stopped at the conditional breakpoint (EAX reaches 7000 only
    // after the edit), so the hits came from address stops with the condition checked.
    let (mut e, mut d) = make(0);
    assert_eq!(
        moved(d.run_line(&mut e, "continue")),
        (5000 * 4, Why::Breakpoint(1))
    );
    assert!(e.unrecorded_len() > 0);
    assert_eq!(
        moved(d.run_line(&mut e, "reverse-step")),
        (5000 * 4 - 1, Why::Done)
    );
    assert_eq!(e.unrecorded_len(), 0, "the span was recorded");
}
