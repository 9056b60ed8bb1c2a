//! The EMV data dictionary as data.
//!
//! Every data element of EMV 4.4 Book 3 Annex A ("Data Elements Dictionary") plus the common
//! contactless (Book A/B), kernel 2 (Book C-2) and kernel 3 (Book C-3) tags, read from
//! `data/emv_tags.toml`, which is embedded in the crate at build time.
//!
//! The table is parsed once, lazily. Parsing cannot fail at run time for a released build (a
//! test checks the embedded file), but if it ever did, [`all`] returns an empty table rather
//! than panicking.
//!
//! [`render_value`] turns a value into a human string according to its format (Book 3 §4.3)
//! and masks every value that carries a PAN (first 6 and last 4 digits visible).

use std::fmt::Write as _;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize, Serializer};

use crate::Format;

/// The embedded dictionary source.
pub const EMBEDDED_TOML: &str = include_str!("../data/emv_tags.toml");

/// Who provides a data element (Book 3 Annex A, column "Source").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The card (ICC).
    Icc,
    /// The terminal (or the kernel inside it).
    Terminal,
    /// The issuer (host), e.g. scripts and authentication data.
    Issuer,
    /// Issuer or terminal (Authorisation Response Code '8A').
    IssuerOrTerminal,
    /// Card or terminal (biometric templates).
    IccOrTerminal,
}

impl Source {
    /// Short lowercase name, as used in the data file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Icc => "icc",
            Source::Terminal => "terminal",
            Source::Issuer => "issuer",
            Source::IssuerOrTerminal => "issuer_or_terminal",
            Source::IccOrTerminal => "icc_or_terminal",
        }
    }
}

/// Which specification defines a data element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// EMV Book 3 Annex A (contact and common data elements).
    Book3,
    /// EMV Contactless Book A/B (Entry Point).
    BookB,
    /// EMV Contactless Book C-2 (kernel 2); proprietary to that kernel.
    C2,
    /// EMV Contactless Book C-3 (kernel 3); proprietary to that kernel.
    C3,
    /// A payment scheme's own specification; proprietary.
    Scheme,
}

impl Origin {
    /// Whether the element is kernel- or scheme-proprietary (the same tag may mean something
    /// else in another kernel).
    pub const fn is_proprietary(self) -> bool {
        matches!(self, Origin::C2 | Origin::C3 | Origin::Scheme)
    }
}

/// One data element of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    /// Tag number, e.g. `0x9F02`.
    #[serde(serialize_with = "ser_tag")]
    pub tag: u32,
    /// Name as in the defining book (Book 3 en dashes written as ASCII hyphens).
    pub name: String,
    /// Value format (Book 3 §4.3).
    pub format: Format,
    /// Minimum value length in bytes.
    pub min_len: usize,
    /// Maximum value length in bytes.
    pub max_len: usize,
    /// Who provides the value.
    pub source: Source,
    /// Templates the element appears in (may be empty).
    #[serde(serialize_with = "ser_tags")]
    pub templates: Vec<u32>,
    /// Defining specification.
    pub origin: Origin,
    /// Short description.
    pub description: String,
}

impl TagInfo {
    /// Whether the tag denotes a constructed data object (bit 6 of the first tag byte,
    /// ISO/IEC 8825-1 / Book 3 Annex B).
    pub fn constructed(&self) -> bool {
        tag_is_constructed(self.tag)
    }

    /// The tag as upper-case hex ("9F02").
    pub fn tag_hex(&self) -> String {
        tag_hex(self.tag)
    }

    /// Whether `len` is within the dictionary's length bounds.
    pub fn length_ok(&self, len: usize) -> bool {
        (self.min_len..=self.max_len).contains(&len)
    }
}

fn ser_tag<S: Serializer>(tag: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&tag_hex(*tag))
}

fn ser_tags<S: Serializer>(tags: &[u32], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(tags.iter().map(|t| tag_hex(*t)))
}

