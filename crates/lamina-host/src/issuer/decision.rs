//! The issuer's authorization decision: a pure function of the stored card and account,
//! today's usage, the keys and the request (no I/O), returning the response code, the
//! approved amount and the state changes the caller must store (ATC, PIN tries).
//!
//! Checks, in order (first failure decides):
//!
//! | check | code |
//! |---|---|
//! | card status lost / stolen / blocked / expired | 41 / 43 / 62 / 54 |
//! | account not active | 62 |
//! | expiry date (YYMM) before the current month; DE 14 differing from the card | 54 / 05 |
//! | processing code: 00 purchase, 01 cash, 09 purchase with cashback accepted; 20 refund only through [`decide_refund`] (else 57); others invalid | 57 / 12 |
//! | amount ≤ 0 or currency ≠ account currency | 13 / 12 |
//! | ARQC (9F26) over the CVN's data ([`cryptogram_input`]) with SK_AC from the card's MK_AC (EMV Book 2 A1.3, A1.4, §8.1) | 05 |
//! | ATC (9F36) not above the last seen: replay, flag `atc_replay` (a jump over [`ATC_JUMP`] only flags `atc_jump`) | 59 |
//! | TVR / CVM Results risk bits ([`terminal_risk_flags`]) | flags only |
//! | online PIN: tries exhausted / wrong PIN (DUKPT X9.24-1 + ISO 9564-1 format 0 + Visa PVV or IBM 3624 offset) | 75 / 55 |
//! | daily velocity per card: amount / count | 61 / 65 |
//! | available funds (balance + credit − holds) | 51, or 10 for a partial approval |
//!
//! A refund ([`decide_refund`], processing code 20) runs the same checks up to the PIN,
//! then: card does not accept refunds, or the amount is more than the card paid the
//! merchant in the last [`REFUND_WINDOW_DAYS`] days (net of reversals and earlier
//! refunds) → 57.
//!
//! A verified ARQC is answered with an ARPC by the card's method (Book 2 §8.2): method 1
//! `91 = ARPC(8) ‖ ARC(2)` with ARC = the response code in ASCII; method 2
//! `91 = ARPC(4) ‖ CSU(4)`, CSU `00830000` approve / `00000000` decline (as jPOS's VIS
//! CVN 18 builder does; VIS 1.5 CSU byte 2: approve + update counters).

use lamina_crypto::dukpt::tdes as dukpt;
use lamina_crypto::emv::{self, ArpcMethod, ArpcResponse, Cvn};
use lamina_crypto::pin::{self, Pan};
use lamina_crypto::pvv;
use lamina_crypto::sym::{Algorithm, SecretKey};
use lamina_iso8583::ResponseCode;
use lamina_tlv::{Tag, Tlv};

use super::types::{AuthRequest, PinData};
use crate::cards::{Card, CardStatus, Ibm3624Params};
use crate::ledger::Account;

/// An ATC more than this above the last seen one is flagged (`atc_jump`).
pub const ATC_JUMP: i64 = 100;

/// Today's approved usage of a card (for velocity limits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Approved authorizations and purchases today.
    pub count: i64,
    /// Their approved amounts.
    pub amount: i64,
}

/// Keys the decision may need.
#[derive(Debug, Clone, Copy)]
pub struct DecisionKeys<'a> {
    /// The card's issuer master key for AC.
    pub imk_ac: Option<&'a SecretKey>,
    /// Acquirer BDK (online PIN).
    pub bdk: Option<&'a SecretKey>,
    /// PIN verification key.
    pub pvk: Option<&'a SecretKey>,
}

/// What to do with the host-side PIN try counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinTries {
    /// No online PIN, or not checked.
    Unchanged,
    /// Correct PIN: reset to 0.
    Reset,
    /// Wrong PIN: add one.
    Increment,
}

/// The verified cryptogram context, for the ARPC and issuer scripts.
#[derive(Clone)]
pub struct Cryptogram {
    /// Profile.
    pub cvn: Cvn,
    /// The card's MK_AC.
    pub mk_ac: SecretKey,
    /// ATC.
    pub atc: u16,
    /// Unpredictable number.
    pub un: [u8; 4],
    /// The ARQC.
    pub arqc: [u8; 8],
}

