//! Reverse stepping is exact: stepping back restores the whole `Machine`, `goto` lands
//! on the same state as stepping forward, and replaying after stepping back repeats the
//! run state for state. Checked on both presets exhaustively and on random short
//! programs with proptest.

mod common;

use proptest::prelude::*;
use ringstep::engine::{Engine, ScheduledInterrupt, StepResult, Stop};
use ringstep::machine::Machine;
use ringstep::scenario;
use ringstep::trace::engine_for;

/// Why two machines differ, or None when they are equal. (Machine's Debug output is
/// megabytes of page frames, so assert_eq! on whole machines is unreadable.)
fn diff(a: &Machine, b: &Machine) -> Option<String> {
    if a == b {
        return None;
    }
    if a.cpu != b.cpu {
        return Some(format!("cpu differs:\n{:#?}\nvs\n{:#?}", a.cpu, b.cpu));
    }
    if a.mem.regions() != b.mem.regions() {
        return Some("memory regions differ".into());
    }
    for r in a.mem.regions() {
        let (x, y) = (a.mem.region_bytes(r), b.mem.region_bytes(r));
        if let Some(i) = x.iter().zip(&y).position(|(p, q)| p != q) {
            return Some(format!(
                "memory differs at {:#x} (region `{}`): {:#04x} vs {:#04x}",
                r.base + i as u64,
                r.name,
                x[i],
                y[i]
            ));
        }
    }
    if a.symbols != b.symbols {
        return Some("symbols differ".into());
    }
    Some("memory outside every region differs".into())
}

#[track_caller]
fn assert_same(a: &Machine, b: &Machine, what: &str) {
    if let Some(d) = diff(a, b) {
        panic!("{what}: {d}");
    }
}

/// Run forward until a stop or `max` steps; the machine after each step (index 0 is
/// the initial machine), and the stop if there was one.
fn record(e: &mut Engine, max: usize) -> (Vec<Machine>, Option<Stop>) {
    let mut states = vec![e.machine().clone()];
    for _ in 0..max {
        match e.step() {
            StepResult::Stepped => states.push(e.machine().clone()),
            StepResult::Stopped(s) => return (states, Some(s)),
        }
    }
    (states, None)
}

// ---------------------------------------------------------------------------
// Presets: every prefix of the run, and goto
// ---------------------------------------------------------------------------

fn preset_engine(name: &str) -> Engine {
    let s = scenario::preset(name).expect("preset loads");
    engine_for(&s)
}

fn preset_run(name: &str) -> (Vec<Machine>, Stop) {
    let mut e = preset_engine(name);
    let (states, stop) = record(&mut e, 10_000);
    (states, stop.expect("the preset run stops by itself"))
}

fn every_prefix_steps_back_to_the_start(name: &str) {
    let (states, stop) = preset_run(name);
    let len = states.len() - 1;
    assert!(len > 10, "{name} runs a while");
    assert_eq!(stop.reason.name(), "end");
    for n in 0..=len {
        let mut e = preset_engine(name);
        for i in 0..n {
            assert_eq!(e.step(), StepResult::Stepped, "{name}: step {i}");
        }
        assert_same(e.machine(), &states[n], &format!("{name}: after {n} steps"));
        for back in (0..n).rev() {
            assert!(e.step_back());
            if back == 0 || back % 7 == 0 {
                assert_same(
                    e.machine(),
                    &states[back],
                    &format!("{name}: {n} steps forward, back to {back}"),
                );
            }
        }
        assert!(!e.step_back(), "no history before the start");
        assert_same(
            e.machine(),
            &states[0],
            &format!("{name}: {n} steps forward and {n} back"),
        );
        assert_eq!(e.history_len(), 0);
    }
    // From the start, the run stops the same way again.
    let mut e = preset_engine(name);
    assert_eq!(e.goto(len + 5), Some(stop.clone()));
    assert_eq!(e.history_len(), len);
    assert_same(
        e.machine(),
        &states[len],
        &format!("{name}: goto past the end"),
    );
}

#[test]
fn i386_every_prefix_steps_back_to_the_start() {
    every_prefix_steps_back_to_the_start("linux-2.6-i386");
}

#[test]
fn x86_64_every_prefix_steps_back_to_the_start() {
    every_prefix_steps_back_to_the_start("linux-x86_64");
}

