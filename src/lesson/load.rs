//! Loading a lesson: parse the TOML, assemble the code, build one machine per scene,
//! and resolve every step, checkpoint and question, reporting problems at their place.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::expr::{self, Expr, Names};
use super::raw::{self, CheckLit, LangText, LessonDoc};
use super::{
    library, Check, Choice, CodeSection, Expect, Expected, Lesson, LessonError, Loc, Question,
    Scene, SourceLine, Step, StepAt, Text,
};
use crate::asm::{self, SourceSection};
use crate::scenario::raw::{Doc, KeyMap, Num, NumLit, RunSec};
use crate::scenario::{
    declared, did_you_mean, line_col, load_layers, region_bounds, toml_error, Extra, LayerSource,
    Scenario, ScenarioError, MAX_STEPS,
};

mod boot;

type Res<T> = Result<T, LessonError>;

/// Where the files a lesson includes (`[[code]] file = ...`) come from.
#[derive(Clone, Debug)]
pub enum FileSource {
    /// Relative to this directory on disk.
    Disk(PathBuf),
    /// The files shipped inside the program, relative to `lessons/`.
    Shipped,
}

impl FileSource {
    /// The included file's name for messages, and its text.
    fn read(&self, rel: &str) -> Result<(String, String), String> {
        match self {
            FileSource::Disk(dir) => {
                let path = dir.join(rel);
                let origin = path.display().to_string();
                crate::userfile::read_text(&path)
                    .map(|t| (origin, t))
                    .map_err(|e| format!("cannot read `{rel}` ({}): {e}", path.display()))
            }
            FileSource::Shipped => {
                let path = normalize(&format!("lessons/{rel}"));
                library::file(&path)
                    .map(|t| (path.clone(), t.to_string()))
                    .ok_or_else(|| format!("`{rel}` is not among the files shipped with ringstep"))
            }
        }
    }
}

/// `lessons/../assets/x.S` -> `assets/x.S`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Load a lesson file from disk.
pub fn load_file(path: &Path) -> Res<Lesson> {
    let origin = path.display().to_string();
    let bytes = crate::userfile::read_bytes(path, crate::userfile::MAX_TEXT_BYTES)
        .map_err(|e| ScenarioError::whole_file(&origin, format!("cannot read file: {e}")))?;
    let text = utf8_text(bytes, &origin)?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| origin.clone());
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &origin, &id, &FileSource::Disk(dir))
}

/// A file's bytes as text, or an error at the first byte that is not UTF-8.
fn utf8_text(bytes: Vec<u8>, origin: &str) -> Res<String> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let byte = bytes.get(valid).copied().unwrap_or(0);
        ScenarioError::at(
            origin,
            &before,
            valid..valid,
            format!("not UTF-8 text (byte {byte:#04x}); lessons are written in UTF-8"),
        )
    })
}

/// A step's `occurrence`: from 1 to u32::MAX.
fn occurrence(n: i64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ if n < 1 => Err("occurrence counts from 1".to_string()),
        _ => Err(format!(
            "occurrence {n} is too large (at most {})",
            u32::MAX
        )),
    }
}

/// Load a lesson shipped with the program, by id.
pub fn load_shipped(id: &str) -> Option<Res<Lesson>> {
    let text = library::lesson_text(id)?;
    let origin = format!("lessons/{id}.toml");
    Some(load_str(text, &origin, id, &FileSource::Shipped))
}

/// Load a lesson from text; `origin` names it in messages.
pub fn load_str(text: &str, origin: &str, id: &str, files: &FileSource) -> Res<Lesson> {
    let doc: LessonDoc = toml::from_str(text).map_err(|e| toml_error(&e, text, origin))?;
    Loader {
        text,
        origin,
        files,
    }
    .lesson(doc, id)
}

struct Loader<'a> {
    text: &'a str,
    origin: &'a str,
    files: &'a FileSource,
}

