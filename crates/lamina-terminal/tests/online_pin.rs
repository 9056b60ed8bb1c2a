#![allow(clippy::unwrap_used, clippy::panic)]
//! The PIN pad's online PIN (Book 4 §6.3.4.2): ISO 9564-1 format 0 under TDES
//! DUKPT, checked against the published ANSI X9.24-1 Annex A.4 example
//! (`tests/vectors/online_pin_x9_24_1.txt`), and decrypted by the host double.

use lamina_crypto::pin::{self, Pan, Pin};
use lamina_terminal::online::OnlinePinEncryptor;
use lamina_terminal::testkit::DukptPinPad;

fn field<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key} = ")))
        .collect()
}

#[test]
fn dukpt_pin_pad_matches_x9_24_1_annex_a4() {
    let text = include_str!("vectors/online_pin_x9_24_1.txt");
    assert!(text.starts_with("# Source:"));
    let pin = Pin::new(field(text, "pin")[0]).unwrap();
    let pan = Pan::new(field(text, "pan")[0]).unwrap();
    let clear = pin::encode_iso0(&pin, &pan);
    assert_eq!(
        hex::encode_upper(clear.as_bytes()),
        field(text, "clear_pin_block")[0]
    );
    let block: [u8; 8] = clear.as_bytes().try_into().unwrap();
    let mut pad = DukptPinPad::test().unwrap();
    let ksns = field(text, "ksn");
    let blocks = field(text, "pin_block");
    assert_eq!(ksns.len(), 5);
    for (ksn, expected) in ksns.iter().zip(blocks) {
        let e = pad.encrypt(&block).unwrap();
        assert_eq!(hex::encode_upper(&e.ksn), *ksn);
        assert_eq!(hex::encode_upper(e.block), expected, "KSN {ksn}");
        // Debug never shows the block.
        assert!(!format!("{e:?}").contains(expected));
    }
}
