//! Read-only handles (`Options::read_only`): opening and reading change nothing in the
//! directory; a read delivers what its recovery mode would keep and reports the damage
//! without repairing it; writes, truncation and sync are refused; and a read-only handle
//! reads beside a writer that holds the directory, in this process or in another one
//! that logs, cuts segments and truncates while it reads.
//!
//! The two `beside_a_live_writer_*` tests run this test binary again as their writer
//! (selected by the `TSWAL_READ_ONLY_WRITER_*` environment variables); one of them
//! truncates while the reads go on.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::ops::{ControlFlow, Range};
use std::os::unix::fs::PermissionsExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use tswal::{
    Entry, Error, FaultOp, Faults, Label, Options, ReadSummary, Recovery, Sample, Series,
    Tombstone, Wal,
};

const MODES: [Recovery; 3] = [Recovery::Truncate, Recovery::Salvage, Recovery::Fail];

/// Reads made through each read-only handle of a finished log: they must all agree.
const READS: usize = 3;

/// The segment header: magic 0x43AF00EF, version 1, padding.
const SEGMENT_HEADER: [u8; 8] = [0x43, 0xaf, 0x00, 0xef, 1, 0, 0, 0];

fn read_only(recovery: Recovery) -> Options {
    Options {
        recovery,
        read_only: true,
        ..Options::default()
    }
}

fn read_write(segment_size: u64) -> Options {
    Options {
        segment_size,
        ..Options::default()
    }
}

fn segment_name(seq: usize) -> String {
    format!("{seq:06}")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------
// The logs the tests write: numbered steps, each a series entry and a samples entry.

/// The labels of step `i`'s series (sorted by name, as a read delivers them).
fn step_labels(i: u64) -> [(String, String); 2] {
    [
        ("__name__".to_string(), "read_only_step".to_string()),
        ("step".to_string(), i.to_string()),
    ]
}

/// The samples of step `i`: 1 to 4 samples of series `i` at time `i`, whose values
/// encode the step and their index.
fn step_samples(i: u64) -> Vec<Sample> {
    (0..1 + i % 4)
        .map(|k| Sample {
            series_ref: i,
            t: i as i64,
            v: (i * 8 + k) as f64,
        })
        .collect()
}

/// Calls `f` with step `i`'s series.
fn with_step_series<R>(i: u64, f: impl FnOnce(&[Series<'_>]) -> R) -> R {
    let owned = step_labels(i);
    let labels: Vec<Label<'_>> = owned.iter().map(|(n, v)| Label::new(n, v)).collect();
    f(&[Series {
        series_ref: i,
        labels: &labels,
    }])
}

/// Logs step `i`: its series, then its samples.
fn log_step(wal: &Wal, i: u64) -> tswal::Result<()> {
    with_step_series(i, |s| wal.log_series(s))?;
    wal.log_samples(&step_samples(i))
}

/// The dump of steps `steps`, as a read delivers them.
fn steps_dump(steps: Range<u64>) -> String {
    let mut out = String::new();
    for i in steps {
        with_step_series(i, |s| tswal::dump::write_entry(&mut out, Entry::Series(s)));
        tswal::dump::write_entry(&mut out, Entry::Samples(&step_samples(i)));
    }
    out
}

/// Logs steps `steps` through a read-write handle on `dir` (created if needed) with
/// segments of `segment_size` bytes, then closes it.
fn write_steps(dir: &Path, segment_size: u64, steps: Range<u64>) {
    let wal = Wal::open(dir, read_write(segment_size)).expect("open the log to write it");
    wal.read(|_| ControlFlow::Continue(()))
        .expect("read the log before writing");
    for i in steps {
        log_step(&wal, i).expect("log a step");
    }
    wal.close().expect("close the log after writing");
}

// ---------------------------------------------------------------------------------------
// Snapshots of a directory: nothing a read-only handle does may change one.

#[derive(Debug, PartialEq)]
enum Node {
    Dir {
        mode: u32,
        modified: SystemTime,
    },
    File {
        mode: u32,
        modified: SystemTime,
        bytes: Vec<u8>,
    },
    Link(PathBuf),
}

/// Every name under `dir`, recursively (`dir` itself as ""), with its kind, permissions,
/// modification time and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, rel: PathBuf, out: &mut BTreeMap<PathBuf, Node>) {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).expect("stat for a snapshot");
        let mode = meta.permissions().mode();
        let modified = meta.modified().expect("modification time");
        let node = if meta.file_type().is_symlink() {
            Node::Link(fs::read_link(&path).expect("read link"))
        } else if meta.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&path)
                .expect("list for a snapshot")
                .map(|e| e.expect("entry").file_name())
                .collect();
            names.sort();
            for name in names {
                walk(root, rel.join(name), out);
            }
            Node::Dir { mode, modified }
        } else {
            Node::File {
                mode,
                modified,
                bytes: fs::read(&path).expect("read for a snapshot"),
            }
        };
        out.insert(rel, node);
    }
    let mut out = BTreeMap::new();
    walk(dir, PathBuf::new(), &mut out);
    out
}

/// Panics, naming what changed, unless `dir` is as `before` (taken from it).
fn assert_unchanged(label: &str, after_what: &str, dir: &Path, before: &BTreeMap<PathBuf, Node>) {
    let now = snapshot(dir);
    if &now == before {
        return;
    }
    let mut changes = Vec::new();
    for (name, node) in before {
        match now.get(name) {
            None => changes.push(format!("{name:?} removed")),
            Some(n) if n != node => {
                changes.push(format!("{name:?} changed: {}", describe_change(node, n)))
            }
            Some(_) => {}
        }
    }
    for name in now.keys().filter(|n| !before.contains_key(*n)) {
        changes.push(format!("{name:?} created"));
    }
    panic!(
        "{label}: {after_what} changed the directory {}: {}",
        dir.display(),
        changes.join("; ")
    );
}

