//! Telling a SegmentWAL directory from one that only shares its file names.
//!
//! The reference deletes an invalid segment and every later one, so opening a directory
//! of numbered files that are not SegmentWAL segments (a Prometheus 2.3+ WAL, whose
//! segments are named `00000000`...) would take out every file. Such a directory is
//! refused before anything is changed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::entry::{self, CRC_LEN, HEADER_LEN, TypeByte};
use crate::error::{Error, IoContext, Result};
use crate::segment::{self, SegmentMeta};

/// Page size of the Prometheus 2.3+ WAL (`wlog`), whose records are framed as
/// `type u8 | length u16 | crc32c u32 | data`, the type's low 3 bits being 1 (a whole
/// record) or 2 (its first fragment) at the start of a segment.
const WLOG_PAGE: usize = 32 * 1024;
const WLOG_HEADER: usize = 7;

/// `Err(Error::Format)` if `segments` (the directory's segment-named files) are not a
/// SegmentWAL: none has a valid header, none starts with a valid SegmentWAL entry after
/// a damaged header, and at least one holds data. Files that hold nothing but zeros,
/// or the start of a header and zeros (in the newest segment: in its first 32 KiB), are
/// what a crash (or a writer creating a segment, seen from another process) leaves of a
/// SegmentWAL segment, and are not evidence either way.
pub(crate) fn check(dir: &Path, segments: &[SegmentMeta]) -> Result<()> {
    let mut with_data = Vec::new();
    let mut wlog = 0;
    for (i, seg) in segments.iter().enumerate() {
        let head = read_head(&seg.path)?;
        if head.len() >= segment::HEADER_LEN as usize
            && segment::header_problem(&head[..segment::HEADER_LEN as usize]).is_none()
        {
            return Ok(());
        }
        if starts_with_entry(&head) {
            return Ok(());
        }
        let newest = i + 1 == segments.len();
        if holds_data(&seg.path, &head, newest)? {
            if looks_like_wlog(&head) {
                wlog += 1;
            }
            with_data.push(seg);
        }
    }
    let Some(first) = with_data.first() else {
        return Ok(());
    };
    // A writer in another process may have been creating the first segment: it writes
    // the header before any entry, so data seen means a header that is there by now.
    for seg in segments {
        if segment::check_header(&seg.path)?.is_none() {
            return Ok(());
        }
    }
    let name = |s: &SegmentMeta| segment::file_name(&s.path);
    let what = if wlog > 0 && wlog == with_data.len() {
        "it looks like a Prometheus 2.3+ WAL (page format), which tswal does not read (it \
         reads the SegmentWAL of Prometheus 2.0-2.2)"
            .to_string()
    } else {
        let head = read_head(&first.path)?;
        let found = match head.get(..4) {
            Some(m) => format!("bytes {:02x} {:02x} {:02x} {:02x}", m[0], m[1], m[2], m[3]),
            None => "fewer than 4 bytes".to_string(),
        };
        format!(
            "its numbered files are not SegmentWAL segments ({} starts with {found}, not \
             the magic 43 af 00 ef)",
            name(first)
        )
    };
    let files = match segments {
        [one] => format!(
            "its segment-named file {} has no SegmentWAL header",
            name(one)
        ),
        [first, .., last] => format!(
            "none of its {} segment-named files ({} to {}) has a SegmentWAL header",
            segments.len(),
            name(first),
            name(last)
        ),
        [] => String::new(),
    };
    Err(Error::format(
        dir,
        format!("not a SegmentWAL directory: {what}; {files}. Nothing was changed"),
    ))
}

/// The first bytes of a file, enough for one wlog page.
fn read_head(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).ctx("open segment", path)?;
    let mut head = Vec::with_capacity(WLOG_PAGE);
    f.take(WLOG_PAGE as u64)
        .read_to_end(&mut head)
        .ctx("read segment", path)?;
    Ok(head)
}

