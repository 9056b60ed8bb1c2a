//! TDES DUKPT (X9.24-1:2009) and AES DUKPT (X9.24-3:2017) against published
//! test data (tests/vectors/dukpt_*.txt), plus originator/receiver agreement.

mod common;

use lamina_crypto::dukpt::{self, DukptError, aes, tdes};
use lamina_crypto::pin::{self, ClearPinBlock, Pan, Pin};
use lamina_crypto::sym::SecretKey;

fn key(r: &common::Record, field: &str) -> SecretKey {
    SecretKey::new(r.hex(field))
}

fn hx(k: &SecretKey) -> String {
    hex::encode_upper(k.as_bytes())
}

// ---------------------------------------------------------------------------
// TDES

#[test]
fn tdes_x9_24_1_annex_a() {
    let recs = common::load("dukpt_tdes_x9_24_1.txt");
    let head = &recs[0];
    let bdk = key(head, "bdk");
    let iksn = tdes::Ksn::from_hex(head.get("ksn")).unwrap();
    let ipek = tdes::derive_ipek(&bdk, &iksn).unwrap();
    assert_eq!(hx(&ipek), head.get("ipek"));
    let clear = ClearPinBlock::from_bytes(&head.hex("clear_pin_block")).unwrap();
    // The clear block is the format 0 block of PIN 1234 / PAN 4012345678909.
    let pan = Pan::new("4012345678909").unwrap();
    assert_eq!(pin::encode_iso0(&Pin::new("1234").unwrap(), &pan), clear);

    for r in &recs[1..] {
        let name = r.name();
        let ksn = tdes::Ksn::from_hex(r.get("ksn")).unwrap();
        assert!(ksn.is_valid_transaction(), "{name}");
        let cur = tdes::derive_current_key(&ipek, &ksn).unwrap();
        assert_eq!(hx(&cur), r.get("current_key"), "{name}: current key");
        // Any KSN of the device derives the same IPEK (counter is masked).
        assert_eq!(
            tdes::derive_current_key_from_bdk(&bdk, &ksn).unwrap(),
            cur,
            "{name}: from BDK"
        );
        let enc = tdes::encrypt_pin_block(&cur, &clear).unwrap();
        assert_eq!(
            hex::encode_upper(enc),
            r.get("pin_block"),
            "{name}: PIN block"
        );
        assert_eq!(
            tdes::decrypt_pin_block(&cur, &enc).unwrap(),
            clear,
            "{name}: decrypt"
        );
    }
}

#[test]
fn tdes_originator_follows_annex_a_sequence() {
    let recs = common::load("dukpt_tdes_x9_24_1.txt");
    let bdk = key(&recs[0], "bdk");
    let iksn = tdes::Ksn::from_hex(recs[0].get("ksn")).unwrap();
    let ipek = tdes::derive_ipek(&bdk, &iksn).unwrap();
    let mut orig = tdes::Originator::new(&ipek, &iksn).unwrap();
    for r in recs
        .iter()
        .skip(1)
        .filter(|r| r.name().starts_with("A.4.2"))
    {
        assert_eq!(orig.next_ksn().unwrap().to_string(), r.get("ksn"));
        let (ksn, cur) = orig.next_transaction().unwrap();
        assert_eq!(ksn.to_string(), r.get("ksn"));
        assert_eq!(hx(&cur), r.get("current_key"), "{}", r.name());
    }
}

#[test]
fn tdes_data_and_mac_variants_match_moov() {
    let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    for r in common::load("dukpt_tdes_data_mac.txt") {
        let name = r.name();
        let ksn = tdes::Ksn::from_hex(r.get("ksn")).unwrap();
        let cur = tdes::derive_current_key_from_bdk(&bdk, &ksn).unwrap();
        let mut data = r.get("data_ascii").as_bytes().to_vec();
        data.resize(data.len().div_ceil(8) * 8, 0);
        let iv = [0u8; 8];
        let req = tdes::encrypt_data(&cur, false, &iv, &data).unwrap();
        assert_eq!(
            hex::encode_upper(&req),
            r.get("data_request"),
            "{name}: data request"
        );
        assert_eq!(
            tdes::decrypt_data(&cur, false, &iv, &req).unwrap(),
            data,
            "{name}"
        );
        let resp = tdes::encrypt_data(&cur, true, &iv, &data).unwrap();
        assert_eq!(
            hex::encode_upper(&resp),
            r.get("data_response"),
            "{name}: data response"
        );
        let raw = r.get("data_ascii").as_bytes();
        assert_eq!(
            hex::encode_upper(tdes::mac(&cur, false, raw).unwrap()),
            r.get("mac_request"),
            "{name}: MAC request"
        );
        assert_eq!(
            hex::encode_upper(tdes::mac(&cur, true, raw).unwrap()),
            r.get("mac_response"),
            "{name}: MAC response"
        );
    }
}

