//! Page-table walks and access rights (SDM Vol. 3A, chapter 4) through the public API:
//! tables written by hand in physical memory for each paging mode, then walked; the
//! tables the machine builder makes from regions; and the engine's use of both
//! (accessed/dirty flags through the journal, CR3 writes, #PF error codes, CR2).

mod common;

use ringstep::engine::{Engine, StepResult, StopReason};
use ringstep::machine::cpu::{CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, CR4_SMAP, CR4_SMEP};
use ringstep::machine::memory::{Access, AccessKind, Memory, PageFault};
use ringstep::machine::paging::{self, Controls, Miss, Rules, A, D, P, PS, RW, US, XD};
use ringstep::machine::{msr, pagebuild, Machine, Perm, Region};

fn controls(cr0: u64, cr3: u64, cr4: u64, efer: u64) -> Controls {
    Controls {
        cr0: cr0 | CR0_PE | CR0_PG,
        cr3,
        cr4,
        efer,
    }
}

fn access(kind: AccessKind, user: bool, c: &Controls, ac: bool) -> Access {
    Access {
        kind,
        user,
        rules: Rules::new(c, ac, false),
    }
}

/// 32-bit paging: a PDE pointing at a page table, and a 4 MiB PSE page.
#[test]
fn thirty_two_bit_paging_with_4k_and_4m_pages() {
    let mut mem = Memory::new();
    // PD at 0x1000; PDE 1 -> PT at 0x2000; PTE 5 -> 0x7000 (user, read-only).
    mem.poke_phys_le(0x1000 + 4, 4, 0x2000 | P | RW | US);
    mem.poke_phys_le(0x2000 + 5 * 4, 4, 0x7000 | P | US);
    // PDE 0x300 (0xc0000000): a 4 MiB page at 0x0040_0000, supervisor, writable.
    mem.poke_phys_le(0x1000 + 0x300 * 4, 4, 0x40_0000 | P | RW | PS);
    let c = controls(CR0_WP, 0x1000, CR4_PSE, 0);
    let w = paging::walk(&mem, &c, 0x0040_5123);
    let m = w.result.expect("mapped");
    assert_eq!(m.phys, 0x7123);
    assert_eq!(m.page_size, 4096);
    assert!(m.user && !m.writable && !m.nx);
    assert_eq!(
        w.levels().map(|l| l.name).collect::<Vec<_>>(),
        ["PDE", "PTE"]
    );
    let big = paging::walk(&mem, &c, 0xc012_3456)
        .result
        .expect("4 MiB page");
    assert_eq!((big.phys, big.page_size), (0x52_3456, 4 << 20));
    // Without CR4.PSE, PS is ignored and the PDE points at a page table (of zeros).
    let no_pse = controls(CR0_WP, 0x1000, 0, 0);
    assert_eq!(
        paging::walk(&mem, &no_pse, 0xc012_3456).result,
        Err(Miss::NotPresent)
    );
    // A user write to the read-only page: P | W | U.
    let a = access(AccessKind::Write, true, &c, false);
    assert_eq!(
        paging::translate(&mem, &c, 0x0040_5123, &a),
        Err(PageFault {
            addr: 0x0040_5123,
            error_code: 0b111
        })
    );
    // Nothing is mapped at 0: not present, user read.
    let r = access(AccessKind::Read, true, &c, false);
    assert_eq!(
        paging::translate(&mem, &c, 0x10, &r).map_err(|e| e.error_code),
        Err(0b100)
    );
}

