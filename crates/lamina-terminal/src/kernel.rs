//! The contact kernel: the EMV transaction flow as typed steps (EMV 4.4 Book 3 §10,
//! Book 4 §6; application selection Book 1 §12).
//!
//! Each step is a value that only the previous step can make, and each transition
//! consumes it (the rustls pattern): [`Selected`] → [`Initiated`] → [`DataRead`] →
//! [`Authenticated`] → [`Restricted`] → [`Verified`] → [`RiskManaged`] →
//! [`ReadyForGenerateAc`]. The first GENERATE AC takes a [`ReadyForGenerateAc`],
//! which holds the zero-sized proofs [`OdaDone`], [`CvmDone`] and [`TrmDone`]: a
//! flow that skips offline data authentication, cardholder verification or
//! terminal risk management does not compile.
//!
//! The kernel does no I/O: the card ([`CardChannel`]), the screen and PIN pad
//! ([`Screen`], [`PinPad`]), the acquirer ([`AcquirerLink`]), the clock ([`Clock`])
//! and the random generator are passed in. Errors are grouped in [`KernelError`]
//! and mapped at the edge ([`run`]) to TVR bits, an [`Outcome`] and a message.

use std::collections::BTreeMap;
use std::time::Duration;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::channel::CardChannel;
use lamina_crypto::pki::RsaPublicKey;
use lamina_emv::bitmaps::{Aip, AipBit, AucBit, CvmResults, Tsi, TsiBit, Tvr, TvrBit};
use lamina_emv::dol::Dol;
use lamina_emv::tags;
use lamina_tlv::{Tag, Tlv};
use rand::CryptoRng;

use crate::config::{SupportedAid, TerminalConfig};
use crate::data::{self, CardData, DataError};
use crate::io::{self, CardIo, IoError, cmd};
use crate::online::{
    AcquirerLink, Advice, AuthorizationRequest, AuthorizationResponse, EncryptedPin,
    OnlinePinEncryptor, Reversal, ReversalReason,
};
use crate::outcome::{
    AcType, Cryptogram, Decoded, Outcome, Receipt, Termination, TransactionRecord,
    TransactionResult,
};
use crate::ui::{CandidateView, Event, Message, PinPad, Screen};

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

/// A date and time (the terminal's clock, Book 4 §6.7: Transaction Date `9A`, Time `9F21`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    /// Year (e.g. 2026).
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–59.
    pub second: u8,
}

impl DateTime {
    /// `9A` YYMMDD.
    pub fn yymmdd(&self) -> [u8; 3] {
        let yy = u8::try_from(self.year % 100).unwrap_or(0);
        [bcd2(yy), bcd2(self.month), bcd2(self.day)]
    }
    /// `9F21` HHMMSS.
    pub fn hhmmss(&self) -> [u8; 3] {
        [bcd2(self.hour), bcd2(self.minute), bcd2(self.second)]
    }
    /// As a comparable number YYYYMMDD.
    pub fn date_number(&self) -> u32 {
        u32::from(self.year) * 10_000 + u32::from(self.month) * 100 + u32::from(self.day)
    }
}

fn bcd2(v: u8) -> u8 {
    ((v / 10 % 10) << 4) | (v % 10)
}

/// A YYMMDD date (n 6) as YYYYMMDD, with the Book 4 §6.7.3 century window; `None`
/// when not a valid date.
pub fn date_number(yymmdd: &[u8]) -> Option<u32> {
    let [y, m, d] = <[u8; 3]>::try_from(yymmdd).ok()?;
    let n = data::from_bcd(&[y, m, d])?;
    let (yy, mm, dd) = (n / 10_000, n / 100 % 100, n % 100);
    if !(1..=12).contains(&mm) || !(1..=31).contains(&dd) {
        return None;
    }
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    u32::try_from(year * 10_000 + mm * 100 + dd).ok()
}

/// The terminal's clock.
pub trait Clock {
    /// Now.
    fn now(&self) -> DateTime;

    /// A monotonic reading (time since any fixed start) to measure how long
    /// a tap took; the default says zero (a fixed clock measures nothing).
    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

/// A clock that always says the same time (tests, benchmarks, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime);

impl Clock for FixedClock {
    fn now(&self) -> DateTime {
        self.0
    }
}

/// What the merchant asks for.
#[derive(Debug, Clone)]
pub struct TransactionRequest {
    /// Amount, authorised (minor units).
    pub amount: u64,
    /// Amount, other (cashback), minor units.
    pub amount_other: u64,
    /// Transaction Type `9C` (ISO 8583 processing code digits 1–2): `00` goods and
    /// services, `01` cash, `09` purchase with cashback.
    pub transaction_type: u8,
    /// Whether it is a services (rather than goods) purchase, for the AUC check.
    pub services: bool,
    /// Transaction Sequence Counter `9F41` (also the trace number).
    pub stan: u32,
    /// The merchant forces the transaction online (TVR byte 4 bit 4).
    pub force_online: bool,
    /// Keep a decoded APDU trace.
    pub trace: bool,
}

impl TransactionRequest {
    /// A goods purchase of `amount` minor units.
    pub fn purchase(amount: u64) -> Self {
        TransactionRequest {
            amount,
            amount_other: 0,
            transaction_type: 0x00,
            services: false,
            stan: 1,
            force_online: false,
            trace: false,
        }
    }

    fn is_cash(&self) -> bool {
        matches!(self.transaction_type, 0x01 | 0x17)
    }
    fn is_cashback(&self) -> bool {
        self.transaction_type == 0x09
    }
}

/// The devices around the kernel.
pub struct Devices<'a> {
    /// The card reader.
    pub card: &'a mut dyn CardChannel,
    /// The display.
    pub screen: &'a mut dyn Screen,
    /// The PIN pad.
    pub pin_pad: &'a mut dyn PinPad,
    /// The acquirer link (`None`: offline-only this time).
    pub acquirer: Option<&'a mut dyn AcquirerLink>,
    /// Online PIN encryption (the PIN pad's DUKPT key), if any.
    pub pin_encryptor: Option<&'a mut dyn OnlinePinEncryptor>,
}

impl core::fmt::Debug for Devices<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Devices")
            .field("acquirer", &self.acquirer.is_some())
            .field("pin_encryptor", &self.pin_encryptor.is_some())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why the kernel stopped, grouped by who is at fault; mapped to an [`Outcome`]
/// and a message by [`run`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// No card in the reader at power-on.
    #[error("no card")]
    NoCard,
    /// The card left the reader (or lost power).
    #[error("card removed")]
    CardRemoved,
    /// A reader fault.
    #[error("reader: {0}")]
    Reader(String),
    /// The card's answer is unusable (status word, format, missing or duplicate data).
    #[error("card error: {0}")]
    Card(String),
    /// The card is blocked (Book 1 §12.3.2: SELECT answered '6A81').
    #[error("card blocked")]
    CardBlocked,
    /// No mutually supported application (Book 1 §12.4).
    #[error("no mutually supported application")]
    NotAccepted,
    /// The cardholder cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A terminal-side fault.
    #[error("terminal: {0}")]
    Terminal(String),
}

impl From<IoError> for KernelError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::CardRemoved => KernelError::CardRemoved,
            IoError::Transport(s) => KernelError::Reader(s),
            IoError::Malformed => KernelError::Card("response shorter than a status word".into()),
        }
    }
}

impl From<DataError> for KernelError {
    fn from(e: DataError) -> Self {
        KernelError::Card(e.to_string())
    }
}

impl KernelError {
    /// The boundary mapping: termination reason and the Book 4 message to show.
    pub fn termination(&self) -> (Termination, Message) {
        match self {
            KernelError::NoCard => (Termination::NoCard, Message::InsertCard),
            KernelError::CardRemoved => (Termination::CardRemoved, Message::CardError),
            KernelError::Reader(s) => (
                Termination::ProcessingError(s.clone()),
                Message::ProcessingError,
            ),
            KernelError::Card(s) => (Termination::CardError(s.clone()), Message::CardError),
            KernelError::CardBlocked => (Termination::CardBlocked, Message::NotAccepted),
            KernelError::NotAccepted => (Termination::NotAccepted, Message::NotAccepted),
            KernelError::Cancelled => (Termination::Cancelled, Message::NotAccepted),
            KernelError::Terminal(s) => (
                Termination::ProcessingError(s.clone()),
                Message::ProcessingError,
            ),
        }
    }
}

fn card_err(s: impl Into<String>) -> KernelError {
    KernelError::Card(s.into())
}

// ---------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------

/// Offline data authentication method (Book 3 §10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum OdaMethod {
    /// Static data authentication.
    Sda,
    /// Dynamic data authentication.
    Dda,
    /// Combined DDA / application cryptogram generation.
    Cda,
}

