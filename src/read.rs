//! Reading the whole log: segments in order → entries → decoded batches → the caller's
//! visitor. Damage is reported, not repaired, here; `repair` decides what to do with it.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::codec::{self, SeriesSpan};
use crate::entry::EntryType;
use crate::error::{Error, Result};
use crate::reader::{SegmentReader, Step};
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
    /// Offset of the damaged entry; the segment was cut here.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
    /// Later segments that were deleted.
    pub deleted_segments: Vec<PathBuf>,
    /// Bytes of log data dropped (from the cut segment and the deleted ones).
    pub dropped_bytes: u64,
}

/// Where a read stopped on damage: `segments[index]` at `offset`.
#[derive(Debug)]
pub(crate) struct Damage {
    pub index: usize,
    pub offset: u64,
    pub reason: String,
}

/// Reads `segments` in order, delivering each entry to `visit` and recording each
/// segment's highest timestamp. `limit` caps how much of the last segment is read.
/// Returns the damage that stopped the read, if any.
pub(crate) fn read_segments(
    segments: &mut [SegmentMeta],
    limit: Option<u64>,
    summary: &mut ReadSummary,
    visit: &mut dyn FnMut(Entry<'_>) -> ControlFlow<()>,
) -> Result<Option<Damage>> {
    let mut samples: Vec<Sample> = Vec::new();
    let mut tombstones: Vec<Tombstone> = Vec::new();
    let mut spans: Vec<SeriesSpan> = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (index, seg) in segments.iter_mut().enumerate() {
        let seg_limit = if index == last { limit } else { None };
        let mut reader = SegmentReader::open(&seg.path, seg_limit)?;
        loop {
            let (offset, entry_type, body) = match reader.next()? {
                Step::End { offset } => {
                    seg.log_end = Some(offset);
                    break;
                }
                Step::Corrupt { offset, reason } => {
                    return Ok(Some(Damage {
                        index,
                        offset,
                        reason,
                    }));
                }
                Step::Entry {
                    offset,
                    entry_type,
                    body,
                } => (offset, entry_type, body),
            };
            let undecodable = |e: codec::DecodeError| Error::Corruption {
                segment: seg.path.clone(),
                offset,
                reason: format!("entry with a valid checksum does not decode: {e}"),
            };
            let flow = match entry_type {
                EntryType::Series => {
                    spans.clear();
                    let mut labels: Vec<Label<'_>> = Vec::new();
                    codec::decode_series(body, &mut spans, &mut labels).map_err(undecodable)?;
                    let series: Vec<Series<'_>> = spans
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
                    samples.clear();
                    let max_t = codec::decode_samples(body, &mut samples).map_err(undecodable)?;
                    seg.max_time = seg.max_time.max(max_t);
                    summary.samples += samples.len() as u64;
                    visit(Entry::Samples(&samples))
                }
                EntryType::Deletes => {
                    tombstones.clear();
                    let max_t =
                        codec::decode_deletes(body, &mut tombstones).map_err(undecodable)?;
                    seg.max_time = seg.max_time.max(max_t);
                    summary.tombstones += tombstones.len() as u64;
                    visit(Entry::Deletes(&tombstones))
                }
            };
            summary.entries += 1;
            if flow.is_break() {
                return Err(Error::Aborted);
            }
        }
    }
    Ok(None)
}
