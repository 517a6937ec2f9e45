//! Builds the C test programs in `c_tests/` against the library and runs them, one
//! `#[test]` per program.
//!
//! Every program is linked statically against `libtswal.a`; the round-trip program is
//! also linked against `libtswal.so`, both as built for this test run (see `lib_dir`).
//! Each run gets a fresh temporary directory as its first argument; a program exits 0 on
//! success and otherwise prints what failed (file:line, the call, its status, and
//! `wal_last_error()`).
//!
//! `TSWAL_C_TEST_TIMEOUT` (seconds, default 300) limits each run, so that a hang fails.
//! `TSWAL_C_TEST_WRAPPER`, if set, is split at whitespace and put in front of every
//! program, e.g. to run the suite under valgrind memcheck:
//!
//! ```text
//! TSWAL_C_TEST_WRAPPER="valgrind --error-exitcode=99 --leak-check=full \
//!     --errors-for-leak-kinds=definite,indirect" cargo test --test c_api
//! ```

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

mod common;
use common::cbuild::{Link, compile, manifest_dir, run, run_in_temp_dir};

/// Corrupt cases that must be among those found: the fixtures program runs on every case
/// in the directory, and this keeps a renamed or emptied directory from passing silently.
const REQUIRED_CORRUPT_CASES: [&str; 7] = [
    "corrupt-checksum",
    "corrupt-flip_middle",
    "corrupt-bad_header",
    "corrupt-huge_length",
    "corrupt-truncate_body",
    "corrupt-symbols_type",
    "corrupt-stray_files",
];

/// Copies the fixture's `wal/` into `dest`, with writable files (reading a corrupt case
/// repairs the directory; the fixtures themselves are never touched).
fn copy_wal(case: &Path, dest: &Path) {
    fs::create_dir_all(dest).expect("create the WAL copy");
    for entry in fs::read_dir(case.join("wal")).expect("list the fixture's wal/") {
        let entry = entry.expect("list the fixture's wal/");
        assert!(
            entry.file_type().expect("stat").is_file(),
            "unexpected non-file {}",
            entry.path().display()
        );
        let to = dest.join(entry.file_name());
        fs::copy(entry.path(), &to).expect("copy a fixture file");
        fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).expect("chmod the copy");
    }
}

#[test]
fn roundtrip() {
    run_in_temp_dir("roundtrip", Link::Static);
}

#[test]
fn roundtrip_shared_library() {
    run_in_temp_dir("roundtrip", Link::Shared);
}

#[test]
fn durability() {
    run_in_temp_dir("durability", Link::Static);
}

#[test]
fn truncate() {
    run_in_temp_dir("truncate", Link::Static);
}

#[test]
fn errors() {
    run_in_temp_dir("errors", Link::Static);
}

#[test]
fn tail() {
    run_in_temp_dir("tail", Link::Static);
}

#[test]
fn threads() {
    run_in_temp_dir("threads", Link::Static);
}

/// Runs the fixtures program once per case of `tests/fixtures/prometheus-v1/`, each on
/// its own copy of the case's WAL: argv = copy, expected.dump, expected.files (or "-"
/// for the cases without one).
#[test]
fn fixtures() {
    let exe = compile("fixtures", Link::Static);
    let root = fixtures_root();
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("list the fixtures")
        .map(|e| e.expect("list the fixtures").path())
        .filter(|p| p.join("wal").is_dir() && p.join("expected.dump").is_file())
        .collect();
    cases.sort();
    for required in REQUIRED_CORRUPT_CASES {
        assert!(
            cases.iter().any(|c| c.ends_with(required)),
            "fixture case {required} is missing"
        );
    }

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("tswal-c-fixtures-{name}-"))
            .tempdir()
            .expect("create a temporary directory");
        let wal = tmp.path().join("wal");
        copy_wal(case, &wal);
        let files = case.join("expected.files");
        let files_arg: OsString = if files.is_file() {
            files.into()
        } else {
            assert!(
                !name.starts_with("corrupt-"),
                "{name} has no expected.files"
            );
            "-".into()
        };
        let args = [wal.into(), case.join("expected.dump").into(), files_arg];
        if let Err(report) = run(&exe, &args) {
            let kept = tmp.keep();
            failures.push(format!("[{name}] {report}\n(kept: {})", kept.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The fixture cases, in `tests/fixtures/prometheus-v1/`.
fn fixtures_root() -> PathBuf {
    manifest_dir().join("tests/fixtures/prometheus-v1")
}

/// How many entries the undamaged log of the fixtures (multiseg) holds: the lines of its
/// dump that are not indented.
fn full_log_entries() -> usize {
    let dump =
        fs::read_to_string(fixtures_root().join("multiseg/expected.dump")).expect("read the dump");
    dump.lines().filter(|l| !l.starts_with("  ")).count()
}

/// Recovery modes, quarantine and wal_stats on three copies of corrupt-flip_middle (FAIL
/// then TRUNCATE, SALVAGE, TRUNCATE without quarantine); the program is told how many
/// entries the undamaged log (multiseg) holds.
#[test]
fn recovery() {
    let exe = compile("recovery", Link::Static);
    let tmp = tempfile::tempdir().expect("create a temporary directory");
    let copies = ["fail", "salvage", "no-quarantine"].map(|name| tmp.path().join(name));
    let mut args: Vec<OsString> = Vec::new();
    for copy in &copies {
        copy_wal(&fixtures_root().join("corrupt-flip_middle"), copy);
        args.push(copy.into());
    }
    args.push(full_log_entries().to_string().into());
    if let Err(report) = run(&exe, &args) {
        panic!("{report}\n(the copies are kept: {})", tmp.keep().display());
    }
}

/// Read-only handles: beside a writer in this process and in another one, and on a copy
/// of corrupt-flip_middle, which they must leave as it is: argv = temporary directory,
/// the copy, the entries of the undamaged log.
#[test]
fn read_only() {
    let exe = compile("read_only", Link::Static);
    let tmp = tempfile::Builder::new()
        .prefix("tswal-c-read_only-")
        .tempdir()
        .expect("create a temporary directory");
    let (work, damaged) = (tmp.path().join("work"), tmp.path().join("damaged"));
    fs::create_dir(&work).expect("create the work directory");
    copy_wal(&fixtures_root().join("corrupt-flip_middle"), &damaged);
    let args: Vec<OsString> = vec![
        work.into(),
        damaged.into(),
        full_log_entries().to_string().into(),
    ];
    if let Err(report) = run(&exe, &args) {
        panic!(
            "{report}\n(the directory is kept: {})",
            tmp.keep().display()
        );
    }
}

/// The functions `libtswal.so` exports are exactly those of `abi/tswal.symbols`: a change
/// of the C ABI (a function added, removed or renamed, or a Rust symbol leaking out) is
/// made on purpose, by updating that list.
#[test]
fn exported_symbols_are_the_committed_list() {
    let lib = common::cbuild::lib_dir().join("libtswal.so");
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("run nm (binutils)");
    assert!(out.status.success(), "nm {} failed", lib.display());
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut exported: Vec<&str> = listing
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind != "U").then_some(name)
        })
        .collect();
    exported.sort_unstable();
    let committed = fs::read_to_string(manifest_dir().join("abi/tswal.symbols"))
        .expect("read abi/tswal.symbols");
    let want: Vec<&str> = committed.lines().collect();
    assert_eq!(
        exported, want,
        "libtswal.so exports other symbols than abi/tswal.symbols lists: if the change of \
         the C ABI is intended, update the list"
    );
}
