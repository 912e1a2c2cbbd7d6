//! AT&T mnemonics, derived from iced-x86's opcode tables.
//!
//! Every legacy-encoded `Code` is reachable under its iced mnemonic (`mov`, `pushfd`) and,
//! when its operand size is known, under that name plus the AT&T size suffix `b`/`w`/`l`/`q`
//! (`movl`, `pushfl`). Instructions whose operands are all implicit also get the bare AT&T
//! stem without iced's size letter (`pushf`, `iret`, `stos`, `sysret` + `l`/`q`). A few GNU as
//! spellings differ from Intel's and are added as aliases: the `movz*`/`movs*` sign/zero
//! extensions, `cbtw`/`cwtl`/`cltq`/`cwtd`/`cltd`/`cqto`, `lret`, `sal` (encoded as `shl`,
//! like as does), and the synonyms of the condition codes (`jz` = `je`, ...).

use std::collections::HashMap;
use std::sync::OnceLock;

use iced_x86::{Code, EncodingKind, MemorySize, Mnemonic, OpCodeInfo, OpCodeOperandKind as K};

/// One way to read a mnemonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub code: Code,
    /// The operand size in bits the spelling carries (`movl` = 32), if any.
    pub suffix: Option<u32>,
}

struct Table {
    map: HashMap<String, Vec<Entry>>,
    /// Spellings in a stable order, common instructions first, for suggestions.
    names: Vec<String>,
}

fn suffix_char(bits: u32) -> Option<char> {
    match bits {
        8 => Some('b'),
        16 => Some('w'),
        32 => Some('l'),
        64 => Some('q'),
        _ => None,
    }
}

pub fn suffix_bits(c: char) -> Option<u32> {
    match c {
        'b' => Some(8),
        'w' => Some(16),
        'l' => Some(32),
        'q' => Some(64),
        _ => None,
    }
}

/// Operand kinds that are never written out (string operands, fixed registers).
pub fn is_implicit_kind(k: K) -> bool {
    matches!(
        k,
        K::seg_rSI
            | K::es_rDI
            | K::seg_rDI
            | K::seg_rBX_al
            | K::al
            | K::ax
            | K::eax
            | K::rax
            | K::dx
    )
}

pub fn is_string_kind(k: K) -> bool {
    matches!(k, K::seg_rSI | K::es_rDI | K::seg_rDI | K::seg_rBX_al)
}

fn is_byte_kind(k: K) -> bool {
    matches!(k, K::r8_or_mem | K::r8_reg | K::r8_opcode | K::al)
}

/// Size in bytes of an integer memory operand, if it is one.
pub fn int_mem_bytes(m: MemorySize) -> Option<u32> {
    use MemorySize as M;
    Some(match m {
        M::UInt8 | M::Int8 => 1,
        M::UInt16 | M::Int16 | M::WordOffset => 2,
        M::UInt32 | M::Int32 | M::DwordOffset => 4,
        M::UInt64 | M::Int64 | M::QwordOffset => 8,
        _ => return None,
    })
}

/// The operand size in bits an AT&T suffix names for this code (0 if none).
pub fn op_bits(oc: &OpCodeInfo) -> u32 {
    if oc.operand_size() != 0 {
        return oc.operand_size();
    }
    if oc.force_op_size64() {
        return 64;
    }
    let byte = oc.op_kinds().iter().any(|&k| is_byte_kind(k))
        || (oc.op_kinds().iter().any(|&k| is_string_kind(k))
            && matches!(oc.memory_size(), MemorySize::UInt8 | MemorySize::Int8));
    let gpr = oc.op_kinds().iter().find_map(|&k| match k {
        K::r16_reg | K::r16_rm | K::r16_or_mem | K::r16_opcode => Some(16),
        K::r32_reg | K::r32_rm | K::r32_or_mem | K::r32_opcode => Some(32),
        K::r64_reg | K::r64_rm | K::r64_or_mem | K::r64_opcode => Some(64),
        _ => None,
    });
    if byte {
        8
    } else if let Some(g) = gpr {
        g
    } else if oc.op_kinds().iter().all(|&k| is_implicit_kind(k)) {
        // sysret, sysexit: no prefix means the 32-bit form.
        32
    } else {
        0
    }
}

