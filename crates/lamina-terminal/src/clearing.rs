//! Clearing of offline approvals: the [`OfflineAdvice`] a kernel produces when the
//! card approved offline (a TC at the first GENERATE AC, or after "unable to go
//! online"), and the terminal's store-and-forward [`AdviceQueue`] that uploads
//! them to the acquirer.
//!
//! An offline approval never reached the issuer: until the terminal reports it
//! the issuer has not debited the cardholder and the merchant is not paid. EMV 4.4
//! Book 4 §12.4 (data capture) lists what the terminal keeps for clearing; §12.3
//! (advices) how it is reported. Lamina reports each offline approval as a
//! financial advice (ISO 8583 0220, DE 39 = the EMV ARC `Y1`/`Y3`, DE 55 = the
//! ICC data of [`REQUIRED_ICC_TAGS`] and more; docs/iso8583.md §6), sent by an
//! [`AdviceSender`] (the acquirer link, `lamina_acquirer::IsoLink`).
//!
//! ## Delivery rules
//!
//! * Advices leave in the order they were approved; a link failure stops the
//!   upload and keeps the rest queued (store and forward).
//! * An advice whose answer was lost is sent again **as a repeat of the same
//!   message** (ISO 8583 0221, same STAN and transmission date/time DE 7): the
//!   sender records the transmission reference in [`PendingAdvice::transmission`]
//!   on the first attempt, so the host recognises the repeat and posts once.
//! * An advice the host answers with a refusal (unknown card, wrong currency …)
//!   leaves the queue for the [`AdviceQueue::rejected`] list (an exception for the
//!   merchant's back office); it is not retried.
//!
//! The kernels do no I/O: they only put the advice in the result
//! ([`TransactionResult::offline_advice`](crate::outcome::TransactionResult::offline_advice));
//! the terminal application queues and uploads it.

use lamina_emv::tags;
use std::collections::VecDeque;

use lamina_tlv::Tlv;
use serde::{Serialize, Serializer};

use crate::config::TerminalConfig;
use crate::data::{self, CardData};
use crate::kernel::{DateTime, TransactionRequest};
use crate::online::LinkError;

/// The interface the card was read on (ISO 8583 DE 22 digits 1–2: `05` contact
/// chip, `07` contactless chip; docs/iso8583.md §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CardInterface {
    /// ISO/IEC 7816 contacts.
    Contact,
    /// ISO/IEC 14443 contactless.
    Contactless,
}

/// The ICC data objects an offline advice must carry in field 55 (EMV 4.4 Book 4
/// §12.4 data capture, the Book 3 Annex A cryptogram data; the issuer needs them
/// to verify the TC and post the transaction): Application Cryptogram `9F26`, CID
/// `9F27`, IAD `9F10`, ATC `9F36`, TVR `95`, date `9A`, type `9C`, amount `9F02`,
/// currency `5F2A`, AIP `82`, unpredictable number `9F37`, country `9F1A`,
/// terminal capabilities `9F33`, CVM Results `9F34`.
pub const REQUIRED_ICC_TAGS: [u32; 14] = [
    0x9F26, 0x9F27, 0x9F10, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F37, 0x9F1A, 0x9F33,
    0x9F34,
];

/// Why an offline advice cannot be made or queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdviceError {
    /// A data element the advice needs is missing or malformed.
    #[error("offline advice: {0}")]
    Data(&'static str),
    /// Field 55 lacks required ICC data objects (tags in hex).
    #[error("offline advice: ICC data lacks {0}")]
    MissingIccData(String),
    /// The cryptogram is not a Transaction Certificate.
    #[error("offline advice: the cryptogram is not a TC (CID {0:02X})")]
    NotTc(u8),
    /// The queue holds its maximum number of advices: upload first.
    #[error("advice queue full ({0} advices): upload before approving offline again")]
    QueueFull(usize),
    /// An advice with the same STAN and cryptogram is already queued.
    #[error("advice for STAN {0} already queued")]
    Duplicate(u32),
}

