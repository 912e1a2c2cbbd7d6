//! The code listing: an objdump-like view of the lesson's code sections (address, bytes,
//! instruction, labels), in the order the scene first runs them, plus any executed code
//! the lesson did not supply (preset code), disassembled from the run.

use std::sync::Arc;

use iced_x86::{Decoder, DecoderOptions};
use rustc_hash::FxHashMap;

use super::timeline::SceneRun;
use crate::disasm::{Disassembler, Syntax};
use crate::lesson::CodeSection;
use crate::machine::Machine;
use crate::scenario::boot::lines::LineTable;
use crate::scenario::boot::sources::SourceFiles;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// The start of a section: region name, and whether it is kernel (supervisor) memory.
    Header {
        region: String,
        kernel: bool,
    },
    Label(String),
    /// The source line the instructions below came from (a DWARF line table):
    /// `file:line` and the line's text, when the file could be read.
    Source {
        place: String,
        text: Option<String>,
    },
    Instr {
        addr: u64,
        bytes: Vec<u8>,
        text: String,
        /// The source line the instruction came from, when it differs from the text
        /// (a macro such as SAVE_ALL).
        source: Option<String>,
    },
    Data {
        addr: u64,
        bytes: Vec<u8>,
        source: String,
    },
}

impl Row {
    pub fn addr(&self) -> Option<u64> {
        match self {
            Row::Instr { addr, .. } | Row::Data { addr, .. } => Some(*addr),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub rows: Vec<Row>,
    by_addr: FxHashMap<u64, usize>,
}

/// (addr, bytes, source) of a byte-producing line; is_code; its code size (32 or 64: a
/// section may switch with `.code32`/`.code64`).
type PartLine = (u64, Vec<u8>, Option<String>, bool, u32);

struct Part {
    region: String,
    kernel: bool,
    lines: Vec<PartLine>,
}

impl Listing {
    /// The row of the instruction at `addr`.
    pub fn row_of(&self, addr: u64) -> Option<usize> {
        self.by_addr.get(&addr).copied()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Build the listing for a scene; with `lines` (the code's DWARF line table), a
    /// source row above each run of instructions from one source line.
    pub fn build(
        code: &[CodeSection],
        run: &SceneRun,
        syntax: Syntax,
        lines: Option<&Arc<LineTable>>,
    ) -> Listing {
        let mut sources = lines.map(|t| SourceFiles::new(Arc::clone(t)));
        let m: &Machine = &run.played.initial;
        let kernel_of = |addr: u64| m.mem.region_at(addr).is_some_and(|r| !r.perm.user);
        let region_of = |addr: u64| {
            m.mem
                .region_at(addr)
                .map_or_else(|| "?".to_string(), |r| r.name.clone())
        };
        let mut parts: Vec<Part> = code
            .iter()
            .map(|c| Part {
                region: c.region.clone(),
                kernel: kernel_of(c.base),
                lines: c
                    .lines
                    .iter()
                    .map(|l| {
                        let start = l.addr.saturating_sub(c.base) as usize;
                        let end = (start + l.len as usize).min(c.bytes.len());
                        let bytes = c.bytes.get(start..end).unwrap_or(&[]).to_vec();
                        (l.addr, bytes, Some(l.text.clone()), l.is_code, l.bits)
                    })
                    .collect(),
            })
            .collect();
        let covered = |addr: u64| {
            code.iter()
                .any(|c| addr >= c.base && addr < c.base + c.bytes.len() as u64)
        };
        // Executed code outside the lesson's sections, by region.
        let mut extra: Vec<Part> = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        for rec in &run.steps {
            let Some(c) = rec.code else { continue };
            if covered(rec.ip) || !seen.insert(rec.ip) {
                continue;
            }
            let region = region_of(rec.ip);
            let bits = if run.played.initial.cpu.long_mode_active() && c.bytes().len() < 16 {
                64
            } else {
                32
            };
            let idx = match extra.iter().position(|p| p.region == region) {
                Some(i) => i,
                None => {
                    extra.push(Part {
                        region: region.clone(),
                        kernel: kernel_of(rec.ip),
                        lines: Vec::new(),
                    });
                    extra.len() - 1
                }
            };
            extra[idx]
                .lines
                .push((rec.ip, c.bytes().to_vec(), None, true, bits));
        }
        // The instruction a run stopped at (a fault) was never recorded as a step.
        if let Some(instr) = run.played.stop.instr {
            let ip = run.played.stop.ip;
            if !covered(ip) && seen.insert(ip) {
                let mut bytes = vec![0; instr.len()];
                m.peek_lin(ip, &mut bytes);
                let region = region_of(ip);
                let idx = match extra.iter().position(|p| p.region == region) {
                    Some(i) => i,
                    None => {
                        extra.push(Part {
                            region: region.clone(),
                            kernel: kernel_of(ip),
                            lines: Vec::new(),
                        });
                        extra.len() - 1
                    }
                };
                let bits = match instr.code_size() {
                    iced_x86::CodeSize::Code64 => 64,
                    _ => 32,
                };
                extra[idx].lines.push((ip, bytes, None, true, bits));
            }
        }
        for p in &mut extra {
            p.lines.sort_by_key(|l| l.0);
        }
        parts.extend(extra);
        // Sections in the order the scene first runs them.
        let first_visit = |p: &Part| {
            run.states
                .iter()
                .position(|s| {
                    p.lines
                        .iter()
                        .any(|l| l.0 <= s.ip && s.ip < l.0 + l.1.len().max(1) as u64)
                })
                .unwrap_or(usize::MAX)
        };
        let mut order: Vec<(usize, usize)> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (first_visit(p), i))
            .collect();
        order.sort();
        let mut dis = Disassembler::new(&m.symbols, syntax);
        let mut listing = Listing::default();
        for (_, i) in order {
            let p = &parts[i];
            if p.lines.is_empty() {
                continue;
            }
            listing.rows.push(Row::Header {
                region: p.region.clone(),
                kernel: p.kernel,
            });
            let mut last_place = None;
            for (addr, bytes, source, is_code, bits) in &p.lines {
                let bits = if *bits == 64 { 64 } else { 32 };
                if !is_code {
                    if let Some(name) = m.symbols.name_at(*addr) {
                        listing.rows.push(Row::Label(name.to_string()));
                    }
                    listing.rows.push(Row::Data {
                        addr: *addr,
                        bytes: bytes.clone(),
                        source: source.clone().unwrap_or_default(),
                    });
                    continue;
                }
                let mut d = Decoder::with_ip(bits, bytes, *addr, DecoderOptions::NONE);
                while d.can_decode() {
                    let at = d.ip();
                    let instr = d.decode();
                    if instr.is_invalid() {
                        break;
                    }
                    if let Some(name) = m.symbols.name_at(at) {
                        listing.rows.push(Row::Label(name.to_string()));
                        last_place = None;
                    }
                    if let Some(row) = source_row(sources.as_mut(), at, &mut last_place) {
                        listing.rows.push(row);
                    }
                    let off = (at - addr) as usize;
                    let text = dis.format(&instr);
                    let src = source.as_ref().filter(|s| {
                        // The first word after any `label:`.
                        let first = s
                            .split_whitespace()
                            .find(|w| !w.ends_with(':'))
                            .unwrap_or("");
                        !first.is_empty()
                            && !text.starts_with(first.trim_end_matches(['l', 'q', 'w', 'b']))
                    });
                    listing.by_addr.insert(at, listing.rows.len());
                    listing.rows.push(Row::Instr {
                        addr: at,
                        bytes: bytes[off..off + instr.len()].to_vec(),
                        text,
                        source: src.cloned(),
                    });
                }
            }
        }
        listing
    }
}

/// A source row for the instruction at `addr` when its place (file and line) differs
/// from `last`'s, which it becomes.
fn source_row(
    sources: Option<&mut SourceFiles>,
    addr: u64,
    last: &mut Option<(usize, u32)>,
) -> Option<Row> {
    let sources = sources?;
    let table = Arc::clone(sources.table_arc());
    let place = table.find(addr)?;
    let key = (place.index, place.line);
    if *last == Some(key) {
        return None;
    }
    *last = Some(key);
    Some(Row::Source {
        place: place.to_string(),
        text: sources.line(&place).map(str::to_string),
    })
}
