//! The modules of src/ import only downward (see src/lib.rs): the CLI is a thin shell
//! on top that nothing imports, and no module reaches up to a higher layer. Checked by
//! reading every `crate::MODULE` path in the sources (unit tests at the end of a file,
//! after `#[cfg(test)]`, may use anything).

use std::path::{Path, PathBuf};

/// Every top-level module and its layer: a module may use only lower layers.
const LAYERS: &[(&str, u32)] = &[
    ("usage", 0),
    ("userfile", 0),
    ("machine", 0),
    ("asm", 1),
    ("disasm", 1),
    ("engine", 2),
    ("scenario", 3),
    ("lesson", 4),
    ("trace", 4),
    ("debug", 5),
    ("load", 5),
    ("gdb", 6),
    ("tui", 7),
    ("export", 8),
    ("cli", 9),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to (`src/tui/app.rs` -> `tui`), or None for
/// lib.rs and main.rs.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// `(line number, module)` of every `crate::MODULE` (also `crate::{a, b::c}`) in the
/// non-test part of `text`, comments left out.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let code = code.join("\n");
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let preceded = code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if preceded {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let after = &code[at + "crate::".len()..];
        for name in leading_names(after) {
            out.push((line, name));
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first path segment after `crate::`: one name, or each item's first name of a
/// `{...}` group.
fn leading_names(after: &str) -> Vec<String> {
    let Some(group) = after.strip_prefix('{') else {
        return vec![ident(after)]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect();
    };
    let mut names = Vec::new();
    let (mut depth, mut item_start) = (1usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => break,
            '}' => depth -= 1,
            ',' if depth == 1 => item_start = true,
            c if c.is_whitespace() => {}
            _ if item_start && depth == 1 => {
                item_start = false;
                let name = ident(&group[i..]);
                if !name.is_empty() {
                    names.push(name);
                }
            }
            _ => {}
        }
    }
    names
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn nothing_imports_the_cli() {
    let mut found = Vec::new();
    for path in rust_files(&src()) {
        if path.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (line, module) in crate_paths(&text) {
            if module == "cli" && module_of(&path).as_deref() != Some("cli") {
                found.push(format!("{}:{line}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "crate::cli is imported by: {}",
        found.join(", ")
    );
}

#[test]
fn modules_import_only_lower_layers() {
    let mut problems = Vec::new();
    let files = rust_files(&src());
    assert!(
        files.len() > 50,
        "expected the sources under {}",
        src().display()
    );
    for path in files {
        let Some(module) = module_of(&path) else {
            continue;
        };
        let Some(own) = layer(&module) else {
            problems.push(format!(
                "{}: module `{module}` has no layer in LAYERS",
                path.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (line, used) in crate_paths(&text) {
            if used == module {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                Some(l) => problems.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses crate::{used} (layer {l})",
                    path.display()
                )),
                None => problems.push(format!(
                    "{}:{line}: crate::{used} is not a module in LAYERS",
                    path.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_imports() {
    let text = "use crate::tui::Model;\nfn f() { crate::cli::x(); } // crate::asm\nlet a = mycrate::z;\nuse crate::{\n    lesson::{a, b},\n    scenario,\n};\n#[cfg(test)]\nuse crate::cli;\n";
    let names = |v: &[(usize, &str)]| -> Vec<(usize, String)> {
        v.iter().map(|(l, n)| (*l, n.to_string())).collect()
    };
    assert_eq!(
        crate_paths(text),
        names(&[(1, "tui"), (2, "cli"), (4, "lesson"), (4, "scenario")])
    );
}
