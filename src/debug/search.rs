//! Searching the recorded history backwards for the latest breakpoint or watchpoint
//! hit, by the same rules a forward run stops by: at position q a watchpoint hits if
//! step q-1 changed what it watches, else a breakpoint hits if RIP at q is its address
//! and its condition holds there. An unrecorded span (a `continue` run on the fast
//! path) is recorded when the search reaches it.

use crate::engine::{Diverged, Engine};

use super::command::Why;
use super::points::Points;

/// Move to the latest hit before the current position and return it (position, why);
/// None, leaving the engine where it was or earlier, when there is none. Err if an
/// unrecorded span could not be recorded.
pub fn prev_hit(e: &mut Engine, points: &Points) -> Result<Option<(usize, Why)>, Diverged> {
    let p = e.history_len();
    let watches = !points.watches().is_empty();
    let breaks = !points.breaks().is_empty();
    if !watches && !breaks {
        return Ok(None);
    }
    for c in (0..p).rev() {
        // Steps c-1 and c must be recorded: the first time the search meets a span
        // (at its end, or at c = p - 1 inside it), go to its end and record it.
        let needs = |e: &Engine, i: usize| i < e.history_len() && !e.is_recorded(i);
        if e.unrecorded_len() > 0 && ((c >= 1 && needs(e, c - 1)) || needs(e, c)) {
            let span = e
                .unrecorded()
                .find(|r| r.contains(&c) || (c >= 1 && r.contains(&(c - 1))));
            if let Some(r) = span {
                e.rewind(r.end)?;
                e.record_tail()?;
            }
        }
        if watches && c >= 1 {
            if let Some(v) = e.step_view(c - 1) {
                if let Some(hit) = points.watch_hit(v.n as usize, v.changes) {
                    e.rewind(c)?;
                    return Ok(Some((c, Why::Watch(hit))));
                }
            }
        }
        if breaks {
            let ip = if c == e.history_len() {
                e.machine().cpu.rip
            } else {
                match e.step_ip(c) {
                    Some(ip) => ip,
                    None => return Ok(None),
                }
            };
            if points.break_at(ip) {
                // A condition needs the registers at `c`: go there (always backwards).
                e.rewind(c)?;
                if let Some(id) = points.break_hit(e.machine()) {
                    return Ok(Some((c, Why::Breakpoint(id))));
                }
            }
        }
    }
    Ok(None)
}
