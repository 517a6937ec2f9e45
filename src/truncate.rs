//! Truncation: rewriting the oldest segments into one that keeps only live series.
//!
//! The switch from old to new segments is made crash-safe with a commit file:
//! 1. the kept series are written to `truncate.tmp` and fsynced;
//! 2. it is renamed to `<first>-<last>.truncate` and the directory fsynced — the commit
//!    point: before it the old segments stand, after it the new one does;
//! 3. segments `first+1 ..= last` are deleted and the commit file is renamed over `first`.
//!
//! `recover` finishes step 3 at open for a commit file left by a crash, and removes an
//! uncommitted temp file. Readers of the directory other than this library (which ignore
//! non-segment files) may see the old segments plus the partly deleted ones only while a
//! crashed truncation awaits recovery.

use std::fs::{self, File, OpenOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::codec;
use crate::entry::{self, EntryType};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::read::{self, Entry, ReadSummary};
use crate::record::Series;
use crate::segment::{self, SegmentMeta};

const TEMP_NAME: &str = "truncate.tmp";
const COMMIT_SUFFIX: &str = ".truncate";

fn commit_name(first: u64, last: u64) -> String {
    format!(
        "{}-{}{COMMIT_SUFFIX}",
        segment::segment_name(first),
        segment::segment_name(last)
    )
}

fn parse_commit_name(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.strip_suffix(COMMIT_SUFFIX)?.split_once('-')?;
    let first = segment::parse_segment_name(a.as_ref())?;
    let last = segment::parse_segment_name(b.as_ref())?;
    (first <= last).then_some((first, last))
}

/// Finishes a truncation that was committed before a crash; drops an uncommitted one
/// and leftover salvage files (a salvage replaces its segment only by a final rename).
pub(crate) fn recover(dir: &Path, dir_file: &File) -> Result<()> {
    let mut changed = false;
    for ent in fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == TEMP_NAME || name.ends_with(crate::repair::SALVAGE_SUFFIX) {
            fs::remove_file(ent.path()).ctx("remove leftover temp file", &ent.path())?;
            changed = true;
        } else if let Some((first, last)) = parse_commit_name(name) {
            complete(dir, first, last, &ent.path())?;
            changed = true;
        }
    }
    if changed {
        fsutil::sync_dir(dir_file, dir)?;
    }
    Ok(())
}

/// Step 3: delete the replaced segments, then move the new one into place.
fn complete(dir: &Path, first: u64, last: u64, commit: &Path) -> Result<()> {
    for seg in segment::list(dir)? {
        if seg.seq > first && seg.seq <= last {
            fs::remove_file(&seg.path).ctx("delete truncated segment", &seg.path)?;
        }
    }
    let target = dir.join(segment::segment_name(first));
    fs::rename(commit, &target).ctx("rename truncated segment into place", &target)
}

/// Rewrites `candidates` (the oldest segments, none of them active) into one segment
/// holding the series for which `keep` returns true. Returns the new segment's meta.
pub(crate) fn rewrite(
    dir: &Path,
    dir_file: &File,
    candidates: &mut [SegmentMeta],
    keep: &mut dyn FnMut(u64) -> bool,
) -> Result<SegmentMeta> {
    let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else {
        return Err(Error::state("truncation without candidate segments"));
    };
    let (first, last) = (first.seq, last.seq);
    let temp = dir.join(TEMP_NAME);
    let _ = fs::remove_file(&temp);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&temp)
        .ctx("create truncation file", &temp)?;

    let result = write_kept_series(&file, &temp, candidates, keep).and_then(|()| {
        file.sync_all().ctx("fsync truncation file", &temp)?;
        let commit = dir.join(commit_name(first, last));
        fs::rename(&temp, &commit).ctx("commit truncation", &commit)?;
        fsutil::sync_dir(dir_file, dir)?;
        Ok(commit)
    });
    let commit = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    complete(dir, first, last, &commit)?;
    fsutil::sync_dir(dir_file, dir)?;
    Ok(SegmentMeta::new(dir, first))
}

fn write_kept_series(
    file: &File,
    path: &Path,
    candidates: &mut [SegmentMeta],
    keep: &mut dyn FnMut(u64) -> bool,
) -> Result<()> {
    let mut out = segment::header_bytes().to_vec();
    let mut offset = 0u64;
    let mut frame = Vec::new();
    let mut failure: Option<Error> = None;
    let mut visit = |e: Entry<'_>| {
        let Entry::Series(series) = e else {
            return ControlFlow::Continue(());
        };
        let kept: Vec<Series<'_>> = series
            .iter()
            .filter(|s| keep(s.series_ref))
            .copied()
            .collect();
        if kept.is_empty() {
            return ControlFlow::Continue(());
        }
        let step = entry::frame(&mut frame, EntryType::Series, |b| {
            codec::encode_series(b, &kept)
        })
        .and_then(|()| {
            out.extend_from_slice(&frame);
            if out.len() >= 4 << 20 {
                file.write_all_at(&out, offset)
                    .ctx("write truncation file", path)?;
                offset += out.len() as u64;
                out.clear();
            }
            Ok(())
        });
        match step {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    let damage = read::read_segments(
        candidates,
        None,
        false,
        &mut ReadSummary::default(),
        &mut visit,
    );
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(d) = damage?.into_iter().next() {
        return Err(Error::Corruption {
            segment: candidates[d.index].path.clone(),
            offset: d.offset,
            reason: format!(
                "{} (found while truncating; read the WAL to repair it)",
                d.reason
            ),
        });
    }
    file.write_all_at(&out, offset)
        .ctx("write truncation file", path)
}
