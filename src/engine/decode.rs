//! Instruction fetch and decode with iced-x86, through a cache of decoded instructions.
//!
//! The cache holds, per code page, the page's permissions and write generation and the
//! instructions decoded from it, each with its pre-analysed fast form (`fast::Op`).
//! Regions never change while the engine runs (changing the machine from outside clears
//! the cache), so a cached page's permissions stay valid; a write to the page (new
//! generation) empties its entries.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};
use rustc_hash::FxHashMap;

use super::fast::{self, Op};
use super::fault::Exception;
use super::Code;
use crate::machine::cpu::{mask, Cpu};
use crate::machine::flags::RESERVED1;
use crate::machine::memory::{Access, AccessKind, Memory, PAGE_SHIFT, PAGE_SIZE};
use crate::machine::msr::is_canonical;
use crate::machine::paging::{self, Controls, Mapped};
use crate::machine::{Machine, SegReg, Segment};

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

/// A cached instruction: its fast form, where it was decoded, and its bytes (interned).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub op: Op,
    /// The IP the instruction was decoded at: its next IP and branch targets depend on
    /// it, so the entry is only used at that IP.
    pub ip: u64,
    /// The address of the following instruction, masked to the code size.
    pub next: u64,
    pub len: u8,
    /// The instruction's bytes and code size, as an index into the cache's code table.
    pub code: u32,
    pub instr: Instruction,
}

/// No instruction (an interrupt-delivery step or a fetch fault).
pub const NO_CODE: u32 = u32::MAX;

/// Everything the checks of an instruction fetch depend on besides RIP: CS (base,
/// limit, code size, CPL), the paging controls (CR0, CR3, CR4, EFER), RFLAGS.AC (SMAP
/// does not apply to fetches, but the rules are built with it) and the memory epoch
/// (writes to code pages and page tables: `Memory::epoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FetchKey {
    cs: Segment,
    controls: Controls,
    epoch: u64,
}

impl FetchKey {
    #[inline(always)]
    fn of(m: &Machine) -> FetchKey {
        FetchKey {
            cs: *m.cpu.seg(SegReg::Cs),
            controls: Controls::of(&m.cpu),
            epoch: m.mem.epoch(),
        }
    }
}

/// The translation of the code page holding `lin`, if known without a page walk: with
/// paging off, or from the translation cache (filled by `Ctx::translate`).
#[inline(always)]
fn code_mapping(m: &Machine, lin: u64) -> Option<Mapped> {
    let c = Controls::of(&m.cpu);
    if c.cr0 & crate::machine::cpu::CR0_PG == 0 {
        return paging::walk(&m.mem, &c, lin).result.ok();
    }
    m.tlb.lookup(&c, m.mem.table_epoch(), lin)
}

/// The linear address of the next instruction fetch (None if RIP is beyond the CS
/// limit, which the fetch reports).
pub fn fetch_linear(m: &Machine) -> Option<u64> {
    let cpu = &m.cpu;
    let ip = cpu.rip;
    if cpu.bitness() == 64 {
        return Some(ip);
    }
    let cs = cpu.seg(SegReg::Cs);
    (ip <= cs.limit as u64).then(|| cs.base.wrapping_add(ip) & 0xffff_ffff)
}

/// The last page a fetch passed every check on, and under which `FetchKey`: while the
/// key is the same, an instruction cached on that page at the IP it was decoded at
/// needs only the CS limit check.
#[derive(Clone, Copy, Debug)]
struct FetchMemo {
    key: FetchKey,
    page: usize,
    /// The IP of the page's first byte.
    page_ip: u64,
    long: bool,
}

struct CodePage {
    page: u64,
    /// The physical page it was decoded from, and that page's write generation.
    phys: u64,
    generation: u32,
    rights: Mapped,
    bitness: u32,
    /// Indexed by offset within the page: 0 is empty, n is `entries[n - 1]`.
    slots: Box<[u32]>,
    entries: Vec<Entry>,
}

