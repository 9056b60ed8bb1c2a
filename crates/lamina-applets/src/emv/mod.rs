//! # The EMV payment applet
//!
//! A contact/contactless EMV debit/credit application for the Lamina chip OS
//! ([`lamina_card`]): EMV 4.4 Book 3 commands and Book 2 security.
//!
//! | command | APDU | Book 3 | handler |
//! |---|---|---|---|
//! | SELECT | `00 A4 04 00` (routed by the OS) | Book 1 §11.3 | `select_fci` |
//! | APPLICATION BLOCK | `84 1E` + MAC | §6.5.1 | `application_block` |
//! | APPLICATION UNBLOCK | `84 18` + MAC | §6.5.2 | `application_unblock` |
//! | CARD BLOCK | `84 16` + MAC | §6.5.3 | `card_block` |
//! | EXTERNAL AUTHENTICATE | `00 82` | §6.5.4 | `external_authenticate` |
//! | GENERATE AC | `80 AE` | §6.5.5 | `generate_ac` |
//! | GET CHALLENGE | `00 84` | §6.5.6 | `get_challenge` |
//! | GET DATA | `80 CA` | §6.5.7 | `get_data` |
//! | GET PROCESSING OPTIONS | `80 A8` | §6.5.8 | `get_processing_options` |
//! | INTERNAL AUTHENTICATE | `00 88` | §6.5.9 | `internal_authenticate` |
//! | PIN CHANGE/UNBLOCK | `84 24` + MAC | §6.5.10 | `pin_change_unblock` |
//! | READ RECORD | `00 B2` | §6.5.11 | `read_record` |
//! | VERIFY | `00 20 00 80/88` | §6.5.12 | `verify` |
//! | PUT DATA | `04/84 DA` + MAC | ISO/IEC 7816-4 §11.4.6 (issuer script) | `put_data` |
//! | UPDATE RECORD | `04/84 DC` + MAC | ISO/IEC 7816-4 §11.3.5 (issuer script) | `update_record` |
//! | STORE DATA | `80/84 E2` | GlobalPlatform v2.3 §11.11, EMV CPS | `store_data` |
//!
//! Status words: unknown class `6E00`, unknown instruction `6D00`, wrong length
//! `6700`, wrong P1/P2 `6A86`, record not found `6A83`, file (SFI) not found
//! `6A82`, data object not found `6A88`, conditions not satisfied (wrong state,
//! not personalized, ATC exhausted, no session keys) `6985`, wrong data `6A80`,
//! wrong PIN `63Cx`, PIN blocked `6983`, script MAC wrong `6988`, issuer
//! authentication failed `6300`, issuer script command without secure messaging
//! `6982`, card blocked `6A81` (by the OS).
//!
//! ## Tearing rules (EMV Book 3 §6.5.5.4, §6.5.12.4; Java Card RE §7)
//!
//! * GENERATE AC increments the ATC with `write_now` **before** computing the
//!   cryptogram; the risk state, counters and log then change in one transaction.
//!   A tear anywhere never gives two cryptograms the same ATC.
//! * VERIFY decrements the PIN try counter with `write_now` **before** comparing,
//!   and resets it with `write_now` after a match: a tear never restores a try.
//! * Script commands (PIN change, PUT DATA, UPDATE RECORD, blocks) and each STORE
//!   DATA block are transactions: all or nothing.
//!
//! ## Card risk management (Lamina's policy, modelled on VIS/CCD)
//!
//! First GENERATE AC: a blocked application or an AAC request gets an AAC; an
//! ARQC request an ARQC; a TC request an ARQC if any of these holds (each also sets
//! its CVR bit): last online transaction not completed, issuer authentication
//! failed or not performed last time, script failed, new card (no online
//! transaction yet), PIN try limit exceeded, offline PIN failed, consecutive offline
//! count above LCOL or cumulative offline amount above CTTAL or a foreign currency
//! ("velocity counters exceeded"), contactless amount above the contactless limit;
//! else a TC. An ARQC sets "last online transaction not completed" until the second
//! GENERATE AC brings the online response, on the contact interface only: a
//! contactless ARQC is the card's last word (one tap, no second GENERATE AC), so it
//! leaves the flag as it was.
//!
//! Second GENERATE AC (after an ARQC; Authorisation Response Code `8A` and
//! Issuer Authentication Data `91` from CDOL2): ARC `Y3`/`Z3` (unable to go online)
//! → offline decision against UCOL and CTTAUL (AAC if exceeded, else what the
//! terminal asked); otherwise the online response counts: issuer authentication
//! (ARPC in `91` or an earlier EXTERNAL AUTHENTICATE) failing → AAC and flag;
//! succeeding → offline counters and script flags reset, last online ATC updated;
//! not performed while the AIP announces it → flag; TC only if the terminal asks
//! a TC and the ARC is an approval (`00`, `10`, `11`).
//!
//! Issuer scripts use session keys from the cryptogram of this session's first
//! GENERATE AC (an ARQC, or the AAC of a blocked application so an APPLICATION
//! UNBLOCK can be delivered), MAC length 8 bytes.
//!
//! A blocked application (APPLICATION BLOCK) is still selected by the OS, which
//! turns the status word into `6283`; GPO works and every GENERATE AC returns an
//! AAC. A blocked card (CARD BLOCK) gets `6A81` from the OS for every command.
//!
//! ## Personalization and set-up
//!
//! * [`EmvPersonalization`] (typed, serde) → DGIs ([`EmvPersonalization::to_dgis`],
//!   the bureau's layout) → NVM records ([`records_from_dgis`]); on an image with
//!   [`provision::personalize_image`] / [`provision::personalize_image_with_dgis`],
//!   or through STORE DATA ([`EmvPersonalization::store_data_script`]).
//! * [`register`] puts the class [`CLASS`] in a ROM; [`testing::test_card`] gives a
//!   ready card. DDA, CDA and enciphered PIN need an [`IccRsa`] bridge.
//! * The cryptogram input ([`cryptogram_input`]) and IAD layout
//!   ([`issuer_application_data`]) are public so an issuer host can verify.

mod command;
mod crypto;
mod perso;
pub mod provision;
mod state;
mod store;
pub mod testing;

use std::collections::BTreeMap;
use std::sync::Arc;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{
    ApduResult, AppLifeCycle, Applet, AppletContext, CardLifeCycle, Install, Namespace, NvmError,
    Rom,
};
use lamina_crypto::emv::{
    ArpcMethod, ArpcResponse, ChangePinBlock, decrypt_script_data, generate_ac, verify_arpc,
    verify_script_command,
};
use lamina_crypto::pin::{Pin, decode_iso2};
use lamina_crypto::pki::CdaDynamicData;
use lamina_crypto::pki::transaction_data_hash_code;
use lamina_crypto::pki::{CdaTransactionData, dda_icc_dynamic_data};
use lamina_emv::bitmaps::{AipBit, Cvr, CvrBit, FirstAc, SecondAc};
use lamina_tlv::{Tag, Tlv};

