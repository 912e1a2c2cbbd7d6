//! Loading real code (src/load): ELF files the test builds with `as` and `ld` (a
//! vdso32-like shared object with `__kernel_vsyscall` and kernel alternatives, a 64-bit
//! object), stepped through the preset kernels and back; and every loader error, with its
//! message and exit status 2.
//!
//! Needs `as` and `ld` (binutils). Without them the tests print a notice and pass, unless
//! the CI environment variable is set, in which case they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use ringstep::engine::{StepResult, Stop, StopReason};
use ringstep::load::{self, Input, Layout, MachineChoice, Setup};
use ringstep::scenario::Scenario;

mod common;

fn tools() -> bool {
    ["as", "ld"].iter().all(|t| common::require_tool(t))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/load")
        .join(name)
}

/// A fresh directory for one test's files.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringstep-load-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Assemble `src` and link it with `ld_args`; returns the output file.
fn build(dir: &Path, out: &str, src: &Path, as_args: &[&str], ld_args: &[&str]) -> PathBuf {
    let obj = dir.join(format!("{out}.o"));
    let file = dir.join(out);
    common::run_tool(
        Command::new("as")
            .args(as_args)
            .arg("-o")
            .arg(&obj)
            .arg(src),
    )
    .expect("as");
    common::run_tool(
        Command::new("ld")
            .args(ld_args)
            .arg("-o")
            .arg(&file)
            .arg(&obj),
    )
    .expect("ld");
    file
}

/// The vdso-like object with alternatives in the `alt_bytes`-byte layout, linked at 0
/// into one read+execute and one read+write page.
fn vdso(dir: &Path, alt_bytes: u32) -> PathBuf {
    common::vdso32(dir, alt_bytes)
}

fn setup(input: Input) -> Setup {
    Setup {
        input,
        machine: None,
        entry: None,
        base: None,
        landing: None,
        alts: Vec::new(),
        set: Vec::new(),
    }
}

/// Run a scenario to its end; returns the ips executed, the engine's stop and the machine.
fn run(s: &Scenario) -> (Vec<u64>, Stop, ringstep::machine::Machine) {
    let mut e = ringstep::trace::engine_for(s);
    let mut ips = Vec::new();
    for _ in 0..2000 {
        let ip = e.machine().cpu.rip;
        match e.step() {
            StepResult::Stepped => ips.push(ip),
            StepResult::Stopped(stop) => return (ips, stop, e.machine().clone()),
        }
    }
    panic!("the run did not end");
}

