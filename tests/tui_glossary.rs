//! The glossary: lessons/glossary.toml loads, covers the terms the lessons rely on in
//! both languages, every one of them is reachable from a lesson step that uses it, and
//! the viewer shows it (`d` for the step's terms, `:glossary TERM` for one).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ringstep::lesson::glossary::Glossary;
use ringstep::lesson::{self, Lang};
use ringstep::tui::app::Overlay;
use ringstep::tui::panes::glossary::Shown;
use ringstep::tui::{buffer_text, render_buffer, update, Keymap, Model, Msg, Options};

fn model(id: &str, w: u16, h: u16) -> Model {
    let l = lesson::load_shipped(id).expect("shipped").expect("loads");
    let mut m = Model::new(l, &Options::default(), Keymap::shipped()).expect("a model");
    update(&mut m, Msg::Resize(w, h));
    m
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        key(m, KeyCode::Char(c));
    }
}

fn screen(m: &Model) -> String {
    buffer_text(&render_buffer(m, m.size.0, m.size.1))
}

/// The terms issue 15 names, and those the lessons lean on.
const NEEDED: &[&str] = &[
    "CPL",
    "DPL",
    "RPL",
    "MSR",
    "TSS",
    "GDT",
    "IDT",
    "gate",
    "pt_regs",
    "vDSO",
    "PTI",
    "sysenter",
    "syscall",
    "iret",
    "CR3",
    "mode transition",
    "context switch",
];

#[test]
fn the_glossary_has_the_terms_the_lessons_need_in_both_languages() {
    let g = Glossary::shipped().unwrap_or_else(|e| panic!("{e}"));
    for name in NEEDED {
        let i = g
            .find(name)
            .unwrap_or_else(|| panic!("no entry for {name}"));
        let t = &g.terms[i];
        for lang in [Lang::En, Lang::De] {
            let n = t.text.get(lang).matches(". ").count() + 1;
            assert!((2..=5).contains(&n), "{name} ({lang:?}) has {n} sentences");
        }
        assert!(!t.sources.is_empty(), "{name} cites no source");
    }
}

/// Every needed term is used by some shipped lesson step, in each language, so `d`
/// reaches it from there.
#[test]
fn every_term_is_reachable_from_a_step_that_uses_it() {
    let g = Glossary::shipped().expect("loads");
    let lessons: Vec<_> = lesson::library::ids()
        .map(|id| lesson::load_shipped(id).expect("shipped").expect("loads"))
        .collect();
    for lang in [Lang::En, Lang::De] {
        for name in NEEDED {
            let i = g.find(name).expect("an entry");
            let used = lessons.iter().any(|l| {
                l.scenes
                    .iter()
                    .flat_map(|s| &s.steps)
                    .any(|st| g.used_in(st.text.get(lang)).contains(&i))
            });
            assert!(used, "no {lang:?} lesson step uses `{name}`");
        }
    }
}

#[test]
fn d_shows_the_terms_of_the_step_and_esc_closes() {
    let mut m = model("sysenter", 120, 40);
    m.goto(1);
    key(&mut m, KeyCode::Char('d'));
    assert_eq!(m.overlay, Overlay::Glossary(Shown::Step));
    let terms = ringstep::tui::panes::glossary::terms(&m, Shown::Step);
    assert!(!terms.is_empty() && terms.len() < m.glossary.terms.len());
    let s = screen(&m);
    assert!(s.contains("Glossary · the terms of this step"), "{s}");
    let first = &m.glossary.terms[terms[0]];
    assert!(
        s.contains(&format!("{} - {}", first.name, first.title.en)),
        "{s}"
    );
    key(&mut m, KeyCode::Esc);
    assert_eq!(m.overlay, Overlay::None);
}

#[test]
fn glossary_command_finds_a_term_in_any_case_and_refuses_an_unknown_one() {
    for (lang, title) in [(Lang::En, "Task-State Segment"), (Lang::De, "Glossar")] {
        let mut m = model("int80", 160, 48);
        m.lang = lang;
        key(&mut m, KeyCode::Char(':'));
        typed(&mut m, "glossary tss");
        key(&mut m, KeyCode::Enter);
        let i = m.glossary.find("TSS").expect("TSS");
        assert_eq!(m.overlay, Overlay::Glossary(Shown::Term(i)));
        let s = screen(&m);
        assert!(s.contains(title), "{s}");
        assert!(s.contains("7.2.1"), "the source is shown: {s}");
        key(&mut m, KeyCode::Esc);
        key(&mut m, KeyCode::Char(':'));
        typed(&mut m, "gl nosuchterm");
        key(&mut m, KeyCode::Enter);
        assert_eq!(m.overlay, Overlay::None);
        assert!(screen(&m).contains("nosuchterm"), "{}", screen(&m));
    }
}

#[test]
fn all_terms_scroll_on_a_small_terminal_and_nothing_is_cut() {
    let mut m = model("sysenter", 80, 24);
    key(&mut m, KeyCode::Char(':'));
    typed(&mut m, "glossary");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.overlay, Overlay::Glossary(Shown::All));
    let (total, rows) = ringstep::tui::panes::glossary::scroll(&m, Shown::All);
    assert!(total > rows);
    let mut seen = String::new();
    for _ in 0..total {
        seen.push_str(&screen(&m));
        key(&mut m, KeyCode::Down);
    }
    assert_eq!(
        m.help_top,
        total - rows,
        "scrolls to the last row, no further"
    );
    for t in &m.glossary.terms {
        assert!(
            seen.contains(&format!("{} -", t.name)),
            "{} never shown",
            t.name
        );
    }
}
