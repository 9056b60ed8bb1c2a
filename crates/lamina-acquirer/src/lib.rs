//! # lamina-acquirer — the terminal's acquirer link over ISO 8583/TCP
//!
//! The terminal kernel (`lamina-terminal`) does no I/O: online it calls an
//! [`AcquirerLink`]. [`IsoLink`] is the real one: it turns the kernel's
//! authorisation, advice and reversal into Lamina ISO 8583:1987 messages
//! (`docs/iso8583.md`) and carries them over TCP with the host's pipelining
//! client, blocking the (synchronous) kernel on the async client through a tokio
//! runtime handle.
//!
//! | kernel call | message | host meaning |
//! |---|---|---|
//! | `authorize` | 0100 (0200 with `financial`) | authorisation hold (or posting) |
//! | `advise` (card approved) | 0220 with DE 90 = the original | completion: capture of the hold |
//! | `advise` (card declined) | 0420 with DE 90 | reversal advice: release the hold |
//! | `reverse` | 0400 with DE 90 | reversal |
//! | [`IsoLink::advise_offline`] / [`AdviceSender`] (offline approval, TC); the retry policy in [`advice::deliver_advice`] | 0220 without DE 90 (`Y3`: DE 90 = the unanswered 0100 if sent), DE 39 = `Y1`/`Y3`, DE 55 with the TC; a retry is the 0221 repeat with the same DE 7 | posts the offline purchase once (`Y3` with a hold: captures it) |

pub mod advice;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lamina_iso8583::{Message, Mti, OriginalData, ResponseCode};
use lamina_link::client::HostClient;
use lamina_terminal::clearing::{
    AdviceAnswer, AdviceSender, CardInterface, OfflineAdvice, PendingAdvice,
};
use lamina_terminal::online::{
    AcquirerLink, Advice, AuthorizationRequest, AuthorizationResponse, LinkError, Reversal,
};
use lamina_tlv::{Tag, Tlv};

/// Where the acquirer sits and who the merchant is (ISO 8583 DE 32, 18, 43).
#[derive(Debug, Clone)]
pub struct AcquirerConfig {
    /// Acquiring institution identification code (DE 32, up to 11 digits).
    pub acquirer_id: String,
    /// Card acceptor name/location (DE 43, up to 40 characters).
    pub acceptor_name: String,
    /// Send 0200 (financial: posts at once) instead of 0100 (authorisation hold).
    pub financial: bool,
    /// How long to wait for a response before "unable to go online".
    pub timeout: Duration,
}

impl Default for AcquirerConfig {
    fn default() -> Self {
        AcquirerConfig {
            acquirer_id: "12345678".into(),
            acceptor_name: "LAMINA TEST MERCHANT".into(),
            financial: false,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The transmission clock: DE 7 (MMDDhhmmss), DE 12 (hhmmss), DE 13 (MMDD).
pub trait TransmissionClock: Send {
    /// The current date and time as (month, day, hour, minute, second).
    fn now(&mut self) -> (u8, u8, u8, u8, u8);
}

/// A clock that ticks one second per call from a start time (tests and the demo's
/// scripted day).
#[derive(Debug, Clone)]
pub struct SteppingClock {
    /// Seconds since the start of the year's first day (month 1, day 1).
    pub seconds: u64,
}

impl TransmissionClock for SteppingClock {
    fn now(&mut self) -> (u8, u8, u8, u8, u8) {
        self.seconds += 1;
        let s = self.seconds;
        let day_of_year = s / 86_400;
        let month = u8::try_from((day_of_year / 28) % 12 + 1).unwrap_or(1);
        let day = u8::try_from(day_of_year % 28 + 1).unwrap_or(1);
        let hour = u8::try_from((s / 3600) % 24).unwrap_or(0);
        let minute = u8::try_from((s / 60) % 60).unwrap_or(0);
        let second = u8::try_from(s % 60).unwrap_or(0);
        (month, day, hour, minute, second)
    }
}

/// The terminal's ISO 8583 link to the host.
pub struct IsoLink {
    client: Arc<HostClient>,
    runtime: tokio::runtime::Handle,
    config: AcquirerConfig,
    clock: Box<dyn TransmissionClock>,
    /// Requests sent, by STAN, for the DE 90 of advices and reversals.
    sent: HashMap<u32, Message>,
    /// The last request sent (for retransmission tests and the demo's trace).
    last: Option<Message>,
    /// DE 7 of the first transmission of each offline advice sent on this link
    /// (by [`IsoLink::advise_offline`] or as an [`AdviceSender`]), by (STAN, TC):
    /// [`IsoLink::advise_offline`] sends the same advice again as a repeat.
    offline_sent: HashMap<(u32, [u8; 8]), String>,
}

impl core::fmt::Debug for IsoLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IsoLink")
            .field("acquirer_id", &self.config.acquirer_id)
            .field("sent", &self.sent.len())
            .finish_non_exhaustive()
    }
}

impl IsoLink {
    /// A link over an open client; `runtime` runs the client's futures.
    pub fn new(
        client: Arc<HostClient>,
        runtime: tokio::runtime::Handle,
        config: AcquirerConfig,
        clock: Box<dyn TransmissionClock>,
    ) -> Self {
        IsoLink {
            client,
            runtime,
            config,
            clock,
            sent: HashMap::new(),
            last: None,
            offline_sent: HashMap::new(),
        }
    }

