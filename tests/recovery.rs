//! Recovery modes against the reference's damaged fixtures and hand-made damage.

mod common;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use common::*;
use tswal::{Error, Options, Recovery, Sample, Wal};

fn opts(recovery: Recovery) -> Options {
    Options {
        recovery,
        ..Options::default()
    }
}

/// The entries of a dump, one block of text each.
fn blocks(dump: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in dump.lines() {
        if line.starts_with("  ") {
            if let Some(b) = out.last_mut() {
                b.push_str(line);
                b.push('\n');
            }
        } else {
            out.push(format!("{line}\n"));
        }
    }
    out
}

/// What `assert_ran` says a loop over `corrupt_cases` was to run.
const CORRUPT: &str = "corrupt-* fixture cases (CORRUPT_CASES)";

fn corrupt_cases() -> Vec<String> {
    cases()
        .into_iter()
        .filter(|c| c.starts_with("corrupt-"))
        .collect()
}

fn full_log() -> Vec<String> {
    blocks(&fs::read_to_string(fixtures_dir().join("multiseg/expected.dump")).unwrap())
}

#[test]
fn salvage_loses_only_the_flipped_entry() {
    let tmp = tempfile::tempdir().unwrap();
    copy_case("corrupt-flip_middle", tmp.path());
    let wal = Wal::open(tmp.path(), opts(Recovery::Salvage)).unwrap();
    let got = blocks(&dump(&wal).unwrap());
    let want = full_log();
    assert_eq!(got.len(), want.len() - 1, "exactly one entry lost");
    // What is left is the full log with one entry taken out.
    let lost = got
        .iter()
        .zip(&want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len());
    let mut expected = want.clone();
    expected.remove(lost);
    assert_eq!(got, expected);
    assert_eq!(segment_names(tmp.path()), ["000001", "000002", "000003"]);
    let st = wal.stats().unwrap();
    assert_eq!((st.corruptions, st.dropped_entries), (1, 1));
    assert!(st.dropped_bytes > 0);
    // The damaged segment was rewritten: a second read finds nothing wrong.
    let again = wal.read(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(again.repair, None);
    let batch = vec![Sample {
        series_ref: 1,
        t: 1,
        v: 2.0,
    }];
    wal.log_samples(&batch).unwrap();
    wal.close().unwrap();

    let wal = Wal::open(tmp.path(), opts(Recovery::Salvage)).unwrap();
    let mut expected_text: String = expected.concat();
    expected_text.push_str(&dump_ops(&[Op::Samples(batch)]));
    assert_eq!(dump(&wal).unwrap(), expected_text);
    wal.close().unwrap();
}

#[test]
fn salvage_keeps_at_least_what_truncate_keeps_on_every_corrupt_case() {
    let full = full_log();
    let mut ran = Vec::new();
    for case in corrupt_cases() {
        ran.push(case.clone());
        let tmp = tempfile::tempdir().unwrap();
        copy_case(&case, tmp.path());
        let wal = Wal::open(tmp.path(), opts(Recovery::Salvage)).unwrap();
        let got = blocks(&dump(&wal).unwrap());
        let truncated =
            blocks(&fs::read_to_string(fixtures_dir().join(&case).join("expected.dump")).unwrap());
        assert!(got.len() >= truncated.len(), "{case}: salvage kept less");
        assert_eq!(
            got[..truncated.len()],
            truncated[..],
            "{case}: not a superset"
        );
        // Everything salvaged is a real entry of the log, in log order.
        let mut it = full.iter();
        for b in &got {
            assert!(it.any(|f| f == b), "{case}: an entry that was never logged");
        }
        // A second read is clean and the WAL takes writes.
        let again = wal.read(|_| ControlFlow::Continue(())).unwrap();
        assert_eq!(again.repair, None, "{case}");
        wal.log_samples(&[Sample {
            series_ref: 7,
            t: 7,
            v: 7.0,
        }])
        .unwrap();
        wal.close().unwrap();
    }
    assert_ran(&ran, CORRUPT_CASES, CORRUPT);
}

/// Every file of `dir` with its content, by name.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn fail_reports_damage_and_changes_nothing() {
    let mut ran = Vec::new();
    for case in corrupt_cases() {
        ran.push(case.clone());
        let tmp = tempfile::tempdir().unwrap();
        copy_case(&case, tmp.path());
        let before = files_of(tmp.path());
        let damage_free = ["corrupt-stray_files"];
        let result = Wal::open(tmp.path(), opts(Recovery::Fail)).and_then(|wal| {
            let r = wal.read(|_| ControlFlow::Continue(()));
            assert!(wal.needs_read() == r.is_err(), "{case}");
            r.map(|_| ())
        });
        if damage_free.contains(&case.as_str()) {
            result.unwrap_or_else(|e| panic!("{case}: {e}"));
            continue;
        }
        match result {
            Err(e @ Error::Corruption { .. }) => {
                let m = e.to_string();
                assert!(m.contains("segment") && m.contains("offset"), "{case}: {m}");
            }
            other => panic!("{case}: expected corruption, got {other:?}"),
        }
        assert!(
            before == files_of(tmp.path()),
            "{case}: the directory changed"
        );
    }
    assert_ran(&ran, CORRUPT_CASES, CORRUPT);
}

