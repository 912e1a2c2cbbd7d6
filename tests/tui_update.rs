//! The TUI's update function: every action, key handling, the clock, the mouse, and the
//! view model it keeps (CPL banners, question feedback from the engine).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ringstep::disasm::Syntax;
use ringstep::lesson::{self, FileSource, Lang, Lesson};
use ringstep::tui::app::{Answered, Overlay, ANIM_MS};
use ringstep::tui::listing::Row;
use ringstep::tui::snapshot::Banner;
use ringstep::tui::theme::ThemeKind;
use ringstep::tui::{update, Action, Keymap, Model, Msg, Options};

fn shipped(id: &str) -> Lesson {
    lesson::load_shipped(id)
        .expect("a shipped lesson")
        .expect("it loads")
}

fn model_with(l: Lesson, opts: Options) -> Model {
    let mut m = Model::new(l, &opts, Keymap::shipped()).expect("a model");
    update(&mut m, Msg::Resize(120, 40));
    m
}

fn model() -> Model {
    model_with(shipped("sysenter"), Options::default())
}

fn act(m: &mut Model, a: Action) {
    update(m, Msg::Action(a));
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn sym(m: &Model, name: &str) -> u64 {
    m.run
        .played
        .initial
        .symbols
        .get(name)
        .unwrap_or_else(|| panic!("symbol {name}"))
}

/// The first state at which the next instruction is at `name`.
fn state_at(m: &Model, name: &str) -> usize {
    let a = sym(m, name);
    m.run
        .states
        .iter()
        .position(|s| s.ip == a)
        .unwrap_or_else(|| panic!("never at {name}"))
}

/// The history position of the sysenter instruction.
fn sysenter_state(m: &Model) -> usize {
    state_at(m, "sysenter_entry") - 1
}

#[test]
fn starts_at_the_first_narrative_step() {
    let m = model();
    assert_eq!(m.pos, 0);
    assert_eq!(m.current_step(), Some(0));
    assert_eq!(m.snap.cpl, 3);
    assert!(m.anim.is_none());
    assert!(m.snap.banner.is_none());
    assert_eq!(m.snap.task.as_ref().map(|t| t.pid), Some(1234));
}

#[test]
fn step_forward_and_back() {
    let mut m = model();
    act(&mut m, Action::StepForward);
    assert_eq!(m.pos, 1);
    assert!(m.anim.is_some(), "a forward step animates");
    assert!(m.snap.regs[0].changed, "mov $20,%eax changed EAX");
    assert_eq!(m.snap.regs[0].value, 20);
    act(&mut m, Action::StepBack);
    assert_eq!(m.pos, 0);
    assert!(m.anim.is_none(), "stepping back does not flash");
    act(&mut m, Action::StepBack);
    assert_eq!(m.pos, 0, "no step before the start");
    for code in [KeyCode::Char(' '), KeyCode::Char('n'), KeyCode::Right] {
        let before = m.pos;
        key(&mut m, code);
        assert_eq!(m.pos, before + 1, "{code:?}");
    }
    for code in [KeyCode::Char('p'), KeyCode::Left, KeyCode::Backspace] {
        let before = m.pos;
        key(&mut m, code);
        assert_eq!(m.pos, before - 1, "{code:?}");
    }
}

#[test]
fn no_animation_option() {
    let opts = Options {
        animation: false,
        ..Options::default()
    };
    let mut m = model_with(shipped("sysenter"), opts);
    act(&mut m, Action::StepForward);
    assert!(m.anim.is_none());
    assert!(m.snap.regs[0].changed, "changes are still marked");
}

#[test]
fn stepping_again_finishes_the_animation_at_once() {
    let mut m = model();
    act(&mut m, Action::StepForward);
    let first = m.anim.unwrap();
    update(&mut m, Msg::Tick(100));
    act(&mut m, Action::StepForward);
    let second = m.anim.unwrap();
    assert_eq!(second.start_ms, 100);
    assert_ne!(first, second);
    update(&mut m, Msg::Tick(100 + ANIM_MS));
    assert!(m.anim.is_none(), "the flash fades after ANIM_MS");
}

#[test]
fn sysenter_is_a_mode_transition_with_the_cpu_moving_rings() {
    let mut m = model();
    let s = sysenter_state(&m);
    m.goto(s);
    act(&mut m, Action::StepForward);
    assert_eq!(m.snap.cpl, 0);
    assert_eq!(
        m.snap.banner,
        Some(Banner::ModeTransition { from: 3, to: 0 })
    );
    assert_eq!(m.anim.and_then(|a| a.cpl), Some((3, 0)));
    let msrs: Vec<_> = m
        .snap
        .msrs
        .iter()
        .filter(|r| r.last_read)
        .map(|r| r.name)
        .collect();
    assert_eq!(
        msrs,
        ["IA32_SYSENTER_CS", "IA32_SYSENTER_ESP", "IA32_SYSENTER_EIP"]
    );
    assert_eq!(m.snap.msrs[2].symbol.as_deref(), Some("sysenter_entry"));
    // ESP is init_tss+0x2200: not on the kernel stack.
    assert!(m.snap.kernel_stack.sp_elsewhere.is_some());
    // Linux finds `current` from ESP (2.6: ESP & ~(THREAD_SIZE - 1) -> thread_info):
    // on the SYSENTER stack there is none until sysenter_entry loads esp0.
    assert_eq!(m.snap.task.as_ref().map(|t| t.pid), None);
}

#[test]
fn the_next_instruction_marks_what_it_reads_and_writes() {
    let mut m = model();
    let s = sysenter_state(&m);
    m.goto(s);
    let msr_reads: Vec<_> = m.snap.msrs.iter().filter(|r| r.next.read).collect();
    assert_eq!(msr_reads.len(), 3, "sysenter reads the three MSRs");
    assert!(m.snap.regs[4].next.write, "sysenter writes ESP");
    m.goto(s - 1); // movl %esp, %ebp
    assert!(m.snap.regs[4].next.read, "reads ESP");
    assert!(m.snap.regs[5].next.write, "writes EBP");
    assert!(!m.snap.regs[5].next.read);
}

#[test]
fn next_and_previous_narrative_stop() {
    let mut m = model();
    let marks: Vec<usize> = m.run.played.marks.iter().map(|k| k.state).collect();
    act(&mut m, Action::NextStop);
    assert_eq!(m.pos, marks[1]);
    act(&mut m, Action::NextStop);
    assert_eq!(m.pos, marks[2]);
    act(&mut m, Action::PrevStop);
    assert_eq!(m.pos, marks[1]);
    key(&mut m, KeyCode::Char('s'));
    assert_eq!(m.pos, marks[2]);
    key(&mut m, KeyCode::Char('S'));
    assert_eq!(m.pos, marks[1]);
}

#[test]
fn run_to_breakpoint_or_end_and_breakpoint_toggle() {
    let mut m = model();
    let entry = sym(&m, "sysenter_entry");
    let row = m.listing.row_of(entry).unwrap();
    // Select the line and toggle a breakpoint on it.
    update(&mut m, Msg::Action(Action::SelectDown));
    m.selected = Some(row);
    act(&mut m, Action::ToggleBreakpoint);
    assert!(m.has_break(entry));
    act(&mut m, Action::Run);
    assert_eq!(m.pos, state_at(&m, "sysenter_entry"));
    // Toggle it off again on the current line; run goes to the end.
    m.selected = None;
    key(&mut m, KeyCode::Char('b'));
    assert!(m.run.dbg.points().is_empty());
    key(&mut m, KeyCode::Char('c'));
    assert_eq!(m.pos, m.run.last_state());
    assert_eq!(m.snap.cpl, 3);
    assert!(m.snap.stop.is_some());
}

#[test]
fn selection_skips_headers_and_labels() {
    let mut m = model();
    act(&mut m, Action::SelectDown);
    let r = m.selected.unwrap();
    assert!(matches!(m.listing.rows[r], Row::Instr { .. }));
    assert!(r > m.current_row().unwrap());
    act(&mut m, Action::SelectUp);
    assert_eq!(m.selected, m.current_row());
    for _ in 0..200 {
        act(&mut m, Action::SelectDown);
    }
    let r = m.selected.unwrap();
    assert!(m.listing.rows[r].addr().is_some());
    act(&mut m, Action::Cancel);
    assert_eq!(m.selected, None);
    assert_eq!(m.code_top, None);
}

#[test]
fn restart_goes_back_and_forgets_answers() {
    let mut m = model();
    // The first question, typed: where `call *%gs:0x10` goes.
    let q = m.run.played.marks[1].state;
    m.goto(q);
    type_answer(&mut m, "__kernel_vsyscall");
    assert!(!m.answers.is_empty());
    act(&mut m, Action::Restart);
    assert_eq!(m.pos, 0);
    assert!(m.answers.is_empty());
}

#[test]
fn syntax_and_language_toggles() {
    let mut m = model();
    let text = |m: &Model| match &m.listing.rows[m.current_row().unwrap()] {
        Row::Instr { text, .. } => text.clone(),
        _ => unreachable!(),
    };
    assert_eq!(text(&m), "mov $0x14,%eax");
    act(&mut m, Action::ToggleSyntax);
    assert_eq!(m.syntax, Syntax::Intel);
    assert_eq!(text(&m), "mov eax,0x14");
    key(&mut m, KeyCode::Char('i'));
    assert_eq!(m.syntax, Syntax::Att);
    assert_eq!(m.lang, Lang::En);
    act(&mut m, Action::ToggleLang);
    assert_eq!(m.lang, Lang::De);
    key(&mut m, KeyCode::Char('l'));
    assert_eq!(m.lang, Lang::En);
}

#[test]
fn answering_a_choice_question_uses_the_engines_result() {
    let mut m = model();
    act(&mut m, Action::AnswerChoice(1));
    assert!(m.answers.is_empty(), "no question at the start");
    assert!(m.status.is_some());
    // "What will ESP be right after sysenter?": choice 1, IA32_SYSENTER_ESP.
    let s = sysenter_state(&m);
    m.goto(s);
    let step = m.question_step().expect("a question at sysenter");
    assert!(m.waiting_for_answer());
    act(&mut m, Action::AnswerChoice(2));
    assert_eq!(
        m.answers.get(&(0, step)),
        Some(&Answered::Choice {
            index: 1,
            correct: false
        })
    );
    key(&mut m, KeyCode::Char('1'));
    assert_eq!(
        m.answers.get(&(0, step)),
        Some(&Answered::Choice {
            index: 0,
            correct: true
        })
    );
    assert!(!m.waiting_for_answer());
    act(&mut m, Action::AnswerChoice(9));
    assert_eq!(
        m.answers.get(&(0, step)).map(|a| a.correct()),
        Some(true),
        "a choice that does not exist changes nothing"
    );
}

#[test]
fn typing_an_answer() {
    let mut m = model();
    let s = sysenter_state(&m);
    m.goto(s);
    let step = m.question_step().unwrap();
    key(&mut m, KeyCode::Char('a'));
    assert_eq!(m.input.as_deref(), Some(""));
    for c in "0xc03122x".chars() {
        key(&mut m, KeyCode::Char(c));
    }
    key(&mut m, KeyCode::Backspace);
    for c in "00".chars() {
        key(&mut m, KeyCode::Char(c));
    }
    // While typing, keys are text: `q` does not quit, `n` does not step.
    key(&mut m, KeyCode::Char('q'));
    key(&mut m, KeyCode::Backspace);
    assert!(!m.quit);
    assert_eq!(m.pos, s);
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.input, None);
    assert_eq!(
        m.answers.get(&(0, step)),
        Some(&Answered::Typed {
            text: "0xc0312200".into(),
            correct: true
        })
    );
    // A symbol is a value too; Esc cancels typing.
    act(&mut m, Action::Confirm);
    assert!(m.input.is_none(), "answered: Enter does not start typing");
    act(&mut m, Action::AnswerType);
    for c in "init_tss".chars() {
        key(&mut m, KeyCode::Char(c));
    }
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.answers.get(&(0, step)).map(|a| a.correct()), Some(false));
    act(&mut m, Action::AnswerType);
    key(&mut m, KeyCode::Esc);
    assert!(m.input.is_none());
}

