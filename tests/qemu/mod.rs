//! Differential runs against QEMU full-system emulation (issue 5): a scenario's initial
//! machine (a lesson scene's, or a random program's from `programs`) becomes a multiboot
//! guest (`guest`, `guest64`), QEMU single-steps it (`run`), and ringstep steps the same
//! machine alongside QEMU's log, comparing the state after every instruction
//! (`diff_setup`).
//!
//! Limits of the comparison, and why:
//! - Memory: QEMU's `-d` log has no memory values, so a second QEMU run of the same
//!   guest under the gdbstub (`gdb`) is stepped alongside ringstep, and after every step
//!   the bytes that step wrote in ringstep (its recorded changes: pushed frames, error
//!   codes, SGDT/SIDT stores, GDT accessed and busy bits) are read from QEMU and
//!   compared; the replay's RIP must match ringstep's after each step. A scene with a
//!   scheduled interrupt is not replayed (QEMU's instruction-counted clock runs on while
//!   the gdbstub holds the guest; see `gdb`). Every byte written is also compared once
//!   more at the end of the run (monitor `pmemsave` in the logged run), except for runs
//!   that end where QEMU does not stop with them (the step limit, an instruction
//!   ringstep does not model), since QEMU has run on by the time its memory is saved.
//! - A scheduled external interrupt (a scenario's `schedule`) is raised in QEMU by the
//!   guest's local-APIC timer, one-shot, counted in instructions under `-icount shift=0`
//!   (`guest::Timer`); the per-step comparison checks that QEMU delivers the vector at
//!   the step where ringstep does. One scheduled interrupt per scenario (one timer), with
//!   a vector of 16 or more (the APIC refuses lower ones); others are skipped. The count
//!   assumes QEMU retires one instruction per scenario step before the interrupt: an
//!   exception delivered before it would show as a difference, not pass unseen.
//! - The busy bit of TR's cached type: QEMU's log shows it available (TSS32/TSS64-avl)
//!   after LTR, where LTR marks the TSS busy (ringstep keeps type 11); reported once per
//!   run as an allowed difference (`TR_CACHED_BUSY`). TR's base, limit and its other
//!   attributes are compared after every instruction; the busy bit in the GDT is memory,
//!   compared when ringstep writes it.
//! - Flags the SDM leaves undefined after an instruction (`undefined_flags`).
//!
//! This log-based path runs one scenario in two QEMU processes (lesson scenes, and a
//! random program a session cannot run); the random programs run many to a QEMU in
//! `session`, which compares the same state through the gdbstub.

pub mod coverage;
pub mod gdb;
pub mod guest;
pub mod guest64;
pub mod programs;
pub mod run;
pub mod session;

use iced_x86::{Instruction, Mnemonic, OpKind};
use ringstep::engine::{
    Change, Engine, Event, Outcome, ScheduledInterrupt, StepResult, StopReason,
};
use ringstep::lesson::Scene;
use ringstep::machine::flags::{AF, CF, OF, PF, SF, ZF};
use ringstep::machine::{Machine, SegReg};

use run::QState;

/// One disagreement between ringstep and QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `init` for the initial machine, else the step after which the states differ.
    pub step: String,
    /// The instruction of that step (address and disassembly).
    pub instr: String,
    pub field: String,
    pub ringstep: String,
    pub qemu: String,
    /// A class of known QEMU-vs-SDM disagreement this difference belongs to, if any
    /// (matched against the test's allow-list).
    pub kind: Option<&'static str>,
}

/// The class of a memory difference: a GDT descriptor's type byte that differs only in
/// the accessed bit, set by ringstep and not by QEMU.
pub const GDT_ACCESSED: &str = "gdt-accessed-bit";

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} ({}): {}: ringstep {} qemu {}",
            self.step, self.instr, self.field, self.ringstep, self.qemu
        )
    }
}

/// The outcome of one scene.
pub struct SceneDiff {
    /// States compared (the initial one plus one per instruction).
    pub compared: usize,
    /// Bytes of memory written by the scene and compared at its end (none when the run
    /// ended where QEMU does not stop with it: the step limit, an unsupported instruction).
    pub memory_bytes: usize,
    /// Bytes written by a step and compared right after it with QEMU's memory (the
    /// gdbstub replay, `gdb`), summed over the steps.
    pub step_memory_bytes: usize,
    /// Steps after which ringstep took QEMU's values of flags the SDM leaves undefined.
    pub adopted: usize,
    /// Port reads (IN, INS) whose value ringstep took from QEMU's devices, and results of
    /// RDTSC/RDTSCP/CPUID/XGETBV taken from QEMU (`session`).
    pub ports_adopted: usize,
    pub differences: Vec<Difference>,
    /// Why the scene could not be compared, if it could not.
    pub skipped: Option<String>,
    /// How ringstep's run ended (stop reason and address, or the step limit).
    pub stop: String,
    /// Bytes of accessed/dirty-flag writes (`Change::PhysMem`) compared with QEMU's
    /// physical memory after the step that made them.
    pub ad_bytes: usize,
    /// Bytes of paging-structure entries compared at the end of the run (QEMU-only
    /// accessed/dirty writes show there).
    pub table_bytes: usize,
    /// The page faults delivered, by kind (`session::pf_kind`; sessions only).
    pub page_faults: Vec<String>,
}

