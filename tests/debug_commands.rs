//! The debugger's commands on shipped lesson code and small hand-made machines:
//! breakpoints (address, symbol, conditional), watchpoints (memory, register, MSR),
//! until cpl / until fault, next over a call, reverse-continue, goto, set reg and
//! stepping back past it, parse errors and completion.

use ringstep::debug::points::{Watch, WatchValue};
use ringstep::debug::{complete, DebugError, Debugger, Output, Why};
use ringstep::engine::{Engine, StopReason};
use ringstep::lesson;
use ringstep::machine::msr;

mod common;

fn scene(id: &str, n: usize) -> Engine {
    let l = match lesson::load_shipped(id) {
        Some(Ok(l)) => l,
        other => panic!("lesson {id}: {:?}", other.map(|r| r.err())),
    };
    lesson::run::engine_for(&l.scenes[n])
}

fn sym(e: &Engine, name: &str) -> u64 {
    e.machine()
        .symbols
        .get(name)
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

fn run(d: &mut Debugger, e: &mut Engine, line: &str) -> Output {
    d.run_line(e, line)
        .unwrap_or_else(|err| panic!("`{line}`: {err}"))
}

fn moved(d: &mut Debugger, e: &mut Engine, line: &str) -> (u64, Why) {
    match run(d, e, line) {
        Output::Moved(a) => (a.to, a.why),
        other => panic!("`{line}`: {other:?}"),
    }
}

/// `loop: inc %eax; add %ebx,%edx; dec %ecx; jnz loop; hlt-free end at +6` at CPL 0.
/// Position 4k is the loop head with EAX = k.
fn counting_loop(iterations: u64) -> (Engine, u64) {
    let mut m = common::with_code(common::kernel32(), "40 01 da 49 75 fa 90 90");
    m.cpu.gpr[1] = iterations;
    m.cpu.gpr[3] = 2;
    let code = m.cpu.rip;
    m.symbols.insert("loop_head", code);
    m.symbols.insert("after_loop", code + 6);
    let mut e = Engine::new(m);
    e.set_stop_at(vec![code + 7]);
    (e, code)
}

#[test]
fn msr_watchpoints_on_the_boot_lessons_wrmsr() {
    let mut e = scene("boot-msrs", 0);
    let mut d = Debugger::new(&e);
    run(&mut d, &mut e, "watch msr 0x174");
    run(&mut d, &mut e, "watch msr IA32_SYSENTER_EIP");
    let (pos, why) = moved(&mut d, &mut e, "continue");
    match why {
        Why::Watch(h) => {
            assert_eq!(h.id, 1);
            assert_eq!(h.watch, Watch::Msr(msr::SYSENTER_CS));
            assert_eq!(h.value, WatchValue::Value { old: 0, new: 0x60 });
            assert_eq!(h.step as u64 + 1, pos);
        }
        other => panic!("{other:?}"),
    }
    // Stopped after the WRMSR, at the next instruction.
    assert_eq!(e.machine().cpu.rip, sym(&e, "load_esp_msr"));
    let first = pos;
    let (_, why) = moved(&mut d, &mut e, "c");
    let entry = sym(&e, "sysenter_entry");
    match why {
        Why::Watch(h) => {
            assert_eq!(h.id, 2);
            assert_eq!(h.value, WatchValue::Value { old: 0, new: entry });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.machine().cpu.rip, sym(&e, "sep_done"));
    // Back to the first hit, then to the start.
    let (pos, why) = moved(&mut d, &mut e, "reverse-continue");
    assert_eq!(pos, first);
    assert!(matches!(why, Why::Watch(h) if h.id == 1));
    assert_eq!(e.machine().cpu.read_msr(msr::SYSENTER_CS), Some(0x60));
    let (pos, why) = moved(&mut d, &mut e, "rc");
    assert_eq!((pos, why), (0, Why::StartOfHistory));
    // The scene's end: continue stops at sep_done.
    run(&mut d, &mut e, "delete");
    let (_, why) = moved(&mut d, &mut e, "continue");
    assert!(matches!(why, Why::Stopped(s) if s.reason == StopReason::End));
}

#[test]
fn memory_watchpoint_and_symbol_breakpoints() {
    let mut e = scene("boot-msrs", 0);
    let mut d = Debugger::new(&e);
    // tss->ss1 = __KERNEL_CS: a 16-bit store at init_tss+0x10.
    run(&mut d, &mut e, "watch mem init_tss+0x10,2");
    let (_, why) = moved(&mut d, &mut e, "continue");
    let tss = sym(&e, "init_tss");
    match why {
        Why::Watch(h) => assert_eq!(
            h.value,
            WatchValue::Bytes {
                addr: tss + 0x10,
                // Only the byte that changed: the high byte of 0x0060 stays 0.
                old: vec![Some(0)],
                new: vec![Some(0x60)]
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.machine().cpu.rip, sym(&e, "set_esp1"));
    run(&mut d, &mut e, "delete 1");
    assert!(matches!(
        d.run_line(&mut e, "delete 1"),
        Err(DebugError::Refused(_))
    ));
    run(&mut d, &mut e, "break wrmsr_esp");
    // load_eip_msr+10 is the `xorl %edx,%edx` after two 5-byte `movl $imm32`.
    run(&mut d, &mut e, "break load_eip_msr+10");
    let (_, why) = moved(&mut d, &mut e, "continue");
    assert_eq!(why, Why::Breakpoint(2));
    assert_eq!(e.machine().cpu.rip, sym(&e, "wrmsr_esp"));
    let (_, why) = moved(&mut d, &mut e, "continue");
    assert_eq!(why, Why::Breakpoint(3));
    assert_eq!(e.machine().cpu.rip, sym(&e, "load_eip_msr") + 10);
    assert_eq!(e.machine().cpu.gpr[0], sym(&e, "sysenter_entry"));
    match run(&mut d, &mut e, "info break") {
        Output::Points(p) => assert_eq!(p.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn conditional_breakpoints_and_register_watch() {
    let (mut e, code) = counting_loop(10);
    let mut d = Debugger::new(&e);
    run(&mut d, &mut e, "break loop_head if eax == 5");
    let (pos, why) = moved(&mut d, &mut e, "continue");
    assert_eq!((pos, why), (20, Why::Breakpoint(1)));
    assert_eq!(e.machine().cpu.gpr[0], 5);
    run(&mut d, &mut e, "delete 1");
    run(&mut d, &mut e, &format!("break {code:#x} if ecx < 3"));
    let (pos, _) = moved(&mut d, &mut e, "c");
    assert_eq!(pos, 32);
    assert_eq!(e.machine().cpu.gpr[1], 2);
    // A register watch stops after the step that changes it; a write of the same
    // value would not.
    run(&mut d, &mut e, "delete");
    run(&mut d, &mut e, "watch edx");
    let (pos, why) = moved(&mut d, &mut e, "c");
    assert_eq!(pos, 34);
    assert!(matches!(why, Why::Watch(h) if h.value == WatchValue::Value { old: 16, new: 18 }));
    // A byte register: CL changes on every `dec %ecx`.
    run(&mut d, &mut e, "delete 3");
    run(&mut d, &mut e, "watch cl");
    let (pos, why) = moved(&mut d, &mut e, "c");
    assert_eq!(pos, 35);
    assert!(matches!(why, Why::Watch(h) if h.value == WatchValue::Value { old: 2, new: 1 }));
    run(&mut d, &mut e, "delete");
    let (_, why) = moved(&mut d, &mut e, "continue");
    assert!(matches!(why, Why::Stopped(_)), "{why:?}");
    assert_eq!(e.machine().cpu.rip, code + 7);
}

#[test]
fn until_cpl_next_over_a_call_and_timeline_on_the_sysenter_lesson() {
    let mut e = scene("sysenter", 0);
    let mut d = Debugger::new(&e);
    assert_eq!(e.machine().cpu.cpl(), 3);
    let (_, why) = moved(&mut d, &mut e, "until cpl");
    assert_eq!(why, Why::CplChanged { from: 3, to: 0 });
    assert_eq!(e.machine().cpu.rip, sym(&e, "sysenter_entry"));
    let into_kernel = d.position(&e);
    let (_, why) = moved(&mut d, &mut e, "until cpl");
    assert_eq!(why, Why::CplChanged { from: 0, to: 3 });
    match run(&mut d, &mut e, "info timeline") {
        Output::Timeline(t) => {
            let cpl: Vec<(usize, u8, u8)> = t
                .iter()
                .filter_map(|m| match m.mark {
                    ringstep::debug::timeline::Mark::Cpl { from, to } => Some((m.step, from, to)),
                    _ => None,
                })
                .collect();
            assert_eq!(cpl.len(), 2, "{t:?}");
            assert_eq!(
                (cpl[0].0 as u64 + 1, cpl[0].1, cpl[0].2),
                (into_kernel, 3, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    // `next` over `call *%gs:0x10`: the whole system call runs, back at user_return.
    moved(&mut d, &mut e, "goto 0");
    assert_eq!(e.machine().cpu.rip, sym(&e, "_start"));
    moved(&mut d, &mut e, "step");
    let (pos, why) = moved(&mut d, &mut e, "next");
    assert_eq!(why, Why::Done);
    assert!(pos > 10, "the call ran {pos} steps");
    assert_eq!(e.machine().cpu.rip, sym(&e, "user_return"));
    assert_eq!(
        e.machine().cpu.gpr[0] & 0xffff_ffff,
        1234,
        "getpid() returned the PID"
    );
    // `next` on an ordinary instruction is one step.
    let mut e2 = scene("sysenter", 0);
    let (pos, _) = moved(&mut d, &mut e2, "next");
    assert_eq!(pos, 1);
}

#[test]
fn until_fault_stops_at_a_fault_without_handler_and_at_a_delivered_one() {
    let mut e = scene("faults", 0);
    let mut d = Debugger::new(&e);
    let (_, why) = moved(&mut d, &mut e, "until fault");
    match why {
        Why::Stopped(s) => match s.reason {
            StopReason::Fault(x) => assert_eq!(x.vector, 13),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // ud2 in user mode with a #UD handler at KERNEL_CODE: delivered, CPL 0.
    let mut m = common::machine32();
    common::set_gate32(&mut m, 6, common::KERNEL_CODE, common::KERNEL_CS, false, 0);
    let m = common::with_code(m, "90 0f 0b");
    let mut e = Engine::new(m);
    let mut d = Debugger::new(&e);
    let (pos, why) = moved(&mut d, &mut e, "until fault");
    assert_eq!(pos, 2);
    assert!(
        matches!(
            why,
            Why::Exception {
                vector: 6,
                error_code: None,
                ..
            }
        ),
        "{why:?}"
    );
    assert_eq!(e.machine().cpu.rip, common::KERNEL_CODE);
    assert_eq!(e.machine().cpu.cpl(), 0);
    match run(&mut d, &mut e, "info timeline") {
        Output::Timeline(t) => assert_eq!(t.len(), 2, "{t:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn goto_set_reg_and_reverse_past_the_edit() {
    let (mut e, _) = counting_loop(100);
    let mut d = Debugger::new(&e);
    moved(&mut d, &mut e, "goto 21");
    assert_eq!(e.machine().cpu.gpr[0], 6);
    match run(&mut d, &mut e, "set reg eax 0x100") {
        Output::RegSet { old, new, at, .. } => assert_eq!((old, new, at), (6, 0x100, 21)),
        other => panic!("{other:?}"),
    }
    moved(&mut d, &mut e, "step 4");
    assert_eq!(e.machine().cpu.gpr[0], 0x101);
    // Back past the edit: the value from before it.
    moved(&mut d, &mut e, "reverse-step 6");
    assert_eq!(d.position(&e), 19);
    assert_eq!(e.machine().cpu.gpr[0], 5);
    // Forward again through the edit: it is applied again.
    moved(&mut d, &mut e, "goto 25");
    assert_eq!(e.machine().cpu.gpr[0], 0x101);
    moved(&mut d, &mut e, "goto 21");
    assert_eq!(e.machine().cpu.gpr[0], 0x100);
    // The step's own changes and the edit are reported apart.
    let v = e.step_view(20).expect("step 20 is recorded");
    assert_eq!(v.edit.len(), 1);
    // A new edit earlier drops the later one.
    moved(&mut d, &mut e, "goto 10");
    run(&mut d, &mut e, "set reg ebx 7");
    assert_eq!(d.edits().keys().copied().collect::<Vec<_>>(), vec![10]);
    moved(&mut d, &mut e, "goto 21");
    assert_eq!(e.machine().cpu.gpr[0], 6);
    assert_eq!(e.machine().cpu.gpr[3], 7);
    // Registers that cannot be set are refused with the reason.
    let err = d.run_line(&mut e, "set reg eip 0").unwrap_err();
    assert!(err.to_string().contains("instruction pointer"), "{err}");
    let err = d.run_line(&mut e, "set reg al 0x100").unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn reverse_continue_to_breakpoints() {
    let (mut e, code) = counting_loop(100);
    let mut d = Debugger::new(&e);
    moved(&mut d, &mut e, "goto 30");
    run(&mut d, &mut e, &format!("break {code:#x}"));
    assert_eq!(moved(&mut d, &mut e, "rc"), (28, Why::Breakpoint(1)));
    assert_eq!(moved(&mut d, &mut e, "rc"), (24, Why::Breakpoint(1)));
    run(&mut d, &mut e, "delete");
    run(&mut d, &mut e, "break loop_head if eax == 2");
    assert_eq!(
        moved(&mut d, &mut e, "reverse-continue"),
        (8, Why::Breakpoint(2))
    );
    assert_eq!(
        moved(&mut d, &mut e, "reverse-continue"),
        (0, Why::StartOfHistory)
    );
}

#[test]
fn without_recording_plain_breakpoints_take_the_fast_path() {
    let (mut e, code) = counting_loop(1000);
    let mut d = Debugger::new(&e);
    d.set_recording(false);
    run(&mut d, &mut e, "break after_loop");
    let (pos, why) = moved(&mut d, &mut e, "continue");
    assert_eq!((pos, why), (4000, Why::Breakpoint(1)));
    assert_eq!(e.machine().cpu.rip, code + 6);
    assert_eq!(e.history_len(), 0);
    assert!(matches!(
        d.run_line(&mut e, "rc"),
        Err(DebugError::Refused(_))
    ));
    // A watch falls back to checking each step, still without history.
    let (mut e, _) = counting_loop(1000);
    let mut d = Debugger::new(&e);
    d.set_recording(false);
    run(&mut d, &mut e, "break loop_head if eax == 700");
    run(&mut d, &mut e, "watch mem 0x1000");
    let (pos, why) = moved(&mut d, &mut e, "continue");
    assert_eq!((pos, why), (2800, Why::Breakpoint(1)));
    assert!(e.history_len() <= 1);
}

#[test]
fn parse_errors_and_completion_against_lesson_symbols() {
    let mut e = scene("sysenter", 0);
    let mut d = Debugger::new(&e);
    let err = d.run_line(&mut e, "watch eaz").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 7: unknown register `eaz` (did you mean `eax`?)"
    );
    let err = d.run_line(&mut e, "break sysenter_entyr").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 7: unknown symbol or register `sysenter_entyr` (did you mean `sysenter_entry`?)"
    );
    let err = d.run_line(&mut e, "x/16x sysenter_entry+").unwrap_err();
    assert!(err.to_string().starts_with("column 22:"), "{err}");
    let syms = &e.machine().symbols;
    assert!(complete("break sysenter_e", syms, false).contains(&"break sysenter_entry".to_string()));
    assert_eq!(complete("until f", syms, false), vec!["until fault"]);
    match run(&mut d, &mut e, "x/8x sysenter_entry") {
        Output::Dump(dump) => {
            assert_eq!(dump.addr, sym(&e, "sysenter_entry"));
            assert_eq!(dump.lines[0].bytes.len(), 8);
        }
        other => panic!("{other:?}"),
    }
    match run(&mut d, &mut e, "x/2w esp") {
        Output::Dump(dump) => assert_eq!(dump.addr, e.machine().cpu.gpr[4]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn numbers_too_large_for_64_bits_are_called_too_large_with_their_column() {
    let mut e = scene("sysenter", 0);
    let mut d = Debugger::new(&e);
    let big = "999999999999999999999";
    let too_large = |col: usize, text: &str| {
        format!("column {col}: `{text}` is too large (at most 0xffffffffffffffff, 64 bits)")
    };
    for (line, col) in [
        (format!("goto {big}"), 6),
        (format!("step {big}"), 6),
        (format!("reverse-step {big}"), 14),
        (format!("break {big}"), 7),
        (format!("break sysenter_entry + {big}"), 24),
        (format!("break sysenter_entry if eax == {big}"), 32),
        (format!("set reg eax {big}"), 13),
        (format!("x/4w {big}"), 6),
        (format!("watch mem 0x1000,{big}"), 18),
        (format!("delete {big}"), 8),
    ] {
        let err = d.run_line(&mut e, &line).unwrap_err();
        assert_eq!(err.to_string(), too_large(col, big), "`{line}`");
    }
    let hex = "0x1_0000_0000_0000_0000";
    let err = d.run_line(&mut e, &format!("goto {hex}")).unwrap_err();
    assert_eq!(err.to_string(), too_large(6, hex));
    // The largest number is still one, and a bad digit is still not a number.
    run(&mut d, &mut e, "break 0xffff_ffff_ffff_ffff");
    let err = d.run_line(&mut e, "goto 12z").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 6: `12z` is not a number (write hex as 0x1f, or decimal)"
    );
    let err = d.run_line(&mut e, &format!("x/{big} esp")).unwrap_err();
    assert!(err.to_string().starts_with("column 3: count"), "{err}");
}

/// `set reg` completion offers exactly the registers `set reg` accepts on the machine.
fn set_reg_completion_matches_what_is_accepted(id: &str, long: bool) {
    let mut e = scene(id, 0);
    assert_eq!(e.machine().cpu.long_mode_active(), long, "{id}");
    let mut d = Debugger::new(&e);
    let offered = complete("set reg ", &e.machine().symbols.clone(), long);
    for name in ringstep::debug::regs::names() {
        let line = format!("set reg {name}");
        let accepted = d.run_line(&mut e, &format!("{line} 0")).is_ok();
        assert_eq!(
            offered.contains(&line),
            accepted,
            "{id}: `{name}` offered {} but accepted {accepted}",
            offered.contains(&line)
        );
    }
}

#[test]
fn set_reg_completes_exactly_the_registers_it_accepts() {
    set_reg_completion_matches_what_is_accepted("sysenter", false);
    set_reg_completion_matches_what_is_accepted("syscall64", true);
    let e = scene("sysenter", 0);
    let syms = &e.machine().symbols;
    assert_eq!(
        complete("set reg e", syms, false),
        ["eax", "ebp", "ebx", "ecx", "edi", "edx", "eflags", "esi", "esp"]
            .map(|r| format!("set reg {r}"))
    );
    assert_eq!(
        complete("set reg s", syms, false),
        ["si", "sp"].map(|r| format!("set reg {r}"))
    );
    assert_eq!(
        complete("set reg s", syms, true),
        ["si", "sil", "sp", "spl"].map(|r| format!("set reg {r}"))
    );
    let mut e = scene("sysenter", 0);
    let mut d = Debugger::new(&e);
    let err = d.run_line(&mut e, "set reg sil 1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`sil` exists only in 64-bit mode; this machine runs 32-bit code"
    );
}

#[test]
fn a_breakpoint_reached_by_the_last_step_the_limit_allows_is_a_hit() {
    // The breakpoint is 4000 steps ahead; the limit is exactly 4000. Each step checked
    // (a watch as well) and the fast path between breakpoint addresses must agree.
    for (recording, watch) in [(false, false), (true, false), (false, true), (true, true)] {
        let (mut e, code) = counting_loop(1000);
        let mut d = Debugger::new(&e);
        d.set_recording(recording);
        d.set_defer_after(0);
        d.set_limit(4000);
        run(&mut d, &mut e, "break after_loop");
        if watch {
            run(&mut d, &mut e, "watch mem 0x1000");
        }
        let (pos, why) = moved(&mut d, &mut e, "continue");
        let case = format!("recording {recording}, watch {watch}");
        assert_eq!((pos, why), (4000, Why::Breakpoint(1)), "{case}");
        assert_eq!(e.machine().cpu.rip, code + 6, "{case}");
    }
}

/// `walk` prints the page-table walk of RIP (or a typed address) level by level, the
/// page it maps, and the ranges of the current address space; `pt` is its short form.
#[test]
fn walk_shows_the_page_table_walk_and_the_mapped_ranges() {
    let mut e = scene("syscall64", 0);
    let mut d = Debugger::new(&e);
    let text = run(&mut d, &mut e, "walk").to_string();
    println!("{text}");
    assert!(text.contains("4-level paging"), "{text}");
    for level in ["PML4E", "PDPTE", "PDE"] {
        assert!(text.contains(level), "{level}: {text}");
    }
    assert!(text.contains("(RIP)"), "{text}");
    assert!(text.contains("P=1 R/W="), "{text}");
    assert!(text.contains("→ physical 0x"), "{text}");
    assert!(
        text.contains("user half 0x0000000000000000-0x00007fffffffffff"),
        "{text}"
    );
    assert!(
        text.contains("kernel half 0xffff800000000000-0xffffffffffffffff"),
        "{text}"
    );
    // An address nothing maps: the walk stops at a not-present entry.
    let text = run(&mut d, &mut e, "pt 0x0000700000000000").to_string();
    println!("{text}");
    assert!(text.contains("(typed)"), "{text}");
    assert!(
        text.contains("✗ stopped at PML4E: not present (P = 0)"),
        "{text}"
    );
    match run(&mut d, &mut e, "walk rsp") {
        Output::Walk(w) => assert_eq!(w.lin, e.machine().cpu.gpr[4]),
        other => panic!("{other:?}"),
    }
    let err = d.run_line(&mut e, "walk nosuchsymbol").unwrap_err();
    assert!(err.to_string().contains("column 6"), "{err}");
}

/// `x/` reads memory as the CPU sees it through the current CR3: a region the user page
/// tables of the PTI lesson leave out dumps as `??`, not as the bytes the region holds;
/// `walk` completes symbols for its address.
#[test]
fn x_dumps_what_the_current_page_tables_map() {
    let mut e = scene("syscall64", 0);
    let mut d = Debugger::new(&e);
    let m = e.machine().clone();
    let hidden = m
        .mem
        .regions()
        .iter()
        .find(|r| !m.lin_mapped(r.base) && m.mem.region_bytes(r).iter().any(|b| *b != 0))
        .expect("a region with contents the user tables leave out")
        .clone();
    let text = run(&mut d, &mut e, &format!("x/8x {:#x}", hidden.base)).to_string();
    assert!(text.contains("?? ?? ?? ?? ?? ?? ?? ??"), "{text}");
    let text = run(&mut d, &mut e, "x/4x _start").to_string();
    assert!(!text.contains("??"), "{text}");
    let c = complete("walk _sta", &m.symbols, true);
    assert!(c.iter().any(|w| w == "walk _start"), "{c:?}");
}
