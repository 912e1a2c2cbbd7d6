//! Verifying a lesson headless: every scene ends as it should, every narrative step is
//! reached in order, every checkpoint holds and every question has exactly one answer
//! that the engine's real state confirms.

use super::expr::{States, Value};
use super::run::{play, Mark, Played};
use super::{Expect, Expected, Lesson, Loc, Question, Scene, StepAt};
use crate::engine::{Cost, StopReason};
use crate::machine::Machine;

/// One thing that does not hold, at the place in the lesson that claims it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub loc: Loc,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)
    }
}

#[derive(Clone, Debug)]
pub struct SceneReport {
    pub steps_run: usize,
    /// How the run ended, in words.
    pub ended: String,
    pub checks: usize,
    pub questions: usize,
    pub failures: Vec<Failure>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub id: String,
    pub scenes: Vec<SceneReport>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.scenes.iter().all(|s| s.failures.is_empty())
    }

    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.scenes.iter().flat_map(|s| s.failures.iter())
    }

    pub fn checks(&self) -> usize {
        self.scenes.iter().map(|s| s.checks).sum()
    }

    pub fn questions(&self) -> usize {
        self.scenes.iter().map(|s| s.questions).sum()
    }

    pub fn steps_run(&self) -> usize {
        self.scenes.iter().map(|s| s.steps_run).sum()
    }
}

/// The machine at history position `state`, and the one before it, with the work
/// done to reach each (`Engine::cost`).
struct At {
    now: Machine,
    prev: Option<Machine>,
    cost: Cost,
    prev_cost: Cost,
}

fn states_at(played: &mut Played, state: usize) -> At {
    played.engine.goto(state);
    let now = played.engine.machine().clone();
    let cost = played.engine.cost();
    let (prev, prev_cost) = if state > 0 {
        played.engine.goto(state - 1);
        (Some(played.engine.machine().clone()), played.engine.cost())
    } else {
        (None, Cost::default())
    };
    At {
        now,
        prev,
        cost,
        prev_cost,
    }
}

/// The result of one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub actual: Result<Value, String>,
    pub expected: Result<Value, String>,
}

impl CheckResult {
    pub fn holds(&self) -> bool {
        matches!((&self.actual, &self.expected), (Ok(a), Ok(e)) if a.matches(e))
    }
}

fn expected_value(e: &Expected, st: &States) -> Result<Value, String> {
    match e {
        Expected::Value(x) => x.eval(st),
        Expected::Text(t) => Ok(Value::Text(t.clone())),
    }
}

/// Evaluate the checkpoints of the step at `mark`.
pub fn evaluate_checks(scene: &Scene, played: &mut Played, mark: Mark) -> Vec<CheckResult> {
    let at = states_at(played, mark.state);
    let fault = (mark.state == played.last_state())
        .then(|| played.fault().cloned())
        .flatten();
    let st = States {
        now: &at.now,
        prev: at.prev.as_ref(),
        initial: &played.initial,
        task: scene.scenario.task.as_ref(),
        fault: fault.as_ref(),
        cost: at.cost,
        prev_cost: at.prev_cost,
    };
    scene.steps[mark.step]
        .checks
        .iter()
        .map(|c| CheckResult {
            actual: c.expr.eval(&st),
            expected: expected_value(&c.expected, &st),
        })
        .collect()
}

/// A question's answer as the engine computes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The answer expression, evaluated after the instruction ran.
    pub value: Value,
    /// Each choice's value, evaluated before it ran.
    pub choice_values: Vec<Result<Value, String>>,
    /// Indices of the choices equal to the answer (exactly one in a sound lesson).
    pub correct: Vec<usize>,
}

/// Evaluate the question of the step at `mark`.
pub fn evaluate_question(
    scene: &Scene,
    q: &Question,
    played: &mut Played,
    mark: Mark,
) -> Result<Answer, String> {
    let at = states_at(played, mark.state);
    let fault = played.fault().cloned();
    let task = scene.scenario.task.as_ref();
    let pre = States {
        now: &at.now,
        prev: at.prev.as_ref(),
        initial: &played.initial,
        task,
        fault: None,
        cost: at.cost,
        prev_cost: at.prev_cost,
    };
    let choice_values: Vec<_> = q
        .choices
        .iter()
        .map(|c| expected_value(&c.value, &pre))
        .collect();
    let value = if mark.state < played.last_state() {
        played.engine.goto(mark.state + 1);
        let after = played.engine.machine().clone();
        q.answer.eval(&States {
            now: &after,
            prev: Some(&at.now),
            initial: &played.initial,
            task,
            fault: None,
            cost: played.engine.cost(),
            prev_cost: at.cost,
        })?
    } else {
        // The instruction did not run: the scene ended here (e.g. with a fault).
        q.answer.eval(&States {
            now: &at.now,
            prev: at.prev.as_ref(),
            initial: &played.initial,
            task,
            fault: fault.as_ref(),
            cost: at.cost,
            prev_cost: at.prev_cost,
        })?
    };
    let correct = choice_values
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Ok(v) if value.matches(v)))
        .map(|(i, _)| i)
        .collect();
    Ok(Answer {
        value,
        choice_values,
        correct,
    })
}

