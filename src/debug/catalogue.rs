//! German for the messages the engine, the machine and the debugger write in English.
//!
//! The layers below the lessons know no languages: an exception carries its reason as
//! one English line, a parse error its message. This catalogue maps those lines to
//! German by template. An English template is the text with `{}` where the code puts
//! a value (`INT {} from CPL {} through a gate with DPL {} ...`); the German one names
//! the values `{0}`, `{1}`... (or takes them in order with `{}`), so it may reorder
//! them. A value that is itself a catalogued line (the reason inside "{}, while
//! delivering {}") is translated as well. Case does not matter when matching (some
//! reasons are upper-cased by the engine). A line no template matches stays English.
//! tests/catalogue.rs checks that every reason literal in src/engine and src/machine
//! has its template here.

use crate::lesson::Lang;

use super::catalogue_debug::DEBUG;
use super::catalogue_engine::ENGINE;

/// English template, German template.
pub type Entry = (&'static str, &'static str);

/// Every catalogue, searched together.
pub fn entries() -> impl Iterator<Item = &'static Entry> {
    ENGINE.iter().chain(DEBUG.iter())
}

/// Longest text translated (a longer line stays as it is: the matcher is quadratic).
const MAX_LEN: usize = 2048;
/// How deep values are translated in turn.
const MAX_DEPTH: u8 = 4;
/// A template with fewer literal characters than this is generic ("{} {} at {}: {}"):
/// it matches only if each of its values is a number or translates itself.
const GENERIC: usize = 8;

/// `text` in `lang`: English as it is, German from the catalogue where it has it.
pub fn in_lang(text: &str, lang: Lang) -> String {
    match lang {
        Lang::En => text.to_string(),
        Lang::De => german(text).unwrap_or_else(|| text.to_string()),
    }
}

/// The German of `text`, if a template matches it (each line of a multi-line text).
pub fn german(text: &str) -> Option<String> {
    if text.contains('\n') {
        let lines: Vec<String> = text
            .lines()
            .map(|l| german_at(l, 0).unwrap_or_else(|| l.to_string()))
            .collect();
        return Some(lines.join("\n"));
    }
    german_at(text, 0)
}

fn german_at(text: &str, depth: u8) -> Option<String> {
    if depth > MAX_DEPTH || text.len() > MAX_LEN || text.is_empty() {
        return None;
    }
    let mut best: Option<(usize, String)> = None;
    for (en, de) in entries() {
        let lit = literal_len(en);
        if best.as_ref().is_some_and(|(l, _)| *l >= lit) {
            continue;
        }
        let Some(values) = matches(en, text) else {
            continue;
        };
        let generic = lit < GENERIC;
        let mut out = Vec::with_capacity(values.len());
        let mut ok = true;
        let typed = quoted(en);
        for (i, v) in values.into_iter().enumerate() {
            if typed.get(i).copied().unwrap_or(false) {
                // `brk`: what the user typed, as typed.
                out.push(v.to_string());
                continue;
            }
            match german_at(v, depth + 1) {
                Some(g) => out.push(g),
                None if generic && !is_value(v) => ok = false,
                None => out.push(v.to_string()),
            }
        }
        if ok {
            best = Some((lit, fill(de, &out)));
        }
    }
    best.map(|(_, s)| s)
}

/// For each value of `template`: whether it stands inside backquotes (a typed word,
/// `brk` or `until brk`), after an odd number of them.
fn quoted(template: &str) -> Vec<bool> {
    let mut ticks = 0;
    let mut out = Vec::new();
    let mut parts = template.split("{}").peekable();
    while let Some(p) = parts.next() {
        ticks += p.matches('`').count();
        if parts.peek().is_some() {
            out.push(ticks % 2 == 1);
        }
    }
    out
}

/// A number, a register or mnemonic, a selector: no words to translate.
fn is_value(v: &str) -> bool {
    !v.chars().any(|c| c.is_ascii_lowercase()) || v.starts_with("0x")
}

fn literal_len(template: &str) -> usize {
    template.split("{}").map(str::len).sum()
}