const TYPED: &str = r#"
[lesson]
order = 90
title.en = "Typed"
title.de = "Getippt"
summary.en = "A typed answer."
summary.de = "Eine getippte Antwort."

[machine]
preset = "linux-2.6-i386"
regs.ecx = 0x11111111

[[code]]
region = "user_text"
text = '''
main:
	pushl %ecx
done:
	nop
'''

[[scene]]
title.en = "Pushing"
title.de = "Pushen"
start = "main"
stop_at = ["done"]

[[scene.step]]
at = "main"
text.en = "ESP points at the top of the user stack."
text.de = "ESP zeigt auf die Spitze des Benutzerstapels."

[scene.step.question]
prompt.en = "What will ESP be after `pushl %ecx`?"
prompt.de = "Welchen Wert hat ESP nach `pushl %ecx`?"
answer = "esp"
"#;

#[test]
fn a_question_without_choices_takes_a_typed_value() {
    let l = lesson::load_str(TYPED, "typed.toml", "typed", &FileSource::Shipped).unwrap();
    let mut m = model_with(l, Options::default());
    assert!(m.waiting_for_answer());
    let esp = m.snap.regs[4].value;
    // A digit starts typing the value.
    key(&mut m, KeyCode::Char('3'));
    assert_eq!(m.input.as_deref(), Some("3"));
    key(&mut m, KeyCode::Esc);
    act(&mut m, Action::Confirm);
    assert_eq!(
        m.input.as_deref(),
        Some(""),
        "Enter starts typing at a question"
    );
    for c in format!("{:#x}", esp - 4).chars() {
        key(&mut m, KeyCode::Char(c));
    }
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.answers.get(&(0, 0)).map(|a| a.correct()), Some(true));
    act(&mut m, Action::AnswerType);
    key(&mut m, KeyCode::Enter);
    assert!(m.input.is_some(), "an empty answer is not submitted");
    assert!(m.status.is_some());
}