/// Far transfers (ljmp/lcall/lret and their memory forms).
pub fn is_far(oc: &OpCodeInfo) -> bool {
    oc.op_kinds()
        .iter()
        .any(|&k| matches!(k, K::farbr2_2 | K::farbr4_2))
        || matches!(
            oc.memory_size(),
            MemorySize::SegPtr16 | MemorySize::SegPtr32 | MemorySize::SegPtr64
        )
}

/// Codes this assembler considers at all.
pub fn usable(oc: &OpCodeInfo) -> bool {
    oc.encoding() == EncodingKind::Legacy
        && oc.is_instruction()
        && oc.decoder_option() == 0
        && oc.mnemonic() != Mnemonic::Sal
}

const CC_ALIASES: [(&str, &str); 14] = [
    ("z", "e"),
    ("nz", "ne"),
    ("c", "b"),
    ("nae", "b"),
    ("nc", "ae"),
    ("nb", "ae"),
    ("na", "be"),
    ("nbe", "a"),
    ("nge", "l"),
    ("nl", "ge"),
    ("ng", "le"),
    ("nle", "g"),
    ("pe", "p"),
    ("po", "np"),
];

const ALIASES: [(&str, &str); 10] = [
    ("fwait", "wait"),
    ("lret", "retf"),
    ("sal", "shl"),
    ("cbtw", "cbw"),
    ("cwtl", "cwde"),
    ("cltq", "cdqe"),
    ("cwtd", "cwd"),
    ("cltd", "cdq"),
    ("cqto", "cqo"),
    ("loopz", "loope"),
];

/// Instructions listed first in suggestions.
const COMMON: [&str; 40] = [
    "mov", "movzx", "movsx", "lea", "xchg", "push", "pop", "add", "sub", "adc", "sbb", "and", "or",
    "xor", "cmp", "test", "inc", "dec", "neg", "not", "shl", "shr", "sar", "imul", "mul", "div",
    "jmp", "call", "ret", "nop", "int", "iret", "sysenter", "sysexit", "syscall", "sysret",
    "pushf", "popf", "lgdt", "ltr",
];

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(build)
}

fn build() -> Table {
    let mut map: HashMap<String, Vec<Entry>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut add = |map: &mut HashMap<String, Vec<Entry>>, name: String, e: Entry| {
        let v = map.entry(name.clone()).or_insert_with(|| {
            order.push(name);
            Vec::new()
        });
        if !v.contains(&e) {
            v.push(e);
        }
    };
    for code in Code::values() {
        let oc = code.op_code();
        if !usable(oc) {
            continue;
        }
        let n = format!("{:?}", oc.mnemonic()).to_ascii_lowercase();
        let s = op_bits(oc);
        add(&mut map, n.clone(), Entry { code, suffix: None });
        let suffixed = |base: &str| suffix_char(s).map(|c| format!("{base}{c}"));
        if let Some(name) = suffixed(&n) {
            add(
                &mut map,
                name,
                Entry {
                    code,
                    suffix: Some(s),
                },
            );
        }
        if oc.op_kinds().iter().all(|&k| is_implicit_kind(k)) {
            let stem = suffix_char(if s == 32 { 32 } else { s })
                .map(|c| if c == 'l' { 'd' } else { c })
                .and_then(|c| n.strip_suffix(c))
                .filter(|b| b.len() >= 3)
                .unwrap_or(&n)
                .to_string();
            add(&mut map, stem.clone(), Entry { code, suffix: None });
            if let Some(name) = suffixed(&stem) {
                add(
                    &mut map,
                    name,
                    Entry {
                        code,
                        suffix: Some(s),
                    },
                );
            }
        }
        // r32m16 forms (mov to/from a segment register, ltr, str, ...): `w` names the
        // 16-bit memory operand.
        let m16 = int_mem_bytes(oc.memory_size()) == Some(2)
            && oc
                .op_kinds()
                .iter()
                .any(|&k| matches!(k, K::r32_or_mem | K::r64_or_mem));
        if m16 {
            add(
                &mut map,
                format!("{n}w"),
                Entry {
                    code,
                    suffix: Some(16),
                },
            );
        }
        // movzbl, movsbw, movslq, movzb, ...
        if matches!(
            oc.mnemonic(),
            Mnemonic::Movzx | Mnemonic::Movsx | Mnemonic::Movsxd
        ) {
            let zs = if oc.mnemonic() == Mnemonic::Movzx {
                "movz"
            } else {
                "movs"
            };
            let src = int_mem_bytes(oc.memory_size()).unwrap_or(0) * 8;
            if let (Some(a), Some(b)) = (suffix_char(src), suffix_char(s)) {
                if src < s {
                    add(
                        &mut map,
                        format!("{zs}{a}{b}"),
                        Entry { code, suffix: None },
                    );
                    if src < 32 {
                        add(&mut map, format!("{zs}{a}"), Entry { code, suffix: None });
                    }
                }
            }
        }
    }
    let mut aliases: Vec<(String, String)> = ALIASES
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    aliases.push(("loopnz".into(), "loopne".into()));
    for (a, b) in CC_ALIASES {
        for p in ["j", "set", "cmov"] {
            aliases.push((format!("{p}{a}"), format!("{p}{b}")));
        }
    }
    for (alias, target) in aliases {
        for sfx in ["", "b", "w", "l", "q"] {
            if let Some(v) = map.get(&format!("{target}{sfx}")).cloned() {
                for e in v {
                    add(&mut map, format!("{alias}{sfx}"), e);
                }
            }
        }
    }
    let mut names = order;
    names.sort_by_key(|n| {
        let base = COMMON.iter().position(|c| n == c);
        let suffixed = COMMON.iter().position(|c| {
            n.len() == c.len() + 1
                && n.starts_with(c)
                && suffix_bits(n.chars().last().unwrap_or(' ')).is_some()
        });
        match (base, suffixed) {
            (Some(i), _) => (0, i),
            (None, Some(i)) => (1, i),
            _ => (2, 0),
        }
    });
    Table { map, names }
}

