//! The debugger on a booted kernel (issue 14): tests/fixtures/boot/busy.S, which loads
//! its own GDT, IDT and TSS, turns on paging, works through a buffer, drops to ring 3
//! with `iret` and makes a system call with `int $0x80`. Breakpoints by the ELF's
//! symbols, watchpoints, `until cpl`, reverse stepping (also into the middle of a run
//! longer than the engine records at once), the page-table walk and the timeline, each
//! checked against a plain engine run of the same kernel.

use std::path::PathBuf;

use ringstep::debug::{Debugger, Output, Why};
use ringstep::engine::{Engine, StopReason, RECORD_CHUNK};
use ringstep::scenario::Scenario;

/// busy.S with `passes` passes over a buffer of `words` words, assembled and booted.
fn busy(name: &str, passes: u32, words: u32) -> Scenario {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/boot/busy.S"
    ))
    .expect("the fixture is readable");
    let src = src
        .replace(".set PASSES, 5", &format!(".set PASSES, {passes}"))
        .replace(
            ".set BUFFER_WORDS, 0x40000",
            &format!(".set BUFFER_WORDS, {words:#x}"),
        );
    let elf = ringstep::load::elfout::assemble_elf(&src, "busy.S", None, None, &[])
        .expect("busy.S assembles");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("busy-{name}-{}.elf", std::process::id()));
    std::fs::write(&path, &elf.file).expect("the ELF is written");
    let setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(path.clone()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    let loaded = ringstep::load::load(&setup).expect("busy.elf boots");
    let _ = std::fs::remove_file(&path);
    loaded.lesson.scenes.into_iter().next().unwrap().scenario
}

fn engine(s: &Scenario) -> Engine {
    let mut e = ringstep::trace::engine_for(s);
    e.set_check_writes(false);
    e
}

/// The machine after `n` steps of a plain, unrecorded run.
fn reference(s: &Scenario, n: u64) -> ringstep::machine::Machine {
    let mut e = engine(s);
    let stop = e.run_raw(n);
    assert_eq!(stop.reason, StopReason::Limit);
    e.machine().clone()
}

fn run(d: &mut Debugger, e: &mut Engine, line: &str) -> Output {
    d.run_line(e, line)
        .unwrap_or_else(|err| panic!("`{line}`: {err}"))
}

fn moved(o: Output) -> ringstep::debug::Arrival {
    match o {
        Output::Moved(a) => a,
        o => panic!("not a movement: {o}"),
    }
}

#[test]
fn breakpoints_by_symbol_until_cpl_watchpoints_and_reverse_steps_on_a_booted_kernel() {
    let s = busy("small", 1, 0x400);
    let mut e = engine(&s);
    let mut d = Debugger::new(&e);
    // The ELF's symbols name breakpoints.
    run(&mut d, &mut e, "break to_user");
    let a = moved(run(&mut d, &mut e, "continue"));
    assert_eq!(a.why, Why::Breakpoint(1));
    assert_eq!(Some(a.ip), s.machine.symbols.get("to_user"));
    let at_to_user = a.to;
    // Into ring 3 by iret, then back into ring 0 by int $0x80.
    let a = moved(run(&mut d, &mut e, "until cpl"));
    assert_eq!(a.why, Why::CplChanged { from: 0, to: 3 });
    assert_eq!(Some(a.ip), s.machine.symbols.get("user_main"));
    let a = moved(run(&mut d, &mut e, "until cpl"));
    assert_eq!(a.why, Why::CplChanged { from: 3, to: 0 });
    assert_eq!(Some(a.ip), s.machine.symbols.get("syscall_entry"));
    assert_eq!(e.machine().cpu.cpl(), 0);
    // The CPU switched to TSS.esp0 (kernel_stack_top) and pushed the 5-word frame.
    let top = s.machine.symbols.get("kernel_stack_top").unwrap();
    assert_eq!(e.machine().cpu.gpr[4] & 0xffff_ffff, top - 20);
    let syscall = a.to;
    assert_eq!(e.machine(), &reference(&s, syscall));
    // Back over the int $0x80: ring 3 again, at the instruction.
    let a = moved(run(&mut d, &mut e, "reverse-step"));
    assert_eq!(e.machine().cpu.cpl(), 3);
    assert_eq!(a.to, syscall - 1);
    // reverse-continue finds the breakpoint on to_user.
    let a = moved(run(&mut d, &mut e, "reverse-continue"));
    assert_eq!((a.to, a.why), (at_to_user, Why::Breakpoint(1)));
    assert_eq!(e.machine(), &reference(&s, at_to_user));
    // A watchpoint on the checksum variable: the store just after to_user.
    run(&mut d, &mut e, "delete");
    run(&mut d, &mut e, "watch mem checksum,4");
    let a = moved(run(&mut d, &mut e, "continue"));
    assert!(matches!(a.why, Why::Watch(_)), "{a}");
    assert_eq!(a.to, at_to_user + 1);
    // The timeline: the two privilege changes and the software interrupt.
    run(&mut d, &mut e, "delete");
    run(&mut d, &mut e, "break syscall_entry");
    moved(run(&mut d, &mut e, "continue"));
    let text = run(&mut d, &mut e, "info timeline").to_string();
    assert!(text.contains("CPL 0 -> 3"), "{text}");
    assert!(text.contains("CPL 3 -> 0"), "{text}");
    assert!(text.contains("interrupt 0x80"), "{text}");
    // The page-table walk of the kernel's own tables (CR3 = its page directory).
    let walk = run(&mut d, &mut e, "walk 0x200000").to_string();
    assert!(walk.contains("0x300000"), "{walk}");
    assert!(walk.contains("0x200000"), "{walk}");
    // Memory: the checksum, 1 pass over 0x400 words.
    let x = run(&mut d, &mut e, "x/1w checksum").to_string();
    assert!(x.contains("0x00000400"), "{x}");
    // To the exit: the handler prints and writes isa-debug-exit.
    run(&mut d, &mut e, "delete");
    let a = moved(run(&mut d, &mut e, "continue"));
    match a.why {
        Why::Stopped(s) => assert_eq!(s.reason, StopReason::Exit(1)),
        w => panic!("{w}"),
    }
    assert_eq!(e.machine().dev.uart.out, b"ok\n");
}