#[test]
fn autoplay_steps_with_a_countdown_and_pauses_at_questions() {
    let opts = Options {
        autoplay: Some(1.0),
        ..Options::default()
    };
    let mut m = model_with(shipped("sysenter"), opts);
    update(&mut m, Msg::Tick(500));
    assert_eq!(m.pos, 0, "not yet");
    assert!(m.wakeup_ms() <= 500);
    update(&mut m, Msg::Tick(1000));
    assert_eq!(m.pos, 1);
    // At the first question it waits, however long.
    let q = m.run.played.marks[1].state;
    let mut now = 1000;
    while m.pos < q {
        now += 1000;
        update(&mut m, Msg::Tick(now));
    }
    assert!(m.waiting_for_answer());
    for _ in 0..5 {
        now += 1000;
        update(&mut m, Msg::Tick(now));
    }
    assert_eq!(m.pos, q);
    type_answer(&mut m, "0xffffe400");
    now += 1000;
    update(&mut m, Msg::Tick(now));
    assert_eq!(m.pos, q + 1, "answered: it goes on");
    // Pause and resume.
    key(&mut m, KeyCode::Char('P'));
    assert!(m.autoplay.unwrap().paused);
    now += 5000;
    update(&mut m, Msg::Tick(now));
    assert_eq!(m.pos, q + 1);
    act(&mut m, Action::ToggleAutoplay);
    assert!(!m.autoplay.unwrap().paused);
    update(&mut m, Msg::Tick(now + 1000));
    assert_eq!(m.pos, q + 2);
}

