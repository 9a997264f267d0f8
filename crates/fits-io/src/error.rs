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

    /// The server answered with an error status.
    #[error("{location}: HTTP status {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Http {
        /// URL.
        location: String,
        /// The status code.
        status: u16,
        /// What it means here.
        detail: String,
    },

    /// The object changed while it was being read (its ETag or size differs from the first
    /// response's); nothing read before the change is mixed with what follows.
    #[error("{location}: the object changed while it was being read ({detail})")]
    FileChanged {
        /// URL.
        location: String,
        /// What differed.
        detail: String,
    },

    /// A response does not match its request (status, Content-Range, length).
    #[error("{location}: invalid response: {detail}")]
    InvalidResponse {
        /// URL.
        location: String,
        /// What was wrong.
        detail: String,
    },

    /// The server does not honour range requests and the object is too large to take whole.
    #[error(
        "{location}: the server ignores range requests and the object has {size} bytes (whole downloads are accepted up to {limit} bytes)"
    )]
    RangeNotSupported {
        /// URL.
        location: String,
        /// Object size, when announced.
        size: u64,
        /// The limit.
        limit: u64,
    },

    /// A network failure (connection refused or reset, timeout, body cut short).
    #[error("{location}: {detail} ({driver})")]
    Network {
        /// Driver name.
        driver: &'static str,
        /// URL.
        location: String,
        /// What happened.
        detail: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// Retries were exhausted; the last error is the source.
    #[error("{location}: gave up after {attempts} attempts: {source}")]
    GaveUp {
        /// URL.
        location: String,
        /// Attempts made.
        attempts: usize,
        /// The last error.
        #[source]
        source: Box<Error>,
    },

    /// The source or its configuration is invalid (a malformed URL, missing bucket).
    #[error("{location}: {reason}")]
    Config {
        /// The source as given.
        location: String,
        /// What is wrong.
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
            std::io::ErrorKind::NotFound => Error::NotFound { driver, location: location.to_string() },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { driver, location: location.to_string() },
            _ => Error::Io { driver, location: location.to_string(), source },
        }
    }
}
