//! Runs the `lamina` binary's closed-loop commands (`terminal tap`, `card purse`,
//! `loyalty`) against a chip image with purse, loyalty, transit and parking,
//! built with the demo scheme keys.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use lamina_closedloop::CardId;
use lamina_closedloop::install::test_card;
use serde_json::Value;

/// 2026-11-25 08:00 UTC.
const T0: u32 = 1_795_564_800 + 8 * 3600;

fn lamina() -> Command {
    Command::cargo_bin("lamina").unwrap()
}

fn chip(dir: &Path) -> PathBuf {
    let card = test_card(CardId::from_u64(0x4C41_4D00_0000_0042), 3).unwrap();
    let path = dir.join("chip.json");
    std::fs::write(&path, card.save_image()).unwrap();
    path
}

fn run_json(args: &[&str]) -> Value {
    let out = lamina().args(args).arg("--json").assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // Every command reports the radio and processing time of its tap.
    let t = &v["timing"];
    assert!(t["radio_ms"].as_f64().unwrap() > 0.0, "{v}");
    assert!(t["processing_ms"].as_f64().unwrap() >= 0.0, "{v}");
    assert!(t["apdus"].as_u64().unwrap() >= 2, "{v}");
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn time(t: u32) -> String {
    t.to_string()
}

fn gate(card: &Path, station: u16, dir: &str, t: u32) -> Value {
    run_json(&[
        "terminal",
        "tap",
        "--card",
        s(card),
        "--profile",
        "transit-gate",
        "--station",
        &station.to_string(),
        "--direction",
        dir,
        "--time",
        &time(t),
    ])
}

fn balance(card: &Path) -> u64 {
    run_json(&["card", "purse", "balance", s(card)])["balance"]
        .as_u64()
        .unwrap()
}

#[test]
fn purse_load_then_balance_and_text_output() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    assert_eq!(balance(&card), 0);
    let v = run_json(&[
        "card",
        "purse",
        "load",
        s(&card),
        "--amount",
        "2000",
        "--time",
        &time(T0),
    ]);
    assert_eq!(v["balance"], 2000);
    assert_eq!(v["counter"], 1);
    assert_eq!(v["currency"], "0978");
    // saved back: the next command sees the load
    assert_eq!(balance(&card), 2000);
    // text output names the radio and processing time
    let out = lamina()
        .args(["card", "purse", "balance", s(&card), "--bit-rate", "424"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("balance 20.00"), "{text}");
    assert!(text.contains("at 424 kbit/s"), "{text}");
    assert!(text.contains("processing"), "{text}");
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("DEMO scheme keys"), "{err}");
}

#[test]
fn radio_time_falls_with_the_bit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    let r = |rate: &str| {
        run_json(&["card", "purse", "balance", s(&card), "--bit-rate", rate])["timing"]["radio_ms"]
            .as_f64()
            .unwrap()
    };
    let (r106, r848) = (r("106"), r("848"));
    assert!(r848 < r106, "106: {r106} ms, 848: {r848} ms");
}

#[test]
fn gate_in_out_charges_the_zone_fare_and_caps_the_day() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    run_json(&[
        "card",
        "purse",
        "load",
        s(&card),
        "--amount",
        "5000",
        "--time",
        &time(T0),
    ]);
    let mut t = T0 + 60;
    let mut total = 0;
    // Central (zone 1) → University (zone 2): 2.50 each time; the daily cap is 7.00.
    for i in 0..4 {
        let v = gate(&card, 1, "in", t);
        assert_eq!(v["open"], true, "{v}");
        assert_eq!(v["charged"], 0);
        assert_eq!(v["within_budget"], true, "{v}");
        t += 900;
        let v = gate(&card, 3, "out", t);
        assert_eq!(v["open"], true, "{v}");
        assert_eq!(v["uncapped"], 250, "{v}");
        let charged = v["charged"].as_u64().unwrap();
        if i < 2 {
            assert_eq!(charged, 250, "{v}");
        }
        total += charged;
        assert_eq!(v["balance"].as_u64().unwrap(), 5000 - total, "{v}");
        t += 4000; // beyond the transfer window: a new journey
    }
    assert_eq!(total, 700, "capped at 7.00");
    assert_eq!(balance(&card), 5000 - 700);
}