#[test]
fn reverse_steps_into_a_run_longer_than_the_engine_records_at_once() {
    // 1 pass over 0x20000 words: about 1.05M steps, twice RECORD_CHUNK.
    let s = busy("long", 1, 0x20000);
    let mut e = engine(&s);
    let mut d = Debugger::new(&e);
    run(&mut d, &mut e, "break syscall_entry");
    let a = moved(run(&mut d, &mut e, "continue"));
    assert_eq!(a.why, Why::Breakpoint(1));
    let end = a.to;
    assert!(end > 2 * RECORD_CHUNK as u64, "{end}");
    assert!(e.unrecorded_len() > RECORD_CHUNK);
    // One step back records the last RECORD_CHUNK steps only.
    let a = moved(run(&mut d, &mut e, "reverse-step"));
    assert_eq!(a.to, end - 1);
    assert!(
        e.unrecorded_len() > 0,
        "the head of the run stays unrecorded"
    );
    assert_eq!(e.machine(), &reference(&s, end - 1));
    // Far back into the unrecorded head: run again, not recorded.
    let far = 100_000;
    moved(run(&mut d, &mut e, &format!("goto {far}")));
    assert_eq!(e.history_len(), far as usize);
    assert_eq!(e.machine(), &reference(&s, far));
    // Forward again to the same end, and back over a chunk boundary step by step.
    let a = moved(run(&mut d, &mut e, "continue"));
    assert_eq!(a.to, end);
    let boundary = end - RECORD_CHUNK as u64;
    moved(run(&mut d, &mut e, &format!("goto {}", boundary + 1)));
    for n in [boundary, boundary - 1] {
        moved(run(&mut d, &mut e, "reverse-step"));
        assert_eq!(e.history_len() as u64, n);
    }
    assert_eq!(e.machine(), &reference(&s, boundary - 1));
}

#[test]
fn trace_boot_quiet_runs_the_whole_kernel_past_ten_million_instructions() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/boot/busy.S");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let elf = dir.join(format!("busy-quiet-{}.elf", std::process::id()));
    let bin = env!("CARGO_BIN_EXE_ringstep");
    let o = std::process::Command::new(bin)
        .args(["asm", src, "-o", elf.to_str().unwrap()])
        .output()
        .expect("ringstep runs");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // No --max-steps: a booted kernel with --quiet gets the debugger's bound, not the
    // 100,000 steps a recorded run may take.
    let o = std::process::Command::new(bin)
        .args(["trace", "--boot", elf.to_str().unwrap(), "--quiet"])
        .output()
        .expect("ringstep runs");
    let _ = std::fs::remove_file(&elf);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "ok\n");
    assert!(
        out.contains("stop: exit status 121 (isa-debug-exit) after 10490989 steps"),
        "{out}"
    );
}
