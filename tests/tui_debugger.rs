//! The debugger in the viewer, through the update function: the `:` command line
//! (typing, cursor, history, Tab completion, errors), breakpoints shared between the
//! `b` key and `:break`, continue and reverse-continue, watchpoints, goto, set reg, the
//! memory view following ESP, the GDT/IDT/TSS decoders on the sysenter lesson's machine,
//! the timeline's event jumps, and `:alt` for loaded code.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ringstep::lesson::{self, Lesson};
use ringstep::machine::SegReg;
use ringstep::tui::inspect::{self, GdtKind, Inspector};
use ringstep::tui::{buffer_text, render_buffer, update, Action, Keymap, Model, Msg, Options};

fn shipped(id: &str) -> Lesson {
    lesson::load_shipped(id)
        .expect("a shipped lesson")
        .expect("it loads")
}

fn model_of(id: &str) -> Model {
    let mut m = Model::new(shipped(id), &Options::default(), Keymap::shipped()).expect("a model");
    update(&mut m, Msg::Resize(120, 40));
    m
}

fn model() -> Model {
    model_of("sysenter")
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn ctrl(m: &mut Model, c: char) {
    update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    );
}

fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        key(m, KeyCode::Char(c));
    }
}

/// `:` + text + Enter, as typed.
fn command(m: &mut Model, text: &str) {
    key(m, KeyCode::Char(':'));
    assert!(m.debug.cmdline.is_some(), "`:` opens the command line");
    typed(m, text);
    key(m, KeyCode::Enter);
    assert!(m.debug.cmdline.is_none());
}

fn sym(m: &Model, name: &str) -> u64 {
    m.run
        .played
        .initial
        .symbols
        .get(name)
        .unwrap_or_else(|| panic!("symbol {name}"))
}

fn state_at(m: &Model, name: &str) -> usize {
    let a = sym(m, name);
    m.run
        .states
        .iter()
        .position(|s| s.ip == a)
        .unwrap_or_else(|| panic!("never at {name}"))
}

fn status(m: &Model) -> String {
    m.status.clone().unwrap_or_default()
}

fn screen(m: &Model) -> String {
    buffer_text(&render_buffer(m, m.size.0, m.size.1))
}

#[test]
fn typing_editing_and_cancelling_the_command_line() {
    let mut m = model();
    key(&mut m, KeyCode::Char(':'));
    typed(&mut m, "goto 5");
    // Keys that step or quit outside are text inside the line.
    typed(&mut m, "nq");
    let line = m.debug.cmdline.as_ref().unwrap();
    assert_eq!(line.text, "goto 5nq");
    assert_eq!(m.pos, 0);
    assert!(!m.quit);
    key(&mut m, KeyCode::Backspace);
    key(&mut m, KeyCode::Backspace);
    key(&mut m, KeyCode::Left);
    key(&mut m, KeyCode::Char('1'));
    assert_eq!(m.debug.cmdline.as_ref().unwrap().text, "goto 15");
    assert!(screen(&m).contains(":goto 15"));
    key(&mut m, KeyCode::Esc);
    assert!(m.debug.cmdline.is_none());
    assert_eq!(m.pos, 0, "Esc runs nothing");
    key(&mut m, KeyCode::Char(':'));
    typed(&mut m, "goto 15");
    ctrl(&mut m, 'c');
    assert!(
        m.debug.cmdline.is_none() && !m.quit,
        "ctrl-c cancels the line"
    );
    command(&mut m, "goto 15");
    assert_eq!(m.pos, 15);
    assert!(status(&m).starts_with("position 15 at"), "{}", status(&m));
}

