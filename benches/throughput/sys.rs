//! What the bench asks of the system: memory of this process, segment files, free space,
//! and a description of the machine.

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory of this process over one phase: RSS at the start, peak (VmHWM) since then.
pub struct Rss {
    pub base_kib: u64,
}

impl Rss {
    pub fn start() -> Rss {
        // Resets VmHWM to the current RSS (Linux >= 4.0), so the peak is this phase's
        // even if process start-up briefly used more. Without it the peak is since exec.
        let _ = fs::write("/proc/self/clear_refs", "5");
        Rss {
            base_kib: status_kib("VmRSS"),
        }
    }

    pub fn peak_kib(&self) -> u64 {
        status_kib("VmHWM")
    }
}

/// CPU time (user + system) the process has used so far, all threads.
pub fn cpu_time() -> std::time::Duration {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return std::time::Duration::ZERO;
    }
    let t = |tv: libc::timeval| {
        std::time::Duration::new(tv.tv_sec as u64, (tv.tv_usec as u32).saturating_mul(1000))
    };
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Whether a file name is a segment's (all digits).
fn is_segment(name: &OsStr) -> bool {
    !name.is_empty() && name.as_bytes().iter().all(u8::is_ascii_digit)
}

/// Number and total size of the segment files (all-digit names) in `dir`.
pub fn segment_files(dir: &Path) -> (u64, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if let (true, Ok(meta)) = (is_segment(&name), entry.metadata()) {
            count += 1;
            bytes += meta.len();
        }
    }
    (count, bytes)
}

/// Drops the segment files in `dir` from the page cache, so the next read comes from the
/// disk (as after a reboot): each is fdatasynced, so every page is clean, then given up
/// with `POSIX_FADV_DONTNEED`, which needs no privileges. Returns the share of their
/// pages still cached afterwards (`mincore`), which the bench reports: the kernel may
/// keep pages it cannot drop.
pub fn drop_from_page_cache(dir: &Path) -> std::io::Result<f64> {
    let (mut pages, mut resident) = (0u64, 0u64);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !is_segment(&name) {
            continue;
        }
        let file = fs::File::open(entry.path())?;
        file.sync_data()?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: a descriptor we own; advice only, no memory of ours is touched.
        let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let len = file.metadata()?.len() as usize;
        if len == 0 {
            continue;
        }
        // SAFETY: a fresh read-only shared mapping of a file we hold open, used only for
        // `mincore` (its bytes are never read) and unmapped below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let n = len.div_ceil(page.max(1));
        let mut vec = vec![0u8; n];
        // SAFETY: `map` spans `len` bytes, and `vec` has one byte per page of it.
        let rc = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
        let mincore_error = std::io::Error::last_os_error();
        // SAFETY: the mapping made above, not used after this.
        unsafe { libc::munmap(map, len) };
        if rc != 0 {
            return Err(mincore_error);
        }
        pages += n as u64;
        resident += vec.iter().filter(|&&b| b & 1 == 1).count() as u64;
    }
    Ok(if pages == 0 {
        0.0
    } else {
        resident as f64 / pages as f64
    })
}

/// Whether two directories hold the same segment files with the same bytes.
pub fn same_segments(a: &Path, b: &Path) -> std::io::Result<bool> {
    let names = |d: &Path| -> std::io::Result<Vec<_>> {
        let mut v: Vec<_> = fs::read_dir(d)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        v.retain(|n| is_segment(n));
        v.sort();
        Ok(v)
    };
    let (na, nb) = (names(a)?, names(b)?);
    if na != nb {
        return Ok(false);
    }
    for n in &na {
        if fs::read(a.join(n))? != fs::read(b.join(n))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Bytes available to this user on the filesystem of `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The machine the numbers come from.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_mib: u64,
    pub kernel: String,
    /// Filesystem type, device and mount point holding the bench directory.
    pub fs_type: String,
    pub fs_device: String,
    pub fs_mount: String,
}

impl Machine {
    pub fn describe(bench_dir: &Path) -> Machine {
        let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let field = |text: &str, key: &str| -> Option<String> {
            text.lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let mem_total_kib: u64 = field(&read("/proc/meminfo"), "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let (fs_type, fs_device, fs_mount) = mount_of(bench_dir);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            mem_total_mib: mem_total_kib / 1024,
            kernel: format!(
                "{} {}",
                read("/proc/sys/kernel/ostype").trim(),
                read("/proc/sys/kernel/osrelease").trim()
            ),
            fs_type,
            fs_device,
            fs_mount,
        }
    }
}

/// (type, device, mount point) of the mount holding `path`: the longest mount point
/// that is a prefix of it.
fn mount_of(path: &Path) -> (String, String, String) {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: Option<(String, String, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [device, mount, fs_type, ..] = f[..] else {
            continue;
        };
        // /proc/mounts writes a space in a path as \040.
        let mount = mount.replace("\\040", " ");
        let longer = best.as_ref().is_none_or(|b| mount.len() >= b.2.len());
        if path.starts_with(&mount) && longer {
            best = Some((fs_type.into(), device.into(), mount));
        }
    }
    best.unwrap_or_else(|| ("unknown".into(), "unknown".into(), "?".into()))
}

/// The peak RSS (VmHWM) of process `pid` in KiB; 0 if it cannot be read (it ended).
pub fn peak_rss_kib_of(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
