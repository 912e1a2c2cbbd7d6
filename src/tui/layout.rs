//! Where the panes go, as a pure function of the terminal size, so that drawing and
//! mouse handling agree. Below 120x36 a compact layout shows the code, one other pane
//! (Tab cycles through registers, privilege, stacks and MSRs) and the narrative; below
//! 80x24 there is only a message. A one-row timeline strip sits above the status line;
//! an open inspector (memory, GDT, IDT, TSS, breakpoints, command output) takes the
//! place of the stacks and narrative (compact layout: of the narrative).

use ratatui::layout::{Constraint, Layout, Rect};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// From this size on, every pane is shown.
pub const FULL_WIDTH: u16 = 120;
pub const FULL_HEIGHT: u16 = 36;
/// Panes the compact layout cycles through.
pub const AUX_PANES: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Panes {
    pub too_small: bool,
    pub compact: bool,
    pub header: Rect,
    pub status: Rect,
    pub code: Option<Rect>,
    pub regs: Option<Rect>,
    pub privilege: Option<Rect>,
    pub msrs: Option<Rect>,
    pub stacks: Option<Rect>,
    pub narrative: Option<Rect>,
    pub timeline: Option<Rect>,
    pub inspector: Option<Rect>,
}

pub fn inside(r: Rect, col: u16, row: u16) -> bool {
    col >= r.x && col < r.x + r.width && row >= r.y && row < r.y + r.height
}

/// The panes for a terminal of `area`, without an inspector.
pub fn panes(area: Rect, aux: usize) -> Panes {
    panes_with(area, aux, false)
}

/// What the panes' content asks for, measured from the model (src/tui/needs.rs), in
/// rows and columns including borders. Zero means "unknown": fixed shares are used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Rows of the top row: the registers, or privilege and MSRs, whichever is taller.
    pub top_rows: u16,
    /// Rows of the MSR pane, and of the privilege pane (the MSR pane gets the rest).
    pub msr_rows: u16,
    pub privilege_rows: u16,
    /// Columns of the code pane's longest instruction line (without bytes or comment).
    pub code_cols: u16,
    /// Columns of the registers pane and of the privilege/MSR column.
    pub regs_cols: u16,
    pub right_cols: u16,
    /// Columns of the stacks pane with the two stacks side by side, and one above the
    /// other, each with every value and label in full.
    pub stacks_two: u16,
    pub stacks_one: u16,
    /// Rows the narrative wants (text and question) at the width it gets, and whether
    /// a question is among them (the compact layout grows the narrative only for one).
    pub narrative_rows: u16,
    pub question: bool,
}

/// The panes for a terminal of `area`, with an inspector when `inspector`.
pub fn panes_with(area: Rect, aux: usize, inspector: bool) -> Panes {
    panes_for(area, aux, inspector, &Needs::default())
}

/// The panes for a terminal of `area` laid out for content that needs `n`.
pub fn panes_for(area: Rect, aux: usize, inspector: bool, n: &Needs) -> Panes {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return Panes {
            too_small: true,
            ..Panes::default()
        };
    }
    let [header, body, timeline, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let mut p = Panes {
        header,
        status,
        timeline: Some(timeline),
        ..Panes::default()
    };
    if area.width < FULL_WIDTH || area.height < FULL_HEIGHT {
        compact(&mut p, body, aux, inspector, n);
    } else {
        full(&mut p, body, inspector, n);
    }
    p
}