/// An offline-approved transaction ready for clearing (EMV 4.4 Book 4 §12.4 data
/// capture; reported as an ISO 8583 0220 advice).
///
/// `Debug` and `Serialize` mask the PAN.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct OfflineAdvice {
    /// Trace number of the transaction (Transaction Sequence Counter `9F41`).
    pub stan: u32,
    /// Primary account number (`5A`), digits.
    #[serde(serialize_with = "masked_pan")]
    pub pan: String,
    /// PAN Sequence Number (`5F34`), if the card has one.
    pub pan_sequence: Option<u8>,
    /// Application Expiration Date YYMMDD, BCD (`5F24`).
    #[serde(serialize_with = "hex_upper")]
    pub expiry: [u8; 3],
    /// Amount, authorised, minor units (`9F02`).
    pub amount: u64,
    /// Amount, other (cash back), minor units (`9F03`).
    pub amount_other: u64,
    /// Transaction currency (ISO 4217 numeric, `5F2A`).
    pub currency: u16,
    /// Transaction type (`9C`).
    pub transaction_type: u8,
    /// Transaction date YYMMDD, BCD (`9A`).
    #[serde(serialize_with = "hex_upper")]
    pub date: [u8; 3],
    /// Transaction time HHMMSS, BCD (`9F21`).
    #[serde(serialize_with = "hex_upper")]
    pub time: [u8; 3],
    /// Terminal identification (`9F1C`).
    pub terminal_id: String,
    /// Merchant identifier (`9F16`).
    pub merchant_id: String,
    /// Merchant category code (`9F15`).
    pub mcc: u16,
    /// How the card was read.
    pub interface: CardInterface,
    /// The application's DF name (`84`).
    #[serde(serialize_with = "hex_upper")]
    pub aid: Vec<u8>,
    /// The Transaction Certificate (`9F26`).
    #[serde(serialize_with = "hex_upper")]
    pub cryptogram: [u8; 8],
    /// Cryptogram Information Data (`9F27`): a TC.
    pub cid: u8,
    /// Application Transaction Counter (`9F36`).
    pub atc: u16,
    /// Authorisation Response Code (`8A`): `Y1` offline approved, `Y3` approved
    /// offline after "unable to go online".
    #[serde(serialize_with = "ascii")]
    pub arc: [u8; 2],
    /// ICC data for field 55, BER-TLV: at least [`REQUIRED_ICC_TAGS`].
    #[serde(serialize_with = "hex_upper")]
    pub icc_data: Vec<u8>,
}

fn masked_pan<S: Serializer>(pan: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&lamina_emv::dict::mask_pan(pan))
}

fn hex_upper<S: Serializer, T: AsRef<[u8]>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(v.as_ref()))
}

fn ascii<S: Serializer>(v: &[u8; 2], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(v))
}

impl core::fmt::Debug for OfflineAdvice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OfflineAdvice")
            .field("stan", &self.stan)
            .field("pan", &lamina_emv::dict::mask_pan(&self.pan))
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("interface", &self.interface)
            .field("cryptogram", &hex::encode_upper(self.cryptogram))
            .field("atc", &self.atc)
            .field("arc", &String::from_utf8_lossy(&self.arc))
            .finish_non_exhaustive()
    }
}

impl OfflineAdvice {
    /// The [`REQUIRED_ICC_TAGS`] missing from the ICC data (all of them when it
    /// does not parse).
    pub fn missing_icc_tags(&self) -> Vec<u32> {
        let present: Vec<u32> = Tlv::parse_all(&self.icc_data)
            .map(|l| l.iter().map(|t| t.tag.number()).collect())
            .unwrap_or_default();
        REQUIRED_ICC_TAGS
            .iter()
            .copied()
            .filter(|t| !present.contains(t))
            .collect()
    }

    /// The value of one ICC data object of field 55.
    pub fn icc_value(&self, tag: u32) -> Option<Vec<u8>> {
        Tlv::parse_all(&self.icc_data)
            .ok()?
            .into_iter()
            .find(|t| t.tag.number() == tag)
            .and_then(|t| t.value_bytes().map(<[u8]>::to_vec))
    }

    /// Checks the advice is complete and consistent: a TC, a PAN of 12 to 19
    /// digits, every [`REQUIRED_ICC_TAGS`] object in field 55, and the field 55
    /// cryptogram, CID, ATC and amount equal to the typed fields.
    pub fn validate(&self) -> Result<(), AdviceError> {
        if self.cid & 0xC0 != 0x40 {
            return Err(AdviceError::NotTc(self.cid));
        }
        if !(12..=19).contains(&self.pan.len()) || !self.pan.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AdviceError::Data("PAN"));
        }
        let missing = self.missing_icc_tags();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|t| format!("{t:X}")).collect();
            return Err(AdviceError::MissingIccData(names.join(" ")));
        }
        let agree = |tag: u32, want: &[u8]| self.icc_value(tag).is_some_and(|v| v == want);
        if !agree(0x9F26, &self.cryptogram) {
            return Err(AdviceError::Data("9F26 differs from the cryptogram"));
        }
        if !agree(0x9F27, &[self.cid]) {
            return Err(AdviceError::Data("9F27 differs from the CID"));
        }
        if !agree(0x9F36, &self.atc.to_be_bytes()) {
            return Err(AdviceError::Data("9F36 differs from the ATC"));
        }
        if !agree(0x9F02, &data::bcd(self.amount, 12)) {
            return Err(AdviceError::Data("9F02 differs from the amount"));
        }
        Ok(())
    }
}

