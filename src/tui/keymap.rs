//! Key bindings as data: `assets/keymap.toml` is compiled in, a user file may replace the
//! keys of any action. Every binding has a description in each language, and the help
//! overlay is generated from the map.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keymap_file::{self, Src};
use crate::lesson::Lang;

/// The shipped key map.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Everything a key can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    StepForward,
    StepBack,
    NextStop,
    PrevStop,
    Run,
    /// Back to the previous breakpoint or watchpoint hit.
    ReverseRun,
    /// Forward until the CPL changes.
    UntilCpl,
    /// A step that runs a `call` to its return.
    StepOver,
    /// The next / previous privilege change, exception or interrupt on the timeline.
    NextEvent,
    PrevEvent,
    /// Open the `:` command line.
    CommandLine,
    MemoryView,
    /// GDT, IDT, TSS in turn.
    TablesView,
    /// The page-table inspector.
    PageTablesView,
    /// The breakpoint and watchpoint list.
    PointsView,
    /// The glossary: the terms the current step uses.
    Glossary,
    /// The memory view follows the stack pointer.
    FollowSp,
    Restart,
    ToggleBreakpoint,
    SelectUp,
    SelectDown,
    ToggleSyntax,
    ToggleLang,
    LessonPicker,
    /// Choice `n` (1-based) of the current question.
    AnswerChoice(u8),
    AnswerType,
    CyclePane,
    ScrollDown,
    ScrollUp,
    ToggleAutoplay,
    ToggleContrast,
    Confirm,
    Cancel,
    Help,
    Quit,
}

/// Action names as the key map file spells them, in help order.
pub const ACTION_NAMES: &[&str] = &[
    "step_forward",
    "step_back",
    "next_stop",
    "prev_stop",
    "run",
    "reverse_run",
    "until_cpl",
    "step_over",
    "next_event",
    "prev_event",
    "command_line",
    "memory_view",
    "tables_view",
    "page_tables",
    "points_view",
    "glossary",
    "follow_sp",
    "restart",
    "toggle_breakpoint",
    "select_up",
    "select_down",
    "toggle_syntax",
    "toggle_lang",
    "lesson_picker",
    "answer_choice",
    "answer_type",
    "cycle_pane",
    "scroll_down",
    "scroll_up",
    "toggle_autoplay",
    "toggle_contrast",
    "confirm",
    "cancel",
    "help",
    "quit",
];

impl Action {
    /// The action a name in the key map stands for (`answer_choice` stands for all
    /// choices; the digit of the key picks one).
    fn from_name(name: &str) -> Option<Action> {
        Some(match name {
            "step_forward" => Action::StepForward,
            "step_back" => Action::StepBack,
            "next_stop" => Action::NextStop,
            "prev_stop" => Action::PrevStop,
            "run" => Action::Run,
            "reverse_run" => Action::ReverseRun,
            "until_cpl" => Action::UntilCpl,
            "step_over" => Action::StepOver,
            "next_event" => Action::NextEvent,
            "prev_event" => Action::PrevEvent,
            "command_line" => Action::CommandLine,
            "memory_view" => Action::MemoryView,
            "tables_view" => Action::TablesView,
            "page_tables" => Action::PageTablesView,
            "points_view" => Action::PointsView,
            "glossary" => Action::Glossary,
            "follow_sp" => Action::FollowSp,
            "restart" => Action::Restart,
            "toggle_breakpoint" => Action::ToggleBreakpoint,
            "select_up" => Action::SelectUp,
            "select_down" => Action::SelectDown,
            "toggle_syntax" => Action::ToggleSyntax,
            "toggle_lang" => Action::ToggleLang,
            "lesson_picker" => Action::LessonPicker,
            "answer_choice" => Action::AnswerChoice(0),
            "answer_type" => Action::AnswerType,
            "cycle_pane" => Action::CyclePane,
            "scroll_down" => Action::ScrollDown,
            "scroll_up" => Action::ScrollUp,
            "toggle_autoplay" => Action::ToggleAutoplay,
            "toggle_contrast" => Action::ToggleContrast,
            "confirm" => Action::Confirm,
            "cancel" => Action::Cancel,
            "help" => Action::Help,
            "quit" => Action::Quit,
            _ => return None,
        })
    }
}