#[test]
fn gate_refuses_an_empty_purse() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    let v = gate(&card, 1, "in", T0);
    assert_eq!(v["open"], false, "{v}");
    assert!(
        v["refusal"].as_str().unwrap().contains("Insufficient"),
        "{v}"
    );
}

#[test]
fn parking_entry_and_exit_pay_from_the_purse() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    run_json(&[
        "card",
        "purse",
        "load",
        s(&card),
        "--amount",
        "3000",
        "--time",
        &time(T0),
    ]);
    let tap = |dir: &str, t: u32| {
        run_json(&[
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "parking-gate",
            "--station",
            "7",
            "--direction",
            dir,
            "--time",
            &time(t),
            "--bit-rate",
            "212",
        ])
    };
    let v = tap("in", T0 + 100);
    assert_eq!(v["outcome"], "TICKET WRITTEN", "{v}");
    assert_eq!(v["timing"]["bit_rate_kbps"], 212);
    // 2 h: the 3 h band, 6.00
    let v = tap("out", T0 + 100 + 7200);
    assert_eq!(v["outcome"], "PAID, BARRIER UP", "{v}");
    assert_eq!(v["fee"], 600);
    assert_eq!(v["minutes"], 120);
    assert_eq!(v["balance"], 2400);
    // no ticket any more
    let v = tap("out", T0 + 9000);
    assert_eq!(v["outcome"], "NO TICKET: ATTENDANT", "{v}");
    assert_eq!(balance(&card), 2400);
}

#[test]
fn loyalty_earn_redeem_balance_and_retail_tap() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    let v = run_json(&[
        "loyalty",
        "earn",
        s(&card),
        "--amount",
        "2599",
        "--time",
        &time(T0),
    ]);
    assert_eq!(v["points"], 25);
    assert_eq!(v["balance"], 25);
    let v = run_json(&[
        "loyalty",
        "redeem",
        s(&card),
        "--points",
        "10",
        "--time",
        &time(T0 + 60),
    ]);
    assert_eq!(v["points"], 10);
    assert_eq!(v["value"], 10);
    assert_eq!(v["balance"], 15);
    let v = run_json(&["loyalty", "balance", s(&card), "--time", &time(T0 + 120)]);
    assert_eq!(v["balance"], 15);
    // Redeeming more than held is refused: exit 2, nothing changes.
    lamina()
        .args([
            "loyalty",
            "redeem",
            s(&card),
            "--points",
            "100",
            "--time",
            &time(T0 + 180),
        ])
        .assert()
        .code(2);
    // A retail tap pays from the purse and earns points in the same tap.
    run_json(&[
        "card",
        "purse",
        "load",
        s(&card),
        "--amount",
        "1000",
        "--time",
        &time(T0),
    ]);
    let v = run_json(&[
        "terminal",
        "tap",
        "--card",
        s(&card),
        "--profile",
        "retail",
        "--station",
        "1",
        "--amount",
        "450",
        "--time",
        &time(T0 + 300),
    ]);
    assert_eq!(v["balance"], 550, "{v}");
    assert_eq!(v["points_earned"], 4, "{v}");
    assert_eq!(v["points_balance"], 19, "{v}");
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    let missing = dir.path().join("missing.json");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{ not a chip").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["card", "purse", "balance", s(&missing)],
        vec!["card", "purse", "balance", s(&junk)],
        vec!["card", "purse", "balance", s(&card), "--bit-rate", "300"],
        vec!["card", "purse", "load", s(&card), "--amount", "0"],
        // above the maximum balance (150.00): the card refuses
        vec!["card", "purse", "load", s(&card), "--amount", "20000"],
        vec![
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "transit-gate",
            "--station",
            "99",
        ],
        vec![
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "retail",
            "--station",
            "1",
        ],
        vec![
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "bus",
            "--station",
            "1",
        ],
        vec!["loyalty", "earn", s(&card), "--amount", "abc"],
    ];
    for args in cases {
        lamina().args(&args).assert().code(2);
    }
    // nothing was loaded by the refused commands
    assert_eq!(balance(&card), 0);
    // A refusal says what happened in words; the status word follows in brackets.
    let out = lamina()
        .args(["card", "purse", "load", s(&card), "--amount", "20000"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("maximum balance"), "{err}");
    assert!(
        err.contains("9402") && !err.contains("Proprietary or unknown"),
        "{err}"
    );
}

