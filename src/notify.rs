//! Waiting for a WAL directory to change, for tails: inotify on Linux (a write to a
//! segment, a segment created, renamed or deleted), so that an idle tail sleeps in the
//! kernel and wakes as soon as a writer hands it something; a slow poll where inotify is
//! not available. A [`TailWaker`] ends a wait early from another thread.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the fallback sleeps between looks at the directory.
const POLL_FALLBACK: Duration = Duration::from_millis(50);

pub(crate) struct DirWatch {
    /// The inotify descriptor, non-blocking; `None`: the fallback poll.
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
    wake: Arc<Wake>,
}

/// Ends the wait of a tail's `next` from another thread (see [`crate::Tail::waker`]).
/// Cloning it is cheap; it stays valid after the tail is dropped (waking then does
/// nothing).
#[derive(Clone)]
pub struct TailWaker(Arc<Wake>);

impl TailWaker {
    /// Makes the tail's `next` in progress return at once, as after its timeout; if none
    /// is waiting, the next one that would wait returns at once instead. Wakes are not
    /// counted: several before a wait end that one wait.
    pub fn wake(&self) {
        self.0.set();
    }
}

impl std::fmt::Debug for TailWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TailWaker")
    }
}

/// A wake-up request: a flag, and on Linux an eventfd that a wait polls beside the
/// inotify descriptor, so that a wake ends a wait in the kernel at once.
struct Wake {
    pending: AtomicBool,
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
}

impl Wake {
    fn new() -> Wake {
        Wake {
            pending: AtomicBool::new(false),
            #[cfg(target_os = "linux")]
            fd: eventfd(),
        }
    }

    fn set(&self) {
        self.pending.store(true, Ordering::Release);
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            use std::os::fd::AsRawFd;
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to a live eventfd. It cannot block
            // (non-blocking) and can only fail at a counter near 2^64 (still readable).
            unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Whether a wake was requested since the last call; clears it.
    fn take(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            drain(fd);
        }
        self.pending.swap(false, Ordering::AcqRel)
    }
}

impl DirWatch {
    /// Watches `dir`; falls back to polling if inotify cannot watch it.
    pub(crate) fn new(dir: &Path) -> DirWatch {
        #[cfg(target_os = "linux")]
        {
            DirWatch {
                fd: inotify(dir),
                wake: Arc::new(Wake::new()),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            DirWatch {
                wake: Arc::new(Wake::new()),
            }
        }
    }

    /// A handle that ends a `wait` from another thread.
    pub(crate) fn waker(&self) -> TailWaker {
        TailWaker(Arc::clone(&self.wake))
    }

    /// Whether changes wake the waiter at once (false: it polls).
    pub(crate) fn pushed(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.fd.is_some();
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    /// Forgets the changes seen so far: the caller is about to look at the directory,
    /// and waits only for what happens after that look.
    pub(crate) fn drain(&self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            drain(fd);
        }
    }

    /// Waits until the directory changed since the last `drain`, `timeout` passed, or a
    /// wake came; returns whether a wake came (since the last wait), and clears it.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        if self.wake.take() {
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            let inotify = self.fd.as_ref();
            let timeout = if inotify.is_some() {
                timeout
            } else {
                timeout.min(POLL_FALLBACK)
            };
            if inotify.is_some() || self.wake.fd.is_some() {
                wait_readable([inotify, self.wake.fd.as_ref()], timeout);
                return self.wake.take();
            }
        }
        std::thread::sleep(timeout.min(POLL_FALLBACK));
        self.wake.take()
    }
}

#[cfg(target_os = "linux")]
fn eventfd() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd takes an initial value and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    // SAFETY: `raw` is a descriptor we just opened and own from here on.
    (raw >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

#[cfg(target_os = "linux")]
fn inotify(dir: &Path) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a descriptor we just opened and own from here on.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    let mask = libc::IN_MODIFY
        | libc::IN_CREATE
        | libc::IN_MOVED_TO
        | libc::IN_MOVED_FROM
        | libc::IN_DELETE
        | libc::IN_CLOSE_WRITE;
    use std::os::fd::AsRawFd;
    // SAFETY: a live descriptor, a NUL-terminated path that outlives the call, a mask.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
    (wd >= 0).then_some(fd)
}

/// Reads and discards the queued events.
#[cfg(target_os = "linux")]
fn drain(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reads into a live buffer of the length given.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // Empty (EAGAIN), or an error the next wait will meet again.
            return;
        }
    }
}

/// Waits until one of the descriptors is readable or `timeout` passed; a `None` is
/// left out of the wait.
#[cfg(target_os = "linux")]
fn wait_readable(fds: [Option<&std::os::fd::OwnedFd>; 2], timeout: Duration) {
    use std::os::fd::AsRawFd;
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // poll ignores entries with a negative descriptor.
    let mut pfds = fds.map(|fd| libc::pollfd {
        fd: fd.map_or(-1, |fd| fd.as_raw_fd()),
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: two live pollfds. An interruption (EINTR) only ends the wait early, which
    // the caller treats like a change: it looks again.
    unsafe { libc::poll(pfds.as_mut_ptr(), 2, ms) };
}
