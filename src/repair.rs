//! Repairing a damaged log: the reference's way (keep everything before the first
//! damaged entry, cut its segment there, take out every later segment), and salvage
//! (keep every valid entry, rewrite damaged segments without their damage). What either
//! takes out of the log goes to quarantine (see `quarantine`) unless told to delete it.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::Fs;
use crate::options::Recovery;
use crate::quarantine::{self, Note, Quarantine};
use crate::read::{Damage, Repair};
use crate::reader::{SegmentReader, Step};
use crate::segment::{self, SegmentMeta};

fn file_len(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).map_or(0, |m| m.len())
}

/// Describes the segment for a note: its name, size, and where a link points.
fn describe(seg: &SegmentMeta) -> String {
    let len = std::fs::metadata(&seg.path).map_or(0, |m| m.len());
    match (seg.link, std::fs::read_link(&seg.path)) {
        (true, Ok(target)) => format!(
            "{} (a symbolic link to {}, {len} bytes; the link is moved, its target is \
             left as it is)",
            segment::file_name(&seg.path),
            target.display()
        ),
        _ => format!("{} ({len} bytes)", segment::file_name(&seg.path)),
    }
}

/// The reference's repair, with quarantine: takes the segments after the damage out of
/// the log and cuts the damaged one at the damage (its cut-off bytes copied to
/// quarantine first); drops the removed segments from `segments`.
///
/// Later segments go newest first, each move durable before the next, and the damaged
/// segment is cut last, so an interruption at any point leaves a prefix of the log with
/// the damage still in place, and the next read repeats the repair on what is left.
pub(crate) fn cut_at_damage(
    fs: &Fs,
    segments: &mut Vec<SegmentMeta>,
    damage: Damage,
    keep: bool,
) -> Result<Repair> {
    // What is dropped, counted before anything changes: the damaged entry, the valid
    // entries after it in its segment, and every entry of the later segments.
    let mut dropped_entries = 1 + count_entries(&segments[damage.index].path, damage.offset + 1)?;
    for later in &segments[damage.index + 1..] {
        dropped_entries += count_entries(&later.path, 0)?;
    }
    let seg = segments[damage.index].clone();
    let path = seg.path.clone();
    let file = File::open(&path).ctx("open segment for repair", &path)?;
    let len = file.metadata().ctx("stat segment", &path)?.len();
    // Cut below its header since the WAL was opened: cutting it at the damage would pad
    // it with zeros, an invalid header, so it is taken out whole, as at open.
    let whole = len < segment::HEADER_LEN;
    let tail_end = if whole || len <= damage.offset {
        damage.offset
    } else {
        quarantine::data_end(&file, &path, damage.offset, len)?
    };

    let mut note = Note::new(Recovery::Truncate);
    note.damage(&path, Some(damage.offset), &damage.reason);
    for later in segments[damage.index + 1..].iter().rev() {
        note.takes_out(format_args!("segment {}", describe(later)));
    }
    let (name, at) = (segment::file_name(&path), damage.offset);
    if whole {
        note.takes_out(format_args!("segment {}", describe(&seg)));
    } else if seg.link {
        note.takes_out(format_args!(
            "segment {}, replaced by a regular file holding its first {at} bytes",
            describe(&seg)
        ));
    } else if tail_end > damage.offset {
        note.takes_out(format_args!(
            "bytes {at}..{tail_end} of segment {name} (copied to {name}.from-{at}), then \
             cuts the segment at {at}"
        ));
    }
    let mut q = Quarantine::begin(fs, keep, &path, &note)?;

    let mut removed_segments = Vec::new();
    let mut dropped_bytes = 0;
    while segments.len() > damage.index + 1 {
        let Some(later) = segments.last() else { break };
        dropped_bytes += file_len(&later.path);
        q.take_segment(&later.path)?;
        removed_segments.push(later.path.clone());
        segments.pop();
    }
    removed_segments.reverse();

    if whole {
        drop(file);
        q.take_segment(&path)?;
        segments.remove(damage.index);
        removed_segments.insert(0, path.clone());
        dropped_bytes += len;
    } else if len > damage.offset {
        if seg.link {
            // Nothing is cut through a link: its target may be outside the directory.
            let tmp = salvage_temp(&path);
            write_ranges(
                fs,
                &file,
                &path,
                &tmp,
                std::slice::from_ref(&(segment::HEADER_LEN..damage.offset)),
            )?;
            q.replace_segment(&path, &tmp)?;
            segments[damage.index].link = false;
        } else {
            q.copy_tail(&file, &path, damage.offset, tail_end)?;
            drop(file);
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .ctx("open segment for repair", &path)?;
            fs.set_len(&file, &path, damage.offset, "cut damaged segment")?;
            fs.fsync(&file, &path, false)?;
        }
        dropped_bytes += len - damage.offset;
    }
    let (quarantined_segments, quarantined_bytes) = (q.moved, q.bytes);
    let quarantine = q.finish()?;

    Ok(Repair {
        segment: path,
        offset: damage.offset,
        reason: damage.reason,
        damaged_regions: 1,
        removed_segments,
        dropped_entries,
        dropped_bytes,
        quarantine,
        quarantined_segments,
        quarantined_bytes,
    })
}

