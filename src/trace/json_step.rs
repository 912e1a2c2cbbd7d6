//! The `ringstep-trace/1` step record, written straight into a byte buffer, byte for
//! byte as docs/trace-format.md describes it (tests/trace_golden.rs holds it to the
//! output of the serde_json implementation it replaces). Segments and MSRs seldom
//! change, so their JSON is kept and written again only when they do.

use crate::engine::fault::vector_name;
use crate::engine::journal::{summarize, Changed};
use crate::engine::{Event, StepView};
use crate::machine::cpu::{GPR_NAMES_32, GPR_NAMES_64};
use crate::machine::dev::DevChange;
use crate::machine::msr::MsrFile;
use crate::machine::{flags, msr, Machine, SegReg, Segment, TableReg};

use super::asm_cache::Described;
use super::json::outcome_name;
use super::out::{dec, hex_bytes, json_bool, json_str, key, next_key};

/// The JSON of the state that seldom changes, with the values it was made from.
#[derive(Default)]
pub struct JsonStep {
    segs: Option<[Segment; 6]>,
    segs_json: Vec<u8>,
    msrs: Option<(MsrFile, (u64, u64))>,
    msrs_json: Vec<u8>,
}

fn long(m: &Machine) -> bool {
    m.cpu.long_mode_active()
}

/// A register value as the trace shows it: the low 32 bits outside IA-32e mode.
fn w(m: &Machine, v: u64) -> u64 {
    if long(m) {
        v
    } else {
        v & 0xffff_ffff
    }
}

impl JsonStep {
    /// One step record (without the newline).
    pub fn write(&mut self, out: &mut Vec<u8>, m: &Machine, d: &Described, s: &StepView) {
        out.extend_from_slice(b"{\"kind\":\"step\",\"n\":");
        dec(out, s.n);
        next_key(out, "ip");
        dec(out, s.info.ip);
        next_key(out, "bytes");
        out.push(b'"');
        hex_bytes(out, s.bytes());
        out.push(b'"');
        next_key(out, "asm");
        out.extend_from_slice(&d.asm_json);
        if !d.line_json.is_empty() {
            next_key(out, "line");
            out.extend_from_slice(&d.line_json);
        }
        next_key(out, "outcome");
        plain(out, outcome_name(&s.info.outcome));
        next_key(out, "regs");
        regs(out, m);
        next_key(out, "segs");
        self.segs(out, m);
        next_key(out, "cpl");
        dec(out, m.cpu.cpl() as u64);
        next_key(out, "msrs");
        self.msrs(out, m);
        let coalesced = summarize(s.changes);
        next_key(out, "changed");
        changed(out, m, s, &coalesced);
        next_key(out, "mem_writes");
        mem_writes(out, &coalesced);
        next_key(out, "events");
        out.push(b'[');
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            event(out, e);
        }
        out.extend_from_slice(b"]}");
    }

    fn segs(&mut self, out: &mut Vec<u8>, m: &Machine) {
        let now = SegReg::ALL.map(|r| *m.cpu.seg(r));
        if self.segs != Some(now) {
            self.segs_json.clear();
            let o = &mut self.segs_json;
            o.push(b'{');
            for (i, (r, seg)) in SegReg::ALL.iter().zip(&now).enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                key(o, r.name());
                segment(o, seg);
            }
            o.push(b'}');
            self.segs = Some(now);
        }
        out.extend_from_slice(&self.segs_json);
    }

    fn msrs(&mut self, out: &mut Vec<u8>, m: &Machine) {
        // IA32_FS_BASE and IA32_GS_BASE live in the segment registers.
        let bases = (m.cpu.seg(SegReg::Fs).base, m.cpu.seg(SegReg::Gs).base);
        if self.msrs.as_ref() != Some(&(m.cpu.msr.clone(), bases)) {
            self.msrs_json.clear();
            let o = &mut self.msrs_json;
            o.push(b'{');
            for (k, (i, v)) in m.cpu.msrs().into_iter().enumerate() {
                if k > 0 {
                    o.push(b',');
                }
                msr_key(o, i);
                o.push(b':');
                dec(o, v);
            }
            o.push(b'}');
            self.msrs = Some((m.cpu.msr.clone(), bases));
        }
        out.extend_from_slice(&self.msrs_json);
    }
}

