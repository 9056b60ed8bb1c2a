//! Delivering an offline approval's advice (EMV 4.4 Book 4 §12.3; ISO 8583
//! 0220/0221, docs/iso8583.md §6): the terminal's retry policy on top of the
//! store-and-forward [`AdviceQueue`], and a report of what became of it.

use lamina_iso8583::ResponseCode;
use lamina_terminal::clearing::{AdviceQueue, AdviceSender, OfflineAdvice};
use serde::Serialize;

/// How many times a command sends one advice (the 0220, then 0221 repeats of the
/// same transmission) before it gives up.
pub const ADVICE_ATTEMPTS: u32 = 3;

/// What became of an offline approval's advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceStatus {
    /// The host answered `00`: the purchase is posted to the cardholder's account.
    Posted,
    /// The host refused it (response code in the report): an exception for the
    /// merchant's back office, not retried.
    Refused,
    /// No answer after [`ADVICE_ATTEMPTS`] transmissions (or no link to the
    /// host): it must be sent again.
    Undelivered,
    /// No host configured: kept (shown) for a later upload.
    Queued,
}

/// The advice of an offline approval and its delivery (EMV 4.4 Book 4 §12.3;
/// ISO 8583 0220/0221, docs/iso8583.md §6). The PAN is masked.
#[derive(Debug, Clone, Serialize)]
pub struct AdviceReport {
    /// Trace number (DE 11).
    pub stan: u32,
    /// The PAN, masked (e.g. 541333******0010).
    pub pan: String,
    /// Amount, minor units.
    pub amount: u64,
    /// Currency, ISO 4217 numeric.
    pub currency: u16,
    /// The Transaction Certificate, hex.
    pub tc: String,
    /// The card's decision (DE 39 of the advice): `Y1` or `Y3`.
    pub arc: String,
    /// What became of it.
    pub status: AdviceStatus,
    /// The host's response code (DE 39 of the 0230), when it answered.
    pub response_code: Option<String>,
    /// The messages sent, in order (`0220`, then `0221` repeats).
    pub messages: Vec<String>,
    /// One line for people.
    pub note: String,
}

impl AdviceReport {
    /// One line for the text output.
    pub fn line(&self) -> String {
        format!(
            "advice STAN {:06} ({}, TC {}, {}): {}",
            self.stan, self.pan, self.tc, self.arc, self.note
        )
    }
}

