//! The assembler's API as others use it: several sections sharing labels, labels/constants/
//! externals in order, encoding with resolved externals, line information, and the
//! round trip of the fixture corpus through iced-x86's decoder.

use std::path::Path;

use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter};
use ringstep::asm::{layout, Assembled, LineInfo, SourceSection};

fn sec<'a>(name: &'a str, base: u64, text: &'a str) -> SourceSection<'a> {
    SourceSection { name, base, text }
}

fn must<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

const USER: &str = "\
# user program
_start:
	movl $20, %eax
	call *%gs:0x10
user_return:
	call kernel_helper
	jmp 1f
1:	movl $CONST, %ebx
.Lloop:
	jmp .Lloop
";

const KERNEL: &str = "\
	.equ CONST, 0x42
	.equ TABLE_END, table_end - table
	.set ALIAS, kernel_helper
kernel_helper:
	pushl $user_return
	movl ext_a, %eax
	addl $ext_b, %eax
	movl ext_a+4, %ebx
	ret
table:
	.long _start, user_return, ext_c
table_end:
";

#[test]
fn asm_sections_share_labels() {
    let l = must(layout(
        &[
            sec("user", 0x0804_8000, USER),
            sec("kernel", 0xc010_0000, KERNEL),
        ],
        32,
    ));
    let names: Vec<&str> = l.labels().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "_start",
            "user_return",
            ".Lloop",
            "kernel_helper",
            "table",
            "table_end"
        ]
    );
    assert_eq!(l.labels()[0], ("_start".to_string(), 0x0804_8000));
    assert_eq!(l.labels()[3], ("kernel_helper".to_string(), 0xc010_0000));
    assert_eq!(
        l.constants(),
        &[("CONST".to_string(), 0x42), ("TABLE_END".to_string(), 12)]
    );
    // Constants are local to the section that sets them, as to one GNU as input file:
    // the user section's `$CONST` is a symbol from elsewhere.
    assert_eq!(l.externals(), &["CONST", "ext_a", "ext_b", "ext_c"]);

    let resolve = |n: &str| match n {
        "CONST" => Some(0x42),
        "ext_a" => Some(0xc020_0000),
        "ext_b" => Some(0x10),
        "ext_c" => Some(0xdead_beef),
        _ => None,
    };
    let out: Vec<Assembled> = must(l.encode(&resolve, &[]));
    assert_eq!(out.len(), 2);
    let user = &out[0];
    assert_eq!(user.base, 0x0804_8000);
    // call kernel_helper at 0x804800c: rel32 to another section.
    let call = &user.bytes[12..17];
    let next = 0x0804_8011u64;
    let rel = u32::from_le_bytes([call[1], call[2], call[3], call[4]]);
    assert_eq!(call[0], 0xe8);
    assert_eq!(
        next.wrapping_add(rel as i32 as i64 as u64) as u32,
        0xc010_0000
    );
    let kernel = &out[1];
    // pushl $user_return: a label of another section, always a 32-bit immediate.
    assert_eq!(&kernel.bytes[..5], &[0x68, 0x0c, 0x80, 0x04, 0x08]);
    // movl ext_a, %eax: moffs form with the resolved address.
    assert_eq!(&kernel.bytes[5..10], &[0xa1, 0x00, 0x00, 0x20, 0xc0]);
    // addl $ext_b, %eax: accumulator form with imm32 even though 0x10 would fit a byte.
    assert_eq!(&kernel.bytes[10..15], &[0x05, 0x10, 0, 0, 0]);
    let table = &kernel.bytes[kernel.bytes.len() - 12..];
    assert_eq!(&table[8..], &0xdead_beefu32.to_le_bytes());
}

/// Sizes and addresses do not depend on the values of external symbols.
#[test]
fn asm_layout_is_independent_of_externals() {
    let l = must(layout(
        &[
            sec("user", 0x0804_8000, USER),
            sec("kernel", 0xc010_0000, KERNEL),
        ],
        32,
    ));
    let a = must(l.encode(&|_| Some(0), &[]));
    let b = must(l.encode(&|_| Some(0xffff_fff0), &[]));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.bytes.len(), y.bytes.len());
        assert_eq!(x.lines, y.lines);
    }
}

