//! The error type of the storage layer: every variant names the driver and the location.

use std::ops::Range;

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong moving bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{location}: not found ({driver})")]
    NotFound {
        /// Driver name (`local`, `http`, `s3`, `memory`).
        driver: &'static str,
        /// Path or URL.
        location: String,
    },

    /// Access was refused.
    #[error("{location}: permission denied ({driver})")]
    PermissionDenied {
        /// Driver name.
        driver: &'static str,
        /// Path or URL.
        location: String,
    },

    /// A read asked for bytes past the end of the object.
    #[error("{location}: bytes {}..{} requested, but the object has {size} bytes", range.start, range.end)]
    OutOfRange {
        /// Path or URL.
        location: String,
        /// The range asked for.
        range: Range<u64>,
        /// The object's size.
        size: u64,
    },

    /// An operating-system I/O error.
    #[error("{location}: {source} ({driver})")]
    Io {
        /// Driver name.
        driver: &'static str,
        /// Path or URL.
        location: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The source string names no driver this build knows.
    #[error("{location}: unsupported source ({reason})")]
    UnsupportedSource {
        /// The source as given.
        location: String,
        /// Why (unknown scheme, feature not compiled in).
        reason: String,
    },

    /// The driver cannot do this operation.
    #[error("{location}: the {driver} driver does not support {operation}")]
    Unsupported {
        /// Driver name.
        driver: &'static str,
        /// Path or URL.
        location: String,
        /// The operation.
        operation: &'static str,
    },
}

impl Error {
    /// Maps an `std::io::Error` for `location`, keeping NotFound and PermissionDenied distinct.
    pub fn from_io(driver: &'static str, location: &str, source: std::io::Error) -> Error {
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                driver,
                location: location.to_string(),
            },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied {
                driver,
                location: location.to_string(),
            },
            _ => Error::Io {
                driver,
                location: location.to_string(),
                source,
            },
        }
    }
}
