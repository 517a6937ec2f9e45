//! Options of a WAL handle and their validation.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::faults::Faults;

/// Default bytes per segment, as in Prometheus tsdb.
pub const DEFAULT_SEGMENT_SIZE: u64 = 256 * 1024 * 1024;
/// Smallest accepted segment size.
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest accepted segment size (1 TiB).
pub const MAX_SEGMENT_SIZE: u64 = 1 << 40;
/// Longest [`Options::sync_spin`].
pub const MAX_SYNC_SPIN: Duration = Duration::from_millis(10);

/// When a `log_*` call returns, relative to durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// A call returns once its entry is in the log's buffer; entries are durable after
    /// `sync`, a background flush, or `close`.
    #[default]
    None,
    /// A call returns only after its entry is fdatasynced. Concurrent callers share
    /// fdatasyncs (group commit).
    Always,
}

/// What a read does with damaged data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// The reference's repair: keep every entry before the first damaged one, cut its
    /// segment there and delete every later segment.
    #[default]
    Truncate,
    /// Keep every entry whose CRC verifies: skip damaged bytes by scanning for the next
    /// valid entry, keep later segments, and rewrite each damaged segment without its
    /// damage.
    Salvage,
    /// Report the first damage as [`Error::Corruption`](crate::Error::Corruption) with its
    /// segment and offset, and change nothing.
    Fail,
}

/// How a WAL handle is configured. Start from `Options::default()`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes per segment file; a new segment is cut when the next entry would not fit.
    /// Between `MIN_SEGMENT_SIZE` and `MAX_SEGMENT_SIZE`.
    pub segment_size: u64,
    /// Period of the background flush + fdatasync; `None` disables it.
    pub flush_interval: Option<Duration>,
    /// Whether each `log_*` call waits for its entry to be on stable storage.
    pub sync: SyncMode,
    /// What reads (and open, for invalid segment headers) do with damaged data.
    pub recovery: Recovery,
    /// How long a caller waiting for another caller's fdatasync (group commit, in
    /// `SyncMode::Always` or `sync`) keeps yielding the CPU before it sleeps; the leader
    /// of a group then also yields while it gathers callers. Zero (the default): they
    /// sleep at once. A yielding waiter sees the fdatasync end at once and
    /// the next group forms sooner (on the benchmark's 2-CPU VM, four threads' durable
    /// throughput rose by about a quarter with 500 µs), but the waiting threads stay
    /// runnable, ceding the CPU to any other thread, for up to this long per sync. Worth
    /// it with spare cores and fdatasyncs of a millisecond or less. At most
    /// `MAX_SYNC_SPIN`.
    pub sync_spin: Duration,
    /// I/O failures to inject, for testing; `None` in production.
    pub faults: Option<Arc<Faults>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: DEFAULT_SEGMENT_SIZE,
            flush_interval: None,
            sync: SyncMode::None,
            recovery: Recovery::Truncate,
            sync_spin: Duration::ZERO,
            faults: None,
        }
    }
}

impl Options {
    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err(Error::invalid(format!(
                "segment_size {} is outside [{MIN_SEGMENT_SIZE}, {MAX_SEGMENT_SIZE}]",
                self.segment_size
            )));
        }
        if self.sync_spin > MAX_SYNC_SPIN {
            return Err(Error::invalid(format!(
                "sync_spin {:?} exceeds {MAX_SYNC_SPIN:?}",
                self.sync_spin
            )));
        }
        if self.flush_interval == Some(Duration::ZERO) {
            return Err(Error::invalid(
                "flush_interval must be positive (use None to disable it)",
            ));
        }
        Ok(())
    }
}