impl std::fmt::Debug for Cryptogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cryptogram")
            .field("cvn", &self.cvn)
            .field("atc", &self.atc)
            .finish_non_exhaustive()
    }
}

/// The decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Response code.
    pub code: ResponseCode,
    /// Approved amount (0 when declined).
    pub approved_amount: i64,
    /// Flags raised.
    pub flags: Vec<String>,
    /// New last-ATC to store.
    pub new_atc: Option<i64>,
    /// PIN try counter change.
    pub pin_tries: PinTries,
    /// The verified ARQC, if any.
    pub cryptogram: Option<Cryptogram>,
}

impl Decision {
    /// A decline with `code` and no state changes.
    pub fn declined(code: ResponseCode) -> Self {
        Self::decline(code)
    }

    fn decline(code: ResponseCode) -> Self {
        Decision {
            code,
            approved_amount: 0,
            flags: vec![],
            new_atc: None,
            pin_tries: PinTries::Unchanged,
            cryptogram: None,
        }
    }
    /// Whether approved (00 or 10).
    pub fn approved(&self) -> bool {
        matches!(
            self.code,
            ResponseCode::APPROVED | ResponseCode::APPROVED_PARTIAL
        )
    }
}

/// Value of a tag in a TLV list.
pub fn tag_value(list: &[Tlv], tag: u32) -> Option<&[u8]> {
    lamina_tlv::find_recursive(list, Tag::new(tag)).and_then(Tlv::value_bytes)
}

/// Builds the cryptogram input the Lamina card applet MACs (EMV Book 2 §8.1.1, the CVN
/// profile's `data_layout`): `9F02 9F03 9F1A 95 5F2A 9A 9C 9F37` (zeros when absent) ‖ 82 ‖
/// 9F36 ‖ by CVN: CVR = IAD bytes 3..7 (Visa CVN 10), CVR ‖ `0000` (Mastercard CVN 16), or
/// the whole IAD (9F10) otherwise.
pub fn cryptogram_input(cvn: Cvn, icc: &[Tlv]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    for (tag, len) in [
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
    ] {
        let mut v = vec![0u8; len];
        if let Some(src) = tag_value(icc, tag) {
            // DOL rule (Book 3 §5.4): numeric values are right-aligned, others left.
            let n = src.len().min(len);
            v[..n].copy_from_slice(src.get(..n)?);
        }
        out.extend_from_slice(&v);
    }
    out.extend_from_slice(tag_value(icc, 0x82)?);
    out.extend_from_slice(tag_value(icc, 0x9F36)?);
    let iad = tag_value(icc, 0x9F10)?;
    match cvn {
        Cvn::Visa10 => out.extend_from_slice(iad.get(3..7)?),
        Cvn::Mastercard16 => {
            out.extend_from_slice(iad.get(3..7)?);
            out.extend_from_slice(&[0, 0]);
        }
        _ => out.extend_from_slice(iad),
    }
    Some(out)
}

/// Current month as YYMM from a Unix-ms instant.
pub fn yymm(now_ms: i64) -> String {
    let (y, m, _) = crate::clock::civil_date(now_ms);
    format!("{:02}{m:02}", y.rem_euclid(100))
}

fn expired(expiry: &str, now_ms: i64) -> bool {
    // YYMM compare; 20YY (cards valid 2000–2099).
    expiry < yymm(now_ms).as_str()
}