/// PAE: a 2 MiB page, a 4 KiB page with XD, and XD as a reserved bit without NXE.
#[test]
fn pae_paging_large_pages_and_execute_disable() {
    let mut mem = Memory::new();
    // PDPT at 0x3020 (32-byte aligned); PDPTE 3 -> PD at 0x4000.
    mem.poke_phys_le(0x3020 + 3 * 8, 8, 0x4000 | P);
    // PDE 0 -> 2 MiB page at 0x20_0000 (supervisor, writable).
    mem.poke_phys_le(0x4000, 8, 0x20_0000 | P | RW | PS | A | D);
    // PDE 1 -> PT at 0x5000; PTE 0 -> 0x9000, user, writable, XD.
    mem.poke_phys_le(0x4000 + 8, 8, 0x5000 | P | RW | US);
    mem.poke_phys_le(0x5000, 8, 0x9000 | P | RW | US | XD);
    let nxe = controls(CR0_WP, 0x3020, CR4_PAE, msr::EFER_NXE);
    let big = paging::walk(&mem, &nxe, 0xc001_2345).result.expect("2 MiB");
    assert_eq!((big.phys, big.page_size), (0x21_2345, 2 << 20));
    assert!(big.dirty);
    let m = paging::walk(&mem, &nxe, 0xc020_0010).result.expect("4 KiB");
    assert!(m.nx && m.user && m.writable);
    // A user fetch from the XD page: P | U | I/D.
    let f = access(AccessKind::Fetch, true, &nxe, false);
    assert_eq!(
        paging::translate(&mem, &nxe, 0xc020_0010, &f).map_err(|e| e.error_code),
        Err(0b1_0101)
    );
    // Without EFER.NXE, bit 63 is reserved: P | RSVD (| U for a user read).
    let no_nxe = controls(CR0_WP, 0x3020, CR4_PAE, 0);
    let w = paging::walk(&mem, &no_nxe, 0xc020_0010);
    assert!(matches!(w.result, Err(Miss::Reserved(_))));
    let r = access(AccessKind::Read, true, &no_nxe, false);
    assert_eq!(
        paging::translate(&mem, &no_nxe, 0xc020_0010, &r).map_err(|e| e.error_code),
        Err(PageFault::PRESENT | PageFault::RSVD | PageFault::USER)
    );
}

/// 4-level paging: a 1 GiB page; PS in a PML4E is reserved; the accessed flags of the
/// entries on the way.
#[test]
fn four_level_paging_with_a_1g_page_and_accessed_flags() {
    let mut mem = Memory::new();
    let lma = msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE;
    let c = controls(CR0_WP, 0x10_000, CR4_PAE, lma);
    // PML4E 511 -> PDPT at 0x11000; PDPTE 510 -> 1 GiB page at 0x4000_0000.
    mem.poke_phys_le(0x10_000 + 511 * 8, 8, 0x11_000 | P | RW);
    mem.poke_phys_le(0x11_000 + 510 * 8, 8, 0x4000_0000 | P | RW | PS);
    let w = paging::walk(&mem, &c, 0xffff_ffff_8123_4567);
    let m = w.result.expect("1 GiB page");
    assert_eq!((m.phys, m.page_size), (0x4123_4567, 1 << 30));
    // A supervisor write sets A in the PML4E and A and D in the leaf.
    let ups: Vec<_> = w.updates(true, true).into_iter().flatten().collect();
    assert_eq!(
        ups,
        [
            (0x10_000 + 511 * 8, 8, 0x11_000 | P | RW | A),
            (0x11_000 + 510 * 8, 8, 0x4000_0000 | P | RW | PS | A | D)
        ]
    );
    // A refused access sets A on the way down but not in the leaf.
    let refused: Vec<_> = w.updates(false, true).into_iter().flatten().collect();
    assert_eq!(refused.len(), 1);
    // PS in a PML4E is reserved.
    mem.poke_phys_le(0x10_000, 8, 0x12_000 | P | RW | PS);
    assert!(matches!(
        paging::walk(&mem, &c, 0x1000).result,
        Err(Miss::Reserved(_))
    ));
}

/// Supervisor accesses: CR0.WP, SMEP and SMAP with EFLAGS.AC (SDM Vol. 3A, 4.6.1).
#[test]
fn supervisor_rights_wp_smep_smap() {
    let user_ro = paging::Mapped {
        phys: 0,
        page_size: 4096,
        user: true,
        writable: false,
        nx: false,
        dirty: false,
        global: false,
    };
    let base = controls(0, 0, CR4_PAE, msr::EFER_NXE);
    let w = |kind, c: &Controls, ac| paging::denied(&user_ro, &access(kind, false, c, ac));
    // WP = 0: the supervisor may write a read-only page.
    assert_eq!(w(AccessKind::Write, &base, false), None);
    let wp = Controls {
        cr0: base.cr0 | CR0_WP,
        ..base
    };
    assert!(w(AccessKind::Write, &wp, false).is_some());
    let smep = Controls {
        cr4: base.cr4 | CR4_SMEP,
        ..base
    };
    assert!(w(AccessKind::Fetch, &smep, false).is_some());
    assert_eq!(w(AccessKind::Read, &smep, false), None);
    let smap = Controls {
        cr4: base.cr4 | CR4_SMAP,
        ..base
    };
    assert!(w(AccessKind::Read, &smap, false).is_some());
    assert_eq!(w(AccessKind::Read, &smap, true), None, "STAC allows it");
    // An implicit supervisor access (a descriptor table) is checked whatever AC says.
    let implicit = Access {
        kind: AccessKind::Read,
        user: false,
        rules: Rules::new(&smap, true, true),
    };
    assert!(paging::denied(&user_ro, &implicit).is_some());
    // SMEP makes fetches report I/D even without NXE.
    let smep_no_nx = controls(0, 0, CR4_SMEP, 0);
    let f = access(AccessKind::Fetch, false, &smep_no_nx, false);
    assert_eq!(
        paging::fault(0x1000, &f, None).error_code,
        PageFault::PRESENT | PageFault::FETCH
    );
}

