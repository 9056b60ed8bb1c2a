//! Cardholder verification (EMV 4.4 Book 3 §10.5; Book 4 §6.3.4): the CVM List
//! rules and conditions (amounts X and Y), offline plaintext and enciphered PIN
//! with the PIN Try Counter, online PIN under the PIN pad's DUKPT key, signature,
//! no CVM, bypass; CVM Results and TVR byte 3.

use lamina_apdu::StatusWord;
use lamina_crypto::pin;
use lamina_emv::bitmaps::{
    AipBit, CvRule, CvmCondition, CvmList, CvmMethod, CvmResult, CvmResults,
    TerminalCapabilitiesBit as Cap, TsiBit, TvrBit,
};
use lamina_emv::tags;
use rand::CryptoRng;

use crate::data;
use crate::io::cmd;
use crate::kernel::{Ctx, KernelError, get_data};
use crate::ui::{Event, Message, PinEntry, PinPurpose};

/// How one CVM ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Performed {
    /// Verified (result '02').
    Successful,
    /// Result unknown to the terminal (signature, online PIN: '00').
    Unknown,
    /// Failed ('01').
    Failed,
}

/// Book 3 §10.5: processes the CVM List.
pub(crate) fn perform<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<(), KernelError> {
    if !ctx.aip().is_set(AipBit::CardholderVerificationSupported) {
        ctx.cvm = CvmResults([0x3F, 0x00, 0x00]);
        return Ok(());
    }
    ctx.tsi.set(TsiBit::CardholderVerificationPerformed);
    let list = match ctx.card.get(tags::CVM_LIST).map(CvmList::parse) {
        Some(Ok(l)) if !l.rules.is_empty() => l,
        _ => {
            // §10.5: no (usable) CVM List: ICC data missing, CVM Results '3F0000'.
            ctx.tvr.set(TvrBit::IccDataMissing);
            ctx.cvm = CvmResults([0x3F, 0x00, 0x00]);
            return Ok(());
        }
    };
    let mut last: Option<CvRule> = None;
    for rule in &list.rules {
        if !condition_satisfied(ctx, &list, rule) {
            continue;
        }
        let outcome = apply(ctx, rule)?;
        last = Some(*rule);
        match outcome {
            Performed::Successful => {
                ctx.cvm = CvmResults::from_rule(*rule, CvmResult::Successful);
                return Ok(());
            }
            Performed::Unknown => {
                ctx.cvm = CvmResults::from_rule(*rule, CvmResult::Unknown);
                return Ok(());
            }
            Performed::Failed => {
                if !rule.apply_next_if_unsuccessful || rule.method == CvmMethod::FailCvmProcessing {
                    break;
                }
            }
        }
    }
    // §10.5.5: no CVM succeeded.
    ctx.tvr.set(TvrBit::CardholderVerificationNotSuccessful);
    ctx.cvm = match last {
        Some(rule) => CvmResults::from_rule(rule, CvmResult::Failed),
        None => CvmResults([0x3F, 0x00, 0x01]),
    };
    Ok(())
}

/// Whether the terminal supports a CVM (Book 4 §6.3.4, Terminal Capabilities byte 2).
fn supported<R: CryptoRng>(ctx: &Ctx<'_, R>, m: CvmMethod) -> bool {
    let caps = ctx.cfg.capabilities;
    match m {
        CvmMethod::FailCvmProcessing => true,
        CvmMethod::PlaintextPinByIcc => caps.is_set(Cap::PlaintextPinForIccVerification),
        CvmMethod::EncipheredPinOnline => {
            caps.is_set(Cap::EncipheredPinForOnlineVerification)
                && ctx.cfg.online_capable
                && ctx.pin_encryptor.is_some()
        }
        CvmMethod::PlaintextPinByIccAndSignature => {
            caps.is_set(Cap::PlaintextPinForIccVerification) && caps.is_set(Cap::Signature)
        }
        CvmMethod::EncipheredPinByIcc => caps.is_set(Cap::EncipheredPinForOfflineVerificationRsa),
        CvmMethod::EncipheredPinByIccAndSignature => {
            caps.is_set(Cap::EncipheredPinForOfflineVerificationRsa) && caps.is_set(Cap::Signature)
        }
        CvmMethod::Signature => caps.is_set(Cap::Signature),
        CvmMethod::NoCvmRequired => caps.is_set(Cap::NoCvmRequired),
        _ => false,
    }
}

