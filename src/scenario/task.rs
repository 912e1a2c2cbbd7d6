//! Where a Linux kernel keeps `current`, described as data (`[task]` in a scenario), so
//! that the PID, the task's name and the context (user, process, interrupt) can be read
//! off the machine state the way the kernel itself would find them.

use crate::machine::msr;
use crate::machine::tables::tss32;
use crate::machine::{Machine, SegReg};

/// How to find the current task_struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentRule {
    /// i386 (Linux 2.6): `thread_info->task`, where thread_info sits at the base of the
    /// `thread_size`-aligned kernel stack. In the kernel (CPL 0) that stack is the one
    /// ESP is on, as `current_thread_info()` computes it (ESP & ~(THREAD_SIZE - 1)); in
    /// user mode it is the stack TSS.esp0 points into, where the next entry will land.
    ThreadInfo { thread_size: u64, task_offset: u64 },
    /// A pointer at a fixed address.
    Pointer(u64),
    /// x86-64 (Linux 6.7): the per-CPU `pcpu_hot.current_task`, read at this offset
    /// from the GS base, as `get_current()` does with `%gs:`. In the kernel (CPL 0) the
    /// base is GS.base, which is the per-CPU area only after SWAPGS; in user mode the
    /// kernel's base waits in IA32_KERNEL_GS_BASE.
    GsPointer(u64),
}

/// Where the preempt counter lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreemptRule {
    /// An offset into thread_info (i386 `thread_info->preempt_count`).
    ThreadInfoOffset(u64),
    /// A fixed address (x86-64 per-CPU `pcpu_hot.preempt_count`).
    At(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskModel {
    pub current: CurrentRule,
    pub pid_offset: u64,
    pub comm_offset: u64,
    pub preempt: Option<PreemptRule>,
    /// Preempt-counter bits meaning hard IRQ, soft IRQ or NMI (Linux `in_interrupt()`).
    pub interrupt_mask: u64,
}

/// The current task as the kernel would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    /// Address of the task_struct.
    pub addr: u64,
    pub pid: u32,
    pub comm: String,
}

/// What kind of code the CPU is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// CPL 3.
    User,
    /// Kernel code on behalf of the current process (e.g. a system call).
    Process,
    /// Kernel code handling an interrupt (the preempt counter says so).
    Interrupt,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::User => "user",
            Context::Process => "process",
            Context::Interrupt => "interrupt",
        }
    }
}

impl TaskModel {
    fn pointer_size(m: &Machine) -> usize {
        if m.cpu.long_mode_active() {
            8
        } else {
            4
        }
    }

    /// A kernel variable as the kernel would read it: through the current page tables
    /// when they map it; otherwise (user mode under page-table isolation, whose page
    /// tables leave most of the kernel out) through the kernel's own mapping, the
    /// declared regions. None if neither maps it.
    fn read(m: &Machine, addr: u64, len: usize) -> Option<u64> {
        if m.mapping(addr).is_some() {
            Some(m.peek_lin_le(addr, len))
        } else if m.mem.region_at(addr).is_some() {
            Some(m.mem.peek_le(addr, len))
        } else {
            None
        }
    }

    /// Whether `addr` is memory the kernel can reach (see `read`).
    fn reachable(m: &Machine, addr: u64) -> bool {
        m.mapping(addr).is_some() || m.mem.region_at(addr).is_some()
    }

    /// The thread_info the kernel would use now: at CPL 0 the base of the stack ESP is
    /// on (`current_thread_info()`), in user mode that of the stack TSS.esp0 (rsp0)
    /// points into.
    fn thread_info(m: &Machine, thread_size: u64) -> Option<u64> {
        if thread_size == 0 || !thread_size.is_power_of_two() {
            return None;
        }
        if m.cpu.cpl() == 0 {
            return Some(m.cpu.sp() & !(thread_size - 1));
        }
        if m.cpu.tr.selector == 0 {
            return None;
        }
        let esp0 = Self::read(
            m,
            m.cpu.tr.base.wrapping_add(tss32::ESP0),
            Self::pointer_size(m),
        )?;
        Some(esp0.wrapping_sub(1) & !(thread_size - 1))
    }

    /// The GS base the kernel's `%gs:` accesses use now (see `CurrentRule::GsPointer`).
    fn kernel_gs_base(m: &Machine) -> u64 {
        if m.cpu.cpl() == 0 {
            m.cpu.seg(SegReg::Gs).base
        } else {
            m.cpu.read_msr(msr::KERNEL_GS_BASE).unwrap_or(0)
        }
    }

    /// Address of the current task_struct.
    pub fn current_addr(&self, m: &Machine) -> Option<u64> {
        let size = Self::pointer_size(m);
        let addr = match self.current {
            CurrentRule::ThreadInfo {
                thread_size,
                task_offset,
            } => {
                let ti = Self::thread_info(m, thread_size)?;
                Self::read(m, ti.wrapping_add(task_offset), size)?
            }
            CurrentRule::Pointer(at) => Self::read(m, at, size)?,
            CurrentRule::GsPointer(off) => {
                Self::read(m, Self::kernel_gs_base(m).wrapping_add(off), size)?
            }
        };
        (addr != 0 && Self::reachable(m, addr)).then_some(addr)
    }

    /// The current task, if the pointers lead to mapped memory.
    pub fn current(&self, m: &Machine) -> Option<TaskView> {
        let addr = self.current_addr(m)?;
        let pid = Self::read(m, addr.wrapping_add(self.pid_offset), 4)? as u32;
        let mut raw = [0u8; 16];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = Self::read(m, addr.wrapping_add(self.comm_offset + i as u64), 1)? as u8;
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let comm = raw[..end]
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '?'
                }
            })
            .collect();
        Some(TaskView { addr, pid, comm })
    }

    /// The preempt counter, where the model says it is.
    pub fn preempt_count(&self, m: &Machine) -> Option<u64> {
        let at = match (self.preempt?, self.current) {
            (PreemptRule::At(a), _) => a,
            (PreemptRule::ThreadInfoOffset(off), CurrentRule::ThreadInfo { thread_size, .. }) => {
                // Only a thread_info that leads to a task is one (not so at
                // sysenter_entry, whose ESP still points at the TSS).
                self.current_addr(m)?;
                Self::thread_info(m, thread_size)?.wrapping_add(off)
            }
            (PreemptRule::ThreadInfoOffset(_), _) => return None,
        };
        Self::read(m, at, 4)
    }

    /// User at CPL 3; in the kernel, interrupt context when the preempt counter has an
    /// interrupt bit set, process context otherwise.
    pub fn context(&self, m: &Machine) -> Context {
        if m.cpu.cpl() == 3 {
            return Context::User;
        }
        match self.preempt_count(m) {
            Some(c) if c & self.interrupt_mask != 0 => Context::Interrupt,
            _ => Context::Process,
        }
    }
}