/// Verifies the ARQC. `Err(flag)` when it cannot be checked or does not verify.
fn verify_arqc(
    card: &Card,
    pan: &str,
    imk_ac: &SecretKey,
    icc: &[Tlv],
) -> Result<Cryptogram, &'static str> {
    let cvn = crate::cards::parse_cvn(&card.cvn).ok_or("unknown_cvn")?;
    let arqc: [u8; 8] = tag_value(icc, 0x9F26)
        .and_then(|v| v.try_into().ok())
        .ok_or("arqc_missing")?;
    let atc = tag_value(icc, 0x9F36)
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .map(u16::from_be_bytes)
        .ok_or("atc_missing")?;
    let un = tag_value(icc, 0x9F37)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .unwrap_or([0; 4]);
    let data = cryptogram_input(cvn, icc).ok_or("icc_data_incomplete")?;
    let p = cvn.profile();
    let mk_ac = emv::derive_icc_mk(
        p.algorithm,
        p.mk_derivation,
        imk_ac.as_bytes(),
        pan,
        psn_bcd(card.psn),
    )
    .map_err(|_| "key_error")?;
    emv::verify_ac(cvn, mk_ac.as_bytes(), atc, un, &data, &arqc).map_err(|_| "arqc_failed")?;
    Ok(Cryptogram {
        cvn,
        mk_ac,
        atc,
        un,
        arqc,
    })
}

/// Verifies an application cryptogram of any type (ARQC or TC: the same MAC over the same
/// data, EMV Book 2 §8.1) in field 55 with the card's MK_AC derived from `imk_ac`.
/// `Err(flag)` when it cannot be checked (`unknown_cvn`, `arqc_missing`, `atc_missing`,
/// `icc_data_incomplete`, `key_error`) or does not verify (`arqc_failed`).
pub fn verify_cryptogram(
    card: &Card,
    pan: &str,
    imk_ac: &SecretKey,
    icc: &[Tlv],
) -> Result<Cryptogram, &'static str> {
    verify_arqc(card, pan, imk_ac, icc)
}

/// PSN 0–99 as its BCD byte (tag 5F34).
pub fn psn_bcd(psn: u8) -> u8 {
    ((psn / 10) << 4) | (psn % 10)
}

/// Verifies a PIN against an IBM 3624 offset (IBM CCA "IBM-PINO": natural PIN from
/// E(PVK, validation data) decimalized, offset = PIN − natural PIN mod 10 digit by digit)
/// with the card's [`Ibm3624Params`]. `Err(96 system malfunction)` when the parameters
/// cannot be used.
pub fn verify_ibm3624(
    pvk: &SecretKey,
    params: &Ibm3624Params,
    pan: &str,
    pin: &pin::Pin,
    offset: &str,
) -> Result<bool, ResponseCode> {
    let table = pvv::DecimalizationTable::new(&params.decimalization)
        .map_err(|_| ResponseCode::SYSTEM_MALFUNCTION)?;
    let validation_data = params
        .validation_data(pan)
        .ok_or(ResponseCode::SYSTEM_MALFUNCTION)?;
    let method = pvv::Ibm3624 {
        pvk,
        table,
        validation_data,
        pad: params.pad,
    };
    method
        .verify(pin, offset)
        .map_err(|_| ResponseCode::SYSTEM_MALFUNCTION)
}

/// Online PIN check: DUKPT-decrypt, decode format 0 against the PAN, verify the PVV or
/// the IBM 3624 offset (whichever the card carries).
/// `Ok(true)` correct, `Ok(false)` wrong, `Err(code)` cannot check.
fn check_pin(
    card: &Card,
    pan: &str,
    pin_data: &PinData,
    keys: &DecisionKeys<'_>,
) -> Result<bool, ResponseCode> {
    if card.pvv.is_none() && card.pin_offset.is_none() {
        return Err(ResponseCode::INCORRECT_PIN);
    }
    let (bdk, pvk) = match (keys.bdk, keys.pvk) {
        (Some(b), Some(p)) => (b, p),
        _ => return Err(ResponseCode::SYSTEM_MALFUNCTION),
    };
    let ksn = dukpt::Ksn::from_bytes(&pin_data.ksn).map_err(|_| ResponseCode::FORMAT_ERROR)?;
    let current = dukpt::derive_current_key_from_bdk(bdk, &ksn)
        .map_err(|_| ResponseCode::SYSTEM_MALFUNCTION)?;
    let pan_t = Pan::new(pan).map_err(|_| ResponseCode::INVALID_CARD_NUMBER)?;
    let Ok(clear) = dukpt::decrypt_pin_block(&current, &pin_data.block) else {
        return Ok(false);
    };
    let Ok((_, pin_value)) = pin::decode(&clear, Some(&pan_t)) else {
        return Ok(false);
    };
    if let (Some(offset), Some(params)) = (&card.pin_offset, &card.ibm3624) {
        return verify_ibm3624(pvk, params, pan, &pin_value, offset);
    }
    let stored = card.pvv.as_deref().ok_or(ResponseCode::INCORRECT_PIN)?;
    let pvki = stored
        .get(..1)
        .and_then(|d| d.parse::<u8>().ok())
        .ok_or(ResponseCode::SYSTEM_MALFUNCTION)?;
    let pvv_digits = stored.get(1..).ok_or(ResponseCode::SYSTEM_MALFUNCTION)?;
    pvv::visa_pvv_verify(pvk, &pan_t, pvki, &pin_value, pvv_digits)
        .map_err(|_| ResponseCode::SYSTEM_MALFUNCTION)
}