#[derive(Default)]
pub struct DecodeCache {
    /// An instruction that crosses a page boundary (not cached).
    scratch: Option<Entry>,
    pages: Vec<CodePage>,
    index: FxHashMap<u64, usize>,
    /// The page of the last fetch, and the memory epoch and paging controls when it was
    /// last validated.
    last: Option<(usize, u64, Controls)>,
    /// Every distinct instruction (bytes and code size) fetched so far, so that a
    /// recorded step keeps a 4-byte index instead of the bytes.
    codes: Vec<Code>,
    code_ids: FxHashMap<Code, u32>,
    memo: Option<FetchMemo>,
    /// The stop addresses of a raw run inside one code page, as a bitmap by offset,
    /// kept from one `run_fast` call to the next (a raw run re-enters it after every
    /// instruction without a fast form).
    stops: StopMap,
}

/// `run_fast`'s stop addresses in the page whose first byte is at IP `page_ip`.
struct StopMap {
    page_ip: u64,
    /// The stop addresses the map was made from.
    from: Vec<u64>,
    bits: Box<[u64; PAGE_SIZE as usize / 64]>,
    any: bool,
    valid: bool,
}

impl Default for StopMap {
    fn default() -> StopMap {
        StopMap {
            page_ip: 0,
            from: Vec::new(),
            bits: Box::new([0; PAGE_SIZE as usize / 64]),
            any: false,
            valid: false,
        }
    }
}

impl StopMap {
    /// Make the map for `page_ip` and `stop_at` unless it is that one already.
    #[inline]
    fn update(&mut self, page_ip: u64, stop_at: &[u64]) {
        if stop_at.is_empty() {
            self.any = false;
            self.valid = false;
            return;
        }
        let same =
            self.from.len() == stop_at.len() && self.from.iter().zip(stop_at).all(|(a, b)| a == b);
        if self.valid && self.page_ip == page_ip && same {
            return;
        }
        self.bits.fill(0);
        self.any = false;
        for &a in stop_at {
            let off = a.wrapping_sub(page_ip);
            if off < PAGE_SIZE {
                self.bits[off as usize / 64] |= 1 << (off % 64);
                self.any = true;
            }
        }
        self.page_ip = page_ip;
        self.from.clear();
        self.from.extend_from_slice(stop_at);
        self.valid = true;
    }

    #[inline(always)]
    fn stops_at(&self, off: u64) -> bool {
        self.any && self.bits[off as usize / 64] & (1 << (off % 64)) != 0
    }
}

impl DecodeCache {
    /// Forget everything, including the code table (history must hold no code ids).
    pub fn clear(&mut self) {
        self.scratch = None;
        self.pages.clear();
        self.index.clear();
        self.last = None;
        self.codes.clear();
        self.code_ids.clear();
        self.memo = None;
    }

    /// Forget the decoded pages but keep the code table (recorded steps keep their code
    /// ids). Needed when the machine is replaced by an earlier copy: page generations
    /// then count from older values and could match pages decoded since.
    pub fn forget_pages(&mut self) {
        self.scratch = None;
        self.pages.clear();
        self.index.clear();
        self.last = None;
        self.memo = None;
    }

    /// The instruction bytes and code size recorded under `id`.
    pub fn code(&self, id: u32) -> Option<Code> {
        self.codes.get(id as usize).copied()
    }

    fn intern(&mut self, f: &Fetched, bitness: u32) -> u32 {
        let code = Code::of(f, bitness);
        let codes = &mut self.codes;
        *self.code_ids.entry(code).or_insert_with(|| {
            codes.push(code);
            (codes.len() - 1) as u32
        })
    }

    /// The cached page for `lin`, validated against the current memory contents and
    /// translation. None if the translation is not known without a walk.
    #[inline]
    fn page_for(&mut self, m: &Machine, lin: u64, bitness: u32) -> Option<usize> {
        let page = lin >> PAGE_SHIFT;
        let epoch = m.mem.epoch();
        if let Some((i, e, c)) = self.last {
            let p = &self.pages[i];
            if p.page == page && e == epoch && p.bitness == bitness && c == Controls::of(&m.cpu) {
                return Some(i);
            }
        }
        self.page_slow(m, lin, bitness, epoch)
    }

