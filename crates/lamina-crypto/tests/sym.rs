//! Known-answer and property tests for `lamina_crypto::sym`.
//!
//! Vectors live in `tests/vectors/sym_*.txt`, each naming its public source.

// Test crate: helpers outside `#[test]` functions (and the shared loader) may panic.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use lamina_crypto::sym::{
    self, Algorithm, Padding, adjust_odd_parity, aes_cmac, aes_encrypt_block, cbc_decrypt,
    cbc_encrypt, ecb_decrypt, ecb_encrypt, has_odd_parity, kcv_tdes, mac_alg1, mac_alg3,
};
use proptest::prelude::*;

#[test]
fn aes_fips197_appendix_c() {
    for r in common::load("sym_aes.txt") {
        let key = r.hex("key");
        let pt: [u8; 16] = r.hex("plaintext").try_into().unwrap();
        let ct = r.hex("ciphertext");
        assert_eq!(
            aes_encrypt_block(&key, &pt).unwrap().to_vec(),
            ct,
            "{}",
            r.name()
        );
        let back = sym::aes_decrypt_block(&key, &ct.clone().try_into().unwrap()).unwrap();
        assert_eq!(back, pt, "{}", r.name());
    }
}

fn check_modes(file: &str, alg: Algorithm) {
    for r in common::load(file) {
        let key = r.hex("key");
        let pt = r.hex("plaintext");
        let ct = r.hex("ciphertext");
        match r.get("mode") {
            "ecb" => {
                assert_eq!(ecb_encrypt(alg, &key, &pt).unwrap(), ct, "{}", r.name());
                assert_eq!(ecb_decrypt(alg, &key, &ct).unwrap(), pt, "{}", r.name());
            }
            "cbc" => {
                let iv = r.hex("iv");
                assert_eq!(
                    cbc_encrypt(alg, &key, &iv, &pt).unwrap(),
                    ct,
                    "{}",
                    r.name()
                );
                assert_eq!(
                    cbc_decrypt(alg, &key, &iv, &ct).unwrap(),
                    pt,
                    "{}",
                    r.name()
                );
            }
            other => panic!("{}: unknown mode {other}", r.name()),
        }
    }
}

#[test]
fn aes_sp800_38a_ecb_cbc() {
    check_modes("sym_aes_modes.txt", Algorithm::Aes);
}

#[test]
fn des_tdes_fips81_sp800_67() {
    check_modes("sym_tdes.txt", Algorithm::Tdes);
}

#[test]
fn aes_cmac_rfc4493_sp800_38b() {
    for r in common::load("sym_aes_cmac.txt") {
        let mac = aes_cmac(&r.hex("key"), &r.hex("message")).unwrap();
        assert_eq!(mac.to_vec(), r.hex("mac"), "{}", r.name());
    }
}

#[test]
fn tdes_cmac_sp800_38b() {
    for r in common::load("sym_tdes_cmac.txt") {
        let mac = sym::tdes_cmac(&r.hex("key"), &r.hex("message")).unwrap();
        assert_eq!(mac.to_vec(), r.hex("mac"), "{}", r.name());
    }
}

#[test]
fn iso9797_mac_algorithms_1_and_3() {
    for r in common::load("sym_mac.txt") {
        let padding = match r.num("padding") {
            1 => Padding::Method1,
            2 => Padding::Method2,
            n => panic!("{}: padding {n}", r.name()),
        };
        let key = r.hex("key");
        let data = r.hex("data");
        let mac = match r.num("alg") {
            1 => mac_alg1(&key, &data, padding).unwrap(),
            3 => mac_alg3(&key, &data, padding).unwrap(),
            n => panic!("{}: alg {n}", r.name()),
        };
        let want = r.hex("mac");
        assert_eq!(&mac[..want.len()], &want[..], "{}", r.name());
    }
}

#[test]
fn kcv_published() {
    for r in common::load("sym_kcv.txt") {
        assert_eq!(
            kcv_tdes(&r.hex("key")).unwrap().to_vec(),
            r.hex("kcv"),
            "{}",
            r.name()
        );
    }
}

/// MAC algorithm 3 with K = K' is plain CBC-MAC (single DES): the output transformation
/// D(K')·E(K) cancels. Cross-checks alg 3 against alg 1 without any published value.
#[test]
fn mac_alg3_with_equal_halves_is_alg1() {
    let k = hex::decode("0123456789ABCDEF").unwrap();
    let kk = [k.clone(), k.clone()].concat();
    for len in [0usize, 1, 7, 8, 9, 24, 33] {
        let data: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i * 37 % 251).unwrap())
            .collect();
        for p in [Padding::Method1, Padding::Method2] {
            assert_eq!(
                mac_alg3(&kk, &data, p).unwrap(),
                mac_alg1(&k, &data, p).unwrap()
            );
        }
    }
}

#[test]
fn parity_examples() {
    let mut k = hex::decode("0000000000000000FFFFFFFFFFFFFFFE").unwrap();
    adjust_odd_parity(&mut k);
    assert_eq!(hex::encode_upper(&k), "0101010101010101FEFEFEFEFEFEFEFE");
    // The published test key already has odd parity and must not change.
    let mut t = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
    assert!(has_odd_parity(&t));
    adjust_odd_parity(&mut t);
    assert_eq!(hex::encode_upper(&t), "0123456789ABCDEFFEDCBA9876543210");
}

proptest! {
    #[test]
    fn parity_adjust_is_odd_idempotent_and_keeps_high_bits(key in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut k = key.clone();
        adjust_odd_parity(&mut k);
        prop_assert!(has_odd_parity(&k));
        for (a, b) in k.iter().zip(&key) {
            prop_assert_eq!(a & 0xFE, b & 0xFE);
        }
        let mut again = k.clone();
        adjust_odd_parity(&mut again);
        prop_assert_eq!(again, k);
    }

    /// DES ignores parity bits: changing them never changes a ciphertext.
    #[test]
    fn tdes_ignores_parity_bits(key in proptest::array::uniform16(any::<u8>()), block in proptest::array::uniform8(any::<u8>())) {
        let mut adjusted = key;
        adjust_odd_parity(&mut adjusted);
        prop_assert_eq!(
            sym::tdes_encrypt_block(&key, &block).unwrap(),
            sym::tdes_encrypt_block(&adjusted, &block).unwrap()
        );
    }
}
