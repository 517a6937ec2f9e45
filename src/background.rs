//! The background worker's job queue: finishing cut segments off the write path.
//!
//! Writers submit a job when they cut a segment and go on at once. `sync`, reads,
//! truncation and close first run what is still queued themselves and wait for a job in
//! progress, so a finished segment is trimmed and durable before any of those goes on.
//! The first error a job hits is kept for the next `take_error`.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, IoContext, Result};

/// Cut `file` to `len` bytes (dropping preallocated space) and make it durable.
pub(crate) struct FinishJob {
    pub file: Arc<File>,
    pub path: PathBuf,
    pub len: u64,
}

impl FinishJob {
    pub(crate) fn run(&self) -> Result<()> {
        self.file
            .set_len(self.len)
            .ctx("trim finished segment", &self.path)?;
        self.file
            .sync_all()
            .ctx("fsync finished segment", &self.path)
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<FinishJob>,
    submitted: u64,
    done: u64,
    stop: bool,
    error: Option<Error>,
}

/// What the worker should do next.
pub(crate) enum Work {
    Job(FinishJob),
    /// The flush interval elapsed.
    Tick,
    Stop,
}

#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    cv: Condvar,
}

impl Queue {
    pub(crate) fn submit(&self, job: FinishJob) {
        let mut s = self.state.lock();
        s.jobs.push_back(job);
        s.submitted += 1;
        self.cv.notify_all();
    }

    /// Jobs submitted so far; pass to `wait_quietly`.
    pub(crate) fn submitted(&self) -> u64 {
        self.state.lock().submitted
    }

    /// Takes the next queued job, for a caller that runs it instead of the worker.
    pub(crate) fn pop(&self) -> Option<FinishJob> {
        self.state.lock().jobs.pop_front()
    }

    /// Waits until the first `target` jobs are done, leaving any error for later.
    pub(crate) fn wait_quietly(&self, target: u64) {
        let mut s = self.state.lock();
        while s.done < target {
            self.cv.wait(&mut s);
        }
    }

    /// The first job error not yet reported.
    pub(crate) fn take_error(&self) -> Result<()> {
        self.state.lock().error.take().map_or(Ok(()), Err)
    }

    /// Blocks the worker until there is work, or `interval` has passed since `last_tick`.
    pub(crate) fn next_work(&self, interval: Option<Duration>, last_tick: Instant) -> Work {
        let mut s = self.state.lock();
        loop {
            if let Some(job) = s.jobs.pop_front() {
                return Work::Job(job);
            }
            if s.stop {
                return Work::Stop;
            }
            // An interval too long to represent means "never".
            match interval.and_then(|iv| last_tick.checked_add(iv)) {
                None => self.cv.wait(&mut s),
                Some(deadline) => {
                    if Instant::now() >= deadline
                        || self.cv.wait_until(&mut s, deadline).timed_out()
                    {
                        return Work::Tick;
                    }
                }
            }
        }
    }

    /// Records the outcome of a job taken with `next_work` or `pop`.
    pub(crate) fn complete(&self, result: Result<()>) {
        let mut s = self.state.lock();
        s.done += 1;
        if let Err(e) = result {
            s.error.get_or_insert(e);
        }
        self.cv.notify_all();
    }

    /// Records an error found by the worker outside a job (a flush tick).
    pub(crate) fn report(&self, e: Error) {
        self.state.lock().error.get_or_insert(e);
    }

    /// Asks the worker to finish the queued jobs and exit.
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.cv.notify_all();
    }
}