/// What a kernel knows at the end of an offline-approved transaction.
pub(crate) struct AdviceSource<'a> {
    pub(crate) card: &'a CardData,
    pub(crate) cfg: &'a TerminalConfig,
    pub(crate) req: &'a TransactionRequest,
    pub(crate) now: DateTime,
    pub(crate) interface: CardInterface,
    pub(crate) arc: [u8; 2],
    pub(crate) aid: &'a [u8],
    pub(crate) icc_data: Vec<u8>,
}

/// The offline advice of an approved-offline transaction, checked with
/// [`OfflineAdvice::validate`].
pub(crate) fn offline_advice(src: AdviceSource<'_>) -> Result<OfflineAdvice, AdviceError> {
    let card = src.card;
    let pan = card
        .get(tags::PAN)
        .and_then(data::pan_digits)
        .ok_or(AdviceError::Data("PAN (5A)"))?;
    let expiry = card
        .get(tags::APPLICATION_EXPIRATION_DATE)
        .and_then(|v| <[u8; 3]>::try_from(v).ok())
        .ok_or(AdviceError::Data("expiry (5F24)"))?;
    let cryptogram = card
        .get(tags::AC)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .ok_or(AdviceError::Data("cryptogram (9F26)"))?;
    let cid = card
        .get(tags::CID)
        .and_then(|v| v.first().copied())
        .ok_or(AdviceError::Data("CID (9F27)"))?;
    let atc = card
        .get(tags::ATC)
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(u16::from_be_bytes)
        .ok_or(AdviceError::Data("ATC (9F36)"))?;
    let advice = OfflineAdvice {
        stan: src.req.stan,
        pan,
        pan_sequence: card
            .get(tags::PAN_SEQUENCE_NUMBER)
            .and_then(|v| v.first().copied()),
        expiry,
        amount: src.req.amount,
        amount_other: src.req.amount_other,
        currency: src.cfg.currency,
        transaction_type: src.req.transaction_type,
        date: src.now.yymmdd(),
        time: src.now.hhmmss(),
        terminal_id: src.cfg.terminal_id.clone(),
        merchant_id: src.cfg.merchant_id.clone(),
        mcc: src.cfg.mcc,
        interface: src.interface,
        aid: src.aid.to_vec(),
        cryptogram,
        cid,
        atc,
        arc: src.arc,
        icc_data: src.icc_data,
    };
    advice.validate()?;
    Ok(advice)
}

// ---------------------------------------------------------------------------
// Store and forward
// ---------------------------------------------------------------------------

/// One queued advice and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingAdvice {
    /// The advice.
    pub advice: OfflineAdvice,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The sender's reference of the first transmission (for ISO 8583: DE 7,
    /// MMDDhhmmss), set by the sender on the first attempt and reused by every
    /// repeat so the host recognises it (module docs).
    pub transmission: Option<String>,
}

/// The host's answer to an advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdviceAnswer {
    /// Response code (ISO 8583 DE 39), e.g. `00`.
    pub response_code: String,
}

impl AdviceAnswer {
    /// Whether the host took the advice (`00`).
    pub fn accepted(&self) -> bool {
        self.response_code == "00"
    }
}

/// Carries advices to the acquirer (the ISO 8583 link, or a test double).
pub trait AdviceSender {
    /// Sends `entry.advice`: a first transmission when `entry.transmission` is
    /// `None` (the sender then records its reference there **before** sending), else
    /// a repeat of that transmission. `Err`: no answer (link down, timeout); the
    /// advice stays queued.
    fn send_advice(&mut self, entry: &mut PendingAdvice) -> Result<AdviceAnswer, LinkError>;
}

/// What one [`AdviceQueue::upload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// STANs the host accepted.
    pub accepted: Vec<u32>,
    /// STANs the host refused, with its response code.
    pub rejected: Vec<(u32, String)>,
    /// The link failure that stopped the upload, if any (STAN, error).
    pub stopped: Option<(u32, LinkError)>,
    /// Advices still queued.
    pub remaining: usize,
}

/// The terminal's store-and-forward queue of offline advices (EMV 4.4 Book 4
/// §12.3, §12.4; module docs), in memory.
#[derive(Debug, Clone)]
pub struct AdviceQueue {
    pending: VecDeque<PendingAdvice>,
    rejected: Vec<(PendingAdvice, String)>,
    capacity: usize,
}

