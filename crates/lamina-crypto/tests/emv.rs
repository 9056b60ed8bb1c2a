//! Known-answer, cross-variant and property tests for `lamina_crypto::emv`.
//!
//! Vectors: `tests/vectors/emv_*.txt` (sources in each file's header). The TDES
//! vectors come from a public test suite checked against a hardware HSM; the AES
//! forms have no public vector and are covered by the property tests below.

// Test crate: helpers outside `#[test]` functions (and the shared loader) may panic.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use lamina_crypto::Error;
use lamina_crypto::emv::{
    self, AcMac, ArpcResponse, ChangePinBlock, Cvn, IccKeys, MkDerivation, ScriptEncryption,
    ScriptKeyDerivation, SessionKeyDerivation,
};
use lamina_crypto::sym::{Algorithm, Padding, SecretKey, has_odd_parity, kcv_tdes};
use proptest::prelude::*;

fn method(r: &common::Record) -> MkDerivation {
    match r.get("method") {
        "A" => MkDerivation::OptionA,
        "B" => MkDerivation::OptionB,
        m => panic!("{}: method {m}", r.name()),
    }
}

fn psn(r: &common::Record) -> u8 {
    r.hex("psn")[0]
}

fn u16_field(r: &common::Record, k: &str) -> u16 {
    let b = r.hex(k);
    u16::from_be_bytes([b[0], b[1]])
}

fn arr8(v: &[u8]) -> [u8; 8] {
    v.try_into().unwrap()
}

fn assert_kcv(key: &SecretKey, want: &[u8], what: &str) {
    let kcv = kcv_tdes(key.as_bytes()).unwrap();
    assert_eq!(&kcv[..want.len()], want, "{what}");
}

fn tdes_mk(imk: &[u8], m: MkDerivation, pan: &str, psn: u8) -> SecretKey {
    emv::derive_icc_mk(Algorithm::Tdes, m, imk, pan, psn).unwrap()
}

#[test]
fn icc_master_key_derivation_vectors() {
    for r in common::load("emv_mk.txt") {
        let mk = tdes_mk(&r.hex("imk"), method(&r), r.get("pan"), psn(&r));
        assert!(has_odd_parity(mk.as_bytes()), "{}", r.name());
        if r.opt("mk").is_some() {
            assert_eq!(mk.as_bytes(), &r.hex("mk")[..], "{}", r.name());
        } else {
            assert_kcv(&mk, &r.hex("kcv"), &r.name());
        }
    }
}

#[test]
fn session_key_vectors() {
    for r in common::load("emv_session.txt") {
        let mk = r.hex("mk");
        let sk = match r.get("kind") {
            "common" => emv::derive_common_session_key(Algorithm::Tdes, &mk, &r.hex("r")).unwrap(),
            "visa_sm" => emv::derive_script_session_key(
                ScriptKeyDerivation::Visa,
                Algorithm::Tdes,
                &mk,
                u16_field(&r, "atc"),
                &[0; 8],
            )
            .unwrap(),
            k => panic!("{}: kind {k}", r.name()),
        };
        assert_eq!(sk.as_bytes(), &r.hex("sk")[..], "{}", r.name());
    }
}

#[test]
fn key_chain_cryptogram_and_arpc_vectors() {
    for r in common::load("emv_chain.txt") {
        let name = r.name();
        let mk = tdes_mk(&r.hex("imk"), method(&r), r.get("pan"), psn(&r));
        if r.opt("mk_kcv").is_some() {
            assert_kcv(&mk, &r.hex("mk_kcv"), &name);
        }
        let sk =
            emv::derive_common_session_key(Algorithm::Tdes, mk.as_bytes(), &r.hex("r")).unwrap();
        assert_kcv(&sk, &r.hex("sk_kcv"), &name);
        let padding = if r.num("padding") == 1 {
            Padding::Method1
        } else {
            Padding::Method2
        };
        let ac = emv::ac_mac(AcMac::Alg3(padding), sk.as_bytes(), &r.hex("data")).unwrap();
        assert_eq!(ac.to_vec(), r.hex("ac"), "{name}: AC");
        let key = if r.get("arpc_key") == "mk" { &mk } else { &sk };
        let arpc = match r.num("arpc_method") {
            1 => emv::arpc_method1(
                Algorithm::Tdes,
                key.as_bytes(),
                &ac,
                r.hex("arc").try_into().unwrap(),
            )
            .unwrap()
            .to_vec(),
            2 => emv::arpc_method2(
                Algorithm::Tdes,
                key.as_bytes(),
                &ac,
                r.hex("csu").try_into().unwrap(),
                &r.hex("prop"),
            )
            .unwrap()
            .to_vec(),
            m => panic!("{name}: ARPC method {m}"),
        };
        assert_eq!(arpc, r.hex("arpc"), "{name}: ARPC");
    }
}

