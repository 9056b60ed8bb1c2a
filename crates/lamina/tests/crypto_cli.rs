//! Runs `lamina crypto …` against published known answers (the same sources as
//! lamina-crypto's vector files) and round trips.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("lamina")
        .unwrap()
        .args(["crypto"])
        .args(args)
        .arg("--json")
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn fails_with(args: &[&str], code: i32) -> String {
    let out = Command::cargo_bin("lamina")
        .unwrap()
        .args(["crypto"])
        .args(args)
        .assert()
        .code(code);
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";
// pyemv tests/test_cvn_hsm.py test_visa_cvn10 (HSM-checked)
const CVN10_DATA: &str =
    "0000000040000000000000000124800004800001241911050152BF45851800001C03A06010";

#[test]
fn kcv_known_answer() {
    assert_eq!(run_json(&["kcv", "--key", IMK])["kcv"], "08D7B4");
    let err = fails_with(&["kcv", "--key", "0123"], 2);
    assert!(err.contains("--key"), "{err}");
}

#[test]
fn cvv_known_answer() {
    let v = run_json(&[
        "cvv",
        "--cvk",
        IMK,
        "--pan",
        "4123456789012345",
        "--expiry",
        "8701",
        "--service-code",
        "101",
    ]);
    assert_eq!(v["value"], "561");
    fails_with(
        &[
            "cvv",
            "--cvk",
            IMK,
            "--pan",
            "4123456789012345",
            "--expiry",
            "8701",
            "--verify",
            "562",
        ],
        1,
    );
}

#[test]
fn visa_cvn10_arqc_and_arpc() {
    let v = run_json(&[
        "ac",
        "--cvn",
        "visa10",
        "--imk",
        IMK,
        "--pan",
        "1234567890123456",
        "--atc",
        "001C",
        "--un",
        "52BF4585",
        "--data",
        CVN10_DATA,
        "--verify",
        "29CCA15AE665FA2E",
    ]);
    assert_eq!(v["ac"], "29CCA15AE665FA2E");
    assert_eq!(v["verified"], true);
    let v = run_json(&[
        "arpc",
        "--cvn",
        "visa10",
        "--imk",
        IMK,
        "--pan",
        "1234567890123456",
        "--atc",
        "001C",
        "--arqc",
        "29CCA15AE665FA2E",
        "--arc",
        "3030",
    ]);
    assert_eq!(v["arpc"], "28993816AFAE4AEB");
    // The CVN's ARPC method decides which input it needs, and the error says so.
    let err = fails_with(
        &[
            "arpc",
            "--cvn",
            "visa18",
            "--imk",
            IMK,
            "--pan",
            "1234567890123456",
            "--atc",
            "001C",
            "--arqc",
            "29CCA15AE665FA2E",
            "--arc",
            "3030",
        ],
        2,
    );
    assert!(err.contains("method 2") && err.contains("--csu"), "{err}");
    // a wrong cryptogram is reported and exits 1
    fails_with(
        &[
            "ac",
            "--cvn",
            "visa10",
            "--imk",
            IMK,
            "--pan",
            "1234567890123456",
            "--atc",
            "001C",
            "--un",
            "52BF4585",
            "--data",
            CVN10_DATA,
            "--verify",
            "29CCA15AE665FA2F",
        ],
        1,
    );
}

#[test]
fn icc_mk_and_session_keys() {
    // pyemv test_kd_hsm: option B, 16-digit PAN → KCV starts BAB0
    let v = run_json(&[
        "derive-icc-mk",
        "--imk",
        IMK,
        "--pan",
        "1234567890123456",
        "--option",
        "b",
    ]);
    assert!(v["kcv"].as_str().unwrap().starts_with("BAB0"), "{v}");
    let mk = v["icc_mk"].as_str().unwrap().to_owned();
    let a = run_json(&["session-key", "--mk", &mk, "--atc", "0001"]);
    let b = run_json(&["session-key", "--mk", &mk, "--atc", "0002"]);
    assert_ne!(a["session_key"], b["session_key"]);
    fails_with(&["derive-icc-mk", "--imk", IMK, "--pan", "12AB"], 2);
}

#[test]
fn pin_blocks_roundtrip() {
    let v = run_json(&[
        "pinblock",
        "encode",
        "--format",
        "0",
        "--pin",
        "1234",
        "--pan",
        "4111111111111111",
    ]);
    assert_eq!(v["clear_block"], "041225EEEEEEEEEE");
    let v = run_json(&[
        "pinblock",
        "decode",
        "--block",
        "041225EEEEEEEEEE",
        "--pan",
        "4111111111111111",
    ]);
    assert_eq!(v["pin"], "1234");
    let enc = run_json(&[
        "pinblock",
        "encode",
        "--format",
        "4",
        "--pin",
        "98765",
        "--pan",
        "4111111111111111",
        "--key",
        "000102030405060708090A0B0C0D0E0F",
    ]);
    let block = enc["enciphered_block"].as_str().unwrap().to_owned();
    let dec = run_json(&[
        "pinblock",
        "decode",
        "--block",
        &block,
        "--pan",
        "4111111111111111",
        "--key",
        "000102030405060708090A0B0C0D0E0F",
    ]);
    assert_eq!(dec["pin"], "98765");
    assert_eq!(dec["format"], 4);
    fails_with(
        &[
            "pinblock",
            "encode",
            "--format",
            "0",
            "--pin",
            "12",
            "--pan",
            "4111111111111111",
        ],
        2,
    );
}

#[test]
fn certificates_build_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.json");
    let iss = dir.path().join("issuer.json");
    let ca_v = run_json(&[
        "cert",
        "genkey",
        "--bits",
        "1152",
        "--out",
        ca.to_str().unwrap(),
    ]);
    let iss_v = run_json(&[
        "cert",
        "genkey",
        "--bits",
        "1024",
        "--out",
        iss.to_str().unwrap(),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&ca).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let cert = run_json(&[
        "cert",
        "build",
        "--kind",
        "issuer",
        "--signer",
        ca.to_str().unwrap(),
        "--modulus",
        iss_v["modulus"].as_str().unwrap(),
        "--pan",
        "5413330000000010",
        "--expiry",
        "1230",
    ]);
    let recovered = run_json(&[
        "cert",
        "recover",
        "--kind",
        "issuer",
        "--signer-modulus",
        ca_v["modulus"].as_str().unwrap(),
        "--cert",
        cert["certificate"].as_str().unwrap(),
        "--remainder",
        cert["remainder"].as_str().unwrap(),
        "--pan",
        "5413330000000010",
        "--today",
        "2026-11-25",
    ]);
    assert_eq!(recovered["verified"], true);
    assert_eq!(recovered["issuer_identifier"], "541333FF");
    assert_eq!(recovered["public_key_modulus"], iss_v["modulus"]);
    // the certificate names another issuer: recovery works, verification fails (exit 1)
    let err = fails_with(
        &[
            "cert",
            "recover",
            "--kind",
            "issuer",
            "--signer-modulus",
            ca_v["modulus"].as_str().unwrap(),
            "--cert",
            cert["certificate"].as_str().unwrap(),
            "--remainder",
            cert["remainder"].as_str().unwrap(),
            "--pan",
            "4111111111111111",
            "--today",
            "2026-11-25",
        ],
        1,
    );
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn dukpt_known_answers() {
    // ANSI X9.24-1:2009 Annex A.4: BDK, KSN FFFF9876543210E0000x
    let v = run_json(&[
        "dukpt",
        "derive",
        "--bdk",
        IMK,
        "--ksn",
        "FFFF9876543210E00000",
    ]);
    assert_eq!(v["ipek"], "6AC292FAA1315B4D858AB3A3D7D5933A");
    let v = run_json(&[
        "dukpt",
        "derive",
        "--bdk",
        IMK,
        "--ksn",
        "FFFF9876543210E00001",
    ]);
    assert_eq!(v["pin_key"], "042666B49184CF5C68DE9628D0397B36");
    // round trip of a PIN block through the DUKPT PIN key
    let enc = run_json(&[
        "dukpt",
        "encrypt-pin",
        "--bdk",
        IMK,
        "--ksn",
        "FFFF9876543210E00001",
        "--block",
        "041225EEEEEEEEEE",
    ]);
    let dec = run_json(&[
        "dukpt",
        "decrypt-pin",
        "--bdk",
        IMK,
        "--ksn",
        "FFFF9876543210E00001",
        "--block",
        enc["encrypted_block"].as_str().unwrap(),
        "--pan",
        "4111111111111111",
    ]);
    assert_eq!(dec["pin"], "1234");
    fails_with(&["dukpt", "derive", "--bdk", IMK, "--ksn", "FFFF"], 2);
}

#[test]
fn pvv_generate_and_verify() {
    let v = run_json(&[
        "pvv",
        "--pvk",
        IMK,
        "--pan",
        "4111111111111111",
        "--pin",
        "1234",
    ]);
    let pvv = v["pvv"].as_str().unwrap().to_owned();
    assert_eq!(pvv.len(), 4);
    let ok = run_json(&[
        "pvv",
        "--pvk",
        IMK,
        "--pan",
        "4111111111111111",
        "--pin",
        "1234",
        "--verify",
        &pvv,
    ]);
    assert_eq!(ok["verified"], true);
    fails_with(
        &[
            "pvv",
            "--pvk",
            IMK,
            "--pan",
            "4111111111111111",
            "--pin",
            "1235",
            "--verify",
            &pvv,
        ],
        1,
    );
    let off = run_json(&[
        "pvv",
        "--method",
        "ibm3624",
        "--pvk",
        IMK,
        "--pin",
        "1234",
        "--validation-data",
        "4111111111111111",
    ]);
    assert_eq!(off["offset"].as_str().unwrap().len(), 4);
}
