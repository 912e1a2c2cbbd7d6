//! The shipped presets load and describe the machines their comments claim.

use ringstep::machine::msr;
use ringstep::machine::tables::{tss32, tss64, Gate};
use ringstep::machine::{Descriptor, Machine, Mode, SegReg};
use ringstep::scenario::{self, ScheduledInterrupt, PRESETS};

fn sym(m: &Machine, name: &str) -> u64 {
    m.symbols
        .get(name)
        .unwrap_or_else(|| panic!("symbol {name} missing"))
}

fn bytes(m: &Machine, addr: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    m.mem.peek(addr, &mut b);
    b
}

#[test]
fn every_preset_loads() {
    for name in PRESETS {
        let s = scenario::preset(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&s.name, name);
        assert!(!s.description.is_empty());
        assert_eq!(s.stop_at, vec![sym(&s.machine, "user_return")]);
        assert_eq!(s.machine.cpu.rip, sym(&s.machine, "_start"));
        assert_eq!(s.machine.cpu.cpl(), 3);
        assert_eq!(s.machine.cpu.rflags, 0x246);
    }
}

#[test]
fn unknown_preset_suggests_the_nearest() {
    let e = scenario::preset("linux-2.6-i368").unwrap_err();
    assert!(
        e.to_string().contains("did you mean `linux-2.6-i386`?"),
        "{e}"
    );
}

#[test]
fn i386_segments_come_from_the_gdt() {
    let s = scenario::preset("linux-2.6-i386").unwrap();
    let m = &s.machine;
    let c = &m.cpu;
    assert_eq!(c.mode(), Mode::Protected);
    assert_eq!(c.gdtr.base, sym(m, "cpu_gdt_table"));
    assert_eq!(c.gdtr.limit, 0xff);
    for (reg, sel) in [
        (SegReg::Cs, 0x73),
        (SegReg::Ss, 0x7b),
        (SegReg::Ds, 0x7b),
        (SegReg::Es, 0x7b),
        (SegReg::Gs, 0x33),
    ] {
        let seg = c.seg(reg);
        assert_eq!(seg.selector, sel);
        // The cache holds what the descriptor in memory says, accessed bit included.
        let d = m.gdt_entry(sel).unwrap();
        assert!(
            d.attr().accessed(),
            "{reg:?} descriptor not marked accessed"
        );
        assert_eq!(*seg, d.to_segment(sel));
    }
    assert!(c.seg(SegReg::Fs).attr.unusable());
    let cs = c.seg(SegReg::Cs);
    assert_eq!((cs.base, cs.limit, cs.attr.dpl()), (0, 0xffff_ffff, 3));
    assert!(cs.attr.is_code() && cs.attr.db());
    // Memory holds the head.S values with the accessed bit now set.
    assert_eq!(
        m.gdt_entry(0x73).unwrap(),
        Descriptor(0x00cf_fb00_0000_ffff)
    );
    // Kernel descriptors were not loaded, so they are untouched.
    assert_eq!(
        m.gdt_entry(0x60).unwrap(),
        Descriptor(0x00cf_9a00_0000_ffff)
    );
    assert_eq!(
        m.gdt_entry(0x68).unwrap(),
        Descriptor(0x00cf_9200_0000_ffff)
    );
    // glibc's TLS segment: base = TCB, whose word at +0x10 is __kernel_vsyscall.
    let gs = c.seg(SegReg::Gs);
    assert_eq!(gs.base, sym(m, "tcb"));
    assert_eq!(gs.limit, 0xffff_ffff);
    assert_eq!(m.mem.peek_le(gs.base + 0x10, 4), 0xffff_e400);
}

