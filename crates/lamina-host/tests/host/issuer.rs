use lamina_host::cards::{self, CardStatus, ScriptKind};
use lamina_host::issuer::RequestKind;
use lamina_host::ledger;
use lamina_host::store::Store;
use lamina_tlv::{Tag, Tlv};

use crate::both_backends;
use crate::common::{NOW, fixture, fixture_with};

async fn approve_hold_capture(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let req = f.request(RequestKind::Authorization, 2_500);
    let resp = f.issuer.authorize(req.clone()).await.unwrap();
    assert_eq!(resp.response_code, "00", "{resp:?}");
    assert_eq!(resp.approved_amount, 2_500);
    assert_eq!(resp.auth_code.as_ref().unwrap().len(), 6);
    assert_eq!(resp.available, Some(7_500));
    // ARPC in tag 91: CCD is method 2, ARPC(4) || CSU(4).
    let icc = Tlv::parse_all(&resp.icc).unwrap();
    let iad = lamina_tlv::find_recursive(&icc, Tag::new(0x91))
        .unwrap()
        .value_bytes()
        .unwrap();
    assert_eq!(iad.len(), 8);
    assert_eq!(&iad[4..], &[0x00, 0x83, 0x00, 0x00]);
    let a = f.account().await;
    assert_eq!(
        (a.ledger_balance, a.held, a.available()),
        (10_000, 2_500, 7_500)
    );
    assert_eq!(f.card().await.last_atc, 1);

    // Completion for less than authorized: capture 2,000, release the hold.
    let comp = f.follow_up(RequestKind::Completion, &req, 2_000);
    let r = f.issuer.authorize(comp.clone()).await.unwrap();
    assert_eq!(r.response_code, "00", "{r:?}");
    let a = f.account().await;
    assert_eq!((a.ledger_balance, a.held, a.available()), (8_000, 0, 8_000));
    // The retransmitted completion posts nothing twice.
    let r2 = f.issuer.authorize(comp).await.unwrap();
    assert!(r2.duplicate);
    assert_eq!(f.account().await.ledger_balance, 8_000);
    // A second completion (new STAN) for the same authorization moves nothing.
    let comp2 = f.follow_up(RequestKind::Completion, &req, 2_000);
    let r3 = f.issuer.authorize(comp2).await.unwrap();
    assert_eq!(r3.flags, vec!["already_captured".to_string()]);
    assert_eq!(f.account().await.ledger_balance, 8_000);
}
both_backends!(approve_hold_capture_test, super::approve_hold_capture);

async fn reversal_releases_hold_and_refunds(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let auth = f.request(RequestKind::Authorization, 3_000);
    assert_eq!(
        f.issuer
            .authorize(auth.clone())
            .await
            .unwrap()
            .response_code,
        "00"
    );
    assert_eq!(f.account().await.held, 3_000);
    let rev = f.follow_up(RequestKind::Reversal, &auth, 3_000);
    let r = f.issuer.authorize(rev.clone()).await.unwrap();
    assert_eq!(r.response_code, "00");
    let a = f.account().await;
    assert_eq!((a.ledger_balance, a.held), (10_000, 0));
    // Repeated reversal (0401 retransmission) changes nothing.
    let mut again = rev.clone();
    again.mti = "0401".into();
    assert!(f.issuer.authorize(again).await.unwrap().duplicate);
    // Completion of a reversed authorization is refused.
    let comp = f.follow_up(RequestKind::Completion, &auth, 3_000);
    assert_eq!(f.issuer.authorize(comp).await.unwrap().response_code, "12");
    assert_eq!(f.account().await.ledger_balance, 10_000);

    // Financial (0200) posts at once; its reversal refunds.
    let fin = f.request(RequestKind::Financial, 1_500);
    assert_eq!(
        f.issuer.authorize(fin.clone()).await.unwrap().response_code,
        "00"
    );
    assert_eq!(f.account().await.ledger_balance, 8_500);
    let rev = f.follow_up(RequestKind::Reversal, &fin, 1_500);
    assert_eq!(
        f.issuer.authorize(rev).await.unwrap().approved_amount,
        1_500
    );
    assert_eq!(f.account().await.ledger_balance, 10_000);
    // Reversal of something unknown is acknowledged and flagged.
    let mut ghost = f.follow_up(RequestKind::Reversal, &fin, 1);
    ghost.original = Some(("999999".into(), "1125100000".into()));
    let r = f.issuer.authorize(ghost).await.unwrap();
    assert_eq!(r.flags, vec!["original_not_found".to_string()]);
}
both_backends!(reversal_test, super::reversal_releases_hold_and_refunds);

async fn idempotency(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let req = f.request(RequestKind::Financial, 1_000);
    let first = f.issuer.authorize(req.clone()).await.unwrap();
    let mut repeat = req.clone();
    repeat.mti = "0201".into();
    let second = f.issuer.authorize(repeat).await.unwrap();
    assert!(second.duplicate);
    assert_eq!(second.transaction_id, first.transaction_id);
    assert_eq!(second.auth_code, first.auth_code);
    assert_eq!(second.icc, first.icc);
    assert_eq!(f.account().await.ledger_balance, 9_000);
    // Same key, different amount: 94, nothing posted.
    let mut other = req.clone();
    other.amount = 5;
    assert_eq!(f.issuer.authorize(other).await.unwrap().response_code, "94");
    // Concurrent retransmissions: exactly one posts.
    let req = f.request(RequestKind::Financial, 700);
    let mut handles = vec![];
    for _ in 0..6 {
        let issuer = f.issuer.clone();
        let r = req.clone();
        handles.push(tokio::spawn(
            async move { issuer.authorize(r).await.unwrap() },
        ));
    }
    let mut originals = 0;
    for h in handles {
        let r = h.await.unwrap();
        assert_eq!(r.response_code, "00");
        originals += usize::from(!r.duplicate);
    }
    assert_eq!(originals, 1);
    assert_eq!(f.account().await.ledger_balance, 8_300);
}
both_backends!(idempotency_test, super::idempotency);

