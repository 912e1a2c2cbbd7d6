//! A 32-bit process on the linux-x86_64 preset (IA32 emulation, Linux 6.7): getpid()
//! through the vdso32's __kernel_vsyscall by SYSENTER, by INT $0x80, and by 32-bit
//! SYSCALL, each run end to end through the preset kernel and back to ring 3 in
//! compatibility mode.
//!
//! The process is a scenario built on the preset: a vdso32 page with the 6.7
//! __kernel_vsyscall (arch/x86/entry/vdso/vdso32/system_call.S, its ALTERNATIVE_2 in one
//! of its three forms), a 32-bit stack below 4 GiB, CS = __USER32_CS (0x23), SS/DS/ES =
//! __USER_DS (0x2b), and the preset's `user_return` (`jmp .`, the same bytes in 32-bit
//! code) as the return address on the stack.
//!
//! What the kernel promises the caller of __kernel_vsyscall: EAX = the result; EBX, ECX,
//! EDX, ESI, EDI, EBP and ESP as before the call (the vDSO saves ECX, EDX and EBP, the
//! kernel restores the rest from pt_regs).

mod common;

use ringstep::engine::{Engine, Event, StepResult, Stop, StopReason};
use ringstep::machine::cpu::{Mode, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP};
use ringstep::machine::flags::IF;
use ringstep::machine::{msr, Machine, SegReg};
use ringstep::scenario::{self, Scenario};

const VDSO: u64 = 0xf7fc_1000;
const ESP0: u64 = 0xffff_d000;
const PID: u64 = 4321;

/// The three forms of the patched ALTERNATIVE_2 (four bytes after the three pushes).
const SYSENTER_FORM: &str = "\"89e5\", \"0f34\",";
const SYSCALL_FORM: &str = "\"89cd\", \"0f05\",";
const INT80_FORM: &str = "\"90\", \"90\", \"90\", \"90\",";

