//! Booting your own kernel (issue 14): `ringstep asm` writes an ELF that objdump (and QEMU)
//! read as ringstep does; `ringstep trace --boot` loads a Multiboot kernel as the
//! Multiboot 0.6.96 specification says a boot loader must, with a 16550 UART at 0x3f8
//! and isa-debug-exit at 0xf4 (docs/loading.md, "Booting a kernel").

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ringstep");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/boot")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the ringstep binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringstep-boot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary directory");
    d
}

/// `ringstep asm SRC -o OUT` (more args after), expecting success.
fn asm(src: &Path, out: &Path, more: &[&str]) -> String {
    let mut args = vec!["asm", src.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(more);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "asm failed: {}", text(&o.stderr));
    text(&o.stdout)
}

/// The hello kernel, assembled into `dir`.
fn hello(dir: &Path) -> PathBuf {
    let elf = dir.join("hello.elf");
    asm(&fixture("hello.S"), &elf, &[]);
    elf
}

#[test]
fn asm_writes_an_elf_that_objdump_reads_with_the_same_bytes_at_the_same_addresses() {
    let dir = scratch("objdump");
    let elf = dir.join("hello.elf");
    let summary = asm(&fixture("hello.S"), &elf, &[]);
    assert!(
        summary.contains("ELF32 executable") && summary.contains("entry 0x10000c"),
        "{summary}"
    );
    let data = std::fs::read(&elf).unwrap();
    let image = ringstep::load::Image::from_elf(&data, "hello.elf").expect("loads back");
    assert_eq!(image.bits, 32);
    assert_eq!(image.entry_point, Some(0x10000c));
    assert_eq!(image.symbol("_start"), Some(0x10000c));
    assert_eq!(image.segments[0].addr, 0x100000);
    // The bytes the project's assembler makes of the same source.
    let src = std::fs::read_to_string(fixture("hello.S")).unwrap();
    let sections = [ringstep::asm::SourceSection {
        name: "hello.S",
        base: 0x100000,
        text: &src,
    }];
    let bytes = ringstep::asm::layout(&sections, 32)
        .unwrap()
        .encode(&|_| None, &[])
        .unwrap()
        .remove(0)
        .bytes;
    assert_eq!(image.segments[0].bytes, bytes);

    if !common::require_tool("objdump") {
        return;
    }
    // objdump's hex dump of .text: the same bytes at the same addresses.
    let dump = common::run_tool(Command::new("objdump").args(["-s", "-j", ".text"]).arg(&elf))
        .expect("objdump -s");
    let mut seen = Vec::new();
    for line in text(&dump).lines() {
        let mut words = line.split_whitespace();
        let Some(addr) = words.next().and_then(|a| u64::from_str_radix(a, 16).ok()) else {
            continue;
        };
        assert_eq!(addr, 0x100000 + seen.len() as u64, "{line}");
        // Up to four groups of 8 hex digits, then the ASCII column.
        for w in words.take(4) {
            if w.len() % 2 != 0 || !w.chars().all(|c| c.is_ascii_hexdigit()) {
                break;
            }
            for i in (0..w.len()).step_by(2) {
                seen.push(u8::from_str_radix(&w[i..i + 2], 16).unwrap());
            }
        }
    }
    assert_eq!(seen, bytes, "objdump -s shows other bytes");
    let dis = text(
        &common::run_tool(Command::new("objdump").arg("-d").arg(&elf)).expect("objdump -d"),
    );
    assert!(dis.contains("file format elf32-i386"), "{dis}");
    assert!(dis.contains("0010000c <_start>:"), "{dis}");
    assert!(dis.contains("out    %al,$0xf4"), "{dis}");
}

#[test]
fn asm_writes_elf64_for_code64_sources_and_reports_errors_with_their_place() {
    let dir = scratch("asm64");
    let src = dir.join("k64.S");
    std::fs::write(&src, ".code64\nstart: movabs $0x1122334455667788, %rax\n ret\n").unwrap();
    let out = dir.join("k64.elf");
    let summary = asm(&src, &out, &["--base", "0x200000", "--entry", "start"]);
    assert!(summary.contains("ELF64 executable"), "{summary}");
    let image =
        ringstep::load::Image::from_elf(&std::fs::read(&out).unwrap(), "k64.elf").unwrap();
    assert_eq!((image.bits, image.entry_point), (64, Some(0x200000)));

    let bad = dir.join("bad.S");
    std::fs::write(&bad, "nop\n  movl %eax\n").unwrap();
    let o = run(&["asm", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("bad.S:2:"), "{}", text(&o.stderr));
    let o = run(&[
        "asm",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--entry",
        "strat",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--entry strat"), "{}", text(&o.stderr));
}
