//! Drawing: `view` reads the model and renders every pane; it never changes state.

use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{Model, Overlay, ANIM_MS};
use super::i18n::{self, Words};
use super::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use super::panes;
use super::theme::Theme;

/// What every pane needs while drawing.
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub theme: Theme,
    pub words: &'static Words,
    /// The style of a fresh change while it flashes; None when nothing flashes.
    pub flash: Option<Style>,
    /// How far the animation has run, 0.0 ..= 1.0 (1.0 when none runs).
    pub progress: f64,
    /// Names the current narrative step points at (`esp`, `stack.user`, `msrs`).
    pub highlights: Vec<String>,
}

impl Ctx<'_> {
    /// The style of a value the last step changed.
    pub fn changed(&self) -> Style {
        self.flash.unwrap_or(self.theme.changed)
    }

    pub fn highlighted(&self, name: &str) -> bool {
        self.highlights.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// `block` for a pane drawn in `area`: a title too long for its top border is cut
    /// with an ellipsis instead of running into the corner.
    pub fn block_in(&self, title: String, hl: bool, area: Rect) -> Block<'static> {
        let room = area.width.saturating_sub(4) as usize;
        self.block(panes::fit(&title, room), hl)
    }

    /// A bordered pane with a title; highlighted when the narrative points at it.
    pub fn block(&self, title: String, hl: bool) -> Block<'static> {
        let border = if hl {
            self.theme.border_hl
        } else {
            self.theme.border
        };
        Block::new()
            .borders(Borders::ALL)
            .border_style(border)
            .style(self.theme.text)
            .title(Span::styled(format!(" {title} "), self.theme.title))
    }
}

pub fn context(model: &Model) -> Ctx<'_> {
    let theme = Theme::new(model.theme, model.color);
    let (flash, progress) = match model.anim {
        Some(a) => {
            let t = model.now_ms.saturating_sub(a.start_ms);
            let p = (t as f64 / ANIM_MS as f64).min(1.0);
            let i = ((t * 3) / ANIM_MS).min(2) as usize;
            (Some(theme.flash[i]), p)
        }
        None => (None, 1.0),
    };
    let highlights = model
        .current_step()
        .and_then(|s| model.scene().and_then(|sc| sc.steps.get(s)))
        .map(|s| s.highlight.clone())
        .unwrap_or_default();
    Ctx {
        model,
        theme,
        words: i18n::words(model.lang),
        flash,
        progress,
        highlights,
    }
}

/// Draw the whole screen.
pub fn view(model: &Model, f: &mut Frame) {
    let area = f.area();
    let ctx = context(model);
    f.render_widget(Block::new().style(ctx.theme.text), area);
    let p = if (area.width, area.height) == model.size {
        model.panes()
    } else {
        layout::panes_with(area, model.aux, model.debug.inspector.is_some())
    };
    if p.too_small {
        too_small(&ctx, f, area);
        super::degrade::lower(f.buffer_mut(), model.caps);
        return;
    }
    panes::header(&ctx, f, p.header, p.compact);
    if let Some(r) = p.code {
        panes::code::render(&ctx, f, r);
    }
    if let Some(r) = p.regs {
        panes::regs::render(&ctx, f, r, p.compact);
    }
    if let Some(r) = p.privilege {
        panes::privilege::render(&ctx, f, r);
    }
    if let Some(r) = p.msrs {
        panes::msrs::render(&ctx, f, r);
    }
    if let Some(r) = p.stacks {
        panes::stacks::render(&ctx, f, r);
    }
    if let Some(r) = p.narrative {
        // A booted kernel's console, below the narrative when there is room.
        let console = panes::console::HEIGHT;
        if model.run.played.engine.machine().dev.attached && r.height >= 2 * console {
            let (top, bottom) = (
                Rect {
                    height: r.height - console,
                    ..r
                },
                Rect {
                    y: r.y + r.height - console,
                    height: console,
                    ..r
                },
            );
            panes::narrative::render(&ctx, f, top);
            panes::console::render(&ctx, f, bottom);
        } else {
            panes::narrative::render(&ctx, f, r);
        }
    }
    if let Some(r) = p.inspector {
        use super::inspect::Inspector;
        match model.debug.inspector {
            Some(Inspector::Memory) => panes::memory::render(&ctx, f, r),
            Some(Inspector::Gdt) => panes::tables::gdt(&ctx, f, r),
            Some(Inspector::Idt) => panes::tables::idt(&ctx, f, r),
            Some(Inspector::Tss) => panes::tables::tss(&ctx, f, r),
            Some(Inspector::PageTables) => panes::tables::page_tables(&ctx, f, r),
            Some(Inspector::Points) => panes::points::points(&ctx, f, r),
            Some(Inspector::Output) | None => panes::points::output(&ctx, f, r),
        }
    }
    if let Some(r) = p.timeline {
        panes::timeline_strip::render(&ctx, f, r);
    }
    panes::status(&ctx, f, p.status, p.compact);
    match &model.overlay {
        Overlay::None => {}
        Overlay::Help => panes::overlay::help(&ctx, f, area),
        Overlay::Glossary(shown) => panes::glossary::draw(&ctx, f, *shown),
        Overlay::Cost => panes::cost::draw(&ctx, f),
        Overlay::Picker { selected } => panes::overlay::picker(&ctx, f, area, *selected),
    }
    super::degrade::lower(f.buffer_mut(), model.caps);
}

fn too_small(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let w = ctx.words;
    let lines = vec![
        Line::styled(w.too_small, ctx.theme.bold),
        Line::raw(format!(
            "{}x{} < {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::raw(w.too_small_hint),
    ];
    let h = 3.min(area.height);
    let y = area.y + area.height.saturating_sub(h) / 2;
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .style(ctx.theme.text),
        Rect::new(area.x, y, area.width, area.height - (y - area.y)),
    );
}
