//! What a transaction ends with: the outcome, the decoded TVR/TSI/CVM Results, the
//! cryptograms, the receipt, the record for batch capture and the APDU trace.

use lamina_emv::bitmaps::{CvmResults, Explained, Tsi, Tvr};
use serde::Serialize;

use crate::clearing::OfflineAdvice;
use crate::io::TraceEntry;
use crate::ui::Message;

/// The end of a transaction (Book 4 §6.3.8 completion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The card returned a TC at the first GENERATE AC.
    ApprovedOffline,
    /// Approved by the issuer and the card (TC at the second GENERATE AC).
    ApprovedOnline,
    /// The card returned an AAC at the first GENERATE AC, or the terminal could
    /// not go online and the card declined.
    DeclinedOffline,
    /// Declined by the issuer, or by the card at the second GENERATE AC.
    DeclinedOnline,
    /// The transaction stopped before completion.
    Terminated(Termination),
}

impl Outcome {
    /// True for both approvals.
    pub fn is_approved(&self) -> bool {
        matches!(self, Outcome::ApprovedOffline | Outcome::ApprovedOnline)
    }
}

/// The outcome as a person reads it ("Approved online", "Terminated: not
/// accepted").
impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Outcome::ApprovedOffline => f.write_str("Approved offline"),
            Outcome::ApprovedOnline => f.write_str("Approved online"),
            Outcome::DeclinedOffline => f.write_str("Declined offline"),
            Outcome::DeclinedOnline => f.write_str("Declined online"),
            Outcome::Terminated(t) => write!(f, "Terminated: {t}"),
        }
    }
}

/// Why a transaction was terminated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Termination {
    /// No card in the reader (INSERT CARD).
    NoCard,
    /// The card left the reader.
    CardRemoved,
    /// The card answered wrongly (status, format, missing or duplicate data).
    CardError(String),
    /// No application both the card and terminal support (Book 1 §12.4).
    NotAccepted,
    /// The card is blocked (SELECT '6A81').
    CardBlocked,
    /// The cardholder cancelled.
    Cancelled,
    /// A terminal fault (configuration, PIN pad …).
    ProcessingError(String),
}

impl core::fmt::Display for Termination {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Termination::NoCard => f.write_str("no card"),
            Termination::CardRemoved => f.write_str("card removed"),
            Termination::CardError(why) => write!(f, "card error ({why})"),
            Termination::NotAccepted => f.write_str("not accepted"),
            Termination::CardBlocked => f.write_str("card blocked"),
            Termination::Cancelled => f.write_str("cancelled"),
            Termination::ProcessingError(why) => write!(f, "processing error ({why})"),
        }
    }
}

/// Which cryptogram (Book 3 §6.5.5.4 CID bits 8–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AcType {
    /// Application Authentication Cryptogram (decline).
    Aac,
    /// Transaction Certificate (approve).
    Tc,
    /// Authorisation Request Cryptogram (go online).
    Arqc,
}

/// Book 3's abbreviations: AAC, TC, ARQC.
impl core::fmt::Display for AcType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AcType::Aac => "AAC",
            AcType::Tc => "TC",
            AcType::Arqc => "ARQC",
        })
    }
}

impl AcType {
    /// GENERATE AC P1 bits 8–7 (Book 3 Table 12).
    pub const fn p1(self) -> u8 {
        match self {
            AcType::Aac => 0x00,
            AcType::Tc => 0x40,
            AcType::Arqc => 0x80,
        }
    }

    /// From CID bits 8–7; `None` for the RFU value.
    pub const fn from_cid(cid: u8) -> Option<AcType> {
        match cid & 0xC0 {
            0x00 => Some(AcType::Aac),
            0x40 => Some(AcType::Tc),
            0x80 => Some(AcType::Arqc),
            _ => None,
        }
    }

    /// Order AAC < ARQC < TC (Book 3 §10.8: the card may not return a "higher" one).
    pub const fn rank(self) -> u8 {
        match self {
            AcType::Aac => 0,
            AcType::Arqc => 1,
            AcType::Tc => 2,
        }
    }
}

/// One GENERATE AC answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cryptogram {
    /// 1 or 2.
    pub generate_ac: u8,
    /// Requested type.
    pub requested: AcType,
    /// Returned type.
    pub returned: AcType,
    /// Cryptogram Information Data (9F27), hex in JSON ("80").
    #[serde(serialize_with = "hex_byte")]
    pub cid: u8,
    /// Application Transaction Counter (9F36).
    pub atc: u16,
    /// Application Cryptogram (9F26), hex.
    pub ac: String,
    /// Issuer Application Data (9F10), hex.
    pub iad: String,
    /// Whether CDA was requested and verified.
    pub cda_verified: bool,
}

