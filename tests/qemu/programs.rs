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
use crate::common::programs::{assemble_at, cat, modrm, register_ins, rex, Ins};
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
    /// The IA-32e machine with a 32-bit user program in compatibility mode (CS
    /// __USER32_CS 0x23, a stack below 4 GiB), CPL 3; the kernel part is 64-bit code.
    Compat32,
}

impl Host {
    /// The machine is in IA-32e mode.
    fn long(self) -> bool {
        matches!(self, Host::User64 | Host::Kernel64 | Host::Compat32)
    }

    /// The user part is 64-bit code.
    fn user_long(self) -> bool {
        matches!(self, Host::User64 | Host::Kernel64)
    }
}

/// The top of the compatibility-mode stack (below 4 GiB).
const COMPAT_STACK_TOP: u64 = 0xffff_e000;

/// One generated case.
#[derive(Clone, Debug)]
pub struct Program {
    pub host: Host,
    pub user: Vec<u8>,
    pub kernel: Vec<u8>,
    pub regs: [u64; 16],
    /// CR4.SMEP and CR4.SMAP bits the machine sets (page-fault cases from the kernel).
    pub cr4: u64,
}

/// CR4.SMEP (bit 20) and CR4.SMAP (bit 21).
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;
/// Offset in the user text of a `ud2` the kernel part jumps to (a supervisor fetch from a
/// user page: #PF with CR4.SMEP, else #UD at CPL 0).
const USER_UD2: u64 = 0xffe;

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
///
/// `compat`: 32-bit code on the 64-bit machine, whose pages below 4 GiB are the user text,
/// the compatibility-mode stack and (supervisor-only) the guest stub's.
fn user_ins(long: bool, compat: bool) -> BoxedStrategy<Ins> {
    let k = if compat {
        super::guest::STUB_BASE
    } else {
        kernel_text(long)
    };
    let (user_data, user_code) = if long {
        (common::U64_STACK_TOP - 0x1000, common::U64_CODE)
    } else if compat {
        (COMPAT_STACK_TOP - 0x1000, common::U64_CODE)
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
            movabs(0xa3, k + 0x10),              // write to a supervisor page
            jump_to(true, user_data),            // fetch from a no-execute page
            jump_to(true, k + INT_HANDLER),      // fetch from a supervisor page
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
            abs(&[0x89], 0, k + 0x10),  // write to a supervisor page
            jump_to(false, user_data),  // fetch from a no-execute page
            jump_to(false, k + INT_HANDLER), // fetch from a supervisor page
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

/// `mov $addr,%eax` (`movabs` in 64-bit mode); `jmp *%eax`.
fn jump_to(long: bool, addr: u64) -> Vec<u8> {
    if long {
        cat(&[&[0x48, 0xb8], &addr.to_le_bytes(), &[0xff, 0xe0]])
    } else {
        cat(&[&[0xb8], &imm32(addr), &[0xff, 0xe0]])
    }
}

/// Kernel-mode accesses that page-fault through the machine's tables, or not, as CR0.WP,
/// CR4.SMEP, CR4.SMAP and EFLAGS.AC say: reads of an unmapped page, writes to read-only
/// user and kernel pages, reads of a user page (SMAP; after STAC allowed), fetches from a
/// no-execute kernel page and from a user page (SMEP).
fn kernel_pf_ins(long: bool) -> BoxedStrategy<Ins> {
    let k = kernel_text(long);
    let (user_data, user_code, kernel_data) = if long {
        (
            common::U64_STACK_TOP - 0x1000,
            common::U64_CODE,
            common::K64_STACK_TOP - 0x4000,
        )
    } else {
        (common::USER_DATA, common::USER_CODE, common::KERNEL_DATA)
    };
    // mov addr,%eax (load) / mov %eax,addr (store), absolute.
    let load = |addr: u64| {
        if long {
            cat(&[&[0x48, 0xa1], &addr.to_le_bytes()])
        } else {
            cat(&[&[0xa1], &imm32(addr)])
        }
    };
    let store = |addr: u64| {
        if long {
            cat(&[&[0x48, 0xa3], &addr.to_le_bytes()])
        } else {
            cat(&[&[0xa3], &imm32(addr)])
        }
    };
    let stac = [0x0f, 0x01, 0xcb];
    let clac = [0x0f, 0x01, 0xca];
    fixed(vec![
        load(0x1000_0000),                             // not present
        store(0x1000_0000),                            // not present, write
        store(user_code + 0x800),                      // read-only user page (CR0.WP; SMAP first)
        store(k + 0x10),                               // read-only kernel page (CR0.WP)
        load(user_data + 0x10),                        // a user page: SMAP
        store(user_data + 0x10),                       // a user page: SMAP
        cat(&[&stac, &load(user_data + 0x10), &clac]), // allowed with AC = 1
        cat(&[&stac, &store(user_data + 0x10), &clac]),
        jump_to(long, kernel_data),          // no-execute kernel page
        jump_to(long, user_code + USER_UD2), // a user page: SMEP, else #UD at CPL 0
        jump_to(long, user_data),            // a no-execute user page (SMEP too)
    ])
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
    let mut options: Vec<(u32, BoxedStrategy<Ins>)> =
        vec![(5, fixed(list)), (2, kernel_pf_ins(long))];
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

/// The instructions of issue 13's list that `register_ins` and the system lists do not
/// hold: rotates, double shifts, bit tests and scans, CMOVcc/SETcc, multiply and divide,
/// sign extensions, atomics with LOCK, string instructions (REP/REPE/REPNE, both
/// directions, every address size the mode has), far transfers, segment-pointer loads,
/// fences, NOP forms, ENDBR, TSC/CPUID/RDPID/XGETBV, descriptor checks, port I/O (the safe
/// port 0x80: the POST-code port, whose writes QEMU drops and whose reads give all ones),
/// and in the kernel part the control, debug and cache instructions. Memory operands
/// are on the stack below RSP (`-16(%rsp)`), mapped alike in both machines. Not RDPID:
/// QEMU 7.2's `-cpu max` (TCG) does not have it (#UD), ringstep's model does.
fn extra_ins(long: bool, kernel: bool) -> BoxedStrategy<Ins> {
    let r = 0u8..8;
    let w = if long { vec![0x48u8] } else { vec![] };
    // -16(%esp) / -16(%rsp) as a ModRM with `reg`: [modrm, sib, disp8].
    let mem = |reg: u8| vec![modrm(1, reg, 4), 0x24, 0xf0];
    let (code_sel, data_sel) = match (long, kernel) {
        (false, false) => (common::USER_CS, common::USER_DS),
        (false, true) => (common::KERNEL_CS, common::KERNEL_DS),
        (true, false) => (common::U64_CS, common::U64_DS),
        (true, true) => (common::K64_CS, common::K64_DS),
    };
    let mut fixed_list: Vec<Vec<u8>> = vec![
        vec![0x0f, 0xae, 0xe8],                   // lfence
        vec![0x0f, 0xae, 0xf0],                   // mfence
        vec![0x0f, 0xae, 0xf8],                   // sfence
        vec![0xf3, 0x0f, 0x1e, 0xfb],             // endbr32
        vec![0xf3, 0x0f, 0x1e, 0xfa],             // endbr64
        vec![0x0f, 0x1f, 0x80, 0, 0, 0, 0],       // nopl 0(%eax)
        vec![0x66, 0x90],                         // xchg %ax,%ax
        vec![0x0f, 0x31],                         // rdtsc
        vec![0x0f, 0x01, 0xf9],                   // rdtscp
        vec![0x0f, 0xa2],                         // cpuid
        vec![0x31, 0xc0, 0x0f, 0xa2],             // xor %eax,%eax; cpuid
        vec![0x31, 0xc9, 0x0f, 0x01, 0xd0],       // xor %ecx,%ecx; xgetbv
        vec![0x9f],                               // lahf
        vec![0x9e],                               // sahf
        vec![0xf1],                               // int1
        vec![0x66, 0x98],                         // cbw
        vec![0x98],                               // cwde
        vec![0x66, 0x99],                         // cwd
        vec![0x99],                               // cdq
        vec![0xc9],                               // leave
        vec![0xc8, 0x10, 0x00, 0x00],             // enter $16,$0
        vec![0xc8, 0x08, 0x00, 0x01],             // enter $8,$1
        vec![0xcb],                               // lret
        vec![0xfc],                               // cld
        vec![0xfd],                               // std
        vec![0xe4, 0x80],                         // in $0x80,%al
        vec![0xe5, 0x80],                         // in $0x80,%eax
        vec![0xe6, 0x80],                         // out %al,$0x80
        vec![0xe7, 0x80],                         // out %eax,$0x80
        vec![0x66, 0xba, 0x80, 0x00, 0xec],       // mov $0x80,%dx; in (%dx),%al
        vec![0x66, 0xba, 0x80, 0x00, 0x66, 0xed], // in (%dx),%ax
        vec![0x66, 0xba, 0x80, 0x00, 0xee],       // out %al,(%dx)
        vec![0x66, 0xba, 0x80, 0x00, 0xef],       // out %eax,(%dx)
        // lsl/lar/verw/verr of a selector in %ax, smsw, sldt, str
        vec![0x66, 0xb8, data_sel as u8, 0x00, 0x0f, 0x03, 0xc8],
        vec![0x66, 0xb8, code_sel as u8, 0x00, 0x0f, 0x02, 0xc8],
        vec![0x66, 0xb8, data_sel as u8, 0x00, 0x0f, 0x00, 0xe8],
        vec![0x66, 0xb8, code_sel as u8, 0x00, 0x0f, 0x00, 0xe0],
        vec![0x0f, 0x02, 0xc1], // lar %ecx,%eax (any selector)
        vec![0x0f, 0x01, 0xe0], // smsw %eax
        vec![0x0f, 0x00, 0xc0], // sldt %eax
        vec![0x0f, 0x00, 0xc8], // str %eax
    ];
    if long {
        fixed_list.extend([
            vec![0x48, 0x98],                   // cdqe
            vec![0x48, 0x99],                   // cqo
            vec![0xf3, 0x48, 0x0f, 0xae, 0xc0], // rdfsbase %rax
            vec![0xf3, 0x48, 0x0f, 0xae, 0xc9], // rdgsbase %rcx
            vec![0xf3, 0x48, 0x0f, 0xae, 0xd0], // wrfsbase %rax
            vec![0xf3, 0x48, 0x0f, 0xae, 0xd9], // wrgsbase %rcx
            vec![0xf3, 0x0f, 0xae, 0xd2],       // wrfsbase %edx
        ]);
    } else {
        fixed_list.extend([vec![0x60], vec![0x61]]); // pusha, popa
    }
    if kernel {
        fixed_list.extend([
            vec![0x0f, 0x06],                         // clts
            vec![0x0f, 0x01, 0x7c, 0x24, 0xf0],       // invlpg -16(%esp)
            vec![0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8], // mov %cr3,%eax; mov %eax,%cr3
            vec![0x0f, 0x20, 0xe0, 0x0f, 0x22, 0xe0], // mov %cr4,%eax; mov %eax,%cr4
            vec![0x0f, 0x22, 0xd0],                   // mov %eax,%cr2
            vec![0x0f, 0x21, 0xf8],                   // mov %dr7,%eax
            vec![0x0f, 0x21, 0xf0],                   // mov %dr6,%eax
            vec![0x0f, 0x21, 0xc1],                   // mov %dr0,%ecx
            vec![0x0f, 0x23, 0xc0],                   // mov %eax,%dr0
            vec![0x0f, 0x23, 0xd9],                   // mov %ecx,%dr3
            vec![0x0f, 0x01, 0xca],                   // clac
            vec![0x0f, 0x01, 0xcb],                   // stac
            // IOPL 3 for what follows (and the user part after an IRET).
            vec![0x9c, 0x81, 0x0c, 0x24, 0x00, 0x30, 0x00, 0x00, 0x9d],
            // insb/outsb at (%edi)/(%esi) below the stack, DX = 0x80
            vec![0x66, 0xba, 0x80, 0x00, 0x8d, 0x7c, 0x24, 0xc0, 0x6c],
            vec![0x66, 0xba, 0x80, 0x00, 0x8d, 0x74, 0x24, 0xc0, 0x6e],
            vec![
                0x66, 0xba, 0x80, 0x00, 0x8d, 0x7c, 0x24, 0xc0, 0xb9, 3, 0, 0, 0, 0xf3, 0x6c,
            ],
            vec![
                0x66, 0xba, 0x80, 0x00, 0x8d, 0x74, 0x24, 0xc0, 0xb9, 3, 0, 0, 0, 0xf3, 0x6e,
            ],
        ]);
        if long {
            fixed_list.extend([
                vec![0x44, 0x0f, 0x20, 0xc0],             // mov %cr8,%rax
                vec![0x31, 0xc0, 0x44, 0x0f, 0x22, 0xc0], // xor; mov %rax,%cr8
            ]);
        }
    }
    if long {
        // RSI/RDI point below the stack (LEA from RSP keeps all 64 bits).
        for x in &mut fixed_list {
            if x.len() > 5 && x[4] == 0x8d {
                x.insert(4, 0x48);
            }
        }
    }
    let mut options: Vec<(u32, BoxedStrategy<Ins>)> = vec![(8, fixed(fixed_list))];
    let wv = w.clone();
    // Rotates (by 1, CL, imm8) and double shifts.
    options.push((
        3,
        (rex(long), 0u8..4, r.clone(), r.clone(), 0u8..5, 0u8..40)
            .prop_map(|(x, o, a, b, form, n)| {
                Ins::Bytes(match form {
                    0 => cat(&[&x, &[0xd1, modrm(3, o, a)]]),
                    1 => cat(&[&x, &[0xd3, modrm(3, o, a)]]),
                    2 => cat(&[&x, &[0xc1, modrm(3, o, a), n]]),
                    3 => cat(&[&x, &[0x0f, [0xa4, 0xac][o as usize & 1], modrm(3, b, a), n]]),
                    _ => cat(&[&x, &[0x0f, [0xa5, 0xad][o as usize & 1], modrm(3, b, a)]]),
                })
            })
            .boxed(),
    ));
    // Bit tests (register and memory, by register and imm8), scans and counts.
    let m2 = mem(0);
    options.push((
        4,
        (
            rex(long),
            0u8..4,
            r.clone(),
            r.clone(),
            0u8..7,
            any::<u8>(),
            0u8..3,
        )
            .prop_map(move |(x, o, a, b, form, n, c)| {
                let bt = [0xa3u8, 0xab, 0xb3, 0xbb][o as usize];
                let mut mm = m2.clone();
                mm[0] = modrm(1, b, 4);
                Ins::Bytes(match form {
                    0 => cat(&[&x, &[0x0f, bt, modrm(3, b, a)]]),
                    1 => cat(&[&x, &[0x0f, 0xba, modrm(3, 4 + o, a), n]]),
                    // memory, bit offset in a register masked to the slot
                    2 => cat(&[&[0x83, modrm(3, 4, b), 0x1f], &[0x0f, bt], &mm]),
                    3 => {
                        mm[0] = modrm(1, 4 + o, 4);
                        cat(&[&[0x0f, 0xba], &mm, &[n]])
                    }
                    4 => cat(&[&x, &[0x0f, [0xbc, 0xbd][c as usize & 1], modrm(3, b, a)]]),
                    5 => cat(&[
                        &[0xf3],
                        &x,
                        &[0x0f, [0xbc, 0xbd, 0xb8][c as usize], modrm(3, b, a)],
                    ]),
                    _ => cat(&[&[0xf0, 0x0f, bt], &mm]), // lock bts/btr/btc mem (bt: #UD)
                })
            })
            .boxed(),
    ));
    // CMOVcc, SETcc, MUL/IMUL/DIV/IDIV (8-bit and full size), BSWAP, MOVBE.
    options.push((
        4,
        (rex(long), 0u8..16, r.clone(), r.clone(), 0u8..7, 4u8..8)
            .prop_map(|(x, cc, a, b, form, o)| {
                Ins::Bytes(match form {
                    0 => cat(&[&x, &[0x0f, 0x40 + cc, modrm(3, b, a)]]),
                    1 => cat(&[&x, &[0x0f, 0x90 + cc, modrm(3, 0, a)]]),
                    2 => cat(&[&x, &[0xf7, modrm(3, o, a)]]),
                    3 => cat(&[&x, &[0xf6, modrm(3, o, a)]]),
                    4 => cat(&[&x, &[0x0f, 0xc8 + a]]),
                    5 => cat(&[&x, &[0x0f, 0x38, 0xf0, modrm(1, b, 4), 0x24, 0xf0]]),
                    _ => cat(&[&x, &[0x0f, 0x38, 0xf1, modrm(1, b, 4), 0x24, 0xf0]]),
                })
            })
            .boxed(),
    ));
    // XADD, CMPXCHG (register; memory with and without LOCK), CMPXCHG8B/16B.
    options.push((
        3,
        (rex(long), r.clone(), r.clone(), 0u8..6, any::<bool>())
            .prop_map(move |(x, a, b, form, lock)| {
                let l: &[u8] = if lock { &[0xf0] } else { &[] };
                Ins::Bytes(match form {
                    0 => cat(&[&x, &[0x0f, 0xc1, modrm(3, b, a)]]),
                    1 => cat(&[&x, &[0x0f, 0xb1, modrm(3, b, a)]]),
                    2 => cat(&[l, &x, &[0x0f, 0xc1, modrm(1, b, 4), 0x24, 0xf0]]),
                    3 => cat(&[l, &x, &[0x0f, 0xb1, modrm(1, b, 4), 0x24, 0xf0]]),
                    4 => cat(&[l, &[0x0f, 0xc7, modrm(1, 1, 4), 0x24, 0xf0]]),
                    _ => cat(&[l, &wv, &[0x0f, 0xc7, modrm(1, 1, 4), 0x24, 0xf0]]),
                })
            })
            .boxed(),
    ));
    // String instructions: RSI/RDI below the stack, RCX small, either direction, with
    // REP/REPE/REPNE and an address-size prefix.
    let lea_w: Vec<u8> = if long { vec![0x48] } else { vec![] };
    options.push((
        5,
        (
            prop::sample::select(vec![
                0xa4u8, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0xa6, 0xa7, 0xae, 0xaf,
            ]),
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            0u8..5,
            rex(long),
        )
            .prop_map(move |(op, rep, std, addr, n, x)| {
                let mut b = cat(&[
                    &lea_w,
                    &[0x8d, 0x74, 0x24, 0x80],
                    &lea_w,
                    &[0x8d, 0x7c, 0x24, 0xc0],
                ]);
                b.extend([0xb9, n, 0, 0, 0]);
                b.push(if std { 0xfd } else { 0xfc });
                if addr {
                    b.push(0x67);
                }
                match rep {
                    1 => b.push(0xf3),
                    2 => b.push(0xf2),
                    _ => {}
                }
                b.extend(x.iter().filter(|r| *r & 8 != 0));
                b.push(op);
                b.push(0xfc);
                Ins::Bytes(b)
            })
            .boxed(),
    ));
    // Far transfers: through a far pointer built below the stack (m16:32), and in
    // 32-bit mode direct (ljmp/lcall $sel,$next); segment-pointer loads.
    for (opc, sel) in [
        (vec![0xff, 0x6c, 0x24, 0xf8], code_sel),
        (vec![0xff, 0x5c, 0x24, 0xf8], code_sel),
    ] {
        options.push((
            1,
            Just(Ins::AbsNext {
                before: vec![0x66, 0xc7, 0x44, 0x24, 0xfc, sel as u8, (sel >> 8) as u8],
                opcode: vec![0xc7, 0x44, 0x24, 0xf8],
                after: opc,
            })
            .boxed(),
        ));
    }
    if !long {
        for opcode in [0xeau8, 0x9a] {
            options.push((
                1,
                Just(Ins::AbsNext {
                    before: vec![],
                    opcode: vec![opcode],
                    after: vec![code_sel as u8, (code_sel >> 8) as u8],
                })
                .boxed(),
            ));
        }
        options.push((
            2,
            (
                prop::sample::select(vec![
                    vec![0xc4u8],
                    vec![0xc5],
                    vec![0x0f, 0xb2],
                    vec![0x0f, 0xb4],
                    vec![0x0f, 0xb5],
                ]),
                prop::sample::select(vec![data_sel, 0, code_sel, 0x7b, 0x68]),
                any::<u32>(),
                r.clone(),
            )
                .prop_map(|(op, sel, off, reg)| {
                    let mut b = vec![0xc7, 0x44, 0x24, 0xf8];
                    b.extend(off.to_le_bytes());
                    b.extend([0x66, 0xc7, 0x44, 0x24, 0xfc, sel as u8, (sel >> 8) as u8]);
                    b.extend(op);
                    b.extend([modrm(1, reg, 4), 0x24, 0xf8]);
                    Ins::Bytes(b)
                })
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

fn part(long: bool, kernel: bool, compat: bool) -> BoxedStrategy<Vec<Ins>> {
    let sys = if kernel {
        kernel_ins(long)
    } else {
        user_ins(long, compat)
    };
    prop::collection::vec(
        prop_oneof![
            8 => register_ins(long),
            2 => sys,
            4 => extra_ins(long, kernel),
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
        part(host.user_long(), false, host == Host::Compat32),
        part(long, true, false),
        prop::array::uniform16(prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(0x8000_0000),
            0u64..5,
            any::<u64>()
        ]),
        prop_oneof![
            3 => Just(0u64),
            1 => Just(CR4_SMEP),
            1 => Just(CR4_SMAP),
            1 => Just(CR4_SMEP | CR4_SMAP),
        ],
    )
        .prop_map(move |(user, kernel, regs, cr4)| {
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
                cr4,
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
    m.cpu.cr4 |= p.cr4;
    if long {
        // A page-table root the guest can hold; ringstep's own tables are made there.
        m.cpu.cr3 = 0x0100_0000;
        common::page_tables(&mut m);
        // CR4.FSGSBASE: RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE at any CPL.
        m.cpu.cr4 |= 1 << 16;
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
        // and an IST gate taken at CPL 0 is compared (a null SS, SDM Vol. 3A 6.14.5).
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
    if !long {
        // CR3 as the guest holds it (its page-directory-pointer table), so that MOV from
        // CR3 reads the same in both; ringstep's own tables are made there.
        m.cpu.cr3 = super::guest::BLOB_BASE;
        common::page_tables(&mut m);
    }
    let ubase = m.cpu.rip;
    m.mem.poke(ubase, &p.user);
    m.mem.poke(ubase + USER_UD2, &[0x0f, 0x0b]);
    m.mem.poke(k + KERNEL_PART, &p.kernel);
    if p.host == Host::Compat32 {
        // A 32-bit process: its own stack below 4 GiB, CS __USER32_CS.
        m.mem
            .add_region(ringstep::machine::Region::new(
                "compat stack",
                COMPAT_STACK_TOP - 0x2000,
                0x2000,
                ringstep::machine::Perm {
                    user: true,
                    writable: true,
                    exec: false,
                },
            ))
            .expect("free");
        ringstep::machine::pagebuild::rebuild(&mut m, &[], &["compat stack".into()])
            .expect("tables");
        common::load_seg(&mut m, SegReg::Cs, common::U32_CS);
        m.cpu.gpr[4] = COMPAT_STACK_TOP;
    }
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
    // The guest's physical memory is this machine's (page tables included), with the
    // accessed and dirty flags clear for both CPUs to set (compared after every step).
    super::guest::fit(&mut m).expect("the test machine fits QEMU's PC");
    if let Some(plan) = m.layout.as_mut() {
        plan.clear_accessed = true;
    }
    ringstep::machine::pagebuild::rebuild(&mut m, &[], &[]).expect("tables");
    super::guest::preset_stub_accessed(&mut m);
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
