//! Masking of sensitive data elements for `Debug`/`Display` (PCI DSS req. 3.4: at most the
//! first six and last four PAN digits; PIN blocks never shown).

use std::fmt::Write as _;

use lamina_tlv::Tlv;

use crate::message::FieldValue;
use crate::spec::{FieldSpec, Mask};

/// Masks a PAN: first 6 and last 4 digits visible, the rest `*`; PANs of 10 digits or
/// fewer are masked entirely (the EMV dictionary's masking, one rule for all output).
pub use lamina_emv::dict::mask_pan;

/// Masks track 2 data: the PAN before the separator (`=` or `D`) masked with
/// [`mask_pan`], everything after the separator replaced by `****`.
pub fn mask_track2(track2: &str) -> String {
    match track2.find(['=', 'D']) {
        Some(sep) => {
            let pan = track2.get(..sep).unwrap_or("");
            format!("{}=****", mask_pan(pan))
        }
        None => "*".repeat(track2.chars().count()),
    }
}

/// Summarizes EMV BER-TLV data as its top-level tags and value lengths, no values:
/// `ICC[9F26(8) 9F27(1)]`.
pub fn summarize_icc(data: &[u8]) -> String {
    match Tlv::parse_all(data) {
        Ok(list) => {
            let mut out = String::from("ICC[");
            for (i, tlv) in list.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{}({})", tlv.tag, tlv.value_len());
            }
            out.push(']');
            out
        }
        Err(_) => format!("ICC[not BER-TLV, {} bytes]", data.len()),
    }
}

/// Renders one field value for `Debug`/`Display` according to its spec row. A field the
/// spec does not know is printed as its length only.
pub(crate) fn render_field(spec: Option<&FieldSpec>, value: &FieldValue) -> String {
    let Some(spec) = spec else {
        return match value {
            FieldValue::Text(s) => format!("<{} chars, not in spec>", s.len()),
            FieldValue::Binary(b) => format!("<{} bytes, not in spec>", b.len()),
        };
    };
    match (spec.mask, value) {
        (Mask::None, FieldValue::Text(s)) => s.escape_debug().to_string(),
        (Mask::None, FieldValue::Binary(b)) => hex::encode_upper(b),
        (Mask::Pan, FieldValue::Text(s)) => mask_pan(s),
        (Mask::Track2, FieldValue::Text(s)) => mask_track2(s),
        (Mask::Icc, FieldValue::Binary(b)) => summarize_icc(b),
        _ => String::from("REDACTED"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pans() {
        assert_eq!(mask_pan("5413330089600010"), "541333******0010");
        assert_eq!(mask_pan("4761739001010010"), "476173******0010");
        assert_eq!(mask_pan("1234567890"), "**********");
        assert_eq!(mask_pan("12345678901"), "123456*8901");
        assert_eq!(mask_pan(""), "");
    }

    #[test]
    fn track2() {
        assert_eq!(
            mask_track2("5413330089600010=2512201123456789"),
            "541333******0010=****"
        );
        assert_eq!(
            mask_track2("5413330089600010D25122011234"),
            "541333******0010=****"
        );
        assert_eq!(mask_track2("54133300"), "********");
    }

    #[test]
    fn icc() {
        let data = hex::decode("9F2608AABBCCDDEEFF00119F270180").unwrap();
        assert_eq!(summarize_icc(&data), "ICC[9F26(8) 9F27(1)]");
        assert_eq!(summarize_icc(&[0x9F]), "ICC[not BER-TLV, 1 bytes]");
    }
}