/// Every reading of `name` (lower-case), for any mode.
pub fn lookup(name: &str) -> &'static [Entry] {
    table().map.get(name).map(|v| v.as_slice()).unwrap_or(&[])
}

/// Spellings usable in the given mode, common ones first.
pub fn names_for(bits: u32) -> Vec<&'static str> {
    table()
        .names
        .iter()
        .filter(|n| {
            let v = lookup(n);
            // Suffixed spellings only for the common instructions (no `jael`).
            let plain = v.iter().any(|e| e.suffix.is_none())
                || n.get(..n.len().saturating_sub(1))
                    .is_some_and(|b| COMMON.contains(&b));
            plain
                && v.iter()
                    .any(|e| e.code.op_code().is_available_in_mode(bits))
        })
        .map(|s| s.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(n: &str) -> Vec<Code> {
        lookup(n).iter().map(|e| e.code).collect()
    }

    #[test]
    fn spellings() {
        assert!(codes("movl").contains(&Code::Mov_rm32_r32));
        assert!(!codes("movl").contains(&Code::Mov_rm16_r16));
        assert!(codes("pushfl").contains(&Code::Pushfd));
        assert!(codes("pushf").contains(&Code::Pushfq));
        assert!(codes("iretl").contains(&Code::Iretd));
        assert!(codes("iretq").contains(&Code::Iretq));
        assert!(codes("sysretl").contains(&Code::Sysretd));
        assert!(codes("sysretq").contains(&Code::Sysretq));
        assert!(codes("stosl").contains(&Code::Stosd_m32_EAX));
        assert!(codes("movsl").contains(&Code::Movsd_m32_m32));
        assert!(codes("movzbl").contains(&Code::Movzx_r32_rm8));
        assert!(codes("movslq").contains(&Code::Movsxd_r64_rm32));
        assert!(codes("movsb").contains(&Code::Movsb_m8_m8));
        assert!(codes("movsb").contains(&Code::Movsx_r32_rm8));
        assert!(codes("cwtl").contains(&Code::Cwde));
        assert!(codes("lret").contains(&Code::Retfd));
        assert!(codes("jz").contains(&Code::Je_rel8_32));
        assert!(codes("sall").contains(&Code::Shl_rm32_1));
        assert!(!codes("sal").contains(&Code::Sal_rm32_1));
        assert!(codes("movw").contains(&Code::Mov_r32m16_Sreg));
        assert!(lookup("cb").is_empty());
        assert!(lookup("shld")
            .iter()
            .all(|e| e.code.op_code().mnemonic() == Mnemonic::Shld));
        let n = names_for(32);
        assert_eq!(n[0], "mov");
        assert!(!n.contains(&"swapgs"));
    }
}