/// Upper-case hex of a tag number without leading zero bytes ("5A", "9F02", "DF8115").
pub fn tag_hex(tag: u32) -> String {
    let bytes = tag.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    let mut s = String::new();
    for b in bytes.iter().skip(first) {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Whether a tag number denotes a constructed object: bit 6 (0x20) of its first byte.
pub fn tag_is_constructed(tag: u32) -> bool {
    let bytes = tag.to_be_bytes();
    let first = bytes.iter().copied().find(|b| *b != 0).unwrap_or(0);
    first & 0x20 != 0
}

/// Errors from parsing a dictionary file.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    /// The file is not valid TOML or does not match the schema.
    #[error("dictionary is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    /// A tag is not 1 to 4 bytes of hex.
    #[error("invalid tag {0:?}")]
    BadTag(String),
    /// Unknown format notation.
    #[error("tag {tag}: unknown format {format:?}")]
    BadFormat {
        /// Tag as written.
        tag: String,
        /// Format as written.
        format: String,
    },
    /// min_len > max_len.
    #[error("tag {0}: min_len > max_len")]
    BadLength(String),
    /// The same tag appears twice.
    #[error("tag {0} appears twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tag: Vec<RawTag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    tag: String,
    name: String,
    format: String,
    min_len: usize,
    max_len: usize,
    source: Source,
    templates: Vec<String>,
    origin: Origin,
    description: String,
}

fn parse_tag(s: &str) -> Result<u32, DictError> {
    let bad = || DictError::BadTag(s.to_owned());
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 8 {
        return Err(bad());
    }
    u32::from_str_radix(s, 16).map_err(|_| bad())
}

/// Parses a dictionary in the `data/emv_tags.toml` schema. Entries are returned sorted by tag.
pub fn parse_dictionary(text: &str) -> Result<Vec<TagInfo>, DictError> {
    let raw: RawFile = toml::from_str(text)?;
    let mut out = Vec::with_capacity(raw.tag.len());
    for r in raw.tag {
        let tag = parse_tag(&r.tag)?;
        let format = Format::parse(&r.format).ok_or_else(|| DictError::BadFormat {
            tag: r.tag.clone(),
            format: r.format.clone(),
        })?;
        if r.min_len > r.max_len {
            return Err(DictError::BadLength(r.tag));
        }
        let templates = r
            .templates
            .iter()
            .map(|t| parse_tag(t))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(TagInfo {
            tag,
            name: r.name,
            format,
            min_len: r.min_len,
            max_len: r.max_len,
            source: r.source,
            templates,
            origin: r.origin,
            description: r.description,
        });
    }
    out.sort_by_key(|t| t.tag);
    if let Some(w) = out
        .windows(2)
        .find(|w| matches!(w, [a, b] if a.tag == b.tag))
    {
        let t = w.first().map(|t| t.tag).unwrap_or_default();
        return Err(DictError::Duplicate(tag_hex(t)));
    }
    Ok(out)
}

static TABLE: LazyLock<Vec<TagInfo>> =
    LazyLock::new(|| parse_dictionary(EMBEDDED_TOML).unwrap_or_default());

/// Every data element in the embedded dictionary, sorted by tag.
///
/// Empty if the embedded file failed to parse (a test guarantees it does not).
pub fn all() -> &'static [TagInfo] {
    TABLE.as_slice()
}

/// Looks up a tag (e.g. `0x9F02`).
pub fn lookup(tag: u32) -> Option<&'static TagInfo> {
    let table = all();
    table
        .binary_search_by_key(&tag, |t| t.tag)
        .ok()
        .and_then(|i| table.get(i))
}

/// The format of a tag's value.
pub fn format_of(tag: u32) -> Option<Format> {
    lookup(tag).map(|t| t.format)
}

/// The name of a tag.
pub fn name_of(tag: u32) -> Option<&'static str> {
    lookup(tag).map(|t| t.name.as_str())
}

/// Tags whose value carries a full PAN: Application PAN '5A', Track 2 Equivalent Data '57',
/// Track 1 Data '56' and Track 2 Data '9F6B' (Book C-2).
pub const PAN_TAGS: [u32; 4] = [0x5A, 0x57, 0x56, 0x9F6B];

