//! ISO 8583 ⇄ issuer: turns a decoded request [`Message`] into an [`AuthRequest`], calls
//! the [`Issuer`], and builds the response message (docs/iso8583.md §6 field matrix;
//! Lamina conventions in docs/host.md).
//!
//! | request | issuer call | response |
//! |---|---|---|
//! | 0100/0101 | authorization (hold) | 0110 |
//! | 0200/0201 | financial (post; DE 3 = 20: refund, a credit) | 0210 |
//! | 0120/0121, 0220/0221 | completion (capture, or offline advice: TC verified, DE 3 = 20 refund) | 0130, 0230 |
//! | 0400/0401, 0420/0421 | reversal | 0410, 0430 |
//! | 0500 | terminal batch reconciliation ([`crate::settle::reconcile_message`]) | 0510 |
//! | 0800 | sign-on / echo / sign-off (DE 70) | 0810 |
//!
//! A request missing a mandatory element, or with one that does not parse (amount,
//! currency, DE 90), is answered with `30` (format error). Internal failures answer `96`;
//! the server answers `91` when the issuer does not respond in time.

use lamina_iso8583::{Message, MessageClass, Mti, ResponseCode};

use crate::error::Result;
use crate::issuer::{AuthRequest, AuthResponse, Issuer, PinData, RequestKind, TxnKey};

/// Elements echoed from request to response (docs/iso8583.md §6.1 `E`).
pub const ECHO: [u8; 12] = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90];

/// Why a request cannot be mapped: answered with code 30.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format error: {0}")]
pub struct FormatError(pub &'static str);

fn text(msg: &Message, n: u8) -> Option<String> {
    msg.get_str(n).map(str::to_owned)
}

/// Whether DE 7 (transmission date and time, `MMDDhhmmss`, UTC) is a real date and time:
/// month 01-12, a day that month can have (29 February included: DE 7 has no year),
/// hour 00-23, minute and second 00-59.
pub fn valid_transmission(de7: &str) -> bool {
    if de7.len() != 10 || !de7.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let n = |i: usize| de7.get(i..i + 2).and_then(|p| p.parse::<u32>().ok());
    let (Some(month), Some(day), Some(h), Some(m), Some(sec)) = (n(0), n(2), n(4), n(6), n(8))
    else {
        return false;
    };
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=days).contains(&day) && h < 24 && m < 60 && sec < 60
}

/// Parses a numeric amount element.
fn amount(msg: &Message, n: u8) -> Result<i64, FormatError> {
    match msg.get_str(n) {
        None => Ok(0),
        Some(s) => s.parse::<i64>().map_err(|_| FormatError("amount")),
    }
}

/// PAN from DE 2, else from DE 35 (track 2 up to the separator).
fn pan_of(msg: &Message) -> Option<String> {
    text(msg, 2).or_else(|| {
        msg.get_str(35)
            .and_then(|t| t.split(['=', 'D', 'd']).next())
            .map(str::to_owned)
    })
}

/// Maps a request message to an issuer request.
pub fn to_request(msg: &Message) -> Result<AuthRequest, FormatError> {
    let kind = request_kind(msg.mti).ok_or(FormatError("message type"))?;
    let need = |n: u8, what: &'static str| text(msg, n).ok_or(FormatError(what));
    let key = TxnKey {
        acquirer: text(msg, 32).unwrap_or_default(),
        terminal: need(41, "DE 41 terminal id")?,
        stan: need(11, "DE 11 STAN")?,
        transmission: need(7, "DE 7 transmission time")?,
    };
    if !valid_transmission(&key.transmission) {
        return Err(FormatError("DE 7 transmission date and time"));
    }
    let currency = need(49, "DE 49 currency")?;
    let original = match msg.original_data() {
        Some(Ok(od)) => Some((od.stan, od.transmission)),
        Some(Err(_)) => return Err(FormatError("DE 90")),
        None => None,
    };
    if kind == RequestKind::Reversal && original.is_none() {
        return Err(FormatError("DE 90 original data"));
    }
    let psn = match msg.get_str(23) {
        Some(s) => Some(s.parse::<u8>().map_err(|_| FormatError("DE 23"))?),
        None => None,
    };
    let pin = match (msg.get_bytes(52), msg.get_bytes(53)) {
        (Some(b), Some(k)) => Some(PinData {
            block: b.try_into().map_err(|_| FormatError("DE 52"))?,
            ksn: k.to_vec(),
        }),
        (None, None) => None,
        _ => return Err(FormatError("DE 52 without DE 53")),
    };
    let pan = pan_of(msg);
    if matches!(kind, RequestKind::Authorization | RequestKind::Financial) && pan.is_none() {
        return Err(FormatError("DE 2 PAN"));
    }
    Ok(AuthRequest {
        kind,
        mti: msg.mti.as_str().to_owned(),
        key,
        merchant: text(msg, 42).unwrap_or_default(),
        rrn: text(msg, 37).unwrap_or_default(),
        pan,
        psn,
        expiry: text(msg, 14),
        processing_code: text(msg, 3).unwrap_or_else(|| "000000".into()),
        amount: amount(msg, 4)?,
        currency,
        icc: msg.get_bytes(55).map(<[u8]>::to_vec).unwrap_or_default(),
        pin,
        partial_allowed: msg
            .get_str(60)
            .is_some_and(|s| s.to_ascii_lowercase().contains("partial")),
        original,
        replacement_amount: match msg.get_str(95) {
            Some(v) => Some(
                v.get(..12)
                    .and_then(|a| a.parse::<i64>().ok())
                    .ok_or(FormatError("DE 95"))?,
            ),
            None => None,
        },
    })
}