fn describe_change(was: &Node, is: &Node) -> String {
    match (was, is) {
        (
            Node::File {
                mode: m0,
                modified: t0,
                bytes: b0,
            },
            Node::File {
                mode: m1,
                modified: t1,
                bytes: b1,
            },
        ) => {
            let mut what = Vec::new();
            if b0 != b1 {
                let at = b0
                    .iter()
                    .zip(b1)
                    .position(|(x, y)| x != y)
                    .unwrap_or(b0.len().min(b1.len()));
                what.push(format!(
                    "{} bytes became {}, first difference at offset {at}",
                    b0.len(),
                    b1.len()
                ));
            }
            if m0 != m1 {
                what.push(format!("mode {m0:o} became {m1:o}"));
            }
            if t0 != t1 {
                what.push(format!("modified at {t0:?}, now {t1:?}"));
            }
            what.join(", ")
        }
        (was, is) => format!("{was:?} became {is:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Reading: read-only, and repairing reads of copies to compare with.

/// What a read gave.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Delivered { dump: String, summary: ReadSummary },
    Corrupt { segment: PathBuf, offset: u64 },
}

impl Got {
    /// A short description (dumps can be large).
    fn brief(&self) -> String {
        match self {
            Got::Delivered { dump, summary } => format!(
                "{} entries ({} bytes of dump), damage {:?}, repair {:?}",
                summary.entries,
                dump.len(),
                summary.damage,
                summary.repair
            ),
            Got::Corrupt { segment, offset } => {
                format!("Error::Corruption in {} at {offset}", segment.display())
            }
        }
    }
}

/// What `read_only_reads` found.
struct ReadOnly {
    got: Got,
    /// `stats().corruptions` after the first read; `None` if the open itself reported
    /// the corruption.
    corruptions: Option<u64>,
}

/// Opens `dir` read-only with `recovery`, checks that writes, truncation and sync are
/// refused, and reads it `READS` times. Checks on the way that nothing in `dir` changes
/// (after the open, the refused calls, every read and the drop) and that every read gives
/// the same. With `Recovery::Fail` the open may report the corruption (an invalid
/// segment header), as a read-write open does.
fn read_only_reads(label: &str, dir: &Path, recovery: Recovery) -> ReadOnly {
    let before = snapshot(dir);
    let wal = match Wal::open(dir, read_only(recovery)) {
        Ok(wal) => wal,
        Err(Error::Corruption {
            segment, offset, ..
        }) if recovery == Recovery::Fail => {
            assert_unchanged(label, "an open that reported corruption", dir, &before);
            return ReadOnly {
                got: Got::Corrupt { segment, offset },
                corruptions: None,
            };
        }
        Err(e) => panic!("{label}: the read-only open failed: {e}"),
    };
    assert!(
        wal.read_only(),
        "{label}: the handle does not say read-only"
    );
    assert_unchanged(label, "the read-only open", dir, &before);
    assert_writes_refused(label, &wal);
    assert_unchanged(label, "the refused writes", dir, &before);
    let mut first: Option<(Got, u64)> = None;
    for n in 1..=READS {
        let got = match read_dump(&wal) {
            Ok((dump, summary)) => Got::Delivered { dump, summary },
            Err(Error::Corruption {
                segment, offset, ..
            }) => Got::Corrupt { segment, offset },
            Err(e) => panic!("{label}: read {n} failed: {e}"),
        };
        assert_unchanged(label, &format!("read {n}"), dir, &before);
        let corruptions = wal.stats().expect("stats").corruptions;
        match &first {
            None => first = Some((got, corruptions)),
            Some((first, counted)) => {
                assert!(
                    &got == first,
                    "{label}: read {n} gave {}, read 1 gave {}",
                    got.brief(),
                    first.brief()
                );
                assert!(
                    corruptions >= *counted,
                    "{label}: stats().corruptions went from {counted} down to {corruptions}"
                );
            }
        }
    }
    drop(wal);
    assert_unchanged(label, "dropping the handle", dir, &before);
    let (got, corruptions) = first.expect("at least one read");
    ReadOnly {
        got,
        corruptions: Some(corruptions),
    }
}

/// Logging, truncation and sync on a read-only handle return `Error::State` saying so.
fn assert_writes_refused(label: &str, wal: &Wal) {
    let sample = [Sample {
        series_ref: 1,
        t: 1,
        v: 1.0,
    }];
    let tombstone = [Tombstone {
        series_ref: 1,
        mint: 0,
        maxt: 1,
    }];
    let attempts = [
        ("log_series", with_step_series(1, |s| wal.log_series(s))),
        ("log_series of no series", wal.log_series(&[])),
        ("log_samples", wal.log_samples(&sample)),
        ("log_samples of no samples", wal.log_samples(&[])),
        ("log_deletes", wal.log_deletes(&tombstone)),
        ("truncate", wal.truncate(i64::MAX, |_| false)),
        ("sync", wal.sync()),
    ];
    for (what, result) in attempts {
        match result {
            Err(Error::State(msg)) if msg.contains("read-only") => {}
            other => panic!(
                "{label}: {what} on a read-only handle gave {other:?}, expected Error::State \
                 saying the handle is read-only"
            ),
        }
    }
}

/// What a read-write open and read of a copy of `dir` with `recovery` gives (the read
/// repairs the copy): the dump and `stats().corruptions`, or the name of the segment
/// and the offset of the `Error::Corruption` reported (by the open or the read).
fn repairing_read(
    label: &str,
    dir: &Path,
    recovery: Recovery,
) -> Result<(String, u64), (String, u64)> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let copy = tmp.path().join("wal");
    copy_dir(dir, &copy);
    let wal = match Wal::open(
        &copy,
        Options {
            recovery,
            ..Options::default()
        },
    ) {
        Ok(wal) => wal,
        Err(Error::Corruption {
            segment, offset, ..
        }) => return Err((file_name(&segment), offset)),
        Err(e) => panic!("{label}: a read-write open of a copy failed: {e}"),
    };
    match read_dump(&wal) {
        Ok((dump, _)) => Ok((dump, wal.stats().expect("stats").corruptions)),
        Err(Error::Corruption {
            segment, offset, ..
        }) => Err((file_name(&segment), offset)),
        Err(e) => panic!("{label}: a repairing read of a copy failed: {e}"),
    }
}

/// Panics with where `got` and `want` first differ.
fn assert_same_text(label: &str, what: &str, got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let line = got.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
    panic!(
        "{label}: {what}: {} bytes of dump, {} expected, first difference at byte {at} \
         (line {}): got {:?}, expected {:?}",
        got.len(),
        want.len(),
        line + 1,
        got.lines().nth(line).unwrap_or("<end>"),
        want.lines().nth(line).unwrap_or("<end>"),
    );
}

/// Where a log is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage<'a> {
    None,
    /// Damaged, at a place the test does not name.
    Somewhere,
    /// The first damage (the one `Recovery::Fail` reports): segment file name, offset.
    At(&'a str, u64),
}

/// What a log should read as.
struct Expect<'a> {
    /// What a Truncate read delivers (everything, if the log is undamaged).
    truncate: &'a str,
    /// What a Salvage read delivers, if the test knows; it is compared with a repairing
    /// Salvage read of a copy in any case.
    salvage: Option<&'a str>,
    damage: Damage<'a>,
}

/// Unpacks a delivered read, panicking with `label` on a corruption error.
fn delivered<'g>(label: &str, got: &'g Got) -> (&'g str, &'g ReadSummary) {
    match got {
        Got::Delivered { dump, summary } => (dump, summary),
        Got::Corrupt { .. } => panic!("{label}: the read failed: {}", got.brief()),
    }
}

