//! The tail phases (children, like `child`'s): a tail reading a whole WAL, the time from
//! a write to its delivery to a tail, and the CPU time of a tail waiting on an idle WAL.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tswal::{Entry, Options, Recovery, Sample, Tail, Wal};

use crate::sys::{self, Rss};

fn report(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

/// A tail reads the WAL in `dir` from its start to its end.
pub fn read(dir: &Path) -> tswal::Result<()> {
    let rss = Rss::start();
    let start = Instant::now();
    let mut tail = Tail::open(dir, None, Recovery::Truncate)?;
    let (mut samples, mut entries) = (0u64, 0u64);
    loop {
        let n = tail.next(Duration::ZERO, |_, e| {
            if let Entry::Samples(s) = e {
                samples += s.len() as u64;
            }
            ControlFlow::Continue(())
        })?;
        if n == 0 {
            break;
        }
        entries += n;
    }
    report("read_s", start.elapsed().as_secs_f64());
    report("entries", entries);
    report("samples", samples);
    report("rss_base_kib", rss.base_kib);
    report("rss_peak_kib", rss.peak_kib());
    Ok(())
}

/// How the writer of the latency phase makes its batches visible to the tail.
#[derive(Clone, Copy)]
pub enum Handover {
    /// Its background flush, every 10 ms.
    Flush,
    /// `wal_sync` after each batch.
    Sync,
}

impl Handover {
    pub fn parse(s: &str) -> Option<Handover> {
        match s {
            "flush" => Some(Handover::Flush),
            "sync" => Some(Handover::Sync),
            _ => None,
        }
    }
}

/// A writer logs `batches` batches of 1,000 samples, one every 2 ms, into `dir`; a tail
/// in another thread reports, for each batch, the time from the writer's log call to the
/// tail delivering the batch.
pub fn latency(dir: &Path, handover: Handover, batches: u64) -> tswal::Result<()> {
    let options = Options {
        segment_size: 64 << 20,
        flush_interval: matches!(handover, Handover::Flush).then(|| Duration::from_millis(10)),
        ..Options::default()
    };
    let wal = Wal::open(dir, options)?;
    wal.read(|_| ControlFlow::Continue(()))?;
    let sent: Mutex<Vec<Option<Instant>>> = Mutex::new(vec![None; batches as usize]);
    let mut delays = Vec::with_capacity(batches as usize);
    let mut tail = Tail::open(dir, None, Recovery::Truncate)?;
    std::thread::scope(|s| -> tswal::Result<()> {
        let writer = s.spawn(|| -> tswal::Result<()> {
            let mut batch = vec![
                Sample {
                    series_ref: 1,
                    t: 0,
                    v: 0.0
                };
                1000
            ];
            for i in 0..batches {
                for (k, x) in batch.iter_mut().enumerate() {
                    *x = Sample {
                        series_ref: k as u64 + 1,
                        t: i as i64,
                        v: k as f64,
                    };
                }
                if let Ok(mut sent) = sent.lock() {
                    sent[i as usize] = Some(Instant::now());
                }
                wal.log_samples(&batch)?;
                if matches!(handover, Handover::Sync) {
                    wal.sync()?;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(())
        });
        let deadline = Instant::now() + Duration::from_secs(60 + batches / 100);
        while (delays.len() as u64) < batches && Instant::now() < deadline {
            tail.next(Duration::from_millis(100), |_, e| {
                if let Entry::Samples(s) = e {
                    let at = Instant::now();
                    let i = s[0].t as usize;
                    let from = sent.lock().ok().and_then(|sent| sent[i]).unwrap_or(at);
                    delays.push(at.saturating_duration_since(from));
                }
                ControlFlow::Continue(())
            })?;
        }
        writer.join().unwrap_or(Ok(()))
    })?;
    wal.close()?;
    delays.sort();
    let pct = |p: f64| {
        let i = ((delays.len() as f64 - 1.0) * p).round() as usize;
        delays.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    report("batches", batches);
    report("delivered", delays.len());
    report("p50_ms", pct(0.5));
    report("p99_ms", pct(0.99));
    report("max_ms", pct(1.0));
    Ok(())
}

/// A tail waits on an idle WAL in `dir` for `seconds`: the process's CPU time meanwhile.
pub fn idle(dir: &Path, seconds: u64) -> tswal::Result<()> {
    let mut tail = Tail::open(dir, None, Recovery::Truncate)?;
    // First deliver what is there, then wait.
    while tail.next(Duration::ZERO, |_, _| ControlFlow::Continue(()))? > 0 {}
    let (cpu0, start) = (sys::cpu_time(), Instant::now());
    let period = Duration::from_secs(seconds);
    while start.elapsed() < period {
        tail.next(period - start.elapsed().min(period), |_, _| {
            ControlFlow::Continue(())
        })?;
    }
    report("idle_s", start.elapsed().as_secs_f64());
    report("cpu_s", (sys::cpu_time() - cpu0).as_secs_f64());
    report("pushed", u8::from(tail.pushed()));
    Ok(())
}
