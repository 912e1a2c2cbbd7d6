//! The descriptor-table inspectors: every GDT slot and IDT gate decoded, and the TSS that
//! TR points to, field by field, as they are at the current history position.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fit;
use crate::debug::catalogue::in_lang;
use crate::engine::fault::vector_name;
use crate::lesson::Lang;
use crate::tui::inspect::{self, GdtKind, IdtRow};
use crate::tui::view::Ctx;

fn bit(b: bool) -> char {
    if b {
        '1'
    } else {
        '0'
    }
}

/// Draw `lines` below a fixed `head`, from the inspector's scroll position.
fn scrolled(
    ctx: &Ctx,
    f: &mut Frame,
    area: Rect,
    title: String,
    head: Vec<Line<'static>>,
    lines: Vec<Line<'static>>,
) {
    let block = ctx.block(title, false);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let room = h.saturating_sub(head.len());
    let max = lines.len().saturating_sub(room);
    let top = ctx.model.debug.scroll.min(max);
    let width = inner.width as usize;
    let mut out: Vec<Line> = head;
    out.extend(lines.into_iter().skip(top).take(room));
    let out: Vec<Line> = out
        .into_iter()
        .map(|l| {
            if l.width() <= width {
                return l;
            }
            let style = l.spans.first().map_or(Style::default(), |s| s.style);
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::styled(fit(&text, width), style)
        })
        .collect();
    f.render_widget(Paragraph::new(out), inner);
}

fn title(ctx: &Ctx, name: &str, detail: String) -> String {
    format!("{name} {detail} · g · {}", ctx.words.inspector_keys)
}

/// Cells padded to `widths` (negative: right-aligned), one space apart.
fn columns(cells: &[String], widths: &[i16]) -> String {
    let mut out = String::new();
    for (c, w) in cells.iter().zip(widths) {
        let n = w.unsigned_abs() as usize;
        if *w < 0 {
            out.push_str(&format!("{c:>n$} "));
        } else {
            out.push_str(&format!("{c:<n$} "));
        }
    }
    out.trim_end().to_string()
}

