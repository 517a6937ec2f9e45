//! Following a WAL as it is written, from this process or another: a tail delivers the
//! entries a writer has handed to the files, in log order, follows segment cuts, waits
//! (woken by the directory changing, see `notify`) when there is nothing new, and can be
//! stopped and resumed exactly from a saved [`Position`].
//!
//! A tail only reads, as a read-only handle does: it never locks, creates, writes or
//! deletes anything, and the writer never waits for it.
//!
//! How a tail knows a segment is complete: a writer writes a segment's last entries
//! before it creates the next segment (see `Io::run_writes`), so once a newer segment
//! exists, reading the current one again to its end gets all of it.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::entry::{CRC_LEN, HEADER_LEN};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::notify::{DirWatch, TailWaker};
use crate::options::Recovery;
use crate::read::{Decoder, Entry, Position, ReadSummary};
use crate::reader::{SegmentReader, Step};
use crate::segment::{self, SegmentMeta};
use crate::view;

/// What a tail could not deliver: entries of segments that a truncation (or a repair)
/// removed before the tail read them. Counted, never skipped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gaps {
    /// Times the tail found segments gone that it had not read to their end.
    pub count: u64,
    /// Segments it could not read (or not to their end).
    pub segments: u64,
    /// Their bytes it had not read, as far as it knew their sizes.
    pub bytes: u64,
}

/// The segment a tail is reading.
struct Current {
    meta: SegmentMeta,
    file: Arc<File>,
    /// Its header was found valid.
    header_ok: bool,
}

/// A reader that follows a WAL directory as it is written. See the module doc.
pub struct Tail {
    dir: PathBuf,
    watch: DirWatch,
    recovery: Recovery,
    /// Where the next entry starts. Segment 0 (no such segment) means "the oldest".
    at: Position,
    current: Option<Current>,
    /// Segments listed after the current one and not read yet, with their sizes then.
    ahead: BTreeMap<u64, u64>,
    /// A position the caller gave, still to be checked against the segment's entries.
    unchecked: bool,
    decoder: Decoder,
    /// Filled by the decoder; a tail reports its own counts.
    summary: ReadSummary,
    gaps: Gaps,
    /// Entries delivered (a visit that stopped did not complete its entry's delivery).
    delivered: u64,
    /// Damaged regions a `Salvage` tail skipped.
    damaged: u64,
}

impl Tail {
    /// Opens a tail on the WAL in `dir`, from `from` (an entry boundary, as
    /// [`Tail::position`] gives it), or from the start of the log. `recovery` says what
    /// it does at damage below the newest segment: `Truncate` stops there (an error
    /// until the writer repairs it), `Salvage` skips it; `Fail` is refused.
    pub fn open(dir: impl AsRef<Path>, from: Option<Position>, recovery: Recovery) -> Result<Tail> {
        if recovery == Recovery::Fail {
            return Err(Error::invalid(
                "a tail stops at damage (Recovery::Truncate) or skips it (Salvage); Fail is \
                 for reads that end",
            ));
        }
        let dir = dir.as_ref().to_path_buf();
        fsutil::open_existing_dir(&dir)?;
        // Refuses a directory that is not a SegmentWAL.
        let segments = view::segments(&dir)?;
        let (at, unchecked) = match from {
            None => (
                Position {
                    segment: 0,
                    offset: segment::HEADER_LEN,
                },
                false,
            ),
            Some(p) => {
                if p.offset < segment::HEADER_LEN {
                    return Err(Error::invalid(format!(
                        "position {}:{} is inside the segment header: entries start at \
                         offset {} or later",
                        p.segment,
                        p.offset,
                        segment::HEADER_LEN
                    )));
                }
                if segments.last().is_some_and(|s| s.seq < p.segment) {
                    return Err(Error::invalid(format!(
                        "position {}:{} is beyond the log, whose newest segment is {}",
                        p.segment,
                        p.offset,
                        segments.last().map_or(0, |s| s.seq)
                    )));
                }
                (p, true)
            }
        };
        Ok(Tail {
            watch: DirWatch::new(&dir),
            dir,
            recovery,
            at,
            current: None,
            ahead: BTreeMap::new(),
            unchecked,
            decoder: Decoder::default(),
            summary: ReadSummary::default(),
            gaps: Gaps::default(),
            delivered: 0,
            damaged: 0,
        })
    }

