//! tswal: a write-ahead log for time-series databases.
//!
//! It reads and writes the segment format of Prometheus tsdb's `SegmentWAL` byte for byte:
//! series, samples and tombstones are logged as entries in numbered segment files,
//! replayed through a visitor on restart, and truncated as their data moves into blocks.
//! The same engine is exported as a C library (see `include/tswal.h`).
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use tswal::{Entry, Label, Options, Sample, Series, Wal};
//!
//! # fn main() -> tswal::Result<()> {
//! let wal = Wal::open("/tmp/wal", Options::default())?;
//! wal.read(|entry| {
//!     if let Entry::Samples(s) = entry {
//!         println!("{} samples", s.len());
//!     }
//!     ControlFlow::Continue(())
//! })?;
//! let labels = [Label::new("__name__", "up"), Label::new("job", "node")];
//! wal.log_series(&[Series { series_ref: 1, labels: &labels }])?;
//! wal.log_samples(&[Sample { series_ref: 1, t: 1000, v: 1.0 }])?;
//! wal.sync()?;
//! wal.close()
//! # }
//! ```
//!
//! Data flows one way. Writing: [`Wal`] → `codec` (bodies) → `entry` (framing, CRC) →
//! `writer` (buffer, segment cutting) → `segment` files, finished by the `background`
//! worker. Reading: `segment` files → `reader` (framing, CRC) → `read` (decoding) → the
//! caller's visitor, with `repair` applied to damage. `truncate` rewrites old segments.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod codec;
pub mod dump;
mod entry;
mod error;
mod faults;
#[cfg(feature = "capi")]
pub mod ffi;
#[cfg(feature = "capi")]
mod ffi_options;
#[cfg(feature = "capi")]
mod ffi_tail;
mod foreign;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod io;
mod notify;
mod options;
mod powerloss;
pub mod quarantine;
mod read;
mod reader;
mod record;
mod reentry;
mod repair;
mod segment;
mod stats;
mod tail;
mod truncate;
mod view;
mod wal;
mod writer;

pub use entry::EntryType;
pub use error::{Error, Result};
pub use faults::{FaultOp, Faults};
pub use notify::TailWaker;
pub use options::{
    AUTO_SPIN_SLOWEST_SYNC, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MAX_SYNC_SPIN,
    MIN_SEGMENT_SIZE, Options, Recovery, SyncMode, SyncSpin,
};
pub use read::{Damaged, Entry, Position, ReadSummary, Repair};
pub use record::{Label, Sample, Series, Tombstone};
pub use stats::Stats;
pub use tail::{Gaps, Tail};
pub use wal::Wal;

/// The library version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
