//! The contactless EMV kernel: EMV Contactless Book A (architecture, pre-processing,
//! outcomes, user interface), Book B (entry point: PPSE, combination selection) and
//! a generic Book C-style kernel modelled on Book C-2 (Mastercard) and Book C-3
//! (Visa), over the contact kernel's helpers (ODA, DOLs, card data).
//!
//! ## The one tap
//!
//! ```text
//!  pre-processing (limits, TTQ) ─ activation ─ SELECT PPSE ─ final SELECT ─ GPO
//!  ─ READ RECORD … ─ CDA key recovery ─ restrictions ─ CVM choice ─ TRM ─ TAA
//!  ─ GENERATE AC (CDA) ─ "card read OK", field off ─┬─ offline: approved / declined
//!                                                   └─ online PIN? ─ authorization
//! ```
//!
//! All card interaction ends with the first (and only) GENERATE AC; the card may
//! then leave the field, and the reader shows **card read OK** before the online
//! authorisation (Book A outcome processing: the "card read successfully" user
//! interface request comes with the online request, before it is sent). There is no second GENERATE AC, no issuer
//! authentication towards the card and no issuer script: the issuer's response
//! code alone decides (as in Book C-3 and C-2 without a second tap).
//!
//! ## Choices made (document of record)
//!
//! | point | choice | modelled on |
//! |---|---|---|
//! | selection | PPSE `2PAY.SYS.DDF01`, entries `61 { 4F, 50, 87, 9F2A }` from `BF0C`; the AID must be one the terminal supports (partial match as configured), the kernel identifier `9F2A` one the reader supports (no `9F2A`: accepted, the default kernel); highest priority `87` first; a failed final SELECT or a GPO answered `6985` selects the next entry | Book B §3.3 |
//! | TTQ `9F66` | byte 1: EMV mode; contact chip if the terminal has contacts; offline-only reader when the terminal cannot go online; online PIN; signature; ODA for online authorisations when CDA is supported. Byte 2: online cryptogram required (amount above the contactless floor limit, or an online-only reader); CVM required (amount at or above the CVM required limit). Byte 3: consumer device CVM | Book A §5.7, Book C-3 Annex A |
//! | pre-processing | amount ≥ Reader Contactless Transaction Limit: the contactless application is not allowed ("insert card", outcome *try another interface*, no card command); amount > Reader Contactless Floor Limit: floor limit exceeded; amount ≥ Reader CVM Required Limit: CVM required | Book A, pre-processing |
//! | ODA | CDA only (AIP byte 1 bit 1, terminal capability and reader setting): ICC public key recovered after the records, signature checked on the GENERATE AC answer with the contact kernel's `verify_cda`. A CDA failure declines (TC or ARQC) | Book C-2 (CDA), Book 2 §6.6 |
//! | CVM | below the CVM required limit: no CVM (`1F0002`). At or above: online PIN first if the card's CTQ `9F6C` demands it; else consumer device CVM when the card announces it (CTQ byte 2 bit 8, or AIP byte 1 bit 2) and the reader supports it (`010002`, the Book C-2 convention); else online PIN (`020000`, TVR "online PIN entered") when the reader supports it, can go online and has a PIN encryptor; else signature (`1E0000`); else "cardholder verification was not successful" (`3F0001`) and the action codes decide | Book C-2 CVM selection, Book C-3 CVM |
//! | TRM | contactless floor limit (TVR "floor limit exceeded"), exception file, merchant forced online; no random selection or velocity checking | Book C-2 |
//! | TAA | TVR against TAC/IAC denial, online, default exactly as the contact kernel; an online-only reader always asks an ARQC | Book 3 §10.7, Book C-2 |
//! | online | no second GENERATE AC: approved iff the issuer's response code approves; unable to go online: declined (`Z3`) | Book C-3 |
//! | online PIN | entered on the PIN pad after the card left the field, ISO 9564-1 format 0 under the PIN pad's DUKPT key, carried in the authorisation request | Book A (online PIN after card read) |
//! | UI | [`Indicator`] (status lights and sounds) next to the Book 4 messages | Book A user interface requirements (status, audio indication) |
//!
//! Not done (yet): Book C-2 torn-transaction recovery, relay resistance, the data
//! exchange, mag-stripe mode, fDDA (Book C-3 signed dynamic data in the GPO
//! answer: the Lamina applet answers GPO with `82`/`94` only), the Book A
//! "restart" outcomes (issuer update on a second tap).

use std::collections::BTreeMap;
use std::time::Duration;

use lamina_card::atr::Interface;
use lamina_card::channel::{CardChannel, ChannelError};
use lamina_card::iso14443::{ContactlessLink, LinkStats};
use lamina_emv::bitmaps::{
    AipBit, Ctq, CtqBit, CvmResults, TerminalCapabilitiesBit as Cap, Tsi, TsiBit, Ttq, TtqBit, Tvr,
    TvrBit,
};
use lamina_emv::dol::Dol;
use lamina_emv::tags;
use lamina_tlv::{Tag, Tlv};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, TerminalConfig};
use crate::data::{self, CardData};
use crate::io::{CardIo, cmd};
use crate::kernel::{
    Clock, Ctx, KernelError, OdaMethod, TransactionRequest, date_number, format_amount,
};
use crate::online::{AcquirerLink, AuthorizationRequest, EncryptedPin, OnlinePinEncryptor};
use crate::outcome::{
    AcType, Cryptogram, Decoded, Outcome, Receipt, Termination, TransactionRecord,
    TransactionResult,
};
use crate::source::ConfigSource;
use crate::ui::{Event, Message, PinEntry, PinPad, PinPurpose, Screen};

/// DF name of the Proximity Payment System Environment (Book B §3.3).
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// The reader's contactless parameters (Book A "Configuration data": Reader
/// Contactless Transaction Limit, Reader Contactless Floor Limit, Reader CVM
/// Required Limit; Book A §5.7 TTQ capabilities). Amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactlessParams {
    /// Reader Contactless Transaction Limit: amounts at or above it are refused
    /// on the contactless interface.
    pub transaction_limit: u64,
    /// Reader Contactless Floor Limit: amounts above it go online.
    pub floor_limit: u64,
    /// Reader CVM Required Limit: at or above it a CVM is required.
    pub cvm_required_limit: u64,
    /// Online-only reader: every transaction asks an ARQC.
    pub online_only: bool,
    /// Online PIN supported (TTQ byte 1 bit 3).
    pub online_pin: bool,
    /// Consumer device CVM supported (TTQ byte 3 bit 7).
    pub cdcvm: bool,
    /// Signature supported (TTQ byte 1 bit 2).
    pub signature: bool,
    /// CDA supported for contactless (TTQ byte 1 bit 1).
    pub cda: bool,
    /// Kernel identifiers `9F2A` the reader accepts in the PPSE (empty: any).
    pub kernel_ids: Vec<u8>,
}