pub fn compare_state(m: &Machine, q: &QState, step: &str, instr: &str, out: &mut Vec<Difference>) {
    let mut diff = |field: &str, r: u64, qv: u64| {
        if r != qv {
            out.push(Difference {
                step: step.into(),
                instr: instr.into(),
                field: field.into(),
                ringstep: format!("{r:#x}"),
                qemu: format!("{qv:#x}"),
                kind: None,
            });
        }
    };
    let long = m.cpu.long_mode_active();
    // In compatibility mode QEMU logs the 32-bit layout: the low halves of the first
    // eight registers and 32-bit segment bases; R8-R15 are not logged.
    let narrow = long && !q.wide;
    let base_mask = if narrow { 0xffff_ffff } else { u64::MAX };
    if long && !narrow {
        let names = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15",
        ];
        for (i, n) in names.iter().enumerate() {
            diff(n, m.cpu.gpr[i], q.gpr[i]);
        }
        diff("rip", m.cpu.rip, q.eip);
        diff("rflags", m.cpu.rflags, q.eflags as u64);
    } else {
        let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
        for (i, n) in names.iter().enumerate() {
            diff(n, m.cpu.gpr[i] & 0xffff_ffff, q.gpr[i] & 0xffff_ffff);
        }
        diff("eip", m.cpu.rip & 0xffff_ffff, q.eip & 0xffff_ffff);
        diff("eflags", m.cpu.rflags & 0xffff_ffff, q.eflags as u64);
    }
    diff("cpl", m.cpu.cpl() as u64, q.cpl as u64);
    let order = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];
    for (i, s) in order.iter().enumerate() {
        let r = m.cpu.seg(*s);
        let qs = q.seg[i];
        diff(s.name(), r.selector as u64, qs.sel as u64);
        // A null selector's hidden part is not architecturally visible, except the FS
        // and GS bases in 64-bit mode (the MSRs and SWAPGS write them).
        let fs_gs = long && matches!(s, SegReg::Fs | SegReg::Gs);
        if r.selector & !3 != 0 || fs_gs {
            diff(
                &format!("{}.base", s.name()),
                r.base & base_mask,
                qs.base & base_mask,
            );
        }
        if r.selector & !3 != 0 {
            diff(
                &format!("{}.limit", s.name()),
                r.limit as u64,
                qs.limit as u64,
            );
        }
    }
    diff("tr", m.cpu.tr.selector as u64, q.tr.sel as u64);
    if m.cpu.tr.selector & !3 != 0 {
        let tr = &m.cpu.tr;
        diff("tr.base", tr.base & base_mask, q.tr.base & base_mask);
        diff("tr.limit", tr.limit as u64, q.tr.limit as u64);
        // Type (but its busy bit: `tr_cached_busy`), S, DPL, P, AVL, L, D/B, G.
        diff(
            "tr.attributes",
            (tr.attr.0 & TR_ATTR & !TSS_BUSY) as u64,
            (qemu_attr(q.tr.flags) & !TSS_BUSY) as u64,
        );
    }
    let cr2_mask = if long && !narrow {
        u64::MAX
    } else {
        0xffff_ffff
    };
    if !q.from_exception {
        diff("cr2", m.cpu.cr2 & cr2_mask, q.cr2 & cr2_mask);
    }
    // The same page tables in both (`guest::fit`): CR3 and CR4 as ringstep has them.
    diff("cr3", m.cpu.cr3, q.cr3);
    diff("cr4", m.cpu.cr4, q.cr4);
}

/// The descriptor attributes ringstep keeps (`Attr`, the VMX access-rights layout):
/// type, S, DPL, P, AVL, L, D/B, G.
const TR_ATTR: u32 = 0xf0ff;
/// The busy bit of a TSS descriptor's type (available 9, busy 11).
const TSS_BUSY: u32 = 0x2;

/// QEMU's segment flags (the descriptor's second dword) in `Attr`'s layout.
fn qemu_attr(flags: u32) -> u32 {
    (flags >> 8) & TR_ATTR
}

/// The class of a difference in TR's cached type: busy in ringstep after LTR, available
/// in QEMU.
pub const TR_CACHED_BUSY: &str = "tr-cached-busy-bit";

/// TR's cached type busy in ringstep and available in QEMU, the rest of the cache equal:
/// QEMU's LTR fills the cache from the descriptor before it marks the descriptor busy.
fn tr_cached_busy(m: &Machine, q: &QState, step: &str, instr: &str) -> Option<Difference> {
    let ours = m.cpu.tr.attr.0 & TR_ATTR;
    let theirs = qemu_attr(q.tr.flags);
    (m.cpu.tr.selector & !3 != 0 && ours & TSS_BUSY != 0 && ours ^ theirs == TSS_BUSY).then(|| {
        Difference {
            step: step.into(),
            instr: instr.into(),
            field: "tr type (cached)".into(),
            ringstep: format!("{:#x}", ours & 0xf),
            qemu: format!("{:#x}", theirs & 0xf),
            kind: Some(TR_CACHED_BUSY),
        }
    })
}

pub fn vectors(qs: &QState) -> String {
    let v: Vec<String> = qs
        .exceptions
        .iter()
        .map(|(v, e)| match e {
            Some(e) => format!("{v:#x}({e:#x})"),
            None => format!("{v:#x}"),
        })
        .collect();
    format!("[{}]", v.join(" "))
}

