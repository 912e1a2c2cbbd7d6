//! Differential runs against QEMU full-system emulation (issue 5): a scenario's initial
//! machine becomes a multiboot guest (`guest`), QEMU single-steps it (`run`), and every
//! state QEMU logged is compared with ringstep's recorded history (`diff_scene`).

pub mod guest;
pub mod guest64;
pub mod run;

use std::time::Duration;

use ringstep::engine::{Change, Event, Outcome, StopReason};
use ringstep::lesson::run::play;
use ringstep::lesson::Scene;
use ringstep::machine::{Machine, SegReg};

use run::QState;

/// One disagreement between ringstep and QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `init` for the initial machine, else the step after which the states differ.
    pub step: String,
    /// The instruction of that step (address and disassembly).
    pub instr: String,
    pub field: String,
    pub ringstep: String,
    pub qemu: String,
    /// A class of known QEMU-vs-SDM disagreement this difference belongs to, if any
    /// (matched against the test's allow-list).
    pub kind: Option<&'static str>,
}

/// The class of a memory difference: a GDT descriptor's type byte that differs only in
/// the accessed bit, set by ringstep and not by QEMU.
pub const GDT_ACCESSED: &str = "gdt-accessed-bit";

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} ({}): {}: ringstep {} qemu {}",
            self.step, self.instr, self.field, self.ringstep, self.qemu
        )
    }
}

/// The outcome of one scene.
pub struct SceneDiff {
    /// States compared (the initial one plus one per instruction).
    pub compared: usize,
    /// Bytes of memory written by the scene and compared at its end.
    pub memory_bytes: usize,
    pub differences: Vec<Difference>,
    /// Why the scene could not be compared, if it could not.
    pub skipped: Option<String>,
}

fn compare_state(m: &Machine, q: &QState, step: &str, instr: &str, out: &mut Vec<Difference>) {
    let mut diff = |field: &str, r: u64, qv: u64| {
        if r != qv {
            out.push(Difference {
                step: step.into(),
                instr: instr.into(),
                field: field.into(),
                ringstep: format!("{r:#x}"),
                qemu: format!("{qv:#x}"),
                kind: None,
            });
        }
    };
    let long = m.cpu.long_mode_active();
    if long {
        let names = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
            "r12", "r13", "r14", "r15",
        ];
        for (i, n) in names.iter().enumerate() {
            diff(n, m.cpu.gpr[i], q.gpr[i]);
        }
        diff("rip", m.cpu.rip, q.eip);
        diff("rflags", m.cpu.rflags, q.eflags as u64);
    } else {
        let names = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
        for (i, n) in names.iter().enumerate() {
            diff(n, m.cpu.gpr[i] & 0xffff_ffff, q.gpr[i] & 0xffff_ffff);
        }
        diff("eip", m.cpu.rip & 0xffff_ffff, q.eip & 0xffff_ffff);
        diff("eflags", m.cpu.rflags & 0xffff_ffff, q.eflags as u64);
    }
    diff("cpl", m.cpu.cpl() as u64, q.cpl as u64);
    let order = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];
    for (i, s) in order.iter().enumerate() {
        let r = m.cpu.seg(*s);
        let qs = q.seg[i];
        diff(s.name(), r.selector as u64, qs.sel as u64);
        // A null selector's hidden part is not architecturally visible, except the FS
        // and GS bases in 64-bit mode (the MSRs and SWAPGS write them).
        let fs_gs = long && matches!(s, SegReg::Fs | SegReg::Gs);
        if r.selector & !3 != 0 || fs_gs {
            diff(&format!("{}.base", s.name()), r.base, qs.base);
        }
        if r.selector & !3 != 0 {
            diff(
                &format!("{}.limit", s.name()),
                r.limit as u64,
                qs.limit as u64,
            );
        }
    }
    diff("tr", m.cpu.tr.selector as u64, q.tr.sel as u64);
    let cr2_mask = if long { u64::MAX } else { 0xffff_ffff };
    diff("cr2", m.cpu.cr2 & cr2_mask, q.cr2 & cr2_mask);
}

fn vectors(qs: &QState) -> String {
    let v: Vec<String> = qs
        .exceptions
        .iter()
        .map(|(v, e)| match e {
            Some(e) => format!("{v:#x}({e:#x})"),
            None => format!("{v:#x}"),
        })
        .collect();
    format!("[{}]", v.join(" "))
}

/// Run `scene` in ringstep and in QEMU and compare them after every instruction.
pub fn diff_scene(scene: &Scene, dir: &std::path::Path) -> SceneDiff {
    diff_scene_with(scene, dir, &|_| {})
}

