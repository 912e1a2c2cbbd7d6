//! Random x86 programs for property tests: register instructions in every operand
//! size (the forms the engine's fast path covers and their close relatives), branches
//! between the program's own instructions, and the layout that turns a list of them
//! into code. Used by the fast-path check (tests/fast_path.rs) and the differential
//! check against QEMU (tests/qemu/programs.rs), which adds system instructions.

use proptest::prelude::*;

/// One instruction: fixed bytes, or a branch to instruction `to` (modulo the program
/// length; one past the end is the final `ud2`).
#[derive(Clone, Debug)]
pub enum Ins {
    Bytes(Vec<u8>),
    /// Opcode bytes, then a rel8 (`short`) or rel32 displacement.
    Branch {
        opcode: Vec<u8>,
        short: bool,
        to: usize,
    },
    /// `before`, then `opcode` with a 32-bit immediate holding the absolute address of
    /// the code after this item, then `after` (e.g. `mov %esp,%ecx; mov $back,%edx;
    /// sysenter`, so that the kernel's SYSEXIT comes back to the next instruction).
    AbsNext {
        before: Vec<u8>,
        opcode: Vec<u8>,
        after: Vec<u8>,
    },
}

pub fn modrm(mode: u8, reg: u8, rm: u8) -> u8 {
    (mode << 6) | ((reg & 7) << 3) | (rm & 7)
}

/// An optional REX prefix (64-bit mode): W, R, X and B drawn at random.
pub fn rex(long: bool) -> BoxedStrategy<Vec<u8>> {
    if long {
        prop_oneof![
            2 => Just(vec![]),
            3 => (0u8..16).prop_map(|b| vec![0x40 | b]),
        ]
        .boxed()
    } else {
        Just(vec![]).boxed()
    }
}