async fn declines(store: Store) {
    let mut f = fixture_with(
        store.clone(),
        5_000,
        4_000,
        3,
        lamina_crypto::emv::Cvn::EmvCcd,
    )
    .await;
    // 51 insufficient funds, then a partial approval (10) when allowed.
    let r = f.go(RequestKind::Authorization, 6_000).await;
    assert_eq!(
        r.response_code, "61",
        "daily amount limit 4,000 comes first"
    );
    let r = f.go(RequestKind::Authorization, 0).await;
    assert_eq!(r.response_code, "13");
    let mut req = f.request(RequestKind::Authorization, 1_000);
    req.currency = "840".into();
    assert_eq!(f.issuer.authorize(req).await.unwrap().response_code, "12");
    let mut req = f.request(RequestKind::Authorization, 1_000);
    req.processing_code = "200000".into();
    assert_eq!(f.issuer.authorize(req).await.unwrap().response_code, "57");
    let mut req = f.request(RequestKind::Authorization, 1_000);
    req.processing_code = "990000".into();
    assert_eq!(f.issuer.authorize(req).await.unwrap().response_code, "12");
    // Bad ARQC: 05.
    let mut req = f.request(RequestKind::Authorization, 1_000);
    req.amount = 1_001; // the cryptogram covered 1,000 in 9F02, but flip a byte instead:
    req.amount = 1_000;
    let last = req.icc.len() - 1;
    req.icc[last] ^= 0x01;
    let r = f.issuer.authorize(req).await.unwrap();
    assert_eq!(
        (r.response_code.as_str(), r.flags.clone()),
        ("05", vec!["arqc_failed".to_string()])
    );
    // Replay: an ATC not above the last seen one.
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "00"
    );
    let seen = f.card().await.last_atc;
    let icc = f
        .sim
        .field55_with_atc(
            100,
            978,
            [0x26, 0x11, 0x25],
            [9, 9, 9, 9],
            u16::try_from(seen).unwrap(),
        )
        .unwrap();
    let req = f.request_with_icc(RequestKind::Authorization, 100, icc);
    let r = f.issuer.authorize(req).await.unwrap();
    assert_eq!(
        (r.response_code.as_str(), r.flags.clone()),
        ("59", vec!["atc_replay".to_string()])
    );
    // A large ATC jump is approved but flagged.
    f.sim.atc += 500;
    let r = f.go(RequestKind::Authorization, 100).await;
    assert_eq!(r.response_code, "00");
    assert!(r.flags.contains(&"atc_jump".to_string()));
    // Count limit 3: two approvals so far, the third is fine, the fourth is 65.
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "00"
    );
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "65"
    );
    // Next day: limits reset; 51 then partial approval.
    f.clock.advance(86_400_000);
    sqlx::query("UPDATE accounts SET daily_amount_limit = 0 WHERE id = $1")
        .bind(&f.account.id)
        .execute(store.pool())
        .await
        .unwrap();
    let r = f.go(RequestKind::Authorization, 3_900).await;
    assert_eq!(r.response_code, "00");
    assert_eq!(
        f.account().await.available(),
        800,
        "5,000 - 3 x 100 held yesterday - 3,900"
    );
    let mut req = f.request(RequestKind::Authorization, 2_000);
    assert_eq!(
        f.issuer.authorize(req.clone()).await.unwrap().response_code,
        "51"
    );
    req = f.request(RequestKind::Authorization, 2_000);
    req.partial_allowed = true;
    let r = f.issuer.authorize(req).await.unwrap();
    assert_eq!((r.response_code.as_str(), r.approved_amount), ("10", 800));
    assert_eq!(f.account().await.available(), 0);
    // Unknown card: 14.
    let mut req = f.request(RequestKind::Authorization, 100);
    req.pan = Some("4111111111111111".into());
    req.psn = None;
    assert_eq!(f.issuer.authorize(req).await.unwrap().response_code, "14");
    // Expiry mismatch with DE 14.
    let mut req = f.request(RequestKind::Authorization, 100);
    req.expiry = Some("2901".into());
    assert_eq!(f.issuer.authorize(req).await.unwrap().response_code, "05");
}
both_backends!(declines_test, super::declines);

async fn card_status_and_expiry(store: Store) {
    let mut f = fixture(store.clone(), 5_000).await;
    for (status, code) in [
        (CardStatus::Lost, "41"),
        (CardStatus::Stolen, "43"),
        (CardStatus::Blocked, "62"),
        (CardStatus::Expired, "54"),
        (CardStatus::Active, "00"),
    ] {
        cards::set_status(&store, &f.card.id, status).await.unwrap();
        let r = f.go(RequestKind::Authorization, 100).await;
        assert_eq!(r.response_code, code, "{status:?}");
    }
    // Expiry 2812: January 2029 is past it.
    f.clock.set(NOW + 800 * 86_400_000);
    let r = f.go(RequestKind::Authorization, 100).await;
    assert_eq!(r.response_code, "54");
}
both_backends!(card_status_test, super::card_status_and_expiry);

async fn scripts_delivered_once(store: Store) {
    let mut f = fixture(store.clone(), 5_000).await;
    cards::queue_script(&store, &f.card.id, &ScriptKind::BlockApplication, NOW)
        .await
        .unwrap();
    cards::queue_script(
        &store,
        &f.card.id,
        &ScriptKind::UpdateLimit {
            tag: "9F14".into(),
            value: "05".into(),
        },
        NOW,
    )
    .await
    .unwrap();
    let r = f.go(RequestKind::Authorization, 100).await;
    let icc = Tlv::parse_all(&r.icc).unwrap();
    let t71 = icc.iter().find(|t| t.tag == Tag::new(0x71)).expect("71");
    let cmd = lamina_tlv::find_recursive(t71.children(), Tag::new(0x86))
        .unwrap()
        .value_bytes()
        .unwrap();
    assert_eq!(
        &cmd[..5],
        &[0x84, 0x1E, 0x00, 0x00, 0x08],
        "APPLICATION BLOCK with an 8-byte MAC"
    );
    let t72 = icc.iter().find(|t| t.tag == Tag::new(0x72)).expect("72");
    let cmd = lamina_tlv::find_recursive(t72.children(), Tag::new(0x86))
        .unwrap()
        .value_bytes()
        .unwrap();
    assert_eq!(&cmd[..6], &[0x04, 0xDA, 0x9F, 0x14, 0x09, 0x05]);
    // Not sent twice.
    let r = f.go(RequestKind::Authorization, 100).await;
    let icc = Tlv::parse_all(&r.icc).unwrap();
    assert_eq!(icc.len(), 1, "only tag 91");
    assert!(
        cards::scripts_of(&store, &f.card.id)
            .await
            .unwrap()
            .iter()
            .all(|s| s.status == "sent")
    );
}
both_backends!(scripts_test, super::scripts_delivered_once);

