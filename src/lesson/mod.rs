//! Lessons: a machine, the code it runs (assembled from GAS text), and the story told
//! instruction by instruction, with checkpoints and questions that the engine proves.
//! The format is documented in `lessons/FORMAT.md`.

pub mod check;
pub mod choice;
pub mod cost;
pub mod expr;
pub mod find;
pub mod glossary;
pub mod library;
mod load;
mod raw;
pub mod run;

pub use crate::scenario::SourceLine;
use crate::scenario::{Scenario, ScenarioError};
pub use expr::{Expr, Value};
pub use load::{load_file, load_shipped, load_str, FileSource};

/// A located problem in a lesson (or a file it includes): `FILE:LINE:COL: message`.
pub type LessonError = ScenarioError;

/// The languages every lesson is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }

    /// From a locale such as `LANG=de_DE.UTF-8`; English otherwise.
    pub fn from_locale(locale: Option<&str>) -> Lang {
        match locale {
            Some(l) if l.starts_with("de") => Lang::De,
            _ => Lang::En,
        }
    }
}

/// A text in every language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub en: String,
    pub de: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::De => &self.de,
        }
    }
}

/// Where something is written, for reports: `FILE:LINE:COL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A `[[code]]` section after assembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSection {
    pub region: String,
    pub base: u64,
    pub bytes: Vec<u8>,
    /// Where the text came from (the lesson, or an included `.S` file).
    pub origin: String,
    /// The assembly text itself.
    pub source: String,
    /// The code size the text starts in (32 or 64).
    pub bits: u32,
    pub lines: Vec<SourceLine>,
}

/// The lesson as loaded: everything checked, every address resolved.
#[derive(Clone, Debug)]
pub struct Lesson {
    /// The file name without `.toml`.
    pub id: String,
    pub origin: String,
    pub title: Text,
    pub summary: Text,
    pub order: i64,
    pub sources: Vec<String>,
    pub code: Vec<CodeSection>,
    /// The code's `.set`/`.equ` constants (for display and expressions).
    pub constants: Vec<(String, i64)>,
    pub scenes: Vec<Scene>,
}

/// How a scene must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A `stop_at` address is reached.
    End,
    /// An exception with no handler ends it.
    Fault,
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub title: Text,
    /// The machine, with the code in place, RIP at the start and the run settings.
    pub scenario: Scenario,
    pub expect: Expect,
    pub steps: Vec<Step>,
    pub loc: Loc,
}

/// When a narrative step is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAt {
    /// Before the instruction at `addr` runs for the `occurrence`-th time (1-based).
    Addr { addr: u64, occurrence: u32 },
    /// After the scene ended with a fault.
    Fault,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub at: StepAt,
    pub text: Text,
    pub highlight: Vec<String>,
    pub sources: Vec<String>,
    pub checks: Vec<Check>,
    pub question: Option<Question>,
    pub loc: Loc,
}

/// A checkpoint: `what` must equal `expected` at this step.
#[derive(Clone, Debug)]
pub struct Check {
    /// The key as written (`cs.dpl`, `stack`).
    pub what: String,
    pub expr: Expr,
    pub expected: Expected,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub enum Expected {
    Value(Expr),
    Text(String),
}

#[derive(Clone, Debug)]
pub struct Question {
    pub prompt: Text,
    /// Why the answer is what it is: shown once the student has answered.
    pub explain: Option<Text>,
    /// The answer's expression as written, and parsed; evaluated after the step.
    pub answer_src: String,
    pub answer: Expr,
    pub choices: Vec<Choice>,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct Choice {
    pub text: Text,
    pub value: Expected,
}