/// A contactless reader's configuration: the terminal (contact kernel data: AIDs,
/// TACs, CAPKs, 9F33 …) plus the contactless parameters.
#[derive(Debug, Clone)]
pub struct ContactlessConfig {
    /// The terminal configuration this reader extends.
    pub terminal: TerminalConfig,
    /// Contactless parameters.
    pub reader: ContactlessParams,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClConfig {
    base: String,
    contactless: RawCl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCl {
    transaction_limit: u64,
    floor_limit: u64,
    cvm_required_limit: u64,
    #[serde(default)]
    online_only: bool,
    #[serde(default = "yes")]
    online_pin: bool,
    #[serde(default = "yes")]
    cdcvm: bool,
    #[serde(default)]
    signature: bool,
    #[serde(default = "yes")]
    cda: bool,
    #[serde(default)]
    kernel_ids: Vec<u8>,
}

fn yes() -> bool {
    true
}

fn cfg_field(name: &str, reason: &str) -> ConfigError {
    ConfigError::Field {
        field: name.to_owned(),
        reason: reason.to_owned(),
    }
}

impl ContactlessConfig {
    /// Parses a contactless reader file: `base` names the terminal file, which
    /// `source` gives; `[contactless]` holds [`ContactlessParams`].
    pub fn from_toml(text: &str, source: &dyn ConfigSource) -> Result<Self, ConfigError> {
        let raw: RawClConfig =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let c = &raw.contactless;
        if c.transaction_limit == 0 {
            return Err(cfg_field(
                "contactless.transaction_limit",
                "must be above zero",
            ));
        }
        if c.kernel_ids.contains(&0) {
            return Err(cfg_field("contactless.kernel_ids", "kernel 0 is RFU"));
        }
        let terminal = TerminalConfig::from_toml(&source.read(&raw.base)?, source)?;
        if c.online_only && !terminal.online_capable {
            return Err(cfg_field(
                "contactless.online_only",
                "the base terminal is not online capable",
            ));
        }
        Ok(ContactlessConfig {
            terminal,
            reader: ContactlessParams {
                transaction_limit: c.transaction_limit,
                floor_limit: c.floor_limit,
                cvm_required_limit: c.cvm_required_limit,
                online_only: c.online_only,
                online_pin: c.online_pin,
                cdcvm: c.cdcvm,
                signature: c.signature,
                cda: c.cda,
                kernel_ids: c.kernel_ids.clone(),
            },
        })
    }
}

// ---------------------------------------------------------------------------
// Devices, indicators, results
// ---------------------------------------------------------------------------

/// A contactless card channel that can report the air-time figures of what it
/// carried (an ISO/IEC 14443-4 [`ContactlessLink`], or a real reader: `None`).
pub trait ContactlessReader: CardChannel {
    /// The link counters since the last call, and resets them.
    fn take_link_stats(&mut self) -> Option<LinkStats>;
}

impl<C: CardChannel> ContactlessReader for ContactlessLink<C> {
    fn take_link_stats(&mut self) -> Option<LinkStats> {
        Some(self.take_stats())
    }
}

/// The reader's status indication (Book A user interface requirements: the four status
/// lights and the audio indication). Emitted next to the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Ready to read: first light on, waiting for a card.
    ReadyToRead,
    /// Card read successfully: all four lights, success tone; the card may go.
    CardReadOk,
    /// Processing (online authorisation) after the card left.
    Processing,
    /// Approved: success tone.
    Approved,
    /// Declined: alert tone.
    Declined,
    /// Processing error (try again, another interface): alert tone.
    ProcessingError,
}

/// Book A's status names.
impl core::fmt::Display for Indicator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Indicator::ReadyToRead => "Ready to Read",
            Indicator::CardReadOk => "Card Read Successfully",
            Indicator::Processing => "Processing",
            Indicator::Approved => "Approved",
            Indicator::Declined => "Declined",
            Indicator::ProcessingError => "Processing Error",
        })
    }
}

/// A reader sound (Book A audio indication: success tone, alert tone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Sound {
    /// No sound.
    None,
    /// Success tone.
    Success,
    /// Alert tone.
    Alert,
}

impl Indicator {
    /// The four status lights (left to right) for this status (Book A
    /// "status indicators", Lamina's pattern).
    pub const fn lights(self) -> [bool; 4] {
        match self {
            Indicator::ReadyToRead => [true, false, false, false],
            Indicator::CardReadOk | Indicator::Approved => [true, true, true, true],
            Indicator::Processing => [true, true, false, false],
            Indicator::Declined | Indicator::ProcessingError => [false, false, false, false],
        }
    }

    /// The sound for this status.
    pub const fn sound(self) -> Sound {
        match self {
            Indicator::CardReadOk | Indicator::Approved => Sound::Success,
            Indicator::Declined | Indicator::ProcessingError => Sound::Alert,
            Indicator::ReadyToRead | Indicator::Processing => Sound::None,
        }
    }
}

/// Where the reader's lights and sounds go.
pub trait StatusIndicator {
    /// Shows a status.
    fn indicate(&mut self, indicator: Indicator);
}

/// The devices around the contactless kernel.
pub struct ContactlessDevices<'a> {
    /// The contactless reader with the card in its field.
    pub reader: &'a mut dyn ContactlessReader,
    /// The display.
    pub screen: &'a mut dyn Screen,
    /// The PIN pad.
    pub pin_pad: &'a mut dyn PinPad,
    /// The acquirer link (`None`: offline only this time).
    pub acquirer: Option<&'a mut dyn AcquirerLink>,
    /// Online PIN encryption (the PIN pad's DUKPT key), if any.
    pub pin_encryptor: Option<&'a mut dyn OnlinePinEncryptor>,
    /// Status lights and sounds, if any (they are also in the result).
    pub status: Option<&'a mut dyn StatusIndicator>,
}

impl core::fmt::Debug for ContactlessDevices<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContactlessDevices")
            .field("acquirer", &self.acquirer.is_some())
            .field("pin_encryptor", &self.pin_encryptor.is_some())
            .finish_non_exhaustive()
    }
}

/// The Book A outcome of a tap (the Status of the Book A Outcome Parameter Set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderOutcome {
    /// Approved (offline, or online by the issuer).
    Approved,
    /// Declined (offline, by the issuer, or unable to go online).
    Declined,
    /// Present the card again (card left the field too early, no card).
    TryAgain,
    /// Use another interface (amount above the contactless transaction limit,
    /// no contactless application).
    TryAnotherInterface,
    /// The transaction ended (card error, cancelled, terminal error).
    EndApplication,
}

/// Book A's Outcome Parameter Set status names.
impl core::fmt::Display for ReaderOutcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ReaderOutcome::Approved => "Approved",
            ReaderOutcome::Declined => "Declined",
            ReaderOutcome::TryAgain => "Try Again",
            ReaderOutcome::TryAnotherInterface => "Try Another Interface",
            ReaderOutcome::EndApplication => "End Application",
        })
    }
}

/// The CVM the contactless kernel chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactlessCvm {
    /// Below the CVM required limit.
    NoCvm,
    /// Online PIN, entered after the card left the field.
    OnlinePin,
    /// Consumer device CVM (performed on the phone or card).
    ConsumerDevice,
    /// Signature on the receipt.
    Signature,
    /// A CVM was required but none could be performed.
    Failed,
}

