//! The C API: a thin layer over [`Wal`].
//!
//! Every exported function that can fail runs behind a panic boundary, checks each
//! pointer and length before use, and maps errors to a `wal_status` with a message for
//! `wal_last_error` (the four that cannot fail fill in defaults or read constants and
//! thread-locals).
//! The header `include/tswal.h` is generated from this file by cbindgen.
#![allow(non_camel_case_types)]

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr, c_char, c_int, c_void};
use std::mem::{offset_of, size_of};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
pub use crate::ffi_options::*;
pub use crate::ffi_tail::*;
use crate::options::Options;
use crate::read::Entry;
use crate::record::{Label, Sample, Series, Tombstone};
use crate::wal::Wal;

/// Result of every call that can fail. `wal_status_str` names each value and
/// `wal_last_error` tells what went wrong.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wal_status {
    /// Success.
    WAL_OK = 0,
    /// NULL where a pointer is required, a bad option, or an entry too large.
    WAL_ERR_INVALID_ARGUMENT = 1,
    /// The operating system refused; the message names the path and the errno text.
    WAL_ERR_IO = 2,
    /// Corrupt data that the read does not repair (an entry whose checksum matches but
    /// whose body does not decode); the message names the segment and offset.
    WAL_ERR_CORRUPTION = 3,
    /// Not allowed now: a write or truncation before the first full read of a WAL that
    /// held data, a call from inside a callback of the same handle, or any write after
    /// the handle failed on an fsync error.
    WAL_ERR_STATE = 4,
    /// The directory is open in another handle or process.
    WAL_ERR_LOCKED = 5,
    /// A read callback returned non-zero.
    WAL_ERR_ABORTED = 6,
    /// An internal bug was caught at the boundary; the handle is unusable (close it).
    WAL_ERR_PANIC = 7,
    /// The directory is not a SegmentWAL (segment-named files, none with a SegmentWAL
    /// header, some holding data: a Prometheus 2.3+ WAL, say), or holds segment names it
    /// cannot use (a directory or other non-regular file, two files with one sequence
    /// number). The message says what was found; nothing was changed.
    WAL_ERR_FORMAT = 8,
}

use wal_status::*;

/// A `wal_status` received from C, where any value may arrive; in the header it is
/// `wal_status`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct wal_status_arg(pub u32);

/// One label: name and value are byte strings (not necessarily UTF-8, not
/// NUL-terminated). A pointer may be NULL only if its length is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_label {
    /// Label name bytes.
    pub name: *const c_char,
    /// Length of `name`.
    pub name_len: usize,
    /// Label value bytes.
    pub value: *const c_char,
    /// Length of `value`.
    pub value_len: usize,
}

/// A series: its reference and its labels (sorted by name when delivered by `wal_read`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_series {
    /// Series reference.
    pub r#ref: u64,
    /// Array of `labels_len` labels; may be NULL if `labels_len` is 0.
    pub labels: *const wal_label,
    /// Number of labels.
    pub labels_len: usize,
}

/// One sample.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_sample {
    /// Series reference.
    pub r#ref: u64,
    /// Timestamp.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// A deleted interval [mint, maxt] of one series.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_tombstone {
    /// Series reference.
    pub r#ref: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

