//! The segment writer: appends framed entries to the active segment's buffer, cuts new
//! segments by the format's rule, and submits full buffers and finished segments to the
//! I/O pipeline.
//!
//! Positions: `appended` counts every entry byte logged since open; a buffer submitted
//! for writing ends at the `appended` of its last entry, which is what a sync waits for.

use std::fs::OpenOptions;
use std::sync::Arc;

use crate::entry::{self, CRC_LEN, EntryType, HEADER_LEN};
use crate::error::{Error, Result};
use crate::fsutil::Fs;
use crate::io::{Io, MAX_QUEUED_BYTES, SegFile};
use crate::segment::{self, SegmentMeta};

/// Entries are collected up to this many bytes before they are submitted for writing;
/// small enough to stay in the CPU cache until the kernel copies it (measured faster
/// than 8 MiB).
pub(crate) const BUFFER_SIZE: usize = 1 << 20;

struct Active {
    seg: Arc<SegFile>,
    /// Segment bytes including the buffered ones; the cutting rule counts these.
    written: u64,
    /// Segment bytes submitted for writing; the buffer goes at this offset.
    submitted: u64,
}

pub(crate) struct SegmentWriter {
    fs: Arc<Fs>,
    segment_size: u64,
    /// Every segment of the log, oldest first; the last one is the head.
    pub(crate) segments: Vec<SegmentMeta>,
    active: Option<Active>,
    buf: Vec<u8>,
    /// Log position after the last appended entry.
    appended: u64,
    /// Entries appended since open.
    entries: u64,
    /// The head segment left by an earlier run was trimmed (or needs no trimming).
    previous_head_done: bool,
}

impl SegmentWriter {
    pub(crate) fn new(fs: Arc<Fs>, segment_size: u64, segments: Vec<SegmentMeta>) -> Self {
        SegmentWriter {
            fs,
            segment_size,
            segments,
            active: None,
            buf: Vec::new(),
            appended: 0,
            entries: 0,
            previous_head_done: false,
        }
    }

    /// Appends one framed entry (empty for an empty batch, which writes nothing but still
    /// obeys the cutting rule) and records its highest timestamp on the head segment.
    /// Returns the log position after the entry.
    pub(crate) fn append(&mut self, frame: &[u8], max_time: i64, io: &Io) -> Result<u64> {
        // The format's rule counts header + body, not the CRC.
        let size = frame.len().saturating_sub(CRC_LEN).max(HEADER_LEN) as u64;
        if self.needs_cut(size) {
            self.cut(io)?;
        }
        if frame.is_empty() {
            return Ok(self.appended);
        }
        if self.active.is_none() {
            return Err(Error::state("internal: no active segment after a cut"));
        }
        if !self.buf.is_empty() && self.buf.len() + frame.len() > BUFFER_SIZE {
            self.submit_full_buffer(io);
        }
        if self.buf.capacity() == 0 {
            self.buf = io.spare_buffer();
            self.buf.reserve(BUFFER_SIZE);
        }
        self.buf.extend_from_slice(frame);
        self.account(frame.len() as u64, max_time, io);
        Ok(self.appended)
    }

    /// Like `append`, but frames the entry straight into the buffer. The cutting rule
    /// needs the entry's size, so an entry that turns out to need a new segment is moved
    /// there (once per segment). `most` bounds the framed entry's length (0: unknown);
    /// a buffer without that much room is submitted first rather than grown, which
    /// would copy it.
    pub(crate) fn append_encoded(
        &mut self,
        entry_type: EntryType,
        empty: bool,
        most: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> i64,
        io: &Io,
    ) -> Result<u64> {
        if empty {
            return self.append(&[], i64::MIN, io);
        }
        if !self.buf.is_empty() && self.buf.capacity() - self.buf.len() < most {
            self.submit_full_buffer(io);
        }
        if self.buf.capacity() == 0 {
            self.buf = io.spare_buffer();
            self.buf.reserve(BUFFER_SIZE);
        }
        let start = self.buf.len();
        let max_time = entry::frame(&mut self.buf, entry_type, encode)?;
        let len = (self.buf.len() - start) as u64;
        if self.needs_cut(len - CRC_LEN as u64) {
            let mut moved = io.spare_buffer();
            moved.reserve(BUFFER_SIZE.max(len as usize));
            moved.extend_from_slice(&self.buf[start..]);
            self.buf.truncate(start);
            // On failure the entry is not logged: it goes with the error.
            self.cut(io)?;
            self.buf = moved;
        }
        self.account(len, max_time, io);
        Ok(self.appended)
    }

