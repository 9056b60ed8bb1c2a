//! The generic engine: encodes and decodes any message under any [`Spec`] table.
//!
//! Wire layout (ISO 8583:1987 §4.2–4.4, Lamina choices in `docs/iso8583.md`):
//! MTI as 4 ASCII digits, primary bitmap as 8 raw bytes, secondary bitmap (8 raw bytes) iff
//! bit 1 is set, then the present data elements in ascending order, each as an optional
//! ASCII decimal length prefix (2 or 3 digits) followed by its content (ASCII characters or
//! raw bytes).

use std::collections::BTreeMap;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, Location, Partial};
use crate::message::{FieldValue, Message};
use crate::mti::Mti;
use crate::spec::{Encoding, FieldSpec, LengthKind, Padding, Spec};

/// Length of one bitmap in bytes.
pub const BITMAP_LEN: usize = 8;

/// Data element 64: MAC when the message has no secondary bitmap.
pub const FIELD_MAC_PRIMARY: u8 = 64;
/// Data element 128: MAC when the message has a secondary bitmap.
pub const FIELD_MAC_SECONDARY: u8 = 128;

/// Whether bit `number` (1..=64 within this bitmap) is set.
fn bit_is_set(bitmap: &[u8], number: usize) -> bool {
    let idx = number - 1;
    bitmap
        .get(idx / 8)
        .is_some_and(|byte| byte & (0x80 >> (idx % 8)) != 0)
}

fn set_bit(bitmap: &mut [u8; BITMAP_LEN], number: usize) {
    let idx = number - 1;
    if let Some(byte) = bitmap.get_mut(idx / 8) {
        *byte |= 0x80 >> (idx % 8);
    }
}

/// A problem in one element: framing errors stop decoding, content errors (the element's
/// extent is known) let the decoder go on collecting fields for [`Partial`].
struct FieldProblem {
    error: DecodeError,
    framing: bool,
}

impl Spec {
    /// Encodes `message` (ISO 8583:1987 §4): MTI, bitmap(s), fields in ascending order.
    /// Short fixed values are padded as the spec row says; nothing else is altered.
    pub fn encode(&self, message: &Message) -> Result<Vec<u8>, EncodeError> {
        let version = message.mti.version();
        if version != 0 {
            return Err(EncodeError {
                field: 0,
                kind: EncodeErrorKind::UnsupportedVersion { version },
            });
        }
        let mut rows = Vec::new();
        let mut primary = [0u8; BITMAP_LEN];
        let mut secondary = [0u8; BITMAP_LEN];
        for (number, value) in message.fields() {
            let row = self.field(number).ok_or(EncodeError {
                field: number,
                kind: EncodeErrorKind::NotInSpec,
            })?;
            let n = usize::from(number);
            if n > 64 {
                set_bit(&mut secondary, n - 64);
            } else {
                set_bit(&mut primary, n);
            }
            rows.push((row, value));
        }
        let has_secondary = secondary.iter().any(|b| *b != 0);
        if has_secondary {
            set_bit(&mut primary, 1);
        }
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(message.mti.as_bytes());
        out.extend_from_slice(&primary);
        if has_secondary {
            out.extend_from_slice(&secondary);
        }
        for (row, value) in rows {
            encode_field(row, value, &mut out).map_err(|kind| EncodeError {
                field: row.number,
                kind,
            })?;
        }
        Ok(out)
    }

