//! Colours: the normal theme, a high-contrast theme for projectors, and a colourless
//! one (NO_COLOR) that marks things with bold, underline and reverse video only.

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThemeKind {
    Normal,
    HighContrast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub text: Style,
    pub dim: Style,
    /// Addresses beside values (stack slots, code lines): quieter than values, still legible.
    pub address: Style,
    pub title: Style,
    pub border: Style,
    /// Border of a pane the narrative points at.
    pub border_hl: Style,
    pub label: Style,
    pub header_user: Style,
    pub header_kernel: Style,
    pub current: Style,
    pub selected: Style,
    pub breakpoint: Style,
    /// A value the last step changed.
    pub changed: Style,
    /// The flash of a fresh change, strongest first.
    pub flash: [Style; 3],
    pub read: Style,
    pub write: Style,
    /// Something the narrative points at.
    pub highlight: Style,
    pub user: Style,
    pub kernel: Style,
    pub banner: Style,
    pub fault: Style,
    pub bold: Style,
    pub code: Style,
    pub question: Style,
    pub good: Style,
    pub bad: Style,
    pub status: Style,
    pub key: Style,
}

impl Theme {
    pub fn new(kind: ThemeKind, color: bool) -> Theme {
        let plain = Style::new();
        if !color {
            let b = Modifier::BOLD;
            return Theme {
                text: plain,
                dim: plain,
                address: plain,
                title: plain.add_modifier(b),
                border: plain,
                border_hl: plain.add_modifier(b),
                label: plain.add_modifier(b),
                header_user: plain.add_modifier(Modifier::UNDERLINED),
                header_kernel: plain.add_modifier(Modifier::UNDERLINED | b),
                current: plain.add_modifier(Modifier::REVERSED),
                selected: plain.add_modifier(Modifier::UNDERLINED),
                breakpoint: plain.add_modifier(b),
                changed: plain.add_modifier(b),
                flash: [
                    plain.add_modifier(Modifier::REVERSED | b),
                    plain.add_modifier(Modifier::REVERSED),
                    plain.add_modifier(b | Modifier::UNDERLINED),
                ],
                read: plain.add_modifier(Modifier::UNDERLINED),
                write: plain.add_modifier(b | Modifier::UNDERLINED),
                highlight: plain.add_modifier(b),
                user: plain,
                kernel: plain.add_modifier(b),
                banner: plain.add_modifier(Modifier::REVERSED | b),
                fault: plain.add_modifier(Modifier::REVERSED | b),
                bold: plain.add_modifier(b),
                code: plain.add_modifier(Modifier::UNDERLINED),
                question: plain.add_modifier(b),
                good: plain.add_modifier(b),
                bad: plain.add_modifier(b | Modifier::UNDERLINED),
                status: plain.add_modifier(Modifier::REVERSED),
                key: plain.add_modifier(b),
            };
        }
        match kind {
            ThemeKind::Normal => Theme {
                text: plain,
                // Not colour 8 (dark grey): on solarized-like dark palettes it is the
                // background colour. The faint attribute dims the terminal's own text colour.
                dim: plain.add_modifier(Modifier::DIM),
                address: plain.add_modifier(Modifier::DIM),
                title: plain.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                border: plain.add_modifier(Modifier::DIM),
                border_hl: plain.fg(Color::Yellow),
                label: plain.fg(Color::Magenta),
                header_user: plain.fg(Color::Green).add_modifier(Modifier::BOLD),
                header_kernel: plain.fg(Color::Red).add_modifier(Modifier::BOLD),
                current: plain.bg(Color::Blue).fg(Color::White),
                selected: plain.add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
                breakpoint: plain.fg(Color::Red).add_modifier(Modifier::BOLD),
                changed: plain.fg(Color::Yellow).add_modifier(Modifier::BOLD),
                flash: [
                    plain.bg(Color::Yellow).fg(Color::Black),
                    plain.bg(Color::Indexed(136)).fg(Color::Black),
                    plain.bg(Color::Indexed(58)).fg(Color::Yellow),
                ],
                read: plain.fg(Color::Cyan),
                write: plain.fg(Color::LightRed),
                highlight: plain.fg(Color::Yellow).add_modifier(Modifier::UNDERLINED),
                user: plain.fg(Color::Green),
                kernel: plain.fg(Color::Red),
                banner: plain
                    .bg(Color::Magenta)
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD),
                fault: plain
                    .bg(Color::Red)
                    .fg(Color::White)
                    .add_modifier(Modifier::BOLD),
                bold: plain.add_modifier(Modifier::BOLD),
                code: plain.fg(Color::LightCyan),
                question: plain.fg(Color::LightYellow).add_modifier(Modifier::BOLD),
                good: plain.fg(Color::Green).add_modifier(Modifier::BOLD),
                bad: plain.fg(Color::LightRed).add_modifier(Modifier::BOLD),
                status: plain.add_modifier(Modifier::REVERSED),
                key: plain.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            },
            ThemeKind::HighContrast => {
                let base = plain.bg(Color::Black).fg(Color::White);
                let b = Modifier::BOLD;
                Theme {
                    text: base,
                    dim: base,
                    address: base,
                    title: base.fg(Color::LightYellow).add_modifier(b),
                    border: base.fg(Color::White),
                    border_hl: base.fg(Color::LightYellow).add_modifier(b),
                    label: base.fg(Color::LightMagenta).add_modifier(b),
                    header_user: base.fg(Color::LightGreen).add_modifier(b),
                    header_kernel: base.fg(Color::LightRed).add_modifier(b),
                    current: plain.bg(Color::White).fg(Color::Black).add_modifier(b),
                    selected: base.add_modifier(Modifier::UNDERLINED | b),
                    breakpoint: base.fg(Color::LightRed).add_modifier(b),
                    changed: base.fg(Color::LightYellow).add_modifier(b),
                    flash: [
                        plain
                            .bg(Color::LightYellow)
                            .fg(Color::Black)
                            .add_modifier(b),
                        plain.bg(Color::Yellow).fg(Color::Black).add_modifier(b),
                        base.fg(Color::LightYellow)
                            .add_modifier(b | Modifier::UNDERLINED),
                    ],
                    read: base.fg(Color::LightCyan).add_modifier(b),
                    write: base.fg(Color::LightRed).add_modifier(b),
                    highlight: base
                        .fg(Color::LightYellow)
                        .add_modifier(b | Modifier::UNDERLINED),
                    user: base.fg(Color::LightGreen).add_modifier(b),
                    kernel: base.fg(Color::LightRed).add_modifier(b),
                    banner: plain
                        .bg(Color::LightYellow)
                        .fg(Color::Black)
                        .add_modifier(b),
                    fault: plain.bg(Color::LightRed).fg(Color::Black).add_modifier(b),
                    bold: base.add_modifier(b),
                    code: base.fg(Color::LightCyan).add_modifier(b),
                    question: base.fg(Color::LightYellow).add_modifier(b),
                    good: base.fg(Color::LightGreen).add_modifier(b),
                    bad: base.fg(Color::LightRed).add_modifier(b),
                    status: plain.bg(Color::White).fg(Color::Black).add_modifier(b),
                    key: base.fg(Color::LightCyan).add_modifier(b),
                }
            }
        }
    }
}

/// Colours are off when NO_COLOR is set to anything non-empty (no-color.org).
pub fn color_allowed(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}
