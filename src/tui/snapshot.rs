//! The view model: everything the panes show about one state, computed from the engine
//! (and the scene's analysed history) when the position changes. Drawing only reads it.

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, Mnemonic, OpAccess, Register};

use super::timeline::{SceneRun, Writer};
use crate::debug::lang;
use crate::disasm::{hex_spaced, Disassembler, Syntax};
use crate::engine::{Change, Event, Outcome, StopReason};
use crate::lesson::Lang;
use crate::machine::cpu::Mode;
use crate::machine::{msr, segment, Machine, SegReg};
use crate::scenario::{Context, TaskModel, TaskView};

/// Read/write marks from iced-x86's InstructionInfo for the next instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegRow {
    pub name: &'static str,
    pub value: u64,
    /// Digits to show (8 or 16).
    pub digits: usize,
    pub changed: bool,
    pub next: Access,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegRow {
    pub reg: SegReg,
    pub selector: u16,
    pub index: u16,
    pub ti: bool,
    pub rpl: u8,
    pub base: u64,
    pub limit: u32,
    pub dpl: u8,
    pub unusable: bool,
    pub type_name: &'static str,
    pub changed: bool,
    pub next: Access,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsrRow {
    pub index: u32,
    pub name: &'static str,
    pub value: u64,
    /// The symbol the value points at (0x176 -> sysenter_entry).
    pub symbol: Option<String>,
    /// The last step read / wrote it.
    pub last_read: bool,
    pub last_write: bool,
    /// The next instruction reads / writes it.
    pub next: Access,
}

/// What the stack pane says about one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub addr: u64,
    pub value: u64,
    /// The current page tables map the slot (else `value` is 0 and means nothing).
    pub mapped: bool,
    /// A name for the address (pt_regs field).
    pub field: Option<String>,
    /// Who wrote it.
    pub writer: Option<Writer>,
    /// The value as a symbol.
    pub value_symbol: Option<String>,
    pub is_sp: bool,
    pub is_bp: bool,
    /// Written by the last step.
    pub fresh: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackView {
    /// High addresses first.
    pub slots: Vec<Slot>,
    /// The stack pointer this pane follows, if known.
    pub sp: Option<u64>,
    /// The CPU's stack pointer is in this stack now.
    pub active: bool,
    /// The contents are left over from an earlier use.
    pub stale: bool,
    /// The CPU's stack pointer is in the kernel but not on this stack (after SYSENTER).
    pub sp_elsewhere: Option<(u64, Option<String>)>,
}

/// The banner on a change of CPL or of task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Banner {
    ModeTransition {
        from: u8,
        to: u8,
    },
    ContextSwitch {
        from: u32,
        to: u32,
        cpl: Option<(u8, u8)>,
    },
}

/// The last step, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastStep {
    pub ip: u64,
    pub text: String,
    pub events: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub pos: usize,
    pub last: usize,
    pub long: bool,
    pub mode: &'static str,
    pub regs: Vec<RegRow>,
    pub ip: RegRow,
    pub flags: u64,
    pub flags_changed: u64,
    pub flags_read: u64,
    pub flags_written: u64,
    pub segs: Vec<SegRow>,
    pub cpl: u8,
    /// CPL before the last step.
    pub prev_cpl: Option<u8>,
    pub banner: Option<Banner>,
    pub msrs: Vec<MsrRow>,
    pub user_stack: StackView,
    pub kernel_stack: StackView,
    pub esp0: Option<u64>,
    pub ss0: Option<u16>,
    pub tss_base: Option<u64>,
    pub tr: u16,
    pub task: Option<TaskView>,
    pub context: Option<Context>,
    pub next_instr: Option<String>,
    pub next_bytes: String,
    pub last_step: Option<LastStep>,
    /// At the end of the scene: how it ended.
    pub stop: Option<String>,
    pub fault: bool,
    /// At the end of a fault stop: the chain of events that led to it, one line each
    /// (`Stop::chain`).
    pub chain: Vec<String>,
    /// The architectural work (src/engine/cost.rs) of the last step, and of every step
    /// from the scene's start to here.
    pub step_cost: crate::engine::Cost,
    pub cost: crate::engine::Cost,
    /// Steps before this position that `cost` leaves out (`Engine::uncounted_steps`).
    pub uncounted: u64,
}

