//! Errors of the EMV RSA PKI.

/// Why an EMV RSA operation or an offline data authentication check failed.
///
/// Each variant names the check of EMV Book 2 that failed, so a terminal can log
/// the precise reason (all of them map to "SDA/DDA/CDA failed" in the TVR).
/// Messages carry no key, PIN or PAN material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The RSA modulus size is outside the accepted range (Book 2 §11.2).
    #[error("RSA modulus of {bits} bits is outside {min}..={max} bits")]
    ModulusSize { bits: usize, min: usize, max: usize },
    /// The public exponent is not 3 or 65537 (Book 2 §11.2).
    #[error("RSA public exponent must be 3 or 65537")]
    Exponent,
    /// Malformed key material or input.
    #[error("invalid {what}: {reason}")]
    Invalid {
        what: &'static str,
        reason: &'static str,
    },
    /// A signed object does not have the length of the key's modulus
    /// (Book 2 §5.3 step 1, §5.4 step 1, §6.3 step 1, §6.4 step 1, §6.5.2 step 1).
    #[error("{what} is {got} bytes, the key modulus is {expected} bytes")]
    Length {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    /// The input, read as an integer, is not smaller than the modulus.
    #[error("{what} is not smaller than the RSA modulus")]
    OutOfRange { what: &'static str },
    /// The RSA primitive failed.
    #[error("RSA: {0}")]
    Rsa(&'static str),
    /// Recovered Data Trailer is not `BC` (Annex A2.1).
    #[error("{what}: recovered data trailer is not 'BC'")]
    Trailer { what: &'static str },
    /// Recovered Data Header is not `6A` (Annex A2.1).
    #[error("{what}: recovered data header is not '6A'")]
    Header { what: &'static str },
    /// Certificate / Signed Data Format differs from the expected one.
    #[error("{what}: format '{got:02X}', expected '{expected:02X}'")]
    Format {
        what: &'static str,
        expected: u8,
        got: u8,
    },
    /// The Hash Algorithm Indicator is not recognised (only `01` = SHA-1 is).
    #[error("{what}: hash algorithm indicator '{got:02X}' not recognised")]
    HashAlgorithm { what: &'static str, got: u8 },
    /// The Public Key Algorithm Indicator is not recognised (only `01` = RSA is).
    #[error("{what}: public key algorithm indicator '{got:02X}' not recognised")]
    PkAlgorithm { what: &'static str, got: u8 },
    /// The recovered hash differs from the hash of the data.
    #[error("{what}: hash result does not match")]
    Hash { what: &'static str },
    /// The Issuer Identifier is not the leftmost 3–8 digits of the PAN (Book 2 §6.3 step 8).
    #[error("issuer identifier does not match the PAN")]
    IssuerIdentifier,
    /// The PAN in the ICC certificate differs from the Application PAN (Book 2 §6.4 step 8).
    #[error("certificate PAN does not match the application PAN")]
    PanMismatch,
    /// The certificate expired before today's date (Book 2 §6.3 step 9, §6.4 step 9).
    #[error("{what} expired")]
    Expired { what: &'static str },
    /// The certificate's key length or remainder length is inconsistent.
    #[error("{what}: {reason}")]
    KeyLayout {
        what: &'static str,
        reason: &'static str,
    },
    /// The CA Public Key Check Sum does not match (Book 2 §11.2, Table 23).
    #[error("CA public key checksum does not match")]
    Checksum,
    /// CDA: the CID in the signature differs from the CID in the response (Book 2 §6.6.2 step 5).
    #[error("CDA: cryptogram information data differs from the GENERATE AC response")]
    CidMismatch,
    /// CDA: the Transaction Data Hash Code does not match (Book 2 §6.6.2 step 9).
    #[error("CDA: transaction data hash code does not match")]
    TransactionDataHash,
    /// Enciphered PIN: the recovered data does not start with `7F` (Book 2 §7.2).
    #[error("enciphered PIN: header is not '7F'")]
    PinHeader,
    /// Enciphered PIN: the ICC Unpredictable Number does not match (Book 2 §7.2).
    #[error("enciphered PIN: unpredictable number does not match")]
    UnpredictableNumber,
}

impl PkiError {
    fn reason(&self) -> &'static str {
        match self {
            Self::ModulusSize { .. } => "RSA modulus size",
            Self::Exponent => "RSA public exponent",
            Self::Invalid { reason, .. } => reason,
            Self::Length { what, .. }
            | Self::OutOfRange { what }
            | Self::Trailer { what }
            | Self::Header { what }
            | Self::Format { what, .. }
            | Self::HashAlgorithm { what, .. }
            | Self::PkAlgorithm { what, .. }
            | Self::Hash { what }
            | Self::Expired { what }
            | Self::KeyLayout { what, .. } => what,
            Self::Rsa(s) => s,
            Self::IssuerIdentifier => "issuer identifier",
            Self::PanMismatch => "certificate PAN",
            Self::Checksum => "CA public key checksum",
            Self::CidMismatch => "CDA cryptogram information data",
            Self::TransactionDataHash => "CDA transaction data hash code",
            Self::PinHeader => "enciphered PIN header",
            Self::UnpredictableNumber => "enciphered PIN unpredictable number",
        }
    }
}

impl From<PkiError> for crate::Error {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Rsa(s) => crate::Error::Rsa(s),
            PkiError::ModulusSize { .. } | PkiError::Exponent => crate::Error::Invalid {
                what: "RSA key",
                reason: e.reason(),
            },
            PkiError::Invalid { what, reason } => crate::Error::Invalid { what, reason },
            other => crate::Error::Verification(other.reason()),
        }
    }
}