#[test]
fn tdes_variant_masks() {
    let zero = SecretKey::new(vec![0u8; 16]);
    let cases = [
        (tdes::Variant::Pin, "00000000000000FF00000000000000FF"),
        (
            tdes::Variant::MacRequest,
            "000000000000FF00000000000000FF00",
        ),
        (
            tdes::Variant::MacResponse,
            "00000000FF00000000000000FF000000",
        ),
        (
            tdes::Variant::DataRequest,
            "0000000000FF00000000000000FF0000",
        ),
        (
            tdes::Variant::DataResponse,
            "000000FF00000000000000FF00000000",
        ),
    ];
    for (v, mask) in cases {
        assert_eq!(hx(&tdes::variant_key(&zero, v).unwrap()), mask, "{v:?}");
    }
}

#[test]
fn tdes_originator_matches_receiver_until_exhaustion() {
    let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let iksn = tdes::Ksn::from_hex("FFFF9876543210E00000").unwrap();
    let ipek = tdes::derive_ipek(&bdk, &iksn).unwrap();
    let mut orig = tdes::Originator::new(&ipek, &iksn).unwrap();
    let mut n: u64 = 0;
    let mut expected_counter = 0u32;
    loop {
        match orig.next_transaction() {
            Ok((ksn, cur)) => {
                n += 1;
                expected_counter = dukpt::next_counter(expected_counter, 21, 10).unwrap();
                assert_eq!(ksn.counter(), expected_counter);
                assert!(ksn.counter().count_ones() <= 10);
                // Receiver agreement on a sample (every 4099th key, and the last ones).
                if n % 4099 == 1 || ksn.counter() >= 0x1FF000 {
                    assert_eq!(
                        tdes::derive_current_key(&ipek, &ksn).unwrap(),
                        cur,
                        "KSN {ksn}"
                    );
                }
            }
            Err(DukptError::Exhausted) => break,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    // Counters of 21 bits with 1 to 10 one-bits: 2^20 - 1.
    assert_eq!(n, (1 << 20) - 1);
    assert_eq!(expected_counter, 0x1FF800);
    assert!(orig.next_ksn().is_none());
    assert_eq!(orig.next_transaction().unwrap_err(), DukptError::Exhausted);
}

#[test]
fn tdes_rejects_bad_input() {
    let ipek = SecretKey::from_hex("6AC292FAA1315B4D858AB3A3D7D5933A").unwrap();
    let base = tdes::Ksn::from_hex("FFFF9876543210E00000").unwrap();
    assert!(tdes::derive_current_key(&ipek, &base).is_err(), "counter 0");
    assert!(
        tdes::derive_current_key(&ipek, &base.with_counter(0x7FF)).is_err(),
        "11 one-bits"
    );
    assert!(tdes::Ksn::from_hex("FFFF9876543210E000").is_err());
    assert!(tdes::Ksn::from_hex("zz").is_err());
    assert!(
        tdes::derive_current_key(&SecretKey::new(vec![0u8; 8]), &base.with_counter(1)).is_err()
    );
    assert_eq!(base.with_counter(0x1FFFFF).counter(), 0x1FFFFF);
    assert_eq!(
        base.with_counter(0x1FFFFF).as_bytes()[..7],
        base.as_bytes()[..7]
    );
}

// ---------------------------------------------------------------------------
// AES

#[allow(clippy::panic)] // test helper: an unknown name is a broken vector file
fn key_type(s: &str) -> aes::KeyType {
    match s {
        "aes128" => aes::KeyType::Aes128,
        "aes256" => aes::KeyType::Aes256,
        "tdes2" => aes::KeyType::Tdes2,
        "tdes3" => aes::KeyType::Tdes3,
        _ => panic!("unknown key type {s}"),
    }
}

#[allow(clippy::panic)] // test helper: an unknown name is a broken vector file
fn usage(s: &str) -> aes::KeyUsage {
    match s {
        "pin" => aes::KeyUsage::PinEncryption,
        "mac_gen" => aes::KeyUsage::MacGeneration,
        "mac_ver" => aes::KeyUsage::MacVerification,
        "mac_both" => aes::KeyUsage::MacBoth,
        "data_enc" => aes::KeyUsage::DataEncrypt,
        "data_dec" => aes::KeyUsage::DataDecrypt,
        "data_both" => aes::KeyUsage::DataBoth,
        "kek" => aes::KeyUsage::KeyEncryption,
        _ => panic!("unknown usage {s}"),
    }
}

#[test]
fn aes_x9_24_3_supplement() {
    let mut working_checked = 0;
    for r in common::load("dukpt_aes_x9_24_3.txt") {
        let name = r.name();
        match r.get("kind") {
            "initial" => {
                let id: [u8; 8] = r.hex("initial_key_id").try_into().unwrap();
                let ik = aes::derive_initial_key(&key(&r, "bdk"), &id).unwrap();
                assert_eq!(hx(&ik), r.get("initial_key"), "{name}");
            }
            "transaction" => {
                let ik = key(&r, "initial_key");
                let ksn = aes::Ksn::from_hex(r.get("ksn")).unwrap();
                let dk = aes::derive_transaction_key(&ik, &ksn).unwrap();
                assert_eq!(hx(&dk), r.get("derivation_key"), "{name}: derivation key");
                for (field, value) in &r.fields {
                    let Some((u, t)) = field.rsplit_once('_') else {
                        continue;
                    };
                    if !matches!(t, "aes128" | "aes256" | "tdes2" | "tdes3") {
                        continue;
                    }
                    let wk = aes::derive_working_key(&dk, &ksn, usage(u), key_type(t)).unwrap();
                    assert_eq!(&hx(&wk), value, "{name}: {field}");
                    working_checked += 1;
                }
            }
            "update" => {
                let ik = key(&r, "initial_key");
                let id: [u8; 8] = r.hex("initial_key_id").try_into().unwrap();
                for (field, value) in &r.fields {
                    let Some(t) = field.strip_prefix("update_") else {
                        continue;
                    };
                    let uk = aes::derive_update_key(&ik, &id, key_type(t)).unwrap();
                    assert_eq!(&hx(&uk), value, "{name}: {field}");
                }
            }
            k => panic!("{name}: unknown kind {k}"),
        }
    }
    assert!(working_checked >= 20);
}

#[test]
fn aes_host_derivation_and_format4_pin_block() {
    // X9.24-3 supplement: PIN 1234, PAN 4111111111111111, random 2F69ADDE2E9E7ACE, transactions 1 and 2.
    let bdk = SecretKey::from_hex("FEDCBA9876543210F1F1F1F1F1F1F1F1").unwrap();
    let pin = Pin::new("1234").unwrap();
    let pan = Pan::new("4111111111111111").unwrap();
    let random = [0x2F, 0x69, 0xAD, 0xDE, 0x2E, 0x9E, 0x7A, 0xCE];
    for (ksn, pin_key, block) in [
        (
            "123456789012345600000001",
            "AF8CB133A78F8DC2D1359F18527593FB",
            "A912150391AB65A67E52883D81CE2D15",
        ),
        (
            "123456789012345600000002",
            "D30BDC73EC9714B000BEC66BDB7B6D09",
            "52A00503BD34BA1383F6A7EE9FE2547F",
        ),
    ] {
        let ksn = aes::Ksn::from_hex(ksn).unwrap();
        let k = aes::host_derive_working_key(
            &bdk,
            &ksn,
            aes::KeyUsage::PinEncryption,
            aes::KeyType::Aes128,
        )
        .unwrap();
        assert_eq!(hx(&k), pin_key);
        let ik = aes::derive_initial_key(&bdk, &ksn.initial_key_id()).unwrap();
        let tk = aes::derive_transaction_key(&ik, &ksn).unwrap();
        let enc =
            aes::encrypt_pin_block(&tk, &ksn, aes::KeyType::Aes128, &pin, &pan, &random).unwrap();
        assert_eq!(hex::encode_upper(enc), block);
        let back = aes::decrypt_pin_block(&tk, &ksn, aes::KeyType::Aes128, &enc, &pan).unwrap();
        assert!(back.ct_eq(&pin));
        assert!(
            aes::encrypt_pin_block(&tk, &ksn, aes::KeyType::Tdes2, &pin, &pan, &random).is_err()
        );
    }
}

#[test]
fn aes_derivation_data_layout() {
    let id = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56];
    let d = aes::derivation_data(
        aes::KeyUsage::KeyDerivationInitialKey,
        aes::KeyType::Aes128,
        &id,
        0,
    );
    assert_eq!(hex::encode_upper(d), "01018001000200801234567890123456");
    let d = aes::derivation_data(aes::KeyUsage::PinEncryption, aes::KeyType::Aes128, &id, 1);
    assert_eq!(hex::encode_upper(d), "01011000000200809012345600000001");
    let d = aes::derivation_data(aes::KeyUsage::PinEncryption, aes::KeyType::Tdes3, &id, 1);
    assert_eq!(hex::encode_upper(d), "01011000000100C09012345600000001");
}

#[test]
fn aes_originator_matches_supplement_and_receiver() {
    let ik = SecretKey::from_hex("1273671EA26AC29AFA4D1084127652A1").unwrap();
    let id = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56];
    let mut orig = aes::Originator::new(&ik, &id).unwrap();
    let first = [
        "4F21B565BAD9835E112B6465635EAE44",
        "2F34D68DE10F68D38091A73B9E7C437C",
        "031504E530365CF81264238540518318",
        "0EEFC7ADA628BA68878DA9165A8A1887",
        "C2A7AC328A5DA2D6002D62465BFC028B",
        "D30F7D9351DA58448A2F5E92B4EE3B7D",
        "A8253CEED9AC042C54F75D35C8352278",
        "718EE6CF0B27E53D5F7AF99C4D8146A2",
    ];
    for (i, want) in first.iter().enumerate() {
        let (ksn, k) = orig.next_transaction().unwrap();
        assert_eq!(ksn.counter(), u32::try_from(i + 1).unwrap());
        assert_eq!(&hx(&k), want);
    }
    // Receiver agreement over the next few thousand transactions.
    for _ in 0..3000 {
        let (ksn, k) = orig.next_transaction().unwrap();
        assert_eq!(
            aes::derive_transaction_key(&ik, &ksn).unwrap(),
            k,
            "KSN {ksn}"
        );
    }
}