/// The class of a difference in the error code of a #GP or #NP raised by an IDT gate
/// in IA-32e mode: QEMU gives the vector times 16 plus 2, the SDM the vector times 8
/// plus 2 (the vector in the selector-index field).
pub const IDT_ERROR_CODE_64: &str = "idt-error-code-64";

/// A #GP/#NP QEMU delivered in IA-32e mode with an IDT error code of `vector * 16 + 2`
/// where ringstep (`after`, the machine after the step) pushed `vector * 8 + 2`: the
/// address of the pushed error code and the difference to report.
fn idt_error_code_64(q: &QState, after: &Machine) -> Option<(u64, Difference)> {
    let &(v, Some(code)) = q.exceptions.last()? else {
        return None;
    };
    if !matches!(v, 11 | 13) || code & 3 != 2 || code % 16 != 2 {
        return None;
    }
    let at = after.cpu.gpr[4];
    let mut pushed = [0u8; 8];
    after.mem.peek(at, &mut pushed);
    let ours = u64::from_le_bytes(pushed);
    (ours == (code as u64 - 2) / 2 + 2).then(|| {
        (
            at,
            Difference {
                step: "delivery".into(),
                instr: format!("#{} through the IDT", if v == 13 { "GP" } else { "NP" }),
                field: "error code".into(),
                ringstep: format!("{ours:#x}"),
                qemu: format!("{code:#x}"),
                kind: Some(IDT_ERROR_CODE_64),
            },
        )
    })
}

/// WRMSR of a non-canonical address to an MSR that holds one (SYSENTER_ESP/EIP,
/// KERNEL_GS_BASE, ...): a #GP by the SDM, accepted by QEMU.
pub const WRMSR_CANONICAL: &str = "wrmsr-non-canonical";
/// A data access wrapping past 4 GiB in a segment with a 4-GiB limit: a limit fault in
/// ringstep, a page fault at the wrapped address in QEMU; the SDM leaves it to the
/// implementation.
pub const WRAP_4G: &str = "limit-4g-wrap";
/// A near branch to a non-canonical address: #GP(0) by the branch itself in the SDM
/// (nothing pushed, RIP at the branch), a completed branch and a #GP on the next fetch in
/// QEMU.
pub const BRANCH_CANONICAL: &str = "branch-non-canonical";
/// A stack access (through SS) at a non-canonical address: #SS(0) by the SDM, #GP(0)
/// in QEMU.
pub const STACK_CANONICAL: &str = "stack-non-canonical";
/// PUSH of a segment register with a 32- or 64-bit operand size: ringstep moves the
/// selector's 16 bits and leaves the rest of the slot, QEMU zero-extends it.
pub const PUSH_SREG: &str = "push-sreg-upper-bytes";
/// A data access through a null segment register, a non-writable (code) segment, an
/// execute-only one or past a segment's limit: #GP(0)/#SS(0) by the SDM; QEMU's TCG
/// applies the base and checks none of these for data accesses.
pub const SEGMENT_TYPE: &str = "segment-type-check";
/// A #PF raised by IRET's or RETF's stack reads at CPL 3: a user-mode access (error code
/// U/S = 1) by the SDM; QEMU reads the frame with supervisor accesses (U/S = 0).
pub const IRET_PF_USER: &str = "iret-pf-user-bit";
/// SYSENTER/SYSEXIT in 64-bit mode: valid on Intel processors (ringstep's #GP at CPL 3
/// for SYSEXIT), #UD on AMD ones; QEMU's `-cpu max` has AMD's vendor and raises #UD.
pub const SYSENTER_64_VENDOR: &str = "sysenter-64-vendor";
/// SYSCALL in compatibility mode: #UD on Intel processors (ringstep), entered through
/// IA32_CSTAR on AMD ones; QEMU's `-cpu max` has AMD's vendor and enters.
pub const SYSCALL_COMPAT_VENDOR: &str = "syscall-compat-vendor";
/// CMPS with both operands on pages that fault: ringstep reads DS:rSI first, QEMU
/// ES:rDI; the SDM does not order the two reads.
pub const CMPS_ORDER: &str = "cmps-fault-order";
/// A far CALL with a 32-bit operand size in 64-bit mode: its pushes go to RSP - 4 and
/// RSP - 8 (64-bit stack addresses); QEMU truncates the stack address to 32 bits.
pub const FAR_CALL32_STACK: &str = "far-call-32-stack-in-64";
/// CMPXCHG with a 32-bit register destination whose comparison fails (64-bit mode):
/// DEST ← TEMP zero-extends it by the SDM; QEMU leaves the upper half.
pub const CMPXCHG_R32: &str = "cmpxchg-r32-writeback";
/// LOCK on an instruction that does not take it (BT, a register destination): #UD by
/// the SDM; QEMU executes some of them.
pub const LOCK_UD: &str = "lock-ud";
/// INT1 (ICEBP, F1): #DB by the SDM, #UD in QEMU 7.2.
pub const INT1_UD: &str = "int1-ud";
/// C6/C7 with a reserved ModRM.reg (group 11): #UD by the SDM, MOV in QEMU.
pub const GROUP11_UD: &str = "group11-reserved-modrm";
/// SYSCALL clearing arithmetic flags that IA32_FMASK does not name (QEMU).
/// `ALLOWED`: bits 63:32 of registers after compatibility-mode code.
pub const COMPAT_UPPER: &str = "compat-upper-halves";
/// `ALLOWED`: the order of PUSHA's stores when every slot faults (CR2).
pub const PUSHA_ORDER: &str = "pusha-fault-order";
/// `ALLOWED`: QEMU's POPA writes the registers it popped before a later slot faults.
pub const POPA_PARTIAL: &str = "popa-partial-on-fault";
/// `ALLOWED`: QEMU sets bit 5 (its accessed flag) in a PAE PDPTE.
pub const PAE_PDPTE_ACCESSED: &str = "pae-pdpte-accessed";
pub const SYSCALL_FLAGS: &str = "syscall-arith-flags";

