//! The language and disassembly syntax a command asks for: the `--lang` and `--syntax`
//! values every command shares, and the language taken from the locale without one.

use clap::ValueEnum;

use super::Lang;
use crate::disasm::Syntax;

/// A `--lang` value.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    En,
    De,
}

/// A `--syntax` value.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SyntaxArg {
    Att,
    Intel,
}

/// The language: `--lang`, else the locale (LC_ALL, LC_MESSAGES, LANG), else English.
pub fn lang_of(arg: Option<LangArg>) -> Lang {
    match arg {
        Some(LangArg::En) => Lang::En,
        Some(LangArg::De) => Lang::De,
        None => {
            let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
                .iter()
                .filter_map(|v| std::env::var(v).ok())
                .find(|v| !v.is_empty());
            Lang::from_locale(locale.as_deref())
        }
    }
}

/// The syntax: `--syntax`, else AT&T (the syntax of the kernel's .S files).
pub fn syntax_of(arg: Option<SyntaxArg>) -> Syntax {
    match arg {
        Some(SyntaxArg::Intel) => Syntax::Intel,
        Some(SyntaxArg::Att) | None => Syntax::Att,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_choice_wins_over_the_locale() {
        assert_eq!(lang_of(Some(LangArg::De)), Lang::De);
        assert_eq!(lang_of(Some(LangArg::En)), Lang::En);
        assert_eq!(syntax_of(Some(SyntaxArg::Intel)), Syntax::Intel);
        assert_eq!(syntax_of(None), Syntax::Att);
    }
}
