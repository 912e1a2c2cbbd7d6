//! Final bytes: every value evaluated with addresses and external symbols, range-checked,
//! and encoded with the encodings chosen while reading.

use iced_x86::{OpCodeOperandKind as K, Register};

use super::error::{AsmError, Pos};
use super::expr::Expr;
use super::layout::{late, Placed};
use super::mnemonic::op_bits;
use super::nops::padding;
use super::parse::{data_range, ItemKind, Program};
use super::select::{build, encode_bytes, fmt_val, Bound, Choice, Val};
use super::symbols::{Externals, LateEnv, SetStack};
use super::{Assembled, LineInfo};

pub fn encode(
    prog: &Program,
    p: &Placed,
    resolve: &dyn Fn(&str) -> Option<u64>,
    known: &[&str],
) -> Result<Vec<Assembled>, AsmError> {
    let depth = SetStack::default();
    let ext = Externals::Resolve(resolve);
    let mut out = Vec::with_capacity(prog.secs.len());
    for (si, sec) in prog.secs.iter().enumerate() {
        let mut bytes = Vec::new();
        let mut lines = Vec::new();
        for (ii, item) in sec.items.iter().enumerate() {
            let addr = p.item_addr[si][ii];
            let size = p.item_size[si][ii];
            let env = LateEnv {
                known,
                ..late(prog, p, addr, item.seq, &ext, &depth)
            };
            let at = |e: (usize, String)| -> AsmError {
                let col = if e.0 == 0 { item.pos.col } else { e.0 };
                item.pos.at_col(col).error(e.1)
            };
            let start = bytes.len();
            let mut is_code = false;
            match &item.kind {
                ItemKind::Label(_) | ItemKind::SetPoint(_) => continue,
                ItemKind::Insn(c) => {
                    bytes.extend(insn(c, &env, addr, item.bits, item.pos)?);
                    is_code = true;
                }
                ItemKind::Relax { short, long, .. } => {
                    let c = if p.long[si][ii] { long } else { short };
                    bytes.extend(insn(c, &env, addr, item.bits, item.pos)?);
                    is_code = true;
                }
                ItemKind::Data { width, vals } => {
                    for e in vals {
                        let v = env.value(e).map_err(at)?;
                        if let Some(m) = data_range(*width, v) {
                            return Err(at((first_col(e).unwrap_or(0), m)));
                        }
                        bytes.extend_from_slice(&v.to_le_bytes()[..*width as usize]);
                    }
                }
                ItemKind::Bytes { bytes: b, code } => {
                    bytes.extend_from_slice(b);
                    is_code = *code;
                }
                ItemKind::Fill { size: w, value, .. } => {
                    let v = env.value(value).map_err(at)?;
                    if *w == 1 {
                        if let Some(m) = data_range(1, v) {
                            return Err(at((first_col(value).unwrap_or(0), m)));
                        }
                    }
                    let one = &v.to_le_bytes()[..*w as usize];
                    if !one.is_empty() {
                        for _ in 0..size / *w as u64 {
                            bytes.extend_from_slice(one);
                        }
                    }
                }
                ItemKind::Org { fill, .. } => {
                    let v = env.value(fill).map_err(at)?;
                    if let Some(m) = data_range(1, v) {
                        return Err(at((first_col(fill).unwrap_or(0), m)));
                    }
                    bytes.extend(std::iter::repeat_n(v as u8, size as usize));
                }
                ItemKind::Align { fill, .. } => match fill {
                    Some(f) => bytes.extend(std::iter::repeat_n(*f, size as usize)),
                    None => {
                        bytes.extend(padding(size as usize, prog.bits == 64));
                        is_code = true;
                    }
                },
            }
            let len = bytes.len() - start;
            if len as u64 != size {
                return Err(item.pos.error(format!(
                    "internal error: {len} bytes encoded where layout planned {size}"
                )));
            }
            if len > 0 {
                lines.push(LineInfo {
                    addr,
                    len: len as u32,
                    line: item.pos.line,
                    is_code,
                    bits: item.bits,
                });
            }
        }
        out.push(Assembled {
            base: sec.base,
            bytes,
            lines,
        });
    }
    Ok(out)
}

fn first_col(e: &Expr) -> Option<usize> {
    let mut c = None;
    e.symbols(&mut |_, col| {
        if c.is_none() {
            c = Some(col);
        }
    });
    c
}

