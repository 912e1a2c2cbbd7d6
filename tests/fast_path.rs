//! The engine's fast forms of common register instructions (`engine::fast`, used by
//! `run_raw`'s inner loop and by recorded steps) against the general path: random
//! programs are run four ways — raw and recorded, each with the fast forms on and off —
//! and must end in the same machine, with the same stop, and (recorded) the same
//! history step for step: same changes in the same order, events, outcomes, RIPs.

mod common;

use common::programs::{assemble, register_ins, Ins};
use proptest::prelude::*;
use ringstep::engine::{Engine, ScheduledInterrupt, StepResult, Stop, StopReason};
use ringstep::machine::{Machine, SegReg};
use ringstep::scenario;

/// Where a program runs.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// tests/common's 32-bit user machine (empty IDT: any exception stops the run).
    User32,
    /// The same at CPL 0 (CLI/STI allowed).
    Kernel32,
    /// User32 with a CS base of 0x1000 (IPs are not linear addresses).
    Based32,
    /// User32 running 16-bit code: CS.D clear, CS base at the code, IP from 0.
    User16,
    /// 64-bit user mode.
    User64,
    /// 64-bit kernel mode.
    Kernel64,
    /// The linux-2.6-i386 preset's user text, with its kernel and handlers, and an
    /// optional timer interrupt.
    Preset,
}

impl Host {
    fn long(self) -> bool {
        matches!(self, Host::User64 | Host::Kernel64)
    }
}

/// Instructions the fast forms leave to the general path: stack and memory accesses,
/// flag instructions, a few that fault or stop.
fn slow_ins(host: Host) -> BoxedStrategy<Ins> {
    let mut fixed: Vec<Vec<u8>> = vec![
        vec![0x9c],                   // pushf
        vec![0x9d],                   // popf
        vec![0xf8],                   // clc
        vec![0xf9],                   // stc
        vec![0xf5],                   // cmc
        vec![0x99],                   // cdq
        vec![0x98],                   // cwde
        vec![0x89, 0x44, 0x24, 0xf8], // mov %eax,-8(%esp)
        vec![0x8b, 0x5c, 0x24, 0xf8], // mov -8(%esp),%ebx
        vec![0x01, 0x4c, 0x24, 0xf8], // add %ecx,-8(%esp)
        vec![0x88, 0xe0],             // mov %ah,%al
        vec![0x0f, 0x0b],             // ud2
        vec![0xf7, 0xf1],             // div %ecx
    ];
    if matches!(host, Host::Kernel32 | Host::Kernel64) {
        fixed.push(vec![0xfa]); // cli
        fixed.push(vec![0xfb]); // sti
    }
    if matches!(host, Host::Preset) {
        fixed.push(vec![0xcd, 0x80]); // int $0x80
    }
    prop_oneof![
        2 => (0u8..8).prop_map(|r| Ins::Bytes(vec![0x50 + r])),
        2 => prop::sample::select(vec![0u8, 1, 2, 3, 6, 7]).prop_map(|r| Ins::Bytes(vec![0x58 + r])),
        3 => prop::sample::select(fixed).prop_map(Ins::Bytes),
    ]
    .boxed()
}

fn program(host: Host) -> BoxedStrategy<Vec<Ins>> {
    prop::collection::vec(
        prop_oneof![
            6 => register_ins(host.long()),
            1 => slow_ins(host),
        ],
        1..40,
    )
    .boxed()
}