/// Whether a SegmentWAL entry with a matching CRC starts at offset 8: a segment whose
/// header alone is damaged. Only entries within the bytes read are checked.
fn starts_with_entry(head: &[u8]) -> bool {
    let at = segment::HEADER_LEN as usize;
    let Some(header) = head.get(at..at + HEADER_LEN) else {
        return false;
    };
    let Ok(header) = <[u8; HEADER_LEN]>::try_from(header) else {
        return false;
    };
    if !matches!(entry::classify(header[0]), TypeByte::Entry(_)) || header[1] != entry::FLAG_SIMPLE
    {
        return false;
    }
    let total = HEADER_LEN + entry::body_len(&header) as usize + CRC_LEN;
    head.get(at..at + total).is_some_and(entry::crc_matches)
}

/// Whether the file holds data: a non-zero byte other than the start of a SegmentWAL
/// header still being written (reading past `head` only if it holds none).
///
/// In the newest segment only `head` is looked at: with nothing in it, that is a segment
/// a writer is creating (preallocated, header not yet written), whose writes start at
/// the front. Reading on would cost a tail or a read-only read up to a whole segment of
/// zeros at every look until the header is there.
fn holds_data(path: &Path, head: &[u8], newest: bool) -> Result<bool> {
    let at = segment::HEADER_LEN as usize;
    let (first, rest) = head.split_at(at.min(head.len()));
    if !segment::header_in_progress(first) || rest.iter().any(|&b| b != 0) {
        return Ok(true);
    }
    if newest {
        return Ok(false);
    }
    let mut f = File::open(path).ctx("open segment", path)?;
    // From the end of the head, which was looked at above (with its header bytes).
    f.seek(SeekFrom::Start(head.len() as u64))
        .ctx("read segment", path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ctx("read segment", path)?;
        if n == 0 {
            return Ok(false);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(true);
        }
    }
}

/// Whether the file starts with a wlog record whose CRC matches.
fn looks_like_wlog(head: &[u8]) -> bool {
    let Some(h) = head.get(..WLOG_HEADER) else {
        return false;
    };
    let kind = h[0] & 0x07;
    let len = u16::from_be_bytes([h[1], h[2]]) as usize;
    let crc = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
    (kind == 1 || kind == 2)
        && len <= WLOG_PAGE - WLOG_HEADER
        && head
            .get(WLOG_HEADER..WLOG_HEADER + len)
            .is_some_and(|data| crc_fast::crc32_iscsi(data) == crc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wlog segment: one whole record.
    fn wlog_record(data: &[u8]) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&crc_fast::crc32_iscsi(data).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn only_the_head_of_the_newest_segment_is_looked_at() {
        use std::os::unix::fs::FileExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("00000001");
        let f = File::create(&path).unwrap();
        f.set_len(4 << 20).unwrap();
        f.write_at(&[0x43, 0xaf], 0).unwrap();
        let head = read_head(&path).unwrap();
        assert!(!holds_data(&path, &head, true).unwrap());
        assert!(!holds_data(&path, &head, false).unwrap());
        // A byte beyond the head: data in an older segment, not looked at in the newest.
        f.write_at(&[7], 3 << 20).unwrap();
        assert!(!holds_data(&path, &head, true).unwrap());
        assert!(holds_data(&path, &head, false).unwrap());
        // In the head: data in either.
        f.write_at(&[7], 100).unwrap();
        let head = read_head(&path).unwrap();
        assert!(holds_data(&path, &head, true).unwrap());
    }

    #[test]
    fn a_wlog_record_is_recognised_and_a_damaged_one_is_not() {
        let rec = wlog_record(b"\x01series record");
        assert!(looks_like_wlog(&rec));
        let mut bad = rec.clone();
        bad[9] ^= 1;
        assert!(!looks_like_wlog(&bad));
        assert!(!looks_like_wlog(&rec[..5]));
    }
}