fn gpr_index(r: Register) -> Option<usize> {
    let full = r.full_register();
    const ORDER: [Register; 16] = [
        Register::RAX,
        Register::RCX,
        Register::RDX,
        Register::RBX,
        Register::RSP,
        Register::RBP,
        Register::RSI,
        Register::RDI,
        Register::R8,
        Register::R9,
        Register::R10,
        Register::R11,
        Register::R12,
        Register::R13,
        Register::R14,
        Register::R15,
    ];
    ORDER.iter().position(|x| *x == full)
}

fn mark(a: &mut Access, access: OpAccess) {
    match access {
        OpAccess::Read | OpAccess::CondRead => a.read = true,
        OpAccess::Write | OpAccess::CondWrite => a.write = true,
        OpAccess::ReadWrite | OpAccess::ReadCondWrite => {
            a.read = true;
            a.write = true
        }
        _ => {}
    }
}

/// MSRs an instruction reads or writes implicitly (InstructionInfo does not list them).
fn msr_access(mn: Mnemonic, ecx: u64) -> Vec<(u32, Access)> {
    let r = Access {
        read: true,
        write: false,
    };
    let w = Access {
        read: false,
        write: true,
    };
    match mn {
        Mnemonic::Sysenter => vec![
            (msr::SYSENTER_CS, r),
            (msr::SYSENTER_ESP, r),
            (msr::SYSENTER_EIP, r),
        ],
        Mnemonic::Sysexit | Mnemonic::Sysexitq => vec![(msr::SYSENTER_CS, r)],
        Mnemonic::Syscall => vec![
            (msr::STAR, r),
            (msr::LSTAR, r),
            (msr::CSTAR, r),
            (msr::FMASK, r),
        ],
        Mnemonic::Sysret | Mnemonic::Sysretq => vec![(msr::STAR, r)],
        Mnemonic::Swapgs => vec![
            (
                msr::GS_BASE,
                Access {
                    read: true,
                    write: true,
                },
            ),
            (
                msr::KERNEL_GS_BASE,
                Access {
                    read: true,
                    write: true,
                },
            ),
        ],
        Mnemonic::Rdmsr => vec![(ecx as u32, r)],
        Mnemonic::Wrmsr => vec![(ecx as u32, w)],
        _ => Vec::new(),
    }
}

/// Which MSRs a lesson shows: the SYSENTER ones in 32-bit lessons; the SYSCALL ones and
/// the GS bases (and EFER) in 64-bit lessons.
pub fn shown_msrs(long: bool) -> &'static [u32] {
    if long {
        &[
            msr::EFER,
            msr::STAR,
            msr::LSTAR,
            msr::FMASK,
            msr::GS_BASE,
            msr::KERNEL_GS_BASE,
        ]
    } else {
        &[msr::SYSENTER_CS, msr::SYSENTER_ESP, msr::SYSENTER_EIP]
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Real => "real",
        Mode::Protected => "protected",
        Mode::Compat => "compat",
        Mode::Long64 => "64-bit",
    }
}

/// The name of an address, only when a symbol is at most 1 KiB below in the same region.
pub fn symbol(m: &Machine, addr: u64) -> Option<String> {
    crate::debug::inspect::symbol(m, addr)
}

/// Lowest address of a `pt_regs.*` symbol: the start of struct pt_regs.
fn pt_regs_base(m: &Machine) -> Option<u64> {
    m.symbols
        .iter()
        .filter(|(n, _)| n.starts_with("pt_regs."))
        .map(|(_, a)| a)
        .min()
}

/// A field name for a stack address: `pt_regs->eax (+0x18)`.
fn field_at(m: &Machine, addr: u64, base: Option<u64>) -> Option<String> {
    let name = m.symbols.name_at(addr)?;
    match (name.strip_prefix("pt_regs."), base) {
        (Some(f), Some(b)) => Some(format!("pt_regs->{f} (+{:#x})", addr - b)),
        _ => Some(name.to_string()),
    }
}

struct StackCtx<'a> {
    m: &'a Machine,
    run: &'a SceneRun,
    pos: usize,
    pt_base: Option<u64>,
    fresh: Vec<u64>,
}

