//! APDU decoders: never panic; a parsed command re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lamina_apdu::{Command, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Command::parse(data) {
        assert_eq!(c.to_bytes().expect("parsed command encodes"), data);
    }
    if let Ok(r) = Response::parse(data) {
        let _ = r.sw.meaning();
        assert_eq!(r.to_bytes(), data);
    }
});