/// The response message for `msg` carrying `resp`.
pub fn to_response(msg: &Message, resp: &AuthResponse) -> Option<Message> {
    let mut out = msg.response_skeleton(&ECHO)?;
    out.set(39, resp.response_code.as_str());
    if let Some(code) = &resp.auth_code {
        out.set(38, code.as_str());
    }
    if resp.response_code == ResponseCode::APPROVED_PARTIAL.as_str() {
        out.set(4, format!("{:012}", resp.approved_amount));
    }
    if let (Some(avail), Some(cur)) = (resp.available, msg.get_str(49))
        && matches!(msg.mti.original().as_str(), "0100" | "0200")
    {
        let sign = if avail < 0 { 'D' } else { 'C' };
        out.set(
            54,
            format!(
                "0002{cur}{sign}{:012}",
                avail.unsigned_abs() % 1_000_000_000_000
            ),
        );
    }
    if !resp.icc.is_empty() {
        out.set(55, resp.icc.clone());
    }
    Some(out)
}

/// A response with only a code (format error, system error, timeout).
pub fn code_response(msg: &Message, code: ResponseCode) -> Option<Message> {
    let mut out = msg.response_skeleton(&ECHO)?;
    out.set(39, code.as_str());
    Some(out)
}

/// What a request MTI (or its repeat) asks of the issuer.
fn request_kind(mti: Mti) -> Option<RequestKind> {
    match mti.original() {
        Mti::AUTHORIZATION_REQUEST => Some(RequestKind::Authorization),
        Mti::FINANCIAL_REQUEST => Some(RequestKind::Financial),
        Mti::AUTHORIZATION_ADVICE | Mti::FINANCIAL_ADVICE => Some(RequestKind::Completion),
        Mti::REVERSAL_REQUEST | Mti::REVERSAL_ADVICE => Some(RequestKind::Reversal),
        _ => None,
    }
}

/// The 0810 to an 0800: sign-on (001), sign-off (002) and echo (301) are
/// approved, anything else is an invalid transaction (12).
fn network_management(msg: &Message) -> Option<Message> {
    let mut out = msg.response_skeleton(&[7, 11, 32, 41, 70])?;
    let code = match msg.get_str(70) {
        Some("001" | "002" | "301") => ResponseCode::APPROVED,
        _ => ResponseCode::INVALID_TRANSACTION,
    };
    out.set(39, code.as_str());
    Some(out)
}

/// Handles one decoded message; `None` when nothing is to be sent back (a response or
/// an advice response arriving at the host).
pub async fn handle(issuer: &Issuer, msg: &Message) -> Option<Message> {
    if msg.mti.is_response() {
        return None;
    }
    if msg.get_str(7).is_some_and(|t| !valid_transmission(t)) {
        tracing::debug!(
            mti = msg.mti.as_str(),
            "format error: DE 7 is not a date and time"
        );
        return code_response(msg, ResponseCode::FORMAT_ERROR);
    }
    match msg.mti.class() {
        MessageClass::NetworkManagement => network_management(msg),
        MessageClass::Reconciliation => {
            let r = crate::settle::reconcile_message(issuer, msg).await;
            match r {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "reconciliation failed");
                    code_response(msg, ResponseCode::SYSTEM_MALFUNCTION)
                }
            }
        }
        _ => match to_request(msg) {
            Err(e) => {
                tracing::debug!(error = %e, "format error");
                code_response(msg, ResponseCode::FORMAT_ERROR)
            }
            Ok(req) => {
                // Masked PAN only; never the PIN block or the ICC data.
                let pan = req.pan.as_deref().map(crate::keys::mask_pan);
                let (mti, stan, terminal) = (
                    req.mti.clone(),
                    req.key.stan.clone(),
                    req.key.terminal.clone(),
                );
                let (amount, currency) = (req.amount, req.currency.clone());
                let out = issuer.authorize(req).await;
                if let Ok(resp) = &out {
                    tracing::debug!(
                        mti,
                        stan,
                        terminal,
                        pan = pan.as_deref().unwrap_or("-"),
                        amount,
                        currency,
                        code = resp.response_code.as_str(),
                        "request answered"
                    );
                }
                match out {
                    Ok(resp) => to_response(msg, &resp),
                    Err(crate::error::HostError::Invalid { .. }) => {
                        code_response(msg, ResponseCode::FORMAT_ERROR)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "issuer failure");
                        code_response(msg, ResponseCode::SYSTEM_MALFUNCTION)
                    }
                }
            }
        },
    }
}

/// Whether an MTI is one this host answers.
pub fn answers(mti: Mti) -> bool {
    mti.expects_response()
}

#[cfg(test)]
mod tests {
    use super::valid_transmission;

    #[test]
    fn transmission_date_time() {
        for ok in ["1125100000", "0229235959", "0101000000", "1231235959"] {
            assert!(valid_transmission(ok), "{ok}");
        }
        for bad in [
            "9999999999",
            "0001000000",
            "1300000000",
            "0100000000",
            "0230000000",
            "0431000000",
            "1125240000",
            "1125106000",
            "1125100060",
            "112510000",
            "11251000000",
            "11251000a0",
            "+125100000",
        ] {
            assert!(!valid_transmission(bad), "{bad}");
        }
    }
}
