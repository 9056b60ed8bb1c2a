//! Property tests: parsing never panics and encode∘parse is the identity.

use lamina_apdu::{Command, Response};
use proptest::prelude::*;

proptest! {
    #[test]
    fn parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(c) = Command::parse(&data) {
            let _ = format!("{c:?}");
            // whatever parsed re-encodes to the same bytes
            prop_assert_eq!(c.to_bytes().unwrap(), data.clone());
        }
        let _ = Response::parse(&data);
    }

    #[test]
    fn encode_parse_roundtrip(
        header in any::<[u8; 4]>(),
        data in prop::collection::vec(any::<u8>(), 0..400),
        le in prop::option::of(1usize..=65536),
        extended in any::<bool>(),
    ) {
        let mut c = Command::new(header[0], header[1], header[2], header[3]).with_data(data);
        c.le = le;
        c.extended = extended || c.data.len() > 255 || le.is_some_and(|l| l > 256);
        // a header-only command has no extended form
        if c.data.is_empty() && c.le.is_none() {
            c.extended = false;
        }
        let bytes = c.to_bytes().unwrap();
        prop_assert_eq!(Command::parse(&bytes).unwrap(), c);
    }
}
