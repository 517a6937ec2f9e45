//! The WAL handle: opening a directory, the rules for when each call is allowed, and the
//! glue between the writer, the reader, repair, truncation and the background worker.

use std::cell::Cell;
use std::fs::{self, File};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use crate::background::{FinishJob, Queue, Work};
use crate::codec;
use crate::entry::{self, EntryType};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::options::Options;
use crate::read::{self, Entry, ReadSummary};
use crate::record::{Sample, Series, Tombstone};
use crate::reentry::{self, CallbackScope};
use crate::repair;
use crate::segment;
use crate::truncate;
use crate::writer::SegmentWriter;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Encode buffers above this size are not kept between calls.
const SCRATCH_KEEP: usize = 16 << 20;

thread_local! {
    /// Per-thread encode buffer, so entries are framed without the writer lock held.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

struct Shared {
    id: u64,
    dir: PathBuf,
    dir_file: Arc<File>,
    options: Options,
    /// The writer lock: appends, flushes and reads take it.
    writer: Mutex<SegmentWriter>,
    /// Serialises reads and truncations (both walk the segment list without the writer
    /// lock held throughout, or change its prefix).
    maintenance: Mutex<()>,
    needs_read: AtomicBool,
    failed: AtomicBool,
    failure: Mutex<String>,
    queue: Queue,
}

impl Shared {
    /// Marks the handle failed: data it reported as written may not be on disk.
    fn fail(&self, e: &Error) {
        let mut msg = self.failure.lock();
        if !self.failed.swap(true, Ordering::SeqCst) {
            *msg = format!(
                "the WAL handle for {} has failed and refuses writes; reopen it and read to \
                 recover what is on disk (cause: {e})",
                self.dir.display()
            );
        }
    }

    fn failure(&self) -> Error {
        Error::state(self.failure.lock().clone())
    }

    /// Flushes the buffer and fdatasyncs the head segment, without waiting for the worker.
    fn flush_and_sync_head(&self) -> Result<()> {
        let file = {
            let mut w = self.writer.lock();
            w.flush(&self.queue)?;
            w.active_file()
        };
        if let Some((file, path)) = file {
            file.sync_data()
                .ctx("fdatasync segment", &path)
                .inspect_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn run_job(&self, job: FinishJob) {
        let r = job.run();
        if let Err(e) = &r {
            self.fail(e);
        }
        self.queue.complete(r);
    }

    /// Finishes every segment cut so far: runs queued jobs on this thread and waits for
    /// one the worker may be running. Safe with the writer lock held, because the
    /// worker may itself be waiting for that lock (in a flush tick) and so cannot be
    /// relied on to run the queue.
    fn finish_cut_segments(&self) {
        let target = self.queue.submitted();
        while let Some(job) = self.queue.pop() {
            self.run_job(job);
        }
        self.queue.wait_quietly(target);
    }

    fn worker(self: Arc<Self>) {
        let mut last_tick = Instant::now();
        loop {
            match self.queue.next_work(self.options.flush_interval, last_tick) {
                Work::Job(job) => self.run_job(job),
                Work::Tick => {
                    last_tick = Instant::now();
                    if !self.failed.load(Ordering::SeqCst) {
                        if let Err(e) = self.flush_and_sync_head() {
                            self.queue.report(e);
                        }
                    }
                }
                Work::Stop => return,
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
    /// Segments with an invalid header are deleted together with every later segment. If
    /// segments remain, [`Wal::read`] must complete once before writes and truncation are
    /// accepted.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Wal> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid("the directory path is empty"));
        }
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let dir_file = fsutil::open_dir(&dir)?;
        fsutil::lock_dir(&dir_file, &dir)?;
        truncate::recover(&dir, &dir_file)?;

        let mut segments = segment::list(&dir)?;
        let mut first_invalid = None;
        for (i, seg) in segments.iter().enumerate() {
            if segment::check_header(&seg.path)?.is_some() {
                first_invalid = Some(i);
                break;
            }
        }
        if let Some(i) = first_invalid {
            // Newest first, so an interruption leaves a prefix that is still consistent.
            while segments.len() > i {
                let Some(seg) = segments.pop() else { break };
                fs::remove_file(&seg.path).ctx("delete invalid segment", &seg.path)?;
            }
            fsutil::sync_dir(&dir_file, &dir)?;
        }

        let needs_read = !segments.is_empty();
        let dir_file = Arc::new(dir_file);
        let writer = SegmentWriter::new(
            dir.clone(),
            dir_file.clone(),
            options.segment_size,
            segments,
        );
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dir: dir.clone(),
            dir_file,
            options,
            writer: Mutex::new(writer),
            maintenance: Mutex::new(()),
            needs_read: AtomicBool::new(needs_read),
            failed: AtomicBool::new(false),
            failure: Mutex::new(String::new()),
            queue: Queue::default(),
        });
        let for_worker = shared.clone();
        let worker = std::thread::Builder::new()
            .name("tswal-worker".into())
            .spawn(move || for_worker.worker())
            .ctx("start background thread for", &dir)?;
        Ok(Wal {
            shared,
            worker: Some(worker),
        })
    }

    /// The directory this handle writes to.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
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

    fn check_writable(&self) -> Result<()> {
        self.check_not_in_callback()?;
        if self.shared.failed.load(Ordering::SeqCst) {
            return Err(self.shared.failure());
        }
        if self.needs_read() {
            return Err(Error::state(format!(
                "the WAL in {} held data when it was opened; read it once to the end before \
                 writing or truncating",
                self.shared.dir.display()
            )));
        }
        Ok(())
    }

    /// Delivers every entry in log order to `visit`, on the calling thread.
    ///
    /// Labels of each series arrive sorted by name. Returning `ControlFlow::Break` stops
    /// the read with [`Error::Aborted`]. Damage is repaired as the reference does (the
    /// damaged segment is cut before the bad entry and later segments are deleted) and
    /// reported in the summary. Writers on other threads wait while a read runs.
    pub fn read<F>(&self, mut visit: F) -> Result<ReadSummary>
    where
        F: FnMut(Entry<'_>) -> ControlFlow<()>,
    {
        self.check_not_in_callback()?;
        let _maintenance = self.shared.maintenance.lock();
        let mut w = self.shared.writer.lock();
        w.flush(&self.shared.queue)?;
        // Segments cut before must not be trimmed while they are read.
        self.shared.finish_cut_segments();
        let limit = w.read_limit();
        let mut summary = ReadSummary::default();
        let damage = {
            let _scope = CallbackScope::enter(self.shared.id);
            read::read_segments(&mut w.segments, limit, &mut summary, &mut visit)?
        };
        if let Some(damage) = damage {
            let r = repair::cut_at_damage(
                &self.shared.dir,
                &self.shared.dir_file,
                &mut w.segments,
                damage,
            );
            w.forget_active_segment();
            summary.repair = Some(r?);
        }
        self.shared.needs_read.store(false, Ordering::SeqCst);
        Ok(summary)
    }

    /// Frames one entry on this thread, then appends it under the writer lock.
    fn log(
        &self,
        entry_type: EntryType,
        empty: bool,
        encode: impl FnOnce(&mut Vec<u8>) -> i64,
    ) -> Result<()> {
        self.check_writable()?;
        let mut frame = SCRATCH.take();
        let result = (|| {
            let max_time = if empty {
                frame.clear();
                i64::MIN
            } else {
                entry::frame(&mut frame, entry_type, encode)?
            };
            self.shared
                .writer
                .lock()
                .append(&frame, max_time, &self.shared.queue)
        })();
        if frame.capacity() <= SCRATCH_KEEP {
            SCRATCH.set(frame);
        }
        result
    }

    /// Logs one series entry. An empty slice writes nothing.
    pub fn log_series(&self, series: &[Series<'_>]) -> Result<()> {
        self.log(EntryType::Series, series.is_empty(), |b| {
            codec::encode_series(b, series);
            i64::MIN
        })
    }

    /// Logs one samples entry. An empty slice writes nothing.
    pub fn log_samples(&self, samples: &[Sample]) -> Result<()> {
        self.log(EntryType::Samples, samples.is_empty(), |b| {
            codec::encode_samples(b, samples)
        })
    }

    /// Logs one deletes entry. An empty slice writes nothing.
    pub fn log_deletes(&self, tombstones: &[Tombstone]) -> Result<()> {
        self.log(EntryType::Deletes, tombstones.is_empty(), |b| {
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
        self.shared.finish_cut_segments();
        self.shared.queue.take_error()?;
        let merged = {
            let _scope = CallbackScope::enter(self.shared.id);
            truncate::rewrite(
                &self.shared.dir,
                &self.shared.dir_file,
                &mut candidates,
                &mut keep,
            )?
        };
        let mut w = self.shared.writer.lock();
        w.segments.splice(..candidates.len(), [merged]);
        Ok(())
    }

    /// Writes buffered entries and fdatasyncs them, with every segment finished before.
    /// When it returns `Ok`, everything logged before the call is durable.
    pub fn sync(&self) -> Result<()> {
        self.check_not_in_callback()?;
        if self.shared.failed.load(Ordering::SeqCst) {
            return Err(self.shared.failure());
        }
        let file = {
            let mut w = self.shared.writer.lock();
            w.flush(&self.shared.queue)?;
            w.active_file()
        };
        self.shared.finish_cut_segments();
        self.shared.queue.take_error()?;
        if let Some((file, path)) = file {
            file.sync_data()
                .ctx("fdatasync segment", &path)
                .inspect_err(|e| self.shared.fail(e))?;
        }
        Ok(())
    }

    /// Finishes background work, writes and fsyncs everything, releases the directory.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        let queue = &self.shared.queue;
        queue.stop();
        let mut first: Option<Error> = None;
        if worker.join().is_err() {
            first = Some(Error::state("the background worker panicked"));
        }
        // The worker has exited: whatever is still queued is run here.
        self.shared.finish_cut_segments();
        let closed = self.shared.writer.lock().close(queue);
        self.shared.finish_cut_segments();
        for r in [closed, queue.take_error()] {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        if self.shared.failed.load(Ordering::SeqCst) {
            first.get_or_insert(self.shared.failure());
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
