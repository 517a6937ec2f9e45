//! The ordered I/O pipeline between the writer and the disk.
//!
//! The writer fills 1 MiB buffers under its lock and submits each full one as a job; the
//! background worker writes them to the segment files while writers go on encoding, so
//! the kernel's page-cache copy runs on another core. Cut segments are finished (trimmed
//! to their last entry, fsynced) by a job queued after their last write.
//!
//! Jobs run strictly in order under the executor lock, by the worker or by any thread that
//! needs them done (a read, a sync, a writer that has queued too much). Nobody waits for
//! the worker itself: the worker may be waiting for the writer lock (in a flush tick)
//! that such a thread holds.
//!
//! Durability is tracked as positions in the log (bytes appended since open): `written`
//! (all jobs up to here ran) and `durable` (fsynced). `sync_to` is a group commit: one
//! caller (the leader) fdatasyncs the head segment for everyone whose data was written by
//! then, the others wait for it and return if it covered them. Before its fdatasync the
//! leader briefly gathers: it waits (at most a fraction of an fdatasync) for log calls
//! that are encoding and for as many callers as its predecessor served, so threads that
//! log in a loop share every fdatasync instead of alternating between half-full groups.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::fsutil::Fs;
use crate::options::{AUTO_SPIN_SLOWEST_SYNC, SyncSpin};

/// Shortest yield of `SyncSpin::Auto` when it yields: however fast fdatasyncs are, a
/// waiter yields long enough to see one end (and the leader's gathering yields too).
const AUTO_SPIN_SHORTEST: Duration = Duration::from_micros(50);

/// Queued write bytes above which a writer runs the queue itself instead of piling on.
pub(crate) const MAX_QUEUED_BYTES: usize = 8 << 20;
/// Writes at least this large start their writeback at once (see `Fs::start_writeback`).
const WRITEBACK_MIN: usize = 256 << 10;
/// Written buffers kept for reuse, and the largest capacity worth keeping.
const SPARE_BUFFERS: usize = 16;
const SPARE_MAX_CAPACITY: usize = 4 << 20;

/// An open segment file shared by the writer and the jobs on it.
#[derive(Debug)]
pub(crate) struct SegFile {
    pub file: File,
    pub path: PathBuf,
}

enum Job {
    /// Write `data` at `offset`; `end` is the log position after it.
    Write {
        seg: Arc<SegFile>,
        offset: u64,
        data: Vec<u8>,
        end: u64,
    },
    /// Trim a cut segment to `len` and fsync it; the log up to `end` is then durable.
    Finish {
        seg: Arc<SegFile>,
        len: u64,
        end: u64,
    },
    /// Give back the preallocated tail of a segment left by an earlier run.
    Trim { seg: Arc<SegFile>, len: u64 },
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    queued_bytes: usize,
    /// The most `queued_bytes` has been.
    queued_peak: usize,
    /// Log position covered by submitted writes.
    submitted: u64,
    /// Log position up to which every job has run.
    written: u64,
    /// Log position up to which everything is on stable storage.
    durable: u64,
    /// The segment of the last write run, if not finished since: what a sync fdatasyncs.
    head: Option<Arc<SegFile>>,
    /// A group-commit leader is in fdatasync.
    syncing: bool,
    /// A group-commit leader will run the queue before its fdatasync: jobs queued
    /// meanwhile need not wake the worker (which would only contend for the CPU and the
    /// executor lock on the sync's critical path).
    leader_runs_queue: bool,
    /// The first error of a job, until someone reports it.
    error: Option<Error>,
    stop: bool,
    spare: Vec<Vec<u8>>,
    /// Targets of the callers inside `sync_to` now, and how many of them the last
    /// fdatasync was made for.
    sync_targets: Vec<u64>,
    last_group: usize,
}

impl State {
    /// Callers in `sync_to` whose data is not durable yet.
    fn waiting_for_sync(&self) -> usize {
        self.sync_targets
            .iter()
            .filter(|&&t| t > self.durable)
            .count()
    }
}

