//! What the terminal can show: UTF-8 or only ASCII (TERM=dumb, or a locale that is not
//! UTF-8: LC_ALL, else LC_CTYPE, else LANG, as POSIX orders them), 256 colours or 16.
//! The screen is drawn as usual and then lowered, cell by cell, to what the terminal
//! can show: box drawing and markers become ASCII, 256-colour indexes the nearest of the
//! 16 basic colours.

use ratatui::buffer::Buffer;
use ratatui::style::Color;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// UTF-8 characters (box drawing, arrows) can be shown.
    pub unicode: bool,
    /// 256-colour escapes are understood.
    pub colors256: bool,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            unicode: true,
            colors256: true,
        }
    }
}

fn utf8_locale(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    v.contains("utf-8") || v.contains("utf8")
}

/// The capabilities for TERM, COLORTERM and the locale variables LC_ALL, LC_CTYPE, LANG.
pub fn caps_from(term: Option<&str>, colorterm: Option<&str>, locale: [Option<&str>; 3]) -> Caps {
    let term = term.unwrap_or("");
    let dumb = term.is_empty() || term == "dumb";
    // The first locale variable that is set and not empty decides; none means "C".
    let locale = locale.into_iter().flatten().find(|v| !v.is_empty());
    let unicode = !dumb && locale.is_some_and(utf8_locale);
    let truecolor = colorterm.is_some_and(|c| c == "truecolor" || c == "24bit");
    let wide = [
        "256color",
        "kitty",
        "alacritty",
        "wezterm",
        "foot",
        "ghostty",
    ];
    let colors256 = !dumb && (truecolor || wide.iter().any(|w| term.contains(w)));
    Caps { unicode, colors256 }
}

/// The capabilities of the terminal ringstep runs in, from the environment.
pub fn caps_from_env() -> Caps {
    let var = |k: &str| std::env::var(k).ok();
    let (term, colorterm) = (var("TERM"), var("COLORTERM"));
    let (all, ctype, lang) = (var("LC_ALL"), var("LC_CTYPE"), var("LANG"));
    caps_from(
        term.as_deref(),
        colorterm.as_deref(),
        [all.as_deref(), ctype.as_deref(), lang.as_deref()],
    )
}

/// An ASCII stand-in of the same width for a character of the viewer.
fn ascii(c: char) -> char {
    match c {
        '─' | '╌' => '-',
        '━' | '═' => '=',
        '│' | '┃' | '║' | '▕' | '▏' | '╎' => '|',
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╰' | '╯' => {
            '+'
        }
        '▶' | '→' | '»' | '›' => '>',
        '◀' | '←' | '«' | '‹' => '<',
        '▲' | '↑' => '^',
        '▼' | '↓' => 'v',
        '•' | '●' | '■' | '█' => '*',
        '✓' => '+',
        '✗' => 'x',
        '…' => '~',
        '⋮' => ':',
        '·' => '.',
        'ä' => 'a',
        'ö' => 'o',
        'ü' => 'u',
        'Ä' => 'A',
        'Ö' => 'O',
        'Ü' => 'U',
        'ß' => 's',
        c if c.is_ascii() => c,
        _ => '?',
    }
}

/// The nearest of the 16 basic colours to a 256-colour index or an RGB colour.
fn basic(c: Color) -> Color {
    let rgb = match c {
        Color::Indexed(n) if n < 16 => return c,
        Color::Indexed(n) if n >= 232 => {
            let v = 8 + 10 * (n - 232);
            (v, v, v)
        }
        Color::Indexed(n) => {
            let i = n - 16;
            let level = |k: u8| if k == 0 { 0 } else { 55 + 40 * k };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        Color::Rgb(r, g, b) => (r, g, b),
        other => return other,
    };
    let (r, g, b) = rgb;
    let bright = r.max(g).max(b) > 170;
    let on = |v: u8| v > 90;
    match (on(r), on(g), on(b), bright) {
        (false, false, false, _) => Color::Black,
        (true, false, false, false) => Color::Red,
        (true, false, false, true) => Color::LightRed,
        (false, true, false, false) => Color::Green,
        (false, true, false, true) => Color::LightGreen,
        (true, true, false, false) => Color::Yellow,
        (true, true, false, true) => Color::LightYellow,
        (false, false, true, false) => Color::Blue,
        (false, false, true, true) => Color::LightBlue,
        (true, false, true, false) => Color::Magenta,
        (true, false, true, true) => Color::LightMagenta,
        (false, true, true, false) => Color::Cyan,
        (false, true, true, true) => Color::LightCyan,
        (true, true, true, false) => Color::Gray,
        (true, true, true, true) => Color::White,
    }
}

/// Lower a drawn screen to what a terminal with `caps` can show.
pub fn lower(buf: &mut Buffer, caps: Caps) {
    if caps == Caps::default() {
        return;
    }
    for cell in buf.content.iter_mut() {
        if !caps.unicode && !cell.symbol().is_ascii() {
            let s: String = cell.symbol().chars().map(ascii).collect();
            cell.set_symbol(&s);
        }
        if !caps.colors256 {
            cell.fg = basic(cell.fg);
            cell.bg = basic(cell.bg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_terminal_and_the_locale_decide() {
        let utf = Some("en_US.UTF-8");
        assert_eq!(
            caps_from(Some("xterm-256color"), None, [None, None, utf]),
            Caps::default()
        );
        let c = caps_from(Some("dumb"), None, [None, None, utf]);
        assert!(!c.unicode && !c.colors256);
        let c = caps_from(Some("xterm-256color"), None, [None, None, Some("C")]);
        assert!(!c.unicode && c.colors256);
        // LC_ALL before LC_CTYPE before LANG; empty values do not count.
        let c = caps_from(Some("xterm-256color"), None, [Some("C"), None, utf]);
        assert!(!c.unicode);
        let c = caps_from(
            Some("xterm"),
            None,
            [Some(""), Some("de_DE.utf8"), Some("C")],
        );
        assert!(c.unicode && !c.colors256);
        assert!(!caps_from(Some("xterm-256color"), None, [None, None, None]).unicode);
        assert!(caps_from(Some("xterm"), Some("truecolor"), [None, None, utf]).colors256);
    }

    #[test]
    fn colours_map_to_the_basic_sixteen() {
        assert_eq!(basic(Color::Indexed(136)), Color::LightYellow);
        assert_eq!(basic(Color::Indexed(58)), Color::Yellow);
        assert_eq!(basic(Color::Indexed(196)), Color::LightRed);
        assert_eq!(basic(Color::Indexed(12)), Color::Indexed(12));
        assert_eq!(basic(Color::Cyan), Color::Cyan);
        assert_eq!(basic(Color::Rgb(0, 0, 0)), Color::Black);
    }
}
