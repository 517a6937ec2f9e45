//! The measured phases through the Rust API. Each runs in a child process of its own
//! (the bench binary re-executed with `--child ...`), so the peak RSS it reports belongs
//! to that phase alone. Results go to stdout as `key value` lines, the same protocol as
//! the C program's.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tswal::{Entry, Options, SyncMode, SyncSpin, Wal};

use crate::sys::{self, Rss};
use crate::workload::{self, SampleStream};

pub const USAGE: &str = "\
--child write    DIR SERIES ROUNDS SEGMENT_SIZE
--child replay   DIR SEGMENT_SIZE [TRUNCATE_MINT]
--child replay-cold DIR SEGMENT_SIZE   (drops the files from the page cache first)
--child durable  DIR SERIES ROUNDS SEGMENT_SIZE THREADS wal_sync|always|always_sleep
--child generate SERIES ROUNDS
--child tail-read DIR
--child tail-latency DIR flush|sync BATCHES
--child tail-idle DIR SECONDS";

/// Runs the phase `args` names (the words after `--child`).
pub fn main(args: &[String]) -> Result<(), String> {
    let num = |i: usize| -> Result<u64, String> {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad or missing argument {i} in {args:?}\n{USAGE}"))
    };
    let dir = || Path::new(args.get(1).map_or("", String::as_str));
    let result = match args.first().map(String::as_str) {
        Some("write") => write(dir(), num(2)?, num(3)?, num(4)?),
        Some("replay") => {
            let mint = args.get(3).map(|_| num(3)).transpose()?;
            replay(dir(), num(2)?, mint.map(|m| m as i64))
        }
        Some("replay-cold") => {
            let cached = sys::drop_from_page_cache(dir())
                .map_err(|e| format!("dropping {} from the page cache: {e}", dir().display()))?;
            report("cached_after_drop", cached);
            replay(dir(), num(2)?, None)
        }
        Some("durable") => {
            let mode = args.get(6).and_then(|m| DurableMode::parse(m));
            let mode = mode.ok_or_else(|| format!("bad or missing durable mode\n{USAGE}"))?;
            durable(dir(), num(2)?, num(3)?, num(4)?, num(5)? as usize, mode)
        }
        Some("generate") => generate(num(1)?, num(2)?),
        Some("tail-read") => crate::tail::read(dir()),
        Some("tail-latency") => {
            let how = args.get(2).and_then(|m| crate::tail::Handover::parse(m));
            let how = how.ok_or_else(|| format!("bad or missing handover\n{USAGE}"))?;
            crate::tail::latency(dir(), how, num(3)?)
        }
        Some("tail-idle") => crate::tail::idle(dir(), num(2)?),
        _ => return Err(USAGE.into()),
    };
    result.map_err(|e| format!("--child {}: {e}", args.join(" ")))
}

fn options(segment_size: u64) -> Options {
    Options {
        segment_size,
        ..Options::default()
    }
}

