//! Booting your own kernel (issue 14): `ringstep asm` writes an ELF that objdump (and QEMU)
//! read as ringstep does; `ringstep trace --boot` loads a Multiboot kernel as the
//! Multiboot 0.6.96 specification says a boot loader must, with a 16550 UART at 0x3f8
//! and isa-debug-exit at 0xf4 (docs/loading.md, "Booting a kernel").

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/boot")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    common::run_ringstep(args)
}

use common::text;

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    common::scratch("boot", name)
}

/// `ringstep asm SRC -o OUT` (more args after), expecting success.
fn asm(src: &Path, out: &Path, more: &[&str]) -> String {
    common::asm_to(src, out, more)
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
    let dump = common::run_tool(
        Command::new("objdump")
            .args(["-s", "-j", ".text"])
            .arg(&elf),
    )
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
    let dis =
        text(&common::run_tool(Command::new("objdump").arg("-d").arg(&elf)).expect("objdump -d"));
    assert!(dis.contains("file format elf32-i386"), "{dis}");
    assert!(dis.contains("0010000c <_start>:"), "{dis}");
    assert!(dis.contains("out    %al,$0xf4"), "{dis}");
}

#[test]
fn asm_writes_elf64_for_code64_sources_and_reports_errors_with_their_place() {
    let dir = scratch("asm64");
    let src = dir.join("k64.S");
    std::fs::write(
        &src,
        ".code64\nstart: movabs $0x1122334455667788, %rax\n ret\n",
    )
    .unwrap();
    let out = dir.join("k64.elf");
    let summary = asm(&src, &out, &["--base", "0x200000", "--entry", "start"]);
    assert!(summary.contains("ELF64 executable"), "{summary}");
    let image = ringstep::load::Image::from_elf(&std::fs::read(&out).unwrap(), "k64.elf").unwrap();
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
    assert!(
        text(&o.stderr).contains("--entry strat"),
        "{}",
        text(&o.stderr)
    );
}

/// The setup `--boot FILE` (with `--entry`, `--set`) makes.
fn boot_setup(kernel: &Path, entry: Option<&str>) -> ringstep::load::Setup {
    ringstep::load::Setup {
        input: ringstep::load::Input::Boot(kernel.to_path_buf()),
        machine: None,
        entry: entry.map(str::to_string),
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    }
}

fn booted(kernel: &Path) -> ringstep::scenario::Scenario {
    let loaded = ringstep::load::load(&boot_setup(kernel, None)).expect("boots");
    loaded.lesson.scenes.into_iter().next().unwrap().scenario
}