/// Valid entries of a segment from offset `from` on, skipping damage. Linear in the
/// segment's size (the searches after damage are bounded; see `SegmentReader::resync`).
pub(crate) fn count_entries(path: &Path, from: u64) -> Result<u64> {
    let mut reader = SegmentReader::open(path, None)?;
    let mut count = 0;
    if reader.resync(from)?.is_none() {
        return Ok(0);
    }
    loop {
        let next = match reader.next()? {
            Step::Entry { .. } => {
                count += 1;
                continue;
            }
            Step::End { .. } => return Ok(count),
            Step::Hole { data_at, .. } => data_at,
            Step::Corrupt { offset, .. } => offset + 1,
        };
        if reader.resync(next)?.is_none() {
            return Ok(count);
        }
    }
}

/// Rewrites every segment with damage so that it holds only its valid entries, in
/// order; the original goes to quarantine. Each rewrite goes through a temporary file,
/// made durable before the original moves (see `Quarantine::replace_segment`).
pub(crate) fn salvage(
    fs: &Fs,
    segments: &mut [SegmentMeta],
    damages: &[Damage],
    keep: bool,
) -> Result<Repair> {
    let Some(first) = damages.first() else {
        return Err(Error::state("internal: salvage without damage"));
    };
    // The byte ranges each damaged segment keeps: its valid entries, between the damaged
    // regions, up to where the log ends.
    let mut plans: Vec<(usize, Vec<Range<u64>>, u64)> = Vec::new();
    let mut note = Note::new(Recovery::Salvage);
    let mut i = 0;
    while i < damages.len() {
        let index = damages[i].index;
        let here: Vec<&Damage> = damages[i..]
            .iter()
            .take_while(|d| d.index == index)
            .collect();
        i += here.len();
        let seg = &segments[index];
        let len = std::fs::metadata(&seg.path)
            .ctx("stat segment", &seg.path)?
            .len();
        let end = seg.log_end.unwrap_or(len).min(len);
        let mut keep_ranges = Vec::new();
        let mut from = Some(segment::HEADER_LEN);
        for d in &here {
            let extent = match d.resume {
                Some(r) => format!("up to {r}"),
                None => "to the end of the segment".into(),
            };
            note.damage(
                &seg.path,
                Some(d.offset),
                &format!("({extent}) {}", d.reason),
            );
            if let Some(f) = from.filter(|&f| f < d.offset) {
                keep_ranges.push(f..d.offset);
            }
            from = d.resume;
        }
        if let Some(f) = from.filter(|&f| f < end) {
            keep_ranges.push(f..end);
        }
        note.takes_out(format_args!(
            "segment {}, replaced by a copy without its damage",
            describe(seg)
        ));
        plans.push((index, keep_ranges, len));
    }
    let mut q = Quarantine::begin(fs, keep, &segments[first.index].path, &note)?;
    let mut dropped_bytes = 0;
    for (index, keep_ranges, len) in plans {
        let seg = &mut segments[index];
        let kept = rewrite(fs, &mut q, &seg.path, &keep_ranges)?;
        seg.log_end = Some(kept);
        seg.zeros_after_end = true;
        seg.link = false;
        dropped_bytes += len.saturating_sub(kept);
    }
    let (quarantined_segments, quarantined_bytes) = (q.moved, q.bytes);
    let quarantine = q.finish()?;
    Ok(Repair {
        segment: segments[first.index].path.clone(),
        offset: first.offset,
        reason: first.reason.clone(),
        damaged_regions: damages.len() as u64,
        removed_segments: Vec::new(),
        dropped_entries: damages.len() as u64,
        dropped_bytes,
        quarantine,
        quarantined_segments,
        quarantined_bytes,
    })
}

/// Replaces the segment at `path` with a header and the byte ranges `keep` of its old
/// content, through `<name>.salvage.tmp`; the old segment goes to quarantine. Returns
/// the new length.
fn rewrite(fs: &Fs, q: &mut Quarantine<'_>, path: &Path, keep: &[Range<u64>]) -> Result<u64> {
    let file = File::open(path).ctx("open segment for salvage", path)?;
    let tmp = salvage_temp(path);
    let written = write_ranges(fs, &file, path, &tmp, keep)?;
    drop(file);
    let replaced = q.replace_segment(path, &tmp);
    if replaced.is_err() && path.exists() {
        fs.remove_quietly(&tmp);
    }
    replaced.map(|()| written)
}

