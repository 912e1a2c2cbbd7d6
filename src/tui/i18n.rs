//! The user interface's own words in English and German (lesson texts come from the
//! lessons).

use super::snapshot::Banner;
use super::timeline::{FrameSlot, Writer};
use crate::lesson::Lang;

/// Words of the interface.
pub struct Words {
    pub code: &'static str,
    pub registers: &'static str,
    pub privilege: &'static str,
    pub msrs: &'static str,
    pub stacks: &'static str,
    pub user_stack: &'static str,
    pub kernel_stack: &'static str,
    pub narrative: &'static str,
    pub sources: &'static str,
    pub question: &'static str,
    pub help_title: &'static str,
    pub picker_title: &'static str,
    pub step: &'static str,
    pub scene: &'static str,
    pub next: &'static str,
    pub empty: &'static str,
    pub stale: &'static str,
    pub not_on_stack: &'static str,
    pub task: &'static str,
    pub context: &'static str,
    pub no_task: &'static str,
    pub correct: &'static str,
    pub wrong: &'static str,
    pub engine_says: &'static str,
    pub your_answer: &'static str,
    pub press_choice: &'static str,
    pub press_type: &'static str,
    pub typing: &'static str,
    pub autoplay: &'static str,
    pub autoplay_paused: &'static str,
    pub autoplay_question: &'static str,
    pub end_of_lesson: &'static str,
    pub help_hint: &'static str,
    pub too_small: &'static str,
    pub too_small_hint: &'static str,
    pub more_above: &'static str,
    pub read: &'static str,
    pub written: &'static str,
    pub breakpoint_set: &'static str,
    pub breakpoint_cleared: &'static str,
    pub points_cleared: &'static str,
    pub no_line: &'static str,
    pub no_question: &'static str,
    pub not_a_value: &'static str,
    pub hidden_panes: &'static str,
    pub mouse_hint: &'static str,
    pub memory: &'static str,
    pub gdt: &'static str,
    pub idt: &'static str,
    pub tss: &'static str,
    pub points: &'static str,
    pub output: &'static str,
    pub timeline: &'static str,
    pub position: &'static str,
    pub end_of_run: &'static str,
    pub memory_at: &'static str,
    pub no_more_events: &'static str,
    pub alt_needs_load: &'static str,
    pub no_alternatives: &'static str,
    pub alt_none: &'static str,
    pub alt_applied: &'static str,
    pub following: &'static str,
    pub fixed: &'static str,
    pub not_present: &'static str,
    pub no_tss: &'static str,
    pub no_points: &'static str,
    pub edits: &'static str,
    pub candidates: &'static str,
    pub used_by: &'static str,
    pub no_iomap: &'static str,
    pub iomap: &'static str,
    pub upper_half: &'static str,
    pub null_entry: &'static str,
    pub empty_slots: &'static str,
    pub inspector_keys: &'static str,
}

const EN: Words = Words {
    code: "Code",
    registers: "Registers",
    privilege: "Privilege",
    msrs: "MSRs",
    stacks: "Stacks",
    user_stack: "user stack",
    kernel_stack: "kernel stack",
    narrative: "Narrative",
    sources: "Sources",
    question: "Question",
    help_title: "Keys",
    picker_title: "Lessons",
    step: "step",
    scene: "scene",
    next: "next",
    empty: "(empty)",
    stale: "left over; the next entry starts again at TSS.esp0",
    not_on_stack: "ESP is not on this stack:",
    task: "task",
    context: "context",
    no_task: "no task model",
    correct: "correct",
    wrong: "not quite",
    engine_says: "the engine computes",
    your_answer: "your answer",
    press_choice: "press a number to answer",
    press_type: "press a (or a digit) to type an answer",
    typing: "answer",
    autoplay: "autoplay",
    autoplay_paused: "autoplay paused",
    autoplay_question: "autoplay waits for your answer",
    end_of_lesson: "end of the lesson",
    help_hint: "help",
    too_small: "ringstep needs a terminal of at least 80x24.",
    too_small_hint: "Make the window larger; press q to quit.",
    more_above: "more above",
    read: "read",
    written: "written",
    breakpoint_set: "breakpoint set at",
    breakpoint_cleared: "breakpoint cleared at",
    points_cleared: "another lesson: its breakpoints and watchpoints were cleared",
    no_line: "select an instruction line first (up/down or click)",
    no_question: "there is no question at this step",
    not_a_value: "not a value: write hex as 0x..., decimal, or a symbol",
    hidden_panes: "tab: more panes",
    mouse_hint: "",
    memory: "Memory",
    gdt: "GDT",
    idt: "IDT",
    tss: "TSS",
    points: "Breakpoints and watchpoints",
    output: "Output",
    timeline: "timeline",
    position: "position",
    end_of_run: "end of the recorded run",
    memory_at: "memory at",
    no_more_events: "no further privilege change, exception or interrupt in this direction",
    alt_needs_load: "alt: only for loaded code (ringstep run --elf FILE)",
    no_alternatives: "the loaded file has no alternatives",
    alt_none: "loaded again without alternatives",
    alt_applied: "loaded again with alternative",
    following: "follows",
    fixed: "fixed address",
    not_present: "not present",
    no_tss: "TR holds a null selector: no TSS",
    no_points: "no breakpoints or watchpoints; set them with :break, :watch or b",
    edits: "set by hand",
    candidates: "tab",
    used_by: "in",
    no_iomap: "no I/O bitmap (map base at or beyond the limit)",
    iomap: "I/O bitmap",
    upper_half: "upper half of entry",
    null_entry: "null descriptor",
    empty_slots: "all zero",
    inspector_keys: "pgup/pgdn scroll, esc close",
};

