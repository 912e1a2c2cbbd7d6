//! Steps run on the unrecorded fast path but kept in the history. `run_deferred` runs
//! like `run_raw` and keeps the span of positions it covered as the machine it started
//! from. Everything that decides what a step does is that machine, the step number
//! (scheduled interrupts count by it) and the stop addresses (a fast run never executes
//! an instruction at one), so stepping a copy of the starting machine again, recorded,
//! gives the same steps: `record_tail` does that when something needs a state or a step
//! inside the span, and checks that the replay ends in the very state the fast run
//! reached (whole machines compared). Going back to or before a span's start needs no
//! replay at all: the starting machine is put back.
//!
//! The history is then recorded steps with unrecorded spans among them. Positions
//! count both; `step_view` and `step_ip` answer None inside a span.

use std::fmt;
use std::ops::Range;

use super::{Change, Engine, StepResult, Stop};
use crate::machine::Machine;

/// A run of unrecorded steps: positions `at .. at + len` are its steps.
pub(super) struct Span {
    /// History position of the state the span starts from.
    pub at: usize,
    /// Number of recorded steps before the span (the index of the first recorded step
    /// after it).
    pub phys: usize,
    pub len: usize,
    /// The machine at position `at`.
    pub start: Box<Machine>,
    /// Changes made by hand at the span's end (`Engine::edit`), after its last step.
    pub edit: Vec<Change>,
}

/// Replaying an unrecorded span did not give the state the fast run had reached: the
/// engine is not deterministic there (a bug). The span stays unrecorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diverged {
    /// The span's positions.
    pub steps: Range<usize>,
    /// What differed.
    pub what: String,
}

impl fmt::Display for Diverged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replaying steps {} to {} to record them did not reach the state the fast run \
             reached ({}); the engine is not deterministic there, please report it",
            self.steps.start,
            self.steps.end.saturating_sub(1),
            self.what
        )
    }
}

impl std::error::Error for Diverged {}

/// The most steps `Engine::record_tail` records at once (about 40 MB of history for a
/// loop of memory instructions): going back into a longer unrecorded span records its
/// last `RECORD_CHUNK` steps, then the `RECORD_CHUNK` before those when the history
/// gets there, and so on.
pub const RECORD_CHUNK: usize = 1 << 19;

impl Engine {
    /// Run like `run_raw` (the unrecorded fast path), but keep the history: the steps
    /// taken become an unrecorded span of it, recorded when something needs them
    /// (`step_back`, `rewind`, `record_tail`). A span right after another one, with no
    /// edit between, extends it.
    pub fn run_deferred(&mut self, max_steps: u64) -> Stop {
        let at = self.history_len();
        let extend = self.tail_unrecorded() && self.spans.last().is_some_and(|s| s.edit.is_empty());
        let start = (!extend).then(|| Box::new(self.machine.clone()));
        let (stop, ran) = self.run_unrecorded(max_steps);
        let ran = ran as usize;
        if ran > 0 {
            match start {
                Some(start) => self.spans.push(Span {
                    at,
                    phys: self.steps.len(),
                    len: ran,
                    start,
                    edit: Vec::new(),
                }),
                None => {
                    if let Some(s) = self.spans.last_mut() {
                        s.len += ran;
                    }
                }
            }
            self.unrecorded += ran;
        }
        stop
    }

    /// The history's unrecorded spans, as ranges of step numbers (positions), in order.
    pub fn unrecorded(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.spans.iter().map(|s| s.at..s.at + s.len)
    }

    /// How many of the history's steps are not recorded yet.
    pub fn unrecorded_len(&self) -> usize {
        self.unrecorded
    }

    /// True if step `index` is in the history and recorded.
    pub fn is_recorded(&self, index: usize) -> bool {
        index < self.history_len() && self.physical(index).is_some()
    }

    /// The index among the recorded steps of step `index`; None inside a span.
    #[inline]
    pub(super) fn physical(&self, index: usize) -> Option<usize> {
        let mut skipped = 0;
        for s in &self.spans {
            if index < s.at {
                break;
            }
            if index < s.at + s.len {
                return None;
            }
            skipped += s.len;
        }
        Some(index - skipped)
    }

    /// True if the history ends with an unrecorded span.
    #[inline]
    pub(super) fn tail_unrecorded(&self) -> bool {
        self.spans
            .last()
            .is_some_and(|s| s.phys == self.steps.len())
    }

