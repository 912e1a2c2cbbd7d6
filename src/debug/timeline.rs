//! The events along a run that a timeline shows: privilege changes, exceptions and
//! interrupts, each with the step it happened in. Read from the engine's recorded
//! history (its changes and events), so it covers positions 0 to the current one.

use std::borrow::Cow;

use crate::engine::journal::SegSlot;
use crate::engine::{Change, Engine, Event, Source};
use crate::machine::SegReg;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// CS.RPL changed in the step.
    Cpl { from: u8, to: u8 },
    /// The processor raised an exception (it was delivered to its handler, unless a
    /// later mark of the same step says another exception was raised while delivering
    /// it).
    Exception {
        vector: u8,
        error_code: Option<u32>,
        reason: Cow<'static, str>,
    },
    /// An interrupt was delivered through the IDT: `int n` (software) or an external
    /// interrupt line.
    Interrupt { vector: u8, source: Source },
    /// The state after the step was edited by hand (`set reg`).
    Edit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    /// The step it happened in: the state before it is position `step`, after it
    /// `step + 1`.
    pub step: usize,
    /// RIP before the step.
    pub ip: u64,
    pub mark: Mark,
}

/// The CPL change a step's changes made, if any.
pub fn cpl_change(changes: &[Change]) -> Option<(u8, u8)> {
    let mut first = None;
    let mut last = None;
    for c in changes {
        if let Change::SegSel {
            slot: SegSlot::Seg(SegReg::Cs),
            old,
            new,
            ..
        } = *c
        {
            first.get_or_insert(old);
            last = Some(new);
        }
    }
    let (from, to) = ((first? & 3) as u8, (last? & 3) as u8);
    (from != to).then_some((from, to))
}

/// The marks of recorded step `i`.
pub fn marks_of(e: &Engine, i: usize) -> Vec<Mark> {
    let Some(v) = e.step_view(i) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ev in v.events {
        match ev {
            Event::Exception {
                vector,
                error_code,
                reason,
                ..
            } => out.push(Mark::Exception {
                vector: *vector,
                error_code: *error_code,
                reason: reason.clone(),
            }),
            Event::Delivered { vector, source, .. } if *source != Source::Exception => {
                out.push(Mark::Interrupt {
                    vector: *vector,
                    source: *source,
                })
            }
            _ => {}
        }
    }
    if let Some((from, to)) = cpl_change(v.changes) {
        out.push(Mark::Cpl { from, to });
    }
    if !v.edit.is_empty() {
        out.push(Mark::Edit);
    }
    out
}

/// Every mark along the recorded history, in step order. Steps in an unrecorded span
/// (see `Engine::run_deferred`) are left out: `Debugger::record_all` records them.
pub fn collect(e: &Engine) -> Vec<TimelineEvent> {
    let mut out = Vec::new();
    for i in 0..e.history_len() {
        let Some(ip) = e.step_ip(i) else { continue };
        for mark in marks_of(e, i) {
            out.push(TimelineEvent { step: i, ip, mark });
        }
    }
    out
}
