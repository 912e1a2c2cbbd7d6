//! Random programs for the differential check: tests/common's register instructions
//! plus the system side the engine models (privilege transitions through gates,
//! SYSENTER/SYSEXIT, SYSCALL/SYSRET, IRET, MSRs, descriptor tables, segment loads) and
//! instructions that fault (#GP for privileged instructions at CPL 3, #PF on supervisor,
//! read-only, non-executable and unmapped pages, #DE, #UD, #NP on a missing gate), laid
//! out in a machine with a small kernel:
//!
//! - an INT handler (`push; mov 4(%esp),...; pop; inc %eax; iret`) behind DPL-3 gates
//!   for vectors 0x80 (interrupt gate), 0x81 (trap gate), 3 and 4, and behind a DPL-0
//!   gate for 0x82 (so `int $0x82` from ring 3 is a #GP);
//! - a SYSENTER entry (`sti; sysexit`) or, in 64-bit mode, a SYSCALL entry
//!   (`swapgs; inc %rax; swapgs; sysretq`);
//! - one gate per exception vector to a handler whose first instruction ends the run
//!   (a stop address), so a fault is compared up to its delivery: the frame pushed on
//!   the kernel stack, the error code, CR2.
//!
//! A program has a user part (at the user text) and a kernel part (at the second page
//! of the kernel text); it starts in one of them, and the kernel part ends with a
//! return to the user part (SYSEXIT, IRET or SYSRET).

use proptest::prelude::*;
use ringstep::machine::{Machine, SegReg};

use super::Setup;
use crate::common::programs::{assemble_at, cat, modrm, register_ins, Ins};
use crate::common::{self, set_gate32, set_gate64};

/// Where a program starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// 32-bit protected mode (PAE paging), CPL 3.
    User32,
    /// The same machine, starting in the kernel part at CPL 0.
    Kernel32,
    /// IA-32e mode, 64-bit code at CPL 3.
    User64,
    /// The same, starting at CPL 0.
    Kernel64,
}

impl Host {
    fn long(self) -> bool {
        matches!(self, Host::User64 | Host::Kernel64)
    }
}

/// One generated case.
#[derive(Clone, Debug)]
pub struct Program {
    pub host: Host,
    pub user: Vec<u8>,
    pub kernel: Vec<u8>,
    pub regs: [u64; 16],
}

/// CR0.ET (bit 4).
const CR0_ET: u64 = 1 << 4;

/// Steps a program may run (its loops may be long).
pub const MAX_STEPS: u64 = 120;

/// Vectors whose gate leads to a handler that ends the run.
const FAULT_VECTORS: [u8; 11] = [0, 1, 5, 6, 8, 10, 11, 12, 13, 14, 17];

fn kernel_text(long: bool) -> u64 {
    if long {
        common::K64_CODE
    } else {
        common::KERNEL_CODE
    }
}

/// IST1 in the 64-bit TSS, and the top of the stack it names.
const IST1: u64 = 0x24;
const IST1_TOP: u64 = common::K64_STACK_TOP - 0x2000;

/// Offsets in the kernel text.
const SYS_ENTRY: u64 = 0;
const INT_HANDLER: u64 = 0x40;
const FAULT_HANDLERS: u64 = 0x100;
const KERNEL_PART: u64 = 0x1000;

fn fault_handler(long: bool, v: u8) -> u64 {
    kernel_text(long) + FAULT_HANDLERS + v as u64 * 8
}

fn imm32(v: u64) -> [u8; 4] {
    (v as u32).to_le_bytes()
}

fn fixed(list: Vec<Vec<u8>>) -> BoxedStrategy<Ins> {
    prop::sample::select(list).prop_map(Ins::Bytes).boxed()
}