fn hex_byte<S: serde::Serializer>(v: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:02X}"))
}

/// A bitmap with its decoding.
#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    /// Hex value.
    pub hex: String,
    /// One line per set bit (or field).
    pub bits: Vec<Explained>,
}

impl Decoded {
    /// The TVR decoded.
    pub fn tvr(t: &Tvr) -> Self {
        Decoded {
            hex: hex::encode_upper(t.0),
            bits: t.explain(),
        }
    }
    /// The TSI decoded.
    pub fn tsi(t: &Tsi) -> Self {
        Decoded {
            hex: hex::encode_upper(t.0),
            bits: t.explain(),
        }
    }
    /// CVM Results decoded.
    pub fn cvm(c: &CvmResults) -> Self {
        Decoded {
            hex: hex::encode_upper(c.0),
            bits: c.explain(),
        }
    }
}

/// A receipt copy (Book 4 §11.4 receipt data).
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// Merchant copy lines.
    pub merchant_copy: Vec<String>,
    /// Cardholder copy lines.
    pub cardholder_copy: Vec<String>,
}

/// The record kept for batch capture (Book 4 §12.4 data capture).
#[derive(Debug, Clone, Serialize)]
pub struct TransactionRecord {
    /// Transaction sequence counter (9F41).
    pub stan: u32,
    /// Masked PAN.
    pub pan_masked: String,
    /// AID, hex.
    pub aid: String,
    /// Amount, minor units.
    pub amount: u64,
    /// Currency code.
    pub currency: u16,
    /// Date YYMMDD and time HHMMSS, hex.
    pub date_time: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Authorisation Response Code as text.
    pub arc: Option<String>,
    /// Final ICC data for clearing (TC/AAC, TVR, TSI, CVM Results …), hex BER-TLV.
    pub icc_data: String,
    /// Whether the record must be sent as an advice.
    pub advice: bool,
}

/// Everything a transaction produced.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionResult {
    /// How it ended.
    pub outcome: Outcome,
    /// Standard messages shown, in order.
    pub messages: Vec<Message>,
    /// Terminal Verification Results (95).
    pub tvr: Decoded,
    /// Transaction Status Information (9B).
    pub tsi: Decoded,
    /// CVM Results (9F34).
    pub cvm_results: Decoded,
    /// Authorisation Response Code (8A) as text ("00", "Y1", "Z3" …).
    pub arc: Option<String>,
    /// Selected AID, hex.
    pub aid: Option<String>,
    /// Offline data authentication method used.
    pub oda: Option<String>,
    /// Cryptograms returned.
    pub cryptograms: Vec<Cryptogram>,
    /// Issuer Script Results (9F5B), hex.
    pub script_results: Option<String>,
    /// Whether the receipt needs the cardholder's signature.
    pub signature_required: bool,
    /// Whether a reversal was sent.
    pub reversal_sent: bool,
    /// Why the terminal could not go online when it tried (connection
    /// refused, TLS handshake failed, timeout …): the reason behind an
    /// unable-to-go-online decision (ARC Y3/Z3). `None` when it did not try or
    /// the acquirer answered.
    pub online_failure: Option<String>,
    /// Receipt, when the transaction reached completion.
    pub receipt: Option<Receipt>,
    /// Batch record, when the transaction reached completion.
    pub record: Option<TransactionRecord>,
    /// The clearing record of an offline approval (TC), to be queued and
    /// uploaded as an advice ([`crate::clearing`]); `None` for every other
    /// outcome (online approvals are captured by their authorisation's STAN).
    pub offline_advice: Option<OfflineAdvice>,
    /// APDU trace, if asked for.
    pub trace: Option<Vec<TraceEntry>>,
    /// APDU bytes exchanged with the card.
    pub apdu_bytes: usize,
    /// Command APDUs sent.
    pub apdu_count: usize,
    /// Raw TVR (for tests and callers).
    #[serde(skip)]
    pub tvr_raw: Tvr,
    /// Raw TSI.
    #[serde(skip)]
    pub tsi_raw: Tsi,
    /// Raw CVM Results.
    #[serde(skip)]
    pub cvm_raw: CvmResults,
}
