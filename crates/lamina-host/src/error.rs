//! The crate's error type. Messages never contain key bytes or a full PAN.

/// Errors of the host library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A database error (connection, SQL, constraint).
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A database error on the SQLite writer's own connection.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The SQLite writer's group commit failed; every request of the group was rolled
    /// back (retryable).
    #[error("group commit failed: {0}")]
    GroupCommit(String),
    /// Applying the schema migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names a backend this host does not support.
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// A cryptographic operation failed (bad key length, wrong tag, ...).
    #[error("cryptography: {0}")]
    Crypto(String),
    /// Configuration or key file problem.
    #[error("configuration: {0}")]
    Config(String),
    /// Invalid input from a caller (API, CLI).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A record that must exist does not.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Stored data violates an invariant (corrupt JSON, unknown status, ...).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl From<lamina_crypto::Error> for HostError {
    fn from(e: lamina_crypto::Error) -> Self {
        HostError::Crypto(e.to_string())
    }
}

/// Result alias.
pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// Shorthand for [`HostError::Invalid`].
pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> HostError {
    HostError::Invalid {
        what,
        reason: reason.into(),
    }
}