fn cvn_of(s: &str) -> Cvn {
    match s {
        "visa10" => Cvn::Visa10,
        "visa18" => Cvn::Visa18,
        "interac133" => Cvn::Interac133,
        other => panic!("cvn {other}"),
    }
}

#[test]
fn cvn_profile_vectors() {
    for r in common::load("emv_cvn.txt") {
        let name = r.name();
        let cvn = cvn_of(r.get("cvn"));
        let m = cvn.profile().mk_derivation;
        let (pan, psn) = (r.get("pan"), psn(&r));
        let mk_ac = tdes_mk(&r.hex("imk_ac"), m, pan, psn);
        let mk_smi = tdes_mk(&r.hex("imk_smi"), m, pan, psn);
        let mk_smc = tdes_mk(&r.hex("imk_smc"), m, pan, psn);
        let atc = u16_field(&r, "atc");
        let un: [u8; 4] = r.hex("un").try_into().unwrap();
        let data = r.hex("data");

        let ac = emv::generate_ac(cvn, mk_ac.as_bytes(), atc, un, &data).unwrap();
        assert_eq!(ac.to_vec(), r.hex("ac"), "{name}: AC");
        emv::verify_ac(cvn, mk_ac.as_bytes(), atc, un, &data, &ac).unwrap();

        let response = match r.opt("arc") {
            Some(_) => ArpcResponse::Method1 {
                arc: r.hex("arc").try_into().unwrap(),
            },
            None => ArpcResponse::Method2 {
                csu: r.hex("csu").try_into().unwrap(),
                proprietary: &[],
            },
        };
        let arpc = emv::generate_arpc(cvn, mk_ac.as_bytes(), atc, un, &ac, response).unwrap();
        assert_eq!(arpc, r.hex("arpc"), "{name}: ARPC");
        emv::verify_arpc(cvn, mk_ac.as_bytes(), atc, un, &ac, response, &arpc).unwrap();

        let header: [u8; 4] = r.hex("script_header").try_into().unwrap();
        let apdu = emv::script_command(cvn, mk_smi.as_bytes(), atc, &ac, header, &[], 8).unwrap();
        let want = [&header[..], &[8], &r.hex("script_mac")].concat();
        assert_eq!(apdu, want, "{name}: script command");
        emv::verify_script_command(cvn, mk_smi.as_bytes(), atc, &ac, &apdu, 8).unwrap();

        let keys = IccKeys {
            ac: mk_ac.as_bytes(),
            smi: mk_smi.as_bytes(),
            smc: mk_smc.as_bytes(),
        };
        let cmd = emv::pin_change_command(cvn, keys, atc, &ac, r.get("pin"), r.opt("current_pin"))
            .unwrap();
        assert_eq!(cmd, r.hex("pin_command"), "{name}: PIN change command");
        emv::verify_script_command(cvn, mk_smi.as_bytes(), atc, &ac, &cmd, 8).unwrap();

        // The card deciphers the PIN block back.
        let enc = &cmd[5..cmd.len() - 8];
        let plain = emv::decrypt_script_data(cvn, mk_smc.as_bytes(), atc, &ac, enc).unwrap();
        let block = emv::pin_change_block(
            cvn.profile().pin_block,
            mk_ac.as_bytes(),
            r.get("pin"),
            r.opt("current_pin"),
        )
        .unwrap();
        assert_eq!(&plain[..8], &block[..], "{name}: deciphered PIN block");
    }
}

