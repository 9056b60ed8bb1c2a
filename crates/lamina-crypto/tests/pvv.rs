//! IBM 3624 offsets and Visa PVV against public test values (tests/vectors/pvv_*.txt).

mod common;

use lamina_crypto::pin::{Pan, Pin};
use lamina_crypto::pvv::{self, DecimalizationTable, Ibm3624};
use lamina_crypto::sym::SecretKey;
use proptest::prelude::*;

#[test]
fn ibm3624_known_answers() {
    for r in common::load("pvv_ibm3624.txt") {
        let name = r.name();
        let pvk = SecretKey::from_hex(r.get("pvk")).unwrap();
        let m = Ibm3624 {
            pvk: &pvk,
            table: DecimalizationTable::new(r.get("table")).unwrap(),
            validation_data: r.get("validation_data"),
            pad: r.get("pad").chars().next().unwrap(),
        };
        let pin = Pin::new(r.get("pin")).unwrap();
        let offset = r.get("offset");
        assert_eq!(m.offset(&pin).unwrap(), offset, "{name}: offset");
        assert!(
            m.pin_from_offset(offset).unwrap().ct_eq(&pin),
            "{name}: PIN from offset"
        );
        assert!(m.verify(&pin, offset).unwrap(), "{name}: verify");
        // A PIN differing in one digit fails.
        let mut wrong = pin.expose().to_string();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '9' {
            '0'
        } else {
            char::from(last as u8 + 1)
        });
        assert!(
            !m.verify(&Pin::new(&wrong).unwrap(), offset).unwrap(),
            "{name}: wrong PIN"
        );
        if offset == "0000" {
            assert!(m.natural_pin(4).unwrap().ct_eq(&pin), "{name}: natural PIN");
        }
    }
}

#[test]
fn visa_pvv_known_answers() {
    for r in common::load("pvv_visa.txt") {
        let name = r.name();
        let pvk = SecretKey::from_hex(r.get("pvk")).unwrap();
        let pan = Pan::new(r.get("pan")).unwrap();
        let pvki = u8::try_from(r.num("pvki")).unwrap();
        let pin = Pin::new(r.get("pin")).unwrap();
        let got = pvv::visa_pvv(&pvk, &pan, pvki, &pin).unwrap();
        assert_eq!(std::str::from_utf8(&got).unwrap(), r.get("pvv"), "{name}");
        assert!(
            pvv::visa_pvv_verify(&pvk, &pan, pvki, &pin, r.get("pvv")).unwrap(),
            "{name}: verify"
        );
        let other = Pin::new("9999").unwrap();
        let other_ok = pvv::visa_pvv_verify(&pvk, &pan, pvki, &other, r.get("pvv")).unwrap();
        assert!(
            !other_ok || r.get("pin") == "9999",
            "{name}: wrong PIN accepted"
        );
    }
}

#[test]
fn visa_pvv_uses_four_leftmost_pin_digits() {
    let pvk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let pan = Pan::new("1122334455667788").unwrap();
    let a = pvv::visa_pvv(&pvk, &pan, 1, &Pin::new("4524").unwrap()).unwrap();
    let b = pvv::visa_pvv(&pvk, &pan, 1, &Pin::new("452499").unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn invalid_inputs_are_errors() {
    let pvk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let pin = Pin::new("1234").unwrap();
    assert!(pvv::visa_pvv(&pvk, &Pan::new("12345678901").unwrap(), 1, &pin).is_err());
    assert!(pvv::visa_pvv(&pvk, &Pan::new("1122334455667788").unwrap(), 10, &pin).is_err());
    assert!(
        pvv::visa_pvv(
            &SecretKey::new(vec![0u8; 8]),
            &Pan::new("1122334455667788").unwrap(),
            1,
            &pin
        )
        .is_err()
    );
    assert!(
        pvv::visa_pvv_verify(
            &pvk,
            &Pan::new("1122334455667788").unwrap(),
            1,
            &pin,
            "12a4"
        )
        .is_err()
    );
    let bad = |vd: &'static str, pad: char| Ibm3624 {
        pvk: &pvk,
        table: DecimalizationTable::STANDARD,
        validation_data: vd,
        pad,
    };
    assert!(bad("", 'F').offset(&pin).is_err());
    assert!(bad("11223344556677889", 'F').offset(&pin).is_err());
    assert!(bad("11G2", 'F').offset(&pin).is_err());
    assert!(bad("1122", 'X').offset(&pin).is_err());
    assert!(bad("1122", 'F').pin_from_offset("12x4").is_err());
    assert!(bad("1122", 'F').pin_from_offset("123").is_err());
    assert!(!bad("1122", 'F').verify(&pin, "00000").unwrap());
}

proptest! {
    #[test]
    fn offset_round_trip(digits in "[0-9]{4,12}", vd in "[0-9A-F]{1,16}", key in proptest::collection::vec(any::<u8>(), 16)) {
        let pvk = SecretKey::new(key);
        let m = Ibm3624 { pvk: &pvk, table: DecimalizationTable::STANDARD, validation_data: &vd, pad: 'F' };
        let pin = Pin::new(&digits).unwrap();
        let off = m.offset(&pin).unwrap();
        prop_assert_eq!(off.len(), digits.len());
        prop_assert!(m.pin_from_offset(&off).unwrap().ct_eq(&pin));
        prop_assert!(m.verify(&pin, &off).unwrap());
    }
}
