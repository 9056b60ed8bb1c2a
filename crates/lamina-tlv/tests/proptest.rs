//! Property tests: decode never panics; encode∘decode is the identity on trees;
//! decode∘encode is the identity on canonical encodings.

use lamina_tlv::{Tag, Tlv, parse};
use proptest::prelude::*;

fn tag_strategy(constructed: bool) -> impl Strategy<Value = Tag> {
    let c = if constructed { 0x20u8 } else { 0 };
    prop_oneof![
        // one-byte tags: low 5 bits not all ones, first byte not 00/FF (padding)
        (0u8..4, 1u8..0x1F).prop_map(move |(class, n)| Tag::new(u32::from((class << 6) | c | n))),
        // two-byte tags
        (0u8..4, 0u8..0x80).prop_map(move |(class, n)| {
            Tag::new((u32::from((class << 6) | c | 0x1F) << 8) | u32::from(n))
        }),
        // three-byte tags
        (0u8..4, 0x81u8..=0xFF, 0u8..0x80).prop_map(move |(class, a, b)| {
            Tag::new(
                (u32::from((class << 6) | c | 0x1F) << 16) | (u32::from(a) << 8) | u32::from(b),
            )
        }),
    ]
    .prop_filter("FF is padding", |t| t.first_byte() != 0xFF)
}

fn tlv_strategy() -> impl Strategy<Value = Tlv> {
    let leaf = (
        tag_strategy(false),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, v)| Tlv::primitive(t, v));
    leaf.prop_recursive(4, 64, 6, |inner| {
        (tag_strategy(true), prop::collection::vec(inner, 0..6))
            .prop_map(|(t, c)| Tlv::constructed(t, c))
    })
}

proptest! {
    #[test]
    fn decode_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Tlv::parse_all(&data);
        for t in parse(&data).flatten() {
            prop_assert!(t.raw.len() >= t.value.len());
            let _ = t.children().count();
        }
    }

    #[test]
    fn encode_then_decode_is_identity(list in prop::collection::vec(tlv_strategy(), 0..4)) {
        let enc = Tlv::encode_all(&list);
        let back = Tlv::parse_all(&enc).unwrap();
        prop_assert_eq!(&back, &list);
        prop_assert_eq!(Tlv::encode_all(&back), enc);
    }

    #[test]
    fn padding_is_ignored(list in prop::collection::vec(tlv_strategy(), 1..3), pad in prop::collection::vec(prop_oneof![Just(0u8), Just(0xFFu8)], 0..5)) {
        let mut enc = pad.clone();
        for t in &list {
            t.encode_into(&mut enc);
            enc.extend_from_slice(&pad);
        }
        prop_assert_eq!(Tlv::parse_all(&enc).unwrap(), list);
    }

    #[test]
    fn errors_point_inside_input(data in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Err(e) = Tlv::parse_all(&data) {
            prop_assert!(e.offset <= data.len());
        }
    }
}
