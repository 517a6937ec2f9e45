//! The WAL handle: opening a directory, the rules for when each call is allowed, and the
//! glue between the writer, the reader, repair, truncation and the background worker.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::codec;
use crate::entry::{self, EntryType};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, Fs};
use crate::io::{Io, Work};
use crate::options::{Options, Recovery, SyncMode};
use crate::read::{self, Entry, Position, ReadSummary, Repair, Scan, Visit};
use crate::record::{Sample, Series, Tombstone};
use crate::reentry::{self, CallbackScope};
use crate::repair;
use crate::segment::{self, SegmentMeta};
use crate::stats::Stats;
use crate::truncate;
use crate::view;
use crate::writer::SegmentWriter;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Longest a sync waits for concurrent loggers to append, so one fdatasync covers them.
const GATHER_LIMIT: Duration = Duration::from_micros(200);

/// Encode buffers above this size are not kept between calls.
const SCRATCH_KEEP: usize = 16 << 20;

thread_local! {
    /// Per-thread encode buffer, so entries are framed without the writer lock held.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

struct Shared {
    id: u64,
    fs: Arc<Fs>,
    options: Options,
    /// The writer lock: appends, buffer submission and reads take it.
    writer: Mutex<SegmentWriter>,
    /// Serialises reads and truncations (both walk the segment list without the writer
    /// lock held throughout, or change its prefix).
    maintenance: Mutex<()>,
    needs_read: AtomicBool,
    io: Io,
    samples_written: AtomicU64,
    corruptions: AtomicU64,
    dropped_entries: AtomicU64,
    dropped_bytes: AtomicU64,
    quarantined_segments: AtomicU64,
    quarantined_bytes: AtomicU64,
    /// What open repaired (invalid segment headers), if anything.
    open_repair: Option<Repair>,
}

impl Shared {
    /// Makes everything appended up to `target` durable. The buffer holding it is
    /// submitted first if nobody has yet.
    fn sync_to(&self, target: u64) -> Result<()> {
        self.io.sync_to(target, &|| self.prepare_group_commit())
    }

    /// The leader of a group commit: lets loggers that are encoding right now append
    /// first, then submits everyone's entries for one fdatasync.
    fn prepare_group_commit(&self) {
        self.io.gather_appends(GATHER_LIMIT);
        self.writer.lock().submit_buffer(&self.io);
    }

    fn count_repair(&self, r: &Repair) {
        self.dropped_entries
            .fetch_add(r.dropped_entries, Ordering::Relaxed);
        self.dropped_bytes
            .fetch_add(r.dropped_bytes, Ordering::Relaxed);
        self.quarantined_segments
            .fetch_add(r.quarantined_segments, Ordering::Relaxed);
        self.quarantined_bytes
            .fetch_add(r.quarantined_bytes, Ordering::Relaxed);
    }

    fn count_damage(&self, regions: usize) {
        self.corruptions
            .fetch_add(regions as u64, Ordering::Relaxed);
    }

    /// Makes everything appended so far durable.
    fn sync_all(&self) -> Result<()> {
        let target = self.writer.lock().appended();
        self.sync_to(target)
    }

    fn worker(self: Arc<Self>) {
        let mut last_tick = Instant::now();
        loop {
            match self.io.next_work(self.options.flush_interval, last_tick) {
                Work::Jobs => self.io.run_pending(),
                Work::Tick => {
                    last_tick = Instant::now();
                    if !self.io.failed() {
                        // Nobody called for this flush: an error it meets fails the
                        // handle and stays for the next sync to report.
                        let target = self.writer.lock().appended();
                        self.io.flush_to(target, &|| self.prepare_group_commit());
                    }
                }
                Work::Stop => {
                    self.io.run_pending();
                    return;
                }
            }
        }
    }
}

/// A write-ahead log open on one directory.
///
/// All methods take `&self` and may be called from many threads at once. Entries are
/// durable after [`Wal::sync`], a background flush (see [`Options::flush_interval`]) or
/// [`Wal::close`].
pub struct Wal {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` and locks the directory.
    ///
    /// Segments with an invalid header are handled by [`Options::recovery`]. If segments
    /// remain, [`Wal::read`] must complete once before writes and truncation are
    /// accepted. A directory that is not a SegmentWAL (see [`Error::Format`]) is refused
    /// before anything in it is changed. With [`Options::read_only`], nothing is
    /// created, locked or changed (see there).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Wal> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid("the directory path is empty"));
        }
        let faults = options.faults.clone().unwrap_or_default();
        if options.read_only {
            let dir_file = fsutil::open_existing_dir(&dir)?;
            let mut segments = view::segments(&dir)?;
            if options.recovery == Recovery::Fail {
                view::check_headers(&mut segments, Recovery::Fail)?;
            }
            let fs = Arc::new(Fs::new(dir, dir_file, faults));
            return Ok(Self::with(fs, options, segments, false, None));
        }
        fsutil::create_dir_durably(&dir)?;
        let dir_file = fsutil::open_dir(&dir)?;
        fsutil::lock_dir(&dir_file, &dir)?;
        // Refuse a directory that is not a usable SegmentWAL before changing anything.
        view::segments(&dir)?;
        let fs = Arc::new(Fs::new(dir.clone(), dir_file, faults));
        truncate::recover(&fs)?;

        let mut segments = segment::list(&dir)?;
        let header_repair =
            repair::invalid_headers(&fs, &mut segments, options.recovery, options.quarantine)?;
        let needs_read = !segments.is_empty();
        let mut wal = Self::with(fs, options, segments, needs_read, header_repair.as_ref());
        let for_worker = wal.shared.clone();
        let worker = std::thread::Builder::new()
            .name("tswal-worker".into())
            .spawn(move || for_worker.worker())
            .ctx("start background thread for", &dir)?;
        wal.worker = Some(worker);
        Ok(wal)
    }

    fn with(
        fs: Arc<Fs>,
        options: Options,
        segments: Vec<SegmentMeta>,
        needs_read: bool,
        header_repair: Option<&Repair>,
    ) -> Wal {
        let writer = SegmentWriter::new(fs.clone(), options.segment_size, segments);
        let spin = options.sync_spin;
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            fs: fs.clone(),
            options,
            writer: Mutex::new(writer),
            maintenance: Mutex::new(()),
            needs_read: AtomicBool::new(needs_read),
            io: Io::new(fs, spin),
            samples_written: AtomicU64::new(0),
            corruptions: AtomicU64::new(0),
            dropped_entries: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            quarantined_segments: AtomicU64::new(0),
            quarantined_bytes: AtomicU64::new(0),
            open_repair: header_repair.cloned(),
        });
        if let Some(r) = header_repair {
            shared.count_damage(r.damaged_regions as usize);
            shared.count_repair(r);
        }
        Wal {
            shared,
            worker: None,
        }
    }

    /// The directory this handle writes to.
    pub fn dir(&self) -> &Path {
        &self.shared.fs.dir
    }

    /// True until a read has completed on a WAL that held data at open.
    pub fn needs_read(&self) -> bool {
        self.shared.needs_read.load(Ordering::SeqCst)
    }

    /// Whether the current thread is inside a read or keep callback of this handle.
    pub(crate) fn in_own_callback(&self) -> bool {
        reentry::inside(self.shared.id)
    }

    fn check_not_in_callback(&self) -> Result<()> {
        if self.in_own_callback() {
            return Err(Error::state(
                "called from inside a read or keep callback of the same handle, which would \
                 deadlock; return from the callback first",
            ));
        }
        Ok(())
    }

    /// The repair open made of segments with invalid headers, if it made one (reads
    /// report theirs in [`ReadSummary::repair`]).
    pub fn open_repair(&self) -> Option<&Repair> {
        self.shared.open_repair.as_ref()
    }

    /// Whether the handle was opened with [`Options::read_only`].
    pub fn read_only(&self) -> bool {
        self.shared.options.read_only
    }

    fn check_not_read_only(&self) -> Result<()> {
        if self.read_only() {
            return Err(Error::state(format!(
                "the handle on {} is read-only (opened with read_only): it cannot log, \
                 truncate or sync",
                self.shared.fs.dir.display()
            )));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_not_in_callback()?;
        self.check_not_read_only()?;
        if self.shared.io.failed() {
            return Err(self.shared.io.failure());
        }
        if self.needs_read() {
            return Err(Error::state(format!(
                "the WAL in {} held data when it was opened; read it once to the end before \
                 writing or truncating",
                self.shared.fs.dir.display()
            )));
        }
        Ok(())
    }

    /// Delivers every entry in log order to `visit`, on the calling thread.
    ///
    /// Labels of each series arrive sorted by name. Returning `ControlFlow::Break` stops
    /// the read with [`Error::Aborted`]. Damage is handled by [`Options::recovery`]:
    /// repaired (what the repair takes out goes to quarantine, see
    /// [`Options::quarantine`]) and reported in the summary, or returned as
    /// [`Error::Corruption`]. Writers on other threads wait while a read runs, so
    /// `visit` must not wait for a thread that logs to this handle.
    ///
    /// On a read-only handle, the read lists the directory afresh (another process may be
    /// writing it), delivers what the recovery mode would keep, reports the damage in
    /// the summary and changes nothing; an entry still being written at the end of the
    /// newest segment is where the log ends for now, not damage.
    pub fn read<F>(&self, mut visit: F) -> Result<ReadSummary>
    where
        F: FnMut(Entry<'_>) -> ControlFlow<()>,
    {
        self.read_with_positions(|_, entry| visit(entry))
    }

    /// [`Wal::read`], handing `visit` where each entry starts too.
    pub fn read_with_positions<F>(&self, mut visit: F) -> Result<ReadSummary>
    where
        F: FnMut(Position, Entry<'_>) -> ControlFlow<()>,
    {
        self.check_not_in_callback()?;
        if self.read_only() {
            return self.read_view(&mut visit);
        }
        let _maintenance = self.shared.maintenance.lock();
        let mut w = self.shared.writer.lock();
        // Everything logged so far goes to the files, and segments cut before are not
        // trimmed while they are read.
        w.submit_buffer(&self.shared.io);
        self.shared.io.run_pending();
        let limit = w.read_limit();
        let mut summary = ReadSummary::default();
        let recovery = self.shared.options.recovery;
        let damages = {
            let _scope = CallbackScope::enter(self.shared.id);
            let scan = Scan::new(recovery);
            read::read_segments(&mut w.segments, limit, scan, &mut summary, &mut visit)?
        };
        self.shared.count_damage(damages.len());
        summary.damage = read::report(&w.segments, &damages);
        let mut to_repair = damages.into_iter().filter(|d| !d.hole).peekable();
        if let Some(first) = to_repair.peek().cloned() {
            let fs = &*self.shared.fs;
            if recovery == Recovery::Fail {
                return Err(Error::Corruption {
                    segment: w.segments[first.index].path.clone(),
                    offset: first.offset,
                    reason: first.reason,
                });
            }
            w.finish_before_repair(&self.shared.io)?;
            let keep = self.shared.options.quarantine;
            let r = match recovery {
                Recovery::Salvage => {
                    let all: Vec<_> = to_repair.collect();
                    repair::salvage(fs, &mut w.segments, &all, keep)
                }
                _ => repair::cut_at_damage(fs, &mut w.segments, first, keep),
            }?;
            self.shared.count_repair(&r);
            summary.repair = Some(r);
        }
        self.shared.needs_read.store(false, Ordering::SeqCst);
        Ok(summary)
    }

    /// `read` on a read-only handle.
    fn read_view(&self, visit: &mut Visit<'_>) -> Result<ReadSummary> {
        let _maintenance = self.shared.maintenance.lock();
        let recovery = self.shared.options.recovery;
        let mut segments = view::open_segments(&self.shared.fs.dir)?;
        let listed: Vec<_> = segments.iter().map(|s| s.path.clone()).collect();
        let mut summary = ReadSummary::default();
        let header_damage = view::check_headers(&mut segments, recovery);
        if let Err(Error::Corruption { .. }) = &header_damage {
            self.shared.count_damage(1);
        }
        let mut damage = header_damage?;
        let damages = {
            let _scope = CallbackScope::enter(self.shared.id);
            let scan = Scan {
                recovery,
                live: true,
            };
            read::read_segments(&mut segments, None, scan, &mut summary, visit)?
        };
        self.shared.count_damage(damage.len() + damages.len());
        if recovery == Recovery::Fail {
            if let Some(first) = damages.first() {
                return Err(Error::Corruption {
                    segment: segments[first.index].path.clone(),
                    offset: first.offset,
                    reason: first.reason.clone(),
                });
            }
        }
        // In log order: a segment's header damage before what its read found.
        damage.extend(read::report(&segments, &damages));
        let position = |d: &read::Damaged| listed.iter().position(|p| *p == d.segment);
        damage.sort_by_key(|d| (position(d), d.offset));
        summary.damage = damage;
        self.shared.writer.lock().segments = segments;
        self.shared.needs_read.store(false, Ordering::SeqCst);
        Ok(summary)
    }

    /// Frames one entry, then appends it: in place under the writer lock when nobody
    /// else holds it, else on this thread first and copied in under the lock. In
    /// `SyncMode::Always`, waits until the entry is durable.
    fn log(
        &self,
        entry_type: EntryType,
        empty: bool,
        most: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> i64,
    ) -> Result<()> {
        self.check_writable()?;
        let io = &self.shared.io;
        let appending = (!empty).then(|| io.begin_append());
        let result = match self.shared.writer.try_lock() {
            // Nobody else is appending: encode straight into the log's buffer, which
            // saves copying the entry. Others arriving meanwhile encode on their own.
            Some(mut w) => w.append_encoded(entry_type, empty, most, encode, io),
            None => {
                let mut frame = SCRATCH.take();
                frame.clear();
                let result = (|| {
                    let max_time = if empty {
                        i64::MIN
                    } else {
                        entry::frame(&mut frame, entry_type, encode)?
                    };
                    self.shared.writer.lock().append(&frame, max_time, io)
                })();
                if frame.capacity() <= SCRATCH_KEEP {
                    SCRATCH.set(frame);
                }
                result
            }
        };
        match (result, appending) {
            (Ok(end), Some(appending)) if self.shared.options.sync == SyncMode::Always => {
                appending.end_and_sync_to(end, &|| self.shared.prepare_group_commit())
            }
            (result, _) => result.map(|_| ()),
        }
    }

    /// Logs one series entry. An empty slice writes no entry, but counts as a write for the
    /// segment rules, as in the reference: the first write after open starts a segment,
    /// one that finds the head segment full cuts.
    pub fn log_series(&self, series: &[Series<'_>]) -> Result<()> {
        entry::check_body_len(codec::series_body_len(series))?;
        self.log(EntryType::Series, series.is_empty(), 0, |b| {
            codec::encode_series(b, series);
            i64::MIN
        })
    }

    /// Logs one samples entry. An empty slice writes no entry (see [`Wal::log_series`]).
    pub fn log_samples(&self, samples: &[Sample]) -> Result<()> {
        let bound = codec::samples_body_bound(samples.len());
        if bound as u64 > u64::from(u32::MAX) {
            entry::check_body_len(codec::samples_body_len(samples))?;
        }
        let most = entry::framed_len(bound);
        self.log(EntryType::Samples, samples.is_empty(), most, |b| {
            codec::encode_samples(b, samples)
        })?;
        self.shared
            .samples_written
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Logs one deletes entry. An empty slice writes no entry (see [`Wal::log_series`]).
    pub fn log_deletes(&self, tombstones: &[Tombstone]) -> Result<()> {
        let bound = codec::deletes_body_bound(tombstones.len());
        if bound as u64 > u64::from(u32::MAX) {
            entry::check_body_len(codec::deletes_body_len(tombstones))?;
        }
        let most = entry::framed_len(bound);
        self.log(EntryType::Deletes, tombstones.is_empty(), most, |b| {
            codec::encode_deletes(b, tombstones)
        })
    }

    /// Drops the oldest segments whose samples and tombstones all lie before `mint`,
    /// keeping the series for which `keep(ref)` returns true in one rewritten segment.
    /// The head segment is never touched. Crash-safe: a crash leaves either the old or
    /// the new segments.
    pub fn truncate(&self, mint: i64, mut keep: impl FnMut(u64) -> bool) -> Result<()> {
        self.check_writable()?;
        let _maintenance = self.shared.maintenance.lock();
        let mut candidates = {
            let w = self.shared.writer.lock();
            let older = &w.segments[..w.segments.len().saturating_sub(1)];
            let n = older.iter().take_while(|s| s.max_time < mint).count();
            older[..n].to_vec()
        };
        if candidates.is_empty() {
            return Ok(());
        }
        // Candidates cut recently may still be being finished.
        self.shared.io.run_pending();
        self.shared.io.take_error()?;
        let rewritten = {
            let _scope = CallbackScope::enter(self.shared.id);
            truncate::rewrite(&self.shared.fs, &mut candidates, &mut keep)
        };
        let merged = match rewritten {
            Ok(m) => m,
            Err(truncate::Failed::BeforeCommit(e)) => return Err(e),
            Err(truncate::Failed::AfterCommit(e)) => {
                // The switch is committed but not finished: this handle's view of the
                // segments is stale, and the next open completes it.
                self.shared.io.fail(&e);
                return Err(e);
            }
        };
        let mut w = self.shared.writer.lock();
        w.segments.splice(..candidates.len(), [merged]);
        Ok(())
    }

    /// Writes buffered entries and fdatasyncs them, with every segment finished before.
    /// When it returns `Ok`, everything logged before the call is durable. It returns
    /// the first error not yet reported, including one met by the background writer or
    /// flush; after that, the failed handle's [`Error::State`].
    pub fn sync(&self) -> Result<()> {
        self.check_not_in_callback()?;
        self.check_not_read_only()?;
        if self.shared.io.failed() {
            // The error that failed the handle, if no call has reported it yet.
            self.shared.io.take_error()?;
            return Err(self.shared.io.failure());
        }
        self.shared.sync_all()
    }

    /// Counters since open. Like every call, not allowed from inside a callback of this
    /// handle.
    pub fn stats(&self) -> Result<Stats> {
        self.check_not_in_callback()?;
        let (segments, bytes_written, entries_written) = {
            let w = self.shared.writer.lock();
            (w.segments.len() as u64, w.appended(), w.entries())
        };
        let (fsyncs, fsync_time) = self.shared.fs.fsync_stats();
        Ok(Stats {
            segments,
            bytes_written,
            entries_written,
            samples_written: self.shared.samples_written.load(Ordering::Relaxed),
            fsyncs,
            fsync_time,
            corruptions: self.shared.corruptions.load(Ordering::Relaxed),
            dropped_entries: self.shared.dropped_entries.load(Ordering::Relaxed),
            dropped_bytes: self.shared.dropped_bytes.load(Ordering::Relaxed),
            quarantined_segments: self.shared.quarantined_segments.load(Ordering::Relaxed),
            quarantined_bytes: self.shared.quarantined_bytes.load(Ordering::Relaxed),
            write_backlog_peak: self.shared.io.queued_peak(),
        })
    }

    /// Finishes background work, writes and fsyncs everything, releases the directory.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let io = &self.shared.io;
        io.stop();
        let mut first: Option<Error> = None;
        if worker.join().is_err() {
            first = Some(Error::state("the background worker panicked"));
        }
        if let Err(e) = self.shared.writer.lock().close(io) {
            first.get_or_insert(e);
        }
        if io.failed() {
            first.get_or_insert(io.failure());
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
