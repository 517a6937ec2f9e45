//! The log as a reader sees it, without changing anything: the segments of a directory
//! as recovery at open would leave them, refused if they are not a usable SegmentWAL.
//! Read-only handles read through this on every read, since another process may be
//! writing the directory.

use std::path::Path;

use crate::error::{Error, Result};
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

/// Applies what `recovery` does with invalid segment headers to a read-only view:
/// `Truncate` leaves out the first invalid segment and every later one, `Salvage`
/// reads each from offset 8 on (its read skips what is not an entry), `Fail` reports
/// the first as corruption. The newest segment's header may be being written by a
/// writer in another process: one cut short, or all zeros, is left out unreported.
/// Returns the header damage found.
pub(crate) fn check_headers(
    segments: &mut Vec<SegmentMeta>,
    recovery: Recovery,
) -> Result<Vec<Damaged>> {
    let mut damage = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let seg = &segments[i];
        let head = segment::read_header(&seg.path)?;
        let Some(problem) = segment::header_problem(&head) else {
            i += 1;
            continue;
        };
        let being_written = head.len() < segment::HEADER_LEN as usize || head == [0; 8];
        if being_written && i + 1 == segments.len() {
            segments.pop();
            break;
        }
        let reason = format!("invalid segment header: {problem}");
        let found = Damaged {
            segment: seg.path.clone(),
            offset: 0,
            resume: None,
            reason,
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
                i += 1;
            }
        }
    }
    Ok(damage)
}
