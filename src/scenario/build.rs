//! Turning parsed scenario layers into a machine.
//!
//! A scenario may name a preset; the preset is loaded first and every later layer adds
//! to it or overrides it. All checks report the file and position of the text at fault.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::error::{did_you_mean, ScenarioError};
use super::order::dependency_order;
use super::raw::{self, Doc, HexText, KeyMap, Num, NumLit};
use super::task::{CurrentRule, PreemptRule, TaskModel};
use super::{preset_origin, preset_text, unknown_preset_message, Scenario, ScheduledInterrupt};
use crate::machine::cpu::{self, RegName, GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::memory::Region;
use crate::machine::msr;
use crate::machine::segment::{Attr, Descriptor, SegReg, Segment, Selector};
use crate::machine::tables::{tss32, tss64, Gate};
use crate::machine::{flags, Machine, Perm, TableReg};

mod paging;

type Res<T> = Result<T, ScenarioError>;

/// One parsed file: a preset or the user's scenario.
struct Layer {
    origin: String,
    text: String,
    doc: Doc,
    /// A shipped preset (its contents in cleared regions are dropped).
    is_preset: bool,
}

impl Layer {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::at(&self.origin, &self.text, span, msg)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Protected32,
    Long64,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Protected32 => "protected32",
            Mode::Long64 => "long64",
        }
    }
    fn addr_bits(self) -> u32 {
        match self {
            Mode::Protected32 => 32,
            Mode::Long64 => 64,
        }
    }
}

fn parse_layer(text: &str, origin: &str) -> Res<Doc> {
    toml::from_str::<Doc>(text).map_err(|e| toml_error(&e, text, origin))
}

/// A TOML or serde error as `FILE:LINE:COL: message`, with a did-you-mean for an
/// unknown field.
pub(crate) fn toml_error(e: &toml::de::Error, text: &str, origin: &str) -> ScenarioError {
    let span = e.span().unwrap_or(0..0);
    let mut msg = e.message().trim().replace('\n', " ");
    if let Some(plain) = integer_range_message(&msg) {
        msg = plain;
    } else if let Some(head) = msg.strip_suffix(", expected i64") {
        msg = format!("{head}, expected a whole number");
    }
    // serde reports "unknown field `x`, expected one of `a`, `b`": add a hint.
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        let hint = did_you_mean(field, expected.iter().copied());
        msg.push_str(&hint);
    }
    ScenarioError::at(origin, text, span, msg)
}

/// serde's "invalid type: integer `N` as i128, expected ..." (or "invalid value: integer
/// `N`, expected i64") for a number too large for its field, said plainly.
fn integer_range_message(msg: &str) -> Option<String> {
    let rest = msg
        .strip_prefix("invalid type: integer `")
        .or_else(|| msg.strip_prefix("invalid value: integer `"))?;
    let (n, tail) = rest.split_once('`')?;
    if tail.starts_with(" as i128") {
        Some(format!("`{n}` does not fit in 64 bits"))
    } else if tail == ", expected i64" {
        Some(format!(
            "`{n}` is too large here (at most 9223372036854775807)"
        ))
    } else {
        None
    }
}

pub(super) fn load(text: &str, origin: &str) -> Res<Scenario> {
    let doc = parse_layer(text, origin)?;
    load_layers(
        vec![LayerSource {
            origin: origin.to_string(),
            text: text.to_string(),
            doc,
        }],
        &Extra::default(),
    )
}

/// A parsed layer supplied by a caller (e.g. a lesson's `[machine]` table): `doc` was
/// deserialized from `text`, so its spans point into `text`.
pub(crate) struct LayerSource {
    pub origin: String,
    pub text: String,
    pub doc: Doc,
}

/// What a caller adds to the layers: symbols defined before anything else (they win
/// over definitions in the layers), and regions whose preset contents are dropped (their
/// bytes, and the labels and data blocks the presets put inside them).
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub symbols: Vec<(String, u64)>,
    pub clear_regions: Vec<String>,
}

/// The chain of presets below `top`, innermost (lowest priority) first, then `top` in
/// order. Only the first of `top` may name a preset.
fn expand_layers(top: Vec<LayerSource>) -> Res<Vec<Layer>> {
    let mut layers: Vec<Layer> = Vec::new();
    let mut next = top.first().and_then(|t| {
        t.doc
            .preset
            .clone()
            .map(|p| (p, t.origin.clone(), t.text.clone()))
    });
    for t in &top {
        if let Some(b) = &t.doc.boot {
            return Err(ScenarioError::at(
                &t.origin,
                &t.text,
                b.span(),
                "`boot` is a lesson's [machine] key, and a lesson that boots a kernel has no preset, [[code]] or other machine keys",
            ));
        }
    }
    for t in top.iter().skip(1) {
        if let Some(p) = &t.doc.preset {
            return Err(ScenarioError::at(
                &t.origin,
                &t.text,
                p.span(),
                "`preset` may only be given once, at the top",
            ));
        }
    }
    while let Some((name, from_origin, from_text)) = next.take() {
        let Some(ptext) = preset_text(name.get_ref()) else {
            return Err(ScenarioError::at(
                &from_origin,
                &from_text,
                name.span(),
                unknown_preset_message(name.get_ref()),
            ));
        };
        if layers.len() > 8 {
            return Err(ScenarioError::at(
                &from_origin,
                &from_text,
                name.span(),
                "presets nest too deeply (a cycle?)",
            ));
        }
        let porigin = preset_origin(name.get_ref());
        let doc = parse_layer(ptext, &porigin)?;
        next = doc
            .preset
            .clone()
            .map(|p| (p, porigin.clone(), ptext.to_string()));
        layers.push(Layer {
            origin: porigin,
            text: ptext.to_string(),
            doc,
            is_preset: true,
        });
    }
    layers.reverse();
    layers.extend(top.into_iter().map(|t| Layer {
        origin: t.origin,
        text: t.text,
        doc: t.doc,
        is_preset: false,
    }));
    Ok(layers)
}

/// Build a machine from caller-supplied layers (the first may name a preset).
pub(crate) fn load_layers(top: Vec<LayerSource>, extra: &Extra) -> Res<Scenario> {
    let layers = expand_layers(top)?;
    Builder::new(&layers, extra).build()
}

/// What the layers declare before anything is evaluated: whether the machine is
/// 64-bit, and the names of its regions.
pub(crate) fn declared(top: Vec<LayerSource>) -> Res<(bool, Vec<String>)> {
    let layers = expand_layers(top)?;
    let long = layers
        .iter()
        .rev()
        .find_map(|l| l.doc.machine.as_ref().and_then(|m| m.mode.as_ref()))
        .is_some_and(|m| m.get_ref() == "long64");
    let mut names: Vec<String> = Vec::new();
    for l in &layers {
        for r in &l.doc.regions {
            if !names.contains(r.name.get_ref()) {
                names.push(r.name.get_ref().clone());
            }
        }
    }
    Ok((long, names))
}

/// Base and size of the region `name` as the layers declare it (the last declaration
/// wins), evaluated without symbols. `None` when no layer declares it.
pub(crate) fn region_bounds(top: Vec<LayerSource>, name: &str) -> Res<Option<(u64, u64)>> {
    let layers = expand_layers(top)?;
    let found = layers.iter().rev().find_map(|l| {
        l.doc
            .regions
            .iter()
            .find(|r| r.name.get_ref() == name)
            .map(|r| (l, r))
    });
    let Some((l, r)) = found else {
        return Ok(None);
    };
    let empty = HashMap::new();
    let num = |n: &Num| match eval(n.get_ref(), &empty) {
        Ok(v) => fit(v, 64).map_err(|e| l.err(n.span(), e)),
        Err(Some(e)) => Err(l.err(n.span(), e)),
        Err(None) => Err(l.err(
            n.span(),
            format!("region `{name}` holds lesson code, so its base and size must be numbers"),
        )),
    };
    Ok(Some((num(&r.base)?, num(&r.size)?)))
}