/// A waiter counted in `Io::yielders` while it yields.
struct Yielding<'a>(&'a Io);

impl Drop for Yielding<'_> {
    fn drop(&mut self) {
        self.0.yielders.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Ends a group-commit leader's sync and wakes the worker when dropped: only when the
/// leader unwinds (otherwise it is forgotten).
struct EndSyncOnUnwind<'a>(&'a Io);

impl Drop for EndSyncOnUnwind<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock();
        s.leader_runs_queue = false;
        self.0.work_cv.notify_one();
        self.0.end_round(&mut s);
    }
}

/// Fails the handle if dropped while its thread unwinds: a job taken off the queue and
/// never finished leaves a hole in the log that later writes would paper over (each
/// moves `written` on).
struct FailIfAbandoned<'a>(&'a Io);

impl Drop for FailIfAbandoned<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail(&Error::state(
                "internal: a queued write or finish was abandoned by a panic",
            ));
        }
    }
}

/// A log call between the start of its encoding and the end of its append. Ended when
/// dropped, so that a call unwinding in between cannot leave every later gathering
/// leader waiting out its limit for it.
pub(crate) struct Appending<'a>(&'a Io);

impl Appending<'_> {
    /// Ends the append and joins the group commit for `target` in one turn on the state
    /// lock instead of two: in `SyncMode::Always` every log call does both, and on a busy
    /// group commit each extra turn on the lock can cost a wake-up.
    pub(crate) fn end_and_sync_to(self, target: u64, prepare: &dyn Fn()) -> Result<()> {
        let io = self.0;
        std::mem::forget(self);
        io.sync_to_after(true, false, target, prepare)
    }
}

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        self.0.end_append();
    }
}

/// What the worker should do next.
pub(crate) enum Work {
    Jobs,
    /// The flush interval elapsed.
    Tick,
    Stop,
}

pub(crate) struct Io {
    fs: Arc<Fs>,
    state: Mutex<State>,
    /// Wakes the worker: new jobs, stop.
    work_cv: Condvar,
    /// Wakes callers waiting for a group-commit leader to finish.
    sync_cv: Condvar,
    /// Counts group-commit syncs that ended (changed under `state`'s lock), so waiters
    /// can watch for the end without the lock.
    sync_round: AtomicU64,
    /// How a caller waiting for a group commit waits.
    spin: SyncSpin,
    /// Waiters yielding now, and how many may (twice the CPUs: many more would only
    /// take turns on them).
    yielders: AtomicUsize,
    max_yielders: usize,
    /// Moving average of group-commit fdatasync times in nanoseconds (0: none yet),
    /// for `SyncSpin::Auto`.
    sync_nanos: AtomicU64,
    /// Wakes a leader gathering appends: an append ended, a caller came to sync.
    gather_cv: Condvar,
    /// Log calls between the start of encoding and the end of their append. Counted up
    /// without the state lock (a leader that misses a beginning only gathers less), and
    /// down under it, so that a gathering leader is never left waiting for a notice.
    appending: AtomicUsize,
    /// Held while jobs run, so they run in submission order.
    exec: Mutex<()>,
    failed: AtomicBool,
    failure: Mutex<String>,
}

impl Io {
    pub(crate) fn new(fs: Arc<Fs>, spin: SyncSpin) -> Self {
        Io {
            fs,
            state: Mutex::default(),
            work_cv: Condvar::new(),
            sync_cv: Condvar::new(),
            sync_round: AtomicU64::new(0),
            spin,
            yielders: AtomicUsize::new(0),
            max_yielders: 2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            sync_nanos: AtomicU64::new(0),
            gather_cv: Condvar::new(),
            appending: AtomicUsize::new(0),
            exec: Mutex::new(()),
            failed: AtomicBool::new(false),
            failure: Mutex::new(String::new()),
        }
    }