/// The values `text` puts where `template` has `{}`, or None. Literal parts compare
/// ignoring ASCII case. A value is at least one character, unless its `{}` is glued
/// to the text around it (`` `{}`{}; `` , `exist{}`): such a value may be empty (a hint
/// that is not always given).
pub fn matches<'t>(template: &str, text: &'t str) -> Option<Vec<&'t str>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let first = parts[0];
    if !starts_with_ci(text, first) {
        return None;
    }
    let glued: Vec<bool> = parts
        .windows(2)
        .map(|w| !w[0].is_empty() && !w[0].ends_with(' ') && !w[1].starts_with(' '))
        .collect();
    let mut values = Vec::new();
    let mut at = Slot {
        parts: &parts[1..],
        glued: &glued,
    };
    at.rest(&text[first.len()..], &mut values).then_some(values)
}

/// The literal parts still to match, each preceded by a value.
struct Slot<'p, 'a> {
    parts: &'p [&'a str],
    glued: &'p [bool],
}

impl Slot<'_, '_> {
    /// Match against `text`, trying every place for each literal part from the left.
    fn rest<'t>(&mut self, text: &'t str, values: &mut Vec<&'t str>) -> bool {
        let (Some((lit, more)), Some((&glued, glued_more))) =
            (self.parts.split_first(), self.glued.split_first())
        else {
            return text.is_empty();
        };
        let min = usize::from(!glued);
        if more.is_empty() && lit.is_empty() {
            // The template ends with a value: the rest of the text.
            values.push(text);
            return text.len() >= min;
        }
        let mut from = min;
        while from <= text.len() {
            let Some(at) = find_ci(text, lit, from) else {
                return false;
            };
            let end = at + lit.len();
            if !(more.is_empty() && end != text.len()) {
                values.push(&text[..at]);
                let mut next = Slot {
                    parts: more,
                    glued: glued_more,
                };
                if next.rest(&text[end..], values) {
                    return true;
                }
                values.pop();
            }
            from = at + 1;
        }
        false
    }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The first place at or after `from` where `lit` occurs in `text`, ignoring case.
fn find_ci(text: &str, lit: &str, from: usize) -> Option<usize> {
    (from..=text.len().checked_sub(lit.len())?)
        .filter(|&i| text.is_char_boundary(i))
        .find(|&i| starts_with_ci(&text[i..], lit))
}

/// `template` with `{N}` (or the next `{}`) replaced by `values`.
fn fill(template: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut next = 0;
    let mut s = template;
    while let Some(open) = s.find('{') {
        out.push_str(&s[..open]);
        let after = &s[open + 1..];
        let close = after.find('}');
        let index = close.and_then(|c| {
            let inner = &after[..c];
            if inner.is_empty() {
                next += 1;
                Some(next - 1)
            } else {
                inner.parse::<usize>().ok()
            }
        });
        match (index, close) {
            (Some(i), Some(c)) => {
                out.push_str(values.get(i).map_or("", String::as_str));
                s = &after[c + 1..];
            }
            _ => {
                out.push('{');
                s = after;
            }
        }
    }
    out.push_str(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_and_reordered() {
        assert_eq!(
            matches("INT {} from CPL {} through", "INT 0x80 from CPL 3 through"),
            Some(vec!["0x80", "3"])
        );
        assert_eq!(matches("a {} b", "a  b"), None);
        assert_eq!(matches("x `{}`{}; y", "x `q`; y"), Some(vec!["q", ""]));
        assert_eq!(fill("{1} vor {0}", &["a".into(), "b".into()]), "b vor a");
        assert_eq!(fill("{} und {}", &["a".into(), "b".into()]), "a und b");
    }

    #[test]
    fn every_template_is_well_formed() {
        for (en, de) in entries() {
            let n = en.matches("{}").count();
            assert!(!en.contains("{}{}"), "two values side by side: {en}");
            for i in 0..n {
                let named = de.contains(&format!("{{{i}}}"));
                let ordered = de.matches("{}").count() == n;
                assert!(named || ordered, "`{de}` drops value {i} of `{en}`");
            }
            assert!(!de.is_empty(), "`{en}` has no German");
        }
    }

    #[test]
    fn a_reason_and_the_reason_inside_it() {
        let en = "the code segment is not present, while delivering #GP \
                  (contributory + contributory, SDM Vol. 3A Table 6-5)";
        let de = in_lang(en, Lang::De);
        assert!(
            de.contains("nicht vorhanden") && de.contains("während"),
            "{de}"
        );
        assert_eq!(in_lang(en, Lang::En), en);
        assert_eq!(in_lang("no such thing", Lang::De), "no such thing");
    }
}
