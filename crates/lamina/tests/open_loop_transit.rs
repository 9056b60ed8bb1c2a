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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;
use lamina_crypto::emv::Cvn;
use lamina_crypto::pki::Date;
use lamina_host::cards::{self, NewCard};
use lamina_host::keys::{HostKeys, IssuerKeySet, KeyFile};
use lamina_host::ledger::{self, NewAccount};
use lamina_host::store::Store;
use lamina_perso::issuer::{InitOptions, Issuer};
use lamina_perso::keystore::Protection;
use lamina_perso::prepare::{CardRequest, prepare_card};
use lamina_perso::profile::Profile;
use serde_json::Value;
use zeroize::Zeroizing;

/// 2026-11-25 08:00 UTC (09:00 local time of the demo fare table).
const T0: u32 = 1_795_564_800 + 8 * 3600;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn lamina() -> Command {
    Command::cargo_bin("lamina").unwrap()
}

/// The issuer, the host and its store, on a runtime that keeps serving while
/// the test runs the command.
struct Host {
    runtime: tokio::runtime::Runtime,
    store: Store,
    addr: String,
    keys: Arc<HostKeys>,
    issuer: Issuer,
    dir: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn hexs(b: &[u8]) -> String {
    hex::encode_upper(b)
}

impl Host {
    fn start(dir: &Path) -> Host {
        let mut rng = lamina_perso::util::seeded_rng(Some(7));
        let today = Date::new(2026, 11, 25).unwrap();
        let issuer = lamina_perso::issuer::init(&mut rng, &InitOptions::new(today)).unwrap();
        issuer
            .save(
                &dir.join("issuer"),
                &Protection::InsecurePlaintext,
                &mut rng,
            )
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = dir.join("host.db");
        let store = runtime
            .block_on(Store::connect(&format!("sqlite://{}", db.display())))
            .unwrap();
        let k = &issuer.keys;
        let mut sets = std::collections::BTreeMap::new();
        sets.insert(
            "default".to_string(),
            IssuerKeySet {
                imk_ac: hexs(k.mk_ac.expose()),
                imk_smi: Some(hexs(k.mk_smi.expose())),
                imk_smc: Some(hexs(k.mk_smc.expose())),
            },
        );
        let keys = Arc::new(
            HostKeys::from_file(&KeyFile {
                pan_lookup: hexs(k.pan_token_key.expose()),
                pan_encryption: hexs(k.pan_enc_key.expose()),
                issuer: sets,
                bdk: Some(hexs(k.bdk.expose())),
                pvk: Some(hexs(k.pvk.expose())),
                admin_tokens: vec![],
                read_tokens: vec![],
            })
            .unwrap(),
        );
        let clock = lamina_host::clock::FixedClock::new(i64::from(T0) * 1000);
        let state = lamina_host::server::ServerState {
            issuer: lamina_host::issuer::Issuer::new(
                store.clone(),
                Arc::clone(&keys),
                Arc::new(clock),
            ),
            metrics: Arc::new(lamina_host::metrics::Metrics::default()),
            config: lamina_host::server::ServerConfig::default(),
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(lamina_host::server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        Host {
            runtime,
            store,
            addr,
            keys,
            issuer,
            dir: dir.to_path_buf(),
            _stop: tx,
        }
    }

    /// Issues a card from `profile_toml` (bureau data preparation, chip
    /// personalization through `lamina card personalize`) on a new account
    /// with `balance`; returns the chip image, the account id and the PAN.
    fn issue(&self, name: &str, profile_toml: &str, balance: i64) -> (PathBuf, String, String) {
        let mut rng = lamina_perso::util::seeded_rng(Some(name.len() as u64 + 11));
        let today = Date::new(2026, 11, 25).unwrap();
        let profile = Profile::from_toml(profile_toml).unwrap();
        let req = CardRequest {
            pin: Some(Zeroizing::new("1234".to_string())),
            ..CardRequest::default()
        };
        let issued = prepare_card(&self.issuer, &profile, &req, today, &mut rng).unwrap();
        let out = self.dir.join(name);
        for sub in ["cards", "scripts", "pin-mailers", "faces"] {
            std::fs::create_dir_all(out.join(sub)).unwrap();
        }
        lamina_perso::batch::write_card(&out, &issued, false).unwrap();
        let img = out
            .join("cards")
            .join(format!("{}.img", issued.card.card_id));
        let chip = out.join("chip.json");
        lamina()
            .args(["card", "personalize"])
            .arg(&img)
            .arg("--out")
            .arg(&chip)
            .assert()
            .success();
        let rec = &issued.record;
        let now_ms = i64::from(T0) * 1000;
        let account = self
            .runtime
            .block_on(ledger::create_account(
                &self.store,
                &NewAccount {
                    name: rec.cardholder.clone(),
                    currency: "978".into(),
                    credit_limit: 0,
                    opening_balance: balance,
                    daily_amount_limit: 0,
                    daily_count_limit: 0,
                },
                now_ms,
            ))
            .unwrap();
        self.runtime
            .block_on(cards::issue_card(
                &self.store,
                &self.keys,
                &NewCard {
                    pan: issued.card.pan().unwrap(),
                    psn: rec.psn,
                    expiry: rec.expiry.clone(),
                    account_id: account.id.clone(),
                    cvn: lamina_host::cards::parse_cvn(&rec.cvn).unwrap_or(Cvn::EmvCcd),
                    key_ref: "default".into(),
                    pvv: rec.pvki.zip(rec.pvv.clone()),
                    pin_try_limit: 3,
                },
                now_ms,
            ))
            .unwrap();
        (chip, account.id, issued.card.pan().unwrap())
    }

    /// (ledger balance, held) of an account.
    fn account(&self, id: &str) -> (i64, i64) {
        self.runtime.block_on(async {
            let mut conn = self.store.pool().acquire().await.unwrap();
            let a = ledger::get_account(&mut conn, id).await.unwrap().unwrap();
            (a.ledger_balance, a.held)
        })
    }
}

/// The debit profile without its closed-loop applications: an EMV-only card
/// (contactless, CDA).
fn emv_only_profile() -> String {
    let debit = std::fs::read_to_string(repo("profiles/debit.toml")).unwrap();
    let cut = debit.find("[[extra]]").unwrap();
    // Drop the comment block just above the first [[extra]] too.
    let head = &debit[..cut];
    head.rfind("\n\n")
        .map_or(head, |i| &head[..i + 1])
        .to_owned()
}

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
    assert_eq!(ol["kernel_outcome"], "ApprovedOnline", "{v:#}");
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
        attempts.contains("transit") && attempts.contains("not on the card"),
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