/// A segment of `n` samples entries (one sample each), returning its bytes and the
/// offset where each entry starts.
fn segment_bytes(n: usize) -> (Vec<u8>, Vec<usize>) {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    for i in 0..n {
        wal.log_samples(&[Sample {
            series_ref: i as u64,
            t: i as i64,
            v: 0.5,
        }])
        .unwrap();
    }
    wal.close().unwrap();
    let bytes = fs::read(tmp.path().join("000001")).unwrap();
    let entry = (bytes.len() - 8) / n;
    (bytes, (0..n).map(|i| 8 + i * entry).collect())
}

/// Zeros followed by entries in the middle of a segment (pages lost in a power
/// failure, or a writer's hole): `Truncate` reads the segment up to the zeros and goes
/// on with the next, as the reference and format.md do, reporting the hole and changing
/// nothing, not even when a later write cuts a new segment (the bytes after the hole are
/// not trimmed away); `Salvage` keeps the entries after the zeros too; `Fail` reports it.
/// It used to be damage that `Truncate` repaired by deleting every later segment.
#[test]
fn a_zero_run_followed_by_data_ends_the_segment_for_truncate_and_is_skipped_by_salvage() {
    let (mut bytes, starts) = segment_bytes(10);
    // Entries 3 and 4 read as zeros; 5.. survive. A second segment follows.
    let (from, to) = (starts[3], starts[5]);
    bytes[from..to].fill(0);
    let (next, _) = segment_bytes(2);
    let read_refs = |wal: &Wal| {
        let mut refs = Vec::new();
        let summary = wal
            .read(|e| {
                if let tswal::Entry::Samples(s) = e {
                    refs.push(s[0].series_ref);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        (refs, summary)
    };
    for (mode, want) in [
        (Recovery::Truncate, vec![0, 1, 2, 0, 1]),
        (Recovery::Salvage, vec![0, 1, 2, 5, 6, 7, 8, 9, 0, 1]),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("000001"), &bytes).unwrap();
        fs::write(tmp.path().join("000002"), &next).unwrap();
        let wal = Wal::open(tmp.path(), opts(mode)).unwrap();
        let (refs, summary) = read_refs(&wal);
        assert_eq!(refs, want, "{mode:?}");
        assert_eq!(summary.damage.len(), 1, "{mode:?}: {summary:?}");
        let d = &summary.damage[0];
        assert_eq!(
            (d.offset, d.segment.file_name().unwrap()),
            (from as u64, "000001".as_ref())
        );
        assert!(d.reason.contains("zero bytes"), "{}", d.reason);
        assert_eq!(wal.stats().unwrap().corruptions, 1, "{mode:?}");
        match mode {
            Recovery::Truncate => assert_eq!(summary.repair, None),
            _ => assert!(summary.repair.is_some()),
        }
        // A write cuts a new segment; the first one keeps its bytes after the zeros.
        wal.log_samples(&[Sample {
            series_ref: 99,
            t: 1,
            v: 1.0,
        }])
        .unwrap();
        wal.close().unwrap();
        if mode == Recovery::Truncate {
            assert_eq!(fs::read(tmp.path().join("000001")).unwrap(), bytes);
        }
        let wal = Wal::open(tmp.path(), opts(mode)).unwrap();
        let (refs, _) = read_refs(&wal);
        assert_eq!(refs[..want.len()], want[..], "{mode:?} after reopen");
        assert_eq!(refs[want.len()..], [99]);
        wal.close().unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("000001"), &bytes).unwrap();
    let wal = Wal::open(tmp.path(), opts(Recovery::Fail)).unwrap();
    match wal.read(|_| ControlFlow::Continue(())) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, from as u64),
        other => panic!("{other:?}"),
    }
    assert_eq!(wal.stats().unwrap().corruptions, 1);
    wal.close().unwrap();
    assert_eq!(fs::read(tmp.path().join("000001")).unwrap(), bytes);
}

