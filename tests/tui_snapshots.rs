//! The screen, drawn with ratatui's TestBackend, at 80x24, 120x40 and 200x60 for the
//! states a student sees most: the start of the default lesson, just after `sysenter`,
//! inside `sysenter_entry` with pt_regs built, just after `sysexit`, a fault, a
//! question, the help overlay; and the message for a terminal that is too small.
//! Snapshots are plain text (insta); colours are checked separately.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
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
    // The first choice question: ESP after `sysenter` (the first question is typed).
    let q = m.run.played.marks[4].state;
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

fn press(m: &mut Model, code: KeyCode) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// At 80x24 the help does not fit: it scrolls (line and page keys), every description
/// is shown whole somewhere on the way (nothing cut with an ellipsis), and another key
/// closes it.
#[test]
fn help_scrolls_at_80x24_and_cuts_nothing() {
    for lang in [Action::ToggleLang, Action::Help] {
        let mut m = model("sysenter");
        if lang == Action::ToggleLang {
            update(&mut m, Msg::Action(Action::ToggleLang));
        }
        update(&mut m, Msg::Resize(80, 24));
        update(&mut m, Msg::Action(Action::Help));
        let mut seen = String::new();
        for _ in 0..60 {
            let text = buffer_text(&render_buffer(&m, 80, 24));
            assert!(!text.contains('…'), "help cut at 80x24:\n{text}");
            seen.push_str(&text);
            press(&mut m, KeyCode::Char('j'));
        }
        assert!(m.help_top > 0, "the help scrolled");
        assert_eq!(m.overlay, Overlay::Help, "scrolling keeps the help open");
        for b in &m.keymap.bindings {
            for word in b.description(m.lang).split_whitespace() {
                assert!(seen.contains(word), "`{word}` of `{}` shown", b.en);
            }
        }
        press(&mut m, KeyCode::PageUp);
        assert_eq!(m.overlay, Overlay::Help, "page keys keep the help open");
        press(&mut m, KeyCode::Char('n'));
        assert_eq!(m.overlay, Overlay::None, "another key closes the help");
    }
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
    // Nothing in colour 8 (dark grey): on solarized-like dark palettes it is the background.
    let b = render_buffer(&m, 120, 40);
    assert!(b.content().iter().all(|c| {
        let grey = |x: Color| x == Color::DarkGray || x == Color::Indexed(8);
        !grey(c.fg) && !grey(c.bg)
    }));
    update(&mut m, Msg::Action(Action::ToggleContrast));
    let b = render_buffer(&m, 120, 40);
    assert!(b
        .content()
        .iter()
        .all(|c| c.bg != Color::Reset && c.bg != Color::DarkGray));
    // High contrast marks the whole current line, the instruction too, not only its address.
    let r = m.panes().code.unwrap();
    let row = (r.y..r.y + r.height)
        .find(|&y| (r.x..r.x + r.width).any(|x| b[(x, y)].symbol() == "▶"))
        .unwrap();
    let bar = b[(r.x + 3, row)].bg;
    assert_ne!(bar, Color::Black);
    for x in r.x + 3..r.x + r.width - 1 {
        assert_eq!(b[(x, row)].bg, bar, "column {x} of the current line");
    }
}

#[test]
fn a_terminal_without_utf8_or_256_colours_gets_ascii_and_16_colours() {
    use ringstep::tui::degrade::Caps;
    let mut m = model("sysenter");
    m.goto(state_at(&m, "sysenter_past_esp") + 30);
    m.caps = Caps {
        unicode: false,
        colors256: false,
    };
    update(&mut m, Msg::Action(Action::ToggleContrast));
    update(&mut m, Msg::Action(Action::ToggleContrast));
    for (w, h) in [(80, 24), (120, 40)] {
        update(&mut m, Msg::Resize(w, h));
        let b = render_buffer(&m, w, h);
        for c in b.content() {
            assert!(c.symbol().is_ascii(), "{w}x{h}: `{}`", c.symbol());
            for col in [c.fg, c.bg] {
                assert!(
                    !matches!(col, Color::Indexed(16..) | Color::Rgb(..)),
                    "{col:?}"
                );
            }
        }
        insta::assert_snapshot!(format!("ascii_{w}x{h}"), buffer_text(&b));
    }
    // The animation's flash uses 256-colour shades; they come out as basic colours.
    m.caps = Caps::default();
    let b = render_buffer(&m, 120, 40);
    assert!(b.content().iter().any(|c| !c.symbol().is_ascii()));
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

/// The three sizes the content-driven layout is checked at.
const LAYOUT_SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (160, 48)];

