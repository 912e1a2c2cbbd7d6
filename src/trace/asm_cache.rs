//! What a trace prints about an instruction that does not depend on the step: its
//! disassembly and the symbol covering its address. A loop runs the same few
//! instructions again and again, so each is formatted once and looked up by address
//! (and checked against its bytes, in case the code was overwritten). The cache holds at
//! most `LIMIT` instructions, so a trace's memory stays flat however long it runs.

use rustc_hash::FxHashMap;

use crate::disasm::{Disassembler, Syntax};
use crate::engine::fault::vector_name;
use crate::engine::{Code, Outcome, StepView};
use crate::machine::{Machine, Symbols};

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
}

impl Described {
    fn new(asm: String, place: Option<String>) -> Described {
        let mut asm_json = Vec::with_capacity(asm.len() + 2);
        super::out::json_str(&mut asm_json, &asm);
        Described {
            asm,
            place,
            asm_json,
        }
    }
}

pub struct AsmCache {
    dis: Disassembler,
    map: FxHashMap<u64, (Code, Described)>,
    /// The last step that ran no instruction.
    other: Described,
}

impl AsmCache {
    pub fn new(symbols: &Symbols, syntax: Syntax) -> AsmCache {
        AsmCache {
            dis: Disassembler::new(symbols, syntax),
            map: FxHashMap::default(),
            other: Described::default(),
        }
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
                self.other = Described::new(asm, m.describe_addr(ip));
                return &self.other;
            }
        };
        let stale = !matches!(self.map.get(&ip), Some((c, _)) if *c == code);
        if stale {
            if self.map.len() >= LIMIT {
                self.map.clear();
            }
            let d = Described::new(self.dis.format(&code.decode(ip)), m.describe_addr(ip));
            self.map.insert(ip, (code, d));
        }
        match self.map.get(&ip) {
            Some((_, d)) => d,
            None => &self.other,
        }
    }
}
