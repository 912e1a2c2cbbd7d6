//! The glossary (lessons/glossary.toml): the terms the lessons use, explained in two or
//! three sentences with their sources, in every language. The viewer offers the terms a
//! lesson step uses (`Glossary::used_in`) and looks one up by name (`Glossary::find`).

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::raw::LangText;
use super::{Lang, LessonError, Text};
use crate::scenario::toml_error;

/// The shipped glossary's text.
pub const SHIPPED: &str = include_str!("../../lessons/glossary.toml");
const ORIGIN: &str = "lessons/glossary.toml";

/// The most terms a glossary may hold (every step is matched against each).
pub const MAX_TERMS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub name: String,
    /// Spellings that mark a text as using the term (whole words), the name first.
    pub words: Vec<String>,
    pub title: Text,
    pub text: Text,
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Glossary {
    pub terms: Vec<Term>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    term: Vec<Spanned<TermSec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermSec {
    name: Spanned<String>,
    #[serde(default)]
    words: Vec<String>,
    title: Spanned<LangText>,
    text: Spanned<LangText>,
    sources: Vec<String>,
}

impl Glossary {
    /// The glossary compiled into the program.
    pub fn shipped() -> Result<Glossary, LessonError> {
        Glossary::parse(SHIPPED, ORIGIN)
    }

    /// Read a glossary, reporting a problem at its place in `origin`.
    pub fn parse(text: &str, origin: &str) -> Result<Glossary, LessonError> {
        let doc: Doc = toml::from_str(text).map_err(|e| toml_error(&e, text, origin))?;
        if doc.term.len() > MAX_TERMS {
            return Err(LessonError::at(
                origin,
                text,
                doc.term[MAX_TERMS].span(),
                format!("a glossary holds at most {MAX_TERMS} terms"),
            ));
        }
        let err = |span: Range<usize>, msg: String| LessonError::at(origin, text, span, msg);
        let mut terms: Vec<Term> = Vec::new();
        for t in doc.term {
            let span = t.span();
            let t = t.into_inner();
            let name = t.name.get_ref().trim().to_string();
            if name.is_empty() {
                return Err(err(t.name.span(), "the term's name is empty".into()));
            }
            if terms.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
                return Err(err(t.name.span(), format!("`{name}` is defined twice")));
            }
            if t.sources.is_empty() {
                return Err(err(span, format!("`{name}` cites no source")));
            }
            let mut words = vec![name.clone()];
            words.extend(t.words.into_iter().filter(|w| !w.trim().is_empty()));
            terms.push(Term {
                title: lang_text(&t.title, "title", &name, &err)?,
                text: lang_text(&t.text, "text", &name, &err)?,
                name,
                words,
                sources: t.sources,
            });
        }
        Ok(Glossary { terms })
    }

    /// The term called `name` (any case), or one of whose words is `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        let by = |f: &dyn Fn(&Term) -> bool| self.terms.iter().position(f);
        by(&|t| t.name.eq_ignore_ascii_case(name))
            .or_else(|| by(&|t| t.words.iter().any(|w| w.eq_ignore_ascii_case(name))))
    }

    /// The terms `text` uses, in glossary order.
    pub fn used_in(&self, text: &str) -> Vec<usize> {
        (0..self.terms.len())
            .filter(|&i| self.terms[i].words.iter().any(|w| has_word(text, w)))
            .collect()
    }
}

fn lang_text(
    t: &Spanned<LangText>,
    what: &str,
    name: &str,
    err: &dyn Fn(Range<usize>, String) -> LessonError,
) -> Result<Text, LessonError> {
    let get = |v: &Option<Spanned<String>>, lang: Lang| match v {
        Some(s) if !s.get_ref().trim().is_empty() => Ok(s.get_ref().clone()),
        _ => Err(err(
            t.span(),
            format!("the {what} of `{name}` is missing or empty in {lang:?}"),
        )),
    };
    Ok(Text {
        en: get(&t.get_ref().en, Lang::En)?,
        de: get(&t.get_ref().de, Lang::De)?,
    })
}

/// `word` occurs in `text` with no letter, digit or underscore right before or after it
/// (where the word itself begins or ends with one).
pub fn has_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let inner = |c: char| c.is_alphanumeric() || c == '_';
    let starts = word.chars().next().is_some_and(inner);
    let ends = word.chars().last().is_some_and(inner);
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let glued = |edge: bool, c: Option<char>| edge && c.is_some_and(inner);
        !(glued(starts, before) || glued(ends, after))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_whole() {
        assert!(has_word("the TSS holds esp0", "TSS"));
        assert!(!has_word("TSSes", "TSS"));
        assert!(has_word("`int $0x80`.", "int $0x80"));
        assert!(!has_word("MSRs", "MSR"));
        assert!(has_word("(CPL)", "CPL"));
        assert!(!has_word("pt_regs_x", "pt_regs"));
    }
}