/// The summary of a delivered read-only read: damage reported exactly when `damaged`,
/// in `dir` and in log order; nothing repaired; the damage counted.
fn check_summary(label: &str, dir: &Path, r: &ReadOnly, damaged: bool) {
    let (_, summary) = delivered(label, &r.got);
    assert_eq!(
        !summary.damage.is_empty(),
        damaged,
        "{label}: damage reported: {:?}",
        summary.damage
    );
    assert!(
        summary.repair.is_none(),
        "{label}: a read-only read reports a repair: {:?}",
        summary.repair
    );
    assert_eq!(
        r.corruptions,
        Some(summary.damage.len() as u64),
        "{label}: stats().corruptions after one read, with damage {:?}",
        summary.damage
    );
    for d in &summary.damage {
        assert_eq!(
            d.segment.parent(),
            Some(dir),
            "{label}: damage reported outside the directory: {d:?}"
        );
    }
    let places: Vec<(&Path, u64)> = summary
        .damage
        .iter()
        .map(|d| (d.segment.as_path(), d.offset))
        .collect();
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(
        places, sorted,
        "{label}: damage is not reported in log order (segment, offset): {:?}",
        summary.damage
    );
}

/// Reads `dir` read-only in each recovery mode and checks what each delivers against
/// `expect` and against repairing reads of copies, and that nothing in `dir` changes.
fn check_every_mode(label: &str, dir: &Path, expect: &Expect<'_>) {
    let damaged = !matches!(expect.damage, Damage::None);

    let l = format!("{label} [Truncate]");
    let truncate = read_only_reads(&l, dir, Recovery::Truncate);
    let (dump, summary) = delivered(&l, &truncate.got);
    assert_same_text(&l, "delivered", dump, expect.truncate);
    check_summary(&l, dir, &truncate, damaged);
    let (repaired, counted) = repairing_read(&l, dir, Recovery::Truncate).unwrap_or_else(|e| {
        panic!("{l}: a repairing Truncate read of a copy reported corruption at {e:?}")
    });
    assert_same_text(
        &l,
        "delivered, vs a repairing read of a copy",
        dump,
        &repaired,
    );
    if damaged {
        assert_eq!(
            truncate.corruptions,
            Some(counted),
            "{l}: damage counted by the read-only read (which reports {:?}), vs a repairing \
             read of a copy",
            summary.damage
        );
    }
    let truncate_damage: Vec<(PathBuf, u64)> = summary
        .damage
        .iter()
        .map(|d| (d.segment.clone(), d.offset))
        .collect();
    if let Damage::At(segment, offset) = expect.damage {
        assert_eq!(
            truncate_damage.first(),
            Some(&(dir.join(segment), offset)),
            "{l}: where the first damage is reported"
        );
    }

    let l = format!("{label} [Salvage]");
    let salvage = read_only_reads(&l, dir, Recovery::Salvage);
    let (dump, summary) = delivered(&l, &salvage.got);
    check_summary(&l, dir, &salvage, damaged);
    let (repaired, counted) = repairing_read(&l, dir, Recovery::Salvage).unwrap_or_else(|e| {
        panic!("{l}: a repairing Salvage read of a copy reported corruption at {e:?}")
    });
    assert_same_text(
        &l,
        "delivered, vs a repairing read of a copy",
        dump,
        &repaired,
    );
    if let Some(want) = expect.salvage {
        assert_same_text(&l, "delivered", dump, want);
    }
    if damaged {
        assert_eq!(
            salvage.corruptions,
            Some(counted),
            "{l}: damage counted by the read-only read (which reports {:?}), vs a repairing \
             read of a copy",
            summary.damage
        );
    }

    let l = format!("{label} [Fail]");
    let fail = read_only_reads(&l, dir, Recovery::Fail);
    if !damaged {
        let (dump, _) = delivered(&l, &fail.got);
        assert_same_text(&l, "delivered", dump, expect.truncate);
        check_summary(&l, dir, &fail, false);
        return;
    }
    let Got::Corrupt { segment, offset } = &fail.got else {
        panic!(
            "{l}: a damaged log read as {}, expected Error::Corruption",
            fail.got.brief()
        );
    };
    let place = (segment.clone(), *offset);
    assert!(
        truncate_damage.contains(&place),
        "{l}: Error::Corruption names {} at {offset}, not a damage a Truncate read reports \
         ({truncate_damage:?})",
        segment.display()
    );
    if let Damage::At(name, at) = expect.damage {
        assert_eq!(
            place,
            (dir.join(name), at),
            "{l}: where the corruption is reported"
        );
    }
    if let Some(counted) = fail.corruptions {
        assert!(
            counted >= 1,
            "{l}: stats().corruptions is {counted} after Error::Corruption"
        );
    }
    let rw = repairing_read(&l, dir, Recovery::Fail);
    assert_eq!(
        rw.as_ref().err(),
        Some(&(file_name(segment), *offset)),
        "{l}: the corruption a read-write Fail open and read of a copy reports"
    );
}

/// The entries of `names` (segments of `dir`) alone, read from a copy holding only them.
fn dump_of_segments(dir: &Path, names: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    for name in names {
        fs::copy(dir.join(name), tmp.path().join(name)).expect("copy a segment");
    }
    let wal = Wal::open(tmp.path(), read_only(Recovery::Fail)).expect("open the copy");
    let (dump, summary) = read_dump(&wal).expect("read the copy");
    assert!(summary.damage.is_empty(), "segments {names:?} are damaged");
    dump
}

/// Runs `check` on every item, each under its own name; then panics listing every item
/// whose check panicked (each panic's message is printed as it happens), or returns the
/// names of those that ran.
fn check_all<T>(
    items: impl IntoIterator<Item = (String, T)>,
    check: impl Fn(&str, T),
) -> Vec<String> {
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    for (name, item) in items {
        if catch_unwind(AssertUnwindSafe(|| check(&name, item))).is_err() {
            failed.push(name.clone());
        }
        ran.push(name);
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed (messages above):\n  {}",
        failed.len(),
        ran.len(),
        failed.join("\n  ")
    );
    ran
}

// ---------------------------------------------------------------------------------------
// 1. The fixture cases.

/// `corrupt-*` cases whose log a read-only read finds undamaged: stray non-segment files
/// are no part of the log, and an empty newest segment is what a writer creating it
/// leaves (a repairing read removes it, which changes no entry).
const UNDAMAGED_CORRUPT: [&str; 2] = ["corrupt-empty_segment", "corrupt-stray_files"];

fn damaged_case(case: &str) -> bool {
    case.starts_with("corrupt-") && !UNDAMAGED_CORRUPT.contains(&case)
}

#[test]
fn every_fixture_case_reads_as_its_recovery_mode_keeps_it_and_nothing_changes() {
    // The corrupt-* cases damage a copy of multiseg: damaged ones lose entries.
    let intact = fs::read_to_string(fixtures_dir().join("multiseg/expected.dump")).unwrap();
    let ran = check_all(
        cases().into_iter().map(|c| (c.clone(), c)),
        |label, case| {
            let want =
                fs::read_to_string(fixtures_dir().join(&case).join("expected.dump")).unwrap();
            let damaged = damaged_case(&case);
            if case.starts_with("corrupt-") {
                assert_eq!(
                    want != intact,
                    damaged,
                    "{label}: expected.dump says the case is {}damaged",
                    if damaged { "not " } else { "" }
                );
            }
            let (_tmp, dir) = temp_copy_of_case(&case);
            let expect = Expect {
                truncate: &want,
                salvage: None,
                damage: if damaged {
                    Damage::Somewhere
                } else {
                    Damage::None
                },
            };
            check_every_mode(label, &dir, &expect);
        },
    );
    assert_ran(&ran, CASES, "fixture cases (CASES)");
    let damaged: Vec<String> = ran.into_iter().filter(|c| damaged_case(c)).collect();
    assert_ran(
        &damaged,
        CORRUPT_CASES - UNDAMAGED_CORRUPT.len(),
        "damaged cases (CORRUPT_CASES - UNDAMAGED_CORRUPT)",
    );
}

