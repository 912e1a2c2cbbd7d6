//! The scenario file as written: serde structures that keep the source span of every
//! value, so that later checks can point at the offending text.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// A number as written: a TOML integer, or a string holding hex, decimal, a symbol
/// name or `symbol+offset` / `symbol-offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumLit {
    Int(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumLit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumLit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string (hex \"0x..\", decimal, or a symbol)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumLit, E> {
                Ok(NumLit::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumLit, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => NumLit::Int(i),
                    Err(_) => NumLit::Text(format!("{v:#x}")),
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumLit, E> {
                Ok(NumLit::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Hex bytes: one string, or an array of strings so that each line of a listing can
/// carry a TOML comment. Whitespace is ignored; a word ending in `:` is a label.
#[derive(Clone, Debug, Default)]
pub struct HexText {
    /// Each piece with its own span when it came from an array element.
    pub parts: Vec<(String, Option<Range<usize>>)>,
}

impl<'de> Deserialize<'de> for HexText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HexText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a hex string or an array of hex strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HexText, E> {
                Ok(HexText {
                    parts: vec![(v.to_string(), None)],
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HexText, A::Error> {
                let mut parts = Vec::new();
                while let Some(s) = seq.next_element::<Spanned<String>>()? {
                    let span = s.span();
                    parts.push((s.into_inner(), Some(span)));
                }
                Ok(HexText { parts })
            }
        }
        d.deserialize_any(V)
    }
}

/// A table whose keys are checked later (registers, MSRs, ...), kept in file order.
#[derive(Clone, Debug, Default)]
pub struct KeyMap<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for KeyMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = KeyMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyMap<V>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Spanned<String>, V>()? {
                    out.push((k, v));
                }
                Ok(KeyMap(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

pub type Num = Spanned<NumLit>;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    pub preset: Option<Spanned<String>>,
    pub machine: Option<MachineSec>,
    #[serde(default)]
    pub regions: Vec<RegionSec>,
    #[serde(default)]
    pub data: Vec<DataSec>,
    pub regs: Option<KeyMap<Num>>,
    pub segs: Option<KeyMap<Num>>,
    pub gdt: Option<GdtSec>,
    pub idt: Option<IdtSec>,
    pub tss: Option<KeyMap<Num>>,
    pub msrs: Option<KeyMap<Num>>,
    pub cr: Option<KeyMap<Num>>,
    pub symbols: Option<KeyMap<Num>>,
    #[serde(default)]
    pub interrupts: Vec<InterruptSec>,
    pub run: Option<RunSec>,
    pub task: Option<TaskSec>,
    pub paging: Option<Spanned<PagingSec>>,
    /// A lesson's `[machine] boot.example`: the machine of a booted example kernel.
    pub boot: Option<Spanned<BootSec>>,
}

/// `boot.example = "32"`, `boot.variant = "bad-esp0"` (lessons only; see
/// lessons/FORMAT.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSec {
    pub example: Option<Spanned<String>>,
    pub variant: Option<Spanned<String>>,
}

/// `[paging]`: how the machine's page tables are made (see scenario/build/paging.rs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingSec {
    /// false: the scenario writes its own tables (`[[data]]` with `phys = true`).
    pub build: Option<bool>,
    /// Physical address for the tables below the top level.
    pub tables: Option<Num>,
    /// The top-level table of the address space that maps every region (not claimed
    /// `exclusive` by another space), as CR3 holds it. Default: CR3.
    pub root: Option<Num>,
    /// Leave the accessed and dirty flags clear for the CPU to set.
    pub clear_accessed: Option<bool>,
    #[serde(default)]
    pub spaces: Vec<SpaceSec>,
}

/// `[[paging.spaces]]`: another address space with its own top-level table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceSec {
    /// Documentation only (e.g. "user" for the page-table-isolation user half).
    #[allow(dead_code)]
    pub name: Option<String>,
    /// The physical address of its top-level table, as CR3 holds it.
    pub cr3: Num,
    /// Regions it maps.
    #[serde(default)]
    pub regions: Vec<Spanned<String>>,
    /// Regions it maps as well, which stay in the other spaces even when `exclusive`.
    #[serde(default)]
    pub shared: Vec<Spanned<String>>,
    /// Map every supervisor region too.
    pub kernel: Option<bool>,
    /// The listed regions belong to this space only (not to the one CR3 starts with).
    pub exclusive: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub mode: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSec {
    pub name: Spanned<String>,
    pub base: Num,
    pub size: Num,
    /// Physical address of the memory behind the region (default: chosen by the machine).
    pub phys: Option<Num>,
    #[serde(default)]
    pub user: bool,
    #[serde(default)]
    pub writable: bool,
    #[serde(default)]
    pub exec: bool,
    pub bytes: Option<Spanned<HexText>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSec {
    pub at: Num,
    pub bytes: Option<Spanned<HexText>>,
    pub words: Option<Vec<Num>>,
    pub longs: Option<Vec<Num>>,
    pub quads: Option<Vec<Num>>,
    /// A NUL-terminated string, e.g. a task's `comm`.
    pub ascii: Option<Spanned<String>>,
    /// Write the pattern this many times (default 1).
    pub repeat: Option<Num>,
    /// `at` is a physical address (e.g. the scenario's own page tables).
    #[serde(default)]
    pub phys: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdtSec {
    pub base: Option<Num>,
    pub limit: Option<Num>,
    #[serde(default)]
    pub entries: Vec<GdtEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdtSec {
    pub base: Option<Num>,
    pub limit: Option<Num>,
    #[serde(default)]
    pub gates: Vec<GateSec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdtEntry {
    pub index: Num,
    /// Documentation only (e.g. `__KERNEL_CS`).
    #[allow(dead_code)]
    pub name: Option<String>,
    pub raw: Option<Num>,
    pub base: Option<Num>,
    pub limit: Option<Num>,
    #[serde(rename = "type")]
    pub ty: Option<Num>,
    pub s: Option<bool>,
    pub dpl: Option<Num>,
    pub present: Option<bool>,
    pub avl: Option<bool>,
    pub l: Option<bool>,
    pub db: Option<bool>,
    pub g: Option<bool>,
    /// A 16-byte IA-32e TSS descriptor with this base (occupies `index` and `index+1`).
    pub tss64_base: Option<Num>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSec {
    pub vector: Num,
    pub selector: Num,
    pub offset: Num,
    pub kind: Spanned<String>,
    pub dpl: Option<Num>,
    pub present: Option<bool>,
    pub ist: Option<Num>,
    /// Documentation only.
    #[allow(dead_code)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterruptSec {
    pub before_step: Num,
    pub vector: Num,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSec {
    pub stop_at: Option<Vec<Num>>,
    pub max_steps: Option<Num>,
}

/// `[task]`: where the kernel keeps `current`, so that PID and context can be shown.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSec {
    pub thread_size: Option<Num>,
    pub task_offset: Option<Num>,
    pub current: Option<Num>,
    pub current_gs: Option<Num>,
    pub pid_offset: Num,
    pub comm_offset: Num,
    pub preempt_count_offset: Option<Num>,
    pub preempt_count: Option<Num>,
    pub interrupt_mask: Num,
}
