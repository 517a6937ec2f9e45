//! Injected I/O failures: a full disk, failing fsyncs and writes, and a truncation
//! interrupted at every step.

mod common;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use common::*;
use tswal::{Error, FaultOp, Faults, Options, Sample, Wal};

fn open_with(dir: &Path, faults: &Arc<Faults>) -> Wal {
    let o = Options {
        segment_size: 4096,
        faults: Some(faults.clone()),
        ..Options::default()
    };
    let wal = Wal::open(dir, o).unwrap();
    wal.read(|_| ControlFlow::Continue(())).unwrap();
    wal
}

fn batch(i: i64) -> Vec<Sample> {
    (0..20)
        .map(|k| Sample {
            series_ref: k,
            t: i,
            v: k as f64,
        })
        .collect()
}

fn read_back(dir: &Path) -> String {
    let wal = Wal::open(
        dir,
        Options {
            segment_size: 4096,
            ..Options::default()
        },
    )
    .unwrap();
    let d = dump(&wal).unwrap();
    wal.close().unwrap();
    d
}

#[test]
fn a_full_disk_fails_the_call_and_writing_resumes_in_a_new_segment_when_space_is_back() {
    for op in [FaultOp::Preallocate, FaultOp::Create] {
        let tmp = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::default());
        let wal = open_with(tmp.path(), &faults);
        let mut logged = Vec::new();
        // Fill a few segments, sync.
        let mut i = 0;
        while segment_names(tmp.path()).len() < 3 {
            wal.log_samples(&batch(i)).unwrap();
            logged.push(Op::Samples(batch(i)));
            i += 1;
        }
        wal.sync().unwrap();
        let synced = dump_ops(&logged);

        // The disk fills up: the call that needs a new segment fails, clearly.
        faults.fail_after(op, 0, libc::ENOSPC);
        let mut failed = None;
        for _ in 0..1000 {
            match wal.log_samples(&batch(i)) {
                Ok(()) => logged.push(Op::Samples(batch(i))),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            i += 1;
        }
        let e = failed.expect("a segment cut failed");
        assert!(matches!(e, Error::Io { .. }), "{op:?}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("No space left on device") && msg.contains(&*tmp.path().to_string_lossy()),
            "{msg}"
        );
        // Still refused while the disk is full; nothing half-made is left behind.
        assert!(wal.log_samples(&batch(i)).is_err());
        let segments = segment_names(tmp.path());

        // Space is back: writing resumes without a restart, in a new segment.
        faults.clear();
        i += 1;
        wal.log_samples(&batch(i)).unwrap();
        logged.push(Op::Samples(batch(i)));
        assert_eq!(segment_names(tmp.path()).len(), segments.len() + 1);
        wal.close().unwrap();
        let all = read_back(tmp.path());
        assert!(all.starts_with(&synced), "{op:?}: synced data was lost");
        assert_eq!(all, dump_ops(&logged), "{op:?}");
    }
}

