//! The chain of events behind a fault stop (issue 14): the first exception, each fault
//! during delivery, the double fault, the shutdown or the missing handler, in order, each
//! with its reason and SDM section (`Stop::chain`).

mod common;

use common::*;
use ringstep::engine::{Engine, LinkKind, StepResult, Stop, StopReason};
use ringstep::machine::tables::Gate;
use ringstep::machine::{Attr, Descriptor};

fn stop(e: &mut Engine) -> Stop {
    match e.step() {
        StepResult::Stopped(s) => s,
        StepResult::Stepped => panic!("expected a stop"),
    }
}

fn lines(s: &Stop) -> Vec<String> {
    s.chain().iter().map(|l| l.line()).collect()
}

/// `int $0x80` through a DPL 3 gate whose code segment is not present: #NP naming the
/// selector; the #NP gate is missing, so the run stops there.
#[test]
fn int80_to_a_not_present_code_segment_without_an_np_handler() {
    let mut m = with_code(machine32(), "cd 80");
    let absent = Attr::from_fields(0xb, true, 0, false, false, false, true, true);
    set_gdt(&mut m, 17, Descriptor::encode(0, 0xfffff, absent));
    set_gate32(&mut m, 0x80, KERNEL_CODE, 0x88, true, 3);
    let mut e = Engine::new(m);
    let s = stop(&mut e);
    let chain = s.chain();
    assert_eq!(chain.len(), 2, "{:#?}", lines(&s));
    assert_eq!(chain[0].kind, LinkKind::Raised);
    assert_eq!((chain[0].vector, chain[0].error_code), (11, Some(0x88)));
    assert_eq!(
        chain[0].reason,
        "delivering INT 0x80: the handler's code segment (selector 0x88, GDT entry 17) is not \
         present (SDM Vol. 3A 6.12.1)"
    );
    assert_eq!(chain[1].kind, LinkKind::NoHandler);
    assert_eq!(chain[1].vector, 11);
    assert!(
        chain[1].reason.contains("SDM Vol. 3A"),
        "{}",
        chain[1].reason
    );
    assert!(
        lines(&s)[1].starts_with("no handler for #NP: "),
        "{:?}",
        lines(&s)
    );
    assert!(matches!(s.reason, StopReason::Fault(ref x) if x.vector == 11));
}

fn bad_gate(m: &mut ringstep::machine::Machine, vector: u8) {
    let g = Gate {
        offset: KERNEL_CODE + 0x200,
        selector: KERNEL_CS,
        ty: 0xc,
        dpl: 0,
        present: true,
        ist: 0,
    };
    m.mem
        .poke_le(m.cpu.idtr.base + vector as u64 * 8, 8, g.encode32());
}

/// `cli` at CPL 3 is #GP(0); the #GP and #DF gates are call gates, not interrupt gates:
/// #GP while delivering #GP becomes #DF, a #GP while delivering #DF shuts down.
#[test]
fn a_triple_fault_shows_the_whole_chain() {
    let mut m = with_code(machine32(), "fa");
    bad_gate(&mut m, 13);
    bad_gate(&mut m, 8);
    let mut e = Engine::new(m);
    let s = stop(&mut e);
    let kinds: Vec<(LinkKind, u8, Option<u32>)> = s
        .chain()
        .iter()
        .map(|l| (l.kind, l.vector, l.error_code))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (LinkKind::Raised, 13, Some(0)),
            (LinkKind::Raised, 13, Some(0x6b)),
            (LinkKind::Raised, 8, Some(0)),
            (LinkKind::Raised, 13, Some(0x43)),
            (LinkKind::Shutdown, 8, None),
        ],
        "{:#?}",
        lines(&s)
    );
    let l = lines(&s);
    assert!(
        l[1].contains("while delivering #GP (contributory + contributory, SDM Vol. 3A Table 6-5)"),
        "{l:#?}"
    );
    assert!(
        l[2].starts_with("#DF(0x0): double fault: a #GP while delivering #GP"),
        "{l:#?}"
    );
    assert!(
        l[4].starts_with("triple fault: delivering #DF failed"),
        "{l:#?}"
    );
}