#[test]
fn zeros_up_to_the_end_are_preallocated_space_not_damage() {
    let (mut bytes, _) = segment_bytes(5);
    let len = bytes.len();
    bytes.resize(len + 100_000, 0);
    for mode in [Recovery::Truncate, Recovery::Salvage, Recovery::Fail] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("000001"), &bytes).unwrap();
        let wal = Wal::open(tmp.path(), opts(mode)).unwrap();
        let s = wal.read(|_| ControlFlow::Continue(())).unwrap();
        assert_eq!((s.entries, s.repair), (5, None), "{mode:?}");
        wal.close().unwrap();
    }
}

#[test]
fn salvage_rewrites_a_segment_with_a_bad_header_and_keeps_later_ones() {
    let src = fixtures_dir().join("corrupt-bad_header");
    let tmp = tempfile::tempdir().unwrap();
    copy_case("corrupt-bad_header", tmp.path());
    let wal = Wal::open(tmp.path(), opts(Recovery::Salvage)).unwrap();
    let got = blocks(&dump(&wal).unwrap());
    // Only the header of 000002 was damaged: nothing is lost.
    assert_eq!(got, full_log());
    assert_eq!(segment_names(tmp.path()), ["000001", "000002", "000003"]);
    let st = wal.stats().unwrap();
    assert_eq!(st.corruptions, 1);
    assert_eq!(st.dropped_bytes, 0, "a header is rewritten, not dropped");
    wal.close().unwrap();
    assert!(src.exists());
}

#[test]
fn truncate_counts_what_it_drops() {
    let tmp = tempfile::tempdir().unwrap();
    copy_case("corrupt-flip_middle", tmp.path());
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let got = blocks(&dump(&wal).unwrap());
    let st = wal.stats().unwrap();
    // Every entry of the full log that the repaired log lacks was counted as dropped.
    assert_eq!(st.dropped_entries, (full_log().len() - got.len()) as u64);
    assert_eq!(st.corruptions, 1);
    wal.close().unwrap();
}

#[test]
fn fail_mode_refuses_bad_headers_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    copy_case("corrupt-empty_segment", tmp.path());
    match Wal::open(tmp.path(), opts(Recovery::Fail)) {
        Err(e @ Error::Corruption { .. }) => assert!(e.to_string().contains("000004"), "{e}"),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(
        segment_names(tmp.path()),
        ["000001", "000002", "000003", "000004"]
    );
}

/// Whether `seg` ends exactly where its last entry does (no preallocated tail).
fn ends_at_last_entry(seg: &[u8]) -> bool {
    let mut pos = 8;
    while pos < seg.len() {
        if seg[pos] == 0 || pos + 6 > seg.len() {
            return false;
        }
        let len = u32::from_be_bytes(seg[pos + 2..pos + 6].try_into().unwrap()) as usize;
        pos += 6 + len + 4;
    }
    pos == seg.len()
}

/// A later read that finds damage (in an older segment, or in the one being written)
/// while the handle is writing a segment of its own must finish that segment first, as
/// a cut does: trimmed to its last entry and fsynced. It used to be dropped as it was,
/// so a later `sync` or `close` fsynced only the next segment and the entries logged
/// before the read were never made durable. The trim is what a test can see of the
/// finishing (one job does both); damage in an older segment is the case that failed,
/// damage in the active one guards the order (finish, then salvage's rewrite).
#[test]
fn a_repair_during_a_session_finishes_the_segment_being_written() {
    for damage_in_active in [false, true] {
        repair_during_a_session(damage_in_active);
    }
}

fn repair_during_a_session(damage_in_active: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let o = || Options {
        segment_size: 4096,
        recovery: Recovery::Salvage,
        ..Options::default()
    };
    let batch = |i: i64| -> Vec<Sample> {
        (0..40)
            .map(|k| Sample {
                series_ref: 1 + k,
                t: 1_000 * i,
                v: k as f64,
            })
            .collect()
    };
    let wal = Wal::open(tmp.path(), o()).unwrap();
    for i in 0..12 {
        wal.log_samples(&batch(i)).unwrap();
    }
    wal.close().unwrap();
    let old = segment_names(tmp.path());
    assert!(old.len() >= 2, "{old:?}");

    let wal = Wal::open(tmp.path(), o()).unwrap();
    dump(&wal).unwrap();
    for i in 12..15 {
        wal.log_samples(&batch(i)).unwrap();
    }
    wal.sync().unwrap();
    let active = tmp.path().join(format!("{:06}", old.len() + 1));
    assert!(active.exists());
    // Someone damages the first entry of a segment; the next read salvages around it.
    let damaged = match damage_in_active {
        false => tmp.path().join(&old[0]),
        true => active.clone(),
    };
    let mut bytes = fs::read(&damaged).unwrap();
    bytes[8 + 6 + 40] ^= 0xff;
    fs::write(&damaged, &bytes).unwrap();
    // Two more entries that no sync covers: the read writes them, and must finish them.
    for i in 15..17 {
        wal.log_samples(&batch(i)).unwrap();
    }
    let summary = wal.read(|_| ControlFlow::Continue(())).unwrap();
    assert!(summary.repair.is_some(), "{summary:?}");
    wal.log_samples(&batch(17)).unwrap();
    wal.sync().unwrap();
    wal.close().unwrap();

    let seg = fs::read(&active).unwrap();
    assert!(
        ends_at_last_entry(&seg),
        "the segment written when the damage was found was left unfinished: {} bytes \
         (damage in it: {damage_in_active})",
        seg.len()
    );
    let wal = Wal::open(tmp.path(), o()).unwrap();
    let d = dump(&wal).unwrap();
    let entries = d.lines().filter(|l| l.starts_with("samples")).count();
    assert_eq!(entries, 18 - 1, "all but the damaged entry\n{d}");
}