/// A machine set up for the program, with random register values.
fn machine(host: Host, code: &[u8], regs: &[u64; 16], cs_limit: Option<u32>) -> Machine {
    let mut m = match host {
        Host::User32 => common::machine32(),
        Host::Kernel32 => common::kernel32(),
        Host::Based32 => {
            let mut m = common::machine32();
            let cs = &mut m.cpu.seg[SegReg::Cs as usize];
            cs.base = 0x1000;
            cs.limit -= 0x1000;
            m.cpu.rip -= 0x1000;
            m
        }
        Host::User16 => {
            let mut m = common::machine32();
            let cs = &mut m.cpu.seg[SegReg::Cs as usize];
            cs.base = m.cpu.rip;
            cs.limit = 0xffff;
            cs.attr = ringstep::machine::Attr(cs.attr.0 & !(1 << 14));
            m.cpu.rip = 0;
            m
        }
        Host::User64 => common::machine64(),
        Host::Kernel64 => common::kernel64(),
        Host::Preset => {
            scenario::preset("linux-2.6-i386")
                .expect("preset loads")
                .machine
        }
    };
    let at = m.cpu.rip;
    let lin = m.cpu.seg[SegReg::Cs as usize].base + at;
    m.mem.poke(lin, code);
    let width = if host.long() { 16 } else { 8 };
    for (i, v) in regs.iter().enumerate().take(width) {
        if i == 4 {
            continue; // keep the stack pointer
        }
        m.cpu.gpr[i] = if host.long() { *v } else { *v & 0xffff_ffff };
    }
    if let (Some(k), false) = (cs_limit, host.long()) {
        m.cpu.seg[SegReg::Cs as usize].limit = (at as u32).wrapping_add(k);
    }
    m
}

#[derive(Clone, Debug)]
struct Setup {
    host: Host,
    code: Vec<u8>,
    regs: [u64; 16],
    cs_limit: Option<u32>,
    stop_at: Vec<u64>,
    irq: Option<u64>,
}

fn engine(s: &Setup, fast: bool) -> Engine {
    let m = machine(s.host, &s.code, &s.regs, s.cs_limit);
    let at = m.cpu.rip;
    let mut e = Engine::new(m);
    e.set_fast_path(fast);
    e.set_stop_at(s.stop_at.iter().map(|o| at + o).collect());
    if let Some(before_step) = s.irq {
        e.set_schedule(vec![ScheduledInterrupt {
            before_step,
            vector: 0x20,
        }]);
    }
    e
}

/// Recorded steps until a stop or `max` steps.
fn recorded(e: &mut Engine, max: u64) -> Option<Stop> {
    for _ in 0..max {
        if let StepResult::Stopped(s) = e.step() {
            return Some(s);
        }
    }
    None
}

fn check(s: &Setup, max: u64) -> Result<(), TestCaseError> {
    let ctx = || format!("{:?} code {:02x?}", s.host, s.code);

    // Raw, fast forms on and off.
    let mut raw_fast = engine(s, true);
    let stop_fast = raw_fast.run_raw(max);
    let mut raw_slow = engine(s, false);
    let stop_slow = raw_slow.run_raw(max);
    prop_assert_eq!(&stop_fast, &stop_slow, "raw stops: {}", ctx());
    prop_assert_eq!(raw_fast.step_count(), raw_slow.step_count(), "{}", ctx());
    prop_assert_eq!(
        &raw_fast.machine().cpu,
        &raw_slow.machine().cpu,
        "{}",
        ctx()
    );
    prop_assert!(
        raw_fast.machine() == raw_slow.machine(),
        "memory: {}",
        ctx()
    );

    // Recorded, fast forms on and off: the same history, step for step.
    let mut rec_fast = engine(s, true);
    let rstop_fast = recorded(&mut rec_fast, max);
    let mut rec_slow = engine(s, false);
    let rstop_slow = recorded(&mut rec_slow, max);
    prop_assert_eq!(&rstop_fast, &rstop_slow, "recorded stops: {}", ctx());
    prop_assert_eq!(rec_fast.history_len(), rec_slow.history_len());
    for i in 0..rec_fast.history_len() {
        let (a, b) = (
            rec_fast.step_view(i).expect("a step"),
            rec_slow.step_view(i).expect("a step"),
        );
        prop_assert_eq!(&a.info, &b.info, "step {}: {}", i, ctx());
        prop_assert_eq!(a.changes, b.changes, "step {} changes: {}", i, ctx());
        prop_assert_eq!(a.events, b.events, "step {} events: {}", i, ctx());
        prop_assert_eq!(a.n, b.n);
    }
    prop_assert_eq!(
        &rec_fast.machine().cpu,
        &rec_slow.machine().cpu,
        "{}",
        ctx()
    );
    prop_assert!(
        rec_fast.machine() == rec_slow.machine(),
        "memory: {}",
        ctx()
    );

    // Raw and recorded agree.
    prop_assert_eq!(raw_fast.step_count(), rec_fast.step_count(), "{}", ctx());
    prop_assert_eq!(
        &raw_fast.machine().cpu,
        &rec_fast.machine().cpu,
        "{}",
        ctx()
    );
    prop_assert!(
        raw_fast.machine() == rec_fast.machine(),
        "memory: {}",
        ctx()
    );
    match &rstop_fast {
        Some(stop) => prop_assert_eq!(&stop_fast, stop, "{}", ctx()),
        None => prop_assert_eq!(&stop_fast.reason, &StopReason::Limit, "{}", ctx()),
    }

    // Back to the start through the fast-recorded history.
    prop_assert_eq!(rec_fast.goto(0), None);
    let start = engine(s, true);
    prop_assert!(rec_fast.machine() == start.machine(), "goto(0): {}", ctx());
    Ok(())
}

