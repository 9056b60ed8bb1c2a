//! Data element 90, original data elements (ISO 8583:1987 DE 90, n42): identifies the
//! message a reversal (0400/0420) or advice refers to.

use crate::message::Message;
use crate::mti::Mti;

/// Data element 90.
pub const FIELD_ORIGINAL_DATA: u8 = 90;

/// The five sub-elements of DE 90: original MTI n4, original STAN n6, original
/// transmission date and time n10, original acquiring institution id n11, original
/// forwarding institution id n11 (the last two right-justified, zero-filled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalData {
    /// MTI of the original message.
    pub mti: Mti,
    /// DE 11 of the original (6 digits).
    pub stan: String,
    /// DE 7 of the original (10 digits).
    pub transmission: String,
    /// DE 32 of the original (up to 11 digits).
    pub acquirer: String,
    /// DE 33 of the original (up to 11 digits; zeros when absent).
    pub forwarder: String,
}

/// Why a DE 90 value does not split or build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "original data elements are 42 digits: MTI 4, STAN 6, date time 10, acquirer 11, forwarder 11"
)]
pub struct InvalidOriginalData;

fn left_zero(s: &str, width: usize) -> Result<String, InvalidOriginalData> {
    if s.len() > width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidOriginalData);
    }
    Ok(format!("{s:0>width$}"))
}

impl OriginalData {
    /// The DE 90 sub-elements of `original`: its MTI, field 11, field 7 and field 32
    /// (forwarder all zeros: Lamina has no forwarding institution).
    pub fn of(original: &Message) -> Result<OriginalData, InvalidOriginalData> {
        let get = |n| original.get_str(n).ok_or(InvalidOriginalData);
        Ok(OriginalData {
            mti: original.mti,
            stan: get(11)?.to_owned(),
            transmission: get(7)?.to_owned(),
            acquirer: original.get_str(32).unwrap_or("").to_owned(),
            forwarder: String::new(),
        })
    }

    /// The 42-digit field value.
    pub fn to_field(&self) -> Result<String, InvalidOriginalData> {
        let mut out = String::with_capacity(42);
        out.push_str(self.mti.as_str());
        if self.stan.len() != 6 || self.transmission.len() != 10 {
            return Err(InvalidOriginalData);
        }
        out.push_str(&left_zero(&self.stan, 6)?);
        out.push_str(&left_zero(&self.transmission, 10)?);
        out.push_str(&left_zero(&self.acquirer, 11)?);
        out.push_str(&left_zero(&self.forwarder, 11)?);
        Ok(out)
    }

    /// Splits a 42-digit field value.
    pub fn parse(field: &str) -> Result<OriginalData, InvalidOriginalData> {
        if field.len() != 42 || !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidOriginalData);
        }
        let part = |r: core::ops::Range<usize>| field.get(r).ok_or(InvalidOriginalData);
        Ok(OriginalData {
            mti: part(0..4)?.parse().map_err(|_| InvalidOriginalData)?,
            stan: part(4..10)?.to_owned(),
            transmission: part(10..20)?.to_owned(),
            acquirer: part(20..31)?.to_owned(),
            forwarder: part(31..42)?.to_owned(),
        })
    }
}

impl Message {
    /// Sets DE 90 from `original`.
    pub fn set_original_data(
        &mut self,
        original: &OriginalData,
    ) -> Result<&mut Self, InvalidOriginalData> {
        Ok(self.set(FIELD_ORIGINAL_DATA, original.to_field()?))
    }

    /// DE 90 split into its sub-elements (`None` if absent).
    pub fn original_data(&self) -> Option<Result<OriginalData, InvalidOriginalData>> {
        self.get_str(FIELD_ORIGINAL_DATA).map(OriginalData::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_splits() {
        let orig = Message::new(Mti::FINANCIAL_REQUEST)
            .with(7, "1125083000")
            .with(11, "000123")
            .with(32, "12345");
        let od = OriginalData::of(&orig).unwrap();
        let field = od.to_field().unwrap();
        assert_eq!(field, "020000012311250830000000001234500000000000");
        assert_eq!(field.len(), 42);
        let back = OriginalData::parse(&field).unwrap();
        assert_eq!(back.mti, Mti::FINANCIAL_REQUEST);
        assert_eq!(back.stan, "000123");
        assert_eq!(back.acquirer, "00000012345");
        assert_eq!(back.forwarder, "00000000000");
        assert!(OriginalData::parse("0200").is_err());
        assert!(OriginalData::parse(&field.replace('1', "A")).is_err());
        assert!(OriginalData::of(&Message::new(Mti::FINANCIAL_REQUEST)).is_err());
    }
}
