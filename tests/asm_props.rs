//! The assembler never panics: random token soup, random characters, and randomly damaged
//! copies of the fixture corpus either assemble or give an error.

use std::path::Path;

use proptest::prelude::*;
use ringstep::asm::{layout, SourceSection};

const PIECES: &[&str] = &[
    "movl",
    "mov",
    "movb",
    "movq",
    "push",
    "pushl",
    "pop",
    "jmp",
    "jne",
    "call",
    "ret",
    "lea",
    "xchg",
    "add",
    "addq",
    "shl",
    "imul",
    "int",
    "loop",
    "lgdt",
    "ltr",
    "rep",
    "lock",
    "movsb",
    "movabs",
    "ljmp",
    "enter",
    "in",
    "out",
    "test",
    "cmpxchg8b",
    "sysret",
    "iretq",
    "movzbl",
    "%eax",
    "%ax",
    "%al",
    "%ah",
    "%rax",
    "%r8",
    "%r8b",
    "%esp",
    "%ebp",
    "%gs",
    "%ds",
    "%cr3",
    "%dx",
    "%st",
    "%rip",
    "%xmm0",
    "%exa",
    "$",
    "$1",
    "$-1",
    "$0x7fffffff",
    "$0xffffffffff",
    "(",
    ")",
    ",",
    ":",
    "*",
    "+",
    "-",
    "~",
    "!",
    "<<",
    ">>",
    "/",
    "%",
    "&",
    "|",
    "^",
    "==",
    "1f",
    "1b",
    "1:",
    "2:",
    "0b",
    "0x",
    "0x10",
    "010",
    "08",
    "'a",
    "'\\n'",
    "\"s\"",
    "\"",
    "#",
    "/*",
    "*/",
    ";",
    "\\",
    "\\reg",
    "\\@",
    "\\()",
    ".",
    "label:",
    "label",
    ".Lx:",
    ".byte",
    ".word",
    ".long",
    ".quad",
    ".ascii",
    ".asciz",
    ".space",
    ".skip",
    ".fill",
    ".align",
    ".balign",
    ".p2align",
    ".org",
    ".set",
    ".equ",
    ".equiv",
    "X",
    "=",
    ".macro",
    ".endm",
    ".rept",
    ".endr",
    ".purgem",
    ".code32",
    ".code64",
    ".code16",
    ".section",
    ".text",
    ".data",
    ".weak",
    ".globl",
    ".intel_syntax",
    ".end",
    "@function",
    "sym",
    "0x7fffffffffffffff",
    "0xffffffffffffffff",
    "label*",
    "-label",
    "label-.",
    ".-label",
    "(%eax)",
    "4(%ebx,%ecx,4)",
    "(,%eax,8)",
    "%fs:0x28",
    "*%eax",
    "*(%eax)",
    "0(%rip)",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(PIECES).prop_map(|s| s.to_string()),
        1 => "[ -~]{1,3}",
        1 => (0u64..0x1_0000_0000).prop_map(|n| n.to_string()),
    ]
}

fn line() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            piece(),
            proptest::sample::select(&[" ", "", "\t", ", "][..]),
        ),
        0..10,
    )
    .prop_map(|v| v.into_iter().map(|(p, s)| format!("{p}{s}")).collect())
}

fn source() -> impl Strategy<Value = String> {
    proptest::collection::vec(line(), 1..12).prop_map(|v| v.join("\n"))
}

/// Assemble (and encode with every external defined) without panicking.
fn try_all(text: &str, bits: u32, ext: u64) {
    let a = SourceSection {
        name: "a",
        base: 0x1000,
        text,
    };
    let b = SourceSection {
        name: "b",
        base: 0xffff_f000,
        text: "jmp label\nmovl $sym, %eax\n",
    };
    for secs in [&[a][..], &[a, b][..]] {
        if let Ok(l) = layout(secs, bits) {
            let _ = l.labels();
            let _ = l.constants();
            let _ = l.externals();
            let _ = l.encode(&|_| Some(ext), &["sym"]);
            let _ = l.encode(&|_| None, &[]);
        }
    }
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = Vec::new();
    for dir in ["tests/fixtures/asm", "assets/presets/src"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "S") {
                    if let Ok(t) = std::fs::read_to_string(e.path()) {
                        v.push(t);
                    }
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn asm_token_soup_never_panics(text in source(), bits in prop_oneof![Just(32u32), Just(64u32)], ext in any::<u64>()) {
        try_all(&text, bits, ext);
    }

    #[test]
    fn asm_random_text_never_panics(text in "[ -~\t\n]{0,200}", bits in prop_oneof![Just(32u32), Just(64u32)]) {
        try_all(&text, bits, 0x1234);
    }

    #[test]
    fn asm_damaged_corpus_never_panics(
        pick in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..4, "[ -~]{0,4}"), 1..8),
        bits in prop_oneof![Just(32u32), Just(64u32)],
    ) {
        let corpus = corpus();
        prop_assume!(!corpus.is_empty());
        let mut chars: Vec<char> = pick.get(&corpus).chars().collect();
        for (at, op, ins) in edits {
            if chars.is_empty() {
                break;
            }
            let i = at.index(chars.len());
            match op {
                0 => {
                    let end = (i + 8).min(chars.len());
                    chars.drain(i..end);
                }
                1 => {
                    for (k, c) in ins.chars().enumerate() {
                        chars.insert(i + k, c);
                    }
                }
                2 => chars[i] = ins.chars().next().unwrap_or('\n'),
                _ => {
                    // Duplicate a line elsewhere.
                    let s: String = chars.iter().collect();
                    let lines: Vec<&str> = s.lines().collect();
                    let l = lines[i % lines.len()].to_string();
                    chars.splice(0..0, format!("{l}\n").chars());
                }
            }
        }
        let text: String = chars.into_iter().collect();
        try_all(&text, bits, 0xc000_0000);
    }
}