/// The transaction's working state, shared by every step.
pub(crate) struct Ctx<'a, R: CryptoRng> {
    pub(crate) cfg: &'a TerminalConfig,
    pub(crate) req: &'a TransactionRequest,
    pub(crate) io: CardIo<'a>,
    pub(crate) screen: &'a mut dyn Screen,
    pub(crate) pin_pad: &'a mut dyn PinPad,
    pub(crate) acquirer: Option<&'a mut dyn AcquirerLink>,
    pub(crate) pin_encryptor: Option<&'a mut dyn OnlinePinEncryptor>,
    pub(crate) rng: &'a mut R,
    pub(crate) now: DateTime,
    pub(crate) un: [u8; 4],
    pub(crate) card: CardData,
    pub(crate) tvr: Tvr,
    pub(crate) tsi: Tsi,
    pub(crate) cvm: CvmResults,
    pub(crate) arc: Option<[u8; 2]>,
    pub(crate) issuer_auth_data: Option<Vec<u8>>,
    pub(crate) aid: Option<SupportedAid>,
    pub(crate) df_name: Vec<u8>,
    pub(crate) messages: Vec<Message>,
    pub(crate) cryptograms: Vec<Cryptogram>,
    pub(crate) script_results: Vec<u8>,
    pub(crate) signature: bool,
    pub(crate) online_pin: Option<EncryptedPin>,
    pub(crate) pdol_data: Vec<u8>,
    pub(crate) cdol1_data: Vec<u8>,
    pub(crate) oda: Option<OdaMethod>,
    pub(crate) issuer_key: Option<RsaPublicKey>,
    pub(crate) icc_key: Option<RsaPublicKey>,
    pub(crate) static_data: Vec<u8>,
    pub(crate) static_data_ok: bool,
    pub(crate) reversal_sent: bool,
    /// Why going online failed (the acquirer link's error), if it did.
    pub(crate) online_failure: Option<String>,
    pub(crate) advice: bool,
}

impl<R: CryptoRng> Ctx<'_, R> {
    pub(crate) fn msg(&mut self, m: Message) {
        self.messages.push(m);
        self.screen.show(&Event::Message(m));
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.screen.show(&e);
    }

    pub(crate) fn exchange(&mut self, c: &Command) -> Result<Response, KernelError> {
        Ok(self.io.exchange(c)?)
    }

    /// Sends a command carrying DOL-related data (decoded in the trace).
    pub(crate) fn exchange_dol(
        &mut self,
        c: &Command,
        dol: &Dol,
        data: &[u8],
    ) -> Result<Response, KernelError> {
        Ok(self.io.exchange_dol(c, Some((dol, data)))?)
    }

    pub(crate) fn pan(&self) -> Option<String> {
        self.card.get(tags::PAN).and_then(data::pan_digits)
    }

    pub(crate) fn aip(&self) -> Aip {
        self.card
            .get(tags::AIP)
            .and_then(|v| Aip::from_slice(v).ok())
            .unwrap_or_default()
    }

    /// Terminal-sourced data objects (Book 3 Annex A), with the current TVR/TSI/CVM.
    pub(crate) fn terminal_data(&self) -> Vec<(u32, Vec<u8>)> {
        let c = self.cfg;
        let mut v = vec![
            (tags::AMOUNT_AUTHORISED, data::bcd(self.req.amount, 12)),
            (tags::AMOUNT_OTHER, data::bcd(self.req.amount_other, 12)),
            (
                tags::TERMINAL_COUNTRY_CODE,
                data::bcd(u64::from(c.country), 3),
            ),
            (
                tags::TRANSACTION_CURRENCY_CODE,
                data::bcd(u64::from(c.currency), 3),
            ),
            (
                tags::TRANSACTION_CURRENCY_EXPONENT,
                vec![c.currency_exponent],
            ),
            (tags::TRANSACTION_DATE, self.now.yymmdd().to_vec()),
            (tags::TRANSACTION_TIME, self.now.hhmmss().to_vec()),
            (tags::TRANSACTION_TYPE, vec![self.req.transaction_type]),
            (tags::UNPREDICTABLE_NUMBER, self.un.to_vec()),
            (tags::TERMINAL_TYPE, vec![c.terminal_type]),
            (tags::TERMINAL_CAPABILITIES, c.capabilities.0.to_vec()),
            (
                tags::ADDITIONAL_TERMINAL_CAPABILITIES,
                c.additional_capabilities.0.to_vec(),
            ),
            (tags::MERCHANT_CATEGORY_CODE, data::bcd(u64::from(c.mcc), 4)),
            (tags::MERCHANT_IDENTIFIER, data::text(&c.merchant_id, 15)),
            (tags::TERMINAL_IDENTIFICATION, data::text(&c.terminal_id, 8)),
            (
                tags::INTERFACE_DEVICE_SERIAL_NUMBER,
                data::text(&c.ifd_serial, 8),
            ),
            (
                tags::MERCHANT_NAME_AND_LOCATION,
                c.merchant_name.as_bytes().to_vec(),
            ),
            (tags::POINT_OF_SERVICE_ENTRY_MODE, vec![0x05]),
            (
                tags::TRANSACTION_SEQUENCE_COUNTER,
                data::bcd(u64::from(self.req.stan), 8),
            ),
            (tags::TVR, self.tvr.0.to_vec()),
            (tags::TSI, self.tsi.0.to_vec()),
            (tags::CVM_RESULTS, self.cvm.0.to_vec()),
        ];
        if let Some(a) = &self.aid {
            v.push((
                tags::APPLICATION_VERSION_NUMBER_TERMINAL,
                a.app_version.to_vec(),
            ));
            let fl = u32::try_from(a.floor_limit).unwrap_or(u32::MAX);
            v.push((tags::TERMINAL_FLOOR_LIMIT, fl.to_be_bytes().to_vec()));
        }
        if let Some(arc) = self.arc {
            v.push((tags::ARC, arc.to_vec()));
        }
        if let Some(iad) = &self.issuer_auth_data {
            v.push((tags::ISSUER_AUTHENTICATION_DATA, iad.clone()));
        }
        v
    }

    /// Card data and terminal data as a DOL source (terminal data wins for
    /// terminal-sourced tags).
    pub(crate) fn dol_source(&self) -> BTreeMap<Tag, Vec<u8>> {
        let mut m = data::source(self.card.iter().map(|(t, v)| (t, v.to_vec())));
        m.extend(data::source(self.terminal_data()));
        m
    }

    /// Builds DOL-related data (Book 3 §5.4).
    pub(crate) fn build_dol(&self, dol: &Dol) -> Vec<u8> {
        dol.build(&self.dol_source())
    }

    pub(crate) fn today(&self) -> Option<lamina_crypto::pki::Date> {
        lamina_crypto::pki::Date::new(self.now.year, self.now.month, self.now.day).ok()
    }
}

// ---------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------

/// Proof that offline data authentication was processed (Book 3 §10.3), whatever
/// its result. Only the ODA step can make it.
#[derive(Debug)]
pub struct OdaDone(());
/// Proof that cardholder verification was processed (Book 3 §10.5).
#[derive(Debug)]
pub struct CvmDone(());
/// Proof that terminal risk management was processed (Book 3 §10.6).
#[derive(Debug)]
pub struct TrmDone(());

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

/// One entry of the candidate list (Book 1 §12.3).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// ADF name (DF name the card answered).
    pub df_name: Vec<u8>,
    /// Application label (50) or preferred name (9F12), else the terminal's label.
    pub label: String,
    /// Application Priority Indicator (87).
    pub priority: Option<u8>,
    /// The terminal's configuration for this AID.
    pub terminal: SupportedAid,
}

impl Candidate {
    fn view(&self) -> CandidateView {
        CandidateView {
            label: self.label.clone(),
            aid: hex::encode_upper(&self.df_name),
            priority: self.priority,
        }
    }
    fn needs_confirmation(&self) -> bool {
        self.priority.is_some_and(|p| p & 0x80 != 0)
    }
    fn rank(&self) -> u8 {
        match self.priority.map(|p| p & 0x0F) {
            Some(0) | None => 16,
            Some(n) => n,
        }
    }
}

/// After final SELECT (Book 1 §12.4): the application is chosen.
#[derive(Debug)]
pub struct Selected {
    candidate: Candidate,
}

/// After GET PROCESSING OPTIONS (Book 3 §10.1).
#[derive(Debug)]
pub struct Initiated {
    afl: Vec<AflEntry>,
}

/// One Application File Locator entry (Book 3 §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AflEntry {
    /// Short file identifier 1–30.
    pub sfi: u8,
    /// First record.
    pub first: u8,
    /// Last record.
    pub last: u8,
    /// Records (from the first) used in offline data authentication.
    pub oda: u8,
}

/// After READ RECORD (Book 3 §10.2).
#[derive(Debug)]
pub struct DataRead(());

/// After offline data authentication (Book 3 §10.3).
#[derive(Debug)]
pub struct Authenticated {
    oda: OdaDone,
}

/// After processing restrictions (Book 3 §10.4).
#[derive(Debug)]
pub struct Restricted {
    oda: OdaDone,
}

/// After cardholder verification (Book 3 §10.5).
#[derive(Debug)]
pub struct Verified {
    oda: OdaDone,
    cvm: CvmDone,
}

/// After terminal risk management (Book 3 §10.6).
#[derive(Debug)]
pub struct RiskManaged {
    oda: OdaDone,
    cvm: CvmDone,
    trm: TrmDone,
}