    /// Decodes one message (without the TCP length prefix; see [`crate::Deframer`]).
    ///
    /// Strict: every bitmap bit must name a spec field, lengths must be within the spec,
    /// characters within the field type's set, a secondary bitmap must not be empty and no
    /// byte may follow the last field. Hence a message that decodes re-encodes to the same
    /// bytes. Never panics.
    pub fn decode(&self, data: &[u8]) -> Result<Message, DecodeError> {
        let mut first_error: Option<DecodeError> = None;
        let mut fields: BTreeMap<u8, FieldValue> = BTreeMap::new();

        // MTI.
        let mti = decode_mti(data)?;
        let mut pos = 4;

        // Bitmaps.
        let primary = take(data, pos, BITMAP_LEN).ok_or_else(|| {
            truncated(Location::PrimaryBitmap, data, pos, BITMAP_LEN, false)
                .with_partial(Partial::new(Some(mti), BTreeMap::new()))
        })?;
        pos += BITMAP_LEN;
        let secondary = if bit_is_set(primary, 1) {
            let bitmap = take(data, pos, BITMAP_LEN).ok_or_else(|| {
                truncated(Location::SecondaryBitmap, data, pos, BITMAP_LEN, false)
                    .with_partial(Partial::new(Some(mti), BTreeMap::new()))
            })?;
            if bitmap.iter().all(|b| *b == 0) {
                return Err(DecodeError::new(
                    Location::SecondaryBitmap,
                    pos,
                    DecodeErrorKind::EmptySecondaryBitmap,
                    bitmap,
                    pos,
                    false,
                )
                .with_partial(Partial::new(Some(mti), BTreeMap::new())));
            }
            pos += BITMAP_LEN;
            Some(bitmap)
        } else {
            None
        };
        let bitmaps_start = 4;
        let bitmaps = data.get(bitmaps_start..pos).unwrap_or_default();

        // Fields.
        for number in 2u8..=128 {
            let n = usize::from(number);
            let present = if n <= 64 {
                bit_is_set(primary, n)
            } else {
                secondary.is_some_and(|s| bit_is_set(s, n - 64))
            };
            if !present {
                continue;
            }
            let Some(row) = self.field(number) else {
                let bit_offset = if n <= 64 {
                    bitmaps_start + (n - 1) / 8
                } else {
                    bitmaps_start + BITMAP_LEN + (n - 65) / 8
                };
                let error = DecodeError::new(
                    Location::Field(number),
                    bit_offset,
                    DecodeErrorKind::NotInSpec,
                    bitmaps,
                    bitmaps_start,
                    false,
                );
                first_error.get_or_insert(error);
                break;
            };
            match decode_field(row, data, pos) {
                Ok((value, next)) => {
                    fields.insert(number, value);
                    pos = next;
                }
                Err((problem, next)) => {
                    first_error.get_or_insert(problem.error);
                    match next {
                        Some(next) if !problem.framing => pos = next,
                        _ => break,
                    }
                }
            }
        }

        if first_error.is_none() && pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            first_error = Some(DecodeError::new(
                Location::Trailing,
                pos,
                DecodeErrorKind::TrailingBytes { count: rest.len() },
                rest,
                pos,
                false,
            ));
        }

        match first_error {
            None => {
                let mut message = Message::new(mti);
                for (n, v) in fields {
                    message.set(n, v);
                }
                Ok(message)
            }
            Some(error) => {
                fields.retain(|n, _| self.field(*n).is_some_and(|r| !r.mask.is_sensitive()));
                Err(error.with_partial(Partial::new(Some(mti), fields)))
            }
        }
    }

    /// The bytes a MAC is computed over, and the MAC field: the message encoded with an
    /// 8-byte MAC field present (field 128 if any field 65-127 is present, else 64), minus
    /// that field's 8 bytes, i.e. everything from the MTI up to the MAC field
    /// (ISO 8583:1987 §4.4, DE 64/128; ISO 9807 / ANSI X9.19 MAC input). Any field 64 or 128
    /// already in `message` is ignored.
    pub fn mac_input(&self, message: &Message) -> Result<(u8, Vec<u8>), EncodeError> {
        let mut m = message.clone();
        m.remove(FIELD_MAC_PRIMARY);
        m.remove(FIELD_MAC_SECONDARY);
        let mac_field = if m.numbers().any(|n| n > 64) {
            FIELD_MAC_SECONDARY
        } else {
            FIELD_MAC_PRIMARY
        };
        m.set(mac_field, [0u8; 8]);
        let mut bytes = self.encode(&m)?;
        bytes.truncate(bytes.len().saturating_sub(8));
        Ok((mac_field, bytes))
    }
}

fn take(data: &[u8], pos: usize, len: usize) -> Option<&[u8]> {
    data.get(pos..pos.checked_add(len)?)
}

fn truncated(
    location: Location,
    data: &[u8],
    pos: usize,
    needed: usize,
    redacted: bool,
) -> DecodeError {
    let rest = data.get(pos..).unwrap_or_default();
    DecodeError::new(
        location,
        pos,
        DecodeErrorKind::Truncated {
            needed,
            available: rest.len(),
        },
        rest,
        pos,
        redacted,
    )
}

fn decode_mti(data: &[u8]) -> Result<Mti, DecodeError> {
    let Some(raw) = take(data, 0, 4) else {
        return Err(truncated(Location::Mti, data, 0, 4, false));
    };
    let mti = Mti::from_bytes(raw).map_err(|_| {
        DecodeError::new(Location::Mti, 0, DecodeErrorKind::InvalidMti, raw, 0, false)
    })?;
    let version = mti.version();
    if version != 0 {
        return Err(DecodeError::new(
            Location::Mti,
            0,
            DecodeErrorKind::UnsupportedVersion { version },
            raw,
            0,
            false,
        ));
    }
    Ok(mti)
}

