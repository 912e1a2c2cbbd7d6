//! The debugger's messages in the viewer's language. English is the `Display` form of
//! each value (what gdb's `monitor` prints too); German is written here, and what the
//! engine says about a fault (the reason with its SDM section) comes from `catalogue`.

use super::catalogue::in_lang;
use super::command::{Arrival, Output, Why};
use super::points::{Point, WatchValue};
use super::timeline::{Mark, TimelineEvent};
use crate::engine::fault::{vector_name, Exception, Link};
use crate::engine::StopReason;
use crate::lesson::Lang;

/// `:help` in German, line for line as `HELP`.
pub const HELP_DE: &[&str] = &[
    "break ADDR|SYMBOL[+OFF] [if REG OP WERT]    vor dem Befehl dort anhalten (OP: == != < <= > >=)",
    "delete [N]                                  Halte-/Beobachtungspunkt N löschen, oder alle",
    "watch mem ADDR[,LEN] | watch REG | watch msr NAME|0x174   nach einem Schritt anhalten, der ihn ändert",
    "until cpl | until fault                     laufen, bis sich die CPL ändert / eine Exception auftritt",
    "continue | reverse-continue                 vor / zurück bis zum nächsten Halte- oder Beobachtungspunkt",
    "step [N] | reverse-step [N] | next          einen Befehl vor / zurück; next überspringt Aufrufe",
    "goto N                                      zu Position N (N Befehle nach dem Anfang)",
    "set reg REG WERT                            ein Register hier ändern; der Lauf geht vom neuen Zustand weiter",
    "x/NF ADDR|REG|SYMBOL                        N Einheiten ausgeben: x (Hex und ASCII), b, h, w, g",
    "info break | info regs | info timeline      Haltepunkte, Register, Ringwechsel und Exceptions auflisten",
    "walk [ADDR] (pt)                            Seitentabellen-Walk von ADDR (sonst CR2 nach #PF, sonst RIP)",
    "explain                                     die Kette der Ereignisse hinter dem letzten Fault-Halt (#DF, Triple Fault)",
];

/// Why a movement ended, in `lang`.
pub fn why(w: &Why, lang: Lang) -> String {
    if lang == Lang::En {
        return w.to_string();
    }
    match w {
        Why::Done => "erledigt".into(),
        Why::Breakpoint(id) => format!("Haltepunkt {id}"),
        Why::Watch(h) => format!(
            "Beobachtungspunkt {} ({}) in Schritt {} geändert: {}",
            h.id,
            h.watch,
            h.step,
            watch_value(&h.value, lang)
        ),
        Why::CplChanged { from, to } => format!("CPL von {from} zu {to} gewechselt"),
        Why::Exception {
            vector,
            error_code,
            reason,
        } => {
            let code = error_code.map_or(String::new(), |c| format!(" Fehlercode {c:#x}"));
            let reason = in_lang(reason, lang);
            format!("{}{code} zugestellt: {reason}", vector_name(*vector))
        }
        Why::Stopped(s) => match &s.reason {
            StopReason::Fault(x) => format!("angehalten: {}", summary(x, lang)),
            StopReason::Unsupported(what) => {
                format!(
                    "angehalten: ringstep bildet `{}` nicht nach",
                    in_lang(what, lang)
                )
            }
            StopReason::End => "angehalten: Ende der Szene".into(),
            StopReason::Limit => "angehalten: Schrittgrenze".into(),
            StopReason::Halt => "angehalten: HLT".into(),
            StopReason::Exit(s) => format!("angehalten: Exit-Status {s}"),
        },
        Why::Limit => "Schrittgrenze erreicht".into(),
        Why::StartOfHistory => "Anfang des Verlaufs".into(),
    }
}

/// Where a movement ended and why, in `lang`.
pub fn arrival(a: &Arrival, lang: Lang) -> String {
    if lang == Lang::En {
        return a.to_string();
    }
    let label = a
        .label
        .as_ref()
        .map_or(String::new(), |l| format!(" <{l}>"));
    format!(
        "Position {} bei {:#x}{label}: {}",
        a.to,
        a.ip,
        why(&a.why, lang)
    )
}

fn watch_value(v: &WatchValue, lang: Lang) -> String {
    match (v, lang) {
        (WatchValue::Bytes { .. }, Lang::De) => v.to_string().replacen("at ", "bei ", 1),
        _ => v.to_string(),
    }
}

/// A breakpoint or watchpoint as listed, in `lang`.
pub fn point(p: &Point, lang: Lang) -> String {
    let s = p.to_string();
    if lang == Lang::En {
        return s;
    }
    // "3   break 0x..." / "4   watch ...": the command words stay (they are typed so).
    s.replacen(" if ", " wenn ", 1)
}

