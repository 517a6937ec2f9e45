//! Reading the entries of one segment file, in bounded memory.
//!
//! The reader pulls the file through a buffer of `READ_CHUNK` bytes (grown only for an entry
//! that is larger, and never beyond the bytes left in the file), checks each entry's
//! framing and CRC, and reports the first damaged entry with its offset instead of
//! failing, so the caller can decide how to repair.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::entry::{self, CRC_LEN, EntryType, HEADER_LEN, TypeByte};
use crate::error::{IoContext, Result};
use crate::segment;

/// Read size; small enough that what was read is still in cache when it is decoded, and
/// that the few buffers in flight between the reading and decoding threads touch little
/// fresh memory: with 1 MiB, replaying 10 M samples took ~3,000 page faults (up to a
/// third of the replay's CPU time on a VM), with 256 KiB ~500.
pub(crate) const READ_CHUNK: usize = 1 << 18;

/// One step through a segment.
pub(crate) enum Step<'a> {
    /// A well-framed entry whose CRC matched; `offset` is where its header starts.
    Entry {
        offset: u64,
        entry_type: EntryType,
        body: &'a [u8],
    },
    /// No more entries: the file ended, or a zero type byte starts preallocated space
    /// (zeros up to the end of the file). `offset` is the end of the last entry.
    End { offset: u64 },
    /// A zero type byte at `offset`, but data at `data_at` after the zeros: the
    /// reference ends the segment here; it may be a page lost in a power failure.
    Hole { offset: u64, data_at: u64 },
    /// The entry at `offset` is damaged; everything before it is intact.
    Corrupt { offset: u64, reason: String },
}

/// Checksummed bytes a search for entries after damage may cover, per byte of the
/// segment: bounds `resync` on bytes crafted so that every offset claims a long entry.
const SEARCH_WORK_PER_BYTE: u64 = 4;
/// ... plus this much, so that a small segment may still hold one large entry.
const SEARCH_WORK_BASE: u64 = 1 << 20;

pub(crate) struct SegmentReader<'p> {
    file: Arc<File>,
    path: &'p Path,
    /// Bytes of the file that belong to the log.
    end: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_off: u64,
    /// Unconsumed bytes are `buf[lo..hi]`.
    lo: usize,
    hi: usize,
    /// Bytes `resync` may still check, and whether it ran out.
    search_budget: u64,
    search_exhausted: bool,
    /// A zero type byte ends the segment without a look at the rest (see `zero_ends`).
    zero_ends: bool,
}

impl<'p> SegmentReader<'p> {
    /// Opens a segment for reading from just past its header, up to `limit` bytes of the
    /// file if given (the unflushed part of an active segment does not exist yet).
    pub(crate) fn open(path: &'p Path, limit: Option<u64>) -> Result<Self> {
        let file = File::open(path).ctx("open segment", path)?;
        Self::with_file(Arc::new(file), path, limit)
    }

    /// Like `open`, for a file opened before (it may have been renamed or deleted
    /// since: a read-only read reads the log as it was when it listed it).
    pub(crate) fn with_file(file: Arc<File>, path: &'p Path, limit: Option<u64>) -> Result<Self> {
        let len = file.metadata().ctx("stat segment", path)?.len();
        let end = limit.map_or(len, |l| l.min(len));
        Ok(SegmentReader {
            file,
            path,
            end,
            buf: Vec::new(),
            buf_off: segment::HEADER_LEN,
            lo: 0,
            hi: 0,
            search_budget: SEARCH_WORK_BASE
                .saturating_add(end.saturating_mul(SEARCH_WORK_PER_BYTE)),
            search_exhausted: false,
            zero_ends: false,
        })
    }

    /// Makes a zero type byte end the segment at once, without reading the rest of the
    /// file to tell preallocated space from a hole: for the newest segment of a log a
    /// writer may be writing, where both mean "the end for now", and which may have
    /// hundreds of MiB of preallocated zeros to read at every look.
    pub(crate) fn zero_ends(&mut self) {
        self.zero_ends = true;
    }

