//! Repairing a damaged log: the reference's way (keep everything before the first
//! damaged entry, cut its segment there, delete every later segment), and salvage (keep
//! every valid entry, rewrite damaged segments without their damage).

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::Fs;
use crate::options::Recovery;
use crate::read::{Damage, Repair};
use crate::reader::{SegmentReader, Step};
use crate::segment::{self, SegmentMeta};

/// Applies the repair on disk and drops the deleted segments from `segments`.
///
/// Later segments are deleted newest first and the damaged segment is cut last, so an
/// interruption at any point leaves a prefix of the log with the damage still in place,
/// and the next read repeats the same repair.
pub(crate) fn cut_at_damage(
    fs: &Fs,
    segments: &mut Vec<SegmentMeta>,
    damage: Damage,
) -> Result<Repair> {
    // What is dropped, counted before anything changes: the damaged entry, the valid
    // entries after it in its segment, and every entry of the later segments.
    let mut dropped_entries = 1 + count_entries(&segments[damage.index].path, damage.offset + 1)?;
    for later in &segments[damage.index + 1..] {
        dropped_entries += count_entries(&later.path, 0)?;
    }
    let mut deleted_segments = Vec::new();
    let mut dropped_bytes = 0;
    while segments.len() > damage.index + 1 {
        let Some(later) = segments.last() else { break };
        dropped_bytes += std::fs::metadata(&later.path).map_or(0, |m| m.len());
        fs.remove(&later.path, "delete segment after damage")?;
        deleted_segments.push(later.path.clone());
        segments.pop();
    }
    deleted_segments.reverse();
    fs.sync_dir()?;

    let path = segments[damage.index].path.clone();
    let file = OpenOptions::new()
        .write(true)
        .open(&path)
        .ctx("open segment for repair", &path)?;
    let len = file.metadata().ctx("stat segment", &path)?.len();
    if len < segment::HEADER_LEN {
        // Cut below its header since the WAL was opened (cutting it at the damage would
        // pad it with zeros, an invalid header): it goes, as it would at open.
        drop(file);
        fs.remove(&path, "delete segment without a header")?;
        fs.sync_dir()?;
        segments.remove(damage.index);
        deleted_segments.insert(0, path.clone());
        dropped_bytes += len;
    } else {
        if len > damage.offset {
            fs.set_len(&file, &path, damage.offset, "cut damaged segment")?;
            fs.fsync(&file, &path, false)?;
        }
        dropped_bytes += len.saturating_sub(damage.offset);
    }

    Ok(Repair {
        segment: path,
        offset: damage.offset,
        reason: damage.reason,
        damaged_regions: 1,
        deleted_segments,
        dropped_entries,
        dropped_bytes,
    })
}

/// Valid entries of a segment from offset `from` on, skipping damage.
pub(crate) fn count_entries(path: &Path, from: u64) -> Result<u64> {
    let mut reader = SegmentReader::open(path, None)?;
    let mut count = 0;
    if reader.resync(from)?.is_none() {
        return Ok(0);
    }
    loop {
        match reader.next()? {
            Step::Entry { .. } => count += 1,
            Step::End { .. } => return Ok(count),
            Step::Corrupt { offset, .. } => {
                if reader.resync(offset + 1)?.is_none() {
                    return Ok(count);
                }
            }
        }
    }
}

/// Rewrites every segment with damage so that it holds only its valid entries, in
/// order. Each rewrite goes through a temporary file, fsynced and renamed over the
/// segment, so a crash leaves either the damaged or the repaired segment.
pub(crate) fn salvage(fs: &Fs, segments: &mut [SegmentMeta], damages: &[Damage]) -> Result<Repair> {
    let Some(first) = damages.first() else {
        return Err(Error::state("internal: salvage without damage"));
    };
    let mut dropped_bytes = 0;
    let mut i = 0;
    while i < damages.len() {
        let index = damages[i].index;
        let here: Vec<&Damage> = damages[i..]
            .iter()
            .take_while(|d| d.index == index)
            .collect();
        i += here.len();
        let seg = &mut segments[index];
        let file = File::open(&seg.path).ctx("open segment for salvage", &seg.path)?;
        let len = file.metadata().ctx("stat segment", &seg.path)?.len();
        // Valid entries lie between the damaged regions, up to where the log ends.
        let end = seg.log_end.unwrap_or(len).min(len);
        let mut keep = Vec::new();
        let mut from = Some(segment::HEADER_LEN);
        for d in &here {
            if let Some(f) = from.filter(|&f| f < d.offset) {
                keep.push(f..d.offset);
            }
            from = d.resume;
        }
        if let Some(f) = from.filter(|&f| f < end) {
            keep.push(f..end);
        }
        let kept = rewrite(fs, &file, &seg.path, &keep)?;
        seg.log_end = Some(kept);
        dropped_bytes += len.saturating_sub(kept);
    }
    fs.sync_dir()?;
    Ok(Repair {
        segment: segments[first.index].path.clone(),
        offset: first.offset,
        reason: first.reason.clone(),
        damaged_regions: damages.len() as u64,
        deleted_segments: Vec::new(),
        dropped_entries: damages.len() as u64,
        dropped_bytes,
    })
}