    /// The last request this link sent (masked by `Message`'s `Debug`).
    pub fn last_request(&self) -> Option<&Message> {
        self.last.as_ref()
    }

    /// Sends `msg` again unchanged (a retransmission, as after a lost response):
    /// the host must answer with its original response and post nothing twice.
    pub fn retransmit_last(&mut self) -> Result<Message, LinkError> {
        let msg = self
            .last
            .clone()
            .ok_or_else(|| LinkError("nothing sent yet".into()))?;
        let mut repeat = msg.clone();
        if let Some(r) = msg.mti.repeat() {
            repeat.mti = r;
        }
        self.call(&repeat)
    }

    fn call(&mut self, msg: &Message) -> Result<Message, LinkError> {
        let client = Arc::clone(&self.client);
        let timeout = self.config.timeout;
        let m = msg.clone();
        self.runtime
            .block_on(async move { client.call(&m, timeout).await })
            .map_err(|e| LinkError(e.to_string()))
    }

    fn stamp(&mut self, msg: &mut Message) {
        stamp_with(msg, self.clock.as_mut());
    }

    /// The request message for a kernel authorisation (docs/iso8583.md §6).
    pub fn request_message(&mut self, r: &AuthorizationRequest) -> Message {
        let mti = if self.config.financial {
            Mti::FINANCIAL_REQUEST
        } else {
            Mti::AUTHORIZATION_REQUEST
        };
        let mut m = Message::new(mti);
        m.set(2, r.pan.clone());
        m.set(3, format!("{:02X}0000", r.transaction_type)); // 9C is n2 (BCD)
        m.set(4, format!("{:012}", r.amount));
        self.stamp(&mut m);
        m.set(11, format!("{:06}", r.stan % 1_000_000));
        let [yy, mm, _] = r.expiry;
        m.set(14, format!("{yy:02X}{mm:02X}"));
        m.set(18, format!("{:04}", r.mcc));
        m.set(22, "051"); // chip read, PIN capability
        if let Some(psn) = r.pan_sequence {
            m.set(23, format!("{psn:03X}"));
        }
        m.set(25, "00");
        m.set(32, self.config.acquirer_id.clone());
        m.set(37, format!("{:012}", r.stan));
        m.set(41, fixed(&r.terminal_id, 8));
        m.set(42, fixed(&r.merchant_id, 15));
        m.set(43, fixed(&self.config.acceptor_name, 40));
        m.set(49, format!("{:03}", r.currency));
        if let Some(pin) = &r.pin {
            m.set(52, pin.block.to_vec());
            m.set(53, pin.ksn.clone());
        }
        if !r.icc_data.is_empty() {
            m.set(55, r.icc_data.clone());
        }
        m
    }

