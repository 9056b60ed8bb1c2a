#![allow(clippy::unwrap_used, clippy::panic)]
//! Offline approvals reach the issuer (issue 8): a contactless tap under the CVM
//! limit, approved offline by Lamina's EMV applet with CDA (the contactless
//! kernel, an ISO/IEC 14443-4 link), is reported as an ISO 8583 0220 advice over
//! TCP to a real `lamina_host` server on SQLite, which posts it once — also when
//! the advice is sent again after a lost 0230 — and the ledger check passes.
//! (Here rather than in lamina-acquirer, which does not depend on the host.)

#[path = "../../lamina-terminal/tests/clcard/mod.rs"]
mod clcard;
#[path = "../../lamina-terminal/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use clcard::{ClReader, cl_config, warmed_cl_reader};
use lamina_acquirer::{AcquirerConfig, IsoLink, SteppingClock};
use lamina_applets::emv::testing::{TEST_PAN, TEST_PSN};
use lamina_host::cards::{self, NewCard};
use lamina_host::keys::{HostKeys, IssuerKeySet, KeyFile};
use lamina_host::ledger::{self, Account, NewAccount};
use lamina_host::store::Store;
use lamina_iso8583::Mti;
use lamina_terminal::clearing::{
    AdviceAnswer, AdviceQueue, AdviceSender, OfflineAdvice, PendingAdvice,
};
use lamina_terminal::contactless::{ContactlessDevices, run_contactless};
use lamina_terminal::kernel::{FixedClock, TransactionRequest};
use lamina_terminal::online::LinkError;
use lamina_terminal::outcome::Outcome;
use lamina_terminal::testkit::{DukptPinPad, HostDouble};
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};
use lamina_tlv::Tlv;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// 2026-11-25T10:00:00Z.
const NOW_MS: i64 = 1_795_600_800_000;
const OPENING: i64 = 100_000;