#[test]
fn a_card_without_closed_loop_applications_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let card = lamina_card::Card::new(lamina_card::Rom::new(), lamina_card::SeededRng::new(1));
    let path = dir.path().join("empty.json");
    std::fs::write(&path, card.save_image()).unwrap();
    lamina()
        .args(["card", "purse", "balance", s(&path)])
        .assert()
        .code(2);
}

/// A card freshly issued by the bureau from the prepaid profile (EMV + purse +
/// loyalty + transit + parking, each with the card's own keys) works at the
/// closed-loop terminals once personalized into a chip image.
#[test]
fn bureau_issued_prepaid_card_taps() {
    let dir = tempfile::tempdir().unwrap();
    lamina()
        .args([
            "card",
            "issue",
            "--profile",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../profiles/prepaid.toml"),
            "--count",
            "1",
            "--seed",
            "5",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let img = std::fs::read_dir(dir.path().join("cards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "img"))
        .expect("a bureau image");
    let chip = dir.path().join("issued.chip.json");
    lamina()
        .args(["card", "personalize"])
        .arg(&img)
        .arg("--out")
        .arg(&chip)
        .assert()
        .success();
    let v = run_json(&[
        "card",
        "purse",
        "load",
        s(&chip),
        "--amount",
        "1000",
        "--time",
        &time(T0),
    ]);
    assert_eq!(v["balance"], 1000);
    assert_eq!(v["max_balance"], 15000);
    assert_eq!(gate(&chip, 1, "in", T0 + 60)["open"], true);
    let v = gate(&chip, 2, "out", T0 + 900);
    assert_eq!(v["charged"], 180, "{v}");
    let v = run_json(&[
        "loyalty",
        "earn",
        s(&chip),
        "--amount",
        "300",
        "--time",
        &time(T0 + 1000),
    ]);
    assert_eq!(v["balance"], 3);
}

#[test]
fn vending_machine_selects_the_purse_and_refuses_when_nothing_can_pay() {
    let dir = tempfile::tempdir().unwrap();
    let card = chip(dir.path());
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../terminals/retail-contactless.toml"
    );
    // Empty purse: the machine tries it and does not vend.
    let v = run_json(&[
        "terminal",
        "tap",
        "--card",
        s(&card),
        "--profile",
        "vending",
        "--station",
        "9",
        "--amount",
        "150",
        "--reader-config",
        config,
    ]);
    assert_eq!(v["paid_with"], Value::Null, "{v}");
    assert_eq!(v["candidates"][0]["kind"], "purse", "{v}");
    // After a load the purse pays.
    run_json(&["card", "purse", "load", s(&card), "--amount", "1000"]);
    let v = run_json(&[
        "terminal",
        "tap",
        "--card",
        s(&card),
        "--profile",
        "vending",
        "--station",
        "9",
        "--amount",
        "150",
        "--reader-config",
        config,
    ]);
    assert!(v["paid_with"].as_str().unwrap().contains("PURSE"), "{v}");
    assert_eq!(balance(&card), 850);
    // No amount is a usage error.
    lamina()
        .args([
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "vending",
            "--station",
            "9",
        ])
        .assert()
        .code(2);
}
