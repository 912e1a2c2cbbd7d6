//! The screen, drawn with ratatui's TestBackend, at 80x24, 120x40 and 200x60 for the
//! states a student sees most: the start of the default lesson, just after `sysenter`,
//! inside `sysenter_entry` with pt_regs built, just after `sysexit`, a fault, a
//! question, the help overlay; and the message for a terminal that is too small.
//! Snapshots are plain text (insta); colours are checked separately.

use ratatui::style::{Color, Modifier};
use ringstep::lesson::{self, Lesson};
use ringstep::tui::app::Overlay;
use ringstep::tui::{buffer_text, render_buffer, update, Action, Keymap, Model, Msg, Options};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn shipped(id: &str) -> Lesson {
    lesson::load_shipped(id).unwrap().unwrap()
}

fn model(id: &str) -> Model {
    let mut m = Model::new(shipped(id), &Options::default(), Keymap::shipped()).unwrap();
    update(&mut m, Msg::Resize(120, 40));
    m
}

fn state_at(m: &Model, name: &str) -> usize {
    let a = m.run.played.initial.symbols.get(name).unwrap();
    m.run.states.iter().position(|s| s.ip == a).unwrap()
}

fn shots(name: &str, m: &mut Model) {
    for (w, h) in SIZES {
        update(m, Msg::Resize(w, h));
        let text = buffer_text(&render_buffer(m, w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

#[test]
fn start_of_the_default_lesson() {
    let mut m = model("sysenter");
    shots("start", &mut m);
}

#[test]
fn just_after_sysenter() {
    let mut m = model("sysenter");
    let s = state_at(&m, "sysenter_entry");
    m.goto(s);
    let text = buffer_text(&render_buffer(&m, 200, 60));
    assert!(text.contains("mode transition, ring 3 -> ring 0, PID unchanged"));
    assert!(text.contains("IA32_SYSENTER_EIP"));
    shots("after_sysenter", &mut m);
}

#[test]
fn inside_sysenter_entry_with_pt_regs_built() {
    let mut m = model("sysenter");
    let s = state_at(&m, "sysenter_past_esp") + 30;
    m.goto(s);
    let text = buffer_text(&render_buffer(&m, 200, 60));
    assert!(text.contains("pt_regs->eax (+0x18)"), "{text}");
    assert!(text.contains("pt_regs->ebx (+0x0)"), "{text}");
    shots("pt_regs", &mut m);
}

#[test]
fn just_after_sysexit() {
    let mut m = model("sysenter");
    let s = state_at(&m, "SYSENTER_RETURN");
    m.goto(s);
    let text = buffer_text(&render_buffer(&m, 200, 60));
    assert!(text.contains("mode transition, ring 0 -> ring 3, PID unchanged"));
    shots("after_sysexit", &mut m);
}

#[test]
fn a_fault() {
    let l = shipped("faults");
    let mut m = Model::new(l, &Options::default(), Keymap::shipped()).unwrap();
    // The first scene that ends with a fault, at its end.
    while m.run.played.fault().is_none() {
        m.goto(m.run.last_state());
        update(&mut m, Msg::Action(Action::StepForward));
    }
    m.goto(m.run.last_state());
    assert!(m.snap.fault);
    let text = buffer_text(&render_buffer(&m, 200, 60));
    assert!(text.contains("FAULT"), "{text}");
    shots("fault", &mut m);
}

#[test]
fn a_question() {
    let mut m = model("sysenter");
    let q = m.run.played.marks[1].state;
    m.goto(q);
    assert!(m.waiting_for_answer());
    shots("question", &mut m);
    update(&mut m, Msg::Action(Action::AnswerChoice(2)));
    let text = buffer_text(&render_buffer(&m, 120, 40));
    assert!(text.contains("not quite"), "{text}");
    update(&mut m, Msg::Action(Action::AnswerChoice(1)));
    shots("question_answered", &mut m);
}

#[test]
fn help_overlay() {
    let mut m = model("sysenter");
    update(&mut m, Msg::Action(Action::Help));
    assert_eq!(m.overlay, Overlay::Help);
    let text = buffer_text(&render_buffer(&m, 120, 40));
    for b in &m.keymap.bindings {
        assert!(text.contains(&b.en), "help lists `{}`", b.en);
    }
    shots("help", &mut m);
}

#[test]
fn too_small_then_resized() {
    let mut m = model("sysenter");
    for (w, h) in [(79, 24), (80, 23), (40, 10)] {
        update(&mut m, Msg::Resize(w, h));
        let text = buffer_text(&render_buffer(&m, w, h));
        assert!(text.contains("80x24"), "{w}x{h}:\n{text}");
        insta::assert_snapshot!(format!("too_small_{w}x{h}"), text);
    }
    // A terminal of 1x1 or 0 rows does not panic either.
    for (w, h) in [(1, 1), (0, 0), (250, 3)] {
        let _ = render_buffer(&m, w, h);
    }
    update(&mut m, Msg::Resize(80, 24));
    let text = buffer_text(&render_buffer(&m, 80, 24));
    assert!(!text.contains("at least"));
    assert!(text.contains("__kernel_vsyscall"));
}

#[test]
fn every_size_up_to_250x70_draws() {
    let mut m = model("sysenter");
    for (w, h) in [(80, 24), (100, 30), (120, 36), (160, 48), (250, 70)] {
        for pos in [0, 7, 30, m.run.last_state()] {
            m.goto(pos);
            update(&mut m, Msg::Resize(w, h));
            let text = buffer_text(&render_buffer(&m, w, h));
            assert!(text.contains("CPL"), "{w}x{h} at {pos}");
        }
    }
}

#[test]
fn colours_follow_no_color_and_high_contrast() {
    let mut m = model("sysenter");
    m.goto(state_at(&m, "sysenter_entry"));
    let colours = |m: &Model| {
        let b = render_buffer(m, 120, 40);
        b.content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert!(colours(&m) > 0);
    m.color = false;
    assert_eq!(colours(&m), 0, "NO_COLOR: no colours at all");
    // Without colour the current line is still marked, by reverse video.
    let b = render_buffer(&m, 120, 40);
    assert!(b
        .content()
        .iter()
        .any(|c| c.modifier.contains(Modifier::REVERSED)));
    m.color = true;
    update(&mut m, Msg::Action(Action::ToggleContrast));
    let b = render_buffer(&m, 120, 40);
    assert!(b
        .content()
        .iter()
        .all(|c| c.bg != Color::Reset && c.bg != Color::DarkGray));
}

/// The debugger's views at 120x40 and 80x24 (the compact layout too).
fn debug_shots(name: &str, m: &mut Model) {
    for (w, h) in [(120, 40), (80, 24)] {
        update(m, Msg::Resize(w, h));
        let text = buffer_text(&render_buffer(m, w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

#[test]
fn memory_view_following_esp_inside_sysenter_entry() {
    let mut m = model("sysenter");
    m.goto(state_at(&m, "sysenter_past_esp") + 4);
    update(&mut m, Msg::Action(Action::MemoryView));
    let text = buffer_text(&render_buffer(&m, 120, 40));
    assert!(text.contains("← ESP"), "{text}");
    debug_shots("memory", &mut m);
    m.run_line("x sysenter_entry");
    debug_shots("memory_at_symbol", &mut m);
}

#[test]
fn descriptor_tables_of_the_sysenter_lesson() {
    let mut m = model("sysenter");
    m.goto(state_at(&m, "sysenter_entry"));
    update(&mut m, Msg::Action(Action::TablesView));
    debug_shots("gdt", &mut m);
    update(&mut m, Msg::Action(Action::TablesView));
    debug_shots("idt", &mut m);
    update(&mut m, Msg::Action(Action::TablesView));
    debug_shots("tss", &mut m);
}

/// Each header word of the IDT inspector starts where its column starts in a gate row.
fn idt_columns_line_up(m: &mut Model, row_with: &str) {
    update(m, Msg::Resize(120, 40));
    let text = buffer_text(&render_buffer(m, 120, 40));
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let find = |want: &str| {
        lines
            .iter()
            .find(|l| l.iter().collect::<String>().contains(want))
            .unwrap_or_else(|| panic!("no line with {want}:\n{text}"))
    };
    let head = find("selector:offset");
    let row = find(row_with);
    let head_s: String = head.iter().collect();
    // A gate without a name leaves the name column empty.
    let named = row_with.contains("0x80");
    for word in ["name", "type", "DPL", "P ", "selector:offset"] {
        if word == "name" && !named {
            continue;
        }
        let col = head_s[..head_s.find(word).unwrap()].chars().count();
        assert!(
            row[col] != ' ' && row[col - 1] == ' ',
            "`{word}` at column {col}:\n{head_s}\n{}",
            row.iter().collect::<String>()
        );
    }
}

#[test]
fn the_idt_header_lines_up_with_its_rows() {
    let mut m = model("sysenter");
    m.goto(state_at(&m, "sysenter_entry"));
    update(&mut m, Msg::Action(Action::TablesView));
    update(&mut m, Msg::Action(Action::TablesView));
    idt_columns_line_up(&mut m, "int 0x80");
    idt_columns_line_up(&mut m, "interrupt gate");
}

#[test]
fn the_lesson_picker_rows_line_up_whether_current_or_not() {
    let mut m = model("int80");
    update(&mut m, Msg::Action(Action::LessonPicker));
    let text = buffer_text(&render_buffer(&m, 120, 40));
    let ids: Vec<String> = m.lessons.iter().map(|e| e.id.clone()).collect();
    let mut cols = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let row = text
            .lines()
            .find(|l| l.contains(&format!("{}. {id} ", i + 1)))
            .unwrap_or_else(|| panic!("no row for {id}:\n{text}"));
        let at = row.find(&format!("{}. {id}", i + 1)).unwrap();
        cols.push(row[..at].chars().count());
        assert_eq!(row.contains('•'), id == "int80", "{row}");
    }
    assert!(cols.iter().all(|c| *c == cols[0]), "{cols:?}:\n{text}");
}

#[test]
fn command_line_with_completions() {
    let mut m = model("sysenter");
    update(&mut m, Msg::Action(Action::CommandLine));
    for c in "break sysenter_".chars() {
        update(
            &mut m,
            Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::Char(c),
                crossterm::event::KeyModifiers::NONE,
            )),
        );
    }
    update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Tab,
            crossterm::event::KeyModifiers::NONE,
        )),
    );
    debug_shots("cmdline", &mut m);
}