// Samples and tombstones cross the boundary without copying, as the same memory.
const _: () = {
    assert!(size_of::<wal_sample>() == size_of::<Sample>());
    assert!(align_of::<wal_sample>() == align_of::<Sample>());
    assert!(offset_of!(wal_sample, r#ref) == offset_of!(Sample, series_ref));
    assert!(offset_of!(wal_sample, t) == offset_of!(Sample, t));
    assert!(offset_of!(wal_sample, v) == offset_of!(Sample, v));
    assert!(size_of::<wal_tombstone>() == size_of::<Tombstone>());
    assert!(align_of::<wal_tombstone>() == align_of::<Tombstone>());
    assert!(offset_of!(wal_tombstone, r#ref) == offset_of!(Tombstone, series_ref));
    assert!(offset_of!(wal_tombstone, mint) == offset_of!(Tombstone, mint));
    assert!(offset_of!(wal_tombstone, maxt) == offset_of!(Tombstone, maxt));
};

/// Receives one series entry during `wal_read`; return non-zero to stop the read.
/// The array and the label bytes are valid only during the call.
pub type wal_series_cb =
    Option<unsafe extern "C" fn(ctx: *mut c_void, series: *const wal_series, len: usize) -> c_int>;
/// Receives one samples entry during `wal_read`; return non-zero to stop the read.
pub type wal_samples_cb =
    Option<unsafe extern "C" fn(ctx: *mut c_void, samples: *const wal_sample, len: usize) -> c_int>;
/// Receives one deletes entry during `wal_read`; return non-zero to stop the read.
pub type wal_deletes_cb = Option<
    unsafe extern "C" fn(ctx: *mut c_void, tombstones: *const wal_tombstone, len: usize) -> c_int,
>;
/// Asked by `wal_truncate` for each series in the truncated segments: true keeps it.
pub type wal_keep_cb = Option<unsafe extern "C" fn(ctx: *mut c_void, r#ref: u64) -> bool>;

/// An open WAL (opaque).
pub struct wal_t {
    wal: Wal,
    /// Set when a panic was caught in a call on this handle.
    broken: AtomicBool,
}

// ---- the boundary -------------------------------------------------------------------

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(msg: String) {
    let msg = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    // Fails only while the thread is exiting; the message is then lost, nothing else.
    let _ = LAST_ERROR.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            *m = msg;
        }
    });
}

fn status_of(e: &Error) -> wal_status {
    match e {
        Error::InvalidArgument(_) => WAL_ERR_INVALID_ARGUMENT,
        Error::Io { .. } => WAL_ERR_IO,
        Error::Corruption { .. } => WAL_ERR_CORRUPTION,
        Error::State(_) => WAL_ERR_STATE,
        Error::Locked { .. } => WAL_ERR_LOCKED,
        Error::Aborted => WAL_ERR_ABORTED,
        Error::Format { .. } => WAL_ERR_FORMAT,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// The message `wal_last_error` gives for `e`. The status names the kind of error
/// (`wal_status_str`), so the message does not repeat it: a caller printing both reads
/// `invalid argument: dir is NULL`, not `invalid argument: invalid argument: ...`.
fn message_of(e: &Error) -> String {
    match e {
        Error::InvalidArgument(m) => m.clone(),
        Error::Corruption {
            segment,
            offset,
            reason,
        } => format!("segment {} at offset {offset}: {reason}", segment.display()),
        e => e.to_string(),
    }
}

/// Runs `f`, turning its error or panic into a status and a message.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> wal_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => WAL_OK,
        Ok(Err(e)) => {
            set_last_error(message_of(&e));
            status_of(&e)
        }
        Err(payload) => {
            set_last_error(format!(
                "internal error (panic: {}); the handle is unusable, close it",
                panic_message(payload.as_ref())
            ));
            WAL_ERR_PANIC
        }
    }
}

/// The arguments every open call shares: clears `*out` (so it is NULL on failure) and
/// returns `dir` as a path, refusing NULL for either.
///
/// # Safety
/// `dir` must be NULL or NUL-terminated, and outlive the returned path; `out` NULL or
/// writable.
pub(crate) unsafe fn open_args<'a, T>(
    dir: *const c_char,
    out: *mut *mut T,
) -> Result<&'a Path, Error> {
    if out.is_null() {
        return Err(Error::invalid("out is NULL"));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { out.write(ptr::null_mut()) };
    if dir.is_null() {
        return Err(Error::invalid("dir is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let dir = unsafe { CStr::from_ptr(dir) };
    Ok(Path::new(OsStr::from_bytes(dir.to_bytes())))
}

/// `boundary` for calls on a handle: checks it, and marks it broken if `f` panics.
///
/// # Safety
/// `w` must be NULL or a handle from `wal_open` that has not been closed.
unsafe fn with_handle(w: *const wal_t, f: impl FnOnce(&Wal) -> Result<(), Error>) -> wal_status {
    if w.is_null() {
        set_last_error("the wal_t handle is NULL".into());
        return WAL_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: non-NULL, and by the caller's contract a live handle from `wal_open`; the
    // handle is only shared (`&`), and `wal_t` is Sync.
    let h = unsafe { &*w };
    if h.broken.load(Ordering::SeqCst) {
        set_last_error("the handle is unusable after an internal error; close it".into());
        return WAL_ERR_STATE;
    }
    let status = boundary(|| f(&h.wal));
    if status == WAL_ERR_PANIC {
        h.broken.store(true, Ordering::SeqCst);
    }
    status
}

/// A slice from a C array, refusing NULL with a non-zero length. `what` names the
/// argument in the error message; it is only called on error.
///
/// # Safety
/// If `ptr` is non-NULL it must point to `len` readable, initialised `T`s that stay valid
/// and unmodified for `'a`.
unsafe fn slice_arg<'a, T, W: std::fmt::Display>(
    ptr: *const T,
    len: usize,
    what: impl FnOnce() -> W,
) -> Result<&'a [T], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    let problem = if ptr.is_null() {
        format!("is NULL but its length is {len}")
    } else if !ptr.is_aligned() {
        "is not aligned for its type".to_string()
    } else if len > isize::MAX as usize / size_of::<T>().max(1) {
        format!("length {len} is impossibly large")
    } else {
        // SAFETY: non-NULL, aligned, total size within isize::MAX, and readable for
        // `len` elements by the caller's contract.
        return Ok(unsafe { std::slice::from_raw_parts(ptr, len) });
    };
    Err(Error::invalid(format!("{} {problem}", what())))
}

/// Byte strings of a label array, as Rust labels.
///
/// # Safety
/// Every pointer in `labels` must satisfy `slice_arg`'s contract for its length.
unsafe fn labels_arg<'a>(
    labels: &'a [wal_label],
    out: &mut Vec<Label<'a>>,
    series_index: usize,
) -> Result<(), Error> {
    for (j, l) in labels.iter().enumerate() {
        let what = |field| move || format!("series[{series_index}].labels[{j}].{field}");
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { slice_arg(l.name.cast::<u8>(), l.name_len, what("name"))? };
        // SAFETY: as above.
        let value = unsafe { slice_arg(l.value.cast::<u8>(), l.value_len, what("value"))? };
        out.push(Label { name, value });
    }
    Ok(())
}

/// The C callbacks of a read, and the arrays a series entry is handed to them in.
pub(crate) struct Callbacks {
    on_series: wal_series_cb,
    on_samples: wal_samples_cb,
    on_deletes: wal_deletes_cb,
    ctx: *mut c_void,
    labels: Vec<wal_label>,
    series: Vec<wal_series>,
}

impl Callbacks {
    pub(crate) fn new(
        on_series: wal_series_cb,
        on_samples: wal_samples_cb,
        on_deletes: wal_deletes_cb,
        ctx: *mut c_void,
    ) -> Self {
        Callbacks {
            on_series,
            on_samples,
            on_deletes,
            ctx,
            labels: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Hands one entry to its callback (if any); `Break` if the callback returned
    /// non-zero.
    ///
    /// # Safety
    /// The callbacks must be safe to call with `ctx`.
    pub(crate) unsafe fn deliver(&mut self, entry: Entry<'_>) -> ControlFlow<()> {
        let ctx = self.ctx;
        let rc = match entry {
            Entry::Series(batch) => {
                let Some(cb) = self.on_series else {
                    return ControlFlow::Continue(());
                };
                self.labels.clear();
                self.series.clear();
                for s in batch {
                    self.labels.extend(s.labels.iter().map(|l| wal_label {
                        name: l.name.as_ptr().cast(),
                        name_len: l.name.len(),
                        value: l.value.as_ptr().cast(),
                        value_len: l.value.len(),
                    }));
                }
                let mut start = 0;
                for s in batch {
                    self.series.push(wal_series {
                        r#ref: s.series_ref,
                        labels: self.labels[start..].as_ptr(),
                        labels_len: s.labels.len(),
                    });
                    start += s.labels.len();
                }
                // SAFETY: the callback's contract is the caller's; the arrays live until
                // after it returns.
                unsafe { cb(ctx, self.series.as_ptr(), self.series.len()) }
            }
            Entry::Samples(batch) => match self.on_samples {
                // SAFETY: `Sample` and `wal_sample` have the same layout (checked at
                // compile time); the array lives until after the call.
                Some(cb) => unsafe { cb(ctx, batch.as_ptr().cast(), batch.len()) },
                None => 0,
            },
            Entry::Deletes(batch) => match self.on_deletes {
                // SAFETY: as for samples, with `Tombstone` and `wal_tombstone`.
                Some(cb) => unsafe { cb(ctx, batch.as_ptr().cast(), batch.len()) },
                None => 0,
            },
        };
        if rc == 0 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
}

// ---- exported functions -------------------------------------------------------------

/// Opens the WAL in directory `dir` (created if missing) and stores the handle in
/// `*out`. `opts` may be NULL for the defaults. A directory that is not a SegmentWAL (a
/// Prometheus 2.3+ WAL, say) or holds unusable segment names gets `WAL_ERR_FORMAT`,
/// before anything in it is changed. Segments with an invalid header are handled by
/// `opts->recovery`: taken out of the log together with every later segment (TRUNCATE),
/// rewritten from their first valid entry (SALVAGE), or reported as
/// `WAL_ERR_CORRUPTION` (FAIL); what is taken out goes to quarantine (see
/// `wal_options.quarantine`). If segments remain, `wal_read` must complete once before
/// writes and truncation are accepted. Takes an exclusive lock on the directory: a
/// second open, in this or another process, gets `WAL_ERR_LOCKED`. With
/// `opts->read_only`, nothing is created, locked or changed (see there). On failure
/// `*out` is set to NULL.
///
/// # Safety
/// `dir` must be NULL or a NUL-terminated string; `opts` NULL or a valid `wal_options`;
/// `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_open(
    dir: *const c_char,
    opts: *const wal_options,
    out: *mut *mut wal_t,
) -> wal_status {
    boundary(|| {
        // SAFETY: `dir` and `out` as `open_args` needs them, by the caller's contract.
        let dir = unsafe { open_args(dir, out) }?;
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: non-NULL and filled by `wal_options_init` by the caller's contract.
            unsafe { read_options(opts) }?
        };
        let wal = Wal::open(dir, options)?;
        let handle = Box::new(wal_t {
            wal,
            broken: AtomicBool::new(false),
        });
        // SAFETY: checked non-NULL and writable above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Delivers every entry in log order, one callback call per entry, on the calling
/// thread. Arrays and the label bytes they point to are valid only during the call.
/// Labels arrive sorted by name. A NULL callback skips that type (entries are still
/// checked). A non-zero return stops the read with `WAL_ERR_ABORTED`. Damage is handled
/// by the handle's recovery mode: repaired, and the read returns `WAL_OK` (TRUNCATE:
/// the damaged segment is cut before the bad entry and later segments are taken out;
/// SALVAGE: only the damaged bytes are dropped; what is taken out goes to quarantine),
/// or reported as `WAL_ERR_CORRUPTION` with segment and offset, changing nothing (FAIL).
/// On a read-only handle the read lists the directory afresh, delivers what the mode
/// would keep, counts the damage in `wal_stats` and changes nothing; an entry still
/// being written at the end of the newest segment ends the read there, as no damage. Callbacks must not call into the same
/// handle (`WAL_ERR_STATE`); writers on other threads wait until the read returns, so a
/// callback must not wait for another thread that logs to this handle (a deadlock).
/// Callbacks must return normally: a C++ exception or a `longjmp` out of one leaves the
/// handle's locks held (and an exception through Rust frames aborts the process).
///
/// # Safety
/// `w` must be NULL or a live handle; the callbacks must be safe to call with `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_read(
    w: *mut wal_t,
    on_series: wal_series_cb,
    on_samples: wal_samples_cb,
    on_deletes: wal_deletes_cb,
    ctx: *mut c_void,
) -> wal_status {
    let mut sink = Callbacks::new(on_series, on_samples, on_deletes, ctx);
    // SAFETY: `w` is NULL or live by the caller's contract; the callbacks' contract is
    // the caller's.
    unsafe { with_handle(w, |wal| wal.read(|e| sink.deliver(e)).map(|_| ())) }
}

/// Logs `len` series as one entry. `len == 0` writes no entry and succeeds (`series` may
/// then be NULL); as in the reference implementation it still counts as a write for the
/// segment rules: the first write after open, even an empty one, starts a new segment
/// (a header only), one that finds the head segment full cuts, and before the first
/// read of a WAL that held data it is refused like any write. Safe to call from many
/// threads at once. Returns once the entry is in
/// the log's buffer; it is durable after `wal_sync`, a background flush or `wal_close`.
///
/// # Safety
/// `w` must be NULL or a live handle; `series` must point to `len` valid `wal_series`
/// whose label arrays and bytes are readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_log_series(
    w: *mut wal_t,
    series: *const wal_series,
    len: usize,
) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe {
        with_handle(w, |wal| {
            // SAFETY: the caller guarantees `series` holds `len` elements if non-NULL.
            let input = slice_arg(series, len, || "series")?;
            let mut labels: Vec<Label<'_>> = Vec::new();
            for (i, s) in input.iter().enumerate() {
                let what = || format!("series[{i}].labels");
                // SAFETY: the caller guarantees the label arrays and bytes.
                labels_arg(slice_arg(s.labels, s.labels_len, what)?, &mut labels, i)?;
            }
            let mut start = 0;
            let converted: Vec<Series<'_>> = input
                .iter()
                .map(|s| {
                    let labels = &labels[start..start + s.labels_len];
                    start += s.labels_len;
                    Series {
                        series_ref: s.r#ref,
                        labels,
                    }
                })
                .collect();
            wal.log_series(&converted)
        })
    }
}

/// Logs `len` samples as one entry. `len == 0` writes no entry and succeeds (`samples`
/// may then be NULL; see `wal_log_series`). Thread-safe; durable as `wal_log_series`.
///
/// # Safety
/// `w` must be NULL or a live handle; `samples` must point to `len` readable samples.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_log_samples(
    w: *mut wal_t,
    samples: *const wal_sample,
    len: usize,
) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe {
        with_handle(w, |wal| {
            // SAFETY: `wal_sample` and `Sample` have the same layout (checked at compile
            // time), and the caller guarantees `len` readable elements.
            let samples = slice_arg(samples.cast::<Sample>(), len, || "samples")?;
            wal.log_samples(samples)
        })
    }
}