/// The deepest nesting of parentheses and minus signs in a value (the parser recurses).
pub const MAX_NESTING: usize = 256;

/// A number or symbol expression, evaluated. `Err(None)` means it names a symbol not
/// (yet) defined; `Err(Some(msg))` is a hard error. Expressions combine numbers and
/// symbols with `+`, `-`, `*` and parentheses, e.g. `sys_call_table+20*4`.
fn eval(lit: &NumLit, syms: &HashMap<String, u64>) -> Result<i128, Option<String>> {
    let text = match lit {
        NumLit::Int(i) => return Ok(*i as i128),
        NumLit::Text(t) => t.trim(),
    };
    if text.is_empty() {
        return Err(Some("empty number".into()));
    }
    let mut p = ExprParser {
        text,
        pos: 0,
        syms,
        missing: false,
        depth: 0,
    };
    let v = p.expr()?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(Some(format!(
            "`{text}` is not a number, a symbol, or an expression like symbol+0x10"
        )));
    }
    if p.missing {
        return Err(None);
    }
    Ok(v)
}

struct ExprParser<'t> {
    text: &'t str,
    pos: usize,
    syms: &'t HashMap<String, u64>,
    /// A symbol was not found; evaluation continues to check the syntax.
    missing: bool,
    /// Parentheses and minus signs around the current position.
    depth: usize,
}

type ExprRes = Result<i128, Option<String>>;

impl ExprParser<'_> {
    fn skip_ws(&mut self) {
        while let Some(c) = self.text[self.pos..]
            .chars()
            .next()
            .filter(|c| c.is_whitespace())
        {
            self.pos += c.len_utf8();
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.text[self.pos..].chars().next()
    }
    fn bad(&self) -> Option<String> {
        Some(format!(
            "`{}` is not a number, a symbol, or an expression like symbol+0x10",
            self.text
        ))
    }
    fn expr(&mut self) -> ExprRes {
        let mut v = self.term()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = if c == '+' { v + r } else { v - r };
            if v.unsigned_abs() > u64::MAX as u128 * 2 {
                return Err(Some(format!("`{}` overflows", self.text)));
            }
        }
        Ok(v)
    }
    fn term(&mut self) -> ExprRes {
        let mut v = self.factor()?;
        while self.peek() == Some('*') {
            self.pos += 1;
            let r = self.factor()?;
            v = v
                .checked_mul(r)
                .filter(|v| v.unsigned_abs() <= u64::MAX as u128 * 2)
                .ok_or_else(|| Some(format!("`{}` overflows", self.text)))?;
        }
        Ok(v)
    }
    fn nest(&mut self) -> Result<(), Option<String>> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Some(format!(
                "expression nested too deeply (at most {MAX_NESTING} levels of parentheses and minus signs)"
            )));
        }
        Ok(())
    }
    fn factor(&mut self) -> ExprRes {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.nest()?;
                let v = self.expr()?;
                self.depth -= 1;
                if self.peek() != Some(')') {
                    return Err(self.bad());
                }
                self.pos += 1;
                Ok(v)
            }
            Some('-') => {
                self.pos += 1;
                self.nest()?;
                let v = -self.factor()?;
                self.depth -= 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let rest = &self.text[self.pos..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                self.pos += len;
                if let Some(v) = parse_plain(word) {
                    return v.map_err(Some);
                }
                if !is_symbol_name(word) {
                    return Err(self.bad());
                }
                match self.syms.get(word) {
                    Some(v) => Ok(*v as i128),
                    None => {
                        self.missing = true;
                        Ok(0)
                    }
                }
            }
            _ => Err(self.bad()),
        }
    }
}

/// A symbol definition or a block of bytes with labels, waiting for its value.
enum Pending<'b> {
    Sym(&'b Layer, &'b Spanned<String>, &'b Num),
    Block(&'b Layer, &'b Num, Hex),
}

impl<'b> Pending<'b> {
    /// The value to evaluate (a symbol's value, a block's address) and its file.
    fn value(&self) -> (&'b Layer, &'b Num) {
        match self {
            Pending::Sym(l, _, n) | Pending::Block(l, n, _) => (l, n),
        }
    }

    /// The names it defines.
    fn defines(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Pending::Sym(_, k, _) => Box::new(std::iter::once(k.get_ref().as_str())),
            Pending::Block(_, _, hex) => Box::new(hex.labels.iter().map(|(n, _, _)| n.as_str())),
        }
    }
}

/// The symbol names an expression uses.
fn symbol_names(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')))
        .filter(|w| is_symbol_name(w))
}

/// The first symbol in an expression that is not defined.
fn first_missing<'t>(text: &'t str, syms: &HashMap<String, u64>) -> Option<&'t str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$')))
        .find(|w| is_symbol_name(w) && !syms.contains_key(*w))
}

/// A plain number: `0x..` hex, `0b..` binary or decimal, optionally negative, with `_`
/// separators. None if the text is not numeric at all.
fn parse_plain(text: &str) -> Option<Result<i128, String>> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b.trim_start()),
        None => (false, text),
    };
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let (radix, digits) = if let Some(h) = clean.strip_prefix("0x").or(clean.strip_prefix("0X")) {
        (16, h)
    } else if let Some(b) = clean.strip_prefix("0b").or(clean.strip_prefix("0B")) {
        (2, b)
    } else if clean.starts_with(|c: char| c.is_ascii_digit()) {
        (10, clean.as_str())
    } else {
        return None;
    };
    let v = match u128::from_str_radix(digits, radix) {
        Ok(v) if v <= u64::MAX as u128 => v as i128,
        Ok(_) => return Some(Err(format!("`{text}` is larger than 64 bits"))),
        Err(_) => return Some(Err(format!("`{text}` is not a valid number"))),
    };
    Some(Ok(if neg { -v } else { v }))
}

fn is_symbol_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// Fit a value into `bits` bits. Negative values are two's complement.
fn fit(v: i128, bits: u32) -> Result<u64, String> {
    let max = 1i128 << bits;
    if v >= max || v < -(max / 2) {
        let shown = if v < 0 {
            format!("{v}")
        } else {
            format!("{v:#x}")
        };
        return Err(format!("value {shown} does not fit in {bits} bits"));
    }
    Ok((v.rem_euclid(max)) as u64)
}

/// Parsed hex text: bytes and the labels found among them.
struct Hex {
    bytes: Vec<u8>,
    labels: Vec<(String, u64, Range<usize>)>,
}

struct Builder<'a> {
    layers: &'a [Layer],
    mode: Mode,
    syms: HashMap<String, u64>,
    /// Definition order, for the machine's symbol table.
    sym_order: Vec<String>,
    m: Machine,
    extra: &'a Extra,
    /// Symbols from `extra`: later definitions do not replace them.
    fixed: HashSet<String>,
    /// Address ranges of the regions in `extra.clear_regions`.
    cleared: Vec<(u64, u64)>,
}

impl<'a> Builder<'a> {
    fn new(layers: &'a [Layer], extra: &'a Extra) -> Self {
        Builder {
            layers,
            mode: Mode::Protected32,
            syms: HashMap::new(),
            sym_order: Vec::new(),
            m: Machine::new(),
            extra,
            fixed: HashSet::new(),
            cleared: Vec::new(),
        }
    }

    /// A preset's region whose contents the caller replaces.
    fn is_cleared(&self, l: &Layer, r: &raw::RegionSec) -> bool {
        l.is_preset && self.extra.clear_regions.contains(r.name.get_ref())
    }

    /// A preset's data block at `at` that lands in a cleared region.
    fn in_cleared(&self, l: &Layer, at: u64) -> bool {
        l.is_preset && self.cleared.iter().any(|&(b, e)| at >= b && at < e)
    }