#[test]
fn a_failed_fdatasync_fails_the_handle_and_a_reopen_recovers_what_is_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let wal = open_with(tmp.path(), &faults);
    let mut logged = Vec::new();
    for i in 0..5 {
        wal.log_samples(&batch(i)).unwrap();
        logged.push(Op::Samples(batch(i)));
    }
    faults.fail_after(FaultOp::Fsync, 0, libc::EIO);
    let e = wal.sync().unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("Input/output error"), "{e}");
    faults.clear();
    // An unsynced page may be gone: the handle refuses to go on as if nothing happened.
    for r in [
        wal.log_samples(&batch(9)),
        wal.sync(),
        wal.truncate(0, |_| true),
    ] {
        match r {
            Err(Error::State(m)) => assert!(m.contains("reopen"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(wal.close().is_err(), "close reports the failure too");
    assert_eq!(read_back(tmp.path()), dump_ops(&logged));
}

/// A background flush whose fdatasync fails has no caller to tell; the next `sync`
/// reports that error itself (`WAL_ERR_IO` with its errno), not only "the handle has
/// failed".
#[test]
fn a_failed_background_fdatasync_is_reported_by_the_next_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    // Segments large enough that no cut (whose own fsyncs would fail first) comes
    // before a flush, however late the flush runs on a loaded machine.
    let o = Options {
        segment_size: 64 << 20,
        flush_interval: Some(std::time::Duration::from_millis(5)),
        faults: Some(faults.clone()),
        ..Options::default()
    };
    let wal = Wal::open(tmp.path(), o).unwrap();
    wal.log_samples(&batch(0)).unwrap();
    faults.fail_after(FaultOp::Fsync, 0, libc::EIO);
    // Wait for a flush to fail the handle.
    let start = std::time::Instant::now();
    while wal.log_samples(&batch(1)).is_ok() {
        assert!(start.elapsed().as_secs() < 20, "no background flush failed");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    faults.clear();
    let e = wal.sync().unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("Input/output error"),
        "{e:?}"
    );
    assert!(matches!(wal.sync(), Err(Error::State(_))));
    let _ = wal.close();
}

#[test]
fn a_failed_background_write_fails_the_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let wal = open_with(tmp.path(), &faults);
    wal.log_samples(&batch(0)).unwrap();
    wal.sync().unwrap();
    faults.fail_after(FaultOp::Write, 0, libc::EIO);
    wal.log_samples(&batch(1)).unwrap(); // only buffered
    assert!(wal.sync().is_err());
    faults.clear();
    assert!(matches!(wal.log_samples(&batch(2)), Err(Error::State(_))));
    let _ = wal.close();
    assert_eq!(read_back(tmp.path()), dump_ops(&[Op::Samples(batch(0))]));
}

/// A truncation failing at every step in turn leaves, after a reopen (which is what a
/// crash at that step amounts to), either the old segments or the new ones.
#[test]
fn a_truncation_interrupted_at_any_step_leaves_the_old_or_the_new_segments() {
    // The log, and what it reads as before and after the truncation.
    let build = |dir: &Path, faults: &Arc<Faults>| {
        let wal = open_with(dir, faults);
        log_op(
            &wal,
            &Op::Series(
                (1..=6)
                    .map(|r| (r, vec![(b"a".to_vec(), b"b".to_vec())]))
                    .collect(),
            ),
        )
        .unwrap();
        for i in 0..60 {
            wal.log_samples(&batch(i)).unwrap();
        }
        wal.sync().unwrap();
        wal
    };
    let (mint, keep) = (30, |r: u64| r % 2 == 0);
    let reference = tempfile::tempdir().unwrap();
    let clean = Arc::new(Faults::default());
    let wal = build(reference.path(), &clean);
    let old = dump(&wal).unwrap();
    wal.truncate(mint, keep).unwrap();
    let new = dump(&wal).unwrap();
    wal.close().unwrap();
    assert_ne!(old, new);

    let mut outcomes = (0, 0);
    for op in [
        FaultOp::Create,
        FaultOp::Write,
        FaultOp::Fsync,
        FaultOp::Rename,
        FaultOp::Remove,
    ] {
        for skip in 0..8 {
            let tmp = tempfile::tempdir().unwrap();
            let faults = Arc::new(Faults::default());
            let wal = build(tmp.path(), &faults);
            faults.fail_after(op, skip, libc::EIO);
            let result = wal.truncate(mint, keep);
            faults.clear();
            drop(wal);
            let after = read_back(tmp.path());
            if after == old {
                outcomes.0 += 1;
            } else {
                assert_eq!(after, new, "{op:?} after {skip}: a mix ({result:?})");
                outcomes.1 += 1;
            }
            // No temporary or commit file is left once reopened.
            let names: Vec<String> = std::fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                names.iter().all(|n| n.bytes().all(|b| b.is_ascii_digit())),
                "{names:?}"
            );
        }
    }
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "both outcomes occur: {outcomes:?}"
    );
}

#[test]
fn a_slow_disk_makes_writers_wait_instead_of_queueing_without_bound() {
    slow_disk_backlog(1);
}

#[test]
fn a_slow_disk_makes_concurrent_writers_wait_too() {
    // Concurrent callers encode on their own and append under the lock, another path
    // to the queue.
    slow_disk_backlog(4);
}

fn slow_disk_backlog(threads: i64) {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let wal = Wal::open(
        dir.path(),
        Options {
            segment_size: 64 << 20,
            faults: Some(faults.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    wal.read(|_| ControlFlow::Continue(())).unwrap();
    faults.slow_down(FaultOp::Write, std::time::Duration::from_millis(3));
    // ~33 MB of entries, encoded far faster than 1 MiB per 3 ms.
    let rounds = 3000 / threads;
    std::thread::scope(|s| {
        for th in 0..threads {
            let wal = &wal;
            s.spawn(move || {
                for round in 0..rounds {
                    let b: Vec<Sample> = (0..1000)
                        .map(|k| Sample {
                            series_ref: k,
                            t: th * rounds + round,
                            v: k as f64,
                        })
                        .collect();
                    wal.log_samples(&b).unwrap();
                }
            });
        }
    });
    let samples = (threads * rounds * 1000) as u64;
    let stats = wal.stats().unwrap();
    assert!(stats.bytes_written > 30 << 20, "{stats:?}");
    assert!(stats.write_backlog_peak > 0, "{stats:?}");
    assert!(
        stats.write_backlog_peak <= (8 << 20) + (1 << 20),
        "the write queue grew past its bound: {stats:?}"
    );
    faults.clear();
    wal.close().unwrap();

    let wal = Wal::open(dir.path(), Options::default()).unwrap();
    let read = wal.read(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(read.samples, samples);
    wal.close().unwrap();
}