fn check_gotos(name: &str, states: &[Machine], targets: &[usize]) -> Result<(), TestCaseError> {
    let len = states.len() - 1;
    let mut e = preset_engine(name);
    for &t in targets {
        let k = t % (len + 1);
        prop_assert_eq!(e.goto(k), None, "goto({}) in range does not stop", k);
        prop_assert_eq!(e.history_len(), k);
        // Against a fresh engine stepped k times.
        let mut fresh = preset_engine(name);
        for _ in 0..k {
            prop_assert_eq!(fresh.step(), StepResult::Stepped);
        }
        if let Some(d) = diff(e.machine(), fresh.machine()) {
            return Err(TestCaseError::fail(format!(
                "{name}: goto({k}) vs {k} fresh steps: {d}"
            )));
        }
        if let Some(d) = diff(e.machine(), &states[k]) {
            return Err(TestCaseError::fail(format!(
                "{name}: goto({k}) vs recorded run: {d}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn i386_goto_matches_stepping(targets in prop::collection::vec(0usize..1000, 1..8)) {
        let (states, _) = preset_run("linux-2.6-i386");
        check_gotos("linux-2.6-i386", &states, &targets)?;
    }

    #[test]
    fn x86_64_goto_matches_stepping(targets in prop::collection::vec(0usize..1000, 1..8)) {
        let (states, _) = preset_run("linux-x86_64");
        check_gotos("linux-x86_64", &states, &targets)?;
    }
}

// ---------------------------------------------------------------------------
// Random programs
// ---------------------------------------------------------------------------

/// Registers a program may clobber: eax, ecx, edx, ebx, esi, edi (esp and ebp stay
/// pointers into the user stack).
const SAFE: [u8; 6] = [0, 1, 2, 3, 6, 7];

/// One instruction of a random program.
#[derive(Clone, Debug)]
enum Op {
    /// `op r/m32, r32` register to register: add, or, adc, sbb, and, sub, xor, cmp, test, mov.
    AluRR(u8, u8, u8),
    /// `83 /op ib`: add/or/adc/sbb/and/sub/xor/cmp with a sign-extended imm8.
    AluRI(u8, u8, u8),
    MovImm(u8, u32),
    Push(u8),
    Pop(u8),
    PushImm(u8),
    Inc(u8),
    Dec(u8),
    Neg(u8),
    Not(u8),
    /// `c1 /op ib` (op 4 shl, 5 shr, 7 sar; the engine does not model rol/ror).
    ShiftImm(u8, u8, u8),
    /// `d3 /op`: shift by %cl.
    ShiftCl(u8, u8),
    /// Store / load a dword at disp8(%ebp) on the user stack.
    Store(u8, i8),
    Load(u8, i8),
    StoreByte(u8, i8),
    CmpMem(u8, i8),
    AddMem(u8, i8),
    Lea(u8, i8),
    Xchg(u8, u8),
    Imul(u8, u8),
    /// Jcc over the next instruction.
    Jcc(u8),
    Pushf,
    Popf,
    /// Privileged, faulting or kernel-entering instructions, as raw bytes.
    Raw(&'static [u8]),
}

const RAW: &[&[u8]] = &[
    &[0x0f, 0x30],       // wrmsr: #GP at CPL 3
    &[0x0f, 0x32],       // rdmsr: #GP at CPL 3
    &[0xfa],             // cli: #GP at CPL 3 with IOPL 0
    &[0xfb],             // sti
    &[0xf4],             // hlt: #GP at CPL 3
    &[0x0f, 0x0b],       // ud2
    &[0xcd, 0x80],       // int $0x80
    &[0xcd, 0x03],       // int $3 through an empty gate
    &[0xf7, 0xf1],       // div %ecx: #DE when ecx is 0
    &[0x0f, 0x34],       // sysenter
    &[0x0f, 0x01, 0xf8], // swapgs: #UD outside 64-bit mode
    &[0x8e, 0xd8],       // mov %eax,%ds: a selector load that may fault
    &[0x90],             // nop
];

fn reg() -> impl Strategy<Value = u8> {
    prop::sample::select(SAFE.to_vec())
}

fn disp() -> impl Strategy<Value = i8> {
    (-16i8..16).prop_map(|d| d * 4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            prop::sample::select(vec![
                0x01u8, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89
            ]),
            reg(),
            reg()
        )
            .prop_map(|(o, s, d)| Op::AluRR(o, s, d)),
        (0u8..8, reg(), any::<u8>()).prop_map(|(o, r, i)| Op::AluRI(o, r, i)),
        (
            reg(),
            prop_oneof![
                Just(0u32),
                Just(1),
                Just(0xffff_ffff),
                Just(0x8000_0000),
                any::<u32>()
            ]
        )
            .prop_map(|(r, v)| Op::MovImm(r, v)),
        (0u8..8).prop_map(Op::Push),
        reg().prop_map(Op::Pop),
        any::<u8>().prop_map(Op::PushImm),
        reg().prop_map(Op::Inc),
        reg().prop_map(Op::Dec),
        reg().prop_map(Op::Neg),
        reg().prop_map(Op::Not),
        (prop::sample::select(vec![4u8, 5, 7]), reg(), 0u8..40)
            .prop_map(|(o, r, n)| Op::ShiftImm(o, r, n)),
        (prop::sample::select(vec![4u8, 5, 7]), reg()).prop_map(|(o, r)| Op::ShiftCl(o, r)),
        (reg(), disp()).prop_map(|(r, d)| Op::Store(r, d)),
        (reg(), disp()).prop_map(|(r, d)| Op::Load(r, d)),
        (reg(), disp()).prop_map(|(r, d)| Op::StoreByte(r, d)),
        (reg(), disp()).prop_map(|(r, d)| Op::CmpMem(r, d)),
        (reg(), disp()).prop_map(|(r, d)| Op::AddMem(r, d)),
        (reg(), disp()).prop_map(|(r, d)| Op::Lea(r, d)),
        (reg(), reg()).prop_map(|(a, b)| Op::Xchg(a, b)),
        (reg(), reg()).prop_map(|(a, b)| Op::Imul(a, b)),
        (0u8..16).prop_map(Op::Jcc),
        Just(Op::Pushf),
        Just(Op::Popf),
        prop::sample::select(RAW.to_vec()).prop_map(Op::Raw),
    ]
}

fn modrm(mode: u8, reg: u8, rm: u8) -> u8 {
    (mode << 6) | ((reg & 7) << 3) | (rm & 7)
}

/// Encode everything but the Jcc displacement (filled in by `assemble`).
fn encode(op: &Op) -> Vec<u8> {
    let ebp = |o: u8, r: u8, d: i8| vec![o, modrm(1, r, 5), d as u8];
    match *op {
        Op::AluRR(o, s, d) => vec![o, modrm(3, s, d)],
        Op::AluRI(o, r, i) => vec![0x83, modrm(3, o, r), i],
        Op::MovImm(r, v) => {
            let mut b = vec![0xb8 + r];
            b.extend(v.to_le_bytes());
            b
        }
        Op::Push(r) => vec![0x50 + r],
        Op::Pop(r) => vec![0x58 + r],
        Op::PushImm(i) => vec![0x6a, i],
        Op::Inc(r) => vec![0x40 + r],
        Op::Dec(r) => vec![0x48 + r],
        Op::Neg(r) => vec![0xf7, modrm(3, 3, r)],
        Op::Not(r) => vec![0xf7, modrm(3, 2, r)],
        Op::ShiftImm(o, r, n) => vec![0xc1, modrm(3, o, r), n],
        Op::ShiftCl(o, r) => vec![0xd3, modrm(3, o, r)],
        Op::Store(r, d) => ebp(0x89, r, d),
        Op::Load(r, d) => ebp(0x8b, r, d),
        Op::StoreByte(r, d) => ebp(0x88, r, d),
        Op::CmpMem(r, d) => ebp(0x39, r, d),
        Op::AddMem(r, d) => ebp(0x01, r, d),
        Op::Lea(r, d) => ebp(0x8d, r, d),
        Op::Xchg(a, b) => vec![0x87, modrm(3, a, b)],
        Op::Imul(a, b) => vec![0x0f, 0xaf, modrm(3, a, b)],
        Op::Jcc(cc) => vec![0x70 + cc, 0],
        Op::Pushf => vec![0x9c],
        Op::Popf => vec![0x9d],
        Op::Raw(b) => b.to_vec(),
    }
}

/// `mov %esp,%ebp`, the program, then `ud2` so every run ends in a stop. A Jcc jumps
/// over the instruction after it.
fn assemble(ops: &[Op]) -> Vec<u8> {
    let parts: Vec<Vec<u8>> = ops.iter().map(encode).collect();
    let mut code = vec![0x89, 0xe5];
    for (i, p) in parts.iter().enumerate() {
        let mut p = p.clone();
        if matches!(ops[i], Op::Jcc(_)) {
            p[1] = parts.get(i + 1).map_or(0, |n| n.len() as u8);
        }
        code.extend(p);
    }
    code.extend([0x0f, 0x0b]);
    code
}

/// Where a random program runs.
#[derive(Clone, Copy, Debug)]
enum Host {
    /// tests/common's machine32 (empty IDT: any exception stops the run).
    Machine32,
    /// The linux-2.6-i386 preset's user text: int $0x80, sysenter and a scheduled
    /// timer interrupt really enter its kernel and come back.
    Preset,
}

fn engine_with(host: Host, code: &[u8], irq: Option<u64>) -> Engine {
    let mut m = match host {
        Host::Machine32 => {
            let mut m = common::machine32();
            // Room above and below the stack pointer for disp8(%ebp) and pops.
            m.cpu.gpr[4] = common::USER_STACK_TOP - 0x800;
            m
        }
        Host::Preset => {
            scenario::preset("linux-2.6-i386")
                .expect("preset loads")
                .machine
        }
    };
    let at = m.cpu.rip;
    m.mem.poke(at, code);
    let mut e = Engine::new(m);
    if let (Host::Preset, Some(before_step)) = (host, irq) {
        e.set_schedule(vec![ScheduledInterrupt {
            before_step,
            vector: 0x20,
        }]);
    }
    e
}

fn check_program(
    host: Host,
    ops: &[Op],
    irq: Option<u64>,
    max: usize,
) -> Result<(), TestCaseError> {
    let code = assemble(ops);
    let mut e = engine_with(host, &code, irq);
    let (states, stop) = record(&mut e, max);
    let len = states.len() - 1;
    prop_assert_eq!(e.history_len(), len);

    // Back one step at a time: every intermediate machine comes back.
    for i in (0..len).rev() {
        prop_assert!(e.step_back());
        if let Some(d) = diff(e.machine(), &states[i]) {
            return Err(TestCaseError::fail(format!(
                "{host:?}: stepping back to {i} of {len}: {d}\ncode: {code:02x?}"
            )));
        }
    }
    prop_assert!(!e.step_back());

    // Forward again: the same states, and the same stop.
    for (i, want) in states.iter().enumerate().skip(1) {
        prop_assert_eq!(e.step(), StepResult::Stepped, "replay step {}", i - 1);
        if let Some(d) = diff(e.machine(), want) {
            return Err(TestCaseError::fail(format!(
                "{host:?}: replaying step {} of {len}: {d}\ncode: {code:02x?}",
                i - 1
            )));
        }
    }
    if let Some(s) = &stop {
        prop_assert_eq!(&e.step(), &StepResult::Stopped(s.clone()));
        // A stop leaves the machine as it was.
        if let Some(d) = diff(e.machine(), &states[len]) {
            return Err(TestCaseError::fail(format!(
                "{host:?}: a stop changed the machine: {d}"
            )));
        }
    }

    // Back to the middle and forward again through goto.
    let mid = len / 2;
    prop_assert_eq!(e.goto(mid), None);
    if let Some(d) = diff(e.machine(), &states[mid]) {
        return Err(TestCaseError::fail(format!("{host:?}: goto({mid}): {d}")));
    }
    prop_assert_eq!(e.goto(len), None);
    if let Some(d) = diff(e.machine(), &states[len]) {
        return Err(TestCaseError::fail(format!("{host:?}: goto({len}): {d}")));
    }
    prop_assert_eq!(e.goto(0), None);
    if let Some(d) = diff(e.machine(), &states[0]) {
        return Err(TestCaseError::fail(format!(
            "{host:?}: goto(0): {d}\ncode: {code:02x?}"
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_on_machine32_reverse_exactly(
        ops in prop::collection::vec(op(), 1..24),
    ) {
        check_program(Host::Machine32, &ops, None, 64)?;
    }

    #[test]
    fn random_programs_in_the_i386_preset_reverse_exactly(
        ops in prop::collection::vec(op(), 1..24),
        irq in prop::option::of(0u64..30),
    ) {
        check_program(Host::Preset, &ops, irq, 200)?;
    }
}
