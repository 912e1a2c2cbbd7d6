//! Searching the recorded history backwards for the latest breakpoint or watchpoint
//! hit, by the same rules a forward run stops by: at position q a watchpoint hits if
//! step q-1 changed what it watches, else a breakpoint hits if RIP at q is its address
//! and its condition holds there.

use crate::engine::Engine;

use super::command::Why;
use super::points::Points;

/// Move to the latest hit before the current position and return it (position, why);
/// None, leaving the engine where it was or earlier, when there is none.
pub fn prev_hit(e: &mut Engine, points: &Points) -> Option<(usize, Why)> {
    let p = e.history_len();
    let watches = !points.watches().is_empty();
    let breaks = !points.breaks().is_empty();
    if !watches && !breaks {
        return None;
    }
    for c in (0..p).rev() {
        if watches && c >= 1 {
            if let Some(v) = e.step_view(c - 1) {
                if let Some(hit) = points.watch_hit(v.n as usize, v.changes) {
                    e.goto(c);
                    return Some((c, Why::Watch(hit)));
                }
            }
        }
        if breaks {
            let ip = e.step_ip(c)?;
            if points.break_at(ip) {
                // A condition needs the registers at `c`: go there (always backwards).
                e.goto(c);
                if let Some(id) = points.break_hit(e.machine()) {
                    return Some((c, Why::Breakpoint(id)));
                }
            }
        }
    }
    None
}
