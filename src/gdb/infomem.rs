//! `monitor info mem`: the current address space in the format of QEMU's monitor
//! command of the same name (target/i386/monitor.c, QEMU 10.0), so that gdb front ends
//! which read the memory layout from it (GEF does, when the target has no /proc) find
//! it here too. One line per run of pages with the same rights:
//! `START-END SIZE urw`, each number as 16 hex digits, `u` for a user page and `w` for a
//! writable one (the rights are those of the whole walk: every level must allow), `r`
//! always; the execute-disable bit does not split a run, as in QEMU. With paging off
//! the answer is QEMU's `PG disabled`.

use crate::debug::pagetable::{self, Range};
use crate::machine::paging::{Controls, PagingMode};
use crate::machine::Machine;

/// The most runs listed (the walk itself is bounded by `pagetable::MAX_ENTRIES`).
pub const MAX_RUNS: usize = 4096;

/// The text of `monitor info mem`.
pub fn info_mem(m: &Machine) -> String {
    let mode = Controls::of(&m.cpu).mode();
    if mode == PagingMode::Off {
        return "PG disabled".to_string();
    }
    let ov = pagetable::overview(m, MAX_RUNS);
    let mut runs: Vec<Range> = Vec::new();
    for r in ov.user.iter().chain(ov.kernel.iter()) {
        match runs.last_mut() {
            Some(prev)
                if prev.last.wrapping_add(1) == r.start
                    && (prev.user, prev.writable) == (r.user, r.writable) =>
            {
                prev.last = r.last
            }
            _ => runs.push(*r),
        }
    }
    let mut lines: Vec<String> = runs.iter().map(|r| line(r, mode)).collect();
    let more = ov.more_user + ov.more_kernel;
    if more > 0 || ov.cut_after.is_some() {
        lines.push(format!(
            "(cut: {more} more runs not listed; the walk read at most {} entries)",
            pagetable::MAX_ENTRIES
        ));
    }
    lines.join("\n")
}

/// One run. QEMU works in the 48-bit (or 32-bit) linear space and prints each number
/// sign-extended from bit 47, so a run ending at the top of a 4-level space ends at
/// `0001000000000000`.
fn line(r: &Range, mode: PagingMode) -> String {
    let mask = if mode == PagingMode::Level4 {
        (1u64 << 48) - 1
    } else {
        u64::MAX
    };
    let start = r.start & mask;
    let end = (r.last & mask) + 1;
    format!(
        "{:016x}-{:016x} {:016x} {}r{}",
        canonical(start),
        canonical(end),
        canonical(end - start),
        if r.user { 'u' } else { '-' },
        if r.writable { 'w' } else { '-' }
    )
}

fn canonical(a: u64) -> u64 {
    if a & (1 << 47) != 0 {
        a | 0xffff_0000_0000_0000
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: u64, last: u64, user: bool, writable: bool) -> Range {
        Range {
            start,
            last,
            user,
            writable,
            exec: true,
        }
    }

    #[test]
    fn a_run_is_printed_as_qemu_prints_it() {
        let r = run(0x10_2000, 0x10_2fff, true, true);
        assert_eq!(
            line(&r, PagingMode::Bits32),
            "0000000000102000-0000000000103000 0000000000001000 urw"
        );
        let top = run(0xffff_ffff_ffe0_0000, u64::MAX, false, false);
        assert_eq!(
            line(&top, PagingMode::Level4),
            "ffffffffffe00000-0001000000000000 0000000000200000 -r-"
        );
        let end32 = run(0xffc0_0000, 0xffff_ffff, false, true);
        assert_eq!(
            line(&end32, PagingMode::Bits32),
            "00000000ffc00000-0000000100000000 0000000000400000 -rw"
        );
    }
}
