//! Instruction fetch and decode with iced-x86, through a cache of decoded instructions.
//!
//! The cache holds, per code page, the page's permissions and write generation and the
//! instructions decoded from it. Regions never change while the engine runs (changing
//! the machine from outside clears the cache), so a cached page's permissions stay valid;
//! a write to the page (new generation) empties its entries.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};
use rustc_hash::FxHashMap;

use super::fault::Exception;
use crate::machine::memory::{Access, AccessKind, PageFault, Perm, PAGE_SHIFT, PAGE_SIZE};
use crate::machine::{Machine, SegReg};

pub const MAX_LEN: usize = 15;

/// Instruction bytes are kept in 16-byte arrays so copies are two aligned words.
pub const BYTES_LEN: usize = 16;

/// A decoded instruction with its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Fetched {
    pub instr: Instruction,
    pub bytes: [u8; BYTES_LEN],
    pub len: u8,
}

impl Fetched {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

struct CodePage {
    page: u64,
    generation: u32,
    perm: Perm,
    bitness: u32,
    /// Indexed by offset within the page.
    slots: Vec<Option<Fetched>>,
}

#[derive(Default)]
pub struct DecodeCache {
    /// An instruction that crosses a page boundary (not cached).
    scratch: Option<Fetched>,
    pages: Vec<CodePage>,
    index: FxHashMap<u64, usize>,
    /// The page of the last fetch and the memory epoch when it was last validated.
    last: Option<(usize, u64)>,
}

impl DecodeCache {
    pub fn clear(&mut self) {
        self.pages.clear();
        self.index.clear();
        self.last = None;
    }

    /// The cached page for `lin`, validated against the current memory contents.
    fn page_for(&mut self, m: &Machine, lin: u64, bitness: u32) -> Option<usize> {
        let page = lin >> PAGE_SHIFT;
        let epoch = m.mem.epoch();
        if let Some((i, e)) = self.last {
            let p = &self.pages[i];
            if p.page == page && e == epoch && p.bitness == bitness {
                return Some(i);
            }
        }
        let perm = m.mem.perm_at(lin)?;
        let generation = m.mem.generation(lin);
        let i = match self.index.get(&page) {
            Some(&i) => i,
            None => {
                self.pages.push(CodePage {
                    page,
                    generation,
                    perm,
                    bitness,
                    slots: vec![None; PAGE_SIZE as usize],
                });
                self.index.insert(page, self.pages.len() - 1);
                self.pages.len() - 1
            }
        };
        let p = &mut self.pages[i];
        if p.generation != generation || p.bitness != bitness {
            p.slots.iter_mut().for_each(|s| *s = None);
            p.generation = generation;
            p.bitness = bitness;
        }
        self.last = Some((i, epoch));
        Some(i)
    }

    /// Fetch and decode the instruction at CS:RIP with the checks of an instruction fetch:
    /// the CS limit (outside 64-bit mode) and the page's execute and user permissions.
    pub fn fetch(&mut self, m: &Machine) -> Result<&Fetched, Exception> {
        let cpu = &m.cpu;
        let bitness = cpu.bitness();
        let ip = cpu.rip;
        let long = bitness == 64;
        let cs = cpu.seg(SegReg::Cs);
        let lin = if long {
            ip
        } else {
            cs.base.wrapping_add(ip) & 0xffff_ffff
        };
        if !long && ip > cs.limit as u64 {
            return Err(Exception::gp(0, "EIP is beyond the CS limit"));
        }
        let access = m.access(AccessKind::Fetch);
        let Some(pi) = self.page_for(m, lin, bitness) else {
            return Err(page_fault(lin, access, false));
        };
        let offset = (lin & (PAGE_SIZE - 1)) as usize;
        let page = &self.pages[pi];
        if access.denied_by(page.perm) {
            return Err(page_fault(lin, access, true));
        }
        let slot = &mut self.pages[pi].slots[offset];
        let f: &Fetched = match slot {
            Some(f) => f,
            None => {
                let fetched = decode_at(m, lin, ip, bitness, access)?;
                if offset + fetched.len as usize <= PAGE_SIZE as usize {
                    slot.insert(fetched)
                } else {
                    self.scratch.insert(fetched)
                }
            }
        };
        if !long && ip + f.len as u64 - 1 > cs.limit as u64 {
            return Err(Exception::gp(
                0,
                "the instruction extends past the CS limit",
            ));
        }
        Ok(f)
    }
}

fn page_fault(addr: u64, access: Access, present: bool) -> Exception {
    PageFault {
        addr,
        error_code: access.error_code(present),
    }
    .into()
}

/// Decode from memory, fetching no further than the first byte that cannot be fetched.
fn decode_at(
    m: &Machine,
    lin: u64,
    ip: u64,
    bitness: u32,
    access: Access,
) -> Result<Fetched, Exception> {
    let mut avail = MAX_LEN;
    let mut next_page_fault = None;
    let first_page_room = (PAGE_SIZE - (lin & (PAGE_SIZE - 1))) as usize;
    if first_page_room < avail {
        if let Err(pf) = m.mem.check(lin + first_page_room as u64, 1, access) {
            avail = first_page_room;
            next_page_fault = Some(pf);
        }
    }
    let mut bytes = [0u8; BYTES_LEN];
    m.mem.peek(lin, &mut bytes[..avail]);
    let mut decoder = Decoder::with_ip(bitness, &bytes[..avail], ip, DecoderOptions::NONE);
    let instr = decoder.decode();
    if instr.is_invalid() {
        return Err(match (decoder.last_error(), next_page_fault) {
            (DecoderError::NoMoreBytes, Some(pf)) => pf.into(),
            _ => Exception::ud("the bytes do not encode a valid instruction"),
        });
    }
    Ok(Fetched {
        instr,
        bytes,
        len: instr.len() as u8,
    })
}