    /// Batch capture of an approved online authorisation (0220 completion advice
    /// referring to the 0100 by DE 90): the host posts the held amount.
    pub fn capture(&mut self, stan: u32) -> Result<(), LinkError> {
        self.follow_up(Mti::FINANCIAL_ADVICE, stan, &[])
    }

    /// Completion of a pre-authorisation for the final amount (0220 with DE 4 = the
    /// final amount, DE 90 = the 0100): the host captures that amount and releases
    /// the rest of the hold (parking exit, fuel, hotel).
    pub fn complete(&mut self, stan: u32, final_amount: u64) -> Result<(), LinkError> {
        self.follow_up_with(Mti::FINANCIAL_ADVICE, stan, &[], Some(final_amount))
    }

    /// The 0220 financial advice of an offline approval (docs/iso8583.md §6,
    /// field matrix column 0220; EMV 4.4 Book 4 §12.3, §12.4): no DE 90 (there is
    /// no authorisation to refer to; for `Y3`, DE 90 names the unanswered 0100 when
    /// this link sent it), DE 39 = the card's decision (`Y1`, `Y3`), DE
    /// 22 = `071` contactless or `051` contact chip, DE 12/13 = the transaction's
    /// local time and date, DE 55 = the ICC data with the TC.
    ///
    /// `transmission` is DE 7 of the first transmission when this is a repeat:
    /// the message is then the 0221 repeat, identical but for the MTI; `None`
    /// stamps DE 7 from the link's clock.
    pub fn offline_advice_message(
        &mut self,
        advice: &OfflineAdvice,
        transmission: Option<&str>,
    ) -> Result<Message, LinkError> {
        advice.validate().map_err(|e| LinkError(e.to_string()))?;
        if advice.icc_data.len() > 255 {
            return Err(LinkError(format!(
                "ICC data of {} bytes does not fit DE 55 (b...255)",
                advice.icc_data.len()
            )));
        }
        let mut m = Message::new(match transmission {
            Some(_) => Mti::FINANCIAL_ADVICE
                .repeat()
                .ok_or_else(|| LinkError("0220 has no repeat MTI".into()))?,
            None => Mti::FINANCIAL_ADVICE,
        });
        m.set(2, advice.pan.clone());
        m.set(3, format!("{:02X}0000", advice.transaction_type));
        m.set(4, format!("{:012}", advice.amount));
        match transmission {
            Some(de7) => {
                m.set(7, de7.to_owned());
            }
            None => {
                let (mo, d, h, mi, s) = self.clock.now();
                m.set(7, format!("{mo:02}{d:02}{h:02}{mi:02}{s:02}"));
            }
        }
        m.set(11, format!("{:06}", advice.stan % 1_000_000));
        let [hh, mm, ss] = advice.time;
        m.set(12, format!("{hh:02X}{mm:02X}{ss:02X}"));
        let [_, month, day] = advice.date;
        m.set(13, format!("{month:02X}{day:02X}"));
        let [yy, em, _] = advice.expiry;
        m.set(14, format!("{yy:02X}{em:02X}"));
        m.set(18, format!("{:04}", advice.mcc));
        m.set(
            22,
            match advice.interface {
                CardInterface::Contact => "051",
                CardInterface::Contactless => "071",
            },
        );
        if let Some(psn) = advice.pan_sequence {
            m.set(23, format!("{psn:03X}"));
        }
        m.set(25, "00");
        m.set(32, self.config.acquirer_id.clone());
        m.set(37, format!("{:012}", advice.stan));
        m.set(39, String::from_utf8_lossy(&advice.arc).into_owned());
        m.set(41, fixed(&advice.terminal_id, 8));
        m.set(42, fixed(&advice.merchant_id, 15));
        m.set(43, fixed(&self.config.acceptor_name, 40));
        m.set(49, format!("{:03}", advice.currency));
        m.set(55, advice.icc_data.clone());
        // Approved offline after "unable to go online" (Y3): if this link did send
        // the authorisation, the host may have placed its hold before the answer
        // was lost. DE 90 names that 0100 so the host captures the hold if there
        // is one, and posts the advice as an offline purchase if there is not.
        if &advice.arc == b"Y3"
            && let Some(original) = self.sent.get(&advice.stan)
            && original.get_str(2) == Some(advice.pan.as_str())
            && original.get_str(4) == m.get_str(4)
        {
            let od = OriginalData::of(original).map_err(|e| LinkError(e.to_string()))?;
            m.set_original_data(&od)
                .map_err(|e| LinkError(e.to_string()))?;
        }
        Ok(m)
    }

