//! A lesson whose machine is a booted example kernel (`[machine] boot.example = "32"`,
//! optionally `boot.variant = "bad-esp0"`): the machine is the one `ringstep boot
//! --example` starts (src/scenario/boot/multiboot.rs), the code listing is the kernel's
//! source, and the kernel's labels and `.set` constants may be used in steps and checks.

use std::collections::HashMap;

use clap::ValueEnum;
use toml::Spanned;

use super::{Loader, Res};
use crate::asm::{self, SourceSection};
use crate::lesson::expr::Names;
use crate::lesson::raw::{CodeSec, LessonSec, SceneSec};
use crate::lesson::{CodeSection, Lesson, SourceLine, Text};
use crate::scenario::boot::elfout::{source_bits, with_defsyms};
use crate::scenario::boot::examples::{Example, Variant};
use crate::scenario::boot::multiboot;
use crate::scenario::raw::{BootSec, Doc};

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

/// The example and variant `boot` names, checked.
fn which(l: &Loader, boot: &Spanned<BootSec>) -> Res<(Example, Option<Variant>)> {
    let Some(ex) = &boot.get_ref().example else {
        return Err(l.err(
            boot.span(),
            "`boot` needs `example` (`boot.example = \"32\"` or `\"64\"`)",
        ));
    };
    let example: Example = choose(l, ex, "example kernel")?;
    let variant = match &boot.get_ref().variant {
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

/// A `[machine]` that boots a kernel has nothing else, and the lesson no `[[code]]`
/// nor scene machines: the kernel is the whole machine.
fn check_alone(
    l: &Loader,
    machine: &Spanned<Doc>,
    code: &[CodeSec],
    scenes: &[Spanned<SceneSec>],
) -> Res<()> {
    let m = machine.get_ref();
    let other = m.preset.is_some()
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
        || m.paging.is_some();
    if other {
        return Err(l.err(
            machine.span(),
            "a [machine] with `boot` takes no other keys (no preset, regs, regions, ...): the booted kernel sets up its machine itself",
        ));
    }
    if let Some(c) = code.first() {
        return Err(l.err(
            c.region.span(),
            "a lesson that boots an example kernel has no [[code]]: the kernel's source is the code",
        ));
    }
    if let Some(s) = scenes.iter().find(|s| s.get_ref().machine.is_some()) {
        return Err(l.err(
            s.span(),
            "a scene of a lesson that boots a kernel cannot change the machine (`[scene.machine]`): each scene boots it afresh",
        ));
    }
    Ok(())
}

/// The kernel's source as a listing, and its `.set` constants.
fn listing(
    example: Example,
    variant: Option<Variant>,
) -> Result<(CodeSection, Vec<(String, i64)>), String> {
    let text = with_defsyms(example.source(), &Example::defsyms(variant)).map_err(|e| e.0)?;
    let bits = source_bits(&text);
    let origin = format!("assets/kernels/{}", example.file_name());
    let sections = [SourceSection {
        name: &origin,
        base: crate::scenario::boot::elfout::DEFAULT_BASE,
        text: &text,
    }];
    let layout = asm::layout(&sections, bits).map_err(|e| e.message)?;
    let assembled = layout.encode(&|_| None, &[]).map_err(|e| e.message)?;
    let a = assembled.into_iter().next().ok_or("no code")?;
    let code = CodeSection {
        region: example.elf_name(variant),
        base: a.base,
        lines: SourceLine::from_assembly(&a.lines, &text),
        bytes: a.bytes,
        origin,
        source: text.clone(),
        bits,
    };
    Ok((code, layout.constants().to_vec()))
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
        if scene_secs.is_empty() {
            return Err(self.err(
                machine.span(),
                "a lesson needs at least one [[scene]] with its [[scene.step]]s",
            ));
        }
        let Some(boot) = &machine.get_ref().boot else {
            return Err(self.err(machine.span(), "no `boot` in [machine]"));
        };
        let (example, variant) = which(self, boot)?;
        let fail = |e: String| self.err(boot.span(), format!("booting the example kernel: {e}"));
        let written = example.assemble(variant).map_err(|e| fail(e.0))?;
        let name = example.elf_name(variant);
        let booted =
            multiboot::build(&written.file, &name, &name, false, None).map_err(|e| fail(e.0))?;
        let (code, constants) = listing(example, variant).map_err(fail)?;
        let mut symbols: HashMap<String, u64> = booted
            .scenario
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
        let mut scenes = Vec::new();
        for s in scene_secs {
            scenes.push(self.scene(s, booted.scenario.clone(), &names)?);
        }
        Ok(Lesson {
            id: id.to_string(),
            origin: self.origin.to_string(),
            title,
            summary,
            order: sec.order.unwrap_or(1000),
            sources: sec.sources,
            code: vec![code],
            constants,
            scenes,
        })
    }
}