fn encryption_of(s: &str) -> ScriptEncryption {
    match s {
        "visa" => ScriptEncryption::Visa,
        "mastercard" => ScriptEncryption::Mastercard,
        "emv" => ScriptEncryption::Emv,
        o => panic!("encryption {o}"),
    }
}

#[test]
fn secure_messaging_vectors() {
    for r in common::load("emv_script.txt") {
        let name = r.name();
        let derive = |imk: &str| -> SecretKey {
            let mk = tdes_mk(&r.hex(imk), MkDerivation::OptionA, r.get("pan"), psn(&r));
            match r.get("sm_keys") {
                "common" => emv::derive_script_session_key(
                    ScriptKeyDerivation::Common,
                    Algorithm::Tdes,
                    mk.as_bytes(),
                    0,
                    &arr8(&r.hex("r")),
                )
                .unwrap(),
                "visa" => emv::derive_script_session_key(
                    ScriptKeyDerivation::Visa,
                    Algorithm::Tdes,
                    mk.as_bytes(),
                    u16_field(&r, "atc"),
                    &[0; 8],
                )
                .unwrap(),
                k => panic!("{name}: sm_keys {k}"),
            }
        };
        let sk_smi = match r.opt("sk_smi") {
            Some(_) => Some(SecretKey::new(r.hex("sk_smi"))),
            None if r.opt("imk_smi").is_some() => Some(derive("imk_smi")),
            None => None,
        };
        let sk_smc = match r.opt("sk_smc") {
            Some(_) => Some(SecretKey::new(r.hex("sk_smc"))),
            None if r.opt("imk_smc").is_some() => Some(derive("imk_smc")),
            None => None,
        };
        if let (Some(k), Some(_)) = (&sk_smi, r.opt("sk_smi_kcv")) {
            assert_kcv(k, &r.hex("sk_smi_kcv"), &format!("{name}: SK-SMI"));
        }
        if let (Some(k), Some(_)) = (&sk_smc, r.opt("sk_smc_kcv")) {
            assert_kcv(k, &r.hex("sk_smc_kcv"), &format!("{name}: SK-SMC"));
        }
        if let Some(fmt) = r.opt("pin_format") {
            let mk_ac = r.opt("imk_ac").map(|_| {
                tdes_mk(
                    &r.hex("imk_ac"),
                    MkDerivation::OptionA,
                    r.get("pan"),
                    psn(&r),
                )
            });
            let kind = if fmt == "vis" {
                ChangePinBlock::Vis
            } else {
                ChangePinBlock::Iso2
            };
            let mk_bytes = mk_ac.as_ref().map_or(&[][..], SecretKey::as_bytes);
            let block =
                emv::pin_change_block(kind, mk_bytes, r.get("pin"), r.opt("current_pin")).unwrap();
            assert_eq!(&block[..], &r.hex("pin_block")[..], "{name}: PIN block");
        }
        if let Some(e) = r.opt("encryption") {
            let kind = encryption_of(e);
            let sk = sk_smc.as_ref().unwrap();
            let enc = emv::encrypt_command_data(
                kind,
                Algorithm::Tdes,
                sk.as_bytes(),
                &r.hex("pin_block"),
            )
            .unwrap();
            assert_eq!(enc, r.hex("enc"), "{name}: enciphered data");
            let back =
                emv::decrypt_command_data(kind, Algorithm::Tdes, sk.as_bytes(), &enc).unwrap();
            assert_eq!(&back[..8], &r.hex("pin_block")[..], "{name}: deciphered");
        }
        if r.opt("mac").is_some() {
            let input = [r.hex("mac_input_header"), r.hex("enc")].concat();
            let mac = emv::command_mac(
                Algorithm::Tdes,
                sk_smi.as_ref().unwrap().as_bytes(),
                &input,
                8,
            )
            .unwrap();
            assert_eq!(mac, r.hex("mac"), "{name}: MAC");
        }
    }
}

// ---------------------------------------------------------------------------
// Cross-variant and property tests (no published vectors needed)
// ---------------------------------------------------------------------------

const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";

