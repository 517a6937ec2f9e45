//! Thin wrappers over the system calls the engine needs and `std` does not offer:
//! directory locking, preallocation, directory fsync.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Opens a directory so it can be fsynced and locked.
pub(crate) fn open_dir(path: &Path) -> Result<File> {
    File::open(path).ctx("open directory", path)
}

/// Takes an exclusive, non-blocking `flock` on the directory. The lock belongs to this
/// open file description, so a second open in the same process is refused too.
pub(crate) fn lock_dir(dir: &File, path: &Path) -> Result<()> {
    loop {
        // SAFETY: flock takes a descriptor we own (borrowed from a live `File`) and flags;
        // it touches no memory of ours.
        let rc = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(Error::Locked {
                    dir: path.to_path_buf(),
                });
            }
            _ => return Err(Error::io("lock directory", path, e)),
        }
    }
}

/// Makes the directory's entries (created, renamed, deleted files) durable.
pub(crate) fn sync_dir(dir: &File, path: &Path) -> Result<()> {
    dir.sync_all().ctx("fsync directory", path)
}

/// Extends `file` to `size` bytes with allocated blocks, so later writes do not fail for
/// lack of space and do not change the file size. Falls back to a sparse extension on
/// filesystems without `fallocate`.
pub(crate) fn preallocate(file: &File, size: u64, path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let len = libc::off_t::try_from(size)
            .map_err(|_| Error::invalid(format!("segment size {size} too large")))?;
        loop {
            // SAFETY: fallocate takes a descriptor we own and integer arguments; it touches
            // no memory of ours.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
            if rc == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => break,
                _ => return Err(Error::io("preallocate segment", path, e)),
            }
        }
    }
    file.set_len(size).ctx("extend segment", path)
}