    fn push(&self, job: Job) {
        let mut s = self.state.lock();
        if let Job::Write { data, end, .. } = &job {
            s.queued_bytes += data.len();
            s.queued_peak = s.queued_peak.max(s.queued_bytes);
            s.submitted = *end;
        }
        s.jobs.push_back(job);
        if !s.leader_runs_queue {
            self.work_cv.notify_one();
        }
    }

    /// Queues a write of whole entries; `end` is the log position after them.
    pub(crate) fn submit_write(&self, seg: Arc<SegFile>, offset: u64, data: Vec<u8>, end: u64) {
        self.push(Job::Write {
            seg,
            offset,
            data,
            end,
        });
    }

    /// Queues finishing a cut segment after its writes.
    pub(crate) fn submit_finish(&self, seg: Arc<SegFile>, len: u64, end: u64) {
        self.push(Job::Finish { seg, len, end });
    }

    /// Queues trimming a segment of an earlier run.
    pub(crate) fn submit_trim(&self, seg: Arc<SegFile>, len: u64) {
        self.push(Job::Trim { seg, len });
    }

    /// An empty buffer, recycled from a finished write if one is free.
    pub(crate) fn spare_buffer(&self) -> Vec<u8> {
        self.state.lock().spare.pop().unwrap_or_default()
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.state.lock().queued_bytes
    }

    /// Runs every queued job, in order, on this thread.
    pub(crate) fn run_pending(&self) {
        self.run_jobs(false);
    }

    /// Runs the queued writes up to the first job that is not one (the finishing of a
    /// segment just cut, which stays for the worker): before the next segment's name
    /// appears, every entry of the one before is in its file, so that a reader in
    /// another process never finds the next segment while this one still lacks its end.
    pub(crate) fn run_writes(&self) {
        self.run_jobs(true);
    }

    fn run_jobs(&self, writes_only: bool) {
        let _exec = self.exec.lock();
        loop {
            let job = {
                let mut s = self.state.lock();
                if writes_only && !matches!(s.jobs.front(), Some(Job::Write { .. })) {
                    return;
                }
                let job = s.jobs.pop_front();
                if job.is_none() {
                    // Under the same lock as the empty queue was seen: a job queued
                    // after this wakes the worker again.
                    s.leader_runs_queue = false;
                }
                job
            };
            let Some(job) = job else {
                return;
            };
            let _abandoned = FailIfAbandoned(self);
            let fs = &self.fs;
            let result = match &job {
                Job::Write {
                    seg, offset, data, ..
                } => fs
                    .write_at(&seg.file, &seg.path, data, *offset, "write segment")
                    .map(|()| {
                        // Small writes are those a sync is waiting for: its fdatasync
                        // comes next, and the hint would only add a system call.
                        if data.len() >= WRITEBACK_MIN {
                            let end = *offset + data.len() as u64;
                            fs.start_writeback(&seg.file, *offset, end);
                        }
                    }),
                Job::Finish { seg, len, .. } | Job::Trim { seg, len } => fs
                    .set_len(&seg.file, &seg.path, *len, "trim finished segment")
                    .and_then(|()| fs.fsync(&seg.file, &seg.path, false)),
            };
            let mut s = self.state.lock();
            match job {
                Job::Write {
                    seg, mut data, end, ..
                } => {
                    s.queued_bytes -= data.len();
                    s.written = end;
                    s.head = Some(seg);
                    if s.spare.len() < SPARE_BUFFERS && data.capacity() <= SPARE_MAX_CAPACITY {
                        data.clear();
                        s.spare.push(data);
                    }
                }
                Job::Finish { seg, end, .. } => {
                    s.written = s.written.max(end);
                    if result.is_ok() {
                        s.durable = s.durable.max(end);
                    }
                    if s.head.as_ref().is_some_and(|h| Arc::ptr_eq(h, &seg)) {
                        s.head = None;
                    }
                }
                Job::Trim { .. } => {}
            }
            if let Err(e) = result {
                self.fail(&e);
                s.error.get_or_insert(e);
            }
        }
    }