/// Whether a step is a known case where QEMU departs from the SDM (or the SDM leaves
/// the choice open) and the runs part ways: ringstep's delivered vectors `want` and
/// exception reasons, QEMU's state before the step.
fn divergence(
    mnemonic: Option<Mnemonic>,
    want: &[u8],
    reasons: &[&str],
    exceptions: &[(u8, Option<u32>)],
) -> Option<&'static str> {
    let qemu_raised = exceptions.last().map(|e| e.0);
    let ours = want.last().copied();
    // (The #GP may have turned into a #DF on a broken stack: its reason stays.)
    if matches!(
        mnemonic,
        Some(Mnemonic::Wrmsr | Mnemonic::Wrfsbase | Mnemonic::Wrgsbase)
    ) && ours.is_some()
        && qemu_raised.is_none()
        && reasons
            .iter()
            .any(|r| r.to_lowercase().contains("canonical"))
    {
        return Some(WRMSR_CANONICAL);
    }
    let branch = matches!(
        mnemonic,
        Some(Mnemonic::Call | Mnemonic::Jmp | Mnemonic::Ret)
    ) || mnemonic.is_some_and(|m| format!("{m:?}").starts_with('J'));
    if branch
        && ours == Some(13)
        && qemu_raised.is_none()
        && reasons.iter().any(|r| r.contains("canonical"))
    {
        return Some(BRANCH_CANONICAL);
    }
    if ours == Some(12)
        && exceptions.last() == Some(&(13, Some(0)))
        && reasons.iter().any(|r| r.contains("not canonical"))
    {
        return Some(STACK_CANONICAL);
    }
    if matches!(mnemonic, Some(Mnemonic::Sysenter | Mnemonic::Sysexit))
        && ours != Some(6)
        && qemu_raised == Some(6)
    {
        return Some(SYSENTER_64_VENDOR);
    }
    if matches!(ours, Some(12 | 13))
        && qemu_raised == Some(14)
        && reasons.iter().any(|r| r.contains("segment limit"))
    {
        return Some(WRAP_4G);
    }
    if matches!(ours, Some(12 | 13))
        && matches!(qemu_raised, None | Some(14))
        && reasons.iter().any(|r| {
            r.contains("segment is not writable")
                || r.contains("is not readable")
                || r.contains("null selector")
                || r.contains("segment limit")
        })
    {
        return Some(SEGMENT_TYPE);
    }
    None
}

/// Whether `vector` is the #UD of a SYSCALL the machine is about to execute in
/// compatibility mode (a fault leaves the state before the instruction).
fn syscall_in_compat_mode(m: &Machine, vector: u8) -> bool {
    let mut b = [0u8; 2];
    m.peek_lin(m.cpu.rip, &mut b);
    vector == 6 && m.cpu.mode() == ringstep::machine::cpu::Mode::Compat && b == [0x0f, 0x05]
}

/// What to run: an initial machine and how its run ends.
#[derive(Clone, Debug)]
pub struct Setup {
    pub machine: Machine,
    pub stop_at: Vec<u64>,
    pub schedule: Vec<ScheduledInterrupt>,
    pub max_steps: u64,
}

impl Setup {
    /// The scene's machine, fitted for QEMU's PC (`guest::fit`; a machine that cannot
    /// be is kept as it is, and its guest does not build).
    pub fn of_scene(scene: &Scene) -> Setup {
        let s = &scene.scenario;
        let mut machine = s.machine.clone();
        if guest::fit(&mut machine).is_err() {
            machine = s.machine.clone();
        }
        Setup {
            machine,
            stop_at: s.stop_at.clone(),
            schedule: s
                .interrupts
                .iter()
                .map(|i| ScheduledInterrupt {
                    before_step: i.before_step,
                    vector: i.vector,
                })
                .collect(),
            max_steps: s.max_steps.unwrap_or(1000),
        }
    }

    fn engine(&self) -> Engine {
        let mut e = Engine::new(self.machine.clone());
        e.set_stop_at(self.stop_at.clone());
        e.set_schedule(self.schedule.clone());
        e
    }
}

