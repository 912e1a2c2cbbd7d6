//! A lesson whose machine is a booted example kernel (`[machine] boot.example = "32"`,
//! optionally `boot.variant = "bad-esp0"`): the machine is the one `ringstep boot
//! --example` starts (src/scenario/boot/multiboot.rs), booted afresh for every scene (a
//! scene may choose another variant), and the kernel's labels and `.set` constants may
//! be used in steps and checks. The lesson has no code sections of its own: the variants
//! lay their code out differently, so the viewer lists the code each scene executes,
//! disassembled and named by the kernel's symbols.

use std::collections::HashMap;

use clap::ValueEnum;
use toml::Spanned;

use super::{Loader, Res};
use crate::asm::{self, SourceSection};
use crate::lesson::expr::Names;
use crate::lesson::raw::{CodeSec, LessonSec, SceneSec};
use crate::lesson::{Lesson, Text};
use crate::scenario::boot::elfout::source_bits;
use crate::scenario::boot::examples::{Example, Variant};
use crate::scenario::boot::multiboot;
use crate::scenario::raw::{BootSec, Doc};
use crate::scenario::Scenario;

/// `value` as one of `T`'s names, or a located error listing them.
fn choose<T: ValueEnum>(l: &Loader, v: &Spanned<String>, what: &str) -> Res<T> {
    T::from_str(v.get_ref(), false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|x| x.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        let hint = crate::scenario::did_you_mean(v.get_ref(), names.iter().map(String::as_str));
        l.err(
            v.span(),
            format!(
                "unknown {what} `{}` (one of: {}){hint}",
                v.get_ref(),
                names.join(", ")
            ),
        )
    })
}

/// The example and variant a scene boots: its own `boot` keys over the lesson's.
fn which(
    l: &Loader,
    lesson: &Spanned<BootSec>,
    scene: Option<&BootSec>,
) -> Res<(Example, Option<Variant>)> {
    let pick = |f: fn(&BootSec) -> &Option<Spanned<String>>| {
        scene
            .and_then(|s| f(s).as_ref())
            .or(f(lesson.get_ref()).as_ref())
    };
    let Some(ex) = pick(|b| &b.example) else {
        return Err(l.err(
            lesson.span(),
            "`boot` needs `example` (`boot.example = \"32\"` or `\"64\"`)",
        ));
    };
    let example: Example = choose(l, ex, "example kernel")?;
    let variant = match pick(|b| &b.variant) {
        Some(v) => {
            let variant: Variant = choose(l, v, "variant")?;
            if example == Example::K64 {
                return Err(l.err(
                    v.span(),
                    "the broken variants are of the 32-bit kernel (`boot.example = \"32\"`)",
                ));
            }
            Some(variant)
        }
        None => None,
    };
    Ok((example, variant))
}

/// Whether `m` has keys besides `boot`.
fn other_keys(m: &Doc) -> bool {
    m.preset.is_some()
        || m.machine.is_some()
        || !m.regions.is_empty()
        || !m.data.is_empty()
        || m.regs.is_some()
        || m.segs.is_some()
        || m.gdt.is_some()
        || m.idt.is_some()
        || m.tss.is_some()
        || m.msrs.is_some()
        || m.cr.is_some()
        || m.symbols.is_some()
        || !m.interrupts.is_empty()
        || m.run.is_some()
        || m.task.is_some()
        || m.paging.is_some()
}