// ---------------------------------------------------------------------------------------
// 2. Opening what is not a WAL directory.

/// Panics unless `opened` is an `Error::Io` of `kind` on `path` whose message names the
/// path and says `says`.
fn assert_refused(
    label: &str,
    opened: tswal::Result<Wal>,
    path: &Path,
    kind: std::io::ErrorKind,
    says: &str,
) {
    let e = match opened {
        Ok(_) => panic!("{label}: the read-only open succeeded"),
        Err(e) => e,
    };
    let msg = e.to_string();
    let Error::Io {
        path: named,
        source,
        ..
    } = e
    else {
        panic!("{label}: the read-only open gave {e:?}, expected Error::Io");
    };
    assert_eq!(named, path, "{label}: the path the error names");
    assert_eq!(source.kind(), kind, "{label}: {msg}");
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains(says),
        "{label}: the message does not name the path and say {says:?}: {msg}"
    );
}

#[test]
fn a_missing_directory_or_a_file_is_refused_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"not a WAL directory").unwrap();
    let before = snapshot(tmp.path());
    let missing = [tmp.path().join("wal"), tmp.path().join("a/b/wal")];
    for mode in MODES {
        for dir in &missing {
            let label = format!("a missing directory {} [{mode:?}]", dir.display());
            let opened = Wal::open(dir, read_only(mode));
            let (kind, says) = (std::io::ErrorKind::NotFound, "No such file or directory");
            assert_refused(&label, opened, dir, kind, says);
            assert_unchanged(&label, "the open", tmp.path(), &before);
        }
        let label = format!("a file {} [{mode:?}]", file.display());
        let opened = Wal::open(&file, read_only(mode));
        let (kind, says) = (std::io::ErrorKind::NotADirectory, "not a directory");
        assert_refused(&label, opened, &file, kind, says);
        assert_unchanged(&label, "the open", tmp.path(), &before);
    }
}

#[test]
fn an_empty_directory_reads_as_an_empty_log() {
    let tmp = tempfile::tempdir().unwrap();
    check_every_mode(
        "an empty directory",
        tmp.path(),
        &Expect {
            truncate: "",
            salvage: Some(""),
            damage: Damage::None,
        },
    );
}

// ---------------------------------------------------------------------------------------
// 3. Beside a writer in this process.

/// Reads through each handle of `readers` (one per mode) and checks that each
/// delivers `want(dump)` without damage.
fn read_beside(
    label: &str,
    readers: &[(Recovery, Wal)],
    want: impl Fn(&str) -> Result<(), String>,
) {
    for (mode, wal) in readers {
        let (dump, summary) = read_dump(wal)
            .unwrap_or_else(|e| panic!("{label} [{mode:?}]: the read-only read failed: {e}"));
        if let Err(why) = want(&dump) {
            panic!("{label} [{mode:?}]: {why}");
        }
        assert!(
            summary.damage.is_empty() && summary.repair.is_none(),
            "{label} [{mode:?}]: damage {:?}, repair {:?}",
            summary.damage,
            summary.repair
        );
        assert_eq!(
            wal.stats().unwrap().corruptions,
            0,
            "{label} [{mode:?}]: corruptions"
        );
    }
}

#[test]
fn beside_a_writer_in_this_process() {
    const SEGMENT_SIZE: u64 = 4096;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let writer = Wal::open(&dir, read_write(SEGMENT_SIZE)).unwrap();
    let readers: Vec<(Recovery, Wal)> = MODES
        .iter()
        .map(|&m| {
            let wal = Wal::open(&dir, read_only(m))
                .unwrap_or_else(|e| panic!("[{m:?}] a read-only open beside the writer: {e}"));
            (m, wal)
        })
        .collect();
    let assert_locked = |when: &str| match Wal::open(&dir, read_write(SEGMENT_SIZE)) {
        Err(Error::Locked { dir: locked }) => assert_eq!(locked, dir, "{when}"),
        Err(e) => panic!("{when}: a second read-write open gave {e:?}, expected Error::Locked"),
        Ok(_) => panic!("{when}: a second read-write open succeeded beside the writer"),
    };
    assert_locked("with read-only handles open");

    // Without truncation: each read delivers a prefix of what was logged that holds
    // everything synced, and after a sync exactly everything.
    let (mut logged, mut synced) = (0u64, 0u64);
    for round in 0..12u64 {
        let label = format!("round {round}");
        for _ in 0..1 + round * 7 % 40 {
            log_step(&writer, logged).unwrap();
            logged += 1;
        }
        let (all, durable) = (steps_dump(0..logged), steps_dump(0..synced));
        read_beside(&format!("{label}, before sync"), &readers, |d| {
            if all.starts_with(d) && d.starts_with(&durable) {
                Ok(())
            } else {
                Err(format!(
                    "{} bytes of dump delivered: not a prefix of the {} logged steps holding \
                     the {} synced",
                    d.len(),
                    logged,
                    synced
                ))
            }
        });
        writer.sync().unwrap();
        synced = logged;
        read_beside(&format!("{label}, after sync"), &readers, |d| {
            if d == all {
                Ok(())
            } else {
                Err(format!("not the {logged} synced steps"))
            }
        });
    }
    let segments = segment_names(&dir).len();
    assert!(
        segments >= 4,
        "only {segments} segments: the writer cut too few"
    );

    // With truncation: each read delivers what the writer's own read delivers.
    let mut truncations = 0;
    for round in 0..4u64 {
        let label = format!("truncation round {round}");
        let before = segment_names(&dir);
        writer
            .truncate(((logged / 2) + round * 10) as i64, |r| r % 3 != 0)
            .unwrap();
        if segment_names(&dir) != before {
            truncations += 1;
        }
        for _ in 0..20 {
            log_step(&writer, logged).unwrap();
            logged += 1;
        }
        writer.sync().unwrap();
        let (own, _) = read_dump(&writer).unwrap();
        read_beside(&label, &readers, |d| {
            if d == own {
                Ok(())
            } else {
                Err(format!(
                    "{} bytes of dump, the writer reads {}",
                    d.len(),
                    own.len()
                ))
            }
        });
    }
    assert!(
        truncations > 0,
        "no truncation took a segment out: the test proved nothing"
    );
    assert_locked("after truncations");

    // Once the writer is closed, a read-write open succeeds beside the read-only handles
    // and reads what they read.
    let (own, _) = read_dump(&writer).unwrap();
    writer.close().unwrap();
    let again = Wal::open(&dir, read_write(SEGMENT_SIZE)).expect("a read-write open after close");
    let (reopened, _) = read_dump(&again).unwrap();
    assert_same_text("after close", "a read-write reopen", &reopened, &own);
    read_beside("beside the reopened writer", &readers, |d| {
        if d == own {
            Ok(())
        } else {
            Err("not what the writer read".into())
        }
    });
}