#[test]
fn autoplay_can_be_started_and_stops_at_the_end() {
    let mut m = model();
    assert!(m.autoplay.is_none());
    act(&mut m, Action::ToggleAutoplay);
    assert!(m.autoplay.is_some());
    m.goto(m.run.last_state());
    update(&mut m, Msg::Tick(10_000));
    assert!(m.autoplay.unwrap().paused);
    assert!(m.status.is_some());
    act(&mut m, Action::StepForward);
    assert_eq!(m.pos, m.run.last_state(), "end of the lesson");
}

#[test]
fn panes_scroll_contrast_help_and_quit() {
    let mut m = model();
    act(&mut m, Action::CyclePane);
    assert_eq!(m.aux, 1);
    for _ in 0..3 {
        act(&mut m, Action::CyclePane);
    }
    assert_eq!(m.aux, 0);
    act(&mut m, Action::ScrollDown);
    assert_eq!(m.narrative_scroll, 3);
    act(&mut m, Action::ScrollUp);
    act(&mut m, Action::ScrollUp);
    assert_eq!(m.narrative_scroll, 0);
    act(&mut m, Action::ToggleContrast);
    assert_eq!(m.theme, ThemeKind::HighContrast);
    key(&mut m, KeyCode::Char('C'));
    assert_eq!(m.theme, ThemeKind::Normal);
    key(&mut m, KeyCode::Char('?'));
    assert_eq!(m.overlay, Overlay::Help);
    key(&mut m, KeyCode::Char('n'));
    assert_eq!(m.overlay, Overlay::None, "any key closes the help");
    assert_eq!(m.pos, 0, "and does nothing else");
    act(&mut m, Action::Help);
    act(&mut m, Action::Cancel);
    assert_eq!(m.overlay, Overlay::None);
    key(&mut m, KeyCode::Char('q'));
    assert!(m.quit);
    let mut m = model();
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(m.quit);
}

