//! The transit gate's EMV open-loop fare against a real host: cards issued by
//! the bureau (issuer keys, data preparation, chip personalization), the host on
//! SQLite on a loopback port, and the `lamina terminal tap --profile
//! transit-gate --host …` command tapping in and out.
//!
//! Checked at the host: the pre-authorization of the maximum fare at tap in,
//! the fare captured by the completion at tap out (the rest of the hold
//! released), the daily cap over several journeys (the capped journey's hold
//! released whole), the deny list after a decline; and at the gate, that a
//! card with a purse still pays from its purse (profile preference).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Host, T0, emv_only_profile, lamina, repo};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One gate tap with the acquirer link; JSON report.
fn gate(host: &Host, card: &Path, station: u16, dir: &str, t: u32) -> Value {
    let out = lamina()
        .args(["terminal", "tap", "--card", s(card)])
        .args([
            "--profile",
            "transit-gate",
            "--station",
            &station.to_string(),
        ])
        .args(["--direction", dir, "--time", &t.to_string(), "--json"])
        .args(["--host", &host.addr])
        .arg("--capk")
        .arg(
            host.dir
                .join("issuer")
                .join(lamina_perso::issuer::CAPK_FILE),
        )
        .arg("--reader-config")
        .arg(repo("terminals/transit-gate-contactless.toml"))
        .arg("--state")
        .arg(host.dir.join("gate-state.json"))
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn emv_card_rides_open_loop_with_fares_captured_and_the_daily_cap() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let (card, account, pan) = host.issue("alice", &emv_only_profile(), 10_000);
    assert_eq!(host.account(&account), (10_000, 0));

    // Tap in: the EMV application (the only one) is pre-authorized online for
    // the maximum fare, with CDA and no PIN.
    let v = gate(&host, &card, 1, "in", T0);
    assert_eq!(v["open"], true, "{v:#}");
    assert_eq!(v["application"]["kind"], "emv", "{v:#}");
    assert_eq!(v["balance"], Value::Null);
    let ol = &v["open_loop"];
    assert_eq!(ol["kernel_outcome"], "Approved online", "{v:#}");
    assert_eq!(ol["cda_verified"], true, "{v:#}");
    assert_eq!(ol["hold"], 450);
    assert_eq!(ol["response_code"], "00");
    let token = ol["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    assert_eq!(v["within_budget"], true, "{v:#}");
    assert_eq!(host.account(&account), (10_000, 450), "hold placed");

    // The gate's state file keeps the token, never the PAN.
    let state = std::fs::read_to_string(dir.path().join("gate-state.json")).unwrap();
    assert!(state.contains(&token));
    assert!(!state.contains(&pan), "no PAN in the state: {state}");
    assert!(!v.to_string().contains(&pan), "no PAN in the report");

    // Tap out in zone 2: 2.50 captured by the completion, the rest released.
    let v = gate(&host, &card, 3, "out", T0 + 1200);
    assert_eq!(v["open"], true, "{v:#}");
    assert_eq!(v["kind"], "Exit");
    assert_eq!(v["charged"], 250, "{v:#}");
    assert_eq!(v["open_loop"]["token"], token.as_str(), "same card token");
    assert_eq!(v["open_loop"]["settled"][0]["message"], "0220");
    assert_eq!(host.account(&account), (10_000 - 250, 0));

    // Three more journeys the same day: 2.50, then 2.00 up to the 7.00 cap,
    // then nothing (the hold is released whole by a reversal).
    let mut t = T0 + 7200;
    let mut charged = Vec::new();
    for _ in 0..3 {
        let v = gate(&host, &card, 1, "in", t);
        assert_eq!(v["open"], true, "{v:#}");
        assert_eq!(host.account(&account).1, 450, "one hold per journey");
        let v = gate(&host, &card, 3, "out", t + 1200);
        assert_eq!(v["open"], true, "{v:#}");
        assert_eq!(v["uncapped"], 250, "{v:#}");
        charged.push(v["charged"].as_u64().unwrap());
        t += 7200;
    }
    assert_eq!(charged, [250, 200, 0]);
    assert_eq!(v_last_message(&host, &card, t), "0400");
    assert_eq!(host.account(&account), (10_000 - 700, 0), "capped at 7.00");
}

/// Another capped journey: its tap out releases the hold with a reversal.
fn v_last_message(host: &Host, card: &Path, t: u32) -> String {
    gate(host, card, 1, "in", t);
    let v = gate(host, card, 3, "out", t + 600);
    assert_eq!(v["charged"], 0, "{v:#}");
    v["open_loop"]["settled"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn declined_card_is_deny_listed_and_refused_at_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    // The debit card: EMV plus a transit application but no purse, on an
    // empty account.
    let debit = std::fs::read_to_string(repo("profiles/debit.toml")).unwrap();
    let (card, account, _) = host.issue("bob", &debit, 0);
    let v = gate(&host, &card, 1, "in", T0);
    assert_eq!(v["open"], false, "{v:#}");
    // The transit application was tried first and could not pay (no purse).
    let attempts = v["attempts"].to_string();
    assert!(
        attempts.contains("this card has no purse application"),
        "{v:#}"
    );
    assert_eq!(v["application"]["kind"], "emv");
    let ol = &v["open_loop"];
    assert_ne!(ol["response_code"], "00", "{v:#}");
    assert_eq!(ol["deny_listed"], true, "{v:#}");
    assert_eq!(host.account(&account), (0, 0));
    // The next tap is refused at the gate without going online.
    let v = gate(&host, &card, 1, "in", T0 + 600);
    assert_eq!(v["open"], false, "{v:#}");
    assert_eq!(v["open_loop"]["response_code"], "05", "{v:#}");
    assert!(
        v["refusal"].as_str().unwrap().contains("deny list"),
        "{v:#}"
    );
}

#[test]
fn without_a_host_the_gate_refuses_open_loop_cards() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let (card, _, _) = host.issue("carol", &emv_only_profile(), 5_000);
    let out = lamina()
        .args(["terminal", "tap", "--card", s(&card)])
        .args(["--profile", "transit-gate", "--station", "1"])
        .args(["--time", &T0.to_string()])
        .assert()
        .code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("--host"), "{err}");
}

#[test]
fn a_card_with_a_purse_pays_from_the_purse_at_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let prepaid = std::fs::read_to_string(repo("profiles/prepaid.toml")).unwrap();
    let (card, account, _) = host.issue("dave", &prepaid, 5_000);
    lamina()
        .args(["card", "purse", "load", s(&card), "--amount", "1000"])
        .args(["--time", &T0.to_string()])
        .assert()
        .success();
    let v = gate(&host, &card, 1, "in", T0 + 60);
    assert_eq!(v["open"], true, "{v:#}");
    assert_eq!(v["application"]["kind"], "transit", "{v:#}");
    assert_eq!(v["open_loop"], Value::Null);
    let kinds: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    // The prepaid card's EMV application is contact only: not in the PPSE.
    assert_eq!(kinds, ["transit", "purse"]);
    let v = gate(&host, &card, 3, "out", T0 + 1200);
    assert_eq!(v["charged"], 250, "{v:#}");
    assert_eq!(v["balance"], 750, "{v:#}");
    // Nothing went to the host.
    assert_eq!(host.account(&account), (5_000, 0));
    // The text output names the application chosen.
    let out = lamina()
        .args(["terminal", "tap", "--card", s(&card)])
        .args(["--profile", "transit-gate", "--station", "2"])
        .args(["--time", &(T0 + 9000).to_string(), "--host", &host.addr])
        .arg("--state")
        .arg(host.dir.join("gate-state.json"))
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("GATE OPEN"), "{text}");
    assert!(
        text.contains("application: LAMINA TRANSIT (F04C414D494E415401, transit)"),
        "{text}"
    );
}

#[test]
fn tap_out_without_tap_in_authorizes_and_captures_the_maximum_fare() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let (card, account, _) = host.issue("erin", &emv_only_profile(), 10_000);
    let v = gate(&host, &card, 3, "out", T0);
    assert_eq!(v["open"], true, "{v:#}");
    assert_eq!(v["kind"], "ExitWithoutEntry", "{v:#}");
    assert_eq!(v["charged"], 450, "{v:#}");
    assert_eq!(v["open_loop"]["settled"][0]["message"], "0220", "{v:#}");
    assert_eq!(host.account(&account), (10_000 - 450, 0));
}