fn perm(user: bool, writable: bool, exec: bool) -> Perm {
    Perm {
        user,
        writable,
        exec,
    }
}

/// The builder maps every region where its physical memory is, in each mode, with a
/// 4 GiB region costing no more than its tables' pages (large pages).
#[test]
fn built_tables_map_every_region_in_every_mode() {
    for (cr4, efer) in [
        (0, 0),
        (CR4_PSE, 0),
        (CR4_PAE, msr::EFER_NXE),
        (CR4_PAE, msr::EFER_NXE | msr::EFER_LME | msr::EFER_LMA),
    ] {
        let mut m = Machine::new();
        m.cpu.cr0 = CR0_PE | CR0_PG | CR0_WP;
        m.cpu.cr4 = cr4;
        m.cpu.set_msr(msr::EFER, efer);
        let regions = [
            Region::new("text", 0x0804_8000, 0x2000, perm(true, false, true)),
            Region::new("kernel", 0xc000_0000, 0x40_0000, perm(false, true, false)),
        ];
        for r in regions {
            m.mem.add_region(r).expect("disjoint");
        }
        let built = pagebuild::build_default(&mut m).expect("tables");
        assert!(built.tables <= 6, "{cr4:#x}: {} tables", built.tables);
        for r in m.mem.regions().to_vec() {
            for off in [0, r.size / 2, r.size - 1] {
                let lin = r.base + off;
                let got = m.mapping(lin).expect("mapped");
                assert_eq!(got.phys, r.phys_of(lin), "{cr4:#x} {lin:#x}");
                assert_eq!(got.user, r.perm.user);
                assert_eq!(got.writable, r.perm.writable);
            }
        }
        assert!(m.mapping(0x1000).is_none());
        assert!(m.mem.allocated_frames() < 16);
    }
}

/// A 4 GiB region in PAE paging: four 1 GiB ranges of 2 MiB pages, a few pages of
/// tables, nothing allocated for the data.
#[test]
fn a_four_gib_region_needs_only_its_tables() {
    let mut m = Machine::new();
    m.cpu.cr0 = CR0_PE | CR0_PG | CR0_WP;
    m.cpu.cr4 = CR4_PAE;
    let all = Region {
        phys: Some(1 << 32),
        ..Region::new("all", 0, 1 << 32, perm(true, true, true))
    };
    m.mem.add_region(all).expect("region");
    let built = pagebuild::build_default(&mut m).expect("tables");
    assert_eq!(built.tables, 4, "one page directory per GiB");
    assert_eq!(
        m.mem.allocated_frames(),
        5,
        "the PDPT page and four directories"
    );
    let w = m.walk(0xdead_beef);
    assert_eq!(
        w.result.map(|x| x.phys),
        Ok((1 << 32) + 0xdead_beef),
        "{:x?}",
        w.levels().collect::<Vec<_>>()
    );
}

