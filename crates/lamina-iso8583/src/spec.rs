//! The message spec as data: one row per data element, read by the generic engine in
//! [`crate::codec`].
//!
//! The Lamina spec lives in `spec/lamina-1987.toml` and is embedded at build time
//! ([`EMBEDDED_TOML`]); [`Spec::lamina`] parses it once. Other specs (a test host, a scheme
//! variant) can be loaded with [`Spec::from_toml`], which checks the table for consistency
//! (ISO 8583:1987 §4.1 data element attributes: type, length kind, maximum length).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;

/// The embedded Lamina spec (`spec/lamina-1987.toml`).
pub const EMBEDDED_TOML: &str = include_str!("../spec/lamina-1987.toml");

/// Data element type (ISO 8583:1987 §4.1, "attribute" notation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// `n`: numeric digits `0`-`9`.
    N,
    /// `an`: alphabetic and numeric characters; Lamina also admits the space (padding).
    An,
    /// `ans`: alphabetic, numeric and special characters (printable ASCII `0x20`-`0x7E`).
    Ans,
    /// `z`: track 2 code set (ISO/IEC 7813: `0x30`-`0x3F`), plus `D` as field separator as
    /// found in EMV tag 57.
    Z,
    /// `b`: binary data.
    B,
}

impl FieldType {
    /// The notation used in ISO 8583 and in the spec file (`n`, `an`, `ans`, `z`, `b`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldType::N => "n",
            FieldType::An => "an",
            FieldType::Ans => "ans",
            FieldType::Z => "z",
            FieldType::B => "b",
        }
    }

    /// Whether `byte` is a valid character of this type (always true for `b`).
    pub const fn accepts(self, byte: u8) -> bool {
        match self {
            FieldType::N => byte.is_ascii_digit(),
            FieldType::An => byte.is_ascii_alphanumeric() || byte == b' ',
            FieldType::Ans => matches!(byte, 0x20..=0x7E),
            FieldType::Z => matches!(byte, 0x30..=0x3F | b'D'),
            FieldType::B => true,
        }
    }
}

/// How the length of a data element is known (ISO 8583:1987 §4.1: fixed, `..`, `...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthKind {
    /// Fixed length, no prefix.
    Fixed,
    /// Variable, preceded by a 2-digit length (`..99`).
    Llvar,
    /// Variable, preceded by a 3-digit length (`...999`).
    Lllvar,
}

impl LengthKind {
    /// Number of length-prefix digits (0 for fixed).
    pub const fn prefix_digits(self) -> usize {
        match self {
            LengthKind::Fixed => 0,
            LengthKind::Llvar => 2,
            LengthKind::Lllvar => 3,
        }
    }

    /// The name used in the spec file.
    pub const fn as_str(self) -> &'static str {
        match self {
            LengthKind::Fixed => "fixed",
            LengthKind::Llvar => "llvar",
            LengthKind::Lllvar => "lllvar",
        }
    }
}

/// Wire encoding of a data element's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One ASCII byte per character (`n`, `an`, `ans`, `z`).
    Ascii,
    /// Raw bytes (`b`).
    Binary,
}

impl Encoding {
    /// The name used in the spec file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Ascii => "ascii",
            Encoding::Binary => "binary",
        }
    }
}

/// Padding the encoder applies to a fixed field whose value is shorter than the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Left-pad with `0` (numeric fields).
    LeftZero,
    /// Right-pad with spaces (`an`, `ans`).
    RightSpace,
    /// No padding: the value must have exactly the fixed length.
    None,
}

impl Padding {
    /// The name used in the spec file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Padding::LeftZero => "left_zero",
            Padding::RightSpace => "right_space",
            Padding::None => "none",
        }
    }
}

/// How `Debug`/`Display` of a message print a field (sensitive data never printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mask {
    /// Printed as is.
    None,
    /// A PAN: first 6 and last 4 digits visible (PCI DSS 3.4), shorter PANs fully masked.
    Pan,
    /// Track 2: masked PAN, everything after the separator hidden.
    Track2,
    /// Printed as `REDACTED` (PIN block).
    Redact,
    /// EMV BER-TLV: the list of tags with their lengths, no values.
    Icc,
}

