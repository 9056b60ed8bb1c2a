//! Card state machine: random APDU streams with random power cuts never panic and
//! never break the NVM invariants (checked inside `run_stream`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut card = lamina_card::testing::demo_card(0);
    lamina_card::testing::run_stream(&mut card, data).expect("card invariants hold");
});