    #[inline(never)]
    fn page_slow(&mut self, m: &Machine, lin: u64, bitness: u32, epoch: u64) -> Option<usize> {
        let rights = code_mapping(m, lin)?;
        self.install(&m.mem, &Controls::of(&m.cpu), lin, bitness, epoch, rights)
    }

    /// Find or make the cached page for `lin`, translated as `rights` says.
    fn install(
        &mut self,
        mem: &Memory,
        c: &Controls,
        lin: u64,
        bitness: u32,
        epoch: u64,
        rights: Mapped,
    ) -> Option<usize> {
        let page = lin >> PAGE_SHIFT;
        let phys = rights.phys >> PAGE_SHIFT;
        // From now on a write to this frame bumps the memory epoch, which `page_for`
        // and the fetch memo check; writes to other frames leave them valid.
        mem.note_code(rights.phys);
        let generation = mem.generation(rights.phys);
        let i = match self.index.get(&page) {
            Some(&i) => i,
            None => {
                self.pages.push(CodePage {
                    page,
                    phys,
                    generation,
                    rights,
                    bitness,
                    slots: vec![0; PAGE_SIZE as usize].into_boxed_slice(),
                    entries: Vec::new(),
                });
                self.index.insert(page, self.pages.len() - 1);
                self.pages.len() - 1
            }
        };
        let p = &mut self.pages[i];
        if p.phys != phys || p.generation != generation || p.bitness != bitness {
            p.slots.fill(0);
            p.entries.clear();
            p.phys = phys;
            p.generation = generation;
            p.bitness = bitness;
        }
        p.rights = rights;
        self.last = Some((i, epoch, *c));
        Some(i)
    }

    /// `page_for` in a raw run, where the CPU is borrowed apart from memory.
    #[inline]
    fn page_for_raw(
        &mut self,
        mem: &Memory,
        tlb: &crate::machine::tlb::Tlb,
        cpu: &Cpu,
        lin: u64,
        bitness: u32,
    ) -> Option<usize> {
        let page = lin >> PAGE_SHIFT;
        let epoch = mem.epoch();
        let c = Controls::of(cpu);
        if let Some((i, e, lc)) = self.last {
            let p = &self.pages[i];
            if p.page == page && e == epoch && p.bitness == bitness && lc == c {
                return Some(i);
            }
        }
        let rights = if c.cr0 & crate::machine::cpu::CR0_PG == 0 {
            paging::walk(mem, &c, lin).result.ok()?
        } else {
            tlb.lookup(&c, mem.table_epoch(), lin)?
        };
        self.install(mem, &c, lin, bitness, epoch, rights)
    }

    /// Fetch and decode the instruction at CS:RIP with the checks of an instruction fetch:
    /// the CS limit (outside 64-bit mode) and the page's execute and user permissions.
    #[inline]
    pub fn fetch(&mut self, m: &Machine) -> Result<&Entry, Exception> {
        if let Some((page, slot)) = self.memo_hit(m) {
            return Ok(&self.pages[page].entries[slot]);
        }
        self.fetch_checked(m)
    }

    /// The page and entry index of the instruction at RIP, if the last fetch's checks
    /// still hold and it is cached there.
    #[inline(always)]
    fn memo_hit(&self, m: &Machine) -> Option<(usize, usize)> {
        let memo = self.memo.as_ref()?;
        let ip = m.cpu.rip;
        let off = ip.wrapping_sub(memo.page_ip);
        if off >= PAGE_SIZE || memo.key != FetchKey::of(m) {
            return None;
        }
        let page = &self.pages[memo.page];
        let slot = (page.slots[off as usize] as usize).checked_sub(1)?;
        let e = &page.entries[slot];
        let within = memo.long || ip + e.len as u64 - 1 <= memo.key.cs.limit as u64;
        (e.ip == ip && within).then_some((memo.page, slot))
    }

