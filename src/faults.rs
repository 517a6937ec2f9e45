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

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

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
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &*self.rules.lock())
            .field("delays", &*self.delays.lock())
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

    /// Every operation succeeds again, at full speed.
    pub fn clear(&self) {
        self.rules.lock().clear();
        self.delays.lock().clear();
        #[cfg(test)]
        self.panics.lock().clear();
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Called before each operation: the error it must fail with, if any.
    pub(crate) fn check(&self, op: FaultOp) -> io::Result<()> {
        if !self.armed.load(Ordering::Relaxed) {
            return Ok(());
        }
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