/// A code section's text and how its lines map to a file.
struct CodeText {
    origin: String,
    text: String,
    /// Line and column in `origin` where the text's first line starts.
    first_line: usize,
    first_col: usize,
}

const PANES: &[&str] = &[
    "code",
    "registers",
    "flags",
    "segments",
    "msrs",
    "stack.user",
    "stack.kernel",
    "tss",
    "task",
    "privilege",
];

impl<'a> Loader<'a> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> LessonError {
        ScenarioError::at(self.origin, self.text, span, msg)
    }

    fn loc(&self, span: &Range<usize>) -> Loc {
        let (line, col) = line_col(self.text, span.start);
        Loc {
            file: self.origin.to_string(),
            line,
            col,
        }
    }

    fn lang_text(&self, t: &Spanned<LangText>, what: &str) -> Res<Text> {
        let get = |v: &Option<Spanned<String>>, name: &str| -> Res<String> {
            match v {
                Some(s) if !s.get_ref().trim().is_empty() => Ok(s.get_ref().clone()),
                Some(s) => Err(self.err(s.span(), format!("{what} is empty in {name}"))),
                None => Err(self.err(
                    t.span(),
                    format!(
                        "{what} is missing in {name} (`{}`); every text is needed in English (en) and German (de)",
                        if name == "English" { "en" } else { "de" }
                    ),
                )),
            }
        };
        Ok(Text {
            en: get(&t.get_ref().en, "English")?,
            de: get(&t.get_ref().de, "German")?,
        })
    }

    fn lesson(&self, doc: LessonDoc, id: &str) -> Res<Lesson> {
        let lesson_span = doc.lesson.span();
        let sec = doc.lesson.into_inner();
        let title = self.lang_text(&sec.title, "the title")?;
        let summary = self.lang_text(&sec.summary, "the summary")?;
        let Some(machine) = doc.machine else {
            return Err(self.err(
                lesson_span,
                "a lesson needs a [machine] table, e.g. `[machine]` with `preset = \"linux-2.6-i386\"`",
            ));
        };
        if machine.get_ref().boot.is_some() {
            let parts = (&doc.code[..], &doc.scene[..]);
            return self.boot_lesson(sec, machine, parts, id, (title, summary));
        }
        let machine_span = machine.span();
        let machine = machine.into_inner();
        if machine.preset.is_none() {
            return Err(self.err(
                machine_span,
                "[machine] needs a preset (`preset = \"linux-2.6-i386\"` or `\"linux-x86_64\"`)",
            ));
        }
        if doc.scene.is_empty() {
            return Err(self.err(
                lesson_span,
                "a lesson needs at least one [[scene]] with its [[scene.step]]s",
            ));
        }
        let layer = |doc: Doc| LayerSource {
            origin: self.origin.to_string(),
            text: self.text.to_string(),
            doc,
        };

        // Assemble the code: first the layout (labels), then the machines, then the bytes.
        let (long, region_names) = declared(vec![layer(machine.clone())])?;
        let mut texts = Vec::new();
        let mut bases = Vec::new();
        for c in &doc.code {
            let Some((base, size)) =
                region_bounds(vec![layer(machine.clone())], c.region.get_ref())?
            else {
                let hint =
                    did_you_mean(c.region.get_ref(), region_names.iter().map(String::as_str));
                return Err(self.err(
                    c.region.span(),
                    format!(
                        "no region `{}` in this machine (regions: {}){hint}",
                        c.region.get_ref(),
                        region_names.join(", ")
                    ),
                ));
            };
            let at = match &c.at {
                Some(n) => match n.get_ref() {
                    NumLit::Int(i) => *i as u64,
                    NumLit::Text(t) => expr::parse_number(t.trim()).ok_or_else(|| {
                        self.err(n.span(), format!("`at` must be a number, not `{t}`"))
                    })?,
                },
                None => base,
            };
            if at < base || at >= base + size {
                let span = c.at.as_ref().map_or(c.region.span(), |n| n.span());
                return Err(self.err(
                    span,
                    format!(
                        "{at:#x} is outside region `{}` ({base:#x}..{:#x})",
                        c.region.get_ref(),
                        base + size
                    ),
                ));
            }
            texts.push(self.code_text(c)?);
            bases.push((at, base + size));
        }
        let sections: Vec<SourceSection> = texts
            .iter()
            .zip(&doc.code)
            .zip(&bases)
            .map(|((t, c), (at, _))| SourceSection {
                name: c.region.get_ref(),
                base: *at,
                text: &t.text,
            })
            .collect();
        let bits = if long { 64 } else { 32 };
        let layout = asm::layout(&sections, bits).map_err(|e| asm_error(&texts, &e))?;
        // Local `.L` labels stay out of the machine's symbol table (as with GNU as, they
        // name nothing in listings) but may be used in the lesson's steps and checks.
        let extra = Extra {
            symbols: layout
                .labels()
                .iter()
                .filter(|(n, _)| !n.starts_with(".L"))
                .cloned()
                .collect(),
            clear_regions: doc
                .code
                .iter()
                .map(|c| c.region.get_ref().clone())
                .collect(),
        };

        let mut scenarios = Vec::new();
        for s in &doc.scene {
            let sec = s.get_ref();
            let scene_doc = sec.machine.clone().unwrap_or_default();
            // The scene's start and stop addresses replace the preset's, so that the
            // preset's own entry point need not exist when the lesson replaces its code.
            let run_doc = Doc {
                regs: sec
                    .start
                    .as_ref()
                    .map(|n| KeyMap(vec![(Spanned::new(n.span(), "eip".to_string()), n.clone())])),
                run: sec.stop_at.as_ref().map(|list| RunSec {
                    stop_at: Some(list.clone()),
                    max_steps: None,
                }),
                ..Doc::default()
            };
            let built = load_layers(
                vec![layer(machine.clone()), layer(scene_doc), layer(run_doc)],
                &extra,
            )
            .map_err(|e| explain_cleared(e, &extra.clear_regions))?;
            scenarios.push(built);
        }
        let first_symbols = scenarios[0].machine.symbols.clone();
        let known: Vec<&str> = first_symbols.names().collect();
        let resolve = |name: &str| first_symbols.get(name);
        let assembled = layout
            .encode(&resolve, &known)
            .map_err(|e| asm_error(&texts, &e))?;

        let mut code = Vec::new();
        for (((a, t), c), (_, end)) in assembled.iter().zip(&texts).zip(&doc.code).zip(&bases) {
            if a.base + a.bytes.len() as u64 > *end {
                return Err(self.err(
                    c.region.span(),
                    format!(
                        "the code ({} bytes from {:#x}) does not fit in region `{}`, which ends at {end:#x}",
                        a.bytes.len(),
                        a.base,
                        c.region.get_ref()
                    ),
                ));
            }
            code.push(CodeSection {
                region: c.region.get_ref().clone(),
                base: a.base,
                bytes: a.bytes.clone(),
                origin: t.origin.clone(),
                source: t.text.clone(),
                bits,
                lines: SourceLine::from_assembly(&a.lines, &t.text),
            });
        }
        for s in &mut scenarios {
            for c in &code {
                s.machine.mem.poke(c.base, &c.bytes);
            }
        }

        let mut symbols: HashMap<String, u64> = first_symbols
            .iter()
            .map(|(n, a)| (n.to_string(), a))
            .collect();
        for (n, a) in layout.labels() {
            symbols.entry(n.clone()).or_insert(*a);
        }
        for (n, v) in layout.constants() {
            symbols.entry(n.clone()).or_insert(*v as u64);
        }
        let names = Names {
            symbols: &symbols,
            long,
        };
        let mut scenes = Vec::new();
        for (s, scenario) in doc.scene.iter().zip(scenarios) {
            scenes.push(self.scene(s, scenario, &names)?);
        }
        Ok(Lesson {
            id: id.to_string(),
            origin: self.origin.to_string(),
            title,
            summary,
            order: sec.order.unwrap_or(1000),
            sources: sec.sources,
            code,
            constants: layout.constants().to_vec(),
            scenes,
        })
    }

    fn code_text(&self, c: &raw::CodeSec) -> Res<CodeText> {
        match (&c.text, &c.file) {
            (Some(t), None) => {
                let (first_line, first_col) =
                    line_col(self.text, content_start(self.text, t.span()));
                Ok(CodeText {
                    origin: self.origin.to_string(),
                    text: t.get_ref().clone(),
                    first_line,
                    first_col,
                })
            }
            (None, Some(f)) => {
                let (origin, text) = self
                    .files
                    .read(f.get_ref())
                    .map_err(|e| self.err(f.span(), e))?;
                Ok(CodeText {
                    origin,
                    text,
                    first_line: 1,
                    first_col: 1,
                })
            }
            (Some(t), Some(_)) => Err(self.err(
                t.span(),
                "a [[code]] section takes `text` or `file`, not both",
            )),
            (None, None) => Err(self.err(
                c.region.span(),
                "a [[code]] section needs `text` (assembly) or `file` (a .S file)",
            )),
        }
    }

    /// A number, symbol or expression over symbols (no machine state).
    fn address(&self, n: &Num, names: &Names, what: &str) -> Res<u64> {
        match n.get_ref() {
            NumLit::Int(i) => Ok(*i as u64),
            NumLit::Text(t) => {
                let start = content_start(self.text, n.span());
                let e = expr::parse(t, names)
                    .map_err(|e| self.err(start + e.offset..start + e.offset + 1, e.message))?;
                e.constant().ok_or_else(|| {
                    self.err(
                        n.span(),
                        format!("{what} must be an address (a label, symbol or number), not machine state: `{t}`"),
                    )
                })
            }
        }
    }

    fn scene(
        &self,
        s: &Spanned<raw::SceneSec>,
        mut scenario: Scenario,
        names: &Names,
    ) -> Res<Scene> {
        let sec = s.get_ref();
        let title = self.lang_text(&sec.title, "the scene's title")?;
        if let Some(start) = &sec.start {
            scenario.machine.cpu.rip = self.address(start, names, "`start`")?;
        }
        if let Some(list) = &sec.stop_at {
            scenario.stop_at = list
                .iter()
                .map(|n| self.address(n, names, "`stop_at`"))
                .collect::<Res<_>>()?;
        }
        scenario.max_steps = Some(match &sec.max_steps {
            Some(n) => match n.get_ref() {
                NumLit::Int(i) if *i > 0 && *i as u64 <= MAX_STEPS => *i as u64,
                NumLit::Int(i) if *i > 0 => {
                    let msg =
                        format!("max_steps {i} is more than the {MAX_STEPS} steps a scene may run");
                    return Err(self.err(n.span(), msg));
                }
                _ => return Err(self.err(n.span(), "max_steps must be a positive integer")),
            },
            None => scenario.max_steps.unwrap_or(1000),
        });
        let expect = match &sec.expect {
            None => Expect::End,
            Some(e) => match e.get_ref().as_str() {
                "end" => Expect::End,
                "fault" => Expect::Fault,
                other => {
                    let hint = did_you_mean(other, ["end", "fault"]);
                    return Err(self.err(
                        e.span(),
                        format!("unknown `expect` value `{other}` (end or fault){hint}"),
                    ));
                }
            },
        };
        if expect == Expect::End && scenario.stop_at.is_empty() {
            return Err(self.err(
                s.span(),
                "this scene never ends: give `stop_at` (or `expect = \"fault\"`)",
            ));
        }
        if sec.step.is_empty() {
            return Err(self.err(s.span(), "a scene needs at least one [[scene.step]]"));
        }
        let steps = sec
            .step
            .iter()
            .map(|st| self.step(st, names, expect))
            .collect::<Res<_>>()?;
        Ok(Scene {
            title,
            scenario,
            expect,
            steps,
            loc: self.loc(&s.span()),
        })
    }

    fn step(&self, st: &Spanned<raw::StepSec>, names: &Names, expect: Expect) -> Res<Step> {
        let sec = st.get_ref();
        let fault = sec.fault.as_ref().is_some_and(|f| *f.get_ref());
        let at = match (&sec.at, fault) {
            (Some(n), false) => {
                let occurrence = match &sec.occurrence {
                    Some(o) => occurrence(*o.get_ref()).map_err(|m| self.err(o.span(), m))?,
                    None => 1,
                };
                StepAt::Addr {
                    addr: self.address(n, names, "`at`")?,
                    occurrence,
                }
            }
            (None, true) => {
                if expect != Expect::Fault {
                    return Err(self.err(
                        st.span(),
                        "a `fault = true` step needs a scene with `expect = \"fault\"`",
                    ));
                }
                StepAt::Fault
            }
            (Some(n), true) => {
                return Err(self.err(
                    n.span(),
                    "a step is either `at` an instruction or shown after the `fault`, not both",
                ))
            }
            (None, false) => {
                return Err(self.err(
                    st.span(),
                    "a step needs `at` (the instruction it comes before) or `fault = true`",
                ))
            }
        };
        let text = self.lang_text(&sec.text, "the step's text")?;
        let mut highlight = Vec::new();
        for h in &sec.highlight {
            let name = h.get_ref();
            if !PANES.contains(&name.as_str()) {
                let start = content_start(self.text, h.span());
                expr::parse(name, names).map_err(|e| {
                    let hint = if e.message.contains("did you mean") {
                        String::new()
                    } else {
                        did_you_mean(name, PANES.iter().copied())
                    };
                    self.err(
                        start + e.offset..start + e.offset + 1,
                        format!(
                            "cannot highlight `{name}`: {}{hint} (panes: {})",
                            e.message,
                            PANES.join(", ")
                        ),
                    )
                })?;
            }
            highlight.push(name.clone());
        }
        let mut checks = Vec::new();
        if let Some(table) = &sec.check {
            for (path, key_span, lit) in &table.0 {
                checks.extend(self.checks(path, key_span, lit, names)?);
            }
        }
        let question = match &sec.question {
            Some(q) => Some(self.question(q, names)?),
            None => None,
        };
        if fault && question.is_some() {
            return Err(self.err(
                st.span(),
                "a step shown after a fault cannot ask what the next instruction does",
            ));
        }
        Ok(Step {
            at,
            text,
            highlight,
            sources: sec.sources.clone(),
            checks,
            question,
            loc: self.loc(&st.span()),
        })
    }

    fn parse_at(&self, text: &str, span: Range<usize>, names: &Names) -> Res<Expr> {
        let start = content_start(self.text, span);
        expr::parse(text, names)
            .map_err(|e| self.err(start + e.offset..start + e.offset + 1, e.message))
    }

    fn checks(
        &self,
        path: &str,
        key_span: &Range<usize>,
        lit: &Spanned<CheckLit>,
        names: &Names,
    ) -> Res<Vec<Check>> {
        let loc = self.loc(key_span);
        if path == "stack" {
            let CheckLit::List(items) = lit.get_ref() else {
                return Err(self.err(
                    lit.span(),
                    "`stack` takes a list of the words from the top: [0x7b, \"user_esp\"]",
                ));
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let expected = self.value_expr(item.get_ref(), item.span(), names)?;
                out.push(Check {
                    what: format!("stack[{i}]"),
                    expr: Expr::Stack(Box::new(Expr::Num(i as u64))),
                    expected: Expected::Value(expected),
                    loc: loc.clone(),
                });
            }
            return Ok(out);
        }
        let e = self.parse_at(path, key_span.clone(), names)?;
        let expected = match lit.get_ref() {
            CheckLit::List(_) => {
                return Err(self.err(
                    lit.span(),
                    format!("`{path}` takes one value; only `stack` takes a list"),
                ))
            }
            CheckLit::Bool(b) => Expected::Value(Expr::Num(*b as u64)),
            CheckLit::Num(NumLit::Text(t)) if e.is_text() => Expected::Text(t.clone()),
            CheckLit::Num(n) => {
                if e.is_text() {
                    return Err(self.err(
                        lit.span(),
                        format!("`{path}` is text; write the expected text in quotes"),
                    ));
                }
                Expected::Value(self.value_expr(n, lit.span(), names)?)
            }
        };
        Ok(vec![Check {
            what: path.to_string(),
            expr: e,
            expected,
            loc,
        }])
    }

    fn value_expr(&self, n: &NumLit, span: Range<usize>, names: &Names) -> Res<Expr> {
        match n {
            NumLit::Int(i) => Ok(Expr::Num(*i as u64)),
            NumLit::Text(t) => self.parse_at(t, span, names),
        }
    }

    fn question(&self, q: &Spanned<raw::QuestionSec>, names: &Names) -> Res<Question> {
        let sec = q.get_ref();
        let prompt = self.lang_text(&sec.prompt, "the question")?;
        let answer = self.parse_at(sec.answer.get_ref(), sec.answer.span(), names)?;
        let mut choices = Vec::new();
        for c in sec.choices.iter().flatten() {
            let cs = c.get_ref();
            let text = self.lang_text(&cs.text, "the choice")?;
            let value = match cs.value.get_ref() {
                NumLit::Text(t) if answer.is_text() => Expected::Text(t.clone()),
                n => Expected::Value(self.value_expr(n, cs.value.span(), names)?),
            };
            choices.push(Choice { text, value });
        }
        if sec.choices.as_ref().is_some_and(|c| c.len() < 2) {
            return Err(self.err(
                q.span(),
                "a multiple-choice question needs at least two choices",
            ));
        }
        let explain = match &sec.explain {
            Some(e) => Some(self.lang_text(e, "the explanation")?),
            None => None,
        };
        Ok(Question {
            prompt,
            explain,
            answer_src: sec.answer.get_ref().clone(),
            answer,
            choices,
            loc: self.loc(&q.span()),
        })
    }
}