    /// `fetch` with every check; remembers the page for the next fetches.
    #[inline(never)]
    fn fetch_checked(&mut self, m: &Machine) -> Result<&Entry, Exception> {
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
            // Not translated yet (the engine translates the fetch address first, so
            // this is the page walk's verdict).
            return Err(
                paging::translate(&m.mem, &Controls::of(&m.cpu), lin, &access)
                    .err()
                    .map_or_else(
                        || Exception::ud("the code page is not translated"),
                        Into::into,
                    ),
            );
        };
        let offset = (lin & (PAGE_SIZE - 1)) as usize;
        let page = &self.pages[pi];
        if paging::denied(&page.rights, &access).is_some() {
            return Err(paging::fault(lin, &access, None).into());
        }
        self.memo = if bitness == 16 {
            None
        } else {
            Some(FetchMemo {
                key: FetchKey::of(m),
                page: pi,
                page_ip: ip.wrapping_sub(offset as u64),
                long,
            })
        };
        let slot = page.slots[offset] as usize;
        let cached = slot != 0 && page.entries[slot - 1].ip == ip;
        let e: &Entry = if cached {
            &self.pages[pi].entries[slot - 1]
        } else {
            let fetched = decode_at(m, lin, page.phys << PAGE_SHIFT, ip, bitness, access)?;
            let entry = Entry {
                op: fast::analyse(&fetched.instr, bitness),
                ip,
                next: mask(fetched.instr.next_ip(), bitness as usize / 8),
                len: fetched.len,
                code: self.intern(&fetched, bitness),
                instr: fetched.instr,
            };
            if offset + fetched.len as usize <= PAGE_SIZE as usize {
                let page = &mut self.pages[pi];
                if slot != 0 {
                    page.entries[slot - 1] = entry;
                    &page.entries[slot - 1]
                } else {
                    page.entries.push(entry);
                    page.slots[offset] = page.entries.len() as u32;
                    &page.entries[page.entries.len() - 1]
                }
            } else {
                self.scratch.insert(entry)
            }
        };
        if !long && ip + e.len as u64 - 1 > cs.limit as u64 {
            return Err(Exception::gp(
                0,
                "the instruction extends past the CS limit",
            ));
        }
        Ok(e)
    }

    /// Run fast forms of cached instructions directly on the CPU, without journaling, for
    /// at most `budget` instructions. Stops (returning how many ran) before an
    /// instruction at a `stop_at` address, one not decoded yet or without a fast form,
    /// one whose fetch or branch would fault, or when the code leaves the current page
    /// and the next is not cached. The caller makes sure that nothing but the
    /// instructions themselves happens in between (no interrupt can be delivered, no
    /// interrupt shadow, not halted): the fast forms change only GPRs, RFLAGS and RIP,
    /// so the CPL, the code segment, the mode and memory stay as they are.
    pub fn run_fast(&mut self, m: &mut Machine, stop_at: &[u64], budget: u64) -> u64 {
        let bitness = m.cpu.bitness();
        if bitness == 16 {
            return 0;
        }
        let long = bitness == 64;
        let cs = *m.cpu.seg(SegReg::Cs);
        let access = m.access(AccessKind::Fetch);
        let mut cpu = RawCpu {
            cpu: &mut m.cpu,
            long,
            limit: cs.limit as u64,
        };
        let mut done = 0u64;
        'page: while done < budget {
            let ip = cpu.cpu.rip;
            if !long && ip > cpu.limit {
                break;
            }
            let lin = if long {
                ip
            } else {
                cs.base.wrapping_add(ip) & 0xffff_ffff
            };
            let Some(pi) = self.page_for_raw(&m.mem, &m.tlb, cpu.cpu, lin, bitness) else {
                break;
            };
            // The IP of the page's first byte, and the stop addresses inside the page.
            let page_ip = ip.wrapping_sub(lin & (PAGE_SIZE - 1));
            self.stops.update(page_ip, stop_at);
            let stops = &self.stops;
            let page = &self.pages[pi];
            if paging::denied(&page.rights, &access).is_some() {
                break;
            }
            loop {
                let ip = cpu.cpu.rip;
                let off = ip.wrapping_sub(page_ip);
                if off >= PAGE_SIZE {
                    continue 'page;
                }
                if done >= budget || stops.stops_at(off) {
                    break 'page;
                }
                let slot = page.slots[off as usize] as usize;
                if slot == 0 {
                    break 'page;
                }
                let e = &page.entries[slot - 1];
                if e.ip != ip || (!long && ip + e.len as u64 - 1 > cpu.limit) {
                    break 'page;
                }
                match fast::exec(&mut cpu, &e.op, e.next) {
                    Some(next) => cpu.cpu.rip = next,
                    None => break 'page,
                }
                done += 1;
            }
        }
        done
    }
}