/// Book A's CVM names ("No CVM", "Online PIN", "Confirmation Code Verified"
/// for a consumer device CVM, "Obtain Signature").
impl core::fmt::Display for ContactlessCvm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ContactlessCvm::NoCvm => "No CVM",
            ContactlessCvm::OnlinePin => "Online PIN",
            ContactlessCvm::ConsumerDevice => "Confirmation Code Verified",
            ContactlessCvm::Signature => "Obtain Signature",
            ContactlessCvm::Failed => "CVM failed",
        })
    }
}

/// Everything one tap produced.
#[derive(Debug, Clone)]
pub struct ContactlessResult {
    /// The transaction result (outcome, TVR, cryptograms, receipt …), as the
    /// contact kernel reports it.
    pub result: TransactionResult,
    /// Book A outcome.
    pub outcome: ReaderOutcome,
    /// Status indications in order.
    pub indicators: Vec<Indicator>,
    /// Terminal Transaction Qualifiers sent (hex), if pre-processing allowed the tap.
    pub ttq: Option<String>,
    /// Kernel identifier of the selected PPSE entry, if any.
    pub kernel_id: Option<u8>,
    /// The CVM chosen.
    pub cvm: Option<ContactlessCvm>,
    /// Whether the card interaction completed ("card read OK") before anything
    /// online.
    pub card_read_ok: bool,
    /// Link figures of the card interaction (activation to field off): radio time
    /// computed from frames and bytes, the card's processing time. `None` when
    /// the reader cannot tell.
    pub tap: Option<LinkStats>,
    /// Wall time of the whole card interaction (terminal and card processing and
    /// simulation, not the modelled radio time).
    pub tap_wall_time: Duration,
}

impl ContactlessResult {
    /// Modelled radio time of the tap in µs.
    pub fn radio_us(&self) -> Option<u64> {
        self.tap.map(|s| s.radio_us())
    }
    /// Measured card processing time of the tap in µs.
    pub fn processing_us(&self) -> Option<u64> {
        self.tap.map(|s| s.processing_us())
    }
}

// ---------------------------------------------------------------------------
// Pre-processing and TTQ
// ---------------------------------------------------------------------------

/// Book A pre-processing indicators for one amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreProcessing {
    /// Amount ≥ Reader Contactless Transaction Limit.
    pub not_allowed: bool,
    /// Amount > Reader Contactless Floor Limit.
    pub floor_limit_exceeded: bool,
    /// Amount ≥ Reader CVM Required Limit.
    pub cvm_required: bool,
    /// The TTQ for this transaction.
    pub ttq: Ttq,
}

/// Book A pre-processing and the TTQ of this transaction (Book A §5.7).
pub fn pre_process(cfg: &ContactlessConfig, amount: u64) -> PreProcessing {
    let r = &cfg.reader;
    let t = &cfg.terminal;
    let not_allowed = amount >= r.transaction_limit;
    let floor_limit_exceeded = amount > r.floor_limit;
    let cvm_required = amount >= r.cvm_required_limit;
    let mut ttq = Ttq::new().with(TtqBit::EmvModeSupported);
    if t.capabilities.is_set(Cap::IcWithContacts) {
        ttq.set(TtqBit::EmvContactChipSupported);
    }
    if !t.online_capable {
        ttq.set(TtqBit::OfflineOnlyReader);
    }
    if r.online_pin && t.online_capable {
        ttq.set(TtqBit::OnlinePinSupported);
    }
    if r.signature {
        ttq.set(TtqBit::SignatureSupported);
    }
    if r.cda {
        ttq.set(TtqBit::OdaForOnlineAuthorisationsSupported);
    }
    if t.online_capable && (r.online_only || floor_limit_exceeded) {
        ttq.set(TtqBit::OnlineCryptogramRequired);
    }
    if cvm_required {
        ttq.set(TtqBit::CvmRequired);
    }
    if r.cdcvm {
        ttq.set(TtqBit::ConsumerDeviceCvmSupported);
    }
    PreProcessing {
        not_allowed,
        floor_limit_exceeded,
        cvm_required,
        ttq,
    }
}

// ---------------------------------------------------------------------------
// The card phase (one tap)
// ---------------------------------------------------------------------------

/// One PPSE directory entry the reader may select (Book B §3.3.2).
#[derive(Debug, Clone)]
struct ClCandidate {
    adf: Vec<u8>,
    label: String,
    priority: Option<u8>,
    kernel_id: Option<u8>,
}

impl ClCandidate {
    fn rank(&self) -> u8 {
        match self.priority.map(|p| p & 0x0F) {
            Some(0) | None => 16,
            Some(n) => n,
        }
    }
}

/// What the reader knows at the start of the card phase.
#[derive(Debug, Clone, Copy)]
struct Plan<'c> {
    reader: &'c ContactlessParams,
    pre: PreProcessing,
    can_go_online: bool,
    pin_encryptor: bool,
}

/// What the card phase hands to the online phase.
#[derive(Debug, Clone)]
struct TapDone {
    returned: AcType,
    cda_failed: bool,
    cvm: ContactlessCvm,
}

fn card_err(s: impl Into<String>) -> KernelError {
    KernelError::Card(s.into())
}

fn constructed(t: &Tlv, tag: u32) -> Option<&Tlv> {
    t.children().iter().find(|c| c.tag.number() == tag)
}

fn text_of(t: &Tlv, tag: u32) -> Option<String> {
    data::child(t, tag)
        .filter(|v| v.iter().all(|b| (0x20..=0x7E).contains(b)))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Book B §3.3.2: SELECT PPSE and the candidate list.
fn ppse_candidates<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    plan: &Plan<'_>,
) -> Result<Vec<ClCandidate>, KernelError> {
    let r = ctx.exchange(&cmd::select(PPSE, false))?;
    if !r.sw.is_ok() {
        return Ok(Vec::new());
    }
    let fci = data::template(&r.data, tags::FCI_TEMPLATE, "6F (PPSE FCI)")?;
    let Some(dir) = constructed(&fci, 0xA5).and_then(|a5| constructed(a5, 0xBF0C)) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in dir
        .children()
        .iter()
        .filter(|c| c.tag.number() == tags::APPLICATION_TEMPLATE)
    {
        let Some(adf) = data::child(entry, tags::ADF_NAME).filter(|a| (5..=16).contains(&a.len()))
        else {
            continue;
        };
        let Some(term) = ctx.cfg.aid_for(adf) else {
            continue;
        };
        if adf != term.aid.as_slice() && !term.partial_match {
            continue;
        }
        let kernel_id =
            data::child(entry, tags::KERNEL_IDENTIFIER).and_then(|v| v.first().copied());
        if let Some(k) = kernel_id
            && !plan.reader.kernel_ids.is_empty()
            && !plan.reader.kernel_ids.contains(&k)
        {
            continue;
        }
        out.push(ClCandidate {
            adf: adf.to_vec(),
            label: text_of(entry, 0x50).unwrap_or_else(|| term.label.clone()),
            priority: data::child(entry, tags::APPLICATION_PRIORITY_INDICATOR)
                .and_then(|v| v.first().copied()),
            kernel_id,
        });
    }
    out.sort_by_key(ClCandidate::rank);
    Ok(out)
}