fn timeline_line(t: &TimelineEvent) -> String {
    let what = match &t.mark {
        Mark::Cpl { from, to } => format!("CPL {from} -> {to}"),
        Mark::Exception {
            vector, error_code, ..
        } => {
            let code = error_code.map_or(String::new(), |c| format!(" Fehlercode {c:#x}"));
            format!("Exception {}{code}", vector_name(*vector))
        }
        Mark::Interrupt { vector, source } => {
            format!("Interrupt {vector:#x} ({})", source.name())
        }
        Mark::Edit => "von Hand geändert".to_string(),
    };
    format!("Schritt {:<6} {:#x}  {what}", t.step, t.ip)
}

/// `#GP(0x402): reason` in `lang` (`Exception::summary` in English).
pub fn summary(x: &Exception, lang: Lang) -> String {
    if lang == Lang::En {
        return x.summary();
    }
    let code = x.error_code.map_or(String::new(), |c| format!("({c:#x})"));
    format!(
        "{}{code}: {}",
        vector_name(x.vector),
        in_lang(&x.reason, lang)
    )
}

/// One event of a fault chain on one line in `lang` (`Link::line` in English).
pub fn link_line(l: &Link, lang: Lang) -> String {
    if lang == Lang::En {
        return l.line();
    }
    let mut s = in_lang(&l.name(), lang);
    if let Some(code) = l.error_code {
        s.push_str(&format!("({code:#x})"));
    }
    s.push_str(": ");
    s.push_str(&in_lang(&l.reason, lang));
    if let Some(cr2) = l.cr2 {
        s.push_str(&format!(" [CR2={cr2:#x}]"));
    }
    s
}

/// A command's result, in `lang`.
pub fn output(o: &Output, lang: Lang) -> String {
    if lang == Lang::En {
        return o.to_string();
    }
    match o {
        Output::Moved(a) => arrival(a, lang),
        Output::Added(p) => point(p, lang),
        Output::Deleted(ids) if ids.is_empty() => "nichts zu löschen".into(),
        Output::Deleted(ids) => {
            let list: Vec<String> = ids.iter().map(u32::to_string).collect();
            format!("gelöscht: {}", list.join(", "))
        }
        Output::Points(ps) if ps.is_empty() => "keine Halte- oder Beobachtungspunkte".into(),
        Output::Points(ps) => {
            let lines: Vec<String> = ps.iter().map(|p| point(p, lang)).collect();
            lines.join("\n")
        }
        Output::RegSet { reg, old, new, at } => {
            format!("{reg} = {new:#x} (vorher {old:#x}) bei Position {at}")
        }
        Output::Timeline(ev) if ev.is_empty() => {
            "noch keine Ringwechsel, Exceptions oder Interrupts".into()
        }
        Output::Timeline(ev) => {
            let lines: Vec<String> = ev.iter().map(timeline_line).collect();
            lines.join("\n")
        }
        Output::Explain(None) => "noch kein Fault-Halt: `explain` zeigt die Kette der \
             Ereignisse hinter dem letzten Halt an einer Exception"
            .into(),
        Output::Explain(Some(s)) => {
            let mut out = format!("Fault-Halt bei {:#x}", s.ip);
            if let StopReason::Fault(x) = &s.reason {
                out.push_str(&format!(": {}", summary(x, lang)));
            }
            for (n, link) in s.chain().iter().enumerate() {
                out.push_str(&format!("\n  {}. {}", n + 1, link_line(link, lang)));
            }
            out
        }
        Output::Help => HELP_DE.join("\n"),
        Output::Regs(_) | Output::Dump(_) | Output::Walk(_) => o.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debug::spec::HELP;

    #[test]
    fn the_german_help_has_a_line_for_every_command() {
        assert_eq!(HELP_DE.len(), HELP.len());
        for (en, de) in HELP.iter().zip(HELP_DE) {
            let cmd = |s: &str| s.split_whitespace().next().map(str::to_string);
            assert_eq!(cmd(en), cmd(de));
        }
    }

    #[test]
    fn german_movements() {
        let a = Arrival {
            from: 0,
            to: 7,
            ip: 0xc0102000,
            label: Some("sysenter_entry".into()),
            why: Why::CplChanged { from: 3, to: 0 },
        };
        assert_eq!(
            arrival(&a, Lang::De),
            "Position 7 bei 0xc0102000 <sysenter_entry>: CPL von 3 zu 0 gewechselt"
        );
        assert_eq!(arrival(&a, Lang::En), a.to_string());
        assert_eq!(
            output(&Output::Deleted(vec![]), Lang::De),
            "nichts zu löschen"
        );
    }
}