/// An MSR index as a JSON string: `"0x174"`.
fn msr_key(out: &mut Vec<u8>, index: u32) {
    out.push(b'"');
    super::out::hex0x(out, index as u64);
    out.push(b'"');
}

fn regs(out: &mut Vec<u8>, m: &Machine) {
    let names: &[&str] = if long(m) {
        &GPR_NAMES_64
    } else {
        &GPR_NAMES_32
    };
    out.push(b'{');
    for (name, v) in names.iter().zip(&m.cpu.gpr) {
        key(out, name);
        dec(out, w(m, *v));
        out.push(b',');
    }
    let (ip, fl) = if long(m) {
        ("rip", "rflags")
    } else {
        ("eip", "eflags")
    };
    key(out, ip);
    dec(out, w(m, m.cpu.rip));
    next_key(out, fl);
    dec(out, w(m, m.cpu.rflags));
    out.push(b'}');
}

fn segment(out: &mut Vec<u8>, s: &Segment) {
    let a = s.attr;
    out.extend_from_slice(b"{\"sel\":");
    dec(out, s.selector as u64);
    next_key(out, "base");
    dec(out, s.base);
    next_key(out, "limit");
    dec(out, s.limit as u64);
    next_key(out, "dpl");
    dec(out, a.dpl() as u64);
    next_key(out, "type");
    dec(out, a.ty() as u64);
    for (k, b) in [
        ("s", a.s()),
        ("present", a.present()),
        ("db", a.db()),
        ("l", a.l()),
        ("g", a.g()),
        ("unusable", a.unusable()),
    ] {
        next_key(out, k);
        json_bool(out, b);
    }
    out.push(b'}');
}

fn table(out: &mut Vec<u8>, t: &TableReg) {
    out.extend_from_slice(b"{\"base\":");
    dec(out, t.base);
    next_key(out, "limit");
    dec(out, t.limit as u64);
    out.push(b'}');
}

/// `{"name":NAME,"old":` — the caller writes the old value on.
fn entry_head(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(b"{\"name\":");
    plain(out, name);
    next_key(out, "old");
}

/// A name that needs no escaping (a register, flag or event name), quoted.
#[inline]
fn plain(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn opt_u8(out: &mut Vec<u8>, v: Option<u8>) {
    match v {
        Some(v) => dec(out, v as u64),
        None => out.extend_from_slice(b"null"),
    }
}

fn flag_names(out: &mut Vec<u8>, bits: u64) {
    out.push(b'[');
    let mut first = true;
    for (b, n) in flags::NAMED_BITS {
        if bits & b != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            plain(out, n);
        }
    }
    out.push(b']');
}

/// The `changed` array: the instruction pointer first when it moved, then one entry per
/// location (memory is in `mem_writes`).
fn changed(out: &mut Vec<u8>, m: &Machine, s: &StepView, coalesced: &[Changed]) {
    out.push(b'[');
    let mut first = true;
    if s.info.next_ip != s.info.ip {
        entry_head(out, &mut first, if long(m) { "rip" } else { "eip" });
        dec(out, w(m, s.info.ip));
        next_key(out, "new");
        dec(out, w(m, s.info.next_ip));
        out.push(b'}');
    }
    for c in coalesced {
        change(out, &mut first, m, c);
    }
    out.push(b']');
}

fn gpr_name(m: &Machine, index: u8) -> &'static str {
    if long(m) {
        GPR_NAMES_64.get(index as usize).copied().unwrap_or("?")
    } else {
        GPR_NAMES_32.get(index as usize).copied().unwrap_or("?")
    }
}

/// `OLD,"new":NEW`, each written by `f`.
fn pair<T>(out: &mut Vec<u8>, old: T, new: T, f: fn(&mut Vec<u8>, T)) {
    f(out, old);
    next_key(out, "new");
    f(out, new);
}