fn model_in(id: &str, lang: ringstep::lesson::Lang) -> Model {
    let opts = Options {
        lang,
        ..Options::default()
    };
    let mut m = Model::new(shipped(id), &opts, Keymap::shipped()).unwrap();
    update(&mut m, Msg::Resize(120, 40));
    m
}

/// The first narrative step with a question, and the state with the most stack slots.
fn question_and_full_stacks(m: &mut Model) -> (usize, usize) {
    let q = m
        .run
        .played
        .marks
        .iter()
        .find(|k| {
            let sc = &m.lesson.scenes[m.scene];
            sc.steps[k.step].question.is_some()
        })
        .map(|k| k.state)
        .unwrap();
    let mut best = (0, 0);
    for s in 0..=m.run.last_state() {
        m.goto(s);
        let n = m.snap.user_stack.slots.len() + m.snap.kernel_stack.slots.len();
        if n > best.1 {
            best = (s, n);
        }
    }
    (q, best.0)
}

/// Runs of hex digits (with at least one decimal digit, five or more long) in `text`.
fn hex_runs(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            w.len() >= 5
                && w.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

/// Every hex number in the stacks pane has its full width, every shown slot shows its
/// address and value whole, and the stack pointer is marked.
fn assert_stacks_whole(m: &Model, w: u16, h: u16, what: &str) {
    let b = render_buffer(m, w, h);
    let Some(r) = m.panes().stacks else {
        return;
    };
    let digits = if m.snap.long { 16 } else { 8 };
    let mut text = String::new();
    for y in r.y..r.y + r.height {
        for x in r.x..r.x + r.width {
            text.push_str(b[(x, y)].symbol());
        }
        text.push('\n');
    }
    for run in hex_runs(&text) {
        assert_eq!(run.len(), digits, "{what}: `{run}` cut in\n{text}");
    }
    let mut shown = 0;
    for s in m
        .snap
        .user_stack
        .slots
        .iter()
        .chain(&m.snap.kernel_stack.slots)
    {
        let addr = format!("{:0digits$x}", s.addr);
        if text.contains(&addr) {
            let pair = format!("{addr} {:0digits$x}", s.value);
            assert!(text.contains(&pair), "{what}: `{pair}` in\n{text}");
            shown += 1;
        }
    }
    assert!(shown > 0, "{what}: no slot shown\n{text}");
    if let Some(c) = m.snap.context {
        let name = ringstep::tui::i18n::context(m.lang, c);
        assert!(
            text.contains(&format!(": {name}")),
            "{what}: context `{name}` in\n{text}"
        );
    }
    let active = [&m.snap.user_stack, &m.snap.kernel_stack]
        .iter()
        .any(|v| v.active && v.slots.iter().any(|s| s.is_sp));
    let sp = if m.snap.long { "◀rsp" } else { "◀esp" };
    assert!(!active || text.contains(sp), "{what}: no {sp} in\n{text}");
}

fn layout_shots(id: &str, tag: &str) {
    use ringstep::lesson::Lang;
    for (lang, code) in [(Lang::En, "en"), (Lang::De, "de")] {
        let mut m = model_in(id, lang);
        let (q, full) = question_and_full_stacks(&mut m);
        for (state, name) in [(q, "question"), (full, "stacks")] {
            m.goto(state);
            for (w, h) in LAYOUT_SIZES {
                update(&mut m, Msg::Resize(w, h));
                let what = format!("{tag}_{name}_{code}_{w}x{h}");
                if name == "stacks" || m.panes().stacks.is_some() {
                    assert_stacks_whole(&m, w, h, &what);
                }
                let text = buffer_text(&render_buffer(&m, w, h));
                assert_titles_whole_or_marked(&m, &text, &what);
                assert!(!cut_number(&text), "{what}: a number cut:\n{text}");
                if name == "question" {
                    assert_question_whole(&m, &text, &what);
                }
                insta::assert_snapshot!(what, text);
            }
            // The compact layout's stacks pane (Tab) keeps every value whole too.
            for (w, h) in [(80, 24), (100, 30)] {
                m.aux = 2;
                update(&mut m, Msg::Resize(w, h));
                assert_stacks_whole(&m, w, h, &format!("{tag}_{name}_{code}_{w}x{h}_tab"));
                m.aux = 0;
            }
        }
    }
}

/// The question's prompt start and every choice are on screen, and the answer hint.
fn assert_question_whole(m: &Model, text: &str, what: &str) {
    let step = m.question_step().unwrap();
    let q = m.lesson.scenes[m.scene].steps[step]
        .question
        .as_ref()
        .unwrap();
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let squash = |s: &str| {
        s.replace('`', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, c) in q.choices.iter().enumerate() {
        let head: String = squash(c.text.get(m.lang)).chars().take(12).collect();
        assert!(
            flat.contains(&head),
            "{what}: choice {} `{head}` missing:\n{text}",
            i + 1
        );
        assert!(
            text.contains(&format!("{})", i + 1)),
            "{what}: choice {}\n{text}",
            i + 1
        );
    }
    let prompt: String = squash(q.prompt.get(m.lang)).chars().take(12).collect();
    assert!(
        flat.contains(&prompt),
        "{what}: prompt `{prompt}` missing:\n{text}"
    );
    assert!(
        text.contains('»'),
        "{what}: the answer hint is missing:\n{text}"
    );
}

#[test]
fn layout_of_a_32_bit_lesson() {
    layout_shots("sysenter", "l32");
}

#[test]
fn layout_of_a_64_bit_lesson() {
    layout_shots("syscall64", "l64");
}

/// The scene title in the header and in the narrative's border is whole or ends in an
/// ellipsis; it never runs into the next field or the corner.
fn assert_titles_whole_or_marked(m: &Model, text: &str, what: &str) {
    let title = m.lesson.scenes[m.scene].title.get(m.lang);
    let header = text.lines().next().unwrap();
    let cpl = header.find(" CPL ").unwrap();
    let left = &header[..cpl];
    if left.contains(" · ") && !left.contains(title) {
        assert!(left.contains('…'), "{what}: header `{header}`");
    }
    assert!(left.ends_with(' '), "{what}: header `{header}`");
    for line in text.lines() {
        if let Some(i) = line.find(narrative_word(m)) {
            let rest = &line[i..];
            assert!(
                rest.contains(title) || rest.contains('…'),
                "{what}: narrative title `{rest}`"
            );
        }
    }
}

fn narrative_word(m: &Model) -> &'static str {
    match m.lang {
        ringstep::lesson::Lang::En => "┌ Narrative ",
        ringstep::lesson::Lang::De => "┌ Erzählung ",
    }
}

/// `0x` and hex digits directly followed by an ellipsis: a number cut on screen.
fn cut_number(text: &str) -> bool {
    text.match_indices("0x").any(|(i, _)| {
        let rest = &text[i + 2..];
        let digits = rest.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        rest[digits..].starts_with('…')
    })
}

/// The inspector rows of a screen: the lines between the inspector's top border (its
/// title starts with `title`) and its bottom border.
fn inspector_rows(text: &str, title: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(top) = lines.iter().position(|l| l.contains(title)) else {
        panic!("no inspector titled {title}:\n{text}");
    };
    lines[top + 1..]
        .iter()
        .take_while(|l| !l.starts_with('└'))
        .map(|l| l.to_string())
        .collect()
}

/// The page-table inspector (`t`) of the 64-bit lesson at its first state: the walk of
/// RIP through four levels and the mapped ranges, in English and German, at 80x24 and
/// 120x40. No value is cut at 80x24: scrolled through, no row ends in an ellipsis
/// except the lines of words.
#[test]
fn page_table_inspector_of_the_64_bit_lesson() {
    use ringstep::lesson::Lang;
    for (lang, tag, title) in [
        (Lang::En, "en", "Page tables"),
        (Lang::De, "de", "Seitentabellen"),
    ] {
        let mut m = model_in("syscall64", lang);
        update(&mut m, Msg::Action(Action::PageTablesView));
        for (w, h) in [(80, 24), (120, 40)] {
            update(&mut m, Msg::Resize(w, h));
            let text = buffer_text(&render_buffer(&m, w, h));
            insta::assert_snapshot!(format!("page_tables_{tag}_{w}x{h}"), text);
        }
        // Scroll through at 80x24: every row with a value is whole.
        update(&mut m, Msg::Resize(80, 24));
        let mut seen = Vec::new();
        for _ in 0..20 {
            let text = buffer_text(&render_buffer(&m, 80, 24));
            for row in inspector_rows(&text, title) {
                if !seen.contains(&row) {
                    seen.push(row);
                }
            }
            update(&mut m, Msg::Action(Action::ScrollDown));
        }
        let all = seen.join("\n");
        // Paging down shows every line once (the two head lines stay).
        for want in [
            "PML4E",
            "PDPTE",
            "PDE",
            "PTE",
            "CR3 0x",
            "0x401000 · 4 KiB",
            "0x0000000000401000-0x0000000000401fff",
            "0xffffffff82400000-0xffffffff82400fff",
        ] {
            assert!(all.contains(want), "{want} in\n{all}");
        }
        for row in &seen {
            if row.contains('…') {
                // Only a line of words (the meanings of the bits) may give way.
                assert!(!row.contains("0x") && !row.contains('='), "cut: {row}");
            }
        }
    }
}

/// At a fault stop the code pane lists the chain of events under the stop line, in the
/// viewer's language, whole at 80x24 (wrapped, not cut), with the faulting instruction
/// still in view.
#[test]
fn the_fault_chain_is_listed_whole_in_en_and_de() {
    use ringstep::lesson::Lang;
    for (lang, heading, first, second) in [
        (
            Lang::En,
            "how it came to this:",
            "1. #GP(0x0): SYSENTER with",
            "2. no handler for #GP: IDT entry 0xd",
        ),
        (
            Lang::De,
            "wie es dazu kam:",
            "1. #GP(0x0): SYSENTER mit",
            "2. kein Handler für #GP: IDT-Eintrag",
        ),
    ] {
        let mut m = model_in("faults", lang);
        while m.run.played.fault().is_none() {
            m.goto(m.run.last_state());
            update(&mut m, Msg::Action(Action::StepForward));
        }
        m.goto(m.run.last_state());
        assert_eq!(m.snap.chain.len(), 2, "{:?}", m.snap.chain);
        for (w, h) in [(80, 24), (120, 40)] {
            update(&mut m, Msg::Resize(w, h));
            let text = buffer_text(&render_buffer(&m, w, h));
            assert!(text.contains(heading), "{text}");
            assert!(text.contains("▶ffffe405 sysenter"), "{text}");
            assert!(text.contains(first), "{text}");
            assert!(text.contains(second), "{text}");
            // Every word of the chain is on the screen, none cut.
            for link in &m.snap.chain {
                for word in link.split_whitespace() {
                    assert!(text.contains(word), "{word} missing in\n{text}");
                }
            }
            assert!(!cut_number(&text), "a number cut:\n{text}");
        }
        // `:explain` opens the whole chain in the output inspector.
        m.execute(&ringstep::debug::Command::Explain);
        let out = &m.debug.output;
        assert_eq!(out.len(), 3, "{out:?}");
        let stop = match lang {
            Lang::En => "fault stop at 0xffffe405: #GP(0x0)",
            Lang::De => "Fault-Halt bei 0xffffe405: #GP(0x0)",
        };
        assert!(out[0].starts_with(stop), "{out:?}");
        let head = second.split(':').next().unwrap_or(second);
        assert!(out[2].starts_with(&format!("  {head}")), "{out:?}");
    }
}
