//! The segment writer: appends framed entries to the active segment through a large
//! buffer, cuts new segments by the format's rule, and hands finished segments to the
//! background worker.
//!
//! Invariant: the file of the active segment holds whole entries up to `flushed`; the
//! buffer holds whole entries that follow. A failed write is cut off the file again, so a
//! segment never ends in a torn entry while the process lives, and the buffered entries
//! move on to the next segment.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::background::{FinishJob, Queue};
use crate::entry::{CRC_LEN, HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::segment::{self, SegmentMeta};

/// Entries are collected up to this many bytes before they are written to the file; small
/// enough to stay in the CPU cache until the kernel copies it (measured faster than 8 MiB).
pub(crate) const BUFFER_SIZE: usize = 1 << 20;

struct Active {
    file: Arc<File>,
    path: PathBuf,
    /// Segment bytes including the buffered ones; the cutting rule counts these.
    written: u64,
    /// Bytes in the file.
    flushed: u64,
}

pub(crate) struct SegmentWriter {
    dir: PathBuf,
    dir_file: Arc<File>,
    segment_size: u64,
    /// Every segment of the log, oldest first; the last one is the head.
    pub(crate) segments: Vec<SegmentMeta>,
    active: Option<Active>,
    buf: Vec<u8>,
    /// Highest timestamp of buffered entries that lost their segment to a failed write.
    carried_max_time: i64,
    /// The head segment left by an earlier run was trimmed (or needs no trimming).
    previous_head_done: bool,
}

impl SegmentWriter {
    pub(crate) fn new(
        dir: PathBuf,
        dir_file: Arc<File>,
        segment_size: u64,
        segments: Vec<SegmentMeta>,
    ) -> Self {
        SegmentWriter {
            dir,
            dir_file,
            segment_size,
            segments,
            active: None,
            buf: Vec::new(),
            carried_max_time: i64::MIN,
            previous_head_done: false,
        }
    }

    /// Appends one framed entry (empty for an empty batch, which writes nothing but still
    /// obeys the cutting rule) and records its highest timestamp on the head segment.
    pub(crate) fn append(&mut self, frame: &[u8], max_time: i64, queue: &Queue) -> Result<()> {
        // The format's rule counts header + body, not the CRC.
        let size = frame.len().saturating_sub(CRC_LEN).max(HEADER_LEN) as u64;
        let seg = self.segment_size;
        let cut = match &self.active {
            None => true,
            Some(a) => a.written > seg || (a.written + size > seg && size <= seg),
        };
        if cut {
            self.cut(queue)?;
        }
        if frame.is_empty() {
            return Ok(());
        }
        let before = self.buf.len();
        self.buf.extend_from_slice(frame);
        if self.buf.len() >= BUFFER_SIZE {
            if let Err(e) = self.flush_active(queue) {
                // This call fails, so its entry must not reach the log later.
                self.buf.truncate(before);
                return Err(e);
            }
        }
        if let Some(a) = self.active.as_mut() {
            a.written += frame.len() as u64;
        }
        if let Some(head) = self.segments.last_mut() {
            head.max_time = head.max_time.max(max_time);
        }
        Ok(())
    }

    /// Writes buffered entries to the file (no fsync).
    pub(crate) fn flush(&mut self, queue: &Queue) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.active.is_none() {
            // Entries left over from a failed write go to a fresh segment.
            self.cut(queue)?;
        }
        self.flush_active(queue)
    }

    fn flush_active(&mut self, queue: &Queue) -> Result<()> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        match a.file.write_all_at(&self.buf, a.flushed) {
            Ok(()) => {
                a.flushed += self.buf.len() as u64;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                let err = Error::io("write segment", &a.path, e);
                self.retire_after_failed_write(queue);
                Err(err)
            }
        }
    }

    /// Cuts the partial write off the active segment and gives the segment up; the
    /// buffered entries stay for the next segment.
    fn retire_after_failed_write(&mut self, queue: &Queue) {
        let Some(a) = self.active.take() else { return };
        let _ = a.file.set_len(a.flushed);
        if let Some(head) = self.segments.last() {
            self.carried_max_time = self.carried_max_time.max(head.max_time);
        }
        queue.submit(FinishJob {
            file: a.file,
            path: a.path,
            len: a.flushed,
        });
    }

    /// Finishes the active segment (in the background) and starts the next one.
    fn cut(&mut self, queue: &Queue) -> Result<()> {
        self.flush_active(queue)?;
        if let Some(a) = self.active.take() {
            queue.submit(FinishJob {
                file: a.file,
                path: a.path,
                len: a.flushed,
            });
        } else if !self.previous_head_done {
            self.trim_previous_head(queue);
        }
        self.previous_head_done = true;

        let seq = match self.segments.last() {
            None => 1,
            Some(s) => s.seq.checked_add(1).ok_or_else(|| {
                Error::state("segment sequence numbers are exhausted (u64::MAX reached)")
            })?,
        };
        let (file, path) = segment::create(&self.dir, &self.dir_file, seq, self.segment_size)?;
        let mut meta = SegmentMeta::new(&self.dir, seq);
        meta.max_time = std::mem::replace(&mut self.carried_max_time, i64::MIN);
        self.segments.push(meta);
        self.active = Some(Active {
            file: Arc::new(file),
            path,
            written: segment::HEADER_LEN + self.buf.len() as u64,
            flushed: segment::HEADER_LEN,
        });
        Ok(())
    }

    /// The last segment of an earlier run may still carry its preallocated tail (after a
    /// crash); once a new segment follows it, that space is given back.
    fn trim_previous_head(&mut self, queue: &Queue) {
        let Some(head) = self.segments.last() else {
            return;
        };
        let Some(end) = head.log_end else { return };
        let Ok(file) = OpenOptions::new().write(true).open(&head.path) else {
            return;
        };
        if file.metadata().is_ok_and(|m| m.len() > end) {
            queue.submit(FinishJob {
                file: Arc::new(file),
                path: head.path.clone(),
                len: end,
            });
        }
    }

    /// The active segment's file, for fsync outside the lock.
    pub(crate) fn active_file(&self) -> Option<(Arc<File>, PathBuf)> {
        self.active
            .as_ref()
            .map(|a| (a.file.clone(), a.path.clone()))
    }

    /// How much of the head segment a reader may read (all of it if it is not active).
    pub(crate) fn read_limit(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.flushed)
    }

    /// After a repair changed the segments: stop writing to the active one if it was cut
    /// or deleted; the next write starts a new segment.
    pub(crate) fn forget_active_segment(&mut self) {
        self.active = None;
        self.previous_head_done = true;
    }

    /// Flushes, trims the active segment to its last entry and fsyncs it.
    pub(crate) fn close(&mut self, queue: &Queue) -> Result<()> {
        self.flush(queue)?;
        if let Some(a) = self.active.take() {
            a.file
                .set_len(a.flushed)
                .ctx("trim head segment", &a.path)?;
            a.file.sync_all().ctx("fsync head segment", &a.path)?;
        }
        Ok(())
    }
}
