//! The execution context of one step: every read and write of machine state made by an
//! instruction goes through here, so that each write is journaled and every memory
//! access is checked against segment limits and page permissions.

use iced_x86::Register;

use super::cost::Cost;
use super::event::Event;
use super::fault::Exception;
use super::journal::{segment_changes, Change, Journal, SegSlot};
use crate::machine::cpu::{mask, Mode, CR0_PG, RSP};
use crate::machine::msr;
use crate::machine::paging::{self, Controls};
use crate::machine::{Access, AccessKind, Machine, SegReg, Segment, TableReg};

pub struct Ctx<'a> {
    pub m: &'a mut Machine,
    pub journal: &'a mut Journal,
    pub events: &'a mut Vec<Event>,
    /// The architectural work of this step so far (src/engine/cost.rs).
    pub cost: &'a mut Cost,
    /// Address (RIP) of the instruction being executed.
    pub ip: u64,
    /// Address of the following instruction.
    pub next_ip: u64,
    /// Set by STI (when IF was 0) and MOV/POP SS: interrupts wait one more instruction.
    pub shadow_next: bool,
    /// Set by MOV SS and POP SS: debug traps (TF) after this instruction are held off
    /// until the next instruction boundary as well (SDM Vol. 3A 6.8.3).
    pub ss_loaded: bool,
    /// The number of the step being executed (RDTSC's clock, see docs/cpu-model.md).
    pub step: u64,
    /// The fault chain of this step, filled by `Engine::raise` for a stop.
    pub chain: Vec<super::fault::Link>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        m: &'a mut Machine,
        journal: &'a mut Journal,
        events: &'a mut Vec<Event>,
        cost: &'a mut Cost,
    ) -> Self {
        let ip = m.cpu.rip;
        Ctx {
            m,
            journal,
            events,
            cost,
            ip,
            next_ip: ip,
            shadow_next: false,
            ss_loaded: false,
            step: 0,
            chain: Default::default(),
        }
    }

    #[inline(always)]
    fn record(&mut self, c: Change) {
        self.journal.push(c);
    }

    pub fn event(&mut self, e: Event) {
        if let Event::MsrRead { .. } = e {
            self.cost.msr_reads += 1;
        }
        self.events.push(e);
    }

    pub fn cpl(&self) -> u8 {
        self.m.cpu.cpl()
    }

    pub fn mode(&self) -> Mode {
        self.m.cpu.mode()
    }

    pub fn is_long64(&self) -> bool {
        self.m.cpu.mode() == Mode::Long64
    }

    // ---- registers -------------------------------------------------------------------

    pub fn gpr(&self, index: usize) -> u64 {
        self.m.cpu.gpr[index]
    }

    #[inline(always)]
    pub fn set_gpr(&mut self, index: usize, value: u64) {
        let old = self.m.cpu.gpr[index];
        self.m.cpu.gpr[index] = value;
        self.record(Change::Gpr {
            index: index as u8,
            old,
            new: value,
        });
    }

    /// Write the low `bytes` of a GPR as an instruction with that operand size does:
    /// 32-bit writes zero-extend, 8- and 16-bit writes merge.
    #[inline]
    pub fn set_gpr_sized(&mut self, index: usize, bytes: usize, value: u64) {
        let old = self.m.cpu.gpr[index];
        let new = match bytes {
            8 => value,
            4 => value & 0xffff_ffff,
            2 => (old & !0xffff) | (value & 0xffff),
            _ => (old & !0xff) | (value & 0xff),
        };
        self.set_gpr(index, new);
    }

    /// Read an iced register operand (GPRs of any width, segment selectors, CRs, IP).
    #[inline]
    pub fn read_reg(&self, r: Register) -> u64 {
        let c = &self.m.cpu;
        // Fast path: 32- and 64-bit GPRs, which iced numbers consecutively.
        if let Some((index, bytes)) = wide_gpr(r) {
            return mask(c.gpr[index], bytes);
        }
        match r {
            Register::AH | Register::CH | Register::DH | Register::BH => {
                (c.gpr[r as usize - Register::AH as usize] >> 8) & 0xff
            }
            Register::EIP | Register::RIP => c.rip,
            Register::CR0 => c.cr0,
            Register::CR2 => c.cr2,
            Register::CR3 => c.cr3,
            Register::CR4 => c.cr4,
            _ if r.is_gpr() => mask(c.gpr[r.full_register().number()], r.size()),
            _ => match SegReg::from_iced(r) {
                Some(s) => c.seg(s).selector as u64,
                None => 0,
            },
        }
    }

    /// Write a GPR operand (any width).
    #[inline]
    pub fn write_reg(&mut self, r: Register, value: u64) {
        if let Some((index, bytes)) = wide_gpr(r) {
            let v = if bytes == 4 {
                value & 0xffff_ffff
            } else {
                value
            };
            self.set_gpr(index, v);
            return;
        }
        match r {
            Register::AH | Register::CH | Register::DH | Register::BH => {
                let i = r as usize - Register::AH as usize;
                let old = self.m.cpu.gpr[i];
                self.set_gpr(i, (old & !0xff00) | ((value & 0xff) << 8));
            }
            _ => self.set_gpr_sized(r.full_register().number(), r.size(), value),
        }
    }

    /// Set RIP. RIP is not journaled: every step records the RIP it started at and the
    /// RIP it ended at, and a rolled-back step restores its starting RIP.
    #[inline]
    pub fn set_rip(&mut self, value: u64) {
        self.m.cpu.rip = value;
    }

    pub fn flags(&self) -> u64 {
        self.m.cpu.rflags
    }

    #[inline(always)]
    pub fn set_flags(&mut self, value: u64) {
        let old = self.m.cpu.rflags;
        let new = value | crate::machine::flags::RESERVED1;
        if old != new {
            self.m.cpu.rflags = new;
            self.record(Change::Rflags { old, new });
        }
    }

    /// Replace the bits in `mask_bits` with those of `value`.
    #[inline(always)]
    pub fn update_flags(&mut self, mask_bits: u64, value: u64) {
        let f = (self.flags() & !mask_bits) | (value & mask_bits);
        self.set_flags(f);
    }

    #[inline]
    pub fn flag(&self, bit: u64) -> bool {
        self.m.cpu.rflags & bit != 0
    }

    pub fn seg(&self, s: SegReg) -> Segment {
        *self.m.cpu.seg(s)
    }

    /// Load a segment register's selector and cache. Reports a CPL change when CS changes.
    pub fn set_seg(&mut self, s: SegReg, new: Segment) {
        self.cost.segment_loads += 1;
        let old = self.m.cpu.seg[s as usize];
        self.m.cpu.seg[s as usize] = new;
        for c in segment_changes(SegSlot::Seg(s), &old, &new) {
            self.record(c);
        }
        if s == SegReg::Cs && old.selector & 3 != new.selector & 3 {
            self.events.push(Event::PrivilegeChange {
                from: (old.selector & 3) as u8,
                to: (new.selector & 3) as u8,
            });
        }
    }

    pub fn set_tr(&mut self, new: Segment) {
        let old = self.m.cpu.tr;
        self.m.cpu.tr = new;
        for c in segment_changes(SegSlot::Tr, &old, &new) {
            self.record(c);
        }
    }

    pub fn set_gdtr(&mut self, new: TableReg) {
        let old = self.m.cpu.gdtr;
        self.m.cpu.gdtr = new;
        self.record(Change::Gdtr {
            old_base: old.base,
            new_base: new.base,
            old_limit: old.limit,
            new_limit: new.limit,
        });
    }

    pub fn set_idtr(&mut self, new: TableReg) {
        let old = self.m.cpu.idtr;
        self.m.cpu.idtr = new;
        self.record(Change::Idtr {
            old_base: old.base,
            new_base: new.base,
            old_limit: old.limit,
            new_limit: new.limit,
        });
    }

    pub fn set_cr(&mut self, n: u8, new: u64) {
        let c = &mut self.m.cpu;
        let slot = match n {
            0 => &mut c.cr0,
            2 => &mut c.cr2,
            3 => &mut c.cr3,
            8 => &mut c.cr8,
            super::journal::DR_BASE..=super::journal::DR_LAST => {
                &mut c.dr[(n - super::journal::DR_BASE) as usize]
            }
            _ => &mut c.cr4,
        };
        let old = *slot;
        *slot = new;
        self.record(Change::Cr { n, old, new });
    }

    pub fn msr(&self, index: u32) -> u64 {
        self.m.cpu.msr.get(index)
    }

    /// Store an MSR value (already checked). Does not report an event.
    pub fn set_msr(&mut self, index: u32, new: u64) {
        let old = self.m.cpu.msr.get(index);
        self.m.cpu.msr.set(index, new);
        self.record(Change::Msr { index, old, new });
    }

    pub fn set_halted(&mut self, new: bool) {
        let old = self.m.cpu.halted;
        if old != new {
            self.m.cpu.halted = new;
            self.record(Change::Halted { old, new });
        }
    }

    /// Apply a device change (src/machine/dev.rs) and journal it.
    pub fn device(&mut self, c: crate::machine::dev::DevChange) {
        self.m.dev.apply(&c, false);
        self.record(Change::Device(c));
    }

    pub fn set_pending_irq(&mut self, new: Option<u8>) {
        let old = self.m.cpu.pending_irq;
        if old != new {
            self.m.cpu.pending_irq = new;
            self.record(Change::PendingIrq { old, new });
        }
    }

    pub fn set_shadow(&mut self, new: bool) {
        let old = self.m.cpu.shadow;
        if old != new {
            self.m.cpu.shadow = new;
            self.record(Change::Shadow { old, new });
        }
    }

    // ---- memory ----------------------------------------------------------------------

    /// Translate a segment:offset access to a linear address, applying the checks of
    /// SDM Vol. 3A, 5.3 "Limit Checking" and 5.4 "Type Checking" (outside 64-bit mode)
    /// or the canonical-address check (64-bit mode).
    pub fn linear(
        &self,
        s: SegReg,
        offset: u64,
        len: usize,
        kind: AccessKind,
    ) -> Result<u64, Exception> {
        let seg = self.m.cpu.seg(s);
        let fault = |reason: &'static str| {
            if s == SegReg::Ss {
                Exception::ss(0, reason)
            } else {
                Exception::gp(0, reason)
            }
        };
        if self.is_long64() {
            let base = if matches!(s, SegReg::Fs | SegReg::Gs) {
                seg.base
            } else {
                0
            };
            let lin = base.wrapping_add(offset);
            let last = lin.wrapping_add((len.max(1) - 1) as u64);
            if !msr::is_canonical(lin) || !msr::is_canonical(last) {
                return Err(fault("the address is not canonical"));
            }
            return Ok(lin);
        }
        let attr = seg.attr;
        if attr.unusable() {
            return Err(fault("the segment register holds a null selector"));
        }
        match kind {
            AccessKind::Write if !attr.writable() => {
                return Err(fault("the segment is not writable"));
            }
            AccessKind::Read if !attr.readable() => {
                return Err(fault("the code segment is not readable"));
            }
            _ => {}
        }
        let off = offset & 0xffff_ffff;
        let last = off + (len.max(1) - 1) as u64;
        let limit = seg.limit as u64;
        let within = if attr.expand_down() {
            let upper = if attr.db() { 0xffff_ffff } else { 0xffff };
            off > limit && last <= upper
        } else {
            last <= limit
        };
        if !within {
            return Err(fault("the access is outside the segment limit"));
        }
        Ok(seg.base.wrapping_add(off) & 0xffff_ffff)
    }

    /// Translate a linear address for `access` through the page tables: from the
    /// translation cache, or by a walk that sets accessed and dirty flags through the
    /// journal (SDM Vol. 3A, 4.8). A refused access is a #PF.
    #[inline]
    pub fn translate(&mut self, lin: u64, access: &Access) -> Result<u64, Exception> {
        let c = Controls::of(&self.m.cpu);
        if c.cr0 & CR0_PG == 0 {
            return Ok(lin & 0xffff_ffff);
        }
        if let Some(m) = self.m.tlb.lookup(&c, self.m.mem.table_epoch(), lin) {
            if paging::denied(&m, access).is_none() && (access.kind != AccessKind::Write || m.dirty)
            {
                return Ok(m.phys);
            }
        }
        self.translate_slow(lin, access, &c)
    }

    #[inline(never)]
    fn translate_slow(
        &mut self,
        lin: u64,
        access: &Access,
        c: &Controls,
    ) -> Result<u64, Exception> {
        let w = paging::walk(&self.m.mem, c, lin);
        let allowed = matches!(w.result, Ok(ref m) if paging::denied(m, access).is_none());
        let write = access.kind == AccessKind::Write;
        for (addr, size, value) in w.updates(allowed, write).into_iter().flatten() {
            self.poke_phys_journaled(addr, size as usize, value);
        }
        let mut m = match w.result {
            Err(miss) => return Err(paging::fault(lin, access, Some(miss)).into()),
            Ok(_) if !allowed => return Err(paging::fault(lin, access, None).into()),
            Ok(m) => m,
        };
        m.dirty |= write;
        for t in w.tables() {
            self.m.mem.mark_table(t);
        }
        let epoch = self.m.mem.table_epoch();
        self.m.tlb.insert(c, epoch, lin, &m);
        Ok(m.phys)
    }

    /// The linear address of the page after the one holding `lin` (wrapping at 4 GiB
    /// outside 64-bit mode).
    fn next_page(&self, lin: u64) -> u64 {
        let next = (lin | 0xfff).wrapping_add(1);
        if self.is_long64() {
            next
        } else {
            next & 0xffff_ffff
        }
    }

    /// Check that an access to `[lin, lin + len)` would be allowed (translating, and so
    /// setting accessed/dirty flags, as the access itself would) without making it.
    pub fn probe(&mut self, lin: u64, len: usize, access: Access) -> Result<(), Exception> {
        self.translate(lin, &access)?;
        if (lin & 0xfff) as usize + len > 4096 {
            self.translate(self.next_page(lin), &access)?;
        }
        Ok(())
    }

    /// Checked read of a linear address with the given access rights.
    pub fn read_lin(&mut self, lin: u64, len: usize, access: Access) -> Result<u64, Exception> {
        let first = self.translate(lin, &access)?;
        self.cost.mem_reads += 1;
        self.cost.read_bytes += len as u32;
        let room = (4096 - (lin & 0xfff)) as usize;
        if len <= room {
            return Ok(self.m.mem.peek_phys_le(first, len));
        }
        let second = self.translate(self.next_page(lin), &access)?;
        let lo = self.m.mem.peek_phys_le(first, room);
        let hi = self.m.mem.peek_phys_le(second, len - room);
        Ok(lo | hi << (room * 8))
    }

    /// Checked, journaled write to a linear address: both pages of a write that crosses
    /// into the next are translated before anything is written.
    pub fn write_lin(
        &mut self,
        lin: u64,
        len: usize,
        value: u64,
        access: Access,
    ) -> Result<(), Exception> {
        let first = self.translate(lin, &access)?;
        let room = (4096 - (lin & 0xfff)) as usize;
        if len <= room {
            self.count_write(len);
            self.poke_journaled(lin, first, len, value);
            return Ok(());
        }
        let next = self.next_page(lin);
        let second = self.translate(next, &access)?;
        self.count_write(len);
        self.poke_journaled(lin, first, room, value);
        self.poke_journaled(next, second, len - room, value >> (room * 8));
        Ok(())
    }

    #[inline]
    fn count_write(&mut self, len: usize) {
        self.cost.mem_writes += 1;
        self.cost.write_bytes += len as u32;
    }

    /// Journaled write of physical memory at `phys`, which linear address `lin` maps.
    fn poke_journaled(&mut self, lin: u64, phys: u64, len: usize, value: u64) {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(4);
            let addr = phys.wrapping_add(done as u64);
            let new = mask(value >> (done * 8), n);
            let old = self.m.mem.peek_phys_le(addr, n);
            self.m.mem.poke_phys_le(addr, n, new);
            let at = lin.wrapping_add(done as u64);
            self.record(Change::mem(at, addr, n as u8, old as u32, new as u32));
            done += n;
        }
    }

    /// Journaled write of physical memory that no linear address names here (the
    /// accessed and dirty flags of paging-structure entries).
    fn poke_phys_journaled(&mut self, phys: u64, len: usize, value: u64) {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(4);
            let addr = phys.wrapping_add(done as u64);
            let new = mask(value >> (done * 8), n);
            let old = self.m.mem.peek_phys_le(addr, n);
            if old != new {
                self.m.mem.poke_phys_le(addr, n, new);
                self.record(Change::PhysMem {
                    addr,
                    len: n as u8,
                    old: old as u32,
                    new: new as u32,
                });
            }
            done += n;
        }
    }

    /// An implicit supervisor write (the accessed flag of a descriptor, the busy flag of
    /// a TSS descriptor): the CPU makes it whatever the CPL, and it can fault like any
    /// write (a read-only GDT page).
    pub fn write_system(&mut self, lin: u64, len: usize, value: u64) -> Result<(), Exception> {
        let access = self.m.system_access(AccessKind::Write);
        self.write_lin(lin, len, value, access)?;
        self.cost.system_writes += 1;
        Ok(())
    }

    /// Explicit data read at the current privilege level.
    pub fn read_mem(&mut self, s: SegReg, offset: u64, len: usize) -> Result<u64, Exception> {
        let lin = self.linear(s, offset, len, AccessKind::Read)?;
        self.read_lin(lin, len, self.m.access(AccessKind::Read))
    }

    /// Explicit data write at the current privilege level.
    pub fn write_mem(
        &mut self,
        s: SegReg,
        offset: u64,
        len: usize,
        value: u64,
    ) -> Result<(), Exception> {
        let lin = self.linear(s, offset, len, AccessKind::Write)?;
        let access = self.m.access(AccessKind::Write);
        self.write_lin(lin, len, value, access)
    }

    /// Implicit supervisor read (GDT, IDT, TSS).
    pub fn read_system(&mut self, lin: u64, len: usize) -> Result<u64, Exception> {
        let v = self.read_lin(lin, len, self.m.system_access(AccessKind::Read))?;
        self.cost.system_reads += 1;
        Ok(v)
    }

    // ---- stack -----------------------------------------------------------------------

    /// Set the stack pointer, keeping the bits above the stack address size.
    pub fn set_sp(&mut self, value: u64) {
        let w = self.m.cpu.stack_width();
        let old = self.m.cpu.gpr[RSP];
        let new = match w {
            8 => value,
            4 => value & 0xffff_ffff,
            _ => (old & !0xffff) | (value & 0xffff),
        };
        self.set_gpr(RSP, new);
    }

    /// PUSH of a `size`-byte value (SDM Vol. 2B, PUSH).
    pub fn push(&mut self, value: u64, size: usize) -> Result<(), Exception> {
        let w = self.m.cpu.stack_width();
        let sp = mask(self.m.cpu.gpr[RSP].wrapping_sub(size as u64), w);
        self.write_mem(SegReg::Ss, sp, size, value)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Write `size` bytes of `value` at SS:(SP - size) without moving SP yet.
    pub fn push_segment_selector(&mut self, selector: u16, size: usize) -> Result<(), Exception> {
        // Recent Intel processors store only the 16-bit selector and leave the rest of
        // the slot as it was (SDM Vol. 2B, PUSH, operation notes).
        let w = self.m.cpu.stack_width();
        let sp = mask(self.m.cpu.gpr[RSP].wrapping_sub(size as u64), w);
        self.linear(SegReg::Ss, sp, size, AccessKind::Write)?;
        self.write_mem(SegReg::Ss, sp, 2, selector as u64)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Read the value a POP of `size` bytes would return, at `depth` bytes above SP.
    pub fn peek_stack(&mut self, depth: u64, size: usize) -> Result<u64, Exception> {
        let w = self.m.cpu.stack_width();
        let sp = mask(self.m.cpu.gpr[RSP].wrapping_add(depth), w);
        self.read_mem(SegReg::Ss, sp, size)
    }

    /// POP of `size` bytes (SDM Vol. 2B, POP).
    pub fn pop(&mut self, size: usize) -> Result<u64, Exception> {
        let v = self.peek_stack(0, size)?;
        let w = self.m.cpu.stack_width();
        let sp = mask(self.m.cpu.gpr[RSP].wrapping_add(size as u64), w);
        self.set_sp(sp);
        Ok(v)
    }
}

/// The fast forms run on a `Ctx` with exactly the journaled writes of the general path.
impl super::fast::Regs for Ctx<'_> {
    #[inline(always)]
    fn gpr(&self, index: usize) -> u64 {
        self.m.cpu.gpr[index]
    }
    #[inline(always)]
    fn set_gpr(&mut self, index: usize, value: u64) {
        Ctx::set_gpr(self, index, value);
    }
    #[inline(always)]
    fn rflags(&self) -> u64 {
        self.m.cpu.rflags
    }
    #[inline(always)]
    fn update_flags(&mut self, mask: u64, value: u64) {
        Ctx::update_flags(self, mask, value);
    }
    /// As `control::jump_near` checks a near branch target.
    #[inline(always)]
    fn branch_ok(&self, target: u64) -> bool {
        if self.is_long64() {
            msr::is_canonical(target)
        } else {
            target <= self.m.cpu.seg(SegReg::Cs).limit as u64
        }
    }
}

/// EAX..R15D and RAX..R15 as (register number, width in bytes).
#[inline(always)]
fn wide_gpr(r: Register) -> Option<(usize, usize)> {
    let n = r as usize;
    if (Register::EAX as usize..=Register::R15D as usize).contains(&n) {
        Some((n - Register::EAX as usize, 4))
    } else if (Register::RAX as usize..=Register::R15 as usize).contains(&n) {
        Some((n - Register::RAX as usize, 8))
    } else {
        None
    }
}