impl StackCtx<'_> {
    fn slot(&self, addr: u64, sp: u64, bp: u64, w: u64) -> Slot {
        let w = w as usize;
        let read = self.m.read_lin_le(addr, w);
        let value = read.unwrap_or(0);
        Slot {
            addr,
            value,
            mapped: read.is_some(),
            field: field_at(self.m, addr, self.pt_base),
            writer: self.run.writer(addr, self.pos).cloned(),
            value_symbol: symbol(self.m, value),
            is_sp: addr == sp,
            is_bp: addr == bp,
            fresh: self
                .fresh
                .iter()
                .any(|f| f & !3 == addr & !3 || f & !3 == (addr + 4) & !3 && w == 8),
        }
    }

    /// Slots of `w` bytes from `top` (exclusive) down to `sp` (inclusive), at most `max`
    /// nearest sp.
    fn slots(&self, top: u64, sp: u64, max: usize, w: u64) -> Vec<Slot> {
        let cpu_sp = self.m.cpu.sp();
        let bp = self.m.cpu.gpr[5] & if w == 4 { 0xffff_ffff } else { u64::MAX };
        if top <= sp {
            return Vec::new();
        }
        let count = ((top - sp) / w).min(max as u64);
        (0..count)
            .map(|k| {
                let addr = sp + (count - 1 - k) * w;
                self.slot(addr, cpu_sp, bp, w)
            })
            .collect()
    }
}