/// The terminal's decision (Book 3 §10.7) with the proofs the first GENERATE AC needs.
#[derive(Debug)]
pub struct ReadyForGenerateAc {
    /// Cryptogram to request.
    pub requested: AcType,
    /// Whether CDA is requested.
    pub cda: bool,
    _proofs: (OdaDone, CvmDone, TrmDone),
}

/// A parsed GENERATE AC answer.
#[derive(Debug, Clone)]
struct GenAcAnswer {
    returned: AcType,
    cid: u8,
}

// ---------------------------------------------------------------------------
// Application selection (Book 1 §12)
// ---------------------------------------------------------------------------

const PSE: &[u8] = b"1PAY.SYS.DDF01";

/// The parts of an FCI the kernel uses (Book 1 §11.3.4, Table 45).
#[derive(Debug, Clone, Default)]
struct Fci {
    df_name: Vec<u8>,
    label: Option<String>,
    preferred_name: Option<String>,
    priority: Option<u8>,
    sfi: Option<u8>,
    proprietary: Vec<Tlv>,
}

fn parse_fci(data: &[u8]) -> Result<Fci, DataError> {
    let t = data::template(data, tags::FCI_TEMPLATE, "6F (FCI)")?;
    let df_name = data::child(&t, tags::DF_NAME)
        .ok_or(DataError::Template {
            expected: "84 (DF name) in FCI",
            got: "nothing".into(),
        })?
        .to_vec();
    let a5 = t
        .children()
        .iter()
        .find(|c| c.tag.number() == tags::FCI_PROPRIETARY_TEMPLATE)
        .cloned()
        .ok_or(DataError::Template {
            expected: "A5 (FCI proprietary template)",
            got: "nothing".into(),
        })?;
    let text = |tag| {
        data::child(&a5, tag)
            .filter(|v| v.iter().all(|b| (0x20..=0x7E).contains(b)))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    Ok(Fci {
        df_name,
        label: text(tags::APPLICATION_LABEL),
        preferred_name: text(tags::APPLICATION_PREFERRED_NAME),
        priority: data::child(&a5, tags::APPLICATION_PRIORITY_INDICATOR)
            .and_then(|v| v.first().copied()),
        sfi: data::child(&a5, tags::SFI).and_then(|v| v.first().copied()),
        proprietary: a5.children().to_vec(),
    })
}

impl<R: CryptoRng> Ctx<'_, R> {
    /// Book 1 §12.3.2: the PSE directory method. `Ok(None)`: fall back to the list of AIDs.
    fn candidates_from_pse(&mut self) -> Result<Option<Vec<Candidate>>, KernelError> {
        let r = self.exchange(&cmd::select(PSE, false))?;
        if r.sw == StatusWord::FUNCTION_NOT_SUPPORTED {
            return Err(KernelError::CardBlocked);
        }
        if !r.sw.is_ok() {
            return Ok(None);
        }
        let Ok(fci) = parse_fci(&r.data) else {
            return Ok(None);
        };
        let Some(sfi) = fci.sfi.filter(|s| (1..=30).contains(s)) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        if !self.read_directory(sfi, 0, &mut out)? {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Reads a directory file (Book 1 §12.3.2 steps 2–5); `false` if it is unusable.
    fn read_directory(
        &mut self,
        sfi: u8,
        depth: u8,
        out: &mut Vec<Candidate>,
    ) -> Result<bool, KernelError> {
        for rec in 1..=255u8 {
            let r = self.exchange(&cmd::read_record(sfi, rec))?;
            if r.sw == StatusWord::RECORD_NOT_FOUND {
                return Ok(true);
            }
            if !r.sw.is_ok() {
                return Ok(false);
            }
            let Ok(t) = data::template(&r.data, tags::RECORD_TEMPLATE, "70 (record)") else {
                return Ok(false);
            };
            for entry in t
                .children()
                .iter()
                .filter(|c| c.tag.number() == tags::APPLICATION_TEMPLATE)
            {
                if let Some(adf) = data::child(entry, tags::ADF_NAME) {
                    let Some(term) = self.cfg.aid_for(adf) else {
                        continue;
                    };
                    if adf != term.aid.as_slice() && !term.partial_match {
                        continue;
                    }
                    let text = |tag| {
                        data::child(entry, tag)
                            .filter(|v| v.iter().all(|b| (0x20..=0x7E).contains(b)))
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    };
                    out.push(Candidate {
                        df_name: adf.to_vec(),
                        label: text(tags::APPLICATION_PREFERRED_NAME)
                            .or_else(|| text(tags::APPLICATION_LABEL))
                            .unwrap_or_else(|| term.label.clone()),
                        priority: data::child(entry, tags::APPLICATION_PRIORITY_INDICATOR)
                            .and_then(|v| v.first().copied()),
                        terminal: term.clone(),
                    });
                } else if let Some(ddf) = data::child(entry, tags::DDF_NAME) {
                    if depth >= 2 {
                        continue;
                    }
                    let r = self.exchange(&cmd::select(ddf, false))?;
                    if let (true, Ok(fci)) = (r.sw.is_ok(), parse_fci(&r.data))
                        && let Some(s) = fci.sfi.filter(|s| (1..=30).contains(s))
                    {
                        self.read_directory(s, depth + 1, out)?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// Book 1 §12.3.3: the list of AIDs method.
    fn candidates_from_aid_list(&mut self) -> Result<Vec<Candidate>, KernelError> {
        let mut out = Vec::new();
        let aids = self.cfg.aids.clone();
        for (n, term) in aids.iter().enumerate() {
            let mut next = false;
            for _ in 0..16 {
                let r = self.exchange(&cmd::select(&term.aid, next))?;
                if r.sw == StatusWord::FUNCTION_NOT_SUPPORTED && n == 0 && !next {
                    return Err(KernelError::CardBlocked);
                }
                let blocked = r.sw == StatusWord::SELECTED_FILE_DEACTIVATED;
                if !r.sw.is_ok() && !blocked {
                    break;
                }
                let Ok(fci) = parse_fci(&r.data) else {
                    break;
                };
                let exact = fci.df_name == term.aid;
                let partial = fci.df_name.starts_with(&term.aid) && term.partial_match;
                if (exact || partial) && !blocked {
                    out.push(Candidate {
                        label: fci
                            .preferred_name
                            .or(fci.label)
                            .unwrap_or_else(|| term.label.clone()),
                        priority: fci.priority,
                        df_name: fci.df_name.clone(),
                        terminal: term.clone(),
                    });
                }
                if exact || !fci.df_name.starts_with(&term.aid) || !term.partial_match {
                    break;
                }
                next = true;
            }
        }
        Ok(out)
    }

    /// Book 1 §12.3: builds the candidate list.
    fn build_candidate_list(&mut self) -> Result<Vec<Candidate>, KernelError> {
        if self.cfg.pse
            && let Some(list) = self.candidates_from_pse()?
            && !list.is_empty()
        {
            return Ok(list);
        }
        self.candidates_from_aid_list()
    }

    /// Book 1 §12.4: chooses from the candidate list (priority, confirmation).
    fn choose(&mut self, candidates: &mut Vec<Candidate>) -> Result<Candidate, KernelError> {
        if !self.cfg.cardholder_confirmation {
            candidates.retain(|c| !c.needs_confirmation());
        }
        candidates.sort_by_key(Candidate::rank);
        match candidates.as_slice() {
            [] => Err(KernelError::NotAccepted),
            [only] => {
                if only.needs_confirmation() && !self.screen.confirm_application(&only.view()) {
                    return Err(KernelError::Cancelled);
                }
                Ok(only.clone())
            }
            many => {
                if self.cfg.cardholder_confirmation {
                    let views: Vec<_> = many.iter().map(Candidate::view).collect();
                    let i = self
                        .screen
                        .choose_application(&views)
                        .ok_or(KernelError::Cancelled)?;
                    many.get(i).cloned().ok_or(KernelError::Cancelled)
                } else {
                    many.first().cloned().ok_or(KernelError::NotAccepted)
                }
            }
        }
    }

    /// Book 1 §12.4 final SELECT; `Ok(false)` if it failed (try the next candidate).
    fn final_select(&mut self, c: &Candidate) -> Result<bool, KernelError> {
        let r = self.exchange(&cmd::select(&c.df_name, false))?;
        if !r.sw.is_ok() {
            return Ok(false);
        }
        let Ok(fci) = parse_fci(&r.data) else {
            return Ok(false);
        };
        if fci.df_name != c.df_name {
            return Ok(false);
        }
        self.card = CardData::default();
        self.card.set(tags::DF_NAME, fci.df_name.clone());
        self.card.add_all(&fci.proprietary, true)?;
        self.df_name = fci.df_name;
        self.aid = Some(c.terminal.clone());
        Ok(true)
    }
}

/// Application selection (EMV 4.4 Book 1 §12) followed by initiate application
/// processing (Book 3 §10.1): a GPO answered '6985' removes the candidate and
/// selection resumes (Book 3 §10.1, Book 1 §12.4).
pub(crate) fn select_and_initiate<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
) -> Result<Initiated, KernelError> {
    let mut candidates = ctx.build_candidate_list()?;
    loop {
        let c = ctx.choose(&mut candidates)?;
        candidates.retain(|x| x.df_name != c.df_name);
        if !ctx.final_select(&c)? {
            ctx.msg(Message::TryAgain);
            continue;
        }
        ctx.event(Event::ApplicationSelected {
            label: c.label.clone(),
            aid: hex::encode_upper(&c.df_name),
        });
        match (Selected { candidate: c }).initiate_application_processing(ctx)? {
            Some(init) => return Ok(init),
            None => {
                ctx.msg(Message::TryAgain);
            }
        }
    }
}

impl Selected {
    /// Initiate application processing (Book 3 §10.1): PDOL, GET PROCESSING OPTIONS,
    /// AIP and AFL (formats 1 and 2, Book 3 §6.5.8.4). `Ok(None)`: conditions of use
    /// not satisfied ('6985'), go back to selection.
    pub(crate) fn initiate_application_processing<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Option<Initiated>, KernelError> {
        let _ = &self.candidate;
        let pdol = match ctx.card.get(tags::PDOL) {
            Some(p) => Dol::parse(p).map_err(|e| card_err(format!("PDOL: {e}")))?,
            None => Dol::default(),
        };
        let pdol_data = ctx.build_dol(&pdol);
        let Some(afl) = get_processing_options(ctx, &pdol, pdol_data)? else {
            return Ok(None);
        };
        Ok(Some(Initiated { afl }))
    }
}

/// A GENERATE AC response (Book 3 §6.5.5.4): format 1 (`80`: CID ‖ ATC ‖ AC ‖
/// IAD) or format 2 (`77` with `9F27`, `9F36`, `9F26`, `9F10`, and `9F4B` under
/// CDA). `response_tlvs` are the format 2 objects other than `9F4B`, as the CDA
/// transaction data hash needs them (Book 2 §6.6.1).
pub(crate) struct AcResponse {
    pub(crate) cid: u8,
    pub(crate) atc: Vec<u8>,
    pub(crate) ac: Option<Vec<u8>>,
    pub(crate) iad: Vec<u8>,
    pub(crate) sdad: Option<Vec<u8>>,
    pub(crate) response_tlvs: Vec<u8>,
}

/// Parses a GENERATE AC response; shared by the contact and contactless kernels.
pub(crate) fn parse_generate_ac_response(data: &[u8]) -> Result<AcResponse, KernelError> {
    let list = data::parse(data)?;
    let mut response_tlvs = Vec::new();
    let mut sdad = None;
    let (cid, atc, ac, iad) = match list.as_slice() {
        [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_1 => {
            let v = t.value_bytes().unwrap_or_default();
            if v.len() < 11 || v.len() > 43 {
                return Err(card_err("GENERATE AC format 1 has a wrong length"));
            }
            let (cid, rest) = v.split_at(1);
            let (atc, rest) = rest.split_at(2);
            let (ac, iad) = rest.split_at(8);
            (
                cid.first().copied().unwrap_or(0),
                atc.to_vec(),
                Some(ac.to_vec()),
                iad.to_vec(),
            )
        }
        [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_2 => {
            let mut seen = CardData::default();
            seen.add_all(t.children(), true)?;
            let outer = lamina_tlv::parse(data)
                .next()
                .ok_or(card_err("empty GENERATE AC response"))?
                .map_err(|e| card_err(e.to_string()))?;
            for c in outer.children() {
                let c = c.map_err(|e| card_err(e.to_string()))?;
                if c.tag.number() == tags::SIGNED_DYNAMIC_APPLICATION_DATA {
                    sdad = Some(c.value.to_vec());
                } else {
                    response_tlvs.extend_from_slice(c.raw);
                }
            }
            let cid = seen
                .get(tags::CID)
                .and_then(|v| v.first().copied())
                .ok_or(card_err("CID (9F27) missing"))?;
            let atc = seen.get(tags::ATC).ok_or(card_err("ATC (9F36) missing"))?;
            (
                cid,
                atc.to_vec(),
                seen.get(tags::AC).map(<[u8]>::to_vec),
                seen.get(tags::IAD).unwrap_or_default().to_vec(),
            )
        }
        _ => return Err(card_err("GENERATE AC response is neither 80 nor 77")),
    };
    Ok(AcResponse {
        cid,
        atc,
        ac,
        iad,
        sdad,
        response_tlvs,
    })
}

/// GET PROCESSING OPTIONS with the PDOL-related data (Book 3 §6.5.8, §10.1):
/// AIP and AFL from response format 1 (`80`) or 2 (`77`); `Ok(None)` when the card
/// answers '6985' (conditions of use not satisfied: back to selection). Shared by
/// the contact and the contactless kernels.
pub(crate) fn get_processing_options<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    pdol: &Dol,
    pdol_data: Vec<u8>,
) -> Result<Option<Vec<AflEntry>>, KernelError> {
    let r = ctx.exchange_dol(&cmd::get_processing_options(&pdol_data), pdol, &pdol_data)?;
    if r.sw == StatusWord::CONDITIONS_NOT_SATISFIED {
        return Ok(None);
    }
    if !r.sw.is_ok() {
        return Err(card_err(format!("GET PROCESSING OPTIONS: {}", r.sw)));
    }
    ctx.pdol_data = pdol_data;
    let list = data::parse(&r.data)?;
    let (aip, afl) = match list.as_slice() {
        [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_1 => {
            let v = t.value_bytes().unwrap_or_default();
            if v.len() < 2 {
                return Err(card_err("GPO format 1 shorter than the AIP"));
            }
            let (aip, afl) = v.split_at(2);
            (aip.to_vec(), afl.to_vec())
        }
        [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_2 => {
            ctx.card.add_all(t.children(), true)?;
            let aip = ctx
                .card
                .get(tags::AIP)
                .ok_or(card_err("AIP (82) missing"))?;
            let afl = ctx
                .card
                .get(tags::AFL)
                .ok_or(card_err("AFL (94) missing"))?;
            (aip.to_vec(), afl.to_vec())
        }
        _ => return Err(card_err("GPO response is neither template 80 nor 77")),
    };
    if aip.len() != 2 {
        return Err(card_err("AIP is not 2 bytes"));
    }
    let afl = parse_afl(&afl)?;
    ctx.card.set(tags::AIP, aip);
    Ok(Some(afl))
}

/// Checks and splits the AFL (Book 3 §10.2: SFI 1–30, first ≥ 1, last ≥ first,
/// ODA records ≤ records).
pub fn parse_afl(afl: &[u8]) -> Result<Vec<AflEntry>, KernelError> {
    if afl.is_empty() || !afl.len().is_multiple_of(4) {
        return Err(card_err("AFL length is not a positive multiple of 4"));
    }
    afl.chunks_exact(4)
        .map(|c| match c {
            [a, b, l, o] => {
                let e = AflEntry {
                    sfi: a >> 3,
                    first: *b,
                    last: *l,
                    oda: *o,
                };
                if a & 0x07 != 0
                    || !(1..=30).contains(&e.sfi)
                    || e.first == 0
                    || e.last < e.first
                    || u16::from(e.oda) > u16::from(e.last - e.first) + 1
                {
                    Err(card_err("AFL entry invalid"))
                } else {
                    Ok(e)
                }
            }
            _ => Err(card_err("AFL entry truncated")),
        })
        .collect()
}

impl Initiated {
    /// Read application data (Book 3 §10.2): every record the AFL names; records
    /// for ODA collected as static data (Book 3 §10.3); duplicates and missing
    /// mandatory data (Book 3 §7.2: 5F24, 5A, 8C, 8D) terminate.
    pub(crate) fn read_application_data<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<DataRead, KernelError> {
        read_records(
            ctx,
            &self.afl,
            &[
                (
                    tags::APPLICATION_EXPIRATION_DATE,
                    "Application Expiration Date (5F24)",
                ),
                (tags::PAN, "PAN (5A)"),
                (tags::CDOL1, "CDOL1 (8C)"),
                (tags::CDOL2, "CDOL2 (8D)"),
            ],
        )?;
        Ok(DataRead(()))
    }
}

/// READ RECORD for every AFL entry (Book 3 §10.2): records of SFI 1–10 must be
/// template `70`; the records flagged for ODA build the static data to be
/// authenticated (Book 2 §5.4), with the AIP when the SDA Tag List is `82`; the
/// `mandatory` data objects must be present. Shared by the contact and the
/// contactless kernels.
pub(crate) fn read_records<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    afl: &[AflEntry],
    mandatory: &[(u32, &str)],
) -> Result<(), KernelError> {
    ctx.static_data.clear();
    ctx.static_data_ok = true;
    for e in afl {
        for rec in e.first..=e.last {
            let r = ctx.exchange(&cmd::read_record(e.sfi, rec))?;
            if !r.sw.is_ok() {
                return Err(card_err(format!(
                    "READ RECORD SFI {} record {rec}: {}",
                    e.sfi, r.sw
                )));
            }
            let for_oda = u16::from(rec) < u16::from(e.first) + u16::from(e.oda);
            let first = lamina_tlv::parse(&r.data).next();
            let is70 = matches!(&first, Some(Ok(t)) if t.tag.number() == tags::RECORD_TEMPLATE);
            if e.sfi <= 10 {
                let Some(Ok(t)) = first else {
                    return Err(card_err("record is not BER-TLV"));
                };
                if t.tag.number() != 0x70 {
                    return Err(card_err("record in SFI 1-10 is not template 70"));
                }
                if for_oda {
                    ctx.static_data.extend_from_slice(t.value);
                }
            } else if for_oda {
                if !is70 {
                    ctx.static_data_ok = false;
                }
                ctx.static_data.extend_from_slice(&r.data);
            }
            if is70 || e.sfi <= 10 {
                let t = data::template(&r.data, tags::RECORD_TEMPLATE, "70 (record)")?;
                ctx.card.add_all(t.children(), true)?;
            }
        }
    }
    for (tag, name) in mandatory {
        if !ctx.card.has(*tag) {
            return Err(card_err(format!("mandatory {name} missing")));
        }
    }
    if ctx.pan().is_none() {
        return Err(card_err("PAN (5A) is not a valid cn PAN"));
    }
    if let Some(list) = ctx.card.get(tags::STATIC_DATA_AUTHENTICATION_TAG_LIST) {
        if list == [0x82] {
            let aip = ctx.card.get(tags::AIP).unwrap_or_default().to_vec();
            ctx.static_data.extend_from_slice(&aip);
        } else {
            ctx.static_data_ok = false;
        }
    }
    Ok(())
}

impl DataRead {
    /// Offline data authentication (Book 3 §10.3; Book 2 §5, §6): chooses CDA, DDA
    /// or SDA from the AIP and terminal capabilities and performs it (CDA's
    /// signature is checked at GENERATE AC). Failures set TVR bits, never terminate.
    pub(crate) fn offline_data_authentication<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Authenticated, KernelError> {
        crate::oda::perform(ctx)?;
        Ok(Authenticated { oda: OdaDone(()) })
    }
}

impl Authenticated {
    /// Processing restrictions (Book 3 §10.4): application versions, Application
    /// Usage Control, effective and expiration dates.
    pub(crate) fn processing_restrictions<R: CryptoRng>(self, ctx: &mut Ctx<'_, R>) -> Restricted {
        // §10.4.1 Application Version Number.
        if let (Some(card), Some(term)) = (
            ctx.card.get(tags::APPLICATION_VERSION_NUMBER_ICC),
            ctx.aid.as_ref(),
        ) && card != term.app_version
        {
            ctx.tvr.set(TvrBit::DifferentApplicationVersions);
        }
        // §10.4.2 Application Usage Control.
        if let Some(auc) = ctx
            .card
            .get(tags::AUC)
            .and_then(|v| lamina_emv::bitmaps::Auc::from_slice(v).ok())
        {
            let atm = ctx.cfg.is_atm();
            let mut allowed = if atm {
                auc.is_set(AucBit::Atm)
            } else {
                auc.is_set(AucBit::NonAtm)
            };
            if let Some(country) = ctx
                .card
                .get(tags::ISSUER_COUNTRY_CODE)
                .and_then(data::from_bcd)
            {
                let domestic = country == u64::from(ctx.cfg.country);
                let r = ctx.req;
                let need = |d: AucBit, i: AucBit| auc.is_set(if domestic { d } else { i });
                if r.is_cash() {
                    allowed &= need(AucBit::DomesticCash, AucBit::InternationalCash);
                } else if r.services {
                    allowed &= need(AucBit::DomesticServices, AucBit::InternationalServices);
                } else {
                    allowed &= need(AucBit::DomesticGoods, AucBit::InternationalGoods);
                }
                if r.is_cashback() || r.amount_other > 0 {
                    allowed &= need(AucBit::DomesticCashback, AucBit::InternationalCashback);
                }
            }
            if !allowed {
                ctx.tvr.set(TvrBit::ServiceNotAllowed);
            }
        }
        // §10.4.3 Application Effective/Expiration Dates.
        let today = ctx.now.date_number();
        if let Some(eff) = ctx.card.get(tags::APPLICATION_EFFECTIVE_DATE)
            && date_number(eff).is_none_or(|d| d > today)
        {
            ctx.tvr.set(TvrBit::ApplicationNotYetEffective);
        }
        if ctx
            .card
            .get(tags::APPLICATION_EXPIRATION_DATE)
            .and_then(date_number)
            .is_none_or(|d| d < today)
        {
            ctx.tvr.set(TvrBit::ExpiredApplication);
        }
        Restricted { oda: self.oda }
    }
}

impl Restricted {
    /// Cardholder verification (Book 3 §10.5, Book 4 §6.3.4).
    pub(crate) fn cardholder_verification<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Verified, KernelError> {
        crate::cvm::perform(ctx)?;
        Ok(Verified {
            oda: self.oda,
            cvm: CvmDone(()),
        })
    }
}

impl Verified {
    /// Terminal risk management (Book 3 §10.6): floor limit, random transaction
    /// selection, velocity checking, exception file; merchant-forced online.
    pub(crate) fn terminal_risk_management<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<RiskManaged, KernelError> {
        if ctx.req.force_online {
            ctx.tvr.set(TvrBit::MerchantForcedOnline);
        }
        // §10.6.1 exception file (Book 4 §6.5.1).
        if let Some(pan) = ctx.pan()
            && ctx.cfg.exception_file.contains(&pan)
        {
            ctx.tvr.set(TvrBit::CardOnExceptionFile);
        }
        if ctx
            .aip()
            .is_set(AipBit::TerminalRiskManagementToBePerformed)
        {
            let floor = ctx.aid.as_ref().map_or(0, |a| a.floor_limit);
            let amount = ctx.req.amount;
            // §10.6.1 floor limits.
            if amount >= floor {
                ctx.tvr.set(TvrBit::FloorLimitExceeded);
            } else if random_selection(ctx, amount, floor) {
                // §10.6.2 random transaction selection.
                ctx.tvr.set(TvrBit::RandomlySelectedOnline);
            }
            // §10.6.3 velocity checking.
            velocity_check(ctx)?;
            ctx.tsi.set(TsiBit::TerminalRiskManagementPerformed);
        }
        Ok(RiskManaged {
            oda: self.oda,
            cvm: self.cvm,
            trm: TrmDone(()),
        })
    }
}

/// Book 3 §10.6.2: random transaction selection with biased probability between
/// the threshold and the floor limit.
fn random_selection<R: CryptoRng>(ctx: &mut Ctx<'_, R>, amount: u64, floor: u64) -> bool {
    let rs = ctx.cfg.random_selection;
    if rs.target_percent == 0 && rs.max_target_percent == 0 {
        return false;
    }
    let n = u64::from(ctx.rng.next_u32() % 99 + 1);
    let target = if amount < rs.threshold || floor <= rs.threshold {
        u64::from(rs.target_percent)
    } else {
        let span = floor - rs.threshold;
        let extra = u64::from(rs.max_target_percent.saturating_sub(rs.target_percent))
            * (amount - rs.threshold);
        u64::from(rs.target_percent) + extra / span
    };
    n <= target
}

/// Book 3 §10.6.3: velocity checking with LCOL (9F14) and UCOL (9F23).
fn velocity_check<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<(), KernelError> {
    if !ctx.cfg.velocity_check {
        return Ok(());
    }
    let (Some(lcol), Some(ucol)) = (
        ctx.card
            .get(tags::LOWER_CONSECUTIVE_OFFLINE_LIMIT)
            .and_then(|v| v.first().copied()),
        ctx.card
            .get(tags::UPPER_CONSECUTIVE_OFFLINE_LIMIT)
            .and_then(|v| v.first().copied()),
    ) else {
        return Ok(());
    };
    let atc = get_data_u16(ctx, 0x9F36)?;
    let last = get_data_u16(ctx, 0x9F13)?;
    match (atc, last) {
        (Some(atc), Some(last)) if atc > last => {
            let diff = atc - last;
            if diff > u16::from(lcol) {
                ctx.tvr.set(TvrBit::LowerConsecutiveOfflineLimitExceeded);
            }
            if diff > u16::from(ucol) {
                ctx.tvr.set(TvrBit::UpperConsecutiveOfflineLimitExceeded);
            }
            if last == 0 {
                ctx.tvr.set(TvrBit::NewCard);
            }
        }
        (Some(_), Some(0)) => {
            ctx.tvr.set(TvrBit::LowerConsecutiveOfflineLimitExceeded);
            ctx.tvr.set(TvrBit::UpperConsecutiveOfflineLimitExceeded);
            ctx.tvr.set(TvrBit::NewCard);
        }
        _ => {
            ctx.tvr.set(TvrBit::LowerConsecutiveOfflineLimitExceeded);
            ctx.tvr.set(TvrBit::UpperConsecutiveOfflineLimitExceeded);
        }
    }
    Ok(())
}

/// GET DATA of a 2-byte counter (Book 3 §6.5.7); `None` if the card does not give it.
pub(crate) fn get_data_u16<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    tag: u16,
) -> Result<Option<u16>, KernelError> {
    get_data(ctx, tag).map(|v| {
        v.and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok())
            .map(u16::from_be_bytes)
    })
}

/// GET DATA (Book 3 §6.5.7): the value of `tag`, or `None`.
pub(crate) fn get_data<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    tag: u16,
) -> Result<Option<Vec<u8>>, KernelError> {
    let r = ctx.exchange(&cmd::get_data(tag))?;
    if !r.sw.is_ok() {
        return Ok(None);
    }
    match data::parse(&r.data) {
        Ok(list) => Ok(list
            .iter()
            .find(|t| t.tag.number() == u32::from(tag))
            .and_then(Tlv::value_bytes)
            .map(<[u8]>::to_vec)),
        Err(_) => Ok(None),
    }
}

/// Issuer Action Codes from the card, with the Book 3 §10.7 defaults (denial all
/// zero; online and default all ones when absent).
fn iac<R: CryptoRng>(ctx: &Ctx<'_, R>, tag: u32, absent: u8) -> Tvr {
    ctx.card
        .get(tag)
        .and_then(|v| Tvr::from_slice(v).ok())
        .unwrap_or(Tvr([absent; 5]))
}

fn matches(tvr: &Tvr, a: &Tvr, b: &Tvr) -> bool {
    tvr.0
        .iter()
        .zip(a.0.iter().zip(b.0.iter()))
        .any(|(t, (x, y))| t & (x | y) != 0)
}

impl RiskManaged {
    /// Terminal action analysis (Book 3 §10.7): TVR against TAC/IAC denial, online
    /// and default.
    pub(crate) fn terminal_action_analysis<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> ReadyForGenerateAc {
        let tac = ctx.aid.as_ref().map(|a| a.tac).unwrap_or_default();
        let tvr = ctx.tvr;
        let requested = if matches(&tvr, &tac.denial, &iac(ctx, 0x9F0E, 0x00)) {
            AcType::Aac
        } else if can_go_online(ctx) {
            if matches(&tvr, &tac.online, &iac(ctx, 0x9F0F, 0xFF)) {
                AcType::Arqc
            } else {
                AcType::Tc
            }
        } else if matches(&tvr, &tac.default, &iac(ctx, 0x9F0D, 0xFF)) {
            AcType::Aac
        } else {
            AcType::Tc
        };
        let cda = ctx.oda == Some(OdaMethod::Cda)
            && ctx.icc_key.is_some()
            && !ctx.tvr.is_set(TvrBit::CdaFailed)
            && requested != AcType::Aac;
        ReadyForGenerateAc {
            requested,
            cda,
            _proofs: (self.oda, self.cvm, self.trm),
        }
    }
}

fn can_go_online<R: CryptoRng>(ctx: &Ctx<'_, R>) -> bool {
    ctx.cfg.online_capable && ctx.acquirer.is_some()
}

/// Default action analysis when the terminal cannot go online (Book 3 §10.7,
/// "unable to go online"): TAC/IAC-default.
fn default_action<R: CryptoRng>(ctx: &Ctx<'_, R>) -> AcType {
    let tac = ctx.aid.as_ref().map(|a| a.tac).unwrap_or_default();
    if matches(&ctx.tvr, &tac.default, &iac(ctx, 0x9F0D, 0xFF)) {
        AcType::Aac
    } else {
        AcType::Tc
    }
}

// ---------------------------------------------------------------------------
// GENERATE AC and card action analysis (Book 3 §10.8, §6.5.5)
// ---------------------------------------------------------------------------

impl<R: CryptoRng> Ctx<'_, R> {
    /// TDOL processing (Book 3 §5.4, §10.7): TC Hash Value `98` when a CDOL asks.
    fn tc_hash(&mut self, cdol: &Dol) {
        if !cdol
            .entries
            .iter()
            .any(|e| e.tag.number() == tags::TRANSACTION_CERTIFICATE_HASH_VALUE)
        {
            return;
        }
        let tdol = match self.card.get(tags::TDOL).and_then(|v| Dol::parse(v).ok()) {
            Some(d) => d,
            None => {
                let d = self
                    .aid
                    .as_ref()
                    .map(|a| a.default_tdol.clone())
                    .unwrap_or_default();
                if !d.entries.is_empty() {
                    self.tvr.set(TvrBit::DefaultTdolUsed);
                }
                d
            }
        };
        let tdol_data = self.build_dol(&tdol);
        // SHA-1 over the TDOL data: the CDA hash of the crypto crate with only the
        // first field filled is exactly SHA-1(TDOL data).
        let hash = lamina_crypto::pki::transaction_data_hash_code(
            &lamina_crypto::pki::CdaTransactionData {
                pdol_data: &tdol_data,
                ..Default::default()
            },
        );
        self.card
            .set(tags::TRANSACTION_CERTIFICATE_HASH_VALUE, hash.to_vec());
    }

    /// GENERATE AC (Book 3 §6.5.5) and card action analysis (§10.8).
    fn generate_ac(
        &mut self,
        n: u8,
        requested: AcType,
        cda: bool,
    ) -> Result<GenAcAnswer, KernelError> {
        let cdol_tag = if n == 1 { 0x8C } else { 0x8D };
        let cdol = Dol::parse(self.card.get(cdol_tag).unwrap_or_default())
            .map_err(|e| card_err(format!("CDOL{n}: {e}")))?;
        self.tc_hash(&cdol);
        let cdol_data = self.build_dol(&cdol);
        let p1 = requested.p1() | if cda { 0x10 } else { 0x00 };
        let r = self.exchange_dol(&cmd::generate_ac(p1, &cdol_data), &cdol, &cdol_data)?;
        if !r.sw.is_ok() {
            return Err(card_err(format!("GENERATE AC: {}", r.sw)));
        }
        if n == 1 {
            self.cdol1_data = cdol_data.clone();
        }
        let AcResponse {
            cid,
            atc,
            ac,
            iad,
            sdad,
            response_tlvs,
        } = parse_generate_ac_response(&r.data)?;
        let returned = AcType::from_cid(cid).ok_or(card_err("CID says RFU cryptogram type"))?;
        if returned.rank() > requested.rank() || (n == 2 && returned == AcType::Arqc) {
            return Err(card_err(format!(
                "card returned {returned:?} where {requested:?} was requested"
            )));
        }
        let atc_v: [u8; 2] = atc
            .as_slice()
            .try_into()
            .map_err(|_| card_err("ATC is not 2 bytes"))?;
        self.card.set(tags::CID, vec![cid]);
        self.card.set(tags::ATC, atc_v.to_vec());
        self.card.set(tags::IAD, iad.clone());
        let mut cda_verified = false;
        let ac = if cda && returned != AcType::Aac {
            let checked =
                crate::oda::verify_cda(self, sdad.as_deref(), cid, &cdol_data, n, &response_tlvs);
            match checked {
                Some(ac) => {
                    cda_verified = true;
                    ac.to_vec()
                }
                None => {
                    self.tvr.set(TvrBit::CdaFailed);
                    Vec::new()
                }
            }
        } else {
            ac.ok_or(card_err("Application Cryptogram (9F26) missing"))?
        };
        if ac.len() == 8 {
            self.card.set(tags::AC, ac.clone());
        } else if !self.tvr.is_set(TvrBit::CdaFailed) {
            return Err(card_err("Application Cryptogram is not 8 bytes"));
        }
        if cid & 0x08 != 0 {
            self.advice = true;
        }
        self.tsi.set(TsiBit::CardRiskManagementPerformed);
        self.cryptograms.push(Cryptogram {
            generate_ac: n,
            requested,
            returned,
            cid,
            atc: u16::from_be_bytes(atc_v),
            ac: hex::encode_upper(&ac),
            iad: hex::encode_upper(&iad),
            cda_verified,
        });
        Ok(GenAcAnswer { returned, cid })
    }
}

impl ReadyForGenerateAc {
    /// First GENERATE AC (Book 3 §10.8 card action analysis) and everything after:
    /// online processing (§10.9), issuer authentication, scripts (§10.10) and
    /// completion (§10.11).
    pub(crate) fn first_generate_ac<R: CryptoRng>(
        self,
        ctx: &mut Ctx<'_, R>,
    ) -> Result<Outcome, KernelError> {
        let first = ctx.generate_ac(1, self.requested, self.cda)?;
        let cda_failed = self.cda && ctx.tvr.is_set(TvrBit::CdaFailed);
        if first.cid & 0x07 == 0x01 {
            ctx.msg(Message::NotAccepted);
        }
        // Book 4 Annex A6: Authorisation Response Codes of offline decisions,
        // Y1 offline approved, Z1 offline declined.
        match first.returned {
            AcType::Aac => {
                ctx.arc = Some(*b"Z1");
                Ok(Outcome::DeclinedOffline)
            }
            AcType::Tc if cda_failed => {
                ctx.arc = Some(*b"Z1");
                Ok(Outcome::DeclinedOffline)
            }
            AcType::Tc => {
                ctx.arc = Some(*b"Y1");
                Ok(Outcome::ApprovedOffline)
            }
            AcType::Arqc if cda_failed => {
                // Book 2 §6.6.2 / Book 4 §6.3.2: CDA failed on an ARQC: do not go
                // online; complete with an AAC.
                ctx.arc = Some(*b"Z1");
                let _ = ctx.generate_ac(2, AcType::Aac, false)?;
                Ok(Outcome::DeclinedOffline)
            }
            AcType::Arqc => online_and_complete(ctx, self.cda),
        }
    }
}

/// The ICC data of an authorisation or clearing message (Book 4 §12.2.1, Table 16 data).
fn icc_data<R: CryptoRng>(ctx: &Ctx<'_, R>) -> Vec<u8> {
    let src = ctx.dol_source();
    let mut out = Vec::new();
    for tag in [
        0x9F26u32, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
        0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F1E, 0x5F34, 0x9F41, 0x9F21, 0x9B,
    ] {
        if let Some(v) = src.get(&Tag::new(tag)) {
            out.extend(Tlv::primitive(tag, v.clone()).encode());
        }
    }
    out
}

/// The authorisation request of this transaction (Book 3 §10.7, Book 4 §6.3.6):
/// card and terminal data, the ICC data for field 55, the online PIN if any.
fn authorization_request<R: CryptoRng>(ctx: &Ctx<'_, R>) -> AuthorizationRequest {
    let pan = ctx.pan().unwrap_or_default();
    AuthorizationRequest {
        stan: ctx.req.stan,
        pan,
        pan_sequence: ctx
            .card
            .get(tags::PAN_SEQUENCE_NUMBER)
            .and_then(|v| v.first().copied()),
        expiry: ctx
            .card
            .get(tags::APPLICATION_EXPIRATION_DATE)
            .and_then(|v| <[u8; 3]>::try_from(v).ok())
            .unwrap_or_default(),
        amount: ctx.req.amount,
        amount_other: ctx.req.amount_other,
        currency: ctx.cfg.currency,
        transaction_type: ctx.req.transaction_type,
        terminal_id: ctx.cfg.terminal_id.clone(),
        merchant_id: ctx.cfg.merchant_id.clone(),
        mcc: ctx.cfg.mcc,
        icc_data: icc_data(ctx),
        pin: ctx.online_pin.clone(),
        track2: ctx
            .card
            .get(tags::TRACK2_EQUIVALENT_DATA)
            .map(<[u8]>::to_vec),
    }
}

/// Sends the request over the acquirer link; the answer, or `None` when the
/// terminal could not go online (the link's reason is kept for the result).
fn request_authorization<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    request: &AuthorizationRequest,
) -> Option<AuthorizationResponse> {
    match ctx.acquirer.as_mut().map(|link| link.authorize(request)) {
        Some(Ok(resp)) => Some(resp),
        Some(Err(e)) => {
            ctx.online_failure = Some(e.0);
            None
        }
        None => None,
    }
}

/// Online processing (Book 3 §10.9), issuer authentication, issuer scripts
/// (§10.10) and completion (§10.11).
fn online_and_complete<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    cda: bool,
) -> Result<Outcome, KernelError> {
    ctx.msg(Message::PleaseWait);
    ctx.event(Event::GoingOnline);
    let request = authorization_request(ctx);
    let answer = request_authorization(ctx, &request);
    let Some(resp) = answer else {
        // Unable to go online (Book 3 §10.7 default action; Book 4 §6.3.7 ARC Y3/Z3).
        let want = default_action(ctx);
        ctx.arc = Some(if want == AcType::Tc { *b"Y3" } else { *b"Z3" });
        let second = ctx.generate_ac(2, want, cda && want == AcType::Tc)?;
        return Ok(match second.returned {
            AcType::Tc if !ctx.tvr.is_set(TvrBit::CdaFailed) => Outcome::ApprovedOffline,
            _ => Outcome::DeclinedOffline,
        });
    };
    ctx.arc = Some(resp.response_code);
    let approved = resp.approved();
    if resp.referral() {
        ctx.msg(Message::CallYourBank);
    }
    issuer_authentication(ctx, &resp)?;
    let scripts = data::parse(&resp.scripts).unwrap_or_default();
    run_scripts(ctx, &scripts, 0x71);
    let want = if approved { AcType::Tc } else { AcType::Aac };
    let second = match ctx.generate_ac(2, want, cda && want == AcType::Tc) {
        Ok(s) => s,
        Err(e) => {
            if approved {
                reverse(ctx, &request, ReversalReason::CardErrorAfterApproval);
            }
            return Err(e);
        }
    };
    run_scripts(ctx, &scripts, 0x72);
    let card_ok = second.returned == AcType::Tc && !ctx.tvr.is_set(TvrBit::CdaFailed);
    if approved && !card_ok {
        reverse(ctx, &request, ReversalReason::CardDeclinedAfterApproval);
    }
    Ok(if approved && card_ok {
        Outcome::ApprovedOnline
    } else {
        Outcome::DeclinedOnline
    })
}

fn reverse<R: CryptoRng>(ctx: &mut Ctx<'_, R>, req: &AuthorizationRequest, why: ReversalReason) {
    let rev = Reversal {
        stan: req.stan,
        amount: req.amount,
        reason: why,
        icc_data: icc_data(ctx),
    };
    if let Some(link) = ctx.acquirer.as_mut()
        && link.reverse(&rev).is_ok()
    {
        ctx.reversal_sent = true;
    }
}

/// Issuer authentication (Book 3 §10.9): the Issuer Authentication Data `91` goes
/// to the card in EXTERNAL AUTHENTICATE, or in the second GENERATE AC when CDOL2
/// asks for it.
fn issuer_authentication<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    resp: &AuthorizationResponse,
) -> Result<(), KernelError> {
    let Some(iad) = resp.issuer_authentication_data.clone() else {
        return Ok(());
    };
    if !(8..=16).contains(&iad.len()) {
        ctx.tvr.set(TvrBit::IssuerAuthenticationFailed);
        return Ok(());
    }
    ctx.issuer_auth_data = Some(iad.clone());
    if !ctx.aip().is_set(AipBit::IssuerAuthenticationSupported) {
        return Ok(());
    }
    let in_cdol2 = Dol::parse(ctx.card.get(tags::CDOL2).unwrap_or_default())
        .map(|d| {
            d.entries
                .iter()
                .any(|e| e.tag.number() == tags::ISSUER_AUTHENTICATION_DATA)
        })
        .unwrap_or(false);
    ctx.tsi.set(TsiBit::IssuerAuthenticationPerformed);
    if in_cdol2 {
        return Ok(());
    }
    let r = ctx.exchange(&cmd::external_authenticate(&iad))?;
    if !r.sw.is_ok() {
        ctx.tvr.set(TvrBit::IssuerAuthenticationFailed);
    }
    Ok(())
}

/// Issuer script processing (Book 3 §10.10, Book 4 §6.3.9): every template `kind`
/// (`71` before, `72` after the final GENERATE AC), commands `86` in order; a
/// status other than '90xx', '62xx', '63xx' stops that script. Results go to
/// Issuer Script Results (Book 4 Annex A5).
fn run_scripts<R: CryptoRng>(ctx: &mut Ctx<'_, R>, scripts: &[Tlv], kind: u32) {
    for s in scripts.iter().filter(|s| s.tag.number() == kind) {
        ctx.tsi.set(TsiBit::ScriptProcessingPerformed);
        let id = s
            .children()
            .iter()
            .find(|c| c.tag.number() == tags::ISSUER_SCRIPT_IDENTIFIER)
            .and_then(Tlv::value_bytes)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .unwrap_or([0; 4]);
        let mut result = 0x20u8;
        let commands: Vec<&Tlv> = s
            .children()
            .iter()
            .filter(|c| c.tag.number() == tags::ISSUER_SCRIPT_COMMAND)
            .collect();
        if commands.is_empty() {
            result = 0x00;
        }
        for (i, c) in commands.iter().enumerate() {
            let seq = u8::try_from((i + 1).min(15)).unwrap_or(15);
            let ok = c
                .value_bytes()
                .and_then(|raw| Command::parse(raw).ok())
                .map(|apdu| match ctx.exchange(&apdu) {
                    Ok(r) => io::script_sw_ok(r.sw),
                    Err(_) => false,
                })
                .unwrap_or(false);
            if !ok {
                result = 0x10 | seq;
                break;
            }
        }
        if result & 0xF0 != 0x20 {
            ctx.tvr.set(if kind == 0x71 {
                TvrBit::ScriptFailedBeforeFinalGenerateAc
            } else {
                TvrBit::ScriptFailedAfterFinalGenerateAc
            });
        }
        ctx.script_results.push(result);
        ctx.script_results.extend_from_slice(&id);
    }
}

// ---------------------------------------------------------------------------
// The whole transaction
// ---------------------------------------------------------------------------

/// The contact flow, step by step (Book 3 §10, Book 4 §6.3).
fn flow<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<Outcome, KernelError> {
    ctx.io.power_on().map_err(|e| match e {
        IoError::CardRemoved => KernelError::NoCard,
        other => other.into(),
    })?;
    let initiated = select_and_initiate(ctx)?;
    let read = initiated.read_application_data(ctx)?;
    let authenticated = read.offline_data_authentication(ctx)?;
    let restricted = authenticated.processing_restrictions(ctx);
    let verified = restricted.cardholder_verification(ctx)?;
    let risk = verified.terminal_risk_management(ctx)?;
    let ready = risk.terminal_action_analysis(ctx);
    ready.first_generate_ac(ctx)
}

/// Runs one contact transaction from card insertion to completion.
///
/// Never panics on card, acquirer or UI behaviour; every failure ends as
/// [`Outcome::Terminated`] with the Book 4 message shown.
pub fn run<'a, R: CryptoRng>(
    config: &'a TerminalConfig,
    request: &'a TransactionRequest,
    devices: Devices<'a>,
    clock: &dyn Clock,
    rng: &'a mut R,
) -> TransactionResult {
    let mut un = [0u8; 4];
    rng.fill_bytes(&mut un);
    let Devices {
        card,
        screen,
        pin_pad,
        acquirer,
        pin_encryptor,
    } = devices;
    let mut ctx = Ctx {
        cfg: config,
        req: request,
        io: CardIo::new(card, request.trace),
        screen,
        pin_pad,
        acquirer,
        pin_encryptor,
        rng,
        now: clock.now(),
        un,
        card: CardData::default(),
        tvr: Tvr::new(),
        tsi: Tsi::new(),
        cvm: CvmResults([0x3F, 0x00, 0x00]),
        arc: None,
        issuer_auth_data: None,
        aid: None,
        df_name: Vec::new(),
        messages: Vec::new(),
        cryptograms: Vec::new(),
        script_results: Vec::new(),
        signature: false,
        online_pin: None,
        pdol_data: Vec::new(),
        cdol1_data: Vec::new(),
        oda: None,
        issuer_key: None,
        icc_key: None,
        static_data: Vec::new(),
        static_data_ok: true,
        reversal_sent: false,
        online_failure: None,
        advice: false,
    };
    let outcome = match flow(&mut ctx) {
        Ok(o) => o,
        Err(e) => {
            let (t, m) = e.termination();
            ctx.msg(m);
            Outcome::Terminated(t)
        }
    };
    finish(ctx, outcome)
}