// ---------------------------------------------------------------------------------------
// 4. Beside a live writer in another process.

/// The environment variables that make this test binary the writer of a live test.
const WRITER_DIR_ENV: &str = "TSWAL_READ_ONLY_WRITER_DIR";
const WRITER_PROGRESS_ENV: &str = "TSWAL_READ_ONLY_WRITER_PROGRESS";
const WRITER_TRUNCATES_ENV: &str = "TSWAL_READ_ONLY_WRITER_TRUNCATES";
/// Small, so that the writer cuts a segment every ~150 steps.
const LIVE_SEGMENT_SIZE: u64 = 16 * 1024;
/// How long the writer logs.
const LIVE_WRITE_FOR: Duration = Duration::from_secs(2);
/// The writer syncs after every this many steps.
const SYNC_EVERY: u64 = 4;
/// When it truncates: every this many steps, the segments older than this many steps
/// back, keeping every series.
const TRUNCATE_EVERY: u64 = 100;
const TRUNCATE_BEHIND: u64 = 400;
/// The parent gives up on (and kills) a writer that has not exited by then.
const WRITER_DEADLINE: Duration = Duration::from_secs(60);

/// What the writer reports, in a file it replaces atomically.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Progress {
    /// Steps logged and synced (all of them once `done`).
    synced: u64,
    /// The highest `mint` of a truncation begun: only samples of steps below it may
    /// have been truncated.
    mint: u64,
    /// Truncations begun, and completed.
    begun: u64,
    truncations: u64,
    /// The writer closed the log.
    done: bool,
}

fn write_progress(path: &Path, p: Progress) {
    let tmp = path.with_extension("tmp");
    let text = format!(
        "{} {} {} {} {}\n",
        p.synced, p.mint, p.begun, p.truncations, p.done
    );
    fs::write(&tmp, text).expect("writer: write progress");
    fs::rename(&tmp, path).expect("writer: replace progress");
}

fn read_progress(path: &Path) -> Progress {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Progress::default(),
        Err(e) => panic!("read the writer's progress: {e}"),
    };
    let f: Vec<&str> = text.split_whitespace().collect();
    let num = |i: usize| -> u64 { f[i].parse().expect("a number in the progress file") };
    Progress {
        synced: num(0),
        mint: num(1),
        begun: num(2),
        truncations: num(3),
        done: f[4] == "true",
    }
}

/// The writer: logs steps for `LIVE_WRITE_FOR`, syncing every `SYNC_EVERY` steps and,
/// if `truncates`, truncating every `TRUNCATE_EVERY`; reports its progress after each.
fn live_writer(dir: &Path, progress: &Path, truncates: bool) {
    let wal = Wal::open(dir, read_write(LIVE_SEGMENT_SIZE)).expect("writer: open");
    wal.read(|_| ControlFlow::Continue(()))
        .expect("writer: first read");
    let start = Instant::now();
    let mut p = Progress::default();
    let mut step = 0;
    while start.elapsed() < LIVE_WRITE_FOR {
        log_step(&wal, step).expect("writer: log");
        step += 1;
        if step % SYNC_EVERY == 0 {
            wal.sync().expect("writer: sync");
            p.synced = step;
            write_progress(progress, p);
        }
        if truncates && step % TRUNCATE_EVERY == 0 && step > TRUNCATE_BEHIND {
            // Reported before it begins: a reader bounds what may be missing by it.
            p.mint = step - TRUNCATE_BEHIND;
            p.begun += 1;
            write_progress(progress, p);
            wal.truncate(p.mint as i64, |_| true)
                .expect("writer: truncate");
            p.truncations += 1;
            write_progress(progress, p);
        }
    }
    wal.close().expect("writer: close");
    p.synced = step;
    p.done = true;
    write_progress(progress, p);
}

/// Checks a read of the writer's log entry by entry: series `0, 1, 2, ...` without a gap
/// (truncation keeps every series), each step's samples exact, after its series, in
/// increasing step order.
#[derive(Default)]
struct LiveLog {
    /// Series delivered (the next one must be this one).
    series: u64,
    /// Steps whose samples were delivered, in order.
    steps: Vec<u64>,
    /// The first thing wrong.
    wrong: Option<String>,
    /// The dump, if asked for.
    dump: Option<String>,
}

impl LiveLog {
    fn visit(&mut self, e: Entry<'_>) -> ControlFlow<()> {
        if let Some(out) = &mut self.dump {
            tswal::dump::write_entry(out, e);
        }
        match self.check(e) {
            Ok(()) => ControlFlow::Continue(()),
            Err(why) => {
                self.wrong = Some(why);
                ControlFlow::Break(())
            }
        }
    }

    fn check(&mut self, e: Entry<'_>) -> Result<(), String> {
        match e {
            Entry::Series(series) => {
                for s in series {
                    let want = step_labels(self.series);
                    let same = s.series_ref == self.series
                        && s.labels.len() == want.len()
                        && s.labels
                            .iter()
                            .zip(&want)
                            .all(|(l, (n, v))| l.name == n.as_bytes() && l.value == v.as_bytes());
                    if !same {
                        return Err(format!(
                            "series {} expected next, got series {} with labels {:?}",
                            self.series,
                            s.series_ref,
                            s.labels
                                .iter()
                                .map(|l| String::from_utf8_lossy(l.value))
                                .collect::<Vec<_>>()
                        ));
                    }
                    self.series += 1;
                }
            }
            Entry::Samples(samples) => {
                let step = samples.first().map_or(u64::MAX, |s| s.series_ref);
                let want = step_samples(step);
                let same = samples.len() == want.len()
                    && samples.iter().zip(&want).all(|(a, b)| {
                        a.series_ref == b.series_ref && a.t == b.t && a.v.to_bits() == b.v.to_bits()
                    });
                if !same {
                    return Err(format!("samples {samples:?} are not those of a step"));
                }
                if step >= self.series {
                    let delivered = match self.series {
                        0 => "none".to_string(),
                        n => format!("0 to {}", n - 1),
                    };
                    return Err(format!(
                        "samples of step {step} before its series (series delivered: {delivered})"
                    ));
                }
                if let Some(&last) = self.steps.last() {
                    if step <= last {
                        return Err(format!("samples of step {step} after those of step {last}"));
                    }
                }
                self.steps.push(step);
            }
            Entry::Deletes(d) => return Err(format!("deletes {d:?}: the writer logs none")),
        }
        Ok(())
    }

    /// The highest step whose samples were delivered, plus one.
    fn steps_end(&self) -> u64 {
        self.steps.last().map_or(0, |s| s + 1)
    }
}