/// The engine sets the dirty flag on the first write to a page whose tables were made
/// with the flags clear, through the journal: stepping back clears it again.
#[test]
fn the_engine_sets_accessed_and_dirty_flags_and_steps_back() {
    let mut m = common::kernel32();
    let stack = m.mem.region_named("kernel stack").cloned().expect("stack");
    let plan = pagebuild::Plan {
        pool: None,
        built: None,
        spaces: vec![pagebuild::Space {
            root: m.cpu.cr3,
            regions: m.mem.regions().iter().map(|r| r.name.clone()).collect(),
        }],
        clear_accessed: true,
    };
    pagebuild::build(&mut m, &plan).expect("tables");
    let m = common::with_code(m, "50 90"); // push %eax; nop
    let top = m.cpu.gpr[4] - 4;
    let pte = |m: &Machine| {
        let w = m.walk(top);
        w.levels().last().map(|l| l.entry).expect("a PTE")
    };
    assert_eq!(pte(&m) & (A | D), 0);
    let mut e = Engine::new(m);
    assert!(matches!(e.step(), StepResult::Stepped));
    assert_eq!(pte(e.machine()) & (A | D), A | D);
    assert_eq!(
        e.machine().mem.peek_phys_le(stack.phys_of(top), 4),
        e.machine().cpu.gpr[0] & 0xffff_ffff
    );
    assert!(e.step_back());
    assert_eq!(pte(e.machine()) & (A | D), 0);
}

/// A page fault keeps the accessed flags its walk set (SDM Vol. 3A 4.8: the non-leaf
/// entries a walk uses get A before the walk finds the page missing; the fault does not
/// take them back, and QEMU keeps them too - found by the differential check, where
/// ringstep's rollback of the faulting instruction used to clear them again). Stepping
/// back clears them.
#[test]
fn a_page_fault_keeps_the_accessed_flags_of_its_walk() {
    let mut m = common::kernel32();
    let plan = pagebuild::Plan {
        pool: None,
        built: None,
        spaces: vec![pagebuild::Space {
            root: m.cpu.cr3,
            regions: m.mem.regions().iter().map(|r| r.name.clone()).collect(),
        }],
        clear_accessed: true,
    };
    pagebuild::build(&mut m, &plan).expect("tables");
    let handler = common::KERNEL_CODE + 0x100;
    common::set_gate32(&mut m, 14, handler, common::KERNEL_CS, false, 0);
    // mov (%ebx),%eax at an unmapped page near the user data: its PDE is present (and
    // used by nothing the delivery of the #PF touches), its PTE not.
    let missing = common::USER_DATA + 0x10000;
    let mut m = common::with_code(m, "8b 03");
    m.cpu.gpr[3] = missing;
    let pde = |m: &Machine| {
        let w = m.walk(missing);
        assert!(w.result.is_err(), "{missing:#x} is not mapped");
        let levels: Vec<_> = w.levels().copied().collect();
        levels[levels.len() - 2].entry
    };
    assert_eq!(pde(&m) & A, 0);
    let mut e = Engine::new(m);
    assert!(matches!(e.step(), StepResult::Stepped));
    assert_eq!(e.machine().cpu.rip, handler);
    assert_eq!(e.machine().cpu.cr2, missing);
    assert_eq!(pde(e.machine()) & A, A, "the PDE the walk used is accessed");
    assert!(e.step_back());
    assert_eq!(pde(e.machine()) & A, 0);
}

