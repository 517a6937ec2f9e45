//! Waiting for a WAL directory to change, for tails: inotify on Linux (a write to a
//! segment, a segment created, renamed or deleted), so that an idle tail sleeps in the
//! kernel and wakes as soon as a writer hands it something; a slow poll where inotify is
//! not available.

use std::path::Path;
use std::time::Duration;

/// How long the fallback sleeps between looks at the directory.
const POLL_FALLBACK: Duration = Duration::from_millis(50);

pub(crate) struct DirWatch {
    /// The inotify descriptor, non-blocking; `None`: the fallback poll.
    #[cfg(target_os = "linux")]
    fd: Option<std::os::fd::OwnedFd>,
}

impl DirWatch {
    /// Watches `dir`; falls back to polling if inotify cannot watch it.
    pub(crate) fn new(dir: &Path) -> DirWatch {
        #[cfg(target_os = "linux")]
        {
            DirWatch { fd: inotify(dir) }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            DirWatch {}
        }
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

    /// Waits until the directory changed since the last `drain`, or `timeout` passed.
    pub(crate) fn wait(&self, timeout: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            return wait_readable(fd, timeout);
        }
        std::thread::sleep(timeout.min(POLL_FALLBACK));
    }
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

#[cfg(target_os = "linux")]
fn wait_readable(fd: &std::os::fd::OwnedFd, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd. An interruption (EINTR) only ends the wait early, which
    // the caller treats like a change: it looks again.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}