fn report(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

fn report_rss(rss: &Rss) {
    report("rss_base_kib", rss.base_kib);
    report("rss_peak_kib", rss.peak_kib());
}

/// Logs the series, then `rounds` rounds of samples in batches; times the log calls and
/// the sync after them.
fn write(dir: &Path, series: u64, rounds: u64, segment_size: u64) -> tswal::Result<()> {
    let rss = Rss::start();
    let wal = Wal::open(dir, options(segment_size))?;
    let mut stream = SampleStream::new(1..series + 1, rounds);
    let mut batch = Vec::with_capacity(workload::BATCH);

    let start = Instant::now();
    workload::log_all_series(&wal, series)?;
    while stream.next_batch(&mut batch) {
        wal.log_samples(&batch)?;
    }
    let write = start.elapsed();
    wal.sync()?;
    let write_sync = start.elapsed();
    let closing = Instant::now();
    wal.close()?;
    let close = closing.elapsed();

    report("write_s", write.as_secs_f64());
    report("write_sync_s", write_sync.as_secs_f64());
    report("close_s", close.as_secs_f64());
    report("samples", series * rounds);
    report_rss(&rss);
    Ok(())
}

/// What the replay callback computes from every entry, so that no work can be skipped;
/// the driver compares it between the Rust and the C replay.
#[derive(Default)]
struct Checksum {
    series: u64,
    label_bytes: u64,
    samples: u64,
    value_sum: f64,
    max_t: i64,
}

/// Opens and reads the WAL in `dir`; then, if `mint` is given, truncates it there.
fn replay(dir: &Path, segment_size: u64, mint: Option<i64>) -> tswal::Result<()> {
    let rss = Rss::start();
    let opening = Instant::now();
    let wal = Wal::open(dir, options(segment_size))?;
    let open = opening.elapsed();

    let mut sum = Checksum {
        max_t: i64::MIN,
        ..Checksum::default()
    };
    let start = Instant::now();
    wal.read(|entry| {
        match entry {
            Entry::Series(series) => {
                sum.series += series.len() as u64;
                for s in series {
                    for l in s.labels {
                        sum.label_bytes += (l.name.len() + l.value.len()) as u64;
                    }
                }
            }
            Entry::Samples(samples) => {
                // Locals, not fields: stores through the captured reference would make
                // each addition wait for the last one's store (they may alias `samples`
                // as far as the compiler knows), and the bench would time the callback.
                let (mut value_sum, mut max_t) = (sum.value_sum, sum.max_t);
                for s in samples {
                    value_sum += s.v;
                    max_t = max_t.max(s.t);
                }
                sum.samples += samples.len() as u64;
                (sum.value_sum, sum.max_t) = (value_sum, max_t);
            }
            Entry::Deletes(_) => {}
        }
        ControlFlow::Continue(())
    })?;
    let read = start.elapsed();
    // Before truncation, which writes and is not part of the replay.
    let peak = rss.peak_kib();

    report("open_s", open.as_secs_f64());
    report("read_s", read.as_secs_f64());
    report("series", sum.series);
    report("label_bytes", sum.label_bytes);
    report("samples", sum.samples);
    report("value_sum", sum.value_sum);
    report("max_t", sum.max_t);
    report("rss_base_kib", rss.base_kib);
    report("rss_peak_kib", peak);

    if let Some(mint) = mint {
        let (segments, bytes) = sys::segment_files(dir);
        report("segments_before", segments);
        report("bytes_before", bytes);
        let start = Instant::now();
        wal.truncate(mint, |_| true)?;
        report("truncate_s", start.elapsed().as_secs_f64());
        let (segments, bytes) = sys::segment_files(dir);
        report("segments_after", segments);
        report("bytes_after", bytes);
    }
    wal.close()
}

/// How the durable phase makes each batch durable before logging the next.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DurableMode {
    /// `SyncMode::None`, and `Wal::sync` after every `log_samples`.
    SyncCall,
    /// `SyncMode::Always`: each `log_samples` returns once its entry is fdatasynced.
    Always,
    /// `SyncMode::Always` with `SyncSpin::Off`: waiters sleep at once.
    AlwaysSleep,
}

impl DurableMode {
    pub const ALL: [DurableMode; 3] = [
        DurableMode::SyncCall,
        DurableMode::Always,
        DurableMode::AlwaysSleep,
    ];

    /// The word on the child's command line, also used in JSON keys.
    pub fn arg(self) -> &'static str {
        match self {
            DurableMode::SyncCall => "wal_sync",
            DurableMode::Always => "always",
            DurableMode::AlwaysSleep => "always_sleep",
        }
    }

    fn parse(s: &str) -> Option<DurableMode> {
        DurableMode::ALL.into_iter().find(|m| m.arg() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            DurableMode::SyncCall => "wal_sync after every batch",
            DurableMode::Always => "SyncMode::Always",
            DurableMode::AlwaysSleep => "SyncMode::Always, SyncSpin::Off",
        }
    }

    /// What the latency percentiles time.
    pub fn timed_call(self) -> &'static str {
        match self {
            DurableMode::SyncCall => "the wal_sync call after each log_samples",
            DurableMode::Always | DurableMode::AlwaysSleep => "each log_samples call",
        }
    }
}