    /// Moves the read position to `offset` (an entry boundary; at least past the header),
    /// with nothing buffered.
    pub(crate) fn start_at(&mut self, offset: u64) {
        self.forget(offset.max(segment::HEADER_LEN));
    }

    /// Offset of the next unread byte.
    fn pos(&self) -> u64 {
        self.buf_off + self.lo as u64
    }

    /// Makes at least `n` unread bytes available; `n` must not exceed what is left of the
    /// file. Returns false if the file turned out shorter than its size said.
    fn fill(&mut self, n: usize) -> Result<bool> {
        if self.hi - self.lo >= n {
            return Ok(true);
        }
        if self.buf.len() - self.lo < n {
            // Move the unread tail to the front, then make room for `n`.
            self.buf.copy_within(self.lo..self.hi, 0);
            self.buf_off += self.lo as u64;
            self.hi -= self.lo;
            self.lo = 0;
            let left = (self.end - self.buf_off) as usize;
            let want = n.max(READ_CHUNK.min(left));
            if self.buf.is_empty() {
                // A fresh zeroed allocation comes from the OS without a memset.
                self.buf = vec![0; want];
            } else if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
        }
        while self.hi - self.lo < n {
            let file_off = self.buf_off + self.hi as u64;
            let room = (self.buf.len() - self.hi).min((self.end - file_off) as usize);
            let got = self
                .file
                .read_at(&mut self.buf[self.hi..self.hi + room], file_off)
                .ctx("read segment", self.path)?;
            if got == 0 {
                return Ok(false);
            }
            self.hi += got;
        }
        Ok(true)
    }

