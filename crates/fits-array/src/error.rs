//! The error type of the array layer: format and transport errors with the file they concern.

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing FITS data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes break the format (the message names HDU, keyword or offset).
    #[error("{location}: {source}")]
    Format {
        /// Path or URL.
        location: String,
        /// The format error.
        #[source]
        source: fits_core::Error,
    },

    /// Moving bytes failed (the message names driver and location).
    #[error(transparent)]
    Storage(#[from] fits_io::Error),

    /// No HDU matches the selector.
    #[error("{location}: no HDU {selector} (the file has {available})")]
    NoSuchHdu {
        /// Path or URL.
        location: String,
        /// The selector as given.
        selector: String,
        /// What the file has.
        available: String,
    },

    /// The HDU is not of the kind asked for.
    #[error("{location}: HDU {hdu} is {kind}, not {expected}")]
    WrongKind {
        /// Path or URL.
        location: String,
        /// HDU index.
        hdu: usize,
        /// What it is.
        kind: String,
        /// What was asked for.
        expected: &'static str,
    },

    /// A slice does not fit the section it is applied to.
    #[error("{location}: HDU {hdu}: slice out of bounds: {reason}")]
    Slice {
        /// Path or URL.
        location: String,
        /// HDU index.
        hdu: usize,
        /// Which axis and index.
        reason: String,
    },

    /// The HDU has no data array (`NAXIS = 0`).
    #[error("{location}: HDU {hdu} has no data (NAXIS = 0)")]
    NoData {
        /// Path or URL.
        location: String,
        /// HDU index.
        hdu: usize,
    },

    /// The memory for a read's output cannot be allocated (a header can declare any size).
    #[error("{location}: HDU {hdu}: cannot allocate {bytes} bytes for a read of {elements} elements")]
    OutOfMemory {
        /// Path or URL.
        location: String,
        /// HDU index.
        hdu: usize,
        /// Elements asked for.
        elements: usize,
        /// Bytes they take.
        bytes: u128,
    },

    /// The operation is not available for this HDU.
    #[error("{location}: HDU {hdu}: {what} is not supported")]
    Unsupported {
        /// Path or URL.
        location: String,
        /// HDU index.
        hdu: usize,
        /// What.
        what: String,
    },

    /// Writing a file failed.
    #[error("{location}: {action}: {source}")]
    Write {
        /// Path being written.
        location: String,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The data handed to a writer does not match what its header promises.
    #[error("{location}: {reason}")]
    WriteMismatch {
        /// Path being written.
        location: String,
        /// What does not match.
        reason: String,
    },
}

impl Error {
    pub(crate) fn format(location: &str, source: fits_core::Error) -> Error {
        Error::Format { location: location.to_string(), source }
    }
}