fn ended(played: &Played) -> String {
    let at = format!("{:#x}", played.stop.ip);
    match &played.stop.reason {
        StopReason::End => format!("end at {at}"),
        StopReason::Fault(e) => format!("fault at {at}: {}", e.summary()),
        StopReason::Unsupported(what) => format!("unsupported instruction at {at}: {what}"),
        StopReason::Limit => format!("step limit at {at}"),
        StopReason::Halt => format!("halt at {at}"),
        StopReason::Exit(s) => format!("exit status {s} at {at}"),
    }
}

fn check_scene(scene: &Scene) -> SceneReport {
    let mut played = play(scene);
    let mut failures = Vec::new();
    let ended = ended(&played);
    let ok_end = matches!(
        (scene.expect, &played.stop.reason),
        (Expect::End, StopReason::End) | (Expect::Fault, StopReason::Fault(_))
    );
    if !ok_end {
        let want = match scene.expect {
            Expect::End => "to reach a stop_at address",
            Expect::Fault => "to end with a fault",
        };
        failures.push(Failure {
            loc: scene.loc.clone(),
            message: format!(
                "the scene ended with {ended} after {} steps; it was expected {want}",
                played.last_state()
            ),
        });
    }
    let (mut checks, mut questions) = (0, 0);
    for (i, step) in scene.steps.iter().enumerate() {
        let Some(mark) = played.mark_of(i) else {
            let what = match step.at {
                StepAt::Addr { addr, occurrence } => {
                    let at = played
                        .initial
                        .describe_addr(addr)
                        .map_or(format!("{addr:#x}"), |d| format!("{addr:#x} <{d}>"));
                    format!("the CPU never gets to {at} (occurrence {occurrence}) after the previous step")
                }
                StepAt::Fault => "the scene does not end with a fault".to_string(),
            };
            failures.push(Failure {
                loc: step.loc.clone(),
                message: format!("step not reached: {what}"),
            });
            break;
        };
        for (c, r) in step
            .checks
            .iter()
            .zip(evaluate_checks(scene, &mut played, mark))
        {
            checks += 1;
            if r.holds() {
                continue;
            }
            let message = match (&r.actual, &r.expected) {
                (Err(e), _) | (_, Err(e)) => format!("check `{}` cannot be evaluated: {e}", c.what),
                (Ok(a), Ok(e)) => format!("check `{}` fails: it is {a}, expected {e}", c.what),
            };
            failures.push(Failure {
                loc: c.loc.clone(),
                message,
            });
        }
        if let Some(q) = &step.question {
            questions += 1;
            match evaluate_question(scene, q, &mut played, mark) {
                Err(e) => failures.push(Failure {
                    loc: q.loc.clone(),
                    message: format!("the answer `{}` cannot be evaluated: {e}", q.answer_src),
                }),
                Ok(a) if !q.choices.is_empty() && a.correct.len() != 1 => {
                    let values: Vec<String> = a
                        .choice_values
                        .iter()
                        .map(|v| match v {
                            Ok(v) => v.to_string(),
                            Err(e) => format!("error: {e}"),
                        })
                        .collect();
                    failures.push(Failure {
                        loc: q.loc.clone(),
                        message: format!(
                            "{} choices equal the answer {} (choices: {}); exactly one must",
                            a.correct.len(),
                            a.value,
                            values.join(", ")
                        ),
                    });
                }
                Ok(_) => {}
            }
        }
    }
    SceneReport {
        steps_run: played.last_state(),
        ended,
        checks,
        questions,
        failures,
    }
}

/// Run every scene of `lesson` and verify everything it claims.
pub fn check(lesson: &Lesson) -> Report {
    Report {
        id: lesson.id.clone(),
        scenes: lesson.scenes.iter().map(check_scene).collect(),
    }
}