impl Snapshot {
    /// The view model of state `pos` of `run`.
    pub fn build(
        run: &mut SceneRun,
        pos: usize,
        syntax: Syntax,
        lang: Lang,
        task: Option<&TaskModel>,
    ) -> Snapshot {
        let pos = pos.min(run.last_state());
        let last = run.last_state();
        run.machine_at(pos);
        let run: &SceneRun = run;
        let m = run.played.engine.machine();
        let cpu = &m.cpu;
        let long = cpu.long_mode_active();
        let digits = if long { 16 } else { 8 };
        let prev = pos.checked_sub(1).and_then(|p| run.steps.get(p));

        // What the last step changed.
        let mut gpr_changed = [false; 16];
        let mut seg_changed = [false; 6];
        let mut flags_changed = 0;
        let mut ip_changed = false;
        let mut msr_read = Vec::new();
        let mut msr_written = Vec::new();
        let mut fresh = Vec::new();
        if let Some(rec) = prev {
            ip_changed = true;
            for ch in &rec.changes {
                match *ch {
                    Change::Gpr { index, old, new } if old != new => {
                        if let Some(c) = gpr_changed.get_mut(index as usize) {
                            *c = true;
                        }
                    }
                    Change::Rflags { old, new } => flags_changed |= old ^ new,
                    Change::SegSel {
                        slot: crate::engine::journal::SegSlot::Seg(s),
                        ..
                    }
                    | Change::SegBase {
                        slot: crate::engine::journal::SegSlot::Seg(s),
                        ..
                    } => seg_changed[s as usize] = true,
                    Change::Msr { index, .. } => msr_written.push(index),
                    Change::Mem { addr, .. } => fresh.push(addr),
                    _ => {}
                }
            }
            for e in &rec.events {
                match e {
                    Event::MsrRead { index, .. } => msr_read.push(*index),
                    Event::MsrWrite { index, .. } => msr_written.push(*index),
                    Event::SwapGs { .. } => {
                        msr_written.push(msr::GS_BASE);
                        msr_written.push(msr::KERNEL_GS_BASE);
                    }
                    _ => {}
                }
            }
            if let Some(i) = rec.instr() {
                for (index, _) in msr_access(i.mnemonic(), 0) {
                    if i.mnemonic() == Mnemonic::Sysenter
                        || i.mnemonic() == Mnemonic::Syscall
                        || i.mnemonic() == Mnemonic::Sysexit
                        || i.mnemonic() == Mnemonic::Sysret
                        || i.mnemonic() == Mnemonic::Sysretq
                        || i.mnemonic() == Mnemonic::Sysexitq
                    {
                        msr_read.push(index);
                    }
                }
            }
        }

        // The next instruction and what it reads and writes.
        let mut gpr_next = [Access::default(); 16];
        let mut seg_next = [Access::default(); 6];
        let mut ip_next = Access::default();
        let (mut flags_read, mut flags_written) = (0, 0);
        let mut msr_next: Vec<(u32, Access)> = Vec::new();
        let at_end = pos == last;
        let ended_by_stop = at_end && !matches!(run.stop_reason(), StopReason::Limit);
        let mut next_instr = None;
        let mut next_bytes = String::new();
        let mut buf = [0u8; 15];
        m.peek_lin(cpu.seg(SegReg::Cs).base.wrapping_add(cpu.rip), &mut buf);
        let instr = Decoder::with_ip(cpu.bitness(), &buf, cpu.rip, DecoderOptions::NONE).decode();
        let ended = ended_by_stop && run.played.stop.reason == StopReason::End;
        if !instr.is_invalid() && !ended {
            let mut dis = Disassembler::new(&m.symbols, syntax);
            next_instr = Some(dis.format(&instr));
            next_bytes = hex_spaced(&buf[..instr.len()]);
            let mut f = InstructionInfoFactory::new();
            let info = f.info(&instr);
            for u in info.used_registers() {
                let r = u.register();
                if let Some(i) = gpr_index(r) {
                    mark(&mut gpr_next[i], u.access());
                } else if let Some(s) = SegReg::from_iced(r) {
                    mark(&mut seg_next[s as usize], u.access());
                } else if matches!(r, Register::EIP | Register::RIP) {
                    mark(&mut ip_next, u.access());
                }
            }
            flags_read = rflags_bits(instr.rflags_read());
            flags_written = rflags_bits(instr.rflags_modified());
            msr_next = msr_access(instr.mnemonic(), cpu.gpr[1] & 0xffff_ffff);
            if matches!(
                instr.mnemonic(),
                Mnemonic::Sysenter
                    | Mnemonic::Sysexit
                    | Mnemonic::Syscall
                    | Mnemonic::Sysret
                    | Mnemonic::Sysretq
                    | Mnemonic::Sysexitq
            ) {
                // They load CS and SS (and the stack pointer) without naming them.
                for s in [SegReg::Cs, SegReg::Ss] {
                    seg_next[s as usize].write = true;
                }
                gpr_next[4].write |= !matches!(instr.mnemonic(), Mnemonic::Syscall);
                ip_next.write = true;
            }
        }

        let names = cpu.gpr_names();
        let mask = if long { u64::MAX } else { 0xffff_ffff };
        let regs = names
            .iter()
            .enumerate()
            .map(|(i, name)| RegRow {
                name,
                value: cpu.gpr[i] & mask,
                digits,
                changed: gpr_changed[i],
                next: gpr_next[i],
            })
            .collect();
        let ip = RegRow {
            name: if long { "rip" } else { "eip" },
            value: cpu.rip,
            digits,
            changed: ip_changed,
            next: ip_next,
        };
        let segs = SegReg::ALL
            .iter()
            .map(|&s| {
                let seg = cpu.seg(s);
                let sel = seg.sel();
                SegRow {
                    reg: s,
                    selector: seg.selector,
                    index: sel.index(),
                    ti: sel.ti(),
                    rpl: sel.rpl(),
                    base: seg.base,
                    limit: seg.limit,
                    dpl: seg.attr.dpl(),
                    unusable: seg.attr.unusable(),
                    type_name: segment::type_name(seg.attr),
                    changed: seg_changed[s as usize],
                    next: seg_next[s as usize],
                }
            })
            .collect();
        let msrs = shown_msrs(long)
            .iter()
            .map(|&index| {
                let value = cpu.read_msr(index).unwrap_or(0);
                let next = msr_next.iter().filter(|(i, _)| *i == index).fold(
                    Access::default(),
                    |a, (_, b)| Access {
                        read: a.read || b.read,
                        write: a.write || b.write,
                    },
                );
                MsrRow {
                    index,
                    name: msr::name(index).unwrap_or("?"),
                    value,
                    symbol: if index == msr::SYSENTER_CS || index == msr::STAR {
                        None
                    } else {
                        symbol(m, value)
                    },
                    last_read: msr_read.contains(&index),
                    last_write: msr_written.contains(&index),
                    next,
                }
            })
            .collect();

        // CPL and task changes.
        let st = run.states[pos];
        let prev_st = pos.checked_sub(1).map(|p| run.states[p]);
        let prev_cpl = prev_st.map(|p| p.cpl);
        let banner = prev_st.and_then(|p| match (p.pid, st.pid) {
            (Some(a), Some(b)) if a != b => Some(Banner::ContextSwitch {
                from: a,
                to: b,
                cpl: (p.cpl != st.cpl).then_some((p.cpl, st.cpl)),
            }),
            _ if p.cpl != st.cpl => Some(Banner::ModeTransition {
                from: p.cpl,
                to: st.cpl,
            }),
            _ => None,
        });

        // Stacks.
        let ctx = StackCtx {
            m,
            run,
            pos,
            pt_base: pt_regs_base(m),
            fresh,
        };
        let w = run.user_width;
        let max_slots = 40;
        let user_top = run.states.iter().filter(|s| s.sp_user).map(|s| s.sp).max();
        let usp = run.states[..=pos]
            .iter()
            .rev()
            .find(|s| s.sp_user)
            .map(|s| s.sp);
        let user_stack = match (user_top, usp) {
            (Some(top), Some(sp)) => StackView {
                slots: ctx.slots(top.saturating_add(w), sp, max_slots, w),
                sp: Some(sp),
                active: st.sp_user,
                stale: false,
                sp_elsewhere: None,
            },
            _ => StackView::default(),
        };
        let esp0 = st.esp0;
        let kernel_active = run.on_kernel_stack(&st);
        let elsewhere = (!kernel_active && !st.sp_user).then(|| (st.sp, symbol(m, st.sp)));
        let kst = run.states[..=pos]
            .iter()
            .rev()
            .find(|s| run.on_kernel_stack(s))
            .copied();
        let kernel_stack = match kst {
            Some(k) => {
                // The top: TSS.esp0 when the stack is the one it points to (i386, and
                // interrupts), else the highest stack pointer seen on this stack.
                let top = match esp0 {
                    Some(e) if k.sp <= e && k.sp > e.saturating_sub(run.thread_size) => e,
                    _ => run
                        .states
                        .iter()
                        .filter(|s| {
                            run.on_kernel_stack(s)
                                && s.sp_region == k.sp_region
                                && s.sp >= k.sp
                                && s.sp - k.sp < run.thread_size
                        })
                        .map(|s| s.sp)
                        .max()
                        .unwrap_or(k.sp),
                };
                StackView {
                    slots: ctx.slots(top, k.sp, max_slots, run.width),
                    sp: Some(k.sp),
                    active: kernel_active,
                    stale: !kernel_active && st.cpl == 3,
                    sp_elsewhere: elsewhere,
                }
            }
            None => StackView {
                sp_elsewhere: elsewhere,
                ..StackView::default()
            },
        };
        let (tss_base, ss0) = if cpu.tr.selector != 0 {
            let ss0 = (!long).then(|| m.peek_lin_le(cpu.tr.base + 8, 2) as u16);
            (Some(cpu.tr.base), ss0)
        } else {
            (None, None)
        };

        let last_step = prev.map(|rec| describe_step(m, rec, syntax));
        let stop = at_end.then(|| describe_stop(run, lang));
        let engine = &run.played.engine;
        let step_cost = pos
            .checked_sub(1)
            .and_then(|p| engine.step_view(p))
            .map(|v| v.cost)
            .unwrap_or_default();
        Snapshot {
            pos,
            last,
            long,
            mode: mode_name(cpu.mode()),
            regs,
            ip,
            flags: cpu.rflags,
            flags_changed,
            flags_read,
            flags_written,
            segs,
            cpl: cpu.cpl(),
            prev_cpl,
            banner,
            msrs,
            user_stack,
            kernel_stack,
            esp0,
            ss0,
            tss_base,
            tr: cpu.tr.selector,
            task: task.and_then(|t| t.current(m)),
            context: task.map(|t| t.context(m)),
            next_instr,
            next_bytes,
            last_step,
            stop,
            fault: at_end && matches!(run.stop_reason(), StopReason::Fault(_)),
            chain: if at_end {
                run.played
                    .stop
                    .chain()
                    .iter()
                    .enumerate()
                    .map(|(n, l)| format!("{}. {}", n + 1, lang::link_line(l, lang)))
                    .collect()
            } else {
                Vec::new()
            },
            step_cost,
            cost: engine.cost(),
            uncounted: engine.uncounted_steps(),
        }
    }
}