/// Final SELECT (Book B §3.3.3); `Ok(false)`: select the next entry.
fn final_select<R: CryptoRng>(ctx: &mut Ctx<'_, R>, c: &ClCandidate) -> Result<bool, KernelError> {
    let r = ctx.exchange(&cmd::select(&c.adf, false))?;
    if !r.sw.is_ok() {
        return Ok(false);
    }
    let Ok(fci) = data::template(&r.data, tags::FCI_TEMPLATE, "6F (FCI)") else {
        return Ok(false);
    };
    let (Some(df_name), Some(a5)) = (data::child(&fci, tags::DF_NAME), constructed(&fci, 0xA5))
    else {
        return Ok(false);
    };
    if df_name != c.adf.as_slice() {
        return Ok(false);
    }
    let Some(term) = ctx.cfg.aid_for(df_name).cloned() else {
        return Ok(false);
    };
    ctx.card = CardData::default();
    ctx.card.set(tags::DF_NAME, df_name.to_vec());
    ctx.card.add_all(a5.children(), true)?;
    ctx.df_name = df_name.to_vec();
    ctx.aid = Some(term);
    Ok(true)
}

/// Card and terminal data with the TTQ, as a DOL source.
fn source<R: CryptoRng>(ctx: &Ctx<'_, R>, ttq: &Ttq) -> BTreeMap<Tag, Vec<u8>> {
    let mut m = ctx.dol_source();
    m.insert(Tag::new(0x9F66), ttq.0.to_vec());
    m
}

/// GET PROCESSING OPTIONS with the PDOL data (TTQ included); `Ok(None)`: the card
/// answered `6985` (select the next entry, Book B §3.3.3).
fn gpo<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    ttq: &Ttq,
) -> Result<Option<Vec<crate::kernel::AflEntry>>, KernelError> {
    let pdol = match ctx.card.get(tags::PDOL) {
        Some(p) => Dol::parse(p).map_err(|e| card_err(format!("PDOL: {e}")))?,
        None => Dol::default(),
    };
    let pdol_data = pdol.build(&source(ctx, ttq));
    crate::kernel::get_processing_options(ctx, &pdol, pdol_data)
}

/// READ RECORD for every AFL entry (Book 3 §10.2, the contact kernel's step:
/// static data for ODA collected; `5A`, `5F24`, `8C` mandatory — CDOL2 is not
/// needed without a second GENERATE AC).
fn read_records<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    afl: &[crate::kernel::AflEntry],
) -> Result<(), KernelError> {
    crate::kernel::read_records(
        ctx,
        afl,
        &[
            (
                tags::APPLICATION_EXPIRATION_DATE,
                "Application Expiration Date (5F24)",
            ),
            (tags::PAN, "PAN (5A)"),
            (tags::CDOL1, "CDOL1 (8C)"),
        ],
    )
}

/// CDA preparation (Book 2 §6.4): the ICC public key, when the card, the terminal
/// and the reader all support CDA; else "ODA not performed".
fn prepare_cda<R: CryptoRng>(ctx: &mut Ctx<'_, R>, plan: &Plan<'_>) {
    let cda = ctx.aip().is_set(AipBit::CdaSupported)
        && ctx.cfg.capabilities.is_set(Cap::Cda)
        && plan.reader.cda;
    if !cda {
        ctx.tvr.set(TvrBit::OfflineDataAuthenticationNotPerformed);
        return;
    }
    ctx.oda = Some(OdaMethod::Cda);
    ctx.tsi.set(TsiBit::OfflineDataAuthenticationPerformed);
    if let Err(f) = crate::oda::retrieve_icc_key(ctx) {
        if f == crate::oda::Failure::Missing {
            ctx.tvr.set(TvrBit::IccDataMissing);
        }
        ctx.tvr.set(TvrBit::CdaFailed);
    }
}

/// Processing restrictions (Book 3 §10.4.1, §10.4.3): version and dates.
fn restrictions<R: CryptoRng>(ctx: &mut Ctx<'_, R>) {
    if let (Some(card), Some(term)) = (
        ctx.card.get(tags::APPLICATION_VERSION_NUMBER_ICC),
        ctx.aid.as_ref(),
    ) && card != term.app_version
    {
        ctx.tvr.set(TvrBit::DifferentApplicationVersions);
    }
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
}

/// CVM selection (module docs; Book C-2 / C-3). Online PIN is only chosen here:
/// it is entered after the card left the field.
fn cvm<R: CryptoRng>(ctx: &mut Ctx<'_, R>, plan: &Plan<'_>) -> ContactlessCvm {
    if !plan.pre.cvm_required {
        ctx.cvm = CvmResults([0x1F, 0x00, 0x02]);
        return ContactlessCvm::NoCvm;
    }
    ctx.tsi.set(TsiBit::CardholderVerificationPerformed);
    let ctq = ctx
        .card
        .get(tags::CTQ)
        .and_then(|v| Ctq::from_slice(v).ok());
    let online_pin = plan.reader.online_pin
        && plan.can_go_online
        && plan.pin_encryptor
        && ctx
            .cfg
            .capabilities
            .is_set(Cap::EncipheredPinForOnlineVerification);
    let device = plan.reader.cdcvm
        && (ctq.is_some_and(|c| c.is_set(CtqBit::ConsumerDeviceCvmPerformed))
            || ctx
                .aip()
                .is_set(AipBit::OnDeviceCardholderVerificationSupported));
    let pin_required = ctq.is_some_and(|c| c.is_set(CtqBit::OnlinePinRequired));
    let chosen = if pin_required && online_pin {
        ContactlessCvm::OnlinePin
    } else if device {
        ContactlessCvm::ConsumerDevice
    } else if online_pin {
        ContactlessCvm::OnlinePin
    } else if plan.reader.signature && ctx.cfg.capabilities.is_set(Cap::Signature) {
        ContactlessCvm::Signature
    } else {
        ContactlessCvm::Failed
    };
    match chosen {
        ContactlessCvm::OnlinePin => {
            ctx.cvm = CvmResults([0x02, 0x00, 0x00]);
            ctx.tvr.set(TvrBit::OnlineCvmCaptured);
        }
        ContactlessCvm::ConsumerDevice => ctx.cvm = CvmResults([0x01, 0x00, 0x02]),
        ContactlessCvm::Signature => {
            ctx.cvm = CvmResults([0x1E, 0x00, 0x00]);
            ctx.signature = true;
        }
        ContactlessCvm::Failed => {
            ctx.cvm = CvmResults([0x3F, 0x00, 0x01]);
            ctx.tvr.set(TvrBit::CardholderVerificationNotSuccessful);
        }
        ContactlessCvm::NoCvm => {}
    }
    chosen
}