/// What a request established before its money checks: flags, the ATC to store, the
/// verified cryptogram and the PIN try change.
struct Passed {
    flags: Vec<String>,
    new_atc: Option<i64>,
    cryptogram: Option<Cryptogram>,
    tries: PinTries,
}

impl Passed {
    fn decision(self, code: ResponseCode, amount: i64) -> Decision {
        Decision {
            code,
            approved_amount: amount,
            flags: self.flags,
            new_atc: self.new_atc,
            pin_tries: self.tries,
            cryptogram: self.cryptogram,
        }
    }
}

/// The checks shared by purchases and refunds: card and account status, expiry, the
/// processing code (`refund`: only `20`; otherwise `00`/`01`/`09`, with `20` answered
/// `57`), amount and currency, ARQC and ATC, online PIN.
fn common_checks(
    card: &Card,
    account: &Account,
    req: &AuthRequest,
    pan: &str,
    keys: &DecisionKeys<'_>,
    now_ms: i64,
    refund: bool,
) -> Result<Passed, Decision> {
    let stopped = match card.status {
        CardStatus::Active => None,
        CardStatus::Lost => Some(ResponseCode::LOST_CARD),
        CardStatus::Stolen => Some(ResponseCode::STOLEN_CARD),
        CardStatus::Blocked => Some(ResponseCode::RESTRICTED_CARD),
        CardStatus::Expired => Some(ResponseCode::EXPIRED_CARD),
    };
    if let Some(code) = stopped {
        // A card the issuer has stopped still gets an authenticated answer when its
        // cryptogram verifies, so the ARPC and the queued issuer scripts (application
        // block) reach the chip (EMV Book 3 §10.9–10.10).
        let mut d = Decision::decline(code);
        if let (false, Some(imk)) = (req.icc.is_empty(), keys.imk_ac)
            && let Ok(icc) = Tlv::parse_all(&req.icc)
            && let Ok(c) = verify_arqc(card, pan, imk, &icc)
            && i64::from(c.atc) > card.last_atc
        {
            d.new_atc = Some(i64::from(c.atc));
            d.cryptogram = Some(c);
        }
        return Err(d);
    }
    if account.status != "active" {
        return Err(Decision::decline(ResponseCode::RESTRICTED_CARD));
    }
    if expired(&card.expiry, now_ms) {
        return Err(Decision::decline(ResponseCode::EXPIRED_CARD));
    }
    if req.expiry.as_deref().is_some_and(|e| e != card.expiry) {
        let mut d = Decision::decline(ResponseCode::DO_NOT_HONOUR);
        d.flags.push("expiry_mismatch".into());
        return Err(d);
    }
    match (req.processing_code.get(..2), refund) {
        (Some("00" | "01" | "09"), false) | (Some("20"), true) => {}
        (Some("20"), false) => {
            return Err(Decision::decline(ResponseCode::NOT_PERMITTED_CARDHOLDER));
        }
        _ => return Err(Decision::decline(ResponseCode::INVALID_TRANSACTION)),
    }
    if req.amount <= 0 {
        return Err(Decision::decline(ResponseCode::INVALID_AMOUNT));
    }
    if req.currency != account.currency {
        return Err(Decision::decline(ResponseCode::INVALID_TRANSACTION));
    }
    let mut passed = Passed {
        flags: Vec::new(),
        new_atc: None,
        cryptogram: None,
        tries: PinTries::Unchanged,
    };
    if !req.icc.is_empty() {
        let Ok(icc) = Tlv::parse_all(&req.icc) else {
            return Err(Decision::decline(ResponseCode::FORMAT_ERROR));
        };
        let Some(imk) = keys.imk_ac else {
            return Err(Decision::decline(ResponseCode::SYSTEM_MALFUNCTION));
        };
        match verify_arqc(card, pan, imk, &icc) {
            Ok(c) => {
                let atc = i64::from(c.atc);
                if atc <= card.last_atc {
                    let mut d = Decision::decline(ResponseCode::SUSPECTED_FRAUD);
                    d.flags.push("atc_replay".into());
                    return Err(d);
                }
                if card.last_atc >= 0 && atc - card.last_atc > ATC_JUMP {
                    passed.flags.push("atc_jump".into());
                }
                passed.new_atc = Some(atc);
                passed.cryptogram = Some(c);
                passed.flags.extend(terminal_risk_flags(&icc));
            }
            Err(flag) => {
                let mut d = Decision::decline(ResponseCode::DO_NOT_HONOUR);
                d.flags.push(flag.into());
                return Err(d);
            }
        }
    } else {
        passed.flags.push("no_cryptogram".into());
    }
    if let Some(pin_data) = &req.pin {
        if card.pin_tries >= card.pin_try_limit {
            return Err(passed.decision(ResponseCode::PIN_TRIES_EXCEEDED, 0));
        }
        match check_pin(card, pan, pin_data, keys) {
            Ok(true) => passed.tries = PinTries::Reset,
            Ok(false) => {
                let code = if card.pin_tries + 1 >= card.pin_try_limit {
                    ResponseCode::PIN_TRIES_EXCEEDED
                } else {
                    ResponseCode::INCORRECT_PIN
                };
                passed.tries = PinTries::Increment;
                return Err(passed.decision(code, 0));
            }
            Err(code) => return Err(passed.decision(code, 0)),
        }
    }
    Ok(passed)
}