fn cr_name(n: u8) -> std::borrow::Cow<'static, str> {
    match n {
        0 => "cr0".into(),
        2 => "cr2".into(),
        3 => "cr3".into(),
        4 => "cr4".into(),
        _ => format!("cr{n}").into(),
    }
}

/// One entry of `changed` (nothing for memory, which `mem_writes` lists).
fn change(out: &mut Vec<u8>, first: &mut bool, m: &Machine, c: &Changed) {
    match *c {
        Changed::Gpr { index, old, new } => {
            entry_head(out, first, gpr_name(m, index));
            pair(out, w(m, old), w(m, new), dec);
        }
        Changed::Rflags { old, new } => {
            entry_head(out, first, if long(m) { "rflags" } else { "eflags" });
            pair(out, w(m, old), w(m, new), dec);
            next_key(out, "set");
            flag_names(out, new & !old);
            next_key(out, "cleared");
            flag_names(out, old & !new);
        }
        Changed::Seg { seg, old, new } => {
            entry_head(out, first, seg.name());
            pair(out, &old, &new, segment);
        }
        Changed::Tr { old, new } => {
            entry_head(out, first, "tr");
            pair(out, &old, &new, segment);
        }
        Changed::Gdtr { old, new } | Changed::Idtr { old, new } => {
            let gdt = matches!(c, Changed::Gdtr { .. });
            entry_head(out, first, if gdt { "gdtr" } else { "idtr" });
            pair(out, &old, &new, table);
        }
        Changed::Cr { n, old, new } => {
            entry_head(out, first, &cr_name(n));
            pair(out, old, new, dec);
        }
        Changed::Msr { index, old, new } => msr_change(out, first, index, old, new),
        Changed::Halted { old, new } => {
            entry_head(out, first, "halted");
            pair(out, old, new, json_bool);
        }
        Changed::Shadow { old, new } => {
            entry_head(out, first, "interrupt_shadow");
            pair(out, old, new, json_bool);
        }
        Changed::PendingIrq { old, new } => {
            entry_head(out, first, "pending_irq");
            pair(out, old, new, opt_u8);
        }
        Changed::Device(d) => device_change(out, first, &d),
        Changed::Mem { .. } | Changed::PhysMem { .. } => return,
    }
    out.push(b'}');
}

/// A device's change: `{"name":"uart_out","old":null,"new":BYTE`, `{"name":"uart_lcr","old":..,"new":..`
/// or `{"name":"debug_exit","old":null,"new":STATUS` (the caller closes it).
fn device_change(out: &mut Vec<u8>, first: &mut bool, d: &DevChange) {
    match *d {
        DevChange::Out { byte, .. } => {
            entry_head(out, first, "uart_out");
            out.extend_from_slice(b"null");
            next_key(out, "new");
            dec(out, byte as u64);
        }
        DevChange::Reg { reg, old, new } => {
            entry_head(out, first, &format!("uart_{}", reg.name()));
            pair(out, old as u64, new as u64, dec);
        }
        DevChange::Exit { old, new } => {
            entry_head(out, first, "debug_exit");
            let opt = |out: &mut Vec<u8>, v: Option<u32>| match v {
                Some(v) => dec(out, v as u64),
                None => out.extend_from_slice(b"null"),
            };
            opt(out, old);
            next_key(out, "new");
            opt(out, new);
        }
        _ => {
            if let Some((name, old, new)) = d.register() {
                entry_head(out, first, &name);
                pair(out, old, new, dec);
            }
        }
    }
}

/// `{"name":NAME,"msr":"0x...","old":OLD,"new":NEW` (the caller closes it).
fn msr_change(out: &mut Vec<u8>, first: &mut bool, index: u32, old: u64, new: u64) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.extend_from_slice(b"{\"name\":");
    plain(out, msr::name(index).unwrap_or("msr"));
    next_key(out, "msr");
    msr_key(out, index);
    next_key(out, "old");
    pair(out, old, new, dec);
}

