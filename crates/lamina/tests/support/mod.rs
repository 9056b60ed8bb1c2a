//! Shared by the binary tests that need a real host: an issuer made by the bureau,
//! the host on SQLite on a loopback port (its own runtime keeps serving while the test
//! runs `lamina` commands), and cards issued by the bureau, personalized through
//! `lamina card personalize` and registered at the host.
#![allow(dead_code)] // each test file uses its own part
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
use zeroize::Zeroizing;

/// 2026-11-25 08:00 UTC (09:00 local time of the demo fare table).
pub const T0: u32 = 1_795_564_800 + 8 * 3600;

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

pub fn lamina() -> Command {
    Command::cargo_bin("lamina").unwrap()
}

/// The issuer, the host and its store, on a runtime that keeps serving while
/// the test runs the command.
pub struct Host {
    pub runtime: tokio::runtime::Runtime,
    pub store: Store,
    pub addr: String,
    pub keys: Arc<HostKeys>,
    pub issuer: Issuer,
    pub dir: PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn hexs(b: &[u8]) -> String {
    hex::encode_upper(b)
}

impl Host {
    pub fn start(dir: &Path) -> Host {
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
    pub fn issue(&self, name: &str, profile_toml: &str, balance: i64) -> (PathBuf, String, String) {
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
    pub fn account(&self, id: &str) -> (i64, i64) {
        self.runtime.block_on(async {
            let mut conn = self.store.pool().acquire().await.unwrap();
            let a = ledger::get_account(&mut conn, id).await.unwrap().unwrap();
            (a.ledger_balance, a.held)
        })
    }
}

/// The debit profile without its closed-loop applications: an EMV-only card
/// (contactless, CDA).
pub fn emv_only_profile() -> String {
    let debit = std::fs::read_to_string(repo("profiles/debit.toml")).unwrap();
    let cut = debit.find("[[extra]]").unwrap();
    // Drop the comment block just above the first [[extra]] too.
    let head = &debit[..cut];
    head.rfind("\n\n")
        .map_or(head, |i| &head[..i + 1])
        .to_owned()
}