#[test]
fn lesson_picker() {
    let mut m = model();
    key(&mut m, KeyCode::Char('o'));
    let Overlay::Picker { selected } = m.overlay else {
        panic!("picker");
    };
    assert_eq!(m.lessons[selected].id, "sysenter");
    assert_eq!(m.lessons.len(), lesson::library::ids().count());
    // Stepping keys do not step while the list is open.
    act(&mut m, Action::StepForward);
    assert_eq!(m.pos, 0);
    act(&mut m, Action::Cancel);
    assert_eq!(m.overlay, Overlay::None);
    act(&mut m, Action::LessonPicker);
    let first = m.lessons[0].id.clone();
    act(&mut m, Action::SelectUp);
    act(&mut m, Action::SelectDown);
    assert_eq!(m.overlay, Overlay::Picker { selected });
    act(&mut m, Action::AnswerChoice(1));
    assert_eq!(m.overlay, Overlay::Picker { selected: 0 });
    act(&mut m, Action::Confirm);
    assert_eq!(m.overlay, Overlay::None);
    assert_eq!(m.lesson.id, first);
    assert_eq!(m.pos, 0);
}

#[test]
fn scenes_follow_each_other() {
    let mut m = model_with(shipped("int80"), Options::default());
    assert!(m.lesson.scenes.len() > 1);
    m.goto(m.run.last_state());
    act(&mut m, Action::StepForward);
    assert_eq!((m.scene, m.pos), (1, 0));
    act(&mut m, Action::StepBack);
    assert_eq!(m.scene, 0);
    assert_eq!(m.pos, m.run.last_state());
    act(&mut m, Action::Restart);
    assert_eq!((m.scene, m.pos), (0, 0));
}

#[test]
fn a_context_switch_is_not_a_mode_transition() {
    let l = shipped("mode-vs-context");
    let mut found = false;
    for scene in 0..l.scenes.len() {
        let mut m = model_with(l.clone(), Options::default());
        if scene > 0 {
            for _ in 0..scene {
                m.goto(m.run.last_state());
                act(&mut m, Action::StepForward);
            }
        }
        for pos in 1..=m.run.last_state() {
            m.goto(pos);
            if let Some(Banner::ContextSwitch { from, to, .. }) = m.snap.banner {
                assert_ne!(from, to);
                found = true;
            }
        }
    }
    assert!(found, "mode-vs-context switches tasks somewhere");
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut m = model();
    let code = m.panes().code.unwrap();
    let top = m.code_window(code.height as usize - 2);
    update(&mut m, Msg::Click(code.x + 3, code.y + 4));
    assert_eq!(m.selected, Some(top + 3));
    update(
        &mut m,
        Msg::Scroll {
            col: code.x + 3,
            row: code.y + 4,
            down: true,
        },
    );
    assert_eq!(m.code_top, Some(top + 3));
    let n = m.panes().narrative.unwrap();
    update(
        &mut m,
        Msg::Scroll {
            col: n.x + 2,
            row: n.y + 2,
            down: true,
        },
    );
    assert_eq!(m.narrative_scroll, 3);
    // Stepping follows the CPU again.
    act(&mut m, Action::StepForward);
    assert_eq!(m.code_top, None);
}

#[test]
fn a_preset_without_lesson_still_runs() {
    let l = ringstep::tui::preset_lesson("linux-x86_64").unwrap();
    let mut m = model_with(l, Options::default());
    assert!(m.snap.long);
    assert!(m.snap.msrs.iter().any(|r| r.name == "IA32_LSTAR"));
    assert!(!m.listing.is_empty(), "executed code is listed");
    act(&mut m, Action::Run);
    assert_eq!(m.pos, m.run.last_state());
    assert!(ringstep::tui::preset_lesson("nope").is_err());
}

#[test]
fn the_64_bit_kernel_stack_is_where_rsp_is() {
    let mut m = model_with(shipped("syscall64"), Options::default());
    // After the entry code pushed the frame by hand on the task stack.
    let pushed = (1..=m.run.last_state())
        .find(|&p| {
            m.goto(p);
            m.snap.cpl == 0 && m.snap.kernel_stack.active && m.snap.kernel_stack.slots.len() >= 5
        })
        .expect("the kernel stack fills");
    m.goto(pushed);
    let k = &m.snap.kernel_stack;
    assert!(k.sp_elsewhere.is_none());
    assert!(k.slots.iter().any(|s| s.is_sp));
    assert!(k.slots.iter().any(|s| s
        .field
        .as_deref()
        .is_some_and(|f| f.starts_with("pt_regs->"))));
}

