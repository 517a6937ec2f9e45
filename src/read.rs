//! Reading the whole log: segments in order → entries → decoded batches → the caller's
//! visitor. Damage is reported, not repaired, here; `repair` decides what to do with it.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use crate::codec::{self, SeriesSpan};
use crate::entry::{CRC_LEN, EntryType, HEADER_LEN};
use crate::error::{Error, Result};
use crate::reader::{Batch, BatchEnd, READ_CHUNK, SegmentReader, Step};
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

/// What a completed read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Entries delivered.
    pub entries: u64,
    /// Series delivered.
    pub series: u64,
    /// Samples delivered.
    pub samples: u64,
    /// Tombstones delivered.
    pub tombstones: u64,
    /// Set if damage was found and repaired.
    pub repair: Option<Repair>,
}

/// A repair made by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Later segments that were deleted (`Recovery::Truncate` only).
    pub deleted_segments: Vec<PathBuf>,
    /// Entries dropped: each damaged region counts as one, plus (with
    /// `Recovery::Truncate`) every valid entry after it that was cut off or deleted.
    pub dropped_entries: u64,
    /// Bytes of log data dropped.
    pub dropped_bytes: u64,
}

/// Damage found by a read: `segments[index]` from `offset`, up to `resume` where the
/// next valid entry starts (when salvaging; `None`: nothing valid follows in the segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub index: usize,
    pub offset: u64,
    pub resume: Option<u64>,
    pub reason: String,
}

/// Most labels a series entry's decoding reserves room for up front (32 bytes each).
const MAX_LABELS_RESERVED: usize = 8192;

/// Decodes entries and hands them to the visitor, reusing its arrays between entries.
#[derive(Default)]
struct Decoder {
    samples: Vec<Sample>,
    tombstones: Vec<Tombstone>,
    spans: Vec<SeriesSpan>,
}

