//! Runs the `lamina` binary: the codec tools' output, JSON and error exits.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

fn lamina() -> Command {
    Command::cargo_bin("lamina").unwrap()
}

const FCI: &str = "6F1A840E315041592E5359532E4444463031A5088801025F2D02656E";

#[test]
fn tlv_decode_prints_the_fci_tree_with_names() {
    let out = lamina().args(["tlv", "decode", FCI]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for name in [
        "File Control Information (FCI) Template",
        "Dedicated File (DF) Name",
        "FCI Proprietary Template",
        "Short File Identifier (SFI)",
        "Language Preference",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    // nesting is shown by indentation
    assert!(
        text.contains("\n    88 Short File Identifier (SFI)"),
        "{text}"
    );
}

#[test]
fn tlv_decode_json_has_the_same_tree() {
    let out = lamina()
        .args(["tlv", "decode", "--json", FCI])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v[0]["tag"], "6F");
    assert_eq!(v[0]["name"], "File Control Information (FCI) Template");
    assert_eq!(v[0]["children"][0]["name"], "Dedicated File (DF) Name");
    assert_eq!(
        v[0]["children"][1]["children"][0]["name"],
        "Short File Identifier (SFI)"
    );
    assert_eq!(v[0]["children"][1]["children"][0]["value"], "02");
    assert_eq!(
        v[0]["children"][1]["children"][1]["name"],
        "Language Preference"
    );
    assert_eq!(v[0]["children"][1]["name"], "FCI Proprietary Template");
}

#[test]
fn malformed_tlv_exits_2_naming_the_offset() {
    for (hex, offset) in [
        ("6F1A84", "offset 2"),         // length beyond buffer
        ("9F02", "offset 2"),           // missing length
        ("9F0281", "offset 3"),         // truncated long-form length
        ("9F818181810100", "offset 0"), // 5-byte tag
        ("70", "offset 1"),
    ] {
        let out = lamina().args(["tlv", "decode", hex]).assert().code(2);
        let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
        assert!(err.contains(offset), "{hex}: {err}");
        assert!(!err.contains("panicked"), "{hex}: {err}");
    }
    lamina().args(["tlv", "decode", "6F1"]).assert().code(2);
    lamina().args(["tlv", "decode", "XY"]).assert().code(2);
}

#[test]
fn tlv_encode_from_lines_and_json() {
    let out = lamina()
        .args([
            "tlv",
            "encode",
            "6F\n  84 315041592E5359532E4444463031\n  A5\n    88 02\n    5F2D \"en\"",
        ])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        FCI
    );
    let out = lamina()
        .args([
            "tlv",
            "encode",
            "--json",
            r#"{"9F02": "000000001000", "5F2A": "0978"}"#,
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["hex"], "9F02060000000010005F2A020978");
    lamina()
        .args(["tlv", "encode", "{\"9F\": \"00\"}"])
        .assert()
        .code(2);
}

#[test]
fn pan_is_masked_unless_revealed() {
    let out = lamina()
        .args(["tlv", "decode", "5A085413330000000010"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("541333******0010"), "{text}");
    assert!(!text.contains("5413330000000010"), "{text}");
    let out = lamina()
        .args(["tlv", "decode", "--reveal-pan", "5A085413330000000010"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("5413330000000010"));
}

#[test]
fn bitmaps_are_explained() {
    let out = lamina()
        .args(["tlv", "decode", "95050000008000"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("floor limit"));
}

#[test]
fn apdu_decode_command_response_and_status() {
    let out = lamina()
        .args([
            "apdu",
            "decode",
            "--json",
            "00A404000E315041592E5359532E444446303100",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["instruction"], "SELECT");
    assert_eq!(v["case"], "Case4");
    assert_eq!(v["data_text"], "1PAY.SYS.DDF01");
    assert_eq!(v["le"], 256);

    let out = lamina()
        .args([
            "apdu",
            "decode",
            "--response",
            "--json",
            &format!("{FCI}9000"),
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["status"]["sw"], "9000");
    assert_eq!(v["data_tlv"][0]["tag"], "6F");

    let out = lamina().args(["apdu", "decode", "6A82"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("not found"));

    // a VERIFY never shows its PIN block
    let out = lamina()
        .args(["apdu", "decode", "0020008008241234FFFFFFFFFF"])
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("241234"));

    lamina().args(["apdu", "decode", "00A404"]).assert().code(2);
    lamina()
        .args(["apdu", "decode", "00A4040007A0000000"])
        .assert()
        .code(2);
}

#[test]
fn dol_build_applies_the_padding_rules() {
    let out = lamina()
        .args([
            "dol",
            "build",
            "--json",
            "--dol",
            "9F02069F37049F4E04",
            "--data",
            "9F02=1000",
            "--data",
            "9F4E=4142",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v["data"],
        "000000001000".to_owned() + "00000000" + "41420000"
    );
    assert_eq!(v["entries"][1]["supplied"], false);
    lamina()
        .args(["dol", "build", "--dol", "9F02", "--data", "9F02=10"])
        .assert()
        .code(2);
    lamina()
        .args(["dol", "build", "--dol", "9F0206", "--data", "9F02"])
        .assert()
        .code(2);
}

#[test]
fn terminal_pay_with_the_test_card() {
    let out = lamina()
        .args([
            "terminal",
            "pay",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../terminals/retail.toml"),
            "--card",
            "test:cda",
            "--amount",
            "12.34",
            "--pin",
            "1234",
            "--json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("approved_online"), "{text}");
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("built-in TEST host"),
        "says it uses the test host: {err}"
    );
    lamina()
        .args(["terminal", "pay", "--card", "test", "--amount", "12.345"])
        .assert()
        .code(2);
}

/// The shipped terminal configurations are built in: `terminal pay` and `tap`
/// work from any directory, and a `--config` that names one (as the docs
/// write it) finds the built-in copy when no such file is there.
#[test]
fn terminal_configurations_are_built_in() {
    let dir = tempfile::tempdir().unwrap();
    for config in [None, Some("terminals/retail.toml"), Some("offline")] {
        let mut cmd = lamina();
        cmd.current_dir(dir.path()).args([
            "terminal", "pay", "--card", "test:cda", "--amount", "5.00", "--pin", "1234", "--json",
        ]);
        if let Some(c) = config {
            cmd.args(["--config", c]);
        }
        cmd.assert().success();
    }
    let out = lamina()
        .current_dir(dir.path())
        .args(["terminal", "pay", "--card", "test", "--amount", "5.00"])
        .args(["--config", "nowhere.toml"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("not a built-in configuration"), "{err}");
}

#[test]
fn card_issue_then_apdu_and_state() {
    let dir = tempfile::tempdir().unwrap();
    lamina()
        .args([
            "card",
            "issue",
            "--profile",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/debit.toml"),
            "--count",
            "1",
            "--seed",
            "7",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let chip = std::fs::read_dir(dir.path().join("cards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".card.json"))
        .expect("a chip image");
    let out = lamina()
        .args(["card", "apdu", "--json"])
        .arg(&chip)
        .arg("00A404000E315041592E5359532E444446303100")
        .args((1..=8).map(|r| format!("00B2{r:02X}0C00")))
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let sws: Vec<&str> = v["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["sw"].as_str().unwrap())
        .collect();
    // SELECT PSE, then directory records until "record not found"
    assert_eq!(sws[0], "9000");
    assert_eq!(sws[1], "9000");
    assert_eq!(sws[8], "6A83", "{sws:?}");
    let out = lamina()
        .args(["card", "state", "--json"])
        .arg(&chip)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("\"atc\""), "{text}");
    assert!(!text.contains("key.ac"), "keys must not be shown: {text}");
    // records hold the PAN: the state shows their sizes only
    assert!(text.contains("bytes)"), "{text}");

    // `card apdu` masks the PAN everywhere, the raw response hex included,
    // unless --reveal-pan.
    let read = |reveal: bool| {
        let mut cmd = lamina();
        cmd.args(["card", "apdu", "--json", "--no-save"])
            .arg(&chip)
            .arg("00A4040009F04C414D494E41450100")
            .args((1..=4).flat_map(|sfi| {
                (1..=3).map(move |r| format!("00B2{r:02X}{:02X}00", (sfi << 3) | 4))
            }));
        if reveal {
            cmd.arg("--reveal-pan");
        }
        String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
    };
    let revealed = read(true);
    let masked = read(false);
    let v: serde_json::Value = serde_json::from_str(&revealed).unwrap();
    let pan = v["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["response"].as_str())
        .find_map(|r| r.split_once("5A08").map(|(_, rest)| rest[..16].to_owned()))
        .expect("a record with the PAN (5A)");
    assert!(
        !masked.contains(&pan),
        "full PAN in card apdu --json: {masked}"
    );
    assert!(
        masked.contains(&format!("{}******{}", &pan[..6], &pan[12..])),
        "{masked}"
    );
}

/// A command that reads a database never creates one: `host check-ledger` on a
/// file that is not there fails naming it, and the file is still not there.
#[test]
fn check_ledger_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nonexistent.db");
    let url = format!("sqlite://{}", db.display());
    let out = lamina()
        .args(["host", "check-ledger", "--db", &url])
        .assert()
        .failure();
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("nonexistent.db"), "{err}");
    assert!(!db.exists(), "check-ledger created {}", db.display());
}

/// `terminal pay --host` against a host that is not there: the terminal says it
/// could not reach it and exits 1 (no silent offline approval).
#[test]
fn terminal_pay_with_an_unreachable_host_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = lamina()
        .args([
            "terminal", "pay", "--card", "test", "--amount", "12.50", "--pin", "1234",
        ])
        .args(["--host", &format!("127.0.0.1:{port}")])
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../terminals/retail.toml"),
        ])
        .assert()
        .code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("connecting to the host"), "{err}");
}

mod debugtext;

/// What the everyday commands print (text and JSON) holds no Rust debug
/// formatting: EMV's names (messages "ENTER PIN", outcome "approved_online",
/// cryptogram types "ARQC", CID as hex).
#[test]
fn command_outputs_have_no_debug_formatting() {
    let runs: &[&[&str]] = &[
        &[
            "terminal", "pay", "--card", "test:cda", "--amount", "5.00", "--pin", "1234",
        ],
        &[
            "terminal", "pay", "--card", "test:cda", "--amount", "5.00", "--pin", "1234", "--json",
        ],
        &[
            "terminal",
            "pay",
            "--card",
            "test",
            "--amount",
            "5.00",
            "--offline",
            "--pin",
            "1234",
        ],
        &["tlv", "decode", FCI],
        &["tlv", "decode", "--json", FCI],
        &["apdu", "decode", "00A404000E315041592E5359532E444446303100"],
        &[
            "apdu",
            "decode",
            "--json",
            "00A404000E315041592E5359532E444446303100",
        ],
        &["crypto", "cvns"],
    ];
    let allowed = [
        "DejaVu",
        "SQLite",
        "PostgreSQL",
        "MasterCard",
        "APDUs",
        "AIDs",
        "CAPKs",
    ];
    for args in runs {
        let out = lamina().args(*args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let bad = debugtext::debug_text(&text, &allowed);
        assert!(bad.is_empty(), "lamina {}: {bad:?}\n{text}", args.join(" "));
    }
}

/// Host CLI refusals name the thing and the fix: an unknown account, a card
/// issued twice, a key file that is not there.
#[test]
fn host_cli_errors_name_the_thing_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    lamina()
        .args(["host", "init-keys", "--out"])
        .arg(&keys)
        .assert()
        .success();
    let out = lamina()
        .args([
            "host",
            "add-account",
            "--json",
            "--db",
            &db,
            "--name",
            "Alice",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let account = v["id"].as_str().unwrap().to_owned();
    let issue = |account: &str, keys: &std::path::Path| {
        let out = lamina()
            .args(["host", "issue-card", "--db", &db, "--keys"])
            .arg(keys)
            .args([
                "--pan",
                "5413330089600010",
                "--expiry",
                "3012",
                "--account",
                account,
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(issue(&account, &keys).0, Some(0));
    let (code, err) = issue(&account, &keys);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("541333******0010 PSN 00 is already issued"),
        "{err}"
    );
    assert_eq!(err.matches("UNIQUE").count(), 0, "{err}");
    let (code, err) = issue("acc_nope", &keys);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("acc_nope does not exist") && err.contains("add-account"),
        "{err}"
    );
    let missing = dir.path().join("nokeys.json");
    let (_, err) = issue(&account, &missing);
    assert!(
        err.contains("nokeys.json") && err.contains("init-keys"),
        "{err}"
    );
}