fn type_answer(m: &mut Model, text: &str) {
    act(m, Action::AnswerType);
    for c in text.chars() {
        key(m, KeyCode::Char(c));
    }
    key(m, KeyCode::Enter);
}

#[test]
fn a_typed_symbol_is_compared_exactly_and_shown_as_typed() {
    // The answer is evaluated after the step: EIP is then at `__done`.
    let src = TYPED
        .replace("done", "__done")
        .replace("answer = \"esp\"", "answer = \"eip\"");
    let l = lesson::load_str(&src, "typed.toml", "typed", &FileSource::Shipped).unwrap();
    let mut m = model_with(l, Options::default());
    let eip = sym(&m, "__done");
    let correct = |m: &Model| m.answers.get(&(0, 0)).map(|a| a.correct());
    type_answer(&mut m, "__done");
    assert_eq!(correct(&m), Some(true), "a symbol with underscores");
    let text = ringstep::tui::buffer_text(&ringstep::tui::render_buffer(&m, 120, 40));
    assert!(text.contains("__done)"), "the typed text as typed:\n{text}");
    type_answer(&mut m, "_done");
    assert_eq!(correct(&m), Some(false), "underscores count in a name");
    type_answer(&mut m, "*__done*");
    let text = ringstep::tui::buffer_text(&ringstep::tui::render_buffer(&m, 120, 40));
    assert!(text.contains("*__done*)"), "no Markdown:\n{text}");
    // Digits may still be grouped with `_`.
    let grouped = format!("{:#x}", eip >> 16) + "_" + &format!("{:04x}", eip & 0xffff);
    type_answer(&mut m, &grouped);
    assert_eq!(correct(&m), Some(true), "{grouped}");
    type_answer(&mut m, &format!("{eip}"));
    assert_eq!(correct(&m), Some(true), "decimal");
}

/// `t` opens and closes the page-table inspector; it walks RIP, or CR2 right after a
/// #PF, and `:walk ADDR` walks a typed address until `t` opens it afresh.
#[test]
fn the_page_table_inspector_walks_rip_cr2_or_a_typed_address() {
    use ringstep::debug::pagetable::Origin;
    use ringstep::tui::inspect::Inspector;
    let mut m = model_with(shipped("faults"), Options::default());
    key(&mut m, KeyCode::Char('t'));
    assert_eq!(m.debug.inspector, Some(Inspector::PageTables));
    let rip = m.run.played.engine.machine().cpu.rip;
    assert_eq!(m.pt_target(), (rip, Origin::Rip));
    // Step (through the scenes) to the first state right after a page fault.
    for _ in 0..5000 {
        if m.after_page_fault() {
            break;
        }
        act(&mut m, Action::StepForward);
    }
    assert!(m.after_page_fault(), "the faults lesson raises a #PF");
    update(&mut m, Msg::Resize(120, 40));
    let cr2 = m.run.played.engine.machine().cpu.cr2;
    assert_eq!(m.pt_target(), (cr2, Origin::Cr2));
    let text = ringstep::tui::buffer_text(&ringstep::tui::render_buffer(&m, 120, 40));
    assert!(text.contains("CR2, the #PF address"), "{text}");
    m.run_line("walk 0x1234");
    assert_eq!(m.pt_target(), (0x1234, Origin::Typed));
    assert_eq!(m.debug.inspector, Some(Inspector::PageTables));
    key(&mut m, KeyCode::Char('t'));
    assert_eq!(m.debug.inspector, None);
    key(&mut m, KeyCode::Char('t'));
    assert_eq!(m.pt_target(), (cr2, Origin::Cr2));
}

