//! Tails: following a WAL as it is written, resuming from saved positions, gaps left by
//! truncation, invalid positions, and damage.

mod common;

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use tswal::{Entry, Error, Options, Position, Recovery, Sample, Tail, Wal};

/// One samples entry per step, its first sample's value the step number.
fn step(i: u64) -> Vec<Sample> {
    (0..5)
        .map(|k| Sample {
            series_ref: k,
            t: i as i64,
            v: if k == 0 { i as f64 } else { k as f64 },
        })
        .collect()
}

fn small() -> Options {
    Options {
        segment_size: 4096,
        ..Options::default()
    }
}

/// Delivers what the tail has within `timeout`: the steps (first values) and positions.
fn take(tail: &mut Tail, timeout: Duration) -> tswal::Result<Vec<(u64, Position)>> {
    let mut got = Vec::new();
    tail.next(timeout, |at, e| {
        if let Entry::Samples(s) = e {
            got.push((s[0].v as u64, at));
        }
        ControlFlow::Continue(())
    })?;
    Ok(got)
}

/// Takes from the tail until `n` steps arrived or `limit` passed.
fn take_until(tail: &mut Tail, n: usize, limit: Duration) -> Vec<u64> {
    let start = Instant::now();
    let mut steps = Vec::new();
    while steps.len() < n && start.elapsed() < limit {
        steps.extend(
            take(tail, Duration::from_millis(50))
                .unwrap()
                .into_iter()
                .map(|s| s.0),
        );
    }
    steps
}

fn log_steps(wal: &Wal, range: std::ops::Range<u64>) {
    for i in range {
        wal.log_samples(&step(i)).unwrap();
    }
    wal.sync().unwrap();
}

#[test]
fn a_tail_follows_a_writer_across_segment_cuts_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    assert!(
        take(&mut tail, Duration::from_millis(20))
            .unwrap()
            .is_empty()
    );
    let mut want = Vec::new();
    for round in 0..10u64 {
        log_steps(&wal, round * 30..round * 30 + 30);
        want.extend(round * 30..round * 30 + 30);
    }
    assert!(
        segment_names(tmp.path()).len() > 5,
        "the writer cut segments"
    );
    let got = take_until(&mut tail, want.len(), Duration::from_secs(20));
    assert_eq!(got, want);
    assert!(
        take(&mut tail, Duration::from_millis(20))
            .unwrap()
            .is_empty()
    );
    wal.close().unwrap();
}

#[test]
fn resuming_from_every_saved_position_continues_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..120);
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    let all = take(&mut tail, Duration::from_millis(100)).unwrap();
    let all: Vec<(u64, Position)> = {
        let mut v = all;
        while v.len() < 120 {
            v.extend(take(&mut tail, Duration::from_millis(50)).unwrap());
        }
        v
    };
    // From where each entry starts, a new tail delivers exactly the rest.
    for (i, &(_, at)) in all.iter().enumerate().step_by(7) {
        let mut t = Tail::open(tmp.path(), Some(at), Recovery::Truncate).unwrap();
        let rest = take_until(&mut t, 120 - i, Duration::from_secs(5));
        assert_eq!(rest, (i as u64..120).collect::<Vec<_>>(), "from {at:?}");
    }
    // The position after the last entry resumes with what is logged later.
    let end = tail.position();
    log_steps(&wal, 120..125);
    let mut t = Tail::open(tmp.path(), Some(end), Recovery::Truncate).unwrap();
    assert_eq!(
        take_until(&mut t, 5, Duration::from_secs(5)),
        (120..125).collect::<Vec<_>>()
    );
    wal.close().unwrap();
}

/// An entry a visit stopped on is delivered again by the next call; it counts as
/// delivered once, when that delivery completes.
#[test]
fn an_entry_a_visit_stops_on_is_delivered_again_and_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..10);
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    let mut got = Vec::new();
    let stop_at_3 = |got: &mut Vec<u64>, e: Entry<'_>| {
        let Entry::Samples(s) = e else {
            return ControlFlow::Continue(());
        };
        if s[0].v as u64 == 3 {
            return ControlFlow::Break(());
        }
        got.push(s[0].v as u64);
        ControlFlow::Continue(())
    };
    let r = tail.next(Duration::ZERO, |_, e| stop_at_3(&mut got, e));
    assert!(matches!(r, Err(Error::Aborted)), "{r:?}");
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(tail.entries(), 3);
    let r = tail.next(Duration::ZERO, |_, e| stop_at_3(&mut got, e));
    assert!(matches!(r, Err(Error::Aborted)), "{r:?}");
    assert_eq!(tail.entries(), 3);
    got.extend(take_until(&mut tail, 7, Duration::from_secs(5)));
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert_eq!(tail.entries(), 10);
    wal.close().unwrap();
}

