//! Response codes, data element 39 (ISO 8583:1987 DE 39 value list), as an open code type
//! plus a table of known values with their meaning and the outcome a terminal acts on.
//!
//! EMV adds the terminal-generated codes `Y1`, `Z1`, `Y3`, `Z3` for the Authorisation
//! Response Code (tag 8A) of offline decisions (EMV 4.4 Book 4 §A6, "Authorisation Response
//! Code"); they are in the table so a host that receives them in an advice (0220) can name
//! them.

use std::fmt;

/// What the acceptor does with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Approved (possibly partially or with identification).
    Approved,
    /// Declined; do not retry as is.
    Declined,
    /// Declined and the card is to be retained (pick up).
    PickUp,
    /// Voice referral to the issuer.
    Referral,
    /// A format or processing error; correct the message.
    Error,
    /// A temporary failure: the same request may be retried later.
    Retry,
}

/// One row of the response code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCodeInfo {
    /// The two characters.
    pub code: &'static str,
    /// Meaning (ISO 8583:1987 wording).
    pub meaning: &'static str,
    /// What the acceptor does.
    pub outcome: Outcome,
}

const fn row(code: &'static str, meaning: &'static str, outcome: Outcome) -> ResponseCodeInfo {
    ResponseCodeInfo {
        code,
        meaning,
        outcome,
    }
}

/// The known response codes (ISO 8583:1987 DE 39; EMV Book 4 for Y1/Z1/Y3/Z3).
pub static RESPONSE_CODES: &[ResponseCodeInfo] = &[
    row(
        "00",
        "Approved or completed successfully",
        Outcome::Approved,
    ),
    row("01", "Refer to card issuer", Outcome::Referral),
    row(
        "02",
        "Refer to card issuer, special condition",
        Outcome::Referral,
    ),
    row("03", "Invalid merchant", Outcome::Declined),
    row("04", "Pick-up card", Outcome::PickUp),
    row("05", "Do not honour", Outcome::Declined),
    row("06", "Error", Outcome::Error),
    row("07", "Pick-up card, special condition", Outcome::PickUp),
    row("08", "Honour with identification", Outcome::Approved),
    row("09", "Request in progress", Outcome::Retry),
    row("10", "Approved for partial amount", Outcome::Approved),
    row("11", "Approved (VIP)", Outcome::Approved),
    row("12", "Invalid transaction", Outcome::Declined),
    row("13", "Invalid amount", Outcome::Declined),
    row(
        "14",
        "Invalid card number (no such number)",
        Outcome::Declined,
    ),
    row("15", "No such issuer", Outcome::Declined),
    row("19", "Re-enter transaction", Outcome::Retry),
    row("21", "No action taken", Outcome::Error),
    row("25", "Unable to locate record on file", Outcome::Error),
    row("30", "Format error", Outcome::Error),
    row("31", "Bank not supported by switch", Outcome::Declined),
    row("33", "Expired card, pick-up", Outcome::PickUp),
    row("34", "Suspected fraud, pick-up", Outcome::PickUp),
    row(
        "35",
        "Card acceptor contact acquirer, pick-up",
        Outcome::PickUp,
    ),
    row("36", "Restricted card, pick-up", Outcome::PickUp),
    row(
        "38",
        "Allowable PIN tries exceeded, pick-up",
        Outcome::PickUp,
    ),
    row("39", "No credit account", Outcome::Declined),
    row("41", "Lost card, pick-up", Outcome::PickUp),
    row("43", "Stolen card, pick-up", Outcome::PickUp),
    row("51", "Not sufficient funds", Outcome::Declined),
    row("52", "No chequing account", Outcome::Declined),
    row("53", "No savings account", Outcome::Declined),
    row("54", "Expired card", Outcome::Declined),
    row(
        "55",
        "Incorrect personal identification number",
        Outcome::Declined,
    ),
    row("56", "No card record", Outcome::Declined),
    row(
        "57",
        "Transaction not permitted to cardholder",
        Outcome::Declined,
    ),
    row(
        "58",
        "Transaction not permitted to terminal",
        Outcome::Declined,
    ),
    row("59", "Suspected fraud", Outcome::Declined),
    row("61", "Exceeds withdrawal amount limit", Outcome::Declined),
    row("62", "Restricted card", Outcome::Declined),
    row("63", "Security violation", Outcome::Declined),
    row(
        "65",
        "Exceeds withdrawal frequency limit",
        Outcome::Declined,
    ),
    row("68", "Response received too late", Outcome::Retry),
    row(
        "75",
        "Allowable number of PIN tries exceeded",
        Outcome::Declined,
    ),
    row("91", "Issuer or switch is inoperative", Outcome::Retry),
    row(
        "92",
        "Financial institution or intermediate network facility cannot be found for routing",
        Outcome::Declined,
    ),
    row("94", "Duplicate transmission", Outcome::Error),
    // Reconciliation (0500/0510, docs/iso8583.md §6.2): the host's totals differ
    // from the acquirer's; a processing error to resolve, not a cardholder outcome.
    row("95", "Reconcile error", Outcome::Error),
    row("96", "System malfunction", Outcome::Retry),
    row("Y1", "Offline approved (EMV, terminal)", Outcome::Approved),
    row("Z1", "Offline declined (EMV, terminal)", Outcome::Declined),
    row(
        "Y3",
        "Unable to go online, offline approved (EMV, terminal)",
        Outcome::Approved,
    ),
    row(
        "Z3",
        "Unable to go online, offline declined (EMV, terminal)",
        Outcome::Declined,
    ),
];

