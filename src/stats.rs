//! Counters a handle keeps since it was opened.

use std::time::Duration;

/// What a handle has done since it was opened (see [`Wal::stats`](crate::Wal::stats)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Segment files in the log now.
    pub segments: u64,
    /// Entry bytes logged (header, body and CRC).
    pub bytes_written: u64,
    /// Entries logged.
    pub entries_written: u64,
    /// Samples logged.
    pub samples_written: u64,
    /// fsync and fdatasync calls made since open, of segments and of the directory (two
    /// when a segment is created: its header, then its name); not those of `open`
    /// itself.
    pub fsyncs: u64,
    /// Time spent in them.
    pub fsync_time: Duration,
    /// Damaged regions found by reads and at open (invalid segment headers), whether
    /// repaired, reported as an error (`Recovery::Fail`) or only reported (read-only
    /// handles; holes that `Recovery::Truncate` reads past).
    pub corruptions: u64,
    /// Entries dropped by repairs (see [`Repair::dropped_entries`](crate::Repair)).
    pub dropped_entries: u64,
    /// Bytes removed from the log by repairs.
    pub dropped_bytes: u64,
    /// Segment files repairs moved into quarantine (taken out whole, or the originals of
    /// segments rewritten without their damage).
    pub quarantined_segments: u64,
    /// Bytes repairs moved or copied into quarantine.
    pub quarantined_bytes: u64,
    /// The most bytes of logged entries that were waiting to be written (or being
    /// written) at once: the memory the write pipeline held. When the disk falls behind,
    /// logging calls help write instead of queueing more, so this stays within 8 MiB plus
    /// one buffer (1 MiB, or one entry if larger).
    pub write_backlog_peak: u64,
}