    /// Makes the log durable up to `target`: either becomes the leader, which runs
    /// `prepare` (submitting what is buffered), runs the queue and fdatasyncs the head
    /// segment for everyone written so far, or waits for the leader and checks whether
    /// that covered `target`.
    pub(crate) fn sync_to(&self, target: u64, prepare: &dyn Fn()) -> Result<()> {
        self.sync_to_after(false, false, target, prepare)
    }

    /// `sync_to` for a background flush, which has no caller to report to: an error it
    /// meets stays, under the same turn on the state lock that fails the handle, for the
    /// next sync to report.
    pub(crate) fn flush_to(&self, target: u64, prepare: &dyn Fn()) {
        let _ = self.sync_to_after(false, true, target, prepare);
    }

    fn sync_to_after(
        &self,
        ended_append: bool,
        keep_errors: bool,
        target: u64,
        prepare: &dyn Fn(),
    ) -> Result<()> {
        let mut s = self.state.lock();
        if ended_append {
            self.appending.fetch_sub(1, Ordering::AcqRel);
        }
        s.sync_targets.push(target);
        if self.gathered(&s) {
            self.gather_cv.notify_all();
        }
        let (mut s, result) = self.sync_locked(s, target, prepare, keep_errors);
        if let Some(i) = s.sync_targets.iter().position(|&t| t == target) {
            s.sync_targets.swap_remove(i);
        }
        result
    }