#[test]
fn errors_name_the_column_and_the_line_comes_back_from_history() {
    let mut m = model();
    command(&mut m, "brek sysenter_entry");
    assert!(m.debug.error);
    let s = status(&m);
    assert!(s.starts_with("column 1:"), "{s}");
    assert!(s.contains("break"), "a suggestion: {s}");
    command(&mut m, "break sysenter_entyr");
    assert!(status(&m).contains("column 7"), "{}", status(&m));
    command(&mut m, "goto 9999");
    assert!(status(&m).contains("past the end"), "{}", status(&m));
    assert_eq!(m.pos, 0);
    // Up brings back the newest line first; fix the typo in the first one.
    key(&mut m, KeyCode::Char(':'));
    key(&mut m, KeyCode::Up);
    assert_eq!(m.debug.cmdline.as_ref().unwrap().text, "goto 9999");
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Up);
    assert_eq!(
        m.debug.cmdline.as_ref().unwrap().text,
        "brek sysenter_entry"
    );
    key(&mut m, KeyCode::Home);
    key(&mut m, KeyCode::Right);
    key(&mut m, KeyCode::Right);
    key(&mut m, KeyCode::Char('e'));
    key(&mut m, KeyCode::Delete);
    key(&mut m, KeyCode::Char('a'));
    assert_eq!(
        m.debug.cmdline.as_ref().unwrap().text,
        "break sysenter_entry"
    );
    key(&mut m, KeyCode::Enter);
    assert!(!m.debug.error, "{}", status(&m));
    assert!(m.has_break(sym(&m, "sysenter_entry")));
    assert_eq!(m.debug.history.len(), 4);
    // A key after an error clears it.
    key(&mut m, KeyCode::Char('n'));
    assert!(m.status.is_none() && !m.debug.error);
}

#[test]
fn tab_completes_symbols_and_lists_candidates() {
    let mut m = model();
    key(&mut m, KeyCode::Char(':'));
    typed(&mut m, "bre");
    key(&mut m, KeyCode::Tab);
    assert_eq!(m.debug.cmdline.as_ref().unwrap().text, "break ");
    typed(&mut m, "sysenter_");
    key(&mut m, KeyCode::Tab);
    let line = m.debug.cmdline.as_ref().unwrap();
    assert_eq!(line.text, "break sysenter_");
    assert!(line.candidates.contains(&"sysenter_entry".to_string()));
    assert!(line.candidates.contains(&"sysenter_past_esp".to_string()));
    // The candidates are listed on the timeline row.
    assert!(screen(&m).contains("sysenter_past_esp"));
    typed(&mut m, "e");
    key(&mut m, KeyCode::Tab);
    assert_eq!(
        m.debug.cmdline.as_ref().unwrap().text,
        "break sysenter_entry "
    );
    key(&mut m, KeyCode::Enter);
    assert!(m.has_break(sym(&m, "sysenter_entry")));
}

#[test]
fn break_at_a_symbol_then_continue_reaches_cpl_0_and_reverse_continue_returns() {
    let mut m = model();
    command(&mut m, "break sysenter_entry");
    assert!(status(&m).contains("sysenter_entry"), "{}", status(&m));
    let entry = sym(&m, "sysenter_entry");
    key(&mut m, KeyCode::Char('c'));
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    // The code pane marks the debugger's breakpoint (and the `b` key shares it).
    assert!(screen(&m).contains("●▶c0102000"), "{}", screen(&m));
    assert_eq!(m.snap.cpl, 0);
    assert!(status(&m).contains("breakpoint 1"), "{}", status(&m));
    // On to the end, then back to the hit.
    key(&mut m, KeyCode::Char('c'));
    assert_eq!(m.pos, m.run.last_state());
    key(&mut m, KeyCode::Char('R'));
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    key(&mut m, KeyCode::Char('R'));
    assert_eq!(m.pos, 0, "no hit before: back to the start");
    // `b` on the current line removes the same breakpoint.
    m.goto(state_at(&m, "sysenter_entry"));
    key(&mut m, KeyCode::Char('b'));
    assert!(!m.has_break(entry));
    assert!(m.run.dbg.points().is_empty());
}