    /// If the history ends with an unrecorded span, record it: put its starting
    /// machine back and step it again, recorded, to the current position, then check
    /// that the machine is the one the fast run reached. A span longer than
    /// `RECORD_CHUNK` steps is recorded only in its last `RECORD_CHUNK` steps: its head
    /// is run again on the fast path and stays an unrecorded span (with the same
    /// starting machine), so the recorded history never grows by more than that at a
    /// time, however long the run. Returns whether steps were recorded. On a
    /// difference everything is put back as it was (the span stays unrecorded) and the
    /// difference is returned.
    pub fn record_tail(&mut self) -> Result<bool, Diverged> {
        if !self.tail_unrecorded() {
            return Ok(false);
        }
        let Some(span) = self.spans.pop() else {
            return Ok(false);
        };
        let Span {
            at,
            phys,
            len,
            start,
            edit,
        } = span;
        self.unrecorded -= len;
        let reached = std::mem::replace(&mut self.machine, (*start).clone());
        self.cache.forget_pages();
        // The fast run executed no instruction at a stop address: nothing to stop at.
        let stops = std::mem::take(&mut self.stop_at);
        let cpl_stop = self.stop_on_cpl.take();
        let skip = len.saturating_sub(RECORD_CHUNK);
        let mut failed = None;
        let mut start = Some(start);
        if skip > 0 {
            let (stop, ran) = self.run_unrecorded(skip as u64);
            if ran as usize == skip {
                self.spans.push(Span {
                    at,
                    phys,
                    len: skip,
                    start: start.take().unwrap_or_else(|| Box::new(Machine::new())),
                    edit: Vec::new(),
                });
                self.unrecorded += skip;
            } else {
                failed = Some(stopped_at(at + ran as usize, &stop));
            }
        }
        if failed.is_none() {
            failed = self.record_steps(at + skip, len - skip, &edit, &reached);
        }
        self.stop_at = stops;
        self.stop_on_cpl = cpl_stop;
        let Some(what) = failed else {
            return Ok(true);
        };
        while self.steps.len() > phys {
            self.pop_step();
        }
        if start.is_none() {
            if let Some(head) = self.spans.pop() {
                self.unrecorded -= head.len;
                start = Some(head.start);
            }
        }
        self.machine = reached;
        self.cache.forget_pages();
        let steps = at..at + len;
        self.unrecorded += len;
        self.spans.push(Span {
            at,
            phys,
            len,
            start: start.unwrap_or_else(|| Box::new(Machine::new())),
            edit,
        });
        Err(Diverged { steps, what })
    }

    /// Step `len` steps recorded from position `from`, make `edit`, and compare the
    /// machine with `reached`: what differs, if anything.
    fn record_steps(
        &mut self,
        from: usize,
        len: usize,
        edit: &[Change],
        reached: &Machine,
    ) -> Option<String> {
        // Room for the steps and (a guess of) their changes up front: growing the
        // buffers step by step costs more than the steps.
        self.steps.reserve(len);
        self.changes.reserve(len * 2);
        for k in 0..len {
            if let StepResult::Stopped(s) = self.step() {
                return Some(stopped_at(from + k, &s));
            }
        }
        if !edit.is_empty() {
            self.edit(edit);
        }
        difference(&self.machine, reached)
    }

    /// Cut the unrecorded span at the end of the history short so that it ends at
    /// position `n` (inside it): its starting machine is run again on the fast path to
    /// `n`, nothing recorded. Used to go back far into a long span without recording
    /// what lies between.
    fn shorten_tail(&mut self, n: usize) {
        let Some(span) = self.spans.last_mut() else {
            return;
        };
        if n <= span.at || n >= span.at + span.len {
            return;
        }
        let keep = n - span.at;
        self.unrecorded -= span.len - keep;
        span.len = keep;
        span.edit.clear();
        self.machine = (*span.start).clone();
        self.cache.forget_pages();
        let stops = std::mem::take(&mut self.stop_at);
        let cpl_stop = self.stop_on_cpl.take();
        // The steps are replayed from position `span.at`: step numbers count from there.
        self.unrecorded -= keep;
        let (_, ran) = self.run_unrecorded(keep as u64);
        let ran = ran as usize;
        // Fewer steps than the fast run took: the engine is not deterministic (a bug);
        // the history then ends where the replay stopped.
        if ran == 0 {
            self.spans.pop();
        } else if let Some(span) = self.spans.last_mut() {
            span.len = ran;
            self.unrecorded += ran;
        }
        self.stop_at = stops;
        self.stop_on_cpl = cpl_stop;
    }