/// Logs `len` tombstones as one entry. `len == 0` writes no entry and succeeds
/// (`tombstones` may then be NULL; see `wal_log_series`). Thread-safe; durable as
/// `wal_log_series`.
///
/// # Safety
/// `w` must be NULL or a live handle; `tombstones` must point to `len` readable elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_log_deletes(
    w: *mut wal_t,
    tombstones: *const wal_tombstone,
    len: usize,
) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe {
        with_handle(w, |wal| {
            // SAFETY: same layout as `Tombstone` (checked at compile time); the caller
            // guarantees `len` readable elements.
            let tombstones = slice_arg(tombstones.cast::<Tombstone>(), len, || "tombstones")?;
            wal.log_deletes(tombstones)
        })
    }
}

/// Drops the oldest segments (never the newest) whose samples and tombstones all lie
/// before `mint`; their series for which `keep(ctx, ref)` returns true are rewritten
/// into one segment. `keep == NULL` keeps every series. Crash-safe: a crash at any point
/// leaves either the old or the new segments, never a mix.
///
/// # Safety
/// `w` must be NULL or a live handle; `keep` must be safe to call with `ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_truncate(
    w: *mut wal_t,
    mint: i64,
    keep: wal_keep_cb,
    ctx: *mut c_void,
) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe {
        with_handle(w, |wal| {
            wal.truncate(mint, |r| match keep {
                // SAFETY: the callback's contract is the caller's.
                Some(f) => f(ctx, r),
                None => true,
            })
        })
    }
}

