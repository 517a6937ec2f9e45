//! Reading the whole log: segments in order → entries → decoded batches → the caller's
//! visitor. Damage is reported, not repaired, here; `repair` decides what to do with it.

use std::fs::File;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use crate::codec::{self, SeriesSpan};
use crate::entry::{CRC_LEN, EntryType, HEADER_LEN};
use crate::error::{Error, Result};
use crate::options::Recovery;
use crate::reader::{Batch, BatchEnd, Live, READ_CHUNK, SegmentReader, Step};
use crate::record::{Label, Sample, Series, Tombstone};
use crate::segment::SegmentMeta;

/// One decoded entry, as handed to a read visitor. The slices are valid only during the
/// call.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A series entry; labels of each series are sorted by name.
    Series(&'a [Series<'a>]),
    /// A samples entry.
    Samples(&'a [Sample]),
    /// A deletes entry.
    Deletes(&'a [Tombstone]),
}

/// Where an entry starts: its segment's sequence number and its byte offset in the
/// segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The segment's sequence number (`3` for the file `000003`).
    pub segment: u64,
    /// Offset of the entry's header in the segment file.
    pub offset: u64,
}

/// What a read hands each entry to, with where the entry starts.
pub(crate) type Visit<'v> = dyn FnMut(Position, Entry<'_>) -> ControlFlow<()> + 'v;

/// What a completed read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadSummary {
    /// Entries delivered.
    pub entries: u64,
    /// Series delivered.
    pub series: u64,
    /// Samples delivered.
    pub samples: u64,
    /// Tombstones delivered.
    pub tombstones: u64,
    /// Every damaged region the read found, in log order (with `Recovery::Truncate`,
    /// where the read stopped, after any holes it read past).
    pub damage: Vec<Damaged>,
    /// Set if damage was found and repaired.
    pub repair: Option<Repair>,
}

/// A damaged region found by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damaged {
    /// The segment holding it.
    pub segment: PathBuf,
    /// Where it starts in the segment.
    pub offset: u64,
    /// Where the read went on in the segment (`Recovery::Salvage`), if a valid entry
    /// follows; `None`: the region runs to the end of the segment, or the read stopped.
    pub resume: Option<u64>,
    /// Bytes from `offset` to `resume`, or to the end of the segment file.
    pub len: u64,
    /// Zeros followed by data, which `Recovery::Truncate` reads as the end of the
    /// segment (as the reference does) without repairing anything.
    pub hole: bool,
    /// What is wrong there.
    pub reason: String,
}

/// A repair made by a read, or by open for invalid segment headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Repair {
    /// The segment holding the first damaged entry.
    pub segment: PathBuf,
    /// Offset of the first damaged entry (with `Recovery::Truncate`, the segment was cut
    /// here).
    pub offset: u64,
    /// What was wrong there.
    pub reason: String,
    /// Damaged regions found (always 1 with `Recovery::Truncate`, which stops at the
    /// first).
    pub damaged_regions: u64,
    /// Segments taken out of the log whole: with `Recovery::Truncate` the ones after
    /// the damage, with `Recovery::Salvage` those with nothing valid left. Moved into
    /// [`Repair::quarantine`], or deleted without quarantine.
    pub removed_segments: Vec<PathBuf>,
    /// Entries dropped: each damaged region counts as one, plus (with
    /// `Recovery::Truncate`) every valid entry after it that was cut off or removed.
    pub dropped_entries: u64,
    /// Bytes of log data dropped.
    pub dropped_bytes: u64,
    /// The folder that keeps what the repair took out of the log (see
    /// [`Options::quarantine`](crate::Options::quarantine)); `None` without quarantine.
    pub quarantine: Option<PathBuf>,
    /// Segment files moved into quarantine: those taken out whole, and the originals
    /// of segments rewritten without their damage.
    pub quarantined_segments: u64,
    /// Bytes moved or copied into quarantine.
    pub quarantined_bytes: u64,
}

