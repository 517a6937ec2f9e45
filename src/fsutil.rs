//! The file-system layer under the engine: every operation that changes files goes
//! through [`Fs`], which names the path in its errors and lets [`Faults`] make it fail.
//! Also the system calls `std` does not offer: directory locking and preallocation.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::faults::{FaultOp, Faults};
use crate::powerloss::Event;

/// Creates `dir` and any missing parents, and makes `dir`'s entry in its parent durable
/// (fsync of the parent, also when `dir` already existed: an earlier open may have made
/// it and crashed before). Without that a power loss could take the directory, and
/// every entry already synced into it, away. A parent this process may not read cannot
/// be opened to fsync; that is left to whoever made the directory. A path that exists
/// but is not a directory is an error that says so.
pub(crate) fn create_dir_durably(dir: &Path) -> Result<()> {
    if make_dir(dir)? {
        return Ok(());
    }
    sync_parent(dir)
}

fn parent_of(dir: &Path) -> &Path {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes `dir` and its missing parents, each fsynced into its parent before anything is
/// made below it; true if `dir` itself was made here.
fn make_dir(dir: &Path) -> Result<bool> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(false),
        Ok(_) => {
            let e = io::Error::new(
                io::ErrorKind::NotADirectory,
                "exists and is not a directory",
            );
            return Err(Error::io("open WAL directory", dir, e));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("open WAL directory", dir, e)),
    }
    let parent = parent_of(dir);
    make_dir(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(Error::io("create directory", dir, e)),
    }
    sync_parent(dir)?;
    Ok(true)
}