#[test]
fn conditional_breaks_watches_until_and_step_over() {
    let mut m = model();
    command(&mut m, "break sysenter_entry if eax == 21");
    key(&mut m, KeyCode::Char('c'));
    assert_eq!(
        m.pos,
        m.run.last_state(),
        "eax is 20: the condition never holds"
    );
    command(&mut m, "delete");
    m.goto(0);
    command(&mut m, "watch esp");
    key(&mut m, KeyCode::Char('c'));
    let p = m.pos;
    assert!(p > 0);
    assert_ne!(m.run.states[p].sp, m.run.states[p - 1].sp);
    assert!(status(&m).contains("watchpoint 2 (esp)"), "{}", status(&m));
    // The list of points.
    key(&mut m, KeyCode::Char('w'));
    assert_eq!(m.debug.inspector, Some(Inspector::Points));
    assert!(screen(&m).contains("watch esp"));
    command(&mut m, "delete 2");
    assert!(!m.debug.error, "{}", status(&m));
    // until cpl: from ring 3 to the first kernel state.
    m.goto(0);
    key(&mut m, KeyCode::Char('u'));
    assert_eq!(m.snap.cpl, 0);
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    // next over `call *%gs:0x10` lands on the instruction after the call.
    let call = state_at(&m, "call_vdso");
    m.goto(call);
    let after = m.snap.ip.value + 7;
    key(&mut m, KeyCode::Char('N'));
    assert_eq!(m.snap.ip.value, after);
    assert!(m.pos > call + 1);
}

#[test]
fn set_reg_replays_the_run_from_the_edit() {
    let mut m = model();
    let s = state_at(&m, "sysenter_entry");
    m.goto(s);
    command(&mut m, "set reg edi 0x1234");
    assert!(!m.debug.error, "{}", status(&m));
    assert_eq!(m.pos, s);
    assert_eq!(m.snap.regs[7].value, 0x1234);
    // Back before the edit: the old value; forward again: the edit is made again.
    key(&mut m, KeyCode::Char('p'));
    assert_eq!(m.snap.regs[7].value, 5);
    key(&mut m, KeyCode::Char('n'));
    assert_eq!(m.snap.regs[7].value, 0x1234);
    // The rest of the run follows from the edited state: SAVE_ALL pushes it.
    let pushed = m.run.steps[s..].iter().any(|r| {
        r.changes
            .iter()
            .any(|c| matches!(c, ringstep::engine::Change::Mem { new, .. } if *new == 0x1234))
    });
    assert!(pushed, "the replayed history saves the edited EDI");
    assert!(m
        .run
        .events
        .iter()
        .any(|e| e.mark == ringstep::debug::timeline::Mark::Edit));
}

#[test]
fn memory_view_follows_esp_and_x_opens_it_at_an_address() {
    let mut m = model();
    key(&mut m, KeyCode::Char('m'));
    assert_eq!(m.debug.inspector, Some(Inspector::Memory));
    assert!(m.debug.follow_sp);
    let rows = m.inspector_rows() as u64;
    for _ in 0..12 {
        key(&mut m, KeyCode::Char('n'));
        let sp = m.run.played.engine.machine().cpu.sp();
        let top = m.mem_top();
        assert!(
            top <= sp && sp < top + rows * 16,
            "ESP {sp:#x} on screen from {top:#x}"
        );
        let text = screen(&m);
        assert!(text.contains(&format!("{sp:x}")), "{text}");
        assert!(text.contains("← ESP"), "{text}");
    }
    // Scrolling stops following; f follows again.
    key(&mut m, KeyCode::PageDown);
    assert!(!m.debug.follow_sp);
    key(&mut m, KeyCode::Char('f'));
    assert!(m.debug.follow_sp);
    // `x ADDR` opens the view at the address, with its bytes from the machine.
    command(&mut m, "x sysenter_entry");
    assert_eq!(m.debug.inspector, Some(Inspector::Memory));
    assert!(!m.debug.follow_sp);
    let entry = sym(&m, "sysenter_entry");
    assert_eq!(m.mem_top(), entry);
    let mut bytes = [0u8; 7];
    m.run.played.engine.machine().mem.peek(entry, &mut bytes);
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let text = screen(&m);
    assert!(
        text.contains(&format!("c0102000  {}", hex.join(" "))),
        "{text}"
    );
    assert!(text.contains("kernel_text [S - X]"), "{text}");
    assert!(text.contains("+0 sysenter_entry"), "{text}");
    // Esc closes the inspector.
    key(&mut m, KeyCode::Esc);
    assert_eq!(m.debug.inspector, None);
}