#[test]
fn i386_tss_and_sysenter_msrs() {
    let s = scenario::preset("linux-2.6-i386").unwrap();
    let m = &s.machine;
    let c = &m.cpu;
    let tss = sym(m, "init_tss");
    assert_eq!(c.tr.selector, 0x80);
    assert_eq!(c.tr.base, tss);
    assert_eq!(c.tr.limit, 0x2073);
    assert_eq!(c.tr.attr.ty(), 0xb, "LTR marks the TSS busy");
    assert_eq!(m.gdt_entry(0x80).unwrap().attr().ty(), 0xb);
    let top = sym(m, "kernel_stack_top");
    assert_eq!(top % 8192, 0);
    assert_eq!(m.mem.peek_le(tss + tss32::ESP0, 4), top - 8);
    assert_eq!(m.mem.peek_le(tss + tss32::SS0, 2), 0x68);
    assert_eq!(m.mem.peek_le(tss + tss32::SS1, 2), 0x60);
    assert_eq!(m.mem.peek_le(tss + tss32::ESP1, 4), tss + 0x2200);
    assert_eq!(m.mem.peek_le(tss + tss32::IOMAP_BASE, 2), 0x8000);
    // CR0 = PG | AM | WP | NE | ET | TS | MP | PE: 2.6 switches the FPU lazily.
    assert_eq!(c.cr0, 0x8005_003b);
    assert_eq!(c.cr0 & 8, 8, "CR0.TS");
    // The 2.6.15 IRQ stub: pushl $vector-256 (IRQ 0: 0xffffff00).
    assert_eq!(
        bytes(m, sym(m, "irq0_entry"), 5),
        [0x68, 0x00, 0xff, 0xff, 0xff]
    );
    assert_eq!(c.msr.get(msr::SYSENTER_CS), 0x60);
    assert_eq!(c.msr.get(msr::SYSENTER_ESP), tss + 0x2200);
    assert_eq!(c.msr.get(msr::SYSENTER_EIP), sym(m, "sysenter_entry"));
    assert_eq!(c.msr.get(msr::EFER), msr::EFER_NXE);
    // sysenter_entry's first instruction: movl TSS_sysenter_esp0(%esp),%esp.
    let entry = sym(m, "sysenter_entry");
    assert_eq!(
        bytes(m, entry, 7),
        [0x8b, 0xa4, 0x24, 0x04, 0xde, 0xff, 0xff]
    );
    assert_eq!(
        c.msr.get(msr::SYSENTER_ESP).wrapping_add(0xffff_de04) & 0xffff_ffff,
        tss + 4
    );
}

#[test]
fn i386_vsyscall_page_and_idt() {
    let s = scenario::preset("linux-2.6-i386").unwrap();
    let m = &s.machine;
    assert_eq!(sym(m, "__kernel_vsyscall"), 0xffff_e400);
    assert_eq!(sym(m, "SYSENTER_RETURN"), 0xffff_e410);
    let expect = [
        0x51, 0x52, 0x55, 0x89, 0xe5, 0x0f, 0x34, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xeb,
        0xf3, 0x5d, 0x5a, 0x59, 0xc3,
    ];
    assert_eq!(bytes(m, 0xffff_e400, expect.len()), expect);
    let page = m.mem.region_at(0xffff_e400).unwrap();
    assert!(page.perm.user && page.perm.exec && !page.perm.writable);
    let c = &m.cpu;
    assert_eq!(c.idtr.limit, 0x7ff);
    let gate = |v: u64| Gate::decode32(m.mem.peek_le(c.idtr.base + v * 8, 8));
    let g80 = gate(0x80);
    assert!(g80.is_trap_gate() && g80.is_32bit() && g80.present);
    assert_eq!(
        (g80.dpl, g80.selector, g80.offset),
        (3, 0x60, sym(m, "system_call"))
    );
    let g20 = gate(0x20);
    assert!(g20.is_interrupt_gate());
    assert_eq!((g20.dpl, g20.offset), (0, sym(m, "irq0_entry")));
    // The system call table sends getpid (20) to sys_getpid, unknown numbers to
    // sys_ni_syscall, and has NR_syscalls = 294 entries.
    let table = sym(m, "sys_call_table");
    assert_eq!(m.mem.peek_le(table + 20 * 4, 4), sym(m, "sys_getpid"));
    assert_eq!(m.mem.peek_le(table + 293 * 4, 4), sym(m, "sys_ni_syscall"));
    assert_eq!(m.mem.peek_le(table + 294 * 4, 4), 0);
    // thread_info->task->tgid is the pid getpid() returns.
    let ti = sym(m, "kernel_stack_top") - 8192;
    let task = m.mem.peek_le(ti, 4);
    assert_eq!(m.mem.peek_le(task + 0x0c, 4), 1234);
    assert_eq!(sym(m, "pt_regs.ebx"), sym(m, "kernel_stack_top") - 8 - 0x3c);
    // NX is on, so the user stack is not executable.
    assert!(c.cr4 & 0x20 != 0);
    assert!(!m.mem.region_at(c.gpr[4]).unwrap().perm.exec);
}