/// Damage found by a read: `segments[index]` from `offset`, up to `resume` where the
/// next valid entry starts (when salvaging; `None`: nothing valid follows in the segment).
/// A `hole` (zeros followed by data, read as the end of the segment by
/// `Recovery::Truncate`, as in the reference) is reported but not repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub index: usize,
    pub offset: u64,
    pub resume: Option<u64>,
    pub reason: String,
    pub hole: bool,
}

/// How a read treats damage and the end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// `Salvage` goes on after damage at the next valid entry; `Truncate` and `Fail`
    /// stop at the first, except that `Truncate` reads a hole as the end of its segment.
    pub recovery: Recovery,
    /// Another process may be writing the log: at the end of the newest segment, an
    /// entry still being written (see `SegmentReader::unfinished`) or a hole is where
    /// the log ends for now.
    pub live: bool,
}

impl Scan {
    pub(crate) fn new(recovery: Recovery) -> Self {
        Scan {
            recovery,
            live: false,
        }
    }

    fn salvage(self) -> bool {
        self.recovery == Recovery::Salvage
    }
}

/// Where a segment's entries stopped.
enum Halt {
    End { offset: u64 },
    Hole { offset: u64, data_at: u64 },
    Corrupt { offset: u64, reason: String },
}

/// What the read does there.
struct Halted {
    /// The segment ends: where its last entry ends, and whether only zeros follow.
    end: Option<(u64, bool)>,
    damage: Option<Damage>,
    /// Reading goes on in this segment (salvage found the next entry).
    resumed: bool,
    /// Reading stops altogether (damage, without salvage).
    stop: bool,
}

/// Decides what happens where the entries of `segments[index]` stopped.
fn halt(
    reader: &mut SegmentReader<'_>,
    index: usize,
    newest: bool,
    halt: Halt,
    scan: Scan,
) -> Result<Halted> {
    let ended = |offset, zeros| Halted {
        end: Some((offset, zeros)),
        damage: None,
        resumed: false,
        stop: false,
    };
    let live_end = scan.live && newest;
    let (offset, reason, from) = match halt {
        Halt::End { offset } => return Ok(ended(offset, true)),
        Halt::Hole { offset, .. } if live_end => return Ok(ended(offset, false)),
        Halt::Hole { offset, data_at } => {
            let reason =
                format!("zero bytes from offset {offset} are followed by data at offset {data_at}");
            if scan.recovery == Recovery::Truncate {
                let damage = Damage {
                    index,
                    offset,
                    resume: None,
                    reason: format!(
                        "{reason}: the segment is read up to the zeros, as the reference \
                         reads it (Recovery::Salvage reads on)"
                    ),
                    hole: true,
                };
                return Ok(Halted {
                    damage: Some(damage),
                    ..ended(offset, false)
                });
            }
            (offset, reason, data_at)
        }
        Halt::Corrupt { offset, reason } if live_end => match reader.settle_live(offset)? {
            Live::Valid => {
                return Ok(Halted {
                    end: None,
                    damage: None,
                    resumed: true,
                    stop: false,
                });
            }
            Live::Unfinished => return Ok(ended(offset, false)),
            Live::Damaged => (offset, reason, offset + 1),
        },
        Halt::Corrupt { offset, reason } => (offset, reason, offset + 1),
    };
    let salvage = scan.salvage();
    let resume = if salvage { reader.resync(from)? } else { None };
    let reason = if reader.search_exhausted() {
        format!(
            "{reason}; the search for the next valid entry gave up (it checks at most 4 \
             times the segment's size), so the rest of the segment counts as damaged"
        )
    } else {
        reason
    };
    Ok(Halted {
        end: None,
        damage: Some(Damage {
            index,
            offset,
            resume,
            reason,
            hole: false,
        }),
        resumed: resume.is_some(),
        stop: !salvage,
    })
}