fn std_data(atc: u16, un: [u8; 4], tail: &[u8]) -> Vec<u8> {
    let mut d = hex::decode("000000001000000000000000097800000000000978260101000000").unwrap();
    // 9F02 9F03 9F1A 95 5F2A 9A 9C = 25 bytes, then 9F37 82 9F36.
    d.truncate(25);
    d.extend_from_slice(&un);
    d.extend_from_slice(&[0x18, 0x00]);
    d.extend_from_slice(&atc.to_be_bytes());
    d.extend_from_slice(tail);
    d
}

#[test]
fn mastercard16_matches_interac133_cryptography() {
    let mk = tdes_mk(
        &hex::decode(IMK).unwrap(),
        MkDerivation::OptionA,
        "5413330089010012",
        0x01,
    );
    let un = [1, 2, 3, 4];
    let data = std_data(7, un, &[0xA0, 0, 0, 0, 0, 0]);
    let a = emv::generate_ac(Cvn::Mastercard16, mk.as_bytes(), 7, un, &data).unwrap();
    let b = emv::generate_ac(Cvn::Interac133, mk.as_bytes(), 7, un, &data).unwrap();
    assert_eq!(a, b);
}

/// The HSM-checked chain record "kd_hsm B SHA pad" (emv_chain.txt) uses R = ATC ‖ 00…
/// and real CDOL data (standard prefix ‖ IAD): exactly what the Visa CVN 18 and
/// CCD profiles compute, so it checks those rows end to end for the cryptogram
/// and ARPC method 2.
#[test]
fn ccd_and_visa18_rows_reproduce_the_hsm_chain_with_atc_diversification() {
    let imk = hex::decode(IMK).unwrap();
    let mk = tdes_mk(&imk, MkDerivation::OptionB, "000000000000000005", 0x23);
    let data = hex::decode(
        "0000000040000000000000000124800004800001241911050152BF45851800001C06011203A0B800",
    )
    .unwrap();
    let (atc, un) = (0x001C, [0x52, 0xBF, 0x45, 0x85]);
    let resp = ArpcResponse::Method2 {
        csu: [0; 4],
        proprietary: &[0x12, 0x34, 0x56, 0x78],
    };
    for cvn in [Cvn::EmvCcd, Cvn::Visa18] {
        let ac = emv::generate_ac(cvn, mk.as_bytes(), atc, un, &data).unwrap();
        assert_eq!(hex::encode_upper(ac), "8CAD6F2489C640B1", "{cvn:?}");
        let arpc = emv::generate_arpc(cvn, mk.as_bytes(), atc, un, &ac, resp).unwrap();
        assert_eq!(hex::encode_upper(arpc), "E39F1876", "{cvn:?}");
    }
}

/// The CCD row's script encipherment (common keys from the ARQC, EMV padding)
/// against the HSM-checked "sm_hsm CCD (EMV) PIN change" record of emv_script.txt.
#[test]
fn ccd_row_script_encipherment_matches_hsm_record() {
    let imk_smc = hex::decode("11111111111111112222222222222222").unwrap();
    let mk_smc = tdes_mk(&imk_smc, MkDerivation::OptionA, "1234567890123456", 0x01);
    let arqc = arr8(&hex::decode("ABCDEF1234567890").unwrap());
    let block = emv::pin_change_block(ChangePinBlock::Iso2, &[], "9999", None).unwrap();
    let enc =
        emv::encrypt_script_data(Cvn::EmvCcd, mk_smc.as_bytes(), 0, &arqc, &block[..]).unwrap();
    assert_eq!(hex::encode_upper(enc), "28367E05DE3381C29D30A6055A8DEB86");
}

#[test]
fn mastercard_skd_with_zero_un_is_common_derivation() {
    let mk = hex::decode(IMK).unwrap();
    for atc in [0u16, 1, 0x1C, 0xFFFF] {
        let c = emv::derive_ac_session_key(
            SessionKeyDerivation::Common,
            Algorithm::Tdes,
            &mk,
            atc,
            [9; 4],
        )
        .unwrap();
        let m = emv::derive_ac_session_key(
            SessionKeyDerivation::Mastercard,
            Algorithm::Tdes,
            &mk,
            atc,
            [0; 4],
        )
        .unwrap();
        assert_eq!(c, m);
    }
}

