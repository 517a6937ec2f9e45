//! The options of `wal_open` as C sees them: `wal_options`, whose `size` field lets fields
//! be appended in later versions without breaking compiled callers, its defaults, and
//! their translation into [`Options`].
#![allow(non_camel_case_types)]

use std::mem::{offset_of, size_of};
use std::ptr;
use std::time::Duration;

use crate::error::Error;
use crate::options::{DEFAULT_SEGMENT_SIZE, Options, Recovery, SyncMode, SyncSpin};

/// When `wal_log_*` returns, relative to durability.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wal_sync_mode {
    /// Default: a call returns once its entry is in the log's buffer; entries are durable
    /// after `wal_sync`, a background flush, or `wal_close`.
    WAL_SYNC_NONE = 0,
    /// A call returns only after its entry is fdatasynced. Concurrent callers share
    /// fdatasyncs (group commit), so many threads logging at once stay fast.
    WAL_SYNC_ALWAYS = 1,
}

/// A `wal_sync_mode` received from C, where any value may arrive; in the header it is
/// `wal_sync_mode`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct wal_sync_mode_arg(pub u32);

/// What `wal_read` (and `wal_open`, for invalid segment headers) does with damaged data.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wal_recovery_mode {
    /// Default, the reference's repair: keep every entry before the first damaged one,
    /// cut its segment there and take every later segment out of the log (into
    /// quarantine, see `wal_options.quarantine`). Zeros followed by data end their
    /// segment, as in the reference.
    WAL_RECOVERY_TRUNCATE = 0,
    /// Keep every entry whose CRC verifies: skip damaged bytes by scanning for the next
    /// valid entry, keep later segments, rewrite each damaged segment without its damage
    /// (the original goes to quarantine).
    WAL_RECOVERY_SALVAGE = 1,
    /// Report the first damage as `WAL_ERR_CORRUPTION` with segment and offset, and
    /// change nothing.
    WAL_RECOVERY_FAIL = 2,
}

/// A `wal_recovery_mode` received from C; in the header it is `wal_recovery_mode`.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct wal_recovery_mode_arg(pub u32);

/// Options of `wal_open`. Always start from `wal_options_init` and set fields by name:
/// fields may be added at the end in later versions, and `size` tells the library which
/// version of the struct the caller was compiled with.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_options {
    /// Bytes per segment file; between 4096 and 2^40. Default 256 MiB.
    pub segment_size: u64,
    /// Period of the background flush + fdatasync in milliseconds; 0 = none. Default 0.
    pub flush_interval_ms: u64,
    /// `sizeof(wal_options)` as the caller's header declares it, set by
    /// `wal_options_init`; do not change it. A library newer than the header gives the
    /// fields the caller's struct lacks their defaults; one older than the header
    /// refuses the options (`WAL_ERR_INVALID_ARGUMENT`, saying so).
    pub size: u32,
    /// When `wal_log_*` returns: `WAL_SYNC_NONE` (default) or `WAL_SYNC_ALWAYS`.
    pub sync: wal_sync_mode_arg,
    /// What reads do with damage: `WAL_RECOVERY_TRUNCATE` (default),
    /// `WAL_RECOVERY_SALVAGE` or `WAL_RECOVERY_FAIL`.
    pub recovery: wal_recovery_mode_arg,
    /// How a caller waiting for another caller's fdatasync (group commit, in
    /// `WAL_SYNC_ALWAYS` or `wal_sync`) waits for it to end. `WAL_SYNC_SPIN_AUTO`
    /// (default): it yields the CPU for up to twice the recent average fdatasync time (at
    /// least 50 µs), then sleeps; it sleeps at once while fdatasyncs take more than 1 ms
    /// on average. 0: it sleeps at once. 1 to `WAL_MAX_SYNC_SPIN_US` (10000): it yields
    /// for at most that many microseconds. At most twice as many waiters as CPUs yield
    /// at once. Yielding lets the next group form as soon as the fdatasync ends (on the
    /// benchmark's 2-CPU VM, four threads' durable throughput rose by about a third)
    /// but keeps the waiting threads runnable, ceding the CPU to any other thread; under
    /// a tight CPU quota, use 0.
    pub sync_spin_us: u32,
    /// 1: open for reading only. The directory is not created and not locked (it works
    /// while a writer, in this or another process, holds it), and nothing in it is
    /// created, written, repaired, moved or deleted: `wal_read` delivers what the
    /// recovery mode would keep and counts the damage in `wal_stats`; `wal_log_*`,
    /// `wal_truncate` and `wal_sync` return `WAL_ERR_STATE`. 0 (default): read-write.
    pub read_only: u32,
    /// 1 (default): what a repair takes out of the log (segments after damage, a
    /// damaged segment's cut-off tail, the original of a rewritten segment) is moved
    /// into the folder `quarantine/` of the WAL directory, one sub-folder per repair
    /// with a `note.txt` saying when, where, why and what. 0: it is deleted, as the
    /// reference does.
    pub quarantine: u32,
}

