//! The viewer's cost overlay (`:cost`): at 80x24, 120x40 and 160x48, in English and
//! German, it shows every counter with the engine's numbers for the last step, the
//! scene so far and the three round trips, none of them cut; stepping back changes the
//! numbers with the position, and any key closes it.

use ringstep::engine::cost::FIELDS;
use ringstep::lesson::cost::{compare, counter_label};
use ringstep::lesson::{self, Lang};
use ringstep::tui::{buffer_text, render_buffer, update, Action, Keymap, Model, Msg, Options};

fn model(lang: Lang, (w, h): (u16, u16)) -> Model {
    let l = lesson::load_shipped("cost")
        .expect("shipped")
        .expect("loads");
    let opts = Options {
        lang,
        animation: false,
        ..Options::default()
    };
    let mut m = Model::new(l, &opts, Keymap::shipped()).expect("a model");
    m.lang = lang;
    update(&mut m, Msg::Resize(w, h));
    m
}

/// The screen's rows, each with runs of spaces collapsed.
fn rows(m: &Model) -> Vec<String> {
    let text = buffer_text(&render_buffer(m, m.size.0, m.size.1));
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn the_cost_overlay_shows_the_engines_numbers_whole() {
    let trips = compare().expect("the shipped scenes");
    for size in [(80, 24), (120, 40), (160, 48)] {
        for lang in Lang::ALL {
            let mut m = model(lang, size);
            // Two steps: `movl`, then `int $0x80`.
            update(&mut m, Msg::Action(Action::StepForward));
            update(&mut m, Msg::Action(Action::StepForward));
            m.run_line("cost");
            let screen = rows(&m);
            let (step, scene) = (m.snap.step_cost, m.snap.cost);
            assert_eq!(step.gate_reads, 1, "the last step is int $0x80");
            for (name, read) in FIELDS {
                let label = counter_label(name, lang);
                let cells: Vec<String> = trips
                    .iter()
                    .map(|(_, t)| {
                        format!("{}/{}/{}", read(&t.entry), read(&t.exit), read(&t.round))
                    })
                    .collect();
                let want = format!(
                    "{label} {} {} | {}",
                    read(&step),
                    read(&scene),
                    cells.join(" ")
                );
                assert!(
                    screen.iter().any(|r| r.contains(&want)),
                    "{size:?} {lang:?}: no row `{want}` on\n{}",
                    screen.join("\n")
                );
            }
            update(&mut m, Msg::Action(Action::StepBack));
            assert_eq!(
                m.snap.cost.gate_reads, 0,
                "stepping back takes the gate read off"
            );
        }
    }
}

#[test]
fn any_key_closes_the_cost_overlay() {
    let mut m = model(Lang::En, (120, 40));
    m.run_line("cost");
    assert_eq!(m.overlay, ringstep::tui::app::Overlay::Cost);
    let space = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(' '));
    update(&mut m, Msg::Key(space));
    assert_eq!(m.overlay, ringstep::tui::app::Overlay::None);
    assert_eq!(m.pos, 0, "the key closed the overlay and did not step");
}