pub use command::AcType;
pub use crypto::{
    IccRsa, PkiRsa, cryptogram_input, dol_values, issuer_application_data, standard_terminal_dol,
    unpredictable_number,
};
pub use perso::{
    CvnChoice, Dgi, EmvLimits, EmvPersonalization, EmvRecord, IccMasterKeys, IccRsaKey, LogConfig,
    OdaMethod, ResponseFormat, SecretBytes, dgi_records, finish_records, records_from_dgis,
};

pub use state::{EmvState, LogEntry, card_state};

use command::{EmvCommand, ScriptKind};
use store::{Flags, Processing, Profile, read_do};

/// The ROM class name of the EMV applet (the name the bureau writes in card
/// images).
pub const CLASS: &str = "emv-payment";

/// Status word `6300`: issuer authentication failed (EMV Book 3 §6.5.4.4).
pub const SW_AUTH_FAILED: StatusWord = StatusWord(0x6300);
/// Status word `6988`: incorrect secure messaging data objects (script MAC).
pub const SW_SM_INCORRECT: StatusWord = StatusWord(0x6988);

/// Errors of personalization and test-card building (never contain secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmvError {
    /// The personalization data is not usable (which field and why).
    #[error("EMV personalization: {0}")]
    Perso(&'static str),
    /// The card refused an operation.
    #[error("card: {0}")]
    Card(String),
}

/// Registers the EMV applet class ([`CLASS`]) in `rom`. `rsa` bridges the ICC
/// RSA operations to the card RNG (see [`IccRsa`]); without it DDA, CDA and
/// enciphered PIN are refused.
pub fn register(rom: &mut Rom, rsa: Option<Arc<dyn IccRsa>>) {
    let r = std::mem::take(rom);
    *rom = r.with_class(CLASS, move |_i: &Install| {
        Box::new(EmvApplet::new(rsa.clone())) as Box<dyn Applet>
    });
}

/// The state of the first GENERATE AC, kept for the second and for scripts.
#[derive(Debug, Clone)]
struct FirstAcState {
    kind: AcType,
    /// Persistent flags and new-card state before the first GENERATE AC.
    start_flags: Flags,
    new_card: bool,
    ac: [u8; 8],
    atc: u16,
    cdol1_data: Vec<u8>,
    values: BTreeMap<Tag, Vec<u8>>,
}

/// Volatile (RAM) transaction state, reset at SELECT.
#[derive(Debug, Clone)]
struct Session {
    gpo: bool,
    pdol_data: Vec<u8>,
    cvr: Cvr,
    challenge: Option<[u8; 8]>,
    first: Option<FirstAcState>,
    second_done: bool,
    issuer_auth: Option<bool>,
    store_seq: u8,
    pending: Option<PendingDgi>,
}

/// A DGI received in part (STORE DATA continuation).
#[derive(Clone)]
struct PendingDgi {
    id: u16,
    len: usize,
    data: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PendingDgi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PendingDgi({:04X}, {}/{} bytes)",
            self.id,
            self.data.len(),
            self.len
        )
    }
}

impl Default for Session {
    fn default() -> Self {
        Session {
            gpo: false,
            pdol_data: Vec::new(),
            cvr: Cvr::new(),
            challenge: None,
            first: None,
            second_done: false,
            issuer_auth: None,
            store_seq: 0,
            pending: None,
        }
    }
}

/// The EMV payment applet. Its fields are RAM: the current transaction and a cache
/// of the personalized profile; everything persistent is in its NVM namespace
/// (layout in the `store` module docs: counters `atc`, `ptc`, `lonatc`, …).
pub struct EmvApplet {
    rsa: Option<Arc<dyn IccRsa>>,
    profile: Option<Arc<Profile>>,
    s: Session,
}

impl std::fmt::Debug for EmvApplet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmvApplet")
            .field("gpo", &self.s.gpo)
            .field("first_ac", &self.s.first.as_ref().map(|x| x.kind))
            .finish_non_exhaustive()
    }
}

const OK: StatusWord = StatusWord::OK;
const COND: StatusWord = StatusWord::CONDITIONS_NOT_SATISFIED;

fn ok(data: Vec<u8>) -> ApduResult {
    Ok(Response::new(data, OK))
}

fn ok_empty() -> ApduResult {
    Ok(Response::status(OK))
}

fn read_u16(nvm: &Namespace<'_>, key: &str) -> Result<u16, StatusWord> {
    Ok(nvm.read_u16(key)?.unwrap_or(0))
}

fn read_u64(nvm: &Namespace<'_>, key: &str) -> u64 {
    nvm.read(key)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

fn flags(nvm: &Namespace<'_>) -> Result<Flags, StatusWord> {
    Ok(Flags(nvm.read_u8(store::FLAGS)?.unwrap_or(0)))
}

fn stored_pin(nvm: &Namespace<'_>) -> Result<Pin, StatusWord> {
    let block = nvm.read(store::PIN).ok_or(COND)?;
    decode_iso2(block).map_err(|_| StatusWord(0x6F00))
}

/// `00` approval codes of the Authorisation Response Code (ASCII `00`, `10`, `11`).
fn arc_approved(arc: &[u8]) -> bool {
    matches!(arc, b"00" | b"10" | b"11")
}

/// `Y3` / `Z3`: the terminal could not go online (EMV Book 4 Annex A6).
fn arc_unable_online(arc: &[u8]) -> bool {
    matches!(arc, b"Y3" | b"Z3")
}

/// Velocity state for an offline decision.
struct Velocity {
    cons: u8,
    cum: u64,
    amount: Option<u64>,
    foreign: bool,
}

impl Velocity {
    fn read(nvm: &Namespace<'_>, values: &BTreeMap<Tag, Vec<u8>>) -> Result<Velocity, StatusWord> {
        let cons = nvm.read_u8(store::CONSECUTIVE)?.unwrap_or(0);
        let cum = read_u64(nvm, store::CUMULATIVE);
        let amount = match values.get(&Tag::new(0x9F02)) {
            Some(v) => store::bcd_amount(v),
            None => Some(0),
        };
        let foreign = match (values.get(&Tag::new(0x5F2A)), read_do(nvm, 0x9F42)) {
            (Some(t), Some(a)) => t.as_slice() != a,
            _ => false,
        };
        Ok(Velocity {
            cons,
            cum,
            amount,
            foreign,
        })
    }

    fn limit(nvm: &Namespace<'_>, tag: u32) -> u64 {
        read_do(nvm, tag).and_then(store::bcd_amount).unwrap_or(0)
    }

    /// (count exceeded, amount exceeded) against the lower (LCOL, CTTAL) or upper
    /// (UCOL, CTTAUL) limits, counting this transaction.
    fn exceeded(&self, nvm: &Namespace<'_>, upper: bool) -> (bool, bool) {
        let (ct, at) = if upper {
            (0x9F23, 0xDF04)
        } else {
            (0x9F14, 0xDF03)
        };
        let count_limit = read_do(nvm, ct)
            .and_then(|v| v.first().copied())
            .unwrap_or(0);
        let count = u16::from(self.cons) + 1 > u16::from(count_limit);
        let amount = match self.amount {
            None => true,
            Some(a) => self.foreign || self.cum.saturating_add(a) > Self::limit(nvm, at),
        };
        (count, amount)
    }

    /// Writes the counters after an offline approval (inside a transaction).
    fn record_offline(&self, nvm: &mut Namespace<'_>) -> Result<(), NvmError> {
        nvm.write(store::CONSECUTIVE, &[self.cons.saturating_add(1)])?;
        let cum = self.cum.saturating_add(self.amount.unwrap_or(0));
        nvm.write(store::CUMULATIVE, &cum.to_be_bytes())
    }
}

/// Inputs of card risk management.
struct Risk<'a> {
    requested: AcType,
    blocked: bool,
    contactless: bool,
    lonatc: u16,
    ptc: Option<u8>,
    vel: &'a Velocity,
}

