//! The three kinds of records a WAL holds, as the Rust API sees them.
//!
//! `Sample` and `Tombstone` are `#[repr(C)]` with the field order of the C structs
//! `wal_sample` and `wal_tombstone`, so the C API passes arrays through without copying.

/// One label of a series. Names and values are arbitrary bytes (not necessarily UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// Label name.
    pub name: &'a [u8],
    /// Label value.
    pub value: &'a [u8],
}

impl<'a> Label<'a> {
    /// A label from anything that views as bytes (`&str`, `&[u8]`, ...).
    pub fn new(
        name: &'a (impl AsRef<[u8]> + ?Sized),
        value: &'a (impl AsRef<[u8]> + ?Sized),
    ) -> Self {
        Label {
            name: name.as_ref(),
            value: value.as_ref(),
        }
    }
}

/// A series: its reference number and its label set.
///
/// When logged, labels are written in the order given; when read back, they arrive
/// sorted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series<'a> {
    /// The series reference (`ref` in the format and the C API).
    pub series_ref: u64,
    /// The labels of the series.
    pub labels: &'a [Label<'a>],
}

/// One sample of one series.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The series reference.
    pub series_ref: u64,
    /// Timestamp.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// A deleted interval `[mint, maxt]` of one series.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tombstone {
    /// The series reference.
    pub series_ref: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}