/// `mov %eax,%cr3` changes what the next fetch finds: here a CR3 with empty tables,
/// so the fetch after it is a #PF, whose delivery faults on the IDT (unmapped too), and
/// so does that of the #DF: a triple fault. The stop reports the CR2 of the last page
/// fault on the way (the #DF's gate), and leaves the machine before the instruction.
#[test]
fn a_cr3_write_takes_effect_at_the_next_fetch() {
    let mut m = common::with_code(common::kernel32(), "0f 22 d8 90");
    let empty = m.mem.free_phys(0x10_0000, 0x1000, 0x1000);
    m.mem.reserve_phys(empty, empty + 0x1000);
    m.cpu.gpr[0] = empty;
    let mut e = Engine::new(m);
    assert!(matches!(e.step(), StepResult::Stepped));
    assert_eq!(e.machine().cpu.cr3, empty);
    match e.step() {
        StepResult::Stopped(s) => match s.reason {
            StopReason::Fault(x) => {
                assert_eq!(x.vector, 8, "{x:?}");
                assert_eq!(x.cr2, Some(common::IDT + 8 * 8));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(e.machine().cpu.cr2, 0);
    assert!(e.step_back());
    assert_ne!(e.machine().cpu.cr3, empty);
}

/// A boot path into IA-32e mode: with CR4.PAE and EFER.LME set, `mov %eax,%cr0` turning
/// on paging activates IA-32e mode (EFER.LMA = 1, SDM Vol. 3A 10.8.5); the 32-bit code
/// segment then runs in compatibility mode, translated through 4-level tables, and turning
/// paging off again from there deactivates it (10.8.5.4).
#[test]
fn turning_on_paging_with_lme_activates_ia32e_mode() {
    use ringstep::machine::cpu::Mode;
    use ringstep::machine::{SegReg, Segment};
    let mut m = Machine::new();
    m.mem
        .add_region(Region::new(
            "boot",
            0x10_0000,
            0x1000,
            perm(false, true, true),
        ))
        .expect("region");
    m.cpu.cr0 = CR0_PE;
    m.cpu.cr4 = CR4_PAE;
    m.cpu.set_msr(msr::EFER, msr::EFER_LME);
    // The builder makes 4-level tables for EFER.LME, at CR3 = 0x20_0000.
    m.cpu.cr3 = 0x20_0000;
    m.mem.poke_phys(0x20_0000, &[0; 4096]);
    m.cpu.cr0 |= CR0_PG;
    pagebuild::build_default(&mut m).expect("tables");
    m.cpu.cr0 = CR0_PE;
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
        m.cpu.seg[s as usize] = Segment::flat(0x10, 3, 0, true, false);
    }
    m.cpu.seg[SegReg::Cs as usize] = Segment::flat(0x08, 0xb, 0, true, false);
    m.cpu.rflags = 2;
    m.cpu.rip = 0x10_0000;
    m.cpu.gpr[0] = CR0_PE | CR0_PG;
    m.cpu.gpr[1] = CR0_PE;
    // mov %eax,%cr0; nop; mov %ecx,%cr0; nop
    m.mem
        .poke(0x10_0000, &[0x0f, 0x22, 0xc0, 0x90, 0x0f, 0x22, 0xc1, 0x90]);
    let mut e = Engine::new(m);
    assert_eq!(e.machine().cpu.mode(), Mode::Protected);
    assert!(matches!(e.step(), StepResult::Stepped));
    assert_ne!(e.machine().cpu.efer() & msr::EFER_LMA, 0);
    assert_eq!(e.machine().cpu.mode(), Mode::Compat);
    assert_eq!(e.machine().walk(0x10_0003).mode, paging::PagingMode::Level4);
    assert!(
        matches!(e.step(), StepResult::Stepped),
        "the nop is fetched"
    );
    assert!(matches!(e.step(), StepResult::Stepped));
    assert_eq!(e.machine().cpu.efer() & msr::EFER_LMA, 0);
    assert_eq!(e.machine().cpu.mode(), Mode::Protected);
    assert!(e.step_back() && e.step_back() && e.step_back());
    assert_eq!(
        e.machine().cpu.efer() & msr::EFER_LMA,
        0,
        "stepping back undoes it"
    );
}

/// A scenario with page tables of its own (`[paging] build = false`): written as
/// physical `[[data]]`, they are the ones the CPU walks - here they map only the user
/// program, so the kernel is not mapped at all.
#[test]
fn a_scenario_can_give_its_own_page_tables() {
    let text = r#"
preset = "linux-2.6-i386"

[paging]
build = false

[cr]
cr3 = "0x700000"

# PAE: PDPT at 0x700000, a page directory at 0x701000, a page table at 0x702000
# mapping user_text (0x08048000, backed at the same physical address).
[[data]]
at = "0x700000"
phys = true
quads = ["0x701001"]

[[data]]
at = "0x701200"
phys = true
quads = ["0x702007"]

[[data]]
at = "0x702240"
phys = true
quads = ["0x8048025"]
"#;
    let s = ringstep::scenario::load_str(text, "own.toml").unwrap_or_else(|e| panic!("{e}"));
    let m = &s.machine;
    assert_eq!(m.layout, None, "no tables made by the builder");
    let w = m.walk(0x0804_8000);
    assert_eq!(w.result.map(|x| x.phys), Ok(0x0804_8000));
    assert_eq!(
        w.levels().map(|l| l.addr).collect::<Vec<_>>(),
        [0x70_0000, 0x70_1200, 0x70_2240]
    );
    assert!(m.mapping(0xc010_2000).is_none(), "the kernel is not mapped");
    let mut e = Engine::new(s.machine.clone());
    assert!(matches!(e.step(), StepResult::Stepped));
}
