//! GNU as parity: every fixture under tests/fixtures/asm/ and every preset listing under
//! assets/presets/src/ is assembled with `as`, linked with `ld` at its base (external
//! symbols given with --defsym) and cut out with `objcopy -O binary -j .text`; ringstep's
//! assembler must produce the same bytes and the same label addresses (and the same values
//! for absolute constants).
//!
//! A fixture states how to build it in header comments:
//!   # bits: 32            (or 64)
//!   # base: 0xc0100000
//!   # defsym: name=value  (any number of these)
//!
//! Needs binutils (as, ld, objcopy, nm): without them the tests print a notice and pass,
//! unless the CI environment variable is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use ringstep::asm::{layout, Layout, SourceSection};

struct Fixture {
    name: String,
    text: String,
    bits: u32,
    base: u64,
    defsyms: Vec<(String, u64)>,
}

fn parse_num(s: &str) -> u64 {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|e| panic!("{s}: {e}")),
        None => s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
    }
}

fn fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut f = Fixture {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        text: text.clone(),
        bits: 32,
        base: 0,
        defsyms: Vec::new(),
    };
    for line in text.lines() {
        let Some(c) = line.trim().strip_prefix('#') else {
            continue;
        };
        let c = c.trim();
        if let Some(v) = c.strip_prefix("bits:") {
            f.bits = parse_num(v) as u32;
        } else if let Some(v) = c.strip_prefix("base:") {
            f.base = parse_num(v);
        } else if let Some(v) = c.strip_prefix("defsym:") {
            let (n, v) = v
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: bad defsym {v}", f.name));
            f.defsyms.push((n.trim().to_string(), parse_num(v)));
        }
    }
    f
}

struct Gas {
    bytes: Vec<u8>,
    /// Text symbols (t/T) and absolute symbols (a/A) with values.
    text_syms: Vec<(String, u64)>,
    abs_syms: Vec<(String, u64)>,
}

fn gas(f: &Fixture, dir: &Path) -> Result<Gas, String> {
    let stem = f.name.replace('.', "_");
    let src = dir.join(format!("{stem}.S"));
    std::fs::write(&src, &f.text).map_err(|e| e.to_string())?;
    let obj = dir.join(format!("{stem}.o"));
    let elf = dir.join(format!("{stem}.elf"));
    let bin = dir.join(format!("{stem}.bin"));
    let (asflag, emul) = if f.bits == 64 {
        ("--64", "elf_x86_64")
    } else {
        ("--32", "elf_i386")
    };
    common::run_tool(Command::new("as").arg(asflag).arg("-o").arg(&obj).arg(&src))?;
    let mut ld = Command::new("ld");
    ld.args(["-m", emul, "-e", "0", "-z", "noexecstack"])
        .arg(format!("-Ttext={:#x}", f.base));
    for (n, v) in &f.defsyms {
        ld.arg("--defsym").arg(format!("{n}={v:#x}"));
    }
    common::run_tool(ld.arg("-o").arg(&elf).arg(&obj))?;
    common::run_tool(
        Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&elf)
            .arg(&bin),
    )?;
    let bytes = std::fs::read(&bin).map_err(|e| e.to_string())?;
    // Symbols from the object (not the linked file) so that the linker's own are absent;
    // text symbol values are then section offsets.
    let nm = common::run_tool(Command::new("nm").arg(&obj))?;
    let mut text_syms = Vec::new();
    let mut abs_syms = Vec::new();
    for line in String::from_utf8_lossy(&nm).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [addr, kind, name] = parts[..] {
            let v = u64::from_str_radix(addr, 16).map_err(|e| e.to_string())?;
            match kind {
                "t" | "T" | "W" => text_syms.push((name.to_string(), f.base + v)),
                "a" | "A" => abs_syms.push((name.to_string(), v)),
                _ => {}
            }
        }
    }
    Ok(Gas {
        bytes,
        text_syms,
        abs_syms,
    })
}

/// Our layout, bytes, and (address, length, line) of each statement.
type Ours = (Layout, Vec<u8>, Vec<(u64, u32, usize)>);