    fn define(&mut self, name: &str, v: u64) {
        if self.fixed.contains(name) {
            return;
        }
        if self.syms.insert(name.to_string(), v).is_none() {
            self.sym_order.push(name.to_string());
        }
    }

    /// Evaluate a number that may use any symbol defined so far.
    fn num(&self, l: &Layer, n: &Num, bits: u32) -> Res<u64> {
        match eval(n.get_ref(), &self.syms) {
            Ok(v) => fit(v, bits).map_err(|e| l.err(n.span(), e)),
            Err(Some(e)) => Err(l.err(n.span(), e)),
            Err(None) => Err(self.unknown_symbol(l, n)),
        }
    }

    fn unknown_symbol(&self, l: &Layer, n: &Num) -> ScenarioError {
        let text = match n.get_ref() {
            NumLit::Text(t) => t.trim().to_string(),
            NumLit::Int(i) => i.to_string(),
        };
        let name = first_missing(&text, &self.syms).unwrap_or(&text);
        let hint = did_you_mean(name, self.syms.keys().map(String::as_str));
        l.err(n.span(), format!("unknown symbol `{name}`{hint}"))
    }

    fn max_steps(&self, l: &Layer, n: &Num) -> Res<u64> {
        let v = self.num(l, n, 64)?;
        if v > super::MAX_STEPS {
            return Err(l.err(
                n.span(),
                format!(
                    "max_steps {v} is more than the {} steps a run may record \
                     (for a longer trace, leave it out and give `ringstep trace --max-steps N`)",
                    super::MAX_STEPS
                ),
            ));
        }
        Ok(v)
    }

    fn small(&self, l: &Layer, n: &Num, max: u64, what: &str) -> Res<u64> {
        let v = self.num(l, n, 64)?;
        if v > max {
            return Err(l.err(
                n.span(),
                format!("{what} {v:#x} is out of range (at most {max:#x})"),
            ));
        }
        Ok(v)
    }

    fn build(mut self) -> Res<Scenario> {
        let layers = self.layers;
        let (mut name, mut description) = (None, None);
        for l in layers {
            if let Some(m) = &l.doc.machine {
                if let Some(n) = &m.name {
                    name = Some(n.clone());
                }
                if let Some(d) = &m.description {
                    description = Some(d.clone());
                }
                if let Some(mode) = &m.mode {
                    self.mode = match mode.get_ref().as_str() {
                        "protected32" => Mode::Protected32,
                        "long64" => Mode::Long64,
                        other => {
                            let hint = did_you_mean(other, ["protected32", "long64"]);
                            return Err(l.err(
                                mode.span(),
                                format!(
                                    "unknown mode `{other}` (expected protected32 or long64){hint}"
                                ),
                            ));
                        }
                    };
                }
            }
        }

        let regions = self.merged_regions();
        self.resolve_symbols(&regions)?;
        self.add_regions(&regions)?;
        self.control_registers()?;
        self.msrs()?;
        self.paging()?;
        self.gdt()?;
        self.idt()?;
        let tss = self.tss()?;
        self.data()?;
        self.regs()?;
        self.segments()?;
        if let Some((l, sel_span, sel)) = tss {
            self.load_tr(l, sel_span, sel)?;
        }
        let (interrupts, stop_at, max_steps) = self.run()?;
        let task = self.task()?;

        for n in &self.sym_order {
            self.m.symbols.insert(n, self.syms[n]);
        }
        let last = layers.last().map(|l| l.origin.clone()).unwrap_or_default();
        Ok(Scenario {
            name: name.unwrap_or_else(|| {
                std::path::Path::new(&last)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or(last)
            }),
            description: description.unwrap_or_default(),
            machine: self.m,
            interrupts,
            stop_at,
            max_steps,
            task,
            lines: None,
        })
    }

    /// `[task]`: the last layer that has one gives the whole model.
    fn task(&self) -> Res<Option<TaskModel>> {
        let Some((l, t)) = self
            .layers
            .iter()
            .rev()
            .find_map(|l| l.doc.task.as_ref().map(|t| (l, t)))
        else {
            return Ok(None);
        };
        let bits = self.mode.addr_bits();
        let given = [
            t.thread_size.is_some(),
            t.current.is_some(),
            t.current_gs.is_some(),
        ]
        .iter()
        .filter(|&&g| g)
        .count();
        if given != 1 {
            let at = [&t.thread_size, &t.current, &t.current_gs]
                .into_iter()
                .flatten()
                .nth(1)
                .map(|n| n.span())
                .unwrap_or(t.pid_offset.span());
            return Err(l.err(
                at,
                "[task] takes exactly one of thread_size (i386: current from the kernel stack, ESP & ~(thread_size - 1)), current_gs (x86-64: the offset of the current-task pointer in the per-CPU area, read through GS) or current (the address of a current-task pointer)",
            ));
        }
        let current = if let Some(size) = &t.thread_size {
            let thread_size = self.num(l, size, 64)?;
            if !thread_size.is_power_of_two() {
                return Err(l.err(size.span(), "thread_size must be a power of two"));
            }
            let task_offset = match &t.task_offset {
                Some(n) => self.num(l, n, 32)?,
                None => 0,
            };
            CurrentRule::ThreadInfo {
                thread_size,
                task_offset,
            }
        } else if let Some(off) = &t.current_gs {
            CurrentRule::GsPointer(self.num(l, off, bits)?)
        } else if let Some(at) = &t.current {
            CurrentRule::Pointer(self.num(l, at, bits)?)
        } else {
            unreachable!("exactly one rule was given")
        };
        let preempt = match (&t.preempt_count_offset, &t.preempt_count) {
            (Some(off), None) => Some(PreemptRule::ThreadInfoOffset(self.num(l, off, 32)?)),
            (None, Some(at)) => Some(PreemptRule::At(self.num(l, at, bits)?)),
            (None, None) => None,
            (Some(off), Some(_)) => {
                return Err(l.err(
                    off.span(),
                    "give either preempt_count_offset or preempt_count, not both",
                ))
            }
        };
        Ok(Some(TaskModel {
            current,
            pid_offset: self.num(l, &t.pid_offset, 32)?,
            comm_offset: self.num(l, &t.comm_offset, 32)?,
            preempt,
            interrupt_mask: self.num(l, &t.interrupt_mask, 32)?,
        }))
    }

    /// Regions by name: a later layer's region of the same name replaces the earlier one.
    fn merged_regions(&self) -> Vec<(&'a Layer, &'a raw::RegionSec)> {
        let mut out: Vec<(&Layer, &raw::RegionSec)> = Vec::new();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for l in self.layers {
            for r in &l.doc.regions {
                match by_name.get(r.name.get_ref().as_str()) {
                    Some(&i) => out[i] = (l, r),
                    None => {
                        by_name.insert(r.name.get_ref(), out.len());
                        out.push((l, r));
                    }
                }
            }
        }
        out
    }