fn recognised(m: CvmMethod) -> bool {
    !matches!(m, CvmMethod::Other(_) | CvmMethod::NoCvmPerformed)
}

/// Book 3 §10.5 and Annex C3 Table 44: CVM condition codes.
fn condition_satisfied<R: CryptoRng>(ctx: &Ctx<'_, R>, list: &CvmList, rule: &CvRule) -> bool {
    let r = ctx.req;
    let cash = matches!(r.transaction_type, 0x01 | 0x17);
    let cashback = r.transaction_type == 0x09 || r.amount_other > 0;
    let unattended = ctx.cfg.is_unattended();
    // Amount X/Y conditions apply only in the application currency (9F42).
    let in_app_currency = ctx
        .card
        .get(tags::APPLICATION_CURRENCY_CODE)
        .and_then(data::from_bcd)
        .is_some_and(|c| c == u64::from(ctx.cfg.currency));
    let amount = r.amount;
    match rule.condition {
        CvmCondition::Always => true,
        CvmCondition::UnattendedCash => unattended && cash,
        CvmCondition::NotCashOrCashback => !cash && !cashback,
        CvmCondition::TerminalSupportsCvm => supported(ctx, rule.method),
        CvmCondition::ManualCash => !unattended && cash,
        CvmCondition::PurchaseWithCashback => cashback,
        CvmCondition::UnderX => in_app_currency && amount < u64::from(list.amount_x),
        CvmCondition::OverX => in_app_currency && amount > u64::from(list.amount_x),
        CvmCondition::UnderY => in_app_currency && amount < u64::from(list.amount_y),
        CvmCondition::OverY => in_app_currency && amount > u64::from(list.amount_y),
        CvmCondition::Other(_) => false,
    }
}

/// Performs one CVM (Book 3 §10.5.1–10.5.4).
fn apply<R: CryptoRng>(ctx: &mut Ctx<'_, R>, rule: &CvRule) -> Result<Performed, KernelError> {
    let m = rule.method;
    if !recognised(m) {
        ctx.tvr.set(TvrBit::UnrecognisedCvm);
        return Ok(Performed::Failed);
    }
    if !supported(ctx, m) {
        if matches!(
            m,
            CvmMethod::PlaintextPinByIcc
                | CvmMethod::EncipheredPinOnline
                | CvmMethod::PlaintextPinByIccAndSignature
                | CvmMethod::EncipheredPinByIcc
                | CvmMethod::EncipheredPinByIccAndSignature
        ) {
            ctx.tvr.set(TvrBit::PinPadNotPresentOrNotWorking);
        }
        return Ok(Performed::Failed);
    }
    match m {
        CvmMethod::FailCvmProcessing => Ok(Performed::Failed),
        CvmMethod::NoCvmRequired => Ok(Performed::Successful),
        CvmMethod::Signature => {
            ctx.signature = true;
            Ok(Performed::Unknown)
        }
        CvmMethod::PlaintextPinByIcc => offline_pin(ctx, false),
        CvmMethod::EncipheredPinByIcc => offline_pin(ctx, true),
        CvmMethod::PlaintextPinByIccAndSignature | CvmMethod::EncipheredPinByIccAndSignature => {
            let r = offline_pin(ctx, m == CvmMethod::EncipheredPinByIccAndSignature)?;
            if r == Performed::Successful {
                ctx.signature = true;
                Ok(Performed::Unknown)
            } else {
                Ok(r)
            }
        }
        CvmMethod::EncipheredPinOnline => online_pin(ctx),
        _ => Ok(Performed::Failed),
    }
}

