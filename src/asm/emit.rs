//! Building iced-x86 instructions from chosen encodings, and writing their bytes with the
//! prefixes in GNU as order.

use iced_x86::{Encoder, Instruction, OpCodeOperandKind as K, OpKind, Register};

use super::select::{Bound, Choice, Val};

/// Encode an instruction at `ip` and put the prefix words in GNU as order:
/// segment, address size, operand size, rep, lock, then the rest.
pub fn encode_bytes(ins: &Instruction, user: &[u8], bits: u32, ip: u64) -> Result<Vec<u8>, String> {
    let mut enc = Encoder::new(bits);
    enc.encode(ins, ip).map_err(|e| e.to_string())?;
    let raw = enc.take_buffer();
    let mut seg = None;
    let mut p67 = false;
    let mut p66 = false;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => seg = Some(raw[i]),
            0x66 => p66 = true,
            0x67 => p67 = true,
            _ => break,
        }
        i += 1;
    }
    let mut rep = None;
    let mut lock = false;
    for &b in user {
        match b {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => {
                if seg.is_some_and(|s| s != b) {
                    return Err("two different segment prefixes".into());
                }
                seg = Some(b);
            }
            0x66 => p66 = true,
            0x67 => p67 = true,
            0xf2 | 0xf3 => {
                if rep.is_some_and(|r| r != b) {
                    return Err("both rep and repne".into());
                }
                rep = Some(b);
            }
            0xf0 => lock = true,
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(raw.len() + user.len());
    out.extend(seg);
    if p67 {
        out.push(0x67);
    }
    if p66 {
        out.push(0x66);
    }
    out.extend(rep);
    if lock {
        out.push(0xf0);
    }
    out.extend_from_slice(&raw[i..]);
    Ok(out)
}

/// Build the iced instruction for a choice; `val` gives the value of each operand value.
pub fn build(c: &Choice, val: &dyn Fn(&Val) -> Result<i64, String>) -> Result<Instruction, String> {
    let mut ins = Instruction::default();
    ins.set_code(c.code);
    let mut prev_imm = false;
    for (i, b) in c.ops.iter().enumerate() {
        let i = i as u32;
        match b {
            Bound::Reg(r) => {
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, *r);
                prev_imm = false;
            }
            Bound::Imm { kind, val: v } => {
                let v = val(v)?;
                let (ok, k) = match kind {
                    K::imm8 | K::imm8_const_1 => {
                        if prev_imm {
                            ins.set_immediate8_2nd(v as u8);
                            (true, OpKind::Immediate8_2nd)
                        } else {
                            ins.set_immediate8(v as u8);
                            (true, OpKind::Immediate8)
                        }
                    }
                    K::imm8sex16 => {
                        ins.set_immediate8to16(v as i8 as i16);
                        (true, OpKind::Immediate8to16)
                    }
                    K::imm8sex32 => {
                        ins.set_immediate8to32(v as i8 as i32);
                        (true, OpKind::Immediate8to32)
                    }
                    K::imm8sex64 => {
                        ins.set_immediate8to64(v as i8 as i64);
                        (true, OpKind::Immediate8to64)
                    }
                    K::imm16 => {
                        ins.set_immediate16(v as u16);
                        (true, OpKind::Immediate16)
                    }
                    K::imm32 => {
                        ins.set_immediate32(v as u32);
                        (true, OpKind::Immediate32)
                    }
                    K::imm32sex64 => {
                        ins.set_immediate32to64(v as i32 as i64);
                        (true, OpKind::Immediate32to64)
                    }
                    K::imm64 => {
                        ins.set_immediate64(v as u64);
                        (true, OpKind::Immediate64)
                    }
                    _ => (false, OpKind::Immediate8),
                };
                if !ok {
                    return Err(format!("internal error: immediate kind {kind:?}"));
                }
                ins.set_op_kind(i, k);
                prev_imm = true;
            }
            Bound::Mem {
                seg,
                base,
                index,
                scale,
                disp,
                displ_size,
                ..
            } => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(*base);
                ins.set_memory_index(*index);
                ins.set_memory_index_scale(*scale);
                ins.set_memory_displ_size(*displ_size);
                ins.set_memory_displacement64(val(disp)? as u64);
                ins.set_segment_prefix(*seg);
                prev_imm = false;
            }
            Bound::Moffs { seg, addr, size } => {
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_displ_size(*size);
                ins.set_memory_displacement64(val(addr)? as u64);
                ins.set_segment_prefix(*seg);
                prev_imm = false;
            }
            Bound::Branch { kind, target } => {
                let t = val(&Val::Expr(target.clone()))? as u64;
                match kind {
                    K::br16_1 | K::br16_2 => {
                        ins.set_op_kind(i, OpKind::NearBranch16);
                        ins.set_near_branch16(t as u16);
                    }
                    K::br32_1 | K::br32_4 => {
                        ins.set_op_kind(i, OpKind::NearBranch32);
                        ins.set_near_branch32(t as u32);
                    }
                    _ => {
                        ins.set_op_kind(i, OpKind::NearBranch64);
                        ins.set_near_branch64(t);
                    }
                }
                prev_imm = false;
            }
            Bound::Far { kind, sel, off } => {
                let s = val(sel)?;
                let o = val(off)?;
                ins.set_far_branch_selector(s as u16);
                if *kind == K::farbr2_2 {
                    ins.set_op_kind(i, OpKind::FarBranch16);
                    ins.set_far_branch16(o as u16);
                } else {
                    ins.set_op_kind(i, OpKind::FarBranch32);
                    ins.set_far_branch32(o as u32);
                }
                prev_imm = false;
            }
            Bound::Str { kind, seg } => {
                ins.set_op_kind(i, *kind);
                if *seg != Register::None {
                    ins.set_segment_prefix(*seg);
                }
                prev_imm = false;
            }
        }
    }
    Ok(ins)
}