    /// Reports an offline approval to the host (0220, see
    /// [`offline_advice_message`](Self::offline_advice_message)) and checks the
    /// 0230. Calling it again for an advice this link already sent (same STAN and
    /// TC, by either path), as after a lost 0230, sends the 0221 repeat with the
    /// first DE 7: the host answers it from its idempotency record and posts
    /// nothing twice.
    ///
    /// `Ok` carries the host's response code (`00`: posted); `Err` means no
    /// usable answer (keep the advice and retry).
    pub fn advise_offline(&mut self, advice: &OfflineAdvice) -> Result<AdviceAnswer, LinkError> {
        let key = (advice.stan, advice.cryptogram);
        let mut entry = PendingAdvice {
            advice: advice.clone(),
            attempts: 0,
            transmission: self.offline_sent.get(&key).cloned(),
        };
        self.send_advice(&mut entry)
    }

    /// STANs of the authorisations sent on this link, in no particular order.
    pub fn sent_stans(&self) -> Vec<u32> {
        self.sent.keys().copied().collect()
    }

    fn follow_up(&mut self, mti: Mti, stan: u32, icc: &[u8]) -> Result<(), LinkError> {
        self.follow_up_with(mti, stan, icc, None)
    }

    fn follow_up_with(
        &mut self,
        mti: Mti,
        stan: u32,
        icc: &[u8],
        amount: Option<u64>,
    ) -> Result<(), LinkError> {
        let original = self
            .sent
            .get(&stan)
            .cloned()
            .ok_or_else(|| LinkError(format!("no request with STAN {stan} to refer to")))?;
        let od = OriginalData::of(&original).map_err(|e| LinkError(e.to_string()))?;
        let mut m = Message::new(mti);
        for n in [2u8, 3, 4, 11, 14, 18, 22, 23, 25, 32, 37, 41, 42, 49] {
            if let Some(v) = original.get(n) {
                m.set(n, v.clone());
            }
        }
        if let Some(a) = amount {
            m.set(4, format!("{a:012}"));
        }
        self.stamp(&mut m);
        m.set_original_data(&od)
            .map_err(|e| LinkError(e.to_string()))?;
        if !icc.is_empty() {
            m.set(55, icc.to_vec());
        }
        let resp = self.call(&m)?;
        match resp.get_str(39) {
            Some("00") => Ok(()),
            Some(code) => Err(LinkError(format!("{} answered {code}", mti.as_str()))),
            None => Err(LinkError("response without DE 39".into())),
        }
    }
}

/// The ISO 8583 elements of a request kept to refer to it from a later
/// completion or reversal (docs/iso8583.md §6): no card data (no PAN, expiry or
/// PAN sequence number), so a gate may keep them in its state.
pub const REFERENCE_FIELDS: [u8; 11] = [3, 7, 11, 18, 22, 25, 32, 37, 41, 42, 49];

/// What [`IsoLink::settle_reference`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldSettlement {
    /// 0220 completion advice for the captured amount.
    Completion,
    /// 0400 reversal of the whole hold.
    Reversal,
}

impl HoldSettlement {
    /// The MTI sent.
    pub fn mti(self) -> Mti {
        match self {
            HoldSettlement::Completion => Mti::FINANCIAL_ADVICE,
            HoldSettlement::Reversal => Mti::REVERSAL_REQUEST,
        }
    }
}

