//! Exports for sharing a lesson outside the terminal: the lesson is played step by step
//! and every state is drawn by the terminal viewer's own `tui::view` into an off-screen
//! ratatui buffer, exactly as `ringstep run --render-once` does. The buffers are then
//! written as
//!
//! - text or ANSI colour (`buffer_to_ansi`), for `ringstep render`,
//! - an asciicast v2 recording (`cast`), one frame per step,
//! - SVG images (`svg`), one per step, on an exact monospace grid,
//! - one self-contained HTML page (`html`) with the frames, the narrative and
//!   previous/next buttons.
//!
//! Exports are deterministic: no animation, colours on (NO_COLOR and the user's key map
//! are ignored), no time stamps, and the same bytes for the same lesson and settings.

pub mod buffer_to_ansi;
pub mod cast;
pub mod command;
pub mod html;
pub mod markdown_html;
pub mod svg;

use ratatui::buffer::Buffer;

use crate::disasm::Syntax;
use crate::lesson::{Lang, Lesson};
use crate::tui::theme::ThemeKind;
use crate::tui::{render_buffer, update, Action, Keymap, Model, Msg, Options};

/// How frames are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub lang: Lang,
    pub syntax: Syntax,
    pub theme: ThemeKind,
    /// Columns and rows.
    pub size: (u16, u16),
}

/// The narrative shown with a frame: the lesson text of the step the viewer shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Narrative {
    /// Index of the narrative step in its scene (from 0).
    pub index: usize,
    /// Number of narrative steps in the scene.
    pub count: usize,
    /// The step's text (the lessons' small Markdown).
    pub text: String,
    /// The question asked at this step, if any, with its choices.
    pub question: Option<(String, Vec<String>)>,
}

/// One drawn state of the lesson.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Scene index, from 0.
    pub scene: usize,
    /// Number of scenes in the lesson.
    pub scenes: usize,
    /// The scene's title.
    pub scene_title: String,
    /// History position in the scene: instructions executed (0 = its start).
    pub step: usize,
    /// The scene's last position.
    pub last_step: usize,
    pub narrative: Option<Narrative>,
    pub buffer: Buffer,
}

/// A model for drawing exports: the shipped key map, no animation, no autoplay, colours.
pub fn model(lesson: Lesson, s: &Settings) -> Result<Model, String> {
    let opts = Options {
        lang: s.lang,
        animation: false,
        autoplay: None,
        theme: s.theme,
        color: true,
        syntax: s.syntax,
    };
    let mut m = Model::new(lesson, &opts, Keymap::shipped())?;
    update(&mut m, Msg::Resize(s.size.0, s.size.1));
    Ok(m)
}

fn narrative(m: &Model) -> Option<Narrative> {
    let scene = m.scene()?;
    let index = m.current_step()?;
    let step = scene.steps.get(index)?;
    let question = step.question.as_ref().map(|q| {
        let choices = q.choices.iter().map(|c| c.text.get(m.lang).to_string());
        (q.prompt.get(m.lang).to_string(), choices.collect())
    });
    Some(Narrative {
        index,
        count: scene.steps.len(),
        text: step.text.get(m.lang).to_string(),
        question,
    })
}

/// Draw the model's current state.
pub fn capture(m: &Model, s: &Settings) -> Frame {
    Frame {
        scene: m.scene,
        scenes: m.lesson.scenes.len(),
        scene_title: m
            .scene()
            .map(|sc| sc.title.get(m.lang).to_string())
            .unwrap_or_default(),
        step: m.pos,
        last_step: m.run.last_state(),
        narrative: narrative(m),
        buffer: render_buffer(m, s.size.0, s.size.1),
    }
}

/// The most frames an export draws: one per state, each kept until the file is written
/// (about 250 KB a frame at 120x40), so a lesson with more states is refused before
/// drawing. The shipped lessons have at most a few hundred.
pub const MAX_FRAMES: usize = 1000;

/// Refuse a scene whose states would take the export past `MAX_FRAMES`, given that
/// `drawn` frames are drawn already.
fn room_for_scene(m: &Model, drawn: usize) -> Result<(), String> {
    let states = m.run.last_state() + 1;
    if drawn + states <= MAX_FRAMES {
        return Ok(());
    }
    Err(format!(
        "lesson `{}`: an export draws one frame per step, at most {MAX_FRAMES}, but scene {} \
         runs {} steps (with {drawn} frames before it); give the scene a smaller max_steps, \
         or draw single frames with `ringstep render --scene N --step M`",
        m.lesson.id,
        m.scene + 1,
        states - 1
    ))
}

/// Every state of the lesson, scene after scene, as the viewer's step key walks them.
/// A lesson with more than `MAX_FRAMES` states is refused.
pub fn frames(lesson: Lesson, s: &Settings) -> Result<Vec<Frame>, String> {
    let mut m = model(lesson, s)?;
    let mut out = Vec::new();
    let mut counted = None;
    loop {
        if counted != Some(m.scene) {
            room_for_scene(&m, out.len())?;
            counted = Some(m.scene);
        }
        out.push(capture(&m, s));
        let at = (m.scene, m.pos);
        if m.pos >= m.run.last_state() && m.scene + 1 >= m.lesson.scenes.len() {
            return Ok(out);
        }
        update(&mut m, Msg::Action(Action::StepForward));
        if (m.scene, m.pos) == at {
            // The viewer did not move: nothing more to draw.
            return Ok(out);
        }
    }
}

/// One state: `scene` (from 1) after `step` instructions.
pub fn frame_at(lesson: Lesson, s: &Settings, scene: usize, step: usize) -> Result<Frame, String> {
    let id = lesson.id.clone();
    let scenes = lesson.scenes.len();
    let mut m = model(lesson, s)?;
    let index = scene
        .checked_sub(1)
        .filter(|&i| i < scenes)
        .ok_or_else(|| format!("--scene {scene}: lesson `{id}` has scenes 1 to {scenes}"))?;
    while m.scene < index {
        let before = m.scene;
        m.goto(m.run.last_state());
        update(&mut m, Msg::Action(Action::StepForward));
        if m.scene == before {
            return Err(format!("scene {scene} of lesson `{id}` cannot be reached"));
        }
    }
    let last = m.run.last_state();
    if step > last {
        return Err(format!(
            "--step {step}: scene {scene} of lesson `{id}` has steps 0 to {last}"
        ));
    }
    m.goto(step);
    Ok(capture(&m, s))
}

/// The name of a frame's SVG file: `scene-1-step-007.svg`.
pub fn frame_file_name(f: &Frame) -> String {
    format!("scene-{}-step-{:03}.svg", f.scene + 1, f.step)
}

/// A one-line description of a frame: `sysenter, scene 1/1, step 7/57`.
pub fn frame_label(lesson_id: &str, f: &Frame) -> String {
    format!(
        "{lesson_id}, scene {}/{}, step {}/{}",
        f.scene + 1,
        f.scenes,
        f.step,
        f.last_step
    )
}