fn scenario(form: &str) -> Scenario {
    let text = format!(
        r#"
preset = "linux-x86_64"

[[regions]]
name = "vdso"
base = "{VDSO:#x}"
size = "0x1000"
user = true
exec = true
bytes = [
  "__kernel_vsyscall:",
  "51", "52", "55",
  {form}
  "cd80",
  "int80_landing_pad:",
  "5d", "5a", "59", "c3",
]

[[regions]]
name = "user32_stack"
base = "0xffffc000"
size = "0x2000"
user = true
writable = true

# The return address of the call to __kernel_vsyscall.
[[data]]
at = "{ret:#x}"
longs = ["user_return"]

# current->mm->context.vdso for this 32-bit process.
[[data]]
at = "task.mm_context_vdso"
quads = ["__kernel_vsyscall"]

[segs]
cs = "0x23"
ss = "0x2b"
ds = "0x2b"
es = "0x2b"
fs = 0
gs = 0

[regs]
rip = "__kernel_vsyscall"
rsp = "{ret:#x}"
eax = 20
ebx = "0x1111"
ecx = "0x2222"
edx = "0x3333"
esi = "0x4444"
edi = "0x5555"
ebp = "0x6666"
rflags = "0x246"
"#,
        ret = ESP0 - 4
    );
    scenario::load_str(&text, "compat.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn sym(m: &Machine, name: &str) -> u64 {
    m.symbols
        .get(name)
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// Run to the end; returns the addresses executed and the stop.
fn run(e: &mut Engine) -> (Vec<u64>, Stop) {
    let mut ips = Vec::new();
    for _ in 0..3000 {
        let ip = e.machine().cpu.rip;
        match e.step() {
            StepResult::Stepped => ips.push(ip),
            StepResult::Stopped(stop) => return (ips, stop),
        }
    }
    panic!("the run did not end");
}

/// The caller's view after __kernel_vsyscall returned: ring 3, compatibility mode, the
/// PID in EAX, every other register as before.
fn assert_returned(m: &Machine, what: &str) {
    let c = &m.cpu;
    assert_eq!(
        c.rip,
        sym(m, "user_return"),
        "{what}: stopped at user_return"
    );
    assert_eq!(c.cpl(), 3, "{what}");
    assert_eq!(c.mode(), Mode::Compat, "{what}");
    assert_eq!(c.seg(SegReg::Cs).selector, 0x23, "{what}: CS");
    assert_eq!(c.seg(SegReg::Ss).selector, 0x2b, "{what}: SS");
    assert!(!c.seg(SegReg::Cs).attr.l() && c.seg(SegReg::Cs).attr.db());
    assert_eq!(c.gpr[RAX], PID, "{what}: EAX = getpid()");
    for (r, v) in [
        (RBX, 0x1111),
        (RCX, 0x2222),
        (RDX, 0x3333),
        (RSI, 0x4444),
        (RDI, 0x5555),
        (RBP, 0x6666),
    ] {
        assert_eq!(c.gpr[r] & 0xffff_ffff, v, "{what}: register {r}");
    }
    assert_eq!(c.gpr[RSP], ESP0, "{what}: ESP after the ret");
    assert_ne!(c.rflags & IF, 0, "{what}: IF is set again");
    // The user GS base is back; the kernel's per-CPU base is in KERNEL_GS_BASE.
    assert_eq!(c.seg(SegReg::Gs).base, 0, "{what}: user GS base");
    assert_eq!(c.msr.get(msr::KERNEL_GS_BASE), sym(m, "per_cpu"));
}

fn cpl_changes(e: &Engine) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    for i in 0..e.history_len() {
        let v = e.step_view(i).expect("recorded");
        for ev in v.events {
            if let Event::PrivilegeChange { from, to } = ev {
                out.push((*from, *to));
            }
        }
    }
    out
}

#[test]
fn sysenter_enters_entry_sysenter_compat_and_returns_by_sysretl() {
    let s = scenario(SYSENTER_FORM);
    let mut e = ringstep::trace::engine_for(&s);
    let (ips, stop) = run(&mut e);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    let m = e.machine();
    let entry = sym(m, "entry_SYSENTER_compat");
    assert_eq!(
        ips.iter().position(|&a| a == entry).map(|i| ips[i - 1]),
        Some(VDSO + 5)
    );
    // 6.7 leaves a SYSENTER call through SYSRETL (do_fast_syscall_32 said yes) ...
    let sysretl = sym(m, "entry_SYSRETL_compat_unsafe_stack") + 12;
    assert!(ips.contains(&sysretl), "sysretl executed");
    assert!(!ips.contains(&(sym(m, "swapgs_restore_regs_and_return_to_usermode"))));
    // ... to the landing pad, skipping the int $0x80.
    assert!(!ips.contains(&(VDSO + 7)));
    let landing = ips.iter().position(|&a| a == VDSO + 9).unwrap();
    assert_eq!(ips[landing - 1], sysretl);
    assert_eq!(cpl_changes(&e), vec![(3, 0), (0, 3)]);
    assert_returned(e.machine(), "sysenter");
    // The kernel stack holds the pt_regs it built: orig_ax 20, cs 0x23, ss 0x2b,
    // sp = the user ESP after the vDSO's three pushes, ip = the landing pad.
    let m = e.machine();
    let at = |n: &str| m.mem.peek_le(sym(m, n), 8);
    assert_eq!(at("pt_regs.orig_ax"), 20);
    assert_eq!(at("pt_regs.cs"), 0x23);
    assert_eq!(at("pt_regs.ss"), 0x2b);
    assert_eq!(at("pt_regs.sp"), ESP0 - 16);
    assert_eq!(at("pt_regs.ip"), VDSO + 9);
    assert_eq!(at("pt_regs.flags") & IF, IF, "do_SYSENTER_32 set IF");
}

#[test]
fn int80_enters_asm_int80_emulation_and_returns_by_iretq() {
    let s = scenario(INT80_FORM);
    let mut e = ringstep::trace::engine_for(&s);
    let (ips, stop) = run(&mut e);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    let m = e.machine();
    let entry = sym(m, "asm_int80_emulation");
    let i = ips
        .iter()
        .position(|&a| a == entry)
        .expect("the gate was taken");
    assert_eq!(ips[i - 1], VDSO + 7, "from the int $0x80");
    for f in [
        "error_entry",
        "sync_regs",
        "int80_emulation",
        "error_return",
    ] {
        assert!(ips.contains(&sym(m, f)), "{f} ran");
    }
    let iretq = ips
        .iter()
        .rev()
        .find(|&&a| a >= 0xffff_ffff_8000_0000)
        .copied()
        .unwrap();
    let mut b = [0u8; 2];
    m.mem.peek(iretq, &mut b);
    assert_eq!(b, [0x48, 0xcf], "the last kernel instruction is iretq");
    assert_eq!(cpl_changes(&e), vec![(3, 0), (0, 3)]);
    assert_returned(m, "int $0x80");
    // sync_regs copied the frame to the top of the task stack.
    assert_eq!(m.mem.peek_le(sym(m, "pt_regs.ip"), 8), VDSO + 9);
    assert_eq!(m.mem.peek_le(sym(m, "pt_regs.orig_ax"), 8), 20);
    assert_eq!(m.mem.peek_le(sym(m, "pt_regs.sp"), 8), ESP0 - 16);
}

/// SYSCALL in compatibility mode is #UD on Intel processors (SDM Vol. 2B SYSCALL), and
/// ringstep models an Intel CPU: the vDSO's SYSCALL32 form (which 6.7 patches in only on
/// CPUs with X86_FEATURE_SYSCALL32, i.e. AMD-style ones) faults. The preset has no #UD
/// handler, so the run stops there.
#[test]
fn syscall_in_compat_mode_is_ud_on_this_intel_cpu() {
    let s = scenario(SYSCALL_FORM);
    let mut e = ringstep::trace::engine_for(&s);
    let (_, stop) = run(&mut e);
    match &stop.reason {
        StopReason::Fault(x) => assert_eq!(x.vector, 6, "#UD: {x:?}"),
        other => panic!("expected #UD, got {other:?}"),
    }
    assert_eq!(stop.ip, VDSO + 5);
}

/// The kernel half of the SYSCALL32 path: the state an AMD-style CPU leaves after a
/// compatibility-mode SYSCALL (RCX = the next EIP, R11 = RFLAGS, RFLAGS &= ~FMASK,
/// CS/SS from STAR[47:32], RIP = CSTAR, RSP unchanged) is applied by the test in place
/// of the instruction, and the preset's entry_SYSCALL_compat runs from there to SYSRETL
/// and back through the vDSO.
#[test]
fn entry_syscall_compat_runs_to_sysretl_from_the_state_syscall_leaves() {
    let s = scenario(SYSCALL_FORM);
    let mut e = ringstep::trace::engine_for(&s);
    let (_, stop) = run(&mut e);
    assert_eq!(stop.ip, VDSO + 5, "stopped at the syscall");
    {
        let m = e.machine_mut();
        assert_eq!(m.cpu.gpr[RBP] & 0xffff_ffff, 0x2222, "movl %ecx,%ebp ran");
        let star = m.cpu.msr.get(msr::STAR);
        let cstar = m.cpu.msr.get(msr::CSTAR);
        let fmask = m.cpu.msr.get(msr::FMASK);
        assert_eq!(cstar, sym(m, "entry_SYSCALL_compat"));
        m.cpu.gpr[RCX] = VDSO + 7;
        m.cpu.gpr[11] = m.cpu.rflags;
        m.cpu.rflags &= !fmask;
        let cs = ((star >> 32) as u16) & 0xfffc;
        common::load_seg(m, SegReg::Cs, cs);
        common::load_seg(m, SegReg::Ss, cs + 8);
        m.cpu.rip = cstar;
        assert_eq!(m.cpu.mode(), Mode::Long64);
    }
    let (ips, stop) = run(&mut e);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    let m = e.machine();
    let sysretl = sym(m, "entry_SYSRETL_compat_unsafe_stack") + 12;
    assert!(ips.contains(&sym(m, "do_fast_syscall_32")));
    assert!(ips.contains(&sysretl), "sysretl executed");
    assert!(!ips.contains(&(VDSO + 7)), "int $0x80 skipped");
    assert_returned(m, "syscall32");
    // pt_regs->cx came from EBP, where the vDSO put the user ECX.
    assert_eq!(m.mem.peek_le(sym(m, "pt_regs.cx"), 8), 0x2222);
}

/// A 64-bit process keeps its own path: the preset's a.out still returns by SYSRETQ.
#[test]
fn the_64_bit_process_still_uses_entry_syscall_64() {
    let s = scenario::preset("linux-x86_64").unwrap();
    let mut e = ringstep::trace::engine_for(&s);
    let (ips, stop) = run(&mut e);
    assert_eq!(stop.reason, StopReason::End);
    let m = e.machine();
    assert!(ips.contains(&sym(m, "entry_SYSCALL_64")));
    assert!(ips.contains(&(sym(m, "entry_SYSRETQ_unsafe_stack") + 3)));
    assert_eq!(m.cpu.mode(), Mode::Long64);
    assert_eq!(m.cpu.gpr[RAX], PID);
}