#[test]
fn aes_counter_limits() {
    let ik = SecretKey::from_hex("1273671EA26AC29AFA4D1084127652A1").unwrap();
    let id = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56];
    // 1FFFF has 17 one-bits: not a valid transaction counter.
    let k = aes::Ksn::new(&id, 0x1FFFF);
    assert!(!k.is_valid_transaction());
    assert!(aes::derive_transaction_key(&ik, &k).is_err());
    assert!(aes::derive_transaction_key(&ik, &aes::Ksn::new(&id, 0)).is_err());
    assert_eq!(dukpt::next_counter(0x1FFFE, 32, 16), Some(0x20000));
    assert_eq!(dukpt::next_counter(0xFFFF_0000, 32, 16), None);
    assert!(aes::Ksn::from_hex("1234").is_err());
    // AES-256 working keys cannot come from an AES-128 derivation key.
    let ksn = aes::Ksn::new(&id, 1);
    let dk = aes::derive_transaction_key(&ik, &ksn).unwrap();
    assert!(
        aes::derive_working_key(
            &dk,
            &ksn,
            aes::KeyUsage::PinEncryption,
            aes::KeyType::Aes256
        )
        .is_err()
    );
    assert!(aes::derive_initial_key(&SecretKey::new(vec![0u8; 15]), &id).is_err());
}

#[test]
fn ksn_debug_and_keys_redacted() {
    let ksn = tdes::Ksn::from_hex("FFFF9876543210E00001").unwrap();
    assert_eq!(format!("{ksn:?}"), "Ksn(FFFF9876543210E00001)");
    let ipek = SecretKey::from_hex("6AC292FAA1315B4D858AB3A3D7D5933A").unwrap();
    let orig = tdes::Originator::new(&ipek, &ksn).unwrap();
    let dbg = format!("{orig:?}");
    assert!(!dbg.contains("6AC2"), "{dbg}");
}