const DE: Words = Words {
    code: "Code",
    registers: "Register",
    privilege: "Privilegien",
    msrs: "MSRs",
    stacks: "Stapel",
    user_stack: "Benutzerstapel",
    kernel_stack: "Kernelstapel",
    narrative: "Erzählung",
    sources: "Quellen",
    question: "Frage",
    help_title: "Tasten",
    picker_title: "Lektionen",
    step: "Schritt",
    scene: "Szene",
    next: "nächster",
    empty: "(leer)",
    stale: "übrig geblieben; der nächste Eintritt beginnt wieder bei TSS.esp0",
    not_on_stack: "ESP liegt nicht auf diesem Stapel:",
    task: "Task",
    context: "Kontext",
    no_task: "kein Taskmodell",
    correct: "richtig",
    wrong: "nicht ganz",
    engine_says: "die Engine berechnet",
    your_answer: "Ihre Antwort",
    press_choice: "Zahl drücken zum Antworten",
    press_type: "a (oder eine Ziffer) drücken, um eine Antwort zu tippen",
    typing: "Antwort",
    autoplay: "Autoplay",
    autoplay_paused: "Autoplay angehalten",
    autoplay_question: "Autoplay wartet auf Ihre Antwort",
    end_of_lesson: "Ende der Lektion",
    help_hint: "Hilfe",
    too_small: "ringstep braucht ein Terminal von mindestens 80x24.",
    too_small_hint: "Bitte das Fenster vergrößern; q beendet.",
    more_above: "weitere darüber",
    read: "gelesen",
    written: "geschrieben",
    breakpoint_set: "Haltepunkt gesetzt bei",
    breakpoint_cleared: "Haltepunkt gelöscht bei",
    points_cleared: "andere Lektion: ihre Halte- und Beobachtungspunkte wurden gelöscht",
    no_line: "zuerst eine Befehlszeile wählen (hoch/runter oder Klick)",
    no_question: "bei diesem Schritt gibt es keine Frage",
    not_a_value: "kein Wert: hex als 0x..., dezimal oder ein Symbol",
    hidden_panes: "Tab: weitere Bereiche",
    mouse_hint: "",
    memory: "Speicher",
    gdt: "GDT",
    idt: "IDT",
    tss: "TSS",
    points: "Halte- und Beobachtungspunkte",
    output: "Ausgabe",
    timeline: "Zeitleiste",
    position: "Position",
    end_of_run: "Ende des aufgezeichneten Laufs",
    memory_at: "Speicher bei",
    no_more_events: "keine weiteren Ringwechsel, Ausnahmen oder Unterbrechungen in dieser Richtung",
    alt_needs_load: "alt: nur für geladenen Code (ringstep run --elf DATEI)",
    no_alternatives: "die geladene Datei hat keine Alternativen",
    alt_none: "ohne Alternativen neu geladen",
    alt_applied: "neu geladen mit Alternative",
    following: "folgt",
    fixed: "feste Adresse",
    not_present: "nicht vorhanden",
    no_tss: "TR enthält einen Null-Selektor: kein TSS",
    no_points: "keine Halte- oder Beobachtungspunkte; setzen mit :break, :watch oder b",
    edits: "von Hand gesetzt",
    candidates: "Tab",
    used_by: "in",
    no_iomap: "keine E/A-Bitmap (Basis am oder hinter dem Limit)",
    iomap: "E/A-Bitmap",
    upper_half: "obere Hälfte von Eintrag",
    null_entry: "Null-Deskriptor",
    empty_slots: "alles null",
    inspector_keys: "Bild↑/↓ rollen, Esc schließt",
};

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// The banner on a change of CPL or task.
pub fn banner(lang: Lang, b: &Banner) -> String {
    match (lang, b) {
        (Lang::En, Banner::ModeTransition { from, to }) => {
            format!("mode transition, ring {from} -> ring {to}, PID unchanged")
        }
        (Lang::De, Banner::ModeTransition { from, to }) => {
            format!("Moduswechsel, Ring {from} -> Ring {to}, PID unverändert")
        }
        (Lang::En, Banner::ContextSwitch { from, to, cpl }) => match cpl {
            Some((a, b)) => format!("context switch, PID {from} -> {to} (ring {a} -> ring {b})"),
            None => format!("context switch, PID {from} -> {to}"),
        },
        (Lang::De, Banner::ContextSwitch { from, to, cpl }) => match cpl {
            Some((a, b)) => format!("Kontextwechsel, PID {from} -> {to} (Ring {a} -> Ring {b})"),
            None => format!("Kontextwechsel, PID {from} -> {to}"),
        },
    }
}

