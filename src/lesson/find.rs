//! The lesson a command-line argument names, for every command that takes one (`run`,
//! `check`, `export`, `render`, `trace`): a shipped lesson's id, else a lesson file
//! (whose own errors are reported at their place), else an error with a did-you-mean.

use std::path::Path;

use super::{library, load_file, load_shipped, Lesson};
use crate::scenario::did_you_mean;

/// What an argument names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named<'a> {
    /// A lesson shipped with ringstep, by id. An id wins over a file of the same name in
    /// the current directory (a lab's compiled `int80`); `./int80` names the file.
    Shipped(&'static str),
    /// A file: an existing path, or a name ending in `.toml` (which may not exist).
    File(&'a Path),
    /// Neither.
    Unknown,
}

/// What `arg` names (without reading anything).
pub fn classify(arg: &str) -> Named<'_> {
    if let Some(id) = library::ids().find(|id| *id == arg) {
        return Named::Shipped(id);
    }
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".toml") {
        Named::File(path)
    } else {
        Named::Unknown
    }
}

/// The lesson `arg` names, or the message saying why there is none.
pub fn find(arg: &str) -> Result<Lesson, String> {
    match classify(arg) {
        Named::Shipped(id) => shipped(id),
        Named::File(path) => load_file(path).map_err(|e| e.to_string()),
        Named::Unknown => Err(no_such_lesson(arg)),
    }
}

/// A shipped lesson by id.
fn shipped(id: &str) -> Result<Lesson, String> {
    match load_shipped(id) {
        Some(r) => r.map_err(|e| e.to_string()),
        None => Err(format!("lesson `{id}` is missing")),
    }
}

/// The message for an argument that names no lesson.
pub fn no_such_lesson(arg: &str) -> String {
    let with_toml = format!("{arg}.toml");
    let hint = if Path::new(&with_toml).is_file() {
        format!("; did you mean `{with_toml}`?")
    } else {
        did_you_mean(arg, library::ids())
    };
    format!("no such lesson `{arg}` (see `ringstep list`){hint}")
}

/// Whether `path` holds a lesson rather than a scenario (`trace` takes both): a TOML
/// file with a `[lesson]` table, or, when it is not valid TOML or UTF-8, a `[lesson]`
/// header line (so that its errors are reported by the lesson loader). Files that are
/// not regular or are too large for a lesson are not lessons: the scenario loader
/// reports them.
pub fn is_lesson_file(path: &Path) -> bool {
    let Ok(bytes) = crate::userfile::read_bytes(path, crate::userfile::MAX_TEXT_BYTES) else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    match toml::from_str::<toml::Table>(&text) {
        Ok(table) => table.contains_key("lesson"),
        Err(_) => text.lines().any(|l| l.trim_start().starts_with("[lesson]")),
    }
}

/// Every shipped lesson with its id, in curriculum order (order, then id); lessons
/// that do not load come first.
pub fn shipped_in_order() -> Vec<(String, Result<Lesson, String>)> {
    let mut out: Vec<(String, Result<Lesson, String>)> = library::ids()
        .map(|id| (id.to_string(), shipped(id)))
        .collect();
    out.sort_by_key(|(id, r)| match r {
        Ok(l) => (l.order, id.clone()),
        Err(_) => (i64::MIN, id.clone()),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_files_and_unknown_names() {
        assert_eq!(classify("int80"), Named::Shipped("int80"));
        assert_eq!(
            classify("no/such/lesson.toml"),
            Named::File(Path::new("no/such/lesson.toml"))
        );
        assert_eq!(classify("Cargo.toml"), Named::File(Path::new("Cargo.toml")));
        assert_eq!(classify("int08"), Named::Unknown);
        let e = find("int08").unwrap_err();
        assert_eq!(
            e,
            "no such lesson `int08` (see `ringstep list`); did you mean `int80`?"
        );
        let e = find("lessons/int80").unwrap_err();
        assert!(e.ends_with("did you mean `lessons/int80.toml`?"), "{e}");
    }

    #[test]
    fn a_missing_lesson_file_is_reported_as_a_file() {
        let e = find("no/such/lesson.toml").unwrap_err();
        assert!(
            e.starts_with("no/such/lesson.toml: cannot read file"),
            "{e}"
        );
        assert!(!is_lesson_file(Path::new("Cargo.toml")));
        assert!(is_lesson_file(Path::new("lessons/int80.toml")));
    }
}