/// Decodes the field at `start`. On error returns the problem and, for content errors,
/// the offset just after the field.
fn decode_field(
    row: &FieldSpec,
    data: &[u8],
    start: usize,
) -> Result<(FieldValue, usize), (FieldProblem, Option<usize>)> {
    let location = Location::Field(row.number);
    let redacted = row.mask.is_sensitive();
    let framing = |error| {
        (
            FieldProblem {
                error,
                framing: true,
            },
            None,
        )
    };

    // Length.
    let digits = row.length.prefix_digits();
    let (len, data_start) = if digits == 0 {
        (row.max, start)
    } else {
        let prefix = take(data, start, digits)
            .ok_or_else(|| framing(truncated(location, data, start, digits, redacted)))?;
        let Some(len) = parse_decimal(prefix) else {
            return Err(framing(DecodeError::new(
                location,
                start,
                DecodeErrorKind::BadLengthPrefix,
                prefix,
                start,
                redacted,
            )));
        };
        (len, start + digits)
    };
    let end = data_start + len;
    let element = |until: usize| data.get(start..until.min(data.len())).unwrap_or_default();
    let available = data.get(data_start..end).is_some();
    let error = |offset, kind| {
        let error = DecodeError::new(location, offset, kind, element(end), start, redacted);
        if available {
            (
                FieldProblem {
                    error,
                    framing: false,
                },
                Some(end),
            )
        } else {
            (
                FieldProblem {
                    error,
                    framing: true,
                },
                None,
            )
        }
    };
    if len > row.max {
        return Err(error(
            start,
            DecodeErrorKind::TooLong {
                length: len,
                max: row.max,
            },
        ));
    }
    let Some(content) = data.get(data_start..end) else {
        let kind = DecodeErrorKind::Truncated {
            needed: len,
            available: data.len().saturating_sub(data_start),
        };
        return Err(framing(DecodeError::new(
            location,
            data_start,
            kind,
            element(end),
            start,
            redacted,
        )));
    };

    // Content.
    let value = match row.encoding {
        Encoding::Binary => FieldValue::Binary(content.to_vec()),
        Encoding::Ascii => {
            if let Some(position) = content.iter().position(|b| !row.field_type.accepts(*b)) {
                return Err(error(
                    data_start + position,
                    DecodeErrorKind::InvalidCharacter { position },
                ));
            }
            // Every accepted byte is ASCII, so each maps to one char.
            FieldValue::Text(content.iter().map(|b| char::from(*b)).collect())
        }
    };
    Ok((value, end))
}

fn parse_decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + usize::from(d - b'0'))
    })
}

fn encode_field(
    row: &FieldSpec,
    value: &FieldValue,
    out: &mut Vec<u8>,
) -> Result<(), EncodeErrorKind> {
    let bytes: Vec<u8> = match (row.encoding, value) {
        (Encoding::Binary, FieldValue::Binary(b)) => b.clone(),
        (Encoding::Ascii, FieldValue::Text(s)) => {
            if let Some(position) = s.bytes().position(|b| !row.field_type.accepts(b)) {
                return Err(EncodeErrorKind::InvalidCharacter { position });
            }
            s.as_bytes().to_vec()
        }
        (encoding, _) => {
            return Err(EncodeErrorKind::WrongValueKind {
                expected_binary: encoding == Encoding::Binary,
            });
        }
    };
    let len = bytes.len();
    if len > row.max {
        return Err(EncodeErrorKind::TooLong {
            length: len,
            max: row.max,
        });
    }
    match row.length {
        LengthKind::Fixed => {
            let fill = row.max - len;
            match row.padding {
                _ if fill == 0 => out.extend_from_slice(&bytes),
                Padding::LeftZero => {
                    out.extend(std::iter::repeat_n(b'0', fill));
                    out.extend_from_slice(&bytes);
                }
                Padding::RightSpace => {
                    out.extend_from_slice(&bytes);
                    out.extend(std::iter::repeat_n(b' ', fill));
                }
                Padding::None => {
                    return Err(EncodeErrorKind::WrongLength {
                        length: len,
                        expected: row.max,
                    });
                }
            }
        }
        LengthKind::Llvar | LengthKind::Lllvar => {
            let width = row.length.prefix_digits();
            out.extend_from_slice(format!("{len:0width$}").as_bytes());
            out.extend_from_slice(&bytes);
        }
    }
    Ok(())
}
