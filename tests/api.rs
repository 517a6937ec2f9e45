//! Behaviour of the Rust API beyond the fixtures: states, errors, segment cutting,
//! truncation, recovery of interrupted truncations, concurrency.

mod common;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use common::*;
use tswal::{Entry, Error, Label, Options, Sample, Series, SyncSpin, Tombstone, Wal};

fn opts(segment_size: u64) -> Options {
    Options {
        segment_size,
        ..Options::default()
    }
}

fn samples(r: u64, t0: i64, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            series_ref: r + i as u64,
            t: t0 + i as i64,
            v: i as f64 * 0.25,
        })
        .collect()
}

/// Opens `dir` and completes the first read, returning the handle and the dump.
fn open_read(dir: &Path, o: Options) -> (Wal, String) {
    let wal = Wal::open(dir, o).unwrap();
    let d = dump(&wal).unwrap();
    (wal, d)
}

#[test]
fn round_trip_across_segments_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ops = Vec::new();
    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    assert!(!wal.needs_read(), "an empty directory needs no read");
    for i in 0..50u64 {
        let series = Op::Series(vec![(
            i,
            vec![
                (b"job".to_vec(), b"x".to_vec()),
                (b"a".to_vec(), format!("{i}").into_bytes()),
            ],
        )]);
        log_op(&wal, &series).unwrap();
        ops.push(series);
        let s = Op::Samples(samples(i, i as i64 * 100, 20));
        log_op(&wal, &s).unwrap();
        ops.push(s);
    }
    let d = Op::Deletes(vec![Tombstone {
        series_ref: 3,
        mint: -5,
        maxt: 5,
    }]);
    log_op(&wal, &d).unwrap();
    ops.push(d);
    // A read on a live handle sees everything logged so far.
    assert_eq!(dump(&wal).unwrap(), dump_ops(&ops));
    wal.close().unwrap();
    assert!(
        segment_names(tmp.path()).len() >= 3,
        "small segments give several files"
    );

    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    assert!(wal.needs_read());
    assert_eq!(dump(&wal).unwrap(), dump_ops(&ops));
    // A second read delivers everything again.
    assert_eq!(dump(&wal).unwrap(), dump_ops(&ops));
    wal.close().unwrap();
}

#[test]
fn writes_and_truncation_wait_for_the_first_full_read() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.log_samples(&samples(1, 1, 3)).unwrap();
    wal.close().unwrap();

    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let refused = |r: tswal::Result<()>| matches!(r, Err(Error::State(_)));
    assert!(refused(wal.log_samples(&samples(1, 1, 1))));
    assert!(refused(wal.log_series(&[])));
    assert!(refused(wal.log_deletes(&[])));
    assert!(refused(wal.truncate(0, |_| true)));
    // An aborted read does not count.
    let r = wal.read(|_| ControlFlow::Break(()));
    assert!(matches!(r, Err(Error::Aborted)), "{r:?}");
    assert!(refused(wal.log_samples(&samples(1, 1, 1))));
    let summary = wal.read(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(summary.samples, 3);
    wal.log_samples(&samples(1, 1, 1)).unwrap();
    wal.close().unwrap();
}

#[test]
fn calls_from_inside_a_callback_are_refused_not_deadlocked() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.log_samples(&samples(1, 1, 3)).unwrap();
    let mut seen = Vec::new();
    wal.read(|_| {
        seen.push(matches!(
            wal.log_samples(&samples(1, 1, 1)),
            Err(Error::State(_))
        ));
        seen.push(matches!(wal.sync(), Err(Error::State(_))));
        seen.push(matches!(wal.truncate(0, |_| true), Err(Error::State(_))));
        seen.push(matches!(
            wal.read(|_| ControlFlow::Continue(())),
            Err(Error::State(_))
        ));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, [true; 4]);
    // The handle works normally afterwards, from the same thread.
    wal.log_samples(&samples(1, 1, 1)).unwrap();
    wal.sync().unwrap();
    wal.close().unwrap();
}

