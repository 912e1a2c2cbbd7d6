//! Where a trace goes: records are written into one buffer, handed to the output in
//! large pieces (not a `write` per line), with the per-instruction text cached.

use std::io::{self, Write};
use std::sync::Arc;

use serde_json::Value;

use crate::disasm::{Disassembler, Syntax};
use crate::engine::StepView;
use crate::machine::{Machine, Symbols};
use crate::scenario::boot::lines::LineTable;

use super::asm_cache::AsmCache;
use super::json_step::JsonStep;
use super::{json, text, Format};

/// The buffer is handed to the output when it holds this much.
const FLUSH_AT: usize = 1 << 16;

pub struct Writer<'w> {
    format: Format,
    cache: AsmCache,
    json: JsonStep,
    buf: Vec<u8>,
    out: &'w mut dyn Write,
}

impl<'w> Writer<'w> {
    pub fn new(format: Format, symbols: &Symbols, syntax: Syntax, out: &'w mut dyn Write) -> Self {
        Writer {
            format,
            cache: AsmCache::new(symbols, syntax),
            json: JsonStep::default(),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            out,
        }
    }

    /// Name each step's `file:line` from `lines` (an ELF file's DWARF line table).
    pub fn with_lines(mut self, lines: Option<Arc<LineTable>>) -> Self {
        self.cache.set_lines(lines);
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The disassembler, for a stop record.
    pub fn disassembler(&mut self) -> &mut Disassembler {
        self.cache.disassembler()
    }

    /// Instructions whose text is cached (at most `asm_cache::LIMIT`).
    pub fn cached_instructions(&self) -> usize {
        self.cache.len()
    }

    /// The `init` record of a JSON trace (nothing in text).
    pub fn init(&mut self, m: &Machine, scenario: &str) -> io::Result<()> {
        if self.format == Format::Json {
            self.record(&json::init(m, scenario))?;
        }
        Ok(())
    }

    /// One step: a JSON record or a text line. `m` is the machine after the step.
    pub fn step(&mut self, m: &Machine, s: &StepView) -> io::Result<()> {
        let d = self.cache.describe(m, s);
        match self.format {
            Format::Json => self.json.write(&mut self.buf, m, d, s),
            Format::Text => text::write_step(&mut self.buf, m, d, s),
        }
        self.buf.push(b'\n');
        self.spill()
    }

    /// A JSON record on a line of its own.
    pub fn record(&mut self, v: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.buf, v)?;
        self.buf.push(b'\n');
        self.spill()
    }

    /// A line of text.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
        self.spill()
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write out everything buffered and flush the output.
    pub fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}
