use lamina_host::issuer::RequestKind;
use lamina_host::ledger::{self, AccountKind};
use lamina_host::settle;
use lamina_host::store::Store;

use crate::both_backends;
use crate::common::{NOW, fixture};

async fn settlement(store: Store) {
    let mut f = fixture(store.clone(), 100_000).await;
    // Auth 5,000 captured at 4,000; purchase 2,000; purchase 1,000 reversed; auth 700 open.
    let auth = f.request(RequestKind::Authorization, 5_000);
    assert_eq!(
        f.issuer
            .authorize(auth.clone())
            .await
            .unwrap()
            .response_code,
        "00"
    );
    let comp = f.follow_up(RequestKind::Completion, &auth, 4_000);
    assert_eq!(f.issuer.authorize(comp).await.unwrap().response_code, "00");
    assert_eq!(
        f.go(RequestKind::Financial, 2_000).await.response_code,
        "00"
    );
    let fin = f.request(RequestKind::Financial, 1_000);
    assert_eq!(
        f.issuer.authorize(fin.clone()).await.unwrap().response_code,
        "00"
    );
    let rev = f.follow_up(RequestKind::Reversal, &fin, 1_000);
    assert_eq!(f.issuer.authorize(rev).await.unwrap().response_code, "00");
    assert_eq!(
        f.go(RequestKind::Authorization, 700).await.response_code,
        "00"
    );

    let date = lamina_host::clock::business_date(NOW);
    let s = settle::settle(&store, &date, 150, NOW).await.unwrap();
    assert_eq!(s.len(), 1);
    let s0 = &s[0];
    assert_eq!((s0.count, s0.gross, s0.reversals), (3, 7_000, 1_000));
    assert_eq!(s0.fees, 105); // 1.5 % of 7,000
    assert_eq!(s0.net, 7_000 - 1_000 - 105);
    let mut conn = store.pool().acquire().await.unwrap();
    let merchant = ledger::get_account(&mut conn, &s0.merchant_account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merchant.ledger_balance, s0.net);
    assert_eq!(merchant.kind, AccountKind::Merchant);
    // Settling again settles nothing twice.
    let again = settle::settle(&store, &date, 150, NOW).await.unwrap();
    assert_eq!(again, s);
    let merchant = ledger::get_account(&mut conn, &s0.merchant_account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merchant.ledger_balance, s0.net);
    // Issuer settlement account is back to zero: everything captured was paid out.
    let settle_acc = ledger::list_accounts(&store, Some(AccountKind::Settlement))
        .await
        .unwrap();
    assert_eq!(settle_acc[0].ledger_balance, 0);
    assert!(settle::settle(&store, "2026-13-01", 0, NOW).await.is_err());
    // A capture after the first run, same date: the second run adds to that settlement.
    assert_eq!(
        f.go(RequestKind::Financial, 1_000).await.response_code,
        "00"
    );
    let later = settle::settle(&store, &date, 150, NOW).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].id.as_str(), later[0].count, later[0].gross),
        (s0.id.as_str(), 4, 8_000)
    );
    assert_eq!(later[0].fees, 105 + 15);
    let merchant = ledger::get_account(&mut conn, &s0.merchant_account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merchant.ledger_balance, later[0].net);
}
both_backends!(settlement_test, super::settlement);

async fn settlement_with_refunds(store: Store) {
    let mut f = fixture(store.clone(), 100_000).await;
    let refund = |f: &mut crate::common::Fixture, amount: i64| {
        let mut r = f.request(RequestKind::Financial, amount);
        r.processing_code = "200000".into();
        r
    };
    // Purchases 5,000 and 1,000 (reversed); refunds 1,200 and 300 (reversed).
    assert_eq!(
        f.go(RequestKind::Financial, 5_000).await.response_code,
        "00"
    );
    let fin = f.request(RequestKind::Financial, 1_000);
    assert_eq!(
        f.issuer.authorize(fin.clone()).await.unwrap().response_code,
        "00"
    );
    let rev = f.follow_up(RequestKind::Reversal, &fin, 1_000);
    assert_eq!(f.issuer.authorize(rev).await.unwrap().response_code, "00");
    let r1 = refund(&mut f, 1_200);
    assert_eq!(f.issuer.authorize(r1).await.unwrap().response_code, "00");
    let r2 = refund(&mut f, 300);
    assert_eq!(
        f.issuer.authorize(r2.clone()).await.unwrap().response_code,
        "00"
    );
    let rev = f.follow_up(RequestKind::Reversal, &r2, 300);
    assert_eq!(f.issuer.authorize(rev).await.unwrap().approved_amount, 300);
    assert_eq!(f.account().await.ledger_balance, 100_000 - 5_000 + 1_200);

    // The terminal's batch totals include the refund that stands.
    let date = lamina_host::clock::business_date(NOW);
    let totals = settle::host_totals(&store, "12345", "TERM0001", &date)
        .await
        .unwrap();
    assert_eq!(
        totals,
        settle::BatchTotals {
            sales_count: 1,
            sales_amount: 5_000,
            refund_count: 1,
            refund_amount: 1_200,
        }
    );

    let s = settle::settle(&store, &date, 100, NOW).await.unwrap();
    assert_eq!(s.len(), 1);
    let s0 = &s[0];
    assert_eq!(
        (s0.count, s0.gross, s0.reversals, s0.refunds, s0.fees),
        (2, 6_000, 1_000, 1_200, 60)
    );
    assert_eq!(s0.net, 6_000 - 1_000 - 1_200 - 60);
    let mut conn = store.pool().acquire().await.unwrap();
    let merchant = ledger::get_account(&mut conn, &s0.merchant_account_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(merchant.ledger_balance, s0.net);
    let settle_acc = ledger::list_accounts(&store, Some(AccountKind::Settlement))
        .await
        .unwrap();
    assert_eq!(settle_acc[0].ledger_balance, 0);
    // A merchant that only refunds: negative net, its account is debited.
    let mut other = refund(&mut f, 400);
    other.merchant = "MERCHANT0000002".into();
    assert_eq!(f.issuer.authorize(other).await.unwrap().response_code, "57");
    let again = settle::settle(&store, &date, 100, NOW).await.unwrap();
    assert_eq!(again, s);
}
both_backends!(settlement_refunds_test, super::settlement_with_refunds);