fn sync_parent(dir: &Path) -> Result<()> {
    let parent = parent_of(dir);
    let file = match open_dir(parent) {
        Ok(f) => f,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    file.sync_all().ctx("fsync directory", parent)
}

/// Opens a directory that must exist (a read-only open creates nothing), saying so if
/// it does not or is not a directory.
pub(crate) fn open_existing_dir(dir: &Path) -> Result<File> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => open_dir(dir),
        Ok(_) => Err(Error::io(
            "open WAL directory",
            dir,
            io::Error::new(
                io::ErrorKind::NotADirectory,
                "exists and is not a directory",
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::io(
            "open WAL directory",
            dir,
            io::Error::new(
                io::ErrorKind::NotFound,
                "No such file or directory (a read-only open does not create it)",
            ),
        )),
        Err(e) => Err(Error::io("open WAL directory", dir, e)),
    }
}

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

/// The WAL directory (open, for fsync and the lock) and the faults to inject.
pub(crate) struct Fs {
    pub dir: PathBuf,
    dir_file: File,
    faults: Arc<Faults>,
    /// Every fsync and fdatasync made through this layer, and their total time.
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
}

impl Fs {
    pub(crate) fn new(dir: PathBuf, dir_file: File, faults: Arc<Faults>) -> Self {
        Fs {
            dir,
            dir_file,
            faults,
            fsyncs: AtomicU64::new(0),
            fsync_nanos: AtomicU64::new(0),
        }
    }

    /// fsync and fdatasync calls made (of files and of the directory), and their time.
    pub(crate) fn fsync_stats(&self) -> (u64, Duration) {
        let nanos = self.fsync_nanos.load(Ordering::Relaxed);
        (
            self.fsyncs.load(Ordering::Relaxed),
            Duration::from_nanos(nanos),
        )
    }

    fn timed_sync(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let started = Instant::now();
        let result = sync();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }

    /// Makes one change through the fault layer: an injected failure, or the change
    /// noted in the power-loss model (while one is simulated, changes are made one at
    /// a time, so that the model follows the disk).
    fn change<T>(
        &self,
        op: FaultOp,
        what: &'static str,
        path: &Path,
        event: Option<Event<'_>>,
        make: impl FnOnce() -> io::Result<T>,
    ) -> Result<T> {
        let _one_at_a_time = self.faults.serialize();
        self.faults.check(op, &self.dir).ctx(what, path)?;
        if let Some(event) = event {
            self.faults.note(&self.dir, &event);
        }
        make().ctx(what, path)
    }

    /// Creates `path`, which must not exist, for reading and writing.
    pub(crate) fn create_new(&self, path: &Path, what: &'static str) -> Result<File> {
        self.change(
            FaultOp::Create,
            what,
            path,
            Some(Event::Create(path)),
            || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(path)
            },
        )
    }

    pub(crate) fn write_at(
        &self,
        file: &File,
        path: &Path,
        data: &[u8],
        offset: u64,
        what: &'static str,
    ) -> Result<()> {
        self.change(FaultOp::Write, what, path, None, || {
            file.write_all_at(data, offset)
        })
    }

    /// Changes a file's length (trimming preallocated space, cutting damage).
    pub(crate) fn set_len(
        &self,
        file: &File,
        path: &Path,
        len: u64,
        what: &'static str,
    ) -> Result<()> {
        self.change(FaultOp::Write, what, path, None, || file.set_len(len))
    }

    /// `fdatasync` if `data_only`, else `fsync`.
    pub(crate) fn fsync(&self, file: &File, path: &Path, data_only: bool) -> Result<()> {
        let what = if data_only { "fdatasync" } else { "fsync" };
        self.change(
            FaultOp::Fsync,
            what,
            path,
            Some(Event::FileSync(path)),
            || {
                self.timed_sync(|| {
                    if data_only {
                        file.sync_data()
                    } else {
                        file.sync_all()
                    }
                })
            },
        )
    }

    /// Asks the kernel to start writing `file[from..to]` to disk now, without waiting
    /// (whole pages only: a partial last page would be written again once filled). The
    /// fsync when a segment is finished then has little left to do, instead of
    /// holding up the write pipeline while it writes the whole segment (6-9 ms for
    /// 16 MiB on the machine benchmarked, at every cut). Only a hint: errors surface
    /// at the next fsync, which is what durability rests on.
    pub(crate) fn start_writeback(&self, file: &File, from: u64, to: u64) {
        #[cfg(target_os = "linux")]
        {
            const PAGE: u64 = 4096;
            let (from, to) = (from & !(PAGE - 1), to & !(PAGE - 1));
            if let (Ok(off), Ok(len)) = (
                libc::off64_t::try_from(from),
                libc::off64_t::try_from(to.saturating_sub(from)),
            ) {
                if len > 0 {
                    // SAFETY: sync_file_range takes a descriptor we own and integers; it
                    // touches no memory of ours.
                    unsafe {
                        libc::sync_file_range(
                            file.as_raw_fd(),
                            off,
                            len,
                            libc::SYNC_FILE_RANGE_WRITE,
                        )
                    };
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (file, from, to);
    }

    /// Makes the directory's entries (created, renamed, deleted files) durable.
    pub(crate) fn sync_dir(&self) -> Result<()> {
        let (dir, what) = (&self.dir, "fsync directory");
        self.change(FaultOp::Fsync, what, dir, Some(Event::DirSync(dir)), || {
            self.timed_sync(|| self.dir_file.sync_all())
        })
    }

    /// Makes the directory's entries durable, for a directory below the WAL directory
    /// (quarantine).
    pub(crate) fn sync_dir_at(&self, dir: &Path) -> Result<()> {
        let file = open_dir(dir)?;
        let what = "fsync directory";
        self.change(FaultOp::Fsync, what, dir, Some(Event::DirSync(dir)), || {
            self.timed_sync(|| file.sync_all())
        })
    }

    /// Creates the directory `path`; false if it exists already (as a directory).
    pub(crate) fn mkdir(&self, path: &Path) -> Result<bool> {
        if path.is_dir() {
            return Ok(false);
        }
        let what = "create directory";
        self.change(
            FaultOp::Create,
            what,
            path,
            Some(Event::Mkdir(path)),
            || fs::create_dir(path),
        )?;
        Ok(true)
    }

    /// Makes a symbolic link at `link` to `target`.
    pub(crate) fn symlink(&self, target: &Path, link: &Path) -> Result<()> {
        let event = Event::Symlink(link, target);
        self.change(FaultOp::Create, "create link", link, Some(event), || {
            std::os::unix::fs::symlink(target, link)
        })
    }

    pub(crate) fn rename(&self, from: &Path, to: &Path, what: &'static str) -> Result<()> {
        self.change(
            FaultOp::Rename,
            what,
            to,
            Some(Event::Rename(from, to)),
            || fs::rename(from, to),
        )
    }

    pub(crate) fn remove(&self, path: &Path, what: &'static str) -> Result<()> {
        self.change(
            FaultOp::Remove,
            what,
            path,
            Some(Event::Remove(path)),
            || fs::remove_file(path),
        )
    }

    /// Removes a temporary file of ours if it is there, ignoring errors (cleanup after a
    /// failure; recovery at the next open removes what this leaves).
    pub(crate) fn remove_quietly(&self, path: &Path) {
        if fs::symlink_metadata(path).is_ok() {
            let _ = self.remove(path, "remove temporary file");
        }
    }

    /// Extends `file` to `size` bytes with allocated blocks, so later writes do not fail
    /// for lack of space and do not change the file size. Falls back to a sparse
    /// extension on filesystems without `fallocate`.
    pub(crate) fn preallocate(&self, file: &File, size: u64, path: &Path) -> Result<()> {
        let len = libc::off_t::try_from(size)
            .map_err(|_| Error::invalid(format!("segment size {size} too large")))?;
        let what = "preallocate segment";
        self.change(FaultOp::Preallocate, what, path, None, || {
            #[cfg(target_os = "linux")]
            loop {
                // SAFETY: fallocate takes a descriptor we own and integer arguments; it
                // touches no memory of ours.
                let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
                if rc == 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => break,
                    _ => return Err(e),
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = len;
            file.set_len(size)
        })
    }
}
