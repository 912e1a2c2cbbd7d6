mod common;
use common::*;
use ringstep::engine::{Engine, Event};
use ringstep::machine::SegReg;

#[test]
fn kernel_vsyscall_into_sysenter_and_back_with_sysexit() {
    // push ecx; push edx; push ebp; mov esp,ebp; sysenter
    let mut m = with_code(machine32(), "51 52 55 89 e5 0f 34");
    // Kernel: mov (%esp) from TSS trick is in the lesson; here just sysexit back.
    m.mem.poke(KERNEL_CODE, &hex("ba 00 80 04 08 89 e9 0f 35")); // mov $0x8048000,%edx; mov %ebp,%ecx; sysexit
    let before = m.clone();
    let mut e = Engine::new(m);
    for _ in 0..5 {
        step(&mut e);
    }
    let c = &e.machine().cpu;
    assert_eq!(c.cpl(), 0);
    assert_eq!(c.seg(SegReg::Cs).selector, 0x60);
    assert_eq!(c.seg(SegReg::Ss).selector, 0x68);
    assert_eq!(c.rip, KERNEL_CODE);
    assert_eq!(c.gpr[4], TSS + 0x68);
    assert!(e
        .last_step()
        .unwrap()
        .events
        .iter()
        .any(|ev| matches!(ev, Event::PrivilegeChange { from: 3, to: 0 })));
    for _ in 0..3 {
        step(&mut e);
    }
    let c = &e.machine().cpu;
    assert_eq!(c.cpl(), 3);
    assert_eq!(c.seg(SegReg::Cs).selector, 0x73);
    assert_eq!(c.seg(SegReg::Ss).selector, 0x7b);
    assert_eq!(c.gpr[4], USER_STACK_TOP - 12);
    while e.step_back() {}
    assert_eq!(e.machine(), &before);
}