/// An optional operand-size prefix.
pub fn opsize() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => Just(vec![]), 1 => Just(vec![0x66])]
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Register-only instructions that have fast forms (and a few close relatives that
/// do not, such as those on AH..BH), in every operand size.
pub fn register_ins(long: bool) -> BoxedStrategy<Ins> {
    let r = 0u8..8;
    let alu = prop::sample::select(vec![
        0x01u8, 0x03, 0x09, 0x0b, 0x11, 0x13, 0x19, 0x1b, 0x21, 0x23, 0x29, 0x2b, 0x31, 0x33, 0x39,
        0x3b, 0x85, 0x89, 0x8b,
    ]);
    let alu8 = prop::sample::select(vec![
        0x00u8, 0x02, 0x08, 0x0a, 0x10, 0x12, 0x18, 0x1a, 0x20, 0x22, 0x28, 0x2a, 0x30, 0x32, 0x38,
        0x3a, 0x84, 0x88, 0x8a,
    ]);
    let imm32 = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        any::<u32>()
    ];
    let mut options: Vec<(u32, BoxedStrategy<Ins>)> = vec![
        (
            6,
            (opsize(), rex(long), alu, r.clone(), r.clone())
                .prop_map(|(p, x, o, a, b)| Ins::Bytes(cat(&[&p, &x, &[o, modrm(3, a, b)]])))
                .boxed(),
        ),
        (
            2,
            (rex(long), alu8, r.clone(), r.clone())
                .prop_map(|(x, o, a, b)| Ins::Bytes(cat(&[&x, &[o, modrm(3, a, b)]])))
                .boxed(),
        ),
        (
            4,
            (opsize(), rex(long), 0u8..8, r.clone(), any::<u8>())
                .prop_map(|(p, x, o, a, i)| Ins::Bytes(cat(&[&p, &x, &[0x83, modrm(3, o, a), i]])))
                .boxed(),
        ),
        (
            2,
            (rex(long), 0u8..8, r.clone(), imm32.clone())
                .prop_map(|(x, o, a, i)| {
                    Ins::Bytes(cat(&[&x, &[0x81, modrm(3, o, a)], &i.to_le_bytes()]))
                })
                .boxed(),
        ),
        (
            1,
            (rex(long), 0u8..8, r.clone(), any::<u8>())
                .prop_map(|(x, o, a, i)| Ins::Bytes(cat(&[&x, &[0x80, modrm(3, o, a), i]])))
                .boxed(),
        ),
        (
            1,
            (
                prop::sample::select(vec![0x05u8, 0x0d, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0xa9]),
                imm32.clone(),
            )
                .prop_map(|(o, i)| Ins::Bytes(cat(&[&[o], &i.to_le_bytes()])))
                .boxed(),
        ),
        (
            1,
            (rex(long), r.clone(), imm32.clone())
                .prop_map(|(x, a, i)| {
                    Ins::Bytes(cat(&[&x, &[0xf7, modrm(3, 0, a)], &i.to_le_bytes()]))
                })
                .boxed(),
        ),
        // mov r, imm (b8+r; REX.W gives imm64), mov r8, imm8, mov r/m, imm32.
        (
            4,
            (rex(long), r.clone(), imm32.clone(), imm32.clone())
                .prop_map(|(x, a, lo, hi)| {
                    let wide = x.first().is_some_and(|p| p & 8 != 0);
                    let mut b = cat(&[&x, &[0xb8 + a], &lo.to_le_bytes()]);
                    if wide {
                        b.extend(hi.to_le_bytes());
                    }
                    Ins::Bytes(b)
                })
                .boxed(),
        ),
        (
            1,
            (rex(long), r.clone(), any::<u8>())
                .prop_map(|(x, a, i)| Ins::Bytes(cat(&[&x, &[0xb0 + a, i]])))
                .boxed(),
        ),
        (
            1,
            (rex(long), r.clone(), imm32.clone())
                .prop_map(|(x, a, i)| {
                    Ins::Bytes(cat(&[&x, &[0xc7, modrm(3, 0, a)], &i.to_le_bytes()]))
                })
                .boxed(),
        ),
        // inc/dec/neg/not in every size.
        (
            4,
            (
                opsize(),
                rex(long),
                prop::sample::select(vec![0u8, 1, 2, 3]),
                r.clone(),
            )
                .prop_map(|(p, x, o, a)| {
                    let opc = if o < 2 { 0xff } else { 0xf7 };
                    Ins::Bytes(cat(&[&p, &x, &[opc, modrm(3, o, a)]]))
                })
                .boxed(),
        ),
        (
            1,
            (
                rex(long),
                prop::sample::select(vec![0u8, 1, 2, 3]),
                r.clone(),
            )
                .prop_map(|(x, o, a)| {
                    let opc = if o < 2 { 0xfe } else { 0xf6 };
                    Ins::Bytes(cat(&[&x, &[opc, modrm(3, o, a)]]))
                })
                .boxed(),
        ),
        // Shifts by an immediate, by 1 and by CL (shl, shr, sar, sal; rol stops the run).
        (
            3,
            (
                opsize(),
                rex(long),
                prop::sample::select(vec![4u8, 5, 6, 7, 7, 4, 0]),
                r.clone(),
                prop_oneof![Just(0u8), Just(1), 0u8..70],
                0u8..3,
            )
                .prop_map(|(p, x, o, a, n, form)| {
                    Ins::Bytes(match form {
                        0 => cat(&[&p, &x, &[0xc1, modrm(3, o, a), n]]),
                        1 => cat(&[&p, &x, &[0xd1, modrm(3, o, a)]]),
                        _ => cat(&[&p, &x, &[0xd3, modrm(3, o, a)]]),
                    })
                })
                .boxed(),
        ),
        (
            1,
            (
                rex(long),
                prop::sample::select(vec![4u8, 5, 7]),
                r.clone(),
                0u8..20,
            )
                .prop_map(|(x, o, a, n)| Ins::Bytes(cat(&[&x, &[0xc0, modrm(3, o, a), n]])))
                .boxed(),
        ),
        // imul r, r / r, r, imm8 / r, r, imm32.
        (
            2,
            (
                opsize(),
                rex(long),
                r.clone(),
                r.clone(),
                any::<u8>(),
                imm32.clone(),
                0u8..3,
            )
                .prop_map(|(p, x, a, b, i8_, i32_, form)| {
                    Ins::Bytes(match form {
                        0 => cat(&[&p, &x, &[0x0f, 0xaf, modrm(3, a, b)]]),
                        1 => cat(&[&p, &x, &[0x6b, modrm(3, a, b), i8_]]),
                        // An imm32 without the operand-size prefix, or with REX.W
                        // (which overrides it).
                        _ if p.is_empty() || x.first().is_some_and(|r| r & 8 != 0) => {
                            cat(&[&p, &x, &[0x69, modrm(3, a, b)], &i32_.to_le_bytes()])
                        }
                        _ => cat(&[&p, &x, &[0x69, modrm(3, a, b)], &i32_.to_le_bytes()[..2]]),
                    })
                })
                .boxed(),
        ),
        // movzx / movsx (byte and word sources), movsxd.
        (
            2,
            (
                opsize(),
                rex(long),
                prop::sample::select(vec![0xb6u8, 0xb7, 0xbe, 0xbf]),
                r.clone(),
                r.clone(),
            )
                .prop_map(|(p, x, o, a, b)| Ins::Bytes(cat(&[&p, &x, &[0x0f, o, modrm(3, a, b)]])))
                .boxed(),
        ),
        // xchg r, r and xchg eax, r.
        (
            1,
            (opsize(), rex(long), r.clone(), r.clone(), any::<bool>())
                .prop_map(|(p, x, a, b, short)| {
                    Ins::Bytes(if short {
                        cat(&[&p, &x, &[0x90 + b]])
                    } else {
                        cat(&[&p, &x, &[0x87, modrm(3, a, b)]])
                    })
                })
                .boxed(),
        ),
        // lea with register, SIB, displacement-only and (in 64-bit mode) RIP-relative
        // addressing, sometimes with an address-size prefix.
        (
            3,
            (
                opsize(),
                prop_oneof![4 => Just(vec![]), 1 => Just(vec![0x67u8])],
                rex(long),
                0u8..3,
                r.clone(),
                r.clone(),
                any::<u8>(),
                any::<u32>(),
            )
                .prop_map(move |(p, a, x, mode, d, rm, sib, disp)| {
                    let mut b = cat(&[&p, &a, &x, &[0x8d, modrm(mode, d, rm)]]);
                    if rm == 4 && a.is_empty() {
                        b.push(sib);
                    }
                    match mode {
                        1 => b.push(disp as u8),
                        2 => b.extend(if a.is_empty() {
                            disp.to_le_bytes().to_vec()
                        } else {
                            disp.to_le_bytes()[..2].to_vec()
                        }),
                        _ if rm == 5 && a.is_empty() => b.extend(disp.to_le_bytes()),
                        _ if rm == 6 && !a.is_empty() && !long => {
                            b.extend(&disp.to_le_bytes()[..2])
                        }
                        _ if rm == 5 && !a.is_empty() && long => b.extend(disp.to_le_bytes()),
                        _ => {}
                    }
                    Ins::Bytes(b)
                })
                .boxed(),
        ),
        // nop, multi-byte nop (with a memory operand it never touches), pause.
        (
            1,
            prop::sample::select(vec![
                vec![0x90u8],
                vec![0x0f, 0x1f, 0x00],
                vec![0x0f, 0x1f, 0x44, 0x00, 0x00],
                vec![0xf3, 0x90],
            ])
            .prop_map(Ins::Bytes)
            .boxed(),
        ),
        // Branches: jcc rel8 / rel32, jmp rel8 / rel32, loop, loope, loopne, jecxz.
        (
            4,
            (0u8..16, any::<bool>(), any::<usize>())
                .prop_map(|(cc, short, to)| Ins::Branch {
                    opcode: if short {
                        vec![0x70 + cc]
                    } else {
                        vec![0x0f, 0x80 + cc]
                    },
                    short,
                    to,
                })
                .boxed(),
        ),
        (
            1,
            (any::<bool>(), any::<usize>())
                .prop_map(|(short, to)| Ins::Branch {
                    opcode: if short { vec![0xeb] } else { vec![0xe9] },
                    short,
                    to,
                })
                .boxed(),
        ),
        (
            3,
            (
                prop::sample::select(vec![0xe2u8, 0xe2, 0xe1, 0xe0, 0xe3]),
                prop_oneof![2 => Just(vec![]), 1 => Just(vec![0x67u8])],
                any::<usize>(),
            )
                .prop_map(|(o, p, to)| Ins::Branch {
                    opcode: cat(&[&p, &[o]]),
                    short: true,
                    to,
                })
                .boxed(),
        ),
    ];
    if !long {
        // inc/dec r32 (40+r, 48+r), which are REX prefixes in 64-bit mode.
        options.push((
            2,
            (opsize(), any::<bool>(), r.clone())
                .prop_map(|(p, dec, a)| {
                    Ins::Bytes(cat(&[&p, &[if dec { 0x48 } else { 0x40 } + a]]))
                })
                .boxed(),
        ));
    } else {
        // movsxd r64, r32.
        options.push((
            1,
            (r.clone(), r.clone())
                .prop_map(|(a, b)| Ins::Bytes(vec![0x48, 0x63, modrm(3, a, b)]))
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// Lay the program out with its branch displacements, then `ud2`. A branch whose
/// displacement does not fit goes to the next instruction. With `repeat`, a `jmp` back
/// to the start comes before the `ud2`, so that the raw run's inner loop (which only
/// runs instructions decoded before) sees every instruction again. Returns the code and
/// the offset of each instruction.
pub fn assemble(ins: &[Ins], repeat: bool) -> (Vec<u8>, Vec<usize>) {
    assemble_at(ins, repeat, 0)
}

/// The same for code placed at address `base` (which `Ins::AbsNext` items need).
pub fn assemble_at(ins: &[Ins], repeat: bool, base: u64) -> (Vec<u8>, Vec<usize>) {
    let mut all = ins.to_vec();
    if repeat {
        all.push(Ins::Branch {
            opcode: vec![0xe9],
            short: false,
            to: 0,
        });
    }
    let ins = &all[..];
    let len = |i: &Ins| match i {
        Ins::Bytes(b) => b.len(),
        Ins::Branch { opcode, short, .. } => opcode.len() + if *short { 1 } else { 4 },
        Ins::AbsNext {
            before,
            opcode,
            after,
        } => before.len() + opcode.len() + 4 + after.len(),
    };
    let mut offsets = Vec::with_capacity(ins.len() + 1);
    let mut at = 0;
    for i in ins {
        offsets.push(at);
        at += len(i);
    }
    offsets.push(at);
    let mut code = Vec::with_capacity(at + 2);
    for (k, i) in ins.iter().enumerate() {
        match i {
            Ins::Bytes(b) => code.extend(b),
            Ins::Branch { opcode, short, to } => {
                code.extend(opcode);
                let next = offsets[k + 1] as i64;
                let target = offsets[to % (ins.len() + 1)] as i64;
                let disp = target - next;
                if *short {
                    code.push(i8::try_from(disp).unwrap_or(0) as u8);
                } else {
                    code.extend((disp as i32).to_le_bytes());
                }
            }
            Ins::AbsNext {
                before,
                opcode,
                after,
            } => {
                code.extend(before);
                code.extend(opcode);
                code.extend(((base + offsets[k + 1] as u64) as u32).to_le_bytes());
                code.extend(after);
            }
        }
    }
    code.extend([0x0f, 0x0b]);
    (code, offsets)
}