impl IsoLink {
    /// The [`REFERENCE_FIELDS`] of the last request, by `de{n}` name, with its
    /// MTI under `mti`.
    pub fn last_reference(&self) -> std::collections::BTreeMap<String, String> {
        let mut reference = std::collections::BTreeMap::new();
        if let Some(m) = &self.last {
            reference.insert("mti".to_owned(), m.mti.as_str().to_owned());
            for n in REFERENCE_FIELDS {
                if let Some(v) = m.get_str(n) {
                    reference.insert(format!("de{n}"), v.to_owned());
                }
            }
        }
        reference
    }

    /// Settles a pre-authorization kept only by its reference (see
    /// [`IsoLink::last_reference`]), possibly sent by an earlier process: the
    /// 0220 completion of `captured` (the host captures it and releases the
    /// rest), or for 0 the 0400 reversal of the whole `held` amount. DE 90 names
    /// the 0100 (MTI, STAN, transmission time, acquirer); DE 7/12/13 come from
    /// `clock`. `Ok` when the host answers 00.
    pub fn settle_reference(
        &mut self,
        reference: &std::collections::BTreeMap<String, String>,
        held: u32,
        captured: u32,
        clock: &mut dyn TransmissionClock,
    ) -> Result<HoldSettlement, LinkError> {
        let get = |n: u8| reference.get(&format!("de{n}")).cloned();
        let mut original = Message::new(Mti::AUTHORIZATION_REQUEST);
        for n in [7u8, 11, 32] {
            if let Some(v) = get(n) {
                original.set(n, v);
            }
        }
        let od = OriginalData::of(&original).map_err(|e| LinkError(e.to_string()))?;
        let (kind, amount) = if captured == 0 {
            (HoldSettlement::Reversal, held)
        } else {
            (HoldSettlement::Completion, captured)
        };
        let mut m = Message::new(kind.mti());
        for n in REFERENCE_FIELDS.into_iter().filter(|n| *n != 7) {
            if let Some(v) = get(n) {
                m.set(n, v);
            }
        }
        m.set(4, format!("{amount:012}"));
        stamp_with(&mut m, clock);
        m.set_original_data(&od)
            .map_err(|e| LinkError(e.to_string()))?;
        let resp = self.call(&m)?;
        match resp.response_code() {
            Some(ResponseCode::APPROVED) => Ok(kind),
            Some(code) => Err(LinkError(format!(
                "{} answered {}",
                kind.mti().as_str(),
                code.as_str()
            ))),
            None => Err(LinkError(format!(
                "{}: response without DE 39",
                kind.mti().as_str()
            ))),
        }
    }
}

/// DE 7 (transmission date and time), DE 12 and DE 13 from `clock`.
fn stamp_with(msg: &mut Message, clock: &mut dyn TransmissionClock) {
    let (mo, d, h, mi, s) = clock.now();
    msg.set(7, format!("{mo:02}{d:02}{h:02}{mi:02}{s:02}"));
    msg.set(12, format!("{h:02}{mi:02}{s:02}"));
    msg.set(13, format!("{mo:02}{d:02}"));
}

/// Pads or cuts text to a fixed ans field width.
fn fixed(s: &str, n: usize) -> String {
    let mut t: String = s.chars().take(n).collect();
    while t.chars().count() < n {
        t.push(' ');
    }
    t
}

/// Splits the host's response ICC data (DE 55) into the Issuer Authentication Data
/// (91) and the issuer scripts (71/72, kept encoded).
pub fn split_response_icc(icc: &[u8]) -> (Option<Vec<u8>>, Vec<u8>) {
    let Ok(list) = Tlv::parse_all(icc) else {
        return (None, Vec::new());
    };
    let iad = list
        .iter()
        .find(|t| t.tag == Tag::new(0x91))
        .and_then(|t| t.value_bytes().map(<[u8]>::to_vec));
    let scripts: Vec<Tlv> = list
        .into_iter()
        .filter(|t| matches!(t.tag.number(), 0x71 | 0x72))
        .collect();
    (iad, Tlv::encode_all(&scripts))
}

