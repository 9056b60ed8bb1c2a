//! The transaction's data: what the card gave (FCI, GPO, records, GET DATA,
//! GENERATE AC) and what the terminal supplies (Book 3 Annex A "source: terminal").
//!
//! Card data is checked as it arrives: a primitive data object received twice in
//! the records and GPO response is a card error (Book 3 §10.2: "If ... a data object
//! ... appears more than once, the terminal shall terminate the transaction").

use std::collections::BTreeMap;

use lamina_tlv::{Tag, Tlv, Value};

/// Why card data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Not valid BER-TLV.
    #[error("malformed TLV: {0}")]
    Malformed(String),
    /// A primitive data object received a second time.
    #[error("data object {0} received twice")]
    Duplicate(String),
    /// The response is not the expected template.
    #[error("expected template {expected}, got {got}")]
    Template {
        /// Expected template tag.
        expected: &'static str,
        /// What came.
        got: String,
    },
}

/// Card data objects, by tag.
#[derive(Debug, Clone, Default)]
pub struct CardData {
    map: BTreeMap<u32, Vec<u8>>,
}

impl CardData {
    /// The value of a tag.
    pub fn get(&self, tag: u32) -> Option<&[u8]> {
        self.map.get(&tag).map(Vec::as_slice)
    }

    /// Whether a tag is present.
    pub fn has(&self, tag: u32) -> bool {
        self.map.contains_key(&tag)
    }

    /// Stores a value, replacing any (for data re-read on purpose: GET DATA, GENERATE AC).
    pub fn set(&mut self, tag: u32, value: Vec<u8>) {
        self.map.insert(tag, value);
    }

    /// Removes a value.
    pub fn remove(&mut self, tag: u32) {
        self.map.remove(&tag);
    }

    /// Adds every primitive object of `list` (recursing into constructed ones).
    /// With `unique`, a tag already present is a [`DataError::Duplicate`].
    pub fn add_all(&mut self, list: &[Tlv], unique: bool) -> Result<(), DataError> {
        for t in list {
            match &t.value {
                Value::Constructed(children) => self.add_all(children, unique)?,
                Value::Primitive(v) => {
                    let n = t.tag.number();
                    if unique && self.map.contains_key(&n) {
                        return Err(DataError::Duplicate(lamina_emv::dict::tag_hex(n)));
                    }
                    self.map.insert(n, v.clone());
                }
            }
        }
        Ok(())
    }

    /// Iterates over all objects.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.map.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}

/// Parses a response as TLV.
pub fn parse(data: &[u8]) -> Result<Vec<Tlv>, DataError> {
    Tlv::parse_all(data).map_err(|e| DataError::Malformed(e.to_string()))
}

/// Parses `data` as exactly one object with tag `expected` and returns its children
/// (constructed) or value (primitive).
pub fn template(data: &[u8], expected: u32, name: &'static str) -> Result<Tlv, DataError> {
    let list = parse(data)?;
    match list.as_slice() {
        [one] if one.tag.number() == expected => Ok(one.clone()),
        [one, ..] => Err(DataError::Template {
            expected: name,
            got: lamina_emv::dict::tag_hex(one.tag.number()),
        }),
        [] => Err(DataError::Template {
            expected: name,
            got: "nothing".into(),
        }),
    }
}

/// The value of a direct child of a constructed object.
pub fn child(t: &Tlv, tag: u32) -> Option<&[u8]> {
    t.children()
        .iter()
        .find(|c| c.tag.number() == tag)
        .and_then(Tlv::value_bytes)
}

/// Packs `value` as `digits` BCD digits (format n, right-justified, Book 3 §4.3).
pub fn bcd(value: u64, digits: usize) -> Vec<u8> {
    let mut out = vec![0u8; digits.div_ceil(2)];
    let mut v = value;
    for b in out.iter_mut().rev() {
        let lo = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        let hi = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        *b = (hi << 4) | lo;
    }
    out
}

/// Decodes format n (BCD) to a number; `None` on a non-decimal nibble or overflow.
pub fn from_bcd(value: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for b in value {
        for n in [b >> 4, b & 0x0F] {
            if n > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(n))?;
        }
    }
    Some(v)
}

/// Decodes a big-endian binary number of up to 8 bytes.
pub fn be_u64(value: &[u8]) -> Option<u64> {
    if value.len() > 8 {
        return None;
    }
    Some(value.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

/// Text padded with spaces to `len` (formats an/ans).
pub fn text(s: &str, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().take(len).collect();
    v.resize(len, b' ');
    v
}

/// The PAN digits of tag `5A` (cn, `F`-padded).
pub fn pan_digits(value: &[u8]) -> Option<String> {
    let mut s = String::new();
    for b in value {
        for n in [b >> 4, b & 0x0F] {
            match n {
                0..=9 => s.push(char::from(b'0' + n)),
                0xF => return (!s.is_empty()).then_some(s),
                _ => return None,
            }
        }
    }
    (!s.is_empty()).then_some(s)
}

/// A DOL data source over a snapshot of terminal and card data.
pub fn source(pairs: impl IntoIterator<Item = (u32, Vec<u8>)>) -> BTreeMap<Tag, Vec<u8>> {
    pairs.into_iter().map(|(t, v)| (Tag::new(t), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_roundtrip() {
        assert_eq!(bcd(1234, 12), vec![0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(bcd(250, 3), vec![0x02, 0x50]);
        assert_eq!(from_bcd(&[0x12, 0x34]), Some(1234));
        assert_eq!(from_bcd(&[0x1A]), None);
        assert_eq!(
            pan_digits(&[0x54, 0x13, 0x33, 0x00, 0x00, 0x00, 0x00, 0x1F]).as_deref(),
            Some("541333000000001")
        );
    }

    #[test]
    fn duplicates_refused() {
        let list = parse(&[0x70, 0x06, 0x5F, 0x24, 0x01, 0x01, 0x5A, 0x00]).unwrap();
        let mut d = CardData::default();
        d.add_all(&list, true).unwrap();
        assert!(matches!(
            d.add_all(&list, true),
            Err(DataError::Duplicate(_))
        ));
    }
}