/// Logs the samples of `rounds` rounds, each batch durable before the next, from
/// `threads` threads sharing one handle, each with its own slice of the series. Reports
/// the fsyncs the handle made meanwhile (from `Wal::stats`).
fn durable(
    dir: &Path,
    series: u64,
    rounds: u64,
    segment_size: u64,
    threads: usize,
    mode: DurableMode,
) -> tswal::Result<()> {
    let (sync, sync_spin) = match mode {
        DurableMode::SyncCall => (SyncMode::None, SyncSpin::Auto),
        DurableMode::Always => (SyncMode::Always, SyncSpin::Auto),
        DurableMode::AlwaysSleep => (SyncMode::Always, SyncSpin::Off),
    };
    let wal = Wal::open(
        dir,
        Options {
            sync,
            sync_spin,
            ..options(segment_size)
        },
    )?;
    workload::log_all_series(&wal, series)?;
    wal.sync()?;

    let latencies = Mutex::new(Vec::new());
    let writer = |refs: std::ops::Range<u64>| -> tswal::Result<()> {
        let mut stream = SampleStream::new(refs, rounds);
        let mut batch = Vec::with_capacity(workload::BATCH);
        let mut mine = Vec::new();
        while stream.next_batch(&mut batch) {
            match mode {
                DurableMode::SyncCall => {
                    wal.log_samples(&batch)?;
                    let syncing = Instant::now();
                    wal.sync()?;
                    mine.push(syncing.elapsed());
                }
                DurableMode::Always | DurableMode::AlwaysSleep => {
                    let logging = Instant::now();
                    wal.log_samples(&batch)?;
                    mine.push(logging.elapsed());
                }
            }
        }
        latencies.lock().unwrap().extend(mine);
        Ok(())
    };
    let threads = threads.max(1) as u64;
    let before = wal.stats()?;
    let cpu_before = sys::cpu_time();
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                // Thread i owns refs [lo, hi): the i-th slice of 1..=series.
                let lo = 1 + series * i / threads;
                let hi = 1 + series * (i + 1) / threads;
                s.spawn(move || writer(lo..hi))
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("a durable writer thread panicked"))
    })?;
    let elapsed = start.elapsed();
    let cpu = sys::cpu_time().saturating_sub(cpu_before);
    let after = wal.stats()?;
    wal.close()?;

    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    let entries = after.entries_written - before.entries_written;
    let samples = after.samples_written - before.samples_written;
    let pct = |p: f64| -> f64 {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        lat.get(i).copied().unwrap_or(Duration::ZERO).as_secs_f64() * 1e3
    };
    report("time_s", elapsed.as_secs_f64());
    report("cpu_s", cpu.as_secs_f64());
    report("samples", samples);
    report("entries", entries);
    // The driver checks these against `entries` and `samples`.
    report("timed_calls", lat.len());
    report("samples_logged", series * rounds);
    report("fsyncs", after.fsyncs - before.fsyncs);
    report(
        "fsync_s",
        (after.fsync_time - before.fsync_time).as_secs_f64(),
    );
    report("latency_p50_ms", pct(0.50));
    report("latency_p99_ms", pct(0.99));
    report("latency_max_ms", pct(1.0));
    Ok(())
}

/// Generates the workload without logging it: the share of the write timings that is
/// the generator's, not the WAL's.
fn generate(series: u64, rounds: u64) -> tswal::Result<()> {
    let mut stream = SampleStream::new(1..series + 1, rounds);
    let mut labels = workload::SeriesBatch::default();
    let mut batch = Vec::with_capacity(workload::BATCH);
    let start = Instant::now();
    let mut first = 1;
    while first <= series {
        let end = (first + workload::SERIES_PER_ENTRY).min(series + 1);
        labels.fill(first..end);
        std::hint::black_box(&labels);
        first = end;
    }
    while stream.next_batch(&mut batch) {
        std::hint::black_box(&batch);
    }
    report("time_s", start.elapsed().as_secs_f64());
    report("samples", series * rounds);
    Ok(())
}
