//! Memory as gdb reads and writes it: gdb's addresses are linear addresses, seen through
//! the page tables as the CPU at its current privilege level sees them (a supervisor
//! page is not there for CPL 3). `monitor phys` reads physical memory instead.

use crate::engine::{Change, Engine};
use crate::machine::{cpu, Machine};

/// The physical address of `lin` for the CPU now, if it can reach it at its CPL.
pub fn reach(m: &Machine, lin: u64) -> Option<u64> {
    if m.cpu.cr0 & cpu::CR0_PG == 0 {
        return m.mem.region_at(lin).map(|_| lin);
    }
    let p = m.mapping(lin)?;
    (p.user || m.cpu.cpl() < 3).then_some(p.phys)
}

/// Read `buf.len()` bytes from `lin`; the count read before the first byte the CPU
/// cannot reach.
pub fn read(m: &Machine, lin: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let a = lin.wrapping_add(done as u64);
        if reach(m, a).is_none() {
            break;
        }
        let n = (4096 - (a & 0xfff) as usize).min(buf.len() - done);
        m.peek_lin(a, &mut buf[done..done + n]);
        done += n;
    }
    done
}

/// Write `data` at `lin` as a hand edit of the engine's current position (stepping
/// back undoes it). Err names the first address the CPU cannot reach; nothing is
/// written then.
pub fn write(e: &mut Engine, lin: u64, data: &[u8]) -> Result<(), u64> {
    let m = e.machine();
    let mut changes = Vec::with_capacity(data.len());
    for (k, &new) in data.iter().enumerate() {
        let a = lin.wrapping_add(k as u64);
        let phys = reach(m, a).ok_or(a)?;
        let mut old = [0u8];
        m.peek_lin(a, &mut old);
        changes.push(Change::mem(a, phys, 1, old[0] as u32, new as u32));
    }
    e.edit(&changes);
    Ok(())
}

/// Physical memory, for `monitor phys ADDR LEN`.
pub fn read_phys(m: &Machine, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    m.mem.peek_phys(addr, &mut buf);
    buf
}