fn setup(host: Host) -> impl Strategy<Value = Setup> {
    (
        program(host),
        prop::array::uniform16(prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(0x8000_0000),
            Just(0xffff_ffff),
            // Small counts above a carry into bit 16 or bit 32 (LOOP with CX or ECX).
            (0u64..3).prop_map(|v| v | 1 << 16),
            (0u64..3).prop_map(|v| v | 1 << 32),
            0u64..5,
            any::<u64>()
        ]),
        prop::option::weighted(0.3, any::<prop::sample::Index>()),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::option::weighted(0.5, 0u64..300),
        any::<bool>(),
    )
        .prop_map(move |(ins, regs, cs_limit, stops, irq, repeat)| {
            let (code, offsets) = assemble(&ins, repeat);
            // A CS limit somewhere in the code (or just past it).
            let cs_limit = cs_limit.map(|i| i.index(code.len() + 4) as u32);
            Setup {
                host,
                code,
                regs,
                cs_limit,
                stop_at: stops.iter().map(|i| *i.get(&offsets) as u64).collect(),
                irq: if matches!(host, Host::Preset | Host::Kernel32) {
                    irq
                } else {
                    None
                },
            }
        })
}

const STEPS: u64 = 400;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fast_forms_match_the_general_path_user32(s in setup(Host::User32)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_kernel32(s in setup(Host::Kernel32)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_with_a_cs_base(s in setup(Host::Based32)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_in_16_bit_code(s in setup(Host::User16)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_user64(s in setup(Host::User64)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_kernel64(s in setup(Host::Kernel64)) {
        check(&s, STEPS)?;
    }

    #[test]
    fn fast_forms_match_the_general_path_in_the_preset(s in setup(Host::Preset)) {
        check(&s, STEPS)?;
    }
}

/// A long register loop: the raw fast path runs millions of instructions in one go and
/// ends where single steps end; a breakpoint inside the loop stops it at the same step.
#[test]
fn long_register_loop_raw_equals_general_path() {
    // loop: inc %eax; add %ebx,%edx; imul %edx,%esi; xor %eax,%ebx; dec %ecx; jnz loop; ud2
    let code = "40 01 da 0f af f2 31 c3 49 75 f5 0f 0b";
    let make = |fast: bool| {
        let mut m = common::with_code(common::kernel32(), code);
        m.cpu.gpr[1] = 50_000;
        m.cpu.gpr[3] = 0x1234_5678;
        let mut e = Engine::new(m);
        e.set_fast_path(fast);
        e.set_check_writes(false);
        e
    };
    let (mut a, mut b) = (make(true), make(false));
    let (sa, sb) = (a.run_raw(1_000_000), b.run_raw(1_000_000));
    assert_eq!(sa, sb);
    assert_eq!(sa.reason.name(), "fault", "the run ends at ud2");
    assert_eq!(a.step_count(), 300_000);
    assert_eq!(a.machine().cpu, b.machine().cpu);

    // A breakpoint on `dec %ecx`: the 1000th time it is reached.
    let (mut a, mut b) = (make(true), make(false));
    let bp = common::KERNEL_CODE + 8;
    a.set_stop_at(vec![0x1234, bp]);
    b.set_stop_at(vec![0x1234, bp]);
    let mut steps = 0;
    for round in 0..1000 {
        let (sa, sb) = (a.run_raw(10_000_000), b.run_raw(10_000_000));
        assert_eq!(sa, sb, "round {round}");
        assert_eq!(sa.reason.name(), "end");
        assert_eq!(sa.ip, bp);
        assert_eq!(a.machine().cpu, b.machine().cpu);
        // Step over the breakpoint.
        a.set_stop_at(vec![]);
        b.set_stop_at(vec![]);
        a.run_raw(1);
        b.run_raw(1);
        a.set_stop_at(vec![0x1234, bp]);
        b.set_stop_at(vec![0x1234, bp]);
        steps = a.step_count();
    }
    assert_eq!(steps, 5 + 6 * 999);
    assert_eq!(a.machine().cpu, b.machine().cpu);
}

/// Run `m` raw and recorded, fast forms on and off: all four stop the same way, at the
/// same step, in the same state. Returns the stop.
fn four_ways(m: &Machine, max: u64) -> Stop {
    four_ways_with(m, &[], max)
}

fn four_ways_with(m: &Machine, irqs: &[u64], max: u64) -> Stop {
    let make = |fast: bool| {
        let mut e = Engine::new(m.clone());
        e.set_fast_path(fast);
        e.set_schedule(
            irqs.iter()
                .map(|&before_step| ScheduledInterrupt {
                    before_step,
                    vector: 0x20,
                })
                .collect(),
        );
        e
    };
    let (mut a, mut b, mut c, mut d) = (make(true), make(false), make(true), make(false));
    let sa = a.run_raw(max);
    let sb = b.run_raw(max);
    let sc = recorded(&mut c, max).unwrap_or(sa.clone());
    let sd = recorded(&mut d, max).unwrap_or(sa.clone());
    assert_eq!(sa, sb);
    assert_eq!(sa, sc);
    assert_eq!(sa, sd);
    for e in [&b, &c, &d] {
        assert_eq!(a.step_count(), e.step_count());
        assert_eq!(a.machine().cpu, e.machine().cpu);
        assert!(a.machine() == e.machine(), "memory differs");
    }
    sa
}

/// A branch first not taken (run by the general path, which caches it), then taken
/// from the raw run's inner loop to a target the branch may not reach: the fast form
/// declines and the general path raises the #GP.
#[test]
fn a_branch_past_the_cs_limit_faults_from_the_inner_loop() {
    // start: dec %ecx; jz far; jmp start; nop x 16; far: nop
    let mut code = String::from("49 74 12 eb fb");
    code.push_str(&" 90".repeat(17));
    let mut m = common::with_code(common::kernel32(), &code);
    m.cpu.gpr[1] = 5;
    m.cpu.seg[SegReg::Cs as usize].limit = (common::KERNEL_CODE + 0x10) as u32;
    let stop = four_ways(&m, 1000);
    assert_eq!(stop.ip, common::KERNEL_CODE + 1, "at the jz");
    match stop.reason {
        StopReason::Fault(x) => {
            assert_eq!(x.vector, 13);
            assert!(x.reason.contains("CS limit"), "{}", x.reason);
        }
        other => panic!("expected #GP, got {other:?}"),
    }
}

/// The same in 64-bit mode with a target that is not canonical.
#[test]
fn a_branch_to_a_non_canonical_address_faults_from_the_inner_loop() {
    let mut m = common::machine64();
    let base = 0x7fff_ffff_f000u64;
    m.mem
        .add_region(ringstep::machine::Region {
            name: "high text".into(),
            base,
            size: 0x1000,
            perm: ringstep::machine::Perm {
                user: true,
                writable: false,
                exec: true,
            },
            phys: None,
        })
        .expect("free");
    common::page_tables(&mut m);
    // At base + 0xf00: dec %ecx; jz +0x1000 (0f 84 rel32); jmp start.
    let at = base + 0xf00;
    m.mem
        .poke(at, &common::hex("ff c9 0f 84 00 10 00 00 eb f6 90 90"));
    m.cpu.rip = at;
    m.cpu.gpr[1] = 5;
    let stop = four_ways(&m, 1000);
    assert_eq!(stop.ip, at + 2, "at the jz");
    match stop.reason {
        StopReason::Fault(x) => {
            assert_eq!(x.vector, 13);
            assert!(x.reason.contains("canonical"), "{}", x.reason);
        }
        other => panic!("expected #GP, got {other:?}"),
    }
}

/// Kernel code at CPL 0 with a timer handler (`inc %ebx; iret`) for vector 0x20.
fn with_timer_handler(code: &str) -> Machine {
    let mut m = common::with_code(common::kernel32(), code);
    common::set_gate32(
        &mut m,
        0x20,
        common::KERNEL_CODE + 0x400,
        common::KERNEL_CS,
        false,
        0,
    );
    m.mem
        .poke(common::KERNEL_CODE + 0x400, &common::hex("43 cf"));
    m.cpu.gpr[1] = 1000;
    m
}

/// After STI the next instruction runs in the interrupt shadow, which it ends; the
/// interrupt raised while IF was 0 comes right after it. The inner loop must leave that
/// instruction (cached from an earlier round) to the general path.
#[test]
fn the_instruction_in_the_sti_shadow_ends_it() {
    // start: cli; inc %eax; sti; inc %eax; dec %ecx; jnz start; ud2
    let m = with_timer_handler("fa 40 fb 40 49 75 f9 0f 0b");
    // With an interrupt every round, every other round, and none.
    let every: Vec<u64> = (0..20).map(|k| 1 + 9 * k).collect();
    let some: Vec<u64> = (0..20).map(|k| 1 + 15 * k).collect();
    for (irqs, max) in [every, some, vec![]]
        .iter()
        .flat_map(|i| (1..120).map(move |max| (i, max)))
    {
        let stop = four_ways_with(&m, irqs, max);
        assert_eq!(stop.reason.name(), "limit", "{stop:?}");
    }
}

/// POPF setting IF with an interrupt pending: the interrupt comes before the next
/// instruction, which the inner loop must not run.
#[test]
fn popf_setting_if_lets_a_pending_interrupt_in_first() {
    // start: pushf; cli; inc %eax; popf; inc %eax; dec %ecx; jnz start; ud2
    let m = with_timer_handler("9c fa 40 9d 40 49 75 f8 0f 0b");
    let irqs: Vec<u64> = (0..20).map(|k| 2 + 10 * k).collect();
    for max in 1..120 {
        let stop = four_ways_with(&m, &irqs, max);
        assert_eq!(stop.reason.name(), "limit", "{stop:?}");
    }
}

/// Code that rewrites the next instruction's immediate on every round: cached entries
/// of a written page are not used again.
#[test]
fn self_modifying_code_is_decoded_again() {
    let mut m = common::kernel32();
    let base = 0xc050_0000u64;
    m.mem
        .add_region(ringstep::machine::Region {
            name: "rwx".into(),
            base,
            size: 0x1000,
            perm: ringstep::machine::Perm {
                user: false,
                writable: true,
                exec: true,
            },
            phys: None,
        })
        .expect("free");
    common::page_tables(&mut m);
    // start: inc %eax; mov %al,target+1; target: mov $0,%ecx; add %ecx,%ebx; jmp start
    let target = base + 6;
    let mut code = vec![0x40, 0xa2];
    code.extend(((target + 1) as u32).to_le_bytes());
    code.extend([0xb9, 0, 0, 0, 0, 0x01, 0xcb, 0xeb, 0xf1]);
    m.mem.poke(base, &code);
    m.cpu.rip = base;
    for max in [5, 50, 501, 1000] {
        four_ways(&m, max);
    }
    let mut e = Engine::new(m.clone());
    let stop = e.run_raw(5 * 100);
    assert_eq!(stop.reason.name(), "limit", "{stop:?}");
    assert_eq!(e.machine().cpu.gpr[3], (1..=100).sum::<u64>());
}

/// An instruction cached while running at CPL 0 on a supervisor page is not fetched
/// from there at CPL 3 (after SYSEXIT): the user-mode fetch faults.
#[test]
fn a_cached_supervisor_instruction_is_not_fetched_at_cpl3() {
    // at: nop; mov $at,%edx; sysexit
    let at = common::KERNEL_CODE;
    let mut code = String::from("90 ba");
    for b in (at as u32).to_le_bytes() {
        code.push_str(&format!(" {b:02x}"));
    }
    code.push_str(" 0f 35");
    let mut m = common::with_code(common::kernel32(), &code);
    m.cpu.gpr[1] = common::USER_STACK_TOP;
    let stop = four_ways(&m, 100);
    assert_eq!(stop.ip, at);
    match stop.reason {
        StopReason::Fault(x) => assert_eq!((x.vector, x.error_code), (14, Some(0b10101))),
        other => panic!("expected #PF, got {other:?}"),
    }
}