/// The host on a loopback port with its ledger on SQLite, one cardholder account
/// and the applet's test card registered; the terminal's link to it.
struct Bank {
    runtime: tokio::runtime::Runtime,
    store: Store,
    account: Account,
    link: IsoLink,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Bank {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn bank() -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    let store = runtime.block_on(Store::connect(&url)).unwrap();
    let mut issuer = std::collections::BTreeMap::new();
    issuer.insert(
        "default".to_string(),
        IssuerKeySet {
            imk_ac: lamina_applets::emv::testing::TEST_IMK_AC.into(),
            imk_smi: None,
            imk_smc: None,
        },
    );
    // Arbitrary test keys for the PAN index and PAN encryption.
    let keys = Arc::new(
        HostKeys::from_file(&KeyFile {
            pan_lookup: "00".repeat(32),
            pan_encryption: "01".repeat(32),
            issuer,
            bdk: None,
            pvk: None,
            admin_tokens: vec![],
            read_tokens: vec![],
        })
        .unwrap(),
    );
    let account = runtime
        .block_on(ledger::create_account(
            &store,
            &NewAccount {
                name: "Test cardholder".into(),
                currency: "978".into(),
                credit_limit: 0,
                opening_balance: OPENING,
                daily_amount_limit: 0,
                daily_count_limit: 0,
            },
            NOW_MS,
        ))
        .unwrap();
    runtime
        .block_on(cards::issue_card(
            &store,
            &keys,
            &NewCard {
                pan: TEST_PAN.into(),
                psn: TEST_PSN,
                expiry: "3012".into(),
                account_id: account.id.clone(),
                cvn: cards::parse_cvn("emv-ccd").unwrap(),
                key_ref: "default".into(),
                pvv: None,
                pin_try_limit: 3,
            },
            NOW_MS,
        ))
        .unwrap();
    let issuer = lamina_host::issuer::Issuer::new(
        store.clone(),
        Arc::clone(&keys),
        Arc::new(lamina_host::clock::FixedClock::new(NOW_MS)),
    );
    let state = lamina_host::server::ServerState {
        issuer,
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
    let client = runtime
        .block_on(lamina_link::client::HostClient::connect(&addr))
        .unwrap();
    let link = IsoLink::new(
        Arc::new(client),
        runtime.handle().clone(),
        AcquirerConfig {
            timeout: Duration::from_secs(10),
            ..AcquirerConfig::default()
        },
        Box::new(SteppingClock { seconds: 10 * 3600 }),
    );
    Bank {
        runtime,
        store,
        account,
        link,
        shutdown: Some(tx),
        _dir: dir,
    }
}

impl Bank {
    fn balance(&self) -> i64 {
        let store = self.store.clone();
        let id = self.account.id.clone();
        self.runtime.block_on(async move {
            let mut conn = store.pool().acquire().await.unwrap();
            ledger::get_account(&mut conn, &id)
                .await
                .unwrap()
                .unwrap()
                .ledger_balance
        })
    }

    fn held(&self) -> i64 {
        let store = self.store.clone();
        let id = self.account.id.clone();
        self.runtime.block_on(async move {
            let mut conn = store.pool().acquire().await.unwrap();
            ledger::get_account(&mut conn, &id)
                .await
                .unwrap()
                .unwrap()
                .held
        })
    }

    /// The cardholder account's postings for offline purchases.
    fn offline_postings(&self) -> Vec<i64> {
        self.runtime
            .block_on(ledger::postings(&self.store, &self.account.id))
            .unwrap()
            .into_iter()
            .filter(|p| p.memo == "offline purchase")
            .map(|p| p.amount)
            .collect()
    }

    fn assert_ledger_ok(&self) {
        let report = self
            .runtime
            .block_on(ledger::check_ledger(&self.store))
            .unwrap();
        assert!(report.ok(), "ledger check failed: {report:?}");
    }
}

/// One contactless tap under the CVM and floor limits: approved offline with CDA,
/// nothing sent online (the host double would record it).
fn offline_tap(reader: &mut ClReader, stan: u32, amount: u64) -> OfflineAdvice {
    let cfg = cl_config();
    let mut request = TransactionRequest::purchase(amount);
    request.stan = stan;
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new(std::iter::empty::<Option<String>>());
    let mut dukpt = DukptPinPad::test().unwrap();
    let mut rng = StdRng::seed_from_u64(u64::from(stan));
    let mut online = support::host();
    let r = run_contactless(
        &cfg,
        &request,
        ContactlessDevices {
            reader,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(&mut online as &mut HostDouble),
            pin_encryptor: Some(&mut dukpt),
            status: None,
        },
        &FixedClock(support::NOW),
        &mut rng,
    );
    assert_eq!(r.result.outcome, Outcome::ApprovedOffline);
    assert_eq!(r.result.arc.as_deref(), Some("Y1"));
    assert!(r.result.cryptograms[0].cda_verified, "TC checked by CDA");
    assert!(online.requests.is_empty(), "approved offline");
    r.result.offline_advice.expect("an offline advice")
}

fn icc_tag(icc: &[u8], tag: u32) -> Option<Vec<u8>> {
    Tlv::parse_all(icc)
        .unwrap()
        .into_iter()
        .find(|t| t.tag.number() == tag)
        .map(|t| t.value_bytes().unwrap().to_vec())
}

#[test]
fn contactless_offline_approval_is_posted_once_over_iso8583() {
    let mut bank = bank();
    let mut reader = warmed_cl_reader(71);
    let advice = offline_tap(&mut reader, 301, 1890);
    assert_eq!(bank.balance(), OPENING, "nothing posted before the upload");

    let first = bank.link.advise_offline(&advice).unwrap();
    assert!(first.accepted(), "{first:?}");
    let sent = bank.link.last_request().unwrap().clone();
    assert_eq!(sent.mti, Mti::FINANCIAL_ADVICE);
    assert_eq!(sent.get_str(2), Some(TEST_PAN));
    assert_eq!(sent.get_str(4), Some("000000001890"));
    assert_eq!(sent.get_str(11), Some("000301"));
    assert_eq!(sent.get_str(13), Some("1125"), "transaction date");
    assert_eq!(sent.get_str(22), Some("071"), "contactless chip");
    assert_eq!(sent.get_str(39), Some("Y1"), "approved offline by the card");
    assert_eq!(sent.get_str(49), Some("978"));
    assert!(sent.get(90).is_none(), "no authorisation to refer to");
    let icc = sent.get_bytes(55).unwrap();
    assert_eq!(icc_tag(icc, 0x9F26).unwrap(), advice.cryptogram.to_vec());
    assert_eq!(icc_tag(icc, 0x9F27).unwrap()[0] & 0xC0, 0x40, "a TC");
    assert_eq!(bank.balance(), OPENING - 1890);
    assert_eq!(bank.offline_postings(), vec![-1890]);

    // The 0230 was "lost": the terminal sends the advice again. It goes as the
    // 0221 repeat of the same message, and the host posts nothing twice.
    let again = bank.link.advise_offline(&advice).unwrap();
    assert!(again.accepted(), "{again:?}");
    let repeat = bank.link.last_request().unwrap().clone();
    assert_eq!(repeat.mti.as_str(), "0221");
    assert_eq!(repeat.get_str(7), sent.get_str(7), "same transmission time");
    assert_eq!(repeat.get_str(11), sent.get_str(11));
    // A raw retransmission of the last message too.
    let raw = bank.link.retransmit_last().unwrap();
    assert_eq!(raw.get_str(39), Some("00"));
    assert_eq!(bank.balance(), OPENING - 1890, "posted once");
    assert_eq!(bank.offline_postings(), vec![-1890]);
    bank.assert_ledger_ok();
}

/// Loses the answer of the first advice it sends, after the host processed it.
struct LosesFirstAnswer<'a> {
    link: &'a mut IsoLink,
    lost: bool,
    transmissions: Vec<(String, Option<String>)>,
}

impl AdviceSender for LosesFirstAnswer<'_> {
    fn send_advice(&mut self, entry: &mut PendingAdvice) -> Result<AdviceAnswer, LinkError> {
        let answer = self.link.send_advice(entry);
        let mti = self
            .link
            .last_request()
            .map(|m| m.mti.as_str().to_owned())
            .unwrap_or_default();
        self.transmissions.push((mti, entry.transmission.clone()));
        if !self.lost {
            self.lost = true;
            assert!(answer.unwrap().accepted(), "the host took it");
            return Err(LinkError("0230 lost".into()));
        }
        answer
    }
}

