//! `tswal verify`: every segment's header and every entry's checksum and decoding,
//! read-only, with a summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Args;
use tswal::{Damaged, Options, Recovery, Wal};

use crate::out::{self, json_string};
use crate::{Outcome, Result};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The WAL directory
    dir: PathBuf,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
}

/// One segment as verified.
#[derive(Default)]
struct Checked {
    bytes: u64,
    entries: u64,
    damage: Vec<Damaged>,
}

pub(crate) fn run(args: VerifyArgs) -> Result {
    // Salvage reads past every damaged region, so that every entry is checked.
    let options = Options {
        read_only: true,
        recovery: Recovery::Salvage,
        ..Options::default()
    };
    let wal = Wal::open(&args.dir, options)?;
    let mut segments: BTreeMap<String, Checked> = BTreeMap::new();
    for (name, bytes) in segment_files(&args.dir)? {
        segments.entry(name).or_default().bytes = bytes;
    }
    let summary = wal.read_with_positions(|at, _| {
        segments
            .entry(format!("{:06}", at.segment))
            .or_default()
            .entries += 1;
        ControlFlow::Continue(())
    })?;
    for d in &summary.damage {
        segments
            .entry(out::name(&d.segment))
            .or_default()
            .damage
            .push(d.clone());
    }
    let report = if args.json {
        json(&args, &segments, summary.entries)
    } else {
        text(&segments, summary.entries)
    };
    out::print(&report)?;
    Ok(if summary.damage.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Damaged
    })
}

/// Segment-named files and their sizes (the read names the rest).
pub(crate) fn segment_files(dir: &std::path::Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    let list = std::fs::read_dir(dir).map_err(|e| format!("list {}: {e}", dir.display()))?;
    for e in list {
        let e = e.map_err(|e| format!("list {}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            let len = std::fs::metadata(e.path()).map_or(0, |m| m.len());
            files.push((name, len));
        }
    }
    files.sort();
    Ok(files)
}

fn totals(segments: &BTreeMap<String, Checked>) -> (u64, u64, u64) {
    let regions = segments.values().map(|s| s.damage.len() as u64).sum();
    let bytes = segments
        .values()
        .flat_map(|s| &s.damage)
        .map(|d| d.len)
        .sum();
    let damaged = segments.values().filter(|s| !s.damage.is_empty()).count() as u64;
    (regions, bytes, damaged)
}

fn text(segments: &BTreeMap<String, Checked>, entries: u64) -> String {
    let mut out = String::new();
    for (name, s) in segments {
        let _ = write!(
            out,
            "{name}  {:>12} bytes  {:>9} entries  ",
            s.bytes, s.entries
        );
        if s.damage.is_empty() {
            out.push_str("ok\n");
            continue;
        }
        let _ = writeln!(out, "DAMAGED");
        for d in &s.damage {
            let _ = writeln!(
                out,
                "    offset {} ({} bytes): {}",
                d.offset, d.len, d.reason
            );
        }
    }
    let (regions, bytes, damaged) = totals(segments);
    let _ = write!(
        out,
        "{} segment(s), {entries} valid entries; ",
        segments.len()
    );
    if regions == 0 {
        out.push_str("no damage\n");
    } else {
        let _ = writeln!(
            out,
            "{regions} damaged region(s), {bytes} bytes, in {damaged} segment(s)"
        );
    }
    out
}

fn json(args: &VerifyArgs, segments: &BTreeMap<String, Checked>, entries: u64) -> String {
    let mut out = String::from("{\"dir\":");
    json_string(&mut out, args.dir.as_os_str().as_encoded_bytes());
    out.push_str(",\"segments\":[");
    for (i, (name, s)) in segments.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"name\":\"{name}\",\"bytes\":{},\"entries\":{},\"damage\":[",
            s.bytes, s.entries
        );
        for (j, d) in s.damage.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"offset\":{},\"bytes\":{},\"reason\":",
                d.offset, d.len
            );
            json_string(&mut out, d.reason.as_bytes());
            out.push('}');
        }
        out.push_str("]}");
    }
    let (regions, bytes, _) = totals(segments);
    let _ = writeln!(
        out,
        "],\"entries\":{entries},\"damaged_regions\":{regions},\"damaged_bytes\":{bytes},\"ok\":{}}}",
        regions == 0
    );
    out
}
