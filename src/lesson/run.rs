//! Playing a scene: run its machine to the end, recording history, and find the state
//! at which each narrative step is shown. The checker and the user interface both work
//! from the result, moving through the recorded history with `Engine::goto`.

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use super::{Scene, StepAt};
use crate::engine::{Engine, Exception, Outcome, ScheduledInterrupt, StepResult, Stop, StopReason};
use crate::machine::Machine;

/// A narrative step placed on the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// History position (number of steps executed) where the step is shown.
    pub state: usize,
    /// Index into `Scene::steps`.
    pub step: usize,
}

/// A scene run to its end.
pub struct Played {
    /// The engine with the whole run recorded, positioned at the end.
    pub engine: Engine,
    pub initial: Machine,
    pub stop: Stop,
    /// Marks in order of `step`; steps never reached have none.
    pub marks: Vec<Mark>,
    /// The last history position (the state the run stopped in).
    end: usize,
}

impl Played {
    /// The number of states (history positions) in the run: 0 ..= last.
    pub fn last_state(&self) -> usize {
        self.end
    }

    /// The exception that ended the run, if it ended with one.
    pub fn fault(&self) -> Option<&Exception> {
        match &self.stop.reason {
            StopReason::Fault(e) => Some(e),
            _ => None,
        }
    }

    /// The mark of narrative step `step`, if it was reached.
    pub fn mark_of(&self, step: usize) -> Option<Mark> {
        self.marks.iter().copied().find(|m| m.step == step)
    }
}

/// New engine for a scene, at its start.
pub fn engine_for(scene: &Scene) -> Engine {
    let s = &scene.scenario;
    let mut engine = Engine::new(s.machine.clone());
    engine.set_stop_at(s.stop_at.clone());
    engine.set_schedule(
        s.interrupts
            .iter()
            .map(|i| ScheduledInterrupt {
                before_step: i.before_step,
                vector: i.vector,
            })
            .collect(),
    );
    engine
}

/// How often `play_counting` tells how far it is, in steps.
pub const PROGRESS_EVERY: usize = 4096;

/// Run `scene` to its end (a stop address, a fault, a halt, or `max_steps`).
pub fn play(scene: &Scene) -> Played {
    play_counting(scene, &AtomicU64::new(0))
}

/// `play`, storing the number of steps run so far in `progress` every
/// `PROGRESS_EVERY` steps (for a progress line while a long run is computed).
pub fn play_counting(scene: &Scene, progress: &AtomicU64) -> Played {
    let mut engine = engine_for(scene);
    let initial = engine.machine().clone();
    let max = scene.scenario.max_steps.unwrap_or(1000);
    let mut visits: FxHashMap<u64, u32> = FxHashMap::default();
    let mut marks = Vec::new();
    let mut next = 0;
    let place = |next: &mut usize, marks: &mut Vec<Mark>, state: usize, ip: u64, seen: u32| {
        while let Some(step) = scene.steps.get(*next) {
            match step.at {
                StepAt::Addr { addr, occurrence } if addr == ip && occurrence == seen => {
                    marks.push(Mark { state, step: *next });
                    *next += 1;
                }
                _ => break,
            }
        }
    };
    let stop = loop {
        let state = engine.history_len();
        if state.is_multiple_of(PROGRESS_EVERY) {
            progress.store(state as u64, Ordering::Relaxed);
        }
        let ip = engine.machine().cpu.rip;
        if state as u64 >= max {
            let seen = visits.get(&ip).copied().unwrap_or(0) + 1;
            place(&mut next, &mut marks, state, ip, seen);
            break Stop {
                reason: StopReason::Limit,
                ip,
                instr: None,
                chain: Default::default(),
            };
        }
        match engine.step() {
            StepResult::Stopped(stop) => {
                // The instruction at `ip` would run next but cannot: the state is final.
                let seen = visits.get(&ip).copied().unwrap_or(0) + 1;
                place(&mut next, &mut marks, state, ip, seen);
                break stop;
            }
            StepResult::Stepped => {
                let delivered_only = engine
                    .last_step()
                    .is_some_and(|s| matches!(s.info.outcome, Outcome::Interrupt(_)));
                if delivered_only {
                    // An external interrupt came first; the instruction at `ip` runs later.
                    continue;
                }
                let seen = visits.entry(ip).or_insert(0);
                *seen += 1;
                let seen = *seen;
                place(&mut next, &mut marks, state, ip, seen);
            }
        }
    };
    if matches!(stop.reason, StopReason::Fault(_)) {
        let state = engine.history_len();
        while let Some(step) = scene.steps.get(next) {
            if step.at != StepAt::Fault {
                break;
            }
            marks.push(Mark { state, step: next });
            next += 1;
        }
    }
    let end = engine.history_len();
    Played {
        engine,
        initial,
        stop,
        marks,
        end,
    }
}