/// Offline PIN (Book 3 §10.5.1, §10.5.2; Book 4 §6.3.4.1): PIN Try Counter, prompt,
/// VERIFY in plaintext (P2 '80', format 2 block) or enciphered (P2 '88', Book 2 §7).
fn offline_pin<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    enciphered: bool,
) -> Result<Performed, KernelError> {
    // The PIN Try Counter (9F17): at zero, do not prompt.
    if let Some(ptc) = get_data(ctx, 0x9F17)? {
        match ptc.first() {
            Some(0) => {
                ctx.tvr.set(TvrBit::PinTryLimitExceeded);
                return Ok(Performed::Failed);
            }
            Some(1) => ctx.event(Event::LastPinTry),
            _ => {}
        }
    }
    let key = if enciphered {
        match crate::oda::retrieve_pin_key(ctx) {
            Some(k) => Some(k),
            None => return Ok(Performed::Failed),
        }
    } else {
        None
    };
    for attempt in 1..=16u8 {
        ctx.msg(Message::EnterPin);
        let pin = match ctx.pin_pad.request_pin(PinPurpose::Offline, attempt) {
            PinEntry::Pin(p) => p,
            PinEntry::Bypassed => {
                if !ctx.cfg.pin_bypass {
                    return Err(KernelError::Cancelled);
                }
                ctx.tvr.set(TvrBit::PinNotEntered);
                return Ok(Performed::Failed);
            }
            PinEntry::Unavailable => {
                ctx.tvr.set(TvrBit::PinPadNotPresentOrNotWorking);
                return Ok(Performed::Failed);
            }
        };
        let clear = pin::encode_iso2(&pin);
        let Ok(block) = <[u8; 8]>::try_from(clear.as_bytes()) else {
            return Err(KernelError::Terminal("PIN block is not 8 bytes".into()));
        };
        let command = match &key {
            None => cmd::verify(0x80, &block),
            Some(k) => {
                let r = ctx.exchange(&cmd::get_challenge())?;
                let Some(challenge) =
                    r.sw.is_ok()
                        .then(|| <[u8; 8]>::try_from(r.data.as_slice()).ok())
                        .flatten()
                else {
                    return Ok(Performed::Failed);
                };
                match lamina_crypto::pki::encipher_pin_block(k, ctx.rng, &block, &challenge) {
                    Ok(enc) => cmd::verify(0x88, &enc),
                    Err(_) => return Ok(Performed::Failed),
                }
            }
        };
        let r = ctx.exchange(&command)?;
        if r.sw.is_ok() {
            ctx.msg(Message::PinOk);
            return Ok(Performed::Successful);
        }
        if let Some(left) = r.sw.counter() {
            ctx.msg(Message::IncorrectPin);
            if left == 0 {
                ctx.tvr.set(TvrBit::PinTryLimitExceeded);
                return Ok(Performed::Failed);
            }
            ctx.event(Event::PinTriesLeft(left));
            if left == 1 {
                ctx.event(Event::LastPinTry);
            }
            continue;
        }
        if r.sw == StatusWord::AUTH_METHOD_BLOCKED || r.sw == StatusWord::REFERENCE_DATA_NOT_USABLE
        {
            ctx.tvr.set(TvrBit::PinTryLimitExceeded);
            return Ok(Performed::Failed);
        }
        return Ok(Performed::Failed);
    }
    Ok(Performed::Failed)
}

/// Online PIN (Book 3 §10.5.3; Book 4 §6.3.4.2): ISO 9564-1 format 0 block with the
/// PAN, encrypted by the PIN pad under its DUKPT key; TVR "online PIN entered".
fn online_pin<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<Performed, KernelError> {
    let Some(pan) = ctx.pan().and_then(|p| pin::Pan::new(&p).ok()) else {
        return Ok(Performed::Failed);
    };
    ctx.msg(Message::EnterPin);
    let pin = match ctx.pin_pad.request_pin(PinPurpose::Online, 1) {
        PinEntry::Pin(p) => p,
        PinEntry::Bypassed => {
            if !ctx.cfg.pin_bypass {
                return Err(KernelError::Cancelled);
            }
            ctx.tvr.set(TvrBit::PinNotEntered);
            return Ok(Performed::Failed);
        }
        PinEntry::Unavailable => {
            ctx.tvr.set(TvrBit::PinPadNotPresentOrNotWorking);
            return Ok(Performed::Failed);
        }
    };
    let clear = pin::encode_iso0(&pin, &pan);
    let Ok(block) = <[u8; 8]>::try_from(clear.as_bytes()) else {
        return Err(KernelError::Terminal("PIN block is not 8 bytes".into()));
    };
    let Some(enc) = ctx.pin_encryptor.as_mut() else {
        ctx.tvr.set(TvrBit::PinPadNotPresentOrNotWorking);
        return Ok(Performed::Failed);
    };
    match enc.encrypt(&block) {
        Ok(e) => {
            ctx.online_pin = Some(e);
            ctx.tvr.set(TvrBit::OnlineCvmCaptured);
            Ok(Performed::Unknown)
        }
        Err(_) => {
            ctx.tvr.set(TvrBit::PinPadNotPresentOrNotWorking);
            Ok(Performed::Failed)
        }
    }
}