/// What a stack slot's writer means.
pub fn writer(lang: Lang, w: &Writer, att: bool) -> String {
    let reg = |r: &str| if att { format!("%{r}") } else { r.to_string() };
    match (lang, w) {
        (Lang::En, Writer::SavedReg(r)) => format!("saved {}", reg(r)),
        (Lang::De, Writer::SavedReg(r)) => format!("gesichertes {}", reg(r)),
        (Lang::En, Writer::PushedImm(v)) => format!("pushed {v:#x}"),
        (Lang::De, Writer::PushedImm(v)) => format!("abgelegt {v:#x}"),
        (Lang::En, Writer::SavedFlags) => "saved EFLAGS".into(),
        (Lang::De, Writer::SavedFlags) => "gesicherte EFLAGS".into(),
        (Lang::En, Writer::ReturnAddress) => "return address".into(),
        (Lang::De, Writer::ReturnAddress) => "Rücksprungadresse".into(),
        (Lang::En, Writer::StoredReg(r)) => format!("stored {}", reg(r)),
        (Lang::De, Writer::StoredReg(r)) => format!("gespeichertes {}", reg(r)),
        (_, Writer::Other(m)) => m.clone(),
        (lang, Writer::CpuFrame(f)) => {
            let (en, de) = match f {
                FrameSlot::ErrorCode => ("CPU: error code", "CPU: Fehlercode"),
                FrameSlot::Ip => ("CPU: saved EIP", "CPU: gesichertes EIP"),
                FrameSlot::Cs => ("CPU: saved CS", "CPU: gesichertes CS"),
                FrameSlot::Flags => ("CPU: saved EFLAGS", "CPU: gesicherte EFLAGS"),
                FrameSlot::Sp => ("CPU: user ESP", "CPU: Benutzer-ESP"),
                FrameSlot::Ss => ("CPU: user SS", "CPU: Benutzer-SS"),
            };
            match lang {
                Lang::En => en.into(),
                Lang::De => de.into(),
            }
        }
    }
}

/// A short form of `writer` for narrow stack columns: what was saved, without the verb.
pub fn writer_short(lang: Lang, w: &Writer, att: bool) -> String {
    let reg = |r: &str| if att { format!("%{r}") } else { r.to_string() };
    match (lang, w) {
        (_, Writer::SavedReg(r)) | (_, Writer::StoredReg(r)) => reg(r),
        (_, Writer::PushedImm(v)) => format!("{v:#x}"),
        (_, Writer::SavedFlags) => "EFLAGS".into(),
        (Lang::En, Writer::ReturnAddress) => "ret addr".into(),
        (Lang::De, Writer::ReturnAddress) => "Rücksprung".into(),
        (_, Writer::Other(m)) => m.clone(),
        (lang, Writer::CpuFrame(f)) => {
            let s = match f {
                FrameSlot::ErrorCode if lang == Lang::De => "Fehlercode",
                FrameSlot::ErrorCode => "error code",
                FrameSlot::Ip => "EIP",
                FrameSlot::Cs => "CS",
                FrameSlot::Flags => "EFLAGS",
                FrameSlot::Sp => "ESP",
                FrameSlot::Ss => "SS",
            };
            s.into()
        }
    }
}

/// The context's name.
pub fn context(lang: Lang, c: crate::scenario::Context) -> &'static str {
    use crate::scenario::Context as C;
    match (lang, c) {
        (Lang::En, c) => c.name(),
        (Lang::De, C::User) => "Benutzer",
        (Lang::De, C::Process) => "Prozess",
        (Lang::De, C::Interrupt) => "Interrupt",
    }
}
