//! `tswal repair`: the only command that changes a WAL. It takes the directory's lock
//! (refused while a writer holds it), opens and reads the WAL in the chosen mode, and
//! says what the repair did, including what went to quarantine. With `--dry-run` it
//! reads read-only and says what a repair would do.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use clap::Args;
use tswal::{Damaged, Error, Options, Recovery, Repair, Wal};

use crate::out;
use crate::verify::segment_files;
use crate::{Mode, Outcome, Result};

#[derive(Args)]
pub(crate) struct RepairArgs {
    /// The WAL directory
    dir: PathBuf,
    /// truncate: the reference's repair (keep the entries before the first damage; the
    /// rest of the log goes to quarantine); salvage: keep every valid entry (only the
    /// damaged bytes go, in the original segments, to quarantine)
    #[arg(long, value_enum)]
    recovery: Mode,
    /// Only say what a repair would do; change nothing
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(args: RepairArgs) -> Result {
    let recovery = args.recovery.recovery();
    if args.dry_run {
        return dry_run(&args.dir, recovery);
    }
    // A read-write open would create a missing directory: repair only what exists.
    if let Err(e) = std::fs::metadata(&args.dir) {
        return Err(format!("open WAL directory {}: {e}", args.dir.display()).into());
    }
    let options = Options {
        recovery,
        ..Options::default()
    };
    let wal = Wal::open(&args.dir, options).map_err(|e| match e {
        Error::Locked { .. } => {
            format!("{e}: a writer has it open; stop it first (repair needs the WAL to itself)")
                .into()
        }
        e => crate::Failure::from(e),
    })?;
    let summary = wal.read(|_| ControlFlow::Continue(()))?;
    let mut report = String::new();
    let repairs: Vec<Repair> = wal
        .open_repair()
        .into_iter()
        .chain(&summary.repair)
        .cloned()
        .collect();
    for r in &repairs {
        describe_repair(&mut report, r);
    }
    for d in summary.damage.iter().filter(|d| d.hole) {
        let _ = writeln!(report, "{}", out::damage_line(d));
    }
    if repairs.is_empty() {
        let _ = writeln!(report, "{}: no damage to repair", args.dir.display());
    }
    let st = wal.stats()?;
    wal.close()?;
    if !repairs.is_empty() {
        let _ = writeln!(
            report,
            "the log now holds {} entries ({} series, {} samples, {} tombstones) in {} \
             segment(s)",
            summary.entries, summary.series, summary.samples, summary.tombstones, st.segments
        );
    }
    out::print(&report)?;
    Ok(Outcome::Ok)
}

fn describe_repair(out: &mut String, r: &Repair) {
    let _ = writeln!(
        out,
        "repaired: segment {} at offset {}: {}",
        out::name(&r.segment),
        r.offset,
        r.reason
    );
    for s in &r.removed_segments {
        let _ = writeln!(out, "  took out segment {}", out::name(s));
    }
    let _ = writeln!(
        out,
        "  dropped {} ({} bytes) from the log, in {} damaged region(s)",
        out::count(r.dropped_entries, "entry", "entries"),
        r.dropped_bytes,
        r.damaged_regions
    );
    match &r.quarantine {
        Some(q) => {
            let _ = writeln!(
                out,
                "  kept in quarantine: {} ({} bytes)",
                q.display(),
                r.quarantined_bytes
            );
        }
        None => out.push_str("  deleted (quarantine off)\n"),
    }
}

/// Reads read-only in `recovery`'s mode and says what a repair would do.
fn dry_run(dir: &Path, recovery: Recovery) -> Result {
    let options = Options {
        read_only: true,
        recovery,
        ..Options::default()
    };
    let wal = Wal::open(dir, options)?;
    let summary = wal.read(|_| ControlFlow::Continue(()))?;
    let mut report = String::new();
    let damage: Vec<&Damaged> = summary.damage.iter().filter(|d| !d.hole).collect();
    for d in &summary.damage {
        let _ = writeln!(report, "{}", out::damage_line(d));
    }
    if damage.is_empty() {
        let _ = writeln!(report, "{}: no damage to repair", dir.display());
        out::print(&report)?;
        return Ok(Outcome::Ok);
    }
    report.push_str("a repair would:\n");
    match recovery {
        Recovery::Salvage => {
            let mut rewritten: Vec<String> = damage.iter().map(|d| out::name(&d.segment)).collect();
            rewritten.dedup();
            for name in rewritten {
                let _ = writeln!(
                    report,
                    "  rewrite segment {name} without its damaged bytes (the original to \
                     quarantine)"
                );
            }
        }
        _ => {
            let first = damage[0];
            let name = out::name(&first.segment);
            if first.offset == 0 {
                let _ = writeln!(report, "  take out segment {name} (its header is damaged)");
            } else {
                let _ = writeln!(
                    report,
                    "  cut segment {name} at offset {} ({} bytes after it to quarantine)",
                    first.offset, first.len
                );
            }
            let seq = |n: &str| n.parse::<u64>().unwrap_or(0);
            let after = |n: &String| seq(n) > seq(&name);
            for (later, bytes) in segment_files(dir)?.into_iter().filter(|(n, _)| after(n)) {
                let _ = writeln!(report, "  take out segment {later} ({bytes} bytes)");
            }
        }
    }
    let _ = writeln!(
        report,
        "the log would hold {} entries ({} series, {} samples, {} tombstones); nothing was \
         changed",
        summary.entries, summary.series, summary.samples, summary.tombstones
    );
    out::print(&report)?;
    Ok(Outcome::Damaged)
}