/// A `[machine]` that boots a kernel has nothing else, nor have the scenes' machines
/// (which may choose another example or variant), and the lesson has no `[[code]]`:
/// the kernel is the whole machine.
fn check_alone(
    l: &Loader,
    machine: &Spanned<Doc>,
    code: &[CodeSec],
    scenes: &[Spanned<SceneSec>],
) -> Res<()> {
    if other_keys(machine.get_ref()) {
        return Err(l.err(
            machine.span(),
            "a [machine] with `boot` takes no other keys (no preset, regs, regions, ...): the booted kernel sets up its machine itself",
        ));
    }
    if let Some(c) = code.first() {
        return Err(l.err(
            c.region.span(),
            "a lesson that boots an example kernel has no [[code]]: the kernel is the code",
        ));
    }
    let changes = |s: &&Spanned<SceneSec>| s.get_ref().machine.as_ref().is_some_and(other_keys);
    if let Some(s) = scenes.iter().find(changes) {
        return Err(l.err(
            s.span(),
            "a scene of a lesson that boots a kernel may only choose another kernel (`[scene.machine] boot.variant = ...`), not change the machine",
        ));
    }
    if scenes.is_empty() {
        return Err(l.err(
            machine.span(),
            "a lesson needs at least one [[scene]] with its [[scene.step]]s",
        ));
    }
    Ok(())
}

/// The `.set` constants of the kernel's source (the same in every variant).
fn constants(example: Example) -> Result<Vec<(String, i64)>, String> {
    let text = example.source();
    let sections = [SourceSection {
        name: example.file_name(),
        base: crate::scenario::boot::elfout::DEFAULT_BASE,
        text,
    }];
    let layout = asm::layout(&sections, source_bits(text)).map_err(|e| e.message)?;
    Ok(layout.constants().to_vec())
}

/// The machine `ringstep boot --example` starts (a scene's `max_steps` defaults as in
/// every lesson, not to the viewer's bound for a booted kernel).
fn boot(example: Example, variant: Option<Variant>) -> Result<Scenario, String> {
    let written = example.assemble(variant).map_err(|e| e.0)?;
    let name = example.elf_name(variant);
    let mut scenario = multiboot::build(&written.file, &name, &name, false, None)
        .map(|b| b.scenario)
        .map_err(|e| e.0)?;
    scenario.max_steps = None;
    // A lesson's listing and trace stay as the lesson wrote them: no DWARF lines.
    scenario.lines = None;
    Ok(scenario)
}

impl Loader<'_> {
    /// The lesson of `doc`, whose `[machine]` is `machine` with `boot` in it.
    pub(super) fn boot_lesson(
        &self,
        sec: LessonSec,
        machine: Spanned<Doc>,
        (code, scene_secs): (&[CodeSec], &[Spanned<SceneSec>]),
        id: &str,
        (title, summary): (Text, Text),
    ) -> Res<Lesson> {
        check_alone(self, &machine, code, scene_secs)?;
        let Some(boot_sec) = &machine.get_ref().boot else {
            return Err(self.err(machine.span(), "no `boot` in [machine]"));
        };
        let fail =
            |e: String| self.err(boot_sec.span(), format!("booting the example kernel: {e}"));
        let mut scenarios = Vec::new();
        for s in scene_secs {
            let own = s.get_ref().machine.as_ref().and_then(|m| m.boot.as_ref());
            let (example, variant) = which(self, boot_sec, own.map(|b| b.get_ref()))?;
            scenarios.push((example, boot(example, variant).map_err(fail)?));
        }
        let mut scenes = Vec::new();
        let mut all_constants = Vec::new();
        for (s, (example, scenario)) in scene_secs.iter().zip(scenarios) {
            let constants = constants(example).map_err(fail)?;
            let mut symbols: HashMap<String, u64> = scenario
                .machine
                .symbols
                .iter()
                .map(|(n, a)| (n.to_string(), a))
                .collect();
            for (n, v) in &constants {
                symbols.entry(n.clone()).or_insert(*v as u64);
            }
            let names = Names {
                symbols: &symbols,
                long: example == Example::K64,
            };
            scenes.push(self.scene(s, scenario, &names)?);
            if all_constants.is_empty() {
                all_constants = constants;
            }
        }
        Ok(Lesson {
            id: id.to_string(),
            origin: self.origin.to_string(),
            title,
            summary,
            order: sec.order.unwrap_or(1000),
            sources: sec.sources,
            code: Vec::new(),
            constants: all_constants,
            scenes,
        })
    }
}
