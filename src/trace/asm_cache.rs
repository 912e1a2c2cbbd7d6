//! What a trace prints about an instruction that does not depend on the step: its
//! disassembly, the symbol covering its address and the source line it came from. A loop runs the same few
//! instructions again and again, so each is formatted once and looked up by address
//! (and checked against its bytes, in case the code was overwritten). The cache holds at
//! most `LIMIT` instructions, so a trace's memory stays flat however long it runs.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::disasm::{Disassembler, Syntax};
use crate::engine::fault::vector_name;
use crate::engine::{Code, Outcome, StepView};
use crate::machine::{Machine, Symbols};
use crate::scenario::boot::lines::LineTable;

/// Most instructions kept; past it the cache starts again empty.
pub const LIMIT: usize = 1 << 16;

/// An instruction at an address, as the trace prints it.
#[derive(Clone, Debug, Default)]
pub struct Described {
    /// The disassembly (or `<external interrupt 0x20>`, `<fetch fault #PF>`).
    pub asm: String,
    /// `symbol` or `symbol+0xN` when a symbol covers the address.
    pub place: Option<String>,
    /// `asm` as a JSON string, quoted and escaped.
    pub asm_json: Vec<u8>,
    /// `file:line` the instruction came from, when the code has a DWARF line table.
    pub line: Option<String>,
    /// `line` as a JSON string (empty without a line).
    pub line_json: Vec<u8>,
}

impl Described {
    fn new(asm: String, place: Option<String>, line: Option<String>) -> Described {
        let mut asm_json = Vec::with_capacity(asm.len() + 2);
        super::out::json_str(&mut asm_json, &asm);
        let mut line_json = Vec::new();
        if let Some(l) = &line {
            super::out::json_str(&mut line_json, l);
        }
        Described {
            asm,
            place,
            asm_json,
            line,
            line_json,
        }
    }
}

pub struct AsmCache {
    dis: Disassembler,
    map: FxHashMap<u64, (Code, Described)>,
    /// The last step that ran no instruction.
    other: Described,
    lines: Option<Arc<LineTable>>,
}

impl AsmCache {
    pub fn new(symbols: &Symbols, syntax: Syntax) -> AsmCache {
        AsmCache {
            dis: Disassembler::new(symbols, syntax),
            map: FxHashMap::default(),
            other: Described::default(),
            lines: None,
        }
    }

    /// Name each instruction's `file:line` from `lines`.
    pub fn set_lines(&mut self, lines: Option<Arc<LineTable>>) {
        self.lines = lines;
        self.map.clear();
    }

    fn line_of(&self, ip: u64) -> Option<String> {
        let p = self.lines.as_ref()?.find(ip)?;
        Some(p.to_string())
    }

    /// The disassembler, for records written once (the stop record).
    pub fn disassembler(&mut self) -> &mut Disassembler {
        &mut self.dis
    }

    /// Instructions cached.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The step's instruction as the trace prints it. Steps that ran no instruction (an
    /// interrupt delivery, a fetch fault) are described afresh each time.
    pub fn describe(&mut self, m: &Machine, s: &StepView) -> &Described {
        let ip = s.info.ip;
        let code = match (s.info.code, &s.info.outcome) {
            (Some(c), o) if !matches!(o, Outcome::Interrupt(_)) => c,
            (_, o) => {
                let asm = match o {
                    Outcome::Interrupt(v) => format!("<external interrupt {v:#x}>"),
                    Outcome::Exception(e) => format!("<fetch fault {}>", vector_name(e.vector)),
                    _ => String::new(),
                };
                self.other = Described::new(asm, m.describe_addr(ip), None);
                return &self.other;
            }
        };
        let stale = !matches!(self.map.get(&ip), Some((c, _)) if *c == code);
        if stale {
            if self.map.len() >= LIMIT {
                self.map.clear();
            }
            let asm = self.dis.format(&code.decode(ip));
            let d = Described::new(asm, m.describe_addr(ip), self.line_of(ip));
            self.map.insert(ip, (code, d));
        }
        match self.map.get(&ip) {
            Some((_, d)) => d,
            None => &self.other,
        }
    }
}