#[test]
fn trace_boot_prints_the_uart_output_on_stderr_and_stops_with_the_exit_status() {
    let dir = scratch("trace");
    let elf = hello(&dir);
    let o = run(&["trace", "--boot", elf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "hi\n");
    let out = text(&o.stdout);
    assert!(out.contains("uart_out=0x68"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("stop: exit status 67 (isa-debug-exit) after 45 steps"),
        "{out}"
    );
    // JSON: the stop record carries the status; the port events name their device.
    let console = dir.join("console.txt");
    let o = run(&[
        "trace",
        "--boot",
        elf.to_str().unwrap(),
        "--format",
        "json",
        "--console",
        console.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "");
    assert_eq!(std::fs::read(&console).unwrap(), b"hi\n");
    let lines: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let stop = lines.last().unwrap();
    assert_eq!(stop["reason"], "exit");
    assert_eq!(stop["exit_status"], 67);
    let init = &lines[0];
    assert_eq!(init["regs"]["eax"], 0x2badb002u32);
    let out_text = text(&o.stdout);
    assert!(
        out_text.contains(r#""port":1016,"size":1,"value":104,"device":"uart16550""#),
        "no UART port event"
    );
    // Breakpoints by the ELF's symbols; --max-steps.
    let o = run(&["trace", "--boot", elf.to_str().unwrap(), "--break", "done"]);
    let out = text(&o.stdout);
    assert!(out.contains("done"), "{out}");
    assert_eq!(text(&o.stderr), "hi\n");
    let o = run(&[
        "trace",
        "--boot",
        elf.to_str().unwrap(),
        "--max-steps",
        "14",
    ]);
    assert_eq!(text(&o.stderr), "h");
    // --set at entry.
    let o = run(&[
        "trace",
        "--boot",
        elf.to_str().unwrap(),
        "--set",
        "ebx=0x1234",
        "--max-steps",
        "3",
    ]);
    assert!(
        text(&o.stdout).contains("[0x10004c]=0x1234"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn the_machine_state_at_entry_is_what_multiboot_3_2_defines() {
    use ringstep::machine::cpu::{CR0_PE, CR0_PG, RAX, RBX};
    use ringstep::machine::flags::{IF, VM};
    use ringstep::machine::SegReg;
    let dir = scratch("state");
    let s = booted(&hello(&dir));
    let m = &s.machine;
    assert_eq!(m.cpu.gpr[RAX], 0x2BADB002);
    assert_eq!(m.cpu.rip, 0x10000c);
    assert_eq!(m.cpu.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    assert_eq!(m.cpu.rflags & (IF | VM), 0);
    let cs = m.cpu.seg(SegReg::Cs);
    assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
    assert!(
        cs.attr.is_code() && cs.attr.db() && cs.attr.readable(),
        "{cs:?}"
    );
    for r in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
        let d = m.cpu.seg(r);
        assert_eq!((d.base, d.limit), (0, 0xffff_ffff), "{r:?}");
        assert!(
            !d.attr.is_code() && d.attr.writable() && d.attr.db(),
            "{r:?}"
        );
    }
    assert!(m.dev.attached);
    // EBX: the Multiboot information structure (spec 3.3), really in memory.
    let info = m.cpu.gpr[RBX];
    let word = |a: u64| m.mem.peek_le(a, 4);
    let flags = word(info);
    assert_eq!(flags & 0x1, 1, "mem_lower/mem_upper");
    assert_eq!(flags & 0x40, 0x40, "mmap");
    assert_eq!(word(info + 4), 640);
    assert_eq!(word(info + 8), 127 * 1024);
    let (len, addr) = (word(info + 44), word(info + 48));
    let mut entries = Vec::new();
    let mut at = addr;
    while at < addr + len {
        let size = word(at);
        let base = m.mem.peek_le(at + 4, 8);
        let length = m.mem.peek_le(at + 12, 8);
        let ty = word(at + 20);
        entries.push((base, length, ty));
        at += size + 4;
    }
    assert!(entries.contains(&(0, 0xa0000, 1)), "{entries:x?}");
    assert!(entries.contains(&(0x100000, 0x7f00000, 1)), "{entries:x?}");
    let cstr = |a: u64| {
        let mut b = Vec::new();
        let mut p = a;
        while m.mem.peek_le(p, 1) != 0 {
            b.push(m.mem.peek_le(p, 1) as u8);
            p += 1;
        }
        String::from_utf8(b).unwrap()
    };
    assert_eq!(flags & 0x200, 0x200);
    assert!(cstr(word(info + 64)).starts_with("ringstep"));
    assert_eq!(flags & 0x4, 0x4);
    assert!(cstr(word(info + 16)).ends_with("hello.elf"));
    // Named regions: the kernel, low memory, RAM; symbols from the ELF.
    let names: Vec<&str> = m.mem.regions().iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"hello.elf") && names.contains(&"low memory"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("RAM")), "{names:?}");
    assert_eq!(m.symbols.get("boot_magic"), Some(0x100048));
    assert_eq!(m.symbols.get("multiboot_info"), Some(info));
}

#[test]
fn stepping_back_undoes_the_uart_output_and_the_exit() {
    let dir = scratch("reverse");
    let s = booted(&hello(&dir));
    let mut e = ringstep::trace::engine_for(&s);
    let stop = e.run(1000);
    assert_eq!(stop.reason, ringstep::engine::StopReason::Exit(67));
    assert_eq!(e.machine().dev.uart.out, b"hi\n");
    assert_eq!(e.machine().dev.exit, Some(67));
    let after = e.machine().clone();
    // Back over the exit and the last byte.
    let mut outs = Vec::new();
    while e.step_back() {
        outs.push(e.machine().dev.uart.out.len());
    }
    assert_eq!(
        e.machine(),
        &s.machine,
        "back at the start, the machine is as booted"
    );
    assert!(outs.contains(&2) && outs.contains(&1) && outs.contains(&0));
    assert_eq!(e.machine().dev.exit, None);
    // And forward again to the same end.
    let stop = e.run(1000);
    assert_eq!(stop.reason, ringstep::engine::StopReason::Exit(67));
    assert_eq!(e.machine(), &after);
}

/// `ringstep asm` of `src` into `dir/name.elf` (extra args after).
fn asm_text(dir: &Path, name: &str, src: &str, more: &[&str]) -> PathBuf {
    let s = dir.join(format!("{name}.S"));
    std::fs::write(&s, src).unwrap();
    let out = dir.join(format!("{name}.elf"));
    asm(&s, &out, more);
    out
}

fn boot_error(kernel: &Path, more: &[&str]) -> String {
    let mut args = vec!["trace", "--boot", kernel.to_str().unwrap()];
    args.extend_from_slice(more);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    text(&o.stderr)
}

#[test]
fn bad_kernels_are_refused_with_what_is_wrong_and_where() {
    let dir = scratch("errors");
    let plain = asm_text(&dir, "plain", "_start: hlt\n", &[]);
    let e = boot_error(&plain, &[]);
    assert!(
        e.contains("plain.elf: no Multiboot header") && e.contains("--entry"),
        "{e}"
    );
    // A plain ELF with --entry: the same hand-off without the magic.
    let loaded = ringstep::load::load(&boot_setup(&plain, Some("_start"))).unwrap();
    let m = &loaded.lesson.scenes[0].scenario.machine;
    assert_eq!((m.cpu.gpr[0], m.cpu.rip), (0, 0x100000));

    let bad_sum = asm_text(&dir, "sum", ".long 0x1BADB002, 3, 0\n_start: hlt\n", &[]);
    let e = boot_error(&bad_sum, &[]);
    assert!(
        e.contains("file offset 0x1000 has a bad checksum") && e.contains("0xe4524ffb"),
        "{e}"
    );
    let aout = asm_text(
        &dir,
        "aout",
        ".long 0x1BADB002, 0x10000, -(0x1BADB002 + 0x10000)\n_start: hlt\n",
        &[],
    );
    assert!(boot_error(&aout, &[]).contains("a.out kludge"));
    let high = asm_text(
        &dir,
        "high",
        ".long 0x1BADB002, 0, -0x1BADB002\n_start: hlt\n",
        &["--base", "0x10000000"],
    );
    let e = boot_error(&high, &[]);
    assert!(e.contains("outside RAM") && e.contains("0x10000000"), "{e}");
    let e = boot_error(&fixture("hello.S"), &[]);
    assert!(
        e.contains("hello.S: not an ELF file") && e.contains("ringstep asm"),
        "{e}"
    );
    let wide = asm_text(
        &dir,
        "wide",
        ".code64\n.long 0x1BADB002, 0, -0x1BADB002\nhlt\n",
        &[],
    );
    assert!(boot_error(&wide, &[]).contains("64-bit ELF"));
    let e = boot_error(&plain, &["--alt", "1"]);
    assert!(e.contains("--alt does not apply to --boot"), "{e}");
    let e = boot_error(&hello(&dir), &["--entry", "strat"]);
    assert!(
        e.contains("--entry strat: no such symbol") && e.contains("_start"),
        "{e}"
    );
}

#[test]
fn boot_opens_the_viewer_on_the_kernel() {
    let dir = scratch("viewer");
    let elf = hello(&dir);
    let o = run(&[
        "boot",
        elf.to_str().unwrap(),
        "--render-once",
        "--size",
        "120x40",
        "--at-step",
        "14",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let frame = text(&o.stdout);
    assert!(frame.contains("hello.elf"), "{frame}");
    // The listing, with the source lines `ringstep asm` wrote into the ELF's DWARF.
    assert!(frame.contains("hello.S:31  incl %esi"), "{frame}");
    assert!(frame.contains("inc %esi"), "{frame}");
    // The console pane: what the UART sent up to the step shown.
    assert!(frame.contains("Console (UART 0x3f8, 1 bytes)"), "{frame}");
    let o = run(&[
        "boot",
        elf.to_str().unwrap(),
        "--render-once",
        "--at-step",
        "30",
    ]);
    let frame = text(&o.stdout);
    assert!(frame.contains("Console (UART 0x3f8, 2 bytes)"), "{frame}");
    assert!(frame.contains("│hi "), "{frame}");
}

/// The hello kernel in QEMU's Multiboot loader (`qemu-system-i386 -kernel`), stepped
/// under gdb from its entry: EIP, EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, EFLAGS, CS, DS,
/// SS before each of `steps` instructions and after the last, and what its UART printed.
fn qemu_states(elf: &Path, dir: &Path, steps: usize) -> Result<(Vec<Vec<u64>>, Vec<u8>), String> {
    let serial = dir.join("serial.txt");
    let script = dir.join("steps.gdb");
    let regs = "$eip, $eax, $ecx, $edx, $ebx, $esp, $ebp, $esi, $edi, $eflags, $cs, $ds, $ss";
    let print = format!("printf \"S %x %x %x %x %x %x %x %x %x %x %x %x %x\\n\", {regs}");
    std::fs::write(
        &script,
        format!(
            "set architecture i386\nset pagination off\n\
             target remote | exec qemu-system-i386 -gdb stdio -S -kernel {} -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial file:{} -display none -monitor none -nodefaults\n\
             hbreak *0x10000c\ncontinue\nset $i = 0\nwhile $i < {steps}\n  {print}\n  stepi\n  set $i = $i + 1\nend\n{print}\nkill\n",
            elf.display(),
            serial.display()
        ),
    )
    .unwrap();
    // gdb's exit status is not used: its final `kill` finds QEMU already gone when the
    // kernel ended through isa-debug-exit (a broken pipe under load). The states it
    // printed are what counts, and the caller checks how many there are.
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-x"]).arg(&script);
    let deadline = common::proc::Deadline::generous("gdb with QEMU");
    let out = common::proc::output_within(&mut cmd, &deadline)?.stdout;
    let states: Vec<Vec<u64>> = text(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("S "))
        .map(|l| {
            l.split_whitespace()
                .map(|v| u64::from_str_radix(v, 16).unwrap())
                .collect()
        })
        .collect();
    let printed = std::fs::read(&serial).unwrap_or_default();
    Ok((states, printed))
}

#[test]
fn the_hello_kernel_steps_as_in_qemu_from_its_first_instruction() {
    use ringstep::machine::cpu::{RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP};
    use ringstep::machine::SegReg;
    if !common::require_tool("qemu-system-i386") || !common::require_tool("gdb") {
        return;
    }
    let dir = scratch("qemu");
    let elf = hello(&dir);
    // 44 instructions up to the write to isa-debug-exit (after which QEMU is gone).
    let (q, printed) = qemu_states(&elf, &dir, 44).expect("QEMU under gdb");
    assert_eq!(q.len(), 45, "QEMU states: {q:x?}");
    let first = &q[0];
    assert_eq!((first[0], first[1]), (0x10000c, 0x2badb002), "QEMU's entry");
    // QEMU's values for what the spec leaves undefined (and its own info address).
    let mut setup = boot_setup(&elf, None);
    for (i, reg) in [
        (2, "ecx"),
        (3, "edx"),
        (4, "ebx"),
        (5, "esp"),
        (6, "ebp"),
        (7, "esi"),
        (8, "edi"),
        (9, "eflags"),
    ] {
        setup.set.push((reg.to_string(), first[i]));
    }
    let loaded = ringstep::load::load(&setup).expect("boots");
    let s = &loaded.lesson.scenes[0].scenario;
    let mut e = ringstep::trace::engine_for(s);
    const AF: u64 = 1 << 4; // undefined after TEST
    for (n, want) in q.iter().enumerate() {
        let c = &e.machine().cpu;
        let got = [
            c.rip,
            c.gpr[RAX],
            c.gpr[RCX],
            c.gpr[RDX],
            c.gpr[RBX],
            c.gpr[RSP],
            c.gpr[RBP],
            c.gpr[RSI],
            c.gpr[RDI],
            c.rflags & !AF,
            c.seg(SegReg::Cs).selector as u64,
            c.seg(SegReg::Ds).selector as u64,
            c.seg(SegReg::Ss).selector as u64,
        ];
        let mut want = want.clone();
        want[9] &= !AF;
        assert_eq!(
            got.to_vec(),
            want,
            "state before step {n} (ringstep vs QEMU)"
        );
        if n + 1 < q.len() {
            e.step();
        }
    }
    assert_eq!(printed, b"hi\n", "QEMU's serial output");
    assert_eq!(e.machine().dev.uart.out, printed);
}

#[test]
fn memory_outside_ram_reads_all_ones_and_ram_reads_zeros() {
    let dir = scratch("openbus");
    let k = asm_text(
        &dir,
        "bus",
        ".long 0x1BADB002, 0, -0x1BADB002\n_start: movl 0x9000000, %eax\n movl 0x500, %ecx\n movl 0xb8000, %edx\n hlt\n",
        &[],
    );
    let o = run(&["trace", "--boot", k.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert!(out.contains("eax=0xffffffff"), "{out}");
    assert!(
        out.contains("edx=0xffffffff"),
        "the VGA window is not RAM: {out}"
    );
    assert!(
        !out.contains("ecx="),
        "low memory reads zeros (ecx stays 0): {out}"
    );
    assert!(out.contains("stop: halted"), "{out}");
}

#[test]
fn the_listing_decodes_from_each_symbol_so_the_entry_is_not_swallowed_by_the_header() {
    // kernel32.S: a 12-byte Multiboot header, then `_start: movl $kernel_stack_top, %esp`.
    // Decoding the header as code runs into _start; the listing starts again there.
    let o = run(&[
        "boot",
        "--example",
        "32",
        "--render-once",
        "--size",
        "120x40",
        "--at-step",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let frame = text(&o.stdout);
    assert!(
        frame.contains("0010000c mov $kernel_stack_top,%esp"),
        "{frame}"
    );
    assert!(frame.contains("_start:"), "{frame}");
}