/// Issuer Action Codes with the Book 3 §10.7 defaults.
fn iac<R: CryptoRng>(ctx: &Ctx<'_, R>, tag: u32, absent: u8) -> Tvr {
    ctx.card
        .get(tag)
        .and_then(|v| Tvr::from_slice(v).ok())
        .unwrap_or(Tvr([absent; 5]))
}

fn any_match(tvr: &Tvr, a: &Tvr, b: &Tvr) -> bool {
    tvr.0
        .iter()
        .zip(a.0.iter().zip(b.0.iter()))
        .any(|(t, (x, y))| t & (x | y) != 0)
}

/// Terminal risk management (contactless floor limit, exception file) and
/// terminal action analysis (Book 3 §10.6.1, §10.7; Book C-2).
fn risk_and_action<R: CryptoRng>(ctx: &mut Ctx<'_, R>, plan: &Plan<'_>) -> AcType {
    if plan.pre.floor_limit_exceeded {
        ctx.tvr.set(TvrBit::FloorLimitExceeded);
    }
    if ctx.req.force_online {
        ctx.tvr.set(TvrBit::MerchantForcedOnline);
    }
    if let Some(pan) = ctx.pan()
        && ctx.cfg.exception_file.contains(&pan)
    {
        ctx.tvr.set(TvrBit::CardOnExceptionFile);
    }
    ctx.tsi.set(TsiBit::TerminalRiskManagementPerformed);
    let tac = ctx.aid.as_ref().map(|a| a.tac).unwrap_or_default();
    let tvr = ctx.tvr;
    if any_match(&tvr, &tac.denial, &iac(ctx, 0x9F0E, 0x00)) {
        AcType::Aac
    } else if plan.can_go_online {
        if plan.reader.online_only || any_match(&tvr, &tac.online, &iac(ctx, 0x9F0F, 0xFF)) {
            AcType::Arqc
        } else {
            AcType::Tc
        }
    } else if any_match(&tvr, &tac.default, &iac(ctx, 0x9F0D, 0xFF)) {
        AcType::Aac
    } else {
        AcType::Tc
    }
}

/// The answer to GENERATE AC.
struct GenAc {
    returned: AcType,
    cda_failed: bool,
}

/// The one GENERATE AC of the tap (Book 3 §6.5.5; CDA Book 2 §6.6) and card
/// action analysis (§10.8).
fn generate_ac<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    requested: AcType,
    cda: bool,
    ttq: &Ttq,
) -> Result<GenAc, KernelError> {
    let cdol = Dol::parse(ctx.card.get(tags::CDOL1).unwrap_or_default())
        .map_err(|e| card_err(format!("CDOL1: {e}")))?;
    let cdol_data = cdol.build(&source(ctx, ttq));
    let p1 = requested.p1() | if cda { 0x10 } else { 0x00 };
    let r = ctx.exchange_dol(&cmd::generate_ac(p1, &cdol_data), &cdol, &cdol_data)?;
    if !r.sw.is_ok() {
        return Err(card_err(format!("GENERATE AC: {}", r.sw)));
    }
    ctx.cdol1_data = cdol_data.clone();
    let crate::kernel::AcResponse {
        cid,
        atc,
        ac,
        iad,
        sdad,
        response_tlvs,
    } = crate::kernel::parse_generate_ac_response(&r.data)?;
    let returned = AcType::from_cid(cid).ok_or(card_err("CID says RFU cryptogram type"))?;
    if returned.rank() > requested.rank() {
        return Err(card_err(format!(
            "card returned {returned:?} where {requested:?} was requested"
        )));
    }
    let atc_v: [u8; 2] = atc
        .as_slice()
        .try_into()
        .map_err(|_| card_err("ATC is not 2 bytes"))?;
    ctx.card.set(tags::CID, vec![cid]);
    ctx.card.set(tags::ATC, atc_v.to_vec());
    ctx.card.set(tags::IAD, iad.clone());
    let mut cda_verified = false;
    let mut cda_failed = false;
    let ac = if cda && returned != AcType::Aac {
        match crate::oda::verify_cda(ctx, sdad.as_deref(), cid, &cdol_data, 1, &response_tlvs) {
            Some(ac) => {
                cda_verified = true;
                ac.to_vec()
            }
            None => {
                cda_failed = true;
                Vec::new()
            }
        }
    } else {
        ac.ok_or(card_err("Application Cryptogram (9F26) missing"))?
    };
    if ac.len() == 8 {
        ctx.card.set(tags::AC, ac.clone());
    } else if !cda_failed {
        return Err(card_err("Application Cryptogram is not 8 bytes"));
    }
    if cid & 0x08 != 0 {
        ctx.advice = true;
    }
    ctx.tsi.set(TsiBit::CardRiskManagementPerformed);
    ctx.cryptograms.push(Cryptogram {
        generate_ac: 1,
        requested,
        returned,
        cid,
        atc: u16::from_be_bytes(atc_v),
        ac: hex::encode_upper(&ac),
        iad: hex::encode_upper(&iad),
        cda_verified,
    });
    Ok(GenAc {
        returned,
        cda_failed,
    })
}

/// The card phase: selection to GENERATE AC (module docs).
fn tap<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    plan: &Plan<'_>,
    kernel_id: &mut Option<u8>,
) -> Result<TapDone, KernelError> {
    let ttq = plan.pre.ttq;
    let mut candidates = ppse_candidates(ctx, plan)?;
    if candidates.is_empty() {
        return Err(KernelError::NotAccepted);
    }
    let afl = loop {
        if candidates.is_empty() {
            return Err(KernelError::NotAccepted);
        }
        let c = candidates.remove(0);
        if !final_select(ctx, &c)? {
            continue;
        }
        ctx.event(Event::ApplicationSelected {
            label: c.label.clone(),
            aid: hex::encode_upper(&c.adf),
        });
        if let Some(afl) = gpo(ctx, &ttq)? {
            *kernel_id = c.kernel_id;
            break afl;
        }
    };
    read_records(ctx, &afl)?;
    prepare_cda(ctx, plan);
    restrictions(ctx);
    let cvm = cvm(ctx, plan);
    let requested = risk_and_action(ctx, plan);
    let cda = ctx.oda == Some(OdaMethod::Cda)
        && ctx.icc_key.is_some()
        && !ctx.tvr.is_set(TvrBit::CdaFailed)
        && requested != AcType::Aac;
    let answer = generate_ac(ctx, requested, cda, &ttq)?;
    Ok(TapDone {
        returned: answer.returned,
        cda_failed: answer.cda_failed,
        cvm,
    })
}

// ---------------------------------------------------------------------------
// After the tap
// ---------------------------------------------------------------------------

/// The state the card phase leaves (owned: the card is gone).
struct AfterTap {
    card: CardData,
    tvr: Tvr,
    tsi: Tsi,
    cvm: CvmResults,
    un: [u8; 4],
    df_name: Vec<u8>,
    aid: Option<crate::config::SupportedAid>,
    cryptograms: Vec<Cryptogram>,
    messages: Vec<Message>,
    oda: Option<OdaMethod>,
    signature: bool,
    advice: bool,
    online_failure: Option<String>,
    trace: Option<Vec<crate::io::TraceEntry>>,
    apdu_bytes: usize,
    apdu_count: usize,
}