#[test]
fn a_second_open_of_the_directory_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let second = Wal::open(tmp.path(), Options::default());
    assert!(
        matches!(second, Err(Error::Locked { .. })),
        "{:?}",
        second.err()
    );
    wal.close().unwrap();
    Wal::open(tmp.path(), Options::default())
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn bad_options_and_paths_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for size in [0, 8, 4095, (1 << 40) + 1] {
        match Wal::open(tmp.path(), opts(size)) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("segment_size"), "{m}"),
            other => panic!("size {size}: {:?}", other.err()),
        }
    }
    let spin = Options {
        sync_spin: SyncSpin::UpTo(tswal::MAX_SYNC_SPIN + std::time::Duration::from_micros(1)),
        ..Options::default()
    };
    match Wal::open(tmp.path(), spin) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("sync_spin"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    let file = tmp.path().join("plain-file");
    fs::write(&file, b"x").unwrap();
    for path in [file.join("wal"), file.clone()] {
        match Wal::open(&path, Options::default()) {
            Err(e @ Error::Io { .. }) => {
                let m = e.to_string().to_lowercase();
                assert!(
                    m.contains("plain-file") && m.contains("not a directory"),
                    "{m}"
                );
            }
            other => panic!("{:?}", other.err()),
        }
    }
    // Missing parents are made.
    let nested = tmp.path().join("a").join("b").join("wal");
    let wal = Wal::open(&nested, Options::default()).unwrap();
    wal.log_samples(&samples(1, 1, 2)).unwrap();
    wal.close().unwrap();
    assert_eq!(segment_names(&nested), ["000001"]);
}

/// Bytes of one samples entry with `n` samples of ref 1 and t 0 (each sample 10 bytes).
fn samples_entry_len(n: usize) -> u64 {
    6 + 16 + 10 * n as u64 + 4
}

#[test]
fn cutting_rule_counts_the_entry_without_its_crc() {
    let tmp = tempfile::tempdir().unwrap();
    let seg = 4096u64;
    let wal = Wal::open(tmp.path(), opts(seg)).unwrap();
    let batch = |n: usize| {
        vec![
            Sample {
                series_ref: 1,
                t: 0,
                v: 0.0
            };
            n
        ]
    };
    // Fill the first segment so that exactly 2 bytes remain...
    let first = 300;
    wal.log_samples(&batch(first)).unwrap();
    let written = 8 + samples_entry_len(first);
    let room = seg - written;
    // ...then log an entry whose header + body fit but whose CRC does not.
    let n = ((room - 6 - 16) / 10) as usize;
    let size = samples_entry_len(n) - 4;
    assert!(
        written + size <= seg && written + size + 4 > seg,
        "test setup"
    );
    wal.log_samples(&batch(n)).unwrap();
    wal.sync().unwrap();
    assert_eq!(
        segment_names(tmp.path()),
        ["000001"],
        "no cut: the rule ignores the CRC"
    );
    // The next entry does cut (written > segment_size now).
    wal.log_samples(&batch(1)).unwrap();
    wal.close().unwrap();
    assert_eq!(segment_names(tmp.path()), ["000001", "000002"]);
    assert_eq!(
        fs::metadata(tmp.path().join("000001")).unwrap().len(),
        written + size + 4
    );
}

#[test]
fn an_entry_larger_than_a_segment_goes_into_the_current_one() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    wal.log_samples(&samples(1, 1, 10)).unwrap();
    wal.log_samples(&samples(1, 1, 1000)).unwrap();
    wal.close().unwrap();
    assert_eq!(segment_names(tmp.path()), ["000001"]);
    let (wal, d) = open_read(tmp.path(), opts(4096));
    assert_eq!(
        d,
        dump_ops(&[
            Op::Samples(samples(1, 1, 10)),
            Op::Samples(samples(1, 1, 1000))
        ])
    );
    wal.close().unwrap();
}

