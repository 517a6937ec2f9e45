//! Power-loss simulation.
//!
//! First, by hand: the last entries of a WAL cut at every byte offset, with the tail
//! lost, zero-filled (unwritten blocks of a preallocated file), or garbage. Opening and
//! reading always succeeds, delivers the longest valid prefix, and leaves a WAL that
//! accepts writes.
//!
//! Then with `Faults::lose_power`, which models what each fsync made durable: workloads
//! that log, cut segments and sync, truncate, and repair damage (with quarantine) lose
//! power at every change they make, several times each with different random choices of
//! what survives (unsynced blocks torn, unsynced directory changes undone or not).
//! Reopening what is left delivers every entry a returned sync covered and nothing
//! half-written, a truncation is all old or all new, and a repair loses no byte.
//! `TSWAL_POWER_LOSS_SEEDS` (default 16) sets how many states are tried per change.

mod common;

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use common::kept::{Segments, assert_no_byte_lost, snapshot};
use common::*;
use tswal::{Entry, Faults, Options, Recovery, Sample, Wal};

const ENTRIES: usize = 12;

/// Reads the whole WAL: the first series ref of each samples entry.
fn first_refs(wal: &Wal) -> Vec<u64> {
    let mut firsts = Vec::new();
    wal.read(|e| {
        if let Entry::Samples(s) = e {
            firsts.push(s[0].series_ref);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    firsts
}
const TORN: usize = 4; // the last entries, cut at every offset

fn entry_samples(i: usize) -> Vec<Sample> {
    (0..1 + i % 5)
        .map(|k| Sample {
            series_ref: (i * 10 + k) as u64,
            t: (i * 100 + k) as i64,
            v: i as f64 + k as f64 / 8.0,
        })
        .collect()
}

/// A first segment, and a second one holding `ENTRIES` entries; with the offsets where
/// each entry of the second ends.
fn build() -> (Vec<u8>, Vec<u8>, Vec<usize>) {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.log_samples(&entry_samples(99)).unwrap();
    wal.close().unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    wal.read(|_| ControlFlow::Continue(())).unwrap();
    for i in 0..ENTRIES {
        wal.log_samples(&entry_samples(i)).unwrap();
    }
    wal.close().unwrap();
    let first = fs::read(tmp.path().join("000001")).unwrap();
    let second = fs::read(tmp.path().join("000002")).unwrap();
    // Entry boundaries from the framing: each entry is 6 + length + 4 bytes.
    let mut ends = Vec::new();
    let mut at = 8;
    while at < second.len() {
        let len = u32::from_be_bytes(second[at + 2..at + 6].try_into().unwrap()) as usize;
        at += 6 + len + 4;
        ends.push(at);
    }
    assert_eq!(ends.len(), ENTRIES);
    (first, second, ends)
}

fn refs_read(dir: &Path, recovery: Recovery) -> Vec<u64> {
    let wal = Wal::open(
        dir,
        Options {
            recovery,
            ..Options::default()
        },
    )
    .unwrap();
    let firsts = first_refs(&wal);
    // The WAL takes writes afterwards, and they read back after what was kept.
    wal.log_samples(&entry_samples(500)).unwrap();
    let after = first_refs(&wal);
    wal.close().unwrap();
    let mut want = firsts.clone();
    want.push(5000);
    assert_eq!(after, want);
    firsts
}

#[test]
fn a_torn_tail_reads_as_the_longest_valid_prefix() {
    let (first, second, ends) = build();
    let start = ends[ENTRIES - TORN - 1];
    let mut garbage_seed = 0x2545_F491_4F6C_DD1Du64;
    let mut checked = 0;
    for cut in start..=second.len() {
        // Entries wholly before the cut survive; the first of the log is in 000001.
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let want: Vec<u64> = std::iter::once(990)
            .chain((0..whole).map(|i| (i * 10) as u64))
            .collect();
        let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
        variants.push(("cut", second[..cut].to_vec()));
        let mut zeroed = second.clone();
        zeroed[cut..].fill(0);
        zeroed.resize(second.len() + 4096, 0);
        variants.push(("zeros", zeroed));
        let mut garbage = second.clone();
        for b in &mut garbage[cut..] {
            garbage_seed ^= garbage_seed << 13;
            garbage_seed ^= garbage_seed >> 7;
            garbage_seed ^= garbage_seed << 17;
            *b = garbage_seed as u8;
        }
        variants.push(("garbage", garbage));
        for (what, bytes) in variants {
            for recovery in [Recovery::Truncate, Recovery::Salvage] {
                let tmp = tempfile::tempdir().unwrap();
                fs::write(tmp.path().join("000001"), &first).unwrap();
                fs::write(tmp.path().join("000002"), &bytes).unwrap();
                let got = refs_read(tmp.path(), recovery);
                assert_eq!(got, want, "{what} at {cut}, {recovery:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
}

/// States tried per change: `TSWAL_POWER_LOSS_SEEDS`, default 16.
fn seeds() -> u64 {
    std::env::var("TSWAL_POWER_LOSS_SEEDS")
        .ok()
        .map(|s| {
            s.trim()
                .parse()
                .expect("TSWAL_POWER_LOSS_SEEDS is a number")
        })
        .unwrap_or(16)
}

/// Runs `workload` on a fresh copy made by `setup`, losing power at each change in
/// turn (and with each seed), until a run makes fewer changes than that; `check` gets
/// the state the power loss left and what the workload returned. Returns how many
/// power losses were checked.
fn at_every_change<T>(
    setup: impl Fn(&Path),
    workload: impl Fn(&Path, &Arc<Faults>) -> T,
    check: impl Fn(&Path, &T, &str),
) -> u64 {
    let mut checked = 0;
    for after in 0.. {
        let mut lost_any = false;
        for seed in 0..seeds() {
            let tmp = tempfile::tempdir().unwrap();
            let (dir, into) = (tmp.path().join("wal"), tmp.path().join("after-power-loss"));
            fs::create_dir(&dir).unwrap();
            setup(&dir);
            let faults = Arc::new(Faults::default());
            faults.lose_power(after, (after << 16) | seed, &into);
            let out = workload(&dir, &faults);
            let lost = faults.lost_power().unwrap();
            if !lost {
                assert!(checked > 0, "the workload made no change");
                return checked;
            }
            lost_any = true;
            check(
                &into,
                &out,
                &format!("power lost at change {after}, seed {seed}"),
            );
            checked += 1;
        }
        assert!(lost_any);
    }
    unreachable!()
}

fn small(faults: &Arc<Faults>) -> Options {
    Options {
        segment_size: 4096,
        faults: Some(faults.clone()),
        ..Options::default()
    }
}

/// The first sample's ref of each samples entry read from `dir` (with `Truncate`, the
/// default repair), after which the WAL must take a write and read it back.
fn refs_after_power_loss(dir: &Path, what: &str) -> Vec<u64> {
    let wal = Wal::open(dir, Options::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let firsts = first_refs(&wal);
    wal.log_samples(&entry_samples(700)).unwrap();
    let mut want = firsts.clone();
    want.push(7000);
    assert_eq!(first_refs(&wal), want, "{what}: a write after the reopen");
    wal.close().unwrap();
    firsts
}

/// Logging across several segments with a sync every few entries: after the power
/// loss, the log is a prefix of what was logged (each entry whole), holding at least
/// every entry a returned sync covered.
#[test]
fn losing_power_while_logging_keeps_every_synced_entry() {
    let checked = at_every_change(
        |_| {},
        |dir, faults| {
            let mut logged = 0usize;
            let mut synced = 0usize;
            let Ok(wal) = Wal::open(dir, small(faults)) else {
                return (logged, synced);
            };
            for i in 0..48 {
                // About 230 bytes each: a segment every 17 entries.
                let batch: Vec<Sample> = (0..20)
                    .map(|k| Sample {
                        series_ref: (i * 10 + k) as u64,
                        t: i as i64,
                        v: k as f64,
                    })
                    .collect();
                if wal.log_samples(&batch).is_err() {
                    break;
                }
                logged += 1;
                if i % 5 == 4 {
                    match wal.sync() {
                        Ok(()) => synced = logged,
                        Err(_) => break,
                    }
                }
            }
            if wal.close().is_ok() {
                synced = logged;
            }
            assert!(logged < 48 || segment_names(dir).len() >= 3);
            (logged, synced)
        },
        |into, &(logged, synced), what| {
            let refs = refs_after_power_loss(into, what);
            let want: Vec<u64> = (0..refs.len()).map(|i| (i * 10) as u64).collect();
            assert_eq!(refs, want, "{what}: not a prefix of the logged entries");
            assert!(
                (synced..=logged).contains(&refs.len()),
                "{what}: {} entries read, {synced} synced, {logged} logged",
                refs.len()
            );
        },
    );
    println!("{checked} power losses checked");
    assert!(checked > 100, "{checked} power losses");
}

/// A truncation that loses power at any change leaves the old or the new log.
#[test]
fn losing_power_while_truncating_leaves_the_old_or_the_new_log() {
    let build = |dir: &Path| {
        let wal = Wal::open(dir, small(&Arc::new(Faults::default()))).unwrap();
        let series = (1..=6)
            .map(|r| (r, vec![(b"job".to_vec(), format!("n{r}").into_bytes())]))
            .collect();
        log_op(&wal, &Op::Series(series)).unwrap();
        for i in 0..150 {
            wal.log_samples(&entry_samples(i)).unwrap();
        }
        wal.close().unwrap();
        assert!(segment_names(dir).len() >= 3);
    };
    let (mint, keep) = (8000, |r: u64| r % 2 == 0);
    let reference = tempfile::tempdir().unwrap();
    build(reference.path());
    let wal = Wal::open(reference.path(), Options::default()).unwrap();
    let old = dump(&wal).unwrap();
    wal.truncate(mint, keep).unwrap();
    let new = dump(&wal).unwrap();
    wal.close().unwrap();
    assert_ne!(old, new);

    let checked = at_every_change(
        build,
        |dir, faults| {
            // The power-loss model starts with the truncation (the log is durable).
            let wal = Wal::open(dir, Options::default()).unwrap();
            dump(&wal).unwrap();
            let wal_faults = Options {
                faults: Some(faults.clone()),
                ..Options::default()
            };
            drop(wal);
            let Ok(wal) = Wal::open(dir, wal_faults) else {
                return;
            };
            if dump(&wal).is_ok() {
                let _ = wal.truncate(mint, keep);
            }
        },
        |into, (), what| {
            let wal = Wal::open(into, Options::default()).unwrap();
            let got = dump(&wal).unwrap();
            wal.close().unwrap();
            assert!(
                got == old || got == new,
                "{what}: neither the old nor the new log"
            );
        },
    );
    println!("{checked} power losses checked");
    assert!(checked > 20, "{checked} power losses");
}

/// A repair (with quarantine) that loses power at any change: reopening what is left
/// completes or repeats it, giving what an uninterrupted repair gives, and no byte of
/// the damaged log is lost.
#[test]
fn losing_power_while_repairing_loses_no_byte() {
    let cases = [
        ("corrupt-flip_middle", Recovery::Truncate),
        ("corrupt-truncate_body", Recovery::Truncate),
        ("corrupt-bad_header", Recovery::Truncate),
        ("corrupt-flip_middle", Recovery::Salvage),
        ("corrupt-bad_header", Recovery::Salvage),
    ];
    let mut checked = 0;
    for (case, recovery) in cases {
        let options = |faults: Option<Arc<Faults>>| Options {
            recovery,
            faults,
            ..Options::default()
        };
        let (_ref_tmp, reference) = temp_copy_of_case(case);
        let originals: Segments = snapshot(&reference);
        let wal = Wal::open(&reference, options(None)).unwrap();
        let want = dump(&wal).unwrap();
        wal.close().unwrap();
        let want_segments = segment_names(&reference);
        checked += at_every_change(
            |dir| copy_case(case, dir),
            |dir, faults| {
                if let Ok(wal) = Wal::open(dir, options(Some(faults.clone()))) {
                    let _ = dump(&wal);
                }
            },
            |into, (), what| {
                let what = format!("{case}, {recovery:?}: {what}");
                let wal = Wal::open(into, options(None)).unwrap_or_else(|e| panic!("{what}: {e}"));
                let got = dump(&wal).unwrap();
                wal.close().unwrap();
                assert!(got == want, "{what}: the repaired log differs");
                assert_eq!(segment_names(into), want_segments, "{what}");
                assert_no_byte_lost(&what, into, &originals);
            },
        );
    }
    println!("{checked} power losses checked");
    assert!(checked > 100, "{checked} power losses");
}