fn mem_writes(out: &mut Vec<u8>, coalesced: &[Changed]) {
    out.push(b'[');
    let mut first = true;
    for c in coalesced {
        let (key, addr, len, old, new) = match *c {
            Changed::Mem {
                addr,
                len,
                old,
                new,
            } => (&b"{\"addr\":"[..], addr, len, old, new),
            Changed::PhysMem {
                addr,
                len,
                old,
                new,
            } => (&b"{\"phys\":"[..], addr, len, old, new),
            _ => continue,
        };
        {
            if !first {
                out.push(b',');
            }
            first = false;
            let n = (len as usize).min(8);
            out.extend_from_slice(key);
            dec(out, addr);
            out.extend_from_slice(b",\"old\":\"");
            hex_bytes(out, &old.to_le_bytes()[..n]);
            out.extend_from_slice(b"\",\"new\":\"");
            hex_bytes(out, &new.to_le_bytes()[..n]);
            out.extend_from_slice(b"\"}");
        }
    }
    out.push(b']');
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// One entry of `events`.
fn event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(b"{\"kind\":");
    plain(out, e.kind());
    match e {
        Event::PrivilegeChange { from, to } => {
            num(out, "from", *from as u64);
            num(out, "to", *to as u64);
        }
        Event::StackSwitch {
            from_ss,
            from_sp,
            to_ss,
            to_sp,
            via,
        } => {
            num(out, "from_ss", *from_ss as u64);
            num(out, "from_sp", *from_sp);
            num(out, "to_ss", *to_ss as u64);
            num(out, "to_sp", *to_sp);
            next_key(out, "via");
            json_str(out, via);
        }
        Event::MsrRead { index, value } => {
            msr_fields(out, *index);
            num(out, "value", *value);
        }
        Event::MsrWrite { index, old, new } => {
            msr_fields(out, *index);
            num(out, "old", *old);
            num(out, "new", *new);
        }
        Event::Exception { .. } | Event::Delivered { .. } => vector_fields(out, e),
        Event::IrqRaised { vector } => num(out, "vector", *vector as u64),
        Event::Irq {
            irq,
            vector,
            device,
        } => {
            num(out, "irq", *irq as u64);
            num(out, "vector", *vector as u64);
            next_key(out, "device");
            json_str(out, device);
        }
        Event::SwapGs {
            gs_base,
            kernel_gs_base,
        } => {
            num(out, "gs_base", *gs_base);
            num(out, "kernel_gs_base", *kernel_gs_base);
        }
        Event::Halt => {}
        Event::Port {
            port,
            size,
            value,
            device,
            ..
        } => {
            num(out, "port", *port as u64);
            num(out, "size", *size as u64);
            num(out, "value", *value as u64);
            next_key(out, "device");
            opt_str(out, device.map(|d| d.name()));
        }
    }
    out.push(b'}');
}

/// `,"KEY":V`.
fn num(out: &mut Vec<u8>, k: &str, v: u64) {
    next_key(out, k);
    dec(out, v);
}

/// `,"msr":"0x...","name":NAME` (null for an unnamed MSR).
fn msr_fields(out: &mut Vec<u8>, index: u32) {
    next_key(out, "msr");
    msr_key(out, index);
    next_key(out, "name");
    opt_str(out, msr::name(index));
}

/// The fields of an `exception` or `delivered` event.
fn vector_fields(out: &mut Vec<u8>, e: &Event) {
    match e {
        Event::Exception {
            vector,
            error_code,
            ip,
            reason,
        } => {
            num(out, "vector", *vector as u64);
            next_key(out, "name");
            json_str(out, &vector_name(*vector));
            next_key(out, "error_code");
            match error_code {
                Some(c) => dec(out, *c as u64),
                None => out.extend_from_slice(b"null"),
            }
            num(out, "ip", *ip);
            next_key(out, "reason");
            json_str(out, reason);
        }
        Event::Delivered {
            vector,
            source,
            interrupt_gate,
            handler,
        } => {
            num(out, "vector", *vector as u64);
            next_key(out, "source");
            json_str(out, source.name());
            next_key(out, "gate");
            json_str(out, if *interrupt_gate { "interrupt" } else { "trap" });
            num(out, "handler", *handler);
        }
        _ => {}
    }
}