/// The decision and its persistent effects.
struct Outcome {
    decision: AcType,
    /// An offline approval: count it against the velocity limits.
    offline_ok: bool,
    /// Successful online authorisation: reset the offline counters.
    reset_counters: bool,
    /// New Last Online ATC Register value.
    new_lonatc: Option<u16>,
}

/// Appends a transaction log record (EMV Book 3 Annex D: record 1 is the most
/// recent; cyclic). Part of the caller's transaction.
fn append_log(
    nvm: &mut Namespace<'_>,
    p: &Profile,
    values: &BTreeMap<Tag, Vec<u8>>,
) -> Result<(), NvmError> {
    let Some((_, n, fmt)) = &p.log else {
        return Ok(());
    };
    let count = nvm.read_u8(store::LOG_COUNT)?.unwrap_or(0);
    let head = nvm.read_u8(store::LOG_HEAD)?.unwrap_or(0);
    let slot = if count == 0 { 0 } else { (head + 1) % n };
    nvm.write(&store::log_key(slot), &fmt.build(values))?;
    nvm.write_u8(store::LOG_HEAD, slot)?;
    nvm.write_u8(store::LOG_COUNT, count.saturating_add(1).min(*n))
}

impl EmvApplet {
    /// A fresh instance (what the ROM factory returns at every power-up).
    pub fn new(rsa: Option<Arc<dyn IccRsa>>) -> Self {
        EmvApplet {
            rsa,
            profile: None,
            s: Session::default(),
        }
    }

    fn profile(&mut self, ctx: &mut AppletContext<'_>) -> Result<Arc<Profile>, StatusWord> {
        if let Some(p) = &self.profile {
            return Ok(p.clone());
        }
        let p = Arc::new(Profile::load(&ctx.nvm()).ok_or(COND)?);
        self.profile = Some(p.clone());
        Ok(p)
    }

    /// SELECT response (EMV Book 1 §11.3.4 Table 45): `6F { 84 DF name, A5 { … } }`
    /// with the personalized FCI proprietary template content of the interface in
    /// use (label `50`, priority `87`, PDOL `9F38`, language `5F2D`, preferred name
    /// `9F12`, `BF0C`). Before personalization: the label of the install entry.
    pub fn select_fci(ctx: &mut AppletContext<'_>) -> Vec<u8> {
        let aid = ctx.aid().as_bytes().to_vec();
        let label = ctx.install().label.clone();
        let cl = ctx.interface() == lamina_card::Interface::Contactless;
        let nvm = ctx.nvm();
        let fci = cl
            .then(|| nvm.read(store::FCI_CL))
            .flatten()
            .or_else(|| nvm.read(store::FCI));
        let mut out = Tlv::primitive(0x84u32, aid).encode();
        let a5 = match fci {
            Some(content) => {
                let mut v = vec![0xA5];
                lamina_tlv::encode_length(content.len(), &mut v);
                v.extend_from_slice(content);
                v
            }
            None => Tlv::constructed(0xA5u32, vec![Tlv::primitive(0x50u32, label.into_bytes())])
                .encode(),
        };
        out.extend(a5);
        let mut v = vec![0x6F];
        lamina_tlv::encode_length(out.len(), &mut v);
        v.extend(out);
        v
    }

    /// GET PROCESSING OPTIONS (EMV Book 3 §6.5.8): checks the PDOL-related data
    /// length (`6700`), starts the transaction and returns AIP ‖ AFL in format 1
    /// (`80`) or 2 (`77 { 82, 94 }`). A second GPO in a session is `6985`.
    pub(crate) fn get_processing_options(
        &mut self,
        p: &Profile,
        pr: &Processing,
        pdol_data: Vec<u8>,
    ) -> ApduResult {
        if self.s.gpo {
            return Err(COND);
        }
        if pdol_data.len() != pr.pdol.data_len() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        self.s = Session {
            gpo: true,
            pdol_data,
            ..Session::default()
        };
        let data = match p.format {
            ResponseFormat::Format1 => {
                Tlv::primitive(0x80u32, [&pr.aip[..], &pr.afl].concat()).encode()
            }
            ResponseFormat::Format2 => Tlv::constructed(
                0x77u32,
                vec![
                    Tlv::primitive(0x82u32, pr.aip.to_vec()),
                    Tlv::primitive(0x94u32, pr.afl.clone()),
                ],
            )
            .encode(),
        };
        ok(data)
    }

    /// READ RECORD (EMV Book 3 §6.5.11): a personalized record, or a transaction
    /// log record (SFI of `9F4D`, record 1 = most recent). `6A82` for an SFI with no
    /// records, `6A83` for a missing record.
    pub(crate) fn read_record(
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        sfi: u8,
        rec: u8,
    ) -> ApduResult {
        let nvm = ctx.nvm();
        if let Some((log_sfi, n, _)) = &p.log
            && *log_sfi == sfi
        {
            let count = nvm.read_u8(store::LOG_COUNT)?.unwrap_or(0);
            if rec > count {
                return Err(StatusWord::RECORD_NOT_FOUND);
            }
            let head = nvm.read_u8(store::LOG_HEAD)?.unwrap_or(0);
            let slot = store::log_slot(head, *n, rec).ok_or(StatusWord::RECORD_NOT_FOUND)?;
            let v = nvm
                .read(&store::log_key(slot))
                .ok_or(StatusWord::RECORD_NOT_FOUND)?;
            return ok(v.to_vec());
        }
        if let Some(v) = nvm.read(&store::record_key(sfi, rec)) {
            return ok(v.to_vec());
        }
        let prefix = format!("rec.{sfi:02X}");
        if nvm.keys().iter().any(|k| k.starts_with(&prefix)) {
            Err(StatusWord::RECORD_NOT_FOUND)
        } else {
            Err(StatusWord::FILE_NOT_FOUND)
        }
    }

