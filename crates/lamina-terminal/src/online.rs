//! The terminal's edge towards the acquirer (EMV Book 3 §10.9 "Online Processing",
//! Book 4 §6.3.7, §12.2 authorisation, §12.3 advice, §12.5 reversal) and the PIN
//! encryption of online PIN (Book 4 §6.3.4.2; ISO 9564-1 format 0 under an ANSI
//! X9.24 DUKPT key).
//!
//! The kernel does no I/O: an [`AcquirerLink`] implementation (the host client, or
//! a test double) carries the messages.

use serde::Serialize;

/// An encrypted online PIN block and the key serial number it was encrypted under.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct EncryptedPin {
    /// Encrypted ISO 9564-1 format 0 PIN block.
    pub block: [u8; 8],
    /// DUKPT Key Serial Number (10 bytes, X9.24-1).
    pub ksn: Vec<u8>,
}

impl core::fmt::Debug for EncryptedPin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncryptedPin")
            .field("block", &"REDACTED")
            .field("ksn", &hex::encode_upper(&self.ksn))
            .finish()
    }
}

/// Why online PIN could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("online PIN encryption failed: {0}")]
pub struct PinEncryptionError(pub String);

/// The PIN pad's online PIN encryption (its DUKPT key: IPEK + KSN from the BDK).
pub trait OnlinePinEncryptor {
    /// Encrypts a clear ISO 9564-1 format 0 PIN block and returns it with the KSN used.
    fn encrypt(&mut self, clear_block: &[u8; 8]) -> Result<EncryptedPin, PinEncryptionError>;
}

/// What the terminal sends for an online authorisation (Book 4 §12.2.1).
#[derive(Clone, Serialize)]
pub struct AuthorizationRequest {
    /// System trace audit number chosen by the terminal (Transaction Sequence Counter).
    pub stan: u32,
    /// Primary account number (never printed: see `Debug`).
    #[serde(skip)]
    pub pan: String,
    /// PAN Sequence Number (5F34), if present.
    pub pan_sequence: Option<u8>,
    /// Application Expiration Date YYMMDD (5F24).
    pub expiry: [u8; 3],
    /// Amount, authorised (minor units).
    pub amount: u64,
    /// Amount, other (minor units).
    pub amount_other: u64,
    /// Transaction currency code (ISO 4217 numeric).
    pub currency: u16,
    /// Transaction type (9C).
    pub transaction_type: u8,
    /// Terminal identification (9F1C).
    pub terminal_id: String,
    /// Merchant identifier (9F16).
    pub merchant_id: String,
    /// Merchant category code (9F15).
    pub mcc: u16,
    /// ICC data (ISO 8583 field 55): the Book 4 §12.2.1 data objects as BER-TLV.
    pub icc_data: Vec<u8>,
    /// Encrypted online PIN (DUKPT), if the CVM was online PIN.
    pub pin: Option<EncryptedPin>,
    /// Track 2 equivalent data (57), if the card has it; never printed.
    #[serde(skip)]
    pub track2: Option<Vec<u8>>,
}

impl core::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("stan", &self.stan)
            .field("pan", &lamina_emv::dict::mask_pan(&self.pan))
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("icc_data", &hex::encode_upper(&self.icc_data))
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// The issuer's answer (Book 4 §12.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationResponse {
    /// Authorisation Response Code (8A), two ASCII characters ("00" approved …).
    pub response_code: [u8; 2],
    /// Authorisation code (89), if approved.
    pub auth_code: Option<String>,
    /// Issuer Authentication Data (91): ARPC ‖ CSU or ARPC ‖ ARC.
    pub issuer_authentication_data: Option<Vec<u8>>,
    /// Issuer scripts as received: templates `71` and `72`, BER-TLV encoded.
    pub scripts: Vec<u8>,
}

impl AuthorizationResponse {
    /// Whether the issuer approved (response codes 00, 08, 10, 11: Book 4 Annex; ISO 8583).
    pub fn approved(&self) -> bool {
        matches!(&self.response_code, b"00" | b"08" | b"10" | b"11")
    }

    /// Whether the issuer asks for a voice referral (01/02).
    pub fn referral(&self) -> bool {
        matches!(&self.response_code, b"01" | b"02")
    }
}

/// A financial advice or confirmation after the transaction (Book 4 §12.3).
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    /// Trace number of the transaction.
    pub stan: u32,
    /// Final ICC data (TC or AAC, TVR, TSI …) as BER-TLV.
    pub icc_data: Vec<u8>,
    /// Issuer Script Results (9F5B), if scripts ran.
    pub script_results: Vec<u8>,
    /// Whether the card approved (TC).
    pub approved: bool,
}

/// Why a reversal is sent (Book 4 §12.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReversalReason {
    /// Issuer approved, but the card declined at the second GENERATE AC.
    CardDeclinedAfterApproval,
    /// The card was removed or failed after the issuer approved.
    CardErrorAfterApproval,
}

/// A reversal of an approved authorisation (Book 4 §12.5).
#[derive(Debug, Clone, Serialize)]
pub struct Reversal {
    /// Trace number of the original authorisation.
    pub stan: u32,
    /// Amount to reverse.
    pub amount: u64,
    /// Why.
    pub reason: ReversalReason,
    /// Final ICC data, if the card gave any.
    pub icc_data: Vec<u8>,
}

/// Why the acquirer could not be reached or refused the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("acquirer link: {0}")]
pub struct LinkError(pub String);

/// The connection to the acquirer/host. `Err` means "unable to go online"
/// (Book 3 §10.9 / Book 4 §6.3.7: then the terminal decides with TAC/IAC-default).
pub trait AcquirerLink {
    /// Online authorisation request.
    fn authorize(
        &mut self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, LinkError>;
    /// Advice (offline transaction, or completion confirmation).
    fn advise(&mut self, advice: &Advice) -> Result<(), LinkError>;
    /// Reversal of an approved authorisation.
    fn reverse(&mut self, reversal: &Reversal) -> Result<(), LinkError>;
}
