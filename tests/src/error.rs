//! The lab's one error type: a human-readable message that already carries the
//! context an operator needs (the command that failed, its stderr, the tails of
//! the gateway logs). Its `Debug` prints the message verbatim so that
//! `.expect()`/`.unwrap()` in a test show readable multi-line output rather
//! than an escaped string.

use std::fmt;

/// A lab failure with its full context in the message.
pub struct Error(pub String);

/// Result alias used across the lab.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an error from anything printable.
    pub fn msg(m: impl Into<String>) -> Self {
        Error(m.into())
    }

    /// Appends more context (e.g. gateway logs) below the message.
    pub fn context(self, more: impl AsRef<str>) -> Self {
        Error(format!("{}\n{}", self.0, more.as_ref()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(format!("I/O error: {e}"))
    }
}

/// Returns early with a formatted [`Error`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::msg(format!($($arg)*)))
    };
}
