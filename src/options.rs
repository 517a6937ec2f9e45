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
/// Longest [`SyncSpin::UpTo`].
pub const MAX_SYNC_SPIN: Duration = Duration::from_millis(10);
/// [`SyncSpin::Auto`] does not yield when recent fdatasyncs took longer than this on
/// average: waking a sleeper then costs little beside the fdatasync.
pub const AUTO_SPIN_SLOWEST_SYNC: Duration = Duration::from_millis(1);

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
    /// segment there and take every later segment out of the log (into quarantine; see
    /// [`Options::quarantine`]). Zeros followed by data end their segment, as in the
    /// reference.
    #[default]
    Truncate,
    /// Keep every entry whose CRC verifies: skip damaged bytes by scanning for the next
    /// valid entry, keep later segments, and rewrite each damaged segment without its
    /// damage (the original goes to quarantine).
    Salvage,
    /// Report the first damage as [`Error::Corruption`](crate::Error::Corruption) with its
    /// segment and offset, and change nothing.
    Fail,
}

/// How a caller waiting for another caller's fdatasync (group commit, in
/// [`SyncMode::Always`] or `Wal::sync`) waits for it to end.
///
/// Yielding instead of sleeping lets the next group form as soon as the fdatasync ends:
/// a sleeping waiter must first be woken by the group's leader (tens of microseconds,
/// more on an idle virtual CPU), and only then can it log its next entry. Whenever
/// waiters may yield (the limit below is not zero), the group's leader also yields
/// while it gathers the callers' entries, and at most twice as many waiters as there
/// are CPUs yield at once (the others sleep). A yielding thread stays runnable, ceding
/// its CPU to any other runnable thread, so it uses CPU time that would otherwise be
/// idle; under a tight CPU quota (cgroups) that time counts, and `Off` is the better
/// choice there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncSpin {
    /// Yield for up to twice the recent average fdatasync time (at least 50 µs), then
    /// sleep; sleep at once while fdatasyncs take more than `AUTO_SPIN_SLOWEST_SYNC`
    /// (1 ms) on average, or before the first has been timed. The average is a moving
    /// one over every fdatasync of the head segment made for callers or a background
    /// flush, each counted as at most 4 ms, so one stall does not turn yielding off.
    #[default]
    Auto,
    /// Sleep at once.
    Off,
    /// Yield for at most this long (at most `MAX_SYNC_SPIN`), then sleep; `UpTo(0)` is
    /// `Off`.
    UpTo(Duration),
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
    /// What reads (and open, for invalid segment headers) do with damaged data. On a
    /// read-only handle, what the read delivers and reports: the same entries a
    /// repair would keep, nothing being changed.
    pub recovery: Recovery,
    /// How callers waiting for another caller's fdatasync wait (group commit).
    pub sync_spin: SyncSpin,
    /// Open for reading only: the directory is not created, not locked (a writer, in
    /// this or another process, may hold it) and nothing in it is changed, whatever the
    /// read finds. Writes, truncation and sync return [`Error::State`].
    pub read_only: bool,
    /// What a repair takes out of the log is moved into the directory's `quarantine`
    /// folder instead of being deleted (true, the default); false deletes it, as the
    /// reference does.
    pub quarantine: bool,
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
            sync_spin: SyncSpin::Auto,
            read_only: false,
            quarantine: true,
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
        match self.sync_spin {
            SyncSpin::UpTo(d) if d > MAX_SYNC_SPIN => {
                return Err(Error::invalid(format!(
                    "sync_spin UpTo({d:?}) exceeds {MAX_SYNC_SPIN:?}"
                )));
            }
            _ => {}
        }
        if self.flush_interval == Some(Duration::ZERO) {
            return Err(Error::invalid(
                "flush_interval must be positive (use None to disable it)",
            ));
        }
        Ok(())
    }
}