/// The public form of `damages` (found in `segments`).
pub(crate) fn report(segments: &[SegmentMeta], damages: &[Damage]) -> Vec<Damaged> {
    damages
        .iter()
        .map(|d| {
            let seg = &segments[d.index];
            let end = d.resume.unwrap_or_else(|| seg.file_len());
            Damaged {
                segment: seg.path.clone(),
                offset: d.offset,
                resume: d.resume,
                len: end.saturating_sub(d.offset),
                hole: d.hole,
                reason: d.reason.clone(),
            }
        })
        .collect()
}

/// Most labels a series entry's decoding reserves room for up front (32 bytes each).
const MAX_LABELS_RESERVED: usize = 8192;

/// Decodes entries and hands them to the visitor, reusing its arrays between entries.
#[derive(Default)]
pub(crate) struct Decoder {
    samples: Vec<Sample>,
    tombstones: Vec<Tombstone>,
    spans: Vec<SeriesSpan>,
}

impl Decoder {
    /// Decodes one entry of `seg` (found at `offset`), records its timestamps on the
    /// segment and delivers it. A body that does not decode is corruption, not repaired.
    pub(crate) fn deliver(
        &mut self,
        seg: &mut SegmentMeta,
        offset: u64,
        entry_type: EntryType,
        body: &[u8],
        summary: &mut ReadSummary,
        visit: &mut Visit<'_>,
    ) -> Result<()> {
        let undecodable = |e: codec::DecodeError| undecodable(seg, offset, &e);
        let at = Position {
            segment: seg.seq,
            offset,
        };
        let flow = match entry_type {
            EntryType::Series => {
                self.spans.clear();
                // Labels take ~20 bytes each in typical bodies: usually one allocation,
                // capped so that long labels cannot make it much larger than needed.
                let mut labels: Vec<Label<'_>> =
                    Vec::with_capacity((body.len() / 16).min(MAX_LABELS_RESERVED));
                codec::decode_series(body, &mut self.spans, &mut labels).map_err(undecodable)?;
                let series: Vec<Series<'_>> = self
                    .spans
                    .iter()
                    .map(|s| Series {
                        series_ref: s.series_ref,
                        labels: &labels[s.start..s.start + s.len],
                    })
                    .collect();
                summary.series += series.len() as u64;
                visit(at, Entry::Series(&series))
            }
            EntryType::Samples => {
                // The slots keep their length between entries: no clearing per entry.
                let (n, max_t) =
                    codec::decode_samples_into(body, &mut self.samples, 0).map_err(undecodable)?;
                return deliver_samples(seg, offset, &self.samples[..n], max_t, summary, visit);
            }
            EntryType::Deletes => {
                self.tombstones.clear();
                let max_t =
                    codec::decode_deletes(body, &mut self.tombstones).map_err(undecodable)?;
                seg.max_time = seg.max_time.max(max_t);
                summary.tombstones += self.tombstones.len() as u64;
                visit(at, Entry::Deletes(&self.tombstones))
            }
        };
        summary.entries += 1;
        match flow {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(Error::Aborted),
        }
    }
}

/// Delivers samples decoded already.
fn deliver_samples(
    seg: &mut SegmentMeta,
    offset: u64,
    samples: &[Sample],
    max_t: i64,
    summary: &mut ReadSummary,
    visit: &mut Visit<'_>,
) -> Result<()> {
    seg.max_time = seg.max_time.max(max_t);
    summary.samples += samples.len() as u64;
    summary.entries += 1;
    let at = Position {
        segment: seg.seq,
        offset,
    };
    match visit(at, Entry::Samples(samples)) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(Error::Aborted),
    }
}

/// A batch of entries from the reading thread, with the samples entries it decoded
/// itself: every other one while the decoding thread is behind (it has batches
/// waiting), none while the reading thread is the slower one.
#[derive(Default)]
struct Chunk {
    batch: Batch,
    /// Per entry of the batch: decoded here or not.
    pre: Vec<Predecoded>,
    samples: Vec<Sample>,
}

enum Predecoded {
    No,
    Samples {
        start: usize,
        len: usize,
        max_t: i64,
    },
    Bad(codec::DecodeError),
}