/// Below 120x36: code and one other pane above, the narrative below, as tall as its
/// text and question want when it asks one (the code keeps at least 8 rows).
fn compact(p: &mut Panes, body: Rect, aux: usize, inspector: bool, n: &Needs) {
    p.compact = true;
    let share = body.height * 42 / 100;
    let bottom_h = if inspector || n.narrative_rows == 0 || !n.question {
        share
    } else {
        n.narrative_rows
            .clamp(share, body.height.saturating_sub(8).max(share))
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(bottom_h)]).areas(body);
    // The stacks pane as wide as its values and labels want, the code keeping 30 columns;
    // otherwise the code as wide as its longest instruction, the other pane keeping 38.
    let share = top.width * 46 / 100;
    let other_w = if aux % AUX_PANES == 2 && n.stacks_one > share {
        n.stacks_one.min(top.width.saturating_sub(30)).max(share)
    } else if n.code_cols > top.width.saturating_sub(share) {
        let least = if aux % AUX_PANES == 2 {
            n.stacks_one.max(38)
        } else {
            38
        };
        top.width.saturating_sub(n.code_cols).max(least).min(share)
    } else {
        share
    };
    let [code, other] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(other_w)]).areas(top);
    p.code = Some(code);
    if inspector {
        p.inspector = Some(bottom);
    } else {
        p.narrative = Some(bottom);
    }
    match aux % AUX_PANES {
        0 => p.regs = Some(other),
        1 => p.privilege = Some(other),
        2 => p.stacks = Some(other),
        _ => p.msrs = Some(other),
    }
}

/// Columns of the top row: registers and the privilege/MSR column as wide as their
/// content (within limits), the code the rest.
fn top_columns(top: Rect, n: &Needs) -> [Rect; 3] {
    let w = top.width;
    if n.regs_cols == 0 || n.right_cols == 0 {
        return Layout::horizontal([
            Constraint::Percentage(44),
            Constraint::Percentage(22),
            Constraint::Percentage(34),
        ])
        .areas(top);
    }
    let regs = n.regs_cols.clamp(20, w / 4);
    let right = n.right_cols.clamp(34, w * 9 / 25);
    let code = w.saturating_sub(regs + right);
    Layout::horizontal([
        Constraint::Length(code),
        Constraint::Length(regs),
        Constraint::Length(right),
    ])
    .areas(top)
}

/// The stacks pane's width: both stacks side by side when everything fits beside a
/// narrative of at least 48 columns (45 %), else as wide as one stack with its labels
/// wants (labels shorten by parts when that is more).
fn stacks_width(w: u16, n: &Needs) -> u16 {
    if n.stacks_one == 0 {
        return w * 54 / 100;
    }
    let most = w.saturating_sub(48.max(w * 45 / 100));
    let least = w * 30 / 100;
    let want = if n.stacks_two <= most {
        n.stacks_two
    } else {
        n.stacks_one
    };
    want.clamp(least, most.max(least))
}

fn full(p: &mut Panes, body: Rect, inspector: bool, n: &Needs) {
    let share = body.height * 57 / 100;
    let top_h = if n.top_rows == 0 {
        share
    } else {
        // The top row as tall as its content wants, or 40 % of the body when that is
        // more; a narrative that wants more rows takes them back down to the content.
        let most = body.height.saturating_sub(12);
        let floor = n.top_rows.min(most);
        let ceil = n.top_rows.max(body.height * 2 / 5).min(most).max(floor);
        body.height
            .saturating_sub(n.narrative_rows)
            .clamp(floor, ceil)
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Min(1)]).areas(body);
    let [code, regs, right] = top_columns(top, n);
    let msr_rows = if n.msr_rows == 0 {
        8u16.min(right.height / 3)
    } else {
        n.msr_rows.min(right.height / 2)
    };
    let [privilege, msrs] = if n.privilege_rows > 0 && n.privilege_rows + msr_rows <= right.height {
        Layout::vertical([
            Constraint::Length(n.privilege_rows),
            Constraint::Min(msr_rows),
        ])
        .areas(right)
    } else {
        Layout::vertical([Constraint::Min(8), Constraint::Length(msr_rows)]).areas(right)
    };
    let sw = stacks_width(bottom.width, n);
    let [stacks, narrative] =
        Layout::horizontal([Constraint::Length(sw), Constraint::Min(1)]).areas(bottom);
    p.code = Some(code);
    p.regs = Some(regs);
    p.privilege = Some(privilege);
    p.msrs = Some(msrs);
    if inspector {
        p.inspector = Some(bottom);
    } else {
        p.stacks = Some(stacks);
        p.narrative = Some(narrative);
    }
}

