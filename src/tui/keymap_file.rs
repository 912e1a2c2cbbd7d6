//! Reading a key map file with the place of every part, and the checks that need those
//! places: unknown actions, keys and fields, a key bound to two actions, and `quit` or
//! `help` left without a key. Every error names the file, line and column.

use std::fmt::Display;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::keymap::{Binding, Key, ACTION_NAMES};
use crate::scenario::{did_you_mean, line_col};

/// Actions that must keep a key: without them ringstep cannot be left, or the keys
/// cannot be looked up.
const REQUIRED: &[(&str, &str)] = &[
    ("quit", "ringstep could not be left"),
    ("help", "the key help could not be opened"),
];

/// A key map text and the name to report it by.
#[derive(Clone, Copy)]
pub struct Src<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

impl Src<'_> {
    /// `origin:line:col: message` for byte offset `offset`.
    pub fn err(&self, offset: usize, message: impl Display) -> String {
        let (line, col) = line_col(self.text, offset);
        format!("{}:{line}:{col}: {message}", self.origin)
    }
}

/// One action's binding as read, with the byte offsets of its name and of each key.
pub struct Placed {
    pub binding: Binding,
    pub at: usize,
    pub key_at: Vec<usize>,
}

/// The bindings a file defines. The base file must describe every action.
pub fn read(src: Src, complete: bool) -> Result<Vec<Placed>, String> {
    let doc = DeTable::parse(src.text)
        .map_err(|e| src.err(e.span().map_or(0, |s| s.start), e.message()))?;
    // In file order, so that the first mistake in the file is the one reported.
    let mut entries: Vec<_> = doc.get_ref().iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    let mut out = Vec::new();
    for (name, value) in entries {
        out.push(read_action(src, name, value, complete)?);
    }
    if complete {
        for n in ACTION_NAMES {
            if !out.iter().any(|p| p.binding.name == *n) {
                return Err(format!("{}: action `{n}` has no binding", src.origin));
            }
        }
    }
    Ok(out)
}

fn read_action(
    src: Src,
    name: &Spanned<std::borrow::Cow<str>>,
    value: &Spanned<DeValue>,
    complete: bool,
) -> Result<Placed, String> {
    let at = name.span().start;
    let name = name.get_ref().as_ref();
    let Some(static_name) = ACTION_NAMES.iter().copied().find(|n| *n == name) else {
        let hint = did_you_mean(name, ACTION_NAMES.iter().copied());
        return Err(src.err(at, format!("unknown action `{name}`{hint}")));
    };
    let Some(table) = value.get_ref().as_table() else {
        let msg = format!("`{name}` must be a table: [{name}] keys = [...]");
        return Err(src.err(value.span().start, msg));
    };
    let (mut keys, mut en, mut de) = (None, None, None);
    for (field, v) in table {
        match field.get_ref().as_ref() {
            "keys" => keys = Some(read_keys(src, name, v)?),
            "en" => en = Some(read_text(src, name, "en", v)?),
            "de" => de = Some(read_text(src, name, "de", v)?),
            other => {
                let msg = format!("unknown field `{other}` in [{name}] (allowed: keys, en, de)");
                return Err(src.err(field.span().start, msg));
            }
        }
    }
    let Some((keys, key_at)) = keys else {
        return Err(src.err(at, format!("[{name}] needs `keys = [...]`")));
    };
    let text = |t: Option<String>, lang: &str| match t {
        Some(t) => Ok(t),
        None if complete => {
            let msg = format!("[{name}] needs a description `{lang} = \"...\"`");
            Err(src.err(at, msg))
        }
        None => Ok(String::new()),
    };
    let binding = Binding {
        name: static_name,
        keys,
        en: text(en, "en")?,
        de: text(de, "de")?,
    };
    Ok(Placed {
        binding,
        at,
        key_at,
    })
}

fn read_keys(src: Src, name: &str, v: &Spanned<DeValue>) -> Result<(Vec<Key>, Vec<usize>), String> {
    let Some(items) = v.get_ref().as_array() else {
        let msg = format!("[{name}] keys must be a list of strings, like keys = [\"n\"]");
        return Err(src.err(v.span().start, msg));
    };
    let mut keys = Vec::new();
    let mut key_at = Vec::new();
    for item in items {
        let at = item.span().start;
        let Some(s) = item.get_ref().as_str() else {
            return Err(src.err(at, format!("[{name}] keys must be strings")));
        };
        let key = Key::parse(s).map_err(|e| src.err(at, format!("[{name}]: {e}")))?;
        keys.push(key);
        key_at.push(at);
    }
    Ok((keys, key_at))
}

fn read_text(src: Src, name: &str, lang: &str, v: &Spanned<DeValue>) -> Result<String, String> {
    match v.get_ref().as_str() {
        Some(s) => Ok(s.to_string()),
        None => Err(src.err(v.span().start, format!("[{name}] {lang} must be a string"))),
    }
}

/// Refuse a key given twice in one file (for two actions, or twice for one); the
/// later place in the file is reported.
pub fn check_unique(src: Src, placed: &[Placed]) -> Result<(), String> {
    let mut all: Vec<(usize, Key, &str)> = placed
        .iter()
        .flat_map(|p| {
            let keys = p.binding.keys.iter().zip(&p.key_at);
            keys.map(|(k, at)| (*at, *k, p.binding.name))
        })
        .collect();
    all.sort_by_key(|(at, _, _)| *at);
    for (i, (at, key, _)) in all.iter().enumerate() {
        if let Some((first, _, other)) = all[..i].iter().find(|(_, k, _)| k == key) {
            let (line, col) = line_col(src.text, *first);
            let msg = format!(
                "key `{}` is already bound to `{other}` at {line}:{col}; a key can do one thing",
                key.label()
            );
            return Err(src.err(*at, msg));
        }
    }
    Ok(())
}

/// Refuse a user key that the base map binds to an action the user file leaves alone.
pub fn check_against_base(
    user_src: Src,
    user: &[Placed],
    base_src: Src,
    base: &[Placed],
) -> Result<(), String> {
    for p in user {
        for (key, &at) in p.binding.keys.iter().zip(&p.key_at) {
            let taken = base.iter().find(|b| {
                b.binding.name != p.binding.name
                    && b.binding.keys.contains(key)
                    && !user.iter().any(|u| u.binding.name == b.binding.name)
            });
            if let Some(b) = taken {
                let other = b.binding.name;
                let msg = format!(
                    "key `{}` is already bound to `{other}` in {}; give [{other}] other keys in this file too",
                    key.label(),
                    base_src.origin
                );
                return Err(user_src.err(at, msg));
            }
        }
    }
    Ok(())
}

/// Refuse leaving `quit` or `help` without a key; the error points at the file that
/// emptied it.
pub fn check_required(files: &[(Src, &[Placed])], merged: &[Binding]) -> Result<(), String> {
    for (name, why) in REQUIRED {
        if merged.iter().any(|b| b.name == *name && !b.keys.is_empty()) {
            continue;
        }
        let msg = format!("[{name}] needs at least one key: without one {why}");
        for (src, placed) in files.iter().rev() {
            if let Some(p) = placed.iter().find(|p| p.binding.name == *name) {
                return Err(src.err(p.at, msg));
            }
        }
        return Err(msg);
    }
    Ok(())
}
