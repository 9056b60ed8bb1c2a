//! Data object lists: PDOL, CDOL1, CDOL2, DDOL, TDOL (EMV Book 3 §5.4 "Rules for
//! Using a Data Object List (DOL)").
//!
//! A DOL is a list of (tag, length) pairs. The terminal answers it with the
//! concatenation of the values, each fitted to its length:
//!
//! * data longer than asked: format `n` loses its leftmost bytes, every other
//!   format its rightmost bytes;
//! * data shorter than asked: `n` gets leading `00`, `cn` trailing `FF`, every
//!   other format trailing `00`;
//! * data the terminal does not have, and constructed tags: all `00`.

use std::collections::{BTreeMap, HashMap};

use lamina_tlv::{Tag, parse_length};

use crate::Format;

/// Why a DOL could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DolError {
    /// A tag or length in the list is malformed.
    #[error("DOL malformed: {0}")]
    Tlv(#[from] lamina_tlv::Error),
    /// Concatenated data shorter than the DOL asks for.
    #[error("DOL data is {got} bytes, the list needs {needed}")]
    DataLength { got: usize, needed: usize },
}

/// One entry of a DOL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DolEntry {
    /// Requested data element.
    pub tag: Tag,
    /// Requested length in bytes.
    pub len: usize,
}

/// A parsed data object list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dol {
    /// Entries in order.
    pub entries: Vec<DolEntry>,
}

/// Where DOL values come from (the terminal's or card's data store).
pub trait DataSource {
    /// The value of `tag`, if known.
    fn value(&self, tag: Tag) -> Option<&[u8]>;
}

impl DataSource for HashMap<Tag, Vec<u8>> {
    fn value(&self, tag: Tag) -> Option<&[u8]> {
        self.get(&tag).map(Vec::as_slice)
    }
}

impl DataSource for BTreeMap<Tag, Vec<u8>> {
    fn value(&self, tag: Tag) -> Option<&[u8]> {
        self.get(&tag).map(Vec::as_slice)
    }
}

impl DataSource for [(Tag, Vec<u8>)] {
    fn value(&self, tag: Tag) -> Option<&[u8]> {
        self.iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }
}

impl Dol {
    /// Parses the value of a DOL data object (e.g. the value of tag `9F38`).
    pub fn parse(bytes: &[u8]) -> Result<Dol, DolError> {
        let mut entries = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = bytes.get(pos..).unwrap_or_default();
            let (tag, tl) = Tag::from_bytes(rest, pos)?;
            let (len, ll) = parse_length(rest.get(tl..).unwrap_or_default(), pos + tl)?;
            entries.push(DolEntry { tag, len });
            pos += tl + ll;
        }
        Ok(Dol { entries })
    }

    /// Encodes the list back to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            e.tag.write(&mut out);
            lamina_tlv::encode_length(e.len, &mut out);
        }
        out
    }

    /// Total length of the data this DOL asks for.
    pub fn data_len(&self) -> usize {
        self.entries.iter().map(|e| e.len).sum()
    }

    /// Builds the concatenated value (EMV Book 3 §5.4) with formats from the EMV
    /// dictionary ([`crate::dict::format_of`]; unknown tags are treated as binary).
    pub fn build(&self, source: &(impl DataSource + ?Sized)) -> Vec<u8> {
        self.build_with(source, |t| crate::dict::format_of(t.number()))
    }

    /// Builds the concatenated value with formats given by `format_of`.
    pub fn build_with(
        &self,
        source: &(impl DataSource + ?Sized),
        format_of: impl Fn(Tag) -> Option<Format>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data_len());
        for e in &self.entries {
            let value = if e.tag.is_constructed() {
                None
            } else {
                source.value(e.tag)
            };
            match value {
                None => out.resize(out.len() + e.len, 0),
                Some(v) => fit(&mut out, v, e.len, format_of(e.tag).unwrap_or(Format::B)),
            }
        }
        out
    }

    /// Splits DOL-related data (as received by the card) into per-entry slices.
    pub fn split<'d>(&self, data: &'d [u8]) -> Result<Vec<(Tag, &'d [u8])>, DolError> {
        let needed = self.data_len();
        if data.len() < needed {
            return Err(DolError::DataLength {
                got: data.len(),
                needed,
            });
        }
        let mut pos = 0;
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            out.push((e.tag, data.get(pos..pos + e.len).unwrap_or_default()));
            pos += e.len;
        }
        Ok(out)
    }
}

