//! What the panes' content needs, measured from the model, so that the layout
//! (src/tui/layout.rs) sizes panes from their content: register and segment rows, the
//! MSRs' names, values and symbols, the stacks' values and labels, the narrative's text
//! and question at the width it gets.

use ratatui::layout::Rect;
use unicode_width::UnicodeWidthStr;

use super::app::Model;
use super::layout::{self, Needs, Panes};
use super::listing::Row;
use super::panes::{narrative, stacks};
use super::view;

fn sat(n: usize) -> u16 {
    n.min(u16::MAX as usize) as u16
}

/// Rows and columns of the top row's panes, borders included.
fn top(m: &Model, n: &mut Needs) {
    let s = &m.snap;
    // Registers, the instruction pointer, the flags word and up to two lines of flags.
    let regs = s.regs.len() + 4 + 2;
    // Rings and CPU line, the banner (wrapped) or a blank line, the column heads, the
    // segment registers, TR.
    let banner = usize::from(s.banner.is_some()) * 2;
    let tr = usize::from(s.tss_base.is_some());
    let privilege = 2 + banner.max(1) + 1 + s.segs.len() + tr + 2;
    let msrs = s.msrs.len() + 2;
    n.top_rows = sat(regs.max(privilege + msrs));
    n.msr_rows = sat(msrs);
    n.privilege_rows = sat(privilege);
    n.regs_cols = sat((4 + s.ip.digits + 3).max(23) + 2);
    // Marker columns, address, instruction, borders.
    let digits = if s.long { 16 } else { 8 };
    let widest = m
        .listing
        .rows
        .iter()
        .filter_map(|r| match r {
            Row::Instr { text, .. } => Some(text.width()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    n.code_cols = sat(2 + digits + 1 + widest + 2);
    // The MSR pane's rows whole, with the names' IA32_ prefixes (the pane drops them
    // when it gets less).
    let words = crate::tui::i18n::words(m.lang);
    let msr_w = crate::tui::panes::msrs::widest_row(&s.msrs, digits, true, words);
    n.right_cols = sat(msr_w.max(40) + 2);
}

/// Columns of the stacks pane, borders included, with every value and label in full.
fn stacks_cols(m: &Model, n: &mut Needs) {
    let ctx = view::context(m);
    let s = &m.snap;
    let label =
        stacks::label_width(&ctx, &s.user_stack).max(stacks::label_width(&ctx, &s.kernel_stack));
    let one = (stacks::fixed_width(s.long) + 1 + label).max(stacks::task_width(&ctx));
    n.stacks_one = sat(one + 2);
    n.stacks_two = sat(2 * one + 1 + 2);
}

/// Rows the narrative pane wants at `width` columns, borders included, and whether it
/// shows a question.
pub fn narrative_rows(m: &Model, width: u16) -> (u16, bool) {
    let ctx = view::context(m);
    let inner = (width.saturating_sub(3) as usize).max(10);
    let (body, question) = narrative::lines(&ctx, inner);
    (sat(body.len() + question.len() + 2), !question.is_empty())
}

/// The panes of `m` at its terminal size, laid out from their content.
pub fn panes(m: &Model) -> Panes {
    let area = Rect::new(0, 0, m.size.0, m.size.1);
    let inspector = m.debug.inspector.is_some();
    let mut n = Needs::default();
    top(m, &mut n);
    stacks_cols(m, &mut n);
    let laid = relaid(m, area, inspector, &mut n);
    let side_by_side = laid.stacks.is_some_and(|s| s.width >= n.stacks_two);
    if !scrolls(&laid, &n) || !side_by_side || n.stacks_two <= n.stacks_one {
        return laid;
    }
    // A narrative that would scroll beside two stacks side by side gets their width:
    // the stacks stand one above the other instead.
    let mut one = n;
    one.stacks_two = u16::MAX;
    relaid(m, area, inspector, &mut one)
}

/// The panes for `n`, with the narrative's rows measured at the width it gets there.
fn relaid(m: &Model, area: Rect, inspector: bool, n: &mut Needs) -> Panes {
    let p = layout::panes_for(area, m.aux, inspector, n);
    let Some(r) = p.narrative else {
        return p;
    };
    (n.narrative_rows, n.question) = narrative_rows(m, r.width);
    layout::panes_for(area, m.aux, inspector, n)
}

fn scrolls(p: &Panes, n: &Needs) -> bool {
    p.narrative.is_some_and(|r| n.narrative_rows > r.height)
}