impl Chunk {
    /// Decodes every other samples entry into `self.samples` if `share`, none if not.
    fn predecode(&mut self, share: bool) {
        self.pre.clear();
        let mut used = 0;
        let mut odd = false;
        for e in &self.batch.entries {
            let mine = share && e.entry_type == EntryType::Samples && odd;
            odd ^= e.entry_type == EntryType::Samples;
            if !mine {
                self.pre.push(Predecoded::No);
                continue;
            }
            let body = &self.batch.buf[e.body.clone()];
            self.pre.push(
                match codec::decode_samples_into(body, &mut self.samples, used) {
                    Ok((len, max_t)) => {
                        let start = used;
                        used += len;
                        Predecoded::Samples { start, len, max_t }
                    }
                    Err(err) => Predecoded::Bad(err),
                },
            );
        }
    }
}

/// Reads `segments` in order, delivering each entry to `visit` and recording each
/// segment's highest timestamp and where its last entry ends. `limit` caps how much of
/// the last segment is read.
///
/// Returns the damage found: without salvage, the holes read past and the first damaged
/// entry, where the read stopped; with it, every damaged region, the read having gone on
/// at the next valid entry. An entry whose CRC matches but whose body does not decode is
/// an error without salvage, and a damaged region (the entry alone) with it.
///
/// A second thread reads the files and checks framing and CRCs while this one decodes
/// and runs the visitor, so replay uses two cores; memory stays at a few read buffers
/// whatever the size of the log. If that thread cannot be started, one thread does all.
pub(crate) fn read_segments(
    segments: &mut [SegmentMeta],
    limit: Option<u64>,
    scan: Scan,
    summary: &mut ReadSummary,
    visit: &mut Visit<'_>,
) -> Result<Vec<Damage>> {
    let salvage = scan.salvage();
    let files: Vec<SegmentFile> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentFile {
            path: s.path.clone(),
            limit: limit.filter(|_| i + 1 == segments.len()),
            file: s.file.clone(),
        })
        .collect();
    // Batches sent but not yet taken by the decoding side.
    let queued = AtomicUsize::new(0);
    let queued = &queued;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Msg>(2);
        let (spare_tx, spare_rx) = mpsc::channel::<Chunk>();
        let producer = std::thread::Builder::new()
            .name("tswal-reader".into())
            .spawn_scoped(scope, move || produce(&files, scan, &tx, &spare_rx, queued));
        if producer.is_err() {
            return read_segments_here(segments, limit, scan, summary, visit);
        }
        let mut decoder = Decoder::default();
        let mut damages = Vec::new();
        for msg in rx {
            match msg {
                Msg::Chunk { seg, chunk } => {
                    queued.fetch_sub(1, Ordering::Relaxed);
                    let seg_meta = &mut segments[seg];
                    for (e, pre) in chunk.batch.entries.iter().zip(&chunk.pre) {
                        let delivered = match pre {
                            Predecoded::No => decoder.deliver(
                                seg_meta,
                                e.offset,
                                e.entry_type,
                                &chunk.batch.buf[e.body.clone()],
                                summary,
                                visit,
                            ),
                            &Predecoded::Samples { start, len, max_t } => deliver_samples(
                                seg_meta,
                                e.offset,
                                &chunk.samples[start..start + len],
                                max_t,
                                summary,
                                visit,
                            ),
                            Predecoded::Bad(err) => Err(undecodable(seg_meta, e.offset, err)),
                        };
                        let total = (e.body.len() + HEADER_LEN + CRC_LEN) as u64;
                        settle(delivered, salvage, seg, e.offset, total, &mut damages)?;
                    }
                    // Buffers grown for a huge entry are not worth keeping.
                    if chunk.batch.buf.len() <= 4 * READ_CHUNK
                        && chunk.samples.len() <= 4 * READ_CHUNK / 10
                    {
                        let _ = spare_tx.send(chunk);
                    }
                }
                Msg::SegmentEnd { seg, offset, zeros } => {
                    segments[seg].log_end = Some(offset);
                    segments[seg].zeros_after_end = zeros;
                }
                Msg::Damage { damage, stop } => {
                    damages.push(damage);
                    if stop {
                        return Ok(damages);
                    }
                }
                Msg::Failed(e) => return Err(e),
            }
        }
        Ok(damages)
    })
}