/// Replaces the segment at `path` with a header and the byte ranges `keep` of `file`
/// (its old content), through `<name>.salvage.tmp`. Returns the new length.
pub(crate) fn rewrite(fs: &Fs, file: &File, path: &Path, keep: &[Range<u64>]) -> Result<u64> {
    let tmp = salvage_temp(path);
    let _ = std::fs::remove_file(&tmp);
    let out = fs.create_new(&tmp, "create salvage file")?;
    let result = (|| {
        fs.write_at(
            &out,
            &tmp,
            &segment::header_bytes(),
            0,
            "write salvage file",
        )?;
        let mut written = segment::HEADER_LEN;
        let mut buf = vec![0u8; 1 << 20];
        for r in keep {
            let mut at = r.start;
            while at < r.end {
                let n = ((r.end - at) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], at)
                    .ctx("read segment", path)?;
                fs.write_at(&out, &tmp, &buf[..n], written, "write salvage file")?;
                at += n as u64;
                written += n as u64;
            }
        }
        fs.fsync(&out, &tmp, false)?;
        fs.rename(&tmp, path, "replace salvaged segment")?;
        Ok(written)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file a salvage of `segment` writes; leftovers are removed at open.
pub(crate) fn salvage_temp(segment: &Path) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(SALVAGE_SUFFIX);
    segment.with_file_name(name)
}

/// Suffix of salvage temporary files.
pub(crate) const SALVAGE_SUFFIX: &str = ".salvage.tmp";

/// Segments with an invalid header (missing, wrong magic or version), at open:
/// - `Truncate` (the reference): the first and every later one are deleted;
/// - `Salvage`: each is rewritten with a valid header from its first valid entry on,
///   or deleted if it has none; later segments stay;
/// - `Fail`: the first is reported as corruption at offset 0 and nothing changes.
pub(crate) fn invalid_headers(
    fs: &Fs,
    segments: &mut Vec<SegmentMeta>,
    recovery: Recovery,
) -> Result<Option<Repair>> {
    let mut invalid = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if let Some(reason) = segment::check_header(&seg.path)? {
            invalid.push((i, reason));
        }
    }
    let Some((first, reason)) = invalid.first().cloned() else {
        return Ok(None);
    };
    let mut repair = Repair {
        segment: segments[first].path.clone(),
        offset: 0,
        reason: format!("invalid segment header: {reason}"),
        damaged_regions: 0,
        deleted_segments: Vec::new(),
        dropped_entries: 0,
        dropped_bytes: 0,
    };
    match recovery {
        Recovery::Fail => {
            return Err(Error::Corruption {
                segment: repair.segment,
                offset: 0,
                reason: repair.reason,
            });
        }
        Recovery::Truncate => {
            repair.damaged_regions = 1;
            for seg in &segments[first..] {
                repair.dropped_entries += count_entries(&seg.path, 0)?;
            }
            // Newest first, so an interruption leaves a prefix that is still consistent;
            // the invalid segment goes last, once the other deletions are durable (a
            // deletion of it that reached the disk alone would leave a gap).
            while segments.len() > first {
                if segments.len() == first + 1 {
                    fs.sync_dir()?;
                }
                let Some(seg) = segments.pop() else { break };
                repair.dropped_bytes += std::fs::metadata(&seg.path).map_or(0, |m| m.len());
                fs.remove(&seg.path, "delete invalid segment")?;
                repair.deleted_segments.push(seg.path);
            }
            repair.deleted_segments.reverse();
        }
        Recovery::Salvage => {
            for &(i, _) in invalid.iter().rev() {
                let path = segments[i].path.clone();
                repair.damaged_regions += 1;
                let file = File::open(&path).ctx("open segment for salvage", &path)?;
                let len = file.metadata().ctx("stat segment", &path)?.len();
                let resume = if len > segment::HEADER_LEN {
                    SegmentReader::open(&path, None)?.resync(segment::HEADER_LEN)?
                } else {
                    None
                };
                match resume {
                    Some(from) => {
                        let kept = rewrite(fs, &file, &path, std::slice::from_ref(&(from..len)))?;
                        repair.dropped_bytes += len.saturating_sub(kept);
                    }
                    None => {
                        fs.remove(&path, "delete unsalvageable segment")?;
                        repair.dropped_bytes += len;
                        repair.deleted_segments.push(path);
                        segments.remove(i);
                    }
                }
            }
            repair.deleted_segments.reverse();
        }
    }
    fs.sync_dir()?;
    Ok(Some(repair))
}