/// `wal_options.sync_spin_us`, the default: yield for up to twice the recent average
/// fdatasync time (see `wal_options.sync_spin_us`).
pub const WAL_SYNC_SPIN_AUTO: u32 = u32::MAX;
/// The longest fixed `wal_options.sync_spin_us`, in microseconds.
pub const WAL_MAX_SYNC_SPIN_US: u32 = 10_000;

/// The size of the first `wal_options` with a `size` field (this one): the smallest a
/// caller can have been compiled with.
const WAL_OPTIONS_FIRST_SIZE: usize = 40;

const _: () = {
    // The first fields stay where they are in every version.
    assert!(offset_of!(wal_options, segment_size) == 0);
    assert!(offset_of!(wal_options, flush_interval_ms) == 8);
    assert!(offset_of!(wal_options, size) == 16);
    assert!(size_of::<wal_options>() >= WAL_OPTIONS_FIRST_SIZE);
};

/// The defaults (see `wal_options_init`), with `size` this library's.
fn defaults() -> wal_options {
    wal_options {
        segment_size: DEFAULT_SEGMENT_SIZE,
        flush_interval_ms: 0,
        size: size_of::<wal_options>() as u32,
        sync: wal_sync_mode_arg(wal_sync_mode::WAL_SYNC_NONE as u32),
        recovery: wal_recovery_mode_arg(wal_recovery_mode::WAL_RECOVERY_TRUNCATE as u32),
        sync_spin_us: WAL_SYNC_SPIN_AUTO,
        read_only: 0,
        quarantine: 1,
    }
}

/// Fills the first `size` bytes of `*opts` (a `wal_options` as the caller's header
/// declares it) with the defaults: 256 MiB segments, no background flush,
/// `WAL_SYNC_NONE`, `WAL_RECOVERY_TRUNCATE`, `WAL_SYNC_SPIN_AUTO`, read-write, with
/// quarantine, and `opts->size = size`. Fields this library does not know are left as
/// they are. Does nothing if `opts` is NULL or `size` too small to hold `size`. Call
/// `wal_options_init`, which passes `sizeof(wal_options)`.
///
/// # Safety
/// `opts` must be NULL or point to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_options_init_sized(opts: *mut wal_options, size: usize) {
    if opts.is_null() || size < offset_of!(wal_options, size) + size_of::<u32>() {
        return;
    }
    let mut d = defaults();
    d.size = u32::try_from(size).unwrap_or(u32::MAX);
    let n = size.min(size_of::<wal_options>());
    // SAFETY: `opts` has `size` writable bytes by the caller's contract and `n <= size`;
    // `d` is a live, initialised `wal_options` of at least `n` bytes, and the two do not
    // overlap (`d` is a local). `wal_options` is plain data with no padding in the copied
    // fields' bytes that C could misread.
    unsafe { ptr::copy_nonoverlapping((&raw const d).cast::<u8>(), opts.cast::<u8>(), n) };
}