async fn visa_cvn10_method1(store: Store) {
    let mut f = fixture_with(store.clone(), 5_000, 0, 0, lamina_crypto::emv::Cvn::Visa10).await;
    let r = f.go(RequestKind::Authorization, 100).await;
    assert_eq!(r.response_code, "00", "{r:?}");
    let icc = Tlv::parse_all(&r.icc).unwrap();
    let iad = lamina_tlv::find_recursive(&icc, Tag::new(0x91))
        .unwrap()
        .value_bytes()
        .unwrap();
    assert_eq!(iad.len(), 10);
    assert_eq!(&iad[8..], b"00");
    // The card side verifies the ARPC.
    let req_icc = f
        .sim
        .field55_with_atc(100, 978, [0x26, 0x11, 0x25], [1, 2, 3, 4], 1)
        .unwrap();
    let tl = Tlv::parse_all(&req_icc).unwrap();
    let arqc: [u8; 8] = lamina_tlv::find_recursive(&tl, Tag::new(0x9F26))
        .unwrap()
        .value_bytes()
        .unwrap()
        .try_into()
        .unwrap();
    lamina_crypto::emv::verify_arpc(
        lamina_crypto::emv::Cvn::Visa10,
        f.sim.mk_ac.as_bytes(),
        1,
        [1, 2, 3, 4],
        &arqc,
        lamina_crypto::emv::ArpcResponse::Method1 { arc: *b"00" },
        &iad[..8],
    )
    .unwrap();
    let _ = ledger::check_ledger(&store).await.unwrap();
}
both_backends!(visa_cvn10_test, super::visa_cvn10_method1);