/// Appends `v` fitted to `len` bytes according to `format` (EMV Book 3 §5.4).
fn fit(out: &mut Vec<u8>, v: &[u8], len: usize, format: Format) {
    use core::cmp::Ordering::*;
    match (v.len().cmp(&len), format) {
        (Equal, _) => out.extend_from_slice(v),
        (Greater, Format::N) => out.extend_from_slice(&v[v.len() - len..]),
        (Greater, _) => out.extend_from_slice(&v[..len]),
        (Less, Format::N) => {
            out.resize(out.len() + len - v.len(), 0);
            out.extend_from_slice(v);
        }
        (Less, Format::Cn) => {
            out.extend_from_slice(v);
            out.resize(out.len() + len - v.len(), 0xFF);
        }
        (Less, _) => {
            out.extend_from_slice(v);
            out.resize(out.len() + len - v.len(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(t: Tag) -> Option<Format> {
        match t.number() {
            0x9F02 | 0x9F03 | 0x9A | 0x5F2A | 0x9F1A => Some(Format::N),
            0x5A => Some(Format::Cn),
            0x9F4E => Some(Format::Ans),
            _ => Some(Format::B),
        }
    }

    #[test]
    fn parse_and_encode() {
        // A typical CDOL1
        let cdol = hex::decode("9F02069F03069F1A0295055F2A029A039C019F37049F4E14").unwrap();
        let dol = Dol::parse(&cdol).unwrap();
        assert_eq!(dol.entries.len(), 9);
        assert_eq!(
            dol.entries[0],
            DolEntry {
                tag: Tag::new(0x9F02),
                len: 6
            }
        );
        assert_eq!(dol.data_len(), 6 + 6 + 2 + 5 + 2 + 3 + 1 + 4 + 20);
        assert_eq!(dol.to_bytes(), cdol);
    }

    #[test]
    fn build_rules() {
        let dol = Dol::parse(
            &hex::decode("9F0204 9F4E04 5A0A 9F3704 7002 9F0203 9F4E02".replace(' ', "")).unwrap(),
        )
        .unwrap();
        let src: Vec<(Tag, Vec<u8>)> = vec![
            (Tag::new(0x9F02), vec![0x00, 0x00, 0x00, 0x00, 0x10, 0x00]), // n, longer: cut left
            (Tag::new(0x9F4E), b"SHOP".to_vec()),
            (
                Tag::new(0x5A),
                vec![0x54, 0x13, 0x33, 0x00, 0x00, 0x00, 0x00, 0x10],
            ), // cn, shorter: F pad
            (Tag::new(0x70), vec![1, 2]), // constructed: zeros
        ];
        let out = dol.build_with(src.as_slice(), fmt);
        assert_eq!(
            hex::encode_upper(out),
            concat!(
                "00001000",
                "53484F50",
                "5413330000000010FFFF",
                "00000000",
                "0000",
                "001000",
                "5348"
            )
        );
    }

    #[test]
    fn numeric_shorter_is_left_padded() {
        let dol = Dol::parse(&[0x9F, 0x02, 0x06]).unwrap();
        let src = vec![(Tag::new(0x9F02), vec![0x12, 0x34])];
        assert_eq!(
            dol.build_with(src.as_slice(), fmt),
            vec![0, 0, 0, 0, 0x12, 0x34]
        );
        let src = vec![(Tag::new(0x9F37), vec![0x12, 0x34])];
        let dol = Dol::parse(&[0x9F, 0x37, 0x04]).unwrap();
        assert_eq!(dol.build_with(src.as_slice(), fmt), vec![0x12, 0x34, 0, 0]);
    }

    #[test]
    fn build_uses_the_dictionary() {
        // 9F02 is n (left pad), 9F4E is ans (right pad), 5A is cn (F pad)
        let dol = Dol::parse(&hex::decode("9F02069F4E045A0A").unwrap()).unwrap();
        let src = vec![
            (Tag::new(0x9F02), vec![0x10, 0x00]),
            (Tag::new(0x9F4E), b"AB".to_vec()),
            (
                Tag::new(0x5A),
                vec![0x54, 0x13, 0x33, 0x00, 0x00, 0x00, 0x00, 0x10],
            ),
        ];
        assert_eq!(
            hex::encode_upper(dol.build(src.as_slice())),
            "0000000010004142000054133300000000 10FFFF".replace(' ', "")
        );
    }

    #[test]
    fn malformed_dol_names_offset() {
        let e = Dol::parse(&[0x9F, 0x02, 0x06, 0x9F]).unwrap_err();
        assert!(e.to_string().contains("offset 4"), "{e}");
        assert!(Dol::parse(&[0x9F, 0x02]).is_err());
    }

    #[test]
    fn split_roundtrip() {
        let dol = Dol::parse(&hex::decode("9F02069F3704").unwrap()).unwrap();
        let data = hex::decode("00000000100001020304").unwrap();
        let parts = dol.split(&data).unwrap();
        assert_eq!(parts[1], (Tag::new(0x9F37), &data[6..]));
        assert!(dol.split(&data[..9]).is_err());
    }
}
