//! The C API of tails (see [`Tail`]): `wal_tail_open`, `wal_tail_next`,
//! `wal_tail_position`, `wal_tail_stats`, `wal_tail_wake`, `wal_tail_close`.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::Error;
use crate::ffi::{
    Callbacks, boundary, open_args, wal_deletes_cb, wal_samples_cb, wal_series_cb, wal_status,
};
use crate::notify::TailWaker;
use crate::options::Recovery;
use crate::read::Position;
use crate::tail::Tail;

/// Where an entry starts: a segment's sequence number (`3` for `000003`) and the offset
/// of the entry in it. `wal_tail_position` gives the position just after the last entry
/// a tail delivered; a tail opened there continues exactly.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct wal_position {
    /// The segment's sequence number.
    pub segment: u64,
    /// The offset in the segment file.
    pub offset: u64,
}

/// What a tail delivered and could not deliver since it was opened, filled by
/// `wal_tail_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wal_tail_stats_t {
    /// Entries delivered.
    pub entries: u64,
    /// Times the tail found segments gone (a truncation, a repair) that it had not read
    /// to their end: a gap in what it delivered.
    pub gaps: u64,
    /// Segments in those gaps.
    pub gap_segments: u64,
    /// Their bytes the tail had not read, as far as it knew their sizes.
    pub gap_bytes: u64,
}

/// A live tail (opaque): follows a WAL directory as it is written.
pub struct wal_tail_t {
    /// One call at a time; a second (another thread, or a callback of this tail) is
    /// refused rather than waiting.
    tail: Mutex<Tail>,
    /// Outside the lock: it reaches a `wal_tail_next` in progress.
    waker: TailWaker,
}

/// Opens a tail on the WAL in `dir`, from `*from` (a position `wal_tail_position` gave),
/// or from the start of the log if `from` is NULL, and stores it in `*out` (NULL on
/// failure). A tail only reads: it never creates, locks or changes anything, works while
/// a writer (in this process or another) has the WAL open, and the writer never waits
/// for it. A position that does not start an entry is refused (`WAL_ERR_INVALID_ARGUMENT`,
/// when the tail first reads that segment); a directory that is not a SegmentWAL is
/// `WAL_ERR_FORMAT`.
///
/// # Safety
/// `dir` must be NULL or NUL-terminated; `from` NULL or a valid `wal_position`; `out`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_open(
    dir: *const c_char,
    from: *const wal_position,
    out: *mut *mut wal_tail_t,
) -> wal_status {
    boundary(|| {
        // SAFETY: `dir` and `out` as `open_args` needs them, by the caller's contract.
        let dir = unsafe { open_args(dir, out) }?;
        // SAFETY: NULL or a valid wal_position by the caller's contract.
        let from = unsafe { from.as_ref() }.map(|p| Position {
            segment: p.segment,
            offset: p.offset,
        });
        let tail = Tail::open(dir, from, Recovery::Truncate)?;
        let handle = Box::new(wal_tail_t {
            waker: tail.waker(),
            tail: Mutex::new(tail),
        });
        // SAFETY: checked non-NULL and writable above.
        unsafe { out.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Runs `f` on the tail behind `t`, refusing NULL and a tail busy in another call.
///
/// # Safety
/// `t` must be NULL or a live tail from `wal_tail_open`.
unsafe fn with_tail(
    t: *const wal_tail_t,
    f: impl FnOnce(&mut Tail) -> Result<(), Error>,
) -> wal_status {
    boundary(|| {
        // SAFETY: NULL or live by the caller's contract; only shared here.
        let Some(t) = (unsafe { t.as_ref() }) else {
            return Err(Error::invalid("the wal_tail_t handle is NULL"));
        };
        let Some(mut tail) = t.tail.try_lock() else {
            return Err(Error::state(
                "the tail is in another call (on another thread, or this is one of its own \
                 callbacks): a tail serves one call at a time",
            ));
        };
        f(&mut tail)
    })
}

/// Stores in `*out` what `f` reads from the tail behind `t`, refusing a NULL `out`.
///
/// # Safety
/// `t` must be NULL or a live tail from `wal_tail_open`; `out` NULL or writable.
unsafe fn fill<T>(t: *const wal_tail_t, out: *mut T, f: impl FnOnce(&Tail) -> T) -> wal_status {
    // SAFETY: `t` is NULL or live by the caller's contract.
    unsafe {
        with_tail(t, |tail| {
            if out.is_null() {
                return Err(Error::invalid("out is NULL"));
            }
            // SAFETY: non-NULL and writable by the caller's contract.
            out.write(f(tail));
            Ok(())
        })
    }
}

/// Delivers the entries available now, in log order, through the callbacks (as
/// `wal_read` does: one call per entry, arrays valid only during the call, labels sorted
/// by name, a NULL callback skips that type); when there are none, waits up to
/// `timeout_ms` for more, woken as soon as the writer hands the file more (inotify on
/// Linux). `*entries` is how many were delivered: 0 after a timeout, which returns
/// `WAL_OK`. An entry is there once the writer has handed it to the file: at a full
/// buffer (1 MiB), `wal_sync`, its background flush (`flush_interval_ms` bounds the
/// delay) or `wal_close`.
///
/// A callback returning non-zero stops with `WAL_ERR_ABORTED`; the entry it stopped on is
/// delivered again by the next call. Damage below the newest segment stops the tail: the
/// call returns what came before it, and the next one `WAL_ERR_CORRUPTION` (segment and
/// offset) until the WAL is repaired. Segments a truncation removed before the tail read
/// them are skipped and counted (`wal_tail_stats`), never silently.
///
/// # Safety
/// `t` must be NULL or a live tail; the callbacks must be safe to call with `ctx`;
/// `entries` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_next(
    t: *mut wal_tail_t,
    on_series: wal_series_cb,
    on_samples: wal_samples_cb,
    on_deletes: wal_deletes_cb,
    ctx: *mut c_void,
    timeout_ms: u32,
    entries: *mut usize,
) -> wal_status {
    if !entries.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { entries.write(0) };
    }
    let mut sink = Callbacks::new(on_series, on_samples, on_deletes, ctx);
    // SAFETY: `t` is NULL or live by the caller's contract; the callbacks' contract is
    // the caller's.
    unsafe {
        with_tail(t, |tail| {
            let timeout = Duration::from_millis(timeout_ms.into());
            let n = tail.next(timeout, |_, e| sink.deliver(e))?;
            if !entries.is_null() {
                // SAFETY: non-NULL and writable by the caller's contract.
                entries.write(usize::try_from(n).unwrap_or(usize::MAX));
            }
            Ok(())
        })
    }
}

/// Stores in `*out` the position just after the last entry the tail delivered (where it
/// reads next): a tail opened there continues exactly, never repeating or skipping an
/// entry.
///
/// # Safety
/// `t` must be NULL or a live tail; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_position(
    t: *const wal_tail_t,
    out: *mut wal_position,
) -> wal_status {
    // SAFETY: `t` and `out` as `fill` needs them, by the caller's contract.
    unsafe {
        fill(t, out, |tail| {
            let p = tail.position();
            wal_position {
                segment: p.segment,
                offset: p.offset,
            }
        })
    }
}

/// Fills `*out` with what the tail delivered, and the gaps it found, since it was opened.
///
/// # Safety
/// `t` must be NULL or a live tail; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_stats(
    t: *const wal_tail_t,
    out: *mut wal_tail_stats_t,
) -> wal_status {
    // SAFETY: `t` and `out` as `fill` needs them, by the caller's contract.
    unsafe {
        fill(t, out, |tail| {
            let g = tail.gaps();
            wal_tail_stats_t {
                entries: tail.entries(),
                gaps: g.count,
                gap_segments: g.segments,
                gap_bytes: g.bytes,
            }
        })
    }
}