    /// Where the next entry starts: opening a tail there continues exactly.
    pub fn position(&self) -> Position {
        self.at
    }

    /// What the tail could not deliver so far.
    pub fn gaps(&self) -> Gaps {
        self.gaps
    }

    /// Entries delivered since open.
    pub fn entries(&self) -> u64 {
        self.delivered
    }

    /// Damaged regions a `Salvage` tail skipped since open.
    pub fn damaged(&self) -> u64 {
        self.damaged
    }

    /// A handle with which another thread ends a wait in [`Tail::next`] early (to stop
    /// a tail that waits for a long timeout, say).
    pub fn waker(&self) -> TailWaker {
        self.watch.waker()
    }

    /// Whether an idle tail is woken by the directory changing (inotify); false where it
    /// has to poll (every 50 ms).
    pub fn pushed(&self) -> bool {
        self.watch.pushed()
    }

    /// Delivers the entries available now, in log order, to `visit` (labels sorted by
    /// name; slices valid only during the call); when there are none, waits up to
    /// `timeout` for more. Returns how many were delivered (0 after a timeout, or after a
    /// [`TailWaker::wake`] ended the wait).
    ///
    /// `visit` returning `Break` stops with [`Error::Aborted`]; the entry it stopped on
    /// is delivered again by the next call. Damage below the newest segment stops a
    /// `Truncate` tail: the call returns the entries before it, and the next call
    /// [`Error::Corruption`] (with segment and offset) until the damage is repaired.
    pub fn next<F>(&mut self, timeout: Duration, mut visit: F) -> Result<u64>
    where
        F: FnMut(Position, Entry<'_>) -> ControlFlow<()>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            // Changes from now on wake the wait below; those before are looked at now.
            self.watch.drain();
            let n = self.deliver_available(&mut visit)?;
            if n > 0 {
                return Ok(n);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(0);
            }
            if self.watch.wait(deadline - now) {
                return Ok(0);
            }
        }
    }

    /// Delivers what is there now, following cuts; 0 if nothing new.
    fn deliver_available(
        &mut self,
        visit: &mut dyn FnMut(Position, Entry<'_>) -> ControlFlow<()>,
    ) -> Result<u64> {
        let mut delivered = 0;
        loop {
            if self.current.is_none() && !self.open_current()? {
                return Ok(delivered);
            }
            match self.read_current(visit, &mut delivered)? {
                Stop::Wait => return Ok(delivered),
                Stop::Again => continue,
                Stop::Damage(e) if delivered > 0 => {
                    // Reported by the next call, which finds it again.
                    drop(e);
                    return Ok(delivered);
                }
                Stop::Damage(e) => return Err(e),
            }
        }
    }

    /// Opens the segment of `at`, or the next one if it is gone (counting a gap if the
    /// tail knew it); false if there is no segment to read yet.
    fn open_current(&mut self) -> Result<bool> {
        let segments = view::segments(&self.dir)?;
        let known = self.at.segment != 0;
        for s in segments.iter().filter(|s| s.seq > self.at.segment) {
            self.ahead.entry(s.seq).or_insert_with(|| s.file_len());
        }
        let Some(seg) = segments.into_iter().find(|s| s.seq >= self.at.segment) else {
            return Ok(false);
        };
        if seg.seq != self.at.segment {
            if known {
                // The segment the tail was to read is gone, and so are those it had
                // listed up to the one it finds.
                self.gaps.count += 1;
                self.gaps.segments += 1;
                self.gaps.bytes += self
                    .ahead
                    .remove(&self.at.segment)
                    .unwrap_or(0)
                    .saturating_sub(self.at.offset);
                self.count_missing_before(seg.seq);
            }
            self.at = Position {
                segment: seg.seq,
                offset: segment::HEADER_LEN,
            };
            self.unchecked = false;
        }
        let file = File::open(&seg.path).ctx("open segment", &seg.path)?;
        self.ahead.remove(&seg.seq);
        self.current = Some(Current {
            meta: seg,
            file: Arc::new(file),
            header_ok: false,
        });
        if self.unchecked {
            self.check_boundary()?;
            self.unchecked = false;
        }
        Ok(true)
    }

    /// Counts the listed, unread segments before `seq` that are gone as part of the gap.
    fn count_missing_before(&mut self, seq: u64) {
        let gone: Vec<u64> = self.ahead.range(..seq).map(|(&s, _)| s).collect();
        for s in gone {
            self.gaps.segments += 1;
            self.gaps.bytes += self.ahead.remove(&s).unwrap_or(0);
        }
    }

    /// A position the caller gave must start an entry of its segment.
    fn check_boundary(&mut self) -> Result<()> {
        let Some(cur) = &self.current else {
            return Ok(());
        };
        let mut reader = SegmentReader::with_file(cur.file.clone(), &cur.meta.path, None)?;
        let want = self.at.offset;
        let mut last = segment::HEADER_LEN;
        loop {
            if last == want {
                return Ok(());
            }
            match reader.next()? {
                Step::Entry { offset, body, .. } if offset < want => {
                    last = offset + (HEADER_LEN + body.len() + CRC_LEN) as u64;
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "position {}:{want} does not start an entry of segment {} (the \
                         nearest entry boundary before it is offset {last})",
                        self.at.segment,
                        cur.meta.path.display()
                    )));
                }
            }
        }
    }

    /// Reads the current segment from `at` on, delivering each entry.
    fn read_current(
        &mut self,
        visit: &mut dyn FnMut(Position, Entry<'_>) -> ControlFlow<()>,
        delivered: &mut u64,
    ) -> Result<Stop> {
        let Some(cur) = &self.current else {
            return Ok(Stop::Wait);
        };
        let (file, path) = (cur.file.clone(), cur.meta.path.clone());
        if !cur.header_ok {
            if let Some(stop) = self.check_header(&file, &path)? {
                return Ok(stop);
            }
        }
        let mut reader = SegmentReader::with_file(file.clone(), &path, None)?;
        // Zeros end a segment for a tail (the head's preallocated space, or a hole).
        reader.zero_ends();
        reader.start_at(self.at.offset);
        let mut reread = false;
        loop {
            let halt = match reader.next()? {
                Step::Entry {
                    offset,
                    entry_type,
                    body,
                } => {
                    let end = offset + (HEADER_LEN + body.len() + CRC_LEN) as u64;
                    let Some(cur) = self.current.as_mut() else {
                        return Ok(Stop::Wait);
                    };
                    let result = self.decoder.deliver(
                        &mut cur.meta,
                        offset,
                        entry_type,
                        body,
                        &mut self.summary,
                        visit,
                    );
                    match result {
                        Ok(()) => {
                            *delivered += 1;
                            self.delivered += 1;
                        }
                        // Salvage skips an entry whose body does not decode.
                        Err(Error::Corruption { .. }) if self.recovery == Recovery::Salvage => {}
                        Err(e) => return Err(e),
                    }
                    self.at.offset = end;
                    continue;
                }
                Step::End { .. } | Step::Hole { .. } => Halt::End,
                Step::Corrupt { offset, reason } => Halt::Damage(offset, reason),
            };
            // A newer segment means this one is complete (see the module doc): read it
            // once more to its end, in case the first look came before its last writes.
            // At the head, damage is an entry still being written (a read can see part
            // of a write as zeros): the write's end wakes the tail, which reads again.
            let Some(next) = self.newer_segment()? else {
                return Ok(Stop::Wait);
            };
            if !reread {
                reread = true;
                reader = SegmentReader::with_file(file.clone(), &path, None)?;
                reader.zero_ends();
                reader.start_at(self.at.offset);
                continue;
            }
            return match halt {
                Halt::End => {
                    self.current = None;
                    self.at = Position {
                        segment: next,
                        offset: segment::HEADER_LEN,
                    };
                    Ok(Stop::Again)
                }
                Halt::Damage(offset, reason) => self.damage(&mut reader, offset, reason),
            };
        }
    }

    /// A segment's header, when the tail first reads it: one still being written (the
    /// newest segment) is waited for; an invalid one is damage at offset 0, where a
    /// `Truncate` tail stops and past which a `Salvage` one reads (as read-only reads do).
    fn check_header(&mut self, file: &File, path: &Path) -> Result<Option<Stop>> {
        let head = segment::read_header_of(file, path)?;
        let Some(problem) = segment::header_problem(&head) else {
            if let Some(cur) = self.current.as_mut() {
                cur.header_ok = true;
            }
            return Ok(None);
        };
        if segment::header_in_progress(&head) && self.newer_segment()?.is_none() {
            return Ok(Some(Stop::Wait));
        }
        let reason = format!("invalid segment header: {problem}");
        if self.recovery == Recovery::Salvage {
            self.damaged += 1;
            if let Some(cur) = self.current.as_mut() {
                cur.header_ok = true;
            }
            return Ok(None);
        }
        Ok(Some(Stop::Damage(Error::Corruption {
            segment: path.to_path_buf(),
            offset: 0,
            reason: format!(
                "{reason}; the tail stops here until the WAL is repaired (or open it with \
                 Recovery::Salvage to read past it)"
            ),
        })))
    }

    /// Damage below the head: a `Truncate` tail stops there, a `Salvage` one goes on at
    /// the next valid entry (or the next segment).
    fn damage(
        &mut self,
        reader: &mut SegmentReader<'_>,
        offset: u64,
        reason: String,
    ) -> Result<Stop> {
        let path = self
            .current
            .as_ref()
            .map(|c| c.meta.path.clone())
            .unwrap_or_default();
        if self.recovery != Recovery::Salvage {
            return Ok(Stop::Damage(Error::Corruption {
                segment: path,
                offset,
                reason: format!(
                    "{reason}; the tail stops here until the WAL is repaired (or open it \
                     with Recovery::Salvage to skip the damage)"
                ),
            }));
        }
        self.damaged += 1;
        if let Some(resume) = reader.resync(offset + 1)? {
            self.at.offset = resume;
            return Ok(Stop::Again);
        }
        match self.newer_segment()? {
            Some(next) => {
                self.current = None;
                self.at = Position {
                    segment: next,
                    offset: segment::HEADER_LEN,
                };
                Ok(Stop::Again)
            }
            None => Ok(Stop::Wait),
        }
    }

    /// The oldest segment after the current one, if any, noting the listed ones; those
    /// listed before and gone now, before the oldest one left, were removed unread.
    fn newer_segment(&mut self) -> Result<Option<u64>> {
        let segments = view::segments(&self.dir)?;
        let current = self.at.segment;
        let mut first = None;
        for s in segments.iter().filter(|s| s.seq > current) {
            first.get_or_insert(s.seq);
            self.ahead.entry(s.seq).or_insert_with(|| s.file_len());
        }
        if let Some(f) = first {
            let before = self.gaps.segments;
            self.count_missing_before(f);
            if self.gaps.segments > before {
                self.gaps.count += 1;
            }
        }
        Ok(first)
    }
}

/// What stopped reading the current segment.
enum Stop {
    /// Nothing more for now.
    Wait,
    /// Read on: the next segment, or this one from a new position.
    Again,
    /// Damage the tail does not go past.
    Damage(Error),
}

/// Where the entries of a segment stopped.
enum Halt {
    End,
    Damage(u64, String),
}
