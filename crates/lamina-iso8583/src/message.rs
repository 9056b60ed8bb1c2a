//! The message: an MTI and a map from data element number to value.
//!
//! A [`Message`] does not check values against a spec; [`Spec::encode`](crate::Spec::encode)
//! does. Its `Debug` and `Display` mask sensitive fields according to the Lamina spec
//! ([`Spec::lamina`]); use [`Spec::display`](crate::Spec::display) for another spec.

use std::collections::BTreeMap;
use std::fmt;

use lamina_tlv::Tlv;

use crate::mask::render_field;
use crate::mti::Mti;
use crate::response::ResponseCode;
use crate::spec::Spec;

/// The value of one data element.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    /// Characters of an `n`, `an`, `ans` or `z` field.
    Text(String),
    /// Bytes of a `b` field.
    Binary(Vec<u8>),
}

impl FieldValue {
    /// The text, if this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            FieldValue::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            FieldValue::Binary(b) => Some(b),
            FieldValue::Text(_) => None,
        }
    }

    /// Length in characters (text) or bytes (binary).
    pub fn len(&self) -> usize {
        match self {
            FieldValue::Text(s) => s.len(),
            FieldValue::Binary(b) => b.len(),
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Prints the kind and length only: a `FieldValue` does not know whether it is sensitive.
impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(s) => write!(f, "Text({} chars)", s.len()),
            FieldValue::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Text(s.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::Text(s)
    }
}

impl From<Vec<u8>> for FieldValue {
    fn from(b: Vec<u8>) -> Self {
        FieldValue::Binary(b)
    }
}

impl From<&[u8]> for FieldValue {
    fn from(b: &[u8]) -> Self {
        FieldValue::Binary(b.to_vec())
    }
}

impl<const N: usize> From<[u8; N]> for FieldValue {
    fn from(b: [u8; N]) -> Self {
        FieldValue::Binary(b.to_vec())
    }
}

/// Data element 55: ICC system related data (EMV BER-TLV).
pub const FIELD_ICC: u8 = 55;

/// An ISO 8583 message: MTI plus data elements 2..=128 keyed by number.
///
/// Fields 0 (MTI), 1 and 65 (bitmaps) are never stored: the encoder derives the bitmaps.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type indicator.
    pub mti: Mti,
    fields: BTreeMap<u8, FieldValue>,
}

impl Message {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            fields: BTreeMap::new(),
        }
    }

    /// Sets data element `number` (2..=128, not 65), replacing any previous value.
    /// Other numbers are kept and refused by the encoder with
    /// [`EncodeErrorKind::NotInSpec`](crate::EncodeErrorKind::NotInSpec).
    pub fn set(&mut self, number: u8, value: impl Into<FieldValue>) -> &mut Self {
        self.fields.insert(number, value.into());
        self
    }

    /// Builder form of [`Message::set`].
    #[must_use]
    pub fn with(mut self, number: u8, value: impl Into<FieldValue>) -> Self {
        self.set(number, value);
        self
    }

    /// Removes data element `number`, returning its value.
    pub fn remove(&mut self, number: u8) -> Option<FieldValue> {
        self.fields.remove(&number)
    }

    /// The value of data element `number`.
    pub fn get(&self, number: u8) -> Option<&FieldValue> {
        self.fields.get(&number)
    }

    /// The text of data element `number` (`None` if absent or binary).
    pub fn get_str(&self, number: u8) -> Option<&str> {
        self.get(number).and_then(FieldValue::as_str)
    }

    /// The bytes of data element `number` (`None` if absent or text).
    pub fn get_bytes(&self, number: u8) -> Option<&[u8]> {
        self.get(number).and_then(FieldValue::as_bytes)
    }

    /// Whether data element `number` is present.
    pub fn has(&self, number: u8) -> bool {
        self.fields.contains_key(&number)
    }

    /// Present data elements in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &FieldValue)> {
        self.fields.iter().map(|(n, v)| (*n, v))
    }

    /// Numbers of the present data elements, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.fields.keys().copied()
    }

    /// Field 39 as a [`ResponseCode`] (`None` if absent or not two letters/digits).
    pub fn response_code(&self) -> Option<ResponseCode> {
        self.get_str(39)
            .and_then(|s| ResponseCode::from_bytes(s.as_bytes()).ok())
    }

    /// Sets field 55 to the BER-TLV encoding of `objects` (EMV Book 3 Annex B; EMV Book 4
    /// §12 / scheme specs: ICC data in DE 55 as a plain list of TLV objects).
    pub fn set_icc_data(&mut self, objects: &[Tlv]) -> &mut Self {
        self.set(FIELD_ICC, Tlv::encode_all(objects))
    }

    /// Field 55 decoded as a list of BER-TLV objects: `None` if absent (or text),
    /// `Some(Err)` if the bytes are not valid BER-TLV.
    pub fn icc_data(&self) -> Option<Result<Vec<Tlv>, lamina_tlv::Error>> {
        self.get_bytes(FIELD_ICC).map(Tlv::parse_all)
    }

    /// A response skeleton for this request: response MTI and the echoed fields
    /// (ISO 8583:1987 §4.4: fields the originator expects back unchanged). `None` if this
    /// MTI has no response. The caller adds field 39 and any response data.
    pub fn response_skeleton(&self, echo: &[u8]) -> Option<Message> {
        let mut out = Message::new(self.mti.response()?);
        for n in echo {
            if let Some(v) = self.get(*n) {
                out.set(*n, v.clone());
            }
        }
        Some(out)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = Spec::lamina();
        let mut map = f.debug_map();
        map.entry(&"mti", &format_args!("{}", self.mti));
        for (n, v) in &self.fields {
            map.entry(n, &format_args!("{}", render_field(spec.field(*n), v)));
        }
        map.finish()
    }
}

/// One line: `0200 2=541333******0010 3=000000 ...`, sensitive fields masked per the Lamina
/// spec.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Spec::lamina().display(self).fmt(f)
    }
}

/// A message printed with the masking rules of one spec ([`Spec::display`]).
#[derive(Debug)]
pub struct MaskedMessage<'a> {
    pub(crate) spec: &'a Spec,
    pub(crate) message: &'a Message,
}

impl fmt::Display for MaskedMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message.mti)?;
        for (n, v) in self.message.fields() {
            write!(f, " {n}={}", render_field(self.spec.field(n), v))?;
        }
        Ok(())
    }
}

impl Spec {
    /// Displays `message` with this spec's masking rules.
    pub fn display<'a>(&'a self, message: &'a Message) -> MaskedMessage<'a> {
        MaskedMessage {
            spec: self,
            message,
        }
    }
}