impl Mask {
    /// The name used in the spec file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mask::None => "none",
            Mask::Pan => "pan",
            Mask::Track2 => "track2",
            Mask::Redact => "redact",
            Mask::Icc => "icc",
        }
    }

    /// Whether the field holds sensitive data (anything but [`Mask::None`]).
    pub const fn is_sensitive(self) -> bool {
        !matches!(self, Mask::None)
    }
}

/// One row of the spec: the attributes of one data element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Data element number, 2..=128 (not 65).
    pub number: u8,
    /// Name (ISO 8583:1987 name, Lamina usage).
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Fixed or variable length.
    pub length: LengthKind,
    /// Fixed length, or maximum length of a variable field (characters, or bytes for `b`).
    pub max: usize,
    /// Wire encoding of the content.
    pub encoding: Encoding,
    /// Encoder padding of short fixed values.
    pub padding: Padding,
    /// Masking in `Debug`/`Display`.
    pub mask: Mask,
}

impl FieldSpec {
    /// ISO notation of the attribute, e.g. `n..19`, `an12`, `b...255`.
    pub fn notation(&self) -> String {
        let dots = match self.length {
            LengthKind::Fixed => "",
            LengthKind::Llvar => "..",
            LengthKind::Lllvar => "...",
        };
        format!("{}{}{}", self.field_type.as_str(), dots, self.max)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    spec: SpecHeader,
    field: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecHeader {
    name: String,
}

/// A spec table that is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The TOML does not parse or does not have the expected columns.
    #[error("spec file does not parse: {0}")]
    Toml(String),
    /// A field number outside 2..=128, or 65 (bitmap).
    #[error("field {0}: number must be 2..=128 and not 65 (65 is the tertiary bitmap)")]
    BadNumber(u8),
    /// The same field number twice.
    #[error("field {0} is defined twice")]
    Duplicate(u8),
    /// A row whose attributes contradict each other.
    #[error("field {number}: {reason}")]
    Inconsistent {
        /// The field number.
        number: u8,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A message spec: the table of data elements 2..=128 and nothing else.
///
/// The MTI (4 ASCII digits) and the bitmaps (8 raw bytes each) are fixed by this crate;
/// see `docs/iso8583.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    name: String,
    fields: BTreeMap<u8, FieldSpec>,
}

static LAMINA: LazyLock<Spec> = LazyLock::new(|| {
    Spec::from_toml(EMBEDDED_TOML).unwrap_or_else(|_| Spec {
        name: String::from("invalid embedded spec"),
        fields: BTreeMap::new(),
    })
});

impl Spec {
    /// The Lamina spec (`spec/lamina-1987.toml`), parsed once.
    ///
    /// A unit test checks that the embedded file is valid; if it ever were not, this
    /// returns an empty spec (every field is then refused) instead of panicking.
    pub fn lamina() -> &'static Spec {
        &LAMINA
    }

    /// Parses and checks a spec table.
    pub fn from_toml(text: &str) -> Result<Spec, SpecError> {
        let file: SpecFile = toml::from_str(text).map_err(|e| SpecError::Toml(e.to_string()))?;
        let mut fields = BTreeMap::new();
        for row in file.field {
            check_row(&row)?;
            let number = row.number;
            if fields.insert(number, row).is_some() {
                return Err(SpecError::Duplicate(number));
            }
        }
        Ok(Spec {
            name: file.spec.name,
            fields,
        })
    }

    /// The spec's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The row of field `number`, if the spec has one.
    pub fn field(&self, number: u8) -> Option<&FieldSpec> {
        self.fields.get(&number)
    }

    /// The longest message this spec can produce: MTI, both bitmaps and every field at its
    /// maximum length with its prefix. A good [`crate::Deframer`] limit.
    pub fn max_message_len(&self) -> usize {
        4 + 2 * crate::codec::BITMAP_LEN
            + self
                .fields
                .values()
                .map(|r| r.length.prefix_digits() + r.max)
                .sum::<usize>()
    }

    /// All rows in field order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.values()
    }
}