/// The flags the SDM leaves undefined after `i` completes (its "Flags Affected"
/// sections); `count` is the shift count operand (immediate or CL) before masking.
pub fn undefined_flags(i: &Instruction, cl: u64) -> u64 {
    use Mnemonic as M;
    let size = match i.op0_kind() {
        OpKind::Register => i.op0_register().size() as u32 * 8,
        OpKind::Memory => i.memory_size().size() as u32 * 8,
        _ => 32,
    };
    match i.mnemonic() {
        M::And | M::Or | M::Xor | M::Test => AF,
        M::Mul | M::Imul => SF | ZF | AF | PF,
        M::Div | M::Idiv => CF | OF | SF | ZF | AF | PF,
        M::Shl | M::Sal | M::Shr | M::Sar => {
            let raw = match i.op1_kind() {
                OpKind::Register => cl,
                _ => i.immediate8() as u64,
            };
            let count = raw & if size == 64 { 0x3f } else { 0x1f };
            let mut u = 0;
            if count != 0 {
                u |= AF;
            }
            if count > 1 {
                u |= OF;
            }
            if count >= size as u64 && i.mnemonic() != M::Sar {
                u |= CF;
            }
            u
        }
        M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd => {
            let double = matches!(i.mnemonic(), M::Shld | M::Shrd);
            let n = if double { 2 } else { 1 };
            let raw = match i.op_kind(n) {
                OpKind::Register => cl,
                _ => i.immediate8() as u64,
            };
            let count = raw & if size == 64 { 0x3f } else { 0x1f };
            match (double, count) {
                (_, 0) => 0,
                (false, 1) => 0,
                (false, _) => OF,
                (true, c) if c > size as u64 => CF | OF | SF | ZF | AF | PF,
                (true, 1) => AF,
                (true, _) => OF | AF,
            }
        }
        M::Bt | M::Bts | M::Btr | M::Btc => OF | SF | AF | PF,
        M::Bsf | M::Bsr => CF | OF | SF | AF | PF,
        M::Tzcnt | M::Lzcnt => OF | SF | AF | PF,
        _ => 0,
    }
}

/// Whether `i` is a string instruction with a REP (not REPE/REPNE) prefix: ringstep runs
/// all its iterations in one step, QEMU's single-stepping logs a state per iteration.
fn rep_string(i: &Instruction) -> bool {
    i.is_string_instruction()
        && i.has_rep_prefix()
        && !matches!(
            i.mnemonic(),
            Mnemonic::Cmpsb
                | Mnemonic::Cmpsw
                | Mnemonic::Cmpsd
                | Mnemonic::Cmpsq
                | Mnemonic::Scasb
                | Mnemonic::Scasw
                | Mnemonic::Scasd
                | Mnemonic::Scasq
        )
}

/// Run `scene` in ringstep and in QEMU and compare them after every instruction.
pub fn diff_scene(scene: &Scene, dir: &std::path::Path) -> SceneDiff {
    diff_scene_with(scene, dir, &|_| {})
}

/// The same, with `tweak` applied to the machine QEMU starts from only (to prove that
/// differences are found and reported).
pub fn diff_scene_with(
    scene: &Scene,
    dir: &std::path::Path,
    tweak: &dyn Fn(&mut Machine),
) -> SceneDiff {
    diff_setup(&Setup::of_scene(scene), dir, tweak)
}

/// States QEMU is asked to log past ringstep's last one: room for a run that takes a
/// longer path once undefined flags follow QEMU's values.
const MARGIN: usize = 32;

/// The byte ringstep's machine `m` holds at `a` against QEMU's `qv` (`None`: not mapped
/// in QEMU's memory), as a difference at the end of the run (the caller names the step
/// instead for a per-step comparison); `m0` is the initial machine, `explained` the IDT
/// error codes found to differ (`idt_error_code_64`).
fn mem_difference(
    m: &Machine,
    m0: &Machine,
    explained: &[(u64, Difference)],
    a: u64,
    qv: Option<u8>,
) -> Option<Difference> {
    let mut r = [0u8];
    m.mem.peek(a, &mut r);
    if qv == Some(r[0]) {
        return None;
    }
    let gdt = &m0.cpu.gdtr;
    let type_byte = a >= gdt.base && a <= gdt.base + gdt.limit as u64 && (a - gdt.base) % 8 == 5;
    let accessed_only = qv == Some(r[0] & !1) && r[0] & 1 == 1;
    let error_code = explained.iter().any(|(at, _)| (*at..at + 8).contains(&a));
    Some(Difference {
        step: "end".into(),
        instr: m.describe_addr(a).unwrap_or_default(),
        field: if type_byte {
            format!("GDT[{}] type byte (mem[{a:#x}])", (a - gdt.base) / 8)
        } else {
            format!("mem[{a:#x}]")
        },
        ringstep: format!("{:#04x}", r[0]),
        qemu: qv.map_or("unmapped".into(), |v| format!("{v:#04x}")),
        kind: if type_byte && accessed_only {
            Some(GDT_ACCESSED)
        } else if error_code {
            Some(IDT_ERROR_CODE_64)
        } else {
            None
        },
    })
}

