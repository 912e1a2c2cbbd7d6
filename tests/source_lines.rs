//! Source lines from DWARF (issue 16): a kernel written in C and assembly, built with the
//! real tools (`as -g`, `gcc -m32 -g`, `ld`), booted with `ringstep trace --boot`; user
//! code loaded with `--elf`. Each step's `file:line` must be what binutils' `addr2line`
//! says for its address; the viewer's code pane shows the source line; damaged debug
//! sections give a warning, never a crash.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_tool, run_ringstep, run_tool, scratch, text};
use ringstep::scenario::boot::lines::LineTable;
use ringstep::scenario::boot::sources::SourceFiles;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dwarf")
        .join(name)
}

fn tools(more: &[&str]) -> bool {
    ["as", "ld", "addr2line"]
        .iter()
        .chain(more)
        .all(|t| require_tool(t))
}

/// Copy fixtures into `dir` and run `cmd ARGS` there (relative names, as a build does).
fn build(dir: &Path, files: &[&str], steps: &[&[&str]]) {
    for f in files {
        std::fs::copy(fixture(f), dir.join(f)).expect("copy a fixture");
    }
    for args in steps {
        run_tool(Command::new(args[0]).args(&args[1..]).current_dir(dir)).expect("build step");
    }
}

/// The C kernel (boot.S + kernel.c) built in `dir`, linked at 1 MiB: `dir/kernel.elf`.
fn c_kernel(dir: &Path) -> PathBuf {
    let gcc: &[&str] = &[
        "gcc",
        "-m32",
        "-g",
        "-O0",
        "-ffreestanding",
        "-fno-pic",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-nostdlib",
        "-c",
        "kernel.c",
        "-o",
        "kernel.o",
    ];
    build(
        dir,
        &["boot.S", "kernel.c"],
        &[
            &["as", "--32", "-g", "-o", "boot.o", "boot.S"],
            gcc,
            &[
                "ld",
                "-m",
                "elf_i386",
                "-N",
                "-Ttext=0x100000",
                "-e",
                "_start",
                "-o",
                "kernel.elf",
                "boot.o",
                "kernel.o",
            ],
        ],
    );
    dir.join("kernel.elf")
}

/// (address, `file:line` if named) of every step line of a text trace.
fn steps(trace: &str) -> Vec<(u64, Option<String>)> {
    trace
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next()?.parse::<u64>().ok()?;
            let addr = u64::from_str_radix(words.next()?, 16).ok()?;
            let line = l.rsplit_once("  ; ").map(|(_, p)| p.to_string());
            Some((addr, line))
        })
        .collect()
}

/// What `addr2line -e ELF` says for each address, as `BARE_FILE_NAME:LINE` (None for
/// `??:0`).
fn oracle(elf: &Path, addrs: &[u64]) -> Vec<Option<String>> {
    let hex: Vec<String> = addrs.iter().map(|a| format!("{a:#x}")).collect();
    let out = run_tool(Command::new("addr2line").arg("-e").arg(elf).args(&hex)).expect("addr2line");
    text(&out)
        .lines()
        .map(|l| {
            let l = l.split(" (").next().unwrap_or(l);
            let (file, line) = l.rsplit_once(':')?;
            let name = file.rsplit('/').next()?;
            (name != "??" && line != "0" && line != "?").then(|| format!("{name}:{line}"))
        })
        .collect()
}

/// The 1-based number of the first line of fixture `file` that contains `what`.
fn line_of(file: &str, what: &str) -> usize {
    let src = std::fs::read_to_string(fixture(file)).unwrap();
    1 + src
        .lines()
        .position(|l| l.contains(what))
        .unwrap_or_else(|| panic!("`{what}` is in {file}"))
}

/// Every step that names a line names the one addr2line names; every step addr2line
/// knows names one.
fn assert_like_addr2line(elf: &Path, steps: &[(u64, Option<String>)]) {
    let addrs: Vec<u64> = steps.iter().map(|s| s.0).collect();
    let want = oracle(elf, &addrs);
    for ((addr, got), want) in steps.iter().zip(&want) {
        assert_eq!(got, want, "the source line of {addr:#x}");
    }
}

