//! Where a Linux kernel keeps `current`, described as data (`[task]` in a scenario), so
//! that the PID, the task's name and the context (user, process, interrupt) can be read
//! off the machine state the way the kernel itself would find them.

use crate::machine::tables::tss32;
use crate::machine::Machine;

/// How to find the current task_struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentRule {
    /// i386: `thread_info->task`, where thread_info sits at the base of the
    /// `thread_size`-aligned kernel stack that TSS.esp0 points into.
    ThreadInfo { thread_size: u64, task_offset: u64 },
    /// x86-64: a pointer at a fixed address (the per-CPU `current_task`).
    Pointer(u64),
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

    /// The thread_info of the stack TSS.esp0 (rsp0) points into.
    fn thread_info(m: &Machine, thread_size: u64) -> Option<u64> {
        if m.cpu.tr.selector == 0 || thread_size == 0 || !thread_size.is_power_of_two() {
            return None;
        }
        let esp0 = m.mem.peek_le(
            m.cpu.tr.base.wrapping_add(tss32::ESP0),
            Self::pointer_size(m),
        );
        Some(esp0.wrapping_sub(1) & !(thread_size - 1))
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
                m.mem.peek_le(ti.wrapping_add(task_offset), size)
            }
            CurrentRule::Pointer(at) => m.mem.peek_le(at, size),
        };
        m.mem.region_at(addr).map(|_| addr)
    }

    /// The current task, if the pointers lead to mapped memory.
    pub fn current(&self, m: &Machine) -> Option<TaskView> {
        let addr = self.current_addr(m)?;
        let pid = m.mem.peek_le(addr.wrapping_add(self.pid_offset), 4) as u32;
        let mut raw = [0u8; 16];
        m.mem.peek(addr.wrapping_add(self.comm_offset), &mut raw);
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
                Self::thread_info(m, thread_size)?.wrapping_add(off)
            }
            (PreemptRule::ThreadInfoOffset(_), CurrentRule::Pointer(_)) => return None,
        };
        m.mem.region_at(at)?;
        Some(m.mem.peek_le(at, 4))
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