/// Where a TOML string's content starts, given the span of the whole string token.
fn content_start(text: &str, span: Range<usize>) -> usize {
    let raw = text.get(span.clone()).unwrap_or("");
    let mut start = span.start;
    if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        start += 3;
        let rest = &text[start.min(text.len())..];
        if rest.starts_with("\r\n") {
            start += 2;
        } else if rest.starts_with('\n') {
            start += 1;
        }
    } else if raw.starts_with('"') || raw.starts_with('\'') {
        start += 1;
    }
    start
}

/// A preset value that names a label the lesson's code replaced: say why it is gone.
fn explain_cleared(mut e: LessonError, cleared: &[String]) -> LessonError {
    if e.file.starts_with("assets/presets/") && e.message.starts_with("unknown symbol") {
        e.message.push_str(&format!(
            " (the lesson's [[code]] replaces region{} {} and the labels the preset defined there; define this label in the lesson's code, or override the value that uses it)",
            if cleared.len() == 1 { "" } else { "s" },
            cleared.join(", ")
        ));
    }
    e
}

/// An assembler error at its place in the lesson or the included file.
fn asm_error(texts: &[CodeText], e: &asm::AsmError) -> LessonError {
    let Some(t) = texts.get(e.section) else {
        return ScenarioError::whole_file("lesson code", e.message.clone());
    };
    let line = t.first_line + e.line.saturating_sub(1);
    let col = if e.line <= 1 {
        t.first_col + e.col.saturating_sub(1)
    } else {
        e.col
    };
    ScenarioError {
        file: t.origin.clone(),
        line: Some(line),
        col: Some(col),
        message: e.message.clone(),
    }
}
