//! Property tests: decoders of external input never panic; codecs round-trip.

use lamina_perso::card::Dgi;
use lamina_perso::{image, storedata, util};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dgi_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Dgi::parse_all(&data);
    }

    #[test]
    fn dgi_round_trip(id in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..700)) {
        let d = Dgi { id, data };
        let mut enc = Vec::new();
        d.encode(&mut enc).unwrap();
        prop_assert_eq!(Dgi::parse_all(&enc).unwrap(), vec![d]);
    }

    #[test]
    fn image_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = image::decode(&data);
        let mut with_header = b"LAMINA-CARD-IMAGE 1 crc32=00000000 length=3\n".to_vec();
        with_header.extend_from_slice(&data);
        let _ = image::decode(&with_header);
    }

    #[test]
    fn store_data_handler_never_panics(
        cmds in proptest::collection::vec(
            (prop_oneof![Just(0x00u8), Just(0x80u8)],
             prop_oneof![Just(0xA4u8), Just(0xE2u8), Just(0xE6u8), any::<u8>()],
             any::<u8>(), any::<u8>(),
             proptest::collection::vec(any::<u8>(), 0..80)),
            0..12)
    ) {
        let mut h = storedata::StoreDataHandler::new();
        for (cla, ins, p1, p2, data) in cmds {
            let c = lamina_apdu::Command::new(cla, ins, p1, p2).with_data(data);
            let _ = h.process(&c);
        }
        let _ = h.finish();
    }

    #[test]
    fn script_text_parse_never_panics(text in "[0-9A-Fa-f# \n]{0,300}") {
        let _ = storedata::parse_script(&text);
    }

    #[test]
    fn profile_parse_never_panics(text in "\\PC{0,300}") {
        let _ = lamina_perso::profile::Profile::from_toml(&text);
    }

    #[test]
    fn luhn_detects_single_digit_errors(body in "[0-9]{12,18}", pos in any::<prop::sample::Index>(), delta in 1u8..10) {
        let check = util::luhn_check_digit(&body).unwrap();
        let pan = format!("{body}{check}");
        prop_assert!(util::luhn_valid(&pan));
        let mut bytes = pan.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = b'0' + (bytes[i] - b'0' + delta) % 10;
        prop_assert!(!util::luhn_valid(&String::from_utf8(bytes).unwrap()));
    }
}