/// Tags whose value must never be shown in clear: the PAN-bearing tags, Transaction PIN Data
/// '99', and the track discretionary data (may contain card verification values).
pub fn is_sensitive(tag: u32) -> bool {
    PAN_TAGS.contains(&tag) || matches!(tag, 0x99 | 0x9F1F | 0x9F20 | 0xDF812A | 0xDF812B)
}

/// ISO 4217 numeric → alphabetic currency codes for common currencies.
pub const CURRENCIES: &[(u16, &str)] = &[
    (36, "AUD"),
    (124, "CAD"),
    (156, "CNY"),
    (203, "CZK"),
    (208, "DKK"),
    (344, "HKD"),
    (348, "HUF"),
    (356, "INR"),
    (392, "JPY"),
    (410, "KRW"),
    (484, "MXN"),
    (554, "NZD"),
    (578, "NOK"),
    (643, "RUB"),
    (682, "SAR"),
    (702, "SGD"),
    (710, "ZAR"),
    (752, "SEK"),
    (756, "CHF"),
    (784, "AED"),
    (826, "GBP"),
    (840, "USD"),
    (946, "RON"),
    (949, "TRY"),
    (978, "EUR"),
    (985, "PLN"),
    (986, "BRL"),
];

/// ISO 3166-1 numeric → alpha-2 country codes for common countries.
pub const COUNTRIES: &[(u16, &str)] = &[
    (36, "AU"),
    (40, "AT"),
    (56, "BE"),
    (76, "BR"),
    (124, "CA"),
    (156, "CN"),
    (203, "CZ"),
    (208, "DK"),
    (246, "FI"),
    (250, "FR"),
    (276, "DE"),
    (300, "GR"),
    (344, "HK"),
    (348, "HU"),
    (356, "IN"),
    (372, "IE"),
    (380, "IT"),
    (392, "JP"),
    (410, "KR"),
    (442, "LU"),
    (484, "MX"),
    (528, "NL"),
    (554, "NZ"),
    (578, "NO"),
    (616, "PL"),
    (620, "PT"),
    (642, "RO"),
    (702, "SG"),
    (710, "ZA"),
    (724, "ES"),
    (752, "SE"),
    (756, "CH"),
    (784, "AE"),
    (792, "TR"),
    (826, "GB"),
    (840, "US"),
];

/// The alphabetic code of an ISO 4217 numeric currency code, if in [`CURRENCIES`].
pub fn currency_alpha(numeric: u16) -> Option<&'static str> {
    CURRENCIES
        .iter()
        .find(|(n, _)| *n == numeric)
        .map(|(_, a)| *a)
}

/// The alpha-2 code of an ISO 3166-1 numeric country code, if in [`COUNTRIES`].
pub fn country_alpha(numeric: u16) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(n, _)| *n == numeric)
        .map(|(_, a)| *a)
}

const CURRENCY_TAGS: [u32; 3] = [0x5F2A, 0x9F42, 0x9F3C];
const COUNTRY_TAGS: [u32; 2] = [0x5F28, 0x9F1A];
const DATE_TAGS: [u32; 3] = [0x5F24, 0x5F25, 0x9A];
/// Binary amounts (Book 3: b, 4 bytes).
const BINARY_AMOUNT_TAGS: [u32; 4] = [0x81, 0x9F04, 0x9F1B, 0x9F3A];

/// All nibbles of `value`, high nibble first.
fn nibbles(value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    value.iter().flat_map(|b| [b >> 4, b & 0x0F])
}

/// Decodes format `n` (BCD, every nibble 0-9).
fn decode_n(value: &[u8]) -> Option<String> {
    nibbles(value)
        .map(|n| char::from_digit(u32::from(n), 10))
        .collect()
}