#[test]
fn visa_sm_key_for_atc_zero_flips_only_right_half() {
    let mk = hex::decode(IMK).unwrap();
    let sk =
        emv::derive_script_session_key(ScriptKeyDerivation::Visa, Algorithm::Tdes, &mk, 0, &[0; 8])
            .unwrap();
    assert_eq!(&sk.as_bytes()[..14], &mk[..14]);
    assert_ne!(&sk.as_bytes()[14..], &mk[14..]);
}

#[test]
fn aes_profile_roundtrip_and_key_sizes() {
    for imk_len in [16usize, 24, 32] {
        let imk: Vec<u8> = (0..imk_len).map(|i| u8::try_from(i).unwrap()).collect();
        let mk = emv::derive_icc_mk(
            Algorithm::Aes,
            MkDerivation::OptionA,
            &imk,
            "4761739001010010",
            0,
        )
        .unwrap();
        assert_eq!(mk.len(), imk_len);
        let sk1 = emv::ac_session_key(Cvn::EmvAes, mk.as_bytes(), 1, [0; 4]).unwrap();
        let sk2 = emv::ac_session_key(Cvn::EmvAes, mk.as_bytes(), 2, [0; 4]).unwrap();
        assert_eq!(sk1.len(), imk_len);
        assert_ne!(sk1, sk2);
        let un = [0xDE, 0xAD, 0xBE, 0xEF];
        let data = std_data(1, un, &[]);
        let ac = emv::generate_ac(Cvn::EmvAes, mk.as_bytes(), 1, un, &data).unwrap();
        emv::verify_ac(Cvn::EmvAes, mk.as_bytes(), 1, un, &data, &ac).unwrap();
        assert!(emv::verify_ac(Cvn::EmvAes, mk.as_bytes(), 2, un, &data, &ac).is_err());
        let resp = ArpcResponse::Method2 {
            csu: [0, 0, 0x80, 0],
            proprietary: &[1, 2],
        };
        let arpc = emv::generate_arpc(Cvn::EmvAes, mk.as_bytes(), 1, un, &ac, resp).unwrap();
        assert_eq!(arpc.len(), 4);
        emv::verify_arpc(Cvn::EmvAes, mk.as_bytes(), 1, un, &ac, resp, &arpc).unwrap();
        let cmd = emv::pin_change_command(
            Cvn::EmvAes,
            IccKeys {
                ac: mk.as_bytes(),
                smi: mk.as_bytes(),
                smc: mk.as_bytes(),
            },
            1,
            &ac,
            "1234",
            None,
        )
        .unwrap();
        emv::verify_script_command(Cvn::EmvAes, mk.as_bytes(), 1, &ac, &cmd, 8).unwrap();
    }
}

#[test]
fn option_b_differs_from_a_only_above_16_digits() {
    let imk = hex::decode(IMK).unwrap();
    let a = tdes_mk(&imk, MkDerivation::OptionA, "12345678901234567", 0x45);
    let b = tdes_mk(&imk, MkDerivation::OptionB, "12345678901234567", 0x45);
    assert_ne!(a, b);
}