fn ringstep(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringstep"))
        .args(args)
        .output()
        .expect("run ringstep");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ringstep trace ARGS` must fail with status 2 and a message containing each of `want`.
fn fails(args: &[&str], want: &[&str]) {
    let (code, out, err) = ringstep(args);
    assert_eq!(
        code, 2,
        "{args:?}: status {code}, stdout {out}, stderr {err}"
    );
    for w in want {
        assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

const PID: u64 = 1234;
const I386_RETURN: u64 = 0x0804_800c; // the preset's user_return
const I386_ESP: u64 = 0xbfff_f3fc;

#[test]
fn vdso_int80_form_runs_through_system_call_and_back() {
    if !tools() {
        return;
    }
    let dir = workdir("int80");
    let so = vdso(&dir, 14);
    let loaded = load::load(&setup(Input::Elf(so.clone()))).expect("loads");
    let img = &loaded.image;
    assert_eq!(img.bits, 32);
    let entry = img.symbol("__kernel_vsyscall").unwrap();
    let landing = img.symbol("int80_landing_pad").unwrap();
    // Linked at 0, placed at the preset's vsyscall page.
    assert_eq!(img.span().0, 0xffff_e000);
    assert_eq!(landing, entry + 9);
    // The unpatched form: three pushes, four NOPs, int $0x80.
    assert_eq!(
        img.read(entry, 13).unwrap(),
        [0x51, 0x52, 0x55, 0x90, 0x90, 0x90, 0x90, 0xcd, 0x80, 0x5d, 0x5a, 0x59, 0xc3]
    );
    let alts = img.alternatives.list();
    assert_eq!(img.alternatives.layout, Some(Layout::FtFlags));
    assert_eq!(alts.len(), 2);
    assert_eq!(
        (
            alts[0].feature,
            alts[0].instr,
            alts[0].instr_len,
            alts[0].repl_len
        ),
        (3 * 32 + 15, entry + 3, 4, 4)
    );
    assert_eq!(alts[0].feature_name(), "X86_FEATURE_SYSENTER32 (3*32+15)");
    assert_eq!(alts[1].feature_name(), "X86_FEATURE_SYSCALL32 (3*32+14)");

    let scene = &loaded.lesson.scenes[0];
    let m0 = &scene.scenario.machine;
    assert_eq!(m0.cpu.rip, entry);
    assert_eq!(m0.cpu.gpr[0], 20, "EAX = __NR_getpid");
    // Called: the return address is on the user stack.
    assert_eq!(m0.cpu.gpr[4], I386_ESP - 4);
    assert_eq!(m0.mem.peek_le(I386_ESP - 4, 4), I386_RETURN);
    assert_eq!(scene.scenario.stop_at, vec![I386_RETURN]);
    // The symbols are imported; the preset's vsyscall page and its names are gone.
    assert_eq!(m0.symbols.get("__kernel_vsyscall"), Some(entry));
    assert!(m0.mem.region_named("vsyscall").is_none());
    // The narrative says what was loaded and how to apply the alternatives.
    let text = &scene.steps[0].text.en;
    assert!(text.contains("vdso14.so"), "{text}");
    // __kernel_vsyscall, int80_landing_pad and the linker's _DYNAMIC.
    assert_eq!(img.symbols.len(), 3);
    assert!(text.contains("3 symbols"), "{text}");
    assert!(text.contains("--alt"), "{text}");
    assert!(text.contains("X86_FEATURE_SYSENTER32"), "{text}");

    let (ips, stop, m) = run(&scene.scenario);
    assert_eq!(stop.reason, StopReason::End);
    assert_eq!(stop.ip, I386_RETURN);
    let system_call = m.symbols.get("system_call").unwrap();
    assert!(ips.contains(&(entry + 7)), "int $0x80 executed");
    assert!(ips.contains(&system_call));
    assert!(ips.contains(&landing), "iret returned to the landing pad");
    assert_eq!(m.cpu.gpr[0], PID, "getpid() returned the preset's PID");
    assert_eq!(m.cpu.gpr[4], I386_ESP, "the ret popped the return address");
    assert_eq!(m.cpu.cpl(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vdso_with_the_sysenter_alternative_returns_through_sysexit() {
    if !tools() {
        return;
    }
    let dir = workdir("sysenter");
    let so = vdso(&dir, 14);
    let mut s = setup(Input::Elf(so));
    s.alts = vec!["1".into()];
    s.set = vec![("ecx".into(), 0x1111), ("edx".into(), 0x2222)];
    let loaded = load::load(&s).expect("loads");
    let img = &loaded.image;
    let entry = img.symbol("__kernel_vsyscall").unwrap();
    let landing = img.symbol("int80_landing_pad").unwrap();
    assert_eq!(img.applied, vec![1]);
    // The patched bytes a modern kernel leaves on an Intel CPU.
    assert_eq!(
        img.read(entry, 13).unwrap(),
        [0x51, 0x52, 0x55, 0x89, 0xe5, 0x0f, 0x34, 0xcd, 0x80, 0x5d, 0x5a, 0x59, 0xc3]
    );
    let scene = &loaded.lesson.scenes[0];
    // The preset kernel was re-assembled: sysenter_entry pushes the landing address.
    let m0 = &scene.scenario.machine;
    let push = m0.symbols.get("sysenter_past_esp").unwrap() + 7;
    let mut b = [0u8; 5];
    m0.mem.peek(push, &mut b);
    assert_eq!(b[0], 0x68, "push imm32");
    assert_eq!(u32::from_le_bytes([b[1], b[2], b[3], b[4]]) as u64, landing);
    assert!(scene.steps[0].text.en.contains("applied"));

    let (ips, stop, m) = run(&scene.scenario);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    assert!(ips.contains(&(entry + 5)), "sysenter executed");
    assert!(ips.contains(&m.symbols.get("sysenter_entry").unwrap()));
    assert!(!ips.contains(&(entry + 7)), "int $0x80 skipped");
    // SYSEXIT landed on the landing pad, whose pops restored ECX and EDX.
    let at_landing = ips.iter().position(|&ip| ip == landing).unwrap();
    assert!(ips[at_landing - 1] >= 0xc000_0000, "came from the kernel");
    assert_eq!(m.cpu.gpr[0], PID);
    assert_eq!((m.cpu.gpr[1], m.cpu.gpr[2]), (0x1111, 0x2222));
    assert_eq!(m.cpu.gpr[4], I386_ESP);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Plain `ld -shared` output (code in pages of its own, 16 KiB) does not fit above the
/// vDSO page at 0xffffe000; it is moved down to end at 4 GiB and still runs.
#[test]
fn a_larger_shared_object_ends_at_4_gib() {
    if !tools() {
        return;
    }
    let dir = workdir("larger");
    let so = build(
        &dir,
        "plain.so",
        &fixture("vdso32.S"),
        &["--32", "--defsym", "ALT_BYTES=14"],
        &["-m", "elf_i386", "-shared"],
    );
    let path = so.to_str().expect("utf-8 path");
    let (code, out, err) = ringstep(&["trace", "--elf", path, "--alt", "SYSENTER32"]);
    assert_eq!(code, 0, "stderr: {err}");
    let first = out.lines().next().expect("a first step");
    let ip = u64::from_str_radix(first.split_whitespace().nth(1).expect("an address"), 16)
        .expect("hex address");
    assert!(
        (0xffff_c000..0xffff_e000).contains(&ip),
        "__kernel_vsyscall placed at {ip:#x}: {first}"
    );
    assert!(first.contains("<__kernel_vsyscall>"), "{first}");
    assert!(out.contains("sysexit"), "{out}");
    assert!(out.contains("stop: end"), "{out}");
}

#[test]
fn the_syscall_alternative_faults_on_a_32_bit_cpu() {
    if !tools() {
        return;
    }
    let dir = workdir("syscall");
    let so = vdso(&dir, 14);
    let mut s = setup(Input::Elf(so));
    s.alts = vec!["syscall32".into()];
    let loaded = load::load(&s).expect("loads");
    let entry = loaded.image.symbol("__kernel_vsyscall").unwrap();
    assert_eq!(
        loaded.image.read(entry + 3, 4).unwrap(),
        [0x89, 0xcd, 0x0f, 0x05]
    );
    let (_, stop, _) = run(&loaded.lesson.scenes[0].scenario);
    // SYSCALL outside IA-32e mode is #UD on Intel (SDM Vol. 2B, SYSCALL).
    match &stop.reason {
        StopReason::Fault(e) => assert_eq!(e.vector, 6, "#UD"),
        other => panic!("expected #UD, got {other:?}"),
    }
    assert_eq!(stop.ip, entry + 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn older_alt_instr_layouts_are_recognised() {
    if !tools() {
        return;
    }
    let dir = workdir("layouts");
    for (bytes, layout) in [(12, Layout::Cpuid16), (13, Layout::Padlen)] {
        let so = vdso(&dir, bytes);
        let mut s = setup(Input::Elf(so));
        s.alts = vec!["SYSENTER32".into()];
        let loaded = load::load(&s).expect("loads");
        assert_eq!(loaded.image.alternatives.layout, Some(layout));
        let entry = loaded.image.symbol("__kernel_vsyscall").unwrap();
        assert_eq!(
            loaded.image.read(entry + 3, 4).unwrap(),
            [0x89, 0xe5, 0x0f, 0x34]
        );
        let (_, stop, m) = run(&loaded.lesson.scenes[0].scenario);
        assert_eq!(stop.reason, StopReason::End);
        assert_eq!(m.cpu.gpr[0], PID);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_64_bit_object_runs_through_entry_syscall_64() {
    if !tools() {
        return;
    }
    let dir = workdir("x64");
    let src = dir.join("getpid64.S");
    std::fs::write(
        &src,
        "\t.text\n\t.globl my_getpid\n\t.type my_getpid,@function\nmy_getpid:\n\tmovl $39, %eax\n\tsyscall\n\tret\n",
    )
    .unwrap();
    let so = build(
        &dir,
        "getpid64.so",
        &src,
        &["--64"],
        &["-shared", "-z", "noseparate-code"],
    );
    let mut s = setup(Input::Elf(so.clone()));
    s.entry = Some("my_getpid".into());
    let loaded = load::load(&s).expect("loads");
    let entry = loaded.image.symbol("my_getpid").unwrap();
    let scene = &loaded.lesson.scenes[0];
    assert_eq!(scene.scenario.machine.cpu.rip, entry);
    let (ips, stop, m) = run(&scene.scenario);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    assert!(ips.contains(&m.symbols.get("entry_SYSCALL_64").unwrap()));
    assert!(
        ips.contains(&(entry + 7)),
        "sysret returned after the syscall"
    );
    assert_eq!(m.cpu.gpr[0], 4321, "the x86-64 preset's PID");

    // Through the command line too; and a 64-bit file on the i386 preset is refused.
    let so_s = so.to_str().unwrap();
    let (code, out, err) = ringstep(&["trace", "--elf", so_s, "--entry", "my_getpid"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().last().unwrap().contains("stop: end"), "{out}");
    fails(
        &[
            "trace",
            "--elf",
            so_s,
            "--preset",
            "linux-2.6-i386",
            "--entry",
            "my_getpid",
        ],
        &[so_s, "wrong architecture for the machine", "64-bit"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn assembly_and_bytes_are_other_ways_in() {
    if !tools() {
        return;
    }
    let dir = workdir("asm");
    let src = dir.join("vsyscall.S");
    std::fs::write(
        &src,
        "__kernel_vsyscall:\n\tpushl %ecx\n\tpushl %edx\n\tpushl %ebp\n\tmovl %esp, %ebp\n\tsysenter\n\tint $0x80\nint80_landing_pad:\n\tpopl %ebp\n\tpopl %edx\n\tpopl %ecx\n\tret\n",
    )
    .unwrap();
    let loaded = load::load(&setup(Input::Asm(src.clone()))).expect("assembles");
    let (_, stop, m) = run(&loaded.lesson.scenes[0].scenario);
    assert_eq!(stop.reason, StopReason::End);
    assert_eq!(m.cpu.gpr[0], PID);
    // The listing shows the source lines.
    assert!(loaded.lesson.code[0]
        .lines
        .iter()
        .any(|l| l.text == "sysenter"));

    // The same bytes as hex: the landing pad is found after the `int $0x80`.
    let (code, out, err) =
        ringstep(&["trace", "--bytes", "51 52 55 89 e5 0f 34 cd 80 5d 5a 59 c3"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sysexit"), "{out}");
    assert!(out.contains("ffffe009"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .contains("at 0x804800c (user_return)"),
        "{out}"
    );

    // An assembly error names the file and line.
    let bad = dir.join("bad.S");
    std::fs::write(&bad, "nop\n\tmovl %eax\n").unwrap();
    fails(&["trace", "--asm", bad.to_str().unwrap()], &["bad.S:2:"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The offset of the `n`-th program header of a 32-bit ELF file.
fn phdr32(data: &[u8], n: usize) -> usize {
    let phoff = u32::from_le_bytes(data[0x1c..0x20].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(data[0x2a..0x2c].try_into().unwrap()) as usize;
    phoff + n * phentsize
}

#[test]
fn loader_errors_name_the_file_and_exit_2() {
    if !tools() {
        return;
    }
    let dir = workdir("errors");
    let so = vdso(&dir, 14);
    let so_s = so.to_str().unwrap();
    let data = std::fs::read(&so).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };

    // Not an ELF file.
    let text = write("notes.txt", b"just some text\n");
    fails(&["trace", "--elf", &text], &[&text, "not an ELF file"]);
    // Empty and truncated files.
    let empty = write("empty.so", b"");
    fails(&["trace", "--elf", &empty], &[&empty, "not an ELF file"]);
    let short = write("short.so", &data[..30]);
    fails(&["trace", "--elf", &short], &[&short, "truncated"]);
    let cut = write("cut.so", &data[..0x120]);
    fails(&["trace", "--elf", &cut], &[&cut, "truncated"]);
    // Wrong architecture: e_machine 40 (ARM).
    let mut arm = data.clone();
    arm[18..20].copy_from_slice(&40u16.to_le_bytes());
    let arm = write("arm.so", &arm);
    fails(
        &["trace", "--elf", &arm],
        &[&arm, "wrong architecture", "ARM"],
    );
    // No such symbol.
    fails(
        &["trace", "--elf", so_s, "--entry", "__kernel_vsyscal"],
        &[so_s, "no such symbol", "did you mean", "__kernel_vsyscall"],
    );
    // Overlapping segments: move the second PT_LOAD onto the first.
    let mut overlap = data.clone();
    let ph = phdr32(&overlap, 1);
    assert_eq!(
        u32::from_le_bytes(overlap[ph..ph + 4].try_into().unwrap()),
        1,
        "PT_LOAD"
    );
    overlap[ph + 8..ph + 12].copy_from_slice(&0x100u32.to_le_bytes());
    let overlap = write("overlap.so", &overlap);
    fails(
        &["trace", "--elf", &overlap],
        &[&overlap, "overlapping segments"],
    );
    // A relocatable object.
    let obj = dir.join("vdso14.so.o");
    let obj_s = obj.to_str().unwrap();
    fails(
        &["trace", "--elf", obj_s],
        &[obj_s, "relocatable", "link it first"],
    );
    // No such file.
    let missing = dir.join("missing.so");
    let missing_s = missing.to_str().unwrap();
    fails(
        &["trace", "--elf", missing_s],
        &[missing_s, "cannot read file"],
    );
    // Alternatives that do not exist.
    fails(
        &["trace", "--elf", so_s, "--alt", "3"],
        &[so_s, "alternatives 1 to 2"],
    );
    fails(
        &["trace", "--elf", so_s, "--alt", "rdtscp"],
        &[so_s, "SYSENTER32"],
    );
    // A table of no known layout.
    let mut odd = data.clone();
    let (off, size) = section(&odd, ".altinstructions");
    assert_eq!(size, 28);
    // 28 bytes read as 2 x 14; make the second entry's lengths impossible for all layouts.
    odd[off + 14 + 12] = 0xff;
    odd[off + 10] = 0xff;
    odd[off + 14 + 10] = 0xff;
    let odd = write("odd.so", &odd);
    fails(
        &["trace", "--elf", &odd, "--alt", "1"],
        &[&odd, "no known struct alt_instr layout"],
    );
    // Placement: a shared object that does not fit below 4 GiB at the base asked for.
    let big = build(
        &dir,
        "big.so",
        &fixture("vdso32.S"),
        &["--32", "--defsym", "ALT_BYTES=14"],
        &["-m", "elf_i386", "-shared"],
    );
    let big_s = big.to_str().unwrap();
    fails(
        &["trace", "--elf", big_s, "--base", "0xffffe000"],
        &[big_s, "past the end of the address space", "--base"],
    );
    let (code, _, err) = ringstep(&["trace", "--elf", big_s, "--base", "0xb0000000"]);
    assert_eq!(code, 0, "{err}");
    fails(
        &["trace", "--elf", so_s, "--base", "0x08048000"],
        &[so_s, "overlaps the machine's region `user_text`"],
    );
    fails(
        &["trace", "--elf", so_s, "--base", "0x1234"],
        &["multiple of 4096"],
    );
    // Options that need code, and bad values.
    fails(&["trace", "--entry", "x"], &["--entry needs code to load"]);
    fails(&["trace", "--elf", so_s, "--set", "eax"], &["REG=VALUE"]);
    fails(
        &["trace", "--elf", so_s, "--set", "xyz=1"],
        &["unknown register"],
    );
    fails(
        &["trace", "--elf", so_s, "--machine", "/nonexistent.toml"],
        &["/nonexistent.toml"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// File offset and size of a section, from the 32-bit section headers.
fn section(data: &[u8], name: &str) -> (usize, usize) {
    let r32 = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let r16 = |at: usize| u16::from_le_bytes(data[at..at + 2].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (r32(0x20), r16(0x2e), r16(0x30), r16(0x32));
    let strtab = r32(shoff + shstrndx * shentsize + 16);
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        let n = strtab + r32(sh);
        let end = n + data[n..].iter().position(|&b| b == 0).unwrap();
        if &data[n..end] == name.as_bytes() {
            return (r32(sh + 16), r32(sh + 20));
        }
    }
    panic!("no section {name}");
}

#[test]
fn the_viewer_opens_loaded_code() {
    if !tools() {
        return;
    }
    let dir = workdir("viewer");
    let so = vdso(&dir, 14);
    let so_s = so.to_str().unwrap();
    let (code, out, err) = ringstep(&[
        "run",
        "--elf",
        so_s,
        "--alt",
        "1",
        "--render-once",
        "--size",
        "160x50",
        "--lang",
        "en",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("__kernel_vsyscall"), "{out}");
    assert!(out.contains("Loaded"), "{out}");
    // The header names the loaded file once (the scene is named like the lesson).
    let header = out.lines().next().unwrap_or("");
    assert_eq!(header.matches("vdso14.so").count(), 1, "{header}");
    // Three steps in: the patched mov %esp,%ebp is next, listed from the disassembly.
    let (code, out, err) = ringstep(&[
        "run",
        "--elf",
        so_s,
        "--alt",
        "1",
        "--render-once",
        "--size",
        "160x50",
        "--at-step",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sysenter_entry"), "{out}");
    // --machine with a scenario file layered on the preset works too.
    let toml = dir.join("machine.toml");
    std::fs::write(&toml, "preset = \"linux-2.6-i386\"\n").unwrap();
    let mut s = setup(Input::Elf(so.clone()));
    s.machine = Some(MachineChoice::File(toml));
    // A scenario file keeps its own registers: ask for getpid.
    s.set = vec![("eax".into(), 20)];
    let loaded = load::load(&s).expect("loads into the scenario file's machine");
    let (_, stop, m) = run(&loaded.lesson.scenes[0].scenario);
    assert_eq!(stop.reason, StopReason::End);
    assert_eq!(m.cpu.gpr[0], PID);
    // A 64-bit machine without a 32-bit user code segment at 0x23 cannot run a 32-bit
    // process (a kernel without IA32 emulation would not load one either).
    let toml = dir.join("no_ia32.toml");
    std::fs::write(
        &toml,
        "preset = \"linux-x86_64\"\n[[gdt.entries]]\nindex = 4\nraw = 0\n",
    )
    .unwrap();
    let toml_s = toml.to_str().unwrap();
    fails(
        &["trace", "--elf", so_s, "--machine", toml_s],
        &[so_s, "cannot run a 32-bit process", "__USER32_CS"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ELF32 executable with one PT_LOAD program header per `(vaddr, memsz)`, no bytes
/// in the file (all zero-filled, like .bss).
fn elf32_with_segments(segments: &[(u32, u32)]) -> Vec<u8> {
    let mut f = vec![0x7f, b'E', b'L', b'F', 1, 1, 1];
    f.resize(16, 0);
    let half = |f: &mut Vec<u8>, v: u16| f.extend_from_slice(&v.to_le_bytes());
    let word = |f: &mut Vec<u8>, v: u32| f.extend_from_slice(&v.to_le_bytes());
    half(&mut f, 2); // ET_EXEC
    half(&mut f, 3); // EM_386
    word(&mut f, 1);
    word(&mut f, segments[0].0); // entry
    word(&mut f, 52); // phoff
    word(&mut f, 0); // shoff
    word(&mut f, 0); // flags
    for v in [52, 32, segments.len() as u16, 40, 0, 0] {
        half(&mut f, v);
    }
    for &(vaddr, memsz) in segments {
        for v in [1, 0, vaddr, vaddr, 0, memsz, 6, 0x1000] {
            word(&mut f, v);
        }
    }
    f
}

/// Each segment may be up to 1 GiB, but a file of several such segments had the loader
/// allocate (and zero) all of them: three of 768 MiB took 2.25 GiB, and more program
/// headers grow without limit. The segments of one file add up to 1 GiB at most, checked
/// before anything is allocated.
#[test]
fn the_loadable_segments_of_one_file_add_up_to_1_gib_at_most() {
    let big = 0x3000_0000; // 768 MiB
    let f = elf32_with_segments(&[(0x1000_0000, big), (0x5000_0000, big), (0x9000_0000, big)]);
    let e = match ringstep::load::Image::from_elf(&f, "big.elf") {
        Ok(i) => panic!("loaded {} segments of 768 MiB", i.segments.len()),
        Err(e) => e,
    };
    assert_eq!(
        e.0,
        "big.elf: the loadable segments (PT_LOAD) add up to 0x90000000 bytes in memory, \
         more than 1 GiB"
    );
    // Small segments in the same places load.
    let f = elf32_with_segments(&[(0x1000_0000, 0x1000), (0x5000_0000, 0x1000)]);
    match ringstep::load::Image::from_elf(&f, "small.elf") {
        Ok(image) => assert_eq!(image.segments.len(), 2),
        Err(e) => panic!("two segments of 4 KiB: {e}"),
    }
}

/// The i386 `__NR_getpid`, the 64-bit preset's user_return and the compat process's ESP.
const X64_RETURN: u64 = 0x40_1007;
const COMPAT_ESP: u64 = 0xffff_d3c0;

fn compat_setup(so: PathBuf) -> Setup {
    let mut s = setup(Input::Elf(so));
    s.machine = Some(MachineChoice::Preset("linux-x86_64".into()));
    s
}

/// A vdso32 on the 64-bit preset: a 32-bit process (compatibility mode) whose
/// __kernel_vsyscall takes the `int $0x80` way into 6.7's asm_int80_emulation and comes
/// back with IRETQ.
#[test]
fn vdso32_on_the_x86_64_preset_is_a_32_bit_process() {
    if !tools() {
        return;
    }
    let dir = workdir("compat-int80");
    let so = vdso(&dir, 14);
    let loaded = load::load(&compat_setup(so)).expect("loads");
    let img = &loaded.image;
    let entry = img.symbol("__kernel_vsyscall").unwrap();
    let landing = img.symbol("int80_landing_pad").unwrap();
    // Below 4 GiB, at the compat vDSO address, as a region of its own.
    assert_eq!(img.span().0 & !0xfff, 0xf7fc_5000);
    let scene = &loaded.lesson.scenes[0];
    let m0 = &scene.scenario.machine;
    let r = m0.mem.region_at(entry).expect("mapped");
    assert!(r.perm.user && r.perm.exec, "{r:?}");
    assert!(r.name.contains("vdso14.so"), "{}", r.name);
    assert_eq!(m0.cpu.mode(), ringstep::machine::Mode::Compat);
    assert_eq!(m0.cpu.seg(ringstep::machine::SegReg::Cs).selector, 0x23);
    assert_eq!(m0.cpu.seg(ringstep::machine::SegReg::Ss).selector, 0x2b);
    assert_eq!(m0.cpu.seg(ringstep::machine::SegReg::Ds).selector, 0x2b);
    assert!(m0.mem.region_named("user32_stack").is_some());
    assert_eq!(m0.cpu.gpr[4], COMPAT_ESP - 4, "a 4-byte return address");
    assert_eq!(m0.mem.peek_le(COMPAT_ESP - 4, 4), X64_RETURN);
    assert_eq!(m0.cpu.gpr[0], 20, "EAX = the i386 __NR_getpid");
    // The kernel knows where the vDSO and its landing pad are.
    let task_vdso = m0.symbols.get("task.mm_context_vdso").unwrap();
    assert_eq!(m0.mem.peek_le(task_vdso, 8), 0xf7fc_5000);
    let off = m0.mem.peek_le(m0.symbols.get("vdso_image_32").unwrap(), 8);
    assert_eq!(0xf7fc_5000 + off, landing);
    let text = &scene.steps[0].text.en;
    assert!(text.contains("32-bit process on a 64-bit kernel"), "{text}");

    let (ips, stop, m) = run(&scene.scenario);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    assert_eq!(stop.ip, X64_RETURN);
    let i = ips
        .iter()
        .position(|&a| Some(a) == m.symbols.get("asm_int80_emulation"))
        .expect("the int $0x80 gate was taken");
    assert_eq!(ips[i - 1], entry + 7);
    assert!(ips.contains(&landing));
    assert_eq!(
        m.cpu.gpr[0], PID_X64,
        "getpid() of the 64-bit preset's task"
    );
    assert_eq!(m.cpu.gpr[4], COMPAT_ESP);
    assert_eq!(m.cpu.cpl(), 3);
    assert_eq!(m.cpu.mode(), ringstep::machine::Mode::Compat);
    let _ = std::fs::remove_dir_all(&dir);
}

const PID_X64: u64 = 4321;

/// With the SYSENTER32 alternative (what 6.7 patches in on Intel): SYSENTER to
/// entry_SYSENTER_compat, back with SYSRETL to the landing pad; ECX and EDX restored by
/// the vDSO's pops, EBX/ESI/EDI/EBP by the kernel.
#[test]
fn vdso32_sysenter_on_the_x86_64_preset_returns_by_sysretl() {
    if !tools() {
        return;
    }
    let dir = workdir("compat-sysenter");
    let so = vdso(&dir, 14);
    let mut s = compat_setup(so.clone());
    s.alts = vec!["SYSENTER32".into()];
    s.set = vec![
        ("ebx".into(), 0x1111),
        ("ecx".into(), 0x2222),
        ("edx".into(), 0x3333),
        ("esi".into(), 0x4444),
        ("edi".into(), 0x5555),
        ("ebp".into(), 0x6666),
    ];
    let loaded = load::load(&s).expect("loads");
    let entry = loaded.image.symbol("__kernel_vsyscall").unwrap();
    let landing = loaded.image.symbol("int80_landing_pad").unwrap();
    let (ips, stop, m) = run(&loaded.lesson.scenes[0].scenario);
    assert_eq!(stop.reason, StopReason::End, "{stop:?}");
    assert!(ips.contains(&(entry + 5)), "sysenter executed");
    assert!(ips.contains(&m.symbols.get("entry_SYSENTER_compat").unwrap()));
    assert!(!ips.contains(&(entry + 7)), "int $0x80 skipped");
    let sysretl = m.symbols.get("entry_SYSRETL_compat_unsafe_stack").unwrap() + 12;
    let at = ips.iter().position(|&a| a == landing).unwrap();
    assert_eq!(ips[at - 1], sysretl, "SYSRETL to the landing pad");
    assert_eq!(m.cpu.gpr[0], PID_X64);
    for (r, v) in [
        (3, 0x1111),
        (1, 0x2222),
        (2, 0x3333),
        (6, 0x4444),
        (7, 0x5555),
        (5, 0x6666),
    ] {
        assert_eq!(m.cpu.gpr[r] & 0xffff_ffff, v, "register {r}");
    }
    assert_eq!(m.cpu.gpr[4], COMPAT_ESP);
    assert_eq!(m.cpu.seg(ringstep::machine::SegReg::Cs).selector, 0x23);

    // The command line: `ringstep trace --elf vdso32.so --preset linux-x86_64`.
    let so_s = so.to_str().unwrap();
    let (code, out, err) = ringstep(&[
        "trace",
        "--elf",
        so_s,
        "--preset",
        "linux-x86_64",
        "--alt",
        "SYSENTER32",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sysenter"), "{out}");
    assert!(out.contains("<entry_SYSENTER_compat>"), "{out}");
    assert!(out.contains("sysretl"), "{out}");
    assert!(out.lines().last().unwrap().contains("stop: end"), "{out}");
    let (code, out, err) = ringstep(&["trace", "--elf", so_s, "--preset", "linux-x86_64"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<asm_int80_emulation>"), "{out}");
    assert!(out.contains("iretq"), "{out}");
    assert!(out.lines().last().unwrap().contains("stop: end"), "{out}");
    // The viewer shows the 32-bit process's stack in 4-byte slots (the kernel's in 8).
    let (code, out, err) = ringstep(&[
        "run",
        "--elf",
        so_s,
        "--preset",
        "linux-x86_64",
        "--alt",
        "SYSENTER32",
        "--render-once",
        "--size",
        "160x50",
        "--at-step",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    let edx = out
        .lines()
        .find(|l| l.contains("ffffd3b4"))
        .unwrap_or_else(|| panic!("no 4-byte slot at 0xffffd3b4: {out}"));
    assert!(edx.contains("saved %edx"), "{edx}");
    // The SYSCALL32 form is #UD on ringstep's Intel CPU in compatibility mode.
    let mut s = compat_setup(so);
    s.alts = vec!["SYSCALL32".into()];
    let loaded = load::load(&s).expect("loads");
    let (_, stop, _) = run(&loaded.lesson.scenes[0].scenario);
    match &stop.reason {
        StopReason::Fault(e) => assert_eq!(e.vector, 6, "#UD"),
        other => panic!("expected #UD, got {other:?}"),
    }
    assert_eq!(stop.ip, entry + 5);
    let _ = std::fs::remove_dir_all(&dir);
}
