//! ISO 8583 decoder: never panics; a decoded message re-encodes to the same bytes,
//! and every error still yields response code 30.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lamina_iso8583::Spec;

fuzz_target!(|data: &[u8]| {
    let spec = Spec::lamina();
    match spec.decode(data) {
        Ok(msg) => {
            let again = spec.encode(&msg).expect("decoded message encodes");
            assert_eq!(again, data);
        }
        Err(e) => assert_eq!(e.response_code(), lamina_iso8583::ResponseCode::FORMAT_ERROR),
    }
});