#[test]
fn errors_are_typed_and_never_echo_the_pan() {
    let imk = hex::decode(IMK).unwrap();
    let pan = "41111111111111x1";
    let e = emv::derive_icc_mk(Algorithm::Tdes, MkDerivation::OptionA, &imk, pan, 0).unwrap_err();
    assert!(matches!(e, Error::Invalid { what: "PAN", .. }));
    assert!(!e.to_string().contains("4111111111"));
    assert!(
        emv::derive_icc_mk(
            Algorithm::Tdes,
            MkDerivation::OptionA,
            &imk,
            "4111111111111111",
            0x1A
        )
        .is_err()
    );
    assert!(
        emv::derive_icc_mk(
            Algorithm::Tdes,
            MkDerivation::OptionA,
            &imk[..8],
            "4111111111111111",
            0
        )
        .is_err()
    );
    assert!(emv::derive_common_session_key(Algorithm::Tdes, &imk, &[0; 7]).is_err());
    assert!(
        emv::derive_ac_session_key(
            SessionKeyDerivation::Mastercard,
            Algorithm::Aes,
            &imk,
            1,
            [0; 4]
        )
        .is_err()
    );
    // Too-short cryptogram data, mismatched ARPC method, bad MAC lengths, short APDUs.
    assert!(emv::generate_ac(Cvn::Visa10, &imk, 1, [0; 4], &[0; 36]).is_err());
    let m2 = ArpcResponse::Method2 {
        csu: [0; 4],
        proprietary: &[],
    };
    assert!(emv::generate_arpc(Cvn::Visa10, &imk, 1, [0; 4], &[0; 8], m2).is_err());
    let long = ArpcResponse::Method2 {
        csu: [0; 4],
        proprietary: &[0; 9],
    };
    assert!(emv::generate_arpc(Cvn::Visa18, &imk, 1, [0; 4], &[0; 8], long).is_err());
    assert!(emv::command_mac(Algorithm::Tdes, &imk, b"x", 3).is_err());
    assert!(emv::command_mac(Algorithm::Tdes, &imk, b"x", 9).is_err());
    for apdu in [
        &[][..],
        &[0x84, 0x24],
        &[0x84, 0x24, 0, 2, 0x10, 1, 2],
        &[0x84, 0x24, 0, 2, 4, 1, 2, 3, 4],
    ] {
        assert!(emv::verify_script_command(Cvn::Visa10, &imk, 1, &[0; 8], apdu, 8).is_err());
    }
    assert!(
        emv::script_command(
            Cvn::Visa10,
            &imk,
            1,
            &[0; 8],
            [0x84, 0xDA, 0, 0],
            &[0; 250],
            8
        )
        .is_err()
    );
    // PIN change block inputs.
    assert!(emv::pin_change_block(ChangePinBlock::Iso2, &[], "123", None).is_err());
    assert!(emv::pin_change_block(ChangePinBlock::Iso2, &[], "12a4", None).is_err());
    assert!(emv::pin_change_block(ChangePinBlock::Iso2, &[], "1234", Some("0000")).is_err());
    assert!(emv::pin_change_block(ChangePinBlock::Vis, &[0; 8], "1234", None).is_err());
    // Corrupted ciphertext is a padding error, not a panic.
    assert!(
        emv::decrypt_command_data(ScriptEncryption::Visa, Algorithm::Tdes, &imk, &[0; 16]).is_err()
    );
    assert!(
        emv::decrypt_command_data(ScriptEncryption::Emv, Algorithm::Tdes, &imk, &[0; 7]).is_err()
    );
    let k = format!(
        "{:?}",
        IccKeys {
            ac: &imk,
            smi: &imk,
            smc: &imk
        }
    );
    assert!(!k.contains("01"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn option_a_equals_option_b_up_to_16_digits(pan in "[0-9]{12,16}", psn_hi in 0u8..10, psn_lo in 0u8..10) {
        let imk = hex::decode(IMK).unwrap();
        let psn = (psn_hi << 4) | psn_lo;
        let a = tdes_mk(&imk, MkDerivation::OptionA, &pan, psn);
        let b = tdes_mk(&imk, MkDerivation::OptionB, &pan, psn);
        prop_assert!(has_odd_parity(a.as_bytes()));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn option_b_long_pans_have_parity_and_differ_by_psn(pan in "[0-9]{17,19}") {
        let imk = hex::decode(IMK).unwrap();
        let a = tdes_mk(&imk, MkDerivation::OptionB, &pan, 0x00);
        let b = tdes_mk(&imk, MkDerivation::OptionB, &pan, 0x01);
        prop_assert!(has_odd_parity(a.as_bytes()));
        prop_assert_ne!(a, b);
    }

    #[test]
    fn any_bit_flip_in_ac_or_arpc_fails_verification(
        atc in any::<u16>(),
        un in proptest::array::uniform4(any::<u8>()),
        tail in proptest::collection::vec(any::<u8>(), 4..12),
        bit in 0usize..64,
        cvn_i in 0usize..5,
    ) {
        let cvn = [Cvn::Visa10, Cvn::Visa18, Cvn::Interac133, Cvn::EmvCcd, Cvn::EmvAes][cvn_i];
        let alg = cvn.profile().algorithm;
        let mk = emv::derive_icc_mk(alg, MkDerivation::OptionA, &hex::decode(IMK).unwrap(), "4761739001010010", 1).unwrap();
        let data = std_data(atc, un, &tail);
        let ac = emv::generate_ac(cvn, mk.as_bytes(), atc, un, &data).unwrap();
        prop_assert!(emv::verify_ac(cvn, mk.as_bytes(), atc, un, &data, &ac).is_ok());
        let mut bad = ac;
        bad[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(
            emv::verify_ac(cvn, mk.as_bytes(), atc, un, &data, &bad),
            Err(Error::Verification("application cryptogram"))
        );
        let mut bad_data = data.clone();
        bad_data[bit % data.len()] ^= 0x01;
        prop_assert!(emv::verify_ac(cvn, mk.as_bytes(), atc, un, &bad_data, &ac).is_err());

        let resp = match cvn.profile().arpc {
            emv::ArpcMethod::Method1 => ArpcResponse::Method1 { arc: *b"00" },
            emv::ArpcMethod::Method2 => ArpcResponse::Method2 { csu: [0, 0, 0, 0], proprietary: &[] },
        };
        let arpc = emv::generate_arpc(cvn, mk.as_bytes(), atc, un, &ac, resp).unwrap();
        prop_assert!(emv::verify_arpc(cvn, mk.as_bytes(), atc, un, &ac, resp, &arpc).is_ok());
        let mut bad_arpc = arpc.clone();
        let b = bit % (arpc.len() * 8);
        bad_arpc[b / 8] ^= 1 << (b % 8);
        prop_assert!(emv::verify_arpc(cvn, mk.as_bytes(), atc, un, &ac, resp, &bad_arpc).is_err());
    }

    #[test]
    fn script_roundtrip_and_tamper(
        data in proptest::collection::vec(any::<u8>(), 0..40),
        atc in any::<u16>(),
        arqc in proptest::array::uniform8(any::<u8>()),
        mac_len in 4usize..=8,
        cvn_i in 0usize..5,
    ) {
        let cvn = [Cvn::Visa10, Cvn::Visa18, Cvn::Interac133, Cvn::EmvCcd, Cvn::EmvAes][cvn_i];
        let alg = cvn.profile().algorithm;
        let mk = emv::derive_icc_mk(alg, MkDerivation::OptionA, &hex::decode(IMK).unwrap(), "4761739001010010", 0).unwrap();
        let enc = emv::encrypt_script_data(cvn, mk.as_bytes(), atc, &arqc, &data).unwrap();
        prop_assert_eq!(enc.len() % alg.block_size(), 0);
        let back = emv::decrypt_script_data(cvn, mk.as_bytes(), atc, &arqc, &enc).unwrap();
        if cvn.profile().script_encryption == ScriptEncryption::Mastercard && !data.is_empty() && data.len() % 8 == 0 {
            prop_assert_eq!(&back[..], &data[..]);
        } else if cvn.profile().script_encryption != ScriptEncryption::Mastercard {
            prop_assert_eq!(&back[..], &data[..]);
        } else {
            prop_assert_eq!(&back[..data.len()], &data[..]);
        }
        let apdu = emv::script_command(cvn, mk.as_bytes(), atc, &arqc, [0x84, 0xDA, 0x9F, 0x58], &enc, mac_len).unwrap();
        prop_assert!(emv::verify_script_command(cvn, mk.as_bytes(), atc, &arqc, &apdu, mac_len).is_ok());
        let mut bad = apdu.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        prop_assert!(emv::verify_script_command(cvn, mk.as_bytes(), atc, &arqc, &bad, mac_len).is_err());
        prop_assert!(emv::verify_script_command(cvn, mk.as_bytes(), atc.wrapping_add(1), &arqc, &apdu, mac_len).is_err()
            || cvn.profile().script_keys == ScriptKeyDerivation::Common && cvn.profile().script_mac_data == emv::ScriptMacData::HeaderData);
    }
}
