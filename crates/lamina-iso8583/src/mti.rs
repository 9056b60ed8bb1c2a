//! Message type indicator (ISO 8583:1987 §4.3.1): four decimal digits
//! version / class / function / origin.

use std::fmt;
use std::str::FromStr;

/// Message class, MTI position 2 (ISO 8583:1987 §4.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// 1: authorization.
    Authorization,
    /// 2: financial transaction.
    Financial,
    /// 3: file action.
    FileAction,
    /// 4: reversal (and chargeback).
    Reversal,
    /// 5: reconciliation.
    Reconciliation,
    /// 6: administrative.
    Administrative,
    /// 7: fee collection.
    FeeCollection,
    /// 8: network management.
    NetworkManagement,
    /// 0 or 9: reserved by ISO.
    Reserved(u8),
}

/// Message function, MTI position 3 (ISO 8583:1987 §4.3.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFunction {
    /// 0: request.
    Request,
    /// 1: request response.
    RequestResponse,
    /// 2: advice.
    Advice,
    /// 3: advice response.
    AdviceResponse,
    /// 4: notification.
    Notification,
    /// 5: notification acknowledgement (1993 and later; reserved in 1987).
    NotificationAck,
    /// 6: instruction (1993 and later; reserved in 1987).
    Instruction,
    /// 7: instruction acknowledgement (1993 and later; reserved in 1987).
    InstructionAck,
    /// 8 or 9: reserved by ISO.
    Reserved(u8),
}

/// Transaction originator, MTI position 4 (ISO 8583:1987 §4.3.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// 0: acquirer.
    Acquirer,
    /// 1: acquirer repeat (retransmission).
    AcquirerRepeat,
    /// 2: card issuer.
    Issuer,
    /// 3: card issuer repeat.
    IssuerRepeat,
    /// 4: other.
    Other,
    /// 5: other repeat.
    OtherRepeat,
    /// 6-9: reserved by ISO.
    Reserved(u8),
}

/// A message type indicator: four ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

/// An MTI that is not four decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an MTI is exactly four decimal digits")]
pub struct InvalidMti;

impl Mti {
    /// 0100 authorization request.
    pub const AUTHORIZATION_REQUEST: Mti = Mti(*b"0100");
    /// 0101 authorization request repeat.
    pub const AUTHORIZATION_REQUEST_REPEAT: Mti = Mti(*b"0101");
    /// 0110 authorization request response.
    pub const AUTHORIZATION_RESPONSE: Mti = Mti(*b"0110");
    /// 0120 authorization advice.
    pub const AUTHORIZATION_ADVICE: Mti = Mti(*b"0120");
    /// 0130 authorization advice response.
    pub const AUTHORIZATION_ADVICE_RESPONSE: Mti = Mti(*b"0130");
    /// 0200 financial transaction request.
    pub const FINANCIAL_REQUEST: Mti = Mti(*b"0200");
    /// 0210 financial transaction request response.
    pub const FINANCIAL_RESPONSE: Mti = Mti(*b"0210");
    /// 0220 financial transaction advice (completion, offline approval).
    pub const FINANCIAL_ADVICE: Mti = Mti(*b"0220");
    /// 0230 financial transaction advice response.
    pub const FINANCIAL_ADVICE_RESPONSE: Mti = Mti(*b"0230");
    /// 0400 reversal request.
    pub const REVERSAL_REQUEST: Mti = Mti(*b"0400");
    /// 0410 reversal request response.
    pub const REVERSAL_RESPONSE: Mti = Mti(*b"0410");
    /// 0420 reversal advice.
    pub const REVERSAL_ADVICE: Mti = Mti(*b"0420");
    /// 0421 reversal advice repeat.
    pub const REVERSAL_ADVICE_REPEAT: Mti = Mti(*b"0421");
    /// 0430 reversal advice response.
    pub const REVERSAL_ADVICE_RESPONSE: Mti = Mti(*b"0430");
    /// 0500 reconciliation request.
    pub const RECONCILIATION_REQUEST: Mti = Mti(*b"0500");
    /// 0510 reconciliation request response.
    pub const RECONCILIATION_RESPONSE: Mti = Mti(*b"0510");
    /// 0800 network management request.
    pub const NETWORK_MANAGEMENT_REQUEST: Mti = Mti(*b"0800");
    /// 0810 network management request response.
    pub const NETWORK_MANAGEMENT_RESPONSE: Mti = Mti(*b"0810");