#[test]
fn x86_64_long_mode_state() {
    let s = scenario::preset("linux-x86_64").unwrap();
    let m = &s.machine;
    let c = &m.cpu;
    assert_eq!(c.mode(), Mode::Long64);
    assert_eq!(c.seg(SegReg::Cs).selector, 0x33);
    assert!(c.seg(SegReg::Cs).attr.l());
    assert_eq!(c.seg(SegReg::Ss).selector, 0x2b);
    assert_eq!(
        c.msr.get(msr::EFER),
        msr::EFER_SCE | msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE
    );
    assert_eq!(c.msr.get(msr::STAR), 0x0023_0010_0000_0000);
    assert_eq!(c.msr.get(msr::LSTAR), sym(m, "entry_SYSCALL_64"));
    assert_eq!(c.msr.get(msr::FMASK), 0x25_7fd5);
    assert_eq!(c.msr.get(msr::KERNEL_GS_BASE), sym(m, "per_cpu"));
    assert_eq!(c.seg(SegReg::Gs).base, 0);
    assert_eq!(c.seg(SegReg::Fs).base, sym(m, "tcb"));
    // The 16-byte TSS descriptor gives TR its full 64-bit base.
    assert_eq!(c.tr.selector, 0x40);
    assert_eq!(c.tr.base, sym(m, "cpu_tss_rw"));
    assert_eq!(c.tr.attr.ty(), 0xb);
    // Linux 6.7 with CONFIG_X86_IOPL_IOPERM: __KERNEL_TSS_LIMIT 0x4087 and
    // io_bitmap_base = IO_BITMAP_OFFSET_INVALID 0x4088, inside the per-CPU area.
    assert_eq!(c.tr.limit, 0x4087);
    assert_eq!(m.mem.peek_le(c.tr.base + tss64::IOMAP_BASE, 2), 0x4088);
    assert!(m.mem.region_at(c.tr.base + 0x4087).is_some());
    assert_eq!(
        m.mem.peek_le(c.tr.base + tss64::RSP0, 8),
        sym(m, "cpu_entry_stack_top")
    );
    // The per-CPU top_of_stack that entry_SYSCALL_64 loads.
    assert_eq!(
        m.mem.peek_le(sym(m, "per_cpu") + 0x18, 8),
        sym(m, "kernel_stack_top")
    );
    let table = sym(m, "sys_call_table");
    assert_eq!(m.mem.peek_le(table + 39 * 8, 8), sym(m, "__x64_sys_getpid"));
    // User code: mov $39,%eax; syscall.
    assert_eq!(bytes(m, c.rip, 7), [0xb8, 39, 0, 0, 0, 0x0f, 0x05]);
}

/// IA32 emulation as Linux 6.7's syscall_init() and idt.c set it up.
#[test]
fn x86_64_ia32_emulation() {
    let s = scenario::preset("linux-x86_64").unwrap();
    let m = &s.machine;
    let c = &m.cpu;
    assert_eq!(c.msr.get(msr::CSTAR), sym(m, "entry_SYSCALL_compat"));
    assert_eq!(c.msr.get(msr::SYSENTER_CS), 0x10);
    assert_eq!(c.msr.get(msr::SYSENTER_ESP), sym(m, "cpu_entry_stack_top"));
    assert_eq!(
        c.msr.get(msr::SYSENTER_EIP),
        sym(m, "entry_SYSENTER_compat")
    );
    // __USER32_CS: a DPL 3 32-bit code segment (L = 0, D = 1); SYSRETL's CS is
    // STAR[63:48] = 0x23 and SYSENTER's SS is SYSENTER_CS + 8 = __KERNEL_DS.
    let d = m.gdt_entry(0x23).unwrap();
    let a = d.attr();
    assert!(a.is_code() && a.dpl() == 3 && !a.l() && a.db());
    assert_eq!(d, Descriptor(0x00cf_fb00_0000_ffff));
    assert_eq!(c.msr.get(msr::STAR) >> 48, 0x23);
    // Vector 0x80: a DPL 3 64-bit interrupt gate to asm_int80_emulation, IST 0.
    let lo = m.mem.peek_le(c.idtr.base + 0x80 * 16, 8);
    let hi = m.mem.peek_le(c.idtr.base + 0x80 * 16 + 8, 8);
    let g = Gate::decode64(lo, hi);
    assert!(g.present && g.is_interrupt_gate());
    assert_eq!((g.dpl, g.ist, g.selector), (3, 0, 0x10));
    assert_eq!(g.offset, sym(m, "asm_int80_emulation"));
    let table = sym(m, "ia32_sys_call_table");
    assert_eq!(
        m.mem.peek_le(table + 20 * 8, 8),
        sym(m, "__ia32_sys_getpid")
    );
    assert_eq!(
        m.mem.peek_le(table + 456 * 8, 8),
        sym(m, "__ia32_sys_ni_syscall")
    );
}

