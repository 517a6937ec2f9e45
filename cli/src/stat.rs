//! `tswal stat`: what each segment holds, totals, and what quarantine holds (read-only).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Args;
use tswal::{Entry, Options, Wal};

use crate::out::{self, json_string};
use crate::verify::segment_files;
use crate::{Outcome, Result};

#[derive(Args)]
pub(crate) struct StatArgs {
    /// The WAL directory
    dir: PathBuf,
    /// Print the statistics as one JSON object
    #[arg(long)]
    json: bool,
}

/// What one segment (or the whole log) holds.
#[derive(Clone, Copy)]
struct Counts {
    bytes: u64,
    series_entries: u64,
    samples_entries: u64,
    deletes_entries: u64,
    series: u64,
    samples: u64,
    tombstones: u64,
    /// Oldest and newest sample timestamps.
    first: i64,
    last: i64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            bytes: 0,
            series_entries: 0,
            samples_entries: 0,
            deletes_entries: 0,
            series: 0,
            samples: 0,
            tombstones: 0,
            first: i64::MAX,
            last: i64::MIN,
        }
    }
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.bytes += o.bytes;
        self.series_entries += o.series_entries;
        self.samples_entries += o.samples_entries;
        self.deletes_entries += o.deletes_entries;
        self.series += o.series;
        self.samples += o.samples;
        self.tombstones += o.tombstones;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }

    fn range(&self) -> Option<(i64, i64)> {
        (self.first <= self.last).then_some((self.first, self.last))
    }
}

pub(crate) fn run(args: StatArgs) -> Result {
    let options = Options {
        read_only: true,
        ..Options::default()
    };
    let wal = Wal::open(&args.dir, options)?;
    let mut segments: BTreeMap<String, Counts> = BTreeMap::new();
    for (name, bytes) in segment_files(&args.dir)? {
        segments.entry(name).or_default().bytes = bytes;
    }
    let mut refs = HashSet::new();
    let summary = wal.read_with_positions(|at, entry| {
        let c = segments.entry(format!("{:06}", at.segment)).or_default();
        match entry {
            Entry::Series(s) => {
                c.series_entries += 1;
                c.series += s.len() as u64;
                refs.extend(s.iter().map(|s| s.series_ref));
            }
            Entry::Samples(s) => {
                c.samples_entries += 1;
                c.samples += s.len() as u64;
                for x in s {
                    c.first = c.first.min(x.t);
                    c.last = c.last.max(x.t);
                }
            }
            Entry::Deletes(d) => {
                c.deletes_entries += 1;
                c.tombstones += d.len() as u64;
            }
        }
        ControlFlow::Continue(())
    })?;
    let mut total = Counts::default();
    for c in segments.values() {
        total.add(c);
    }
    let folders = tswal::quarantine::list(&args.dir)?;
    let report = if args.json {
        json(&args, &segments, &total, refs.len(), &folders)
    } else {
        text(&segments, &total, refs.len(), &folders)
    };
    out::print(&report)?;
    out::report_damage(&summary.damage);
    Ok(if summary.damage.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

fn text(
    segments: &BTreeMap<String, Counts>,
    total: &Counts,
    distinct: usize,
    folders: &[tswal::quarantine::Folder],
) -> String {
    let mut out = String::new();
    for (name, c) in segments {
        let _ = write!(
            out,
            "{name}  {:>12} bytes  {} series, {} samples, {} tombstones in {} + {} + {} \
             entries",
            c.bytes,
            c.series,
            c.samples,
            c.tombstones,
            c.series_entries,
            c.samples_entries,
            c.deletes_entries
        );
        if let Some((a, b)) = c.range() {
            let _ = write!(out, ", t {a} to {b}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{} segment(s), {} bytes; {} series ({distinct} distinct refs), {} samples, {} \
         tombstones",
        segments.len(),
        total.bytes,
        total.series,
        total.samples,
        total.tombstones
    );
    match total.range() {
        Some((a, b)) => {
            let _ = writeln!(out, "samples from t={a} to t={b}");
        }
        None => out.push_str("no samples\n"),
    }
    if total.samples > 0 {
        let _ = writeln!(
            out,
            "{:.2} bytes per sample (series included)",
            total.bytes as f64 / total.samples as f64
        );
    }
    let bytes: u64 = folders.iter().map(|f| f.bytes()).sum();
    let interrupted = folders.iter().filter(|f| !f.completed).count();
    let _ = write!(
        out,
        "quarantine: {} repair folder(s), {bytes} bytes",
        folders.len()
    );
    if interrupted > 0 {
        let _ = write!(out, " ({interrupted} from interrupted repairs)");
    }
    out.push('\n');
    out
}

fn json(
    args: &StatArgs,
    segments: &BTreeMap<String, Counts>,
    total: &Counts,
    distinct: usize,
    folders: &[tswal::quarantine::Folder],
) -> String {
    let counts = |out: &mut String, c: &Counts| {
        let _ = write!(
            out,
            "\"bytes\":{},\"series_entries\":{},\"series\":{},\"samples_entries\":{},\
             \"samples\":{},\"deletes_entries\":{},\"tombstones\":{},",
            c.bytes,
            c.series_entries,
            c.series,
            c.samples_entries,
            c.samples,
            c.deletes_entries,
            c.tombstones
        );
        match c.range() {
            Some((a, b)) => {
                let _ = write!(out, "\"first_t\":{a},\"last_t\":{b}");
            }
            None => out.push_str("\"first_t\":null,\"last_t\":null"),
        }
    };
    let mut out = String::from("{\"dir\":");
    json_string(&mut out, args.dir.as_os_str().as_encoded_bytes());
    out.push_str(",\"segments\":[");
    for (i, (name, c)) in segments.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"name\":\"{name}\",");
        counts(&mut out, c);
        out.push('}');
    }
    out.push_str("],\"total\":{");
    counts(&mut out, total);
    let _ = write!(out, ",\"distinct_series\":{distinct}");
    if total.samples > 0 {
        let _ = write!(
            out,
            ",\"bytes_per_sample\":{}",
            total.bytes as f64 / total.samples as f64
        );
    }
    out.push_str("},\"quarantine\":[");
    for (i, f) in folders.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"folder\":");
        json_string(&mut out, out::name(&f.path).as_bytes());
        let _ = write!(
            out,
            ",\"completed\":{},\"files\":{},\"bytes\":{}}}",
            f.completed,
            f.files.len(),
            f.bytes()
        );
    }
    out.push_str("]}\n");
    out
}
