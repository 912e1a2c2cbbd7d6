//! While the "terminal too small" message is shown, nothing moves invisibly: keys other
//! than quit, the mouse and autoplay leave the lesson where it is; quit still quits, and
//! once the terminal is large enough again the keys work.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ringstep::lesson;
use ringstep::tui::app::Overlay;
use ringstep::tui::{update, Keymap, Model, Msg, Options};

fn model(opts: Options) -> Model {
    let l = lesson::load_shipped("sysenter")
        .expect("a shipped lesson")
        .expect("it loads");
    let mut m = Model::new(l, &opts, Keymap::shipped()).expect("a model");
    update(&mut m, Msg::Resize(60, 20));
    assert!(m.panes().too_small, "60x20 is too small");
    m
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

#[test]
fn keys_do_not_step_the_lesson_while_the_terminal_is_too_small() {
    let mut m = model(Options::default());
    for code in [
        KeyCode::Char('n'),
        KeyCode::Char(' '),
        KeyCode::Right,
        KeyCode::Char('c'),
        KeyCode::Char('G'),
        KeyCode::Char(':'),
        KeyCode::Char('a'),
        KeyCode::Char('1'),
        KeyCode::Char('o'),
        KeyCode::Char('?'),
        KeyCode::Enter,
        KeyCode::Tab,
    ] {
        key(&mut m, code);
        assert_eq!((m.scene, m.pos), (0, 0), "{code:?} moved the lesson");
        assert!(
            m.debug.cmdline.is_none(),
            "{code:?} opened the command line"
        );
        assert!(m.input.is_none(), "{code:?} started an answer");
        assert_eq!(m.overlay, Overlay::None, "{code:?} opened an overlay");
        assert!(!m.quit);
    }
    update(&mut m, Msg::Click(10, 5));
    update(
        &mut m,
        Msg::Scroll {
            col: 10,
            row: 5,
            down: true,
        },
    );
    assert_eq!(m.selected, None);
    // Large enough again: the keys work.
    update(&mut m, Msg::Resize(120, 40));
    key(&mut m, KeyCode::Char('n'));
    assert_eq!(m.pos, 1);
}

#[test]
fn quit_and_ctrl_c_still_quit_while_the_terminal_is_too_small() {
    let mut m = model(Options::default());
    key(&mut m, KeyCode::Char('q'));
    assert!(m.quit);
    let mut m = model(Options::default());
    update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(m.quit);
}

#[test]
fn autoplay_waits_while_the_terminal_is_too_small() {
    let mut m = model(Options {
        autoplay: Some(0.5),
        ..Options::default()
    });
    for t in (0..20).map(|i| i * 500) {
        update(&mut m, Msg::Tick(t));
    }
    assert_eq!(m.pos, 0, "autoplay stepped while nothing could be seen");
    update(&mut m, Msg::Resize(120, 40));
    update(&mut m, Msg::Tick(20_000));
    update(&mut m, Msg::Tick(21_000));
    assert!(
        m.pos > 0,
        "autoplay goes on once the terminal is large enough"
    );
}