/// Writes buffered entries and fdatasyncs them (with every segment finished before).
/// When it returns `WAL_OK`, everything logged before the call is durable. It returns
/// the first error not yet reported (usually `WAL_ERR_IO`), including one met by the
/// background writer or flush; after that, `WAL_ERR_STATE` (the handle has failed).
///
/// # Safety
/// `w` must be NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_sync(w: *mut wal_t) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe { with_handle(w, Wal::sync) }
}

/// Finishes background work, syncs, releases the directory lock and frees the handle,
/// also when it returns an error. `wal_close(NULL)` is a no-op returning `WAL_OK`. No
/// other call may run on the handle concurrently. Called from inside a callback of the
/// same handle it returns `WAL_ERR_STATE` and frees nothing.
///
/// # Safety
/// `w` must be NULL or a live handle, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_close(w: *mut wal_t) -> wal_status {
    if w.is_null() {
        return WAL_OK;
    }
    boundary(|| {
        // SAFETY: non-NULL and live by the caller's contract.
        if unsafe { &*w }.wal.in_own_callback() {
            return Err(Error::state(
                "wal_close called from inside a callback of the same handle; the handle was \
                 not closed",
            ));
        }
        // SAFETY: live, allocated by `wal_open` with `Box::into_raw`, and not used again
        // by the caller's contract; ownership returns to Rust here exactly once.
        let handle = unsafe { Box::from_raw(w) };
        handle.wal.close()
    })
}