    fn parse_hex(&self, l: &Layer, h: &Spanned<HexText>) -> Res<Hex> {
        let mut bytes = Vec::new();
        let mut labels = Vec::new();
        let mut seen = HashSet::new();
        for (part, span) in &h.get_ref().parts {
            let span = span.clone().unwrap_or_else(|| h.span());
            // Where the string's contents begin in the source.
            let src = l.text.get(span.clone()).unwrap_or("");
            let mut skip = if src.starts_with("\"\"\"") || src.starts_with("'''") {
                3
            } else {
                1
            };
            if src[skip.min(src.len())..].starts_with("\r\n") {
                skip += 2;
            } else if skip == 3 && src[3.min(src.len())..].starts_with('\n') {
                skip += 1;
            }
            let mut offset = 0;
            for word in part.split_inclusive(char::is_whitespace) {
                let start = offset;
                offset += word.len();
                let word = word.trim();
                if word.is_empty() {
                    continue;
                }
                let at = span.start + skip + start;
                let wspan = at..at + word.len();
                if let Some(label) = word.strip_suffix(':') {
                    if !is_symbol_name(label) {
                        return Err(l.err(wspan, format!("`{label}` is not a valid label name")));
                    }
                    if !seen.insert(label) {
                        return Err(l.err(wspan, format!("label `{label}` is defined twice")));
                    }
                    labels.push((label.to_string(), bytes.len() as u64, wspan));
                    continue;
                }
                if let Some(bad) = word.chars().find(|c| !c.is_ascii_hexdigit()) {
                    return Err(l.err(
                        wspan,
                        format!("`{word}` is not hex (unexpected `{bad}`); labels end with `:`"),
                    ));
                }
                if word.len() % 2 != 0 {
                    return Err(l.err(
                        wspan,
                        format!(
                            "odd number of hex digits in `{word}` ({} digits)",
                            word.len()
                        ),
                    ));
                }
                for i in (0..word.len()).step_by(2) {
                    // The word was checked to be ASCII hex digits above.
                    let b = u8::from_str_radix(&word[i..i + 2], 16)
                        .map_err(|e| l.err(wspan.clone(), e.to_string()))?;
                    bytes.push(b);
                }
            }
        }
        Ok(Hex { bytes, labels })
    }

