//! The lesson file as written: serde structures keeping the source span of every value.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::scenario::raw::{Doc, Num, NumLit};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonDoc {
    pub lesson: Spanned<LessonSec>,
    pub machine: Option<Spanned<Doc>>,
    #[serde(default)]
    pub code: Vec<CodeSec>,
    #[serde(default)]
    pub scene: Vec<Spanned<SceneSec>>,
}

/// Text in every language: `title.en = "..."`, `title.de = "..."`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LangText {
    pub en: Option<Spanned<String>>,
    pub de: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonSec {
    pub title: Spanned<LangText>,
    pub summary: Spanned<LangText>,
    pub order: Option<i64>,
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSec {
    pub region: Spanned<String>,
    pub at: Option<Num>,
    pub text: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneSec {
    pub title: Spanned<LangText>,
    pub start: Option<Num>,
    pub stop_at: Option<Vec<Num>>,
    pub max_steps: Option<Num>,
    pub expect: Option<Spanned<String>>,
    pub machine: Option<Doc>,
    #[serde(default)]
    pub step: Vec<Spanned<StepSec>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSec {
    pub at: Option<Num>,
    pub occurrence: Option<Spanned<i64>>,
    pub fault: Option<Spanned<bool>>,
    pub text: Spanned<LangText>,
    #[serde(default)]
    pub highlight: Vec<Spanned<String>>,
    #[serde(default)]
    pub sources: Vec<String>,
    pub check: Option<CheckTable>,
    pub question: Option<Spanned<QuestionSec>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSec {
    pub prompt: Spanned<LangText>,
    pub answer: Spanned<String>,
    pub choices: Option<Vec<Spanned<ChoiceSec>>>,
    pub explain: Option<Spanned<LangText>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceSec {
    pub value: Num,
    pub text: Spanned<LangText>,
}

/// A checkpoint's expected value as written.
#[derive(Clone, Debug)]
pub enum CheckLit {
    Num(NumLit),
    Bool(bool),
    List(Vec<Spanned<NumLit>>),
}

/// `check`: nested TOML tables flattened to dotted paths (`cs.dpl`), in file order.
#[derive(Clone, Debug, Default)]
pub struct CheckTable(pub Vec<(String, Range<usize>, Spanned<CheckLit>)>);

/// One node of a check table while flattening.
enum Node {
    Leaf(CheckLit),
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number, a boolean, a string (an expression), a list of numbers, or a table",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Leaf(CheckLit::Num(NumLit::Int(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Leaf(CheckLit::Num(match i64::try_from(v) {
                    Ok(i) => NumLit::Int(i),
                    Err(_) => NumLit::Text(format!("{v:#x}")),
                })))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Leaf(CheckLit::Bool(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Leaf(CheckLit::Num(NumLit::Text(v.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<NumLit>>()? {
                    out.push(v);
                }
                Ok(Node::Leaf(CheckLit::List(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Spanned<String>, Spanned<Node>>()? {
                    out.push((k, v));
                }
                Ok(Node::Table(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn flatten(
    prefix: &str,
    entries: Vec<(Spanned<String>, Spanned<Node>)>,
    out: &mut Vec<(String, Range<usize>, Spanned<CheckLit>)>,
) {
    for (k, v) in entries {
        let path = if prefix.is_empty() {
            k.get_ref().clone()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        let key_span = k.span();
        let span = v.span();
        match v.into_inner() {
            Node::Leaf(lit) => out.push((path, key_span, Spanned::new(span, lit))),
            Node::Table(inner) => flatten(&path, inner, out),
        }
    }
}

impl<'de> Deserialize<'de> for CheckTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Table(entries) => {
                let mut out = Vec::new();
                flatten("", entries, &mut out);
                Ok(CheckTable(out))
            }
            Node::Leaf(_) => Err(de::Error::custom(
                "`check` is a table of `state = expected value`",
            )),
        }
    }
}
