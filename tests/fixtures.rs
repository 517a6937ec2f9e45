//! The three checks of tests/fixtures/README.md over every reference case written by the
//! Go implementation: reading, byte-identical writing, and writing after repair.

mod common;

use std::fs;

use common::*;
use tswal::{Options, Sample, Wal};

fn open(dir: &std::path::Path) -> Wal {
    Wal::open(dir, Options::default()).expect("open fixture copy")
}

/// Runs `check` on every case `filter` lets through, reporting all failures together,
/// then checks that was `expected` cases (`what` names them).
fn for_each_case(
    (expected, what): (usize, &str),
    filter: impl Fn(&str) -> bool,
    check: impl Fn(&str) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for case in cases().into_iter().filter(|c| filter(c)) {
        if let Err(e) = check(&case) {
            failures.push(format!("{case}: {e}"));
        }
        ran.push(case);
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_ran(&ran, expected, what);
}

const ALL: (usize, &str) = (CASES, "fixture cases (CASES)");

#[test]
fn reading_every_case_gives_the_expected_dump_and_files() {
    for_each_case(
        ALL,
        |_| true,
        |case| {
            let src = fixtures_dir().join(case);
            let (_tmp, dir) = temp_copy_of_case(case);
            let wal = open(&dir);
            let got = dump(&wal).map_err(|e| format!("read failed: {e}"))?;
            wal.close().map_err(|e| format!("close failed: {e}"))?;
            let want = fs::read_to_string(src.join("expected.dump")).unwrap();
            if got != want {
                return Err(format!(
                    "dump differs ({} vs {} bytes); first difference at byte {}",
                    got.len(),
                    want.len(),
                    got.bytes()
                        .zip(want.bytes())
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.len().min(want.len()))
                ));
            }
            if let Ok(files) = fs::read_to_string(src.join("expected.files")) {
                let want: Vec<String> = files.lines().map(str::to_owned).collect();
                let have = segment_names(&dir);
                if have != want {
                    return Err(format!("segments left {have:?}, expected {want:?}"));
                }
            }
            // A second open and read sees the same (the repair is on disk).
            let wal = open(&dir);
            let again = dump(&wal).map_err(|e| format!("second read failed: {e}"))?;
            wal.close().unwrap();
            if again != want_text(&src) {
                return Err("second read after repair differs".into());
            }
            Ok(())
        },
    );
}

fn want_text(src: &std::path::Path) -> String {
    fs::read_to_string(src.join("expected.dump")).unwrap()
}

#[test]
fn running_each_workload_writes_the_reference_bytes() {
    for_each_case(
        (WORKLOAD_CASES, "cases with a workload.ops (WORKLOAD_CASES)"),
        |c| fixtures_dir().join(c).join("workload.ops").exists(),
        |case| {
            let src = fixtures_dir().join(case);
            let ops = parse_ops(&fs::read(src.join("workload.ops")).unwrap());
            let tmp = tempfile::tempdir().unwrap();
            run_workload(tmp.path(), &ops);
            let want = segment_names(&src.join("wal"));
            let have = segment_names(tmp.path());
            if have != want {
                return Err(format!("segment files {have:?}, reference has {want:?}"));
            }
            for name in &want {
                let a = without_zero_tail(fs::read(tmp.path().join(name)).unwrap());
                let b = without_zero_tail(fs::read(src.join("wal").join(name)).unwrap());
                if a != b {
                    let at = a
                        .iter()
                        .zip(&b)
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.len().min(b.len()));
                    return Err(format!(
                        "segment {name} differs: {} vs {} bytes (trailing zeros ignored), first difference at offset {at}",
                        a.len(),
                        b.len()
                    ));
                }
            }
            // And what we wrote reads back as the reference's expected dump.
            let wal = open(tmp.path());
            let got = dump(&wal).map_err(|e| format!("read back failed: {e}"))?;
            wal.close().unwrap();
            if got != want_text(&src) {
                return Err("reading the written WAL does not give expected.dump".into());
            }
            Ok(())
        },
    );
}

#[test]
fn after_repair_new_writes_follow_the_kept_entries() {
    for_each_case(
        ALL,
        |_| true,
        |case| {
            let src = fixtures_dir().join(case);
            let (_tmp, dir) = temp_copy_of_case(case);
            let batch = vec![
                Sample {
                    series_ref: 1,
                    t: 9_000_000,
                    v: 1.25,
                },
                Sample {
                    series_ref: 2,
                    t: 9_000_001,
                    v: -3.5,
                },
            ];
            let wal = open(&dir);
            dump(&wal).map_err(|e| format!("read failed: {e}"))?;
            let before = segment_names(&dir);
            wal.log_samples(&batch)
                .map_err(|e| format!("log after repair failed: {e}"))?;
            let got = dump(&wal).map_err(|e| format!("re-read failed: {e}"))?;
            wal.close().map_err(|e| format!("close failed: {e}"))?;
            let want = want_text(&src) + &dump_ops(&[Op::Samples(batch.clone())]);
            if got != want {
                return Err("re-read is not expected.dump followed by the new batch".into());
            }
            // The new batch went to a new segment after the kept ones.
            let after = segment_names(&dir);
            if after.len() != before.len() + 1 || after[..before.len()] != before[..] {
                return Err(format!("segments before {before:?}, after {after:?}"));
            }
            // And it survives a reopen.
            let wal = open(&dir);
            let reopened = dump(&wal).map_err(|e| format!("read after reopen failed: {e}"))?;
            wal.close().unwrap();
            if reopened != want {
                return Err("after reopen the dump differs".into());
            }
            Ok(())
        },
    );
}

#[test]
fn stray_files_are_left_alone() {
    let src = fixtures_dir().join("corrupt-stray_files");
    let (_tmp, dir) = temp_copy_of_case("corrupt-stray_files");
    let wal = open(&dir);
    dump(&wal).unwrap();
    wal.close().unwrap();
    assert_eq!(
        fs::read(dir.join("notes.txt")).unwrap(),
        fs::read(src.join("wal/notes.txt")).unwrap()
    );
    assert_eq!(
        fs::read(dir.join("compact.tmp")).unwrap(),
        fs::read(src.join("wal/compact.tmp")).unwrap()
    );
}