fn finish<R: CryptoRng>(mut ctx: Ctx<'_, R>, outcome: Outcome) -> TransactionResult {
    let completed = !matches!(outcome, Outcome::Terminated(_));
    match &outcome {
        Outcome::ApprovedOffline | Outcome::ApprovedOnline => {
            ctx.msg(Message::Approved);
            if ctx.signature {
                ctx.event(Event::SignatureRequired);
            }
        }
        Outcome::DeclinedOffline | Outcome::DeclinedOnline => ctx.msg(Message::Declined),
        Outcome::Terminated(_) => {}
    }
    // An offline approval is reported for clearing (Book 4 §12.4).
    let offline_advice = match (&outcome, ctx.arc) {
        (Outcome::ApprovedOffline, Some(arc)) => {
            crate::clearing::offline_advice(crate::clearing::AdviceSource {
                card: &ctx.card,
                cfg: ctx.cfg,
                req: ctx.req,
                now: ctx.now,
                interface: crate::clearing::CardInterface::Contact,
                arc,
                aid: &ctx.df_name,
                icc_data: icc_data(&ctx),
            })
            .ok()
        }
        _ => None,
    };
    // An advice the card asks for (CID bit 4) goes to the link here, unless the
    // transaction is an offline approval: its offline advice is the report, queued
    // and uploaded by the terminal (sending both would report it twice).
    if completed && ctx.advice && offline_advice.is_none() {
        let advice = Advice {
            stan: ctx.req.stan,
            icc_data: icc_data(&ctx),
            script_results: ctx.script_results.clone(),
            approved: outcome.is_approved(),
        };
        if let Some(link) = ctx.acquirer.as_mut() {
            let _ = link.advise(&advice);
        }
    }
    if !matches!(
        outcome,
        Outcome::Terminated(Termination::CardRemoved | Termination::NoCard)
    ) {
        ctx.msg(Message::RemoveCard);
    }
    ctx.io.power_off();
    let arc = ctx.arc.map(|a| String::from_utf8_lossy(&a).into_owned());
    let pan_masked = ctx
        .pan()
        .map(|p| lamina_emv::dict::mask_pan(&p))
        .unwrap_or_default();
    let aid = (!ctx.df_name.is_empty()).then(|| hex::encode_upper(&ctx.df_name));
    let (receipt, record) = if completed {
        let record = TransactionRecord {
            stan: ctx.req.stan,
            pan_masked: pan_masked.clone(),
            aid: aid.clone().unwrap_or_default(),
            amount: ctx.req.amount,
            currency: ctx.cfg.currency,
            date_time: format!(
                "{}{}",
                hex::encode_upper(ctx.now.yymmdd()),
                hex::encode_upper(ctx.now.hhmmss())
            ),
            outcome: outcome.clone(),
            arc: arc.clone(),
            icc_data: hex::encode_upper(icc_data(&ctx)),
            advice: ctx.advice,
        };
        (Some(receipt(&ctx, &outcome, &pan_masked)), Some(record))
    } else {
        (None, None)
    };
    let trace = ctx.io.take_trace();
    TransactionResult {
        messages: ctx.messages.clone(),
        tvr: Decoded::tvr(&ctx.tvr),
        tsi: Decoded::tsi(&ctx.tsi),
        cvm_results: Decoded::cvm(&ctx.cvm),
        arc,
        aid,
        oda: ctx.oda.map(|o| format!("{o:?}").to_uppercase()),
        cryptograms: ctx.cryptograms.clone(),
        script_results: (!ctx.script_results.is_empty())
            .then(|| hex::encode_upper(&ctx.script_results)),
        signature_required: ctx.signature && outcome.is_approved(),
        reversal_sent: ctx.reversal_sent,
        online_failure: ctx.online_failure.take(),
        receipt,
        record,
        offline_advice,
        trace,
        apdu_bytes: ctx.io.bytes,
        apdu_count: ctx.io.commands,
        tvr_raw: ctx.tvr,
        tsi_raw: ctx.tsi,
        cvm_raw: ctx.cvm,
        outcome,
    }
}