/// Decides an authorization (0100) or financial request (0200). `pan` is the clear PAN
/// of the request (the card was found by its keyed hash). A refund (processing code 20)
/// is answered `57` here: refunds go through [`decide_refund`] (0200 only).
pub fn decide(
    card: &Card,
    account: &Account,
    req: &AuthRequest,
    pan: &str,
    usage: Usage,
    keys: &DecisionKeys<'_>,
    now_ms: i64,
) -> Decision {
    let passed = match common_checks(card, account, req, pan, keys, now_ms, false) {
        Ok(p) => p,
        Err(d) => return d,
    };
    if account.daily_amount_limit > 0
        && usage.amount.saturating_add(req.amount) > account.daily_amount_limit
    {
        return passed.decision(ResponseCode::EXCEEDS_AMOUNT_LIMIT, 0);
    }
    if account.daily_count_limit > 0 && usage.count + 1 > account.daily_count_limit {
        return passed.decision(ResponseCode::EXCEEDS_FREQUENCY_LIMIT, 0);
    }
    let available = account.available();
    if available >= req.amount {
        passed.decision(ResponseCode::APPROVED, req.amount)
    } else if req.partial_allowed && available > 0 && req.processing_code.starts_with("00") {
        passed.decision(ResponseCode::APPROVED_PARTIAL, available)
    } else {
        passed.decision(ResponseCode::INSUFFICIENT_FUNDS, 0)
    }
}

/// How much may still be refunded to a card at a merchant (see [`decide_refund`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refundable {
    /// The card does not accept refunds (`cards.refunds_allowed = 0`).
    NotAllowed,
    /// Captured on the card at the merchant in the last [`REFUND_WINDOW_DAYS`] days, net of
    /// reversals and of the refunds already made (minor units).
    Up(i64),
}

/// A refund must be covered by what the card paid the same merchant in this many days.
pub const REFUND_WINDOW_DAYS: i64 = 90;

