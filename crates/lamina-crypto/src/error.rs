//! Errors shared by the whole crate.

/// What went wrong in a cryptographic operation.
///
/// Messages never contain key, PIN or PAN material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key had a length the algorithm does not accept.
    #[error("invalid key length {got} bytes for {algorithm} (expected {expected})")]
    KeyLength {
        algorithm: &'static str,
        got: usize,
        expected: &'static str,
    },
    /// Input data had a length the operation does not accept.
    #[error("invalid {what} length {got} (expected {expected})")]
    Length {
        what: &'static str,
        got: usize,
        expected: &'static str,
    },
    /// Input was malformed (bad digits, bad format nibble, bad padding ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        what: &'static str,
        reason: &'static str,
    },
    /// A MAC, cryptogram, certificate or signature did not verify.
    #[error("{0} verification failed")]
    Verification(&'static str),
    /// An RSA operation failed.
    #[error("RSA: {0}")]
    Rsa(&'static str),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, Error>;