/// A key with its modifiers, as written in the key map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn plain(code: KeyCode) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// Parse `n`, `space`, `ctrl-c`, `f1`, `P`.
    pub fn parse(spec: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = spec;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.chars().count() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" => KeyCode::PageUp,
                "pagedown" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                other => match other.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                    Some(n) if (1..=12).contains(&n) => KeyCode::F(n),
                    _ => {
                        return Err(format!(
                            "unknown key `{spec}` (write a single character, or space, enter, esc, tab, backspace, up, down, left, right, pageup, pagedown, home, end, f1..f12, with ctrl- or alt-)"
                        ))
                    }
                },
            },
        };
        Ok(Key { code, ctrl, alt })
    }

    /// The key of a terminal event (shift is part of the character).
    pub fn of_event(e: &KeyEvent) -> Key {
        let code = match e.code {
            KeyCode::Char(c) if e.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            c => c,
        };
        Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        }
    }

    /// How the help overlay writes the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "shift-tab".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Delete => "delete".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut s = String::new();
        if self.ctrl {
            s.push_str("ctrl-");
        }
        if self.alt {
            s.push_str("alt-");
        }
        s.push_str(&base);
        s
    }
}

/// One action's binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The name in the key map file.
    pub name: &'static str,
    pub keys: Vec<Key>,
    pub en: String,
    pub de: String,
}

impl Binding {
    pub fn description(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::De => &self.de,
        }
    }

    /// The keys as the help overlay shows them (`1`..`9` as a range).
    pub fn keys_label(&self) -> String {
        if self.name == "answer_choice" && self.keys.len() > 2 {
            let first = self.keys.first().map(Key::label).unwrap_or_default();
            let last = self.keys.last().map(Key::label).unwrap_or_default();
            return format!("{first}..{last}");
        }
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The whole key map, in help order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
    lookup: HashMap<Key, Action>,
}

/// Where a user key map is looked for when none is given.
pub fn user_keymap_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ringstep").join("keymap.toml"))
}

/// Whether a default key map path leads to something: "not found" and "permission
/// denied" or "not a directory" on a folder on the way mean there is no user key map.
fn reachable(path: &Path) -> bool {
    use std::io::ErrorKind;
    match std::fs::metadata(path) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::NotADirectory
        ),
    }
}

/// Which action each key stands for; `answer_choice` keys pick the choice of their digit.
fn lookup_of(bindings: &[Binding]) -> HashMap<Key, Action> {
    let mut lookup = HashMap::new();
    for b in bindings {
        let Some(action) = Action::from_name(b.name) else {
            continue;
        };
        for (i, k) in b.keys.iter().enumerate() {
            let a = match action {
                Action::AnswerChoice(_) => match k.code {
                    KeyCode::Char(c) if c.is_ascii_digit() && c != '0' => {
                        Action::AnswerChoice(c as u8 - b'0')
                    }
                    _ => Action::AnswerChoice(i as u8 + 1),
                },
                a => a,
            };
            lookup.insert(*k, a);
        }
    }
    lookup
}

impl Keymap {
    /// The shipped key map.
    pub fn shipped() -> Keymap {
        match Keymap::from_str(DEFAULT_KEYMAP, "assets/keymap.toml", None) {
            Ok(k) => k,
            // The shipped map is tested; an empty map still lets q quit.
            Err(_) => Keymap {
                bindings: Vec::new(),
                lookup: HashMap::from([(Key::plain(KeyCode::Char('q')), Action::Quit)]),
            },
        }
    }