/// Formats an amount in minor units with the currency exponent.
pub fn format_amount(amount: u64, exponent: u8) -> String {
    let e = u32::from(exponent.min(6));
    let div = 10u64.pow(e);
    if e == 0 {
        amount.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            amount / div,
            amount % div,
            width = usize::try_from(e).unwrap_or(2)
        )
    }
}

/// The receipt (Book 4 §11.4): merchant and cardholder copies, PAN masked.
fn receipt<R: CryptoRng>(ctx: &Ctx<'_, R>, outcome: &Outcome, pan_masked: &str) -> Receipt {
    let c = ctx.cfg;
    let cur = lamina_emv::dict::currency_alpha(c.currency)
        .map_or_else(|| c.currency.to_string(), str::to_owned);
    let label = ctx
        .card
        .get(tags::APPLICATION_PREFERRED_NAME)
        .or_else(|| ctx.card.get(tags::APPLICATION_LABEL))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let result = match outcome {
        Outcome::ApprovedOffline | Outcome::ApprovedOnline => "APPROVED",
        _ => "DECLINED",
    };
    let mut common = vec![
        c.merchant_name.clone(),
        format!("MID {}  TID {}", c.merchant_id, c.terminal_id),
        format!(
            "20{:02X}-{:02X}-{:02X} {:02X}:{:02X}:{:02X}",
            ctx.now.yymmdd()[0],
            ctx.now.yymmdd()[1],
            ctx.now.yymmdd()[2],
            ctx.now.hhmmss()[0],
            ctx.now.hhmmss()[1],
            ctx.now.hhmmss()[2]
        ),
        format!("{label}  {pan_masked}"),
        format!("AID {}", hex::encode_upper(&ctx.df_name)),
        format!(
            "SALE  {} {cur}",
            format_amount(ctx.req.amount, c.currency_exponent)
        ),
        format!(
            "TVR {}  TSI {}",
            hex::encode_upper(ctx.tvr.0),
            hex::encode_upper(ctx.tsi.0)
        ),
    ];
    if let Some(ac) = ctx.card.get(tags::AC) {
        common.push(format!("AC {}", hex::encode_upper(ac)));
    }
    if let Some(arc) = ctx.arc {
        common.push(format!("ARC {}", String::from_utf8_lossy(&arc)));
    }
    common.push(result.to_owned());
    let mut merchant = common.clone();
    if ctx.signature && outcome.is_approved() {
        merchant.push("SIGNATURE: ______________________".into());
    } else if ctx.cvm.0[2] == 0x02 && matches!(ctx.cvm.0[0] & 0x3F, 0x01 | 0x04) {
        merchant.push("PIN VERIFIED".into());
    }
    merchant.push("MERCHANT COPY".into());
    let mut holder = common;
    holder.push("CARDHOLDER COPY".into());
    Receipt {
        merchant_copy: merchant,
        cardholder_copy: holder,
    }
}
