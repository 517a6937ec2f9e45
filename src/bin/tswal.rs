//! `tswal`: command-line companion of the library.
//!
//! - `tswal demo [DIR]` writes, replays and truncates a WAL, printing what happened
//!   (in a fresh temporary directory unless DIR is given).
//! - `tswal dump DIR` prints every entry of a WAL in the dump format, changing nothing
//!   (damage is reported on stderr, with a non-zero exit).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use tswal::{Entry, Label, Options, Sample, Series, Tombstone, Wal};

const USAGE: &str = "usage: tswal demo [DIR] | tswal dump DIR | tswal version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["demo"] => demo(None),
        ["demo", dir] => demo(Some(PathBuf::from(dir))),
        ["dump", dir] => dump(Path::new(dir)),
        ["version"] => {
            println!("tswal {}", tswal::VERSION);
            Ok(())
        }
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tswal: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dump(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // Read-only: a dump changes nothing, whatever it finds.
    let options = Options {
        read_only: true,
        ..Options::default()
    };
    let wal = Wal::open(dir, options)?;
    let mut out = String::new();
    let summary = wal.read(|e| {
        tswal::dump::write_entry(&mut out, e);
        ControlFlow::Continue(())
    })?;
    print!("{out}");
    for d in &summary.damage {
        eprintln!(
            "damage: {} at offset {}: {}",
            d.segment.display(),
            d.offset,
            d.reason
        );
    }
    wal.close()?;
    if summary.damage.is_empty() {
        Ok(())
    } else {
        Err("the WAL is damaged: the dump stops where a default read would".into())
    }
}

fn segment_files(dir: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.bytes().all(|b| b.is_ascii_digit()) {
            v.push((name, e.metadata()?.len()));
        }
    }
    v.sort();
    Ok(v)
}

fn show_segments(dir: &Path) -> std::io::Result<()> {
    let segs = segment_files(dir)?;
    let total: u64 = segs.iter().map(|s| s.1).sum();
    println!("  {} segment(s), {} bytes:", segs.len(), total);
    for (name, len) in segs {
        println!("    {name}  {len:>9} bytes");
    }
    Ok(())
}

/// The main job on a small default workload: write, replay, truncate.
fn demo(dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    const SERIES: u64 = 1_000;
    const ROUNDS: i64 = 200;
    let (dir, temporary) = match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("tswal-demo-{}", std::process::id())),
            true,
        ),
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let options = Options {
        segment_size: 1 << 20,
        ..Options::default()
    };
    println!("tswal {} demo in {}", tswal::VERSION, dir.display());

    // 1. Write.
    let started = Instant::now();
    let wal = Wal::open(&dir, options.clone())?;
    if wal.needs_read() {
        wal.read(|_| ControlFlow::Continue(()))?;
    }
    let names: Vec<(String, String)> = (0..SERIES)
        .map(|i| (format!("host-{}", i % 50), format!("{}", i)))
        .collect();
    for (i, (host, id)) in names.iter().enumerate() {
        let labels = [
            Label::new("__name__", "node_cpu_seconds_total"),
            Label::new("instance", host),
            Label::new("job", "node"),
            Label::new("cpu", id),
        ];
        wal.log_series(&[Series {
            series_ref: i as u64 + 1,
            labels: &labels,
        }])?;
    }
    let mut batch = Vec::with_capacity(SERIES as usize);
    for round in 0..ROUNDS {
        batch.clear();
        batch.extend((1..=SERIES).map(|r| Sample {
            series_ref: r,
            t: 1_700_000_000_000 + round * 15_000,
            v: (r as f64) * 0.5 + round as f64,
        }));
        wal.log_samples(&batch)?;
    }
    wal.log_deletes(&[Tombstone {
        series_ref: 7,
        mint: 0,
        maxt: 1_700_000_000_000,
    }])?;
    wal.sync()?;
    wal.close()?;
    let samples = SERIES * ROUNDS as u64;
    println!(
        "wrote {SERIES} series, {samples} samples in {ROUNDS} batches and 1 tombstone in {:.1} ms (synced, closed)",
        started.elapsed().as_secs_f64() * 1e3
    );
    show_segments(&dir)?;

    // 2. Replay.
    let started = Instant::now();
    let wal = Wal::open(&dir, options)?;
    let (mut max_t, mut sum) = (i64::MIN, 0.0);
    let summary = wal.read(|e| {
        if let Entry::Samples(s) = e {
            for x in s {
                max_t = max_t.max(x.t);
                sum += x.v;
            }
        }
        ControlFlow::Continue(())
    })?;
    println!(
        "replayed {} entries: {} series, {} samples, {} tombstones in {:.1} ms (newest t={max_t}, sum of values {sum})",
        summary.entries,
        summary.series,
        summary.samples,
        summary.tombstones,
        started.elapsed().as_secs_f64() * 1e3
    );

    // 3. Truncate: samples before the middle of the time range move "into a block";
    //    only even series stay alive.
    let mint = 1_700_000_000_000 + (ROUNDS / 2) * 15_000;
    let started = Instant::now();
    wal.truncate(mint, |r| r % 2 == 0)?;
    println!(
        "truncated before t={mint}, keeping even series, in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    show_segments(&dir)?;
    let mut after = (0u64, 0u64);
    wal.read(|e| {
        match e {
            Entry::Series(s) => after.0 += s.len() as u64,
            Entry::Samples(s) => after.1 += s.len() as u64,
            Entry::Deletes(_) => {}
        }
        ControlFlow::Continue(())
    })?;
    println!(
        "after truncation a replay delivers {} series and {} samples",
        after.0, after.1
    );
    wal.close()?;
    if temporary {
        std::fs::remove_dir_all(&dir)?;
        println!("removed {}", dir.display());
    }
    Ok(())
}
