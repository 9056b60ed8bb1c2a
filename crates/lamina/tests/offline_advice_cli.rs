//! Offline approvals reported by the CLI terminals: cards issued by the bureau
//! (issuer keys, data preparation, chip personalization), the host on SQLite on
//! a loopback port, and `lamina terminal pay --host …` (contact) and `lamina
//! terminal tap --profile vending|retail --host …` (contactless) approving a
//! purchase under the floor limit offline (TC) and uploading its advice (0220)
//! at once.
//!
//! Checked at the host: the purchase posted once to the cardholder's account
//! (one `offline_advice` transaction, the balance down by the amount), the
//! ledger balanced (`lamina host check-ledger`); at the terminal: the advice
//! report (masked PAN only); without `--host`: the advice stays queued and the
//! host sees nothing.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use lamina_host::ledger;
use serde_json::Value;
use support::{Host, T0, emv_only_profile, lamina, repo};

impl Host {
    /// The account's postings of offline purchases (memo "offline purchase"):
    /// (amount, transaction id).
    fn offline_postings(&self, account: &str) -> Vec<(i64, Option<String>)> {
        self.runtime
            .block_on(ledger::postings(&self.store, account))
            .unwrap()
            .into_iter()
            .filter(|p| p.memo == "offline purchase")
            .map(|p| (p.amount, p.transaction_id))
            .collect()
    }

    fn capk(&self) -> PathBuf {
        self.dir
            .join("issuer")
            .join(lamina_perso::issuer::CAPK_FILE)
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.dir.join("host.db").display())
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `lamina host check-ledger` on the host's database: balanced.
fn ledger_checks(host: &Host) {
    let out = lamina()
        .args(["host", "check-ledger", "--json", "--db", &host.db()])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["ok"], true, "{v:#}");
}

/// `lamina terminal pay` with the bureau's CA keys, PIN 1234, JSON output.
///
/// The terminal is the shipped retail one without random transaction selection
/// (Book 3 §10.6.2): with it, a purchase under the floor limit goes online 5 %
/// of the time, and the offline approvals these tests count would be chance.
fn pay(card: &Path, capk: &Path, amount: &str, host: Option<&str>) -> Value {
    let dir = card.parent().unwrap();
    let retail = std::fs::read_to_string(repo("terminals/retail.toml"))
        .unwrap()
        .replace("target_percent = 5", "target_percent = 0")
        .replace("max_target_percent = 25", "max_target_percent = 0");
    assert!(
        retail.contains("max_target_percent = 0"),
        "retail.toml changed"
    );
    let config = dir.join("retail-no-random.toml");
    std::fs::write(&config, retail).unwrap();
    std::fs::copy(repo("terminals/capk-test.toml"), dir.join("capk-test.toml")).unwrap();
    let mut cmd = lamina();
    cmd.args(["terminal", "pay", "--card", s(card), "--amount", amount])
        .args(["--pin", "1234", "--json", "--save", "--capk", s(capk)])
        .arg("--config")
        .arg(&config);
    if let Some(h) = host {
        cmd.args(["--host", h]);
    }
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn contact_offline_approval_is_posted_once_through_the_terminal_link() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let debit = std::fs::read_to_string(repo("profiles/debit.toml")).unwrap();
    let (card, account, pan) = host.issue("alice", &debit, 10_000);

    // A new card (Last Online ATC Register zero) exceeds the consecutive offline
    // limits (Book 3 §10.6.3): its first purchase goes online (a 0100 hold),
    // which resets the card's offline counters.
    let v = pay(&card, &host.capk(), "5.00", Some(&host.addr));
    assert_eq!(v["result"]["outcome"], "approved_online", "{v:#}");
    assert_eq!(v["advice"], Value::Null, "{v:#}");
    assert_eq!(host.account(&account), (10_000, 500));

    // The next one, under the floor limit, is approved offline (TC) and the
    // terminal reports it at once over its link.
    let v = pay(&card, &host.capk(), "7.00", Some(&host.addr));
    assert_eq!(v["result"]["outcome"], "approved_offline", "{v:#}");
    assert_eq!(v["result"]["offline_advice"]["pan"], v["advice"]["pan"]);
    let adv = &v["advice"];
    assert_eq!(adv["status"], "posted", "{v:#}");
    assert_eq!(adv["response_code"], "00");
    assert_eq!(adv["messages"], serde_json::json!(["0220"]));
    assert_eq!(adv["amount"], 700);
    assert_eq!(adv["arc"], "Y1");
    let masked = format!("{}******{}", &pan[..6], &pan[pan.len() - 4..]);
    assert_eq!(adv["pan"], masked.as_str());
    assert!(!v.to_string().contains(&pan), "no PAN in the output");

    // Posted once: one offline purchase, the balance down by 7.00 (the first
    // purchase's hold stays until its capture).
    assert_eq!(host.account(&account), (10_000 - 700, 500));
    let posted = host.offline_postings(&account);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].0, -700);
    ledger_checks(&host);

    // Without --host (the test host double): the advice is shown, not sent.
    let out = lamina()
        .args(["terminal", "pay", "--card", s(&card), "--amount", "3.00"])
        .args(["--pin", "1234", "--capk", s(&host.capk())])
        .arg("--config")
        .arg(card.parent().unwrap().join("retail-no-random.toml"))
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("Outcome:      Approved offline"), "{text}");
    assert!(
        text.contains("advice queued (no --host: test host double)"),
        "{text}"
    );
    assert!(text.contains(&masked) && !text.contains(&pan), "{text}");
    assert_eq!(host.account(&account), (10_000 - 700, 500));
}