/// The centred box of an overlay `w` x `h` (clamped to the screen).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(1);
    let h = h.min(area.height.saturating_sub(2)).max(1);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The lesson picker's box for `n` lessons.
pub fn picker_box(size: (u16, u16), n: usize) -> Rect {
    let area = Rect::new(0, 0, size.0, size.1);
    centered(area, 76, n as u16 + 8)
}

/// The picker entry at a screen position.
pub fn picker_row(size: (u16, u16), n: usize, col: u16, row: u16) -> Option<usize> {
    let b = picker_box(size, n);
    if !inside(b, col, row) || row <= b.y {
        return None;
    }
    let i = (row - b.y - 1) as usize;
    (i < n).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_layouts() {
        assert!(panes(Rect::new(0, 0, 79, 24), 0).too_small);
        assert!(panes(Rect::new(0, 0, 80, 23), 0).too_small);
        let c = panes(Rect::new(0, 0, 80, 24), 0);
        assert!(c.compact && c.regs.is_some() && c.msrs.is_none());
        let c = panes(Rect::new(0, 0, 80, 24), 3);
        assert!(c.msrs.is_some() && c.regs.is_none());
        for (w, h) in [(120, 40), (160, 48), (200, 60), (250, 70)] {
            let f = panes(Rect::new(0, 0, w, h), 0);
            assert!(!f.compact && !f.too_small);
            for r in [f.code, f.regs, f.privilege, f.msrs, f.stacks, f.narrative] {
                let r = r.unwrap();
                assert!(r.width >= 10 && r.height >= 5, "{w}x{h}: {r:?}");
                assert!(r.x + r.width <= w && r.y + r.height <= h);
            }
            let i = panes_with(Rect::new(0, 0, w, h), 0, true);
            assert!(i.stacks.is_none() && i.narrative.is_none());
            let r = i.inspector.unwrap();
            assert!(r.width == w && r.height >= 10, "{w}x{h}: {r:?}");
            assert_eq!(f.timeline.unwrap().y, h - 2);
        }
        let c = panes_with(Rect::new(0, 0, 80, 24), 0, true);
        assert!(c.narrative.is_none() && c.regs.is_some());
        assert!(c.inspector.unwrap().height >= 7);
    }

    #[test]
    fn content_sizes_the_panes() {
        let n = Needs {
            code_cols: 40,
            top_rows: 22,
            msr_rows: 8,
            privilege_rows: 13,
            regs_cols: 25,
            right_cols: 64,
            stacks_two: 160,
            stacks_one: 80,
            narrative_rows: 30,
            question: true,
        };
        let p = panes_for(Rect::new(0, 0, 120, 40), 0, false, &n);
        // The top row keeps what the registers need; the privilege pane its rows.
        assert_eq!(p.code.unwrap().height, 22);
        assert_eq!(p.privilege.unwrap().height, 13);
        // The stacks as wide as one stack wants, within 55 %; the narrative the rest.
        let (s, r) = (p.stacks.unwrap(), p.narrative.unwrap());
        assert_eq!(s.width, 66);
        assert_eq!(s.width + r.width, 120);
        // At 160 columns both stacks fit side by side only if everything fits.
        let p = panes_for(
            Rect::new(0, 0, 160, 48),
            0,
            false,
            &Needs {
                stacks_two: 85,
                ..n
            },
        );
        assert_eq!(p.stacks.unwrap().width, 85);
        // 80x24: the narrative as tall as it wants, the code keeping 8 rows.
        let c = panes_for(
            Rect::new(0, 0, 80, 24),
            0,
            false,
            &Needs {
                narrative_rows: 12,
                ..n
            },
        );
        assert_eq!(c.narrative.unwrap().height, 12);
        let c = panes_for(
            Rect::new(0, 0, 80, 24),
            0,
            false,
            &Needs {
                narrative_rows: 40,
                ..n
            },
        );
        assert_eq!(c.code.unwrap().height, 8);
    }
}