impl AcquirerLink for IsoLink {
    fn authorize(
        &mut self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, LinkError> {
        let msg = self.request_message(request);
        self.sent.insert(request.stan, msg.clone());
        self.last = Some(msg.clone());
        let resp = self.call(&msg)?;
        let code = resp
            .get_str(39)
            .ok_or_else(|| LinkError("response without DE 39".into()))?;
        let response_code: [u8; 2] = code
            .as_bytes()
            .try_into()
            .map_err(|_| LinkError("DE 39 is not two characters".into()))?;
        let (issuer_authentication_data, scripts) =
            split_response_icc(resp.get_bytes(55).unwrap_or_default());
        Ok(AuthorizationResponse {
            response_code,
            auth_code: resp.get_str(38).map(|s| s.trim().to_owned()),
            issuer_authentication_data,
            scripts,
        })
    }

    fn advise(&mut self, advice: &Advice) -> Result<(), LinkError> {
        let mti = if advice.approved {
            Mti::FINANCIAL_ADVICE
        } else {
            Mti::REVERSAL_ADVICE
        };
        self.follow_up(mti, advice.stan, &advice.icc_data)
    }

    fn reverse(&mut self, reversal: &Reversal) -> Result<(), LinkError> {
        self.follow_up(Mti::REVERSAL_REQUEST, reversal.stan, &reversal.icc_data)
    }
}

impl AdviceSender for IsoLink {
    /// Sends the 0220 (first attempt: DE 7 from the clock, recorded in
    /// `entry.transmission` before sending) or the 0221 repeat, and checks the 0230
    /// answers this advice (MTI, DE 11, DE 41, a DE 39).
    fn send_advice(&mut self, entry: &mut PendingAdvice) -> Result<AdviceAnswer, LinkError> {
        let msg = self.offline_advice_message(&entry.advice, entry.transmission.as_deref())?;
        if entry.transmission.is_none() {
            entry.transmission = msg.get_str(7).map(str::to_owned);
        }
        if let Some(t) = &entry.transmission {
            self.offline_sent
                .insert((entry.advice.stan, entry.advice.cryptogram), t.clone());
        }
        self.last = Some(msg.clone());
        let resp = self.call(&msg)?;
        if resp.mti != Mti::FINANCIAL_ADVICE_RESPONSE {
            return Err(LinkError(format!(
                "advice answered with {}",
                resp.mti.as_str()
            )));
        }
        if resp.get_str(11) != msg.get_str(11) || resp.get_str(41) != msg.get_str(41) {
            return Err(LinkError(
                "0230 does not match the advice (DE 11/41)".into(),
            ));
        }
        let code = resp
            .get_str(39)
            .ok_or_else(|| LinkError("0230 without DE 39".into()))?;
        Ok(AdviceAnswer {
            response_code: code.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_icc_is_split() {
        let icc = Tlv::encode_all(&[
            Tlv::primitive(0x91u32, vec![1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30]),
            Tlv::constructed(
                0x72u32,
                vec![Tlv::primitive(0x86u32, vec![0x84, 0x1E, 0, 0, 4])],
            ),
        ]);
        let (iad, scripts) = split_response_icc(&icc);
        assert_eq!(iad.unwrap().len(), 10);
        assert_eq!(scripts[0], 0x72);
        assert_eq!(split_response_icc(&[0xFF, 0x01]), (None, Vec::new()));
    }

    #[test]
    fn fixed_width() {
        assert_eq!(fixed("T1", 4), "T1  ");
        assert_eq!(fixed("TOOLONG", 3), "TOO");
    }

    #[test]
    fn stepping_clock_is_monotonic() {
        let mut c = SteppingClock { seconds: 9 * 3600 };
        let a = c.now();
        let b = c.now();
        assert!(b > a);
    }
}
