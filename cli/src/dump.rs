//! `tswal dump`: the entries of a WAL, streamed to stdout as the read delivers them.

use std::fmt::Write as _;
use std::io;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tswal::{Entry, Options, Position, Wal};

use crate::out::{self, Out, Time};
use crate::{Mode, Outcome, Result};

#[derive(Args)]
pub(crate) struct DumpArgs {
    /// The WAL directory
    dir: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Show where each entry is: its segment and offset
    #[arg(long)]
    positions: bool,
    /// Only entries of this type (repeat for several)
    #[arg(long = "type", value_enum)]
    types: Vec<Kind>,
    /// Only the series, samples and tombstones of this series ref (repeat for several)
    #[arg(long = "ref", value_name = "N")]
    refs: Vec<u64>,
    /// How timestamps are written (text format)
    #[arg(long, value_enum, default_value_t = Time::Ms)]
    time: Time,
    /// What the read delivers past damage: truncate (default, the entries before the
    /// first damage, as a default open would keep) or salvage (every valid entry)
    #[arg(long, value_enum, default_value_t = Mode::Truncate)]
    recovery: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people: one line per series, sample or tombstone
    Text,
    /// One JSON object per entry per line (type, segment, offset, items)
    Json,
    /// The fixtures' dump format: blocks per entry, values as IEEE-754 bits
    Canonical,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Series,
    Samples,
    Deletes,
}

impl DumpArgs {
    fn wants(&self, kind: Kind) -> bool {
        self.types.is_empty() || self.types.contains(&kind)
    }

    fn wants_ref(&self, r: u64) -> bool {
        self.refs.is_empty() || self.refs.contains(&r)
    }
}