fn rflags_bits(r: u32) -> u64 {
    use crate::machine::flags as M;
    use iced_x86::RflagsBits as F;
    let mut out = 0;
    for (i, f) in [
        (F::CF, M::CF),
        (F::PF, M::PF),
        (F::AF, M::AF),
        (F::ZF, M::ZF),
        (F::SF, M::SF),
        (F::OF, M::OF),
        (F::IF, M::IF),
        (F::DF, M::DF),
        (F::AC, M::AC),
    ] {
        if r & i != 0 {
            out |= f;
        }
    }
    out
}

fn describe_step(m: &Machine, rec: &super::timeline::StepRecord, syntax: Syntax) -> LastStep {
    let text = match (&rec.outcome, rec.instr()) {
        (Outcome::Interrupt(v), _) => format!("interrupt {v:#x} delivered"),
        (_, Some(i)) => Disassembler::new(&m.symbols, syntax).format(&i),
        (_, None) => "(no instruction)".into(),
    };
    let events = rec
        .events
        .iter()
        .map(|e| match e {
            Event::PrivilegeChange { from, to } => format!("ring {from} -> ring {to}"),
            Event::StackSwitch { to_sp, via, .. } => format!("stack {to_sp:#x} via {via}"),
            Event::MsrRead { index, value } => {
                format!("read {} = {value:#x}", msr::name(*index).unwrap_or("msr"))
            }
            Event::MsrWrite { index, new, .. } => {
                format!("wrote {} = {new:#x}", msr::name(*index).unwrap_or("msr"))
            }
            Event::Exception {
                vector, error_code, ..
            } => match error_code {
                Some(c) => format!(
                    "exception {}({c:#x})",
                    crate::engine::fault::vector_name(*vector)
                ),
                None => format!("exception {}", crate::engine::fault::vector_name(*vector)),
            },
            Event::Delivered {
                vector, handler, ..
            } => {
                format!(
                    "vector {vector:#x} -> {}",
                    symbol(m, *handler).unwrap_or_else(|| format!("{handler:#x}"))
                )
            }
            Event::IrqRaised { vector } => format!("IRQ line {vector:#x} raised"),
            Event::Irq {
                irq,
                vector,
                device,
            } => format!("irq {irq} -> vector {vector:#x} ({device})"),
            Event::SwapGs { .. } => "swapgs".into(),
            Event::Halt => "hlt".into(),
            Event::Port {
                port,
                value,
                write,
                device,
                ..
            } => {
                let dev = device.map_or("unmodelled", |d| d.name());
                match write {
                    true => format!("port {port:#x} <- {value:#x} ({dev})"),
                    false => format!("port {port:#x} -> {value:#x} ({dev})"),
                }
            }
        })
        .collect();
    LastStep {
        ip: rec.ip,
        text,
        events,
    }
}

