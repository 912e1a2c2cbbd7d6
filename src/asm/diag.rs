//! Messages: why an instruction has no encoding, unknown mnemonics, ambiguous sizes.

use iced_x86::{Mnemonic, OpCodeOperandKind as K, Register};

use super::bind::{bind_code, Ctx, Miss};
use super::error::{did_you_mean, nearest};
use super::mnemonic;
use super::operand::{OpKind as Ok_, Operand};
use super::regs;
use super::select::{PErr, Request};

/// A value for messages: decimal, with hex for larger ones (`300 (0x12c)`).
pub fn fmt_val(v: i64) -> String {
    if (-9..=9).contains(&v) {
        v.to_string()
    } else if v.unsigned_abs() > 0xffff {
        if v < 0 {
            format!("-{:#x}", v.unsigned_abs())
        } else {
            format!("{v:#x}")
        }
    } else if v < 0 {
        format!("{v} (-{:#x})", v.unsigned_abs())
    } else {
        format!("{v} ({v:#x})")
    }
}

pub(super) fn op_list(ops: &[Operand]) -> String {
    if ops.is_empty() {
        return "no operands".into();
    }
    ops.iter()
        .map(|o| o.text.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `name` is an instruction spelling at all (checked before its operands).
pub fn known_mnemonic(name: &str) -> bool {
    let base = name
        .strip_prefix("movabs")
        .map(|s| format!("mov{s}"))
        .or_else(|| name.strip_prefix("ljmp").map(|s| format!("jmp{s}")))
        .or_else(|| name.strip_prefix("lcall").map(|s| format!("call{s}")))
        .unwrap_or_else(|| name.to_string());
    !mnemonic::lookup(&base).is_empty()
}

pub fn unknown_mnemonic(name: &str, col: usize, bits: u32, has_operands: bool) -> PErr {
    let names = mnemonic::names_for(bits);
    let near = nearest(name, names.iter().copied(), 3);
    let mut msg = format!("unknown instruction `{name}`{}", did_you_mean(&near));
    if !has_operands {
        msg.push_str(&format!(" (a label is written with a colon: `{name}:`)"));
    }
    (col, msg)
}

pub(super) fn ambiguous(req: &Request, sizes: &[u32]) -> PErr {
    let name = req.mnemonic;
    let sfx: Vec<String> = sizes
        .iter()
        .filter_map(|b| mnemonic_suffix(b * 8).map(|c| format!("`{name}{c}`")))
        .collect();
    (
        req.col,
        format!(
            "operand size of `{name}` is ambiguous: no register says how wide {} is; add a suffix ({})",
            req.ops
                .iter()
                .find(|o| matches!(o.kind, Ok_::Mem(_)))
                .map(|o| format!("`{}`", o.text))
                .unwrap_or_else(|| "the operand".into()),
            sfx.join(", ")
        ),
    )
}

fn mnemonic_suffix(bits: u32) -> Option<char> {
    match bits {
        8 => Some('b'),
        16 => Some('w'),
        32 => Some('l'),
        64 => Some('q'),
        _ => None,
    }
}

/// Explain why no code fits.
pub(super) fn no_form(
    req: &Request,
    entries: &[mnemonic::Entry],
    ops: &[&Operand],
    ctx: &Ctx,
    best: Miss,
) -> PErr {
    let name = req.mnemonic;
    let head = format!("`{name}` has no form taking {}", op_list(req.ops));
    let col = req.col;
    let order: Vec<usize> = (0..ops.len()).collect();
    match best {
        Miss::Count => {
            let mut counts: Vec<usize> = entries
                .iter()
                .map(|e| e.code.op_code().op_count() as usize)
                .collect();
            counts.sort_unstable();
            counts.dedup();
            let n = ops.len();
            let want = counts
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            (
                col,
                format!(
                    "`{name}` takes {want} operand{}, not {n}",
                    if want == "1" { "" } else { "s" }
                ),
            )
        }
        Miss::Range(m, c) if !m.is_empty() => (if c > 0 { c } else { col }, format!("{head}: {m}")),
        Miss::Range(_, c) => (
            if c > 0 { c } else { col },
            format!("{head}: an immediate is out of range"),
        ),
        Miss::Size | Miss::Shape => {
            if let Some(o) = ops.iter().find(|o| matches!(o.kind, Ok_::Imm(_))) {
                let direct_branch = entries.iter().any(|e| {
                    e.code.op_code().op_kinds().iter().any(|k| {
                        matches!(
                            k,
                            K::br16_1 | K::br32_1 | K::br64_1 | K::br16_2 | K::br32_4 | K::br64_4
                        )
                    })
                });
                if direct_branch && ops.len() == 1 {
                    return (
                        o.col,
                        format!("{head}: a jump target is written without `$` (`{name} label`, or `{name} *%reg` to jump through a register)"),
                    );
                }
            }
            let branchy = entries
                .iter()
                .any(|e| matches!(e.code.op_code().mnemonic(), Mnemonic::Jmp | Mnemonic::Call));
            if let Some(o) = ops.iter().find(|o| o.star) {
                if !branchy {
                    return (
                        o.col,
                        format!("`*` marks the target of an indirect jmp or call; `{name}` does not take it"),
                    );
                }
            }
            // Does the shape fit if sizes are ignored?
            let shape_ok = entries
                .iter()
                .any(|e| bind_code(e.code.op_code(), e.suffix, ops, &order, ctx, true).is_ok());
            let gprs: Vec<Register> = req
                .ops
                .iter()
                .filter_map(|o| match o.kind {
                    Ok_::Reg(r) if r.is_gpr() => Some(r),
                    _ => None,
                })
                .collect();
            let suffix = entries.iter().find_map(|e| e.suffix);
            if shape_ok {
                if let Some(s) = suffix {
                    if let Some(r) = gprs.iter().find(|r| (r.size() * 8) as u32 != s) {
                        return (
                            col,
                            format!(
                                "{head}: the suffix of `{name}` means {s}-bit operands but {} is {}-bit",
                                regs::gas_name(*r),
                                r.size() * 8
                            ),
                        );
                    }
                }
                if gprs.windows(2).any(|w| w[0].size() != w[1].size()) {
                    return (col, format!("{head}: operand sizes differ"));
                }
                return (col, format!("{head}: operand size mismatch"));
            }
            (col, head)
        }
    }
}

pub(super) fn encoder_message(name: &str, iced: &str) -> String {
    if iced.contains("REX") || iced.contains("AH, CH, DH") || iced.contains("AH/CH/DH/BH") {
        return format!("`{name}`: %ah, %bh, %ch and %dh cannot be used in an instruction that needs a REX prefix");
    }
    format!("`{name}` cannot be encoded with these operands ({iced})")
}