#[test]
fn asm_unresolved_external_is_an_error_at_first_use() {
    let l = must(layout(
        &[sec("user", 0x1000, USER), sec("kernel", 0x2000, KERNEL)],
        32,
    ));
    let e = l
        .encode(&|n| (n != "ext_b").then_some(0), &["ext_bb"])
        .err()
        .unwrap_or_else(|| panic!("error expected"));
    assert_eq!((e.section, e.line, e.col), (1, 7, 8));
    assert_eq!(
        e.message,
        "undefined symbol `ext_b`; did you mean `ext_bb`?"
    );
}

#[test]
fn asm_line_info() {
    let text = "\
	.macro TWO
	nop
	cld
	.endm
start:	movl %esp, %ebp
	TWO
	.long 1, 2
	.align 8
	ret
";
    let l = must(layout(&[sec("s", 0x100, text)], 32));
    let out = must(l.encode(&|_| None, &[]));
    let li = |addr, len, line, is_code| LineInfo {
        addr,
        len,
        line,
        is_code,
        bits: 32,
    };
    assert_eq!(
        out[0].lines,
        vec![
            li(0x100, 2, 5, true),
            li(0x102, 1, 6, true),
            li(0x103, 1, 6, true),
            li(0x104, 8, 7, false),
            li(0x10c, 4, 8, true),
            li(0x110, 1, 9, true),
        ]
    );
    assert_eq!(out[0].bytes[..4], [0x89, 0xe5, 0x90, 0xfc]);
}

#[test]
fn asm_code64_and_mode_switches() {
    let text = "\
	.code64
	movq %rsp, %rbp
	.code32
	movl %esp, %ebp
";
    let l = must(layout(&[sec("s", 0x1000, text)], 32));
    let out = must(l.encode(&|_| None, &[]));
    assert_eq!(out[0].bytes, vec![0x48, 0x89, 0xe5, 0x89, 0xe5]);
    // Each section starts in the mode given to layout.
    let l = must(layout(
        &[
            sec("a", 0x1000, ".code64\nnop\n"),
            sec("b", 0x2000, "inc %eax\n"),
        ],
        32,
    ));
    assert_eq!(must(l.encode(&|_| None, &[]))[1].bytes, vec![0x40]);
    assert!(layout(&[sec("s", 0, "nop")], 16).is_err());
}

// ---- round trip through iced's decoder ----

/// The mnemonic a source statement names, if the line is a single instruction.
fn source_mnemonic(line: &str, macros: &[String]) -> Option<String> {
    let mut s = line.split('#').next().unwrap_or("").trim();
    if s.contains(';') || s.contains("/*") {
        return None;
    }
    while let Some((head, rest)) = s.split_once(':') {
        if head
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !head.is_empty()
        {
            s = rest.trim();
        } else {
            break;
        }
    }
    let mut words = s.split_whitespace();
    let mut w = words.next()?.to_ascii_lowercase();
    while matches!(
        w.as_str(),
        "lock" | "rep" | "repe" | "repz" | "repne" | "repnz" | "data16" | "addr16" | "gs" | "cs"
    ) {
        w = words.next()?.to_ascii_lowercase();
    }
    if w.starts_with('.') || w.contains('=') || macros.iter().any(|m| m.eq_ignore_ascii_case(&w)) {
        return None;
    }
    Some(w)
}