/// The CPU as the register file of fast forms in a raw run.
struct RawCpu<'a> {
    cpu: &'a mut Cpu,
    long: bool,
    limit: u64,
}

impl fast::Regs for RawCpu<'_> {
    #[inline(always)]
    fn gpr(&self, index: usize) -> u64 {
        self.cpu.gpr[index]
    }
    #[inline(always)]
    fn set_gpr(&mut self, index: usize, value: u64) {
        self.cpu.gpr[index] = value;
    }
    #[inline(always)]
    fn rflags(&self) -> u64 {
        self.cpu.rflags
    }
    #[inline(always)]
    fn update_flags(&mut self, mask: u64, value: u64) {
        self.cpu.rflags = (self.cpu.rflags & !mask) | (value & mask) | RESERVED1;
    }
    #[inline(always)]
    fn branch_ok(&self, target: u64) -> bool {
        if self.long {
            is_canonical(target)
        } else {
            target <= self.limit
        }
    }
}

/// Decode from memory, fetching no further than the first byte that cannot be fetched.
/// `phys` is the physical address of `lin`'s page.
fn decode_at(
    m: &Machine,
    lin: u64,
    phys_page: u64,
    ip: u64,
    bitness: u32,
    access: Access,
) -> Result<Fetched, Exception> {
    let mut avail = MAX_LEN;
    let mut next_page_fault = None;
    let mut next_phys = None;
    let first_page_room = (PAGE_SIZE - (lin & (PAGE_SIZE - 1))) as usize;
    if first_page_room < avail {
        let next = lin.wrapping_add(first_page_room as u64);
        let next = if bitness == 64 {
            next
        } else {
            next & 0xffff_ffff
        };
        match paging::translate(&m.mem, &Controls::of(&m.cpu), next, &access) {
            Ok(p) => next_phys = Some(p),
            Err(pf) => {
                avail = first_page_room;
                next_page_fault = Some(pf);
            }
        }
    }
    let mut bytes = [0u8; BYTES_LEN];
    let off = lin & (PAGE_SIZE - 1);
    let here = avail.min(first_page_room);
    m.mem.peek_phys(phys_page | off, &mut bytes[..here]);
    if let Some(p) = next_phys {
        m.mem.peek_phys(p, &mut bytes[here..avail]);
    }
    let mut decoder = Decoder::with_ip(bitness, &bytes[..avail], ip, DecoderOptions::NONE);
    let instr = decoder.decode();
    if instr.is_invalid() {
        return Err(match (decoder.last_error(), next_page_fault) {
            (DecoderError::NoMoreBytes, Some(pf)) => pf.into(),
            _ => Exception::ud(invalid_reason(bitness, &bytes[..avail], ip)),
        });
    }
    Ok(Fetched {
        instr,
        bytes,
        len: instr.len() as u8,
    })
}

/// Why iced-x86 rejected the bytes: a LOCK prefix where it is not allowed (SDM Vol. 2A,
/// "LOCK—Assert LOCK# Signal Prefix": #UD unless the instruction is a lockable
/// read-modify-write with a memory destination), or not an instruction at all.
#[cold]
fn invalid_reason(bitness: u32, bytes: &[u8], ip: u64) -> &'static str {
    let lax = Decoder::with_ip(bitness, bytes, ip, DecoderOptions::NO_INVALID_CHECK).decode();
    if !lax.is_invalid() && lax.has_lock_prefix() {
        "the LOCK prefix is only allowed on a read-modify-write of a memory destination"
    } else {
        "the bytes do not encode a valid instruction"
    }
}