    /// GET DATA (EMV Book 3 §6.5.7): `9F36` ATC, `9F13` last online ATC, `9F17`
    /// PIN try counter, `9F4F` log format, the limits `9F14 9F23 DF03 DF04`, and the
    /// personalized GET DATA objects; `6A88` otherwise. The response is the TLV.
    pub(crate) fn get_data(ctx: &mut AppletContext<'_>, tag: u16) -> ApduResult {
        let nvm = ctx.nvm();
        let t = u32::from(tag);
        let value = match tag {
            0x9F36 => read_u16(&nvm, store::ATC)?.to_be_bytes().to_vec(),
            0x9F13 => read_u16(&nvm, store::LAST_ONLINE_ATC)?
                .to_be_bytes()
                .to_vec(),
            0x9F17 => vec![nvm.read_u8(store::PTC)?.ok_or(StatusWord::DATA_NOT_FOUND)?],
            0x9F4F | 0x9F14 | 0x9F23 | 0xDF03 | 0xDF04 => {
                read_do(&nvm, t).ok_or(StatusWord::DATA_NOT_FOUND)?.to_vec()
            }
            _ => {
                let listed = nvm
                    .read(store::GET_DATA_TAGS)
                    .is_some_and(|tags| contains_tag(tags, Tag::new(t)));
                if !listed || tag == 0 {
                    return Err(StatusWord::DATA_NOT_FOUND);
                }
                read_do(&nvm, t).ok_or(StatusWord::DATA_NOT_FOUND)?.to_vec()
            }
        };
        ok(Tlv::primitive(t, value).encode())
    }

    /// GET CHALLENGE (EMV Book 3 §6.5.6): 8 random bytes, kept for the next VERIFY
    /// with an enciphered PIN.
    pub(crate) fn get_challenge(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        let c = ctx.random::<8>();
        self.s.challenge = Some(c);
        ok(c.to_vec())
    }