fn ours(f: &Fixture) -> Result<Ours, String> {
    let sec = SourceSection {
        name: &f.name,
        base: f.base,
        text: &f.text,
    };
    let l = layout(&[sec], f.bits).map_err(|e| format!("{}: {e}", f.name))?;
    let defs = f.defsyms.clone();
    let out = l
        .encode(&|n| defs.iter().find(|d| d.0 == n).map(|d| d.1), &[])
        .map_err(|e| format!("{}: {e}", f.name))?;
    let a = &out[0];
    let lines = a
        .lines
        .iter()
        .map(|li| (li.addr, li.len, li.line))
        .collect();
    Ok((l, a.bytes.clone(), lines))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compare one fixture; returns a list of differences.
fn compare(f: &Fixture, dir: &Path) -> Vec<String> {
    let mut diffs = Vec::new();
    let g = match gas(f, dir) {
        Ok(g) => g,
        Err(e) => return vec![format!("{}: GNU as failed: {e}", f.name)],
    };
    let (l, bytes, lines) = match ours(f) {
        Ok(x) => x,
        Err(e) => return vec![e],
    };
    if bytes != g.bytes {
        // First instruction whose length differs from the one as made at that offset.
        for (a, n, ln) in &lines {
            let off = (a - f.base) as usize;
            if off >= g.bytes.len() {
                break;
            }
            let mut dec = iced_x86::Decoder::with_ip(
                f.bits,
                &g.bytes[off..],
                *a,
                iced_x86::DecoderOptions::NONE,
            );
            let gl = dec.decode().len() as u32;
            let ours_b = &bytes[off..(off + *n as usize).min(bytes.len())];
            if gl != *n
                && ours_b.len() == *n as usize
                && g.bytes.get(off..off + *n as usize) != Some(ours_b)
            {
                let s = f.text.lines().nth(ln - 1).unwrap_or("").trim().to_string();
                diffs.push(format!(
                    "{}: line {ln} `{s}` at {a:#x}: ours [{}], as [{}]",
                    f.name,
                    hex(ours_b),
                    hex(&g.bytes[off..(off + gl as usize).min(g.bytes.len())])
                ));
                break;
            }
        }
        let i = (0..bytes.len().max(g.bytes.len()))
            .find(|&i| bytes.get(i) != g.bytes.get(i))
            .unwrap_or(0);
        let at = f.base + i as u64;
        let line = lines
            .iter()
            .find(|(a, n, _)| *a <= at && at < a + *n as u64)
            .or_else(|| lines.iter().rev().find(|(a, _, _)| *a <= at));
        let (src, ours_bytes, start) = match line {
            Some((a, n, ln)) => {
                let s = f.text.lines().nth(ln - 1).unwrap_or("").trim().to_string();
                let off = (a - f.base) as usize;
                (
                    format!("line {ln}: `{s}`"),
                    bytes[off..(off + *n as usize).min(bytes.len())].to_vec(),
                    off,
                )
            }
            None => ("?".into(), Vec::new(), i),
        };
        let gas_bytes = g.bytes
            [start.min(g.bytes.len())..(start + ours_bytes.len().max(1) + 4).min(g.bytes.len())]
            .to_vec();
        diffs.push(format!(
            "{}: first difference at {at:#x} ({src}): ours [{}], as [{}...]; sizes {} vs {}",
            f.name,
            hex(&ours_bytes),
            hex(&gas_bytes),
            bytes.len(),
            g.bytes.len()
        ));
    }
    for (name, addr) in &g.text_syms {
        if is_set_symbol(&f.text, name) {
            continue;
        }
        match l.labels().iter().find(|(n, _)| n == name) {
            Some((_, a)) if a == addr => {}
            other => diffs.push(format!(
                "{}: label {name} is at {addr:#x} in as, ours {other:x?}",
                f.name
            )),
        }
    }
    for (name, addr) in l.labels() {
        if name.starts_with(".L") {
            continue;
        }
        if !g.text_syms.iter().any(|(n, _)| n == name) {
            diffs.push(format!(
                "{}: our label {name} ({addr:#x}) is not a text symbol of as",
                f.name
            ));
        }
    }
    let mask = if f.bits == 64 { u64::MAX } else { 0xffff_ffff };
    for (name, v) in &g.abs_syms {
        if f.defsyms.iter().any(|d| &d.0 == name) {
            continue;
        }
        match l.constants().iter().find(|(n, _)| n == name) {
            Some((_, c)) if (*c as u64) & mask == *v & mask => {}
            other => diffs.push(format!(
                "{}: constant {name} is {v:#x} in as, ours {other:x?}",
                f.name
            )),
        }
    }
    diffs
}

/// Symbols made with .set/.equ (labels' aliases show as text symbols in nm).
fn is_set_symbol(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.strip_prefix(".set")
            .or_else(|| l.strip_prefix(".equ"))
            .is_some_and(|r| r.trim_start().starts_with(&format!("{name},")))
            || l.strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('='))
    })
}