/// A segment cut below its 8-byte header between open and read (by something outside
/// the library) is damage reported at offset 8, not an arithmetic overflow.
#[test]
fn a_segment_shorter_than_its_header_at_read_time_is_damage() {
    for recovery in [Recovery::Truncate, Recovery::Salvage, Recovery::Fail] {
        let tmp = tempfile::tempdir().unwrap();
        let wal = Wal::open(tmp.path(), opts(recovery)).unwrap();
        let batch = [Sample {
            series_ref: 1,
            t: 1,
            v: 1.0,
        }];
        wal.log_samples(&batch).unwrap();
        wal.close().unwrap();

        let wal = Wal::open(tmp.path(), opts(recovery)).unwrap();
        let seg = tmp.path().join("000001");
        fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(4)
            .unwrap();
        match wal.read(|_| ControlFlow::Continue(())) {
            Ok(summary) => {
                let repair = summary.repair.expect("the damage is repaired and reported");
                assert_eq!((repair.segment, repair.offset), (seg, 8), "{recovery:?}");
                // What is left is a valid log, even to the strictest mode.
                wal.close().unwrap();
                let wal = Wal::open(tmp.path(), opts(Recovery::Fail)).unwrap();
                wal.read(|_| ControlFlow::Continue(())).unwrap();
            }
            Err(Error::Corruption {
                segment, offset, ..
            }) => {
                assert_eq!(recovery, Recovery::Fail);
                assert_eq!((segment, offset), (seg, 8));
            }
            Err(e) => panic!("{recovery:?}: {e}"),
        }
    }
}

/// A segment crafted so that every other offset claims a 33.6 MB entry (`02 01`
/// repeated: type 2, flag 1, length 0x02010201). Counting what a repair drops, and
/// salvage's search for the next entry, checked a CRC over the claimed length at each
/// such offset: quadratic, over 300 s for 34 MB (about 50 hours for a 256 MiB segment),
/// and `wal_open` hung on it with a bad header. The searches are now bounded (4 times
/// the segment's size), so every open and read is linear in the bytes on disk.
/// The thread and its generous limit only detect a hang; nothing is timed.
#[test]
fn a_segment_crafted_against_the_search_for_entries_is_read_in_linear_time() {
    let (first, _) = segment_bytes(3);
    let mut crafted = first[..8].to_vec();
    crafted.extend(std::iter::repeat_n([2u8, 1], 17 << 20).flatten());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        for bad_header in [false, true] {
            let mut seg = crafted.clone();
            if bad_header {
                seg[0] ^= 0xff;
            }
            for recovery in [Recovery::Truncate, Recovery::Salvage, Recovery::Fail] {
                for read_only in [true, false] {
                    let tmp = tempfile::tempdir().unwrap();
                    fs::write(tmp.path().join("000001"), &first).unwrap();
                    fs::write(tmp.path().join("000002"), &seg).unwrap();
                    let o = Options {
                        recovery,
                        read_only,
                        ..Options::default()
                    };
                    let what =
                        format!("{recovery:?}, bad header {bad_header}, read-only {read_only}");
                    let result = Wal::open(tmp.path(), o).and_then(|wal| {
                        let s = wal.read(|_| ControlFlow::Continue(()));
                        wal.close().unwrap();
                        s
                    });
                    match result {
                        // The first segment's entries, nothing from the crafted one.
                        Ok(s) => assert_eq!(s.entries, 3, "{what}"),
                        Err(Error::Corruption { .. }) if recovery == Recovery::Fail => {}
                        Err(e) => panic!("{what}: {e}"),
                    }
                }
            }
        }
        done_tx.send(()).unwrap();
    });
    let finished = done_rx.recv_timeout(std::time::Duration::from_secs(600));
    if finished.is_err() && worker.is_finished() {
        worker.join().unwrap();
    }
    assert!(
        finished.is_ok(),
        "reading the crafted segment did not finish (quadratic?)"
    );
}
