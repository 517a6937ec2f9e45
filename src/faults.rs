//! Injected I/O failures, so tests (the library's and its users') can see how a WAL and
//! the application around it cope with a full disk, a failing fsync or a crash in the
//! middle of an operation.
//!
//! ```
//! use std::sync::Arc;
//! use tswal::{FaultOp, Faults, Options};
//!
//! let faults = Arc::new(Faults::default());
//! let options = Options { faults: Some(faults.clone()), ..Options::default() };
//! // ... open a WAL with `options`, then:
//! faults.fail_after(FaultOp::Preallocate, 0, libc::ENOSPC); // the next segment cannot be made
//! faults.clear(); // the disk has room again
//! ```
//!
//! [`Faults::lose_power`] simulates a power loss, which a killed process cannot: it
//! models what each fsync made durable and writes one state a power loss could leave
//! into another directory, for the test to open.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::powerloss::{Event, Recorder};

/// An I/O operation that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// Creating a file (segments, temporary files).
    Create,
    /// Writing to a file.
    Write,
    /// Reserving a new segment's space (`fallocate`).
    Preallocate,
    /// `fsync` or `fdatasync` of a file or directory.
    Fsync,
    /// Renaming a file.
    Rename,
    /// Deleting a file.
    Remove,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    op: FaultOp,
    /// Calls still let through before the failures start.
    skip: u64,
    errno: i32,
}

/// Which operations fail, and with which `errno`. Shared between a test and the handles
/// it opened with [`Options::faults`](crate::Options::faults); inert until armed.
#[derive(Default)]
pub struct Faults {
    armed: AtomicBool,
    rules: Mutex<Vec<Rule>>,
    delays: Mutex<Vec<(FaultOp, Duration)>>,
    /// Operations that panic instead (the library's own tests of unwinding).
    #[cfg(test)]
    panics: Mutex<Vec<FaultOp>>,
    /// A simulated power loss to come, and the lock that makes changes one at a time
    /// while it is armed.
    power: Mutex<Option<PowerLoss>>,
    one_at_a_time: Mutex<()>,
}

#[derive(Debug)]
struct PowerLoss {
    /// Changes let through before the power goes.
    after: u64,
    seed: u64,
    into: PathBuf,
    recorder: Option<Recorder>,
    /// The power went: the state was written to `into`, every change fails.
    lost: bool,
    /// Why writing `into` failed, if it did.
    error: Option<String>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &*self.rules.lock())
            .field("delays", &*self.delays.lock())
            .field(
                "power",
                &self.power.lock().as_ref().map(|p| (p.after, p.lost)),
            )
            .finish()
    }
}

impl Faults {
    /// From now on, every `op` after the next `skip` ones fails with `errno`, until
    /// [`Faults::clear`].
    pub fn fail_after(&self, op: FaultOp, skip: u64, errno: i32) {
        self.rules.lock().push(Rule { op, skip, errno });
        self.armed.store(true, Ordering::SeqCst);
    }

    /// From now on, every `op` takes `by` longer (a slow or busy disk), until
    /// [`Faults::clear`].
    pub fn slow_down(&self, op: FaultOp, by: Duration) {
        self.delays.lock().push((op, by));
        self.armed.store(true, Ordering::SeqCst);
    }

    /// From now on, every `op` panics, until [`Faults::clear`].
    #[cfg(test)]
    pub(crate) fn panic_on(&self, op: FaultOp) {
        self.panics.lock().push(op);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Simulates a power loss after the next `after` changes to the WAL directory made
    /// by the handles using these faults (creating, writing, cutting, preallocating,
    /// renaming and deleting files, making directories, and fsyncs and fdatasyncs).
    /// Until then every change is noted: what each fsync of a file or directory made
    /// durable, and what is not durable yet. Then, instead of the next change, one
    /// state that a power loss at that point could leave is written into the new
    /// directory `into` (outside the WAL directory): each file's unsynced writes kept
    /// or dropped per 4 KiB block and its length the synced or the current one, each
    /// directory change not yet fsynced in its directories undone or not (in order,
    /// where it still applies), all chosen at random from `seed`. That change and
    /// every later one fail with `EIO`, as on a machine that stopped.
    ///
    /// The directory as it is at the first change counts as durable. Open `into` to
    /// see what survives; [`Faults::lost_power`] tells whether the power went.
    pub fn lose_power(&self, after: u64, seed: u64, into: impl Into<PathBuf>) {
        *self.power.lock() = Some(PowerLoss {
            after,
            seed,
            into: into.into(),
            recorder: None,
            lost: false,
            error: None,
        });
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Whether the simulated power loss happened; `Err` if writing the state it left
    /// failed.
    pub fn lost_power(&self) -> Result<bool, String> {
        match &*self.power.lock() {
            Some(p) => p.error.clone().map_or(Ok(p.lost), Err),
            None => Ok(false),
        }
    }

    /// Every operation succeeds again, at full speed.
    pub fn clear(&self) {
        self.rules.lock().clear();
        self.delays.lock().clear();
        #[cfg(test)]
        self.panics.lock().clear();
        *self.power.lock() = None;
        self.armed.store(false, Ordering::SeqCst);
    }

    /// While a power loss is simulated, a guard that makes changes one at a time.
    pub(crate) fn serialize(&self) -> Option<MutexGuard<'_, ()>> {
        if !self.armed.load(Ordering::Relaxed) || self.power.lock().is_none() {
            return None;
        }
        Some(self.one_at_a_time.lock())
    }

    /// Notes a change about to be made to the tree under `root`.
    pub(crate) fn note(&self, root: &Path, event: &Event<'_>) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        if let Some(p) = self.power.lock().as_mut().filter(|p| !p.lost) {
            p.recorder
                .get_or_insert_with(|| Recorder::new(root))
                .note(event);
        }
    }

    /// Counts a change toward the power loss, and makes it happen when due.
    fn power_check(&self, root: &Path) -> io::Result<()> {
        let mut guard = self.power.lock();
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        let recorder = p.recorder.get_or_insert_with(|| Recorder::new(root));
        if !p.lost && p.after == 0 {
            p.lost = true;
            if let Err(e) = recorder.lose_power(&p.into, p.seed) {
                p.error = Some(format!(
                    "writing the state after a power loss to {}: {e}",
                    p.into.display()
                ));
            }
        }
        if p.lost {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        p.after -= 1;
        Ok(())
    }

    /// Called before each change to the tree under `root`: the error it must fail
    /// with, if any.
    pub(crate) fn check(&self, op: FaultOp, root: &Path) -> io::Result<()> {
        if !self.armed.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.power_check(root)?;
        let delay: Duration = self
            .delays
            .lock()
            .iter()
            .filter(|d| d.0 == op)
            .map(|d| d.1)
            .sum();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        #[cfg(test)]
        if self.panics.lock().contains(&op) {
            panic!("injected panic in {op:?}");
        }
        let mut rules = self.rules.lock();
        for rule in rules.iter_mut().filter(|r| r.op == op) {
            if rule.skip == 0 {
                return Err(io::Error::from_raw_os_error(rule.errno));
            }
            rule.skip -= 1;
        }
        Ok(())
    }
}