#[test]
fn a_position_inside_an_entry_or_beyond_the_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..3);
    wal.close().unwrap();
    for (at, says) in [
        (
            Position {
                segment: 1,
                offset: 9,
            },
            "does not start an entry",
        ),
        (
            Position {
                segment: 1,
                offset: 2,
            },
            "inside the segment header",
        ),
        (
            Position {
                segment: 7,
                offset: 8,
            },
            "beyond the log",
        ),
    ] {
        let opened = Tail::open(tmp.path(), Some(at), Recovery::Truncate);
        let e = match opened {
            // The boundary is checked when the tail first reads.
            Ok(mut t) => take(&mut t, Duration::ZERO).unwrap_err(),
            Err(e) => e,
        };
        assert!(matches!(e, Error::InvalidArgument(_)), "{at:?}: {e:?}");
        assert!(e.to_string().contains(says), "{at:?}: {e}");
    }
}

#[test]
fn a_truncation_that_removes_unread_segments_is_reported_as_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..300);
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    // The tail reads a few entries of the first segment only.
    let mut first = Vec::new();
    tail.next(Duration::ZERO, |_, e| {
        if let Entry::Samples(s) = e {
            first.push(s[0].v as u64);
        }
        if first.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    let segments = segment_names(tmp.path()).len();
    wal.truncate(250, |_| true).unwrap();
    assert!(segment_names(tmp.path()).len() < segments);
    log_steps(&wal, 300..310);
    let rest = take_until(&mut tail, 1000, Duration::from_millis(500));
    let gaps = tail.gaps();
    assert!(gaps.count >= 1 && gaps.segments >= 1, "{gaps:?}");
    // What follows is in order and ends with everything logged after the truncation.
    assert!(rest.windows(2).all(|w| w[0] < w[1]), "{rest:?}");
    assert!(rest.ends_with(&(300..310).collect::<Vec<_>>()), "{rest:?}");
    wal.close().unwrap();
}

#[test]
fn a_tail_waits_for_a_directory_with_no_segments_yet() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    assert!(
        take(&mut tail, Duration::from_millis(30))
            .unwrap()
            .is_empty()
    );
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..4);
    assert_eq!(
        take_until(&mut tail, 4, Duration::from_secs(5)),
        [0, 1, 2, 3]
    );
    wal.close().unwrap();
}

#[test]
fn a_tail_of_a_damaged_fixture_delivers_what_a_read_only_read_does() {
    for case in cases() {
        let (_tmp, dir) = temp_copy_of_case(&case);
        let wal = Wal::open(
            &dir,
            Options {
                read_only: true,
                ..Options::default()
            },
        )
        .unwrap();
        let (want, summary) = read_dump(&wal).unwrap();
        wal.close().unwrap();
        let mut tail = Tail::open(&dir, None, Recovery::Truncate).unwrap();
        let mut got = String::new();
        let mut failed = None;
        for _ in 0..3 {
            let r = tail.next(Duration::from_millis(10), |_, e| {
                tswal::dump::write_entry(&mut got, e);
                ControlFlow::Continue(())
            });
            if let Err(e) = r {
                failed = Some(e);
                break;
            }
        }
        assert_eq!(got, want, "{case}");
        let damaged = summary.damage.iter().any(|d| !d.hole);
        assert_eq!(
            failed.is_some(),
            damaged,
            "{case}: {failed:?} vs {:?}",
            summary.damage
        );
        if let Some(e) = failed {
            assert!(matches!(e, Error::Corruption { .. }), "{case}: {e}");
        }
    }
}