impl AfterTap {
    fn pan(&self) -> Option<String> {
        self.card.get(tags::PAN).and_then(data::pan_digits)
    }
}

/// The phase after the card left: UI, online PIN, authorisation.
struct Online<'d> {
    screen: &'d mut dyn Screen,
    status: Option<&'d mut dyn StatusIndicator>,
    indicators: Vec<Indicator>,
}

impl Online<'_> {
    fn indicate(&mut self, i: Indicator) {
        self.indicators.push(i);
        if let Some(s) = self.status.as_mut() {
            s.indicate(i);
        }
    }
    fn msg(&mut self, st: &mut AfterTap, m: Message) {
        st.messages.push(m);
        self.screen.show(&Event::Message(m));
    }
}

/// ICC data of the authorisation request and the batch record (Book 4 §12.2.1;
/// Book C-3 adds `9F66`, `9F6C`, `9F6E`).
fn icc_data(
    st: &AfterTap,
    cfg: &TerminalConfig,
    req: &TransactionRequest,
    now: &crate::kernel::DateTime,
    ttq: Option<&Ttq>,
) -> Vec<u8> {
    let mut terminal: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    terminal.insert(0x9F02, data::bcd(req.amount, 12));
    terminal.insert(0x9F03, data::bcd(req.amount_other, 12));
    terminal.insert(0x9F1A, data::bcd(u64::from(cfg.country), 3));
    terminal.insert(0x5F2A, data::bcd(u64::from(cfg.currency), 3));
    terminal.insert(0x9A, now.yymmdd().to_vec());
    terminal.insert(0x9F21, now.hhmmss().to_vec());
    terminal.insert(0x9C, vec![req.transaction_type]);
    terminal.insert(0x9F37, st.un.to_vec());
    terminal.insert(0x9F35, vec![cfg.terminal_type]);
    terminal.insert(0x9F33, cfg.capabilities.0.to_vec());
    terminal.insert(0x9F1E, data::text(&cfg.ifd_serial, 8));
    terminal.insert(0x9F41, data::bcd(u64::from(req.stan), 8));
    terminal.insert(0x95, st.tvr.0.to_vec());
    terminal.insert(0x9B, st.tsi.0.to_vec());
    terminal.insert(0x9F34, st.cvm.0.to_vec());
    if let Some(a) = &st.aid {
        terminal.insert(0x9F09, a.app_version.to_vec());
    }
    if let Some(t) = ttq {
        terminal.insert(0x9F66, t.0.to_vec());
    }
    let mut out = Vec::new();
    for tag in [
        0x9F26u32, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
        0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F1E, 0x5F34, 0x9F41, 0x9F21, 0x9B, 0x9F66,
        0x9F6C, 0x9F6E,
    ] {
        let v = terminal
            .get(&tag)
            .map(Vec::as_slice)
            .or_else(|| st.card.get(tag));
        if let Some(v) = v {
            out.extend(Tlv::primitive(tag, v.to_vec()).encode());
        }
    }
    out
}