fn undecodable(seg: &SegmentMeta, offset: u64, err: &codec::DecodeError) -> Error {
    Error::Corruption {
        segment: seg.path.clone(),
        offset,
        reason: format!("entry with a valid checksum does not decode: {err}"),
    }
}

/// Settles the outcome of delivering one entry of `total` bytes: an entry that does not
/// decode is damage to skip when salvaging, an error otherwise (that says how to get
/// past it: such an entry was written so, and cutting the log there would drop
/// everything after it).
fn settle(
    delivered: Result<()>,
    salvage: bool,
    index: usize,
    offset: u64,
    total: u64,
    damages: &mut Vec<Damage>,
) -> Result<()> {
    match delivered {
        Err(Error::Corruption { reason, .. }) if salvage => {
            damages.push(Damage {
                index,
                offset,
                resume: Some(offset + total),
                reason,
                hole: false,
            });
            Ok(())
        }
        Err(Error::Corruption {
            segment,
            offset,
            reason,
        }) => Err(Error::Corruption {
            segment,
            offset,
            reason: format!(
                "{reason}; nothing was changed: reopen with recovery Salvage \
                 (WAL_RECOVERY_SALVAGE) to skip this entry and keep the rest"
            ),
        }),
        other => other,
    }
}

/// What the reading thread tells the decoding one, in log order.
enum Msg {
    Chunk {
        seg: usize,
        chunk: Chunk,
    },
    SegmentEnd {
        seg: usize,
        offset: u64,
        zeros: bool,
    },
    Damage {
        damage: Damage,
        stop: bool,
    },
    Failed(Error),
}