/// Counters of a handle since it was opened, filled by `wal_stats`. (Named `_t` because
/// C does not allow a type and the function `wal_stats` to share a name.)
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wal_stats_t {
    /// Segment files in the log now.
    pub segments: u64,
    /// Entry bytes logged (header, body and CRC).
    pub bytes_written: u64,
    /// Entries logged.
    pub entries_written: u64,
    /// Samples logged.
    pub samples_written: u64,
    /// fsync and fdatasync calls made since open, of segments and of the directory (two
    /// when a segment is created: its header, then its name); not those of `wal_open`
    /// itself.
    pub fsyncs: u64,
    /// Time spent in them, in nanoseconds.
    pub fsync_time_ns: u64,
    /// Damaged regions found by reads and at open (invalid segment headers), whether
    /// repaired, reported (`WAL_RECOVERY_FAIL`, read-only handles) or read past (holes,
    /// with `WAL_RECOVERY_TRUNCATE`).
    pub corruptions: u64,
    /// Entries dropped by repairs: each damaged region counts as one, plus, with
    /// `WAL_RECOVERY_TRUNCATE`, every valid entry after it that was cut off or taken out.
    pub dropped_entries: u64,
    /// Bytes removed from the log by repairs.
    pub dropped_bytes: u64,
    /// The most bytes of logged entries that were waiting to be written at once: the
    /// memory the write pipeline held (within 8 MiB plus one buffer of 1 MiB, or one
    /// entry if larger; a lagging disk makes logging calls wait instead).
    pub write_backlog_peak: u64,
    /// Segment files repairs moved into quarantine (taken out whole, or the originals of
    /// segments rewritten without their damage).
    pub quarantined_segments: u64,
    /// Bytes repairs moved or copied into quarantine.
    pub quarantined_bytes: u64,
}

