//! The one error type of the library. Every variant maps to one `wal_status` of the C API.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed. `Display` gives a message that names the file, offset or argument
/// involved, so it can be logged as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller-supplied value is not acceptable (bad option, entry too large, NULL pointer).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The operating system refused an operation.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open segment", "fdatasync", ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The error the system call returned.
        #[source]
        source: io::Error,
    },

    /// Data on disk is damaged in a way the read does not repair.
    #[error("corruption in segment {} at offset {offset}: {reason}", segment.display())]
    Corruption {
        /// The segment file holding the damaged entry.
        segment: PathBuf,
        /// Byte offset of the damaged entry within the segment.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// The call is not allowed in the handle's current state.
    #[error("{0}")]
    State(String),

    /// Another handle, in this or another process, holds the directory.
    #[error("WAL directory {} is locked by another handle or process", dir.display())]
    Locked {
        /// The directory that could not be locked.
        dir: PathBuf,
    },

    /// A read callback asked to stop.
    #[error("read aborted by a callback")]
    Aborted,

    /// The directory is not a WAL this library can use: it holds segment-named files but
    /// none is a SegmentWAL segment (a Prometheus 2.3+ WAL, say), or segment names it
    /// cannot use (a directory, two files with one sequence number). Nothing was changed.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The directory or file at fault.
        path: PathBuf,
        /// What was found, and what to do about it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn state(msg: impl Into<String>) -> Self {
        Error::State(msg.into())
    }

    pub(crate) fn format(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Attaches an operation and a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