impl AdviceQueue {
    /// Default capacity: the offline approvals a terminal may hold before it must
    /// upload.
    pub const DEFAULT_CAPACITY: usize = 500;

    /// An empty queue holding at most `capacity` advices.
    pub fn new(capacity: usize) -> Self {
        AdviceQueue {
            pending: VecDeque::new(),
            rejected: Vec::new(),
            capacity,
        }
    }

    /// Queues an advice after [`OfflineAdvice::validate`]. Refused when the
    /// queue is full or the same transaction (STAN and cryptogram) is queued.
    pub fn push(&mut self, advice: OfflineAdvice) -> Result<(), AdviceError> {
        advice.validate()?;
        if self.pending.len() >= self.capacity {
            return Err(AdviceError::QueueFull(self.capacity));
        }
        if self
            .pending
            .iter()
            .any(|p| p.advice.stan == advice.stan && p.advice.cryptogram == advice.cryptogram)
        {
            return Err(AdviceError::Duplicate(advice.stan));
        }
        self.pending.push_back(PendingAdvice {
            advice,
            attempts: 0,
            transmission: None,
        });
        Ok(())
    }

    /// Advices waiting, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &PendingAdvice> {
        self.pending.iter()
    }

    /// Number of advices waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether the queue is full (the terminal must upload before approving
    /// offline again).
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    /// Advices the host refused, with its response code.
    pub fn rejected(&self) -> &[(PendingAdvice, String)] {
        &self.rejected
    }

    /// Total amount waiting (minor units), for the terminal's offline exposure.
    pub fn pending_amount(&self) -> u64 {
        self.pending
            .iter()
            .map(|p| p.advice.amount)
            .fold(0, u64::saturating_add)
    }

    /// Sends the waiting advices in order until the queue is empty or the link
    /// fails (module docs: accepted ones leave, refused ones go to
    /// [`rejected`](Self::rejected), the failed one and the rest stay).
    pub fn upload(&mut self, sender: &mut dyn AdviceSender) -> UploadReport {
        let mut report = UploadReport::default();
        while let Some(entry) = self.pending.front_mut() {
            entry.attempts = entry.attempts.saturating_add(1);
            match sender.send_advice(entry) {
                Ok(answer) => {
                    let stan = entry.advice.stan;
                    if let Some(done) = self.pending.pop_front() {
                        if answer.accepted() {
                            report.accepted.push(stan);
                        } else {
                            report.rejected.push((stan, answer.response_code.clone()));
                            self.rejected.push((done, answer.response_code));
                        }
                    }
                }
                Err(e) => {
                    report.stopped = Some((entry.advice.stan, e));
                    break;
                }
            }
        }
        report.remaining = self.pending.len();
        report
    }
}