/// Fills `*out` with the handle's counters. Not allowed from inside a callback of the
/// same handle (`WAL_ERR_STATE`).
///
/// # Safety
/// `w` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_stats(w: *const wal_t, out: *mut wal_stats_t) -> wal_status {
    // SAFETY: `w` is NULL or live by the caller's contract.
    unsafe {
        with_handle(w, |wal| {
            if out.is_null() {
                return Err(Error::invalid("out is NULL"));
            }
            let st = wal.stats()?;
            let stats = wal_stats_t {
                segments: st.segments,
                bytes_written: st.bytes_written,
                entries_written: st.entries_written,
                samples_written: st.samples_written,
                fsyncs: st.fsyncs,
                fsync_time_ns: u64::try_from(st.fsync_time.as_nanos()).unwrap_or(u64::MAX),
                corruptions: st.corruptions,
                dropped_entries: st.dropped_entries,
                dropped_bytes: st.dropped_bytes,
                write_backlog_peak: st.write_backlog_peak,
                quarantined_segments: st.quarantined_segments,
                quarantined_bytes: st.quarantined_bytes,
            };
            // SAFETY: non-NULL and writable by the caller's contract.
            out.write(stats);
            Ok(())
        })
    }
}

/// The message of the last failed call on this thread (never NULL; "" if none). Valid
/// until the next call into the library on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn wal_last_error() -> *const c_char {
    // The pointer stays valid after the borrow ends: the CString is only replaced by the
    // next failing call on this thread. During thread exit there is no message.
    LAST_ERROR
        .try_with(|m| m.try_borrow().map(|m| m.as_ptr()).ok())
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