fn tools() -> bool {
    ["as", "ld", "objcopy", "nm"]
        .iter()
        .all(|t| common::require_tool(t))
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringstep-asm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

#[test]
fn asm_fixtures_match_gnu_as() {
    if !tools() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asm");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "S"))
        .collect();
    paths.sort();
    if let Ok(only) = std::env::var("ASM_FIXTURE") {
        paths.retain(|p| p.to_string_lossy().contains(&only));
    }
    assert!(
        !paths.is_empty(),
        "expected the fixture corpus in {}",
        root.display()
    );
    let dir = tmpdir("fixtures");
    let mut diffs = Vec::new();
    for p in &paths {
        diffs.extend(compare(&fixture(p), &dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        diffs.is_empty(),
        "{} difference(s):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The preset listings, at the bases tests/scenario_asm.rs links them at.
#[test]
fn asm_preset_listings_match_gnu_as() {
    if !tools() {
        return;
    }
    let listings: [(&str, u32, u64); 5] = [
        ("linux-2.6-i386-kernel.S", 32, 0xc010_2000),
        ("linux-2.6-i386-vsyscall.S", 32, 0xffff_e400),
        ("linux-2.6-i386-user.S", 32, 0x0804_8000),
        ("linux-x86_64-kernel.S", 64, 0xffff_ffff_8100_0000),
        ("linux-x86_64-user.S", 64, 0x40_1000),
    ];
    let dir = tmpdir("presets");
    let mut diffs = Vec::new();
    for (file, bits, base) in listings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/presets/src")
            .join(file);
        let mut f = fixture(&path);
        f.bits = bits;
        f.base = base;
        diffs.extend(compare(&f, &dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        diffs.is_empty(),
        "{} difference(s):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Bulk check, run by hand: `ASM_LINES=file.s ASM_BITS=32 cargo test --test asm_gas_parity
/// -- --ignored asm_lines`. Every line of the file is one instruction; each is assembled by
/// both assemblers and the differences are printed (lines GNU as rejects are skipped).
#[test]
#[ignore]
fn asm_lines_against_gnu_as() {
    let (Ok(path), Ok(bits)) = (std::env::var("ASM_LINES"), std::env::var("ASM_BITS")) else {
        return;
    };
    let bits: u32 = bits.parse().unwrap_or(32);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let dir = tmpdir("lines");
    let mut src = String::new();
    for (i, l) in lines.iter().enumerate() {
        src.push_str(&format!("L{i}:\n{l}\n"));
    }
    src.push_str(&format!("L{}:\n", lines.len()));
    let file = dir.join("lines.s");
    let obj = dir.join("lines.o");
    let bin = dir.join("lines.bin");
    std::fs::write(&file, &src).unwrap_or_else(|e| panic!("{e}"));
    let flag = if bits == 64 { "--64" } else { "--32" };
    let out = common::proc::output_within(
        Command::new("as").arg(flag).arg("-o").arg(&obj).arg(&file),
        &common::proc::Deadline::generous("as on the sampled lines"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut bad = std::collections::HashSet::new();
    for l in stderr.lines() {
        if l.contains("Error") {
            if let Some(n) = l.split(':').nth(1).and_then(|n| n.parse::<usize>().ok()) {
                bad.insert((n - 1) / 2);
            }
        }
    }
    if !out.status.success() {
        eprintln!("as failed; lines with errors are dropped: {bad:?}");
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !bad.contains(i))
            .map(|(_, l)| *l)
            .collect();
        let path2 = dir.join("kept.s");
        std::fs::write(&path2, kept.join("\n")).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("rerun with ASM_LINES={}", path2.display());
        return;
    }
    common::run_tool(
        Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&obj)
            .arg(&bin),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&bin).unwrap_or_else(|e| panic!("{e}"));
    let nm = common::run_tool(Command::new("nm").arg(&obj)).unwrap_or_else(|e| panic!("{e}"));
    let mut off = vec![0usize; lines.len() + 1];
    for l in String::from_utf8_lossy(&nm).lines() {
        let p: Vec<&str> = l.split_whitespace().collect();
        if let [a, _, n] = p[..] {
            if let Some(i) = n.strip_prefix('L').and_then(|i| i.parse::<usize>().ok()) {
                off[i] = usize::from_str_radix(a, 16).unwrap_or(0);
            }
        }
    }
    let mut n_diff = 0;
    for (i, l) in lines.iter().enumerate() {
        let gas = &bytes[off[i].min(bytes.len())..off[i + 1].min(bytes.len())];
        let sec = SourceSection {
            name: "line",
            base: 0,
            text: l,
        };
        let ours = layout(&[sec], bits)
            .and_then(|lay| lay.encode(&|_| Some(0), &[]))
            .map(|a| hex(&a[0].bytes));
        match ours {
            Ok(h) if h == hex(gas) => {}
            Ok(h) => {
                n_diff += 1;
                println!("DIFF {l:40} ours [{h}] as [{}]", hex(gas));
            }
            Err(e) => {
                n_diff += 1;
                println!("ERR  {l:40} {e} (as [{}])", hex(gas));
            }
        }
    }
    println!("{n_diff} of {} lines differ", lines.len());
    let _ = std::fs::remove_dir_all(&dir);
}