#[test]
fn store_and_forward_queue_retries_after_a_lost_answer_and_posts_once() {
    let mut bank = bank();
    let mut reader = warmed_cl_reader(72);
    let mut queue = AdviceQueue::default();
    let mut taken = Vec::new();
    for (stan, amount) in [(401, 1250), (402, 990)] {
        let advice = offline_tap(&mut reader, stan, amount);
        taken.push(advice.clone());
        queue.push(advice).unwrap();
    }
    // A foreign card's advice (unknown PAN at this issuer) is refused, not retried.
    let mut foreign = offline_tap(&mut reader, 403, 500);
    foreign.pan = "5413330089600010".into();
    queue.push(foreign).unwrap();

    let mut sender = LosesFirstAnswer {
        link: &mut bank.link,
        lost: false,
        transmissions: Vec::new(),
    };
    let first = queue.upload(&mut sender);
    assert!(first.accepted.is_empty());
    assert_eq!(first.stopped.as_ref().map(|(s, _)| *s), Some(401));
    assert_eq!(first.remaining, 3);
    let second = queue.upload(&mut sender);
    assert_eq!(second.accepted, vec![401, 402]);
    assert_eq!(second.rejected, vec![(403, "14".to_string())]);
    assert!(queue.is_empty() && queue.rejected().len() == 1);
    // STAN 401 went twice: 0220, then the 0221 repeat with the same DE 7.
    let t = &sender.transmissions;
    assert_eq!(t[0].0, "0220");
    assert_eq!(t[1].0, "0221");
    assert_eq!(t[0].1, t[1].1);
    assert!(t[0].1.is_some());

    // The link remembers what it sent through the queue: reporting STAN 402
    // again is its 0221 repeat, answered without a second posting.
    let again = bank.link.advise_offline(&taken[1]).unwrap();
    assert!(again.accepted());
    assert_eq!(bank.link.last_request().unwrap().mti.as_str(), "0221");

    assert_eq!(bank.balance(), OPENING - 1250 - 990, "each posted once");
    let mut posted = bank.offline_postings();
    posted.sort_unstable();
    assert_eq!(posted, vec![-1250, -990]);
    bank.assert_ledger_ok();
}

/// Approved offline after "unable to go online" (Y3) when the 0100 did reach the
/// host and only its answer was lost: the advice names the 0100 (DE 90), and the
/// host captures the hold it placed instead of posting a second time.
#[test]
fn y3_advice_captures_the_hold_of_the_unanswered_authorisation() {
    use lamina_terminal::online::{AcquirerLink, AuthorizationRequest};
    let mut bank = bank();
    let mut reader = warmed_cl_reader(73);
    let tapped = offline_tap(&mut reader, 501, 3100);
    // The terminal's 0100 for this transaction: the host holds the amount; the
    // 0110 never reaches the terminal (here: it is ignored). Its field 55 is the
    // tap's (a TC where a real 0100 carries the ARQC: the host checks the
    // cryptogram the same way, and the point here is the hold).
    let cfg = cl_config();
    let held = bank
        .link
        .authorize(&AuthorizationRequest {
            stan: 501,
            pan: tapped.pan.clone(),
            pan_sequence: tapped.pan_sequence,
            expiry: tapped.expiry,
            amount: 3100,
            amount_other: 0,
            currency: 978,
            transaction_type: 0,
            terminal_id: cfg.terminal.terminal_id.clone(),
            merchant_id: cfg.terminal.merchant_id.clone(),
            mcc: cfg.terminal.mcc,
            icc_data: tapped.icc_data.clone(),
            pin: None,
            track2: None,
        })
        .unwrap();
    assert!(held.approved(), "{held:?}");
    assert_eq!(bank.held(), 3100);
    assert_eq!(bank.balance(), OPENING);
    // The card approved offline (Y3); the advice goes up with DE 90.
    let advice = OfflineAdvice {
        arc: *b"Y3",
        ..tapped
    };
    let answer = bank.link.advise_offline(&advice).unwrap();
    assert!(answer.accepted(), "{answer:?}");
    let sent = bank.link.last_request().unwrap();
    assert_eq!(sent.get_str(39), Some("Y3"));
    let od = sent.original_data().unwrap().unwrap();
    assert_eq!(od.stan, "000501");
    assert_eq!(bank.held(), 0, "the hold is captured");
    assert_eq!(bank.balance(), OPENING - 3100, "posted once");
    assert!(
        bank.offline_postings().is_empty(),
        "not as a second purchase"
    );
    // Repeated: still once.
    assert!(bank.link.advise_offline(&advice).unwrap().accepted());
    assert_eq!(bank.balance(), OPENING - 3100);
    bank.assert_ledger_ok();
}
