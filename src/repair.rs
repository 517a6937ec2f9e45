//! Repairing a damaged log the way the reference does: keep everything before the first
//! damaged entry, cut its segment there, delete every later segment.

use std::fs::{self, OpenOptions};
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::read::{Damage, Repair};
use crate::segment::SegmentMeta;

/// Applies the repair on disk and drops the deleted segments from `segments`.
///
/// Later segments are deleted newest first and the damaged segment is cut last, so an
/// interruption at any point leaves a prefix of the log with the damage still in place,
/// and the next read repeats the same repair.
pub(crate) fn cut_at_damage(
    dir: &Path,
    dir_file: &fs::File,
    segments: &mut Vec<SegmentMeta>,
    damage: Damage,
) -> Result<Repair> {
    let mut deleted_segments = Vec::new();
    let mut dropped_bytes = 0;
    while segments.len() > damage.index + 1 {
        let Some(later) = segments.last() else { break };
        dropped_bytes += fs::metadata(&later.path).map_or(0, |m| m.len());
        fs::remove_file(&later.path).ctx("delete segment after damage", &later.path)?;
        deleted_segments.push(later.path.clone());
        segments.pop();
    }
    deleted_segments.reverse();
    fsutil::sync_dir(dir_file, dir)?;

    let seg = &segments[damage.index];
    let file = OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .ctx("open segment for repair", &seg.path)?;
    let len = file.metadata().ctx("stat segment", &seg.path)?.len();
    file.set_len(damage.offset)
        .ctx("cut damaged segment", &seg.path)?;
    file.sync_all().ctx("fsync repaired segment", &seg.path)?;
    dropped_bytes += len.saturating_sub(damage.offset);

    Ok(Repair {
        segment: seg.path.clone(),
        offset: damage.offset,
        reason: damage.reason,
        deleted_segments,
        dropped_bytes,
    })
}