/// The memory view reads what the CPU sees through the current CR3: a region the user
/// page tables of the PTI lesson leave out shows as not mapped, with `??` bytes, not
/// as the zeros or the bytes the region holds.
#[test]
fn the_memory_view_marks_pages_the_current_tables_do_not_map() {
    let mut m = model_with(shipped("syscall64"), Options::default());
    let machine = m.run.played.engine.machine().clone();
    let hidden = machine
        .mem
        .regions()
        .iter()
        .find(|r| !machine.lin_mapped(r.base))
        .expect("a region the user tables leave out")
        .clone();
    m.run_line(&format!("x {:#x}", hidden.base));
    let text = ringstep::tui::buffer_text(&ringstep::tui::render_buffer(&m, 120, 40));
    assert!(
        text.contains(&format!("{} [not mapped]", hidden.name)),
        "{text}"
    );
    assert!(text.contains("?? ?? ??"), "{text}");
    // A mapped user page shows its translated rights.
    m.run_line("x _start");
    let text = ringstep::tui::buffer_text(&ringstep::tui::render_buffer(&m, 120, 40));
    assert!(text.contains("user_text [U - X]"), "{text}");
}

/// The lesson example of lessons/FORMAT.md: one question, with an explanation.
fn format_example() -> Lesson {
    let doc = include_str!("../lessons/FORMAT.md");
    let start = doc.find("```toml\n").expect("a toml example") + 8;
    let len = doc[start..].find("```").expect("its end");
    lesson::load_str(
        &doc[start..start + len],
        "FORMAT.md",
        "example",
        &lesson::FileSource::Shipped,
    )
    .expect("the example loads")
}

fn screen(m: &Model) -> String {
    ringstep::tui::buffer_text(&ringstep::tui::render_buffer(m, 120, 40))
}

#[test]
fn the_explanation_appears_once_answered_and_the_score_at_the_end() {
    for (lang, why, score, unanswered) in [
        (Lang::En, "Why:", "Score: 1 of 1 right", "1 not answered"),
        (
            Lang::De,
            "Begründung:",
            "Ergebnis: 1 von 1 richtig",
            "1 nicht beantwortet",
        ),
    ] {
        let mut m = model_with(format_example(), Options::default());
        m.lang = lang;
        m.goto(0);
        assert!(m.waiting_for_answer());
        assert!(
            !screen(&m).contains(why),
            "no explanation before the answer"
        );
        act(&mut m, Action::AnswerChoice(2));
        let s = screen(&m);
        assert!(s.contains(why), "explanation after a wrong answer:\n{s}");
        assert!(!s.contains(score.split(':').next().unwrap_or("")), "{s}");
        let last = m.run.last_state();
        m.goto(last);
        assert!(
            screen(&m).contains(&score.replace("1 of", "0 of").replace("1 von", "0 von")),
            "the wrong answer counts as not right:\n{}",
            screen(&m)
        );
        m.goto(0);
        act(&mut m, Action::AnswerChoice(1));
        m.goto(last);
        assert!(screen(&m).contains(score), "{}", screen(&m));
        act(&mut m, Action::Restart);
        m.goto(last);
        assert!(screen(&m).contains(unanswered), "{}", screen(&m));
    }
}

/// A `.code32` section of a lesson on a long-mode machine (the compat lesson's 32-bit
/// program and vdso32) is listed as 32-bit code: `ff 15 disp32` is an absolute memory
/// operand, not RIP-relative, and `51` is `push %ecx`, not `push %rcx`; its `.code64`
/// section is listed as 64-bit code.
#[test]
fn code32_sections_on_a_long_mode_machine_are_listed_as_32_bit_code() {
    let m = model_with(shipped("compat"), Options::default());
    let text_at = |name: &str| {
        let a = sym(&m, name);
        m.listing
            .rows
            .iter()
            .find_map(|r| match r {
                Row::Instr { addr, text, .. } if *addr == a => Some(text.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no row at {name}"))
    };
    assert_eq!(text_at("vsyscall_call"), "call *sysinfo");
    assert_eq!(text_at("__kernel_vsyscall"), "push %ecx");
    assert_eq!(text_at("int80_64"), "int $0x80");
    assert_eq!(text_at("after_int80_64"), "jmp after_int80_64");
}

#[test]
fn an_escape_read_together_with_the_next_key_is_both_keys() {
    // Esc then q typed quickly reach the viewer as one Alt+q (the terminal's Esc
    // prefix); no binding takes Alt+q, so it closes the help and quits.
    let mut m = model();
    key(&mut m, KeyCode::Char('?'));
    assert_eq!(m.overlay, Overlay::Help);
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT)),
    );
    assert_eq!(m.overlay, Overlay::None);
    assert!(m.quit);
    // Alt+n is Esc then n: one step forward.
    let mut m = model();
    let pos = m.pos;
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::ALT)),
    );
    assert!(m.pos > pos);
}