    /// Define explicit symbols and labels, in whatever order their definitions depend
    /// on each other.
    fn resolve_symbols(&mut self, regions: &[(&'a Layer, &'a raw::RegionSec)]) -> Res<()> {
        for (name, v) in &self.extra.symbols {
            self.define(name, *v);
            self.fixed.insert(name.clone());
        }
        for (l, r) in regions {
            if self.is_cleared(l, r) {
                let base = self.num(l, &r.base, 64)?;
                let size = self.num(l, &r.size, 64)?;
                self.cleared.push((base, base.saturating_add(size)));
            }
        }
        let pending = self.pending(regions)?;
        let order = dependency_order(&Self::dependencies(&pending))
            .map_err(|cycle| Self::cycle_error(&pending, &cycle))?;
        let bits = self.mode.addr_bits();
        for i in order {
            let (l, n) = pending[i].value();
            let v = match eval(n.get_ref(), &self.syms) {
                Ok(v) => v,
                Err(None) => return Err(self.unknown_symbol(l, n)),
                Err(Some(e)) => return Err(l.err(n.span(), e)),
            };
            match &pending[i] {
                Pending::Sym(l, k, n) => {
                    let v = fit(v, 64).map_err(|e| l.err(n.span(), e))?;
                    self.define(k.get_ref(), v);
                }
                Pending::Block(l, n, hex) => {
                    let base = fit(v, bits).map_err(|e| l.err(n.span(), e))?;
                    if !self.in_cleared(l, base) {
                        for (name, off, _) in &hex.labels {
                            self.define(name, base.wrapping_add(*off));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The symbol definitions and labelled blocks of bytes, in the order written.
    fn pending(&self, regions: &[(&'a Layer, &'a raw::RegionSec)]) -> Res<Vec<Pending<'a>>> {
        let mut pending = Vec::new();
        for l in self.layers {
            if let Some(KeyMap(syms)) = &l.doc.symbols {
                for (k, v) in syms {
                    if !is_symbol_name(k.get_ref()) {
                        return Err(l.err(
                            k.span(),
                            format!("`{}` is not a valid symbol name", k.get_ref()),
                        ));
                    }
                    pending.push(Pending::Sym(l, k, v));
                }
            }
        }
        for (l, r) in regions {
            if let (Some(h), false) = (&r.bytes, self.is_cleared(l, r)) {
                pending.push(Pending::Block(l, &r.base, self.parse_hex(l, h)?));
            }
        }
        for l in self.layers {
            for d in &l.doc.data {
                if let Some(h) = &d.bytes {
                    pending.push(Pending::Block(l, &d.at, self.parse_hex(l, h)?));
                }
            }
        }
        Ok(pending)
    }

    /// For each pending definition, the ones defining the names its value uses.
    fn dependencies(pending: &[Pending]) -> Vec<Vec<usize>> {
        let mut defs: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            for name in p.defines() {
                defs.entry(name).or_default().push(i);
            }
        }
        pending
            .iter()
            .map(|p| match p.value().1.get_ref() {
                NumLit::Int(_) => Vec::new(),
                NumLit::Text(t) => symbol_names(t)
                    .filter_map(|w| defs.get(w))
                    .flatten()
                    .copied()
                    .collect(),
            })
            .collect()
    }

    /// "symbol `a` refers to itself through `b`", at the value of `a`.
    fn cycle_error(pending: &[Pending], cycle: &[usize]) -> ScenarioError {
        let name = |i: usize| pending[i].defines().next().unwrap_or("?").to_string();
        let (l, n) = pending[cycle[0]].value();
        let what = match pending[cycle[0]] {
            Pending::Sym(..) => "symbol",
            Pending::Block(..) => "label",
        };
        let through: Vec<String> = cycle[1..]
            .iter()
            .map(|&i| format!("`{}`", name(i)))
            .collect();
        let via = match through.is_empty() {
            true => String::new(),
            false => format!(" through {}", through.join(", ")),
        };
        l.err(
            n.span(),
            format!("{what} `{}` refers to itself{via}", name(cycle[0])),
        )
    }

    fn add_regions(&mut self, regions: &[(&'a Layer, &'a raw::RegionSec)]) -> Res<()> {
        let bits = self.mode.addr_bits();
        let mut list = Vec::with_capacity(regions.len());
        for (l, r) in regions {
            let base = self.num(l, &r.base, bits)?;
            let size = self.num(l, &r.size, 64)?;
            if bits == 32 && base.saturating_add(size) > 1 << 32 {
                return Err(l.err(
                    r.size.span(),
                    format!("region `{}` extends past 4 GiB", r.name.get_ref()),
                ));
            }
            let phys = r.phys.as_ref().map(|p| self.num(l, p, 52)).transpose()?;
            list.push(Region {
                name: r.name.get_ref().clone(),
                base,
                size,
                perm: Perm {
                    user: r.user,
                    writable: r.writable,
                    exec: r.exec,
                },
                phys,
            });
        }
        let bases: Vec<u64> = list.iter().map(|r| r.base).collect();
        self.m.mem.add_regions(list).map_err(|(i, e)| {
            let (l, r) = regions[i];
            l.err(r.name.span(), e.to_string())
        })?;
        for ((l, r), base) in regions.iter().zip(bases) {
            if let (Some(h), false) = (&r.bytes, self.is_cleared(l, r)) {
                let hex = self.parse_hex(l, h)?;
                let size = self.m.mem.region_at(base).map_or(0, |g| g.size);
                if hex.bytes.len() as u64 > size {
                    return Err(l.err(
                        h.span(),
                        format!(
                            "{} bytes do not fit in region `{}` of size {size:#x}",
                            hex.bytes.len(),
                            r.name.get_ref()
                        ),
                    ));
                }
                self.m.mem.poke(base, &hex.bytes);
            }
        }
        Ok(())
    }

    /// Refuse writes that land outside every region: they would be invisible.
    fn check_mapped(
        &self,
        l: &Layer,
        span: Range<usize>,
        addr: u64,
        len: u64,
        what: &str,
    ) -> Res<()> {
        let mut a = addr;
        let end = addr.saturating_add(len.max(1));
        while a < end {
            match self.m.mem.region_at(a) {
                Some(r) => a = r.end(),
                None => {
                    return Err(l.err(span, format!("{what} at {a:#x} is outside every region")));
                }
            }
        }
        Ok(())
    }

    /// The final entries of a key/value section across layers: for each key (as
    /// normalised by `key`) only the last layer's value counts, so a scenario can
    /// override a preset without the preset's value being evaluated.
    #[allow(clippy::type_complexity)]
    fn last_values<K: PartialEq>(
        &self,
        sec: fn(&Doc) -> Option<&KeyMap<Num>>,
        mut key: impl FnMut(&'a Layer, &'a Spanned<String>) -> Res<K>,
    ) -> Res<Vec<(K, &'a Layer, &'a Spanned<String>, &'a Num)>> {
        let mut out: Vec<(K, &'a Layer, &'a Spanned<String>, &'a Num)> = Vec::new();
        for l in self.layers {
            let Some(KeyMap(m)) = sec(&l.doc) else {
                continue;
            };
            for (k, v) in m {
                let nk = key(l, k)?;
                out.retain(|(o, ..)| *o != nk);
                out.push((nk, l, k, v));
            }
        }
        Ok(out)
    }

    fn control_registers(&mut self) -> Res<()> {
        self.m.cpu.cr0 = cpu::CR0_PE | cpu::CR0_WP | cpu::CR0_PG;
        let entries = self.last_values(
            |d| d.cr.as_ref(),
            |l, k| {
                let key = k.get_ref().to_ascii_lowercase();
                if ["cr0", "cr2", "cr3", "cr4", "efer"].contains(&key.as_str()) {
                    Ok(key)
                } else {
                    let hint = did_you_mean(&key, ["cr0", "cr2", "cr3", "cr4", "efer"]);
                    Err(l.err(k.span(), format!("unknown control register `{key}`{hint}")))
                }
            },
        )?;
        for (key, l, _, v) in entries {
            if key == "efer" {
                let val = self.num(l, v, 64)?;
                self.check_msr(l, v.span(), msr::EFER, val)?;
                self.m.cpu.msr.set(msr::EFER, val);
                continue;
            }
            let val = self.num(l, v, self.mode.addr_bits())?;
            let c = &mut self.m.cpu;
            match key.as_str() {
                "cr0" => c.cr0 = val,
                "cr2" => c.cr2 = val,
                "cr3" => c.cr3 = val,
                _ => c.cr4 = val,
            }
        }
        if self.m.cpu.cr0 & cpu::CR0_PE == 0 {
            return Err(
                self.first_layer_err("CR0.PE must be set: the machine does not run real-mode code")
            );
        }
        if self.mode == Mode::Long64 {
            // IA-32e mode requires paging with PAE (SDM Vol. 3A, 10.8.5).
            self.m.cpu.cr0 |= cpu::CR0_PG;
            self.m.cpu.cr4 |= cpu::CR4_PAE;
        }
        Ok(())
    }

    fn first_layer_err(&self, msg: &str) -> ScenarioError {
        match self.layers.last() {
            Some(l) => l.err(0..0, msg),
            None => ScenarioError::whole_file("scenario", msg),
        }
    }

    fn check_msr(&self, l: &Layer, span: Range<usize>, index: u32, val: u64) -> Res<()> {
        // EFER.LMA is read-only for WRMSR but a scenario may describe it.
        let probe = if index == msr::EFER {
            val & !msr::EFER_LMA
        } else {
            val
        };
        self.m
            .cpu
            .msr
            .check_write(index, probe)
            .map(|_| ())
            .map_err(|e| {
                let name = msr::name(index).unwrap_or("MSR");
                l.err(
                    span,
                    format!(
                        "{name} = {val:#x}: {}",
                        e.reason().replace("ECX", "the key")
                    ),
                )
            })
    }

    fn msrs(&mut self) -> Res<()> {
        let mut names: Vec<String> = Vec::new();
        for (_, n) in msr::KNOWN {
            names.push(n.to_string());
            names.push(n[5..].to_string());
        }
        let entries = self.last_values(
            |d| d.msrs.as_ref(),
            |l, k| {
                msr::by_name(k.get_ref()).ok_or_else(|| {
                    let hint = did_you_mean(k.get_ref(), names.iter().map(String::as_str));
                    l.err(k.span(), format!("unknown MSR `{}`{hint}", k.get_ref()))
                })
            },
        )?;
        for (index, l, _, v) in entries {
            let val = self.num(l, v, 64)?;
            self.check_msr(l, v.span(), index, val)?;
            self.m.cpu.msr.set(index, val);
        }
        let efer = self.m.cpu.msr.get(msr::EFER);
        match self.mode {
            Mode::Long64 => {
                self.m
                    .cpu
                    .msr
                    .set(msr::EFER, efer | msr::EFER_LME | msr::EFER_LMA);
            }
            Mode::Protected32 => {
                if efer & (msr::EFER_LME | msr::EFER_LMA) != 0 {
                    return Err(self.first_layer_err(
                        "EFER.LME/LMA are set but [machine] mode is protected32 (use mode = \"long64\")",
                    ));
                }
            }
        }
        Ok(())
    }

    fn table_reg(
        &self,
        base: Option<(&Layer, &Num)>,
        limit: Option<(&Layer, &Num)>,
        default_limit: u64,
    ) -> Res<TableReg> {
        let base = match base {
            Some((l, n)) => self.num(l, n, self.mode.addr_bits())?,
            None => 0,
        };
        let limit = match limit {
            Some((l, n)) => self.small(l, n, 0xffff, "table limit")?,
            None => default_limit.min(0xffff),
        };
        Ok(TableReg {
            base,
            limit: limit as u16,
        })
    }

    fn gdt(&mut self) -> Res<()> {
        let (mut base, mut limit) = (None, None);
        let mut max_end = 0u64;
        for l in self.layers {
            if let Some(g) = &l.doc.gdt {
                if let Some(b) = &g.base {
                    base = Some((l, b));
                }
                if let Some(n) = &g.limit {
                    limit = Some((l, n));
                }
                for e in &g.entries {
                    let idx = self.small(l, &e.index, 8191, "GDT index")?;
                    let size = if e.tss64_base.is_some() { 16 } else { 8 };
                    max_end = max_end.max(idx * 8 + size);
                }
            }
        }
        let any_entries = self
            .layers
            .iter()
            .any(|l| l.doc.gdt.as_ref().is_some_and(|g| !g.entries.is_empty()));
        if any_entries && base.is_none() {
            return Err(self.first_layer_err("[gdt] has entries but no base"));
        }
        self.m.cpu.gdtr = self.table_reg(base, limit, max_end.saturating_sub(1))?;
        let gdtr = self.m.cpu.gdtr;
        if let Some((l, b)) = base {
            self.check_mapped(l, b.span(), gdtr.base, gdtr.limit as u64 + 1, "the GDT")?;
        }
        for l in self.layers {
            let Some(g) = &l.doc.gdt else { continue };
            for e in &g.entries {
                let idx = self.small(l, &e.index, 8191, "GDT index")?;
                let words = self.gdt_entry(l, e)?;
                let end = idx * 8 + 8 * words.len() as u64 - 1;
                if end > gdtr.limit as u64 {
                    return Err(l.err(
                        e.index.span(),
                        format!(
                            "GDT entry {idx} lies beyond the GDT limit {:#x}",
                            gdtr.limit
                        ),
                    ));
                }
                for (i, w) in words.iter().enumerate() {
                    self.m
                        .mem
                        .poke_le(gdtr.base + idx * 8 + 8 * i as u64, 8, *w);
                }
            }
        }
        Ok(())
    }

    fn gdt_entry(&self, l: &Layer, e: &raw::GdtEntry) -> Res<Vec<u64>> {
        let has_fields = e.base.is_some()
            || e.limit.is_some()
            || e.ty.is_some()
            || e.s.is_some()
            || e.dpl.is_some()
            || e.present.is_some()
            || e.avl.is_some()
            || e.l.is_some()
            || e.db.is_some()
            || e.g.is_some();
        if let Some(r) = &e.raw {
            if has_fields || e.tss64_base.is_some() {
                return Err(l.err(r.span(), "give either `raw` or descriptor fields, not both"));
            }
            return Ok(vec![self.num(l, r, 64)?]);
        }
        let limit = match &e.limit {
            Some(n) => self.small(l, n, 0xf_ffff, "descriptor limit (the raw 20-bit field)")?,
            None => 0,
        };
        let dpl = match &e.dpl {
            Some(n) => self.small(l, n, 3, "DPL")?,
            None => 0,
        };
        if let Some(tb) = &e.tss64_base {
            if self.mode != Mode::Long64 {
                return Err(l.err(tb.span(), "`tss64_base` needs [machine] mode = \"long64\""));
            }
            if e.base.is_some() || e.s == Some(true) || e.l.is_some() || e.db.is_some() {
                return Err(l.err(
                    tb.span(),
                    "a 16-byte TSS descriptor takes only limit, type, dpl, present, avl, g",
                ));
            }
            let base = self.num(l, tb, 64)?;
            let ty = match &e.ty {
                Some(n) => self.small(l, n, 0xf, "descriptor type")?,
                None => 0x9,
            };
            let attr = Attr::from_fields(
                ty as u8,
                false,
                dpl as u8,
                e.present.unwrap_or(true),
                e.avl.unwrap_or(false),
                false,
                false,
                e.g.unwrap_or(false),
            );
            let lo = Descriptor::encode(base as u32, limit as u32, attr).0;
            return Ok(vec![lo, base >> 32]);
        }
        let Some(tyn) = &e.ty else {
            return Err(l.err(
                e.index.span(),
                "GDT entry needs `raw`, `type` (with other fields) or `tss64_base`",
            ));
        };
        let ty = self.small(l, tyn, 0xf, "descriptor type")?;
        let base = match &e.base {
            Some(n) => self.num(l, n, 32)?,
            None => 0,
        };
        let attr = Attr::from_fields(
            ty as u8,
            e.s.unwrap_or(true),
            dpl as u8,
            e.present.unwrap_or(true),
            e.avl.unwrap_or(false),
            e.l.unwrap_or(false),
            e.db.unwrap_or(false),
            e.g.unwrap_or(false),
        );
        Ok(vec![Descriptor::encode(base as u32, limit as u32, attr).0])
    }

    fn idt(&mut self) -> Res<()> {
        let gate_size: u64 = if self.mode == Mode::Long64 { 16 } else { 8 };
        let (mut base, mut limit) = (None, None);
        for l in self.layers {
            if let Some(t) = &l.doc.idt {
                if let Some(b) = &t.base {
                    base = Some((l, b));
                }
                if let Some(n) = &t.limit {
                    limit = Some((l, n));
                }
                if !t.gates.is_empty() && base.is_none() {
                    return Err(l.err(t.gates[0].vector.span(), "[idt] has gates but no base"));
                }
            }
        }
        self.m.cpu.idtr = self.table_reg(base, limit, 256 * gate_size - 1)?;
        let idtr = self.m.cpu.idtr;
        if let Some((l, b)) = base {
            self.check_mapped(l, b.span(), idtr.base, idtr.limit as u64 + 1, "the IDT")?;
        }
        for l in self.layers {
            let Some(t) = &l.doc.idt else { continue };
            for g in &t.gates {
                let vector = self.small(l, &g.vector, 255, "vector")?;
                let selector = self.small(l, &g.selector, 0xffff, "selector")?;
                let offset = self.num(l, &g.offset, self.mode.addr_bits())?;
                let ty = match g.kind.get_ref().as_str() {
                    "interrupt" => 0xe,
                    "trap" => 0xf,
                    other => {
                        let hint = did_you_mean(other, ["interrupt", "trap"]);
                        return Err(l.err(
                            g.kind.span(),
                            format!(
                                "unknown gate kind `{other}` (expected interrupt or trap){hint}"
                            ),
                        ));
                    }
                };
                let dpl = match &g.dpl {
                    Some(n) => self.small(l, n, 3, "DPL")?,
                    None => 0,
                };
                let ist = match &g.ist {
                    Some(n) if self.mode == Mode::Protected32 => {
                        return Err(l.err(n.span(), "`ist` exists only in long64 mode"));
                    }
                    Some(n) => self.small(l, n, 7, "IST index")?,
                    None => 0,
                };
                let gate = Gate {
                    offset,
                    selector: selector as u16,
                    ty,
                    dpl: dpl as u8,
                    present: g.present.unwrap_or(true),
                    ist: ist as u8,
                };
                if vector * gate_size + gate_size - 1 > idtr.limit as u64 {
                    return Err(l.err(
                        g.vector.span(),
                        format!(
                            "vector {vector:#x} lies beyond the IDT limit {:#x}",
                            idtr.limit
                        ),
                    ));
                }
                let at = idtr.base + vector * gate_size;
                if self.mode == Mode::Long64 {
                    let (lo, hi) = gate.encode64();
                    self.m.mem.poke_le(at, 8, lo);
                    self.m.mem.poke_le(at + 8, 8, hi);
                } else {
                    self.m.mem.poke_le(at, 8, gate.encode32());
                }
            }
        }
        Ok(())
    }

    /// Write the TSS fields. Returns the TR selector to load once the GDT is final.
    fn tss(&mut self) -> Res<Option<(&'a Layer, Range<usize>, u16)>> {
        let long = self.mode == Mode::Long64;
        let mut base: Option<(&Layer, &Num)> = None;
        let mut selector = None;
        let mut fields = Vec::new();
        let names32 = [
            "base",
            "selector",
            "esp0",
            "ss0",
            "esp1",
            "ss1",
            "esp2",
            "ss2",
            "io_map_base",
        ];
        let names64 = [
            "base",
            "selector",
            "rsp0",
            "rsp1",
            "rsp2",
            "ist1",
            "ist2",
            "ist3",
            "ist4",
            "ist5",
            "ist6",
            "ist7",
            "io_map_base",
        ];
        let entries = self.last_values(
            |d| d.tss.as_ref(),
            |_, k| Ok(k.get_ref().to_ascii_lowercase()),
        )?;
        {
            for (key, l, k, v) in entries {
                match key.as_str() {
                    "base" => base = Some((l, v)),
                    "selector" => {
                        let s = self.small(l, v, 0xffff, "selector")?;
                        selector = Some((l, v.span(), s as u16));
                    }
                    _ => {
                        let (off, len, bits) = match (long, key.as_str()) {
                            (false, "esp0" | "esp1" | "esp2") => {
                                (tss32::esp(key.as_bytes()[3] - b'0'), 4, 32)
                            }
                            (false, "ss0" | "ss1" | "ss2") => {
                                (tss32::ss(key.as_bytes()[2] - b'0'), 2, 16)
                            }
                            (true, "rsp0" | "rsp1" | "rsp2") => {
                                (tss64::rsp(key.as_bytes()[3] - b'0'), 8, 64)
                            }
                            (
                                true,
                                "ist1" | "ist2" | "ist3" | "ist4" | "ist5" | "ist6" | "ist7",
                            ) => (tss64::ist(key.as_bytes()[3] - b'0'), 8, 64),
                            (_, "io_map_base") => (tss32::IOMAP_BASE, 2, 16),
                            _ => {
                                let (own, other) = if long {
                                    (&names64[..], &names32[..])
                                } else {
                                    (&names32[..], &names64[..])
                                };
                                if other.contains(&key.as_str()) {
                                    let other_name = if long {
                                        key.replacen('e', "r", 1)
                                    } else {
                                        key.replacen('r', "e", 1)
                                    };
                                    let hint = if own.contains(&other_name.as_str()) {
                                        format!(" (use `{other_name}`)")
                                    } else {
                                        String::new()
                                    };
                                    return Err(l.err(
                                        k.span(),
                                        format!(
                                            "`{key}` is not a field of the TSS in a {} machine{hint}",
                                            self.mode.name()
                                        ),
                                    ));
                                }
                                let hint = did_you_mean(&key, own.iter().copied());
                                return Err(
                                    l.err(k.span(), format!("unknown TSS field `{key}`{hint}"))
                                );
                            }
                        };
                        let val = self.num(l, v, bits)?;
                        fields.push((l, v.span(), off, len, val));
                    }
                }
            }
        }
        let base = match base {
            Some((l, n)) => Some(self.num(l, n, self.mode.addr_bits())?),
            None => match selector {
                Some((l, ref span, sel)) => Some(self.tss_descriptor(l, span.clone(), sel)?.0),
                None => None,
            },
        };
        if let Some(base) = base {
            for (l, span, off, len, val) in fields {
                self.check_mapped(l, span, base + off, len as u64, "the TSS field")?;
                self.m.mem.poke_le(base + off, len, val);
            }
            if let Some((l, span, sel)) = &selector {
                let (dbase, _) = self.tss_descriptor(l, span.clone(), *sel)?;
                if dbase != base {
                    return Err(l.err(
                        span.clone(),
                        format!("the TSS descriptor for selector {sel:#x} has base {dbase:#x}, but [tss] base is {base:#x}"),
                    ));
                }
            }
        } else if let Some((l, span, _, _, _)) = fields.first() {
            return Err(l.err(span.clone(), "[tss] fields need a `base` or a `selector`"));
        }
        Ok(selector)
    }

    /// Base and raw descriptor of the TSS descriptor named by `sel`.
    fn tss_descriptor(&self, l: &Layer, span: Range<usize>, sel: u16) -> Res<(u64, Descriptor)> {
        let s = Selector(sel);
        if s.ti() || s.is_null() {
            return Err(l.err(
                span,
                format!("TSS selector {sel:#x} must select a GDT entry"),
            ));
        }
        let need = if self.mode == Mode::Long64 { 15 } else { 7 };
        if s.index() as u64 * 8 + need > self.m.cpu.gdtr.limit as u64 {
            return Err(l.err(
                span,
                format!(
                    "TSS selector {sel:#x} is beyond the GDT limit {:#x}",
                    self.m.cpu.gdtr.limit
                ),
            ));
        }
        let at = self.m.cpu.gdtr.base + s.index() as u64 * 8;
        let d = Descriptor(self.m.mem.peek_le(at, 8));
        let a = d.attr();
        if a.s() || !matches!(a.ty(), 0x9 | 0xb) {
            return Err(l.err(
                span,
                format!(
                    "GDT entry {} is not a 32/64-bit TSS descriptor (type {:#x}, S={})",
                    s.index(),
                    a.ty(),
                    a.s() as u8
                ),
            ));
        }
        let mut base = d.base();
        if self.mode == Mode::Long64 {
            base |= (self.m.mem.peek_le(at + 8, 8) & 0xffff_ffff) << 32;
        }
        Ok((base, d))
    }

    fn load_tr(&mut self, l: &Layer, span: Range<usize>, sel: u16) -> Res<()> {
        let (base, d) = self.tss_descriptor(l, span.clone(), sel)?;
        if !d.attr().present() {
            return Err(l.err(
                span,
                format!("the TSS descriptor for selector {sel:#x} is not present"),
            ));
        }
        // LTR marks the descriptor busy (SDM Vol. 3A, 8.2.4).
        let busy = Descriptor(d.0 | 2 << 40);
        let at = self.m.cpu.gdtr.base + Selector(sel).index() as u64 * 8;
        self.m.mem.poke_le(at, 8, busy.0);
        let mut seg = busy.to_segment(sel);
        seg.base = base;
        if seg.limit < tss32::MIN_LIMIT {
            return Err(l.err(
                span,
                format!(
                    "TSS limit {:#x} is below the minimum {:#x}",
                    seg.limit,
                    tss32::MIN_LIMIT
                ),
            ));
        }
        self.m.cpu.tr = seg;
        Ok(())
    }

    fn data(&mut self) -> Res<()> {
        let bits = self.mode.addr_bits();
        for l in self.layers {
            for d in &l.doc.data {
                let at = self.num(l, &d.at, bits)?;
                if self.in_cleared(l, at) {
                    continue;
                }
                let mut kinds = 0;
                let mut bytes = Vec::new();
                if let Some(h) = &d.bytes {
                    kinds += 1;
                    bytes = self.parse_hex(l, h)?.bytes;
                }
                for (list, size) in [(&d.words, 2usize), (&d.longs, 4), (&d.quads, 8)] {
                    if let Some(list) = list {
                        kinds += 1;
                        for n in list {
                            let v = self.num(l, n, 8 * size as u32)?;
                            bytes.extend_from_slice(&v.to_le_bytes()[..size]);
                        }
                    }
                }
                if let Some(s) = &d.ascii {
                    kinds += 1;
                    if !s.get_ref().is_ascii() {
                        return Err(l.err(s.span(), "`ascii` must hold only ASCII characters"));
                    }
                    bytes.extend_from_slice(s.get_ref().as_bytes());
                    bytes.push(0);
                }
                if kinds != 1 {
                    return Err(l.err(
                        d.at.span(),
                        "a [[data]] block needs exactly one of bytes, words, longs, quads, ascii",
                    ));
                }
                if let Some(r) = &d.repeat {
                    let n = self.small(l, r, 1 << 20, "repeat count")?;
                    bytes = bytes.repeat(n as usize);
                }
                if d.phys {
                    self.m.mem.poke_phys(at, &bytes);
                    continue;
                }
                self.check_mapped(l, d.at.span(), at, bytes.len() as u64, "data")?;
                self.m.mem.poke(at, &bytes);
            }
        }
        Ok(())
    }

    fn regs(&mut self) -> Res<()> {
        self.m.cpu.rflags = flags::RESERVED1;
        let long = self.mode == Mode::Long64;
        let mut names: Vec<&str> = vec!["eip", "eflags"];
        names.extend(GPR_NAMES_32);
        if long {
            names.extend(GPR_NAMES_64);
            names.extend(["rip", "rflags"]);
        }
        let entries = self.last_values(
            |d| d.regs.as_ref(),
            |l, k| {
                let key = k.get_ref();
                let Some(reg) = cpu::reg_by_name(key) else {
                    let hint = did_you_mean(key, names.iter().copied());
                    return Err(l.err(k.span(), format!("unknown register `{key}`{hint}")));
                };
                let wide = match reg {
                    RegName::Gpr { bytes, .. } => bytes == 8,
                    _ => key.to_ascii_lowercase().starts_with('r'),
                };
                if wide && !long {
                    return Err(l.err(
                        k.span(),
                        format!("`{key}` does not exist in a protected32 machine"),
                    ));
                }
                // eax and rax name the same register: the later one wins.
                Ok(match reg {
                    RegName::Gpr { index, .. } => index,
                    RegName::Ip => 16,
                    RegName::Flags => 17,
                })
            },
        )?;
        for (_, l, k, v) in entries {
            let Some(reg) = cpu::reg_by_name(k.get_ref()) else {
                continue;
            };
            let bits = if long && !matches!(reg, RegName::Gpr { bytes: 4, .. }) {
                64
            } else {
                32
            };
            let val = self.num(l, v, bits)?;
            match reg {
                RegName::Gpr { index, .. } => self.m.cpu.gpr[index] = val,
                RegName::Ip => self.m.cpu.rip = val,
                RegName::Flags => self.m.cpu.rflags = val | flags::RESERVED1,
            }
        }
        Ok(())
    }

    fn segments(&mut self) -> Res<()> {
        let mut sels: [Option<(&Layer, Range<usize>, u16)>; 6] = Default::default();
        for l in self.layers {
            let Some(KeyMap(segs)) = &l.doc.segs else {
                continue;
            };
            for (k, v) in segs {
                let key = k.get_ref().to_ascii_lowercase();
                let Some(reg) = SegReg::ALL.iter().find(|r| r.name() == key) else {
                    let hint = did_you_mean(&key, SegReg::ALL.iter().map(|r| r.name()));
                    return Err(l.err(k.span(), format!("unknown segment register `{key}`{hint}")));
                };
                let sel = self.small(l, v, 0xffff, "selector")?;
                sels[*reg as usize] = Some((l, v.span(), sel as u16));
            }
        }
        let Some((cs_l, cs_span, cs)) = sels[SegReg::Cs as usize].clone() else {
            return Err(self.first_layer_err("[segs] must give cs"));
        };
        let cpl = Selector(cs).rpl();
        // CS first: its RPL is the CPL the other checks use.
        let order = [
            SegReg::Cs,
            SegReg::Ss,
            SegReg::Ds,
            SegReg::Es,
            SegReg::Fs,
            SegReg::Gs,
        ];
        for reg in order {
            let seg = match &sels[reg as usize] {
                Some((l, span, sel)) => self.load_segment(l, span.clone(), reg, *sel, cpl)?,
                None if reg == SegReg::Ss && !(self.mode == Mode::Long64 && cpl == 0) => {
                    return Err(cs_l.err(cs_span.clone(), "[segs] must give ss as well as cs"));
                }
                None => Segment::null(0),
            };
            self.m.cpu.seg[reg as usize] = seg;
        }
        if self.mode == Mode::Long64 {
            // In IA-32e mode the FS and GS bases are the FS_BASE/GS_BASE MSRs.
            let explicit = |name: &str| {
                self.layers.iter().any(|l| {
                    l.doc.msrs.as_ref().is_some_and(|KeyMap(m)| {
                        m.iter()
                            .any(|(k, _)| msr::by_name(k.get_ref()) == msr::by_name(name))
                    })
                })
            };
            for (reg, index, name) in [
                (SegReg::Fs, msr::FS_BASE, "FS_BASE"),
                (SegReg::Gs, msr::GS_BASE, "GS_BASE"),
            ] {
                if explicit(name) {
                    self.m.cpu.seg[reg as usize].base = self.m.cpu.msr.get(index);
                } else {
                    let b = self.m.cpu.seg[reg as usize].base;
                    self.m.cpu.msr.set(index, b);
                }
            }
        }
        Ok(())
    }

    /// Load a segment register from its GDT descriptor as MOV/POP/far JMP would, with
    /// the checks of SDM Vol. 3A, 5.5-5.6, and set the descriptor's accessed bit.
    fn load_segment(
        &mut self,
        l: &Layer,
        span: Range<usize>,
        reg: SegReg,
        sel: u16,
        cpl: u8,
    ) -> Res<Segment> {
        let s = Selector(sel);
        let name = reg.name();
        if s.is_null() {
            return match reg {
                SegReg::Cs => Err(l.err(span, "cs cannot hold a null selector")),
                SegReg::Ss if !(self.mode == Mode::Long64 && cpl != 3) => {
                    Err(l.err(span, "ss cannot hold a null selector here"))
                }
                _ => Ok(Segment::null(sel)),
            };
        }
        if s.ti() {
            return Err(l.err(
                span,
                format!("{name} selector {sel:#x} selects the LDT, which is empty"),
            ));
        }
        if s.index() as u32 * 8 + 7 > self.m.cpu.gdtr.limit as u32 {
            return Err(l.err(
                span,
                format!(
                    "{name} selector {sel:#x} is beyond the GDT limit {:#x}",
                    self.m.cpu.gdtr.limit
                ),
            ));
        }
        let at = self.m.cpu.gdtr.base + s.index() as u64 * 8;
        let d = Descriptor(self.m.mem.peek_le(at, 8));
        let a = d.attr();
        let what = crate::machine::segment::type_name(a);
        let bad = |why: String| {
            l.err(
                span.clone(),
                format!("{name} = {sel:#x} (GDT entry {}): {why}", s.index()),
            )
        };
        if !a.s() {
            return Err(bad(format!(
                "a system descriptor ({what}) cannot be loaded into {name}"
            )));
        }
        if !a.present() {
            return Err(bad("the descriptor is not present".into()));
        }
        match reg {
            SegReg::Cs => {
                if !a.is_code() {
                    return Err(bad(format!("cs needs a code segment, this is {what}")));
                }
                if !a.conforming() && a.dpl() != cpl {
                    return Err(bad(format!(
                        "DPL {} differs from the CPL {cpl} given by the selector's RPL",
                        a.dpl()
                    )));
                }
                if self.mode == Mode::Long64 && a.l() && a.db() {
                    return Err(bad("L and D are both set".into()));
                }
            }
            SegReg::Ss => {
                if !a.writable() {
                    return Err(bad(format!(
                        "ss needs a writable data segment, this is {what}"
                    )));
                }
                if s.rpl() != cpl || a.dpl() != cpl {
                    return Err(bad(format!(
                        "RPL {} and DPL {} must both equal the CPL {cpl}",
                        s.rpl(),
                        a.dpl()
                    )));
                }
            }
            _ => {
                if !a.readable() {
                    return Err(bad(format!(
                        "{name} needs a readable segment, this is {what}"
                    )));
                }
                if !a.conforming() && a.dpl() < cpl.max(s.rpl()) {
                    return Err(bad(format!(
                        "DPL {} is more privileged than CPL {cpl} / RPL {}",
                        a.dpl(),
                        s.rpl()
                    )));
                }
            }
        }
        let d = d.with_accessed();
        self.m.mem.poke_le(at, 8, d.0);
        Ok(d.to_segment(sel))
    }

    #[allow(clippy::type_complexity)]
    fn run(&self) -> Res<(Vec<ScheduledInterrupt>, Vec<u64>, Option<u64>)> {
        let mut ints = Vec::new();
        let mut stop_at = None;
        let mut max_steps = None;
        for l in self.layers {
            for i in &l.doc.interrupts {
                ints.push(ScheduledInterrupt {
                    before_step: self.num(l, &i.before_step, 64)?,
                    vector: self.small(l, &i.vector, 255, "vector")? as u8,
                });
            }
            if let Some(r) = &l.doc.run {
                if let Some(list) = &r.stop_at {
                    stop_at = Some((l, list));
                }
                if let Some(n) = &r.max_steps {
                    max_steps = Some((l, n));
                }
            }
        }
        let stop_at = match stop_at {
            Some((l, list)) => list
                .iter()
                .map(|n| self.num(l, n, self.mode.addr_bits()))
                .collect::<Res<Vec<u64>>>()?,
            None => Vec::new(),
        };
        let max_steps = match max_steps {
            Some((l, n)) => Some(self.max_steps(l, n)?),
            None => None,
        };
        ints.sort_by_key(|i| i.before_step);
        Ok((ints, stop_at, max_steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut s = HashMap::new();
        s.insert("sysenter_entry".to_string(), 0xc010_3a40u64);
        let t = |x: &str| eval(&NumLit::Text(x.into()), &s);
        assert_eq!(t("0xffff_e400"), Ok(0xffff_e400));
        assert_eq!(t("42"), Ok(42));
        assert_eq!(t("-38"), Ok(-38));
        assert_eq!(t("sysenter_entry+0x10"), Ok(0xc010_3a50));
        assert_eq!(t("sysenter_entry - 4"), Ok(0xc010_3a3c));
        assert_eq!(t("sysenter_entry+20*4-(2+2)"), Ok(0xc010_3a40 + 76));
        assert_eq!(t("nope+4"), Err(None));
        assert!(matches!(t("4 +"), Err(Some(_))));
        assert_eq!(t("nope"), Err(None));
        assert!(matches!(t("0xzz"), Err(Some(_))));
        assert_eq!(fit(-38, 32), Ok(0xffff_ffda));
        assert!(fit(1 << 32, 32).is_err());
        assert_eq!(fit(0xffff_ffff, 32), Ok(0xffff_ffff));
    }
}