#[test]
fn a_scenario_can_build_on_a_preset() {
    let text = r#"
preset = "linux-2.6-i386"

[machine]
name = "getuid via int 0x80"

[data]
"#;
    // `[data]` is an array of tables; a plain table is a type error with a position.
    let e = scenario::load_str(text, "lesson.toml").unwrap_err();
    assert!(e.to_string().starts_with("lesson.toml:7:1: "), "{e}");

    let text = r#"
preset = "linux-2.6-i386"

[machine]
name = "getuid via int 0x80"

[[regions]]
name = "user_text"
base = "0x08048000"
size = "0x1000"
user = true
exec = true
bytes = [
  "_start:",
  "b8 c7000000",  # mov $199,%eax
  "cd 80",        # int $0x80
  "done:",
]

[regs]
eax = -1

[[interrupts]]
before_step = 5
vector = "0x20"

[run]
stop_at = ["done"]
"#;
    let s = scenario::load_str(text, "lesson.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "getuid via int 0x80");
    let m = &s.machine;
    assert_eq!(m.cpu.gpr[0], 0xffff_ffff);
    assert_eq!(m.cpu.rip, 0x0804_8000);
    assert_eq!(s.stop_at, vec![0x0804_8007]);
    assert_eq!(
        s.interrupts,
        vec![ScheduledInterrupt {
            before_step: 5,
            vector: 0x20
        }]
    );
    // Everything else still comes from the preset.
    assert_eq!(m.cpu.msr.get(msr::SYSENTER_CS), 0x60);
    assert_eq!(m.cpu.tr.selector, 0x80);
}

/// The presets say where `current` is, and it leads to the task the comments describe.
#[test]
fn presets_find_the_current_task() {
    use ringstep::scenario::Context;
    for (name, pid) in [("linux-2.6-i386", 1234), ("linux-x86_64", 4321)] {
        let s = scenario::preset(name).unwrap();
        let task = s.task.expect("preset has a [task] model");
        let cur = task.current(&s.machine).expect("current task found");
        assert_eq!(cur.pid, pid, "{name}");
        assert_eq!(cur.comm, "a.out", "{name}");
        assert_eq!(task.context(&s.machine), Context::User, "{name}");
        assert_eq!(task.preempt_count(&s.machine), Some(0), "{name}");
    }
}

/// `current` the kernel's way: in the kernel, 2.6 i386 rounds ESP down to the stack
/// base, 6.7 x86-64 reads %gs: (nothing before SWAPGS); in user mode the task the next
/// entry will find.
#[test]
fn current_is_found_the_kernels_way() {
    // i386 at sysenter_entry: ESP = SYSENTER_ESP points past the TSS, no task there.
    let s = scenario::preset("linux-2.6-i386").unwrap();
    let task = s.task.unwrap();
    let mut m = s.machine.clone();
    m.cpu.seg[SegReg::Cs as usize].selector = 0x60;
    m.cpu.gpr[4] = m.cpu.msr.get(msr::SYSENTER_ESP);
    assert_eq!(m.cpu.cpl(), 0);
    assert_eq!(task.current(&m), None);
    // ESP on the task's kernel stack: a.out again.
    m.cpu.gpr[4] = sym(&m, "kernel_stack_top") - 0x40;
    assert_eq!(task.current(&m).map(|t| t.pid), Some(1234));

    // x86-64 at entry_SYSCALL_64: CPL 0 with the user's GS base, then after SWAPGS.
    let s = scenario::preset("linux-x86_64").unwrap();
    let task = s.task.unwrap();
    let mut m = s.machine.clone();
    m.cpu.seg[SegReg::Cs as usize].selector = 0x10;
    assert_eq!(m.cpu.cpl(), 0);
    assert_eq!(task.current(&m), None);
    m.cpu.seg[SegReg::Gs as usize].base = sym(&m, "per_cpu");
    assert_eq!(task.current(&m).map(|t| t.pid), Some(4321));
}
