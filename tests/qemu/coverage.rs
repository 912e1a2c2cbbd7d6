//! Which instructions the random programs of a host hold: their bytes decoded with
//! iced-x86 (the user and the kernel part), counted by mnemonic, with the forms the
//! issue names (a memory operand, a REP prefix, an address size) as their own keys.
//! Printed after each host's run; `assert_complete` checks the list of issue 13.

use std::collections::BTreeMap;

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};

use super::programs::{Host, Program};

#[derive(Default)]
pub struct Counts {
    by_key: BTreeMap<String, usize>,
}

/// The keys one instruction counts under: its mnemonic, and for the forms named in
/// the list, `mnemonic/mem`, `rep mnemonic/aN` and the like.
fn keys(i: &Instruction) -> Vec<String> {
    let m = format!("{:?}", i.mnemonic()).to_lowercase();
    let mut out = vec![m.clone()];
    let mem = (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory);
    if mem {
        out.push(format!("{m}/mem"));
    } else {
        out.push(format!("{m}/reg"));
    }
    if i.is_string_instruction() {
        let rep = if i.has_rep_prefix() {
            "rep "
        } else if i.has_repne_prefix() {
            "repne "
        } else {
            ""
        };
        let a = match i.memory_size() {
            _ if i.is_stack_instruction() => 0,
            _ => match i.op0_kind() {
                OpKind::MemoryESDI | OpKind::MemorySegDI => 16,
                OpKind::MemoryESEDI | OpKind::MemorySegEDI => 32,
                OpKind::MemoryESRDI | OpKind::MemorySegRDI => 64,
                _ => match i.op1_kind() {
                    OpKind::MemorySegSI | OpKind::MemoryESDI | OpKind::MemorySegDI => 16,
                    OpKind::MemorySegESI | OpKind::MemoryESEDI | OpKind::MemorySegEDI => 32,
                    _ => 64,
                },
            },
        };
        let base = m.trim_end_matches(['b', 'w', 'd', 'q']).to_string();
        out.push(format!("{rep}{base}/a{a}"));
        out.push(base);
    }
    if i.has_lock_prefix() {
        out.push("lock".into());
    }
    if m.starts_with("cmov") {
        out.push("cmovcc".into());
    }
    if m.starts_with("set") && i.op_count() == 1 {
        out.push("setcc".into());
    }
    let regs = (0..i.op_count())
        .filter(|&n| i.op_kind(n) == OpKind::Register)
        .map(|n| i.op_register(n));
    for r in regs {
        if r.is_cr() {
            out.push("mov/cr".into());
        }
        if r.is_dr() {
            out.push("mov/dr".into());
        }
    }
    if i.is_jmp_far() || i.is_call_far() {
        out.push(format!("{m} far"));
    }
    if i.is_jmp_far_indirect() || i.is_call_far_indirect() {
        out.push(format!("{m} far/mem"));
    }
    out
}

impl Counts {
    pub fn add(&mut self, p: &Program) {
        let bits = if matches!(p.host, Host::User64 | Host::Kernel64) {
            64
        } else {
            32
        };
        // The compatibility-mode host's kernel part is 64-bit code.
        let kernel_bits = if p.host == Host::Compat32 { 64 } else { bits };
        for (code, bits) in [(&p.user, bits), (&p.kernel, kernel_bits)] {
            let mut d = Decoder::new(bits, code, DecoderOptions::NONE);
            for i in &mut d {
                if i.mnemonic() == Mnemonic::INVALID {
                    continue;
                }
                for k in keys(&i) {
                    *self.by_key.entry(k).or_default() += 1;
                }
            }
        }
    }

    pub fn print(&self, host: Host) {
        let mut line = format!("{host:?} coverage (generated instructions by mnemonic):");
        for (k, n) in &self.by_key {
            if !k.ends_with("/reg") {
                line += &format!(" {k}={n}");
            }
        }
        println!("{line}");
        let missing = self.missing(host);
        if !missing.is_empty() {
            println!("{host:?} coverage: not generated: {}", missing.join(" "));
        }
    }

    /// The listed instructions no program of the run held.
    pub fn missing(&self, host: Host) -> Vec<&'static str> {
        required(host)
            .into_iter()
            .filter(|k| self.by_key.get(*k).copied().unwrap_or(0) == 0)
            .collect()
    }

    pub fn assert_complete(&self, host: Host) {
        let missing = self.missing(host);
        assert!(
            missing.is_empty(),
            "{host:?}: instructions of the list never generated: {}",
            missing.join(" ")
        );
    }
}

/// Issue 13's list, as keys, for `host`.
fn required(host: Host) -> Vec<&'static str> {
    let long = matches!(host, Host::User64 | Host::Kernel64);
    let kernel = matches!(host, Host::Kernel32 | Host::Kernel64);
    let mut r = vec![
        "rol",
        "ror",
        "rcl",
        "rcr",
        "shld",
        "shrd",
        "bt/reg",
        "bts/reg",
        "btr/reg",
        "btc/reg",
        "bt/mem",
        "bts/mem",
        "btr/mem",
        "btc/mem",
        "bsf",
        "bsr",
        "tzcnt",
        "lzcnt",
        "popcnt",
        "cmovcc",
        "setcc",
        "mul",
        "imul",
        "div",
        "idiv",
        "cwde",
        "cbw",
        "cwd",
        "cdq",
        "xadd",
        "cmpxchg",
        "lock",
        "bswap",
        "movbe",
        "leave",
        "enter",
        "lfence",
        "mfence",
        "sfence",
        "pause",
        "nop",
        "rdtsc",
        "rdtscp",
        "cpuid",
        "lahf",
        "sahf",
        "int1",
        "lsl",
        "lar",
        "verw",
        "smsw",
        "str",
        "sldt",
        "in",
        "out",
        "xgetbv",
        "movs/a32",
        "rep movs/a32",
        "stos/a32",
        "rep stos/a32",
        "lods/a32",
        "cmps/a32",
        "rep cmps/a32",
        "repne cmps/a32",
        "scas/a32",
        "rep scas/a32",
        "repne scas/a32",
        "retf",
        "jmp far/mem",
        "call far/mem",
        "endbr32",
        "endbr64",
        "setcc",
        "cmovcc",
    ];
    if long {
        r.extend([
            "cdqe",
            "cqo",
            "cmpxchg16b",
            "movs/a64",
            "rep movs/a64",
            "stos/a64",
            "lods/a64",
            "cmps/a64",
            "rep cmps/a64",
            "scas/a64",
            "repne scas/a64",
        ]);
    } else {
        r.extend([
            "cmpxchg8b",
            "pushad",
            "popad",
            "lss",
            "lds",
            "les",
            "lfs",
            "lgs",
            "jmp far",
            "call far",
            "movs/a16",
            "rep stos/a16",
            "scas/a16",
        ]);
    }
    if kernel {
        r.extend([
            "clts", "invlpg", "mov/cr", "mov/dr", "ins", "outs", "clac", "stac",
        ]);
    }
    r
}
