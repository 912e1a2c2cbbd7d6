//! Every broken fixture under tests/fixtures/scenarios is refused with the message
//! (and the FILE:LINE:COL position) listed here.

use std::path::Path;

use ringstep::scenario;

const EXPECTED: &[(&str, &str)] = &[
    ("bad_expression", "4:12: `user_return + )` is not a number, a symbol, or an expression like symbol+0x10"),
    ("boot_in_scenario", "3:1: `boot` is a lesson's [machine] key, and a lesson that boots a kernel has no preset, [[code]] or other machine keys"),
    ("code_selector_is_data", "4:6: cs = 0x7b (GDT entry 15): cs needs a code segment, this is data r/w"),
    ("data_outside_regions", "4:6: data at 0x10000000 is outside every region"),
    ("odd_hex", "7:4: odd number of hex digits in `cd8` (3 digits)"),
    ("overlapping_regions", "4:8: region `scratch` overlaps region `user_text`"),
    ("paging_root_in_region", "4:1: the top-level page table at 0x8048000 would overwrite the memory of region `user_text` (physical 0x8048000..0x8049000)"),
    ("paging_unknown_region", "6:12: no region named `user_txt`"),
    ("register_needs_long_mode", "4:1: `rax` does not exist in a protected32 machine"),
    ("syntax_error", "1:9: unclosed table, expected `]`"),
    ("tss_field_wrong_mode", "4:1: `esp0` is not a field of the TSS in a long64 machine (use `rsp0`)"),
    ("unknown_field", "7:1: unknown field `writeable`, expected one of `name`, `base`, `size`, `phys`, `user`, `writable`, `exec`, `bytes`; did you mean `writable`?"),
    ("unknown_gate_kind", "7:8: unknown gate kind `trapp` (expected interrupt or trap); did you mean `trap`?"),
    ("unknown_mode", "2:8: unknown mode `long46` (expected protected32 or long64); did you mean `long64`?"),
    ("unknown_msr", "4:1: unknown MSR `SYSENTER_CSS`; did you mean `SYSENTER_CS`?"),
    ("unknown_preset", "1:10: unknown preset `linux-2.6-i368` (presets: linux-2.6-i386, linux-x86_64); did you mean `linux-2.6-i386`?"),
    ("unknown_register", "4:1: unknown register `exa`; did you mean `eax`?"),
    ("unknown_symbol", "4:7: unknown symbol `_strat`; did you mean `_start`?"),
    ("value_too_large", "4:7: value 0x100000000 does not fit in 32 bits"),
];

#[test]
fn each_fixture_fails_with_its_message() {
    let dir = Path::new("tests/fixtures/scenarios");
    let mut failures = Vec::new();
    for (name, expected) in EXPECTED {
        let path = dir.join(format!("{name}.toml"));
        let want = format!("{}:{expected}", path.display());
        match scenario::load_file(&path) {
            Ok(_) => failures.push(format!("{name}: loaded without error")),
            Err(e) if e.to_string() == want => {}
            Err(e) => failures.push(format!("{name}:\n  got  {e}\n  want {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_is_listed() {
    let mut names: Vec<String> = std::fs::read_dir("tests/fixtures/scenarios")
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    let listed: Vec<String> = EXPECTED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names, listed);
}

#[test]
fn a_missing_file_names_the_file() {
    let e = scenario::load_file(Path::new("tests/fixtures/scenarios/none.toml")).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("tests/fixtures/scenarios/none.toml: cannot read file"));
}