/// Decides a refund (0200 with processing code 20: a credit to the cardholder). The same
/// card, account, expiry, ARQC / ATC and PIN checks as [`decide`]; then `57`
/// (transaction not permitted to cardholder) when the card does not accept refunds
/// (flag `refunds_not_allowed`) or the amount exceeds [`Refundable::Up`] (flag
/// `refund_exceeds_captures`). No funds or velocity check: money goes to the cardholder.
pub fn decide_refund(
    card: &Card,
    account: &Account,
    req: &AuthRequest,
    pan: &str,
    refundable: Refundable,
    keys: &DecisionKeys<'_>,
    now_ms: i64,
) -> Decision {
    let mut passed = match common_checks(card, account, req, pan, keys, now_ms, true) {
        Ok(p) => p,
        Err(d) => return d,
    };
    match refundable {
        Refundable::NotAllowed => {
            passed.flags.push("refunds_not_allowed".into());
            passed.decision(ResponseCode::NOT_PERMITTED_CARDHOLDER, 0)
        }
        Refundable::Up(max) if req.amount > max => {
            passed.flags.push("refund_exceeds_captures".into());
            passed.decision(ResponseCode::NOT_PERMITTED_CARDHOLDER, 0)
        }
        Refundable::Up(_) => passed.decision(ResponseCode::APPROVED, req.amount),
    }
}

/// Risk flags from the terminal's own checks, read from the (ARQC-authenticated) TVR (95)
/// and CVM Results (9F34) (EMV Book 3 Annex C5, Book 4 Annex A4). They are recorded with
/// the transaction for the back office; the decision does not decline on them (the issuer
/// has verified the cryptogram, and an online PIN is checked by the host itself).
pub fn terminal_risk_flags(icc: &[Tlv]) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(tvr) = tag_value(icc, 0x95).filter(|t| t.len() == 5) {
        let (b1, b3) = (tvr[0], tvr[2]);
        if b1 & (0x40 | 0x08 | 0x04) != 0 {
            flags.push("tvr_oda_failed".to_owned());
        }
        if b1 & 0x10 != 0 {
            flags.push("tvr_exception_file".to_owned());
        }
        if b3 & 0x80 != 0 {
            flags.push("tvr_cvm_failed".to_owned());
        }
        if b3 & 0x20 != 0 {
            flags.push("tvr_pin_try_limit_exceeded".to_owned());
        }
    }
    if tag_value(icc, 0x9F34)
        .and_then(|c| c.get(2))
        .is_some_and(|r| *r == 0x01)
    {
        flags.push("cvm_result_failed".to_owned());
    }
    flags
}

/// Tag 91 Issuer Authentication Data for a verified ARQC (Book 2 §8.2).
pub fn issuer_authentication_data(c: &Cryptogram, code: ResponseCode) -> Option<Vec<u8>> {
    let arc = code.to_bytes();
    let approved = matches!(
        code,
        ResponseCode::APPROVED | ResponseCode::APPROVED_PARTIAL | ResponseCode::APPROVED_VIP
    );
    match c.cvn.profile().arpc {
        ArpcMethod::Method1 => {
            let arpc = emv::generate_arpc(
                c.cvn,
                c.mk_ac.as_bytes(),
                c.atc,
                c.un,
                &c.arqc,
                ArpcResponse::Method1 { arc },
            )
            .ok()?;
            Some([arpc.as_slice(), &arc].concat())
        }
        ArpcMethod::Method2 => {
            let csu = if approved {
                [0x00, 0x83, 0x00, 0x00]
            } else {
                [0; 4]
            };
            let arpc = emv::generate_arpc(
                c.cvn,
                c.mk_ac.as_bytes(),
                c.atc,
                c.un,
                &c.arqc,
                ArpcResponse::Method2 {
                    csu,
                    proprietary: &[],
                },
            )
            .ok()?;
            Some([arpc.as_slice(), &csu].concat())
        }
    }
}

/// The card's MK-SMI from the issuer's IMK-SMI, for script MACs.
pub fn derive_mk_smi(cvn: Cvn, imk_smi: &SecretKey, pan: &str, psn: u8) -> Option<SecretKey> {
    let p = cvn.profile();
    let alg: Algorithm = p.algorithm;
    emv::derive_icc_mk(alg, p.mk_derivation, imk_smi.as_bytes(), pan, psn_bcd(psn)).ok()
}