/// Makes the `wal_tail_next` in progress on `t` (on another thread, or from one of its
/// callbacks) return at once, as after its timeout; if none is in progress, the next
/// call that would wait returns at once instead. Wakes are not counted: several before
/// a wait end one wait. This is how another thread stops a tail that waits with a long
/// timeout: set a flag the tail's loop checks, then wake it.
///
/// # Safety
/// `t` must be NULL or a live tail. Safe from any thread while another is in
/// `wal_tail_next`, `wal_tail_position` or `wal_tail_stats`; not concurrently with
/// `wal_tail_close`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_wake(t: *const wal_tail_t) -> wal_status {
    boundary(|| {
        // SAFETY: NULL or live by the caller's contract; the waker is shared, not locked.
        let Some(t) = (unsafe { t.as_ref() }) else {
            return Err(Error::invalid("the wal_tail_t handle is NULL"));
        };
        t.waker.wake();
        Ok(())
    })
}

/// Closes the tail and frees it. `wal_tail_close(NULL)` is a no-op returning `WAL_OK`.
/// Not allowed from inside one of its callbacks (`WAL_ERR_STATE`, nothing freed).
///
/// # Safety
/// `t` must be NULL or a live tail, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_tail_close(t: *mut wal_tail_t) -> wal_status {
    if t.is_null() {
        return wal_status::WAL_OK;
    }
    boundary(|| {
        // SAFETY: non-NULL and live by the caller's contract.
        if unsafe { &*t }.tail.is_locked() {
            return Err(Error::state(
                "wal_tail_close called while the tail is in another call (from one of its \
                 callbacks, or another thread); the tail was not closed",
            ));
        }
        // SAFETY: live, allocated by `wal_tail_open` with `Box::into_raw`, and not used
        // again by the caller's contract; ownership returns to Rust here exactly once.
        drop(unsafe { Box::from_raw(t) });
        Ok(())
    })
}
