//! Shared fixtures: a store per backend, keys, a fixed clock, the ledger check.

use lamina_host::ledger;
use lamina_host::store::Store;

/// A fresh SQLite file store in its own temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

/// Asserts every ledger invariant.
pub async fn assert_ledger_ok(store: &Store) {
    let report = ledger::check_ledger(store).await.unwrap();
    assert!(report.ok(), "ledger check failed: {report:?}");
}

/// Runs `body` against SQLite and against a fresh PostgreSQL database.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = $crate::common::sqlite_store().await;
                $body(store.clone()).await;
                $crate::common::assert_ledger_ok(&store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let url = $crate::pg::fresh_database(stringify!($name)).await;
                let store = lamina_host::store::Store::connect(&url).await.unwrap();
                $body(store.clone()).await;
                $crate::common::assert_ledger_ok(&store).await;
            }
        }
    };
}

use std::sync::Arc;

use lamina_crypto::emv::Cvn;
use lamina_crypto::sym::SecretKey;
use lamina_host::cards::{self, Card, NewCard};
use lamina_host::clock::FixedClock;
use lamina_host::issuer::{AuthRequest, Issuer, RequestKind, TxnKey};
use lamina_host::keys::{HostKeys, IssuerKeySet, KeyFile};
use lamina_host::ledger::{Account, NewAccount};
use lamina_host::sim::SimCard;

/// Fixed test keys (values are arbitrary test keys, not production keys).
pub fn key_file() -> KeyFile {
    let mut issuer = std::collections::BTreeMap::new();
    issuer.insert(
        "default".to_string(),
        IssuerKeySet {
            imk_ac: "0123456789ABCDEFFEDCBA9876543210".into(),
            imk_smi: Some("11111111111111112222222222222222".into()),
            imk_smc: Some("33333333333333334444444444444444".into()),
        },
    );
    KeyFile {
        pan_lookup: "00".repeat(32),
        pan_encryption: "01".repeat(32),
        issuer,
        // ANSI X9.24-1:2009 Annex A test BDK.
        bdk: Some("0123456789ABCDEFFEDCBA9876543210".into()),
        pvk: Some("0123456789ABCDEFFEDCBA9876543210".into()),
        admin_tokens: vec!["admin-token".into()],
        read_tokens: vec!["read-token".into()],
    }
}

pub fn imk_ac() -> SecretKey {
    SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap()
}

/// 2026-11-25T10:00:00Z.
pub const NOW: i64 = 1_795_600_800_000;

pub struct Fixture {
    pub issuer: Issuer,
    pub clock: FixedClock,
    pub account: Account,
    pub card: Card,
    pub sim: SimCard,
    pub stan: u32,
}

pub async fn fixture(store: Store, balance: i64) -> Fixture {
    fixture_with(store, balance, 0, 0, Cvn::EmvCcd).await
}

pub async fn fixture_with(
    store: Store,
    balance: i64,
    daily_amount: i64,
    daily_count: i64,
    cvn: Cvn,
) -> Fixture {
    let keys = Arc::new(HostKeys::from_file(&key_file()).unwrap());
    let clock = FixedClock::new(NOW);
    let account = ledger::create_account(
        &store,
        &NewAccount {
            name: "Alice".into(),
            currency: "978".into(),
            credit_limit: 0,
            opening_balance: balance,
            daily_amount_limit: daily_amount,
            daily_count_limit: daily_count,
        },
        NOW,
    )
    .await
    .unwrap();
    let pan = "5413330089600010";
    let pvv = lamina_crypto::pvv::visa_pvv(
        &SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap(),
        &lamina_crypto::pin::Pan::new(pan).unwrap(),
        1,
        &lamina_crypto::pin::Pin::new("1234").unwrap(),
    )
    .unwrap();
    let card = cards::issue_card(
        &store,
        &keys,
        &NewCard {
            pan: pan.into(),
            psn: 1,
            expiry: "2812".into(),
            account_id: account.id.clone(),
            cvn,
            key_ref: "default".into(),
            pvv: Some((1, String::from_utf8(pvv.to_vec()).unwrap())),
            pin_try_limit: 3,
        },
        NOW,
    )
    .await
    .unwrap();
    let sim = SimCard::new(pan, 1, "2812", cvn, &imk_ac()).unwrap();
    let issuer = Issuer::new(store, keys, Arc::new(clock.clone()));
    Fixture {
        issuer,
        clock,
        account,
        card,
        sim,
        stan: 0,
    }
}

impl Fixture {
    /// Sends a fresh chip request.
    pub async fn go(
        &mut self,
        kind: RequestKind,
        amount: i64,
    ) -> lamina_host::issuer::AuthResponse {
        let req = self.request(kind, amount);
        self.issuer.authorize(req).await.unwrap()
    }

    pub fn key(&mut self) -> TxnKey {
        self.stan += 1;
        TxnKey {
            acquirer: "12345".into(),
            terminal: "TERM0001".into(),
            stan: format!("{:06}", self.stan),
            transmission: "1125100000".into(),
        }
    }

    /// A chip request with a valid ARQC.
    pub fn request(&mut self, kind: RequestKind, amount: i64) -> AuthRequest {
        let icc = self
            .sim
            .arqc_field55(amount as u64, 978, [0x26, 0x11, 0x25], [1, 2, 3, 4])
            .unwrap();
        self.request_with_icc(kind, amount, icc)
    }

    pub fn request_with_icc(
        &mut self,
        kind: RequestKind,
        amount: i64,
        icc: Vec<u8>,
    ) -> AuthRequest {
        AuthRequest {
            kind,
            mti: match kind {
                RequestKind::Authorization => "0100",
                RequestKind::Financial => "0200",
                RequestKind::Completion => "0220",
                RequestKind::Reversal => "0400",
            }
            .into(),
            key: self.key(),
            merchant: "MERCHANT0000001".into(),
            rrn: "000000000001".into(),
            pan: Some(self.sim.pan.clone()),
            psn: Some(1),
            expiry: None,
            processing_code: "000000".into(),
            amount,
            currency: "978".into(),
            icc,
            pin: None,
            partial_allowed: false,
            original: None,
            replacement_amount: None,
        }
    }

    /// A follow-up (completion or reversal) referring to `original`.
    pub fn follow_up(
        &mut self,
        kind: RequestKind,
        original: &AuthRequest,
        amount: i64,
    ) -> AuthRequest {
        let mut r = self.request_with_icc(kind, amount, vec![]);
        r.pan = None;
        r.psn = None;
        r.original = Some((original.key.stan.clone(), original.key.transmission.clone()));
        r
    }

    pub async fn account(&self) -> Account {
        let mut conn = self.issuer.store().pool().acquire().await.unwrap();
        ledger::get_account(&mut conn, &self.account.id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn card(&self) -> Card {
        let mut conn = self.issuer.store().pool().acquire().await.unwrap();
        cards::get_card(&mut conn, &self.card.id)
            .await
            .unwrap()
            .unwrap()
    }
}