/// Reads the writer's log through `wal` and checks it: entries exact and in order, no
/// damage, every step synced before the read there, and samples missing only from steps
/// below the truncation bound reported after the read.
fn live_read(label: &str, wal: &Wal, progress: &Path, with_dump: bool) -> LiveLog {
    let before = read_progress(progress);
    let mut log = LiveLog {
        dump: with_dump.then(String::new),
        ..LiveLog::default()
    };
    let result = wal.read(|e| log.visit(e));
    let after = read_progress(progress);
    let during = format!(
        "the writer had synced {} steps before the read, {} after; truncations begun {} \
         before it (the last with mint {}), {} after (mint {}); completed {} before, {} after",
        before.synced,
        after.synced,
        before.begun,
        before.mint,
        after.begun,
        after.mint,
        before.truncations,
        after.truncations
    );
    let summary = match result {
        Ok(s) => s,
        Err(Error::Aborted) => panic!(
            "{label}: {} ({during})",
            log.wrong.as_deref().unwrap_or("aborted")
        ),
        Err(e) => panic!("{label}: the read failed: {e} ({during})"),
    };
    assert!(
        summary.damage.is_empty() && summary.repair.is_none(),
        "{label}: damage {:?}, repair {:?} ({during})",
        summary.damage,
        summary.repair
    );
    assert_eq!(
        wal.stats().unwrap().corruptions,
        0,
        "{label}: stats().corruptions"
    );
    assert!(
        log.series >= before.synced,
        "{label}: {} series delivered ({during})",
        log.series,
    );
    // Steps missing their samples must be below the truncation bound.
    let end = log.steps_end().max(before.synced);
    let mut delivered = log.steps.iter().peekable();
    for step in 0..end {
        if delivered.peek() == Some(&&step) {
            delivered.next();
        } else if step >= after.mint {
            panic!(
                "{label}: the samples of step {step} are missing, though {}, and no truncation \
                 reached them ({during}; samples delivered up to step {})",
                if step < before.synced {
                    "synced before the read"
                } else {
                    "later steps were delivered"
                },
                log.steps_end() as i64 - 1,
            );
        }
    }
    log
}

/// Kills the writer if the test ends before it exits.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A live test: when this process is a writer (the environment says so), writes and
/// returns true; otherwise false.
fn run_as_writer() -> bool {
    let (Some(dir), Some(progress)) = (
        std::env::var_os(WRITER_DIR_ENV),
        std::env::var_os(WRITER_PROGRESS_ENV),
    ) else {
        return false;
    };
    let truncates = std::env::var_os(WRITER_TRUNCATES_ENV).is_some_and(|v| v == "1");
    live_writer(Path::new(&dir), Path::new(&progress), truncates);
    true
}

/// Reading threads of a live test.
const READER_THREADS: usize = 2;

/// What one reading thread of a live test did.
#[derive(Debug, Default)]
struct LiveReads {
    reads: usize,
    /// Reads that delivered samples of a later step than the thread's read before.
    grew: usize,
    /// Reads that found the samples of the first steps truncated.
    saw_truncated: usize,
}

/// One reading thread of a live test: reads until `stop`, through `handles` (one per
/// mode, opened before the writer started) and, every fifth read, through a handle
/// opened for that read. Checks each read (`live_read`) and that reads never go back.
fn read_until(
    thread: usize,
    dir: &Path,
    progress: &Path,
    handles: &[(Recovery, Wal)],
    stop: &AtomicBool,
) -> LiveReads {
    let mut done = LiveReads::default();
    let mut last = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let n = done.reads;
        let fresh;
        let (mode, wal) = if n % 5 == 4 {
            let m = MODES[n / 5 % MODES.len()];
            fresh = Wal::open(dir, read_only(m)).unwrap_or_else(|e| {
                panic!(
                    "thread {thread}, read {n}: a read-only open [{m:?}] beside the writer \
                     failed: {e}"
                )
            });
            (m, &fresh)
        } else {
            let (m, wal) = &handles[n % handles.len()];
            (*m, wal)
        };
        let label = format!("thread {thread}, live read {n} [{mode:?}]");
        let log = live_read(&label, wal, progress, false);
        let now = (log.series, log.steps_end());
        assert!(
            now.0 >= last.0 && now.1 >= last.1,
            "{label}: {} series and samples up to step {}, an earlier read delivered {} and {}",
            now.0,
            now.1 as i64 - 1,
            last.0,
            last.1 as i64 - 1
        );
        done.grew += usize::from(now.1 > last.1);
        done.saw_truncated += usize::from(log.steps.first().is_some_and(|&s| s > 0));
        done.reads += 1;
        last = now;
    }
    done
}

