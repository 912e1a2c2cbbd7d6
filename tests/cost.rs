//! The engine's count of architectural work (src/engine/cost.rs) on single instructions:
//! each expected number is derived from the SDM's pseudo-code in the comment above it.
//! Then: stepping back takes a step's work off the tally, the fast path costs nothing,
//! and `ringstep cost` prints the table the engine computes.

mod common;

use common::*;
use ringstep::engine::{Cost, Engine};
use ringstep::machine::{Machine, SegReg};

/// Run the one instruction at RIP and return its cost (and the engine).
fn one(m: Machine) -> (Cost, Engine) {
    let mut e = Engine::new(m);
    step(&mut e);
    let c = e.last_step().expect("a recorded step").cost;
    assert_eq!(e.cost(), c, "the tally of one step is that step's cost");
    (c, e)
}

/// 1 if the descriptor `sel` names has its accessed bit clear (the processor sets it
/// when it loads the descriptor: one system write; SDM Vol. 3A 3.4.5.1).
fn unaccessed(m: &Machine, sel: u16) -> u32 {
    let d = m.gdt_entry(sel).expect("selector in GDT");
    (!d.attr().accessed()) as u32
}

#[test]
fn int_0x80_from_ring_3_through_an_interrupt_gate() {
    let mut m = with_code(machine32(), "cd 80");
    set_gate32(&mut m, 0x80, KERNEL_CODE, KERNEL_CS, false, 3);
    let writes = unaccessed(&m, KERNEL_CS) + unaccessed(&m, KERNEL_DS);
    let (c, _) = one(m);
    // SDM Vol. 2A INT n, PROTECTED-MODE and INTER-PRIVILEGE-LEVEL-INTERRUPT:
    // read gate 0x80 from the IDT (one 8-byte gate);
    assert_eq!(c.gate_reads, 1);
    // IF gate DPL < CPL #GP (1); read the CS descriptor the gate names; IF DPL > CPL
    // #GP (2); DPL < CPL: inter-privilege (3); SS0:ESP0 from the TSS (two fields);
    // read the SS0 descriptor; IF SS.RPL != new CPL (4) or SS.DPL != new CPL (5) #TS.
    assert_eq!(c.privilege_checks, 5);
    assert_eq!(c.tss_reads, 2);
    assert_eq!(c.descriptor_reads, 2);
    // Load SS and CS.
    assert_eq!(c.segment_loads, 2);
    assert_eq!(c.msr_reads, 0);
    // Reads: the gate (8 bytes), ESP0 (4), SS0 (2), two descriptors (8 + 8): all system.
    assert_eq!((c.mem_reads, c.read_bytes), (5, 30));
    assert_eq!(c.system_reads, 5);
    // Writes: push SS, ESP, EFLAGS, CS, EIP (5 x 4 bytes), plus the accessed bit of
    // each descriptor that did not have it yet (1 byte each, system writes).
    assert_eq!(c.system_writes, writes);
    assert_eq!(c.mem_writes, 5 + writes);
    assert_eq!(c.write_bytes, 20 + writes);
}

#[test]
fn sysenter_reads_three_msrs_and_no_table() {
    let (c, _) = one(with_code(machine32(), "0f 34"));
    // SDM Vol. 2B SYSENTER, Operation: CS, EIP and ESP come from IA32_SYSENTER_CS,
    // _EIP and _ESP (3 MSR reads); CS and SS are loaded with fixed flat values
    // (2 segment loads) without any descriptor; no privilege comparison, no memory.
    let expected = Cost {
        msr_reads: 3,
        segment_loads: 2,
        ..Cost::default()
    };
    assert_eq!(c, expected);
}

#[test]
fn sysexit_reads_one_msr_and_checks_the_cpl() {
    let mut m = with_code(kernel32(), "0f 35");
    m.cpu.gpr[1] = USER_STACK_TOP;
    m.cpu.gpr[2] = USER_CODE;
    let (c, _) = one(m);
    // SDM Vol. 2B SYSEXIT: IA32_SYSENTER_CS (1 MSR read) for both selectors; IF CPL
    // != 0 #GP (1 check); CS and SS loaded with fixed values (2 loads); ESP = ECX,
    // EIP = EDX: no memory.
    let expected = Cost {
        msr_reads: 1,
        privilege_checks: 1,
        segment_loads: 2,
        ..Cost::default()
    };
    assert_eq!(c, expected);
}

#[test]
fn syscall_and_sysretq_in_64_bit_mode() {
    let (c, _) = one(with_code(machine64(), "0f 05"));
    // SDM Vol. 2B SYSCALL: RIP from IA32_LSTAR, CS/SS from IA32_STAR, RFLAGS masked
    // with IA32_FMASK (3 MSR reads); no CPL check; CS and SS fixed (2 loads); RCX and
    // R11 take RIP and RFLAGS: no memory.
    let expected = Cost {
        msr_reads: 3,
        segment_loads: 2,
        ..Cost::default()
    };
    assert_eq!(c, expected);
    let mut m = with_code(kernel64(), "48 0f 07");
    m.cpu.gpr[1] = U64_CODE;
    m.cpu.gpr[11] = 0x202;
    let (c, _) = one(m);
    // SYSRETQ: IF CPL != 0 #GP (1 check); selectors from IA32_STAR[63:48] (1 MSR
    // read); CS and SS fixed (2 loads); no memory.
    let expected = Cost {
        msr_reads: 1,
        privilege_checks: 1,
        segment_loads: 2,
        ..Cost::default()
    };
    assert_eq!(c, expected);
}

