//! TLV decoder: never panics; whatever decodes re-encodes and decodes again to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lamina_tlv::{Tlv, parse};

fuzz_target!(|data: &[u8]| {
    for obj in parse(data).flatten() {
        let _ = obj.children().count();
    }
    if let Ok(tree) = Tlv::parse_all(data) {
        let enc = Tlv::encode_all(&tree);
        let again = Tlv::parse_all(&enc).expect("re-encoded tree must decode");
        assert_eq!(again, tree);
    }
});