    /// Reads the next entry.
    pub(crate) fn next(&mut self) -> Result<Step<'_>> {
        Ok(match self.step(true)? {
            Raw::Entry {
                offset,
                entry_type,
                start,
                end,
            } => Step::Entry {
                offset,
                entry_type,
                body: &self.buf[start + HEADER_LEN..end - CRC_LEN],
            },
            Raw::End { offset } => Step::End { offset },
            Raw::Hole { offset, data_at } => Step::Hole { offset, data_at },
            Raw::Corrupt { offset, reason } => Step::Corrupt { offset, reason },
            // With filling allowed, the reader always gets the bytes it needs.
            Raw::NeedMore => Step::Corrupt {
                offset: self.pos(),
                reason: "internal: reader stopped without reading".into(),
            },
        })
    }

    /// Reads the entries that are wholly in the buffer (reading more only if there are
    /// none) and hands them over with the buffer; `spare` becomes the reader's buffer.
    /// Says how the batch ended: more entries follow, the segment ended, or damage.
    pub(crate) fn next_batch(&mut self, spare: Batch) -> Result<(Batch, BatchEnd)> {
        let Batch {
            buf: mut next_buf,
            mut entries,
        } = spare;
        entries.clear();
        let end = loop {
            match self.step(entries.is_empty())? {
                Raw::Entry {
                    offset,
                    entry_type,
                    start,
                    end,
                } => entries.push(RawEntry {
                    offset,
                    entry_type,
                    body: start + HEADER_LEN..end - CRC_LEN,
                }),
                Raw::NeedMore => break BatchEnd::More,
                Raw::End { offset } => break BatchEnd::End { offset },
                Raw::Hole { offset, data_at } => break BatchEnd::Hole { offset, data_at },
                Raw::Corrupt { offset, reason } => break BatchEnd::Corrupt { offset, reason },
            }
        };
        // The unread tail moves to the front of the new buffer; its length (not zeroed
        // again) is the room `fill` reads into.
        let tail = self.hi - self.lo;
        if next_buf.len() < tail {
            next_buf.resize(tail, 0);
        }
        next_buf[..tail].copy_from_slice(&self.buf[self.lo..self.hi]);
        let buf = std::mem::replace(&mut self.buf, next_buf);
        self.buf_off += self.lo as u64;
        self.lo = 0;
        self.hi = tail;
        Ok((Batch { buf, entries }, end))
    }

    /// Parses the entry at the read position. Without `may_fill`, stops with `NeedMore`
    /// where it would have to read from the file.
    fn step(&mut self, may_fill: bool) -> Result<Raw> {
        let offset = self.pos();
        let Some(left) = self.end.checked_sub(offset) else {
            // Cut below its header since the WAL was opened.
            return Ok(shrunk(offset));
        };
        if left == 0 {
            return Ok(Raw::End { offset });
        }
        let head_len = HEADER_LEN.min(left as usize);
        if self.hi - self.lo < head_len {
            if !may_fill {
                return Ok(Raw::NeedMore);
            }
            if !self.fill(head_len)? {
                if self.hi == self.lo {
                    // Trimmed to this entry boundary since it was opened (a finished
                    // segment losing its preallocated tail): a clean end.
                    self.end = offset;
                    return Ok(Raw::End { offset });
                }
                return Ok(shrunk(offset));
            }
        }
        let entry_type = match entry::classify(self.buf[self.lo]) {
            TypeByte::End if !may_fill => return Ok(Raw::NeedMore),
            TypeByte::End if self.zero_ends => return Ok(Raw::End { offset }),
            TypeByte::End => return self.zero_tail(offset),
            TypeByte::Invalid(1) => {
                return Ok(corrupt(offset, "reserved entry type 1 (symbols)".into()));
            }
            TypeByte::Invalid(t) => return Ok(corrupt(offset, format!("unknown entry type {t}"))),
            TypeByte::Entry(t) => t,
        };
        if head_len < HEADER_LEN {
            return Ok(corrupt(
                offset,
                format!("entry header cut short: {left} of {HEADER_LEN} bytes"),
            ));
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[self.lo..self.lo + HEADER_LEN]);
        let len = entry::body_len(&header) as u64;
        let total = HEADER_LEN as u64 + len + CRC_LEN as u64;
        if total > left {
            let what = if HEADER_LEN as u64 + len > left {
                "body"
            } else {
                "checksum"
            };
            return Ok(corrupt(
                offset,
                format!("entry {what} cut short: body length {len}, {left} bytes left in file"),
            ));
        }
        // `total <= left`, and `left` bytes exist in the file, so this is a real size.
        if self.hi - self.lo < total as usize {
            if !may_fill {
                return Ok(Raw::NeedMore);
            }
            if !self.fill(total as usize)? {
                return Ok(shrunk(offset));
            }
        }
        let start = self.lo;
        let end = start + total as usize;
        if !entry::crc_matches(&self.buf[start..end]) {
            return Ok(corrupt(offset, "checksum mismatch".into()));
        }
        self.lo = end;
        Ok(Raw::Entry {
            offset,
            entry_type,
            start,
            end,
        })
    }
}