/// A response code: any two `an` characters; unknown values are kept (open code list).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseCode([u8; 2]);

/// Not two ASCII alphanumeric characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a response code is two ASCII letters or digits")]
pub struct InvalidResponseCode;

impl ResponseCode {
    /// 00 approved.
    pub const APPROVED: ResponseCode = ResponseCode(*b"00");
    /// 01 refer to card issuer.
    pub const REFER_TO_ISSUER: ResponseCode = ResponseCode(*b"01");
    /// 03 invalid merchant.
    pub const INVALID_MERCHANT: ResponseCode = ResponseCode(*b"03");
    /// 05 do not honour.
    pub const DO_NOT_HONOUR: ResponseCode = ResponseCode(*b"05");
    /// 08 honour with identification.
    pub const HONOUR_WITH_IDENTIFICATION: ResponseCode = ResponseCode(*b"08");
    /// 09 request in progress.
    pub const REQUEST_IN_PROGRESS: ResponseCode = ResponseCode(*b"09");
    /// 10 approved for partial amount.
    pub const APPROVED_PARTIAL: ResponseCode = ResponseCode(*b"10");
    /// 11 approved (VIP).
    pub const APPROVED_VIP: ResponseCode = ResponseCode(*b"11");
    /// 12 invalid transaction.
    pub const INVALID_TRANSACTION: ResponseCode = ResponseCode(*b"12");
    /// 13 invalid amount.
    pub const INVALID_AMOUNT: ResponseCode = ResponseCode(*b"13");
    /// 14 invalid card number.
    pub const INVALID_CARD_NUMBER: ResponseCode = ResponseCode(*b"14");
    /// 30 format error: the answer to any message that does not decode.
    pub const FORMAT_ERROR: ResponseCode = ResponseCode(*b"30");
    /// 41 lost card, pick-up.
    pub const LOST_CARD: ResponseCode = ResponseCode(*b"41");
    /// 43 stolen card, pick-up.
    pub const STOLEN_CARD: ResponseCode = ResponseCode(*b"43");
    /// 51 not sufficient funds.
    pub const INSUFFICIENT_FUNDS: ResponseCode = ResponseCode(*b"51");
    /// 54 expired card.
    pub const EXPIRED_CARD: ResponseCode = ResponseCode(*b"54");
    /// 55 incorrect PIN.
    pub const INCORRECT_PIN: ResponseCode = ResponseCode(*b"55");
    /// 57 transaction not permitted to cardholder.
    pub const NOT_PERMITTED_CARDHOLDER: ResponseCode = ResponseCode(*b"57");
    /// 58 transaction not permitted to terminal.
    pub const NOT_PERMITTED_TERMINAL: ResponseCode = ResponseCode(*b"58");
    /// 59 suspected fraud.
    pub const SUSPECTED_FRAUD: ResponseCode = ResponseCode(*b"59");
    /// 61 exceeds withdrawal amount limit.
    pub const EXCEEDS_AMOUNT_LIMIT: ResponseCode = ResponseCode(*b"61");
    /// 62 restricted card.
    pub const RESTRICTED_CARD: ResponseCode = ResponseCode(*b"62");
    /// 65 exceeds withdrawal frequency limit.
    pub const EXCEEDS_FREQUENCY_LIMIT: ResponseCode = ResponseCode(*b"65");
    /// 75 allowable number of PIN tries exceeded.
    pub const PIN_TRIES_EXCEEDED: ResponseCode = ResponseCode(*b"75");
    /// 91 issuer or switch inoperative.
    pub const ISSUER_INOPERATIVE: ResponseCode = ResponseCode(*b"91");
    /// 94 duplicate transmission.
    pub const DUPLICATE_TRANSMISSION: ResponseCode = ResponseCode(*b"94");
    /// 95 reconcile error: the reconciliation totals (0510) do not agree.
    pub const RECONCILE_ERROR: ResponseCode = ResponseCode(*b"95");
    /// 96 system malfunction.
    pub const SYSTEM_MALFUNCTION: ResponseCode = ResponseCode(*b"96");