/// Decodes format `cn` (BCD, left-justified, padded on the right with F). Digits after the
/// first F are not allowed except more F.
fn decode_cn(value: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut padding = false;
    for n in nibbles(value) {
        match (n, padding) {
            (0xF, _) => padding = true,
            (0..=9, false) => out.push(char::from(b'0' + n)),
            _ => return None,
        }
    }
    Some(out)
}

/// Decodes a/an/ans text: printable ASCII only (Book 3 §4.3; Annex B common character set).
fn decode_text(value: &[u8], format: Format) -> Option<String> {
    let ok = |b: u8| match format {
        Format::A => b.is_ascii_alphabetic(),
        Format::An => b.is_ascii_alphanumeric() || b == b' ',
        _ => (0x20..=0x7E).contains(&b),
    };
    if value.iter().all(|b| ok(*b)) {
        Some(value.iter().map(|b| char::from(*b)).collect())
    } else {
        None
    }
}

/// Masks a PAN: first 6 and last 4 digits visible, others replaced by `*`. PANs of 10
/// digits or fewer are fully masked.
pub fn mask_pan(pan: &str) -> String {
    let len = pan.chars().count();
    if len <= 10 {
        return "*".repeat(len);
    }
    pan.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= len - 4 { c } else { '*' })
        .collect()
}

/// Tags whose values carry the PAN: PAN `5A`, track 2 equivalent data `57`,
/// track 2 `9F6B`, track 1 `56`, track 1 discretionary data `9F1F`.
pub const PAN_BEARING_TAGS: [u32; 5] = [0x5A, 0x57, 0x9F6B, 0x56, 0x9F1F];

/// The hex of `data` (BER-TLV, as a card answers) with every PAN-bearing value
/// masked: the PAN's middle digits become `*` (first 6 and last 4 kept), and
/// the rest of track data (after the separator `D`) and track 1 entirely.
/// Data that does not parse as TLV is returned as plain hex (it cannot be
/// searched for a PAN the same way; callers show it only on request).
pub fn mask_pan_hex(data: &[u8]) -> String {
    let mut out = hex::encode_upper(data);
    let Ok(list) = lamina_tlv::Tlv::parse_all(data) else {
        return out;
    };
    let mut stack: Vec<&lamina_tlv::Tlv> = list.iter().collect();
    while let Some(t) = stack.pop() {
        stack.extend(t.children());
        let Some(v) = t.value_bytes() else { continue };
        if v.is_empty()
            || !PAN_BEARING_TAGS
                .iter()
                .any(|&x| t.tag == lamina_tlv::Tag::from(x))
        {
            continue;
        }
        let clear = hex::encode_upper(v);
        let masked = if t.tag == lamina_tlv::Tag::from(0x5Au32) {
            mask_pan(clear.trim_end_matches('F'))
                + &"F".repeat(clear.len() - clear.trim_end_matches('F').len())
        } else if t.tag == lamina_tlv::Tag::from(0x57u32)
            || t.tag == lamina_tlv::Tag::from(0x9F6Bu32)
        {
            match clear.split_once('D') {
                Some((pan, rest)) => format!("{}D{}", mask_pan(pan), "*".repeat(rest.len())),
                None => "*".repeat(clear.len()),
            }
        } else {
            "*".repeat(clear.len())
        };
        out = out.replace(&clear, &masked);
    }
    out
}

/// Renders a YYMMDD date (n 6) as "YYYY-MM-DD"; YY 00-49 → 20YY, 50-99 → 19YY (Book 4 §6.7.3).
fn render_date(value: &[u8]) -> Option<String> {
    let digits = decode_n(value)?;
    if digits.len() != 6 {
        return None;
    }
    let num = |r: core::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<u32>().ok());
    let (yy, mm, dd) = (num(0..2)?, num(2..4)?, num(4..6)?);
    if !(1..=12).contains(&mm) || !(1..=31).contains(&dd) {
        return None;
    }
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    Some(format!("{year:04}-{mm:02}-{dd:02}"))
}

