//! Instruction fetch and decode with iced-x86, through a cache of decoded instructions
//! keyed by linear address and invalidated by any write to the page.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};
use rustc_hash::FxHashMap;

use super::fault::Exception;
use crate::machine::memory::{AccessKind, PAGE_SHIFT, PAGE_SIZE};
use crate::machine::{Machine, SegReg};

pub const MAX_LEN: usize = 15;

/// A decoded instruction with its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Fetched {
    pub instr: Instruction,
    pub bytes: [u8; MAX_LEN],
    pub len: u8,
}

impl Fetched {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

#[derive(Clone, Copy)]
struct Cached {
    fetched: Fetched,
    generation: u32,
    bitness: u32,
}

#[derive(Default)]
pub struct DecodeCache {
    map: FxHashMap<u64, Cached>,
}

impl DecodeCache {
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Fetch and decode the instruction at CS:RIP with the checks of an instruction fetch:
    /// the CS limit (outside 64-bit mode) and the page's execute and user permissions.
    pub fn fetch(&mut self, m: &Machine) -> Result<Fetched, Exception> {
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
        let access = m.access(AccessKind::Fetch);
        if let Some(c) = self.map.get(&lin) {
            if c.bitness == bitness && c.generation == m.mem.generation(lin) {
                let len = c.fetched.len as usize;
                if !long && ip + len as u64 - 1 > cs.limit as u64 {
                    return Err(Exception::gp(
                        0,
                        "the instruction extends past the CS limit",
                    ));
                }
                m.mem.check(lin, len, access)?;
                return Ok(c.fetched);
            }
        }
        // How many bytes may be fetched: up to the CS limit and the first page that
        // cannot be fetched from.
        let mut avail = MAX_LEN;
        if !long {
            let room = (cs.limit as u64).saturating_sub(ip).saturating_add(1);
            if ip > cs.limit as u64 {
                return Err(Exception::gp(0, "EIP is beyond the CS limit"));
            }
            avail = avail.min(room as usize);
        }
        let mut page_fault = None;
        let first_page_room = (PAGE_SIZE - (lin & (PAGE_SIZE - 1))) as usize;
        if let Err(pf) = m.mem.check(lin, 1, access) {
            return Err(pf.into());
        }
        if first_page_room < avail {
            if let Err(pf) = m.mem.check(lin + first_page_room as u64, 1, access) {
                avail = first_page_room;
                page_fault = Some(pf);
            }
        }
        let mut bytes = [0u8; MAX_LEN];
        m.mem.peek(lin, &mut bytes[..avail]);
        let mut decoder = Decoder::with_ip(bitness, &bytes[..avail], ip, DecoderOptions::NONE);
        let instr = decoder.decode();
        if instr.is_invalid() {
            return Err(match decoder.last_error() {
                DecoderError::NoMoreBytes => match page_fault {
                    Some(pf) => pf.into(),
                    None => Exception::gp(0, "the instruction extends past the CS limit"),
                },
                _ => Exception::ud("the bytes do not encode a valid instruction"),
            });
        }
        let len = instr.len();
        let fetched = Fetched {
            instr,
            bytes,
            len: len as u8,
        };
        if (lin >> PAGE_SHIFT) == ((lin + len as u64 - 1) >> PAGE_SHIFT) {
            self.map.insert(
                lin,
                Cached {
                    fetched,
                    generation: m.mem.generation(lin),
                    bitness,
                },
            );
        }
        Ok(fetched)
    }
}
