//! The link's framing: every ISO 8583 message is preceded by its length in two
//! bytes, big-endian (docs/iso8583.md §2). A frame longer than the limit closes
//! the connection: the stream cannot be resynchronised.

use tokio_util::codec::LengthDelimitedCodec;

/// The 2-byte length-prefixed codec, refusing frames over `max_frame` bytes.
pub fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(2)
        .big_endian()
        .max_frame_length(max_frame)
        .new_codec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    #[test]
    fn two_byte_big_endian_length() {
        let mut c = codec(8192);
        let mut out = BytesMut::new();
        c.encode(Bytes::from_static(b"0800"), &mut out)
            .unwrap_or(());
        assert_eq!(&out[..], b"\x00\x040800");
        let frame = c.decode(&mut out).ok().flatten();
        assert_eq!(frame.as_deref(), Some(&b"0800"[..]));
    }

    #[test]
    fn oversized_frame_is_an_error() {
        let mut c = codec(4);
        let mut buf = BytesMut::from(&b"\x00\x05hello"[..]);
        assert!(c.decode(&mut buf).is_err());
    }
}
