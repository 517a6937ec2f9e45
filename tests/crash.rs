//! Crash test: a writer process (c_tests/crash_writer.c, through the C API) logs and
//! syncs until it is killed with SIGKILL at a random moment. After each kill the log is
//! reopened and read: every entry covered by a completed `wal_sync` is there and
//! identical, nothing appears that was never logged, and the WAL takes writes (the next
//! writer goes on after what it finds).
//!
//! `TSWAL_CRASH_ITERATIONS` sets the number of kills (default 25); the long run is
//! `TSWAL_CRASH_ITERATIONS=1000 cargo test --release --test crash`.

mod common;

use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cbuild::{Link, compile};
use tswal::{Entry, Options, Wal};

/// What entry `i` of the log holds (mirror of `crash_entry` in crash_writer.c).
fn expected(i: u64) -> String {
    let mut out = String::new();
    if i % 7 == 6 {
        let d = [tswal::Tombstone {
            series_ref: i,
            mint: i as i64,
            maxt: i as i64 + 5,
        }];
        tswal::dump::write_entry(&mut out, Entry::Deletes(&d));
    } else {
        let s: Vec<tswal::Sample> = (0..1 + i % 23)
            .map(|k| tswal::Sample {
                series_ref: i * 100 + k,
                t: (i * 1000 + k) as i64,
                v: f64::from_bits((i << 16) ^ k),
            })
            .collect();
        tswal::dump::write_entry(&mut out, Entry::Samples(&s));
    }
    out
}

fn iterations() -> u64 {
    std::env::var("TSWAL_CRASH_ITERATIONS")
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .expect("TSWAL_CRASH_ITERATIONS is a number")
        })
        .unwrap_or(25)
}

#[test]
fn a_killed_writer_loses_nothing_it_synced() {
    let exe = compile("crash_writer", Link::Static);
    let tmp = tempfile::tempdir().unwrap();
    // A fresh WAL every 50 kills keeps each reopen's read short in the long run.
    let dir_for = |iteration: u64| tmp.path().join(format!("wal-{}", iteration / 50));
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next_rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut kept_max, mut synced_total) = (0u64, 0u64);
    for iteration in 0..iterations() {
        let dir = dir_for(iteration);
        if iteration % 50 == 0 {
            kept_max = 0;
        }
        let mut child = Command::new(&exe)
            .arg(&dir)
            .arg(next_rand().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let reports = std::thread::spawn(move || {
            let (mut start, mut synced) = (None, 0u64);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("synced ") {
                    synced = n.parse().expect("a count");
                } else if let Some(n) = line.strip_prefix("start ") {
                    start = Some(n.parse::<u64>().expect("a count"));
                }
            }
            (start, synced)
        });
        std::thread::sleep(Duration::from_millis(5 + next_rand() % 60));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("reap the writer");
        let (start, synced) = reports.join().expect("the report reader");
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        assert!(
            stderr.is_empty(),
            "iteration {iteration}: the writer failed ({status}): {stderr}"
        );

        // Reopen and read: the log is exactly entries 0..n of the sequence, with n at
        // least what the writer last synced, and at least what was there before it.
        let wal = Wal::open(
            &dir,
            Options {
                segment_size: 64 * 1024,
                ..Options::default()
            },
        )
        .expect("reopen after the kill");
        let mut n = 0u64;
        let mut wrong = None;
        wal.read(|e| {
            let mut got = String::new();
            tswal::dump::write_entry(&mut got, e);
            if wrong.is_none() && got != expected(n) {
                wrong = Some((n, got));
            }
            n += 1;
            ControlFlow::Continue(())
        })
        .expect("read after the kill");
        if let Some((i, got)) = wrong {
            panic!(
                "iteration {iteration}: entry {i} is\n{got}but was logged as\n{}",
                expected(i)
            );
        }
        assert!(
            n >= synced,
            "iteration {iteration}: {n} entries, {synced} were synced"
        );
        if let Some(start) = start {
            assert!(
                start >= kept_max,
                "iteration {iteration}: the writer found {start} < {kept_max}"
            );
        }
        assert!(
            n >= kept_max,
            "iteration {iteration}: {n} entries, {kept_max} were kept before"
        );
        kept_max = n;
        synced_total += synced;
        wal.close().expect("close");
    }
    assert!(
        synced_total > 0,
        "no writer ever completed a sync: the test proved nothing"
    );
    // The WAL still takes writes.
    let wal = Wal::open(dir_for(iterations() - 1), Options::default()).unwrap();
    wal.read(|_| ControlFlow::Continue(())).unwrap();
    wal.log_samples(&[tswal::Sample {
        series_ref: 1,
        t: 1,
        v: 1.0,
    }])
    .unwrap();
    wal.close().unwrap();
}