    /// Go back to position `n` (nothing happens if it is not behind): recorded steps
    /// are undone; a span wholly after `n` is dropped by putting its starting machine
    /// back; a span with `n` inside it is recorded first (`record_tail`).
    pub fn rewind(&mut self, n: usize) -> Result<(), Diverged> {
        while self.history_len() > n {
            if self.tail_unrecorded() {
                if self.spans.last().is_some_and(|s| n <= s.at) {
                    if let Some(span) = self.spans.pop() {
                        self.unrecorded -= span.len;
                        self.machine = *span.start;
                        self.cache.forget_pages();
                    }
                    continue;
                }
                // Far inside a long span: run its head again instead of recording
                // all that lies between.
                if self
                    .spans
                    .last()
                    .is_some_and(|s| s.at + s.len - n > RECORD_CHUNK)
                {
                    self.shorten_tail(n);
                    continue;
                }
                self.record_tail()?;
            }
            if !self.pop_step() {
                break;
            }
        }
        Ok(())
    }
}

fn stopped_at(step: usize, s: &Stop) -> String {
    format!("step {step} stopped ({}) at {:#x}", s.reason.name(), s.ip)
}

/// What differs between the replayed machine and the one the fast run reached.
fn difference(replayed: &Machine, reached: &Machine) -> Option<String> {
    if replayed == reached {
        return None;
    }
    let (a, b) = (&replayed.cpu, &reached.cpu);
    Some(if a.rip != b.rip {
        format!("RIP {:#x} instead of {:#x}", a.rip, b.rip)
    } else if a.gpr != b.gpr {
        let i = (0..16).find(|&i| a.gpr[i] != b.gpr[i]).unwrap_or(0);
        format!("register {i} is {:#x} instead of {:#x}", a.gpr[i], b.gpr[i])
    } else if a.rflags != b.rflags {
        format!("RFLAGS {:#x} instead of {:#x}", a.rflags, b.rflags)
    } else if a != b {
        "the processor state differs".to_string()
    } else {
        "memory differs".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn engine() -> Engine {
        let s = scenario::preset("linux-2.6-i386").expect("preset loads");
        let mut e = Engine::new(s.machine);
        e.set_stop_at(s.stop_at);
        e
    }

    #[test]
    fn a_deferred_run_is_recorded_on_demand() {
        let mut e = engine();
        assert_eq!(e.step(), StepResult::Stepped);
        let stop = e.run_deferred(6);
        assert_eq!(stop.reason.name(), "limit");
        assert_eq!((e.history_len(), e.unrecorded_len()), (7, 6));
        assert!(e.is_recorded(0) && !e.is_recorded(1) && !e.is_recorded(6));
        assert_eq!(e.unrecorded().collect::<Vec<_>>(), vec![1..7]);
        assert!(e.step_view(3).is_none());
        // A second run right after extends the span.
        e.run_deferred(2);
        assert_eq!(e.unrecorded().collect::<Vec<_>>(), vec![1..9]);
        let end = e.machine().clone();
        assert_eq!(e.record_tail(), Ok(true));
        assert_eq!((e.history_len(), e.unrecorded_len()), (9, 0));
        assert!(e.machine() == &end);
        assert!((0..9).all(|i| e.step_view(i).is_some()));
        assert_eq!(e.record_tail(), Ok(false));
    }

    #[test]
    fn a_replay_that_differs_leaves_the_span_as_it_was() {
        let mut e = engine();
        e.run_deferred(5);
        // Make the saved start differ from the state the run really started from.
        if let Some(s) = e.spans.last_mut() {
            s.start.cpu.cr2 ^= 0x1000;
        }
        let end = e.machine().clone();
        let err = e.record_tail().expect_err("the replay ends elsewhere");
        assert_eq!(err.steps, 0..5);
        assert!(err.to_string().contains("steps 0 to 4"), "{err}");
        assert!(e.machine() == &end);
        assert_eq!((e.history_len(), e.unrecorded_len()), (5, 5));
        assert!(!e.step_back());
        assert!(e.goto(2).is_some(), "going back into the span is refused");
        // Going back to the span's start needs no replay.
        assert_eq!(e.rewind(0), Ok(()));
        assert_eq!(e.history_len(), 0);
        assert_eq!(e.machine().cpu.cr2, engine().machine().cpu.cr2 ^ 0x1000);
    }
}
