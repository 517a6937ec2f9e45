//! Power-loss simulation: the last entries of a WAL cut at every byte offset, with the
//! tail lost, zero-filled (unwritten blocks of a preallocated file), or garbage.
//! Opening and reading always succeeds, delivers the longest valid prefix, and leaves
//! a WAL that accepts writes.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use tswal::{Entry, Options, Recovery, Sample, Wal};

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
