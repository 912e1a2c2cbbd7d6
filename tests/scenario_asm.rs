//! The machine code in the presets is what GNU as makes of the listings in
//! assets/presets/src: re-assemble each listing, link it at the preset's address,
//! and compare bytes and labels with the loaded machine.
//!
//! Needs `as`, `ld` and `objcopy` (binutils). Without them the test prints a notice
//! and passes, unless the CI environment variable is set, in which case it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringstep::scenario;

mod common;

struct Listing {
    preset: &'static str,
    source: &'static str,
    bits: u32,
    base: u64,
}

const LISTINGS: &[Listing] = &[
    Listing {
        preset: "linux-2.6-i386",
        source: "linux-2.6-i386-kernel.S",
        bits: 32,
        base: 0xc010_2000,
    },
    Listing {
        preset: "linux-2.6-i386",
        source: "linux-2.6-i386-vsyscall.S",
        bits: 32,
        base: 0xffff_e400,
    },
    Listing {
        preset: "linux-2.6-i386",
        source: "linux-2.6-i386-user.S",
        bits: 32,
        base: 0x0804_8000,
    },
    Listing {
        preset: "linux-x86_64",
        source: "linux-x86_64-kernel.S",
        bits: 64,
        base: 0xffff_ffff_8100_0000,
    },
    Listing {
        preset: "linux-x86_64",
        source: "linux-x86_64-compat.S",
        bits: 64,
        base: 0xffff_ffff_8100_1000,
    },
    Listing {
        preset: "linux-x86_64",
        source: "linux-x86_64-user.S",
        bits: 64,
        base: 0x40_1000,
    },
];

/// Assemble and link one listing; returns the raw text bytes and its symbols.
/// The linked code bytes and the (name, address) of each text label.
type Assembled = (Vec<u8>, Vec<(String, u64)>);

fn assemble(l: &Listing, dir: &Path) -> Result<Assembled, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/presets/src")
        .join(l.source);
    let obj = dir.join(format!("{}.o", l.source));
    let elf = dir.join(format!("{}.elf", l.source));
    let bin = dir.join(format!("{}.bin", l.source));
    let (asflag, emul) = if l.bits == 64 {
        ("--64", "elf_x86_64")
    } else {
        ("--32", "elf_i386")
    };
    common::run_tool(Command::new("as").arg(asflag).arg("-o").arg(&obj).arg(&src))?;
    // Symbols the listing takes from another listing: `# defsym: NAME=VALUE` lines.
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    let defsyms = text.lines().filter_map(|line| {
        let rest = line
            .trim()
            .strip_prefix('#')?
            .trim()
            .strip_prefix("defsym:")?;
        Some(rest.trim().to_string())
    });
    let mut ld = Command::new("ld");
    for d in defsyms {
        ld.arg("--defsym").arg(d);
    }
    common::run_tool(
        ld.args(["-m", emul, "-e", "0"])
            .arg(format!("-Ttext={:#x}", l.base))
            .arg("-o")
            .arg(&elf)
            .arg(&obj),
    )?;
    common::run_tool(
        Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&elf)
            .arg(&bin),
    )?;
    let bytes = std::fs::read(&bin).map_err(|e| e.to_string())?;
    let nm = common::run_tool(Command::new("nm").arg(&elf))?;
    let mut syms = Vec::new();
    for line in String::from_utf8_lossy(&nm).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [addr, kind, name] = parts[..] {
            if kind.eq_ignore_ascii_case("t") {
                let addr = u64::from_str_radix(addr, 16).map_err(|e| e.to_string())?;
                syms.push((name.to_string(), addr));
            }
        }
    }
    Ok((bytes, syms))
}

#[test]
fn preset_code_matches_the_assembler() {
    if !["as", "ld", "objcopy", "nm"]
        .iter()
        .all(|t| common::require_tool(t))
    {
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("ringstep-scenario-asm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut failures = Vec::new();
    for l in LISTINGS {
        let s = scenario::preset(l.preset).unwrap_or_else(|e| panic!("{e}"));
        let (bytes, syms) = assemble(l, &dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(!bytes.is_empty(), "{}: no code", l.source);
        let mut mem = vec![0; bytes.len()];
        s.machine.mem.peek(l.base, &mut mem);
        if let Some(i) = (0..bytes.len()).find(|&i| bytes[i] != mem[i]) {
            failures.push(format!(
                "{}: byte at {:#x} is {:#04x} in the preset, {:#04x} from as",
                l.source,
                l.base + i as u64,
                mem[i],
                bytes[i]
            ));
        }
        // Linker-made symbols (_end, __bss_start, ...) lie past the code.
        let end = l.base + bytes.len() as u64;
        for (name, addr) in syms.into_iter().filter(|(_, a)| *a < end) {
            match s.machine.symbols.get(&name) {
                Some(a) if a == addr => {}
                other => failures.push(format!(
                    "{}: label {name} is at {addr:#x}, preset has {other:x?}",
                    l.source
                )),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