#[test]
fn iret_to_ring_3_reads_the_frame_and_two_descriptors() {
    let mut m = with_code(kernel32(), "cf");
    let frame = [
        USER_CODE,
        USER_CS as u64,
        0x202,
        USER_STACK_TOP,
        USER_DS as u64,
    ];
    let sp = KERNEL_STACK_TOP - 20;
    for (i, v) in frame.iter().enumerate() {
        m.mem.poke_le(sp + 4 * i as u64, 4, *v);
    }
    m.cpu.gpr[4] = sp;
    // DS and ES hold USER_DS (usable data segments), FS and GS are null.
    let usable = [SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ds]
        .iter()
        .filter(|&&s| !m.cpu.seg(s).attr.unusable())
        .count() as u32;
    assert_eq!(usable, 2);
    let writes = unaccessed(&m, USER_CS) + unaccessed(&m, USER_DS);
    let (c, _) = one(m);
    // SDM Vol. 2A IRET, PROTECTED-MODE-RETURN: pop EIP, CS, EFLAGS (3 reads), read the
    // CS descriptor; IF CS.RPL < CPL #GP (1), IF DPL != RPL #GP (2); RPL > CPL:
    // RETURN-TO-OUTER-PRIVILEGE-LEVEL (3); the EFLAGS update compares CPL with IOPL
    // (4) and with 0 (5); pop ESP, SS (2 reads), read the SS descriptor; IF SS.RPL !=
    // CS.RPL (6), SS.DPL != CS.RPL (7); then for each of ES, FS, GS, DS that is not
    // null: IF DPL < CPL load null (one check each).
    assert_eq!(c.privilege_checks, 7 + usable);
    assert_eq!(c.descriptor_reads, 2);
    assert_eq!(c.segment_loads, 2);
    assert_eq!((c.gate_reads, c.tss_reads, c.msr_reads), (0, 0, 0));
    assert_eq!((c.mem_reads, c.read_bytes), (7, 5 * 4 + 2 * 8));
    assert_eq!(c.system_reads, 2);
    assert_eq!((c.mem_writes, c.system_writes), (writes, writes));
}

#[test]
fn int_0x80_in_ia32e_mode_reads_a_16_byte_gate_and_rsp0() {
    let mut m = with_code(machine64(), "cd 80");
    set_gate64(&mut m, 0x80, K64_CODE, false, 3, 0);
    let writes = unaccessed(&m, K64_CS);
    let (c, _) = one(m);
    // SDM Vol. 3A 6.14: one 16-byte gate (two 8-byte reads), DPL >= CPL (1), the CS
    // descriptor (1 read) with DPL <= CPL (2), new CPL < CPL (3), RSP0 from the TSS
    // (1 field); SS becomes a null selector without a descriptor; five 8-byte pushes.
    assert_eq!(c.gate_reads, 1);
    assert_eq!(c.privilege_checks, 3);
    assert_eq!(
        (c.tss_reads, c.descriptor_reads, c.segment_loads),
        (1, 1, 2)
    );
    assert_eq!((c.mem_reads, c.read_bytes, c.system_reads), (4, 32, 4));
    assert_eq!((c.mem_writes, c.write_bytes), (5 + writes, 40 + writes));
}

#[test]
fn step_back_takes_the_step_off_the_tally() {
    let mut m = with_code(machine32(), "89 c3 cd 80");
    set_gate32(&mut m, 0x80, KERNEL_CODE, KERNEL_CS, false, 3);
    let mut e = Engine::new(m);
    step(&mut e);
    // mov %eax,%ebx runs on the fast path: no memory, no tables, nothing counted.
    assert_eq!(e.cost(), Cost::default());
    step(&mut e);
    let after = e.cost();
    assert_eq!(after.gate_reads, 1);
    assert!(e.step_back());
    assert_eq!(e.cost(), Cost::default());
    step(&mut e);
    assert_eq!(e.cost(), after, "the same step counts the same again");
    e.clear_history();
    assert_eq!(e.cost(), Cost::default());
}