/// Reports an offline approval to the host through `sender` (the acquirer link):
/// the advice goes into a store-and-forward [`AdviceQueue`] and is uploaded; when
/// the answer is lost (no 0230, link error) the upload is tried again, which sends
/// the 0221 repeat of the same transmission (same STAN and DE 7, so the host posts
/// once), at most [`ADVICE_ATTEMPTS`] messages in all. Without a sender the
/// advice stays queued and `no_host` says why.
pub fn deliver_advice(
    advice: &OfflineAdvice,
    sender: Option<&mut dyn AdviceSender>,
    no_host: &str,
) -> AdviceReport {
    let mut rep = AdviceReport {
        stan: advice.stan,
        pan: lamina_emv::dict::mask_pan(&advice.pan),
        amount: advice.amount,
        currency: advice.currency,
        tc: hex::encode_upper(advice.cryptogram),
        arc: String::from_utf8_lossy(&advice.arc).into_owned(),
        status: AdviceStatus::Queued,
        response_code: None,
        messages: Vec::new(),
        note: String::new(),
    };
    let mut queue = AdviceQueue::new(1);
    if let Err(e) = queue.push(advice.clone()) {
        rep.status = AdviceStatus::Undelivered;
        rep.note = format!("NOT queued: {e}");
        return rep;
    }
    let Some(sender) = sender else {
        rep.note = format!("advice queued ({no_host}): not uploaded, shown only");
        return rep;
    };
    let mut failure = String::from("nothing sent");
    for _ in 0..ADVICE_ATTEMPTS {
        let repeat = queue
            .pending()
            .next()
            .is_some_and(|p| p.transmission.is_some());
        rep.messages
            .push(if repeat { "0221" } else { "0220" }.to_owned());
        let up = queue.upload(sender);
        if !up.accepted.is_empty() {
            rep.status = AdviceStatus::Posted;
            rep.response_code = Some(ResponseCode::APPROVED.as_str().to_owned());
            rep.note = format!(
                "{} answered {}: POSTED",
                rep.messages.join(", "),
                ResponseCode::APPROVED.as_str()
            );
            return rep;
        }
        if let Some((_, code)) = up.rejected.into_iter().next() {
            let meaning = code
                .parse::<ResponseCode>()
                .map_or_else(|_| code.clone(), |c| c.to_string());
            rep.status = AdviceStatus::Refused;
            rep.note = format!("{} answered {meaning}: REFUSED", rep.messages.join(", "));
            rep.response_code = Some(code);
            return rep;
        }
        match up.stopped {
            Some((_, e)) => failure = e.to_string(),
            None => break,
        }
    }
    rep.status = AdviceStatus::Undelivered;
    rep.note = format!(
        "{} without an answer ({failure}): NOT delivered, the advice must be sent again",
        rep.messages.join(", ")
    );
    rep
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use lamina_tlv::Tlv;

    /// An offline advice as a kernel makes it (a TC, every required ICC tag).
    fn advice(stan: u32, amount: u64) -> OfflineAdvice {
        let ac = [0xA1, 2, 3, 4, 5, 6, 7, 8];
        let mut icc = Vec::new();
        for (tag, value) in [
            (0x9F26u32, ac.to_vec()),
            (0x9F27, vec![0x40]),
            (0x9F10, vec![0x06, 0x01, 0x0A, 0x03, 0x90, 0x00, 0x00]),
            (0x9F36, vec![0, 7]),
            (0x95, vec![0; 5]),
            (0x9A, vec![0x26, 0x11, 0x25]),
            (0x9C, vec![0]),
            (0x9F02, hex::decode(format!("{amount:012}")).unwrap()),
            (0x5F2A, vec![0x09, 0x78]),
            (0x82, vec![0x19, 0x80]),
            (0x9F37, vec![1, 2, 3, 4]),
            (0x9F1A, vec![0x02, 0x50]),
            (0x9F33, vec![0xE0, 0xF8, 0xC8]),
            (0x9F34, vec![0x1F, 0x00, 0x02]),
        ] {
            icc.extend(Tlv::primitive(tag, value).encode());
        }
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
            terminal_id: "LAM00001".into(),
            merchant_id: "LAMINA000000001".into(),
            mcc: 5411,
            interface: lamina_terminal::clearing::CardInterface::Contact,
            aid: vec![0xF0, 0x4C, 0x41, 0x4D, 0x49, 0x4E, 0x41, 0x45],
            cryptogram: ac,
            cid: 0x40,
            atc: 7,
            arc: *b"Y1",
            icc_data: icc,
        }
    }

    /// A link whose answers are scripted: `Err` is a lost 0230. Records, per
    /// transmission, whether it was a repeat and its reference.
    struct Lossy {
        answers: Vec<Result<&'static str, &'static str>>,
        seen: Vec<(bool, Option<String>)>,
    }

    impl AdviceSender for Lossy {
        fn send_advice(
            &mut self,
            e: &mut lamina_terminal::clearing::PendingAdvice,
        ) -> Result<lamina_terminal::clearing::AdviceAnswer, lamina_terminal::online::LinkError>
        {
            let repeat = e.transmission.is_some();
            if !repeat {
                e.transmission = Some(format!("1125103{}", self.seen.len()));
            }
            self.seen.push((repeat, e.transmission.clone()));
            match self.answers.remove(0) {
                Ok(code) => Ok(lamina_terminal::clearing::AdviceAnswer {
                    response_code: code.into(),
                }),
                Err(why) => Err(lamina_terminal::online::LinkError(why.into())),
            }
        }
    }

    #[test]
    fn a_lost_answer_is_repeated_as_0221_of_the_same_transmission() {
        let mut link = Lossy {
            answers: vec![Err("timeout"), Ok("00")],
            seen: Vec::new(),
        };
        let r = deliver_advice(&advice(42, 700), Some(&mut link), "");
        assert_eq!(r.status, AdviceStatus::Posted);
        assert_eq!(r.messages, ["0220", "0221"]);
        assert_eq!(r.response_code.as_deref(), Some("00"));
        assert_eq!(
            link.seen,
            [
                (false, Some("11251030".into())),
                (true, Some("11251030".into()))
            ]
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("541333******0010") && !json.contains("5413330089600010"));
        assert!(r.line().contains("POSTED") && !r.line().contains("5413330089600010"));
    }

    #[test]
    fn refused_undelivered_and_queued_advices() {
        let mut link = Lossy {
            answers: vec![Ok("14")],
            seen: Vec::new(),
        };
        let r = deliver_advice(&advice(1, 100), Some(&mut link), "");
        assert_eq!(r.status, AdviceStatus::Refused);
        assert_eq!(r.response_code.as_deref(), Some("14"));
        assert!(r.note.contains("Invalid card number"), "{}", r.note);

        let mut link = Lossy {
            answers: vec![Err("down"); 4],
            seen: Vec::new(),
        };
        let r = deliver_advice(&advice(2, 100), Some(&mut link), "");
        assert_eq!(r.status, AdviceStatus::Undelivered);
        assert_eq!(r.messages, ["0220", "0221", "0221"]);
        assert_eq!(link.seen.len(), 3);
        assert!(r.note.contains("down"), "{}", r.note);

        let r = deliver_advice(&advice(3, 100), None, "no host");
        assert_eq!(r.status, AdviceStatus::Queued);
        assert!(r.messages.is_empty());
        assert!(r.note.starts_with("advice queued (no host)"), "{}", r.note);

        // Not a TC: not an advice at all.
        let mut not_tc = advice(4, 100);
        not_tc.cid = 0x80;
        let r = deliver_advice(&not_tc, None, "no host");
        assert_eq!(r.status, AdviceStatus::Undelivered);
        assert!(r.note.contains("NOT queued"), "{}", r.note);
    }
}
