//! The ways into the kernel side by side: for a scene that makes one system call, the
//! architectural work (`engine::Cost`) of the instruction that enters CPL 0, of the one
//! that returns to CPL 3, and of everything between, all counted by the engine as the
//! scene runs. `ringstep cost` and the viewer's cost overlay show the table; lessons
//! state the same numbers, which a test compares with these.

use super::run::{play, Played};
use super::{load_shipped, Lang};
use crate::disasm::{Disassembler, Syntax};
use crate::engine::cost::{Cost, FIELDS};
use crate::engine::{Engine, Event};
use crate::machine::Symbols;

/// One system call's round trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trip {
    /// The instruction that entered CPL 0 (`int $0x80`, `sysenter`, `syscall`).
    pub entry_instr: String,
    /// The instruction that returned to CPL 3 (`iret`, `sysexit`, `sysretq`).
    pub exit_instr: String,
    pub entry: Cost,
    pub exit: Cost,
    /// From the entry instruction to the return, both included.
    pub round: Cost,
    /// The steps of the round trip (instructions, and deliveries if any).
    pub steps: usize,
}

/// The shipped scenes the table compares: (lesson id, scene index, column title).
pub const PATHS: &[(&str, usize, &str)] = &[
    ("int80", 0, "int $0x80/iret"),
    ("sysenter", 0, "sysenter/sysexit"),
    ("syscall64", 0, "syscall/sysretq"),
];

/// Whether a step changed the CPL from `from` to `to`.
fn crosses(engine: &Engine, i: usize, to_kernel: bool) -> bool {
    engine.step_view(i).is_some_and(|v| {
        v.events.iter().any(|e| match e {
            Event::PrivilegeChange { from, to } if to_kernel => *from == 3 && *to == 0,
            Event::PrivilegeChange { from, to } => *from == 0 && *to == 3,
            _ => false,
        })
    })
}

/// The instruction of step `i`, in AT&T syntax.
fn instr_text(engine: &Engine, i: usize) -> String {
    let Some(instr) = engine.step_view(i).and_then(|v| v.instr()) else {
        return String::from("(delivery)");
    };
    Disassembler::new(&Symbols::new(), Syntax::Att).format(&instr)
}

/// The first round trip from CPL 3 to CPL 0 and back in a played scene's history.
pub fn trip(engine: &Engine) -> Option<Trip> {
    let len = engine.history_len();
    let entry = (0..len).find(|&i| crosses(engine, i, true))?;
    let exit = (entry + 1..len).find(|&i| crosses(engine, i, false))?;
    let cost = |i: usize| engine.step_view(i).map(|v| v.cost).unwrap_or_default();
    let round = (entry..=exit).fold(Cost::default(), |sum, i| sum.plus(&cost(i)));
    Some(Trip {
        entry_instr: instr_text(engine, entry),
        exit_instr: instr_text(engine, exit),
        entry: cost(entry),
        exit: cost(exit),
        round,
        steps: exit - entry + 1,
    })
}

/// Play scene `scene` of shipped lesson `id`.
pub fn play_shipped(id: &str, scene: usize) -> Result<Played, String> {
    let lesson = load_shipped(id)
        .ok_or_else(|| format!("no shipped lesson `{id}`"))?
        .map_err(|e| e.to_string())?;
    let s = lesson
        .scenes
        .get(scene)
        .ok_or_else(|| format!("lesson `{id}` has no scene {}", scene + 1))?;
    Ok(play(s))
}

/// The round trips of `PATHS`, in order, with their column titles.
pub fn compare() -> Result<Vec<(&'static str, Trip)>, String> {
    PATHS
        .iter()
        .map(|&(id, scene, title)| {
            let played = play_shipped(id, scene)?;
            let t = trip(&played.engine)
                .ok_or_else(|| format!("lesson `{id}` scene {} makes no round trip", scene + 1))?;
            Ok((title, t))
        })
        .collect()
}

/// The counters' names in a language (the English ones are the expression names).
pub fn counter_label(name: &str, lang: Lang) -> &str {
    if lang == Lang::En {
        return name;
    }
    match name {
        "descriptor_reads" => "Deskriptoren gelesen",
        "segment_loads" => "Segmentladevorgänge",
        "gate_reads" => "Gates gelesen",
        "tss_reads" => "TSS-Felder gelesen",
        "msr_reads" => "MSRs gelesen",
        "privilege_checks" => "Privilegprüfungen",
        "mem_reads" => "Lesezugriffe",
        "mem_writes" => "Schreibzugriffe",
        "read_bytes" => "Bytes gelesen",
        "write_bytes" => "Bytes geschrieben",
        "system_reads" => "System-Lesen",
        "system_writes" => "System-Schreiben",
        other => other,
    }
}

/// The comparison as a text table: a row per counter, for each path the entry
/// instruction, the return instruction and the whole round trip.
pub fn table(trips: &[(&str, Trip)], lang: Lang) -> String {
    let label_w = FIELDS
        .iter()
        .map(|(n, _)| counter_label(n, lang).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut head = format!("{:label_w$}", "");
    let mut sub = format!("{:label_w$}", "");
    let (inw, outw, trip) = match lang {
        Lang::En => ("in", "out", "trip"),
        Lang::De => ("ein", "aus", "Summe"),
    };
    for (title, _) in trips {
        head.push_str(&format!(" | {title:^17}"));
        sub.push_str(&format!(" | {inw:>5}{outw:>6}{trip:>6}"));
    }
    for line in [head, sub] {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for (name, read) in FIELDS {
        let mut row = format!("{:label_w$}", counter_label(name, lang));
        for (_, t) in trips {
            let (a, b, c) = (read(&t.entry), read(&t.exit), read(&t.round));
            row.push_str(&format!(" | {a:>5}{b:>6}{c:>6}"));
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    let mut steps = format!(
        "{:label_w$}",
        match lang {
            Lang::En => "steps",
            Lang::De => "Schritte",
        }
    );
    for (_, t) in trips {
        steps.push_str(&format!(" | {:>5}{:>6}{:>6}", 1, 1, t.steps));
    }
    out.push_str(&steps);
    out.push('\n');
    out.push_str(legend(lang));
    out
}

fn legend(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "\nin: the instruction that enters CPL 0; out: the one that returns to CPL 3;\n\
             trip: every step from the entry to the return, both included (kernel code too).\n\
             Counted by the engine (src/engine/cost.rs), not cycles.\n"
        }
        Lang::De => {
            "\nein: der Befehl, der CPL 0 betritt; aus: der, der nach CPL 3 zurückkehrt;\n\
             Summe: alle Schritte vom Eintritt bis zur Rückkehr, beide eingeschlossen\n\
             (auch der Kernelcode). Von der Engine gezählt (src/engine/cost.rs), keine Takte.\n"
        }
    }
}