/// Whether source mnemonic `src` names the decoded instruction (AT&T suffixes and GNU as
/// synonyms allowed).
fn same_mnemonic(src: &str, decoded: &str, decoded_sfx: &str) -> bool {
    let canon = |m: &str| -> String {
        const CC: [(&str, &str); 14] = [
            ("z", "e"),
            ("nz", "ne"),
            ("c", "b"),
            ("nae", "b"),
            ("nc", "ae"),
            ("nb", "ae"),
            ("na", "be"),
            ("nbe", "a"),
            ("nge", "l"),
            ("nl", "ge"),
            ("ng", "le"),
            ("nle", "g"),
            ("pe", "p"),
            ("po", "np"),
        ];
        for p in ["j", "set", "cmov", "loop"] {
            if let Some(c) = m.strip_prefix(p) {
                if let Some((_, to)) = CC.iter().find(|(a, _)| *a == c) {
                    return format!("{p}{to}");
                }
            }
        }
        match m {
            "sal" | "sall" | "salq" | "salw" | "salb" => m.replacen("sal", "shl", 1),
            "cbw" => "cbtw".into(),
            "cwde" => "cwtl".into(),
            "cdqe" => "cltq".into(),
            "cwd" => "cwtd".into(),
            "cdq" => "cltd".into(),
            "cqo" => "cqto".into(),
            "fwait" => "wait".into(),
            "loopz" => "loope".into(),
            _ => m.into(),
        }
    };
    let (s, d, ds) = (canon(src), canon(decoded), canon(decoded_sfx));
    let strip = |x: &str| -> String {
        let last = x.chars().last().unwrap_or(' ');
        if x.len() > 2 && "bwlq".contains(last) {
            x[..x.len() - 1].to_string()
        } else {
            x.to_string()
        }
    };
    s == d
        || s == ds
        || s == strip(&d)
        || (s == "mov" && d == "movabs")
        || (s == "nop" && d == "xchg")
        || strip(&s) == d
        || strip(&s) == strip(&d)
        || (s.starts_with("movz") && d.starts_with("movz"))
        || (s.starts_with("movs") && (d.starts_with("movs") || d.starts_with("movslq")))
        || (s == "int" && d == "int3")
        || (s.starts_with("ljmp") && d.starts_with("ljmp"))
        || (s.starts_with("lcall") && d.starts_with("lcall"))
        || (s.starts_with("lret") && d.starts_with("lret"))
        || (s.starts_with("xchg") && d == "nop")
        || (s.starts_with("nop") && d == "nop")
}

/// Differences, and how many instructions were compared.
fn round_trip(name: &str, text: &str, bits: u32, base: u64) -> (Vec<String>, usize) {
    let l = must(layout(&[sec(name, base, text)], bits));
    let defsyms: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# defsym:"))
        .filter_map(|d| d.split_once('='))
        .map(|(n, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).unwrap_or(0))
                .unwrap_or_else(|| v.parse().unwrap_or(0));
            (n.trim().to_string(), v)
        })
        .collect();
    let out = must(l.encode(&|n| defsyms.iter().find(|d| d.0 == n).map(|d| d.1), &[]));
    let lines: Vec<&str> = text.lines().collect();
    let macros: Vec<String> = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix(".macro"))
        .filter_map(|r| r.split_whitespace().next())
        .map(|m| m.to_string())
        .collect();
    let mut plain = GasFormatter::new();
    let mut sfx = GasFormatter::new();
    sfx.options_mut().set_gas_show_mnemonic_size_suffix(true);
    let mut bad = Vec::new();
    let mut checked = 0;
    for li in out[0].lines.iter().filter(|li| li.is_code) {
        let Some(src) = lines
            .get(li.line - 1)
            .and_then(|l| source_mnemonic(l, &macros))
        else {
            continue;
        };
        let off = (li.addr - base) as usize;
        let bytes = &out[0].bytes[off..off + li.len as usize];
        let mut dec = Decoder::with_ip(bits, bytes, li.addr, DecoderOptions::NONE);
        let ins = dec.decode();
        if ins.is_invalid() || ins.len() != bytes.len() {
            // Prefix-only lines (`rep` alone) decode together with what follows.
            if matches!(src.as_str(), "rep" | "lock") {
                continue;
            }
            bad.push(format!(
                "{name}:{}: `{}` decodes as invalid",
                li.line,
                lines[li.line - 1].trim()
            ));
            continue;
        }
        let (mut a, mut b) = (String::new(), String::new());
        plain.format_mnemonic(&ins, &mut a);
        sfx.format_mnemonic(&ins, &mut b);
        let last = |s: &str| s.split_whitespace().last().unwrap_or("").to_string();
        let (a, b) = (last(&a), last(&b));
        checked += 1;
        if !same_mnemonic(&src, &a, &b) {
            bad.push(format!(
                "{name}:{}: source `{src}`, decoded `{a}`/`{b}`",
                li.line
            ));
        }
    }
    (bad, checked)
}