/// A page fault on the fetch after CR3 points at empty tables; its delivery faults on the
/// unmapped IDT (#PF again: #DF), and so does the #DF's: the chain keeps each CR2.
#[test]
fn a_page_fault_during_page_fault_delivery_shows_both_cr2_values() {
    let mut m = with_code(kernel32(), "0f 22 d8 90");
    let empty = m.mem.free_phys(0x10_0000, 0x1000, 0x1000);
    m.mem.reserve_phys(empty, empty + 0x1000);
    m.cpu.gpr[0] = empty;
    let mut e = Engine::new(m);
    assert!(matches!(e.step(), StepResult::Stepped));
    let s = stop(&mut e);
    let got: Vec<(LinkKind, u8, Option<u64>)> = s
        .chain()
        .iter()
        .map(|l| (l.kind, l.vector, l.cr2))
        .collect();
    assert_eq!(
        got,
        vec![
            (LinkKind::Raised, 14, Some(KERNEL_CODE + 3)),
            (LinkKind::Raised, 14, Some(IDT + 14 * 8)),
            (LinkKind::Raised, 8, None),
            (LinkKind::Raised, 14, Some(IDT + 8 * 8)),
            (LinkKind::Shutdown, 8, Some(IDT + 8 * 8)),
        ],
        "{:#?}",
        lines(&s)
    );
    assert!(
        lines(&s)[1].contains("page fault + page fault"),
        "{:#?}",
        lines(&s)
    );
    // The chain goes with the stop, not with the machine: stepping back still works.
    assert!(e.step_back());
}

/// A run that ends normally has no chain.
#[test]
fn other_stops_have_no_chain() {
    let mut m = with_code(machine32(), "90");
    m.cpu.rip = USER_CODE;
    let mut e = Engine::new(m);
    e.set_stop_at(vec![USER_CODE + 1]);
    assert!(matches!(e.step(), StepResult::Stepped));
    assert!(stop(&mut e).chain().is_empty());
}

/// The debugger's `explain` prints the chain of the last fault stop.
#[test]
fn explain_prints_the_chain_of_the_last_stop() {
    use ringstep::debug::command::Debugger;
    let mut m = with_code(machine32(), "fa");
    bad_gate(&mut m, 13);
    bad_gate(&mut m, 8);
    let mut e = Engine::new(m);
    let mut d = Debugger::new(&e);
    let before = d.run_line(&mut e, "explain").expect("explain").to_string();
    assert!(before.starts_with("no fault stop yet"), "{before}");
    d.run_line(&mut e, "continue").expect("continue");
    let out = d.run_line(&mut e, "explain").expect("explain").to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[0].starts_with("fault stop at 0x8048000: #DF(0x0): triple fault"),
        "{out}"
    );
    assert!(lines[1].starts_with("  1. #GP(0x0): CLI"), "{out}");
    assert!(lines[3].starts_with("  3. #DF(0x0): double fault"), "{out}");
    assert!(
        lines[5].starts_with("  5. triple fault: delivering #DF failed"),
        "{out}"
    );
}

/// A benign exception (#UD) whose delivery faults (#NP: the handler's code segment is
/// not present) is followed by that fault, delivered serially (Table 6-5), not a #DF.
#[test]
fn a_fault_while_delivering_a_benign_exception_is_delivered_serially() {
    let mut m = with_code(machine32(), "0f 0b");
    let absent = Attr::from_fields(0xb, true, 0, false, false, false, true, true);
    set_gdt(&mut m, 17, Descriptor::encode(0, 0xfffff, absent));
    set_gate32(&mut m, 6, KERNEL_CODE, 0x88, false, 0);
    let mut e = Engine::new(m);
    let s = stop(&mut e);
    let got: Vec<(LinkKind, u8, Option<u32>)> = s
        .chain()
        .iter()
        .map(|l| (l.kind, l.vector, l.error_code))
        .collect();
    assert_eq!(
        got,
        vec![
            (LinkKind::Raised, 6, None),
            (LinkKind::Raised, 11, Some(0x89)),
            (LinkKind::NoHandler, 11, None),
        ],
        "{:#?}",
        lines(&s)
    );
    assert!(
        lines(&s)[1].contains("while delivering #UD (benign: delivered serially"),
        "{:#?}",
        lines(&s)
    );
}