/// Waiting is pushed: a tail blocked in `next` on an idle WAL wakes soon after a write.
#[test]
fn a_waiting_tail_wakes_when_the_writer_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    log_steps(&wal, 0..1);
    let dir: &Path = tmp.path();
    let mut tail = Tail::open(dir, None, Recovery::Truncate).unwrap();
    assert_eq!(take_until(&mut tail, 1, Duration::from_secs(5)), [0]);
    assert!(tail.pushed(), "inotify is available on Linux");
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            log_steps(&wal, 1..2);
        });
        // A generous wait: the write must end it, well before the limit.
        let got = take(&mut tail, Duration::from_secs(30)).unwrap();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1]);
    });
    wal.close().unwrap();
}

/// A waker ends a wait from another thread, so a tail waiting with a long timeout can be
/// stopped; a wake before a wait ends that wait, and never holds back entries.
#[test]
fn a_waker_ends_a_wait_from_another_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), small()).unwrap();
    let mut tail = Tail::open(tmp.path(), None, Recovery::Truncate).unwrap();
    let waker = tail.waker();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Longer than any test run: only the wake can end it.
            let got = take(&mut tail, Duration::from_secs(24 * 3600)).unwrap();
            done.send(got.len()).unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
        // A liveness guard, not a timing assertion: without the wake this never returns.
        let n = finished.recv_timeout(Duration::from_secs(60));
        assert_eq!(n, Ok(0), "the wake did not end the wait");
    });
    // Before a wait: entries are delivered first, then the wake ends the next wait.
    waker.wake();
    log_steps(&wal, 0..1);
    let got = take(&mut tail, Duration::from_secs(24 * 3600)).unwrap();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0]);
    assert!(
        take(&mut tail, Duration::from_secs(24 * 3600))
            .unwrap()
            .is_empty()
    );
    // A waker outlives its tail harmlessly.
    drop(tail);
    waker.wake();
    wal.close().unwrap();
}

const WRITER_ENV: &str = "TSWAL_TAIL_TEST_WRITER_DIR";
const RESTARTS: u64 = 4;
const STEPS_PER_RUN: u64 = 150;

/// The writer process of the test below: logs `STEPS_PER_RUN` steps per run, syncing
/// every 10 and closing at the end of each run, `RESTARTS` times (each reopen replays the
/// log and starts a new segment).
fn write_as_child(dir: &Path) {
    for run in 0..RESTARTS {
        let wal = Wal::open(dir, small()).unwrap();
        wal.read(|_| ControlFlow::Continue(())).unwrap();
        for i in run * STEPS_PER_RUN..(run + 1) * STEPS_PER_RUN {
            wal.log_samples(&step(i)).unwrap();
            if i % 10 == 9 {
                wal.sync().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        wal.close().unwrap();
    }
}

/// A writer in another process logs across many segment cuts and restarts; the tail is
/// stopped and reopened from its saved position every few entries. Everything arrives
/// exactly once, in order.
#[test]
fn a_tail_resumed_many_times_follows_a_writer_process_that_restarts() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        return write_as_child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    std::fs::create_dir(&dir).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_tail_resumed_many_times_follows_a_writer_process_that_restarts",
            "--nocapture",
        ])
        .env(WRITER_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the writer process");
    let total = (RESTARTS * STEPS_PER_RUN) as usize;
    let mut got: Vec<u64> = Vec::new();
    let mut at = None;
    let mut reopened = 0;
    let started = Instant::now();
    while got.len() < total && started.elapsed() < Duration::from_secs(120) {
        let mut tail = Tail::open(&dir, at, Recovery::Truncate).unwrap();
        // At most 7 entries, the callback stopping at the 8th (delivered again by the
        // next tail); then a new tail resumes where this one was.
        let mut taken = 0;
        let r = tail.next(Duration::from_millis(20), |_, e| {
            if taken == 7 {
                return ControlFlow::Break(());
            }
            if let Entry::Samples(s) = e {
                got.push(s[0].v as u64);
                taken += 1;
            }
            ControlFlow::Continue(())
        });
        assert!(matches!(r, Ok(_) | Err(Error::Aborted)), "{r:?}");
        assert_eq!(tail.gaps(), tswal::Gaps::default());
        at = Some(tail.position());
        reopened += 1;
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the writer process failed: {status}");
    assert_eq!(
        got,
        (0..total as u64).collect::<Vec<_>>(),
        "after {reopened} tails"
    );
    assert!(reopened > 10, "the tail was resumed {reopened} times");
    assert!(segment_names(&dir).len() > 10, "the writer cut segments");
}