    fn needs_cut(&self, size: u64) -> bool {
        let seg = self.segment_size;
        match &self.active {
            None => true,
            Some(a) => a.written > seg || (a.written + size > seg && size <= seg),
        }
    }

    /// Counts an entry of `len` bytes just placed in the buffer.
    fn account(&mut self, len: u64, max_time: i64, io: &Io) {
        self.appended += len;
        self.entries += 1;
        if let Some(a) = self.active.as_mut() {
            a.written += len;
        }
        if let Some(head) = self.segments.last_mut() {
            head.max_time = head.max_time.max(max_time);
        }
        if self.buf.len() >= BUFFER_SIZE {
            self.submit_full_buffer(io);
        }
    }

    /// Submits a buffer that is full. The queue only grows here (and at a cut): if the
    /// disk is behind, help instead of queueing more, which bounds the memory held.
    fn submit_full_buffer(&mut self, io: &Io) {
        self.submit_buffer(io);
        if io.queued_bytes() > MAX_QUEUED_BYTES {
            io.run_pending();
        }
    }

    /// Submits the buffered entries for writing.
    pub(crate) fn submit_buffer(&mut self, io: &Io) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        if self.buf.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.buf);
        let offset = a.submitted;
        a.submitted += data.len() as u64;
        io.submit_write(a.seg.clone(), offset, data, self.appended);
    }

    /// Finishes the active segment (in the background, once its last entries are in
    /// the file) and starts the next one.
    fn cut(&mut self, io: &Io) -> Result<()> {
        if self.finish_active(io) {
            io.run_writes();
        } else if !self.previous_head_done {
            self.trim_previous_head(io);
        }
        self.previous_head_done = true;

        let seq = match self.segments.last() {
            None => 1,
            Some(s) => s.seq.checked_add(1).ok_or_else(|| {
                Error::state("segment sequence numbers are exhausted (u64::MAX reached)")
            })?,
        };
        let (file, path) = segment::create(&self.fs, seq, self.segment_size)?;
        self.segments.push(SegmentMeta::new(&self.fs.dir, seq));
        self.active = Some(Active {
            seg: Arc::new(SegFile { file, path }),
            written: segment::HEADER_LEN,
            submitted: segment::HEADER_LEN,
        });
        Ok(())
    }

    /// Submits what is buffered, then the finishing of the active segment after it
    /// (trimmed to its last entry, fsynced); the next write starts a new segment. False
    /// if no segment was active.
    fn finish_active(&mut self, io: &Io) -> bool {
        self.submit_buffer(io);
        match self.active.take() {
            Some(a) => {
                io.submit_finish(a.seg, a.submitted, self.appended);
                true
            }
            None => false,
        }
    }

    /// The last segment of an earlier run may still carry its preallocated tail (after a
    /// crash); once a new segment follows it, that space is given back. Only zeros are:
    /// not data after a hole, and nothing through a symbolic link.
    fn trim_previous_head(&mut self, io: &Io) {
        let Some(head) = self.segments.last() else {
            return;
        };
        let Some(end) = head.log_end.filter(|_| head.zeros_after_end && !head.link) else {
            return;
        };
        let Ok(file) = OpenOptions::new().write(true).open(&head.path) else {
            return;
        };
        if file.metadata().is_ok_and(|m| m.len() > end) {
            let seg = SegFile {
                file,
                path: head.path.clone(),
            };
            io.submit_trim(Arc::new(seg), end);
        }
    }

    /// Log position after the last appended entry.
    pub(crate) fn appended(&self) -> u64 {
        self.appended
    }

    /// Entries appended since open.
    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// How much of the head segment a reader may read (all of it if it is not active),
    /// once everything submitted has been written.
    pub(crate) fn read_limit(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.submitted)
    }

    /// Before a repair changes the segments: finishes the active one as a cut does
    /// (after its writes, trimmed to its last entry and fsynced), so the repair sees only
    /// finished files and nothing logged before is left unsynced. The next write starts
    /// a new segment. The previous run's head is not trimmed later either: the repair
    /// may have cut, rewritten or deleted it.
    pub(crate) fn finish_before_repair(&mut self, io: &Io) -> Result<()> {
        self.finish_active(io);
        self.previous_head_done = true;
        io.run_pending();
        io.take_error()
    }

    /// Writes everything, trims the active segment to its last entry and fsyncs it.
    pub(crate) fn close(&mut self, io: &Io) -> Result<()> {
        self.submit_buffer(io);
        io.run_pending();
        io.take_error()?;
        if let Some(a) = self.active.take() {
            let (file, path) = (&a.seg.file, &a.seg.path);
            self.fs
                .set_len(file, path, a.submitted, "trim head segment")?;
            self.fs.fsync(file, path, false)?;
        }
        Ok(())
    }
}