impl Decoder {
    /// Decodes one entry of `seg` (found at `offset`), records its timestamps on the
    /// segment and delivers it. A body that does not decode is corruption, not repaired.
    fn deliver(
        &mut self,
        seg: &mut SegmentMeta,
        offset: u64,
        entry_type: EntryType,
        body: &[u8],
        summary: &mut ReadSummary,
        visit: &mut dyn FnMut(Entry<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        let undecodable = |e: codec::DecodeError| undecodable(seg, offset, &e);
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
                visit(Entry::Series(&series))
            }
            EntryType::Samples => {
                // The slots keep their length between entries: no clearing per entry.
                let (n, max_t) =
                    codec::decode_samples_into(body, &mut self.samples, 0).map_err(undecodable)?;
                return deliver_samples(seg, &self.samples[..n], max_t, summary, visit);
            }
            EntryType::Deletes => {
                self.tombstones.clear();
                let max_t =
                    codec::decode_deletes(body, &mut self.tombstones).map_err(undecodable)?;
                seg.max_time = seg.max_time.max(max_t);
                summary.tombstones += self.tombstones.len() as u64;
                visit(Entry::Deletes(&self.tombstones))
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
    samples: &[Sample],
    max_t: i64,
    summary: &mut ReadSummary,
    visit: &mut dyn FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Result<()> {
    seg.max_time = seg.max_time.max(max_t);
    summary.samples += samples.len() as u64;
    summary.entries += 1;
    match visit(Entry::Samples(samples)) {
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
/// Returns the damage found: without `salvage`, the first damaged entry, where the read
/// stopped; with it, every damaged region, the read having gone on at the next valid
/// entry. An entry whose CRC matches but whose body does not decode is an error without
/// `salvage`, and a damaged region (the entry alone) with it.
///
/// A second thread reads the files and checks framing and CRCs while this one decodes
/// and runs the visitor, so replay uses two cores; memory stays at a few read buffers
/// whatever the size of the log. If that thread cannot be started, one thread does all.
pub(crate) fn read_segments(
    segments: &mut [SegmentMeta],
    limit: Option<u64>,
    salvage: bool,
    summary: &mut ReadSummary,
    visit: &mut dyn FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Result<Vec<Damage>> {
    let files: Vec<(PathBuf, Option<u64>)> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.path.clone(), limit.filter(|_| i + 1 == segments.len())))
        .collect();
    // Batches sent but not yet taken by the decoding side.
    let queued = AtomicUsize::new(0);
    let queued = &queued;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Msg>(2);
        let (spare_tx, spare_rx) = mpsc::channel::<Chunk>();
        let producer = std::thread::Builder::new()
            .name("tswal-reader".into())
            .spawn_scoped(scope, move || {
                produce(&files, salvage, &tx, &spare_rx, queued)
            });
        if producer.is_err() {
            return read_segments_here(segments, limit, salvage, summary, visit);
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
                Msg::SegmentEnd { seg, offset } => segments[seg].log_end = Some(offset),
                Msg::Damage(d) => {
                    damages.push(d);
                    if !salvage {
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
    Chunk { seg: usize, chunk: Chunk },
    SegmentEnd { seg: usize, offset: u64 },
    Damage(Damage),
    Failed(Error),
}

/// The reading thread: framing and CRCs of every segment, in batches. Stops at damage
/// (or, when salvaging, goes on at the next valid entry), at an error, or when the
/// decoding side has hung up (an aborted read).
fn produce(
    files: &[(PathBuf, Option<u64>)],
    salvage: bool,
    tx: &SyncSender<Msg>,
    spares: &Receiver<Chunk>,
    queued: &AtomicUsize,
) {
    let fail = |e: Error| {
        let _ = tx.send(Msg::Failed(e));
    };
    for (seg, (path, limit)) in files.iter().enumerate() {
        let mut reader = match SegmentReader::open(path, *limit) {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
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
            match end {
                BatchEnd::More => continue,
                BatchEnd::End { offset } => {
                    if tx.send(Msg::SegmentEnd { seg, offset }).is_err() {
                        return;
                    }
                    break;
                }
                BatchEnd::Corrupt { offset, reason } => {
                    let resume = if salvage {
                        match reader.resync(offset + 1) {
                            Ok(r) => r,
                            Err(e) => return fail(e),
                        }
                    } else {
                        None
                    };
                    let damage = Damage {
                        index: seg,
                        offset,
                        resume,
                        reason,
                    };
                    if tx.send(Msg::Damage(damage)).is_err() || !salvage {
                        return;
                    }
                    if resume.is_none() {
                        break;
                    }
                }
            }
        }
    }
}

/// `read_segments` on the calling thread alone.
fn read_segments_here(
    segments: &mut [SegmentMeta],
    limit: Option<u64>,
    salvage: bool,
    summary: &mut ReadSummary,
    visit: &mut dyn FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Result<Vec<Damage>> {
    let mut decoder = Decoder::default();
    let mut damages = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (index, seg) in segments.iter_mut().enumerate() {
        let seg_limit = if index == last { limit } else { None };
        let path = seg.path.clone();
        let mut reader = SegmentReader::open(&path, seg_limit)?;
        loop {
            match reader.next()? {
                Step::End { offset } => {
                    seg.log_end = Some(offset);
                    break;
                }
                Step::Corrupt { offset, reason } => {
                    let resume = if salvage {
                        reader.resync(offset + 1)?
                    } else {
                        None
                    };
                    damages.push(Damage {
                        index,
                        offset,
                        resume,
                        reason,
                    });
                    if !salvage {
                        return Ok(damages);
                    }
                    if resume.is_none() {
                        break;
                    }
                }
                Step::Entry {
                    offset,
                    entry_type,
                    body,
                } => {
                    let total = (body.len() + HEADER_LEN + CRC_LEN) as u64;
                    let delivered = decoder.deliver(seg, offset, entry_type, body, summary, visit);
                    settle(delivered, salvage, index, offset, total, &mut damages)?;
                }
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
                let mut visit = |e: Entry<'_>| {
                    crate::dump::write_entry(&mut out, e);
                    ControlFlow::Continue(())
                };
                let damage = if here {
                    read_segments_here(segs, None, salvage, &mut summary, &mut visit)
                } else {
                    read_segments(segs, None, salvage, &mut summary, &mut visit)
                }
                .unwrap();
                let ends: Vec<_> = segs.iter().map(|s| (s.log_end, s.max_time)).collect();
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