pub fn gdt(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let machine = m.run.played.engine.machine();
    let rows = inspect::gdt(machine);
    let wide = area.width >= 110;
    let g = machine.cpu.gdtr;
    let bd = if machine.cpu.long_mode_active() {
        16
    } else {
        8
    };
    // #, selector, base, limit, type, DPL, P, S, G, D/B, L, AVL, A/B, in use, raw.
    let lang = m.lang;
    let type_w = rows
        .iter()
        .filter_map(|r| match &r.kind {
            GdtKind::Segment { type_name, .. } | GdtKind::System { type_name, .. } => {
                Some(in_lang(type_name, lang).chars().count())
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
        .max(22) as i16;
    let mut widths: Vec<i16> = vec![-3, 6, bd, 8, type_w, 3, 1, 1, 1, 3, 1, 3, 3, 8, 16];
    let mut names = w.gdt_heads.to_vec();
    if !wide {
        // Without S, AVL and the raw descriptor.
        for i in [14, 11, 7] {
            widths.remove(i);
            names.remove(i);
        }
    }
    let pick = |all: Vec<String>| -> Vec<String> {
        if wide {
            all
        } else {
            all.into_iter()
                .enumerate()
                .filter(|(i, _)| ![7, 11, 14].contains(i))
                .map(|(_, c)| c)
                .collect()
        }
    };
    let head_cells: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let head = vec![Line::styled(columns(&head_cells, &widths), t.bold)];
    let b = |v: bool| bit(v).to_string();
    let mut lines = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        let lead = [format!("{}", r.index), format!("{:#06x}", r.selector)];
        // Runs of all-zero slots as one line.
        if r.raw == 0 && r.index != 0 && !matches!(r.kind, GdtKind::Upper { .. }) {
            let mut j = i;
            while j + 1 < rows.len()
                && rows[j + 1].raw == 0
                && !matches!(rows[j + 1].kind, GdtKind::Upper { .. })
            {
                j += 1;
            }
            let what = if j > i {
                format!(
                    "{:>3}..{}  ({}, {})",
                    r.index, rows[j].index, w.empty_slots, w.not_present
                )
            } else {
                format!(
                    "{:>3} {:#06x}  ({}, {})",
                    r.index, r.selector, w.empty_slots, w.not_present
                )
            };
            lines.push(Line::styled(what, t.dim));
            i = j + 1;
            continue;
        }
        i += 1;
        let used = r.used_by.join(" ");
        let raw = format!("{:016x}", r.raw);
        let (cells, present) = match &r.kind {
            GdtKind::Null => {
                lines.push(Line::styled(
                    format!("{:>3} {}  ({})", lead[0], lead[1], w.null_entry),
                    t.dim,
                ));
                continue;
            }
            GdtKind::Upper { of } => {
                lines.push(Line::styled(
                    format!("{:>3} {}  ({} {of})", lead[0], lead[1], w.upper_half),
                    t.dim,
                ));
                continue;
            }
            GdtKind::Reserved { ty } => {
                lines.push(Line::styled(
                    format!(
                        "{:>3} {}  {} {ty:#x}: {}  {raw}",
                        lead[0], lead[1], w.system_type, w.reserved_type
                    ),
                    t.dim,
                ));
                continue;
            }
            GdtKind::Gate {
                type_name,
                selector,
                offset,
                dpl,
                present,
                params,
            } => {
                let target = crate::tui::snapshot::symbol(machine, *offset)
                    .map(|s| format!(" <{s}>"))
                    .unwrap_or_default();
                lines.push(Line::styled(
                    format!(
                        "{:>3} {}  {} -> {selector:#06x}:{offset:#x}{target}  DPL {dpl} P {} params {params}",
                        lead[0], lead[1], in_lang(type_name, lang), bit(*present)
                    ),
                    if *present { t.text } else { t.dim },
                ));
                continue;
            }
            GdtKind::Segment {
                base,
                limit,
                type_name,
                dpl,
                present,
                db,
                long,
                granular,
                avl,
                accessed,
                ..
            } => (
                vec![
                    lead[0].clone(),
                    lead[1].clone(),
                    format!("{base:0bd$x}", bd = bd as usize),
                    format!("{limit:08x}"),
                    in_lang(type_name, lang),
                    dpl.to_string(),
                    b(*present),
                    "1".into(),
                    b(*granular),
                    b(*db),
                    b(*long),
                    b(*avl),
                    b(*accessed),
                    used,
                    raw,
                ],
                *present,
            ),
            GdtKind::System {
                base,
                limit,
                type_name,
                dpl,
                present,
                granular,
                busy,
            } => (
                vec![
                    lead[0].clone(),
                    lead[1].clone(),
                    format!("{base:0bd$x}", bd = bd as usize),
                    format!("{limit:08x}"),
                    in_lang(type_name, lang),
                    dpl.to_string(),
                    b(*present),
                    "0".into(),
                    b(*granular),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    busy.map_or("-".to_string(), b),
                    used,
                    raw,
                ],
                *present,
            ),
        };
        lines.push(Line::styled(
            columns(&pick(cells), &widths),
            if present { t.text } else { t.dim },
        ));
    }
    scrolled(
        ctx,
        f,
        area,
        title(
            ctx,
            w.gdt,
            format!(
                "{} {:#x} {} {:#x} ({} {})",
                w.base,
                g.base,
                w.limit,
                g.limit,
                rows.len(),
                w.slots
            ),
        ),
        head,
        lines,
    );
}

/// The IDT columns: vector, name, type, DPL, P, IST (IA-32e only) and the target; the
/// header and every gate row are laid out with the same widths.
struct IdtColumns {
    widths: Vec<i16>,
    ia32e: bool,
    heads: [&'static str; 7],
    lang: Lang,
}

impl IdtColumns {
    fn new(rows: &[IdtRow], ia32e: bool, ctx: &Ctx) -> IdtColumns {
        let lang = ctx.model.lang;
        let name = rows
            .iter()
            .filter(|r| r.gate.present)
            .map(|r| gate_name(r.vector).chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let ty = rows
            .iter()
            .map(|r| in_lang(r.type_name, lang).chars().count())
            .max()
            .unwrap_or(0)
            .max(22);
        let mut widths = vec![10, name as i16, ty as i16, 3, 1];
        if ia32e {
            widths.push(3);
        }
        widths.push(0);
        IdtColumns {
            widths,
            ia32e,
            heads: ctx.words.idt_heads,
            lang,
        }
    }

    fn head(&self) -> String {
        let h = self.heads;
        let mut cells = vec![h[0], h[1], h[2], h[3], h[4]];
        if self.ia32e {
            cells.push(h[5]);
        }
        cells.push(h[6]);
        let cells: Vec<String> = cells.into_iter().map(str::to_string).collect();
        format!(" {}", columns(&cells, &self.widths))
    }
}

fn gate_name(vector: u8) -> String {
    match vector {
        v if v < 32 => vector_name(v).into_owned(),
        0x80 => "int 0x80".to_string(),
        _ => String::new(),
    }
}

/// Runs of identical absent gates shown as one line.
fn idt_lines(ctx: &Ctx, rows: &[IdtRow], cols: &IdtColumns) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        if !r.gate.present {
            let mut j = i;
            while j + 1 < rows.len() && !rows[j + 1].gate.present && rows[j + 1].gate == r.gate {
                j += 1;
            }
            let span = if j > i {
                format!("{:#04x}..{:#04x}", r.vector, rows[j].vector)
            } else {
                format!("{:#04x}", r.vector)
            };
            let cells = [span, ctx.words.not_present.to_string()];
            out.push(Line::styled(
                format!(" {}", columns(&cells, &cols.widths)),
                t.dim,
            ));
            i = j + 1;
            continue;
        }
        out.push(gate_line(ctx, r, cols));
        i += 1;
    }
    out
}

/// One present gate: vector and name in bold, the rest in the text style.
fn gate_line(ctx: &Ctx, r: &IdtRow, cols: &IdtColumns) -> Line<'static> {
    let t = &ctx.theme;
    let g = &r.gate;
    let target = if g.ty == 0x5 {
        format!("TSS {:#06x}", g.selector)
    } else {
        let sym = r.symbol.as_ref().map(|s| format!(" <{s}>"));
        let w = if cols.ia32e { 16 } else { 8 };
        format!(
            "{:#06x}:{:0w$x}{}",
            g.selector,
            g.offset,
            sym.unwrap_or_default()
        )
    };
    let lead = [format!("{:#04x}", r.vector), gate_name(r.vector)];
    let mut rest = vec![
        in_lang(r.type_name, cols.lang),
        g.dpl.to_string(),
        "1".to_string(),
    ];
    if cols.ia32e {
        rest.push(g.ist.to_string());
    }
    rest.push(target);
    // The lead padded to its full width, so that the rest starts at its columns.
    let lead_w: usize = cols.widths[..2]
        .iter()
        .map(|w| w.unsigned_abs() as usize + 1)
        .sum();
    let lead_text = format!(" {}", columns(&lead, &cols.widths[..2]));
    Line::from(vec![
        Span::styled(format!("{lead_text:<w$}", w = lead_w + 1), t.bold),
        Span::styled(columns(&rest, &cols.widths[2..]), t.text),
    ])
}

pub fn idt(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let machine = m.run.played.engine.machine();
    let rows = inspect::idt(machine);
    let ia32e = machine.cpu.long_mode_active();
    let i = machine.cpu.idtr;
    let cols = IdtColumns::new(&rows, ia32e, ctx);
    let lines = idt_lines(ctx, &rows, &cols);
    let head = vec![Line::styled(cols.head(), ctx.theme.bold)];
    scrolled(
        ctx,
        f,
        area,
        title(
            ctx,
            ctx.words.idt,
            format!(
                "{} {:#x} {} {:#x} ({} {} {} {})",
                ctx.words.base,
                i.base,
                ctx.words.limit,
                i.limit,
                rows.len(),
                ctx.words.gates_of,
                if ia32e { 16 } else { 8 },
                ctx.words.bytes
            ),
        ),
        head,
        lines,
    );
}

pub fn tss(ctx: &Ctx, f: &mut Frame, area: Rect) {
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let machine = m.run.played.engine.machine();
    let Some(v) = inspect::tss(machine) else {
        scrolled(
            ctx,
            f,
            area,
            title(ctx, w.tss, String::new()),
            Vec::new(),
            vec![Line::styled(w.no_tss.to_string(), t.dim)],
        );
        return;
    };
    let head = vec![Line::styled(
        format!(
            "TR {:#06x} (GDT {}) · {} · {} {:#x} {} {:#x}",
            v.tr,
            v.tr >> 3,
            in_lang(v.type_name, m.lang),
            w.base,
            v.base,
            w.limit,
            v.limit
        ),
        t.bold,
    )];
    let digits = |len: u8| len as usize * 2;
    let cells: Vec<String> = v
        .fields
        .iter()
        .map(|(name, off, len, value, sym)| {
            let s = sym.as_ref().map(|s| format!(" <{s}>")).unwrap_or_default();
            format!("+{off:02x} {name:<10} {value:0d$x}{s}", d = digits(*len))
        })
        .collect();
    // Two columns when they fit.
    let col = cells.iter().map(|c| c.chars().count()).max().unwrap_or(20) + 2;
    let cols = if area.width as usize >= 2 * col + 2 {
        2
    } else {
        1
    };
    let per = cells.len().div_ceil(cols);
    let mut lines: Vec<Line> = (0..per)
        .map(|r| {
            let text: String = (0..cols)
                .filter_map(|c| cells.get(c * per + r))
                .map(|s| format!("{s:<col$}"))
                .collect();
            Line::styled(text.trim_end().to_string(), t.text)
        })
        .collect();
    let io = v.iomap_bytes();
    lines.push(Line::styled(
        if io == 0 {
            format!("iomap_base {:#x}: {}", v.iomap_base, w.no_iomap)
        } else {
            format!(
                "iomap_base {:#x}: {} TSS+{:#x}, {io} {}",
                v.iomap_base, w.iomap, v.iomap_base, w.bytes
            )
        },
        t.label,
    ));
    scrolled(
        ctx,
        f,
        area,
        title(
            ctx,
            w.tss,
            match (v.long, m.lang) {
                (true, Lang::En) => "64-bit",
                (false, Lang::En) => "32-bit",
                (true, Lang::De) => "64-Bit",
                (false, Lang::De) => "32-Bit",
            }
            .to_string(),
        ),
        head,
        lines,
    );
}

/// The page-table inspector: the walk of the chosen address, level by level, and the
/// ranges the current address space maps.
pub fn page_tables(ctx: &Ctx, f: &mut Frame, area: Rect) {
    use crate::debug::pagetable::{inspector_lines, Kind};
    let m = ctx.model;
    let t = &ctx.theme;
    let w = ctx.words;
    let machine = m.run.played.engine.machine();
    let (lin, origin) = m.pt_target();
    let width = area.width.saturating_sub(2) as usize;
    let key = m
        .keymap
        .first_key("page_tables")
        .map(|k| format!(" · {k}"))
        .unwrap_or_default();
    let title = format!(
        "{}{key} · {} · {}",
        w.page_tables, w.pt_other, w.inspector_keys
    );
    let mut head = Vec::new();
    let mut lines = Vec::new();
    for (i, l) in inspector_lines(machine, lin, origin, w.pt)
        .iter()
        .enumerate()
    {
        let style = match l.kind {
            Kind::Head | Kind::Section => t.bold,
            Kind::Entry | Kind::Bits | Kind::Range => t.text,
            Kind::Note => t.dim,
            Kind::Found => t.label,
            Kind::Stopped => t.fault,
        };
        let line = Line::styled(l.fit(width).to_string(), style);
        if i < 2 && l.kind == Kind::Head {
            head.push(line);
        } else {
            lines.push(line);
        }
    }
    scrolled(ctx, f, area, title, head, lines);
}