impl SegmentReader<'_> {
    /// At a zero type byte: the end of the segment if the rest is zeros (preallocated
    /// space), a hole if data follows. Leaves the read position at the first non-zero
    /// byte.
    fn zero_tail(&mut self, offset: u64) -> Result<Raw> {
        loop {
            if let Some(k) = self.buf[self.lo..self.hi].iter().position(|&b| b != 0) {
                self.lo += k;
                let data_at = self.pos();
                return Ok(Raw::Hole { offset, data_at });
            }
            self.lo = self.hi;
            let left = self.end - self.pos();
            if left == 0 || !self.fill(READ_CHUNK.min(left as usize))? {
                return Ok(Raw::End { offset });
            }
        }
    }

    /// Moves the read position to `to` (not before the start of the buffer).
    fn seek(&mut self, to: u64) {
        let hi_off = self.buf_off + self.hi as u64;
        if to >= self.buf_off && to <= hi_off {
            self.lo = (to - self.buf_off) as usize;
        } else {
            self.buf_off = to;
            self.lo = 0;
            self.hi = 0;
        }
    }

    /// After damage: finds the next offset from `from` on where a whole entry with a
    /// matching CRC starts, and continues reading there. `None` if there is none.
    ///
    /// Candidates must have a known type, the flag every writer uses, and a length that
    /// fits the file and is below `MAX_SALVAGED_ENTRY`. In random damage few offsets
    /// pass, so the scan costs about one read of the damaged region; bytes crafted so
    /// that every offset passes (say `03 01` repeated) would make it check a CRC of up to
    /// that length at each offset. So the bytes checked over all searches in a segment
    /// are bounded by `SEARCH_WORK_PER_BYTE` times its size (plus `SEARCH_WORK_BASE`),
    /// which keeps any read linear in the bytes on disk: past that, no entry is found
    /// (`search_exhausted` tells) and the rest of the segment counts as damaged.
    pub(crate) fn resync(&mut self, from: u64) -> Result<Option<u64>> {
        let mut at = from.max(self.pos());
        while at + (HEADER_LEN + CRC_LEN) as u64 <= self.end {
            self.seek(at);
            let left = self.end - at;
            if !self.fill(HEADER_LEN)? {
                return Ok(None);
            }
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&self.buf[self.lo..self.lo + HEADER_LEN]);
            let total = HEADER_LEN as u64 + entry::body_len(&header) as u64 + CRC_LEN as u64;
            let plausible = matches!(entry::classify(header[0]), TypeByte::Entry(_))
                && header[1] == entry::FLAG_SIMPLE
                && total <= left
                && total <= MAX_SALVAGED_ENTRY;
            if plausible {
                if total > self.search_budget {
                    self.search_exhausted = true;
                    return Ok(None);
                }
                self.search_budget -= total;
                if !self.fill(total as usize)? {
                    return Ok(None);
                }
                if entry::crc_matches(&self.buf[self.lo..self.lo + total as usize]) {
                    return Ok(Some(at));
                }
            }
            at += 1;
        }
        Ok(None)
    }
}