#[test]
fn empty_batches_write_nothing_but_the_first_one_starts_a_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.log_samples(&[]).unwrap();
    wal.log_series(&[]).unwrap();
    wal.log_deletes(&[]).unwrap();
    wal.close().unwrap();
    assert_eq!(segment_names(tmp.path()), ["000001"]);
    assert_eq!(
        fs::read(tmp.path().join("000001")).unwrap(),
        [0x43, 0xAF, 0, 0xEF, 1, 0, 0, 0]
    );
}

#[test]
fn close_trims_the_head_segment_and_reopen_trims_a_crashed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.log_samples(&samples(1, 1, 2)).unwrap();
    wal.close().unwrap();
    let len = 8 + samples_entry_len(2);
    assert_eq!(fs::metadata(tmp.path().join("000001")).unwrap().len(), len);

    // A segment left preallocated (as after a crash) is trimmed once a new one follows.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join("000001"))
        .unwrap();
    f.set_len(1 << 20).unwrap();
    drop(f);
    let (wal, _) = open_read(tmp.path(), Options::default());
    wal.log_samples(&samples(1, 1, 2)).unwrap();
    wal.close().unwrap();
    assert_eq!(fs::metadata(tmp.path().join("000001")).unwrap().len(), len);
}

#[test]
fn a_body_that_does_not_decode_is_an_error_with_segment_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = vec![0x43, 0xAF, 0x00, 0xEF, 1, 0, 0, 0];
    let valid_entry = |body: &[u8]| {
        let mut e = vec![3u8, 1];
        e.extend_from_slice(&(body.len() as u32).to_be_bytes());
        e.extend_from_slice(body);
        let crc = crc32c::crc32c(&e);
        e.extend_from_slice(&crc.to_be_bytes());
        e
    };
    let mut good = Vec::new();
    good.extend_from_slice(&5u64.to_be_bytes());
    good.extend_from_slice(&7i64.to_be_bytes());
    good.extend_from_slice(&[0, 0]);
    good.extend_from_slice(&1f64.to_bits().to_be_bytes());
    seg.extend(valid_entry(&good));
    let bad_offset = seg.len();
    seg.extend(valid_entry(&[1, 2, 3, 4, 5]));
    fs::write(tmp.path().join("000001"), &seg).unwrap();

    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let mut delivered = 0;
    let r = wal.read(|_| {
        delivered += 1;
        ControlFlow::Continue(())
    });
    match r {
        Err(e @ Error::Corruption { .. }) => {
            let m = e.to_string();
            assert!(
                m.contains("000001")
                    && m.contains(&format!("offset {bad_offset}"))
                    && m.contains("reopen with recovery Salvage"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(delivered, 1);
    assert!(wal.needs_read(), "a failed read does not unlock writes");
    wal.close().unwrap();
    assert_eq!(
        fs::read(tmp.path().join("000001")).unwrap(),
        seg,
        "nothing was repaired"
    );
}

fn series_op(refs: impl Iterator<Item = u64>) -> Op {
    Op::Series(
        refs.map(|r| (r, vec![(b"r".to_vec(), r.to_string().into_bytes())]))
            .collect(),
    )
}

#[test]
fn truncation_drops_old_segments_and_keeps_live_series() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    log_op(&wal, &series_op(1..=20)).unwrap();
    for round in 0..100i64 {
        let batch: Vec<Sample> = (1..=20)
            .map(|r| Sample {
                series_ref: r,
                t: round * 10,
                v: 1.0,
            })
            .collect();
        wal.log_samples(&batch).unwrap();
    }
    wal.sync().unwrap();
    let before = segment_names(tmp.path());
    assert!(before.len() >= 4, "{before:?}");

    // Nothing is older than -1: no change.
    wal.truncate(-1, |_| false).unwrap();
    assert_eq!(segment_names(tmp.path()), before);

    let mint = 500;
    let mut asked = Vec::new();
    wal.truncate(mint, |r| {
        asked.push(r);
        r % 2 == 0
    })
    .unwrap();
    assert_eq!(
        asked,
        (1..=20).collect::<Vec<_>>(),
        "keep is asked for each series"
    );
    let after = segment_names(tmp.path());
    assert_eq!(
        after[0], before[0],
        "the rewritten segment takes the first one's name"
    );
    assert!(after.len() < before.len());
    assert_eq!(after.last(), before.last(), "the head segment stays");

    let mut series = Vec::new();
    let mut min_t = i64::MAX;
    let mut max_t = i64::MIN;
    wal.read(|e| {
        match e {
            Entry::Series(s) => series.extend(s.iter().map(|s| s.series_ref)),
            Entry::Samples(s) => {
                for x in s {
                    min_t = min_t.min(x.t);
                    max_t = max_t.max(x.t);
                }
            }
            Entry::Deletes(_) => {}
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(series, (2..=20).step_by(2).collect::<Vec<_>>());
    assert_eq!(max_t, 990, "the newest samples stay");
    assert!(min_t < mint, "the first kept segment may start before mint");
    assert!(min_t > 0, "whole segments before mint are gone");
    wal.close().unwrap();
}

#[test]
fn a_committed_truncation_interrupted_by_a_crash_is_completed_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wal = Wal::open(dir, opts(4096)).unwrap();
    log_op(&wal, &series_op(1..=4)).unwrap();
    for round in 0..30i64 {
        wal.log_samples(&samples(1, round, 100)).unwrap();
    }
    wal.close().unwrap();
    let segs = segment_names(dir);
    assert!(segs.len() >= 4);

    // State after the commit rename, before the old segments were deleted: the commit
    // file holds the rewritten first segment (series only) and replaces 000001..000003.
    let header = [0x43, 0xAF, 0x00, 0xEF, 1, 0, 0, 0];
    fs::write(dir.join("000001-000003.truncate"), header).unwrap();
    fs::remove_file(dir.join("000002")).unwrap(); // a crash after the first deletion
    fs::write(dir.join("truncate.tmp"), b"partial").unwrap();

    let (wal, _) = open_read(dir, opts(4096));
    wal.close().unwrap();
    let now = segment_names(dir);
    assert_eq!(now[0], "000001");
    assert!(!now.contains(&"000002".to_string()) && !now.contains(&"000003".to_string()));
    assert_eq!(now[1..], segs[3..]);
    assert_eq!(fs::read(dir.join("000001")).unwrap(), header);
    assert!(!dir.join("000001-000003.truncate").exists());
    assert!(!dir.join("truncate.tmp").exists());
}

#[test]
fn four_threads_log_at_once_without_loss_or_interleaving() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(tmp.path(), opts(64 * 1024)).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|th| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for b in 0..500i64 {
                    let batch: Vec<Sample> = (0..20)
                        .map(|i| Sample {
                            series_ref: th * 1000 + i,
                            t: b,
                            v: th as f64,
                        })
                        .collect();
                    wal.log_samples(&batch).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Arc::into_inner(wal).unwrap().close().unwrap();

    let wal = Wal::open(tmp.path(), opts(64 * 1024)).unwrap();
    let mut next_batch = [0i64; 4];
    wal.read(|e| {
        let Entry::Samples(s) = e else {
            panic!("only samples were logged")
        };
        assert_eq!(s.len(), 20);
        let th = s[0].series_ref / 1000;
        for (i, x) in s.iter().enumerate() {
            assert_eq!(x.series_ref, th * 1000 + i as u64, "entry mixes threads");
            assert_eq!(x.t, next_batch[th as usize], "per-thread order");
        }
        next_batch[th as usize] += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(next_batch, [500; 4]);
    wal.close().unwrap();
}

#[test]
fn labels_are_delivered_sorted_and_as_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let labels = [
        Label::new("zone", "b"),
        Label::new(b"\xff\x00bin".as_slice(), b"\xfe".as_slice()),
        Label::new("", ""),
        Label::new("a", "é"),
    ];
    wal.log_series(&[Series {
        series_ref: 9,
        labels: &labels,
    }])
    .unwrap();
    let mut got = Vec::new();
    wal.read(|e| {
        if let Entry::Series(s) = e {
            got = s[0]
                .labels
                .iter()
                .map(|l| (l.name.to_vec(), l.value.to_vec()))
                .collect();
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    let mut want: Vec<_> = labels
        .iter()
        .map(|l| (l.name.to_vec(), l.value.to_vec()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    wal.close().unwrap();
}

#[test]
fn background_flush_writes_without_an_explicit_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        flush_interval: Some(std::time::Duration::from_millis(5)),
        ..opts(4096)
    };
    let wal = Wal::open(tmp.path(), o).unwrap();
    wal.log_samples(&samples(1, 1, 10)).unwrap();
    let want = 8 + samples_entry_len(10);
    // Poll the file: the entry reaches it once the worker has flushed.
    let seg = tmp.path().join("000001");
    let mut flushed = false;
    for _ in 0..2000 {
        let bytes = fs::read(&seg).unwrap();
        if without_zero_tail(bytes).len() as u64 >= want - 4 {
            flushed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(flushed, "the background flush never wrote the entry");
    wal.close().unwrap();
}

#[test]
fn reading_while_cut_segments_are_being_finished_sees_no_damage() {
    // Segments cut just before a read are still being trimmed by the background worker;
    // the read must neither see them shrink under it nor report damage.
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    let mut logged = 0u64;
    for round in 0..60i64 {
        for _ in 0..3 {
            wal.log_samples(&samples(1, round, 300)).unwrap();
            logged += 300;
        }
        let summary = wal.read(|_| ControlFlow::Continue(())).unwrap();
        assert_eq!(summary.repair, None, "round {round}");
        assert_eq!(summary.samples, logged, "round {round}");
    }
    wal.close().unwrap();
}

#[test]
fn an_absurdly_long_flush_interval_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        flush_interval: Some(std::time::Duration::MAX),
        ..Options::default()
    };
    let wal = Wal::open(tmp.path(), o).unwrap();
    wal.log_samples(&samples(1, 1, 1)).unwrap();
    wal.close().unwrap();
}

#[test]
fn reading_right_after_a_cut_with_a_background_flush_does_not_deadlock() {
    // The worker's flush tick waits for the writer lock that a read holds; the read must
    // not in turn wait for the worker to finish the segment just cut.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tmp = tempfile::tempdir().unwrap();
        let o = Options {
            flush_interval: Some(std::time::Duration::from_millis(1)),
            ..opts(4096)
        };
        let wal = Wal::open(tmp.path(), o).unwrap();
        for round in 0..300 {
            let n = segment_names(tmp.path()).len();
            while segment_names(tmp.path()).len() == n {
                wal.log_samples(&samples(1, round, 20)).unwrap();
            }
            wal.read(|_| ControlFlow::Continue(())).unwrap();
        }
        wal.close().unwrap();
        done_tx.send(()).unwrap();
    });
    // A deadlock detector, not a timing assertion: the loop takes well under a second.
    assert!(
        done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_ok(),
        "read after a cut with a 1 ms flush interval did not return (deadlock)"
    );
}

fn file_log_len(path: &Path) -> usize {
    without_zero_tail(fs::read(path).unwrap()).len()
}

#[test]
fn sync_always_writes_and_fsyncs_each_entry_before_returning() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Options {
        sync: tswal::SyncMode::Always,
        ..opts(64 * 1024)
    };
    let wal = Wal::open(tmp.path(), o).unwrap();
    let mut expected_len = 8;
    // The first entry creates the segment, whose header and name are made durable first
    // (two fsyncs, as in `sync_none_leaves_durability_to_sync`).
    let mut fsyncs = 2;
    for i in 0..20 {
        wal.log_samples(&samples(1, i, 3)).unwrap();
        expected_len += samples_entry_len(3) as usize;
        // Already in the file when the call returns (the last byte of a CRC may be 0,
        // which the zero-tail strip would hide).
        assert!(file_log_len(&tmp.path().join("000001")) >= expected_len - 4);
        let st = wal.stats().unwrap();
        // All in one segment: no cut, whose own fsyncs would count too.
        assert_eq!(st.segments, 1, "entry {i}");
        // Each entry is fsynced before its call returns, by one fsync of its own.
        assert_eq!(st.fsyncs, fsyncs + 1, "entry {i}: one fsync of its own");
        fsyncs = st.fsyncs;
    }
    // Nothing new: a sync does not fsync again.
    let before = wal.stats().unwrap().fsyncs;
    wal.sync().unwrap();
    assert_eq!(wal.stats().unwrap().fsyncs, before);
    wal.close().unwrap();
}

#[test]
fn sync_none_leaves_durability_to_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    for i in 0..20 {
        wal.log_samples(&samples(1, i, 3)).unwrap();
    }
    // Creating the segment made its header and its name durable (an fdatasync and a
    // directory fsync); the entries wait for `sync`.
    assert_eq!(
        wal.stats().unwrap().fsyncs,
        2,
        "no fsync of entries before sync"
    );
    wal.sync().unwrap();
    assert_eq!(wal.stats().unwrap().fsyncs, 3);
    wal.sync().unwrap();
    assert_eq!(wal.stats().unwrap().fsyncs, 3, "nothing new, no fsync");
    let st = wal.stats().unwrap();
    assert_eq!((st.entries_written, st.samples_written), (20, 60));
    assert_eq!(st.bytes_written, 20 * samples_entry_len(3));
    assert_eq!(st.segments, 1);
    wal.close().unwrap();
}

#[test]
fn sync_always_with_four_threads_loses_nothing_and_shares_fsyncs() {
    assert_eq!(Options::default().sync_spin, SyncSpin::Auto);
    four_threads_in_sync_always(SyncSpin::Auto);
}

#[test]
fn sync_always_with_waiters_that_sleep_loses_nothing_and_shares_fsyncs() {
    four_threads_in_sync_always(SyncSpin::Off);
}

#[test]
fn sync_always_with_waiters_that_yield_loses_nothing_and_shares_fsyncs() {
    four_threads_in_sync_always(SyncSpin::UpTo(std::time::Duration::from_micros(500)));
}

fn four_threads_in_sync_always(sync_spin: SyncSpin) {
    let tmp = tempfile::tempdir().unwrap();
    // Every fsync takes 0.5 ms longer (still under the 1 ms above which
    // `SyncSpin::Auto` stops yielding), so that callers overlap whatever the disk.
    let faults = Arc::new(tswal::Faults::default());
    faults.slow_down(tswal::FaultOp::Fsync, std::time::Duration::from_micros(500));
    let o = Options {
        sync: tswal::SyncMode::Always,
        sync_spin,
        faults: Some(faults),
        ..opts(64 * 1024)
    };
    let wal = Arc::new(Wal::open(tmp.path(), o).unwrap());
    let per_thread = 150i64;
    let threads: Vec<_> = (0..4u64)
        .map(|th| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for b in 0..per_thread {
                    let batch: Vec<Sample> = (0..10)
                        .map(|i| Sample {
                            series_ref: th * 1000 + i,
                            t: b,
                            v: 0.5,
                        })
                        .collect();
                    wal.log_samples(&batch).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = wal.stats().unwrap();
    let entries = 4 * per_thread as u64;
    assert_eq!(st.entries_written, entries);
    // Each entry was covered by an fsync before its call returned, but calls waiting at
    // the same time share one: four threads need at most half as many fsyncs as
    // entries, plus three per segment (header and name at its creation, and its
    // finishing).
    assert!(
        st.fsyncs <= entries / 2 + 3 * st.segments,
        "{} fsyncs for {entries} entries in {} segments",
        st.fsyncs,
        st.segments
    );
    eprintln!("group commit: {} fsyncs for {entries} entries", st.fsyncs);
    Arc::into_inner(wal).unwrap().close().unwrap();

    let wal = Wal::open(tmp.path(), opts(64 * 1024)).unwrap();
    let mut next = [0i64; 4];
    wal.read(|e| {
        let Entry::Samples(s) = e else {
            panic!("only samples were logged")
        };
        let th = (s[0].series_ref / 1000) as usize;
        assert!(s.iter().all(|x| x.t == next[th]), "per-thread order");
        next[th] += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(next, [per_thread; 4]);
    wal.close().unwrap();
}

#[test]
fn stats_count_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    copy_case("corrupt-flip_middle", tmp.path());
    let before: u64 = ["000001", "000002", "000003"]
        .iter()
        .map(|n| fs::metadata(tmp.path().join(n)).unwrap().len())
        .sum();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let summary = wal.read(|_| ControlFlow::Continue(())).unwrap();
    let repair = summary.repair.expect("the flipped byte is found");
    let st = wal.stats().unwrap();
    assert_eq!(st.corruptions, 1);
    assert_eq!(st.dropped_bytes, repair.dropped_bytes);
    let after: u64 = segment_names(tmp.path())
        .iter()
        .map(|n| fs::metadata(tmp.path().join(n)).unwrap().len())
        .sum();
    assert_eq!(before - after, st.dropped_bytes);
    assert_eq!(st.segments, 2);
    // And stats cannot be taken from inside a callback (it would deadlock).
    wal.read(|_| {
        assert!(matches!(wal.stats(), Err(Error::State(_))));
        ControlFlow::Continue(())
    })
    .unwrap();
    wal.close().unwrap();
}

/// Entry CRCs, written and checked by the library, agree with an independent CRC-32C
/// implementation at every body length from a dozen bytes to 600-odd, and at longer ones
/// up to 33 KB (the SIMD paths of a CRC routine change with length and alignment), and
/// the reader accepts every one of them.
#[test]
fn entry_crcs_match_an_independent_crc32c_at_every_length() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    // One series entry per value length: a body of every length from a dozen bytes up.
    let values: Vec<Vec<u8>> = (0..600).map(|n| vec![b'v'; n]).collect();
    for (i, value) in values.iter().enumerate() {
        let labels = [Label { name: b"n", value }];
        let series = [Series {
            series_ref: i as u64 + 1,
            labels: &labels,
        }];
        wal.log_series(&series).unwrap();
    }
    // Samples entries from 1 sample (26 bytes) to 3,000 (about 33 KB).
    for n in (1..=3000).step_by(37) {
        wal.log_samples(&samples(1, 1_000 + n as i64, n)).unwrap();
    }
    wal.close().unwrap();

    let seg = fs::read(tmp.path().join("000001")).unwrap();
    let mut pos = 8;
    let mut entries = 0;
    while pos < seg.len() && seg[pos] != 0 {
        let len = u32::from_be_bytes(seg[pos + 2..pos + 6].try_into().unwrap()) as usize;
        let end = pos + 6 + len;
        let stored = u32::from_be_bytes(seg[end..end + 4].try_into().unwrap());
        assert_eq!(
            stored,
            crc32c::crc32c(&seg[pos..end]),
            "entry {entries} at offset {pos}, body of {len} bytes"
        );
        pos = end + 4;
        entries += 1;
    }
    assert_eq!(entries, 600 + (1..=3000).step_by(37).count());

    let (_wal, dump) = open_read(tmp.path(), Options::default());
    assert_eq!(
        dump.lines().filter(|l| l.starts_with("series")).count(),
        600
    );
}