/// A static name for a status value ("unknown status" for values outside the enum).
#[unsafe(no_mangle)]
pub extern "C" fn wal_status_str(status: wal_status_arg) -> *const c_char {
    let s: &'static CStr = match status.0 {
        0 => c"ok",
        1 => c"invalid argument",
        2 => c"I/O error",
        3 => c"corrupt data",
        4 => c"call not allowed in the current state",
        5 => c"directory locked by another handle",
        6 => c"read aborted by a callback",
        7 => c"internal error (panic caught)",
        8 => c"not a usable SegmentWAL directory",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The library version, e.g. "0.1.0".
#[unsafe(no_mangle)]
pub extern "C" fn wal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_does_not_repeat_its_status() {
        assert_eq!(
            boundary(|| Err(Error::invalid("dir is NULL"))),
            WAL_ERR_INVALID_ARGUMENT
        );
        // SAFETY: wal_last_error returns a valid NUL-terminated string.
        assert_eq!(unsafe { CStr::from_ptr(wal_last_error()) }, c"dir is NULL");
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = boundary(|| panic!("boom"));
        assert_eq!(status, WAL_ERR_PANIC);
        // SAFETY: wal_last_error returns a valid NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(wal_last_error()) }
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains("panic: boom"), "{msg}");
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "opening a WAL needs flock and fallocate, which Miri lacks"
    )]
    fn a_panic_in_a_call_on_a_handle_leaves_it_unusable_but_closable() {
        let tmp = tempfile::tempdir().unwrap();
        let wal = Wal::open(tmp.path(), Options::default()).unwrap();
        let h = Box::into_raw(Box::new(wal_t {
            wal,
            broken: AtomicBool::new(false),
        }));
        // SAFETY: `h` is a live handle until wal_close below.
        unsafe {
            assert_eq!(with_handle(h, |_| panic!("bug")), WAL_ERR_PANIC);
            assert_eq!(wal_sync(h), WAL_ERR_STATE);
            let msg = CStr::from_ptr(wal_last_error())
                .to_string_lossy()
                .into_owned();
            assert!(msg.contains("unusable"), "{msg}");
            assert_eq!(wal_close(h), WAL_OK);
        }
    }

    #[test]
    fn slice_arg_takes_null_only_with_length_zero() {
        // SAFETY: NULL with length 0 never dereferences; the arrays are live and sized.
        unsafe {
            assert_eq!(
                slice_arg::<u64, _>(ptr::null(), 0, || "x").unwrap(),
                &[] as &[u64]
            );
            let e = slice_arg::<u64, _>(ptr::null(), 3, || "samples").unwrap_err();
            assert_eq!(
                e.to_string(),
                "invalid argument: samples is NULL but its length is 3"
            );
            let data = [1u64, 2, 3];
            assert_eq!(slice_arg(data.as_ptr(), 3, || "x").unwrap(), &data);
            let huge = slice_arg(data.as_ptr(), usize::MAX, || "x").unwrap_err();
            assert!(huge.to_string().contains("impossibly large"), "{huge}");
        }
    }

    #[test]
    fn label_arrays_become_byte_slices() {
        let (name, value) = (b"job", b"node");
        let labels = [
            wal_label {
                name: name.as_ptr().cast(),
                name_len: name.len(),
                value: value.as_ptr().cast(),
                value_len: value.len(),
            },
            wal_label {
                name: ptr::null(),
                name_len: 0,
                value: ptr::null(),
                value_len: 0,
            },
        ];
        let mut out = Vec::new();
        // SAFETY: every pointer is live for its length (or NULL with length 0).
        unsafe { labels_arg(&labels, &mut out, 0).unwrap() };
        assert_eq!(out, [Label::new("job", "node"), Label::new("", "")]);
        let bad = [wal_label {
            name: ptr::null(),
            name_len: 1,
            value: ptr::null(),
            value_len: 0,
        }];
        // SAFETY: the NULL pointer with a length is refused before use.
        let e = unsafe { labels_arg(&bad, &mut out, 4) }.unwrap_err();
        assert!(e.to_string().contains("series[4].labels[0].name"), "{e}");
    }

    #[test]
    fn samples_and_tombstones_cross_as_the_same_memory() {
        let c = [
            wal_sample {
                r#ref: 7,
                t: -3,
                v: 1.5,
            },
            wal_sample {
                r#ref: u64::MAX,
                t: i64::MIN,
                v: f64::NAN,
            },
        ];
        // SAFETY: the same cast wal_log_samples makes, over a live array.
        let rust = unsafe { slice_arg(c.as_ptr().cast::<Sample>(), c.len(), || "s") }.unwrap();
        assert_eq!((rust[0].series_ref, rust[0].t, rust[0].v), (7, -3, 1.5));
        assert_eq!((rust[1].series_ref, rust[1].t), (u64::MAX, i64::MIN));
        assert_eq!(rust[1].v.to_bits(), f64::NAN.to_bits());
        let d = [wal_tombstone {
            r#ref: 1,
            mint: 2,
            maxt: 3,
        }];
        // SAFETY: as above, for tombstones.
        let rust = unsafe { slice_arg(d.as_ptr().cast::<Tombstone>(), 1, || "d") }.unwrap();
        assert_eq!(
            rust[0],
            Tombstone {
                series_ref: 1,
                mint: 2,
                maxt: 3
            }
        );
    }

    #[test]
    fn the_last_error_is_per_thread() {
        set_last_error("here".into());
        let other = std::thread::spawn(|| {
            // SAFETY: wal_last_error returns a valid NUL-terminated string.
            unsafe { CStr::from_ptr(wal_last_error()) }.to_owned()
        })
        .join()
        .unwrap();
        assert_eq!(other.as_c_str(), c"");
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(wal_last_error()) }, c"here");
        // SAFETY: wal_version returns a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(wal_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_status_has_a_distinct_name() {
        let names: Vec<_> = (0..=9)
            // SAFETY: wal_status_str returns static NUL-terminated strings.
            .map(|s| unsafe { CStr::from_ptr(wal_status_str(wal_status_arg(s))) })
            .collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(names[9], c"unknown status");
    }
}