fn render_time(value: &[u8]) -> Option<String> {
    let digits = decode_n(value)?;
    if digits.len() != 6 {
        return None;
    }
    let num = |r: core::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<u32>().ok());
    let (hh, mi, ss) = (num(0..2)?, num(2..4)?, num(4..6)?);
    if hh > 23 || mi > 59 || ss > 59 {
        return None;
    }
    Some(format!("{hh:02}:{mi:02}:{ss:02}"))
}

/// Renders track 2 data (tag 57 / 9F6B): masked PAN, expiry and service code; the
/// discretionary data is never shown.
fn render_track2(value: &[u8]) -> String {
    let digits: String = nibbles(value)
        .map(|n| match n {
            0..=9 => char::from(b'0' + n),
            0xD => 'D',
            0xF => 'F',
            _ => '?',
        })
        .collect();
    let Some((pan, rest)) = digits.split_once('D') else {
        return format!("(track 2 data, {} bytes, malformed: hidden)", value.len());
    };
    if pan.is_empty() || !pan.chars().all(|c| c.is_ascii_digit()) {
        return format!("(track 2 data, {} bytes, malformed: hidden)", value.len());
    }
    let expiry = rest.get(0..4).unwrap_or("");
    let service = rest.get(4..7).unwrap_or("");
    format!(
        "PAN {} expiry {} service code {} (discretionary data hidden)",
        mask_pan(pan),
        expiry,
        service
    )
}

/// Renders track 1 data (tag 56, "B" PAN "^" name "^" YYMM service code discretionary).
fn render_track1(value: &[u8]) -> String {
    let text: Option<String> = decode_text(value, Format::Ans);
    let malformed = || format!("(track 1 data, {} bytes, malformed: hidden)", value.len());
    let Some(text) = text else {
        return malformed();
    };
    let mut parts = text.splitn(3, '^');
    let (Some(pan_part), Some(name), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return malformed();
    };
    let pan = pan_part.strip_prefix('B').unwrap_or(pan_part);
    if pan.is_empty() || !pan.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        return malformed();
    }
    let pan: String = pan.chars().filter(|c| *c != ' ').collect();
    let expiry = rest.get(0..4).unwrap_or("");
    let service = rest.get(4..7).unwrap_or("");
    format!(
        "PAN {} name {} expiry {} service code {} (discretionary data hidden)",
        mask_pan(&pan),
        name.trim_end(),
        expiry,
        service
    )
}

/// Renders a value as a human-readable string, or `None` if the tag is unknown, its format is
/// binary/proprietary, or the value does not match its format.
///
/// * `n` → digits ("000000001000"); dates '5F24', '5F25', '9A' → "2025-12-31"; time '9F21' →
///   "HH:MM:SS"; currency codes ('5F2A', '9F42', '9F3C') → "978 (EUR)"; country codes
///   ('5F28', '9F1A') → "250 (FR)".
/// * `cn` → digits without the trailing F padding.
/// * `a`/`an`/`ans` → the text, only if every byte is printable.
/// * Binary amounts ('81', '9F04', '9F1B', '9F3A') → decimal.
/// * PAN-bearing tags ([`PAN_TAGS`]) are always masked (541333******0010) and always return
///   `Some`, even when malformed, so that callers never fall back to a hex dump of a PAN; other
///   [`is_sensitive`] tags return a "hidden" placeholder.
pub fn render_value(tag: u32, value: &[u8]) -> Option<String> {
    match tag {
        0x5A => {
            return Some(match decode_cn(value) {
                Some(pan) if !pan.is_empty() => mask_pan(&pan),
                _ => format!("(PAN, {} bytes, malformed: hidden)", value.len()),
            });
        }
        0x57 | 0x9F6B => return Some(render_track2(value)),
        0x56 => return Some(render_track1(value)),
        t if is_sensitive(t) => return Some(format!("(hidden, {} bytes)", value.len())),
        _ => {}
    }
    let info = lookup(tag)?;
    if DATE_TAGS.contains(&tag) {
        return render_date(value);
    }
    if tag == 0x9F21 {
        return render_time(value);
    }
    if BINARY_AMOUNT_TAGS.contains(&tag) {
        let bytes: [u8; 4] = value.try_into().ok()?;
        return Some(u32::from_be_bytes(bytes).to_string());
    }
    if CURRENCY_TAGS.contains(&tag) || COUNTRY_TAGS.contains(&tag) {
        let digits = decode_n(value)?;
        let code: u16 = digits.parse().ok()?;
        let alpha = if CURRENCY_TAGS.contains(&tag) {
            currency_alpha(code)
        } else {
            country_alpha(code)
        };
        // n 3 in two bytes: drop the one leading pad zero only.
        let shown = match digits.strip_prefix('0') {
            Some(rest) if digits.len() == 4 => rest,
            _ => digits.as_str(),
        };
        return Some(match alpha {
            Some(a) => format!("{shown} ({a})"),
            None => shown.to_owned(),
        });
    }
    match info.format {
        Format::N => decode_n(value),
        Format::Cn => decode_cn(value),
        Format::A | Format::An | Format::Ans => decode_text(value, info.format),
        Format::B | Format::Var => None,
    }
}