#[test]
fn gdt_idt_and_tss_of_the_sysenter_lesson() {
    let mut m = model();
    m.goto(state_at(&m, "sysenter_entry"));
    let machine = m.run.played.engine.machine();
    let gdt = inspect::gdt(machine);
    assert_eq!(gdt.len(), 32, "GDT limit 0xff: 32 slots");
    assert_eq!(gdt[0].kind, GdtKind::Null);
    // __KERNEL_CS 0x60: flat ring-0 32-bit code, 4 KiB granular.
    let kcs = &gdt[12];
    assert_eq!(kcs.selector, 0x60);
    match &kcs.kind {
        GdtKind::Segment {
            base,
            limit,
            raw_limit,
            code,
            dpl,
            present,
            db,
            long,
            granular,
            type_name,
            ..
        } => {
            assert_eq!((*base, *limit, *raw_limit), (0, 0xffff_ffff, 0xfffff));
            assert!(*code && *present && *db && *granular && !*long);
            assert_eq!(*dpl, 0);
            assert_eq!(*type_name, "code x/r");
        }
        k => panic!("{k:?}"),
    }
    assert!(
        kcs.used_by.contains(&"cs"),
        "CS is __KERNEL_CS after SYSENTER"
    );
    // __USER_CS 0x73 (index 14): ring 3; __USER_DS 0x7b (15) used by DS and ES.
    assert!(matches!(
        gdt[14].kind,
        GdtKind::Segment {
            dpl: 3,
            code: true,
            ..
        }
    ));
    assert!(gdt[15].used_by.contains(&"ds") && gdt[15].used_by.contains(&"es"));
    // GDT_ENTRY_TSS 16: the busy 32-bit TSS that TR holds.
    let tss_desc = &gdt[16];
    match &tss_desc.kind {
        GdtKind::System {
            base,
            busy,
            type_name,
            ..
        } => {
            assert_eq!(*base, machine.cpu.tr.base);
            assert_eq!(*busy, Some(true));
            assert_eq!(*type_name, "32-bit TSS (busy)");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(tss_desc.used_by, ["tr"]);
    // The IDT: int $0x80 is a DPL-3 trap gate to system_call through __KERNEL_CS.
    let idt = inspect::idt(machine);
    assert_eq!(idt.len(), 256);
    let g = &idt[0x80];
    assert!(g.gate.present && g.gate.is_trap_gate() && g.gate.is_32bit());
    assert_eq!((g.gate.dpl, g.gate.selector), (3, 0x60));
    assert_eq!(g.gate.offset, sym(&m, "system_call"));
    assert_eq!(g.symbol.as_deref(), Some("system_call"));
    assert_eq!(g.type_name, "32-bit trap gate");
    // The TSS: esp0 is the kernel stack top the snapshot knows, ss0 __KERNEL_DS.
    let t = inspect::tss(machine).expect("a TSS");
    assert_eq!(Some(t.field("esp0").unwrap()), m.snap.esp0);
    assert_eq!(t.field("ss0"), Some(0x68));
    assert_eq!(t.tr, machine.cpu.seg(SegReg::Cs).selector + 0x20);
    assert_eq!(t.iomap_bytes(), 0, "map base 0x8000 beyond the limit");
    // The views: g cycles GDT, IDT, TSS, closed.
    for (which, needle) in [
        (Inspector::Gdt, "0x0060 00000000 ffffffff code x/r"),
        (Inspector::Idt, "<system_call>"),
        (Inspector::Tss, "esp0"),
    ] {
        key(&mut m, KeyCode::Char('g'));
        assert_eq!(m.debug.inspector, Some(which));
        let text = screen(&m);
        assert!(text.contains(needle), "{which:?}: {text}");
    }
    key(&mut m, KeyCode::Char('g'));
    assert_eq!(m.debug.inspector, None);
}

#[test]
fn the_64_bit_tables_use_16_byte_gates_and_the_ist() {
    let m = model_of("syscall64");
    let machine = m.run.played.engine.machine();
    assert!(machine.cpu.long_mode_active());
    let idt = inspect::idt(machine);
    assert_eq!(idt.len() as u64, (machine.cpu.idtr.limit as u64 + 1) / 16);
    for g in idt.iter().filter(|g| g.gate.present) {
        assert!(g.type_name.starts_with("64-bit"), "{g:?}");
    }
    let gdt = inspect::gdt(machine);
    let tss = gdt
        .iter()
        .position(|r| r.used_by.contains(&"tr"))
        .expect("TR's slot");
    assert!(
        matches!(gdt[tss + 1].kind, GdtKind::Upper { of } if of as usize == tss),
        "the 16-byte TSS descriptor takes two slots"
    );
    match &gdt[tss].kind {
        GdtKind::System { base, .. } => assert_eq!(*base, machine.cpu.tr.base),
        k => panic!("{k:?}"),
    }
    let t = inspect::tss(machine).unwrap();
    assert!(t.long);
    assert!(t.field("rsp0").is_some() && t.field("ist7").is_some());
}

#[test]
fn timeline_events_and_jumps() {
    let mut m = model();
    assert!(!m.run.events.is_empty());
    key(&mut m, KeyCode::Char('>'));
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    assert_eq!(m.snap.cpl, 0);
    assert!(status(&m).contains("CPL 3 -> 0"), "{}", status(&m));
    key(&mut m, KeyCode::Char('>'));
    assert_eq!(m.snap.cpl, 3, "sysexit back to ring 3");
    let back_in_user = m.pos;
    key(&mut m, KeyCode::Char('>'));
    assert_eq!(m.pos, back_in_user, "no further event");
    assert!(status(&m).contains("no further"), "{}", status(&m));
    key(&mut m, KeyCode::Char('<'));
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    let text = screen(&m);
    assert!(text.contains("timeline") && text.contains('▼') && text.contains('▲'));
}

#[test]
fn until_fault_runs_to_the_exception_that_ends_the_run() {
    // The faults lesson's first scene: SYSENTER with IA32_SYSENTER_CS = 0 raises #GP,
    // and no handler is installed, so the run ends there.
    let mut m = model_of("faults");
    command(&mut m, "until fault");
    assert_eq!(m.pos, m.run.last_state());
    assert!(status(&m).contains("#GP"), "{}", status(&m));
    let text = screen(&m);
    let strip = text.lines().find(|l| l.contains("timeline")).unwrap();
    assert!(strip.contains('!'), "{strip}");
    // An interrupt is marked (int80: `int $0x80` delivered through the IDT).
    let m = model_of("int80");
    assert!(m.run.events.iter().any(|e| matches!(
        e.mark,
        ringstep::debug::timeline::Mark::Interrupt { vector: 0x80, .. }
    )));
}

#[test]
fn alt_needs_loaded_code() {
    let mut m = model();
    command(&mut m, "alt 1");
    assert!(m.debug.error);
    assert!(
        status(&m).contains("only for loaded code"),
        "{}",
        status(&m)
    );
}

#[test]
fn alt_on_loaded_code_without_alternatives() {
    let dir = std::env::temp_dir().join(format!("ringstep-tui-alt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("mine.S");
    std::fs::write(&src, "mine:\n  push %ecx\n  pop %ecx\n  ret\n").unwrap();
    let mut args = ringstep::tui::RunArgs {
        lang: Some(ringstep::cli::LangArg::En),
        ..Default::default()
    };
    args.load.asm = Some(src.clone());
    let mut m = ringstep::tui::start(&args).expect("loads");
    update(&mut m, Msg::Resize(120, 40));
    assert!(m.debug.setup.is_some());
    command(&mut m, "alt");
    assert_eq!(m.debug.inspector, Some(Inspector::Output));
    assert!(screen(&m).contains("no alternatives"), "{}", screen(&m));
    command(&mut m, "alt 1");
    assert!(m.debug.error);
    assert!(status(&m).contains("no alternatives"), "{}", status(&m));
    command(&mut m, "alt none");
    assert!(!m.debug.error, "{}", status(&m));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn alt_applies_a_kernel_alternative_of_a_loaded_vdso() {
    if !["as", "ld"].iter().all(|t| common::require_tool(t)) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ringstep-tui-vdso-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let so = common::vdso32(&dir, 14);
    let mut args = ringstep::tui::RunArgs {
        lang: Some(ringstep::cli::LangArg::En),
        ..Default::default()
    };
    args.load.elf = Some(so);
    let mut m = ringstep::tui::start(&args).expect("loads");
    update(&mut m, Msg::Resize(120, 40));
    let through = |m: &Model, name: &str| {
        let a = sym(m, name);
        m.run.states.iter().any(|s| s.ip == a)
    };
    assert!(
        !through(&m, "sysenter_entry"),
        "int $0x80 without alternatives"
    );
    command(&mut m, "alt");
    assert_eq!(m.debug.output.len(), 2, "{:?}", m.debug.output);
    assert!(
        m.debug.output[0].contains("SYSENTER32"),
        "{:?}",
        m.debug.output
    );
    command(&mut m, "break sysenter_entry");
    command(&mut m, "alt 1");
    assert!(!m.debug.error, "{}", status(&m));
    assert!(
        through(&m, "sysenter_entry"),
        "the SYSENTER alternative is applied"
    );
    assert!(m.has_break(sym(&m, "sysenter_entry")), "breakpoints stay");
    key(&mut m, KeyCode::Char('c'));
    assert_eq!(m.snap.cpl, 0);
    command(&mut m, "alt 3");
    assert!(
        m.debug.error && status(&m).contains("alternatives 1 to 2"),
        "{}",
        status(&m)
    );
    command(&mut m, "alt none");
    assert!(!through(&m, "sysenter_entry"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn info_commands_fill_the_output_inspector_and_keys_are_in_the_help() {
    let mut m = model();
    command(&mut m, "info regs");
    assert_eq!(m.debug.inspector, Some(Inspector::Output));
    assert!(m.debug.output.iter().any(|l| l.starts_with("eax")));
    command(&mut m, "help");
    assert!(screen(&m).contains("reverse-continue"));
    update(&mut m, Msg::Action(Action::Help));
    let text = screen(&m);
    assert!(text.contains("command line"), "{text}");
    // German descriptions too.
    let de = m
        .keymap
        .bindings
        .iter()
        .find(|b| b.name == "memory_view")
        .unwrap();
    assert!(de.de.contains("Speicheransicht"));
}

#[test]
fn the_compact_layout_shows_the_inspectors() {
    let mut m = model();
    update(&mut m, Msg::Resize(80, 24));
    key(&mut m, KeyCode::Char('m'));
    let text = screen(&m);
    assert!(
        text.contains("Memory") && text.contains("follows ESP"),
        "{text}"
    );
    key(&mut m, KeyCode::Char('g'));
    assert!(screen(&m).contains("GDT"));
    command(&mut m, "break sysenter_entry");
    key(&mut m, KeyCode::Char('c'));
    assert!(screen(&m).contains("CPL 0"));
}

#[test]
fn breakpoints_are_listed_in_one_form_however_they_were_set() {
    let mut m = model();
    let entry = sym(&m, "sysenter_entry");
    let past = sym(&m, "sysenter_past_esp");
    // The `b` key on the current line, a symbol with an offset, a bare address.
    m.goto(state_at(&m, "sysenter_entry"));
    key(&mut m, KeyCode::Char('b'));
    command(&mut m, "break sysenter_past_esp+1");
    command(&mut m, &format!("break {past:#x}"));
    let want = [
        format!("1   break {entry:#x} <sysenter_entry>"),
        format!(
            "2   break {:#x} <sysenter_past_esp+0x1> (sysenter_past_esp+1)",
            past + 1
        ),
        format!("3   break {past:#x} <sysenter_past_esp>"),
    ];
    let listed: Vec<String> = m
        .run
        .dbg
        .points()
        .all()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(listed, want);
    // The points inspector (which `info break` opens too) shows exactly these lines.
    command(&mut m, "info break");
    assert_eq!(m.debug.inspector, Some(Inspector::Points));
    let text = screen(&m);
    for line in &want {
        assert!(text.contains(&format!("│ {line} ")), "{line}:\n{text}");
    }
}

/// The units of a dump line at `addr`: between the address and the ASCII column.
fn units(line: &str, addr: u64) -> String {
    let rest = line
        .strip_prefix(&format!("{addr:#010x}  "))
        .unwrap_or_else(|| panic!("{line}"));
    rest.split('|').next().unwrap_or("").trim().to_string()
}

#[test]
fn x_with_a_count_and_format_prints_that_many_units() {
    let mut m = model();
    m.goto(state_at(&m, "sysenter_entry"));
    let esp = m.run.played.engine.machine().cpu.sp();
    let word = |m: &Model, a: u64| {
        let mut b = [0u8; 4];
        m.run.played.engine.machine().mem.peek(a, &mut b);
        format!("0x{:08x}", u32::from_le_bytes(b))
    };
    command(&mut m, "x/4w esp");
    assert_eq!(m.debug.inspector, Some(Inspector::Output));
    let words: Vec<String> = (0..4).map(|k| word(&m, esp + 4 * k)).collect();
    let line = m
        .debug
        .output
        .iter()
        .find(|l| l.starts_with(&format!("{esp:#010x}")))
        .unwrap_or_else(|| panic!("{:?}", m.debug.output));
    assert_eq!(units(line, esp), words.join(" "), "{line}");
    assert!(status(&m).starts_with("x/4w: memory at"), "{}", status(&m));
    assert!(screen(&m).contains(&words.join(" ")), "{}", screen(&m));
    // Two bytes, and three 16-bit units at a symbol.
    command(&mut m, "x/2b sysenter_entry");
    let entry = sym(&m, "sysenter_entry");
    let mut b = [0u8; 6];
    m.run.played.engine.machine().mem.peek(entry, &mut b);
    assert_eq!(m.debug.output[0], "<sysenter_entry>:");
    let two = format!("{:02x} {:02x}", b[0], b[1]);
    assert_eq!(units(&m.debug.output[1], entry), two);
    command(&mut m, "x/3h sysenter_entry");
    let halves: Vec<String> = b
        .chunks(2)
        .map(|c| format!("0x{:04x}", u16::from_le_bytes([c[0], c[1]])))
        .collect();
    assert_eq!(units(&m.debug.output[1], entry), halves.join(" "));
    // 40 bytes: three lines of at most 16.
    command(&mut m, "x/40x esp");
    assert_eq!(
        m.debug
            .output
            .iter()
            .filter(|l| l.starts_with("0x"))
            .count(),
        3
    );
}

#[test]
fn another_lesson_starts_without_the_old_lessons_breakpoints_and_watchpoints() {
    let mut m = model();
    command(&mut m, "break sysenter_entry");
    command(&mut m, "watch eax");
    assert_eq!(m.run.dbg.points().all().len(), 2);
    // The picker: the int80 lesson.
    key(&mut m, KeyCode::Char('o'));
    let at = m.lessons.iter().position(|e| e.id == "int80").unwrap();
    if let ringstep::tui::app::Overlay::Picker { selected } = &mut m.overlay {
        *selected = at;
    } else {
        panic!("the picker is open");
    }
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.lesson.id, "int80");
    assert!(
        m.run.dbg.points().is_empty(),
        "{:?}",
        m.run.dbg.points().all()
    );
    assert!(status(&m).contains("cleared"), "{}", status(&m));
    // Numbers start from 1 again; a later scene of the same lesson keeps them.
    command(&mut m, "break syscall_call");
    assert!(status(&m).starts_with("1 "), "{}", status(&m));
    assert!(m.lesson.scenes.len() > 1);
    let last = m.run.last_state();
    m.goto(last);
    key(&mut m, KeyCode::Char('n'));
    assert_eq!(m.scene, 1);
    assert_eq!(m.run.dbg.points().all().len(), 1, "scenes share them");
}

/// In German the debugger answers in German: movements, `info break`, `:help` (with the
/// viewer's own commands), deletions.
#[test]
fn the_debugger_speaks_the_viewers_language() {
    let mut m = model();
    m.lang = ringstep::lesson::Lang::De;
    command(&mut m, "until cpl");
    let s = status(&m);
    assert!(
        s.starts_with("Position ") && s.contains("CPL von 3 zu 0 gewechselt"),
        "{s}"
    );
    command(&mut m, "info break");
    assert!(screen(&m).contains("keine Halte- oder Beobachtungspunkte"));
    command(&mut m, "help");
    let sc = screen(&m);
    assert!(sc.contains("vor dem Befehl dort anhalten"), "{sc}");
    assert!(sc.contains("glossary [BEGRIFF]"), "{sc}");
    command(&mut m, "delete");
    assert_eq!(status(&m), "nichts zu löschen");
    m.lang = ringstep::lesson::Lang::En;
    command(&mut m, "delete");
    assert_eq!(status(&m), "nothing to delete");
}