#[test]
fn a_booted_c_kernel_names_each_steps_line_as_addr2line_does() {
    if !tools(&["gcc"]) {
        return;
    }
    let dir = scratch("lines", "ckernel");
    let elf = c_kernel(&dir);
    let o = run_ringstep(&[
        "trace",
        "--boot",
        &elf.to_string_lossy(),
        "--max-steps",
        "500",
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.contains("stop: exit status 67"), "{out}");
    assert!(!text(&o.stderr).contains("warning"), "{}", text(&o.stderr));
    let steps = steps(&out);
    assert!(steps.len() > 40, "{out}");
    assert_like_addr2line(&elf, &steps);
    // Known lines: the entry's first instruction, and the addition in add().
    let entry = format!("boot.S:{}", line_of("boot.S", "movl $stack_top"));
    assert_eq!(steps[0].1.as_deref(), Some(entry.as_str()), "{out}");
    let sum = format!("kernel.c:{}", line_of("kernel.c", "int sum = a + b;"));
    assert!(
        out.lines()
            .any(|l| l.contains("add %edx,%eax") && l.ends_with(&format!("  ; {sum}"))),
        "{out}"
    );
}

#[test]
fn the_json_trace_has_a_line_field() {
    if !tools(&["gcc"]) {
        return;
    }
    let dir = scratch("lines", "json");
    let elf = c_kernel(&dir);
    let o = run_ringstep(&[
        "trace",
        "--boot",
        &elf.to_string_lossy(),
        "--max-steps",
        "5",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let first: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|v| v["kind"] == "step")
        .expect("a step");
    let want = format!("boot.S:{}", line_of("boot.S", "movl $stack_top"));
    assert_eq!(first["line"], serde_json::Value::String(want), "{first}");
}

#[test]
fn user_code_loaded_with_elf_names_its_lines_and_the_kernel_steps_none() {
    if !tools(&[]) {
        return;
    }
    let dir = scratch("lines", "user");
    build(
        &dir,
        &["user.S"],
        &[
            &["as", "--32", "-g", "-o", "user.o", "user.S"],
            &[
                "ld",
                "-m",
                "elf_i386",
                "-N",
                "-Ttext=0x8050000",
                "-e",
                "_start",
                "-o",
                "user.elf",
                "user.o",
            ],
            &[
                "ld",
                "-m",
                "elf_i386",
                "-shared",
                "-z",
                "noseparate-code",
                "--hash-style=sysv",
                "-o",
                "user.so",
                "user.o",
            ],
        ],
    );
    let elf = dir.join("user.elf");
    let o = run_ringstep(&["trace", "--elf", &elf.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let steps = steps(&out);
    let user: Vec<_> = steps
        .iter()
        .filter(|s| s.0 < 0xc000_0000)
        .cloned()
        .collect();
    let kernel: Vec<_> = steps.iter().filter(|s| s.0 >= 0xc000_0000).collect();
    assert!(user.len() >= 4 && !kernel.is_empty(), "{out}");
    assert!(kernel.iter().all(|s| s.1.is_none()), "{out}");
    assert_like_addr2line(&elf, &user);
    let add = format!("user.S:{}", line_of("user.S", "addl $2, %ebx"));
    assert!(user.iter().any(|s| s.1.as_deref() == Some(&add)), "{out}");

    // A shared object is placed elsewhere than it was linked (at 0): its lines move
    // with it.
    let so = dir.join("user.so");
    let o = run_ringstep(&["trace", "--elf", &so.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let second = out
        .lines()
        .find(|l| l.contains("<_start+0x5>"))
        .unwrap_or("");
    assert!(second.ends_with(&format!("  ; {add}")), "{out}");
}

#[test]
fn sources_are_read_where_dwarf_says_and_beside_a_moved_elf() {
    if !tools(&["gcc"]) {
        return;
    }
    let dir = scratch("lines", "moved");
    let built = dir.join("build");
    std::fs::create_dir_all(&built).unwrap();
    let elf = c_kernel(&built);
    let sum_line = line_of("kernel.c", "int sum = a + b;") as u32;
    let text_at = |elf: &Path| {
        let data = std::fs::read(elf).unwrap();
        let read = LineTable::from_elf(&data, &elf.to_string_lossy());
        let table = std::sync::Arc::new(read.table.expect("a line table"));
        let image = ringstep::load::Image::from_elf(&data, "k").unwrap();
        let add = image.symbol("add").unwrap();
        // The first address of add() whose line is the addition.
        let addr = (add..add + 0x20)
            .find(|a| table.find(*a).is_some_and(|p| p.line == sum_line))
            .expect("an address of the addition");
        let mut files = SourceFiles::new(table.clone());
        let place = table.find(addr).unwrap();
        files.line(&place).map(str::to_string)
    };
    assert_eq!(text_at(&elf).as_deref(), Some("int sum = a + b;"));
    // Moved away from where it was built: found beside the ELF file.
    let moved = dir.join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::copy(&elf, moved.join("kernel.elf")).unwrap();
    std::fs::copy(built.join("kernel.c"), moved.join("kernel.c")).unwrap();
    std::fs::remove_dir_all(&built).unwrap();
    assert_eq!(
        text_at(&moved.join("kernel.elf")).as_deref(),
        Some("int sum = a + b;")
    );
    // No source anywhere: no text (the place is still known).
    std::fs::remove_file(moved.join("kernel.c")).unwrap();
    assert_eq!(text_at(&moved.join("kernel.elf")), None);
}

/// The file offset and size of section `name`.
fn section(data: &[u8], name: &str) -> (usize, usize) {
    use object::{Object, ObjectSection};
    let f = object::File::parse(data).unwrap();
    let s = f.section_by_name(name).unwrap();
    let (off, size) = s.file_range().unwrap();
    (off as usize, size as usize)
}

#[test]
fn a_damaged_line_table_is_a_warning_and_the_kernel_still_boots() {
    if !tools(&["gcc"]) {
        return;
    }
    let dir = scratch("lines", "damaged");
    let elf = c_kernel(&dir);
    let mut data = std::fs::read(&elf).unwrap();
    let (off, size) = section(&data, ".debug_line");
    data[off..off + size].fill(0xff);
    let bad = dir.join("bad.elf");
    std::fs::write(&bad, &data).unwrap();
    let o = run_ringstep(&[
        "trace",
        "--boot",
        &bad.to_string_lossy(),
        "--max-steps",
        "500",
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(out.contains("stop: exit status 67"), "{out}");
    assert!(!out.contains("  ; "), "no source lines: {out}");
    let err = text(&o.stderr);
    assert!(
        err.contains("warning") && err.contains("bad.elf") && err.contains("DWARF"),
        "{err}"
    );
}

/// A small deterministic generator (xorshift64*), for the fuzz-ish test.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn randomly_damaged_debug_sections_never_crash_the_loader() {
    if !tools(&["gcc"]) {
        return;
    }
    let dir = scratch("lines", "fuzz");
    let elf = c_kernel(&dir);
    let good = std::fs::read(&elf).unwrap();
    let names = [".debug_line", ".debug_info", ".debug_abbrev", ".debug_str"];
    let ranges: Vec<(usize, usize)> = names
        .iter()
        .filter(|n| {
            use object::Object;
            object::File::parse(&*good)
                .unwrap()
                .section_by_name(n)
                .is_some()
        })
        .map(|n| section(&good, n))
        .collect();
    let mut seed = 0x5eed_1234_u64;
    let mut warned = 0;
    for round in 0..400 {
        let mut data = good.clone();
        let (off, size) = ranges[round % ranges.len()];
        for _ in 0..1 + next(&mut seed) % 8 {
            let at = off + (next(&mut seed) as usize) % size;
            data[at] = next(&mut seed) as u8;
        }
        let image = ringstep::load::Image::from_elf(&data, "fuzz.elf").expect("still an ELF");
        warned += usize::from(!image.warnings.is_empty());
        if let Some(t) = &image.lines {
            for a in 0x100000..0x100100 {
                let _ = t.find(a).map(|p| p.to_string());
            }
        }
    }
    assert!(warned > 0, "some damage is noticed");
}

#[test]
fn the_code_pane_shows_the_source_line_at_120x40() {
    if !tools(&["gcc", "tmux"]) {
        return;
    }
    let dir = scratch("lines", "tui");
    let elf = c_kernel(&dir);
    let s = common::tmux::Session::start(
        "lines",
        &format!("--boot {} --no-animation --lang en", elf.display()),
        (120, 40),
    );
    let entry = format!("boot.S:{}", line_of("boot.S", "movl $stack_top"));
    let screen = s.wait_for(&entry);
    assert!(screen.contains("movl $stack_top, %esp"), "{screen}");
    // Into kmain: its lines and their C text.
    s.keys(&["n", "n", "n", "n", "n", "n"]);
    let total = format!("kernel.c:{}", line_of("kernel.c", "int total = 0;"));
    let screen = s.wait_for(&total);
    assert!(screen.contains("int total = 0;"), "{screen}");
    s.keys(&["q"]);
    s.assert_restored("0");
}

#[test]
fn at_80x24_the_source_text_gives_way_and_instructions_stay_whole() {
    if !tools(&["gcc", "tmux"]) {
        return;
    }
    let dir = scratch("lines", "tui80");
    let elf = c_kernel(&dir);
    let s = common::tmux::Session::start(
        "lines80",
        &format!("--boot {} --no-animation --lang de", elf.display()),
        (80, 24),
    );
    s.wait_for("boot.S:");
    s.keys(&["n", "n", "n", "n", "n", "n"]);
    // The loop's header is wider than the text's room in the code pane: cut, with an
    // ellipsis (`~` in the ASCII a LANG=C terminal gets); the instructions it became
    // are whole.
    let head = format!("kernel.c:{}  for (int i", line_of("kernel.c", "for (int i"));
    let screen = s.wait_for(&head);
    let row = screen.lines().find(|l| l.contains(&head)).unwrap_or("");
    let cut = row.contains('…') || row.contains('~');
    assert!(cut && !row.contains("i++)"), "{screen}");
    assert!(screen.contains("movl $1,-8(%ebp)"), "{screen}");
    s.keys(&["q"]);
    s.assert_restored("0");
}

/// Every instruction address of `elf`'s code, from a trace of `steps` steps.
fn traced_addrs(elf: &Path, steps_max: &str) -> Vec<(u64, Option<String>)> {
    let o = run_ringstep(&[
        "trace",
        "--boot",
        &elf.to_string_lossy(),
        "--max-steps",
        steps_max,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    steps(&text(&o.stdout))
}

#[test]
fn ringstep_asm_writes_the_line_table_as_does() {
    if !tools(&[]) {
        return;
    }
    let dir = scratch("lines", "asm");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/boot/hello.S");
    std::fs::copy(&src, dir.join("hello.S")).unwrap();
    let ours = dir.join("ours.elf");
    common::asm_to(&dir.join("hello.S"), &ours, &[]);
    run_tool(
        Command::new("as")
            .args(["--32", "-g", "-o", "hello.o", "hello.S"])
            .current_dir(&dir),
    )
    .expect("as");
    run_tool(
        Command::new("ld")
            .args(["-m", "elf_i386", "-N", "-Ttext=0x100000", "-e", "_start"])
            .args(["-o", "gas.elf", "hello.o"])
            .current_dir(&dir),
    )
    .expect("ld");
    let gas = dir.join("gas.elf");
    let steps = traced_addrs(&ours, "200");
    assert!(steps.len() > 20, "{steps:?}");
    let addrs: Vec<u64> = steps.iter().map(|s| s.0).collect();
    // Our table, as addr2line reads it, is as's; and the trace names the same lines.
    let want = oracle(&gas, &addrs);
    assert!(want.iter().all(Option::is_some), "{want:?}");
    assert_eq!(oracle(&ours, &addrs), want);
    for ((addr, got), want) in steps.iter().zip(&want) {
        let got = got.as_deref().and_then(|g| g.rsplit('/').next());
        assert_eq!(got, want.as_deref(), "{addr:#x}");
    }
}

#[test]
fn the_example_kernel_shows_its_assembly_lines() {
    let o = run_ringstep(&["trace", "--example", "32", "--max-steps", "4"]);
    let out = text(&o.stdout);
    let lgdt = format!("kernel32.S:{}", {
        let src = ringstep::load::examples::Example::K32.source();
        1 + src
            .lines()
            .position(|l| l.trim() == "lgdt gdt_ptr")
            .unwrap()
    });
    let row = out.lines().find(|l| l.contains("lgdt")).unwrap_or("");
    assert!(row.ends_with(&format!("  ; {lgdt}")), "{out}");
    // The viewer shows the source text, which ships inside ringstep.
    let o = run_ringstep(&[
        "boot",
        "--example",
        "32",
        "--render-once",
        "--size",
        "120x40",
        "--at-step",
        "1",
    ]);
    let frame = text(&o.stdout);
    assert!(frame.contains(&format!("{lgdt}  lgdt gdt_ptr")), "{frame}");
}