/// The options `*opts` holds, read as the version its `size` says: the fields a smaller
/// (older) struct lacks take their defaults; a larger (newer) one is refused.
///
/// # Safety
/// `opts` must point to a `wal_options` filled by `wal_options_init` (at least `size`
/// readable bytes, `size` being its own field).
pub(crate) unsafe fn read_options(opts: *const wal_options) -> Result<Options, Error> {
    // SAFETY: every caller's struct has `size` at this offset (checked at compile time
    // above), readable by the caller's contract.
    let size = unsafe {
        opts.cast::<u8>()
            .add(offset_of!(wal_options, size))
            .cast::<u32>()
            .read_unaligned()
    } as usize;
    let ours = size_of::<wal_options>();
    if size < WAL_OPTIONS_FIRST_SIZE {
        return Err(Error::invalid(format!(
            "wal_options.size is {size}, not the size of a wal_options: fill the options \
             with wal_options_init before setting fields"
        )));
    }
    if size > ours {
        return Err(Error::invalid(format!(
            "the caller was compiled against a newer tswal header (a wal_options of {size} \
             bytes; this library, version {}, knows {ours}): use a library at least as new \
             as the header",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let mut full = defaults();
    // SAFETY: `opts` has `size` readable bytes by the caller's contract, `size <= ours`,
    // and `full` is a local `wal_options` of `ours` bytes.
    unsafe { ptr::copy_nonoverlapping(opts.cast::<u8>(), (&raw mut full).cast::<u8>(), size) };
    options_from(&full)
}

fn options_from(o: &wal_options) -> Result<Options, Error> {
    let sync = match o.sync.0 {
        0 => SyncMode::None,
        1 => SyncMode::Always,
        other => {
            return Err(Error::invalid(format!(
                "sync is {other}; expected WAL_SYNC_NONE (0) or WAL_SYNC_ALWAYS (1)"
            )));
        }
    };
    let recovery = match o.recovery.0 {
        0 => Recovery::Truncate,
        1 => Recovery::Salvage,
        2 => Recovery::Fail,
        other => {
            return Err(Error::invalid(format!(
                "recovery is {other}; expected WAL_RECOVERY_TRUNCATE (0), WAL_RECOVERY_SALVAGE \
                 (1) or WAL_RECOVERY_FAIL (2)"
            )));
        }
    };
    let most = u128::from(WAL_MAX_SYNC_SPIN_US);
    let sync_spin = match o.sync_spin_us {
        WAL_SYNC_SPIN_AUTO => SyncSpin::Auto,
        0 => SyncSpin::Off,
        us if u128::from(us) <= most => SyncSpin::UpTo(Duration::from_micros(us.into())),
        other => {
            return Err(Error::invalid(format!(
                "sync_spin_us is {other}; expected WAL_SYNC_SPIN_AUTO, 0 (off) or at most \
                 {most} (microseconds)"
            )));
        }
    };
    let flag = |name: &str, v: u32| match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::invalid(format!(
            "{name} is {other}; expected 0 or 1"
        ))),
    };
    Ok(Options {
        read_only: flag("read_only", o.read_only)?,
        quarantine: flag("quarantine", o.quarantine)?,
        segment_size: o.segment_size,
        flush_interval: (o.flush_interval_ms > 0)
            .then(|| Duration::from_millis(o.flush_interval_ms)),
        sync,
        recovery,
        sync_spin,
        faults: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `wal_options_init` (inline in the header) does.
    fn init() -> wal_options {
        let mut o = std::mem::MaybeUninit::<wal_options>::uninit();
        // SAFETY: a writable wal_options of the size given.
        unsafe {
            wal_options_init_sized(o.as_mut_ptr(), size_of::<wal_options>());
            o.assume_init()
        }
    }

    #[test]
    fn options_init_fills_the_defaults_and_the_size_and_accepts_null() {
        // SAFETY: NULL is documented to be ignored.
        unsafe { wal_options_init_sized(ptr::null_mut(), size_of::<wal_options>()) };
        let o = init();
        assert_eq!(o.segment_size, DEFAULT_SEGMENT_SIZE);
        assert_eq!(o.size as usize, size_of::<wal_options>());
        assert_eq!(
            (o.flush_interval_ms, o.sync.0, o.recovery.0, o.sync_spin_us),
            (0, 0, 0, WAL_SYNC_SPIN_AUTO)
        );
        assert_eq!((o.read_only, o.quarantine), (0, 1));
        // SAFETY: `o` is a filled wal_options.
        let opts = unsafe { read_options(&o) }.unwrap();
        assert_eq!(
            (opts.sync, opts.recovery, opts.sync_spin),
            (SyncMode::None, Recovery::Truncate, SyncSpin::Auto)
        );
    }

    /// A caller compiled against a newer header has a larger struct: the init fills what
    /// this library knows, the open refuses it, saying why.
    #[test]
    fn a_larger_struct_from_a_newer_header_is_refused_and_an_unset_one_too() {
        let ours = size_of::<wal_options>();
        // 64 bytes, aligned for a wal_options: a struct with fields this library lacks.
        let mut newer = vec![0u64; 8];
        let p = newer.as_mut_ptr().cast::<wal_options>();
        // SAFETY: `p` has 64 writable, aligned bytes.
        unsafe { wal_options_init_sized(p, 64) };
        // SAFETY: as above; the size field says 64.
        let e = unsafe { read_options(p) }.unwrap_err().to_string();
        assert!(
            e.contains("newer tswal header") && e.contains(&ours.to_string()),
            "{e}"
        );
        let mut unset = init();
        unset.size = 0;
        // SAFETY: a wal_options.
        let e = unsafe { read_options(&unset) }.unwrap_err().to_string();
        assert!(e.contains("wal_options_init"), "{e}");
    }

    /// A caller compiled against an older header (here: the first one with a size) has a
    /// smaller struct: the fields it lacks take their defaults.
    #[test]
    fn the_fields_an_older_struct_lacks_take_their_defaults() {
        let mut o = init();
        o.segment_size = 1 << 20;
        o.size = WAL_OPTIONS_FIRST_SIZE as u32;
        // SAFETY: a wal_options, at least the size it says.
        let opts = unsafe { read_options(&o) }.unwrap();
        assert_eq!(opts.segment_size, 1 << 20);
    }

    #[test]
    fn the_c_spin_limits_match_the_rust_ones() {
        assert_eq!(
            u128::from(WAL_MAX_SYNC_SPIN_US),
            crate::options::MAX_SYNC_SPIN.as_micros()
        );
        let with = |us| {
            let mut o = init();
            o.sync_spin_us = us;
            options_from(&o).map(|o| o.sync_spin)
        };
        assert_eq!(with(WAL_SYNC_SPIN_AUTO).unwrap(), SyncSpin::Auto);
        assert_eq!(with(0).unwrap(), SyncSpin::Off);
        assert_eq!(
            with(WAL_MAX_SYNC_SPIN_US).unwrap(),
            SyncSpin::UpTo(crate::options::MAX_SYNC_SPIN)
        );
        assert!(with(WAL_MAX_SYNC_SPIN_US + 1).is_err());
        assert!(with(WAL_SYNC_SPIN_AUTO - 1).is_err());
    }
}