fn check_row(row: &FieldSpec) -> Result<(), SpecError> {
    let number = row.number;
    if !(2..=128).contains(&number) || number == 65 {
        return Err(SpecError::BadNumber(number));
    }
    let bad = |reason| Err(SpecError::Inconsistent { number, reason });
    if (row.field_type == FieldType::B) != (row.encoding == Encoding::Binary) {
        return bad("type b must use encoding binary, and only b may");
    }
    if row.max == 0 {
        return bad("max must be at least 1");
    }
    match row.length {
        LengthKind::Fixed => {}
        LengthKind::Llvar if row.max > 99 => return bad("llvar max must be <= 99"),
        LengthKind::Lllvar if row.max > 999 => return bad("lllvar max must be <= 999"),
        LengthKind::Llvar | LengthKind::Lllvar => {
            if row.padding != Padding::None {
                return bad("variable-length fields take padding none");
            }
        }
    }
    match (row.padding, row.field_type) {
        (Padding::None, _) | (Padding::LeftZero, FieldType::N) => {}
        (Padding::RightSpace, FieldType::An | FieldType::Ans) => {}
        _ => return bad("padding left_zero is for n, right_space for an/ans"),
    }
    if row.mask == Mask::Icc && row.field_type != FieldType::B {
        return bad("mask icc needs type b (BER-TLV)");
    }
    Ok(())
}

impl fmt::Display for FieldSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DE {} {} ({})", self.number, self.notation(), self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_spec_is_valid() {
        let spec = Spec::from_toml(EMBEDDED_TOML).unwrap();
        assert_eq!(spec, *Spec::lamina());
        for n in [
            2, 3, 4, 7, 11, 12, 13, 14, 18, 19, 22, 23, 25, 32, 35, 37, 38, 39, 41, 42, 43, 49, 52,
            53, 54, 55, 60, 61, 62, 63, 64, 70, 90, 95, 128,
        ] {
            assert!(spec.field(n).is_some(), "field {n} missing");
        }
        assert_eq!(spec.field(2).unwrap().notation(), "n..19");
        assert_eq!(spec.field(55).unwrap().notation(), "b...255");
        assert_eq!(spec.field(53).unwrap().notation(), "b..12");
        // docs/iso8583.md section 8 quotes this figure.
        assert_eq!(spec.max_message_len(), 4756);
    }

    fn row(extra: &str) -> String {
        format!("[spec]\nname = \"t\"\n[[field]]\n{extra}\n")
    }

    #[test]
    fn refuses_inconsistent_rows() {
        let base = |number: u8,
                    ty: &str,
                    len: &str,
                    max: usize,
                    enc: &str,
                    pad: &str,
                    mask: &str| {
            row(&format!(
                "number = {number}\nname = \"x\"\ntype = \"{ty}\"\nlength = \"{len}\"\nmax = {max}\nencoding = \"{enc}\"\npadding = \"{pad}\"\nmask = \"{mask}\""
            ))
        };
        assert!(Spec::from_toml(&base(3, "n", "fixed", 6, "ascii", "left_zero", "none")).is_ok());
        assert_eq!(
            Spec::from_toml(&base(65, "b", "fixed", 8, "binary", "none", "none")),
            Err(SpecError::BadNumber(65))
        );
        assert_eq!(
            Spec::from_toml(&base(1, "b", "fixed", 8, "binary", "none", "none")),
            Err(SpecError::BadNumber(1))
        );
        for bad in [
            base(3, "n", "fixed", 6, "binary", "none", "none"),
            base(3, "b", "fixed", 6, "ascii", "none", "none"),
            base(3, "n", "llvar", 100, "ascii", "none", "none"),
            base(3, "n", "lllvar", 1000, "ascii", "none", "none"),
            base(3, "n", "llvar", 10, "ascii", "left_zero", "none"),
            base(3, "an", "fixed", 6, "ascii", "left_zero", "none"),
            base(3, "n", "fixed", 0, "ascii", "none", "none"),
            base(3, "n", "fixed", 6, "ascii", "none", "icc"),
        ] {
            assert!(
                matches!(
                    Spec::from_toml(&bad),
                    Err(SpecError::Inconsistent { number: 3, .. })
                ),
                "{bad}"
            );
        }
        let twice = format!(
            "{}[[field]]\nnumber = 3\nname = \"y\"\ntype = \"n\"\nlength = \"fixed\"\nmax = 6\nencoding = \"ascii\"\npadding = \"none\"\nmask = \"none\"\n",
            base(3, "n", "fixed", 6, "ascii", "none", "none")
        );
        assert_eq!(Spec::from_toml(&twice), Err(SpecError::Duplicate(3)));
        assert!(matches!(
            Spec::from_toml("[spec]\nname = 1\n"),
            Err(SpecError::Toml(_))
        ));
    }
}