/// The same, with `tweak` applied to the machine QEMU starts from only (to prove that
/// differences are found and reported).
pub fn diff_scene_with(
    scene: &Scene,
    dir: &std::path::Path,
    tweak: &dyn Fn(&mut Machine),
) -> SceneDiff {
    let skip = |why: String| SceneDiff {
        compared: 0,
        memory_bytes: 0,
        differences: Vec::new(),
        skipped: Some(why),
    };
    if !scene.scenario.interrupts.is_empty() {
        return skip("scheduled external interrupts are not injected into QEMU yet".into());
    }
    let mut played = play(scene);
    let m0 = played.initial.clone();
    let mut for_qemu = m0.clone();
    tweak(&mut for_qemu);
    let long = m0.cpu.long_mode_active();
    let built = if long {
        guest64::build(&for_qemu, &scene.scenario.stop_at)
    } else {
        guest::build(&for_qemu, &scene.scenario.stop_at)
    };
    let guest = match built {
        Ok(g) => g,
        Err(e) => return skip(e),
    };
    let linked = guest::link(&guest, dir, if long { 64 } else { 32 });
    let elf = match linked {
        Ok(p) => p,
        Err(e) => return skip(e),
    };
    let last = played.last_state();
    // The states compared: the initial one and the one after every step. QEMU logs a
    // state before every instruction; where fetching faults, its exception dump stands in.
    let mut states: Vec<(usize, String)> = vec![(0, "init".into())];
    let mut expected_vectors: Vec<Vec<u8>> = Vec::with_capacity(last);
    for k in 0..last {
        let view = played.engine.step_view(k).expect("recorded step");
        let instr = match view.instr() {
            Some(i) => format!("{:#x} {i}", view.info.ip),
            None => format!("{:#x} <no instruction>", view.info.ip),
        };
        let vs: Vec<u8> = view
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Delivered { vector, .. } => Some(*vector),
                _ => None,
            })
            .collect();
        if matches!(view.info.outcome, Outcome::Interrupt(_)) {
            return skip("an external interrupt is delivered".into());
        }
        expected_vectors.push(vs);
        states.push((k + 1, format!("{k} [{instr}]")));
    }
    let filter: Vec<String> = m0
        .mem
        .regions()
        .iter()
        .map(|r| format!("{:#x}+{:#x}", r.base, r.size))
        .collect();
    let qemu = if long {
        run::Qemu {
            binary: "qemu-system-x86_64",
            memory_mib: guest64::MEMORY_MIB,
        }
    } else {
        run::Qemu {
            binary: "qemu-system-i386",
            memory_mib: 32,
        }
    };
    let q = run::run(
        qemu,
        &elf,
        dir,
        m0.cpu.rip,
        states.len(),
        &filter.join(","),
        (guest::BLOB_BASE, guest.blob.len() as u64),
        Duration::from_secs(20),
    );
    let mut differences = Vec::new();
    let mut compared = 0;
    let mut memory_bytes = 0;
    for (i, (state, label)) in states.iter().enumerate() {
        let (step, instr) = match label.split_once(' ') {
            Some((s, i)) => (s.to_string(), i.trim_matches(['[', ']']).to_string()),
            None => (label.clone(), String::new()),
        };
        let Some(qs) = q.states.get(i) else {
            differences.push(Difference {
                step,
                instr,
                field: "state".into(),
                ringstep: "present".into(),
                qemu: format!(
                    "missing (QEMU logged {} states, {} bytes of log)",
                    q.states.len(),
                    q.log_bytes
                ),
                kind: None,
            });
            break;
        };
        played.engine.goto(*state);
        compare_state(played.engine.machine(), qs, &step, &instr, &mut differences);
        compared += 1;
        // Exceptions and interrupts delivered by the next step.
        if *state < last {
            let want = &expected_vectors[*state];
            let got: Vec<u8> = qs.exceptions.iter().map(|(v, _)| *v).collect();
            if *want != got {
                differences.push(Difference {
                    step: state.to_string(),
                    instr: String::new(),
                    field: "vectors delivered".into(),
                    ringstep: format!("{want:x?}"),
                    qemu: vectors(qs),
                    kind: None,
                });
            }
        } else if let StopReason::Fault(e) = &played.stop.reason {
            let first = qs.exceptions.first().copied();
            if first != Some((e.vector, e.error_code)) {
                differences.push(Difference {
                    step: format!("stop at {:#x}", played.stop.ip),
                    instr: String::new(),
                    field: "fault".into(),
                    ringstep: format!("{:#x}({:x?})", e.vector, e.error_code),
                    qemu: vectors(qs),
                    kind: None,
                });
            }
        }
    }
    // Memory: every byte ringstep wrote, as it is at the end of the run.
    played.engine.goto(last);
    let mut written: Vec<u64> = Vec::new();
    for k in 0..last {
        let view = played.engine.step_view(k).expect("recorded step");
        for c in view.changes {
            if let Change::Mem { addr, len, .. } = c {
                for i in 0..*len as u64 {
                    written.push(addr + i);
                }
            }
        }
    }
    written.sort_unstable();
    written.dedup();
    match &q.memory {
        None if !written.is_empty() => differences.push(Difference {
            step: "end".into(),
            instr: String::new(),
            field: "memory".into(),
            ringstep: format!("{} bytes written", written.len()),
            qemu: "no memory dump (QEMU had exited)".into(),
            kind: None,
        }),
        None => {}
        Some(mem) => {
            let m = played.engine.machine();
            for &a in &written {
                let mut r = [0u8];
                m.mem.peek(a, &mut r);
                let qv = guest
                    .blob_offset(&m0, a)
                    .and_then(|o| mem.get(o as usize).copied());
                if qv != Some(r[0]) {
                    let gdt = &m0.cpu.gdtr;
                    let type_byte = a >= gdt.base
                        && a <= gdt.base + gdt.limit as u64
                        && (a - gdt.base) % 8 == 5;
                    let accessed_only = qv == Some(r[0] & !1) && r[0] & 1 == 1;
                    differences.push(Difference {
                        step: "end".into(),
                        instr: m.describe_addr(a).unwrap_or_default(),
                        field: if type_byte {
                            format!("GDT[{}] type byte (mem[{a:#x}])", (a - gdt.base) / 8)
                        } else {
                            format!("mem[{a:#x}]")
                        },
                        ringstep: format!("{:#04x}", r[0]),
                        qemu: qv.map_or("unmapped".into(), |v| format!("{v:#04x}")),
                        kind: (type_byte && accessed_only).then_some(GDT_ACCESSED),
                    });
                }
            }
            memory_bytes = written.len();
        }
    }
    SceneDiff {
        memory_bytes,
        compared,
        differences,
        skipped: None,
    }
}
