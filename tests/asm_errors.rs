//! One broken source per kind of assembler error, each with the exact message and position
//! it must produce. A fixture under tests/fixtures/asm/errors/ says in header comments:
//!   # expect: 3:7: message      (line:column: message, as AsmError displays it)
//!   # bits: 64                  (default 32)
//!   # resolve: name=value       (external symbols known to encode)
//!   # known: name, name         (extra names for did-you-mean)

use std::path::{Path, PathBuf};

use ringstep::asm::{layout, AsmError, SourceSection};

struct Case {
    name: String,
    text: String,
    expect: String,
    bits: u32,
    resolve: Vec<(String, u64)>,
    known: Vec<String>,
}

fn case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut c = Case {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        text: text.clone(),
        expect: String::new(),
        bits: 32,
        resolve: Vec::new(),
        known: Vec::new(),
    };
    for line in text.lines() {
        let Some(h) = line.trim().strip_prefix('#') else {
            continue;
        };
        let h = h.trim();
        if let Some(v) = h.strip_prefix("expect:") {
            c.expect = v.trim().to_string();
        } else if let Some(v) = h.strip_prefix("bits:") {
            c.bits = v.trim().parse().unwrap_or(32);
        } else if let Some(v) = h.strip_prefix("resolve:") {
            let (n, v) = v.split_once('=').unwrap_or((v, "0"));
            let v = v.trim();
            let v = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).unwrap_or(0),
                None => v.parse().unwrap_or(0),
            };
            c.resolve.push((n.trim().to_string(), v));
        } else if let Some(v) = h.strip_prefix("known:") {
            c.known = v.split(',').map(|s| s.trim().to_string()).collect();
        }
    }
    c
}

fn first_error(c: &Case) -> Option<AsmError> {
    let sec = SourceSection {
        name: &c.name,
        base: 0x1000,
        text: &c.text,
    };
    let l = match layout(&[sec], c.bits) {
        Ok(l) => l,
        Err(e) => return Some(e),
    };
    let known: Vec<&str> = c.known.iter().map(|s| s.as_str()).collect();
    let resolve = |n: &str| c.resolve.iter().find(|r| r.0 == n).map(|r| r.1);
    l.encode(&resolve, &known).err()
}

#[test]
fn asm_error_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asm/errors");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "S"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 30,
        "expected the error fixtures in {}",
        root.display()
    );
    let mut failures = Vec::new();
    for p in &paths {
        let c = case(p);
        let got = first_error(&c);
        match got {
            None => failures.push(format!("{}: assembled without error", c.name)),
            Some(e) => {
                assert_eq!(e.section, 0, "{}", c.name);
                let shown = format!("{}:{}: {}", e.line, e.col, e.message);
                if shown != c.expect {
                    failures.push(format!(
                        "{}:\n  expected {}\n  got      {shown}",
                        c.name, c.expect
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn asm_error_display() {
    let sec = SourceSection {
        name: "x",
        base: 0,
        text: "\tnop\n\tmovl %exa, %ebx\n",
    };
    let e = layout(&[sec], 32)
        .err()
        .unwrap_or_else(|| panic!("error expected"));
    assert_eq!(
        e.to_string(),
        "line 2, column 7: unknown register `%exa`; did you mean `%eax`?"
    );
}

/// Errors in the second section name that section.
#[test]
fn asm_error_names_the_section() {
    let a = SourceSection {
        name: "a",
        base: 0x1000,
        text: "nop\n",
    };
    let b = SourceSection {
        name: "b",
        base: 0x2000,
        text: "nop\nbogus %eax\n",
    };
    let e = layout(&[a, b], 32)
        .err()
        .unwrap_or_else(|| panic!("error expected"));
    assert_eq!((e.section, e.line, e.col), (1, 2, 1));
}
