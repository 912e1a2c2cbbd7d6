//! Completion for the command line: command words, registers, MSR names, symbols and
//! the fixed words of each command, chosen by where the cursor is in the command.

use crate::machine::{msr, Symbols};

use super::regs;
use super::spec::{command_name, COMMANDS, INFO_SUBJECTS};

/// The word being completed and its candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset in the line where the word being completed starts.
    pub start: usize,
    /// Candidates for that word, sorted, without duplicates.
    pub words: Vec<String>,
}

impl Completion {
    /// The longest prefix every candidate shares (what a Tab press can insert at once).
    pub fn common_prefix(&self) -> String {
        let Some(first) = self.words.first() else {
            return String::new();
        };
        let mut len = first.len();
        for w in &self.words[1..] {
            len = first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map_or(0, |((i, a), _)| (i + a.len_utf8()).min(len));
        }
        first[..len].to_string()
    }
}

/// What kind of word the cursor is on.
enum Want {
    Nothing,
    Fixed(Vec<&'static str>),
    Registers,
    /// The registers `set reg` accepts on this machine.
    Settable,
    Msrs,
    /// Symbols and registers (a value).
    Values,
    Symbols,
}

/// Complete the last word of `prefix` (the text before the cursor) for a machine with
/// `symbols` that runs 64-bit code (`long`) or not. Returns whole lines: `prefix` with
/// its last word replaced by each candidate.
pub fn complete(prefix: &str, symbols: &Symbols, long: bool) -> Vec<String> {
    let c = completion(prefix, symbols, long);
    c.words
        .iter()
        .map(|w| format!("{}{w}", &prefix[..c.start]))
        .collect()
}

/// Complete the last word of `prefix`, returning where that word starts and the
/// candidates for it.
pub fn completion(prefix: &str, symbols: &Symbols, long: bool) -> Completion {
    let word_start = prefix.rfind(char::is_whitespace).map_or(0, |i| {
        i + prefix[i..].chars().next().map_or(1, char::len_utf8)
    });
    let before: Vec<&str> = prefix[..word_start].split_whitespace().collect();
    let word = &prefix[word_start..];
    let want = want(&before);
    // Inside a value, complete after the last operator (`sym+`, `mem a,`).
    let start = match want {
        Want::Values => word
            .rfind(['+', '-', ',', '='])
            .map_or(word_start, |i| word_start + i + 1),
        _ => word_start,
    };
    let part = &prefix[start..];
    let lower = part.to_ascii_lowercase();
    let matches = |c: &str| c.to_ascii_lowercase().starts_with(&lower);
    let mut words: Vec<String> = match want {
        Want::Nothing => Vec::new(),
        Want::Fixed(list) => list
            .into_iter()
            .filter(|w| matches(w))
            .map(String::from)
            .collect(),
        Want::Registers => reg_words(part, regs::names()),
        Want::Settable => reg_words(part, regs::settable_names(long)),
        Want::Msrs => msr::KNOWN
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| matches(n) || matches(&n[5..]))
            .map(|n| {
                if matches(n) {
                    n.to_string()
                } else {
                    n[5..].to_string()
                }
            })
            .collect(),
        Want::Symbols => symbols
            .names()
            .filter(|n| n.starts_with(part))
            .map(String::from)
            .collect(),
        Want::Values => {
            let mut v: Vec<String> = symbols
                .names()
                .filter(|n| n.starts_with(part))
                .map(String::from)
                .collect();
            // Registers only once something is typed: an empty value lists symbols.
            if !part.is_empty() {
                v.extend(reg_words(part, regs::names()));
            }
            v
        }
    };
    words.sort();
    words.dedup();
    Completion { start, words }
}

/// The names of `regs` matching `part`, keeping a `%` or `$` the user typed.
fn reg_words(part: &str, regs: impl Iterator<Item = &'static str>) -> Vec<String> {
    let (sigil, name) = match part.chars().next() {
        Some(c @ ('%' | '$')) => (c.to_string(), &part[1..]),
        _ => (String::new(), part),
    };
    let lower = name.to_ascii_lowercase();
    regs.filter(|r| r.starts_with(&lower))
        .map(|r| format!("{sigil}{r}"))
        .collect()
}