async fn online_pin(store: Store) {
    use lamina_crypto::dukpt::tdes::{Ksn, Originator, derive_ipek, encrypt_pin_block};
    use lamina_crypto::pin::{Pan, Pin, encode_iso0};
    use lamina_crypto::sym::SecretKey;
    let mut f = fixture(store.clone(), 5_000).await;
    let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn0 = Ksn::from_hex("FFFF9876543210E00000").unwrap();
    let mut pinpad = Originator::new(&derive_ipek(&bdk, &ksn0).unwrap(), &ksn0).unwrap();
    let pan = Pan::new("5413330089600010").unwrap();
    let mut pin_req = |f: &mut crate::common::Fixture, pin: &str| {
        let (ksn, key) = pinpad.next_transaction().unwrap();
        let block = encrypt_pin_block(&key, &encode_iso0(&Pin::new(pin).unwrap(), &pan)).unwrap();
        let mut r = f.request(RequestKind::Authorization, 100);
        r.pin = Some(lamina_host::issuer::PinData {
            block,
            ksn: ksn.as_bytes().to_vec(),
        });
        r
    };
    let r = {
        let r = pin_req(&mut f, "1234");
        f.issuer.authorize(r).await.unwrap()
    };
    assert_eq!(r.response_code, "00");
    let r = {
        let r = pin_req(&mut f, "9999");
        f.issuer.authorize(r).await.unwrap()
    };
    assert_eq!(r.response_code, "55");
    assert_eq!(f.card().await.pin_tries, 1);
    // A correct PIN resets the counter.
    assert_eq!(
        {
            let r = pin_req(&mut f, "1234");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "00"
    );
    assert_eq!(f.card().await.pin_tries, 0);
    assert_eq!(
        {
            let r = pin_req(&mut f, "0000");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "55"
    );
    assert_eq!(
        {
            let r = pin_req(&mut f, "0000");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "55"
    );
    // Third wrong PIN reaches the limit: 75; then even the right PIN is refused.
    assert_eq!(
        {
            let r = pin_req(&mut f, "0000");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "75"
    );
    assert_eq!(
        {
            let r = pin_req(&mut f, "1234");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "75"
    );
    cards::reset_pin_tries(&store, &f.card.id).await.unwrap();
    assert_eq!(
        {
            let r = pin_req(&mut f, "1234");
            f.issuer.authorize(r).await.unwrap()
        }
        .response_code,
        "00"
    );
}
both_backends!(online_pin_test, super::online_pin);

/// Two independent pools on one database (as two host processes would have) race to
/// spend the same account: exactly balance / amount requests are approved.
async fn no_double_spend(store: Store, url: String) {
    let f = fixture(store.clone(), 1_000).await;
    let other = Store::connect(&url).await.unwrap();
    let issuer2 =
        lamina_host::issuer::Issuer::new(other, f.issuer.keys().clone(), f.issuer.clock().clone());
    let mut handles = vec![];
    for i in 0..40u32 {
        let issuer = if i % 2 == 0 {
            f.issuer.clone()
        } else {
            issuer2.clone()
        };
        let mut req = {
            let mut g = crate::common::Fixture {
                stan: 1000 + i,
                ..clone_fixture(&f)
            };
            g.request_with_icc(RequestKind::Financial, 100, vec![])
        };
        req.key.terminal = format!("T{:07}", i % 4);
        handles.push(tokio::spawn(
            async move { issuer.authorize(req).await.unwrap() },
        ));
    }
    let mut approved = 0;
    for h in handles {
        let r = h.await.unwrap();
        match r.response_code.as_str() {
            "00" => approved += 1,
            "51" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(approved, 10);
    let a = f.account().await;
    assert_eq!((a.ledger_balance, a.available()), (0, 0));
}

fn clone_fixture(f: &crate::common::Fixture) -> crate::common::Fixture {
    crate::common::Fixture {
        issuer: f.issuer.clone(),
        clock: f.clock.clone(),
        account: f.account.clone(),
        card: f.card.clone(),
        sim: f.sim.clone(),
        stan: f.stan,
    }
}

mod double_spend {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("host.db").display());
        let store = lamina_host::store::Store::connect(&url).await.unwrap();
        super::no_double_spend(store.clone(), url).await;
        crate::common::assert_ledger_ok(&store).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let url = crate::pg::fresh_database("double_spend").await;
        let store = lamina_host::store::Store::connect(&url).await.unwrap();
        super::no_double_spend(store.clone(), url).await;
        crate::common::assert_ledger_ok(&store).await;
    }
}

async fn partial_reversals(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    // Authorization 3,000, partially reversed to 1,200 (DE 95), then captured at 1,200.
    let auth = f.request(RequestKind::Authorization, 3_000);
    assert_eq!(
        f.issuer
            .authorize(auth.clone())
            .await
            .unwrap()
            .response_code,
        "00"
    );
    let mut rev = f.follow_up(RequestKind::Reversal, &auth, 3_000);
    rev.replacement_amount = Some(1_200);
    let r = f.issuer.authorize(rev).await.unwrap();
    assert_eq!(r.flags, vec!["partial_reversal".to_string()]);
    assert_eq!(f.account().await.held, 1_200);
    let comp = f.follow_up(RequestKind::Completion, &auth, 1_300);
    assert_eq!(
        f.issuer.authorize(comp).await.unwrap().response_code,
        "13",
        "more than stands"
    );
    let comp = f.follow_up(RequestKind::Completion, &auth, 1_200);
    assert_eq!(f.issuer.authorize(comp).await.unwrap().response_code, "00");
    let a = f.account().await;
    assert_eq!((a.ledger_balance, a.held), (8_800, 0));

    // Purchase 2,000: partial reversal to 500 refunds 1,500; a full reversal then refunds
    // the 500 that stood, and a third refunds nothing.
    let fin = f.request(RequestKind::Financial, 2_000);
    assert_eq!(
        f.issuer.authorize(fin.clone()).await.unwrap().response_code,
        "00"
    );
    let mut rev = f.follow_up(RequestKind::Reversal, &fin, 2_000);
    rev.replacement_amount = Some(500);
    assert_eq!(
        f.issuer.authorize(rev).await.unwrap().approved_amount,
        1_500
    );
    assert_eq!(f.account().await.ledger_balance, 8_800 - 500);
    let rev = f.follow_up(RequestKind::Reversal, &fin, 2_000);
    assert_eq!(f.issuer.authorize(rev).await.unwrap().approved_amount, 500);
    assert_eq!(f.account().await.ledger_balance, 8_800);
    let rev = f.follow_up(RequestKind::Reversal, &fin, 2_000);
    let r = f.issuer.authorize(rev).await.unwrap();
    assert_eq!(
        (r.approved_amount, r.flags.clone()),
        (0, vec!["already_reversed".to_string()])
    );
    assert_eq!(f.account().await.ledger_balance, 8_800);
    // Settlement nets the partial reversals: captures 1,200 + 2,000, reversals 2,000.
    let date = lamina_host::clock::business_date(crate::common::NOW);
    let s = lamina_host::settle::settle(&store, &date, 0, crate::common::NOW)
        .await
        .unwrap();
    assert_eq!(
        (s[0].gross, s[0].reversals, s[0].net),
        (3_200, 2_000, 1_200)
    );
}
both_backends!(partial_reversal_test, super::partial_reversals);

async fn reversal_before_original(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    // The terminal timed out and reversed before its 0100 reached the host.
    let auth = f.request(RequestKind::Authorization, 4_000);
    let rev = f.follow_up(RequestKind::Reversal, &auth, 4_000);
    let r = f.issuer.authorize(rev.clone()).await.unwrap();
    assert_eq!(r.flags, vec!["original_not_found".to_string()]);
    // The late original is declined and holds nothing.
    let r = f.issuer.authorize(auth).await.unwrap();
    assert_eq!(r.response_code, "05");
    assert_eq!(r.flags, vec!["reversed_before_arrival".to_string()]);
    assert_eq!(f.account().await.held, 0);
    // Other requests are unaffected.
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "00"
    );
}
both_backends!(
    reversal_before_original_test,
    super::reversal_before_original
);

async fn terminal_risk_flags(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    // TVR: CDA failed (byte 1 bit 3), cardholder verification not successful (byte 3 bit 8);
    // CVM Results: failed. The ARQC covers the TVR, so these are the terminal's own words.
    f.sim.tvr = [0x04, 0x00, 0x80, 0x00, 0x00];
    f.sim.cvm_results = [0x1F, 0x00, 0x01];
    let r = f.go(RequestKind::Authorization, 100).await;
    assert_eq!(r.response_code, "00");
    for flag in ["tvr_oda_failed", "tvr_cvm_failed", "cvm_result_failed"] {
        assert!(
            r.flags.contains(&flag.to_string()),
            "{flag} in {:?}",
            r.flags
        );
    }
    f.sim.tvr = [0; 5];
    f.sim.cvm_results = [0x42, 0x03, 0x02];
    assert!(f.go(RequestKind::Authorization, 100).await.flags.is_empty());
}
both_backends!(terminal_risk_flags_test, super::terminal_risk_flags);

/// Many concurrent requests land in shared group commits (on SQLite: the writer thread,
/// a savepoint per request). Requests that fail or are refused inside a group (same key
/// with other content: 94; retransmissions) must not disturb the others, and every
/// approved one is posted exactly once.
async fn groups_isolate_requests(store: Store) {
    let mut f = fixture(store.clone(), 1_000_000).await;
    let mut handles = vec![];
    let mut expected = 0i64;
    for i in 0..120i64 {
        let req = f.request(RequestKind::Financial, 100 + i);
        expected += 100 + i;
        // Every tenth request is retransmitted at once, and a clash (same key, another
        // amount) is sent beside it.
        let extra = if i % 10 == 0 {
            let mut clash = req.clone();
            clash.amount += 1;
            vec![req.clone(), clash]
        } else {
            vec![]
        };
        for r in std::iter::once(req).chain(extra) {
            let issuer = f.issuer.clone();
            handles.push(tokio::spawn(async move {
                let amount = r.amount;
                (amount, issuer.authorize(r).await.unwrap())
            }));
        }
    }
    let (mut posted, mut clashes) = (0i64, 0);
    for h in handles {
        let (amount, r) = h.await.unwrap();
        match r.response_code.as_str() {
            "00" if !r.duplicate => posted += amount,
            "00" => {}
            "94" => clashes += 1,
            // One card, concurrent requests: a lower ATC arriving after a higher one is
            // a replay (declined, nothing posted).
            "59" => assert!(r.flags.contains(&"atc_replay".to_string())),
            other => panic!("unexpected {other}: {r:?}"),
        }
    }
    // A clash may win the race against its original: then the original is the one
    // answered 94. Either way exactly one of each pair is posted.
    // When the clash wins, the original and its retransmission both get 94.
    assert!((12..=24).contains(&clashes), "{clashes}");
    let a = f.account().await;
    assert_eq!(a.ledger_balance, 1_000_000 - posted);
    assert!(posted > 0 && posted <= expected + 12, "{posted}");
}
both_backends!(groups_isolate_test, super::groups_isolate_requests);

/// A refund (processing code 20) of `amount` with a fresh ARQC.
fn refund_request(f: &mut crate::common::Fixture, amount: i64) -> lamina_host::issuer::AuthRequest {
    let mut r = f.request(RequestKind::Financial, amount);
    r.processing_code = "200000".into();
    r
}

async fn refund(f: &mut crate::common::Fixture, amount: i64) -> lamina_host::issuer::AuthResponse {
    let r = refund_request(f, amount);
    f.issuer.authorize(r).await.unwrap()
}

async fn advice(
    f: &mut crate::common::Fixture,
    amount: i64,
    icc: Vec<u8>,
) -> lamina_host::issuer::AuthResponse {
    let r = f.request_with_icc(RequestKind::Completion, amount, icc);
    f.issuer.authorize(r).await.unwrap()
}

async fn refunds(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    // Nothing paid at this merchant yet: not permitted to the cardholder.
    let r = refund_request(&mut f, 500);
    let resp = f.issuer.authorize(r).await.unwrap();
    assert_eq!(resp.response_code, "57", "{resp:?}");
    assert!(resp.flags.contains(&"refund_exceeds_captures".to_string()));
    assert_eq!(f.account().await.ledger_balance, 10_000);

    assert_eq!(
        f.go(RequestKind::Financial, 3_000).await.response_code,
        "00"
    );
    // Refund 1,000: credited, with an approval code and an ARPC.
    let r1 = refund_request(&mut f, 1_000);
    let resp = f.issuer.authorize(r1.clone()).await.unwrap();
    assert_eq!(resp.response_code, "00", "{resp:?}");
    assert_eq!(resp.approved_amount, 1_000);
    assert!(resp.auth_code.is_some());
    assert!(!resp.icc.is_empty());
    assert_eq!(resp.available, Some(8_000));
    assert_eq!(f.account().await.ledger_balance, 8_000);
    // A retransmission is answered from the idempotency record and posts nothing.
    let again = f.issuer.authorize(r1.clone()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.transaction_id, resp.transaction_id);
    assert_eq!(f.account().await.ledger_balance, 8_000);
    let txns = f
        .issuer
        .transactions(&lamina_host::issuer::TxnFilter::default())
        .await
        .unwrap();
    let row = txns
        .iter()
        .find(|t| Some(&t.id) == resp.transaction_id.as_ref())
        .unwrap();
    assert_eq!(
        (row.kind.as_str(), row.captured_amount, row.status.as_str()),
        ("refund", -1_000, "captured")
    );

    // 2,000 left to refund at this merchant: 2,500 is refused, 2,000 accepted.
    let resp = refund(&mut f, 2_500).await;
    assert_eq!(resp.response_code, "57");
    let r2 = refund_request(&mut f, 2_000);
    assert_eq!(
        f.issuer.authorize(r2.clone()).await.unwrap().response_code,
        "00"
    );
    assert_eq!(f.account().await.ledger_balance, 10_000);
    assert_eq!(refund(&mut f, 1).await.response_code, "57");
    // Another merchant: nothing paid there.
    let mut other = refund_request(&mut f, 100);
    other.merchant = "MERCHANT0000002".into();
    assert_eq!(f.issuer.authorize(other).await.unwrap().response_code, "57");

    // Reversal of the 2,000 refund takes it back from the cardholder (once).
    let rev = f.follow_up(RequestKind::Reversal, &r2, 2_000);
    let resp = f.issuer.authorize(rev.clone()).await.unwrap();
    assert_eq!(
        (resp.response_code.as_str(), resp.approved_amount),
        ("00", 2_000)
    );
    assert_eq!(f.account().await.ledger_balance, 8_000);
    assert!(f.issuer.authorize(rev).await.unwrap().duplicate);
    let rev2 = f.follow_up(RequestKind::Reversal, &r2, 2_000);
    let resp = f.issuer.authorize(rev2).await.unwrap();
    assert_eq!(resp.approved_amount, 0);
    assert!(resp.flags.contains(&"already_reversed".to_string()));
    assert_eq!(f.account().await.ledger_balance, 8_000);
    // ... which makes 2,000 refundable again.
    assert_eq!(refund(&mut f, 2_000).await.response_code, "00");
    assert_eq!(f.account().await.ledger_balance, 10_000);

    // A refund is a 0200: as an 0100 it is not permitted.
    let mut auth = f.request(RequestKind::Authorization, 100);
    auth.processing_code = "200000".into();
    assert_eq!(f.issuer.authorize(auth).await.unwrap().response_code, "57");

    // A replayed ARQC is refused as for a purchase.
    let mut replay = r1.clone();
    replay.key = f.key();
    let resp = f.issuer.authorize(replay).await.unwrap();
    assert_eq!(resp.response_code, "59");

    // Card status decides first.
    assert_eq!(
        f.go(RequestKind::Financial, 1_000).await.response_code,
        "00"
    );
    cards::set_status(&store, &f.card.id, CardStatus::Lost)
        .await
        .unwrap();
    assert_eq!(refund(&mut f, 100).await.response_code, "41");
    cards::set_status(&store, &f.card.id, CardStatus::Active)
        .await
        .unwrap();
    // A card that does not accept refunds.
    cards::set_refunds_allowed(&store, &f.card.id, false)
        .await
        .unwrap();
    assert!(!f.card().await.refunds_allowed);
    let resp = refund(&mut f, 100).await;
    assert_eq!(resp.response_code, "57");
    assert!(resp.flags.contains(&"refunds_not_allowed".to_string()));
    cards::set_refunds_allowed(&store, &f.card.id, true)
        .await
        .unwrap();
    assert_eq!(refund(&mut f, 100).await.response_code, "00");
    assert_eq!(f.account().await.ledger_balance, 10_000 - 1_000 + 100);
}
both_backends!(refunds_test, super::refunds);

/// Field 55 of an offline approval: the simulated card's cryptogram with CID 40 (TC).
fn tc_field55(f: &crate::common::Fixture, amount: i64, atc: u16) -> Vec<u8> {
    let icc = f
        .sim
        .field55_with_atc(amount as u64, 978, [0x26, 0x11, 0x25], [9, 8, 7, 6], atc)
        .unwrap();
    let list: Vec<Tlv> = Tlv::parse_all(&icc)
        .unwrap()
        .into_iter()
        .map(|t| {
            if t.tag == Tag::new(0x9F27) {
                Tlv::primitive(0x9F27u32, vec![0x40])
            } else {
                t
            }
        })
        .collect();
    Tlv::encode_all(&list)
}

fn with_tag(icc: &[u8], tag: u32, value: Vec<u8>) -> Vec<u8> {
    let list: Vec<Tlv> = Tlv::parse_all(icc)
        .unwrap()
        .into_iter()
        .map(|t| {
            if t.tag == Tag::new(tag) {
                Tlv::primitive(tag, value.clone())
            } else {
                t
            }
        })
        .collect();
    Tlv::encode_all(&list)
}

async fn offline_advices_verified(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    // A genuine advice (TC at ATC 40) is posted once.
    let icc = tc_field55(&f, 1_500, 40);
    let adv = f.request_with_icc(RequestKind::Completion, 1_500, icc.clone());
    let resp = f.issuer.authorize(adv.clone()).await.unwrap();
    assert_eq!(resp.response_code, "00", "{resp:?}");
    assert!(resp.flags.contains(&"offline_advice".to_string()));
    assert_eq!(f.account().await.ledger_balance, 8_500);
    // Its repeat (0221, same key) is answered from the idempotency record.
    let mut repeat = adv.clone();
    repeat.mti = "0221".into();
    assert!(f.issuer.authorize(repeat).await.unwrap().duplicate);
    assert_eq!(f.account().await.ledger_balance, 8_500);

    // The same advice with a new STAN: a replay, refused and not posted.
    let replay = f.request_with_icc(RequestKind::Completion, 1_500, icc.clone());
    let resp = f.issuer.authorize(replay).await.unwrap();
    assert_eq!(resp.response_code, "59", "{resp:?}");
    assert!(resp.flags.contains(&"atc_replay".to_string()));
    assert_eq!(f.account().await.ledger_balance, 8_500);

    // A forged TC (one bit changed) or a changed amount under the genuine TC: refused.
    let mut tc = lamina_tlv::find_recursive(&Tlv::parse_all(&icc).unwrap(), Tag::new(0x9F26))
        .unwrap()
        .value_bytes()
        .unwrap()
        .to_vec();
    tc[0] ^= 1;
    let forged = with_tag(&tc_field55(&f, 1_500, 41), 0x9F26, tc);
    let resp = advice(&mut f, 1_500, forged).await;
    assert_eq!(resp.response_code, "05", "{resp:?}");
    assert!(resp.flags.contains(&"tc_failed".to_string()));
    let bigger = with_tag(
        &tc_field55(&f, 1_500, 42),
        0x9F02,
        vec![0, 0, 0, 0, 0x99, 0x00],
    );
    let resp = advice(&mut f, 9_900, bigger).await;
    assert_eq!(resp.response_code, "05");
    // No field 55, or an AAC (declined offline): nothing to post.
    let resp = advice(&mut f, 1_500, vec![]).await;
    assert_eq!(resp.response_code, "05");
    assert!(resp.flags.contains(&"tc_missing".to_string()));
    let aac = with_tag(&tc_field55(&f, 1_500, 43), 0x9F27, vec![0x00]);
    let resp = advice(&mut f, 1_500, aac).await;
    assert_eq!(resp.response_code, "05");
    assert!(resp.flags.contains(&"not_a_tc".to_string()));
    assert_eq!(f.account().await.ledger_balance, 8_500);
    // The refused ATCs were not recorded: the genuine advice at ATC 41 still posts, once.
    let genuine = tc_field55(&f, 500, 41);
    let resp = advice(&mut f, 500, genuine.clone()).await;
    assert_eq!(resp.response_code, "00");
    let resp = advice(&mut f, 500, genuine).await;
    assert_eq!(resp.response_code, "59");
    assert_eq!(f.account().await.ledger_balance, 8_000);
    // An offline ATC below the online one is fine (advices arrive late).
    assert_eq!(f.go(RequestKind::Financial, 100).await.response_code, "00");
    assert_eq!(f.card().await.last_atc, 1);
    let late = tc_field55(&f, 200, 0);
    assert_eq!(advice(&mut f, 200, late).await.response_code, "00");

    // An offline refund advice (processing code 20): TC checked, refund rules applied.
    let mut refund = f.request_with_icc(RequestKind::Completion, 700, tc_field55(&f, 700, 50));
    refund.processing_code = "200000".into();
    let resp = f.issuer.authorize(refund).await.unwrap();
    assert_eq!(resp.response_code, "00", "{resp:?}");
    assert_eq!(f.account().await.ledger_balance, 8_000 - 100 - 200 + 700);
    let mut too_much =
        f.request_with_icc(RequestKind::Completion, 5_000, tc_field55(&f, 5_000, 51));
    too_much.processing_code = "200000".into();
    assert_eq!(
        f.issuer.authorize(too_much).await.unwrap().response_code,
        "57"
    );
}
both_backends!(offline_advices_test, super::offline_advices_verified);

/// IBM 3624 parameters of the lamina-crypto vector file (psec's test values) for a PAN
/// that starts with the validation data.
fn ibm_params(table: &str, vd_len: usize, pad: &str) -> cards::Ibm3624Params {
    cards::Ibm3624Params {
        decimalization: table.into(),
        vd_start: 0,
        vd_len: u8::try_from(vd_len).unwrap(),
        pad: pad.chars().next().unwrap(),
    }
}

#[test]
fn ibm3624_offsets_known_answers() {
    use lamina_crypto::pin::Pin;
    use lamina_crypto::sym::SecretKey;
    use lamina_host::issuer::decision::verify_ibm3624;
    // lamina-crypto's IBM 3624 vectors (Source line in the file): the host's parameter
    // handling must reproduce them.
    let text = include_str!("../../../lamina-crypto/tests/vectors/pvv_ibm3624.txt");
    let mut n = 0;
    for block in text.split("\n\n") {
        let kv: std::collections::HashMap<&str, &str> = block
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(" = "))
            .collect();
        let Some(vd) = kv.get("validation_data") else {
            continue;
        };
        let pvk = SecretKey::from_hex(kv["pvk"]).unwrap();
        let params = ibm_params(kv["table"], vd.len(), kv["pad"]);
        params.check().unwrap();
        let pin = Pin::new(kv["pin"]).unwrap();
        // The validation data as the PAN's leading digits (the rest is cut off).
        let pan = format!("{vd}123");
        assert_eq!(
            verify_ibm3624(&pvk, &params, &pan, &pin, kv["offset"]),
            Ok(true),
            "{}",
            kv["name"]
        );
        let wrong: String = kv["pin"]
            .chars()
            .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
            .collect();
        assert_eq!(
            verify_ibm3624(
                &pvk,
                &params,
                &pan,
                &Pin::new(&wrong).unwrap(),
                kv["offset"]
            ),
            Ok(false)
        );
        n += 1;
    }
    assert_eq!(n, 8);
    // Stored form round trip; malformed parameters are refused.
    let p = ibm_params("1234567890123456", 14, "f");
    assert_eq!(p.to_stored(), "1234567890123456:0:14:F");
    assert_eq!(
        cards::Ibm3624Params::parse(&p.to_stored()).unwrap().vd_len,
        14
    );
    for bad in [
        "123:0:16:F",
        "1234567890123456:0:17:F",
        "1234567890123456:0:16:G",
        "x",
    ] {
        assert!(cards::Ibm3624Params::parse(bad).is_none(), "{bad}");
    }
    assert!(!format!("{p:?}").contains("1234567890123456"));
}

async fn online_pin_ibm3624(store: Store) {
    use std::sync::Arc;

    use lamina_crypto::dukpt::tdes::{Ksn, Originator, derive_ipek, encrypt_pin_block};
    use lamina_crypto::emv::Cvn;
    use lamina_crypto::pin::{Pan, Pin, encode_iso0};
    use lamina_crypto::sym::SecretKey;
    use lamina_host::cards::{CardOptions, Ibm3624Offset, NewCard};
    use lamina_host::keys::HostKeys;

    let mut f = fixture(store.clone(), 5_000).await;
    // PAN 1122334455667788 and the test key file's PVK are those of lamina-crypto's IBM
    // 3624 vectors (psec): with table 1234567890123456 and the 16 PAN digits as
    // validation data, PIN 1234 has offset 7710 (and PIN 4524 offset 0000).
    let pan_s = "1122334455667788";
    let keys = Arc::new(HostKeys::from_file(&crate::common::key_file()).unwrap());
    let new = NewCard {
        pan: pan_s.into(),
        psn: 1,
        expiry: "2812".into(),
        account_id: f.account.id.clone(),
        cvn: Cvn::EmvCcd,
        key_ref: "default".into(),
        pvv: None,
        pin_try_limit: 3,
    };
    let opts = CardOptions {
        ibm3624: Some((
            Ibm3624Offset("7710".into()),
            ibm_params("1234567890123456", 16, "F"),
        )),
        refunds_allowed: true,
    };
    // Either a PVV or an offset, not both; offsets are 4–12 digits.
    let mut both = new.clone();
    both.pvv = Some((1, "1234".into()));
    assert!(
        cards::issue_card_with(&store, &keys, &both, &opts, NOW)
            .await
            .is_err()
    );
    let mut bad = opts.clone();
    bad.ibm3624 = Some((
        Ibm3624Offset("77".into()),
        ibm_params("1234567890123456", 16, "F"),
    ));
    assert!(
        cards::issue_card_with(&store, &keys, &new, &bad, NOW)
            .await
            .is_err()
    );
    let card = cards::issue_card_with(&store, &keys, &new, &opts, NOW)
        .await
        .unwrap();
    assert!(card.pvv.is_none());
    assert_eq!(card.pin_offset.as_deref(), Some("7710"));
    assert!(!format!("{card:?}").contains("7710"));
    f.sim = lamina_host::sim::SimCard::new(pan_s, 1, "2812", Cvn::EmvCcd, &crate::common::imk_ac())
        .unwrap();

    let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
    let ksn0 = Ksn::from_hex("FFFF9876543210E00000").unwrap();
    let mut pinpad = Originator::new(&derive_ipek(&bdk, &ksn0).unwrap(), &ksn0).unwrap();
    let pan = Pan::new(pan_s).unwrap();
    let mut go = async |f: &mut crate::common::Fixture, pin: &str| {
        let (ksn, key) = pinpad.next_transaction().unwrap();
        let block = encrypt_pin_block(&key, &encode_iso0(&Pin::new(pin).unwrap(), &pan)).unwrap();
        let mut r = f.request(RequestKind::Authorization, 100);
        r.pin = Some(lamina_host::issuer::PinData {
            block,
            ksn: ksn.as_bytes().to_vec(),
        });
        f.issuer.authorize(r).await.unwrap().response_code
    };
    let tries = async |store: &Store| {
        let mut conn = store.pool().acquire().await.unwrap();
        cards::get_card(&mut conn, &card.id)
            .await
            .unwrap()
            .unwrap()
            .pin_tries
    };
    assert_eq!(go(&mut f, "1234").await, "00");
    assert_eq!(go(&mut f, "4524").await, "55");
    assert_eq!(tries(&store).await, 1);
    assert_eq!(go(&mut f, "1234").await, "00");
    assert_eq!(tries(&store).await, 0);
    assert_eq!(go(&mut f, "0000").await, "55");
    assert_eq!(go(&mut f, "1235").await, "55");
    assert_eq!(go(&mut f, "1243").await, "75");
    assert_eq!(tries(&store).await, 3);
    assert_eq!(go(&mut f, "1234").await, "75");
}
both_backends!(online_pin_ibm3624_test, super::online_pin_ibm3624);

/// The velocity counters kept on the card row: a reversal that voids an approval gives
/// its count and amount back, a new business date starts from zero, and the counters
/// equal what the transactions say.
async fn velocity_counters(store: Store) {
    let mut f = fixture_with(
        store.clone(),
        100_000,
        5_000,
        2,
        lamina_crypto::emv::Cvn::EmvCcd,
    )
    .await;
    let first = f.request(RequestKind::Financial, 1_000);
    assert_eq!(
        f.issuer
            .authorize(first.clone())
            .await
            .unwrap()
            .response_code,
        "00"
    );
    assert_eq!(
        f.go(RequestKind::Authorization, 2_000).await.response_code,
        "00"
    );
    // Count limit 2 reached.
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "65"
    );
    let card = f.card().await;
    assert_eq!((card.usage_count, card.usage_amount), (2, 3_000));
    // Voiding the purchase gives its count and amount back.
    let rev = f.follow_up(RequestKind::Reversal, &first, 1_000);
    assert_eq!(f.issuer.authorize(rev).await.unwrap().response_code, "00");
    let card = f.card().await;
    assert_eq!((card.usage_count, card.usage_amount), (1, 2_000));
    // Amount limit 5,000: 2,000 used, 3,500 more is too much (61), 3,000 fits.
    assert_eq!(
        f.go(RequestKind::Authorization, 3_500).await.response_code,
        "61"
    );
    assert_eq!(
        f.go(RequestKind::Authorization, 3_000).await.response_code,
        "00"
    );
    // 5,000 used: the amount limit answers first.
    assert_eq!(
        f.go(RequestKind::Authorization, 1).await.response_code,
        "61"
    );
    // The next business day starts from zero.
    f.clock.advance(24 * 3_600_000);
    assert_eq!(
        f.go(RequestKind::Authorization, 4_000).await.response_code,
        "00"
    );
    let card = f.card().await;
    assert_eq!((card.usage_count, card.usage_amount), (1, 4_000));
    assert_eq!(
        card.usage_date,
        lamina_host::clock::business_date(NOW + 24 * 3_600_000)
    );
}
both_backends!(velocity_counters_test, super::velocity_counters);

/// Twelve queued scripts do not fit one response (DE 55 ≤ 255 bytes; at most
/// `MAX_SCRIPT_BYTES` of script templates): each online transaction carries what fits,
/// in queue order, and the rest waits for the next one. No response is lost to `96`.
async fn scripts_split_across_responses(store: Store) {
    let mut f = fixture(store.clone(), 50_000).await;
    for i in 0..12u8 {
        cards::queue_script(
            &store,
            &f.card.id,
            &ScriptKind::UpdateLimit {
                tag: "9F14".into(),
                value: format!("{i:02X}"),
            },
            NOW,
        )
        .await
        .unwrap();
    }
    let mut delivered = Vec::new();
    for _ in 0..12 {
        let r = f.go(RequestKind::Authorization, 100).await;
        assert_eq!(r.response_code, "00", "{r:?}");
        assert!(r.icc.len() <= 255);
        let icc = Tlv::parse_all(&r.icc).unwrap();
        let scripts: Vec<u8> = icc
            .iter()
            .filter(|t| t.tag == Tag::new(0x72))
            .map(|t| {
                let cmd = lamina_tlv::find_recursive(t.children(), Tag::new(0x86))
                    .unwrap()
                    .value_bytes()
                    .unwrap();
                cmd[5]
            })
            .collect();
        let bytes: usize = icc
            .iter()
            .filter(|t| t.tag == Tag::new(0x72))
            .map(|t| Tlv::encode_all(std::slice::from_ref(t)).len())
            .sum();
        assert!(bytes <= lamina_host::issuer::MAX_SCRIPT_BYTES, "{bytes}");
        if scripts.is_empty() {
            break;
        }
        delivered.extend(scripts);
    }
    assert_eq!(delivered, (0..12u8).collect::<Vec<_>>());
    assert!(
        cards::scripts_of(&store, &f.card.id)
            .await
            .unwrap()
            .iter()
            .all(|s| s.status == "sent")
    );
}
both_backends!(scripts_split_test, super::scripts_split_across_responses);
