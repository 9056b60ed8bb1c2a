//! The error type of the bureau.

/// What went wrong while setting up an issuer or personalizing a card.
///
/// Messages never contain key material, PINs or full PANs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersoError {
    /// A card profile is invalid; `field` is the TOML path of the offending field.
    #[error("profile field `{field}`: {reason}")]
    Profile {
        /// TOML path, e.g. `application[0].afl[1].sfi`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A profile file is not valid TOML or does not match the schema.
    #[error("profile: {0}")]
    ProfileSyntax(String),
    /// The key store could not be opened (wrong passphrase or tampered file).
    #[error("key store: wrong passphrase or corrupted key store")]
    KeyStoreAuth,
    /// The key store file is malformed.
    #[error("key store: {0}")]
    KeyStore(String),
    /// No passphrase was given for an encrypted key store.
    #[error("key store is encrypted: set the passphrase in ${0}")]
    NoPassphrase(&'static str),
    /// A CAPK file or issuer file is malformed.
    #[error("{file}: {reason}")]
    File {
        /// Which file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A card image is malformed, of an unknown version or fails its checksum.
    #[error("card image: {0}")]
    Image(String),
    /// A personalization script or STORE DATA command is malformed.
    #[error("personalization script: {0}")]
    Script(String),
    /// Bad input to data preparation (BIN, PIN, name ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A symmetric cryptographic operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] lamina_crypto::Error),
    /// An RSA/PKI operation failed.
    #[error("PKI: {0}")]
    Pki(#[from] lamina_crypto::pki::PkiError),
    /// Rendering the card face failed.
    #[error("card face: {0}")]
    Render(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl PersoError {
    /// A profile validation error at `field`.
    pub fn profile(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PersoError::Profile {
            field: field.into(),
            reason: reason.into(),
        }
    }
    /// An invalid-input error.
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        PersoError::Invalid {
            what,
            reason: reason.into(),
        }
    }
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        PersoError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, PersoError>;