/// User-mode system instructions and faulting cases.
fn user_ins(long: bool) -> BoxedStrategy<Ins> {
    let k = kernel_text(long);
    let (user_data, user_code) = if long {
        (common::U64_STACK_TOP - 0x1000, common::U64_CODE)
    } else {
        (common::USER_DATA, common::USER_CODE)
    };
    let mut transitions = vec![
        vec![0xcd, 0x80], // int $0x80 (interrupt gate, DPL 3)
        vec![0xcd, 0x81], // int $0x81 (trap gate, DPL 3)
        vec![0xcc],       // int3
        vec![0xcd, 0x82], // int $0x82: DPL-0 gate, #GP(0x412)
        vec![0xcd, 0x90], // int $0x90: no gate, #NP(0x482)
    ];
    let mut privileged = vec![
        vec![0xfa],                   // cli: #GP (IOPL 0)
        vec![0xfb],                   // sti
        vec![0xf4],                   // hlt
        vec![0x0f, 0x30],             // wrmsr
        vec![0x0f, 0x32],             // rdmsr
        vec![0x0f, 0x35],             // sysexit
        vec![0x0f, 0x01, 0x10],       // lgdt (%eax)
        vec![0x0f, 0x01, 0x18],       // lidt (%eax)
        vec![0x0f, 0x00, 0xd8],       // ltr %ax
        vec![0x0f, 0x22, 0xc0],       // mov %eax,%cr0
        vec![0x0f, 0x20, 0xd8],       // mov %cr3,%eax
        vec![0x0f, 0x0b],             // ud2
        vec![0x0f, 0xff, 0xc0],       // ud0
        vec![0x0f, 0xb9, 0xc0],       // ud1
        vec![0xf7, 0xf1],             // div %ecx
        vec![0xf7, 0xf9],             // idiv %ecx
        vec![0xf6, 0xf3],             // div %bl
        vec![0x0f, 0x00, 0xc8],       // str %eax
        vec![0x6a, 0x00, 0x9d],       // push $0; popf
        vec![0x9c, 0x58],             // pushf; pop %eax
        vec![0x9c, 0x9d],             // pushf; popf
        vec![0x1e, 0x07],             // push %ds; pop %es
        vec![0x8c, 0xd8],             // mov %ds,%eax
        vec![0xc9],                   // leave
        vec![0xc3],                   // ret
        vec![0xff, 0xe0],             // jmp *%eax
        vec![0xff, 0xd3],             // call *%ebx
        vec![0x89, 0x44, 0x24, 0xf8], // mov %eax,-8(%esp)
        vec![0x8b, 0x5c, 0x24, 0xf8], // mov -8(%esp),%ebx
    ];
    // sgdt/sidt into user data; loads from user data, the kernel, an unmapped page;
    // a store to the read-only user text.
    if long {
        let movabs = |op: u8, addr: u64| cat(&[&[0x48, op], &addr.to_le_bytes()]);
        privileged.extend([
            vec![0x0f, 0x01, 0x44, 0x24, 0xf0], // sgdt -16(%rsp)
            vec![0x0f, 0x01, 0x4c, 0x24, 0xf0], // sidt -16(%rsp)
            movabs(0xa1, user_data + 0x10),
            movabs(0xa3, user_code + 0x10),
            movabs(0xa1, 0x1000_0000),
            movabs(0xa1, k + 0x10),
            movabs(0xa1, 0x8000_0000_0000_0000), // not canonical: #GP(0)
        ]);
    } else {
        let abs = |op: &[u8], reg: u8, addr: u64| cat(&[op, &[modrm(0, reg, 5)], &imm32(addr)]);
        privileged.extend([
            abs(&[0x0f, 0x01], 0, user_data + 0x40), // sgdt
            abs(&[0x0f, 0x01], 1, user_data + 0x50), // sidt
            abs(&[0x8b], 0, user_data + 0x10),
            abs(&[0x89], 0, user_code + 0x10),
            abs(&[0x8b], 0, 0x1000_0000),
            abs(&[0x8b], 0, k + 0x10),
            abs(&[0xff], 2, user_data), // call *user_data (the pointer there)
        ]);
    }
    if long {
        transitions.extend([
            vec![0x0f, 0x05],       // syscall
            vec![0x0f, 0x01, 0xf8], // swapgs: #GP at CPL 3
            vec![0x48, 0x0f, 0x07], // sysretq: #GP at CPL 3
            vec![0xce],             // into: #UD in 64-bit mode
            vec![0x06],             // push %es: #UD in 64-bit mode
            vec![0x48, 0xcf],       // iretq (a frame from the stack)
        ]);
    } else {
        transitions.extend([
            vec![0xce],       // into (trap gate, DPL 3)
            vec![0x0f, 0x34], // sysenter with whatever ECX/EDX hold
            // lret to CPL 0: #GP(0x60)
            cat(&[&[0x6a, 0x60, 0x68], &imm32(k), &[0xcb]]),
            // mov $0x60,%eax; mov %eax,%ds: a code segment, #GP(0x60)
            vec![0xb8, 0x60, 0, 0, 0, 0x8e, 0xd8],
            // mov $0x7b,%eax; mov %eax,%es
            vec![0xb8, 0x7b, 0, 0, 0, 0x8e, 0xc0],
            // mov $0,%eax; mov %eax,%fs (null)
            vec![0x31, 0xc0, 0x8e, 0xe0],
            // mov $0,%eax; mov %eax,%ss: #GP(0)
            vec![0x31, 0xc0, 0x8e, 0xd0],
            vec![0x0e, 0x1f], // push %cs; pop %ds: #GP(0x70)
            vec![0x07],       // pop %es
        ]);
    }
    let mut options: Vec<(u32, BoxedStrategy<Ins>)> =
        vec![(4, fixed(transitions)), (3, fixed(privileged))];
    if !long {
        // The sysenter/sysexit round trip back to the next instruction.
        options.push((
            4,
            Just(Ins::AbsNext {
                before: vec![0x89, 0xe1],
                opcode: vec![0xba],
                after: vec![0x0f, 0x34],
            })
            .boxed(),
        ));
    }
    // push $imm; popf: flags user code may change (TF is left to its own case).
    options.push((
        1,
        any::<u32>()
            .prop_map(|f| {
                let f = f & !0x100;
                Ins::Bytes(cat(&[&[0x68], &f.to_le_bytes(), &[0x9d]]))
            })
            .boxed(),
    ));
    prop::strategy::Union::new_weighted(options).boxed()
}

