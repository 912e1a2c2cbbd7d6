//! Names for addresses: routines, labels, data and pt_regs slots.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Symbols {
    by_addr: BTreeMap<u64, Vec<String>>,
    by_name: BTreeMap<String, u64>,
}

impl Symbols {
    pub fn new() -> Symbols {
        Symbols::default()
    }

    /// Add or move a name.
    pub fn insert(&mut self, name: &str, addr: u64) {
        if let Some(old) = self.by_name.insert(name.to_string(), addr) {
            if let Some(v) = self.by_addr.get_mut(&old) {
                v.retain(|n| n != name);
                if v.is_empty() {
                    self.by_addr.remove(&old);
                }
            }
        }
        self.by_addr.entry(addr).or_default().push(name.to_string());
    }

    pub fn get(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    /// The first name given to exactly this address.
    pub fn name_at(&self, addr: u64) -> Option<&str> {
        self.by_addr
            .get(&addr)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The nearest name at or below `addr`, within `max_offset` bytes: `(name, offset)`.
    pub fn nearest(&self, addr: u64, max_offset: u64) -> Option<(&str, u64)> {
        let (a, names) = self.by_addr.range(..=addr).next_back()?;
        let off = addr - a;
        (off <= max_offset).then(|| (names[0].as_str(), off))
    }

    /// `name` or `name+0x10`, if a symbol is close enough.
    pub fn describe(&self, addr: u64) -> Option<String> {
        self.nearest(addr, 0x1000).map(|(n, off)| {
            if off == 0 {
                n.to_string()
            } else {
                format!("{n}+{off:#x}")
            }
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_name.iter().map(|(n, a)| (n.as_str(), *a))
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// All names, for suggestions in error messages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_and_describe() {
        let mut s = Symbols::new();
        s.insert("__kernel_vsyscall", 0xffffe400);
        s.insert("SYSENTER_RETURN", 0xffffe410);
        assert_eq!(
            s.describe(0xffffe405).as_deref(),
            Some("__kernel_vsyscall+0x5")
        );
        assert_eq!(s.describe(0xffffe410).as_deref(), Some("SYSENTER_RETURN"));
        assert_eq!(s.describe(0x1000), None);
        s.insert("SYSENTER_RETURN", 0xffffe411);
        assert_eq!(s.name_at(0xffffe410), None);
        assert_eq!(s.get("SYSENTER_RETURN"), Some(0xffffe411));
    }
}