    /// Parses four ASCII digits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Mti, InvalidMti> {
        match bytes {
            &[a, b, c, d] if bytes.iter().all(u8::is_ascii_digit) => Ok(Mti([a, b, c, d])),
            _ => Err(InvalidMti),
        }
    }

    /// The four ASCII digits.
    pub const fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// The MTI as a string slice.
    pub fn as_str(&self) -> &str {
        // Four ASCII digits are always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    const fn digit(&self, i: usize) -> u8 {
        self.0[i] - b'0'
    }

    /// Version digit (position 1): 0 = ISO 8583:1987, 1 = 1993, 2 = 2003.
    pub const fn version(&self) -> u8 {
        self.digit(0)
    }

    /// Message class (position 2).
    pub const fn class(&self) -> MessageClass {
        match self.digit(1) {
            1 => MessageClass::Authorization,
            2 => MessageClass::Financial,
            3 => MessageClass::FileAction,
            4 => MessageClass::Reversal,
            5 => MessageClass::Reconciliation,
            6 => MessageClass::Administrative,
            7 => MessageClass::FeeCollection,
            8 => MessageClass::NetworkManagement,
            d => MessageClass::Reserved(d),
        }
    }

    /// Message function (position 3).
    pub const fn function(&self) -> MessageFunction {
        match self.digit(2) {
            0 => MessageFunction::Request,
            1 => MessageFunction::RequestResponse,
            2 => MessageFunction::Advice,
            3 => MessageFunction::AdviceResponse,
            4 => MessageFunction::Notification,
            5 => MessageFunction::NotificationAck,
            6 => MessageFunction::Instruction,
            7 => MessageFunction::InstructionAck,
            d => MessageFunction::Reserved(d),
        }
    }

    /// Transaction originator (position 4).
    pub const fn origin(&self) -> Origin {
        match self.digit(3) {
            0 => Origin::Acquirer,
            1 => Origin::AcquirerRepeat,
            2 => Origin::Issuer,
            3 => Origin::IssuerRepeat,
            4 => Origin::Other,
            5 => Origin::OtherRepeat,
            d => Origin::Reserved(d),
        }
    }

    /// Whether this is a repeat (retransmission) of an earlier message: origin 1, 3 or 5.
    pub const fn is_repeat(&self) -> bool {
        matches!(
            self.origin(),
            Origin::AcquirerRepeat | Origin::IssuerRepeat | Origin::OtherRepeat
        )
    }

    /// Whether a response is expected for this message: function request (0), advice (2),
    /// notification (4) or instruction (6).
    pub const fn expects_response(&self) -> bool {
        matches!(self.digit(2), 0 | 2 | 4 | 6)
    }

    /// Whether this is a response: function 1, 3, 5 or 7.
    pub const fn is_response(&self) -> bool {
        matches!(self.digit(2), 1 | 3 | 5 | 7)
    }

    /// The same message as first transmitted: a repeat (0101, 0421, ...) maps to its
    /// original (0100, 0420); other MTIs map to themselves.
    pub const fn original(&self) -> Mti {
        let mut out = self.0;
        if self.is_repeat() {
            out[3] -= 1;
        }
        Mti(out)
    }

    /// The repeat (retransmission) MTI for this message: 0100 → 0101, 0420 → 0421.
    /// `None` for responses, repeats and reserved origins.
    pub const fn repeat(&self) -> Option<Mti> {
        if self.is_response() || !matches!(self.digit(3), 0 | 2 | 4) {
            return None;
        }
        let mut out = self.0;
        out[3] += 1;
        Some(Mti(out))
    }

    /// The response MTI (function + 1, origin of the original, i.e. repeat cleared):
    /// 0100 → 0110, 0101 → 0110, 0120 → 0130, 0200 → 0210, 0220 → 0230, 0400 → 0410,
    /// 0420 → 0430, 0500 → 0510, 0800 → 0810. `None` if this is itself a response or has
    /// a reserved function.
    pub const fn response(&self) -> Option<Mti> {
        if !self.expects_response() {
            return None;
        }
        let mut out = self.original().0;
        out[2] += 1;
        Some(Mti(out))
    }
}

impl FromStr for Mti {
    type Err = InvalidMti;
    fn from_str(s: &str) -> Result<Mti, InvalidMti> {
        Mti::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&str> for Mti {
    type Error = InvalidMti;
    fn try_from(s: &str) -> Result<Mti, InvalidMti> {
        Mti::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Mti {
        s.parse().unwrap()
    }

    #[test]
    fn responses() {
        for (req, resp) in [
            ("0100", "0110"),
            ("0101", "0110"),
            ("0120", "0130"),
            ("0121", "0130"),
            ("0200", "0210"),
            ("0220", "0230"),
            ("0400", "0410"),
            ("0420", "0430"),
            ("0421", "0430"),
            ("0500", "0510"),
            ("0800", "0810"),
            ("0820", "0830"),
        ] {
            assert_eq!(m(req).response(), Some(m(resp)), "{req}");
            assert!(m(resp).is_response());
            assert_eq!(m(resp).response(), None);
        }
    }

    #[test]
    fn repeats() {
        assert_eq!(m("0100").repeat(), Some(m("0101")));
        assert_eq!(m("0420").repeat(), Some(m("0421")));
        assert_eq!(m("0101").repeat(), None);
        assert_eq!(m("0110").repeat(), None);
        assert!(m("0101").is_repeat());
        assert!(!m("0100").is_repeat());
        assert_eq!(m("0101").original(), m("0100"));
        assert_eq!(m("0100").original(), m("0100"));
        assert_eq!(m("0101").origin(), Origin::AcquirerRepeat);
        assert_eq!(m("0109").origin(), Origin::Reserved(9));
        assert_eq!(m("0109").repeat(), None);
    }

    #[test]
    fn positions() {
        let x = m("0420");
        assert_eq!(x.version(), 0);
        assert_eq!(x.class(), MessageClass::Reversal);
        assert_eq!(x.function(), MessageFunction::Advice);
        assert_eq!(x.origin(), Origin::Acquirer);
        assert_eq!(m("0810").class(), MessageClass::NetworkManagement);
        assert_eq!(m("0980").class(), MessageClass::Reserved(9));
        assert_eq!(m("0180").function(), MessageFunction::Reserved(8));
        assert_eq!(m("1200").version(), 1);
        assert_eq!(x.to_string(), "0420");
        assert_eq!(format!("{x:?}"), "Mti(0420)");
    }

    #[test]
    fn rejects_non_digits() {
        assert_eq!("02A0".parse::<Mti>(), Err(InvalidMti));
        assert_eq!("020".parse::<Mti>(), Err(InvalidMti));
        assert_eq!("02000".parse::<Mti>(), Err(InvalidMti));
        assert_eq!(Mti::from_bytes(&[0x30, 0x32, 0x30, 0x80]), Err(InvalidMti));
    }
}