/// Writes a segment header and the byte ranges `keep` of `file` (at `path`) to a new
/// file `tmp`, durably. Returns its length.
fn write_ranges(fs: &Fs, file: &File, path: &Path, tmp: &Path, keep: &[Range<u64>]) -> Result<u64> {
    fs.remove_quietly(tmp);
    let out = fs.create_new(tmp, "create salvage file")?;
    let result = (|| {
        fs.write_at(&out, tmp, &segment::header_bytes(), 0, "write salvage file")?;
        let mut written = segment::HEADER_LEN;
        let mut buf = vec![0u8; 1 << 20];
        for r in keep {
            let mut at = r.start;
            while at < r.end {
                let n = ((r.end - at) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], at)
                    .ctx("read segment", path)?;
                fs.write_at(&out, tmp, &buf[..n], written, "write salvage file")?;
                at += n as u64;
                written += n as u64;
            }
        }
        fs.fsync(&out, tmp, false)?;
        // Its name too, before the old segment moves out: after a crash, recovery
        // puts it in place of a missing segment.
        fs.sync_dir()?;
        Ok(written)
    })();
    if result.is_err() {
        fs.remove_quietly(tmp);
    }
    result
}

/// The temporary file a salvage of `segment` writes. At open, one left without its
/// segment (a crash between moving the old segment out and this one in) becomes the
/// segment; one left beside its segment is removed (see `truncate::recover`).
pub(crate) fn salvage_temp(segment: &Path) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(SALVAGE_SUFFIX);
    segment.with_file_name(name)
}

/// Suffix of salvage temporary files.
pub(crate) const SALVAGE_SUFFIX: &str = ".salvage.tmp";

/// Segments with an invalid header (missing, wrong magic or version), at open:
/// - `Truncate` (the reference): the first and every later one are taken out;
/// - `Salvage`: each is rewritten with a valid header from its first valid entry on,
///   or taken out if it has none; later segments stay;
/// - `Fail`: the first is reported as corruption at offset 0 and nothing changes.
pub(crate) fn invalid_headers(
    fs: &Fs,
    segments: &mut Vec<SegmentMeta>,
    recovery: Recovery,
    keep: bool,
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
        removed_segments: Vec::new(),
        dropped_entries: 0,
        dropped_bytes: 0,
        quarantine: None,
        quarantined_segments: 0,
        quarantined_bytes: 0,
    };
    let mut note = Note::new(recovery);
    match recovery {
        Recovery::Fail => {
            return Err(Error::Corruption {
                segment: repair.segment,
                offset: 0,
                reason: repair.reason,
            });
        }
        Recovery::Truncate => {
            note.damage(&repair.segment, None, &repair.reason);
            for seg in segments[first..].iter().rev() {
                note.takes_out(format_args!("segment {}", describe(seg)));
            }
            let mut q = Quarantine::begin(fs, keep, &repair.segment, &note)?;
            repair.damaged_regions = 1;
            for seg in &segments[first..] {
                repair.dropped_entries += count_entries(&seg.path, 0)?;
            }
            // Newest first, each move durable before the next, so an interruption leaves
            // a prefix that still ends in the invalid segment.
            while segments.len() > first {
                let Some(seg) = segments.pop() else { break };
                repair.dropped_bytes += file_len(&seg.path);
                q.take_segment(&seg.path)?;
                repair.removed_segments.push(seg.path);
            }
            repair.removed_segments.reverse();
            repair.quarantined_segments = q.moved;
            repair.quarantined_bytes = q.bytes;
            repair.quarantine = q.finish()?;
        }
        Recovery::Salvage => {
            let mut plans = Vec::new();
            for &(i, ref why) in invalid.iter().rev() {
                let seg = &segments[i];
                let len = std::fs::metadata(&seg.path)
                    .ctx("stat segment", &seg.path)?
                    .len();
                let resume = if len > segment::HEADER_LEN {
                    SegmentReader::open(&seg.path, None)?.resync(segment::HEADER_LEN)?
                } else {
                    None
                };
                note.damage(&seg.path, None, &format!("invalid segment header: {why}"));
                match resume {
                    Some(from) => note.takes_out(format_args!(
                        "segment {}, replaced by a copy with a valid header and its bytes \
                         from offset {from} on",
                        describe(seg)
                    )),
                    None => note.takes_out(format_args!(
                        "segment {} (no valid entry in it)",
                        describe(seg)
                    )),
                }
                plans.push((i, resume, len));
            }
            let mut q = Quarantine::begin(fs, keep, &repair.segment, &note)?;
            for (i, resume, len) in plans {
                let path = segments[i].path.clone();
                repair.damaged_regions += 1;
                match resume {
                    Some(from) => {
                        let kept = rewrite(fs, &mut q, &path, std::slice::from_ref(&(from..len)))?;
                        repair.dropped_bytes += len.saturating_sub(kept);
                        segments[i].link = false;
                    }
                    None => {
                        q.take_segment(&path)?;
                        repair.dropped_bytes += len;
                        repair.removed_segments.push(path);
                        segments.remove(i);
                    }
                }
            }
            repair.removed_segments.reverse();
            repair.quarantined_segments = q.moved;
            repair.quarantined_bytes = q.bytes;
            repair.quarantine = q.finish()?;
        }
    }
    Ok(Some(repair))
}
