//! The applet's dynamic state as tools show it (`lamina card state`): counters,
//! PIN tries, risk flags and the transaction log. Never keys, PIN or records.

use lamina_card::{Aid, Card};
use lamina_emv::dol::Dol;
use lamina_tlv::Tag;
use serde::Serialize;

use super::store::{self, Flags};

/// One transaction log record decoded with the Log Format (EMV Book 3 Annex D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// Record number (1 = most recent).
    pub record: u8,
    /// `(tag, value)` pairs in Log Format order, hex.
    pub values: Vec<(String, String)>,
}

/// The EMV application's dynamic state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmvState {
    /// Personalization completed.
    pub personalized: bool,
    /// Application Transaction Counter (`9F36`).
    pub atc: Option<u16>,
    /// Last Online ATC Register (`9F13`).
    pub last_online_atc: Option<u16>,
    /// PIN Try Counter (`9F17`), if the card has an offline PIN.
    pub pin_tries_left: Option<u8>,
    /// PIN Try Limit.
    pub pin_try_limit: Option<u8>,
    /// Consecutive offline transactions since the last online one.
    pub consecutive_offline: Option<u8>,
    /// Cumulative offline amount (minor units).
    pub cumulative_offline_amount: Option<u64>,
    /// The last online transaction did not complete.
    pub last_online_not_completed: bool,
    /// Issuer authentication failed in the last online transaction.
    pub issuer_auth_failed: bool,
    /// Issuer authentication was not performed after the last online authorisation.
    pub issuer_auth_not_performed: bool,
    /// An issuer script command failed.
    pub script_failed: bool,
    /// Secure messaging script commands since the last issuer-authenticated online
    /// transaction.
    pub script_commands: u8,
    /// Transaction log, most recent first.
    pub log: Vec<LogEntry>,
}

fn u16_of(v: Option<&[u8]>) -> Option<u16> {
    v.and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes)
}

/// The state of the EMV application `aid` on `card` (`None` if the card has no
/// records for it). Reads committed NVM only.
pub fn card_state(card: &Card, aid: &Aid) -> Option<EmvState> {
    let rec = |k: &str| card.record(aid, k);
    let do_val = |t: u32| rec(&store::do_key(Tag::new(t)));
    card.nvm().records.get(&aid.to_hex())?;
    let flags = Flags(
        rec(store::FLAGS)
            .and_then(|v| v.first().copied())
            .unwrap_or(0),
    );
    let mut log = Vec::new();
    let fci = rec(store::FCI).unwrap_or_default();
    let entry = lamina_tlv::Tlv::parse_all(fci)
        .ok()
        .and_then(|l| lamina_tlv::find_recursive(&l, 0x9F4Du32).cloned())
        .and_then(|t| t.value_bytes().map(<[u8]>::to_vec));
    if let (Some([_, n]), Some(fmt)) = (entry.as_deref(), do_val(0x9F4F))
        && *n > 0
        && let Ok(dol) = Dol::parse(fmt)
    {
        let count = rec(store::LOG_COUNT)
            .and_then(|v| v.first().copied())
            .unwrap_or(0);
        let head = rec(store::LOG_HEAD)
            .and_then(|v| v.first().copied())
            .unwrap_or(0);
        for r in 1..=count.min(*n) {
            let Some(data) = store::log_slot(head, *n, r).and_then(|s| rec(&store::log_key(s)))
            else {
                continue;
            };
            let values = dol
                .split(data)
                .map(|v| {
                    v.into_iter()
                        .map(|(t, b)| (hex::encode_upper(t.to_bytes()), hex::encode_upper(b)))
                        .collect()
                })
                .unwrap_or_default();
            log.push(LogEntry { record: r, values });
        }
    }
    Some(EmvState {
        personalized: rec(store::PERSO).is_some(),
        atc: u16_of(rec(store::ATC)),
        last_online_atc: u16_of(rec(store::LAST_ONLINE_ATC)),
        pin_tries_left: rec(store::PTC).and_then(|v| v.first().copied()),
        pin_try_limit: rec(store::PTL).and_then(|v| v.first().copied()),
        consecutive_offline: rec(store::CONSECUTIVE).and_then(|v| v.first().copied()),
        cumulative_offline_amount: rec(store::CUMULATIVE)
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map(u64::from_be_bytes),
        last_online_not_completed: flags.has(Flags::LAST_ONLINE_NOT_COMPLETED),
        issuer_auth_failed: flags.has(Flags::ISSUER_AUTH_FAILED),
        issuer_auth_not_performed: flags.has(Flags::ISSUER_AUTH_NOT_PERFORMED),
        script_failed: flags.has(Flags::SCRIPT_FAILED),
        script_commands: flags.scripts(),
        log,
    })
}