impl Default for AdviceQueue {
    fn default() -> Self {
        AdviceQueue::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icc(amount: u64, ac: [u8; 8], cid: u8, atc: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for (tag, value) in [
            (tags::AC, ac.to_vec()),
            (tags::CID, vec![cid]),
            (tags::IAD, vec![0x06, 0x01, 0x0A, 0x03, 0x90, 0x00, 0x00]),
            (tags::ATC, atc.to_be_bytes().to_vec()),
            (tags::TVR, vec![0; 5]),
            (tags::TRANSACTION_DATE, vec![0x26, 0x11, 0x25]),
            (tags::TRANSACTION_TYPE, vec![0]),
            (tags::AMOUNT_AUTHORISED, data::bcd(amount, 12)),
            (tags::TRANSACTION_CURRENCY_CODE, vec![0x09, 0x78]),
            (tags::AIP, vec![0x19, 0x80]),
            (tags::UNPREDICTABLE_NUMBER, vec![1, 2, 3, 4]),
            (tags::TERMINAL_COUNTRY_CODE, vec![0x02, 0x50]),
            (tags::TERMINAL_CAPABILITIES, vec![0xE0, 0xF8, 0xC8]),
            (tags::CVM_RESULTS, vec![0x1F, 0x00, 0x02]),
        ] {
            v.extend(Tlv::primitive(tag, value).encode());
        }
        v
    }

    fn advice(stan: u32, amount: u64) -> OfflineAdvice {
        let ac = [u8::try_from(stan).unwrap(), 2, 3, 4, 5, 6, 7, 8];
        OfflineAdvice {
            stan,
            pan: "5413330089600010".into(),
            pan_sequence: Some(1),
            expiry: [0x29, 0x12, 0x31],
            amount,
            amount_other: 0,
            currency: 978,
            transaction_type: 0,
            date: [0x26, 0x11, 0x25],
            time: [0x10, 0x30, 0x00],
            terminal_id: "TERM0001".into(),
            merchant_id: "MERCHANT0000001".into(),
            mcc: 5411,
            interface: CardInterface::Contactless,
            aid: vec![0xA0, 0, 0, 0, 4, 0x10, 0x10],
            cryptogram: ac,
            cid: 0x40,
            atc: 7,
            arc: *b"Y1",
            icc_data: icc(amount, ac, 0x40, 7),
        }
    }

    /// A sender that answers with scripted results and records what it saw.
    struct Script {
        answers: Vec<Result<&'static str, &'static str>>,
        seen: Vec<(u32, u32, Option<String>)>,
        next_ref: u32,
    }

    impl AdviceSender for Script {
        fn send_advice(&mut self, e: &mut PendingAdvice) -> Result<AdviceAnswer, LinkError> {
            if e.transmission.is_none() {
                self.next_ref += 1;
                e.transmission = Some(format!("ref{}", self.next_ref));
            }
            self.seen
                .push((e.advice.stan, e.attempts, e.transmission.clone()));
            match self.answers.remove(0) {
                Ok(code) => Ok(AdviceAnswer {
                    response_code: code.into(),
                }),
                Err(why) => Err(LinkError(why.into())),
            }
        }
    }

    #[test]
    fn validate_checks_the_tc_and_field_55() {
        let a = advice(1, 1890);
        assert_eq!(a.validate(), Ok(()));
        let mut b = a.clone();
        b.cid = 0x80;
        assert_eq!(b.validate(), Err(AdviceError::NotTc(0x80)));
        let mut c = a.clone();
        c.icc_data = icc(1890, a.cryptogram, 0x40, 7)[..40].to_vec();
        assert!(matches!(c.validate(), Err(AdviceError::MissingIccData(_))));
        let mut d = a.clone();
        d.amount = 1891;
        assert_eq!(
            d.validate(),
            Err(AdviceError::Data("9F02 differs from the amount"))
        );
        let mut e = a.clone();
        e.pan = "12345".into();
        assert_eq!(e.validate(), Err(AdviceError::Data("PAN")));
    }

    #[test]
    fn debug_and_json_mask_the_pan() {
        let a = advice(1, 100);
        let dbg = format!("{a:?}");
        assert!(dbg.contains("541333******0010") && !dbg.contains("5413330089600010"));
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("541333******0010") && !json.contains("5413330089600010"));
        assert!(
            json.contains(r#""cryptogram":"0102030405060708""#),
            "{json}"
        );
        assert!(json.contains(r#""arc":"Y1""#), "{json}");
    }

    #[test]
    fn upload_in_order_keeps_the_reference_for_repeats_and_sets_refusals_aside() {
        let mut q = AdviceQueue::new(3);
        q.push(advice(1, 100)).unwrap();
        q.push(advice(2, 200)).unwrap();
        q.push(advice(3, 300)).unwrap();
        assert!(q.is_full());
        assert_eq!(q.push(advice(4, 1)), Err(AdviceError::QueueFull(3)));
        assert_eq!(q.pending_amount(), 600);
        let mut s = Script {
            answers: vec![Ok("00"), Err("timeout"), Ok("00"), Ok("14")],
            seen: Vec::new(),
            next_ref: 0,
        };
        let r = q.upload(&mut s);
        assert_eq!(r.accepted, vec![1]);
        assert_eq!(r.stopped.as_ref().map(|(s, _)| *s), Some(2));
        assert_eq!(r.remaining, 2);
        // The retry of STAN 2 reuses its first transmission reference.
        let r = q.upload(&mut s);
        assert_eq!(r.accepted, vec![2]);
        assert_eq!(r.rejected, vec![(3, "14".to_string())]);
        assert!(q.is_empty() && r.stopped.is_none());
        assert_eq!(q.rejected().len(), 1);
        assert_eq!(
            s.seen,
            vec![
                (1, 1, Some("ref1".into())),
                (2, 1, Some("ref2".into())),
                (2, 2, Some("ref2".into())),
                (3, 1, Some("ref3".into())),
            ]
        );
    }

    #[test]
    fn the_same_transaction_is_queued_once() {
        let mut q = AdviceQueue::default();
        q.push(advice(9, 100)).unwrap();
        assert_eq!(q.push(advice(9, 100)), Err(AdviceError::Duplicate(9)));
        let mut bad = advice(10, 100);
        bad.cid = 0x00;
        assert_eq!(q.push(bad), Err(AdviceError::NotTc(0)));
        assert_eq!(q.len(), 1);
    }
}