impl SegmentReader<'_> {
    /// Whether `resync` gave up (see there) in this segment.
    pub(crate) fn search_exhausted(&self) -> bool {
        self.search_exhausted
    }

    /// What the damage at `offset`, at the end of the newest segment of a log that
    /// another process may be writing, is. A concurrent reader can see the bytes of a
    /// write still being copied into the file as zeros (the preallocated space), and,
    /// reading ahead of the copy and then behind it, even zeros before bytes already
    /// copied: such a view is damaged only for a moment. So the entry is read again,
    /// a few times over some 30 ms: it may be whole by then (`Valid`: read on from
    /// `offset`), or be an entry still being written, one that runs past the end of
    /// the file or whose end is zeros with only zeros after it (`Unfinished`: the end
    /// of the log for now); else it is `Damaged`.
    pub(crate) fn settle_live(&mut self, offset: u64) -> Result<Live> {
        for attempt in 0..LIVE_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
            }
            self.forget(offset);
            match self.step(true)? {
                Raw::Entry { .. } => {
                    self.forget(offset);
                    return Ok(Live::Valid);
                }
                Raw::End { .. } | Raw::Hole { .. } => return Ok(Live::Unfinished),
                Raw::Corrupt { .. } | Raw::NeedMore => {}
            }
            if self.unfinished(offset)? {
                return Ok(Live::Unfinished);
            }
        }
        Ok(Live::Damaged)
    }

    /// Drops what is buffered and moves the read position to `to`, so that the next
    /// step reads the file again.
    fn forget(&mut self, to: u64) {
        self.buf_off = to;
        self.lo = 0;
        self.hi = 0;
    }

    /// Whether the entry at `offset` runs past the end of the file, or its last byte
    /// and everything after it are zeros.
    fn unfinished(&mut self, offset: u64) -> Result<bool> {
        let Some(left) = self.end.checked_sub(offset) else {
            return Ok(false);
        };
        self.forget(offset);
        let head_len = (HEADER_LEN as u64).min(left) as usize;
        if head_len == 0 || !self.fill(head_len)? {
            return Ok(true);
        }
        if !matches!(entry::classify(self.buf[self.lo]), TypeByte::Entry(_)) {
            return Ok(false);
        }
        if head_len < HEADER_LEN {
            return Ok(true);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[self.lo..self.lo + HEADER_LEN]);
        let total = HEADER_LEN as u64 + entry::body_len(&header) as u64 + CRC_LEN as u64;
        if total > left {
            return Ok(true);
        }
        let mut at = offset + total - 1;
        while at < self.end {
            self.forget(at);
            let n = READ_CHUNK.min((self.end - at) as usize);
            if !self.fill(n)? {
                return Ok(true);
            }
            if self.buf[self.lo..self.lo + n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }
}

/// Reads of a damaged entry at the end of a live log before it counts as damage.
const LIVE_ATTEMPTS: u32 = 5;

/// What damage at the end of a live log is (see `SegmentReader::settle_live`).
pub(crate) enum Live {
    Valid,
    Unfinished,
    Damaged,
}

/// Largest entry a salvage scan looks for after damage.
const MAX_SALVAGED_ENTRY: u64 = 64 << 20;

/// A step before the entry's bytes are borrowed: positions in the buffer.
enum Raw {
    Entry {
        offset: u64,
        entry_type: EntryType,
        start: usize,
        end: usize,
    },
    End {
        offset: u64,
    },
    Hole {
        offset: u64,
        data_at: u64,
    },
    Corrupt {
        offset: u64,
        reason: String,
    },
    NeedMore,
}

/// One entry of a batch: its offset in the segment and where its body lies in the
/// batch's buffer.
pub(crate) struct RawEntry {
    pub offset: u64,
    pub entry_type: EntryType,
    pub body: Range<usize>,
}

/// Entries handed over together with the buffer holding them.
#[derive(Default)]
pub(crate) struct Batch {
    pub buf: Vec<u8>,
    pub entries: Vec<RawEntry>,
}

/// How a batch ended.
pub(crate) enum BatchEnd {
    /// More entries follow in this segment.
    More,
    /// The segment ended after the batch; `offset` is the end of its last entry.
    End { offset: u64 },
    /// A hole after the batch (see `Step::Hole`).
    Hole { offset: u64, data_at: u64 },
    /// The entry after the batch, at `offset`, is damaged.
    Corrupt { offset: u64, reason: String },
}

fn shrunk(offset: u64) -> Raw {
    corrupt(offset, "file shrank while being read".into())
}

fn corrupt(offset: u64, reason: String) -> Raw {
    Raw::Corrupt { offset, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{EntryType, frame};

    fn segment_with_entries(
        n: usize,
        prealloc: u64,
    ) -> (tempfile::TempDir, std::path::PathBuf, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001");
        let mut bytes = segment::header_bytes().to_vec();
        for i in 0..n {
            frame(&mut bytes, EntryType::Samples, |b| {
                b.extend_from_slice(&[i as u8; 16])
            })
            .unwrap();
        }
        let end = bytes.len() as u64;
        bytes.resize(prealloc as usize, 0);
        std::fs::write(&path, &bytes).unwrap();
        (dir, path, end)
    }

    fn count_until_end(r: &mut SegmentReader<'_>) -> (usize, Option<String>, u64) {
        let mut n = 0;
        loop {
            match r.next().unwrap() {
                Step::Entry { .. } => n += 1,
                Step::End { offset } => return (n, None, offset),
                Step::Hole { offset, .. } => return (n, Some("hole".into()), offset),
                Step::Corrupt { offset, reason } => return (n, Some(reason), offset),
            }
        }
    }

    #[test]
    fn a_file_trimmed_to_its_last_entry_while_open_ends_cleanly() {
        // The background worker trims a finished segment's preallocated tail; a reader
        // that stat'ed the file before must see a clean end there, not damage.
        let (_dir, path, end) = segment_with_entries(5, 4096);
        let mut r = SegmentReader::open(&path, None).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(end)
            .unwrap();
        assert_eq!(count_until_end(&mut r), (5, None, end));
    }

    #[test]
    fn a_file_cut_inside_an_entry_while_open_is_damage() {
        let (_dir, path, end) = segment_with_entries(5, 4096);
        let mut r = SegmentReader::open(&path, None).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(end - 3)
            .unwrap();
        let (n, reason, offset) = count_until_end(&mut r);
        assert_eq!(n, 4);
        assert!(reason.is_some());
        assert_eq!(offset, end - 26);
    }
}