    /// VERIFY (EMV Book 3 §6.5.12): plaintext (P2 `80`, ISO 9564-1 format 2 block)
    /// or enciphered PIN (P2 `88`, Book 2 §7.2, against the last GET CHALLENGE).
    /// The PIN try counter is decremented with `write_now` before the comparison
    /// and reset after a match; `63Cx` gives the tries left, `6983` once blocked.
    pub(crate) fn verify(
        &mut self,
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        enciphered: bool,
        data: &[u8],
    ) -> ApduResult {
        let challenge = self.s.challenge.take();
        let (Some(limit), Some(tries)) = (p.pin_try_limit, ctx.nvm().read_u8(store::PTC)?) else {
            // No offline PIN on this card.
            return Err(COND);
        };
        if tries == 0 {
            self.s.cvr.set(CvrBit::PinTryLimitExceeded);
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        let block = if enciphered {
            let (Some(rsa), Some(key), Some(un)) = (&self.rsa, &p.rsa, challenge) else {
                return Err(COND);
            };
            if data.len() != key.modulus_len() {
                return Err(StatusWord::WRONG_LENGTH);
            }
            rsa.decipher_pin_block(key, ctx.rng(), data, &un)
                .map_err(|_| StatusWord::INCORRECT_DATA)?
        } else {
            let mut b = zeroize::Zeroizing::new([0u8; 8]);
            b.copy_from_slice(data.get(..8).ok_or(StatusWord::WRONG_LENGTH)?);
            b
        };
        let offered = decode_iso2(&block[..]).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let reference = stored_pin(&ctx.nvm())?;
        // Decrement first, on its own (a tear after the comparison gives no free try).
        let left = tries - 1;
        ctx.nvm().write_now(store::PTC, &[left])?;
        self.s.cvr.set(CvrBit::OfflinePinPerformed);
        if offered.ct_eq(&reference) {
            ctx.nvm().write_now(store::PTC, &[limit])?;
            self.s.cvr.clear(CvrBit::OfflinePinFailed);
            ok_empty()
        } else {
            self.s.cvr.set(CvrBit::OfflinePinFailed);
            if left == 0 {
                self.s.cvr.set(CvrBit::PinTryLimitExceeded);
            }
            Err(StatusWord::new(0x63, 0xC0 | (left & 0x0F)))
        }
    }

    /// INTERNAL AUTHENTICATE (EMV Book 3 §6.5.9, Book 2 §6.5): signs a fresh ICC
    /// Dynamic Number (`9F4C`, 8 bytes) with the DDOL-related data; format 1 `80`
    /// or format 2 `77 { 9F4B }`. `6985` without DDA/CDA, key or RSA bridge.
    pub(crate) fn internal_authenticate(
        &mut self,
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        ddol_data: &[u8],
    ) -> ApduResult {
        let (Some(rsa), Some(key)) = (&self.rsa, &p.rsa) else {
            return Err(COND);
        };
        if !matches!(p.oda, OdaMethod::Dda | OdaMethod::Cda) {
            return Err(COND);
        }
        let idn = ctx.random::<8>();
        let icc_dd = dda_icc_dynamic_data(&idn).map_err(|_| StatusWord(0x6F00))?;
        let sdad = rsa
            .sign_dynamic_data(key, ctx.rng(), &icc_dd, ddol_data)
            .map_err(|_| StatusWord(0x6F00))?;
        self.s.cvr.set(CvrBit::OfflineDdaPerformed);
        ok(match p.format {
            ResponseFormat::Format1 => Tlv::primitive(0x80u32, sdad).encode(),
            ResponseFormat::Format2 => {
                Tlv::constructed(0x77u32, vec![Tlv::primitive(0x9F4Bu32, sdad)]).encode()
            }
        })
    }

    /// The CVR for this cryptogram: the session bits plus the persistent flags.
    fn cvr_for(&self, f: Flags, new_card: bool, ptc: Option<u8>) -> Cvr {
        let mut cvr = self.s.cvr;
        if f.has(Flags::LAST_ONLINE_NOT_COMPLETED) {
            cvr.set(CvrBit::LastOnlineTransactionNotCompleted);
        }
        if f.has(Flags::ISSUER_AUTH_FAILED) {
            cvr.set(CvrBit::IssuerAuthenticationFailedLastOnline);
        }
        if f.has(Flags::ISSUER_AUTH_NOT_PERFORMED) {
            cvr.set(CvrBit::IssuerAuthenticationNotPerformed);
        }
        if f.has(Flags::SCRIPT_FAILED) {
            cvr.set(CvrBit::IssuerScriptFailed);
        }
        if new_card {
            cvr.set(CvrBit::NewCard);
        }
        if ptc == Some(0) {
            cvr.set(CvrBit::PinTryLimitExceeded);
        }
        cvr.set_script_commands_with_sm(f.scripts());
        cvr
    }

    /// GENERATE AC (EMV Book 3 §6.5.5, Book 2 §8.1, §6.6): the first after GPO with
    /// CDOL1 data, the second after an ARQC with CDOL2 data. The ATC is
    /// incremented with `write_now` before the cryptogram (`6985` once it reached
    /// `FFFF`); card risk management (module docs) picks the cryptogram; the
    /// response carries `9F27 9F36 9F26 9F10` (format 1 or 2), or with CDA
    /// (P1 bit 5, TC/ARQC only, format 2) `9F27 9F36 9F10 9F4B`.
    pub(crate) fn generate_ac(
        &mut self,
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        requested: AcType,
        cda: bool,
        data: &[u8],
    ) -> ApduResult {
        let second = match (&self.s.first, self.s.gpo, self.s.second_done) {
            (None, true, _) => false,
            (Some(f), _, false) if f.kind == AcType::Arqc => true,
            _ => return Err(COND),
        };
        let dol = if second { &p.cdol2 } else { &p.cdol1 };
        if data.len() != dol.data_len() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if second && requested == AcType::Arqc {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let own = dol_values(dol, data).ok_or(StatusWord::WRONG_LENGTH)?;
        let mut values = match (&self.s.first, second) {
            (Some(f), true) => f.values.clone(),
            _ => BTreeMap::new(),
        };
        values.extend(own.clone());
        let blocked = ctx.app_life_cycle() == AppLifeCycle::Blocked;
        // CDA (Book 2 §6.6): only if personalized for it; refused before the ATC
        // moves when the key or the RSA bridge is missing.
        let cda_signer = match (cda && p.oda == OdaMethod::Cda, &self.rsa, &p.rsa) {
            (false, _, _) => None,
            (true, Some(rsa), Some(key)) => Some((rsa.clone(), key.clone())),
            (true, _, _) => return Err(COND),
        };
        let aip = p.processing(ctx.interface()).aip;
        let contactless = ctx.interface() == lamina_card::Interface::Contactless;

        // 1. The ATC, committed before anything it protects.
        let atc = {
            let mut nvm = ctx.nvm();
            let old = read_u16(&nvm, store::ATC)?;
            let atc = old.checked_add(1).ok_or(COND)?;
            nvm.write_now(store::ATC, &atc.to_be_bytes())?;
            atc
        };

        // 2. Card risk management.
        let (mut f, lonatc, ptc, vel) = {
            let nvm = ctx.nvm();
            (
                flags(&nvm)?,
                read_u16(&nvm, store::LAST_ONLINE_ATC)?,
                nvm.read_u8(store::PTC)?,
                Velocity::read(&nvm, &values)?,
            )
        };
        // The CVR reports the card's state at the start of this transaction.
        let (start_flags, new_card) = match (&self.s.first, second) {
            (Some(first), true) => (first.start_flags, first.new_card),
            _ => (f, lonatc == 0),
        };
        let mut cvr = self.cvr_for(start_flags, new_card, ptc);
        let ctx_risk = Risk {
            requested,
            blocked,
            contactless,
            lonatc,
            ptc,
            vel: &vel,
        };
        let Outcome {
            decision,
            offline_ok,
            reset_counters,
            new_lonatc,
        } = match &self.s.first {
            Some(first) if second => self.second_ac_decision(
                &ctx.nvm(),
                p,
                aip,
                first,
                &own,
                &values,
                &ctx_risk,
                &mut f,
                &mut cvr,
            ),
            _ => Self::first_ac_decision(&ctx.nvm(), &ctx_risk, f, &mut cvr),
        };
        if second {
            cvr.set_second_ac(if decision == AcType::Tc {
                SecondAc::Tc
            } else {
                SecondAc::Aac
            });
        } else {
            cvr.set_first_ac(match decision {
                AcType::Aac => FirstAc::Aac,
                AcType::Tc => FirstAc::Tc,
                AcType::Arqc => FirstAc::Arqc,
            });
        }

        // 3. The cryptogram.
        let iad = issuer_application_data(p.dki, p.cvn.code(), &cvr);
        let input = cryptogram_input(p.cvn(), &values, aip, atc, &iad);
        let un = unpredictable_number(&values);
        let ac = generate_ac(p.cvn(), p.mk_ac.as_bytes(), atc, un, &input)
            .map_err(|_| StatusWord(0x6F00))?;
        let cid = decision.cid();

        // 4. Response (and CDA signature).
        let base = vec![
            Tlv::primitive(0x9F27u32, vec![cid]),
            Tlv::primitive(0x9F36u32, atc.to_be_bytes().to_vec()),
        ];
        let response = if let (Some((rsa, key)), true) = (&cda_signer, decision != AcType::Aac) {
            let mut objs = base;
            objs.push(Tlv::primitive(0x9F10u32, iad.to_vec()));
            let response_tlvs = Tlv::encode_all(&objs);
            let cdol1_data = match &self.s.first {
                Some(f) if second => f.cdol1_data.clone(),
                _ => data.to_vec(),
            };
            let tx = CdaTransactionData {
                pdol_data: &self.s.pdol_data,
                cdol1_data: &cdol1_data,
                cdol2_data: second.then_some(data),
                response_tlvs: &response_tlvs,
            };
            let dynamic = CdaDynamicData {
                icc_dynamic_number: ctx.random::<8>().to_vec(),
                cid,
                application_cryptogram: ac,
                transaction_data_hash_code: transaction_data_hash_code(&tx),
                additional_data: Vec::new(),
            };
            let dd = dynamic.to_bytes().map_err(|_| StatusWord(0x6F00))?;
            let sdad = rsa
                .sign_dynamic_data(key, ctx.rng(), &dd, &un)
                .map_err(|_| StatusWord(0x6F00))?;
            objs.push(Tlv::primitive(0x9F4Bu32, sdad));
            Tlv::constructed(0x77u32, objs).encode()
        } else {
            match p.format {
                ResponseFormat::Format1 => {
                    let mut v = vec![cid];
                    v.extend_from_slice(&atc.to_be_bytes());
                    v.extend_from_slice(&ac);
                    v.extend_from_slice(&iad);
                    Tlv::primitive(0x80u32, v).encode()
                }
                ResponseFormat::Format2 => {
                    let mut objs = base;
                    objs.push(Tlv::primitive(0x9F26u32, ac.to_vec()));
                    objs.push(Tlv::primitive(0x9F10u32, iad.to_vec()));
                    Tlv::constructed(0x77u32, objs).encode()
                }
            }
        };

        // 5. Persistent effects, all or nothing.
        // "Last online transaction not completed" is armed by an ARQC only on the
        // contact interface, where a second GENERATE AC is due. A contactless ARQC
        // ends the card's part of the transaction (one tap: the card has left the
        // field before the issuer answers, EMV Contactless Book C-3 / Book C-2
        // without a second tap), so it is no sign of an interrupted transaction and
        // must not force the next taps online.
        if decision == AcType::Arqc && !contactless {
            f.set(Flags::LAST_ONLINE_NOT_COMPLETED, true);
        }
        let final_ac = decision != AcType::Arqc;
        let mut logged = values.clone();
        logged.insert(Tag::new(0x9F27), vec![cid]);
        logged.insert(Tag::new(0x9F36), atc.to_be_bytes().to_vec());
        {
            let mut nvm = ctx.nvm();
            nvm.begin()?;
            nvm.write_u8(store::FLAGS, f.0)?;
            if let Some(l) = new_lonatc {
                nvm.write_u16(store::LAST_ONLINE_ATC, l)?;
            }
            if reset_counters {
                nvm.write(store::CONSECUTIVE, &[0])?;
                nvm.write(store::CUMULATIVE, &[0; 8])?;
            } else if offline_ok {
                vel.record_offline(&mut nvm)?;
            }
            if final_ac {
                append_log(&mut nvm, p, &logged)?;
            }
            nvm.commit()?;
        }

        // 6. Volatile state.
        self.s.cvr = cvr;
        if second {
            self.s.second_done = true;
        } else {
            self.s.first = Some(FirstAcState {
                kind: decision,
                start_flags,
                new_card,
                ac,
                atc,
                cdol1_data: data.to_vec(),
                values,
            });
        }
        ok(response)
    }

    /// Card risk management for the first GENERATE AC (module docs).
    fn first_ac_decision(nvm: &Namespace<'_>, r: &Risk<'_>, f: Flags, cvr: &mut Cvr) -> Outcome {
        cvr.set_second_ac(SecondAc::NotRequested);
        let (count, amount) = r.vel.exceeded(nvm, false);
        if count || amount {
            cvr.set(CvrBit::VelocityCountersExceeded);
        }
        let contactless_limit = r.contactless
            && read_do(nvm, 0xDF05)
                .and_then(store::bcd_amount)
                .is_some_and(|l| r.vel.amount.is_none_or(|a| a > l));
        let go_online = f.any_risk()
            || contactless_limit
            || r.lonatc == 0
            || r.ptc == Some(0)
            || cvr.is_set(CvrBit::OfflinePinFailed)
            || count
            || amount;
        let decision = match r.requested {
            _ if r.blocked => AcType::Aac,
            AcType::Aac => AcType::Aac,
            AcType::Arqc => AcType::Arqc,
            AcType::Tc if go_online => AcType::Arqc,
            AcType::Tc => AcType::Tc,
        };
        Outcome {
            decision,
            offline_ok: decision == AcType::Tc,
            reset_counters: false,
            new_lonatc: None,
        }
    }

    /// Card risk management for the second GENERATE AC: unable to go online, or
    /// the online response with issuer authentication (module docs). Updates the
    /// persistent flags `f` (written by the caller).
    #[allow(clippy::too_many_arguments)]
    fn second_ac_decision(
        &self,
        nvm: &Namespace<'_>,
        p: &Profile,
        aip: [u8; 2],
        first: &FirstAcState,
        cdol2_values: &BTreeMap<Tag, Vec<u8>>,
        values: &BTreeMap<Tag, Vec<u8>>,
        r: &Risk<'_>,
        f: &mut Flags,
        cvr: &mut Cvr,
    ) -> Outcome {
        cvr.set_first_ac(FirstAc::Arqc);
        let arc = values.get(&Tag::new(0x8A)).cloned().unwrap_or_default();
        if arc_unable_online(&arc) {
            cvr.set(CvrBit::UnableToGoOnline);
            let (count, amount) = r.vel.exceeded(nvm, true);
            if count || amount {
                cvr.set(CvrBit::VelocityCountersExceeded);
            }
            let decision = if r.blocked || r.requested == AcType::Aac || count || amount {
                AcType::Aac
            } else {
                AcType::Tc
            };
            return Outcome {
                decision,
                offline_ok: decision == AcType::Tc,
                reset_counters: false,
                new_lonatc: None,
            };
        }
        // The online response arrived.
        f.set(Flags::LAST_ONLINE_NOT_COMPLETED, false);
        let ia = match self.s.issuer_auth {
            Some(done) => Some(done),
            None => cdol2_values
                .get(&Tag::new(0x91))
                .filter(|v| v.iter().any(|b| *b != 0))
                .map(|iad| Self::check_arpc(p, first, iad)),
        };
        let ia_supported =
            lamina_emv::bitmaps::Aip(aip).is_set(AipBit::IssuerAuthenticationSupported);
        let mut reset_counters = false;
        match ia {
            Some(true) => {
                f.set(Flags::ISSUER_AUTH_FAILED, false);
                f.set(Flags::ISSUER_AUTH_NOT_PERFORMED, false);
                f.set(Flags::SCRIPT_FAILED, false);
                f.clear_scripts();
                reset_counters = true;
            }
            Some(false) => {
                cvr.set(CvrBit::IssuerAuthenticationFailed);
                f.set(Flags::ISSUER_AUTH_FAILED, true);
            }
            None => {
                f.set(Flags::ISSUER_AUTH_NOT_PERFORMED, ia_supported);
                reset_counters = !ia_supported && arc_approved(&arc);
            }
        }
        let decline =
            r.blocked || r.requested == AcType::Aac || ia == Some(false) || !arc_approved(&arc);
        Outcome {
            decision: if decline { AcType::Aac } else { AcType::Tc },
            offline_ok: false,
            reset_counters,
            new_lonatc: Some(first.atc),
        }
    }

    fn check_arpc(p: &Profile, first: &FirstAcState, iad: &[u8]) -> bool {
        let cvn = p.cvn();
        let un = unpredictable_number(&first.values);
        let (arpc, response) = match cvn.profile().arpc {
            ArpcMethod::Method1 => {
                let (Some(arpc), Some(arc)) = (iad.get(..8), iad.get(8..10)) else {
                    return false;
                };
                (
                    arpc,
                    ArpcResponse::Method1 {
                        arc: [arc[0], arc[1]],
                    },
                )
            }
            ArpcMethod::Method2 => {
                let (Some(arpc), Some(csu), Some(prop)) =
                    (iad.get(..4), iad.get(4..8), iad.get(8..))
                else {
                    return false;
                };
                (
                    arpc,
                    ArpcResponse::Method2 {
                        csu: [csu[0], csu[1], csu[2], csu[3]],
                        proprietary: prop,
                    },
                )
            }
        };
        verify_arpc(
            cvn,
            p.mk_ac.as_bytes(),
            first.atc,
            un,
            &first.ac,
            response,
            arpc,
        )
        .is_ok()
    }

    /// EXTERNAL AUTHENTICATE (EMV Book 3 §6.5.4): checks the ARPC in the Issuer
    /// Authentication Data after an ARQC and before the second GENERATE AC; once
    /// per transaction (`6985` otherwise); `6300` if it does not verify.
    pub(crate) fn external_authenticate(&mut self, p: &Profile, iad: &[u8]) -> ApduResult {
        let first = match (&self.s.first, self.s.second_done, self.s.issuer_auth) {
            (Some(f), false, None) if f.kind == AcType::Arqc => f.clone(),
            _ => return Err(COND),
        };
        let good = Self::check_arpc(p, &first, iad);
        self.s.issuer_auth = Some(good);
        if good {
            ok_empty()
        } else {
            self.s.cvr.set(CvrBit::IssuerAuthenticationFailed);
            Err(SW_AUTH_FAILED)
        }
    }

    /// An issuer script command: checks the MAC (EMV Book 2 §9.2, 8 bytes, session
    /// key from this session's first cryptogram; `6988` and the script-failed flag
    /// if wrong), then runs it as one NVM transaction.
    fn script(
        &mut self,
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        kind: ScriptKind,
        cmd: &Command,
    ) -> ApduResult {
        let Some(first) = self.s.first.clone() else {
            return Err(COND);
        };
        let lc = u8::try_from(cmd.data.len()).map_err(|_| StatusWord::WRONG_LENGTH)?;
        if cmd.data.len() < 8 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let mut raw = vec![cmd.cla, cmd.ins, cmd.p1, cmd.p2, lc];
        raw.extend_from_slice(&cmd.data);
        let mac_ok =
            verify_script_command(p.cvn(), p.mk_smi.as_bytes(), first.atc, &first.ac, &raw, 8)
                .is_ok();
        let mut f = flags(&ctx.nvm())?;
        f.add_script();
        if !mac_ok {
            f.set(Flags::SCRIPT_FAILED, true);
            ctx.nvm().write_u8(store::FLAGS, f.0)?;
            self.s.cvr.set(CvrBit::IssuerScriptFailed);
            return Err(SW_SM_INCORRECT);
        }
        let body = cmd.data.get(..cmd.data.len() - 8).unwrap_or_default();
        ctx.nvm().begin()?;
        let r = match kind {
            ScriptKind::ApplicationBlock => Self::application_block(ctx, body),
            ScriptKind::ApplicationUnblock => Self::application_unblock(ctx, body),
            ScriptKind::CardBlock => Self::card_block(ctx, body),
            ScriptKind::PinChangeUnblock { p2 } => {
                Self::pin_change_unblock(ctx, p, &first, p2, body)
            }
            ScriptKind::PutData { tag } => Self::put_data(ctx, tag, body),
            ScriptKind::UpdateRecord { sfi, record } => {
                Self::update_record(ctx, p, sfi, record, body)
            }
        };
        match r {
            Ok(resp) => {
                ctx.nvm().write_u8(store::FLAGS, f.0)?;
                ctx.nvm().commit()?;
                self.profile = None;
                Ok(resp)
            }
            Err(sw) => {
                ctx.nvm().abort()?;
                f.set(Flags::SCRIPT_FAILED, true);
                ctx.nvm().write_u8(store::FLAGS, f.0)?;
                self.s.cvr.set(CvrBit::IssuerScriptFailed);
                Err(sw)
            }
        }
    }

    /// APPLICATION BLOCK (EMV Book 3 §6.5.1): the application stays selectable
    /// with `6283` and declines every GENERATE AC.
    pub(crate) fn application_block(ctx: &mut AppletContext<'_>, body: &[u8]) -> ApduResult {
        if !body.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        ctx.block_application()?;
        ok_empty()
    }

    /// APPLICATION UNBLOCK (EMV Book 3 §6.5.2).
    pub(crate) fn application_unblock(ctx: &mut AppletContext<'_>, body: &[u8]) -> ApduResult {
        if !body.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        ctx.unblock_application()?;
        ok_empty()
    }

    /// CARD BLOCK (EMV Book 3 §6.5.3): every later command gets `6A81` from the OS.
    pub(crate) fn card_block(ctx: &mut AppletContext<'_>, body: &[u8]) -> ApduResult {
        if !body.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        ctx.block_card()?;
        ok_empty()
    }

    /// PIN CHANGE/UNBLOCK (EMV Book 3 §6.5.10): P2 `00` unblocks (try counter back
    /// to the limit); `01`/`02` set a new PIN deciphered under SK-SMC (Book 2 §9.3),
    /// in the profile's block format (VIS, with the current PIN for `01`; ISO
    /// format 2), and unblock.
    fn pin_change_unblock(
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        first: &FirstAcState,
        p2: u8,
        body: &[u8],
    ) -> ApduResult {
        if p2 == 0 {
            if !body.is_empty() {
                return Err(StatusWord::WRONG_LENGTH);
            }
        } else {
            let plain =
                decrypt_script_data(p.cvn(), p.mk_smc.as_bytes(), first.atc, &first.ac, body)
                    .map_err(|_| StatusWord::INCORRECT_DATA)?;
            let block: [u8; 8] = plain
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or(StatusWord::INCORRECT_DATA)?;
            let pin = match p.cvn().profile().pin_block {
                ChangePinBlock::Iso2 => {
                    if p2 != 2 {
                        return Err(StatusWord::INCORRECT_P1P2);
                    }
                    decode_iso2(&block).map_err(|_| StatusWord::INCORRECT_DATA)?
                }
                ChangePinBlock::Vis => {
                    let current = (p2 == 1).then(|| stored_pin(&ctx.nvm())).transpose()?;
                    vis_pin(&block, p.mk_ac.as_bytes(), current.as_ref())?
                }
            };
            let enc = lamina_crypto::pin::encode_iso2(&pin);
            ctx.nvm().write(store::PIN, enc.as_bytes())?;
        }
        ctx.nvm()
            .write(store::PTC, &[p.pin_try_limit.ok_or(COND)?])?;
        ok_empty()
    }

    /// PUT DATA (issuer script, ISO/IEC 7816-4 §11.4.6): updates a limit (`9F14`,
    /// `9F23` 1 byte; `DF03`, `DF04` n12) or a personalized GET DATA object; `6A88`
    /// for other tags.
    pub(crate) fn put_data(ctx: &mut AppletContext<'_>, tag: u16, body: &[u8]) -> ApduResult {
        let t = Tag::new(u32::from(tag));
        let want = match tag {
            0x9F14 | 0x9F23 => Some(1),
            0xDF03 | 0xDF04 => Some(6),
            // The log format shapes stored records: not changed in the field.
            0x9F4F => return Err(StatusWord::CONDITIONS_NOT_SATISFIED),
            _ => {
                let nvm = ctx.nvm();
                let listed = nvm
                    .read(store::GET_DATA_TAGS)
                    .is_some_and(|tags| contains_tag(tags, t));
                if !listed {
                    return Err(StatusWord::DATA_NOT_FOUND);
                }
                None
            }
        };
        if body.is_empty() || want.is_some_and(|n| n != body.len()) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if want == Some(6) && store::bcd_amount(body).is_none() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        ctx.nvm().write(&store::do_key(t), body)?;
        ok_empty()
    }

    /// UPDATE RECORD (issuer script, ISO/IEC 7816-4 §11.3.5): replaces an existing
    /// record with a `70` template; `6A83` / `6A82` like READ RECORD.
    pub(crate) fn update_record(
        ctx: &mut AppletContext<'_>,
        p: &Profile,
        sfi: u8,
        rec: u8,
        body: &[u8],
    ) -> ApduResult {
        if p.log.as_ref().is_some_and(|l| l.0 == sfi) {
            return Err(COND);
        }
        let key = store::record_key(sfi, rec);
        {
            let nvm = ctx.nvm();
            if nvm.read(&key).is_none() {
                let prefix = format!("rec.{sfi:02X}");
                return Err(if nvm.keys().iter().any(|k| k.starts_with(&prefix)) {
                    StatusWord::RECORD_NOT_FOUND
                } else {
                    StatusWord::FILE_NOT_FOUND
                });
            }
        }
        match Tlv::parse_one(body) {
            Ok(t) if t.tag == Tag::new(0x70) => {}
            _ => return Err(StatusWord::INCORRECT_DATA),
        }
        ctx.nvm().write(&key, body)?;
        ok_empty()
    }

    /// STORE DATA (GlobalPlatform Card Specification v2.3 §11.11, EMV CPS §4.3):
    /// DGIs `DGI ‖ length (1 byte, or FF ‖ 2 bytes) ‖ data`; a DGI longer than the
    /// block continues in the next blocks. P2 is the block number from 0 (`6A86`
    /// out of sequence), P1 bit 8 marks the last block. Each block is one
    /// transaction; the last checks completeness ([`finish_records`], `6985` if
    /// incomplete) and writes the initial state. Malformed or unknown DGIs are
    /// `6A80`. Refused with `6985` once personalized. (No GlobalPlatform secure
    /// channel: the emulator trusts the bureau's session; the secret DGIs come in
    /// clear.)
    pub(crate) fn store_data(
        &mut self,
        ctx: &mut AppletContext<'_>,
        last: bool,
        seq: u8,
        data: &[u8],
    ) -> ApduResult {
        if ctx.nvm().read(store::PERSO).is_some() {
            return Err(COND);
        }
        if seq != self.s.store_seq {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let mut records = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (id, len, body) = match self.s.pending.take() {
                Some(p) => (p.id, p.len, [p.data.as_slice(), rest].concat()),
                None => match rest {
                    [a, b, 0xFF, h, l, body @ ..] => (
                        u16::from_be_bytes([*a, *b]),
                        usize::from(u16::from_be_bytes([*h, *l])),
                        body.to_vec(),
                    ),
                    [a, b, l, body @ ..] if *l != 0xFF => {
                        (u16::from_be_bytes([*a, *b]), usize::from(*l), body.to_vec())
                    }
                    _ => return Err(StatusWord::INCORRECT_DATA),
                },
            };
            let body = zeroize::Zeroizing::new(body);
            let consumed = body.len().min(len);
            let Some(value) = body.get(..len) else {
                // The DGI continues in the next block.
                if last {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                self.s.pending = Some(PendingDgi {
                    id,
                    len,
                    data: zeroize::Zeroizing::new(body.to_vec()),
                });
                break;
            };
            records.extend(dgi_records(id, value).map_err(|_| StatusWord::INCORRECT_DATA)?);
            // What is left of this block after the DGI.
            let used_here = rest.len() - (body.len() - consumed);
            rest = rest.get(used_here..).unwrap_or_default();
        }
        let mut nvm = ctx.nvm();
        nvm.begin()?;
        for (k, v) in &records {
            nvm.write(k, v)?;
        }
        if last {
            let read = |k: &str| nvm.read(k).map(<[u8]>::to_vec);
            let Ok(init) = finish_records(&read, &nvm.keys()) else {
                nvm.abort()?;
                return Err(COND);
            };
            for (k, v) in init {
                nvm.write(&k, &v)?;
            }
        }
        nvm.commit()?;
        self.s.store_seq = self.s.store_seq.wrapping_add(1);
        self.profile = None;
        ok_empty()
    }
}

/// True if `t` is among concatenated tag bytes.
fn contains_tag(tags: &[u8], t: Tag) -> bool {
    let mut pos = 0;
    while let Some(rest) = tags.get(pos..).filter(|r| !r.is_empty()) {
        match Tag::from_bytes(rest, pos) {
            Ok((tag, n)) => {
                if tag == t {
                    return true;
                }
                pos += n;
            }
            Err(_) => return false,
        }
    }
    false
}

/// Decodes a VIS PIN change block: `(L ‖ PIN ‖ F…) ⊕ (00000000 ‖ MK-AC[4..8])`,
/// also ⊕ the current PIN (left-justified, zero-filled) when given.
fn vis_pin(block: &[u8; 8], mk_ac: &[u8], current: Option<&Pin>) -> Result<Pin, StatusWord> {
    let bad = StatusWord::INCORRECT_DATA;
    let mut b = zeroize::Zeroizing::new(*block);
    let key_part = mk_ac.get(4..8).ok_or(bad)?;
    for (x, k) in b.iter_mut().skip(4).zip(key_part) {
        *x ^= k;
    }
    if let Some(cur) = current {
        let mut nib = zeroize::Zeroizing::new(cur.digit_values().to_vec());
        nib.resize(16, 0);
        for (i, x) in b.iter_mut().enumerate() {
            let hi = nib.get(2 * i).copied().unwrap_or(0);
            let lo = nib.get(2 * i + 1).copied().unwrap_or(0);
            *x ^= (hi << 4) | lo;
        }
    }
    let nibbles: zeroize::Zeroizing<Vec<u8>> =
        zeroize::Zeroizing::new(b.iter().flat_map(|x| [x >> 4, x & 0x0F]).collect());
    let len = usize::from(b[0]);
    if !(4..=12).contains(&len) {
        return Err(bad);
    }
    let digits = nibbles.get(2..2 + len).ok_or(bad)?;
    let fill = nibbles.get(2 + len..).ok_or(bad)?;
    if fill.iter().any(|f| *f != 0x0F) {
        return Err(bad);
    }
    Pin::from_digit_values(digits).map_err(|_| bad)
}

impl Applet for EmvApplet {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        self.s = Session::default();
        ok(Self::select_fci(ctx))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let c = EmvCommand::try_from(cmd)?;
        if let EmvCommand::StoreData { last, seq, data } = &c {
            return self.store_data(ctx, *last, *seq, data);
        }
        if ctx.card_life_cycle() != CardLifeCycle::Personalized {
            return Err(COND);
        }
        let p = self.profile(ctx)?;
        // The challenge is good for the next command only (EMV Book 3 §6.5.6).
        if !matches!(c, EmvCommand::Verify { .. }) {
            self.s.challenge = None;
        }
        match c {
            EmvCommand::Gpo(d) => self.get_processing_options(&p, p.processing(ctx.interface()), d),
            EmvCommand::ReadRecord { sfi, record } => Self::read_record(ctx, &p, sfi, record),
            EmvCommand::GetData(t) => Self::get_data(ctx, t),
            EmvCommand::GetChallenge => self.get_challenge(ctx),
            EmvCommand::Verify { enciphered, data } => self.verify(ctx, &p, enciphered, &data),
            EmvCommand::InternalAuthenticate(d) => self.internal_authenticate(ctx, &p, &d),
            EmvCommand::GenerateAc { ac, cda, data } => self.generate_ac(ctx, &p, ac, cda, &data),
            EmvCommand::ExternalAuthenticate(d) => self.external_authenticate(&p, &d),
            EmvCommand::Script(kind) => self.script(ctx, &p, kind, cmd),
            EmvCommand::StoreData { .. } => Err(COND),
        }
    }

    fn deselect(&mut self, _ctx: &mut AppletContext<'_>) {
        self.s = Session::default();
    }
}