fn want(before: &[&str]) -> Want {
    let Some(first) = before.first() else {
        return Want::Fixed(COMMANDS.iter().map(|(n, _)| *n).collect());
    };
    let lower = first.to_ascii_lowercase();
    if lower == "x" || lower.starts_with("x/") {
        return if before.len() == 1 {
            Want::Values
        } else {
            Want::Nothing
        };
    }
    let n = before.len();
    match command_name(&lower) {
        Some("break") => {
            let if_at = before.iter().position(|w| w.eq_ignore_ascii_case("if"));
            match (n, if_at) {
                (1, _) => Want::Symbols,
                (2, None) => Want::Fixed(vec!["if"]),
                (_, Some(i)) if n == i + 1 => Want::Registers,
                (_, Some(i)) if n == i + 2 => Want::Fixed(vec!["==", "!=", "<", "<=", ">", ">="]),
                (_, Some(i)) if n == i + 3 => Want::Values,
                _ => Want::Nothing,
            }
        }
        Some("watch") => match n {
            1 => {
                // `mem`, `msr` and the registers.
                Want::Fixed(
                    ["mem", "msr"]
                        .into_iter()
                        .chain(regs::names().filter(|r| !matches!(*r, "rip" | "eip" | "ip")))
                        .collect(),
                )
            }
            2 if before[1].eq_ignore_ascii_case("msr") => Want::Msrs,
            2 if before[1].eq_ignore_ascii_case("mem") => Want::Values,
            _ => Want::Nothing,
        },
        Some("until") if n == 1 => Want::Fixed(vec!["cpl", "fault"]),
        Some("walk") if n == 1 => Want::Values,
        Some("info") if n == 1 => Want::Fixed(INFO_SUBJECTS.iter().map(|(s, _)| *s).collect()),
        Some("set") => match n {
            1 => Want::Fixed(vec!["reg"]),
            2 => Want::Settable,
            3 => Want::Values,
            _ => Want::Nothing,
        },
        _ => Want::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms() -> Symbols {
        let mut s = Symbols::new();
        s.insert("sysenter_entry", 0xc010_0000);
        s.insert("sysenter_past_esp", 0xc010_0008);
        s.insert("syscall_call", 0xc010_0040);
        s
    }

    fn complete_32(prefix: &str, s: &Symbols) -> Vec<String> {
        complete(prefix, s, false)
    }

    fn completion_32(prefix: &str, s: &Symbols) -> Completion {
        completion(prefix, s, false)
    }

    #[test]
    fn commands_symbols_registers_and_msrs() {
        let s = syms();
        assert_eq!(
            complete_32("rev", &s),
            vec!["reverse-continue", "reverse-step"]
        );
        assert_eq!(
            complete_32("break sysenter_", &s),
            vec!["break sysenter_entry", "break sysenter_past_esp"]
        );
        assert_eq!(complete_32("watch ea", &s), vec!["watch eax"]);
        assert_eq!(
            complete_32("watch msr IA32_SYSENTER_E", &s),
            vec!["watch msr IA32_SYSENTER_EIP", "watch msr IA32_SYSENTER_ESP"]
        );
        assert_eq!(complete_32("watch msr star", &s), vec!["watch msr STAR"]);
        assert_eq!(
            complete_32("x/16x %es", &s),
            vec!["x/16x %es", "x/16x %esi", "x/16x %esp"]
        );
        assert_eq!(
            complete_32("break syscall_call if ed", &s),
            vec!["break syscall_call if edi", "break syscall_call if edx"]
        );
        assert_eq!(
            complete_32("x/4w sysenter_entry+sysc", &s),
            vec!["x/4w sysenter_entry+syscall_call"]
        );
        assert_eq!(complete_32("until ", &s), vec!["until cpl", "until fault"]);
        assert!(complete_32("goto 1", &s).is_empty());
        let c = completion_32("break sys", &s);
        assert_eq!(c.start, 6);
        assert_eq!(c.common_prefix(), "sys");
        assert_eq!(
            completion_32("break sysenter_p", &s).common_prefix(),
            "sysenter_past_esp"
        );
    }
}
