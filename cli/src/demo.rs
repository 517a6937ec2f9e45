//! `tswal demo`: the main job on a small default workload: write, replay, truncate.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use tswal::{Entry, Label, Options, Sample, Series, Tombstone, Wal};

use crate::out::say;
use crate::verify::segment_files;
use crate::{Outcome, Result};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Where to write the WAL (a new or empty directory); without it, a temporary
    /// directory that is removed at the end
    dir: Option<PathBuf>,
    /// Add to the WAL already in DIR (a directory that is not empty is refused without it)
    #[arg(long)]
    append: bool,
}

pub(crate) fn run(args: DemoArgs) -> Result {
    if let Some(dir) = &args.dir {
        let empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(format!("open {}: {e}", dir.display()).into()),
        };
        if !empty && !args.append {
            return Err(format!(
                "{} is not empty: the demo writes only into a new or empty directory (or \
                 pass --append to add to the WAL in it)",
                dir.display()
            )
            .into());
        }
    }
    demo(args.dir)?;
    Ok(Outcome::Ok)
}

fn show_segments(dir: &Path) -> Result<()> {
    let segs = segment_files(dir)?;
    let total: u64 = segs.iter().map(|s| s.1).sum();
    say(format_args!(
        "  {} segment(s), {} bytes:",
        segs.len(),
        total
    ))?;
    for (name, len) in segs {
        say(format_args!("    {name}  {len:>9} bytes"))?;
    }
    Ok(())
}

/// The main job on a small default workload: write, replay, truncate.
fn demo(dir: Option<PathBuf>) -> Result<()> {
    const SERIES: u64 = 1_000;
    const ROUNDS: i64 = 200;
    // Without DIR: a new temporary directory, removed at the end.
    let (dir, temporary) = match dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("tswal-demo-")
                .tempdir()
                .map_err(|e| format!("create a temporary directory: {e}"))?;
            (t.path().join("wal"), Some(t))
        }
    };
    let options = Options {
        segment_size: 1 << 20,
        ..Options::default()
    };
    say(format_args!(
        "tswal {} demo in {}",
        tswal::VERSION,
        dir.display()
    ))?;

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
    say(format_args!(
        "wrote {SERIES} series, {samples} samples in {ROUNDS} batches and 1 tombstone in {:.1} ms (synced, closed)",
        started.elapsed().as_secs_f64() * 1e3
    ))?;
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
    say(format_args!(
        "replayed {} entries: {} series, {} samples, {} tombstones in {:.1} ms (newest t={max_t}, sum of values {sum})",
        summary.entries,
        summary.series,
        summary.samples,
        summary.tombstones,
        started.elapsed().as_secs_f64() * 1e3
    ))?;

    // 3. Truncate: samples before the middle of the time range move "into a block";
    //    only even series stay alive.
    let mint = 1_700_000_000_000 + (ROUNDS / 2) * 15_000;
    let started = Instant::now();
    wal.truncate(mint, |r| r % 2 == 0)?;
    say(format_args!(
        "truncated before t={mint}, keeping even series, in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    ))?;
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
    say(format_args!(
        "after truncation a replay delivers {} series and {} samples",
        after.0, after.1
    ))?;
    wal.close()?;
    if let Some(t) = temporary {
        let path = t.path().to_path_buf();
        t.close()
            .map_err(|e| format!("remove {}: {e}", path.display()))?;
        say(format_args!("removed {}", path.display()))?;
    }
    Ok(())
}