#[test]
fn ringstep_cost_prints_the_engines_table() {
    let out = run_ringstep(&["cost"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let trips = ringstep::lesson::cost::compare().expect("the shipped scenes");
    assert_eq!(
        table,
        ringstep::lesson::cost::table(&trips, ringstep::lesson::Lang::En)
    );
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
            .split('|')
            .skip(1)
            .map(|c| c.split_whitespace().map(|n| n.parse().unwrap()).collect())
            .collect::<Vec<Vec<u32>>>()
    };
    // Entry / exit: int $0x80 reads one gate and two descriptors, sysenter and syscall
    // none; iret reads two descriptors again, sysexit and sysretq none.
    assert_eq!(row("gate_reads")[0][..2], [1, 0]);
    assert_eq!(row("descriptor_reads")[0][..2], [2, 2]);
    assert_eq!(row("descriptor_reads")[1][..2], [0, 0]);
    assert_eq!(row("descriptor_reads")[2][..2], [0, 0]);
    assert_eq!(row("msr_reads")[1][..2], [3, 1]);
    assert_eq!(row("msr_reads")[2][..2], [3, 1]);
    let de = text(&run_ringstep(&["cost", "--lang", "de"]).stdout);
    assert!(de.contains("Deskriptoren gelesen"), "{de}");
    for line in table.lines().chain(de.lines()) {
        assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
    }
}

/// How the cost lesson names each counter in prose, after a number: English and German.
const PHRASES: &[(&str, &str)] = &[
    ("descriptor read", "descriptor_reads"),
    ("segment load", "segment_loads"),
    ("gate read", "gate_reads"),
    ("tss field read", "tss_reads"),
    ("msr read", "msr_reads"),
    ("privilege check", "privilege_checks"),
    ("memory read", "mem_reads"),
    ("memory write", "mem_writes"),
    ("system read", "system_reads"),
    ("system write", "system_writes"),
    ("deskriptor-lesezugriff", "descriptor_reads"),
    ("segmentladevorg", "segment_loads"),
    ("gate-lesezugriff", "gate_reads"),
    ("tss-feld", "tss_reads"),
    ("msr-lesezugriff", "msr_reads"),
    ("privilegprüfung", "privilege_checks"),
    ("speicher-lesezugriff", "mem_reads"),
    ("speicher-schreibzugriff", "mem_writes"),
    ("system-lesezugriff", "system_reads"),
    ("system-schreibzugriff", "system_writes"),
];

/// Every "N <counter phrase>" in a text, as (N, counter).
fn stated_counts(text: &str) -> Vec<(u64, &'static str)> {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = t.to_lowercase();
    let b = lower.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let end = (i..b.len())
            .find(|&j| !b[j].is_ascii_digit())
            .unwrap_or(b.len());
        let rest = lower[end..].trim_start_matches([' ', '*']);
        if let Some(&(_, counter)) = PHRASES.iter().find(|(p, _)| rest.starts_with(p)) {
            out.push((lower[i..end].parse().expect("digits"), counter));
        }
        i = end;
    }
    out
}

/// The cost lesson's prose cannot drift from the engine: every count it states ("2
/// descriptor reads", "2 Deskriptor-Lesezugriffe") is asserted, with that counter and
/// that value, by a checkpoint of the same step or an earlier one, and every checkpoint
/// is the engine's count (the lesson's checks pass).
#[test]
fn the_cost_lesson_states_only_counts_its_checkpoints_prove() {
    let lesson = ringstep::lesson::load_shipped("cost")
        .expect("shipped")
        .expect("loads");
    let report = ringstep::lesson::check::check(&lesson);
    assert!(report.ok(), "the cost lesson's checkpoints fail");
    let mut proven: Vec<(u64, String)> = Vec::new();
    let mut stated = 0;
    for scene in &lesson.scenes {
        for step in &scene.steps {
            for c in &step.checks {
                let ringstep::lesson::Expected::Value(e) = &c.expected else {
                    continue;
                };
                let (Some(v), Some(at)) = (e.constant(), c.what.find("cost.")) else {
                    continue;
                };
                let name: String = c.what[at + 5..]
                    .chars()
                    .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                    .collect();
                proven.push((v, name));
            }
            for text in [&step.text.en, &step.text.de] {
                for (n, counter) in stated_counts(text) {
                    stated += 1;
                    assert!(
                        proven.iter().any(|(v, c)| *v == n && c == counter),
                        "{}: the text states {n} {counter}, which no checkpoint up to this step asserts",
                        step.loc
                    );
                }
            }
        }
    }
    assert!(
        stated >= 40,
        "the scanner found only {stated} stated counts"
    );
}

#[test]
fn stated_counts_reads_numbers_before_counter_names() {
    assert_eq!(
        stated_counts("made 1 gate read, 2 TSS field\n reads and **5** privilege checks"),
        vec![(1, "gate_reads"), (2, "tss_reads"), (5, "privilege_checks")]
    );
    assert_eq!(
        stated_counts("0x80 gate reads, 3 MSR-Lesezugriffe, 12 steps"),
        vec![(3, "msr_reads")]
    );
}

#[test]
fn steps_run_unrecorded_are_not_in_the_tally_and_are_reported() {
    let mut m = with_code(machine32(), "cd 80");
    set_gate32(&mut m, 0x80, KERNEL_CODE, KERNEL_CS, false, 3);
    m.mem.poke(KERNEL_CODE, &hex("f4"));
    let mut e = Engine::new(m);
    e.run_raw(1);
    assert_eq!(e.cost(), Cost::default(), "run_raw records nothing");
    assert_eq!(e.uncounted_steps(), 1);
    step(&mut e);
    assert_eq!(e.cost().gate_reads, 0, "hlt reads no gate");
    assert_eq!(e.uncounted_steps(), 1);
}