/// Online PIN after the card left (Book 3 §10.5.3 PIN block, Book 4 §6.3.4.2).
fn online_pin(
    ui: &mut Online<'_>,
    st: &mut AfterTap,
    pin_pad: &mut dyn PinPad,
    encryptor: Option<&mut (dyn OnlinePinEncryptor + '_)>,
    bypass_allowed: bool,
) -> Result<Option<EncryptedPin>, KernelError> {
    let Some(pan) = st.pan().and_then(|p| lamina_crypto::pin::Pan::new(&p).ok()) else {
        return Err(card_err("PAN unusable for the PIN block"));
    };
    ui.msg(st, Message::EnterPin);
    let pin = match pin_pad.request_pin(PinPurpose::Online, 1) {
        PinEntry::Pin(p) => p,
        PinEntry::Bypassed if bypass_allowed => return Ok(None),
        PinEntry::Bypassed => return Err(KernelError::Cancelled),
        PinEntry::Unavailable => {
            return Err(KernelError::Terminal("PIN pad unavailable".into()));
        }
    };
    let clear = lamina_crypto::pin::encode_iso0(&pin, &pan);
    let block = <[u8; 8]>::try_from(clear.as_bytes())
        .map_err(|_| KernelError::Terminal("PIN block is not 8 bytes".into()))?;
    let enc = encryptor.ok_or(KernelError::Terminal("no PIN encryptor".into()))?;
    enc.encrypt(&block)
        .map(Some)
        .map_err(|e| KernelError::Terminal(e.to_string()))
}

/// Maps a card-phase failure to the Book A outcome and message.
fn failure(e: &KernelError) -> (ReaderOutcome, Termination, Message) {
    match e {
        KernelError::CardRemoved => (
            ReaderOutcome::TryAgain,
            Termination::CardRemoved,
            Message::TryAgain,
        ),
        KernelError::NoCard => (
            ReaderOutcome::TryAgain,
            Termination::NoCard,
            Message::TryAgain,
        ),
        KernelError::NotAccepted => (
            ReaderOutcome::TryAnotherInterface,
            Termination::NotAccepted,
            Message::InsertCard,
        ),
        other => {
            let (t, m) = other.termination();
            (ReaderOutcome::EndApplication, t, m)
        }
    }
}

/// Runs one contactless transaction: pre-processing, the tap, then (card gone)
/// online PIN and authorisation (module docs).
///
/// Never panics on card, acquirer or UI behaviour; every failure ends as a
/// [`ReaderOutcome`] with [`Outcome::Terminated`].
pub fn run_contactless<R: CryptoRng>(
    config: &ContactlessConfig,
    request: &TransactionRequest,
    devices: ContactlessDevices<'_>,
    clock: &dyn Clock,
    rng: &mut R,
) -> ContactlessResult {
    let ContactlessDevices {
        reader,
        screen,
        pin_pad,
        mut acquirer,
        pin_encryptor,
        status,
    } = devices;
    let now = clock.now();
    let cfg = &config.terminal;
    let pre = pre_process(config, request.amount);
    let mut ui = Online {
        screen,
        status,
        indicators: Vec::new(),
    };
    let _ = reader.take_link_stats();
    let mut un = [0u8; 4];
    rng.fill_bytes(&mut un);
    let mut st = AfterTap {
        card: CardData::default(),
        tvr: Tvr::new(),
        tsi: Tsi::new(),
        cvm: CvmResults([0x3F, 0x00, 0x00]),
        un,
        df_name: Vec::new(),
        aid: None,
        cryptograms: Vec::new(),
        messages: Vec::new(),
        oda: None,
        signature: false,
        advice: false,
        online_failure: None,
        trace: None,
        apdu_bytes: 0,
        apdu_count: 0,
    };
    // Book A pre-processing: above the contactless transaction limit the
    // contactless application is not allowed: no card command at all.
    if pre.not_allowed {
        ui.msg(&mut st, Message::InsertCard);
        ui.indicate(Indicator::ProcessingError);
        return finish(
            config,
            request,
            now,
            st,
            ui,
            Fin {
                outcome: Outcome::Terminated(Termination::NotAccepted),
                reader: ReaderOutcome::TryAnotherInterface,
                arc: None,
                ttq: None,
                kernel_id: None,
                cvm: None,
                card_read_ok: false,
                tap: None,
                wall: Duration::ZERO,
            },
        );
    }
    ui.indicate(Indicator::ReadyToRead);
    let plan = Plan {
        reader: &config.reader,
        pre,
        can_go_online: cfg.online_capable && acquirer.is_some(),
        pin_encryptor: pin_encryptor.is_some(),
    };
    let started = clock.monotonic();
    let mut kernel_id = None;
    let tapped = {
        let powered = reader.power_on(Interface::Contactless);
        let channel: &mut dyn CardChannel = &mut *reader;
        let mut ctx = Ctx {
            cfg,
            req: request,
            io: CardIo::new(channel, request.trace),
            screen: &mut *ui.screen,
            pin_pad: &mut *pin_pad,
            acquirer: None,
            pin_encryptor: None,
            rng: &mut *rng,
            now,
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
        let r = match powered {
            Ok(_) => tap(&mut ctx, &plan, &mut kernel_id),
            Err(ChannelError::NoCard) => Err(KernelError::NoCard),
            Err(ChannelError::CardRemoved) => Err(KernelError::CardRemoved),
            Err(e) => Err(KernelError::Reader(e.to_string())),
        };
        // All card interaction is done: field off (the card may leave).
        ctx.io.power_off();
        st.card = std::mem::take(&mut ctx.card);
        st.tvr = ctx.tvr;
        st.tsi = ctx.tsi;
        st.cvm = ctx.cvm;
        st.df_name = std::mem::take(&mut ctx.df_name);
        st.aid = ctx.aid.take();
        st.cryptograms = std::mem::take(&mut ctx.cryptograms);
        st.messages = std::mem::take(&mut ctx.messages);
        st.oda = ctx.oda;
        st.signature = ctx.signature;
        st.advice = ctx.advice;
        st.trace = ctx.io.take_trace();
        st.apdu_bytes = ctx.io.bytes;
        st.apdu_count = ctx.io.commands;
        r
    };
    let wall = clock.monotonic().saturating_sub(started);
    let link = reader.take_link_stats();
    let ttq_hex = Some(hex::encode_upper(pre.ttq.0));
    let done = match tapped {
        Ok(d) => d,
        Err(e) => {
            let (reader_outcome, t, m) = failure(&e);
            ui.msg(&mut st, m);
            ui.indicate(Indicator::ProcessingError);
            return finish(
                config,
                request,
                now,
                st,
                ui,
                Fin {
                    outcome: Outcome::Terminated(t),
                    reader: reader_outcome,
                    arc: None,
                    ttq: ttq_hex,
                    kernel_id,
                    cvm: None,
                    card_read_ok: false,
                    tap: link,
                    wall,
                },
            );
        }
    };
    // Card read OK (Book A): lights and tone, "remove card".
    ui.indicate(Indicator::CardReadOk);
    ui.msg(&mut st, Message::RemoveCard);
    let fin = |outcome, reader, arc: Option<[u8; 2]>| Fin {
        outcome,
        reader,
        arc,
        ttq: ttq_hex.clone(),
        kernel_id,
        cvm: Some(done.cvm),
        card_read_ok: true,
        tap: link,
        wall,
    };
    let decided = match done.returned {
        AcType::Aac => fin(
            Outcome::DeclinedOffline,
            ReaderOutcome::Declined,
            Some(*b"Z1"),
        ),
        _ if done.cda_failed => fin(
            Outcome::DeclinedOffline,
            ReaderOutcome::Declined,
            Some(*b"Z1"),
        ),
        AcType::Tc => fin(
            Outcome::ApprovedOffline,
            ReaderOutcome::Approved,
            Some(*b"Y1"),
        ),
        AcType::Arqc => {
            // Online request (Book A): the card is gone.
            ui.indicate(Indicator::Processing);
            let pin = if done.cvm == ContactlessCvm::OnlinePin {
                online_pin(&mut ui, &mut st, pin_pad, pin_encryptor, cfg.pin_bypass)
            } else {
                Ok(None)
            };
            match pin {
                Err(e) => {
                    let (_, t, m) = failure(&e);
                    ui.msg(&mut st, m);
                    ui.indicate(Indicator::ProcessingError);
                    fin(Outcome::Terminated(t), ReaderOutcome::EndApplication, None)
                }
                Ok(pin) => {
                    ui.msg(&mut st, Message::PleaseWait);
                    ui.screen.show(&Event::GoingOnline);
                    let auth = AuthorizationRequest {
                        stan: request.stan,
                        pan: st.pan().unwrap_or_default(),
                        pan_sequence: st
                            .card
                            .get(tags::PAN_SEQUENCE_NUMBER)
                            .and_then(|v| v.first().copied()),
                        expiry: st
                            .card
                            .get(tags::APPLICATION_EXPIRATION_DATE)
                            .and_then(|v| <[u8; 3]>::try_from(v).ok())
                            .unwrap_or_default(),
                        amount: request.amount,
                        amount_other: request.amount_other,
                        currency: cfg.currency,
                        transaction_type: request.transaction_type,
                        terminal_id: cfg.terminal_id.clone(),
                        merchant_id: cfg.merchant_id.clone(),
                        mcc: cfg.mcc,
                        icc_data: icc_data(&st, cfg, request, &now, Some(&pre.ttq)),
                        pin,
                        track2: st
                            .card
                            .get(tags::TRACK2_EQUIVALENT_DATA)
                            .map(<[u8]>::to_vec),
                    };
                    let answer = match acquirer.as_mut().map(|l| l.authorize(&auth)) {
                        Some(Ok(resp)) => Some(resp),
                        Some(Err(e)) => {
                            st.online_failure = Some(e.0);
                            None
                        }
                        None => None,
                    };
                    match answer {
                        None => fin(
                            Outcome::DeclinedOffline,
                            ReaderOutcome::Declined,
                            Some(*b"Z3"),
                        ),
                        Some(resp) => {
                            if resp.referral() {
                                ui.msg(&mut st, Message::CallYourBank);
                            }
                            if resp.approved() {
                                fin(
                                    Outcome::ApprovedOnline,
                                    ReaderOutcome::Approved,
                                    Some(resp.response_code),
                                )
                            } else {
                                fin(
                                    Outcome::DeclinedOnline,
                                    ReaderOutcome::Declined,
                                    Some(resp.response_code),
                                )
                            }
                        }
                    }
                }
            }
        }
    };
    match decided.reader {
        ReaderOutcome::Approved => {
            ui.msg(&mut st, Message::Approved);
            ui.indicate(Indicator::Approved);
            if st.signature {
                ui.screen.show(&Event::SignatureRequired);
            }
        }
        ReaderOutcome::Declined => {
            ui.msg(&mut st, Message::Declined);
            ui.indicate(Indicator::Declined);
        }
        _ => {}
    }
    finish(config, request, now, st, ui, decided)
}

/// How the transaction ended.
struct Fin {
    outcome: Outcome,
    reader: ReaderOutcome,
    arc: Option<[u8; 2]>,
    ttq: Option<String>,
    kernel_id: Option<u8>,
    cvm: Option<ContactlessCvm>,
    card_read_ok: bool,
    tap: Option<LinkStats>,
    wall: Duration,
}

fn finish(
    config: &ContactlessConfig,
    req: &TransactionRequest,
    now: crate::kernel::DateTime,
    st: AfterTap,
    ui: Online<'_>,
    fin: Fin,
) -> ContactlessResult {
    let cfg = &config.terminal;
    let completed = !matches!(fin.outcome, Outcome::Terminated(_));
    let arc = fin.arc.map(|a| String::from_utf8_lossy(&a).into_owned());
    let pan_masked = st
        .pan()
        .map(|p| lamina_emv::dict::mask_pan(&p))
        .unwrap_or_default();
    let aid = (!st.df_name.is_empty()).then(|| hex::encode_upper(&st.df_name));
    let ttq = fin
        .ttq
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|v| Ttq::from_slice(&v).ok());
    let icc = icc_data(&st, cfg, req, &now, ttq.as_ref());
    // An offline approval (TC, CDA verified) is reported for clearing (Book 4
    // §12.4): the terminal queues the advice and uploads it.
    let offline_advice = match (&fin.outcome, fin.arc) {
        (Outcome::ApprovedOffline, Some(arc)) => {
            crate::clearing::offline_advice(crate::clearing::AdviceSource {
                card: &st.card,
                cfg,
                req,
                now,
                interface: crate::clearing::CardInterface::Contactless,
                arc,
                aid: &st.df_name,
                icc_data: icc.clone(),
            })
            .ok()
        }
        _ => None,
    };
    let (receipt, record) = if completed {
        let record = TransactionRecord {
            stan: req.stan,
            pan_masked: pan_masked.clone(),
            aid: aid.clone().unwrap_or_default(),
            amount: req.amount,
            currency: cfg.currency,
            date_time: format!(
                "{}{}",
                hex::encode_upper(now.yymmdd()),
                hex::encode_upper(now.hhmmss())
            ),
            outcome: fin.outcome.clone(),
            arc: arc.clone(),
            icc_data: hex::encode_upper(&icc),
            advice: st.advice,
        };
        (
            Some(receipt(
                cfg,
                req,
                &now,
                &st,
                &fin,
                &pan_masked,
                arc.as_deref(),
            )),
            Some(record),
        )
    } else {
        (None, None)
    };
    let result = TransactionResult {
        messages: st.messages.clone(),
        tvr: Decoded::tvr(&st.tvr),
        tsi: Decoded::tsi(&st.tsi),
        cvm_results: Decoded::cvm(&st.cvm),
        arc,
        aid,
        oda: st.oda.map(|o| format!("{o:?}").to_uppercase()),
        cryptograms: st.cryptograms.clone(),
        script_results: None,
        signature_required: st.signature && fin.outcome.is_approved(),
        reversal_sent: false,
        online_failure: st.online_failure.clone(),
        receipt,
        record,
        offline_advice,
        trace: st.trace,
        apdu_bytes: st.apdu_bytes,
        apdu_count: st.apdu_count,
        tvr_raw: st.tvr,
        tsi_raw: st.tsi,
        cvm_raw: st.cvm,
        outcome: fin.outcome,
    };
    ContactlessResult {
        result,
        outcome: fin.reader,
        indicators: ui.indicators,
        ttq: fin.ttq,
        kernel_id: fin.kernel_id,
        cvm: fin.cvm,
        card_read_ok: fin.card_read_ok,
        tap: fin.tap,
        tap_wall_time: fin.wall,
    }
}

/// The contactless receipt (Book 4 §11.4, with "CONTACTLESS").
fn receipt(
    c: &TerminalConfig,
    req: &TransactionRequest,
    now: &crate::kernel::DateTime,
    st: &AfterTap,
    fin: &Fin,
    pan_masked: &str,
    arc: Option<&str>,
) -> Receipt {
    let cur = lamina_emv::dict::currency_alpha(c.currency)
        .map_or_else(|| c.currency.to_string(), str::to_owned);
    let label = st
        .card
        .get(tags::APPLICATION_PREFERRED_NAME)
        .or_else(|| st.card.get(tags::APPLICATION_LABEL))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let [y, mo, d] = now.yymmdd();
    let [h, mi, s] = now.hhmmss();
    let mut common = vec![
        c.merchant_name.clone(),
        format!("MID {}  TID {}", c.merchant_id, c.terminal_id),
        format!("20{y:02X}-{mo:02X}-{d:02X} {h:02X}:{mi:02X}:{s:02X}"),
        format!("{label}  {pan_masked}"),
        format!("AID {}", hex::encode_upper(&st.df_name)),
        "CONTACTLESS".to_owned(),
        format!(
            "SALE  {} {cur}",
            format_amount(req.amount, c.currency_exponent)
        ),
        format!(
            "TVR {}  TSI {}",
            hex::encode_upper(st.tvr.0),
            hex::encode_upper(st.tsi.0)
        ),
    ];
    if let Some(ac) = st.card.get(tags::AC) {
        common.push(format!("AC {}", hex::encode_upper(ac)));
    }
    if let Some(arc) = arc {
        common.push(format!("ARC {arc}"));
    }
    common.push(if fin.outcome.is_approved() {
        "APPROVED".to_owned()
    } else {
        "DECLINED".to_owned()
    });
    let mut merchant = common.clone();
    match fin.cvm {
        Some(ContactlessCvm::Signature) if fin.outcome.is_approved() => {
            merchant.push("SIGNATURE: ______________________".into());
        }
        Some(ContactlessCvm::OnlinePin) if fin.outcome.is_approved() => {
            merchant.push("PIN VERIFIED ONLINE".into());
        }
        Some(ContactlessCvm::ConsumerDevice) => merchant.push("VERIFIED ON DEVICE".into()),
        _ => merchant.push("NO CARDHOLDER VERIFICATION".into()),
    }
    merchant.push("MERCHANT COPY".into());
    let mut holder = common;
    holder.push("CARDHOLDER COPY".into());
    Receipt {
        merchant_copy: merchant,
        cardholder_copy: holder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_have_lights_and_sounds() {
        assert_eq!(Indicator::CardReadOk.sound(), Sound::Success);
        assert_eq!(Indicator::Declined.sound(), Sound::Alert);
        assert_eq!(Indicator::ReadyToRead.lights(), [true, false, false, false]);
    }

    #[test]
    fn candidate_rank() {
        let c = |p| ClCandidate {
            adf: vec![],
            label: String::new(),
            priority: p,
            kernel_id: None,
        };
        assert!(c(Some(1)).rank() < c(Some(2)).rank());
        assert!(c(Some(2)).rank() < c(None).rank());
    }
}
