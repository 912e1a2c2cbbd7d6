//! Register names as GNU as spells them, taken from iced-x86's register list.

use std::collections::HashMap;
use std::sync::OnceLock;

use iced_x86::Register;

struct Table {
    by_name: HashMap<String, Register>,
    names: Vec<(String, Register)>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut names = Vec::new();
        for r in Register::values() {
            let iced = format!("{r:?}").to_ascii_lowercase();
            if r == Register::None || iced.starts_with("dontuse") || r.is_st() {
                continue;
            }
            // iced calls the low bytes of r8-r15 "r8l"; GNU as says "r8b".
            let name = match iced.strip_suffix('l') {
                Some(base) if r.is_gpr8() && base.starts_with('r') => format!("{base}b"),
                _ => iced,
            };
            names.push((name, r));
        }
        let by_name = names.iter().cloned().collect();
        Table { by_name, names }
    })
}

/// The register called `%name` (name lower-case, without `%`). `st` is parsed elsewhere.
pub fn lookup(name: &str) -> Option<Register> {
    table().by_name.get(name).copied()
}

/// The name GNU as uses for `r`, with `%`.
pub fn gas_name(r: Register) -> String {
    if r.is_st() {
        return format!("%st({})", r as usize - Register::ST0 as usize);
    }
    match table().names.iter().find(|(_, x)| *x == r) {
        Some((n, _)) => format!("%{n}"),
        None => format!("%{r:?}").to_ascii_lowercase(),
    }
}

/// Whether `r` exists only in 64-bit mode.
pub fn needs_64(r: Register) -> bool {
    if r.is_gpr64() || r == Register::RIP {
        return true;
    }
    if r.is_gpr8() {
        return (Register::SPL..=Register::R15L).contains(&r);
    }
    let numbered = r.is_gpr() || r.is_vector_register() || r.is_cr() || r.is_dr();
    numbered && r.number() >= 8
}

/// Register names valid in the given mode, for suggestions (general registers first).
pub fn names_for(bits: u32) -> Vec<&'static str> {
    let mut v: Vec<(u8, &str)> = table()
        .names
        .iter()
        .filter(|(_, r)| bits == 64 || !needs_64(*r))
        .map(|(n, r)| {
            let rank = if r.is_gpr() {
                0
            } else if r.is_segment_register() || r.is_cr() || r.is_dr() {
                1
            } else {
                2
            };
            (rank, n.as_str())
        })
        .collect();
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|x| x.1).collect()
}

/// The general register of `size` bytes with the same number as `r`.
pub fn gpr_of_size(r: Register, size: usize) -> Option<Register> {
    if !r.is_gpr() {
        return None;
    }
    let n = r.number();
    let r = match size {
        1 => {
            if n < 4 {
                Register::AL as usize + n
            } else {
                Register::SPL as usize + (n - 4)
            }
        }
        2 => Register::AX as usize + n,
        4 => Register::EAX as usize + n,
        8 => Register::RAX as usize + n,
        _ => return None,
    };
    Register::values().nth(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(lookup("eax"), Some(Register::EAX));
        assert_eq!(lookup("r8b"), Some(Register::R8L));
        assert_eq!(lookup("r8l"), None);
        assert_eq!(lookup("gs"), Some(Register::GS));
        assert_eq!(lookup("cr3"), Some(Register::CR3));
        assert_eq!(gas_name(Register::R9L), "%r9b");
        assert_eq!(gas_name(Register::ST1), "%st(1)");
        assert!(needs_64(Register::R8D));
        assert!(needs_64(Register::SIL));
        assert!(!needs_64(Register::AH));
        assert!(!needs_64(Register::XMM7));
        assert!(needs_64(Register::XMM8));
        assert_eq!(gpr_of_size(Register::AX, 4), Some(Register::EAX));
        assert_eq!(gpr_of_size(Register::R9W, 4), Some(Register::R9D));
    }
}