#[cfg(test)]
mod mask_tests {
    use super::*;

    #[test]
    fn pan_and_track_data_are_masked_in_raw_hex() {
        // 70 { 5A 5413330089600010, 57 5413330089600010D2912201 }
        let raw = hex::decode(
            "701D5A0854133300896000105711\
             5413330089600010D2912201000000000F",
        )
        .unwrap_or_default();
        let m = mask_pan_hex(&raw);
        assert!(!m.contains("5413330089600010"), "{m}");
        assert!(m.contains("541333******0010"), "{m}");
        assert!(m.contains("541333******0010D*"), "{m}");
        // Not TLV: plain hex.
        assert_eq!(mask_pan_hex(&[0x01, 0x02]), "0102");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_parses() {
        let t = parse_dictionary(EMBEDDED_TOML).unwrap();
        assert!(t.len() > 200);
        assert_eq!(all().len(), t.len());
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(parse_dictionary("nonsense").is_err());
        let one = r#"[[tag]]
tag = "9F02"
name = "x"
format = "zz"
min_len = 1
max_len = 1
source = "icc"
templates = []
origin = "book3"
description = ""
"#;
        assert!(matches!(
            parse_dictionary(one),
            Err(DictError::BadFormat { .. })
        ));
        let ok = one.replace("\"zz\"", "\"b\"");
        assert_eq!(parse_dictionary(&ok).unwrap().len(), 1);
        let dup = format!("{ok}\n{ok}");
        assert!(matches!(
            parse_dictionary(&dup),
            Err(DictError::Duplicate(_))
        ));
        let badtag = ok.replace("\"9F02\"", "\"9F0\"");
        assert!(matches!(
            parse_dictionary(&badtag),
            Err(DictError::BadTag(_))
        ));
        let badlen = ok.replace("min_len = 1", "min_len = 2");
        assert!(matches!(
            parse_dictionary(&badlen),
            Err(DictError::BadLength(_))
        ));
    }

    #[test]
    fn hex_and_constructed() {
        assert_eq!(tag_hex(0x5A), "5A");
        assert_eq!(tag_hex(0x9F02), "9F02");
        assert_eq!(tag_hex(0xDF8115), "DF8115");
        assert!(tag_is_constructed(0x6F));
        assert!(tag_is_constructed(0xBF0C));
        assert!(!tag_is_constructed(0x9F02));
        assert!(!tag_is_constructed(0xDF8115));
        assert!(tag_is_constructed(0xFF8101));
    }

    #[test]
    fn cn_rejects_digit_after_padding() {
        assert_eq!(decode_cn(&[0x12, 0x3F]).as_deref(), Some("123"));
        assert_eq!(decode_cn(&[0x1F, 0x30]), None);
        assert_eq!(decode_cn(&[0x1A]), None);
    }

    #[test]
    fn mask_short_pans_fully() {
        assert_eq!(mask_pan("1234567890"), "**********");
        assert_eq!(mask_pan("12345678901"), "123456*8901");
    }
}