#[test]
fn asm_round_trip_through_iced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(std::path::PathBuf, u32, u64)> = Vec::new();
    for e in must(std::fs::read_dir(root.join("tests/fixtures/asm"))).flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "S") {
            let t = must(std::fs::read_to_string(&p));
            let bits = if t.contains("# bits: 64") { 64 } else { 32 };
            let base = t
                .lines()
                .find_map(|l| l.trim().strip_prefix("# base: 0x"))
                .map(|h| u64::from_str_radix(h.trim(), 16).unwrap_or(0))
                .unwrap_or(0x40_0000);
            files.push((p, bits, base));
        }
    }
    for (f, bits, base) in [
        ("linux-2.6-i386-kernel.S", 32, 0xc010_2000),
        ("linux-2.6-i386-vsyscall.S", 32, 0xffff_e400),
        ("linux-2.6-i386-user.S", 32, 0x0804_8000),
        ("linux-x86_64-kernel.S", 64, 0xffff_ffff_8100_0000u64),
        ("linux-x86_64-user.S", 64, 0x40_1000),
    ] {
        files.push((root.join("assets/presets/src").join(f), bits, base));
    }
    let mut bad = Vec::new();
    let mut checked = 0;
    for (p, bits, base) in &files {
        let t = must(std::fs::read_to_string(p));
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (b, n) = round_trip(&name, &t, *bits, *base);
        bad.extend(b);
        checked += n;
    }
    assert!(files.len() >= 12);
    assert!(checked > 800, "only {checked} instructions compared");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Sizes that depend on later labels settle; errors about them are judged on the final
/// layout.
#[test]
fn asm_sizes_from_later_labels() {
    let text = "\
start:
	.space 16 - (end - middle)
middle:
	nop
	nop
end:
	.org 0x20, 0xcc
	ret
";
    let l = must(layout(&[sec("s", 0x100, text)], 32));
    let out = must(l.encode(&|_| None, &[]));
    assert_eq!(out[0].bytes.len(), 0x21);
    assert_eq!(&out[0].bytes[14..17], &[0x90, 0x90, 0xcc]);
    let back = layout(&[sec("s", 0x100, "nop\nnop\n.org 1\n")], 32)
        .err()
        .map(|e| e.message);
    assert_eq!(
        back.as_deref(),
        Some("`.org` would move backwards (from 0x102 to 0x101)")
    );
}

/// Each section has its own constants, `.L` labels and macros (like separate GNU as
/// files); ordinary labels are shared.
#[test]
fn asm_constants_local_labels_and_macros_are_per_section() {
    let kernel = "\t.equ RET_ADDR, 0xffffe410\n\tpushl $RET_ADDR\n.Lout:\n\tjmp .Lout\n";
    let vdso = "\t.macro PUSH3\n\tpush %ecx\n\tpush %edx\n\tpush %ebp\n\t.endm\nentry:\n\tPUSH3\n.Lout:\n\tjmp .Lout\nRET_ADDR:\n\tret\n";
    let l = must(layout(
        &[
            sec("kernel", 0xc010_0000, kernel),
            sec("vdso", 0xffff_e400, vdso),
        ],
        32,
    ));
    assert_eq!(l.constants(), &[("RET_ADDR".to_string(), 0xffff_e410)]);
    let labels: Vec<(&str, u64)> = l.labels().iter().map(|(n, a)| (n.as_str(), *a)).collect();
    assert_eq!(
        labels,
        vec![
            (".Lout", 0xc010_0005),
            ("entry", 0xffff_e400),
            (".Lout", 0xffff_e403),
            ("RET_ADDR", 0xffff_e405)
        ]
    );
    let out = must(l.encode(&|_| None, &[]));
    assert_eq!(out[0].bytes, [0x68, 0x10, 0xe4, 0xff, 0xff, 0xeb, 0xfe]);
    assert_eq!(out[1].bytes, [0x51, 0x52, 0x55, 0xeb, 0xfe, 0xc3]);
    // A macro of one section is not known in the next.
    let err = layout(&[sec("a", 0x1000, vdso), sec("b", 0x2000, "\tPUSH3\n")], 32).unwrap_err();
    assert_eq!((err.section, err.line), (1, 1), "{}", err.message);
}