    /// Parses two ASCII letters or digits.
    pub fn from_bytes(bytes: &[u8]) -> Result<ResponseCode, InvalidResponseCode> {
        match bytes {
            &[a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                Ok(ResponseCode([a, b]))
            }
            _ => Err(InvalidResponseCode),
        }
    }

    /// The two bytes, as DE 39 and the EMV Authorisation Response Code (8A) carry them.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0
    }

    /// The two characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The table row, if the code is known.
    pub fn info(&self) -> Option<&'static ResponseCodeInfo> {
        RESPONSE_CODES
            .iter()
            .find(|r| r.code.as_bytes() == self.0.as_slice())
    }

    /// The meaning, or `"Unknown response code"`.
    pub fn meaning(&self) -> &'static str {
        self.info().map_or("Unknown response code", |r| r.meaning)
    }

    /// What the acceptor does; unknown codes are treated as declines.
    pub fn outcome(&self) -> Outcome {
        self.info().map_or(Outcome::Declined, |r| r.outcome)
    }

    /// Whether the transaction was approved.
    pub fn is_approved(&self) -> bool {
        self.outcome() == Outcome::Approved
    }
}

impl std::str::FromStr for ResponseCode {
    type Err = InvalidResponseCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResponseCode::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.meaning())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in RESPONSE_CODES {
            assert!(
                ResponseCode::from_bytes(r.code.as_bytes()).is_ok(),
                "{}",
                r.code
            );
            assert!(seen.insert(r.code), "duplicate {}", r.code);
        }
        for c in [
            "00", "01", "03", "05", "12", "13", "14", "30", "51", "54", "55", "57", "58", "59",
            "61", "62", "65", "75", "91", "94", "95", "96",
        ] {
            assert!(c.parse::<ResponseCode>().unwrap().info().is_some(), "{c}");
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(ResponseCode::FORMAT_ERROR.meaning(), "Format error");
        assert!(ResponseCode::APPROVED.is_approved());
        assert!(!ResponseCode::DO_NOT_HONOUR.is_approved());
        assert_eq!(ResponseCode::ISSUER_INOPERATIVE.outcome(), Outcome::Retry);
        let unknown: ResponseCode = "Q7".parse().unwrap();
        assert_eq!(unknown.meaning(), "Unknown response code");
        assert_eq!(unknown.outcome(), Outcome::Declined);
        assert_eq!(unknown.to_string(), "Q7 (Unknown response code)");
        assert_eq!(
            ResponseCode::INSUFFICIENT_FUNDS.to_string(),
            "51 (Not sufficient funds)"
        );
        assert!("0".parse::<ResponseCode>().is_err());
        assert!("0 ".parse::<ResponseCode>().is_err());
    }
}
