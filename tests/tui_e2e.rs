//! The real binary in a real terminal: tmux runs `ringstep run`, the test steps through
//! the default lesson with send-keys and reads the screen with capture-pane (CPL 3 -> 0
//! -> 3, MSR names, the narrative), quits, and checks that the terminal was restored
//! (alternate screen left, canonical mode back). SIGTERM restores it too.
//! Needs tmux: under CI a missing tmux fails the test, elsewhere it is skipped.

mod common;

use common::tmux::Session;

/// The terminal the tests run in.
const SIZE: (u16, u16) = (160, 48);

#[test]
fn stepping_through_the_default_lesson_in_tmux() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("steps", "--no-animation --lang en", SIZE);
    let screen = s.wait_for("CPL 3");
    assert!(
        screen.contains("__kernel_vsyscall and sysenter"),
        "{screen}"
    );
    assert!(screen.contains("IA32_SYSENTER_CS"), "{screen}");
    assert!(screen.contains("IA32_SYSENTER_EIP"), "{screen}");
    assert!(
        screen.contains("A program asks the kernel for its process ID"),
        "{screen}"
    );
    assert_eq!(s.display("#{alternate_on}"), "1");
    // Seven steps: mov, call, three pushes, mov %esp,%ebp, sysenter.
    s.keys(&["n", "Space", "Right", "n", "n", "n", "n"]);
    let screen = s.wait_for("CPL 0");
    assert!(
        screen.contains("mode transition, ring 3 -> ring 0, PID unchanged"),
        "{screen}"
    );
    assert!(screen.contains("sysenter_entry"), "{screen}");
    assert!(screen.contains("Ring 0, at sysenter_entry"), "{screen}");
    // One back and forward again; then run to the end.
    s.keys(&["p"]);
    s.wait_for("CPL 3");
    s.keys(&["n"]);
    s.wait_for("CPL 0");
    s.keys(&["c"]);
    let screen = s.wait_for("end of scene");
    assert!(screen.contains("CPL 3"), "{screen}");
    assert!(screen.contains("returned 1234"), "{screen}");
    // Help overlay, then quit.
    s.keys(&["?"]);
    s.wait_for("step forward one instruction");
    s.keys(&["Escape", "q"]);
    s.assert_restored("0");
}

#[test]
fn sigterm_restores_the_terminal() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("term", "--lang en", SIZE);
    s.wait_for("CPL 3");
    s.signal("TERM");
    s.assert_restored("143");
}

#[test]
fn the_command_line_sets_a_breakpoint_and_continue_reaches_ring_0() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("cmdline", "--no-animation --lang en", SIZE);
    s.wait_for("CPL 3");
    // Type the command with a completed symbol: `:break sysenter_e<Tab>` then Enter.
    s.keys(&[":"]);
    s.keys(&["break sysenter_e"]);
    s.keys(&["Tab"]);
    let screen = s.wait_for(":break sysenter_entry");
    assert!(screen.contains("CPL 3"), "{screen}");
    s.keys(&["Enter"]);
    s.wait_for("break 0xc0102000 <sysenter_entry>");
    s.keys(&["c"]);
    let screen = s.wait_for("breakpoint 1");
    assert!(screen.contains("CPL 0"), "{screen}");
    assert!(screen.contains("<sysenter_entry>"), "{screen}");
    // The memory view follows ESP; the GDT shows __KERNEL_CS.
    s.keys(&["m"]);
    s.wait_for("follows ESP");
    s.keys(&["g"]);
    s.wait_for("0x0060 00000000 ffffffff code x/r");
    s.keys(&["Escape", "q"]);
    s.assert_restored("0");
}

#[test]
fn the_page_table_inspector_opens_with_t_and_walks_a_typed_address() {
    if !common::require_tool("tmux") {
        return;
    }
    let s = Session::start("pagetables", "--no-animation --lang en", SIZE);
    s.wait_for("CPL 3");
    s.keys(&["t"]);
    let screen = s.wait_for("Page tables");
    assert!(screen.contains("paging"), "{screen}");
    assert!(screen.contains("(RIP)"), "{screen}");
    assert!(screen.contains("PDE"), "{screen}");
    assert!(screen.contains("P=1"), "{screen}");
    // Another address from the command line.
    s.keys(&[":"]);
    s.keys(&["walk sysenter_entry"]);
    s.keys(&["Enter"]);
    let screen = s.wait_for("<sysenter_entry> (typed)");
    assert!(screen.contains("walk of 0xc0102000"), "{screen}");
    s.keys(&["Escape", "q"]);
    s.assert_restored("0");
}

/// The faults lesson run to its first stop, a mistyped command and a walk of an
/// unmapped address, in `lang`; `want` is what each of the three screens must show
/// (tmux runs with LANG=C: the viewer writes `ü` as `u`).
fn errors_walk_and_fault(lang: &str, want: [&str; 3]) {
    let s = Session::start(
        &format!("messages-{lang}"),
        &format!("--no-animation --lang {lang} faults"),
        (120, 40),
    );
    s.wait_for("CPL 3");
    s.keys(&["c"]);
    let screen = s.wait_for(want[0]);
    assert!(screen.contains("IA32_SYSENTER_CS[15:2] = 0"), "{screen}");
    s.keys(&[":"]);
    s.keys(&["brk 3", "Enter"]);
    s.wait_for(want[1]);
    s.keys(&[":"]);
    s.keys(&["walk 0x1000", "Enter"]);
    s.wait_for(want[2]);
    s.keys(&["Escape", "q"]);
    s.assert_restored("0");
}

#[test]
fn the_german_viewer_gives_errors_walks_and_fault_reasons_in_german() {
    if !common::require_tool("tmux") {
        return;
    }
    errors_walk_and_fault(
        "de",
        [
            "kein Handler fur #GP: IDT-Eintrag 0xd",
            "Spalte 1: unbekannter Befehl `brk`",
            "angehalten bei PDE: nicht vorhanden (P = 0)",
        ],
    );
    errors_walk_and_fault(
        "en",
        [
            "no handler for #GP",
            "column 1: unknown command `brk`",
            "stopped at PDE: not present (P = 0)",
        ],
    );
}
