//! Multiboot2 kernels (issue 14): `ringstep trace --boot` finds the Multiboot2 header,
//! honours or refuses its tags, builds the boot information of the Multiboot2
//! specification 2.0, section 3.6, and hands off in the state of section 3.3.
//! QEMU's `-kernel` cannot boot Multiboot2 (that takes GRUB), so the boot information
//! is checked against the specification's layout here, decoded back from memory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

use common::text;

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    common::scratch("mb2", name)
}

use common::asm_elf as asm;

fn kernel(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boot/mb2.S");
    asm(&src, dir, "mb2")
}

fn booted(elf: &Path) -> ringstep::scenario::Scenario {
    let setup = ringstep::load::Setup {
        input: ringstep::load::Input::Boot(elf.to_path_buf()),
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    };
    let loaded = ringstep::load::load(&setup).expect("boots");
    loaded.lesson.scenes.into_iter().next().unwrap().scenario
}

#[test]
fn the_kernel_walks_the_tags_prints_the_memory_map_and_reaches_long_mode() {
    let dir = scratch("walk");
    let elf = kernel(&dir);
    let o = run(&[
        "trace",
        "--boot",
        elf.to_str().unwrap(),
        "--max-steps",
        "100000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "0000000000000000 00000000000a0000 00000001\n\
         00000000000f0000 0000000000010000 00000002\n\
         0000000000100000 0000000007f00000 00000001\n\
         long mode\n"
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("stop: exit status 99 (isa-debug-exit)"),
        "{out}"
    );
    // In the engine: long mode active, CS a 64-bit segment, at the exit.
    let s = booted(&elf);
    let mut e = ringstep::trace::engine_for(&s);
    let stop = e.run(100_000);
    assert_eq!(stop.reason, ringstep::engine::StopReason::Exit(99));
    let cpu = &e.machine().cpu;
    assert!(cpu.long_mode_active());
    assert!(cpu.seg(ringstep::machine::SegReg::Cs).attr.l());
}

/// The boot information at `info`: (type, bytes after the 8-byte tag header) per tag,
/// checking the fixed part and the 8-byte alignment on the way.
fn tags(m: &ringstep::machine::Machine, info: u64) -> Vec<(u32, Vec<u8>)> {
    let word = |a: u64| m.mem.peek_le(a, 4) as u32;
    let total = word(info) as u64;
    assert_eq!(word(info + 4), 0, "reserved");
    assert!((16..=4096).contains(&total), "total_size {total}");
    let mut out = Vec::new();
    let mut at = info + 8;
    while at < info + total {
        assert_eq!(at % 8, 0, "tags start 8-aligned");
        let (ty, size) = (word(at), word(at + 4) as u64);
        let body = (8..size).map(|i| m.mem.peek_le(at + i, 1) as u8).collect();
        out.push((ty, body));
        if ty == 0 {
            assert_eq!((size, at + 8), (8, info + total), "the end tag ends it");
            break;
        }
        at += (size + 7) & !7;
    }
    out
}

#[test]
fn the_hand_off_is_what_multiboot2_3_3_defines_and_the_information_decodes_back() {
    use ringstep::machine::cpu::{CR0_PE, CR0_PG, RAX, RBX};
    use ringstep::machine::flags::{IF, VM};
    use ringstep::machine::SegReg;
    let dir = scratch("state");
    let s = booted(&kernel(&dir));
    let m = &s.machine;
    assert_eq!(m.cpu.gpr[RAX], 0x36d76289);
    assert_eq!(m.cpu.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    assert_eq!(m.cpu.rflags & (IF | VM), 0);
    let cs = m.cpu.seg(SegReg::Cs);
    assert!(cs.attr.is_code() && cs.attr.db() && (cs.base, cs.limit) == (0, 0xffff_ffff));
    for r in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
        let d = m.cpu.seg(r);
        assert!(!d.attr.is_code() && d.attr.writable() && (d.base, d.limit) == (0, 0xffff_ffff));
    }
    let info = m.cpu.gpr[RBX];
    assert_eq!(info % 8, 0, "EBX 8-aligned");
    let tags = tags(m, info);
    let types: Vec<u32> = tags.iter().map(|t| t.0).collect();
    assert_eq!(types, vec![1, 2, 4, 6, 0]);
    let le =
        |b: &[u8], at: usize, n: usize| (0..n).fold(0u64, |v, i| v | (b[at + i] as u64) << (8 * i));
    let cstr = |b: &[u8]| {
        let end = b.iter().position(|&c| c == 0).expect("NUL-terminated");
        String::from_utf8(b[..end].to_vec()).unwrap()
    };
    assert!(cstr(&tags[0].1).ends_with("mb2.elf"), "command line");
    assert!(
        cstr(&tags[1].1).starts_with("ringstep "),
        "boot loader name"
    );
    assert_eq!(
        (le(&tags[2].1, 0, 4), le(&tags[2].1, 4, 4)),
        (640, 127 * 1024)
    );
    let map = &tags[3].1;
    assert_eq!(
        (le(map, 0, 4), le(map, 4, 4)),
        (24, 0),
        "entry_size, version"
    );
    let entries: Vec<(u64, u64, u64, u64)> = map[8..]
        .chunks(24)
        .map(|e| (le(e, 0, 8), le(e, 8, 8), le(e, 16, 4), le(e, 20, 4)))
        .collect();
    assert_eq!(
        entries,
        vec![
            (0, 0xa0000, 1, 0),
            (0xf0000, 0x10000, 2, 0),
            (0x100000, 0x7f00000, 1, 0)
        ]
    );
    assert_eq!(m.symbols.get("multiboot_info"), Some(info));
}

fn boot_error(dir: &Path, name: &str, src: &str) -> String {
    let s = dir.join(format!("{name}.S"));
    std::fs::write(&s, src).unwrap();
    let elf = asm(&s, dir, name);
    let o = run(&["trace", "--boot", elf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    text(&o.stderr)
}

/// A Multiboot2 header with `tags` (already 8-aligned assembler lines) and a checksum
/// that is off by `skew`.
fn header(tags: &str, skew: u32) -> String {
    format!(
        ".set L, end - h\nh: .long 0xE85250D6, 0, L, 0x100000000 - (0xE85250D6 + L) + {skew}\n{tags}\n.word 0, 0\n.long 8\nend:\n_start: hlt\n"
    )
}

#[test]
fn bad_headers_and_unmet_required_tags_are_refused_with_the_file_and_offset() {
    let dir = scratch("bad");
    let e = boot_error(&dir, "sum", &header("", 1));
    assert!(
        e.contains("sum.elf: Multiboot2 header at file offset 0x1000: checksum")
            && e.contains("does not add to 0"),
        "{e}"
    );
    let e = boot_error(
        &dir,
        "fb",
        &header(".word 5, 0\n.long 20, 0, 0, 0\n.balign 8", 0),
    );
    assert!(
        e.contains("fb.elf: Multiboot2 header at file offset 0x1000: the framebuffer tag (type 5) at file offset 0x1010 is required"),
        "{e}"
    );
    let e = boot_error(
        &dir,
        "req",
        &header(".word 1, 0\n.long 12, 3\n.balign 8", 0),
    );
    assert!(e.contains("information tag type 3"), "{e}");
    let e = boot_error(
        &dir,
        "con",
        &header(".word 4, 0\n.long 12, 1\n.balign 8", 0),
    );
    assert!(e.contains("console flags tag (type 4)"), "{e}");
    // The same tags marked optional boot, and the description says what was passed over.
    let s = dir.join("opt.S");
    std::fs::write(&s, header(".word 5, 1\n.long 20, 0, 0, 0\n.balign 8", 0)).unwrap();
    let elf = asm(&s, &dir, "opt");
    let o = run(&["trace", "--boot", elf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let scenario = booted(&elf);
    assert!(
        scenario.description.contains("Multiboot2 kernel")
            && scenario
                .description
                .contains("framebuffer tag (type 5) at 0x1010"),
        "{}",
        scenario.description
    );
}

#[test]
fn a_multiboot2_header_wins_over_a_version_1_header_in_the_same_file() {
    let dir = scratch("both");
    let v1 = ".long 0x1BADB002, 0, 0x100000000 - 0x1BADB002\n.balign 8\n";
    let s = dir.join("both.S");
    std::fs::write(&s, format!("{v1}{}", header("", 0))).unwrap();
    let s = booted(&asm(&s, &dir, "both"));
    assert_eq!(s.machine.cpu.gpr[0], 0x36d76289);
}

#[test]
fn the_entry_address_tag_replaces_the_elf_entry_point() {
    let dir = scratch("entry");
    let s = dir.join("entry.S");
    let src = header(".word 3, 0\n.long 12, real\n.balign 8", 0) + "real: nop\n hlt\n";
    std::fs::write(&s, src).unwrap();
    let elf = asm(&s, &dir, "entry");
    let data = std::fs::read(&elf).unwrap();
    let image = ringstep::load::Image::from_elf(&data, "entry.elf").unwrap();
    let real = image.symbol("real").unwrap();
    assert_ne!(image.entry_point, Some(real));
    assert_eq!(booted(&elf).machine.cpu.rip, real);
}