    /// The body of `sync_to`, entered and left with the state lock held so that a
    /// waiter checks the outcome and leaves in one turn on the lock.
    fn sync_locked<'a>(
        &'a self,
        mut s: MutexGuard<'a, State>,
        target: u64,
        prepare: &dyn Fn(),
        keep_errors: bool,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        let kept = || Error::state("error kept for the next sync");
        loop {
            if keep_errors && s.error.is_some() {
                return (s, Err(kept()));
            }
            if let Some(e) = s.error.take() {
                return (s, Err(e));
            }
            if self.failed() {
                return (s, Err(self.failure()));
            }
            if s.durable >= target {
                return (s, Ok(()));
            }
            if s.syncing {
                let spin = self.spin_limit();
                if let Some(_yielding) = self.begin_yielding(spin) {
                    let round = self.sync_round.load(Ordering::Acquire);
                    drop(s);
                    self.yield_while_syncing(round, spin);
                    s = self.state.lock();
                    // Rounds end under this lock, so a round still running here
                    // notifies after the wait below has started.
                    if self.sync_round.load(Ordering::Acquire) != round {
                        continue;
                    }
                }
                self.sync_cv.wait(&mut s);
                continue;
            }
            s.syncing = true;
            s.leader_runs_queue = true;
            drop(s);
            // Should anything below panic, later syncs must not wait for this one
            // forever, nor queued jobs for a worker nobody woke.
            let end_sync_on_unwind = EndSyncOnUnwind(self);
            prepare();
            self.run_pending();
            s = self.state.lock();
            if s.written < target {
                std::mem::forget(end_sync_on_unwind);
                self.end_round(&mut s);
                let e = Error::state("internal: sync beyond what was submitted for writing");
                return (s, Err(e));
            }
            let covered = s.written;
            let head = s.head.clone();
            s.last_group = s.waiting_for_sync();
            drop(s);
            let result = match &head {
                Some(seg) => {
                    let started = Instant::now();
                    let r = self.fs.fsync(&seg.file, &seg.path, true);
                    self.time_sync(started.elapsed());
                    r
                }
                None => Ok(()),
            };
            s = self.state.lock();
            std::mem::forget(end_sync_on_unwind);
            self.end_round(&mut s);
            match result {
                Ok(()) => s.durable = s.durable.max(covered),
                Err(e) => {
                    self.fail(&e);
                    if keep_errors {
                        s.error.get_or_insert(e);
                        return (s, Err(kept()));
                    }
                    return (s, Err(e));
                }
            }
        }
    }

    /// Ends a group-commit leader's round (under the state lock, which waiters check the
    /// round under) and wakes everyone waiting for it.
    fn end_round(&self, s: &mut State) {
        s.syncing = false;
        self.sync_round.fetch_add(1, Ordering::Release);
        self.sync_cv.notify_all();
    }

    /// Lets a caller waiting for the sync in progress (`round`) yield the CPU instead of
    /// sleeping, for at most `spin`. A sleeping waiter is woken only after the leader,
    /// and each woken waiter must take the state lock in turn, which keeps the next
    /// group from forming for tens of microseconds per sync; a yielding one sees the end
    /// at once.
    fn yield_while_syncing(&self, round: u64, spin: Duration) {
        let start = Instant::now();
        while self.sync_round.load(Ordering::Acquire) == round && start.elapsed() < spin {
            std::thread::yield_now();
        }
    }

    /// How long a waiter yields before it sleeps (see `SyncSpin`).
    fn spin_limit(&self) -> Duration {
        match self.spin {
            SyncSpin::Off => Duration::ZERO,
            SyncSpin::UpTo(d) => d,
            SyncSpin::Auto => {
                let avg = Duration::from_nanos(self.sync_nanos.load(Ordering::Relaxed));
                if avg.is_zero() || avg > AUTO_SPIN_SLOWEST_SYNC {
                    Duration::ZERO
                } else {
                    (avg * 2).max(AUTO_SPIN_SHORTEST)
                }
            }
        }
    }

    /// Lets a waiter yield for `spin` if it is not zero and fewer than `max_yielders`
    /// are yielding; it counts as one until the guard is dropped.
    fn begin_yielding(&self, spin: Duration) -> Option<Yielding<'_>> {
        if spin.is_zero() {
            return None;
        }
        let mut n = self.yielders.load(Ordering::Acquire);
        while n < self.max_yielders {
            match self
                .yielders
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(Yielding(self)),
                Err(now) => n = now,
            }
        }
        None
    }

    /// Adds the time of an fdatasync made by `sync_to` (for callers or a background
    /// flush) to the moving average `SyncSpin::Auto` follows. Weight 1/8, each time
    /// counted as at most 4 * `AUTO_SPIN_SLOWEST_SYNC`: one stalled sync cannot turn
    /// yielding off, a disk that stays slow does within a few.
    fn time_sync(&self, took: Duration) {
        let took = took.min(4 * AUTO_SPIN_SLOWEST_SYNC).as_nanos() as u64;
        let old = self.sync_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        };
        // Only leaders store, one at a time (under `syncing`); a lost update would only
        // age the average less. Zero means "none yet".
        self.sync_nanos.store(new.max(1), Ordering::Relaxed);
    }

    /// The most bytes that were queued for writing at once.
    pub(crate) fn queued_peak(&self) -> u64 {
        self.state.lock().queued_peak as u64
    }

    /// A log call starts encoding its entry; it has appended (or failed) when the token
    /// is dropped or turned into a sync.
    pub(crate) fn begin_append(&self) -> Appending<'_> {
        self.appending.fetch_add(1, Ordering::AcqRel);
        Appending(self)
    }

    fn end_append(&self) {
        let s = self.state.lock();
        self.appending.fetch_sub(1, Ordering::AcqRel);
        if self.gathered(&s) {
            self.gather_cv.notify_all();
        }
    }

    /// Lets a group-commit leader wait, at most `limit`, until no log call is between
    /// encoding and appending and as many callers have come to sync as the last
    /// fdatasync served: threads that log in a loop then share every fdatasync instead
    /// of alternating between groups. A single writer never waits.
    pub(crate) fn gather_appends(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        if !self.spin_limit().is_zero() {
            // While waiters may yield, the leader yields too: it sees the last caller
            // arrive without waiting to be woken.
            while Instant::now() < deadline {
                if self.gathered(&self.state.lock()) {
                    return;
                }
                std::thread::yield_now();
            }
            return;
        }
        let mut s = self.state.lock();
        while !self.gathered(&s) {
            if self.gather_cv.wait_until(&mut s, deadline).timed_out() {
                return;
            }
        }
    }

    /// A gathering leader may go on: nobody is between encoding and appending, and as
    /// many callers wait for a sync as the last one served. Notifiers check it too, so
    /// the leader wakes once, not on every arrival.
    fn gathered(&self, s: &State) -> bool {
        self.appending.load(Ordering::Acquire) == 0 && s.waiting_for_sync() >= s.last_group
    }

    /// The first job error not yet reported.
    pub(crate) fn take_error(&self) -> Result<()> {
        self.state.lock().error.take().map_or(Ok(()), Err)
    }

    /// Marks the pipeline failed: data reported as logged may not be on disk, so no
    /// write may be accepted any more.
    pub(crate) fn fail(&self, e: &Error) {
        let mut msg = self.failure.lock();
        if !self.failed.swap(true, Ordering::SeqCst) {
            *msg = format!(
                "the WAL handle has failed and refuses writes; reopen it and read to recover \
                 what is on disk (cause: {e})"
            );
        }
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The error every call returns once the pipeline failed.
    pub(crate) fn failure(&self) -> Error {
        Error::state(self.failure.lock().clone())
    }

    /// Blocks the worker until there are jobs, `interval` has passed since `last_tick`,
    /// or it is told to stop.
    pub(crate) fn next_work(&self, interval: Option<Duration>, last_tick: Instant) -> Work {
        let mut s = self.state.lock();
        loop {
            if !s.jobs.is_empty() {
                return Work::Jobs;
            }
            if s.stop {
                return Work::Stop;
            }
            // An interval too long to represent means "never".
            match interval.and_then(|iv| last_tick.checked_add(iv)) {
                None => self.work_cv.wait(&mut s),
                Some(deadline) => {
                    if Instant::now() >= deadline
                        || self.work_cv.wait_until(&mut s, deadline).timed_out()
                    {
                        return Work::Tick;
                    }
                }
            }
        }
    }

    /// Asks the worker to run what is queued and exit.
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.work_cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Faults;

    fn io(dir: &std::path::Path) -> Arc<Io> {
        io_with(dir, Arc::new(Faults::default()))
    }

    fn io_with(dir: &std::path::Path, faults: Arc<Faults>) -> Arc<Io> {
        Arc::new(Io::new(fs_with(dir, faults), SyncSpin::Off))
    }

    fn fs_with(dir: &std::path::Path, faults: Arc<Faults>) -> Arc<Fs> {
        Arc::new(Fs::new(dir.to_path_buf(), File::open(dir).unwrap(), faults))
    }

    /// A new, empty segment file `000001` in `dir`.
    fn segment(dir: &std::path::Path) -> Arc<SegFile> {
        let path = dir.join("000001");
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        Arc::new(SegFile { file, path })
    }

    #[test]
    fn a_write_abandoned_by_a_panic_fails_the_handle() {
        let tmp = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::default());
        let io = io_with(tmp.path(), faults.clone());
        let seg = segment(tmp.path());
        io.submit_write(seg.clone(), 0, vec![1; 10], 10);
        faults.panic_on(crate::FaultOp::Write);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| io.run_pending()));
        assert!(run.is_err());
        faults.clear();
        // The next write succeeds, but the log has a hole before it: a sync covering both
        // must fail, not report the lost bytes durable.
        io.submit_write(seg, 10, vec![2; 10], 20);
        let synced = io.sync_to(20, &|| {});
        assert!(synced.is_err(), "{synced:?}");
    }

    #[test]
    fn auto_spin_follows_the_timed_fdatasyncs() {
        let tmp = tempfile::tempdir().unwrap();
        let io = Io::new(fs_with(tmp.path(), Arc::default()), SyncSpin::Auto);
        let us = Duration::from_micros;
        // Nothing timed yet: sleep.
        assert_eq!(io.spin_limit(), Duration::ZERO);
        io.time_sync(us(200));
        assert_eq!(io.spin_limit(), us(400));
        // A slower sync moves the average by an eighth of the difference...
        io.time_sync(us(1000));
        assert_eq!(io.spin_limit(), us(600));
        // ...and a stall counts as 4 ms at most: yielding stays on...
        io.time_sync(Duration::from_secs(1));
        let avg_ns = 300_000 - 300_000 / 8 + 4_000_000 / 8;
        assert_eq!(io.spin_limit(), Duration::from_nanos(2 * avg_ns));
        // ...until the disk stays slower than AUTO_SPIN_SLOWEST_SYNC.
        for _ in 0..3 {
            io.time_sync(Duration::from_millis(5));
        }
        assert_eq!(io.spin_limit(), Duration::ZERO);
        // It comes back with fast syncs, and yields at least AUTO_SPIN_SHORTEST.
        for _ in 0..60 {
            io.time_sync(us(1));
        }
        assert_eq!(io.spin_limit(), AUTO_SPIN_SHORTEST);

        let fixed = Io::new(io.fs.clone(), SyncSpin::UpTo(Duration::from_micros(70)));
        fixed.time_sync(Duration::from_millis(5));
        assert_eq!(fixed.spin_limit(), Duration::from_micros(70));
        let off = Io::new(io.fs.clone(), SyncSpin::Off);
        off.time_sync(Duration::from_micros(100));
        assert_eq!(off.spin_limit(), Duration::ZERO);
    }

    #[test]
    fn no_more_waiters_yield_at_once_than_allowed() {
        let tmp = tempfile::tempdir().unwrap();
        let io = io(tmp.path());
        let spin = Duration::from_micros(100);
        assert!(io.begin_yielding(Duration::ZERO).is_none());
        let most = io.max_yielders;
        assert!(most >= 2);
        let mut yielding: Vec<_> = (0..most).map(|_| io.begin_yielding(spin)).collect();
        assert!(yielding.iter().all(Option::is_some));
        assert!(io.begin_yielding(spin).is_none(), "one more than {most}");
        yielding.pop();
        assert!(io.begin_yielding(spin).is_some());
        drop(yielding);
        assert_eq!(io.yielders.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_group_commit_times_its_fdatasync() {
        let tmp = tempfile::tempdir().unwrap();
        let io = io(tmp.path());
        let seg = segment(tmp.path());
        io.submit_write(seg, 0, vec![1; 10], 10);
        assert_eq!(io.sync_nanos.load(Ordering::Relaxed), 0);
        io.sync_to(10, &|| {}).unwrap();
        assert!(io.sync_nanos.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn a_log_call_that_unwinds_mid_append_is_not_waited_for() {
        let tmp = tempfile::tempdir().unwrap();
        let io = io(tmp.path());
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _appending = io.begin_append();
            panic!("while encoding");
        }));
        assert!(unwound.is_err());
        assert_eq!(io.appending.load(Ordering::Acquire), 0);
        let _appending = io.begin_append();
        assert_eq!(io.appending.load(Ordering::Acquire), 1);
    }

    #[test]
    fn a_leader_that_panics_does_not_leave_later_syncs_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let io = io(tmp.path());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            io.sync_to(1, &|| panic!("in prepare"))
        }));
        assert!(panicked.is_err());
        // Nothing was written, so a second sync to the same position fails, but it must
        // get that far instead of waiting for the first leader forever.
        let (tx, rx) = std::sync::mpsc::channel();
        let io2 = io.clone();
        std::thread::spawn(move || {
            let _ = tx.send(io2.sync_to(1, &|| {}).is_err());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    }
}