/// The reading thread: framing and CRCs of every segment, in batches. Stops at damage
/// (or, when salvaging, goes on at the next valid entry), at an error, or when the
/// decoding side has hung up (an aborted read).
fn produce(
    files: &[SegmentFile],
    scan: Scan,
    tx: &SyncSender<Msg>,
    spares: &Receiver<Chunk>,
    queued: &AtomicUsize,
) {
    let fail = |e: Error| {
        let _ = tx.send(Msg::Failed(e));
    };
    for (seg, f) in files.iter().enumerate() {
        let newest = seg + 1 == files.len();
        let mut reader = match f.reader() {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        if scan.live && newest {
            reader.zero_ends();
        }
        loop {
            let mut chunk = spares.try_recv().unwrap_or_default();
            let (batch, end) = match reader.next_batch(std::mem::take(&mut chunk.batch)) {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            chunk.batch = batch;
            if !chunk.batch.entries.is_empty() {
                chunk.predecode(queued.load(Ordering::Relaxed) > 0);
                queued.fetch_add(1, Ordering::Relaxed);
                if tx.send(Msg::Chunk { seg, chunk }).is_err() {
                    return;
                }
            }
            let stopped = match end {
                BatchEnd::More => continue,
                BatchEnd::End { offset } => Halt::End { offset },
                BatchEnd::Hole { offset, data_at } => Halt::Hole { offset, data_at },
                BatchEnd::Corrupt { offset, reason } => Halt::Corrupt { offset, reason },
            };
            let h = match halt(&mut reader, seg, newest, stopped, scan) {
                Ok(h) => h,
                Err(e) => return fail(e),
            };
            if let Some(damage) = h.damage {
                if tx
                    .send(Msg::Damage {
                        damage,
                        stop: h.stop,
                    })
                    .is_err()
                    || h.stop
                {
                    return;
                }
            }
            if let Some((offset, zeros)) = h.end {
                if tx.send(Msg::SegmentEnd { seg, offset, zeros }).is_err() {
                    return;
                }
            }
            if !h.resumed {
                break;
            }
        }
    }
}

/// A segment to read: its path, how much of it (the head segment of a writing handle),
/// and the file if a read-only read opened it when it listed the log.
struct SegmentFile {
    path: PathBuf,
    limit: Option<u64>,
    file: Option<Arc<File>>,
}

impl SegmentFile {
    fn reader(&self) -> Result<SegmentReader<'_>> {
        match &self.file {
            Some(f) => SegmentReader::with_file(f.clone(), &self.path, self.limit),
            None => SegmentReader::open(&self.path, self.limit),
        }
    }
}

/// `read_segments` on the calling thread alone.
fn read_segments_here(
    segments: &mut [SegmentMeta],
    limit: Option<u64>,
    scan: Scan,
    summary: &mut ReadSummary,
    visit: &mut Visit<'_>,
) -> Result<Vec<Damage>> {
    let mut decoder = Decoder::default();
    let mut damages = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (index, seg) in segments.iter_mut().enumerate() {
        let f = SegmentFile {
            path: seg.path.clone(),
            limit: if index == last { limit } else { None },
            file: seg.file.clone(),
        };
        let mut reader = f.reader()?;
        if scan.live && index == last {
            reader.zero_ends();
        }
        loop {
            let stopped = match reader.next()? {
                Step::End { offset } => Halt::End { offset },
                Step::Hole { offset, data_at } => Halt::Hole { offset, data_at },
                Step::Corrupt { offset, reason } => Halt::Corrupt { offset, reason },
                Step::Entry {
                    offset,
                    entry_type,
                    body,
                } => {
                    let total = (body.len() + HEADER_LEN + CRC_LEN) as u64;
                    let delivered = decoder.deliver(seg, offset, entry_type, body, summary, visit);
                    settle(
                        delivered,
                        scan.salvage(),
                        index,
                        offset,
                        total,
                        &mut damages,
                    )?;
                    continue;
                }
            };
            let h = halt(&mut reader, index, index == last, stopped, scan)?;
            if let Some(damage) = h.damage {
                damages.push(damage);
                if h.stop {
                    return Ok(damages);
                }
            }
            if let Some((offset, zeros)) = h.end {
                seg.log_end = Some(offset);
                seg.zeros_after_end = zeros;
            }
            if !h.resumed {
                break;
            }
        }
    }
    Ok(damages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of reading deliver the same entries and find the same damage, on every
    /// fixture (the two-thread way is what the other tests exercise).
    #[test]
    fn one_thread_reads_like_two() {
        // All the cases of tests/fixtures/prometheus-v1 (CASES in tests/common/mod.rs).
        const CASES: usize = 19;
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus-v1");
        let mut cases = 0;
        for case in std::fs::read_dir(&root).unwrap() {
            let dir = case.unwrap().path().join("wal");
            let mut segs = crate::segment::list(&dir).unwrap();
            segs.retain(|s| crate::segment::check_header(&s.path).unwrap().is_none());
            let run = |segs: &mut Vec<SegmentMeta>, here: bool, salvage: bool| {
                let mut out = String::new();
                let mut summary = ReadSummary::default();
                let mut visit = |_: Position, e: Entry<'_>| {
                    crate::dump::write_entry(&mut out, e);
                    ControlFlow::Continue(())
                };
                let scan = Scan::new(if salvage {
                    Recovery::Salvage
                } else {
                    Recovery::Truncate
                });
                let damage = if here {
                    read_segments_here(segs, None, scan, &mut summary, &mut visit)
                } else {
                    read_segments(segs, None, scan, &mut summary, &mut visit)
                }
                .unwrap();
                let ends: Vec<_> = segs
                    .iter()
                    .map(|s| (s.log_end, s.zeros_after_end, s.max_time))
                    .collect();
                (out, damage, ends, summary)
            };
            for salvage in [false, true] {
                let two = run(&mut segs.clone(), false, salvage);
                let one = run(&mut segs.clone(), true, salvage);
                assert_eq!(one, two, "{} (salvage: {salvage})", dir.display());
            }
            cases += 1;
        }
        assert_eq!(cases, CASES, "expected {CASES} fixture cases in {root:?}");
    }
}