/// `lamina terminal tap --profile vending|retail` with the bureau's CA keys, JSON.
fn tap(host: &Host, profile: &str, card: &Path, amount: u32, with_host: bool) -> Value {
    let mut cmd = lamina();
    cmd.args(["terminal", "tap", "--card", s(card), "--profile", profile])
        .args(["--station", "7", "--amount", &amount.to_string()])
        .args(["--time", &T0.to_string(), "--json"])
        .arg("--capk")
        .arg(host.capk())
        .arg("--reader-config")
        .arg(repo("terminals/retail-contactless.toml"));
    if with_host {
        cmd.args(["--host", &host.addr]);
    }
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn vending_offline_approval_is_posted_once_with_host_and_queued_without() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path());
    let (card, account, pan) = host.issue("bob", &emv_only_profile(), 5_000);
    // A new card asks to go online (card risk management): one online purchase
    // at a contact terminal first.
    let v = pay(&card, &host.capk(), "1.00", Some(&host.addr));
    assert_eq!(v["result"]["outcome"], "approved_online", "{v:#}");

    let v = tap(&host, "vending", &card, 250, true);
    assert!(v["paid_with"].is_string(), "{v:#}");
    let adv = &v["advice"];
    assert_eq!(adv["status"], "posted", "{v:#}");
    assert_eq!(adv["messages"], serde_json::json!(["0220"]));
    assert_eq!(adv["amount"], 250);
    assert!(!v.to_string().contains(&pan), "no PAN in the output");
    // The contact purchase's hold (1.00) stays until its capture.
    assert_eq!(host.account(&account), (5_000 - 250, 100));
    assert_eq!(
        host.offline_postings(&account),
        [(-250, adv_txn(&host, &account))]
    );

    // Without --host: approved offline all the same, the advice stays queued
    // and the host sees nothing.
    let out = lamina()
        .args([
            "terminal",
            "tap",
            "--card",
            s(&card),
            "--profile",
            "vending",
        ])
        .args(["--station", "7", "--amount", "300"])
        .args(["--time", &(T0 + 60).to_string()])
        .arg("--capk")
        .arg(host.capk())
        .arg("--reader-config")
        .arg(repo("terminals/retail-contactless.toml"))
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("VEND"), "{text}");
    assert!(text.contains("advice queued (no host)"), "{text}");
    assert!(!text.contains(&pan), "{text}");
    assert_eq!(host.account(&account), (5_000 - 250, 100));

    // The retail counter: an EMV-only card pays by EMV, its advice posted.
    let v = tap(&host, "retail", &card, 120, true);
    assert_eq!(v["application"]["kind"], "emv", "{v:#}");
    assert_eq!(v["advice"]["status"], "posted", "{v:#}");
    assert_eq!(v["advice"]["amount"], 120, "{v:#}");
    assert_eq!(host.account(&account), (5_000 - 250 - 120, 100));
    let amounts: Vec<i64> = host
        .offline_postings(&account)
        .iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(amounts, [-250, -120]);
    ledger_checks(&host);
}

/// The transaction id of the account's only offline posting.
fn adv_txn(host: &Host, account: &str) -> Option<String> {
    let p = host.offline_postings(account);
    assert_eq!(p.len(), 1, "{p:?}");
    p[0].1.clone()
}