pub(crate) fn run(args: DumpArgs) -> Result {
    let options = Options {
        read_only: true,
        recovery: args.recovery.recovery(),
        ..Options::default()
    };
    let wal = Wal::open(&args.dir, options)?;
    let mut out = Out::new();
    let mut text = String::new();
    let mut failed: Option<io::Error> = None;
    let read = wal.read_with_positions(|at, entry| {
        text.clear();
        render(&args, at, entry, &mut text);
        match out.put(&text) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    let flushed = out.flush();
    if let Some(e) = failed.or(flushed.err()) {
        return Err(format!("writing to stdout: {e}").into());
    }
    let summary = read?;
    out::report_damage(&summary.damage);
    Ok(if summary.damage.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// Appends what `args` asks to show of one entry.
fn render(args: &DumpArgs, at: Position, entry: Entry<'_>, out: &mut String) {
    let kind = match entry {
        Entry::Series(_) => Kind::Series,
        Entry::Samples(_) => Kind::Samples,
        Entry::Deletes(_) => Kind::Deletes,
    };
    if !args.wants(kind) {
        return;
    }
    match args.format {
        Format::Text => text(args, at, entry, out),
        Format::Json => json(args, at, entry, out),
        Format::Canonical => canonical(args, at, entry, out),
    }
}

fn segment_name(at: Position) -> String {
    format!("{:06}", at.segment)
}

fn text(args: &DumpArgs, at: Position, entry: Entry<'_>, out: &mut String) {
    let position = |out: &mut String| {
        if args.positions {
            let _ = write!(out, "{}:{} ", segment_name(at), at.offset);
        }
    };
    match entry {
        Entry::Series(series) => {
            for s in series.iter().filter(|s| args.wants_ref(s.series_ref)) {
                position(out);
                let _ = write!(out, "series {} ", s.series_ref);
                out::labels(out, s.labels);
                out.push('\n');
            }
        }
        Entry::Samples(samples) => {
            for s in samples.iter().filter(|s| args.wants_ref(s.series_ref)) {
                position(out);
                let _ = write!(out, "sample {} ", s.series_ref);
                out::time(out, s.t, args.time);
                out.push(' ');
                out::value(out, s.v);
                out.push('\n');
            }
        }
        Entry::Deletes(tombstones) => {
            for d in tombstones.iter().filter(|d| args.wants_ref(d.series_ref)) {
                position(out);
                let _ = write!(out, "delete {} ", d.series_ref);
                out::time(out, d.mint, args.time);
                out.push(' ');
                out::time(out, d.maxt, args.time);
                out.push('\n');
            }
        }
    }
}

fn json(args: &DumpArgs, at: Position, entry: Entry<'_>, out: &mut String) {
    let start = out.len();
    let (kind, mut items) = (
        match entry {
            Entry::Series(_) => "series",
            Entry::Samples(_) => "samples",
            Entry::Deletes(_) => "deletes",
        },
        0,
    );
    let _ = write!(
        out,
        "{{\"type\":\"{kind}\",\"segment\":\"{}\",\"offset\":{},\"items\":[",
        segment_name(at),
        at.offset
    );
    let mut sep = |out: &mut String| {
        if items > 0 {
            out.push(',');
        }
        items += 1;
    };
    match entry {
        Entry::Series(series) => {
            for s in series.iter().filter(|s| args.wants_ref(s.series_ref)) {
                sep(out);
                let _ = write!(out, "{{\"ref\":{},\"labels\":{{", s.series_ref);
                for (i, l) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out::json_string(out, l.name);
                    out.push(':');
                    out::json_string(out, l.value);
                }
                out.push_str("}}");
            }
        }
        Entry::Samples(samples) => {
            for s in samples.iter().filter(|s| args.wants_ref(s.series_ref)) {
                sep(out);
                let _ = write!(out, "{{\"ref\":{},\"t\":{},\"v\":", s.series_ref, s.t);
                out::json_value(out, s.v);
                out.push('}');
            }
        }
        Entry::Deletes(tombstones) => {
            for d in tombstones.iter().filter(|d| args.wants_ref(d.series_ref)) {
                sep(out);
                let _ = write!(
                    out,
                    "{{\"ref\":{},\"mint\":{},\"maxt\":{}}}",
                    d.series_ref, d.mint, d.maxt
                );
            }
        }
    }
    if items == 0 && !args.refs.is_empty() {
        out.truncate(start);
        return;
    }
    out.push_str("]}\n");
}

fn canonical(args: &DumpArgs, at: Position, entry: Entry<'_>, out: &mut String) {
    if !args.refs.is_empty() {
        return canonical_filtered(args, at, entry, out);
    }
    if args.positions {
        let _ = writeln!(out, "# {}:{}", segment_name(at), at.offset);
    }
    tswal::dump::write_entry(out, entry);
}

/// The canonical block of an entry with only the items of the chosen refs (none if it
/// has none of them).
fn canonical_filtered(args: &DumpArgs, at: Position, entry: Entry<'_>, out: &mut String) {
    let keep = |r: u64| args.wants_ref(r);
    let series: Vec<_>;
    let samples: Vec<_>;
    let tombstones: Vec<_>;
    let kept = match entry {
        Entry::Series(s) => {
            series = s.iter().filter(|s| keep(s.series_ref)).copied().collect();
            Entry::Series(&series)
        }
        Entry::Samples(s) => {
            samples = s.iter().filter(|s| keep(s.series_ref)).copied().collect();
            Entry::Samples(&samples)
        }
        Entry::Deletes(d) => {
            tombstones = d.iter().filter(|d| keep(d.series_ref)).copied().collect();
            Entry::Deletes(&tombstones)
        }
    };
    let empty = match kept {
        Entry::Series(s) => s.is_empty(),
        Entry::Samples(s) => s.is_empty(),
        Entry::Deletes(d) => d.is_empty(),
    };
    if empty {
        return;
    }
    if args.positions {
        let _ = writeln!(out, "# {}:{}", segment_name(at), at.offset);
    }
    tswal::dump::write_entry(out, kept);
}
