//! The issuer's in-process request and response types (the data of ISO 8583 0100/0200/
//! 0220/0400 and their responses, independent of the wire format).

use std::fmt;

use lamina_iso8583::ResponseCode;
use serde::{Deserialize, Serialize};

use crate::keys::mask_pan;

/// What the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// 0100: authorization only (dual message): approve and hold funds.
    Authorization,
    /// 0200: financial request (single message): approve and post.
    Financial,
    /// 0220/0120: completion advice — capture a prior authorization, or force-post an
    /// offline-approved transaction.
    Completion,
    /// 0400/0420: reversal of a prior authorization or financial transaction.
    Reversal,
}

impl RequestKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Authorization => "authorization",
            RequestKind::Financial => "financial",
            RequestKind::Completion => "completion",
            RequestKind::Reversal => "reversal",
        }
    }
}

/// Identifies a request for idempotency: a retransmission carries the same values
/// (ISO 8583:1987 DE 32, 41, 11, 7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxnKey {
    /// Acquiring institution id (DE 32).
    pub acquirer: String,
    /// Terminal id (DE 41).
    pub terminal: String,
    /// System trace audit number (DE 11).
    pub stan: String,
    /// Transmission date and time MMDDhhmmss (DE 7).
    pub transmission: String,
}

/// Online PIN data (DE 52 and DE 53).
#[derive(Clone, PartialEq, Eq)]
pub struct PinData {
    /// PIN block enciphered under the DUKPT PIN key.
    pub block: [u8; 8],
    /// DUKPT key serial number (10 bytes).
    pub ksn: Vec<u8>,
}

impl fmt::Debug for PinData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinData")
            .field("block", &"REDACTED")
            .field("ksn", &hex::encode_upper(&self.ksn))
            .finish()
    }
}

/// A request to the issuer.
#[derive(Clone)]
pub struct AuthRequest {
    /// Kind.
    pub kind: RequestKind,
    /// MTI as received (`0100`, `0101`, ...).
    pub mti: String,
    /// Idempotency key.
    pub key: TxnKey,
    /// Merchant id (DE 42).
    pub merchant: String,
    /// Retrieval reference number (DE 37).
    pub rrn: String,
    /// PAN (DE 2); absent in reversals and completions that reference an original.
    pub pan: Option<String>,
    /// PAN sequence number (DE 23).
    pub psn: Option<u8>,
    /// Expiry YYMM (DE 14), if sent.
    pub expiry: Option<String>,
    /// Processing code (DE 3), 6 digits.
    pub processing_code: String,
    /// Amount in minor units (DE 4).
    pub amount: i64,
    /// Currency (DE 49).
    pub currency: String,
    /// ICC data (DE 55), BER-TLV, possibly empty.
    pub icc: Vec<u8>,
    /// Online PIN.
    pub pin: Option<PinData>,
    /// Whether the terminal accepts a partial approval (Lamina: DE 60 contains `P`).
    pub partial_allowed: bool,
    /// The original transaction's STAN and transmission time (DE 90), for completions and
    /// reversals.
    pub original: Option<(String, String)>,
    /// Partial reversal: the amount that stands after the reversal (DE 95, actual transaction
    /// amount). `None`: reverse in full.
    pub replacement_amount: Option<i64>,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("kind", &self.kind)
            .field("mti", &self.mti)
            .field("key", &self.key)
            .field("pan", &self.pan.as_deref().map(mask_pan))
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("icc", &format_args!("{} bytes", self.icc.len()))
            .field("pin", &self.pin)
            .field("original", &self.original)
            .finish_non_exhaustive()
    }
}

/// The issuer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// ISO 8583 response code (DE 39).
    pub response_code: String,
    /// Approved amount (DE 4 of the response; less than requested for code 10).
    pub approved_amount: i64,
    /// Approval code (DE 38), when approved.
    pub auth_code: Option<String>,
    /// Response ICC data (DE 55): 91 Issuer Authentication Data, 71/72 scripts.
    #[serde(with = "hex_bytes")]
    pub icc: Vec<u8>,
    /// Available balance after the transaction, when known.
    pub available: Option<i64>,
    /// The stored transaction id.
    pub transaction_id: Option<String>,
    /// Risk flags raised (atc_replay, atc_jump, arqc_failed, ...).
    pub flags: Vec<String>,
    /// True when this is the stored answer to an earlier identical request.
    #[serde(default)]
    pub duplicate: bool,
}

impl AuthResponse {
    /// Whether approved (00, 10).
    pub fn approved(&self) -> bool {
        [ResponseCode::APPROVED, ResponseCode::APPROVED_PARTIAL]
            .iter()
            .any(|c| c.as_str() == self.response_code)
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
