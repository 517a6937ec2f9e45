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

use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::codec;
use crate::entry::{self, EntryType};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::Fs;
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

/// Finishes a truncation that was committed before a crash; drops an uncommitted one.
/// Finishes a repair's replacement of a segment (`<segment>.salvage.tmp`, complete and
/// durable, whose segment was moved to quarantine before the crash) or drops it if the
/// segment is still there.
pub(crate) fn recover(fs: &Fs) -> Result<()> {
    let dir = &fs.dir;
    let mut changed = false;
    for ent in std::fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == TEMP_NAME {
            fs.remove(&ent.path(), "remove leftover temp file")?;
            changed = true;
        } else if let Some(seg) = name.strip_suffix(crate::repair::SALVAGE_SUFFIX) {
            let target = dir.join(seg);
            if std::fs::symlink_metadata(&target).is_ok() {
                fs.remove(&ent.path(), "remove leftover temp file")?;
            } else {
                fs.rename(&ent.path(), &target, "put a repaired segment in place")?;
            }
            changed = true;
        } else if let Some((first, last)) = parse_commit_name(name) {
            complete(fs, first, last, &ent.path())?;
            changed = true;
        }
    }
    if changed {
        fs.sync_dir()?;
    }
    Ok(())
}

/// Files a crash may have left that recovery turns into segments: `(file, segment it
/// becomes, segments it hides)`. A read-only handle reads the log as recovery would
/// leave it, without changing anything.
pub(crate) fn pending(dir: &Path) -> Result<Vec<(PathBuf, u64, std::ops::RangeInclusive<u64>)>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seg) = name.strip_suffix(crate::repair::SALVAGE_SUFFIX) {
            if let Some(seq) = segment::parse_segment_name(seg.as_ref()) {
                if std::fs::symlink_metadata(dir.join(seg)).is_err() {
                    out.push((ent.path(), seq, seq..=seq));
                }
            }
        } else if let Some((first, last)) = parse_commit_name(name) {
            out.push((ent.path(), first, first..=last));
        }
    }
    Ok(out)
}

/// Step 3: delete the replaced segments, then move the new one into place. The
/// deletions are made durable before the rename: a rename that reached the disk ahead
/// of them would leave old segments behind the new one with no commit file left to
/// finish the job.
fn complete(fs: &Fs, first: u64, last: u64, commit: &Path) -> Result<()> {
    for seg in segment::list(&fs.dir)? {
        if seg.seq > first && seg.seq <= last {
            fs.remove(&seg.path, "delete truncated segment")?;
        }
    }
    fs.sync_dir()?;
    let target = fs.dir.join(segment::segment_name(first));
    fs.rename(commit, &target, "rename truncated segment into place")
}

/// A failed truncation: before its commit point the old segments stand untouched;
/// after it, the new state is only reached by the recovery at the next open.
pub(crate) enum Failed {
    BeforeCommit(Error),
    AfterCommit(Error),
}

/// Rewrites `candidates` (the oldest segments, none of them active) into one segment
/// holding the series for which `keep` returns true. Returns the new segment's meta.
pub(crate) fn rewrite(
    fs: &Fs,
    candidates: &mut [SegmentMeta],
    keep: &mut dyn FnMut(u64) -> bool,
) -> std::result::Result<SegmentMeta, Failed> {
    let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else {
        return Err(Failed::BeforeCommit(Error::state(
            "truncation without candidate segments",
        )));
    };
    let (first, last) = (first.seq, last.seq);
    let temp = fs.dir.join(TEMP_NAME);
    let commit = fs.dir.join(commit_name(first, last));
    fs.remove_quietly(&temp);
    let file = fs
        .create_new(&temp, "create truncation file")
        .map_err(Failed::BeforeCommit)?;
    let written = write_kept_series(fs, &file, &temp, candidates, keep)
        .and_then(|()| fs.fsync(&file, &temp, false))
        .and_then(|()| fs.rename(&temp, &commit, "commit truncation"));
    if let Err(e) = written {
        fs.remove_quietly(&temp);
        // A rename that reported an error may still have happened. A commit file left
        // behind would be completed at the next open, over whatever later truncations
        // made of these segments, so it goes, durably, or the handle fails.
        return Err(match fs.remove(&commit, "remove uncommitted truncation") {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Failed::BeforeCommit(e)
            }
            Ok(()) if fs.sync_dir().is_ok() => Failed::BeforeCommit(e),
            _ => Failed::AfterCommit(e),
        });
    }
    fs.sync_dir()
        .and_then(|()| complete(fs, first, last, &commit))
        .and_then(|()| fs.sync_dir())
        .map_err(Failed::AfterCommit)?;
    Ok(SegmentMeta::new(&fs.dir, first))
}

fn write_kept_series(
    fs: &Fs,
    file: &File,
    path: &Path,
    candidates: &mut [SegmentMeta],
    keep: &mut dyn FnMut(u64) -> bool,
) -> Result<()> {
    let mut out = segment::header_bytes().to_vec();
    let mut offset = 0u64;
    let mut failure: Option<Error> = None;
    let mut visit = |_: read::Position, e: Entry<'_>| {
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
        let step = entry::frame(&mut out, EntryType::Series, |b| {
            codec::encode_series(b, &kept)
        })
        .and_then(|()| {
            if out.len() >= 4 << 20 {
                fs.write_at(file, path, &out, offset, "write truncation file")?;
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
        read::Scan::new(crate::options::Recovery::Truncate),
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
    fs.write_at(file, path, &out, offset, "write truncation file")
}