/// Evaluate, check and encode one instruction.
fn insn(c: &Choice, env: &LateEnv, addr: u64, bits: u32, pos: Pos) -> Result<Vec<u8>, AsmError> {
    let at = |e: (usize, String)| -> AsmError {
        let col = if e.0 == 0 { pos.col } else { e.0 };
        pos.at_col(col).error(e.1)
    };
    let next = addr.wrapping_add(c.len as u64);
    let size = op_bits(c.code.op_code());
    let name = format!("{:?}", c.code.op_code().mnemonic()).to_ascii_lowercase();
    let mut r = c.clone();
    for b in &mut r.ops {
        match b {
            Bound::Imm { kind, val } => {
                if let Val::Expr(e) = val {
                    let v = env.value(e).map_err(at)?;
                    let (lo, hi, what) = match kind {
                        K::imm8 => (-0x80, 0xff, "an 8-bit"),
                        K::imm16 => (-0x8000, 0xffff, "a 16-bit"),
                        K::imm32 => (-0x8000_0000, 0xffff_ffff, "a 32-bit"),
                        K::imm32sex64 => (-0x8000_0000, 0x7fff_ffff, "a sign-extended 32-bit"),
                        _ => (i64::MIN, i64::MAX, ""),
                    };
                    if v < lo || v > hi {
                        return Err(at((
                            first_col(e).unwrap_or(0),
                            format!(
                                "value {} of `{}` does not fit in {what} immediate",
                                fmt_val(v),
                                expr_text(e)
                            ),
                        )));
                    }
                    let _ = size;
                    *val = Val::Known(v);
                }
            }
            Bound::Mem {
                disp,
                addr_bits,
                base,
                ..
            } if *base == Register::RIP => {
                // A displacement known when the instruction was read is used as written;
                // anything else (a label, an external, a later constant) is a target
                // address taken relative to the next instruction, as GNU as relocates it.
                let (target, c0, what) = match disp {
                    Val::Known(d) => ((next as i64).wrapping_add(*d), 0, String::new()),
                    Val::Expr(e) => (
                        env.value(e).map_err(at)?,
                        first_col(e).unwrap_or(0),
                        expr_text(e),
                    ),
                };
                let rel = target.wrapping_sub(next as i64);
                if !(-0x8000_0000..=0x7fff_ffff).contains(&rel) {
                    return Err(at((
                        c0,
                        format!("`{what}` is too far from this instruction for %rip-relative addressing"),
                    )));
                }
                *disp = Val::Known(target);
            }
            Bound::Mem {
                disp, addr_bits, ..
            } => {
                if let Val::Expr(e) = disp {
                    let v = env.value(e).map_err(at)?;
                    let c0 = first_col(e).unwrap_or(0);
                    let (lo, hi) = match addr_bits {
                        16 => (-0x8000, 0xffff),
                        32 => (-0x8000_0000, 0xffff_ffff),
                        _ => (-0x8000_0000, 0x7fff_ffff),
                    };
                    if v < lo || v > hi {
                        return Err(at((
                            c0,
                            format!(
                                "address {} of `{}` does not fit in a {}-bit displacement",
                                fmt_val(v),
                                expr_text(e),
                                if *addr_bits == 16 { 16 } else { 32 }
                            ),
                        )));
                    }
                    *disp = Val::Known(v);
                }
            }
            Bound::Moffs {
                addr: a, size: s, ..
            } => {
                if let Val::Expr(e) = a {
                    let v = env.value(e).map_err(at)?;
                    if *s == 4 && !(-0x8000_0000..=0xffff_ffff).contains(&v) {
                        return Err(at((
                            first_col(e).unwrap_or(0),
                            format!("address {} does not fit in 32 bits", fmt_val(v)),
                        )));
                    }
                    *a = Val::Known(if *s == 4 { v as u32 as i64 } else { v });
                }
            }
            Bound::Branch { kind, target } => {
                let v = env.value(target).map_err(at)?;
                let c0 = first_col(target).unwrap_or(0);
                let rel = v.wrapping_sub(next as i64);
                match kind {
                    K::br16_1 | K::br32_1 | K::br64_1 => {
                        if !(-128..=127).contains(&rel) {
                            return Err(at((c0, format!(
                                "branch target out of range: `{name}` reaches -128..127 bytes, the target is {} bytes away",
                                rel
                            ))));
                        }
                    }
                    K::br32_4 if bits == 32 => {
                        if !(0..=0xffff_ffff).contains(&v) && !(-0x8000_0000..0).contains(&v) {
                            return Err(at((
                                c0,
                                format!("branch target {} is not a 32-bit address", fmt_val(v)),
                            )));
                        }
                    }
                    K::br16_2 => {}
                    _ => {
                        if !(-0x8000_0000..=0x7fff_ffff).contains(&rel) {
                            return Err(at((
                                c0,
                                format!(
                                    "branch target out of range: {} is more than 2 GiB away",
                                    fmt_val(v)
                                ),
                            )));
                        }
                    }
                }
                *target = Expr::Num(v);
            }
            Bound::Far { sel, off, .. } => {
                for (x, what, hi) in [(sel, "selector", 0xffff), (off, "offset", 0xffff_ffff)] {
                    if let Val::Expr(e) = x {
                        let v = env.value(e).map_err(at)?;
                        if !(0..=hi).contains(&v) {
                            return Err(at((
                                first_col(e).unwrap_or(0),
                                format!("far {what} {} out of range", fmt_val(v)),
                            )));
                        }
                        *x = Val::Known(v);
                    }
                }
            }
            Bound::Reg(_) | Bound::Str { .. } => {}
        }
    }
    let ins = build(&r, &|v| match v {
        Val::Known(k) => Ok(*k),
        Val::Expr(Expr::Num(k)) => Ok(*k),
        Val::Expr(_) => Err("internal error: unevaluated value".to_string()),
    })
    .map_err(|m| pos.error(m))?;
    let bytes = encode_bytes(&ins, &c.prefixes, bits, addr)
        .map_err(|m| pos.error(format!("cannot encode `{name}`: {m}")))?;
    Ok(bytes)
}

fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Sym { name, .. } => super::parse::shown_name(name).to_string(),
        Expr::Num(n) => fmt_val(*n),
        _ => {
            let mut names = Vec::new();
            e.symbols(&mut |n, _| names.push(super::parse::shown_name(n).to_string()));
            if names.is_empty() {
                "the expression".into()
            } else {
                format!("expression with {}", names.join(", "))
            }
        }
    }
}
