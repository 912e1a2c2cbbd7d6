//! The lessons and source files shipped inside the program, so that `cargo install`
//! alone gives a working ringstep. Paths are relative to the repository root.

/// `(id, text)` of every shipped lesson.
const LESSONS: &[(&str, &str)] = &[
    ("boot-msrs", include_str!("../../lessons/boot-msrs.toml")),
    ("compat", include_str!("../../lessons/compat.toml")),
    ("cost", include_str!("../../lessons/cost.toml")),
    ("faults", include_str!("../../lessons/faults.toml")),
    ("int80", include_str!("../../lessons/int80.toml")),
    (
        "mode-vs-context",
        include_str!("../../lessons/mode-vs-context.toml"),
    ),
    ("own-kernel", include_str!("../../lessons/own-kernel.toml")),
    ("pti", include_str!("../../lessons/pti.toml")),
    ("restart", include_str!("../../lessons/restart.toml")),
    (
        "syscall-basics",
        include_str!("../../lessons/syscall-basics.toml"),
    ),
    ("syscall64", include_str!("../../lessons/syscall64.toml")),
    ("sysenter", include_str!("../../lessons/sysenter.toml")),
    ("vdso", include_str!("../../lessons/vdso.toml")),
];

/// Files that lessons may include with `[[code]] file = ...`.
const FILES: &[(&str, &str)] = &[
    (
        "lessons/src/mode-vs-context-kernel.S",
        include_str!("../../lessons/src/mode-vs-context-kernel.S"),
    ),
    (
        "lessons/src/restart-kernel.S",
        include_str!("../../lessons/src/restart-kernel.S"),
    ),
    (
        "lessons/src/syscall64-kernel.S",
        include_str!("../../lessons/src/syscall64-kernel.S"),
    ),
    (
        "assets/presets/src/linux-2.6-i386-kernel.S",
        include_str!("../../assets/presets/src/linux-2.6-i386-kernel.S"),
    ),
    (
        "assets/presets/src/linux-2.6-i386-user.S",
        include_str!("../../assets/presets/src/linux-2.6-i386-user.S"),
    ),
    (
        "assets/presets/src/linux-2.6-i386-vsyscall.S",
        include_str!("../../assets/presets/src/linux-2.6-i386-vsyscall.S"),
    ),
    (
        "assets/presets/src/linux-x86_64-kernel.S",
        include_str!("../../assets/presets/src/linux-x86_64-kernel.S"),
    ),
    (
        "assets/presets/src/linux-x86_64-compat.S",
        include_str!("../../assets/presets/src/linux-x86_64-compat.S"),
    ),
    (
        "assets/presets/src/linux-x86_64-user.S",
        include_str!("../../assets/presets/src/linux-x86_64-user.S"),
    ),
];

/// The id of the lesson `ringstep` opens by default.
pub const DEFAULT_LESSON: &str = "sysenter";

/// Ids of the shipped lessons, in file order (see `list` for curriculum order).
pub fn ids() -> impl Iterator<Item = &'static str> {
    LESSONS.iter().map(|(id, _)| *id)
}

pub fn lesson_text(id: &str) -> Option<&'static str> {
    LESSONS.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
}

/// A shipped file by its repository path.
pub fn file(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

/// Every shipped file path (for the test that nothing is missing).
pub fn file_paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(p, _)| *p)
}