    /// The shipped key map with a user file laid over it. A file looked for by default
    /// (`required` false) that cannot be reached (missing, or a folder on the way that
    /// is missing, not a folder or not searchable) counts as absent; a file that is
    /// there but cannot be read or is not a valid key map is an error naming it.
    pub fn load(user: Option<&Path>, required: bool) -> Result<Keymap, String> {
        let Some(path) = user else {
            return Ok(Keymap::shipped());
        };
        if !required && !reachable(path) {
            return Ok(Keymap::shipped());
        }
        let origin = path.display().to_string();
        let text = match crate::userfile::read_text(path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Keymap::shipped())
            }
            Err(e) => return Err(format!("{origin}: cannot read the key map: {e}")),
        };
        Keymap::from_str(DEFAULT_KEYMAP, "assets/keymap.toml", Some((&text, &origin)))
    }

    /// Build from the base map text and an optional override `(text, origin)`. A user
    /// file replaces the keys of the actions it lists; a key bound to two actions, or
    /// `quit` or `help` without a key, is refused with the place in the file.
    pub fn from_str(
        base: &str,
        base_origin: &str,
        user: Option<(&str, &str)>,
    ) -> Result<Keymap, String> {
        let base_src = Src {
            text: base,
            origin: base_origin,
        };
        let base_read = keymap_file::read(base_src, true)?;
        keymap_file::check_unique(base_src, &base_read)?;
        let mut bindings: Vec<Binding> = base_read.iter().map(|p| p.binding.clone()).collect();
        let mut files = vec![(base_src, base_read)];
        if let Some((text, origin)) = user {
            let src = Src { text, origin };
            let mine = keymap_file::read(src, false)?;
            keymap_file::check_unique(src, &mine)?;
            keymap_file::check_against_base(src, &mine, base_src, &files[0].1)?;
            for b in mine.iter().map(|p| &p.binding) {
                if let Some(slot) = bindings.iter_mut().find(|x| x.name == b.name) {
                    slot.keys = b.keys.clone();
                    if !b.en.is_empty() {
                        slot.en = b.en.clone();
                    }
                    if !b.de.is_empty() {
                        slot.de = b.de.clone();
                    }
                }
            }
            files.push((src, mine));
        }
        let placed: Vec<(Src, &[keymap_file::Placed])> =
            files.iter().map(|(s, p)| (*s, p.as_slice())).collect();
        keymap_file::check_required(&placed, &bindings)?;
        bindings.sort_by_key(|b| ACTION_NAMES.iter().position(|n| *n == b.name));
        let lookup = lookup_of(&bindings);
        Ok(Keymap { bindings, lookup })
    }

    /// The action bound to a key press, if any.
    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        if e.kind == KeyEventKind::Release {
            return None;
        }
        self.lookup.get(&Key::of_event(e)).copied()
    }

    /// The first key bound to an action, for hints; None for an action without keys.
    pub fn first_key(&self, name: &str) -> Option<String> {
        self.bindings
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.keys.first())
            .map(Key::label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn shipped_map_binds_every_action_with_descriptions() {
        let k = Keymap::from_str(DEFAULT_KEYMAP, "assets/keymap.toml", None).unwrap();
        assert_eq!(k.bindings.len(), ACTION_NAMES.len());
        for b in &k.bindings {
            assert!(!b.keys.is_empty(), "{}", b.name);
            assert!(!b.en.is_empty() && !b.de.is_empty(), "{}", b.name);
        }
        let none = KeyModifiers::NONE;
        assert_eq!(
            k.action(&press(KeyCode::Char(' '), none)),
            Some(Action::StepForward)
        );
        assert_eq!(
            k.action(&press(KeyCode::Right, none)),
            Some(Action::StepForward)
        );
        assert_eq!(
            k.action(&press(KeyCode::Backspace, none)),
            Some(Action::StepBack)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('3'), none)),
            Some(Action::AnswerChoice(3))
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('P'), KeyModifiers::SHIFT)),
            Some(Action::ToggleAutoplay)
        );
        assert_eq!(k.action(&press(KeyCode::Char('Z'), none)), None);
    }

    #[test]
    fn no_key_is_bound_twice() {
        let k = Keymap::shipped();
        let mut seen = HashMap::new();
        for b in &k.bindings {
            for key in &b.keys {
                if let Some(other) = seen.insert(*key, b.name) {
                    panic!("{} bound to {other} and {}", key.label(), b.name);
                }
            }
        }
    }

    #[test]
    fn a_user_file_replaces_keys() {
        let user = "[step_forward]\nkeys = [\"e\"]\n";
        let k = Keymap::from_str(DEFAULT_KEYMAP, "base", Some((user, "mine.toml"))).unwrap();
        let none = KeyModifiers::NONE;
        assert_eq!(
            k.action(&press(KeyCode::Char('e'), none)),
            Some(Action::StepForward)
        );
        assert_eq!(k.action(&press(KeyCode::Char('n'), none)), None);
        let b = k
            .bindings
            .iter()
            .find(|b| b.name == "step_forward")
            .unwrap();
        assert_eq!(b.en, "step forward one instruction");
    }

    #[test]
    fn user_file_errors_are_located() {
        let e = Keymap::from_str(
            DEFAULT_KEYMAP,
            "b",
            Some(("\n[step_forwrd]\nkeys=[]\n", "u.toml")),
        )
        .unwrap_err();
        assert!(
            e.starts_with("u.toml:2:2: unknown action `step_forwrd`"),
            "{e}"
        );
        assert!(e.contains("did you mean `step_forward`"), "{e}");
        let e = Keymap::from_str(
            DEFAULT_KEYMAP,
            "b",
            Some(("[quit]\nkeys=[\"hyper-x\"]\n", "u.toml")),
        )
        .unwrap_err();
        assert!(e.contains("unknown key `hyper-x`"), "{e}");
        let e = Keymap::from_str(DEFAULT_KEYMAP, "b", Some(("[quit\n", "u.toml"))).unwrap_err();
        assert!(e.starts_with("u.toml:1:"), "{e}");
    }

    fn user(text: &str) -> Result<Keymap, String> {
        Keymap::from_str(DEFAULT_KEYMAP, "shipped.toml", Some((text, "u.toml")))
    }

    #[test]
    fn errors_point_at_the_offending_part() {
        let cases = [
            (
                "# [step_forward] is below\n[step_forward]\nkeys = [\"n\", \"hyper-x\"]\n",
                "u.toml:3:14: [step_forward]: unknown key `hyper-x`",
            ),
            (
                "[help]\nkeys = [\"f1\"]\n\n[quit]\nkeys = [\"x\"]\ncolour = \"red\"\n",
                "u.toml:6:1: unknown field `colour` in [quit]",
            ),
            (
                "quit.keys = 3\n[help]\nkeys = [\"f1\"]\n",
                "u.toml:1:13: [quit] keys must be a list",
            ),
            (
                "[help]\nkeys = [\"f1\"]\n  [ jump ]\nkeys = []\n",
                "u.toml:3:5: unknown action `jump`",
            ),
            (
                "[help]\nkeys = [\"f1\", 7]\n",
                "u.toml:2:15: [help] keys must be strings",
            ),
            (
                "[help]\nen = \"help\"\n",
                "u.toml:1:2: [help] needs `keys = [...]`",
            ),
            ("[help]\nkeys = [\"f1\"\n", "u.toml:2:13: unclosed array"),
        ];
        for (text, want) in cases {
            let e = user(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}:\n{e}\nwanted: {want}");
        }
    }

    #[test]
    fn a_key_bound_to_two_actions_is_refused() {
        let e = user("[step_forward]\nkeys = [\"space\", \"q\"]\n").unwrap_err();
        assert_eq!(
            e,
            "u.toml:2:18: key `q` is already bound to `quit` in shipped.toml; give [quit] other keys in this file too"
        );
        let e = user("[run]\nkeys = [\"f\"]\n[step_back]\nkeys = [\"b\", \"f\"]\n").unwrap_err();
        assert_eq!(
            e,
            "u.toml:4:14: key `f` is already bound to `run` at 2:9; a key can do one thing"
        );
        // In the shipped file too.
        let e = Keymap::from_str(
            &DEFAULT_KEYMAP.replace("keys = [\"c\"]", "keys = [\"n\"]"),
            "shipped.toml",
            None,
        )
        .unwrap_err();
        assert!(
            e.starts_with("shipped.toml:37:9: key `n` is already bound to `step_forward` at 17:18"),
            "{e}"
        );
        // Giving the other action other keys in the same file is fine, and the help
        // lists each key once.
        let k = user("[step_forward]\nkeys = [\"q\"]\n[quit]\nkeys = [\"x\"]\n").unwrap();
        let none = KeyModifiers::NONE;
        let q = press(KeyCode::Char('q'), none);
        assert_eq!(k.action(&q), Some(Action::StepForward));
        assert_eq!(
            k.action(&press(KeyCode::Char('x'), none)),
            Some(Action::Quit)
        );
        let labels: Vec<String> = k.bindings.iter().map(Binding::keys_label).collect();
        assert_eq!(
            labels
                .iter()
                .filter(|l| l.split(' ').any(|w| w == "q"))
                .count(),
            1
        );
    }

    #[test]
    fn the_first_mistake_in_the_file_is_reported() {
        let e = user("[zzz]\nkeys = []\n[aaa]\nkeys = []\n").unwrap_err();
        assert!(e.starts_with("u.toml:1:2: unknown action `zzz`"), "{e}");
    }

    #[test]
    fn quit_and_help_keep_a_key() {
        let e = user("\n[quit]\nkeys = []\n").unwrap_err();
        assert_eq!(
            e,
            "u.toml:2:2: [quit] needs at least one key: without one ringstep could not be left"
        );
        let e = user("[help]\nkeys = []\n").unwrap_err();
        assert!(
            e.starts_with("u.toml:1:2: [help] needs at least one key"),
            "{e}"
        );
        // Other actions may be left without keys; they get no hint.
        let k = user("[run]\nkeys = []\n").unwrap();
        assert_eq!(k.first_key("run"), None);
        assert_eq!(k.first_key("quit").as_deref(), Some("q"));
    }

    #[test]
    fn key_labels() {
        assert_eq!(Key::parse("ctrl-c").unwrap().label(), "ctrl-c");
        assert_eq!(Key::parse("space").unwrap().label(), "space");
        assert_eq!(Key::parse("F1").unwrap().label(), "F1");
        let k = Keymap::shipped();
        let b = k
            .bindings
            .iter()
            .find(|b| b.name == "answer_choice")
            .unwrap();
        assert_eq!(b.keys_label(), "1..9");
    }
}