/// The physical memory to save at the end of a logged run: the guest's frames and the
/// regions' memory (pages never written included), as sorted disjoint ranges.
fn dump_ranges(m: &Machine, g: &guest::Guest) -> Vec<(u64, u64)> {
    let mut r: Vec<(u64, u64)> = g
        .segments
        .iter()
        .map(|(at, b)| (*at, *at + b.len() as u64))
        .chain(
            m.mem
                .regions()
                .iter()
                .filter(|r| r.name != guest::STUB_REGION)
                .map(|r| (r.phys_range().start, r.phys_range().end)),
        )
        .collect();
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in r {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out.into_iter().map(|(s, e)| (s, e - s)).collect()
}

/// Run `setup` in ringstep and QEMU and compare them after every instruction.
///
/// Flags the SDM leaves undefined after an instruction (`undefined_flags`) are not
/// compared; where they differ, ringstep's run takes QEMU's values for them and goes
/// on, so that a later branch or PUSHF on such a flag follows the same path.
/// After a step, RFLAGS against QEMU's: SYSCALL keeping the arithmetic flags is QEMU's
/// known deviation (reported, `SYSCALL_FLAGS`, and QEMU's value taken); flags the SDM
/// leaves undefined after the instruction follow QEMU's choice from here on. True if
/// undefined flags were taken from QEMU.
pub fn follow_flags(
    e: &mut ringstep::engine::Engine,
    mnemonic: Option<Mnemonic>,
    qflags: u64,
    undefined: u64,
    (step, instr): (&str, &str),
    differences: &mut Vec<Difference>,
) -> bool {
    let flags = e.machine().cpu.rflags;
    let arith = CF | PF | AF | ZF | SF | OF;
    if mnemonic == Some(Mnemonic::Syscall) && flags & !arith == qflags && flags & arith != 0 {
        differences.push(Difference {
            step: step.to_string(),
            instr: instr.to_string(),
            field: "rflags".into(),
            ringstep: format!("{flags:#x}"),
            qemu: format!("{qflags:#x}"),
            kind: Some(SYSCALL_FLAGS),
        });
        e.machine_mut().cpu.rflags = qflags;
        false
    } else if (flags ^ qflags) & undefined != 0 {
        e.machine_mut().cpu.rflags = (flags & !undefined) | (qflags & undefined);
        true
    } else {
        false
    }
}

pub fn diff_setup(setup: &Setup, dir: &std::path::Path, tweak: &dyn Fn(&mut Machine)) -> SceneDiff {
    let skip = |why: String| SceneDiff {
        compared: 0,
        memory_bytes: 0,
        step_memory_bytes: 0,
        adopted: 0,
        ports_adopted: 0,
        differences: Vec::new(),
        skipped: Some(why),
        stop: String::new(),
        ad_bytes: 0,
        table_bytes: 0,
        page_faults: Vec::new(),
    };
    let timer = match setup.schedule.as_slice() {
        [] => None,
        [s] if s.vector >= 16 => Some(guest::Timer {
            vector: s.vector,
            before_step: s.before_step,
        }),
        [_] => return skip("the APIC cannot deliver a scheduled vector below 16".into()),
        _ => return skip("more than one scheduled interrupt (one APIC timer)".into()),
    };
    // A first run tells how many states QEMU should log.
    let mut first = setup.engine();
    let mut last = 0;
    // QEMU's extra states: one per iteration of a REP string instruction after the first.
    let mut rep_extra = 0usize;
    while (last as u64) < setup.max_steps {
        let count = first.machine().cpu.gpr[1];
        match first.step() {
            StepResult::Stepped => last += 1,
            StepResult::Stopped(_) => break,
        }
        if let Some(i) = first.last_step().and_then(|v| v.instr()) {
            if rep_string(&i) {
                // The count register's width is the address size, which the string
                // operands' index registers show.
                let kinds: Vec<OpKind> = (0..i.op_count()).map(|n| i.op_kind(n)).collect();
                let count = if kinds
                    .iter()
                    .any(|k| matches!(k, OpKind::MemorySegRSI | OpKind::MemoryESRDI))
                {
                    count
                } else if kinds
                    .iter()
                    .any(|k| matches!(k, OpKind::MemorySegESI | OpKind::MemoryESEDI))
                {
                    count & 0xffff_ffff
                } else {
                    count & 0xffff
                };
                rep_extra += (count as usize).saturating_sub(1);
            }
        }
    }
    let m0 = setup.machine.clone();
    let mut for_qemu = m0.clone();
    tweak(&mut for_qemu);
    let long = m0.cpu.long_mode_active();
    let built = if long {
        guest64::build(&for_qemu, &setup.stop_at, timer.as_ref())
    } else {
        guest::build(&for_qemu, &setup.stop_at, timer.as_ref())
    };
    let guest = match built {
        Ok(g) => g,
        Err(e) => return skip(e),
    };
    let elf = match guest::link(&guest, dir, if long { 64 } else { 32 }) {
        Ok(p) => p,
        Err(e) => return skip(e),
    };
    let filter: Vec<String> = m0
        .mem
        .regions()
        .iter()
        .filter(|r| r.name != guest::STUB_REGION)
        .map(|r| format!("{:#x}+{:#x}", r.base, r.size))
        .collect();
    // qemu-system-x86_64 for 32-bit guests too: ringstep models a processor with
    // Intel 64 (WRMSR checks SYSENTER_ESP/EIP for canonical addresses, for one), and
    // qemu-system-i386 one without.
    let qemu = run::Qemu {
        binary: "qemu-system-x86_64",
        memory_mib: guest.memory_mib,
        icount: timer.is_some(),
    };
    let q = run::run(
        qemu,
        &elf,
        dir,
        m0.cpu.rip,
        (last + 1 + rep_extra, last + 1 + rep_extra + MARGIN),
        &filter.join(","),
        &dump_ranges(&m0, &guest),
    );

    // The comparison, step by step.
    let mut e = setup.engine();
    let mut differences = Vec::new();
    if let Some(why) = &q.failure {
        differences.push(Difference {
            step: "init".into(),
            instr: String::new(),
            field: "QEMU run".into(),
            ringstep: "ran".into(),
            qemu: why.clone(),
            kind: None,
        });
    }
    // The replay under the gdbstub, for memory after every step; dropped (and QEMU
    // with it) at the first thing that goes wrong, which is reported.
    // Not with a timer (see `gdb`): such a scene's memory is compared at the end only.
    let replay = match timer {
        Some(_) => Ok(None),
        None => gdb::Replay::start(qemu, &elf, dir, m0.cpu.rip).map(Some),
    };
    let mut replay = match replay {
        Ok(r) => r,
        Err(why) => {
            differences.push(Difference {
                step: "init".into(),
                instr: String::new(),
                field: "memory replay".into(),
                ringstep: "started".into(),
                qemu: why,
                kind: None,
            });
            None
        }
    };
    let mut step_memory_bytes = 0;
    let mut written: Vec<u64> = Vec::new();
    let mut adopted = 0;
    let mut explained: Vec<(u64, Difference)> = Vec::new();
    let missing = |step: String, instr: String| Difference {
        step,
        instr,
        field: "state".into(),
        ringstep: "present".into(),
        qemu: format!(
            "missing (QEMU logged {} states, {} bytes of log)",
            q.states.len(),
            q.log_bytes
        ),
        kind: None,
    };
    let Some(q0) = q.states.first() else {
        differences.push(missing("init".into(), String::new()));
        return SceneDiff {
            compared: 0,
            memory_bytes: 0,
            step_memory_bytes: 0,
            adopted,
            ports_adopted: 0,
            differences,
            skipped: None,
            stop: String::new(),
            ad_bytes: 0,
            table_bytes: 0,
            page_faults: Vec::new(),
        };
    };
    compare_state(e.machine(), q0, "init", "", &mut differences);
    // Reported once, where it first shows (the stub's LTR, or the scenario's own).
    let mut tr_busy_seen = false;
    if let Some(d) = tr_cached_busy(e.machine(), q0, "init", "") {
        tr_busy_seen = true;
        differences.push(d);
    }
    let mut compared = 1;
    let mut k = 0usize;
    let mut memory_final = false;
    let stop = loop {
        if k as u64 >= setup.max_steps {
            break "step limit".to_string();
        }
        let ip = e.machine().cpu.rip;
        let cl = e.machine().cpu.gpr[1];
        let qs = &q.states[k];
        let stopped = match e.step() {
            StepResult::Stepped => None,
            StepResult::Stopped(s) => Some(s),
        };
        if let Some(s) = stopped {
            if let StopReason::Fault(x) = &s.reason {
                // ringstep reports the exception it found no handler for, or the last
                // one of a double or triple fault; QEMU lists every one it raised.
                if !qs.exceptions.contains(&(x.vector, x.error_code)) {
                    differences.push(Difference {
                        step: format!("stop at {:#x}", s.ip),
                        instr: String::new(),
                        field: "fault".into(),
                        ringstep: format!("{:#x}({:x?})", x.vector, x.error_code),
                        qemu: vectors(qs),
                        kind: syscall_in_compat_mode(e.machine(), x.vector)
                            .then_some(SYSCALL_COMPAT_VENDOR),
                    });
                }
            }
            // QEMU stays where ringstep stopped (a `jmp .` at an end address, or the
            // shutdown after a fault) only for these; elsewhere it runs on and its
            // memory at the end is no longer the memory after ringstep's last step.
            memory_final = matches!(
                s.reason,
                StopReason::End | StopReason::Fault(_) | StopReason::Halt
            );
            break format!("{} at {:#x}", s.reason.name(), s.ip);
        }
        let view = e.last_step().expect("the step just recorded");
        if view
            .events
            .iter()
            .any(|ev| matches!(ev, Event::Port { write: false, .. }))
            && view.instr().is_some_and(|i| i.is_string_instruction())
        {
            // INS: the bytes QEMU's device gave are not in its log; compared up to it
            // (`session` takes them from QEMU's memory and goes on).
            break format!("port input at {ip:#x}");
        }
        let instr = match view.instr() {
            Some(i) => format!("{ip:#x} {i}"),
            None => format!("{ip:#x} <no instruction>"),
        };
        let step = k.to_string();
        let want: Vec<u8> = view
            .events
            .iter()
            .filter_map(|ev| match ev {
                Event::Delivered { vector, .. } => Some(*vector),
                _ => None,
            })
            .collect();
        // QEMU lists every exception it raised; when delivering one raised another
        // (an INT through a gate the caller may not use, a #PF while delivering a
        // #PF), only the last was delivered.
        let got: Vec<u8> = qs.exceptions.last().map(|(v, _)| *v).into_iter().collect();
        if long {
            if let Some(d) = idt_error_code_64(qs, e.machine()) {
                explained.push(d);
            }
        }
        if matches!(view.info.outcome, Outcome::Halt) {
            // QEMU logs no state while halted; nothing runs after this.
            memory_final = true;
            break "halted".into();
        }
        let reasons: Vec<&str> = view
            .events
            .iter()
            .filter_map(|ev| match ev {
                Event::Exception { reason, .. } => Some(reason.as_ref()),
                _ => None,
            })
            .collect();
        let mnemonic = view.instr().map(|i| i.mnemonic());
        // A REP string instruction that ran: QEMU logged one state per iteration at its
        // address; the states after the first iteration are skipped below.
        let rep_at = view
            .instr()
            .filter(|i| rep_string(i) && e.machine().cpu.rip != ip)
            .map(|_| ip);
        if let Some(kind) = divergence(mnemonic, &want, &reasons, &qs.exceptions) {
            // A known QEMU-vs-SDM case after which the two runs take different paths:
            // reported (allowed) and the comparison ends here.
            differences.push(Difference {
                step,
                instr,
                field: "exception".into(),
                ringstep: format!("{want:x?} ({})", reasons.join("; ")),
                qemu: vectors(qs),
                kind: Some(kind),
            });
            break format!("{kind} at {ip:#x}");
        }
        if want != got {
            differences.push(Difference {
                step: step.clone(),
                instr: instr.clone(),
                field: "vectors delivered".into(),
                ringstep: format!("{want:x?}"),
                qemu: vectors(qs),
                kind: None,
            });
        }
        let mut this_step: Vec<u64> = Vec::new();
        for c in view.changes {
            if let Change::Mem { addr, len, .. } = c {
                this_step.extend((0..*len as u64).map(|i| addr + i));
            }
        }
        this_step.sort_unstable();
        this_step.dedup();
        written.extend_from_slice(&this_step);
        if let Some(r) = replay.as_mut() {
            let rip_mask = if long { u64::MAX } else { 0xffff_ffff };
            let ours = e.machine().cpu.rip & rip_mask;
            let stepped = if mnemonic == Some(Mnemonic::Pause) || rep_at.is_some() {
                r.run_to(ours)
            } else {
                r.step()
            };
            let checked = stepped.and_then(|theirs| {
                if theirs & rip_mask != ours {
                    return Err(format!("the replay's step ended at {theirs:#x}"));
                }
                // One read per run of adjacent bytes (`this_step` is sorted).
                let mut got = Vec::new();
                for run in this_step.chunk_by(|a, b| b - a == 1) {
                    got.extend(r.read(run[0], run.len())?);
                }
                Ok(got)
            });
            match checked {
                Ok(got) => {
                    let m = e.machine();
                    for (&a, &qv) in this_step.iter().zip(&got) {
                        if let Some(d) = mem_difference(m, &m0, &explained, a, Some(qv)) {
                            differences.push(Difference {
                                step: step.clone(),
                                instr: instr.clone(),
                                ..d
                            });
                        }
                    }
                    step_memory_bytes += this_step.len();
                }
                Err(why) => {
                    differences.push(Difference {
                        step: step.clone(),
                        instr: instr.clone(),
                        field: "memory replay".into(),
                        ringstep: format!("rip {ours:#x}"),
                        qemu: why,
                        kind: None,
                    });
                    replay = None;
                }
            }
        }
        let undefined = match (view.instr(), &view.info.outcome) {
            (Some(i), Outcome::Executed) => undefined_flags(&i, cl),
            _ => 0,
        };
        k += 1;
        if let Some(at) = rep_at {
            let rip_mask = if long { u64::MAX } else { 0xffff_ffff };
            while q
                .states
                .get(k)
                .is_some_and(|s| s.eip & rip_mask == at & rip_mask)
            {
                k += 1;
            }
        }
        let Some(qn) = q.states.get(k) else {
            differences.push(missing(step, instr));
            break "QEMU's log ended".into();
        };
        if matches!(
            mnemonic,
            Some(
                Mnemonic::Rdtsc
                    | Mnemonic::Rdtscp
                    | Mnemonic::Cpuid
                    | Mnemonic::Xgetbv
                    | Mnemonic::In
            )
        ) && qs.exceptions.is_empty()
        {
            // Values ringstep's model defines otherwise, and port reads: QEMU's (as in
            // `session`).
            let n = if mnemonic == Some(Mnemonic::In) { 1 } else { 4 };
            for r in 0..n {
                let q = if long {
                    qn.gpr[r]
                } else {
                    qn.gpr[r] & 0xffff_ffff
                };
                e.machine_mut().cpu.gpr[r] = q;
            }
        }
        if follow_flags(
            &mut e,
            mnemonic,
            qn.eflags as u64,
            undefined,
            (&step, &instr),
            &mut differences,
        ) {
            adopted += 1;
        }
        compare_state(e.machine(), qn, &step, &instr, &mut differences);
        if !tr_busy_seen {
            if let Some(d) = tr_cached_busy(e.machine(), qn, &step, &instr) {
                tr_busy_seen = true;
                differences.push(d);
            }
        }
        compared += 1;
    };
    // Memory: every byte ringstep wrote, as it is at the end of the run.
    written.sort_unstable();
    written.dedup();
    let mut memory_bytes = 0;
    if !memory_final {
        written.clear();
    }
    match &q.memory {
        None if !written.is_empty() => differences.push(Difference {
            step: "end".into(),
            instr: String::new(),
            field: "memory".into(),
            ringstep: format!("{} bytes written", written.len()),
            qemu: "no memory dump (QEMU had exited)".into(),
            kind: None,
        }),
        None => {}
        Some(mem) => {
            let m = e.machine();
            for &a in &written {
                // Through the regions (the tables are built from them): the address
                // space at the end may not map what an earlier one wrote.
                let phys = m.mem.region_at(a).map(|r| r.phys_of(a)).or(m.phys_of(a));
                let qv = phys.and_then(|p| {
                    mem.iter().find_map(|(at, b)| {
                        (p >= *at && p < *at + b.len() as u64).then(|| b[(p - at) as usize])
                    })
                });
                differences.extend(mem_difference(m, &m0, &explained, a, qv));
            }
            memory_bytes = written.len();
        }
    }
    differences.extend(explained.into_iter().map(|(_, d)| d));
    SceneDiff {
        memory_bytes,
        step_memory_bytes,
        compared,
        adopted,
        ports_adopted: 0,
        differences,
        skipped: None,
        stop,
        ad_bytes: 0,
        table_bytes: 0,
        page_faults: Vec::new(),
    }
}
