//! The log as a reader sees it, without changing anything: the segments of a directory
//! as recovery at open would leave them, refused if they are not a usable SegmentWAL.
//! Read-only handles read through this on every read, since another process may be
//! writing the directory.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};
use crate::foreign;
use crate::options::Recovery;
use crate::read::Damaged;
use crate::segment::{self, SegmentMeta};
use crate::truncate;

/// The directory's segments, with the file a committed truncation or an interrupted
/// repair left in place of the segments it replaces. `Error::Format` for a directory
/// that is not a SegmentWAL or holds segment names it cannot use.
pub(crate) fn segments(dir: &Path) -> Result<Vec<SegmentMeta>> {
    let mut segs = segment::list(dir)?;
    let pending = truncate::pending(dir)?;
    if pending.is_empty() {
        foreign::check(dir, &segs)?;
    }
    for (file, seq, hides) in pending {
        segs.retain(|s| !hides.contains(&s.seq));
        let mut seg = SegmentMeta::new(dir, seq);
        seg.path = file;
        segs.push(seg);
    }
    segs.sort_by_key(|s| s.seq);
    Ok(segs)
}

/// Most times `open_segments` lists the directory before it gives up.
const LIST_ATTEMPTS: usize = 1000;

/// `segments`, each opened: one state of the log, read as it was whatever a writer
/// renames or deletes meanwhile. A truncation or repair in another process changes
/// several names one after the other, so the directory is listed before and after the
/// files are opened, and again until nothing but new segments after the newest came
/// in between (a listing that overlaps a change may see part of it).
pub(crate) fn open_segments(dir: &Path) -> Result<Vec<SegmentMeta>> {
    for _ in 0..LIST_ATTEMPTS {
        let before = names(dir)?;
        let mut segs = segments(dir)?;
        let mut vanished = false;
        for seg in &mut segs {
            match File::open(&seg.path) {
                Ok(f) => seg.file = Some(Arc::new(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    vanished = true;
                    break;
                }
                Err(e) => return Err(Error::io("open segment", &seg.path, e)),
            }
        }
        if !vanished && unchanged(&segs, &before, &names(dir)?)? {
            return Ok(segs);
        }
    }
    Err(Error::io(
        "list directory",
        dir,
        io::Error::other("its segments kept changing while it was listed"),
    ))
}

/// The names of the directory that make up the log (segment names, and the files of a
/// truncation or repair in progress), with the inode numbers of their files.
fn names(dir: &Path) -> Result<BTreeMap<OsString, u64>> {
    let mut out = BTreeMap::new();
    for ent in std::fs::read_dir(dir).ctx("list directory", dir)? {
        let ent = ent.ctx("list directory", dir)?;
        let name = ent.file_name();
        let text = name.to_string_lossy();
        if segment::parse_segment_name(&name).is_some()
            || text.ends_with(crate::repair::SALVAGE_SUFFIX)
            || text.ends_with(".truncate")
        {
            // For a link, the file it leads to (what opening it gives).
            let ino = match ent.file_type().is_ok_and(|t| t.is_symlink()) {
                true => std::fs::metadata(ent.path()).map_or(0, |m| m.ino()),
                false => ent.ino(),
            };
            out.insert(name, ino);
        }
    }
    Ok(out)
}

/// Whether the opened `segs` are the log both listings show: every name listed before
/// is still there with the same file, every file opened is the one its name leads to,
/// and what came in between is only segments newer than the newest opened.
fn unchanged(
    segs: &[SegmentMeta],
    before: &BTreeMap<OsString, u64>,
    after: &BTreeMap<OsString, u64>,
) -> Result<bool> {
    if before.iter().any(|(n, ino)| after.get(n) != Some(ino)) {
        return Ok(false);
    }
    let newest = segs.last().map_or(0, |s| s.seq);
    let only_newer = after
        .keys()
        .filter(|n| !before.contains_key(*n))
        .all(|n| segment::parse_segment_name(n).is_some_and(|seq| seq > newest || segs.is_empty()));
    if !only_newer {
        return Ok(false);
    }
    for seg in segs {
        let (Some(file), Some(name)) = (&seg.file, seg.path.file_name()) else {
            return Ok(false);
        };
        let ino = file.metadata().ctx("stat segment", &seg.path)?.ino();
        if after.get(name) != Some(&ino) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Applies what `recovery` does with invalid segment headers to a read-only view:
/// `Truncate` leaves out the first invalid segment and every later one, `Salvage`
/// reads each from offset 8 on (its read skips what is not an entry; one shorter than
/// its header has nothing to read), `Fail` reports the first as corruption. The newest
/// segment's header may be being written by a writer in another process: one cut
/// short, or the start of a header and zeros, is left out unreported. Returns the
/// header damage found.
pub(crate) fn check_headers(
    segments: &mut Vec<SegmentMeta>,
    recovery: Recovery,
) -> Result<Vec<Damaged>> {
    let mut damage = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let seg = &segments[i];
        let head = match &seg.file {
            Some(f) => segment::read_header_of(f, &seg.path)?,
            None => segment::read_header(&seg.path)?,
        };
        let Some(problem) = segment::header_problem(&head) else {
            i += 1;
            continue;
        };
        let short = head.len() < segment::HEADER_LEN as usize;
        if segment::header_in_progress(&head) && i + 1 == segments.len() {
            segments.pop();
            break;
        }
        // Salvage reads on after the header, Truncate stops at it.
        let resume = (recovery == Recovery::Salvage && !short).then_some(segment::HEADER_LEN);
        let found = Damaged {
            segment: seg.path.clone(),
            offset: 0,
            resume,
            len: resume.unwrap_or_else(|| seg.file_len()),
            hole: false,
            reason: format!("invalid segment header: {problem}"),
        };
        match recovery {
            Recovery::Fail => {
                return Err(Error::Corruption {
                    segment: found.segment,
                    offset: 0,
                    reason: found.reason,
                });
            }
            Recovery::Truncate => {
                segments.truncate(i);
                damage.push(found);
                break;
            }
            Recovery::Salvage => {
                damage.push(found);
                if short {
                    segments.remove(i);
                } else {
                    i += 1;
                }
            }
        }
    }
    Ok(damage)
}