/// Kernel-mode system instructions and the returns to the user part.
fn kernel_ins(long: bool) -> BoxedStrategy<Ins> {
    let mut list = vec![
        vec![0xfa],             // cli
        vec![0xfb],             // sti
        vec![0x0f, 0x20, 0xc0], // mov %cr0,%eax
        vec![0x0f, 0x20, 0xd0], // mov %cr2,%eax
        vec![0x0f, 0x20, 0xe0], // mov %cr4,%eax
        vec![0x0f, 0x00, 0xc8], // str %eax
        vec![0xcd, 0x80],       // int $0x80 at CPL 0
        vec![0xcd, 0x82],       // int $0x82 (DPL 0: allowed at CPL 0)
        vec![0x0f, 0x0b],       // ud2
    ];
    // rdmsr / wrmsr of the MSRs the machine uses.
    let msrs: &[u32] = if long {
        &[
            0xc000_0081,
            0xc000_0082,
            0xc000_0084,
            0xc000_0101,
            0xc000_0102,
        ]
    } else {
        &[0x174, 0x175, 0x176]
    };
    for &msr in msrs {
        list.push(cat(&[&[0xb9], &msr.to_le_bytes(), &[0x0f, 0x32]]));
    }
    if long {
        list.extend([
            vec![0xcd, 0x83],       // int $0x83: an IST gate at CPL 0
            vec![0x0f, 0x01, 0xf8], // swapgs
            // sgdt/sidt -16(%rsp); lgdt/lidt back from there
            vec![0x0f, 0x01, 0x44, 0x24, 0xf0, 0x0f, 0x01, 0x54, 0x24, 0xf0],
            vec![0x0f, 0x01, 0x4c, 0x24, 0xf0, 0x0f, 0x01, 0x5c, 0x24, 0xf0],
        ]);
        // wrmsr KERNEL_GS_BASE with EDX:EAX (any value: non-canonical is a #GP).
        list.push(vec![0xb9, 0x02, 0x01, 0x00, 0xc0, 0x0f, 0x30]);
        // sysretq to the user part: rcx = user text, r11 = flags, user stack.
        let mut sysret = cat(&[&[0xb9], &imm32(common::U64_CODE)]);
        sysret.extend([0x41, 0xbb, 0x02, 0x02, 0, 0]); // mov $0x202,%r11d
        sysret.extend([0x48, 0xbc]);
        sysret.extend((common::U64_STACK_TOP - 0x80).to_le_bytes());
        sysret.extend([0x48, 0x0f, 0x07]);
        list.push(sysret);
        // iretq to the user part.
        let mut iret = vec![0x6a, common::U64_DS as u8, 0x48, 0xb8];
        iret.extend((common::U64_STACK_TOP - 0x80).to_le_bytes());
        iret.extend([0x50, 0x9c, 0x6a, common::U64_CS as u8, 0x68]);
        iret.extend(imm32(common::U64_CODE));
        iret.extend([0x48, 0xcf]);
        list.push(iret);
    } else {
        list.extend([
            // sgdt/sidt -8(%esp); lgdt/lidt back from there
            vec![0x0f, 0x01, 0x44, 0x24, 0xf8, 0x0f, 0x01, 0x54, 0x24, 0xf8],
            vec![0x0f, 0x01, 0x4c, 0x24, 0xf8, 0x0f, 0x01, 0x5c, 0x24, 0xf8],
            // wrmsr SYSENTER_ESP with EDX:EAX
            vec![0xb9, 0x75, 0x01, 0, 0, 0x0f, 0x30],
            // mov %cr0,%eax; and $~WP,%eax; mov %eax,%cr0
            vec![
                0x0f, 0x20, 0xc0, 0x25, 0xff, 0xff, 0xfe, 0xff, 0x0f, 0x22, 0xc0,
            ],
            // mov $0x68,%eax; mov %eax,%ds
            vec![0xb8, 0x68, 0, 0, 0, 0x8e, 0xd8],
            // mov $0x80,%eax; ltr %ax: the TSS is busy, #GP(0x80)
            vec![0xb8, 0x80, 0, 0, 0, 0x0f, 0x00, 0xd8],
        ]);
        // sysexit to the user part.
        let mut sysexit = cat(&[&[0xba], &imm32(common::USER_CODE)]);
        sysexit.extend(cat(&[&[0xb9], &imm32(common::USER_STACK_TOP - 0x40)]));
        sysexit.extend([0x0f, 0x35]);
        list.push(sysexit);
        // iret to the user part.
        let mut iret = vec![0x6a, common::USER_DS as u8, 0x68];
        iret.extend(imm32(common::USER_STACK_TOP - 0x40));
        iret.extend([0x9c, 0x6a, common::USER_CS as u8, 0x68]);
        iret.extend(imm32(common::USER_CODE));
        iret.push(0xcf);
        list.push(iret);
    }
    let mut options: Vec<(u32, BoxedStrategy<Ins>)> = vec![(5, fixed(list))];
    if !long {
        // iret to the next instruction at CPL 0: pushf; push %cs; push $next; iret
        options.push((
            1,
            Just(Ins::AbsNext {
                before: vec![0x9c, 0x0e],
                opcode: vec![0x68],
                after: vec![0xcf],
            })
            .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

fn part(long: bool, kernel: bool) -> BoxedStrategy<Vec<Ins>> {
    let sys = if kernel {
        kernel_ins(long)
    } else {
        user_ins(long)
    };
    prop::collection::vec(
        prop_oneof![
            8 => register_ins(long),
            2 => sys,
            1 => prop::sample::select(vec![0u8, 1, 2, 3, 5, 6, 7])
                .prop_map(|r| Ins::Bytes(vec![0x50 + r])),
            1 => prop::sample::select(vec![0u8, 1, 2, 3, 5, 6, 7])
                .prop_map(|r| Ins::Bytes(vec![0x58 + r])),
        ],
        1..32,
    )
    .boxed()
}

/// The strategy: a user part, a kernel part and the general registers.
pub fn program(host: Host) -> impl Strategy<Value = Program> {
    let long = host.long();
    (
        part(long, false),
        part(long, true),
        prop::array::uniform16(prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(0x8000_0000),
            0u64..5,
            any::<u64>()
        ]),
    )
        .prop_map(move |(user, kernel, regs)| {
            let (ubase, kbase) = if long {
                (common::U64_CODE, common::K64_CODE + KERNEL_PART)
            } else {
                (common::USER_CODE, common::KERNEL_CODE + KERNEL_PART)
            };
            Program {
                host,
                user: assemble_at(&user, false, ubase).0,
                kernel: assemble_at(&kernel, false, kbase).0,
                regs,
            }
        })
}

/// The machine and run settings for `p`.
pub fn setup(p: &Program) -> Setup {
    let long = p.host.long();
    let k = kernel_text(long);
    let mut m: Machine = if long {
        common::machine64()
    } else {
        common::machine32()
    };
    // CR0.ET is fixed at 1 on every processor since the Pentium (SDM Vol. 3A 2.5).
    m.cpu.cr0 |= CR0_ET;
    if long {
        // A page-table root the guest can hold (ringstep does not walk it).
        m.cpu.cr3 = 0x0100_0000;
        m.mem.poke(
            k + SYS_ENTRY,
            &[
                0x0f, 0x01, 0xf8, 0x48, 0xff, 0xc0, 0x0f, 0x01, 0xf8, 0x48, 0x0f, 0x07,
            ],
        );
        m.mem.poke(
            k + INT_HANDLER,
            &[
                0x50, 0x48, 0x8b, 0x44, 0x24, 0x08, 0x58, 0x48, 0xff, 0xc0, 0x48, 0xcf,
            ],
        );
        for (v, trap, dpl) in [
            (0x80, false, 3),
            (0x81, true, 3),
            (3, false, 3),
            (0x82, false, 0),
        ] {
            set_gate64(&mut m, v, k + INT_HANDLER, trap, dpl, 0);
        }
        for v in FAULT_VECTORS {
            set_gate64(&mut m, v, fault_handler(true, v), false, 0, 0);
        }
        // #DF and `int $0x83` through IST 1 (a stack of its own in the kernel stack's
        // lower half): a double fault on a broken stack is delivered, not a shutdown,
        // and an IST gate taken at CPL 0 is compared (`IST_SS`).
        let tss = m.cpu.tr.base;
        m.mem.poke_le(tss + IST1, 8, IST1_TOP);
        set_gate64(&mut m, 8, fault_handler(true, 8), false, 0, 1);
        set_gate64(&mut m, 0x83, k + INT_HANDLER, false, 0, 1);
    } else {
        m.mem.poke(k + SYS_ENTRY, &[0xfb, 0x0f, 0x35]);
        m.mem.poke(
            k + INT_HANDLER,
            &[0x50, 0x8b, 0x44, 0x24, 0x04, 0x58, 0x40, 0xcf],
        );
        for (v, trap, dpl) in [
            (0x80, false, 3),
            (0x81, true, 3),
            (3, false, 3),
            (4, true, 3),
            (0x82, false, 0),
        ] {
            set_gate32(&mut m, v, k + INT_HANDLER, common::KERNEL_CS, trap, dpl);
        }
        for v in FAULT_VECTORS {
            set_gate32(
                &mut m,
                v,
                fault_handler(false, v),
                common::KERNEL_CS,
                false,
                0,
            );
        }
    }
    for v in FAULT_VECTORS {
        m.mem.poke(fault_handler(long, v), &[0x90]);
    }
    let ubase = m.cpu.rip;
    m.mem.poke(ubase, &p.user);
    m.mem.poke(k + KERNEL_PART, &p.kernel);
    if matches!(p.host, Host::Kernel32 | Host::Kernel64) {
        let (cs, ss, sp) = if long {
            (common::K64_CS, common::K64_DS, common::K64_STACK_TOP)
        } else {
            (
                common::KERNEL_CS,
                common::KERNEL_DS,
                common::KERNEL_STACK_TOP,
            )
        };
        common::load_seg(&mut m, SegReg::Cs, cs);
        common::load_seg(&mut m, SegReg::Ss, ss);
        m.cpu.rip = k + KERNEL_PART;
        m.cpu.gpr[4] = sp;
    }
    for (i, v) in p.regs.iter().enumerate() {
        if i == 4 {
            continue;
        }
        if long {
            m.cpu.gpr[i] = *v;
        } else if i < 8 {
            m.cpu.gpr[i] = *v & 0xffff_ffff;
        }
    }
    Setup {
        machine: m,
        stop_at: FAULT_VECTORS
            .iter()
            .map(|&v| fault_handler(long, v))
            .collect(),
        schedule: Vec::new(),
        max_steps: MAX_STEPS,
    }
}