/// How the scene ended, in one line, in `lang`.
pub fn describe_stop(run: &SceneRun, lang: Lang) -> String {
    let stop = &run.played.stop;
    let at = format!("{:#x}", stop.ip);
    if lang == Lang::De {
        return match &stop.reason {
            StopReason::End => format!("Ende der Szene bei {at}"),
            StopReason::Fault(e) => format!("Fault bei {at}: {}", lang::summary(e, lang)),
            StopReason::Unsupported(w) => format!(
                "nicht nachgebildeter Befehl bei {at}: {}",
                crate::debug::catalogue::in_lang(w, lang)
            ),
            StopReason::Limit => format!("Schrittgrenze erreicht bei {at}"),
            StopReason::Halt => format!("angehalten (HLT) bei {at}"),
            StopReason::Exit(s) => format!("Exit-Status {s} (isa-debug-exit) bei {at}"),
        };
    }
    match &stop.reason {
        StopReason::End => format!("end of scene at {at}"),
        StopReason::Fault(e) => format!("fault at {at}: {}", e.summary()),
        StopReason::Unsupported(w) => format!("unsupported instruction at {at}: {w}"),
        StopReason::Limit => format!("step limit reached at {at}"),
        StopReason::Halt => format!("halted at {at}"),
        StopReason::Exit(s) => format!("exit status {s} (isa-debug-exit) at {at}"),
    }
}