/// The parent of a live test named `test`: starts this test binary as the writer of a
/// fresh log (`truncates`: it also truncates), reads the log read-only from
/// `READER_THREADS` threads until the writer exits (`read_until`), then checks that every
/// handle, and new ones, read the whole log as a read-write open does.
fn read_beside_live_writer(test: &str, truncates: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let progress = tmp.path().join("progress");
    let stderr_path = tmp.path().join("writer.stderr");
    fs::create_dir(&dir).unwrap();
    let open_each_mode = || -> Vec<(Recovery, Wal)> {
        MODES
            .iter()
            .map(|&m| (m, Wal::open(&dir, read_only(m)).unwrap()))
            .collect()
    };
    let readers: Vec<Vec<(Recovery, Wal)>> =
        (0..READER_THREADS).map(|_| open_each_mode()).collect();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(WRITER_DIR_ENV, &dir)
        .env(WRITER_PROGRESS_ENV, &progress)
        .env(WRITER_TRUNCATES_ENV, if truncates { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start the writer");
    let mut child = KillOnDrop(child);
    let stop = AtomicBool::new(false);
    let (status, counts) = std::thread::scope(|s| {
        let threads: Vec<_> = readers
            .iter()
            .enumerate()
            .map(|(t, handles)| {
                let (dir, progress, stop) = (&dir, &progress, &stop);
                s.spawn(move || read_until(t, dir, progress, handles, stop))
            })
            .collect();
        let started = Instant::now();
        // `None`: a reading thread failed, or the writer ran past its deadline.
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > WRITER_DEADLINE || threads.iter().any(|t| t.is_finished()) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        stop.store(true, Ordering::Relaxed);
        let counts: Vec<LiveReads> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (status, counts)
    });
    let status =
        status.unwrap_or_else(|| panic!("the writer did not exit within {WRITER_DEADLINE:?}"));
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "the writer failed ({status}):\n{stderr}");
    let p = read_progress(&progress);
    assert!(
        p.done,
        "the writer exited without closing the log: {p:?}\n{stderr}"
    );
    for (t, c) in counts.iter().enumerate() {
        assert!(
            c.reads >= 5 && c.grew >= 3,
            "thread {t}: {c:?} while the writer ran: the test proved little"
        );
    }
    if truncates {
        assert!(
            p.truncations >= 1 && counts.iter().any(|c| c.saw_truncated > 0),
            "{} truncations, reads {counts:?}: the test proved little",
            p.truncations
        );
    }

    // After the writer: every handle, and a new one of each mode, reads the whole log, as
    // a read-write open does.
    let fresh = open_each_mode();
    let mut dumps = Vec::new();
    for (i, (mode, wal)) in readers.iter().flatten().chain(&fresh).enumerate() {
        let label = format!("final read through handle {i} [{mode:?}]");
        let log = live_read(&label, wal, &progress, true);
        assert_eq!(log.series, p.synced, "{label}: series delivered");
        let first = log.steps.first().copied().unwrap_or(p.synced);
        let first_ok = if truncates {
            first > 0 && first <= p.mint
        } else {
            first == 0
        };
        assert!(
            first_ok && log.steps.len() as u64 == p.synced - first,
            "{label}: samples of {} steps from step {first}, expected every step to {} from \
             one {}",
            log.steps.len(),
            p.synced,
            if truncates {
                format!("in 1..={}", p.mint)
            } else {
                "at 0".into()
            }
        );
        dumps.push((label, log.dump.unwrap()));
    }
    let wal =
        Wal::open(&dir, read_write(LIVE_SEGMENT_SIZE)).expect("a read-write open after the writer");
    let (rw, summary) = read_dump(&wal).expect("a read-write read after the writer");
    assert!(
        summary.damage.is_empty(),
        "a read-write read found damage: {:?}",
        summary.damage
    );
    for (label, dump) in &dumps {
        assert_same_text(label, "vs a read-write open", dump, &rw);
    }
    eprintln!(
        "{test}: {} steps, {} segments, {} truncations; reads beside the writer: {counts:?}",
        p.synced,
        segment_names(&dir).len(),
        p.truncations
    );
}

#[test]
fn beside_a_live_writer_in_another_process() {
    if !run_as_writer() {
        read_beside_live_writer("beside_a_live_writer_in_another_process", false);
    }
}

#[test]
fn beside_a_live_writer_that_truncates_in_another_process() {
    if !run_as_writer() {
        read_beside_live_writer(
            "beside_a_live_writer_that_truncates_in_another_process",
            true,
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4b. The races of a live writer, made deterministic: a read whose visitor pauses on its
// first entry while the writer goes on.

/// Where the entries of a segment's bytes start, then where the last one ends.
fn entry_bounds(segment: &[u8]) -> Vec<usize> {
    let mut at = SEGMENT_HEADER.len();
    let mut bounds = Vec::new();
    while at + 6 <= segment.len() && segment[at] != 0 {
        bounds.push(at);
        let len = u32::from_be_bytes(segment[at + 2..at + 6].try_into().unwrap()) as usize;
        at += 6 + len + 4;
    }
    bounds.push(at);
    bounds
}

/// Reads `wal` (the log of `log_step`s) with a visitor that runs `pause` before its first
/// entry, and checks what it delivers with `LiveLog`: an error names what is wrong.
fn read_pausing_once(wal: &Wal, pause: impl FnOnce()) -> Result<LiveLog, String> {
    let mut log = LiveLog::default();
    let mut pause = Some(pause);
    let result = wal.read(|e| {
        if let Some(pause) = pause.take() {
            pause();
        }
        log.visit(e)
    });
    match result {
        Ok(summary) if summary.damage.is_empty() => Ok(log),
        Ok(summary) => Err(format!("damage reported: {:?}", summary.damage)),
        Err(Error::Aborted) => Err(log.wrong.take().unwrap_or_default()),
        Err(e) => Err(format!("the read failed: {e}")),
    }
}

/// A reader in another process must never find a segment while the one before still
/// lacks some of its entries: it would read past the missing end (zeros, as in a
/// preallocated tail) into the next segment and deliver a log with a gap. So a writer
/// that cuts a segment writes the finished one's last entries before it creates the
/// next (it used to leave them to its background thread, which wrote them after). The
/// writes are slowed down, and a thread watches for each new segment to appear and
/// counts the entries in the one before at that moment.
#[test]
fn a_writer_writes_a_segment_to_its_end_before_the_next_appears() {
    const CUTS: usize = 3;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let faults = Arc::new(Faults::default());
    faults.slow_down(FaultOp::Write, Duration::from_millis(20));
    let options = Options {
        faults: Some(faults.clone()),
        ..read_write(64 * 1024)
    };
    let entries_in = |dir: &Path, seq: usize| {
        let seg = fs::read(dir.join(segment_name(seq))).unwrap();
        entry_bounds(&seg).len() - 1
    };
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut known = 1;
            // Until every cut was seen, or (a hang guard) the writer is done and a last
            // look found nothing new.
            while seen.len() < CUTS {
                let stopping = stop.load(Ordering::Relaxed);
                let n = segment_names(&dir).len();
                if n > known {
                    let written: usize = (1..n).map(|seq| entries_in(&dir, seq)).sum();
                    seen.push(written);
                    known = n;
                } else if stopping {
                    break;
                }
            }
            seen
        })
    };
    let wal = Wal::open(&dir, options).unwrap();
    let mut logged_before_cuts = Vec::new();
    let mut logged = 0;
    let mut step = 0;
    while logged_before_cuts.len() < CUTS {
        let segments = segment_names(&dir).len();
        wal.log_samples(&step_samples(step)).unwrap();
        if segments > 0 && segment_names(&dir).len() > segments {
            logged_before_cuts.push(logged);
        }
        logged += 1;
        step += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert_eq!(
        seen, logged_before_cuts,
        "entries in the older segments when each new one appeared, and entries logged \
         before the call that cut"
    );
    faults.clear();
    wal.close().unwrap();
}

#[test]
fn a_truncation_during_a_read_leaves_every_series_in_it() {
    const STEPS: u64 = 400;
    const MINT: u64 = 300;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let writer = Wal::open(&dir, read_write(4096)).unwrap();
    for i in 0..STEPS {
        log_step(&writer, i).unwrap();
    }
    writer.sync().unwrap();
    let before = segment_names(&dir);
    assert!(before.len() >= 8, "{} segments: too few", before.len());
    let reader = Wal::open(&dir, read_only(Recovery::Truncate)).unwrap();
    let log = read_pausing_once(&reader, || {
        // The writer truncates the segments of steps before MINT, keeping every series.
        writer.truncate(MINT as i64, |_| true).unwrap();
    })
    .unwrap_or_else(|e| {
        panic!(
            "a read while the writer truncated segments {} to {} of {} (keeping every \
             series): {e}",
            before[0],
            before[before.len() - segment_names(&dir).len()],
            before.len()
        )
    });
    assert!(
        segment_names(&dir).len() < before.len(),
        "the truncation took no segment out"
    );
    assert_eq!(log.series, STEPS, "series delivered");
    let missing: Vec<u64> = (0..STEPS).filter(|s| !log.steps.contains(s)).collect();
    assert!(
        missing.iter().all(|&s| s < MINT),
        "samples of steps {missing:?} are missing; truncation took out only steps below {MINT}"
    );
    let (own, _) = read_dump(&writer).unwrap();
    let (after, _) = read_dump(&reader).unwrap();
    assert_same_text("after the truncation", "a later read", &after, &own);
}

// ---------------------------------------------------------------------------------------
// 5. A segment being created.

/// What a writer's new segment holds while it is being created: nothing yet, part of the
/// header, or the zeros of its preallocated space before the header is written.
fn segments_being_created(segment_size: u64) -> [(&'static str, Vec<u8>); 4] {
    [
        ("of 0 bytes", Vec::new()),
        ("with 5 bytes of its header", SEGMENT_HEADER[..5].to_vec()),
        ("of 8 zero bytes", vec![0; 8]),
        ("of preallocated zeros", vec![0; segment_size as usize]),
    ]
}

#[test]
fn a_segment_being_created_is_left_out_only_when_it_is_the_newest() {
    const SEGMENT_SIZE: u64 = 4096;
    const STEPS: u64 = 120;
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    write_steps(&base, SEGMENT_SIZE, 0..STEPS);
    let names = segment_names(&base);
    assert!(
        names.len() >= 3,
        "the log has {} segments, the test needs 3",
        names.len()
    );
    let all = steps_dump(0..STEPS);
    let name = |i: usize| names[i].as_str();
    let but_second: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n != name(1))
        .collect();
    let first_only = dump_of_segments(&base, &[name(0)]);
    let but_second = dump_of_segments(&base, &but_second);
    let next = segment_name(names.len() + 1);

    /// Where the segment being created is.
    #[derive(Clone, Copy)]
    enum Place {
        /// After the log's segments.
        Newest,
        /// In place of the log's second segment.
        Older,
        /// There, and the first segment is damaged too.
        OlderAfterDamage,
    }
    let mut cases = Vec::new();
    for (what, bytes) in segments_being_created(SEGMENT_SIZE) {
        for place in [Place::Newest, Place::Older, Place::OlderAfterDamage] {
            let label = match place {
                Place::Newest => format!("a newest segment {next} {what}"),
                Place::Older => format!("an older segment {} {what}", name(1)),
                Place::OlderAfterDamage => format!(
                    "an older segment {} {what}, after damage in {}",
                    name(1),
                    name(0)
                ),
            };
            cases.push((label, (bytes.clone(), place)));
        }
    }
    let ran = check_all(cases, |label, (bytes, place)| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        copy_dir(&base, &dir);
        if let Place::Newest = place {
            fs::write(dir.join(&next), &bytes).unwrap();
            let expect = Expect {
                truncate: &all,
                salvage: Some(&all),
                damage: Damage::None,
            };
            return check_every_mode(label, &dir, &expect);
        }
        fs::write(dir.join(name(1)), &bytes).unwrap();
        if let Place::Older = place {
            let expect = Expect {
                truncate: &first_only,
                salvage: Some(&but_second),
                damage: Damage::At(name(1), 0),
            };
            return check_every_mode(label, &dir, &expect);
        }
        // A byte flipped in the middle of the first segment: two damaged regions.
        let first = dir.join(name(0));
        let mut seg = fs::read(&first).unwrap();
        let mid = seg.len() / 2;
        seg[mid] ^= 0x40;
        fs::write(&first, &seg).unwrap();
        // What the reference's repair keeps: a Truncate read of a copy.
        let (cut, _) = repairing_read(label, &dir, Recovery::Truncate)
            .unwrap_or_else(|e| panic!("{label}: a repairing read reported {e:?}"));
        assert!(
            first_only.starts_with(&cut) && cut.len() < first_only.len(),
            "{label}: a repairing read does not stop inside {}",
            name(0)
        );
        let expect = Expect {
            truncate: &cut,
            salvage: None,
            damage: Damage::Somewhere,
        };
        check_every_mode(label, &dir, &expect);
    });
    assert_eq!(ran.len(), 12, "cases run: {ran:?}");
}

// ---------------------------------------------------------------------------------------
// 6. An entry still being written.

#[test]
fn an_entry_being_written_ends_the_newest_segment_and_is_damage_in_an_older_one() {
    const STEPS: u64 = 40;
    const SEGMENT_SIZE: u64 = 64 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source");
    // A segment of STEPS steps, then one more samples entry: the entry being written.
    let wal = Wal::open(&source, read_write(SEGMENT_SIZE)).unwrap();
    for i in 0..STEPS {
        log_step(&wal, i).unwrap();
    }
    wal.sync().unwrap();
    let valid_end = SEGMENT_HEADER.len() as u64 + wal.stats().unwrap().bytes_written;
    let extra = step_samples(STEPS + 3);
    wal.log_samples(&extra).unwrap();
    wal.close().unwrap();
    let seg1 = fs::read(source.join("000001")).unwrap();
    assert_eq!(
        segment_names(&source),
        ["000001"],
        "the steps fill one segment"
    );
    let (valid, entry) = seg1.split_at(valid_end as usize);
    assert!(
        entry.len() > 30,
        "the entry being written is {} bytes",
        entry.len()
    );
    // A newer segment, written by a later run.
    write_steps(&source, SEGMENT_SIZE, STEPS..STEPS + 5);
    assert_eq!(segment_names(&source), ["000001", "000002"]);
    let seg2 = fs::read(source.join("000002")).unwrap();

    let kept = steps_dump(0..STEPS);
    let mut with_entry = kept.clone();
    tswal::dump::write_entry(&mut with_entry, Entry::Samples(&extra));
    let later = steps_dump(STEPS..STEPS + 5);

    let len = entry.len();
    let mut cut_after = vec![1, 2, 3, 5, 6, 7, 16, len / 2, len - 5, len - 4, len - 1];
    cut_after.sort();
    cut_after.dedup();
    let mut cases = Vec::new();
    for &k in &cut_after {
        for preallocated in [true, false] {
            for older in [false, true] {
                let label = format!(
                    "the first {k} of {len} bytes of an entry{} in {} segment",
                    if preallocated {
                        ", then zeros up to 64 KiB,"
                    } else {
                        " at the end of the file"
                    },
                    if older { "an older" } else { "the newest" }
                );
                cases.push((label, (k, preallocated, older)));
            }
        }
    }
    let ran = check_all(cases, |label, (k, preallocated, older)| {
        let mut bytes = [valid, &entry[..k]].concat();
        if preallocated {
            bytes.resize(SEGMENT_SIZE as usize, 0);
        }
        // Zeros may complete the entry if it ends in zeros.
        let complete = preallocated && entry[k..].iter().all(|&b| b == 0);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("000001"), &bytes).unwrap();
        let before_later = if complete { &with_entry } else { &kept };
        if !older {
            let expect = Expect {
                truncate: before_later,
                salvage: Some(before_later),
                damage: Damage::None,
            };
            return check_every_mode(label, &dir, &expect);
        }
        fs::write(dir.join("000002"), &seg2).unwrap();
        let salvage = format!("{before_later}{later}");
        let expect = Expect {
            truncate: if complete { &salvage } else { &kept },
            salvage: Some(&salvage),
            damage: if complete {
                Damage::None
            } else {
                Damage::At("000001", valid_end)
            },
        };
        check_every_mode(label, &dir, &expect);
    });
    assert_eq!(ran.len(), cut_after.len() * 4);
}
